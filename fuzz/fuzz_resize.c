/* libFuzzer target: the root parent's side of a restart that resizes.
 *
 * The first bytes lay out a valid old segment (cache size, entries, hits,
 * deletes, a writer that died mid-update or not) and pick two new layouts;
 * the rest are overwrites a hostile child could make: raw bytes anywhere,
 * whole words at named fields of the cache header (hl_cache_field), at
 * fields of the n-th block of the data area, or at words of the segment
 * header and counter.  Then, as hl_store_shm_open does, the reuse check
 * runs on the old segment and the migration copies it into each new one.
 *
 * Whatever they answer: nothing may crash or read or write out of bounds
 * (the segments are malloc'd at their exact size, so ASan sees past
 * them), the old segment must come out byte for byte unchanged (the
 * parent never writes into it), and each new cache must pass
 * hl_cache_validate.
 */
#include "hl_cache.h"
#include "hl_counter.h"
#include "hl_store_shm.h"

#include <apr_general.h>
#include <apr_pools.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#define T0   ((apr_time_t)1700000000 * APR_USEC_PER_SEC)
#define UNIT 16
#define MAX_WRITES 64

static const unsigned char *in, *in_end;

static const char *const header_fields[] = {
    "magic", "region_size", "max_key", "max_value", "nbuckets", "bucket_off",
    "data_start", "data_end", "touch_off", "ntouch", "touch_free",
    "writer_active", "lru_head", "lru_tail", "exp_head", "exp_tail",
    "total_entries",
};
static const char *const block_fields[] = {
    "block.size", "block.state", "block.hnext", "block.prev", "block.next",
    "block.klen", "block.vlen", "block.id",
};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static unsigned byte(void)
{
    return in < in_end ? *in++ : 0;
}

static apr_uint64_t bytes_le(unsigned n)
{
    apr_uint64_t v = 0;
    unsigned i;
    for (i = 0; i < n; i++)
        v |= (apr_uint64_t)byte() << (8 * i);
    return v;
}

static unsigned char *segment_new(const hl_shm_params *p, hl_shm_plan *plan)
{
    unsigned char *base;
    CHECK(hl_shm_plan_make(p, plan) == APR_SUCCESS);
    base = calloc(1, plan->total_size);
    CHECK(base != NULL);
    CHECK(hl_shm_format(base, plan, T0) == APR_SUCCESS);
    return base;
}

/* A valid old segment, the same for the same bytes: the cache is formatted
 * again with a fixed hash seed. */
static unsigned char *old_segment(hl_shm_plan *plan, apr_pool_t *pool)
{
    static const apr_size_t sizes[] = { 16 * 1024, 64 * 1024, 200 * 1024 };
    hl_shm_params p = { 16, 0, 64, 2048 };
    unsigned char *base;
    hl_cache_config cfg;
    hl_cache *c;
    unsigned n, i, dirty;
    char key[16], val[600];

    p.cache_bytes = sizes[byte() % COUNT(sizes)];
    n = byte();
    dirty = byte() & 1;
    base = segment_new(&p, plan);
    c = hl_shm_cache_region(base, plan);
    memset(&cfg, 0, sizeof(cfg));
    cfg.max_key = p.cache_max_key;
    cfg.max_value = p.cache_max_value;
    cfg.seed[0] = 0x0123456789abcdefULL;
    cfg.seed[1] = 0xfedcba9876543210ULL;
    CHECK(hl_cache_format(c, plan->cache_size, &cfg) == APR_SUCCESS);
    memset(val, 'v', sizeof(val));
    for (i = 0; i < n; i++) {
        apr_uint64_t v;
        hl_cache_result r;
        int len = snprintf(key, sizeof(key), "k%u", i % 97);
        hl_counter_increment(hl_shm_counter_region(base, plan), T0 + i, 100 + (int)i, &v);
        CHECK(hl_cache_set(c, key, (apr_size_t)len, val, (i * 37) % sizeof(val),
                           T0 + i, i % 5 == 0 ? 300 : 0, NULL) == APR_SUCCESS);
        if (i % 3 == 0)
            hl_cache_get(c, pool, key, (apr_size_t)len, T0 + i + 1, &r);
        if (i % 7 == 0)
            hl_cache_delete(c, "k1", 2, T0 + i);
    }
    if (dirty)
        hl_cache_set_interrupted(c, "dead", 4, "x", 1, T0 + 400, 0, 4);
    return base;
}

