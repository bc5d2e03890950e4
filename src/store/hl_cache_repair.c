/* hl_cache_repair: crash repair, and hl_cache_validate.
 *
 * Every function of hl_cache.h except hl_cache_get_lockfree and the quiet
 * readers' assumes the caller holds the cache's lock.  A mutation sets
 * writer_active first and clears it last.  Whoever finds it set on entry
 * knows the previous writer died mid-update (the kernel handed its lock
 * on with EOWNERDEAD, hl_cache_lock.c) and rebuilds the indexes from the
 * data area: the blocks are walked by their headers (every header change
 * is a single store that keeps the walk consistent), FREE and RESERVED
 * blocks are merged back into free space, LIVE blocks are rehashed and
 * relinked, the LRU order restored by sorting on the stored times, the
 * expiry heap built anew from the LIVE blocks' expires (a sift the writer
 * left half done may have any slot twice or none: never trusted), and the
 * stats recounted.  An entry's key and value are written before
 * the block turns LIVE (the commit of a set) and never changed after, and
 * turning FREE is the commit of a removal; so after an interrupted set the
 * key holds the old value, the new one, or nothing (the old was removed
 * first), never a mix.  If the walk itself fails the cache is emptied.
 * Either way recoveries is counted and the reason kept for the stats.
 *
 * Validation checks all of it (tags, bins, chains, list, heap, slots, stats)
 * for the tests and the fuzzers. */
#include "hl_cache_impl.h"

#include <apr_strings.h>

#define NO_SLOT     0xffffffffu

/* ---- crash repair ------------------------------------------------------ */

/* A walk by block headers from data_start must end exactly at data_end,
 * and every LIVE block must hold a plausible entry. */
int hlc_walk_is_sound(const hl_cache *c, char *why, apr_size_t len)
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
 * its gen and no other block claimed it first; claimed slots are marked.
 * Marks a repair killed before it cleared them are cleared first: taken
 * for claims, they would leave their slots neither free nor owned. */
static void touch_mark(hl_cache *c)
{
    apr_uint32_t o, i;

    for (i = 0; i < c->ntouch; i++)
        __atomic_fetch_and(&touches(c)[i].word, ~T_MARK, __ATOMIC_ACQ_REL);
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
}

/* After touch_mark: unclaimed slots become the free list, and blocks left
 * without a slot get a fresh one (count 0), or are dropped if none is
 * left.  Last hits fold into access_time, so the LRU sort below sees
 * them. */
static void touch_rebuild(hl_cache *c)
{
    apr_uint32_t o, i;

    touch_mark(c);
    c->touch_free = 0;
    for (i = c->ntouch; i-- > 0;) {
        touch *t = &touches(c)[i];
        apr_uint64_t w = __atomic_load_n(&t->word, __ATOMIC_ACQUIRE);
        if (w & T_MARK)
            __atomic_fetch_and(&t->word, ~T_MARK, __ATOMIC_ACQ_REL);
        else
            hlc_touch_push_free(c, i, T_GEN(w));
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
            hlc_touch_alloc(c, b, b->access_time);
        }
        b->access_time = touched_at(c, b);
    }
}

/* Rebuilds buckets, bins, lists and the live stats from the blocks:
 * runs of FREE and RESERVED blocks become one free block each. */
static void index_rebuild(hl_cache *c)
{
    apr_uint32_t o = c->data_start, run = 0;

    touch_rebuild(c);
    hlc_index_clear(c);
    while (o < c->data_end) {
        block *b = blk(c, o);
        apr_uint32_t size = b->size;
        if (b->state == B_LIVE) {
            if (run) {
                hlc_free_run(c, run, o);
                run = 0;
            }
            *footer(b) = size;
            hlc_entry_index(c, b);   /* the LRU list is sorted below */
        }
        else if (!run) {
            run = o;
        }
        o += size;
    }
    if (run)
        hlc_free_run(c, run, c->data_end);
    hlc_lru_sort(c);
}

void hlc_repair(hl_cache *c, apr_time_t now)
{
    char why[HL_CACHE_REASON_MAX];
    apr_int32_t pid = c->writer_pid;

    c->writer_pid = c->holder_pid;

    if (hlc_walk_is_sound(c, why, sizeof(why))) {
        index_rebuild(c);
        apr_snprintf(c->last_recovery, sizeof(c->last_recovery),
                     "writer pid %d died mid-update: index rebuilt, %"
                     APR_UINT64_T_FMT " entries kept", pid, c->total_entries);
    }
    else {
        hlc_data_reset(c);
        apr_snprintf(c->last_recovery, sizeof(c->last_recovery),
                     "writer pid %d died mid-update, %s: cache emptied",
                     pid, why);
    }
    c->recoveries++;
    c->last_recovery_time = now;
    __atomic_store_n(&c->writer_active, 0, __ATOMIC_RELEASE);
}

