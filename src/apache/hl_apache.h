/* hl_apache.h: what the files of the Apache side (src/apache) share.
 * The core (the other files of src) never sees a request_rec; this side turns
 * requests into calls of the core and answers into JSON. */
#ifndef HL_APACHE_H
#define HL_APACHE_H

#include "httpd.h"
#include "http_config.h"
#include "ap_mpm.h"
#include "util_filter.h"

#include <apr_global_mutex.h>
#include <apr_hash.h>

#include "hl_bufpool.h"
#include "hl_checksum.h"
#include "hl_config.h"
#include "hl_json_reply.h"
#include "hl_limiter.h"
#include "hl_membench.h"
#include "hl_pooled.h"
#include "hl_procinfo.h"
#include "hl_router.h"
#include "hl_store.h"

extern module AP_MODULE_DECLARE_DATA hyperlane_module;

#define HL_HANDLER     "hyperlane"
#define HL_MUTEX_TYPE  "hyperlane-shm"
#define HL_RUNTIME_KEY "hyperlane-runtime"

/* What a process holds for the life of the server: kept in the parent's
 * process pool so that a graceful restart finds the same store and mutex. */
typedef struct hl_runtime {
    hl_store *store;
    hl_limits *limits;             /* this host's concurrency limits */
    apr_global_mutex_t *mutex;
    hl_config cfg;                 /* the settings of the current generation */
    const char *mpm;
    apr_hash_t *hosts;             /* server_rec * -> hl_host (this generation) */
    hl_bufpool *bufpool;           /* per process: made in child_init */
    hl_procinfo_reader *procinfo;  /* per process: made in child_init */
    apr_int32_t pid;               /* per process: set in child_init, so
                                    * that requests need no getpid() */
    /* HyperlanePersistFile, in the parent (hl_persist.c) */
    const char *persist_path;      /* absolute; NULL: off */
    apr_interval_time_t persist_interval;   /* 0: only at a clean stop */
    pid_t parent_pid;
} hl_runtime;

/* Per virtual host: the numeric settings are the main server's (they size
 * shared memory); the rest is each host's own, inherited from the main
 * server unless the host sets it.  (A host that sets none of our
 * directives shares the main server's structure, so what is worked out
 * per host at startup lives in the runtime's hl_host instead.) */
typedef struct hl_server_conf {
    hl_runtime *rt;                  /* set in post_config for every server */
    hl_config cfg;
    const char *store_spec;          /* HyperlaneStore (main server) */
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
 * that the handler does not route it again. */
typedef struct hl_routed {
    const char *mount;
    hl_route route;
} hl_routed;

/* ---- functions, by file ---- */

/* hl_settings.c */
hl_server_conf *hl_server_conf_of(server_rec *s);
void *hl_create_server_config(apr_pool_t *p, server_rec *s);
void *hl_merge_server_config(apr_pool_t *p, void *basev, void *addv);
const char *hl_set_numeric(cmd_parms *cmd, void *dummy, const char *arg);
const char *hl_set_flag(cmd_parms *cmd, void *dummy, int on);
const char *hl_set_store(cmd_parms *cmd, void *dummy, const char *arg);
const char *hl_set_persist_file(cmd_parms *cmd, void *dummy, const char *arg);
/* Whether HyperlanePersistFile names a file. */
int hl_persist_on(const hl_server_conf *sc);
const char *hl_add_fast_path(cmd_parms *cmd, void *dummy, const char *arg);
const char *hl_add_trusted_origin(cmd_parms *cmd, void *dummy, const char *arg);
/* An http(s) origin written with its port, "scheme://host:port", or NULL. */
const char *hl_origin_key(apr_pool_t *p, const char *origin);

/* The runtime of the server s belongs to (NULL before post_config). */
hl_runtime *hl_runtime_of(server_rec *s);
#define HL_RT(r) hl_runtime_of((r)->server)

/* hl_lifecycle.c: the hooks of the server's life */
int hl_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp);
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
apr_hash_t *hl_assign_hosts(server_rec *main_server, apr_pool_t *p);
hl_host *hl_host_of(server_rec *s);
apr_array_header_t *hl_mounts_of(server_rec *s);

/* hl_reply.c */
hl_jsonw *hl_reply_new(request_rec *r);
int hl_send_json(request_rec *r, int status, hl_jsonw *w);
const char *hl_error_text(request_rec *r, int status, const char *message);
int hl_send_error(request_rec *r, int status, const char *message);
/* 500 JSON, logged, for a core call that failed with rv. */
int hl_send_failure(request_rec *r, apr_status_t rv, const char *what);
const hl_memory_figures *hl_memory_figures_of(request_rec *r,
                                              hl_memory_figures *m);

/* hl_admission.c: OK with *out set, or the 503 (or 500) has been sent. */
hl_limiter *hl_limiter_for(request_rec *r, hl_limit_kind kind);
apr_uint32_t hl_limit_for(request_rec *r, hl_limit_kind kind);
int hl_admit(request_rec *r, hl_limit_kind kind, const char *busy,
             hl_admission **out);
void hl_admit_done(request_rec *r, hl_admission *a);

/* hl_body.c */
int hl_drop_body(request_rec *r);
apr_off_t hl_max_body(request_rec *r);
int hl_stream_body(request_rec *r, apr_off_t own, hl_consume_fn consume,
                   void *ctx);
int hl_body_answered(int rc);
apr_status_t hl_json_error_filter(ap_filter_t *f, apr_bucket_brigade *bb);
void hl_insert_error_filter(request_rec *r);

/* hl_cross_site.c: the reason to refuse r, or NULL */
const char *hl_cross_site(request_rec *r);
int hl_guarded(request_rec *r, const hl_route *route);

/* The endpoints (src/core/hl_endpoints.def): hl_ep_counter.c, hl_ep_process.c,
 * hl_ep_cache.c */
#define HL_ENDPOINT(ID, path, is_prefix, methods, flags, handler) \
    int handler(request_rec *r, const hl_route *route, const char *mount);
#include "hl_endpoints.def"

/* hl_dispatch.c */
int hl_handler(request_rec *r);
int hl_map_to_storage(request_rec *r);
int hl_quick_handler(request_rec *r, int lookup_uri);

#endif
