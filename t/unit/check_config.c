/* Directive values: defaults, bounds, units, messages naming the directive. */
#include "check_hl.h"
#include "hl_config.h"

#include <string.h>

START_TEST(test_defaults)
{
    hl_config c;
    hl_config_defaults(&c);
    ck_assert_uint_eq(hl_config_get(&c, HL_D_HISTORY_SIZE), 1000);
    ck_assert_uint_eq(hl_config_get(&c, HL_D_CHUNK_SIZE), 4096);
    ck_assert_uint_eq(hl_config_get(&c, HL_D_MAX_BODY), 0);
    ck_assert_uint_eq(hl_config_get(&c, HL_D_POOL_BUFFERS), 100);
    ck_assert_uint_eq(hl_config_get(&c, HL_D_POOL_BUFFER_SIZE), 8192);
    ck_assert_uint_eq(hl_config_get(&c, HL_D_CACHE_SIZE), 16u << 20);
    ck_assert_uint_eq(hl_config_get(&c, HL_D_CACHE_MAX_KEY), 250);
    ck_assert_uint_eq(hl_config_get(&c, HL_D_CACHE_MAX_VALUE), 65536);
    ck_assert_uint_eq(hl_config_get(&c, HL_D_CACHE_TTL), 3600);
    ck_assert_uint_eq(hl_config_get(&c, HL_D_CACHE_MAX_CONCURRENT), 50);
    ck_assert_uint_eq(hl_config_get(&c, HL_D_MEMORY_MAX_AGE), 1000);
    ck_assert_uint_eq(hl_config_get(&c, HL_D_BENCHMARK_MAX_CONCURRENT), 2);
}
END_TEST

START_TEST(test_valid_values)
{
    hl_config c;
    hl_config_defaults(&c);
    ck_assert_ptr_null(hl_config_set(test_pool, &c, HL_D_HISTORY_SIZE, "5"));
    ck_assert_uint_eq(hl_config_get(&c, HL_D_HISTORY_SIZE), 5);
    ck_assert_ptr_null(hl_config_set(test_pool, &c, HL_D_CACHE_SIZE, "64K"));
    ck_assert_uint_eq(hl_config_get(&c, HL_D_CACHE_SIZE), 65536);
    ck_assert_ptr_null(hl_config_set(test_pool, &c, HL_D_CACHE_SIZE, "2m"));
    ck_assert_uint_eq(hl_config_get(&c, HL_D_CACHE_SIZE), 2u << 20);
    ck_assert_ptr_null(hl_config_set(test_pool, &c, HL_D_MAX_BODY, "1G"));
    ck_assert_uint_eq(hl_config_get(&c, HL_D_MAX_BODY), 1u << 30);
    ck_assert_ptr_null(hl_config_set(test_pool, &c, HL_D_MEMORY_MAX_AGE, "60000"));
    ck_assert_uint_eq(hl_config_get(&c, HL_D_MEMORY_MAX_AGE), 60000);
    ck_assert_ptr_nonnull(hl_config_set(test_pool, &c, HL_D_MEMORY_MAX_AGE, "60001"));
    ck_assert_ptr_nonnull(hl_config_set(test_pool, &c, HL_D_MEMORY_MAX_AGE, "1K"));
    /* Larger values would make answers of several times their size. */
    ck_assert_ptr_null(hl_config_set(test_pool, &c, HL_D_CACHE_MAX_VALUE, "1M"));
    ck_assert_ptr_nonnull(hl_config_set(test_pool, &c, HL_D_CACHE_MAX_VALUE, "1025K"));
    ck_assert_ptr_nonnull(hl_config_set(test_pool, &c, HL_D_CACHE_MAX_VALUE, "64M"));
    ck_assert_ptr_nonnull(hl_config_set(test_pool, &c, HL_D_BENCHMARK_MAX_CONCURRENT, "0"));
    ck_assert_ptr_null(hl_config_set(test_pool, &c, HL_D_BENCHMARK_MAX_CONCURRENT, "1"));
}
END_TEST

START_TEST(test_invalid_values_name_the_directive)
{
    static const char *bad[] = { "", "0", "-1", "abc", "10x", "5K", "1.5",
                                 "10000001", " 5", "99999999999999999999", NULL };
    hl_config c;
    int i;
    hl_config_defaults(&c);
    for (i = 0; bad[i]; i++) {
        const char *err = hl_config_set(test_pool, &c, HL_D_HISTORY_SIZE, bad[i]);
        ck_assert_msg(err != NULL, "'%s' accepted", bad[i]);
        ck_assert_msg(strstr(err, "HyperlaneHistorySize") != NULL, "%s", err);
    }
    ck_assert_uint_eq(hl_config_get(&c, HL_D_HISTORY_SIZE), 1000);  /* unchanged */
    ck_assert_ptr_nonnull(hl_config_set(test_pool, &c, HL_D_CACHE_SIZE, "1K"));
    ck_assert_ptr_nonnull(hl_config_set(test_pool, &c, HL_D_CACHE_SIZE, "16X"));
}
END_TEST

Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_valid_values);
    tcase_add_test(tc, test_invalid_values_name_the_directive);
    suite_add_tcase(s, tc);
    return s;
}
