/* The streaming checksum and the pooled transform: both against plain
 * reference loops written here, for the body sizes, cut into
 * pieces at random points; values worked out by hand; the JSON answers. */
#include "check_hl.h"
#include "hl_checksum.h"
#include "hl_pooled.h"

#include <stdlib.h>
#include <string.h>

#define MIB (1024 * 1024)

/* The definition, spelled out in 64-bit arithmetic, from any state c. */
static apr_uint32_t ref_steps(apr_uint32_t c0, const unsigned char *p,
                              apr_size_t len)
{
    apr_uint64_t c = c0;
    apr_size_t i;
    for (i = 0; i < len; i++) {
        apr_uint64_t sum = (c + p[i]) % 4294967296ull;
        c = ((sum * 2) % 4294967296ull) + (sum >> 31);
    }
    return (apr_uint32_t)c;
}

static apr_uint32_t ref_checksum(const unsigned char *p, apr_size_t len)
{
    return ref_steps(0, p, len);
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

/* Every byte offset 0..7 and length 0..200: the edges of the kernel's
 * 64-byte lines, 8-byte blocks and byte steps. */
START_TEST(test_checksum_unroll_edges)
{
    unsigned char *b = random_body(208, 7);
    apr_size_t off, len;
    for (off = 0; off < 8; off++)
        for (len = 0; len <= 200; len++)
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

/* ---- The block kernel against the definition ------------------------
 * hl_checksum_update does sixteen bytes at a time (eight in the tail)
 * with a shortcut that is exact only when no add of the block carries; it
 * falls back to blocks of eight from states whose bits 9..16 are all
 * ones, and from there to plain steps from states whose bits 9..24 are
 * all ones (see hl_checksum.c).
 * These tests aim at that boundary: states near the top of the range,
 * bytes that push toward it, carries as often as they can happen, and
 * cuts that make blocks start at the states the kernel treats apart. */

#define FALLBACK_BITS 0x01FFFE00u      /* the kernel's fall-back states */
#define HIGH_BYTE  0x01FE0000u      /* bits 17..24, a stricter window */
#define WINDOW16_BITS 0x0001FE00u   /* bits 9..16: sixteen-byte blocks */

static int falls_back(apr_uint32_t c)
{
    return (c & FALLBACK_BITS) == FALLBACK_BITS;
}

/* Steps of the definition whose add carries out of 32 bits. */
static apr_size_t ref_carries(const unsigned char *p, apr_size_t len)
{
    apr_uint32_t c = 0;
    apr_size_t i, n = 0;
    for (i = 0; i < len; i++) {
        n += (apr_uint64_t)c + p[i] > 0xFFFFFFFFu;
        c = ref_steps(c, p + i, 1);
    }
    return n;
}

/* update() over len bytes from the state c. */
static apr_uint32_t update_over(apr_uint32_t c, const unsigned char *p,
                                apr_size_t len)
{
    hl_checksum st;
    hl_checksum_init(&st, 4096);
    st.checksum = c;
    hl_checksum_update(&st, p, len);
    return st.checksum;
}

/* update() over body cut at the points where the running state is one
 * the kernel falls back from (so a block starts there), and now and then
 * at a random point; the checksum it ends with. */
static apr_uint32_t update_cut_at_fallbacks(const unsigned char *body,
                                            apr_size_t len, apr_uint64_t *rng)
{
    hl_checksum st;
    apr_uint32_t c = 0;
    apr_size_t i, from = 0;
    hl_checksum_init(&st, 4096);
    for (i = 0; i < len; i++) {
        if (i > from && (falls_back(c) || test_rand(rng) % 64 == 0)) {
            hl_checksum_update(&st, body + from, i - from);
            from = i;
        }
        c = ref_steps(c, body + i, 1);
    }
    hl_checksum_update(&st, body + from, len - from);
    return st.checksum;
}

/* Bytes of the given kind: 0 uniform, 1 mostly one bits, 2 mostly zero
 * bits, 3 only the values at the edges of a byte. */
static void fill_kind(apr_uint64_t *rng, unsigned char *b, apr_size_t len,
                      int kind)
{
    static const unsigned char edges[] = { 0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF };
    apr_size_t i;
    for (i = 0; i < len; i++) {
        apr_uint64_t r = test_rand(rng);
        switch (kind) {
        case 0: b[i] = (unsigned char)(r >> 56); break;
        case 1: b[i] = (unsigned char)((r >> 56) | (r >> 48)); break;
        case 2: b[i] = (unsigned char)((r >> 56) & (r >> 48)); break;
        default: b[i] = edges[(r >> 32) % sizeof(edges)]; break;
        }
    }
}

/* (a) Random bodies of random lengths up to ~100 KB, of every kind of
 * bytes, each cut at random points twice, against the plain loop. */
START_TEST(test_checksum_random_bodies)
{
    apr_uint64_t rng = 77;
    unsigned char *b = apr_palloc(test_pool, 100001);
    int round, cut;
    for (round = 0; round < 300; round++) {
        apr_uint64_t r = test_rand(&rng);
        apr_size_t len = (r & 1) ? (r >> 8) % 100001 : (r >> 8) % 300;
        apr_uint32_t want;
        fill_kind(&rng, b, len, (int)((r >> 4) % 4));
        want = hl_checksum_plain(b, len);
        ck_assert_uint_eq(update_over(0, b, len), want);
        for (cut = 0; cut < 2; cut++) {
            hl_checksum st;
            hl_checksum_init(&st, 4096);
            feed_random_split(checksum_feed, &st, b, len, &rng);
            ck_assert_uint_eq(st.checksum, want);
        }
    }
}
END_TEST

/* n bytes that take the state from 0 to target, n <= 25: walk back from
 * the target, each byte being the low byte of the state rotated right,
 * which clears a bit more of the state each step until it is 0. */
static apr_size_t path_from_zero(apr_uint32_t target, unsigned char *out)
{
    unsigned char back[32];
    apr_size_t n = 0, i;
    while (target != 0) {
        apr_uint32_t sum = (target >> 1) | (target << 31);
        back[n++] = (unsigned char)sum;
        target = sum - (sum & 0xFF);
    }
    for (i = 0; i < n; i++)
        out[i] = back[n - 1 - i];
    return n;
}

/* A body that carries about once every 24..32 bytes, the most the
 * definition allows (a carry drops the state below 2^9 and only doubling
 * brings it back to the top).  From a small state c, n bytes whose
 * weighted sum makes 2^n c + sum exactly an even target in the top 255
 * (no wrap on the way: every prefix is below the target / 2^(n-i)), then
 * a byte that carries from there; n is picked at random among those that
 * fit so carries fall at every offset of a block. */
static apr_size_t carry_body(unsigned char *b, apr_size_t cap,
                             apr_uint64_t *rng)
{
    apr_uint32_t c = 0;
    apr_size_t len = 0;
    while (len + 34 <= cap) {
        apr_uint64_t target = 0xFFFFFFFEull - 2 * (test_rand(rng) % 127);
        apr_uint64_t rest, weight;
        unsigned n, lo = 0, hi = 0, j;
        for (n = 1; n <= 31; n++) {
            apr_uint64_t base = (apr_uint64_t)c << n;
            if (base > target)
                break;
            if (target - base <= 255 * ((2ull << n) - 2)) {
                if (!lo)
                    lo = n;
                hi = n;
            }
        }
        ck_assert_uint_ne(lo, 0);
        n = lo + (unsigned)(test_rand(rng) % (hi - lo + 1));
        rest = target - ((apr_uint64_t)c << n);
        for (j = 1; j <= n; j++) {
            apr_uint64_t d;
            weight = 1ull << (n + 1 - j);
            d = rest / weight > 255 ? 255 : rest / weight;
            b[len++] = (unsigned char)d;
            rest -= d * weight;
        }
        ck_assert_uint_eq(rest, 0);
        /* Any byte from 2^32 - target up carries. */
        b[len] = (unsigned char)(0x100000000ull - target
                 + test_rand(rng) % (256 - (0x100000000ull - target)));
        c = ref_steps((apr_uint32_t)target, b + len, 1);
        len++;
    }
    return len;
}

/* (b) Bodies that keep the state at the top of the range. */
START_TEST(test_checksum_adversarial)
{
    enum { LEN = 65536, N_BODIES = 10 };
    apr_uint64_t rng = 4242;
    unsigned char *b = apr_palloc(test_pool, LEN);
    int kind, round;
    for (kind = 0; kind < N_BODIES; kind++) {
        apr_size_t len = LEN, i, n, slow = 0;
        apr_uint32_t want, c;
        switch (kind) {
        case 0: memset(b, 0xFF, LEN); break;
        case 1: memset(b, 0x80, LEN); break;
        case 2: memset(b, 0x7F, LEN); break;
        case 3:                 /* a long run of 0xFF, then random */
            fill_kind(&rng, b, LEN, 0);
            memset(b, 0xFF, LEN / 2 + 3);
            break;
        case 4:                 /* random, a run of 0xFF, random */
            fill_kind(&rng, b, LEN, 0);
            memset(b + 1001, 0xFF, LEN / 2);
            break;
        case 5:
        case 6:
            /* To 0xFFFFFE01, which 0xFF bytes keep: every block starts
             * at a fall-back state; in 6 a random byte now and then
             * knocks the state off and the 0xFF run draws it back. */
            memset(b, 0xFF, LEN);
            n = path_from_zero(0xFFFFFE01u, b);
            ck_assert_uint_eq(ref_checksum(b, n), 0xFFFFFE01u);
            for (i = n; kind == 6 && i < LEN; i += 1 + test_rand(&rng) % 200)
                b[i] = (unsigned char)test_rand(&rng);
            break;
        case 7:                 /* mostly one bits */
            fill_kind(&rng, b, LEN, 1);
            break;
        default:                /* as many carries as can be */
            len = carry_body(b, LEN, &rng);
            ck_assert_uint_ge(ref_carries(b, len), len / 33);
            break;
        }
        for (i = 0, c = 0; i < len; i++) {
            slow += falls_back(c);
            c = ref_steps(c, b + i, 1);
        }
        if (kind == 5)
            ck_assert_uint_ge(slow, len - 32);
        want = hl_checksum_plain(b, len);
        ck_assert_uint_eq(want, c);
        ck_assert_uint_eq(update_over(0, b, len), want);
        /* Every offset of the body against a block start. */
        for (i = 1; i < 8; i++)
            ck_assert_uint_eq(update_over(update_over(0, b, i), b + i,
                                          len - i), want);
        for (round = 0; round < 8; round++) {
            hl_checksum st;
            hl_checksum_init(&st, 4096);
            feed_random_split(checksum_feed, &st, b, len, &rng);
            ck_assert_uint_eq(st.checksum, want);
            ck_assert_uint_eq(update_cut_at_fallbacks(b, len, &rng), want);
        }
    }
}
END_TEST

/* A start state from one of the classes the kernel's proof cares about. */
static apr_uint32_t some_state(apr_uint64_t *rng)
{
    static const apr_uint32_t fixed[] = {
        0, 1, 2, 0xFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE,
        0xFFFFFF01, 0xFFFFFF00, 0xFFFFFE01, 0xFFFE0000, 0xFFFDFFFF,
        0x01FE0000, 0x00FF0000, 0xFF00FFFF, 0xFEFFFFFF
    };
    apr_uint64_t r = test_rand(rng);
    apr_uint32_t lo = (apr_uint32_t)r, hi = (apr_uint32_t)(r >> 32);
    switch (test_rand(rng) % 10) {
    case 0: return lo;
    case 1: return lo | hi;                     /* mostly one bits */
    case 2: return lo | FALLBACK_BITS;             /* falls back */
    case 3: return lo | HIGH_BYTE;              /* high, mostly fast */
    case 4:                                     /* one zero, in the window */
        return 0xFFFFFFFFu ^ (1u << (9 + hi % 16));
    case 5:
        return (lo | hi | FALLBACK_BITS) ^ (1u << (9 + hi % 16));
    case 6: return 0xFFFFFFFFu - lo % 1024;     /* the carry zone and below */
    case 7: return lo % 1024;
    case 8: return (lo | hi) & ~(1u << (hi % 32));
    default: return fixed[hi % (sizeof(fixed) / sizeof(fixed[0]))];
    }
}

/* len bytes of a kind r picks (now and then all 0xFF) into blk, and
 * update() over them from x0 against the definition. */
static void check_from_state(apr_uint64_t *rng, apr_uint64_t r,
                             apr_uint32_t x0, unsigned char *blk,
                             apr_size_t len)
{
    apr_uint32_t got, want;
    fill_kind(rng, blk, len, (int)((r >> 16) % 4));
    if ((r >> 24) % 8 == 0)
        memset(blk, 0xFF, len);
    got = update_over(x0, blk, len);
    want = ref_steps(x0, blk, len);
    if (got != want)
        ck_abort_msg("from %08x over %u bytes %02x %02x %02x %02x "
                     "%02x %02x %02x %02x: %08x, want %08x",
                     (unsigned)x0, (unsigned)len, blk[0], blk[1], blk[2],
                     blk[3], blk[4], blk[5], blk[6], blk[7],
                     (unsigned)got, (unsigned)want);
}

/* (c) One block (mostly) from every class of start state, set directly in
 * the state, against eight steps of the definition: a few million. */
START_TEST(test_checksum_block_states)
{
    apr_uint64_t rng = 8888;
    unsigned char blk[40];
    apr_uint32_t x0, c;
    long i;
    int k;
    /* The carry zone and every state with a single zero bit, all bytes. */
    for (k = 0; k < 256 + 32; k++) {
        x0 = k < 256 ? 0xFFFFFF00u + (apr_uint32_t)k
                     : 0xFFFFFFFFu ^ (1u << (k - 256));
        for (c = 0; c < 256; c++) {
            memset(blk, (int)c, 8);
            ck_assert_uint_eq(update_over(x0, blk, 8), ref_steps(x0, blk, 8));
        }
    }
    for (i = 0; i < 3000000; i++) {
        apr_uint64_t r = test_rand(&rng);
        apr_size_t len = r % 8 ? 8 : 1 + (r >> 8) % sizeof(blk);
        check_from_state(&rng, r, some_state(&rng), blk, len);
    }
}
END_TEST

/* (d) Whole 64-byte lines (four blocks of sixteen) from every class of
 * start state, and from states just in and out of the sixteen-byte
 * window (bits 9..16 all ones, one of them zero). */
START_TEST(test_checksum_line_states)
{
    apr_uint64_t rng = 16161;
    unsigned char line[64 + 8];
    long i;
    for (i = 0; i < 1000000; i++) {
        apr_uint64_t r = test_rand(&rng);
        apr_size_t len = r % 4 ? 64 : 64 + (r >> 8) % 9;
        apr_uint32_t x0 = some_state(&rng);
        switch ((r >> 12) % 4) {
        case 0: x0 |= WINDOW16_BITS; break;
        case 1: x0 = (x0 | WINDOW16_BITS) ^ (1u << (9 + (r >> 40) % 8)); break;
        default: break;
        }
        check_from_state(&rng, r, x0, line, len);
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

/* The wide loops (sixteen bytes at a time) write the buffer as the byte
 * loops do: after the last step it holds that step's output, each byte. */
START_TEST(test_pooled_buffer_holds_output)
{
    unsigned char buffer[64 + 1];
    unsigned char *b = random_body(1000, 6);
    apr_size_t i, last = 1000 % 64;                     /* 40 bytes */
    hl_pooled st;
    memset(buffer, 0xAA, sizeof(buffer));
    hl_pooled_init(&st, buffer, 64);
    hl_pooled_update(&st, b, 1000);
    ck_assert_uint_eq(st.checksum, ref_pooled_sum(b, 1000));
    for (i = 0; i < last; i++)
        ck_assert_int_eq(buffer[i], (unsigned char)(b[1000 - last + i] + 1));
    for (i = last; i < 64; i++)                         /* the step before */
        ck_assert_int_eq(buffer[i], (unsigned char)(b[1000 - last - 64 + i] + 1));
    ck_assert_int_eq(buffer[64], 0xAA);                 /* nothing past it */
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
    tcase_add_test(tc, test_checksum_random_bodies);
    tcase_add_test(tc, test_checksum_adversarial);
    tcase_add_test(tc, test_checksum_block_states);
    tcase_add_test(tc, test_checksum_line_states);
    tcase_add_test(tc, test_checksum_chunks);
    tcase_add_test(tc, test_process_json);
    tcase_add_test(tc, test_process_json_high_checksum);
    tcase_add_test(tc, test_pooled_by_hand);
    tcase_add_test(tc, test_pooled_sizes_and_splits);
    tcase_add_test(tc, test_pooled_small_buffer);
    tcase_add_test(tc, test_pooled_buffer_holds_output);
    tcase_add_test(tc, test_pooled_json);
    suite_add_tcase(s, tc);
    return s;
}
