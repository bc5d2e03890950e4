/* libFuzzer target: the loader of the snapshot file (hl_snapshot.h), which
 * the root parent runs at start on a file anybody who could write it may
 * have crafted.
 *
 * The first byte is a mode, the rest the file.  Mode bit 0 re-sums the
 * file (a crafted file carries a good checksum), so that the records
 * behind the checksum are reached; without it the checksum itself is
 * under test.  hl_snapshot_check must accept or refuse without reading
 * past the file (it is copied to a buffer of its exact size, so ASan sees
 * past it).  A file it accepts is restored into segments of two sizes
 * (mode bits 1-2 pick them, smaller and larger than the file's): nothing
 * may crash, the counts must add up, the cache must pass
 * hl_cache_validate, its version counter must be past the file's, and
 * the history must hold only values the counter has reached.  Seeds in fuzz/corpus/snapshot/ are real snapshots written
 * by hl_snapshot_save (t/unit/check_snapshot.c, HL_SNAPSHOT_SEEDS). */
#include "hl_cache.h"
#include "hl_counter.h"
#include "hl_shm_layout.h"
#include "hl_snapshot.h"

#include <apr_general.h>
#include <apr_pools.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#define T0 ((apr_time_t)1700000000 * APR_USEC_PER_SEC)

static void resum(unsigned char *b, size_t len)
{
    apr_uint64_t h = 0xcbf29ce484222325ull;
    size_t i;
    if (len < 8)
        return;
    for (i = 0; i < len - 8; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    for (i = 0; i < 8; i++)
        b[len - 8 + i] = (unsigned char)(h >> (8 * i));
}

typedef struct seen {
    apr_uint64_t value, last, n;
} seen;

static apr_status_t see(void *ctx, const hl_history_entry *e)
{
    seen *s = ctx;
    CHECK(e->value > s->last && e->value <= s->value);
    s->last = e->value;
    s->n++;
    return APR_SUCCESS;
}

static void restore_into(const unsigned char *b, size_t len,
                         const hl_persist_report *checked, apr_uint32_t history,
                         apr_size_t cache_bytes, apr_size_t max_value,
                         apr_time_t now)
{
    hl_shm_params p = { history, cache_bytes, 250, max_value };
    hl_persist_report rep = *checked;
    hl_shm_plan plan;
    unsigned char *base;
    char why[256];
    seen s;

    CHECK(hl_shm_plan_make(&p, &plan) == APR_SUCCESS);
    base = calloc(1, plan.total_size);
    CHECK(base != NULL);
    CHECK(hl_shm_format(base, &plan, T0) == APR_SUCCESS);
    CHECK(hl_snapshot_restore(base, &plan, b, len, now, &rep) == APR_SUCCESS);
    CHECK(rep.entries_restored + rep.entries_expired + rep.entries_left_out
          == rep.entries_in_file);
    CHECK(rep.history_restored <= rep.history_in_file);
    CHECK(rep.history_restored <= history);
    if (cache_bytes) {
        CHECK(hl_cache_validate(hl_shm_cache_region(base, &plan), why,
                                sizeof(why)) == APR_SUCCESS);
        /* The version counter never goes back behind the file's. */
        CHECK(hl_cache_versions_last(hl_shm_cache_region(base, &plan))
              >= rep.last_version);
    }
    memset(&s, 0, sizeof(s));
    CHECK(hl_counter_history_each(hl_shm_counter_region(base, &plan), history,
                                  &s.value, see, &s) == APR_SUCCESS);
    CHECK(s.value == rep.counter_value);
    CHECK(s.n == rep.history_restored);
    free(base);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    hl_persist_report rep;
    unsigned char *b;
    size_t len;
    unsigned mode;
    apr_status_t rv;

    if (size < 1)
        return 0;
    mode = data[0];
    len = size - 1;
    b = malloc(len ? len : 1);
    CHECK(b != NULL);
    memcpy(b, data + 1, len);
    if (mode & 1)
        resum(b, len);
    memset(&rep, 0, sizeof(rep));
    rv = hl_snapshot_check(b, len, &rep);
    CHECK(rv == APR_SUCCESS || rv == APR_EINVAL || rv == APR_ENOTIMPL);
    CHECK(rv == APR_SUCCESS || rep.why[0]);
    if (rv == APR_SUCCESS) {
        static const apr_size_t caches[] = { 0, 16 * 1024, 64 * 1024, 256 * 1024 };
        apr_time_t now = T0 + (apr_time_t)((mode >> 3) & 7) * 2 * APR_USEC_PER_SEC;
        restore_into(b, len, &rep, 1 + (mode >> 1) % 3, caches[(mode >> 1) & 3],
                     64, now);
        restore_into(b, len, &rep, 64, 256 * 1024, 4096, now);
    }
    free(b);
    return 0;
}
