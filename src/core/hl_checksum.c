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

/* Sixteen steps at once.  The proof at checksum_block carries over to i =
 * 0..15 when one of bits 9..16 of c_0 is zero, say bit k: bit k+i (at
 * most 31) of rotl(c_0, i) is zero, so rotl(c_0, i) <= 2^32 - 1 - 2^(i+9),
 * while P_i + 255 < 2^(i+9) still holds.  Then no add of the sixteen
 * carries and c_16 is the residue of rotl(c_0, 16) + P_16 in [0, M), with
 * P_16 = sum_{j=1..16} b_j * 2^(17-j) < 2^25; weights is that P_16.  The
 * narrower window falls back (to two blocks of eight) for 1 in 256 states
 * on random data. */
#define HL_SAFE_WINDOW16 0x0001FE00u

static APR_INLINE apr_uint32_t checksum_block16(apr_uint32_t c,
                                                apr_uint32_t weights,
                                                const unsigned char *p)
{
    if ((c & HL_SAFE_WINDOW16) != HL_SAFE_WINDOW16) {
        c = (c << 16) | (c >> 16);
        c += weights;
        c += c < weights;               /* end-around carry: addition mod M */
        return c;
    }
    c = checksum_block(c, p);
    return checksum_block(c, p + 8);
}

#if defined(__SSE2__)
#include <emmintrin.h>

/* Four dwords that add up to P_16 / 2 for the sixteen bytes of x: byte i
 * of each half weighs 2^(7-i) (pmaddwd of the bytes widened to words, a
 * product at most 255 * 128), the first half 256 times the second. */
static APR_INLINE __m128i checksum_weights16(__m128i x)
{
    const __m128i zero = _mm_setzero_si128();
    const __m128i w = _mm_setr_epi16(128, 64, 32, 16, 8, 4, 2, 1);
    __m128i first = _mm_madd_epi16(_mm_unpacklo_epi8(x, zero), w);
    __m128i second = _mm_madd_epi16(_mm_unpackhi_epi8(x, zero), w);
    return _mm_add_epi32(_mm_slli_epi32(first, 8), second);
}

/* P_16 of each of the four 16-byte blocks at p, off the serial chain:
 * the four partial sums of each block are transposed and added. */
static APR_INLINE void checksum_weights64(const unsigned char *p,
                                          apr_uint32_t out[4])
{
    __m128i v0 = checksum_weights16(_mm_loadu_si128((const __m128i *)p));
    __m128i v1 = checksum_weights16(_mm_loadu_si128((const __m128i *)(p + 16)));
    __m128i v2 = checksum_weights16(_mm_loadu_si128((const __m128i *)(p + 32)));
    __m128i v3 = checksum_weights16(_mm_loadu_si128((const __m128i *)(p + 48)));
    __m128i s01 = _mm_add_epi32(_mm_unpacklo_epi32(v0, v1),
                                _mm_unpackhi_epi32(v0, v1));
    __m128i s23 = _mm_add_epi32(_mm_unpacklo_epi32(v2, v3),
                                _mm_unpackhi_epi32(v2, v3));
    __m128i s = _mm_add_epi32(_mm_unpacklo_epi64(s01, s23),
                              _mm_unpackhi_epi64(s01, s23));
    _mm_storeu_si128((__m128i *)out, _mm_slli_epi32(s, 1));
}
#else
/* The same with the scalar weights of two blocks of eight. */
static APR_INLINE void checksum_weights64(const unsigned char *p,
                                          apr_uint32_t out[4])
{
    int i;
    for (i = 0; i < 4; i++)
        out[i] = (checksum_weights(p + 16 * i) << 8)
                 + checksum_weights(p + 16 * i + 8);
}
#endif

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

/* The update kernel: 64-byte lines as four blocks of sixteen, whose
 * weights are computed together (with SSE2 where there is), then blocks
 * of eight, the rest step by step.  Any consecutive bytes make a block,
 * so alignment does not matter.  One prefetch per line (only inside the
 * buffer: a pointer past its end would be undefined). */
static apr_uint32_t checksum_run(apr_uint32_t c, const unsigned char *p,
                                 apr_size_t len)
{
    const unsigned char *end64 = p + (len & ~(apr_size_t)63);
    const unsigned char *end8 = p + (len & ~(apr_size_t)7);
    const unsigned char *end = p + len;

    while (p < end64) {
        apr_uint32_t weights[4];
        if ((apr_size_t)(end64 - p) > HL_PREFETCH_AHEAD)
            HL_PREFETCH(p + HL_PREFETCH_AHEAD);
        checksum_weights64(p, weights);
        c = checksum_block16(c, weights[0], p);
        c = checksum_block16(c, weights[1], p + 16);
        c = checksum_block16(c, weights[2], p + 32);
        c = checksum_block16(c, weights[3], p + 48);
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
