/* hl_config: see hl_config.h. */
#include "hl_config.h"

#include <apr_strings.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define KIB 1024ull
#define MIB (1024ull * KIB)
#define GIB (1024ull * MIB)

static const hl_directive_def defs[HL_D_COUNT] = {
    { HL_D_HISTORY_SIZE, "HyperlaneHistorySize", 1, 10000000, 1000, 0,
      "increments kept in the shared history ring (1-10000000, default 1000)" },
    { HL_D_CHUNK_SIZE, "HyperlaneChunkSize", 1, 16 * MIB, 4096, 1,
      "bytes per chunk counted by the process endpoint (1-16M, default 4096)" },
    { HL_D_MAX_BODY, "HyperlaneMaxBody", 0, 1ull << 62, 0, 1,
      "largest request body the module accepts, 0 = no limit of its own (default 0)" },
    { HL_D_POOL_BUFFERS, "HyperlanePoolBuffers", 1, 100000, 100, 0,
      "buffers kept by each process's buffer pool (1-100000, default 100)" },
    { HL_D_POOL_BUFFER_SIZE, "HyperlanePoolBufferSize", 512, 64 * MIB, 8192, 1,
      "size of each pooled buffer (512-64M, default 8K)" },
    { HL_D_CACHE_SIZE, "HyperlaneCacheSize", 64 * KIB, 4 * GIB, 16 * MIB, 1,
      "shared memory for the key/value cache (64K-4G, default 16M)" },
    { HL_D_CACHE_MAX_KEY, "HyperlaneCacheMaxKey", 1, 4096, 250, 1,
      "longest cache key in bytes (1-4096, default 250)" },
    /* A JSON answer can be six times its value (escapes): 1M bounds what
     * one GET costs a child. */
    { HL_D_CACHE_MAX_VALUE, "HyperlaneCacheMaxValue", 0, 1 * MIB, 64 * KIB, 1,
      "largest cache value in bytes (0-1M, default 64K)" },
    { HL_D_CACHE_TTL, "HyperlaneCacheTTL", 1, 315360000, 3600, 0,
      "seconds a cache entry lives after it was set (default 3600)" },
    { HL_D_CACHE_MAX_CONCURRENT, "HyperlaneCacheMaxConcurrent", 1, 100000, 50, 0,
      "cache operations in flight across all processes (default 50)" },
    { HL_D_MEMORY_MAX_AGE, "HyperlaneMemoryMaxAge", 0, 60000, 1000, 0,
      "milliseconds a thread may answer with its last memory reading, "
      "0 = read for every answer (0-60000, default 1000)" },
    { HL_D_BENCHMARK_MAX_CONCURRENT, "HyperlaneBenchmarkMaxConcurrent", 1, 1000, 2, 0,
      "memory/benchmark runs at once across all processes (1-1000, default 2)" },
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
        case 'k': case 'K': mult = KIB; break;
        case 'm': case 'M': mult = MIB; break;
        case 'g': case 'G': mult = GIB; break;
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
