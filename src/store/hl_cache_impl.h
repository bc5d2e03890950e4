/* hl_cache_impl: what the files of the cache share and nothing outside
 * them may include: the region header, the block and the touch slot as
 * they lie in shared memory, the small helpers of the hot paths (inline),
 * and the prototypes of the internal functions one file calls in another.
 *
 *   hl_cache_hash.c    SipHash-1-3, keyed per region
 *   hl_cache_alloc.c   boundary tags and segregated free bins
 *   hl_cache.c         the table: entries, touch slots, the LRU list and
 *                      the expiry heap, operations, lock-free reads, format
 *   hl_cache_lock.c    the lock, and quiet reads without it
 *   hl_cache_repair.c  crash repair and hl_cache_validate
 *   hl_cache_copy.c    the defensive copy a resize migrates with
 *   hl_offset_list.h   the list the LRU order uses
 *
 * Internal functions called across files are named hlc_*. */
#ifndef HL_CACHE_IMPL_H
#define HL_CACHE_IMPL_H

#include "hl_cache.h"
#include "hl_offset_list.h"

#include <pthread.h>
#include <stddef.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#define CACHE_MAGIC      0x31434c48u   /* "HLC1" little-endian */
#define CACHE_VERSION    6u           /* 4: entries carry versions;
                                        * 5: the lock lives in the region;
                                        * 6: an expiry heap after the touch
                                        *    slots replaces the expiry list */
#define UNIT             16u           /* allocation granule, link unit */
#define NBINS            128

/* Block states: distinct non-zero words, so garbage is unlikely to pass. */
#define B_FREE     0x46524545u
#define B_RESERVED 0x52535644u
#define B_LIVE     0x4c495645u

typedef struct block {
    apr_uint32_t size;          /* units, header and footer included */
    apr_uint32_t state;
    apr_uint32_t hnext;         /* LIVE: next in the hash chain */
    apr_uint32_t tag;           /* LIVE: high 32 bits of the key's hash */
    apr_uint32_t prev, next;    /* LIVE: LRU list; FREE: its bin's list */
    apr_uint32_t hpos;          /* LIVE: its expiry heap slot + 1; 0: none
                                 * (expires == 0) */
    apr_uint32_t spare;         /* 0 (was the expiry list's second link) */
    apr_uint32_t klen, vlen;
    apr_int64_t  set_time;
    apr_int64_t  access_time;   /* LIVE: its place in the LRU order */
    apr_int64_t  expires;
    apr_uint32_t id, gen;       /* LIVE: its touch slot and that slot's gen */
    apr_uint64_t version;       /* LIVE: from the region's next_version */
    unsigned char data[];       /* key, value; the last 4 bytes: footer */
} block;

#define FOOTER_BYTES sizeof(apr_uint32_t)
#define MIN_UNITS ((apr_uint32_t)((sizeof(block) + 1 + FOOTER_BYTES + UNIT - 1) / UNIT))

/* Hits, misses and the accesses of live entries, counted by every read:
 * one shared word each would move between the CPUs on every hit, so each
 * CPU adds to its own line and the stats sum them.  accesses may go
 * "negative" in one shard (a removal subtracts on the writer's CPU what
 * hits added on others); only the sum means anything. */
#define READ_SHARDS 16

typedef struct read_shard {
    apr_uint64_t hits, misses, accesses;
    apr_uint64_t pad[5];                 /* one 64-byte line each */
} read_shard;

struct hl_cache {
    apr_uint32_t magic, version;
    apr_uint64_t region_size, max_key, max_value;
    apr_uint64_t seed[2];
    apr_uint32_t nbuckets, bucket_off, data_start, data_end;   /* units */
    apr_uint32_t touch_off, ntouch;     /* units; slots */

    /* Lock-free reads: odd while a writer changes what a reader walks. */
    apr_uint64_t seq;
    apr_uint32_t touch_free;            /* first free slot + 1; 0: none */

    /* Crash safety: set around every mutation (hl_cache_repair.c). */
    apr_uint32_t writer_active;
    apr_int32_t  writer_pid;
    apr_uint64_t recoveries;
    apr_int64_t  last_recovery_time;
    char         last_recovery[HL_CACHE_REASON_MAX];

