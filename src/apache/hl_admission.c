/* hl_admission: a request's place under this host's concurrency limits
 * (src/core/hl_limiter.h), given back when its work is done or its pool goes. */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include "hl_apache.h"

/* Concurrency limits (hl_limiter): at most HyperlaneCacheMaxConcurrent
 * cache operations and HyperlaneBenchmarkMaxConcurrent benchmark runs are
 * in flight over all processes.  One more waits a short, bounded time for
 * a slot, then is refused with 503 and Retry-After, and counted as
 * rejected.  A slot is for work, never for waiting on a client: a request
 * body is read before its request is admitted.  A slot is given back by
 * hl_admit_done, or by the request pool's cleanup if the request ends first. */
#define HL_ADMIT_WAIT_USEC 50000

static apr_status_t admission_release(void *data)
{
    hl_admission *a = data;
    return hl_limiter_release(a->limiter, a->pid);
}

hl_limiter *hl_limiter_for(request_rec *r, hl_limit_kind kind)
{
    return hl_limits_get(HL_RT(r)->limits, kind);
}

apr_uint32_t hl_limit_for(request_rec *r, hl_limit_kind kind)
{
    return (apr_uint32_t)hl_config_get(&HL_RT(r)->cfg, kind == HL_LIMIT_CACHE
                                       ? HL_D_CACHE_MAX_CONCURRENT
                                       : HL_D_BENCHMARK_MAX_CONCURRENT);
}

/* OK with *out set, or the error answer has been sent. */
int hl_admit(request_rec *r, hl_limit_kind kind, const char *busy,
                       hl_admission **out)
{
    hl_admission *a = apr_palloc(r->pool, sizeof(*a));
    apr_status_t rv;

    a->limiter = hl_limiter_for(r, kind);
    a->pid = HL_RT(r)->pid;
    rv = hl_limiter_admit_wait(a->limiter, hl_limit_for(r, kind), a->pid,
                               HL_ADMIT_WAIT_USEC);
    if (rv == APR_EBUSY) {
        apr_table_setn(r->headers_out, "Retry-After", "1");
        hl_send_error(r, HTTP_SERVICE_UNAVAILABLE, busy);
        return HTTP_SERVICE_UNAVAILABLE;
    }
    if (rv != APR_SUCCESS) {
        hl_send_failure(r, rv, "admission");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    apr_pool_cleanup_register(r->pool, a, admission_release, apr_pool_cleanup_null);
    *out = a;
    return OK;
}

void hl_admit_done(request_rec *r, hl_admission *a)
{
    apr_pool_cleanup_run(r->pool, a, admission_release);
}
