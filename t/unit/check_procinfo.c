/* Memory figures read from the OS: real, moving with the process, and
 * never the parent's when read in a forked child. */
#include "check_hl.h"
#include "hl_procinfo.h"

#include <dirent.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Makes n bytes resident; volatile so the compiler cannot drop the writes. */
static void *touch(size_t n)
{
    volatile char *mem = malloc(n);
    size_t i;
    for (i = 0; i < n; i += 4096)
        mem[i] = 1;
    return (void *)mem;
}

START_TEST(test_reads_real_figures)
{
    hl_procinfo_reader *rd;
    hl_procinfo a, b;
    size_t big = 64u << 20;
    char *mem;

    ck_assert_int_eq(hl_procinfo_reader_open(&rd, test_pool), APR_SUCCESS);
    ck_assert_int_eq(hl_procinfo_read(rd, &a), APR_SUCCESS);
    ck_assert_int_eq(a.pid, getpid());
    ck_assert_uint_gt(a.rss_bytes, 0);
    ck_assert_uint_ge(a.peak_rss_bytes, a.rss_bytes);
    ck_assert_int_eq(a.age_us, 0);
    mem = touch(big);
    ck_assert_int_eq(hl_procinfo_read(rd, &b), APR_SUCCESS);
    ck_assert_uint_ge(b.rss_bytes, a.rss_bytes + big / 2);
    ck_assert_int_eq(b.age_us, 0);
    ck_assert_uint_ge(b.peak_rss_bytes, b.rss_bytes);
    free(mem);
    ck_assert_int_eq(hl_procinfo_read(NULL, &a), APR_SUCCESS);   /* no reader */
    ck_assert_uint_gt(a.rss_bytes, 0);
}
END_TEST

START_TEST(test_forked_child_reads_its_own)
{
    hl_procinfo_reader *rd;
    int status;
    pid_t pid;

    ck_assert_int_eq(hl_procinfo_reader_open(&rd, test_pool), APR_SUCCESS);
    {   /* this thread's own file is open before the fork */
        hl_procinfo pre;
        ck_assert_int_eq(hl_procinfo_read(rd, &pre), APR_SUCCESS);
        ck_assert_int_eq(pre.pid, getpid());
    }
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        hl_procinfo pi;
        size_t big = 32u << 20;
        hl_procinfo before;
        void *mem;
        hl_procinfo_read(rd, &before);
        mem = touch(big);
        hl_procinfo_read(rd, &pi);
        /* The child's own pid, and its own growth, through the parent's reader. */
        free(mem);
        _exit(pi.pid == getpid() && pi.rss_bytes >= before.rss_bytes + big / 2 ? 0 : 1);
    }
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    ck_assert_ptr_nonnull(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

#define READERS 8
static pthread_barrier_t all_read, may_end;

typedef struct {
    hl_procinfo_reader *rd;
    int ok;
} reader_job;

/* Returns rather than calling pthread_exit: ASan leaves the redzones of
 * frames left by pthread_exit's unwinding poisoned, and then reports its
 * own thread teardown on that stack as an underflow. */
static void *read_in_thread(void *data)
{
    reader_job *job = data;
    int i;
    job->ok = 1;
    for (i = 0; i < 200; i++) {
        hl_procinfo pi;
        if (hl_procinfo_read(job->rd, &pi) != APR_SUCCESS || pi.pid != getpid()
            || pi.rss_bytes == 0 || pi.peak_rss_bytes < pi.rss_bytes)
            job->ok = 0;
    }
    pthread_barrier_wait(&all_read);
    pthread_barrier_wait(&may_end);
    return NULL;
}

/* Each thread reads through a file of its own (one lock per file, so
 * threads on two cores do not queue on one), and the file is closed when
 * the thread ends. */
START_TEST(test_threads_read_through_their_own)
{
    hl_procinfo_reader *rd;
    pthread_t t[READERS];
    reader_job job[READERS];
    int i, before, during, after;

    ck_assert_int_eq(hl_procinfo_reader_open(&rd, test_pool), APR_SUCCESS);
    before = open_fds();
    pthread_barrier_init(&all_read, NULL, READERS + 1);
    pthread_barrier_init(&may_end, NULL, READERS + 1);
    for (i = 0; i < READERS; i++) {
        job[i].rd = rd;
        ck_assert_int_eq(pthread_create(&t[i], NULL, read_in_thread, &job[i]), 0);
    }
    pthread_barrier_wait(&all_read);
    during = open_fds();
    pthread_barrier_wait(&may_end);
    for (i = 0; i < READERS; i++) {
        pthread_join(t[i], NULL);
        ck_assert_msg(job[i].ok, "thread %d read a wrong figure", i);
    }
    after = open_fds();
    pthread_barrier_destroy(&all_read);
    pthread_barrier_destroy(&may_end);
    ck_assert_int_eq(during, before + READERS);
    ck_assert_int_eq(after, before);
}
END_TEST

/* Readers come and go with their pools and cost nothing after: no thread
 * key per reader (glibc has 1024), no file per reader. */
START_TEST(test_readers_leave_nothing_behind)
{
    int i, before;
    pthread_key_t probe;
    hl_procinfo pi;
    for (i = 0; i < 1500; i++) {
        apr_pool_t *p;
        hl_procinfo_reader *rd;
        apr_pool_create(&p, test_pool);
        ck_assert_int_eq(hl_procinfo_reader_open(&rd, p), APR_SUCCESS);
        ck_assert_int_eq(hl_procinfo_read(rd, &pi), APR_SUCCESS);
        apr_pool_destroy(p);
        if (i == 0)
            before = open_fds();    /* with this thread's own file */
    }
    ck_assert_int_eq(open_fds(), before);
    ck_assert_int_eq(pthread_key_create(&probe, NULL), 0);
    pthread_key_delete(probe);
}
END_TEST

/* The clock the reader measures ages on. */
static apr_time_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (apr_time_t)ts.tv_sec * APR_USEC_PER_SEC + ts.tv_nsec / 1000;
}

