/* The shared cache: basic semantics, binary data, limits, collisions, TTL
 * with an injected clock, eviction order, reuse of the data area, a long
 * random run against a model, the limiter, crash recovery (simulated and
 * with a SIGKILLed child holding the lock), the store across processes,
 * restarts and migrations, and the expiry order under mixed TTLs. */
#include "check_hl.h"
#include "hl_cache.h"
#include "hl_shm_layout.h"
#include "hl_store_shm.h"

#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define T0 ((apr_time_t)1700000000 * APR_USEC_PER_SEC)
#define SEC(n) ((apr_interval_time_t)(n) * APR_USEC_PER_SEC)

static hl_cache *cache_new(apr_size_t size, apr_uint32_t buckets,
                           apr_size_t max_key, apr_size_t max_value)
{
    hl_cache_config cfg;
    void *region = apr_palloc(test_pool, size);
    memset(&cfg, 0, sizeof(cfg));
    cfg.max_key = max_key;
    cfg.max_value = max_value;
    cfg.buckets = buckets;
    cfg.seed[0] = 0x0123456789abcdefULL;
    cfg.seed[1] = 0xfedcba9876543210ULL;
    ck_assert_int_eq(hl_cache_format(region, size, &cfg), APR_SUCCESS);
    return region;
}

static void assert_valid(const hl_cache *c)
{
    char why[256];
    apr_status_t rv = hl_cache_validate(c, why, sizeof(why));
    ck_assert_msg(rv == APR_SUCCESS, "cache invalid: %s", why);
}

static hl_cache_stats stats_of(const hl_cache *c)
{
    hl_cache_stats st;
    hl_cache_stats_read(c, &st);
    return st;
}

static hl_cache_repairs repairs_of(const hl_cache *c)
{
    hl_cache_repairs rep;
    hl_cache_repairs_read(c, &rep);
    return rep;
}

static void put(hl_cache *c, const char *k, const char *v, apr_time_t now,
                apr_interval_time_t ttl)
{
    ck_assert_int_eq(hl_cache_set(c, k, strlen(k), v, strlen(v), now, ttl, NULL),
                     APR_SUCCESS);
}

static int has(hl_cache *c, const char *k, apr_time_t now)
{
    hl_cache_result r;
    return hl_cache_get(c, test_pool, k, strlen(k), now, &r) == APR_SUCCESS;
}

static void assert_value(hl_cache *c, const char *k, const char *v,
                         apr_time_t now)
{
    hl_cache_result r;
    ck_assert_int_eq(hl_cache_get(c, test_pool, k, strlen(k), now, &r),
                     APR_SUCCESS);
    ck_assert_uint_eq(r.vlen, strlen(v));
    ck_assert_mem_eq(r.value, v, r.vlen);
}

START_TEST(test_set_get_counts_accesses)
{
    hl_cache *c = cache_new(64 * 1024, 0, 250, 4096);
    hl_cache_result r;
    hl_cache_stats st;
    int replaced = -1;

    ck_assert_int_eq(hl_cache_get(c, test_pool, "a", 1, T0, &r), APR_NOTFOUND);
    ck_assert_int_eq(hl_cache_set(c, "a", 1, "one", 3, T0, SEC(60), &replaced),
                     APR_SUCCESS);
    ck_assert_int_eq(replaced, 0);
    ck_assert_int_eq(hl_cache_get(c, test_pool, "a", 1, T0 + SEC(2), &r), APR_SUCCESS);
    ck_assert_str_eq(r.value, "one");
    ck_assert_uint_eq(r.access_count, 1);
    ck_assert_int_eq(r.set_time, T0);
    ck_assert_int_eq(r.expires, T0 + SEC(60));
    ck_assert_int_eq(r.age, SEC(2));
    hl_cache_get(c, test_pool, "a", 1, T0 + SEC(3), &r);
    ck_assert_uint_eq(r.access_count, 2);
    put(c, "b", "two", T0, 0);
    has(c, "b", T0);

    st = stats_of(c);
    ck_assert_uint_eq(st.total_entries, 2);
    ck_assert_uint_eq(st.total_accesses, 3);
    ck_assert_uint_eq(st.hits, 3);
    ck_assert_uint_eq(st.misses, 1);
    ck_assert_uint_eq(st.sets, 2);
    ck_assert_uint_gt(st.bytes_used, 0);
    ck_assert_uint_le(st.bytes_used, st.capacity_bytes);
    ck_assert_uint_lt(st.capacity_bytes, 64 * 1024);

    ck_assert_int_eq(hl_cache_delete(c, "a", 1, T0), APR_SUCCESS);
    ck_assert_int_eq(hl_cache_delete(c, "a", 1, T0), APR_NOTFOUND);
    st = stats_of(c);
    ck_assert_uint_eq(st.total_entries, 1);
    ck_assert_uint_eq(st.total_accesses, 1);   /* a's two hits went with it */
    ck_assert_uint_eq(st.deletes, 1);
    assert_valid(c);
}
END_TEST

START_TEST(test_replace_reports_replaced)
{
    hl_cache *c = cache_new(64 * 1024, 0, 250, 4096);
    hl_cache_result r;
    int replaced = 0;
    put(c, "k", "old", T0, 0);
    has(c, "k", T0);
    ck_assert_int_eq(hl_cache_set(c, "k", 1, "a much longer new value", 23,
                                  T0 + 1, 0, &replaced), APR_SUCCESS);
    ck_assert_int_eq(replaced, 1);
    hl_cache_get(c, test_pool, "k", 1, T0 + 2, &r);
    ck_assert_str_eq(r.value, "a much longer new value");
    ck_assert_uint_eq(r.access_count, 1);   /* a new entry starts afresh */
    ck_assert_uint_eq(stats_of(c).total_entries, 1);
    ck_assert_uint_eq(stats_of(c).sets, 2);
    assert_valid(c);
}
END_TEST

START_TEST(test_binary_keys_and_values)
{
    hl_cache *c = cache_new(64 * 1024, 0, 250, 4096);
    unsigned char val[256], key1[] = { 'a', 0, 'b' }, key2[] = { 'a', 0, 'c' };
    hl_cache_result r;
    int i;

    for (i = 0; i < 256; i++)
        val[i] = (unsigned char)i;
    ck_assert_int_eq(hl_cache_set(c, key1, 3, val, 256, T0, 0, NULL), APR_SUCCESS);
    ck_assert_int_eq(hl_cache_set(c, key2, 3, "", 0, T0, 0, NULL), APR_SUCCESS);
    ck_assert_int_eq(hl_cache_get(c, test_pool, key1, 3, T0, &r), APR_SUCCESS);
    ck_assert_uint_eq(r.vlen, 256);
    ck_assert_mem_eq(r.value, val, 256);
    ck_assert_int_eq(hl_cache_get(c, test_pool, key2, 3, T0, &r), APR_SUCCESS);
    ck_assert_uint_eq(r.vlen, 0);
    ck_assert_int_eq(r.value[0], '\0');
    ck_assert_int_eq(hl_cache_get(c, test_pool, key1, 2, T0, &r), APR_NOTFOUND);
    assert_valid(c);
}
END_TEST

START_TEST(test_limits_refused)
{
    hl_cache *c = cache_new(16 * 1024, 0, 8, 64 * 1024);
    char big[20000];
    hl_cache_result r;
    memset(big, 'x', sizeof(big));
    ck_assert_int_eq(hl_cache_set(c, "", 0, "v", 1, T0, 0, NULL), APR_EINVAL);
    ck_assert_int_eq(hl_cache_set(c, "123456789", 9, "v", 1, T0, 0, NULL), APR_EINVAL);
    ck_assert_int_eq(hl_cache_get(c, test_pool, "123456789", 9, T0, &r), APR_EINVAL);
    ck_assert_int_eq(hl_cache_delete(c, "", 0, T0), APR_EINVAL);
    /* Within max_value but larger than the whole data area. */
    ck_assert_int_eq(hl_cache_set(c, "k", 1, big, sizeof(big), T0, 0, NULL), APR_ENOSPC);
    ck_assert_uint_eq(stats_of(c).total_entries, 0);
    c = cache_new(64 * 1024, 0, 8, 100);
    ck_assert_int_eq(hl_cache_set(c, "k", 1, big, 101, T0, 0, NULL), APR_EINVAL);
    ck_assert_int_eq(hl_cache_set(c, "k", 1, big, 100, T0, 0, NULL), APR_SUCCESS);
    assert_valid(c);
}
END_TEST

START_TEST(test_format_rejects_bad_config)
{
    hl_cache_config cfg = { 250, 4096, 3, { 0, 0 } };   /* 3: not a power of 2 */
    hl_cache_geometry geo;
    void *region = apr_palloc(test_pool, 64 * 1024);
    ck_assert_int_eq(hl_cache_format(region, 64 * 1024, &cfg), APR_EINVAL);
    cfg.buckets = 0;
    ck_assert_int_eq(hl_cache_format(region, 100, &cfg), APR_EINVAL);
    ck_assert_int_eq(hl_cache_format(region, 64 * 1024 + 8, &cfg), APR_EINVAL);
    cfg.max_key = 0;
    ck_assert_int_eq(hl_cache_format(region, 64 * 1024, &cfg), APR_EINVAL);
    cfg.max_key = 250;
    ck_assert_int_eq(hl_cache_format(region, 64 * 1024, &cfg), APR_SUCCESS);
    ck_assert_int_eq(hl_cache_geometry_of(64 * 1024, &cfg, &geo), APR_SUCCESS);
    ck_assert_int_eq(hl_cache_check(region, &geo), APR_SUCCESS);
    cfg.max_key = 251;
    ck_assert_int_eq(hl_cache_geometry_of(64 * 1024, &cfg, &geo), APR_SUCCESS);
    ck_assert_int_ne(hl_cache_check(region, &geo), APR_SUCCESS);
}
END_TEST

/* One bucket: every key collides, every operation walks the chain. */
START_TEST(test_collisions_in_one_bucket)
{
    hl_cache *c = cache_new(256 * 1024, 1, 250, 64);
    int i;
    for (i = 0; i < 500; i++)
        put(c, apr_psprintf(test_pool, "key-%d", i),
            apr_psprintf(test_pool, "value-%d", i), T0, 0);
    assert_valid(c);
    for (i = 0; i < 500; i += 2) {
        const char *k = apr_psprintf(test_pool, "key-%d", i);
        ck_assert_int_eq(hl_cache_delete(c, k, strlen(k), T0), APR_SUCCESS);
    }
    for (i = 0; i < 500; i++) {
        const char *k = apr_psprintf(test_pool, "key-%d", i);
        if (i % 2)
            assert_value(c, k, apr_psprintf(test_pool, "value-%d", i), T0);
        else
            ck_assert(!has(c, k, T0));
    }
    ck_assert_uint_eq(stats_of(c).total_entries, 250);
    ck_assert_uint_eq(stats_of(c).evictions, 0);
    assert_valid(c);
}
END_TEST

START_TEST(test_ttl_with_injected_clock)
{
    hl_cache *c = cache_new(64 * 1024, 0, 250, 4096);
    hl_cache_stats st;
    int replaced = 1;

    put(c, "short", "s", T0, SEC(10));
    put(c, "forever", "f", T0, 0);
    put(c, "gone", "g", T0, SEC(5));
    ck_assert(has(c, "short", T0 + SEC(10) - 1));
    ck_assert(!has(c, "short", T0 + SEC(10)));      /* expired exactly at ttl */
    st = stats_of(c);
    ck_assert_uint_eq(st.expirations, 1);
    ck_assert_uint_eq(st.total_entries, 2);
    ck_assert_uint_eq(st.total_accesses, 0);         /* its hit went with it */
    ck_assert(has(c, "forever", T0 + SEC(100000000)));
    /* Deleting or replacing an expired entry finds nothing there. */
    ck_assert_int_eq(hl_cache_delete(c, "gone", 4, T0 + SEC(6)), APR_NOTFOUND);
    put(c, "gone", "g", T0 + SEC(6), SEC(5));
    ck_assert_int_eq(hl_cache_set(c, "gone", 4, "h", 1, T0 + SEC(20), SEC(5),
                                  &replaced), APR_SUCCESS);
    ck_assert_int_eq(replaced, 0);
    st = stats_of(c);
    ck_assert_uint_eq(st.expirations, 3);
    ck_assert_uint_eq(st.deletes, 0);
    assert_valid(c);
}
END_TEST

