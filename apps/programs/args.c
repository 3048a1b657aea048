/* args.c: a program run with arguments.
 *
 *   args N queens    counts the solutions of the N-queens problem (1 <= N <= 14) and
 *                    prints the first one (the tests run `args 8 queens`)
 *   args             the same with the defaults N = 8, queens (and says so)
 *
 * Prints argc and every argument (argv[0] only as "set": the program's name differs
 * between a native run and the kernel), checks argv[argc] == NULL, then solves the
 * problem and checks the count against the known sequence (OEIS A000170).
 *
 * Output is deterministic; exit status 0 when the self-checks pass, 1 (and FAIL)
 * otherwise, 2 (and a usage line) for arguments it does not understand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXN 14

static const long known[MAXN + 1] = {1, 1, 0, 0, 2, 10, 4, 40, 92, 352, 724, 2680, 14200, 73712, 365596};

static int n_queens;
static long solutions;
static int cols[MAXN], first[MAXN];

/* Places a queen on row `row`; the masks hold the attacked columns and diagonals. */
static void place(int row, unsigned colmask, unsigned diag1, unsigned diag2) {
    if (row == n_queens) {
        if (solutions++ == 0) memcpy(first, cols, sizeof cols);
        return;
    }
    unsigned all = (1u << n_queens) - 1;
    unsigned free_cols = all & ~(colmask | diag1 | diag2);
    while (free_cols) {
        unsigned bit = free_cols & -free_cols;
        free_cols ^= bit;
        cols[row] = __builtin_ctz(bit);
        place(row + 1, colmask | bit, (diag1 | bit) << 1, (diag2 | bit) >> 1);
    }
}

static int usage(void) {
    printf("usage: args [N queens]   (1 <= N <= %d)\n", MAXN);
    return 2;
}

int main(int argc, char **argv) {
    printf("argc = %d\n", argc);
    printf("argv[0] %s\n", argc > 0 && argv[0] && argv[0][0] ? "is set" : "is missing");
    for (int i = 1; i < argc; i++) printf("argv[%d] = \"%s\" (%zu chars)\n", i, argv[i], strlen(argv[i]));
    if (argv[argc] != NULL) {
        printf("args: FAIL (argv[argc] is not NULL)\n");
        return 1;
    }

    long n = 8;
    const char *mode = "queens";
    if (argc <= 1) {
        printf("no arguments: using the defaults, 8 queens\n");
    } else {
        char *end;
        n = strtol(argv[1], &end, 10);
        if (*end != '\0' || n < 1 || n > MAXN) return usage();
        if (argc > 2) mode = argv[2];
        if (argc > 3) return usage();
    }
    if (strcmp(mode, "queens") != 0) return usage();

    n_queens = (int)n;
    place(0, 0, 0, 0);
    printf("%d-queens: %ld solutions\n", n_queens, solutions);
    if (solutions) {
        printf("first solution (column of the queen in each row):");
        for (int r = 0; r < n_queens; r++) printf(" %d", first[r]);
        printf("\n");
        for (int r = 0; r < n_queens; r++) {
            char row[2 * MAXN + 1];
            for (int c = 0; c < n_queens; c++) {
                row[2 * c] = c == first[r] ? 'Q' : '.';
                row[2 * c + 1] = ' ';
            }
            row[2 * n_queens - 1] = '\0';
            printf("  %s\n", row);
        }
    }
    if (solutions != known[n_queens]) {
        printf("args: FAIL (expected %ld solutions)\n", known[n_queens]);
        return 1;
    }
    printf("args: ok\n");
    return 0;
}
