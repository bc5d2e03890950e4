/* hl_procinfo: what the OS says about this process's memory, read at the
 * moment of the request (never a constant), or, where the administrator
 * allows it, a thread's own reading of at most a set age, with that age. */
#ifndef HL_PROCINFO_H
#define HL_PROCINFO_H

#include <apr.h>
#include <apr_errno.h>
#include <apr_pools.h>
#include <apr_time.h>

typedef struct hl_procinfo {
    apr_int32_t  pid;
    apr_uint64_t rss_bytes;       /* resident now: /proc/<pid>/statm */
    apr_uint64_t peak_rss_bytes;  /* high-water mark: getrusage ru_maxrss */
    apr_int64_t  age_us;          /* how long ago rss and peak were read:
                                   * 0 when read by this call */
} hl_procinfo;

/* With a reader, each reading thread keeps its own
 * /proc/<pid>/task/<tid>/statm open until the thread ends, so that a
 * request pays one pread instead of open+read+close, and threads do not
 * queue on one file.  A thread carried over a fork opens the child's file
 * on its next reading. */
typedef struct hl_procinfo_reader hl_procinfo_reader;

apr_status_t hl_procinfo_reader_open(hl_procinfo_reader **rd, apr_pool_t *p);

/* Lets a thread answer with its own last reading while that is at most
 * max_age old (0, the default: read on every call).  The reading is kept
 * beside the thread's file, so under event each worker thread reads at
 * most once per max_age; a thread without a file of its own reads on
 * every call, a thread carried over a fork reads afresh, and a failed
 * reading leaves nothing to repeat.  Ages are on the monotonic clock. */
void hl_procinfo_reader_max_age(hl_procinfo_reader *rd,
                                apr_interval_time_t max_age);

/* rd may be NULL: then the file is opened for this one reading. */
apr_status_t hl_procinfo_read(hl_procinfo_reader *rd, hl_procinfo *pi);

#endif
