/* hl_cache: a bounded key/value cache in one region of the shared segment,
 * shared by every process of the server.
 *
 * Region layout (offsets, never pointers: each process maps the segment at
 * its own address; a "unit" is 16 bytes and a link is a unit index counted
 * from the start of the region, 0 meaning none):
 *
 *   0             +----------------------------------------------------+
 *                 | hl_cache_hdr                                       |
 *                 |   magic, version, sizes, bucket count, hash seed   |
 *                 |   writer_active, writer_pid, recoveries (crashes)  |
 *                 |   LRU head/tail, expiry heap count                 |
 *                 |   free bins: bitmap + 128 list heads               |
 *                 |   stats: entries, accesses, hits, misses, ...      |
 *                 |   the lock, the parent's pause (lines of their own)|
 *   bucket_off    +----------------------------------------------------+
 *                 | u32 bucket[nbuckets]  (power of two; head of the   |
 *                 |   chain of entries whose hash lands there)         |
 *   touch_off     +----------------------------------------------------+
 *                 | touch slot[ntouch], one per LIVE entry:            |
 *                 |   gen:16 | count:47  (free: gen | FREE | next)     |
 *                 |   time of the last hit                             |
 *   touch_off     +----------------------------------------------------+
 *   + ntouch      | u32 expiry heap[ntouch]: offsets of the LIVE       |
 *                 |   entries that expire, a binary min-heap by expiry |
 *   data_start    +----------------------------------------------------+
 *                 | data area: a sequence of blocks, each            |
 *                 |   [size|state|links|klen|vlen|times|slot id,gen]  |
 *                 |   [key bytes][value bytes] ... [footer: size]    |
 *                 | that tiles the area exactly: walking from        |
 *                 | data_start by each header's size ends at         |
 *                 | data_end.                                        |
 *   data_end      +----------------------------------------------------+
 *
 * A block is FREE, RESERVED (being written) or LIVE.  A LIVE block is one
 * entry, on its hash chain, the LRU list and (if it expires) the expiry
 * heap.  Where the reasons for each structure are written down:
 *   hl_cache.c         the table, its list and heap, touch slots,
 *                      lock-free reads
 *   hl_cache_alloc.c   the allocator (boundary tags, segregated free bins)
 *   hl_cache_hash.c    the keyed hash
 *   hl_cache_repair.c  crash safety and repair
 *   hl_cache_copy.c    the copy a resize migrates with
 *
 * Locking: every function below except hl_cache_get_lockfree, the lock's
 * own and the quiet readers' (hl_cache_quiet_begin) assumes the caller
 * holds the region's lock (hl_cache_lock; hl_store_shm.c takes it).  Time
 * is always passed in (apr_time_t now), so tests drive the clock.
 */
#ifndef HL_CACHE_H
#define HL_CACHE_H

#include <apr.h>
#include <apr_errno.h>
#include <apr_pools.h>
#include <apr_time.h>

#include "hl_store.h"   /* hl_cache_result, hl_cache_stats */

#define HL_CACHE_REASON_MAX  128

typedef struct hl_cache hl_cache;   /* the region, opaque */

typedef struct hl_cache_config {
    apr_size_t   max_key;      /* 1..: longest key */
    apr_size_t   max_value;    /* largest value */
    apr_uint32_t buckets;      /* 0: sized from the region; else a power of
                                * two (tests use 1 to force collisions) */
    apr_uint64_t seed[2];      /* hash key; format it from random bytes */
} hl_cache_config;

/* What repairs after a dead writer left behind (the store's extra
 * figures "recoveries" and "last_recovery"). */
typedef struct hl_cache_repairs {
    apr_uint64_t recoveries;
    apr_time_t   last_recovery_time;
    char         last_recovery[HL_CACHE_REASON_MAX];   /* "" if none */
} hl_cache_repairs;

/* Smallest region hl_cache_format accepts. */
apr_size_t hl_cache_min_size(void);

/* Where hl_cache_format puts each part of a region: a pure function of the
 * size and of cfg's limits and bucket count (the seed plays no part), so
 * that whoever formatted a region can later check it, or read it, against
 * what it planned rather than against what the region says of itself. */
typedef struct hl_cache_geometry {
    apr_uint64_t region_size, max_key, max_value;
    apr_uint32_t nbuckets, bucket_off, touch_off, ntouch;   /* units; slots */
    apr_uint32_t data_start, data_end;                     /* units */
} hl_cache_geometry;