/* Fills a small cache with equal-sized entries k0..; returns how many fit. */
static int fill_until_full(hl_cache *c, apr_time_t now)
{
    char val[100];
    int n;
    memset(val, 'v', sizeof(val));
    for (n = 0; ; n++) {
        const char *k = apr_psprintf(test_pool, "k%03d", n);
        ck_assert_int_eq(hl_cache_set(c, k, strlen(k), val, sizeof(val), now,
                                      SEC(1000), NULL), APR_SUCCESS);
        if (stats_of(c).evictions > 0)
            return n;
    }
}

START_TEST(test_eviction_expired_first_then_lru)
{
    hl_cache *c = cache_new(hl_cache_min_size() + 4096, 0, 250, 4096);
    char val[100];
    hl_cache_stats st;
    int n = fill_until_full(c, T0), i;

    /* The insert of k<n> pushed out k000, the least recently used. */
    ck_assert_int_ge(n, 8);
    ck_assert(!has(c, "k000", T0));
    memset(val, 'v', sizeof(val));
    /* Touch k001 so k002 is now the LRU; k005 gets a short TTL. */
    ck_assert(has(c, "k001", T0));
    ck_assert_int_eq(hl_cache_set(c, "k005", 4, val, sizeof(val), T0, SEC(1), NULL),
                     APR_SUCCESS);
    st = stats_of(c);
    ck_assert_uint_eq(st.evictions, 1);

    /* Past k005's expiry: it goes first, not the LRU. */
    ck_assert_int_eq(hl_cache_set(c, "new1", 4, val, sizeof(val), T0 + SEC(2),
                                  SEC(1000), NULL), APR_SUCCESS);
    st = stats_of(c);
    ck_assert_uint_eq(st.evictions, 1);
    ck_assert_uint_eq(st.expirations, 1);
    ck_assert(has(c, "k002", T0 + SEC(2)));   /* bumps k002; k003 is the LRU */
    ck_assert(has(c, "k001", T0 + SEC(2)));

    /* Nothing expired now: the LRU goes. */
    ck_assert_int_eq(hl_cache_set(c, "new2", 4, val, sizeof(val), T0 + SEC(3),
                                  SEC(1000), NULL), APR_SUCCESS);
    st = stats_of(c);
    ck_assert_uint_eq(st.evictions, 2);
    ck_assert(!has(c, "k003", T0 + SEC(3)));
    for (i = 4; i <= n; i++)
        if (i != 5)
            ck_assert(has(c, apr_psprintf(test_pool, "k%03d", i), T0 + SEC(3)));
    ck_assert(has(c, "new1", T0 + SEC(3)));
    ck_assert(has(c, "new2", T0 + SEC(3)));
    assert_valid(c);
}
END_TEST

/* Many times the capacity through a small data area, then one entry as
 * large as the area: freed space must coalesce back into one block. */
START_TEST(test_data_area_reuse_and_coalescing)
{
    hl_cache *c = cache_new(hl_cache_min_size() + 16 * 1024, 0, 250, 64 * 1024);
    apr_uint64_t seed = 42;
    hl_cache_stats st;
    char *val = apr_palloc(test_pool, 64 * 1024);
    int i;

    memset(val, 'z', 64 * 1024);
    for (i = 0; i < 20000; i++) {
        const char *k = apr_psprintf(test_pool, "wrap-%d", i);
        apr_size_t vlen = (apr_size_t)(test_rand(&seed) % 1500);
        ck_assert_int_eq(hl_cache_set(c, k, strlen(k), val, vlen, T0 + i, 0, NULL),
                         APR_SUCCESS);
        ck_assert(has(c, k, T0 + i));
    }
    st = stats_of(c);
    ck_assert_uint_eq(st.sets, 20000);
    ck_assert_uint_eq(st.evictions, st.sets - st.total_entries);
    ck_assert_uint_le(st.bytes_used, st.capacity_bytes);
    assert_valid(c);

    /* Whole area minus the entry header: fits only in one coalesced block. */
    ck_assert_int_eq(hl_cache_set(c, "huge", 4, val,
                                  (apr_size_t)st.capacity_bytes - 128, T0 + SEC(1),
                                  0, NULL), APR_SUCCESS);
    st = stats_of(c);
    ck_assert_uint_eq(st.total_entries, 1);
    ck_assert(has(c, "huge", T0 + SEC(1)));
    assert_valid(c);
    ck_assert_int_eq(hl_cache_delete(c, "huge", 4, T0 + SEC(1)), APR_SUCCESS);
    ck_assert_uint_eq(stats_of(c).bytes_used, 0);
    assert_valid(c);
}
END_TEST

/* ---- the long random run against a model ------------------------------ */

#define MODEL_KEYS 3000
#define MODEL_OPS  200000

typedef struct {
    unsigned char *val;   /* malloc'd copy; NULL: absent */
    apr_size_t len;
    int present;
} model_entry;

static apr_size_t random_value_size(apr_uint64_t *seed)
{
    apr_uint64_t r = test_rand(seed) % 100;
    if (r < 70)
        return (apr_size_t)(test_rand(seed) % 100);
    if (r < 95)
        return 100 + (apr_size_t)(test_rand(seed) % 900);
    return 1000 + (apr_size_t)(test_rand(seed) % 7000);
}

START_TEST(test_random_run_matches_model)
{
    hl_cache *c = cache_new(512 * 1024, 0, 64, 8192);
    model_entry *m = calloc(MODEL_KEYS, sizeof(*m));
    unsigned char *buf = malloc(8192);
    apr_uint64_t seed = 0x9e3779b97f4a7c15ULL, missed_present = 0, live = 0;
    hl_cache_stats st;
    apr_pool_t *scratch;
    int op;

    apr_pool_create(&scratch, test_pool);
    for (op = 0; op < MODEL_OPS; op++) {
        unsigned ki = (unsigned)(test_rand(&seed) % MODEL_KEYS);
        unsigned char key[16];
        apr_size_t klen;
        apr_uint64_t dice = test_rand(&seed) % 100;
        apr_time_t now = T0 + op;

        /* Binary keys: the index, a NUL, and a tail. */
        memcpy(key, &ki, sizeof(ki));
        key[4] = 0;
        klen = 5 + ki % 7;
        memset(key + 5, 'k', klen - 5);

        if (dice < 45) {
            apr_size_t len = random_value_size(&seed);
            int replaced;
            test_rand_fill(&seed, buf, len);
            ck_assert_int_eq(hl_cache_set(c, key, klen, buf, len, now, SEC(3600),
                                          &replaced), APR_SUCCESS);
            if (!m[ki].present || !replaced) {
                /* It was absent, or it had been evicted meanwhile. */
                if (m[ki].present)
                    missed_present++;
            }
            free(m[ki].val);
            m[ki].val = malloc(len ? len : 1);
            memcpy(m[ki].val, buf, len);
            m[ki].len = len;
            m[ki].present = 1;
        }
        else if (dice < 60) {
            apr_status_t rv = hl_cache_delete(c, key, klen, now);
            if (!m[ki].present)
                ck_assert_int_eq(rv, APR_NOTFOUND);
            else if (rv == APR_NOTFOUND)
                missed_present++;
            else
                ck_assert_int_eq(rv, APR_SUCCESS);
            m[ki].present = 0;
        }
        else {
            hl_cache_result r;
            /* Half the reads without the lock: alone, it never needs it. */
            apr_status_t rv = (op & 1)
                ? hl_cache_get_lockfree(c, scratch, key, klen, now, &r)
                : hl_cache_get(c, scratch, key, klen, now, &r);
            if (rv == APR_SUCCESS) {
                ck_assert_msg(m[ki].present, "op %d: key %u returned after delete",
                              op, ki);
                ck_assert_uint_eq(r.vlen, m[ki].len);
                ck_assert(memcmp(r.value, m[ki].val, r.vlen) == 0);
            }
            else {
                ck_assert_int_eq(rv, APR_NOTFOUND);
                if (m[ki].present)
                    missed_present++;
                m[ki].present = 0;   /* evicted */
            }
        }
        if (op % 20000 == 0) {
            assert_valid(c);
            apr_pool_clear(scratch);
        }
    }
    assert_valid(c);
    st = stats_of(c);
    /* Every loss the model saw is an eviction the cache counted. */
    ck_assert_uint_ge(st.evictions, missed_present);
    ck_assert_uint_gt(st.evictions, 0);
    ck_assert_uint_eq(st.expirations, 0);
    ck_assert_uint_le(st.bytes_used, st.capacity_bytes);
    for (op = 0; op < MODEL_KEYS; op++) {
        unsigned char key[16];
        hl_cache_result r;
        apr_size_t klen = 5 + (unsigned)op % 7;
        unsigned ki = (unsigned)op;
        memcpy(key, &ki, sizeof(ki));
        key[4] = 0;
        memset(key + 5, 'k', klen - 5);
        if (hl_cache_get(c, scratch, key, klen, T0 + MODEL_OPS, &r) == APR_SUCCESS) {
            ck_assert(m[ki].present);
            live++;
        }
        free(m[ki].val);
    }
    ck_assert_uint_eq(live, st.total_entries);
    free(m);
    free(buf);
}
END_TEST

/* ---- lock-free reads --------------------------------------------------- */

START_TEST(test_lockfree_get_semantics)
{
    hl_cache *c = cache_new(64 * 1024, 0, 250, 4096);
    hl_cache_result r;
    hl_cache_stats st;

    ck_assert_int_eq(hl_cache_get_lockfree(c, test_pool, "", 0, T0, &r), APR_EINVAL);
    ck_assert_int_eq(hl_cache_get_lockfree(c, test_pool, "a", 1, T0, &r), APR_NOTFOUND);
    put(c, "a", "one", T0, SEC(60));
    ck_assert_int_eq(hl_cache_get_lockfree(c, test_pool, "a", 1, T0 + SEC(2), &r),
                     APR_SUCCESS);
    ck_assert_str_eq(r.value, "one");
    ck_assert_uint_eq(r.vlen, 3);
    ck_assert_uint_eq(r.access_count, 1);
    ck_assert_int_eq(r.set_time, T0);
    ck_assert_int_eq(r.expires, T0 + SEC(60));
    ck_assert_int_eq(r.age, SEC(2));
    /* Locked and lock-free hits count into the same access_count. */
    ck_assert_int_eq(hl_cache_get(c, test_pool, "a", 1, T0 + SEC(3), &r), APR_SUCCESS);
    ck_assert_uint_eq(r.access_count, 2);
    ck_assert_int_eq(hl_cache_get_lockfree(c, test_pool, "a", 1, T0 + SEC(4), &r),
                     APR_SUCCESS);
    ck_assert_uint_eq(r.access_count, 3);
    st = stats_of(c);
    ck_assert_uint_eq(st.hits, 3);
    ck_assert_uint_eq(st.misses, 1);
    ck_assert_uint_eq(st.total_accesses, 3);

    /* Expired: only the locked get may remove it. */
    ck_assert_int_eq(hl_cache_get_lockfree(c, test_pool, "a", 1, T0 + SEC(60), &r),
                     APR_EAGAIN);
    ck_assert_uint_eq(stats_of(c).total_entries, 1);
    ck_assert_int_eq(hl_cache_get(c, test_pool, "a", 1, T0 + SEC(60), &r), APR_NOTFOUND);
    st = stats_of(c);
    ck_assert_uint_eq(st.total_entries, 0);
    ck_assert_uint_eq(st.expirations, 1);
    ck_assert_uint_eq(st.total_accesses, 0);

    /* A new entry under the same key starts from 0 again. */
    put(c, "a", "two", T0 + SEC(61), SEC(60));
    ck_assert_int_eq(hl_cache_get_lockfree(c, test_pool, "a", 1, T0 + SEC(62), &r),
                     APR_SUCCESS);
    ck_assert_str_eq(r.value, "two");
    ck_assert_uint_eq(r.access_count, 1);
    assert_valid(c);
}
END_TEST

