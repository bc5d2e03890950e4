/* hl_pooled: see hl_pooled.h for the transform and why it streams. */
#include "hl_pooled.h"

apr_status_t hl_pooled_init(hl_pooled *st, void *buffer, apr_size_t buffer_size)
{
    st->buffer = buffer;
    st->buffer_size = buffer_size;
    st->input_size = 0;
    st->output_size = 0;
    st->checksum = 0;
    return buffer != NULL && buffer_size > 0 ? APR_SUCCESS : APR_EINVAL;
}

#if defined(__SSE2__)
#include <emmintrin.h>

/* Sixteen bytes at a time: a bytewise add for the transform, psadbw
 * against zero for the sum (two 64-bit sums of eight bytes each), which
 * the compiler does not make of the byte loops at -O2. */
static apr_size_t transform_wide(unsigned char *out, const unsigned char *in,
                                 apr_size_t n)
{
    const __m128i one = _mm_set1_epi8(1);
    apr_size_t i;
    for (i = 0; i + 16 <= n; i += 16)
        _mm_storeu_si128((__m128i *)(out + i), _mm_add_epi8(
            _mm_loadu_si128((const __m128i *)(in + i)), one));
    return i;
}

static apr_size_t sum_wide(const unsigned char *out, apr_size_t n,
                           apr_uint64_t *sum)
{
    const __m128i zero = _mm_setzero_si128();
    __m128i acc = zero;
    apr_uint64_t lanes[2];
    apr_size_t i;
    for (i = 0; i + 16 <= n; i += 16)
        acc = _mm_add_epi64(acc, _mm_sad_epu8(
            _mm_loadu_si128((const __m128i *)(out + i)), zero));
    _mm_storeu_si128((__m128i *)lanes, acc);
    *sum += lanes[0] + lanes[1];
    return i;
}
#else
static apr_size_t transform_wide(unsigned char *out, const unsigned char *in,
                                 apr_size_t n)
{
    (void)out; (void)in; (void)n;
    return 0;
}

static apr_size_t sum_wide(const unsigned char *out, apr_size_t n,
                           apr_uint64_t *sum)
{
    (void)out; (void)n; (void)sum;
    return 0;
}
#endif

/* One buffer-sized step: transform into the buffer, sum what was written;
 * the wide loops do what they can, the byte loops the rest. */
static apr_uint64_t transform_step(unsigned char *out, const unsigned char *in,
                                   apr_size_t n)
{
    apr_uint64_t sum = 0;
    apr_size_t i;
    for (i = transform_wide(out, in, n); i < n; i++)
        out[i] = (unsigned char)(in[i] + 1);
    for (i = sum_wide(out, n, &sum); i < n; i++)
        sum += out[i];
    return sum;
}

void hl_pooled_update(hl_pooled *st, const void *data, apr_size_t len)
{
    const unsigned char *in = data;
    while (len > 0) {
        apr_size_t n = len < st->buffer_size ? len : st->buffer_size;
        st->checksum += transform_step(st->buffer, in, n);
        in += n;
        len -= n;
        st->input_size += n;
        st->output_size += n;
    }
}

apr_uint64_t hl_pooled_average(const hl_pooled *st)
{
    return st->output_size ? st->checksum / st->output_size : 0;
}

static void processing_result(hl_jsonw *w, const hl_pooled *st)
{
    hl_jsonw_key(w, "processing_result");
    hl_jsonw_object(w);
    hl_jsonw_kv_u64(w, "input_size", st->input_size);
    hl_jsonw_kv_u64(w, "output_size", st->output_size);
    hl_jsonw_kv_u64(w, "checksum", st->checksum);
    hl_jsonw_kv_u64(w, "average", hl_pooled_average(st));
    hl_jsonw_kv_u64(w, "buffer_capacity", st->buffer_size);
    hl_jsonw_end(w);
}

static void memory_pool(hl_jsonw *w, const hl_bufpool_stats *ps)
{
    hl_jsonw_key(w, "memory_pool");
    hl_jsonw_object(w);
    hl_jsonw_kv_u64(w, "current_size", ps->current_size);
    hl_jsonw_kv_u64(w, "max_size", ps->max_size);
    hl_jsonw_kv_u64(w, "buffer_size", ps->buffer_size);
    hl_jsonw_kv_u64(w, "reused", ps->reused);
    hl_jsonw_kv_u64(w, "created", ps->created);
    hl_jsonw_kv_u64(w, "in_use", ps->in_use);
    hl_jsonw_kv_i64(w, "pid", ps->pid);
    hl_jsonw_end(w);
}

void hl_json_pooled(hl_jsonw *w, const hl_pooled *st, const hl_bufpool_stats *ps)
{
    hl_jsonw_object(w);
    processing_result(w, st);
    memory_pool(w, ps);
    hl_jsonw_end(w);
}
