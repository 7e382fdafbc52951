/*
 * safeconv.h - the one public C API of safeconv.
 *
 * safeconv computes 2D convolution forward, backward-data, backward-weight and the bias
 * gradient with its own kernels (CPU, and GPU through CUDA or HIP from one source), with no
 * just-in-time compilation and no link-time dependency on cuDNN or MIOpen.
 *
 * Life cycle (XNNPACK-style opaque handle):
 *
 *     sc_context_options opt;
 *     sc_context_options_init(&opt);          // CPU, strategy auto, 64 MiB workspace limit
 *     sc_context *ctx;
 *     if (sc_context_create(&opt, &ctx) != SC_STATUS_OK) puts(sc_last_error());
 *     sc_conv2d_desc d;
 *     sc_conv2d_desc_init(&d);                // stride 1, dilation 1, groups 1, fp32, NCHW
 *     d.n = 1; d.c = 3; d.h = 224; d.w = 224; d.k = 64; d.r = 3; d.s = 3; d.pad_h = d.pad_w = 1;
 *     sc_conv2d_forward(ctx, &d, x, w, bias, y, NULL, 0);
 *     sc_context_destroy(ctx);
 *
 * Tensor layouts (dense, no strides; every element count below is 64-bit):
 *
 *   layout       x (input)      w (weight)          y (output)     bias
 *   SC_NCHW      N, C, H, W     K, C/groups, R, S   N, K, P, Q     K
 *   SC_NHWC      N, H, W, C     K, R, S, C/groups   N, P, Q, K     K
 *
 *   P = (H + 2*pad_h - dil_h*(R-1) - 1) / stride_h + 1, Q likewise with W, pad_w, dil_w, S.
 *   The weight layouts are PyTorch's (contiguous, and channels_last) so tensors pass unchanged.
 *   Output channel k belongs to group k / (K/groups) and reads input channels
 *   [g*C/groups, (g+1)*C/groups).
 *
 * Memory spaces: a context created for SC_DEVICE_CPU takes host pointers; a context created for
 * GPU ordinal d >= 0 takes device pointers of that GPU, and runs on the context's stream
 * (asynchronously: a call returns once the work is queued). A call on a GPU context makes that
 * GPU current for the calling thread (cudaSetDevice / hipSetDevice) and leaves it so.
 * Changing a context's stream waits for work still queued on the old one.
 *
 * Errors: every function that can fail returns sc_status. On failure, sc_last_error() returns a
 * message for the calling thread naming the offending field and why, e.g.
 * "desc.groups: 3 does not divide C=64". Nothing the caller owns is modified by a call that fails
 * validation.
 *
 * Thread safety: global functions (version, device queries, status strings, validation) are
 * thread-safe. A context may be used by one thread at a time; distinct contexts are
 * independent and may be used concurrently.
 */
#ifndef SAFECONV_H
#define SAFECONV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define SC_API __declspec(dllexport)
#else
#define SC_API __attribute__((visibility("default")))
#endif

#define SC_VERSION_MAJOR 0
#define SC_VERSION_MINOR 1
#define SC_VERSION_PATCH 0

/* ---------------------------------------------------------------------------------------------
 * Status codes. Numbers are stable: append only.
 * ------------------------------------------------------------------------------------------ */
typedef enum sc_status {
    SC_STATUS_OK = 0,
    SC_STATUS_BAD_PARAM = 1,     /* caller error: a field is invalid (message names it) */
    SC_STATUS_UNSUPPORTED = 2,   /* valid request that this build or backend cannot do */
    SC_STATUS_OUT_OF_MEMORY = 3, /* host or device allocation failed, or over the limit */
    SC_STATUS_DEVICE_ERROR = 4,  /* the GPU runtime reported an error */
    SC_STATUS_VENDOR_FAILED = 5, /* the vendor library (cuDNN/MIOpen) failed or is unusable */
    SC_STATUS_NOT_AVAILABLE = 6, /* the requested device or backend is not present */
    SC_STATUS_INTERNAL = 7,      /* a bug in safeconv: please report it */
    SC_STATUS_CACHE_ERROR = 8    /* the selection cache could not be used */
} sc_status;

