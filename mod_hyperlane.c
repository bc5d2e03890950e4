/* mod_hyperlane: shared state for Apache httpd, after the "Hyperlane"
 * memory-safety demo service.  This file is only the Apache glue:
 *
 *   1. directives      Hyperlane* server settings, validated at startup
 *   2. hooks           pre_config (mutex type), post_config (the shared
 *                      store, kept across graceful restarts; the mounts),
 *                      child_init (mutex, buffer pool, /proc reader)
 *   4. endpoints       parse, call the core in src/, write JSON; the
 *                      request body streamed bucket by bucket; the cache's
 *                      admission (concurrency limit)
 *   3. handler         request -> route -> endpoint function, with
 *                      map_to_storage (no file walk below a mount, the
 *                      route kept), the quick handler (HyperlaneFastPath)
 *                      and an error filter (Apache's own errors as JSON)
 *
 * Everything else (layout of shared memory, counter, router, JSON) lives in
 * src/ in plain C on APR.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_mutex.h"
#include "util_script.h"
#include "ap_mpm.h"

#include <apr_hash.h>
#include <apr_network_io.h>
#include <apr_strings.h>
#include <apr_uri.h>
#include <unistd.h>

#include "src/hl_bufpool.h"
#include "src/hl_checksum.h"
#include "src/hl_config.h"
#include "src/hl_counter.h"
#include "src/hl_json_reply.h"
#include "src/hl_limiter.h"
#include "src/hl_membench.h"
#include "src/hl_pooled.h"
#include "src/hl_procinfo.h"
#include "src/hl_router.h"
#include "src/hl_store.h"

module AP_MODULE_DECLARE_DATA hyperlane_module;

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
} hl_runtime;

static hl_runtime *runtime;        /* set in post_config, inherited by children */

/* Per virtual host: the numeric settings are the main server's (they size
 * shared memory); the rest is each host's own, inherited from the main
 * server unless the host sets it.  (A host that sets none of our
 * directives shares the main server's structure, so what is worked out
 * per host at startup lives in the runtime's hl_host instead.) */
typedef struct hl_server_conf {
    hl_config cfg;
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

static hl_server_conf *server_conf(server_rec *s)
{
    return ap_get_module_config(s->module_config, &hyperlane_module);
}

/* ------------------------------------------------------------------ */
/* 1. Directives                                                       */

static void *create_server_config(apr_pool_t *p, server_rec *s)
{
    hl_server_conf *sc = apr_pcalloc(p, sizeof(*sc));
    hl_config_defaults(&sc->cfg);
    /* A host's flags start unset, to inherit the main server's, which
     * start at their defaults. */
#define HL_HOST_FLAG(field, name, dflt, help) \
    sc->field = s->is_virtual ? -1 : (dflt);
#include "src/hl_directives.def"
    return sc;
}

static void *merge_server_config(apr_pool_t *p, void *basev, void *addv)
{
    hl_server_conf *base = basev, *add = addv;
    hl_server_conf *sc = apr_pcalloc(p, sizeof(*sc));
    sc->cfg = base->cfg;
    sc->fast_paths = add->fast_paths ? add->fast_paths : base->fast_paths;
    sc->trusted_origins = add->trusted_origins ? add->trusted_origins
                                               : base->trusted_origins;
    sc->skip_walk = add->skip_walk >= 0 ? add->skip_walk : base->skip_walk;
    sc->increment_post_only = add->increment_post_only >= 0
                              ? add->increment_post_only : base->increment_post_only;
    return sc;
}

static const char *set_numeric(cmd_parms *cmd, void *dummy, const char *arg)
{
    hl_server_conf *sc = server_conf(cmd->server);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    if (err)
        return err;
    return hl_config_set(cmd->pool, &sc->cfg,
                         (hl_directive_id)(apr_uintptr_t)cmd->info, arg);
}

/* "off" (alone) turns off in a host what it would inherit. */
static const char *add_fast_path(cmd_parms *cmd, void *dummy, const char *arg)
{
    hl_server_conf *sc = server_conf(cmd->server);
    int off = strcasecmp(arg, "off") == 0;
    if (!off && arg[0] != '/')
        return apr_psprintf(cmd->pool, "HyperlaneFastPath: '%s' is not a URL "
                            "path (it must start with /) nor off", arg);
    if (!sc->fast_paths)
        sc->fast_paths = apr_array_make(cmd->pool, 2, sizeof(const char *));
    else if (off || (sc->fast_paths->nelts == 0))
        return "HyperlaneFastPath: off stands alone";
    if (!off)
        APR_ARRAY_PUSH(sc->fast_paths, const char *) = arg;
    return NULL;
}

/* An origin as browsers send it, "scheme://host[:port]", written with its
 * port so that equal origins compare equal as strings; NULL if it is not
 * an http(s) origin. */
static const char *origin_key(apr_pool_t *p, const char *origin)
{
    apr_uri_t u;
    if (apr_uri_parse(p, origin, &u) != APR_SUCCESS || !u.scheme || !u.hostname
        || u.user || u.query || u.fragment || (u.path && strcmp(u.path, "/"))
        || (strcasecmp(u.scheme, "http") && strcasecmp(u.scheme, "https")))
        return NULL;
    return apr_psprintf(p, "%s://%s:%u", apr_pstrdup(p, u.scheme),
                        u.hostname, u.port ? u.port
                                           : apr_uri_port_of_scheme(u.scheme));
}

static const char *add_trusted_origin(cmd_parms *cmd, void *dummy,
                                      const char *arg)
{
    hl_server_conf *sc = server_conf(cmd->server);
    char *key = (char *)origin_key(cmd->pool, arg);
    if (!key)
        return apr_psprintf(cmd->pool, "HyperlaneTrustedOrigin: '%s' is not "
                            "an origin such as https://example.com:8443", arg);
    ap_str_tolower(key);
    if (!sc->trusted_origins)
        sc->trusted_origins = apr_array_make(cmd->pool, 2, sizeof(const char *));
    APR_ARRAY_PUSH(sc->trusted_origins, const char *) = key;
    return NULL;
}

static const char *set_flag(cmd_parms *cmd, void *dummy, int on)
{
    hl_server_conf *sc = server_conf(cmd->server);
    *(int *)((char *)sc + (apr_uintptr_t)cmd->info) = on;
    return NULL;
}

/* Every directive, from its one definition in src/hl_directives.def. */
static const command_rec hl_directives[] = {
#define HL_NUMERIC(ID, name, min, max, dflt, is_bytes, help) \
    AP_INIT_TAKE1(name, set_numeric, (void *)(apr_uintptr_t)HL_D_##ID, \
                  RSRC_CONF, help),
#define HL_HOST_FLAG(field, name, dflt, help) \
    AP_INIT_FLAG(name, set_flag, (void *)APR_OFFSETOF(hl_server_conf, field), \
                 RSRC_CONF, help),
#define HL_HOST_LIST(setter, name, dflt, help) \
    AP_INIT_ITERATE(name, setter, NULL, RSRC_CONF, help),
#include "src/hl_directives.def"
    { NULL }
};

/* ------------------------------------------------------------------ */
/* 2. Hooks                                                            */

/* The lock's default mechanism is fcntl where there is one: the kernel
 * drops it with a process that dies holding it (as it must: a killed child
 * may not deadlock the server), and under contention it measured twice as
 * fast as APR's default on Linux, a robust priority-inheritance pthread
 * mutex, whose strict hand-off makes every contended cache operation a
 * context switch (bench/RESULTS.md).  The Mutex directive still decides. */
#if APR_HAS_FCNTL_SERIALIZE
#define HL_MUTEX_DEFAULT APR_LOCK_FCNTL
#else
#define HL_MUTEX_DEFAULT APR_LOCK_DEFAULT
#endif

static int hl_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    return ap_mutex_register(pconf, HL_MUTEX_TYPE, NULL, HL_MUTEX_DEFAULT, 0);
}

