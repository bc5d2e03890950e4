/* hl_checksum: see hl_checksum.h for the definition and why it streams. */
#include "hl_checksum.h"

/* One step; compilers turn the shift pair into a single rotate. */
#define HL_STEP(c, b) ((c) = (((c) + (b)) << 1) | (((c) + (b)) >> 31))

apr_status_t hl_checksum_init(hl_checksum *st, apr_size_t chunk_size)
{
    st->checksum = 0;
    st->total_bytes = 0;
    st->pieces = 0;
    st->chunk_size = chunk_size;
    return chunk_size == 0 ? APR_EINVAL : APR_SUCCESS;
}

/* The update kernel: eight bytes per iteration keeps the loop overhead off
 * the serial add-rotate chain, which is the real cost. */
static apr_uint32_t checksum_run(apr_uint32_t c, const unsigned char *p,
                                 apr_size_t len)
{
    const unsigned char *end8 = p + (len & ~(apr_size_t)7);
    const unsigned char *end = p + len;

    while (p < end8) {
        HL_STEP(c, p[0]); HL_STEP(c, p[1]); HL_STEP(c, p[2]); HL_STEP(c, p[3]);
        HL_STEP(c, p[4]); HL_STEP(c, p[5]); HL_STEP(c, p[6]); HL_STEP(c, p[7]);
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
