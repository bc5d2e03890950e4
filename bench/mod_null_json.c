/* mod_null_json: the ceiling of the benchmark (bench/run, line 1).  Its
 * handlers do nothing but write one constant JSON body, of the size that
 * mod_hyperlane's counter/increment answers with, and the same headers.  No
 * handler in the same Apache can be faster, so every mod_hyperlane line is
 * measured against it.  Never installed: bench/run builds it with apxs
 * into a build directory and loads it from there.
 *
 *   NullJsonSize N        bytes of the body (default 256)
 *   NullJsonStatsSize N   bytes of the body for URIs ending in /stats
 *                         (default: NullJsonSize), so that the baseline
 *                         of counter/stats writes as much as it does
 *   NullJsonSetSize N     bytes of the body for URIs ending in /set
 *                         (default: NullJsonSize): the answer of a cache
 *                         set, for the baseline that reads a PUT body
 *   NullJsonNoWalk /p     map_to_storage: URIs under /p skip the directory
 *                         walk and file mapping (a Location handler needs
 *                         neither), so the ceiling is the real one
 *   NullJsonQuick /p      quick_handler: URIs under /p are answered before
 *                         the request pipeline (no walks, no auth, no
 *                         fixups): the ceiling of a fast path
 *   NullJsonSpans /p ...  for each prefix, the requests under it and the
 *                         thread CPU time they took from the start of
 *                         their reading (create_request) to the end of
 *                         their pool's cleanups, added up over every
 *                         process in shared memory (bench/run,
 *                         BENCH_BESIDE=1: under event a worker thread
 *                         serves any connection's next request, so no
 *                         thread's CPU is one line's, but a request's
 *                         span is)
 *
 *   SetHandler null-json          writes the body
 *   SetHandler null-json-discard  reads and drops the request body first
 *                                 (Apache's own cost of taking a body)
 *   SetHandler null-json-spans    the spans' sums as text, a line a
 *                                 prefix: "prefix requests ns moved"
 *                                 (moved: requests that ended on another
 *                                 thread than the one that read them, or
 *                                 whose thread began others in between,
 *                                 whose span is not counted); first the
 *                                 line "#clock reads ns 0": what the
 *                                 children's reads of the thread clock
 *                                 took, timed in a loop as each child
 *                                 starts (each request pays two reads,
 *                                 which bench/beside_cpu takes out)
 *   SetHandler null-json-readings makes the two readings of the OS that
 *                                 mod_hyperlane's counter answers must make
 *                                 (issue 2: RSS and peak RSS read at request
 *                                 time: a pread of the thread's statm and a
 *                                 getrusage), then writes the body: a line
 *                                 that shows what those readings cost
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE            /* RUSAGE_THREAD */
#endif
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include <apr_shm.h>
#include <apr_strings.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

module AP_MODULE_DECLARE_DATA null_json_module;

typedef struct {
    apr_size_t size, stats_size, set_size;
    const char *body, *stats_body, *set_body;   /* built in post_config */
    const char *no_walk;       /* URI prefix, or NULL */
    const char *quick;         /* URI prefix, or NULL */
    apr_array_header_t *span_prefixes;   /* of const char *, or NULL */
    struct nj_span *spans;     /* in shared memory: the clock's cost,
                                  then one a prefix */
} nj_config;

/* A prefix's sums; a cache line each, as every child adds to them. */
struct nj_span {
    uint64_t requests, ns, moved;
    char pad[64 - 3 * sizeof(uint64_t)];
};

/* A request's span: where it began, and the prefix its log found. */
typedef struct {
    const nj_config *config;
    uint64_t start_ns;
    pthread_t thread;
    uint64_t thread_spans;     /* the thread's span_seq at the start */
    int index;                 /* into span_prefixes, or -1 */
} nj_span_start;

/* Spans begun on this thread: a request whose thread served others in
 * between (its write waited, under event) took their CPU into its span. */
static __thread uint64_t span_seq;

static void *nj_create(apr_pool_t *p, server_rec *s)
{
    nj_config *c = apr_pcalloc(p, sizeof(*c));
    (void)s;
    c->size = 256;
    return c;
}