/* A fresh reading in this thread, whatever an earlier test left: with a
 * max age of 1 us, anything kept from before is too old. */
static void read_fresh(hl_procinfo_reader *rd, hl_procinfo *pi)
{
    hl_procinfo_reader_max_age(rd, 1);
    apr_sleep(2000);
    ck_assert_int_eq(hl_procinfo_read(rd, pi), APR_SUCCESS);
    ck_assert_int_eq(pi->age_us, 0);
}

/* With a max age, a thread answers with its last reading and says how old
 * it is, until it is older than the max age; then it reads again. */
START_TEST(test_max_age_keeps_then_rereads)
{
    hl_procinfo_reader *rd;
    hl_procinfo a, b, c, d;
    size_t big = 64u << 20;
    apr_time_t t0;
    char *mem, *more;

    ck_assert_int_eq(hl_procinfo_reader_open(&rd, test_pool), APR_SUCCESS);
    t0 = monotonic_us();
    read_fresh(rd, &a);
    hl_procinfo_reader_max_age(rd, apr_time_from_sec(60));
    mem = touch(big);
    apr_sleep(3000);
    ck_assert_int_eq(hl_procinfo_read(rd, &b), APR_SUCCESS);
    /* The kept figures, not the grown ones, and their true age. */
    ck_assert_int_eq(b.pid, a.pid);
    ck_assert_uint_eq(b.rss_bytes, a.rss_bytes);
    ck_assert_uint_eq(b.peak_rss_bytes, a.peak_rss_bytes);
    ck_assert_int_ge(b.age_us, 3000);
    ck_assert_int_le(b.age_us, monotonic_us() - t0);
    /* Older than the max age: read again, and see the growth. */
    hl_procinfo_reader_max_age(rd, 2000);
    ck_assert_int_eq(hl_procinfo_read(rd, &c), APR_SUCCESS);
    ck_assert_int_eq(c.age_us, 0);
    ck_assert_uint_ge(c.rss_bytes, a.rss_bytes + big / 2);
    /* Max age 0 (the default) reads on every call (growth, not a free:
     * under ASan freed memory stays resident in its quarantine). */
    hl_procinfo_reader_max_age(rd, 0);
    more = touch(big);
    ck_assert_int_eq(hl_procinfo_read(rd, &d), APR_SUCCESS);
    ck_assert_int_eq(d.age_us, 0);
    ck_assert_uint_ge(d.rss_bytes, c.rss_bytes + big / 2);
    free(more);
    free(mem);
}
END_TEST

/* A reading kept before a fork is the parent's: the child reads its own. */
START_TEST(test_max_age_child_reads_afresh)
{
    hl_procinfo_reader *rd;
    hl_procinfo pre;
    int status;
    pid_t pid;

    ck_assert_int_eq(hl_procinfo_reader_open(&rd, test_pool), APR_SUCCESS);
    read_fresh(rd, &pre);
    hl_procinfo_reader_max_age(rd, apr_time_from_sec(60));
    apr_sleep(1000);
    ck_assert_int_eq(hl_procinfo_read(rd, &pre), APR_SUCCESS);
    ck_assert_int_gt(pre.age_us, 0);               /* kept */
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        hl_procinfo pi;
        int ok = hl_procinfo_read(rd, &pi) == APR_SUCCESS && pi.pid == getpid()
                 && pi.age_us == 0;
        _exit(ok ? 0 : 1);
    }
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

Suite *procinfo_suite(void)
{
    Suite *s = suite_create("procinfo");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, test_reads_real_figures);
    tcase_add_test(tc, test_forked_child_reads_its_own);
    tcase_add_test(tc, test_threads_read_through_their_own);
    tcase_add_test(tc, test_readers_leave_nothing_behind);
    tcase_add_test(tc, test_max_age_keeps_then_rereads);
    tcase_add_test(tc, test_max_age_child_reads_afresh);
    suite_add_tcase(s, tc);
    return s;
}
