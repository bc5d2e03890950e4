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
 *
 *   SetHandler null-json          writes the body
 *   SetHandler null-json-discard  reads and drops the request body first
 *                                 (Apache's own cost of taking a body)
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
#include "http_protocol.h"
#include "http_request.h"

#include <apr_strings.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

module AP_MODULE_DECLARE_DATA null_json_module;

typedef struct {
    apr_size_t size, stats_size, set_size;
    const char *body, *stats_body, *set_body;   /* built in post_config */
    const char *no_walk;       /* URI prefix, or NULL */
    const char *quick;         /* URI prefix, or NULL */
} nj_config;

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
    { NULL }
};

static void nj_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_post_config(nj_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_quick_handler(nj_quick_handler, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_map_to_storage(nj_map_to_storage, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_handler(nj_handler, NULL, NULL, APR_HOOK_MIDDLE);
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
