/* bd_class.cuh - backward-data's stride classes, shared by the FMA and the matrix-unit GEMMs:
 * dx positions (h, w) with h mod sh = a and w mod sw = b form one class; inside it only the taps
 * r = r0 + rr*rstep can reach an output row, so the zero taps of a strided convolution are
 * skipped, not multiplied. Positions of a class no tap reaches get a zero reduction. */
#ifndef SC_GPU_GEMM_BD_CLASS_CUH
#define SC_GPU_GEMM_BD_CLASS_CUH

#include "../kparams.h"

/* Backward-data stride class: output positions h = a + sh*i, w = b + sw*j; taps
 * r = r0 + rr*rstep (rr < Rc), p = pb0 + i - rr*dp; likewise s, q. */
#define BD_MAX_CLASSES 16
struct BdClass {
    int a, b, hc, wc;
    int r0, rstep, rc, dp, pb0;
    int s0, sstep, sc, dq, qb0;
    sc_fdiv dwc, dhc, drs, ds;
};

static inline int gcd_h(int a, int b)
{
    while (b) {
        int t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Taps of one dimension for residue a: r*dil == a + pad (mod stride). Host side. */
static inline void bd_dim(int a, int pad, int stride, int dil, int R, int &r0, int &rstep, int &rc,
                          int &dp, int &pb0)
{
    rstep = stride / gcd_h(stride, dil);
    r0 = -1;
    for (int r = 0; r < rstep && r < R; r++)
        if ((((long long)a + pad - (long long)r * dil) % stride + stride) % stride == 0) {
            r0 = r;
            break;
        }
    if (r0 < 0) {
        r0 = 0;
        rc = 0;
    } else
        rc = (R - 1 - r0) / rstep + 1;
    dp = rstep * dil / stride;
    long long num = (long long)a + pad - (long long)r0 * dil; /* divisible when rc > 0 */
    pb0 = rc > 0 ? (int)(num >= 0 ? num / stride : -((-num) / stride)) : 0;
}

/* The classes of a problem (sh*sw of them, at most BD_MAX_CLASSES: fam_*.c check): positions
 * h = a + sh*i (hc of them), taps and divisors. */
static inline void sc_bd_classes(const sc_kp &kp, BdClass *cls)
{
    for (int ci = 0; ci < kp.sh * kp.sw; ci++) {
        BdClass &k = cls[ci];
        k.a = ci / kp.sw, k.b = ci % kp.sw;
        k.hc = k.a < kp.h ? (kp.h - k.a + kp.sh - 1) / kp.sh : 0;
        k.wc = k.b < kp.w ? (kp.w - k.b + kp.sw - 1) / kp.sw : 0;
        bd_dim(k.a, kp.ph, kp.sh, kp.dh, kp.r, k.r0, k.rstep, k.rc, k.dp, k.pb0);
        bd_dim(k.b, kp.pw, kp.sw, kp.dw, kp.s, k.s0, k.sstep, k.sc, k.dq, k.qb0);
        k.dwc = sc_fdiv_make(k.wc > 0 ? k.wc : 1), k.dhc = sc_fdiv_make(k.hc > 0 ? k.hc : 1);
        k.drs = sc_fdiv_make(k.rc * k.sc > 0 ? k.rc * k.sc : 1);
        k.ds = sc_fdiv_make(k.sc > 0 ? k.sc : 1);
    }
}

#endif /* SC_GPU_GEMM_BD_CLASS_CUH */
