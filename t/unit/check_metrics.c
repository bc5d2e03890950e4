/* This host's metrics (hl_metrics), the Prometheus text writer (hl_promw)
 * and what the metrics endpoint and server-status show (hl_metrics_report):
 * atomic adds from many threads and processes sum exactly, buckets and
 * status codes land where they belong, store errors by kind, the segment
 * kept across a restart, the writer's escaping, and the exposition of a
 * real store (and of one that is down) parsed back. */
#include "check_hl.h"
#include "hl_metrics.h"
#include "hl_metrics_report.h"
#include "hl_promw.h"
#include "hl_store.h"

#include <apr_hash.h>
#include <apr_strings.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static hl_metrics *metrics_new(void)
{
    hl_metrics *m = NULL;
    int kept = -1;
    ck_assert_int_eq(hl_metrics_open(&m, NULL, test_pool, &kept), APR_SUCCESS);
    ck_assert_int_eq(kept, 0);
    return m;
}

#define THREADS 8
#define PER_THREAD 20000

typedef struct worker {
    hl_metrics *m;
    int id;
} worker;

/* Each thread records PER_THREAD requests spread over three endpoints,
 * two codes and every bucket, with durations the test can add up. */
static apr_interval_time_t duration_of(int i)
{
    return (apr_interval_time_t)(i % 19) * 700;
}

static hl_endpoint endpoint_of(int i)
{
    static const hl_endpoint eps[3] = {
        HL_EP_COUNTER_INCREMENT, HL_EP_CACHE_KEY, HL_EP_NONE
    };
    return eps[i % 3];
}

static void *record_many(void *arg)
{
    worker *w = arg;
    int i;
    for (i = 0; i < PER_THREAD; i++)
        hl_metrics_record(w->m, endpoint_of(i), i % 2 ? 200 : 404,
                          duration_of(i));
    for (i = 0; i < 1000; i++) {
        hl_metrics_count_increment(w->m);
        hl_metrics_count_store_error(w->m, APR_TIMEUP);
    }
    return NULL;
}

/* What PER_THREAD requests of record_many add, times n recorders. */
static void check_sums(hl_metrics *m, int n)
{
    apr_uint64_t want_req[3][2] = { { 0 } }, want_sum[3] = { 0 };
    hl_metrics_histogram h;
    int i, e;

    for (i = 0; i < PER_THREAD; i++) {
        want_req[i % 3][i % 2] += (apr_uint64_t)n;
        want_sum[i % 3] += (apr_uint64_t)duration_of(i) * (apr_uint64_t)n;
    }
    for (e = 0; e < 3; e++) {
        hl_endpoint ep = endpoint_of(e);
        ck_assert_uint_eq(hl_metrics_requests(m, ep, 404), want_req[e][0]);
        ck_assert_uint_eq(hl_metrics_requests(m, ep, 200), want_req[e][1]);
        ck_assert_int_eq(hl_metrics_histogram_read(m, ep, &h), APR_SUCCESS);
        ck_assert_uint_eq(h.count, want_req[e][0] + want_req[e][1]);
        ck_assert_uint_eq(h.sum_us, want_sum[e]);
    }
    ck_assert_uint_eq(hl_metrics_requests(m, HL_EP_COUNTER_STATS, 200), 0);
    ck_assert_uint_eq(hl_metrics_increments(m), 1000u * (apr_uint64_t)n);
    ck_assert_uint_eq(hl_metrics_store_errors(m, HL_STORE_ERROR_TIMEOUT),
                      1000u * (apr_uint64_t)n);
}

