/* hl_config: the module's server-wide settings, their defaults and their
 * validation.  One table describes every numeric directive (name, bounds,
 * default, unit), so the Apache glue, the README and the unit tests all
 * read the same limits. */
#ifndef HL_CONFIG_H
#define HL_CONFIG_H

#include <apr.h>
#include <apr_pools.h>

typedef enum {
    HL_D_HISTORY_SIZE = 0,
    HL_D_CHUNK_SIZE,
    HL_D_MAX_BODY,
    HL_D_POOL_BUFFERS,
    HL_D_POOL_BUFFER_SIZE,
    HL_D_CACHE_SIZE,
    HL_D_CACHE_MAX_KEY,
    HL_D_CACHE_MAX_VALUE,
    HL_D_CACHE_TTL,
    HL_D_CACHE_MAX_CONCURRENT,
    HL_D_MEMORY_MAX_AGE,
    HL_D_BENCHMARK_MAX_CONCURRENT,
    HL_D_COUNT
} hl_directive_id;

typedef struct hl_config {
    apr_uint64_t value[HL_D_COUNT];   /* the defaults until a directive sets one */
} hl_config;

typedef struct hl_directive_def {
    hl_directive_id id;
    const char *name;
    apr_uint64_t min, max, dflt;
    int is_bytes;                 /* accepts K, M, G suffixes */
    const char *help;
} hl_directive_def;

const hl_directive_def *hl_config_directive(hl_directive_id id);
void hl_config_defaults(hl_config *c);

/* Parses and validates arg for directive d into c.  NULL on success, else
 * a message naming the directive, in p. */
const char *hl_config_set(apr_pool_t *p, hl_config *c, hl_directive_id id,
                          const char *arg);

/* The value in force. */
apr_uint64_t hl_config_get(const hl_config *c, hl_directive_id id);

#endif
