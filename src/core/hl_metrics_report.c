/* hl_metrics_report: see hl_metrics_report.h.  Names follow Prometheus's
 * conventions: the hyperlane_ prefix, base units (bytes, seconds), _total
 * on counters, and no type word in a name (promtool's lint checks the
 * live output in t/22_metrics.t). */
#include "hl_metrics_report.h"

#include <apr_lib.h>
#include <apr_strings.h>
#include <string.h>

apr_status_t hl_metrics_view_read(hl_metrics_view *v, hl_store *st,
                                  hl_limits *ls,
                                  const apr_uint32_t limit[HL_LIMIT_KINDS],
                                  hl_metrics *m, hl_procinfo_reader *rd)
{
    apr_status_t rv;
    int k;

    memset(v, 0, sizeof(*v));
    v->metrics = m;
    if ((rv = hl_store_counter_snapshot(st, 0, &v->counter)) == APR_SUCCESS)
        v->counter_ok = 1;
    else
        hl_metrics_count_store_error(m, rv);
    if ((rv = hl_store_cache_stats(st, &v->cache)) == APR_SUCCESS)
        v->cache_ok = 1;
    else
        hl_metrics_count_store_error(m, rv);
    /* After the cache's figures, and only when the store answered: a
     * store whose usage is what it last answered (Redis) then answers it
     * for this scrape, not for an earlier one of this process. */
    if (v->counter_ok && v->cache_ok) {
        if ((rv = hl_store_usage_read(st, &v->usage)) == APR_SUCCESS)
            v->usage_ok = 1;
        else
            hl_metrics_count_store_error(m, rv);
    }
    for (k = 0; k < HL_LIMIT_KINDS; k++) {
        hl_limiter_stats_read(hl_limits_get(ls, (hl_limit_kind)k),
                              &v->limiter[k]);
        v->limit[k] = limit[k];
    }
    v->proc_ok = hl_procinfo_read(rd, &v->proc) == APR_SUCCESS;
    return APR_SUCCESS;
}

const char *hl_limit_kind_name(hl_limit_kind kind)
{
    return kind == HL_LIMIT_CACHE ? "cache" : "benchmark";
}

/* ---- Prometheus text ---------------------------------------------------- */

static void one(hl_promw *w, const char *name, const char *type,
                const char *help, apr_uint64_t value)
{
    hl_promw_family(w, name, type, help);
    hl_promw_sample(w, name);
    hl_promw_value_u64(w, value);
}

static void info(hl_promw *w, const char *name, const char *help,
                 const char *label, const char *value)
{
    hl_promw_family(w, name, "gauge", help);
    hl_promw_sample(w, name);
    hl_promw_label(w, label, value);
    hl_promw_value_u64(w, 1);
}

