/* The shared segment as the root parent sees it at a restart: memory any
 * child can write.  A valid old segment with entries is damaged in many
 * hostile ways and handed to the reuse check and to the migration into
 * segments of other sizes: each must be refused or copied safely, never
 * crash, never write into the old segment or outside the new one, and the
 * new cache must pass hl_cache_validate.  Segments are malloc'd at their
 * exact size, so that under ASan (configure --enable-sanitizers) a read or
 * write past either one is reported. */
#include "check_hl.h"
#include "hl_cache.h"
#include "hl_counter.h"
#include "hl_shm_layout.h"
#include "hl_store_shm.h"

#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define T0 ((apr_time_t)1700000000 * APR_USEC_PER_SEC)
#define UNIT 16                 /* hl_cache.h: links count 16-byte units */
#define OLD_CACHE (64 * 1024)
#define NKEYS 120

static const hl_shm_params old_params = { 16, OLD_CACHE, 250, 4096 };

typedef struct segment {
    hl_shm_plan plan;
    unsigned char *base;
} segment;

static segment segment_new(apr_size_t cache_bytes, apr_uint32_t history)
{
    hl_shm_params p = old_params;
    segment s;
    p.cache_bytes = cache_bytes;
    p.history_capacity = history;
    ck_assert_int_eq(hl_shm_plan_make(&p, &s.plan), APR_SUCCESS);
    s.base = calloc(1, s.plan.total_size);
    ck_assert_ptr_nonnull(s.base);
    ck_assert_int_eq(hl_shm_format(s.base, &s.plan, T0), APR_SUCCESS);
    return s;
}

static hl_cache *cache_in(const segment *s)
{
    return hl_shm_cache_region(s->base, &s->plan);
}

/* An old segment as a busy server leaves it: counter and history, entries
 * of several sizes, some hit, some deleted (free blocks between), one with
 * a TTL. */
static segment old_segment(void)
{
    segment s = segment_new(OLD_CACHE, old_params.history_capacity);
    hl_cache *c = cache_in(&s);
    hl_counter *ctr = hl_shm_counter_region(s.base, &s.plan);
    char key[32], val[300];
    int i;

    memset(val, 'v', sizeof(val));
    for (i = 0; i < 40; i++) {
        apr_uint64_t v;
        hl_counter_increment(ctr, T0 + i, 1000 + i, &v);
    }
    for (i = 0; i < NKEYS; i++) {
        apr_snprintf(key, sizeof(key), "key-%03d", i);
        ck_assert_int_eq(hl_cache_set(c, key, strlen(key), val,
                                      (apr_size_t)(i * 7) % sizeof(val),
                                      T0 + i, i == 5 ? 800 : 0, NULL),
                         APR_SUCCESS);
    }
    for (i = 0; i < NKEYS; i += 9) {
        hl_cache_result r;
        apr_snprintf(key, sizeof(key), "key-%03d", i);
        hl_cache_get(c, test_pool, key, strlen(key), T0 + 500 + i, &r);
    }
    for (i = 3; i < NKEYS; i += 11) {
        apr_snprintf(key, sizeof(key), "key-%03d", i);
        hl_cache_delete(c, key, strlen(key), T0 + 700);
    }
    return s;
}

/* A field of the cache header or of a block header, read or written as a
 * hostile child would. */
static apr_uint64_t peek(const void *at, const char *name)
{
    apr_uint64_t v;
    ck_assert_int_eq(hl_cache_field_get(at, name, &v), APR_SUCCESS);
    return v;
}

static void poke(void *at, const char *name, apr_uint64_t v)
{
    ck_assert_int_eq(hl_cache_field_set(at, name, v), APR_SUCCESS);
}

/* The byte address of the n-th block of the data area whose state is
 * state (0: any state), found by walking the intact area. */