/* A static English name for a status ("bad parameter", ...). Never NULL. */
SC_API const char *sc_status_string(sc_status status);

/* The calling thread's message for its last failed call (empty string if none). The pointer
 * stays valid until the next safeconv call on this thread. */
SC_API const char *sc_last_error(void);

/* "0.1.0"; and the number 10000*major + 100*minor + patch. */
SC_API const char *sc_version_string(void);
SC_API int sc_version(void);

/* ---------------------------------------------------------------------------------------------
 * Enumerations. Zero is the default for each so that a zeroed struct means fp32 NCHW auto.
 * ------------------------------------------------------------------------------------------ */
typedef enum sc_dtype {
    SC_DTYPE_F32 = 0,
    SC_DTYPE_F16 = 1, /* fp16 storage, fp32 accumulation, results rounded to nearest even */
    SC_DTYPE_BF16 = 2 /* bf16 storage, fp32 accumulation, results rounded to nearest even */
} sc_dtype;

typedef enum sc_layout {
    SC_NCHW = 0,
    SC_NHWC = 1
} sc_layout;

typedef enum sc_direction {
    SC_DIR_FORWARD = 0,
    SC_DIR_BACKWARD_DATA = 1,
    SC_DIR_BACKWARD_WEIGHT = 2,
    SC_DIR_BACKWARD_BIAS = 3
} sc_direction;

/* Which implementation runs (docs/architecture.md, "Strategies"). */
typedef enum sc_strategy {
    SC_STRATEGY_AUTO = 0,      /* vendor only where probed safe+faster, else safeconv GPU */
    SC_STRATEGY_GPU = 1,       /* safeconv GPU kernels only (alias "gpu_unfold") */
    SC_STRATEGY_VENDOR = 2,    /* vendor library always (alias "implicit_gemm") */
    SC_STRATEGY_SELECTIVE = 3, /* vendor for spatial size <= threshold, safeconv above */
    SC_STRATEGY_CPU = 4        /* CPU compute with copies (alias "cpu_fallback") */
} sc_strategy;

/* Parse "auto", "gpu", "gpu_unfold", "vendor", "implicit_gemm", "selective", "cpu",
 * "cpu_fallback" (case-sensitive). BAD_PARAM for anything else. */
SC_API sc_status sc_strategy_from_name(const char *name, sc_strategy *out);
SC_API const char *sc_strategy_name(sc_strategy s);

/* Algorithm ids. Append-only: a number is never reused or renumbered, because ids are stored in
 * selection caches that outlive a release. */
typedef enum sc_algo {
    SC_ALGO_NONE = 0,                 /* let the library choose */
    SC_ALGO_CPU_REFERENCE = 1,        /* direct loops accumulating in double: the test oracle */
    SC_ALGO_CPU_IM2COL_GEMM = 2,      /* chunked im2col + BLAS sgemm */
    SC_ALGO_CPU_DIRECT = 3,           /* direct loops in float (depthwise, tiny GEMMs) */
    SC_ALGO_GPU_IMPLICIT_GEMM = 4,    /* tiled implicit GEMM on the FMA units */
    SC_ALGO_GPU_DIRECT_DEPTHWISE = 5, /* one thread per output, channel-wise filters */
    SC_ALGO_GPU_DIRECT_SMALL_C = 6,   /* direct kernel for stems with very few input channels */
    SC_ALGO_GPU_NAIVE = 7,            /* simple direct GPU kernel: a fallback that always applies */
    SC_ALGO_VENDOR_CUDNN = 8,
    SC_ALGO_VENDOR_MIOPEN = 9,
    SC_ALGO_VENDOR_PLUGIN = 10,         /* a vendor adapter loaded from $SAFECONV_VENDOR_LIBRARY
                                           (the fault-injection vendor of the tests) */
    SC_ALGO_GPU_IMPLICIT_GEMM_MMA = 11, /* tiled implicit GEMM on the matrix units (NVIDIA tensor
                                           cores, sm_80+): fp16/bf16, and fp32 as TF32 when the
                                           context's math mode allows it; fp32 accumulation */
    SC_ALGO_CPU_ONEDNN = 12,  /* oneDNN's CPU convolution primitives (builds with oneDNN) */
    SC_ALGO_GPU_WINOGRAD = 13 /* Winograd F(2x2,3x3) on the FMA units: fp32 3x3 stride-1
                                 forward and backward-data (docs/gpu.md) */
} sc_algo;
#define SC_ALGO_LAST SC_ALGO_GPU_WINOGRAD /* highest id in this version */

