/* hl_json_reply: JSON building, in one place so that the field names of
 * every answer can be read side by side. */
#include "hl_json_reply.h"

#include "hl_utf8.h"

#include <apr_strings.h>
#include <apr_time.h>

void hl_json_add_u64(json_object *obj, const char *key, apr_uint64_t v)
{
    json_object_object_add(obj, key, json_object_new_uint64(v));
}

json_object *hl_json_fixed(double v, int decimals)
{
    char text[64];
    apr_snprintf(text, sizeof(text), "%.*f", decimals, v);
    return json_object_new_double_s(v, text);
}

json_object *hl_json_error(int status, const char *message)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "error", json_object_new_string(message));
    json_object_object_add(o, "status", json_object_new_int(status));
    return o;
}

json_object *hl_json_memory_info(const hl_procinfo *pi,
                                 const hl_store_usage *u, const char *mpm)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "pid", json_object_new_int(pi->pid));
    json_object_object_add(o, "mpm", json_object_new_string(mpm));
    hl_json_add_u64(o, "rss_bytes", pi->rss_bytes);
    hl_json_add_u64(o, "peak_rss_bytes", pi->peak_rss_bytes);
    json_object_object_add(o, "store", json_object_new_string(u->backend));
    hl_json_add_u64(o, "shm_size_bytes", u->size_bytes);
    hl_json_add_u64(o, "shm_used_bytes", u->used_bytes);
    hl_json_add_u64(o, "store_generation", u->generation);
    return o;
}

json_object *hl_json_counter_increment(apr_uint64_t value, json_object *meminfo)
{
    json_object *o = json_object_new_object();
    hl_json_add_u64(o, "counter", value);
    json_object_object_add(o, "message",
                           json_object_new_string("Counter incremented safely"));
    json_object_object_add(o, "memory_info", meminfo);
    return o;
}

/* RFC 3339 in UTC with microseconds: 2026-11-23T22:19:34.123456Z */
static json_object *rfc3339(apr_time_t when)
{
    char date[32], full[48];
    apr_time_exp_t t;
    apr_size_t n;
    apr_time_exp_gmt(&t, when);
    apr_strftime(date, &n, sizeof(date), "%Y-%m-%dT%H:%M:%S", &t);
    apr_snprintf(full, sizeof(full), "%s.%06dZ", date, t.tm_usec);
    return json_object_new_string(full);
}

static json_object *history_entry(const hl_history_entry *e)
{
    json_object *o = json_object_new_object();
    hl_json_add_u64(o, "value", e->value);
    if (e->complete) {
        json_object_object_add(o, "time", rfc3339(e->time));
        json_object_object_add(o, "time_us", json_object_new_int64(e->time));
        json_object_object_add(o, "pid", json_object_new_int(e->pid));
    }
    else {
        json_object_object_add(o, "pending", json_object_new_boolean(1));
    }
    return o;
}

json_object *hl_json_counter_stats(const hl_counter_snapshot *snap,
                                   json_object *meminfo)
{
    json_object *o = json_object_new_object();
    json_object *values = json_object_new_array();
    json_object *recent = json_object_new_array();
    int i;

    for (i = 0; i < snap->n_recent; i++) {
        json_object_array_add(values, json_object_new_uint64(snap->recent[i].value));
        json_object_array_add(recent, history_entry(&snap->recent[i]));
    }
    hl_json_add_u64(o, "current_value", snap->current_value);
    hl_json_add_u64(o, "history_length", snap->history_length);
    hl_json_add_u64(o, "history_capacity", snap->capacity);
    json_object_object_add(o, "recent_values", values);
    json_object_object_add(o, "recent", recent);
    json_object_object_add(o, "memory_usage", meminfo);
    return o;
}

json_object *hl_json_bytes(apr_pool_t *p, const char *s, apr_size_t len)
{
    apr_size_t n;
    const char *text = hl_utf8_lossy(p, s, len, &n);
    return json_object_new_string_len(text, (int)n);
}

