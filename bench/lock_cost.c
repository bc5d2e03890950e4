/* lock_cost: what a cache write pays for its lock, side by side in one
 * run (bash bench/run locks).
 *
 * The shm cache takes a lock around every write.  Until the cache got a
 * lock of its own it was APR's global mutex, fcntl by default; APR's
 * "pthread" mechanism is a robust priority-inheritance mutex.  Beside
 * them: glibc's robust mutex without priority inheritance (what APR does
 * not offer, and what the cache's own lock is: hl_cache_lock.c), and
 * getpid(), which a write called while holding the lock.  Each mechanism runs with 1, 2 and
 * 4 processes taking the lock around a shared counter (the counter must
 * come out exact), all starting at once; the table gives the wall time
 * per lock and unlock pair over all processes, and the ratio to fcntl at
 * the same process count.  The machine has 2 cores: 4 processes is the
 * event MPM's case of more takers than CPUs. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <apr_general.h>
#include <apr_global_mutex.h>
#include <apr_pools.h>
#include <apr_time.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* Pairs per process: fcntl, and APR's PI mutex when contended, take
 * microseconds a pair, glibc's robust mutex nanoseconds; each count
 * lasts seconds. */
#define PAIRS_SLOW 200000L
#define PAIRS_FAST 5000000L

/* Each on its own cache line: a line the lock's word shares with the
 * counter or the barrier would move between the CPUs for other reasons. */
typedef struct shared {
    pthread_mutex_t robust;     /* robust, process-shared, no PI */
    char pad0[64];
    volatile long counter;
    char pad1[64];
    volatile int ready, go;     /* every process starts at once */
} shared;

enum { M_GETPID, M_FCNTL, M_APR_PTHREAD, M_ROBUST };
static const char *const names[] = {
    "getpid() alone", "fcntl (APR, the default)",
    "pthread (APR: robust + PI)", "pthread robust, no PI (glibc)"
};

static void work(int kind, shared *sh, apr_global_mutex_t *m, long pairs)
{
    long i, pids = 0;
    __atomic_add_fetch(&sh->ready, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&sh->go, __ATOMIC_ACQUIRE))
        ;
    for (i = 0; i < pairs; i++) {
        switch (kind) {
        case M_GETPID:
            pids += getpid() > 0;             /* no shared line touched */
            break;
        case M_ROBUST:
            if (pthread_mutex_lock(&sh->robust) == EOWNERDEAD)
                pthread_mutex_consistent(&sh->robust);
            sh->counter++;
            pthread_mutex_unlock(&sh->robust);
            break;
        default:
            apr_global_mutex_lock(m);
            sh->counter++;
            apr_global_mutex_unlock(m);
        }
    }
    if (kind == M_GETPID)
        __atomic_add_fetch(&sh->counter, pids, __ATOMIC_RELAXED);
}

/* ns per pair over all procs, or -1 when the count came out wrong. */
static double run(int kind, int procs, shared *sh, apr_pool_t *p)
{
    apr_global_mutex_t *m = NULL;
    long pairs = kind == M_ROBUST ? PAIRS_FAST : PAIRS_SLOW;
    apr_time_t start;
    double ns;
    int i;

    /* No file name: APR makes its own temporary lock file. */
    if ((kind == M_FCNTL || kind == M_APR_PTHREAD)
        && apr_global_mutex_create(&m, NULL, kind == M_FCNTL ? APR_LOCK_FCNTL
                                   : APR_LOCK_PROC_PTHREAD, p) != APR_SUCCESS)
        return -1;
    sh->counter = 0;
    sh->ready = 0;
    sh->go = 0;
    for (i = 0; i < procs; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            /* Those started run on their own and are waited for. */
            __atomic_store_n(&sh->go, 1, __ATOMIC_RELEASE);
            while (wait(NULL) > 0)
                ;
            return -1;
        }
        if (pid == 0) {
            if (m)
                apr_global_mutex_child_init(&m, NULL, p);
            work(kind, sh, m, pairs);
            _exit(0);
        }
    }
    while (__atomic_load_n(&sh->ready, __ATOMIC_ACQUIRE) < procs)
        ;
    start = apr_time_now();
    __atomic_store_n(&sh->go, 1, __ATOMIC_RELEASE);
    while (wait(NULL) > 0)
        ;
    ns = (double)(apr_time_now() - start) * 1000.0 / ((double)pairs * procs);
    if (m)
        apr_global_mutex_destroy(m);
    if (sh->counter != pairs * procs)
        return -1;
    return ns;
}

int main(void)
{
    static const int counts[] = { 1, 2, 4 };
    apr_pool_t *p;
    pthread_mutexattr_t a;
    shared *sh;
    double fcntl_ns[3];
    int kind, c;

    apr_initialize();
    apr_pool_create(&p, NULL);
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return 1;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&sh->robust, &a);

    printf("%-32s %14s %14s %14s   (ns per lock+unlock; x fcntl)\n",
           "mechanism", "1 process", "2 processes", "4 processes");
    for (c = 0; c < 3; c++)
        fcntl_ns[c] = run(M_FCNTL, counts[c], sh, p);
    for (kind = M_GETPID; kind <= M_ROBUST; kind++) {
        printf("%-32s", names[kind]);
        for (c = 0; c < 3; c++) {
            double ns = kind == M_FCNTL ? fcntl_ns[c] : run(kind, counts[c], sh, p);
            if (ns < 0 || fcntl_ns[c] <= 0)
                printf(" %14s", "FAILED");
            else
                printf(" %7.0f x%5.2f", ns, ns / fcntl_ns[c]);
        }
        printf("\n");
    }
    apr_terminate();
    return 0;
}
