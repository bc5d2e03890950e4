/* hl_procinfo: /proc/self/statm is one short line, so reading it costs a
 * few microseconds; the peak comes from getrusage, which costs less. */
#include "hl_procinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static apr_status_t read_rss(apr_uint64_t *rss)
{
    char buf[128];
    ssize_t n;
    char *p;
    unsigned long long pages;
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return APR_FROM_OS_ERROR(errno);
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return APR_EGENERAL;
    buf[n] = '\0';
    /* statm: size resident shared text lib data dt, in pages */
    p = strchr(buf, ' ');
    if (!p)
        return APR_EGENERAL;
    pages = strtoull(p + 1, NULL, 10);
    *rss = (apr_uint64_t)pages * (apr_uint64_t)sysconf(_SC_PAGESIZE);
    return APR_SUCCESS;
}

apr_status_t hl_procinfo_read(hl_procinfo *pi)
{
    struct rusage ru;
    apr_status_t rv;

    pi->pid = (apr_int32_t)getpid();
    rv = read_rss(&pi->rss_bytes);
    if (rv != APR_SUCCESS)
        return rv;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return APR_FROM_OS_ERROR(errno);
    pi->peak_rss_bytes = (apr_uint64_t)ru.ru_maxrss * 1024u;  /* KiB on Linux */
    if (pi->peak_rss_bytes < pi->rss_bytes)
        pi->peak_rss_bytes = pi->rss_bytes;
    return APR_SUCCESS;
}
