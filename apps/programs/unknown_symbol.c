/* unknown_symbol.c: a program that calls a C library function a bare-metal kernel
 * does not offer: fork() from unistd.h. The kernel is expected to refuse it at load
 * time, naming `fork`; nothing runs.
 *
 * Natively it runs: the child returns at once (it prints nothing; stdout was flushed
 * before the fork, so nothing is printed twice), the parent prints a line and returns
 * 0. fork is the only function it needs beyond printf and fflush. */
#define _POSIX_C_SOURCE 200809L /* fork and pid_t from unistd.h, also with -std=c11 */
#include <stdio.h>
#include <unistd.h>

int main(void) {
    printf("unknown_symbol: calling fork()\n");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) return 0; /* the child */
    printf("unknown_symbol: fork %s\n", pid > 0 ? "created a child" : "failed");
    return 0;
}