static nj_config *config_of(server_rec *s)
{
    return ap_get_module_config(s->module_config, &null_json_module);
}

/* The three size directives; cmd->info is the field's offset. */
static const char *set_size(cmd_parms *cmd, void *dummy, const char *arg)
{
    apr_int64_t n = apr_atoi64(arg);
    (void)dummy;
    if (n < 16 || n > 1024 * 1024)
        return apr_pstrcat(cmd->pool, cmd->cmd->name,
                           " must be between 16 and 1048576", NULL);
    *(apr_size_t *)((char *)config_of(cmd->server)
                    + (apr_size_t)cmd->info) = (apr_size_t)n;
    return NULL;
}

static const char *set_no_walk(cmd_parms *cmd, void *dummy, const char *arg)
{
    (void)dummy;
    config_of(cmd->server)->no_walk = arg;
    return NULL;
}

static const char *set_quick(cmd_parms *cmd, void *dummy, const char *arg)
{
    (void)dummy;
    config_of(cmd->server)->quick = arg;
    return NULL;
}

static const char *add_span(cmd_parms *cmd, void *dummy, const char *arg)
{
    nj_config *c = config_of(cmd->server);
    (void)dummy;
    if (arg[0] != '/')
        return "NullJsonSpans: each prefix starts with /";
    if (!c->span_prefixes)
        c->span_prefixes = apr_array_make(cmd->pool, 8, sizeof(const char *));
    APR_ARRAY_PUSH(c->span_prefixes, const char *) = arg;
    return NULL;
}

/* {"counter":0,"message":"null","pad":"xxx..."} padded to exactly size
 * bytes, so the bytes on the wire match the answer it stands in for. */
static const char *make_body(apr_pool_t *p, apr_size_t size)
{
    static const char head[] = "{\"counter\":0,\"message\":\"null\",\"pad\":\"";
    static const char tail[] = "\"}";
    apr_size_t fixed = sizeof(head) - 1 + sizeof(tail) - 1;
    char *b = apr_palloc(p, size + 1);
    if (size <= fixed) {                 /* too small for the shape: pad only */
        memset(b, ' ', size);
        b[0] = '{';
        b[size - 1] = '}';
    }
    else {
        memcpy(b, head, sizeof(head) - 1);
        memset(b + sizeof(head) - 1, 'x', size - fixed);
        memcpy(b + size - (sizeof(tail) - 1), tail, sizeof(tail) - 1);
    }
    b[size] = '\0';
    return b;
}

static int nj_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                          apr_pool_t *ptemp, server_rec *s)
{
    nj_config *c = config_of(s);
    (void)plog;
    (void)ptemp;
    c->body = make_body(pconf, c->size);
    if (!c->stats_size)
        c->stats_size = c->size;
    c->stats_body = make_body(pconf, c->stats_size);
    if (!c->set_size)
        c->set_size = c->size;
    c->set_body = make_body(pconf, c->set_size);
    if (c->span_prefixes) {
        /* Anonymous: the children inherit it across fork. */
        apr_shm_t *shm;
        apr_size_t size = sizeof(struct nj_span) * (apr_size_t)(c->span_prefixes->nelts + 1);
        apr_status_t rv = apr_shm_create(&shm, size, NULL, pconf);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, "NullJsonSpans: no shared memory");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        c->spans = apr_shm_baseaddr_get(shm);
        memset(c->spans, 0, size);
    }
    return OK;
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define NJ_CLOCK_READS 1000

/* What a read of the thread clock costs this child. */
static void nj_child_init(apr_pool_t *p, server_rec *s)
{
    nj_config *c = config_of(s);
    uint64_t start, end = 0;
    int i;
    (void)p;
    if (!c->spans)
        return;
    start = thread_cpu_ns();
    for (i = 0; i < NJ_CLOCK_READS; i++)
        end = thread_cpu_ns();
    __atomic_fetch_add(&c->spans[0].ns, end - start, __ATOMIC_RELAXED);
    __atomic_fetch_add(&c->spans[0].requests, NJ_CLOCK_READS, __ATOMIC_RELAXED);
}

