/* cpu_reference.c - direct convolution accumulating in double: the oracle every other
 * implementation is tested against. Written for clarity, not speed: one output element per
 * innermost sum, the index arithmetic spelled out. */
#include "cpu/cpu.h"
#include "cpu/layout.h"

static void forward(const sc_problem *pb, const float *x, const float *w, const float *bias,
                    float *y)
{
    const sc_conv2d_desc *d = &pb->d;
    for (int64_t n = 0; n < d->n; n++)
        for (int64_t k = 0; k < d->k; k++) {
            int64_t g = k / pb->kg;
            for (int64_t p = 0; p < pb->p; p++)
                for (int64_t q = 0; q < pb->q; q++) {
                    double acc = bias ? bias[k] : 0.0;
                    for (int64_t c = 0; c < pb->cg; c++)
                        for (int64_t r = 0; r < d->r; r++) {
                            int64_t h = p * d->stride_h - d->pad_h + r * d->dil_h;
                            if (h < 0 || h >= d->h) continue;
                            for (int64_t s = 0; s < d->s; s++) {
                                int64_t ww = q * d->stride_w - d->pad_w + s * d->dil_w;
                                if (ww < 0 || ww >= d->w) continue;
                                acc += (double)x[x_off(pb, n, g * pb->cg + c, h, ww)] *
                                       (double)w[w_off(pb, k, c, r, s)];
                            }
                        }
                    y[y_off(pb, n, k, p, q)] = (float)acc;
                }
        }
}

/* dx[n, c, h, w] = sum over k of c's group, r, s with h = p*stride - pad + r*dil for an
 * integer p in [0, P) (likewise w), of dy[n, k, p, q] * w[k, c, r, s]. */
static void backward_data(const sc_problem *pb, const float *dy, const float *w, float *dx)
{
    const sc_conv2d_desc *d = &pb->d;
    for (int64_t n = 0; n < d->n; n++)
        for (int64_t c = 0; c < d->c; c++) {
            int64_t g = c / pb->cg, cl = c % pb->cg;
            for (int64_t h = 0; h < d->h; h++)
                for (int64_t ww = 0; ww < d->w; ww++) {
                    double acc = 0.0;
                    for (int64_t r = 0; r < d->r; r++) {
                        int64_t ph = h + d->pad_h - r * d->dil_h;
                        if (ph < 0 || ph % d->stride_h) continue;
                        int64_t p = ph / d->stride_h;
                        if (p >= pb->p) continue;
                        for (int64_t s = 0; s < d->s; s++) {
                            int64_t qw = ww + d->pad_w - s * d->dil_w;
                            if (qw < 0 || qw % d->stride_w) continue;
                            int64_t q = qw / d->stride_w;
                            if (q >= pb->q) continue;
                            for (int64_t kl = 0; kl < pb->kg; kl++) {
                                int64_t k = g * pb->kg + kl;
                                acc += (double)dy[y_off(pb, n, k, p, q)] *
                                       (double)w[w_off(pb, k, cl, r, s)];
                            }
                        }
                    }
                    dx[x_off(pb, n, c, h, ww)] = (float)acc;
                }
        }
}

static void backward_weight(const sc_problem *pb, const float *x, const float *dy, float *dw)
{
    const sc_conv2d_desc *d = &pb->d;
    for (int64_t k = 0; k < d->k; k++) {
        int64_t g = k / pb->kg;
        for (int64_t c = 0; c < pb->cg; c++)
            for (int64_t r = 0; r < d->r; r++)
                for (int64_t s = 0; s < d->s; s++) {
                    double acc = 0.0;
                    for (int64_t n = 0; n < d->n; n++)
                        for (int64_t p = 0; p < pb->p; p++) {
                            int64_t h = p * d->stride_h - d->pad_h + r * d->dil_h;
                            if (h < 0 || h >= d->h) continue;
                            for (int64_t q = 0; q < pb->q; q++) {
                                int64_t ww = q * d->stride_w - d->pad_w + s * d->dil_w;
                                if (ww < 0 || ww >= d->w) continue;
                                acc += (double)dy[y_off(pb, n, k, p, q)] *
                                       (double)x[x_off(pb, n, g * pb->cg + c, h, ww)];
                            }
                        }
                    dw[w_off(pb, k, c, r, s)] = (float)acc;
                }
    }
}

static void backward_bias(const sc_problem *pb, const float *dy, float *dbias)
{
    const sc_conv2d_desc *d = &pb->d;
    for (int64_t k = 0; k < d->k; k++) {
        double acc = 0.0;
        for (int64_t n = 0; n < d->n; n++)
            for (int64_t p = 0; p < pb->p; p++)
                for (int64_t q = 0; q < pb->q; q++) acc += dy[y_off(pb, n, k, p, q)];
        dbias[k] = (float)acc;
    }
}

sc_status sc_cpu_reference_run(const sc_call *call)
{
    const sc_problem *pb = call->pb;
    switch (call->dir) {
    case SC_DIR_FORWARD: forward(pb, call->a, call->b, call->c, call->out); break;
    case SC_DIR_BACKWARD_DATA: backward_data(pb, call->a, call->b, call->out); break;
    case SC_DIR_BACKWARD_WEIGHT:
        backward_weight(pb, call->a, call->b, call->out);
        if (call->out2) backward_bias(pb, call->b, call->out2);
        break;
    case SC_DIR_BACKWARD_BIAS: backward_bias(pb, call->a, call->out); break;
    }
    return SC_STATUS_OK;
}
