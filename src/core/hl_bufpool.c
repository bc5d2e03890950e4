/* hl_bufpool: see hl_bufpool.h for the idle stack and its bound. */
#include "hl_bufpool.h"

#include <apr_thread_mutex.h>
#include <stdlib.h>
#include <unistd.h>

struct hl_bufpool {
    apr_thread_mutex_t *lock;
    void **idle;
    apr_size_t n_idle, max_idle, buffer_size;
    apr_uint64_t reused, created, in_use;
};

/* Runs when the owning pool goes: frees what is idle.  Buffers still out
 * belong to request pools that, by contract, are already gone. */
static apr_status_t bufpool_cleanup(void *data)
{
    hl_bufpool *bp = data;
    while (bp->n_idle > 0)
        free(bp->idle[--bp->n_idle]);
    return APR_SUCCESS;
}

apr_status_t hl_bufpool_create(hl_bufpool **bp, apr_size_t max_idle,
                               apr_size_t buffer_size, apr_pool_t *p)
{
    hl_bufpool *b;
    apr_status_t rv;

    if (max_idle == 0 || buffer_size == 0)
        return APR_EINVAL;
    b = apr_pcalloc(p, sizeof(*b));
    rv = apr_thread_mutex_create(&b->lock, APR_THREAD_MUTEX_DEFAULT, p);
    if (rv != APR_SUCCESS)
        return rv;
    b->idle = apr_palloc(p, max_idle * sizeof(void *));
    b->max_idle = max_idle;
    b->buffer_size = buffer_size;
    /* Registered after the mutex, so it runs before the mutex is destroyed. */
    apr_pool_cleanup_register(p, b, bufpool_cleanup, apr_pool_cleanup_null);
    *bp = b;
    return APR_SUCCESS;
}

/* The idle buffer on top of the stack, or NULL; counts the acquisition. */
static void *pop_idle(hl_bufpool *bp)
{
    void *buf = NULL;
    apr_thread_mutex_lock(bp->lock);
    if (bp->n_idle > 0) {
        buf = bp->idle[--bp->n_idle];
        bp->reused++;
        bp->in_use++;
    }
    apr_thread_mutex_unlock(bp->lock);
    return buf;
}

static void count_created(hl_bufpool *bp)
{
    apr_thread_mutex_lock(bp->lock);
    bp->created++;
    bp->in_use++;
    apr_thread_mutex_unlock(bp->lock);
}

apr_status_t hl_bufpool_acquire(hl_bufpool *bp, void **buf)
{
    void *b = pop_idle(bp);
    if (b == NULL) {
        /* malloc outside the lock: it can be slow and needs no protection. */
        b = malloc(bp->buffer_size);
        if (b == NULL)
            return APR_ENOMEM;
        count_created(bp);
    }
    *buf = b;
    return APR_SUCCESS;
}

void hl_bufpool_release(hl_bufpool *bp, void *buf)
{
    int keep;
    apr_thread_mutex_lock(bp->lock);
    keep = bp->n_idle < bp->max_idle;
    if (keep)
        bp->idle[bp->n_idle++] = buf;
    bp->in_use--;
    apr_thread_mutex_unlock(bp->lock);
    if (!keep)
        free(buf);
}

typedef struct lease {
    hl_bufpool *bp;
    void *buf;
} lease;

static apr_status_t lease_return(void *data)
{
    lease *l = data;
    hl_bufpool_release(l->bp, l->buf);
    return APR_SUCCESS;
}

apr_status_t hl_bufpool_acquire_for(hl_bufpool *bp, apr_pool_t *request_pool,
                                    void **buf)
{
    lease *l = apr_palloc(request_pool, sizeof(*l));
    apr_status_t rv = hl_bufpool_acquire(bp, &l->buf);
    if (rv != APR_SUCCESS)
        return rv;
    l->bp = bp;
    /* No child cleanup: a forked CGI must not hand our buffer back. */
    apr_pool_cleanup_register(request_pool, l, lease_return,
                              apr_pool_cleanup_null);
    *buf = l->buf;
    return APR_SUCCESS;
}

apr_size_t hl_bufpool_buffer_size(const hl_bufpool *bp)
{
    return bp->buffer_size;
}

void hl_bufpool_stats_read(hl_bufpool *bp, hl_bufpool_stats *st)
{
    apr_thread_mutex_lock(bp->lock);
    st->current_size = bp->n_idle;
    st->max_size = bp->max_idle;
    st->buffer_size = bp->buffer_size;
    st->reused = bp->reused;
    st->created = bp->created;
    st->in_use = bp->in_use;
    apr_thread_mutex_unlock(bp->lock);
    st->pid = (apr_int32_t)getpid();
}
