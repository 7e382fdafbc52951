/* miopen.c - the MIOpen adapter: libMIOpen.so.1 is dlopen'ed at run time, never linked. No
 * MIOpen header is packaged here, so the prototypes below are declared from MIOpen's public
 * documentation (include/miopen/miopen.h of ROCm/MIOpen): enums are ints, handles and
 * descriptors opaque pointers.
 *
 * MIOpen needs a "find" with real buffers before it runs a convolution, so plan() only sizes the
 * workspace (capped at op->ws_limit: MIOpen then restricts itself to solvers that fit) and the
 * first run() of a shape on a handle calls miopenFind*Algorithm with the call's own buffers
 * (exhaustiveSearch = false), remembers the algorithm, then runs it. Strategy "vendor" sets
 * MIOPEN_DEBUG_CONV_IMPLICIT_GEMM=1 before this library is loaded (guard.c). */
#include "vendorlib/vendor.h"

#include "gpu/gpu.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int miopenStatus_t; /* miopenStatusSuccess = 0 */
typedef void *miopenHandle_t;
typedef void *miopenTensorDescriptor_t;
typedef void *miopenConvolutionDescriptor_t;

enum {
    miopenHalf = 0,
    miopenFloat = 1,
    miopenBFloat16 = 5
};
enum {
    miopenConvolution = 0
};
enum {
    MIOPEN_CONVOLUTION_ATTRIB_DETERMINISTIC = 1
};

/* miopenConvAlgoPerf_t: a union of the three algorithm enums, the time, the workspace. */
typedef struct {
    int algo;
    float time;
    size_t memory;
} perf_t;

