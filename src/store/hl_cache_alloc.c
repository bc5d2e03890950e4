/* hl_cache_alloc: the cache's data area as blocks with boundary tags,
 * coalesced at once, on segregated free lists (TLSF-like: 4 bins per power
 * of two, a bitmap of non-empty bins).
 *
 * Allocation takes the head of the first non-empty bin whose every block
 * fits (O(1)), else first-fit in the request's own bin, and splits off the
 * rest.  Freeing merges with free neighbours, so free space never stays
 * chopped into pieces smaller than it needs to be.  Trade-off: against
 * size classes without coalescing, this costs a footer per block and some
 * splitting work, but cannot strand memory in the wrong class when value
 * sizes change; and since evicting every entry leaves one free block, a set
 * that fits the data area at all always succeeds (it may evict many LRU
 * entries to find a contiguous hole, which is the price of not moving
 * entries).
 *
 * A bin is a list on the blocks' prev/next links with a head and no tail,
 * newest first.  Every header change is a single store that keeps a walk
 * by headers consistent, which crash repair relies on. */
#include "hl_cache_impl.h"

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
block *hlc_block_alloc(hl_cache *c, apr_uint32_t units)
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
void hlc_block_free(hl_cache *c, block *b)
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

void hlc_free_run(hl_cache *c, apr_uint32_t start, apr_uint32_t end)
{
    block *b = blk(c, start);
    b->state = B_FREE;
    set_size(b, end - start);
    bin_insert(c, b);
}
