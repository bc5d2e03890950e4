/* hl_persist: HyperlanePersistFile and HyperlanePersistInterval, the
 * snapshot file of the store (src/store/hl_snapshot.h has the format and
 * the consistency a snapshot gives).  Nothing here runs in a request:
 *
 *   - the load, in the parent's first real post_config (the configuration
 *     check never loads), before any child exists;
 *   - the periodic writes, in a helper process the parent forks in each
 *     post_config, as mod_cgid forks its daemon, and registers as an
 *     "other child" (the MPM tells it of the helper's death, and it is
 *     started again); it sleeps the interval, writes, and exits with its
 *     parent or at the next restart;
 *   - the last write at a clean stop, in the parent, from a cleanup of the
 *     configuration pool, once the MPM has reaped the children and the
 *     helper is gone.
 *
 * Why a helper: the MPMs run the monitor hook in the parent only every
 * ten seconds, and a write there would hold up the parent's maintenance;
 * mod_watchdog gives threads in the parent only to MPMs that do not fork
 * (the parent's threads may not take the cache's lock either), and its
 * child watchdogs would write as the children's user, who may not write
 * where the parent keeps the file.  The helper is the parent's own copy
 * (root, the same mapping of the segment): it reads the segment as memory
 * a hostile child may have changed, as the parent does, and never takes
 * the cache's lock: it reads quietly, a batch at a time (hl_cache_lock.c). */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"

#include "ap_mpm.h"

#include <apr_signal.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "hl_apache.h"

/* Writes one snapshot; logged at info when written, as an error if not. */
static apr_status_t persist_write(server_rec *s, hl_runtime *rt,
                                  apr_pool_t *parent, hl_persist_when when)
{
    const char *name = when == HL_PERSIST_AT_STOP ? "at stop" : "periodic";
    apr_pool_t *p;
    hl_persist_report rep;
    apr_status_t rv;

    apr_pool_create(&p, parent);
    rv = hl_store_persist_save(rt->store, rt->persist_path, apr_time_now(),
                               when, p, &rep);
    if (rv == APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                     "mod_hyperlane: snapshot (%s) written to %s: counter %"
                     APR_UINT64_T_FMT ", %" APR_UINT64_T_FMT " history entries, %"
                     APR_UINT64_T_FMT " cache entries, %" APR_UINT64_T_FMT
                     " bytes, %" APR_UINT64_T_FMT " batches, %" APR_TIME_T_FMT
                     " ms", name, rt->persist_path, rep.counter_value,
                     rep.history_in_file, rep.entries_in_file, rep.bytes,
                     rep.batches, apr_time_as_msec(rep.took));
    if (rv == APR_SUCCESS && rep.why[0])
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "mod_hyperlane: snapshot (%s) written to %s, but %s",
                     name, rt->persist_path, rep.why);
    else if (rv != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     "mod_hyperlane: snapshot (%s) to %s not written: %s; the "
                     "file keeps the previous one", name, rt->persist_path,
                     rep.why[0] ? rep.why : "error");
    apr_pool_destroy(p);
    return rv;
}

/* What the cleanup and the helper need, per configuration generation. */
typedef struct persist_gen {
    server_rec *s;
    hl_runtime *rt;
    apr_pool_t *pconf;
    apr_proc_t helper;          /* pid 0: none running */
    int after_death;            /* the last helper died: wait a whole
                                 * interval, not loop on a failing write */
} persist_gen;

static void helper_start(persist_gen *g);

/* When the helper writes first: an interval after the last snapshot
 * (the file's time), or after the first start if there is none yet.  A
 * restart starts a new helper, and restarts closer together than the
 * interval (a nightly logrotate against a daily interval) must not put
 * the write off for ever. */
static apr_time_t first_write_at(const hl_runtime *rt, apr_pool_t *p)
{
    apr_finfo_t fi;
    apr_time_t now = apr_time_now(), last = rt->persist_since;
    if (apr_stat(&fi, rt->persist_path, APR_FINFO_MTIME, p) == APR_SUCCESS)
        last = fi.mtime;
    return last <= now ? last + rt->persist_interval : now + rt->persist_interval;
}

/* The helper: a write every interval, until its parent is gone (or it is
 * told to stop).  It never returns. */
static void helper_main(persist_gen *g)
{
    hl_runtime *rt = g->rt;
    pid_t parent = rt->parent_pid;
    apr_pool_t *p;
    apr_time_t next;
    sigset_t all;
    unsigned i;
    static const int handled[] = { SIGTERM, SIGHUP, SIGUSR1, SIGINT, SIGWINCH,
                                   SIGPIPE, SIGCHLD };

    /* httpd's handlers would treat a signal as an order to the server. */
    for (i = 0; i < sizeof(handled) / sizeof(handled[0]); i++)
        signal(handled[i], SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    sigfillset(&all);
    sigprocmask(SIG_UNBLOCK, &all, NULL);
#ifdef PR_SET_PDEATHSIG
    prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
    if (getppid() != parent)
        _exit(0);
    apr_pool_create(&p, NULL);
    if (hl_store_child_init(rt->store, p) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, g->s, "mod_hyperlane: the "
                     "snapshot writer cannot attach the store");
        _exit(1);
    }
    next = g->after_death ? apr_time_now() + rt->persist_interval
                          : first_write_at(rt, p);
    for (;; next = apr_time_now() + rt->persist_interval) {
        apr_pool_t *once;
        while (apr_time_now() < next) {
            apr_interval_time_t left = next - apr_time_now();
            apr_sleep(left < apr_time_from_msec(100) ? left : apr_time_from_msec(100));
            if (getppid() != parent)
                _exit(0);
        }
        apr_pool_create(&once, p);
        persist_write(g->s, rt, once, HL_PERSIST_PERIODIC);
        apr_pool_destroy(once);
    }
}

