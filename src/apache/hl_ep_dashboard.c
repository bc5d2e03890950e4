/* The dashboard: one page with its script and style, embedded in the module
 * at build time (hl_dashboard_files.c), so that the page always matches
 * the endpoints it reads.  The page only reads: it polls the JSON
 * endpoints and metrics from the browser, with URLs relative to itself. */
#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "http_request.h"

#include <apr_strings.h>

#include "hl_apache.h"

/* Nothing but the module's own script and style, and requests to its own
 * origin: no inline script or style, no eval, no framing. */
#define HL_DASHBOARD_CSP "default-src 'none'; script-src 'self'; " \
    "style-src 'self'; connect-src 'self'; img-src 'self'; " \
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static int send_dashboard_file(request_rec *r, const char *name)
{
    const hl_dashboard_file *f;
    const char *inm, *listed;
    int rc;

    for (f = hl_dashboard_files; f->name; f++)
        if (strcmp(f->name, name) == 0)
            break;
    if (!f->name)
        return hl_send_error(r, HTTP_NOT_FOUND,
                             apr_psprintf(r->pool, "No endpoint at %s", r->uri));
    apr_table_setn(r->headers_out, "Content-Security-Policy", HL_DASHBOARD_CSP);
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    apr_table_setn(r->headers_out, "Referrer-Policy", "no-referrer");
    /* Revalidated at every load: after an upgrade of the module the
     * browser gets the new page, otherwise a 304. */
    apr_table_setn(r->headers_out, "Cache-Control", "no-cache");
    apr_table_setn(r->headers_out, "ETag", f->etag);
    ap_set_content_type(r, f->type);
    if ((rc = ap_meets_conditions(r)) == HTTP_NOT_MODIFIED)
        return rc;
    /* A browser echoes the tag mod_deflate gave the compressed page
     * ("X-gzip" under Debian's deflate.conf), which Apache's own
     * comparison does not take for ours.  The 304 carries that tag, as
     * the compressed 200 did (the filter does not run on a 304), and
     * says that the tag depends on Accept-Encoding. */
    if (rc == OK && r->method_number == M_GET
        && (inm = apr_table_get(r->headers_in, "If-None-Match")) != NULL
        && (listed = hl_etag_list_names(r->pool, inm, f->etag)) != NULL) {
        apr_table_setn(r->headers_out, "ETag", listed);
        apr_table_mergen(r->headers_out, "Vary", "Accept-Encoding");
        return HTTP_NOT_MODIFIED;
    }
    if (rc != OK) {
        apr_table_unset(r->headers_out, "ETag");
        return hl_send_error(r, rc, "The request's conditions (If-Match, "
                             "If-Unmodified-Since) do not hold");
    }
    ap_set_content_length(r, (apr_off_t)f->len);
    if (!r->header_only)
        ap_rwrite(f->bytes, (int)f->len, r);
    return OK;
}

int hl_ep_dashboard(request_rec *r, const hl_route *route, const char *mount)
{
    return send_dashboard_file(r, "");
}

/* dashboard/NAME: the page's script and style; "dashboard/" alone is not
 * the page (its relative URLs would not resolve). */
int hl_ep_dashboard_file(request_rec *r, const hl_route *route,
                         const char *mount)
{
    if (!*route->rest)
        return hl_send_error(r, HTTP_NOT_FOUND,
                             apr_psprintf(r->pool, "No endpoint at %s", r->uri));
    return send_dashboard_file(r, route->rest);
}
