/* hl_utf8: byte strings made fit for a JSON string.  Cache keys and values
 * are binary-safe; a JSON answer must still be valid, so invalid UTF-8 is
 * replaced by U+FFFD, one per maximal invalid subpart, as Rust's
 * String::from_utf8_lossy (the seed) and the WHATWG decoder do. */
#ifndef HL_UTF8_H
#define HL_UTF8_H

#include <apr.h>
#include <apr_pools.h>

/* 1 when in[0..len) is valid UTF-8 (NUL bytes are valid). */
int hl_utf8_valid(const char *in, apr_size_t len);

/* A copy of in[0..len) with invalid sequences replaced, in p; *out_len
 * gets its length.  Valid input comes back unchanged. */
const char *hl_utf8_lossy(apr_pool_t *p, const char *in, apr_size_t len,
                          apr_size_t *out_len);
/* The same into out, which has room for 3 * len + 1 bytes (each replaced
 * byte grows to at most 3); returns the length, out NUL-terminated. */
apr_size_t hl_utf8_lossy_into(char *out, const char *in, apr_size_t len);

#endif