json_object *hl_json_cache_hit(apr_pool_t *p, const char *key, apr_size_t klen,
                               const hl_cache_result *res)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "key", hl_json_bytes(p, key, klen));
    json_object_object_add(o, "value", hl_json_bytes(p, res->value, res->vlen));
    json_object_object_add(o, "cache_hit", json_object_new_boolean(1));
    hl_json_add_u64(o, "access_count", res->access_count);
    json_object_object_add(o, "age_seconds", hl_json_fixed(res->age_seconds, 6));
    hl_json_add_u64(o, "value_bytes", res->vlen);
    if (res->expires)
        json_object_object_add(o, "expires_in_seconds", hl_json_fixed(
            (double)(res->expires - res->set_time - res->age) / APR_USEC_PER_SEC, 6));
    return o;
}

json_object *hl_json_cache_miss(apr_pool_t *p, const char *key, apr_size_t klen)
{
    json_object *o = hl_json_error(404, "Key not found");
    json_object_object_add(o, "key", hl_json_bytes(p, key, klen));
    return o;
}

json_object *hl_json_cache_set(apr_pool_t *p, const char *key, apr_size_t klen,
                               const char *val, apr_size_t vlen, int replaced)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "key", hl_json_bytes(p, key, klen));
    json_object_object_add(o, "value", hl_json_bytes(p, val, vlen));
    json_object_object_add(o, "operation", json_object_new_string("set"));
    json_object_object_add(o, "success", json_object_new_boolean(1));
    json_object_object_add(o, "replaced", json_object_new_boolean(replaced));
    hl_json_add_u64(o, "value_bytes", vlen);
    return o;
}

json_object *hl_json_cache_deleted(apr_pool_t *p, const char *key,
                                   apr_size_t klen)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "key", hl_json_bytes(p, key, klen));
    json_object_object_add(o, "operation", json_object_new_string("delete"));
    json_object_object_add(o, "success", json_object_new_boolean(1));
    return o;
}

json_object *hl_json_cache_stats(const hl_cache_stats *st, apr_uint32_t limit)
{
    json_object *o = json_object_new_object();
    hl_json_add_u64(o, "total_entries", st->total_entries);
    hl_json_add_u64(o, "total_accesses", st->total_accesses);
    /* As the seed: integer division, 0 when empty. */
    hl_json_add_u64(o, "average_accesses",
                    st->total_entries ? st->total_accesses / st->total_entries : 0);
    hl_json_add_u64(o, "capacity_bytes", st->capacity_bytes);
    hl_json_add_u64(o, "bytes_used", st->bytes_used);
    hl_json_add_u64(o, "hits", st->hits);
    hl_json_add_u64(o, "misses", st->misses);
    hl_json_add_u64(o, "sets", st->sets);
    hl_json_add_u64(o, "deletes", st->deletes);
    hl_json_add_u64(o, "evictions", st->evictions);
    hl_json_add_u64(o, "expirations", st->expirations);
    hl_json_add_u64(o, "in_flight", st->in_flight);
    hl_json_add_u64(o, "max_concurrent", limit);
    hl_json_add_u64(o, "peak_in_flight", st->peak_in_flight);
    hl_json_add_u64(o, "rejected", st->rejected);
    hl_json_add_u64(o, "healed", st->healed);
    hl_json_add_u64(o, "max_key_bytes", st->max_key);
    hl_json_add_u64(o, "max_value_bytes", st->max_value);
    hl_json_add_u64(o, "recoveries", st->recoveries);
    if (st->recoveries)
        json_object_object_add(o, "last_recovery",
                               json_object_new_string(st->last_recovery));
    return o;
}

const char *hl_json_finish(apr_pool_t *p, json_object *obj, apr_size_t *len)
{
    size_t n;
    const char *s = json_object_to_json_string_length(
        obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    char *copy = apr_pstrmemdup(p, s, n);
    json_object_put(obj);
    *len = n;
    return copy;
}
