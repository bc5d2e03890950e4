/* hl_limiter: see hl_limiter.h for the region and its rules. */
#include "hl_limiter.h"

#include <apr_shm.h>

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>

#define LIMITER_MAGIC   0x314d4c48u   /* "HLM1" little-endian */
#define LIMITER_VERSION 1u

/* Whole 64-byte lines: the counters share none with the slots. */
struct hl_limiter {
    apr_uint32_t magic, version;
    apr_uint64_t pad0[7];
    /* The words every admission changes, on a line of their own. */
    apr_uint32_t in_flight, max_concurrent, peak_in_flight, reserved;
    apr_uint64_t rejected, healed;
    apr_uint64_t pad1[4];
    apr_uint64_t slots[HL_LIMITER_SLOTS];   /* pid << 32 | count */
};

/* Regions sit back to back in hl_limits: whole lines keep them apart. */
typedef char hl_limiter_whole_lines[sizeof(hl_limiter) % 64 == 0 ? 1 : -1];

apr_size_t hl_limiter_region_size(void)
{
    return sizeof(hl_limiter);
}

apr_status_t hl_limiter_format(void *region)
{
    hl_limiter *l = region;
    memset(l, 0, sizeof(*l));
    l->version = LIMITER_VERSION;
    __atomic_store_n(&l->magic, LIMITER_MAGIC, __ATOMIC_RELEASE);
    return APR_SUCCESS;
}

apr_status_t hl_limiter_check(const void *region)
{
    const hl_limiter *l = region;
    return l->magic == LIMITER_MAGIC && l->version == LIMITER_VERSION
           ? APR_SUCCESS : APR_EGENERAL;
}

#define SLOT(pid, n)    (((apr_uint64_t)(apr_uint32_t)(pid) << 32) | (n))
#define SLOT_PID(w)     ((apr_int32_t)(apr_uint32_t)((w) >> 32))
#define SLOT_COUNT(w)   ((apr_uint32_t)(w))

/* Slots are probed linearly from the pid's home up to the first never-used word
 * (0).  A slot keeps its pid when its count drops to 0, so probe chains
 * never break; such a slot may then be taken by any pid.  A pid may own
 * several slots (threads racing to claim one); that is harmless. */
static apr_uint64_t *slot_at(hl_limiter *l, apr_int32_t pid, unsigned i)
{
    /* Home slots of consecutive pids (children are forked in a row) eight
     * apart, on different cache lines: each child's CASes stay its own. */
    apr_uint32_t p = (apr_uint32_t)pid % HL_LIMITER_SLOTS;
    apr_uint32_t lines = HL_LIMITER_SLOTS / 8;
    apr_uint32_t home = (p % lines) * 8 + p / lines;
    return &l->slots[(home + i) % HL_LIMITER_SLOTS];
}

