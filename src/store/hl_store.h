/* hl_store: the one interface through which every handler reaches shared
 * state, whatever holds it.  It names no backend: a backend is one file
 * with a table of operations and an open function, and one row in the
 * table of backends (hl_store.c), chosen by HyperlaneStore.  Every
 * operation returns apr_status_t and takes plain values, never a request;
 * every backend passes the contract suite (t/unit/check_store.c).
 *
 * Life of a store: the parent opens it in its first real post_config
 * from a spec ("shm", ...), the sizes the configuration asks for and the
 * store of the previous generation (a backend may keep it, carry its
 * state over, or close it); each child calls child_init; a full stop
 * closes it with the parent's pool.
 *
 * What an operation answers, besides APR_SUCCESS and the statuses each one
 * lists below (APR_NOTFOUND, APR_EINVAL, APR_ENOSPC): a backend that
 * cannot serve now answers
 *   APR_ECONNREFUSED  it is down, unreachable, or the connection was lost
 *   APR_TIMEUP        it was slower than its timeout
 *   APR_EACCES        it refused us: authentication failed, or a command
 *                     was refused (read-only replica, out of memory, ...)
 *   APR_EGENERAL      any other error of the backend
 * and changed nothing the caller can see half-done.  The Apache side
 * answers all four with 503 and Retry-After (hl_send_store_failure). */
#ifndef HL_STORE_H
#define HL_STORE_H

#include <apr.h>
#include <apr_errno.h>
#include <apr_pools.h>
#include <apr_time.h>

typedef struct hl_store hl_store;

/* ---- the counter: its value and the newest entries of its history ---- */

#define HL_RECENT_MAX 10
#define HL_HISTORY_HOST_MAX 64   /* a host's name, NUL included */

typedef struct hl_history_entry {
    apr_uint64_t value;
    apr_time_t   time;      /* 0 while pending */
    apr_int32_t  pid;       /* 0 while pending */
    int          complete;  /* 0: the increment is still being recorded */
    char         host[HL_HISTORY_HOST_MAX];  /* who made it; "" when the
                                              * backend does not know */
} hl_history_entry;

typedef struct hl_counter_snapshot {
    apr_uint64_t current_value;
    apr_uint64_t history_length;    /* min(current_value, capacity) */
    apr_uint64_t capacity;
    int          n_recent;          /* entries in recent[], newest first */
    hl_history_entry recent[HL_RECENT_MAX];
} hl_counter_snapshot;

/* ---- the cache ---------------------------------------------------------- */

/* Times are microseconds since 1970, written by this module; one before
 * 1970 or past 2^62 (146,000 years on) comes only from a crafted persist
 * file or a tampered Redis, and would overflow the ages and TTLs worked
 * out from it.  Backends refuse such a time as a lying record. */
#define HL_STORE_TIMES_MAX ((apr_uint64_t)1 << 62)

/* What a hit returns: a copy of the value in the caller's pool. */
typedef struct hl_cache_result {
    char        *value;         /* vlen bytes plus a NUL not counted */
    apr_size_t   vlen;
    apr_uint64_t access_count;  /* including this hit */
    apr_time_t   set_time;
    apr_time_t   expires;       /* 0: never */
    apr_interval_time_t age;    /* now - set_time */
    apr_uint64_t version;       /* the entry's version (see below) */
} hl_cache_result;

/* Versions.  Every write of a value (set, add) gives the entry a new
 * version, taken from a counter of the store, never a hash of the value:
 * two writes of the same bytes get two versions, and a key deleted and
 * set again never gets back a version it had.  A touch changes the
 * lifetime, not the value, and keeps the version (a reader extending an
 * entry's life must not break a writer's If-Match loop).  Versions are
 * non-zero; 0 means "no entry". */

/* The conditions of a write (RFC 9110 If-Match / If-None-Match), judged
 * by the store against the entry's version under the same lock or
 * transaction as the write, so that between judging and writing nobody
 * else writes.  A live (unexpired) entry exists; an expired one does not.
 *   if_match:      ANY holds when the entry exists ("*"); LIST when it
 *                  exists and its version is one of match[] (strong
 *                  comparison: the caller leaves weak tags out).
 *   if_none_match: ANY holds when the entry does not exist ("*"); LIST
 *                  unless it exists with a version in none_match[].
 * Both must hold; when one does not, the operation changes nothing and
 * answers HL_STORE_EPRECONDITION. */
#define HL_COND_TAGS_MAX 16
typedef enum { HL_COND_NONE = 0, HL_COND_ANY, HL_COND_LIST } hl_cond_kind;

