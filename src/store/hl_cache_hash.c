/* hl_cache_hash: the hash of the cache's keys, SipHash-1-3 keyed with a
 * per-region random seed.  Keys come from clients, so an unkeyed hash
 * would let them flood one chain.  Buckets are sized at one per 128 bytes
 * of data area and the smallest entry takes 80 bytes, so the load factor
 * stays below 1.6 whatever the keys. */
#include "hl_cache_impl.h"

#define ROTL(x, b) (apr_uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do {                                                   \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);        \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                            \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                            \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);        \
    } while (0)

static apr_uint64_t load_le64(const unsigned char *p)
{
    apr_uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

apr_uint64_t hlc_siphash13(const void *data, apr_size_t len,
                           const apr_uint64_t k[2])
{
    const unsigned char *in = data, *end = in + (len & ~(apr_size_t)7);
    apr_uint64_t v0 = 0x736f6d6570736575ULL ^ k[0];
    apr_uint64_t v1 = 0x646f72616e646f6dULL ^ k[1];
    apr_uint64_t v2 = 0x6c7967656e657261ULL ^ k[0];
    apr_uint64_t v3 = 0x7465646279746573ULL ^ k[1];
    apr_uint64_t b = (apr_uint64_t)len << 56, m;
    apr_size_t i;

    for (; in != end; in += 8) {
        m = load_le64(in);
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    for (i = 0; i < (len & 7); i++)
        b |= (apr_uint64_t)in[i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}