/* APR_EINVAL when hl_cache_format would refuse size and cfg. */
apr_status_t hl_cache_geometry_of(apr_size_t size, const hl_cache_config *cfg,
                                  hl_cache_geometry *geo);

/* Formats a region of size bytes (a multiple of 16).  Its versions
 * begin at 1. */
apr_status_t hl_cache_format(void *region, apr_size_t size,
                             const hl_cache_config *cfg);
/* Versions of a freshly formatted region begin after first: the format
 * time in microseconds, so that a region formatted anew does not hand out
 * the versions of the one it replaced. */
void hl_cache_versions_begin(hl_cache *c, apr_uint64_t first);
/* The last version handed out, and (a snapshot's restore) making sure
 * the next ones come after last: the counter only ever moves forward. */
apr_uint64_t hl_cache_versions_last(const hl_cache *c);
void hl_cache_versions_past(hl_cache *c, apr_uint64_t last);

/* The region's lock (hl_cache_lock.c): a robust process-shared mutex.
 * pid is the taker's, named in the repair's reason if it dies writing.
 * Once taken, the call waits while the parent asks writers to pause. */
apr_status_t hl_cache_lock(hl_cache *c, apr_int32_t pid);
void hl_cache_unlock(hl_cache *c);

/* Reading without the lock, for a process that must never take it (the
 * parent: unlocking a robust mutex writes where the mutex points).
 * quiet_begin waits until no writer is inside, at most a few seconds
 * (APR_TIMEUP if a live one still is; a dead one's leftovers are read as
 * they are), and gives the sequence word to pass to quiet_end, which says
 * whether nothing was written since: what was read in between counts only
 * then.  pause > 0 also asks writers to wait that long from now, until
 * hl_cache_resume, which the caller then owes whatever happened.  Check
 * the region (hl_cache_check) before. */
apr_status_t hl_cache_quiet_begin(hl_cache *c, apr_interval_time_t pause,
                                  apr_uint64_t *seq);
int hl_cache_quiet_end(const hl_cache *c, apr_uint64_t seq);
void hl_cache_resume(hl_cache *c);

/* APR_SUCCESS when region holds a cache of this version whose header
 * describes exactly geo; APR_EGENERAL without the magic or version,
 * APR_EINVAL on any other difference.  Reads only the header. */
apr_status_t hl_cache_check(const void *region, const hl_cache_geometry *geo);

/* 1 when region holds the magic of a cache but another version's layout
 * (an older build's, met across a graceful restart that upgraded the
 * module).  Reads two words only. */
int hl_cache_other_version(const void *region);

/* Copies the stats and the unexpired entries of src, a region formatted
 * as geo, into a formatted dst, least recently used first so that if dst
 * is smaller the oldest go.  Entries that do not fit dst's limits are
 * skipped; those pushed out are counted as evictions.  src is only read,
 * never written (not even repaired after a writer died mid-update), and
 * read as memory a hostile process may change meanwhile: each word once,
 * every offset, length and slot id checked against geo before use, the
 * data area walked by block sizes, no list or chain followed.  APR_EINVAL
 * (or hl_cache_check's status) when src fails a check: the copy stops
 * there, and dst stays a valid table holding what was copied.  dst is not
 * in use yet (its lock is not taken); src is read quietly
 * (hl_cache_quiet_begin). */
apr_status_t hl_cache_copy(hl_cache *dst, const hl_cache *src,
                           const hl_cache_geometry *geo, apr_time_t now);

/* One entry as a snapshot keeps it (hl_cache_export, hl_cache_import). */
typedef struct hl_cache_entry_image {
    const void  *key, *value;
    apr_uint32_t klen, vlen;
    apr_time_t   set_time, access_time, expires;   /* expires 0: never */
    apr_uint64_t access_count;
    apr_uint64_t version;         /* the entry's version (issue 20) */
} hl_cache_entry_image;

typedef apr_status_t (*hl_cache_entry_fn)(void *ctx,
                                          const hl_cache_entry_image *e);