static unsigned char *nth_block(hl_cache *c, unsigned n, apr_uint32_t state)
{
    apr_uint64_t o = peek(c, "data_start"), end = peek(c, "data_end");
    while (o < end) {
        unsigned char *b = (unsigned char *)c + o * UNIT;
        apr_uint64_t size = peek(b, "block.size");
        ck_assert_uint_gt(size, 0);
        if ((!state || peek(b, "block.state") == state) && n-- == 0)
            return b;
        o += size;
    }
    ck_abort_msg("no such block");
    return NULL;
}

#define B_LIVE 0x4c495645u   /* hl_cache_impl.h's state word of an entry */

static void assert_valid(const hl_cache *c)
{
    char why[256];
    apr_status_t rv = hl_cache_validate(c, why, sizeof(why));
    ck_assert_msg(rv == APR_SUCCESS, "cache invalid: %s", why);
}

/* Migrates old (damaged or not) into fresh segments larger and smaller:
 * old must come out byte for byte unchanged, and each new cache valid.
 * Returns the status of the first migration; *entries gets the entries
 * it carried over. */
static apr_status_t migrate_all(const segment *old, apr_uint64_t *entries)
{
    static const apr_size_t sizes[] = { 128 * 1024, 16 * 1024 };
    unsigned char *before = malloc(old->plan.total_size);
    apr_status_t first = APR_SUCCESS;
    unsigned i;

    ck_assert_ptr_nonnull(before);
    memcpy(before, old->base, old->plan.total_size);
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        segment fresh = segment_new(sizes[i], 8 + 24 * i);
        hl_cache_stats st;
        apr_status_t rv = hl_shm_migrate(fresh.base, &fresh.plan, old->base,
                                         &old->plan, T0 + 1000);
        ck_assert_msg(memcmp(before, old->base, old->plan.total_size) == 0,
                      "the migration wrote into the old segment");
        assert_valid(cache_in(&fresh));
        hl_cache_stats_read(cache_in(&fresh), &st);
        ck_assert_uint_le(st.bytes_used, st.capacity_bytes);
        if (i == 0) {
            first = rv;
            if (entries)
                *entries = st.total_entries;
        }
        free(fresh.base);
    }
    free(before);
    return first;
}

/* The undamaged segment: reused as is, migrated whole. */
START_TEST(test_sound_segment_migrates)
{
    segment old = old_segment();
    segment fresh = segment_new(128 * 1024, 64);
    hl_counter_snapshot snap;
    hl_cache_stats st;
    hl_cache_result r;
    apr_uint64_t n;

    ck_assert_int_eq(hl_shm_check(old.base, &old.plan), APR_SUCCESS);
    hl_cache_stats_read(cache_in(&old), &st);
    ck_assert_int_eq(migrate_all(&old, &n), APR_SUCCESS);
    ck_assert_uint_eq(n, st.total_entries - 1);      /* key-005 has expired */
    ck_assert_int_eq(hl_shm_migrate(fresh.base, &fresh.plan, old.base, &old.plan,
                                    T0 + 1000), APR_SUCCESS);
    hl_counter_snapshot_read(hl_shm_counter_region(fresh.base, &fresh.plan),
                             HL_RECENT_MAX, &snap);
    ck_assert_uint_eq(snap.current_value, 40);
    ck_assert(snap.recent[0].complete);
    ck_assert_int_eq(snap.recent[0].pid, 1039);
    ck_assert_int_eq(hl_cache_get(cache_in(&fresh), test_pool, "key-009", 7,
                                  T0 + 1001, &r), APR_SUCCESS);
    ck_assert_uint_eq(r.access_count, 2);             /* the hit travelled */
    ck_assert_uint_eq(r.vlen, 63);
    /* The version travelled too (the copy goes through the snapshot's
     * import), and the counter: no version of old is handed out again. */
    {
        hl_cache_result o;
        hl_cache_written w;
        ck_assert_int_eq(hl_cache_get(cache_in(&old), test_pool, "key-009", 7,
                                      T0 + 1001, &o), APR_SUCCESS);
        ck_assert_uint_ne(o.version, 0);
        ck_assert_uint_eq(r.version, o.version);
        ck_assert_uint_ge(hl_cache_versions_last(cache_in(&fresh)),
                          hl_cache_versions_last(cache_in(&old)));
        memset(&w, 0, sizeof(w));
        ck_assert_int_eq(hl_cache_put(cache_in(&fresh), "new", 3, "v", 1,
                                      T0 + 1002, 0, NULL, &w), APR_SUCCESS);
        ck_assert_uint_gt(w.version, hl_cache_versions_last(cache_in(&old)));
    }
    free(fresh.base);
    free(old.base);
}
END_TEST

