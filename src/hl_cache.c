/* hl_cache: see hl_cache.h for the region layout, the allocator, the hash,
 * and crash recovery.  Reading order below: layout and helpers, hash,
 * allocator, lists, entries, crash safety, operations, format/copy/validate. */
#include "hl_cache.h"
#include "hl_offset_list.h"

#include <apr_strings.h>

#include <stddef.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define CACHE_MAGIC      0x31434c48u   /* "HLC1" little-endian */
#define CACHE_VERSION    3u
#define UNIT             16u           /* allocation granule, link unit */
#define NBINS            128
#define BYTES_PER_BUCKET 128u          /* one bucket per this much data */
#define BYTES_PER_TOUCH  128u          /* one touch slot per this much data */
#define MAX_HOPS         64            /* chain steps a lock-free read takes */
#define LRU_MOVES        256           /* hit entries one eviction settles */
#define LRU_WALK         128           /* list steps to place one of them */
#define MIN_DATA_UNITS   64u           /* 1 KiB: smallest useful data area */

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
    apr_uint32_t eprev, enext;  /* LIVE: expiry list */
    apr_uint32_t klen, vlen;
    apr_int64_t  set_time;
    apr_int64_t  access_time;   /* LIVE: its place in the LRU order */
    apr_int64_t  expires;
    apr_uint32_t id, gen;       /* LIVE: its touch slot and that slot's gen */
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

    /* Crash safety: set around every mutation (see hl_cache.h). */
    apr_uint32_t writer_active;
    apr_int32_t  writer_pid;
    apr_uint64_t recoveries;
    apr_int64_t  last_recovery_time;
    char         last_recovery[HL_CACHE_REASON_MAX];

    apr_uint32_t lru_head, lru_tail, exp_head, exp_tail;
    apr_uint64_t bin_map[NBINS / 64];
    apr_uint32_t bins[NBINS];

    apr_uint64_t total_entries, sets, deletes, evictions, expirations,
                 bytes_used;

    /* What reads count, split by CPU (see read_shard). */
    read_shard   reads[READ_SHARDS];
};

#define HDR_UNITS ((apr_uint32_t)((sizeof(hl_cache) + UNIT - 1) / UNIT))

/* A touch slot: what a hit changes, kept out of the blocks so that a
 * lock-free reader never writes into memory that may have been freed and
 * reused since it looked.  The gen moves on each time the slot is freed,
 * and a reader counts its hit only by a compare-and-swap that still sees
 * the gen it read in the entry. */
typedef struct touch {
    apr_uint64_t word;      /* gen << 48 | count; free: gen << 48 | T_FREE | next + 1 */
    apr_int64_t  atime;     /* last hit */
} touch;

#define T_GEN_SHIFT 48
#define T_FREE      (1ull << 47)
#define T_MARK      (1ull << 46)     /* repair: claimed by a LIVE block */
#define T_COUNT     (T_MARK - 1)     /* count, or the free list's link */
#define NO_SLOT     0xffffffffu
#define T_GEN(w)    ((apr_uint32_t)((w) >> T_GEN_SHIFT))

/* ---- layout helpers ---------------------------------------------------- */

static block *blk(const hl_cache *c, apr_uint32_t off)
{
    return (block *)((char *)c + (apr_size_t)off * UNIT);
}

static apr_uint32_t off_of(const hl_cache *c, const block *b)
{
    return (apr_uint32_t)(((const char *)b - (const char *)c) / UNIT);
}

static apr_uint32_t *buckets(const hl_cache *c)
{
    return (apr_uint32_t *)((char *)c + (apr_size_t)c->bucket_off * UNIT);
}

static read_shard *my_shard(hl_cache *c)
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

static void count_miss(hl_cache *c)
{
    __atomic_add_fetch(&my_shard(c)->misses, 1, __ATOMIC_RELAXED);
}

static void count_accesses(hl_cache *c, apr_int64_t n)
{
    __atomic_add_fetch(&my_shard(c)->accesses, (apr_uint64_t)n, __ATOMIC_RELAXED);
}

static touch *touches(const hl_cache *c)
{
    return (touch *)((char *)c + (apr_size_t)c->touch_off * UNIT);
}

static apr_uint32_t *footer(const block *b)
{
    return (apr_uint32_t *)((char *)b + (apr_size_t)b->size * UNIT) - 1;
}

/* Header first, as one store, so a walk by headers stays consistent
 * whenever a writer dies; the footer only serves coalescing. */
static void set_size(block *b, apr_uint32_t units)
{
    __atomic_store_n(&b->size, units, __ATOMIC_RELEASE);
    *footer(b) = units;
}

static void set_state(block *b, apr_uint32_t state)
{
    __atomic_store_n(&b->state, state, __ATOMIC_RELEASE);
}

static apr_uint32_t units_for(apr_size_t klen, apr_size_t vlen)
{
    return (apr_uint32_t)((sizeof(block) + klen + vlen + FOOTER_BYTES + UNIT - 1)
                          / UNIT);
}

static int is_expired(const block *e, apr_time_t now)
{
    return e->expires != 0 && now >= e->expires;
}

/* ---- hash: SipHash-1-3 ------------------------------------------------- */

#define ROTL(x, b) (apr_uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do {                                                   \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);        \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                            \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                            \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);        \
    } while (0)