SC_API const char *sc_algo_name(sc_algo a);

/* ---------------------------------------------------------------------------------------------
 * Convolution descriptor: a plain struct. Initialise with sc_conv2d_desc_init, then set sizes.
 * ------------------------------------------------------------------------------------------ */
typedef struct sc_conv2d_desc {
    int64_t n, c, h, w;         /* input batch, channels, height, width: all >= 1 */
    int64_t k, r, s;            /* output channels, filter height (R) and width (S): >= 1 */
    int64_t pad_h, pad_w;       /* zero padding added on both sides of H and of W: >= 0 */
    int64_t stride_h, stride_w; /* >= 1 */
    int64_t dil_h, dil_w;       /* filter dilation: >= 1 */
    int64_t groups;             /* >= 1, divides c and k; groups == c == k is depthwise */
    sc_dtype dtype;
    sc_layout layout;
} sc_conv2d_desc;

/* Zero sizes, padding 0, stride 1, dilation 1, groups 1, fp32, NCHW. */
SC_API void sc_conv2d_desc_init(sc_conv2d_desc *d);

/* Validate a descriptor (overflow-safe): BAD_PARAM with a message naming the field for any
 * combination that has no valid output, OK otherwise. */
SC_API sc_status sc_conv2d_validate(const sc_conv2d_desc *d);

/* Output height P and width Q of a valid descriptor. Either pointer may be NULL. */
SC_API sc_status sc_conv2d_output_size(const sc_conv2d_desc *d, int64_t *p, int64_t *q);

/* Element counts of x, w and y (any pointer may be NULL). */
SC_API sc_status sc_conv2d_tensor_elems(const sc_conv2d_desc *d, int64_t *x_elems, int64_t *w_elems,
                                        int64_t *y_elems);

/* Multiply-add count times two of one direction (bias gradient: N*P*Q*K). */
SC_API double sc_conv2d_flops(const sc_conv2d_desc *d, sc_direction dir);

/* ---------------------------------------------------------------------------------------------
 * Devices and backends.
 * ------------------------------------------------------------------------------------------ */
#define SC_DEVICE_CPU (-1)

typedef enum sc_backend {
    SC_BACKEND_CPU = 1,
    SC_BACKEND_CUDA = 2,
    SC_BACKEND_HIP = 4
} sc_backend;

/* Bit mask of sc_backend values compiled into this library. */
SC_API unsigned sc_backends_compiled(void);

typedef struct sc_device_info {
    int index;             /* GPU ordinal; -1 for the CPU */
    sc_backend backend;    /* SC_BACKEND_CPU, _CUDA or _HIP */
    char name[256];        /* "NVIDIA H100 80GB HBM3", "AMD Radeon RX 5600 XT", CPU model */
    char arch[64];         /* "sm_90", "gfx1010", "x86_64" */
    int multiprocessors;   /* SMs / CUs; CPU: logical cores */
    int warp_size;         /* 32 or 64; CPU: 1 */
    uint64_t total_memory; /* bytes */
    int driver_version;    /* as the runtime reports it; 0 if unknown */
    int runtime_version;
} sc_device_info;

/* Number of usable GPUs (0 on a machine without one, or a build without GPU support). */
SC_API int sc_device_count(void);

/* Describe GPU `device` (0 .. count-1) or the CPU (SC_DEVICE_CPU). */
SC_API sc_status sc_device_get_info(int device, sc_device_info *info);

