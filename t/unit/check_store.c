/* The store contract: one set of behavioural tests that every backend of
 * hl_store.h passes, through the interface alone.  It runs against every
 * backend listed in `backends` below that can be opened here; a new
 * backend adds a row and must pass it unchanged.
 *
 * Each test gets a fresh, empty store with small sizes (history of 5, a
 * 64 KiB cache, keys up to 32 bytes, values up to 4 KiB) and drives the
 * cache's clock itself. */
#include "check_hl.h"
#include "hl_store.h"
#ifdef HL_HAVE_REDIS
#include "check_redis.h"   /* test_redis_spec: the tests' own redis-server */
#endif

#include <apr_file_io.h>
#include <apr_strings.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0 ((apr_time_t)1700000000 * APR_USEC_PER_SEC)
#define SEC(n) ((apr_interval_time_t)(n) * APR_USEC_PER_SEC)
#define HISTORY   5
#define MAX_KEY   32
#define MAX_VALUE 4096
#define TEST_TIMEOUT apr_time_from_sec(10)

/* Which backend the current test runs against: check runs each test once
 * per loop index, the index picks the row. */
typedef struct contract_backend {
    const char *name;
    /* The spec HyperlaneStore would name; NULL when not available here
     * (then the tests of that row pass without running). */
    const char *(*spec)(void);
} contract_backend;

static const char *shm_spec(void)
{
    return "shm";
}

static const contract_backend backends[] = {
    { "shm", shm_spec },
#ifdef HL_HAVE_REDIS
    { "redis", test_redis_spec },
#endif
};
#define NBACKENDS ((int)(sizeof(backends) / sizeof(backends[0])))

/* A store of backend which; previous: the last generation's, as a
 * graceful restart hands it over (NULL: a first start). */
static hl_store *open_store_after(int which, apr_size_t cache_bytes,
                                  hl_store *previous)
{
    hl_store_open_args a;
    const char *origin = NULL;
    hl_store *st;

    memset(&a, 0, sizeof(a));
    a.spec = backends[which].spec();
    if (!a.spec)
        return NULL;
    a.sizes.history_capacity = HISTORY;
    a.sizes.cache_bytes = cache_bytes;
    a.sizes.cache_max_key = MAX_KEY;
    a.sizes.cache_max_value = MAX_VALUE;
    a.pool = test_pool;
    a.previous = previous;
    /* Backends over the network: a moment of a loaded machine is not to
     * be taken for a failure of the server (timeouts have tests of their
     * own, check_redis.c). */
    a.timeout = TEST_TIMEOUT;
    ck_assert_int_eq(hl_store_open(&st, &a, &origin), APR_SUCCESS);
    ck_assert_ptr_nonnull(origin);
    ck_assert_int_eq(hl_store_child_init(st, test_pool), APR_SUCCESS);
    return st;
}

static hl_store *open_store(int which, apr_size_t cache_bytes)
{
    return open_store_after(which, cache_bytes, NULL);
}

#define STORE(bytes) \
    hl_store *st = open_store(_i, (bytes)); \
    if (!st) return

static hl_cache_stats stats_of(hl_store *st)
{
    hl_cache_stats s;
    ck_assert_int_eq(hl_store_cache_stats(st, &s), APR_SUCCESS);
    return s;
}

static apr_status_t put(hl_store *st, const char *k, const char *v,
                        apr_time_t now, apr_interval_time_t ttl)
{
    return hl_store_cache_set(st, k, strlen(k), v, strlen(v), now, ttl, NULL);
}

static apr_status_t get(hl_store *st, const char *k, apr_time_t now,
                        hl_cache_result *r)
{
    return hl_store_cache_get(st, test_pool, k, strlen(k), now, r);
}

/* ---- counter ------------------------------------------------------------ */

#define THREADS 8
#define EACH    5000

typedef struct {
    hl_store *st;
    apr_int32_t pid;
    apr_uint64_t last;
    int failures;
    apr_status_t failed_with;    /* the last failure's status */
} incrementer;

static void *increment_many(void *arg)
{
    incrementer *in = arg;
    int i;
    for (i = 0; i < EACH; i++) {
        apr_status_t rv = hl_store_counter_increment(in->st, in->pid, &in->last);
        if (rv != APR_SUCCESS) {
            in->failures++;
            in->failed_with = rv;
        }
    }
    return NULL;
}

START_TEST(test_counter_exact_from_threads)
{
    STORE(64 * 1024);
    incrementer in[THREADS];
    pthread_t t[THREADS];
    hl_counter_snapshot snap;
    int i;

    for (i = 0; i < THREADS; i++) {
        in[i].st = st;
        in[i].pid = 1000 + i;
        in[i].failures = 0;
        in[i].failed_with = APR_SUCCESS;
        ck_assert_int_eq(pthread_create(&t[i], NULL, increment_many, &in[i]), 0);
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        ck_assert_msg(in[i].failures == 0, "%d increments failed, the last "
                      "with status %d", in[i].failures, in[i].failed_with);
    }
    ck_assert_int_eq(hl_store_counter_snapshot(st, HL_RECENT_MAX, &snap),
                     APR_SUCCESS);
    ck_assert_uint_eq(snap.current_value, THREADS * EACH);
    ck_assert_uint_eq(snap.history_length, HISTORY);
    ck_assert_uint_eq(snap.capacity, HISTORY);
    /* The newest entries are the last values handed out, newest first,
     * each from one of the threads. */
    ck_assert_int_eq(snap.n_recent, HISTORY);
    for (i = 0; i < snap.n_recent; i++) {
        ck_assert_uint_eq(snap.recent[i].value, THREADS * EACH - (apr_uint64_t)i);
        ck_assert(snap.recent[i].complete);
        ck_assert_int_ge(snap.recent[i].pid, 1000);
        ck_assert_int_lt(snap.recent[i].pid, 1000 + THREADS);
    }
}
END_TEST

START_TEST(test_history_order_and_wraparound)
{
    STORE(64 * 1024);
    hl_counter_snapshot snap;
    apr_uint64_t v;
    int i;

    ck_assert_int_eq(hl_store_counter_snapshot(st, HL_RECENT_MAX, &snap), APR_SUCCESS);
    ck_assert_uint_eq(snap.current_value, 0);
    ck_assert_uint_eq(snap.history_length, 0);
    ck_assert_int_eq(snap.n_recent, 0);
    for (i = 1; i <= 3; i++) {
        ck_assert_int_eq(hl_store_counter_increment(st, 40 + i, &v), APR_SUCCESS);
        ck_assert_uint_eq(v, (apr_uint64_t)i);
    }
    ck_assert_int_eq(hl_store_counter_snapshot(st, HL_RECENT_MAX, &snap), APR_SUCCESS);
    ck_assert_uint_eq(snap.history_length, 3);
    ck_assert_int_eq(snap.n_recent, 3);
    ck_assert_uint_eq(snap.recent[0].value, 3);
    ck_assert_int_eq(snap.recent[0].pid, 43);
    ck_assert_uint_eq(snap.recent[2].value, 1);
    ck_assert_int_ge(snap.recent[0].time, snap.recent[2].time);
    for (i = 4; i <= 12; i++)
        ck_assert_int_eq(hl_store_counter_increment(st, 40 + i, &v), APR_SUCCESS);
    ck_assert_int_eq(hl_store_counter_snapshot(st, 2, &snap), APR_SUCCESS);
    ck_assert_uint_eq(snap.current_value, 12);
    ck_assert_uint_eq(snap.history_length, HISTORY);
    ck_assert_int_eq(snap.n_recent, 2);
    ck_assert_int_eq(hl_store_counter_snapshot(st, HL_RECENT_MAX, &snap), APR_SUCCESS);
    ck_assert_int_eq(snap.n_recent, HISTORY);     /* the ring holds only 5 */
    for (i = 0; i < HISTORY; i++) {
        ck_assert_uint_eq(snap.recent[i].value, 12 - (apr_uint64_t)i);
        ck_assert_int_eq(snap.recent[i].pid, 52 - i);
    }
    ck_assert_int_eq(hl_store_counter_snapshot(st, HL_RECENT_MAX + 1, &snap),
                     APR_EINVAL);
    ck_assert_int_eq(hl_store_counter_snapshot(st, -1, &snap), APR_EINVAL);
}
END_TEST

