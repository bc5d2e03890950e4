/* The memory benchmark: checksums against the formula for both allocation
 * models, measured timings, the query-string parser, the JSON answer. */
#include "check_hl.h"
#include "hl_membench.h"

#include <apr_thread_proc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* S x sum over i < N of (i mod 256), term by term. */
static apr_uint64_t formula(apr_uint64_t n, apr_uint64_t s)
{
    apr_uint64_t i, sum = 0;
    for (i = 0; i < n; i++)
        sum += i % 256;
    return sum * s;
}

static hl_membench_result run(apr_uint64_t n, apr_uint64_t s)
{
    hl_membench_result r;
    ck_assert_int_eq(hl_membench_run_both(test_pool, n, s, &r), APR_SUCCESS);
    return r;
}

static void assert_measured(const hl_membench_run *run)
{
    ck_assert(run->allocation_us >= 0);
    ck_assert(run->access_us >= 0);
    ck_assert(run->cleanup_us >= 0);
}

START_TEST(test_defaults_checksum)
{
    hl_membench_result r = run(10000, 1024);
    ck_assert_uint_eq(formula(10000, 1024), 1303633920ull);
    ck_assert_uint_eq(r.pool.checksum, 1303633920ull);
    ck_assert_uint_eq(r.heap.checksum, 1303633920ull);
    ck_assert_uint_eq(r.allocations, 10000);
    ck_assert_uint_eq(r.size, 1024);
    assert_measured(&r.pool);
    assert_measured(&r.heap);
    /* Ten million bytes are filled and read: that takes measurable time. */
    ck_assert(r.pool.access_us > 0);
    ck_assert(r.heap.access_us > 0);
}
END_TEST

START_TEST(test_small_against_formula)
{
    static const apr_uint64_t cases[][2] = {
        { 1, 1 }, { 2, 1 }, { 255, 3 }, { 256, 3 }, { 257, 5 }, { 513, 1 },
        { 1000, 7 }, { 3, 1048576 }, { 1000000, 1 },
    };
    apr_size_t i;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hl_membench_result r = run(cases[i][0], cases[i][1]);
        apr_uint64_t want = formula(cases[i][0], cases[i][1]);
        ck_assert_uint_eq(r.pool.checksum, want);
        ck_assert_uint_eq(r.heap.checksum, want);
        assert_measured(&r.pool);
        assert_measured(&r.heap);
    }
}
END_TEST

START_TEST(test_run_rejects_limits)
{
    hl_membench_result r;
    ck_assert_int_eq(hl_membench_run_both(test_pool, 0, 1024, &r), APR_EINVAL);
    ck_assert_int_eq(hl_membench_run_both(test_pool, 10, 0, &r), APR_EINVAL);
    ck_assert_int_eq(hl_membench_run_both(test_pool, 1000001, 1, &r), APR_EINVAL);
    ck_assert_int_eq(hl_membench_run_both(test_pool, 1, 1048577, &r), APR_EINVAL);
    ck_assert_int_eq(hl_membench_run_both(test_pool, 257, 1048576, &r), APR_EINVAL);
}
END_TEST

/* This process's resident set, in bytes. */
static apr_uint64_t rss_bytes(void)
{
    unsigned long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%lu %lu", &size, &resident), 2);
    fclose(f);
    return (apr_uint64_t)resident * (apr_uint64_t)sysconf(_SC_PAGESIZE);
}

typedef struct {
    apr_status_t rv;
    apr_uint64_t before, after;     /* resident bytes around the run */
} thread_run;

/* As a worker thread runs it: from a request pool of the process's
 * allocator, measured while the thread lives on (httpd's do). */
static void *APR_THREAD_FUNC bench_in_thread(apr_thread_t *t, void *data)
{
    thread_run *tr = data;
    apr_pool_t *p;
    hl_membench_result r;
    apr_pool_create(&p, test_pool);
    tr->before = rss_bytes();
    tr->rv = hl_membench_run_both(p, 1000000, 200, &r);
    apr_pool_destroy(p);
    tr->after = rss_bytes();
    (void)t;
    return NULL;
}

/* A worker thread of a threaded MPM: its 200 MB of blocks go back to
 * the system when the run ends, not only to that thread's malloc arena.
 * (ASan's allocator and valgrind's keep freed memory by design.) */
