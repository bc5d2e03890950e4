/* hl_bufpool: a bounded pool of equal-sized buffers, one per process,
 * shared by that process's threads.
 *
 *   idle[0 .. n_idle-1]   a stack of malloc'd buffers ready to hand out
 *   capacity max_idle     fixed when created; never grows
 *
 * acquire pops the stack (a reuse) or mallocs a fresh buffer (a creation);
 * release pushes back while fewer than max_idle are idle and frees the
 * buffer otherwise, so a burst of requests can use more buffers than
 * max_idle but the process never keeps more than max_idle afterwards.
 * One mutex guards the stack and the counters: the critical sections are a
 * few loads and stores, cheaper than a lock-free stack's ABA care.  The
 * buffers are malloc'd, not taken from an APR pool, because an APR pool
 * cannot give single blocks back.
 *
 * Lifetime: the pool lives as long as the APR pool it was created in (the
 * process pool); request pools that lease buffers must die before it.
 */
#ifndef HL_BUFPOOL_H
#define HL_BUFPOOL_H

#include <apr.h>
#include <apr_errno.h>
#include <apr_pools.h>

typedef struct hl_bufpool hl_bufpool;

typedef struct hl_bufpool_stats {
    apr_uint64_t current_size;   /* idle buffers now */
    apr_uint64_t max_size;       /* most idle buffers kept */
    apr_uint64_t buffer_size;    /* bytes per buffer */
    apr_uint64_t reused;         /* acquisitions served from the idle stack */
    apr_uint64_t created;        /* acquisitions that malloc'd */
    apr_uint64_t in_use;         /* handed out, not yet given back */
    apr_int32_t  pid;            /* the process owning this pool */
} hl_bufpool_stats;

/* A pool keeping at most max_idle idle buffers of buffer_size bytes; freed
 * with every idle buffer when p is cleared or destroyed.  APR_EINVAL when
 * either size is 0. */
apr_status_t hl_bufpool_create(hl_bufpool **bp, apr_size_t max_idle,
                               apr_size_t buffer_size, apr_pool_t *p);

/* A buffer of hl_bufpool_buffer_size bytes, to give back with release. */
apr_status_t hl_bufpool_acquire(hl_bufpool *bp, void **buf);
void hl_bufpool_release(hl_bufpool *bp, void *buf);

/* A buffer that goes back when request_pool is cleared or destroyed,
 * whether the request finished or was aborted. */
apr_status_t hl_bufpool_acquire_for(hl_bufpool *bp, apr_pool_t *request_pool,
                                    void **buf);

apr_size_t hl_bufpool_buffer_size(const hl_bufpool *bp);
void hl_bufpool_stats_read(hl_bufpool *bp, hl_bufpool_stats *st);

#endif
