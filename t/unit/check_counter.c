/* Counter and history ring: wraparound, exactness under many threads and
 * many processes, snapshots, migration between segments. */
#include "check_hl.h"
#include "hl_counter.h"
#include "hl_shm_layout.h"
#include "hl_store_shm.h"

#include <apr_shm.h>
#include <apr_thread_proc.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static hl_counter *counter_new(apr_uint64_t cap)
{
    void *region = apr_pcalloc(test_pool, hl_counter_region_size(cap));
    ck_assert_int_eq(hl_counter_format(region, cap), APR_SUCCESS);
    return region;
}

static apr_uint64_t bump(hl_counter *c, apr_int32_t pid)
{
    apr_uint64_t v = 0;
    ck_assert_int_eq(hl_counter_increment(c, apr_time_now(), pid, &v), APR_SUCCESS);
    return v;
}

START_TEST(test_fresh_counter_is_empty)
{
    hl_counter_snapshot snap;
    hl_counter *c = counter_new(5);
    hl_counter_snapshot_read(c, HL_RECENT_MAX, &snap);
    ck_assert_uint_eq(snap.current_value, 0);
    ck_assert_uint_eq(snap.history_length, 0);
    ck_assert_int_eq(snap.n_recent, 0);
    ck_assert_uint_eq(snap.capacity, 5);
}
END_TEST

START_TEST(test_ring_wraparound)
{
    hl_counter_snapshot snap;
    hl_counter *c = counter_new(4);
    int i;
    for (i = 1; i <= 11; i++)
        ck_assert_uint_eq(bump(c, 1000 + i), (apr_uint64_t)i);
    hl_counter_snapshot_read(c, HL_RECENT_MAX, &snap);
    ck_assert_uint_eq(snap.current_value, 11);
    ck_assert_uint_eq(snap.history_length, 4);     /* min(11, capacity) */
    ck_assert_int_eq(snap.n_recent, 4);
    for (i = 0; i < 4; i++) {
        ck_assert_uint_eq(snap.recent[i].value, 11 - i);   /* newest first */
        ck_assert(snap.recent[i].complete);
        ck_assert_int_eq(snap.recent[i].pid, 1000 + 11 - i);
    }
}
END_TEST

START_TEST(test_recent_capped_at_ten)
{
    hl_counter_snapshot snap;
    hl_counter *c = counter_new(1000);
    int i;
    for (i = 0; i < 25; i++)
        bump(c, 7);
    hl_counter_snapshot_read(c, HL_RECENT_MAX, &snap);
    ck_assert_uint_eq(snap.history_length, 25);
    ck_assert_int_eq(snap.n_recent, 10);
    ck_assert_uint_eq(snap.recent[0].value, 25);
    ck_assert_uint_eq(snap.recent[9].value, 16);
    ck_assert_int_eq(hl_counter_snapshot_read(c, HL_RECENT_MAX + 1, &snap), APR_EINVAL);
}
END_TEST

/* A stale writer (older v) must not overwrite a newer slot. */
START_TEST(test_slot_keeps_newest_value)
{
    hl_counter_snapshot snap;
    hl_counter *c = counter_new(1);
    bump(c, 1);
    bump(c, 2);
    hl_counter_snapshot_read(c, 1, &snap);
    ck_assert_uint_eq(snap.recent[0].value, 2);
    ck_assert_int_eq(snap.recent[0].pid, 2);
    ck_assert(snap.recent[0].complete);
}
END_TEST

/* A writer of an older value that lost its slot half way and stored its
 * time into the newer writer's entry: the reader must not report that
 * mix as complete.  (Reaches into the region: the slots start 64 bytes in,
 * each {seq, value, time, pid, check} of 8 bytes.) */
START_TEST(test_torn_slot_is_pending)
{
    hl_counter_snapshot snap;
    hl_counter *c = counter_new(1);
    apr_int64_t *time_field = (apr_int64_t *)((char *)c + 64 + 16);
    bump(c, 222);
    hl_counter_snapshot_read(c, 1, &snap);
    ck_assert(snap.recent[0].complete);
    ck_assert_int_eq(snap.recent[0].pid, 222);
    *time_field += 1000;             /* another writer's time */
    hl_counter_snapshot_read(c, 1, &snap);
    ck_assert(!snap.recent[0].complete);
    ck_assert_int_eq(snap.recent[0].pid, 0);
    ck_assert_uint_eq(snap.recent[0].value, 1);
    bump(c, 333);                    /* the next writer repairs the slot */
    hl_counter_snapshot_read(c, 1, &snap);
    ck_assert(snap.recent[0].complete);
    ck_assert_int_eq(snap.recent[0].pid, 333);
}
END_TEST

#define THREADS 8
#define PER_THREAD 50000

typedef struct {
    hl_counter *c;
    apr_uint64_t max_seen;
    unsigned char *seen;    /* one byte per value: each handed out once */
} hammer_arg;

