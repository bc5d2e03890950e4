/* The snapshot file of the shm store (hl_snapshot.h): what a save writes
 * a load gives back (counter, history, entries with their bytes, times and
 * access counts and versions, the cache's counters and its version
 * counter, so no version is handed out twice), expired entries are dropped,
 * smaller sizes keep what fits (the newest), and a file that is missing,
 * empty, truncated, bit-flipped, of another version, with times out of
 * range, unreadable or not a file is refused whole: moved aside to .bad,
 * the segment empty and valid.  A segment a child damaged is not written, and the file keeps
 * the previous snapshot.
 *
 * With HL_SNAPSHOT_SEEDS=dir set, the round-trip test also leaves small
 * real snapshots in dir: the seed corpus of fuzz/fuzz_snapshot.c. */
#include "check_hl.h"
#include "hl_cache.h"
#include "hl_counter.h"
#include "hl_shm_layout.h"
#include "hl_snapshot.h"
#include "hl_store.h"

#include <ftw.h>
#include <stdio.h>

#include <apr_file_io.h>
#include <apr_file_info.h>
#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define T0 ((apr_time_t)1700000000 * APR_USEC_PER_SEC)
#define SEC APR_USEC_PER_SEC
#define NKEYS 60
#define HISTORY 16

typedef struct segment {
    hl_shm_plan plan;
    unsigned char *base;
} segment;

static segment segment_new(apr_uint32_t history, apr_size_t cache_bytes,
                           apr_size_t max_value)
{
    hl_shm_params p = { history, cache_bytes, 250, max_value };
    segment s;
    ck_assert_int_eq(hl_shm_plan_make(&p, &s.plan), APR_SUCCESS);
    s.base = calloc(1, s.plan.total_size);
    ck_assert_ptr_nonnull(s.base);
    ck_assert_int_eq(hl_shm_format(s.base, &s.plan, T0), APR_SUCCESS);
    return s;
}

static hl_cache *cache_of(const segment *s)
{
    return hl_shm_cache_region(s->base, &s->plan);
}

static hl_counter *counter_of(const segment *s)
{
    return hl_shm_counter_region(s->base, &s->plan);
}

static void assert_valid(const segment *s)
{
    char why[256];
    apr_status_t rv = hl_cache_validate(cache_of(s), why, sizeof(why));
    ck_assert_msg(rv == APR_SUCCESS, "cache invalid: %s", why);
}

/* Key i: binary, with a NUL and high bytes; value i: i * 13 % 700 bytes. */
static apr_size_t key_of(int i, unsigned char *key)
{
    apr_size_t n = 3 + (apr_size_t)(i % 5);
    key[0] = (unsigned char)i;
    key[1] = 0;
    key[2] = 0xff;
    memset(key + 3, 0x80 + i % 7, n - 3);
    return n;
}

static apr_size_t value_of(int i, unsigned char *val)
{
    apr_size_t n = (apr_size_t)(i * 13) % 700, k;
    for (k = 0; k < n; k++)
        val[k] = (unsigned char)(k * 31 + (apr_size_t)i);
    return n;
}

/* A busy segment: 40 increments (the history keeps the newest 16),
 * NKEYS entries set at T0 + i, every third hit i % 4 + 1 times later, two
 * deleted, key 7 expiring at T0 + 100 s and key 8 at T0 + 1000 s. */
static segment busy_segment(apr_uint32_t history, apr_size_t cache_bytes)
{
    segment s = segment_new(history, cache_bytes, 4096);
    unsigned char key[16], val[800];
    int i, k;
    for (i = 0; i < 40; i++) {
        apr_uint64_t v;
        hl_counter_increment(counter_of(&s), T0 + i, 3000 + i, &v);
    }
    for (i = 0; i < NKEYS; i++) {
        apr_size_t kl = key_of(i, key), vl = value_of(i, val);
        apr_interval_time_t ttl = i == 7 ? 100 * SEC - i : i == 8 ? 1000 * SEC - i : 0;
        ck_assert_int_eq(hl_cache_set(cache_of(&s), key, kl, val, vl, T0 + i,
                                      ttl, NULL), APR_SUCCESS);
    }
    for (i = 0; i < NKEYS; i += 3)
        for (k = 0; k <= i % 4; k++) {
            hl_cache_result r;
            apr_size_t kl = key_of(i, key);
            ck_assert_int_eq(hl_cache_get(cache_of(&s), test_pool, key, kl,
                                          T0 + 50 + i, &r), APR_SUCCESS);
        }
    ck_assert_int_eq(hl_cache_delete(cache_of(&s), key, key_of(10, key), T0 + 60),
                     APR_SUCCESS);
    ck_assert_int_eq(hl_cache_delete(cache_of(&s), key, key_of(11, key), T0 + 60),
                     APR_SUCCESS);
    hl_cache_result miss;
    hl_cache_get(cache_of(&s), test_pool, "nope", 4, T0 + 61, &miss);
    return s;
}

static const char *temp_dir(void)
{
    const char *tmp;
    char *dir;
    ck_assert_int_eq(apr_temp_dir_get(&tmp, test_pool), APR_SUCCESS);
    dir = apr_pstrcat(test_pool, tmp, "/hl-snapshot-XXXXXX", NULL);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    return dir;
}

