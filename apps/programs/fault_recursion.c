/* fault_recursion.c: a program that fails on purpose by unbounded recursion.
 *
 * Prints one line (flushed), then recurses without end: every frame holds a 256-byte
 * local array that is written before and read after the recursive call, and the base
 * case depends on a volatile flag that is never set, so the compiler can turn it into
 * neither a loop nor a noreturn function. Expected: a stack overflow (SIGSEGV on the
 * guard page natively); never prints the second line. */
#include <stdio.h>

static volatile int stop; /* never set */

static unsigned deep(unsigned depth) {
    volatile unsigned char frame[256];
    for (unsigned i = 0; i < sizeof frame; i += 32) frame[i] = (unsigned char)(depth + i);
    if (stop) return depth;
    unsigned below = deep(depth + 1);
    return below + frame[depth % 8 * 32];
}

int main(void) {
    printf("fault_recursion: recursing without end\n");
    fflush(stdout);
    unsigned r = deep(0);
    printf("fault_recursion: FAIL (the recursion returned %u)\n", r);
    return 1;
}
