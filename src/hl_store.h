/* hl_store: the one interface through which every handler reaches shared
 * state.  A backend is a table of operations; today there is the shared
 * memory backend (hl_store_shm.c), and a Redis backend that lets several
 * Apache hosts share one counter and cache can be added beside it without
 * touching the handlers.  Every operation returns apr_status_t and takes
 * plain values, never a request. */
#ifndef HL_STORE_H
#define HL_STORE_H

#include <apr.h>
#include <apr_errno.h>
#include <apr_pools.h>
#include <apr_global_mutex.h>

#include "hl_cache.h"
#include "hl_counter.h"
#include "hl_shm_layout.h"

typedef struct hl_store hl_store;

typedef struct hl_store_usage {
    const char  *backend;      /* "shm" */
    apr_size_t   size_bytes;   /* what the backend reserved */
    apr_size_t   used_bytes;   /* what holds data now */
    apr_uint64_t generation;   /* configuration generations it has lived */
    apr_time_t   created;
} hl_store_usage;

typedef struct hl_store_ops {
    const char *name;
    apr_status_t (*child_init)(hl_store *st, apr_pool_t *pchild);
    apr_status_t (*counter_increment)(hl_store *st, apr_int32_t pid,
                                      apr_uint64_t *value_out);
    apr_status_t (*counter_snapshot)(hl_store *st, int max_recent,
                                     hl_counter_snapshot *snap);
    apr_status_t (*usage)(hl_store *st, hl_store_usage *u);
    /* The key/value cache; the semantics are hl_cache.h's.  A backend
     * without a cache answers APR_ENOTIMPL. */
    apr_status_t (*cache_get)(hl_store *st, apr_pool_t *pool, const void *key,
                              apr_size_t klen, apr_time_t now,
                              hl_cache_result *res);
    apr_status_t (*cache_set)(hl_store *st, const void *key, apr_size_t klen,
                              const void *val, apr_size_t vlen, apr_time_t now,
                              apr_interval_time_t ttl, int *replaced);
    apr_status_t (*cache_delete)(hl_store *st, const void *key,
                                 apr_size_t klen, apr_time_t now);
    apr_status_t (*cache_stats)(hl_store *st, hl_cache_stats *stats);
} hl_store_ops;

/* Backends by number: a store outlives the module's code across graceful
 * restarts (httpd unloads and reloads the .so, maybe at another address),
 * so a store is recognised by this number, never by its ops pointer. */
enum { HL_STORE_BACKEND_SHM = 1 };

struct hl_store {
    const hl_store_ops *ops;
    void *impl;
    int backend;
};

apr_status_t hl_store_child_init(hl_store *st, apr_pool_t *pchild);
apr_status_t hl_store_counter_increment(hl_store *st, apr_int32_t pid,
                                        apr_uint64_t *value_out);
apr_status_t hl_store_counter_snapshot(hl_store *st, int max_recent,
                                       hl_counter_snapshot *snap);
apr_status_t hl_store_usage_read(hl_store *st, hl_store_usage *u);

/* Cache: APR_SUCCESS / APR_NOTFOUND, res holds a copy of the value in pool,
 * access_count after this hit and the age.  now is the caller's clock. */
apr_status_t hl_store_cache_get(hl_store *st, apr_pool_t *pool,
                                const void *key, apr_size_t klen,
                                apr_time_t now, hl_cache_result *res);
/* ttl: lifetime from now (0: never expires).  APR_EINVAL on lengths beyond
 * the store's limits, APR_ENOSPC if the entry can never fit. */
apr_status_t hl_store_cache_set(hl_store *st, const void *key, apr_size_t klen,
                                const void *val, apr_size_t vlen,
                                apr_time_t now, apr_interval_time_t ttl,
                                int *replaced);
apr_status_t hl_store_cache_delete(hl_store *st, const void *key,
                                   apr_size_t klen, apr_time_t now);
apr_status_t hl_store_cache_stats(hl_store *st, hl_cache_stats *stats);

/* How hl_store_shm_open came by its segment, for the log. */
typedef enum {
    HL_STORE_CREATED,     /* first start: a new, empty segment */
    HL_STORE_REUSED,      /* restart with the same layout: same segment */
    HL_STORE_MIGRATED,    /* restart with new sizes: new segment, state copied */
    HL_STORE_REPLACED     /* the old segment is another version's: new, empty */
} hl_store_origin;

/* Opens the shared-memory store.  previous is the store of the last
 * configuration generation (NULL on first start).  pool must live as long
 * as the server's parent process (s->process->pool), so that the segment
 * outlives graceful restarts.  mutex guards the multi-word structures (the
 * cache); it is made by the caller, once, in the same pool.  NULL mutex:
 * no locking (single-threaded tests).  A reused segment keeps its cache
 * entries; a migration copies those that fit, under the mutex. */
apr_status_t hl_store_shm_open(hl_store **out, const hl_shm_params *params,
                               hl_store *previous, apr_global_mutex_t *mutex,
                               apr_pool_t *pool, hl_store_origin *origin);

/* The segment's base address (tests and the status page read it). */
void *hl_store_shm_base(hl_store *st);

#endif
