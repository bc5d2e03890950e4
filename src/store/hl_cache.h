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
 *                 |   LRU head/tail, expiry head/tail                  |
 *                 |   free bins: bitmap + 128 list heads               |
 *                 |   stats: entries, accesses, hits, misses, ...      |
 *   bucket_off    +----------------------------------------------------+
 *                 | u32 bucket[nbuckets]  (power of two; head of the   |
 *                 |   chain of entries whose hash lands there)         |
 *   touch_off     +----------------------------------------------------+
 *                 | touch slot[ntouch], one per LIVE entry:            |
 *                 |   gen:16 | count:47  (free: gen | FREE | next)     |
 *                 |   time of the last hit                             |
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
 * entry and sits on three lists: its hash chain (singly linked), the LRU
 * list (most recently used at the head) and the expiry list (soonest
 * expiry at the head; with one TTL for all, as the module uses, an insert
 * goes at the tail in O(1); mixed TTLs walk back from the tail).
 *
 * Allocator: boundary tags with immediate coalescing and segregated free
 * lists (TLSF-like: 4 bins per power of two, a bitmap of non-empty bins).
 * Allocation takes the head of the first non-empty bin whose every block
 * fits (O(1)), else first-fit in the request's own bin, and splits off the
 * rest.  Freeing merges with free neighbours, so free space never stays
 * chopped into pieces smaller than it needs to be.  Trade-off: against
 * size classes without coalescing, this costs a footer per block and some
 * splitting work, but cannot strand memory in the wrong class when value
 * sizes change; and since evicting every entry leaves one free block,
 * a set that fits the data area at all always succeeds (it may evict many
 * LRU entries to find a contiguous hole, which is the price of not moving
 * entries).
 *
 * Hash: SipHash-1-3 keyed with a per-region random seed (keys come from
 * clients, so an unkeyed hash would let them flood one chain).  Buckets are
 * sized at one per 128 bytes of data area and the smallest entry takes 80
 * bytes, so the load factor stays below 1.6 whatever the keys.
 *
 * Reads without the lock: a hit is the common operation, and taking one
 * global lock per hit serialised every process on it.  Writers make a
 * sequence word odd around every change; hl_cache_get_lockfree reads
 * the word, walks the chain with every offset and length checked against
 * the region (what it sees may be half-written), copies the value, and
 * trusts the copy only if the word is unchanged and even.  A reader must
 * never write into a block, which may have been freed and reused since it
 * looked; so what a hit changes lives in a fixed table of touch slots,
 * one per entry: the access count, raised by a compare-and-swap that also
 * checks the slot's generation (bumped when the entry goes), and the time
 * of the last hit.  Hits therefore do not move entries in the LRU list;
 * eviction looks at the tail and, if it was hit since it took its place,
 * moves it to where that hit puts it and looks again (exact LRU, paid for
 * at eviction, under the lock; one eviction settles at most 256 hit
 * entries, each placed within 128 steps, so a pathological order costs
 * exactness rather than time).  Trade-offs: 16 bytes of slot per 128
 * bytes of data (small entries may run out of slots first, and a set then
 * evicts), and a reader that loses a race with a writer retries, then
 * takes the lock.
 *
 * Locking and crash safety: every function below except
 * hl_cache_get_lockfree assumes the caller holds the global mutex
 * (hl_store_shm.c takes it).  A
 * mutation sets writer_active first and clears it last.  Whoever finds it
 * set on entry knows the previous writer died mid-update (the mutex itself
 * is released by the kernel or made consistent by APR) and rebuilds the
 * indexes from the data area: the blocks are walked by their headers
 * (every header change is a single store that keeps the walk consistent),
 * FREE and RESERVED blocks are merged back into free space, LIVE blocks are
 * rehashed and relinked, LRU and expiry order restored by sorting on the
 * stored times, and the stats recounted.  An entry's key and value are
 * written before the block turns LIVE (the commit of a set) and never
 * changed after, and turning FREE is the commit of a removal; so after an
 * interrupted set the key holds the old value, the new one, or nothing
 * (the old was removed first), never a mix.  If the walk itself fails the
 * cache is emptied.  Either way recoveries is counted and the reason kept
 * for the stats.
 *
 * Time is always passed in (apr_time_t now), so tests drive the clock.
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

/* Formats a region of size bytes (a multiple of 16). */
apr_status_t hl_cache_format(void *region, apr_size_t size,
                             const hl_cache_config *cfg);

/* APR_SUCCESS when region holds a cache of this version whose header
 * describes exactly geo; APR_EGENERAL without the magic or version,
 * APR_EINVAL on any other difference.  Reads only the header. */
apr_status_t hl_cache_check(const void *region, const hl_cache_geometry *geo);

/* Copies the stats and the unexpired entries of src, a region formatted
 * as geo, into a formatted dst, least recently used first so that if dst
 * is smaller the oldest go.  Entries that do not fit dst's limits are
 * skipped; those pushed out are counted as evictions.  src is only read,
 * never written (not even repaired after a writer died mid-update), and
 * read as memory a hostile process may change meanwhile: each word once,
 * every offset, length and slot id checked against geo before use, the
 * data area walked by block sizes, no list or chain followed.  APR_EINVAL
 * (or hl_cache_check's status) when src fails a check: the copy stops
 * there, and dst stays a valid table holding what was copied.  The caller
 * holds dst's lock. */
apr_status_t hl_cache_copy(hl_cache *dst, const hl_cache *src,
                           const hl_cache_geometry *geo, apr_time_t now);

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

/* The common figures (hl_store.h); n_extra is 0. */
apr_status_t hl_cache_stats_read(const hl_cache *c, hl_cache_stats *st);
apr_status_t hl_cache_repairs_read(const hl_cache *c, hl_cache_repairs *r);

/* Repairs the cache if a writer died mid-update (every operation above
 * does this first).  *reason (may be NULL) gets NULL if nothing was to be
 * done, else what was done, in the region (valid until the next repair). */
apr_status_t hl_cache_recover(hl_cache *c, apr_time_t now,
                              const char **reason);

/* Full consistency check of tags, lists, hash chains and stats, for tests
 * and debugging.  On failure why gets a description. */
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

#endif
