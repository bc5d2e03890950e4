/* hl_cache: the table of a cache region: entries, their touch slots,
 * the LRU list and the expiry heap, the operations, lock-free reads and
 * the format.  The region's layout is drawn in hl_cache.h; the allocator,
 * the hash, crash repair and the resize copy have files of their own
 * (hl_cache_impl.h lists them).
 *
 * A LIVE block is one entry, on its hash chain (singly linked, from a
 * bucket) and the LRU list (most recently used at the head; an offset
 * list, hl_offset_list.h); if it expires, also in the expiry heap: a
 * binary min-heap of block offsets by expires, each block keeping its
 * slot + 1 (hpos) so that it can leave from anywhere.  Writers may mix
 * any TTLs (?ttl=, touch, entries that never expire), and a write must
 * not walk the others under the lock: a sorted list costs O(n) per
 * insert unless every TTL is the same, the heap O(log n) per insert,
 * removal or change, O(1) to find the soonest.  The price: an array of
 * ntouch words (4 bytes per slot), and no ordered walk (none is needed:
 * only the soonest is ever asked for).
 *
 * Reads without the lock: a hit is the common operation, and taking one
 * global lock per hit serialised every process on it.  Writers make a
 * sequence word odd around every change; hl_cache_get_lockfree reads the
 * word, walks the chain with every offset and length checked against the
 * region (what it sees may be half-written), copies the value, and trusts
 * the copy only if the word is unchanged and even.  A reader must never
 * write into a block, which may have been freed and reused since it
 * looked; so what a hit changes lives in a fixed table of touch slots, one
 * per entry: the access count, raised by a compare-and-swap that also
 * checks the slot's generation (bumped when the entry goes), and the time
 * of the last hit.  Hits therefore do not move entries in the LRU list;
 * eviction looks at the tail and, if it was hit since it took its place,
 * moves it to where that hit puts it and looks again (exact LRU, paid for
 * at eviction, under the lock; one eviction settles at most LRU_MOVES hit
 * entries, each placed within LRU_WALK steps, so a pathological order
 * costs exactness rather than time).  Trade-offs: a slot per
 * BYTES_PER_TOUCH bytes of data (small entries may run out of slots
 * first, and a set then evicts), and a reader that loses a race with a
 * writer retries, then takes the lock. */
#include "hl_cache_impl.h"

#include <apr_strings.h>

#define BYTES_PER_BUCKET 128u          /* one bucket per this much data */
#define BYTES_PER_TOUCH  128u          /* one touch slot per this much data */
#define MAX_HOPS         64            /* chain steps a lock-free read takes */
#define LRU_MOVES        256           /* hit entries one eviction settles */
#define LRU_WALK         128           /* list steps to place one of them */
#define MIN_DATA_UNITS   64u           /* 1 KiB: smallest useful data area */

static void count_miss(hl_cache *c)
{
    __atomic_add_fetch(&my_shard(c)->misses, 1, __ATOMIC_RELAXED);
}

/* ---- the LRU list ------------------------------------------------------- */

/* Newest access first. */
static int newer_access(const void *a, const void *b)
{
    return ((const block *)a)->access_time >= ((const block *)b)->access_time;
}

void hlc_lru_sort(hl_cache *c)
{
    hl_olist lru = lru_list(c);
    hl_ol_sort(&lru, newer_access);
}

/* ---- the expiry heap: LIVE entries with expires != 0, soonest on top ------ */

static void heap_put(hl_cache *c, apr_uint32_t i, apr_uint32_t o)
{
    exp_heap(c)[i] = o;
    blk(c, o)->hpos = i + 1;
}

/* Moves the entry at slot i up, then down, to where its expires belongs
 * (one of the two walks stops at once); exp_steps counts the levels. */
static void heap_fix(hl_cache *c, apr_uint32_t i)
{
    apr_uint32_t *h = exp_heap(c), o = h[i], n = c->exp_count, steps = 0;
    const block *e = blk(c, o);

    while (i > 0 && expires_before(e, blk(c, h[(i - 1) / 2]))) {
        heap_put(c, i, h[(i - 1) / 2]);
        i = (i - 1) / 2;
        steps++;
    }
    for (;;) {
        apr_uint32_t kid = 2 * i + 1;
        if (kid >= n)
            break;
        if (kid + 1 < n && expires_before(blk(c, h[kid + 1]), blk(c, h[kid])))
            kid++;
        if (!expires_before(blk(c, h[kid]), e))
            break;
        heap_put(c, i, h[kid]);
        i = kid;
        steps++;
    }
    heap_put(c, i, o);
    c->exp_steps += steps;
}

