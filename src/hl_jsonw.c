/* hl_jsonw: see hl_jsonw.h.  One buffer that doubles when full; the
 * container stack only decides where commas go. */
#include "hl_jsonw.h"
#include "hl_utf8.h"

#include <apr_strings.h>
#include <stdio.h>
#include <string.h>

void hl_jsonw_init(hl_jsonw *w, apr_pool_t *p)
{
    memset(w, 0, sizeof(*w));
    w->pool = p;
    w->cap = 512;
    w->buf = apr_palloc(p, w->cap);
    w->buf[0] = '\0';
}

static void reserve(hl_jsonw *w, apr_size_t more)
{
    char *bigger;
    apr_size_t cap = w->cap;
    if (w->len + more + 1 <= cap)
        return;
    while (w->len + more + 1 > cap)
        cap *= 2;
    bigger = apr_palloc(w->pool, cap);
    memcpy(bigger, w->buf, w->len);
    w->buf = bigger;
    w->cap = cap;
}

static void put(hl_jsonw *w, const char *s, apr_size_t n)
{
    reserve(w, n);
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

static void put_char(hl_jsonw *w, char c)
{
    reserve(w, 1);
    w->buf[w->len++] = c;
    w->buf[w->len] = '\0';
}

/* Whether the innermost container is on the stack (no answer of the
 * module nests past a few levels; past HL_JSONW_DEPTH the writer gives up
 * and its text is "null"). */
static int tracked(const hl_jsonw *w)
{
    return w->depth > 0 && w->depth <= HL_JSONW_DEPTH;
}

/* In an array a value follows a comma unless it is the first; in an
 * object the key already placed it. */
static void before_value(hl_jsonw *w)
{
    if (tracked(w) && w->in_array[w->depth - 1]) {
        if (w->has_items[w->depth - 1])
            put_char(w, ',');
        w->has_items[w->depth - 1] = 1;
    }
}

static void open_container(hl_jsonw *w, char c, int is_array)
{
    before_value(w);
    put_char(w, c);
    if (w->depth < HL_JSONW_DEPTH) {
        w->in_array[w->depth] = (unsigned char)is_array;
        w->has_items[w->depth] = 0;
    }
    else {
        w->too_deep = 1;
    }
    w->depth++;
}

void hl_jsonw_object(hl_jsonw *w)
{
    open_container(w, '{', 0);
}

void hl_jsonw_array(hl_jsonw *w)
{
    open_container(w, '[', 1);
}

void hl_jsonw_end(hl_jsonw *w)
{
    if (w->depth == 0)
        return;
    w->depth--;
    put_char(w, w->depth < HL_JSONW_DEPTH && w->in_array[w->depth] ? ']' : '}');
}

static int needs_escape(unsigned char c)
{
    return c < 0x20 || c == '"' || c == '\\';
}

/* The letter of c's two-byte escape (\" \\ \n \r \t), or 0 if it takes
 * \u00XX.  Sizing and writing both ask here, so they cannot disagree. */
static char short_escape(unsigned char c)
{
    switch (c) {
    case '"':  return '"';
    case '\\': return '\\';
    case '\n': return 'n';
    case '\r': return 'r';
    case '\t': return 't';
    default:   return 0;
    }
}

/* Whether any byte of x is below 0x20, a quote or a backslash (the exact
 * bit tricks of "Bit Twiddling Hacks": hasless and haszero). */
static int word_needs_escape(apr_uint64_t x)
{
    const apr_uint64_t ones = 0x0101010101010101ULL;
    const apr_uint64_t high = 0x8080808080808080ULL;
    apr_uint64_t quote = x ^ (ones * '"'), slash = x ^ (ones * '\\');
    return ((((x - ones * 0x20) & ~x)
            | ((quote - ones) & ~quote)
            | ((slash - ones) & ~slash)) & high) != 0;
}

/* Bytes that escaping adds to s: 1 for \" \\ \n \r \t, 5 for \u00XX.
 * Eight bytes at a time while there is nothing to escape, the usual case. */
static apr_size_t escape_growth(const char *s, apr_size_t n)
{
    apr_size_t i = 0, extra = 0;
    while (n - i >= 8) {
        apr_uint64_t x;
        memcpy(&x, s + i, 8);
        if (word_needs_escape(x))
            break;
        i += 8;
    }
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (needs_escape(c))
            extra += short_escape(c) ? 1 : 5;
    }
    return extra;
}

static char *write_escaped(char *p, const char *s, apr_size_t n)
{
    static const char hex[] = "0123456789abcdef";
    apr_size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!needs_escape(c)) {
            *p++ = (char)c;
            continue;
        }
        *p++ = '\\';
        if ((*p = short_escape(c)) != 0) {
            p++;
            continue;
        }
        *p++ = 'u';
        *p++ = '0';
        *p++ = '0';
        *p++ = hex[c >> 4];
        *p++ = hex[c & 15];
    }
    return p;
}

/* The answers write a dozen short strings each: one pass to size the text,
 * one reserve, then one copy (or one escaping pass when needed). */
static void put_escaped(hl_jsonw *w, const char *s, apr_size_t n, char before,
                        char after)
{
    apr_size_t extra = escape_growth(s, n);
    char *p;
    reserve(w, n + extra + 4);
    p = w->buf + w->len;
    if (before)
        *p++ = before;
    *p++ = '"';
    if (extra) {
        p = write_escaped(p, s, n);
    }
    else {
        memcpy(p, s, n);
        p += n;
    }
    *p++ = '"';
    if (after)
        *p++ = after;
    *p = '\0';
    w->len = (apr_size_t)(p - w->buf);
}