typedef struct hl_cache_cond {
    hl_cond_kind if_match, if_none_match;
    int          n_match, n_none_match;
    apr_uint64_t match[HL_COND_TAGS_MAX], none_match[HL_COND_TAGS_MAX];
} hl_cache_cond;

/* What a write left: the state of the entry afterwards (or, when a
 * condition failed, as it is, unchanged). */
typedef struct hl_cache_written {
    int          existed;       /* a live entry was there before */
    apr_uint64_t version;       /* its version now; 0: no entry */
    apr_time_t   expires;       /* 0: never */
    apr_int64_t  number;        /* add: the new value */
} hl_cache_written;

/* The store's own errors, beside APR's. */
#define HL_STORE_EPRECONDITION (APR_OS_START_USERERR + 2001) /* 412 */
#define HL_STORE_ENOTINT       (APR_OS_START_USERERR + 2002) /* 409 */
#define HL_STORE_EOVERFLOW     (APR_OS_START_USERERR + 2003) /* 409 */

/* Listing.  A page is at most limit entries whose keys begin with
 * prefix, in the backend's own order, and a cursor for the next page
 * (NULL once the scan is complete).  A cursor is text the backend made;
 * another backend, or a store re-laid out since (a resize), refuses it
 * with APR_EINVAL.  The guarantee every backend gives: a key present,
 * unexpired, from the first page of a scan to its last is listed at
 * least once; a key written or deleted meanwhile may be listed or not;
 * a page may hold fewer than limit entries (even none) and still have a
 * next cursor.  A backend never blocks other operations for more than a
 * bounded batch of a page. */
typedef struct hl_cache_listed {
    char        *key;           /* klen bytes plus a NUL, in the pool */
    apr_size_t   klen;
    apr_size_t   vlen;
    apr_uint64_t version;
    apr_time_t   expires;       /* 0: never */
} hl_cache_listed;

typedef struct hl_cache_list_args {
    const void  *prefix;        /* may be NULL when plen is 0 */
    apr_size_t   plen;
    const char  *cursor;        /* NULL or "": the first page */
    int          limit;         /* 1..; the caller bounds it */
    apr_time_t   now;
} hl_cache_list_args;

typedef struct hl_cache_list_page {
    hl_cache_listed *items;     /* n of them, in the pool */
    int          n;
    const char  *next_cursor;   /* NULL: the scan is complete */
    apr_uint64_t scanned;       /* entries looked at for this page */
} hl_cache_list_page;

/* Figures only some backends have, which the JSON adds after the common
 * ones, in order: a number, or a text when text[0] is set. */
#define HL_STORE_EXTRA_MAX  4
#define HL_STORE_EXTRA_TEXT 128

typedef struct hl_store_figure {
    const char  *name;          /* a JSON member name, static */
    apr_uint64_t number;
    char         text[HL_STORE_EXTRA_TEXT];
} hl_store_figure;

typedef struct hl_cache_stats {
    apr_uint64_t total_entries;
    apr_uint64_t total_accesses;   /* sum of access_count of live entries */
    apr_uint64_t hits, misses, sets, deletes, evictions, expirations;
    apr_uint64_t bytes_used;       /* bytes held by live entries */
    apr_uint64_t capacity_bytes;   /* what the cache may hold */
    apr_uint64_t max_key, max_value;
    const char  *store;            /* the backend's name (hl_store_usage);
                                    * hl_store_cache_stats sets it */
    int          n_extra;
    hl_store_figure extra[HL_STORE_EXTRA_MAX];
} hl_cache_stats;

/* ---- the store itself --------------------------------------------------- */

typedef struct hl_store_usage {
    const char  *backend;      /* "shm" or "redis" */
    apr_size_t   size_bytes;   /* what the backend reserved */
    apr_size_t   used_bytes;   /* what holds data now */
    apr_uint64_t generation;   /* configuration generations it has lived */
    apr_time_t   created;
} hl_store_usage;

/* What the configuration asks a store to hold. */
typedef struct hl_store_sizes {
    apr_uint32_t history_capacity;
    apr_size_t   cache_bytes;      /* 0: no cache */
    apr_size_t   cache_max_key;
    apr_size_t   cache_max_value;
} hl_store_sizes;

/* How a backend tells the server's log what happened to it (an outage
 * that starts or ends), outside any request.  level: an APLOG_* level. */
typedef void (*hl_store_log_fn)(void *baton, int level, const char *message);

