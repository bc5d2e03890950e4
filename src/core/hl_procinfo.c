/* hl_procinfo: /proc/<pid>/statm is one short line; reading it through an
 * fd kept open costs one pread.  The peak comes from getrusage.  The path
 * names the pid rather than "self" so that an fd inherited over fork can
 * never report the parent's figures as the child's.
 *
 * Each thread reads through a file of its own, /proc/<pid>/task/<tid>/statm
 * (the same figures: they are the address space's).  One file shared by
 * the threads of an event child is one seq_file lock and one file count
 * that every reading takes: two threads reading at once on two cores took
 * 2.3 us per reading, against 0.35 us alone and 0.85 us with a file each
 * (a loop of preads, measured here).  The thread's file is kept under a
 * thread key and closed when the thread ends; without one (no key, or the
 * open failed) a reading opens /proc/<pid>/statm for itself.
 *
 * The two readings (a pread and a getrusage) are most of what a counter
 * answer costs beyond Apache's own work (bench/RESULTS.md).  A reader given
 * a max age lets each thread keep its last figures beside its file and
 * answer with them, and their age, until they are older than that; the
 * default, 0, reads on every call. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE            /* RUSAGE_THREAD */
#endif
#include "hl_procinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ru_maxrss is the process's peak either way (the kernel takes the mm's
 * high-water mark for RUSAGE_THREAD too), but RUSAGE_SELF also sums the
 * CPU times of every thread: 32 of them under event cost three times as
 * much for a figure this module does not report. */
#ifdef RUSAGE_THREAD
#define HL_RUSAGE_WHO RUSAGE_THREAD
#else
#define HL_RUSAGE_WHO RUSAGE_SELF
#endif

struct hl_procinfo_reader {
    long page;                  /* sysconf(_SC_PAGESIZE), asked once */
    apr_interval_time_t max_age;  /* 0: read on every call */
};

/* A thread's own file and its last reading; malloc'd, since it lives as
 * long as its thread. */
typedef struct thread_file {
    int fd;
    pid_t pid;                  /* the process it was opened in */
    apr_uint32_t forks;         /* fork_count when it was opened */
    int have_last;              /* last_* hold a reading made in this process */
    apr_time_t last_at;         /* when it was made, monotonic_us() */
    apr_uint64_t last_rss, last_peak;
} thread_file;

/* Counted in the child of every fork, so that a thread's file opened
 * before a fork can tell it now lives in another process without a
 * getpid() per reading (under load every system call is a point where the
 * process can lose the CPU).  Process-wide by nature: it describes the
 * process, not a reader.  glibc drops the handler when this library is
 * unloaded. */
static volatile apr_uint32_t fork_count;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void count_fork(void)
{
    fork_count++;
}

static void thread_file_close(void *data)
{
    thread_file *tf = data;
    if (tf->fd >= 0)
        close(tf->fd);
    free(tf);
}

/* Each thread's file, under one key for the process: the file describes
 * the thread, not a reader.  Deleted when this library is unloaded (httpd
 * unloads and reloads its modules on every restart), so that keys cannot
 * pile up; a key deleted under live threads leaves their files open until
 * they end, and never calls into unloaded code. */
static pthread_key_t thread_key;
static int have_thread_key;

static void process_setup(void)
{
    pthread_atfork(NULL, NULL, count_fork);
    have_thread_key = pthread_key_create(&thread_key, thread_file_close) == 0;
}

__attribute__((destructor)) static void drop_thread_key(void)
{
    if (have_thread_key)
        pthread_key_delete(thread_key);
    have_thread_key = 0;
}

static int open_statm(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/statm", (long)pid);
    return open(path, O_RDONLY | O_CLOEXEC);
}

/* This thread's file, opened on its first reading (again after a fork,
 * whose child is another process); NULL if there is none to be had.  A
 * fork from a process whose other threads have read leaves their files
 * open in the child (httpd's parent never reads). */
static thread_file *this_thread_file(void)
{
    thread_file *tf;
    char path[96];

    if (!have_thread_key)
        return NULL;
    tf = pthread_getspecific(thread_key);
    if (tf && tf->fd >= 0 && tf->forks == fork_count)
        return tf;
    if (!tf) {
        if (!(tf = malloc(sizeof(*tf))))
            return NULL;
        tf->fd = -1;
        if (pthread_setspecific(thread_key, tf) != 0) {
            free(tf);
            return NULL;
        }
    }
    if (tf->fd >= 0)
        close(tf->fd);          /* the parent's, inherited over fork */
    tf->have_last = 0;          /* and so is its last reading */
    tf->pid = getpid();
    tf->forks = fork_count;
    snprintf(path, sizeof(path), "/proc/%ld/task/%ld/statm", (long)tf->pid,
             (long)syscall(SYS_gettid));
    tf->fd = open(path, O_RDONLY | O_CLOEXEC);
    return tf->fd >= 0 ? tf : NULL;
}