/* ---- cache -------------------------------------------------------------- */

START_TEST(test_get_set_delete)
{
    STORE(64 * 1024);
    hl_cache_result r;
    int replaced = -1;

    ck_assert_int_eq(get(st, "k", T0, &r), APR_NOTFOUND);
    ck_assert_int_eq(hl_store_cache_set(st, "k", 1, "one", 3, T0, 0, &replaced),
                     APR_SUCCESS);
    ck_assert_int_eq(replaced, 0);
    ck_assert_int_eq(get(st, "k", T0 + 1, &r), APR_SUCCESS);
    ck_assert_uint_eq(r.vlen, 3);
    ck_assert_mem_eq(r.value, "one", 3);
    ck_assert_int_eq(r.value[3], '\0');
    ck_assert_uint_eq(r.access_count, 1);
    ck_assert_int_eq(get(st, "k", T0 + 2, &r), APR_SUCCESS);
    ck_assert_uint_eq(r.access_count, 2);
    ck_assert_int_eq(r.set_time, T0);
    ck_assert_int_eq(r.age, 2);
    ck_assert_int_eq(hl_store_cache_set(st, "k", 1, "two!", 4, T0 + 3, 0, &replaced),
                     APR_SUCCESS);
    ck_assert_int_eq(replaced, 1);
    ck_assert_int_eq(get(st, "k", T0 + 4, &r), APR_SUCCESS);
    ck_assert_mem_eq(r.value, "two!", 4);
    ck_assert_uint_eq(r.access_count, 1);       /* a new entry */
    ck_assert_int_eq(hl_store_cache_delete(st, "k", 1, T0 + 5), APR_SUCCESS);
    ck_assert_int_eq(get(st, "k", T0 + 6, &r), APR_NOTFOUND);
    ck_assert_int_eq(hl_store_cache_delete(st, "k", 1, T0 + 7), APR_NOTFOUND);
    ck_assert_int_eq(put(st, "empty", "", T0, 0), APR_SUCCESS);
    ck_assert_int_eq(get(st, "empty", T0, &r), APR_SUCCESS);
    ck_assert_uint_eq(r.vlen, 0);
}
END_TEST

START_TEST(test_ttl_with_injected_clock)
{
    STORE(64 * 1024);
    hl_cache_result r;

    ck_assert_int_eq(put(st, "short", "s", T0, SEC(10)), APR_SUCCESS);
    ck_assert_int_eq(put(st, "forever", "f", T0, 0), APR_SUCCESS);
    ck_assert_int_eq(get(st, "short", T0 + SEC(9), &r), APR_SUCCESS);
    ck_assert_int_eq(r.expires, T0 + SEC(10));
    ck_assert_int_eq(get(st, "short", T0 + SEC(10) + 1, &r), APR_NOTFOUND);
    ck_assert_uint_eq(stats_of(st).expirations, 1);
    ck_assert_int_eq(get(st, "forever", T0 + SEC(100000000), &r), APR_SUCCESS);
    ck_assert_int_eq(r.expires, 0);
    /* An expired entry is gone for delete too, and a set makes it anew. */
    ck_assert_int_eq(put(st, "again", "a", T0, SEC(1)), APR_SUCCESS);
    ck_assert_int_eq(hl_store_cache_delete(st, "again", 5, T0 + SEC(2)), APR_NOTFOUND);
    ck_assert_int_eq(put(st, "again", "b", T0 + SEC(3), SEC(1)), APR_SUCCESS);
    ck_assert_int_eq(get(st, "again", T0 + SEC(3), &r), APR_SUCCESS);
    ck_assert_mem_eq(r.value, "b", 1);
    ck_assert_int_eq(hl_store_cache_set(st, "neg", 3, "x", 1, T0, -1, NULL),
                     APR_EINVAL);
}
END_TEST

/* Full: the least recently used goes first, each eviction is counted, and
 * what a store holds never passes its capacity. */
START_TEST(test_eviction_order_and_counts)
{
    STORE(64 * 1024);
    char value[1024], key[16];
    hl_cache_stats s;
    hl_cache_result r;
    apr_uint64_t oldest;
    int i;

    memset(value, 'v', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    for (i = 1; i <= 200; i++) {
        apr_snprintf(key, sizeof(key), "k%d", i);
        ck_assert_int_eq(put(st, key, value, T0 + i, 0), APR_SUCCESS);
    }
    s = stats_of(st);
    ck_assert_uint_gt(s.evictions, 100);
    ck_assert_uint_eq(s.total_entries + s.evictions, 200);
    ck_assert_uint_le(s.bytes_used, s.capacity_bytes);
    ck_assert_int_eq(get(st, "k200", T0 + 300, &r), APR_SUCCESS);
    ck_assert_int_eq(get(st, "k1", T0 + 300, &r), APR_NOTFOUND);
    oldest = 200 - s.total_entries + 1;
    apr_snprintf(key, sizeof(key), "k%" APR_UINT64_T_FMT, oldest);
    ck_assert_int_eq(get(st, key, T0 + 301, &r), APR_SUCCESS);   /* now recent */
    ck_assert_int_eq(put(st, "newcomer", value, T0 + 302, 0), APR_SUCCESS);
    ck_assert_int_eq(get(st, key, T0 + 303, &r), APR_SUCCESS);
    apr_snprintf(key, sizeof(key), "k%" APR_UINT64_T_FMT, oldest + 1);
    ck_assert_int_eq(get(st, key, T0 + 303, &r), APR_NOTFOUND);
    /* Room for a longer key may take more than one; each is counted. */
    ck_assert_uint_gt(stats_of(st).evictions, s.evictions);
    ck_assert_uint_eq(stats_of(st).total_entries + stats_of(st).evictions, 201);
}
END_TEST

START_TEST(test_statistics)
{
    STORE(64 * 1024);
    hl_cache_result r;
    hl_cache_stats s;

    s = stats_of(st);
    ck_assert_uint_eq(s.total_entries, 0);
    ck_assert_uint_eq(s.hits + s.misses + s.sets + s.deletes, 0);
    ck_assert_uint_gt(s.capacity_bytes, 0);
    ck_assert_uint_eq(s.max_key, MAX_KEY);
    ck_assert_uint_eq(s.max_value, MAX_VALUE);
    put(st, "a", "1", T0, 0);
    put(st, "b", "2", T0, 0);
    put(st, "a", "3", T0, 0);
    get(st, "a", T0, &r);
    get(st, "a", T0, &r);
    get(st, "b", T0, &r);
    get(st, "zz", T0, &r);
    hl_store_cache_delete(st, "b", 1, T0);
    hl_store_cache_delete(st, "zz", 2, T0);
    s = stats_of(st);
    ck_assert_uint_eq(s.sets, 3);
    ck_assert_uint_eq(s.hits, 3);
    ck_assert_uint_eq(s.misses, 1);
    ck_assert_uint_eq(s.deletes, 1);
    ck_assert_uint_eq(s.total_entries, 1);
    ck_assert_uint_eq(s.total_accesses, 2);       /* what "a" holds now */
    ck_assert_uint_gt(s.bytes_used, 0);
}
END_TEST

START_TEST(test_binary_keys_and_values)
{
    STORE(64 * 1024);
    unsigned char key[MAX_KEY], value[256];
    hl_cache_result r;
    int i;

    for (i = 0; i < 256; i++)
        value[i] = (unsigned char)i;
    for (i = 0; i < MAX_KEY; i++)
        key[i] = (unsigned char)(i % 3 == 0 ? 0 : 0xff - i);
    ck_assert_int_eq(hl_store_cache_set(st, key, sizeof(key), value, sizeof(value),
                                        T0, 0, NULL), APR_SUCCESS);
    ck_assert_int_eq(hl_store_cache_get(st, test_pool, key, sizeof(key), T0, &r),
                     APR_SUCCESS);
    ck_assert_uint_eq(r.vlen, sizeof(value));
    ck_assert_mem_eq(r.value, value, sizeof(value));
    /* A key that differs after a NUL is another key. */
    key[MAX_KEY - 1] ^= 1;
    ck_assert_int_eq(hl_store_cache_get(st, test_pool, key, sizeof(key), T0, &r),
                     APR_NOTFOUND);
    ck_assert_int_eq(hl_store_cache_get(st, test_pool, key, 1, T0, &r),
                     APR_NOTFOUND);
}
END_TEST

START_TEST(test_lengths_at_and_past_the_limits)
{
    STORE(64 * 1024);
    char key[MAX_KEY + 1], *value = apr_palloc(test_pool, MAX_VALUE + 1);
    hl_cache_result r;

    memset(key, 'k', sizeof(key));
    memset(value, 'v', MAX_VALUE + 1);
    ck_assert_int_eq(hl_store_cache_set(st, key, MAX_KEY, value, MAX_VALUE, T0, 0,
                                        NULL), APR_SUCCESS);
    ck_assert_int_eq(hl_store_cache_get(st, test_pool, key, MAX_KEY, T0, &r),
                     APR_SUCCESS);
    ck_assert_uint_eq(r.vlen, MAX_VALUE);
    ck_assert_int_eq(hl_store_cache_set(st, key, MAX_KEY + 1, "v", 1, T0, 0, NULL),
                     APR_EINVAL);
    ck_assert_int_eq(hl_store_cache_set(st, "k", 1, value, MAX_VALUE + 1, T0, 0,
                                        NULL), APR_EINVAL);
    ck_assert_int_eq(hl_store_cache_set(st, key, 0, "v", 1, T0, 0, NULL), APR_EINVAL);
    ck_assert_int_eq(hl_store_cache_get(st, test_pool, key, 0, T0, &r), APR_EINVAL);
    ck_assert_int_eq(hl_store_cache_get(st, test_pool, key, MAX_KEY + 1, T0, &r),
                     APR_EINVAL);
    ck_assert_int_eq(hl_store_cache_delete(st, key, 0, T0), APR_EINVAL);
    /* Refused sets stored nothing. */
    ck_assert_uint_eq(stats_of(st).total_entries, 1);
    ck_assert_uint_eq(stats_of(st).sets, 1);
}
END_TEST

/* This process's shared memory resident, in bytes (RssShmem). */
static apr_uint64_t rss_shmem(void)
{
    char line[256];
    unsigned long long kb = 0;
    FILE *f = fopen("/proc/self/status", "r");
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "RssShmem: %llu kB", &kb) == 1)
            break;
    fclose(f);
    return (apr_uint64_t)kb * 1024;
}

