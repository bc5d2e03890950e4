/* hl_counter: see hl_counter.h for the layout and the publication protocol. */
#include "hl_counter.h"

#include <string.h>

typedef struct hl_history_slot {
    apr_uint64_t seq;     /* 0 empty, 2v-1 writing v, 2v holds v */
    apr_uint64_t value;
    apr_int64_t  time;
    apr_int64_t  pid;
    apr_uint64_t check;   /* check_word(value, time, pid) */
} hl_history_slot;

struct hl_counter {
    apr_uint64_t value;
    apr_uint64_t capacity;
    apr_uint64_t reserved[6];   /* keeps the slots off value's cache line */
    hl_history_slot slots[];
};

#define LOAD(p)        __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define LOAD_RELAXED(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v)    __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define STORE_RELAXED(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

apr_size_t hl_counter_region_size(apr_uint64_t capacity)
{
    return sizeof(hl_counter) + (apr_size_t)capacity * sizeof(hl_history_slot);
}

apr_status_t hl_counter_format(void *region, apr_uint64_t capacity)
{
    hl_counter *c = region;
    if (capacity == 0)
        return APR_EINVAL;
    memset(c, 0, hl_counter_region_size(capacity));
    c->capacity = capacity;
    return APR_SUCCESS;
}

apr_status_t hl_counter_check(const void *region, apr_uint64_t capacity)
{
    const hl_counter *c = region;
    return c->capacity == capacity ? APR_SUCCESS : APR_EINVAL;
}

/* The slot of v in a ring of capacity slots. */
static hl_history_slot *slot_in(const hl_counter *c, apr_uint64_t capacity,
                                apr_uint64_t v)
{
    return (hl_history_slot *)&c->slots[(v - 1) % capacity];
}

static hl_history_slot *slot_for(const hl_counter *c, apr_uint64_t v)
{
    return slot_in(c, c->capacity, v);
}

