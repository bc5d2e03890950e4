/* hl_cache_lock: the cache's lock, and reading the cache without it.
 *
 * The lock is a process-shared robust pthread mutex in the region's
 * header, without priority inheritance.  Taken and released without
 * contention it makes no system call, where fcntl made two; under
 * contention it sleeps on a futex, and when its holder dies the kernel
 * hands it to the next taker with EOWNERDEAD (the cache's writer_active
 * repair then runs, as for any writer that died).  APR's robust mutex
 * adds priority inheritance, whose strict hand-off makes every contended
 * write a context switch (bench/RESULTS.md).
 *
 * A robust mutex is linked into its holder's list of held robust mutexes
 * through pointers kept inside the mutex, and unlocking writes through
 * them.  Every child can write the region, so a process that must not let
 * the children choose where it writes (the parent, which runs as root)
 * never takes the lock.  It reads like the lock-free gets do: between two
 * readings of the sequence word, keeping what it read only if the word
 * did not move and was even, or odd with the lock free (its writer died
 * inside; the next one moves the word).  To get through a stream of
 * writes it asks the writers to wait (pause_until); each writer checks
 * that once it holds the lock and waits at most until the time it names,
 * which its own clock measures and bounds, so a parent that dies in a
 * pause stops nobody for long. */
#include "hl_cache_impl.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>

/* How many times a taker that finds the lock held yields its CPU before
 * it sleeps on the futex. */
#define YIELDS_BEFORE_SLEEP 20
/* A pause longer than this is taken for garbage and ignored. */
#define PAUSE_LONGEST  apr_time_from_sec(60)
/* How long a waiting writer sleeps between two looks at the pause. */
#define PAUSE_STEP     200
/* How many steps a quiet reader waits for a writer inside the cache to
 * leave (counted, not timed: the clock may jump): about two seconds. */
#define QUIET_STEPS    10000

apr_status_t hlc_lock_init(hl_cache *c)
{
    pthread_mutexattr_t a;
    int rc = pthread_mutexattr_init(&a);
    if (rc == 0)
        rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (rc == 0)
        rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (rc == 0)
        rc = pthread_mutex_init(&c->lock, &a);
    pthread_mutexattr_destroy(&a);
    c->pause_until = 0;
    return rc ? APR_FROM_OS_ERROR(rc) : APR_SUCCESS;
}

/* Waits while the parent asks writers to (it may move the time on),
 * ignoring a time further than the longest pause from now. */
static void pause_wait(hl_cache *c)
{
    for (;;) {
        apr_time_t until = __atomic_load_n(&c->pause_until, __ATOMIC_ACQUIRE);
        apr_time_t now;
        if (!until)
            return;
        now = apr_time_now();
        if (until <= now || until - now > PAUSE_LONGEST)
            return;
        apr_sleep(PAUSE_STEP);
    }
}

/* A held lock is mostly held by a process that was preempted inside (with
 * prefork, dozens of processes share a few CPUs and the network wakes
 * them all the time), not by a slow one.  A taker that sleeps on the futex
 * then waits for the holder to run again and for the wake its unlock must
 * make; one that yields lets the holder run and takes the lock as soon as
 * it is free, and the unlock makes no system call.  The yields are
 * counted, so a holder that really is slow (a pause) still puts the
 * others to sleep. */
static int lock_taken(hl_cache *c)
{
    int i, rc;
    for (i = 0; i < YIELDS_BEFORE_SLEEP; i++) {
        if ((rc = pthread_mutex_trylock(&c->lock)) != EBUSY)
            return rc;
        sched_yield();
    }
    return pthread_mutex_lock(&c->lock);
}

apr_status_t hl_cache_lock(hl_cache *c, apr_int32_t pid)
{
    int rc = lock_taken(c);
    if (rc == EOWNERDEAD) {
        /* The holder died: what it left half done, writer_active says,
         * and the next operation repairs. */
        if ((rc = pthread_mutex_consistent(&c->lock)) != 0)
            pthread_mutex_unlock(&c->lock);
    }
    if (rc != 0)
        return APR_FROM_OS_ERROR(rc);
    c->holder_pid = pid;
    pause_wait(c);
    return APR_SUCCESS;
}

void hl_cache_unlock(hl_cache *c)
{
    pthread_mutex_unlock(&c->lock);
}

int hlc_lock_is_held(const hl_cache *c)
{
#ifdef __GLIBC__
    /* A robust mutex's futex word holds its holder's thread id; the
     * kernel clears it (setting FUTEX_OWNER_DIED) as the holder dies, not
     * when its parent reaps it.  Reading it takes nothing. */
    unsigned w = (unsigned)__atomic_load_n(&c->lock.__data.__lock,
                                           __ATOMIC_ACQUIRE);
    return (w & 0x3fffffffu) != 0;     /* FUTEX_TID_MASK */
#else
    /* Elsewhere: whether the last writer's process still exists. */
    apr_int32_t pid = __atomic_load_n(&c->writer_pid, __ATOMIC_RELAXED);
    return !(pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH);
#endif
}

apr_status_t hl_cache_quiet_begin(hl_cache *c, apr_interval_time_t pause,
                                  apr_uint64_t *seq)
{
    apr_uint64_t s;
    int step;

    if (pause > 0)
        __atomic_store_n(&c->pause_until, apr_time_now() + pause,
                         __ATOMIC_SEQ_CST);
    for (step = 0; ; step++) {
        s = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE);
        /* Odd with the lock free: a writer died inside (a live one holds
         * the lock while seq is odd).  What it left is read as it is (the
         * readers check every word); the next writer moves seq. */
        if (!(s & 1) || !hlc_lock_is_held(c))
            break;
        if (step == QUIET_STEPS)
            return APR_TIMEUP;
        apr_sleep(PAUSE_STEP);
    }
    *seq = s;
    return APR_SUCCESS;
}

int hl_cache_quiet_end(const hl_cache *c, apr_uint64_t seq)
{
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return __atomic_load_n(&c->seq, __ATOMIC_RELAXED) == seq;
}

void hl_cache_resume(hl_cache *c)
{
    __atomic_store_n(&c->pause_until, 0, __ATOMIC_RELEASE);
}
