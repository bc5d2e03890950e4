/* hl_store: dispatch to the configured backend. */
#include "hl_store.h"

apr_status_t hl_store_child_init(hl_store *st, apr_pool_t *pchild)
{
    return st->ops->child_init(st, pchild);
}

apr_status_t hl_store_counter_increment(hl_store *st, apr_int32_t pid,
                                        apr_uint64_t *value_out)
{
    return st->ops->counter_increment(st, pid, value_out);
}

apr_status_t hl_store_counter_snapshot(hl_store *st, int max_recent,
                                       hl_counter_snapshot *snap)
{
    return st->ops->counter_snapshot(st, max_recent, snap);
}

apr_status_t hl_store_usage_read(hl_store *st, hl_store_usage *u)
{
    return st->ops->usage(st, u);
}

apr_status_t hl_store_cache_get(hl_store *st, apr_pool_t *pool,
                                const void *key, apr_size_t klen,
                                apr_time_t now, hl_cache_result *res)
{
    return st->ops->cache_get(st, pool, key, klen, now, res);
}

apr_status_t hl_store_cache_set(hl_store *st, const void *key, apr_size_t klen,
                                const void *val, apr_size_t vlen,
                                apr_time_t now, apr_interval_time_t ttl,
                                int *replaced)
{
    return st->ops->cache_set(st, key, klen, val, vlen, now, ttl, replaced);
}

apr_status_t hl_store_cache_delete(hl_store *st, const void *key,
                                   apr_size_t klen, apr_time_t now)
{
    return st->ops->cache_delete(st, key, klen, now);
}

apr_status_t hl_store_cache_stats(hl_store *st, hl_cache_stats *stats)
{
    return st->ops->cache_stats(st, stats);
}
