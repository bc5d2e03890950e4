/* hl_lifecycle: the hooks that make and keep the shared resources, after
 * mod_example_ipc's discipline: pre_config registers the mutex type
 * (kept for configurations that name it: the cache's lock is its own);
 * post_config (the real pass, never the configuration check) opens the
 * store, the limits and the metrics in the parent's process pool, so that
 * they outlive graceful restarts, loads the snapshot file on the first
 * (hl_persist.c), and works out each host's mounts; child_init
 * attaches the store and makes what each process keeps; child_status
 * gives back what a dead child held of the limits. */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_mpm.h"
#include "util_mutex.h"

#include <apr_strings.h>
#include <unistd.h>

#include "hl_apache.h"

/* The mutex type "hyperlane-shm" guarded the cache until the cache got a
 * lock of its own in its region (hl_cache_lock.c, bench/RESULTS.md): it
 * stays registered, unused, so that a Mutex line naming it still parses
 * (Apache refuses a type nobody registered). */
#if APR_HAS_FCNTL_SERIALIZE
#define HL_MUTEX_DEFAULT APR_LOCK_FCNTL
#else
#define HL_MUTEX_DEFAULT APR_LOCK_DEFAULT
#endif

int hl_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    return ap_mutex_register(pconf, HL_MUTEX_TYPE, NULL, HL_MUTEX_DEFAULT, 0);
}

static hl_store_sizes sizes_of(const hl_config *cfg)
{
    hl_store_sizes z;
    memset(&z, 0, sizeof(z));
    z.history_capacity = (apr_uint32_t)hl_config_get(cfg, HL_D_HISTORY_SIZE);
    z.cache_bytes = (apr_size_t)hl_config_get(cfg, HL_D_CACHE_SIZE);
    z.cache_max_key = (apr_size_t)hl_config_get(cfg, HL_D_CACHE_MAX_KEY);
    z.cache_max_value = (apr_size_t)hl_config_get(cfg, HL_D_CACHE_MAX_VALUE);
    return z;
}

/* What a store says outside any request (an outage that starts or ends)
 * goes to the main server's log. */
static void store_log(void *baton, int level, const char *message)
{
    ap_log_error(APLOG_MARK, level, 0, (server_rec *)baton, "%s", message);
}

/* This host's name in the history entries it makes: the main server's
 * name, with its port when ServerName gives one, so that two servers on
 * one machine are told apart. */
static const char *host_name_of(server_rec *s, apr_pool_t *p)
{
    const char *name = s->server_hostname ? s->server_hostname : "";
    return s->port ? apr_psprintf(p, "%s:%u", name, (unsigned)s->port) : name;
}