/* The MPM reaps the helper with its children and tells us here. */
static void helper_maint(int reason, void *data, apr_wait_t status)
{
    persist_gen *g = data;
    int state = AP_MPMQ_STOPPING;
    switch (reason) {
    case APR_OC_REASON_DEATH:
    case APR_OC_REASON_LOST:
        apr_proc_other_child_unregister(g);
        g->helper.pid = 0;
        if (ap_mpm_query(AP_MPMQ_MPM_STATE, &state) == APR_SUCCESS
            && state != AP_MPMQ_STOPPING) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, g->s, "mod_hyperlane: the "
                         "snapshot writer exited (status %d); starting another",
                         status);
            g->after_death = 1;
            helper_start(g);
        }
        break;
    case APR_OC_REASON_RESTART:
        apr_proc_other_child_unregister(g);
        break;
    default:    /* unregistered: the cleanup stops it */
        break;
    }
}

static void helper_start(persist_gen *g)
{
    apr_status_t rv = apr_proc_fork(&g->helper, g->pconf);
    if (rv == APR_INCHILD)
        helper_main(g);
    if (rv != APR_INPARENT) {
        g->helper.pid = 0;
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, g->s, "mod_hyperlane: cannot "
                     "start the snapshot writer: snapshots only at a clean stop");
        return;
    }
    apr_proc_other_child_register(&g->helper, helper_maint, g, NULL, g->pconf);
}

/* At every restart and at the stop: the helper goes (a write it was in
 * leaves only its temporary file; the file keeps the last whole one).
 * At the stop the server is exiting, the MPM has reaped the children,
 * and the parent writes the last snapshot. */
static apr_status_t persist_cleanup(void *data)
{
    persist_gen *g = data;
    if (getpid() != g->rt->parent_pid)
        return APR_SUCCESS;
    if (g->helper.pid > 0) {
        int code;
        apr_exit_why_e why;
        kill(g->helper.pid, SIGTERM);
        apr_proc_wait(&g->helper, &code, &why, APR_WAIT);
        g->helper.pid = 0;
    }
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_EXITING && g->rt->persist_path)
        persist_write(g->s, g->rt, g->s->process->pool, HL_PERSIST_AT_STOP);
    return APR_SUCCESS;
}

static void log_loaded(server_rec *s, const char *path, const hl_persist_report *r)
{
    char when[APR_RFC822_DATE_LEN];
    apr_rfc822_date(when, r->written_at);
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                 "mod_hyperlane: restored from %s (written %s, history size %u, "
                 "cache %" APR_SIZE_T_FMT " bytes): counter %" APR_UINT64_T_FMT
                 ", history %" APR_UINT64_T_FMT " of %" APR_UINT64_T_FMT
                 " entries, cache %" APR_UINT64_T_FMT " of %" APR_UINT64_T_FMT
                 " entries (%" APR_UINT64_T_FMT " expired, %" APR_UINT64_T_FMT
                 " did not fit the new sizes), cache versions past %"
                 APR_UINT64_T_FMT ", %s, in %" APR_TIME_T_FMT " ms",
                 path, when, r->made_with.history_capacity,
                 r->made_with.cache_bytes, r->counter_value,
                 r->history_restored, r->history_in_file, r->entries_restored,
                 r->entries_in_file, r->entries_expired, r->entries_left_out,
                 r->last_version, r->stats_restored
                     ? "the cache's counters as at the stop"
                     : "the cache's counters from 0 (a snapshot written while "
                       "the server ran)",
                 apr_time_as_msec(r->took));
}

static void persist_load(server_rec *s, hl_runtime *rt, apr_pool_t *ptemp)
{
    hl_persist_report rep;
    apr_status_t rv = hl_store_persist_load(rt->store, rt->persist_path,
                                            apr_time_now(), ptemp, &rep);
    if (rv == APR_SUCCESS)
        log_loaded(s, rt->persist_path, &rep);
    else if (rv == APR_ENOENT)
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "mod_hyperlane: no "
                     "snapshot at %s yet: starting empty", rt->persist_path);
    else if (rv == APR_ENOMEM)
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     "mod_hyperlane: snapshot %s not loaded: %s; starting "
                     "empty; %s", rt->persist_path, rep.why,
                     rep.kept_aside
                         ? apr_pstrcat(ptemp, "the file is kept as ",
                                       rt->persist_path, ".unloaded, since "
                                       "the snapshots written from now on "
                                       "replace it: to load it, stop the "
                                       "server, move it back and start with "
                                       "more memory", NULL)
                         : "it could not be kept aside, and the snapshots "
                           "written from now on replace it");
    else
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     "mod_hyperlane: snapshot %s not loaded: %s; %s; starting "
                     "empty", rt->persist_path, rep.why[0] ? rep.why : "error",
                     rep.moved_aside
                         ? apr_pstrcat(ptemp, "moved aside to ", rt->persist_path,
                                       ".bad", NULL)
                         : "it could not be moved aside");
}

