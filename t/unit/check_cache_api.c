/* The cache API's parsing in the core: the query string, entity-tag
 * lists and the bulk bodies; and the shapes of its answers. */
#include "check_hl.h"
#include "hl_cache_bulk.h"
#include "hl_cache_query.h"
#include "hl_json_lex.h"
#include "hl_json_reply.h"

#include <apr_strings.h>
#include <string.h>

static const hl_cache_query_bounds bounds = { 1000, 500, 16 };

static apr_status_t query(const char *args, hl_cache_query *q,
                          const char **error)
{
    *error = NULL;
    return hl_cache_query_parse(test_pool, args, &bounds, q, error);
}

START_TEST(test_query_values)
{
    hl_cache_query q;
    const char *error;

    ck_assert_int_eq(query(NULL, &q, &error), APR_SUCCESS);
    ck_assert(!q.raw && !q.has_ttl && !q.listing);
    ck_assert_int_eq(query("", &q, &error), APR_SUCCESS);
    ck_assert_int_eq(query("raw=1&ttl=0&by=-7&init=9223372036854775807&x=y&flag",
                           &q, &error), APR_SUCCESS);
    ck_assert_int_eq(q.raw, 1);
    ck_assert(q.has_ttl && q.ttl == 0);
    ck_assert(q.has_by && q.by == -7);
    ck_assert(q.has_init && q.init == APR_INT64_MAX);
    ck_assert(!q.listing);
    ck_assert_int_eq(query("prefix=a%00b&limit=500&cursor=c1.x", &q, &error),
                     APR_SUCCESS);
    ck_assert(q.listing);
    ck_assert_uint_eq(q.plen, 3);
    ck_assert_mem_eq(q.prefix, "a\0b", 3);
    ck_assert_int_eq(q.limit, 500);
    ck_assert_str_eq(q.cursor, "c1.x");
    ck_assert_int_eq(query("prefix=", &q, &error), APR_SUCCESS);
    ck_assert(q.listing);
    ck_assert_uint_eq(q.plen, 0);
    ck_assert_int_eq(query("ttl=1000", &q, &error), APR_SUCCESS);
    ck_assert_int_eq(query("init=-9223372036854775808", &q, &error), APR_SUCCESS);
    ck_assert_int_eq(q.init, APR_INT64_MIN);
}
END_TEST

START_TEST(test_query_refusals)
{
    static const char *const bad[] = {
        "ttl=", "ttl=-1", "ttl=1001", "ttl=1x", "ttl=+5", "ttl= 5",
        "ttl=99999999999999999999", "ttl=1&ttl=2",
        "limit=0", "limit=501", "limit=", "limit=-1",
        "by=1.5", "by=9223372036854775808", "init=--1", "by=",
        "raw=2", "raw=", "raw=1&raw=1",
        "prefix=%zz", "prefix=12345678901234567", "prefix=a&prefix=b",
        "cursor=%4", "cursor=a&cursor=b",
    };
    hl_cache_query q;
    const char *error;
    size_t i;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(query(bad[i], &q, &error) == APR_EINVAL, "%s passed", bad[i]);
        ck_assert_ptr_nonnull(error);
    }
    ck_assert_int_eq(query("raw=2", &q, &error), APR_EINVAL);
    ck_assert_str_eq(error, "raw must be 0 or 1");
    ck_assert_int_eq(query("ttl=1001", &q, &error), APR_EINVAL);
    ck_assert_ptr_nonnull(strstr(error, "ttl"));
}
END_TEST

static apr_status_t etags(const char *v, int weak, hl_cond_kind *kind,
                          apr_uint64_t *list, int *n)
{
    const char *error = NULL;
    apr_status_t rv = hl_etag_list_parse(v, weak, kind, list, n, &error);
    if (rv != APR_SUCCESS)
        ck_assert_ptr_nonnull(error);
    return rv;
}

