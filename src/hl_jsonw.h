/* hl_jsonw: a small streaming JSON writer into a pool buffer.
 *
 * Every answer of the module is written with it.  The profile of
 * counter/increment (bench/RESULTS.md) showed json-c's tree building,
 * snprintf per number and tree freeing at about two thirds of the
 * handler's cost; writing the text straight into one growing buffer costs
 * a small fraction of that.  The writer keeps a stack of open containers
 * so that commas are placed for the caller; strings are escaped and made
 * valid UTF-8 (invalid bytes become U+FFFD, see hl_utf8.h).  json-c stays
 * the reader: the unit tests parse every answer back with it.
 */
#ifndef HL_JSONW_H
#define HL_JSONW_H

#include <apr.h>
#include <apr_pools.h>

#define HL_JSONW_DEPTH 64

typedef struct hl_jsonw {
    apr_pool_t *pool;
    char *buf;
    apr_size_t len, cap;
    int depth;
    unsigned char in_array[HL_JSONW_DEPTH];
    unsigned char has_items[HL_JSONW_DEPTH];
    int too_deep;       /* nested past HL_JSONW_DEPTH: the text is "null" */
} hl_jsonw;

void hl_jsonw_init(hl_jsonw *w, apr_pool_t *p);

/* Containers: opened as a value, closed by end (the innermost). */
void hl_jsonw_object(hl_jsonw *w);
void hl_jsonw_array(hl_jsonw *w);
void hl_jsonw_end(hl_jsonw *w);

/* A member name inside an object; the next value call is its value. */
void hl_jsonw_key(hl_jsonw *w, const char *key);

/* Values. */
void hl_jsonw_u64(hl_jsonw *w, apr_uint64_t v);
void hl_jsonw_i64(hl_jsonw *w, apr_int64_t v);
void hl_jsonw_bool(hl_jsonw *w, int v);
void hl_jsonw_null(hl_jsonw *w);
void hl_jsonw_fixed(hl_jsonw *w, double v, int decimals);  /* "%.*f" */
void hl_jsonw_double(hl_jsonw *w, double v);               /* "%.15g" */
void hl_jsonw_string(hl_jsonw *w, const char *s, apr_size_t len);
void hl_jsonw_cstr(hl_jsonw *w, const char *s);

/* Member shorthands: key and value in one call. */
void hl_jsonw_kv_u64(hl_jsonw *w, const char *key, apr_uint64_t v);
void hl_jsonw_kv_i64(hl_jsonw *w, const char *key, apr_int64_t v);
void hl_jsonw_kv_bool(hl_jsonw *w, const char *key, int v);
void hl_jsonw_kv_fixed(hl_jsonw *w, const char *key, double v, int decimals);
void hl_jsonw_kv_double(hl_jsonw *w, const char *key, double v);
void hl_jsonw_kv_cstr(hl_jsonw *w, const char *key, const char *s);
void hl_jsonw_kv_string(hl_jsonw *w, const char *key, const char *s,
                        apr_size_t len);

/* The text written so far (NUL-terminated, in the pool); "null" if the
 * writer was nested deeper than HL_JSONW_DEPTH. */
const char *hl_jsonw_text(const hl_jsonw *w, apr_size_t *len);

#endif