/* ---------------------------------------------------------------------------------------------
 * Context.
 * ------------------------------------------------------------------------------------------ */
typedef struct sc_context sc_context;

/* How fp32 tensors are multiplied (numbers stable). fp16/bf16 tensors are always multiplied in
 * their own precision with fp32 accumulation, whatever the mode.
 *   SC_MATH_EXACT: fp32 products and fp32 sums (the default). Error bound: about
 *                  u32 * length relative (u32 = 2^-24).
 *   SC_MATH_TF32:  fp32 inputs may be rounded to TF32 (10-bit mantissa, fp32 range) and
 *                  multiplied on matrix units with fp32 sums, where the GPU has them (NVIDIA
 *                  sm_80+); elsewhere the call computes exact fp32. Error bound: about
 *                  2 * 2^-11 relative per product plus the fp32 sum's. What PyTorch does
 *                  when torch.backends.cudnn.allow_tf32 is True (its default). */
typedef enum sc_math_mode {
    SC_MATH_EXACT = 0,
    SC_MATH_TF32 = 1
} sc_math_mode;

typedef struct sc_context_options {
    int device;             /* SC_DEVICE_CPU or a GPU ordinal. Default: CPU */
    void *stream;           /* cudaStream_t / hipStream_t; NULL = legacy default stream */
    sc_strategy strategy;   /* default SC_STRATEGY_AUTO */
    int deterministic;      /* 1 (default): only bit-reproducible algorithms */
    int allow_cpu;          /* 1: a GPU context may compute on the CPU when no GPU kernel
                               applies. Default 0: such a request is UNSUPPORTED */
    size_t workspace_limit; /* bytes of scratch the library may use; 0 = default
                               (64 MiB on the CPU, 16 MiB on a GPU) */
    int verbosity;          /* 0 silent (default), 1 decisions to stderr, 2 every call */
    int size_threshold;     /* SC_STRATEGY_SELECTIVE: max(H, W) up to which the vendor
                               library is used. Default 42 */
    sc_algo algo;           /* force one algorithm; SC_ALGO_NONE (default) lets it choose */
    int num_threads;        /* CPU threads for the CPU backend; 0 = OpenBLAS's default
                               (all cores). OpenBLAS's count is process-wide: each CPU call
                               sets it to its context's value */
    const char *cache_path; /* selection cache file; NULL = $SAFECONV_CACHE_DIR or XDG;
                               ":memory:" = a private in-memory cache (nothing persists).
                               Copied at create. */
    sc_math_mode math;      /* fp32 math mode (sc_math_mode). Default SC_MATH_EXACT */
} sc_context_options;

SC_API void sc_context_options_init(sc_context_options *opt);

/* Create a context. BAD_PARAM for invalid options, NOT_AVAILABLE for a GPU ordinal that does
 * not exist (or a build without GPU support). */
SC_API sc_status sc_context_create(const sc_context_options *opt, sc_context **out);

/* Release a context and its workspace pool. NULL is allowed. Waits for queued GPU work. */
SC_API void sc_context_destroy(sc_context *ctx);

/* Change the stream later calls run on (GPU contexts). */
SC_API sc_status sc_context_set_stream(sc_context *ctx, void *stream);

/* Change the fp32 math mode of later calls. BAD_PARAM for a mode this header does not name. */
SC_API sc_status sc_context_set_math_mode(sc_context *ctx, sc_math_mode mode);

/* Per-context statistics, accumulated since create. */
typedef struct sc_stats {
    uint64_t calls[4];       /* indexed by sc_direction */
    uint64_t gpu_calls;      /* calls served by safeconv's GPU kernels */
    uint64_t cpu_calls;      /* calls served by the CPU backend */
    uint64_t vendor_calls;   /* calls served by the vendor library */
    uint64_t workspace_peak; /* largest scratch used by one call, bytes */
    sc_algo last_algo;       /* algorithm of the most recent successful call */
} sc_stats;

SC_API sc_status sc_context_get_stats(const sc_context *ctx, sc_stats *out);

