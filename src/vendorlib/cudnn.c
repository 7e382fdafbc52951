/* cudnn.c - the cuDNN adapter: libcudnn.so.9 (or .8) is dlopen'ed at run time, never linked,
 * and its legacy convolution API is called through prototypes declared here (checked against
 * cuDNN 9.19's cudnn_graph.h, cudnn_ops.h and cudnn_cnn.h) so the build needs no cuDNN header.
 *
 * fp32 runs with CUDNN_FMA_MATH: plain fp32 on the FMA units (CUDNN_DEFAULT_MATH lets cuDNN 8+
 * use TF32 tensor cores on Ampere and later, which is not fp32-exact). fp16/bf16 use tensor ops
 * with fp32 compute. With op->deterministic, algorithms cuDNN marks non-deterministic
 * (BWD_DATA_ALGO_0, BWD_FILTER_ALGO_0 and _3) are skipped. */
#include "vendorlib/vendor.h"

#include "gpu/gpu.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int cudnnStatus_t; /* CUDNN_STATUS_SUCCESS = 0 */
typedef void *cudnnHandle_t;
typedef void *cudnnTensorDescriptor_t;
typedef void *cudnnFilterDescriptor_t;
typedef void *cudnnConvolutionDescriptor_t;

enum {
    CUDNN_DATA_FLOAT = 0,
    CUDNN_DATA_HALF = 2,
    CUDNN_DATA_BFLOAT16 = 9
};
enum {
    CUDNN_TENSOR_NCHW = 0,
    CUDNN_TENSOR_NHWC = 1
};
enum {
    CUDNN_CROSS_CORRELATION = 1
};
enum {
    CUDNN_TENSOR_OP_MATH = 1,
    CUDNN_FMA_MATH = 3
};
enum {
    CUDNN_DETERMINISTIC = 1
};

/* cudnnConvolution{Fwd,BwdData,BwdFilter}AlgoPerf_t share this layout. */
typedef struct {
    int algo;
    cudnnStatus_t status;
    float time;
    size_t memory;
    int determinism;
    int mathType;
    int reserved[3];
} perf_t;

