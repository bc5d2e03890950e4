/* hl-json-decode: json-c as the parser of every answer the Perl tests read
 * (t/lib/HL/JSON.pm runs one per test process as a co-process).
 *
 * Reads frames "<length>\n<bytes>" from stdin until EOF. Each is parsed by
 * json-c, strictly and with UTF-8 validation; whitespace may follow the
 * value, nothing else. For each frame it writes one frame "<length>\n<payload>"
 * where the payload is either "E<reason>" or the value in a prefix form
 * that needs no escaping, because every string carries its length:
 *   n t f                null, true, false
 *   i<text>;  d<text>;   an integer, a real (json-c's text of the number)
 *   s<len>:<bytes>       a string (UTF-8 bytes)
 *   a<count>:<values>    an array
 *   o<count>:<len>:<key><value>...   an object, keys in json-c's order */
#include "hl_json_lex.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct out {
    char *buf;
    size_t len, cap;
};

static int out_put(struct out *o, const char *s, size_t n)
{
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        char *b;
        while (cap < o->len + n)
            cap *= 2;
        if (!(b = realloc(o->buf, cap)))
            return -1;
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    return 0;
}

static int out_fmt(struct out *o, const char *tag, size_t n)
{
    char head[32];
    int k = snprintf(head, sizeof(head), "%s%zu:", tag, n);
    return out_put(o, head, (size_t)k);
}

/* 0, -1 when out of memory, -2 for a number JSON does not have. */
static int out_value(struct out *o, struct json_object *v)
{
    const char *s;
    size_t i, n;

    switch (json_object_get_type(v)) {
    case json_type_null:
        return out_put(o, "n", 1);
    case json_type_boolean:
        return out_put(o, json_object_get_boolean(v) ? "t" : "f", 1);
    case json_type_double:
        /* hl_json_lex refuses the words NaN and Infinity; a real too
         * large for a double (1e400) still reads as Infinity here. */
        if (!isfinite(json_object_get_double(v)))
            return -2;
        /* fall through */
    case json_type_int:
        /* json-c keeps the text it parsed a real from; for an integer it
         * prints the int64 or uint64 it holds. */
        s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
        return out_put(o, json_object_get_type(v) == json_type_int ? "i" : "d", 1)
               || out_put(o, s, strlen(s)) || out_put(o, ";", 1);
    case json_type_string:
        n = (size_t)json_object_get_string_len(v);
        return out_fmt(o, "s", n) || out_put(o, json_object_get_string(v), n);
    case json_type_array:
        n = json_object_array_length(v);
        if (out_fmt(o, "a", n))
            return -1;
        for (i = 0; i < n; i++) {
            int rv = out_value(o, json_object_array_get_idx(v, i));
            if (rv)
                return rv;
        }
        return 0;
    case json_type_object: {
        n = (size_t)json_object_object_length(v);
        if (out_fmt(o, "o", n))
            return -1;
        json_object_object_foreach(v, key, val) {
            int rv;
            if (out_fmt(o, "", strlen(key)) || out_put(o, key, strlen(key)))
                return -1;
            if ((rv = out_value(o, val)))
                return rv;
        }
        return 0;
    }
    }
    return -1;
}

/* Strict UTF-8: no overlong form, no surrogate, nothing past U+10FFFF.
 * The tool's own, not hl_utf8_valid: the module's writer uses that one,
 * and a test must not share a fault with what it checks. */
static int utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        unsigned c = s[i], n, cp, k;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            n = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            n = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 3, cp = c & 0x07;
        else
            return 0;
        if (len - i <= n)
            return 0;
        for (k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff
            || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

/* What json-c lets through and JSON does not, beside UTF-8: the module's
 * own check (src/core/hl_json_lex.c), which its bulk bodies go through. */
static const char *lexical_fault(const char *s, size_t len)
{
    const char *why;

    if (!utf8_valid((const unsigned char *)s, len))
        return "bytes that are not strict UTF-8";
    return hl_json_lex_check(s, len, &why) == APR_SUCCESS ? NULL : why;
}

static void decode(struct out *o, const char *in, size_t len)
{
    /* JSON::PP's default depth, which the tests had before. */
    struct json_tokener *tok = json_tokener_new_ex(512);
    struct json_object *v;
    enum json_tokener_error err;
    const char *fault;
    size_t end;
    int rv;

    o->len = 0;
    if (!tok) {
        out_put(o, "Eout of memory", 14);
        return;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    /* The NUL after the text ends a bare number, which json-c would
     * otherwise wait to see continued. */
    v = json_tokener_parse_ex(tok, in, (int)len + 1);
    err = json_tokener_get_error(tok);
    end = json_tokener_get_parse_end(tok);
    if (err != json_tokener_success) {
        const char *why = err == json_tokener_continue
                              ? "the JSON ends early" : json_tokener_error_desc(err);
        out_put(o, "E", 1);
        out_put(o, why, strlen(why));
        goto done;
    }
    while (end < len && in[end] && strchr(" \t\r\n", in[end]))
        end++;
    if (end < len)
        fault = "something follows the JSON value";
    else
        fault = lexical_fault(in, len);
    if (fault) {
        out_put(o, "E", 1);
        out_put(o, fault, strlen(fault));
    }
    /* A JSON null is a NULL json_object. */
    else if ((rv = out_value(o, v))) {
        const char *why = rv == -2 ? "ENaN or Infinity" : "Eout of memory";
        o->len = 0;
        out_put(o, why, strlen(why));
    }
done:
    json_object_put(v);
    json_tokener_free(tok);
}

/* A frame's length: digits and a newline, at most 1 GiB. */
static int read_length(size_t *len)
{
    int c, digits = 0;

    *len = 0;
    while ((c = getchar()) >= '0' && c <= '9' && digits++ < 10)
        *len = *len * 10 + (size_t)(c - '0');
    return c == '\n' && digits > 0 && *len <= ((size_t)1 << 30);
}

int main(void)
{
    struct out o = {0};
    char *in = NULL;
    size_t len;

    while (read_length(&len)) {
        char *b = realloc(in, len + 1);
        if (!b || fread(b, 1, len, stdin) != len)
            return 1;
        in = b;
        in[len] = '\0';
        decode(&o, in, len);
        printf("%zu\n", o.len);
        fwrite(o.buf, 1, o.len, stdout);
        fflush(stdout);
    }
    free(in);
    free(o.buf);
    return 0;
}