static hl_shm_params shm_params_of(const hl_config *cfg)
{
    hl_shm_params sp;
    memset(&sp, 0, sizeof(sp));
    sp.history_capacity = (apr_uint32_t)hl_config_get(cfg, HL_D_HISTORY_SIZE);
    sp.cache_bytes = (apr_size_t)hl_config_get(cfg, HL_D_CACHE_SIZE);
    sp.cache_max_key = (apr_size_t)hl_config_get(cfg, HL_D_CACHE_MAX_KEY);
    sp.cache_max_value = (apr_size_t)hl_config_get(cfg, HL_D_CACHE_MAX_VALUE);
    return sp;
}

static const char *origin_text(hl_store_origin origin)
{
    switch (origin) {
    case HL_STORE_REUSED:   return "kept across the restart";
    case HL_STORE_MIGRATED: return "re-laid out for new sizes, state copied";
    case HL_STORE_REPLACED: return "replaced, empty: the old one was laid out "
                                   "by another version of the module";
    default:                return "created";
    }
}

/* The mounts are the <Location> sections that say "SetHandler hyperlane";
 * reading them from the parsed configuration lets a nested <Location> that
 * only adds a Require below a mount leave the routes relative to the mount.
 * Each mount remembers the <VirtualHost> it stands in (NULL: main server,
 * which every host inherits). */
typedef struct hl_mount_def {
    const char *path;
    const ap_directive_t *vhost;
} hl_mount_def;

static const char *location_path(apr_pool_t *p, const ap_directive_t *d)
{
    char *args = apr_pstrdup(p, d->args);
    char *gt = strrchr(args, '>');
    const char *path;
    if (gt)
        *gt = '\0';
    path = ap_getword_conf(p, (const char **)&args);
    return *path && strcmp(path, "~") != 0 ? path : NULL;
}

static void find_mounts(const ap_directive_t *d, const char *location,
                        const ap_directive_t *vhost, apr_array_header_t *found,
                        apr_pool_t *p)
{
    for (; d; d = d->next) {
        if (strcasecmp(d->directive, "<VirtualHost") == 0) {
            find_mounts(d->first_child, NULL, d, found, p);
        }
        else if (strcasecmp(d->directive, "<Location") == 0) {
            const char *path = location_path(p, d);
            if (path)
                find_mounts(d->first_child, path, vhost, found, p);
        }
        else if (location && strcasecmp(d->directive, "SetHandler") == 0
                 && strcasecmp(d->args, HL_HANDLER) == 0) {
            hl_mount_def *m = apr_array_push(found);
            m->path = location;
            m->vhost = vhost;
        }
        else if (d->first_child) {
            find_mounts(d->first_child, location, vhost, found, p);
        }
    }
}

static int mount_applies(const hl_mount_def *m, const server_rec *s)
{
    return !m->vhost || (s->defn_name && (int)s->defn_line_number == m->vhost->line_num
                         && strcmp(s->defn_name, m->vhost->filename) == 0);
}

/* The key is a server_rec pointer, looked up on every request: its bits
 * are hash enough, where APR's default function walks the key byte by
 * byte. */
static unsigned int hash_server_key(const char *key, apr_ssize_t *klen)
{
    apr_uint64_t bits = 0;
    if (*klen != (apr_ssize_t)sizeof(server_rec *))
        return apr_hashfunc_default(key, klen);
    memcpy(&bits, key, sizeof(server_rec *));
    /* APR takes the low bits: a multiply's high half mixes them all. */
    return (unsigned int)((bits * 0x9E3779B97F4A7C15ull) >> 32);
}

/* A host's fast paths: only the prefixes where the module is mounted for
 * that host; a prefix it inherited from the main server and does not
 * mount stays its own (files, other handlers, its own Require). */
static apr_array_header_t *host_fast_paths(server_rec *s,
                                           const apr_array_header_t *mounts,
                                           apr_pool_t *p)
{
    const apr_array_header_t *wanted = server_conf(s)->fast_paths;
    apr_array_header_t *paths = apr_array_make(p, 2, sizeof(const char *));
    int i, j;
    for (i = 0; wanted && i < wanted->nelts; i++) {
        const char *prefix = APR_ARRAY_IDX(wanted, i, const char *);
        for (j = 0; j < mounts->nelts; j++)
            if (strcmp(prefix, APR_ARRAY_IDX(mounts, j, const char *)) == 0)
                break;
        if (j < mounts->nelts)
            APR_ARRAY_PUSH(paths, const char *) = prefix;
        else
            ap_log_error(APLOG_MARK, s->is_virtual ? APLOG_NOTICE : APLOG_WARNING,
                         0, s, "mod_hyperlane: HyperlaneFastPath %s is not "
                         "used for %s: no <Location %s> with SetHandler "
                         "hyperlane applies there", prefix,
                         s->server_hostname ? s->server_hostname : "-", prefix);
    }
    return paths;
}