/* The prefix's index: the URI is the prefix or goes on below it. */
static int span_of(const nj_config *c, const char *uri)
{
    int i;
    for (i = 0; uri && i < c->span_prefixes->nelts; i++) {
        const char *p = APR_ARRAY_IDX(c->span_prefixes, i, const char *);
        apr_size_t n = strlen(p);
        if (strncmp(uri, p, n) == 0 && (uri[n] == '\0' || uri[n] == '/'))
            return i;
    }
    return -1;
}

/* The span's end: the request pool's last cleanup, as registered first,
 * after the log and after every cleanup the request's modules registered
 * (the work of a request that follows its log).  Every request reads the
 * clock twice, whether its prefix is counted or not, so that
 * bench/beside_cpu can take the reads out of any request. */
static apr_status_t nj_span_end(void *data)
{
    nj_span_start *st = data;
    uint64_t end = thread_cpu_ns();
    struct nj_span *sp;
    if (st->index < 0)
        return APR_SUCCESS;
    sp = &st->config->spans[st->index + 1];
    if (!pthread_equal(st->thread, pthread_self()) || span_seq != st->thread_spans) {
        __atomic_fetch_add(&sp->moved, 1, __ATOMIC_RELAXED);
        return APR_SUCCESS;
    }
    __atomic_fetch_add(&sp->ns, end - st->start_ns, __ATOMIC_RELAXED);
    __atomic_fetch_add(&sp->requests, 1, __ATOMIC_RELAXED);
    return APR_SUCCESS;
}

/* The span of a request: from here, before its request line is read, to
 * nj_span_end.  Subrequests and internal redirects are within it. */
static int nj_span_begin(request_rec *r)
{
    nj_config *c = config_of(r->server);
    nj_span_start *st;
    if (!c->spans || r->main || r->prev)
        return OK;
    st = apr_palloc(r->pool, sizeof(*st));
    st->config = c;
    st->thread = pthread_self();
    st->index = -1;
    st->thread_spans = ++span_seq;
    ap_set_module_config(r->request_config, &null_json_module, st);
    apr_pool_cleanup_register(r->pool, st, nj_span_end, apr_pool_cleanup_null);
    st->start_ns = thread_cpu_ns();
    return OK;
}

/* A request that reaches its log is counted under its URI's prefix. */
static int nj_span_log(request_rec *r)
{
    nj_span_start *st = ap_get_module_config(r->request_config, &null_json_module);
    if (st)
        st->index = span_of(st->config, r->uri);
    return OK;
}

static int write_spans(request_rec *r)
{
    nj_config *c = config_of(r->server);
    int i;
    ap_set_content_type(r, "text/plain");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    for (i = 0; c->spans && i <= c->span_prefixes->nelts; i++) {
        struct nj_span *sp = &c->spans[i];
        ap_rprintf(r, "%s %" APR_UINT64_T_FMT " %" APR_UINT64_T_FMT " %" APR_UINT64_T_FMT "\n",
                   i ? APR_ARRAY_IDX(c->span_prefixes, i - 1, const char *) : "#clock",
                   (apr_uint64_t)__atomic_load_n(&sp->requests, __ATOMIC_RELAXED),
                   (apr_uint64_t)__atomic_load_n(&sp->ns, __ATOMIC_RELAXED),
                   (apr_uint64_t)__atomic_load_n(&sp->moved, __ATOMIC_RELAXED));
    }
    return OK;
}

static int has_prefix(const char *uri, const char *prefix)
{
    return prefix && uri && strncmp(uri, prefix, strlen(prefix)) == 0;
}

static int ends_with(const char *uri, const char *tail)
{
    apr_size_t n = strlen(uri), t = strlen(tail);
    return n >= t && strcmp(uri + n - t, tail) == 0;
}

/* The same headers as mod_hyperlane's send_json. */
static int write_body(request_rec *r)
{
    nj_config *c = config_of(r->server);
    const char *body = c->body;
    apr_size_t size = c->size;
    if (ends_with(r->uri, "/stats")) {
        body = c->stats_body;
        size = c->stats_size;
    }
    else if (ends_with(r->uri, "/set")) {
        body = c->set_body;
        size = c->set_size;
    }
    r->status = HTTP_OK;
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_length(r, (apr_off_t)size);
    if (!r->header_only)
        ap_rwrite(body, (int)size, r);
    return OK;
}