typedef struct hl_store_open_args {
    const char    *spec;       /* HyperlaneStore: "shm", "redis://...", ... */
    hl_store_sizes sizes;
    hl_store      *previous;   /* the last generation's store, or NULL */
    apr_pool_t    *pool;       /* lives as long as the parent process */
    /* For backends over the network; 0 or NULL: their defaults. */
    const char    *host;       /* this host's name, for history entries */
    const char    *key_prefix; /* HyperlaneRedisPrefix */
    apr_interval_time_t timeout;      /* connect and command timeout */
    int            max_connections;   /* per process */
    hl_store_log_fn log;       /* NULL: say nothing */
    void          *log_baton;
} hl_store_open_args;

/* What writing or loading a snapshot file did (HyperlanePersistFile), for
 * the log. */
#define HL_PERSIST_WHY_MAX 160

/* When a snapshot is written: while the server runs (periodic: what
 * changed after it is lost if the server crashes), or at a clean stop
 * (nothing changes after it).  A restore of a periodic file starts the
 * cache's counters from 0: they have lost the counts since, and a
 * counter that came back lower than it was scraped would read to
 * Prometheus as a reset followed by a burst of that many. */
typedef enum { HL_PERSIST_PERIODIC, HL_PERSIST_AT_STOP } hl_persist_when;

typedef struct hl_persist_report {
    hl_store_sizes made_with;       /* the sizes of the store that wrote it */
    apr_time_t   written_at;
    apr_uint64_t counter_value;
    apr_uint64_t history_in_file, history_restored;
    apr_uint64_t entries_in_file, entries_restored;
    apr_uint64_t entries_expired;   /* dropped at load: their time had passed */
    apr_uint64_t entries_left_out;  /* did not fit the new sizes */
    apr_uint64_t last_version;      /* the cache's last version handed out */
    apr_uint64_t bytes;             /* the file's size */
    apr_uint64_t batches;           /* quiet reads the cache was copied in */
    apr_interval_time_t took;
    int          moved_aside;       /* a bad file was renamed to path.bad */
    int          kept_aside;        /* unloaded for want of memory: linked
                                       as path.unloaded */
    int          stats_restored;    /* the cache's counters came back */
    char         why[HL_PERSIST_WHY_MAX];   /* what was wrong, "" if nothing */
} hl_persist_report;

typedef struct hl_store_ops {
    apr_status_t (*child_init)(hl_store *st, apr_pool_t *pchild);
    apr_status_t (*close)(hl_store *st);
    apr_status_t (*counter_increment)(hl_store *st, apr_int32_t pid,
                                      apr_uint64_t *value_out);
    apr_status_t (*counter_snapshot)(hl_store *st, int max_recent,
                                     hl_counter_snapshot *snap);
    apr_status_t (*usage)(hl_store *st, hl_store_usage *u);
    apr_status_t (*cache_get)(hl_store *st, apr_pool_t *pool, const void *key,
                              apr_size_t klen, apr_time_t now,
                              hl_cache_result *res);
    apr_status_t (*cache_set)(hl_store *st, const void *key, apr_size_t klen,
                              const void *val, apr_size_t vlen, apr_time_t now,
                              apr_interval_time_t ttl, int *replaced);
    apr_status_t (*cache_delete)(hl_store *st, const void *key,
                                 apr_size_t klen, apr_time_t now);
    apr_status_t (*cache_stats)(hl_store *st, hl_cache_stats *stats);
    /* The cache API (issue 20); a backend without one leaves it NULL and
     * its wrapper below answers APR_ENOTIMPL. */
    apr_status_t (*cache_put)(hl_store *st, const void *key, apr_size_t klen,
                              const void *val, apr_size_t vlen, apr_time_t now,
                              apr_interval_time_t ttl,
                              const hl_cache_cond *cond, hl_cache_written *w);
    apr_status_t (*cache_remove)(hl_store *st, const void *key,
                                 apr_size_t klen, apr_time_t now,
                                 const hl_cache_cond *cond,
                                 hl_cache_written *w);
    apr_status_t (*cache_touch)(hl_store *st, const void *key,
                                apr_size_t klen, apr_time_t now,
                                apr_interval_time_t ttl,
                                const hl_cache_cond *cond,
                                hl_cache_written *w);
    apr_status_t (*cache_add)(hl_store *st, const void *key, apr_size_t klen,
                              apr_int64_t delta, const apr_int64_t *init,
                              apr_interval_time_t init_ttl, apr_time_t now,
                              const hl_cache_cond *cond, hl_cache_written *w);
    apr_status_t (*cache_list)(hl_store *st, apr_pool_t *pool,
                               const hl_cache_list_args *a,
                               hl_cache_list_page *page);
    /* Snapshot files (HyperlanePersistFile); NULL for a backend that keeps
     * its state itself (its row says why). */
    apr_status_t (*persist_save)(hl_store *st, const char *path,
                                 apr_time_t now, hl_persist_when when,
                                 apr_pool_t *p, hl_persist_report *rep);
    apr_status_t (*persist_load)(hl_store *st, const char *path,
                                 apr_time_t now, apr_pool_t *p,
                                 hl_persist_report *rep);
} hl_store_ops;

