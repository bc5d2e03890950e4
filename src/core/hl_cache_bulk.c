/* hl_cache_bulk: the bulk bodies (hl_cache_bulk.h).  json-c builds the
 * tree (bounded in depth while it parses, validating UTF-8), hl_json_lex
 * refuses what json-c's strict mode still lets through, then every
 * member is checked and copied into the pool, and the tree is freed
 * whatever happened. */
#include "hl_cache_bulk.h"
#include "hl_cache_query.h"
#include "hl_json_lex.h"
#include "hl_router.h"
#include "hl_utf8.h"

#include <apr_strings.h>
#include <json-c/json.h>
#include <string.h>

/* A string member within [min, max] bytes, copied into the pool. */
static apr_status_t string_of(apr_pool_t *p, json_object *o, const char *what,
                              apr_size_t min, apr_size_t max,
                              const char **out, apr_size_t *len,
                              const char **error)
{
    if (!json_object_is_type(o, json_type_string)) {
        *error = apr_psprintf(p, "%s must be a string", what);
        return APR_EINVAL;
    }
    *len = (apr_size_t)json_object_get_string_len(o);
    /* json-c lets some invalid UTF-8 through (overlong forms): the
     * module's own check decides. */
    if (!hl_utf8_valid(json_object_get_string(o), *len)) {
        *error = apr_psprintf(p, "%s is not valid UTF-8", what);
        return APR_EINVAL;
    }
    if (*len < min || *len > max) {
        *error = apr_psprintf(p, "%s must be %" APR_SIZE_T_FMT " to %"
                              APR_SIZE_T_FMT " bytes", what, min, max);
        return APR_EINVAL;
    }
    *out = apr_pstrmemdup(p, json_object_get_string(o), *len);
    return APR_SUCCESS;
}

/* A key a single-key request can name too, with its slashes as they
 * are: no NUL (Apache refuses %00), and below the mount a path in the
 * normal form the router requires.  An entry a set stored under another
 * key could be read in bulk only, never deleted, touched or added to. */
static int key_routable(apr_pool_t *p, const char *key, apr_size_t klen)
{
    return !memchr(key, '\0', klen)
           && hl_path_in_normal_form(apr_pstrcat(p, "/", key, NULL));
}

static apr_status_t ttl_of(apr_pool_t *p, json_object *o, const char *what,
                           apr_int64_t max, apr_int64_t *out,
                           const char **error)
{
    if (!json_object_is_type(o, json_type_int)
        /* json-c saturates what does not fit int64: out of bounds too */
        || (*out = json_object_get_int64(o)) < 0 || *out > max) {
        *error = apr_psprintf(p, "%s must be an integer from 0 to %"
                              APR_INT64_T_FMT, what, max);
        return APR_EINVAL;
    }
    return APR_SUCCESS;
}

/* if_match / if_none_match: an entity-tag list or a version. */
static apr_status_t cond_of(apr_pool_t *p, json_object *o, const char *what,
                            int weak, hl_cond_kind *kind, apr_uint64_t *list,
                            int *n, const char **error)
{
    if (json_object_is_type(o, json_type_int)) {
        /* Versions are unsigned 64-bit: get_int64 would clamp the top
         * half to 2^63-1; get_uint64 gives 0 for a negative number. */
        apr_uint64_t v = json_object_get_uint64(o);
        if (v < 1) {
            *error = apr_psprintf(p, "%s: a version is a positive integer",
                                  what);
            return APR_EINVAL;
        }
        *kind = HL_COND_LIST;
        list[0] = v;
        *n = 1;
        return APR_SUCCESS;
    }
    if (!json_object_is_type(o, json_type_string)
        || strlen(json_object_get_string(o))
           != (size_t)json_object_get_string_len(o)) {
        *error = apr_psprintf(p, "%s must be an entity-tag list or a version",
                              what);
        return APR_EINVAL;
    }
    if (hl_etag_list_parse(json_object_get_string(o), weak, kind, list, n,
                           error) != APR_SUCCESS) {
        *error = apr_psprintf(p, "%s: %s", what, *error);
        return APR_EINVAL;
    }
    return APR_SUCCESS;
}