/* Wait until all work queued by this context is done (GPU); a no-op on the CPU. */
SC_API sc_status sc_context_synchronize(sc_context *ctx);

/* ---------------------------------------------------------------------------------------------
 * Memory helpers for tools, tests and bindings without a GPU runtime of their own: allocate,
 * free and copy in the memory space of `device` (host memory for SC_DEVICE_CPU; 64-byte
 * aligned). Copies are synchronous. Contexts never require these: any device pointer works.
 * ------------------------------------------------------------------------------------------ */
SC_API sc_status sc_memory_alloc(int device, size_t bytes, void **ptr);
SC_API void sc_memory_free(int device, void *ptr);
/* to_device != 0: host `src` -> `dst` in the device's memory; else device `src` -> host `dst`. */
SC_API sc_status sc_memory_copy(int device, void *dst, const void *src, size_t bytes,
                                int to_device);

/* ---------------------------------------------------------------------------------------------
 * Convolution.
 *
 * Each call overwrites its output (no accumulation). `workspace` may be NULL, in which case the
 * library uses a pool owned by the context (allocated on first need, reused, bounded by
 * workspace_limit). A caller workspace must be at least the size the matching query returns,
 * in the context's memory space. Outputs must not alias inputs.
 * Pointers must be aligned to their element size.
 * ------------------------------------------------------------------------------------------ */

/* y = conv(x, w) + bias. bias may be NULL. */
SC_API sc_status sc_conv2d_forward(sc_context *ctx, const sc_conv2d_desc *d, const void *x,
                                   const void *w, const void *bias, void *y, void *workspace,
                                   size_t workspace_size);

/* dx = the gradient of the loss with respect to x, given dy. */
SC_API sc_status sc_conv2d_backward_data(sc_context *ctx, const sc_conv2d_desc *d, const void *dy,
                                         const void *w, void *dx, void *workspace,
                                         size_t workspace_size);

/* dw = the gradient with respect to w, and if dbias is not NULL also the bias gradient
 * (dbias[k] = sum over n, p, q of dy). Partial sums are reduced in a fixed order:
 * bit-identical results run to run. */
SC_API sc_status sc_conv2d_backward_weight(sc_context *ctx, const sc_conv2d_desc *d, const void *x,
                                           const void *dy, void *dw, void *dbias, void *workspace,
                                           size_t workspace_size);

/* dbias alone. */
SC_API sc_status sc_conv2d_backward_bias(sc_context *ctx, const sc_conv2d_desc *d, const void *dy,
                                         void *dbias);

/* The backward pass of one convolution in one call, for bindings whose every library call costs
 * host time (a training step makes one per layer): dx when dx is not NULL (from dy and w, as
 * sc_conv2d_backward_data), then dw when dw is not NULL (from x and dy, with dbias when that is
 * not NULL, as sc_conv2d_backward_weight), or dbias alone (as sc_conv2d_backward_bias). Each
 * output gets the bits the single-direction call gives it, and statistics count one call per
 * direction run. x may be NULL when dw is, w when dx is; at least one output is required.
 * The directions run one after the other on the context's stream and share the workspace: it
 * must hold the largest size sc_conv2d_workspace_size reports for the directions that run
 * (NULL: the context's pool); on a CPU context a workspace that holds the two sizes added lets
 * the CPU backend keep dy reordered for both directions (docs/cpu.md). algos, if not NULL, is
 * an array of 4 indexed by sc_direction that receives the algorithm of each direction run and
 * SC_ALGO_NONE for the others. Every pointer is checked before anything runs; an error of the
 * second direction leaves dx computed. */
SC_API sc_status sc_conv2d_backward(sc_context *ctx, const sc_conv2d_desc *d, const void *x,
                                    const void *w, const void *dy, void *dx, void *dw, void *dbias,
                                    void *workspace, size_t workspace_size, sc_algo *algos);

/* Scratch bytes the chosen algorithm wants for one direction (0 is a valid answer). */
SC_API sc_status sc_conv2d_workspace_size(sc_context *ctx, const sc_conv2d_desc *d,
                                          sc_direction dir, size_t *bytes);

