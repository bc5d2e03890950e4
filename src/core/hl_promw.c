/* hl_promw: see hl_promw.h.  The text is kept as pieces, joined once
 * when it is asked for: a scrape is rare and small, so the writer keeps
 * no buffer arithmetic of its own. */
#include "hl_promw.h"
#include "hl_utf8.h"

#include <apr_strings.h>
#include <string.h>

void hl_promw_init(hl_promw *w, apr_pool_t *p)
{
    memset(w, 0, sizeof(*w));
    w->pool = p;
    w->pieces = apr_array_make(p, 1024, sizeof(const char *));
}

static void put(hl_promw *w, const char *s, apr_size_t n)
{
    if (n)
        APR_ARRAY_PUSH(w->pieces, const char *) = apr_pstrmemdup(w->pool, s, n);
}

static void put_str(hl_promw *w, const char *s)
{
    put(w, s, strlen(s));
}

/* s with backslash and line feed escaped, and with quote too when
 * quoted (a label value; a help text keeps its quotes). */
static void put_escaped(hl_promw *w, const char *s, apr_size_t n, int quoted)
{
    apr_size_t i, from = 0;
    for (i = 0; i < n; i++) {
        const char *esc = s[i] == '\\' ? "\\\\" : s[i] == '\n' ? "\\n"
                        : quoted && s[i] == '"' ? "\\\"" : NULL;
        if (!esc)
            continue;
        put(w, s + from, i - from);
        put(w, esc, 2);
        from = i + 1;
    }
    put(w, s + from, n - from);
}

void hl_promw_family(hl_promw *w, const char *name, const char *type,
                     const char *help)
{
    apr_size_t n = strlen(help);
    const char *valid = hl_utf8_lossy(w->pool, help, n, &n);
    put_str(w, "# HELP ");
    put_str(w, name);
    put(w, " ", 1);
    put_escaped(w, valid, n, 0);
    put_str(w, "\n# TYPE ");
    put_str(w, name);
    put(w, " ", 1);
    put_str(w, type);
    put(w, "\n", 1);
}

void hl_promw_sample(hl_promw *w, const char *name)
{
    put_str(w, name);
    w->labels = 0;
}

void hl_promw_label(hl_promw *w, const char *name, const char *value)
{
    apr_size_t n = strlen(value);
    const char *valid = hl_utf8_lossy(w->pool, value, n, &n);
    put(w, w->labels++ ? "," : "{", 1);
    put_str(w, name);
    put(w, "=\"", 2);
    put_escaped(w, valid, n, 1);
    put(w, "\"", 1);
}

void hl_promw_value_text(hl_promw *w, const char *v)
{
    if (w->labels)
        put(w, "}", 1);
    w->labels = 0;
    put(w, " ", 1);
    put_str(w, v);
    put(w, "\n", 1);
}

void hl_promw_value_u64(hl_promw *w, apr_uint64_t v)
{
    char digits[24];
    apr_snprintf(digits, sizeof(digits), "%" APR_UINT64_T_FMT, v);
    hl_promw_value_text(w, digits);
}

char *hl_promw_seconds(char *out, apr_uint64_t us)
{
    apr_size_t n = (apr_size_t)apr_snprintf(out, HL_PROMW_SECONDS_SIZE,
                                            "%" APR_UINT64_T_FMT ".%06u",
                                            us / 1000000u,
                                            (unsigned)(us % 1000000u));
    while (out[n - 1] == '0')
        out[--n] = '\0';
    if (out[n - 1] == '.')
        out[--n] = '\0';
    return out;
}

const char *hl_promw_text(const hl_promw *w, apr_size_t *len)
{
    const char *text = apr_array_pstrcat(w->pool, w->pieces, '\0');
    if (len)
        *len = strlen(text);
    return text;
}