/* Gives every server its hl_host, in a hash by server_rec. */
static apr_hash_t *assign_hosts(server_rec *main_server, apr_pool_t *p)
{
    apr_array_header_t *found = apr_array_make(p, 4, sizeof(hl_mount_def));
    apr_hash_t *by_server = apr_hash_make_custom(p, hash_server_key);
    server_rec *s;
    int i;

    find_mounts(ap_conftree, NULL, NULL, found, p);
    for (s = main_server; s; s = s->next) {
        apr_array_header_t *mounts = apr_array_make(p, 4, sizeof(const char *));
        server_rec **key = apr_pmemdup(p, &s, sizeof(s));
        hl_host *host = apr_pcalloc(p, sizeof(*host));
        host->mounts = mounts;
        apr_hash_set(by_server, key, sizeof(*key), host);
        for (i = 0; i < found->nelts; i++) {
            const hl_mount_def *m = &APR_ARRAY_IDX(found, i, hl_mount_def);
            if (mount_applies(m, s))
                APR_ARRAY_PUSH(mounts, const char *) = m->path;
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s,
                         "mod_hyperlane: mount %s (%s:%d) %s %s (%s:%d)",
                         m->path, m->vhost ? m->vhost->filename : "main server",
                         m->vhost ? m->vhost->line_num : 0,
                         mount_applies(m, s) ? "applies to" : "skips",
                         s->server_hostname, s->defn_name ? s->defn_name : "-",
                         (int)s->defn_line_number);
        }
        host->fast_paths = host_fast_paths(s, mounts, p);
    }
    return by_server;
}

static hl_host *host_of(server_rec *s)
{
    return runtime ? apr_hash_get(runtime->hosts, &s, sizeof(s)) : NULL;
}

static apr_array_header_t *mounts_of(server_rec *s)
{
    hl_host *host = host_of(s);
    return host ? host->mounts : NULL;
}

static int hl_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                          apr_pool_t *ptemp, server_rec *s)
{
    apr_pool_t *life = s->process->pool;
    hl_config *cfg = &server_conf(s)->cfg;
    apr_array_header_t *mounts;
    hl_runtime *rt = NULL;
    hl_shm_params sp = shm_params_of(cfg);
    hl_store_origin origin;
    apr_status_t rv;

    /* The parent's first pass only checks the configuration: shared
     * resources wait for the real one. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;

    apr_pool_userdata_get((void **)&rt, HL_RUNTIME_KEY, life);
    if (!rt) {
        rt = apr_pcalloc(life, sizeof(*rt));
        /* Made once for the life of the parent: old and new children must
         * share one lock during a graceful restart. */
        rv = ap_global_mutex_create(&rt->mutex, NULL, HL_MUTEX_TYPE, NULL, s,
                                    life, 0);
        if (rv != APR_SUCCESS)
            return HTTP_INTERNAL_SERVER_ERROR;
        apr_pool_userdata_set(rt, HL_RUNTIME_KEY, apr_pool_cleanup_null, life);
    }
    rv = hl_store_shm_open(&rt->store, &sp, rt->store, rt->mutex, life, &origin);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     "mod_hyperlane: cannot create the shared store");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    rv = hl_limits_open(&rt->limits, rt->limits, life);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     "mod_hyperlane: cannot create the concurrency limits");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    rt->cfg = *cfg;
    rt->mpm = ap_show_mpm();
    rt->hosts = assign_hosts(s, pconf);
    runtime = rt;
    mounts = mounts_of(s);
    {
        hl_store_usage u;
        hl_store_usage_read(rt->store, &u);
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                     "mod_hyperlane: shared store %s: %" APR_SIZE_T_FMT
                     " bytes, history %u, generation %" APR_UINT64_T_FMT
                     ", mutex %s, mpm %s, mounted at %s", origin_text(origin),
                     u.size_bytes, sp.history_capacity, u.generation,
                     apr_global_mutex_name(rt->mutex), rt->mpm,
                     mounts->nelts ? apr_array_pstrcat(ptemp, mounts, ' ')
                                       : "(no <Location> with SetHandler hyperlane)");
    }
    return OK;
}

/* In the parent: a child that exited gives back what it held of the
 * concurrency limits at once, not when the limit is next hit.  Only
 * whole words at fixed places are read (hl_limiter.h), so the parent
 * trusts nothing the children wrote. */
static void hl_child_status(server_rec *s, pid_t pid, ap_generation_t gen,
                            int slot, mpm_child_status state)
{
    apr_uint32_t given = 0;
    if (state != MPM_CHILD_EXITED || !runtime || !runtime->limits)
        return;
    hl_limits_reclaim(runtime->limits, (apr_int32_t)pid, &given);
    if (given)
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "mod_hyperlane: child %"
                     APR_PID_T_FMT " exited holding %u admission(s); given "
                     "back", pid, given);
}

static void hl_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_status_t rv;
    if (!runtime)
        return;
    rv = hl_store_child_init(runtime->store, pchild);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     "mod_hyperlane: cannot re-attach the %s mutex in child",
                     HL_MUTEX_TYPE);
        exit(APEXIT_CHILDSICK);
    }
    runtime->pid = (apr_int32_t)getpid();
    if (hl_procinfo_reader_open(&runtime->procinfo, pchild) != APR_SUCCESS)
        runtime->procinfo = NULL;   /* each reading opens the file itself */
    else
        hl_procinfo_reader_max_age(runtime->procinfo, apr_time_from_msec(
            hl_config_get(&runtime->cfg, HL_D_MEMORY_MAX_AGE)));
    rv = hl_bufpool_create(&runtime->bufpool,
                           (apr_size_t)hl_config_get(&runtime->cfg, HL_D_POOL_BUFFERS),
                           (apr_size_t)hl_config_get(&runtime->cfg, HL_D_POOL_BUFFER_SIZE),
                           pchild);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     "mod_hyperlane: cannot create this child's buffer pool");
        exit(APEXIT_CHILDSICK);
    }
}

/* ------------------------------------------------------------------ */
/* 4. Endpoints (the handler, part 3, is below them)                   */

static hl_jsonw *new_reply(request_rec *r)
{
    hl_jsonw *w = apr_palloc(r->pool, sizeof(*w));
    hl_jsonw_init(w, r->pool);
    return w;
}

static int send_json(request_rec *r, int status, hl_jsonw *w)
{
    apr_size_t len;
    const char *body = hl_jsonw_text(w, &len);
    r->status = status;
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only)
        ap_rwrite(body, (int)len, r);
    return OK;
}

static const char *error_text(request_rec *r, int status, const char *message)
{
    apr_size_t len;
    hl_jsonw *w = new_reply(r);
    hl_json_error(w, status, message);
    return hl_jsonw_text(w, &len);
}

