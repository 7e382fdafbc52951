/* fake_miopen.c - a stand-in libMIOpen for testing safeconv's MIOpen adapter
 * (src/vendorlib/miopen.c) where no AMD GPU is: the HIP-CPU build (tests/hipcpu/run.sh), whose
 * "device" pointers are host pointers. It implements, with direct loops in double precision, the
 * part of MIOpen's C API the adapter calls, written from MIOpen's public header
 * (include/miopen/miopen.h of ROCm/MIOpen), not from the adapter:
 *
 *   tensor descriptors   4 dims in N, C, H, W order, any strides (NCHW or NHWC memory);
 *                        miopenHalf, miopenFloat, miopenBFloat16
 *   convolution          miopenInitConvolutionDescriptor(desc, mode, pad_h, pad_w, stride_h,
 *                        stride_w, dilation_h, dilation_w), group count; weights (K, C/g, R, S)
 *   Find*Algorithm, Convolution{Forward, BackwardData, BackwardWeights, ForwardBias,
 *   BackwardBias}, the three GetWorkSpaceSize queries
 *
 * It checks what MIOpen documents and a mistaken caller would break: every descriptor's
 * dimensions against the convolution's (the output size from the input, padding, stride and
 * dilation; weights of K x C/g x R x S; a bias of 1 x K x 1 x 1), one data type throughout,
 * alpha = 1 and beta = 0 (the only values MIOpen supports in these calls), a Find before each
 * shape's first run on a handle, and a workspace pointer whenever a size is passed; a violation
 * returns miopenStatusBadParm, and the adapter reports it. It fills the workspace with a
 * pattern, so a workspace that overlapped a tensor would show up as a wrong result. Like
 * MIOpen's own source, miopenConvolutionForwardBias returns miopenStatusNotImplemented for bf16.
 *
 *   SAFECONV_MIOPEN_LIBRARY=/path/libfake_miopen.so safeconv verify --device 0 --strategy vendor
 * (a HIP-CPU build: tests/hipcpu/run.sh builds this file and runs that) */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

typedef int miopenStatus_t;
enum {
    miopenStatusSuccess = 0,
    miopenStatusBadParm = 3,
    miopenStatusAllocFailed = 4,
    miopenStatusNotImplemented = 6
};
enum {
    miopenHalf = 0,
    miopenFloat = 1,
    miopenBFloat16 = 5
};

typedef struct {
    int type, nbdims;
    int dims[4], strides[4];
} tensor_t;

typedef struct {
    int mode, ph, pw, sh, sw, dh, dw, groups;
} conv_t;

#define FOUND 64
typedef struct {
    void *stream;
    /* shapes found on this handle: direction, x/y/w dims (the adapter must Find first) */
    int nfound;
    int found[FOUND][13];
} handle_t;

/* miopenConvAlgoPerf_t: a union of the three algorithm enums, the time, the workspace */
typedef struct {
    int algo;
    float time;
    size_t memory;
} perf_t;

#define WS_BYTES 4096 /* what the workspace queries ask for */

/* ---- elements ---------------------------------------------------------------------------- */