/* The algorithm a call with these arguments would run, without running it. */
SC_API sc_status sc_conv2d_select(sc_context *ctx, const sc_conv2d_desc *d, sc_direction dir,
                                  sc_algo *algo);

/* Tuning: time the variants (tile shape, reduction split) of the GPU kernel chosen for one
 * direction of `d` on ctx's GPU, with random data in buffers this call allocates, and keep the
 * fastest for later calls of the same problem and direction in this process (in memory; not
 * persisted). A variant whose output differs from the heuristic's by more than 1e-4 (relative
 * L2) or holds NaN is never adopted, and a variant must beat the heuristic's time by 3% to
 * replace it. Synchronous; `repeats` timed runs per variant (0 = 5). Problems whose kernel
 * has no variants (direct kernels) report candidates = 0. UNSUPPORTED on a CPU context. */
typedef struct sc_tune_result {
    int candidates;    /* variants timed */
    int rejected;      /* variants whose output disagreed with the heuristic's */
    int adopted;       /* 1: a measured variant now serves this problem in this process */
    double default_ms; /* median time of the heuristic's variant */
    double best_ms;    /* median time of the variant now in use */
    char plan[64];     /* the variant now in use, e.g. "gemm tile 6 split 2" */
} sc_tune_result;

SC_API sc_status sc_conv2d_tune(sc_context *ctx, const sc_conv2d_desc *d, sc_direction dir,
                                int repeats, sc_tune_result *res);

/* ---------------------------------------------------------------------------------------------
 * Guard and selection cache: the probed vendor route and the SQLite selection cache
 * (docs/guard.md).
 * ------------------------------------------------------------------------------------------ */

/* Version of safeconv's kernel set, part of every selection-cache key: bump it whenever a kernel
 * or the selection among safeconv's own kernels changes, so cached timings are re-measured. */
#define SC_KERNEL_SET_VERSION 6

/* Outcome of probing one shape and direction through the vendor library (numbers stable). */
typedef enum sc_probe_outcome {
    SC_PROBE_SEEN = 0,     /* not probed yet: auto met this shape and remembered it */
    SC_PROBE_OK = 1,       /* ran, result within tolerance of safeconv's */
    SC_PROBE_HANG = 2,     /* the watchdog fired; the child was killed */
    SC_PROBE_CRASH = 3,    /* the child died of a signal (result.signal) */
    SC_PROBE_ERROR = 4,    /* the vendor returned an error status (result.detail) */
    SC_PROBE_WRONG = 5,    /* differs from safeconv beyond tolerance, or NaN/Inf */
    SC_PROBE_SLOW = 6,     /* first call took longer than the slow limit (e.g. kernel compile) */
    SC_PROBE_NO_VENDOR = 7 /* no vendor library usable for this device: nothing to probe */
} sc_probe_outcome;

/* "seen", "ok", "hang", "crash", "error", "wrong", "slow", "no-vendor"; never NULL. */
SC_API const char *sc_probe_outcome_name(sc_probe_outcome o);

/* ---- Selection cache (SQLite, WAL). Location: options path, else $SAFECONV_CACHE_DIR/
 * safeconv.sqlite, else $XDG_CACHE_HOME/safeconv/safeconv.sqlite, else
 * ~/.cache/safeconv/safeconv.sqlite. A file that cannot be used (read-only, locked, corrupt,
 * a directory that cannot be created) degrades to an in-memory cache for the process, with one
 * warning on stderr per process; it never fails the caller. The path ":memory:" (here and in
 * sc_context_options.cache_path) asks for an in-memory cache on purpose: no warning. ---- */
typedef struct sc_cache sc_cache;