/* A writer that died mid-update leaves the sequence odd: lock-free reads
 * step aside until a locked operation has repaired the table. */
START_TEST(test_lockfree_after_dead_writer)
{
    hl_cache *c = cache_new(64 * 1024, 0, 250, 4096);
    hl_cache_result r;

    put(c, "a", "one", T0, 0);
    ck_assert_int_eq(hl_cache_set_interrupted(c, "b", 1, "two", 3, T0, 0, 3),
                     APR_EINTR);
    ck_assert_int_eq(hl_cache_get_lockfree(c, test_pool, "a", 1, T0, &r), APR_EAGAIN);
    ck_assert_int_eq(hl_cache_get(c, test_pool, "a", 1, T0, &r), APR_SUCCESS);
    ck_assert_uint_eq(repairs_of(c).recoveries, 1);
    ck_assert_int_eq(hl_cache_get_lockfree(c, test_pool, "a", 1, T0, &r), APR_SUCCESS);
    ck_assert_str_eq(r.value, "one");
    ck_assert_uint_eq(r.access_count, 2);
    assert_valid(c);
}
END_TEST

/* Hits do not move entries; eviction must still take the true least
 * recently used.  Fill a cache whose every set evicts one same-sized
 * entry, hit a random subset in a random order (locked and lock-free),
 * set m more keys, and compare the survivors with a model's LRU order. */
START_TEST(test_lockfree_hits_keep_lru_exact)
{
    apr_uint64_t seed = 0x5151;
    int trial;

    for (trial = 0; trial < 40; trial++) {
        hl_cache *c = cache_new(16 * 1024, 0, 16, 64);
        apr_time_t last[512], now = T0;
        int n = 0, i, m, survivors = 0;
        char k[16], v[48];

        memset(v, 'v', sizeof(v) - 1);
        v[sizeof(v) - 1] = '\0';
        /* Fill until the first eviction: n entries fit. */
        for (;;) {
            apr_snprintf(k, sizeof(k), "k%03d", n);
            put(c, k, v, now, 0);
            if (stats_of(c).evictions > 0)
                break;
            last[n++] = now;
            now += SEC(1);
        }
        ck_assert_int_gt(n, 8);
        ck_assert_int_lt(n, 512);
        /* Start over with exactly n entries (k000 was evicted above). */
        c = cache_new(16 * 1024, 0, 16, 64);
        now = T0;
        for (i = 0; i < n; i++) {
            apr_snprintf(k, sizeof(k), "k%03d", i);
            put(c, k, v, now, 0);
            last[i] = now;
            now += SEC(1);
        }
        for (i = 0; i < n; i++) {
            hl_cache_result r;
            int ki = (int)(test_rand(&seed) % (apr_uint64_t)n);
            apr_snprintf(k, sizeof(k), "k%03d", ki);
            ck_assert_int_eq(test_rand(&seed) & 1
                             ? hl_cache_get_lockfree(c, test_pool, k, strlen(k), now, &r)
                             : hl_cache_get(c, test_pool, k, strlen(k), now, &r),
                             APR_SUCCESS);
            last[ki] = now;
            now += SEC(1);
        }
        m = 1 + (int)(test_rand(&seed) % (apr_uint64_t)(n - 1));
        for (i = 0; i < m; i++) {
            apr_snprintf(k, sizeof(k), "n%03d", i);   /* same size as k%03d */
            put(c, k, v, now, 0);
            now += SEC(1);
        }
        ck_assert_uint_eq(stats_of(c).evictions, (apr_uint64_t)m);
        assert_valid(c);
        /* Survivors: exactly the n - m most recently used. */
        for (i = 0; i < n; i++) {
            int newer = 0, j;
            hl_cache_result r;
            for (j = 0; j < n; j++)
                newer += last[j] > last[i];
            apr_snprintf(k, sizeof(k), "k%03d", i);
            ck_assert_msg((hl_cache_get_lockfree(c, test_pool, k, strlen(k), now, &r)
                           == APR_SUCCESS) == (newer < n - m),
                          "trial %d: k%03d (%d newer, %d evicted)", trial, i, newer, m);
            survivors += newer < n - m;
        }
        ck_assert_int_eq(survivors, n - m);
    }
}
END_TEST

/* Readers without the lock against a writer with it, on real threads.
 * Every value names its key and version and is filled with a byte derived
 * from both, so a torn read shows; keys 0..7 are never written after the
 * start, so their access counts must equal the hits the readers saw. */
#define RACE_KEYS    10
#define RACE_STABLE  8
#define RACE_READERS 3
#define RACE_READS   150000
#define RACE_WRITES  60000
#define RACE_RUNS    5

typedef struct {
    hl_cache *c;
    apr_thread_mutex_t *lock;
    int *writer_done;               /* readers read on until it is set */
    apr_uint64_t seed;
    apr_uint64_t hits[RACE_KEYS], fallbacks, torn;
} race_arg;

static apr_size_t race_value(unsigned ki, apr_uint32_t ver, unsigned char *buf)
{
    apr_size_t len = 8 + (ki * 131u + ver * 17u) % 4000;
    memcpy(buf, &ki, 4);
    memcpy(buf + 4, &ver, 4);
    memset(buf + 8, (int)((ki * 7u + ver) & 0xff), len - 8);
    return len;
}

static int race_value_ok(unsigned ki, const hl_cache_result *r)
{
    unsigned char want[4096];
    unsigned kin;
    apr_uint32_t ver;
    if (r->vlen < 8)
        return 0;
    memcpy(&kin, r->value, 4);
    memcpy(&ver, r->value + 4, 4);
    return kin == ki && race_value(ki, ver, want) == r->vlen
           && memcmp(want, r->value, r->vlen) == 0;
}

static void race_key(unsigned ki, char *k)
{
    apr_snprintf(k, 16, "race%02u", ki);
}

static void *APR_THREAD_FUNC race_reader(apr_thread_t *t, void *data)
{
    race_arg *a = data;
    apr_pool_t *p;
    int i;

    apr_pool_create_unmanaged(&p);
    /* At least RACE_READS, and on for as long as the writer writes: the
     * threads overlap however the scheduler starts them. */
    for (i = 0; i < RACE_READS || !__atomic_load_n(a->writer_done, __ATOMIC_ACQUIRE);
         i++) {
        /* Half the reads on the keys the writer churns. */
        apr_uint64_t dice = test_rand(&a->seed);
        unsigned ki = (dice & 1) ? (unsigned)((dice >> 1) % RACE_STABLE)
                                 : RACE_STABLE + (unsigned)((dice >> 1) % (RACE_KEYS - RACE_STABLE));
        char k[16];
        hl_cache_result r;
        apr_status_t rv;
        race_key(ki, k);
        rv = hl_cache_get_lockfree(a->c, p, k, strlen(k), T0, &r);
        if (rv == APR_EAGAIN) {
            a->fallbacks++;
            apr_thread_mutex_lock(a->lock);
            rv = hl_cache_get(a->c, p, k, strlen(k), T0, &r);
            apr_thread_mutex_unlock(a->lock);
        }
        if (rv == APR_SUCCESS) {
            a->hits[ki]++;
            if (!race_value_ok(ki, &r))
                a->torn++;
        }
        if (i % 1000 == 0)
            apr_pool_clear(p);
    }
    apr_pool_destroy(p);
    (void)t;
    return NULL;   /* not apr_thread_exit: ASan flags the unwound frames */
}

static void *APR_THREAD_FUNC race_writer(apr_thread_t *t, void *data)
{
    race_arg *a = data;
    unsigned char buf[4096];
    apr_uint32_t ver = 1;
    int i;

    for (i = 0; i < RACE_WRITES; i++) {
        unsigned ki = RACE_STABLE
                      + (unsigned)(test_rand(&a->seed) % (RACE_KEYS - RACE_STABLE));
        char k[16];
        race_key(ki, k);
        apr_thread_mutex_lock(a->lock);
        if (test_rand(&a->seed) % 4 == 0)
            hl_cache_delete(a->c, k, strlen(k), T0);
        else
            hl_cache_set(a->c, k, strlen(k), buf, race_value(ki, ver++, buf), T0, 0, NULL);
        apr_thread_mutex_unlock(a->lock);
    }
    __atomic_store_n(a->writer_done, 1, __ATOMIC_RELEASE);
    (void)t;
    return NULL;
}

START_TEST(test_lockfree_readers_race_a_writer)
{
    /* Room for every key, so that no stable key is evicted; deletes and
     * replacements free and reuse blocks under the readers all the same. */
    hl_cache *c = cache_new(256 * 1024, 0, 16, 4096);
    apr_thread_mutex_t *lock;
    apr_thread_t *th[RACE_READERS + 1];
    race_arg args[RACE_READERS + 1];
    apr_uint64_t hits[RACE_KEYS] = {0}, fallbacks = 0, total = 0;
    unsigned char buf[4096];
    int i, run, writer_done;
    unsigned ki;

    ck_assert_int_eq(apr_thread_mutex_create(&lock, APR_THREAD_MUTEX_DEFAULT, test_pool),
                     APR_SUCCESS);
    for (ki = 0; ki < RACE_STABLE; ki++) {
        char k[16];
        race_key(ki, k);
        ck_assert_int_eq(hl_cache_set(c, k, strlen(k), buf, race_value(ki, 0, buf),
                                      T0, 0, NULL), APR_SUCCESS);
    }
    /* Readers meet the writer in most runs (measured: 4 to 13 fallbacks
     * a run), but on a busy machine the threads can take turns instead:
     * a run without a meeting is run again, up to RACE_RUNS times. */
    for (run = 0; run < RACE_RUNS && fallbacks == 0; run++) {
        writer_done = 0;
        for (i = 0; i <= RACE_READERS; i++) {
            memset(&args[i], 0, sizeof(args[i]));
            args[i].c = c;
            args[i].lock = lock;
            args[i].writer_done = &writer_done;
            args[i].seed = 0x1234 + (apr_uint64_t)(run * 8 + i) * 7919;
            ck_assert_int_eq(apr_thread_create(&th[i], NULL,
                                               i < RACE_READERS ? race_reader : race_writer,
                                               &args[i], test_pool), APR_SUCCESS);
        }
        for (i = 0; i <= RACE_READERS; i++) {
            apr_status_t trv;
            apr_thread_join(&trv, th[i]);
        }
        for (i = 0; i < RACE_READERS; i++) {
            ck_assert_uint_eq(args[i].torn, 0);
            fallbacks += args[i].fallbacks;
            for (ki = 0; ki < RACE_KEYS; ki++)
                hits[ki] += args[i].hits[ki];
        }
        if (getenv("HL_UNDER_VALGRIND"))
            break;
    }
    /* The stable keys must not have been evicted for this to mean much. */
    for (ki = 0; ki < RACE_STABLE; ki++) {
        char k[16];
        hl_cache_result r;
        race_key(ki, k);
        ck_assert_int_eq(hl_cache_get(c, test_pool, k, strlen(k), T0, &r), APR_SUCCESS);
        ck_assert_uint_eq(r.access_count, hits[ki] + 1);
        total += hits[ki];
    }
    for (; ki < RACE_KEYS; ki++)
        total += hits[ki];
    ck_assert_uint_eq(stats_of(c).hits, total + RACE_STABLE);
    ck_assert_uint_gt(total, 0);
    ck_assert_uint_eq(stats_of(c).evictions, 0);
    assert_valid(c);
    /* Readers did meet the writer (a broken seq check shows torn values
     * here within a run).  Valgrind runs one thread at a time, so there
     * they may never meet. */
    if (!getenv("HL_UNDER_VALGRIND"))
        ck_assert_uint_gt(fallbacks, 0);
}
END_TEST

/* ---- crash recovery ----------------------------------------------------- */

static hl_cache *cache_with_twenty(void)
{
    hl_cache *c = cache_new(64 * 1024, 4, 250, 4096);
    int i;
    for (i = 0; i < 20; i++)
        put(c, apr_psprintf(test_pool, "key%d", i),
            apr_psprintf(test_pool, "old%d", i), T0 + i, SEC(100 + i));
    for (i = 0; i < 20; i += 3)
        has(c, apr_psprintf(test_pool, "key%d", i), T0 + SEC(1));
    return c;
}

