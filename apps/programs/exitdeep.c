/* exitdeep.c: exit() from deep recursion, with atexit handlers.
 *
 * Registers two atexit handlers (each prints a line; they run in reverse order of
 * registration), then searches by recursive backtracking (moves tried in Warnsdorff
 * order) for a knight's tour of a 7x7 board that starts in the corner (0,0) and ends
 * on (4,2): about 10800 nodes. The search calls exit(3) from the bottom of the
 * recursion, 49 calls below main, when such a tour is complete. Nothing
 * calls fflush: exit must flush stdout after the handlers have run.
 *
 * Expected: exit status 3; the output ends with the two handlers' lines, second
 * registered first. Returning from main (status 1, FAIL) means no tour was found. */
#include <stdio.h>
#include <stdlib.h>

#define N 7
#define END_R 4
#define END_C 2

static int board[N][N]; /* move number (1..N*N), 0 = free */
static long nodes;
static int deepest;

static const int dr[8] = {2, 1, -1, -2, -2, -1, 1, 2};
static const int dc[8] = {1, 2, 2, 1, -1, -2, -2, -1};

static void first_handler(void) { printf("atexit: first registered, runs last\n"); }

static void second_handler(void) { printf("atexit: second registered, runs first (nodes %ld)\n", nodes); }

static int free_square(int r, int c) { return r >= 0 && r < N && c >= 0 && c < N && board[r][c] == 0; }

static int degree(int r, int c) {
    int d = 0;
    for (int k = 0; k < 8; k++) d += free_square(r + dr[k], c + dc[k]);
    return d;
}

static void print_board_and_exit(int depth) {
    printf("knight's tour of %dx%d ending on (%d,%d) found at recursion depth %d after %ld nodes:\n", N, N, END_R,
           END_C, depth, nodes);
    unsigned long check = 0;
    for (int r = 0; r < N; r++) {
        for (int c = 0; c < N; c++) {
            printf("%3d", board[r][c]);
            check = check * 31 + (unsigned long)board[r][c];
        }
        printf("\n");
    }
    printf("board checksum %lu; calling exit(3) from depth %d\n", check, depth);
    exit(3);
}

/* Square (r, c) holds move `move`; tries every continuation. Returns only when none
 * completes the tour. */
static void search(int r, int c, int move, int depth) {
    nodes++;
    if (depth > deepest) deepest = depth;
    if (move == N * N) {
        if (r == END_R && c == END_C) print_board_and_exit(depth);
        return;
    }
    int order[8], keys[8], n = 0;
    for (int k = 0; k < 8; k++) {
        int nr = r + dr[k], nc = c + dc[k];
        if (!free_square(nr, nc)) continue;
        int key = degree(nr, nc) * 8 + k, i = n++;
        while (i > 0 && keys[i - 1] > key) {
            keys[i] = keys[i - 1];
            order[i] = order[i - 1];
            i--;
        }
        keys[i] = key;
        order[i] = k;
    }
    for (int i = 0; i < n; i++) {
        int nr = r + dr[order[i]], nc = c + dc[order[i]];
        board[nr][nc] = move + 1;
        search(nr, nc, move + 1, depth + 1);
        board[nr][nc] = 0;
    }
}

int main(void) {
    if (atexit(first_handler) != 0 || atexit(second_handler) != 0) {
        printf("exitdeep: FAIL (atexit)\n");
        return 1;
    }
    printf("searching for a knight's tour from the corner\n");
    board[0][0] = 1;
    search(0, 0, 1, 1);
    printf("exitdeep: FAIL (no tour found, deepest %d)\n", deepest);
    return 1;
}