/* Puts e in the heap if it expires; the caller made sure it is not in. */
static void heap_push(hl_cache *c, block *e)
{
    e->hpos = 0;
    if (e->expires == 0)
        return;
    heap_put(c, c->exp_count++, off_of(c, e));
    heap_fix(c, c->exp_count - 1);
}

/* Takes e out of the heap if it is in: the last entry fills its slot. */
static void heap_remove(hl_cache *c, block *e)
{
    apr_uint32_t i = e->hpos, last;
    if (i-- == 0)
        return;
    e->hpos = 0;
    last = exp_heap(c)[--c->exp_count];
    if (i < c->exp_count) {
        heap_put(c, i, last);
        heap_fix(c, i);
    }
}

/* The entry that expires soonest, if it has expired at now. */
static block *heap_expired(const hl_cache *c, apr_time_t now)
{
    block *e = c->exp_count ? blk(c, exp_heap(c)[0]) : NULL;
    return e && is_expired(e, now) ? e : NULL;
}

/* ---- touch slots: hit counts and last-hit times -------------------------- */

/* Gives e a slot with count 0; the caller made sure one is free. */
void hlc_touch_alloc(hl_cache *c, block *e, apr_time_t now)
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
apr_uint64_t hlc_touch_push_free(hl_cache *c, apr_uint32_t id,
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
    apr_uint64_t old = hlc_touch_push_free(c, e->id, e->gen);
    return (old & T_FREE) ? 0 : old & T_COUNT;
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
        hlc_touch_push_free(c, i, T_GEN(touches(c)[i].word));
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

block *hlc_entry_find(const hl_cache *c, const void *key, apr_size_t klen)
{
    apr_uint32_t *link = entry_link(c, key, klen, key_hash(c, key, klen));
    return link ? blk(c, *link) : NULL;
}

/* Marking the block FREE first is the commit: if the writer dies later,
 * recovery does not bring the entry back.  link: the one that points at
 * e, when the caller has it (finding it again hashes the key). */
static void entry_drop(hl_cache *c, block *e, apr_uint32_t *link)
{
    hl_olist lru = lru_list(c);
    set_state(e, B_FREE);
    if (link)
        *link = e->hnext;
    hl_ol_unlink(&lru, off_of(c, e));
    heap_remove(c, e);
    c->total_entries--;
    count_accesses(c, -(apr_int64_t)touch_release(c, e));
    c->bytes_used -= (apr_uint64_t)e->size * UNIT;
    hlc_block_free(c, e);
}

void hlc_entry_remove(hl_cache *c, block *e)
{
    entry_drop(c, e, entry_link(c, e->data, e->klen,
                                key_hash(c, e->data, e->klen)));
}

void hlc_entry_account(hl_cache *c, const block *e)
{
    c->total_entries++;
    count_accesses(c, (apr_int64_t)touch_count(c, e));
    c->bytes_used += (apr_uint64_t)e->size * UNIT;
}

void hlc_entry_index(hl_cache *c, block *e)
{
    hl_olist lru = lru_list(c);
    e->spare = 0;   /* a block from the allocator holds what was there */
    hash_link(c, e, key_hash(c, e->data, e->klen));
    hl_ol_push_head(&lru, off_of(c, e));
    heap_push(c, e);
    hlc_entry_account(c, e);
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
    if ((e = heap_expired(c, now)) != NULL) {
        hlc_entry_remove(c, e);
        c->expirations++;
        return 1;
    }
    if ((e = lru_victim(c)) != NULL) {
        hlc_entry_remove(c, e);
        c->evictions++;
        return 1;
    }
    return 0;
}

/* A block of units and a free touch slot, evicting until both exist. */
block *hlc_alloc_evicting(hl_cache *c, apr_uint32_t units, apr_time_t now)
{
    block *b;
    while (!c->touch_free)
        if (!evict_one(c, now))
            return NULL;
    while (!(b = hlc_block_alloc(c, units)))
        if (!evict_one(c, now))
            return NULL;
    return b;
}

/* Drops a few expired entries so they do not linger until memory runs out. */
static void purge_expired(hl_cache *c, apr_time_t now, int max)
{
    block *e;
    while (max-- > 0 && (e = heap_expired(c, now)) != NULL) {
        hlc_entry_remove(c, e);
        c->expirations++;
    }
}

void hlc_index_clear(hl_cache *c)
{
    unsigned i;
    memset(buckets(c), 0, (apr_size_t)c->nbuckets * sizeof(apr_uint32_t));
    memset(c->bins, 0, sizeof(c->bins));
    memset(c->bin_map, 0, sizeof(c->bin_map));
    c->lru_head = c->lru_tail = c->exp_count = c->exp_spare = 0;
    c->total_entries = c->bytes_used = 0;
    for (i = 0; i < READ_SHARDS; i++)
        __atomic_store_n(&c->reads[i].accesses, 0, __ATOMIC_RELAXED);
}

void hlc_data_reset(hl_cache *c)
{
    hlc_index_clear(c);
    touch_reset(c);
    hlc_free_run(c, c->data_start, c->data_end);
}

/* ---- operations -------------------------------------------------------- */

static int key_ok(const hl_cache *c, apr_size_t klen)
{
    return klen >= 1 && klen <= c->max_key;
}

block *hlc_entry_live(hl_cache *c, const void *key, apr_size_t klen,
                      apr_time_t now)
{
    block *e = hlc_entry_find(c, key, klen);
    if (e && is_expired(e, now)) {
        write_begin(c, now);
        hlc_entry_remove(c, e);
        c->expirations++;
        write_end(c);
        e = NULL;
    }
    return e;
}

void hlc_exp_replace(hl_cache *c, block *e)
{
    if (e->hpos && e->expires)
        heap_fix(c, e->hpos - 1);
    else {
        heap_remove(c, e);
        heap_push(c, e);
    }
}

apr_status_t hl_cache_get(hl_cache *c, apr_pool_t *pool, const void *key,
                          apr_size_t klen, apr_time_t now,
                          hl_cache_result *res)
{
    block *e;

    if (!key_ok(c, klen))
        return APR_EINVAL;
    hl_cache_recover(c, now, NULL);
    if (!(e = hlc_entry_live(c, key, klen, now))) {
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
    res->version = e->version;
    res->age = now - e->set_time;
    return APR_SUCCESS;
}

/* ---- lock-free reads --------------------------------------------------- */

/* What a reader copies out of an entry while writers may be changing it;
 * worth anything only once the seq check after it passes. */
typedef struct snapshot {
    apr_uint32_t found, id, gen, vlen;
    apr_int64_t  set_time, expires;
    apr_uint64_t version;
} snapshot;

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
            snap->version = RELAXED(e->version);
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
        res->version = snap.version;
        res->age = now - snap.set_time;
        return APR_SUCCESS;
    }
    return APR_EAGAIN;
}

