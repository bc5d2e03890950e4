/* checksum_loop: the in-memory ceiling of the process endpoint (bench/run,
 * line 5).  Reads FILE (the very body bench/run posts) into one buffer and
 * times, over those same bytes in the same run, the project's two loops:
 *
 *   plain   hl_checksum_plain, the textbook one-byte-at-a-time loop
 *   update  hl_checksum_update, the kernel the endpoint streams through
 *
 * Each is run REPS times (default 3) and the best time is kept, since
 * anything slower than the best is noise from the machine, not the loop.
 * Prints one line that bench/run parses:
 *
 *   bytes=N plain_mbps=X update_mbps=Y checksum=C
 *
 * MB is 10^6 bytes, as everywhere in bench/run.  Exits 1 when the two loops
 * disagree, because then the comparison would be meaningless.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hl_checksum.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long size;
    if (!f || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "checksum_loop: %s: %s\n", path, strerror(errno));
        exit(2);
    }
    buf = malloc((size_t)size + 1);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "checksum_loop: cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    *len = (size_t)size;
    return buf;
}

/* volatile: the compiler must not drop a sum nobody reads. */
static volatile apr_uint32_t sink;

static double best_plain(const unsigned char *buf, size_t len, int reps,
                         apr_uint32_t *sum)
{
    double best = 1e30;
    int i;
    for (i = 0; i < reps; i++) {
        double t0 = now(), t;
        *sum = hl_checksum_plain(buf, len);
        sink = *sum;
        t = now() - t0;
        if (t < best)
            best = t;
    }
    return best;
}

static double best_update(const unsigned char *buf, size_t len, int reps,
                          apr_uint32_t *sum)
{
    double best = 1e30;
    int i;
    for (i = 0; i < reps; i++) {
        hl_checksum st;
        double t0 = now(), t;
        hl_checksum_init(&st, 4096);
        hl_checksum_update(&st, buf, len);
        sink = st.checksum;
        t = now() - t0;
        *sum = st.checksum;
        if (t < best)
            best = t;
    }
    return best;
}

int main(int argc, char **argv)
{
    size_t len;
    unsigned char *buf;
    int reps = argc > 2 ? atoi(argv[2]) : 3;
    apr_uint32_t plain_sum = 0, update_sum = 0;
    double tp, tu;

    if (argc < 2 || reps < 1) {
        fprintf(stderr, "usage: checksum_loop FILE [REPS]\n");
        return 2;
    }
    buf = read_all(argv[1], &len);
    tp = best_plain(buf, len, reps, &plain_sum);
    tu = best_update(buf, len, reps, &update_sum);
    if (plain_sum != update_sum) {
        fprintf(stderr, "checksum_loop: plain %u != update %u\n",
                (unsigned)plain_sum, (unsigned)update_sum);
        return 1;
    }
    printf("bytes=%zu plain_mbps=%.1f update_mbps=%.1f checksum=%u\n", len,
           (double)len / 1e6 / tp, (double)len / 1e6 / tu, (unsigned)plain_sum);
    free(buf);
    return 0;
}