static void store_text(hl_promw *w, const hl_metrics_view *v)
{
    const hl_counter_snapshot *c = &v->counter;
    const hl_cache_stats *s = &v->cache;

    one(w, "hyperlane_store_up", "gauge", "Whether every call of this scrape "
        "to the store answered (1) or not (0).",
        v->usage_ok && v->counter_ok && v->cache_ok);
    if (v->usage_ok) {
        info(w, "hyperlane_store_info", "The store backend (HyperlaneStore).",
             "backend", v->usage.backend);
        one(w, "hyperlane_store_generation", "gauge",
            "Configuration generations the store has lived.", v->usage.generation);
        one(w, "hyperlane_store_size_bytes", "gauge",
            "Bytes the store backend reserved.", v->usage.size_bytes);
        one(w, "hyperlane_store_used_bytes", "gauge",
            "Bytes of the store that hold data now.", v->usage.used_bytes);
    }
    if (v->counter_ok) {
        one(w, "hyperlane_shared_value", "gauge",
            "The shared counter's value, as the store holds it.",
            c->current_value);
        one(w, "hyperlane_history_length", "gauge",
            "Increments kept in the counter's history.", c->history_length);
        one(w, "hyperlane_history_capacity", "gauge",
            "Increments the history can keep (HyperlaneHistorySize).",
            c->capacity);
    }
    if (v->cache_ok) {
        one(w, "hyperlane_cache_entries", "gauge", "Live entries in the cache.",
            s->total_entries);
        one(w, "hyperlane_cache_used_bytes", "gauge",
            "Bytes held by the cache's live entries.", s->bytes_used);
        one(w, "hyperlane_cache_capacity_bytes", "gauge",
            "Bytes the cache may hold (HyperlaneCacheSize).", s->capacity_bytes);
        one(w, "hyperlane_cache_hits_total", "counter",
            "Cache gets that found their key.", s->hits);
        one(w, "hyperlane_cache_misses_total", "counter",
            "Cache gets that did not find their key.", s->misses);
        one(w, "hyperlane_cache_sets_total", "counter",
            "Cache entries set.", s->sets);
        one(w, "hyperlane_cache_deletes_total", "counter",
            "Cache entries deleted by request.", s->deletes);
        one(w, "hyperlane_cache_evictions_total", "counter",
            "Cache entries evicted to make room.", s->evictions);
        one(w, "hyperlane_cache_expirations_total", "counter",
            "Cache entries removed because their time to live ran out.",
            s->expirations);
    }
}

static void by_kind(hl_promw *w, const char *name, const char *type,
                    const char *help, const apr_uint64_t value[HL_LIMIT_KINDS])
{
    int k;
    hl_promw_family(w, name, type, help);
    for (k = 0; k < HL_LIMIT_KINDS; k++) {
        hl_promw_sample(w, name);
        hl_promw_label(w, "kind", hl_limit_kind_name((hl_limit_kind)k));
        hl_promw_value_u64(w, value[k]);
    }
}

static void limiter_text(hl_promw *w, const hl_metrics_view *v)
{
    apr_uint64_t in_flight[HL_LIMIT_KINDS], peak[HL_LIMIT_KINDS],
                 max[HL_LIMIT_KINDS], rejected[HL_LIMIT_KINDS],
                 healed[HL_LIMIT_KINDS];
    int k;
    for (k = 0; k < HL_LIMIT_KINDS; k++) {
        in_flight[k] = v->limiter[k].in_flight;
        peak[k] = v->limiter[k].peak_in_flight;
        max[k] = v->limit[k];
        rejected[k] = v->limiter[k].rejected;
        healed[k] = v->limiter[k].healed;
    }
    by_kind(w, "hyperlane_limiter_in_flight", "gauge",
            "Operations admitted and running now, on this host.", in_flight);
    by_kind(w, "hyperlane_limiter_peak_in_flight", "gauge",
            "Most operations in flight at once since the limiter was made.",
            peak);
    by_kind(w, "hyperlane_limiter_max_concurrent", "gauge",
            "Operations allowed in flight at once (HyperlaneCacheMaxConcurrent, "
            "HyperlaneBenchmarkMaxConcurrent).", max);
    by_kind(w, "hyperlane_limiter_rejected_total", "counter",
            "Operations refused with 503 because the limit was reached.",
            rejected);
    by_kind(w, "hyperlane_limiter_healed_total", "counter",
            "Admissions given back for processes that died holding them.",
            healed);
}

