/* The bounded buffer pool: reuse and creation counts, the bound on idle
 * buffers, leases returned by request-pool cleanups, many threads. */
#include "check_hl.h"
#include "hl_bufpool.h"

#include <apr_thread_proc.h>
#include <string.h>
#include <unistd.h>

static hl_bufpool *bufpool_new(apr_size_t max_idle, apr_size_t size)
{
    hl_bufpool *bp = NULL;
    ck_assert_int_eq(hl_bufpool_create(&bp, max_idle, size, test_pool), APR_SUCCESS);
    return bp;
}

static void *take(hl_bufpool *bp)
{
    void *buf = NULL;
    ck_assert_int_eq(hl_bufpool_acquire(bp, &buf), APR_SUCCESS);
    ck_assert_ptr_nonnull(buf);
    return buf;
}

static hl_bufpool_stats stats_of(hl_bufpool *bp)
{
    hl_bufpool_stats st;
    hl_bufpool_stats_read(bp, &st);
    return st;
}

START_TEST(test_rejects_zero_sizes)
{
    hl_bufpool *bp;
    ck_assert_int_eq(hl_bufpool_create(&bp, 0, 8192, test_pool), APR_EINVAL);
    ck_assert_int_eq(hl_bufpool_create(&bp, 100, 0, test_pool), APR_EINVAL);
}
END_TEST

START_TEST(test_fresh_pool_stats)
{
    hl_bufpool *bp = bufpool_new(100, 8192);
    hl_bufpool_stats st = stats_of(bp);
    ck_assert_uint_eq(st.current_size, 0);
    ck_assert_uint_eq(st.max_size, 100);
    ck_assert_uint_eq(st.buffer_size, 8192);
    ck_assert_uint_eq(st.reused, 0);
    ck_assert_uint_eq(st.created, 0);
    ck_assert_uint_eq(st.in_use, 0);
    ck_assert_int_eq(st.pid, getpid());
    ck_assert_uint_eq(hl_bufpool_buffer_size(bp), 8192);
}
END_TEST

START_TEST(test_reuse_after_release)
{
    hl_bufpool *bp = bufpool_new(100, 8192);
    void *a = take(bp), *b;
    hl_bufpool_stats st = stats_of(bp);
    ck_assert_uint_eq(st.created, 1);
    ck_assert_uint_eq(st.in_use, 1);
    memset(a, 0xab, 8192);              /* the whole size is usable */
    hl_bufpool_release(bp, a);
    st = stats_of(bp);
    ck_assert_uint_eq(st.current_size, 1);
    ck_assert_uint_eq(st.in_use, 0);
    b = take(bp);
    ck_assert_ptr_eq(a, b);
    st = stats_of(bp);
    ck_assert_uint_eq(st.reused, 1);
    ck_assert_uint_eq(st.created, 1);
    ck_assert_uint_eq(st.current_size, 0);
    hl_bufpool_release(bp, b);
}
END_TEST

START_TEST(test_idle_bounded)
{
    hl_bufpool *bp = bufpool_new(3, 512);
    void *bufs[5];
    hl_bufpool_stats st;
    int i;
    for (i = 0; i < 5; i++)
        bufs[i] = take(bp);
    st = stats_of(bp);
    ck_assert_uint_eq(st.created, 5);   /* a burst may exceed the bound */
    ck_assert_uint_eq(st.in_use, 5);
    for (i = 0; i < 5; i++)
        hl_bufpool_release(bp, bufs[i]);
    st = stats_of(bp);
    ck_assert_uint_eq(st.current_size, 3);  /* ... but only 3 are kept */
    ck_assert_uint_eq(st.in_use, 0);
    for (i = 0; i < 5; i++)
        bufs[i] = take(bp);
    st = stats_of(bp);
    ck_assert_uint_eq(st.reused, 3);
    ck_assert_uint_eq(st.created, 7);
    for (i = 0; i < 5; i++)
        hl_bufpool_release(bp, bufs[i]);
}
END_TEST

