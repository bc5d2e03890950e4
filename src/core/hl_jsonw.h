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
#include <string.h>

#define HL_JSONW_DEPTH 64

/* A streamed writer hands its text on before it would grow past this. */
#define HL_JSONW_STREAM_AT (64 * 1024)

/* Where a streamed writer's text goes; it must be done with the text
 * when it returns (the writer reuses the buffer). */
typedef apr_status_t (*hl_jsonw_sink_fn)(void *baton, const char *text,
                                         apr_size_t len);

typedef struct hl_jsonw {
    apr_pool_t *pool;
    char *buf;
    apr_size_t len, cap;
    int depth;
    unsigned char in_array[HL_JSONW_DEPTH];
    unsigned char has_items[HL_JSONW_DEPTH];
    int too_deep;       /* nested past HL_JSONW_DEPTH: the text is "null" */
    const char *span_limit;   /* the end of the room the last span asked for */
    hl_jsonw_sink_fn sink;    /* NULL: the whole text stays in the buffer */
    void *sink_baton;
    apr_size_t sent;          /* bytes handed to the sink */
    apr_status_t sink_rv;     /* its first failure; text after it is dropped */
    char *repaired;           /* invalid UTF-8 made valid, reused: a bulk */
    apr_size_t repaired_cap;  /* answer may hold many such values */
} hl_jsonw;

void hl_jsonw_init(hl_jsonw *w, apr_pool_t *p);

/* Containers: opened as a value, closed by end (the innermost). */
void hl_jsonw_object(hl_jsonw *w);
void hl_jsonw_array(hl_jsonw *w);
void hl_jsonw_end(hl_jsonw *w);

/* Member names.  The module's own names are string literals of plain
 * ASCII that need no escaping (the unit tests parse every answer back):
 * these macros paste the quotes and the colon around a name at compile
 * time, so that writing it is one copy of known length.  Most of an
 * answer's text is names; escaping them one byte at a time was a third of
 * counter/increment's JSON cost.  A name that is not a string literal does
 * not compile; hl_jsonw_key_text writes a name made at run time (escaped,
 * but not checked as UTF-8: the module's names are its own ASCII). */
#define HL_JSONW_NAME(s) "\"" s "\":", sizeof("\"" s "\":") - 1
#define hl_jsonw_key(w, s) hl_jsonw_name((w), HL_JSONW_NAME(s))
void hl_jsonw_name(hl_jsonw *w, const char *quoted, apr_size_t len);
void hl_jsonw_key_text(hl_jsonw *w, const char *key);

/* Values.  Strings are made valid UTF-8 (invalid bytes become U+FFFD) and
 * escaped; plain ASCII, the usual case, is found eight bytes at a time and
 * copied as it is. */
void hl_jsonw_u64(hl_jsonw *w, apr_uint64_t v);
void hl_jsonw_i64(hl_jsonw *w, apr_int64_t v);
void hl_jsonw_bool(hl_jsonw *w, int v);
void hl_jsonw_null(hl_jsonw *w);
void hl_jsonw_fixed(hl_jsonw *w, double v, int decimals);  /* "%.*f" */
void hl_jsonw_double(hl_jsonw *w, double v);               /* "%.15g" */
void hl_jsonw_string(hl_jsonw *w, const char *s, apr_size_t len);
void hl_jsonw_cstr(hl_jsonw *w, const char *s);

/* v as exactly width decimal digits at out, zero-padded (no NUL); the
 * digits beyond width are dropped; width <= 0 writes nothing. */
void hl_jsonw_digits(char *out, apr_uint64_t v, int width);

/* Spans: text the caller writes itself, for the hottest parts of the
 * answers (counter/stats writes ten history entries of four members each,
 * and in the server the writer's calls per member cost more than the
 * text).  hl_jsonw_span places a value (in an array, after a comma) and
 * returns room for at most max bytes; hl_jsonw_span_end takes the end of
 * what was written back, and aborts the process if it lies past the room
 * asked for: the caller miscounted and has written outside it, and nothing
 * may go on with a pool that may be corrupt (the unit tests write the
 * memory figures' longest text).  The text between must be one valid JSON
 * value.
 * hl_jsonw_paste copies a string literal and returns the end. */
char *hl_jsonw_span(hl_jsonw *w, apr_size_t max);
/* The same for members of the innermost object, "name":value, with their
 * commas between them but none before: the writer puts one there when the
 * object has members already. */
