/* The unit-test runner: every suite of src/, in one SRunner. */
#include "check_hl.h"

#include <apr_general.h>
#include <stdlib.h>

apr_pool_t *test_pool;

void pool_setup(void)
{
    apr_pool_create(&test_pool, NULL);
}

void pool_teardown(void)
{
    apr_pool_destroy(test_pool);
    test_pool = NULL;
}

int main(void)
{
    SRunner *sr;
    int failed;

    apr_initialize();
    atexit(apr_terminate);
    sr = srunner_create(counter_suite());
    srunner_add_suite(sr, router_suite());
    srunner_add_suite(sr, json_suite());
    srunner_add_suite(sr, config_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
