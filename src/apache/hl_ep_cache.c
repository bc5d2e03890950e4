/* The cache's endpoints: get, set, delete and statistics (or a listing),
 * each admitted under HyperlaneCacheMaxConcurrent.  Get, set and delete
 * honour If-Match and If-None-Match (RFC 9110) on the entry's version,
 * which the answers carry as a strong ETag; sets take ?ttl=.  The other
 * operations of the cache API are in hl_ep_cache_api.c and
 * hl_ep_cache_bulk.c. */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include "util_script.h"

#include <apr_strings.h>

#include "hl_apache.h"

/* The stored bytes are whatever a client put there: never to be sniffed
 * into a page and run in the origin of this server. */
static int send_raw(request_rec *r, const char *data, apr_size_t len)
{
    ap_set_content_type(r, "application/octet-stream");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    apr_table_setn(r->headers_out, "Content-Disposition", "attachment");
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only)
        ap_rwrite(data, (int)len, r);
    return OK;
}

static int send_cache_miss(request_rec *r, const hl_key *key)
{
    hl_jsonw *w = hl_reply_new(r);
    hl_json_cache_miss(w, key->bytes, key->len);
    return hl_send_json(r, HTTP_NOT_FOUND, w);
}

static int cache_get(request_rec *r, const hl_key *key)
{
    hl_jsonw *w;
    hl_cache_result res;
    hl_cache_query q;
    hl_cache_cond cond;
    hl_admission *a;
    apr_status_t rv;
    int has_cond;

    if (hl_cache_query_of(r, &q) != OK || hl_cache_cond_of(r, &cond, &has_cond) != OK
        || hl_cache_admit(r, &a) != OK)
        return OK;
    memset(&res, 0, sizeof(res));
    rv = hl_store_cache_get(HL_RT(r)->store, r->pool, key->bytes, key->len,
                            apr_time_now(), &res);
    hl_admit_done(r, a);
    if (rv == APR_NOTFOUND)
        return send_cache_miss(r, key);
    if (rv != APR_SUCCESS)
        return hl_send_store_failure(r, rv, "cache get");
    if (res.version)
        hl_cache_entry_headers(r, res.version, res.expires, q.raw);
    if (has_cond) {
        /* RFC 9110, 13.2.2: If-Match first (strong comparison), then
         * If-None-Match (weak: the parser kept weak tags for it), which
         * answers a GET or HEAD with 304. */
        hl_cache_cond match = cond, none_match = cond;
        hl_cache_written current;
        match.if_none_match = HL_COND_NONE;
        none_match.if_match = HL_COND_NONE;
        memset(&current, 0, sizeof(current));
        current.version = res.version;
        if (!hl_cache_cond_holds(&match, 1, res.version))
            return hl_cache_refusal(r, HL_STORE_EPRECONDITION, key, &current,
                                    "cache get");
        if (!hl_cache_cond_holds(&none_match, 1, res.version)) {
            /* Headers only, those a 200 would carry (RFC 9110 15.4.5). */
            apr_table_setn(r->headers_out, "Cache-Control", "no-store");
            r->status = HTTP_NOT_MODIFIED;
            return OK;
        }
    }
    if (q.raw)
        return send_raw(r, res.value, res.vlen);
    hl_drop_ranges(r);      /* the JSON form counts this read: new bytes */
    w = hl_reply_new(r);
    hl_json_cache_hit(w, key->bytes, key->len, &res);
    return hl_send_json(r, HTTP_OK, w);
}

void hl_value_buf_add(void *ctx, const char *data, apr_size_t len)
{
    hl_value_buf *v = ctx;
    if (v->len + len > v->cap) {
        apr_size_t cap = v->cap ? v->cap : 4096;
        char *bigger;
        while (cap < v->len + len)
            cap *= 2;
        bigger = apr_palloc(v->pool, cap);
        if (v->len)
            memcpy(bigger, v->data, v->len);
        v->data = bigger;
        v->cap = cap;
    }
    memcpy(v->data + v->len, data, len);
    v->len += len;
}

/* The value is the request body, at most HyperlaneCacheMaxValue bytes
 * (and HyperlaneMaxBody); a larger one is refused with 413 and nothing is
 * stored.  The whole body is read before the set is admitted: a slow
 * client holds a worker of its own, never a slot of the limit.  The query
 * and the conditions are checked before the body is read. */
