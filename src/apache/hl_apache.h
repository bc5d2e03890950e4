/* hl_apache.h: what the files of the Apache side (src/apache) share.
 * The core (the other files of src) never sees a request_rec; this side turns
 * requests into calls of the core and answers into JSON. */
#ifndef HL_APACHE_H
#define HL_APACHE_H

#include "httpd.h"
#include "http_config.h"
#include "ap_mpm.h"
#include "util_filter.h"


#include "hl_bufpool.h"
#include "hl_cache_bulk.h"
#include "hl_cache_query.h"
#include "hl_checksum.h"
#include "hl_config.h"
#include "hl_json_reply.h"
#include "hl_limiter.h"
#include "hl_membench.h"
#include "hl_metrics.h"
#include "hl_metrics_report.h"
#include "hl_pooled.h"
#include "hl_procinfo.h"
#include "hl_router.h"
#include "hl_store.h"

extern module AP_MODULE_DECLARE_DATA hyperlane_module;
/* Every message of the Apache side carries the module's name, so that
 * "LogLevel warn hyperlane:info" reaches them (bench/run counts the
 * snapshots written that way).  mod_hyperlane.c's AP_DECLARE_MODULE
 * says it there. */
#ifndef HL_DECLARES_MODULE
APLOG_USE_MODULE(hyperlane);
#endif

#define HL_HANDLER     "hyperlane"
#define HL_MUTEX_TYPE  "hyperlane-shm"
#define HL_RUNTIME_KEY "hyperlane-runtime"

/* What a process holds for the life of the server: kept in the parent's
 * process pool so that a graceful restart finds the same store. */
typedef struct hl_runtime {
    hl_store *store;
    hl_limits *limits;             /* this host's concurrency limits */
    hl_metrics *metrics;           /* what this host served (hl_metrics.h) */
    hl_config cfg;                 /* the settings of the current generation */
    const char *mpm;
    char backend[16];              /* the store's backend, for a change at
                                    * a restart: copied, since the name
                                    * lived in the build unloaded since */
    hl_bufpool *bufpool;           /* per process: made in child_init */
    hl_procinfo_reader *procinfo;  /* per process: made in child_init */
    apr_int32_t pid;               /* per process: set in child_init, so
                                    * that requests need no getpid() */
    /* HyperlanePersistFile, in the parent (hl_persist.c) */
    const char *persist_path;      /* absolute; NULL: off */
    apr_interval_time_t persist_interval;   /* 0: only at a clean stop */
    apr_time_t persist_since;      /* the first start, for a first write */
    pid_t parent_pid;
} hl_runtime;

/* Per virtual host: the numeric settings are the main server's (they size
 * shared memory); the rest is each host's own, inherited from the main
 * server unless the host sets it.  (A host that sets none of our
 * directives shares the main server's structure until post_config gives
 * it a copy of its own, for its hl_host: hl_mounts.c.) */
typedef struct hl_server_conf {
    hl_runtime *rt;                  /* set in post_config for every server */
    struct hl_host *host;            /* its mounts, set in post_config */
    hl_config cfg;
    const char *store_spec;          /* HyperlaneStore (main server) */
    const char *redis_prefix;        /* HyperlaneRedisPrefix (main server) */
    const char *persist_file;        /* HyperlanePersistFile, "off" */
    apr_array_header_t *fast_paths;  /* HyperlaneFastPath; empty: "off" */
    apr_array_header_t *trusted_origins;  /* "scheme://host:port" */
    int skip_walk;                   /* HyperlaneSkipDirectoryWalk; -1 unset */
    int increment_post_only;         /* HyperlaneIncrementPostOnly; -1 unset */
} hl_server_conf;

/* What a host serves, worked out from the configuration at startup. */
typedef struct hl_host {
    apr_array_header_t *mounts;      /* paths of its <Location>s */
    apr_array_header_t *fast_paths;  /* the HyperlaneFastPath prefixes
                                      * that are also its mounts */
} hl_host;

typedef struct hl_admission {
    hl_limiter *limiter;
    apr_int32_t pid;
} hl_admission;

/* Feeds the request body to consume() bucket by bucket, where each bucket
 * lies: nothing is copied and the body is never held whole, so memory stays
 * flat whatever its size.  Returns HTTP_OK when the whole body was
 * consumed; otherwise the answer has been sent already (413 over a limit,
 * 400 for a broken body) and the status it carried is returned. */
typedef void (*hl_consume_fn)(void *ctx, const char *data, apr_size_t len);

#define HL_JSON_ERRORS_NOTE "hyperlane-json-errors"

typedef int (*hl_endpoint_fn)(request_rec *r, const hl_route *route,
                              const char *mount);

/* Where a request was routed; map_to_storage leaves it on the request so
 * that the handler does not route it again, and whatever answers a request
 * below a mount leaves it there for the accounting at its end
 * (hl_log_transaction). */
