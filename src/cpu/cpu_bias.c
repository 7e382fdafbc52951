/* cpu_bias.c - the bias gradient dbias[k] = sum over n, p, q of dy, shared by every CPU
 * algorithm (direct, im2col + sgemm, reference): sums in double in a fixed order (rows in
 * order per channel), so the result is the same bits on every run and cancellation between
 * terms of both signs does not eat the small result. */
#include "cpu/cpu.h"

void sc_cpu_bias_grad(const sc_problem *pb, const float *dy, float *dbias)
{
    const sc_conv2d_desc *d = &pb->d;
    int64_t pq = pb->p * pb->q;
    if (d->layout == SC_NCHW) {
        for (int64_t k = 0; k < d->k; k++) {
            double acc = 0.0;
            for (int64_t n = 0; n < d->n; n++) {
                const float *row = dy + (n * d->k + k) * pq;
                for (int64_t j = 0; j < pq; j++) acc += row[j];
            }
            dbias[k] = (float)acc;
        }
        return;
    }
    /* NHWC: rows of K; walk rows in order, one double accumulator per channel in chunks so the
     * summation order per channel is fixed (row order). */
    enum {
        CHUNK = 256
    };
    double acc[CHUNK];
    for (int64_t k0 = 0; k0 < d->k; k0 += CHUNK) {
        int64_t kc = d->k - k0 < CHUNK ? d->k - k0 : CHUNK;
        for (int64_t i = 0; i < kc; i++) acc[i] = 0.0;
        for (int64_t m = 0; m < d->n * pq; m++) {
            const float *row = dy + m * d->k + k0;
            for (int64_t i = 0; i < kc; i++) acc[i] += row[i];
        }
        for (int64_t i = 0; i < kc; i++) dbias[k0 + i] = (float)acc[i];
    }
}
