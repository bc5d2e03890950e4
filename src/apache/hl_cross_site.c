/* hl_cross_site: state-changing requests from another site's page are
 * refused (README, Security). */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include <apr_network_io.h>
#include <apr_strings.h>

#include "hl_apache.h"

/* Cross-site requests that would change state or start real work are
 * refused: a page in a browser that Require lets in (Require local, an
 * office's addresses) must not be able to drive the module.  Fetch
 * Metadata decides where the browser sends it; else an Origin must name
 * the request's own host and port, or one of HyperlaneTrustedOrigin.
 * Requests with neither header (curl, servers) are not from a page. */
int hl_guarded(request_rec *r, const hl_route *route)
{
    unsigned m = hl_method_bit(r);
    return (m != HL_M_GET && m != HL_M_HEAD) || (route->flags & HL_RF_GUARD_GET);
}

static int origin_is_trusted(request_rec *r, const char *origin)
{
    const apr_array_header_t *trusted = hl_server_conf_of(r->server)->trusted_origins;
    const char *host_header = apr_table_get(r->headers_in, "Host");
    char *key = (char *)hl_origin_key(r->pool, origin), *host, *scope, *own;
    apr_port_t port = 0;
    int i;

    if (!key)
        return 0;
    ap_str_tolower(key);
    for (i = 0; trusted && i < trusted->nelts; i++)
        if (strcmp(key, APR_ARRAY_IDX(trusted, i, const char *)) == 0)
            return 1;
    /* Its own host: the Host header's name and port, whatever the scheme
     * (a proxy in front may end TLS). */
    if (!host_header || apr_parse_addr_port(&host, &scope, &port, host_header,
                                            r->pool) != APR_SUCCESS || !host)
        return 0;
    own = apr_psprintf(r->pool, "%s:%u", host, port ? port : ap_default_port(r));
    ap_str_tolower(own);
    key = strstr(key, "://");
    return key && strcmp(key + 3, own) == 0;
}

const char *hl_cross_site(request_rec *r)
{
    const char *site = apr_table_get(r->headers_in, "Sec-Fetch-Site");
    const char *origin = apr_table_get(r->headers_in, "Origin");
    if (site && (strcasecmp(site, "same-origin") == 0
                 || strcasecmp(site, "none") == 0))
        return NULL;
    if (origin && origin_is_trusted(r, origin))
        return NULL;
    if (site)
        return apr_psprintf(r->pool, "Cross-site request refused "
                            "(Sec-Fetch-Site: %s)", site);
    return origin ? apr_psprintf(r->pool, "Cross-site request refused "
                                 "(Origin %s is not this server's)", origin)
                  : NULL;
}