/* Checks once that statm can be read here, so that a server without /proc
 * says so at start rather than on every request. */
apr_status_t hl_procinfo_reader_open(hl_procinfo_reader **out, apr_pool_t *p)
{
    hl_procinfo_reader *rd = apr_palloc(p, sizeof(*rd));
    int fd;
    pthread_once(&atfork_once, process_setup);
    rd->page = sysconf(_SC_PAGESIZE);
    rd->max_age = 0;
    if ((fd = open_statm(getpid())) < 0)
        return APR_FROM_OS_ERROR(errno);
    close(fd);
    *out = rd;
    return APR_SUCCESS;
}

void hl_procinfo_reader_max_age(hl_procinfo_reader *rd,
                                apr_interval_time_t max_age)
{
    rd->max_age = max_age > 0 ? max_age : 0;
}

/* statm: size resident shared text lib data dt, in pages.  The second
 * number, by hand: strtoull was the largest user-space part of a reading
 * (callgrind). */
static apr_status_t parse_rss_pages(const char *buf, apr_uint64_t *pages_out)
{
    const char *p = buf;
    apr_uint64_t pages = 0;

    while (*p >= '0' && *p <= '9')
        p++;
    if (*p++ != ' ' || *p < '0' || *p > '9')
        return APR_EGENERAL;
    for (; *p >= '0' && *p <= '9'; p++)
        pages = pages * 10 + (apr_uint64_t)(*p - '0');
    *pages_out = pages;
    return APR_SUCCESS;
}

static apr_status_t read_rss(int fd, long page, apr_uint64_t *rss)
{
    char buf[128];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    apr_uint64_t pages;
    apr_status_t rv;

    if (n <= 0)
        return APR_EGENERAL;
    buf[n] = '\0';
    if ((rv = parse_rss_pages(buf, &pages)) != APR_SUCCESS)
        return rv;
    *rss = pages * (apr_uint64_t)page;
    return APR_SUCCESS;
}

/* Ages are measured on the monotonic clock: a wall clock set back would
 * make a kept reading look younger than it is. */
static apr_time_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (apr_time_t)ts.tv_sec * APR_USEC_PER_SEC + ts.tv_nsec / 1000;
}

/* The thread's last reading, if it is recent enough for this reader. */
static int reuse_last(const hl_procinfo_reader *rd, const thread_file *tf,
                      apr_time_t now, hl_procinfo *pi)
{
    if (!tf->have_last || now - tf->last_at > rd->max_age)
        return 0;
    pi->pid = (apr_int32_t)tf->pid;
    pi->rss_bytes = tf->last_rss;
    pi->peak_rss_bytes = tf->last_peak;
    pi->age_us = now - tf->last_at;
    return 1;
}

static void keep_last(thread_file *tf, apr_time_t at, const hl_procinfo *pi)
{
    tf->last_at = at;
    tf->last_rss = pi->rss_bytes;
    tf->last_peak = pi->peak_rss_bytes;
    tf->have_last = 1;
}

static apr_status_t read_peak(hl_procinfo *pi)
{
    struct rusage ru;
    if (getrusage(HL_RUSAGE_WHO, &ru) != 0)
        return APR_FROM_OS_ERROR(errno);
    pi->peak_rss_bytes = (apr_uint64_t)ru.ru_maxrss * 1024u;  /* KiB on Linux */
    if (pi->peak_rss_bytes < pi->rss_bytes)
        pi->peak_rss_bytes = pi->rss_bytes;
    return APR_SUCCESS;
}

apr_status_t hl_procinfo_read(hl_procinfo_reader *rd, hl_procinfo *pi)
{
    apr_status_t rv;
    long page = rd ? rd->page : sysconf(_SC_PAGESIZE);
    thread_file *tf = rd ? this_thread_file() : NULL;
    int keeps = tf && rd->max_age > 0;    /* this thread keeps its reading */
    apr_time_t now = keeps ? monotonic_us() : 0;

    pi->age_us = 0;
    if (keeps && reuse_last(rd, tf, now, pi))
        return APR_SUCCESS;
    if (tf) {
        pi->pid = (apr_int32_t)tf->pid;
        rv = read_rss(tf->fd, page, &pi->rss_bytes);
    }
    else {
        pid_t pid = getpid();
        int fd = open_statm(pid);
        if (fd < 0)
            return APR_FROM_OS_ERROR(errno);
        pi->pid = (apr_int32_t)pid;
        rv = read_rss(fd, page, &pi->rss_bytes);
        close(fd);
    }
    if (rv == APR_SUCCESS)
        rv = read_peak(pi);
    if (rv != APR_SUCCESS) {
        if (tf)
            tf->have_last = 0;  /* a failed reading leaves nothing to repeat */
    }
    else if (keeps) {
        keep_last(tf, now, pi);
    }
    return rv;
}
