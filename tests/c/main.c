/* main.c - the C test runner: safeconv-tests [--quick] [--seed S] [--count N] [FILTER...] */
#include "testlib.h"

#include <stdarg.h>
#include <stdlib.h>
#include <time.h>

#define MAX_TESTS 512
static struct {
    const char *name;
    sc_test_fn fn;
} tests[MAX_TESTS];
static int ntests;
static bool failed, quick;
static uint64_t seed;
static int count_override;

void sc_test_register(const char *name, sc_test_fn fn)
{
    if (ntests == MAX_TESTS) {
        fprintf(stderr, "testlib: more than %d tests\n", MAX_TESTS);
        exit(2);
    }
    tests[ntests].name = name, tests[ntests].fn = fn, ntests++;
}

void sc_test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    failed = true;
    fprintf(stderr, "    FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

bool sc_test_failed(void) { return failed; }
bool sc_test_quick(void) { return quick; }
uint64_t sc_test_seed(void) { return seed; }
int sc_test_count(int dflt) { return count_override > 0 ? count_override : dflt; }

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int main(int argc, char **argv)
{
    const char *filters[64];
    int nfilters = 0;
    seed = (uint64_t)time(NULL);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = true;
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--count") && i + 1 < argc)
            count_override = atoi(argv[++i]);
        else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: %s [--quick] [--seed S] [--count N] [FILTER...]\n", argv[0]);
            return 2;
        } else if (nfilters < 64)
            filters[nfilters++] = argv[i];
    }
    qsort(tests, (size_t)ntests, sizeof tests[0], by_name);
    printf("safeconv tests: seed %llu%s\n", (unsigned long long)seed, quick ? " (quick)" : "");
    int passed = 0, nfailed = 0;
    for (int i = 0; i < ntests; i++) {
        bool run = nfilters == 0;
        for (int f = 0; f < nfilters && !run; f++) run = strstr(tests[i].name, filters[f]) != NULL;
        if (!run) continue;
        failed = false;
        struct timespec t0, t1; /* wall time: probe tests mostly wait on child processes */
        clock_gettime(CLOCK_MONOTONIC, &t0);
        tests[i].fn();
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        printf("%s %s (%.2fs)\n", failed ? "FAIL" : "ok  ", tests[i].name, s);
        fflush(stdout);
        failed ? nfailed++ : passed++;
    }
    printf("%d passed, %d failed\n", passed, nfailed);
    return nfailed ? 1 : 0;
}
