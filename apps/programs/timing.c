/* timing.c: the clocks and the environment — time, clock, gettimeofday, clock_gettime,
 * difftime, gmtime_r/strftime and getenv — checked for sense, not printed (they differ
 * between runs): a workload runs between two readings of each clock, which must not go
 * backwards, and the wall clock must be after 2024. Prints ok or what failed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static volatile unsigned long sink;

int main(void) {
    int failures = 0;
    time_t t0 = time(NULL);
    clock_t c0 = clock();
    struct timeval tv0;
    gettimeofday(&tv0, NULL);
    struct timespec m0;
    clock_gettime(CLOCK_MONOTONIC, &m0);
    unsigned long x = 1;
    for (unsigned long i = 0; i < 500000; i++) x = x * 6364136223846793005UL + i;
    sink = x;
    time_t t1 = time(NULL);
    clock_t c1 = clock();
    struct timeval tv1;
    gettimeofday(&tv1, NULL);
    struct timespec m1;
    clock_gettime(CLOCK_MONOTONIC, &m1);
    if (t0 < 1704067200 || t1 < t0) { printf("timing: time() %ld then %ld FAIL\n", (long)t0, (long)t1); failures++; }
    if (c0 == (clock_t)-1 || c1 < c0) { printf("timing: clock() %ld then %ld FAIL\n", (long)c0, (long)c1); failures++; }
    if (tv1.tv_sec < tv0.tv_sec || (tv0.tv_sec - t0) > 2 || (t0 - tv0.tv_sec) > 2) {
        printf("timing: gettimeofday disagrees with time FAIL\n");
        failures++;
    }
    double dm = (double)(m1.tv_sec - m0.tv_sec) + (m1.tv_nsec - m0.tv_nsec) / 1e9;
    if (dm < 0 || dm > 60) { printf("timing: monotonic clock moved %f s FAIL\n", dm); failures++; }
    if (difftime(t1, t0) < 0) { printf("timing: difftime FAIL\n"); failures++; }
    struct tm tm;
    char year[8];
    if (gmtime_r(&t0, &tm) == NULL || strftime(year, sizeof year, "%Y", &tm) != 4 || atoi(year) < 2024) {
        printf("timing: gmtime_r/strftime FAIL\n");
        failures++;
    }
    const char *home = getenv("BAREFLOW_NO_SUCH_VARIABLE");
    if (home != NULL) { printf("timing: getenv found an unset variable FAIL\n"); failures++; }
    printf("timing: time, clock, gettimeofday, clock_gettime, gmtime_r, strftime, getenv %s\n",
           failures ? "FAIL" : "ok");
    return failures ? 1 : 0;
}
