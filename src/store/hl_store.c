/* hl_store: the table of backends, and dispatch to the one in use. */
#include "hl_store.h"
#include "hl_store_shm.h"
#ifdef HL_HAVE_REDIS   /* configure --with-redis: Makefile.am defines it */
#include "hl_store_redis.h"
#endif

#include <apr_strings.h>
#include <string.h>

/* Every backend built in: adding one is its file and a row here. */
static const hl_store_backend *const backends[] = {
    &hl_store_shm_backend,
#ifdef HL_HAVE_REDIS
    &hl_store_redis_backend,
    &hl_store_redis_unix_backend,
#endif
    NULL
};

/* The row spec names: the spec is the name, or begins with "name://". */
static const hl_store_backend *backend_of(const char *spec)
{
    int i;
    for (i = 0; spec && backends[i]; i++) {
        apr_size_t n = strlen(backends[i]->name);
        if (strncmp(spec, backends[i]->name, n) == 0
            && (spec[n] == '\0' || strncmp(spec + n, "://", 3) == 0))
            return backends[i];
    }
    return NULL;
}

apr_status_t hl_store_spec_check(apr_pool_t *p, const char *spec,
                                 const char **error)
{
    const hl_store_backend *b = backend_of(spec);
    const char *known = "";
    int i;
    if (b)
        return b->check ? b->check(p, spec, error) : APR_SUCCESS;
    for (i = 0; backends[i]; i++)
        known = apr_pstrcat(p, known, i ? ", " : "", backends[i]->name, NULL);
    *error = apr_psprintf(p, "unknown store '%s' (this build has: %s)",
                          spec ? spec : "", known);
    return APR_EINVAL;
}

apr_status_t hl_store_open(hl_store **out, const hl_store_open_args *a,
                           const char **origin)
{
    const hl_store_backend *b = backend_of(a->spec);
    hl_store *previous = a->previous;
    apr_status_t rv;
    int i;

    if (!b)
        return APR_EINVAL;
    /* A previous store is recognised by its number, and its ops pointed
     * at this build's code, before anybody calls it. */
    for (i = 0; previous && backends[i]; i++)
        if (backends[i]->adopt(previous))
            break;
    rv = b->open(out, a, origin);
    if (rv == APR_SUCCESS && previous && *out != previous && backends[i]
        && backends[i] != b)
        hl_store_close(previous);
    return rv;
}

const char *hl_store_prefix_check(apr_pool_t *p, const char *prefix)
{
    const char *c;
    if (!prefix || !*prefix || strlen(prefix) > HL_STORE_PREFIX_MAX)
        return apr_psprintf(p, "the prefix must be 1-%d bytes",
                            HL_STORE_PREFIX_MAX);
    for (c = prefix; *c; c++)
        if (*c <= ' ' || *c > '~')
            return "the prefix must be printable ASCII without spaces";
    return NULL;
}

apr_status_t hl_store_persist_check(apr_pool_t *p, const char *spec,
                                    const char **why)
{
    const hl_store_backend *b = backend_of(spec);
    if (!b)
        return hl_store_spec_check(p, spec, why);
    if (!b->no_persist_file)
        return APR_SUCCESS;
    *why = apr_psprintf(p, "the %s store keeps no snapshot file: %s",
                        b->name, b->no_persist_file);
    return APR_ENOTIMPL;
}

apr_status_t hl_store_persist_save(hl_store *st, const char *path,
                                   apr_time_t now, hl_persist_when when,
                                   apr_pool_t *p, hl_persist_report *rep)
{
    memset(rep, 0, sizeof(*rep));
    if (!st->ops->persist_save)
        return APR_ENOTIMPL;
    return st->ops->persist_save(st, path, now, when, p, rep);
}

apr_status_t hl_store_persist_load(hl_store *st, const char *path,
                                   apr_time_t now, apr_pool_t *p,
                                   hl_persist_report *rep)
{
    memset(rep, 0, sizeof(*rep));
    if (!st->ops->persist_load)
        return APR_ENOTIMPL;
    return st->ops->persist_load(st, path, now, p, rep);
}

apr_status_t hl_store_close(hl_store *st)
{
    return st->ops->close(st);
}

apr_status_t hl_store_child_init(hl_store *st, apr_pool_t *pchild)
{
    return st->ops->child_init(st, pchild);
}

apr_status_t hl_store_counter_increment(hl_store *st, apr_int32_t pid,
                                        apr_uint64_t *value_out)
{
    return st->ops->counter_increment(st, pid, value_out);
}

apr_status_t hl_store_counter_snapshot(hl_store *st, int max_recent,
                                       hl_counter_snapshot *snap)
{
    return st->ops->counter_snapshot(st, max_recent, snap);
}

apr_status_t hl_store_usage_read(hl_store *st, hl_store_usage *u)
{
    return st->ops->usage(st, u);
}

