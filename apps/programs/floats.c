/* floats.c: formatted floating-point output over a small numeric workload.
 *
 * Simpson's rule (pi = integral of 4/(1+x^2) over [0,1], ln 2 = integral of 1/x over
 * [1,2]), three series (e, Leibniz, Basel), a harmonic sum in float and in double,
 * Mandelbrot statistics with a tiny ASCII picture, and a table of printf conversions
 * (%f %.3f %e %g %10.4f %-8.2f| %+.2e %G %E %a ...) including exact-decimal rounding
 * cases. No libm: only arithmetic, so every printed digit is fixed by IEEE-754.
 *
 * Output is deterministic; exit status 0 when the self-checks pass, 1 (and FAIL)
 * otherwise. */
#include <stdio.h>

/* Keep a*b+c as two roundings everywhere (no llvm.fmuladd), so a JIT on a CPU with FMA
 * prints the same digits as the generic x86-64 native build. */
#pragma STDC FP_CONTRACT OFF

static int failures;

static void check(int ok, const char *what) {
    if (!ok) {
        printf("check failed: %s\n", what);
        failures++;
    }
}

static double absd(double x) { return x < 0 ? -x : x; }

static double f_pi(double x) { return 4.0 / (1.0 + x * x); }
static double f_inv(double x) { return 1.0 / x; }

/* Composite Simpson's rule with n (even) intervals. */
static double simpson(double (*f)(double), double a, double b, int n) {
    double h = (b - a) / n;
    double s = f(a) + f(b);
    for (int i = 1; i < n; i++) {
        double x = a + i * h;
        s += (i & 1 ? 4.0 : 2.0) * f(x);
    }
    return s * h / 3.0;
}

struct mstats {
    int inside;
    long iterations;
    int max_escape;
};

/* Mandelbrot over a w x h grid of [-2,0.5] x [-1.125,1.125], at most maxit iterations;
 * draws the picture when draw is set. */
static void mandelbrot(int w, int h, int maxit, int draw, struct mstats *st) {
    static const char shades[] = " .:-=+*#%@";
    st->inside = 0;
    st->iterations = 0;
    st->max_escape = 0;
    for (int j = 0; j < h; j++) {
        char line[128];
        double ci = -1.125 + 2.25 * j / (h - 1);
        for (int i = 0; i < w; i++) {
            double cr = -2.0 + 2.5 * i / (w - 1);
            double zr = 0.0, zi = 0.0;
            int k = 0;
            while (k < maxit) {
                double zr2 = zr * zr, zi2 = zi * zi;
                if (zr2 + zi2 > 4.0) break;
                zi = 2.0 * zr * zi + ci;
                zr = zr2 - zi2 + cr;
                k++;
            }
            st->iterations += k;
            if (k == maxit) {
                st->inside++;
                line[i] = '@';
            } else {
                if (k > st->max_escape) st->max_escape = k;
                line[i] = shades[k * 9 / maxit];
            }
        }
        line[w] = '\0';
        if (draw) printf("|%s|\n", line);
    }
}