/* A child that died mid-update: the copy reads the committed entries off
 * the data area and leaves the old segment as it was (no repair in it). */
START_TEST(test_dead_writer_copied_without_repair)
{
    segment old = old_segment();
    segment fresh = segment_new(128 * 1024, 64);
    hl_cache_repairs st;

    ck_assert_int_eq(hl_cache_set_interrupted(cache_in(&old), "half", 4, "x", 1,
                                              T0 + 800, 0, 4), APR_EINTR);
    ck_assert_uint_eq(peek(cache_in(&old), "writer_active"), 1);
    ck_assert_int_eq(migrate_all(&old, NULL), APR_SUCCESS);
    ck_assert_uint_eq(peek(cache_in(&old), "writer_active"), 1);
    ck_assert_int_eq(hl_shm_migrate(fresh.base, &fresh.plan, old.base, &old.plan,
                                    T0 + 1000), APR_SUCCESS);
    hl_cache_repairs_read(cache_in(&fresh), &st);
    ck_assert_uint_eq(st.recoveries, 1);
    ck_assert_ptr_nonnull(strstr(st.last_recovery, "died mid-update"));
    free(fresh.base);
    free(old.base);
}
END_TEST

/* Header words of the cache region a child may change: the reuse check
 * and the migration both refuse the segment. */
static const struct { const char *field; apr_uint64_t value; } bad_geometry[] = {
    { "bucket_off",  0x10000000u },     /* the reported crash: memset */
    { "bucket_off",  1 },
    { "data_start",  0xfffffff0u },
    { "data_start",  0 },
    { "data_end",    0xffffffffu },
    { "data_end",    1 },
    { "touch_off",   0x7fffffffu },
    { "ntouch",      0xffffffffu },
    { "nbuckets",    0x80000000u },
    { "nbuckets",    0 },
    { "region_size", (apr_uint64_t)1 << 40 },
    { "max_key",     0xffffffffu },
    { "max_value",   (apr_uint64_t)1 << 40 },
    { "magic",       0 },
};

START_TEST(test_hostile_cache_geometry_refused)
{
    segment old = old_segment();
    unsigned char *pristine = malloc(old.plan.total_size);
    unsigned i;

    memcpy(pristine, old.base, old.plan.total_size);
    for (i = 0; i < sizeof(bad_geometry) / sizeof(bad_geometry[0]); i++) {
        memcpy(old.base, pristine, old.plan.total_size);
        poke(cache_in(&old), "writer_active", 1);
        poke(cache_in(&old), bad_geometry[i].field, bad_geometry[i].value);
        ck_assert_msg(hl_shm_check(old.base, &old.plan) != APR_SUCCESS,
                      "reuse accepted %s", bad_geometry[i].field);
        ck_assert_msg(migrate_all(&old, NULL) != APR_SUCCESS,
                      "migration accepted %s", bad_geometry[i].field);
    }
    free(pristine);
    free(old.base);
}
END_TEST

