/* cpu_gemm.c - im2col in bounded chunks + OpenBLAS sgemm, for all three directions.
 *
 * Per group g, with Cg = C/groups, Kg = K/groups and the reduction length L = Cg*R*S:
 *
 * NCHW, per image n (columns j = p*Q + q, chunked into blocks of jc columns):
 *   col      : L x jc           rows ordered (c, r, s) like the KCRS weight
 *   forward  : Y[n,g]  (Kg x PQ, ld PQ) [:, blk]  = W[g] (Kg x L) * col
 *   bwd-data : dcol = W[g]^T (L x Kg) * dY[n,g][:, blk];  col2im adds dcol into dX[n,g]
 *   bwd-wgt  : dW[g] (Kg x L) += dY[n,g][:, blk] * col^T
 * NHWC, rows m = (n, p, q) over the whole batch, chunked into blocks of mc rows:
 *   col      : mc x L           columns ordered (r, s, c) like the KRSC weight
 *   forward  : Y[blk, g*Kg:(g+1)*Kg] (ld K) = col * W[g]^T
 *   bwd-data : dcol = dY[blk, g] (mc x Kg, ld K) * W[g];  col2im adds into dX
 *   bwd-wgt  : dW[g] (Kg x L) += dY[blk, g]^T * col
 * A 1x1 filter with stride 1 and no padding needs no im2col: x itself is the column matrix.
 *
 * The col buffer is the caller's workspace: at most the context's limit (default 64 MiB),
 * never a whole-tensor copy. Block order is fixed, so results are deterministic for a given
 * BLAS thread count. */
#include "cpu/cpu.h"
#include "cpu/layout.h"

#include <cblas.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

/* Fewer columns per block than this makes each sgemm call mostly overhead. */
#define SC_MIN_BLOCK 32

static bool is_pointwise(const sc_problem *pb)
{
    const sc_conv2d_desc *d = &pb->d;
    return d->r == 1 && d->s == 1 && d->stride_h == 1 && d->stride_w == 1 && d->pad_h == 0 &&
           d->pad_w == 0;
}

static int64_t reduction(const sc_problem *pb) { return pb->cg * pb->d.r * pb->d.s; }

/* Columns (NCHW: output pixels of one image; NHWC: output rows of the batch) of one pass. */
static int64_t columns(const sc_problem *pb)
{
    return pb->d.layout == SC_NCHW ? pb->p * pb->q : pb->d.n * pb->p * pb->q;
}

size_t sc_cpu_gemm_workspace(const sc_problem *pb, sc_direction dir, size_t limit)
{
    (void)dir;
    if (is_pointwise(pb)) return 0;
    uint64_t per_col = (uint64_t)reduction(pb) * sizeof(float);
    uint64_t cols = (uint64_t)columns(pb);
    uint64_t min_cols = cols < SC_MIN_BLOCK ? cols : SC_MIN_BLOCK;
    if (per_col * min_cols > limit) return SIZE_MAX;
    uint64_t want = per_col * cols;
    if (want > limit) want = (limit / per_col) * per_col;
    return (size_t)want;
}

/* ---- NCHW column blocks ----------------------------------------------------------------- */

/* col[(c*R + r)*S + s][j - j0] for output pixels j in [j0, j0 + jc) of one image and group.
 * xg points at channel 0 of the group in that image. */
static void im2col_nchw(const sc_problem *pb, const float *xg, int64_t j0, int64_t jc, float *col)
{
    const sc_conv2d_desc *d = &pb->d;
    int64_t hw = d->h * d->w;
    for (int64_t c = 0; c < pb->cg; c++)
        for (int64_t r = 0; r < d->r; r++)
            for (int64_t s = 0; s < d->s; s++) {
                float *out = col + ((c * d->r + r) * d->s + s) * jc;
                const float *plane = xg + c * hw;
                int64_t p = j0 / pb->q, q = j0 % pb->q;
                for (int64_t j = 0; j < jc; j++) {
                    int64_t h = p * d->stride_h - d->pad_h + r * d->dil_h;
                    int64_t w = q * d->stride_w - d->pad_w + s * d->dil_w;
                    out[j] =
                        (h >= 0 && h < d->h && w >= 0 && w < d->w) ? plane[h * d->w + w] : 0.0f;
                    if (++q == pb->q) q = 0, p++;
                }
            }
}

