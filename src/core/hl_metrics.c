/* hl_metrics: see hl_metrics.h for the segment and its rules. */
#include "hl_metrics.h"

#include <apr_shm.h>
#include <string.h>

#define METRICS_MAGIC   0x314d5448u   /* "HTM1" little-endian */
#define METRICS_VERSION 1u

/* 25 us .. 10 s: a hit answers in tens of microseconds, a body of
 * hundreds of megabytes in seconds. */
static const apr_uint64_t bounds_us[HL_METRICS_BUCKETS] = {
    25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
    250000, 500000, 1000000, 2500000, 5000000, 10000000
};

/* An endpoint's histogram on lines of its own, then its codes. */
typedef struct metrics_endpoint {
    apr_uint64_t bucket[HL_METRICS_BUCKETS + 1];
    apr_uint64_t sum_us;
    apr_uint64_t pad[(8 - (HL_METRICS_BUCKETS + 2) % 8) % 8];
    apr_uint64_t code[HL_METRICS_CODES];
} metrics_endpoint;

typedef struct metrics_region {
    apr_uint32_t magic, version, endpoints, codes, buckets;
    apr_uint32_t layout;        /* layout_hash() of the build that made it */
    apr_uint64_t pad0[5];
    apr_uint64_t store_errors[HL_STORE_ERROR_KINDS];
    apr_uint64_t increments;
    apr_uint64_t pad1[7 - HL_STORE_ERROR_KINDS];
    metrics_endpoint ep[HL_EP_COUNT];
} metrics_region;

typedef char metrics_whole_lines[sizeof(metrics_endpoint) % 64 == 0
                                 && sizeof(metrics_region) % 64 == 0 ? 1 : -1];

struct hl_metrics {
    apr_shm_t *shm;
    metrics_region *r;
};

static apr_uint32_t fnv1a32(apr_uint32_t h, const void *bytes, apr_size_t n)
{
    const unsigned char *p = bytes;
    while (n--)
        h = (h ^ *p++) * 16777619u;
    return h;
}

static apr_uint32_t hash_name(apr_uint32_t h, const char *name)
{
    return fnv1a32(h, name, strlen(name) + 1);
}

/* The endpoints' and store errors' names in their order and the buckets'
 * bounds (FNV-1a): a new build loaded by a graceful restart that renamed
 * or reordered them, or moved a bound, must not keep counts under the
 * wrong labels, even with the same numbers of each. */
static apr_uint32_t layout_hash(void)
{
    apr_uint32_t h = 2166136261u;
    int k;
    for (k = 0; k < HL_EP_COUNT; k++)
        h = hash_name(h, hl_metrics_endpoint_name((hl_endpoint)k));
    for (k = 0; k < HL_STORE_ERROR_KINDS; k++)
        h = hash_name(h, hl_metrics_error_kind_name((hl_store_error_kind)k));
    return fnv1a32(h, bounds_us, sizeof(bounds_us));
}

static int region_fits(const hl_metrics *m)
{
    const metrics_region *r = m->r;
    return apr_shm_size_get(m->shm) >= sizeof(metrics_region)
           && r->magic == METRICS_MAGIC && r->version == METRICS_VERSION
           && r->endpoints == HL_EP_COUNT && r->codes == HL_METRICS_CODES
           && r->buckets == HL_METRICS_BUCKETS && r->layout == layout_hash();
}

void hl_metrics_test_other_layout(hl_metrics *m)
{
    m->r->layout ^= 1u;
}

apr_status_t hl_metrics_open(hl_metrics **out, hl_metrics *previous,
                             apr_pool_t *pool, int *kept)
{
    hl_metrics *m;
    apr_status_t rv;
    int fits = previous && region_fits(previous);

    if (kept)
        *kept = fits;
    if (fits) {
        *out = previous;
        return APR_SUCCESS;
    }
    m = apr_pcalloc(pool, sizeof(*m));
    rv = apr_shm_create(&m->shm, sizeof(metrics_region), NULL, pool);
    if (rv != APR_SUCCESS)
        return rv;
    m->r = apr_shm_baseaddr_get(m->shm);
    memset(m->r, 0, sizeof(*m->r));
    m->r->version = METRICS_VERSION;
    m->r->endpoints = HL_EP_COUNT;
    m->r->codes = HL_METRICS_CODES;
    m->r->buckets = HL_METRICS_BUCKETS;
    m->r->layout = layout_hash();
    __atomic_store_n(&m->r->magic, METRICS_MAGIC, __ATOMIC_RELEASE);
    if (previous)
        apr_shm_destroy(previous->shm);   /* children keep their mappings */
    *out = m;
    return APR_SUCCESS;
}