/* The segment header and the counter region, changed by a child. */
START_TEST(test_hostile_segment_header_refused)
{
    static const apr_size_t fields[] = {
        offsetof(hl_shm_header, total_size), offsetof(hl_shm_header, counter_off),
        offsetof(hl_shm_header, counter_size),
        offsetof(hl_shm_header, history_capacity),
        offsetof(hl_shm_header, cache_off), offsetof(hl_shm_header, cache_size),
        offsetof(hl_shm_header, cache_max_key),
        offsetof(hl_shm_header, cache_max_value),
    };
    static const apr_uint64_t values[] = { 0, 1, 0xffffffffffffull, 64 };
    segment old = old_segment();
    unsigned char *pristine = malloc(old.plan.total_size);
    unsigned i, j;

    memcpy(pristine, old.base, old.plan.total_size);
    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        for (j = 0; j < sizeof(values) / sizeof(values[0]); j++) {
            memcpy(old.base, pristine, old.plan.total_size);
            memcpy(old.base + fields[i], &values[j], sizeof(values[j]));
            ck_assert_int_ne(hl_shm_check(old.base, &old.plan), APR_SUCCESS);
            ck_assert_int_ne(migrate_all(&old, NULL), APR_SUCCESS);
        }
    /* The counter's own capacity word: 0 would divide by zero, a large
     * one would place slots past the region. */
    for (j = 0; j < sizeof(values) / sizeof(values[0]); j++) {
        memcpy(old.base, pristine, old.plan.total_size);
        memcpy(old.base + old.plan.counter_off + sizeof(apr_uint64_t),
               &values[j], sizeof(values[j]));
        ck_assert_int_ne(hl_shm_check(old.base, &old.plan), APR_SUCCESS);
        ck_assert_int_ne(migrate_all(&old, NULL), APR_SUCCESS);
    }
    free(pristine);
    free(old.base);
}
END_TEST

/* Blocks of the data area a child damaged: a walk that cannot reach
 * data_end, or an entry longer than its block or the limits, is refused
 * (the new cache stays valid); damage the copy need not trust (links,
 * slot ids, a key twice) is copied around. */
START_TEST(test_hostile_blocks)
{
    segment old = old_segment();
    unsigned char *pristine = malloc(old.plan.total_size);
    hl_cache *c = cache_in(&old);
    apr_uint64_t n, all;

    memcpy(pristine, old.base, old.plan.total_size);
    ck_assert_int_eq(migrate_all(&old, &all), APR_SUCCESS);

#define AGAIN() memcpy(old.base, pristine, old.plan.total_size)
    AGAIN(); poke(nth_block(c, 0, 0), "block.size", 0);
    ck_assert_int_eq(migrate_all(&old, NULL), APR_EINVAL);
    AGAIN(); poke(nth_block(c, 7, 0), "block.size", 0xffffffffu);
    ck_assert_int_eq(migrate_all(&old, NULL), APR_EINVAL);
    AGAIN(); poke(nth_block(c, 7, 0), "block.size", 1);
    ck_assert_int_eq(migrate_all(&old, NULL), APR_EINVAL);
    AGAIN(); poke(nth_block(c, 3, 0), "block.state", 0x12345678u);
    ck_assert_int_eq(migrate_all(&old, NULL), APR_EINVAL);
    AGAIN(); poke(nth_block(c, 4, B_LIVE), "block.klen", 251);
    ck_assert_int_eq(migrate_all(&old, NULL), APR_EINVAL);
    AGAIN(); poke(nth_block(c, 4, B_LIVE), "block.klen", 0);
    ck_assert_int_eq(migrate_all(&old, NULL), APR_EINVAL);
    AGAIN(); poke(nth_block(c, 4, B_LIVE), "block.vlen", 0xfffffff0u);
    ck_assert_int_eq(migrate_all(&old, NULL), APR_EINVAL);
    AGAIN(); poke(nth_block(c, 4, B_LIVE), "block.vlen", 4000);
    ck_assert_int_eq(migrate_all(&old, NULL), APR_EINVAL);  /* past its block */

    /* Links and ids the copy never follows, or checks first. */
    AGAIN();
    poke(c, "writer_active", 1);
    poke(c, "lru_head", 0xffffffffu);
    poke(c, "lru_tail", 0xfffffff0u);
    poke(c, "exp_count", 0xffffffffu);
    poke(c, "total_entries", 0xffffffffffffull);
    poke(nth_block(c, 2, B_LIVE), "block.prev", 0xffffffffu);
    poke(nth_block(c, 2, B_LIVE), "block.next", 3);
    poke(nth_block(c, 3, B_LIVE), "block.hpos", 0xffffffffu);
    poke(nth_block(c, 5, B_LIVE), "block.hnext", 0x7fffffffu);
    poke(nth_block(c, 6, B_LIVE), "block.id", 0xffffffffu);
    poke(nth_block(c, 8, B_LIVE), "block.id", 0);
    ck_assert_int_eq(migrate_all(&old, &n), APR_SUCCESS);
    ck_assert_uint_eq(n, all);

    /* One key twice: the copy keeps one. */
    AGAIN();
    {
        apr_size_t w, data;
        ck_assert_int_eq(hl_cache_field("block.data", &data, &w), APR_SUCCESS);
        memcpy(nth_block(c, 1, B_LIVE) + data, nth_block(c, 0, B_LIVE) + data, 7);
    }
    ck_assert_int_eq(migrate_all(&old, &n), APR_SUCCESS);
    ck_assert_uint_eq(n, all - 1);
#undef AGAIN
    free(pristine);
    free(old.base);
}
END_TEST

