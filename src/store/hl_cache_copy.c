/* hl_cache_copy: the copy a resize migrates the cache with, from the
 * previous generation's region into a freshly formatted one, and the
 * export and import a snapshot file is written and restored with
 * (hl_snapshot.c), which read the region the same way.  The old
 * region is only read, and read as memory a hostile process may change
 * meanwhile: each word once, every offset, length and slot id checked
 * against the geometry the parent planned (never against what the region
 * says of itself), the data area walked by block sizes, no list or chain
 * followed.  Entries go in least recently used first, so that if the new
 * region is smaller the oldest are the ones evicted. */
#include "hl_cache_impl.h"

#include <apr_strings.h>

#include <stdlib.h>

static void copy_counters(hl_cache *dst, const hl_cache *src)
{
    hl_cache_stats st;
    hl_cache_stats_read(src, &st);
    hl_cache_stats_restore(dst, &st);
    dst->recoveries = src->recoveries;
    dst->last_recovery_time = src->last_recovery_time;
    memcpy(dst->last_recovery, src->last_recovery, sizeof(dst->last_recovery));
    /* src's text may be unterminated garbage. */
    dst->last_recovery[sizeof(dst->last_recovery) - 1] = '\0';
}

/* An entry of src as the copy read it: each word read once and checked
 * against the geometry before use.  off places the block. */
typedef struct src_entry {
    apr_uint32_t off, klen, vlen, hnext;
    apr_int64_t  set_time, access_time, expires;
    apr_uint64_t count, version;
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
    e->hnext = RELAXED(b->hnext);
    e->klen = RELAXED(b->klen);
    e->vlen = RELAXED(b->vlen);
    if (e->klen == 0 || e->klen > geo->max_key || e->vlen > geo->max_value
        || units_for(e->klen, e->vlen) > size)
        return 0;
    e->set_time = RELAXED(b->set_time);
    e->access_time = RELAXED(b->access_time);
    e->expires = RELAXED(b->expires);
    e->version = RELAXED(b->version);
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

/* One entry into dst, at the head of dst's LRU; a key already in dst is
 * replaced, since entries arrive oldest first. */
static int import_entry(hl_cache *dst, const hl_cache_entry_image *s,
                        apr_time_t now)
{
    apr_uint32_t units;
    block *e, *dup;
    if (s->klen == 0 || (s->expires != 0 && now >= s->expires)
        || s->klen > dst->max_key || s->vlen > dst->max_value)
        return 0;
    units = units_for(s->klen, s->vlen);
    if (units > dst->data_end - dst->data_start)
        return 0;
    if (!(e = hlc_alloc_evicting(dst, units, now)))
        return 0;
    e->klen = s->klen;
    e->vlen = s->vlen;
    e->set_time = s->set_time;
    e->access_time = s->access_time;
    e->expires = s->expires;
    /* Versions carry over, so that a client's ETag still matches; the
     * counter goes past every one copied. */
    e->version = s->version;
    if (dst->next_version < s->version)
        dst->next_version = s->version;
    hlc_touch_alloc(dst, e, e->access_time);
    __atomic_store_n(&touch_of(dst, e)->word,
                     (apr_uint64_t)e->gen << T_GEN_SHIFT
                     | (s->access_count & T_COUNT), __ATOMIC_RELEASE);
    memcpy(e->data, s->key, s->klen);
    memcpy(e->data + s->klen, s->value, s->vlen);
    if ((dup = hlc_entry_find(dst, e->data, e->klen)) != NULL)
        hlc_entry_remove(dst, dup);
    set_state(e, B_LIVE);
    hlc_entry_index(dst, e);   /* the LRU list is sorted at the end */
    return 1;
}

/* The image of an entry of src as src_block_read checked it: its bytes
 * lie within the block e places. */
static void src_image(const hl_cache *src, const src_entry *s,
                      hl_cache_entry_image *img)
{
    img->key = blk(src, s->off)->data;
    img->value = blk(src, s->off)->data + s->klen;
    img->klen = s->klen;
    img->vlen = s->vlen;
    img->set_time = s->set_time;
    img->access_time = s->access_time;
    img->expires = s->expires;
    img->access_count = s->count;
    img->version = s->version;
}

static int copy_entry(hl_cache *dst, const hl_cache *src, const src_entry *s,
                      apr_time_t now)
{
    hl_cache_entry_image img;
    src_image(src, s, &img);
    return import_entry(dst, &img, now);
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
    if (dst->next_version < RELAXED(src->next_version))
        dst->next_version = RELAXED(src->next_version);
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
    hlc_lru_sort(dst);
    write_end(dst);
    return rv;
}

/* ---- snapshots: export in batches, import --------------------------------- */

apr_status_t hl_cache_export(const hl_cache *c, const hl_cache_geometry *geo,
                             apr_uint32_t *bucket, apr_size_t max_entries,
                             apr_time_t now, hl_cache_entry_fn fn, void *ctx)
{
    const apr_uint32_t *heads = (const apr_uint32_t *)((const char *)c
                                    + (apr_size_t)geo->bucket_off * UNIT);
    apr_size_t passed = 0, scanned = 0, budget = geo->ntouch;
    apr_status_t rv;

    if ((rv = hl_cache_check(c, geo)) != APR_SUCCESS)
        return rv;
    /* Empty buckets cost too: a batch also ends after 16 per entry. */
    while (*bucket < geo->nbuckets && passed < max_entries
           && scanned++ < 16 * max_entries) {
        apr_uint32_t off = RELAXED(heads[*bucket]);
        while (off) {
            src_entry e;
            int live;
            /* Chains hold only LIVE blocks; a link elsewhere is damage. */
            if (off < geo->data_start || off >= geo->data_end
                || !src_block_read(c, geo, off, &live, &e) || !live)
                return APR_EINVAL;
            if (budget-- == 0)
                return APR_EINVAL;
            if (e.expires == 0 || now < e.expires) {
                hl_cache_entry_image img;
                src_image(c, &e, &img);
                if ((rv = fn(ctx, &img)) != APR_SUCCESS)
                    return rv;
                passed++;
            }
            off = e.hnext;
        }
        (*bucket)++;
    }
    return APR_SUCCESS;
}

void hl_cache_import_begin(hl_cache *c, apr_time_t now)
{
    write_begin(c, now);
}

int hl_cache_import(hl_cache *c, const hl_cache_entry_image *e, apr_time_t now)
{
    return import_entry(c, e, now);
}

void hl_cache_import_end(hl_cache *c)
{
    hlc_lru_sort(c);
    write_end(c);
}

void hl_cache_stats_restore(hl_cache *c, const hl_cache_stats *st)
{
    unsigned i;
    for (i = 0; i < READ_SHARDS; i++)
        c->reads[i].hits = c->reads[i].misses = 0;
    c->reads[0].hits = st->hits;
    c->reads[0].misses = st->misses;
    c->sets = st->sets;
    c->deletes = st->deletes;
    c->evictions = st->evictions;
    c->expirations = st->expirations;
}