static int send_error(request_rec *r, int status, const char *message)
{
    hl_jsonw *w = new_reply(r);
    hl_json_error(w, status, message);
    return send_json(r, status, w);
}

static int store_failure(request_rec *r, apr_status_t rv, const char *what)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                  "mod_hyperlane: %s failed", what);
    return send_error(r, HTTP_INTERNAL_SERVER_ERROR,
                      apr_psprintf(r->pool, "%s failed", what));
}

/* Concurrency limits (hl_limiter): at most HyperlaneCacheMaxConcurrent
 * cache operations and HyperlaneBenchmarkMaxConcurrent benchmark runs are
 * in flight over all processes.  One more waits a short, bounded time for
 * a slot, then is refused with 503 and Retry-After, and counted as
 * rejected.  A slot is for work, never for waiting on a client: a request
 * body is read before its request is admitted.  A slot is given back by
 * limit_done, or by the request pool's cleanup if the request ends first. */
#define HL_ADMIT_WAIT_USEC 50000

typedef struct hl_admission {
    hl_limiter *limiter;
    apr_int32_t pid;
} hl_admission;

static apr_status_t admission_release(void *data)
{
    hl_admission *a = data;
    return hl_limiter_release(a->limiter, a->pid);
}

static hl_limiter *limiter_of(hl_limit_kind kind)
{
    return hl_limits_get(runtime->limits, kind);
}

static apr_uint32_t limit_of(hl_limit_kind kind)
{
    return (apr_uint32_t)hl_config_get(&runtime->cfg, kind == HL_LIMIT_CACHE
                                       ? HL_D_CACHE_MAX_CONCURRENT
                                       : HL_D_BENCHMARK_MAX_CONCURRENT);
}

/* OK with *out set, or the error answer has been sent. */
static int limit_admit(request_rec *r, hl_limit_kind kind, const char *busy,
                       hl_admission **out)
{
    hl_admission *a = apr_palloc(r->pool, sizeof(*a));
    apr_status_t rv;

    a->limiter = limiter_of(kind);
    a->pid = runtime->pid;
    rv = hl_limiter_admit_wait(a->limiter, limit_of(kind), a->pid,
                               HL_ADMIT_WAIT_USEC);
    if (rv == APR_EBUSY) {
        apr_table_setn(r->headers_out, "Retry-After", "1");
        send_error(r, HTTP_SERVICE_UNAVAILABLE, busy);
        return HTTP_SERVICE_UNAVAILABLE;
    }
    if (rv != APR_SUCCESS) {
        store_failure(r, rv, "admission");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    apr_pool_cleanup_register(r->pool, a, admission_release, apr_pool_cleanup_null);
    *out = a;
    return OK;
}

static void limit_done(request_rec *r, hl_admission *a)
{
    apr_pool_cleanup_run(r->pool, a, admission_release);
}

static int cache_admit(request_rec *r, hl_admission **out)
{
    return limit_admit(r, HL_LIMIT_CACHE,
                       "Too many cache operations in flight; retry later", out);
}

static const hl_memory_figures *memory_figures(request_rec *r,
                                               hl_memory_figures *m)
{
    memset(m, 0, sizeof(*m));
    if (hl_procinfo_read(runtime->procinfo, &m->proc) != APR_SUCCESS)
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      "mod_hyperlane: cannot read this process's memory figures");
    hl_store_usage_read(runtime->store, &m->store);
    m->mpm = runtime->mpm;
    return m;
}

static int ep_index(request_rec *r, const hl_route *route, const char *mount)
{
    hl_jsonw *w = new_reply(r);
    hl_json_index(w, mount, hl_router_table());
    return send_json(r, HTTP_OK, w);
}

/* A body that comes with a request the module does not read is dropped
 * before any state changes, so that a broken or oversized one is refused
 * and counts nothing.  A request that names no body has nothing to drop:
 * asking the input filters anyway cost 500 instructions per increment, and
 * Apache drops whatever is left after the handler in any case.  (httpd's
 * ap_request_has_body says no for every HEAD, whose body would then go
 * unchecked until after the increment.) */
static int drop_body(request_rec *r)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    if (!r->kept_body && !apr_table_get(r->headers_in, "Transfer-Encoding")
        && (!cl || strcmp(cl, "0") == 0))
        return OK;
    return ap_discard_request_body(r);
}

static int ep_counter_increment(request_rec *r, const hl_route *route,
                                const char *mount)
{
    apr_uint64_t value;
    apr_status_t rv;
    hl_memory_figures m;
    hl_jsonw *w;
    rv = hl_store_counter_increment(runtime->store, runtime->pid, &value);
    if (rv != APR_SUCCESS)
        return store_failure(r, rv, "counter increment");
    w = new_reply(r);
    hl_json_counter_increment(w, value, memory_figures(r, &m));
    return send_json(r, HTTP_OK, w);
}

static int ep_counter_stats(request_rec *r, const hl_route *route,
                            const char *mount)
{
    hl_counter_snapshot snap;
    apr_status_t rv = hl_store_counter_snapshot(runtime->store, HL_RECENT_MAX,
                                                &snap);
    hl_memory_figures m;
    hl_jsonw *w;
    if (rv != APR_SUCCESS)
        return store_failure(r, rv, "counter stats");
    w = new_reply(r);
    hl_json_counter_stats(w, &snap, memory_figures(r, &m));
    return send_json(r, HTTP_OK, w);
}

/* Feeds the request body to consume() bucket by bucket, where each bucket
 * lies: nothing is copied and the body is never held whole, so memory stays
 * flat whatever its size.  Returns HTTP_OK when the whole body was
 * consumed; otherwise the answer has been sent already (413 over a limit,
 * 400 for a broken body) and the status it carried is returned. */
typedef void (*hl_consume_fn)(void *ctx, const char *data, apr_size_t len);

#define HL_JSON_ERRORS_NOTE "hyperlane-json-errors"

static int body_too_large(request_rec *r, apr_off_t limit)
{
    /* The rest of the body stays unread: the connection cannot be reused. */
    r->connection->keepalive = AP_CONN_CLOSE;
    send_error(r, HTTP_REQUEST_ENTITY_TOO_LARGE,
               apr_psprintf(r->pool, "Request body larger than %" APR_OFF_T_FMT
                            " bytes", limit));
    return HTTP_REQUEST_ENTITY_TOO_LARGE;
}