/* One batch of a snapshot: calls fn for each unexpired entry on the hash
 * chains of the buckets from *bucket on, until a bucket ends with at
 * least max_entries passed, 16 * max_entries buckets were looked at, or
 * the buckets end; *bucket gets where the
 * next batch starts (geo->nbuckets: done).  A key lives in one bucket, so
 * across batches each key is seen once, as it was when its batch ran.
 * c, formatted as geo, is read as hl_cache_copy reads: as memory a hostile
 * process may change, every link, offset, length and slot id checked
 * against geo, each word read once; a batch passes at most geo->ntouch
 * entries (one slot each), so a chain made to loop ends.  The batches
 * together may pass more: writes between them can move a key from a
 * bucket still to come into one already read, or add one there.
 * APR_EINVAL when a chain breaks the layout or a batch passes more than
 * geo->ntouch entries; fn's non-zero status stops the batch and is
 * returned.  The image points into c: what fn
 * copied counts only if hl_cache_quiet_end says nothing was written
 * meanwhile. */
apr_status_t hl_cache_export(const hl_cache *c, const hl_cache_geometry *geo,
                             apr_uint32_t *bucket, apr_size_t max_entries,
                             apr_time_t now, hl_cache_entry_fn fn, void *ctx);

/* Restoring a snapshot into a formatted cache: begin, then each entry
 * least recently used first (the oldest are evicted if c is smaller),
 * then end, which puts the LRU list in order.  import stores a copy of e
 * with its times and access count and answers 1, or 0 when e has expired
 * at now or breaks c's limits; a key given twice keeps the later one.
 * stats_restore sets the counters of hits, misses, sets, deletes,
 * evictions and expirations.  Nobody else may use c meanwhile. */
void hl_cache_import_begin(hl_cache *c, apr_time_t now);
int hl_cache_import(hl_cache *c, const hl_cache_entry_image *e, apr_time_t now);
void hl_cache_import_end(hl_cache *c);
void hl_cache_stats_restore(hl_cache *c, const hl_cache_stats *st);

/* Region bytes holding data now: header, buckets and live blocks. */
apr_size_t hl_cache_bytes_used(const hl_cache *c);

/* APR_SUCCESS and res filled on a hit (access_count incremented, the hit
 * time stamped for the LRU order); APR_NOTFOUND on a miss or if the entry
 * has expired (then it is freed and counted in expirations); APR_EINVAL on
 * a bad key length. */
apr_status_t hl_cache_get(hl_cache *c, apr_pool_t *pool, const void *key,
                          apr_size_t klen, apr_time_t now,
                          hl_cache_result *res);

/* The same as hl_cache_get without the lock, for hits and misses of
 * unexpired entries; APR_EAGAIN when it could not get a stable view (a
 * writer kept changing the table, or died mid-update) or the entry has
 * expired (removing it needs the lock): then take the lock and call
 * hl_cache_get. */
apr_status_t hl_cache_get_lockfree(hl_cache *c, apr_pool_t *pool,
                                   const void *key, apr_size_t klen,
                                   apr_time_t now, hl_cache_result *res);

/* Stores a copy of key and value, expiring ttl after now (0: never).
 * *replaced (may be NULL) says whether the key held a value.  APR_EINVAL
 * if klen or vlen break the region's limits, APR_ENOSPC if the entry is
 * larger than the data area; otherwise it succeeds, evicting expired
 * entries first, then the least recently used. */
apr_status_t hl_cache_set(hl_cache *c, const void *key, apr_size_t klen,
                          const void *val, apr_size_t vlen, apr_time_t now,
                          apr_interval_time_t ttl, int *replaced);

/* APR_SUCCESS or APR_NOTFOUND (an expired entry counts as not found). */
apr_status_t hl_cache_delete(hl_cache *c, const void *key, apr_size_t klen,
                             apr_time_t now);

/* The cache API (hl_store.h states each contract; hl_cache_versions.c):
 * conditional set and delete, touch and add, under the lock. */
apr_status_t hl_cache_put(hl_cache *c, const void *key, apr_size_t klen,
                          const void *val, apr_size_t vlen, apr_time_t now,
                          apr_interval_time_t ttl, const hl_cache_cond *cond,
                          hl_cache_written *w);
apr_status_t hl_cache_remove(hl_cache *c, const void *key, apr_size_t klen,
                             apr_time_t now, const hl_cache_cond *cond,
                             hl_cache_written *w);
apr_status_t hl_cache_touch(hl_cache *c, const void *key, apr_size_t klen,
                            apr_time_t now, apr_interval_time_t ttl,
                            const hl_cache_cond *cond, hl_cache_written *w);
