/* hl_config: see hl_config.h. */
#include "hl_config.h"

#include <apr_strings.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const hl_directive_def defs[HL_D_COUNT] = {
#define HL_NUMERIC(ID, name, min, max, dflt, is_bytes, help) \
    { HL_D_##ID, name, min, max, dflt, is_bytes, help },
#include "hl_directives.def"
};

const hl_directive_def *hl_config_directive(hl_directive_id id)
{
    return id < HL_D_COUNT ? &defs[id] : NULL;
}

void hl_config_defaults(hl_config *c)
{
    int i;
    memset(c, 0, sizeof(*c));
    for (i = 0; i < HL_D_COUNT; i++)
        c->value[i] = defs[i].dflt;
}

apr_uint64_t hl_config_get(const hl_config *c, hl_directive_id id)
{
    return c->value[id];
}

/* "123", "64K", "16M", "1G" -> bytes; returns 0 on success. */
static int parse_number(const char *arg, int is_bytes, apr_uint64_t *out)
{
    char *end;
    unsigned long long v, mult = 1;

    if (!arg || !*arg || *arg == '-' || *arg == '+' || *arg == ' ')
        return -1;
    errno = 0;
    v = strtoull(arg, &end, 10);
    if (errno || end == arg)
        return -1;
    if (*end && is_bytes && !end[1]) {
        switch (*end) {
        case 'k': case 'K': mult = HL_KIB; break;
        case 'm': case 'M': mult = HL_MIB; break;
        case 'g': case 'G': mult = HL_GIB; break;
        default: return -1;
        }
        end++;
    }
    if (*end)
        return -1;
    if (v > ~0ull / mult)
        return -1;
    *out = v * mult;
    return 0;
}

const char *hl_config_set(apr_pool_t *p, hl_config *c, hl_directive_id id,
                          const char *arg)
{
    const hl_directive_def *d = hl_config_directive(id);
    apr_uint64_t v;

    if (!d)
        return "unknown Hyperlane directive";
    if (parse_number(arg, d->is_bytes, &v) != 0 || v < d->min || v > d->max)
        return apr_psprintf(p, "%s: invalid value '%s'; expected %s",
                            d->name, arg ? arg : "", d->help);
    c->value[id] = v;
    return NULL;
}
