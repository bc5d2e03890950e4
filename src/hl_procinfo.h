/* hl_procinfo: what the OS says about this process's memory, read at the
 * moment of the request (never a constant). */
#ifndef HL_PROCINFO_H
#define HL_PROCINFO_H

#include <apr.h>
#include <apr_errno.h>

typedef struct hl_procinfo {
    apr_int32_t  pid;
    apr_uint64_t rss_bytes;       /* resident now: /proc/self/statm */
    apr_uint64_t peak_rss_bytes;  /* high-water mark: getrusage ru_maxrss */
} hl_procinfo;

apr_status_t hl_procinfo_read(hl_procinfo *pi);

#endif