/* A new shm store of 64 MiB does not take 64 MiB at the start: the
 * segment comes zero-filled and only what the layout writes is touched. */
START_TEST(test_shm_takes_memory_as_it_fills)
{
    hl_store_open_args a;
    const char *origin;
    hl_store *st;
    apr_uint64_t before = rss_shmem(), grew;

    memset(&a, 0, sizeof(a));
    a.spec = "shm";
    a.sizes.history_capacity = HISTORY;
    a.sizes.cache_bytes = 64 * 1024 * 1024;
    a.sizes.cache_max_key = MAX_KEY;
    a.sizes.cache_max_value = MAX_VALUE;
    a.pool = test_pool;
    ck_assert_int_eq(hl_store_open(&st, &a, &origin), APR_SUCCESS);
    grew = rss_shmem() - before;
    ck_assert_msg(grew < 24 * 1024 * 1024, "%" APR_UINT64_T_FMT " MiB resident "
                  "for an empty 64 MiB cache", grew >> 20);
    ck_assert_int_eq(put(st, "k", "v", T0, 0), APR_SUCCESS);
    ck_assert_uint_eq(stats_of(st).total_entries, 1);
    hl_store_close(st);
}
END_TEST

/* A value that can never fit the cache is refused, and the cache keeps
 * what it had. */
START_TEST(test_value_larger_than_the_cache)
{
    hl_store_open_args a;
    const char *origin;
    hl_store *st;
    apr_size_t big = 128 * 1024;
    char *value = apr_pcalloc(test_pool, big);

    memset(&a, 0, sizeof(a));
    a.spec = backends[_i].spec();
    if (!a.spec)
        return;
    a.sizes.history_capacity = HISTORY;
    a.sizes.cache_bytes = 64 * 1024;
    a.sizes.cache_max_key = MAX_KEY;
    a.sizes.cache_max_value = big;
    a.pool = test_pool;
    a.timeout = TEST_TIMEOUT;
    ck_assert_int_eq(hl_store_open(&st, &a, &origin), APR_SUCCESS);
    ck_assert_int_eq(put(st, "keep", "me", T0, 0), APR_SUCCESS);
    ck_assert_int_eq(hl_store_cache_set(st, "huge", 4, value, big, T0, 0, NULL),
                     APR_ENOSPC);
    ck_assert_uint_eq(stats_of(st).total_entries, 1);
}
END_TEST

/* What the store says of itself. */
START_TEST(test_usage)
{
    STORE(64 * 1024);
    hl_store_usage u;
    ck_assert_int_eq(hl_store_usage_read(st, &u), APR_SUCCESS);
    ck_assert_str_eq(u.backend, backends[_i].name);
    ck_assert_uint_gt(u.size_bytes, 0);
    ck_assert_uint_le(u.used_bytes, u.size_bytes);
    /* cache stats answers name the store too. */
    ck_assert_str_eq(stats_of(st).store, backends[_i].name);
    /* The generation counts the graceful restarts the store lived. */
    ck_assert_uint_eq(u.generation, 0);
    st = open_store_after(_i, 64 * 1024, st);
    ck_assert_int_eq(hl_store_usage_read(st, &u), APR_SUCCESS);
    ck_assert_uint_eq(u.generation, 1);
}
END_TEST

/* HyperlanePersistFile: a backend either keeps a snapshot file (what a
 * store saved, a new store of the same spec loads back, versions too, and
 * a write after it gets a version never seen) or refuses it, saying why,
 * and its stores answer APR_ENOTIMPL. */