char *hl_jsonw_members_span(hl_jsonw *w, apr_size_t max);
void hl_jsonw_span_end(hl_jsonw *w, char *end);
#define hl_jsonw_paste(p, s) ((char *)memcpy((p), s, sizeof(s) - 1) + sizeof(s) - 1)
/* v in decimal at p, returning the end; counts HL_JSONW_SPAN_NUMBER bytes
 * of a span's max (it may write past its digits, inside that room). */
#define HL_JSONW_SPAN_NUMBER 28
char *hl_jsonw_span_u64(char *p, apr_uint64_t v);
char *hl_jsonw_span_i64(char *p, apr_int64_t v);
/* The last width (1..8) decimal digits of v at p, zero-padded, returning
 * the end; like a span's number it may write up to p + 8. */
char *hl_jsonw_span_digits(char *p, apr_uint64_t v, int width);
/* usec microseconds as seconds with six decimals, exactly (no double),
 * returning the end; counts HL_JSONW_SPAN_SECONDS bytes of a span's max
 * (sign, number, '.' and span_digits' eight: it may write past its end,
 * inside that room). */
#define HL_JSONW_SPAN_SECONDS (2 + HL_JSONW_SPAN_NUMBER + 8)
char *hl_jsonw_span_seconds(char *p, apr_int64_t usec);
/* s[0..len) as a JSON string at p, returning the end: quoted, escaped and
 * made valid UTF-8 (a repair is made in w's pool) as hl_jsonw_string does;
 * counts HL_JSONW_SPAN_STRING(len) bytes of a span's max (a byte becomes at
 * most six: \u00XX, or three of U+FFFD). */
#define HL_JSONW_SPAN_STRING(len) (2 + 6 * (apr_size_t)(len))
char *hl_jsonw_span_string(hl_jsonw *w, char *p, const char *s,
                           apr_size_t len);

/* Members: a literal name (as hl_jsonw_key) and its value in one call. */
#define hl_jsonw_kv_u64(w, s, v) hl_jsonw_member_u64((w), HL_JSONW_NAME(s), (v))
#define hl_jsonw_kv_i64(w, s, v) hl_jsonw_member_i64((w), HL_JSONW_NAME(s), (v))
/* A bool member is one of two literals, "name":true or "name":false. */
#define hl_jsonw_kv_bool(w, s, v) \
    ((v) ? hl_jsonw_name((w), "\"" s "\":true", sizeof("\"" s "\":true") - 1) \
         : hl_jsonw_name((w), "\"" s "\":false", sizeof("\"" s "\":false") - 1))
#define hl_jsonw_kv_double(w, s, v) \
    hl_jsonw_member_double((w), HL_JSONW_NAME(s), (v))
#define hl_jsonw_kv_cstr(w, s, v) \
    hl_jsonw_member_cstr((w), HL_JSONW_NAME(s), (v))
#define hl_jsonw_kv_string(w, s, v, len) \
    hl_jsonw_member_string((w), HL_JSONW_NAME(s), (v), (len))
/* A name and a value that are both string literals of plain ASCII. */
#define hl_jsonw_kv_literal(w, s, v) \
    hl_jsonw_name((w), "\"" s "\":\"" v "\"", sizeof("\"" s "\":\"" v "\"") - 1)

void hl_jsonw_member_u64(hl_jsonw *w, const char *quoted, apr_size_t qlen,
                         apr_uint64_t v);
void hl_jsonw_member_i64(hl_jsonw *w, const char *quoted, apr_size_t qlen,
                         apr_int64_t v);
void hl_jsonw_member_double(hl_jsonw *w, const char *quoted, apr_size_t qlen,
                            double v);
void hl_jsonw_member_string(hl_jsonw *w, const char *quoted, apr_size_t qlen,
                            const char *s, apr_size_t len);
void hl_jsonw_member_cstr(hl_jsonw *w, const char *quoted, apr_size_t qlen,
                          const char *s);

/* The text written so far (NUL-terminated, in the pool); "null" if the
 * writer was nested deeper than HL_JSONW_DEPTH.  Of a streamed writer, the
 * text not yet handed to the sink. */
const char *hl_jsonw_text(const hl_jsonw *w, apr_size_t *len);

/* Streams w from now on: text goes to sink in pieces of at most
 * HL_JSONW_STREAM_AT bytes (more when one value is larger), so that an
 * answer of any length takes a buffer of about its largest value (a
 * listing, a bulk get: up to thousands of values, each escaped up to six
 * times its size).  The module's answers nest a few levels, far from
 * HL_JSONW_DEPTH, whose "null" a stream could not take back. */
void hl_jsonw_stream(hl_jsonw *w, hl_jsonw_sink_fn sink, void *baton);

#endif