/* The environment part of a key: a change in any field means "re-probe". */
typedef struct sc_cache_key {
    char device[128]; /* device name */
    char arch[32];    /* "sm_90", "gfx1010", "x86_64" */
    int multiprocessors;
    int driver_version, runtime_version;
    char vendor[32]; /* "cudnn", "miopen", "fault", ... */
    char vendor_version[64];
    int kernel_set; /* SC_KERNEL_SET_VERSION */
    /* The problem part. */
    sc_direction dir;
    sc_conv2d_desc desc; /* all sizes, padding, stride, dilation, groups, dtype, layout */
    int deterministic;
} sc_cache_key;

typedef struct sc_cache_entry {
    sc_cache_key key;
    sc_probe_outcome outcome;
    int vendor_algo;    /* the vendor's own algorithm number (cudnnConvolutionFwdAlgo_t...) */
    double vendor_ms;   /* median time of one vendor call; 0 if not measured */
    double safeconv_ms; /* median time of safeconv's own kernels, same shape */
    uint64_t workspace; /* vendor workspace bytes */
    char detail[192];   /* signal name, vendor status string, error size, ... */
    double updated;     /* Unix time of the write */
} sc_cache_entry;

/* The path the cache would use for `path` (NULL = default), into buf. BAD_PARAM if buf is too
 * small; CACHE_ERROR if no location can be derived (no HOME). */
SC_API sc_status sc_cache_resolve_path(const char *path, char *buf, size_t size);

/* Open (creating folders and the file as needed). Fails only for OUT_OF_MEMORY / BAD_PARAM;
 * an unusable file gives an in-memory cache (sc_cache_is_persistent() == 0): unreadable,
 * read-only (its rows are copied into memory), corrupt, or hostile (a `selection` that is not
 * the table this library writes: a view, triggers, other columns). Every statement on a cache
 * is bounded: one that runs too long (a hostile file) makes it fall back to memory too. */
SC_API sc_status sc_cache_open(const char *path, sc_cache **out);
SC_API void sc_cache_close(sc_cache *c);
SC_API const char *sc_cache_path(const sc_cache *c);  /* the file path it tried */
SC_API int sc_cache_is_persistent(const sc_cache *c); /* 1 file, 0 in-memory fallback */

/* Insert or replace one row (an SC_PROBE_SEEN row never replaces an existing one). One
 * transaction; returns OK only after it is committed: to the file when the cache is
 * persistent. A write the file refuses (disk full, I/O error, made read-only, locked past the
 * busy timeout) returns CACHE_ERROR and the row is stored nowhere. */
SC_API sc_status sc_cache_put(sc_cache *c, const sc_cache_entry *e);
/* Look a key up: *found = 1 and *out filled, or *found = 0. */
SC_API sc_status sc_cache_get(sc_cache *c, const sc_cache_key *k, sc_cache_entry *out, int *found);
/* Call fn for every row (stops early when fn returns non-zero). */
SC_API sc_status sc_cache_foreach(sc_cache *c, int (*fn)(const sc_cache_entry *e, void *user),
                                  void *user);
/* Delete every row; *removed (may be NULL) gets the count. CACHE_ERROR when the cache was
 * opened for a file that is not in use (it fell back to memory): nothing is removed. */
SC_API sc_status sc_cache_clear(sc_cache *c, int64_t *removed);

/* Fill the environment part of a key for `device` (SC_DEVICE_CPU or a GPU ordinal) with the
 * vendor adapter that this process would use (loads it). The problem part is zeroed. */
SC_API sc_status sc_cache_key_for_device(int device, sc_cache_key *k);

/* ---- Vendor library (cuDNN, MIOpen, or a plugin named by $SAFECONV_VENDOR_LIBRARY). ---- */
typedef struct sc_vendor_info {
    int available;     /* 1 if loaded and usable for the device's memory space */
    char name[32];     /* "cudnn", "miopen", "fault", or "" */
    char version[64];  /* "9.19.0" */
    char library[256]; /* what was dlopen'ed */
    int host_memory;   /* 1: works on host pointers (serves CPU contexts) */
    char message[256]; /* why not available: "not found: libcudnn.so.9: cannot open ..." */
} sc_vendor_info;

SC_API sc_status sc_vendor_get_info(int device, sc_vendor_info *info);

