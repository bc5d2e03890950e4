/* hl_cache_query: the cache API's query parameters and entity-tag lists
 * (hl_cache_query.h). */
#include "hl_cache_query.h"
#include "hl_jsonw.h"
#include "hl_router.h"

#include <apr_strings.h>
#include <string.h>

int hl_parse_decimal(const char *s, apr_size_t len, int signed_ok,
                     apr_int64_t *out)
{
    if (!signed_ok && len > 0 && s[0] == '-')
        return 0;
    return hl_cache_parse_int(s, len, out);
}

/* One number parameter: given once, decimal, within [lo, hi]. */
static apr_status_t number_param(apr_pool_t *p, const char *name,
                                 const char *v, apr_size_t len, apr_int64_t lo,
                                 apr_int64_t hi, int *has, apr_int64_t *out,
                                 const char **error)
{
    if (*has) {
        *error = apr_psprintf(p, "%s given twice", name);
        return APR_EINVAL;
    }
    if (!hl_parse_decimal(v, len, lo < 0, out) || *out < lo || *out > hi) {
        *error = apr_psprintf(p, "%s must be an integer from %" APR_INT64_T_FMT
                              " to %" APR_INT64_T_FMT, name, lo, hi);
        return APR_EINVAL;
    }
    *has = 1;
    return APR_SUCCESS;
}

static apr_status_t text_param(apr_pool_t *p, const char *name, const char *v,
                               apr_size_t len, apr_size_t max,
                               const char **out, apr_size_t *out_len,
                               const char **error)
{
    char *decoded;
    if (*out) {
        *error = apr_psprintf(p, "%s given twice", name);
        return APR_EINVAL;
    }
    if (hl_percent_decode(p, v, len, &decoded, out_len) != APR_SUCCESS) {
        *error = apr_psprintf(p, "invalid percent-encoding in %s", name);
        return APR_EINVAL;
    }
    if (*out_len > max) {
        *error = apr_psprintf(p, "%s longer than %" APR_SIZE_T_FMT " bytes",
                              name, max);
        return APR_EINVAL;
    }
    *out = decoded;
    return APR_SUCCESS;
}

static int is(const char *name, apr_size_t nlen, const char *want)
{
    return nlen == strlen(want) && memcmp(name, want, nlen) == 0;
}

/* Cursors are the store's own text; this bounds what is read of one. */
#define CURSOR_MAX 16384

apr_status_t hl_cache_query_parse(apr_pool_t *p, const char *args,
                                  const hl_cache_query_bounds *b,
                                  hl_cache_query *q, const char **error)
{
    const char *s = args;
    apr_size_t clen = 0;
    int has_raw = 0, has_prefix = 0;

    memset(q, 0, sizeof(*q));
    while (s && *s) {
        const char *end = strchr(s, '&'), *eq, *v;
        apr_size_t len = end ? (apr_size_t)(end - s) : strlen(s), nlen, vlen;
        apr_int64_t raw = 0;
        apr_status_t rv = APR_SUCCESS;

        eq = memchr(s, '=', len);
        nlen = eq ? (apr_size_t)(eq - s) : len;
        v = eq ? eq + 1 : s + len;
        vlen = eq ? len - nlen - 1 : 0;
        if (is(s, nlen, "raw")) {
            rv = number_param(p, "raw", v, vlen, 0, 1, &has_raw, &raw, error);
            if (rv != APR_SUCCESS)
                *error = has_raw ? "raw given twice" : "raw must be 0 or 1";
            q->raw = (int)raw;
        }
        else if (is(s, nlen, "ttl"))
            rv = number_param(p, "ttl", v, vlen, 0, b->max_ttl, &q->has_ttl,
                              &q->ttl, error);
        else if (is(s, nlen, "by"))
            rv = number_param(p, "by", v, vlen, APR_INT64_MIN, APR_INT64_MAX,
                              &q->has_by, &q->by, error);
        else if (is(s, nlen, "init"))
            rv = number_param(p, "init", v, vlen, APR_INT64_MIN, APR_INT64_MAX,
                              &q->has_init, &q->init, error);
        else if (is(s, nlen, "limit"))
            rv = number_param(p, "limit", v, vlen, 1, b->max_limit,
                              &q->has_limit, &q->limit, error);
        else if (is(s, nlen, "prefix")) {
            rv = text_param(p, "prefix", v, vlen, b->max_prefix, &q->prefix,
                            &q->plen, error);
            has_prefix = 1;
        }
        else if (is(s, nlen, "cursor"))
            rv = text_param(p, "cursor", v, vlen, CURSOR_MAX, &q->cursor,
                            &clen, error);
        if (rv != APR_SUCCESS)
            return rv;
        s = end ? end + 1 : NULL;
    }
    q->listing = has_prefix || q->has_limit || q->cursor != NULL;
    return APR_SUCCESS;
}

/* ---- entity-tags ---------------------------------------------------------- */

