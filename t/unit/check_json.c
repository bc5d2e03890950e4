/* JSON answers: field names and types, parsed back with json-c. */
#include "check_hl.h"
#include "hl_json_reply.h"

static json_object *sample_meminfo(void)
{
    hl_procinfo pi = { 1234, 5 << 20, 7 << 20 };
    hl_store_usage u = { "shm", 65536, 4096, 3, 0 };
    return hl_json_memory_info(&pi, &u, "event");
}

START_TEST(test_error_shape)
{
    json_object *o = json_round_trip(hl_json_error(404, "No endpoint at /hl/x"));
    ck_assert_str_eq(json_object_get_string(json_field(o, "error", json_type_string)),
                     "No endpoint at /hl/x");
    ck_assert_int_eq(json_object_get_int(json_field(o, "status", json_type_int)), 404);
    ck_assert_int_eq(json_object_object_length(o), 2);
    json_object_put(o);
}
END_TEST

START_TEST(test_increment_shape)
{
    json_object *o = json_round_trip(hl_json_counter_increment(18446744073709551615ull,
                                                          sample_meminfo()));
    json_object *mi;
    ck_assert_uint_eq(json_object_get_uint64(json_field(o, "counter", json_type_int)),
                      18446744073709551615ull);
    ck_assert_str_eq(json_object_get_string(json_field(o, "message", json_type_string)),
                     "Counter incremented safely");
    mi = json_field(o, "memory_info", json_type_object);
    ck_assert_int_eq(json_object_get_int(json_field(mi, "pid", json_type_int)), 1234);
    ck_assert_str_eq(json_object_get_string(json_field(mi, "mpm", json_type_string)), "event");
    ck_assert_int_eq(json_object_get_int64(json_field(mi, "rss_bytes", json_type_int)), 5 << 20);
    ck_assert_int_eq(json_object_get_int64(json_field(mi, "peak_rss_bytes", json_type_int)), 7 << 20);
    ck_assert_int_eq(json_object_get_int64(json_field(mi, "shm_size_bytes", json_type_int)), 65536);
    ck_assert_int_eq(json_object_get_int64(json_field(mi, "shm_used_bytes", json_type_int)), 4096);
    json_object_put(o);
}
END_TEST

START_TEST(test_stats_shape)
{
    hl_counter_snapshot snap;
    json_object *o, *vals, *recent, *e;
    memset(&snap, 0, sizeof(snap));
    snap.current_value = 12;
    snap.history_length = 12;
    snap.capacity = 1000;
    snap.n_recent = 2;
    snap.recent[0].value = 12;
    snap.recent[0].complete = 1;
    snap.recent[0].pid = 99;
    snap.recent[0].time = APR_USEC_PER_SEC * 1800000000ll + 123456;
    snap.recent[1].value = 11;
    o = json_round_trip(hl_json_counter_stats(&snap, sample_meminfo()));
    ck_assert_int_eq(json_object_get_int(json_field(o, "current_value", json_type_int)), 12);
    ck_assert_int_eq(json_object_get_int(json_field(o, "history_length", json_type_int)), 12);
    vals = json_field(o, "recent_values", json_type_array);
    ck_assert_uint_eq(json_object_array_length(vals), 2);
    ck_assert_int_eq(json_object_get_int(json_object_array_get_idx(vals, 0)), 12);
    ck_assert_int_eq(json_object_get_int(json_object_array_get_idx(vals, 1)), 11);
    recent = json_field(o, "recent", json_type_array);
    e = json_object_array_get_idx(recent, 0);
    ck_assert_int_eq(json_object_get_int(json_field(e, "pid", json_type_int)), 99);
    ck_assert_str_eq(json_object_get_string(json_field(e, "time", json_type_string)),
                     "2027-01-15T08:00:00.123456Z");
    e = json_object_array_get_idx(recent, 1);
    ck_assert(json_object_get_boolean(json_field(e, "pending", json_type_boolean)));
    json_field(o, "memory_usage", json_type_object);
    json_object_put(o);
}
END_TEST

Suite *json_suite(void)
{
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, test_error_shape);
    tcase_add_test(tc, test_increment_shape);
    tcase_add_test(tc, test_stats_shape);
    suite_add_tcase(s, tc);
    return s;
}