/* ---- Probe: run shapes through the vendor library in child processes under a watchdog and
 * record the outcome and both sides' times in the cache. The child is a fresh `safeconv`
 * executable (found from `helper`, $SAFECONV_TOOL - both must be absolute paths -, this
 * program if it is `safeconv`, a `safeconv` next to this program or next to libsafeconv.so as
 * it was loaded, or ../bin of it); a CPU-only probe without one forks instead. The caller's
 * GPU state is never inherited. A child dies with the thread that started it. ---- */
typedef struct sc_probe_result sc_probe_result;

typedef struct sc_probe_options {
    int device;             /* SC_DEVICE_CPU (default) or a GPU ordinal */
    int deterministic;      /* default 1: deterministic vendor algorithms only */
    double watchdog_s;      /* wall time per child before it is killed: default 120 */
    double slow_s;          /* first vendor call over this is "slow": default 30 */
    double tolerance;       /* max ||vendor - safeconv|| / ||safeconv||; 0 = by dtype
                               (fp32 1e-3, fp16/bf16 2e-2) */
    int repeats;            /* timed calls per side after the first: default 5 */
    int force;              /* 1: probe again even when the cache has an answer */
    const char *cache_path; /* NULL = default location */
    const char *helper;     /* absolute path of the safeconv executable for children; NULL =
                               search; "" = fork without exec (CPU only) */
    int progress;           /* 1: progress on stderr (a bar on a terminal, else lines) */
    void (*on_result)(void *user, int done, int total, const int counts[8],
                      const sc_probe_result *r); /* optional, after each probe */
    void *user;
    uint64_t seed; /* input data seed; 0 = fixed default */
} sc_probe_options;

struct sc_probe_result {
    sc_conv2d_desc desc;
    sc_direction dir;
    sc_probe_outcome outcome;
    int signal;     /* CRASH: the signal number */
    int from_cache; /* 1: answered from the cache, no child started */
    int child_pid;  /* the child's pid (0 when from the cache) */
    int use_vendor; /* what strategy auto will do: ok and vendor faster */
    int vendor_algo;
    double vendor_ms, safeconv_ms;
    double first_call_ms; /* the vendor's first call, including its set-up */
    double rel_error;     /* ||vendor - safeconv|| / ||safeconv|| (WRONG: may be NaN) */
    double elapsed_s;     /* the child's wall time as the parent saw it */
    uint64_t workspace;
    char detail[192];
};

SC_API void sc_probe_options_init(sc_probe_options *opt);

/* Probe one shape and direction (BACKWARD_BIAS is not probed: it returns NO_VENDOR). */
SC_API sc_status sc_probe_shape(const sc_probe_options *opt, const sc_conv2d_desc *d,
                                sc_direction dir, sc_probe_result *res);

/* Probe n shapes for every direction bit set in dir_mask (1 << SC_DIR_FORWARD, ...):
 * results[i * ndirs + j] for shape i and the j-th direction set in the mask, in order.
 * Returns OK even when shapes hang or crash: that is what results say. */
SC_API sc_status sc_probe_suite(const sc_probe_options *opt, const sc_conv2d_desc *descs, size_t n,
                                unsigned dir_mask, sc_probe_result *results);

/* Shapes that strategy auto met and remembered (outcome SEEN) for this device's current key:
 * *descs and *dirs are malloc'ed (free them), *count rows. For `safeconv probe --seen`. */
SC_API sc_status sc_probe_pending(const sc_probe_options *opt, sc_conv2d_desc **descs,
                                  sc_direction **dirs, size_t *count);

/* Async-signal-safe: SIGKILL every probe child this process has running, and whatever each
 * started (its process group). For an application's SIGINT/SIGTERM handler (`safeconv probe`
 * installs one); children die with their parent anyway (PR_SET_PDEATHSIG). */
SC_API void sc_probe_kill_children(void);

/* Internal: the child side of a probe (`safeconv probe --child FD REQUEST`). Returns the exit
 * code. Not for applications. */
SC_API int sc_probe_child_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif /* SAFECONV_H */