    apr_uint32_t lru_head, lru_tail;
    apr_uint32_t exp_count, exp_spare;  /* entries in the expiry heap; 0 */
    apr_uint64_t bin_map[NBINS / 64];
    apr_uint32_t bins[NBINS];

    apr_uint64_t total_entries, sets, deletes, evictions, expirations,
                 bytes_used;
    apr_uint64_t next_version;          /* the last version handed out */
    apr_uint64_t exp_steps;             /* heap levels walked, ever: the
                                         * tests count a write's work */

    /* What reads count, split by CPU (see read_shard). */
    read_shard   reads[READ_SHARDS];

    /* The lock and the parent's request to wait (hl_cache_lock.c), with
     * no other word in their lines: every write takes the one and reads
     * the other.  Padded, not aligned: apr_shm's base is only 8-aligned. */
    char         lock_line_before[64];
    pthread_mutex_t lock;
    apr_int64_t  pause_until;   /* writers wait until then; 0: no pause */
    apr_int32_t  holder_pid;    /* who took the lock last */
    char         lock_line_after[64];
};

#define HDR_UNITS ((apr_uint32_t)((sizeof(hl_cache) + UNIT - 1) / UNIT))

/* A touch slot: what a hit changes, kept out of the blocks (hl_cache.c).
 * The gen moves on each time the slot is freed. */
typedef struct touch {
    apr_uint64_t word;      /* gen << 48 | count; free: gen << 48 | T_FREE | next + 1 */
    apr_int64_t  atime;     /* last hit */
} touch;

#define T_GEN_SHIFT 48
#define T_FREE      (1ull << 47)
#define T_MARK      (1ull << 46)     /* repair: claimed by a LIVE block */
#define T_COUNT     (T_MARK - 1)     /* count, or the free list's link */
#define T_GEN(w)    ((apr_uint32_t)((w) >> T_GEN_SHIFT))

#define RELAXED(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* ---- layout helpers ---------------------------------------------------- */

static inline block *blk(const hl_cache *c, apr_uint32_t off)
{
    return (block *)((char *)c + (apr_size_t)off * UNIT);
}

static inline apr_uint32_t off_of(const hl_cache *c, const block *b)
{
    return (apr_uint32_t)(((const char *)b - (const char *)c) / UNIT);
}

static inline apr_uint32_t *buckets(const hl_cache *c)
{
    return (apr_uint32_t *)((char *)c + (apr_size_t)c->bucket_off * UNIT);
}

static inline touch *touches(const hl_cache *c)
{
    return (touch *)((char *)c + (apr_size_t)c->touch_off * UNIT);
}

/* The expiry heap: ntouch block offsets right after the touch slots (an
 * entry owns a slot, so the LIVE entries never outnumber them). */
static inline apr_uint32_t *exp_heap(const hl_cache *c)
{
    return (apr_uint32_t *)(touches(c) + c->ntouch);
}

static inline apr_uint32_t *footer(const block *b)
{
    return (apr_uint32_t *)((char *)b + (apr_size_t)b->size * UNIT) - 1;
}

/* Header first, as one store, so a walk by headers stays consistent
 * whenever a writer dies; the footer only serves coalescing. */
static inline void set_size(block *b, apr_uint32_t units)
{
    __atomic_store_n(&b->size, units, __ATOMIC_RELEASE);
    *footer(b) = units;
}

static inline void set_state(block *b, apr_uint32_t state)
{
    __atomic_store_n(&b->state, state, __ATOMIC_RELEASE);
}

static inline apr_uint32_t units_for(apr_size_t klen, apr_size_t vlen)
{
    return (apr_uint32_t)((sizeof(block) + klen + vlen + FOOTER_BYTES + UNIT - 1)
                          / UNIT);
}

static inline int is_expired(const block *e, apr_time_t now)
{
    return e->expires != 0 && now >= e->expires;
}

/* The expiry heap's order: sooner first, then the older version, so
 * that the order is total (entries in the heap all have expires != 0). */
