/* hl_cache_query: what the cache API reads from a request besides its key
 * and body: the query string's parameters and the entity-tag lists of
 * If-Match and If-None-Match (RFC 9110, 13.1).  Text in, checked values
 * or a message for a 400 out; fuzzed by fuzz/fuzz_cache_query.c. */
#ifndef HL_CACHE_QUERY_H
#define HL_CACHE_QUERY_H

#include <apr.h>
#include <apr_errno.h>
#include <apr_pools.h>

#include "hl_store.h"

/* What the query may ask for.  Unknown parameters are ignored, as they
 * were before there were any but raw; a known one given twice, empty, or
 * out of its bounds is an error. */
typedef struct hl_cache_query {
    int          raw;              /* raw=0|1 */
    int          has_ttl;          /* ttl=SECONDS, 0..max_ttl (0: never) */
    apr_int64_t  ttl;
    int          has_by;           /* by=N, a signed 64-bit integer */
    apr_int64_t  by;
    int          has_init;         /* init=N, the same */
    apr_int64_t  init;
    int          listing;          /* prefix, limit or cursor was given */
    const char  *prefix;           /* percent-decoded; may hold any byte */
    apr_size_t   plen;
    int          has_limit;        /* limit=N, 1..max_limit */
    apr_int64_t  limit;
    const char  *cursor;           /* as given, checked by the store */
} hl_cache_query;

typedef struct hl_cache_query_bounds {
    apr_int64_t max_ttl;           /* HyperlaneCacheMaxTTL */
    apr_int64_t max_limit;         /* HyperlaneCacheListMax */
    apr_size_t  max_prefix;        /* HyperlaneCacheMaxKey */
} hl_cache_query_bounds;

/* Reads args (r->args: may be NULL) into q.  APR_EINVAL and *error (in
 * p) for a bad parameter. */
apr_status_t hl_cache_query_parse(apr_pool_t *p, const char *args,
                                  const hl_cache_query_bounds *b,
                                  hl_cache_query *q, const char **error);

/* Reads an If-Match (weak = 0: strong comparison, weak tags never match)
 * or If-None-Match (weak = 1: weak comparison) field value into *kind and
 * list[0..*n): "*" is HL_COND_ANY; a list of entity-tags is HL_COND_LIST
 * with the versions among them (this module's tags are "N", N a version,
 * also as a compressing filter suffixes them: "N-gzip", "N-br"; any other
 * tag is well formed but names no version, so it matches nothing).  APR_EINVAL and *error for a value that is no such list or
 * names more than HL_COND_TAGS_MAX versions. */
apr_status_t hl_etag_list_parse(const char *value, int weak,
                                hl_cond_kind *kind, apr_uint64_t *list,
                                int *n, const char **error);

/* Whether an If-None-Match value (weak comparison) lists etag, a strong
 * tag "\"X\"", as it is or as a compressing filter suffixes it ("X-gzip",
 * "X-br"): the tag as listed (quoted, without W/), in p; NULL when it does
 * not, for "*" and for a value that is no list of tags. */
const char *hl_etag_list_names(apr_pool_t *p, const char *value,
                               const char *etag);

/* The strong entity-tag of a version, "\"N\"", in p. */
const char *hl_etag_of(apr_pool_t *p, apr_uint64_t version);

/* The same into out, NUL-terminated; returns out.  Without printf: an
 * entity-tag goes out with every cache write and hit. */
#define HL_ETAG_SIZE 24
char *hl_etag_text(char out[HL_ETAG_SIZE], apr_uint64_t version);

/* A decimal integer of at most 19 digits with an optional '-' (when
 * signed_ok), and nothing else: 1 and *out, else 0. */
int hl_parse_decimal(const char *s, apr_size_t len, int signed_ok,
                     apr_int64_t *out);

#endif
