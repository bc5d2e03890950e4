/* hl_snapshot: the shm store's state in a file (HyperlanePersistFile), so
 * that the counter, its history and the cache survive a full stop and a
 * crash loses at most one interval.
 *
 * The file (every number little-endian):
 *
 *   header, HL_SNAPSHOT_HEADER bytes
 *     magic "HLSNAPSH", format version (u32), header size (u32),
 *     written_at (usec), the sizes it was made with (history capacity,
 *     cache bytes, max key, max value), the cache's counters (hits,
 *     misses, sets, deletes, evictions, expirations), flags (u32: bit 0,
 *     written while the server ran), zeros to the end
 *   records, each starting with a u32 tag:
 *     'H' history entry: pad u32, value, time, pid (u64 each), oldest first
 *     'E' cache entry: klen u32, vlen u32, pad u32, set_time, access_time,
 *         expires (0: never), access_count, version (u64 each), key, value
 *     'Z' end, once, last: pad u32, counter value, history entries, cache
 *         entries, the cache's last version handed out (u64 each)
 *   checksum: FNV-1a 64 of every byte before it (u64)
 * Times are microseconds since 1970; a file with one below 0 or above
 * 2^62 is refused as a file that breaks the format is.
 *
 * Version 2 added the entries' versions (issue 20's ETags) and the
 * version counter; a version 1 file is refused as any other version is
 * (moved aside), since its entries would come back without the versions
 * clients hold.  The restore puts each entry back with its version and
 * the counter past every version the file names, so a version handed
 * out before a clean stop is never handed out again.  After a crash the
 * versions given since the last snapshot are not in the file: the
 * counter of a freshly formatted segment starts at the format time in
 * microseconds (hl_shm_layout.c), past them unless writes outran the
 * clock.
 *
 * Writing one never takes the cache's lock (the writer runs as root,
 * hl_cache_lock.c): the counter and its history are read lock-free, the
 * cache in batches of hash buckets (hl_cache_export), each batch read
 * quietly and read again if a write came meanwhile.
 * So the snapshot is not one instant of the whole cache: each entry is
 * as it was when its batch was copied, and each key is in it at most
 * once (a key lives in one bucket); an entry set or deleted while the
 * file is written may or may not be in it.  The counter is the value at
 * the start of the write.
 *
 * The writer reads the segment as the parent must (it runs there, as
 * root): as memory a hostile child may change, every offset and size from
 * the plan, every link checked (hl_counter_history_each, hl_cache_export).
 * The loader trusts nothing in the file: it checks all of it (checksum,
 * version, every length) before it changes anything. */
#ifndef HL_SNAPSHOT_H
#define HL_SNAPSHOT_H

#include <apr.h>
#include <apr_errno.h>
#include <apr_pools.h>

#include "hl_shm_layout.h"
#include "hl_store.h"

#define HL_SNAPSHOT_VERSION 2u
#define HL_SNAPSHOT_HEADER  128u

/* Cache entries copied per quiet read (at least; a batch ends with a
 * bucket). */
#define HL_SNAPSHOT_BATCH   256u

/* Writes the segment at base, laid out as plan, to path (temporary file
 * path.tmp, fsync, rename, fsync of the directory); cache entries expired
 * at now are left out.  It never takes the cache's lock: it reads batches
 * quietly (hl_cache_quiet_begin), pausing writers if it must.  On failure
 * the file at path is the one that was there, and the temporary file is
 * gone.  APR_SUCCESS once the new file is in place; rep->why is not empty
 * then only if the directory's fsync failed. */
apr_status_t hl_snapshot_save(void *base, const hl_shm_plan *plan,
                              const char *path, apr_time_t now,
                              hl_persist_when when, apr_pool_t *p,
                              hl_persist_report *rep);

/* Checks len bytes of a snapshot file: APR_SUCCESS and rep's counts and
 * sizes filled in, APR_ENOTIMPL for another format version, APR_EINVAL
 * for anything else wrong (rep->why says what). */
apr_status_t hl_snapshot_check(const void *buf, apr_size_t len,
                               hl_persist_report *rep);

/* Restores a snapshot that passed hl_snapshot_check into a freshly
 * formatted segment nobody uses yet: the counter and what fits of the
 * history, the cache's counters if the file was written at a stop
 * (hl_persist_when), and its entries unexpired at now (with
 * their versions), least recently used first so that a smaller cache
 * keeps the newest; the cache's version counter past the file's.  APR_ENOMEM
 * before anything was changed, else APR_SUCCESS. */
apr_status_t hl_snapshot_restore(void *base, const hl_shm_plan *plan,
                                 const void *buf, apr_size_t len,
                                 apr_time_t now, hl_persist_report *rep);

/* Reads path and restores it as above.  APR_ENOENT: no file, nothing
 * done.  Any other failure (unreadable, truncated, corrupt, another
 * version) leaves the segment freshly formatted and empty, moves the file
 * to path.bad and says why in rep. */
apr_status_t hl_snapshot_load(void *base, const hl_shm_plan *plan,
                              const char *path, apr_time_t now, apr_pool_t *p,
                              hl_persist_report *rep);

#endif
