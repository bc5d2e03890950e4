/* hl_membench: the memory benchmark endpoint.  N blocks of S bytes are
 * allocated, block i is filled with byte (i mod 256), every byte is read
 * back into a 64-bit sum, and all blocks are freed; each phase is timed
 * separately on the monotonic clock.
 *
 * It runs twice over the same N and S: once from an APR subpool made for
 * the run (cleanup = destroying the subpool, one call however many blocks)
 * and once with malloc/free (cleanup = N calls to free), so one answer
 * compares the two allocation models.  The subpool gets its own allocator:
 * destroying it frees its pieces instead of parking up to 256 MiB on the
 * process allocator's free list, and after both runs malloc_trim hands
 * what they freed back to the system.  The blocks take up to twice N x S
 * (APR's pool hands out 8 KiB pieces: a block just over 4 KiB takes a
 * whole one).  The block table itself is mapped outside the timed phases,
 * the subpool's creation inside the allocation phase since it is part of
 * what that model costs.
 */
#ifndef HL_MEMBENCH_H
#define HL_MEMBENCH_H

#include <apr.h>
#include <apr_errno.h>
#include <apr_pools.h>
#include "hl_jsonw.h"
#include "hl_limiter.h"

#define HL_MEMBENCH_DEFAULT_ALLOCATIONS 10000
#define HL_MEMBENCH_DEFAULT_SIZE        1024
#define HL_MEMBENCH_MAX_ALLOCATIONS     1000000
#define HL_MEMBENCH_MAX_SIZE            (1024 * 1024)
#define HL_MEMBENCH_MAX_TOTAL           (256ull * 1024 * 1024)

typedef struct hl_membench_run {
    double       allocation_us;   /* measured, fractional microseconds */
    double       access_us;       /* fill and read back */
    double       cleanup_us;
    apr_uint64_t checksum;
} hl_membench_run;

typedef struct hl_membench_result {
    apr_uint64_t    allocations;
    apr_uint64_t    size;
    hl_membench_run pool;         /* APR subpool */
    hl_membench_run heap;         /* malloc/free */
} hl_membench_result;

/* "allocations=N&size=S", either or both, any order; NULL or "" gives the
 * defaults.  APR_EINVAL with *error set (in p, fit for a 400 answer) for
 * anything else: unknown or repeated names, empty parts, values that are
 * not plain decimal digits or are out of range, N x S over 256 MiB. */
apr_status_t hl_membench_parse_query(apr_pool_t *p, const char *args,
                                     apr_uint64_t *n, apr_uint64_t *s,
                                     const char **error);

/* Both runs over n blocks of s bytes (limits as above, else APR_EINVAL);
 * the subpool is a child of p.  APR_ENOMEM when memory runs out, with
 * everything allocated so far freed. */
apr_status_t hl_membench_run_both(apr_pool_t *p, apr_uint64_t n, apr_uint64_t s,
                                  hl_membench_result *r);

/* {"allocations", "allocation_size_kb", "allocation_size_bytes",
 *  "total_memory_mb", "allocation_time_ms", "access_time_ms",
 *  "cleanup_time_ms", "allocation_time_us", "access_time_us",
 *  "cleanup_time_us", "checksum", "memory_model": "apr_pool_raii",
 *  "malloc": {the same timings and checksum, "memory_model": "malloc_free"},
 *  "comparison": {"allocation_ratio", "access_ratio", "cleanup_ratio",
 *                 "total_ratio": malloc time / pool time, null if the pool
 *                 time is 0, "faster": "apr_pool" or "malloc"},
 *  "concurrency": {the runs limiter, hl_json_limiter}, when runs is given} */
void hl_json_membench(hl_jsonw *w, const hl_membench_result *r,
                      const hl_limiter_stats *runs, apr_uint32_t max_runs);

#endif
