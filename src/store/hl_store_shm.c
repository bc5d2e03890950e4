/* hl_store_shm: the store backend on one anonymous apr_shm segment.
 *
 * The segment lives in the parent's process pool, so it survives graceful
 * restarts: children of the old and the new generation map the same memory
 * and no increment made during a restart is lost.  The counter is lock-free
 * (hl_counter.h); the cache's own lock, kept in its region, guards its
 * multi-word updates: every cache write runs between lock and unlock here,
 * and the cache repairs itself if the last holder died mid-update
 * (hl_cache.h).  A get first reads without the lock
 * (hl_cache_get_lockfree) and takes it only when that cannot answer.  The
 * lock is robust: the kernel hands a dead holder's lock on, so a killed
 * child cannot deadlock the others.  The parent never takes it
 * (hl_cache_lock.c says why): it copies the cache at a resize, and saves
 * it, as a quiet reader.
 */
#include "hl_store_shm.h"
#include "hl_cache.h"
#include "hl_counter.h"
#include "hl_snapshot.h"

#include <apr_shm.h>
#include <apr_strings.h>

#include <string.h>
#include <unistd.h>

/* hl_store_shm_open's note to itself: the counter came over, the cache
 * (another version's) did not. */
#define HL_STORE_CACHE_LEFT_RV (APR_OS_START_USERERR + 2101)

/* How long a resize's copy asks the old children's writes to wait, at
 * most: it ends the pause as soon as it is done; a parent that died
 * copying holds them up no longer than this. */
#define COPY_PAUSE apr_time_from_sec(30)
/* Copies a resize makes before it gives the cache up (writes that did not
 * wait: another build's children). */
#define COPY_TRIES 3

/* The parent's own, private record of its segment: children can write the
 * segment but not this, so every offset and size comes from plan. */
typedef struct shm_store {
    apr_shm_t *shm;
    void *base;
    apr_size_t size;
    apr_int32_t pid;        /* this process's, for the cache's lock */
    hl_shm_plan plan;
} shm_store;

static apr_status_t shm_child_init(hl_store *st, apr_pool_t *pchild)
{
    shm_store *s = st->impl;
    s->pid = (apr_int32_t)getpid();
    return APR_SUCCESS;
}

static apr_status_t shm_counter_increment(hl_store *st, apr_int32_t pid,
                                          apr_uint64_t *value_out)
{
    shm_store *s = st->impl;
    return hl_counter_increment(hl_shm_counter_region(s->base, &s->plan),
                                apr_time_now(),
                                pid, value_out);
}

static apr_status_t shm_counter_snapshot(hl_store *st, int max_recent,
                                         hl_counter_snapshot *snap)
{
    shm_store *s = st->impl;
    return hl_counter_snapshot_read(hl_shm_counter_region(s->base, &s->plan),
                                    max_recent, snap);
}

static apr_status_t shm_usage(hl_store *st, hl_store_usage *u)
{
    shm_store *s = st->impl;
    const hl_shm_header *h = hl_shm_header_of(s->base);
    u->backend = "shm";
    u->size_bytes = s->size;
    u->used_bytes = hl_shm_bytes_used(s->base, &s->plan);
    u->generation = h->generation;
    u->created = h->created;
    return APR_SUCCESS;
}

static hl_cache *shm_cache(hl_store *st)
{
    shm_store *s = st->impl;
    return hl_shm_cache_region(s->base, &s->plan);
}

/* The cache, locked; APR_ENOTIMPL if the segment has none. */
static apr_status_t cache_lock(hl_store *st, hl_cache **c)
{
    shm_store *s = st->impl;
    *c = shm_cache(st);
    if (!*c)
        return APR_ENOTIMPL;
    return hl_cache_lock(*c, s->pid);
}

static void cache_unlock(hl_store *st)
{
    hl_cache_unlock(shm_cache(st));
}

/* rv = call, with the cache locked and named c; the lock's failure
 * (or a segment without a cache) as rv otherwise. */