int main(void) {
    const double PI = 3.14159265358979323846;
    const double LN2 = 0.69314718055994530942;
    const double E = 2.71828182845904523536;

    printf("== Simpson's rule ==\n");
    for (int n = 4; n <= 1024; n *= 4) {
        double p = simpson(f_pi, 0.0, 1.0, n);
        double l = simpson(f_inv, 1.0, 2.0, n);
        printf("n=%-5d pi~%.12f err=%9.2e  ln2~%10.8f err=%.3e\n", n, p, p - PI, l, l - LN2);
    }
    double pi_s = simpson(f_pi, 0.0, 1.0, 1024);
    double ln2_s = simpson(f_inv, 1.0, 2.0, 1024);
    check(absd(pi_s - PI) < 1e-13, "simpson pi");
    check(absd(ln2_s - LN2) < 1e-13, "simpson ln2");

    printf("== Series ==\n");
    double e = 1.0, term = 1.0;
    for (int k = 1; k <= 20; k++) {
        term /= k;
        e += term;
    }
    printf("e       %%f=%f %%.15f=%.15f %%e=%e %%g=%g\n", e, e, e, e);
    check(absd(e - E) < 1e-15, "series e");

    double leib = 0.0;
    for (int k = 0; k < 2000; k++) leib += (k & 1 ? -4.0 : 4.0) / (2 * k + 1);
    printf("leibniz %%.3f=%.3f %%.10f=%.10f %%.4e=%.4e err=%g\n", leib, leib, leib, leib - PI);
    check(absd(leib - PI) < 5.1e-4 && absd(leib - PI) > 4.9e-4, "leibniz");

    double basel = 0.0;
    for (int k = 10000; k >= 1; k--) basel += 1.0 / ((double)k * k);
    printf("basel   %%.12f=%.12f pi^2/6=%.12f diff=%.6e\n", basel, PI * PI / 6, PI * PI / 6 - basel);
    check(absd(PI * PI / 6 - basel - 9.9995e-5) < 1e-8, "basel");

    printf("== float vs double ==\n");
    float hf = 0.0f;
    double hd = 0.0;
    for (int k = 1; k <= 10000; k++) {
        hf += 1.0f / (float)k;
        hd += 1.0 / k;
    }
    printf("H(10000) float=%.7g double=%.15g diff=%+.3e\n", (double)hf, hd, (double)hf - hd);
    float third = 1.0f / 3.0f;
    printf("1/3 float %%.10f=%.10f %%a=%a   double %%.20f=%.20f\n", (double)third, (double)third, 1.0 / 3.0);
    check(absd(hd - 9.787606036044382) < 1e-12, "harmonic double");
    check(absd((double)hf - 9.787613) < 2e-5, "harmonic float");

    printf("== Mandelbrot ==\n");
    struct mstats small, big;
    mandelbrot(60, 21, 40, 1, &small);
    mandelbrot(100, 80, 100, 0, &big);
    printf("60x21/40:   inside=%d iterations=%ld max_escape=%d\n", small.inside, small.iterations,
           small.max_escape);
    printf("100x80/100: inside=%d iterations=%ld max_escape=%d area~%.4f (%5.1f%%)\n", big.inside,
           big.iterations, big.max_escape, 2.5 * 2.25 * big.inside / (100.0 * 80.0),
           100.0 * big.inside / (100.0 * 80.0));

    printf("== Conversions ==\n");
    static const double vals[] = {0.0, -0.0, 1.0, -2.5, 3.14159265358979, 123456.789, 1e-5,
                                  6.02214076e23, -1.602176634e-19, 0.1, 2.675, 1e22};
    for (unsigned i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        double v = vals[i];
        printf("[%2u] %%10.4f=%10.4f|%%-8.2f=%-8.2f|%%.3e=%.3e|%%g=%g|%%12.5G=%12.5G|\n", i, v, v, v, v,
               v);
    }
    printf("%%+.2e=%+.2e %%E=%E %%#.0f=%#.0f %%08.3f=%08.3f %%.0e=%.0e %% .4f=% .4f\n", 12345.678,
           0.000123, 7.0, -3.14159, 55555.0, 2.0);
    printf("round-half-even: %.0f %.0f %.0f %.0f %.1f %.1f %.2f\n", 0.5, 1.5, 2.5, -0.5, 0.25, 0.35,
           1.005);
    printf("big: %.0f %.3f %e %g\n", 1e22, 9007199254740993.0, 1.7976931348623157e308, 5e-324);
    double inf = 1e308;
    inf *= 10.0;
    printf("inf: %f %e %g %8.3f|\n", inf, -inf, inf, -inf);
    printf("%%a: %a %a %a %.3a\n", 1.0, 0.1, -1024.5, PI);
    printf("float args: %f %.2f %g %e\n", (double)1.1f, (double)2.675f, (double)1e10f, (double)3.4e38f);
    printf("widths: [%*.*f] [%-*.*f] [%*g]\n", 12, 3, PI, 10, 2, E, 9, 0.0001);

    check(small.inside == 358 && small.iterations == 18920 && small.max_escape == 33, "mandelbrot small");
    check(big.inside == 2166 && big.iterations == 252934 && big.max_escape == 97, "mandelbrot big");

    if (failures) {
        printf("floats: FAIL (%d checks)\n", failures);
        return 1;
    }
    printf("floats: ok\n");
    return 0;
}
