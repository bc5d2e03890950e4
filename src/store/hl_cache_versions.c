/* hl_cache_versions: the writes of the cache API on a region: a set and a
 * delete under conditions on the entry's version, a touch that changes
 * only the lifetime, and the atomic add.  Each runs under the caller's
 * lock, judges its conditions before changing anything (a refused write
 * leaves the region as it was), and writes through hlc_write, which gives
 * the entry its new version (hl_store.h says what versions are). */
#include "hl_cache_impl.h"

#include <stdio.h>

static int key_fits(const hl_cache *c, apr_size_t klen)
{
    return klen >= 1 && klen <= c->max_key;
}

static void written_of(hl_cache_written *w, const block *e)
{
    w->existed = e != NULL;
    w->version = e ? e->version : 0;
    w->expires = e ? e->expires : 0;
}

apr_status_t hl_cache_put(hl_cache *c, const void *key, apr_size_t klen,
                          const void *val, apr_size_t vlen, apr_time_t now,
                          apr_interval_time_t ttl, const hl_cache_cond *cond,
                          hl_cache_written *w)
{
    if (ttl < 0)
        return APR_EINVAL;
    return hlc_write(c, key, klen, val, vlen, now, ttl ? now + ttl : 0, cond,
                     w, NULL);
}

/* The live entry a remove or touch acts on, into *e: APR_NOTFOUND if there
 * is none (whatever the conditions: RFC 9110, 13.2.1), then
 * HL_STORE_EPRECONDITION if cond fails. */
static apr_status_t entry_for_write(hl_cache *c, const void *key,
                                    apr_size_t klen, apr_time_t now,
                                    const hl_cache_cond *cond,
                                    hl_cache_written *w, block **e)
{
    hl_cache_recover(c, now, NULL);
    if (!(*e = hlc_entry_live(c, key, klen, now)))
        return APR_NOTFOUND;
    if (!hl_cache_cond_holds(cond, 1, (*e)->version)) {
        written_of(w, *e);
        return HL_STORE_EPRECONDITION;
    }
    return APR_SUCCESS;
}

apr_status_t hl_cache_remove(hl_cache *c, const void *key, apr_size_t klen,
                             apr_time_t now, const hl_cache_cond *cond,
                             hl_cache_written *w)
{
    apr_status_t rv;
    block *e;

    memset(w, 0, sizeof(*w));
    if (!key_fits(c, klen))
        return APR_EINVAL;
    if ((rv = entry_for_write(c, key, klen, now, cond, w, &e)) != APR_SUCCESS)
        return rv;
    w->existed = 1;
    write_begin(c, now);
    c->deletes++;
    hlc_entry_remove(c, e);
    write_end(c);
    return APR_SUCCESS;
}

apr_status_t hl_cache_touch(hl_cache *c, const void *key, apr_size_t klen,
                            apr_time_t now, apr_interval_time_t ttl,
                            const hl_cache_cond *cond, hl_cache_written *w)
{
    apr_status_t rv;
    block *e;

    memset(w, 0, sizeof(*w));
    if (!key_fits(c, klen) || ttl < 0)
        return APR_EINVAL;
    if ((rv = entry_for_write(c, key, klen, now, cond, w, &e)) != APR_SUCCESS)
        return rv;
    /* A lock-free reader may be reading expires: seq tells it to retry. */
    write_begin(c, now);
    e->expires = ttl ? now + ttl : 0;
    hlc_exp_replace(c, e);
    write_end(c);
    written_of(w, e);
    return APR_SUCCESS;
}

apr_status_t hl_cache_add(hl_cache *c, const void *key, apr_size_t klen,
                          apr_int64_t delta, const apr_int64_t *init,
                          apr_interval_time_t init_ttl, apr_time_t now,
                          const hl_cache_cond *cond, hl_cache_written *w)
{
    char text[24];
    apr_int64_t base, sum;
    apr_time_t expires;
    apr_status_t rv;
    block *e;
    int len;

    memset(w, 0, sizeof(*w));
    if (!key_fits(c, klen) || init_ttl < 0)
        return APR_EINVAL;
    hl_cache_recover(c, now, NULL);
    e = hlc_entry_live(c, key, klen, now);
    if (!e && !init)
        return APR_NOTFOUND;    /* whatever cond says, as for touch */
    /* Under the same lock as the write: no other write comes between. */
    if (!hl_cache_cond_holds(cond, e != NULL, e ? e->version : 0)) {
        written_of(w, e);
        return HL_STORE_EPRECONDITION;
    }
    if (e) {
        if (!hl_cache_parse_int((const char *)e->data + e->klen, e->vlen, &base)) {
            written_of(w, e);
            return HL_STORE_ENOTINT;
        }
        expires = e->expires;      /* an add keeps the entry's lifetime */
    }
    else {
        base = *init;
        expires = init_ttl ? now + init_ttl : 0;
    }
    if (__builtin_add_overflow(base, delta, &sum)) {
        written_of(w, e);
        return HL_STORE_EOVERFLOW;
    }
    len = snprintf(text, sizeof(text), "%" APR_INT64_T_FMT, sum);
    rv = hlc_write(c, key, klen, text, (apr_size_t)len, now, expires, NULL, w,
                   NULL);
    if (rv == APR_SUCCESS) {
        w->existed = e != NULL;
        w->number = sum;
    }
    return rv;
}