/* A set stopped after each of its steps: the next operation repairs, the
 * key holds the old value, nothing, or the new value, and the others are
 * untouched. */
START_TEST(test_recovery_after_each_step)
{
    const char *newval = "a new value, longer than the old one";
    int steps;

    for (steps = 0; steps < 10; steps++) {
        hl_cache *c = cache_with_twenty();
        hl_cache_repairs st;
        hl_cache_result r;
        const char *reason = NULL;
        char why[256];
        apr_status_t rv;
        int i;

        rv = hl_cache_set_interrupted(c, "key5", 4, newval, strlen(newval),
                                      T0 + SEC(2), SEC(100), steps);
        if (rv == APR_SUCCESS) {            /* ran to the end */
            ck_assert_int_ge(steps, 6);
            assert_valid(c);
            continue;
        }
        ck_assert_int_eq(rv, APR_EINTR);
        ck_assert_int_ne(hl_cache_validate(c, why, sizeof(why)), APR_SUCCESS);
        hl_cache_recover(c, T0 + SEC(3), &reason);
        ck_assert_ptr_nonnull(reason);
        ck_assert_ptr_nonnull(strstr(reason, "index rebuilt"));
        assert_valid(c);
        st = repairs_of(c);
        ck_assert_uint_eq(st.recoveries, 1);
        ck_assert_str_eq(st.last_recovery, reason);
        ck_assert_int_eq(st.last_recovery_time, T0 + SEC(3));

        rv = hl_cache_get(c, test_pool, "key5", 4, T0 + SEC(3), &r);
        if (steps == 0)
            ck_assert_str_eq(r.value, "old5");
        else if (steps < 4)
            ck_assert_int_eq(rv, APR_NOTFOUND);
        else
            ck_assert_str_eq(r.value, newval);
        for (i = 0; i < 20; i++)
            if (i != 5)
                assert_value(c, apr_psprintf(test_pool, "key%d", i),
                             apr_psprintf(test_pool, "old%d", i), T0 + SEC(3));
        hl_cache_recover(c, T0 + SEC(3), &reason);
        ck_assert_ptr_null(reason);
        assert_valid(c);
    }
}
END_TEST

/* A repair killed once it has marked the slots it keeps: the next one
 * clears those marks before its own, so no slot is lost and every entry
 * keeps its slot and its count; a full cache of small entries (every slot
 * taken) still evicts to make room. */
START_TEST(test_recovery_after_a_killed_repair)
{
    hl_cache *c = cache_with_twenty();
    hl_cache *small = cache_new(hl_cache_min_size() + 8192, 0, 250, 4096);
    hl_cache_stats before = stats_of(c), after;
    const char *reason = NULL;
    int i, n;

    ck_assert_int_eq(hl_cache_recover_interrupted(c), APR_EINVAL);
    hl_cache_set_interrupted(c, "key5", 4, "v", 1, T0 + SEC(2), 0, 2);
    ck_assert_int_eq(hl_cache_recover_interrupted(c), APR_EINTR);
    hl_cache_recover(c, T0 + SEC(3), &reason);
    ck_assert_ptr_nonnull(strstr(reason, "index rebuilt"));
    assert_valid(c);
    after = stats_of(c);
    ck_assert_uint_eq(after.total_entries, 19);     /* key5 went first */
    ck_assert_uint_eq(after.total_accesses, before.total_accesses);
    for (i = 0; i < 20; i++)
        if (i != 5)
            assert_value(c, apr_psprintf(test_pool, "key%d", i),
                         apr_psprintf(test_pool, "old%d", i), T0 + SEC(3));

    for (n = 0; ; n++) {
        const char *k = apr_psprintf(test_pool, "%d", n);
        ck_assert_int_eq(hl_cache_set(small, k, strlen(k), "v", 1, T0, 0, NULL),
                         APR_SUCCESS);
        if (stats_of(small).evictions)
            break;
    }
    ck_assert_int_gt(n, 10);
    hl_cache_set_interrupted(small, "x", 1, "y", 1, T0 + SEC(1), 0, 2);
    ck_assert_int_eq(hl_cache_recover_interrupted(small), APR_EINTR);
    hl_cache_recover(small, T0 + SEC(2), NULL);
    assert_valid(small);
    for (i = 0; i < 10; i++)
        put(small, apr_psprintf(test_pool, "new%d", i), "w", T0 + SEC(3), 0);
    assert_valid(small);
}
END_TEST

/* LRU and expiry order are rebuilt from the stored times. */
START_TEST(test_recovery_keeps_lru_order)
{
    hl_cache *c = cache_new(hl_cache_min_size() + 4096, 0, 250, 4096);
    int n = fill_until_full(c, T0), i;
    char val[100];

    memset(val, 'v', sizeof(val));
    for (i = n; i >= 1; i--)   /* k001 becomes the most recent */
        has(c, apr_psprintf(test_pool, "k%03d", i), T0 + SEC(1) + (n - i));
    hl_cache_set_interrupted(c, "x", 1, "y", 1, T0 + SEC(100), 0, 0);
    hl_cache_recover(c, T0 + SEC(100), NULL);
    assert_valid(c);
    ck_assert_int_eq(hl_cache_set(c, "new", 3, val, sizeof(val), T0 + SEC(101),
                                  SEC(1000), NULL), APR_SUCCESS);
    ck_assert(!has(c, apr_psprintf(test_pool, "k%03d", n), T0 + SEC(101)));
    ck_assert(has(c, "k001", T0 + SEC(101)));
}
END_TEST

/* Tags destroyed: the walk fails, the cache is emptied and works again. */
START_TEST(test_recovery_resets_a_corrupt_area)
{
    apr_size_t size = 64 * 1024;
    hl_cache *c = cache_with_twenty();
    hl_cache_stats st = stats_of(c);
    const char *reason = NULL;

    hl_cache_set_interrupted(c, "key5", 4, "v", 1, T0 + SEC(2), 0, 2);
    /* The data area is the tail of the region. */
    memset((char *)c + size - st.capacity_bytes, 0xab, (apr_size_t)st.capacity_bytes);
    hl_cache_recover(c, T0 + SEC(3), &reason);
    ck_assert_ptr_nonnull(strstr(reason, "cache emptied"));
    assert_valid(c);
    st = stats_of(c);
    ck_assert_uint_eq(st.total_entries, 0);
    ck_assert_uint_eq(repairs_of(c).recoveries, 1);
    put(c, "after", "works", T0 + SEC(4), 0);
    assert_value(c, "after", "works", T0 + SEC(4));
    assert_valid(c);
}
END_TEST

static hl_store *store_with_cache(apr_size_t bytes, hl_store *previous,
                                  hl_store_origin *origin)
{
    hl_shm_params sp = { 16, bytes, 250, 64 * 1024 };
    hl_store *st;
    hl_store_origin o;
    ck_assert_int_eq(hl_store_shm_open(&st, &sp, previous, test_pool,
                                       origin ? origin : &o), APR_SUCCESS);
    return st;
}

static hl_cache *cache_of(hl_store *st)
{
    return hl_shm_cache_region(hl_store_shm_base(st), hl_store_shm_plan(st));
}


/* A child dies (SIGKILL) holding the process-shared lock with the table
 * half updated: the parent gets the lock and a repaired table. */
START_TEST(test_killed_lock_holder)
{
    hl_store *st = store_with_cache(256 * 1024, NULL, NULL);
    hl_cache_result r;
    hl_cache_stats cs;
    int status;
    pid_t pid;

    ck_assert_int_eq(hl_store_cache_set(st, "before", 6, "b", 1, T0, 0, NULL),
                     APR_SUCCESS);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        hl_store_child_init(st, test_pool);
        ck_assert_int_eq(hl_cache_lock(cache_of(st), (apr_int32_t)getpid()), APR_SUCCESS);
        hl_cache_set_interrupted(cache_of(st), "k", 1, "child", 5, T0, 0, 4);
        raise(SIGKILL);
        _exit(1);
    }
    waitpid(pid, &status, 0);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    ck_assert_int_eq(hl_store_cache_get(st, test_pool, "k", 1, T0 + 1, &r),
                     APR_SUCCESS);
    ck_assert_str_eq(r.value, "child");
    ck_assert_int_eq(hl_store_cache_get(st, test_pool, "before", 6, T0 + 1, &r),
                     APR_SUCCESS);
    /* Through the store, the repairs are its extra figures. */
    hl_store_cache_stats(st, &cs);
    ck_assert_int_eq(cs.n_extra, 2);
    ck_assert_str_eq(cs.extra[0].name, "recoveries");
    ck_assert_uint_eq(cs.extra[0].number, 1);
    ck_assert_str_eq(cs.extra[1].name, "last_recovery");
    ck_assert_ptr_nonnull(strstr(cs.extra[1].text,
                                 apr_psprintf(test_pool, "pid %d", (int)pid)));
    assert_valid(cache_of(st));
}
END_TEST

/* Whether process pid is asleep (state S in /proc/pid/stat) within
 * about ms milliseconds. */
static int sleeps_within(pid_t pid, int ms)
{
    char path[64], buf[512];
    int i;
    apr_snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    for (i = 0; i < ms; i++) {
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
        const char *close;
        if (f)
            fclose(f);
        buf[n] = '\0';
        if ((close = strrchr(buf, ')')) != NULL && close[1] == ' '
            && close[2] == 'S')
            return 1;
        apr_sleep(apr_time_from_msec(1));
    }
    return 0;
}

/* A holder that keeps the lock longer than a taker's few yields: the
 * taker then sleeps on the futex (a yielding one stays runnable) until
 * the unlock, and its write lands. */
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
           + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

START_TEST(test_taker_sleeps_behind_a_slow_holder)
{
    hl_store *st = store_with_cache(256 * 1024, NULL, NULL);
    hl_cache_result r;
    int status, ready[2], told[2];
    pid_t pid, done;
    double cpu;
    char c;

    ck_assert_int_eq(pipe(ready), 0);
    ck_assert_int_eq(pipe(told), 0);
    ck_assert_int_eq(hl_cache_lock(cache_of(st), (apr_int32_t)getpid()), APR_SUCCESS);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        double before;
        apr_status_t rv;
        test_child_bounded();
        hl_store_child_init(st, test_pool);
        close(ready[0]);
        close(told[0]);
        if (write(ready[1], "x", 1) != 1)       /* about to take the lock */
            _exit(2);
        /* Its CPU from the lock asked to the write done, measured here:
         * the start and the end of a process (valgrind's leak check at
         * exit among them) are not the wait. */
        before = cpu_seconds();
        rv = hl_store_cache_set(st, "k", 1, "late", 4, T0, 0, NULL);
        before = cpu_seconds() - before;
        if (write(told[1], &before, sizeof(before)) != sizeof(before))
            _exit(2);
        _exit(rv == APR_SUCCESS ? 0 : 1);
    }
    close(ready[1]);
    close(told[1]);
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    close(ready[0]);
    /* Nothing between the pipe and the lock sleeps: S is the futex. */
    ck_assert_msg(sleeps_within(pid, 10000), "the waiting writer never slept");
    apr_sleep(apr_time_from_msec(300));
    ck_assert_int_eq(waitpid(pid, &status, WNOHANG), 0);     /* still waiting */
    hl_cache_unlock(cache_of(st));
    ck_assert_int_eq(read(told[0], &cpu, sizeof(cpu)), sizeof(cpu));
    close(told[0]);
    done = waitpid(pid, &status, 0);
    ck_assert_int_eq(done, pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* Asleep, not spinning: far less CPU than the 300 ms it waited. */
    ck_assert_msg(cpu < 0.1, "the waiting writer used %.3f s of CPU", cpu);
    ck_assert_int_eq(hl_store_cache_get(st, test_pool, "k", 1, T0 + 1, &r),
                     APR_SUCCESS);
    ck_assert_str_eq(r.value, "late");
}
END_TEST

/* Children killed at random moments of a busy run: the table is sound
 * after each, and the lock never stays taken. */