static inline int expires_before(const block *a, const block *b)
{
    return a->expires < b->expires
           || (a->expires == b->expires && a->version < b->version);
}

static inline read_shard *my_shard(hl_cache *c)
{
#ifdef __linux__
    int cpu = sched_getcpu();      /* rseq or vDSO: no system call */
    return &c->reads[cpu > 0 ? (unsigned)cpu % READ_SHARDS : 0];
#else
    return &c->reads[0];
#endif
}

#define SUM_READS(c, field, out) do {                                     \
        unsigned i_;                                                     \
        (out) = 0;                                                       \
        for (i_ = 0; i_ < READ_SHARDS; i_++)                             \
            (out) += __atomic_load_n(&(c)->reads[i_].field, __ATOMIC_RELAXED); \
    } while (0)

static inline void count_accesses(hl_cache *c, apr_int64_t n)
{
    __atomic_add_fetch(&my_shard(c)->accesses, (apr_uint64_t)n, __ATOMIC_RELAXED);
}

/* ---- the LRU list of LIVE blocks (hl_offset_list.h) --------------------- */

static inline hl_olist lru_list(hl_cache *c)
{
    hl_olist l = { (char *)c, UNIT, &c->lru_head, &c->lru_tail,
                   offsetof(block, prev), offsetof(block, next) };
    return l;
}

/* ---- hash (hl_cache_hash.c) -------------------------------------------- */

apr_uint64_t hlc_siphash13(const void *data, apr_size_t len,
                           const apr_uint64_t k[2]);

static inline apr_uint64_t key_hash(const hl_cache *c, const void *key,
                                    apr_size_t klen)
{
    return hlc_siphash13(key, klen, c->seed);
}

/* Puts e at the head of the chain of its hash h. */
static inline void hash_link(hl_cache *c, block *e, apr_uint64_t h)
{
    apr_uint32_t *bucket = &buckets(c)[h & (c->nbuckets - 1)];
    e->tag = (apr_uint32_t)(h >> 32);
    e->hnext = *bucket;
    *bucket = off_of(c, e);
}

/* ---- allocator (hl_cache_alloc.c) -------------------------------------- */

/* 4 bins per power of two: sizes within 25% share a bin. */
static inline unsigned bin_of(apr_uint32_t units)
{
    unsigned fl = 31u - (unsigned)__builtin_clz(units);
    if (fl < 2)
        return units;
    return fl * 4 + ((units >> (fl - 2)) & 3);
}

/* A RESERVED block of at least units, or NULL if no free block fits. */
block *hlc_block_alloc(hl_cache *c, apr_uint32_t units);
/* Frees b, merging it with its free neighbours. */
void hlc_block_free(hl_cache *c, block *b);
/* Makes [start, end) one free block. */
void hlc_free_run(hl_cache *c, apr_uint32_t start, apr_uint32_t end);

/* ---- touch slots (hl_cache.c) ------------------------------------------ */

static inline touch *touch_of(const hl_cache *c, const block *e)
{
    return &touches(c)[e->id];
}

static inline apr_uint64_t touch_count(const hl_cache *c, const block *e)
{
    apr_uint64_t w = __atomic_load_n(&touch_of(c, e)->word, __ATOMIC_ACQUIRE);
    return (w & T_FREE) ? 0 : w & T_COUNT;
}

/* When e was last used: its last hit, or when it took its LRU place. */
static inline apr_int64_t touched_at(const hl_cache *c, const block *e)
{
    apr_int64_t t = __atomic_load_n(&touch_of(c, e)->atime, __ATOMIC_RELAXED);
    return t > e->access_time ? t : e->access_time;
}

/* Gives e a slot with count 0; the caller made sure one is free. */
void hlc_touch_alloc(hl_cache *c, block *e, apr_time_t now);
/* Puts slot id at the head of the free list with its gen moved on past
 * gen; returns the word it had. */
apr_uint64_t hlc_touch_push_free(hl_cache *c, apr_uint32_t id,
                                 apr_uint32_t gen);

/* ---- entries and indexes (hl_cache.c) ---------------------------------- */

