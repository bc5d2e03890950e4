/* hl_membench: see hl_membench.h for the runs and what each phase times. */
#include "hl_membench.h"
#include "hl_json_reply.h"
#include "hl_jsonw.h"

#include <apr_allocator.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

/* ---- the query string ---- */

typedef struct query_param {
    const char *name;
    apr_uint64_t max;
    const char *range_error;
} query_param;

static const query_param params[2] = {
    { "allocations", HL_MEMBENCH_MAX_ALLOCATIONS,
      "allocations must be a whole number from 1 to 1000000" },
    { "size", HL_MEMBENCH_MAX_SIZE,
      "size must be a whole number of bytes from 1 to 1048576 (1 MiB)" },
};

static int param_index(const char *name, apr_size_t len)
{
    int i;
    for (i = 0; i < 2; i++)
        if (strlen(params[i].name) == len && memcmp(params[i].name, name, len) == 0)
            return i;
    return -1;
}

/* Plain decimal digits only, 1..max; stops before it could overflow. */
static int parse_count(const char *v, apr_size_t len, apr_uint64_t max,
                       apr_uint64_t *out)
{
    apr_uint64_t x = 0;
    apr_size_t i;
    if (len == 0)
        return 0;
    for (i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return 0;
        x = x * 10 + (apr_uint64_t)(v[i] - '0');
        if (x > max)
            return 0;
    }
    *out = x;
    return x >= 1;
}

/* Names a parameter back only when it is a harmless token, so the answer
 * never carries the client's raw bytes. */
static const char *unknown_param(apr_pool_t *p, const char *name, apr_size_t len)
{
    apr_size_t i;
    if (len == 0 || len > 32)
        return "unknown parameter: only allocations and size are accepted";
    for (i = 0; i < len; i++)
        if (!apr_isalnum(name[i]) && name[i] != '_' && name[i] != '-')
            return "unknown parameter: only allocations and size are accepted";
    return apr_psprintf(p, "unknown parameter '%.*s': only allocations and "
                        "size are accepted", (int)len, name);
}

/* One name=value part of length len; NULL when accepted. */
static const char *parse_param(apr_pool_t *p, const char *part, apr_size_t len,
                               apr_uint64_t *vals, int *seen)
{
    const char *eq = memchr(part, '=', len);
    apr_size_t name_len = eq ? (apr_size_t)(eq - part) : len;
    int i;

    if (len == 0)
        return "empty parameter in the query string";
    i = param_index(part, name_len);
    if (i < 0)
        return unknown_param(p, part, name_len);
    if (seen[i])
        return apr_psprintf(p, "%s given more than once", params[i].name);
    seen[i] = 1;
    if (!eq || !parse_count(eq + 1, len - name_len - 1, params[i].max, &vals[i]))
        return params[i].range_error;
    return NULL;
}

apr_status_t hl_membench_parse_query(apr_pool_t *p, const char *args,
                                     apr_uint64_t *n, apr_uint64_t *s,
                                     const char **error)
{
    apr_uint64_t vals[2] = { HL_MEMBENCH_DEFAULT_ALLOCATIONS,
                             HL_MEMBENCH_DEFAULT_SIZE };
    int seen[2] = { 0, 0 };
    const char *part = (args && *args) ? args : NULL;

    *error = NULL;
    while (part) {
        const char *amp = strchr(part, '&');
        apr_size_t len = amp ? (apr_size_t)(amp - part) : strlen(part);
        *error = parse_param(p, part, len, vals, seen);
        if (*error)
            return APR_EINVAL;
        part = amp ? amp + 1 : NULL;
    }
    if (vals[0] * vals[1] > HL_MEMBENCH_MAX_TOTAL) {
        *error = "allocations x size must be at most 268435456 bytes (256 MiB)";
        return APR_EINVAL;
    }
    *n = vals[0];
    *s = vals[1];
    return APR_SUCCESS;
}

