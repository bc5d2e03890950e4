/* The unit-test runner: every suite of src/, in one SRunner. */
#include "check_hl.h"
#ifdef HL_HAVE_REDIS
#include "check_redis.h"
#endif


#include <apr_general.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

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

int test_allocator_is_plain(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return 0;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return 0;
#endif
#endif
    return getenv("HL_UNDER_VALGRIND") == NULL;
}

void test_child_bounded(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGALRM, SIG_DFL);   /* check's handler kills the process group */
    alarm(60);                  /* also if the parent died before prctl */
}

apr_uint64_t test_rand(apr_uint64_t *state)
{
    apr_uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

void test_rand_fill(apr_uint64_t *state, unsigned char *buf, apr_size_t len)
{
    apr_size_t i;
    for (i = 0; i < len; i++)
        buf[i] = (unsigned char)(test_rand(state) >> 56);
}

hl_jsonw *test_w;

hl_jsonw *test_writer(void)
{
    hl_jsonw *w = apr_palloc(test_pool, sizeof(*w));
    hl_jsonw_init(w, test_pool);
    return w;
}

json_object *json_written(hl_jsonw *w)
{
    apr_size_t len;
    const char *s = hl_jsonw_text(w, &len);
    struct json_tokener *tok = json_tokener_new();
    json_object *back = json_tokener_parse_ex(tok, s, (int)len);
    ck_assert_msg(back != NULL && tok->char_offset == (int)len,
                  "not one JSON text: %s", s);
    json_tokener_free(tok);
    ck_assert_uint_eq(strlen(s), len);
    return back;
}

json_object *json_field(json_object *o, const char *key, json_type type)
{
    json_object *v = NULL;
    ck_assert_msg(json_object_object_get_ex(o, key, &v), "missing %s", key);
    ck_assert_msg(json_object_is_type(v, type), "%s has type %s", key,
                  json_type_to_name(json_object_get_type(v)));
    return v;
}

apr_uint64_t json_u64(json_object *o, const char *key)
{
    return json_object_get_uint64(json_field(o, key, json_type_int));
}

int main(void)
{
    SRunner *sr;
    int failed;

    apr_initialize();
    atexit(apr_terminate);
#ifdef HL_HAVE_REDIS
    /* Before any test forks: the tests' children share it. */
    test_redis_shared_start();
#endif
    sr = srunner_create(counter_suite());
    srunner_add_suite(sr, router_suite());
    srunner_add_suite(sr, json_suite());
    srunner_add_suite(sr, config_suite());
    srunner_add_suite(sr, procinfo_suite());
    srunner_add_suite(sr, utf8_suite());
    srunner_add_suite(sr, checksum_suite());
    srunner_add_suite(sr, bufpool_suite());
    srunner_add_suite(sr, membench_suite());
    srunner_add_suite(sr, cache_suite());
    srunner_add_suite(sr, limiter_suite());
    srunner_add_suite(sr, store_suite());
    srunner_add_suite(sr, shm_suite());
    srunner_add_suite(sr, metrics_suite());
    srunner_add_suite(sr, cache_api_suite());
#ifdef HL_HAVE_REDIS
    srunner_add_suite(sr, redis_suite());
#endif
    srunner_add_suite(sr, snapshot_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