static int bucket_of(apr_uint64_t us)
{
    int i = 0;
    while (i < HL_METRICS_BUCKETS && us > bounds_us[i])
        i++;
    return i;
}

apr_status_t hl_metrics_record(hl_metrics *m, hl_endpoint ep, int status,
                               apr_interval_time_t duration)
{
    metrics_endpoint *e;
    apr_uint64_t us = duration > 0 ? (apr_uint64_t)duration : 0;
    if ((unsigned)ep >= HL_EP_COUNT)
        return APR_EINVAL;
    e = &m->r->ep[ep];
    __atomic_add_fetch(&e->code[status >= 100 && status < HL_METRICS_CODES
                                ? status : 0], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&e->bucket[bucket_of(us)], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&e->sum_us, us, __ATOMIC_RELAXED);
    return APR_SUCCESS;
}

hl_store_error_kind hl_metrics_error_kind(apr_status_t rv)
{
    switch (rv) {
    case APR_ECONNREFUSED: return HL_STORE_ERROR_UNAVAILABLE;
    case APR_TIMEUP:       return HL_STORE_ERROR_TIMEOUT;
    case APR_EACCES:       return HL_STORE_ERROR_REFUSED;
    default:               return HL_STORE_ERROR_OTHER;
    }
}

const char *hl_metrics_error_kind_name(hl_store_error_kind kind)
{
    static const char *const names[HL_STORE_ERROR_KINDS] = {
        "unavailable", "timeout", "refused", "other"
    };
    return (unsigned)kind < HL_STORE_ERROR_KINDS ? names[kind] : "other";
}

apr_status_t hl_metrics_count_store_error(hl_metrics *m, apr_status_t rv)
{
    if (rv == APR_SUCCESS)
        return APR_EINVAL;
    __atomic_add_fetch(&m->r->store_errors[hl_metrics_error_kind(rv)], 1,
                       __ATOMIC_RELAXED);
    return APR_SUCCESS;
}

apr_status_t hl_metrics_count_increment(hl_metrics *m)
{
    __atomic_add_fetch(&m->r->increments, 1, __ATOMIC_RELAXED);
    return APR_SUCCESS;
}

apr_uint64_t hl_metrics_bound_us(int i)
{
    return i >= 0 && i < HL_METRICS_BUCKETS ? bounds_us[i] : 0;
}

const char *hl_metrics_endpoint_name(hl_endpoint ep)
{
    static const char *const names[HL_EP_COUNT] = {
        [HL_EP_NONE] = "none",
#define HL_ENDPOINT(ID, path, rest, methods, flags, handler) \
        [HL_EP_##ID] = sizeof(path) == 1 ? "index" : path rest,
#include "hl_endpoints.def"
    };
    return (unsigned)ep < HL_EP_COUNT ? names[ep] : "none";
}

apr_uint64_t hl_metrics_requests(const hl_metrics *m, hl_endpoint ep,
                                 int code_index)
{
    if ((unsigned)ep >= HL_EP_COUNT || code_index < 0
        || code_index >= HL_METRICS_CODES)
        return 0;
    return __atomic_load_n(&m->r->ep[ep].code[code_index], __ATOMIC_RELAXED);
}

apr_status_t hl_metrics_histogram_read(const hl_metrics *m, hl_endpoint ep,
                                       hl_metrics_histogram *h)
{
    const metrics_endpoint *e;
    int i;
    memset(h, 0, sizeof(*h));
    if ((unsigned)ep >= HL_EP_COUNT)
        return APR_EINVAL;
    e = &m->r->ep[ep];
    for (i = 0; i <= HL_METRICS_BUCKETS; i++) {
        h->bucket[i] = __atomic_load_n(&e->bucket[i], __ATOMIC_RELAXED);
        h->count += h->bucket[i];
    }
    h->sum_us = __atomic_load_n(&e->sum_us, __ATOMIC_RELAXED);
    return APR_SUCCESS;
}

apr_uint64_t hl_metrics_store_errors(const hl_metrics *m,
                                     hl_store_error_kind kind)
{
    return (unsigned)kind < HL_STORE_ERROR_KINDS
           ? __atomic_load_n(&m->r->store_errors[kind], __ATOMIC_RELAXED) : 0;
}

apr_uint64_t hl_metrics_increments(const hl_metrics *m)
{
    return __atomic_load_n(&m->r->increments, __ATOMIC_RELAXED);
}