#define CUDNN_FUNCS(X)                                                                             \
    X(size_t, cudnnGetVersion, (void))                                                             \
    X(const char *, cudnnGetErrorString, (cudnnStatus_t))                                          \
    X(cudnnStatus_t, cudnnCreate, (cudnnHandle_t *))                                               \
    X(cudnnStatus_t, cudnnDestroy, (cudnnHandle_t))                                                \
    X(cudnnStatus_t, cudnnSetStream, (cudnnHandle_t, void *))                                      \
    X(cudnnStatus_t, cudnnCreateTensorDescriptor, (cudnnTensorDescriptor_t *))                     \
    X(cudnnStatus_t, cudnnSetTensor4dDescriptor,                                                   \
      (cudnnTensorDescriptor_t, int, int, int, int, int, int))                                     \
    X(cudnnStatus_t, cudnnDestroyTensorDescriptor, (cudnnTensorDescriptor_t))                      \
    X(cudnnStatus_t, cudnnCreateFilterDescriptor, (cudnnFilterDescriptor_t *))                     \
    X(cudnnStatus_t, cudnnSetFilter4dDescriptor,                                                   \
      (cudnnFilterDescriptor_t, int, int, int, int, int, int))                                     \
    X(cudnnStatus_t, cudnnDestroyFilterDescriptor, (cudnnFilterDescriptor_t))                      \
    X(cudnnStatus_t, cudnnCreateConvolutionDescriptor, (cudnnConvolutionDescriptor_t *))           \
    X(cudnnStatus_t, cudnnSetConvolution2dDescriptor,                                              \
      (cudnnConvolutionDescriptor_t, int, int, int, int, int, int, int, int))                      \
    X(cudnnStatus_t, cudnnSetConvolutionGroupCount, (cudnnConvolutionDescriptor_t, int))           \
    X(cudnnStatus_t, cudnnSetConvolutionMathType, (cudnnConvolutionDescriptor_t, int))             \
    X(cudnnStatus_t, cudnnDestroyConvolutionDescriptor, (cudnnConvolutionDescriptor_t))            \
    X(cudnnStatus_t, cudnnGetConvolutionForwardAlgorithm_v7,                                       \
      (cudnnHandle_t, cudnnTensorDescriptor_t, cudnnFilterDescriptor_t,                            \
       cudnnConvolutionDescriptor_t, cudnnTensorDescriptor_t, int, int *, perf_t *))               \
    X(cudnnStatus_t, cudnnGetConvolutionBackwardDataAlgorithm_v7,                                  \
      (cudnnHandle_t, cudnnFilterDescriptor_t, cudnnTensorDescriptor_t,                            \
       cudnnConvolutionDescriptor_t, cudnnTensorDescriptor_t, int, int *, perf_t *))               \
    X(cudnnStatus_t, cudnnGetConvolutionBackwardFilterAlgorithm_v7,                                \
      (cudnnHandle_t, cudnnTensorDescriptor_t, cudnnTensorDescriptor_t,                            \
       cudnnConvolutionDescriptor_t, cudnnFilterDescriptor_t, int, int *, perf_t *))               \
    X(cudnnStatus_t, cudnnGetConvolutionForwardWorkspaceSize,                                      \
      (cudnnHandle_t, cudnnTensorDescriptor_t, cudnnFilterDescriptor_t,                            \
       cudnnConvolutionDescriptor_t, cudnnTensorDescriptor_t, int, size_t *))                      \
    X(cudnnStatus_t, cudnnGetConvolutionBackwardDataWorkspaceSize,                                 \
      (cudnnHandle_t, cudnnFilterDescriptor_t, cudnnTensorDescriptor_t,                            \
       cudnnConvolutionDescriptor_t, cudnnTensorDescriptor_t, int, size_t *))                      \
    X(cudnnStatus_t, cudnnGetConvolutionBackwardFilterWorkspaceSize,                               \
      (cudnnHandle_t, cudnnTensorDescriptor_t, cudnnTensorDescriptor_t,                            \
       cudnnConvolutionDescriptor_t, cudnnFilterDescriptor_t, int, size_t *))                      \
    X(cudnnStatus_t, cudnnConvolutionForward,                                                      \
      (cudnnHandle_t, const void *, cudnnTensorDescriptor_t, const void *,                         \
       cudnnFilterDescriptor_t, const void *, cudnnConvolutionDescriptor_t, int, void *, size_t,   \
       const void *, cudnnTensorDescriptor_t, void *))                                             \
    X(cudnnStatus_t, cudnnConvolutionBackwardData,                                                 \
      (cudnnHandle_t, const void *, cudnnFilterDescriptor_t, const void *,                         \
       cudnnTensorDescriptor_t, const void *, cudnnConvolutionDescriptor_t, int, void *, size_t,   \
       const void *, cudnnTensorDescriptor_t, void *))                                             \
    X(cudnnStatus_t, cudnnConvolutionBackwardFilter,                                               \
      (cudnnHandle_t, const void *, cudnnTensorDescriptor_t, const void *,                         \
       cudnnTensorDescriptor_t, const void *, cudnnConvolutionDescriptor_t, int, void *, size_t,   \
       const void *, cudnnFilterDescriptor_t, void *))                                             \
    X(cudnnStatus_t, cudnnConvolutionBackwardBias,                                                 \
      (cudnnHandle_t, const void *, cudnnTensorDescriptor_t, const void *, const void *,           \
       cudnnTensorDescriptor_t, void *))                                                           \
    X(cudnnStatus_t, cudnnAddTensor,                                                               \
      (cudnnHandle_t, const void *, cudnnTensorDescriptor_t, const void *, const void *,           \
       cudnnTensorDescriptor_t, void *))

#define DECLARE(ret, name, args) static ret(*p_##name) args;
CUDNN_FUNCS(DECLARE)

