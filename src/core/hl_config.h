/* hl_config: the module's server-wide settings, their defaults and their
 * validation, from the one list of directives, hl_directives.def (name,
 * bounds, default, unit, help), which the Apache glue, the README and the
 * unit tests all read. */
#ifndef HL_CONFIG_H
#define HL_CONFIG_H

#include <apr.h>
#include <apr_pools.h>

#define HL_KIB 1024ull
#define HL_MIB (1024ull * HL_KIB)
#define HL_GIB (1024ull * HL_MIB)

/* The numeric directives of hl_directives.def, by number. */
typedef enum {
#define HL_NUMERIC(ID, name, min, max, dflt, is_bytes, help) HL_D_##ID,
#include "hl_directives.def"
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