static void requests_text(hl_promw *w, const hl_metrics_view *v)
{
    int ep, code, i;
    char code_text[16], le[HL_PROMW_SECONDS_SIZE];

    hl_promw_family(w, "hyperlane_requests_total", "counter",
                    "Requests below a mount answered by this host, by "
                    "endpoint and status code sent.");
    for (ep = 0; ep < HL_EP_COUNT; ep++)
        for (code = 0; code < HL_METRICS_CODES; code++) {
            apr_uint64_t n = hl_metrics_requests(v->metrics, (hl_endpoint)ep,
                                                 code);
            if (!n)
                continue;
            hl_promw_sample(w, "hyperlane_requests_total");
            hl_promw_label(w, "endpoint", hl_metrics_endpoint_name((hl_endpoint)ep));
            if (code)
                apr_snprintf(code_text, sizeof(code_text), "%d", code);
            hl_promw_label(w, "code", code ? code_text : "other");
            hl_promw_value_u64(w, n);
        }

    hl_promw_family(w, "hyperlane_request_duration_seconds", "histogram",
                    "Time from reading a request's line to the end of its "
                    "answer, below a mount on this host, by endpoint.");
    for (ep = 0; ep < HL_EP_COUNT; ep++) {
        const char *name = hl_metrics_endpoint_name((hl_endpoint)ep);
        hl_metrics_histogram h;
        apr_uint64_t cumulative = 0;
        hl_metrics_histogram_read(v->metrics, (hl_endpoint)ep, &h);
        for (i = 0; i <= HL_METRICS_BUCKETS; i++) {
            cumulative += h.bucket[i];
            hl_promw_sample(w, "hyperlane_request_duration_seconds_bucket");
            hl_promw_label(w, "endpoint", name);
            hl_promw_label(w, "le", i < HL_METRICS_BUCKETS
                           ? hl_promw_seconds(le, hl_metrics_bound_us(i)) : "+Inf");
            hl_promw_value_u64(w, cumulative);
        }
        hl_promw_sample(w, "hyperlane_request_duration_seconds_sum");
        hl_promw_label(w, "endpoint", name);
        hl_promw_value_text(w, hl_promw_seconds(le, h.sum_us));
        hl_promw_sample(w, "hyperlane_request_duration_seconds_count");
        hl_promw_label(w, "endpoint", name);
        hl_promw_value_u64(w, h.count);
    }
}

void hl_metrics_text(hl_promw *w, const hl_metrics_view *v,
                     const char *version)
{
    int k;

    info(w, "hyperlane_build_info", "The version of mod_hyperlane.",
         "version", version);
    store_text(w, v);
    one(w, "hyperlane_increments_total", "counter",
        "Increments of the shared counter made through this host.",
        hl_metrics_increments(v->metrics));
    hl_promw_family(w, "hyperlane_store_errors_total", "counter",
                    "Store calls of this host that failed, by kind: "
                    "unavailable, timeout, refused, other.");
    for (k = 0; k < HL_STORE_ERROR_KINDS; k++) {
        hl_promw_sample(w, "hyperlane_store_errors_total");
        hl_promw_label(w, "kind", hl_metrics_error_kind_name((hl_store_error_kind)k));
        hl_promw_value_u64(w, hl_metrics_store_errors(v->metrics,
                                                      (hl_store_error_kind)k));
    }
    limiter_text(w, v);
    requests_text(w, v);
    if (v->proc_ok) {
        one(w, "hyperlane_process_resident_memory_bytes", "gauge",
            "Resident memory of the process that answered this scrape.",
            v->proc.rss_bytes);
        one(w, "hyperlane_process_peak_resident_memory_bytes", "gauge",
            "Peak resident memory of the process that answered this scrape.",
            v->proc.peak_rss_bytes);
    }
}

/* ---- server-status ------------------------------------------------------ */

static void line(apr_array_header_t *a, const char *key, const char *label,
                 const char *value)
{
    hl_status_line *l = apr_array_push(a);
    l->key = key;
    l->label = label;
    l->value = value;
}

static void line_u64(apr_array_header_t *a, const char *key,
                     const char *label, apr_uint64_t value)
{
    line(a, key, label, apr_psprintf(a->pool, "%" APR_UINT64_T_FMT, value));
}

