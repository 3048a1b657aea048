/* fault_abort.c: a program that fails on purpose by calling abort().
 *
 * Prints one line (flushed), then calls abort() (SIGABRT natively). Never prints the
 * second line. */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    printf("fault_abort: calling abort()\n");
    fflush(stdout);
    abort();
    printf("fault_abort: FAIL (abort returned)\n");
    return 1;
}