START_TEST(test_killed_at_random_moments)
{
    hl_store *st = store_with_cache(128 * 1024, NULL, NULL);
    int round;

    for (round = 0; round < 6; round++) {
        hl_cache_result r;
        int status;
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            apr_uint64_t seed = (apr_uint64_t)getpid() * 7919 + 1;
            unsigned char buf[3000];
            test_child_bounded();
            memset(buf, 'r', sizeof(buf));
            hl_store_child_init(st, test_pool);
            for (;;) {
                char key[16];
                apr_size_t len = (apr_size_t)(test_rand(&seed) % sizeof(buf));
                apr_snprintf(key, sizeof(key), "r%u", (unsigned)(test_rand(&seed) % 200));
                if (test_rand(&seed) % 4)
                    hl_store_cache_set(st, key, strlen(key), buf, len, T0, 0, NULL);
                else
                    hl_store_cache_delete(st, key, strlen(key), T0);
            }
        }
        apr_sleep(apr_time_from_msec(20 + 13 * round));
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        hl_store_cache_get(st, test_pool, "r1", 2, T0, &r);   /* repairs */
        ck_assert_int_eq(hl_cache_lock(cache_of(st), (apr_int32_t)getpid()), APR_SUCCESS);
        assert_valid(cache_of(st));
        hl_cache_unlock(cache_of(st));
    }
}
END_TEST

/* ---- the store: across processes, restarts and migrations -------------- */

START_TEST(test_store_shared_across_processes)
{
    hl_store *st = store_with_cache(256 * 1024, NULL, NULL);
    hl_cache_result r;
    hl_cache_stats cs;
    int i, status, procs = 4;

    for (i = 0; i < procs; i++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            int k, bad = 0;
            hl_store_child_init(st, test_pool);
            for (k = 0; k < 500; k++) {
                char key[32];
                apr_snprintf(key, sizeof(key), "p%d-%d", i, k);
                if (hl_store_cache_set(st, key, strlen(key), key, strlen(key),
                                       T0, 0, NULL) != APR_SUCCESS)
                    bad++;
            }
            _exit(bad ? 1 : 0);
        }
    }
    for (i = 0; i < procs; i++) {
        wait(&status);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    for (i = 0; i < procs; i++) {
        ck_assert_int_eq(hl_store_cache_get(st, test_pool, "p2-499", 6, T0, &r),
                         APR_SUCCESS);
        ck_assert_str_eq(r.value, "p2-499");
    }
    hl_store_cache_stats(st, &cs);
    ck_assert_uint_eq(cs.sets, (apr_uint64_t)procs * 500);
    ck_assert_uint_eq(cs.total_entries + cs.evictions, (apr_uint64_t)procs * 500);
    ck_assert_uint_eq(cs.hits, procs);
    assert_valid(cache_of(st));
}
END_TEST

START_TEST(test_store_reuse_and_migrate_cache)
{
    hl_store *st, *again, *bigger, *smaller;
    hl_store_origin origin;
    hl_store_usage u1, u2;
    hl_cache_result r;
    hl_cache_stats cs;
    char val[200];
    int i;

    memset(val, 'm', sizeof(val));
    st = store_with_cache(256 * 1024, NULL, &origin);
    ck_assert_int_eq(origin, HL_STORE_CREATED);
    hl_store_usage_read(st, &u1);
    for (i = 0; i < 600; i++) {
        char key[16];
        apr_snprintf(key, sizeof(key), "m%d", i);
        hl_store_cache_set(st, key, strlen(key), val, sizeof(val), T0 + i, 0, NULL);
    }
    hl_store_cache_get(st, test_pool, "m0", 2, T0 + 1000, &r);   /* m0: newest use */
    hl_store_usage_read(st, &u2);
    ck_assert_uint_gt(u2.used_bytes, u1.used_bytes + 600 * 200);

    again = store_with_cache(256 * 1024, st, &origin);
    ck_assert_int_eq(origin, HL_STORE_REUSED);
    ck_assert_int_eq(hl_store_cache_get(again, test_pool, "m599", 4, T0 + 1001, &r),
                     APR_SUCCESS);

    bigger = store_with_cache(512 * 1024, again, &origin);
    ck_assert_int_eq(origin, HL_STORE_MIGRATED);
    assert_valid(cache_of(bigger));
    hl_store_cache_stats(bigger, &cs);
    ck_assert_uint_eq(cs.total_entries, 600);
    ck_assert_uint_eq(cs.sets, 600);
    ck_assert_uint_eq(cs.hits, 2);
    ck_assert_int_eq(hl_store_cache_get(bigger, test_pool, "m0", 2, T0 + 1002, &r),
                     APR_SUCCESS);
    ck_assert_uint_eq(r.access_count, 2);      /* counts travel with entries */
    ck_assert_int_eq(r.set_time, T0);

    /* Smaller: the most recently used survive, the oldest are evicted. */
    smaller = store_with_cache(64 * 1024, bigger, &origin);
    ck_assert_int_eq(origin, HL_STORE_MIGRATED);
    assert_valid(cache_of(smaller));
    hl_store_cache_stats(smaller, &cs);
    ck_assert_uint_lt(cs.total_entries, 600);
    ck_assert_uint_eq(cs.evictions, 600 - cs.total_entries);
    ck_assert_int_eq(hl_store_cache_get(smaller, test_pool, "m0", 2, T0 + 1003, &r),
                     APR_SUCCESS);
    ck_assert_int_eq(hl_store_cache_get(smaller, test_pool, "m599", 4, T0 + 1003, &r),
                     APR_SUCCESS);
    ck_assert_int_eq(hl_store_cache_get(smaller, test_pool, "m1", 2, T0 + 1003, &r),
                     APR_NOTFOUND);
}
END_TEST

START_TEST(test_store_without_cache)
{
    hl_shm_params sp = { 8, 0, 0, 0 };
    hl_store *st;
    hl_store_origin origin;
    hl_cache_stats cs;
    ck_assert_int_eq(hl_store_shm_open(&st, &sp, NULL, test_pool, &origin),
                     APR_SUCCESS);
    ck_assert_int_eq(hl_store_cache_stats(st, &cs), APR_ENOTIMPL);
    ck_assert_int_eq(hl_store_cache_set(st, "k", 1, "v", 1, T0, 0, NULL), APR_ENOTIMPL);
    sp.cache_bytes = 100;   /* too small for a cache */
    sp.cache_max_key = 10;
    ck_assert_int_eq(hl_store_shm_open(&st, &sp, NULL, test_pool, &origin),
                     APR_EINVAL);
}
END_TEST

/* A segment whose cache region is not formatted as its plan says (no
 * older build of this segment version leaves one; a child can) is refused:
 * the migration says so and leaves the new cache empty and valid, and the
 * store starts afresh instead of failing. */
START_TEST(test_migrate_refuses_unformatted_cache)
{
    hl_shm_params sp = { 8, 64 * 1024, 250, 4096 }, sp2 = { 8, 128 * 1024, 250, 4096 };
    hl_shm_plan plan, plan2;
    void *old, *fresh;
    hl_cache_stats cs;
    hl_store *st, *next;
    hl_store_origin origin;

    ck_assert_int_eq(hl_shm_plan_make(&sp, &plan), APR_SUCCESS);
    ck_assert_int_eq(hl_shm_plan_make(&sp2, &plan2), APR_SUCCESS);
    old = apr_pcalloc(test_pool, plan.total_size);
    fresh = apr_pcalloc(test_pool, plan2.total_size);
    ck_assert_int_eq(hl_shm_format(old, &plan, T0), APR_SUCCESS);
    ck_assert_int_eq(hl_shm_check(old, &plan), APR_SUCCESS);
    memset(hl_shm_cache_region(old, &plan), 0, plan.cache_size);
    ck_assert_int_ne(hl_shm_check(old, &plan), APR_SUCCESS);
    ck_assert_int_eq(hl_shm_format(fresh, &plan2, T0), APR_SUCCESS);
    ck_assert_int_ne(hl_shm_migrate(fresh, &plan2, old, &plan, T0), APR_SUCCESS);
    assert_valid(hl_shm_cache_region(fresh, &plan2));
    hl_cache_stats_read(hl_shm_cache_region(fresh, &plan2), &cs);
    ck_assert_uint_eq(cs.total_entries, 0);
    ck_assert_uint_gt(hl_shm_bytes_used(fresh, &plan2), plan2.cache_off);

    st = store_with_cache(64 * 1024, NULL, NULL);
    memset(cache_of(st), 0, hl_store_shm_plan(st)->cache_size);
    next = store_with_cache(128 * 1024, st, &origin);
    ck_assert_int_eq(origin, HL_STORE_DISTRUSTED);
    assert_valid(cache_of(next));
}
END_TEST

/* ---- listing ------------------------------------------------------------ */

/* One bucket: every key on one chain, so pages end inside the bucket and
 * the cursor carries the last key.  Between pages, other keys come and
 * go at the chain's head; each key present throughout is listed exactly
 * once, in strictly increasing (tag, key) order, and every cursor goes
 * through its text and back. */
START_TEST(test_list_inside_one_bucket)
{
    hl_cache *c = cache_new(256 * 1024, 1, 250, 4096);
    hl_cache *other = cache_new(256 * 1024, 2, 250, 4096);
    hl_cache_list_pos pos, back;
    int seen[60], i, n, done = 0, pages = 0, round = 0;
    char prev_key[32] = "";
    apr_uint32_t prev_tag = 0;
    apr_uint64_t scanned = 0;

    for (i = 0; i < 60; i++)
        put(c, apr_psprintf(test_pool, "stay%02d", i), "v", T0, 0);
    memset(seen, 0, sizeof(seen));
    memset(&pos, 0, sizeof(pos));
    while (!done) {
        hl_cache_listed items[4];
        const char *cursor;
        ck_assert_int_eq(hl_cache_list_batch(c, test_pool, &pos, "stay", 4, T0,
                                              4, 8, items, &n, &done, &scanned),
                         APR_SUCCESS);
        ck_assert_int_le(n, 4);
        for (i = 0; i < n; i++) {
            int k = atoi(items[i].key + 4);
            ck_assert_int_ge(k, 0);
            ck_assert_int_lt(k, 60);
            seen[k]++;
            ck_assert_uint_ne(items[i].version, 0);
            ck_assert_uint_eq(items[i].vlen, 1);
        }
        if (n && pos.after) {
            /* The order within the bucket moves forward. */
            ck_assert(pos.tag > prev_tag
                      || (pos.tag == prev_tag && strcmp(pos.key, prev_key) > 0));
            prev_tag = pos.tag;
            apr_cpystrn(prev_key, pos.key, sizeof(prev_key));
        }
        cursor = hl_cache_cursor_make(c, test_pool, &pos);
        ck_assert_int_eq(hl_cache_cursor_read(c, test_pool, cursor, &back), APR_SUCCESS);
        ck_assert_int_eq(back.bucket, pos.bucket);
        ck_assert_int_eq(back.after, pos.after);
        if (pos.after) {
            ck_assert_int_eq(back.tag, pos.tag);
            ck_assert_uint_eq(back.klen, pos.klen);
            ck_assert_mem_eq(back.key, pos.key, pos.klen);
        }
        pos = back;
        /* Another region refuses it. */
        ck_assert_int_eq(hl_cache_cursor_read(other, test_pool, cursor, &back),
                         APR_EINVAL);
        /* Others come and go meanwhile. */
        put(c, apr_psprintf(test_pool, "churn%d", round), "x", T0, 0);
        if (round > 2)
            hl_cache_delete(c, apr_psprintf(test_pool, "churn%d", round - 2), 6, T0);
        round++;
        pages++;
        ck_assert_int_lt(pages, 1000);
    }
    for (i = 0; i < 60; i++)
        ck_assert_int_eq(seen[i], 1);
    ck_assert_int_ge(pages, 15);
    ck_assert_uint_ge(scanned, 60);
    assert_valid(c);
    /* Cursors that are not this region's or not well formed. */
    ck_assert_int_eq(hl_cache_cursor_read(c, test_pool, NULL, &back), APR_SUCCESS);
    ck_assert_int_eq(hl_cache_cursor_read(c, test_pool, "", &back), APR_SUCCESS);
    ck_assert(!back.after && back.bucket == 0);
    ck_assert_int_eq(hl_cache_cursor_read(c, test_pool, "c1", &back), APR_EINVAL);
    ck_assert_int_eq(hl_cache_cursor_read(c, test_pool, "c1.0.0", &back), APR_EINVAL);
    ck_assert_int_eq(hl_cache_cursor_read(c, test_pool, "c2.0.0", &back), APR_EINVAL);
}
END_TEST