static apr_status_t item_of(apr_pool_t *p, json_object *o, int i,
                            const hl_bulk_bounds *b, hl_bulk_item *it,
                            const char **error)
{
    const char *where = apr_psprintf(p, "items[%d]", i);
    apr_status_t rv = APR_SUCCESS;
    int has_key = 0, has_value = 0;

    if (!json_object_is_type(o, json_type_object)) {
        *error = apr_psprintf(p, "%s must be an object", where);
        return APR_EINVAL;
    }
    json_object_object_foreach(o, name, v) {
        const char *what = apr_pstrcat(p, where, ".", name, NULL);
        if (rv != APR_SUCCESS)
            break;
        if (strcmp(name, "key") == 0) {
            rv = string_of(p, v, what, 1, b->max_key, &it->key, &it->klen,
                           error);
            if (rv == APR_SUCCESS && !key_routable(p, it->key, it->klen)) {
                *error = apr_psprintf(p, "%s: a key with a NUL, or an empty, "
                                      "\".\" or \"..\" segment, which "
                                      "cache/{key} cannot name", what);
                rv = APR_EINVAL;
            }
            has_key = 1;
        }
        else if (strcmp(name, "value") == 0) {
            rv = string_of(p, v, what, 0, b->max_value, &it->value, &it->vlen,
                           error);
            has_value = 1;
        }
        else if (strcmp(name, "ttl") == 0) {
            rv = ttl_of(p, v, what, b->max_ttl, &it->ttl, error);
            it->has_ttl = 1;
        }
        else if (strcmp(name, "if_match") == 0) {
            rv = cond_of(p, v, what, 0, &it->cond.if_match, it->cond.match,
                         &it->cond.n_match, error);
            it->has_cond = 1;
        }
        else if (strcmp(name, "if_none_match") == 0) {
            rv = cond_of(p, v, what, 1, &it->cond.if_none_match,
                         it->cond.none_match, &it->cond.n_none_match, error);
            it->has_cond = 1;
        }
        else {
            *error = apr_psprintf(p, "%s: unknown member", what);
            rv = APR_EINVAL;
        }
    }
    if (rv == APR_SUCCESS && (!has_key || !has_value)) {
        *error = apr_psprintf(p, "%s needs a key and a value", where);
        rv = APR_EINVAL;
    }
    return rv;
}

static apr_status_t list_of(apr_pool_t *p, json_object *arr, const char *what,
                            int max, const char **error)
{
    int n;
    if (!json_object_is_type(arr, json_type_array)) {
        *error = apr_psprintf(p, "%s must be an array", what);
        return APR_EINVAL;
    }
    n = (int)json_object_array_length(arr);
    if (n < 1 || n > max) {
        *error = apr_psprintf(p, "%s must hold 1 to %d elements", what, max);
        return APR_EINVAL;
    }
    return APR_SUCCESS;
}

static apr_status_t body_of(apr_pool_t *p, json_object *root, int is_set,
                            const hl_bulk_bounds *b, hl_bulk_request *out,
                            const char **error)
{
    json_object *list = NULL;
    apr_int64_t ttl = 0;
    int has_ttl = 0, i;
    apr_status_t rv = APR_SUCCESS;

    if (!json_object_is_type(root, json_type_object)) {
        *error = "The body must be a JSON object";
        return APR_EINVAL;
    }
    json_object_object_foreach(root, name, v) {
        if (rv != APR_SUCCESS)
            break;
        if (strcmp(name, is_set ? "items" : "keys") == 0)
            list = v;
        else if (is_set && strcmp(name, "ttl") == 0) {
            rv = ttl_of(p, v, "ttl", b->max_ttl, &ttl, error);
            has_ttl = 1;
        }
        else {
            *error = apr_psprintf(p, "%s: unknown member", name);
            rv = APR_EINVAL;
        }
    }
    if (rv != APR_SUCCESS)
        return rv;
    if (!list) {
        *error = is_set ? "The body needs \"items\"" : "The body needs \"keys\"";
        return APR_EINVAL;
    }
    if ((rv = list_of(p, list, is_set ? "items" : "keys", b->max_items,
                      error)) != APR_SUCCESS)
        return rv;
    out->n = (int)json_object_array_length(list);
    out->items = apr_pcalloc(p, (apr_size_t)out->n * sizeof(*out->items));
    for (i = 0; i < out->n && rv == APR_SUCCESS; i++) {
        json_object *o = json_object_array_get_idx(list, (size_t)i);
        hl_bulk_item *it = &out->items[i];
        if (is_set) {
            rv = item_of(p, o, i, b, it, error);
            if (rv == APR_SUCCESS && !it->has_ttl && has_ttl) {
                it->ttl = ttl;
                it->has_ttl = 1;
            }
        }
        else
            rv = string_of(p, o, apr_psprintf(p, "keys[%d]", i), 1,
                           b->max_key, &it->key, &it->klen, error);
    }
    return rv;
}

