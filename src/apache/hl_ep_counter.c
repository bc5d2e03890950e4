/* The counter's endpoints and the index. */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include "hl_apache.h"

int hl_ep_index(request_rec *r, const hl_route *route, const char *mount)
{
    hl_jsonw *w = hl_reply_new(r);
    hl_json_index(w, mount, hl_router_table());
    return hl_send_json(r, HTTP_OK, w);
}

/* What a connection keeps of its last answers, in its slot of
 * conn_config: a connection is served by one thread at a time, so it
 * needs no lock, and the clients that ask again and again (a dashboard, a
 * monitor, a load) keep their connection open.  HTTP/2 gives each stream
 * a connection of its own. */
typedef struct conn_memo {
    hl_stats_memo stats;
    hl_kept_text figures;
} conn_memo;

static conn_memo *conn_memo_of(conn_rec *c)
{
    conn_memo *memo = ap_get_module_config(c->conn_config, &hyperlane_module);
    if (!memo) {
        memo = apr_pcalloc(c->pool, sizeof(*memo));
        ap_set_module_config(c->conn_config, &hyperlane_module, memo);
    }
    return memo;
}

int hl_ep_counter_increment(request_rec *r, const hl_route *route,
                                const char *mount)
{
    apr_uint64_t value;
    apr_status_t rv;
    hl_memory_figures m;
    hl_jsonw *w;
    rv = hl_store_counter_increment(HL_RT(r)->store, HL_RT(r)->pid, &value);
    if (rv != APR_SUCCESS)
        return hl_send_store_failure(r, rv, "counter increment");
    hl_metrics_count_increment(HL_RT(r)->metrics);
    w = hl_reply_new(r);
    hl_json_counter_increment_again(w, value, hl_memory_figures_of(r, &m),
                                    &conn_memo_of(r->connection)->figures,
                                    r->connection->pool);
    return hl_send_json(r, HTTP_OK, w);
}

int hl_ep_counter_stats(request_rec *r, const hl_route *route,
                            const char *mount)
{
    hl_counter_snapshot snap;
    apr_status_t rv = hl_store_counter_snapshot(HL_RT(r)->store, HL_RECENT_MAX,
                                                &snap);
    hl_memory_figures m;
    const char *text;
    apr_size_t len;
    if (rv != APR_SUCCESS)
        return hl_send_store_failure(r, rv, "counter stats");
    text = hl_json_counter_stats_again(&snap, hl_memory_figures_of(r, &m),
                                       &conn_memo_of(r->connection)->stats,
                                       r->pool,
                                       r->connection->pool, &len);
    return hl_send_json_text(r, HTTP_OK, text, len);
}
