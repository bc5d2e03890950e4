/* hl_checksum: see hl_checksum.h for the definition and why it streams. */
#include "hl_checksum.h"

/* One step; compilers turn the shift pair into a single rotate. */
#define HL_STEP(c, b) ((c) = (((c) + (b)) << 1) | (((c) + (b)) >> 31))

/* Bits 9..24 of the state: while they are not all ones, the next eight
 * steps cannot carry (see the proof at checksum_block). */
#define HL_SAFE_WINDOW 0x01FFFE00u

apr_status_t hl_checksum_init(hl_checksum *st, apr_size_t chunk_size)
{
    st->checksum = 0;
    st->total_bytes = 0;
    st->pieces = 0;
    st->chunk_size = chunk_size;
    return chunk_size == 0 ? APR_EINVAL : APR_SUCCESS;
}

/* P = sum_{j=1..8} b_j * 2^(9-j) for the eight bytes b_1..b_8 at p; P <=
 * 255 * 510 < 2^17.  The bytes are assembled little-endian whatever the
 * host (compilers make this one load where that is the native order):
 *   t = 2b1+b2 | 2b3+b4 | 2b5+b6 | 2b7+b8   16-bit lanes, each <= 765
 *   P = bits 47..63 of t * (2^54 + 2^36 + 2^18 + 1)
 * Lane l (at bit 16l) times 2^(54-18l) lands at bit 47 + 7-2l: weights
 * 2^7, 2^5, 2^3, 2^1, as wanted.  A lane times a lower term lands at bit
 * 64 or above (dropped); a lane times a higher term lands at bit 36 or
 * below, and all of those sum to less than 765 * 2^37 < 2^47, so they
 * cannot carry into bit 47. */
static APR_INLINE apr_uint32_t checksum_weights(const unsigned char *p)
{
    const apr_uint64_t lanes = 0x00FF00FF00FF00FFull;
    apr_uint64_t w = (apr_uint64_t)p[0] | (apr_uint64_t)p[1] << 8
                     | (apr_uint64_t)p[2] << 16 | (apr_uint64_t)p[3] << 24
                     | (apr_uint64_t)p[4] << 32 | (apr_uint64_t)p[5] << 40
                     | (apr_uint64_t)p[6] << 48 | (apr_uint64_t)p[7] << 56;
    apr_uint64_t t = 2 * (w & lanes) + ((w >> 8) & lanes);
    return (apr_uint32_t)((t * 0x0040001000040001ull) >> 47);
}

/* Eight steps from c over the bytes at p.
 *
 * Modulo M = 2^32 - 1, rotl(x, 1) == 2x, and (c + b) mod 2^32 == c + b - k
 * where k is the carry out of the add.  Without carries the steps are
 * linear: c_i == r_i (mod M), r_i = rotl(c_0, i) + P_i, where P_i =
 * 2 P_(i-1) + 2 b_i weighs the first i bytes, P_i <= 255 (2^(i+1) - 2) <
 * 2^(i+9) - 255; P_8 is P above.
 *
 * This is exact when one of bits 9..24 of c_0 is zero, say bit k.  For
 * i = 0..7 bit k+i of rotl(c_0, i) is that zero, so rotl(c_0, i) <=
 * 2^32 - 1 - 2^(i+9) and r_i + b < M for any byte b.  By induction c_i =
 * r_i for i <= 7: step i+1 adds c_i + b_(i+1) < M, so it does not carry
 * and its rotated sum is not M: c_(i+1) is in [0, M) and == r_(i+1)
 * (mod M), so equal to r_(i+1) when that is below M too (i+1 <= 7).
 * Hence no step of the eight carries, and c_8 is the residue of
 * rotl(c_0, 8) + P_8 in [0, M).  The add with end-around carry below
 * gives that residue or, only when the plain sum is exactly M, M itself;
 * but then c_8 would be 0, which without carries means c_0 and all bytes
 * 0, where the sum is 0.  So it is c_8, exactly.
 *
 * The serial chain is then rotate, add, add-carry per eight bytes instead
 * of sixteen dependent ops; P and the test are off it.  Otherwise (1 in
 * 65536 states on random data, often when the state sits near the top of
 * its range) the eight plain steps. */
