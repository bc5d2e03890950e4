/* hl_dispatch: request -> mount -> endpoint.  map_to_storage routes once
 * and keeps the route (core's directory walk then runs, unless
 * HyperlaneSkipDirectoryWalk); the handler refuses cross-site writes and
 * runs the endpoint; the quick handler serves HyperlaneFastPath. */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include <apr_strings.h>

#include "hl_apache.h"

/* The handlers of src/core/hl_endpoints.def, by endpoint. */
static const hl_endpoint_fn handlers[HL_EP_COUNT] = {
#define HL_ENDPOINT(ID, path, rest, methods, flags, handler) \
    [HL_EP_##ID] = handler,
#include "hl_endpoints.def"
};

unsigned hl_method_bit(const request_rec *r)
{
    switch (r->method_number) {
    case M_GET:    return r->header_only ? HL_M_HEAD : HL_M_GET;
    case M_POST:   return HL_M_POST;
    case M_PUT:    return HL_M_PUT;
    case M_DELETE: return HL_M_DELETE;
    default:       return HL_M_OTHER;
    }
}

void hl_drop_ranges(request_rec *r)
{
    apr_table_unset(r->headers_in, "Range");
    apr_table_unset(r->headers_in, "Request-Range");  /* httpd reads it too */
}

/* Runs a routed endpoint.  A body that comes with a request the endpoint
 * does not read is dropped first (hl_drop_body). */
static int hl_run_endpoint(request_rec *r, const hl_route *route,
                        const char *mount)
{
    unsigned m = hl_method_bit(r);
    /* A range of a write's answer is not a thing (RFC 9110 14.2), and
     * httpd's byterange filter would cut it whatever the method; nor of an
     * answer whose bytes change (HL_RF_RANGES). */
    if ((m != HL_M_GET && m != HL_M_HEAD) || !(route->flags & HL_RF_RANGES))
        hl_drop_ranges(r);
    if (!(route->flags & HL_RF_READS_BODY) || (m != HL_M_POST && m != HL_M_PUT)) {
        int rc = hl_drop_body(r);
        if (rc != OK)
            return rc;
    }
    return handlers[route->endpoint](r, route, mount);
}

/* The path as the client sent it, still percent-encoded: Apache decodes
 * r->uri (and parsed_uri.path) in place, and cache keys are decoded once,
 * by the router, from the raw bytes. */
static const char *raw_path(request_rec *r)
{
    const char *u = r->unparsed_uri, *q;
    if (!u || *u != '/') {          /* "GET http://host/path?query" */
        const char *scheme = u ? strstr(u, "://") : NULL;
        if (!scheme)
            return NULL;
        u = scheme + 3 + strcspn(scheme + 3, "/?");
        if (*u != '/')
            return NULL;
    }
    q = strchr(u, '?');
    return q ? apr_pstrmemdup(r->pool, u, (apr_size_t)(q - u)) : u;
}

/* Only a raw path that names what r->uri names is answered: Apache decodes
 * it, removes dot segments and merges slashes, and its <Location> sections
 * (with their Require) match that result.  A raw path that normalises to
 * something else ("/hl/cache/x/../../counter/stats", or with %2e for the
 * dots) would let the module answer a request that access control saw as
 * another one (hl_path_in_normal_form). */

/* What a raw path is to r->uri: the same path, not in normal form, or
 * in normal form but another path than r->uri (a server-context rewrite
 * with [PT] changes r->uri in translate_name, after normalisation, and
 * leaves r->unparsed_uri as the client sent it). */
typedef enum { HL_RAW_NAMES_URI, HL_RAW_NOT_NORMAL, HL_RAW_OTHER } hl_raw_is;

static hl_raw_is what_raw_names(request_rec *r, const char *raw)
{
    core_dir_config *d = ap_get_core_module_config(r->per_dir_config);
    char *decoded;
    int rc;

    if (!hl_path_in_normal_form(raw))
        return HL_RAW_NOT_NORMAL;
    if (!strchr(raw, '%'))
        return strcmp(raw, r->uri) == 0 ? HL_RAW_NAMES_URI : HL_RAW_OTHER;
    /* Decoded, it must still be in normal form (%2e%2e is a dot segment to
     * Apache, and an encoded slash that Apache would refuse fails here). */
    decoded = apr_pstrdup(r->pool, raw);
    rc = d->allow_encoded_slashes
         ? ap_unescape_url_keep2f(decoded, d->decode_encoded_slashes)
         : ap_unescape_url(decoded);
    if (rc != OK || !hl_path_in_normal_form(decoded))
        return HL_RAW_NOT_NORMAL;
    /* r->uri is decoded by map_to_storage; in the quick handler it is
     * still the raw path, neither decoded nor normalised. */
    return strcmp(decoded, r->uri) == 0 || strcmp(raw, r->uri) == 0
           ? HL_RAW_NAMES_URI : HL_RAW_OTHER;
}

static int names_what_uri_names(request_rec *r, const char *raw)
{
    return what_raw_names(r, raw) == HL_RAW_NAMES_URI;
}

/* Under AllowEncodedSlashes NoDecode r->uri keeps an encoded slash as
 * "%2F": escaped again it must stay one ("%252F" back to "%2F"), as the
 * raw path has it, not become the three characters of a key. */
static void keep_encoded_slashes(char *s)
{
    char *w = s;
    while (*s) {
        if (s[0] == '%' && s[1] == '2' && s[2] == '5' && s[3] == '2'
            && (s[4] == 'F' || s[4] == 'f')) {
            memcpy(w, "%2F", 3);
            w += 3;
            s += 5;
        }
        else
            *w++ = *s++;
    }
    *w = '\0';
}

/* The path to route, still percent-encoded, or NULL.  A raw path in
 * normal form that names another path than r->uri was rewritten inside
 * the server: <Location> and its Require matched r->uri, so r->uri is
 * routed, escaped again so that the router decodes it once. */
static const char *routable_path(request_rec *r)
{
    const char *raw = raw_path(r);
    core_dir_config *d;
    char *escaped;
    if (!raw)
        return NULL;
    switch (what_raw_names(r, raw)) {
    case HL_RAW_NAMES_URI:
        return raw;
    case HL_RAW_OTHER:
        if (*r->uri != '/' || !hl_path_in_normal_form(r->uri))
            return NULL;
        escaped = ap_escape_uri(r->pool, r->uri);
        d = ap_get_core_module_config(r->per_dir_config);
        if (d->allow_encoded_slashes && !d->decode_encoded_slashes)
            keep_encoded_slashes(escaped);
        return escaped;
    default:
        return NULL;
    }
}

static hl_routed *route_request(request_rec *r, const char *path,
                                 const char *section)
{
    hl_routed *rt = apr_palloc(r->pool, sizeof(*rt));
    rt->answering = 0;
    if (hl_router_resolve(path, hl_mounts_of(r->server), section,
                          hl_method_bit(r), &rt->mount,
                          &rt->route) != APR_SUCCESS)
        return NULL;
    return rt;
}

/* A refusal before the body is read.  Left unread, Apache would wait
 * for the body after the answer, and answer 408 over it if it never
 * came.  A small body (HL_BODY_SMALL) is read and dropped first, so the
 * connection stays open and a body that stops coming is 408 JSON; with
 * a larger or chunked one the connection closes instead of reading it. */
static int refuse(request_rec *r, int status, const char *why)
{
    if (hl_body_announced(r)) {
        if (hl_body_small(r)) {
            int rc = hl_drop_body(r);
            if (rc != OK)
                return rc;
        }
        else
            r->connection->keepalive = AP_CONN_CLOSE;
    }
    return hl_send_error(r, status, why);
}

int hl_handler(request_rec *r)
{
    core_dir_config *core;
    hl_routed *rt;
    const char *refused;
    int status;

    if (!r->handler || strcmp(r->handler, HL_HANDLER) != 0)
        return DECLINED;
    if (!HL_RT(r))
        return hl_send_error(r, HTTP_SERVICE_UNAVAILABLE,
                          "mod_hyperlane has no shared store");
    rt = ap_get_module_config(r->request_config, &hyperlane_module);
    if (!rt) {
        /* No mount prefixes the path (a <LocationMatch>, say): the
         * innermost section's path stands in for the mount. */
        const char *path = routable_path(r);
        if (!path)
            return hl_send_error(r, HTTP_BAD_REQUEST, "The path is not in normal "
                              "form (dot segments or doubled slashes)");
        core = ap_get_core_module_config(r->per_dir_config);
        rt = route_request(r, path, core->r ? NULL : core->d);
        if (rt)
            ap_set_module_config(r->request_config, &hyperlane_module, rt);
    }
    if (!rt)
        return refuse(r, HTTP_NOT_FOUND,
                      "mod_hyperlane must be mounted with a plain <Location>");
    rt->answering = 1;
    if (rt->route.status == HL_ROUTE_NOT_FOUND)
        return refuse(r, HTTP_NOT_FOUND,
                      apr_psprintf(r->pool, "No endpoint at %s", r->uri));
    /* Before the route's own methods, so that its Allow says POST. */
    if (rt->route.endpoint == HL_EP_COUNTER_INCREMENT
        && hl_server_conf_of(r->server)->increment_post_only == 1
        && r->method_number != M_POST) {
        apr_table_setn(r->headers_out, "Allow", "POST");
        return refuse(r, HTTP_METHOD_NOT_ALLOWED, "counter/increment takes "
                      "POST only here (HyperlaneIncrementPostOnly)");
    }
    if (rt->route.status == HL_ROUTE_BAD_METHOD) {
        apr_table_set(r->headers_out, "Allow", rt->route.allow);
        return refuse(r, HTTP_METHOD_NOT_ALLOWED,
                      apr_psprintf(r->pool, "Method %s not allowed here; "
                                   "allowed: %s", r->method, rt->route.allow));
    }
    if ((refused = hl_cross_site(r, &rt->route, &status)) != NULL)
        return refuse(r, status, refused);
    return hl_run_endpoint(r, &rt->route, rt->mount);
}

/* A request below a mount keeps its route for the handler.  Core then
 * walks the directories its URL maps to, as for server-status, so that
 * <Directory> and .htaccess access control applies below a mount too;
 * HyperlaneSkipDirectoryWalk On skips that walk and the file mapping (a
 * mount names no file), and with them that access control. */
int hl_map_to_storage(request_rec *r)
{
    apr_array_header_t *mounts = hl_mounts_of(r->server);
    const char *path;
    hl_routed *rt;
    if (!mounts || !mounts->nelts || !(path = routable_path(r))
        || !(rt = route_request(r, path, NULL))
        || rt->route.status == HL_ROUTE_NOT_FOUND)
        return DECLINED;
    ap_set_module_config(r->request_config, &hyperlane_module, rt);
    return hl_server_conf_of(r->server)->skip_walk == 1 ? OK : DECLINED;
}

/* HyperlaneFastPath: the read-only endpoints (HL_RF_READ_ONLY) below the
 * given prefixes are answered here, before Apache's per-directory
 * configuration, access control and handler phases run (as mod_cache's
 * CacheQuickHandler does).  Opt-in, because it bypasses Require. */
int hl_quick_handler(request_rec *r, int lookup_uri)
{
    hl_host *host;
    unsigned method = hl_method_bit(r);
    const char *mount, *path;
    hl_route route;
    hl_routed *kept;

    if (lookup_uri || !(host = hl_host_of(r->server)) || !host->fast_paths->nelts
        || (method != HL_M_GET && method != HL_M_HEAD))
        return DECLINED;
    /* Routed first: every request of the server passes here, and most are
     * below no fast path. */
    if (!(path = raw_path(r))
        || hl_router_resolve(path, host->fast_paths, NULL, method,
                          &mount, &route) != APR_SUCCESS
        || route.status != HL_ROUTE_OK || !(route.flags & HL_RF_READ_ONLY)
        || !names_what_uri_names(r, path))
        return DECLINED;
    kept = apr_palloc(r->pool, sizeof(*kept));
    kept->mount = mount;
    kept->route = route;
    kept->answering = 1;
    ap_set_module_config(r->request_config, &hyperlane_module, kept);
    return hl_run_endpoint(r, &kept->route, mount);
}