apr_array_header_t *hl_metrics_status_lines(apr_pool_t *p,
                                            const hl_metrics_view *v)
{
    apr_array_header_t *a = apr_array_make(p, 40, sizeof(hl_status_line));
    int k;

    line(a, "HyperlaneStoreUp", "Store answered",
         v->usage_ok && v->counter_ok && v->cache_ok ? "1" : "0");
    if (v->usage_ok) {
        line(a, "HyperlaneStoreBackend", "Store backend", v->usage.backend);
        line_u64(a, "HyperlaneStoreGeneration", "Store generation",
                 v->usage.generation);
        line_u64(a, "HyperlaneStoreSizeBytes", "Store size (bytes)",
                 v->usage.size_bytes);
        line_u64(a, "HyperlaneStoreUsedBytes", "Store used (bytes)",
                 v->usage.used_bytes);
    }
    if (v->counter_ok) {
        line_u64(a, "HyperlaneCounterValue", "Counter value",
                 v->counter.current_value);
        line_u64(a, "HyperlaneHistoryLength", "History length",
                 v->counter.history_length);
        line_u64(a, "HyperlaneHistoryCapacity", "History capacity",
                 v->counter.capacity);
    }
    line_u64(a, "HyperlaneIncrements", "Increments made through this host",
             hl_metrics_increments(v->metrics));
    if (v->cache_ok) {
        const hl_cache_stats *s = &v->cache;
        line_u64(a, "HyperlaneCacheEntries", "Cache entries", s->total_entries);
        line_u64(a, "HyperlaneCacheUsedBytes", "Cache used (bytes)", s->bytes_used);
        line_u64(a, "HyperlaneCacheCapacityBytes", "Cache capacity (bytes)",
                 s->capacity_bytes);
        line_u64(a, "HyperlaneCacheHits", "Cache hits", s->hits);
        line_u64(a, "HyperlaneCacheMisses", "Cache misses", s->misses);
        line_u64(a, "HyperlaneCacheSets", "Cache sets", s->sets);
        line_u64(a, "HyperlaneCacheDeletes", "Cache deletes", s->deletes);
        line_u64(a, "HyperlaneCacheEvictions", "Cache evictions", s->evictions);
        line_u64(a, "HyperlaneCacheExpirations", "Cache expirations",
                 s->expirations);
    }
    for (k = 0; k < HL_LIMIT_KINDS; k++) {
        const char *kind = k == HL_LIMIT_CACHE ? "Cache" : "Benchmark";
        const hl_limiter_stats *l = &v->limiter[k];
        line_u64(a, apr_pstrcat(p, "HyperlaneLimiter", kind, "InFlight", NULL),
                 apr_pstrcat(p, "Limiter ", hl_limit_kind_name(k), ": in flight",
                             NULL), l->in_flight);
        line_u64(a, apr_pstrcat(p, "HyperlaneLimiter", kind, "Peak", NULL),
                 apr_pstrcat(p, "Limiter ", hl_limit_kind_name(k), ": peak in "
                             "flight", NULL), l->peak_in_flight);
        line_u64(a, apr_pstrcat(p, "HyperlaneLimiter", kind, "Max", NULL),
                 apr_pstrcat(p, "Limiter ", hl_limit_kind_name(k), ": most at "
                             "once", NULL), v->limit[k]);
        line_u64(a, apr_pstrcat(p, "HyperlaneLimiter", kind, "Rejected", NULL),
                 apr_pstrcat(p, "Limiter ", hl_limit_kind_name(k), ": rejected",
                             NULL), l->rejected);
        line_u64(a, apr_pstrcat(p, "HyperlaneLimiter", kind, "Healed", NULL),
                 apr_pstrcat(p, "Limiter ", hl_limit_kind_name(k), ": given back "
                             "for dead processes", NULL), l->healed);
    }
    for (k = 0; k < HL_STORE_ERROR_KINDS; k++) {
        const char *name = hl_metrics_error_kind_name((hl_store_error_kind)k);
        char *key = apr_pstrcat(p, "HyperlaneStoreErrors", name, NULL);
        apr_size_t first = sizeof("HyperlaneStoreErrors") - 1;
        key[first] = (char)apr_toupper(key[first]);
        line_u64(a, key, apr_pstrcat(p, "Store errors: ", name, NULL),
                 hl_metrics_store_errors(v->metrics, (hl_store_error_kind)k));
    }
    return a;
}