/* ---- the lock, and the parent's quiet reads ---------------------------- */

#define WRITER_KEYS 64

/* A word shared with forked children. */
static volatile apr_int64_t *shared_words(int n)
{
    void *p = mmap(NULL, (size_t)n * sizeof(apr_int64_t), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert(p != MAP_FAILED);
    memset(p, 0, (size_t)n * sizeof(apr_int64_t));
    return p;
}

/* A forked writer of keys "w<id>-<n>", each value its key, "=" and x's
 * of a changing length, with deletes in between, so that blocks are split,
 * freed and merged all the time: a copy that mixes one entry's key with
 * bytes of another shows.  It stops when *stop is set (or after a bound). */
static pid_t writer_start(hl_store *st, int id, volatile apr_int64_t *stop)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char val[400];
        unsigned k;
        test_child_bounded();
        hl_store_child_init(st, test_pool);
        for (k = 0; k < 5000000 && !*stop; k++) {
            char key[16];
            apr_size_t klen = (apr_size_t)apr_snprintf(key, sizeof(key), "w%d-%u",
                                                       id, k % WRITER_KEYS);
            apr_size_t vlen = klen + 1 + (k * 37) % 300;
            memcpy(val, key, klen);
            val[klen] = '=';
            memset(val + klen + 1, 'x', vlen - klen - 1);
            hl_store_cache_set(st, key, klen, val, vlen, T0, 0, NULL);
            if (k % 5 == 0)
                hl_store_cache_delete(st, key, klen, T0);
        }
        _exit(0);
    }
    return pid;
}

static void writers_stop(volatile apr_int64_t *stop, const pid_t *pids, int n)
{
    int i, status;
    *stop = 1;
    for (i = 0; i < n; i++) {
        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
}

/* How many of the writers' keys st holds; each must hold a value of its
 * own key. */
static int entries_whole(hl_store *st, int writers)
{
    int id, n, found = 0;
    for (id = 0; id < writers; id++)
        for (n = 0; n < WRITER_KEYS; n++) {
            hl_cache_result r;
            char key[16];
            apr_size_t klen = (apr_size_t)apr_snprintf(key, sizeof(key),
                                                       "w%d-%d", id, n);
            apr_size_t i;
            if (hl_store_cache_get(st, test_pool, key, klen, T0, &r) != APR_SUCCESS)
                continue;
            found++;
            ck_assert_uint_gt(r.vlen, klen);
            ck_assert_msg(memcmp(r.value, key, klen) == 0 && r.value[klen] == '=',
                          "%s holds %.*s", key, (int)r.vlen, r.value);
            for (i = klen + 1; i < r.vlen; i++)
                ck_assert_int_eq(r.value[i], 'x');
        }
    return found;
}

/* A resize copies the cache while the old children keep writing: it
 * pauses them, never takes their lock, and keeps only a copy no write
 * slipped into; the new cache is sound and every entry whole. */
START_TEST(test_resize_copy_beside_writers)
{
    int round;
    for (round = 0; round < 4; round++) {
        volatile apr_int64_t *stop = shared_words(1);
        hl_shm_params sp = { 16, 512 * 1024, 250, 64 * 1024 };
        hl_store *st = store_with_cache(256 * 1024, NULL, NULL), *bigger;
        hl_store_origin origin;
        pid_t pids[2];
        pids[0] = writer_start(st, 0, stop);
        pids[1] = writer_start(st, 1, stop);
        apr_sleep(apr_time_from_msec(30 + 10 * round));
        ck_assert_int_eq(hl_store_shm_open(&bigger, &sp, st, test_pool, &origin),
                         APR_SUCCESS);
        ck_assert_int_eq(origin, HL_STORE_MIGRATED);
        writers_stop(stop, pids, 2);
        assert_valid(cache_of(bigger));
        ck_assert_int_gt(entries_whole(bigger, 2), 0);
        munmap((void *)stop, sizeof(*stop));
    }
}
END_TEST

/* The snapshot writer (root, like the parent) saves the cache in quiet
 * batches while children write: every save succeeds and what it saved
 * loads back whole. */
START_TEST(test_snapshot_beside_writers)
{
    volatile apr_int64_t *stop = shared_words(1);
    hl_store *st = store_with_cache(256 * 1024, NULL, NULL), *back;
    const char *tmp, *path;
    hl_persist_report rep;
    pid_t pids[2];
    int i;

    ck_assert_int_eq(apr_temp_dir_get(&tmp, test_pool), APR_SUCCESS);
    path = apr_psprintf(test_pool, "%s/hl-quiet-%ld.snapshot", tmp, (long)getpid());
    pids[0] = writer_start(st, 0, stop);
    pids[1] = writer_start(st, 1, stop);
    apr_sleep(apr_time_from_msec(20));
    for (i = 0; i < 20; i++) {
        memset(&rep, 0, sizeof(rep));
        ck_assert_msg(hl_store_persist_save(st, path, T0, HL_PERSIST_PERIODIC,
                                            test_pool, &rep)
                      == APR_SUCCESS, "save %d: %s", i, rep.why);
        /* A batch read again is not written twice: each key once. */
        ck_assert_uint_le(rep.entries_in_file, 2 * WRITER_KEYS);
    }
    writers_stop(stop, pids, 2);
    back = store_with_cache(256 * 1024, NULL, NULL);
    memset(&rep, 0, sizeof(rep));
    ck_assert_msg(hl_store_persist_load(back, path, T0, test_pool, &rep)
                  == APR_SUCCESS, "load: %s", rep.why);
    ck_assert_int_gt(entries_whole(back, 2), 0);
    assert_valid(cache_of(back));
    apr_file_remove(path, test_pool);
    munmap((void *)stop, sizeof(*stop));
}
END_TEST

static apr_status_t count_entry(void *ctx, const hl_cache_entry_image *e)
{
    (void)e;
    (*(apr_size_t *)ctx)++;
    return APR_SUCCESS;
}

/* A snapshot's batches of a cache whose every slot is taken, with sets
 * (each evicting one) between them: each batch is one state, but together
 * they may pass more entries than there are slots (an entry evicted from
 * a bucket already read, a new key in one still to come).  Every export
 * succeeds, and some run does pass more. */
START_TEST(test_export_batches_of_a_full_cache)
{
    apr_size_t size = hl_cache_min_size() + 8192, most = 0;
    hl_cache_config cfg;
    hl_cache_geometry geo;
    unsigned seed;

    memset(&cfg, 0, sizeof(cfg));
    cfg.max_key = 250;
    cfg.max_value = 4096;
    ck_assert_int_eq(hl_cache_geometry_of(size, &cfg, &geo), APR_SUCCESS);
    for (seed = 1; seed <= 10; seed++) {
        hl_cache *c = cache_new(size, 0, 250, 4096);
        apr_uint32_t bucket = 0;
        apr_size_t passed = 0;
        unsigned r = seed;
        int n;
        for (n = 0; !stats_of(c).evictions; n++)
            put(c, apr_psprintf(test_pool, "%d", n), "v", T0, 0);
        ck_assert_uint_eq(stats_of(c).total_entries, geo.ntouch);
        while (bucket < geo.nbuckets) {
            int k;
            ck_assert_int_eq(hl_cache_export(c, &geo, &bucket, 16, T0 + SEC(1),
                                             count_entry, &passed), APR_SUCCESS);
            for (k = 0; k < 8; k++)
                put(c, apr_psprintf(test_pool, "%u", rand_r(&r)), "w",
                    T0 + SEC(1), 0);
        }
        if (passed > most)
            most = passed;
        assert_valid(c);
    }
    ck_assert_uint_gt(most, geo.ntouch);
}
END_TEST

/* A child's write at t[0] (its start) and t[1] (its end), under pause
 * set by the caller. */
static pid_t timed_set(hl_store *st, volatile apr_int64_t *t)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        hl_store_child_init(st, test_pool);
        t[0] = apr_time_now();
        hl_store_cache_set(st, "p", 1, "v", 1, T0, 0, NULL);
        t[1] = apr_time_now();
        _exit(0);
    }
    return pid;
}

/* Writers wait out a pause the parent set, also one it never ended (a
 * parent that died); one it ends lets them go at once; a pause further
 * away than any the parent asks for is taken for garbage. */
START_TEST(test_pause_is_kept_and_bounded)
{
    hl_store *st = store_with_cache(64 * 1024, NULL, NULL);
    hl_cache *c = cache_of(st);
    volatile apr_int64_t *t = shared_words(2);
    apr_uint64_t seq;
    apr_time_t asked;
    int status;
    pid_t pid;

    /* Never ended: the write waits until the time named, and then goes. */
    asked = apr_time_now();
    ck_assert_int_eq(hl_cache_quiet_begin(c, apr_time_from_msec(300), &seq),
                     APR_SUCCESS);
    pid = timed_set(st, t);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_int_ge(t[1], asked + apr_time_from_msec(300));
    ck_assert(!hl_cache_quiet_end(c, seq));     /* it wrote */

    /* Ended early: the waiting write goes then, long before 30 s. */
    asked = apr_time_now();
    ck_assert_int_eq(hl_cache_quiet_begin(c, apr_time_from_sec(30), &seq),
                     APR_SUCCESS);
    pid = timed_set(st, t);
    apr_sleep(apr_time_from_msec(100));
    ck_assert_int_eq(waitpid(pid, &status, WNOHANG), 0);    /* still waiting */
    ck_assert(hl_cache_quiet_end(c, seq));
    hl_cache_resume(c);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_int_lt(t[1], asked + apr_time_from_sec(20));

    /* An hour away: ignored. */
    asked = apr_time_now();
    ck_assert_int_eq(hl_cache_quiet_begin(c, apr_time_from_sec(3600), &seq),
                     APR_SUCCESS);
    pid = timed_set(st, t);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_int_lt(t[1], asked + apr_time_from_sec(20));
    hl_cache_resume(c);
    munmap((void *)t, 2 * sizeof(*t));
}
END_TEST

/* A child that takes the lock and stops inside a write (set_interrupted
 * ends it after a few steps), then dies there or stays there, alive,
 * until killed.  A dead one is returned not reaped: a zombie, as the
 * parent may still hold it when it reads. */
static pid_t writer_stops_inside(hl_store *st, const char *key,
                                 const char *val, int dies)
{
    hl_cache *c = cache_of(st);
    siginfo_t info;
    int fds[2];
    char ready;
    pid_t pid;

    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        test_child_bounded();
        hl_store_child_init(st, test_pool);
        hl_cache_lock(c, (apr_int32_t)getpid());
        hl_cache_set_interrupted(c, key, strlen(key), val, strlen(val), T0, 0, 4);
        if (dies)
            raise(SIGKILL);
        ck_assert_int_eq(write(fds[1], "r", 1), 1);
        for (;;)
            pause();
    }
    if (dies) {
        memset(&info, 0, sizeof(info));
        ck_assert_int_eq(waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT), 0);
    }
    else
        ck_assert_int_eq(read(fds[0], &ready, 1), 1);
    close(fds[0]);
    close(fds[1]);
    return pid;
}

/* A writer inside the cache that stays (alive, stuck): the quiet reader
 * gives up (APR_TIMEUP) and a resize keeps the counter and starts the
 * cache empty; once the writer is dead, its leftovers are read as they
 * are. */
