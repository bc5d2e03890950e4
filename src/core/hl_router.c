/* hl_router: the route table and the path arithmetic around the mount. */
#include "hl_router.h"

#include <apr_strings.h>
#include <string.h>

static const hl_route_def routes[] = {
#define HL_ENDPOINT(ID, path, rest, methods, flags, handler) \
    { path, sizeof(path) - 1, sizeof(rest) > 1, rest, methods, flags, HL_EP_##ID },
#include "hl_endpoints.def"
    { NULL, 0, 0, NULL, 0, 0, HL_EP_NONE }
};

const hl_route_def *hl_router_table(void)
{
    return routes;
}

/* By the first letter, then one comparison: a request asks this several
 * times, and a PUT went through four strcmp each time. */
unsigned hl_router_method_bit(const char *method)
{
    const char *name;
    unsigned bit;
    switch (method[0]) {
    case 'G': name = "GET"; bit = HL_M_GET; break;
    case 'H': name = "HEAD"; bit = HL_M_HEAD; break;
    case 'P':
        if (method[1] == 'O') {
            name = "POST";
            bit = HL_M_POST;
        }
        else {
            name = "PUT";
            bit = HL_M_PUT;
        }
        break;
    case 'D': name = "DELETE"; bit = HL_M_DELETE; break;
    default: return HL_M_OTHER;
    }
    return strcmp(method, name) == 0 ? bit : HL_M_OTHER;
}

/* The methods a row takes, as an Allow header lists them. */
static void allow_header(const hl_route_def *d, char *out)
{
    static const struct { unsigned bit; const char *name; } order[] = {
        { HL_M_GET, "GET" }, { HL_M_HEAD, "HEAD" }, { HL_M_POST, "POST" },
        { HL_M_PUT, "PUT" }, { HL_M_DELETE, "DELETE" }
    };
    unsigned methods = d->methods;
    char *p = out;
    apr_size_t i;
    if ((methods & HL_M_GET) && !(d->flags & HL_RF_NO_HEAD))
        methods |= HL_M_HEAD;
    *p = '\0';
    for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if (!(methods & order[i].bit))
            continue;
        p = apr_cpystrn(p, p == out ? "" : ", ", 3);
        p = apr_cpystrn(p, order[i].name, HL_ALLOW_MAX - (apr_size_t)(p - out));
    }
}

/* Each row a comparison of its own, generated from the table: with the
 * lengths and texts constant, the compiler switches on the length and
 * compares a few words for each row of that length, where a loop over
 * the rows paid for every row before the one that matched. */
static APR_INLINE int row_length_fits(apr_size_t len, apr_size_t row_len,
                                      int is_prefix)
{
    return is_prefix ? len >= row_len : len == row_len;
}

static const hl_route_def *route_of(const char *rel, apr_size_t len)
{
#define HL_ENDPOINT(ID, path, rest, methods, flags, handler)              \
    if (row_length_fits(len, sizeof(path) - 1, sizeof(rest) > 1)          \
        && memcmp(rel, path, sizeof(path) - 1) == 0)                      \
        return &routes[HL_EP_##ID - 1];
#include "hl_endpoints.def"
    return NULL;
}

apr_status_t hl_router_match(const char *rel, unsigned method, hl_route *out)
{
    const hl_route_def *d = route_of(rel, strlen(rel));
    unsigned effective;

    memset(out, 0, sizeof(*out));
    if (!d) {
        out->status = HL_ROUTE_NOT_FOUND;
        return APR_SUCCESS;
    }
    effective = method == HL_M_HEAD && !(d->flags & HL_RF_NO_HEAD)
                ? HL_M_GET : method;
    out->endpoint = d->endpoint;
    out->flags = d->flags;
    out->name = d->path;
    out->rest = d->is_prefix ? rel + d->len : "";
    if (!(d->methods & effective)) {
        out->status = HL_ROUTE_BAD_METHOD;
        allow_header(d, out->allow);
        return APR_SUCCESS;
    }
    out->status = HL_ROUTE_OK;
    return APR_SUCCESS;
}

/* The part of uri below mount, or NULL when mount is not a path prefix. */
static const char *below(const char *uri, const char *mount, apr_size_t mlen)
{
    if (strncmp(uri, mount, mlen) != 0)
        return NULL;
    if (mlen > 0 && mount[mlen - 1] == '/')
        return uri + mlen;
    if (uri[mlen] == '\0')
        return uri + mlen;
    if (uri[mlen] == '/')
        return uri + mlen + 1;
    return NULL;
}

apr_status_t hl_router_resolve(const char *uri,
                               const apr_array_header_t *mounts,
                               const char *section, unsigned method,
                               const char **mount, hl_route *out)
{
    const char *best = NULL, *rel = NULL;
    apr_size_t best_len = 0;
    int i;

    for (i = 0; mounts && i < mounts->nelts; i++) {
        const char *m = APR_ARRAY_IDX(mounts, i, const char *);
        apr_size_t len = strlen(m);
        const char *r = below(uri, m, len);
        if (r && (!best || len > best_len)) {
            best = m;
            best_len = len;
            rel = r;
        }
    }
    if (!best && section) {
        best = section;
        rel = below(uri, section, strlen(section));
    }
    if (!best || !rel)
        return APR_NOTFOUND;
    *mount = best;
    return hl_router_match(rel, method, out);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int hl_path_in_normal_form(const char *path)
{
    const char *p;
    for (p = path; (p = strchr(p, '/')) != NULL; p++) {
        if (p[1] == '/')
            return 0;
        if (p[1] == '.' && (p[2] == '/' || p[2] == '\0'
                            || (p[2] == '.' && (p[3] == '/' || p[3] == '\0'))))
            return 0;
    }
    return 1;
}

apr_status_t hl_percent_decode(apr_pool_t *p, const char *in, apr_size_t len,
                               char **out, apr_size_t *out_len)
{
    char *buf = apr_palloc(p, len + 1);
    apr_size_t i, n = 0;

    for (i = 0; i < len; i++) {
        if (in[i] == '%') {
            int hi, lo;
            if (i + 2 >= len)
                return APR_EINVAL;
            hi = hex_value(in[i + 1]);
            lo = hex_value(in[i + 2]);
            if (hi < 0 || lo < 0)
                return APR_EINVAL;
            buf[n++] = (char)(hi * 16 + lo);
            i += 2;
        }
        else {
            buf[n++] = in[i];
        }
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return APR_SUCCESS;
}