/* ---- the runs ---- */

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* The access phase, the same for both models: fill, then read back. */
static apr_uint64_t fill_and_sum(unsigned char **blocks, apr_uint64_t n,
                                 apr_size_t s)
{
    apr_uint64_t i, sum = 0;
    apr_size_t k;
    for (i = 0; i < n; i++)
        memset(blocks[i], (int)(i & 0xff), s);
    /* Keeps the compiler from deriving the sum from the memsets: the
     * bytes must really be read back. */
    __asm__ __volatile__("" ::: "memory");
    for (i = 0; i < n; i++)
        for (k = 0; k < s; k++)
            sum += blocks[i][k];
    return sum;
}

static int keep_going(int status)
{
    return status;
}

static apr_status_t pool_alloc(apr_pool_t *parent, apr_pool_t **sub,
                               unsigned char **blocks, apr_uint64_t n,
                               apr_size_t s)
{
    apr_allocator_t *a;
    apr_uint64_t i;
    apr_status_t rv = apr_allocator_create(&a);
    if (rv != APR_SUCCESS)
        return rv;
    /* Its own abort function, one that returns: inherited, httpd's would
     * end the whole process when the memory runs out; this way apr_palloc
     * returns NULL and the run answers APR_ENOMEM. */
    rv = apr_pool_create_ex(sub, parent, keep_going, a);
    if (rv != APR_SUCCESS) {
        apr_allocator_destroy(a);
        return rv;
    }
    apr_allocator_owner_set(a, *sub);
    for (i = 0; i < n; i++) {
        blocks[i] = apr_palloc(*sub, s);
        if (blocks[i] == NULL) {
            apr_pool_destroy(*sub);
            return APR_ENOMEM;
        }
    }
    return APR_SUCCESS;
}

static apr_status_t run_pool(apr_pool_t *parent, unsigned char **blocks,
                             apr_uint64_t n, apr_size_t s, hl_membench_run *out)
{
    apr_pool_t *sub;
    apr_status_t rv;
    double t0 = now_us(), t1, t2;

    rv = pool_alloc(parent, &sub, blocks, n, s);
    if (rv != APR_SUCCESS)
        return rv;
    t1 = now_us();
    out->checksum = fill_and_sum(blocks, n, s);
    t2 = now_us();
    apr_pool_destroy(sub);
    out->cleanup_us = now_us() - t2;
    out->access_us = t2 - t1;
    out->allocation_us = t1 - t0;
    return APR_SUCCESS;
}

static void free_blocks(unsigned char **blocks, apr_uint64_t n)
{
    apr_uint64_t i;
    for (i = 0; i < n; i++)
        free(blocks[i]);
}

static apr_status_t malloc_alloc(unsigned char **blocks, apr_uint64_t n,
                                 apr_size_t s)
{
    apr_uint64_t i;
    for (i = 0; i < n; i++) {
        blocks[i] = malloc(s);
        if (blocks[i] == NULL) {
            free_blocks(blocks, i);
            return APR_ENOMEM;
        }
    }
    return APR_SUCCESS;
}

static apr_status_t run_malloc(unsigned char **blocks, apr_uint64_t n,
                               apr_size_t s, hl_membench_run *out)
{
    apr_status_t rv;
    double t0 = now_us(), t1, t2;

    rv = malloc_alloc(blocks, n, s);
    if (rv != APR_SUCCESS)
        return rv;
    t1 = now_us();
    out->checksum = fill_and_sum(blocks, n, s);
    t2 = now_us();
    free_blocks(blocks, n);
    out->cleanup_us = now_us() - t2;
    out->access_us = t2 - t1;
    out->allocation_us = t1 - t0;
    return APR_SUCCESS;
}