/* Claims the slot for v unless a newer value already holds or claims it. */
static int slot_claim(hl_history_slot *s, apr_uint64_t v)
{
    apr_uint64_t seq = LOAD(&s->seq);
    while (seq < 2 * v - 1) {
        if (__atomic_compare_exchange_n(&s->seq, &seq, 2 * v - 1, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return 1;
    }
    return 0;
}

/* Ties the three fields together: a writer of an older value that lost
 * its slot half way may still store into it, and the reader then finds
 * fields of two writers, which this word no longer matches. */
static apr_uint64_t check_word(apr_uint64_t v, apr_int64_t time, apr_int64_t pid)
{
    apr_uint64_t x = v * 0x9E3779B97F4A7C15ull ^ (apr_uint64_t)time
                     ^ ((apr_uint64_t)pid << 40);
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    return x | 1;     /* never 0, the word of an empty slot */
}

static void slot_publish(hl_history_slot *s, apr_uint64_t v, apr_time_t now,
                         apr_int32_t pid)
{
    apr_uint64_t writing = 2 * v - 1;
    STORE_RELAXED(&s->value, v);
    STORE_RELAXED(&s->time, (apr_int64_t)now);
    STORE_RELAXED(&s->pid, (apr_int64_t)pid);
    STORE_RELAXED(&s->check, check_word(v, (apr_int64_t)now, (apr_int64_t)pid));
    /* Only completes if no newer writer took the slot meanwhile. */
    __atomic_compare_exchange_n(&s->seq, &writing, 2 * v, 0,
                                __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}

apr_status_t hl_counter_increment(hl_counter *c, apr_time_t now,
                                  apr_int32_t pid, apr_uint64_t *value_out)
{
    apr_uint64_t v = __atomic_add_fetch(&c->value, 1, __ATOMIC_ACQ_REL);
    hl_history_slot *s = slot_for(c, v);
    if (slot_claim(s, v))
        slot_publish(s, v, now, pid);
    *value_out = v;
    return APR_SUCCESS;
}

/* Copies the entry of value v if its slot (in a ring of capacity slots)
 * holds v, complete and untorn. */
static void slot_read(const hl_counter *c, apr_uint64_t capacity,
                      apr_uint64_t v, hl_history_entry *e)
{
    hl_history_slot *s = slot_in(c, capacity, v);
    apr_uint64_t before = LOAD(&s->seq);
    /* Member by member: a snapshot is cleared whole once already, and
     * the history's walk keeps no host. */
    e->value = v;
    e->time = 0;
    e->pid = 0;
    e->complete = 0;
    e->host[0] = '\0';
    if (before != 2 * v)
        return;
    {
        apr_int64_t time = LOAD_RELAXED(&s->time), pid = LOAD_RELAXED(&s->pid);
        apr_uint64_t value = LOAD_RELAXED(&s->value);
        apr_uint64_t check = LOAD_RELAXED(&s->check);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (LOAD_RELAXED(&s->seq) == before && value == v
            && check == check_word(v, time, pid)) {
            e->time = (apr_time_t)time;
            e->pid = (apr_int32_t)pid;
            e->complete = 1;
        }
    }
}

apr_status_t hl_counter_snapshot_read(const hl_counter *c, int max_recent,
                                      hl_counter_snapshot *snap)
{
    apr_uint64_t v;
    int i;

    if (max_recent < 0 || max_recent > HL_RECENT_MAX)
        return APR_EINVAL;
    memset(snap, 0, sizeof(*snap));
    v = LOAD(&c->value);
    snap->current_value = v;
    snap->capacity = LOAD_RELAXED(&c->capacity);   /* once: it places slots */
    snap->history_length = v < snap->capacity ? v : snap->capacity;
    for (i = 0; i < max_recent && (apr_uint64_t)i < snap->history_length; i++)
        slot_read(c, snap->capacity, v - (apr_uint64_t)i, &snap->recent[i]);
    snap->n_recent = i;
    return APR_SUCCESS;
}

apr_status_t hl_counter_history_each(const hl_counter *c, apr_uint64_t capacity,
                                     apr_uint64_t *value, hl_history_fn fn,
                                     void *ctx)
{
    apr_uint64_t v, keep, i;
    apr_status_t rv;

    /* Only the planned capacity places slots: c's own word is checked,
     * never used. */
    if (capacity == 0 || LOAD_RELAXED(&c->capacity) != capacity)
        return APR_EINVAL;
    *value = v = LOAD(&c->value);
    keep = v < capacity ? v : capacity;
    for (i = keep; i > 0; i--) {
        hl_history_entry e;
        slot_read(c, capacity, v - (i - 1), &e);
        if (e.complete && (rv = fn(ctx, &e)) != APR_SUCCESS)
            return rv;
    }
    return APR_SUCCESS;
}

void hl_counter_restore_value(hl_counter *c, apr_uint64_t value)
{
    STORE(&c->value, value);
}

apr_status_t hl_counter_restore_entry(hl_counter *c, const hl_history_entry *e)
{
    apr_uint64_t v = LOAD_RELAXED(&c->value), val = e->value;
    hl_history_slot *s;
    if (val == 0 || val > v || v - val >= c->capacity)
        return APR_EINVAL;
    s = slot_for(c, val);
    s->value = val;
    s->time = e->time;
    s->pid = e->pid;
    s->check = check_word(val, e->time, e->pid);
    STORE(&s->seq, 2 * val);
    return APR_SUCCESS;
}

typedef struct restore_ctx {
    hl_counter *dst;
    const apr_uint64_t *value;     /* set by hl_counter_history_each */
    int value_set;
} restore_ctx;

/* The value goes in before the first entry: the one the entries go with. */
static apr_status_t restore_into(void *ctx, const hl_history_entry *e)
{
    restore_ctx *r = ctx;
    if (!r->value_set) {
        hl_counter_restore_value(r->dst, *r->value);
        r->value_set = 1;
    }
    hl_counter_restore_entry(r->dst, e);   /* beyond dst's ring: left out */
    return APR_SUCCESS;
}

apr_status_t hl_counter_copy(hl_counter *dst, const hl_counter *src,
                             apr_uint64_t src_capacity)
{
    apr_uint64_t v = 0;
    restore_ctx r = { dst, &v, 0 };
    apr_status_t rv = hl_counter_history_each(src, src_capacity, &v,
                                              restore_into, &r);
    if (rv == APR_SUCCESS && !r.value_set)
        hl_counter_restore_value(dst, v);
    return rv;
}

apr_size_t hl_counter_bytes_used(const hl_counter *c)
{
    apr_uint64_t v = LOAD(&c->value);
    apr_uint64_t n = v < c->capacity ? v : c->capacity;
    return sizeof(hl_counter) + (apr_size_t)n * sizeof(hl_history_slot);
}
