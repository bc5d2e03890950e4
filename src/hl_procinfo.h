/* hl_procinfo: what the OS says about this process's memory, read at the
 * moment of the request (never a constant). */
#ifndef HL_PROCINFO_H
#define HL_PROCINFO_H

#include <apr.h>
#include <apr_errno.h>
#include <apr_pools.h>

typedef struct hl_procinfo {
    apr_int32_t  pid;
    apr_uint64_t rss_bytes;       /* resident now: /proc/<pid>/statm */
    apr_uint64_t peak_rss_bytes;  /* high-water mark: getrusage ru_maxrss */
} hl_procinfo;

/* With a reader, each reading thread keeps its own
 * /proc/<pid>/task/<tid>/statm open until the thread ends, so that a
 * request pays one pread instead of open+read+close, and threads do not
 * queue on one file.  A thread carried over a fork opens the child's file
 * on its next reading. */
typedef struct hl_procinfo_reader hl_procinfo_reader;

apr_status_t hl_procinfo_reader_open(hl_procinfo_reader **rd, apr_pool_t *p);

/* rd may be NULL: then the file is opened for this one reading. */
apr_status_t hl_procinfo_read(hl_procinfo_reader *rd, hl_procinfo *pi);

#endif
