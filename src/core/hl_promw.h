/* hl_promw: a small writer of Prometheus's text exposition format,
 * version 0.0.4, into a pool buffer (the metrics endpoint's answer).
 *
 * A family is its "# HELP" and "# TYPE" lines; a sample is a name, labels
 * and a value, one line:
 *
 *     hl_promw_family(w, "hyperlane_requests_total", "counter", "...");
 *     hl_promw_sample(w, "hyperlane_requests_total");
 *     hl_promw_label(w, "endpoint", "counter/increment");
 *     hl_promw_label(w, "code", "200");
 *     hl_promw_value_u64(w, 1000);
 *
 * writes hyperlane_requests_total{endpoint="counter/increment",code="200"} 1000.
 * Label values are escaped as the format asks (backslash, double quote,
 * line feed) and made valid UTF-8 (hl_utf8.h); help texts escape
 * backslash and line feed.  Names are the caller's own literals; no text
 * may hold a NUL byte. */
#ifndef HL_PROMW_H
#define HL_PROMW_H

#include <apr.h>
#include <apr_pools.h>
#include <apr_tables.h>

#define HL_PROMW_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef struct hl_promw {
    apr_pool_t *pool;
    apr_array_header_t *pieces;   /* const char *, in order */
    int labels;                   /* labels written in the open sample */
} hl_promw;

void hl_promw_init(hl_promw *w, apr_pool_t *p);

/* type: "counter", "gauge", "histogram" (or "untyped", "summary"). */
void hl_promw_family(hl_promw *w, const char *name, const char *type,
                     const char *help);

/* A sample line: its name, any labels, then one value, which ends it. */
void hl_promw_sample(hl_promw *w, const char *name);
void hl_promw_label(hl_promw *w, const char *name, const char *value);
void hl_promw_value_u64(hl_promw *w, apr_uint64_t v);
/* A value already in the format's notation: "+Inf", "0.25". */
void hl_promw_value_text(hl_promw *w, const char *v);

/* us microseconds as exact decimal seconds, "0.000025", "2.5", "10", at
 * out (at least HL_PROMW_SECONDS_SIZE bytes, NUL-terminated); returns out. */
#define HL_PROMW_SECONDS_SIZE 32
char *hl_promw_seconds(char *out, apr_uint64_t us);

/* The text written so far (NUL-terminated, in the pool). */
const char *hl_promw_text(const hl_promw *w, apr_size_t *len);

#endif
