/* Directive values: defaults, bounds, units, messages naming the directive. */
#include "check_hl.h"
#include "hl_config.h"

#include <apr_strings.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

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

/* README and conf/hyperlane.conf against hl_directives.def: each shows
 * every directive, with the default of its one definition. */
typedef struct {
    const char *name;
    int id;                    /* numeric: its hl_directive_id; else -1 */
    const char *dflt_text;     /* the default as README and conf show it */
    int is_list;               /* conf shows an example, not the default */
} directive_row;

static const directive_row rows[] = {
#define HL_NUMERIC(ID, name, min, max, dflt, is_bytes, help) \
    { name, HL_D_##ID, #dflt, 0 },
#define HL_HOST_FLAG(field, name, dflt, help) \
    { name, -1, (dflt) ? "On" : "Off", 0 },
#define HL_HOST_LIST(setter, name, dflt, help) { name, -1, dflt, 1 },
#include "hl_directives.def"
};

static char *slurp(const char *rel)
{
    char *path = apr_pstrcat(test_pool, HL_SRCDIR, "/", rel, NULL), *text;
    apr_size_t len;
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    len = (apr_size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    text = apr_palloc(test_pool, len + 1);
    ck_assert_uint_eq(fread(text, 1, len, f), len);
    text[len] = '\0';
    fclose(f);
    return text;
}

/* A default as text means the row's default: numbers (with K, M, G) by
 * the parser's value, words regardless of case. */
static int is_default(const directive_row *d, const char *text)
{
    hl_config c;
    hl_config_defaults(&c);
    if (d->id < 0)
        return strcasecmp(text, d->dflt_text) == 0;
    hl_config_set(test_pool, &c, (hl_directive_id)d->id, "1");
    return hl_config_set(test_pool, &c, (hl_directive_id)d->id, text) == NULL
        && hl_config_get(&c, (hl_directive_id)d->id)
           == hl_config_directive((hl_directive_id)d->id)->dflt;
}

/* The line of conf/hyperlane.conf that names d, commented out: "#Name value". */
static void check_conf_line(const char *conf, const directive_row *d)
{
    const char *p = conf;
    char value[64];
    while ((p = strstr(p, d->name)) != NULL) {
        if (p > conf && p[-1] == '#' && p[strlen(d->name)] == ' ')
            break;
        p++;
    }
    ck_assert_msg(p != NULL, "conf/hyperlane.conf does not show #%s", d->name);
    ck_assert_int_eq(sscanf(p + strlen(d->name), " %63s", value), 1);
    ck_assert_msg(d->is_list || is_default(d, value),
                  "conf/hyperlane.conf: %s %s, the default is %s", d->name,
                  value, d->dflt_text);
}

/* README's entry "    Name ...  text (default)" in its Directives
 * section: the last parenthesis of
 * the entry, which runs until a blank line or the next entry. */
static void check_readme_entry(const char *readme, const directive_row *d)
{
    const char *p = readme, *end, *open = NULL, *q;
    char *key = apr_pstrcat(test_pool, "\n    ", d->name, " ", NULL);
    char *text;
    p = strstr(readme, key);
    ck_assert_msg(p != NULL, "README does not list %s", d->name);
    p += strlen(key);
    for (end = p; *end; end++)
        if (end[0] == '\n' && (end[1] == '\n'
                                || strncmp(end + 1, "    Hyperlane", 13) == 0))
            break;
    for (q = p; q < end; q++)
        if (*q == '(')
            open = q;
    ck_assert_msg(open != NULL, "README: no (default) for %s", d->name);
    q = memchr(open, ')', (apr_size_t)(end - open));
    ck_assert_msg(q != NULL, "README: unclosed default of %s", d->name);
    text = apr_pstrmemdup(test_pool, open + 1, (apr_size_t)(q - open - 1));
    ck_assert_msg(is_default(d, text), "README: %s (%s), not its default",
                  d->name, text);
}

START_TEST(test_readme_and_conf_follow_the_table)
{
    const char *conf = slurp("conf/hyperlane.conf");
    const char *readme = strstr(slurp("README"), "\nDirectives\n---");
    apr_size_t i;
    ck_assert_msg(readme != NULL, "README has no Directives section");
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        check_conf_line(conf, &rows[i]);
        check_readme_entry(readme, &rows[i]);
    }
}
END_TEST

/* The checks above can fail: a wrong default is caught. */
START_TEST(test_default_check_bites)
{
    const directive_row *d = &rows[0];
    ck_assert(is_default(d, "1000"));
    ck_assert(!is_default(d, "999"));
    ck_assert(is_default(&rows[HL_D_CACHE_SIZE], "16M"));
    ck_assert(!is_default(&rows[HL_D_CACHE_SIZE], "16K"));
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
    tcase_add_test(tc, test_readme_and_conf_follow_the_table);
    tcase_add_test(tc, test_default_check_bites);
    suite_add_tcase(s, tc);
    return s;
}
