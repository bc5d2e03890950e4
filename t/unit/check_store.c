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

#include <apr_file_io.h>
#include <apr_global_mutex.h>
#include <apr_strings.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0 ((apr_time_t)1700000000 * APR_USEC_PER_SEC)
#define SEC(n) ((apr_interval_time_t)(n) * APR_USEC_PER_SEC)
#define HISTORY   5
#define MAX_KEY   32
#define MAX_VALUE 4096

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
};
#define NBACKENDS ((int)(sizeof(backends) / sizeof(backends[0])))

static hl_store *open_store(int which, apr_size_t cache_bytes)
{
    hl_store_open_args a;
    apr_global_mutex_t *mutex;
    const char *origin = NULL;
    hl_store *st;

    memset(&a, 0, sizeof(a));
    a.spec = backends[which].spec();
    if (!a.spec)
        return NULL;
    ck_assert_int_eq(apr_global_mutex_create(&mutex, NULL, APR_LOCK_DEFAULT,
                                             test_pool), APR_SUCCESS);
    a.sizes.history_capacity = HISTORY;
    a.sizes.cache_bytes = cache_bytes;
    a.sizes.cache_max_key = MAX_KEY;
    a.sizes.cache_max_value = MAX_VALUE;
    a.mutex = mutex;
    a.pool = test_pool;
    ck_assert_int_eq(hl_store_open(&st, &a, &origin), APR_SUCCESS);
    ck_assert_ptr_nonnull(origin);
    ck_assert_int_eq(hl_store_child_init(st, test_pool), APR_SUCCESS);
    return st;
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
} incrementer;

static void *increment_many(void *arg)
{
    incrementer *in = arg;
    int i;
    for (i = 0; i < EACH; i++)
        if (hl_store_counter_increment(in->st, in->pid, &in->last) != APR_SUCCESS)
            in->failures++;
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
        ck_assert_int_eq(pthread_create(&t[i], NULL, increment_many, &in[i]), 0);
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(in[i].failures, 0);
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

/* A value that can never fit the cache is refused, and the cache keeps
 * what it had. */
START_TEST(test_value_larger_than_the_cache)
{
    hl_store_open_args a;
    apr_global_mutex_t *mutex;
    const char *origin;
    hl_store *st;
    apr_size_t big = 128 * 1024;
    char *value = apr_pcalloc(test_pool, big);

    memset(&a, 0, sizeof(a));
    a.spec = backends[_i].spec();
    if (!a.spec)
        return;
    ck_assert_int_eq(apr_global_mutex_create(&mutex, NULL, APR_LOCK_DEFAULT,
                                             test_pool), APR_SUCCESS);
    a.sizes.history_capacity = HISTORY;
    a.sizes.cache_bytes = 64 * 1024;
    a.sizes.cache_max_key = MAX_KEY;
    a.sizes.cache_max_value = big;
    a.mutex = mutex;
    a.pool = test_pool;
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
}
END_TEST

/* HyperlanePersistFile: a backend either keeps a snapshot file (what a
 * store saved, a new store of the same spec loads back) or refuses it,
 * saying why, and its stores answer APR_ENOTIMPL. */
START_TEST(test_persist_file_or_refusal)
{
    STORE(64 * 1024);
    const char *why = NULL, *tmp, *path;
    hl_persist_report rep;
    apr_time_t now = apr_time_now();
    hl_counter_snapshot snap;
    hl_cache_result r;
    apr_uint64_t v;
    int i;

    ck_assert_int_eq(apr_temp_dir_get(&tmp, test_pool), APR_SUCCESS);
    path = apr_psprintf(test_pool, "%s/hl-contract-%ld-%d.snapshot", tmp,
                        (long)getpid(), _i);
    for (i = 0; i < 7; i++)
        ck_assert_int_eq(hl_store_counter_increment(st, 31, &v), APR_SUCCESS);
    ck_assert_int_eq(hl_store_cache_set(st, "k\0\xff", 3, "v\0", 2, now,
                                        SEC(600), NULL), APR_SUCCESS);
    if (hl_store_persist_check(test_pool, backends[_i].spec(), &why)
        != APR_SUCCESS) {
        ck_assert_ptr_nonnull(why);
        ck_assert_ptr_nonnull(strstr(why, backends[_i].name));
        ck_assert_int_eq(hl_store_persist_save(st, path, now, test_pool, &rep),
                         APR_ENOTIMPL);
        ck_assert_int_eq(hl_store_persist_load(st, path, now, test_pool, &rep),
                         APR_ENOTIMPL);
        return;
    }
    ck_assert_int_eq(hl_store_persist_save(st, path, now, test_pool, &rep),
                     APR_SUCCESS);
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
        ck_assert_uint_eq(r.access_count, 1);
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
    suite_add_tcase(s, tc);
    return s;
}