/* The first directory above dir (resolved) that someone other than root
 * and the parent may change: another owner, or others may write it
 * without the sticky bit, and so rename dir away and put theirs in its
 * place.  NULL if none. */
static const char *open_ancestor(const char *dir, apr_pool_t *p,
                                 struct stat *st)
{
    char resolved[PATH_MAX], *slash;
    if (!realpath(dir, resolved))
        return NULL;
    while ((slash = strrchr(resolved, '/')) != NULL && resolved[1]) {
        slash[slash == resolved] = '\0';       /* "/a" -> "/", "/a/b" -> "/a" */
        if (stat(resolved, st) != 0)
            return NULL;
        if ((st->st_uid != 0 && st->st_uid != geteuid())
            || ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(st->st_mode & S_ISVTX)))
            return apr_pstrdup(p, resolved);
    }
    return NULL;
}

/* Whoever can write the file's directory can replace what the parent
 * loads at its next start (checked as untrusted input, but theirs), and
 * /run is a tmpfs that a reboot empties: both are said at each start. */
static void check_where(server_rec *s, const char *path, apr_pool_t *p)
{
    const char *slash = strrchr(path, '/');
    const char *dir = slash == path ? "/" : apr_pstrmemdup(p, path, (apr_size_t)(slash - path));
    const char *above;
    struct stat st;

    if (stat(dir, &st) != 0) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, errno, s, "mod_hyperlane: the "
                     "directory of HyperlanePersistFile, %s, cannot be read: "
                     "no snapshot can be written there", dir);
        return;
    }
    /* Sticky or not: in /tmp anyone may create the file while it is
     * missing (before the first write, or once moved aside). */
    if (st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)))
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "mod_hyperlane: the "
                     "directory of HyperlanePersistFile, %s (owner %ld, mode "
                     "%04o), can be written by others than the server's "
                     "parent: they could replace the snapshot it loads at "
                     "start; give it a directory of its own", dir,
                     (long)st.st_uid, (unsigned)(st.st_mode & 07777));
    if ((above = open_ancestor(dir, p, &st)) != NULL)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "mod_hyperlane: %s, "
                     "above the directory of HyperlanePersistFile (%s), can "
                     "be changed by others than root and the server's parent "
                     "(owner %ld, mode %04o): they could put a directory of "
                     "their own in its place", above, dir, (long)st.st_uid,
                     (unsigned)(st.st_mode & 07777));
    if (strncmp(path, "/run/", 5) == 0 || strncmp(path, "/var/run/", 9) == 0)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "mod_hyperlane: "
                     "HyperlanePersistFile %s is under /run, which a reboot "
                     "empties on most systems: the state survives restarts "
                     "and stops, not reboots", path);
}

void hl_persist_configure(server_rec *s, hl_runtime *rt, apr_pool_t *pconf,
                          apr_pool_t *ptemp, int first)
{
    hl_server_conf *sc = hl_server_conf_of(s);
    persist_gen *g;
    const char *path;
    int moved;

    rt->parent_pid = getpid();
    if (!hl_persist_on(sc)) {
        rt->persist_path = NULL;
        return;
    }
    /* A relative path is under DefaultRuntimeDir, as mod_slotmem_shm's. */
    path = ap_runtime_dir_relative(pconf, sc->persist_file);
    if (!path) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "mod_hyperlane: "
                     "HyperlanePersistFile %s is not a usable path: no "
                     "snapshot file", sc->persist_file);
        rt->persist_path = NULL;
        return;
    }
    moved = !rt->persist_path || strcmp(rt->persist_path, path) != 0;
    /* Where a graceful restart moved the file is told at once, not at
     * the next full start. */
    if (first || moved)
        check_where(s, path, ptemp);
    if (moved)
        rt->persist_path = apr_pstrdup(s->process->pool, path);
    rt->persist_interval = apr_time_from_sec(
        hl_config_get(&sc->cfg, HL_D_PERSIST_INTERVAL));
    if (first) {
        rt->persist_since = apr_time_now();
        persist_load(s, rt, ptemp);
    }
    g = apr_pcalloc(pconf, sizeof(*g));
    g->s = s;
    g->rt = rt;
    g->pconf = pconf;
    apr_pool_cleanup_register(pconf, g, persist_cleanup, apr_pool_cleanup_null);
    if (rt->persist_interval)
        helper_start(g);
}
