/* hl_jsonw: see hl_jsonw.h.  One buffer that doubles when full; the
 * container stack only decides where commas go.  The text is terminated
 * once, when it is asked for: every reserve keeps a byte for the NUL. */
#include "hl_jsonw.h"
#include "hl_utf8.h"

#include <apr_strings.h>
#include <apr_time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

void hl_jsonw_init(hl_jsonw *w, apr_pool_t *p)
{
    memset(w, 0, sizeof(*w));
    w->pool = p;
    w->cap = 512;
    w->buf = apr_palloc(p, w->cap);
}

void hl_jsonw_stream(hl_jsonw *w, hl_jsonw_sink_fn sink, void *baton)
{
    w->sink = sink;
    w->sink_baton = baton;
}

/* Called only where no pointer into the buffer is held: at the start of a
 * reserve, before a span's room is handed out. */
static void grow(hl_jsonw *w, apr_size_t more)
{
    char *bigger;
    apr_size_t cap = w->cap;
    if (w->sink && w->len && w->len + more + 1 > HL_JSONW_STREAM_AT) {
        if (w->sink_rv == APR_SUCCESS)
            w->sink_rv = w->sink(w->sink_baton, w->buf, w->len);
        w->sent += w->len;
        w->len = 0;
        if (more + 1 <= cap)
            return;
    }
    while (w->len + more + 1 > cap)
        cap *= 2;
    bigger = apr_palloc(w->pool, cap);
    memcpy(bigger, w->buf, w->len);
    w->buf = bigger;
    w->cap = cap;
}

static APR_INLINE void reserve(hl_jsonw *w, apr_size_t more)
{
    if (w->len + more + 1 > w->cap)
        grow(w, more);
}

