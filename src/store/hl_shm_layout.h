/* hl_shm_layout: the one shared segment every process of the server maps.
 *
 * The segment is created once, in the parent's first real post_config, and
 * kept for the life of the parent: a graceful restart reuses it, so old and
 * new children increment the same counter.  Only a change of the sizes in
 * the configuration lays out a new segment (and then the state is copied).
 *
 * Layout (every region starts on a 64-byte boundary; offsets, never
 * pointers, because each process may map the segment at another address):
 *
 *   0            +---------------------------------------------+
 *                | hl_shm_header                               |
 *                |   magic "HLN1", version, total_size         |
 *                |   counter_off/counter_size, history_capacity|
 *                |   cache_off/cache_size                      |
 *                |   created (usec), generation (restarts)     |
 *   counter_off  +---------------------------------------------+
 *                | counter region: value + history ring        |
 *                |   (drawn in hl_counter.h)                   |
 *   cache_off    +---------------------------------------------+
 *                | cache region (drawn in hl_cache.h)          |
 *   total_size   +---------------------------------------------+
 */
#ifndef HL_SHM_LAYOUT_H
#define HL_SHM_LAYOUT_H

#include <apr.h>
#include <apr_errno.h>
#include <apr_time.h>

#include "hl_cache.h"

#define HL_SHM_MAGIC   0x314e4c48u /* "HLN1" little-endian */
#define HL_SHM_VERSION 2u
#define HL_SHM_ALIGN   64u

typedef struct hl_shm_header {
    apr_uint32_t magic;
    apr_uint32_t version;
    apr_uint64_t total_size;
    apr_uint64_t counter_off;
    apr_uint64_t counter_size;
    apr_uint64_t history_capacity;
    apr_uint64_t cache_off;
    apr_uint64_t cache_size;
    apr_uint64_t cache_max_key;
    apr_uint64_t cache_max_value;
    apr_int64_t  created;     /* apr_time_t of creation */
    apr_uint64_t generation;  /* configuration generations that reused it */
} hl_shm_header;

/* What the configuration asks of the segment. */
typedef struct hl_shm_params {
    apr_uint32_t history_capacity;
    apr_size_t   cache_bytes;     /* 0: no cache region */
    apr_size_t   cache_max_key;
    apr_size_t   cache_max_value;
} hl_shm_params;

/* Where each region goes, computed before the segment exists.  Every
 * process may write the segment, so whoever must not trust the other
 * processes (the root parent) keeps the plan in its own memory and takes
 * every offset and size from it, never from the segment's header. */
typedef struct hl_shm_plan {
    hl_shm_params params;
    apr_size_t counter_off, counter_size;
    apr_size_t cache_off, cache_size;
    apr_size_t total_size;
    hl_cache_geometry cache;      /* the cache region's parts, if any */
} hl_shm_plan;

apr_status_t hl_shm_plan_make(const hl_shm_params *params, hl_shm_plan *plan);

/* Writes the header and formats every region of a zeroed segment. */
apr_status_t hl_shm_format(void *base, const hl_shm_plan *plan, apr_time_t now);

/* APR_SUCCESS when base holds a segment laid out exactly as plan: its
 * header, the cache region's header and the counter's capacity say what
 * plan says.  Reads only those headers. */
apr_status_t hl_shm_check(const void *base, const hl_shm_plan *plan);

/* Copies counter, history and cache from src, laid out as splan, into a
 * formatted dst laid out as dplan, as far as the new sizes allow (cache
 * entries expired at now are dropped).  src is only read, and read as
 * memory other processes may change meanwhile (old children keep using
 * it, and any of them may be hostile): every offset and size comes from
 * splan, and the header, the regions and every entry are checked against
 * it before use (hl_counter_copy, hl_cache_copy).  APR_ENOTIMPL when src
 * was laid out by another version of the module (nothing carried over);
 * APR_EINVAL or APR_EGENERAL when src fails a check: dst is then valid
 * but may hold part of src, and should not be trusted to hold it all. */
apr_status_t hl_shm_migrate(void *dst, const hl_shm_plan *dplan,
                            const void *src, const hl_shm_plan *splan,
                            apr_time_t now);

/* Bytes of the segment holding data now (header + live history + cache
 * header, buckets and live entries). */
apr_size_t hl_shm_bytes_used(const void *base, const hl_shm_plan *plan);

const hl_shm_header *hl_shm_header_of(const void *base);
/* The regions, placed by plan (NULL: the segment has no cache). */
void *hl_shm_counter_region(void *base, const hl_shm_plan *plan);
void *hl_shm_cache_region(void *base, const hl_shm_plan *plan);

#endif