static apr_uint64_t load_le64(const unsigned char *p)
{
    apr_uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static apr_uint64_t siphash13(const void *data, apr_size_t len,
                              const apr_uint64_t k[2])
{
    const unsigned char *in = data, *end = in + (len & ~(apr_size_t)7);
    apr_uint64_t v0 = 0x736f6d6570736575ULL ^ k[0];
    apr_uint64_t v1 = 0x646f72616e646f6dULL ^ k[1];
    apr_uint64_t v2 = 0x6c7967656e657261ULL ^ k[0];
    apr_uint64_t v3 = 0x7465646279746573ULL ^ k[1];
    apr_uint64_t b = (apr_uint64_t)len << 56, m;
    apr_size_t i;

    for (; in != end; in += 8) {
        m = load_le64(in);
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    for (i = 0; i < (len & 7); i++)
        b |= (apr_uint64_t)in[i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

static apr_uint64_t key_hash(const hl_cache *c, const void *key, apr_size_t klen)
{
    return siphash13(key, klen, c->seed);
}

/* ---- allocator: boundary tags + segregated free bins ------------------- */

/* 4 bins per power of two: sizes within 25% share a bin. */
static unsigned bin_of(apr_uint32_t units)
{
    unsigned fl = 31u - (unsigned)__builtin_clz(units);
    if (fl < 2)
        return units;
    return fl * 4 + ((units >> (fl - 2)) & 3);
}

static void bin_insert(hl_cache *c, block *b)
{
    unsigned i = bin_of(b->size);
    apr_uint32_t o = off_of(c, b);
    b->prev = 0;
    b->next = c->bins[i];
    if (c->bins[i])
        blk(c, c->bins[i])->prev = o;
    c->bins[i] = o;
    c->bin_map[i / 64] |= 1ull << (i % 64);
}

static void bin_remove(hl_cache *c, block *b)
{
    unsigned i = bin_of(b->size);
    if (b->prev)
        blk(c, b->prev)->next = b->next;
    else
        c->bins[i] = b->next;
    if (b->next)
        blk(c, b->next)->prev = b->prev;
    if (!c->bins[i])
        c->bin_map[i / 64] &= ~(1ull << (i % 64));
}

/* First non-empty bin above b, or -1. */
static int bin_above(const hl_cache *c, unsigned b)
{
    unsigned i = b + 1;
    while (i < NBINS) {
        apr_uint64_t m = c->bin_map[i / 64] & (~0ull << (i % 64));
        if (m)
            return (int)((i / 64) * 64 + (unsigned)__builtin_ctzll(m));
        i = (i / 64 + 1) * 64;
    }
    return -1;
}

/* Any block of a higher bin fits; only the request's own bin needs a scan. */
static block *find_fit(const hl_cache *c, apr_uint32_t units)
{
    unsigned own = bin_of(units);
    int above = bin_above(c, own);
    apr_uint32_t o;

    if (above >= 0)
        return blk(c, c->bins[above]);
    for (o = c->bins[own]; o; o = blk(c, o)->next)
        if (blk(c, o)->size >= units)
            return blk(c, o);
    return NULL;
}

/* The rest goes back to a bin when it can hold a block of its own.  The
 * rest's header is written before b shrinks, so a header walk never sees
 * a half-split block. */
static block *block_alloc(hl_cache *c, apr_uint32_t units)
{
    block *b = find_fit(c, units);
    if (!b)
        return NULL;
    bin_remove(c, b);
    if (b->size - units >= MIN_UNITS) {
        block *rest = (block *)((char *)b + (apr_size_t)units * UNIT);
        rest->state = B_FREE;
        set_size(rest, b->size - units);
        set_size(b, units);
        bin_insert(c, rest);
    }
    set_state(b, B_RESERVED);
    return b;
}

/* Merges with free neighbours: adjacent free blocks never exist. */
static void block_free(hl_cache *c, block *b)
{
    apr_uint32_t o = off_of(c, b), size = b->size;

    set_state(b, B_FREE);
    if (o + size < c->data_end) {
        block *n = blk(c, o + size);
        if (n->state == B_FREE) {
            bin_remove(c, n);
            size += n->size;
            set_size(b, size);
        }
    }
    if (o > c->data_start) {
        block *p = blk(c, o - ((apr_uint32_t *)b)[-1]);
        if (p->state == B_FREE) {
            bin_remove(c, p);
            set_size(p, p->size + size);
            b = p;
        }
    }
    bin_insert(c, b);
}

/* Makes [start, end) one free block. */
static void free_run(hl_cache *c, apr_uint32_t start, apr_uint32_t end)
{
    block *b = blk(c, start);
    b->state = B_FREE;
    set_size(b, end - start);
    bin_insert(c, b);
}

/* ---- the LRU and expiry lists ------------------------------------------ */

/* Both are one offset list (hl_offset_list.h) on two pairs of links. */
static hl_olist lru_list(hl_cache *c)
{
    hl_olist l = { (char *)c, UNIT, &c->lru_head, &c->lru_tail,
                   offsetof(block, prev), offsetof(block, next) };
    return l;
}

static hl_olist exp_list(hl_cache *c)
{
    hl_olist l = { (char *)c, UNIT, &c->exp_head, &c->exp_tail,
                   offsetof(block, eprev), offsetof(block, enext) };
    return l;
}

static apr_int64_t expiry_key(const block *e)
{
    return e->expires ? e->expires : APR_INT64_MAX;
}

/* The LRU list: newest access first; the expiry list: soonest first. */
static int newer_access(const void *a, const void *b)
{
    return ((const block *)a)->access_time >= ((const block *)b)->access_time;
}

static int sooner_expiry(const void *a, const void *b)
{
    return expiry_key(a) <= expiry_key(b);
}

static void lists_sort(hl_cache *c)
{
    hl_olist lru = lru_list(c), exp = exp_list(c);
    hl_ol_sort(&lru, newer_access);
    hl_ol_sort(&exp, sooner_expiry);
}

/* Inserts after the last entry expiring no later: O(1) for a uniform TTL. */
static void exp_insert(hl_cache *c, block *e)
{
    hl_olist l = exp_list(c);
    apr_uint32_t after = c->exp_tail;
    while (after && expiry_key(blk(c, after)) > expiry_key(e))
        after = blk(c, after)->eprev;
    hl_ol_insert_after(&l, after, off_of(c, e));
}

/* ---- touch slots: hit counts and last-hit times -------------------------- */

static touch *touch_of(const hl_cache *c, const block *e)
{
    return &touches(c)[e->id];
}

/* Gives e a slot with count 0; the caller made sure one is free. */
static void touch_alloc(hl_cache *c, block *e, apr_time_t now)
{
    apr_uint32_t id = c->touch_free - 1;
    touch *t = &touches(c)[id];
    apr_uint64_t w = __atomic_load_n(&t->word, __ATOMIC_RELAXED);

    c->touch_free = (apr_uint32_t)(w & T_COUNT);
    __atomic_store_n(&t->atime, now, __ATOMIC_RELAXED);
    __atomic_store_n(&t->word, (apr_uint64_t)T_GEN(w) << T_GEN_SHIFT,
                     __ATOMIC_RELEASE);
    e->id = id;
    e->gen = T_GEN(w);
}

/* Puts slot id at the head of the free list with its gen moved on past
 * gen, in one exchange, so no reader holding gen can add to it afterwards.
 * Returns the word it had. */
static apr_uint64_t touch_push_free(hl_cache *c, apr_uint32_t id,
                                    apr_uint32_t gen)
{
    apr_uint64_t next = (apr_uint64_t)((gen + 1u) & 0xffffu) << T_GEN_SHIFT
                        | T_FREE | c->touch_free;
    apr_uint64_t old = __atomic_exchange_n(&touches(c)[id].word, next,
                                           __ATOMIC_ACQ_REL);
    c->touch_free = id + 1;
    return old;
}

/* Frees e's slot and returns its count. */
static apr_uint64_t touch_release(hl_cache *c, const block *e)
{
    apr_uint64_t old = touch_push_free(c, e->id, e->gen);
    return (old & T_FREE) ? 0 : old & T_COUNT;
}

static apr_uint64_t touch_count(const hl_cache *c, const block *e)
{
    apr_uint64_t w = __atomic_load_n(&touch_of(c, e)->word, __ATOMIC_ACQUIRE);
    return (w & T_FREE) ? 0 : w & T_COUNT;
}

/* When e was last used: its last hit, or when it took its LRU place. */
static apr_int64_t touched_at(const hl_cache *c, const block *e)
{
    apr_int64_t t = __atomic_load_n(&touch_of(c, e)->atime, __ATOMIC_RELAXED);
    return t > e->access_time ? t : e->access_time;
}

/* Counts one hit of the entry whose slot is (id, gen); *count gets its
 * access_count including this hit.  0 if the slot has moved on (the entry
 * was removed since the caller looked).  total_accesses is raised before
 * the count and lowered again on failure, so a removal that subtracts the
 * count never leaves it one too high. */
static int touch_hit(hl_cache *c, apr_uint32_t id, apr_uint32_t gen,
                     apr_time_t now, apr_uint64_t *count)
{
    touch *t = &touches(c)[id];
    read_shard *rs = my_shard(c);
    apr_uint64_t w = __atomic_load_n(&t->word, __ATOMIC_ACQUIRE);

    __atomic_add_fetch(&rs->accesses, 1, __ATOMIC_RELAXED);
    for (;;) {
        if (T_GEN(w) != gen || (w & (T_FREE | T_MARK)) || (w & T_COUNT) == T_COUNT) {
            __atomic_sub_fetch(&rs->accesses, 1, __ATOMIC_RELAXED);
            return 0;
        }
        if (__atomic_compare_exchange_n(&t->word, &w, w + 1, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            break;
    }
    __atomic_store_n(&t->atime, now, __ATOMIC_RELAXED);
    __atomic_add_fetch(&rs->hits, 1, __ATOMIC_RELAXED);
    *count = (w & T_COUNT) + 1;
    return 1;
}

/* Formats n slots as one free list, id 0 first. */
static void touch_reset(hl_cache *c)
{
    apr_uint32_t i = c->ntouch;
    c->touch_free = 0;
    while (i-- > 0) {
        touch_push_free(c, i, T_GEN(touches(c)[i].word));
        touches(c)[i].atime = 0;
    }
}

/* ---- entries ----------------------------------------------------------- */

/* The link that points at the entry for key (to unlink it), or NULL. */
static apr_uint32_t *entry_link(const hl_cache *c, const void *key,
                                apr_size_t klen, apr_uint64_t h)
{
    apr_uint32_t *link = &buckets(c)[h & (c->nbuckets - 1)];
    apr_uint32_t tag = (apr_uint32_t)(h >> 32);
    while (*link) {
        block *e = blk(c, *link);
        if (e->tag == tag && e->klen == klen && memcmp(e->data, key, klen) == 0)
            return link;
        link = &e->hnext;
    }
    return NULL;
}

static block *entry_find(const hl_cache *c, const void *key, apr_size_t klen)
{
    apr_uint32_t *link = entry_link(c, key, klen, key_hash(c, key, klen));
    return link ? blk(c, *link) : NULL;
}

static void hash_link(hl_cache *c, block *e, apr_uint64_t h)
{
    apr_uint32_t *bucket = &buckets(c)[h & (c->nbuckets - 1)];
    e->tag = (apr_uint32_t)(h >> 32);
    e->hnext = *bucket;
    *bucket = off_of(c, e);
}

static void hash_unlink(hl_cache *c, block *e)
{
    apr_uint32_t *link = entry_link(c, e->data, e->klen,
                                    key_hash(c, e->data, e->klen));
    if (link)
        *link = e->hnext;
}

/* Marking the block FREE first is the commit: if the writer dies later,
 * recovery does not bring the entry back. */
static void entry_remove(hl_cache *c, block *e)
{
    hl_olist lru = lru_list(c), exp = exp_list(c);
    set_state(e, B_FREE);
    hash_unlink(c, e);
    hl_ol_unlink(&lru, off_of(c, e));
    hl_ol_unlink(&exp, off_of(c, e));
    c->total_entries--;
    count_accesses(c, -(apr_int64_t)touch_release(c, e));
    c->bytes_used -= (apr_uint64_t)e->size * UNIT;
    block_free(c, e);
}

static void entry_account(hl_cache *c, const block *e)
{
    c->total_entries++;
    count_accesses(c, (apr_int64_t)touch_count(c, e));
    c->bytes_used += (apr_uint64_t)e->size * UNIT;
}

/* Links a LIVE entry into its chain, at the head of the LRU list and the
 * tail of the expiry list, and counts it: for rebuilding, the caller
 * sorts both lists afterwards (lists_sort). */
static void entry_index(hl_cache *c, block *e)
{
    hl_olist lru = lru_list(c), exp = exp_list(c);
    hash_link(c, e, key_hash(c, e->data, e->klen));
    hl_ol_push_head(&lru, off_of(c, e));
    hl_ol_append(&exp, off_of(c, e));
    entry_account(c, e);
}

/* Puts e where its access_time belongs in the LRU list (newest first),
 * looking from the head, since a moved entry was hit lately; at most
 * LRU_WALK steps, so that a pathological order costs a little exactness
 * rather than time under the lock. */
static void lru_insert_sorted(hl_cache *c, block *e)
{
    hl_olist l = lru_list(c);
    apr_uint32_t after = 0, o, steps = 0;
    for (o = c->lru_head;
         o && blk(c, o)->access_time > e->access_time && steps++ < LRU_WALK;
         o = blk(c, o)->next)
        after = o;
    hl_ol_insert_after(&l, after, off_of(c, e));
}

/* The least recently used entry.  Hits do not move entries (lock-free
 * readers cannot); they stamp their touch slot.  So the tail is the victim
 * only if it was not hit since it took its place; otherwise it moves to
 * where its last hit puts it and the new tail is looked at.  The list
 * stays sorted by access_time, so the first unmoved tail is the true LRU.
 * A move needs a hit since the entry was last placed, so moves cost O(1)
 * per hit over time; one eviction makes at most LRU_MOVES of them. */
static block *lru_victim(hl_cache *c)
{
    hl_olist l = lru_list(c);
    apr_uint32_t o, moves = 0;
    while ((o = c->lru_tail) != 0) {
        block *e = blk(c, o);
        apr_int64_t t = touched_at(c, e);
        if (t == e->access_time || moves++ >= LRU_MOVES)
            return e;
        e->access_time = t;
        hl_ol_unlink(&l, o);
        lru_insert_sorted(c, e);
    }
    return NULL;
}

/* Frees one entry to make room: an expired one if any, else the LRU. */
static int evict_one(hl_cache *c, apr_time_t now)
{
    block *e;
    if (c->exp_head && is_expired(blk(c, c->exp_head), now)) {
        entry_remove(c, blk(c, c->exp_head));
        c->expirations++;
        return 1;
    }
    if ((e = lru_victim(c)) != NULL) {
        entry_remove(c, e);
        c->evictions++;
        return 1;
    }
    return 0;
}

/* A block of units and a free touch slot, evicting until both exist. */
static block *alloc_evicting(hl_cache *c, apr_uint32_t units, apr_time_t now)
{
    block *b;
    while (!c->touch_free)
        if (!evict_one(c, now))
            return NULL;
    while (!(b = block_alloc(c, units)))
        if (!evict_one(c, now))
            return NULL;
    return b;
}

/* Drops a few expired entries so they do not linger until memory runs out. */
static void purge_expired(hl_cache *c, apr_time_t now, int max)
{
    while (max-- > 0 && c->exp_head && is_expired(blk(c, c->exp_head), now)) {
        entry_remove(c, blk(c, c->exp_head));
        c->expirations++;
    }
}

/* ---- crash safety ------------------------------------------------------ */

/* A walk by block headers from data_start must end exactly at data_end,
 * and every LIVE block must hold a plausible entry. */
static int walk_is_sound(const hl_cache *c, char *why, apr_size_t len)
{
    apr_uint32_t o = c->data_start;
    while (o < c->data_end) {
        const block *b = blk(c, o);
        if (b->size < MIN_UNITS || b->size > c->data_end - o) {
            apr_snprintf(why, len, "bad block size %u at unit %u", b->size, o);
            return 0;
        }
        if (b->state != B_FREE && b->state != B_RESERVED && b->state != B_LIVE) {
            apr_snprintf(why, len, "bad block state at unit %u", o);
            return 0;
        }
        if (b->state == B_LIVE
            && (b->klen == 0 || b->klen > c->max_key || b->vlen > c->max_value
                || units_for(b->klen, b->vlen) > b->size)) {
            apr_snprintf(why, len, "bad entry lengths at unit %u", o);
            return 0;
        }
        o += b->size;
    }
    return 1;
}

/* A LIVE block keeps its touch slot (and count) if the slot still carries
 * its gen and no other block claimed it first; claimed slots are marked,
 * the rest become the free list, and blocks left without a slot get a
 * fresh one (count 0), or are dropped if none is left.  Last hits fold
 * into access_time, so the LRU sort below sees them. */
static void touch_rebuild(hl_cache *c)
{
    apr_uint32_t o, i;

    for (o = c->data_start; o < c->data_end; o += blk(c, o)->size) {
        block *b = blk(c, o);
        touch *t;
        apr_uint64_t w;
        if (b->state != B_LIVE)
            continue;
        t = b->id < c->ntouch ? &touches(c)[b->id] : NULL;
        w = t ? __atomic_load_n(&t->word, __ATOMIC_ACQUIRE) : 0;
        if (t && T_GEN(w) == b->gen && !(w & (T_FREE | T_MARK)))
            __atomic_fetch_or(&t->word, T_MARK, __ATOMIC_ACQ_REL);
        else
            b->id = NO_SLOT;
    }
    c->touch_free = 0;
    for (i = c->ntouch; i-- > 0;) {
        touch *t = &touches(c)[i];
        apr_uint64_t w = __atomic_load_n(&t->word, __ATOMIC_ACQUIRE);
        if (w & T_MARK)
            __atomic_fetch_and(&t->word, ~T_MARK, __ATOMIC_ACQ_REL);
        else
            touch_push_free(c, i, T_GEN(w));
    }
    for (o = c->data_start; o < c->data_end; o += blk(c, o)->size) {
        block *b = blk(c, o);
        if (b->state != B_LIVE)
            continue;
        if (b->id == NO_SLOT) {
            if (!c->touch_free) {
                set_state(b, B_FREE);
                continue;
            }
            touch_alloc(c, b, b->access_time);
        }
        b->access_time = touched_at(c, b);
    }
}

static void index_clear(hl_cache *c)
{
    unsigned i;
    memset(buckets(c), 0, (apr_size_t)c->nbuckets * sizeof(apr_uint32_t));
    memset(c->bins, 0, sizeof(c->bins));
    memset(c->bin_map, 0, sizeof(c->bin_map));
    c->lru_head = c->lru_tail = c->exp_head = c->exp_tail = 0;
    c->total_entries = c->bytes_used = 0;
    for (i = 0; i < READ_SHARDS; i++)
        __atomic_store_n(&c->reads[i].accesses, 0, __ATOMIC_RELAXED);
}

/* Rebuilds buckets, bins, lists and the live stats from the blocks:
 * runs of FREE and RESERVED blocks become one free block each. */
static void index_rebuild(hl_cache *c)
{
    apr_uint32_t o = c->data_start, run = 0;

    touch_rebuild(c);
    index_clear(c);
    while (o < c->data_end) {
        block *b = blk(c, o);
        apr_uint32_t size = b->size;
        if (b->state == B_LIVE) {
            if (run) {
                free_run(c, run, o);
                run = 0;
            }
            *footer(b) = size;
            entry_index(c, b);   /* both lists are sorted below */
        }
        else if (!run) {
            run = o;
        }
        o += size;
    }
    if (run)
        free_run(c, run, c->data_end);
    lists_sort(c);
}

static void data_reset(hl_cache *c)
{
    index_clear(c);
    touch_reset(c);
    free_run(c, c->data_start, c->data_end);
}

static void repair(hl_cache *c, apr_time_t now)
{
    char why[HL_CACHE_REASON_MAX];
    apr_int32_t pid = c->writer_pid;

    if (walk_is_sound(c, why, sizeof(why))) {
        index_rebuild(c);
        apr_snprintf(c->last_recovery, sizeof(c->last_recovery),
                     "writer pid %d died mid-update: index rebuilt, %"
                     APR_UINT64_T_FMT " entries kept", pid, c->total_entries);
    }
    else {
        data_reset(c);
        apr_snprintf(c->last_recovery, sizeof(c->last_recovery),
                     "writer pid %d died mid-update, %s: cache emptied",
                     pid, why);
    }
    c->recoveries++;
    c->last_recovery_time = now;
    __atomic_store_n(&c->writer_active, 0, __ATOMIC_RELEASE);
}

/* seq is odd from before a writer's first change to after its last, and
 * stays odd if the writer dies; lock-free readers retry or take the lock
 * while it is odd or when it moved under them. */
static void seq_open(hl_cache *c)
{
    apr_uint64_t s = __atomic_load_n(&c->seq, __ATOMIC_RELAXED);
    if (!(s & 1))
        __atomic_store_n(&c->seq, s + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static void seq_close(hl_cache *c)
{
    apr_uint64_t s = __atomic_load_n(&c->seq, __ATOMIC_RELAXED);
    __atomic_store_n(&c->seq, (s | 1) + 1, __ATOMIC_RELEASE);
}

static void write_begin(hl_cache *c, apr_time_t now)
{
    seq_open(c);
    if (__atomic_load_n(&c->writer_active, __ATOMIC_ACQUIRE))
        repair(c, now);
    c->writer_pid = (apr_int32_t)getpid();
    __atomic_store_n(&c->writer_active, 1, __ATOMIC_SEQ_CST);
    /* No store of the mutation may be moved before the flag. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static void write_end(hl_cache *c)
{
    __atomic_store_n(&c->writer_active, 0, __ATOMIC_RELEASE);
    seq_close(c);
}

apr_status_t hl_cache_recover(hl_cache *c, apr_time_t now, const char **reason)
{
    int dirty = __atomic_load_n(&c->writer_active, __ATOMIC_ACQUIRE) != 0;
    if (dirty) {
        seq_open(c);
        repair(c, now);
        seq_close(c);
    }
    if (reason)
        *reason = dirty ? c->last_recovery : NULL;
    return APR_SUCCESS;
}

/* ---- operations -------------------------------------------------------- */

static int key_ok(const hl_cache *c, apr_size_t klen)
{
    return klen >= 1 && klen <= c->max_key;
}

apr_status_t hl_cache_get(hl_cache *c, apr_pool_t *pool, const void *key,
                          apr_size_t klen, apr_time_t now,
                          hl_cache_result *res)
{
    block *e;

    if (!key_ok(c, klen))
        return APR_EINVAL;
    hl_cache_recover(c, now, NULL);
    e = entry_find(c, key, klen);
    if (e && is_expired(e, now)) {
        write_begin(c, now);
        entry_remove(c, e);
        c->expirations++;
        write_end(c);
        e = NULL;
    }
    if (!e) {
        count_miss(c);
        return APR_NOTFOUND;
    }
    /* Under the lock the slot is e's: the hit counts (unless the count
     * is saturated at 2^46 - 1). */
    if (!touch_hit(c, e->id, e->gen, now, &res->access_count))
        res->access_count = touch_count(c, e);
    res->vlen = e->vlen;
    res->value = apr_palloc(pool, (apr_size_t)e->vlen + 1);
    memcpy(res->value, e->data + e->klen, e->vlen);
    res->value[e->vlen] = '\0';
    res->set_time = e->set_time;
    res->expires = e->expires;
    res->age = now - e->set_time;
    res->age_seconds = (double)res->age / (double)APR_USEC_PER_SEC;
    return APR_SUCCESS;
}

/* ---- lock-free reads --------------------------------------------------- */

/* What a reader copies out of an entry while writers may be changing it;
 * worth anything only once the seq check after it passes. */
typedef struct snapshot {
    apr_uint32_t found, id, gen, vlen;
    apr_int64_t  set_time, expires;
} snapshot;

#define RELAXED(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* The block at unit o if a block header and n data bytes fit there. */
static const block *block_in_range(const hl_cache *c, apr_uint32_t o,
                                   apr_size_t n)
{
    if (o < c->data_start || o >= c->data_end)
        return NULL;
    if ((apr_size_t)(c->data_end - o) * UNIT < sizeof(block) + n + FOOTER_BYTES)
        return NULL;
    return blk(c, o);
}

/* One look at the table, every offset and length bounds-checked since a
 * writer may be half way through a change: APR_SUCCESS with a copy of the
 * value, APR_NOTFOUND, or APR_EAGAIN if what was seen cannot be trusted. */
static apr_status_t read_racing(const hl_cache *c, apr_pool_t *pool,
                                const void *key, apr_size_t klen,
                                apr_uint64_t h, snapshot *snap, char **value)
{
    apr_uint32_t o = RELAXED(buckets(c)[h & (c->nbuckets - 1)]);
    apr_uint32_t tag = (apr_uint32_t)(h >> 32);
    int hops;

    snap->found = 0;
    for (hops = 0; o; hops++) {
        const block *e = block_in_range(c, o, klen);
        if (!e || hops == MAX_HOPS)
            return APR_EAGAIN;
        if (RELAXED(e->tag) == tag && RELAXED(e->klen) == klen
            && memcmp(e->data, key, klen) == 0) {
            snap->vlen = RELAXED(e->vlen);
            if (snap->vlen > c->max_value || !block_in_range(c, o, klen + snap->vlen))
                return APR_EAGAIN;
            snap->found = 1;
            snap->id = RELAXED(e->id);
            snap->gen = RELAXED(e->gen);
            snap->set_time = RELAXED(e->set_time);
            snap->expires = RELAXED(e->expires);
            *value = apr_palloc(pool, (apr_size_t)snap->vlen + 1);
            memcpy(*value, e->data + klen, snap->vlen);
            (*value)[snap->vlen] = '\0';
            return APR_SUCCESS;
        }
        o = RELAXED(e->hnext);
    }
    return APR_NOTFOUND;
}

apr_status_t hl_cache_get_lockfree(hl_cache *c, apr_pool_t *pool,
                                   const void *key, apr_size_t klen,
                                   apr_time_t now, hl_cache_result *res)
{
    apr_uint64_t h;
    int attempt;

    if (!key_ok(c, klen))
        return APR_EINVAL;
    h = key_hash(c, key, klen);
    for (attempt = 0; attempt < 3; attempt++) {
        apr_uint64_t seq = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE);
        snapshot snap;
        char *value = NULL;
        apr_status_t rv;

        if (seq & 1)
            return APR_EAGAIN;     /* a writer is busy, or died: the lock */
        rv = read_racing(c, pool, key, klen, h, &snap, &value);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&c->seq, __ATOMIC_RELAXED) != seq || rv == APR_EAGAIN)
            continue;
        if (rv == APR_NOTFOUND) {
            count_miss(c);
            return APR_NOTFOUND;
        }
        if (snap.expires != 0 && now >= snap.expires)
            return APR_EAGAIN;     /* removing it takes the lock */
        if (snap.id >= c->ntouch
            || !touch_hit(c, snap.id, snap.gen, now, &res->access_count))
            continue;              /* removed since: look again */
        res->value = value;
        res->vlen = snap.vlen;
        res->set_time = snap.set_time;
        res->expires = snap.expires;
        res->age = now - snap.set_time;
        res->age_seconds = (double)res->age / (double)APR_USEC_PER_SEC;
        return APR_SUCCESS;
    }
    return APR_EAGAIN;
}

/* budget: NULL normally; tests pass a step count to stop half-way. */
#define STEP(budget) \
    do { if ((budget) && (*(budget))-- <= 0) return APR_EINTR; } while (0)

static apr_status_t cache_set(hl_cache *c, const void *key, apr_size_t klen,
                              const void *val, apr_size_t vlen, apr_time_t now,
                              apr_interval_time_t ttl, int *replaced,
                              int *budget)
{
    hl_olist lru = lru_list(c);
    apr_uint32_t units;
    apr_uint64_t h;
    apr_uint32_t *link;
    block *e;

    if (replaced)
        *replaced = 0;
    if (!key_ok(c, klen) || vlen > c->max_value || ttl < 0)
        return APR_EINVAL;
    units = units_for(klen, vlen);
    if (units > c->data_end - c->data_start)
        return APR_ENOSPC;
    write_begin(c, now);
    STEP(budget);

    /* The old entry goes first: its space may serve the new one. */
    h = key_hash(c, key, klen);
    if ((link = entry_link(c, key, klen, h)) != NULL) {
        e = blk(c, *link);
        if (is_expired(e, now))
            c->expirations++;
        else if (replaced)
            *replaced = 1;
        entry_remove(c, e);
    }
    STEP(budget);
    purge_expired(c, now, 2);
    if (!(e = alloc_evicting(c, units, now))) {
        write_end(c);   /* cannot happen while the tags are sound */
        return APR_ENOSPC;
    }
    STEP(budget);

    e->klen = (apr_uint32_t)klen;
    e->vlen = (apr_uint32_t)vlen;
    e->set_time = e->access_time = now;
    e->expires = ttl ? now + ttl : 0;
    touch_alloc(c, e, now);
    e->hnext = e->prev = e->next = e->eprev = e->enext = 0;
    memcpy(e->data, key, klen);
    memcpy(e->data + klen, val, vlen);
    STEP(budget);
    set_state(e, B_LIVE);   /* the commit: recovery now keeps it */
    STEP(budget);
    hash_link(c, e, h);
    STEP(budget);
    hl_ol_push_head(&lru, off_of(c, e));
    exp_insert(c, e);
    entry_account(c, e);
    c->sets++;
    write_end(c);
    return APR_SUCCESS;
}

apr_status_t hl_cache_set(hl_cache *c, const void *key, apr_size_t klen,
                          const void *val, apr_size_t vlen, apr_time_t now,
                          apr_interval_time_t ttl, int *replaced)
{
    return cache_set(c, key, klen, val, vlen, now, ttl, replaced, NULL);
}

apr_status_t hl_cache_set_interrupted(hl_cache *c, const void *key,
                                      apr_size_t klen, const void *val,
                                      apr_size_t vlen, apr_time_t now,
                                      apr_interval_time_t ttl, int steps)
{
    return cache_set(c, key, klen, val, vlen, now, ttl, NULL, &steps);
}

#define FIELD(type, name, m) { name, offsetof(type, m), sizeof(((type *)0)->m) }

apr_status_t hl_cache_field(const char *name, apr_size_t *offset,
                            apr_size_t *width)
{
    static const struct { const char *name; apr_size_t off, width; } f[] = {
        FIELD(hl_cache, "magic", magic),
        FIELD(hl_cache, "region_size", region_size),
        FIELD(hl_cache, "max_key", max_key),
        FIELD(hl_cache, "max_value", max_value),
        FIELD(hl_cache, "nbuckets", nbuckets),
        FIELD(hl_cache, "bucket_off", bucket_off),
        FIELD(hl_cache, "data_start", data_start),
        FIELD(hl_cache, "data_end", data_end),
        FIELD(hl_cache, "touch_off", touch_off),
        FIELD(hl_cache, "ntouch", ntouch),
        FIELD(hl_cache, "touch_free", touch_free),
        FIELD(hl_cache, "writer_active", writer_active),
        FIELD(hl_cache, "lru_head", lru_head),
        FIELD(hl_cache, "lru_tail", lru_tail),
        FIELD(hl_cache, "exp_head", exp_head),
        FIELD(hl_cache, "exp_tail", exp_tail),
        FIELD(hl_cache, "total_entries", total_entries),
        FIELD(block, "block.size", size),
        FIELD(block, "block.state", state),
        FIELD(block, "block.hnext", hnext),
        FIELD(block, "block.prev", prev),
        FIELD(block, "block.next", next),
        FIELD(block, "block.klen", klen),
        FIELD(block, "block.vlen", vlen),
        FIELD(block, "block.id", id),
        { "block.data", offsetof(block, data), 0 },   /* the key's first byte */
    };
    apr_size_t i;
    for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        if (strcmp(f[i].name, name) == 0) {
            *offset = f[i].off;
            *width = f[i].width;
            return APR_SUCCESS;
        }
    return APR_NOTFOUND;
}

apr_status_t hl_cache_field_get(const void *at, const char *name,
                                apr_uint64_t *v)
{
    apr_size_t off, width;
    apr_uint32_t v32;
    apr_status_t rv = hl_cache_field(name, &off, &width);
    if (rv != APR_SUCCESS || width == 0)
        return rv != APR_SUCCESS ? rv : APR_EINVAL;
    if (width == sizeof(v32)) {
        memcpy(&v32, (const char *)at + off, sizeof(v32));
        *v = v32;
    }
    else
        memcpy(v, (const char *)at + off, sizeof(*v));
    return APR_SUCCESS;
}

apr_status_t hl_cache_field_set(void *at, const char *name, apr_uint64_t v)
{
    apr_size_t off, width;
    apr_uint32_t v32 = (apr_uint32_t)v;
    apr_status_t rv = hl_cache_field(name, &off, &width);
    if (rv != APR_SUCCESS || width == 0)
        return rv != APR_SUCCESS ? rv : APR_EINVAL;
    if (width == sizeof(v32))
        memcpy((char *)at + off, &v32, sizeof(v32));
    else
        memcpy((char *)at + off, &v, sizeof(v));
    return APR_SUCCESS;
}

apr_status_t hl_cache_delete(hl_cache *c, const void *key, apr_size_t klen,
                             apr_time_t now)
{
    apr_status_t rv = APR_NOTFOUND;
    block *e;

    if (!key_ok(c, klen))
        return APR_EINVAL;
    write_begin(c, now);
    if ((e = entry_find(c, key, klen)) != NULL) {
        if (is_expired(e, now)) {
            c->expirations++;
        }
        else {
            c->deletes++;
            rv = APR_SUCCESS;
        }
        entry_remove(c, e);
    }
    write_end(c);
    return rv;
}

apr_status_t hl_cache_stats_read(const hl_cache *c, hl_cache_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->total_entries = c->total_entries;
    SUM_READS(c, accesses, st->total_accesses);
    SUM_READS(c, hits, st->hits);
    SUM_READS(c, misses, st->misses);
    st->sets = c->sets;
    st->deletes = c->deletes;
    st->evictions = c->evictions;
    st->expirations = c->expirations;
    st->bytes_used = c->bytes_used;
    st->capacity_bytes = (apr_uint64_t)(c->data_end - c->data_start) * UNIT;
    st->max_key = c->max_key;
    st->max_value = c->max_value;
    return APR_SUCCESS;
}

apr_status_t hl_cache_repairs_read(const hl_cache *c, hl_cache_repairs *r)
{
    r->recoveries = c->recoveries;
    r->last_recovery_time = c->last_recovery_time;
    memcpy(r->last_recovery, c->last_recovery, sizeof(r->last_recovery));
    r->last_recovery[sizeof(r->last_recovery) - 1] = '\0';
    return APR_SUCCESS;
}

apr_size_t hl_cache_bytes_used(const hl_cache *c)
{
    return (apr_size_t)c->data_start * UNIT + (apr_size_t)c->bytes_used;
}

/* ---- format, check, copy ----------------------------------------------- */

static apr_uint32_t pow2_at_least(apr_size_t n)
{
    apr_uint32_t p = 1;
    while (p < n && p < (1u << 31))
        p <<= 1;
    return p;
}

apr_size_t hl_cache_min_size(void)
{
    return (apr_size_t)(HDR_UNITS + 1 + MIN_DATA_UNITS) * UNIT;
}

apr_status_t hl_cache_geometry_of(apr_size_t size, const hl_cache_config *cfg,
                                  hl_cache_geometry *geo)
{
    apr_size_t units = size / UNIT, avail;
    apr_uint32_t nb = cfg->buckets, bucket_units, nt, touch_units;

    if (size % UNIT || size < hl_cache_min_size() || units >= 0xffffffffu
        || cfg->max_key < 1 || cfg->max_key >= 0xffffffffu
        || cfg->max_value >= 0xffffffffu || (nb & (nb - 1)) != 0)
        return APR_EINVAL;
    avail = (units - HDR_UNITS) * UNIT;
    if (nb == 0)
        nb = pow2_at_least(avail / (BYTES_PER_BUCKET + sizeof(apr_uint32_t)));
    bucket_units = (apr_uint32_t)(((apr_size_t)nb * sizeof(apr_uint32_t)
                                   + UNIT - 1) / UNIT);
    /* A slot per BYTES_PER_TOUCH of data: entries smaller than that on
     * average run out of slots before bytes, and a set then evicts. */
    nt = (apr_uint32_t)(avail / (BYTES_PER_TOUCH + sizeof(touch)));
    if (nt < 4)
        nt = 4;
    touch_units = (apr_uint32_t)(((apr_size_t)nt * sizeof(touch) + UNIT - 1) / UNIT);
    if ((apr_size_t)HDR_UNITS + bucket_units + touch_units + MIN_DATA_UNITS > units)
        return APR_EINVAL;
    memset(geo, 0, sizeof(*geo));
    geo->region_size = size;
    geo->max_key = cfg->max_key;
    geo->max_value = cfg->max_value;
    geo->nbuckets = nb;
    geo->bucket_off = HDR_UNITS;
    geo->touch_off = HDR_UNITS + bucket_units;
    geo->ntouch = nt;
    geo->data_start = geo->touch_off + touch_units;
    geo->data_end = (apr_uint32_t)units;
    return APR_SUCCESS;
}

apr_status_t hl_cache_format(void *region, apr_size_t size,
                             const hl_cache_config *cfg)
{
    hl_cache *c = region;
    hl_cache_geometry geo;
    apr_status_t rv = hl_cache_geometry_of(size, cfg, &geo);

    if (rv != APR_SUCCESS)
        return rv;
    memset(c, 0, sizeof(*c));
    c->version = CACHE_VERSION;
    c->region_size = geo.region_size;
    c->max_key = geo.max_key;
    c->max_value = geo.max_value;
    c->seed[0] = cfg->seed[0];
    c->seed[1] = cfg->seed[1];
    c->nbuckets = geo.nbuckets;
    c->bucket_off = geo.bucket_off;
    c->touch_off = geo.touch_off;
    c->ntouch = geo.ntouch;
    memset(touches(c), 0, (apr_size_t)geo.ntouch * sizeof(touch));
    c->data_start = geo.data_start;
    c->data_end = geo.data_end;
    data_reset(c);
    __atomic_store_n(&c->magic, CACHE_MAGIC, __ATOMIC_RELEASE);
    return APR_SUCCESS;
}

apr_status_t hl_cache_check(const void *region, const hl_cache_geometry *geo)
{
    const hl_cache *c = region;
    if (RELAXED(c->magic) != CACHE_MAGIC || RELAXED(c->version) != CACHE_VERSION)
        return APR_EGENERAL;
    if (RELAXED(c->region_size) != geo->region_size
        || RELAXED(c->max_key) != geo->max_key
        || RELAXED(c->max_value) != geo->max_value
        || RELAXED(c->nbuckets) != geo->nbuckets
        || RELAXED(c->bucket_off) != geo->bucket_off
        || RELAXED(c->touch_off) != geo->touch_off
        || RELAXED(c->ntouch) != geo->ntouch
        || RELAXED(c->data_start) != geo->data_start
        || RELAXED(c->data_end) != geo->data_end)
        return APR_EINVAL;
    return APR_SUCCESS;
}

static void copy_counters(hl_cache *dst, const hl_cache *src)
{
    SUM_READS(src, hits, dst->reads[0].hits);
    SUM_READS(src, misses, dst->reads[0].misses);
    dst->sets = src->sets;
    dst->deletes = src->deletes;
    dst->evictions = src->evictions;
    dst->expirations = src->expirations;
    dst->recoveries = src->recoveries;
    dst->last_recovery_time = src->last_recovery_time;
    memcpy(dst->last_recovery, src->last_recovery, sizeof(dst->last_recovery));
    /* src's text may be unterminated garbage. */
    dst->last_recovery[sizeof(dst->last_recovery) - 1] = '\0';
}

/* An entry of src as the copy read it: each word read once and checked
 * against the geometry before use.  off places the block. */
typedef struct src_entry {
    apr_uint32_t off, klen, vlen;
    apr_int64_t  set_time, access_time, expires;
    apr_uint64_t count;
} src_entry;

/* Reads the block at unit off of src (off inside geo's data area): its
 * size in units, or 0 if the block breaks the layout; *live says whether
 * it holds an entry, then filled in e.  A slot id out of range or a slot
 * that is no longer the block's gives count 0 and no hit time, as repair
 * would. */
static apr_uint32_t src_block_read(const hl_cache *src,
                                   const hl_cache_geometry *geo,
                                   apr_uint32_t off, int *live, src_entry *e)
{
    const block *b = blk(src, off);
    apr_uint32_t size = RELAXED(b->size), state = RELAXED(b->state), id, gen;

    *live = 0;
    if (size < MIN_UNITS || size > geo->data_end - off)
        return 0;
    if (state == B_FREE || state == B_RESERVED)
        return size;
    if (state != B_LIVE)
        return 0;
    e->off = off;
    e->klen = RELAXED(b->klen);
    e->vlen = RELAXED(b->vlen);
    if (e->klen == 0 || e->klen > geo->max_key || e->vlen > geo->max_value
        || units_for(e->klen, e->vlen) > size)
        return 0;
    e->set_time = RELAXED(b->set_time);
    e->access_time = RELAXED(b->access_time);
    e->expires = RELAXED(b->expires);
    e->count = 0;
    id = RELAXED(b->id);
    gen = RELAXED(b->gen);
    if (id < geo->ntouch) {
        const touch *t = (const touch *)((const char *)src
                                         + (apr_size_t)geo->touch_off * UNIT) + id;
        apr_uint64_t w = __atomic_load_n(&t->word, __ATOMIC_ACQUIRE);
        apr_int64_t hit = RELAXED(t->atime);
        if (T_GEN(w) == gen && !(w & (T_FREE | T_MARK))) {
            e->count = w & T_COUNT;
            if (hit > e->access_time)
                e->access_time = hit;
        }
    }
    *live = 1;
    return size;
}

/* One entry of src into dst, at the head of dst's LRU.  The bytes come
 * from the block e places, within the bounds checked when it was read; a
 * key already in dst (src may hold it twice) is replaced, since entries
 * arrive oldest first. */
static int copy_entry(hl_cache *dst, const hl_cache *src, const src_entry *s,
                      apr_time_t now)
{
    apr_uint32_t units = units_for(s->klen, s->vlen);
    block *e, *dup;
    if ((s->expires != 0 && now >= s->expires)
        || s->klen > dst->max_key || s->vlen > dst->max_value
        || units > dst->data_end - dst->data_start)
        return 0;
    if (!(e = alloc_evicting(dst, units, now)))
        return 0;
    e->klen = s->klen;
    e->vlen = s->vlen;
    e->set_time = s->set_time;
    e->access_time = s->access_time;
    e->expires = s->expires;
    touch_alloc(dst, e, e->access_time);
    __atomic_store_n(&touch_of(dst, e)->word,
                     (apr_uint64_t)e->gen << T_GEN_SHIFT | s->count, __ATOMIC_RELEASE);
    memcpy(e->data, blk(src, s->off)->data, (apr_size_t)s->klen + s->vlen);
    if ((dup = entry_find(dst, e->data, e->klen)) != NULL)
        entry_remove(dst, dup);
    set_state(e, B_LIVE);
    entry_index(dst, e);   /* both lists are sorted at the end */
    return 1;
}

/* Where an entry of src is, and when it was last used: the copy's order. */
typedef struct src_rank {
    apr_int64_t  access_time;
    apr_uint32_t off;
} src_rank;

static int rank_cmp(const void *a, const void *b)
{
    const src_rank *x = a, *y = b;
    if (x->access_time != y->access_time)
        return x->access_time < y->access_time ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Walks src's data area by block sizes from data_start to data_end (each
 * step at least MIN_UNITS, so it ends); every entry goes into rank[] when
 * given (at most cap), else into dst when given; *n counts the entries
 * ranked, copied or (with neither) seen.
 * APR_EINVAL at the first block that breaks the layout. */
static apr_status_t src_walk(const hl_cache *src, const hl_cache_geometry *geo,
                             src_rank *rank, apr_size_t cap, hl_cache *dst,
                             apr_time_t now, apr_size_t *n)
{
    apr_uint32_t o = geo->data_start;
    *n = 0;
    while (o < geo->data_end) {
        src_entry e;
        int live;
        apr_uint32_t size = src_block_read(src, geo, o, &live, &e);
        if (!size)
            return APR_EINVAL;
        if (live) {
            if (rank) {
                if (*n == cap)
                    return APR_EINVAL;   /* changed since it was counted */
                rank[*n].access_time = e.access_time;
                rank[*n].off = o;
                (*n)++;
            }
            else if (dst)
                *n += (apr_size_t)copy_entry(dst, src, &e, now);
            else
                (*n)++;
        }
        o += size;
    }
    return APR_SUCCESS;
}

/* Counts the entries, ranks them by last use and copies them oldest
 * first, reading each block again (and checking it again) as it goes; if
 * the ranks cannot be allocated, copies in the order of the data area. */
static apr_status_t copy_entries(hl_cache *dst, const hl_cache *src,
                                 const hl_cache_geometry *geo, apr_time_t now,
                                 apr_size_t *copied)
{
    apr_size_t n, i;
    src_rank *rank;
    apr_status_t rv = src_walk(src, geo, NULL, 0, NULL, now, &n);

    *copied = 0;
    if (rv != APR_SUCCESS)
        return rv;
    if (n > geo->ntouch)   /* every entry of a sound table owns a slot */
        return APR_EINVAL;
    if (n == 0)
        return APR_SUCCESS;
    if ((rank = malloc(n * sizeof(*rank))) == NULL)
        return src_walk(src, geo, NULL, 0, dst, now, copied);
    rv = src_walk(src, geo, rank, n, NULL, now, &n);
    if (rv == APR_SUCCESS)
        qsort(rank, n, sizeof(*rank), rank_cmp);
    for (i = 0; rv == APR_SUCCESS && i < n; i++) {
        src_entry e;
        int live;
        if (!src_block_read(src, geo, rank[i].off, &live, &e))
            rv = APR_EINVAL;
        else if (live)
            *copied += (apr_size_t)copy_entry(dst, src, &e, now);
    }
    free(rank);
    return rv;
}

apr_status_t hl_cache_copy(hl_cache *dst, const hl_cache *src,
                           const hl_cache_geometry *geo, apr_time_t now)
{
    apr_status_t rv;
    apr_size_t copied;
    apr_int32_t dead_pid;
    int dirty;

    if (dst->magic != CACHE_MAGIC)
        return APR_EGENERAL;
    if ((rv = hl_cache_check(src, geo)) != APR_SUCCESS)
        return rv;
    dirty = RELAXED(src->writer_active) != 0;
    dead_pid = RELAXED(src->writer_pid);
    write_begin(dst, now);
    copy_counters(dst, src);
    rv = copy_entries(dst, src, geo, now, &copied);
    /* A writer that died mid-update leaves committed entries in the data
     * area, which is all the copy reads: what repair would have kept. */
    if (dirty) {
        apr_snprintf(dst->last_recovery, sizeof(dst->last_recovery),
                     "writer pid %d died mid-update: %" APR_SIZE_T_FMT
                     " entries copied from the data area at a resize",
                     dead_pid, copied);
        dst->recoveries++;
        dst->last_recovery_time = now;
    }
    lists_sort(dst);
    write_end(dst);
    return rv;
}

/* ---- validate ---------------------------------------------------------- */

#define FAIL(...) do { apr_snprintf(why, len, __VA_ARGS__); return APR_EGENERAL; } while (0)

static apr_status_t validate_blocks(const hl_cache *c, apr_uint64_t *live,
                                    apr_uint64_t *nfree, char *why,
                                    apr_size_t len)
{
    apr_uint32_t o = c->data_start, prev_state = 0;
    apr_uint64_t bytes = 0, accesses = 0, total;

    *live = *nfree = 0;
    if (!walk_is_sound(c, why, len))
        return APR_EGENERAL;
    for (; o < c->data_end; o += blk(c, o)->size) {
        const block *b = blk(c, o);
        if (*footer(b) != b->size)
            FAIL("footer %u != size %u at unit %u", *footer(b), b->size, o);
        if (b->state == B_RESERVED)
            FAIL("reserved block at unit %u outside a write", o);
        if (b->state == B_FREE && prev_state == B_FREE)
            FAIL("adjacent free blocks at unit %u", o);
        if (b->state == B_FREE)
            (*nfree)++;
        else {
            (*live)++;
            bytes += (apr_uint64_t)b->size * UNIT;
            accesses += touch_count(c, b);
        }
        prev_state = b->state;
    }
    SUM_READS(c, accesses, total);
    if (*live != c->total_entries || bytes != c->bytes_used || accesses != total)
        FAIL("stats: entries %" APR_UINT64_T_FMT "/%" APR_UINT64_T_FMT
             " bytes %" APR_UINT64_T_FMT "/%" APR_UINT64_T_FMT,
             c->total_entries, *live, c->bytes_used, bytes);
    return APR_SUCCESS;
}

static apr_status_t validate_bins(const hl_cache *c, apr_uint64_t nfree,
                                  char *why, apr_size_t len)
{
    apr_uint64_t seen = 0;
    unsigned i;
    for (i = 0; i < NBINS; i++) {
        apr_uint32_t o, prev = 0;
        int bit = (c->bin_map[i / 64] >> (i % 64)) & 1;
        if (bit != (c->bins[i] != 0))
            FAIL("bin %u bitmap bit %d", i, bit);
        for (o = c->bins[i]; o; prev = o, o = blk(c, o)->next) {
            const block *b = blk(c, o);
            if (++seen > nfree || b->state != B_FREE || bin_of(b->size) != i
                || b->prev != prev)
                FAIL("bin %u holds a bad block at unit %u", i, o);
        }
    }
    if (seen != nfree)
        FAIL("%" APR_UINT64_T_FMT " free blocks, %" APR_UINT64_T_FMT " in bins",
             nfree, seen);
    return APR_SUCCESS;
}

static apr_status_t validate_hash(const hl_cache *c, apr_uint64_t live,
                                  char *why, apr_size_t len)
{
    apr_uint64_t seen = 0;
    apr_uint32_t i;
    for (i = 0; i < c->nbuckets; i++) {
        apr_uint32_t o;
        for (o = buckets(c)[i]; o; o = blk(c, o)->hnext) {
            const block *e = blk(c, o);
            apr_uint64_t h = key_hash(c, e->data, e->klen);
            if (++seen > live || e->state != B_LIVE
                || (h & (c->nbuckets - 1)) != i || e->tag != (apr_uint32_t)(h >> 32))
                FAIL("bucket %u holds a bad entry at unit %u", i, o);
            if (entry_find(c, e->data, e->klen) != e)
                FAIL("duplicate key at unit %u", o);
        }
    }
    if (seen != live)
        FAIL("%" APR_UINT64_T_FMT " live, %" APR_UINT64_T_FMT " hashed", live, seen);
    return APR_SUCCESS;
}

/* Every LIVE block owns the slot its (id, gen) names, and the free list
 * holds exactly the other slots. */
static apr_status_t validate_touches(const hl_cache *c, apr_uint64_t live,
                                     char *why, apr_size_t len)
{
    apr_uint64_t nfree = 0;
    apr_uint32_t o, link;

    for (o = c->data_start; o < c->data_end; o += blk(c, o)->size) {
        const block *b = blk(c, o);
        apr_uint64_t w;
        if (b->state != B_LIVE)
            continue;
        if (b->id >= c->ntouch)
            FAIL("entry at unit %u has slot %u of %u", o, b->id, c->ntouch);
        w = touches(c)[b->id].word;
        if (T_GEN(w) != b->gen || (w & (T_FREE | T_MARK)))
            FAIL("entry at unit %u does not own slot %u", o, b->id);
    }
    for (link = c->touch_free; link; link = (apr_uint32_t)(touches(c)[link - 1].word & T_COUNT)) {
        if (link > c->ntouch || ++nfree > c->ntouch
            || !(touches(c)[link - 1].word & T_FREE))
            FAIL("touch free list broken at slot %u", link - 1);
    }
    if (nfree + live != c->ntouch)
        FAIL("%" APR_UINT64_T_FMT " free + %" APR_UINT64_T_FMT " live slots of %u",
             nfree, live, c->ntouch);
    return APR_SUCCESS;
}

/* One of the two ordered lists: every prev link right, only LIVE blocks,
 * each exactly once, in order when ordered (the expiry list; the LRU
 * list's order is in access_time and touch slots, and may lag hits). */
static apr_status_t validate_list(const hl_olist *l, const char *name,
                                  int ordered, apr_uint64_t live,
                                  char *why, apr_size_t len)
{
    apr_uint64_t n = 0;
    apr_uint32_t o, prev = 0;
    for (o = *l->head; o; prev = o, o = *hl_ol_next(l, o)) {
        const block *b = hl_ol_node(l, o);
        if (++n > live || *hl_ol_prev(l, o) != prev || b->state != B_LIVE)
            FAIL("%s list broken at unit %u", name, o);
        if (ordered && prev
            && expiry_key(hl_ol_node(l, prev)) > expiry_key(b))
            FAIL("%s list out of order at unit %u", name, o);
    }
    if (n != live || *l->tail != prev)
        FAIL("%s list holds %" APR_UINT64_T_FMT " of %" APR_UINT64_T_FMT,
             name, n, live);
    return APR_SUCCESS;
}

static apr_status_t validate_lists(const hl_cache *c, apr_uint64_t live,
                                   char *why, apr_size_t len)
{
    /* Only read: the lists' descriptors want a writable region. */
    hl_olist lru = lru_list((hl_cache *)c), exp = exp_list((hl_cache *)c);
    apr_status_t rv = validate_list(&lru, "LRU", 0, live, why, len);
    return rv != APR_SUCCESS ? rv : validate_list(&exp, "expiry", 1, live, why, len);
}

apr_status_t hl_cache_validate(const hl_cache *c, char *why, apr_size_t len)
{
    apr_uint64_t live, nfree;
    apr_status_t rv;

    if (c->magic != CACHE_MAGIC)
        FAIL("no cache magic");
    if (c->writer_active)
        FAIL("writer_active set (pid %d)", c->writer_pid);
    if ((rv = validate_blocks(c, &live, &nfree, why, len)) != APR_SUCCESS
        || (rv = validate_bins(c, nfree, why, len)) != APR_SUCCESS
        || (rv = validate_hash(c, live, why, len)) != APR_SUCCESS
        || (rv = validate_lists(c, live, why, len)) != APR_SUCCESS
        || (rv = validate_touches(c, live, why, len)) != APR_SUCCESS)
        return rv;
    if (c->bytes_used > (apr_uint64_t)(c->data_end - c->data_start) * UNIT)
        FAIL("bytes_used beyond capacity");
    return APR_SUCCESS;
}