/* Each thread reads through a file of its own, opened on its first
 * reading, as mod_hyperlane's reader does (src/hl_procinfo.c: threads that
 * share one file queue on its lock).  Only children serve requests, and a
 * thread never crosses a fork, so the file is always this process's. */
static __thread int statm_fd = -1;

/* The readings, kept in a volatile so that they are made. */
static int read_memory(void)
{
    char buf[128];
    struct rusage ru;
    volatile long sink;
    if (statm_fd < 0) {
        char path[96];
        snprintf(path, sizeof(path), "/proc/%ld/task/%ld/statm", (long)getpid(),
                 (long)syscall(SYS_gettid));
        statm_fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (statm_fd < 0 || pread(statm_fd, buf, sizeof(buf) - 1, 0) <= 0
        || getrusage(RUSAGE_THREAD, &ru) != 0)
        return HTTP_INTERNAL_SERVER_ERROR;
    sink = ru.ru_maxrss + buf[0];
    (void)sink;
    return OK;
}

static int nj_handler(request_rec *r)
{
    if (!r->handler)
        return DECLINED;
    if (strcmp(r->handler, "null-json-readings") == 0) {
        int rc = read_memory();
        return rc == OK ? write_body(r) : rc;
    }
    if (strcmp(r->handler, "null-json-discard") == 0) {
        int rc = ap_discard_request_body(r);
        if (rc != OK)
            return rc;
        return write_body(r);
    }
    if (strcmp(r->handler, "null-json") == 0)
        return write_body(r);
    if (strcmp(r->handler, "null-json-spans") == 0)
        return write_spans(r);
    return DECLINED;
}

static int nj_quick_handler(request_rec *r, int lookup)
{
    if (lookup || !has_prefix(r->uri, config_of(r->server)->quick))
        return DECLINED;
    return write_body(r);
}

/* Returning OK skips core_map_to_storage: no <Directory> walk, no stat. */
static int nj_map_to_storage(request_rec *r)
{
    return has_prefix(r->uri, config_of(r->server)->no_walk) ? OK : DECLINED;
}

static const command_rec nj_cmds[] = {
    AP_INIT_TAKE1("NullJsonSize", set_size,
                  (void *)APR_OFFSETOF(nj_config, size), RSRC_CONF,
                  "bytes of the constant JSON body"),
    AP_INIT_TAKE1("NullJsonStatsSize", set_size,
                  (void *)APR_OFFSETOF(nj_config, stats_size), RSRC_CONF,
                  "bytes of the body for URIs ending in /stats"),
    AP_INIT_TAKE1("NullJsonSetSize", set_size,
                  (void *)APR_OFFSETOF(nj_config, set_size), RSRC_CONF,
                  "bytes of the body for URIs ending in /set"),
    AP_INIT_TAKE1("NullJsonNoWalk", set_no_walk, NULL, RSRC_CONF,
                  "URI prefix that skips the directory walk"),
    AP_INIT_TAKE1("NullJsonQuick", set_quick, NULL, RSRC_CONF,
                  "URI prefix answered by the quick_handler"),
    AP_INIT_ITERATE("NullJsonSpans", add_span, NULL, RSRC_CONF,
                    "URI prefixes whose requests' CPU spans are added up"),
    { NULL }
};

static void nj_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_post_config(nj_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_quick_handler(nj_quick_handler, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_map_to_storage(nj_map_to_storage, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_handler(nj_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(nj_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_create_request(nj_span_begin, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_log_transaction(nj_span_log, NULL, NULL, APR_HOOK_REALLY_LAST);
}

AP_DECLARE_MODULE(null_json) = {
    STANDARD20_MODULE_STUFF,
    NULL, NULL,
    nj_create,
    NULL,
    nj_cmds,
    nj_register_hooks
#ifdef AP_MODULE_FLAG_NONE
    , AP_MODULE_FLAG_NONE
#endif
};
