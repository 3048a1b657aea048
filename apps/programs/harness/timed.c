/* The native reference's timing (make bench): build.sh compiles a program with its
 * `main` renamed `bf_timed_main` and links it with this file, which reads the TSC around
 * the call, as the kernel's `bf_app_main` does around `main` (docs/programs.md). Prints
 * `cycles N` on stderr; returns the program's status. A program that leaves by `exit`
 * is not timed. */
#include <stdio.h>
#include <x86intrin.h>

int bf_timed_main(int argc, char **argv);

int main(int argc, char **argv) {
    unsigned long long start = __rdtsc();
    int status = bf_timed_main(argc, argv);
    unsigned long long end = __rdtsc();
    fflush(stdout);
    fprintf(stderr, "cycles %llu\n", end - start);
    return status;
}
