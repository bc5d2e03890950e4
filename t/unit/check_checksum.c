/* The streaming checksum and the pooled transform: both against plain
 * reference loops written here, for the body sizes, cut into
 * pieces at random points; values worked out by hand; the JSON answers. */
#include "check_hl.h"
#include "hl_checksum.h"
#include "hl_pooled.h"

#include <stdlib.h>
#include <string.h>

#define MIB (1024 * 1024)

/* The definition, spelled out in 64-bit arithmetic. */
static apr_uint32_t ref_checksum(const unsigned char *p, apr_size_t len)
{
    apr_uint64_t c = 0;
    apr_size_t i;
    for (i = 0; i < len; i++) {
        apr_uint64_t sum = (c + p[i]) % 4294967296ull;
        c = ((sum * 2) % 4294967296ull) + (sum >> 31);
    }
    return (apr_uint32_t)c;
}

static apr_uint64_t ref_pooled_sum(const unsigned char *p, apr_size_t len)
{
    apr_uint64_t sum = 0;
    apr_size_t i;
    for (i = 0; i < len; i++)
        sum += (p[i] + 1) % 256;
    return sum;
}

/* The sizes of the issue; the last is 10 MiB. */
static const apr_size_t sizes[] = { 0, 1, 4095, 4096, 4097, 10 * MIB };
#define N_SIZES (sizeof(sizes) / sizeof(sizes[0]))

static unsigned char *random_body(apr_size_t len, apr_uint64_t seed)
{
    unsigned char *b = apr_palloc(test_pool, len + 1);
    test_rand_fill(&seed, b, len);
    return b;
}

/* Feeds data to update() in pieces cut at random points; mostly short
 * pieces, now and then a long one, as buckets come. */
typedef void (*feed_fn)(void *state, const void *data, apr_size_t len);

static apr_uint64_t feed_random_split(feed_fn update, void *state,
                                      const unsigned char *data, apr_size_t len,
                                      apr_uint64_t *rng)
{
    apr_uint64_t pieces = 0;
    apr_size_t off = 0;
    while (off < len) {
        apr_uint64_t r = test_rand(rng);
        apr_size_t max = (r & 7) == 0 ? len : 9000;
        apr_size_t n = (apr_size_t)((r >> 8) % max) + 1;
        if (n > len - off)
            n = len - off;
        update(state, data + off, n);
        off += n;
        pieces++;
    }
    return pieces;
}

static void checksum_feed(void *state, const void *data, apr_size_t len)
{
    hl_checksum_update(state, data, len);
}

static void pooled_feed(void *state, const void *data, apr_size_t len)
{
    hl_pooled_update(state, data, len);
}

static apr_uint32_t checksum_of(const void *data, apr_size_t len)
{
    hl_checksum st;
    hl_checksum_init(&st, 4096);
    hl_checksum_update(&st, data, len);
    return st.checksum;
}

START_TEST(test_checksum_by_hand)
{
    unsigned char wrap[25] = { 128 };   /* then 24 zeros */
    unsigned char ff[4] = { 255, 255, 255, 255 };
    ck_assert_uint_eq(checksum_of("", 0), 0);
    ck_assert_uint_eq(checksum_of("\x01", 1), 2);
    ck_assert_uint_eq(checksum_of("\x01\x02", 2), 8);
    ck_assert_uint_eq(checksum_of("\xff", 1), 510);
    /* 97 -> 194; 194+98 = 292 -> 584; 584+99 = 683 -> 1366 */
    ck_assert_uint_eq(checksum_of("abc", 3), 1366);
    /* 510, 1530, 3570, 7650 */
    ck_assert_uint_eq(checksum_of(ff, 4), 7650);
    /* 128 -> 2^8, doubled by each zero: 2^31 after 23, rotated to 1 */
    ck_assert_uint_eq(checksum_of(wrap, 24), 0x80000000u);
    ck_assert_uint_eq(checksum_of(wrap, 25), 1);
    ck_assert_uint_eq(hl_checksum_plain("abc", 3), 1366);
}
END_TEST

START_TEST(test_checksum_sizes_whole)
{
    apr_size_t i;
    for (i = 0; i < N_SIZES; i++) {
        unsigned char *b = random_body(sizes[i], 1000 + i);
        apr_uint32_t want = ref_checksum(b, sizes[i]);
        ck_assert_uint_eq(checksum_of(b, sizes[i]), want);
        ck_assert_uint_eq(hl_checksum_plain(b, sizes[i]), want);
    }
}
END_TEST