static void *APR_THREAD_FUNC hammer(apr_thread_t *t, void *data)
{
    hammer_arg *a = data;
    int i;
    for (i = 0; i < PER_THREAD; i++) {
        apr_uint64_t v = 0;
        hl_counter_increment(a->c, apr_time_now(), 1, &v);
        __atomic_add_fetch(&a->seen[v], 1, __ATOMIC_RELAXED);
    }
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

START_TEST(test_exact_under_threads)
{
    apr_thread_t *th[THREADS];
    hammer_arg a;
    hl_counter_snapshot snap;
    apr_uint64_t total = (apr_uint64_t)THREADS * PER_THREAD, v;
    int i;

    a.c = counter_new(1000);
    a.seen = apr_pcalloc(test_pool, total + 2);
    for (i = 0; i < THREADS; i++)
        ck_assert_int_eq(apr_thread_create(&th[i], NULL, hammer, &a, test_pool),
                         APR_SUCCESS);
    for (i = 0; i < THREADS; i++) {
        apr_status_t rv;
        apr_thread_join(&rv, th[i]);
    }
    hl_counter_snapshot_read(a.c, HL_RECENT_MAX, &snap);
    ck_assert_uint_eq(snap.current_value, total);
    for (v = 1; v <= total; v++)
        ck_assert_msg(a.seen[v] == 1, "value %llu handed out %d times",
                      (unsigned long long)v, a.seen[v]);
    for (i = 0; i < snap.n_recent; i++) {
        ck_assert_uint_eq(snap.recent[i].value, total - (apr_uint64_t)i);
        ck_assert(snap.recent[i].complete);
    }
}
END_TEST

/* The same across processes sharing one segment, as Apache children do. */
START_TEST(test_exact_across_processes)
{
    hl_store *st;
    hl_store_origin origin;
    hl_shm_params sp = { 100, 0, 0, 0 };
    hl_counter_snapshot snap;
    int i, status, procs = 4, per = 20000;

    ck_assert_int_eq(hl_store_shm_open(&st, &sp, NULL, test_pool, &origin),
                     APR_SUCCESS);
    ck_assert_int_eq(origin, HL_STORE_CREATED);
    for (i = 0; i < procs; i++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            int k;
            for (k = 0; k < per; k++) {
                apr_uint64_t v;
                hl_store_counter_increment(st, (apr_int32_t)getpid(), &v);
            }
            _exit(0);
        }
    }
    for (i = 0; i < procs; i++) {
        wait(&status);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    hl_store_counter_snapshot(st, HL_RECENT_MAX, &snap);
    ck_assert_uint_eq(snap.current_value, (apr_uint64_t)procs * per);
    ck_assert_uint_eq(snap.history_length, 100);
}
END_TEST

/* A restart with the same sizes keeps the segment; new sizes migrate it. */
START_TEST(test_store_reuse_and_migrate)
{
    hl_store *st, *again, *bigger;
    hl_store_origin origin;
    hl_shm_params sp = { 8, 0, 0, 0 }, sp2 = { 16, 0, 0, 0 };
    hl_counter_snapshot snap;
    hl_store_usage u;
    int i;

    hl_store_shm_open(&st, &sp, NULL, test_pool, &origin);
    for (i = 0; i < 12; i++) {
        apr_uint64_t v;
        hl_store_counter_increment(st, 42, &v);
    }
    ck_assert_int_eq(hl_store_shm_open(&again, &sp, st, test_pool, &origin),
                     APR_SUCCESS);
    ck_assert_int_eq(origin, HL_STORE_REUSED);
    ck_assert_ptr_eq(again, st);
    hl_store_usage_read(again, &u);
    ck_assert_uint_eq(u.generation, 1);

    ck_assert_int_eq(hl_store_shm_open(&bigger, &sp2, again, test_pool, &origin),
                     APR_SUCCESS);
    ck_assert_int_eq(origin, HL_STORE_MIGRATED);
    hl_store_counter_snapshot(bigger, HL_RECENT_MAX, &snap);
    ck_assert_uint_eq(snap.current_value, 12);
    ck_assert_uint_eq(snap.capacity, 16);
    ck_assert_uint_eq(snap.history_length, 12);
    /* The old ring kept 8 entries: those are complete, older ones pending. */
    ck_assert(snap.recent[0].complete);
    ck_assert_int_eq(snap.recent[0].pid, 42);
    ck_assert(snap.recent[7].complete);
    ck_assert(!snap.recent[8].complete);
    hl_store_usage_read(bigger, &u);
    ck_assert_uint_eq(u.generation, 2);
    ck_assert_uint_gt(u.used_bytes, 0);
    ck_assert_uint_le(u.used_bytes, u.size_bytes);
}
END_TEST

START_TEST(test_layout_rejects_foreign_segment)
{
    hl_shm_params sp = { 10, 0, 0, 0 };
    hl_shm_plan plan, other;
    void *base;
    hl_shm_plan_make(&sp, &plan);
    base = apr_pcalloc(test_pool, plan.total_size);
    ck_assert_int_ne(hl_shm_check(base, &plan), APR_SUCCESS);   /* no magic */
    hl_shm_format(base, &plan, apr_time_now());
    ck_assert_int_eq(hl_shm_check(base, &plan), APR_SUCCESS);
    sp.history_capacity = 11;
    hl_shm_plan_make(&sp, &other);
    ck_assert_int_ne(hl_shm_check(base, &other), APR_SUCCESS);
    sp.history_capacity = 0;
    ck_assert_int_eq(hl_shm_plan_make(&sp, &other), APR_EINVAL);
}
END_TEST

Suite *counter_suite(void)
{
    Suite *s = suite_create("counter");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_fresh_counter_is_empty);
    tcase_add_test(tc, test_ring_wraparound);
    tcase_add_test(tc, test_recent_capped_at_ten);
    tcase_add_test(tc, test_slot_keeps_newest_value);
    tcase_add_test(tc, test_torn_slot_is_pending);
    tcase_add_test(tc, test_exact_under_threads);
    tcase_add_test(tc, test_exact_across_processes);
    tcase_add_test(tc, test_store_reuse_and_migrate);
    tcase_add_test(tc, test_layout_rejects_foreign_segment);
    suite_add_tcase(s, tc);
    return s;
}
