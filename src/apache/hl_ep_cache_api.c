/* The cache API's endpoints beyond get, set and delete: touch
 * (cache-ttl/{key}), add (cache-add/{key}) and the listing (GET cache
 * with prefix=, limit= or cursor=); and what every cache endpoint shares:
 * the key, the query, the conditions, the headers of an entry and the
 * answers to a refused operation. */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include <apr_date.h>
#include <apr_strings.h>

#include "hl_apache.h"

int hl_cache_admit(request_rec *r, hl_admission **out)
{
    return hl_admit(r, HL_LIMIT_CACHE,
                    "Too many cache operations in flight; retry later", out);
}

int hl_cache_key_of(request_rec *r, const hl_route *route, hl_key *key)
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

int hl_cache_query_of(request_rec *r, hl_cache_query *q)
{
    const hl_config *cfg = &HL_RT(r)->cfg;
    hl_cache_query_bounds b;
    const char *error = NULL;

    b.max_ttl = (apr_int64_t)hl_config_get(cfg, HL_D_CACHE_MAX_TTL);
    b.max_limit = (apr_int64_t)hl_config_get(cfg, HL_D_CACHE_LIST_MAX);
    b.max_prefix = (apr_size_t)hl_config_get(cfg, HL_D_CACHE_MAX_KEY);
    if (hl_cache_query_parse(r->pool, r->args, &b, q, &error) != APR_SUCCESS) {
        hl_send_error(r, HTTP_BAD_REQUEST, error);
        return HTTP_BAD_REQUEST;
    }
    return OK;
}

int hl_cache_cond_of(request_rec *r, hl_cache_cond *cond, int *has)
{
    const char *im = apr_table_get(r->headers_in, "If-Match");
    const char *inm = apr_table_get(r->headers_in, "If-None-Match");
    const char *error = NULL;

    memset(cond, 0, sizeof(*cond));
    *has = im || inm;
    if ((im && hl_etag_list_parse(im, 0, &cond->if_match, cond->match,
                                  &cond->n_match, &error) != APR_SUCCESS)
        || (inm && hl_etag_list_parse(inm, 1, &cond->if_none_match,
                                      cond->none_match, &cond->n_none_match,
                                      &error) != APR_SUCCESS)) {
        hl_send_error(r, HTTP_BAD_REQUEST, error);
        return HTTP_BAD_REQUEST;
    }
    return OK;
}

apr_interval_time_t hl_cache_ttl_of(request_rec *r, const hl_cache_query *q)
{
    return apr_time_from_sec(q->has_ttl ? q->ttl
                             : (apr_int64_t)hl_config_get(&HL_RT(r)->cfg,
                                                          HL_D_CACHE_TTL));
}

void hl_cache_entry_headers(request_rec *r, apr_uint64_t version,
                            apr_time_t expires, int with_expires)
{
    apr_table_setn(r->headers_out, "ETag", hl_etag_of(r->pool, version));
    if (with_expires && expires) {
        char *date = apr_palloc(r->pool, APR_RFC822_DATE_LEN);
        apr_rfc822_date(date, expires);
        apr_table_setn(r->headers_out, "Expires", date);
    }
}

int hl_cache_refusal(request_rec *r, apr_status_t rv, const hl_key *key,
                     const hl_cache_written *wr, const char *what)
{
    static const hl_cache_written nothing;
    hl_jsonw *w = hl_reply_new(r);
    hl_store_usage u;

    if (!wr)
        wr = &nothing;
    switch (rv) {
    case APR_NOTFOUND:
        hl_json_cache_miss(w, key->bytes, key->len);
        return hl_send_json(r, HTTP_NOT_FOUND, w);
    case HL_STORE_EPRECONDITION:
        if (wr->version)
            apr_table_setn(r->headers_out, "ETag",
                           hl_etag_of(r->pool, wr->version));
        hl_json_cache_refused(w, HTTP_PRECONDITION_FAILED,
                              "Precondition failed: the entry's version does "
                              "not match If-Match / If-None-Match",
                              key->bytes, key->len, wr);
        return hl_send_json(r, HTTP_PRECONDITION_FAILED, w);
    case HL_STORE_ENOTINT:
        hl_json_cache_refused(w, HTTP_CONFLICT, "The entry does not hold a "
                              "decimal 64-bit integer", key->bytes, key->len,
                              wr);
        return hl_send_json(r, HTTP_CONFLICT, w);
    case HL_STORE_EOVERFLOW:
        hl_json_cache_refused(w, HTTP_CONFLICT, "The sum does not fit a "
                              "signed 64-bit integer", key->bytes, key->len,
                              wr);
        return hl_send_json(r, HTTP_CONFLICT, w);
    case APR_ENOSPC:
        return hl_send_error(r, HTTP_REQUEST_ENTITY_TOO_LARGE,
                             "Value does not fit in the cache (HyperlaneCacheSize)");
    case APR_EINVAL:
        return hl_send_error(r, HTTP_BAD_REQUEST,
                             apr_psprintf(r->pool, "%s: refused by the store "
                                          "(a length or lifetime out of "
                                          "bounds)", what));
    case APR_ENOTIMPL:
        hl_store_usage_read(HL_RT(r)->store, &u);
        return hl_send_error(r, HTTP_NOT_IMPLEMENTED,
                             apr_psprintf(r->pool, "The %s store does not "
                                          "implement %s", u.backend, what));
    default:
        return hl_send_store_failure(r, rv, what);
    }
}

