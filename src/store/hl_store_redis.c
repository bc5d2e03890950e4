/* hl_store_redis: the store in a Redis server, so that several Apache
 * hosts share one counter, one history and one cache.
 *
 * Every operation is one FCALL of the library in hl_store_redis.lua
 * (embedded at build time), which does the whole step inside Redis: no
 * host ever reads, decides and writes in separate round trips, so hosts
 * writing at once cannot break the counter, the history or the cache's
 * accounting.  The library is loaded by each process before its first
 * call, and again whenever Redis answers that it is missing (a restart
 * without persistence, a failover, FUNCTION FLUSH).
 *
 * Connections: each process keeps an apr_reslist of them (as mod_proxy
 * keeps its own), made in child_init, opened lazily, reused across
 * requests and threads, dropped after an error of the connection (one
 * whose command Redis refused goes back to the list).  A connection
 * that cannot be made, or a command slower than the timeout, starts a
 * short stretch (HL_REDIS_RETRY_INTERVAL) in which requests fail at once
 * instead of each waiting out the timeout; then one request tries again,
 * so service resumes by itself.  The log gets one line when trouble
 * starts and one when Redis answers again, for the whole host (the
 * processes share a count of the lines told), never one per request;
 * when Redis refuses writes only, a write's success tells it back.  The
 * address it names has its password masked.
 */
#include "hl_store_redis.h"
#include "hl_store_redis_lua.h"

#include <apr_lib.h>
#include <apr_reslist.h>
#include <apr_shm.h>
#include <apr_strings.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEVEL_ERR    3    /* APLOG_ERR, APLOG_NOTICE: the core has no httpd */
#define LEVEL_NOTICE 5
#define FCALL_MAX_ARGS 10

/* A connection of the pool, and the epoch it was made in: when one is
 * lost (Redis restarted, say), those made before are dropped unused
 * rather than each failing one request. */
typedef struct redis_conn {
    redisContext *c;
    apr_uint32_t  epoch;
    apr_uint32_t  told_at;           /* the host's lines told when made */
    apr_time_t    handed_out;        /* when a call last took it */
} redis_conn;

typedef struct redis_store {
    hl_redis_addr addr;
    const char   *masked;            /* the address to show */
    const char   *prefix;
    apr_interval_time_t timeout;
    apr_interval_time_t idle_check;  /* HL_REDIS_IDLE_CHECK; tests may
                                        lengthen it */
    int           max_connections;
    hl_store_sizes sizes;
    char          host[HL_HISTORY_HOST_MAX];
    hl_store_log_fn log;
    void         *log_baton;
    apr_reslist_t *conns;            /* this process's connections */
    apr_time_t    created;
    apr_uint64_t  generation;
    /* This process's view of Redis, shared by its threads (atomics). */
    apr_int64_t   down_until;        /* fail at once until then; 0: up */
    apr_uint32_t  last_error;        /* the status failing at once gives */
    apr_shm_t    *told_shm;          /* the host's word below, shared by */
    apr_uint32_t *told;              /* every process: see TOLD_ below */
    apr_uint32_t  loaded;            /* the library loaded by this process */
    apr_uint32_t  epoch;             /* moves on when a connection is lost */
    apr_uint64_t  bytes_seen;        /* the cache's bytes, as last answered */
    apr_int64_t   readonly_until;    /* a new connection was refused
                                      * READONLY: no retry until then */
} redis_store;

/* ---- the address ----------------------------------------------------- */

/* Percent-decodes [s, s + n) into p; NULL on a bad escape or a NUL. */
static char *decode(apr_pool_t *p, const char *s, apr_size_t n)
{
    char *out = apr_palloc(p, n + 1), *o = out;
    apr_size_t i;
    for (i = 0; i < n; i++) {
        if (s[i] == '%') {
            char hex[3] = { 0, 0, 0 };
            char *end;
            long v;
            if (i + 2 >= n)
                return NULL;
            hex[0] = s[i + 1];
            hex[1] = s[i + 2];
            v = strtol(hex, &end, 16);
            if (*end || v == 0 || !apr_isxdigit(hex[0]) || !apr_isxdigit(hex[1]))
                return NULL;
            *o++ = (char)v;
            i += 2;
        }
        else
            *o++ = s[i];
    }
    *o = '\0';
    return out;
}

/* A decimal number in [min, max] spanning all of s. */
static int number_in(const char *s, long min, long max, long *out)
{
    char *end;
    long v;
    if (!apr_isdigit(*s) || strlen(s) > 9)
        return 0;
    v = strtol(s, &end, 10);
    if (*end || v < min || v > max)
        return 0;
    *out = v;
    return 1;
}

static int host_ok(const char *h, int bracketed)
{
    const char *c;
    if (!*h || strlen(h) > 253)
        return 0;
    for (c = h; *c; c++)
        if (bracketed ? !(apr_isxdigit(*c) || *c == ':' || *c == '.')
                      : !(apr_isalnum(*c) || *c == '-' || *c == '.' || *c == '_'))
            return 0;
    return 1;
}

/* "[[user]:password@]" at the front of *rest, ending at at (NULL: none),
 * taken off it.  The user ends at the first colon; the password may hold
 * any byte, percent-encoded or not (but @ and / only encoded for a
 * socket path). */
static const char *take_userinfo(apr_pool_t *p, const char **rest,
                                 const char *at, hl_redis_addr *out)
{
    const char *colon;
    if (!at)
        return NULL;
    colon = memchr(*rest, ':', (apr_size_t)(at - *rest));
    if (!colon)
        return "a user needs a password (user:password@)";
    if (colon > *rest
        && !(out->user = decode(p, *rest, (apr_size_t)(colon - *rest))))
        return "bad percent-encoding in the user";
    if (!(out->password = decode(p, colon + 1, (apr_size_t)(at - colon - 1))))
        return "bad percent-encoding in the password";
    if (!*out->password)
        return "empty password";
    *rest = at + 1;
    return NULL;
}

static apr_status_t parse_tcp(apr_pool_t *p, const char *rest,
                              hl_redis_addr *out, const char **why)
{
    const char *slash, *hostport, *portstr = NULL;
    char *host;
    long v;

    /* Neither the host nor the database holds an @: the last one ends
     * the password. */
    if ((*why = take_userinfo(p, &rest, strrchr(rest, '@'), out)) != NULL)
        return APR_EINVAL;
    slash = strchr(rest, '/');
    hostport = slash ? apr_pstrndup(p, rest, (apr_size_t)(slash - rest))
                     : apr_pstrdup(p, rest);
    if (hostport[0] == '[') {
        const char *close = strchr(hostport, ']');
        if (!close) {
            *why = "an IPv6 address needs its closing ]";
            return APR_EINVAL;
        }
        host = apr_pstrndup(p, hostport + 1, (apr_size_t)(close - hostport - 1));
        if (close[1] == ':')
            portstr = close + 2;
        else if (close[1]) {
            *why = "unexpected text after the IPv6 address";
            return APR_EINVAL;
        }
        if (!host_ok(host, 1)) {
            *why = "bad IPv6 address";
            return APR_EINVAL;
        }
    }
    else {
        char *colon;
        host = apr_pstrdup(p, hostport);
        if ((colon = strchr(host, ':')) != NULL) {
            *colon = '\0';
            portstr = colon + 1;
        }
        if (!host_ok(host, 0)) {
            *why = "missing or bad host name";
            return APR_EINVAL;
        }
    }
    out->host = host;
    out->port = HL_REDIS_DEFAULT_PORT;
    if (portstr) {
        if (!number_in(portstr, 1, 65535, &v)) {
            *why = "the port must be 1-65535";
            return APR_EINVAL;
        }
        out->port = (int)v;
    }
    if (slash && slash[1]) {
        if (!number_in(slash + 1, 0, 999999999, &v)) {
            *why = "the database must be a number (/0, /1, ...)";
            return APR_EINVAL;
        }
        out->db = (int)v;
    }
    return APR_SUCCESS;
}

static apr_status_t parse_unix(apr_pool_t *p, const char *rest,
                               hl_redis_addr *out, const char **why)
{
    const char *q;
    long v;
    if (rest[0] != '/'
        && (*why = take_userinfo(p, &rest, strstr(rest, "@/"), out)) != NULL)
        return APR_EINVAL;
    if (rest[0] != '/') {
        *why = "the socket needs an absolute path (redis+unix:///path)";
        return APR_EINVAL;
    }
    q = strchr(rest, '?');
    out->socket_path = q ? apr_pstrndup(p, rest, (apr_size_t)(q - rest))
                         : apr_pstrdup(p, rest);
    if (strlen(out->socket_path) < 2 || strlen(out->socket_path) > 107) {
        *why = "the socket path must be 2-107 bytes";
        return APR_EINVAL;
    }
    if (q) {
        if (strncmp(q, "?db=", 4) != 0 || !number_in(q + 4, 0, 999999999, &v)) {
            *why = "after the path only ?db=N may follow";
            return APR_EINVAL;
        }
        out->db = (int)v;
    }
    return APR_SUCCESS;
}