static const char *skip_ows(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* etagc: %x21 / %x23-7E / obs-text (0x80-0xFF) */
static int etagc(unsigned char ch)
{
    return ch == 0x21 || (ch >= 0x23 && ch != 0x7f);
}

/* The end of a tag's opaque part without the suffix a compressing filter
 * gives the tag of what it compressed (mod_deflate's DeflateAlterETag
 * AddSuffix, its default: "N-gzip"; mod_brotli's "N-br"): a client that
 * echoes the tag it got names the same version. */
static const char *without_coding(const char *open, const char *close)
{
    static const char *const suffixes[] = { "-gzip", "-br" };
    apr_size_t i, n;
    for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        n = strlen(suffixes[i]);
        if ((apr_size_t)(close - open) > n && memcmp(close - n, suffixes[i], n) == 0)
            return close - n;
    }
    return close;
}

/* One tag of a list: its opaque part [open, close) without a coding
 * suffix, and whether it is weak; APR_SUCCESS to go on. */
typedef apr_status_t (*etag_fn)(void *ctx, const char *open,
                                const char *close, int is_weak,
                                const char **error);

/* Walks an If-Match / If-None-Match value: "*" sets *any; else fn for
 * each entity-tag.  APR_EINVAL and *error for a value that is neither. */
static apr_status_t etag_list_walk(const char *value, int *any, etag_fn fn,
                                   void *ctx, const char **error)
{
    const char *s = skip_ows(value);

    *any = 0;
    if (*s == '*' && *skip_ows(s + 1) == '\0') {
        *any = 1;
        return APR_SUCCESS;
    }
    for (;;) {
        const char *open, *close;
        apr_status_t rv;
        int is_weak = 0;

        s = skip_ows(s);
        if (*s == ',') {            /* empty elements are allowed */
            s++;
            continue;
        }
        if (*s == '\0')
            break;
        if (s[0] == 'W' && s[1] == '/') {
            is_weak = 1;
            s += 2;
        }
        if (*s != '"') {
            *error = "If-Match and If-None-Match take \"*\" or entity-tags";
            return APR_EINVAL;
        }
        open = ++s;
        while (etagc((unsigned char)*s))
            s++;
        if (*s != '"') {
            *error = "An entity-tag is not closed";
            return APR_EINVAL;
        }
        close = s++;
        s = skip_ows(s);
        if (*s != ',' && *s != '\0') {
            *error = "Entity-tags are separated by commas";
            return APR_EINVAL;
        }
        rv = fn(ctx, open, without_coding(open, close), is_weak, error);
        if (rv != APR_SUCCESS)
            return rv;
    }
    return APR_SUCCESS;
}

typedef struct versions_ctx {
    int weak;
    apr_uint64_t *list;
    int *n;
} versions_ctx;

static apr_status_t add_version(void *ctx, const char *open, const char *close,
                                int is_weak, const char **error)
{
    versions_ctx *c = ctx;
    apr_int64_t v;
    /* Ours are the versions in decimal, no leading zero. */
    if ((c->weak || !is_weak) && close > open && *open != '0'
        && hl_parse_decimal(open, (apr_size_t)(close - open), 0, &v)) {
        if (*c->n == HL_COND_TAGS_MAX) {
            *error = "Too many entity-tags";
            return APR_EINVAL;
        }
        c->list[(*c->n)++] = (apr_uint64_t)v;
    }
    return APR_SUCCESS;
}

apr_status_t hl_etag_list_parse(const char *value, int weak,
                                hl_cond_kind *kind, apr_uint64_t *list,
                                int *n, const char **error)
{
    versions_ctx c = { weak, list, n };
    int any;
    apr_status_t rv;
    *n = 0;
    rv = etag_list_walk(value, &any, add_version, &c, error);
    *kind = any ? HL_COND_ANY : HL_COND_LIST;
    return rv;
}

typedef struct names_ctx {
    const char *opaque;
    apr_size_t len;
    const char *found;          /* the opaque part as the list has it */
} names_ctx;

static apr_status_t match_opaque(void *ctx, const char *open, const char *close,
                                 int is_weak, const char **error)
{
    names_ctx *c = ctx;
    (void)is_weak;
    (void)error;
    if (!c->found && (apr_size_t)(close - open) == c->len
        && memcmp(open, c->opaque, c->len) == 0)
        c->found = open;
    return APR_SUCCESS;
}

const char *hl_etag_list_names(apr_pool_t *p, const char *value,
                               const char *etag)
{
    names_ctx c = { NULL, 0, NULL };
    const char *error;
    int any;
    apr_size_t len = strlen(etag);
    if (len < 2 || etag[0] != '"' || etag[len - 1] != '"')
        return NULL;
    c.opaque = etag + 1;
    c.len = len - 2;
    if (etag_list_walk(value, &any, match_opaque, &c, &error) != APR_SUCCESS
        || any || !c.found)
        return NULL;
    /* Quotes and all: the walk checked that one closes it. */
    return apr_pstrmemdup(p, c.found - 1,
                          (apr_size_t)(strchr(c.found, '"') - c.found) + 2);
}

char *hl_etag_text(char out[HL_ETAG_SIZE], apr_uint64_t version)
{
    char digits[HL_JSONW_SPAN_NUMBER];
    apr_size_t n = (apr_size_t)(hl_jsonw_span_u64(digits, version) - digits);
    out[0] = '"';
    memcpy(out + 1, digits, n);         /* at most 20 digits */
    out[n + 1] = '"';
    out[n + 2] = '\0';
    return out;
}

const char *hl_etag_of(apr_pool_t *p, apr_uint64_t version)
{
    return hl_etag_text(apr_palloc(p, HL_ETAG_SIZE), version);
}