/* POST cache-ttl/{key}?ttl=SECONDS: a new lifetime, the value kept. */
int hl_ep_cache_touch(request_rec *r, const hl_route *route, const char *mount)
{
    hl_cache_written wr;
    hl_cache_query q;
    hl_cache_cond cond;
    hl_admission *a;
    hl_jsonw *w;
    apr_time_t now;
    apr_status_t rv;
    hl_key key;
    int has_cond;

    if (hl_cache_key_of(r, route, &key) != OK || hl_cache_query_of(r, &q) != OK
        || hl_cache_cond_of(r, &cond, &has_cond) != OK)
        return OK;
    if (!q.has_ttl)
        return hl_send_error(r, HTTP_BAD_REQUEST,
                             "cache-ttl needs ?ttl=SECONDS (0: never expires)");
    if (hl_cache_admit(r, &a) != OK)
        return OK;
    now = apr_time_now();
    rv = hl_store_cache_touch(HL_RT(r)->store, key.bytes, key.len, now,
                              apr_time_from_sec(q.ttl),
                              has_cond ? &cond : NULL, &wr);
    hl_admit_done(r, a);
    if (rv != APR_SUCCESS)
        return hl_cache_refusal(r, rv, &key, &wr, "cache touch");
    hl_cache_entry_headers(r, wr.version, wr.expires, 0);
    w = hl_reply_new(r);
    hl_json_cache_touched(w, key.bytes, key.len, &wr, now);
    return hl_send_json(r, HTTP_OK, w);
}

/* POST cache-add/{key}?by=N[&init=N][&ttl=SECONDS]: by defaults to 1;
 * without init a missing key is 404; ttl is the lifetime of an entry the
 * add creates (an existing one keeps its own).  If-Match / If-None-Match
 * are judged by the store, atomically with the add, as for the other
 * writes. */
int hl_ep_cache_add(request_rec *r, const hl_route *route, const char *mount)
{
    hl_cache_written wr;
    hl_cache_query q;
    hl_cache_cond cond;
    hl_admission *a;
    hl_jsonw *w;
    apr_time_t now;
    apr_status_t rv;
    hl_key key;
    int has_cond;

    if (hl_cache_key_of(r, route, &key) != OK || hl_cache_query_of(r, &q) != OK
        || hl_cache_cond_of(r, &cond, &has_cond) != OK)
        return OK;
    if (hl_cache_admit(r, &a) != OK)
        return OK;
    now = apr_time_now();
    rv = hl_store_cache_add(HL_RT(r)->store, key.bytes, key.len,
                            q.has_by ? q.by : 1, q.has_init ? &q.init : NULL,
                            hl_cache_ttl_of(r, &q), now,
                            has_cond ? &cond : NULL, &wr);
    hl_admit_done(r, a);
    if (rv != APR_SUCCESS)
        return hl_cache_refusal(r, rv, &key, &wr, "cache add");
    hl_cache_entry_headers(r, wr.version, wr.expires, 0);
    w = hl_reply_new(r);
    hl_json_cache_added(w, key.bytes, key.len, &wr, now);
    return hl_send_json(r, wr.existed ? HTTP_OK : HTTP_CREATED, w);
}

int hl_cache_list(request_rec *r, const hl_cache_query *q)
{
    hl_cache_list_args la;
    hl_cache_list_page page;
    hl_admission *a;
    hl_jsonw *w;
    apr_status_t rv;

    memset(&la, 0, sizeof(la));
    la.prefix = q->prefix;
    la.plen = q->plen;
    la.cursor = q->cursor;
    la.limit = (int)(q->has_limit ? q->limit
                     : (apr_int64_t)hl_config_get(&HL_RT(r)->cfg,
                                                  HL_D_CACHE_LIST_MAX));
    la.now = apr_time_now();
    if (hl_cache_admit(r, &a) != OK)
        return OK;
    rv = hl_store_cache_list(HL_RT(r)->store, r->pool, &la, &page);
    hl_admit_done(r, a);
    if (rv == APR_EINVAL)
        return hl_send_error(r, HTTP_BAD_REQUEST, "Invalid cursor: not one this "
                             "store made (or the cache was re-laid out since); "
                             "start again without one");
    if (rv != APR_SUCCESS) {
        hl_key none = { "", 0 };
        return hl_cache_refusal(r, rv, &none, NULL, "cache listing");
    }
    w = hl_reply_stream(r, HTTP_OK);
    hl_json_cache_page(w, &page, q->prefix, q->plen, la.limit, la.now);
    return hl_send_json(r, HTTP_OK, w);
}