static int body_read_failed(request_rec *r, apr_status_t rv, apr_off_t seen)
{
    if (rv == AP_FILTER_ERROR)      /* answered by Apache's input filter */
        return AP_FILTER_ERROR;
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, rv, r,
                  "mod_hyperlane: %s: request body ended after %" APR_OFF_T_FMT
                  " bytes (client stopped sending or sent a broken body)",
                  r->uri, seen);
    r->connection->keepalive = AP_CONN_CLOSE;
    send_error(r, HTTP_BAD_REQUEST, "Request body incomplete or malformed");
    return HTTP_BAD_REQUEST;
}

/* When Apache's own HTTP input filter refuses a body (a chunked body that
 * outgrows LimitRequestBody, a bad chunk header) it answers by itself;
 * these custom responses, with the JSON error filter below, keep that
 * answer JSON too. */
static void json_core_errors(request_rec *r, apr_off_t core_limit)
{
    ap_custom_response(r, HTTP_REQUEST_ENTITY_TOO_LARGE, error_text(
        r, HTTP_REQUEST_ENTITY_TOO_LARGE, apr_psprintf(
            r->pool, "Request body larger than %" APR_OFF_T_FMT " bytes",
            core_limit)));
    ap_custom_response(r, HTTP_BAD_REQUEST, error_text(
        r, HTTP_BAD_REQUEST, "Request body incomplete or malformed"));
    apr_table_setn(r->notes, HL_JSON_ERRORS_NOTE, "1");
}

/* The module's own body limit for the process endpoints: HyperlaneMaxBody,
 * where 0 means none of its own (-1 here). */
static apr_off_t max_body(void)
{
    apr_off_t limit = (apr_off_t)hl_config_get(&runtime->cfg, HL_D_MAX_BODY);
    return limit > 0 ? limit : -1;
}

/* own: the endpoint's limit in bytes, -1 for none. */
static int stream_body(request_rec *r, apr_off_t own, hl_consume_fn consume,
                       void *ctx)
{
    apr_off_t core_limit = ap_get_limit_req_body(r);
    apr_off_t seen = 0;
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    apr_bucket_brigade *bb;
    int done = 0;

    if (own >= 0 && cl && apr_atoi64(cl) > own)
        return body_too_large(r, own);
    if (core_limit > 0 && cl && apr_atoi64(cl) > core_limit)
        return body_too_large(r, core_limit);
    json_core_errors(r, core_limit);
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    while (!done) {
        apr_bucket *b;
        apr_status_t rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES,
                                         APR_BLOCK_READ, HUGE_STRING_LEN * 8);
        if (rv != APR_SUCCESS)
            return body_read_failed(r, rv, seen);
        for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
             b = APR_BUCKET_NEXT(b)) {
            const char *data;
            apr_size_t len;
            if (APR_BUCKET_IS_EOS(b)) {
                done = 1;
                break;
            }
            if (APR_BUCKET_IS_METADATA(b))
                continue;
            rv = apr_bucket_read(b, &data, &len, APR_BLOCK_READ);
            if (rv != APR_SUCCESS)
                return body_read_failed(r, rv, seen);
            seen += (apr_off_t)len;
            if (own >= 0 && seen > own)
                return body_too_large(r, own);
            consume(ctx, data, len);
        }
        apr_brigade_cleanup(bb);
    }
    return HTTP_OK;
}

/* Error answers that Apache writes itself for our requests say text/html;
 * ours are JSON (see json_core_errors). */
static apr_status_t json_error_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    ap_set_content_type(f->r, "application/json");
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

static void hl_insert_error_filter(request_rec *r)
{
    if (apr_table_get(r->notes, HL_JSON_ERRORS_NOTE))
        ap_add_output_filter("HYPERLANE_JSON_ERROR", NULL, r, r->connection);
}

/* An endpoint's answer after stream_body: the error was sent already. */
static int body_answered(int rc)
{
    return rc == AP_FILTER_ERROR ? AP_FILTER_ERROR : OK;
}

static void consume_checksum(void *ctx, const char *data, apr_size_t len)
{
    hl_checksum_update(ctx, data, len);
}

static int ep_process(request_rec *r, const hl_route *route, const char *mount)
{
    hl_jsonw *w;
    hl_checksum sum;
    int rc;
    hl_checksum_init(&sum, (apr_size_t)hl_config_get(&runtime->cfg, HL_D_CHUNK_SIZE));
    rc = stream_body(r, max_body(), consume_checksum, &sum);
    if (rc != HTTP_OK)
        return body_answered(rc);
    w = new_reply(r);
    hl_json_process(w, &sum);
    return send_json(r, HTTP_OK, w);
}

static void consume_pooled(void *ctx, const char *data, apr_size_t len)
{
    hl_pooled_update(ctx, data, len);
}

static int ep_process_pooled(request_rec *r, const hl_route *route,
                             const char *mount)
{
    hl_jsonw *w;
    hl_pooled work;
    hl_bufpool_stats stats;
    void *buf;
    int rc;
    /* Given back by a cleanup of the request pool, even if the request
     * is aborted half way. */
    apr_status_t rv = hl_bufpool_acquire_for(runtime->bufpool, r->pool, &buf);
    if (rv != APR_SUCCESS)
        return store_failure(r, rv, "buffer pool");
    hl_pooled_init(&work, buf, hl_bufpool_buffer_size(runtime->bufpool));
    rc = stream_body(r, max_body(), consume_pooled, &work);
    if (rc != HTTP_OK)
        return body_answered(rc);
    hl_bufpool_stats_read(runtime->bufpool, &stats);
    w = new_reply(r);
    hl_json_pooled(w, &work, &stats);
    return send_json(r, HTTP_OK, w);
}

static int ep_memory_benchmark(request_rec *r, const hl_route *route,
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
        return send_error(r, HTTP_BAD_REQUEST, error);
    /* Each run may take 256 MiB twice over: a few at once, server-wide. */
    if (limit_admit(r, HL_LIMIT_BENCHMARK, "Too many memory benchmarks "
                    "running; retry later", &a) != OK)
        return OK;
    rv = hl_membench_run_both(r->pool, n, size, &result);
    hl_limiter_stats_read(a->limiter, &runs);
    limit_done(r, a);
    if (rv == APR_ENOMEM) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, r, "mod_hyperlane: memory "
                      "benchmark of %" APR_UINT64_T_FMT " x %" APR_UINT64_T_FMT
                      " bytes ran out of memory", n, size);
        apr_table_setn(r->headers_out, "Retry-After", "5");
        return send_error(r, HTTP_SERVICE_UNAVAILABLE,
                          "Not enough memory for this benchmark; retry later");
    }
    if (rv != APR_SUCCESS)
        return store_failure(r, rv, "memory benchmark");
    w = new_reply(r);
    hl_json_membench(w, &result, &runs, limit_of(HL_LIMIT_BENCHMARK));
    return send_json(r, HTTP_OK, w);
}