#define MAX_BLOCKS 4096

/* Offsets (units) of the first MAX_BLOCKS blocks of the intact data area. */
static unsigned list_blocks(const unsigned char *cache, apr_uint32_t *at)
{
    apr_uint64_t o, end, size;
    unsigned n = 0;
    CHECK(hl_cache_field_get(cache, "data_start", &o) == APR_SUCCESS);
    CHECK(hl_cache_field_get(cache, "data_end", &end) == APR_SUCCESS);
    for (; o < end && n < MAX_BLOCKS; o += size) {
        CHECK(hl_cache_field_get(cache + o * UNIT, "block.size", &size) == APR_SUCCESS);
        at[n++] = (apr_uint32_t)o;
    }
    return n;
}

/* Applies the rest of the input as a hostile child's writes. */
static void damage(unsigned char *base, const hl_shm_plan *plan)
{
    static apr_uint32_t blocks[MAX_BLOCKS];
    unsigned char *cache = base + plan->cache_off;
    unsigned w, nblocks = list_blocks(cache, blocks);

    for (w = 0; w < MAX_WRITES && in < in_end; w++) {
        unsigned op = byte();
        switch (op % 4) {
        case 0: {   /* raw bytes anywhere */
            apr_size_t at = (apr_size_t)bytes_le(3) % plan->total_size;
            unsigned n = 1 + byte() % 8, i;
            for (i = 0; i < n && at + i < plan->total_size; i++)
                base[at + i] = (unsigned char)byte();
            break;
        }
        case 1:     /* a cache header field */
            hl_cache_field_set(cache, header_fields[byte() % COUNT(header_fields)],
                               bytes_le(8));
            break;
        case 2: {   /* a field of a block header */
            unsigned char *b = cache + (apr_size_t)blocks[byte() % nblocks] * UNIT;
            hl_cache_field_set(b, block_fields[byte() % COUNT(block_fields)],
                               bytes_le(4));
            break;
        }
        default: {  /* a word of the segment header or the counter */
            apr_size_t at = (byte() * 8u) % plan->cache_off;
            apr_uint64_t v = bytes_le(8);
            memcpy(base + at, &v, sizeof(v));
            break;
        }
        }
    }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static const apr_size_t new_sizes[] = { 0, 16 * 1024, 48 * 1024, 256 * 1024 };
    static const apr_uint32_t histories[] = { 1, 8, 64 };
    apr_size_t dst_size[2];
    apr_uint32_t dst_history[2];
    hl_shm_plan plan;
    unsigned char *old, *before;
    apr_pool_t *pool;
    unsigned i;

    in = data;
    in_end = data + size;
    apr_pool_create(&pool, root);
    for (i = 0; i < 2; i++) {
        unsigned b = byte();
        dst_size[i] = new_sizes[b % COUNT(new_sizes)];
        dst_history[i] = histories[(b >> 4) % COUNT(histories)];
    }
    old = old_segment(&plan, pool);
    damage(old, &plan);
    before = malloc(plan.total_size);
    CHECK(before != NULL);
    memcpy(before, old, plan.total_size);

    hl_shm_check(old, &plan);
    for (i = 0; i < 2; i++) {
        hl_shm_params p = { dst_history[i], dst_size[i], 64, 1024 };
        hl_shm_plan dplan;
        unsigned char *dst = segment_new(&p, &dplan);
        char why[256];
        apr_status_t rv = hl_shm_migrate(dst, &dplan, old, &plan, T0 + 250);
        CHECK(rv == APR_SUCCESS || rv == APR_EINVAL || rv == APR_EGENERAL
              || rv == APR_ENOTIMPL);
        CHECK(memcmp(before, old, plan.total_size) == 0);
        if (dplan.cache_size
            && hl_cache_validate(hl_shm_cache_region(dst, &dplan), why,
                                 sizeof(why)) != APR_SUCCESS) {
            fprintf(stderr, "new cache invalid after a migration (%d): %s\n",
                    rv, why);
            abort();
        }
        free(dst);
    }
    free(before);
    free(old);
    apr_pool_destroy(pool);
    return 0;
}