static double get(const tensor_t *t, const void *p, int n, int c, int h, int w)
{
    long long i = (long long)n * t->strides[0] + (long long)c * t->strides[1] +
                  (long long)h * t->strides[2] + (long long)w * t->strides[3];
    switch (t->type) {
    case miopenFloat: return ((const float *)p)[i];
    case miopenHalf: return (double)((const _Float16 *)p)[i];
    default: {
        uint32_t u = (uint32_t)((const uint16_t *)p)[i] << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    }
}

static void put(const tensor_t *t, void *p, int n, int c, int h, int w, double v)
{
    long long i = (long long)n * t->strides[0] + (long long)c * t->strides[1] +
                  (long long)h * t->strides[2] + (long long)w * t->strides[3];
    float f = (float)v;
    switch (t->type) {
    case miopenFloat: ((float *)p)[i] = f; break;
    case miopenHalf: ((_Float16 *)p)[i] = (_Float16)f; break;
    default: { /* round to nearest even; NaN kept a NaN */
        uint32_t u;
        memcpy(&u, &f, 4);
        uint16_t b = isnan(f) ? (uint16_t)((u >> 16) | 0x40)
                              : (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
        ((uint16_t *)p)[i] = b;
    }
    }
}

/* ---- the checks ---------------------------------------------------------------------------- */

static bool unit_scales(const void *alpha, const void *beta)
{
    return alpha && beta && *(const float *)alpha == 1.0f && *(const float *)beta == 0.0f;
}

/* x (N, C, H, W), w (K, C/g, R, S), y (N, K, P, Q) consistent with the convolution */
static bool shapes_ok(const tensor_t *x, const tensor_t *w, const tensor_t *y, const conv_t *cv)
{
    if (!x || !w || !y || !cv || x->nbdims != 4 || w->nbdims != 4 || y->nbdims != 4) return false;
    if (x->type != w->type || x->type != y->type || cv->mode != 0 || cv->groups < 1) return false;
    int n = x->dims[0], c = x->dims[1], h = x->dims[2], wd = x->dims[3];
    int k = w->dims[0], cg = w->dims[1], r = w->dims[2], s = w->dims[3];
    if (c % cv->groups || k % cv->groups || cg != c / cv->groups) return false;
    if (cv->sh < 1 || cv->sw < 1 || cv->dh < 1 || cv->dw < 1 || cv->ph < 0 || cv->pw < 0)
        return false;
    int p = (h + 2 * cv->ph - cv->dh * (r - 1) - 1) / cv->sh + 1;
    int q = (wd + 2 * cv->pw - cv->dw * (s - 1) - 1) / cv->sw + 1;
    return p >= 1 && q >= 1 && y->dims[0] == n && y->dims[1] == k && y->dims[2] == p &&
           y->dims[3] == q;
}

static bool ws_ok(const void *ws, size_t bytes)
{
    if (bytes && !ws) return false;
    if (ws) memset((void *)ws, 0xa5, bytes < WS_BYTES ? bytes : WS_BYTES);
    return true;
}

static void remember(handle_t *hd, int dir, const tensor_t *x, const tensor_t *w, const tensor_t *y)
{
    int key[13] = {dir};
    memcpy(key + 1, x->dims, 16), memcpy(key + 5, w->dims, 16), memcpy(key + 9, y->dims, 16);
    for (int i = 0; i < hd->nfound; i++)
        if (!memcmp(hd->found[i], key, sizeof key)) return;
    memcpy(hd->found[hd->nfound < FOUND ? hd->nfound++ : 0], key, sizeof key);
}

static bool was_found(const handle_t *hd, int dir, const tensor_t *x, const tensor_t *w,
                      const tensor_t *y)
{
    int key[13] = {dir};
    memcpy(key + 1, x->dims, 16), memcpy(key + 5, w->dims, 16), memcpy(key + 9, y->dims, 16);
    for (int i = 0; i < hd->nfound; i++)
        if (!memcmp(hd->found[i], key, sizeof key)) return true;
    return false;
}

/* ---- the three directions, direct sums in double --------------------------------------------- */

/* the input position of output (p, q) at tap (r, s), or false when it is in the padding */
static bool at(const conv_t *cv, const tensor_t *x, int p, int q, int r, int s, int *h, int *w)
{
    *h = p * cv->sh - cv->ph + r * cv->dh;
    *w = q * cv->sw - cv->pw + s * cv->dw;
    return *h >= 0 && *h < x->dims[2] && *w >= 0 && *w < x->dims[3];
}

static void forward(const conv_t *cv, const tensor_t *xd, const void *x, const tensor_t *wd,
                    const void *w, const tensor_t *yd, void *y)
{
    int kg = wd->dims[0] / cv->groups, cg = wd->dims[1];
    for (int n = 0; n < yd->dims[0]; n++)
        for (int k = 0; k < yd->dims[1]; k++)
            for (int p = 0; p < yd->dims[2]; p++)
                for (int q = 0; q < yd->dims[3]; q++) {
                    double acc = 0;
                    for (int c = 0; c < cg; c++)
                        for (int r = 0; r < wd->dims[2]; r++)
                            for (int s = 0; s < wd->dims[3]; s++) {
                                int h, ww;
                                if (at(cv, xd, p, q, r, s, &h, &ww))
                                    acc += get(xd, x, n, (k / kg) * cg + c, h, ww) *
                                           get(wd, w, k, c, r, s);
                            }
                    put(yd, y, n, k, p, q, acc);
                }
}

/* dx (or dw) as the sum over every output position of its products: accumulated in a double
 * buffer in (n, c, h, w) (or (k, c, r, s)) order, then stored */
static miopenStatus_t backward(const conv_t *cv, const tensor_t *xd, const void *x,
                               const tensor_t *wd, const void *w, const tensor_t *yd,
                               const void *dy, bool weights, void *out)
{
    const tensor_t *od = weights ? wd : xd;
    size_t count = (size_t)od->dims[0] * od->dims[1] * od->dims[2] * od->dims[3];
    double *acc = calloc(count ? count : 1, sizeof *acc);
    if (!acc) return miopenStatusAllocFailed;
    int kg = wd->dims[0] / cv->groups, cg = wd->dims[1], R = wd->dims[2], S = wd->dims[3];
    for (int n = 0; n < yd->dims[0]; n++)
        for (int k = 0; k < yd->dims[1]; k++)
            for (int p = 0; p < yd->dims[2]; p++)
                for (int q = 0; q < yd->dims[3]; q++) {
                    double g = get(yd, dy, n, k, p, q);
                    for (int c = 0; c < cg; c++)
                        for (int r = 0; r < R; r++)
                            for (int s = 0; s < S; s++) {
                                int h, ww, ci = (k / kg) * cg + c;
                                if (!at(cv, xd, p, q, r, s, &h, &ww)) continue;
                                if (weights)
                                    acc[(((size_t)k * cg + c) * R + r) * S + s] +=
                                        g * get(xd, x, n, ci, h, ww);
                                else
                                    acc[(((size_t)n * xd->dims[1] + ci) * xd->dims[2] + h) *
                                            xd->dims[3] +
                                        ww] += g * get(wd, w, k, c, r, s);
                            }
                }
    size_t i = 0;
    for (int a = 0; a < od->dims[0]; a++)
        for (int b = 0; b < od->dims[1]; b++)
            for (int c = 0; c < od->dims[2]; c++)
                for (int d = 0; d < od->dims[3]; d++) put(od, out, a, b, c, d, acc[i++]);
    free(acc);
    return miopenStatusSuccess;
}

/* ---- the API ------------------------------------------------------------------------------ */

EXPORT miopenStatus_t miopenGetVersion(size_t *major, size_t *minor, size_t *patch)
{
    *major = 3, *minor = 99, *patch = 0; /* "3.99.0": not a real release */
    return miopenStatusSuccess;
}

EXPORT const char *miopenGetErrorString(miopenStatus_t s)
{
    return s == miopenStatusBadParm          ? "miopenStatusBadParm"
           : s == miopenStatusAllocFailed    ? "miopenStatusAllocFailed"
           : s == miopenStatusNotImplemented ? "miopenStatusNotImplemented"
                                             : "miopenStatusUnknownError";
}

EXPORT miopenStatus_t miopenCreate(void **h)
{
    *h = calloc(1, sizeof(handle_t));
    return *h ? miopenStatusSuccess : miopenStatusAllocFailed;
}

EXPORT miopenStatus_t miopenDestroy(void *h)
{
    free(h);
    return miopenStatusSuccess;
}

EXPORT miopenStatus_t miopenSetStream(void *h, void *stream)
{
    ((handle_t *)h)->stream = stream;
    return miopenStatusSuccess;
}

EXPORT miopenStatus_t miopenCreateTensorDescriptor(void **d)
{
    *d = calloc(1, sizeof(tensor_t));
    return *d ? miopenStatusSuccess : miopenStatusAllocFailed;
}

EXPORT miopenStatus_t miopenSetTensorDescriptor(void *d, int type, int nbdims, const int *dims,
                                                const int *strides)
{
    tensor_t *t = d;
    if (nbdims != 4 || !dims || !strides ||
        (type != miopenHalf && type != miopenFloat && type != miopenBFloat16))
        return miopenStatusBadParm;
    for (int i = 0; i < 4; i++)
        if (dims[i] < 1 || strides[i] < 1) return miopenStatusBadParm;
    t->type = type, t->nbdims = 4;
    memcpy(t->dims, dims, sizeof t->dims), memcpy(t->strides, strides, sizeof t->strides);
    return miopenStatusSuccess;
}

EXPORT miopenStatus_t miopenDestroyTensorDescriptor(void *d)
{
    free(d);
    return miopenStatusSuccess;
}

EXPORT miopenStatus_t miopenCreateConvolutionDescriptor(void **d)
{
    conv_t *cv = calloc(1, sizeof *cv);
    if (!cv) return miopenStatusAllocFailed;
    cv->groups = 1;
    *d = cv;
    return miopenStatusSuccess;
}

EXPORT miopenStatus_t miopenInitConvolutionDescriptor(void *d, int mode, int pad_h, int pad_w,
                                                      int stride_h, int stride_w, int dil_h,
                                                      int dil_w)
{
    conv_t *cv = d;
    cv->mode = mode, cv->ph = pad_h, cv->pw = pad_w, cv->sh = stride_h, cv->sw = stride_w;
    cv->dh = dil_h, cv->dw = dil_w;
    return miopenStatusSuccess;
}

EXPORT miopenStatus_t miopenSetConvolutionGroupCount(void *d, int groups)
{
    if (groups < 1) return miopenStatusBadParm;
    ((conv_t *)d)->groups = groups;
    return miopenStatusSuccess;
}

EXPORT miopenStatus_t miopenSetConvolutionAttribute(void *d, int attr, int value)
{
    (void)d;
    return attr == 1 && (value == 0 || value == 1) ? miopenStatusSuccess : miopenStatusBadParm;
}

EXPORT miopenStatus_t miopenDestroyConvolutionDescriptor(void *d)
{
    free(d);
    return miopenStatusSuccess;
}

EXPORT miopenStatus_t miopenConvolutionForwardGetWorkSpaceSize(void *h, void *wd, void *xd,
                                                               void *cv, void *yd, size_t *bytes)
{
    (void)h;
    if (!shapes_ok(xd, wd, yd, cv)) return miopenStatusBadParm;
    *bytes = WS_BYTES;
    return miopenStatusSuccess;
}

EXPORT miopenStatus_t miopenConvolutionBackwardDataGetWorkSpaceSize(void *h, void *dyd, void *wd,
                                                                    void *cv, void *dxd,
                                                                    size_t *bytes)
{
    (void)h;
    if (!shapes_ok(dxd, wd, dyd, cv)) return miopenStatusBadParm;
    *bytes = WS_BYTES;
    return miopenStatusSuccess;
}

EXPORT miopenStatus_t miopenConvolutionBackwardWeightsGetWorkSpaceSize(void *h, void *dyd, void *xd,
                                                                       void *cv, void *dwd,
                                                                       size_t *bytes)
{
    (void)h;
    if (!shapes_ok(xd, dwd, dyd, cv)) return miopenStatusBadParm;
    *bytes = WS_BYTES;
    return miopenStatusSuccess;
}

static miopenStatus_t found(handle_t *hd, int dir, const tensor_t *x, const tensor_t *w,
                            const tensor_t *y, const conv_t *cv, int want, int *n, perf_t *perf,
                            void *ws, size_t bytes)
{
    if (!shapes_ok(x, w, y, cv) || want < 1 || !n || !perf || !ws_ok(ws, bytes))
        return miopenStatusBadParm;
    perf[0].algo = 0, perf[0].time = 1.0f, perf[0].memory = bytes < WS_BYTES ? bytes : WS_BYTES;
    *n = 1;
    remember(hd, dir, x, w, y);
    return miopenStatusSuccess;
}

EXPORT miopenStatus_t miopenFindConvolutionForwardAlgorithm(void *h, void *xd, const void *x,
                                                            void *wd, const void *w, void *cv,
                                                            void *yd, void *y, int want, int *n,
                                                            perf_t *perf, void *ws, size_t bytes,
                                                            bool exhaustive)
{
    (void)exhaustive;
    miopenStatus_t s = found(h, 0, xd, wd, yd, cv, want, n, perf, ws, bytes);
    if (!s) forward(cv, xd, x, wd, w, yd, y); /* MIOpen's Find runs the kernels it times */
    return s;
}

EXPORT miopenStatus_t miopenFindConvolutionBackwardDataAlgorithm(void *h, void *dyd, const void *dy,
                                                                 void *wd, const void *w, void *cv,
                                                                 void *dxd, void *dx, int want,
                                                                 int *n, perf_t *perf, void *ws,
                                                                 size_t bytes, bool exhaustive)
{
    (void)exhaustive;
    miopenStatus_t s = found(h, 1, dxd, wd, dyd, cv, want, n, perf, ws, bytes);
    return s ? s : backward(cv, dxd, NULL, wd, w, dyd, dy, false, dx);
}

EXPORT miopenStatus_t miopenFindConvolutionBackwardWeightsAlgorithm(
    void *h, void *dyd, const void *dy, void *xd, const void *x, void *cv, void *dwd, void *dw,
    int want, int *n, perf_t *perf, void *ws, size_t bytes, bool exhaustive)
{
    (void)exhaustive;
    miopenStatus_t s = found(h, 2, xd, dwd, dyd, cv, want, n, perf, ws, bytes);
    return s ? s : backward(cv, xd, x, dwd, NULL, dyd, dy, true, dw);
}

EXPORT miopenStatus_t miopenConvolutionForward(void *h, const void *alpha, void *xd, const void *x,
                                               void *wd, const void *w, void *cv, int algo,
                                               const void *beta, void *yd, void *y, void *ws,
                                               size_t bytes)
{
    if (!unit_scales(alpha, beta) || algo != 0 || !shapes_ok(xd, wd, yd, cv) ||
        !was_found(h, 0, xd, wd, yd) || !ws_ok(ws, bytes))
        return miopenStatusBadParm;
    forward(cv, xd, x, wd, w, yd, y);
    return miopenStatusSuccess;
}

EXPORT miopenStatus_t miopenConvolutionBackwardData(void *h, const void *alpha, void *dyd,
                                                    const void *dy, void *wd, const void *w,
                                                    void *cv, int algo, const void *beta, void *dxd,
                                                    void *dx, void *ws, size_t bytes)
{
    if (!unit_scales(alpha, beta) || algo != 0 || !shapes_ok(dxd, wd, dyd, cv) ||
        !was_found(h, 1, dxd, wd, dyd) || !ws_ok(ws, bytes))
        return miopenStatusBadParm;
    return backward(cv, dxd, NULL, wd, w, dyd, dy, false, dx);
}

EXPORT miopenStatus_t miopenConvolutionBackwardWeights(void *h, const void *alpha, void *dyd,
                                                       const void *dy, void *xd, const void *x,
                                                       void *cv, int algo, const void *beta,
                                                       void *dwd, void *dw, void *ws, size_t bytes)
{
    if (!unit_scales(alpha, beta) || algo != 0 || !shapes_ok(xd, dwd, dyd, cv) ||
        !was_found(h, 2, xd, dwd, dyd) || !ws_ok(ws, bytes))
        return miopenStatusBadParm;
    return backward(cv, xd, x, dwd, NULL, dyd, dy, true, dw);
}

/* a bias tensor of 1 x K x 1 x 1 for a data tensor of K channels, the same type */
static bool bias_ok(const tensor_t *b, const tensor_t *y)
{
    return b && y && b->nbdims == 4 && y->nbdims == 4 && b->type == y->type && b->dims[0] == 1 &&
           b->dims[1] == y->dims[1] && b->dims[2] == 1 && b->dims[3] == 1;
}

/* y += b; MIOpen documents alpha = 1, beta = 0 for it (it computes y = alpha y + alpha b +
 * beta y) */
EXPORT miopenStatus_t miopenConvolutionForwardBias(void *h, const void *alpha, void *bd,
                                                   const void *b, const void *beta, void *yd,
                                                   void *y)
{
    (void)h;
    const tensor_t *bt = bd, *yt = yd;
    if (!unit_scales(alpha, beta) || !bias_ok(bt, yt)) return miopenStatusBadParm;
    if (yt->type == miopenBFloat16) return miopenStatusNotImplemented; /* as MIOpen's own */
    for (int n = 0; n < yt->dims[0]; n++)
        for (int k = 0; k < yt->dims[1]; k++)
            for (int p = 0; p < yt->dims[2]; p++)
                for (int q = 0; q < yt->dims[3]; q++)
                    put(yt, y, n, k, p, q, get(yt, y, n, k, p, q) + get(bt, b, 0, k, 0, 0));
    return miopenStatusSuccess;
}

/* db[k] = the sum of dy over n, p, q */
EXPORT miopenStatus_t miopenConvolutionBackwardBias(void *h, const void *alpha, void *dyd,
                                                    const void *dy, const void *beta, void *dbd,
                                                    void *db)
{
    (void)h;
    const tensor_t *yt = dyd, *bt = dbd;
    if (!unit_scales(alpha, beta) || !bias_ok(bt, yt)) return miopenStatusBadParm;
    for (int k = 0; k < yt->dims[1]; k++) {
        double acc = 0;
        for (int n = 0; n < yt->dims[0]; n++)
            for (int p = 0; p < yt->dims[2]; p++)
                for (int q = 0; q < yt->dims[3]; q++) acc += get(yt, dy, n, k, p, q);
        put(bt, db, 0, k, 0, 0, acc);
    }
    return miopenStatusSuccess;
}
