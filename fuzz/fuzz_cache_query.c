/* libFuzzer target: the cache API's query strings and entity-tag lists.
 *
 * The input's first line is a query string (r->args), the rest a header
 * value for If-Match and If-None-Match.  Checked:
 *   - hl_cache_query_parse never crashes, and what it accepts is within
 *     its bounds (ttl, limit, prefix length), listing set exactly when a
 *     listing parameter was given; what it refuses has a message;
 *   - hl_etag_list_parse never crashes; an accepted list holds at most
 *     HL_COND_TAGS_MAX versions, none 0; weak comparison keeps at least
 *     what strong keeps; the versions written back as "v1", "v2" parse
 *     to the same list; the condition holds for each listed version.
 */
#include "hl_cache_query.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"


static void check_query(apr_pool_t *p, const char *args)
{
    static const hl_cache_query_bounds b = { 1000, 100, 32 };
    hl_cache_query q;
    const char *error = NULL;
    if (hl_cache_query_parse(p, args, &b, &q, &error) != APR_SUCCESS) {
        CHECK(error != NULL);
        return;
    }
    CHECK(!q.has_ttl || (q.ttl >= 0 && q.ttl <= b.max_ttl));
    CHECK(!q.has_limit || (q.limit >= 1 && q.limit <= b.max_limit));
    CHECK(!q.prefix || q.plen <= b.max_prefix);
    CHECK(q.raw == 0 || q.raw == 1);
    CHECK(q.listing == (q.prefix != NULL || q.has_limit || q.cursor != NULL));
    CHECK(!q.listing || strstr(args, "prefix") || strstr(args, "limit")
          || strstr(args, "cursor"));
}

static void check_etags(apr_pool_t *p, const char *value)
{
    apr_uint64_t strong[HL_COND_TAGS_MAX], weak[HL_COND_TAGS_MAX],
                 again[HL_COND_TAGS_MAX];
    hl_cond_kind ks, kw, ka;
    int ns, nw, na, i;
    const char *error = NULL, *text = "";
    hl_cache_cond c;

    if (hl_etag_list_parse(value, 0, &ks, strong, &ns, &error) != APR_SUCCESS) {
        CHECK(error != NULL);
        return;
    }
    CHECK(ns >= 0 && ns <= HL_COND_TAGS_MAX);
    CHECK(ks == HL_COND_ANY || ks == HL_COND_LIST);
    /* Weak comparison keeps every strong tag, and may refuse only for
     * having too many. */
    if (hl_etag_list_parse(value, 1, &kw, weak, &nw, &error) == APR_SUCCESS) {
        CHECK(kw == ks && nw >= ns);
    }
    else
        CHECK(strcmp(error, "Too many entity-tags") == 0);
    if (ks == HL_COND_ANY)
        return;
    memset(&c, 0, sizeof(c));
    c.if_match = HL_COND_LIST;
    c.n_match = ns;
    for (i = 0; i < ns; i++) {
        CHECK(strong[i] != 0);
        c.match[i] = strong[i];
        text = apr_pstrcat(p, text, i ? ", " : "", hl_etag_of(p, strong[i]), NULL);
    }
    for (i = 0; i < ns; i++)
        CHECK(hl_cache_cond_holds(&c, 1, strong[i]));
    CHECK(!hl_cache_cond_holds(&c, 0, 0));
    CHECK(hl_etag_list_parse(text, 0, &ka, again, &na, &error) == APR_SUCCESS);
    CHECK(ka == HL_COND_LIST && na == ns);
    CHECK(memcmp(again, strong, (size_t)ns * sizeof(*strong)) == 0);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    apr_pool_t *p;
    const char *nl = memchr(data, '\n', size);
    size_t alen = nl ? (size_t)(nl - (const char *)data) : size;
    char *args, *header;

    apr_pool_create(&p, root);
    args = apr_pstrmemdup(p, (const char *)data, alen);
    header = apr_pstrmemdup(p, nl ? nl + 1 : "", nl ? size - alen - 1 : 0);
    /* The server hands NUL-terminated text: what follows a NUL is unseen. */
    check_query(p, args);
    check_etags(p, header);
    apr_pool_destroy(p);
    return 0;
}
