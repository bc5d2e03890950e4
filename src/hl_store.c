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
