/* mod_hyperlane: shared state for Apache httpd, after the "Hyperlane"
 * memory-safety demo service.  This file is the table of contents: the
 * module record, its directives and its hooks.  The rest lives in src/:
 *
 *   src/apache/   the Apache side: settings, lifecycle (hooks that make
 *                 and keep the shared resources), mounts, dispatch
 *                 (map_to_storage, handler, quick handler), cross-site
 *                 refusals, request bodies, admission under the limits,
 *                 JSON replies, and the endpoints by family
 *   src/core/     the core, plain C on APR, which never sees a request:
 *                 router, directives, JSON, limits, body kernels, ...
 *   src/store/    the store: hl_store.h, the one interface to shared
 *                 state, its table of backends and the backends (shm)
 */
#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_mpm.h"
#include "mod_status.h"

#define HL_DECLARES_MODULE      /* AP_DECLARE_MODULE below */
#include "hl_apache.h"

/* Every directive, from its one definition in src/core/hl_directives.def. */
static const command_rec hl_directives[] = {
#define HL_NUMERIC(ID, name, min, max, dflt, is_bytes, help) \
    AP_INIT_TAKE1(name, hl_set_numeric, (void *)(apr_uintptr_t)HL_D_##ID, \
                  RSRC_CONF, help),
#define HL_SERVER_WORD(field, setter, name, dflt, help) \
    AP_INIT_TAKE1(name, setter, NULL, RSRC_CONF, help),
#define HL_HOST_FLAG(field, name, dflt, help) \
    AP_INIT_FLAG(name, hl_set_flag, (void *)APR_OFFSETOF(hl_server_conf, field), \
                 RSRC_CONF, help),
#define HL_HOST_LIST(setter, name, dflt, help) \
    AP_INIT_ITERATE(name, setter, NULL, RSRC_CONF, help),
#include "hl_directives.def"
    { NULL }
};

static void hl_register_hooks(apr_pool_t *p)
{
    ap_hook_quick_handler(hl_quick_handler, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_map_to_storage(hl_map_to_storage, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_pre_config(hl_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(hl_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(hl_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(hl_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_status(hl_child_status, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(hl_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_log_transaction(hl_log_transaction, NULL, NULL, APR_HOOK_MIDDLE);
    /* mod_status's section, if mod_status is loaded (else never called). */
    APR_OPTIONAL_HOOK(ap, status_hook, hl_status_hook, NULL, NULL,
                      APR_HOOK_MIDDLE);
    ap_hook_insert_error_filter(hl_insert_error_filter, NULL, NULL, APR_HOOK_MIDDLE);
    ap_register_output_filter("HYPERLANE_JSON_ERROR", hl_json_error_filter, NULL,
                              AP_FTYPE_CONTENT_SET);
}

AP_DECLARE_MODULE(hyperlane) = {
    STANDARD20_MODULE_STUFF,
    NULL,                   /* per-directory config: none, all is server-wide */
    NULL,
    hl_create_server_config,
    hl_merge_server_config,
    hl_directives,
    hl_register_hooks
#ifdef AP_MODULE_FLAG_NONE
    , AP_MODULE_FLAG_NONE
#endif
};