#define CACHE_LOCKED(st, rv, call) do {                                 \
        hl_cache *c;                                                    \
        if (((rv) = cache_lock((st), &c)) == APR_SUCCESS) {             \
            (rv) = (call);                                              \
            cache_unlock(st);                                           \
        }                                                               \
    } while (0)

static apr_status_t shm_cache_get(hl_store *st, apr_pool_t *pool,
                                  const void *key, apr_size_t klen,
                                  apr_time_t now, hl_cache_result *res)
{
    hl_cache *c = shm_cache(st);
    apr_status_t rv;
    if (c && (rv = hl_cache_get_lockfree(c, pool, key, klen, now, res)) != APR_EAGAIN)
        return rv;
    rv = cache_lock(st, &c);
    if (rv == APR_SUCCESS) {
        rv = hl_cache_get(c, pool, key, klen, now, res);
        cache_unlock(st);
    }
    return rv;
}

static apr_status_t shm_cache_set(hl_store *st, const void *key,
                                  apr_size_t klen, const void *val,
                                  apr_size_t vlen, apr_time_t now,
                                  apr_interval_time_t ttl, int *replaced)
{
    apr_status_t rv;
    CACHE_LOCKED(st, rv, hl_cache_set(c, key, klen, val, vlen, now, ttl, replaced));
    return rv;
}

static apr_status_t shm_cache_delete(hl_store *st, const void *key,
                                     apr_size_t klen, apr_time_t now)
{
    apr_status_t rv;
    CACHE_LOCKED(st, rv, hl_cache_delete(c, key, klen, now));
    return rv;
}

static apr_status_t shm_cache_put(hl_store *st, const void *key,
                                  apr_size_t klen, const void *val,
                                  apr_size_t vlen, apr_time_t now,
                                  apr_interval_time_t ttl,
                                  const hl_cache_cond *cond,
                                  hl_cache_written *w)
{
    apr_status_t rv;
    CACHE_LOCKED(st, rv, hl_cache_put(c, key, klen, val, vlen, now, ttl, cond, w));
    return rv;
}

static apr_status_t shm_cache_remove(hl_store *st, const void *key,
                                     apr_size_t klen, apr_time_t now,
                                     const hl_cache_cond *cond,
                                     hl_cache_written *w)
{
    apr_status_t rv;
    CACHE_LOCKED(st, rv, hl_cache_remove(c, key, klen, now, cond, w));
    return rv;
}

static apr_status_t shm_cache_touch(hl_store *st, const void *key,
                                    apr_size_t klen, apr_time_t now,
                                    apr_interval_time_t ttl,
                                    const hl_cache_cond *cond,
                                    hl_cache_written *w)
{
    apr_status_t rv;
    CACHE_LOCKED(st, rv, hl_cache_touch(c, key, klen, now, ttl, cond, w));
    return rv;
}

static apr_status_t shm_cache_add(hl_store *st, const void *key,
                                  apr_size_t klen, apr_int64_t delta,
                                  const apr_int64_t *init,
                                  apr_interval_time_t init_ttl,
                                  apr_time_t now, const hl_cache_cond *cond,
                                  hl_cache_written *w)
{
    apr_status_t rv;
    CACHE_LOCKED(st, rv, hl_cache_add(c, key, klen, delta, init, init_ttl, now,
                                      cond, w));
    return rv;
}

/* What one hold of the lock may cost a listing: other writers (and
 * readers that fell back to the lock) wait at most this long; and what a
 * page may look at before it answers with what it found and a cursor. */
#define LIST_BATCH_BUCKETS 256
#define LIST_BATCH_ITEMS   256
#define LIST_PAGE_BUCKETS  65536