START_TEST(test_persist_file_or_refusal)
{
    STORE(64 * 1024);
    const char *why = NULL, *tmp, *path;
    hl_persist_report rep;
    apr_time_t now = apr_time_now();
    hl_counter_snapshot snap;
    hl_cache_result r;
    hl_cache_written w;
    apr_uint64_t v, version, gone;
    int i;

    ck_assert_int_eq(apr_temp_dir_get(&tmp, test_pool), APR_SUCCESS);
    path = apr_psprintf(test_pool, "%s/hl-contract-%ld-%d.snapshot", tmp,
                        (long)getpid(), _i);
    for (i = 0; i < 7; i++)
        ck_assert_int_eq(hl_store_counter_increment(st, 31, &v), APR_SUCCESS);
    ck_assert_int_eq(hl_store_cache_set(st, "k\0\xff", 3, "v\0", 2, now,
                                        SEC(600), NULL), APR_SUCCESS);
    ck_assert_int_eq(hl_store_cache_get(st, test_pool, "k\0\xff", 3, now, &r),
                     APR_SUCCESS);
    version = r.version;
    memset(&w, 0, sizeof(w));
    ck_assert_int_eq(hl_store_cache_put(st, "gone", 4, "x", 1, now, 0, NULL, &w),
                     APR_SUCCESS);
    gone = w.version;
    ck_assert_int_eq(hl_store_cache_remove(st, "gone", 4, now, NULL, &w),
                     APR_SUCCESS);
    if (hl_store_persist_check(test_pool, backends[_i].spec(), &why)
        != APR_SUCCESS) {
        ck_assert_ptr_nonnull(why);
        ck_assert_ptr_nonnull(strstr(why, backends[_i].name));
        ck_assert_int_eq(hl_store_persist_save(st, path, now, HL_PERSIST_AT_STOP,
                                               test_pool, &rep), APR_ENOTIMPL);
        ck_assert_int_eq(hl_store_persist_load(st, path, now, test_pool, &rep),
                         APR_ENOTIMPL);
        return;
    }
    ck_assert_int_eq(hl_store_persist_save(st, path, now, HL_PERSIST_AT_STOP,
                                           test_pool, &rep), APR_SUCCESS);
    ck_assert_uint_eq(rep.counter_value, 7);
    {
        hl_store *again = open_store(_i, 64 * 1024);
        ck_assert_int_eq(hl_store_persist_load(again, path, now, test_pool, &rep),
                         APR_SUCCESS);
        ck_assert_int_eq(hl_store_counter_snapshot(again, HISTORY, &snap),
                         APR_SUCCESS);
        ck_assert_uint_eq(snap.current_value, 7);
        ck_assert_int_eq(snap.recent[4].complete, 1);
        ck_assert_int_eq(snap.recent[4].pid, 31);
        ck_assert_int_eq(hl_store_cache_get(again, test_pool, "k\0\xff", 3, now,
                                            &r), APR_SUCCESS);
        ck_assert_uint_eq(r.vlen, 2);
        ck_assert(memcmp(r.value, "v\0", 2) == 0);
        ck_assert_int_eq(r.expires, now + SEC(600));
        ck_assert_uint_eq(r.access_count, 2);
        ck_assert_uint_eq(r.version, version);
        memset(&w, 0, sizeof(w));
        ck_assert_int_eq(hl_store_cache_put(again, "new", 3, "y", 1, now, 0,
                                            NULL, &w), APR_SUCCESS);
        ck_assert_uint_gt(w.version, gone);
        ck_assert_uint_gt(w.version, version);
        hl_store_close(again);
    }
    apr_file_remove(path, test_pool);
}
END_TEST

/* The spec picks a backend; an unknown one is refused with a message. */
START_TEST(test_spec_checked)
{
    const char *error = NULL;
    ck_assert_int_eq(hl_store_spec_check(test_pool, "shm", &error), APR_SUCCESS);
    ck_assert_int_eq(hl_store_spec_check(test_pool, "memcached", &error),
                     APR_EINVAL);
    ck_assert_ptr_nonnull(strstr(error, "memcached"));
    ck_assert_ptr_nonnull(strstr(error, "shm"));
    ck_assert_int_eq(hl_store_spec_check(test_pool, "", &error), APR_EINVAL);
    error = NULL;
    ck_assert_int_eq(hl_store_persist_check(test_pool, "memcached", &error),
                     APR_EINVAL);
    ck_assert_ptr_nonnull(strstr(error, "memcached"));
}
END_TEST

/* ---- the cache API: versions, conditions, TTL, touch, add, listing ---- */

static hl_cache_cond if_match(apr_uint64_t v)
{
    hl_cache_cond c;
    memset(&c, 0, sizeof(c));
    c.if_match = v ? HL_COND_LIST : HL_COND_ANY;
    c.match[0] = v;
    c.n_match = v ? 1 : 0;
    return c;
}

static hl_cache_cond if_none_match(apr_uint64_t v)
{
    hl_cache_cond c;
    memset(&c, 0, sizeof(c));
    c.if_none_match = v ? HL_COND_LIST : HL_COND_ANY;
    c.none_match[0] = v;
    c.n_none_match = v ? 1 : 0;
    return c;
}

static apr_status_t cput(hl_store *st, const char *k, const char *v,
                         apr_time_t now, apr_interval_time_t ttl,
                         const hl_cache_cond *cond, hl_cache_written *w)
{
    return hl_store_cache_put(st, k, strlen(k), v, strlen(v), now, ttl, cond, w);
}

/* The value and version of k, asserted present. */
static apr_uint64_t version_of(hl_store *st, const char *k, apr_time_t now,
                               const char *want)
{
    hl_cache_result r;
    ck_assert_int_eq(get(st, k, now, &r), APR_SUCCESS);
    if (want) {
        ck_assert_uint_eq(r.vlen, strlen(want));
        ck_assert_mem_eq(r.value, want, r.vlen);
    }
    ck_assert_uint_ne(r.version, 0);
    return r.version;
}

START_TEST(test_versions_change_on_every_write)
{
    STORE(64 * 1024);
    hl_cache_written w;
    apr_uint64_t v1, v2, v3, v4;

    ck_assert_int_eq(cput(st, "k", "same", T0, 0, NULL, &w), APR_SUCCESS);
    ck_assert_int_eq(w.existed, 0);
    v1 = w.version;
    ck_assert_uint_ne(v1, 0);
    ck_assert_uint_eq(version_of(st, "k", T0, "same"), v1);
    /* The same bytes again: a new version all the same. */
    ck_assert_int_eq(cput(st, "k", "same", T0 + 1, 0, NULL, &w), APR_SUCCESS);
    ck_assert_int_eq(w.existed, 1);
    v2 = w.version;
    ck_assert_uint_gt(v2, v1);
    ck_assert_uint_eq(version_of(st, "k", T0 + 1, "same"), v2);
    /* Deleted and set again: never a version it had. */
    ck_assert_int_eq(hl_store_cache_delete(st, "k", 1, T0 + 2), APR_SUCCESS);
    ck_assert_int_eq(cput(st, "k", "same", T0 + 3, 0, NULL, &w), APR_SUCCESS);
    v3 = w.version;
    ck_assert_uint_gt(v3, v2);
    /* The plain set moves it on too; a touch keeps it. */
    ck_assert_int_eq(put(st, "k", "plain", T0 + 4, 0), APR_SUCCESS);
    v4 = version_of(st, "k", T0 + 4, "plain");
    ck_assert_uint_gt(v4, v3);
    ck_assert_int_eq(hl_store_cache_touch(st, "k", 1, T0 + 5, SEC(60), NULL, &w),
                     APR_SUCCESS);
    ck_assert_uint_eq(w.version, v4);
    ck_assert_uint_eq(version_of(st, "k", T0 + 5, "plain"), v4);
    /* Another key's writes are versions of the same counter. */
    ck_assert_int_eq(cput(st, "other", "o", T0 + 6, 0, NULL, &w), APR_SUCCESS);
    ck_assert_uint_gt(w.version, v4);
}
END_TEST