#define SYM(ret, name, args) {#name, (void **)&p_##name, false},
static const sc_vendor_sym syms[] = {CUDNN_FUNCS(SYM)};
static sc_vendor_lib lib = SC_VENDOR_LIB_INIT;

static void cudnn_ver(char *ver, size_t len)
{
    size_t v = p_cudnnGetVersion();
    /* cuDNN 9: major*10000 + minor*100 + patch; cuDNN 8: major*1000 + minor*100. */
    if (v >= 90000)
        snprintf(ver, len, "%zu.%zu.%zu", v / 10000, v / 100 % 100, v % 100);
    else
        snprintf(ver, len, "%zu.%zu.%zu", v / 1000, v / 100 % 10, v % 100);
}

/* $SAFECONV_CUDNN_LIBRARY names the file (e.g. PyTorch's bundled copy under
 * site-packages/nvidia/cudnn/lib); otherwise the loader's search path. */
static int cudnn_load(char *err, size_t len)
{
    static const char *const names[] = {"libcudnn.so.9", "libcudnn.so.8", "libcudnn.so"};
    return sc__vendor_lib_load(&lib, "SAFECONV_CUDNN_LIBRARY", names, 3, syms,
                               sizeof syms / sizeof syms[0], cudnn_ver, err, len);
}

static const char *cudnn_version(void) { return lib.ver; }
static const char *cudnn_library(void) { return lib.name; }

typedef struct {
    cudnnHandle_t h;
    int device;
} handle_t;

static int fail(cudnnStatus_t s, const char *what, char *err, size_t len)
{
    snprintf(err, len, "%s: %s", what, p_cudnnGetErrorString ? p_cudnnGetErrorString(s) : "?");
    return s ? s : 1;
}

static int cudnn_create(void **out, int device, char *err, size_t len)
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
    cudnnStatus_t s = p_cudnnCreate(&hd->h);
    if (s) {
        free(hd);
        return fail(s, "cudnnCreate", err, len);
    }
    hd->device = device;
    *out = hd;
    return 0;
}

static void cudnn_destroy(void *h)
{
    handle_t *hd = h;
    if (!hd) return;
    p_cudnnDestroy(hd->h);
    free(hd);
}

/* Descriptors of one op: x, y tensors; w filter; conv; bias (1,K,1,1). */
typedef struct {
    cudnnTensorDescriptor_t x, y, b;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
} descs_t;

static void descs_free(descs_t *ds)
{
    if (ds->x) p_cudnnDestroyTensorDescriptor(ds->x);
    if (ds->y) p_cudnnDestroyTensorDescriptor(ds->y);
    if (ds->b) p_cudnnDestroyTensorDescriptor(ds->b);
    if (ds->w) p_cudnnDestroyFilterDescriptor(ds->w);
    if (ds->conv) p_cudnnDestroyConvolutionDescriptor(ds->conv);
}

