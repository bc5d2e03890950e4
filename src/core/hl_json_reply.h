/* hl_json_reply: every JSON answer the module gives, in one place so that
 * the field names of all of them can be read side by side.  Each builder
 * writes one complete answer into a writer (hl_jsonw.h). */
#ifndef HL_JSON_REPLY_H
#define HL_JSON_REPLY_H

#include <apr_pools.h>

#include "hl_jsonw.h"
#include "hl_limiter.h"
#include "hl_procinfo.h"
#include "hl_router.h"
#include "hl_store.h"
#include "hl_cache_bulk.h"

/* What memory_info / memory_usage report, all read at request time (rss
 * and peak: or up to HyperlaneMemoryMaxAge before, as rss_age_us says). */
typedef struct hl_memory_figures {
    hl_procinfo proc;
    hl_store_usage store;
    const char *mpm;
} hl_memory_figures;

/* RFC 3339 in UTC with microseconds, 2026-11-23T22:19:34.123456Z, into
 * out[HL_RFC3339_SIZE]; APR_EINVAL outside the years 0000..9999. */
#define HL_RFC3339_SIZE 28
apr_status_t hl_rfc3339(char *out, apr_time_t when);

/* {"error": message, "status": status} */
void hl_json_error(hl_jsonw *w, int status, const char *message);

/* {"service", "mount", "endpoints": [...]} from the route table. */
void hl_json_index(hl_jsonw *w, const char *mount, const hl_route_def *routes);

/* {"counter", "message", "memory_info"} */
void hl_json_counter_increment(hl_jsonw *w, apr_uint64_t value,
                               const hl_memory_figures *m);

/* Text kept for one client, written from figures: the same for the next
 * answer while only the reading's age moved, its age digits rewritten
 * (at age_at..age_end) instead of the text written again
 * (bench/RESULTS.md).  Zeroed before its first use; one user at a time. */
typedef struct hl_kept_text {
    hl_memory_figures figures;
    char *text;                      /* NULL: nothing kept yet */
    apr_size_t len, cap;             /* cap: room for any age's digits */
    apr_size_t age_at, age_end;
} hl_kept_text;

/* hl_json_counter_increment, the same text byte for byte, with the
 * figures' text from kept where it serves (kept there from kept_pool). */
void hl_json_counter_increment_again(hl_jsonw *w, apr_uint64_t value,
                                     const hl_memory_figures *m,
                                     hl_kept_text *kept,
                                     apr_pool_t *kept_pool);

/* {"current_value", "history_length", "history_capacity", "recent_values",
 *  "recent", "memory_usage"} */
void hl_json_counter_stats(hl_jsonw *w, const hl_counter_snapshot *snap,
                           const hl_memory_figures *m);

/* A counter/stats answer kept for one client: its text and the snapshot
 * it was written from. */
typedef struct hl_stats_memo {
    hl_counter_snapshot snap;
    hl_kept_text kept;
} hl_stats_memo;

/* The text hl_json_counter_stats writes for snap and m, byte for byte,
 * and its length: memo's, its age rewritten, when snap and m are what it
 * was written from (m's age aside); else written (from pool) and kept in
 * memo (from memo_pool).  The text is memo's: the next call on it changes
 * it. */
const char *hl_json_counter_stats_again(const hl_counter_snapshot *snap,
                                        const hl_memory_figures *m,
                                        hl_stats_memo *memo,
                                        apr_pool_t *pool,
                                        apr_pool_t *memo_pool,
                                        apr_size_t *len);

/* The cache's answers; keys and values are bytes (invalid UTF-8 becomes
 * U+FFFD in the JSON).  Answers about an entry carry "version", "etag"
 * (the ETag header's text) and "ttl_seconds" (whole seconds left, rounded
 * up; null: never expires). */
void hl_json_cache_hit(hl_jsonw *w, const char *key, apr_size_t klen,
                       const hl_cache_result *res);
/* 404 {"error": "Key not found", "status": 404, "key"} */
void hl_json_cache_miss(hl_jsonw *w, const char *key, apr_size_t klen);
/* A set repeats at most HL_JSON_ECHO_MAX bytes of the value it stored
 * ("value_truncated": true when it cut; "value_bytes" is the whole). */
#define HL_JSON_ECHO_MAX 1024
void hl_json_cache_set(hl_jsonw *w, const char *key, apr_size_t klen,
                       const char *val, apr_size_t vlen, int replaced);
/* The same with the entry's "version", "etag" and "ttl_seconds". */
void hl_json_cache_stored(hl_jsonw *w, const char *key, apr_size_t klen,
                          const char *val, apr_size_t vlen,
                          const hl_cache_written *wr, apr_time_t now);
void hl_json_cache_deleted(hl_jsonw *w, const char *key, apr_size_t klen);
/* {"key", "operation": "touch", "success", "version", "etag",
 *  "ttl_seconds"} */
void hl_json_cache_touched(hl_jsonw *w, const char *key, apr_size_t klen,
                           const hl_cache_written *wr, apr_time_t now);
/* {"key", "operation": "add", "success", "value" (a number), "created",
 *  "version", "etag", "ttl_seconds"} */
void hl_json_cache_added(hl_jsonw *w, const char *key, apr_size_t klen,
                         const hl_cache_written *wr, apr_time_t now);
/* A refused write, 409 or 412: {"error", "status", "key",
 * "current_version" (null: no entry), "current_etag"} */
void hl_json_cache_refused(hl_jsonw *w, int status, const char *message,
                           const char *key, apr_size_t klen,
                           const hl_cache_written *wr);
/* A listing page: {"keys": [{"key", "value_bytes", "version",
 * "ttl_seconds"}...], "count", "limit", "prefix", "next_cursor" (null
 * at the end), "complete", "scanned"}; a key that is not UTF-8 also has
 * "key_escaped", its bytes percent-encoded. */
void hl_json_cache_page(hl_jsonw *w, const hl_cache_list_page *page,
                        const char *prefix, apr_size_t plen, int limit,
                        apr_time_t now);
/* Bulk: {"operation": "bulk_get"|"bulk_set", "count", "succeeded",
 * "failed", "results": [{"key", "status", ...}]}: a get's results add
 * "found" and, when found, "value", "value_bytes", "version", "etag",
 * "ttl_seconds"; a set's add "stored" and "version", "etag",
 * "ttl_seconds" when stored, "error" (and "current_version") when not;
 * "stored" is null for an item the store failed on while it ran.  A
 * request the store failed part way adds "error" and "status" (else
 * NULL and 0), as an error's answer has them. */
void hl_json_cache_bulk(hl_jsonw *w, int is_set, const hl_bulk_request *req,
                        const hl_bulk_result *res, apr_time_t now,
                        int status, const char *error);
/* A limiter's figures as members of the open object: "in_flight",
 * "max_concurrent" (limit), "peak_in_flight", "rejected", "healed". */
void hl_json_limiter(hl_jsonw *w, const hl_limiter_stats *ls,
                     apr_uint32_t limit);
void hl_json_cache_stats(hl_jsonw *w, const hl_cache_stats *st,
                         const hl_limiter_stats *ls, apr_uint32_t limit);

#endif
