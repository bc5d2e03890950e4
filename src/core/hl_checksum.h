/* hl_checksum: the rotate-add checksum of the process endpoint, computed
 * over a body that arrives in pieces.
 *
 *   c = 0; for each byte b, in order: c = rotl32((c + b) mod 2^32, 1)
 *
 * The state is only the running c plus a byte count, so a body of any size
 * is summed in constant memory and the result cannot depend on where the
 * pieces were cut: update(a) then update(b) equals update(a || b).
 * chunks_processed is derived from the count (ceil(total / chunk_size))
 * rather than counted, for the same reason.
 *
 * Each step depends on the one before, but the chain need not be walked a
 * byte at a time.  Modulo 2^32 - 1 a rotate by one is a doubling, so eight
 * steps that do not carry out of the add are c -> rotl(c, 8) + P (mod
 * 2^32 - 1), with P = sum b_j * 2^(9-j) over the eight bytes, computed
 * off the serial chain.  When bits 9..24 of c are not all ones no carry
 * can happen and the result is exact (proof in hl_checksum.c); otherwise,
 * 1 in 65536 blocks on random data, the eight plain steps run.  The update
 * is thus a rotate and an add with end-around carry per eight bytes, not
 * sixteen dependent ops, and gives the plain loop's result bit for bit.
 */
#ifndef HL_CHECKSUM_H
#define HL_CHECKSUM_H

#include <apr.h>
#include <apr_errno.h>
#include "hl_jsonw.h"

typedef struct hl_checksum {
    apr_uint32_t checksum;
    apr_uint64_t total_bytes;
    apr_uint64_t pieces;        /* non-empty updates: buckets seen */
    apr_size_t   chunk_size;
} hl_checksum;

/* Empty state; APR_EINVAL when chunk_size is 0. */
apr_status_t hl_checksum_init(hl_checksum *st, apr_size_t chunk_size);

/* Adds len bytes of buf, which follow every byte added before. */
void hl_checksum_update(hl_checksum *st, const void *buf, apr_size_t len);

/* ceil(total_bytes / chunk_size); 0 for an empty body. */
apr_uint64_t hl_checksum_chunks(const hl_checksum *st);

/* The textbook one-byte-at-a-time loop over a buffer in memory: the
 * reference the streaming update is benchmarked against. */
apr_uint32_t hl_checksum_plain(const void *buf, apr_size_t len);

/* {"chunks_processed", "total_bytes", "checksum", "chunk_size",
 *  "processing_method": "streaming", "buckets"} */
void hl_json_process(hl_jsonw *w, const hl_checksum *st);

#endif
