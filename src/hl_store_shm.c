/* hl_store_shm: the store backend on one anonymous apr_shm segment.
 *
 * The segment lives in the parent's process pool, so it survives graceful
 * restarts: children of the old and the new generation map the same memory
 * and no increment made during a restart is lost.  The counter is lock-free
 * (hl_counter.h); the global mutex guards the cache's multi-word updates.
 */
#include "hl_store.h"

#include <apr_shm.h>
#include <apr_strings.h>

#include <string.h>

typedef struct shm_store {
    apr_shm_t *shm;
    void *base;
    apr_size_t size;
    apr_global_mutex_t *mutex;
} shm_store;

static apr_status_t shm_child_init(hl_store *st, apr_pool_t *pchild)
{
    shm_store *s = st->impl;
    if (!s->mutex)
        return APR_SUCCESS;
    return apr_global_mutex_child_init(&s->mutex,
                                       apr_global_mutex_lockfile(s->mutex),
                                       pchild);
}

static apr_status_t shm_counter_increment(hl_store *st, apr_int32_t pid,
                                          apr_uint64_t *value_out)
{
    shm_store *s = st->impl;
    return hl_counter_increment(hl_shm_counter_region(s->base), apr_time_now(),
                                pid, value_out);
}

static apr_status_t shm_counter_snapshot(hl_store *st, int max_recent,
                                         hl_counter_snapshot *snap)
{
    shm_store *s = st->impl;
    return hl_counter_snapshot_read(hl_shm_counter_region(s->base), max_recent,
                                    snap);
}

static apr_status_t shm_usage(hl_store *st, hl_store_usage *u)
{
    shm_store *s = st->impl;
    const hl_shm_header *h = hl_shm_header_of(s->base);
    u->backend = "shm";
    u->size_bytes = s->size;
    u->used_bytes = hl_shm_bytes_used(s->base);
    u->generation = h->generation;
    u->created = h->created;
    return APR_SUCCESS;
}

static const hl_store_ops shm_ops = {
    "shm",
    shm_child_init,
    shm_counter_increment,
    shm_counter_snapshot,
    shm_usage,
};

void *hl_store_shm_base(hl_store *st)
{
    return ((shm_store *)st->impl)->base;
}

static apr_status_t segment_create(shm_store *s, const hl_shm_plan *plan,
                                   apr_pool_t *pool)
{
    apr_status_t rv = apr_shm_create(&s->shm, plan->total_size, NULL, pool);
    if (rv != APR_SUCCESS)
        return rv;
    s->base = apr_shm_baseaddr_get(s->shm);
    s->size = apr_shm_size_get(s->shm);
    memset(s->base, 0, plan->total_size);
    return hl_shm_format(s->base, plan, apr_time_now());
}

apr_status_t hl_store_shm_open(hl_store **out, const hl_shm_params *params,
                               hl_store *previous, apr_global_mutex_t *mutex,
                               apr_pool_t *pool, hl_store_origin *origin)
{
    hl_shm_plan plan;
    shm_store *s;
    hl_store *st;
    apr_status_t rv = hl_shm_plan_make(params, &plan);

    if (rv != APR_SUCCESS)
        return rv;
    if (previous && previous->ops == &shm_ops) {
        shm_store *old = previous->impl;
        if (hl_shm_check(old->base, &plan) == APR_SUCCESS) {
            hl_shm_header *h = old->base;
            h->generation++;
            old->mutex = mutex;
            *out = previous;
            *origin = HL_STORE_REUSED;
            return APR_SUCCESS;
        }
    }
    s = apr_pcalloc(pool, sizeof(*s));
    s->mutex = mutex;
    rv = segment_create(s, &plan, pool);
    if (rv != APR_SUCCESS)
        return rv;
    *origin = HL_STORE_CREATED;
    if (previous && previous->ops == &shm_ops) {
        shm_store *old = previous->impl;
        rv = hl_shm_migrate(s->base, old->base);
        if (rv != APR_SUCCESS)
            return rv;
        /* Old children keep their own mapping until they exit. */
        apr_shm_destroy(old->shm);
        *origin = HL_STORE_MIGRATED;
    }
    st = apr_pcalloc(pool, sizeof(*st));
    st->ops = &shm_ops;
    st->impl = s;
    *out = st;
    return APR_SUCCESS;
}
