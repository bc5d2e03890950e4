/* libFuzzer target: request path -> mount, endpoint and cache key.
 *
 * The input is split at '\n' into a URI, up to three mount paths and an
 * optional section path; its first byte picks the method.  Checked:
 *   - hl_router_resolve / hl_router_match never crash and give a sane
 *     route: a known status, an endpoint for every found route, the mount
 *     one of the candidates and a path prefix of the URI, the remainder a
 *     suffix of the URI (the cache key is what follows "cache/", or the
 *     path of another prefix route);
 *   - hl_percent_decode (on the whole raw input, NULs included) agrees with
 *     a reference decoder byte for byte, never grows its input, and
 *     decoding the %XX re-encoding of its output gives the output back;
 *   - the decoded key, as the module puts it into JSON, is valid JSON that
 *     parses back.
 */
#include "hl_json_reply.h"

#include <json-c/json.h>
#include "hl_router.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"


static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The obvious decoder: -1 on a bad escape, else the output length. */
static long ref_decode(const unsigned char *in, size_t len, unsigned char *out)
{
    size_t i, n = 0;
    for (i = 0; i < len; i++) {
        if (in[i] != '%') {
            out[n++] = in[i];
            continue;
        }
        if (len - i < 3 || hexval(in[i + 1]) < 0 || hexval(in[i + 2]) < 0)
            return -1;
        out[n++] = (unsigned char)(hexval(in[i + 1]) * 16 + hexval(in[i + 2]));
        i += 2;
    }
    return (long)n;
}

static void check_decode(apr_pool_t *p, const unsigned char *data, size_t size)
{
    unsigned char *ref = apr_palloc(p, size + 1);
    long rn = ref_decode(data, size, ref);
    char *out = NULL, *enc, *back = NULL;
    apr_size_t out_len = 0, back_len = 0, i;
    apr_status_t rv = hl_percent_decode(p, (const char *)data, size, &out,
                                        &out_len);
    static const char hex[] = "0123456789ABCDEF";

    if (rn < 0) {
        CHECK(rv == APR_EINVAL);
        return;
    }
    CHECK(rv == APR_SUCCESS);
    CHECK(out_len <= size);
    CHECK((long)out_len == rn);
    CHECK(memcmp(out, ref, out_len) == 0);
    CHECK(out[out_len] == '\0');

    /* Every byte as %XX, then back. */
    enc = apr_palloc(p, out_len * 3 + 1);
    for (i = 0; i < out_len; i++) {
        enc[3 * i] = '%';
        enc[3 * i + 1] = hex[(unsigned char)out[i] >> 4];
        enc[3 * i + 2] = hex[(unsigned char)out[i] & 15];
    }
    CHECK(hl_percent_decode(p, enc, out_len * 3, &back, &back_len) == APR_SUCCESS);
    CHECK(back_len == out_len);
    CHECK(memcmp(back, out, out_len) == 0);

    /* The key as the cache endpoints quote it. */
    if (out_len > 0) {
        apr_size_t jlen;
        hl_jsonw w;
        const char *js;
        json_object *parsed;
        hl_jsonw_init(&w, p);
        hl_json_cache_miss(&w, out, out_len);
        js = hl_jsonw_text(&w, &jlen);
        CHECK(js != NULL && strlen(js) == jlen);
        parsed = json_tokener_parse(js);
        CHECK(parsed != NULL);
        json_object_put(parsed);
    }
}

static int is_suffix_of(const char *s, const char *whole)
{
    size_t ls = strlen(s), lw = strlen(whole);
    return ls <= lw && s == whole + (lw - ls);
}

static void check_route(const hl_route *r, const char *rel)
{
    CHECK(r->status == HL_ROUTE_OK || r->status == HL_ROUTE_NOT_FOUND
          || r->status == HL_ROUTE_BAD_METHOD);
    if (r->status == HL_ROUTE_NOT_FOUND)
        return;
    CHECK(r->endpoint > HL_EP_NONE && r->endpoint < HL_EP_COUNT);
    CHECK(r->name != NULL && r->rest != NULL);
    if (r->status == HL_ROUTE_BAD_METHOD)
        CHECK(r->allow[0] != '\0');
    if (r->endpoint == HL_EP_CACHE_KEY) {
        CHECK(strncmp(rel, "cache/", 6) == 0);
        CHECK(r->rest == rel + 6);
    }
    else if (*r->name && r->name[strlen(r->name) - 1] == '/') {
        /* The other prefix routes (cache-ttl/, cache-add/): the key is
         * what follows the route's path. */
        CHECK(strncmp(rel, r->name, strlen(r->name)) == 0);
        CHECK(r->rest == rel + strlen(r->name));
    }
    else {
        CHECK(strcmp(rel, r->name) == 0);
        CHECK(r->rest[0] == '\0');
    }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static const char *methods[] = { "GET", "HEAD", "POST", "PUT", "DELETE",
                                     "PATCH" };
    apr_pool_t *p;
    apr_array_header_t *mounts;
    char *text, *parts[5], *cur, *uri, *section = NULL;
    const char *mount = NULL;
    unsigned method;
    hl_route r;
    apr_status_t rv;
    int nparts = 0, i;

    if (size < 1)
        return 0;
    apr_pool_create(&p, root);
    check_decode(p, data + 1, size - 1);

    method = hl_router_method_bit(methods[data[0] % 6]);
    text = apr_pstrmemdup(p, (const char *)data + 1, size - 1);
    for (cur = text; nparts < 5; ) {
        char *nl = strchr(cur, '\n');
        parts[nparts++] = cur;
        if (!nl)
            break;
        *nl = '\0';
        cur = nl + 1;
    }
    uri = parts[0];

    /* The whole URI as a path below the mount. */
    CHECK(hl_router_match(uri, method, &r) == APR_SUCCESS);
    check_route(&r, uri);

    mounts = apr_array_make(p, 4, sizeof(const char *));
    for (i = 1; i < nparts && i < 4; i++)
        APR_ARRAY_PUSH(mounts, const char *) = parts[i];
    if (nparts == 5 || (data[0] & 0x80))
        section = nparts == 5 ? parts[4] : "/hl";

    memset(&r, 0, sizeof(r));
    rv = hl_router_resolve(uri, (data[0] & 0x40) ? NULL : mounts, section,
                           method, &mount, &r);
    if (rv == APR_SUCCESS) {
        const char *rel;
        int known = section && mount == section;
        size_t mlen;
        for (i = 0; i < mounts->nelts && !(data[0] & 0x40); i++)
            known |= APR_ARRAY_IDX(mounts, i, const char *) == mount;
        CHECK(known);
        mlen = strlen(mount);
        CHECK(strncmp(uri, mount, mlen) == 0);
        rel = uri + mlen;
        if (*rel == '/' && (mlen == 0 || mount[mlen - 1] != '/'))
            rel++;
        CHECK(is_suffix_of(rel, uri));
        check_route(&r, rel);
    }
    else {
        CHECK(rv == APR_NOTFOUND);
    }
    apr_pool_destroy(p);
    return 0;
}