START_TEST(test_threads_sum_exactly)
{
    hl_metrics *m = metrics_new();
    pthread_t t[THREADS];
    worker w[THREADS];
    int i;
    for (i = 0; i < THREADS; i++) {
        w[i].m = m;
        w[i].id = i;
        ck_assert_int_eq(pthread_create(&t[i], NULL, record_many, &w[i]), 0);
    }
    for (i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    check_sums(m, THREADS);
}
END_TEST

START_TEST(test_processes_sum_exactly)
{
    hl_metrics *m = metrics_new();
    pid_t kids[4];
    int i, status;
    for (i = 0; i < 4; i++) {
        kids[i] = fork();
        ck_assert_int_ge(kids[i], 0);
        if (kids[i] == 0) {
            worker w = { m, i };
            record_many(&w);
            _exit(0);
        }
    }
    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(waitpid(kids[i], &status, 0), kids[i]);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    check_sums(m, 4);
}
END_TEST

START_TEST(test_buckets_and_codes)
{
    hl_metrics *m = metrics_new();
    hl_metrics_histogram h;
    int i;

    /* A bucket holds what is at most its bound (Prometheus's le). */
    hl_metrics_record(m, HL_EP_INDEX, 200, 0);
    hl_metrics_record(m, HL_EP_INDEX, 200, 25);
    hl_metrics_record(m, HL_EP_INDEX, 200, 26);
    hl_metrics_record(m, HL_EP_INDEX, 200, 10000000);
    hl_metrics_record(m, HL_EP_INDEX, 200, 10000001);
    hl_metrics_record(m, HL_EP_INDEX, 200, -5);      /* a clock step back */
    hl_metrics_histogram_read(m, HL_EP_INDEX, &h);
    ck_assert_uint_eq(h.bucket[0], 3);
    ck_assert_uint_eq(h.bucket[1], 1);
    ck_assert_uint_eq(h.bucket[HL_METRICS_BUCKETS - 1], 1);
    ck_assert_uint_eq(h.bucket[HL_METRICS_BUCKETS], 1);
    ck_assert_uint_eq(h.count, 6);
    ck_assert_uint_eq(h.sum_us, 25 + 26 + 10000000 + 10000001);
    for (i = 1; i < HL_METRICS_BUCKETS; i++)
        ck_assert_uint_gt(hl_metrics_bound_us(i), hl_metrics_bound_us(i - 1));

    /* Codes by number; anything outside 100..599 in index 0. */
    hl_metrics_record(m, HL_EP_CACHE_STATS, 100, 1);
    hl_metrics_record(m, HL_EP_CACHE_STATS, 599, 1);
    hl_metrics_record(m, HL_EP_CACHE_STATS, 99, 1);
    hl_metrics_record(m, HL_EP_CACHE_STATS, 600, 1);
    hl_metrics_record(m, HL_EP_CACHE_STATS, -1, 1);
    ck_assert_uint_eq(hl_metrics_requests(m, HL_EP_CACHE_STATS, 100), 1);
    ck_assert_uint_eq(hl_metrics_requests(m, HL_EP_CACHE_STATS, 599), 1);
    ck_assert_uint_eq(hl_metrics_requests(m, HL_EP_CACHE_STATS, 0), 3);
    ck_assert_int_eq(hl_metrics_record(m, HL_EP_COUNT, 200, 1), APR_EINVAL);
    ck_assert_int_eq(hl_metrics_histogram_read(m, HL_EP_COUNT, &h), APR_EINVAL);

    ck_assert_str_eq(hl_metrics_endpoint_name(HL_EP_NONE), "none");
    ck_assert_str_eq(hl_metrics_endpoint_name(HL_EP_INDEX), "index");
    ck_assert_str_eq(hl_metrics_endpoint_name(HL_EP_COUNTER_INCREMENT),
                     "counter/increment");
    ck_assert_str_eq(hl_metrics_endpoint_name(HL_EP_CACHE_KEY), "cache/{key}");
    ck_assert_str_eq(hl_metrics_endpoint_name(HL_EP_METRICS), "metrics");
}
END_TEST

START_TEST(test_store_error_kinds)
{
    hl_metrics *m = metrics_new();
    ck_assert_int_eq(hl_metrics_count_store_error(m, APR_ECONNREFUSED), APR_SUCCESS);
    ck_assert_int_eq(hl_metrics_count_store_error(m, APR_TIMEUP), APR_SUCCESS);
    ck_assert_int_eq(hl_metrics_count_store_error(m, APR_TIMEUP), APR_SUCCESS);
    ck_assert_int_eq(hl_metrics_count_store_error(m, APR_EACCES), APR_SUCCESS);
    ck_assert_int_eq(hl_metrics_count_store_error(m, APR_EGENERAL), APR_SUCCESS);
    ck_assert_int_eq(hl_metrics_count_store_error(m, APR_ENOMEM), APR_SUCCESS);
    ck_assert_int_eq(hl_metrics_count_store_error(m, APR_SUCCESS), APR_EINVAL);
    ck_assert_uint_eq(hl_metrics_store_errors(m, HL_STORE_ERROR_UNAVAILABLE), 1);
    ck_assert_uint_eq(hl_metrics_store_errors(m, HL_STORE_ERROR_TIMEOUT), 2);
    ck_assert_uint_eq(hl_metrics_store_errors(m, HL_STORE_ERROR_REFUSED), 1);
    ck_assert_uint_eq(hl_metrics_store_errors(m, HL_STORE_ERROR_OTHER), 2);
    ck_assert_str_eq(hl_metrics_error_kind_name(HL_STORE_ERROR_UNAVAILABLE),
                     "unavailable");
    ck_assert_str_eq(hl_metrics_error_kind_name(HL_STORE_ERROR_REFUSED), "refused");
}
END_TEST

START_TEST(test_kept_across_restart)
{
    hl_metrics *m = metrics_new(), *again = NULL;
    int kept = -1;
    hl_metrics_record(m, HL_EP_COUNTER_STATS, 200, 10);
    ck_assert_int_eq(hl_metrics_open(&again, m, test_pool, &kept), APR_SUCCESS);
    ck_assert_int_eq(kept, 1);
    ck_assert_ptr_eq(again, m);
    ck_assert_uint_eq(hl_metrics_requests(again, HL_EP_COUNTER_STATS, 200), 1);
}
END_TEST

/* A build whose endpoints (or bounds) differ, in the same numbers: its
 * counts would read under other labels, so the segment is replaced. */
START_TEST(test_replaced_for_another_layout)
{
    hl_metrics *m = metrics_new(), *again = NULL;
    int kept = -1;
    hl_metrics_record(m, HL_EP_COUNTER_STATS, 200, 10);
    hl_metrics_test_other_layout(m);
    ck_assert_int_eq(hl_metrics_open(&again, m, test_pool, &kept), APR_SUCCESS);
    ck_assert_int_eq(kept, 0);
    ck_assert_ptr_ne(again, m);
    ck_assert_uint_eq(hl_metrics_requests(again, HL_EP_COUNTER_STATS, 200), 0);
}
END_TEST

/* ---- the writer --------------------------------------------------------- */

static const char *written(hl_promw *w)
{
    apr_size_t len;
    const char *s = hl_promw_text(w, &len);
    ck_assert_uint_eq(strlen(s), len);
    return s;
}

START_TEST(test_writer_escaping)
{
    hl_promw w;
    char sec[HL_PROMW_SECONDS_SIZE];

    hl_promw_init(&w, test_pool);
    hl_promw_family(&w, "x_total", "counter", "a \\ b\nc \"q\"");
    hl_promw_sample(&w, "x_total");
    hl_promw_label(&w, "a", "back\\slash \"quoted\"\nnext");
    hl_promw_label(&w, "b", "bad \xff byte");
    hl_promw_value_u64(&w, APR_UINT64_MAX);
    hl_promw_sample(&w, "y");
    hl_promw_value_text(&w, "+Inf");
    ck_assert_str_eq(written(&w),
        "# HELP x_total a \\\\ b\\nc \"q\"\n"
        "# TYPE x_total counter\n"
        "x_total{a=\"back\\\\slash \\\"quoted\\\"\\nnext\",b=\"bad \xef\xbf\xbd byte\"}"
        " 18446744073709551615\n"
        "y +Inf\n");

    ck_assert_str_eq(hl_promw_seconds(sec, 0), "0");
    ck_assert_str_eq(hl_promw_seconds(sec, 1), "0.000001");
    ck_assert_str_eq(hl_promw_seconds(sec, 25), "0.000025");
    ck_assert_str_eq(hl_promw_seconds(sec, 2500000), "2.5");
    ck_assert_str_eq(hl_promw_seconds(sec, 10000000), "10");
    ck_assert_str_eq(hl_promw_seconds(sec, 1234567), "1.234567");
    ck_assert_str_eq(hl_promw_seconds(sec, APR_UINT64_MAX),
                     "18446744073709.551615");
}
END_TEST

START_TEST(test_writer_grows)
{
    hl_promw w;
    int i;
    const char *s;
    hl_promw_init(&w, test_pool);
    for (i = 0; i < 5000; i++) {
        hl_promw_sample(&w, "n");
        hl_promw_label(&w, "i", apr_itoa(test_pool, i));
        hl_promw_value_u64(&w, (apr_uint64_t)i);
    }
    s = written(&w);
    ck_assert(strncmp(s, "n{i=\"0\"} 0\nn{i=\"1\"} 1\n", 22) == 0);
    ck_assert_ptr_nonnull(strstr(s, "\nn{i=\"4999\"} 4999\n"));
}
END_TEST

/* ---- the exposition ----------------------------------------------------- */

static hl_store *shm_store(void)
{
    hl_store_open_args a;
    const char *origin;
    hl_store *st;
    memset(&a, 0, sizeof(a));
    a.spec = "shm";
    a.sizes.history_capacity = 5;
    a.sizes.cache_bytes = 64 * 1024;
    a.sizes.cache_max_key = 32;
    a.sizes.cache_max_value = 1024;
    a.pool = test_pool;
    ck_assert_int_eq(hl_store_open(&st, &a, &origin), APR_SUCCESS);
    return st;
}

/* The value of the sample line that starts with head (name and labels). */
static apr_uint64_t sample(const char *text, const char *head)
{
    const char *p = text;
    apr_size_t n = strlen(head);
    while ((p = strstr(p, head)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return apr_strtoi64(p + n + 1, NULL, 10);
        p += n;
    }
    ck_abort_msg("no sample %s in:\n%s", head, text);
    return 0;
}

static int has_line(const char *text, const char *line)
{
    const char *p = text;
    apr_size_t n = strlen(line);
    while ((p = strstr(p, line)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return 1;
        p += n;
    }
    return 0;
}

/* Every sample belongs to a family declared before it with HELP and TYPE;
 * no family is declared twice. */
static void check_families(const char *text)
{
    apr_hash_t *declared = apr_hash_make(test_pool);
    const char *p = text;
    while (*p) {
        const char *end = strchr(p, '\n');
        char *ln;
        ck_assert_ptr_nonnull(end);
        ln = apr_pstrmemdup(test_pool, p, (apr_size_t)(end - p));
        if (strncmp(ln, "# HELP ", 7) == 0) {
            char *name = apr_pstrndup(test_pool, ln + 7, strcspn(ln + 7, " "));
            ck_assert_msg(!apr_hash_get(declared, name, APR_HASH_KEY_STRING),
                          "%s declared twice", name);
            apr_hash_set(declared, name, APR_HASH_KEY_STRING, "help");
        }
        else if (strncmp(ln, "# TYPE ", 7) == 0) {
            char *name = apr_pstrndup(test_pool, ln + 7, strcspn(ln + 7, " "));
            ck_assert_ptr_nonnull(apr_hash_get(declared, name, APR_HASH_KEY_STRING));
        }
        else {
            char *name = apr_pstrndup(test_pool, ln, strcspn(ln, "{ "));
            char *family = name;
            if (!apr_hash_get(declared, name, APR_HASH_KEY_STRING)) {
                apr_size_t n = strlen(name);
                static const char *const suffixes[] = { "_bucket", "_sum", "_count" };
                int i;
                for (i = 0; i < 3; i++) {
                    apr_size_t k = strlen(suffixes[i]);
                    if (n > k && strcmp(name + n - k, suffixes[i]) == 0)
                        family = apr_pstrndup(test_pool, name, n - k);
                }
            }
            ck_assert_msg(apr_hash_get(declared, family, APR_HASH_KEY_STRING) != NULL,
                          "sample of undeclared family: %s", ln);
            ck_assert_msg(strncmp(name, "hyperlane_", 10) == 0, "prefix: %s", ln);
        }
        p = end + 1;
    }
}

static const char *exposition(hl_store *st, hl_metrics *m, hl_metrics_view *v)
{
    hl_limits *ls;
    apr_uint32_t limit[HL_LIMIT_KINDS] = { 50, 2 };
    hl_promw w;
    ck_assert_int_eq(hl_limits_open(&ls, NULL, test_pool), APR_SUCCESS);
    ck_assert_int_eq(hl_limiter_admit(hl_limits_get(ls, HL_LIMIT_CACHE), 50, 7),
                     APR_SUCCESS);
    hl_limiter_count_rejected(hl_limits_get(ls, HL_LIMIT_BENCHMARK));
    ck_assert_int_eq(hl_metrics_view_read(v, st, ls, limit, m, NULL), APR_SUCCESS);
    hl_promw_init(&w, test_pool);
    hl_metrics_text(&w, v, "9.8.7");
    return written(&w);
}

START_TEST(test_exposition_of_a_store)
{
    hl_store *st = shm_store();
    hl_metrics *m = metrics_new();
    hl_metrics_view v;
    hl_cache_result res;
    apr_uint64_t value;
    const char *t;
    int i;

    for (i = 0; i < 3; i++)
        ck_assert_int_eq(hl_store_counter_increment(st, 42, &value), APR_SUCCESS);
    ck_assert_int_eq(hl_store_cache_set(st, "k", 1, "value", 5, apr_time_now(),
                                        0, NULL), APR_SUCCESS);
    ck_assert_int_eq(hl_store_cache_get(st, test_pool, "k", 1, apr_time_now(),
                                        &res), APR_SUCCESS);
    ck_assert_int_eq(hl_store_cache_get(st, test_pool, "x", 1, apr_time_now(),
                                        &res), APR_NOTFOUND);
    hl_metrics_record(m, HL_EP_COUNTER_INCREMENT, 200, 30);
    hl_metrics_record(m, HL_EP_COUNTER_INCREMENT, 200, 3000000);
    hl_metrics_record(m, HL_EP_CACHE_KEY, 404, 40);
    hl_metrics_count_increment(m);

    t = exposition(st, m, &v);
    check_families(t);
    ck_assert(has_line(t, "hyperlane_build_info{version=\"9.8.7\"} 1"));
    ck_assert(has_line(t, "hyperlane_store_info{backend=\"shm\"} 1"));
    ck_assert(has_line(t, "# TYPE hyperlane_request_duration_seconds histogram"));
    ck_assert(has_line(t, "# TYPE hyperlane_cache_hits_total counter"));
    ck_assert_uint_eq(sample(t, "hyperlane_store_up"), 1);
    ck_assert_uint_eq(sample(t, "hyperlane_shared_value"), 3);
    ck_assert_uint_eq(sample(t, "hyperlane_increments_total"), 1);
    ck_assert_uint_eq(sample(t, "hyperlane_history_length"), 3);
    ck_assert_uint_eq(sample(t, "hyperlane_history_capacity"), 5);
    ck_assert_uint_eq(sample(t, "hyperlane_cache_entries"), 1);
    ck_assert_uint_eq(sample(t, "hyperlane_cache_hits_total"), 1);
    ck_assert_uint_eq(sample(t, "hyperlane_cache_misses_total"), 1);
    ck_assert_uint_eq(sample(t, "hyperlane_cache_sets_total"), 1);
    ck_assert_uint_eq(sample(t, "hyperlane_cache_capacity_bytes"),
                      v.cache.capacity_bytes);
    ck_assert_uint_gt(sample(t, "hyperlane_cache_used_bytes"), 0);
    ck_assert_uint_eq(sample(t, "hyperlane_limiter_in_flight{kind=\"cache\"}"), 1);
    ck_assert_uint_eq(sample(t, "hyperlane_limiter_max_concurrent{kind=\"cache\"}"), 50);
    ck_assert_uint_eq(sample(t, "hyperlane_limiter_rejected_total{kind=\"benchmark\"}"), 1);
    ck_assert_uint_eq(sample(t, "hyperlane_store_errors_total{kind=\"timeout\"}"), 0);
    ck_assert_uint_eq(sample(t, "hyperlane_requests_total{endpoint=\"counter/"
                               "increment\",code=\"200\"}"), 2);
    ck_assert_uint_eq(sample(t, "hyperlane_requests_total{endpoint=\"cache/"
                               "{key}\",code=\"404\"}"), 1);
    ck_assert_ptr_null(strstr(t, "hyperlane_requests_total{endpoint=\"index\""));
    /* Cumulative buckets, ending at the count. */
    ck_assert_uint_eq(sample(t, "hyperlane_request_duration_seconds_bucket{endpoint="
                               "\"counter/increment\",le=\"0.000025\"}"), 0);
    ck_assert_uint_eq(sample(t, "hyperlane_request_duration_seconds_bucket{endpoint="
                               "\"counter/increment\",le=\"0.00005\"}"), 1);
    ck_assert_uint_eq(sample(t, "hyperlane_request_duration_seconds_bucket{endpoint="
                               "\"counter/increment\",le=\"2.5\"}"), 1);
    ck_assert_uint_eq(sample(t, "hyperlane_request_duration_seconds_bucket{endpoint="
                               "\"counter/increment\",le=\"5\"}"), 2);
    ck_assert_uint_eq(sample(t, "hyperlane_request_duration_seconds_bucket{endpoint="
                               "\"counter/increment\",le=\"+Inf\"}"), 2);
    ck_assert_uint_eq(sample(t, "hyperlane_request_duration_seconds_count{endpoint="
                               "\"counter/increment\"}"), 2);
    ck_assert(has_line(t, "hyperlane_request_duration_seconds_sum{endpoint="
                          "\"counter/increment\"} 3.00003"));
    ck_assert_uint_gt(sample(t, "hyperlane_process_resident_memory_bytes"), 0);
    ck_assert_uint_ge(sample(t, "hyperlane_process_peak_resident_memory_bytes"),
                      sample(t, "hyperlane_process_resident_memory_bytes"));
    hl_store_close(st);
}
END_TEST

/* A store whose every call fails as a backend that is down. */
static apr_status_t down_usage(hl_store *st, hl_store_usage *u)
{
    return APR_ECONNREFUSED;
}
static apr_status_t down_snapshot(hl_store *st, int max_recent,
                                  hl_counter_snapshot *snap)
{
    return APR_TIMEUP;
}
static apr_status_t down_stats(hl_store *st, hl_cache_stats *stats)
{
    return APR_ECONNREFUSED;
}

START_TEST(test_exposition_of_a_store_that_is_down)
{
    static const hl_store_ops ops = {
        .usage = down_usage, .counter_snapshot = down_snapshot,
        .cache_stats = down_stats
    };
    hl_store down = { &ops, NULL, 99 };
    hl_metrics *m = metrics_new();
    hl_metrics_view v;
    apr_array_header_t *lines;
    const char *t = exposition(&down, m, &v);
    int i, up = 0, counter = 0;

    check_families(t);
    ck_assert_uint_eq(sample(t, "hyperlane_store_up"), 0);
    /* The cache's stats; the usage is not asked of a store that did not
     * answer the counter and the cache (a Redis one's is what Redis last
     * answered). */
    ck_assert_uint_eq(sample(t, "hyperlane_store_errors_total{kind=\"unavailable\"}"), 1);
    ck_assert_uint_eq(sample(t, "hyperlane_store_errors_total{kind=\"timeout\"}"), 1);
    ck_assert_ptr_null(strstr(t, "hyperlane_shared_value"));
    ck_assert_ptr_null(strstr(t, "hyperlane_cache_hits_total"));
    ck_assert_ptr_null(strstr(t, "hyperlane_store_info"));
    ck_assert_uint_eq(sample(t, "hyperlane_limiter_in_flight{kind=\"cache\"}"), 1);

    lines = hl_metrics_status_lines(test_pool, &v);
    for (i = 0; i < lines->nelts; i++) {
        const hl_status_line *l = &APR_ARRAY_IDX(lines, i, hl_status_line);
        if (strcmp(l->key, "HyperlaneStoreUp") == 0)
            up = strcmp(l->value, "0") == 0;
        if (strcmp(l->key, "HyperlaneCounterValue") == 0)
            counter = 1;
    }
    ck_assert(up);
    ck_assert(!counter);
}
END_TEST

START_TEST(test_status_lines)
{
    hl_store *st = shm_store();
    hl_metrics *m = metrics_new();
    hl_metrics_view v;
    apr_array_header_t *lines;
    apr_hash_t *by_key = apr_hash_make(test_pool);
    apr_uint64_t value;
    int i;

    for (i = 0; i < 7; i++)
        hl_store_counter_increment(st, 42, &value);
    hl_metrics_count_store_error(m, APR_EACCES);
    exposition(st, m, &v);
    lines = hl_metrics_status_lines(test_pool, &v);
    for (i = 0; i < lines->nelts; i++) {
        const hl_status_line *l = &APR_ARRAY_IDX(lines, i, hl_status_line);
        /* ?auto keys: one word, no colon or space; unique. */
        ck_assert_uint_eq(strcspn(l->key, ": \n"), strlen(l->key));
        ck_assert_ptr_null(apr_hash_get(by_key, l->key, APR_HASH_KEY_STRING));
        ck_assert(l->label[0] && l->value[0]);
        apr_hash_set(by_key, l->key, APR_HASH_KEY_STRING, l->value);
    }
#define KEY(k) ((const char *)apr_hash_get(by_key, k, APR_HASH_KEY_STRING))
    ck_assert_str_eq(KEY("HyperlaneStoreUp"), "1");
    ck_assert_str_eq(KEY("HyperlaneStoreBackend"), "shm");
    ck_assert_str_eq(KEY("HyperlaneCounterValue"), "7");
    ck_assert_str_eq(KEY("HyperlaneHistoryLength"), "5");
    ck_assert_str_eq(KEY("HyperlaneHistoryCapacity"), "5");
    ck_assert_str_eq(KEY("HyperlaneCacheEntries"), "0");
    ck_assert_str_eq(KEY("HyperlaneLimiterCacheInFlight"), "1");
    ck_assert_str_eq(KEY("HyperlaneLimiterCacheMax"), "50");
    ck_assert_str_eq(KEY("HyperlaneLimiterBenchmarkRejected"), "1");
    ck_assert_str_eq(KEY("HyperlaneStoreErrorsRefused"), "1");
    ck_assert_str_eq(KEY("HyperlaneStoreErrorsUnavailable"), "0");
#undef KEY
    hl_store_close(st);
}
END_TEST

Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_threads_sum_exactly);
    tcase_add_test(tc, test_processes_sum_exactly);
    tcase_add_test(tc, test_buckets_and_codes);
    tcase_add_test(tc, test_store_error_kinds);
    tcase_add_test(tc, test_kept_across_restart);
    tcase_add_test(tc, test_replaced_for_another_layout);
    tcase_add_test(tc, test_writer_escaping);
    tcase_add_test(tc, test_writer_grows);
    tcase_add_test(tc, test_exposition_of_a_store);
    tcase_add_test(tc, test_exposition_of_a_store_that_is_down);
    tcase_add_test(tc, test_status_lines);
    suite_add_tcase(s, tc);
    return s;
}