#define MIOPEN_FUNCS(X)                                                                            \
    X(miopenStatus_t, miopenGetVersion, (size_t *, size_t *, size_t *))                            \
    X(const char *, miopenGetErrorString, (miopenStatus_t))                                        \
    X(miopenStatus_t, miopenCreate, (miopenHandle_t *))                                            \
    X(miopenStatus_t, miopenDestroy, (miopenHandle_t))                                             \
    X(miopenStatus_t, miopenSetStream, (miopenHandle_t, void *))                                   \
    X(miopenStatus_t, miopenCreateTensorDescriptor, (miopenTensorDescriptor_t *))                  \
    X(miopenStatus_t, miopenSetTensorDescriptor,                                                   \
      (miopenTensorDescriptor_t, int, int, const int *, const int *))                              \
    X(miopenStatus_t, miopenDestroyTensorDescriptor, (miopenTensorDescriptor_t))                   \
    X(miopenStatus_t, miopenCreateConvolutionDescriptor, (miopenConvolutionDescriptor_t *))        \
    X(miopenStatus_t, miopenInitConvolutionDescriptor,                                             \
      (miopenConvolutionDescriptor_t, int, int, int, int, int, int, int))                          \
    X(miopenStatus_t, miopenSetConvolutionGroupCount, (miopenConvolutionDescriptor_t, int))        \
    X(miopenStatus_t, miopenDestroyConvolutionDescriptor, (miopenConvolutionDescriptor_t))         \
    X(miopenStatus_t, miopenConvolutionForwardGetWorkSpaceSize,                                    \
      (miopenHandle_t, miopenTensorDescriptor_t, miopenTensorDescriptor_t,                         \
       miopenConvolutionDescriptor_t, miopenTensorDescriptor_t, size_t *))                         \
    X(miopenStatus_t, miopenConvolutionBackwardDataGetWorkSpaceSize,                               \
      (miopenHandle_t, miopenTensorDescriptor_t, miopenTensorDescriptor_t,                         \
       miopenConvolutionDescriptor_t, miopenTensorDescriptor_t, size_t *))                         \
    X(miopenStatus_t, miopenConvolutionBackwardWeightsGetWorkSpaceSize,                            \
      (miopenHandle_t, miopenTensorDescriptor_t, miopenTensorDescriptor_t,                         \
       miopenConvolutionDescriptor_t, miopenTensorDescriptor_t, size_t *))                         \
    X(miopenStatus_t, miopenFindConvolutionForwardAlgorithm,                                       \
      (miopenHandle_t, miopenTensorDescriptor_t, const void *, miopenTensorDescriptor_t,           \
       const void *, miopenConvolutionDescriptor_t, miopenTensorDescriptor_t, void *, int, int *,  \
       perf_t *, void *, size_t, bool))                                                            \
    X(miopenStatus_t, miopenFindConvolutionBackwardDataAlgorithm,                                  \
      (miopenHandle_t, miopenTensorDescriptor_t, const void *, miopenTensorDescriptor_t,           \
       const void *, miopenConvolutionDescriptor_t, miopenTensorDescriptor_t, void *, int, int *,  \
       perf_t *, void *, size_t, bool))                                                            \
    X(miopenStatus_t, miopenFindConvolutionBackwardWeightsAlgorithm,                               \
      (miopenHandle_t, miopenTensorDescriptor_t, const void *, miopenTensorDescriptor_t,           \
       const void *, miopenConvolutionDescriptor_t, miopenTensorDescriptor_t, void *, int, int *,  \
       perf_t *, void *, size_t, bool))                                                            \
    X(miopenStatus_t, miopenConvolutionForward,                                                    \
      (miopenHandle_t, const void *, miopenTensorDescriptor_t, const void *,                       \
       miopenTensorDescriptor_t, const void *, miopenConvolutionDescriptor_t, int, const void *,   \
       miopenTensorDescriptor_t, void *, void *, size_t))                                          \
    X(miopenStatus_t, miopenConvolutionBackwardData,                                               \
      (miopenHandle_t, const void *, miopenTensorDescriptor_t, const void *,                       \
       miopenTensorDescriptor_t, const void *, miopenConvolutionDescriptor_t, int, const void *,   \
       miopenTensorDescriptor_t, void *, void *, size_t))                                          \
    X(miopenStatus_t, miopenConvolutionBackwardWeights,                                            \
      (miopenHandle_t, const void *, miopenTensorDescriptor_t, const void *,                       \
       miopenTensorDescriptor_t, const void *, miopenConvolutionDescriptor_t, int, const void *,   \
       miopenTensorDescriptor_t, void *, void *, size_t))                                          \
    X(miopenStatus_t, miopenConvolutionForwardBias,                                                \
      (miopenHandle_t, const void *, miopenTensorDescriptor_t, const void *, const void *,         \
       miopenTensorDescriptor_t, void *))                                                          \
    X(miopenStatus_t, miopenConvolutionBackwardBias,                                               \
      (miopenHandle_t, const void *, miopenTensorDescriptor_t, const void *, const void *,         \
       miopenTensorDescriptor_t, void *))

#define DECLARE(ret, name, args) static ret(*p_##name) args;
MIOPEN_FUNCS(DECLARE)
/* Optional (newer MIOpen): miopenSetConvolutionAttribute(desc, attr, value). */
static miopenStatus_t (*p_miopenSetConvolutionAttribute)(miopenConvolutionDescriptor_t, int, int);

#define SYM(ret, name, args) {#name, (void **)&p_##name, false},
static const sc_vendor_sym syms[] = {MIOPEN_FUNCS(SYM){
    "miopenSetConvolutionAttribute", (void **)&p_miopenSetConvolutionAttribute, true}};
static sc_vendor_lib lib = SC_VENDOR_LIB_INIT;

static void miopen_ver(char *ver, size_t len)
{
    size_t a = 0, b = 0, c = 0;
    p_miopenGetVersion(&a, &b, &c);
    snprintf(ver, len, "%zu.%zu.%zu", a, b, c);
}

