/* check.h - property-space configurations and checked runs against the reference, shared by
 * `safeconv verify` and the C test suite (which links tools/check.c). The public API only,
 * and the library's header-only fp16/bf16 conversions (src/common/half.h). */
#ifndef SC_TOOLS_CHECK_H
#define SC_TOOLS_CHECK_H

#include "safeconv.h"

#include <stdbool.h>
#include <stdint.h>

/* splitmix64: tiny, seedable, and the same sequence on every machine. */
typedef struct sc_rng {
    uint64_t state;
} sc_rng;
uint64_t sc_rng_next(sc_rng *r);
int64_t sc_rng_range(sc_rng *r, int64_t lo, int64_t hi); /* inclusive */
float sc_rng_unit(sc_rng *r);                            /* uniform in [-1, 1) */
uint64_t sc_mix_seed(uint64_t base, uint64_t i);         /* seed of configuration i */

/* Shape classes (verify --shape-class): each turns the drawn layer into one of its own after
 * all the draws, so the sequence of random numbers stays the same. */
typedef enum sc_shape_class {
    SC_SHAPES_ANY = 0,
    SC_SHAPES_3X3S1 = 1,  /* dense 3x3, stride 1, dilation 1, padding 0-2 (Winograd's shapes) */
    SC_SHAPES_DW = 2,     /* depthwise (C/groups 1, channel multiplier 1 or 2), square 3x3, 5x5
                          * or 7x7 filters, strides, dilations and padding as drawn (the sliced
                          * depthwise backward-weight's shapes) */
    SC_SHAPES_DWLONG = 3, /* depthwise with long rows: C/groups 1, multiplier 1-16 (C = 1 with
                          * groups 1 and K = 16 among them, an EEG-style temporal layer), 1-3
                          * rows of 8-80 taps, stride 1, dilation 1, padding up to the filter
                          * (the long-filter depthwise backward-data's shapes) */
    SC_SHAPES_STEM = 4,   /* image stems: groups 1, 1-4 input channels, K as drawn, 7x7 filters a
                          * third of the time, strides 1-3, dilation 1 but now and then,
                          * images up to 16 rows and columns taller than drawn (the small-C
                          * kernels' shapes, with row blocks of several phases) */
    SC_SHAPES_FEWC = 5,   /* 3x3 filters with few channels a group: groups 1-4, 1-16 input and
                          * 1-24 output channels a group, strides 1-2 in each dimension,
                          * dilation 1, padding 0-2; a third of them 60-140 columns wider than
                          * drawn, with 1-4 and 1-8 channels a group (the small-C
                          * backward-weight's shapes: several column chunks, k blocks) */
    SC_SHAPES_DWS2 = 6,   /* depthwise with column stride 2: C/groups 1, multiplier 1-3, 3x3,
                          * 5x5 or 7x7 filters (R 1-7 a quarter of the time), row stride 1-3,
                          * no dilation, padding up to the filter, 8-20 columns more than drawn
                          * (the strided depthwise backward-data's shapes) */
    SC_SHAPES_PW = 7,     /* pointwise with few channels: groups 1, 1x1, 1-64 input and output
                          * channels, strides 1-2, padding 0; a third of them 40-100 rows and
                          * columns larger than drawn (the small-C 1x1 backward-weight's shapes:
                          * long reductions in row slices) */
    SC_SHAPES_3X3D = 8    /* dense 3x3, stride 1, dilation 2-5 in each dimension (1 now and
                          * then), padding 0 to twice the dilation, rows and columns twice the
                          * dilation more than drawn (the dilated Winograd forward's and
                          * backward-data's shapes: several phases a tile grid) */
} sc_shape_class;