apr_status_t hl_membench_run_both(apr_pool_t *p, apr_uint64_t n, apr_uint64_t s,
                                  hl_membench_result *r)
{
    unsigned char **blocks;
    apr_size_t table;
    apr_status_t rv;

    if (n < 1 || n > HL_MEMBENCH_MAX_ALLOCATIONS || s < 1
        || s > HL_MEMBENCH_MAX_SIZE || n * s > HL_MEMBENCH_MAX_TOTAL)
        return APR_EINVAL;
    memset(r, 0, sizeof(*r));
    r->allocations = n;
    r->size = s;
    /* Mapped, not from p (a request pool would keep up to 8 MiB parked)
     * nor malloc'd (freeing a chunk that large raises glibc's threshold
     * for mapping big allocations, and more stays in the heap after). */
    table = (apr_size_t)n * sizeof(*blocks);
    blocks = mmap(NULL, table, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (blocks == MAP_FAILED)
        return APR_ENOMEM;
    rv = run_pool(p, blocks, n, (apr_size_t)s, &r->pool);
    if (rv == APR_SUCCESS)
        rv = run_malloc(blocks, n, (apr_size_t)s, &r->heap);
    munmap(blocks, table);
#ifdef __GLIBC__
    /* Both runs freed their blocks into the heap of this thread's arena
     * (the pool's allocator frees its pieces there too), where glibc
     * keeps them: under a threaded MPM each worker thread that ran a
     * benchmark would hold its last run's hundreds of MiB for good. */
    malloc_trim(0);
#endif
    return rv;
}

/* ---- the answer ---- */

/* "<phase>_time_ms" (to the nanosecond) and "<phase>_time_us". */
static void add_phase(hl_jsonw *w, const char *phase, double us)
{
    char key[48];
    snprintf(key, sizeof(key), "%s_time_ms", phase);
    hl_jsonw_key_text(w, key);
    hl_jsonw_fixed(w, us / 1000.0, 6);
    snprintf(key, sizeof(key), "%s_time_us", phase);
    hl_jsonw_key_text(w, key);
    hl_jsonw_fixed(w, us, 3);
}

static void add_run(hl_jsonw *w, const hl_membench_run *run, const char *model)
{
    add_phase(w, "allocation", run->allocation_us);
    add_phase(w, "access", run->access_us);
    add_phase(w, "cleanup", run->cleanup_us);
    hl_jsonw_kv_u64(w, "checksum", run->checksum);
    hl_jsonw_kv_cstr(w, "memory_model", model);
}

static double run_total(const hl_membench_run *run)
{
    return run->allocation_us + run->access_us + run->cleanup_us;
}

/* malloc time / pool time: above 1 means the pool was faster. */
static void ratio(hl_jsonw *w, const char *key, double malloc_us, double pool_us)
{
    hl_jsonw_key_text(w, key);
    if (pool_us > 0)
        hl_jsonw_fixed(w, malloc_us / pool_us, 3);
    else
        hl_jsonw_null(w);
}

static void comparison(hl_jsonw *w, const hl_membench_result *r)
{
    double pool = run_total(&r->pool), heap = run_total(&r->heap);
    hl_jsonw_key(w, "comparison");
    hl_jsonw_object(w);
    ratio(w, "allocation_ratio", r->heap.allocation_us, r->pool.allocation_us);
    ratio(w, "access_ratio", r->heap.access_us, r->pool.access_us);
    ratio(w, "cleanup_ratio", r->heap.cleanup_us, r->pool.cleanup_us);
    ratio(w, "total_ratio", heap, pool);
    hl_jsonw_kv_cstr(w, "faster", pool <= heap ? "apr_pool" : "malloc");
    hl_jsonw_end(w);
}

void hl_json_membench(hl_jsonw *w, const hl_membench_result *r,
                      const hl_limiter_stats *runs, apr_uint32_t max_runs)
{
    hl_jsonw_object(w);
    hl_jsonw_kv_u64(w, "allocations", r->allocations);
    hl_jsonw_kv_double(w, "allocation_size_kb", (double)r->size / 1024.0);
    hl_jsonw_kv_u64(w, "allocation_size_bytes", r->size);
    hl_jsonw_kv_double(w, "total_memory_mb",
                       (double)(r->allocations * r->size) / 1048576.0);
    add_run(w, &r->pool, "apr_pool_raii");
    hl_jsonw_key(w, "malloc");
    hl_jsonw_object(w);
    add_run(w, &r->heap, "malloc_free");
    hl_jsonw_end(w);
    comparison(w, r);
    if (runs) {
        hl_jsonw_key(w, "concurrency");
        hl_jsonw_object(w);
        hl_json_limiter(w, runs, max_runs);
        hl_jsonw_end(w);
    }
    hl_jsonw_end(w);
}
