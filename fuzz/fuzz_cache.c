/* libFuzzer target: the cache table (hl_cache) driven by the input as a
 * sequence of operations, checked against a model after every step.
 *
 * The first bytes pick the region size, the key and value limits, the
 * bucket count (1 and 4 force collisions) and the hash seed; then each
 * operation takes a few bytes: set, get, delete, an interrupted set
 * followed by crash repair, a copy into a fresh region of another size (a
 * restart that resizes), the concurrency limiter (hl_limiter, beside the
 * table), and time passing.  The clock is
 * injected and only moves forward.
 *
 * The model knows every key's value, expiry, set time and access count.
 * The cache may lose an entry only by eviction, so a key the model holds
 * and the cache misses is accepted only if the eviction counter moved
 * since that key was stored.  After every step hl_cache_validate checks the
 * tags, lists, hash chains and stats; a hit must return exactly the
 * model's bytes and metadata.
 */
#include "hl_cache.h"
#include "hl_json_reply.h"
#include "hl_limiter.h"

#include <json-c/json.h>

#include <apr_general.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(cond) do { if (!(cond)) { \
        fprintf(stderr, "%s:%d: op %d: check failed: %s\n", __FILE__, \
                __LINE__, op_no, #cond); abort(); } } while (0)
#include "fuzz_common.h"

#define NKEYS   24
#define MAX_OPS 3000
#define T0      ((apr_time_t)1700000000 * APR_USEC_PER_SEC)
#define SLACK   128   /* entry header + footer + rounding, generously */

typedef struct {
    int present;               /* set and not deleted; may have expired */
    int maybe_gone;            /* may have vanished without an eviction */
    unsigned char *val;
    size_t vlen;
    apr_time_t set_time, expires;
    apr_uint64_t access_count;
    apr_uint64_t evictions_at_set;
} entry;

static const unsigned char *in, *in_end;
static int op_no;
static entry model[NKEYS];
static hl_cache *cache;
static apr_size_t cache_size;
static hl_cache_config cfg;
static apr_time_t now;
static apr_uint32_t in_flight;
static hl_limiter *limiter;

static unsigned byte(void)
{
    return in < in_end ? *in++ : 0;
}

static unsigned word(void)
{
    unsigned lo = byte();
    return lo | byte() << 8;
}

static hl_cache_stats stats(void)
{
    hl_cache_stats st;
    hl_cache_stats_read(cache, &st);
    return st;
}

static int live(const entry *m)
{
    return m->present && !(m->expires && now >= m->expires);
}

/* Key i: its index, a NUL, then a tail; the length varies with i. */
static size_t make_key(unsigned i, unsigned char *key)
{
    size_t klen = 1 + (i * 7) % (cfg.max_key < 40 ? cfg.max_key : 40);
    memset(key, 'k', klen);
    key[0] = (unsigned char)i;
    if (klen > 1)
        key[1] = 0;
    return klen;
}

static void forget(entry *m)
{
    free(m->val);
    memset(m, 0, sizeof(*m));
}

/* The cache no longer has key i: fine if the model had nothing, if it had
 * expired, or if an eviction happened since it was stored. */
static void accept_miss(entry *m)
{
    if (live(m) && !m->maybe_gone)
        CHECK(stats().evictions > m->evictions_at_set);
    forget(m);
}

static void remember(entry *m, const unsigned char *val, size_t vlen,
                     apr_interval_time_t ttl)
{
    forget(m);
    m->present = 1;
    m->val = malloc(vlen ? vlen : 1);
    memcpy(m->val, val, vlen);
    m->vlen = vlen;
    m->set_time = now;
    m->expires = ttl ? now + ttl : 0;
    m->evictions_at_set = stats().evictions;
}

static void check_hit(entry *m, const hl_cache_result *r, apr_pool_t *p,
                      const unsigned char *key, size_t klen)
{
    CHECK(live(m));
    CHECK(r->vlen == m->vlen);
    CHECK(memcmp(r->value, m->val, m->vlen) == 0);
    CHECK(r->value[r->vlen] == '\0');
    CHECK(r->set_time == m->set_time);
    CHECK(r->expires == m->expires);
    CHECK(r->age == now - m->set_time);
    CHECK(r->access_count == m->access_count + 1);
    m->access_count++;
    if ((m->vlen & 7) == 0) {   /* sometimes: the JSON the module sends */
        apr_size_t jlen;
        hl_jsonw w;
        const char *js;
        json_object *back;
        hl_jsonw_init(&w, p);
        hl_json_cache_hit(&w, (const char *)key, klen, r);
        js = hl_jsonw_text(&w, &jlen);
        back = json_tokener_parse(js);
        CHECK(back != NULL);
        json_object_put(back);
    }
}

static void do_get(unsigned ki, apr_pool_t *p)
{
    unsigned char key[64];
    size_t klen = make_key(ki, key);
    hl_cache_result r;
    /* Without the lock first, as the store does; alone it only steps
     * aside for an expired entry or a repair the locked get must do. */
    apr_status_t rv = hl_cache_get_lockfree(cache, p, key, klen, now, &r);
    if (rv == APR_EAGAIN)
        rv = hl_cache_get(cache, p, key, klen, now, &r);
    if (rv == APR_SUCCESS) {
        check_hit(&model[ki], &r, p, key, klen);
    }
    else {
        CHECK(rv == APR_NOTFOUND);
        accept_miss(&model[ki]);
    }
}

static size_t make_value(unsigned char *buf, size_t cap)
{
    unsigned kind = byte(), seed = byte();
    size_t vlen, i;
    if (kind < 160)
        vlen = kind % 48;
    else if (kind < 240)
        vlen = 48 + (size_t)byte() * 4;
    else
        vlen = (size_t)word() % (cfg.max_value + 64);   /* may break the limit */
    if (vlen > cap)
        vlen = cap;
    for (i = 0; i < vlen; i++)
        buf[i] = (unsigned char)(seed + i * 31 + (i >> 5));
    return vlen;
}

static apr_interval_time_t make_ttl(void)
{
    unsigned b = byte();
    return b < 64 ? 0 : (apr_interval_time_t)(1 + b % 30) * APR_USEC_PER_SEC;
}

static void do_set(unsigned ki, int bad_key, unsigned char *buf, size_t cap)
{
    unsigned char key[80];
    size_t klen = make_key(ki, key), vlen = make_value(buf, cap);
    apr_interval_time_t ttl = make_ttl();
    hl_cache_stats before = stats();
    int replaced = -1;
    apr_status_t rv;

    if (bad_key) {
        klen = (ki & 1) ? 0 : cfg.max_key + 1;
        memset(key, 'x', sizeof(key));
    }
    rv = hl_cache_set(cache, key, klen, buf, vlen, now, ttl, &replaced);
    if (klen == 0 || klen > cfg.max_key || vlen > cfg.max_value) {
        CHECK(rv == APR_EINVAL);
        CHECK(stats().sets == before.sets);
        return;
    }
    if (rv == APR_ENOSPC) {
        CHECK(klen + vlen + SLACK > before.capacity_bytes);
        CHECK(stats().sets == before.sets);
        return;
    }
    CHECK(rv == APR_SUCCESS);
    CHECK(klen + vlen + 16 <= before.capacity_bytes);
    CHECK(stats().sets == before.sets + 1);
    if (replaced)
        CHECK(live(&model[ki]) || model[ki].maybe_gone);
    else
        accept_miss(&model[ki]);
    remember(&model[ki], buf, vlen, ttl);
}

static void do_delete(unsigned ki)
{
    unsigned char key[64];
    size_t klen = make_key(ki, key);
    apr_status_t rv = hl_cache_delete(cache, key, klen, now);
    if (rv == APR_SUCCESS) {
        CHECK(live(&model[ki]));
        forget(&model[ki]);
    }
    else {
        CHECK(rv == APR_NOTFOUND);
        accept_miss(&model[ki]);
    }
}

/* A set that stops after some of its steps, as a killed writer would;
 * the repair that follows leaves the key old, absent or new, and every
 * other key as it was. */
static void do_interrupted(unsigned ki, unsigned char *buf, size_t cap,
                           apr_pool_t *p)
{
    unsigned char key[64];
    size_t klen = make_key(ki, key), vlen = make_value(buf, cap);
    apr_interval_time_t ttl = make_ttl();
    int steps = (int)(byte() % 8);
    const char *reason = NULL;
    hl_cache_result r;
    apr_status_t rv;
    entry *m = &model[ki];

    rv = hl_cache_set_interrupted(cache, key, klen, buf, vlen, now, ttl, steps);
    if (rv == APR_SUCCESS) {
        if (!live(m))
            accept_miss(m);
        remember(m, buf, vlen, ttl);
        return;
    }
    if (rv == APR_EINVAL || rv == APR_ENOSPC)
        return;
    CHECK(rv == APR_EINTR);
    CHECK(hl_cache_recover(cache, now, &reason) == APR_SUCCESS);
    CHECK(reason != NULL);
    CHECK(strstr(reason, "emptied") == NULL);
    {
        hl_cache_repairs rep;
        hl_cache_repairs_read(cache, &rep);
        CHECK(rep.recoveries > 0);
    }
    rv = hl_cache_get(cache, p, key, klen, now, &r);
    if (rv == APR_NOTFOUND) {
        forget(m);   /* the old entry was removed before the stop */
    }
    else {
        CHECK(rv == APR_SUCCESS);
        if (r.vlen == vlen && memcmp(r.value, buf, vlen) == 0
            && r.set_time == now && r.access_count == 1) {
            remember(m, buf, vlen, ttl);   /* committed */
            m->access_count = 1;
        }
        else {
            check_hit(m, &r, p, key, klen);   /* still the old one */
        }
    }
}

/* Copies the table into a fresh region (what a restart with another
 * HyperlaneCacheSize does) and carries on with the copy. */
static void do_copy(void)
{
    apr_size_t size = hl_cache_min_size() + 16 * (apr_size_t)(64 + word() % 3000);
    hl_cache_config c2 = cfg;
    hl_cache *dst = aligned_alloc(16, size);
    hl_cache_geometry geo;
    hl_cache_stats st;
    unsigned i;

    c2.seed[0] ^= byte();
    c2.buckets = 0;
    CHECK(dst != NULL);
    CHECK(hl_cache_format(dst, size, &c2) == APR_SUCCESS);
    CHECK(hl_cache_geometry_of(cache_size, &cfg, &geo) == APR_SUCCESS);
    CHECK(hl_cache_copy(dst, cache, &geo, now) == APR_SUCCESS);
    free(cache);
    cache = dst;
    cache_size = size;
    cfg = c2;        /* the next copy checks against dst's geometry */
    st = stats();
    /* Entries too large for the new data area are skipped, not evicted. */
    for (i = 0; i < NKEYS; i++)
        if (model[i].present && model[i].vlen + 64 + SLACK > st.capacity_bytes)
            model[i].maybe_gone = 1;
}

static void do_limiter(void)
{
    apr_int32_t me = (apr_int32_t)getpid();
    apr_uint32_t limit = 1 + byte() % 4;
    if (byte() & 1) {
        apr_status_t rv = hl_limiter_admit(limiter, limit, me);
        if (in_flight < limit) {
            CHECK(rv == APR_SUCCESS);
            in_flight++;
        }
        else {
            CHECK(rv == APR_EBUSY);
            hl_limiter_count_rejected(limiter);
        }
    }
    else if (in_flight > 0) {
        CHECK(hl_limiter_release(limiter, me) == APR_SUCCESS);
        in_flight--;
    }
    {
        hl_limiter_stats ls;
        hl_limiter_stats_read(limiter, &ls);
        CHECK(ls.in_flight == in_flight && ls.peak_in_flight <= 4);
    }
}

static void check_sound(void)
{
    char why[256];
    hl_cache_stats st = stats();
    unsigned i, held = 0;
    if (hl_cache_validate(cache, why, sizeof(why)) != APR_SUCCESS) {
        fprintf(stderr, "op %d: cache invalid: %s\n", op_no, why);
        abort();
    }
    for (i = 0; i < NKEYS; i++)
        held += model[i].present;
    CHECK(st.bytes_used <= st.capacity_bytes);
    CHECK(st.total_entries <= held);
    CHECK(hl_cache_bytes_used(cache) <= cache_size);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static unsigned char buf[70000];
    apr_pool_t *p;
    unsigned i, b;

    in = data;
    in_end = data + size;
    op_no = 0;
    in_flight = 0;
    now = T0;
    memset(&cfg, 0, sizeof(cfg));
    cache_size = hl_cache_min_size() + 16 * (apr_size_t)(64 + word() % 2048);
    cfg.max_key = 1 + byte() % 64;
    cfg.max_value = (apr_size_t)word() % 65536;
    b = byte();
    cfg.buckets = b < 32 ? 1 : b < 64 ? 4 : 0;
    cfg.seed[0] = (apr_uint64_t)word() << 16 | byte();
    cfg.seed[1] = 0x9e3779b97f4a7c15ULL;
    cache = aligned_alloc(16, cache_size);
    CHECK(cache != NULL);
    CHECK(hl_cache_format(cache, cache_size, &cfg) == APR_SUCCESS);
    limiter = aligned_alloc(64, hl_limiter_region_size());
    CHECK(limiter != NULL && hl_limiter_format(limiter) == APR_SUCCESS);
    apr_pool_create(&p, root);

    for (op_no = 1; op_no <= MAX_OPS && in < in_end; op_no++) {
        unsigned op = byte(), ki = byte() % NKEYS;
        switch (op % 16) {
        case 0: case 1: case 2: case 3: case 4:
            do_set(ki, 0, buf, sizeof(buf));
            break;
        case 5:
            do_set(ki, 1, buf, sizeof(buf));
            break;
        case 6: case 7: case 8: case 9:
            do_get(ki, p);
            break;
        case 10: case 11:
            do_delete(ki);
            break;
        case 12:
            do_interrupted(ki, buf, sizeof(buf), p);
            break;
        case 13:
            if ((op & 0xf0) == 0)
                do_copy();
            else
                do_limiter();
            break;
        case 14:
            now += (apr_time_t)byte() * APR_USEC_PER_SEC / 4;
            break;
        default:
            now += (apr_time_t)(op >> 4) * 1000;
            break;
        }
        now += 1;
        /* The full walk is the slow part: every step early on and around
         * repairs and copies, every 16th after that. */
        if (op_no < 64 || op_no % 16 == 0 || op % 16 == 12 || op % 16 == 13)
            check_sound();
        if (op_no % 256 == 0)
            apr_pool_clear(p);
    }

    /* Every key once more against the model. */
    for (i = 0; i < NKEYS; i++)
        do_get(i, p);
    check_sound();
    while (in_flight > 0) {
        hl_limiter_release(limiter, (apr_int32_t)getpid());
        in_flight--;
    }
    free(limiter);
    limiter = NULL;
    for (i = 0; i < NKEYS; i++)
        forget(&model[i]);
    free(cache);
    cache = NULL;
    apr_pool_destroy(p);
    return 0;
}