typedef struct sc_gen_options {
    int layout; /* -1 random, else SC_NCHW / SC_NHWC */
    sc_dtype dtype;
    double max_macs;       /* redraw configurations over this many multiply-adds (reference cost) */
    double large_share;    /* fraction of configurations with wide channels (GEMM tiles) */
    int channel_multiple;  /* > 1: channels per group of dense and grouped layers rounded up to a
                             * multiple (e.g. 8: the GEMM's channel-chunked gathers); 1 = as drawn */
    sc_shape_class shapes; /* a subset of the layers, made from the same draws */
} sc_gen_options;

void sc_gen_options_init(sc_gen_options *o);

/* A random valid descriptor from the property space (docs/architecture.md): N 1-3, strides 1-3, padding 0-3
 * (h and w independent), dilation 1-3, groups 1 / several / depthwise, odd sizes, kernels
 * larger than the input with padding, 1x1 cases, asymmetric kernels. Deterministic in *r. */
void sc_random_desc(sc_rng *r, const sc_gen_options *o, sc_conv2d_desc *d);

/* Print a descriptor on one line ("n2 c6 8x11 k4 3x1 s2,1 p0,3 d1,2 g2 nhwc f32"). */
void sc_desc_format(const sc_conv2d_desc *d, char *buf, size_t size);

typedef struct sc_check_result {
    bool pass;
    double rel_err; /* ||out - ref|| / ||ref|| (dw and dbias combined for backward-weight) */
    double tol;
    /* Only when rel_err > tol: ||out - ref|| / ||m||, m the outputs of the absolute inputs (the
     * terms' magnitudes); <= tol / sqrt(reduction length) passes (cancellation, check.c). -1
     * when not computed. */
    double mag_err;
    int64_t bad_elems; /* NaN or Inf in the output: unwritten (poisoned) or broken */
    bool bits_repeat;  /* backward-weight: a second run gave identical bits */
    sc_algo algo;
    char message[320]; /* why it failed */
} sc_check_result;

/* One call of direction `dir` with operands in the library's roles (a, b, c, out, out2: x, w,
 * bias, y for forward; dy, w, -, dx for backward-data; x, dy, -, dw, dbias for backward-weight;
 * dy, -, -, dbias for the bias gradient), no caller workspace. */
sc_status sc_run_direction(sc_context *ctx, const sc_conv2d_desc *d, sc_direction dir,
                           const void *a, const void *b, const void *c, void *out, void *out2);

/* Tolerance on the relative L2 error of exact fp32 for a reduction of `length` terms. */
double sc_check_tolerance(sc_dtype t, int64_t length);

/* The bound on ||out - ref|| for fp16/bf16 outputs (t), or TF32 products with fp32 outputs
 * (t = SC_DTYPE_F32): u_out * ||ref|| + 2 * 2^-24 * length * ||m||, with ||m|| the norm of the
 * outputs computed on |inputs| (check.c explains the derivation). */
double sc_check_bound(sc_dtype t, int64_t length, double ref_norm, double mag_norm);

typedef struct sc_check_options {
    int tf32; /* the context's math mode is SC_MATH_TF32 */
} sc_check_options;

void sc_check_options_init(sc_check_options *o);

/* Run direction `dir` of `d` on `ctx` (memory of `device`) with fresh random inputs drawn from
 * `data_seed` (and a random bias in forward / dbias in backward-weight), outputs poisoned with
 * NaN, and compare with the double-precision reference on the host. Backward-weight runs twice
 * and must repeat bit for bit. Returns non-OK only when the check itself could not run
 * (allocation); a wrong result is res->pass == false. */
sc_status sc_check_direction(sc_context *ctx, int device, const sc_conv2d_desc *d, sc_direction dir,
                             uint64_t data_seed, sc_check_result *res);

/* The same with options: fp16/bf16 descriptors (data rounded to the type; the reference on the
 * rounded inputs; sc_check_bound), and TF32 math (the reference on inputs rounded to TF32 where
 * the family that runs multiplies in TF32). */
sc_status sc_check_direction_ex(sc_context *ctx, int device, const sc_conv2d_desc *d,
                                sc_direction dir, uint64_t data_seed, const sc_check_options *opt,
                                sc_check_result *res);

#endif
