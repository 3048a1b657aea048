/* fault_null.c: a program that fails on purpose by writing through a NULL pointer.
 *
 * Prints one line (flushed), then stores through a pointer read from a volatile
 * variable, so at -O2 the compiler can neither see that it is NULL nor drop the
 * store. Expected: killed by the page fault (SIGSEGV natively); never prints the
 * second line. */
#include <stdio.h>

static int *volatile target; /* zero-initialised: NULL */

int main(void) {
    printf("fault_null: writing through a NULL pointer\n");
    fflush(stdout);
    int *p = target;
    *p = 42;
    printf("fault_null: FAIL (the store did not fault, read back %d)\n", *p);
    return 1;
}
