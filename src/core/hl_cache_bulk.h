/* hl_cache_bulk: the bodies of the bulk requests, parsed with json-c,
 * bounded and checked field by field before anything is stored:
 *
 *   cache-bulk/get  {"keys": ["k1", "k2", ...]}
 *   cache-bulk/set  {"ttl": 60,                        (optional default)
 *                    "items": [{"key": "k1", "value": "v1",
 *                               "ttl": 30,             (optional)
 *                               "if_match": "\"17\"",  (optional)
 *                               "if_none_match": "*"}, (optional)
 *                              ...]}
 *
 * Keys and values are JSON strings (UTF-8; \u0000 and the like may be in
 * them); binary values use the single-key endpoints.  A condition is an
 * entity-tag list as the headers take it ("*", "\"17\", \"18\"") or a
 * version as a JSON integer.  Unknown members, wrong types, an empty or
 * too long list, a key or value out of bounds, nesting deeper than the
 * shape above: all are errors, and nothing of the request is used.
 * Fuzzed by fuzz/fuzz_cache_bulk.c. */
#ifndef HL_CACHE_BULK_H
#define HL_CACHE_BULK_H

#include <apr.h>
#include <apr_errno.h>
#include <apr_pools.h>

#include "hl_store.h"

typedef struct hl_bulk_item {
    const char  *key;          /* copies in the pool, NUL-terminated */
    apr_size_t   klen;
    const char  *value;        /* set: the value; get: NULL */
    apr_size_t   vlen;
    apr_int64_t  ttl;          /* seconds: the item's, else the body's,
                                * else the caller's default */
    int          has_ttl;
    int          has_cond;
    hl_cache_cond cond;
} hl_bulk_item;

typedef struct hl_bulk_request {
    hl_bulk_item *items;
    int           n;
} hl_bulk_request;

typedef struct hl_bulk_bounds {
    apr_size_t  max_key;       /* HyperlaneCacheMaxKey */
    apr_size_t  max_value;     /* HyperlaneCacheMaxValue */
    apr_int64_t max_ttl;       /* HyperlaneCacheMaxTTL */
    int         max_items;     /* HyperlaneCacheBulkMaxKeys */
} hl_bulk_bounds;

/* What happened to one item, for the answer. */
typedef struct hl_bulk_result {
    int          status;       /* 200, 201, 404, 412, 413, ... as alone */
    const char  *error;        /* the reason when it failed, else NULL */
    const char  *value;        /* get: the value */
    apr_size_t   vlen;
    apr_uint64_t version;      /* the entry's version (0: none) */
    apr_time_t   expires;      /* 0: never */
    int          unknown;      /* set: whether it was stored is not known
                                * (the store failed while it ran) */
} hl_bulk_result;

/* JSON nested deeper than this is refused while it is parsed. */
#define HL_BULK_MAX_DEPTH 4
/* The values a body may hold (hl_json_lex_values): so many an item, and
 * a few for the object around the list. */
#define HL_BULK_VALUES_PER_ITEM 8
#define HL_BULK_VALUES_SPARE    16

/* Parses body[0..len) as a get (is_set 0) or set body.  APR_EINVAL and
 * *error (in p) for anything that is not exactly the shape above. */
apr_status_t hl_bulk_parse(apr_pool_t *p, const char *body, apr_size_t len,
                           int is_set, const hl_bulk_bounds *b,
                           hl_bulk_request *out, const char **error);

#endif