apr_status_t hl_cache_add(hl_cache *c, const void *key, apr_size_t klen,
                          apr_int64_t delta, const apr_int64_t *init,
                          apr_interval_time_t init_ttl, apr_time_t now,
                          const hl_cache_cond *cond, hl_cache_written *w);

/* Listing (hl_cache_list.c).  The scan order is the hash table's: by
 * bucket, and in a bucket by the key's hash tag, then its bytes.  A key
 * never moves in that order while it lives (the seed and the bucket count
 * are fixed for the life of a region, and a rewrite stays in its bucket),
 * so a scan whose position only moves forward lists every key present
 * throughout exactly once, however the others change; the position is
 * the last key listed, so a page may end inside a bucket. */
typedef struct hl_cache_list_pos {
    apr_uint32_t bucket;       /* the bucket to look at next */
    int          after;        /* 1: only what follows (tag, key) in it */
    apr_uint32_t tag;
    char        *key;
    apr_size_t   klen;
} hl_cache_list_pos;

/* Lists, from pos, live entries whose key begins with prefix into
 * items[0..max_items) (*n of them, keys copied into pool), looking at
 * max_buckets buckets at most, and moves pos past what it looked at;
 * *done once the last bucket is passed; *scanned grows by the entries
 * looked at.  Under the lock: the caller
 * bounds what one lock hold costs with max_buckets and max_items. */
apr_status_t hl_cache_list_batch(hl_cache *c, apr_pool_t *pool,
                                 hl_cache_list_pos *pos, const void *prefix,
                                 apr_size_t plen, apr_time_t now,
                                 int max_items, apr_uint32_t max_buckets,
                                 hl_cache_listed *items, int *n, int *done,
                                 apr_uint64_t *scanned);
/* The cursor for pos: text naming the region (its seed and bucket count),
 * the bucket and, after a key, its tag and bytes in hex. */
const char *hl_cache_cursor_make(const hl_cache *c, apr_pool_t *pool,
                                 const hl_cache_list_pos *pos);
/* pos for a cursor made by hl_cache_cursor_make on this region; NULL or
 * "" is the beginning.  APR_EINVAL for anything else. */
apr_status_t hl_cache_cursor_read(const hl_cache *c, apr_pool_t *pool,
                                  const char *cursor, hl_cache_list_pos *pos);

/* The common figures (hl_store.h); n_extra is 0. */
apr_status_t hl_cache_stats_read(const hl_cache *c, hl_cache_stats *st);
apr_status_t hl_cache_repairs_read(const hl_cache *c, hl_cache_repairs *r);

/* Repairs the cache if a writer died mid-update (every operation above
 * does this first).  *reason (may be NULL) gets NULL if nothing was to be
 * done, else what was done, in the region (valid until the next repair). */
apr_status_t hl_cache_recover(hl_cache *c, apr_time_t now,
                              const char **reason);

/* Full consistency check of tags, bins, the LRU list, the expiry heap,
 * hash chains and stats, for tests and debugging.  On failure why gets a
 * description. */
apr_status_t hl_cache_validate(const hl_cache *c, char *why, apr_size_t len);

/* Tests only: the byte offset and width of a field of the region header
 * (its member name, "writer_active") or of a block header ("block.klen"),
 * so that tests can damage a region as a hostile process would.
 * APR_NOTFOUND for a name not listed in hl_cache.c. */
apr_status_t hl_cache_field(const char *name, apr_size_t *offset,
                            apr_size_t *width);
/* Tests only: reads or writes that field as a number; at is the region
 * for a header field, a block's first byte for a block field. */
apr_status_t hl_cache_field_get(const void *at, const char *name,
                                apr_uint64_t *v);
apr_status_t hl_cache_field_set(void *at, const char *name, apr_uint64_t v);

/* Tests only: runs hl_cache_set but stops after `steps` internal steps
 * (returning APR_EINTR), leaving the half-done state a killed writer would
 * leave.  steps >= the number of steps completes the set. */
apr_status_t hl_cache_set_interrupted(hl_cache *c, const void *key,
                                      apr_size_t klen, const void *val,
                                      apr_size_t vlen, apr_time_t now,
                                      apr_interval_time_t ttl, int steps);

/* Tests only: hl_cache_recover killed once it has marked the touch slots
 * the LIVE blocks keep, leaving what such a repairer leaves (the marks,
 * writer_active, seq open): APR_EINTR, or APR_EINVAL if no repair was
 * due. */
apr_status_t hl_cache_recover_interrupted(hl_cache *c);

#endif
