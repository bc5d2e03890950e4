/* UTF-8 made fit for JSON: valid text untouched, each maximal invalid
 * subpart one U+FFFD, as String::from_utf8_lossy. */
#include "check_hl.h"
#include "hl_utf8.h"

#include <string.h>

#define R "\xEF\xBF\xBD"

static void expect(const char *in, apr_size_t len, const char *want)
{
    apr_size_t n;
    const char *out = hl_utf8_lossy(test_pool, in, len, &n);
    ck_assert_uint_eq(n, strlen(want));
    ck_assert_msg(memcmp(out, want, n) == 0, "got %.*s want %s", (int)n, out, want);
    ck_assert(hl_utf8_valid(out, n));
}

START_TEST(test_valid_unchanged)
{
    static const char *ok[] = { "", "abc", "h\xC3\xA9llo", "\xE4\xB8\xAD\xE6\x96\x87",
                                "\xF0\x9F\x98\x80", "\xEF\xBF\xBF", "\xF4\x8F\xBF\xBF", NULL };
    int i;
    for (i = 0; ok[i]; i++) {
        ck_assert(hl_utf8_valid(ok[i], strlen(ok[i])));
        expect(ok[i], strlen(ok[i]), ok[i]);
    }
    ck_assert(hl_utf8_valid("a\0b", 3));     /* NUL is valid UTF-8 */
}
END_TEST

START_TEST(test_invalid_replaced)
{
    expect("\xFF", 1, R);
    expect("a\x80" "b", 3, "a" R "b");
    expect("\xC0\xAF", 2, R R);                    /* overlong: two subparts */
    expect("\xE0\x80\xAF", 3, R R R);
    expect("\xED\xA0\x80", 3, R R R);              /* surrogate */
    expect("\xF4\x90\x80\x80", 4, R R R R);        /* past U+10FFFF */
    expect("\xE4\xB8", 2, R);                      /* truncated: one subpart */
    expect("\xE4\xB8" "x", 3, R "x");
    expect("\xF0\x9F\x98", 3, R);
    expect("\xF0\x9F\x98\x80\xFF", 5, "\xF0\x9F\x98\x80" R);
    ck_assert(!hl_utf8_valid("\xC3", 1));
}
END_TEST

Suite *utf8_suite(void)
{
    Suite *s = suite_create("utf8");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, test_valid_unchanged);
    tcase_add_test(tc, test_invalid_replaced);
    suite_add_tcase(s, tc);
    return s;
}