/* Every byte offset 0..7 and length 0..64: the unrolled loop's edges. */
START_TEST(test_checksum_unroll_edges)
{
    unsigned char *b = random_body(80, 7);
    apr_size_t off, len;
    for (off = 0; off < 8; off++)
        for (len = 0; len <= 64; len++)
            ck_assert_uint_eq(checksum_of(b + off, len),
                              ref_checksum(b + off, len));
}
END_TEST

START_TEST(test_checksum_random_splits)
{
    apr_uint64_t rng = 42;
    apr_size_t i;
    int round;
    for (i = 0; i < N_SIZES; i++) {
        unsigned char *b = random_body(sizes[i], 2000 + i);
        apr_uint32_t want = ref_checksum(b, sizes[i]);
        int rounds = sizes[i] > MIB ? 20 : 200;
        for (round = 0; round < rounds; round++) {
            hl_checksum st;
            apr_uint64_t pieces;
            hl_checksum_init(&st, 4096);
            pieces = feed_random_split(checksum_feed, &st, b, sizes[i], &rng);
            ck_assert_uint_eq(st.checksum, want);
            ck_assert_uint_eq(st.total_bytes, sizes[i]);
            ck_assert_uint_eq(st.pieces, pieces);
        }
    }
}
END_TEST

START_TEST(test_checksum_chunks)
{
    static const apr_uint64_t want[N_SIZES] = { 0, 1, 1, 1, 2, 2560 };
    unsigned char *b = random_body(10 * MIB, 3);
    hl_checksum st;
    apr_size_t i;
    for (i = 0; i < N_SIZES; i++) {
        hl_checksum_init(&st, 4096);
        hl_checksum_update(&st, b, sizes[i]);
        ck_assert_uint_eq(hl_checksum_chunks(&st), want[i]);
    }
    hl_checksum_init(&st, 1);
    hl_checksum_update(&st, b, 4097);
    ck_assert_uint_eq(hl_checksum_chunks(&st), 4097);
    hl_checksum_init(&st, 1000);
    hl_checksum_update(&st, b, 1001);
    ck_assert_uint_eq(hl_checksum_chunks(&st), 2);
    /* An empty update is not a piece. */
    hl_checksum_update(&st, b, 0);
    ck_assert_uint_eq(st.pieces, 1);
    ck_assert_int_eq(hl_checksum_init(&st, 0), APR_EINVAL);
}
END_TEST

START_TEST(test_process_json)
{
    hl_checksum st;
    json_object *o;
    hl_checksum_init(&st, 4096);
    hl_checksum_update(&st, "ab", 2);
    hl_checksum_update(&st, "c", 1);
    o = JSON_OF(hl_json_process(test_w, &st));
    ck_assert_uint_eq(json_u64(o, "checksum"), 1366);
    ck_assert_uint_eq(json_u64(o, "total_bytes"), 3);
    ck_assert_uint_eq(json_u64(o, "chunks_processed"), 1);
    ck_assert_uint_eq(json_u64(o, "chunk_size"), 4096);
    ck_assert_uint_eq(json_u64(o, "buckets"), 2);
    ck_assert_str_eq(json_object_get_string(json_field(o, "processing_method",
                                                       json_type_string)), "streaming");
    json_object_put(o);
}
END_TEST

/* A checksum above 2^31 stays an unsigned decimal. */
START_TEST(test_process_json_high_checksum)
{
    hl_checksum st;
    unsigned char wrap[24] = { 128 };
    json_object *o;
    hl_checksum_init(&st, 4096);
    hl_checksum_update(&st, wrap, 24);
    o = JSON_OF(hl_json_process(test_w, &st));
    ck_assert_uint_eq(json_u64(o, "checksum"),
                      2147483648u);
    json_object_put(o);
}
END_TEST

START_TEST(test_pooled_by_hand)
{
    unsigned char buf[2];
    hl_pooled st;
    ck_assert_int_eq(hl_pooled_init(&st, buf, sizeof(buf)), APR_SUCCESS);
    ck_assert_uint_eq(hl_pooled_average(&st), 0);     /* empty: 0, no division */
    hl_pooled_update(&st, "abc", 3);                  /* "bcd": 98+99+100 */
    ck_assert_uint_eq(st.checksum, 297);
    ck_assert_uint_eq(hl_pooled_average(&st), 99);
    ck_assert_uint_eq(st.input_size, 3);
    ck_assert_uint_eq(st.output_size, 3);
    ck_assert_int_eq(buf[0], 'd');                    /* the last step's output */
    hl_pooled_update(&st, "\xff", 1);                 /* wraps to 0 */
    ck_assert_uint_eq(st.checksum, 297);
    ck_assert_uint_eq(hl_pooled_average(&st), 74);    /* 297 / 4 */
    ck_assert_int_eq(hl_pooled_init(&st, NULL, 8), APR_EINVAL);
    ck_assert_int_eq(hl_pooled_init(&st, buf, 0), APR_EINVAL);
}
END_TEST

