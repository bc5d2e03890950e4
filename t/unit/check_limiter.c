/* The concurrency limiter: admit, release, reject, the waiting policy,
 * admissions of dead processes given back (when the limit bites, and by
 * the parent's reclaim), many threads at once, and the host's segment. */
#include "check_hl.h"
#include "hl_limiter.h"

#include <apr_thread_proc.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static hl_limiter *limiter_new(void)
{
    hl_limiter *l = apr_palloc(test_pool, hl_limiter_region_size());
    ck_assert_int_eq(hl_limiter_format(l), APR_SUCCESS);
    ck_assert_int_eq(hl_limiter_check(l), APR_SUCCESS);
    return l;
}

static hl_limiter_stats stats_of(const hl_limiter *l)
{
    hl_limiter_stats st;
    ck_assert_int_eq(hl_limiter_stats_read(l, &st), APR_SUCCESS);
    return st;
}

static apr_int32_t dead_pid(void)
{
    int status;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(0);
    waitpid(pid, &status, 0);
    return (apr_int32_t)pid;
}

START_TEST(test_admit_release_reject)
{
    hl_limiter *l = limiter_new();
    apr_int32_t me = (apr_int32_t)getpid();
    hl_limiter_stats st;
    int i;

    for (i = 0; i < 3; i++)
        ck_assert_int_eq(hl_limiter_admit(l, 3, me), APR_SUCCESS);
    ck_assert_int_eq(hl_limiter_admit(l, 3, me), APR_EBUSY);
    hl_limiter_count_rejected(l);
    st = stats_of(l);
    ck_assert_uint_eq(st.in_flight, 3);
    ck_assert_uint_eq(st.max_concurrent, 3);
    ck_assert_uint_eq(st.peak_in_flight, 3);
    ck_assert_uint_eq(st.rejected, 1);
    hl_limiter_release(l, me);
    ck_assert_int_eq(hl_limiter_admit(l, 3, me), APR_SUCCESS);
    for (i = 0; i < 3; i++)
        hl_limiter_release(l, me);
    ck_assert_uint_eq(stats_of(l).in_flight, 0);
    hl_limiter_release(l, me);                  /* an extra one cannot underflow */
    ck_assert_uint_eq(stats_of(l).in_flight, 0);
    ck_assert_int_eq(hl_limiter_admit(l, 0, me), APR_EINVAL);
    ck_assert_int_eq(hl_limiter_admit(l, 3, 0), APR_EINVAL);
}
END_TEST

/* Slots held by a process that died are given back when the limit bites. */
START_TEST(test_heals_dead_holders)
{
    hl_limiter *l = limiter_new();
    apr_int32_t me = (apr_int32_t)getpid(), dead = dead_pid();
    hl_limiter_stats st;

    ck_assert_int_eq(hl_limiter_admit(l, 4, me), APR_SUCCESS);
    ck_assert_int_eq(hl_limiter_admit(l, 4, dead), APR_SUCCESS);
    ck_assert_int_eq(hl_limiter_admit(l, 4, dead), APR_SUCCESS);
    ck_assert_int_eq(hl_limiter_admit(l, 4, me), APR_SUCCESS);
    ck_assert_int_eq(hl_limiter_admit(l, 4, me), APR_SUCCESS);   /* heals 2 */
    st = stats_of(l);
    ck_assert_uint_eq(st.in_flight, 3);
    ck_assert_uint_eq(st.healed, 2);
    ck_assert_int_eq(hl_limiter_admit(l, 4, me), APR_SUCCESS);
    ck_assert_int_eq(hl_limiter_admit(l, 4, me), APR_EBUSY);      /* all alive */
    while (stats_of(l).in_flight > 0)
        hl_limiter_release(l, me);
}
END_TEST

/* The parent's reclaim gives back exactly what one pid holds, at once,
 * whether or not that pid still exists, and leaves the others alone. */
START_TEST(test_reclaim_one_pid)
{
    hl_limiter *l = limiter_new();
    apr_int32_t me = (apr_int32_t)getpid(), other = (apr_int32_t)getppid(),
                gone = dead_pid();
    apr_uint32_t given = 99;
    int i;

    for (i = 0; i < 3; i++)
        ck_assert_int_eq(hl_limiter_admit(l, 10, gone), APR_SUCCESS);
    ck_assert_int_eq(hl_limiter_admit(l, 10, other), APR_SUCCESS);
    ck_assert_int_eq(hl_limiter_admit(l, 10, me), APR_SUCCESS);
    ck_assert_int_eq(hl_limiter_reclaim(l, gone, &given), APR_SUCCESS);
    ck_assert_uint_eq(given, 3);
    ck_assert_uint_eq(stats_of(l).in_flight, 2);
    ck_assert_uint_eq(stats_of(l).healed, 3);
    ck_assert_int_eq(hl_limiter_reclaim(l, gone, &given), APR_SUCCESS);
    ck_assert_uint_eq(given, 0);                       /* nothing twice */
    ck_assert_int_eq(hl_limiter_reclaim(l, other, &given), APR_SUCCESS);
    ck_assert_uint_eq(given, 1);                       /* alive or not */
    ck_assert_uint_eq(stats_of(l).in_flight, 1);
    ck_assert_int_eq(hl_limiter_reclaim(l, 0, &given), APR_EINVAL);
    hl_limiter_release(l, me);
    ck_assert_uint_eq(stats_of(l).in_flight, 0);
}
END_TEST

/* The waiting policy: a free slot admits at once; a full limiter is
 * retried for the time given, then the rejection is counted once; a slot
 * freed while it waits is taken. */
typedef struct {
    hl_limiter *l;
    apr_int32_t pid;
    unsigned delay_us;
} release_later;