static apr_status_t shm_cache_list(hl_store *st, apr_pool_t *pool,
                                   const hl_cache_list_args *a,
                                   hl_cache_list_page *page)
{
    hl_cache_list_pos pos;
    apr_uint32_t looked = 0;
    hl_cache *c = shm_cache(st);
    apr_status_t rv;
    int done = 0;

    if (!c)
        return APR_ENOTIMPL;
    /* The seed and the bucket count never change in a region's life:
     * reading them needs no lock. */
    if ((rv = hl_cache_cursor_read(c, pool, a->cursor, &pos)) != APR_SUCCESS)
        return rv;
    page->items = apr_pcalloc(pool, (apr_size_t)a->limit * sizeof(*page->items));
    while (!done && page->n < a->limit && looked < LIST_PAGE_BUCKETS) {
        apr_uint32_t before = pos.bucket;
        int got = 0, room = a->limit - page->n;
        if ((rv = cache_lock(st, &c)) != APR_SUCCESS)
            return rv;
        rv = hl_cache_list_batch(c, pool, &pos, a->prefix, a->plen, a->now,
                                 room < LIST_BATCH_ITEMS ? room : LIST_BATCH_ITEMS,
                                 LIST_BATCH_BUCKETS, page->items + page->n,
                                 &got, &done, &page->scanned);
        cache_unlock(st);
        if (rv != APR_SUCCESS)
            return rv;
        page->n += got;
        looked += pos.bucket - before + 1;
    }
    page->next_cursor = done ? NULL : hl_cache_cursor_make(c, pool, &pos);
    return APR_SUCCESS;
}

/* The common figures, and the repairs as the extra ones: "recoveries",
 * and "last_recovery" once there was one. */
static apr_status_t shm_cache_stats(hl_store *st, hl_cache_stats *stats)
{
    hl_cache_repairs rep;
    hl_cache *c;
    apr_status_t rv = cache_lock(st, &c);
    if (rv != APR_SUCCESS)
        return rv;
    rv = hl_cache_stats_read(c, stats);
    hl_cache_repairs_read(c, &rep);
    cache_unlock(st);
    stats->extra[0].name = "recoveries";
    stats->extra[0].number = rep.recoveries;
    stats->extra[0].text[0] = '\0';
    stats->n_extra = 1;
    if (rep.recoveries) {
        stats->extra[1].name = "last_recovery";
        apr_cpystrn(stats->extra[1].text, rep.last_recovery,
                    sizeof(stats->extra[1].text));
        stats->n_extra = 2;
    }
    return rv;
}

/* The segment goes with the parent's pool anyway; closing it earlier
 * (another backend took over) hands it back now.  Children that still
 * map it keep their mapping until they exit. */
static apr_status_t shm_close(hl_store *st)
{
    shm_store *s = st->impl;
    apr_status_t rv = s->shm ? apr_shm_destroy(s->shm) : APR_SUCCESS;
    s->shm = NULL;
    return rv;
}

static apr_status_t shm_persist_save(hl_store *st, const char *path,
                                     apr_time_t now, hl_persist_when when,
                                     apr_pool_t *p, hl_persist_report *rep)
{
    shm_store *s = st->impl;
    return hl_snapshot_save(s->base, &s->plan, path, now, when, p, rep);
}

static apr_status_t shm_persist_load(hl_store *st, const char *path,
                                     apr_time_t now, apr_pool_t *p,
                                     hl_persist_report *rep)
{
    shm_store *s = st->impl;
    return hl_snapshot_load(s->base, &s->plan, path, now, p, rep);
}

static const hl_store_ops shm_ops = {
    shm_child_init,
    shm_close,
    shm_counter_increment,
    shm_counter_snapshot,
    shm_usage,
    shm_cache_get,
    shm_cache_set,
    shm_cache_delete,
    shm_cache_stats,
    shm_cache_put,
    shm_cache_remove,
    shm_cache_touch,
    shm_cache_add,
    shm_cache_list,
    shm_persist_save,
    shm_persist_load,
};

void *hl_store_shm_base(hl_store *st)
{
    return ((shm_store *)st->impl)->base;
}

const hl_shm_plan *hl_store_shm_plan(hl_store *st)
{
    return &((shm_store *)st->impl)->plan;
}

/* s's segment, emptied and laid out anew as plan. */
static apr_status_t segment_format(shm_store *s, const hl_shm_plan *plan)
{
    memset(s->base, 0, plan->total_size);
    return hl_shm_format(s->base, plan, apr_time_now());
}

