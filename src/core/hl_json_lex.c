/* hl_json_lex: see hl_json_lex.h.  One pass over the text, outside and
 * inside strings; bounded by len everywhere, the text need not end in a
 * NUL. */
#include "hl_json_lex.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The four hex digits of a \u escape at s[0..4), or -1. */
static long hex4(const char *s, apr_size_t left)
{
    char h[5], *end;
    long v;

    if (left < 4)
        return -1;
    memcpy(h, s, 4);
    h[4] = '\0';
    v = strtol(h, &end, 16);
    return end == h + 4 ? v : -1;
}

/* The string that starts after the quote at s[*i]; *i ends past its
 * closing quote. */
static apr_status_t string_at(const char *s, apr_size_t len, apr_size_t *i,
                              const char **why)
{
    apr_size_t k = *i + 1;

    for (; k < len && s[k] != '"'; k++) {
        long u, lo;
        if ((unsigned char)s[k] < 0x20) {
            *why = "a control character inside a string";
            return APR_EINVAL;
        }
        if (s[k] != '\\' || ++k >= len || s[k] != 'u')
            continue;
        u = hex4(s + k + 1, len - k - 1);
        k += 4;
        if (u >= 0xdc00 && u <= 0xdfff) {
            *why = "an unpaired surrogate escape";
            return APR_EINVAL;
        }
        if (u >= 0xd800 && u <= 0xdbff) {
            lo = k + 2 < len && s[k + 1] == '\\' && s[k + 2] == 'u'
                     ? hex4(s + k + 3, len - k - 3) : -1;
            if (lo < 0xdc00 || lo > 0xdfff) {
                *why = "an unpaired surrogate escape";
                return APR_EINVAL;
            }
            k += 6;
        }
    }
    *i = k + 1;
    return APR_SUCCESS;
}

/* The number at s[*i]: no leading zero, a digit after the point, and an
 * integer that fits int64 (negative) or uint64. */
static apr_status_t number_at(const char *s, apr_size_t len, apr_size_t *i,
                              const char **why)
{
    apr_size_t k = *i, n, first = *i + (s[*i] == '-');
    int integer = 1;
    char num[24];

    while (k < len && strchr("-+.eE0123456789", s[k]) && s[k]) {
        if (s[k] == '.' || s[k] == 'e' || s[k] == 'E')
            integer = 0;
        if (s[k] == '.' && (k + 1 >= len || s[k + 1] < '0' || s[k + 1] > '9')) {
            *why = "a number with no digit after its point";
            return APR_EINVAL;
        }
        k++;
    }
    if (first + 1 < k && s[first] == '0' && s[first + 1] >= '0' && s[first + 1] <= '9') {
        *why = "a number with a leading zero";
        return APR_EINVAL;
    }
    n = k - *i;
    if (integer) {
        if (n >= sizeof(num)) {
            *why = "an integer outside 64 bits";
            return APR_EINVAL;
        }
        memcpy(num, s + *i, n);
        num[n] = '\0';
        errno = 0;
        if (num[0] == '-')
            (void)strtoll(num, NULL, 10);
        else
            (void)strtoull(num, NULL, 10);
        if (errno == ERANGE) {
            *why = "an integer outside 64 bits";
            return APR_EINVAL;
        }
    }
    *i = k;
    return APR_SUCCESS;
}

/* A word outside strings: JSON has true, false and null (json-c also
 * reads NaN and Infinity). */
static apr_status_t literal_at(const char *s, apr_size_t len, apr_size_t *i,
                               const char **why)
{
    apr_size_t k = *i;

    while (k < len && ((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z')))
        k++;
    if (!((k - *i == 4 && (!memcmp(s + *i, "true", 4) || !memcmp(s + *i, "null", 4)))
          || (k - *i == 5 && !memcmp(s + *i, "false", 5)))) {
        *why = "a word JSON does not have (NaN, Infinity)";
        return APR_EINVAL;
    }
    *i = k;
    return APR_SUCCESS;
}

apr_status_t hl_json_lex_check(const char *text, apr_size_t len,
                               const char **why)
{
    apr_size_t i = 0;
    apr_status_t rv = APR_SUCCESS;

    while (i < len && rv == APR_SUCCESS) {
        char c = text[i];
        if (c == '"')
            rv = string_at(text, len, &i, why);
        else if (c == '-' || (c >= '0' && c <= '9'))
            rv = number_at(text, len, &i, why);
        else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            rv = literal_at(text, len, &i, why);
        else if (c == '\'') {
            *why = "a single-quoted key";
            rv = APR_EINVAL;
        }
        else
            i++;
    }
    return rv;
}

apr_size_t hl_json_lex_values(const char *text, apr_size_t len,
                              apr_size_t *members)
{
    apr_size_t i, n = 0;
    int in_string = 0;

    *members = 0;
    for (i = 0; i < len; i++) {
        char ch = text[i];
        if (in_string) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                in_string = 0;
        }
        else if (ch == '"')
            in_string = 1;
        else if (ch == '{' || ch == '[' || ch == ',')
            n++;
        else if (ch == ':')
            (*members)++;
    }
    return n;
}
