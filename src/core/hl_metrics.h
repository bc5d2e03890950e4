/* hl_metrics: what this host served, for the metrics endpoint and the
 * server-status section: requests by endpoint and status code, a latency
 * histogram per endpoint, increments made through this host and failed
 * store calls by kind.  Like the limiter it describes the host, not the
 * data, so it lives in a small shared segment of its own whatever store
 * holds the data, made in the parent and kept across graceful restarts.
 *
 * Segment (fixed geometry, no pointers and no offsets: every place is an
 * index computed from the constants below, which the header repeats,
 * with a hash of the endpoints' names and the bounds, so that a segment
 * of another build is not reused):
 *
 *   +------------------------------------------------------------+
 *   | magic, version, endpoints, codes, buckets, layout (one line)|
 *   | store_errors[kind], increments                   (one line)|
 *   | per endpoint (HL_EP_COUNT, 0: a path below a mount that     |
 *   |   names no endpoint):                                       |
 *   |   bucket[HL_METRICS_BUCKETS + 1], sum_us       (three lines)|
 *   |   code[HL_METRICS_CODES]                                   |
 *   +------------------------------------------------------------+
 *
 * Every process and thread adds to the same words with relaxed atomic
 * adds: recording a request is three adds, no lock.  Buckets are kept
 * per bucket (not cumulative) and a histogram's count is the sum of its
 * buckets as read, so a reader's cumulative buckets always end at its
 * count even while requests are being recorded.
 */
#ifndef HL_METRICS_H
#define HL_METRICS_H

#include <apr.h>
#include <apr_errno.h>
#include <apr_pools.h>
#include <apr_time.h>

#include "hl_router.h"

/* Status codes 100..599 by number; index 0 counts any other. */
#define HL_METRICS_CODES 600
/* Finite upper bounds of the latency histogram (hl_metrics_bound_us);
 * one more bucket takes what is above the largest. */
#define HL_METRICS_BUCKETS 18

typedef enum {
    HL_STORE_ERROR_UNAVAILABLE = 0,   /* APR_ECONNREFUSED: down, unreachable */
    HL_STORE_ERROR_TIMEOUT,           /* APR_TIMEUP: slower than its timeout */
    HL_STORE_ERROR_REFUSED,           /* APR_EACCES: authentication, refused */
    HL_STORE_ERROR_OTHER,             /* APR_EGENERAL and anything else */
    HL_STORE_ERROR_KINDS
} hl_store_error_kind;

typedef struct hl_metrics hl_metrics;

/* previous: the last generation's (NULL on first start); it is kept when
 * its header says this build's geometry, else replaced by a new, zeroed
 * segment.  *kept (may be NULL) says which.  pool must live as long as
 * the parent process. */
apr_status_t hl_metrics_open(hl_metrics **out, hl_metrics *previous,
                             apr_pool_t *pool, int *kept);
/* For tests: makes m's header say another build's endpoints. */
void hl_metrics_test_other_layout(hl_metrics *m);

/* One request below a mount, with the status sent and its duration. */
apr_status_t hl_metrics_record(hl_metrics *m, hl_endpoint ep, int status,
                               apr_interval_time_t duration);
/* A store call that failed with rv (anything but APR_SUCCESS). */
apr_status_t hl_metrics_count_store_error(hl_metrics *m, apr_status_t rv);
apr_status_t hl_metrics_count_increment(hl_metrics *m);

hl_store_error_kind hl_metrics_error_kind(apr_status_t rv);
/* "unavailable", "timeout", "refused", "other" */
const char *hl_metrics_error_kind_name(hl_store_error_kind kind);
/* The bucket bound i (0 .. HL_METRICS_BUCKETS-1) in microseconds. */
apr_uint64_t hl_metrics_bound_us(int i);
/* The endpoint's name as a label: its path below the mount, "index" for
 * the mount itself, with its rest named for a prefix ("cache/{key}",
 * "dashboard/{file}"), "none" for HL_EP_NONE. */
const char *hl_metrics_endpoint_name(hl_endpoint ep);

typedef struct hl_metrics_histogram {
    apr_uint64_t bucket[HL_METRICS_BUCKETS + 1];  /* per bucket, not
                                                   * cumulative */
    apr_uint64_t count;      /* the sum of bucket[] as read */
    apr_uint64_t sum_us;
} hl_metrics_histogram;

apr_uint64_t hl_metrics_requests(const hl_metrics *m, hl_endpoint ep,
                                 int code_index);
apr_status_t hl_metrics_histogram_read(const hl_metrics *m, hl_endpoint ep,
                                       hl_metrics_histogram *h);
apr_uint64_t hl_metrics_store_errors(const hl_metrics *m,
                                     hl_store_error_kind kind);
apr_uint64_t hl_metrics_increments(const hl_metrics *m);

#endif