START_TEST(test_conditional_writes)
{
    STORE(64 * 1024);
    hl_cache_written w;
    hl_cache_cond c;
    apr_uint64_t v, stale;
    hl_cache_stats before;

    /* If-Match: * on a missing key stores nothing. */
    c = if_match(0);
    ck_assert_int_eq(cput(st, "k", "x", T0, 0, &c, &w), HL_STORE_EPRECONDITION);
    ck_assert_int_eq(w.version, 0);
    ck_assert_int_eq(get(st, "k", T0, &(hl_cache_result){0}), APR_NOTFOUND);
    /* If-None-Match: * creates only. */
    c = if_none_match(0);
    ck_assert_int_eq(cput(st, "k", "first", T0, 0, &c, &w), APR_SUCCESS);
    stale = w.version;
    ck_assert_int_eq(cput(st, "k", "second", T0, 0, &c, &w), HL_STORE_EPRECONDITION);
    ck_assert_uint_eq(w.version, stale);     /* the current one is told */
    ck_assert_uint_eq(version_of(st, "k", T0, "first"), stale);
    /* If-Match on the current version wins, and then that one is stale. */
    c = if_match(stale);
    ck_assert_int_eq(cput(st, "k", "third", T0 + 1, 0, &c, &w), APR_SUCCESS);
    v = w.version;
    before = stats_of(st);
    ck_assert_int_eq(cput(st, "k", "lost", T0 + 2, 0, &c, &w), HL_STORE_EPRECONDITION);
    ck_assert_uint_eq(w.version, v);
    ck_assert_uint_eq(version_of(st, "k", T0 + 2, "third"), v);
    ck_assert_uint_eq(stats_of(st).sets, before.sets);   /* nothing written */
    /* A list: any of its versions will do; If-None-Match with the current
     * one fails. */
    c = if_match(stale);
    c.match[1] = v;
    c.n_match = 2;
    ck_assert_int_eq(cput(st, "k", "fourth", T0 + 3, 0, &c, &w), APR_SUCCESS);
    v = w.version;
    c = if_none_match(v);
    ck_assert_int_eq(cput(st, "k", "fifth", T0 + 4, 0, &c, &w), HL_STORE_EPRECONDITION);
    c = if_none_match(stale);
    ck_assert_int_eq(cput(st, "k", "fifth", T0 + 4, 0, &c, &w), APR_SUCCESS);
    v = w.version;
    /* Delete: a stale version keeps the entry; the current one deletes. */
    c = if_match(stale);
    ck_assert_int_eq(hl_store_cache_remove(st, "k", 1, T0 + 5, &c, &w),
                     HL_STORE_EPRECONDITION);
    ck_assert_uint_eq(version_of(st, "k", T0 + 5, "fifth"), v);
    c = if_match(v);
    ck_assert_int_eq(hl_store_cache_remove(st, "k", 1, T0 + 6, &c, &w), APR_SUCCESS);
    ck_assert_int_eq(hl_store_cache_remove(st, "k", 1, T0 + 7, &c, &w), APR_NOTFOUND);
    ck_assert_int_eq(hl_store_cache_remove(st, "k", 1, T0 + 7, NULL, &w), APR_NOTFOUND);
    /* An expired entry does not exist for If-None-Match: *. */
    ck_assert_int_eq(cput(st, "old", "o", T0, SEC(1), NULL, &w), APR_SUCCESS);
    c = if_none_match(0);
    ck_assert_int_eq(cput(st, "old", "new", T0 + SEC(1), 0, &c, &w), APR_SUCCESS);
    ck_assert_int_eq(w.existed, 0);
    ck_assert_uint_eq(version_of(st, "old", T0 + SEC(1), "new"), w.version);
}
END_TEST

START_TEST(test_per_key_ttl_and_touch)
{
    STORE(64 * 1024);
    hl_cache_written w;
    hl_cache_result r;
    hl_cache_cond c;
    apr_uint64_t v;

    ck_assert_int_eq(cput(st, "a", "1", T0, SEC(10), NULL, &w), APR_SUCCESS);
    ck_assert_int_eq(w.expires, T0 + SEC(10));
    v = w.version;
    ck_assert_int_eq(cput(st, "b", "2", T0, SEC(1000), NULL, &w), APR_SUCCESS);
    ck_assert_int_eq(get(st, "a", T0 + SEC(5), &r), APR_SUCCESS);
    ck_assert_int_eq(r.expires, T0 + SEC(10));
    /* A touch: a new lifetime from now, the value and version kept. */
    ck_assert_int_eq(hl_store_cache_touch(st, "a", 1, T0 + SEC(5), SEC(100), NULL, &w),
                     APR_SUCCESS);
    ck_assert_int_eq(w.expires, T0 + SEC(105));
    ck_assert_uint_eq(w.version, v);
    ck_assert_int_eq(get(st, "a", T0 + SEC(50), &r), APR_SUCCESS);
    ck_assert_mem_eq(r.value, "1", 1);
    ck_assert_uint_eq(r.version, v);
    ck_assert_int_eq(get(st, "a", T0 + SEC(105), &r), APR_NOTFOUND);
    /* Expired entries are missing for touch; ttl 0 never expires. */
    ck_assert_int_eq(hl_store_cache_touch(st, "a", 1, T0 + SEC(106), SEC(5), NULL, &w),
                     APR_NOTFOUND);
    ck_assert_int_eq(hl_store_cache_touch(st, "b", 1, T0 + SEC(6), 0, NULL, &w),
                     APR_SUCCESS);
    ck_assert_int_eq(w.expires, 0);
    ck_assert_int_eq(get(st, "b", T0 + SEC(100000), &r), APR_SUCCESS);
    ck_assert_int_eq(r.expires, 0);
    /* Conditions hold for touch too; a failed one changes nothing. */
    c = if_match(v);
    ck_assert_int_eq(hl_store_cache_touch(st, "b", 1, T0 + SEC(7), SEC(1), &c, &w),
                     HL_STORE_EPRECONDITION);
    ck_assert_int_eq(get(st, "b", T0 + SEC(100000), &r), APR_SUCCESS);
    ck_assert_int_eq(hl_store_cache_touch(st, "b", 1, T0, -1, NULL, &w), APR_EINVAL);
    ck_assert_int_eq(cput(st, "b", "x", T0, -1, NULL, &w), APR_EINVAL);
    /* Many lifetimes at once expire each at its own time. */
    ck_assert_int_eq(cput(st, "s3", "x", T0, SEC(3), NULL, &w), APR_SUCCESS);
    ck_assert_int_eq(cput(st, "s1", "x", T0, SEC(1), NULL, &w), APR_SUCCESS);
    ck_assert_int_eq(cput(st, "s2", "x", T0, SEC(2), NULL, &w), APR_SUCCESS);
    ck_assert_int_eq(get(st, "s1", T0 + SEC(1), &r), APR_NOTFOUND);
    ck_assert_int_eq(get(st, "s2", T0 + SEC(1), &r), APR_SUCCESS);
    ck_assert_int_eq(get(st, "s3", T0 + SEC(2), &r), APR_SUCCESS);
    ck_assert_int_eq(get(st, "s2", T0 + SEC(2), &r), APR_NOTFOUND);
}
END_TEST

