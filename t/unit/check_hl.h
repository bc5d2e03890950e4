/* Unit tests of src/: one suite per concept. */
#ifndef CHECK_HL_H
#define CHECK_HL_H

#include <check.h>
#include <apr_pools.h>
#include <json-c/json.h>

#include "hl_jsonw.h"

Suite *counter_suite(void);
Suite *router_suite(void);
Suite *json_suite(void);
Suite *config_suite(void);
Suite *procinfo_suite(void);
Suite *utf8_suite(void);
Suite *checksum_suite(void);
Suite *bufpool_suite(void);
Suite *membench_suite(void);
Suite *cache_suite(void);
Suite *limiter_suite(void);
Suite *store_suite(void);
Suite *metrics_suite(void);
Suite *shm_suite(void);
Suite *cache_api_suite(void);
Suite *redis_suite(void);     /* built with the Redis backend only */
Suite *snapshot_suite(void);

/* A pool made fresh for each test by the fixtures below. */
extern apr_pool_t *test_pool;
void pool_setup(void);
void pool_teardown(void);

/* Called first by a forked test child: it dies with the process that
 * forked it (PR_SET_PDEATHSIG) and after 60 s at most, with SIGALRM back
 * to its default (check's runner installs a handler that kills the whole
 * process group, the runner's own under CK_FORK=no). */
void test_child_bounded(void);

/* 0 under ASan or valgrind (HL_UNDER_VALGRIND), whose allocators keep
 * freed memory and ignore address-space limits by design. */
int test_allocator_is_plain(void);

/* Deterministic pseudo-random numbers (xorshift64), so a failure repeats. */
apr_uint64_t test_rand(apr_uint64_t *state);
void test_rand_fill(apr_uint64_t *state, unsigned char *buf, apr_size_t len);

/* JSON_OF(builder(test_w, ...)) runs a builder on a fresh writer and
 * parses what it wrote back with json-c, asserting it is one valid JSON
 * text; json_field asserts key is there with the type and returns its
 * value.  The caller releases the parsed object (json_object_put). */
extern hl_jsonw *test_w;
hl_jsonw *test_writer(void);
json_object *json_written(hl_jsonw *w);
#define JSON_OF(call) (test_w = test_writer(), (call), json_written(test_w))
json_object *json_field(json_object *o, const char *key, json_type type);
/* The unsigned integer at key, asserted to be one. */
apr_uint64_t json_u64(json_object *o, const char *key);

#endif