apr_status_t hl_redis_addr_parse(apr_pool_t *p, const char *spec,
                                 hl_redis_addr *out, const char **error)
{
    const char *why = NULL;
    apr_status_t rv;
    memset(out, 0, sizeof(*out));
    if (spec && strncmp(spec, "redis://", 8) == 0)
        rv = parse_tcp(p, spec + 8, out, &why);
    else if (spec && strncmp(spec, "redis+unix://", 13) == 0)
        rv = parse_unix(p, spec + 13, out, &why);
    else {
        rv = APR_EINVAL;
        why = "not a redis:// or redis+unix:// URL";
    }
    if (rv != APR_SUCCESS)
        *error = apr_pstrcat(p, "malformed Redis URL: ", why,
                             " (expected redis://[user:password@]host[:port][/db]"
                             " or redis+unix:///path/to.sock)", NULL);
    return rv;
}

const char *hl_redis_addr_masked(apr_pool_t *p, const hl_redis_addr *a)
{
    const char *auth = a->password
        ? apr_pstrcat(p, a->user ? a->user : "", ":***@", NULL) : "";
    if (a->socket_path)
        return a->db ? apr_psprintf(p, "redis+unix://%s%s?db=%d", auth,
                                    a->socket_path, a->db)
                     : apr_psprintf(p, "redis+unix://%s%s", auth, a->socket_path);
    return apr_psprintf(p, strchr(a->host, ':') ? "redis://%s[%s]:%d/%d"
                                                : "redis://%s%s:%d/%d",
                        auth, a->host, a->port, a->db);
}

/* ---- what went wrong ----------------------------------------------- */

static int starts(const char *s, const char *word)
{
    return strncmp(s, word, strlen(word)) == 0;
}

/* An error Redis gives writes only, running no-writes calls still: a
 * replica, a full memory (noeviction), a disk that fails its saves. */
static int refuses_writes_only(const char *reply_error)
{
    return reply_error && (starts(reply_error, "READONLY")
                           || starts(reply_error, "OOM")
                           || starts(reply_error, "MISCONF"));
}

apr_status_t hl_redis_status_of(int context_err, int saved_errno,
                                const char *reply_error)
{
    if (context_err == REDIS_ERR_IO)
        return saved_errno == EAGAIN || saved_errno == EWOULDBLOCK
               || saved_errno == ETIMEDOUT || saved_errno == EINPROGRESS
               ? APR_TIMEUP : APR_ECONNREFUSED;
    if (context_err == REDIS_ERR_EOF || context_err == REDIS_ERR_OTHER)
        return APR_ECONNREFUSED;      /* lost, or no such host */
    if (context_err)
        return APR_EGENERAL;          /* protocol, out of memory */
    if (!reply_error)
        return APR_EGENERAL;
    if (refuses_writes_only(reply_error)
        || starts(reply_error, "NOAUTH") || starts(reply_error, "WRONGPASS")
        || starts(reply_error, "NOPERM") || starts(reply_error, "ERR AUTH")
        || starts(reply_error, "ERR invalid password")
        || starts(reply_error, "ERR Client sent AUTH"))
        return APR_EACCES;
    if (starts(reply_error, "LOADING") || starts(reply_error, "MASTERDOWN")
        || starts(reply_error, "TRYAGAIN"))
        return APR_ECONNREFUSED;
    if (starts(reply_error, "BUSY"))
        return APR_TIMEUP;
    return APR_EGENERAL;
}

static void say(redis_store *s, int level, const char *fmt, const char *what,
                const char *detail)
{
    char line[512];
    if (!s->log)
        return;
    apr_snprintf(line, sizeof(line), fmt, s->masked, what, detail);
    s->log(s->log_baton, level, line);
}

/* The host's count of the lines told.  Calm while it is a multiple of
 * 4; an outage adds 1, or 3 when Redis refuses writes only (then the
 * success of a no-writes call must not tell Redis back, and a worse
 * failure adds 2, a plain outage); its end rounds it up to the next
 * multiple of 4.  One word, so that one compare-and-swap both tells a
 * line and says which. */
#define TOLD_CALM(n)            (((n) & 3) == 0)
#define TOLD_WRITES_REFUSED(n)  (((n) & 3) == 3)

/* A failure of a call that began when the count was seen: logged if no
 * outage was told then (or only writes were refused, and now more
 * fails) and no line since: a failure of a call begun before another
 * process told Redis back says nothing of Redis now.  The count is the
 * host's, not a process's: whichever process told the last line may be
 * gone (a prefork child).  fail_fast: the next requests fail at once
 * for a while; writes_only: Redis refused a write and runs reads. */