/* The entity-tag of a version, written by hand: every digit count. */
START_TEST(test_etag_text)
{
    char tag[HL_ETAG_SIZE], want[64];
    apr_uint64_t v = 0;
    int digits;
    ck_assert_str_eq(hl_etag_text(tag, 0), "\"0\"");
    ck_assert_str_eq(hl_etag_text(tag, 18446744073709551615ull),
                     "\"18446744073709551615\"");
    for (digits = 1, v = 7; digits <= 19; digits++, v = v * 10 + 9) {
        apr_snprintf(want, sizeof(want), "\"%" APR_UINT64_T_FMT "\"", v);
        ck_assert_str_eq(hl_etag_text(tag, v), want);
        ck_assert_str_eq(hl_etag_of(test_pool, v), want);
    }
}
END_TEST

START_TEST(test_etag_lists)
{
    apr_uint64_t list[HL_COND_TAGS_MAX];
    hl_cond_kind kind;
    char many[1024];
    int n, i;

    ck_assert_int_eq(etags("*", 0, &kind, list, &n), APR_SUCCESS);
    ck_assert_int_eq(kind, HL_COND_ANY);
    ck_assert_int_eq(etags(" * ", 1, &kind, list, &n), APR_SUCCESS);
    ck_assert_int_eq(kind, HL_COND_ANY);
    ck_assert_int_eq(etags("\"17\"", 0, &kind, list, &n), APR_SUCCESS);
    ck_assert_int_eq(kind, HL_COND_LIST);
    ck_assert_int_eq(n, 1);
    ck_assert_uint_eq(list[0], 17);
    /* Lists with spaces and empty elements; foreign tags match nothing. */
    ck_assert_int_eq(etags(" \"1\" ,, \"xyzzy\",\"2\", W/\"3\" ,\"007\",\"\"",
                           0, &kind, list, &n), APR_SUCCESS);
    ck_assert_int_eq(n, 2);            /* strong comparison: W/"3" is out */
    ck_assert_uint_eq(list[0], 1);
    ck_assert_uint_eq(list[1], 2);
    ck_assert_int_eq(etags("W/\"3\", \"4\"", 1, &kind, list, &n), APR_SUCCESS);
    ck_assert_int_eq(n, 2);            /* weak comparison: it counts */
    ck_assert_uint_eq(list[0], 3);
    /* As mod_deflate and mod_brotli hand them out; nothing else. */
    ck_assert_int_eq(etags("\"5-gzip\", W/\"6-br\", \"7-zip\", \"-gzip\", \"8-gzip-gzip\"",
                           1, &kind, list, &n), APR_SUCCESS);
    ck_assert_int_eq(n, 2);
    ck_assert_uint_eq(list[0], 5);
    ck_assert_uint_eq(list[1], 6);
    ck_assert_int_eq(etags("\"zzz\"", 0, &kind, list, &n), APR_SUCCESS);
    ck_assert_int_eq(kind, HL_COND_LIST);
    ck_assert_int_eq(n, 0);
    /* Refused: no quotes, unclosed, garbage between, "*" in a list, too
     * many versions. */
    ck_assert_int_eq(etags("17", 0, &kind, list, &n), APR_EINVAL);
    ck_assert_int_eq(etags("\"17", 0, &kind, list, &n), APR_EINVAL);
    ck_assert_int_eq(etags("\"1\" \"2\"", 0, &kind, list, &n), APR_EINVAL);
    ck_assert_int_eq(etags("\"1\", *", 0, &kind, list, &n), APR_EINVAL);
    ck_assert_int_eq(etags("w/\"1\"", 0, &kind, list, &n), APR_EINVAL);
    many[0] = '\0';
    for (i = 0; i <= HL_COND_TAGS_MAX; i++)
        apr_cpystrn(many + strlen(many), apr_psprintf(test_pool, "\"%d\",", i + 1),
                    sizeof(many) - strlen(many));
    ck_assert_int_eq(etags(many, 0, &kind, list, &n), APR_EINVAL);
    ck_assert_str_eq(hl_etag_of(test_pool, 42), "\"42\"");
    /* A string tag in an If-None-Match list, as it is or as a compressing
     * filter suffixed it, weak or strong; not "*", not a broken list. */
    ck_assert_str_eq(hl_etag_list_names(test_pool, "\"ab12\"", "\"ab12\""), "\"ab12\"");
    ck_assert_str_eq(hl_etag_list_names(test_pool, "\"x\", W/\"ab12-gzip\"", "\"ab12\""),
                     "\"ab12-gzip\"");
    ck_assert_str_eq(hl_etag_list_names(test_pool, "\"ab12-br\"", "\"ab12\""), "\"ab12-br\"");
    ck_assert(!hl_etag_list_names(test_pool, "\"ab12-zip\"", "\"ab12\""));
    ck_assert(!hl_etag_list_names(test_pool, "\"ab1-gzip\"", "\"ab12\""));
    ck_assert(!hl_etag_list_names(test_pool, "\"ab123\"", "\"ab12\""));
    ck_assert(!hl_etag_list_names(test_pool, "*", "\"ab12\""));
    ck_assert(!hl_etag_list_names(test_pool, "\"ab12\" junk", "\"ab12\""));
    ck_assert(!hl_etag_list_names(test_pool, "\"ab12\"", "ab12"));
}
END_TEST

