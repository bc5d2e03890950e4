/* libFuzzer target: the streaming checksum and the pooled transform, fed
 * a body cut at points the input chooses.
 *
 * The first bytes pick the chunk size, the pooled buffer size and the cut
 * points; the rest is the body.  Checked: hl_checksum_update over the
 * pieces equals hl_checksum_plain over the whole body, with total_bytes,
 * pieces (non-empty updates) and chunks right; hl_pooled_update over the
 * pieces equals the transform done byte by byte (output = input + 1 mod
 * 256, 64-bit sum, average), whatever the buffer size; both JSON replies
 * build.
 */
#include "hl_checksum.h"
#include "hl_jsonw.h"
#include "hl_pooled.h"

#include <apr_general.h>
#include <json-c/json.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#define MAX_CUTS 16

/* The answers the module would send for these results parse as JSON. */
static void written_json_parses(const hl_checksum *st, const hl_pooled *pl)
{
    apr_pool_t *p = root;
    hl_bufpool_stats ps;
    hl_jsonw w;
    apr_size_t len;
    json_object *o;

    memset(&ps, 0, sizeof(ps));
    hl_jsonw_init(&w, p);
    hl_json_process(&w, st);
    o = json_tokener_parse(hl_jsonw_text(&w, &len));
    CHECK(o != NULL);
    json_object_put(o);
    hl_jsonw_init(&w, p);
    hl_json_pooled(&w, pl, &ps);
    o = json_tokener_parse(hl_jsonw_text(&w, &len));
    CHECK(o != NULL);
    json_object_put(o);
    apr_pool_clear(p);
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    hl_checksum st;
    hl_pooled pl;
    size_t cuts[MAX_CUTS + 2], ncuts, chunk, bufsize, body_len, i;
    apr_uint64_t pieces = 0, sum = 0;
    const unsigned char *body;
    unsigned char *buffer, last = 0;

    if (size < 4)
        return 0;
    chunk = 1 + (data[0] | (size_t)data[1] << 8);
    bufsize = 1 + data[2] % 64;
    ncuts = data[3] % (MAX_CUTS + 1);
    if (size < 4 + 2 * ncuts)
        return 0;
    body = data + 4 + 2 * ncuts;
    body_len = size - 4 - 2 * ncuts;

    /* Cut points in [0, body_len], sorted; repeats make empty pieces. */
    cuts[0] = 0;
    for (i = 0; i < ncuts; i++) {
        size_t c = data[4 + 2 * i] | (size_t)data[5 + 2 * i] << 8;
        cuts[i + 1] = body_len ? c % (body_len + 1) : 0;
    }
    cuts[ncuts + 1] = body_len;
    qsort(cuts + 1, ncuts, sizeof(size_t), cmp_size);

    buffer = malloc(bufsize);
    CHECK(buffer != NULL);
    CHECK(hl_checksum_init(&st, chunk) == APR_SUCCESS);
    CHECK(hl_pooled_init(&pl, buffer, bufsize) == APR_SUCCESS);
    for (i = 0; i <= ncuts; i++) {
        size_t len = cuts[i + 1] - cuts[i];
        hl_checksum_update(&st, body + cuts[i], len);
        hl_pooled_update(&pl, body + cuts[i], len);
        pieces += len > 0;
    }

    CHECK(st.checksum == hl_checksum_plain(body, body_len));
    CHECK(st.total_bytes == body_len);
    CHECK(st.pieces == pieces);
    CHECK(hl_checksum_chunks(&st) == (body_len + chunk - 1) / chunk);

    for (i = 0; i < body_len; i++) {
        last = (unsigned char)(body[i] + 1);
        sum += last;
    }
    CHECK(pl.input_size == body_len && pl.output_size == body_len);
    CHECK(pl.checksum == sum);
    CHECK(hl_pooled_average(&pl) == (body_len ? sum / body_len : 0));
    if (cuts[ncuts + 1] > cuts[ncuts]) {   /* a last non-empty piece: */
        size_t tail = cuts[ncuts + 1] - cuts[ncuts];   /* the buffer holds */
        CHECK(pl.buffer[(tail - 1) % bufsize] == last);   /* its output */
    }

    written_json_parses(&st, &pl);
    CHECK(hl_checksum_init(&st, 0) == APR_EINVAL);
    CHECK(hl_pooled_init(&pl, NULL, 8) == APR_EINVAL);
    free(buffer);
    return 0;
}
