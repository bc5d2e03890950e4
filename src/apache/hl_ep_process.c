/* The body-processing endpoints (streaming checksum, pooled buffer) and
 * the memory benchmark. */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include "hl_apache.h"

static void consume_checksum(void *ctx, const char *data, apr_size_t len)
{
    hl_checksum_update(ctx, data, len);
}

int hl_ep_process(request_rec *r, const hl_route *route, const char *mount)
{
    hl_jsonw *w;
    hl_checksum sum;
    int rc;
    hl_checksum_init(&sum, (apr_size_t)hl_config_get(&HL_RT(r)->cfg, HL_D_CHUNK_SIZE));
    rc = hl_stream_body(r, hl_max_body(r), consume_checksum, &sum);
    if (rc != HTTP_OK)
        return hl_body_answered(rc);
    w = hl_reply_new(r);
    hl_json_process(w, &sum);
    return hl_send_json(r, HTTP_OK, w);
}

static void consume_pooled(void *ctx, const char *data, apr_size_t len)
{
    hl_pooled_update(ctx, data, len);
}

int hl_ep_process_pooled(request_rec *r, const hl_route *route,
                             const char *mount)
{
    hl_jsonw *w;
    hl_pooled work;
    hl_bufpool_stats stats;
    void *buf;
    int rc;
    apr_status_t rv;
    /* A body refused by its length takes no buffer: it counts nothing. */
    if ((rc = hl_body_fits(r, hl_max_body(r))) != HTTP_OK)
        return hl_body_answered(rc);
    /* Given back by a cleanup of the request pool, even if the request
     * is aborted half way. */
    rv = hl_bufpool_acquire_for(HL_RT(r)->bufpool, r->pool, &buf);
    if (rv != APR_SUCCESS)
        return hl_send_failure(r, rv, "buffer pool");
    hl_pooled_init(&work, buf, hl_bufpool_buffer_size(HL_RT(r)->bufpool));
    rc = hl_stream_body(r, hl_max_body(r), consume_pooled, &work);
    if (rc != HTTP_OK)
        return hl_body_answered(rc);
    hl_bufpool_stats_read(HL_RT(r)->bufpool, &stats);
    w = hl_reply_new(r);
    hl_json_pooled(w, &work, &stats);
    return hl_send_json(r, HTTP_OK, w);
}

int hl_ep_memory_benchmark(request_rec *r, const hl_route *route,
                               const char *mount)
{
    hl_jsonw *w;
    apr_uint64_t n, size;
    const char *error = NULL;
    hl_membench_result result;
    hl_limiter_stats runs;
    hl_admission *a;
    apr_status_t rv = hl_membench_parse_query(r->pool, r->args, &n, &size, &error);
    if (rv != APR_SUCCESS)
        return hl_send_error(r, HTTP_BAD_REQUEST, error);
    /* Each run may take 256 MiB twice over: a few at once, server-wide. */
    if (hl_admit(r, HL_LIMIT_BENCHMARK, "Too many memory benchmarks "
                    "running; retry later", &a) != OK)
        return OK;
    rv = hl_membench_run_both(r->pool, n, size, &result);
    hl_limiter_stats_read(a->limiter, &runs);
    hl_admit_done(r, a);
    if (rv == APR_ENOMEM) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, r, "mod_hyperlane: memory "
                      "benchmark of %" APR_UINT64_T_FMT " x %" APR_UINT64_T_FMT
                      " bytes ran out of memory", n, size);
        apr_table_setn(r->headers_out, "Retry-After", "5");
        return hl_send_error(r, HTTP_SERVICE_UNAVAILABLE,
                          "Not enough memory for this benchmark; retry later");
    }
    if (rv != APR_SUCCESS)
        return hl_send_failure(r, rv, "memory benchmark");
    w = hl_reply_new(r);
    hl_json_membench(w, &result, &runs, hl_limit_for(r, HL_LIMIT_BENCHMARK));
    return hl_send_json(r, HTTP_OK, w);
}
