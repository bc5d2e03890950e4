/* cache-bulk/get and cache-bulk/set: many keys in one request.  The body
 * is read whole (at most HyperlaneCacheBulkMaxBody, else 413), parsed and
 * checked in the core (hl_cache_bulk.h) before anything is read or
 * stored, then each item is one store operation under one admission, in
 * the order given: the request is not atomic across keys, and each
 * result says what happened to its key. */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include <apr_strings.h>

#include "hl_apache.h"

/* The body read and parsed, the request admitted and room for its
 * results: 1.  Else 0, the answer has been sent and *rc is what the
 * handler returns. */
static int bulk_begin(request_rec *r, int is_set, hl_bulk_request *req,
                      hl_admission **a, hl_bulk_result **res, int *rc)
{
    const hl_config *cfg = &HL_RT(r)->cfg;
    apr_off_t limit = hl_max_body_within(r,
        (apr_off_t)hl_config_get(cfg, HL_D_CACHE_BULK_MAX_BODY));
    hl_value_buf body = { r->pool, NULL, 0, 0 };
    hl_bulk_bounds b;
    const char *error = NULL;
    int got;

    *rc = OK;
    got = hl_stream_body(r, limit, hl_value_buf_add, &body);
    if (got != HTTP_OK) {
        *rc = hl_body_answered(got);   /* answered already: 413, 400 */
        return 0;
    }
    b.max_key = (apr_size_t)hl_config_get(cfg, HL_D_CACHE_MAX_KEY);
    b.max_value = (apr_size_t)hl_config_get(cfg, HL_D_CACHE_MAX_VALUE);
    b.max_ttl = (apr_int64_t)hl_config_get(cfg, HL_D_CACHE_MAX_TTL);
    b.max_items = (int)hl_config_get(cfg, HL_D_CACHE_BULK_MAX_KEYS);
    if (hl_bulk_parse(r->pool, body.data ? body.data : "", body.len, is_set,
                      &b, req, &error) != APR_SUCCESS) {
        hl_send_error(r, HTTP_BAD_REQUEST, error);
        return 0;
    }
    if (hl_cache_admit(r, a) != OK)
        return 0;
    *res = apr_pcalloc(r->pool, (apr_size_t)req->n * sizeof(**res));
    return 1;
}

int hl_ep_cache_bulk_get(request_rec *r, const hl_route *route,
                         const char *mount)
{
    hl_bulk_request req;
    hl_bulk_result *res;
    hl_admission *a;
    hl_jsonw *w;
    apr_time_t now;
    int i, rc;

    if (!bulk_begin(r, 0, &req, &a, &res, &rc))
        return rc;
    now = apr_time_now();
    for (i = 0; i < req.n; i++) {
        hl_cache_result hit;
        apr_status_t rv;
        memset(&hit, 0, sizeof(hit));
        rv = hl_store_cache_get(HL_RT(r)->store, r->pool, req.items[i].key,
                                req.items[i].klen, now, &hit);
        if (rv == APR_SUCCESS) {
            res[i].status = HTTP_OK;
            res[i].value = hit.value;
            res[i].vlen = hit.vlen;
            res[i].version = hit.version;
            res[i].expires = hit.expires;
        }
        else if (rv == APR_NOTFOUND) {
            res[i].status = HTTP_NOT_FOUND;
            res[i].error = "Key not found";
        }
        else {
            hl_admit_done(r, a);
            return hl_send_store_failure(r, rv, "cache bulk get");
        }
    }
    hl_admit_done(r, a);
    w = hl_reply_stream(r, HTTP_OK);
    hl_json_cache_bulk(w, 0, &req, res, now, 0, NULL);
    return hl_send_json(r, HTTP_OK, w);
}