static int descs_make(const sc_vendor_op *op, descs_t *ds, char *err, size_t len)
{
    memset(ds, 0, sizeof *ds);
    const sc_conv2d_desc *d = &op->d;
    const int64_t v[] = {d->n,        d->c,     d->h,     d->w,     d->k,     d->r,
                         d->s,        op->p,    op->q,    d->pad_h, d->pad_w, d->stride_h,
                         d->stride_w, d->dil_h, d->dil_w, d->groups};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (v[i] > INT_MAX) {
            snprintf(err, len, "a size exceeds cuDNN's int range");
            return 1;
        }
    int dt = d->dtype == SC_DTYPE_F16    ? CUDNN_DATA_HALF
             : d->dtype == SC_DTYPE_BF16 ? CUDNN_DATA_BFLOAT16
                                         : CUDNN_DATA_FLOAT;
    int fmt = d->layout == SC_NHWC ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
    cudnnStatus_t s;
    if ((s = p_cudnnCreateTensorDescriptor(&ds->x)) ||
        (s = p_cudnnCreateTensorDescriptor(&ds->y)) ||
        (s = p_cudnnCreateTensorDescriptor(&ds->b)) ||
        (s = p_cudnnCreateFilterDescriptor(&ds->w)) ||
        (s = p_cudnnCreateConvolutionDescriptor(&ds->conv)))
        return fail(s, "cudnnCreate*Descriptor", err, len);
    if ((s = p_cudnnSetTensor4dDescriptor(ds->x, fmt, dt, (int)d->n, (int)d->c, (int)d->h,
                                          (int)d->w)))
        return fail(s, "cudnnSetTensor4dDescriptor(x)", err, len);
    if ((s = p_cudnnSetTensor4dDescriptor(ds->y, fmt, dt, (int)d->n, (int)d->k, (int)op->p,
                                          (int)op->q)))
        return fail(s, "cudnnSetTensor4dDescriptor(y)", err, len);
    if ((s = p_cudnnSetTensor4dDescriptor(ds->b, CUDNN_TENSOR_NCHW, dt, 1, (int)d->k, 1, 1)))
        return fail(s, "cudnnSetTensor4dDescriptor(bias)", err, len);
    if ((s = p_cudnnSetFilter4dDescriptor(ds->w, dt, fmt, (int)d->k, (int)(d->c / d->groups),
                                          (int)d->r, (int)d->s)))
        return fail(s, "cudnnSetFilter4dDescriptor", err, len);
    if ((s = p_cudnnSetConvolution2dDescriptor(
             ds->conv, (int)d->pad_h, (int)d->pad_w, (int)d->stride_h, (int)d->stride_w,
             (int)d->dil_h, (int)d->dil_w, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT)))
        return fail(s, "cudnnSetConvolution2dDescriptor", err, len);
    if ((s = p_cudnnSetConvolutionGroupCount(ds->conv, (int)d->groups)))
        return fail(s, "cudnnSetConvolutionGroupCount", err, len);
    int math = d->dtype == SC_DTYPE_F32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH;
    if ((s = p_cudnnSetConvolutionMathType(ds->conv, math)))
        return fail(s, "cudnnSetConvolutionMathType", err, len);
    return 0;
}

static bool nondeterministic(sc_direction dir, int algo)
{
    if (dir == SC_DIR_BACKWARD_DATA) return algo == 0;
    if (dir == SC_DIR_BACKWARD_WEIGHT) return algo == 0 || algo == 3;
    return false;
}

static int ws_of(handle_t *hd, const sc_vendor_op *op, descs_t *ds, int algo, size_t *bytes)
{
    switch (op->dir) {
    case SC_DIR_FORWARD:
        return p_cudnnGetConvolutionForwardWorkspaceSize(hd->h, ds->x, ds->w, ds->conv, ds->y, algo,
                                                         bytes);
    case SC_DIR_BACKWARD_DATA:
        return p_cudnnGetConvolutionBackwardDataWorkspaceSize(hd->h, ds->w, ds->y, ds->conv, ds->x,
                                                              algo, bytes);
    default:
        return p_cudnnGetConvolutionBackwardFilterWorkspaceSize(hd->h, ds->x, ds->y, ds->conv,
                                                                ds->w, algo, bytes);
    }
}

