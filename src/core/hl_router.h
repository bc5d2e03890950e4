/* hl_router: maps a request path below the mount point, and its method, to
 * an endpoint.  The route table is the list of everything the module
 * serves; paths are relative to the enclosing <Location>, so any mount
 * point works and several may coexist. */
#ifndef HL_ROUTER_H
#define HL_ROUTER_H

#include <apr.h>
#include <apr_errno.h>
#include <apr_pools.h>
#include <apr_tables.h>

/* The endpoints of hl_endpoints.def, by number (0: none). */
typedef enum {
    HL_EP_NONE = 0,
#define HL_ENDPOINT(ID, path, rest, methods, flags, handler) HL_EP_##ID,
#include "hl_endpoints.def"
    HL_EP_COUNT
} hl_endpoint;

/* Methods as bits.  HEAD is served wherever GET is, except where a GET
 * changes state (HL_RF_NO_HEAD). */
enum {
    HL_M_GET = 1, HL_M_HEAD = 2, HL_M_POST = 4, HL_M_PUT = 8, HL_M_DELETE = 16,
    HL_M_OTHER = 32
};

typedef enum {
    HL_ROUTE_OK = 0,
    HL_ROUTE_NOT_FOUND,
    HL_ROUTE_BAD_METHOD
} hl_route_status;

/* What an endpoint's methods do. */
enum {
    HL_RF_READ_ONLY  = 1,   /* its GET and HEAD only read: HyperlaneFastPath
                             * may answer them */
    HL_RF_NO_HEAD    = 2,   /* its GET changes state: HEAD is refused (405) */
    HL_RF_GUARD_GET  = 4,   /* its GET costs real work: refused cross-site
                             * like the state-changing methods */
    HL_RF_READS_BODY = 8,   /* its POST and PUT read the request body; any
                             * other request's body is dropped unread */
    HL_RF_RANGES     = 16   /* its GET may answer the same bytes again (the
                             * dashboard, a cache value with ?raw=1): a
                             * Range applies.  Every other answer changes
                             * from one request to the next (counts, ages),
                             * and a range of it would splice two. */
};

/* "GET, HEAD, POST" and the like: the longest fits. */
#define HL_ALLOW_MAX sizeof("GET, HEAD, POST, PUT, DELETE")

typedef struct hl_route {
    hl_route_status status;
    hl_endpoint endpoint;
    unsigned flags;          /* HL_RF_* */
    const char *name;        /* the route's path pattern, for logs */
    const char *rest;        /* what follows a prefix route (the raw key) */
    char allow[HL_ALLOW_MAX];  /* for a 405: "GET, HEAD, POST" */
} hl_route;

typedef struct hl_route_def {
    const char *path;        /* relative to the mount, no leading '/' */
    apr_size_t len;          /* strlen(path) */
    int is_prefix;           /* path ends in '/' and takes a remainder */
    const char *rest_name;   /* the remainder's name: "{key}", "{file}" */
    unsigned methods;
    unsigned flags;          /* HL_RF_* */
    hl_endpoint endpoint;
} hl_route_def;

/* The table, terminated by a NULL path. */
const hl_route_def *hl_router_table(void);

unsigned hl_router_method_bit(const char *method);

/* Routes rel (the path below the mount, no leading '/'). */
apr_status_t hl_router_match(const char *rel, unsigned method, hl_route *out);

/* Finds the mount point of uri: the longest of mounts (the paths of the
 * <Location> sections that say "SetHandler hyperlane", read from the
 * configuration) that is a path prefix of uri.  When none is, section (the
 * innermost section that applied, e.g. a <LocationMatch>) stands in.  A
 * nested <Location /hl/counter> adding a Require below the mount /hl thus
 * still routes "/hl/counter/stats" as "counter/stats".  APR_NOTFOUND when
 * no candidate is a prefix of uri. */
apr_status_t hl_router_resolve(const char *uri,
                               const apr_array_header_t *mounts,
                               const char *section, unsigned method,
                               const char **mount, hl_route *out);

/* Whether path is in the normal form Apache gives r->uri: no empty, "."
 * or ".." segment but an empty last one ("/a//b", "/a/./b", "/a/.." are
 * not). */
int hl_path_in_normal_form(const char *path);

/* Percent-decodes in[0..len) into a new pool string; binary-safe (the
 * result may hold NUL bytes, *out_len says how many).  APR_EINVAL on a bad
 * escape ("%zz", "%4"). */
apr_status_t hl_percent_decode(apr_pool_t *p, const char *in, apr_size_t len,
                               char **out, apr_size_t *out_len);

#endif
