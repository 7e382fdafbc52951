/* cpu_direct.c - direct loops in float for the shapes where im2col + GEMM is the wrong tool:
 * depthwise (C/groups == 1) and very short reductions. No scratch memory.
 * Valid filter taps are computed per output row/column once (tap_range) instead of testing
 * every tap. Backward passes scatter in a fixed loop order, so results are deterministic. */
#include "cpu/cpu.h"
#include "cpu/layout.h"

#include <string.h>

/* Taps t in [*lo, *hi) with 0 <= base + t*dil < size. */
static void tap_range(int64_t base, int64_t dil, int64_t taps, int64_t size, int64_t *lo,
                      int64_t *hi)
{
    int64_t l = base < 0 ? (-base + dil - 1) / dil : 0;
    int64_t h = size - base <= 0 ? 0 : (size - base + dil - 1) / dil;
    *lo = l;
    *hi = h < taps ? h : taps;
    if (*hi < *lo) *hi = *lo;
}

static void forward(const sc_problem *pb, const float *x, const float *w, const float *bias,
                    float *y)
{
    const sc_conv2d_desc *d = &pb->d;
    for (int64_t n = 0; n < d->n; n++)
        for (int64_t k = 0; k < d->k; k++) {
            int64_t c0 = (k / pb->kg) * pb->cg;
            for (int64_t p = 0; p < pb->p; p++) {
                int64_t h0 = p * d->stride_h - d->pad_h, r0, r1;
                tap_range(h0, d->dil_h, d->r, d->h, &r0, &r1);
                for (int64_t q = 0; q < pb->q; q++) {
                    int64_t w0 = q * d->stride_w - d->pad_w, s0, s1;
                    tap_range(w0, d->dil_w, d->s, d->w, &s0, &s1);
                    float acc = bias ? bias[k] : 0.0f;
                    for (int64_t c = 0; c < pb->cg; c++)
                        for (int64_t r = r0; r < r1; r++)
                            for (int64_t s = s0; s < s1; s++)
                                acc +=
                                    x[x_off(pb, n, c0 + c, h0 + r * d->dil_h, w0 + s * d->dil_w)] *
                                    w[w_off(pb, k, c, r, s)];
                    y[y_off(pb, n, k, p, q)] = acc;
                }
            }
        }
}

/* Scatter each dy element into the dx (backward-data) or dw (backward-weight) taps it touched. */
static void backward(const sc_problem *pb, const float *dy, const float *other, float *out,
                     bool weight)
{
    const sc_conv2d_desc *d = &pb->d;
    memset(out, 0, (size_t)(weight ? pb->w_elems : pb->x_elems) * sizeof(float));
    for (int64_t n = 0; n < d->n; n++)
        for (int64_t k = 0; k < d->k; k++) {
            int64_t c0 = (k / pb->kg) * pb->cg;
            for (int64_t p = 0; p < pb->p; p++) {
                int64_t h0 = p * d->stride_h - d->pad_h, r0, r1;
                tap_range(h0, d->dil_h, d->r, d->h, &r0, &r1);
                for (int64_t q = 0; q < pb->q; q++) {
                    int64_t w0 = q * d->stride_w - d->pad_w, s0, s1;
                    tap_range(w0, d->dil_w, d->s, d->w, &s0, &s1);
                    float g = dy[y_off(pb, n, k, p, q)];
                    for (int64_t c = 0; c < pb->cg; c++)
                        for (int64_t r = r0; r < r1; r++)
                            for (int64_t s = s0; s < s1; s++) {
                                int64_t xo =
                                    x_off(pb, n, c0 + c, h0 + r * d->dil_h, w0 + s * d->dil_w);
                                int64_t wo = w_off(pb, k, c, r, s);
                                if (weight)
                                    out[wo] += g * other[xo];
                                else
                                    out[xo] += g * other[wo];
                            }
                }
            }
        }
}

sc_status sc_cpu_direct_run(const sc_call *call)
{
    const sc_problem *pb = call->pb;
    switch (call->dir) {
    case SC_DIR_FORWARD: forward(pb, call->a, call->b, call->c, call->out); break;
    case SC_DIR_BACKWARD_DATA: backward(pb, call->a, call->b, call->out, false); break;
    case SC_DIR_BACKWARD_WEIGHT:
        backward(pb, call->b, call->a, call->out, true);
        if (call->out2) sc_cpu_bias_grad(pb, call->b, call->out2);
        break;
    case SC_DIR_BACKWARD_BIAS: sc_cpu_bias_grad(pb, call->a, call->out); break;
    }
    return SC_STATUS_OK;
}