/* Random damage anywhere in the segment, seeded so a failure repeats:
 * bit flips over the whole segment and whole words written at header and
 * block fields.  Whatever the check and the migration answer, nothing
 * crashes, the old segment is not written and the new caches validate. */
START_TEST(test_random_damage)
{
    static const char *const fields[] = {
        "writer_active", "bucket_off", "data_start", "data_end", "touch_off",
        "ntouch", "nbuckets", "lru_head", "lru_tail", "touch_free",
    };
    segment old = old_segment();
    unsigned char *pristine = malloc(old.plan.total_size);
    apr_uint64_t seed = 0x5eed0000u + (apr_uint64_t)_i;
    int round, refused = 0, copied = 0;

    memcpy(pristine, old.base, old.plan.total_size);
    for (round = 0; round < 150; round++) {
        int k, flips = 1 + (int)(test_rand(&seed) % 32);
        memcpy(old.base, pristine, old.plan.total_size);
        for (k = 0; k < flips; k++) {
            apr_uint64_t r = test_rand(&seed);
            apr_size_t at;
            switch (r % 4) {
            case 0:   /* anywhere */
                at = (apr_size_t)((r >> 8) % (old.plan.total_size * 8));
                old.base[at / 8] ^= (unsigned char)(1u << (at % 8));
                break;
            case 1:   /* a cache header field, a random word */
                poke(cache_in(&old),
                     fields[(r >> 8) % (sizeof(fields) / sizeof(fields[0]))],
                     test_rand(&seed));
                break;
            case 2: { /* a block header word in the data area */
                apr_size_t start = old.plan.cache_off
                    + (apr_size_t)peek((hl_cache *)(pristine + old.plan.cache_off),
                                       "data_start") * UNIT;
                at = start + (apr_size_t)((r >> 8) % ((old.plan.total_size - start) / 4)) * 4;
                apr_uint32_t v = (apr_uint32_t)(test_rand(&seed) >> (r & 31));
                memcpy(old.base + at, &v, sizeof(v));
                break;
            }
            default:  /* a small change to a header or counter word */
                at = (apr_size_t)((r >> 8) % (old.plan.cache_off / 8)) * 8;
                old.base[at] += (unsigned char)(1 + (r >> 40) % 3);
                break;
            }
        }
        hl_shm_check(old.base, &old.plan);
        if (migrate_all(&old, NULL) == APR_SUCCESS)
            copied++;
        else
            refused++;
    }
    /* Both outcomes were exercised. */
    ck_assert_int_gt(refused, 0);
    ck_assert_int_gt(copied, 0);
    free(pristine);
    free(old.base);
}
END_TEST

/* A child writing the old segment while the parent copies it (ignoring
 * the lock and the pause, as a hostile child would): whatever the copy
 * takes or refuses, it reads only the old segment, writes only the new
 * one, and leaves that valid. */
typedef struct racer {
    unsigned char *from;
    apr_size_t words;
    apr_uint64_t seed;
    int started, stop;
} racer;

