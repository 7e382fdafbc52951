/* test_cpu_determinism.c - every CPU route gives the same bits run to run at a fixed thread
 * count (docs/cpu.md, "Determinism"), in every direction, not only backward-weight (which
 * tools/check.c repeats within one context).
 *
 * A second run here differs from the first in what differs between two runs of a program: a
 * fresh context, oneDNN's primitives created anew (the route's cache is emptied, as in a new
 * process), and operands at another address alignment (4 bytes off 64 instead of 64: malloc's
 * alignment is not fixed). Routes: auto selection, the direct loops, im2col + OpenBLAS, and the
 * oneDNN route in each of its layout variants (when the build has it); 1 and 2 threads. */
#include "../../tools/check.h"
#include "cpu/cpu.h"
#include "cpu_onednn_util.h"
#include "testlib.h"

#include <math.h>
#include <stdlib.h>

typedef struct route {
    const char *name;
    sc_algo algo;
    const char *variant; /* SAFECONV_ONEDNN_VARIANT, or NULL */
    bool onednn;
} route;

static const route routes[] = {
    {"auto", SC_ALGO_NONE, NULL, false},
    {"direct", SC_ALGO_CPU_DIRECT, NULL, false},
    {"im2col_gemm", SC_ALGO_CPU_IM2COL_GEMM, NULL, false},
    {"onednn_user", SC_ALGO_CPU_ONEDNN, "user", true},
    {"onednn_blocked", SC_ALGO_CPU_ONEDNN, "blocked", true},
};

/* Operand element counts in sc_call order (a, b, c, out, out2). */
static void operand_counts(const sc_conv2d_desc *d, int dir, int64_t n[5])
{
    int64_t xe, we, ye;
    sc_conv2d_tensor_elems(d, &xe, &we, &ye);
    for (int i = 0; i < 5; i++) n[i] = 0;
    switch (dir) {
    case SC_DIR_FORWARD: n[0] = xe, n[1] = we, n[2] = d->k, n[3] = ye; break;
    case SC_DIR_BACKWARD_DATA: n[0] = ye, n[1] = we, n[3] = xe; break;
    case SC_DIR_BACKWARD_WEIGHT: n[0] = xe, n[1] = ye, n[3] = we, n[4] = d->k; break;
    default: n[0] = ye, n[3] = d->k; break;
    }
}

/* One run of `dir` with operands placed `misalign` bytes past a 64-byte boundary; the outputs
 * are copied to out[0..1]. */
static sc_status run_once(const route *rt, int threads, const sc_conv2d_desc *d, int dir,
                          float *const in[3], const int64_t n[5], size_t misalign, float *out[2])
{
    sc_context_options o;
    sc_context_options_init(&o);
    o.algo = rt->algo;
    o.num_threads = threads;
    sc_context *ctx;
    sc_status st = sc_context_create(&o, &ctx);
    if (st) return st;
    void *raw[5] = {0};
    float *p[5] = {0};
    for (int i = 0; i < 5 && !st; i++) {
        if (!n[i]) continue;
        if (posix_memalign(&raw[i], 64, (size_t)n[i] * sizeof(float) + 64)) {
            st = SC_STATUS_OUT_OF_MEMORY;
            break;
        }
        p[i] = (float *)((char *)raw[i] + misalign);
        if (i < 3)
            memcpy(p[i], in[i], (size_t)n[i] * sizeof(float));
        else
            for (int64_t j = 0; j < n[i]; j++) p[i][j] = NAN;
    }
    if (!st) st = sc_run_direction(ctx, d, (sc_direction)dir, p[0], p[1], p[2], p[3], p[4]);
    for (int i = 3; i < 5 && !st; i++)
        if (n[i]) memcpy(out[i - 3], p[i], (size_t)n[i] * sizeof(float));
    for (int i = 0; i < 5; i++) free(raw[i]);
    sc_context_destroy(ctx);
    return st;
}

SC_TEST(cpu_every_route_repeats_bits)
{
    bool onednn = sc_test_onednn_built();
    sc_gen_options gen;
    sc_gen_options_init(&gen);
    gen.large_share = 0.3; /* some problems big enough for every thread to get work */
    int count = sc_test_count(sc_test_quick() ? 12 : 40), compared = 0;
    for (int i = 0; i < count; i++) {
        uint64_t seed = sc_mix_seed(sc_test_seed() ^ 0xde7e, (uint64_t)i);
        sc_rng rng = {seed};
        sc_conv2d_desc d;
        sc_random_desc(&rng, &gen, &d);
        char text[160];
        sc_desc_format(&d, text, sizeof text);
        for (int dir = 0; dir < 4; dir++) {
            int64_t n[5];
            operand_counts(&d, dir, n);
            float *in[3] = {0}, *first[2] = {0}, *second[2] = {0};
            for (int k = 0; k < 3; k++)
                if (n[k] && (in[k] = malloc((size_t)n[k] * sizeof(float))))
                    for (int64_t j = 0; j < n[k]; j++) in[k][j] = sc_rng_unit(&rng);
            for (int k = 0; k < 2; k++)
                if (n[3 + k]) {
                    first[k] = malloc((size_t)n[3 + k] * sizeof(float));
                    second[k] = malloc((size_t)n[3 + k] * sizeof(float));
                }
            for (size_t r = 0; r < sizeof routes / sizeof routes[0]; r++) {
                const route *rt = &routes[r];
                if (rt->onednn && !onednn) continue;
                if (rt->variant) setenv("SAFECONV_ONEDNN_VARIANT", rt->variant, 1);
                for (int threads = 1; threads <= 2; threads++) {
                    sc_status s1 = run_once(rt, threads, &d, dir, in, n, 0, first);
                    sc_cpu_onednn_cache_clear();
                    sc_status s2 = run_once(rt, threads, &d, dir, in, n, 4, second);
                    if (s1 || s2) {
                        sc_test_fail(__FILE__, __LINE__, "%s %d threads dir %d %s: %s", rt->name,
                                     threads, dir, text, sc_last_error());
                        continue;
                    }
                    for (int k = 0; k < 2; k++)
                        if (n[3 + k] &&
                            memcmp(first[k], second[k], (size_t)n[3 + k] * sizeof(float)))
                            sc_test_fail(__FILE__, __LINE__,
                                         "%s %d threads dir %d %s seed 0x%016llx: output %d "
                                         "differs between two runs",
                                         rt->name, threads, dir, text, (unsigned long long)seed, k);
                    compared++;
                }
                if (rt->variant) unsetenv("SAFECONV_ONEDNN_VARIANT");
            }
            for (int k = 0; k < 3; k++) free(in[k]);
            for (int k = 0; k < 2; k++) free(first[k]), free(second[k]);
        }
    }
    CHECK(compared > 0);
}