START_TEST(test_conditions_judged)
{
    hl_cache_cond c;
    memset(&c, 0, sizeof(c));
    ck_assert(hl_cache_cond_holds(NULL, 0, 0));
    ck_assert(hl_cache_cond_holds(&c, 1, 5));
    c.if_match = HL_COND_ANY;
    ck_assert(hl_cache_cond_holds(&c, 1, 5));
    ck_assert(!hl_cache_cond_holds(&c, 0, 0));
    c.if_match = HL_COND_LIST;
    c.match[0] = 5;
    c.n_match = 1;
    ck_assert(hl_cache_cond_holds(&c, 1, 5));
    ck_assert(!hl_cache_cond_holds(&c, 1, 6));
    ck_assert(!hl_cache_cond_holds(&c, 0, 0));
    memset(&c, 0, sizeof(c));
    c.if_none_match = HL_COND_ANY;
    ck_assert(hl_cache_cond_holds(&c, 0, 0));
    ck_assert(!hl_cache_cond_holds(&c, 1, 5));
    c.if_none_match = HL_COND_LIST;
    c.none_match[0] = 5;
    c.n_none_match = 1;
    ck_assert(!hl_cache_cond_holds(&c, 1, 5));
    ck_assert(hl_cache_cond_holds(&c, 1, 6));
    ck_assert(hl_cache_cond_holds(&c, 0, 0));
}
END_TEST

static const hl_bulk_bounds bulk_bounds = { 8, 16, 1000, 3 };

static apr_status_t bulk(const char *body, int is_set, hl_bulk_request *req,
                         const char **error)
{
    *error = NULL;
    return hl_bulk_parse(test_pool, body, strlen(body), is_set, &bulk_bounds,
                         req, error);
}

