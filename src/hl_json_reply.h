/* hl_json_reply: every JSON answer the module gives, built with json-c.
 * Builders return a json_object the caller may extend; hl_json_finish turns
 * one into a string in the request's pool and releases it. */
#ifndef HL_JSON_REPLY_H
#define HL_JSON_REPLY_H

#include <apr_pools.h>
#include <json-c/json.h>

#include "hl_counter.h"
#include "hl_procinfo.h"
#include "hl_store.h"

/* {"error": message, "status": status} */
json_object *hl_json_error(int status, const char *message);

/* The figures of memory_info / memory_usage. */
json_object *hl_json_memory_info(const hl_procinfo *pi,
                                 const hl_store_usage *u, const char *mpm);

/* {"counter", "message", "memory_info"}; takes ownership of meminfo. */
json_object *hl_json_counter_increment(apr_uint64_t value, json_object *meminfo);

/* {"current_value", "history_length", "history_capacity", "recent_values",
 *  "recent", "memory_usage"}; takes ownership of meminfo. */
json_object *hl_json_counter_stats(const hl_counter_snapshot *snap,
                                   json_object *meminfo);

/* A byte string as a JSON string: invalid UTF-8 becomes U+FFFD. */
json_object *hl_json_bytes(apr_pool_t *p, const char *s, apr_size_t len);

/* The cache's answers. */
json_object *hl_json_cache_hit(apr_pool_t *p, const char *key, apr_size_t klen,
                               const hl_cache_result *res);
/* 404 {"error": "Key not found", "key", "status": 404} */
json_object *hl_json_cache_miss(apr_pool_t *p, const char *key, apr_size_t klen);
json_object *hl_json_cache_set(apr_pool_t *p, const char *key, apr_size_t klen,
                               const char *val, apr_size_t vlen, int replaced);
json_object *hl_json_cache_deleted(apr_pool_t *p, const char *key,
                                   apr_size_t klen);
json_object *hl_json_cache_stats(const hl_cache_stats *st, apr_uint32_t limit);

/* Serialises obj into p, releases obj; *len gets the length. */
const char *hl_json_finish(apr_pool_t *p, json_object *obj, apr_size_t *len);

/* A double printed with a fixed number of decimals, not json-c's %.17g. */
json_object *hl_json_fixed(double v, int decimals);

/* Adds an unsigned 64-bit number (json-c's int64 would cut the top bit). */
void hl_json_add_u64(json_object *obj, const char *key, apr_uint64_t v);

#endif