static void col2im_nchw(const sc_problem *pb, const float *col, int64_t j0, int64_t jc, float *dxg)
{
    const sc_conv2d_desc *d = &pb->d;
    int64_t hw = d->h * d->w;
    for (int64_t c = 0; c < pb->cg; c++)
        for (int64_t r = 0; r < d->r; r++)
            for (int64_t s = 0; s < d->s; s++) {
                const float *in = col + ((c * d->r + r) * d->s + s) * jc;
                float *plane = dxg + c * hw;
                int64_t p = j0 / pb->q, q = j0 % pb->q;
                for (int64_t j = 0; j < jc; j++) {
                    int64_t h = p * d->stride_h - d->pad_h + r * d->dil_h;
                    int64_t w = q * d->stride_w - d->pad_w + s * d->dil_w;
                    if (h >= 0 && h < d->h && w >= 0 && w < d->w) plane[h * d->w + w] += in[j];
                    if (++q == pb->q) q = 0, p++;
                }
            }
}

static void run_nchw(const sc_call *call)
{
    const sc_problem *pb = call->pb;
    const sc_conv2d_desc *d = &pb->d;
    const int64_t L = reduction(pb), PQ = pb->p * pb->q, Kg = pb->kg, HW = d->h * d->w;
    const bool pw = is_pointwise(pb);
    const int64_t jb = pw ? PQ : (int64_t)(call->ws_size / ((size_t)L * sizeof(float)));
    float *col = call->ws;
    const float *a = call->a, *b = call->b;
    float *out = call->out;
    if (call->dir == SC_DIR_BACKWARD_DATA) memset(out, 0, (size_t)pb->x_elems * sizeof(float));

    for (int64_t n = 0; n < d->n; n++)
        for (int64_t g = 0; g < d->groups; g++) {
            const int64_t xoff = (n * d->c + g * pb->cg) * HW; /* x / dx of this image, group */
            const int64_t yoff = (n * d->k + g * Kg) * PQ;     /* y / dy of this image, group */
            const int64_t woff = g * Kg * L;
            for (int64_t j0 = 0; j0 < PQ; j0 += jb) {
                int64_t jc = PQ - j0 < jb ? PQ - j0 : jb;
                switch (call->dir) {
                case SC_DIR_FORWARD: {
                    const float *B = pw ? a + xoff + j0 : col;
                    if (!pw) im2col_nchw(pb, a + xoff, j0, jc, col);
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)Kg, (int)jc, (int)L,
                                1.0f, b + woff, (int)L, B, pw ? (int)PQ : (int)jc, 0.0f,
                                out + yoff + j0, (int)PQ);
                    if (call->c) /* bias: one value per output-channel row of the block */
                        for (int64_t k = 0; k < Kg; k++) {
                            float bk = ((const float *)call->c)[g * Kg + k];
                            float *row = out + yoff + k * PQ + j0;
                            for (int64_t j = 0; j < jc; j++) row[j] += bk;
                        }
                    break;
                }
                case SC_DIR_BACKWARD_DATA:
                    if (pw) { /* dX[n,g] (Cg x PQ) = W[g]^T * dY[n,g], written directly */
                        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)L, (int)jc,
                                    (int)Kg, 1.0f, b + woff, (int)L, a + yoff + j0, (int)PQ, 0.0f,
                                    out + xoff + j0, (int)PQ);
                    } else {
                        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)L, (int)jc,
                                    (int)Kg, 1.0f, b + woff, (int)L, a + yoff + j0, (int)PQ, 0.0f,
                                    col, (int)jc);
                        col2im_nchw(pb, col, j0, jc, out + xoff);
                    }
                    break;
                case SC_DIR_BACKWARD_WEIGHT: {
                    /* a = x, b = dy; dW[g] accumulates over images and blocks in order. */
                    const float *B = pw ? a + xoff + j0 : col;
                    if (!pw) im2col_nchw(pb, a + xoff, j0, jc, col);
                    float beta = (n == 0 && j0 == 0) ? 0.0f : 1.0f;
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)Kg, (int)L, (int)jc,
                                1.0f, b + yoff + j0, (int)PQ, B, pw ? (int)PQ : (int)jc, beta,
                                out + woff, (int)L);
                    break;
                }
                case SC_DIR_BACKWARD_BIAS: break;
                }
            }
        }
}

