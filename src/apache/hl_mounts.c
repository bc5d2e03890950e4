/* hl_mounts: where the module is mounted, per virtual host, read from the
 * parsed configuration at startup, and which HyperlaneFastPath prefixes
 * each host really uses. */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include <apr_strings.h>

#include "hl_apache.h"

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

/* misplaced: each "SetHandler hyperlane" outside a plain <Location
 * /path> (a <VirtualHost> itself, <LocationMatch>, <Location ~>,
 * <Directory>): the handler answers every request there with a 404 that
 * says so, and the start says where. */
static void find_mounts(const ap_directive_t *d, const char *location,
                        const ap_directive_t *vhost, apr_array_header_t *found,
                        apr_array_header_t *misplaced, apr_pool_t *p)
{
    for (; d; d = d->next) {
        if (strcasecmp(d->directive, "<VirtualHost") == 0) {
            find_mounts(d->first_child, NULL, d, found, misplaced, p);
        }
        else if (strcasecmp(d->directive, "<Location") == 0) {
            find_mounts(d->first_child, location_path(p, d), vhost, found,
                        misplaced, p);
        }
        else if (strcasecmp(d->directive, "SetHandler") == 0
                 && strcasecmp(d->args, HL_HANDLER) == 0) {
            if (location) {
                hl_mount_def *m = apr_array_push(found);
                m->path = location;
                m->vhost = vhost;
            }
            else
                APR_ARRAY_PUSH(misplaced, const ap_directive_t *) = d;
        }
        else if (d->first_child) {
            find_mounts(d->first_child,
                        strcasecmp(d->directive, "<LocationMatch") == 0
                            ? NULL : location,
                        vhost, found, misplaced, p);
        }
    }
}

static int mount_applies(const hl_mount_def *m, const server_rec *s)
{
    return !m->vhost || (s->defn_name && (int)s->defn_line_number == m->vhost->line_num
                         && strcmp(s->defn_name, m->vhost->filename) == 0);
}

/* Whether paths (of const char *) holds path. */
static int has_path(const apr_array_header_t *paths, const char *path)
{
    int i;
    for (i = 0; i < paths->nelts; i++)
        if (strcmp(path, APR_ARRAY_IDX(paths, i, const char *)) == 0)
            return 1;
    return 0;
}

/* A host's fast paths: only the prefixes where the module is mounted for
 * that host; a prefix it inherited from the main server and does not
 * mount stays its own (files, other handlers, its own Require). */
static apr_array_header_t *host_fast_paths(server_rec *s,
                                           const apr_array_header_t *mounts,
                                           apr_pool_t *p)
{
    const apr_array_header_t *wanted = hl_server_conf_of(s)->fast_paths;
    apr_array_header_t *paths = apr_array_make(p, 2, sizeof(const char *));
    int i;
    for (i = 0; wanted && i < wanted->nelts; i++) {
        const char *prefix = APR_ARRAY_IDX(wanted, i, const char *);
        if (has_path(mounts, prefix))
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

/* The configuration of s for it alone: a host that sets none of the
 * module's directives shares the main server's structure (httpd merges
 * nothing then), and a host's own hl_host must not land in another's. */
static hl_server_conf *own_conf(server_rec *s, apr_pool_t *p)
{
    hl_server_conf *sc = hl_server_conf_of(s);
    if (sc->host) {                     /* claimed by a server before s */
        sc = apr_pmemdup(p, sc, sizeof(*sc));
        ap_set_module_config(s->module_config, &hyperlane_module, sc);
    }
    return sc;
}

/* Gives every server its hl_host, in its own configuration: looked up on
 * every request, where a hash by server_rec cost a hundred instructions. */
void hl_assign_hosts(server_rec *main_server, apr_pool_t *p)
{
    apr_array_header_t *found = apr_array_make(p, 4, sizeof(hl_mount_def));
    apr_array_header_t *misplaced = apr_array_make(p, 1, sizeof(const ap_directive_t *));
    server_rec *s;
    int i;

    find_mounts(ap_conftree, NULL, NULL, found, misplaced, p);
    for (i = 0; i < misplaced->nelts; i++) {
        const ap_directive_t *d = APR_ARRAY_IDX(misplaced, i, const ap_directive_t *);
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, main_server, "mod_hyperlane: "
                     "SetHandler hyperlane at %s:%d is not in a plain "
                     "<Location /path>: every request there gets 404; mount "
                     "the module with <Location /path>", d->filename,
                     d->line_num);
    }
    for (s = main_server; s; s = s->next) {
        apr_array_header_t *mounts = apr_array_make(p, 4, sizeof(const char *));
        hl_host *host = apr_pcalloc(p, sizeof(*host));
        host->mounts = mounts;
        own_conf(s, p)->host = host;
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
}

hl_host *hl_host_of(server_rec *s)
{
    return hl_server_conf_of(s)->host;
}

apr_array_header_t *hl_mounts_of(server_rec *s)
{
    hl_host *host = hl_host_of(s);
    return host ? host->mounts : NULL;
}

/* Where the module is mounted, for the start's log line: the main
 * server's mounts, then each host's own, with its name. */
const char *hl_mounts_text(server_rec *main_server, apr_pool_t *p)
{
    const apr_array_header_t *main_mounts = hl_mounts_of(main_server);
    apr_array_header_t *parts = apr_array_make(p, 4, sizeof(const char *));
    server_rec *s;
    int i;

    for (s = main_server; s; s = s->next) {
        const apr_array_header_t *mounts = hl_mounts_of(s);
        for (i = 0; mounts && i < mounts->nelts; i++) {
            const char *path = APR_ARRAY_IDX(mounts, i, const char *);
            if (s == main_server)
                APR_ARRAY_PUSH(parts, const char *) = path;
            else if (!has_path(main_mounts, path))
                APR_ARRAY_PUSH(parts, const char *) = apr_psprintf(
                    p, "%s (%s:%u)", path,
                    s->server_hostname ? s->server_hostname : "-",
                    (unsigned)s->port);
        }
    }
    return parts->nelts ? apr_array_pstrcat(p, parts, ' ')
                        : "(no <Location> with SetHandler hyperlane)";
}