/* An anonymous segment comes zero-filled (mmap, or shmget): laid out
 * without the memset, it takes memory only where the layout writes (the
 * headers, buckets and touch slots) until entries fill it, rather than
 * all of HyperlaneCacheSize at the start. */
static apr_status_t segment_create(shm_store *s, const hl_shm_plan *plan,
                                   apr_pool_t *pool)
{
    apr_status_t rv = apr_shm_create(&s->shm, plan->total_size, NULL, pool);
    if (rv != APR_SUCCESS)
        return rv;
    s->base = apr_shm_baseaddr_get(s->shm);
    s->size = apr_shm_size_get(s->shm);
    s->plan = *plan;
    return hl_shm_format(s->base, plan, apr_time_now());
}

/* Copies old's counter and cache into s's fresh segment (hl_shm_migrate).
 * Old children may still write the old cache, and the parent never takes
 * their lock: it asks their writes to wait and keeps the copy only if none
 * slipped in, else formats s again and copies again.  An old cache of
 * another version is not ours to pause: hl_shm_migrate refuses it.
 * APR_TIMEUP: writes did not stop. */
static apr_status_t migrate(shm_store *s, const hl_shm_plan *plan,
                            const shm_store *old)
{
    hl_cache *oc = hl_shm_cache_region(old->base, &old->plan);
    int quiet = oc && hl_cache_check(oc, &old->plan.cache) == APR_SUCCESS;
    apr_uint64_t seq = 0;
    apr_status_t rv = APR_SUCCESS;
    int tries;

    for (tries = 1; ; tries++) {
        if (quiet
            && (rv = hl_cache_quiet_begin(oc, COPY_PAUSE, &seq)) != APR_SUCCESS)
            break;
        rv = hl_shm_migrate(s->base, plan, old->base, &old->plan,
                            apr_time_now());
        if (!quiet || hl_cache_quiet_end(oc, seq))
            break;
        rv = APR_TIMEUP;
        if (tries == COPY_TRIES)
            break;
        if ((rv = segment_format(s, plan)) != APR_SUCCESS)
            break;
    }
    if (quiet)
        hl_cache_resume(oc);
    return rv;
}

/* s's segment formatted anew, and the counter alone copied from old's. */
static apr_status_t migrate_counter_only(shm_store *s, const hl_shm_plan *plan,
                                         const shm_store *old)
{
    hl_shm_plan counter_only = *plan;
    apr_status_t rv;
    counter_only.cache_size = 0;
    rv = segment_format(s, plan);
    if (rv == APR_SUCCESS)
        rv = hl_shm_migrate(s->base, &counter_only, old->base, &old->plan,
                            apr_time_now());
    return rv;
}

/* Whether two plans lay a segment out alike (a plan is a function of its
 * params). */
static int plan_same(const hl_shm_plan *a, const hl_shm_plan *b)
{
    return a->params.history_capacity == b->params.history_capacity
           && a->cache_size == b->cache_size
           && a->params.cache_max_key == b->params.cache_max_key
           && a->params.cache_max_value == b->params.cache_max_value
           && a->total_size == b->total_size;
}

