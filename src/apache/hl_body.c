/* hl_body: request bodies, streamed bucket by bucket in constant memory,
 * bounded by LimitRequestBody and the endpoint's own limit; Apache's own
 * refusals of a body answered as JSON too; bodies nobody reads dropped. */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include <apr_strings.h>

#include "hl_apache.h"

/* A body that comes with a request the module does not read is dropped
 * before any state changes, so that a broken or oversized one is refused
 * and counts nothing.  A request that names no body has nothing to drop:
 * asking the input filters anyway cost 500 instructions per increment, and
 * Apache drops whatever is left after the handler in any case.  (httpd's
 * ap_request_has_body says no for every HEAD, whose body would then go
 * unchecked until after the increment.) */
static void json_core_errors(request_rec *r, apr_off_t core_limit);
static void json_timeout_error(request_rec *r);

/* The length announced, parsed as ap_http_filter parses it (one that does
 * not parse is refused by the filter with 400 before any byte): 1 and
 * *length, or 0.  By hand, not by ap_parse_strict_length: strtol's locale
 * and sign handling took 150 of a cache set's instructions.  The one
 * difference, a length of more than 19 digits that leading zeros keep
 * within 64 bits, reads as none here: its body is still held to the
 * limits while it is read. */
static int announced_length(request_rec *r, apr_off_t *length)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    apr_int64_t v;
    if (!cl || !hl_parse_decimal(cl, strlen(cl), 0, &v)
        || (apr_int64_t)(apr_off_t)v != v)      /* a 32-bit apr_off_t */
        return 0;
    *length = (apr_off_t)v;
    return 1;
}

/* A body of an announced length, not chunked nor kept: 1 and *length. */
static int plain_length(request_rec *r, apr_off_t *length)
{
    return !r->kept_body && !apr_table_get(r->headers_in, "Transfer-Encoding")
           && announced_length(r, length);
}

int hl_body_announced(request_rec *r)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    return r->kept_body || apr_table_get(r->headers_in, "Transfer-Encoding")
           || (cl && strcmp(cl, "0") != 0);
}

int hl_drop_body(request_rec *r)
{
    apr_off_t limit = ap_get_limit_req_body(r), length = 0;
    if (!hl_body_announced(r))
        return OK;
    /* Dropping reads it: the HTTP input filter refuses by itself a chunked
     * body it cannot read or one over LimitRequestBody (the JSON texts of
     * those cost more than a short body's read, so only when it may), and
     * a body that stops coming (mod_reqtimeout, Timeout) is 408. */
    if (!plain_length(r, &length) || (limit > 0 && length > limit))
        json_core_errors(r, limit);
    else
        json_timeout_error(r);
    return ap_discard_request_body(r);
}

int hl_body_small(request_rec *r)
{
    apr_off_t length = 0;
    return plain_length(r, &length) && length <= HL_BODY_SMALL;
}

static int body_too_large(request_rec *r, apr_off_t limit)
{
    /* The rest of the body stays unread: the connection cannot be reused. */
    r->connection->keepalive = AP_CONN_CLOSE;
    hl_send_error(r, HTTP_REQUEST_ENTITY_TOO_LARGE,
               apr_psprintf(r->pool, "Request body larger than %" APR_OFF_T_FMT
                            " bytes", limit));
    return HTTP_REQUEST_ENTITY_TOO_LARGE;
}

static int body_read_failed(request_rec *r, apr_status_t rv, apr_off_t seen)
{
    /* 408 for a body that stopped coming (APR_TIMEUP), as httpd maps it. */
    int status = ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
    if (rv == AP_FILTER_ERROR)      /* answered by Apache's input filter */
        return AP_FILTER_ERROR;
    /* A client's doing, as core logs its own: info, not a line per
     * request at Debian's default level. */
    ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, r,
                  "mod_hyperlane: %s: request body ended after %" APR_OFF_T_FMT
                  " bytes (client stopped sending or sent a broken body)",
                  r->uri, seen);
    r->connection->keepalive = AP_CONN_CLOSE;
    hl_send_error(r, status, status == HTTP_REQUEST_TIME_OUT
                  ? "Request body timed out" : status == HTTP_BAD_REQUEST
                  ? "Request body incomplete or malformed"
                  : "Request body could not be read");
    return status;
}

/* When Apache's own HTTP input filter refuses a body (a chunked body that
 * outgrows LimitRequestBody, a bad chunk header) it answers by itself;
 * these custom responses, with the JSON error filter below, keep that
 * answer JSON too. */
static void json_core_errors(request_rec *r, apr_off_t core_limit)
{
    ap_custom_response(r, HTTP_REQUEST_ENTITY_TOO_LARGE, hl_error_text(
        r, HTTP_REQUEST_ENTITY_TOO_LARGE, apr_psprintf(
            r->pool, "Request body larger than %" APR_OFF_T_FMT " bytes",
            core_limit)));
    ap_custom_response(r, HTTP_BAD_REQUEST, hl_error_text(
        r, HTTP_BAD_REQUEST, "Request body incomplete or malformed"));
    json_timeout_error(r);
}

static void json_timeout_error(request_rec *r)
{
    ap_custom_response(r, HTTP_REQUEST_TIME_OUT, hl_error_text(
        r, HTTP_REQUEST_TIME_OUT, "Request body timed out"));
    apr_table_setn(r->notes, HL_JSON_ERRORS_NOTE, "1");
}

/* The module's own body limit for the process endpoints: HyperlaneMaxBody,
 * where 0 means none of its own (-1 here). */