/* 1 if the admission is tracked, 0 if the table is full. */
static int slot_inc(hl_limiter *l, apr_int32_t pid)
{
    int tries;
    for (tries = 0; tries < 8; tries++) {
        apr_uint64_t *spare = NULL, spare_w = 0, w = 0;
        unsigned i;
        for (i = 0; i < HL_LIMITER_SLOTS; i++) {
            apr_uint64_t *s = slot_at(l, pid, i);
            w = __atomic_load_n(s, __ATOMIC_ACQUIRE);
            if (SLOT_PID(w) == pid && SLOT_COUNT(w) > 0)
                break;
            if (!spare && SLOT_COUNT(w) == 0) {
                spare = s;
                spare_w = w;
            }
            if (w == 0)
                break;
        }
        if (i < HL_LIMITER_SLOTS && w != 0) {
            if (__atomic_compare_exchange_n(slot_at(l, pid, i), &w, w + 1, 0,
                                            __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                return 1;
            continue;
        }
        if (!spare)
            return 0;
        if (__atomic_compare_exchange_n(spare, &spare_w, SLOT(pid, 1), 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return 1;
    }
    return 0;
}

/* 1 if a slot of pid was decremented, 0 if the admission was untracked. */
static int slot_dec(hl_limiter *l, apr_int32_t pid)
{
    unsigned i;
    for (i = 0; i < HL_LIMITER_SLOTS; i++) {
        apr_uint64_t *s = slot_at(l, pid, i);
        apr_uint64_t w = __atomic_load_n(s, __ATOMIC_ACQUIRE);
        while (SLOT_PID(w) == pid && SLOT_COUNT(w) > 0) {
            if (__atomic_compare_exchange_n(s, &w, w - 1, 0,
                                            __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                return 1;
        }
        if (w == 0)
            break;
    }
    return 0;
}

static void in_flight_sub(hl_limiter *l, apr_uint32_t n)
{
    apr_uint32_t cur = __atomic_load_n(&l->in_flight, __ATOMIC_ACQUIRE);
    while (!__atomic_compare_exchange_n(&l->in_flight, &cur, cur > n ? cur - n : 0,
                                        0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        ;
}

/* Gives back the admissions of pid, or with pid 0 those of every process
 * that no longer exists. */
static apr_uint32_t give_back(hl_limiter *l, apr_int32_t pid)
{
    apr_uint32_t total = 0;
    unsigned i;
    for (i = 0; i < HL_LIMITER_SLOTS; i++) {
        apr_uint64_t *s = &l->slots[i];
        apr_uint64_t w = __atomic_load_n(s, __ATOMIC_ACQUIRE);
        if (SLOT_COUNT(w) == 0)
            continue;
        if (pid ? SLOT_PID(w) != pid
                : kill((pid_t)SLOT_PID(w), 0) == 0 || errno != ESRCH)
            continue;
        if (__atomic_compare_exchange_n(s, &w, SLOT(SLOT_PID(w), 0), 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            in_flight_sub(l, SLOT_COUNT(w));
            __atomic_add_fetch(&l->healed, SLOT_COUNT(w), __ATOMIC_RELAXED);
            total += SLOT_COUNT(w);
        }
    }
    return total;
}

static void peak_raise(hl_limiter *l, apr_uint32_t n)
{
    apr_uint32_t peak = __atomic_load_n(&l->peak_in_flight, __ATOMIC_RELAXED);
    while (n > peak
           && !__atomic_compare_exchange_n(&l->peak_in_flight, &peak, n, 0,
                                           __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

apr_status_t hl_limiter_admit(hl_limiter *l, apr_uint32_t limit, apr_int32_t pid)
{
    int attempt;

    if (limit == 0 || pid <= 0)
        return APR_EINVAL;
    /* For the stats; a store every time would take the line from the
     * other CPUs on every operation. */
    if (__atomic_load_n(&l->max_concurrent, __ATOMIC_RELAXED) != limit)
        __atomic_store_n(&l->max_concurrent, limit, __ATOMIC_RELAXED);
    for (attempt = 0; attempt < 2; attempt++) {
        apr_uint32_t cur = __atomic_load_n(&l->in_flight, __ATOMIC_ACQUIRE);
        while (cur < limit) {
            if (__atomic_compare_exchange_n(&l->in_flight, &cur, cur + 1, 0,
                                            __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
                slot_inc(l, pid);
                peak_raise(l, cur + 1);
                return APR_SUCCESS;
            }
        }
        if (attempt == 0 && give_back(l, 0) == 0)
            break;
    }
    return APR_EBUSY;
}

apr_status_t hl_limiter_release(hl_limiter *l, apr_int32_t pid)
{
    slot_dec(l, pid);
    in_flight_sub(l, 1);
    return APR_SUCCESS;
}

apr_status_t hl_limiter_count_rejected(hl_limiter *l)
{
    __atomic_add_fetch(&l->rejected, 1, __ATOMIC_RELAXED);
    return APR_SUCCESS;
}

apr_status_t hl_limiter_admit_wait(hl_limiter *l, apr_uint32_t limit,
                                   apr_int32_t pid,
                                   apr_interval_time_t max_wait)
{
    apr_interval_time_t waited = 0, step = 200;
    apr_status_t rv;
    while ((rv = hl_limiter_admit(l, limit, pid)) == APR_EBUSY
           && waited < max_wait) {
        apr_sleep(step);
        waited += step;
        step = step < 10000 ? step * 2 : step;
    }
    if (rv == APR_EBUSY)
        hl_limiter_count_rejected(l);
    return rv;
}

apr_status_t hl_limiter_reclaim(hl_limiter *l, apr_int32_t pid,
                                apr_uint32_t *given)
{
    apr_uint32_t n = pid > 0 ? give_back(l, pid) : 0;
    if (given)
        *given = n;
    return pid > 0 ? APR_SUCCESS : APR_EINVAL;
}

apr_status_t hl_limiter_stats_read(const hl_limiter *l, hl_limiter_stats *st)
{
    st->in_flight = __atomic_load_n(&l->in_flight, __ATOMIC_RELAXED);
    st->max_concurrent = __atomic_load_n(&l->max_concurrent, __ATOMIC_RELAXED);
    st->peak_in_flight = __atomic_load_n(&l->peak_in_flight, __ATOMIC_RELAXED);
    st->rejected = __atomic_load_n(&l->rejected, __ATOMIC_RELAXED);
    st->healed = __atomic_load_n(&l->healed, __ATOMIC_RELAXED);
    return APR_SUCCESS;
}

/* ---- the host's segment of limiters ------------------------------------- */

struct hl_limits {
    apr_shm_t *shm;
    hl_limiter *kinds;        /* HL_LIMIT_KINDS regions, back to back */
};

static apr_status_t limits_check(const hl_limits *ls)
{
    int k;
    if (apr_shm_size_get(ls->shm) < HL_LIMIT_KINDS * sizeof(hl_limiter))
        return APR_EGENERAL;
    for (k = 0; k < HL_LIMIT_KINDS; k++)
        if (hl_limiter_check(&ls->kinds[k]) != APR_SUCCESS)
            return APR_EGENERAL;
    return APR_SUCCESS;
}

apr_status_t hl_limits_open(hl_limits **out, hl_limits *previous,
                            apr_pool_t *pool)
{
    hl_limits *ls;
    apr_status_t rv;
    int k;

    if (previous && limits_check(previous) == APR_SUCCESS) {
        *out = previous;
        return APR_SUCCESS;
    }
    ls = apr_pcalloc(pool, sizeof(*ls));
    rv = apr_shm_create(&ls->shm, HL_LIMIT_KINDS * sizeof(hl_limiter), NULL,
                        pool);
    if (rv != APR_SUCCESS)
        return rv;
    ls->kinds = apr_shm_baseaddr_get(ls->shm);
    for (k = 0; k < HL_LIMIT_KINDS; k++)
        hl_limiter_format(&ls->kinds[k]);
    if (previous)
        apr_shm_destroy(previous->shm);   /* children keep their mappings */
    *out = ls;
    return APR_SUCCESS;
}

hl_limiter *hl_limits_get(hl_limits *ls, hl_limit_kind kind)
{
    return &ls->kinds[kind];
}

apr_status_t hl_limits_reclaim(hl_limits *ls, apr_int32_t pid,
                               apr_uint32_t *given)
{
    apr_uint32_t total = 0, n;
    int k;
    for (k = 0; k < HL_LIMIT_KINDS; k++) {
        apr_status_t rv = hl_limiter_reclaim(&ls->kinds[k], pid, &n);
        if (rv != APR_SUCCESS)
            return rv;
        total += n;
    }
    if (given)
        *given = total;
    return APR_SUCCESS;
}