/* A row of the table of backends.  A store outlives the module's code
 * across graceful restarts (httpd unloads and reloads the .so, maybe at
 * another address), so a store is recognised by its backend's number,
 * never by its ops pointer: adopt re-points the ops of a previous store
 * whose number is the backend's own and answers 1, else 0. */
typedef struct hl_store_backend {
    const char *name;          /* the spec's word, or its scheme before "://" */
    apr_status_t (*open)(hl_store **out, const hl_store_open_args *a,
                         const char **origin);
    int (*adopt)(hl_store *previous);
    /* NULL, or checks the whole spec (at configtest): APR_EINVAL and
     * *error, in p, for a malformed one. */
    apr_status_t (*check)(apr_pool_t *p, const char *spec, const char **error);
    /* NULL: its stores keep a HyperlanePersistFile (ops persist_save and
     * persist_load); else why the directive is refused with this store,
     * for the configuration error. */
    const char *no_persist_file;
} hl_store_backend;

struct hl_store {
    const hl_store_ops *ops;
    void *impl;
    int backend;               /* the backend's number (its own header) */
};

/* Opens the store spec names.  *origin gets how it came by its state, for
 * the log ("created", "kept across the restart", ...).  A previous store of
 * another backend is closed once the new one is open. */
apr_status_t hl_store_open(hl_store **out, const hl_store_open_args *a,
                           const char **origin);
/* APR_SUCCESS if spec names a backend that is built in and is well
 * formed; else APR_EINVAL and *error, in p, says why (an unknown name:
 * with those that are built in).  A password in spec never appears in
 * *error. */
apr_status_t hl_store_spec_check(apr_pool_t *p, const char *spec,
                                 const char **error);
apr_status_t hl_store_close(hl_store *st);

/* A key prefix for backends that name keys (HyperlaneRedisPrefix): NULL
 * if prefix is 1..HL_STORE_PREFIX_MAX printable ASCII bytes without
 * spaces, else why not, in p. */
#define HL_STORE_PREFIX_MAX 64
const char *hl_store_prefix_check(apr_pool_t *p, const char *prefix);
/* APR_SUCCESS if the store spec names keeps a HyperlanePersistFile; else
 * APR_ENOTIMPL (APR_EINVAL for an unknown spec) and *why, in p, says why. */
apr_status_t hl_store_persist_check(apr_pool_t *p, const char *spec,
                                    const char **why);
/* Writes a snapshot of the store to path: a temporary file beside it,
 * fsynced and renamed over it, then the directory fsynced, so the file on
 * disk is always a whole snapshot, older or newer; what has expired at now
 * is left out.  Never from a request.  APR_ENOTIMPL when the backend keeps
 * no file. */
apr_status_t hl_store_persist_save(hl_store *st, const char *path,
                                   apr_time_t now, hl_persist_when when,
                                   apr_pool_t *p, hl_persist_report *rep);
/* Loads the snapshot at path into a store just opened and not yet used
 * by anybody: APR_SUCCESS (rep says what was restored), APR_ENOENT (no
 * file: nothing done), or another status when the file is unreadable,
 * truncated, corrupt or of another format version: then rep->why says
 * what, the file was moved aside to path.bad (rep->moved_aside) and the
 * store is empty, never half-loaded.  Out of memory (APR_ENOMEM) says
 * nothing against the file: it stays, and is hard-linked as
 * path.unloaded too (rep->kept_aside), since the snapshots written from
 * then on replace path. */
apr_status_t hl_store_persist_load(hl_store *st, const char *path,
                                   apr_time_t now, apr_pool_t *p,
                                   hl_persist_report *rep);

apr_status_t hl_store_child_init(hl_store *st, apr_pool_t *pchild);
apr_status_t hl_store_counter_increment(hl_store *st, apr_int32_t pid,
                                        apr_uint64_t *value_out);
/* The current value and the newest max_recent (0..HL_RECENT_MAX, else
 * APR_EINVAL) entries, newest first. */
apr_status_t hl_store_counter_snapshot(hl_store *st, int max_recent,
                                       hl_counter_snapshot *snap);
apr_status_t hl_store_usage_read(hl_store *st, hl_store_usage *u);

