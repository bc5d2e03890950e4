/* hl_snapshot: writes and loads the snapshot file; its format and the
 * consistency it gives are in hl_snapshot.h. */
#include "hl_snapshot.h"
#include "hl_cache.h"
#include "hl_counter.h"

#include <apr_file_io.h>
#include <apr_file_info.h>
#include <apr_mmap.h>
#include <apr_strings.h>

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const unsigned char snap_magic[8] = { 'H', 'L', 'S', 'N', 'A', 'P', 'S', 'H' };

#define TAG_HISTORY 0x48u   /* 'H' */
#define TAG_ENTRY   0x45u   /* 'E' */
#define TAG_END     0x5au   /* 'Z' */
#define HISTORY_BYTES 32u
#define ENTRY_BYTES   56u
#define END_BYTES     40u
#define SUM_BYTES     8u

/* Versions start at a time in microseconds and grow by one per write: a
 * counter this high comes only from a crafted file, and would leave no
 * room to count on before it wrapped to 0 (which means "no entry"). */
#define VERSIONS_MAX  ((apr_uint64_t)1 << 62)

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME  0x100000001b3ull

/* FNV-1a: each step is a bijection of the state for a given byte, so a
 * file that differs in any one byte never has the same sum. */
static apr_uint64_t fnv1a(apr_uint64_t h, const unsigned char *p, apr_size_t n)
{
    while (n--)
        h = (h ^ *p++) * FNV_PRIME;
    return h;
}

