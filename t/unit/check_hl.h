/* Unit tests of src/: one suite per concept. */
#ifndef CHECK_HL_H
#define CHECK_HL_H

#include <check.h>
#include <apr_pools.h>

Suite *counter_suite(void);
Suite *router_suite(void);
Suite *json_suite(void);
Suite *config_suite(void);

/* A pool made fresh for each test by the fixtures below. */
extern apr_pool_t *test_pool;
void pool_setup(void);
void pool_teardown(void);

#endif