int hl_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                          apr_pool_t *ptemp, server_rec *s)
{
    apr_pool_t *life = s->process->pool;
    hl_server_conf *sc = hl_server_conf_of(s);
    hl_runtime *rt = NULL;
    server_rec *each;
    hl_store_open_args open;
    const char *origin = NULL;
    hl_metrics *previous_metrics;
    apr_status_t rv;
    int kept;
    int first;

    /* The parent's first pass only checks the configuration: shared
     * resources wait for the real one. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;

    apr_pool_userdata_get((void **)&rt, HL_RUNTIME_KEY, life);
    first = !rt;
    if (!rt) {
        rt = apr_pcalloc(life, sizeof(*rt));
        apr_pool_userdata_set(rt, HL_RUNTIME_KEY, apr_pool_cleanup_null, life);
    }
    memset(&open, 0, sizeof(open));
    open.spec = sc->store_spec;
    open.sizes = sizes_of(&sc->cfg);
    open.previous = rt->store;
    open.pool = life;
    open.host = host_name_of(s, life);
    open.key_prefix = sc->redis_prefix;
    open.timeout = apr_time_from_msec(hl_config_get(&sc->cfg, HL_D_REDIS_TIMEOUT));
    open.max_connections = (int)hl_config_get(&sc->cfg, HL_D_REDIS_MAX_CONNECTIONS);
    open.log = store_log;
    open.log_baton = s;
    rv = hl_store_open(&rt->store, &open, &origin);
    if (rv != APR_SUCCESS) {
        /* origin may say why; the spec is not repeated: it may hold a
         * password. */
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     "mod_hyperlane: cannot open the store (HyperlaneStore): %s",
                     origin ? origin : "no detail");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    rv = hl_limits_open(&rt->limits, rt->limits, life);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     "mod_hyperlane: cannot create the concurrency limits");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    previous_metrics = rt->metrics;
    rv = hl_metrics_open(&rt->metrics, rt->metrics, life, &kept);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     "mod_hyperlane: cannot create the metrics segment");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (!kept && previous_metrics)
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "mod_hyperlane: metrics "
                     "segment of another layout replaced: the figures start "
                     "from zero");
    /* A store opened for the first time is empty and unused yet: the
     * snapshot file, if any, goes into it now. */
    hl_persist_configure(s, rt, pconf, ptemp, first);
    rt->cfg = sc->cfg;
    rt->mpm = ap_show_mpm();
    hl_assign_hosts(s, pconf);
    for (each = s; each; each = each->next)
        hl_server_conf_of(each)->rt = rt;
    {
        hl_store_usage u;
        hl_store_usage_read(rt->store, &u);
        if (!first && rt->backend[0] && strcmp(rt->backend, u.backend) != 0)
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "mod_hyperlane: "
                         "HyperlaneStore changed from %s to %s at this "
                         "restart: the counter, history and cache are now "
                         "what the %s store holds; the %s store's were not "
                         "copied", rt->backend, u.backend, u.backend,
                         rt->backend);
        apr_cpystrn(rt->backend, u.backend, sizeof(rt->backend));
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                     "mod_hyperlane: shared store (%s) %s: %" APR_SIZE_T_FMT
                     " bytes, history %u, generation %" APR_UINT64_T_FMT
                     ", mpm %s, mounted at %s", u.backend, origin,
                     u.size_bytes, open.sizes.history_capacity, u.generation,
                     rt->mpm, hl_mounts_text(s, ptemp));
    }
    return OK;
}

/* In the parent: a child that exited gives back what it held of the
 * concurrency limits at once, not when the limit is next hit.  Only
 * whole words at fixed places are read (hl_limiter.h), so the parent
 * trusts nothing the children wrote. */
void hl_child_status(server_rec *s, pid_t pid, ap_generation_t gen,
                            int slot, mpm_child_status state)
{
    apr_uint32_t given = 0;
    hl_runtime *rt = hl_runtime_of(s);
    if (state != MPM_CHILD_EXITED || !rt || !rt->limits)
        return;
    hl_limits_reclaim(rt->limits, (apr_int32_t)pid, &given);
    if (given)
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "mod_hyperlane: child %"
                     APR_PID_T_FMT " exited holding %u admission(s); given "
                     "back", pid, given);
}

void hl_child_init(apr_pool_t *pchild, server_rec *s)
{
    hl_runtime *rt = hl_runtime_of(s);
    apr_status_t rv;
    if (!rt)
        return;
    rv = hl_store_child_init(rt->store, pchild);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     "mod_hyperlane: cannot attach the store in this child "
                     "(its Redis connection pool)");
        exit(APEXIT_CHILDSICK);
    }
    rt->pid = (apr_int32_t)getpid();
    if (hl_procinfo_reader_open(&rt->procinfo, pchild) != APR_SUCCESS)
        rt->procinfo = NULL;   /* each reading opens the file itself */
    else
        hl_procinfo_reader_max_age(rt->procinfo, apr_time_from_msec(
            hl_config_get(&rt->cfg, HL_D_MEMORY_MAX_AGE)));
    rv = hl_bufpool_create(&rt->bufpool,
                           (apr_size_t)hl_config_get(&rt->cfg, HL_D_POOL_BUFFERS),
                           (apr_size_t)hl_config_get(&rt->cfg, HL_D_POOL_BUFFER_SIZE),
                           pchild);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     "mod_hyperlane: cannot create this child's buffer pool");
        exit(APEXIT_CHILDSICK);
    }
}
