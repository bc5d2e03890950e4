/* hl_settings: the module's per-server configuration and the setters of
 * its directives (their table is in mod_hyperlane.c, from
 * src/core/hl_directives.def). */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include <apr_strings.h>
#include <apr_uri.h>

#include "hl_apache.h"

void *hl_create_server_config(apr_pool_t *p, server_rec *s)
{
    hl_server_conf *sc = apr_pcalloc(p, sizeof(*sc));
    hl_config_defaults(&sc->cfg);
#define HL_SERVER_WORD(field, setter, name, dflt, help) sc->field = (dflt);
#include "hl_directives.def"
    /* A host's flags start unset, to inherit the main server's, which
     * start at their defaults. */
#define HL_HOST_FLAG(field, name, dflt, help) \
    sc->field = s->is_virtual ? -1 : (dflt);
#include "hl_directives.def"
    return sc;
}

void *hl_merge_server_config(apr_pool_t *p, void *basev, void *addv)
{
    hl_server_conf *base = basev, *add = addv;
    hl_server_conf *sc = apr_pcalloc(p, sizeof(*sc));
    sc->cfg = base->cfg;
    sc->store_spec = base->store_spec;
    sc->redis_prefix = base->redis_prefix;
    sc->persist_file = base->persist_file;
    sc->fast_paths = add->fast_paths ? add->fast_paths : base->fast_paths;
    sc->trusted_origins = add->trusted_origins ? add->trusted_origins
                                               : base->trusted_origins;
    sc->skip_walk = add->skip_walk >= 0 ? add->skip_walk : base->skip_walk;
    sc->increment_post_only = add->increment_post_only >= 0
                              ? add->increment_post_only : base->increment_post_only;
    return sc;
}

const char *hl_set_numeric(cmd_parms *cmd, void *dummy, const char *arg)
{
    hl_server_conf *sc = hl_server_conf_of(cmd->server);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    if (err)
        return err;
    return hl_config_set(cmd->pool, &sc->cfg,
                         (hl_directive_id)(apr_uintptr_t)cmd->info, arg);
}

/* "off" (alone) turns off in a host what it would inherit. */
const char *hl_add_fast_path(cmd_parms *cmd, void *dummy, const char *arg)
{
    hl_server_conf *sc = hl_server_conf_of(cmd->server);
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
const char *hl_origin_key(apr_pool_t *p, const char *origin)
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

const char *hl_add_trusted_origin(cmd_parms *cmd, void *dummy,
                                      const char *arg)
{
    hl_server_conf *sc = hl_server_conf_of(cmd->server);
    char *key = (char *)hl_origin_key(cmd->pool, arg);
    if (!key)
        return apr_psprintf(cmd->pool, "HyperlaneTrustedOrigin: '%s' is not "
                            "an origin such as https://example.com:8443", arg);
    ap_str_tolower(key);
    if (!sc->trusted_origins)
        sc->trusted_origins = apr_array_make(cmd->pool, 2, sizeof(const char *));
    APR_ARRAY_PUSH(sc->trusted_origins, const char *) = key;
    return NULL;
}

const char *hl_set_flag(cmd_parms *cmd, void *dummy, int on)
{
    hl_server_conf *sc = hl_server_conf_of(cmd->server);
    *(int *)((char *)sc + (apr_uintptr_t)cmd->info) = on;
    return NULL;
}

int hl_persist_on(const hl_server_conf *sc)
{
    return sc->persist_file && strcasecmp(sc->persist_file, "off") != 0;
}

/* The store is checked here, so that a name this build does not have, or
 * a malformed URL, stops configtest (the message never shows a password),
 * and so is whether it keeps a HyperlanePersistFile:
 * each of the two directives checks the other, whichever comes first. */
const char *hl_set_store(cmd_parms *cmd, void *dummy, const char *arg)
{
    hl_server_conf *sc = hl_server_conf_of(cmd->server);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY), *why = NULL;
    if (err)
        return err;
    if (hl_store_spec_check(cmd->pool, arg, &why) != APR_SUCCESS)
        return apr_pstrcat(cmd->pool, "HyperlaneStore: ", why, NULL);
    if (hl_persist_on(sc)
        && hl_store_persist_check(cmd->pool, arg, &why) != APR_SUCCESS)
        return apr_pstrcat(cmd->pool, "HyperlaneStore: HyperlanePersistFile "
                           "is set, but ", why, NULL);
    sc->store_spec = arg;
    return NULL;
}

const char *hl_set_persist_file(cmd_parms *cmd, void *dummy, const char *arg)
{
    hl_server_conf *sc = hl_server_conf_of(cmd->server);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY), *why = NULL;
    if (err)
        return err;
    if (strcasecmp(arg, "off") != 0
        && hl_store_persist_check(cmd->pool, sc->store_spec, &why) != APR_SUCCESS)
        return apr_pstrcat(cmd->pool, "HyperlanePersistFile: ", why, NULL);
    sc->persist_file = arg;
    return NULL;
}

const char *hl_set_redis_prefix(cmd_parms *cmd, void *dummy, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY), *why;
    if (err)
        return err;
    if ((why = hl_store_prefix_check(cmd->pool, arg)) != NULL)
        return apr_pstrcat(cmd->pool, "HyperlaneRedisPrefix: ", why, NULL);
    hl_server_conf_of(cmd->server)->redis_prefix = arg;
    return NULL;
}

/* Settings that contradict each other, told at configtest as at a start:
 * a default lifetime longer than a write may ask for is refused; a value
 * limit the cache cannot hold is only told (the store may be Redis). */
int hl_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                    server_rec *s)
{
    const hl_config *cfg = &hl_server_conf_of(s)->cfg;
    apr_uint64_t ttl = hl_config_get(cfg, HL_D_CACHE_TTL),
                 max_ttl = hl_config_get(cfg, HL_D_CACHE_MAX_TTL),
                 max_value = hl_config_get(cfg, HL_D_CACHE_MAX_VALUE),
                 size = hl_config_get(cfg, HL_D_CACHE_SIZE);
    (void)pconf; (void)plog; (void)ptemp;
    if (ttl > max_ttl) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "mod_hyperlane: "
                     "HyperlaneCacheTTL %" APR_UINT64_T_FMT " is longer than "
                     "HyperlaneCacheMaxTTL %" APR_UINT64_T_FMT ": a plain set "
                     "would live longer than any write may ask for", ttl,
                     max_ttl);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (max_value >= size)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "mod_hyperlane: "
                     "HyperlaneCacheMaxValue %" APR_UINT64_T_FMT " is not below "
                     "HyperlaneCacheSize %" APR_UINT64_T_FMT ": the largest "
                     "values allowed cannot be stored, and get 413", max_value,
                     size);
    return OK;
}