/* The cache.  A key is the rest of the path after cache/, percent-decoded
 * here (so it may hold any byte), checked before anything is stored. */
typedef struct hl_key {
    char *bytes;
    apr_size_t len;
} hl_key;

static int parse_key(request_rec *r, const hl_route *route, hl_key *key)
{
    apr_size_t max = (apr_size_t)hl_config_get(&runtime->cfg, HL_D_CACHE_MAX_KEY);
    if (hl_percent_decode(r->pool, route->rest, strlen(route->rest), &key->bytes,
                          &key->len) != APR_SUCCESS) {
        send_error(r, HTTP_BAD_REQUEST, "Invalid percent-encoding in key");
        return HTTP_BAD_REQUEST;
    }
    if (key->len == 0) {
        send_error(r, HTTP_BAD_REQUEST, "Empty key");
        return HTTP_BAD_REQUEST;
    }
    if (key->len > max) {
        send_error(r, HTTP_REQUEST_URI_TOO_LARGE,
                   apr_psprintf(r->pool, "Key longer than %" APR_SIZE_T_FMT
                                " bytes", max));
        return HTTP_REQUEST_URI_TOO_LARGE;
    }
    return OK;
}

/* ?raw=1 asks for the stored bytes themselves. */
static int want_raw(request_rec *r, int *raw)
{
    apr_table_t *args = NULL;
    const char *v;
    ap_args_to_table(r, &args);
    v = args ? apr_table_get(args, "raw") : NULL;
    *raw = v && strcmp(v, "1") == 0;
    if (v && !*raw && strcmp(v, "0") != 0) {
        send_error(r, HTTP_BAD_REQUEST, "raw must be 0 or 1");
        return HTTP_BAD_REQUEST;
    }
    return OK;
}

/* The stored bytes are whatever a client put there: never to be sniffed
 * into a page and run in the origin of this server. */
static int send_raw(request_rec *r, const char *data, apr_size_t len)
{
    ap_set_content_type(r, "application/octet-stream");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    apr_table_setn(r->headers_out, "Content-Disposition", "attachment");
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only)
        ap_rwrite(data, (int)len, r);
    return OK;
}

static int send_cache_miss(request_rec *r, const hl_key *key)
{
    hl_jsonw *w = new_reply(r);
    hl_json_cache_miss(w, key->bytes, key->len);
    return send_json(r, HTTP_NOT_FOUND, w);
}

static int cache_get(request_rec *r, const hl_key *key)
{
    hl_jsonw *w;
    hl_cache_result res;
    hl_admission *a;
    apr_status_t rv;
    int raw;

    if (want_raw(r, &raw) != OK || cache_admit(r, &a) != OK)
        return OK;
    rv = hl_store_cache_get(runtime->store, r->pool, key->bytes, key->len,
                            apr_time_now(), &res);
    limit_done(r, a);
    if (rv == APR_NOTFOUND)
        return send_cache_miss(r, key);
    if (rv != APR_SUCCESS)
        return store_failure(r, rv, "cache get");
    if (raw)
        return send_raw(r, res.value, res.vlen);
    w = new_reply(r);
    hl_json_cache_hit(w, key->bytes, key->len, &res);
    return send_json(r, HTTP_OK, w);
}

typedef struct hl_value_buf {
    apr_pool_t *pool;
    char *data;
    apr_size_t len, cap;
} hl_value_buf;

static void consume_value(void *ctx, const char *data, apr_size_t len)
{
    hl_value_buf *v = ctx;
    if (v->len + len > v->cap) {
        apr_size_t cap = v->cap ? v->cap : 4096;
        char *bigger;
        while (cap < v->len + len)
            cap *= 2;
        bigger = apr_palloc(v->pool, cap);
        if (v->len)
            memcpy(bigger, v->data, v->len);
        v->data = bigger;
        v->cap = cap;
    }
    memcpy(v->data + v->len, data, len);
    v->len += len;
}

/* The value is the request body, at most HyperlaneCacheMaxValue bytes
 * (and HyperlaneMaxBody); a larger one is refused with 413 and nothing is
 * stored.  The whole body is read before the set is admitted: a slow
 * client holds a worker of its own, never a slot of the limit. */
static int cache_set(request_rec *r, const hl_key *key)
{
    hl_jsonw *w;
    apr_off_t limit = (apr_off_t)hl_config_get(&runtime->cfg, HL_D_CACHE_MAX_VALUE);
    hl_value_buf value = { r->pool, NULL, 0, 0 };
    hl_admission *a;
    apr_status_t rv;
    int replaced = 0, rc;

    if (max_body() >= 0 && max_body() < limit)
        limit = max_body();
    rc = stream_body(r, limit, consume_value, &value);
    if (rc != HTTP_OK)
        return body_answered(rc);
    if (cache_admit(r, &a) != OK)
        return OK;
    rv = hl_store_cache_set(runtime->store, key->bytes, key->len,
                            value.data ? value.data : "", value.len,
                            apr_time_now(), apr_time_from_sec(
                                hl_config_get(&runtime->cfg, HL_D_CACHE_TTL)),
                            &replaced);
    limit_done(r, a);
    if (rv == APR_ENOSPC)
        return send_error(r, HTTP_REQUEST_ENTITY_TOO_LARGE,
                          "Value does not fit in the cache (HyperlaneCacheSize)");
    if (rv != APR_SUCCESS)
        return store_failure(r, rv, "cache set");
    w = new_reply(r);
    hl_json_cache_set(w, key->bytes, key->len,
                      value.data ? value.data : "", value.len, replaced);
    return send_json(r, replaced ? HTTP_OK : HTTP_CREATED, w);
}

static int cache_delete(request_rec *r, const hl_key *key)
{
    hl_jsonw *w;
    hl_admission *a;
    apr_status_t rv;
    if (cache_admit(r, &a) != OK)
        return OK;
    rv = hl_store_cache_delete(runtime->store, key->bytes, key->len,
                               apr_time_now());
    limit_done(r, a);
    if (rv == APR_NOTFOUND)
        return send_cache_miss(r, key);
    if (rv != APR_SUCCESS)
        return store_failure(r, rv, "cache delete");
    w = new_reply(r);
    hl_json_cache_deleted(w, key->bytes, key->len);
    return send_json(r, HTTP_OK, w);
}

