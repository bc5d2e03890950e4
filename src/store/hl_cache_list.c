/* hl_cache_list: listing the keys of a region page by page, without
 * holding the lock for a whole page (hl_cache.h explains the order and
 * its guarantee).  The scan walks the hash table bucket by bucket; a
 * bucket's chain is in insertion order, which writers change, so each
 * bucket is sorted by (tag, key) before its entries are listed, and the
 * position left between two batches or two pages is the last key listed:
 * the next one starts strictly after it.  Nothing here writes the region
 * except the repair every locked operation runs first. */
#include "hl_cache_impl.h"

#include <apr_strings.h>
#include <stdlib.h>

#define CURSOR_TAG "c1"          /* the cursor format's version */
#define CHAIN_ON_STACK 32

typedef struct chain_ref {
    apr_uint32_t tag;
    const block *e;
} chain_ref;

static int order_of(apr_uint32_t ta, const void *ka, apr_size_t la,
                    apr_uint32_t tb, const void *kb, apr_size_t lb)
{
    int r;
    if (ta != tb)
        return ta < tb ? -1 : 1;
    r = memcmp(ka, kb, la < lb ? la : lb);
    if (r)
        return r;
    return la < lb ? -1 : la > lb;
}

static int ref_cmp(const void *a, const void *b)
{
    const chain_ref *x = a, *y = b;
    return order_of(x->tag, x->e->data, x->e->klen,
                    y->tag, y->e->data, y->e->klen);
}

/* Whether e is listed: live, unexpired, with the prefix, after pos. */
static int wanted(const block *e, const hl_cache_list_pos *pos,
                  const void *prefix, apr_size_t plen, apr_time_t now)
{
    if (is_expired(e, now) || e->klen < plen
        || (plen && memcmp(e->data, prefix, plen) != 0))
        return 0;
    return !pos->after
           || order_of(e->tag, e->data, e->klen, pos->tag, pos->key,
                       pos->klen) > 0;
}

apr_status_t hl_cache_list_batch(hl_cache *c, apr_pool_t *pool,
                                 hl_cache_list_pos *pos, const void *prefix,
                                 apr_size_t plen, apr_time_t now,
                                 int max_items, apr_uint32_t max_buckets,
                                 hl_cache_listed *items, int *n, int *done,
                                 apr_uint64_t *scanned)
{
    chain_ref on_stack[CHAIN_ON_STACK];
    apr_uint32_t looked = 0;

    *n = 0;
    hl_cache_recover(c, now, NULL);
    while (pos->bucket < c->nbuckets && looked < max_buckets && *n < max_items) {
        chain_ref *refs = on_stack;
        apr_uint32_t o, count = 0, i, kept = 0;

        for (o = buckets(c)[pos->bucket]; o; o = blk(c, o)->hnext)
            count++;
        if (count > CHAIN_ON_STACK)
            refs = apr_palloc(pool, count * sizeof(*refs));
        for (o = buckets(c)[pos->bucket]; o; o = blk(c, o)->hnext) {
            const block *e = blk(c, o);
            (*scanned)++;
            if (wanted(e, pos, prefix, plen, now)) {
                refs[kept].tag = e->tag;
                refs[kept].e = e;
                kept++;
            }
        }
        qsort(refs, kept, sizeof(*refs), ref_cmp);
        for (i = 0; i < kept && *n < max_items; i++) {
            const block *e = refs[i].e;
            hl_cache_listed *it = &items[(*n)++];
            it->key = apr_pstrmemdup(pool, (const char *)e->data, e->klen);
            it->klen = e->klen;
            it->vlen = e->vlen;
            it->version = e->version;
            it->expires = e->expires;
        }
        looked++;
        if (i < kept) {
            /* The page is full inside this bucket: resume after the last
             * key listed. */
            const hl_cache_listed *last = &items[*n - 1];
            pos->after = 1;
            pos->tag = refs[i - 1].tag;
            pos->key = last->key;
            pos->klen = last->klen;
            break;
        }
        pos->bucket++;
        pos->after = 0;
    }
    *done = pos->bucket >= c->nbuckets;
    return APR_SUCCESS;
}

/* Names the region: a cursor of another region (another seed, another
 * bucket count, as after a resize) is refused. */
static apr_uint32_t region_mark(const hl_cache *c)
{
    return (apr_uint32_t)hlc_siphash13("cursor", 6, c->seed) ^ c->nbuckets;
}

const char *hl_cache_cursor_make(const hl_cache *c, apr_pool_t *pool,
                                 const hl_cache_list_pos *pos)
{
    char *hex, *p;
    apr_size_t i;
    if (!pos->after)
        return apr_psprintf(pool, CURSOR_TAG ".%08x.%x", region_mark(c),
                            pos->bucket);
    hex = p = apr_palloc(pool, pos->klen * 2 + 1);
    for (i = 0; i < pos->klen; i++) {
        static const char digits[] = "0123456789abcdef";
        *p++ = digits[(unsigned char)pos->key[i] >> 4];
        *p++ = digits[(unsigned char)pos->key[i] & 15];
    }
    *p = '\0';
    return apr_psprintf(pool, CURSOR_TAG ".%08x.%x.%08x.%s", region_mark(c),
                        pos->bucket, pos->tag, hex);
}

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

/* A field of 1..8 lowercase hex digits ending at '.' or the end. */
static const char *hex_u32(const char *s, apr_uint32_t *out)
{
    int digits = 0, d;
    apr_uint32_t v = 0;
    while ((d = hex_digit(*s)) >= 0) {
        if (++digits > 8)
            return NULL;
        v = v << 4 | (apr_uint32_t)d;
        s++;
    }
    if (digits == 0 || (*s != '.' && *s != '\0'))
        return NULL;
    *out = v;
    return s;
}

apr_status_t hl_cache_cursor_read(const hl_cache *c, apr_pool_t *pool,
                                  const char *cursor, hl_cache_list_pos *pos)
{
    apr_uint32_t mark;
    apr_size_t hexlen, i;
    const char *s;

    memset(pos, 0, sizeof(*pos));
    if (!cursor || !*cursor)
        return APR_SUCCESS;
    if (strncmp(cursor, CURSOR_TAG ".", sizeof(CURSOR_TAG)) != 0)
        return APR_EINVAL;
    s = cursor + sizeof(CURSOR_TAG);
    if (!(s = hex_u32(s, &mark)) || mark != region_mark(c) || *s != '.')
        return APR_EINVAL;
    if (!(s = hex_u32(s + 1, &pos->bucket)) || pos->bucket > c->nbuckets)
        return APR_EINVAL;
    if (*s == '\0')
        return APR_SUCCESS;
    if (!(s = hex_u32(s + 1, &pos->tag)) || *s != '.'
        || pos->bucket >= c->nbuckets)
        return APR_EINVAL;
    s++;
    hexlen = strlen(s);
    if (hexlen == 0 || hexlen % 2 || hexlen / 2 > c->max_key)
        return APR_EINVAL;
    pos->klen = hexlen / 2;
    pos->key = apr_palloc(pool, pos->klen + 1);
    for (i = 0; i < pos->klen; i++) {
        int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return APR_EINVAL;
        pos->key[i] = (char)(hi << 4 | lo);
    }
    pos->key[pos->klen] = '\0';
    pos->after = 1;
    return APR_SUCCESS;
}
