/* libFuzzer target: the bulk request bodies (hl_cache_bulk.h).
 *
 * The input's first byte picks a get (even) or a set (odd) body; the rest
 * is the body.  Checked:
 *   - hl_bulk_parse never crashes or leaks (json-c's tree is freed on
 *     every path: LeakSanitizer);
 *   - a refused body has a message and no items;
 *   - an accepted one is within every bound: 1..max_items items, keys of
 *     1..max_key bytes, values (sets only, always present) within
 *     max_value, keys and values valid UTF-8, ttls within 0..max_ttl,
 *     conditions of at most HL_COND_TAGS_MAX versions;
 *   - an accepted get body, written back as JSON with the module's writer
 *     (keys escaped, made valid UTF-8), parses again to the same keys.
 */
#include "hl_cache_bulk.h"
#include "hl_jsonw.h"
#include "hl_utf8.h"

#include <apr_general.h>
#include <apr_strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

static const hl_bulk_bounds bounds = { 16, 64, 1000, 8 };

static void round_trip(apr_pool_t *p, const hl_bulk_request *req)
{
    hl_bulk_request again;
    const char *error = NULL, *text;
    apr_size_t len;
    hl_jsonw w;
    int i;

    hl_jsonw_init(&w, p);
    hl_jsonw_object(&w);
    hl_jsonw_key(&w, "keys");
    hl_jsonw_array(&w);
    for (i = 0; i < req->n; i++)
        hl_jsonw_string(&w, req->items[i].key, req->items[i].klen);
    hl_jsonw_end(&w);
    hl_jsonw_end(&w);
    text = hl_jsonw_text(&w, &len);
    CHECK(hl_bulk_parse(p, text, len, 0, &bounds, &again, &error) == APR_SUCCESS);
    CHECK(again.n == req->n);
    for (i = 0; i < req->n; i++) {
        CHECK(again.items[i].klen == req->items[i].klen);
        CHECK(memcmp(again.items[i].key, req->items[i].key, req->items[i].klen) == 0);
    }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    hl_bulk_request req;
    const char *error = NULL;
    apr_pool_t *p;
    int is_set, i;

    if (size < 1)
        return 0;
    is_set = data[0] & 1;
    apr_pool_create(&p, root);
    if (hl_bulk_parse(p, (const char *)data + 1, size - 1, is_set, &bounds, &req,
                      &error) != APR_SUCCESS) {
        CHECK(error != NULL);
        CHECK(req.n == 0 && req.items == NULL);
        apr_pool_destroy(p);
        return 0;
    }
    CHECK(req.n >= 1 && req.n <= bounds.max_items);
    for (i = 0; i < req.n; i++) {
        const hl_bulk_item *it = &req.items[i];
        CHECK(it->klen >= 1 && it->klen <= bounds.max_key);
        CHECK(it->key[it->klen] == '\0');
        CHECK(hl_utf8_valid(it->key, it->klen));
        CHECK(!it->value || hl_utf8_valid(it->value, it->vlen));
        CHECK(is_set ? it->value != NULL && it->vlen <= bounds.max_value
                     : it->value == NULL && !it->has_ttl && !it->has_cond);
        CHECK(!it->has_ttl || (it->ttl >= 0 && it->ttl <= bounds.max_ttl));
        CHECK(it->cond.n_match >= 0 && it->cond.n_match <= HL_COND_TAGS_MAX);
        CHECK(it->cond.n_none_match >= 0 && it->cond.n_none_match <= HL_COND_TAGS_MAX);
    }
    if (!is_set)
        round_trip(p, &req);
    apr_pool_destroy(p);
    return 0;
}
