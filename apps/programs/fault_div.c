/* fault_div.c: a program that fails on purpose with an integer division by zero.
 *
 * Prints one line (flushed), then divides by a divisor read from a volatile variable,
 * so at -O2 it is a real idiv instruction (#DE; SIGFPE natively). The quotient is
 * printed afterwards, so the division is not removed. Never prints the second line. */
#include <stdio.h>

static volatile int divisor = 0;

int main(void) {
    printf("fault_div: dividing by zero\n");
    fflush(stdout);
    int dividend = 1000003;
    int d = divisor;
    int q = dividend / d;
    printf("fault_div: FAIL (1000003 / 0 = %d)\n", q);
    return 1;
}
