/* hl_counter: an exact counter shared by every process and thread, with a
 * ring of the most recent increments.
 *
 * Region layout (inside the shared segment, see hl_shm_layout.h):
 *
 *   +--------------------------------------------------+
 *   | hl_counter_hdr: value (u64), capacity (u64)      |
 *   +--------------------------------------------------+
 *   | hl_history_slot[0]  { seq, value, time, pid,     |
 *   |                       check }                    |
 *   | hl_history_slot[1]                               |
 *   | ...                 increment v lands in slot    |
 *   | hl_history_slot[capacity-1]       (v-1) % cap    |
 *   +--------------------------------------------------+
 *
 * Lock-free: an increment is one atomic fetch-and-add on value, which
 * hands every caller a distinct v.  The caller then owns slot (v-1) % cap
 * and publishes {v, time, pid, check} with a per-slot sequence word:
 *     seq = 2v-1 while writing, seq = 2v when complete.
 * A slower writer of an older v never claims a slot a newer one holds (it
 * checks seq with compare-and-swap); should it lose the slot half way and
 * still store into it, the check word over {v, time, pid} no longer
 * matches.  A reader accepts a slot only when seq reads 2v before and after
 * copying it and the check word matches what it copied.  So the history is always consistent with
 * the counter: increment v is either visible as v or reported as pending.
 * No lock means a child killed mid-increment cannot block anybody; at most
 * its one slot stays pending until the ring wraps over it.
 */
#ifndef HL_COUNTER_H
#define HL_COUNTER_H

#include <apr.h>
#include <apr_errno.h>
#include <apr_time.h>

#include "hl_store.h"   /* hl_counter_snapshot */

typedef struct hl_counter hl_counter;   /* the region, opaque */

apr_size_t   hl_counter_region_size(apr_uint64_t capacity);
apr_status_t hl_counter_format(void *region, apr_uint64_t capacity);
apr_status_t hl_counter_check(const void *region, apr_uint64_t capacity);

/* Adds one; *value_out gets the new value, which this caller alone made. */
apr_status_t hl_counter_increment(hl_counter *c, apr_time_t now,
                                  apr_int32_t pid, apr_uint64_t *value_out);

/* The current value and the newest max_recent (<= HL_RECENT_MAX) entries. */
apr_status_t hl_counter_snapshot_read(const hl_counter *c, int max_recent,
                                      hl_counter_snapshot *snap);

/* Value and the newest complete entries of src, into a formatted dst.
 * src_capacity is the capacity src was formatted with: src is read as
 * memory another process may change meanwhile, and APR_EINVAL (nothing
 * copied) if its capacity word says otherwise. */
apr_status_t hl_counter_copy(hl_counter *dst, const hl_counter *src,
                             apr_uint64_t src_capacity);

/* Calls fn for each complete entry among the newest capacity values of
 * c's history, oldest first, after setting *value to the value read.  c is
 * read as memory another process may change: capacity is the planned one,
 * checked against c's word (APR_EINVAL, nothing read, if it differs), and
 * each slot is taken only when its sequence and check word agree.  fn's
 * non-zero status stops the walk and is returned. */
typedef apr_status_t (*hl_history_fn)(void *ctx, const hl_history_entry *e);
apr_status_t hl_counter_history_each(const hl_counter *c, apr_uint64_t capacity,
                                     apr_uint64_t *value, hl_history_fn fn,
                                     void *ctx);

/* Restoring a formatted, unused region: the value, then the entries of
 * its history (any order); an entry older than the ring can hold or newer
 * than the value is left out (APR_EINVAL). */
void hl_counter_restore_value(hl_counter *c, apr_uint64_t value);
apr_status_t hl_counter_restore_entry(hl_counter *c, const hl_history_entry *e);

/* Bytes of the region that hold data now. */
apr_size_t hl_counter_bytes_used(const hl_counter *c);

#endif