START_TEST(test_quiet_reader_and_a_stuck_writer)
{
    hl_shm_params sp = { 16, 512 * 1024, 250, 64 * 1024 };
    hl_store *st = store_with_cache(256 * 1024, NULL, NULL), *bigger;
    hl_cache *c = cache_of(st);
    hl_counter_snapshot snap;
    hl_store_origin origin;
    apr_uint64_t seq, value;
    int status;
    pid_t pid;

    ck_assert_int_eq(hl_store_counter_increment(st, 1, &value), APR_SUCCESS);
    ck_assert_int_eq(hl_store_cache_set(st, "kept", 4, "v", 1, T0, 0, NULL),
                     APR_SUCCESS);
    pid = writer_stops_inside(st, "k", "child", 0);
    ck_assert_int_eq(hl_cache_quiet_begin(c, 0, &seq), APR_TIMEUP);
    ck_assert_int_eq(hl_store_shm_open(&bigger, &sp, st, test_pool, &origin),
                     APR_SUCCESS);
    ck_assert_int_eq(origin, HL_STORE_CACHE_BUSY);
    ck_assert_int_eq(hl_store_counter_snapshot(bigger, 0, &snap), APR_SUCCESS);
    ck_assert_uint_eq(snap.current_value, value);
    ck_assert_int_eq(hl_store_cache_stats(bigger, &(hl_cache_stats){0}), APR_SUCCESS);
    assert_valid(cache_of(bigger));
    kill(pid, SIGKILL);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
}
END_TEST

/* A writer died inside: a quiet read takes what it left at once, though
 * the dead child is not reaped yet; the next writer, even one that dies
 * too, moves the sequence word, so that what was read meanwhile does not
 * count; a resize copies what the dead writer left. */
START_TEST(test_quiet_reader_after_a_dead_writer)
{
    hl_shm_params sp = { 16, 512 * 1024, 250, 64 * 1024 };
    hl_store *st = store_with_cache(256 * 1024, NULL, NULL), *bigger;
    hl_cache *c = cache_of(st);
    hl_store_origin origin;
    hl_cache_result r;
    apr_uint64_t seq, again;
    int status;
    pid_t first, second;

    ck_assert_int_eq(hl_store_cache_set(st, "kept", 4, "v", 1, T0, 0, NULL),
                     APR_SUCCESS);
    first = writer_stops_inside(st, "k", "child", 1);
    ck_assert_int_eq(hl_cache_quiet_begin(c, 0, &seq), APR_SUCCESS);
    ck_assert(seq & 1);     /* still inside, as it died */
    ck_assert(hl_cache_quiet_end(c, seq));

    second = writer_stops_inside(st, "k2", "second", 1);
    ck_assert(!hl_cache_quiet_end(c, seq));
    ck_assert_int_eq(hl_cache_quiet_begin(c, 0, &again), APR_SUCCESS);
    ck_assert(again & 1);
    ck_assert_uint_ne(again, seq);

    ck_assert_int_eq(waitpid(first, &status, 0), first);
    ck_assert_int_eq(waitpid(second, &status, 0), second);
    ck_assert_int_eq(hl_store_shm_open(&bigger, &sp, st, test_pool, &origin),
                     APR_SUCCESS);
    ck_assert_int_eq(origin, HL_STORE_MIGRATED);
    assert_valid(cache_of(bigger));
    ck_assert_int_eq(hl_store_cache_get(bigger, test_pool, "kept", 4, T0, &r),
                     APR_SUCCESS);
    ck_assert_int_eq(hl_store_cache_get(bigger, test_pool, "k2", 2, T0, &r),
                     APR_SUCCESS);
    ck_assert_str_eq(r.value, "second");
}
END_TEST

/* ---- expiry order under mixed TTLs ------------------------------------
 * A write's work does not grow with the entries that expire later or
 * never (counted in heap levels, the region's exp_steps, never timed),
 * the soonest expired go first whatever the sets, touches, adds and
 * deletes did, and a repair rebuilds an expiry heap its writer died in. */

static apr_uint64_t field(const void *at, const char *name)
{
    apr_uint64_t v = 0;
    ck_assert_int_eq(hl_cache_field_get(at, name, &v), APR_SUCCESS);
    return v;
}

static void set(hl_cache *c, const char *k, apr_time_t now,
                apr_interval_time_t ttl, hl_cache_written *w)
{
    ck_assert_int_eq(hl_cache_put(c, k, strlen(k), "7", 1, now, ttl, NULL, w),
                     APR_SUCCESS);
}

/* ---- the cost of a write --------------------------------------------- */

static int heap_depth(apr_uint64_t n)
{
    int d = 0;
    while (n) {
        d++;
        n >>= 1;
    }
    return d;
}

/* The heap levels op walked: at most one sift out and one in, each at
 * most the depth (no entry has expired, so nothing is purged). */
#define ASSERT_CHEAP(c, what, op) do {                                     \
        apr_uint64_t before_ = field((c), "exp_steps"), steps_;           \
        apr_uint64_t bound_ = 2 * (apr_uint64_t)heap_depth(field((c), "exp_count")) + 2; \
        op;                                                               \
        steps_ = field((c), "exp_steps") - before_;                       \
        ck_assert_msg(steps_ <= bound_, "%s walked %" APR_UINT64_T_FMT   \
                      " expiry steps, more than %" APR_UINT64_T_FMT,      \
                      (what), steps_, bound_);                            \
    } while (0)

static int time_cmp(const void *a, const void *b)
{
    apr_time_t x = *(const apr_time_t *)a, y = *(const apr_time_t *)b;
    return x < y ? -1 : x > y;
}

/* 200,000 entries that never expire and 100,000 of random TTLs (a tenth
 * of that under valgrind): a set with a TTL sooner, later or between
 * theirs, a rewrite, touches to and from 0, adds and a delete each walk
 * O(log n) levels of the heap.  A sorted list walked ~300,000 nodes for
 * the soonest TTL. */
START_TEST(test_write_cost_ignores_other_expiries)
{
    int scale = test_allocator_is_plain() ? 1 : 10;
    int never = 200000 / scale, timed = 100000 / scale, i;
    apr_size_t size = ((apr_size_t)(never + timed) * 200 + 15) & ~(apr_size_t)15;
    hl_cache *c = cache_new(size, 0, 64, 64);
    apr_uint64_t seed = 0xe791;
    apr_int64_t init = 0;
    apr_time_t *when = malloc((apr_size_t)timed * sizeof(*when));
    hl_cache_written w;
    char k[32];

    /* Random TTLs, set in ascending order so that filling is cheap for
     * a sorted list too (the test was run against one); random touches
     * then mix the heap. */
    for (i = 0; i < timed; i++)
        when[i] = SEC(10) + (apr_time_t)(test_rand(&seed) % (apr_uint64_t)SEC(100000));
    qsort(when, (size_t)timed, sizeof(*when), time_cmp);
    for (i = 0; i < timed; i++) {
        apr_snprintf(k, sizeof(k), "t%07d", i);
        set(c, k, T0, when[i], NULL);
    }
    for (i = 0; i < never; i++) {
        apr_snprintf(k, sizeof(k), "n%07d", i);
        set(c, k, T0, 0, NULL);
    }
    for (i = 0; i < 1000; i++) {
        apr_snprintf(k, sizeof(k), "t%07d", (int)(test_rand(&seed) % (apr_uint64_t)timed));
        ck_assert_int_eq(hl_cache_touch(c, k, strlen(k), T0,
                                        SEC(10) + (apr_interval_time_t)(test_rand(&seed) % (apr_uint64_t)SEC(100000)),
                                        NULL, &w), APR_SUCCESS);
    }
    free(when);

    ASSERT_CHEAP(c, "a set expiring soonest", set(c, "x1", T0, 1, NULL));
    ASSERT_CHEAP(c, "a set expiring last", set(c, "x2", T0, SEC(200000), NULL));
    ASSERT_CHEAP(c, "a set in the middle", set(c, "x3", T0, SEC(50000), NULL));
    ASSERT_CHEAP(c, "a rewrite", set(c, "x1", T0, SEC(30), NULL));
    ASSERT_CHEAP(c, "a set that never expires", set(c, "x4", T0, 0, NULL));
    ASSERT_CHEAP(c, "a touch from 0", ck_assert_int_eq(
                     hl_cache_touch(c, "n0000007", 8, T0, 2, NULL, &w), APR_SUCCESS));
    ASSERT_CHEAP(c, "a touch to 0", ck_assert_int_eq(
                     hl_cache_touch(c, "t0000003", 8, T0, 0, NULL, &w), APR_SUCCESS));
    ASSERT_CHEAP(c, "a touch", ck_assert_int_eq(
                     hl_cache_touch(c, "t0000005", 8, T0, SEC(3), NULL, &w), APR_SUCCESS));
    ASSERT_CHEAP(c, "an add", ck_assert_int_eq(
                     hl_cache_add(c, "t0000009", 8, 1, NULL, 0, T0, NULL, &w), APR_SUCCESS));
    ASSERT_CHEAP(c, "an add that creates", ck_assert_int_eq(
                     hl_cache_add(c, "x5", 2, 1, &init, SEC(7), T0, NULL, &w), APR_SUCCESS));
    ASSERT_CHEAP(c, "a delete", ck_assert_int_eq(
                     hl_cache_remove(c, "t0000011", 8, T0, NULL, &w), APR_SUCCESS));
    assert_valid(c);
}
END_TEST

/* ---- exact order under mixed TTLs ------------------------------------ */

#define NSMALL 300
#define NBIG   200

/* What the test knows of each key: small keys s<i>, then big ones b<i>. */
typedef struct mkey {
    int          present;
    apr_time_t   expires;      /* 0: never */
    apr_uint64_t version;
} mkey;

static const char *kname(int i)
{
    return i < NSMALL ? apr_psprintf(test_pool, "s%d", i)
                      : apr_psprintf(test_pool, "b%d", i - NSMALL);
}

static int expired_at(const mkey *m, apr_time_t now)
{
    return m->present && m->expires != 0 && now >= m->expires;
}

/* Whether the cache holds k, expired or not, without removing it: the
 * lock-free read leaves an expired entry to the locked one. */
static int held(hl_cache *c, const char *k, apr_time_t now)
{
    hl_cache_result r;
    apr_status_t rv = hl_cache_get_lockfree(c, test_pool, k, strlen(k), now, &r);
    ck_assert(rv == APR_SUCCESS || rv == APR_EAGAIN || rv == APR_NOTFOUND);
    return rv != APR_NOTFOUND;
}

static const mkey *order_of;

static int sooner(const void *a, const void *b)
{
    const mkey *x = &order_of[*(const int *)a], *y = &order_of[*(const int *)b];
    if (x->expires != y->expires)
        return x->expires < y->expires ? -1 : 1;
    return x->version < y->version ? -1 : x->version > y->version;
}

/* The expired entries gone are the soonest ones (by expiry, then
 * version), and while one expired entry is left no unexpired one went;
 * once none is left, the LRU may take unexpired ones: the model learns
 * which. */
static void check_expiry_order(hl_cache *c, mkey *m, apr_time_t now)
{
    int idx[NSMALL + NBIG], k = 0, i, j;

    for (i = 0; i < NSMALL + NBIG; i++)
        if (expired_at(&m[i], now))
            idx[k++] = i;
    order_of = m;
    qsort(idx, (size_t)k, sizeof(idx[0]), sooner);
    for (i = 0; i < k && !held(c, kname(idx[i]), now); i++)
        m[idx[i]].present = 0;
    for (j = i; j < k; j++)
        ck_assert_msg(held(c, kname(idx[j]), now), "%s went before %s, which "
                      "expired sooner", kname(idx[j]), kname(idx[i]));
    for (j = 0; j < NSMALL + NBIG; j++) {
        if (!m[j].present || expired_at(&m[j], now))
            continue;
        if (i < k)
            ck_assert_msg(held(c, kname(j), now), "%s went, unexpired, while "
                          "expired entries were left", kname(j));
        else
            m[j].present = held(c, kname(j), now);
    }
}

static apr_interval_time_t random_ttl(apr_uint64_t *seed)
{
    return test_rand(seed) % 4 == 0 ? 0
           : 1 + (apr_interval_time_t)(test_rand(seed) % (apr_uint64_t)SEC(1000));
}

/* Random sets, touches (to and from 0), adds and deletes of the small
 * keys at T0, checked against the model; nothing expires at T0. */