/* $SAFECONV_MIOPEN_LIBRARY names the file; otherwise the loader's search path. */
static int miopen_load(char *err, size_t len)
{
    static const char *const names[] = {"libMIOpen.so.1", "libMIOpen.so"};
    return sc__vendor_lib_load(&lib, "SAFECONV_MIOPEN_LIBRARY", names, 2, syms,
                               sizeof syms / sizeof syms[0], miopen_ver, err, len);
}

static const char *miopen_version(void) { return lib.ver; }
static const char *miopen_library(void) { return lib.name; }

/* Algorithms found per shape on this handle (MIOpen's find is per handle and shape). */
#define MEMO 64
typedef struct {
    sc_conv2d_desc d;
    sc_direction dir;
    int algo;
} memo_t;

typedef struct {
    miopenHandle_t h;
    memo_t memo[MEMO];
    int nmemo;
} handle_t;

static int fail(miopenStatus_t s, const char *what, char *err, size_t len)
{
    snprintf(err, len, "%s: %s", what, p_miopenGetErrorString ? p_miopenGetErrorString(s) : "?");
    return s ? s : 1;
}

static int miopen_create(void **out, int device, char *err, size_t len)
{
    if (device >= 0 && sc_gpu_set_device(device)) {
        snprintf(err, len, "cannot select GPU %d", device);
        return 1;
    }
    handle_t *hd = calloc(1, sizeof *hd);
    if (!hd) {
        snprintf(err, len, "out of memory");
        return 1;
    }
    miopenStatus_t s = p_miopenCreate(&hd->h);
    if (s) {
        free(hd);
        return fail(s, "miopenCreate", err, len);
    }
    *out = hd;
    return 0;
}

static void miopen_destroy(void *h)
{
    handle_t *hd = h;
    if (!hd) return;
    p_miopenDestroy(hd->h);
    free(hd);
}

typedef struct {
    miopenTensorDescriptor_t x, y, w, b;
    miopenConvolutionDescriptor_t conv;
} descs_t;

static void descs_free(descs_t *ds)
{
    if (ds->x) p_miopenDestroyTensorDescriptor(ds->x);
    if (ds->y) p_miopenDestroyTensorDescriptor(ds->y);
    if (ds->w) p_miopenDestroyTensorDescriptor(ds->w);
    if (ds->b) p_miopenDestroyTensorDescriptor(ds->b);
    if (ds->conv) p_miopenDestroyConvolutionDescriptor(ds->conv);
}

/* A 4-d descriptor with dims in N,C,H,W order and strides of the layout (NCHW or NHWC). */
static miopenStatus_t set4d(miopenTensorDescriptor_t t, int dt, bool nhwc, int n, int c, int h,
                            int w)
{
    int dims[4] = {n, c, h, w};
    int nchw[4] = {c * h * w, h * w, w, 1};
    int nhwc_s[4] = {h * w * c, 1, w * c, c};
    return p_miopenSetTensorDescriptor(t, dt, 4, dims, nhwc ? nhwc_s : nchw);
}