apr_off_t hl_max_body(request_rec *r)
{
    apr_off_t limit = (apr_off_t)hl_config_get(&HL_RT(r)->cfg, HL_D_MAX_BODY);
    return limit > 0 ? limit : -1;
}

/* An endpoint's own limit, held to HyperlaneMaxBody when that is lower. */
apr_off_t hl_max_body_within(request_rec *r, apr_off_t limit)
{
    apr_off_t own = hl_max_body(r);
    return own >= 0 && own < limit ? own : limit;
}

/* hl_body_fits for a length parsed already (announced: whether there
 * was one): a set parsed it twice, 339 instructions of its 42,000. */
static int length_fits(request_rec *r, apr_off_t own, apr_off_t core_limit,
                       int announced, apr_off_t length)
{
    if (!announced)
        return HTTP_OK;
    if (own >= 0 && length > own)
        return body_too_large(r, own);
    if (core_limit > 0 && length > core_limit)
        return body_too_large(r, core_limit);
    return HTTP_OK;
}

int hl_body_fits(request_rec *r, apr_off_t own)
{
    apr_off_t length = 0;
    int announced = announced_length(r, &length);
    return length_fits(r, own, ap_get_limit_req_body(r), announced, length);
}

/* own: the endpoint's limit in bytes, -1 for none. */
int hl_stream_body(request_rec *r, apr_off_t own, hl_consume_fn consume,
                       void *ctx)
{
    apr_off_t core_limit = ap_get_limit_req_body(r);
    apr_off_t seen = 0, length = 0;
    int announced = announced_length(r, &length);
    apr_bucket_brigade *bb;
    int done = 0, rc;

    if ((rc = length_fits(r, own, core_limit, announced, length)) != HTTP_OK)
        return rc;
    /* A body of a valid Content-Length within the limits (checked just
     * above) is one the HTTP input filter never refuses by itself: it
     * needs no JSON error texts, which cost more than a short body's
     * read. */
    if (!announced || apr_table_get(r->headers_in, "Transfer-Encoding"))
        json_core_errors(r, core_limit);
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    while (!done) {
        apr_bucket *b;
        apr_status_t rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES,
                                         APR_BLOCK_READ, HUGE_STRING_LEN * 8);
        if (rv != APR_SUCCESS)
            return body_read_failed(r, rv, seen);
        for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
             b = APR_BUCKET_NEXT(b)) {
            const char *data;
            apr_size_t len;
            if (APR_BUCKET_IS_EOS(b)) {
                done = 1;
                break;
            }
            if (APR_BUCKET_IS_METADATA(b))
                continue;
            rv = apr_bucket_read(b, &data, &len, APR_BLOCK_READ);
            if (rv != APR_SUCCESS)
                return body_read_failed(r, rv, seen);
            seen += (apr_off_t)len;
            if (own >= 0 && seen > own)
                return body_too_large(r, own);
            consume(ctx, data, len);
        }
        apr_brigade_cleanup(bb);
    }
    return HTTP_OK;
}

/* Error answers that Apache writes itself for our requests say text/html;
 * ours are JSON (see json_core_errors). */
apr_status_t hl_json_error_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    ap_set_content_type(f->r, "application/json");
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

/* The SetHandler in effect for r names the module, or none is set
 * (Apache refused r before its <Location> was walked).  A <Location>
 * below a mount that sets another handler (SetHandler none, to serve
 * files there) answers its errors as Apache does. */
static int handler_may_be_ours(request_rec *r)
{
    core_dir_config *d = ap_get_core_module_config(r->per_dir_config);
    const char *err = NULL, *handler;
    if (!d || !d->expr_handler)
        return 1;
    handler = ap_expr_str_exec(r, d->expr_handler, &err);
    return !err && handler && strcasecmp(handler, HL_HANDLER) == 0;
}

/* Whether Apache refused r before the module's handler ran although it
 * lies below a mount of this host (where every path is the module's, an
 * unknown one a 404 of its own): a Content-Length that does not parse, a
 * broken %-escape, header fields too large, or, after map_to_storage kept
 * its route, authentication and Require. */
static int refused_before_us(request_rec *r)
{
    const hl_routed *rt = ap_get_module_config(r->request_config,
                                               &hyperlane_module);
    const char *mount;
    hl_route route;
    /* A redirect (mod_rewrite's [R], mod_alias's Redirect) is no refusal. */
    if (ap_is_HTTP_REDIRECT(r->status) || !handler_may_be_ours(r))
        return 0;
    if (rt)
        return !rt->answering;
    return r->uri && r->uri[0] == '/'
           && hl_router_resolve(r->uri, hl_mounts_of(r->server), NULL,
                                hl_method_bit(r), &mount, &route) == APR_SUCCESS;
}

void hl_insert_error_filter(request_rec *r)
{
    if (!apr_table_get(r->notes, HL_JSON_ERRORS_NOTE)) {
        const char *line;
        if (!refused_before_us(r))
            return;
        line = ap_get_status_line(r->status);
        /* "400 Bad Request": the text after the code. */
        ap_custom_response(r, r->status, hl_error_text(r, r->status, apr_pstrcat(
            r->pool, strlen(line) > 4 ? line + 4 : line, ": refused by Apache "
            "before mod_hyperlane ran; the error log says why", NULL)));
    }
    ap_add_output_filter("HYPERLANE_JSON_ERROR", NULL, r, r->connection);
}

/* An endpoint's answer after hl_stream_body: the error was sent already. */
int hl_body_answered(int rc)
{
    return rc == AP_FILTER_ERROR ? AP_FILTER_ERROR : OK;
}