static void note_failure(redis_store *s, apr_uint32_t seen, apr_status_t rv,
                         const char *what, const char *detail, int fail_fast,
                         int writes_only)
{
    apr_uint32_t next;
    if (fail_fast) {
        __atomic_store_n(&s->last_error, (apr_uint32_t)rv, __ATOMIC_RELAXED);
        __atomic_store_n(&s->down_until,
                         apr_time_now() + HL_REDIS_RETRY_INTERVAL,
                         __ATOMIC_RELEASE);
    }
    if (TOLD_CALM(seen))
        next = seen + (writes_only ? 3 : 1);
    else if (TOLD_WRITES_REFUSED(seen) && !writes_only)
        next = seen + 2;
    else
        return;
    if (__atomic_compare_exchange_n(s->told, &seen, next, 0,
                                    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
        say(s, LEVEL_ERR, "mod_hyperlane: Redis at %s: %s (%s); requests that "
            "need the store get 503 until it answers", what,
            detail && *detail ? detail : "no detail");
}

/* A reply to a call that began when the count was seen, on a connection
 * made in this process's epoch conn_epoch; wrote: a call that writes.
 * It ends the told outage only if the call began after the outage was
 * told and nothing was told since, and if no connection of this process
 * failed since this one was made (a reply to a call sent earlier may
 * have come just before Redis went away); an outage of refused writes
 * only if it wrote. */
static void note_success(redis_store *s, apr_uint32_t conn_epoch,
                         apr_uint32_t seen, int wrote)
{
    apr_int64_t until = __atomic_load_n(&s->down_until, __ATOMIC_ACQUIRE);
    if (conn_epoch != __atomic_load_n(&s->epoch, __ATOMIC_ACQUIRE))
        return;
    /* Unless another thread failed since, and began failing at once. */
    if (until)
        __atomic_compare_exchange_n(&s->down_until, &until, 0, 0,
                                    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
    if (!TOLD_CALM(seen) && (wrote || !TOLD_WRITES_REFUSED(seen))
        && __atomic_compare_exchange_n(s->told, &seen, (seen | 3) + 1, 0,
                                       __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
        say(s, LEVEL_NOTICE, "mod_hyperlane: Redis at %s answers "
            "again%s%s", "", "");
}

/* ---- connections ----------------------------------------------------- */

static struct timeval timeval_of(apr_interval_time_t t)
{
    struct timeval tv;
    tv.tv_sec = (long)apr_time_sec(t);
    tv.tv_usec = (long)apr_time_usec(t);
    return tv;
}

/* n in decimal at out, NUL-terminated; its length.  apr_snprintf costs
 * more than the rest of an increment's own formatting. */
static apr_size_t decimal_text(char *out, apr_int64_t n)
{
    char digits[24];
    apr_uint64_t u = n < 0 ? 0 - (apr_uint64_t)n : (apr_uint64_t)n;
    apr_size_t len = 0, i = 0;
    do {
        digits[i++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (n < 0)
        out[len++] = '-';
    while (i)
        out[len++] = digits[--i];
    out[len] = '\0';
    return len;
}

/* The room resp_format needs for a command. */
static apr_size_t resp_size(int argc, const size_t *argvlen)
{
    apr_size_t need = 24 + 1;          /* "*argc\r\n", and the NUL */
    int i;
    for (i = 0; i < argc; i++)
        need += 24 + argvlen[i] + 2;   /* "$len\r\n" arg "\r\n" */
    return need;
}

/* The command in Redis's protocol at out; its length.  Written here, not
 * by redisCommandArgv, whose formatting (sdscatfmt) costs more than the
 * rest of a call's work in this process. */
static apr_size_t resp_format(char *out, int argc, const char **argv,
                              const size_t *argvlen)
{
    apr_size_t at = 0;
    int i;
    out[at++] = '*';
    at += decimal_text(out + at, argc);
    out[at++] = '\r';
    out[at++] = '\n';
    for (i = 0; i < argc; i++) {
        out[at++] = '$';
        at += decimal_text(out + at, (apr_int64_t)argvlen[i]);
        out[at++] = '\r';
        out[at++] = '\n';
        memcpy(out + at, argv[i], argvlen[i]);
        at += argvlen[i];
        out[at++] = '\r';
        out[at++] = '\n';
    }
    return at;
}

/* Runs one command; its error, if any, as a status with its text. */
static apr_status_t command(redisContext *c, redisReply **out, int argc,
                            const char **argv, const size_t *argvlen,
                            const char **detail)
{
    char small[1024];
    apr_size_t need = resp_size(argc, argvlen);
    char *buf = need <= sizeof(small) ? small : malloc(need);
    redisReply *r = NULL;
    int sent;

    if (!buf) {
        *detail = "out of memory";
        return APR_ENOMEM;
    }
    sent = redisAppendFormattedCommand(c, buf, resp_format(buf, argc, argv,
                                                           argvlen));
    if (buf != small)
        free(buf);
    errno = 0;
    if (sent != REDIS_OK || redisGetReply(c, (void **)&r) != REDIS_OK)
        r = NULL;
    if (!r) {
        *detail = c->errstr;
        return hl_redis_status_of(c->err ? c->err : REDIS_ERR_OTHER, errno, NULL);
    }
    if (r->type == REDIS_REPLY_ERROR) {
        apr_status_t rv = hl_redis_status_of(0, 0, r->str);
        *out = r;
        *detail = r->str;
        return rv;
    }
    *out = r;
    return APR_SUCCESS;
}

/* A command whose answer does not matter beyond its success. */
static apr_status_t command_ok(redisContext *c, int argc, const char **argv,
                               const size_t *argvlen, char *detail,
                               apr_size_t detail_len)
{
    redisReply *r = NULL;
    const char *why = NULL;
    apr_status_t rv = command(c, &r, argc, argv, argvlen, &why);
    if (rv != APR_SUCCESS)
        apr_cpystrn(detail, why ? why : "", detail_len);
    if (r)
        freeReplyObject(r);
    return rv;
}

static apr_status_t library_load(redis_store *s, redisContext *c, char *detail,
                                 apr_size_t detail_len)
{
    const char *argv[] = { "FUNCTION", "LOAD", "REPLACE", HL_REDIS_LUA };
    size_t argvlen[] = { 8, 4, 7, sizeof(HL_REDIS_LUA) - 1 };
    apr_status_t rv = command_ok(c, 4, argv, argvlen, detail, detail_len);
    if (rv == APR_SUCCESS)
        __atomic_store_n(&s->loaded, 1, __ATOMIC_RELEASE);
    return rv;
}

/* A new connection, authenticated, on its database, with the library
 * loaded if this process has not loaded it yet; on failure, why. */
static apr_status_t connect_to(redis_store *s, redisContext **out,
                               char *detail, apr_size_t detail_len)
{
    struct timeval tv = timeval_of(s->timeout);
    redisContext *c;
    apr_status_t rv = APR_SUCCESS;
    int i;

    errno = 0;
    c = s->addr.socket_path ? redisConnectUnixWithTimeout(s->addr.socket_path, tv)
                            : redisConnectWithTimeout(s->addr.host, s->addr.port, tv);
    if (!c) {
        apr_cpystrn(detail, "out of memory", detail_len);
        return APR_ENOMEM;
    }
    if (c->err) {
        rv = hl_redis_status_of(c->err, errno, NULL);
        apr_cpystrn(detail, c->errstr, detail_len);
    }
    else if (redisSetTimeout(c, tv) != REDIS_OK) {
        rv = APR_EGENERAL;
        apr_cpystrn(detail, "cannot set the command timeout", detail_len);
    }
    if (rv == APR_SUCCESS && s->addr.password) {
        const char *argv[3];
        size_t argvlen[3];
        int argc = 0;
        argv[argc++] = "AUTH";
        if (s->addr.user)
            argv[argc++] = s->addr.user;
        argv[argc++] = s->addr.password;
        for (i = 0; i < argc; i++)
            argvlen[i] = strlen(argv[i]);
        rv = command_ok(c, argc, argv, argvlen, detail, detail_len);
    }
    if (rv == APR_SUCCESS && s->addr.db) {
        char dbtext[16];
        const char *argv[] = { "SELECT", dbtext };
        size_t argvlen[2];
        apr_snprintf(dbtext, sizeof(dbtext), "%d", s->addr.db);
        argvlen[0] = 6;
        argvlen[1] = strlen(dbtext);
        rv = command_ok(c, 2, argv, argvlen, detail, detail_len);
    }
    if (rv == APR_SUCCESS && !s->addr.password
        && !__atomic_load_n(&s->loaded, __ATOMIC_ACQUIRE)) {
        /* A Redis that wants a password we were not given answers a
         * small command NOAUTH, but cuts off a client that sends it one
         * over 16 KiB unauthenticated (the library): ask first. */
        const char *argv[] = { "PING" };
        size_t argvlen[] = { 4 };
        rv = command_ok(c, 1, argv, argvlen, detail, detail_len);
    }
    /* Refused as a write: the library may be there already (a replica
     * has its master's); a call that finds it missing loads it then. */
    if (rv == APR_SUCCESS && !__atomic_load_n(&s->loaded, __ATOMIC_ACQUIRE)
        && (rv = library_load(s, c, detail, detail_len)) != APR_SUCCESS
        && refuses_writes_only(detail))
        rv = APR_SUCCESS;
    if (rv != APR_SUCCESS) {
        redisFree(c);
        return rv;
    }
    *out = c;
    return APR_SUCCESS;
}

/* A slot for a connection, not yet connected.  apr_reslist holds its
 * lock while it makes a resource, so connecting there would keep every
 * other thread of the process waiting, one timeout after another while
 * Redis stalls: conn_acquire connects outside the lock instead. */
static apr_status_t conn_make(void **resource, void *params, apr_pool_t *pool)
{
    redis_conn *conn = calloc(1, sizeof(*conn));
    if (!conn)
        return APR_ENOMEM;
    *resource = conn;
    return APR_SUCCESS;
}

static apr_status_t conn_free(void *resource, void *params, apr_pool_t *pool)
{
    redis_conn *conn = resource;
    if (conn->c)
        redisFree(conn->c);
    free(conn);
    return APR_SUCCESS;
}

/* The list gets a pool of its own, as mod_proxy gives its connection
 * pools: apr_reslist allocates from it while requests run (under its
 * own lock only), so no other thread may allocate from that pool. */
static apr_status_t conns_make(redis_store *s, apr_pool_t *pool)
{
    apr_pool_t *own;
    apr_status_t rv = apr_pool_create(&own, pool);
    if (rv != APR_SUCCESS)
        return rv;
    apr_pool_tag(own, "hl_redis_conns");
    rv = apr_reslist_create(&s->conns, 0, s->max_connections,
                            s->max_connections, 0, conn_make, conn_free, s,
                            own);
    if (rv == APR_SUCCESS)
        apr_reslist_timeout_set(s->conns, s->timeout);
    return rv;
}

/* Whether a connection idle since its last call still answers.  Redis
 * closes idle clients after its `timeout`, and firewalls and NAT drop
 * idle flows; a write on such a connection would fail (whether Redis ran
 * it being unknown, it is not made again) and a dropped one would stall
 * for the timeout as if Redis did.  A PING after a pause costs one round
 * trip and nothing while calls follow each other. */
static int still_answers(redisContext *c)
{
    const char *argv[] = { "PING" };
    size_t argvlen[] = { 4 };
    char detail[64];
    return command_ok(c, 1, argv, argvlen, detail, sizeof(detail)) == APR_SUCCESS;
}

/* The one caller that tries again after a failure holds a lease, so
 * that the others fail at once meanwhile, also when the timeout is longer
 * than the retry interval; its call ends the lease (lease_end), however
 * it went.  The length only bounds a lease whose holder never ended it:
 * the wait for a pooled connection, a connect, connect_to's commands
 * (AUTH, SELECT, PING, FUNCTION LOAD), the call, a load of the library
 * and the call again, each within the timeout. */
static apr_interval_time_t retry_lease(const redis_store *s)
{
    return HL_REDIS_RETRY_INTERVAL + 10 * s->timeout;
}

/* The lease holder's call is over: a success opens the way at once, a
 * failure closes it for the retry interval, unless a failure noted since
 * set a time of its own. */
static void lease_end(redis_store *s, apr_int64_t lease, int success)
{
    __atomic_compare_exchange_n(&s->down_until, &lease,
                                success ? 0 : apr_time_now()
                                              + HL_REDIS_RETRY_INTERVAL,
                                0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

/* A connection, unless Redis failed lately (then at once the status it
 * failed with, until the retry interval is over and this caller is the
 * one that tries again: *lease is then its lease, which it keeps when it
 * comes again).  A slot never connected, or connected before the last
 * failure, connects anew, and so does any with renew, or one that no
 * longer answers after HL_REDIS_IDLE_CHECK unused. */
static apr_status_t conn_acquire(redis_store *s, apr_uint32_t seen,
                                 int renew, redis_conn **conn, int *fresh,
                                 apr_int64_t *lease)
{
    apr_int64_t until = __atomic_load_n(&s->down_until, __ATOMIC_ACQUIRE);
    char detail[256];
    apr_uint32_t epoch;
    apr_status_t rv;
    if (until && until != *lease) {
        apr_time_t now = apr_time_now();
        apr_int64_t mine = now + retry_lease(s);
        if (now < until
            || !__atomic_compare_exchange_n(&s->down_until, &until, mine, 0,
                                            __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            return (apr_status_t)__atomic_load_n(&s->last_error, __ATOMIC_RELAXED);
        *lease = mine;
    }
    rv = apr_reslist_acquire(s->conns, (void **)conn);
    if (rv == APR_EAGAIN || rv == APR_TIMEUP)
        return APR_TIMEUP;         /* every connection busy for the timeout */
    if (rv != APR_SUCCESS)
        return rv;
    epoch = __atomic_load_n(&s->epoch, __ATOMIC_ACQUIRE);
    *fresh = 0;
    if ((*conn)->c && (*conn)->epoch == epoch && !renew) {
        apr_time_t now = apr_time_now(), last = (*conn)->handed_out;
        (*conn)->handed_out = now;
        if (now - last < s->idle_check || still_answers((*conn)->c))
            return APR_SUCCESS;
    }
    *fresh = 1;
    if ((*conn)->c)
        redisFree((*conn)->c);
    (*conn)->c = NULL;
    (*conn)->epoch = epoch;
    (*conn)->told_at = seen;
    rv = connect_to(s, &(*conn)->c, detail, sizeof(detail));
    (*conn)->handed_out = apr_time_now();
    if (rv != APR_SUCCESS) {
        /* The connections made before are as good as gone. */
        __atomic_add_fetch(&s->epoch, 1, __ATOMIC_ACQ_REL);
        note_failure(s, seen, rv, "cannot connect", detail, 1, 0);
        apr_reslist_release(s->conns, *conn);
    }
    return rv;
}

static int function_missing(const redisReply *r)
{
    return r->type == REDIS_REPLY_ERROR && r->str
           && strstr(r->str, "Function not found") != NULL;
}

/* What a call may do when the connection it took from the pool turns out
 * dead (Redis restarted since that connection's last use: the command
 * went into a closed socket).  A read is made once more on a new
 * connection, so that a restart does not cost each Apache process one
 * 503; a write is not, because whether Redis ran it is unknown.  A get
 * is a read that writes (it counts an access: at worst one access is
 * counted twice); only a call that writes tells Redis back after a
 * refused write.  Any call a replica refused (READONLY, before running
 * it) on a pooled connection is made once more on a new one. */
typedef enum {
    FCALL_WRITE,
    FCALL_GET,
    FCALL_READ                       /* a no-writes function */
} fcall_kind;

/* FCALL <library>_<fn> 0 prefix args...: the reply, or a status; *lease
 * as conn_acquire leaves it. */
static apr_status_t fcall_leased(redis_store *s, fcall_kind kind,
                                 const char *fn, int nargs,
                                 const char *const *args, const size_t *lens,
                                 redisReply **out, apr_int64_t *lease)
{
    const char *argv[4 + FCALL_MAX_ARGS];
    size_t argvlen[4 + FCALL_MAX_ARGS];
    char name[64], detail[256];
    redis_conn *conn;
    redisContext *c;
    redisReply *r = NULL;
    const char *why = NULL;
    apr_status_t rv;
    apr_uint32_t epoch, seen;
    int i, attempt, fresh = 0, retried = 0, renew = 0;

    argvlen[1] = sizeof(HL_REDIS_LIBRARY) + strlen(fn);  /* lib _ fn */
    if (argvlen[1] >= sizeof(name))
        return APR_EINVAL;
    memcpy(name, HL_REDIS_LIBRARY "_", sizeof(HL_REDIS_LIBRARY));
    memcpy(name + sizeof(HL_REDIS_LIBRARY), fn,
           argvlen[1] - sizeof(HL_REDIS_LIBRARY) + 1);
    argv[0] = "FCALL";
    argvlen[0] = 5;
    argv[1] = name;
    argv[2] = "0";
    argvlen[2] = 1;
    argv[3] = s->prefix;
    argvlen[3] = strlen(s->prefix);
    for (i = 0; i < nargs; i++) {
        argv[4 + i] = args[i];
        argvlen[4 + i] = lens ? lens[i] : strlen(args[i]);
    }
again:
    seen = __atomic_load_n(s->told, __ATOMIC_ACQUIRE);
    if ((rv = conn_acquire(s, seen, renew, &conn, &fresh, lease)) != APR_SUCCESS)
        return rv;
    c = conn->c;
    epoch = conn->epoch;
    for (attempt = 0; ; attempt++) {
        if (r)
            freeReplyObject(r);
        r = NULL;
        rv = command(c, &r, 4 + nargs, argv, argvlen, &why);
        if (rv == APR_SUCCESS || !r || attempt > 0 || !function_missing(r))
            break;
        /* Redis lost the library: load it and call once more. */
        rv = library_load(s, c, detail, sizeof(detail));
        if (rv != APR_SUCCESS) {
            freeReplyObject(r);
            r = NULL;
            why = detail;
            break;
        }
    }
    if (rv != APR_SUCCESS) {
        /* Redis's error reply, if any, is why. */
        int readonly = r && why && starts(why, "READONLY");
        if (!r && c->err) {
            /* The connection is gone or out of step: never reused.  A
             * timeout means Redis is stalled: fail at once for a while.
             * The epoch moves first, so that no success on an older
             * connection ends the outage this failure tells.  A read on
             * a pooled connection that died since its last use (not a
             * timeout) runs once more on a new one, telling nothing. */
            __atomic_add_fetch(&s->epoch, 1, __ATOMIC_ACQ_REL);
            if (kind != FCALL_WRITE && !fresh && !retried
                && rv != APR_TIMEUP) {
                apr_reslist_invalidate(s->conns, conn);
                retried = 1;
                goto again;
            }
            /* A pooled connection made before the last line told, lost
             * (not timed out): most likely in the restart or CLIENT
             * KILL that line told or told the end of.  Told by the next
             * failure, if Redis is still away. */
            if (rv == APR_TIMEUP || fresh || conn->told_at == seen)
                note_failure(s, seen, rv, rv == APR_TIMEUP ? "timed out"
                                                   : "lost the connection",
                             why, rv == APR_TIMEUP, 0);
            apr_reslist_invalidate(s->conns, conn);
        }
        else if (readonly && !fresh && !retried
                 && apr_time_now() >= __atomic_load_n(&s->readonly_until,
                                                      __ATOMIC_RELAXED)) {
            /* A replica refused the call before running it.  The
             * address may lead to the new primary now (a failover
             * behind a DNS name or a virtual IP that moved): once more
             * on a new connection (not another pooled one, which may
             * reach the replica too).  If that is refused as well, the
             * address is a replica's: no more of these for a while, so
             * that a long outage of refused writes does not cost every
             * write a connect.  (A refused load of the library, on a
             * Redis that lost it, is not made again: rarer still.) */
            freeReplyObject(r);
            r = NULL;
            apr_reslist_invalidate(s->conns, conn);
            retried = renew = 1;
            goto again;
        }
        else {
            if (readonly && fresh)
                __atomic_store_n(&s->readonly_until,
                                 apr_time_now() + HL_REDIS_RETRY_INTERVAL,
                                 __ATOMIC_RELAXED);
            note_failure(s, seen, rv, "refused a command", why, 0,
                         refuses_writes_only(why));
            apr_reslist_release(s->conns, conn);
        }
        if (r)
            freeReplyObject(r);
        return rv;
    }
    apr_reslist_release(s->conns, conn);
    note_success(s, epoch, seen, kind != FCALL_READ);
    *out = r;
    return APR_SUCCESS;
}

static apr_status_t fcall(redis_store *s, fcall_kind kind, const char *fn,
                          int nargs, const char *const *args,
                          const size_t *lens, redisReply **out)
{
    apr_int64_t lease = 0;
    apr_status_t rv = fcall_leased(s, kind, fn, nargs, args, lens, out, &lease);
    if (lease)
        lease_end(s, lease, rv == APR_SUCCESS);
    return rv;
}

apr_size_t hl_redis_entry_bytes(apr_size_t plen, apr_size_t klen,
                                apr_size_t vlen)
{
    return HL_REDIS_ENTRY_OVERHEAD + HL_REDIS_KEY_COPIES * (plen + klen) + vlen
           + (vlen > HL_REDIS_COMPACT_VALUE ? HL_REDIS_TABLE_OVERHEAD + vlen / 4
                                            : 0);
}

/* ---- the operations ---------------------------------------------------- */

static apr_status_t redis_child_init(hl_store *st, apr_pool_t *pchild)
{
    redis_store *s = st->impl;
    /* What the parent knew is not this process's: its own connections,
     * its own load of the library, its own failing at once. */
    s->loaded = 0;
    s->down_until = 0;
    s->readonly_until = 0;
    return conns_make(s, pchild);
}

static apr_status_t redis_close(hl_store *st)
{
    redis_store *s = st->impl;
    apr_status_t rv = s->conns ? apr_reslist_destroy(s->conns) : APR_SUCCESS;
    s->conns = NULL;
    if (s->told_shm)
        apr_shm_destroy(s->told_shm);
    s->told_shm = NULL;
    return rv;
}

static apr_status_t redis_counter_increment(hl_store *st, apr_int32_t pid,
                                            apr_uint64_t *value_out)
{
    redis_store *s = st->impl;
    char cap[24], now[24], pidtext[24];
    const char *args[4] = { cap, now, pidtext, s->host };
    size_t lens[4];
    redisReply *r;
    apr_status_t rv;

    lens[0] = decimal_text(cap, s->sizes.history_capacity);
    lens[1] = decimal_text(now, apr_time_now());
    lens[2] = decimal_text(pidtext, pid);
    lens[3] = strlen(s->host);
    if ((rv = fcall(s, FCALL_WRITE, "incr", 4, args, lens, &r)) != APR_SUCCESS)
        return rv;
    if (r->type == REDIS_REPLY_INTEGER && r->integer > 0)
        *value_out = (apr_uint64_t)r->integer;
    else
        rv = APR_EGENERAL;
    freeReplyObject(r);
    return rv;
}

static apr_uint64_t json_u64_of(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v))
        return 0;
    if (json_object_is_type(v, json_type_string))
        return strtoull(json_object_get_string(v), NULL, 10);
    return (apr_uint64_t)json_object_get_uint64(v);
}

/* The function's JSON answer, parsed; NULL if it is not JSON. */
static json_object *reply_json(const redisReply *r)
{
    if (r->type != REDIS_REPLY_STRING)
        return NULL;
    return json_tokener_parse(r->str);
}

static apr_status_t redis_counter_snapshot(hl_store *st, int max_recent,
                                           hl_counter_snapshot *snap)
{
    redis_store *s = st->impl;
    char cap[24], n[8];
    const char *args[2];
    redisReply *r;
    json_object *o, *recent = NULL;
    apr_status_t rv;
    int i;

    if (max_recent < 0 || max_recent > HL_RECENT_MAX)
        return APR_EINVAL;
    apr_snprintf(cap, sizeof(cap), "%u", s->sizes.history_capacity);
    apr_snprintf(n, sizeof(n), "%d", max_recent);
    args[0] = cap;
    args[1] = n;
    if ((rv = fcall(s, FCALL_READ, "counter", 2, args, NULL, &r)) != APR_SUCCESS)
        return rv;
    o = reply_json(r);
    freeReplyObject(r);
    if (!o)
        return APR_EGENERAL;
    memset(snap, 0, sizeof(*snap));
    snap->current_value = json_u64_of(o, "value");
    snap->history_length = json_u64_of(o, "length");
    snap->capacity = s->sizes.history_capacity;
    if (json_object_object_get_ex(o, "recent", &recent)
        && json_object_is_type(recent, json_type_array)) {
        int len = (int)json_object_array_length(recent);
        for (i = 0; i < len && i < max_recent; i++) {
            json_object *e = json_object_array_get_idx(recent, i), *h = NULL;
            hl_history_entry *out = &snap->recent[i];
            out->value = json_u64_of(e, "value");
            out->time = (apr_time_t)json_u64_of(e, "time");
            out->pid = (apr_int32_t)json_u64_of(e, "pid");
            out->complete = 1;
            if (json_object_object_get_ex(e, "host", &h)
                && json_object_is_type(h, json_type_string))
                apr_cpystrn(out->host, json_object_get_string(h),
                            sizeof(out->host));
        }
        snap->n_recent = i;
    }
    json_object_put(o);
    return APR_SUCCESS;
}

static apr_status_t redis_usage(hl_store *st, hl_store_usage *u)
{
    redis_store *s = st->impl;
    u->backend = "redis";
    u->size_bytes = s->sizes.cache_bytes;
    u->used_bytes = (apr_size_t)__atomic_load_n(&s->bytes_seen, __ATOMIC_RELAXED);
    u->generation = s->generation;
    u->created = s->created;
    return APR_SUCCESS;
}

/* Whether the cache takes a key of klen bytes; APR_ENOTIMPL without one. */
static apr_status_t key_check(const redis_store *s, apr_size_t klen)
{
    if (!s->sizes.cache_bytes)
        return APR_ENOTIMPL;
    return klen >= 1 && klen <= s->sizes.cache_max_key ? APR_SUCCESS : APR_EINVAL;
}

static apr_int64_t number_of(const redisReply *r)
{
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING)
        return apr_atoi64(r->str);
    return 0;
}

/* A time of a reply into *t; 0 if it is outside HL_STORE_TIMES_MAX. */
static int time_of(const redisReply *r, apr_time_t *t)
{
    apr_int64_t v = number_of(r);
    if (v < 0 || (apr_uint64_t)v > HL_STORE_TIMES_MAX)
        return 0;
    *t = (apr_time_t)v;
    return 1;
}

/* FCALL fn with (key, now), the key checked first. */
static apr_status_t fcall_key(redis_store *s, fcall_kind kind, const char *fn,
                              const void *key, apr_size_t klen, apr_time_t now,
                              redisReply **r)
{
    char nowtext[24];
    const char *args[2];
    size_t lens[2];
    apr_status_t rv = key_check(s, klen);

    if (rv != APR_SUCCESS)
        return rv;
    args[0] = key;
    lens[0] = klen;
    args[1] = nowtext;
    lens[1] = decimal_text(nowtext, now);
    return fcall(s, kind, fn, 2, args, lens, r);
}

static apr_status_t redis_cache_get(hl_store *st, apr_pool_t *pool,
                                    const void *key, apr_size_t klen,
                                    apr_time_t now, hl_cache_result *res)
{
    redisReply *r;
    apr_status_t rv = fcall_key(st->impl, FCALL_GET, "get", key, klen, now, &r);

    if (rv != APR_SUCCESS)
        return rv;
    if (r->type == REDIS_REPLY_NIL) {
        rv = APR_NOTFOUND;
    }
    else if (r->type != REDIS_REPLY_ARRAY || r->elements != 5
             || r->element[0]->type != REDIS_REPLY_STRING
             || !time_of(r->element[1], &res->set_time)
             || !time_of(r->element[2], &res->expires)) {
        rv = APR_EGENERAL;
    }
    else {
        res->vlen = r->element[0]->len;
        res->value = apr_palloc(pool, res->vlen + 1);
        memcpy(res->value, r->element[0]->str, res->vlen);
        res->value[res->vlen] = '\0';
        res->access_count = (apr_uint64_t)number_of(r->element[3]);
        res->version = (apr_uint64_t)number_of(r->element[4]);
        res->age = now - res->set_time;
    }
    freeReplyObject(r);
    return rv;
}

/* {flag, bytes used}: the flag, with bytes_seen updated. */
static apr_status_t flag_and_bytes(redis_store *s, redisReply *r, int *flag)
{
    apr_status_t rv = APR_EGENERAL;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        *flag = number_of(r->element[0]) != 0;
        __atomic_store_n(&s->bytes_seen, (apr_uint64_t)number_of(r->element[1]),
                         __ATOMIC_RELAXED);
        rv = APR_SUCCESS;
    }
    freeReplyObject(r);
    return rv;
}

/* The codes of the Lua library's write answers. */
enum { WRITE_OK, WRITE_NOTFOUND, WRITE_PRECONDITION, WRITE_NOTINT, WRITE_OVERFLOW, WRITE_INVALID,
       WRITE_NOSPACE };

/* A write's answer {code, existed, version, expiry, number, bytes used}:
 * its status, with w filled and bytes_seen updated. */
static apr_status_t written_of(redis_store *s, redisReply *r,
                               hl_cache_written *w)
{
    static const apr_status_t status[] = {
        APR_SUCCESS, APR_NOTFOUND, HL_STORE_EPRECONDITION, HL_STORE_ENOTINT,
        HL_STORE_EOVERFLOW, APR_EINVAL, APR_ENOSPC
    };
    apr_status_t rv = APR_EGENERAL;
    apr_int64_t code;
    const redisReply *number;

    memset(w, 0, sizeof(*w));
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 6
        && (code = number_of(r->element[0])) >= WRITE_OK && code <= WRITE_NOSPACE) {
        rv = status[code];
        w->existed = number_of(r->element[1]) != 0;
        w->version = (apr_uint64_t)number_of(r->element[2]);
        if (!time_of(r->element[3], &w->expires))
            rv = APR_EGENERAL;
        number = r->element[4];
        if (code == WRITE_OK && number->type == REDIS_REPLY_STRING
            && !hl_cache_parse_int(number->str, number->len, &w->number))
            w->number = 0;
        __atomic_store_n(&s->bytes_seen, (apr_uint64_t)number_of(r->element[5]),
                         __ATOMIC_RELAXED);
    }
    freeReplyObject(r);
    return rv;
}

/* A write's FCALL and its answer. */
static apr_status_t fcall_write(redis_store *s, const char *fn, int nargs,
                                const char *const *args, const size_t *lens,
                                hl_cache_written *w)
{
    redisReply *r;
    apr_status_t rv = fcall(s, FCALL_WRITE, fn, nargs, args, lens, &r);
    return rv == APR_SUCCESS ? written_of(s, r, w) : rv;
}

/* A condition as the Lua library reads it: "" (none), "*" (any), or "="
 * and the versions. */
#define COND_TEXT_MAX (2 + HL_COND_TAGS_MAX * 21)

static const char *cond_text(char *buf, hl_cond_kind kind,
                             const apr_uint64_t *tags, int n)
{
    apr_size_t used;
    int i;
    if (kind == HL_COND_ANY)
        return "*";
    if (kind != HL_COND_LIST)
        return "";
    buf[0] = '=';
    used = 1;
    for (i = 0; i < n && i < HL_COND_TAGS_MAX; i++)
        used += apr_snprintf(buf + used, COND_TEXT_MAX - used,
                             " %" APR_UINT64_T_FMT, tags[i]);
    buf[used] = '\0';
    return buf;
}

/* args[at], args[at + 1]: cond's If-Match and If-None-Match, in bufs. */
static void cond_args(const hl_cache_cond *cond, const char **args,
                      size_t *lens, int at, char bufs[2][COND_TEXT_MAX])
{
    args[at] = cond ? cond_text(bufs[0], cond->if_match, cond->match,
                                cond->n_match) : "";
    args[at + 1] = cond ? cond_text(bufs[1], cond->if_none_match,
                                    cond->none_match, cond->n_none_match) : "";
    lens[at] = strlen(args[at]);
    lens[at + 1] = strlen(args[at + 1]);
}

static apr_status_t redis_cache_put(hl_store *st, const void *key,
                                    apr_size_t klen, const void *val,
                                    apr_size_t vlen, apr_time_t now,
                                    apr_interval_time_t ttl,
                                    const hl_cache_cond *cond,
                                    hl_cache_written *w)
{
    redis_store *s = st->impl;
    char nowtext[24], expires[24], bytes[24], cap[24];
    char conds[2][COND_TEXT_MAX];
    const char *args[8];
    size_t lens[8];
    apr_size_t need = hl_redis_entry_bytes(strlen(s->prefix), klen, vlen);
    int i;
    apr_status_t rv = key_check(s, klen);

    memset(w, 0, sizeof(*w));
    if (rv != APR_SUCCESS)
        return rv;
    if (vlen > s->sizes.cache_max_value || ttl < 0)
        return APR_EINVAL;
    if (need > s->sizes.cache_bytes)
        return APR_ENOSPC;
    decimal_text(nowtext, now);
    decimal_text(expires, ttl ? now + ttl : 0);
    apr_snprintf(bytes, sizeof(bytes), "%" APR_SIZE_T_FMT, need);
    apr_snprintf(cap, sizeof(cap), "%" APR_SIZE_T_FMT, s->sizes.cache_bytes);
    args[0] = key;
    args[1] = val;
    args[2] = nowtext;
    args[3] = expires;
    args[4] = bytes;
    args[5] = cap;
    for (i = 2; i < 6; i++)
        lens[i] = strlen(args[i]);
    lens[0] = klen;
    lens[1] = vlen;
    cond_args(cond, args, lens, 6, conds);
    return fcall_write(s, "set", 8, args, lens, w);
}

static apr_status_t redis_cache_set(hl_store *st, const void *key,
                                    apr_size_t klen, const void *val,
                                    apr_size_t vlen, apr_time_t now,
                                    apr_interval_time_t ttl, int *replaced)
{
    hl_cache_written w;
    apr_status_t rv = redis_cache_put(st, key, klen, val, vlen, now, ttl,
                                      NULL, &w);
    if (replaced)
        *replaced = rv == APR_SUCCESS && w.existed;
    return rv;
}

static apr_status_t redis_cache_delete(hl_store *st, const void *key,
                                       apr_size_t klen, apr_time_t now)
{
    redisReply *r;
    int deleted = 0;
    apr_status_t rv = fcall_key(st->impl, FCALL_WRITE, "del", key, klen, now, &r);

    if (rv != APR_SUCCESS)
        return rv;
    rv = flag_and_bytes(st->impl, r, &deleted);
    if (rv == APR_SUCCESS && !deleted)
        rv = APR_NOTFOUND;
    return rv;
}

/* FCALL fn with (key, now[, expiry], If-Match, If-None-Match): remove
 * and expire, whose answers are writes'. */
static apr_status_t fcall_key_cond(redis_store *s, const char *fn,
                                   const void *key, apr_size_t klen,
                                   apr_time_t now, const char *expires,
                                   const hl_cache_cond *cond,
                                   hl_cache_written *w)
{
    char nowtext[24], conds[2][COND_TEXT_MAX];
    const char *args[5];
    size_t lens[5];
    int n = 0;
    apr_status_t rv = key_check(s, klen);

    memset(w, 0, sizeof(*w));
    if (rv != APR_SUCCESS)
        return rv;
    args[n] = key;
    lens[n++] = klen;
    args[n] = nowtext;
    lens[n++] = decimal_text(nowtext, now);
    if (expires) {
        args[n] = expires;
        lens[n++] = strlen(expires);
    }
    cond_args(cond, args, lens, n, conds);
    return fcall_write(s, fn, n + 2, args, lens, w);
}

static apr_status_t redis_cache_remove(hl_store *st, const void *key,
                                       apr_size_t klen, apr_time_t now,
                                       const hl_cache_cond *cond,
                                       hl_cache_written *w)
{
    return fcall_key_cond(st->impl, "remove", key, klen, now, NULL, cond, w);
}

static apr_status_t redis_cache_touch(hl_store *st, const void *key,
                                      apr_size_t klen, apr_time_t now,
                                      apr_interval_time_t ttl,
                                      const hl_cache_cond *cond,
                                      hl_cache_written *w)
{
    char expires[24];
    apr_status_t rv = key_check(st->impl, klen);
    if (rv == APR_SUCCESS && ttl < 0)
        rv = APR_EINVAL;
    if (rv != APR_SUCCESS) {
        memset(w, 0, sizeof(*w));
        return rv;
    }
    decimal_text(expires, ttl ? now + ttl : 0);
    return fcall_key_cond(st->impl, "expire", key, klen, now, expires, cond, w);
}

/* The sum is computed inside Redis, exactly (the library does int64
 * arithmetic on decimal text, never on Lua's doubles), so adds from many
 * hosts at once each see their own result; cond is judged in the same
 * call, so no write comes between it and the add. */
static apr_status_t redis_cache_add(hl_store *st, const void *key,
                                    apr_size_t klen, apr_int64_t delta,
                                    const apr_int64_t *init,
                                    apr_interval_time_t init_ttl,
                                    apr_time_t now, const hl_cache_cond *cond,
                                    hl_cache_written *w)
{
    redis_store *s = st->impl;
    char deltatext[24], inittext[24], expires[24], nowtext[24], bytes[24],
         cap[24], maxv[24];
    char conds[2][COND_TEXT_MAX];
    const char *args[10];
    size_t lens[10];
    int i;
    apr_status_t rv = key_check(s, klen);

    memset(w, 0, sizeof(*w));
    if (rv != APR_SUCCESS)
        return rv;
    if (init_ttl < 0)
        return APR_EINVAL;
    apr_snprintf(deltatext, sizeof(deltatext), "%" APR_INT64_T_FMT, delta);
    inittext[0] = '\0';
    if (init)
        apr_snprintf(inittext, sizeof(inittext), "%" APR_INT64_T_FMT, *init);
    decimal_text(expires, init_ttl ? now + init_ttl : 0);
    decimal_text(nowtext, now);
    apr_snprintf(bytes, sizeof(bytes), "%" APR_SIZE_T_FMT,
                 hl_redis_entry_bytes(strlen(s->prefix), klen, 0));
    apr_snprintf(cap, sizeof(cap), "%" APR_SIZE_T_FMT, s->sizes.cache_bytes);
    apr_snprintf(maxv, sizeof(maxv), "%" APR_SIZE_T_FMT,
                 s->sizes.cache_max_value);
    args[0] = key;
    args[1] = deltatext;
    args[2] = inittext;
    args[3] = expires;
    args[4] = nowtext;
    args[5] = bytes;
    args[6] = cap;
    args[7] = maxv;
    lens[0] = klen;
    for (i = 1; i < 8; i++)
        lens[i] = strlen(args[i]);
    cond_args(cond, args, lens, 8, conds);
    return fcall_write(s, "add", 10, args, lens, w);
}

/* Listing.  The keys are in a sorted set in byte order (the library's
 * P.."c:keys"); a page goes on strictly after the last key the previous
 * one looked at, so a key present throughout lies ahead of every cursor
 * until it is listed, whatever is written or deleted meanwhile.  A cursor
 * is "r1.", a mark of the prefix and the key, and the key in hex: the
 * mark refuses a cursor of another deployment's prefix or one altered. */
#define CURSOR_TAG "r1."
#define LIST_BATCH 256          /* keys one FCALL looks at, at most */

static apr_uint32_t cursor_mark(const redis_store *s, const char *key,
                                apr_size_t klen)
{
    apr_uint32_t h = 2166136261u;      /* FNV-1a */
    apr_size_t i, plen = strlen(s->prefix);
    for (i = 0; i < plen; i++)
        h = (h ^ (unsigned char)s->prefix[i]) * 16777619u;
    h = (h ^ 0xffu) * 16777619u;
    for (i = 0; i < klen; i++)
        h = (h ^ (unsigned char)key[i]) * 16777619u;
    return h;
}

static const char *cursor_make(const redis_store *s, apr_pool_t *pool,
                               const char *key, apr_size_t klen)
{
    static const char digits[] = "0123456789abcdef";
    char *hex = apr_palloc(pool, klen * 2 + 1), *o = hex;
    apr_size_t i;
    for (i = 0; i < klen; i++) {
        *o++ = digits[(unsigned char)key[i] >> 4];
        *o++ = digits[(unsigned char)key[i] & 15];
    }
    *o = '\0';
    return apr_psprintf(pool, CURSOR_TAG "%08x.%s",
                        cursor_mark(s, key, klen), hex);
}

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

/* The key a cursor names, into *key; APR_EINVAL if this store did not
 * make it. */
static apr_status_t cursor_read(const redis_store *s, apr_pool_t *pool,
                                const char *cursor, char **key,
                                apr_size_t *klen)
{
    const char *hex;
    apr_size_t hexlen, i;
    char *end;
    unsigned long mark;

    if (strncmp(cursor, CURSOR_TAG, strlen(CURSOR_TAG)) != 0)
        return APR_EINVAL;
    cursor += strlen(CURSOR_TAG);
    for (i = 0; i < 8; i++)
        if (hex_value(cursor[i]) < 0)
            return APR_EINVAL;
    if (cursor[8] != '.')
        return APR_EINVAL;
    mark = strtoul(apr_pstrndup(pool, cursor, 8), &end, 16);
    hex = cursor + 9;
    hexlen = strlen(hex);
    if (hexlen == 0 || hexlen % 2 || hexlen / 2 > s->sizes.cache_max_key)
        return APR_EINVAL;
    *klen = hexlen / 2;
    *key = apr_palloc(pool, *klen + 1);
    for (i = 0; i < *klen; i++) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return APR_EINVAL;
        (*key)[i] = (char)(hi << 4 | lo);
    }
    (*key)[*klen] = '\0';
    return mark == cursor_mark(s, *key, *klen) ? APR_SUCCESS : APR_EINVAL;
}

/* Where a page starts, as a ZRANGEBYLEX bound: after the cursor's key,
 * or at the prefix when that comes later (or there is no cursor). */
static const char *list_start(apr_pool_t *pool, const hl_cache_list_args *a,
                              const char *after, apr_size_t alen,
                              apr_size_t *len)
{
    char *start;
    int below = 0;
    if (after && a->plen) {     /* without a prefix, nothing is below */
        apr_size_t n = alen < a->plen ? alen : a->plen;
        int c = memcmp(after, a->prefix, n);
        below = c < 0 || (c == 0 && alen < a->plen);
    }
    if (after && !below) {
        start = apr_palloc(pool, alen + 1);
        start[0] = '(';
        memcpy(start + 1, after, alen);
        *len = alen + 1;
        return start;
    }
    if (!a->plen) {
        *len = 1;
        return "-";
    }
    start = apr_palloc(pool, a->plen + 1);
    start[0] = '[';
    memcpy(start + 1, a->prefix, a->plen);
    *len = a->plen + 1;
    return start;
}

/* One FCALL of the listing: at most batch keys looked at from the start
 * bound (len slen), the live ones added to page; *last gets the last key
 * looked at (NULL: none), *done whether the scan is over. */
static apr_status_t list_batch(redis_store *s, apr_pool_t *pool,
                               const hl_cache_list_args *a, const char *start,
                               apr_size_t slen, int batch,
                               hl_cache_list_page *page, char **last,
                               apr_size_t *last_len, int *done)
{
    char limit[16], nowtext[24];
    const char *args[4];
    size_t lens[4];
    redisReply *r, *items;
    apr_status_t rv = APR_SUCCESS;
    apr_size_t i;

    args[0] = start;
    lens[0] = slen;
    args[1] = a->plen ? a->prefix : "";
    lens[1] = a->plen;
    apr_snprintf(limit, sizeof(limit), "%d", batch);
    args[2] = limit;
    lens[2] = strlen(limit);
    args[3] = nowtext;
    lens[3] = decimal_text(nowtext, a->now);
    if ((rv = fcall(s, FCALL_READ, "list", 4, args, lens, &r)) != APR_SUCCESS)
        return rv;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 4
        || r->element[1]->type != REDIS_REPLY_STRING
        || r->element[3]->type != REDIS_REPLY_ARRAY
        || r->element[3]->elements > (size_t)batch) {
        freeReplyObject(r);
        return APR_EGENERAL;
    }
    items = r->element[3];
    for (i = 0; i < items->elements && rv == APR_SUCCESS; i++) {
        const redisReply *it = items->element[i];
        hl_cache_listed *out = &page->items[page->n];
        if (it->type != REDIS_REPLY_ARRAY || it->elements != 4
            || it->element[0]->type != REDIS_REPLY_STRING
            || !time_of(it->element[3], &out->expires)) {
            rv = APR_EGENERAL;
            break;
        }
        out->key = apr_pstrmemdup(pool, it->element[0]->str, it->element[0]->len);
        out->klen = it->element[0]->len;
        out->vlen = (apr_size_t)number_of(it->element[1]);
        out->version = (apr_uint64_t)number_of(it->element[2]);
        page->n++;
    }
    page->scanned += (apr_uint64_t)number_of(r->element[2]);
    *done = number_of(r->element[0]) != 0;
    *last = NULL;
    if (r->element[1]->len) {
        *last_len = r->element[1]->len;
        *last = apr_pstrmemdup(pool, r->element[1]->str, *last_len);
    }
    freeReplyObject(r);
    return rv;
}

/* A page: batches of at most LIST_BATCH keys, each one FCALL (so Redis
 * is never held longer than a batch), until the page is full, the scan
 * over, or limit + LIST_BATCH keys were looked at (expired ones fill no
 * page). */
static apr_status_t redis_cache_list(hl_store *st, apr_pool_t *pool,
                                     const hl_cache_list_args *a,
                                     hl_cache_list_page *page)
{
    redis_store *s = st->impl;
    char *after = NULL;
    apr_size_t alen = 0;
    apr_status_t rv;
    int done = 0;

    if (!s->sizes.cache_bytes)
        return APR_ENOTIMPL;
    if (a->limit < 1 || (a->plen && !a->prefix))
        return APR_EINVAL;
    if (a->cursor && *a->cursor
        && (rv = cursor_read(s, pool, a->cursor, &after, &alen)) != APR_SUCCESS)
        return rv;
    page->items = apr_pcalloc(pool, (apr_size_t)a->limit * sizeof(*page->items));
    while (!done && page->n < a->limit
           && page->scanned < (apr_uint64_t)a->limit + LIST_BATCH) {
        int room = a->limit - page->n;
        apr_size_t slen;
        const char *start = list_start(pool, a, after, alen, &slen);
        char *last;
        apr_size_t last_len = 0;
        rv = list_batch(s, pool, a, start, slen,
                        room < LIST_BATCH ? room : LIST_BATCH, page, &last,
                        &last_len, &done);
        if (rv != APR_SUCCESS)
            return rv;
        if (last) {
            after = last;
            alen = last_len;
        }
    }
    if (!done)
        page->next_cursor = after ? cursor_make(s, pool, after, alen) : NULL;
    return APR_SUCCESS;
}

static void figure_text(hl_store_figure *f, const char *name, const char *text)
{
    f->name = name;
    f->number = 0;
    apr_cpystrn(f->text, text, sizeof(f->text));
}

/* The common figures; the extra ones: the address (masked), Redis's
 * version and the memory it uses in all. */
static apr_status_t redis_cache_stats(hl_store *st, hl_cache_stats *stats)
{
    redis_store *s = st->impl;
    redisReply *r;
    json_object *o, *v = NULL;
    apr_status_t rv;

    if (!s->sizes.cache_bytes)
        return APR_ENOTIMPL;
    if ((rv = fcall(s, FCALL_READ, "stats", 0, NULL, NULL, &r)) != APR_SUCCESS)
        return rv;
    o = reply_json(r);
    freeReplyObject(r);
    if (!o)
        return APR_EGENERAL;
    memset(stats, 0, sizeof(*stats));
    stats->total_entries = json_u64_of(o, "entries");
    stats->total_accesses = json_u64_of(o, "accesses");
    stats->hits = json_u64_of(o, "hits");
    stats->misses = json_u64_of(o, "misses");
    stats->sets = json_u64_of(o, "sets");
    stats->deletes = json_u64_of(o, "deletes");
    stats->evictions = json_u64_of(o, "evictions");
    stats->expirations = json_u64_of(o, "expirations");
    stats->bytes_used = json_u64_of(o, "bytes");
    stats->capacity_bytes = s->sizes.cache_bytes;
    stats->max_key = s->sizes.cache_max_key;
    stats->max_value = s->sizes.cache_max_value;
    __atomic_store_n(&s->bytes_seen, stats->bytes_used, __ATOMIC_RELAXED);
    figure_text(&stats->extra[0], "redis_address", s->masked);
    figure_text(&stats->extra[1], "redis_version",
                json_object_object_get_ex(o, "redis_version", &v)
                ? json_object_get_string(v) : "");
    stats->extra[2].name = "redis_used_memory";
    stats->extra[2].number = json_u64_of(o, "used_memory");
    stats->extra[2].text[0] = '\0';
    stats->n_extra = 3;
    json_object_put(o);
    return APR_SUCCESS;
}

static const hl_store_ops redis_ops = {
    redis_child_init,
    redis_close,
    redis_counter_increment,
    redis_counter_snapshot,
    redis_usage,
    redis_cache_get,
    redis_cache_set,
    redis_cache_delete,
    redis_cache_stats,
    redis_cache_put,
    redis_cache_remove,
    redis_cache_touch,
    redis_cache_add,
    redis_cache_list,
    NULL,                       /* persist_save: Redis persists itself */
    NULL,                       /* persist_load */
};

/* ---- opening ----------------------------------------------------------- */

/* One look at Redis from the parent, for the log: its version, or why it
 * cannot be reached now (the server starts anyway). */
static const char *probe(redis_store *s, apr_pool_t *p)
{
    char detail[256];
    redisContext *c;
    redisReply *r = NULL;
    const char *why = NULL, *origin;
    const char *argv[] = { "FCALL", HL_REDIS_LIBRARY "_stats", "0", s->prefix };
    size_t argvlen[4];
    json_object *o, *v = NULL;
    apr_status_t rv = connect_to(s, &c, detail, sizeof(detail));
    int i;

    if (rv != APR_SUCCESS)
        return apr_psprintf(p, "at %s, %s now (%s): requests that need it get "
                            "503 until it serves", s->masked,
                            rv == APR_EACCES ? "refusing this server"
                                             : "not answering", detail);
    for (i = 0; i < 4; i++)
        argvlen[i] = strlen(argv[i]);
    rv = command(c, &r, 4, argv, argvlen, &why);
    if (rv == APR_SUCCESS && (o = reply_json(r)) != NULL) {
        origin = apr_psprintf(p, "at %s, Redis %s", s->masked,
                              json_object_object_get_ex(o, "redis_version", &v)
                              ? json_object_get_string(v) : "?");
        json_object_put(o);
    }
    else
        origin = apr_psprintf(p, "at %s, which answers but refused a command "
                              "(%s): requests that need it get 503", s->masked,
                              why ? why : "an answer that is not JSON");
    if (r)
        freeReplyObject(r);
    redisFree(c);
    s->loaded = 0;
    return origin;
}

static apr_status_t redis_open(hl_store **out, const hl_store_open_args *a,
                               const char **origin)
{
    redis_store *s;
    hl_store *st;
    const char *error;
    apr_status_t rv;

    s = apr_pcalloc(a->pool, sizeof(*s));
    if ((rv = hl_redis_addr_parse(a->pool, a->spec, &s->addr, &error))
        != APR_SUCCESS) {
        *origin = error;
        return rv;
    }
    s->masked = hl_redis_addr_masked(a->pool, &s->addr);
    s->prefix = apr_pstrdup(a->pool, a->key_prefix ? a->key_prefix
                                                   : HL_REDIS_DEFAULT_PREFIX);
    if ((error = hl_store_prefix_check(a->pool, s->prefix)) != NULL) {
        *origin = error;
        return APR_EINVAL;
    }
    s->timeout = a->timeout > 0 ? a->timeout : HL_REDIS_DEFAULT_TIMEOUT;
    s->idle_check = HL_REDIS_IDLE_CHECK;
    s->max_connections = a->max_connections > 0 ? a->max_connections
                                                : HL_REDIS_DEFAULT_CONNECTIONS;
    s->sizes = a->sizes;
    apr_cpystrn(s->host, a->host ? a->host : "", sizeof(s->host));
    s->log = a->log;
    s->log_baton = a->log_baton;
    s->created = apr_time_now();
    s->generation = 0;
    if (a->previous && a->previous->backend == HL_STORE_BACKEND_REDIS) {
        redis_store *old = a->previous->impl;
        s->created = old->created;
        s->generation = old->generation + 1;
        /* The host's word lives on, if Redis is the same: an outage
         * told before a graceful restart is told to have ended after
         * it.  Another Redis starts calm, told by its own lines. */
        if (strcmp(old->masked, s->masked) == 0) {
            s->told_shm = old->told_shm;
            old->told_shm = NULL;
        }
        redis_close(a->previous);
    }
    if (!s->told_shm) {
        rv = apr_shm_create(&s->told_shm, sizeof(*s->told), NULL, a->pool);
        if (rv != APR_SUCCESS)
            return rv;
        *(apr_uint32_t *)apr_shm_baseaddr_get(s->told_shm) = 0;
    }
    s->told = apr_shm_baseaddr_get(s->told_shm);
    /* For callers that never call child_init (the parent, tests): the
     * parent opens no connection in it, so children inherit none. */
    if ((rv = conns_make(s, a->pool)) != APR_SUCCESS)
        return rv;
    *origin = probe(s, a->pool);
    st = apr_pcalloc(a->pool, sizeof(*st));
    st->ops = &redis_ops;
    st->impl = s;
    st->backend = HL_STORE_BACKEND_REDIS;
    *out = st;
    return APR_SUCCESS;
}

static int redis_adopt(hl_store *previous)
{
    if (previous->backend != HL_STORE_BACKEND_REDIS)
        return 0;
    previous->ops = &redis_ops;
    return 1;
}

static apr_status_t redis_check(apr_pool_t *p, const char *spec,
                                const char **error)
{
    hl_redis_addr a;
    return hl_redis_addr_parse(p, spec, &a, error);
}

/* Why HyperlanePersistFile is refused with a Redis store. */
#define HL_REDIS_PERSISTS "Redis persists the state itself (AOF/RDB); " \
    "configure its appendonly and save settings instead"

const hl_store_backend hl_store_redis_backend = {
    "redis", redis_open, redis_adopt, redis_check, HL_REDIS_PERSISTS
};
const hl_store_backend hl_store_redis_unix_backend = {
    "redis+unix", redis_open, redis_adopt, redis_check, HL_REDIS_PERSISTS
};

void hl_store_redis_test_idle_check(hl_store *st, apr_interval_time_t t)
{
    ((redis_store *)st->impl)->idle_check = t;
}