static int descs_make(const sc_vendor_op *op, descs_t *ds, char *err, size_t len)
{
    memset(ds, 0, sizeof *ds);
    const sc_conv2d_desc *d = &op->d;
    int64_t biggest = d->n * d->c * d->h * d->w;
    if (d->n * d->k * op->p * op->q > biggest) biggest = d->n * d->k * op->p * op->q;
    if (biggest > INT_MAX || d->k * d->c * d->r * d->s > INT_MAX) {
        snprintf(err, len, "a tensor exceeds MIOpen's int strides");
        return 1;
    }
    int dt = d->dtype == SC_DTYPE_F16    ? miopenHalf
             : d->dtype == SC_DTYPE_BF16 ? miopenBFloat16
                                         : miopenFloat;
    bool nhwc = d->layout == SC_NHWC;
    miopenStatus_t s;
    if ((s = p_miopenCreateTensorDescriptor(&ds->x)) ||
        (s = p_miopenCreateTensorDescriptor(&ds->y)) ||
        (s = p_miopenCreateTensorDescriptor(&ds->w)) ||
        (s = p_miopenCreateTensorDescriptor(&ds->b)) ||
        (s = p_miopenCreateConvolutionDescriptor(&ds->conv)))
        return fail(s, "miopenCreate*Descriptor", err, len);
    if ((s = set4d(ds->x, dt, nhwc, (int)d->n, (int)d->c, (int)d->h, (int)d->w)) ||
        (s = set4d(ds->y, dt, nhwc, (int)d->n, (int)d->k, (int)op->p, (int)op->q)) ||
        (s = set4d(ds->w, dt, nhwc, (int)d->k, (int)(d->c / d->groups), (int)d->r, (int)d->s)) ||
        (s = set4d(ds->b, dt, false, 1, (int)d->k, 1, 1)))
        return fail(s, "miopenSetTensorDescriptor", err, len);
    if ((s = p_miopenInitConvolutionDescriptor(ds->conv, miopenConvolution, (int)d->pad_h,
                                               (int)d->pad_w, (int)d->stride_h, (int)d->stride_w,
                                               (int)d->dil_h, (int)d->dil_w)))
        return fail(s, "miopenInitConvolutionDescriptor", err, len);
    if ((s = p_miopenSetConvolutionGroupCount(ds->conv, (int)d->groups)))
        return fail(s, "miopenSetConvolutionGroupCount", err, len);
    if (op->deterministic && p_miopenSetConvolutionAttribute)
        p_miopenSetConvolutionAttribute(ds->conv, MIOPEN_CONVOLUTION_ATTRIB_DETERMINISTIC, 1);
    return 0;
}

static int miopen_plan(void *h, const sc_vendor_op *op, int *algo_id, size_t *ws_bytes, char *err,
                       size_t len)
{
    handle_t *hd = h;
    descs_t ds;
    int rc = descs_make(op, &ds, err, len);
    size_t ws = 0;
    miopenStatus_t s = 0;
    if (!rc) {
        switch (op->dir) {
        case SC_DIR_FORWARD:
            s = p_miopenConvolutionForwardGetWorkSpaceSize(hd->h, ds.w, ds.x, ds.conv, ds.y, &ws);
            break;
        case SC_DIR_BACKWARD_DATA:
            s = p_miopenConvolutionBackwardDataGetWorkSpaceSize(hd->h, ds.y, ds.w, ds.conv, ds.x,
                                                                &ws);
            break;
        case SC_DIR_BACKWARD_WEIGHT:
            s = p_miopenConvolutionBackwardWeightsGetWorkSpaceSize(hd->h, ds.y, ds.x, ds.conv, ds.w,
                                                                   &ws);
            break;
        default: snprintf(err, len, "direction %d is not a convolution", (int)op->dir); rc = 1;
        }
        if (!rc && s) rc = fail(s, "miopenConvolution*GetWorkSpaceSize", err, len);
    }
    descs_free(&ds);
    if (rc) return rc;
    *ws_bytes = ws < op->ws_limit ? ws : op->ws_limit;
    *algo_id = -1; /* found on first run */
    return 0;
}

