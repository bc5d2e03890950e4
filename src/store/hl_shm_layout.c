/* hl_shm_layout: plans, formats, validates and migrates the shared segment.
 * The drawing of the segment is in hl_shm_layout.h. */
#include "hl_shm_layout.h"
#include "hl_cache.h"
#include "hl_counter.h"

#include <apr_general.h>
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
    if (plan->cache_size) {
        hl_cache_config cfg;
        memset(&cfg, 0, sizeof(cfg));
        cfg.max_key = params->cache_max_key;
        cfg.max_value = params->cache_max_value;
        if (hl_cache_geometry_of(plan->cache_size, &cfg, &plan->cache)
            != APR_SUCCESS)
            return APR_EINVAL;
    }
    plan->total_size = plan->cache_off + plan->cache_size;
    return APR_SUCCESS;
}

const hl_shm_header *hl_shm_header_of(const void *base)
{
    return base;
}

void *hl_shm_counter_region(void *base, const hl_shm_plan *plan)
{
    return (char *)base + plan->counter_off;
}

void *hl_shm_cache_region(void *base, const hl_shm_plan *plan)
{
    return plan->cache_size ? (char *)base + plan->cache_off : NULL;
}

/* Keyed hashing only helps if clients cannot guess the key. */
static void hash_seed(apr_uint64_t seed[2], const void *base, apr_time_t now)
{
#if APR_HAS_RANDOM
    if (apr_generate_random_bytes((unsigned char *)seed,
                                  2 * sizeof(apr_uint64_t)) == APR_SUCCESS)
        return;
#endif
    seed[0] = (apr_uint64_t)now ^ 0x9e3779b97f4a7c15ULL;
    seed[1] = (apr_uint64_t)(apr_uintptr_t)base ^ ((apr_uint64_t)now << 17);
}

static apr_status_t cache_format(void *base, const hl_shm_plan *plan,
                                 apr_time_t now)
{
    hl_cache_config cfg;
    apr_status_t rv;
    if (!plan->cache_size)
        return APR_SUCCESS;
    memset(&cfg, 0, sizeof(cfg));
    cfg.max_key = plan->params.cache_max_key;
    cfg.max_value = plan->params.cache_max_value;
    hash_seed(cfg.seed, base, now);
    rv = hl_cache_format(hl_shm_cache_region(base, plan), plan->cache_size, &cfg);
    if (rv == APR_SUCCESS)
        hl_cache_versions_begin(hl_shm_cache_region(base, plan),
                                (apr_uint64_t)now);
    return rv;
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
    rv = hl_counter_format(hl_shm_counter_region(base, plan),
                           plan->params.history_capacity);
    if (rv == APR_SUCCESS)
        rv = cache_format(base, plan, now);
    if (rv != APR_SUCCESS)
        return rv;
    /* Written last: a segment is valid only once it is fully formatted. */
    __atomic_store_n(&h->magic, HL_SHM_MAGIC, __ATOMIC_RELEASE);
    return APR_SUCCESS;
}

#define ONCE(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* The segment's header against plan, each word read once: APR_EGENERAL
 * without the magic, APR_ENOTIMPL for another version's layout,
 * APR_EINVAL on any other difference. */
static apr_status_t header_check(const hl_shm_header *h, const hl_shm_plan *plan)
{
    if (ONCE(h->magic) != HL_SHM_MAGIC)
        return APR_EGENERAL;
    if (ONCE(h->version) != HL_SHM_VERSION)
        return APR_ENOTIMPL;
    if (ONCE(h->total_size) != plan->total_size
        || ONCE(h->counter_off) != plan->counter_off
        || ONCE(h->counter_size) != plan->counter_size
        || ONCE(h->history_capacity) != plan->params.history_capacity
        || ONCE(h->cache_off) != plan->cache_off
        || ONCE(h->cache_size) != plan->cache_size
        || ONCE(h->cache_max_key) != plan->params.cache_max_key
        || ONCE(h->cache_max_value) != plan->params.cache_max_value)
        return APR_EINVAL;
    return APR_SUCCESS;
}

apr_status_t hl_shm_check(const void *base, const hl_shm_plan *plan)
{
    apr_status_t rv = header_check(base, plan);
    if (rv != APR_SUCCESS)
        return rv == APR_ENOTIMPL ? APR_EGENERAL : rv;
    if (plan->cache_size
        && hl_cache_check((const char *)base + plan->cache_off, &plan->cache)
           != APR_SUCCESS)
        return APR_EINVAL;
    return hl_counter_check((const char *)base + plan->counter_off,
                            plan->params.history_capacity);
}

apr_status_t hl_shm_migrate(void *dst, const hl_shm_plan *dplan,
                            const void *src, const hl_shm_plan *splan,
                            apr_time_t now)
{
    const hl_shm_header *s = src;
    hl_shm_header *d = dst;
    apr_status_t rv;

    if (d->magic != HL_SHM_MAGIC)
        return APR_EGENERAL;
    if ((rv = header_check(s, splan)) != APR_SUCCESS)
        return rv;
    d->created = ONCE(s->created);
    d->generation = ONCE(s->generation) + 1;
    rv = hl_counter_copy(hl_shm_counter_region(dst, dplan),
                         (const hl_counter *)((const char *)src + splan->counter_off),
                         splan->params.history_capacity);
    if (rv == APR_SUCCESS && splan->cache_size && dplan->cache_size)
        rv = hl_cache_copy(hl_shm_cache_region(dst, dplan),
                           (const hl_cache *)((const char *)src + splan->cache_off),
                           &splan->cache, now);
    return rv;
}

apr_size_t hl_shm_bytes_used(const void *base, const hl_shm_plan *plan)
{
    const hl_counter *c = (const hl_counter *)((const char *)base
                                               + plan->counter_off);
    apr_size_t used = plan->counter_off + hl_counter_bytes_used(c);
    if (plan->cache_size)
        used += hl_cache_bytes_used((const hl_cache *)((const char *)base
                                                       + plan->cache_off));
    return used;
}