START_TEST(test_bulk_bodies)
{
    hl_bulk_request req;
    const char *error;

    ck_assert_int_eq(bulk("{\"keys\": [\"a\", \"b\\u0000c\"]}", 0, &req, &error),
                     APR_SUCCESS);
    ck_assert_int_eq(req.n, 2);
    ck_assert_uint_eq(req.items[1].klen, 3);
    ck_assert_mem_eq(req.items[1].key, "b\0c", 3);
    ck_assert_ptr_null(req.items[0].value);
    ck_assert_int_eq(bulk("{\"ttl\": 60, \"items\": ["
                          "{\"key\": \"a\", \"value\": \"1\"},"
                          "{\"key\": \"b\", \"value\": \"\", \"ttl\": 0,"
                          " \"if_match\": \"\\\"12\\\", \\\"13\\\"\"},"
                          "{\"key\": \"c\", \"value\": \"x\", \"if_none_match\": \"*\","
                          " \"if_match\": 7}]} \n", 1, &req, &error), APR_SUCCESS);
    ck_assert_int_eq(req.n, 3);
    ck_assert(req.items[0].has_ttl && req.items[0].ttl == 60 && !req.items[0].has_cond);
    ck_assert(req.items[1].has_ttl && req.items[1].ttl == 0);
    ck_assert_uint_eq(req.items[1].vlen, 0);
    ck_assert_int_eq(req.items[1].cond.if_match, HL_COND_LIST);
    ck_assert_int_eq(req.items[1].cond.n_match, 2);
    ck_assert_uint_eq(req.items[1].cond.match[1], 13);
    ck_assert_int_eq(req.items[2].cond.if_none_match, HL_COND_ANY);
    ck_assert_int_eq(req.items[2].cond.if_match, HL_COND_LIST);
    ck_assert_uint_eq(req.items[2].cond.match[0], 7);
    ck_assert_int_eq(bulk("{\"items\": [{\"key\": \"a\", \"value\": \"1\"}]}", 1,
                          &req, &error), APR_SUCCESS);
    ck_assert(!req.items[0].has_ttl);
    /* Keys with slashes, dots and a trailing slash a path can name. */
    ck_assert_int_eq(bulk("{\"items\": [{\"key\": \"a/..b/\", \"value\": \"1\"},"
                          " {\"key\": \"...\", \"value\": \"1\"}]}", 1,
                          &req, &error), APR_SUCCESS);
    /* Escapes JSON has: a surrogate pair, a tab, a quote. */
    ck_assert_int_eq(bulk("{\"keys\": [\"\\ud83d\\ude00\", \"a\\tb\\\"\"]}", 0,
                          &req, &error), APR_SUCCESS);
    ck_assert_mem_eq(req.items[0].key, "\xf0\x9f\x98\x80", 4);
    ck_assert_mem_eq(req.items[1].key, "a\tb\"", 4);
    /* A version is unsigned 64-bit: the top half is not clamped. */
    ck_assert_int_eq(bulk("{\"items\": [{\"key\": \"a\", \"value\": \"1\","
                          " \"if_match\": 9223372036854775808},"
                          " {\"key\": \"b\", \"value\": \"1\","
                          " \"if_none_match\": 18446744073709551615}]}", 1,
                          &req, &error), APR_SUCCESS);
    ck_assert_uint_eq(req.items[0].cond.match[0], APR_UINT64_C(9223372036854775808));
    ck_assert_int_eq(req.items[1].cond.if_none_match, HL_COND_LIST);
    ck_assert_uint_eq(req.items[1].cond.none_match[0], APR_UINT64_MAX);
}
END_TEST

/* The values are counted before json-c builds an object of each: a body
 * of many small values is refused by their number, whatever its shape,
 * and the fullest body the bounds allow still parses. */
START_TEST(test_bulk_values_counted_first)
{
    hl_bulk_request req;
    const char *error;
    char *many = apr_pstrdup(test_pool, "{\"keys\":[");
    int i;

    apr_size_t members;

    ck_assert_uint_eq(hl_json_lex_values("{\"a,[{\":\"x\\\",{\"}", 16, &members), 1);
    ck_assert_uint_eq(members, 1);
    ck_assert_uint_eq(hl_json_lex_values("[[],{},1,2]", 11, &members), 6);
    ck_assert_uint_eq(members, 0);
    for (i = 0; i < 1000; i++)
        many = apr_pstrcat(test_pool, many, i ? ",{}" : "{}", NULL);
    many = apr_pstrcat(test_pool, many, "]}", NULL);
    ck_assert_int_eq(bulk(many, 0, &req, &error), APR_EINVAL);
    ck_assert_msg(strstr(error, "Too many values"), "error: %s", error);
    ck_assert_int_eq(bulk("{\"ttl\": 5, \"items\": ["
                          "{\"key\": \"a\", \"value\": \"1\", \"ttl\": 1,"
                          " \"if_match\": 2, \"if_none_match\": 3},"
                          "{\"key\": \"b\", \"value\": \"1\", \"ttl\": 1,"
                          " \"if_match\": 2, \"if_none_match\": 3},"
                          "{\"key\": \"c\", \"value\": \"1\", \"ttl\": 1,"
                          " \"if_match\": 2, \"if_none_match\": 3}]}",
                          1, &req, &error), APR_SUCCESS);
    ck_assert_int_eq(req.n, 3);
}
END_TEST