START_TEST(test_a_thread_gives_its_run_back)
{
    apr_thread_t *th;
    apr_status_t trv;
    thread_run tr = { APR_EGENERAL, 0, 0 };

    if (!test_allocator_is_plain())
        return;
    ck_assert_int_eq(apr_thread_create(&th, NULL, bench_in_thread, &tr, test_pool),
                     APR_SUCCESS);
    apr_thread_join(&trv, th);
    ck_assert_int_eq(tr.rv, APR_SUCCESS);
    ck_assert_msg(tr.after < tr.before + 32 * 1024 * 1024,
                  "%" APR_UINT64_T_FMT " MiB resident after the run, %"
                  APR_UINT64_T_FMT " MiB before", tr.after >> 20, tr.before >> 20);
}
END_TEST

static void assert_parses(const char *args, apr_uint64_t n, apr_uint64_t s)
{
    apr_uint64_t gn = 0, gs = 0;
    const char *err = "unset";
    ck_assert_msg(hl_membench_parse_query(test_pool, args, &gn, &gs, &err)
                  == APR_SUCCESS, "'%s' rejected: %s", args, err);
    ck_assert_ptr_null(err);
    ck_assert_uint_eq(gn, n);
    ck_assert_uint_eq(gs, s);
}

/* Rejected, with a message containing want. */
static void assert_rejects(const char *args, const char *want)
{
    apr_uint64_t gn = 77, gs = 77;
    const char *err = NULL;
    ck_assert_msg(hl_membench_parse_query(test_pool, args, &gn, &gs, &err)
                  == APR_EINVAL, "'%s' accepted", args);
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strstr(err, want) != NULL, "'%s': message '%s' lacks '%s'",
                  args, err, want);
    ck_assert_uint_eq(gn, 77);          /* outputs untouched */
    ck_assert_uint_eq(gs, 77);
}

START_TEST(test_query_accepts)
{
    assert_parses(NULL, 10000, 1024);
    assert_parses("", 10000, 1024);
    assert_parses("allocations=5", 5, 1024);
    assert_parses("size=7", 10000, 7);
    assert_parses("size=7&allocations=5", 5, 7);
    assert_parses("allocations=007&size=1", 7, 1);
    assert_parses("allocations=1000000&size=268", 1000000, 268);
    assert_parses("allocations=256&size=1048576", 256, 1048576);  /* 256 MiB */
    assert_parses("allocations=1&size=1", 1, 1);
}
END_TEST

START_TEST(test_query_rejects)
{
    assert_rejects("allocations=0", "allocations must be");
    assert_rejects("allocations=1000001", "1 to 1000000");
    assert_rejects("size=0", "size must be");
    assert_rejects("size=1048577", "size must be");
    assert_rejects("allocations=abc", "allocations must be");
    assert_rejects("allocations=", "allocations must be");
    assert_rejects("allocations", "allocations must be");
    assert_rejects("allocations=-1", "allocations must be");
    assert_rejects("allocations=+1", "allocations must be");
    assert_rejects("allocations=1.5", "allocations must be");
    assert_rejects("allocations= 1", "allocations must be");
    assert_rejects("size=1 ", "size must be");
    assert_rejects("allocations=%31", "allocations must be");
    assert_rejects("allocations=0x10", "allocations must be");
    assert_rejects("allocations=99999999999999999999999999", "allocations must be");
    assert_rejects("size=18446744073709551617", "size must be");
    assert_rejects("allocations=1000000&size=1048576", "at most 268435456");
    assert_rejects("allocations=257&size=1048576", "at most 268435456");
    assert_rejects("allocations=5&allocations=6", "allocations given more than once");
    assert_rejects("size=1&size=1", "size given more than once");
    assert_rejects("foo=1", "unknown parameter 'foo'");
    assert_rejects("ALLOCATIONS=5", "unknown parameter 'ALLOCATIONS'");
    assert_rejects("allocations=5&x%22=1", "unknown parameter:");
    assert_rejects("=5", "unknown parameter:");
    assert_rejects("&", "empty parameter");
    assert_rejects("allocations=5&", "empty parameter");
    assert_rejects("allocations=5&&size=3", "empty parameter");
    assert_rejects("allocations=5;size=3", "allocations must be");
}
END_TEST

static double number(json_object *o, const char *key)
{
    json_object *v = NULL;
    ck_assert_msg(json_object_object_get_ex(o, key, &v), "missing %s", key);
    ck_assert_msg(json_object_is_type(v, json_type_double)
                  || json_object_is_type(v, json_type_int), "%s not a number", key);
    return json_object_get_double(v);
}

