/* hl_procinfo: /proc/<pid>/statm is one short line; reading it through an
 * fd kept open costs one pread.  The peak comes from getrusage.  The path
 * names the pid rather than "self" so that an fd inherited over fork can
 * never report the parent's figures as the child's. */
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
    int fd;
    pid_t pid;
    long page;                  /* sysconf(_SC_PAGESIZE), asked once */
    apr_uint32_t forks;         /* fork_count when it was opened */
};

/* Counted in the child of every fork, so that a reader opened before a fork
 * can tell it now lives in another process without a getpid() per reading
 * (under load every system call is a point where the process can lose the
 * CPU).  Process-wide by nature: it describes the process, not a reader.
 * glibc drops the handler when this library is unloaded. */
static volatile apr_uint32_t fork_count;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void count_fork(void)
{
    fork_count++;
}

static void watch_forks(void)
{
    pthread_atfork(NULL, NULL, count_fork);
}

static apr_status_t reader_close(void *data)
{
    hl_procinfo_reader *rd = data;
    if (rd->fd >= 0)
        close(rd->fd);
    rd->fd = -1;
    return APR_SUCCESS;
}

static int open_statm(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/statm", (long)pid);
    return open(path, O_RDONLY | O_CLOEXEC);
}

apr_status_t hl_procinfo_reader_open(hl_procinfo_reader **out, apr_pool_t *p)
{
    hl_procinfo_reader *rd = apr_palloc(p, sizeof(*rd));
    pthread_once(&atfork_once, watch_forks);
    rd->forks = fork_count;
    rd->pid = getpid();
    rd->page = sysconf(_SC_PAGESIZE);
    rd->fd = open_statm(rd->pid);
    if (rd->fd < 0)
        return APR_FROM_OS_ERROR(errno);
    apr_pool_cleanup_register(p, rd, reader_close, apr_pool_cleanup_null);
    *out = rd;
    return APR_SUCCESS;
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

static apr_status_t read_rss(hl_procinfo_reader *rd, pid_t pid, int own,
                             apr_uint64_t *rss)
{
    char buf[128];
    ssize_t n;
    apr_uint64_t pages;
    apr_status_t rv;
    int fd = own ? open_statm(pid) : rd->fd;

    if (fd < 0)
        return APR_FROM_OS_ERROR(errno);
    n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (own)
        close(fd);
    if (n <= 0)
        return APR_EGENERAL;
    buf[n] = '\0';
    if ((rv = parse_rss_pages(buf, &pages)) != APR_SUCCESS)
        return rv;
    *rss = pages * (apr_uint64_t)(rd ? rd->page : sysconf(_SC_PAGESIZE));
    return APR_SUCCESS;
}

apr_status_t hl_procinfo_read(hl_procinfo_reader *rd, hl_procinfo *pi)
{
    struct rusage ru;
    apr_status_t rv;

    /* The reader's own file, unless it was opened in another process. */
    int own = !rd || rd->fd < 0 || rd->forks != fork_count;
    pid_t pid = own ? getpid() : rd->pid;

    pi->pid = (apr_int32_t)pid;
    rv = read_rss(rd, pid, own, &pi->rss_bytes);
    if (rv != APR_SUCCESS)
        return rv;
    if (getrusage(HL_RUSAGE_WHO, &ru) != 0)
        return APR_FROM_OS_ERROR(errno);
    pi->peak_rss_bytes = (apr_uint64_t)ru.ru_maxrss * 1024u;  /* KiB on Linux */
    if (pi->peak_rss_bytes < pi->rss_bytes)
        pi->peak_rss_bytes = pi->rss_bytes;
    return APR_SUCCESS;
}