typedef struct hl_routed {
    const char *mount;
    hl_route route;
    int answering;      /* a handler took it: its errors are its own */
} hl_routed;

/* A file of the dashboard, embedded at build time: hl_dashboard_files.c,
 * generated by src/apache/dashboard/embed.pl from that directory.  name is
 * what follows dashboard/ in the URL ("" for the page itself). */
typedef struct hl_dashboard_file {
    const char *name;
    const char *type;
    const char *etag;
    const unsigned char *bytes;
    apr_size_t len;
} hl_dashboard_file;

/* The table, terminated by a NULL name. */
extern const hl_dashboard_file hl_dashboard_files[];

/* ---- functions, by file ---- */

/* hl_settings.c */
/* Inline: a request asks for its server's configuration a dozen times. */
static APR_INLINE hl_server_conf *hl_server_conf_of(server_rec *s)
{
    return ap_get_module_config(s->module_config, &hyperlane_module);
}
void *hl_create_server_config(apr_pool_t *p, server_rec *s);
void *hl_merge_server_config(apr_pool_t *p, void *basev, void *addv);
const char *hl_set_numeric(cmd_parms *cmd, void *dummy, const char *arg);
const char *hl_set_flag(cmd_parms *cmd, void *dummy, int on);
const char *hl_set_store(cmd_parms *cmd, void *dummy, const char *arg);
const char *hl_set_redis_prefix(cmd_parms *cmd, void *dummy, const char *arg);
const char *hl_set_persist_file(cmd_parms *cmd, void *dummy, const char *arg);
/* Whether HyperlanePersistFile names a file. */
int hl_persist_on(const hl_server_conf *sc);
const char *hl_add_fast_path(cmd_parms *cmd, void *dummy, const char *arg);
const char *hl_add_trusted_origin(cmd_parms *cmd, void *dummy, const char *arg);
/* An http(s) origin written with its port, "scheme://host:port", or NULL. */
const char *hl_origin_key(apr_pool_t *p, const char *origin);

/* The runtime of the server s belongs to (NULL before post_config). */
static APR_INLINE hl_runtime *hl_runtime_of(server_rec *s)
{
    return hl_server_conf_of(s)->rt;
}
#define HL_RT(r) hl_runtime_of((r)->server)

/* hl_lifecycle.c: the hooks of the server's life */
int hl_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp);
int hl_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                    server_rec *s);
int hl_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                   server_rec *s);
void hl_child_init(apr_pool_t *pchild, server_rec *s);
void hl_child_status(server_rec *s, pid_t pid, ap_generation_t gen, int slot,
                     mpm_child_status state);

/* hl_persist.c: the snapshot file, never from a request.  At the first
 * real post_config, after the store opened: loads the file; each
 * post_config: takes the settings of the generation, starts the helper
 * that writes one every interval and arms the write at a clean stop. */
void hl_persist_configure(server_rec *s, hl_runtime *rt, apr_pool_t *pconf,
                          apr_pool_t *ptemp, int first);

/* hl_mounts.c */
void hl_assign_hosts(server_rec *main_server, apr_pool_t *p);
hl_host *hl_host_of(server_rec *s);
apr_array_header_t *hl_mounts_of(server_rec *s);
const char *hl_mounts_text(server_rec *main_server, apr_pool_t *p);

/* hl_reply.c */
hl_jsonw *hl_reply_new(request_rec *r);
/* A writer for an answer that may be long (a listing, a bulk result):
 * status and headers are set now, and the text goes out as it is written,
 * without a Content-Length once it passes HL_JSONW_STREAM_AT.  Made only
 * when nothing can fail any more; hl_send_json ends it. */
hl_jsonw *hl_reply_stream(request_rec *r, int status);
int hl_send_json(request_rec *r, int status, hl_jsonw *w);
/* The same for JSON text made elsewhere. */
int hl_send_json_text(request_rec *r, int status, const char *body,
                      apr_size_t len);
const char *hl_error_text(request_rec *r, int status, const char *message);
int hl_send_error(request_rec *r, int status, const char *message);
/* 500 JSON, logged, for a core call that failed with rv. */
int hl_send_failure(request_rec *r, apr_status_t rv, const char *what);
/* The answer for a store call that failed with rv, counted in this
 * host's store errors: 503 JSON with Retry-After when the store cannot
 * serve now (APR_ECONNREFUSED, APR_TIMEUP, APR_EACCES, APR_EGENERAL:
 * hl_store.h; the store logs the outage, once), else hl_send_failure. */
int hl_send_store_failure(request_rec *r, apr_status_t rv, const char *what);
/* The same, not sent: its status, and its text in *text. */
int hl_store_failure_of(request_rec *r, apr_status_t rv, const char *what,
                        const char **text);
const hl_memory_figures *hl_memory_figures_of(request_rec *r,
                                              hl_memory_figures *m);