static int ep_cache_key(request_rec *r, const hl_route *route, const char *mount)
{
    hl_key key;
    if (parse_key(r, route, &key) != OK)
        return OK;
    switch (hl_router_method_bit(r->method)) {
    case HL_M_POST:
    case HL_M_PUT:    return cache_set(r, &key);
    case HL_M_DELETE: return cache_delete(r, &key);
    default:          return cache_get(r, &key);
    }
}

static int ep_cache_stats(request_rec *r, const hl_route *route,
                          const char *mount)
{
    hl_jsonw *w;
    hl_cache_stats stats;
    hl_limiter_stats ls;
    hl_admission *a;
    apr_status_t rv;
    /* It takes the store's lock: under the limit like every operation. */
    if (cache_admit(r, &a) != OK)
        return OK;
    rv = hl_store_cache_stats(runtime->store, &stats);
    limit_done(r, a);
    if (rv != APR_SUCCESS)
        return store_failure(r, rv, "cache stats");
    hl_limiter_stats_read(limiter_of(HL_LIMIT_CACHE), &ls);
    w = new_reply(r);
    hl_json_cache_stats(w, &stats, &ls, limit_of(HL_LIMIT_CACHE));
    return send_json(r, HTTP_OK, w);
}

typedef int (*hl_endpoint_fn)(request_rec *r, const hl_route *route,
                              const char *mount);

