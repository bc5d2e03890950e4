/* hl_pooled: see hl_pooled.h for the transform and why it streams. */
#include "hl_pooled.h"
#include "hl_json_reply.h"

apr_status_t hl_pooled_init(hl_pooled *st, void *buffer, apr_size_t buffer_size)
{
    st->buffer = buffer;
    st->buffer_size = buffer_size;
    st->input_size = 0;
    st->output_size = 0;
    st->checksum = 0;
    return buffer != NULL && buffer_size > 0 ? APR_SUCCESS : APR_EINVAL;
}

/* One buffer-sized step: transform into the buffer, sum what was written. */
static apr_uint64_t transform_step(unsigned char *out, const unsigned char *in,
                                   apr_size_t n)
{
    apr_uint64_t sum = 0;
    apr_size_t i;
    for (i = 0; i < n; i++)
        out[i] = (unsigned char)(in[i] + 1);
    for (i = 0; i < n; i++)
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

static json_object *processing_result(const hl_pooled *st)
{
    json_object *o = json_object_new_object();
    hl_json_add_u64(o, "input_size", st->input_size);
    hl_json_add_u64(o, "output_size", st->output_size);
    hl_json_add_u64(o, "checksum", st->checksum);
    hl_json_add_u64(o, "average", hl_pooled_average(st));
    hl_json_add_u64(o, "buffer_capacity", st->buffer_size);
    return o;
}

static json_object *memory_pool(const hl_bufpool_stats *ps)
{
    json_object *o = json_object_new_object();
    hl_json_add_u64(o, "current_size", ps->current_size);
    hl_json_add_u64(o, "max_size", ps->max_size);
    hl_json_add_u64(o, "buffer_size", ps->buffer_size);
    hl_json_add_u64(o, "reused", ps->reused);
    hl_json_add_u64(o, "created", ps->created);
    hl_json_add_u64(o, "in_use", ps->in_use);
    json_object_object_add(o, "pid", json_object_new_int(ps->pid));
    return o;
}

json_object *hl_json_pooled(const hl_pooled *st, const hl_bufpool_stats *ps)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "processing_result", processing_result(st));
    json_object_object_add(o, "memory_pool", memory_pool(ps));
    return o;
}