apr_status_t hl_store_cache_get(hl_store *st, apr_pool_t *pool,
                                const void *key, apr_size_t klen,
                                apr_time_t now, hl_cache_result *res)
{
    return st->ops->cache_get(st, pool, key, klen, now, res);
}

apr_status_t hl_store_cache_set(hl_store *st, const void *key, apr_size_t klen,
                                const void *val, apr_size_t vlen,
                                apr_time_t now, apr_interval_time_t ttl,
                                int *replaced)
{
    return st->ops->cache_set(st, key, klen, val, vlen, now, ttl, replaced);
}

apr_status_t hl_store_cache_delete(hl_store *st, const void *key,
                                   apr_size_t klen, apr_time_t now)
{
    return st->ops->cache_delete(st, key, klen, now);
}

apr_status_t hl_store_cache_stats(hl_store *st, hl_cache_stats *stats)
{
    hl_store_usage u;
    apr_status_t rv = st->ops->cache_stats(st, stats);
    if (rv == APR_SUCCESS && st->ops->usage(st, &u) == APR_SUCCESS)
        stats->store = u.backend;
    return rv;
}

apr_status_t hl_store_cache_put(hl_store *st, const void *key, apr_size_t klen,
                                const void *val, apr_size_t vlen,
                                apr_time_t now, apr_interval_time_t ttl,
                                const hl_cache_cond *cond, hl_cache_written *w)
{
    memset(w, 0, sizeof(*w));
    if (!st->ops->cache_put)
        return APR_ENOTIMPL;
    return st->ops->cache_put(st, key, klen, val, vlen, now, ttl, cond, w);
}

apr_status_t hl_store_cache_remove(hl_store *st, const void *key,
                                   apr_size_t klen, apr_time_t now,
                                   const hl_cache_cond *cond,
                                   hl_cache_written *w)
{
    memset(w, 0, sizeof(*w));
    if (!st->ops->cache_remove)
        return APR_ENOTIMPL;
    return st->ops->cache_remove(st, key, klen, now, cond, w);
}

apr_status_t hl_store_cache_touch(hl_store *st, const void *key,
                                  apr_size_t klen, apr_time_t now,
                                  apr_interval_time_t ttl,
                                  const hl_cache_cond *cond,
                                  hl_cache_written *w)
{
    memset(w, 0, sizeof(*w));
    if (!st->ops->cache_touch)
        return APR_ENOTIMPL;
    return st->ops->cache_touch(st, key, klen, now, ttl, cond, w);
}

apr_status_t hl_store_cache_add(hl_store *st, const void *key, apr_size_t klen,
                                apr_int64_t delta, const apr_int64_t *init,
                                apr_interval_time_t init_ttl, apr_time_t now,
                                const hl_cache_cond *cond,
                                hl_cache_written *w)
{
    memset(w, 0, sizeof(*w));
    if (!st->ops->cache_add)
        return APR_ENOTIMPL;
    return st->ops->cache_add(st, key, klen, delta, init, init_ttl, now, cond,
                              w);
}

apr_status_t hl_store_cache_list(hl_store *st, apr_pool_t *pool,
                                 const hl_cache_list_args *a,
                                 hl_cache_list_page *page)
{
    memset(page, 0, sizeof(*page));
    if (!st->ops->cache_list)
        return APR_ENOTIMPL;
    if (a->limit < 1)
        return APR_EINVAL;
    return st->ops->cache_list(st, pool, a, page);
}

static int version_in(const apr_uint64_t *list, int n, apr_uint64_t version)
{
    int i;
    for (i = 0; i < n && i < HL_COND_TAGS_MAX; i++)
        if (list[i] == version)
            return 1;
    return 0;
}

int hl_cache_cond_holds(const hl_cache_cond *cond, int exists,
                        apr_uint64_t version)
{
    if (!cond)
        return 1;
    if (cond->if_match == HL_COND_ANY && !exists)
        return 0;
    if (cond->if_match == HL_COND_LIST
        && !(exists && version_in(cond->match, cond->n_match, version)))
        return 0;
    if (cond->if_none_match == HL_COND_ANY && exists)
        return 0;
    if (cond->if_none_match == HL_COND_LIST && exists
        && version_in(cond->none_match, cond->n_none_match, version))
        return 0;
    return 1;
}

int hl_cache_parse_int(const char *s, apr_size_t len, apr_int64_t *out)
{
    apr_uint64_t v = 0;
    apr_size_t i = 0;
    int neg = 0;
    if (len > 0 && s[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (len == i || len - i > 19)
        return 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (apr_uint64_t)(s[i] - '0');
    }
    if (v > (apr_uint64_t)APR_INT64_MAX + (apr_uint64_t)neg)
        return 0;
    *out = neg ? (apr_int64_t)(0 - v) : (apr_int64_t)v;
    return 1;
}
