/* scripts/count-cost.c — what counting every call costs a function that does almost
 * nothing per call, natively, outside the kernel (docs/engine.md, "Profiling
 * overhead"). Run it with scripts/count-cost.sh.
 *
 * Each variant is the shape the fib app's bitcode has after rustc's optimiser (the
 * second self-call turned into a loop), calling itself through a slot as the rewritten
 * module does, with the counters addressed through a pointer as through the GOT:
 *
 *   plain       no counting (the module without its profiling);
 *   count-only  `calls += 1` (what top-tier code does);
 *   entry       the fast path BareFlow emits (jit::rewrite::ProfilePath): count, compare
 *               with check_at_calls, test running, jump out of line for the rest;
 *   in-line     the fast path before that: the same, with the policy's call in line
 *               and the activation kept in a register to its returns;
 *   recursive   the entry path for calls from elsewhere, and what a function that calls
 *               itself does with its own calls since (jit::rewrite::split_recursive):
 *               they go straight to its body, counted in a register, and a return adds
 *               the count to the profile if it is not 0.
 *
 * Prints each variant's best time over ROUNDS interleaved rounds, relative to plain. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <x86intrin.h>

typedef struct { uint64_t calls, cycles, running, entered_at, tier_entry, check_at, check_cycles, tier; } Counters;
static Counters counters[5];
static Counters *volatile got = counters; /* the counters' address, loaded as from the GOT */
typedef uint64_t (*Fn)(uint32_t);
static Fn volatile slot[5];

__attribute__((noinline, cold)) static void ask_policy(int id) { counters[id].check_at = UINT64_MAX; }

#define BODY(s)                   \
    uint64_t acc = 0;             \
    while (n > 1) {               \
        acc += slot[s](n - 1);    \
        n -= 2;                   \
    }                             \
    return acc + n;

static uint64_t plain(uint32_t n) { BODY(0) }

static uint64_t count_only(uint32_t n) {
    got[1].calls++;
    BODY(1)
}

__attribute__((noinline, cold)) static uint64_t entry_recheck(uint32_t n) {
    ask_policy(2);
    counters[2].calls--;
    __attribute__((musttail)) return slot[2](n);
}
/* The outermost activation of variant v, out of line: marked running around a call
 * through its slot (the call counts itself again). */
#define OUTER(name, v)                                            \
    __attribute__((noinline)) static uint64_t name(uint32_t n) { \
        Counters *c = &counters[v];                               \
        c->calls--;                                               \
        c->running = 1;                                           \
        uint64_t r = slot[v](n);                                  \
        c->running = 0;                                           \
        return r;                                                 \
    }

OUTER(entry_outer, 2)
static uint64_t entry(uint32_t n) {
    Counters *c = got + 2;
    if (__builtin_expect(++c->calls >= c->check_at, 0)) __attribute__((musttail)) return entry_recheck(n);
    if (c->running == 0) __attribute__((musttail)) return entry_outer(n);
    BODY(2)
}

static uint64_t in_line(uint32_t n) {
    Counters *c = got + 3;
    uint64_t k = ++c->calls, outer = 0;
    if (__builtin_expect(k >= c->check_at, 0)) ask_policy(3);
    if (c->running == 0) {
        c->running = 1;
        outer = k <= 64 ? 3 : (k & 63) == 0 ? 129 : 1;
        if (outer > 1) c->entered_at = __rdtsc();
    }
    uint64_t acc = 0;
    while (n > 1) {
        acc += slot[3](n - 1);
        n -= 2;
    }
    if (outer) {
        c->running = 0;
        if (outer > 1) c->cycles += (__rdtsc() - c->entered_at) * (outer >> 1);
    }
    return acc + n;
}

__attribute__((noinline)) static uint64_t recursive_body(uint32_t n) {
    uint64_t acc = 0, made = 0;
    while (n > 1) {
        acc += recursive_body(n - 1);
        made++;
        __asm__("" : "+r"(made)); /* a plain count, as the kernel keeps it */
        n -= 2;
    }
    if (made) {
        Counters *c = got + 4;
        if (__builtin_expect((c->calls += made) >= c->check_at, 0)) ask_policy(4);
    }
    return acc + n;
}
OUTER(recursive_outer, 4)
static uint64_t recursive(uint32_t n) {
    Counters *c = got + 4;
    if (__builtin_expect(++c->calls >= c->check_at, 0)) ask_policy(4);
    if (c->running == 0) __attribute__((musttail)) return recursive_outer(n);
    __attribute__((musttail)) return recursive_body(n);
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 15;
    const char *names[5] = {"plain", "count-only", "entry", "in-line", "recursive"};
    Fn fns[5] = {plain, count_only, entry, in_line, recursive};
    uint64_t best[5];
    for (int v = 0; v < 5; v++) {
        slot[v] = fns[v];
        counters[v].check_at = UINT64_MAX;
        counters[v].check_cycles = UINT64_MAX;
        best[v] = UINT64_MAX;
    }
    for (int r = 0; r < rounds; r++)
        for (int v = 0; v < 5; v++) {
            uint64_t t = __rdtsc();
            volatile uint64_t x = slot[v](27);
            (void)x;
            t = __rdtsc() - t;
            if (t < best[v]) best[v] = t;
        }
    for (int v = 0; v < 5; v++)
        printf("%-10s %6.2f Mcycles  %+6.1f %%\n", names[v], best[v] / 1e6, 100.0 * best[v] / best[0] - 100);
    return 0;
}
