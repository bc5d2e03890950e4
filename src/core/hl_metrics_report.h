/* hl_metrics_report: what the metrics endpoint and the server-status
 * section show, read once into a view, then written as Prometheus text or
 * as server-status lines.  The store's figures (shared value, history,
 * cache, usage) come through hl_store.h, so they are the store's with any
 * backend; requests, latencies, increments made, store errors and the
 * limiter are this host's; the process figures are the answering
 * process's. */
#ifndef HL_METRICS_REPORT_H
#define HL_METRICS_REPORT_H

#include <apr.h>
#include <apr_errno.h>
#include <apr_pools.h>
#include <apr_tables.h>

#include "hl_limiter.h"
#include "hl_metrics.h"
#include "hl_procinfo.h"
#include "hl_promw.h"
#include "hl_store.h"

typedef struct hl_metrics_view {
    const hl_metrics *metrics;
    int usage_ok, counter_ok, cache_ok;   /* which store calls answered */
    hl_store_usage usage;
    hl_counter_snapshot counter;
    hl_cache_stats cache;
    hl_limiter_stats limiter[HL_LIMIT_KINDS];
    apr_uint32_t limit[HL_LIMIT_KINDS];   /* the configured maxima */
    int proc_ok;
    hl_procinfo proc;
} hl_metrics_view;

/* Reads every figure.  A store call that fails is counted in m's store
 * errors and its part of the view is left out (*_ok = 0): a monitor must
 * still see the rest when the store is down.  rd may be NULL (the process
 * figures are then read from a file opened for this reading). */
apr_status_t hl_metrics_view_read(hl_metrics_view *v, hl_store *st,
                                  hl_limits *ls,
                                  const apr_uint32_t limit[HL_LIMIT_KINDS],
                                  hl_metrics *m, hl_procinfo_reader *rd);

/* "cache", "benchmark" */
const char *hl_limit_kind_name(hl_limit_kind kind);

/* The whole exposition (HL_PROMW_CONTENT_TYPE); version: the module's,
 * for hyperlane_build_info. */
void hl_metrics_text(hl_promw *w, const hl_metrics_view *v,
                     const char *version);

/* One line of the server-status section: "key: value" in ?auto, a row
 * "label | value" in the HTML table. */
typedef struct hl_status_line {
    const char *key;        /* HyperlaneCacheHits */
    const char *label;      /* Cache hits */
    const char *value;
} hl_status_line;

/* The section's lines (hl_status_line), in p: store, counter, history,
 * cache, limiter. */
apr_array_header_t *hl_metrics_status_lines(apr_pool_t *p,
                                            const hl_metrics_view *v);

#endif