apr_status_t hl_cache_recover(hl_cache *c, apr_time_t now, const char **reason)
{
    int dirty = __atomic_load_n(&c->writer_active, __ATOMIC_ACQUIRE) != 0;
    if (dirty) {
        seq_open(c);
        hlc_repair(c, now);
        seq_close(c);
    }
    else if (__atomic_load_n(&c->seq, __ATOMIC_RELAXED) & 1)
        /* A writer died outside writer_active (just after opening seq, or
         * just before closing it): nothing is half done, but lock-free
         * reads would keep falling back to the lock. */
        seq_close(c);
    if (reason)
        *reason = dirty ? c->last_recovery : NULL;
    return APR_SUCCESS;
}

apr_status_t hl_cache_recover_interrupted(hl_cache *c)
{
    if (!__atomic_load_n(&c->writer_active, __ATOMIC_ACQUIRE))
        return APR_EINVAL;
    seq_open(c);
    touch_mark(c);
    return APR_EINTR;
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
    if (!hlc_walk_is_sound(c, why, len))
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
            if (hlc_entry_find(c, e->data, e->klen) != e)
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

/* The LRU list: every prev link right, only LIVE blocks, each exactly
 * once (its order is in access_time and touch slots, and may lag hits). */
static apr_status_t validate_lru(const hl_cache *c, apr_uint64_t live,
                                 char *why, apr_size_t len)
{
    /* Only read: the list's descriptor wants a writable region. */
    hl_olist l = lru_list((hl_cache *)c);
    apr_uint64_t n = 0;
    apr_uint32_t o, prev = 0;
    for (o = *l.head; o; prev = o, o = *hl_ol_next(&l, o)) {
        const block *b = hl_ol_node(&l, o);
        if (++n > live || *hl_ol_prev(&l, o) != prev || b->state != B_LIVE)
            FAIL("LRU list broken at unit %u", o);
    }
    if (n != live || *l.tail != prev)
        FAIL("LRU list holds %" APR_UINT64_T_FMT " of %" APR_UINT64_T_FMT,
             n, live);
    return APR_SUCCESS;
}

/* The expiry heap: each LIVE block that expires exactly once, at the slot
 * its hpos names, no other block, and no slot before its parent. */
static apr_status_t validate_heap(const hl_cache *c, char *why, apr_size_t len)
{
    const apr_uint32_t *h = exp_heap(c);
    apr_uint32_t o, i, n = c->exp_count, expiring = 0;

    if (n > c->ntouch || c->exp_spare)
        FAIL("expiry heap count %u of %u slots", n, c->ntouch);
    for (o = c->data_start; o < c->data_end; o += blk(c, o)->size) {
        const block *b = blk(c, o);
        if (b->state != B_LIVE)
            continue;
        if (b->spare)
            FAIL("entry at unit %u has a spare word set", o);
        if (b->expires == 0) {
            if (b->hpos)
                FAIL("entry at unit %u never expires but is in the heap", o);
            continue;
        }
        expiring++;
        if (b->hpos == 0 || b->hpos > n || h[b->hpos - 1] != o)
            FAIL("entry at unit %u is not at its heap slot %u", o, b->hpos);
    }
    /* Each slot names a distinct expiring block, so these are all. */
    if (expiring != n)
        FAIL("expiry heap holds %u of %u entries that expire", n, expiring);
    for (i = 1; i < n; i++)
        if (expires_before(blk(c, h[i]), blk(c, h[(i - 1) / 2])))
            FAIL("expiry heap out of order at slot %u", i);
    return APR_SUCCESS;
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
        || (rv = validate_lru(c, live, why, len)) != APR_SUCCESS
        || (rv = validate_heap(c, why, len)) != APR_SUCCESS
        || (rv = validate_touches(c, live, why, len)) != APR_SUCCESS)
        return rv;
    if (c->bytes_used > (apr_uint64_t)(c->data_end - c->data_start) * UNIT)
        FAIL("bytes_used beyond capacity");
    return APR_SUCCESS;
}