static void populate(hl_cache *c, mkey *m, apr_uint64_t *seed, int ops)
{
    int op;
    for (op = 0; op < ops; op++) {
        int i = (int)(test_rand(seed) % NSMALL);
        const char *k = kname(i);
        apr_uint64_t dice = test_rand(seed) % 100;
        apr_int64_t init = 0;
        hl_cache_written w;
        hl_cache_result r;
        apr_status_t rv;

        if (dice < 40) {
            apr_interval_time_t ttl = random_ttl(seed);
            set(c, k, T0, ttl, &w);
            m[i].present = 1;
            m[i].expires = ttl ? T0 + ttl : 0;
            m[i].version = w.version;
        }
        else if (dice < 60) {
            apr_interval_time_t ttl = random_ttl(seed);
            rv = hl_cache_touch(c, k, strlen(k), T0, ttl, NULL, &w);
            ck_assert_int_eq(rv, m[i].present ? APR_SUCCESS : APR_NOTFOUND);
            if (rv == APR_SUCCESS) {
                ck_assert_uint_eq(w.version, m[i].version);
                m[i].expires = ttl ? T0 + ttl : 0;
            }
        }
        else if (dice < 70) {
            rv = hl_cache_remove(c, k, strlen(k), T0, NULL, &w);
            ck_assert_int_eq(rv, m[i].present ? APR_SUCCESS : APR_NOTFOUND);
            m[i].present = 0;
        }
        else if (dice < 85) {
            apr_interval_time_t ttl = random_ttl(seed);
            ck_assert_int_eq(hl_cache_add(c, k, strlen(k), 0, &init, ttl, T0, NULL, &w),
                             APR_SUCCESS);
            if (!m[i].present)   /* an add keeps a live entry's lifetime */
                m[i].expires = ttl ? T0 + ttl : 0;
            m[i].present = 1;
            m[i].version = w.version;
        }
        else {
            rv = hl_cache_get(c, test_pool, k, strlen(k), T0, &r);
            ck_assert_int_eq(rv, m[i].present ? APR_SUCCESS : APR_NOTFOUND);
            if (rv == APR_SUCCESS) {
                ck_assert_int_eq(r.expires, m[i].expires);
                ck_assert_uint_eq(r.version, m[i].version);
            }
        }
        assert_valid(c);
    }
}

/* Time moves on; each step writes at now (a big entry that never
 * expires, which purges and, once the cache is full, evicts; a set, touch
 * or delete of an unexpired small key) and the expired entries must go
 * soonest first.  Ends when time has passed every TTL. */
static void expire_in_order(hl_cache *c, mkey *m, apr_uint64_t *seed,
                            apr_time_t now, int steps)
{
    char *big = apr_palloc(test_pool, 6000);
    int step, nbig = 0;

    memset(big, 'b', 6000);
    for (step = 0; step < steps; step++) {
        apr_uint64_t dice = test_rand(seed) % 100;
        int i = (int)(test_rand(seed) % NSMALL);
        const char *k = kname(i);
        hl_cache_written w;

        now += (apr_time_t)(test_rand(seed) % (apr_uint64_t)SEC(6));
        if (dice < 40 && nbig < NBIG) {
            apr_size_t vlen = 2000 + (apr_size_t)(test_rand(seed) % 4000);
            int b = NSMALL + nbig++;
            ck_assert_int_eq(hl_cache_put(c, kname(b), strlen(kname(b)), big, vlen,
                                          now, 0, NULL, &w), APR_SUCCESS);
            m[b].present = 1;
            m[b].expires = 0;
            m[b].version = w.version;
        }
        else if (expired_at(&m[i], now)) {
            /* Writing an expired key removes it out of turn: not here. */
        }
        else if (dice < 70) {
            apr_interval_time_t ttl = random_ttl(seed);
            set(c, k, now, ttl, &w);
            m[i].present = 1;
            m[i].expires = ttl ? now + ttl : 0;
            m[i].version = w.version;
        }
        else if (dice < 90 && m[i].present) {
            apr_interval_time_t ttl = random_ttl(seed);
            ck_assert_int_eq(hl_cache_touch(c, k, strlen(k), now, ttl, NULL, &w),
                             APR_SUCCESS);
            m[i].expires = ttl ? now + ttl : 0;
        }
        else if (m[i].present) {
            ck_assert_int_eq(hl_cache_remove(c, k, strlen(k), now, NULL, &w),
                             APR_SUCCESS);
            m[i].present = 0;
        }
        check_expiry_order(c, m, now);
        assert_valid(c);
    }
}

START_TEST(test_expiry_order_under_mixed_ttls)
{
    hl_cache *c = cache_new(256 * 1024, 0, 64, 8192);
    mkey *m = calloc(NSMALL + NBIG, sizeof(*m));
    apr_uint64_t seed = 0x7731 + (apr_uint64_t)_i;
    hl_cache_stats st;

    populate(c, m, &seed, 3000);
    expire_in_order(c, m, &seed, T0, 600);
    hl_cache_stats_read(c, &st);
    ck_assert_uint_gt(st.expirations, 50);
    ck_assert_uint_gt(st.evictions + st.expirations, 0);
    free(m);
}
END_TEST

/* ---- repair ----------------------------------------------------------- */

/* What the cache says of key i now, into the model (after a repair the
 * key a writer died on may hold its old entry, none or the new one). */
static void learn(hl_cache *c, mkey *m, int i, apr_time_t now)
{
    hl_cache_result r;
    const char *k = kname(i);
    m[i].present = hl_cache_get(c, test_pool, k, strlen(k), now, &r) == APR_SUCCESS;
    if (m[i].present) {
        m[i].expires = r.expires;
        m[i].version = r.version;
    }
}

/* A set with a TTL stopped after each of its steps, in a cache of mixed
 * TTLs: the repair leaves a valid heap that still expires in order. */
START_TEST(test_set_stopped_in_mixed_ttls)
{
    int steps;

    for (steps = 0; steps < 10; steps++) {
        hl_cache *c = cache_new(256 * 1024, 0, 64, 8192);
        mkey *m = calloc(NSMALL + NBIG, sizeof(*m));
        apr_uint64_t seed = 0x5eed;
        const char *reason = NULL;
        int i;

        populate(c, m, &seed, 800);
        for (i = 0; i < NSMALL && !m[i].present; i++)
            ;
        ck_assert_int_lt(i, NSMALL);
        if (hl_cache_set_interrupted(c, kname(i), strlen(kname(i)), "9", 1, T0,
                                     SEC(1), steps) == APR_SUCCESS) {
            ck_assert_int_ge(steps, 6);
            assert_valid(c);
            free(m);
            continue;
        }
        hl_cache_recover(c, T0, &reason);
        ck_assert_ptr_nonnull(reason);
        ck_assert_ptr_nonnull(strstr(reason, "index rebuilt"));
        assert_valid(c);
        learn(c, m, i, T0);
        expire_in_order(c, m, &seed, T0, 300);
        free(m);
    }
}
END_TEST

/* A writer killed inside a sift leaves a slot twice and an entry in
 * none (or any other half-done heap): validation sees it, and the repair
 * builds the heap anew from the blocks rather than trusting it. */
START_TEST(test_half_done_heap_rebuilt)
{
    int damage;

    for (damage = 0; damage < 4; damage++) {
        hl_cache *c = cache_new(256 * 1024, 0, 64, 8192);
        mkey *m = calloc(NSMALL + NBIG, sizeof(*m));
        apr_uint64_t seed = 0xdead, n;
        apr_uint32_t *heap;
        const char *reason = NULL;
        char why[256];

        populate(c, m, &seed, 800);
        n = field(c, "exp_count");
        ck_assert_uint_gt(n, 10);
        /* The heap's words follow the touch slots, one unit each. */
        heap = (apr_uint32_t *)((char *)c + (field(c, "touch_off")
                                             + field(c, "ntouch")) * 16);
        switch (damage) {
        case 0: heap[1] = heap[0]; break;                        /* mid-sift */
        case 1: hl_cache_field_set(c, "exp_count", n - 1); break; /* push half done */
        case 2: hl_cache_field_set(c, "exp_count", 0); break;
        case 3: {                                                 /* swapped */
            apr_uint32_t t = heap[0];
            heap[0] = heap[n - 1];
            heap[n - 1] = t;
            break;
        }
        }
        ck_assert_int_ne(hl_cache_validate(c, why, sizeof(why)), APR_SUCCESS);
        ck_assert_ptr_nonnull(strstr(why, "heap"));
        hl_cache_field_set(c, "writer_active", 1);
        hl_cache_recover(c, T0, &reason);
        ck_assert_ptr_nonnull(reason);
        assert_valid(c);
        ck_assert_uint_eq(field(c, "exp_count"), n);
        expire_in_order(c, m, &seed, T0, 300);
        free(m);
    }
}
END_TEST

Suite *cache_suite(void)
{
    Suite *s = suite_create("cache");
    TCase *tc = tcase_create("table");
    TCase *crash = tcase_create("crash");
    TCase *store = tcase_create("store");
    TCase *quiet = tcase_create("quiet reads");
    TCase *expiry = tcase_create("expiry");

    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_set_get_counts_accesses);
    tcase_add_test(tc, test_list_inside_one_bucket);
    tcase_add_test(tc, test_replace_reports_replaced);
    tcase_add_test(tc, test_binary_keys_and_values);
    tcase_add_test(tc, test_limits_refused);
    tcase_add_test(tc, test_format_rejects_bad_config);
    tcase_add_test(tc, test_collisions_in_one_bucket);
    tcase_add_test(tc, test_ttl_with_injected_clock);
    tcase_add_test(tc, test_eviction_expired_first_then_lru);
    tcase_add_test(tc, test_data_area_reuse_and_coalescing);
    tcase_add_test(tc, test_random_run_matches_model);
    tcase_add_test(tc, test_lockfree_get_semantics);
    tcase_add_test(tc, test_lockfree_after_dead_writer);
    tcase_add_test(tc, test_lockfree_hits_keep_lru_exact);
    tcase_add_test(tc, test_lockfree_readers_race_a_writer);
    suite_add_tcase(s, tc);

    tcase_add_checked_fixture(crash, pool_setup, pool_teardown);
    tcase_set_timeout(crash, 60);
    tcase_add_test(crash, test_recovery_after_each_step);
    tcase_add_test(crash, test_recovery_after_a_killed_repair);
    tcase_add_test(crash, test_recovery_keeps_lru_order);
    tcase_add_test(crash, test_recovery_resets_a_corrupt_area);
    tcase_add_test(crash, test_killed_lock_holder);
    tcase_add_test(crash, test_taker_sleeps_behind_a_slow_holder);
    tcase_add_test(crash, test_killed_at_random_moments);
    suite_add_tcase(s, crash);

    tcase_add_checked_fixture(store, pool_setup, pool_teardown);
    tcase_set_timeout(store, 60);
    tcase_add_test(store, test_store_shared_across_processes);
    tcase_add_test(store, test_store_reuse_and_migrate_cache);
    tcase_add_test(store, test_store_without_cache);
    tcase_add_test(store, test_migrate_refuses_unformatted_cache);
    suite_add_tcase(s, store);

    tcase_add_checked_fixture(quiet, pool_setup, pool_teardown);
    tcase_set_timeout(quiet, 90);
    tcase_add_test(quiet, test_resize_copy_beside_writers);
    tcase_add_test(quiet, test_snapshot_beside_writers);
    tcase_add_test(quiet, test_export_batches_of_a_full_cache);
    tcase_add_test(quiet, test_pause_is_kept_and_bounded);
    tcase_add_test(quiet, test_quiet_reader_and_a_stuck_writer);
    tcase_add_test(quiet, test_quiet_reader_after_a_dead_writer);
    suite_add_tcase(s, quiet);

    tcase_add_checked_fixture(expiry, pool_setup, pool_teardown);
    tcase_set_timeout(expiry, 120);
    tcase_add_test(expiry, test_write_cost_ignores_other_expiries);
    tcase_add_loop_test(expiry, test_expiry_order_under_mixed_ttls, 0, 3);
    tcase_add_test(expiry, test_set_stopped_in_mixed_ttls);
    tcase_add_test(expiry, test_half_done_heap_rebuilt);
    suite_add_tcase(s, expiry);
    return s;
}
