/* Router: the table, methods and Allow, mount resolution, percent-decoding. */
#include "check_hl.h"
#include "hl_router.h"

#include <apr_strings.h>
#include <string.h>

static hl_route route_of(const char *rel, const char *method)
{
    hl_route r;
    ck_assert_int_eq(hl_router_match(rel, hl_router_method_bit(method), &r),
                     APR_SUCCESS);
    return r;
}

/* The five methods, and names that are none of them however close. */
START_TEST(test_method_bits)
{
    static const char *others[] = {
        "", "G", "GE", "GETS", "get", "HEA", "HEADS", "P", "PO", "POS",
        "POSTS", "PU", "PUTS", "PATCH", "PUSH", "DELET", "DELETES", "OPTIONS",
        "TRACE", "CONNECT", "xGET"
    };
    apr_size_t i;
    ck_assert_uint_eq(hl_router_method_bit("GET"), HL_M_GET);
    ck_assert_uint_eq(hl_router_method_bit("HEAD"), HL_M_HEAD);
    ck_assert_uint_eq(hl_router_method_bit("POST"), HL_M_POST);
    ck_assert_uint_eq(hl_router_method_bit("PUT"), HL_M_PUT);
    ck_assert_uint_eq(hl_router_method_bit("DELETE"), HL_M_DELETE);
    for (i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        ck_assert_msg(hl_router_method_bit(others[i]) == HL_M_OTHER,
                      "\"%s\" taken for a method", others[i]);
}
END_TEST

START_TEST(test_table_routes)
{
    static const struct { const char *rel, *method; hl_endpoint ep; } ok[] = {
        { "", "GET", HL_EP_INDEX },
        { "counter/increment", "GET", HL_EP_COUNTER_INCREMENT },
        { "counter/increment", "POST", HL_EP_COUNTER_INCREMENT },
        { "counter/stats", "GET", HL_EP_COUNTER_STATS },
        { "counter/stats", "HEAD", HL_EP_COUNTER_STATS },
        { "process", "POST", HL_EP_PROCESS },
        { "process/pooled", "POST", HL_EP_PROCESS_POOLED },
        { "memory/benchmark", "GET", HL_EP_MEMORY_BENCHMARK },
        { "cache", "GET", HL_EP_CACHE_STATS },
        { "cache/k", "GET", HL_EP_CACHE_KEY },
        { "cache/k", "PUT", HL_EP_CACHE_KEY },
        { "cache/k", "DELETE", HL_EP_CACHE_KEY },
        { "dashboard", "GET", HL_EP_DASHBOARD },
        { "dashboard", "HEAD", HL_EP_DASHBOARD },
        { "dashboard/app.js", "GET", HL_EP_DASHBOARD_FILE },
        { NULL, NULL, HL_EP_NONE }
    };
    int i;
    for (i = 0; ok[i].rel; i++) {
        hl_route r = route_of(ok[i].rel, ok[i].method);
        ck_assert_msg(r.status == HL_ROUTE_OK && r.endpoint == ok[i].ep,
                      "%s %s", ok[i].method, ok[i].rel);
    }
}
END_TEST

/* Every row: its Allow names exactly its methods (HEAD beside GET unless
 * the GET changes state), each of them routes, the others are 405. */
START_TEST(test_table_allow_and_methods)
{
    static const char *names[] = { "GET", "HEAD", "POST", "PUT", "DELETE" };
    const hl_route_def *d;
    int n = 0;
    for (d = hl_router_table(); d->path; d++, n++) {
        const char *rel = d->is_prefix ? apr_pstrcat(test_pool, d->path, "k", NULL)
                                       : d->path;
        hl_route patch = route_of(rel, "PATCH");
        int i;
        ck_assert_int_eq(patch.status, HL_ROUTE_BAD_METHOD);
        ck_assert_int_eq(patch.endpoint, d->endpoint);
        for (i = 0; i < 5; i++) {
            unsigned bit = hl_router_method_bit(names[i]);
            int takes = (d->methods & bit)
                || (bit == HL_M_HEAD && (d->methods & HL_M_GET)
                    && !(d->flags & HL_RF_NO_HEAD));
            char *listed = strstr(patch.allow, names[i]);
            /* "PUT" is no part of another name; "GET" neither. */
            ck_assert_msg(!takes == !listed, "%s: %s in Allow \"%s\"",
                          d->path, names[i], patch.allow);
            ck_assert_int_eq(route_of(rel, names[i]).status,
                             takes ? HL_ROUTE_OK : HL_ROUTE_BAD_METHOD);
        }
    }
    ck_assert_int_eq(n, HL_EP_COUNT - 1);
}
END_TEST

START_TEST(test_unknown_paths)
{
    static const char *bad[] = {
        "counter", "counter/", "counter/increment/", "counter/statsx",
        "Counter/stats", "processx", "memory", "/counter/stats", "x", NULL
    };
    int i;
    for (i = 0; bad[i]; i++)
        ck_assert_msg(route_of(bad[i], "GET").status == HL_ROUTE_NOT_FOUND,
                      "%s", bad[i]);
}
END_TEST

START_TEST(test_wrong_method_gives_allow)
{
    hl_route r = route_of("counter/stats", "POST");
    ck_assert_int_eq(r.status, HL_ROUTE_BAD_METHOD);
    ck_assert_str_eq(r.allow, "GET, HEAD");
    r = route_of("counter/increment", "DELETE");
    ck_assert_str_eq(r.allow, "GET, POST");
    /* A GET that increments: HEAD would increment without showing it. */
    r = route_of("counter/increment", "HEAD");
    ck_assert_int_eq(r.status, HL_ROUTE_BAD_METHOD);
    ck_assert_str_eq(r.allow, "GET, POST");
    ck_assert_uint_eq(r.flags & HL_RF_NO_HEAD, HL_RF_NO_HEAD);
    r = route_of("memory/benchmark", "GET");
    ck_assert_uint_eq(r.flags & HL_RF_GUARD_GET, HL_RF_GUARD_GET);
    r = route_of("process", "GET");
    ck_assert_str_eq(r.allow, "POST");
    r = route_of("cache/x", "PATCH");
    ck_assert_int_eq(r.status, HL_ROUTE_BAD_METHOD);
    ck_assert_str_eq(r.allow, "GET, HEAD, POST, PUT, DELETE");
}
END_TEST

START_TEST(test_cache_key_rest)
{
    hl_route r = route_of("cache/a/b%20c", "GET");
    ck_assert_str_eq(r.rest, "a/b%20c");
    r = route_of("cache/", "GET");
    ck_assert_int_eq(r.status, HL_ROUTE_OK);
    ck_assert_str_eq(r.rest, "");
}
END_TEST

static const char *resolve(const char *uri, const char *mounts_csv,
                           const char *section, hl_route *r)
{
    apr_array_header_t *mounts = apr_array_make(test_pool, 4, sizeof(char *));
    char *list = apr_pstrdup(test_pool, mounts_csv), *last, *m;
    const char *mount = NULL;
    for (m = apr_strtok(list, ",", &last); m; m = apr_strtok(NULL, ",", &last))
        APR_ARRAY_PUSH(mounts, const char *) = m;
    if (hl_router_resolve(uri, mounts, section, HL_M_GET, &mount, r) != APR_SUCCESS)
        return "(none)";
    return mount;
}

START_TEST(test_resolve_mounts)
{
    hl_route r;

    ck_assert_str_eq(resolve("/hl/counter/stats", "/hl", NULL, &r), "/hl");
    ck_assert_int_eq(r.endpoint, HL_EP_COUNTER_STATS);
    ck_assert_str_eq(resolve("/hl", "/hl", NULL, &r), "/hl");
    ck_assert_int_eq(r.endpoint, HL_EP_INDEX);
    ck_assert_str_eq(resolve("/hl/", "/hl/", NULL, &r), "/hl/");
    ck_assert_int_eq(r.endpoint, HL_EP_INDEX);
    ck_assert_str_eq(resolve("/a/b/cache/k", "/hl,/a/b", NULL, &r), "/a/b");
    ck_assert_str_eq(r.rest, "k");
    ck_assert_str_eq(resolve("/counter/stats", "/", NULL, &r), "/");
    ck_assert_int_eq(r.endpoint, HL_EP_COUNTER_STATS);
    /* A nested <Location /hl/counter/stats> is no mount: /hl still is. */
    ck_assert_str_eq(resolve("/hl/counter/stats", "/hl", "/hl/counter/stats", &r), "/hl");
    ck_assert_int_eq(r.endpoint, HL_EP_COUNTER_STATS);
    /* Mounts at / and /process: the longest prefix wins. */
    ck_assert_str_eq(resolve("/process", "/,/process", NULL, &r), "/process");
    ck_assert_int_eq(r.endpoint, HL_EP_INDEX);
    ck_assert_str_eq(resolve("/process/counter/stats", "/,/process", NULL, &r), "/process");
    ck_assert_str_eq(resolve("/process", "/", NULL, &r), "/");
    ck_assert_int_eq(r.endpoint, HL_EP_PROCESS);
    /* No known mount (a <LocationMatch>): the section stands in. */
    ck_assert_str_eq(resolve("/x/counter/stats", "/hl", "/x", &r), "/x");
    ck_assert_int_eq(r.endpoint, HL_EP_COUNTER_STATS);
    /* Unknown below the mount: 404. */
    ck_assert_str_eq(resolve("/hl/nope", "/hl", NULL, &r), "/hl");
    ck_assert_int_eq(r.status, HL_ROUTE_NOT_FOUND);
    /* "/hlx" is not below "/hl". */
    ck_assert_str_eq(resolve("/hlx/counter/stats", "/hl", NULL, &r), "(none)");
}
END_TEST

START_TEST(test_percent_decode)
{
    char *out;
    apr_size_t n;
    ck_assert_int_eq(hl_percent_decode(test_pool, "a%20b%2Fc", 9, &out, &n), APR_SUCCESS);
    ck_assert_uint_eq(n, 5);
    ck_assert_str_eq(out, "a b/c");
    ck_assert_int_eq(hl_percent_decode(test_pool, "%00x", 4, &out, &n), APR_SUCCESS);
    ck_assert_uint_eq(n, 2);
    ck_assert(out[0] == '\0' && out[1] == 'x');
    ck_assert_int_eq(hl_percent_decode(test_pool, "%ff", 3, &out, &n), APR_SUCCESS);
    ck_assert_uint_eq((unsigned char)out[0], 0xff);
    ck_assert_int_eq(hl_percent_decode(test_pool, "%4", 2, &out, &n), APR_EINVAL);
    ck_assert_int_eq(hl_percent_decode(test_pool, "%", 1, &out, &n), APR_EINVAL);
    ck_assert_int_eq(hl_percent_decode(test_pool, "%zz", 3, &out, &n), APR_EINVAL);
    ck_assert_int_eq(hl_percent_decode(test_pool, "ab%4", 4, &out, &n), APR_EINVAL);
    ck_assert_int_eq(hl_percent_decode(test_pool, "", 0, &out, &n), APR_SUCCESS);
    ck_assert_uint_eq(n, 0);
}
END_TEST

Suite *router_suite(void)
{
    Suite *s = suite_create("router");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, test_method_bits);
    tcase_add_test(tc, test_table_routes);
    tcase_add_test(tc, test_unknown_paths);
    tcase_add_test(tc, test_wrong_method_gives_allow);
    tcase_add_test(tc, test_table_allow_and_methods);
    tcase_add_test(tc, test_cache_key_rest);
    tcase_add_test(tc, test_resolve_mounts);
    tcase_add_test(tc, test_percent_decode);
    suite_add_tcase(s, tc);
    return s;
}