/* ---- NHWC row blocks -------------------------------------------------------------------- */

/* col[m - m0][(r*S + s)*Cg + c] for output rows m = (n*P + p)*Q + q in [m0, m0 + mc). */
static void im2col_nhwc(const sc_problem *pb, const float *x, int64_t g, int64_t m0, int64_t mc,
                        float *col)
{
    const sc_conv2d_desc *d = &pb->d;
    const int64_t L = reduction(pb), Cg = pb->cg;
    for (int64_t i = 0; i < mc; i++) {
        int64_t m = m0 + i, q = m % pb->q, p = (m / pb->q) % pb->p, n = m / (pb->p * pb->q);
        float *row = col + i * L;
        for (int64_t r = 0; r < d->r; r++) {
            int64_t h = p * d->stride_h - d->pad_h + r * d->dil_h;
            for (int64_t s = 0; s < d->s; s++) {
                int64_t w = q * d->stride_w - d->pad_w + s * d->dil_w;
                float *dst = row + (r * d->s + s) * Cg;
                if (h >= 0 && h < d->h && w >= 0 && w < d->w)
                    memcpy(dst, x + ((n * d->h + h) * d->w + w) * d->c + g * Cg,
                           (size_t)Cg * sizeof(float));
                else
                    memset(dst, 0, (size_t)Cg * sizeof(float));
            }
        }
    }
}

static void col2im_nhwc(const sc_problem *pb, const float *col, int64_t g, int64_t m0, int64_t mc,
                        float *dx)
{
    const sc_conv2d_desc *d = &pb->d;
    const int64_t L = reduction(pb), Cg = pb->cg;
    for (int64_t i = 0; i < mc; i++) {
        int64_t m = m0 + i, q = m % pb->q, p = (m / pb->q) % pb->p, n = m / (pb->p * pb->q);
        const float *row = col + i * L;
        for (int64_t r = 0; r < d->r; r++) {
            int64_t h = p * d->stride_h - d->pad_h + r * d->dil_h;
            if (h < 0 || h >= d->h) continue;
            for (int64_t s = 0; s < d->s; s++) {
                int64_t w = q * d->stride_w - d->pad_w + s * d->dil_w;
                if (w < 0 || w >= d->w) continue;
                float *dst = dx + ((n * d->h + h) * d->w + w) * d->c + g * Cg;
                const float *src = row + (r * d->s + s) * Cg;
                for (int64_t c = 0; c < Cg; c++) dst[c] += src[c];
            }
        }
    }
}