/* budget: NULL normally; tests pass a step count to stop half-way. */
#define STEP(budget) \
    do { if ((budget) && (*(budget))-- <= 0) return APR_EINTR; } while (0)

apr_status_t hlc_write(hl_cache *c, const void *key, apr_size_t klen,
                       const void *val, apr_size_t vlen, apr_time_t now,
                       apr_time_t expires, const hl_cache_cond *cond,
                       hl_cache_written *w, int *budget)
{
    hl_olist lru = lru_list(c);
    hl_cache_written scratch;
    apr_uint32_t units;
    apr_uint64_t h;
    apr_uint32_t *link;
    block *e;

    if (!w)
        w = &scratch;
    memset(w, 0, sizeof(*w));
    if (!key_ok(c, klen) || vlen > c->max_value || expires < 0)
        return APR_EINVAL;
    units = units_for(klen, vlen);
    if (units > c->data_end - c->data_start)
        return APR_ENOSPC;
    if (cond) {
        /* Judged before anything changes: a refused write is no write. */
        hl_cache_recover(c, now, NULL);
        e = hlc_entry_find(c, key, klen);
        if (e && is_expired(e, now))
            e = NULL;
        if (!hl_cache_cond_holds(cond, e != NULL, e ? e->version : 0)) {
            w->existed = e != NULL;
            w->version = e ? e->version : 0;
            w->expires = e ? e->expires : 0;
            return HL_STORE_EPRECONDITION;
        }
    }
    write_begin(c, now);
    STEP(budget);

    /* The old entry goes first: its space may serve the new one. */
    h = key_hash(c, key, klen);
    if ((link = entry_link(c, key, klen, h)) != NULL) {
        e = blk(c, *link);
        if (is_expired(e, now))
            c->expirations++;
        else
            w->existed = 1;
        entry_drop(c, e, link);
    }
    STEP(budget);
    purge_expired(c, now, 2);
    if (!(e = hlc_alloc_evicting(c, units, now))) {
        write_end(c);   /* cannot happen while the tags are sound */
        return APR_ENOSPC;
    }
    STEP(budget);

    e->klen = (apr_uint32_t)klen;
    e->vlen = (apr_uint32_t)vlen;
    e->set_time = e->access_time = now;
    e->expires = expires;
    e->version = ++c->next_version;
    hlc_touch_alloc(c, e, now);
    e->hnext = e->prev = e->next = e->hpos = e->spare = 0;
    memcpy(e->data, key, klen);
    memcpy(e->data + klen, val, vlen);
    STEP(budget);
    set_state(e, B_LIVE);   /* the commit: recovery now keeps it */
    STEP(budget);
    hash_link(c, e, h);
    STEP(budget);
    hl_ol_push_head(&lru, off_of(c, e));
    heap_push(c, e);
    hlc_entry_account(c, e);
    c->sets++;
    w->version = e->version;
    w->expires = e->expires;
    write_end(c);
    return APR_SUCCESS;
}