START_TEST(test_add)
{
    STORE(64 * 1024);
    hl_cache_written w;
    hl_cache_result r;
    apr_int64_t init = 10;
    apr_uint64_t v;

    ck_assert_int_eq(hl_store_cache_add(st, "n", 1, 5, NULL, 0, T0, NULL, &w),
                     APR_NOTFOUND);
    ck_assert_int_eq(get(st, "n", T0, &r), APR_NOTFOUND);
    ck_assert_int_eq(hl_store_cache_add(st, "n", 1, 5, &init, SEC(10), T0, NULL, &w),
                     APR_SUCCESS);
    ck_assert_int_eq(w.number, 15);
    ck_assert_int_eq(w.existed, 0);
    ck_assert_int_eq(w.expires, T0 + SEC(10));
    v = version_of(st, "n", T0, "15");
    ck_assert_uint_eq(w.version, v);
    /* An add keeps the lifetime, moves the version, may go negative. */
    ck_assert_int_eq(hl_store_cache_add(st, "n", 1, -20, &init, SEC(99),
                                        T0 + SEC(5), NULL, &w),
                     APR_SUCCESS);
    ck_assert_int_eq(w.number, -5);
    ck_assert_int_eq(w.existed, 1);
    ck_assert_int_eq(w.expires, T0 + SEC(10));
    ck_assert_uint_gt(version_of(st, "n", T0 + SEC(5), "-5"), v);
    /* Not an integer, or an overflow: 409's causes, nothing changed. */
    ck_assert_int_eq(put(st, "t", "abc", T0, 0), APR_SUCCESS);
    v = version_of(st, "t", T0, "abc");
    ck_assert_int_eq(hl_store_cache_add(st, "t", 1, 1, &init, 0, T0, NULL, &w),
                     HL_STORE_ENOTINT);
    ck_assert_uint_eq(version_of(st, "t", T0, "abc"), v);
    ck_assert_int_eq(put(st, "t", " 5", T0, 0), APR_SUCCESS);
    ck_assert_int_eq(hl_store_cache_add(st, "t", 1, 1, NULL, 0, T0, NULL, &w),
                     HL_STORE_ENOTINT);
    ck_assert_int_eq(put(st, "t", "", T0, 0), APR_SUCCESS);
    ck_assert_int_eq(hl_store_cache_add(st, "t", 1, 1, NULL, 0, T0, NULL, &w),
                     HL_STORE_ENOTINT);
    ck_assert_int_eq(put(st, "t", "99999999999999999999", T0, 0), APR_SUCCESS);
    ck_assert_int_eq(hl_store_cache_add(st, "t", 1, 1, NULL, 0, T0, NULL, &w),
                     HL_STORE_ENOTINT);
    ck_assert_int_eq(put(st, "big", "9223372036854775807", T0, 0), APR_SUCCESS);
    v = version_of(st, "big", T0, NULL);
    ck_assert_int_eq(hl_store_cache_add(st, "big", 3, 1, NULL, 0, T0, NULL, &w),
                     HL_STORE_EOVERFLOW);
    ck_assert_uint_eq(version_of(st, "big", T0, "9223372036854775807"), v);
    ck_assert_int_eq(hl_store_cache_add(st, "big", 3, -1, NULL, 0, T0, NULL, &w),
                     APR_SUCCESS);
    ck_assert_int_eq(w.number, APR_INT64_MAX - 1);
    ck_assert_int_eq(put(st, "small", "-9223372036854775808", T0, 0), APR_SUCCESS);
    ck_assert_int_eq(hl_store_cache_add(st, "small", 5, -1, NULL, 0, T0, NULL, &w),
                     HL_STORE_EOVERFLOW);
    ck_assert_int_eq(hl_store_cache_add(st, "small", 5, 0, NULL, 0, T0, NULL, &w),
                     APR_SUCCESS);
    ck_assert_int_eq(w.number, APR_INT64_MIN);
    init = APR_INT64_MAX;
    ck_assert_int_eq(hl_store_cache_add(st, "new", 3, 1, &init, 0, T0, NULL, &w),
                     HL_STORE_EOVERFLOW);
    ck_assert_int_eq(get(st, "new", T0, &r), APR_NOTFOUND);
    /* An expired entry is missing: made anew from init. */
    init = 100;
    ck_assert_int_eq(hl_store_cache_add(st, "n", 1, 1, &init, 0, T0 + SEC(10), NULL, &w),
                     APR_SUCCESS);
    ck_assert_int_eq(w.number, 101);
    ck_assert_int_eq(w.existed, 0);
}
END_TEST

/* The add under If-Match / If-None-Match, judged as for put and in the
 * same step as the add: a refusal tells the current version and leaves
 * the value, the version and the lifetime as they were. */
START_TEST(test_conditional_add)
{
    STORE(64 * 1024);
    hl_cache_written w;
    hl_cache_result r;
    hl_cache_cond c;
    hl_cache_stats before;
    apr_int64_t init = 0;
    apr_uint64_t v, stale;

    ck_assert_int_eq(cput(st, "cnt", "10", T0, SEC(100), NULL, &w), APR_SUCCESS);
    stale = w.version;
    ck_assert_int_eq(hl_store_cache_add(st, "cnt", 3, 1, NULL, 0, T0, NULL, &w),
                     APR_SUCCESS);
    v = w.version;
    /* A stale If-Match: refused, nothing written. */
    c = if_match(stale);
    before = stats_of(st);
    ck_assert_int_eq(hl_store_cache_add(st, "cnt", 3, 5, &init, SEC(1), T0 + 1,
                                        &c, &w),
                     HL_STORE_EPRECONDITION);
    ck_assert_int_eq(w.existed, 1);
    ck_assert_uint_eq(w.version, v);          /* the current one is told */
    ck_assert_int_eq(w.expires, T0 + SEC(100));
    ck_assert_uint_eq(stats_of(st).sets, before.sets);
    ck_assert_int_eq(get(st, "cnt", T0 + 1, &r), APR_SUCCESS);
    ck_assert_uint_eq(r.vlen, 2);
    ck_assert_mem_eq(r.value, "11", 2);
    ck_assert_uint_eq(r.version, v);
    ck_assert_int_eq(r.expires, T0 + SEC(100));
    /* The current version (or *): added, the lifetime kept. */
    c = if_match(v);
    ck_assert_int_eq(hl_store_cache_add(st, "cnt", 3, 5, NULL, 0, T0 + 2, &c, &w),
                     APR_SUCCESS);
    ck_assert_int_eq(w.number, 16);
    ck_assert_int_eq(w.existed, 1);
    ck_assert_int_eq(w.expires, T0 + SEC(100));
    ck_assert_uint_gt(w.version, v);
    v = w.version;
    ck_assert_uint_eq(version_of(st, "cnt", T0 + 2, "16"), v);
    c = if_match(0);
    ck_assert_int_eq(hl_store_cache_add(st, "cnt", 3, 1, NULL, 0, T0 + 3, &c, &w),
                     APR_SUCCESS);
    ck_assert_int_eq(w.number, 17);
    v = w.version;
    /* If-None-Match: * or the current version on an existing entry:
     * refused; a stale one holds. */
    c = if_none_match(0);
    ck_assert_int_eq(hl_store_cache_add(st, "cnt", 3, 1, &init, 0, T0 + 4, &c, &w),
                     HL_STORE_EPRECONDITION);
    ck_assert_uint_eq(w.version, v);
    c = if_none_match(v);
    ck_assert_int_eq(hl_store_cache_add(st, "cnt", 3, 1, NULL, 0, T0 + 4, &c, &w),
                     HL_STORE_EPRECONDITION);
    ck_assert_uint_eq(version_of(st, "cnt", T0 + 4, "17"), v);
    c = if_none_match(stale);
    ck_assert_int_eq(hl_store_cache_add(st, "cnt", 3, 1, NULL, 0, T0 + 5, &c, &w),
                     APR_SUCCESS);
    ck_assert_int_eq(w.number, 18);
    /* If-None-Match: * on a missing entry: created from init. */
    c = if_none_match(0);
    ck_assert_int_eq(hl_store_cache_add(st, "new", 3, 2, &init, SEC(5), T0, &c, &w),
                     APR_SUCCESS);
    ck_assert_int_eq(w.existed, 0);
    ck_assert_int_eq(w.number, 2);
    ck_assert_int_eq(w.expires, T0 + SEC(5));
    ck_assert_uint_eq(version_of(st, "new", T0, "2"), w.version);
    /* If-Match on a missing entry: refused, nothing created. */
    c = if_match(stale);
    ck_assert_int_eq(hl_store_cache_add(st, "gone", 4, 1, &init, 0, T0, &c, &w),
                     HL_STORE_EPRECONDITION);
    ck_assert_int_eq(w.existed, 0);
    ck_assert_uint_eq(w.version, 0);
    c = if_match(0);
    ck_assert_int_eq(hl_store_cache_add(st, "gone", 4, 1, &init, 0, T0, &c, &w),
                     HL_STORE_EPRECONDITION);
    ck_assert_int_eq(get(st, "gone", T0, &r), APR_NOTFOUND);
    /* Without init a missing entry is not found whatever the conditions
     * (as for touch). */
    c = if_none_match(0);
    ck_assert_int_eq(hl_store_cache_add(st, "gone", 4, 1, NULL, 0, T0, &c, &w),
                     APR_NOTFOUND);
    /* The conditions come before the add's own refusals. */
    ck_assert_int_eq(put(st, "t", "abc", T0, 0), APR_SUCCESS);
    c = if_match(stale);
    ck_assert_int_eq(hl_store_cache_add(st, "t", 1, 1, NULL, 0, T0, &c, &w),
                     HL_STORE_EPRECONDITION);
    c = if_match(version_of(st, "t", T0, "abc"));
    ck_assert_int_eq(hl_store_cache_add(st, "t", 1, 1, NULL, 0, T0, &c, &w),
                     HL_STORE_ENOTINT);
    /* An expired entry does not exist for If-None-Match: *. */
    ck_assert_int_eq(cput(st, "old", "7", T0, SEC(1), NULL, &w), APR_SUCCESS);
    c = if_none_match(0);
    init = 100;
    ck_assert_int_eq(hl_store_cache_add(st, "old", 3, 1, &init, 0, T0 + SEC(1),
                                        &c, &w),
                     APR_SUCCESS);
    ck_assert_int_eq(w.existed, 0);
    ck_assert_int_eq(w.number, 101);
}
END_TEST

