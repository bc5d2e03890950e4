/* The metrics endpoint (Prometheus text), and the accounting of every
 * request below a mount: its endpoint, the status it was sent with and
 * how long it took, added to this host's shared figures (hl_metrics.h)
 * once its answer has gone out. */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include "hl_apache.h"

void hl_metrics_view_of(request_rec *r, hl_metrics_view *v)
{
    hl_runtime *rt = HL_RT(r);
    apr_uint32_t limit[HL_LIMIT_KINDS];
    int k;
    for (k = 0; k < HL_LIMIT_KINDS; k++)
        limit[k] = hl_limit_for(r, (hl_limit_kind)k);
    hl_metrics_view_read(v, rt->store, rt->limits, limit, rt->metrics,
                         rt->procinfo);
}

/* The store's figures are read without a slot of the cache limit: a
 * monitor must see a saturated limiter, not be refused by it.  Protect
 * the endpoint with Require like /server-status (README); it is not
 * HL_RF_READ_ONLY, so no fast path answers it before that Require. */
int hl_ep_metrics(request_rec *r, const hl_route *route, const char *mount)
{
    hl_metrics_view v;
    hl_promw w;
    const char *text;
    apr_size_t len;

    hl_metrics_view_of(r, &v);
    hl_promw_init(&w, r->pool);
    hl_metrics_text(&w, &v, HL_VERSION);
    text = hl_promw_text(&w, &len);
    r->status = HTTP_OK;
    ap_set_content_type(r, HL_PROMW_CONTENT_TYPE);
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only)
        ap_rwrite(text, (int)len, r);
    return OK;
}

/* Runs for every request of the server once its answer has been handed to
 * the connection; only those routed below a mount carry an hl_routed (set
 * by map_to_storage, the handler or the quick handler).  Along an internal
 * redirect's chain the last routed request names the endpoint, and the
 * status is the last request's, the one sent (mod_log_config's %>s). */
int hl_log_transaction(request_rec *r)
{
    const hl_routed *routed = NULL, *each_routed;
    const request_rec *each, *last = r;
    hl_runtime *rt;

    for (each = r; each; each = each->next) {
        if ((each_routed = ap_get_module_config(each->request_config,
                                                &hyperlane_module)) != NULL)
            routed = each_routed;
        last = each;
    }
    if (!routed || !(rt = HL_RT(r)) || !rt->metrics)
        return DECLINED;
    hl_metrics_record(rt->metrics, routed->route.status == HL_ROUTE_NOT_FOUND
                                   ? HL_EP_NONE : routed->route.endpoint,
                      last->status, apr_time_now() - r->request_time);
    return DECLINED;
}
