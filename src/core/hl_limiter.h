/* hl_limiter: how many operations of one kind may run at once on this
 * host, over every process and thread of the server.  It guards the host
 * (workers, memory), not the data, so it lives in a small shared region of
 * its own, whatever store holds the data.
 *
 * Region (one per kind of operation, fixed size, no offsets):
 *
 *   +------------------------------------------------------------+
 *   | magic, version                                             |
 *   | in_flight, max_concurrent, peak_in_flight   (one line)     |
 *   | rejected, healed                                           |
 *   | slot[HL_LIMITER_SLOTS]: pid << 32 | admissions in flight   |
 *   +------------------------------------------------------------+
 *
 * Lock-free on atomics: in_flight counts admitted operations, and each
 * admission is also counted in its process's slot, so that what a process
 * held when it died can be given back: by the parent as soon as it learns
 * that a child exited (hl_limiter_reclaim), and otherwise when the limit
 * is hit (slots whose pid no longer exists, kill(pid, 0) = ESRCH).  A
 * process killed in the few instructions between the two counts can leak
 * one admission; more pids in flight at once than HL_LIMITER_SLOTS go
 * untracked (still counted).  Nothing in a region is ever followed as a
 * pointer or offset, so the parent may reclaim in a region that children
 * can write without trusting it.
 */
#ifndef HL_LIMITER_H
#define HL_LIMITER_H

#include <apr.h>
#include <apr_errno.h>
#include <apr_pools.h>
#include <apr_time.h>

#define HL_LIMITER_SLOTS 512

typedef struct hl_limiter hl_limiter;   /* a region, opaque */

typedef struct hl_limiter_stats {
    apr_uint32_t in_flight, max_concurrent, peak_in_flight;
    apr_uint64_t rejected;
    apr_uint64_t healed;        /* admissions given back for dead processes */
} hl_limiter_stats;

apr_size_t   hl_limiter_region_size(void);
apr_status_t hl_limiter_format(void *region);
apr_status_t hl_limiter_check(const void *region);

/* Admits one operation of process pid if fewer than limit are in flight,
 * else APR_EBUSY (after giving back the admissions of dead processes).
 * Every APR_SUCCESS must be paired with a release by the same pid. */
apr_status_t hl_limiter_admit(hl_limiter *l, apr_uint32_t limit,
                              apr_int32_t pid);

/* The policy every caller uses: tries, then retries with a growing sleep
 * (200 us doubling up to 10 ms) for at most max_wait; APR_EBUSY when it
 * gives up, and then the rejection is counted. */
apr_status_t hl_limiter_admit_wait(hl_limiter *l, apr_uint32_t limit,
                                   apr_int32_t pid,
                                   apr_interval_time_t max_wait);

apr_status_t hl_limiter_release(hl_limiter *l, apr_int32_t pid);
apr_status_t hl_limiter_count_rejected(hl_limiter *l);

/* Gives back every admission pid still holds: for the parent, when it
 * learns that the child pid exited.  *given (may be NULL) gets how many. */
apr_status_t hl_limiter_reclaim(hl_limiter *l, apr_int32_t pid,
                                apr_uint32_t *given);

apr_status_t hl_limiter_stats_read(const hl_limiter *l, hl_limiter_stats *st);

/* The host's limiters, one per kind, in one anonymous shared segment made
 * in the parent and kept across graceful restarts (like the store). */
typedef enum {
    HL_LIMIT_CACHE = 0,      /* cache operations (HyperlaneCacheMaxConcurrent) */
    HL_LIMIT_BENCHMARK,      /* memory/benchmark runs */
    HL_LIMIT_KINDS
} hl_limit_kind;

typedef struct hl_limits hl_limits;

/* previous: the last generation's (NULL on first start); it is kept when
 * its regions check, else replaced by a new segment.  pool must live as
 * long as the parent process. */
apr_status_t hl_limits_open(hl_limits **out, hl_limits *previous,
                            apr_pool_t *pool);
hl_limiter *hl_limits_get(hl_limits *ls, hl_limit_kind kind);
/* hl_limiter_reclaim for pid on every kind; *given: the total. */
apr_status_t hl_limits_reclaim(hl_limits *ls, apr_int32_t pid,
                               apr_uint32_t *given);

#endif