static int cudnn_plan(void *h, const sc_vendor_op *op, int *algo_id, size_t *ws_bytes, char *err,
                      size_t len)
{
    handle_t *hd = h;
    descs_t ds;
    int rc = descs_make(op, &ds, err, len);
    perf_t perf[16];
    int n = 0;
    cudnnStatus_t s = 0;
    if (!rc) {
        switch (op->dir) {
        case SC_DIR_FORWARD:
            s = p_cudnnGetConvolutionForwardAlgorithm_v7(hd->h, ds.x, ds.w, ds.conv, ds.y, 16, &n,
                                                         perf);
            break;
        case SC_DIR_BACKWARD_DATA:
            s = p_cudnnGetConvolutionBackwardDataAlgorithm_v7(hd->h, ds.w, ds.y, ds.conv, ds.x, 16,
                                                              &n, perf);
            break;
        case SC_DIR_BACKWARD_WEIGHT:
            s = p_cudnnGetConvolutionBackwardFilterAlgorithm_v7(hd->h, ds.x, ds.y, ds.conv, ds.w,
                                                                16, &n, perf);
            break;
        default: snprintf(err, len, "direction %d is not a convolution", (int)op->dir); rc = 1;
        }
        if (!rc && s) rc = fail(s, "cudnnGetConvolution*Algorithm_v7", err, len);
    }
    if (!rc) {
        rc = 1;
        snprintf(err, len, "no cuDNN algorithm applies within %zu bytes of workspace%s",
                 op->ws_limit, op->deterministic ? " (deterministic only)" : "");
        for (int i = 0; i < n; i++) {
            if (perf[i].status) continue;
            if (op->deterministic && (perf[i].determinism != CUDNN_DETERMINISTIC ||
                                      nondeterministic(op->dir, perf[i].algo)))
                continue;
            size_t ws = 0;
            if (ws_of(hd, op, &ds, perf[i].algo, &ws) || ws > op->ws_limit) continue;
            *algo_id = perf[i].algo, *ws_bytes = ws;
            rc = 0;
            break;
        }
    }
    descs_free(&ds);
    return rc;
}

static int cudnn_run(void *h, const sc_vendor_op *op, int algo, char *err, size_t len)
{
    handle_t *hd = h;
    descs_t ds;
    int rc = descs_make(op, &ds, err, len);
    const float one = 1.0f, zero = 0.0f;
    cudnnStatus_t s = 0;
    if (!rc && (s = p_cudnnSetStream(hd->h, op->stream))) rc = fail(s, "cudnnSetStream", err, len);
    if (!rc) {
        switch (op->dir) {
        case SC_DIR_FORWARD:
            if ((s = p_cudnnConvolutionForward(hd->h, &one, ds.x, op->a, ds.w, op->b, ds.conv, algo,
                                               op->ws, op->ws_size, &zero, ds.y, op->out)))
                rc = fail(s, "cudnnConvolutionForward", err, len);
            else if (op->c && (s = p_cudnnAddTensor(hd->h, &one, ds.b, op->c, &one, ds.y, op->out)))
                rc = fail(s, "cudnnAddTensor", err, len);
            break;
        case SC_DIR_BACKWARD_DATA:
            if ((s = p_cudnnConvolutionBackwardData(hd->h, &one, ds.w, op->b, ds.y, op->a, ds.conv,
                                                    algo, op->ws, op->ws_size, &zero, ds.x,
                                                    op->out)))
                rc = fail(s, "cudnnConvolutionBackwardData", err, len);
            break;
        case SC_DIR_BACKWARD_WEIGHT:
            if ((s = p_cudnnConvolutionBackwardFilter(hd->h, &one, ds.x, op->a, ds.y, op->b,
                                                      ds.conv, algo, op->ws, op->ws_size, &zero,
                                                      ds.w, op->out)))
                rc = fail(s, "cudnnConvolutionBackwardFilter", err, len);
            else if (op->out2 && (s = p_cudnnConvolutionBackwardBias(hd->h, &one, ds.y, op->b,
                                                                     &zero, ds.b, op->out2)))
                rc = fail(s, "cudnnConvolutionBackwardBias", err, len);
            break;
        default: snprintf(err, len, "direction %d is not a convolution", (int)op->dir); rc = 1;
        }
    }
    descs_free(&ds);
    return rc;
}

static const sc_vendor_adapter adapter = {
    .abi = SC_VENDOR_ABI,
    .name = "cudnn",
    .memory = SC_VENDOR_MEM_DEVICE,
    .algo = SC_ALGO_VENDOR_CUDNN,
    .load = cudnn_load,
    .version = cudnn_version,
    .library = cudnn_library,
    .create = cudnn_create,
    .destroy = cudnn_destroy,
    .plan = cudnn_plan,
    .run = cudnn_run,
};

const sc_vendor_adapter *sc__vendor_cudnn(void) { return &adapter; }
