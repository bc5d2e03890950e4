/* hl_store_shm: the store backend on one anonymous apr_shm segment (the
 * default, HyperlaneStore shm).  The segment's layout is hl_shm_layout.h;
 * only this backend and its tests include it. */
#ifndef HL_STORE_SHM_H
#define HL_STORE_SHM_H

#include "hl_store.h"
#include "hl_shm_layout.h"

/* Its stores' numbers (hl_store.h): the number changes with the layout of
 * the backend's private record.  1 is the shm backend of builds that kept
 * no plan beside the segment, whose record a newer build must not read (it
 * would read past it). */
enum { HL_STORE_BACKEND_SHM_NOPLAN = 1, HL_STORE_BACKEND_SHM = 2 };

/* How hl_store_shm_open came by its segment, for the log. */
typedef enum {
    HL_STORE_CREATED,     /* first start: a new, empty segment */
    HL_STORE_REUSED,      /* restart with the same layout: same segment */
    HL_STORE_MIGRATED,    /* restart with new sizes: new segment, state copied */
    HL_STORE_REPLACED,    /* the old segment is another version's: new, empty */
    HL_STORE_DISTRUSTED,  /* the old segment failed its checks against the
                           * parent's plan: new, empty, nothing copied */
    HL_STORE_CACHE_LEFT,  /* the old cache is another version's: new
                           * segment, the counter copied, the cache empty */
    HL_STORE_CACHE_BUSY   /* as CACHE_LEFT: the old cache's writers did not
                           * pause for its copy */
} hl_store_origin;

/* Opens the shared-memory store.  previous is the store of the last
 * configuration generation (NULL on first start).  pool must live as long
 * as the server's parent process (s->process->pool), so that the segment
 * outlives graceful restarts.  The cache's lock is in the segment
 * (hl_cache_lock).  A reused segment keeps its cache entries; a migration
 * copies those that fit, pausing the old cache's writers.  The old
 * segment is checked against the plan it was made with (kept in private
 * memory) and only read; one that fails is replaced by an empty one. */
apr_status_t hl_store_shm_open(hl_store **out, const hl_shm_params *params,
                               hl_store *previous, apr_pool_t *pool,
                               hl_store_origin *origin);

/* The segment's base address (tests and the status page read it). */
void *hl_store_shm_base(hl_store *st);

/* The plan the segment was laid out with, in the opener's own memory. */
const hl_shm_plan *hl_store_shm_plan(hl_store *st);

/* The table's row (hl_store.c): opens from hl_store_open_args, with the
 * origin as text. */
extern const hl_store_backend hl_store_shm_backend;

#endif