static apr_status_t cache_set(hl_cache *c, const void *key, apr_size_t klen,
                              const void *val, apr_size_t vlen, apr_time_t now,
                              apr_interval_time_t ttl, int *replaced,
                              int *budget)
{
    hl_cache_written w;
    apr_status_t rv;

    if (replaced)
        *replaced = 0;
    if (ttl < 0)
        return APR_EINVAL;
    rv = hlc_write(c, key, klen, val, vlen, now, ttl ? now + ttl : 0, NULL,
                   &w, budget);
    if (replaced)
        *replaced = w.existed;
    return rv;
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
        FIELD(hl_cache, "version", version),
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
        FIELD(hl_cache, "exp_count", exp_count),
        FIELD(hl_cache, "exp_steps", exp_steps),
        FIELD(hl_cache, "total_entries", total_entries),
        FIELD(block, "block.size", size),
        FIELD(block, "block.state", state),
        FIELD(block, "block.hnext", hnext),
        FIELD(block, "block.prev", prev),
        FIELD(block, "block.next", next),
        FIELD(block, "block.hpos", hpos),
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
    if ((e = hlc_entry_find(c, key, klen)) != NULL) {
        if (is_expired(e, now)) {
            c->expirations++;
        }
        else {
            c->deletes++;
            rv = APR_SUCCESS;
        }
        hlc_entry_remove(c, e);
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

/* ---- format, check --------------------------------------------------- */

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
    apr_uint32_t nb = cfg->buckets, bucket_units, nt, touch_units, heap_units;

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
     * average run out of slots before bytes, and a set then evicts.  Each
     * slot also has its word in the expiry heap. */
    nt = (apr_uint32_t)(avail / (BYTES_PER_TOUCH + sizeof(touch)
                                 + sizeof(apr_uint32_t)));
    if (nt < 4)
        nt = 4;
    touch_units = (apr_uint32_t)(((apr_size_t)nt * sizeof(touch) + UNIT - 1) / UNIT);
    heap_units = (apr_uint32_t)(((apr_size_t)nt * sizeof(apr_uint32_t) + UNIT - 1)
                                / UNIT);
    if ((apr_size_t)HDR_UNITS + bucket_units + touch_units + heap_units
        + MIN_DATA_UNITS > units)
        return APR_EINVAL;
    memset(geo, 0, sizeof(*geo));
    geo->region_size = size;
    geo->max_key = cfg->max_key;
    geo->max_value = cfg->max_value;
    geo->nbuckets = nb;
    geo->bucket_off = HDR_UNITS;
    geo->touch_off = HDR_UNITS + bucket_units;
    geo->ntouch = nt;
    geo->data_start = geo->touch_off + touch_units + heap_units;
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
    if ((rv = hlc_lock_init(c)) != APR_SUCCESS)
        return rv;
    hlc_data_reset(c);
    __atomic_store_n(&c->magic, CACHE_MAGIC, __ATOMIC_RELEASE);
    return APR_SUCCESS;
}

void hl_cache_versions_begin(hl_cache *c, apr_uint64_t first)
{
    c->next_version = first;
}

apr_uint64_t hl_cache_versions_last(const hl_cache *c)
{
    return RELAXED(c->next_version);
}

void hl_cache_versions_past(hl_cache *c, apr_uint64_t last)
{
    if (c->next_version < last)
        c->next_version = last;
}

int hl_cache_other_version(const void *region)
{
    const hl_cache *c = region;
    return RELAXED(c->magic) == CACHE_MAGIC
           && RELAXED(c->version) != CACHE_VERSION;
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
