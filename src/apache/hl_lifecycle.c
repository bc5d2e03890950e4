/* hl_lifecycle: the hooks that make and keep the shared resources, after
 * mod_example_ipc's discipline: pre_config registers the mutex type;
 * post_config (the real pass, never the configuration check) opens the
 * store and the limits in the parent's process pool, so that they outlive
 * graceful restarts, and works out each host's mounts; child_init
 * re-attaches the mutex and makes what each process keeps; child_status
 * gives back what a dead child held of the limits. */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_mpm.h"
#include "util_mutex.h"

#include <unistd.h>

#include "hl_apache.h"

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

int hl_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
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

int hl_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                          apr_pool_t *ptemp, server_rec *s)
{
    apr_pool_t *life = s->process->pool;
    hl_config *cfg = &hl_server_conf_of(s)->cfg;
    apr_array_header_t *mounts;
    hl_runtime *rt = NULL;
    server_rec *each;
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
    rt->hosts = hl_assign_hosts(s, pconf);
    for (each = s; each; each = each->next)
        hl_server_conf_of(each)->rt = rt;
    mounts = hl_mounts_of(s);
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
                     "mod_hyperlane: cannot re-attach the %s mutex in child",
                     HL_MUTEX_TYPE);
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
