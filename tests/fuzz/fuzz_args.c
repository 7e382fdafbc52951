/* fuzz_args.c - libFuzzer target: the command line's parsers (tools/args.c) and the suite CSV
 * reader (tools/suite.c). The input is split at NUL bytes into arguments, each given to every
 * parser; the whole input is also read as a suite file. Whatever a parser accepts must be
 * what it promises: a count starts with a digit, a number is finite and in range, a shape is
 * integers and commas, every suite row is a valid descriptor. */
#include "../../tools/args.h"
#include "../../tools/suite.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    snprintf(path, sizeof path, "/tmp/safeconv-fuzz-suite-%d.csv", (int)getpid());
    return 0;
}

#define EXPECT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_args: '%s': %s\n", text, #cond);                                 \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void one(const char *text)
{
    uint64_t u;
    int i, dir, layout, device;
    double x;
    sc_algo algo;
    sc_conv2d_desc d;
    if (sc_arg_u64("--count", text, &u)) EXPECT(isdigit((unsigned char)text[0]));
    if (sc_arg_int("--repeats", text, -5, 100, &i)) EXPECT(i >= -5 && i <= 100);
    if (sc_arg_double("--watchdog", text, 0.001, 1e9, &x)) EXPECT(isfinite(x) && x >= 0.001);
    if (sc_arg_device(text, &device)) EXPECT(device >= -1 && device <= 1023);
    if (sc_arg_direction(text, &dir)) EXPECT(dir >= -1 && dir <= 3);
    if (sc_arg_layout(text, &layout)) EXPECT(layout >= -1 && layout <= 1);
    if (sc_arg_algo(text, &algo)) EXPECT(algo >= 0 && algo <= SC_ALGO_LAST);
    if (sc_arg_shape("--shape", text, &d)) {
        int commas = 0;
        for (const char *p = text; *p; p++) {
            EXPECT(isdigit((unsigned char)*p) || *p == ',' || *p == '-');
            commas += *p == ',';
        }
        EXPECT(commas == 6 || commas == 10);
        sc_conv2d_validate(&d); /* anything parsed may be validated without harm */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    for (size_t at = 0; at <= size;) {
        one(buf + at);
        at += strlen(buf + at) + 1;
    }
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, size, f);
        fclose(f);
        sc_suite_row *rows = NULL;
        int n = sc_suite_load(path, &rows);
        for (int r = 0; r < n; r++)
            if (sc_conv2d_validate(&rows[r].desc)) {
                fprintf(stderr, "fuzz_args: suite row %d is not valid\n", r);
                abort();
            }
        free(rows);
        unlink(path);
    }
    free(buf);
    return 0;
}
