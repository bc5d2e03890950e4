/* hl_utf8: validation after RFC 3629 (no overlongs, no surrogates, nothing
 * past U+10FFFF); see hl_utf8.h for why. */
#include "hl_utf8.h"

#include <string.h>

/* Length of the valid sequence at s[0..n), or 0 with *bad set to the length
 * of the maximal invalid subpart to replace. */
static apr_size_t valid_sequence(const unsigned char *s, apr_size_t n,
                                 apr_size_t *bad)
{
    unsigned char c = s[0];
    apr_size_t need, i;
    unsigned char lo = 0x80, hi = 0xBF;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        need = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    }
    else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    }
    else {
        *bad = 1;
        return 0;
    }
    for (i = 1; i <= need; i++) {
        if (i >= n || s[i] < lo || s[i] > hi) {
            *bad = i;
            return 0;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    return need + 1;
}

/* ASCII, by far the common case, is checked eight bytes at a time. */
int hl_utf8_valid(const char *in, apr_size_t len)
{
    const unsigned char *s = (const unsigned char *)in;
    apr_size_t i = 0, bad;
    while (i < len) {
        apr_size_t n;
        apr_uint64_t word;
        if (len - i >= 8) {
            memcpy(&word, s + i, 8);
            if (!(word & 0x8080808080808080ULL)) {
                i += 8;
                continue;
            }
        }
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        n = valid_sequence(s + i, len - i, &bad);
        if (!n)
            return 0;
        i += n;
    }
    return 1;
}

apr_size_t hl_utf8_lossy_into(char *out, const char *in, apr_size_t len)
{
    const unsigned char *s = (const unsigned char *)in;
    char *o = out;
    apr_size_t i = 0, bad;

    while (i < len) {
        apr_size_t n = valid_sequence(s + i, len - i, &bad);
        if (n) {
            memcpy(o, s + i, n);
            o += n;
            i += n;
        }
        else {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += bad;
        }
    }
    *o = '\0';
    return (apr_size_t)(o - out);
}

const char *hl_utf8_lossy(apr_pool_t *p, const char *in, apr_size_t len,
                          apr_size_t *out_len)
{
    char *out;
    if (hl_utf8_valid(in, len)) {
        *out_len = len;
        return in;
    }
    out = apr_palloc(p, len * 3 + 1);
    *out_len = hl_utf8_lossy_into(out, in, len);
    return out;
}
