/* desc.c - the public descriptor functions: init, validate, output size, element counts,
 * flops. The validation itself is sc__problem_init (common/problem.c). */
#include "core/internal.h"

#include <string.h>

void sc_conv2d_desc_init(sc_conv2d_desc *d)
{
    if (!d) return;
    memset(d, 0, sizeof *d);
    d->stride_h = d->stride_w = 1;
    d->dil_h = d->dil_w = 1;
    d->groups = 1;
    d->dtype = SC_DTYPE_F32;
    d->layout = SC_NCHW;
}

sc_status sc_conv2d_validate(const sc_conv2d_desc *d)
{
    sc__clear_error();
    return sc__problem_init(d, NULL);
}

sc_status sc_conv2d_output_size(const sc_conv2d_desc *d, int64_t *p, int64_t *q)
{
    sc_problem pb;
    sc__clear_error();
    sc_status st = sc__problem_init(d, &pb);
    if (st) return st;
    if (p) *p = pb.p;
    if (q) *q = pb.q;
    return SC_STATUS_OK;
}

sc_status sc_conv2d_tensor_elems(const sc_conv2d_desc *d, int64_t *x_elems, int64_t *w_elems,
                                 int64_t *y_elems)
{
    sc_problem pb;
    sc__clear_error();
    sc_status st = sc__problem_init(d, &pb);
    if (st) return st;
    if (x_elems) *x_elems = pb.x_elems;
    if (w_elems) *w_elems = pb.w_elems;
    if (y_elems) *y_elems = pb.y_elems;
    return SC_STATUS_OK;
}

double sc_conv2d_flops(const sc_conv2d_desc *d, sc_direction dir)
{
    sc_problem pb;
    if (sc__problem_init(d, &pb)) return 0.0;
    double npqk = (double)pb.y_elems;
    if (dir == SC_DIR_BACKWARD_BIAS) return npqk;
    return 2.0 * npqk * (double)(pb.cg * d->r * d->s);
}
