/* Allocates 16 MiB in 1 MiB blocks, writes every page, and never frees any of it: the
 * kernel's program runtime must release the blocks when the run ends, so the program
 * can run any number of times (docs/programs.md). Natively the process exit frees them.
 * The blocks are kept in a global array, so the compiler cannot drop the allocations. */
#include <stdio.h>
#include <stdlib.h>

#define BLOCKS 16
#define BLOCK_BYTES (1024 * 1024)

unsigned char *kept[BLOCKS];

int main(void) {
    unsigned long sum = 0;
    for (int b = 0; b < BLOCKS; b++) {
        kept[b] = malloc(BLOCK_BYTES);
        if (kept[b] == NULL) {
            printf("leaky: malloc failed at block %d FAIL\n", b);
            return 1;
        }
        for (int i = 0; i < BLOCK_BYTES; i += 4096) {
            kept[b][i] = (unsigned char)(b + i / 4096);
        }
    }
    for (int b = 0; b < BLOCKS; b++) {
        for (int i = 0; i < BLOCK_BYTES; i += 4096) {
            sum += kept[b][i];
        }
    }
    printf("leaky: %d blocks of %d bytes kept, page sum %lu ok\n", BLOCKS, BLOCK_BYTES, sum);
    return 0;
}