/* The members json-c kept in a body of the right shape: the outer
 * object's and, for a set, its items'. */
static apr_size_t members_kept(json_object *root, int is_set)
{
    apr_size_t n = (apr_size_t)json_object_object_length(root), i, len;
    json_object *items;
    if (is_set && json_object_object_get_ex(root, "items", &items)) {
        len = json_object_array_length(items);
        for (i = 0; i < len; i++)
            n += (apr_size_t)json_object_object_length(
                json_object_array_get_idx(items, i));
    }
    return n;
}

apr_status_t hl_bulk_parse(apr_pool_t *p, const char *body, apr_size_t len,
                           int is_set, const hl_bulk_bounds *b,
                           hl_bulk_request *out, const char **error)
{
    json_tokener *tok;
    json_object *root;
    apr_status_t rv;
    const char *why;
    apr_size_t members;
    size_t end;

    memset(out, 0, sizeof(*out));
    if (len > (apr_size_t)APR_INT32_MAX) {
        *error = "The body is too large";
        return APR_EINVAL;
    }
    /* Before json-c builds a tree: an item takes at most six of these
     * (its object, the commas between its five members and the one after
     * it); a body with more names more items than allowed, or values that
     * are no items, which json-c would make an object of each. */
    if (hl_json_lex_values(body, len, &members)
        > HL_BULK_VALUES_PER_ITEM * (apr_size_t)b->max_items + HL_BULK_VALUES_SPARE) {
        *error = apr_psprintf(p, "Too many values for %d %s at most",
                              b->max_items, is_set ? "items" : "keys");
        return APR_EINVAL;
    }
    if (!(tok = json_tokener_new_ex(HL_BULK_MAX_DEPTH))) {
        *error = "Out of memory";
        return APR_ENOMEM;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    root = json_tokener_parse_ex(tok, body, (int)len);
    end = json_tokener_get_parse_end(tok);
    if (!root || json_tokener_get_error(tok) != json_tokener_success) {
        enum json_tokener_error e = json_tokener_get_error(tok);
        *error = apr_psprintf(p, "Invalid JSON: %s",
                              e == json_tokener_continue
                                  ? "the body ends too soon"
                                  : json_tokener_error_desc(e));
        rv = APR_EINVAL;
    }
    else {
        while (end < len && (body[end] == ' ' || body[end] == '\t'
                             || body[end] == '\r' || body[end] == '\n'))
            end++;
        if (end != len) {
            *error = "Invalid JSON: text after the value";
            rv = APR_EINVAL;
        }
        else if ((rv = hl_json_lex_check(body, len, &why)) != APR_SUCCESS)
            *error = apr_psprintf(p, "Invalid JSON: %s", why);
        else if ((rv = body_of(p, root, is_set, b, out, error)) == APR_SUCCESS
                 && members_kept(root, is_set) != members) {
            /* RFC 8259 4: what a reader does with two members of one name
             * is up to it; a filter in front that reads the first would
             * see another request than the module. */
            *error = "Invalid JSON: an object names a member twice";
            rv = APR_EINVAL;
        }
    }
    json_object_put(root);
    json_tokener_free(tok);
    if (rv != APR_SUCCESS)
        memset(out, 0, sizeof(*out));
    return rv;
}
