/* hl_pooled: the transform of the process/pooled endpoint, streamed
 * through one borrowed buffer.
 *
 *   output byte = input byte + 1 (mod 256)
 *   checksum    = sum of the output bytes, 64-bit
 *   average     = checksum / output_size (integer division; 0 when empty)
 *
 * Each piece of the body is transformed into the buffer in buffer-sized
 * steps and summed from there, so memory stays at one buffer whatever the
 * body size.  The state does not own the buffer (it comes from an
 * hl_bufpool lease) and keeps only running totals, so the result does not
 * depend on where the pieces were cut.
 */
#ifndef HL_POOLED_H
#define HL_POOLED_H

#include <apr.h>
#include <apr_errno.h>
#include "hl_jsonw.h"

#include "hl_bufpool.h"

typedef struct hl_pooled {
    unsigned char *buffer;       /* borrowed; holds the last step's output */
    apr_size_t     buffer_size;
    apr_uint64_t   input_size;
    apr_uint64_t   output_size;
    apr_uint64_t   checksum;
} hl_pooled;

/* Empty state working through buffer; APR_EINVAL for no buffer. */
apr_status_t hl_pooled_init(hl_pooled *st, void *buffer, apr_size_t buffer_size);

/* Transforms and sums len more bytes of the body. */
void hl_pooled_update(hl_pooled *st, const void *data, apr_size_t len);

apr_uint64_t hl_pooled_average(const hl_pooled *st);

/* {"processing_result": {"input_size", "output_size", "checksum", "average",
 *  "buffer_capacity"}, "memory_pool": {"current_size", "max_size",
 *  "buffer_size", "reused", "created", "in_use", "pid"}} */
void hl_json_pooled(hl_jsonw *w, const hl_pooled *st,
                    const hl_bufpool_stats *ps);

#endif