static void assert_timings(json_object *o)
{
    static const char *phases[] = { "allocation", "access", "cleanup" };
    int i;
    for (i = 0; i < 3; i++) {
        char ms[48], us[48];
        snprintf(ms, sizeof(ms), "%s_time_ms", phases[i]);
        snprintf(us, sizeof(us), "%s_time_us", phases[i]);
        ck_assert(number(o, ms) >= 0);
        ck_assert(number(o, us) >= 0);
        /* The same measurement in two units, printed to the nanosecond. */
        ck_assert(number(o, us) / 1000.0 - number(o, ms) < 0.000002);
        ck_assert(number(o, ms) - number(o, us) / 1000.0 < 0.000002);
    }
}

START_TEST(test_json_shape)
{
    hl_membench_result r = run(10000, 1536);
    json_object *o = JSON_OF(hl_json_membench(test_w, &r, NULL, 0));
    json_object *heap, *cmp;

    ck_assert_uint_eq(json_u64(o, "allocations"), 10000);
    ck_assert(number(o, "allocation_size_kb") == 1.5);
    ck_assert_uint_eq(json_u64(o, "allocation_size_bytes"), 1536);
    ck_assert(number(o, "total_memory_mb") == 10000.0 * 1536 / 1048576);
    ck_assert_uint_eq(json_u64(o, "checksum"),
                      formula(10000, 1536));
    ck_assert_str_eq(json_object_get_string(json_field(o, "memory_model", json_type_string)),
                     "apr_pool_raii");
    assert_timings(o);
    heap = json_field(o, "malloc", json_type_object);
    assert_timings(heap);
    ck_assert_uint_eq(json_u64(heap, "checksum"),
                      formula(10000, 1536));
    ck_assert_str_eq(json_object_get_string(json_field(heap, "memory_model", json_type_string)),
                     "malloc_free");
    cmp = json_field(o, "comparison", json_type_object);
    ck_assert(number(cmp, "access_ratio") > 0);
    ck_assert(number(cmp, "total_ratio") > 0);
    ck_assert(json_object_object_get_ex(cmp, "allocation_ratio", NULL));
    ck_assert(json_object_object_get_ex(cmp, "cleanup_ratio", NULL));
    json_field(cmp, "faster", json_type_string);
    json_object_put(o);
}
END_TEST

/* A zero pool time gives null ratios, not a division by zero. */
START_TEST(test_json_zero_times)
{
    hl_membench_result r;
    json_object *o, *cmp;
    memset(&r, 0, sizeof(r));
    r.allocations = 1;
    r.size = 1;
    r.heap.access_us = 2.5;
    o = JSON_OF(hl_json_membench(test_w, &r, NULL, 0));
    cmp = json_field(o, "comparison", json_type_object);
    json_field(cmp, "allocation_ratio", json_type_null);
    json_field(cmp, "total_ratio", json_type_null);
    ck_assert(number(json_field(o, "malloc", json_type_object), "access_time_us") == 2.5);
    ck_assert(!json_object_object_get_ex(o, "concurrency", NULL));
    json_object_put(o);
}
END_TEST

/* With the runs limiter's figures, they come as "concurrency". */
START_TEST(test_json_concurrency)
{
    hl_membench_result r;
    hl_limiter_stats ls;
    json_object *o, *c;
    memset(&r, 0, sizeof(r));
    memset(&ls, 0, sizeof(ls));
    ls.in_flight = 1;
    ls.peak_in_flight = 2;
    ls.rejected = 5;
    o = JSON_OF(hl_json_membench(test_w, &r, &ls, 2));
    c = json_field(o, "concurrency", json_type_object);
    ck_assert_uint_eq(json_u64(c, "in_flight"), 1);
    ck_assert_uint_eq(json_u64(c, "max_concurrent"), 2);
    ck_assert_uint_eq(json_u64(c, "peak_in_flight"), 2);
    ck_assert_uint_eq(json_u64(c, "rejected"), 5);
    json_object_put(o);
}
END_TEST

Suite *membench_suite(void)
{
    Suite *s = suite_create("membench");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_defaults_checksum);
    tcase_add_test(tc, test_small_against_formula);
    tcase_add_test(tc, test_run_rejects_limits);
    tcase_add_test(tc, test_a_thread_gives_its_run_back);
    tcase_add_test(tc, test_query_accepts);
    tcase_add_test(tc, test_query_rejects);
    tcase_add_test(tc, test_json_shape);
    tcase_add_test(tc, test_json_zero_times);
    tcase_add_test(tc, test_json_concurrency);
    suite_add_tcase(s, tc);
    return s;
}