static void *APR_THREAD_FUNC race_writes(apr_thread_t *t, void *arg)
{
    racer *r = arg;
    __atomic_store_n(&r->started, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
        apr_uint64_t x = test_rand(&r->seed);
        apr_uint32_t *at = (apr_uint32_t *)r->from + (x >> 8) % r->words;
        __atomic_store_n(at, (apr_uint32_t)(test_rand(&r->seed) >> (x & 31)),
                         __ATOMIC_RELAXED);
    }
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

START_TEST(test_writes_during_the_copy)
{
    segment old = old_segment();
    unsigned char *pristine = malloc(old.plan.total_size);
    int round;

    memcpy(pristine, old.base, old.plan.total_size);
    for (round = 0; round < 40; round++) {
        segment fresh = segment_new(round % 2 ? 16 * 1024 : 128 * 1024, 8);
        racer r;
        apr_thread_t *t;
        apr_status_t rv, trv;

        memcpy(old.base, pristine, old.plan.total_size);
        r.from = old.base + old.plan.cache_off;
        r.words = old.plan.cache_size / 4;
        r.seed = 0xc0ffee00u + (apr_uint64_t)round;
        r.started = r.stop = 0;
        ck_assert_int_eq(apr_thread_create(&t, NULL, race_writes, &r, test_pool),
                         APR_SUCCESS);
        while (!__atomic_load_n(&r.started, __ATOMIC_ACQUIRE))
            apr_thread_yield();
        rv = hl_shm_migrate(fresh.base, &fresh.plan, old.base, &old.plan,
                            T0 + 1000);
        __atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
        apr_thread_join(&trv, t);
        ck_assert(rv == APR_SUCCESS || rv == APR_EINVAL || rv == APR_EGENERAL);
        assert_valid(cache_in(&fresh));
        free(fresh.base);
    }
    free(pristine);
    free(old.base);
}
END_TEST

/* The store: a segment that fails its checks is neither reused nor
 * copied; the new one starts empty and says why. */
START_TEST(test_store_distrusts_hostile_segment)
{
    hl_shm_params sp = old_params, bigger = old_params;
    hl_store *st, *next;
    hl_store_origin origin;
    hl_cache_stats cs;
    hl_counter_snapshot snap;
    apr_uint64_t v;
    hl_cache *c;

    bigger.cache_bytes = 2 * OLD_CACHE;
    ck_assert_int_eq(hl_store_shm_open(&st, &sp, NULL, test_pool, &origin),
                     APR_SUCCESS);
    ck_assert_int_eq(hl_store_cache_set(st, "k", 1, "v", 1, T0, 0, NULL),
                     APR_SUCCESS);
    c = hl_shm_cache_region(hl_store_shm_base(st), hl_store_shm_plan(st));
    poke(c, "writer_active", 1);
    poke(c, "bucket_off", 0x10000000u);
    /* Same sizes: not reused. */
    ck_assert_int_eq(hl_store_shm_open(&next, &sp, st, test_pool, &origin),
                     APR_SUCCESS);
    ck_assert_int_eq(origin, HL_STORE_DISTRUSTED);
    ck_assert_ptr_ne(next, st);
    ck_assert_int_eq(hl_store_cache_stats(next, &cs), APR_SUCCESS);
    ck_assert_uint_eq(cs.total_entries, 0);
    assert_valid(hl_shm_cache_region(hl_store_shm_base(next), hl_store_shm_plan(next)));

    /* New sizes, a data area that breaks the walk: the counter is not
     * kept either. */
    ck_assert_int_eq(hl_store_cache_set(next, "k", 1, "v", 1, T0, 0, NULL),
                     APR_SUCCESS);
    hl_store_counter_increment(next, 1, &v);
    c = hl_shm_cache_region(hl_store_shm_base(next), hl_store_shm_plan(next));
    poke(nth_block(c, 0, B_LIVE), "block.size", 0);
    ck_assert_int_eq(hl_store_shm_open(&st, &bigger, next, test_pool, &origin),
                     APR_SUCCESS);
    ck_assert_int_eq(origin, HL_STORE_DISTRUSTED);
    hl_store_counter_snapshot(st, 1, &snap);
    ck_assert_uint_eq(snap.current_value, 0);
    ck_assert_int_eq(hl_store_cache_stats(st, &cs), APR_SUCCESS);
    ck_assert_uint_eq(cs.total_entries, 0);
}
END_TEST

/* An upgrade across a graceful restart: the old cache region is another
 * version's (its entries had another shape).  The counter comes over; the
 * cache is left behind, unread, and the new one starts empty. */
START_TEST(test_cache_of_another_version_left_behind)
{
    hl_shm_params sp = old_params;
    segment old = old_segment();
    segment fresh = segment_new(128 * 1024, 64);
    hl_counter_snapshot snap;
    hl_cache_stats st;
    hl_store *st1, *st2;
    hl_store_origin origin;
    apr_uint64_t v;
    hl_cache *c;

    /* hl_shm_migrate alone refuses it, as any cache it cannot read. */
    poke(cache_in(&old), "version", peek(cache_in(&old), "version") - 1);
    ck_assert_int_ne(hl_shm_check(old.base, &old.plan), APR_SUCCESS);
    ck_assert_int_eq(hl_shm_migrate(fresh.base, &fresh.plan, old.base, &old.plan,
                                    T0 + 1000), APR_EGENERAL);
    free(fresh.base);
    free(old.base);

    /* Through the store: the origin says so, the counter goes on. */
    ck_assert_int_eq(hl_store_shm_open(&st1, &sp, NULL, test_pool, &origin),
                     APR_SUCCESS);
    ck_assert_int_eq(hl_store_cache_set(st1, "k", 1, "v", 1, T0, 0, NULL),
                     APR_SUCCESS);
    hl_store_counter_increment(st1, 1, &v);
    hl_store_counter_increment(st1, 1, &v);
    c = hl_shm_cache_region(hl_store_shm_base(st1), hl_store_shm_plan(st1));
    poke(c, "version", peek(c, "version") + 1);
    ck_assert_int_eq(hl_store_shm_open(&st2, &sp, st1, test_pool, &origin),
                     APR_SUCCESS);
    ck_assert_int_eq(origin, HL_STORE_CACHE_LEFT);
    hl_store_counter_snapshot(st2, 1, &snap);
    ck_assert_uint_eq(snap.current_value, 2);
    ck_assert_int_eq(hl_store_cache_stats(st2, &st), APR_SUCCESS);
    ck_assert_uint_eq(st.total_entries, 0);
}
END_TEST

/* A store left by an older build (backend 1, no plan in its record) is
 * not read at all: its record would be shorter than this build's. */
START_TEST(test_store_of_an_older_build_not_read)
{
    hl_store legacy = { NULL, NULL, HL_STORE_BACKEND_SHM_NOPLAN };
    hl_store *st;
    hl_store_origin origin;

    ck_assert_int_eq(hl_store_shm_open(&st, &old_params, &legacy, test_pool, &origin), APR_SUCCESS);
    ck_assert_int_eq(origin, HL_STORE_REPLACED);
    ck_assert_ptr_ne(st, &legacy);
    assert_valid(hl_shm_cache_region(hl_store_shm_base(st), hl_store_shm_plan(st)));
}
END_TEST

Suite *shm_suite(void)
{
    Suite *s = suite_create("shm");
    TCase *tc = tcase_create("hostile");

    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_sound_segment_migrates);
    tcase_add_test(tc, test_dead_writer_copied_without_repair);
    tcase_add_test(tc, test_hostile_cache_geometry_refused);
    tcase_add_test(tc, test_hostile_segment_header_refused);
    tcase_add_test(tc, test_hostile_blocks);
    tcase_add_loop_test(tc, test_random_damage, 0, 4);
    tcase_add_test(tc, test_writes_during_the_copy);
    tcase_add_test(tc, test_store_distrusts_hostile_segment);
    tcase_add_test(tc, test_store_of_an_older_build_not_read);
    tcase_add_test(tc, test_cache_of_another_version_left_behind);
    suite_add_tcase(s, tc);
    return s;
}
