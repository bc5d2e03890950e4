/* hl_reply: every answer is JSON (src/core/hl_json_reply.c writes them); errors
 * have the shape {"error", "status"}. */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include <apr_strings.h>

#include "hl_apache.h"

hl_jsonw *hl_reply_new(request_rec *r)
{
    hl_jsonw *w = apr_palloc(r->pool, sizeof(*w));
    hl_jsonw_init(w, r->pool);
    return w;
}

static void json_headers(request_rec *r, int status)
{
    r->status = status;
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
}

/* The writer may reuse its buffer when this returns: ap_rwrite copies
 * short text into the brigade's buffer, and hands longer text down as
 * transient buckets, which a filter that keeps them sets aside (copies).
 * A HEAD's text is only counted. */
static apr_status_t reply_sink(void *baton, const char *text, apr_size_t len)
{
    request_rec *r = baton;
    if (r->header_only)
        return APR_SUCCESS;
    return ap_rwrite(text, (int)len, r) < 0 ? APR_EGENERAL : APR_SUCCESS;
}

hl_jsonw *hl_reply_stream(request_rec *r, int status)
{
    hl_jsonw *w = hl_reply_new(r);
    json_headers(r, status);
    hl_jsonw_stream(w, reply_sink, r);
    return w;
}

int hl_send_json(request_rec *r, int status, hl_jsonw *w)
{
    apr_size_t len;
    const char *body = hl_jsonw_text(w, &len);
    if (!w->sent)
        return hl_send_json_text(r, status, body, len);
    /* Nothing went out for a HEAD: its length is known at the end. */
    if (r->header_only)
        ap_set_content_length(r, (apr_off_t)(w->sent + len));
    reply_sink(r, body, len);
    return OK;
}

int hl_send_json_text(request_rec *r, int status, const char *body,
                      apr_size_t len)
{
    json_headers(r, status);
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only)
        ap_rwrite(body, (int)len, r);
    return OK;
}

const char *hl_error_text(request_rec *r, int status, const char *message)
{
    apr_size_t len;
    hl_jsonw *w = hl_reply_new(r);
    hl_json_error(w, status, message);
    return hl_jsonw_text(w, &len);
}

int hl_send_error(request_rec *r, int status, const char *message)
{
    hl_jsonw *w = hl_reply_new(r);
    hl_json_error(w, status, message);
    return hl_send_json(r, status, w);
}

/* The status and text of hl_send_failure, Retry-After set, not sent. */
static int failure_of(request_rec *r, apr_status_t rv, const char *what,
                      const char **text)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                  "mod_hyperlane: %s failed", what);
    /* Memory may come back (a benchmark ends, a limit is raised). */
    if (APR_STATUS_IS_ENOMEM(rv)) {
        apr_table_setn(r->headers_out, "Retry-After", "1");
        *text = apr_psprintf(r->pool, "%s: out of memory; retry later", what);
        return HTTP_SERVICE_UNAVAILABLE;
    }
    *text = apr_psprintf(r->pool, "%s failed", what);
    return HTTP_INTERNAL_SERVER_ERROR;
}

int hl_send_failure(request_rec *r, apr_status_t rv, const char *what)
{
    const char *text;
    int status = failure_of(r, rv, what, &text);
    return hl_send_error(r, status, text);
}

/* The store logs the start of an outage once (hl_store.h); a line per
 * request would flood the log while it lasts. */
int hl_store_failure_of(request_rec *r, apr_status_t rv, const char *what,
                        const char **text)
{
    const char *why;
    hl_metrics_count_store_error(HL_RT(r)->metrics, rv);
    switch (rv) {
    case APR_ECONNREFUSED: why = "unavailable";                      break;
    case APR_TIMEUP:       why = "slower than its timeout";          break;
    case APR_EACCES:       why = "refusing this server's commands";  break;
    case APR_EGENERAL:     why = "failing";                          break;
    default:
        return failure_of(r, rv, what, text);
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r,
                  "mod_hyperlane: %s: the store is %s", what, why);
    apr_table_setn(r->headers_out, "Retry-After", "1");
    *text = apr_psprintf(r->pool, "%s: the store is %s; retry later", what, why);
    return HTTP_SERVICE_UNAVAILABLE;
}

int hl_send_store_failure(request_rec *r, apr_status_t rv, const char *what)
{
    const char *text;
    int status = hl_store_failure_of(r, rv, what, &text);
    return hl_send_error(r, status, text);
}

const hl_memory_figures *hl_memory_figures_of(request_rec *r,
                                               hl_memory_figures *m)
{
    memset(m, 0, sizeof(*m));
    if (hl_procinfo_read(HL_RT(r)->procinfo, &m->proc) != APR_SUCCESS)
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      "mod_hyperlane: cannot read this process's memory figures");
    hl_store_usage_read(HL_RT(r)->store, &m->store);
    m->mpm = HL_RT(r)->mpm;
    return m;
}
