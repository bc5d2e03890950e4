/* hl_cross_site: state-changing requests from another site's page, and
 * any request of a page whose name is not this server's, are refused
 * (README, Security). */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include <apr_network_io.h>
#include <apr_strings.h>
#include <arpa/inet.h>

#include "hl_apache.h"

/* Cross-site requests that would change state or start real work are
 * refused: a page in a browser that Require lets in (Require local, an
 * office's addresses) must not be able to drive the module.  Fetch
 * Metadata decides where the browser sends it; else an Origin must name
 * the request's own host and port, or one of HyperlaneTrustedOrigin.
 * Requests with neither header (curl, servers) are not from a page. */
static int guarded(request_rec *r, const hl_route *route)
{
    unsigned m = hl_method_bit(r);
    return (m != HL_M_GET && m != HL_M_HEAD) || (route->flags & HL_RF_GUARD_GET);
}

/* An IPv4 or IPv6 address (r->hostname has an IPv6 one without its
 * brackets; they are taken off if there). */
static int ip_literal(const char *host)
{
    unsigned char addr[16];
    char inner[64];
    apr_size_t n = strlen(host);
    if (n > 2 && host[0] == '[' && host[n - 1] == ']') {
        host++;
        n -= 2;
    }
    if (n >= sizeof(inner))
        return 0;
    memcpy(inner, host, n);
    inner[n] = '\0';
    return inet_pton(AF_INET, inner, addr) == 1
           || inet_pton(AF_INET6, inner, addr) == 1;
}

/* DNS rebinding: a page of attacker.example whose name its owner points
 * at this server (127.0.0.1, say) is of the same origin as the server to
 * the browser, so Sec-Fetch-Site and Origin let it in; only its Host
 * header tells.  A name of the host (ServerName, ServerAlias, its
 * <VirtualHost> names), an IP address or localhost is taken. */
static int names_this_server(request_rec *r, const char *host)
{
    const server_rec *s = r->server;
    const server_addr_rec *sar;
    int i;

    if (ip_literal(host) || strcasecmp(host, "localhost") == 0
        || (s->server_hostname && strcasecmp(host, s->server_hostname) == 0))
        return 1;
    for (sar = s->addrs; sar; sar = sar->next)
        if (sar->virthost && strcasecmp(host, sar->virthost) == 0)
            return 1;
    for (i = 0; s->names && i < s->names->nelts; i++)
        if (strcasecmp(host, APR_ARRAY_IDX(s->names, i, const char *)) == 0)
            return 1;
    for (i = 0; s->wild_names && i < s->wild_names->nelts; i++)
        if (ap_strcasecmp_match(host, APR_ARRAY_IDX(s->wild_names, i,
                                                    const char *)) == 0)
            return 1;
    return 0;
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

const char *hl_cross_site(request_rec *r, const hl_route *route, int *status)
{
    const char *site = apr_table_get(r->headers_in, "Sec-Fetch-Site");
    const char *origin = apr_table_get(r->headers_in, "Origin");
    if (!site && !origin)
        return NULL;
    if (r->hostname && !names_this_server(r, r->hostname)) {
        *status = HTTP_MISDIRECTED_REQUEST;
        return apr_psprintf(r->pool, "Host %s is not a name of this server "
                            "(ServerName, ServerAlias): a page's requests must "
                            "name it as it is configured", r->hostname);
    }
    *status = HTTP_FORBIDDEN;
    if (!guarded(r, route))
        return NULL;
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