apr_status_t hl_store_shm_open(hl_store **out, const hl_shm_params *params,
                               hl_store *previous, apr_pool_t *pool,
                               hl_store_origin *origin)
{
    hl_shm_plan plan;
    shm_store *s;
    hl_store *st;
    apr_status_t rv = hl_shm_plan_make(params, &plan);

    if (rv != APR_SUCCESS)
        return rv;
    if (previous && previous->backend == HL_STORE_BACKEND_SHM) {
        shm_store *old = previous->impl;
        /* The ops table of the last generation may be gone with its .so. */
        previous->ops = &shm_ops;
        /* Checked against the plan the parent made it with, kept in its
         * own memory; nothing the children can write is taken as given. */
        if (plan_same(&old->plan, &plan)
            && hl_shm_check(old->base, &old->plan) == APR_SUCCESS) {
            hl_shm_header *h = old->base;
            h->generation++;
            *out = previous;
            *origin = HL_STORE_REUSED;
            return APR_SUCCESS;
        }
    }
    s = apr_pcalloc(pool, sizeof(*s));
    s->pid = (apr_int32_t)getpid();
    rv = segment_create(s, &plan, pool);
    if (rv != APR_SUCCESS)
        return rv;
    *origin = HL_STORE_CREATED;
    if (previous && previous->backend == HL_STORE_BACKEND_SHM) {
        shm_store *old = previous->impl;
        hl_store_origin left = HL_STORE_CACHE_LEFT;
        rv = migrate(s, &plan, old);
        /* The counter comes over alone (checked as always) after an
         * upgrade, where the old cache's entries have another shape and
         * are never read, or when its writers did not stop long enough
         * for one whole copy. */
        if (rv == APR_TIMEUP)
            left = HL_STORE_CACHE_BUSY;
        if (rv == APR_TIMEUP
            || (rv == APR_EGENERAL && old->plan.cache_size
                && hl_cache_other_version((const char *)old->base
                                          + old->plan.cache_off))) {
            rv = migrate_counter_only(s, &plan, old);
            if (rv == APR_SUCCESS)
                rv = HL_STORE_CACHE_LEFT_RV;
        }
        if (rv == APR_SUCCESS)
            *origin = HL_STORE_MIGRATED;
        else if (rv == HL_STORE_CACHE_LEFT_RV)
            *origin = left;
        else if (rv == APR_ENOTIMPL)
            *origin = HL_STORE_REPLACED;
        else {
            /* The old segment failed a check: nothing read from it is
             * kept, the new one starts empty. */
            if ((rv = segment_format(s, &plan)) != APR_SUCCESS)
                return rv;
            *origin = HL_STORE_DISTRUSTED;
        }
        /* Old children keep their own mapping until they exit. */
        apr_shm_destroy(old->shm);
    }
    else if (previous && previous->backend == HL_STORE_BACKEND_SHM_NOPLAN) {
        /* An older build's store: neither its record nor its segment is
         * read; the segment stays mapped until the parent exits. */
        *origin = HL_STORE_REPLACED;
    }
    st = apr_pcalloc(pool, sizeof(*st));
    st->ops = &shm_ops;
    st->impl = s;
    st->backend = HL_STORE_BACKEND_SHM;
    *out = st;
    return APR_SUCCESS;
}

static const char *origin_text(hl_store_origin origin)
{
    switch (origin) {
    case HL_STORE_REUSED:     return "kept across the restart";
    case HL_STORE_MIGRATED:   return "re-laid out for new sizes, state copied";
    case HL_STORE_REPLACED:   return "replaced, empty: the old one was laid "
                                     "out by another version of the module";
    case HL_STORE_DISTRUSTED: return "replaced, empty: the old segment "
                                     "failed its checks";
    case HL_STORE_CACHE_LEFT: return "re-laid out, the counter copied; the "
                                     "cache starts empty: the old one was "
                                     "laid out by another version of the "
                                     "module";
    case HL_STORE_CACHE_BUSY: return "re-laid out, the counter copied; the "
                                     "cache starts empty: writes to the old "
                                     "one did not stop for its copy";
    default:                  return "created";
    }
}

static apr_status_t shm_open_args(hl_store **out, const hl_store_open_args *a,
                                  const char **origin)
{
    hl_shm_params sp;
    hl_store_origin o = HL_STORE_CREATED;
    apr_status_t rv;
    memset(&sp, 0, sizeof(sp));
    sp.history_capacity = a->sizes.history_capacity;
    sp.cache_bytes = a->sizes.cache_bytes;
    sp.cache_max_key = a->sizes.cache_max_key;
    sp.cache_max_value = a->sizes.cache_max_value;
    rv = hl_store_shm_open(out, &sp, a->previous, a->pool, &o);
    *origin = origin_text(o);
    return rv;
}

static int shm_adopt(hl_store *previous)
{
    if (previous->backend != HL_STORE_BACKEND_SHM)
        return previous->backend == HL_STORE_BACKEND_SHM_NOPLAN;
    previous->ops = &shm_ops;
    return 1;
}

const hl_store_backend hl_store_shm_backend = {
    "shm", shm_open_args, shm_adopt, NULL, NULL
};