static void *release_after(void *arg)
{
    release_later *rl = arg;
    usleep(rl->delay_us);
    hl_limiter_release(rl->l, rl->pid);
    return NULL;
}

START_TEST(test_admit_wait)
{
    hl_limiter *l = limiter_new();
    apr_int32_t me = (apr_int32_t)getpid();
    apr_time_t t0;
    release_later rl = { l, me, 20000 };
    pthread_t t;

    ck_assert_int_eq(hl_limiter_admit_wait(l, 1, me, 0), APR_SUCCESS);
    t0 = apr_time_now();
    ck_assert_int_eq(hl_limiter_admit_wait(l, 1, me, 30000), APR_EBUSY);
    ck_assert_int_ge(apr_time_now() - t0, 30000);
    ck_assert_uint_eq(stats_of(l).rejected, 1);
    ck_assert_int_eq(hl_limiter_admit_wait(l, 1, me, 0), APR_EBUSY);
    ck_assert_uint_eq(stats_of(l).rejected, 2);
    /* Freed 20 ms into a wait of up to 5 s: admitted, nothing rejected. */
    ck_assert_int_eq(pthread_create(&t, NULL, release_after, &rl), 0);
    ck_assert_int_eq(hl_limiter_admit_wait(l, 1, me, 5000000), APR_SUCCESS);
    pthread_join(t, NULL);
    ck_assert_uint_eq(stats_of(l).rejected, 2);
    ck_assert_uint_eq(stats_of(l).in_flight, 1);
}
END_TEST

/* Many threads admitting and releasing: never more than the limit in
 * flight (peak), every admission released, nothing left over. */
#define RACERS 8
#define ROUNDS 20000
#define LIMIT  3

typedef struct {
    hl_limiter *l;
    apr_uint32_t *inside;
    apr_uint32_t over;           /* times more than LIMIT were inside */
    apr_uint32_t admitted;
} racer;

static void *race(void *arg)
{
    racer *rc = arg;
    apr_int32_t me = (apr_int32_t)getpid();
    int i;
    for (i = 0; i < ROUNDS; i++) {
        if (hl_limiter_admit(rc->l, LIMIT, me) != APR_SUCCESS)
            continue;
        rc->admitted++;
        if (__atomic_add_fetch(rc->inside, 1, __ATOMIC_SEQ_CST) > LIMIT)
            rc->over++;
        __atomic_sub_fetch(rc->inside, 1, __ATOMIC_SEQ_CST);
        hl_limiter_release(rc->l, me);
    }
    return NULL;
}

START_TEST(test_threads_never_over_limit)
{
    hl_limiter *l = limiter_new();
    apr_uint32_t inside = 0, admitted = 0;
    racer rc[RACERS];
    pthread_t t[RACERS];
    int i;

    for (i = 0; i < RACERS; i++) {
        rc[i].l = l;
        rc[i].inside = &inside;
        rc[i].over = rc[i].admitted = 0;
        ck_assert_int_eq(pthread_create(&t[i], NULL, race, &rc[i]), 0);
    }
    for (i = 0; i < RACERS; i++) {
        pthread_join(t[i], NULL);
        ck_assert_uint_eq(rc[i].over, 0);
        admitted += rc[i].admitted;
    }
    ck_assert_uint_gt(admitted, 0);
    ck_assert_uint_eq(stats_of(l).in_flight, 0);
    ck_assert_uint_le(stats_of(l).peak_in_flight, LIMIT);
    ck_assert_uint_eq(stats_of(l).healed, 0);
}
END_TEST

/* The host's segment: one limiter per kind, apart; kept by the next
 * generation; a damaged one is replaced, empty. */
START_TEST(test_limits_segment)
{
    hl_limits *ls, *again, *fresh;
    apr_int32_t me = (apr_int32_t)getpid();
    apr_uint32_t given = 0;

    ck_assert_int_eq(hl_limits_open(&ls, NULL, test_pool), APR_SUCCESS);
    ck_assert_int_eq(hl_limiter_admit(hl_limits_get(ls, HL_LIMIT_CACHE), 5, me),
                     APR_SUCCESS);
    ck_assert_uint_eq(stats_of(hl_limits_get(ls, HL_LIMIT_BENCHMARK)).in_flight, 0);
    ck_assert_int_eq(hl_limits_open(&again, ls, test_pool), APR_SUCCESS);
    ck_assert_ptr_eq(again, ls);
    ck_assert_uint_eq(stats_of(hl_limits_get(again, HL_LIMIT_CACHE)).in_flight, 1);
    ck_assert_int_eq(hl_limiter_admit(hl_limits_get(ls, HL_LIMIT_BENCHMARK), 5, me),
                     APR_SUCCESS);
    ck_assert_int_eq(hl_limits_reclaim(ls, me, &given), APR_SUCCESS);
    ck_assert_uint_eq(given, 2);
    /* A child scribbled over the magic: the parent does not trust it. */
    memset(hl_limits_get(ls, HL_LIMIT_BENCHMARK), 0xff, 8);
    ck_assert_int_eq(hl_limits_open(&fresh, ls, test_pool), APR_SUCCESS);
    ck_assert_ptr_ne(fresh, ls);
    ck_assert_uint_eq(stats_of(hl_limits_get(fresh, HL_LIMIT_CACHE)).healed, 0);
}
END_TEST

Suite *limiter_suite(void)
{
    Suite *s = suite_create("limiter");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_admit_release_reject);
    tcase_add_test(tc, test_heals_dead_holders);
    tcase_add_test(tc, test_reclaim_one_pid);
    tcase_add_test(tc, test_admit_wait);
    tcase_add_test(tc, test_threads_never_over_limit);
    tcase_add_test(tc, test_limits_segment);
    suite_add_tcase(s, tc);
    return s;
}
