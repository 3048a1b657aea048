/* An external BareFlow app in C (apps/README.md's ABI), for `make disk APP=...`:
 *
 *   clang-22 -O2 -c -emit-llvm -o build/collatz.bc apps/c-example/collatz.c
 *   make disk APP=build/collatz.bc && make run
 *
 * It finds the number below 300000 with the longest Collatz chain and checks the
 * answer (230631, 443 steps: known values). */
#include <stddef.h>
#include <stdint.h>

void bf_print(const uint8_t *ptr, size_t len);
void bf_print_u64(uint64_t value);
void bf_section_begin(void);
void bf_section_end(void);

static void print(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    bf_print((const uint8_t *)s, n);
}

__attribute__((noinline)) static uint32_t chain_length(uint64_t n) {
    uint32_t steps = 1;
    while (n != 1) {
        n = (n & 1) ? 3 * n + 1 : n / 2;
        steps++;
    }
    return steps;
}

int32_t bf_app_main(void) {
    uint64_t best = 1;
    uint32_t best_len = 1;
    bf_section_begin();
    for (uint64_t n = 1; n < 300000; n++) {
        uint32_t len = chain_length(n);
        if (len > best_len) {
            best_len = len;
            best = n;
        }
    }
    bf_section_end();
    print("collatz: longest chain below 300000 starts at ");
    bf_print_u64(best);
    print(", ");
    bf_print_u64(best_len);
    print(" steps ");
    int ok = best == 230631 && best_len == 443;
    print(ok ? "ok\n" : "FAIL\n");
    return ok ? 0 : 1;
}
