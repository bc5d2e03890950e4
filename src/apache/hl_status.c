/* mod_hyperlane's section of /server-status, through mod_status's
 * optional status_hook as mod_ssl and mod_proxy add theirs: a table in the
 * page, "Key: value" lines in ?auto.  Without mod_status the hook is
 * never called and nothing else changes. */
#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "mod_status.h"

#include "hl_apache.h"

int hl_status_hook(request_rec *r, int flags)
{
    hl_metrics_view v;
    apr_array_header_t *lines;
    int i;

    if (!HL_RT(r))
        return OK;
    hl_metrics_view_of(r, &v);
    lines = hl_metrics_status_lines(r->pool, &v);
    if (flags & AP_STATUS_SHORT) {
        for (i = 0; i < lines->nelts; i++) {
            const hl_status_line *l = &APR_ARRAY_IDX(lines, i, hl_status_line);
            ap_rvputs(r, l->key, ": ", l->value, "\n", NULL);
        }
        return OK;
    }
    ap_rputs("<hr />\n<h2><a name=\"hyperlane\">mod_hyperlane</a></h2>\n"
             "<table border=\"0\">\n", r);
    for (i = 0; i < lines->nelts; i++) {
        const hl_status_line *l = &APR_ARRAY_IDX(lines, i, hl_status_line);
        ap_rvputs(r, "<tr><th align=\"left\">", ap_escape_html(r->pool, l->label),
                  "</th><td>", ap_escape_html(r->pool, l->value),
                  "</td></tr>\n", NULL);
    }
    ap_rputs("</table>\n", r);
    return OK;
}
