/* plan_model_check.cu - the GEMM plan model's promises, on the host (no GPU needed; built and
 * run by `make test-c` when nvcc is present). For random problems, directions and workspace
 * limits:
 *   1. the chosen plan's workspace fits the limit;
 *   2. choosing again with limit = that workspace gives the same plan: sc_gpu_run replans with
 *      the workspace the caller was told to give (backend.cu, ws_for), so the call must run
 *      the plan the size query chose (a different plan would change the bits silently).
 * The environment overrides (SAFECONV_GPU_GEMM_SPLITS, _SERIAL, _CC, ...) are read once per
 * process: the Makefile runs this once per setting worth checking. Exit status 1 on a failure. */
#include "kern.h"

#include <stdio.h>
#include <stdlib.h>

static unsigned long long rng = 88172645463325252ull;
static int rnd(int a, int b)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return a + (int)(rng % (unsigned long long)(b - a + 1));
}

int main(int argc, char **argv)
{
    int count = argc > 1 ? atoi(argv[1]) : 20000, checked = 0, bad = 0;
    for (int i = 0; i < count; i++) {
        sc_kp kp = {};
        kp.g = rnd(1, 3) == 1 ? 2 : 1;
        kp.n = rnd(1, 64), kp.cg = rnd(1, 256), kp.kg = rnd(1, 512);
        kp.c = kp.cg * kp.g, kp.k = kp.kg * kp.g;
        kp.h = rnd(3, 40), kp.w = rnd(3, 40);
        kp.r = rnd(1, 7), kp.s = rnd(1, 7);
        kp.sh = rnd(1, 2), kp.sw = rnd(1, 2), kp.ph = kp.r / 2, kp.pw = kp.s / 2;
        kp.dh = kp.dw = 1;
        kp.p = (kp.h + 2 * kp.ph - kp.r) / kp.sh + 1, kp.q = (kp.w + 2 * kp.pw - kp.s) / kp.sw + 1;
        if (kp.p < 1 || kp.q < 1) continue;
        kp.nhwc = rnd(0, 1);
        int dir = rnd(0, 2), sm = rnd(0, 1) ? 132 : 40;
        size_t limit = rnd(0, 3) == 0 ? (size_t)rnd(0, 4096) : (size_t)rnd(0, 64) << 20;
        sc_gemm_plan a = sc_gemm_choose(kp, dir, sm, limit);
        size_t ws = sc_gemm_ws_bytes(kp, dir, a);
        sc_gemm_plan b = sc_gemm_choose(kp, dir, sm, ws);
        checked++;
        bool same = a.cfg == b.cfg && a.splits == b.splits && a.lm == b.lm && a.cc == b.cc &&
                    a.serial == b.serial;
        if (ws > limit || !same) {
            if (bad++ < 10)
                printf("FAIL dir %d nhwc %d n%d c%d k%d g%d %dx%d r%dx%d stride %dx%d limit %zu: "
                       "plan cfg %d split %d cc %d serial %d (ws %zu), replanned cfg %d split %d "
                       "cc %d serial %d\n",
                       dir, kp.nhwc, kp.n, kp.c, kp.k, kp.g, kp.h, kp.w, kp.r, kp.s, kp.sh, kp.sw,
                       limit, a.cfg, a.splits, a.cc, a.serial, ws, b.cfg, b.splits, b.cc, b.serial);
        }
    }
    const char *sp = getenv("SAFECONV_GPU_GEMM_SPLITS"), *ser = getenv("SAFECONV_GPU_GEMM_SERIAL");
    printf("plan_model_check%s%s%s%s: %d problems, %d failed\n", sp ? " SPLITS=" : "", sp ? sp : "",
           ser ? " SERIAL=" : "", ser ? ser : "", checked, bad);
    return bad ? 1 : 0;
}
