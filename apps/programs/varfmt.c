/* varfmt.c: a program's own variadic function, state that must start afresh every run,
 * and multiply-adds whose rounding shows.
 *
 * - report() is variadic (va_start, vsnprintf): the interpreter does not run such a
 *   function, so under BareFlow it starts in tier 1 while the rest may be interpreted.
 * - `lines` (initialised to 100) and `history` are changed by every run: each run must
 *   print the same values, so the kernel must put the globals back before each run.
 * - a*b - c and Horner's rule with operands from volatiles: clang emits llvm.fmuladd,
 *   which a generic x86-64 build computes with two roundings. A JIT that fused them
 *   on a CPU with FMA would print other hex digits (%a): -0x1p-60 instead of 0x0p+0.
 *
 * Exit status 0 when the self-checks pass. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int lines = 100;
static char history[128] = "start";

static int report(const char *fmt, ...) {
    char buf[160];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    lines++;
    fputs(buf, stdout);
    return n;
}

volatile double one_up = 1.0 + 0x1p-30;
volatile double one_down = 1.0 - 0x1p-30;
volatile double one = 1.0;
volatile double coeff[6] = {0.3, -1.7, 2.2, 0.1, -0.9, 1.3};

int main(void) {
    int failures = 0;
    strcat(history, "+run");
    report("varfmt: %s %d %s %.3f %c %ld\n", "first", 42, "third", 2.5, 'x', -7L);
    report("varfmt: history \"%s\" (%zu chars)\n", history, strlen(history));
    double a = one_up, b = one_down, c = one;
    double d = a * b - c;
    report("varfmt: (1+2^-30)(1-2^-30) - 1 = %a\n", d);
    if (d != 0.0) failures++;
    double poly = 0.0;
    for (int k = 0; k < 200; k++) {
        double x = -2.0 + k * 0.02;
        double p = coeff[0];
        for (int i = 1; i < 6; i++) p = p * x + coeff[i];
        poly += p;
        if (k % 50 == 0) report("varfmt: p(%.2f) = %a\n", x, p);
    }
    report("varfmt: sum of p = %a = %.17g\n", poly, poly);
    report("varfmt: lines so far %d\n", lines);
    if (lines != 100 + 9 || strcmp(history, "start+run") != 0) failures++;
    printf("varfmt: %s\n", failures ? "FAIL" : "ok");
    return failures ? 1 : 0;
}