static APR_INLINE apr_uint32_t checksum_block(apr_uint32_t c,
                                              const unsigned char *p)
{
    apr_uint32_t weights = checksum_weights(p);
    if ((c & HL_SAFE_WINDOW) != HL_SAFE_WINDOW) {
        c = (c << 8) | (c >> 24);
        c += weights;
        c += c < weights;               /* end-around carry: addition mod M */
        return c;
    }
    HL_STEP(c, p[0]); HL_STEP(c, p[1]); HL_STEP(c, p[2]); HL_STEP(c, p[3]);
    HL_STEP(c, p[4]); HL_STEP(c, p[5]); HL_STEP(c, p[6]); HL_STEP(c, p[7]);
    return c;
}

/* How far ahead of the kernel to ask for the input, in bytes.  With the
 * serial chain cut to a few cycles per block, a big buffer streamed from
 * memory goes faster than the hardware prefetcher (which stops at page
 * boundaries) fetches it; asking ~2 KiB ahead keeps it coming. */
#define HL_PREFETCH_AHEAD 2048
#if defined(__GNUC__)
#define HL_PREFETCH(addr) __builtin_prefetch(addr)
#else
#define HL_PREFETCH(addr) ((void)0)
#endif

/* The update kernel: whole blocks of eight bytes, the rest step by step.
 * Any eight consecutive bytes make a block, so alignment does not matter.
 * Blocks go eight to a 64-byte line, with one prefetch per line (only
 * inside the buffer: a pointer past its end would be undefined). */
static apr_uint32_t checksum_run(apr_uint32_t c, const unsigned char *p,
                                 apr_size_t len)
{
    const unsigned char *end64 = p + (len & ~(apr_size_t)63);
    const unsigned char *end8 = p + (len & ~(apr_size_t)7);
    const unsigned char *end = p + len;

    while (p < end64) {
        if ((apr_size_t)(end64 - p) > HL_PREFETCH_AHEAD)
            HL_PREFETCH(p + HL_PREFETCH_AHEAD);
        c = checksum_block(c, p);
        c = checksum_block(c, p + 8);
        c = checksum_block(c, p + 16);
        c = checksum_block(c, p + 24);
        c = checksum_block(c, p + 32);
        c = checksum_block(c, p + 40);
        c = checksum_block(c, p + 48);
        c = checksum_block(c, p + 56);
        p += 64;
    }
    while (p < end8) {
        c = checksum_block(c, p);
        p += 8;
    }
    while (p < end) {
        HL_STEP(c, *p);
        p++;
    }
    return c;
}

void hl_checksum_update(hl_checksum *st, const void *buf, apr_size_t len)
{
    if (len == 0)
        return;
    st->checksum = checksum_run(st->checksum, buf, len);
    st->total_bytes += len;
    st->pieces++;
}

apr_uint64_t hl_checksum_chunks(const hl_checksum *st)
{
    /* Not (total + size - 1) / size, which could wrap. */
    return st->total_bytes / st->chunk_size
           + (st->total_bytes % st->chunk_size != 0);
}

apr_uint32_t hl_checksum_plain(const void *buf, apr_size_t len)
{
    const unsigned char *p = buf;
    apr_uint32_t c = 0;
    apr_size_t i;
    for (i = 0; i < len; i++)
        HL_STEP(c, p[i]);
    return c;
}

void hl_json_process(hl_jsonw *w, const hl_checksum *st)
{
    hl_jsonw_object(w);
    hl_jsonw_kv_u64(w, "chunks_processed", hl_checksum_chunks(st));
    hl_jsonw_kv_u64(w, "total_bytes", st->total_bytes);
    hl_jsonw_kv_u64(w, "checksum", st->checksum);
    hl_jsonw_kv_u64(w, "chunk_size", st->chunk_size);
    hl_jsonw_kv_cstr(w, "processing_method", "streaming");
    hl_jsonw_kv_u64(w, "buckets", st->pieces);
    hl_jsonw_end(w);
}
