/* hl_store_redis: the store backend in a Redis server shared by several
 * Apache hosts (HyperlaneStore redis://... or redis+unix://...), through
 * hiredis.  Built when configure finds hiredis (--with-redis). */
#ifndef HL_STORE_REDIS_H
#define HL_STORE_REDIS_H

#include "hl_store.h"

/* Its stores' number (hl_store.h); far from the shm backend's. */
enum { HL_STORE_BACKEND_REDIS = 16 };

#define HL_REDIS_DEFAULT_PORT        6379
#define HL_REDIS_DEFAULT_PREFIX      "hyperlane:"
#define HL_REDIS_DEFAULT_TIMEOUT     apr_time_from_msec(250)
#define HL_REDIS_DEFAULT_CONNECTIONS 25
/* How long after a failed connect requests fail at once, before one of
 * them tries again. */
#define HL_REDIS_RETRY_INTERVAL      apr_time_from_sec(1)
/* A pooled connection unused this long is asked PING before its next
 * call, and replaced if it does not answer. */
#define HL_REDIS_IDLE_CHECK          apr_time_from_sec(1)
/* What an entry costs the cache's byte budget, so that HyperlaneCacheSize
 * bounds what Redis spends on the cache: its hash and its places in the
 * sorted sets, the prefixed key in each of them (the hash's name, c:keys,
 * c:lru, c:exp), and more once a value is past what Redis keeps in a
 * compact hash (hash-max-listpack-value), where the allocator's size
 * classes also round it up by up to a quarter.
 * test_entry_cost_is_what_redis_spends measures Redis against it;
 * bench/RESULTS.md has the figures. */
#define HL_REDIS_ENTRY_OVERHEAD      512
#define HL_REDIS_KEY_COPIES          4
#define HL_REDIS_COMPACT_VALUE       64
#define HL_REDIS_TABLE_OVERHEAD      512

/* An entry's cost to the byte budget, of a key klen bytes long under a
 * prefix plen long, and a value vlen long. */
apr_size_t hl_redis_entry_bytes(apr_size_t plen, apr_size_t klen,
                                apr_size_t vlen);

/* Where a spec says Redis is. */
typedef struct hl_redis_addr {
    const char *host;          /* NULL for a Unix socket */
    int         port;
    const char *socket_path;   /* redis+unix:// */
    const char *user;          /* NULL: none (AUTH password alone) */
    const char *password;      /* NULL: no AUTH */
    int         db;
} hl_redis_addr;

/* Parses redis://[[user]:password@]host[:port][/db] (host a name, an IPv4
 * address or [an IPv6 one]; user and password percent-decoded) or
 * redis+unix://[[user]:password@]/path/to.sock[?db=N].  APR_EINVAL and
 * *error (in p, the password never in it) for anything else. */
apr_status_t hl_redis_addr_parse(apr_pool_t *p, const char *spec,
                                 hl_redis_addr *out, const char **error);

/* The address as a URL to show, its password (if any) written "***". */
const char *hl_redis_addr_masked(apr_pool_t *p, const hl_redis_addr *a);

/* For the tests: a pooled connection is asked PING after t unused
 * instead of HL_REDIS_IDLE_CHECK, so that a test can count on a dead
 * connection being met by its call however slow the machine is. */
void hl_store_redis_test_idle_check(hl_store *st, apr_interval_time_t t);

/* The store status (hl_store.h) for what went wrong: a hiredis context
 * error (REDIS_ERR_*, 0: none) with the errno it left, or else an error
 * reply's text. */
apr_status_t hl_redis_status_of(int context_err, int saved_errno,
                                const char *reply_error);

/* The rows of the table (hl_store.c). */
extern const hl_store_backend hl_store_redis_backend;
extern const hl_store_backend hl_store_redis_unix_backend;

#endif