block *hlc_entry_find(const hl_cache *c, const void *key, apr_size_t klen);
/* Unlinks e everywhere, uncounts it and frees its block. */
void hlc_entry_remove(hl_cache *c, block *e);
/* Counts a LIVE entry in the stats. */
void hlc_entry_account(hl_cache *c, const block *e);
/* Links a LIVE entry into its chain, at the head of the LRU list and into
 * the expiry heap if it expires, and counts it: for rebuilding, the
 * caller sorts the LRU list afterwards (hlc_lru_sort). */
void hlc_entry_index(hl_cache *c, block *e);
/* A block of units and a free touch slot, evicting until both exist. */
block *hlc_alloc_evicting(hl_cache *c, apr_uint32_t units, apr_time_t now);
/* Sorts the LRU list by access_time (newest first). */
void hlc_lru_sort(hl_cache *c);
/* Empties buckets, bins, the LRU list, the expiry heap and the live
 * stats. */
void hlc_index_clear(hl_cache *c);
/* Empties the cache: no entries, every slot free, one free block. */
void hlc_data_reset(hl_cache *c);

/* The write every setting operation makes (hl_cache.c): the entry for
 * key becomes val, expiring at expires (absolute, 0: never), with a new
 * version, if cond (NULL: none) holds.  budget as in hl_cache_set_interrupted. */
apr_status_t hlc_write(hl_cache *c, const void *key, apr_size_t klen,
                       const void *val, apr_size_t vlen, apr_time_t now,
                       apr_time_t expires, const hl_cache_cond *cond,
                       hl_cache_written *w, int *budget);
/* The live entry for key (an expired one is removed and counted), or NULL. */
block *hlc_entry_live(hl_cache *c, const void *key, apr_size_t klen,
                      apr_time_t now);
/* Moves e to where its new expires puts it in the expiry heap (in, out
 * or within it). */
void hlc_exp_replace(hl_cache *c, block *e);

/* ---- the lock (hl_cache_lock.c) ----------------------------------------- */

/* Makes the region's lock: process-shared, robust, unlocked. */
apr_status_t hlc_lock_init(hl_cache *c);
/* Whether someone holds the lock now, read without taking it. */
int hlc_lock_is_held(const hl_cache *c);

/* ---- crash safety (hl_cache_repair.c) ---------------------------------- */

/* Rebuilds the indexes after a writer died, naming it in the reason and
 * its holder as the writer from then on; the caller opened seq. */
void hlc_repair(hl_cache *c, apr_time_t now);
/* A walk by block headers ends exactly at data_end, every LIVE block
 * holding a plausible entry; else 0 and why says where it failed. */
int hlc_walk_is_sound(const hl_cache *c, char *why, apr_size_t len);

/* seq is odd from before a writer's first change to after its last, and
 * stays odd if the writer dies; lock-free readers retry or take the lock
 * while it is odd or when it moved under them.  Opening always moves it
 * (an odd word a dead writer left by two), so that a quiet reader that
 * took a dead writer's leftovers sees the next writer come. */
static inline void seq_open(hl_cache *c)
{
    apr_uint64_t s = __atomic_load_n(&c->seq, __ATOMIC_RELAXED);
    __atomic_store_n(&c->seq, s + ((s & 1) ? 2 : 1), __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static inline void seq_close(hl_cache *c)
{
    apr_uint64_t s = __atomic_load_n(&c->seq, __ATOMIC_RELAXED);
    __atomic_store_n(&c->seq, (s | 1) + 1, __ATOMIC_RELEASE);
}

static inline void write_begin(hl_cache *c, apr_time_t now)
{
    seq_open(c);
    if (__atomic_load_n(&c->writer_active, __ATOMIC_ACQUIRE))
        hlc_repair(c, now);
    c->writer_pid = c->holder_pid;
    __atomic_store_n(&c->writer_active, 1, __ATOMIC_SEQ_CST);
    /* No store of the mutation may be moved before the flag. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static inline void write_end(hl_cache *c)
{
    __atomic_store_n(&c->writer_active, 0, __ATOMIC_RELEASE);
    seq_close(c);
}

#endif