static void put(hl_jsonw *w, const char *s, apr_size_t n)
{
    reserve(w, n);
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

static APR_INLINE void put_char(hl_jsonw *w, char c)
{
    reserve(w, 1);
    w->buf[w->len++] = c;
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
    w->len = (apr_size_t)(p - w->buf);
}

/* Whether a member of the innermost object needs a comma before it (it
 * has one already); marks the object as having one. */
static int member_comma(hl_jsonw *w)
{
    int comma = 0;
    if (tracked(w)) {
        comma = w->has_items[w->depth - 1];
        w->has_items[w->depth - 1] = 1;
    }
    return comma;
}

/* A short copy in whole words, the last one overlapping: names are a few
 * to thirty bytes, where a call to memcpy costs more than the copy. */
static void copy_short(char *p, const char *s, apr_size_t n)
{
    apr_uint64_t x;
    apr_uint32_t y;
    if (n >= 8) {
        apr_size_t i;
        for (i = 0; i + 8 < n; i += 8) {
            memcpy(&x, s + i, 8);
            memcpy(p + i, &x, 8);
        }
        memcpy(&x, s + n - 8, 8);
        memcpy(p + n - 8, &x, 8);
    }
    else if (n >= 4) {
        memcpy(&y, s, 4);
        memcpy(p, &y, 4);
        memcpy(&y, s + n - 4, 4);
        memcpy(p + n - 4, &y, 4);
    }
    else {
        while (n--)
            *p++ = *s++;
    }
}

void hl_jsonw_name(hl_jsonw *w, const char *quoted, apr_size_t len)
{
    char *p;
    reserve(w, len + 1);
    p = w->buf + w->len;
    if (member_comma(w))
        *p++ = ',';
    copy_short(p, quoted, len);
    w->len = (apr_size_t)(p + len - w->buf);
}

void hl_jsonw_key_text(hl_jsonw *w, const char *key)
{
    put_escaped(w, key, strlen(key), member_comma(w) ? ',' : 0, ':');
}

/* From the bit length: log10(2) is about 1233 / 4096, then one compare. */
static const apr_uint64_t powers_of_ten[20] = { 1ull, 10ull, 100ull, 1000ull,
    10000ull, 100000ull, 1000000ull, 10000000ull, 100000000ull,
    1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
    10000000000000ull, 100000000000000ull, 1000000000000000ull,
    10000000000000000ull, 100000000000000000ull, 1000000000000000000ull,
    10000000000000000000ull };

static int decimal_length(apr_uint64_t v)
{
    int t;
    if (v < 10)
        return 1;
    t = ((64 - __builtin_clzll(v)) * 1233) >> 12;
    return t + (v >= powers_of_ten[t]);
}

/* The eight decimal digits of v < 10^8, zero-padded, as a word whose bytes
 * in memory are the text: all eight found at once, by multiplications that
 * divide every lane of the word by 100 and then by 10 in parallel (Paul
 * Khuong's "print integers faster", 2017).  The loop of divisions before
 * it took a third of the stats answer's instructions, with a trip count
 * that changes with every number.  With this and copy_short, server CPU
 * per request, pinned, fell 0.42 us for fast-path counter/stats and
 * 0.28 us for counter/increment. */
static APR_INLINE apr_uint64_t eight_digits(apr_uint32_t v)
{
    apr_uint64_t merged = (v / 10000) | ((apr_uint64_t)(v % 10000) << 32);
    apr_uint64_t top = ((merged * 10486ULL) >> 20)          /* / 100 */
                       & ((0x7FULL << 32) | 0x7FULL);
    apr_uint64_t hundreds = ((merged - 100ULL * top) << 16) + top;
    apr_uint64_t tens = ((hundreds * 103ULL) >> 10)          /* / 10 */
                        & ((0xFULL << 48) | (0xFULL << 32) | (0xFULL << 16) | 0xFULL);
    apr_uint64_t text = (tens + ((hundreds - 10ULL * tens) << 8))
                        + 0x3030303030303030ULL;
#if APR_IS_BIGENDIAN
    text = __builtin_bswap64(text);
#endif
    return text;
}

static APR_INLINE void store8(char *p, apr_uint64_t word)
{
    memcpy(p, &word, 8);
}

/* The last n (1..8) of the eight digits of v, then zeros to p + 8. */
static APR_INLINE void store_tail(char *p, apr_uint32_t v, int n)
{
    apr_uint64_t text = eight_digits(v);
#if APR_IS_BIGENDIAN
    store8(p, text << (8 * (8 - n)));
#else
    store8(p, text >> (8 * (8 - n)));
#endif
}

/* v's n digits at p (n from decimal_length), in whole words: bytes up to
 * p + 8 may be written past the digits, so p needs room for max(n, 8). */
static void write_digits(char *p, apr_uint64_t v, int n)
{
    if (n <= 8) {
        store_tail(p, (apr_uint32_t)v, n);
    }
    else if (n <= 16) {
        store_tail(p, (apr_uint32_t)(v / 100000000u), n - 8);
        store8(p + n - 8, eight_digits((apr_uint32_t)(v % 100000000u)));
    }
    else {
        store_tail(p, (apr_uint32_t)(v / 10000000000000000ULL), n - 16);
        store8(p + n - 16,
               eight_digits((apr_uint32_t)(v / 100000000u % 100000000u)));
        store8(p + n - 8, eight_digits((apr_uint32_t)(v % 100000000u)));
    }
}

/* "00" to "99": the short fields (a time's parts, its microseconds) are
 * written two digits a copy, from the end. */
static const char digit_pairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Exactly width digits, zero-padded, and nothing past them.  A u64 has at
 * most 20 digits: a wider field is zeros before them. */
void hl_jsonw_digits(char *out, apr_uint64_t v, int width)
{
    char text[24];
    char *end;
    if (width <= 0)
        return;
    if (width <= 8) {
        apr_uint32_t x = (apr_uint32_t)(v % 100000000u);
        end = out + width;
        while (end - out >= 2) {
            end -= 2;
            memcpy(end, digit_pairs + 2 * (x % 100), 2);
            x /= 100;
        }
        if (end > out)
            *out = (char)('0' + x % 10);
        return;
    }
    if (width > 20) {
        memset(out, '0', (apr_size_t)(width - 20));
        out += width - 20;
        width = 20;
    }
    end = text + (width <= 16 ? 16 : 24);
    store8(end - 8, eight_digits((apr_uint32_t)(v % 100000000u)));
    store8(end - 16, eight_digits((apr_uint32_t)(v / 100000000u % 100000000u)));
    if (width > 16)
        store8(end - 24, eight_digits((apr_uint32_t)(v / 10000000000000000ULL
                                                     % 100000000u)));
    copy_short(out, end - width, (apr_size_t)width);
}

char *hl_jsonw_span_u64(char *p, apr_uint64_t v)
{
    int n = decimal_length(v);
    write_digits(p, v, n);
    return p + n;
}

char *hl_jsonw_span_i64(char *p, apr_int64_t v)
{
    if (v >= 0)
        return hl_jsonw_span_u64(p, (apr_uint64_t)v);
    *p++ = '-';
    return hl_jsonw_span_u64(p, (apr_uint64_t)(-(v + 1)) + 1);  /* INT64_MIN */
}

char *hl_jsonw_span_digits(char *p, apr_uint64_t v, int width)
{
    store_tail(p, (apr_uint32_t)(v % 100000000u), width);
    return p + width;
}

char *hl_jsonw_span_seconds(char *p, apr_int64_t usec)
{
    apr_uint64_t mag = usec < 0 ? (apr_uint64_t)(-(usec + 1)) + 1
                                : (apr_uint64_t)usec;
    if (usec < 0)
        *p++ = '-';
    p = hl_jsonw_span_u64(p, mag / APR_USEC_PER_SEC);
    *p++ = '.';
    return hl_jsonw_span_digits(p, mag % APR_USEC_PER_SEC, 6);
}

static void put_digits(hl_jsonw *w, apr_uint64_t v)
{
    reserve(w, HL_JSONW_SPAN_NUMBER);
    w->len = (apr_size_t)(hl_jsonw_span_u64(w->buf + w->len, v) - w->buf);
}

static void put_i64(hl_jsonw *w, apr_int64_t v)
{
    reserve(w, HL_JSONW_SPAN_NUMBER);
    w->len = (apr_size_t)(hl_jsonw_span_i64(w->buf + w->len, v) - w->buf);
}

void hl_jsonw_u64(hl_jsonw *w, apr_uint64_t v)
{
    before_value(w);
    put_digits(w, v);
}

void hl_jsonw_i64(hl_jsonw *w, apr_int64_t v)
{
    before_value(w);
    put_i64(w, v);
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
 * several times cheaper than snprintf's %f); snprintf beyond that. */
void hl_jsonw_fixed(hl_jsonw *w, double v, int decimals)
{
    double scaled, mag = v < 0 ? -v : v;
    apr_uint64_t n, unit;
    char *p;

    if (decimals < 0 || decimals > 9 || !(mag < 1e9)) {
        put_double(w, "%.*f", decimals, v);
        return;
    }
    unit = powers_of_ten[decimals];
    scaled = mag * (double)unit + 0.5;
    n = (apr_uint64_t)scaled;
    before_value(w);
    if (v < 0 && n > 0)
        put_char(w, '-');
    put_digits(w, n / unit);
    if (decimals > 0) {
        reserve(w, (apr_size_t)decimals + 1);
        p = w->buf + w->len;
        *p = '.';
        hl_jsonw_digits(p + 1, n % unit, decimals);
        w->len += (apr_size_t)decimals + 1;
    }
}

void hl_jsonw_double(hl_jsonw *w, double v)
{
    put_double(w, "%.15g", -1, v);
}

/* Whether s[0..n) goes out as it is: ASCII with nothing to escape. */
static int plain_ascii(const char *s, apr_size_t n)
{
    apr_size_t i = 0;
#ifdef __SSE2__
    /* Sixteen bytes a step where the CPU has it (every x86-64): as signed
     * bytes, those below 0x20 are the control bytes and all from 0x80. */
    const __m128i space = _mm_set1_epi8(0x20), quote = _mm_set1_epi8('"'),
                  slash = _mm_set1_epi8('\\');
    for (; n - i >= 16; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        __m128i bad = _mm_or_si128(_mm_cmplt_epi8(x, space),
                                   _mm_or_si128(_mm_cmpeq_epi8(x, quote),
                                                _mm_cmpeq_epi8(x, slash)));
        if (_mm_movemask_epi8(bad))
            return 0;
    }
#endif
    for (; n - i >= 8; i += 8) {
        apr_uint64_t x;
        memcpy(&x, s + i, 8);
        if ((x & 0x8080808080808080ULL) || word_needs_escape(x))
            return 0;
    }
    for (; i < n; i++)
        if ((unsigned char)s[i] >= 0x80 || needs_escape((unsigned char)s[i]))
            return 0;
    return 1;
}

static char *quote_plain(char *p, const char *s, apr_size_t len)
{
    *p = '"';
    memcpy(p + 1, s, len);
    p[len + 1] = '"';
    return p + len + 2;
}

/* s made valid UTF-8, in the writer's one buffer for it. */
static const char *valid_utf8(hl_jsonw *w, const char *s, apr_size_t len,
                              apr_size_t *n)
{
    if (hl_utf8_valid(s, len)) {
        *n = len;
        return s;
    }
    if (w->repaired_cap < 3 * len + 1) {
        w->repaired_cap = 3 * len + 1;
        w->repaired = apr_palloc(w->pool, w->repaired_cap);
    }
    *n = hl_utf8_lossy_into(w->repaired, s, len);
    return w->repaired;
}

static void put_string(hl_jsonw *w, const char *s, apr_size_t len)
{
    apr_size_t n;
    const char *valid;
    if (plain_ascii(s, len)) {
        reserve(w, len + 2);
        w->len = (apr_size_t)(quote_plain(w->buf + w->len, s, len) - w->buf);
        return;
    }
    valid = valid_utf8(w, s, len, &n);
    put_escaped(w, valid, n, 0, 0);
}

char *hl_jsonw_span_string(hl_jsonw *w, char *p, const char *s,
                           apr_size_t len)
{
    apr_size_t n;
    const char *valid;
    if (plain_ascii(s, len))
        return quote_plain(p, s, len);
    valid = valid_utf8(w, s, len, &n);
    *p++ = '"';
    p = write_escaped(p, valid, n);
    *p++ = '"';
    return p;
}

void hl_jsonw_string(hl_jsonw *w, const char *s, apr_size_t len)
{
    before_value(w);
    put_string(w, s, len);
}

void hl_jsonw_cstr(hl_jsonw *w, const char *s)
{
    hl_jsonw_string(w, s, strlen(s));
}

char *hl_jsonw_span(hl_jsonw *w, apr_size_t max)
{
    before_value(w);
    reserve(w, max);
    w->span_limit = w->buf + w->len + max;
    return w->buf + w->len;
}

char *hl_jsonw_members_span(hl_jsonw *w, apr_size_t max)
{
    int comma = member_comma(w);
    char *p;
    reserve(w, max + 1);
    p = w->buf + w->len;
    w->span_limit = p + max + 1;
    if (comma)
        *p++ = ',';
    return p;
}

void hl_jsonw_span_end(hl_jsonw *w, char *end)
{
    if (end > w->span_limit)
        abort();
    w->len = (apr_size_t)(end - w->buf);
}

/* Members: the name places the comma, so the value needs none of its own. */
void hl_jsonw_member_u64(hl_jsonw *w, const char *quoted, apr_size_t qlen,
                         apr_uint64_t v)
{
    hl_jsonw_name(w, quoted, qlen);
    put_digits(w, v);
}

void hl_jsonw_member_i64(hl_jsonw *w, const char *quoted, apr_size_t qlen,
                         apr_int64_t v)
{
    hl_jsonw_name(w, quoted, qlen);
    put_i64(w, v);
}

void hl_jsonw_member_double(hl_jsonw *w, const char *quoted, apr_size_t qlen,
                            double v)
{
    hl_jsonw_name(w, quoted, qlen);
    hl_jsonw_double(w, v);
}

void hl_jsonw_member_string(hl_jsonw *w, const char *quoted, apr_size_t qlen,
                            const char *s, apr_size_t len)
{
    hl_jsonw_name(w, quoted, qlen);
    put_string(w, s, len);
}

void hl_jsonw_member_cstr(hl_jsonw *w, const char *quoted, apr_size_t qlen,
                          const char *s)
{
    hl_jsonw_member_string(w, quoted, qlen, s, strlen(s));
}

const char *hl_jsonw_text(const hl_jsonw *w, apr_size_t *len)
{
    if (w->too_deep) {
        *len = 4;
        return "null";
    }
    w->buf[w->len] = '\0';      /* the byte every reserve kept */
    *len = w->len;
    return w->buf;
}