/* Cache: APR_SUCCESS / APR_NOTFOUND, res holds a copy of the value in pool,
 * access_count after this hit and the age.  now is the caller's clock.
 * APR_EINVAL for a key of 0 or more than max_key bytes. */
apr_status_t hl_store_cache_get(hl_store *st, apr_pool_t *pool,
                                const void *key, apr_size_t klen,
                                apr_time_t now, hl_cache_result *res);
/* ttl: lifetime from now (0: never expires).  APR_EINVAL on lengths beyond
 * the store's limits or a negative ttl, APR_ENOSPC if the entry can never
 * fit; otherwise room is made: expired entries first, then the least
 * recently used, each counted. */
apr_status_t hl_store_cache_set(hl_store *st, const void *key, apr_size_t klen,
                                const void *val, apr_size_t vlen,
                                apr_time_t now, apr_interval_time_t ttl,
                                int *replaced);
/* APR_SUCCESS or APR_NOTFOUND (an expired entry counts as not found). */
apr_status_t hl_store_cache_delete(hl_store *st, const void *key,
                                   apr_size_t klen, apr_time_t now);
apr_status_t hl_store_cache_stats(hl_store *st, hl_cache_stats *stats);

/* ---- the cache API: every one answers APR_ENOTIMPL on a backend that
 * lacks it, APR_EINVAL for a key of 0 or more than max_key bytes or a
 * negative ttl, HL_STORE_EPRECONDITION when cond (NULL: none) does not
 * hold, and fills w (never NULL) with the entry's state afterwards. ---- */

/* A set under conditions: as hl_store_cache_set, and the entry gets a
 * new version. */
apr_status_t hl_store_cache_put(hl_store *st, const void *key, apr_size_t klen,
                                const void *val, apr_size_t vlen,
                                apr_time_t now, apr_interval_time_t ttl,
                                const hl_cache_cond *cond, hl_cache_written *w);
/* A delete under conditions: APR_NOTFOUND if there is no live entry
 * (whatever the conditions: RFC 9110 judges them only where the answer
 * would otherwise succeed), else HL_STORE_EPRECONDITION when cond fails. */
apr_status_t hl_store_cache_remove(hl_store *st, const void *key,
                                   apr_size_t klen, apr_time_t now,
                                   const hl_cache_cond *cond,
                                   hl_cache_written *w);
/* A new lifetime for a live entry, ttl from now (0: never expires); the
 * value and its version stay.  APR_NOTFOUND if there is none (before
 * cond is judged, as for remove). */
apr_status_t hl_store_cache_touch(hl_store *st, const void *key,
                                  apr_size_t klen, apr_time_t now,
                                  apr_interval_time_t ttl,
                                  const hl_cache_cond *cond,
                                  hl_cache_written *w);
/* Atomic add (lua_shared_dict's incr(key, delta, init, init_ttl)): a live
 * entry holding a decimal integer (an optional '-' and 1 to 19 digits,
 * nothing else, within int64) becomes that plus delta, in decimal, with a
 * new version and its lifetime kept; a missing one is created as
 * *init + delta living init_ttl (0: never), or APR_NOTFOUND when init is
 * NULL.  HL_STORE_ENOTINT for a value that is no such integer,
 * HL_STORE_EOVERFLOW when the sum leaves int64; both change nothing.
 * cond (NULL: none) is judged as for put, a missing entry as not
 * existing, after the APR_NOTFOUND of a missing one without init (as for
 * touch) and before the add's own refusals (RFC 9110, 13.2.2: conditions
 * before the method): HL_STORE_EPRECONDITION changes nothing and tells
 * the current version in w.  w->number gets the new value. */
apr_status_t hl_store_cache_add(hl_store *st, const void *key, apr_size_t klen,
                                apr_int64_t delta, const apr_int64_t *init,
                                apr_interval_time_t init_ttl, apr_time_t now,
                                const hl_cache_cond *cond,
                                hl_cache_written *w);
/* One page of a listing (see hl_cache_list_page for the guarantee).
 * APR_EINVAL for a limit below 1 or a cursor this store did not make. */
apr_status_t hl_store_cache_list(hl_store *st, apr_pool_t *pool,
                                 const hl_cache_list_args *a,
                                 hl_cache_list_page *page);

/* For backends: whether cond holds for an entry that exists (or not)
 * with version. */
int hl_cache_cond_holds(const hl_cache_cond *cond, int exists,
                        apr_uint64_t version);
/* An integer as the add's contract reads it: 1 and *out, else 0. */
int hl_cache_parse_int(const char *s, apr_size_t len, apr_int64_t *out);

#endif
