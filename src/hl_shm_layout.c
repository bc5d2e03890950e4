/* hl_shm_layout: plans, formats, validates and migrates the shared segment.
 * The drawing of the segment is in hl_shm_layout.h. */
#include "hl_shm_layout.h"
#include "hl_counter.h"

#include <string.h>

static apr_size_t align_up(apr_size_t n)
{
    return (n + HL_SHM_ALIGN - 1) & ~(apr_size_t)(HL_SHM_ALIGN - 1);
}

apr_status_t hl_shm_plan_make(const hl_shm_params *params, hl_shm_plan *plan)
{
    if (params->history_capacity == 0)
        return APR_EINVAL;
    memset(plan, 0, sizeof(*plan));
    plan->params = *params;
    plan->counter_off = align_up(sizeof(hl_shm_header));
    plan->counter_size = align_up(hl_counter_region_size(params->history_capacity));
    plan->cache_off = plan->counter_off + plan->counter_size;
    plan->cache_size = align_up(params->cache_bytes);
    plan->total_size = plan->cache_off + plan->cache_size;
    return APR_SUCCESS;
}

const hl_shm_header *hl_shm_header_of(const void *base)
{
    return base;
}

void *hl_shm_counter_region(void *base)
{
    return (char *)base + ((hl_shm_header *)base)->counter_off;
}

void *hl_shm_cache_region(void *base)
{
    hl_shm_header *h = base;
    return h->cache_size ? (char *)base + h->cache_off : NULL;
}

apr_status_t hl_shm_format(void *base, const hl_shm_plan *plan, apr_time_t now)
{
    hl_shm_header *h = base;
    apr_status_t rv;

    memset(h, 0, sizeof(*h));
    h->version = HL_SHM_VERSION;
    h->total_size = plan->total_size;
    h->counter_off = plan->counter_off;
    h->counter_size = plan->counter_size;
    h->history_capacity = plan->params.history_capacity;
    h->cache_off = plan->cache_off;
    h->cache_size = plan->cache_size;
    h->cache_max_key = plan->params.cache_max_key;
    h->cache_max_value = plan->params.cache_max_value;
    h->created = now;
    rv = hl_counter_format(hl_shm_counter_region(base), h->history_capacity);
    if (rv != APR_SUCCESS)
        return rv;
    /* Written last: a segment is valid only once it is fully formatted. */
    __atomic_store_n(&h->magic, HL_SHM_MAGIC, __ATOMIC_RELEASE);
    return APR_SUCCESS;
}

apr_status_t hl_shm_check(const void *base, const hl_shm_plan *plan)
{
    const hl_shm_header *h = base;
    if (h->magic != HL_SHM_MAGIC || h->version != HL_SHM_VERSION)
        return APR_EGENERAL;
    if (h->total_size != plan->total_size
        || h->counter_off != plan->counter_off
        || h->counter_size != plan->counter_size
        || h->history_capacity != plan->params.history_capacity
        || h->cache_off != plan->cache_off
        || h->cache_size != plan->cache_size
        || h->cache_max_key != plan->params.cache_max_key
        || h->cache_max_value != plan->params.cache_max_value)
        return APR_EINVAL;
    return hl_counter_check((const char *)base + h->counter_off,
                            h->history_capacity);
}

apr_status_t hl_shm_migrate(void *dst, const void *src)
{
    const hl_shm_header *s = src;
    hl_shm_header *d = dst;
    if (s->magic != HL_SHM_MAGIC || d->magic != HL_SHM_MAGIC)
        return APR_EGENERAL;
    d->created = s->created;
    d->generation = s->generation + 1;
    return hl_counter_copy(hl_shm_counter_region(dst),
                           (const hl_counter *)((const char *)src + s->counter_off));
}

apr_size_t hl_shm_bytes_used(const void *base)
{
    const hl_shm_header *h = base;
    const hl_counter *c = (const hl_counter *)((const char *)base + h->counter_off);
    return h->counter_off + hl_counter_bytes_used(c);
}