static void put32(unsigned char *p, apr_uint32_t v)
{
    int i;
    for (i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, apr_uint64_t v)
{
    int i;
    for (i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static apr_uint32_t get32(const unsigned char *p)
{
    return (apr_uint32_t)p[0] | (apr_uint32_t)p[1] << 8
           | (apr_uint32_t)p[2] << 16 | (apr_uint32_t)p[3] << 24;
}

static apr_uint64_t get64(const unsigned char *p)
{
    return (apr_uint64_t)get32(p) | (apr_uint64_t)get32(p + 4) << 32;
}

static void say(hl_persist_report *rep, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    apr_vsnprintf(rep->why, sizeof(rep->why), fmt, ap);
    va_end(ap);
}

/* ---- the header ------------------------------------------------------- */

/* Offsets in the header. */
enum {
    H_MAGIC = 0, H_VERSION = 8, H_SIZE = 12, H_WRITTEN = 16,
    H_HISTORY_CAP = 24, H_CACHE_BYTES = 32, H_MAX_KEY = 40, H_MAX_VALUE = 48,
    H_HITS = 56, H_MISSES = 64, H_SETS = 72, H_DELETES = 80,
    H_EVICTIONS = 88, H_EXPIRATIONS = 96, H_FLAGS = 104
};

#define FLAG_WHILE_RUNNING 1u

static void header_write(unsigned char *h, const hl_shm_plan *plan,
                         const hl_cache_stats *st, apr_time_t now,
                         hl_persist_when when)
{
    memset(h, 0, HL_SNAPSHOT_HEADER);
    memcpy(h + H_MAGIC, snap_magic, sizeof(snap_magic));
    put32(h + H_VERSION, HL_SNAPSHOT_VERSION);
    put32(h + H_SIZE, HL_SNAPSHOT_HEADER);
    put64(h + H_WRITTEN, (apr_uint64_t)now);
    put64(h + H_HISTORY_CAP, plan->params.history_capacity);
    put64(h + H_CACHE_BYTES, plan->cache_size);
    put64(h + H_MAX_KEY, plan->params.cache_max_key);
    put64(h + H_MAX_VALUE, plan->params.cache_max_value);
    put64(h + H_HITS, st->hits);
    put64(h + H_MISSES, st->misses);
    put64(h + H_SETS, st->sets);
    put64(h + H_DELETES, st->deletes);
    put64(h + H_EVICTIONS, st->evictions);
    put64(h + H_EXPIRATIONS, st->expirations);
    put32(h + H_FLAGS, when == HL_PERSIST_AT_STOP ? 0 : FLAG_WHILE_RUNNING);
}

static void header_stats(const unsigned char *h, hl_cache_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->hits = get64(h + H_HITS);
    st->misses = get64(h + H_MISSES);
    st->sets = get64(h + H_SETS);
    st->deletes = get64(h + H_DELETES);
    st->evictions = get64(h + H_EVICTIONS);
    st->expirations = get64(h + H_EXPIRATIONS);
}

/* ---- writing ---------------------------------------------------------- */

/* A growing buffer of records, summed and written as it fills. */
typedef struct snap_out {
    apr_file_t *f;
    unsigned char *buf;
    apr_size_t len, cap;
    apr_uint64_t sum, bytes, n_history, n_entries;
    apr_status_t rv;
} snap_out;

#define OUT_FLUSH_AT (1u << 20)

static unsigned char *out_room(snap_out *o, apr_size_t n)
{
    unsigned char *p;
    if (o->len + n > o->cap) {
        apr_size_t cap = o->cap ? o->cap : 2 * OUT_FLUSH_AT;
        while (cap < o->len + n)
            cap *= 2;
        if (!(p = realloc(o->buf, cap))) {
            o->rv = APR_ENOMEM;
            return NULL;
        }
        o->buf = p;
        o->cap = cap;
    }
    p = o->buf + o->len;
    o->len += n;
    return p;
}

static void out_flush(snap_out *o)
{
    apr_size_t n = o->len;
    if (o->rv != APR_SUCCESS || !n)
        return;
    o->sum = fnv1a(o->sum, o->buf, n);
    o->bytes += n;
    o->rv = apr_file_write_full(o->f, o->buf, n, NULL);
    o->len = 0;
}

static apr_status_t out_history(void *ctx, const hl_history_entry *e)
{
    snap_out *o = ctx;
    unsigned char *p = out_room(o, HISTORY_BYTES);
    if (!p)
        return o->rv;
    put32(p, TAG_HISTORY);
    put32(p + 4, 0);
    put64(p + 8, e->value);
    put64(p + 16, (apr_uint64_t)e->time);
    put64(p + 24, (apr_uint64_t)(apr_int64_t)e->pid);
    o->n_history++;
    if (o->len >= OUT_FLUSH_AT)
        out_flush(o);
    return o->rv;
}

/* Called inside a quiet read: copies the entry out of the segment. */
static apr_status_t out_entry(void *ctx, const hl_cache_entry_image *e)
{
    snap_out *o = ctx;
    unsigned char *p = out_room(o, ENTRY_BYTES + (apr_size_t)e->klen + e->vlen);
    if (!p)
        return o->rv;
    put32(p, TAG_ENTRY);
    put32(p + 4, e->klen);
    put32(p + 8, e->vlen);
    put32(p + 12, 0);
    put64(p + 16, (apr_uint64_t)e->set_time);
    put64(p + 24, (apr_uint64_t)e->access_time);
    put64(p + 32, (apr_uint64_t)e->expires);
    put64(p + 40, e->access_count);
    put64(p + 48, e->version);
    memcpy(p + ENTRY_BYTES, e->key, e->klen);
    memcpy(p + ENTRY_BYTES + e->klen, e->value, e->vlen);
    o->n_entries++;
    return APR_SUCCESS;
}

/* Tries a batch gets without asking the writers to wait, then in all
 * (a writer already past its look at the pause still writes once), and
 * how long the later ones ask them to wait. */
#define BATCH_FREE_TRIES  3
#define BATCH_TRIES       6
#define BATCH_PAUSE       apr_time_from_sec(1)

/* The cache, a batch of buckets at a time, read as a quiet reader
 * (hl_cache_quiet_begin: the writer runs as root and never takes the
 * children's lock).  A batch during which someone wrote is dropped from
 * the buffer and read again, in the end with the writers paused. */
static apr_status_t write_cache(snap_out *o, void *base, const hl_shm_plan *plan,
                                apr_time_t now, hl_persist_report *rep)
{
    hl_cache *c = hl_shm_cache_region(base, plan);
    apr_uint32_t bucket = 0;
    apr_status_t rv = APR_SUCCESS;

    if (hl_cache_check(c, &plan->cache) != APR_SUCCESS) {
        say(rep, "the cache failed a check while it was copied");
        return APR_EINVAL;
    }
    while (rv == APR_SUCCESS && bucket < plan->cache.nbuckets) {
        apr_uint32_t from = bucket;
        apr_size_t len = o->len;
        apr_uint64_t entries = o->n_entries, seq;
        int tries;
        for (tries = 1; ; tries++) {
            int quiet = 0;
            apr_status_t qv = hl_cache_quiet_begin(
                c, tries > BATCH_FREE_TRIES ? BATCH_PAUSE : 0, &seq);
            if (qv == APR_SUCCESS) {
                rv = hl_cache_export(c, &plan->cache, &bucket, HL_SNAPSHOT_BATCH,
                                     now, out_entry, o);
                quiet = hl_cache_quiet_end(c, seq);
            }
            if (quiet)
                break;              /* rv is the batch's own */
            if (tries == BATCH_TRIES || qv != APR_SUCCESS) {
                rv = APR_TIMEUP;
                break;
            }
            /* Written meanwhile: what the batch read may be torn. */
            o->len = len;
            o->n_entries = entries;
            o->rv = APR_SUCCESS;
            bucket = from;
        }
        if (tries > BATCH_FREE_TRIES)
            hl_cache_resume(c);
        rep->batches++;
        if (rv == APR_SUCCESS && o->len >= OUT_FLUSH_AT)
            out_flush(o);
        if (rv == APR_SUCCESS)
            rv = o->rv;
        /* Writes between batches may show a key twice or more keys than
         * slots (hl_cache_export), never twice as many: such a file
         * would come only from writers made to grow it. */
        if (rv == APR_SUCCESS && o->n_entries > 2 * (apr_uint64_t)plan->cache.ntouch)
            rv = APR_EAGAIN;
    }
    if (rv == APR_EAGAIN)
        say(rep, "the cache changed too much while it was copied; the next "
            "snapshot tries again");
    if (rv == APR_EINVAL)
        say(rep, "the cache failed a check while it was copied");
    else if (rv == APR_TIMEUP)
        say(rep, "writes to the cache did not stop for a batch of its copy");
    return rv;
}

static apr_status_t write_all(snap_out *o, void *base, const hl_shm_plan *plan,
                              apr_time_t now, hl_persist_when when,
                              hl_persist_report *rep)
{
    hl_cache *c = hl_shm_cache_region(base, plan);
    hl_cache_stats st;
    apr_uint64_t value = 0, last_version = 0;
    unsigned char *p;
    apr_status_t rv;

    memset(&st, 0, sizeof(st));
    /* Counters, each read once: they need not agree to the write. */
    if (c)
        hl_cache_stats_read(c, &st);
    if (!(p = out_room(o, HL_SNAPSHOT_HEADER)))
        return o->rv;
    header_write(p, plan, &st, now, when);
    rv = hl_counter_history_each(hl_shm_counter_region(base, plan),
                                 plan->params.history_capacity, &value,
                                 out_history, o);
    if (rv != APR_SUCCESS) {
        /* A full disk or no memory for the buffer fails the walk too. */
        if (o->rv != APR_SUCCESS)
            say(rep, "writing the history failed: %pm", &o->rv);
        else
            say(rep, "the counter failed a check");
        return rv;
    }
    if (c && (rv = write_cache(o, base, plan, now, rep)) != APR_SUCCESS)
        return rv;
    /* Read after the last batch: past every version the file holds
     * (versions only grow, and each batch's read came before it). */
    if (c)
        last_version = hl_cache_versions_last(c);
    if (!(p = out_room(o, END_BYTES)))
        return o->rv;
    put32(p, TAG_END);
    put32(p + 4, 0);
    put64(p + 8, value);
    put64(p + 16, o->n_history);
    put64(p + 24, o->n_entries);
    put64(p + 32, last_version);
    out_flush(o);
    if (o->rv != APR_SUCCESS)
        return o->rv;
    if (!(p = out_room(o, SUM_BYTES)))
        return o->rv;
    put64(p, o->sum);
    out_flush(o);
    rep->counter_value = value;
    rep->history_in_file = o->n_history;
    rep->entries_in_file = o->n_entries;
    rep->last_version = last_version;
    rep->bytes = o->bytes;
    return o->rv;
}

/* Makes the rename itself durable. */
static apr_status_t sync_dir_of(const char *path, apr_pool_t *p)
{
    const char *slash = strrchr(path, '/');
    const char *dir = !slash ? "." : slash == path ? "/"
                      : apr_pstrndup(p, path, (apr_size_t)(slash - path));
    apr_file_t *d;
    apr_status_t rv = apr_file_open(&d, dir, APR_FOPEN_READ, APR_FPROT_OS_DEFAULT, p);
    if (rv != APR_SUCCESS)
        return rv;
    rv = apr_file_sync(d);
    apr_file_close(d);
    return rv;
}

apr_status_t hl_snapshot_save(void *base, const hl_shm_plan *plan,
                              const char *path, apr_time_t now,
                              hl_persist_when when, apr_pool_t *p,
                              hl_persist_report *rep)
{
    const char *tmp = apr_pstrcat(p, path, ".tmp", NULL);
    apr_time_t start = apr_time_now();
    snap_out o;
    apr_status_t rv;

    memset(&o, 0, sizeof(o));
    o.sum = FNV_OFFSET;
    /* A new file, never one that is there: whoever can write the
     * directory could have put a symlink at tmp for root to write
     * through.  O_EXCL does not follow one; a name that comes back
     * between the remove and the open fails this snapshot, no more. */
    apr_file_remove(tmp, p);
    rv = apr_file_open(&o.f, tmp, APR_FOPEN_WRITE | APR_FOPEN_CREATE
                       | APR_FOPEN_EXCL, APR_FPROT_UREAD | APR_FPROT_UWRITE, p);
    if (rv != APR_SUCCESS) {
        say(rep, "cannot create %s: %pm", tmp, &rv);
        return rv;
    }
    rv = write_all(&o, base, plan, now, when, rep);
    free(o.buf);
    if (rv == APR_SUCCESS && (rv = apr_file_sync(o.f)) != APR_SUCCESS)
        say(rep, "fsync of %s failed", tmp);
    if (apr_file_close(o.f) != APR_SUCCESS && rv == APR_SUCCESS) {
        rv = APR_EGENERAL;
        say(rep, "closing %s failed", tmp);
    }
    if (rv == APR_SUCCESS && (rv = apr_file_rename(tmp, path, p)) != APR_SUCCESS)
        say(rep, "cannot rename %s to %s", tmp, path);
    if (rv != APR_SUCCESS) {
        if (!rep->why[0])
            say(rep, "writing %s failed", tmp);
        apr_file_remove(tmp, p);
        return rv;
    }
    /* The file is in place: written, though the rename itself may not
     * survive a power cut (rep->why says so beside APR_SUCCESS). */
    if ((rv = sync_dir_of(path, p)) != APR_SUCCESS)
        say(rep, "fsync of the directory of %s failed (%pm): the new file "
            "may not survive a power cut", path, &rv);
    rep->written_at = now;
    rep->took = apr_time_now() - start;
    return APR_SUCCESS;
}

/* ---- checking and restoring ------------------------------------------- */

apr_status_t hl_snapshot_check(const void *vbuf, apr_size_t len,
                               hl_persist_report *rep)
{
    const unsigned char *b = vbuf;
    apr_uint64_t cap, max_key, max_value, n_history = 0, n_entries = 0;
    apr_uint64_t last_value = 0, value, body, max_version = 0;
    apr_size_t at;
    apr_uint32_t version;

    if (len == 0) {
        say(rep, "the file is empty (0 bytes)");
        return APR_EINVAL;
    }
    if (len < sizeof(snap_magic) || memcmp(b, snap_magic, sizeof(snap_magic))) {
        say(rep, "not a mod_hyperlane snapshot (no magic)");
        return APR_EINVAL;
    }
    if (len < 16) {
        say(rep, "truncated: %" APR_SIZE_T_FMT " bytes", len);
        return APR_EINVAL;
    }
    if ((version = get32(b + H_VERSION)) != HL_SNAPSHOT_VERSION) {
        say(rep, "format version %u; this build reads version %u", version,
            HL_SNAPSHOT_VERSION);
        return APR_ENOTIMPL;
    }
    if (len < HL_SNAPSHOT_HEADER + END_BYTES + SUM_BYTES) {
        say(rep, "truncated: %" APR_SIZE_T_FMT " bytes", len);
        return APR_EINVAL;
    }
    if (get32(b + H_SIZE) != HL_SNAPSHOT_HEADER) {
        say(rep, "header size %u, expected %u", get32(b + H_SIZE),
            HL_SNAPSHOT_HEADER);
        return APR_EINVAL;
    }
    body = len - SUM_BYTES;
    if (fnv1a(FNV_OFFSET, b, body) != get64(b + body)) {
        say(rep, "checksum mismatch: truncated or corrupt (%" APR_SIZE_T_FMT
            " bytes)", len);
        return APR_EINVAL;
    }
    cap = get64(b + H_HISTORY_CAP);
    max_key = get64(b + H_MAX_KEY);
    max_value = get64(b + H_MAX_VALUE);
    rep->written_at = (apr_time_t)get64(b + H_WRITTEN);
    rep->made_with.history_capacity = (apr_uint32_t)cap;
    rep->made_with.cache_bytes = (apr_size_t)get64(b + H_CACHE_BYTES);
    rep->made_with.cache_max_key = (apr_size_t)max_key;
    rep->made_with.cache_max_value = (apr_size_t)max_value;
    if (cap == 0 || cap > APR_UINT32_MAX) {
        say(rep, "history capacity %" APR_UINT64_T_FMT " out of range", cap);
        return APR_EINVAL;
    }
    if (get64(b + H_WRITTEN) > HL_STORE_TIMES_MAX) {
        say(rep, "the time it was written is out of range");
        return APR_EINVAL;
    }
    for (at = HL_SNAPSHOT_HEADER; ; ) {
        apr_uint32_t tag;
        if (body - at < 4)
            break;
        tag = get32(b + at);
        if (tag == TAG_HISTORY) {
            if (body - at < HISTORY_BYTES || n_entries)
                break;
            value = get64(b + at + 8);
            if (value <= last_value || get64(b + at + 16) > HL_STORE_TIMES_MAX)
                break;
            last_value = value;
            n_history++;
            at += HISTORY_BYTES;
        }
        else if (tag == TAG_ENTRY) {
            apr_uint64_t klen, vlen, version;
            if (body - at < ENTRY_BYTES)
                break;
            klen = get32(b + at + 4);
            vlen = get32(b + at + 8);
            version = get64(b + at + 48);
            if (klen == 0 || klen > max_key || vlen > max_value
                || body - at - ENTRY_BYTES < klen + vlen || version == 0
                || get64(b + at + 16) > HL_STORE_TIMES_MAX
                || get64(b + at + 24) > HL_STORE_TIMES_MAX
                || get64(b + at + 32) > HL_STORE_TIMES_MAX)
                break;
            if (version > max_version)
                max_version = version;
            n_entries++;
            at += ENTRY_BYTES + (apr_size_t)(klen + vlen);
        }
        else if (tag == TAG_END) {
            if (body - at != END_BYTES)
                break;
            value = get64(b + at + 8);
            if (get64(b + at + 16) != n_history || get64(b + at + 24) != n_entries
                || n_history > cap || last_value > value
                || (n_history && value - last_value >= cap)
                || get64(b + at + 32) < max_version) {
                say(rep, "the end record does not match the records");
                return APR_EINVAL;
            }
            if (get64(b + at + 32) > VERSIONS_MAX) {
                say(rep, "the cache's version counter %" APR_UINT64_T_FMT
                    " is out of range", get64(b + at + 32));
                return APR_EINVAL;
            }
            rep->counter_value = value;
            rep->history_in_file = n_history;
            rep->entries_in_file = n_entries;
            rep->last_version = get64(b + at + 32);
            rep->bytes = len;
            return APR_SUCCESS;
        }
        else
            break;
    }
    say(rep, "a record at byte %" APR_SIZE_T_FMT " breaks the format", at);
    return APR_EINVAL;
}

/* Where an entry of the file is, and when it was last used. */
typedef struct file_rank {
    apr_int64_t access_time;
    apr_size_t  at;
} file_rank;

static int rank_cmp(const void *a, const void *b)
{
    const file_rank *x = a, *y = b;
    if (x->access_time != y->access_time)
        return x->access_time < y->access_time ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at;
}

static void entry_image(const unsigned char *r, hl_cache_entry_image *e)
{
    e->klen = get32(r + 4);
    e->vlen = get32(r + 8);
    e->set_time = (apr_time_t)get64(r + 16);
    e->access_time = (apr_time_t)get64(r + 24);
    e->expires = (apr_time_t)get64(r + 32);
    e->access_count = get64(r + 40);
    e->version = get64(r + 48);
    e->key = r + ENTRY_BYTES;
    e->value = r + ENTRY_BYTES + e->klen;
}

apr_status_t hl_snapshot_restore(void *base, const hl_shm_plan *plan,
                                 const void *vbuf, apr_size_t len,
                                 apr_time_t now, hl_persist_report *rep)
{
    const unsigned char *b = vbuf;
    hl_counter *ctr = hl_shm_counter_region(base, plan);
    hl_cache *c = hl_shm_cache_region(base, plan);
    apr_size_t body = len - SUM_BYTES, at = HL_SNAPSHOT_HEADER, n = 0, i;
    file_rank *rank = NULL;

    if (c && rep->entries_in_file
        && !(rank = malloc((apr_size_t)rep->entries_in_file * sizeof(*rank))))
        return APR_ENOMEM;
    hl_counter_restore_value(ctr, rep->counter_value);
    while (at < body) {
        apr_uint32_t tag = get32(b + at);
        if (tag == TAG_HISTORY) {
            hl_history_entry e;
            memset(&e, 0, sizeof(e));
            e.value = get64(b + at + 8);
            e.time = (apr_time_t)get64(b + at + 16);
            e.pid = (apr_int32_t)get64(b + at + 24);
            e.complete = 1;
            if (hl_counter_restore_entry(ctr, &e) == APR_SUCCESS)
                rep->history_restored++;
            at += HISTORY_BYTES;
        }
        else if (tag == TAG_ENTRY) {
            if (rank) {
                rank[n].access_time = (apr_int64_t)get64(b + at + 24);
                rank[n++].at = at;
            }
            at += ENTRY_BYTES + get32(b + at + 4) + get32(b + at + 8);
        }
        else
            break;     /* the end record: hl_snapshot_check saw to it */
    }
    if (c) {
        hl_cache_stats st;
        if (!(get32(b + H_FLAGS) & FLAG_WHILE_RUNNING)) {
            header_stats(b, &st);
            hl_cache_stats_restore(c, &st);
            rep->stats_restored = 1;
        }
        if (n)
            qsort(rank, n, sizeof(*rank), rank_cmp);
        hl_cache_import_begin(c, now);
        for (i = 0; i < n; i++) {
            hl_cache_entry_image e;
            entry_image(b + rank[i].at, &e);
            if (e.expires != 0 && now >= e.expires)
                rep->entries_expired++;
            else
                hl_cache_import(c, &e, now);
        }
        hl_cache_versions_past(c, rep->last_version);
        hl_cache_import_end(c);
        hl_cache_stats_read(c, &st);
        rep->entries_restored = st.total_entries;
    }
    free(rank);
    rep->entries_left_out = rep->entries_in_file - rep->entries_expired
                            - rep->entries_restored;
    return APR_SUCCESS;
}

/* The file moves aside as path.bad (replacing an older one), so that the
 * next start does not trip on it again and it can still be looked at. */
static void move_aside(const char *path, apr_pool_t *p, hl_persist_report *rep)
{
    rep->moved_aside = apr_file_rename(path, apr_pstrcat(p, path, ".bad", NULL),
                                       p) == APR_SUCCESS;
}

/* The file stays where it is, for a start with more memory; the link
 * keeps it once the snapshots written meanwhile have replaced it. */
static void keep_aside(const char *path, apr_pool_t *p, hl_persist_report *rep)
{
    const char *kept = apr_pstrcat(p, path, ".unloaded", NULL);
    apr_file_remove(kept, p);
    rep->kept_aside = link(path, kept) == 0;
}

/* The segment as a fresh start leaves it. */
static void reformat(void *base, const hl_shm_plan *plan, apr_time_t now)
{
    memset(base, 0, plan->total_size);
    hl_shm_format(base, plan, now);
}

apr_status_t hl_snapshot_load(void *base, const hl_shm_plan *plan,
                              const char *path, apr_time_t now, apr_pool_t *p,
                              hl_persist_report *rep)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_mmap_t *mm = NULL;
    const void *buf = "";
    apr_time_t start = apr_time_now();
    /* Non-blocking: a FIFO put at path must not hold the start. */
    apr_status_t rv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_NONBLOCK,
                                    APR_FPROT_OS_DEFAULT, p);

    if (APR_STATUS_IS_ENOENT(rv))
        return APR_ENOENT;
    if (rv != APR_SUCCESS) {
        say(rep, "cannot open it: %pm", &rv);
        move_aside(path, p, rep);
        return rv;
    }
    rv = apr_file_info_get(&fi, APR_FINFO_SIZE | APR_FINFO_TYPE, f);
    if (rv == APR_SUCCESS && fi.filetype != APR_REG) {
        rv = APR_EINVAL;
        say(rep, "not a regular file");
    }
    else if (rv != APR_SUCCESS)
        say(rep, "cannot stat it: %pm", &rv);
    else if (fi.size > 0) {
        rv = apr_mmap_create(&mm, f, 0, (apr_size_t)fi.size, APR_MMAP_READ, p);
        if (rv == APR_SUCCESS)
            buf = mm->mm;
        else
            say(rep, "cannot read it: %pm", &rv);
    }
    if (rv == APR_SUCCESS)
        rv = hl_snapshot_check(buf, (apr_size_t)fi.size, rep);
    if (rv == APR_SUCCESS) {
        rv = hl_snapshot_restore(base, plan, buf, (apr_size_t)fi.size, now, rep);
        if (rv != APR_SUCCESS)
            say(rep, "no memory to restore it");
    }
    if (mm)
        apr_mmap_delete(mm);
    apr_file_close(f);
    if (rv != APR_SUCCESS) {
        reformat(base, plan, now);
        if (rv == APR_ENOMEM)
            keep_aside(path, p, rep);
        else
            move_aside(path, p, rep);
        return rv;
    }
    rep->took = apr_time_now() - start;
    return APR_SUCCESS;
}