START_TEST(test_bulk_refusals)
{
    static const struct { const char *body; int is_set; } bad[] = {
        { "", 0 }, { "   ", 0 }, { "[]", 0 }, { "{}", 0 }, { "{\"keys\": []}", 0 },
        { "{\"keys\": [\"a\"]} x", 0 }, { "{\"keys\": [\"a\"]", 0 },
        { "{\"keys\": [\"a\",]}", 0 }, { "{'keys': ['a']}", 0 },
        { "{\"keys\": [\"a\", \"b\", \"c\", \"d\"]}", 0 },      /* 4 > 3 */
        { "{\"keys\": [\"\"]}", 0 }, { "{\"keys\": [\"123456789\"]}", 0 },
        { "{\"keys\": [1]}", 0 }, { "{\"keys\": \"a\"}", 0 },
        { "{\"keys\": [\"a\"], \"extra\": 1}", 0 },
        { "{\"keys\": [\"a\"], \"ttl\": 5}", 0 },               /* not for a get */
        { "{\"keys\": [[[[\"a\"]]]]}", 0 },                     /* too deep */
        { "{\"keys\": [\"\xff\"]}", 0 },                        /* not UTF-8 */
        { "{\"keys\": [\"\xc0\x99\"]}", 0 },                   /* overlong */
        { "{\"items\": [{\"key\": \"a\", \"value\": \"\xed\xa0\x80\"}]}", 1 },
        { "{\"items\": [{\"key\": \"a\"}]}", 1 },
        /* A member named twice: json-c keeps the last. */
        { "{\"items\": [{\"key\": \"a\", \"value\": \"1\", \"key\": \"b\"}]}", 1 },
        { "{\"keys\": [\"a\"], \"keys\": [\"b\"]}", 0 },
        /* Keys cache/{key} cannot name: set in bulk, never deleted. */
        { "{\"items\": [{\"key\": \".\", \"value\": \"1\"}]}", 1 },
        { "{\"items\": [{\"key\": \"..\", \"value\": \"1\"}]}", 1 },
        { "{\"items\": [{\"key\": \"a/../b\", \"value\": \"1\"}]}", 1 },
        { "{\"items\": [{\"key\": \"a/.\", \"value\": \"1\"}]}", 1 },
        { "{\"items\": [{\"key\": \"x//y\", \"value\": \"1\"}]}", 1 },
        { "{\"items\": [{\"key\": \"/x\", \"value\": \"1\"}]}", 1 },
        { "{\"items\": [{\"key\": \"n\\u0000k\", \"value\": \"1\"}]}", 1 },
        { "{\"items\": [{\"value\": \"a\"}]}", 1 },
        { "{\"items\": [{\"key\": \"a\", \"value\": 1}]}", 1 },
        { "{\"items\": [{\"key\": \"a\", \"value\": \"12345678901234567\"}]}", 1 },
        { "{\"items\": [{\"key\": \"a\", \"value\": \"1\", \"ttl\": -1}]}", 1 },
        { "{\"items\": [{\"key\": \"a\", \"value\": \"1\", \"ttl\": 1001}]}", 1 },
        { "{\"items\": [{\"key\": \"a\", \"value\": \"1\", \"ttl\": 1.5}]}", 1 },
        { "{\"items\": [{\"key\": \"a\", \"value\": \"1\", \"ttl\": 99999999999999999999}]}", 1 },
        { "{\"items\": [{\"key\": \"a\", \"value\": \"1\", \"if_match\": \"12\"}]}", 1 },
        { "{\"items\": [{\"key\": \"a\", \"value\": \"1\", \"if_match\": 0}]}", 1 },
        { "{\"items\": [{\"key\": \"a\", \"value\": \"1\", \"if_match\": true}]}", 1 },
        { "{\"items\": [{\"key\": \"a\", \"value\": \"1\", \"color\": \"red\"}]}", 1 },
        { "{\"items\": [\"a\"]}", 1 }, { "{\"items\": {}}", 1 },
        { "{\"ttl\": \"5\", \"items\": [{\"key\": \"a\", \"value\": \"1\"}]}", 1 },
        { "{\"keys\": [\"a\"]}", 1 },
        /* json-c's strict mode reads these; hl_json_lex refuses them. */
        { "{'keys': [\"a\"]}", 0 },
        { "{\"keys\": [\"a\x01\"]}", 0 },
        { "{\"keys\": [\"a\tb\"]}", 0 },
        { "{\"keys\": [\"\\ud800\"]}", 0 },
        { "{\"keys\": [\"\\udc00x\"]}", 0 },
        { "{\"keys\": [\"\\ud800\\u0041\"]}", 0 },
        { "{\"items\": [{\"key\": \"a\", \"value\": \"1\","
          " \"if_match\": 99999999999999999999}]}", 1 },
        { "{\"items\": [{\"key\": \"a\", \"value\": \"1\", \"ttl\": -00}]}", 1 },
        { "{\"items\": [{\"key\": \"a\", \"value\": \"1\", \"if_match\": 07}]}", 1 },
        { "{\"items\": [{\"key\": \"a\", \"value\": \"1\", \"ttl\": NaN}]}", 1 },
        { "{\"items\": [{\"key\": \"a\", \"value\": \"1\", \"if_match\": -1}]}", 1 },
    };
    hl_bulk_request req;
    const char *error;
    size_t i;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(bulk(bad[i].body, bad[i].is_set, &req, &error) == APR_EINVAL,
                      "%s passed", bad[i].body);
        ck_assert_ptr_nonnull(error);
        ck_assert_int_eq(req.n, 0);
    }
}
END_TEST

