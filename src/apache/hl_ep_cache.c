/* The cache's endpoints: get, set, delete and statistics, each admitted
 * under HyperlaneCacheMaxConcurrent. */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include "util_script.h"

#include <apr_strings.h>

#include "hl_apache.h"

/* The cache.  A key is the rest of the path after cache/, percent-decoded
 * here (so it may hold any byte), checked before anything is stored. */
typedef struct hl_key {
    char *bytes;
    apr_size_t len;
} hl_key;

static int cache_admit(request_rec *r, hl_admission **out)
{
    return hl_admit(r, HL_LIMIT_CACHE,
                       "Too many cache operations in flight; retry later", out);
}

static int parse_key(request_rec *r, const hl_route *route, hl_key *key)
{
    apr_size_t max = (apr_size_t)hl_config_get(&HL_RT(r)->cfg, HL_D_CACHE_MAX_KEY);
    if (hl_percent_decode(r->pool, route->rest, strlen(route->rest), &key->bytes,
                          &key->len) != APR_SUCCESS) {
        hl_send_error(r, HTTP_BAD_REQUEST, "Invalid percent-encoding in key");
        return HTTP_BAD_REQUEST;
    }
    if (key->len == 0) {
        hl_send_error(r, HTTP_BAD_REQUEST, "Empty key");
        return HTTP_BAD_REQUEST;
    }
    if (key->len > max) {
        hl_send_error(r, HTTP_REQUEST_URI_TOO_LARGE,
                   apr_psprintf(r->pool, "Key longer than %" APR_SIZE_T_FMT
                                " bytes", max));
        return HTTP_REQUEST_URI_TOO_LARGE;
    }
    return OK;
}

/* ?raw=1 asks for the stored bytes themselves. */
static int want_raw(request_rec *r, int *raw)
{
    apr_table_t *args = NULL;
    const char *v;
    ap_args_to_table(r, &args);
    v = args ? apr_table_get(args, "raw") : NULL;
    *raw = v && strcmp(v, "1") == 0;
    if (v && !*raw && strcmp(v, "0") != 0) {
        hl_send_error(r, HTTP_BAD_REQUEST, "raw must be 0 or 1");
        return HTTP_BAD_REQUEST;
    }
    return OK;
}

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
    hl_admission *a;
    apr_status_t rv;
    int raw;

    if (want_raw(r, &raw) != OK || cache_admit(r, &a) != OK)
        return OK;
    rv = hl_store_cache_get(HL_RT(r)->store, r->pool, key->bytes, key->len,
                            apr_time_now(), &res);
    hl_admit_done(r, a);
    if (rv == APR_NOTFOUND)
        return send_cache_miss(r, key);
    if (rv != APR_SUCCESS)
        return hl_send_store_failure(r, rv, "cache get");
    if (raw)
        return send_raw(r, res.value, res.vlen);
    w = hl_reply_new(r);
    hl_json_cache_hit(w, key->bytes, key->len, &res);
    return hl_send_json(r, HTTP_OK, w);
}

typedef struct hl_value_buf {
    apr_pool_t *pool;
    char *data;
    apr_size_t len, cap;
} hl_value_buf;

static void consume_value(void *ctx, const char *data, apr_size_t len)
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
 * client holds a worker of its own, never a slot of the limit. */
static int cache_set(request_rec *r, const hl_key *key)
{
    hl_jsonw *w;
    apr_off_t limit = (apr_off_t)hl_config_get(&HL_RT(r)->cfg, HL_D_CACHE_MAX_VALUE);
    hl_value_buf value = { r->pool, NULL, 0, 0 };
    hl_admission *a;
    apr_status_t rv;
    int replaced = 0, rc;

    if (hl_max_body(r) >= 0 && hl_max_body(r) < limit)
        limit = hl_max_body(r);
    rc = hl_stream_body(r, limit, consume_value, &value);
    if (rc != HTTP_OK)
        return hl_body_answered(rc);
    if (cache_admit(r, &a) != OK)
        return OK;
    rv = hl_store_cache_set(HL_RT(r)->store, key->bytes, key->len,
                            value.data ? value.data : "", value.len,
                            apr_time_now(), apr_time_from_sec(
                                hl_config_get(&HL_RT(r)->cfg, HL_D_CACHE_TTL)),
                            &replaced);
    hl_admit_done(r, a);
    if (rv == APR_ENOSPC)
        return hl_send_error(r, HTTP_REQUEST_ENTITY_TOO_LARGE,
                          "Value does not fit in the cache (HyperlaneCacheSize)");
    if (rv != APR_SUCCESS)
        return hl_send_store_failure(r, rv, "cache set");
    w = hl_reply_new(r);
    hl_json_cache_set(w, key->bytes, key->len,
                      value.data ? value.data : "", value.len, replaced);
    return hl_send_json(r, replaced ? HTTP_OK : HTTP_CREATED, w);
}

static int cache_delete(request_rec *r, const hl_key *key)
{
    hl_jsonw *w;
    hl_admission *a;
    apr_status_t rv;
    if (cache_admit(r, &a) != OK)
        return OK;
    rv = hl_store_cache_delete(HL_RT(r)->store, key->bytes, key->len,
                               apr_time_now());
    hl_admit_done(r, a);
    if (rv == APR_NOTFOUND)
        return send_cache_miss(r, key);
    if (rv != APR_SUCCESS)
        return hl_send_store_failure(r, rv, "cache delete");
    w = hl_reply_new(r);
    hl_json_cache_deleted(w, key->bytes, key->len);
    return hl_send_json(r, HTTP_OK, w);
}

int hl_ep_cache_key(request_rec *r, const hl_route *route, const char *mount)
{
    hl_key key;
    if (parse_key(r, route, &key) != OK)
        return OK;
    switch (hl_router_method_bit(r->method)) {
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
    hl_admission *a;
    apr_status_t rv;
    /* It takes the store's lock: under the limit like every operation. */
    if (cache_admit(r, &a) != OK)
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