static int remove_one(const char *path, const struct stat *st, int flag,
                      struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    chmod(path, 0700);
    return remove(path);
}

static void remove_dir(const char *dir)
{
    ck_assert_int_eq(nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS), 0);
}

static int exists(const char *path)
{
    apr_finfo_t fi;
    return apr_stat(&fi, path, APR_FINFO_TYPE, test_pool) == APR_SUCCESS;
}

static unsigned char *slurp(const char *path, apr_size_t *len)
{
    apr_file_t *f;
    apr_finfo_t fi;
    unsigned char *buf;
    ck_assert_int_eq(apr_file_open(&f, path, APR_FOPEN_READ, 0, test_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(apr_file_info_get(&fi, APR_FINFO_SIZE, f), APR_SUCCESS);
    *len = (apr_size_t)fi.size;
    buf = apr_palloc(test_pool, *len + 1);
    if (*len)
        ck_assert_int_eq(apr_file_read_full(f, buf, *len, NULL), APR_SUCCESS);
    apr_file_close(f);
    return buf;
}

static void spill(const char *path, const void *buf, apr_size_t len)
{
    apr_file_t *f;
    ck_assert_int_eq(apr_file_open(&f, path, APR_FOPEN_WRITE | APR_FOPEN_CREATE
                                   | APR_FOPEN_TRUNCATE, APR_FPROT_OS_DEFAULT,
                                   test_pool), APR_SUCCESS);
    if (len)
        ck_assert_int_eq(apr_file_write_full(f, buf, len, NULL), APR_SUCCESS);
    apr_file_close(f);
}

static void save_ok(const segment *s, const char *path, apr_time_t now,
                    hl_persist_report *rep)
{
    memset(rep, 0, sizeof(*rep));
    apr_status_t rv = hl_snapshot_save(s->base, &s->plan, path, now,
                                       HL_PERSIST_AT_STOP, test_pool, rep);
    ck_assert_msg(rv == APR_SUCCESS, "save: %s", rep->why);
    ck_assert(!exists(apr_pstrcat(test_pool, path, ".tmp", NULL)));
}

/* Entry i of a and b: the same bytes, times, access count and version. */
static void assert_same_entry(const segment *a, const segment *b, int i,
                              apr_time_t now)
{
    unsigned char key[16];
    apr_size_t kl = key_of(i, key);
    hl_cache_result ra, rb;
    ck_assert_int_eq(hl_cache_get(cache_of(a), test_pool, key, kl, now, &ra),
                     APR_SUCCESS);
    ck_assert_msg(hl_cache_get(cache_of(b), test_pool, key, kl, now, &rb)
                  == APR_SUCCESS, "entry %d not restored", i);
    ck_assert_uint_eq(ra.vlen, rb.vlen);
    ck_assert(memcmp(ra.value, rb.value, ra.vlen) == 0);
    ck_assert_uint_eq(ra.access_count, rb.access_count);
    ck_assert_int_eq(ra.set_time, rb.set_time);
    ck_assert_int_eq(ra.expires, rb.expires);
    ck_assert_uint_gt(ra.version, 0);
    ck_assert_uint_eq(ra.version, rb.version);
}

static void assert_same_history(const segment *a, const segment *b, int n)
{
    hl_counter_snapshot sa, sb;
    int i;
    ck_assert_int_eq(hl_counter_snapshot_read(counter_of(a), HL_RECENT_MAX, &sa),
                     APR_SUCCESS);
    ck_assert_int_eq(hl_counter_snapshot_read(counter_of(b), HL_RECENT_MAX, &sb),
                     APR_SUCCESS);
    ck_assert_uint_eq(sa.current_value, sb.current_value);
    for (i = 0; i < n && i < sa.n_recent; i++) {
        ck_assert_uint_eq(sa.recent[i].value, sb.recent[i].value);
        ck_assert_int_eq(sb.recent[i].complete, 1);
        ck_assert_int_eq(sa.recent[i].time, sb.recent[i].time);
        ck_assert_int_eq(sa.recent[i].pid, sb.recent[i].pid);
    }
}

static apr_uint64_t entries_in(const segment *s)
{
    hl_cache_stats st;
    hl_cache_stats_read(cache_of(s), &st);
    return st.total_entries;
}

/* Writes small real snapshots for the fuzz target's seed corpus. */
static void write_seeds(void)
{
    const char *dir = getenv("HL_SNAPSHOT_SEEDS");
    hl_persist_report rep;
    segment small, empty;
    unsigned char key[16], val[800];
    int i;
    if (!dir)
        return;
    small = segment_new(4, 64 * 1024, 64);
    empty = segment_new(2, 0, 0);
    for (i = 0; i < 6; i++) {
        apr_uint64_t v;
        hl_counter_increment(counter_of(&small), T0 + i, 77 + i, &v);
        ck_assert_int_eq(hl_cache_set(cache_of(&small), key, key_of(i, key),
                                      val, value_of(i, val) % 40, T0 + i,
                                      i == 2 ? 5 * SEC : 0, NULL), APR_SUCCESS);
    }
    save_ok(&small, apr_pstrcat(test_pool, dir, "/small.snap", NULL), T0 + 10, &rep);
    save_ok(&empty, apr_pstrcat(test_pool, dir, "/no-cache.snap", NULL), T0, &rep);
    free(small.base);
    free(empty.base);
}

/* What most tests start from: a busy segment saved to dir/s at T0 + 70,
 * what the save said, and the file's bytes. */
typedef struct fixture {
    const char *dir, *path;
    segment a;
    hl_persist_report saved;
    unsigned char *bytes;
    apr_size_t len;
} fixture;

static fixture fixture_new(void)
{
    fixture f;
    f.dir = temp_dir();
    f.path = apr_pstrcat(test_pool, f.dir, "/s", NULL);
    f.a = busy_segment(HISTORY, 64 * 1024);
    save_ok(&f.a, f.path, T0 + 70, &f.saved);
    f.bytes = slurp(f.path, &f.len);
    return f;
}

static void fixture_free(fixture *f)
{
    free(f->a.base);
    remove_dir(f->dir);
}

START_TEST(test_round_trip)
{
    fixture f = fixture_new();
    segment b = segment_new(HISTORY, 64 * 1024, 4096);
    hl_persist_report loaded, saved = f.saved;
    hl_cache_stats sa, sb;
    unsigned char key[16];
    apr_time_t now = T0 + 200 * SEC;   /* key 7 has expired, key 8 not */
    int i;

    ck_assert_uint_eq(saved.counter_value, 40);
    ck_assert_uint_eq(saved.history_in_file, HISTORY);
    ck_assert_uint_eq(saved.entries_in_file, NKEYS - 2);
    ck_assert_uint_eq(saved.last_version, hl_cache_versions_last(cache_of(&f.a)));
    ck_assert_uint_ge(saved.batches, 1);
    memset(&loaded, 0, sizeof(loaded));
    ck_assert_int_eq(hl_snapshot_load(b.base, &b.plan, f.path, now, test_pool,
                                      &loaded), APR_SUCCESS);
    ck_assert_uint_eq(loaded.counter_value, 40);
    ck_assert_uint_eq(loaded.history_restored, HISTORY);
    ck_assert_uint_eq(loaded.entries_in_file, NKEYS - 2);
    ck_assert_uint_eq(loaded.entries_expired, 1);
    ck_assert_uint_eq(loaded.entries_restored, NKEYS - 3);
    ck_assert_uint_eq(loaded.entries_left_out, 0);
    ck_assert_uint_eq(loaded.last_version, saved.last_version);
    ck_assert_uint_eq(hl_cache_versions_last(cache_of(&b)), saved.last_version);
    ck_assert_uint_eq(loaded.made_with.history_capacity, HISTORY);
    ck_assert_uint_eq(loaded.made_with.cache_max_value, 4096);
    ck_assert_int_eq(loaded.stats_restored, 1);
    assert_valid(&b);
    /* The counters as they were, before any get below changes them. */
    hl_cache_stats_read(cache_of(&f.a), &sa);
    hl_cache_stats_read(cache_of(&b), &sb);
    ck_assert_uint_eq(sb.hits, sa.hits);
    ck_assert_uint_eq(sb.misses, sa.misses);
    ck_assert_uint_eq(sb.sets, sa.sets);
    ck_assert_uint_eq(sb.deletes, sa.deletes);
    ck_assert_uint_eq(sb.evictions, sa.evictions);
    ck_assert_uint_eq(sb.expirations, sa.expirations);
    ck_assert_uint_eq(sb.total_entries, sa.total_entries - 1);
    ck_assert_uint_eq(sb.total_accesses, sa.total_accesses);
    assert_same_history(&f.a, &b, HL_RECENT_MAX);
    for (i = 0; i < NKEYS; i++) {
        apr_size_t kl = key_of(i, key);
        hl_cache_result r;
        if (i == 10 || i == 11 || i == 7)
            ck_assert_int_eq(hl_cache_get(cache_of(&b), test_pool, key, kl, now, &r),
                             APR_NOTFOUND);
        else
            assert_same_entry(&f.a, &b, i, now);
    }
    assert_valid(&b);
    write_seeds();
    free(b.base);
    fixture_free(&f);
}
END_TEST

/* A snapshot written while the server ran brings the entries back but
 * not the cache's counters: they would come back lower than they were
 * last read, which Prometheus takes for a reset and a burst. */
START_TEST(test_a_periodic_snapshot_restores_no_counters)
{
    fixture f = fixture_new();
    segment b = segment_new(HISTORY, 64 * 1024, 4096);
    hl_persist_report saved, loaded;
    hl_cache_stats sa, sb;
    apr_time_t now = T0 + 200 * SEC;

    memset(&saved, 0, sizeof(saved));
    ck_assert_int_eq(hl_snapshot_save(f.a.base, &f.a.plan, f.path, T0 + 100 * SEC,
                                      HL_PERSIST_PERIODIC, test_pool, &saved),
                     APR_SUCCESS);
    memset(&loaded, 0, sizeof(loaded));
    ck_assert_int_eq(hl_snapshot_load(b.base, &b.plan, f.path, now, test_pool,
                                      &loaded), APR_SUCCESS);
    ck_assert_int_eq(loaded.stats_restored, 0);
    ck_assert_uint_eq(loaded.counter_value, 40);
    ck_assert_uint_eq(loaded.entries_restored, NKEYS - 3);
    hl_cache_stats_read(cache_of(&f.a), &sa);
    hl_cache_stats_read(cache_of(&b), &sb);
    ck_assert_uint_gt(sa.hits + sa.sets, 0);
    ck_assert_uint_eq(sb.hits, 0);
    ck_assert_uint_eq(sb.misses, 0);
    ck_assert_uint_eq(sb.sets, 0);
    ck_assert_uint_eq(sb.deletes, 0);
    ck_assert_uint_eq(sb.evictions, 0);
    ck_assert_uint_eq(sb.expirations, 0);
    ck_assert_uint_eq(sb.total_entries, sa.total_entries - 1);
    assert_valid(&b);
    free(b.base);
    fixture_free(&f);
}
END_TEST

typedef struct history_seen {
    apr_uint64_t n, last;
    hl_history_entry e[HISTORY];
} history_seen;

static apr_status_t see_entry(void *ctx, const hl_history_entry *e)
{
    history_seen *h = ctx;
    ck_assert_uint_gt(e->value, h->last);
    h->last = e->value;
    if (h->n < HISTORY)
        h->e[h->n] = *e;
    h->n++;
    return APR_SUCCESS;
}

/* The whole ring comes back, each entry with its time and pid. */
START_TEST(test_whole_history)
{
    fixture f = fixture_new();
    segment b = segment_new(HISTORY, 64 * 1024, 4096);
    hl_persist_report rep;
    history_seen ha, hb;
    apr_uint64_t va, vb, i;

    ck_assert_int_eq(hl_snapshot_load(b.base, &b.plan, f.path, T0, test_pool, &rep),
                     APR_SUCCESS);
    memset(&ha, 0, sizeof(ha));
    memset(&hb, 0, sizeof(hb));
    ck_assert_int_eq(hl_counter_history_each(counter_of(&f.a), HISTORY, &va,
                                             see_entry, &ha), APR_SUCCESS);
    ck_assert_int_eq(hl_counter_history_each(counter_of(&b), HISTORY, &vb,
                                             see_entry, &hb), APR_SUCCESS);
    ck_assert_uint_eq(va, vb);
    ck_assert_uint_eq(ha.n, HISTORY);
    ck_assert_uint_eq(hb.n, HISTORY);
    for (i = 0; i < HISTORY; i++) {
        ck_assert_uint_eq(ha.e[i].value, hb.e[i].value);
        ck_assert_int_eq(ha.e[i].time, hb.e[i].time);
        ck_assert_int_eq(ha.e[i].pid, hb.e[i].pid);
    }
    free(b.base);
    fixture_free(&f);
}
END_TEST

/* The version counter comes back, not just the entries' versions: the
 * last version went to a key deleted before the save, and b is formatted
 * at the same time as a (its counter starts where a's did), so only the
 * file's counter keeps b's next write from reusing it. */
START_TEST(test_versions_never_reused)
{
    segment a = busy_segment(HISTORY, 64 * 1024);
    segment b = segment_new(HISTORY, 64 * 1024, 4096);
    const char *dir = temp_dir(), *path = apr_pstrcat(test_pool, dir, "/s", NULL);
    hl_persist_report rep;
    hl_cache_written w;
    hl_cache_result r;
    apr_uint64_t gone, highest_entry = 0;
    unsigned char key[16];
    int i;

    ck_assert_int_eq(hl_cache_set(cache_of(&a), "gone", 4, "x", 1, T0 + 62, 0,
                                  NULL), APR_SUCCESS);
    ck_assert_int_eq(hl_cache_get(cache_of(&a), test_pool, "gone", 4, T0 + 62,
                                  &r), APR_SUCCESS);
    gone = r.version;
    ck_assert_uint_eq(gone, hl_cache_versions_last(cache_of(&a)));
    ck_assert_int_eq(hl_cache_delete(cache_of(&a), "gone", 4, T0 + 63),
                     APR_SUCCESS);
    save_ok(&a, path, T0 + 70, &rep);
    ck_assert_uint_eq(rep.last_version, gone);
    memset(&rep, 0, sizeof(rep));
    ck_assert_int_eq(hl_snapshot_load(b.base, &b.plan, path, T0 + 70, test_pool,
                                      &rep), APR_SUCCESS);
    for (i = 0; i < NKEYS; i++)
        if (hl_cache_get(cache_of(&b), test_pool, key, key_of(i, key), T0 + 70,
                         &r) == APR_SUCCESS && r.version > highest_entry)
            highest_entry = r.version;
    ck_assert_uint_gt(highest_entry, 0);
    ck_assert_uint_lt(highest_entry, gone);
    memset(&w, 0, sizeof(w));
    ck_assert_int_eq(hl_cache_put(cache_of(&b), "new", 3, "y", 1, T0 + 71, 0,
                                  NULL, &w), APR_SUCCESS);
    ck_assert_uint_gt(w.version, gone);
    free(a.base);
    free(b.base);
    remove_dir(dir);
}
END_TEST

/* Smaller sizes: the newest history and the most recently used entries
 * that fit; a value over the new limit is left out.  The counts add up. */
START_TEST(test_smaller_sizes_keep_what_fits)
{
    fixture f = fixture_new();
    segment b = segment_new(4, 16 * 1024, 500);
    hl_persist_report rep, saved = f.saved;
    hl_counter_snapshot snap;
    unsigned char key[16];
    apr_uint64_t restored;
    int i, newest_kept = 0;

    memset(&rep, 0, sizeof(rep));
    ck_assert_int_eq(hl_snapshot_load(b.base, &b.plan, f.path, T0 + 70, test_pool,
                                      &rep), APR_SUCCESS);
    assert_valid(&b);
    ck_assert_uint_eq(rep.history_restored, 4);
    ck_assert_int_eq(hl_counter_snapshot_read(counter_of(&b), 4, &snap), APR_SUCCESS);
    ck_assert_uint_eq(snap.current_value, 40);
    ck_assert_uint_eq(snap.recent[0].value, 40);
    ck_assert_int_eq(snap.recent[3].complete, 1);
    ck_assert_int_eq(snap.recent[3].time, T0 + 36);
    restored = entries_in(&b);
    ck_assert_uint_eq(rep.entries_restored, restored);
    ck_assert_uint_gt(restored, 0);
    ck_assert_uint_lt(restored, saved.entries_in_file);
    ck_assert_uint_eq(rep.entries_expired, 0);
    ck_assert_uint_eq(rep.entries_left_out, saved.entries_in_file - restored);
    /* The entries hit last (at T0 + 50 + i, every third) are the newest. */
    for (i = NKEYS - 3; i >= 0 && i >= NKEYS - 12; i -= 3) {
        hl_cache_result r;
        apr_size_t kl = key_of(i, key);
        unsigned char val[800];
        if (value_of(i, val) > 500)
            continue;
        if (hl_cache_get(cache_of(&b), test_pool, key, kl, T0 + 70, &r) == APR_SUCCESS)
            newest_kept++;
    }
    ck_assert_int_gt(newest_kept, 0);
    /* A value over the new limit of 500 bytes never comes back. */
    for (i = 0; i < NKEYS; i++) {
        unsigned char val[800];
        hl_cache_result r;
        if (value_of(i, val) > 500)
            ck_assert_int_eq(hl_cache_get(cache_of(&b), test_pool, key,
                                          key_of(i, key), T0 + 70, &r),
                             APR_NOTFOUND);
    }
    free(b.base);
    fixture_free(&f);
}
END_TEST

/* The segment a failed load leaves: freshly formatted and empty. */
static void assert_empty(const segment *s)
{
    hl_counter_snapshot snap;
    ck_assert_int_eq(hl_shm_check(s->base, &s->plan), APR_SUCCESS);
    ck_assert_int_eq(hl_counter_snapshot_read(counter_of(s), 1, &snap), APR_SUCCESS);
    ck_assert_uint_eq(snap.current_value, 0);
    ck_assert_uint_eq(entries_in(s), 0);
    assert_valid(s);
}

/* Loads len bytes of buf written to a file: refused, moved aside whole to
 * .bad, the segment empty; returns the status. */
static apr_status_t load_bad(const char *dir, const void *buf, apr_size_t len,
                             const char *expect_why)
{
    const char *path = apr_pstrcat(test_pool, dir, "/bad", NULL);
    const char *bad = apr_pstrcat(test_pool, path, ".bad", NULL);
    segment b = segment_new(HISTORY, 64 * 1024, 4096);
    hl_persist_report rep;
    unsigned char *moved;
    apr_size_t mlen;
    apr_status_t rv;

    apr_file_remove(bad, test_pool);
    spill(path, buf, len);
    memset(&rep, 0, sizeof(rep));
    rv = hl_snapshot_load(b.base, &b.plan, path, T0, test_pool, &rep);
    ck_assert_int_ne(rv, APR_SUCCESS);
    ck_assert_int_ne(rv, APR_ENOENT);
    ck_assert_msg(rep.why[0], "no reason given");
    if (expect_why)
        ck_assert_msg(strstr(rep.why, expect_why), "why: %s", rep.why);
    ck_assert_int_eq(rep.moved_aside, 1);
    ck_assert(!exists(path));
    moved = slurp(bad, &mlen);
    ck_assert_uint_eq(mlen, len);
    ck_assert(len == 0 || memcmp(moved, buf, len) == 0);
    assert_empty(&b);
    free(b.base);
    return rv;
}

START_TEST(test_bad_files_moved_aside)
{
    fixture f = fixture_new();
    hl_persist_report rep;
    unsigned char *good, *copy;
    apr_size_t len, cut;

    good = f.bytes;
    len = f.len;
    copy = apr_palloc(test_pool, len);

    load_bad(f.dir, "", 0, "empty");
    load_bad(f.dir, "\n", 1, "not a mod_hyperlane snapshot");
    load_bad(f.dir, "HLSNAPSH", 8, "truncated");
    /* Truncated anywhere: the header, a record, the checksum. */
    for (cut = 9; cut < len; cut += cut < 200 ? 17 : len / 7)
        load_bad(f.dir, good, cut, NULL);
    load_bad(f.dir, good, len - 1, NULL);
    /* Another format version: a newer one, and version 1, whose entries
     * had no versions. */
    memcpy(copy, good, len);
    copy[8] = HL_SNAPSHOT_VERSION + 1;
    ck_assert_int_eq(load_bad(f.dir, copy, len, apr_psprintf(test_pool,
                     "format version %u", HL_SNAPSHOT_VERSION + 1)), APR_ENOTIMPL);
    copy[8] = 1;
    ck_assert_int_eq(load_bad(f.dir, copy, len, "format version 1; this build "
                              "reads version 2"), APR_ENOTIMPL);
    /* Bit flips through the file, each alone, through the loader. */
    for (cut = 0; cut < len; cut += 97) {
        memcpy(copy, good, len);
        copy[cut] ^= (unsigned char)(1u << (cut % 8));
        load_bad(f.dir, copy, len, NULL);
    }
    /* A flip in every byte (each time another of its bits) is refused by
     * the check. */
    memcpy(copy, good, len);
    for (cut = 0; cut < len; cut++) {
        hl_persist_report r;
        unsigned char bit = (unsigned char)(1u << (cut % 8));
        copy[cut] ^= bit;
        memset(&r, 0, sizeof(r));
        ck_assert_msg(hl_snapshot_check(copy, len, &r) != APR_SUCCESS,
                      "flip of bit %lu of byte %lu passed",
                      (unsigned long)(cut % 8), (unsigned long)cut);
        copy[cut] ^= bit;
    }
    /* The file is still good. */
    memset(&rep, 0, sizeof(rep));
    ck_assert_int_eq(hl_snapshot_check(good, len, &rep), APR_SUCCESS);
    fixture_free(&f);
}
END_TEST

/* A file with a good checksum whose records lie: refused all the same. */
START_TEST(test_lying_records_refused)
{
    fixture f = fixture_new();
    hl_persist_report rep;
    unsigned char *good, *copy;
    apr_size_t len, at;

    good = f.bytes;
    len = f.len;
    copy = apr_palloc(test_pool, len);
    /* Re-sums the body after a change, as a crafted file would. */
#define RESUM() do {                                                        \
        apr_uint64_t h = 0xcbf29ce484222325ull;                             \
        apr_size_t k_;                                                      \
        for (k_ = 0; k_ < len - 8; k_++)                                    \
            h = (h ^ copy[k_]) * 0x100000001b3ull;                          \
        for (k_ = 0; k_ < 8; k_++)                                          \
            copy[len - 8 + k_] = (unsigned char)(h >> (8 * k_));            \
    } while (0)
    /* The first record is a history entry (tag at 128); then the end
     * record lies about the counter, the counts, and the tags. */
    memcpy(copy, good, len); RESUM();
    ck_assert_int_eq(hl_snapshot_check(copy, len, &rep), APR_SUCCESS);
    memcpy(copy, good, len); copy[128] = 'Q'; RESUM();
    load_bad(f.dir, copy, len, "breaks the format");
    memcpy(copy, good, len); copy[len - 8 - 40 + 8] ^= 0x40; RESUM();  /* value */
    load_bad(f.dir, copy, len, "end record");
    memcpy(copy, good, len); copy[len - 8 - 16] ^= 1; RESUM();       /* n_entries */
    load_bad(f.dir, copy, len, "end record");
    /* The version counter behind an entry's version, or so high that it
     * would wrap. */
    memcpy(copy, good, len); memset(copy + len - 8 - 8, 0, 8); RESUM();
    load_bad(f.dir, copy, len, "end record");
    memcpy(copy, good, len); memset(copy + len - 8 - 8, 0xff, 8); RESUM();
    load_bad(f.dir, copy, len, "version counter");
    memcpy(copy, good, len); copy[24] = 0; copy[25] = 0; RESUM();   /* capacity 0 */
    load_bad(f.dir, copy, len, "history capacity");
    /* An entry's klen past the end of the file. */
    at = 128 + 32 * HISTORY;
    memcpy(copy, good, len); copy[at + 5] = 0xff; RESUM();
    load_bad(f.dir, copy, len, "breaks the format");
    /* An entry without a version. */
    memcpy(copy, good, len); memset(copy + at + 48, 0, 8); RESUM();
    load_bad(f.dir, copy, len, "breaks the format");
    /* Times before 1970 or past 2^62 us, which would overflow the ages
     * and TTLs worked out from them: when it was written, a history
     * entry's time, an entry's set, access and expiry times. */
    memcpy(copy, good, len); copy[16 + 7] = 0x80; RESUM();
    load_bad(f.dir, copy, len, "written is out of range");
    memcpy(copy, good, len); copy[128 + 16 + 7] = 0x80; RESUM();
    load_bad(f.dir, copy, len, "breaks the format");
    {
        static const apr_size_t field[] = { 16, 24, 32 };
        apr_size_t k;
        for (k = 0; k < 3; k++) {
            memcpy(copy, good, len); copy[at + field[k] + 7] = 0x80; RESUM();
            load_bad(f.dir, copy, len, "breaks the format");
            memcpy(copy, good, len); memset(copy + at + field[k], 0, 8);
            copy[at + field[k] + 7] = 0x40; copy[at + field[k]] = 1; RESUM();
            load_bad(f.dir, copy, len, "breaks the format");
        }
        /* 2^62 itself is still a time. */
        memcpy(copy, good, len); memset(copy + at + 32, 0, 8);
        copy[at + 32 + 7] = 0x40; RESUM();
        ck_assert_int_eq(hl_snapshot_check(copy, len, &rep), APR_SUCCESS);
    }
#undef RESUM
    fixture_free(&f);
}
END_TEST

START_TEST(test_missing_unreadable_and_not_a_file)
{
    fixture f = fixture_new();
    segment b = segment_new(HISTORY, 64 * 1024, 4096);
    hl_persist_report rep;

    apr_file_remove(f.path, test_pool);
    memset(&rep, 0, sizeof(rep));
    ck_assert_int_eq(hl_snapshot_load(b.base, &b.plan, f.path, T0, test_pool, &rep),
                     APR_ENOENT);
    ck_assert(!exists(apr_pstrcat(test_pool, f.path, ".bad", NULL)));
    ck_assert_str_eq(rep.why, "");
    /* A directory where the file should be. */
    ck_assert_int_eq(apr_dir_make(f.path, APR_FPROT_OS_DEFAULT, test_pool), APR_SUCCESS);
    memset(&rep, 0, sizeof(rep));
    ck_assert_int_ne(hl_snapshot_load(b.base, &b.plan, f.path, T0, test_pool, &rep),
                     APR_SUCCESS);
    ck_assert_int_eq(rep.moved_aside, 1);
    assert_empty(&b);
    ck_assert_int_eq(apr_dir_remove(apr_pstrcat(test_pool, f.path, ".bad", NULL),
                                    test_pool), APR_SUCCESS);
    /* Unreadable (root reads anything: then only the rest is checked). */
    save_ok(&f.a, f.path, T0 + 70, &rep);
    chmod(f.path, 0);
    if (geteuid() != 0) {
        memset(&rep, 0, sizeof(rep));
        ck_assert_int_ne(hl_snapshot_load(b.base, &b.plan, f.path, T0, test_pool,
                                          &rep), APR_SUCCESS);
        ck_assert_msg(strstr(rep.why, "cannot open"), "why: %s", rep.why);
        ck_assert_int_eq(rep.moved_aside, 1);
        ck_assert(!exists(f.path));
        assert_empty(&b);
    }
    free(b.base);
    fixture_free(&f);
}
END_TEST

/* A save replaces the file whole; one that cannot be written leaves the
 * old file as it was. */
START_TEST(test_save_replaces_or_keeps)
{
    fixture f = fixture_new();
    hl_persist_report rep;
    unsigned char *first, *second;
    apr_size_t l1, l2;
    apr_uint64_t v;

    first = f.bytes;
    l1 = f.len;
    hl_counter_increment(counter_of(&f.a), T0 + 80, 1, &v);
    save_ok(&f.a, f.path, T0 + 80, &rep);
    second = slurp(f.path, &l2);
    ck_assert_uint_eq(rep.counter_value, 41);
    ck_assert(l1 != l2 || memcmp(first, second, l1) != 0);
    /* No directory for the file: an error, nothing left behind. */
    memset(&rep, 0, sizeof(rep));
    ck_assert_int_ne(hl_snapshot_save(f.a.base, &f.a.plan, apr_pstrcat(test_pool, f.dir, "/no/s", NULL),
                                      T0, HL_PERSIST_AT_STOP, test_pool, &rep),
                     APR_SUCCESS);
    ck_assert_msg(strstr(rep.why, "cannot create"), "why: %s", rep.why);
    fixture_free(&f);
}
END_TEST

/* A child damaged the chains: the save refuses, the file keeps the last
 * snapshot and no temporary file stays. */
START_TEST(test_damaged_segment_not_written)
{
    fixture f = fixture_new();
    hl_cache *c = cache_of(&f.a);
    hl_persist_report rep;
    apr_size_t l1, l2, i;
    apr_uint64_t bucket_off, nbuckets, data_start;
    unsigned char *before, *after, *pristine = malloc(f.a.plan.total_size);
    apr_uint32_t *heads;

    before = f.bytes;
    l1 = f.len;
    memcpy(pristine, f.a.base, f.a.plan.total_size);
    hl_cache_field_get(c, "bucket_off", &bucket_off);
    hl_cache_field_get(c, "nbuckets", &nbuckets);
    hl_cache_field_get(c, "data_start", &data_start);
    heads = (apr_uint32_t *)((char *)c + bucket_off * 16);
    /* A head out of the data area, into the header, and a cycle. */
    for (i = 0; i < 3; i++) {
        apr_size_t b;
        memcpy(f.a.base, pristine, f.a.plan.total_size);
        for (b = 0; b < nbuckets && !heads[b]; b++)
            ;
        ck_assert_uint_lt(b, nbuckets);
        if (i == 0)
            heads[b] = 0xfffffff0u;
        else if (i == 1)
            heads[b] = (apr_uint32_t)data_start - 1;
        else
            hl_cache_field_set((char *)c + (apr_size_t)heads[b] * 16,
                               "block.hnext", heads[b]);
        memset(&rep, 0, sizeof(rep));
        ck_assert_int_eq(hl_snapshot_save(f.a.base, &f.a.plan, f.path, T0 + 70,
                                          HL_PERSIST_PERIODIC, test_pool, &rep),
                         APR_EINVAL);
        ck_assert_msg(strstr(rep.why, "failed a check"), "why: %s", rep.why);
        ck_assert(!exists(apr_pstrcat(test_pool, f.path, ".tmp", NULL)));
        after = slurp(f.path, &l2);
        ck_assert_uint_eq(l1, l2);
        ck_assert(memcmp(before, after, l1) == 0);
    }
    free(pristine);
    fixture_free(&f);
}
END_TEST

/* This process's address space in bytes (VmSize), 0 if unknown. */
static apr_uint64_t address_space(void)
{
    char line[256];
    unsigned long long kb = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmSize: %llu kB", &kb) == 1)
            break;
    fclose(f);
    return (apr_uint64_t)kb * 1024;
}

/* Out of memory while loading (the load's own table of entries is what
 * cannot be had here, under an address-space limit that leaves room for
 * the file's mapping): the store starts empty, and the file stays for a
 * start with more memory, linked as path.unloaded too, which the
 * snapshots written meanwhile do not replace.  Needs a fork of its own
 * for the limit, and an allocator that honours it (neither ASan's nor
 * valgrind's). */
START_TEST(test_out_of_memory_keeps_the_file)
{
    enum { ENTRIES = 40000 };
    const char *dir, *path, *kept;
    segment a, b;
    hl_persist_report rep;
    struct rlimit old, lim;
    unsigned char *bytes, *kept_bytes;
    apr_size_t len, kept_len;
    apr_status_t rv;
    int i;

    if (!test_allocator_is_plain()
        || (getenv("CK_FORK") && !strcmp(getenv("CK_FORK"), "no")))
        return;
    dir = temp_dir();
    a = segment_new(HISTORY, 16 * 1024 * 1024, 64);
    path = apr_pstrcat(test_pool, dir, "/s", NULL);
    kept = apr_pstrcat(test_pool, path, ".unloaded", NULL);
    for (i = 0; i < ENTRIES; i++) {
        char key[16];
        int kl = snprintf(key, sizeof(key), "k%06d", i);
        ck_assert_int_eq(hl_cache_set(cache_of(&a), key, (apr_size_t)kl, "v", 1,
                                      T0 + i, 0, NULL), APR_SUCCESS);
    }
    save_ok(&a, path, T0 + 70 * SEC, &rep);
    bytes = slurp(path, &len);
    /* An older path.unloaded is replaced. */
    spill(kept, "older", 5);
    b = segment_new(HISTORY, 16 * 1024 * 1024, 64);
    hl_counter_restore_value(counter_of(&b), 5);

    ck_assert_int_eq(getrlimit(RLIMIT_AS, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)(address_space() + len + 256 * 1024);
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &lim), 0);
    memset(&rep, 0, sizeof(rep));
    rv = hl_snapshot_load(b.base, &b.plan, path, T0 + 80 * SEC, test_pool, &rep);
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &old), 0);

    ck_assert_msg(rv == APR_ENOMEM, "load: %d (%s)", rv, rep.why);
    ck_assert_msg(strstr(rep.why, "no memory"), "why: %s", rep.why);
    ck_assert_int_eq(rep.kept_aside, 1);
    ck_assert_int_eq(rep.moved_aside, 0);
    ck_assert(!exists(apr_pstrcat(test_pool, path, ".bad", NULL)));
    assert_empty(&b);
    /* Both names hold the file's bytes; a new save replaces path only. */
    kept_bytes = slurp(kept, &kept_len);
    ck_assert(kept_len == len && memcmp(kept_bytes, bytes, len) == 0);
    kept_bytes = slurp(path, &kept_len);
    ck_assert(kept_len == len && memcmp(kept_bytes, bytes, len) == 0);
    save_ok(&b, path, T0 + 90 * SEC, &rep);
    kept_bytes = slurp(kept, &kept_len);
    ck_assert(kept_len == len && memcmp(kept_bytes, bytes, len) == 0);
    /* With the memory back, the kept file loads whole. */
    memset(&rep, 0, sizeof(rep));
    ck_assert_int_eq(hl_snapshot_load(b.base, &b.plan, kept, T0 + 100 * SEC,
                                      test_pool, &rep), APR_SUCCESS);
    ck_assert_uint_eq(rep.entries_restored, ENTRIES);
    free(a.base);
    free(b.base);
    remove_dir(dir);
}
END_TEST

Suite *snapshot_suite(void)
{
    Suite *s = suite_create("snapshot");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_a_periodic_snapshot_restores_no_counters);
    tcase_add_test(tc, test_whole_history);
    tcase_add_test(tc, test_versions_never_reused);
    tcase_add_test(tc, test_smaller_sizes_keep_what_fits);
    tcase_add_test(tc, test_bad_files_moved_aside);
    tcase_add_test(tc, test_lying_records_refused);
    tcase_add_test(tc, test_missing_unreadable_and_not_a_file);
    tcase_add_test(tc, test_out_of_memory_keeps_the_file);
    tcase_add_test(tc, test_save_replaces_or_keeps);
    tcase_add_test(tc, test_damaged_segment_not_written);
    suite_add_tcase(s, tc);
    return s;
}