void hl_jsonw_key(hl_jsonw *w, const char *key)
{
    char comma = 0;
    if (tracked(w)) {
        if (w->has_items[w->depth - 1])
            comma = ',';
        w->has_items[w->depth - 1] = 1;
    }
    put_escaped(w, key, strlen(key), comma, ':');
}

static void put_digits(hl_jsonw *w, apr_uint64_t v)
{
    char digits[24];
    int i = sizeof(digits);
    do {
        digits[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(w, digits + i, sizeof(digits) - (apr_size_t)i);
}

void hl_jsonw_u64(hl_jsonw *w, apr_uint64_t v)
{
    before_value(w);
    put_digits(w, v);
}

void hl_jsonw_i64(hl_jsonw *w, apr_int64_t v)
{
    before_value(w);
    if (v < 0) {
        put_char(w, '-');
        put_digits(w, (apr_uint64_t)(-(v + 1)) + 1);   /* also INT64_MIN */
    }
    else {
        put_digits(w, (apr_uint64_t)v);
    }
}

void hl_jsonw_bool(hl_jsonw *w, int v)
{
    before_value(w);
    if (v)
        put(w, "true", 4);
    else
        put(w, "false", 5);
}

void hl_jsonw_null(hl_jsonw *w)
{
    before_value(w);
    put(w, "null", 4);
}

/* NaN and the infinities have no JSON number: they are written null. */
static void put_double(hl_jsonw *w, const char *format, int decimals, double v)
{
    char text[400];   /* %f of the largest double has 309 digits */
    int n, i;
    if (v != v || v - v != 0) {
        hl_jsonw_null(w);
        return;
    }
    before_value(w);
    /* libc's, not apr_snprintf: APR's %g drops the 0 of "0.5". */
    n = decimals >= 0 ? snprintf(text, sizeof(text), format, decimals, v)
                      : snprintf(text, sizeof(text), format, v);
    if (n < 0 || n >= (int)sizeof(text)) {
        put(w, "null", 4);
        return;
    }
    for (i = 0; i < n; i++)
        if (text[i] == ',')          /* a locale's decimal comma */
            text[i] = '.';
    put(w, text, (apr_size_t)n);
}

/* Fixed decimals by integer arithmetic where the value allows (it is
 * several times cheaper than snprintf's %f, and answers print ages and
 * timings on hot paths); snprintf beyond that. */
void hl_jsonw_fixed(hl_jsonw *w, double v, int decimals)
{
    static const apr_uint64_t pow10[] = { 1, 10, 100, 1000, 10000, 100000,
        1000000, 10000000, 100000000, 1000000000 };
    double scaled, mag = v < 0 ? -v : v;
    apr_uint64_t n, unit;
    char frac[10];
    int i;

    if (decimals < 0 || decimals > 9 || !(mag < 1e9)) {
        put_double(w, "%.*f", decimals, v);
        return;
    }
    unit = pow10[decimals];
    scaled = mag * (double)unit + 0.5;
    n = (apr_uint64_t)scaled;
    before_value(w);
    if (v < 0 && n > 0)
        put_char(w, '-');
    put_digits(w, n / unit);
    if (decimals > 0) {
        apr_uint64_t f = n % unit;
        for (i = decimals - 1; i >= 0; i--) {
            frac[i] = (char)('0' + f % 10);
            f /= 10;
        }
        put_char(w, '.');
        put(w, frac, (apr_size_t)decimals);
    }
}

void hl_jsonw_double(hl_jsonw *w, double v)
{
    put_double(w, "%.15g", -1, v);
}

void hl_jsonw_string(hl_jsonw *w, const char *s, apr_size_t len)
{
    apr_size_t n;
    const char *valid = hl_utf8_lossy(w->pool, s, len, &n);
    before_value(w);
    put_escaped(w, valid, n, 0, 0);
}

void hl_jsonw_cstr(hl_jsonw *w, const char *s)
{
    hl_jsonw_string(w, s, strlen(s));
}

void hl_jsonw_kv_u64(hl_jsonw *w, const char *key, apr_uint64_t v)
{
    hl_jsonw_key(w, key);
    hl_jsonw_u64(w, v);
}

void hl_jsonw_kv_i64(hl_jsonw *w, const char *key, apr_int64_t v)
{
    hl_jsonw_key(w, key);
    hl_jsonw_i64(w, v);
}

void hl_jsonw_kv_bool(hl_jsonw *w, const char *key, int v)
{
    hl_jsonw_key(w, key);
    hl_jsonw_bool(w, v);
}

void hl_jsonw_kv_fixed(hl_jsonw *w, const char *key, double v, int decimals)
{
    hl_jsonw_key(w, key);
    hl_jsonw_fixed(w, v, decimals);
}

void hl_jsonw_kv_double(hl_jsonw *w, const char *key, double v)
{
    hl_jsonw_key(w, key);
    hl_jsonw_double(w, v);
}

void hl_jsonw_kv_cstr(hl_jsonw *w, const char *key, const char *s)
{
    hl_jsonw_key(w, key);
    hl_jsonw_cstr(w, s);
}

void hl_jsonw_kv_string(hl_jsonw *w, const char *key, const char *s,
                        apr_size_t len)
{
    hl_jsonw_key(w, key);
    hl_jsonw_string(w, s, len);
}

const char *hl_jsonw_text(const hl_jsonw *w, apr_size_t *len)
{
    if (w->too_deep) {
        *len = 4;
        return "null";
    }
    *len = w->len;
    return w->buf;
}