static int find_algo(handle_t *hd, const sc_vendor_op *op, descs_t *ds, int *algo, char *err,
                     size_t len)
{
    for (int i = 0; i < hd->nmemo; i++)
        if (hd->memo[i].dir == op->dir && !memcmp(&hd->memo[i].d, &op->d, sizeof op->d)) {
            *algo = hd->memo[i].algo;
            return 0;
        }
    perf_t perf[4];
    int n = 0;
    miopenStatus_t s;
    switch (op->dir) {
    case SC_DIR_FORWARD:
        s = p_miopenFindConvolutionForwardAlgorithm(hd->h, ds->x, op->a, ds->w, op->b, ds->conv,
                                                    ds->y, op->out, 4, &n, perf, op->ws,
                                                    op->ws_size, false);
        break;
    case SC_DIR_BACKWARD_DATA:
        s = p_miopenFindConvolutionBackwardDataAlgorithm(hd->h, ds->y, op->a, ds->w, op->b,
                                                         ds->conv, ds->x, op->out, 4, &n, perf,
                                                         op->ws, op->ws_size, false);
        break;
    default:
        s = p_miopenFindConvolutionBackwardWeightsAlgorithm(hd->h, ds->y, op->b, ds->x, op->a,
                                                            ds->conv, ds->w, op->out, 4, &n, perf,
                                                            op->ws, op->ws_size, false);
    }
    if (s) return fail(s, "miopenFindConvolution*Algorithm", err, len);
    if (n < 1) {
        snprintf(err, len, "MIOpen found no algorithm within %zu bytes of workspace", op->ws_size);
        return 1;
    }
    *algo = perf[0].algo;
    memo_t *m = &hd->memo[hd->nmemo < MEMO ? hd->nmemo++ : (int)(op->d.n % MEMO)];
    m->d = op->d, m->dir = op->dir, m->algo = *algo;
    return 0;
}

static int miopen_run(void *h, const sc_vendor_op *op, int algo, char *err, size_t len)
{
    handle_t *hd = h;
    descs_t ds;
    const float one = 1.0f, zero = 0.0f;
    int rc = descs_make(op, &ds, err, len);
    miopenStatus_t s = 0;
    if (!rc && (s = p_miopenSetStream(hd->h, op->stream)))
        rc = fail(s, "miopenSetStream", err, len);
    if (!rc) rc = find_algo(hd, op, &ds, &algo, err, len);
    if (!rc) {
        switch (op->dir) {
        case SC_DIR_FORWARD:
            if ((s = p_miopenConvolutionForward(hd->h, &one, ds.x, op->a, ds.w, op->b, ds.conv,
                                                algo, &zero, ds.y, op->out, op->ws, op->ws_size)))
                rc = fail(s, "miopenConvolutionForward", err, len);
            else if (op->c && (s = p_miopenConvolutionForwardBias(hd->h, &one, ds.b, op->c, &zero,
                                                                  ds.y, op->out)))
                rc = fail(s, "miopenConvolutionForwardBias", err, len);
            break;
        case SC_DIR_BACKWARD_DATA:
            if ((s = p_miopenConvolutionBackwardData(hd->h, &one, ds.y, op->a, ds.w, op->b, ds.conv,
                                                     algo, &zero, ds.x, op->out, op->ws,
                                                     op->ws_size)))
                rc = fail(s, "miopenConvolutionBackwardData", err, len);
            break;
        default:
            if ((s = p_miopenConvolutionBackwardWeights(hd->h, &one, ds.y, op->b, ds.x, op->a,
                                                        ds.conv, algo, &zero, ds.w, op->out, op->ws,
                                                        op->ws_size)))
                rc = fail(s, "miopenConvolutionBackwardWeights", err, len);
            else if (op->out2 && (s = p_miopenConvolutionBackwardBias(hd->h, &one, ds.y, op->b,
                                                                      &zero, ds.b, op->out2)))
                rc = fail(s, "miopenConvolutionBackwardBias", err, len);
        }
    }
    descs_free(&ds);
    return rc;
}

static const sc_vendor_adapter adapter = {
    .abi = SC_VENDOR_ABI,
    .name = "miopen",
    .memory = SC_VENDOR_MEM_DEVICE,
    .algo = SC_ALGO_VENDOR_MIOPEN,
    .load = miopen_load,
    .version = miopen_version,
    .library = miopen_library,
    .create = miopen_create,
    .destroy = miopen_destroy,
    .plan = miopen_plan,
    .run = miopen_run,
};

const sc_vendor_adapter *sc__vendor_miopen(void) { return &adapter; }