static void run_nhwc(const sc_call *call)
{
    const sc_problem *pb = call->pb;
    const sc_conv2d_desc *d = &pb->d;
    const int64_t L = reduction(pb), M = columns(pb), Kg = pb->kg, K = d->k, C = d->c;
    const bool pw = is_pointwise(pb);
    const int64_t mb = pw ? M : (int64_t)(call->ws_size / ((size_t)L * sizeof(float)));
    float *col = call->ws;
    const float *a = call->a, *b = call->b;
    float *out = call->out;
    if (call->dir == SC_DIR_BACKWARD_DATA && !pw)
        memset(out, 0, (size_t)pb->x_elems * sizeof(float));

    for (int64_t g = 0; g < d->groups; g++) {
        const int64_t woff = g * Kg * L;
        for (int64_t m0 = 0; m0 < M; m0 += mb) {
            int64_t mc = M - m0 < mb ? M - m0 : mb;
            switch (call->dir) {
            case SC_DIR_FORWARD: {
                const float *A = pw ? a + m0 * C + g * pb->cg : col;
                if (!pw) im2col_nhwc(pb, a, g, m0, mc, col);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)mc, (int)Kg, (int)L, 1.0f,
                            A, pw ? (int)C : (int)L, b + woff, (int)L, 0.0f, out + m0 * K + g * Kg,
                            (int)K);
                if (call->c) /* bias: the group's Kg channels of every row of the block */
                    for (int64_t i = 0; i < mc; i++) {
                        float *row = out + (m0 + i) * K + g * Kg;
                        const float *bg = (const float *)call->c + g * Kg;
                        for (int64_t k = 0; k < Kg; k++) row[k] += bg[k];
                    }
                break;
            }
            case SC_DIR_BACKWARD_DATA:
                if (pw) { /* dX[blk, g] (ld C) = dY[blk, g] * W[g] */
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)mc, (int)L, (int)Kg,
                                1.0f, a + m0 * K + g * Kg, (int)K, b + woff, (int)L, 0.0f,
                                out + m0 * C + g * pb->cg, (int)C);
                } else {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)mc, (int)L, (int)Kg,
                                1.0f, a + m0 * K + g * Kg, (int)K, b + woff, (int)L, 0.0f, col,
                                (int)L);
                    col2im_nhwc(pb, col, g, m0, mc, out);
                }
                break;
            case SC_DIR_BACKWARD_WEIGHT: {
                const float *B = pw ? a + m0 * C + g * pb->cg : col;
                if (!pw) im2col_nhwc(pb, a, g, m0, mc, col);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)Kg, (int)L, (int)mc, 1.0f,
                            b + m0 * K + g * Kg, (int)K, B, pw ? (int)C : (int)L,
                            m0 == 0 ? 0.0f : 1.0f, out + woff, (int)L);
                break;
            }
            case SC_DIR_BACKWARD_BIAS: break;
            }
        }
    }
}

/* OpenBLAS's thread count is process-wide: set it on every call to what this context asked
 * for (0 = the count OpenBLAS chose at start), so one context's setting never leaks into
 * another's; skip the call when the count already holds. */
static int initial_threads;
static void read_initial_threads(void) { initial_threads = openblas_get_num_threads(); }

static void set_blas_threads(int wanted)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, read_initial_threads);
    int n = wanted > 0 ? wanted : initial_threads;
    if (n > 0 && openblas_get_num_threads() != n) openblas_set_num_threads(n);
}

/* BLAS takes int dimensions: larger problems go to the direct loops. */
static bool fits_int(const sc_problem *pb)
{
    int64_t big = pb->x_elems > pb->y_elems ? pb->x_elems : pb->y_elems;
    return big < INT32_MAX && pb->w_elems < INT32_MAX;
}

sc_status sc_cpu_gemm_run(const sc_call *call)
{
    const sc_problem *pb = call->pb;
    if (call->dir == SC_DIR_BACKWARD_BIAS || !fits_int(pb)) return sc_cpu_direct_run(call);
    if (!is_pointwise(pb) && call->ws_size < (size_t)reduction(pb) * sizeof(float))
        return sc__fail(SC_STATUS_INTERNAL, "cpu gemm: workspace of %zu bytes holds no column",
                        call->ws_size);
    set_blas_threads(call->num_threads);
    if (pb->d.layout == SC_NCHW)
        run_nchw(call);
    else
        run_nhwc(call);
    if (call->dir == SC_DIR_BACKWARD_WEIGHT && call->out2)
        sc_cpu_bias_grad(pb, call->b, call->out2);
    return SC_STATUS_OK;
}