START_TEST(test_answer_shapes)
{
    hl_cache_written wr;
    hl_cache_listed items[2];
    hl_cache_list_page page;
    hl_bulk_request req;
    hl_bulk_item it[3];
    hl_bulk_result res[3];
    const apr_time_t now = (apr_time_t)1700000000 * APR_USEC_PER_SEC;
    json_object *o, *a;

    memset(&wr, 0, sizeof(wr));
    wr.version = 9;
    wr.expires = now + APR_USEC_PER_SEC * 3 / 2;      /* 1.5 s: rounded up */
    wr.number = -4;
    o = JSON_OF(hl_json_cache_added(test_w, "n", 1, &wr, now));
    ck_assert_int_eq(json_object_get_int64(json_field(o, "value", json_type_int)), -4);
    ck_assert(json_object_get_boolean(json_field(o, "created", json_type_boolean)));
    ck_assert_uint_eq(json_u64(o, "version"), 9);
    ck_assert_str_eq(json_object_get_string(json_field(o, "etag", json_type_string)),
                     "\"9\"");
    ck_assert_uint_eq(json_u64(o, "ttl_seconds"), 2);
    json_object_put(o);
    wr.expires = 0;
    o = JSON_OF(hl_json_cache_stored(test_w, "k", 1, "v", 1, &wr, now));
    json_field(o, "ttl_seconds", json_type_null);
    ck_assert(!json_object_get_boolean(json_field(o, "replaced", json_type_boolean)));
    json_object_put(o);
    o = JSON_OF(hl_json_cache_refused(test_w, 412, "no", "k", 1, &wr));
    ck_assert_uint_eq(json_u64(o, "status"), 412);
    ck_assert_uint_eq(json_u64(o, "current_version"), 9);
    json_object_put(o);
    wr.version = 0;
    o = JSON_OF(hl_json_cache_refused(test_w, 412, "no", "k", 1, &wr));
    json_field(o, "current_version", json_type_null);
    json_object_put(o);

    memset(items, 0, sizeof(items));
    items[0].key = "a";
    items[0].klen = 1;
    items[0].vlen = 10;
    items[0].version = 3;
    items[1].key = "b %\xc3\xa9/\xff";
    items[1].klen = 7;
    items[1].expires = now + APR_USEC_PER_SEC * 10;
    items[1].version = 4;
    memset(&page, 0, sizeof(page));
    page.items = items;
    page.n = 2;
    page.next_cursor = "c1.abc";
    page.scanned = 7;
    o = JSON_OF(hl_json_cache_page(test_w, &page, "p", 1, 2, now));
    a = json_field(o, "keys", json_type_array);
    ck_assert_int_eq(json_object_array_length(a), 2);
    ck_assert_uint_eq(json_u64(json_object_array_get_idx(a, 0), "value_bytes"), 10);
    ck_assert_uint_eq(json_u64(json_object_array_get_idx(a, 1), "ttl_seconds"), 10);
    /* The \xff comes out as U+FFFD in "key": the exact bytes are in
     * key_escaped (the valid é too, escaped as a path takes it), and only
     * a key that needs it has one. */
    ck_assert(!json_object_object_get_ex(json_object_array_get_idx(a, 0),
                                         "key_escaped", NULL));
    ck_assert_str_eq(json_object_get_string(json_field(json_object_array_get_idx(a, 1),
                                                       "key_escaped", json_type_string)),
                     "b%20%25%C3%A9/%FF");
    ck_assert_str_eq(json_object_get_string(json_field(o, "next_cursor",
                                                       json_type_string)), "c1.abc");
    ck_assert(!json_object_get_boolean(json_field(o, "complete", json_type_boolean)));
    ck_assert_uint_eq(json_u64(o, "count"), 2);
    json_object_put(o);

    memset(it, 0, sizeof(it));
    memset(res, 0, sizeof(res));
    it[0].key = "x";
    it[0].klen = 1;
    it[1].key = "y";
    it[1].klen = 1;
    res[0].status = 200;
    res[0].value = "val";
    res[0].vlen = 3;
    res[0].version = 5;
    res[1].status = 404;
    res[1].error = "Key not found";
    req.items = it;
    req.n = 2;
    o = JSON_OF(hl_json_cache_bulk(test_w, 0, &req, res, now, 0, NULL));
    ck_assert_uint_eq(json_u64(o, "succeeded"), 1);
    ck_assert_uint_eq(json_u64(o, "failed"), 1);
    a = json_field(o, "results", json_type_array);
    ck_assert_str_eq(json_object_get_string(json_field(json_object_array_get_idx(a, 0),
                                                       "value", json_type_string)), "val");
    ck_assert(!json_object_get_boolean(json_field(json_object_array_get_idx(a, 1),
                                                  "found", json_type_boolean)));
    json_object_put(o);

    /* A set the store failed at its second item: the first stored, the
     * second's outcome unknown (null), the third not run; the failure's
     * status and text at the top, as an error has them. */
    memset(res, 0, sizeof(res));
    it[2].key = "z";
    it[2].klen = 1;
    req.n = 3;
    res[0].status = 201;
    res[0].version = 7;
    res[1].status = 503;
    res[1].error = "the store is slower than its timeout";
    res[1].unknown = 1;
    res[2].status = 503;
    res[2].error = "Not run";
    o = JSON_OF(hl_json_cache_bulk(test_w, 1, &req, res, now, 503, "stopped"));
    ck_assert_uint_eq(json_u64(o, "status"), 503);
    ck_assert_str_eq(json_object_get_string(json_field(o, "error", json_type_string)),
                     "stopped");
    ck_assert_uint_eq(json_u64(o, "succeeded"), 1);
    ck_assert_uint_eq(json_u64(o, "failed"), 2);
    a = json_field(o, "results", json_type_array);
    ck_assert(json_object_get_boolean(json_field(json_object_array_get_idx(a, 0),
                                                 "stored", json_type_boolean)));
    json_field(json_object_array_get_idx(a, 1), "stored", json_type_null);
    ck_assert(!json_object_get_boolean(json_field(json_object_array_get_idx(a, 2),
                                                  "stored", json_type_boolean)));
    json_object_put(o);
}
END_TEST

Suite *cache_api_suite(void)
{
    Suite *s = suite_create("cache api parsing");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, test_query_values);
    tcase_add_test(tc, test_query_refusals);
    tcase_add_test(tc, test_etag_text);
    tcase_add_test(tc, test_etag_lists);
    tcase_add_test(tc, test_conditions_judged);
    tcase_add_test(tc, test_bulk_bodies);
    tcase_add_test(tc, test_bulk_refusals);
    tcase_add_test(tc, test_bulk_values_counted_first);
    tcase_add_test(tc, test_answer_shapes);
    suite_add_tcase(s, tc);
    return s;
}