/* The handlers of src/hl_endpoints.def, by endpoint. */
static const hl_endpoint_fn handlers[HL_EP_COUNT] = {
#define HL_ENDPOINT(ID, path, is_prefix, methods, flags, handler) \
    [HL_EP_##ID] = handler,
#include "src/hl_endpoints.def"
};

/* Runs a routed endpoint.  A body that comes with a request the endpoint
 * does not read is dropped first (drop_body). */
static int run_endpoint(request_rec *r, const hl_route *route,
                        const char *mount)
{
    unsigned m = hl_router_method_bit(r->method);
    if (!(route->flags & HL_RF_READS_BODY) || (m != HL_M_POST && m != HL_M_PUT)) {
        int rc = drop_body(r);
        if (rc != OK)
            return rc;
    }
    return handlers[route->endpoint](r, route, mount);
}

/* ------------------------------------------------------------------ */
/* 3. Handler                                                          */

/* The path as the client sent it, still percent-encoded: Apache decodes
 * r->uri (and parsed_uri.path) in place, and cache keys are decoded once,
 * by the router, from the raw bytes. */
static const char *raw_path(request_rec *r)
{
    const char *u = r->unparsed_uri, *q;
    if (!u || *u != '/') {          /* "GET http://host/path?query" */
        const char *scheme = u ? strstr(u, "://") : NULL;
        if (!scheme)
            return NULL;
        u = scheme + 3 + strcspn(scheme + 3, "/?");
        if (*u != '/')
            return NULL;
    }
    q = strchr(u, '?');
    return q ? apr_pstrmemdup(r->pool, u, (apr_size_t)(q - u)) : u;
}

/* Only a raw path that names what r->uri names is answered: Apache decodes
 * it, removes dot segments and merges slashes, and its <Location> sections
 * (with their Require) match that result.  A raw path that normalises to
 * something else ("/hl/cache/x/../../counter/stats", or with %2e for the
 * dots) would let the module answer a request that access control saw as
 * another one. */
static int in_normal_form(const char *path)
{
    const char *p;
    for (p = path; (p = strchr(p, '/')) != NULL; p++) {
        if (p[1] == '/')
            return 0;
        if (p[1] == '.' && (p[2] == '/' || p[2] == '\0'
                            || (p[2] == '.' && (p[3] == '/' || p[3] == '\0'))))
            return 0;
    }
    return 1;
}

static int names_what_uri_names(request_rec *r, const char *raw)
{
    core_dir_config *d = ap_get_core_module_config(r->per_dir_config);
    char *decoded;
    int rc;

    if (!in_normal_form(raw))
        return 0;
    if (!strchr(raw, '%'))
        return strcmp(raw, r->uri) == 0;
    /* Decoded, it must still be in normal form (%2e%2e is a dot segment to
     * Apache, and an encoded slash that Apache would refuse fails here). */
    decoded = apr_pstrdup(r->pool, raw);
    rc = d->allow_encoded_slashes
         ? ap_unescape_url_keep2f(decoded, d->decode_encoded_slashes)
         : ap_unescape_url(decoded);
    if (rc != OK || !in_normal_form(decoded))
        return 0;
    /* r->uri is decoded by map_to_storage; in the quick handler it is
     * still the raw path, neither decoded nor normalised. */
    return strcmp(decoded, r->uri) == 0 || strcmp(raw, r->uri) == 0;
}

static const char *routable_path(request_rec *r)
{
    const char *raw = raw_path(r);
    return raw && names_what_uri_names(r, raw) ? raw : NULL;
}

/* Where a request was routed; map_to_storage leaves it on the request so
 * that the handler does not route it again. */
typedef struct hl_routed {
    const char *mount;
    hl_route route;
} hl_routed;

static hl_routed *route_request(request_rec *r, const char *path,
                                 const char *section)
{
    hl_routed *rt = apr_palloc(r->pool, sizeof(*rt));
    if (hl_router_resolve(path, mounts_of(r->server), section,
                          hl_router_method_bit(r->method), &rt->mount,
                          &rt->route) != APR_SUCCESS)
        return NULL;
    return rt;
}

/* Cross-site requests that would change state or start real work are
 * refused: a page in a browser that Require lets in (Require local, an
 * office's addresses) must not be able to drive the module.  Fetch
 * Metadata decides where the browser sends it; else an Origin must name
 * the request's own host and port, or one of HyperlaneTrustedOrigin.
 * Requests with neither header (curl, servers) are not from a page. */
static int guarded(request_rec *r, const hl_route *route)
{
    unsigned m = hl_router_method_bit(r->method);
    return (m != HL_M_GET && m != HL_M_HEAD) || (route->flags & HL_RF_GUARD_GET);
}

static int origin_is_trusted(request_rec *r, const char *origin)
{
    const apr_array_header_t *trusted = server_conf(r->server)->trusted_origins;
    const char *host_header = apr_table_get(r->headers_in, "Host");
    char *key = (char *)origin_key(r->pool, origin), *host, *scope, *own;
    apr_port_t port = 0;
    int i;

    if (!key)
        return 0;
    ap_str_tolower(key);
    for (i = 0; trusted && i < trusted->nelts; i++)
        if (strcmp(key, APR_ARRAY_IDX(trusted, i, const char *)) == 0)
            return 1;
    /* Its own host: the Host header's name and port, whatever the scheme
     * (a proxy in front may end TLS). */
    if (!host_header || apr_parse_addr_port(&host, &scope, &port, host_header,
                                            r->pool) != APR_SUCCESS || !host)
        return 0;
    own = apr_psprintf(r->pool, "%s:%u", host, port ? port : ap_default_port(r));
    ap_str_tolower(own);
    key = strstr(key, "://");
    return key && strcmp(key + 3, own) == 0;
}

static const char *cross_site(request_rec *r)
{
    const char *site = apr_table_get(r->headers_in, "Sec-Fetch-Site");
    const char *origin = apr_table_get(r->headers_in, "Origin");
    if (site && (strcasecmp(site, "same-origin") == 0
                 || strcasecmp(site, "none") == 0))
        return NULL;
    if (origin && origin_is_trusted(r, origin))
        return NULL;
    if (site)
        return apr_psprintf(r->pool, "Cross-site request refused "
                            "(Sec-Fetch-Site: %s)", site);
    return origin ? apr_psprintf(r->pool, "Cross-site request refused "
                                 "(Origin %s is not this server's)", origin)
                  : NULL;
}

static int hl_handler(request_rec *r)
{
    core_dir_config *core;
    hl_routed *rt;
    const char *refused;

    if (!r->handler || strcmp(r->handler, HL_HANDLER) != 0)
        return DECLINED;
    if (!runtime)
        return send_error(r, HTTP_SERVICE_UNAVAILABLE,
                          "mod_hyperlane has no shared store");
    rt = ap_get_module_config(r->request_config, &hyperlane_module);
    if (!rt) {
        /* No mount prefixes the path (a <LocationMatch>, say): the
         * innermost section's path stands in for the mount. */
        const char *path = routable_path(r);
        if (!path)
            return send_error(r, HTTP_BAD_REQUEST, "The path is not in normal "
                              "form (dot segments or doubled slashes)");
        core = ap_get_core_module_config(r->per_dir_config);
        rt = route_request(r, path, core->r ? NULL : core->d);
    }
    if (!rt)
        return send_error(r, HTTP_NOT_FOUND,
                          "mod_hyperlane must be mounted with a plain <Location>");
    if (rt->route.status == HL_ROUTE_NOT_FOUND)
        return send_error(r, HTTP_NOT_FOUND,
                          apr_psprintf(r->pool, "No endpoint at %s", r->uri));
    if (rt->route.status == HL_ROUTE_BAD_METHOD) {
        apr_table_set(r->headers_out, "Allow", rt->route.allow);
        return send_error(r, HTTP_METHOD_NOT_ALLOWED,
                          apr_psprintf(r->pool, "Method %s not allowed here; "
                                       "allowed: %s", r->method, rt->route.allow));
    }
    if (rt->route.endpoint == HL_EP_COUNTER_INCREMENT
        && server_conf(r->server)->increment_post_only == 1
        && r->method_number != M_POST) {
        apr_table_setn(r->headers_out, "Allow", "POST");
        return send_error(r, HTTP_METHOD_NOT_ALLOWED, "counter/increment takes "
                          "POST only here (HyperlaneIncrementPostOnly)");
    }
    if (guarded(r, &rt->route) && (refused = cross_site(r)) != NULL)
        return send_error(r, HTTP_FORBIDDEN, refused);
    return run_endpoint(r, &rt->route, rt->mount);
}

/* A request below a mount keeps its route for the handler.  Core then
 * walks the directories its URL maps to, as for server-status, so that
 * <Directory> and .htaccess access control applies below a mount too;
 * HyperlaneSkipDirectoryWalk On skips that walk and the file mapping (a
 * mount names no file), and with them that access control. */
static int hl_map_to_storage(request_rec *r)
{
    apr_array_header_t *mounts = mounts_of(r->server);
    const char *path;
    hl_routed *rt;
    if (!mounts || !mounts->nelts || !(path = routable_path(r))
        || !(rt = route_request(r, path, NULL))
        || rt->route.status == HL_ROUTE_NOT_FOUND)
        return DECLINED;
    ap_set_module_config(r->request_config, &hyperlane_module, rt);
    return server_conf(r->server)->skip_walk == 1 ? OK : DECLINED;
}

/* HyperlaneFastPath: the read-only endpoints (HL_RF_READ_ONLY) below the
 * given prefixes are answered here, before Apache's per-directory
 * configuration, access control and handler phases run (as mod_cache's
 * CacheQuickHandler does).  Opt-in, because it bypasses Require. */
static int hl_quick_handler(request_rec *r, int lookup_uri)
{
    hl_host *host;
    unsigned method = hl_router_method_bit(r->method);
    const char *mount, *path;
    hl_route route;

    if (lookup_uri || !(host = host_of(r->server)) || !host->fast_paths->nelts
        || (method != HL_M_GET && method != HL_M_HEAD))
        return DECLINED;
    /* Routed first: every request of the server passes here, and most are
     * below no fast path. */
    if (!(path = raw_path(r))
        || hl_router_resolve(path, host->fast_paths, NULL, method,
                          &mount, &route) != APR_SUCCESS
        || route.status != HL_ROUTE_OK || !(route.flags & HL_RF_READ_ONLY)
        || !names_what_uri_names(r, path))
        return DECLINED;
    return run_endpoint(r, &route, mount);
}

static void hl_register_hooks(apr_pool_t *p)
{
    ap_hook_quick_handler(hl_quick_handler, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_map_to_storage(hl_map_to_storage, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_pre_config(hl_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(hl_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(hl_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_status(hl_child_status, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(hl_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_insert_error_filter(hl_insert_error_filter, NULL, NULL, APR_HOOK_MIDDLE);
    ap_register_output_filter("HYPERLANE_JSON_ERROR", json_error_filter, NULL,
                              AP_FTYPE_CONTENT_SET);
}

AP_DECLARE_MODULE(hyperlane) = {
    STANDARD20_MODULE_STUFF,
    NULL,                   /* per-directory config: none, all is server-wide */
    NULL,
    create_server_config,
    merge_server_config,
    hl_directives,
    hl_register_hooks
#ifdef AP_MODULE_FLAG_NONE
    , AP_MODULE_FLAG_NONE
#endif
};
