/* refsum: the reference figures of a body, written straight from the
 * formulas of the issue and independent of src/, so that the Apache::Test
 * suite can check answers for bodies too large to sum in Perl.
 * Reads stdin; prints "<total_bytes> <checksum> <pooled_sum>" where
 *   checksum:   c = 0; for each byte b: c = rotl32((c + b) mod 2^32, 1)
 *   pooled_sum: sum over bytes of ((b + 1) mod 256), 64-bit */
#include <stdint.h>
#include <stdio.h>

int main(void)
{
    static unsigned char buf[1 << 16];
    uint32_t c = 0;
    uint64_t total = 0, pooled = 0;
    size_t n, i;

    while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
        for (i = 0; i < n; i++) {
            c += buf[i];
            c = (c << 1) | (c >> 31);
            pooled += (uint8_t)(buf[i] + 1);
        }
        total += n;
    }
    printf("%llu %lu %llu\n", (unsigned long long)total, (unsigned long)c,
           (unsigned long long)pooled);
    return ferror(stdin) ? 1 : 0;
}