/* Lists every page from the start; counts how often each key of
 * stable[0..n) (NUL-terminated names) was seen, asserts each page is
 * within limit and holds only keys with prefix. */
static int list_all(hl_store *st, const char *prefix, int limit, apr_time_t now,
                    const char **stable, int n, int *seen, int *pages)
{
    const char *cursor = NULL;
    int total = 0, guard = 0;
    *pages = 0;
    do {
        hl_cache_list_args a;
        hl_cache_list_page page;
        int i, j;
        memset(&a, 0, sizeof(a));
        a.prefix = prefix;
        a.plen = strlen(prefix);
        a.cursor = cursor;
        a.limit = limit;
        a.now = now;
        ck_assert_int_eq(hl_store_cache_list(st, test_pool, &a, &page), APR_SUCCESS);
        ck_assert_int_le(page.n, limit);
        for (i = 0; i < page.n; i++) {
            ck_assert_int_eq(strncmp(page.items[i].key, prefix, strlen(prefix)), 0);
            ck_assert_uint_ne(page.items[i].version, 0);
            for (j = 0; j < n; j++)
                if (strlen(stable[j]) == page.items[i].klen
                    && memcmp(stable[j], page.items[i].key, page.items[i].klen) == 0)
                    seen[j]++;
        }
        total += page.n;
        cursor = page.next_cursor;
        (*pages)++;
        ck_assert_int_lt(++guard, 100000);
    } while (cursor);
    return total;
}

START_TEST(test_list_pages)
{
    STORE(1024 * 1024);
    const char *names[200];
    int seen[200], i, pages, total;
    hl_cache_list_args a;
    hl_cache_list_page page;
    hl_cache_written w;

    for (i = 0; i < 200; i++) {
        names[i] = apr_psprintf(test_pool, "p:%03d", i);
        ck_assert_int_eq(cput(st, names[i], names[i], T0, i < 10 ? SEC(5) : 0,
                              NULL, &w), APR_SUCCESS);
    }
    for (i = 0; i < 50; i++)
        ck_assert_int_eq(put(st, apr_psprintf(test_pool, "q:%d", i), "q", T0, 0),
                         APR_SUCCESS);
    /* Every key once, however the pages fall, even one key a page. */
    memset(seen, 0, sizeof(seen));
    total = list_all(st, "p:", 7, T0, names, 200, seen, &pages);
    ck_assert_int_eq(total, 200);
    for (i = 0; i < 200; i++)
        ck_assert_int_eq(seen[i], 1);
    ck_assert_int_ge(pages, 200 / 7);
    memset(seen, 0, sizeof(seen));
    ck_assert_int_eq(list_all(st, "p:", 1, T0, names, 200, seen, &pages), 200);
    for (i = 0; i < 200; i++)
        ck_assert_int_eq(seen[i], 1);
    ck_assert_int_eq(list_all(st, "", 1000, T0, names, 200, seen, &pages), 250);
    /* Expired entries are not listed. */
    memset(seen, 0, sizeof(seen));
    ck_assert_int_eq(list_all(st, "p:", 50, T0 + SEC(5), names, 200, seen, &pages), 190);
    ck_assert_int_eq(seen[0], 0);
    ck_assert_int_eq(seen[10], 1);
    /* What an item says of its entry. */
    memset(&a, 0, sizeof(a));
    a.prefix = "p:199";
    a.plen = 5;
    a.limit = 10;
    a.now = T0;
    do {
        ck_assert_int_eq(hl_store_cache_list(st, test_pool, &a, &page), APR_SUCCESS);
        a.cursor = page.next_cursor;
    } while (page.n == 0 && a.cursor);
    ck_assert_int_eq(page.n, 1);
    ck_assert_uint_eq(page.items[0].vlen, 5);
    ck_assert_uint_eq(page.items[0].version, version_of(st, "p:199", T0, "p:199"));
    ck_assert_int_eq(page.items[0].expires, 0);
    /* Refused: a limit below 1, a cursor the store did not make. */
    a.cursor = NULL;
    a.limit = 0;
    ck_assert_int_eq(hl_store_cache_list(st, test_pool, &a, &page), APR_EINVAL);
    a.limit = 5;
    a.cursor = "not a cursor";
    ck_assert_int_eq(hl_store_cache_list(st, test_pool, &a, &page), APR_EINVAL);
}
END_TEST

/* Writers insert and delete other keys while pages are listed: every key
 * present throughout is seen. */
typedef struct churner {
    hl_store *st;
    int stop, writes, failures;
} churner;

static void *churn(void *arg)
{
    churner *ch = arg;
    int i = 0;
    while (!__atomic_load_n(&ch->stop, __ATOMIC_ACQUIRE) && i < 200000) {
        char k[32];
        int n = snprintf(k, sizeof(k), "churn:%d", i % 300);
        apr_status_t rv = (i / 300) % 2 == 0
            ? hl_store_cache_set(ch->st, k, (apr_size_t)n, "v", 1, T0, 0, NULL)
            : hl_store_cache_delete(ch->st, k, (apr_size_t)n, T0);
        if (rv != APR_SUCCESS)
            ch->failures++;
        ch->writes++;
        i++;
    }
    return NULL;
}

START_TEST(test_list_while_writing)
{
    STORE(1024 * 1024);
    const char *names[400];
    int seen[400], i, round, pages;
    churner ch[2];
    pthread_t t[2];

    for (i = 0; i < 400; i++) {
        names[i] = apr_psprintf(test_pool, "stay:%d", i);
        ck_assert_int_eq(put(st, names[i], "s", T0, 0), APR_SUCCESS);
    }
    for (i = 0; i < 2; i++) {
        memset(&ch[i], 0, sizeof(ch[i]));
        ch[i].st = st;
        ck_assert_int_eq(pthread_create(&t[i], NULL, churn, &ch[i]), 0);
    }
    for (round = 0; round < 5; round++) {
        memset(seen, 0, sizeof(seen));
        list_all(st, "", 13, T0, names, 400, seen, &pages);
        for (i = 0; i < 400; i++)
            ck_assert_int_ge(seen[i], 1);
    }
    for (i = 0; i < 2; i++) {
        __atomic_store_n(&ch[i].stop, 1, __ATOMIC_RELEASE);
        pthread_join(t[i], NULL);
    }
    /* Nothing was evicted: the stable keys stayed for a reason other than
     * luck, and the writers really wrote. */
    ck_assert_uint_eq(stats_of(st).evictions, 0);
    ck_assert_int_gt(ch[0].writes + ch[1].writes, 0);
}
END_TEST

/* Two threads race If-Match writes on one key: each round, both read the
 * version, then both write on it; exactly one wins. */
#define CAS_ROUNDS 300

typedef struct casser {
    hl_store *st;
    apr_pool_t *pool;            /* its own: pools are not shared by threads */
    pthread_barrier_t *barrier;
    int id;
    char won[CAS_ROUNDS];
    int errors;
} casser;

