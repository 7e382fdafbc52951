/* consumer.c - a program built against an installed safeconv through pkg-config, as a user
 * would: one forward convolution on the CPU, checked by hand. Run by tests/install/check.sh. */
#include <safeconv.h>

#include <math.h>
#include <stdio.h>

int main(void)
{
    /* 1x1x3x3 input of ones, one 2x2 filter of ones, no padding: every output is 4 (+ bias). */
    float x[9], w[4] = {1, 1, 1, 1}, bias[1] = {0.5f}, y[4];
    for (int i = 0; i < 9; i++) x[i] = 1.0f;
    sc_conv2d_desc d;
    sc_conv2d_desc_init(&d);
    d.n = 1, d.c = 1, d.h = 3, d.w = 3, d.k = 1, d.r = 2, d.s = 2;
    sc_context *ctx;
    if (sc_context_create(NULL, &ctx) != SC_STATUS_OK ||
        sc_conv2d_forward(ctx, &d, x, w, bias, y, NULL, 0) != SC_STATUS_OK) {
        fprintf(stderr, "consumer: %s\n", sc_last_error());
        return 1;
    }
    sc_context_destroy(ctx);
    for (int i = 0; i < 4; i++)
        if (fabsf(y[i] - 4.5f) > 0) {
            fprintf(stderr, "consumer: y[%d] = %g, want 4.5\n", i, y[i]);
            return 1;
        }
    printf("consumer: safeconv %s ok\n", sc_version_string());
    return 0;
}