/* A request that ends, normally or aborted, gives its buffer back. */
START_TEST(test_lease_returns_with_request_pool)
{
    hl_bufpool *bp = bufpool_new(100, 8192);
    apr_pool_t *req;
    void *buf, *again;
    hl_bufpool_stats st;

    apr_pool_create(&req, test_pool);
    ck_assert_int_eq(hl_bufpool_acquire_for(bp, req, &buf), APR_SUCCESS);
    ck_assert_uint_eq(stats_of(bp).in_use, 1);
    apr_pool_destroy(req);
    st = stats_of(bp);
    ck_assert_uint_eq(st.in_use, 0);
    ck_assert_uint_eq(st.current_size, 1);

    /* Clearing (a keep-alive connection's next request) returns it too. */
    apr_pool_create(&req, test_pool);
    ck_assert_int_eq(hl_bufpool_acquire_for(bp, req, &again), APR_SUCCESS);
    ck_assert_ptr_eq(again, buf);
    apr_pool_clear(req);
    ck_assert_uint_eq(stats_of(bp).in_use, 0);
    apr_pool_destroy(req);              /* nothing returned twice */
    st = stats_of(bp);
    ck_assert_uint_eq(st.current_size, 1);
    ck_assert_uint_eq(st.reused, 1);
}
END_TEST

/* The pool's own pool going away frees the idle buffers (valgrind sees). */
START_TEST(test_destroyed_with_owner)
{
    apr_pool_t *owner;
    hl_bufpool *bp;
    void *a, *b;
    apr_pool_create(&owner, test_pool);
    ck_assert_int_eq(hl_bufpool_create(&bp, 10, 4096, owner), APR_SUCCESS);
    a = take(bp);
    b = take(bp);
    hl_bufpool_release(bp, a);
    hl_bufpool_release(bp, b);
    apr_pool_destroy(owner);
}
END_TEST

#define THREADS 8
#define ROUNDS 20000

typedef struct {
    hl_bufpool *bp;
    int id;
    int clashes;    /* another thread wrote into a buffer we held */
} hammer_arg;

static void *APR_THREAD_FUNC hammer(apr_thread_t *t, void *data)
{
    hammer_arg *a = data;
    int i;
    for (i = 0; i < ROUNDS; i++) {
        void *buf;
        int k;
        if (hl_bufpool_acquire(a->bp, &buf) != APR_SUCCESS) {
            a->clashes++;
            continue;
        }
        memset(buf, a->id, 64);
        if ((i & 63) == 0)
            apr_thread_yield();     /* let others run while we hold it */
        for (k = 0; k < 64; k++)
            if (((unsigned char *)buf)[k] != a->id)
                a->clashes++;
        hl_bufpool_release(a->bp, buf);
    }
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

START_TEST(test_threads_hammer)
{
    apr_thread_t *th[THREADS];
    hammer_arg args[THREADS];
    hl_bufpool *bp = bufpool_new(4, 1024);
    hl_bufpool_stats st;
    int i;

    for (i = 0; i < THREADS; i++) {
        args[i].bp = bp;
        args[i].id = i + 1;
        args[i].clashes = 0;
        ck_assert_int_eq(apr_thread_create(&th[i], NULL, hammer, &args[i],
                                           test_pool), APR_SUCCESS);
    }
    for (i = 0; i < THREADS; i++) {
        apr_status_t rv;
        apr_thread_join(&rv, th[i]);
        ck_assert_int_eq(args[i].clashes, 0);
    }
    st = stats_of(bp);
    ck_assert_uint_eq(st.reused + st.created, (apr_uint64_t)THREADS * ROUNDS);
    ck_assert_uint_eq(st.in_use, 0);
    ck_assert_uint_le(st.current_size, 4);
    ck_assert_uint_ge(st.current_size, 1);
    ck_assert_uint_ge(st.created, 1);
}
END_TEST

Suite *bufpool_suite(void)
{
    Suite *s = suite_create("bufpool");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_rejects_zero_sizes);
    tcase_add_test(tc, test_fresh_pool_stats);
    tcase_add_test(tc, test_reuse_after_release);
    tcase_add_test(tc, test_idle_bounded);
    tcase_add_test(tc, test_lease_returns_with_request_pool);
    tcase_add_test(tc, test_destroyed_with_owner);
    tcase_add_test(tc, test_threads_hammer);
    suite_add_tcase(s, tc);
    return s;
}