static int cache_set(request_rec *r, const hl_key *key)
{
    hl_jsonw *w;
    apr_off_t limit = hl_max_body_within(r,
        (apr_off_t)hl_config_get(&HL_RT(r)->cfg, HL_D_CACHE_MAX_VALUE));
    hl_value_buf value = { r->pool, NULL, 0, 0 };
    hl_cache_written wr;
    hl_cache_query q;
    hl_cache_cond cond;
    hl_admission *a;
    apr_time_t now;
    apr_status_t rv;
    int has_cond, rc;

    if (hl_cache_query_of(r, &q) != OK || hl_cache_cond_of(r, &cond, &has_cond) != OK)
        return OK;
    rc = hl_stream_body(r, limit, hl_value_buf_add, &value);
    if (rc != HTTP_OK)
        return hl_body_answered(rc);
    if (hl_cache_admit(r, &a) != OK)
        return OK;
    now = apr_time_now();
    rv = hl_store_cache_put(HL_RT(r)->store, key->bytes, key->len,
                            value.data ? value.data : "", value.len, now,
                            hl_cache_ttl_of(r, &q), has_cond ? &cond : NULL,
                            &wr);
    if (rv == APR_ENOTIMPL && !has_cond && !q.has_ttl)
        /* A backend without versions still takes a plain set. */
        rv = hl_store_cache_set(HL_RT(r)->store, key->bytes, key->len,
                                value.data ? value.data : "", value.len, now,
                                hl_cache_ttl_of(r, &q), &wr.existed);
    hl_admit_done(r, a);
    if (rv != APR_SUCCESS)
        return hl_cache_refusal(r, rv, key, &wr, "cache set");
    w = hl_reply_new(r);
    if (wr.version) {
        hl_cache_entry_headers(r, wr.version, wr.expires, 0);
        hl_json_cache_stored(w, key->bytes, key->len,
                             value.data ? value.data : "", value.len, &wr, now);
    }
    else
        hl_json_cache_set(w, key->bytes, key->len,
                          value.data ? value.data : "", value.len, wr.existed);
    return hl_send_json(r, wr.existed ? HTTP_OK : HTTP_CREATED, w);
}

static int cache_delete(request_rec *r, const hl_key *key)
{
    hl_jsonw *w;
    hl_cache_written wr;
    hl_cache_cond cond;
    hl_admission *a;
    apr_status_t rv;
    int has_cond;

    if (hl_cache_cond_of(r, &cond, &has_cond) != OK || hl_cache_admit(r, &a) != OK)
        return OK;
    memset(&wr, 0, sizeof(wr));
    if (has_cond)
        rv = hl_store_cache_remove(HL_RT(r)->store, key->bytes, key->len,
                                   apr_time_now(), &cond, &wr);
    else
        rv = hl_store_cache_delete(HL_RT(r)->store, key->bytes, key->len,
                                   apr_time_now());
    hl_admit_done(r, a);
    if (rv != APR_SUCCESS)
        return hl_cache_refusal(r, rv, key, &wr, "cache delete");
    w = hl_reply_new(r);
    hl_json_cache_deleted(w, key->bytes, key->len);
    return hl_send_json(r, HTTP_OK, w);
}

int hl_ep_cache_key(request_rec *r, const hl_route *route, const char *mount)
{
    hl_key key;
    if (hl_cache_key_of(r, route, &key) != OK)
        return OK;
    switch (hl_method_bit(r)) {
    case HL_M_POST:
    case HL_M_PUT:    return cache_set(r, &key);
    case HL_M_DELETE: return cache_delete(r, &key);
    default:          return cache_get(r, &key);
    }
}

int hl_ep_cache_stats(request_rec *r, const hl_route *route,
                          const char *mount)
{
    hl_jsonw *w;
    hl_cache_stats stats;
    hl_limiter_stats ls;
    hl_cache_query q;
    hl_admission *a;
    apr_status_t rv;
    /* With prefix=, limit= or cursor= it is a listing; without, the
     * statistics as they always were. */
    if (hl_cache_query_of(r, &q) != OK)
        return OK;
    if (q.listing)
        return hl_cache_list(r, &q);
    /* It takes the store's lock: under the limit like every operation. */
    if (hl_cache_admit(r, &a) != OK)
        return OK;
    rv = hl_store_cache_stats(HL_RT(r)->store, &stats);
    hl_admit_done(r, a);
    if (rv != APR_SUCCESS)
        return hl_send_store_failure(r, rv, "cache stats");
    hl_limiter_stats_read(hl_limiter_for(r, HL_LIMIT_CACHE), &ls);
    w = hl_reply_new(r);
    hl_json_cache_stats(w, &stats, &ls, hl_limit_for(r, HL_LIMIT_CACHE));
    return hl_send_json(r, HTTP_OK, w);
}