/* hl_admission.c: OK with *out set, or the 503 (or 500) has been sent. */
hl_limiter *hl_limiter_for(request_rec *r, hl_limit_kind kind);
apr_uint32_t hl_limit_for(request_rec *r, hl_limit_kind kind);
int hl_admit(request_rec *r, hl_limit_kind kind, const char *busy,
             hl_admission **out);
void hl_admit_done(request_rec *r, hl_admission *a);

/* hl_body.c */
int hl_body_announced(request_rec *r);     /* a body is (or was) sent */
/* A body of a Content-Length up to HL_BODY_SMALL: one a refusal reads
 * and drops first, keeping the connection, rather than close it. */
#define HL_BODY_SMALL (64 * 1024)
int hl_body_small(request_rec *r);
int hl_drop_body(request_rec *r);
apr_off_t hl_max_body(request_rec *r);
apr_off_t hl_max_body_within(request_rec *r, apr_off_t limit);
/* HTTP_OK, or the 413 sent for an announced length over own (-1: none)
 * or LimitRequestBody; hl_stream_body checks it first too. */
int hl_body_fits(request_rec *r, apr_off_t own);
int hl_stream_body(request_rec *r, apr_off_t own, hl_consume_fn consume,
                   void *ctx);
int hl_body_answered(int rc);
apr_status_t hl_json_error_filter(ap_filter_t *f, apr_bucket_brigade *bb);
void hl_insert_error_filter(request_rec *r);

/* hl_cross_site.c: the reason to refuse r, a request from a page (it
 * carries Sec-Fetch-Site or Origin) to route, with the status to refuse
 * it with; NULL to serve it. */
const char *hl_cross_site(request_rec *r, const hl_route *route, int *status);

/* The endpoints (src/core/hl_endpoints.def): hl_ep_counter.c, hl_ep_process.c,
 * hl_ep_cache.c, hl_ep_dashboard.c, hl_ep_metrics.c */
#define HL_ENDPOINT(ID, path, rest, methods, flags, handler) \
    int handler(request_rec *r, const hl_route *route, const char *mount);
#include "hl_endpoints.def"

/* hl_ep_metrics.c: every figure of the metrics endpoint and the
 * server-status section; the accounting of each request below a mount. */
void hl_metrics_view_of(request_rec *r, hl_metrics_view *v);
int hl_log_transaction(request_rec *r);

/* hl_status.c: mod_status's status_hook (when mod_status is loaded). */
int hl_status_hook(request_rec *r, int flags);
/* The cache API's shared parts (hl_ep_cache_api.c).  A key is the rest
 * of the path after cache/ (or cache-ttl/, cache-add/), percent-decoded
 * (so it may hold any byte), checked before anything is stored. */
typedef struct hl_key {
    char *bytes;
    apr_size_t len;
} hl_key;

/* Each returns OK, or the error answer has been sent (and returns OK). */
int hl_cache_key_of(request_rec *r, const hl_route *route, hl_key *key);
int hl_cache_query_of(request_rec *r, hl_cache_query *q);
/* If-Match and If-None-Match into cond; *has: whether there was one. */
int hl_cache_cond_of(request_rec *r, hl_cache_cond *cond, int *has);
int hl_cache_admit(request_rec *r, hl_admission **out);
/* The lifetime a write asks for: ?ttl=, else HyperlaneCacheTTL. */
apr_interval_time_t hl_cache_ttl_of(request_rec *r, const hl_cache_query *q);
/* ETag (and for raw answers Expires) of an entry. */
void hl_cache_entry_headers(request_rec *r, apr_uint64_t version,
                            apr_time_t expires, int with_expires);
/* The answer to a store operation on key that did not succeed: 404, 409,
 * 412, 413, 400, 501 (the backend lacks it), else 500. */
int hl_cache_refusal(request_rec *r, apr_status_t rv, const hl_key *key,
                     const hl_cache_written *wr, const char *what);
/* A body read whole into the pool (hl_ep_cache.c): the value of a set,
 * the JSON of a bulk request; hl_value_buf_add is an hl_consume_fn. */
typedef struct hl_value_buf {
    apr_pool_t *pool;
    char *data;
    apr_size_t len, cap;
} hl_value_buf;
void hl_value_buf_add(void *ctx, const char *data, apr_size_t len);

/* GET cache with a listing query (hl_ep_cache_stats passes it on). */
int hl_cache_list(request_rec *r, const hl_cache_query *q);

/* hl_dispatch.c */
/* r's method as the router's bit, from the number Apache parsed once
 * (HEAD is M_GET with header_only): a request asks it several times. */
unsigned hl_method_bit(const request_rec *r);
/* Range and Request-Range unset: httpd's byterange filter cuts nothing. */
void hl_drop_ranges(request_rec *r);
int hl_handler(request_rec *r);
int hl_map_to_storage(request_rec *r);
int hl_quick_handler(request_rec *r, int lookup_uri);

#endif