START_TEST(test_pooled_sizes_and_splits)
{
    apr_uint64_t rng = 99;
    apr_size_t i, buffer_size = 8192;
    unsigned char *buffer = apr_palloc(test_pool, buffer_size);
    int round;
    for (i = 0; i < N_SIZES; i++) {
        unsigned char *b = random_body(sizes[i], 3000 + i);
        apr_uint64_t want = ref_pooled_sum(b, sizes[i]);
        int rounds = sizes[i] > MIB ? 10 : 100;
        for (round = 0; round < rounds; round++) {
            hl_pooled st;
            hl_pooled_init(&st, buffer, buffer_size);
            if (round == 0)
                hl_pooled_update(&st, b, sizes[i]);
            else
                feed_random_split(pooled_feed, &st, b, sizes[i], &rng);
            ck_assert_uint_eq(st.checksum, want);
            ck_assert_uint_eq(st.input_size, sizes[i]);
            ck_assert_uint_eq(st.output_size, sizes[i]);
            ck_assert_uint_eq(hl_pooled_average(&st),
                              sizes[i] ? want / sizes[i] : 0);
        }
    }
}
END_TEST

/* A tiny buffer forces many buffer-sized steps per piece. */
START_TEST(test_pooled_small_buffer)
{
    unsigned char buffer[7];
    unsigned char *b = random_body(4097, 5);
    hl_pooled st;
    hl_pooled_init(&st, buffer, sizeof(buffer));
    hl_pooled_update(&st, b, 4097);
    ck_assert_uint_eq(st.checksum, ref_pooled_sum(b, 4097));
    ck_assert_int_eq(buffer[(4097 - 1) % 7], (unsigned char)(b[4096] + 1));
}
END_TEST

START_TEST(test_pooled_json)
{
    unsigned char buf[16];
    hl_pooled st;
    hl_bufpool_stats ps = { 3, 100, 8192, 5, 2, 1, 4321 };
    json_object *o, *pr, *mp;
    hl_pooled_init(&st, buf, sizeof(buf));
    hl_pooled_update(&st, "abc", 3);
    o = JSON_OF(hl_json_pooled(test_w, &st, &ps));
    pr = json_field(o, "processing_result", json_type_object);
    ck_assert_uint_eq(json_u64(pr, "input_size"), 3);
    ck_assert_uint_eq(json_u64(pr, "output_size"), 3);
    ck_assert_uint_eq(json_u64(pr, "checksum"), 297);
    ck_assert_uint_eq(json_u64(pr, "average"), 99);
    ck_assert_uint_eq(json_u64(pr, "buffer_capacity"), 16);
    mp = json_field(o, "memory_pool", json_type_object);
    ck_assert_uint_eq(json_u64(mp, "current_size"), 3);
    ck_assert_uint_eq(json_u64(mp, "max_size"), 100);
    ck_assert_uint_eq(json_u64(mp, "buffer_size"), 8192);
    ck_assert_uint_eq(json_u64(mp, "reused"), 5);
    ck_assert_uint_eq(json_u64(mp, "created"), 2);
    ck_assert_uint_eq(json_u64(mp, "in_use"), 1);
    ck_assert_int_eq(json_object_get_int(json_field(mp, "pid", json_type_int)), 4321);
    json_object_put(o);
}
END_TEST

Suite *checksum_suite(void)
{
    Suite *s = suite_create("checksum");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_set_timeout(tc, 300);     /* valgrind runs too */
    tcase_add_test(tc, test_checksum_by_hand);
    tcase_add_test(tc, test_checksum_sizes_whole);
    tcase_add_test(tc, test_checksum_unroll_edges);
    tcase_add_test(tc, test_checksum_random_splits);
    tcase_add_test(tc, test_checksum_chunks);
    tcase_add_test(tc, test_process_json);
    tcase_add_test(tc, test_process_json_high_checksum);
    tcase_add_test(tc, test_pooled_by_hand);
    tcase_add_test(tc, test_pooled_sizes_and_splits);
    tcase_add_test(tc, test_pooled_small_buffer);
    tcase_add_test(tc, test_pooled_json);
    suite_add_tcase(s, tc);
    return s;
}