/* One item of a set: its result. */
static void bulk_set_one(request_rec *r, const hl_bulk_item *it,
                         apr_time_t now, hl_bulk_result *res,
                         apr_status_t *failure)
{
    apr_int64_t ttl = it->has_ttl ? it->ttl
                      : (apr_int64_t)hl_config_get(&HL_RT(r)->cfg, HL_D_CACHE_TTL);
    hl_cache_written wr;
    apr_status_t rv = hl_store_cache_put(HL_RT(r)->store, it->key, it->klen,
                                         it->value, it->vlen, now,
                                         apr_time_from_sec(ttl),
                                         it->has_cond ? &it->cond : NULL, &wr);
    res->version = wr.version;
    res->expires = wr.expires;
    switch (rv) {
    case APR_SUCCESS:
        res->status = wr.existed ? HTTP_OK : HTTP_CREATED;
        break;
    case HL_STORE_EPRECONDITION:
        res->status = HTTP_PRECONDITION_FAILED;
        res->error = "Precondition failed";
        break;
    case APR_ENOSPC:
        res->status = HTTP_REQUEST_ENTITY_TOO_LARGE;
        res->error = "Value does not fit in the cache (HyperlaneCacheSize)";
        break;
    case APR_EINVAL:
        /* The store's own bounds (those it was opened with) refused it
         * before writing: this item's 400, as alone. */
        res->status = HTTP_BAD_REQUEST;
        res->error = "Refused by the store (a length or lifetime out of bounds)";
        break;
    default:
        *failure = rv;
    }
}

/* The store failed at item failed, after the items before it ran: the
 * answer is the failure's status (503 while the store cannot serve) with
 * every item's result, so that a client retries only what was not
 * stored.  The failed item's "stored" is null unless the store refused
 * it before running it (APR_EACCES); the items after it were not run. */
static int bulk_set_stopped(request_rec *r, const hl_bulk_request *req,
                            hl_bulk_result *res, int failed,
                            apr_status_t failure, apr_time_t now)
{
    const char *text;
    int status = hl_store_failure_of(r, failure, "cache bulk set", &text), i;
    hl_jsonw *w;
    ap_log_rerror(APLOG_MARK, APLOG_ERR, failure, r,
                  "mod_hyperlane: cache bulk set stopped at item %d of %d",
                  failed + 1, req->n);
    memset(&res[failed], 0, sizeof(res[failed]));
    res[failed].status = status;
    res[failed].error = text;
    res[failed].unknown = failure != APR_EACCES;
    for (i = failed + 1; i < req->n; i++) {
        res[i].status = status;
        res[i].error = "Not run: the store failed at an earlier item";
    }
    w = hl_reply_stream(r, status);
    hl_json_cache_bulk(w, 1, req, res, now, status, text);
    return hl_send_json(r, status, w);
}

int hl_ep_cache_bulk_set(request_rec *r, const hl_route *route,
                         const char *mount)
{
    hl_bulk_request req;
    hl_bulk_result *res;
    hl_admission *a;
    hl_jsonw *w;
    apr_time_t now;
    apr_status_t failure = APR_SUCCESS;
    int i, rc;

    if (!bulk_begin(r, 1, &req, &a, &res, &rc))
        return rc;
    now = apr_time_now();
    for (i = 0; i < req.n && failure == APR_SUCCESS; i++)
        bulk_set_one(r, &req.items[i], now, &res[i], &failure);
    hl_admit_done(r, a);
    if (failure != APR_SUCCESS && i == 1) {
        /* Nothing was stored: while a backend is down that is every
         * request, and its outage has a log line of its own. */
        hl_key none = { "", 0 };
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, failure, r,
                      "mod_hyperlane: cache bulk set stopped at its first item");
        return hl_cache_refusal(r, failure, &none, NULL, "cache bulk set");
    }
    if (failure != APR_SUCCESS)
        return bulk_set_stopped(r, &req, res, i - 1, failure, now);
    w = hl_reply_stream(r, HTTP_OK);
    hl_json_cache_bulk(w, 1, &req, res, now, 0, NULL);
    return hl_send_json(r, HTTP_OK, w);
}