static void *cas_race(void *arg)
{
    casser *c = arg;
    int round;
    for (round = 0; round < CAS_ROUNDS; round++) {
        hl_cache_result r;
        hl_cache_written w;
        hl_cache_cond cond;
        char v[16];
        pthread_barrier_wait(c->barrier);
        apr_pool_clear(c->pool);
        if (hl_store_cache_get(c->st, c->pool, "cas", 3, T0, &r) != APR_SUCCESS)
            c->errors++;
        pthread_barrier_wait(c->barrier);
        cond = if_match(r.version);
        snprintf(v, sizeof(v), "%d-%d", c->id, round);
        switch (hl_store_cache_put(c->st, "cas", 3, v, strlen(v), T0, 0, &cond, &w)) {
        case APR_SUCCESS:            c->won[round] = 1; break;
        case HL_STORE_EPRECONDITION: c->won[round] = 0; break;
        default:                     c->errors++;
        }
        pthread_barrier_wait(c->barrier);
    }
    return NULL;
}

START_TEST(test_if_match_race_has_one_winner)
{
    STORE(64 * 1024);
    pthread_barrier_t barrier;
    casser c[2];
    pthread_t t[2];
    int i, round;

    ck_assert_int_eq(put(st, "cas", "start", T0, 0), APR_SUCCESS);
    ck_assert_int_eq(pthread_barrier_init(&barrier, NULL, 2), 0);
    for (i = 0; i < 2; i++) {
        memset(&c[i], 0, sizeof(c[i]));
        c[i].st = st;
        c[i].barrier = &barrier;
        c[i].id = i;
        ck_assert_int_eq(apr_pool_create(&c[i].pool, test_pool), APR_SUCCESS);
        ck_assert_int_eq(pthread_create(&t[i], NULL, cas_race, &c[i]), 0);
    }
    for (i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&barrier);
    for (i = 0; i < 2; i++)
        ck_assert_int_eq(c[i].errors, 0);
    for (round = 0; round < CAS_ROUNDS; round++) {
        ck_assert_int_eq(c[0].won[round] + c[1].won[round], 1);
    }
    /* The value is the last round's winner's. */
    round = CAS_ROUNDS - 1;
    version_of(st, "cas", T0, apr_psprintf(test_pool, "%d-%d",
                                           c[1].won[round], round));
}
END_TEST

#define ADDERS 8
#define ADDS   2000

typedef struct adder {
    hl_store *st;
    apr_int64_t got[ADDS];
    int errors;
} adder;

static void *add_many(void *arg)
{
    adder *a = arg;
    apr_int64_t zero = 0;
    int i;
    for (i = 0; i < ADDS; i++) {
        hl_cache_written w;
        if (hl_store_cache_add(a->st, "sum", 3, 1, &zero, 0, T0, NULL, &w) != APR_SUCCESS)
            a->errors++;
        a->got[i] = w.number;
    }
    return NULL;
}

static int cmp_i64(const void *x, const void *y)
{
    apr_int64_t a = *(const apr_int64_t *)x, b = *(const apr_int64_t *)y;
    return a < b ? -1 : a > b;
}

START_TEST(test_concurrent_adds_sum_exactly)
{
    STORE(64 * 1024);
    adder *a = calloc(ADDERS, sizeof(*a));
    apr_int64_t *all = calloc(ADDERS * ADDS, sizeof(*all));
    pthread_t t[ADDERS];
    int i, j;

    for (i = 0; i < ADDERS; i++) {
        a[i].st = st;
        ck_assert_int_eq(pthread_create(&t[i], NULL, add_many, &a[i]), 0);
    }
    for (i = 0; i < ADDERS; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(a[i].errors, 0);
        for (j = 0; j < ADDS; j++)
            all[i * ADDS + j] = a[i].got[j];
    }
    version_of(st, "sum", T0, apr_psprintf(test_pool, "%d", ADDERS * ADDS));
    /* Each add saw its own value: 1..N, each once. */
    qsort(all, ADDERS * ADDS, sizeof(*all), cmp_i64);
    for (i = 0; i < ADDERS * ADDS; i++)
        ck_assert_int_eq(all[i], i + 1);
    free(all);
    free(a);
}
END_TEST

/* A backend without an operation leaves it NULL: the wrapper says so. */
START_TEST(test_missing_operation_is_enotimpl)
{
    STORE(64 * 1024);
    hl_store_ops ops = *st->ops;
    hl_store fake = *st;
    hl_cache_written w;
    hl_cache_list_args a;
    hl_cache_list_page page;
    apr_int64_t init = 0;

    ops.cache_put = NULL;
    ops.cache_remove = NULL;
    ops.cache_touch = NULL;
    ops.cache_add = NULL;
    ops.cache_list = NULL;
    fake.ops = &ops;
    memset(&a, 0, sizeof(a));
    a.limit = 1;
    ck_assert_int_eq(hl_store_cache_put(&fake, "k", 1, "v", 1, T0, 0, NULL, &w),
                     APR_ENOTIMPL);
    ck_assert_int_eq(hl_store_cache_remove(&fake, "k", 1, T0, NULL, &w), APR_ENOTIMPL);
    ck_assert_int_eq(hl_store_cache_touch(&fake, "k", 1, T0, 0, NULL, &w), APR_ENOTIMPL);
    ck_assert_int_eq(hl_store_cache_add(&fake, "k", 1, 1, &init, 0, T0, NULL, &w),
                     APR_ENOTIMPL);
    ck_assert_int_eq(hl_store_cache_list(&fake, test_pool, &a, &page), APR_ENOTIMPL);
    ck_assert_int_eq(get(st, "k", T0, &(hl_cache_result){0}), APR_NOTFOUND);
}
END_TEST

Suite *store_suite(void)
{
    Suite *s = suite_create("store contract");
    TCase *tc = tcase_create("every backend");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_counter_exact_from_threads, 0, NBACKENDS);
    tcase_add_loop_test(tc, test_history_order_and_wraparound, 0, NBACKENDS);
    tcase_add_loop_test(tc, test_get_set_delete, 0, NBACKENDS);
    tcase_add_loop_test(tc, test_ttl_with_injected_clock, 0, NBACKENDS);
    tcase_add_loop_test(tc, test_eviction_order_and_counts, 0, NBACKENDS);
    tcase_add_loop_test(tc, test_statistics, 0, NBACKENDS);
    tcase_add_loop_test(tc, test_binary_keys_and_values, 0, NBACKENDS);
    tcase_add_loop_test(tc, test_lengths_at_and_past_the_limits, 0, NBACKENDS);
    tcase_add_loop_test(tc, test_value_larger_than_the_cache, 0, NBACKENDS);
    tcase_add_loop_test(tc, test_usage, 0, NBACKENDS);
    tcase_add_loop_test(tc, test_persist_file_or_refusal, 0, NBACKENDS);
    tcase_add_test(tc, test_spec_checked);
    tcase_add_test(tc, test_shm_takes_memory_as_it_fills);
    tcase_add_loop_test(tc, test_versions_change_on_every_write, 0, NBACKENDS);
    tcase_add_loop_test(tc, test_conditional_writes, 0, NBACKENDS);
    tcase_add_loop_test(tc, test_per_key_ttl_and_touch, 0, NBACKENDS);
    tcase_add_loop_test(tc, test_add, 0, NBACKENDS);
    tcase_add_loop_test(tc, test_conditional_add, 0, NBACKENDS);
    tcase_add_loop_test(tc, test_list_pages, 0, NBACKENDS);
    tcase_add_loop_test(tc, test_list_while_writing, 0, NBACKENDS);
    tcase_add_loop_test(tc, test_if_match_race_has_one_winner, 0, NBACKENDS);
    tcase_add_loop_test(tc, test_concurrent_adds_sum_exactly, 0, NBACKENDS);
    tcase_add_loop_test(tc, test_missing_operation_is_enotimpl, 0, NBACKENDS);
    suite_add_tcase(s, tc);
    return s;
}
