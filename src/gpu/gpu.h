/* gpu.h - the GPU backend as the core sees it. Implemented by the CUDA/HIP sources in this
 * folder (compiled with nvcc or hipcc), or by gpu_none.c in a build with neither, where every
 * function reports no device. All functions are C-callable (extern "C" in the .cu files).
 *
 * Pointers in sc_call are device pointers; work is queued on call->stream (a cudaStream_t or
 * hipStream_t; NULL = legacy default stream) and is not waited for. */
#ifndef SC_GPU_H
#define SC_GPU_H

#include "common/problem.h"

#ifdef __cplusplus
extern "C" {
#endif

/* SC_BACKEND_CUDA, SC_BACKEND_HIP, or 0 when no GPU backend is compiled in. */
unsigned sc_gpu_backend(void);

/* Usable devices; 0 when the runtime or driver is missing. Never fails. */
int sc_gpu_device_count(void);
sc_status sc_gpu_device_info(int device, sc_device_info *info);

/* Make `device` current for the calling thread. */
sc_status sc_gpu_set_device(int device);

sc_status sc_gpu_malloc(void **ptr, size_t bytes);
void sc_gpu_free(void *ptr);

/* Synchronous copies on `stream` (waits for them). kind: 0 host->device, 1 device->host. */
sc_status sc_gpu_copy(void *dst, const void *src, size_t bytes, int kind, void *stream);
sc_status sc_gpu_sync(void *stream);

/* Choose the algorithm and its workspace for a problem. A requested algo (call->algo != NONE
 * in `want`) is honoured if it applies, else UNSUPPORTED. No timing, no allocation: host cost
 * well under a millisecond. */
sc_status sc_gpu_select(const sc_problem *pb, sc_direction dir, sc_algo want, sc_algo *algo,
                        size_t *ws_bytes);

/* sc_gpu_select with the context's workspace limit (sc_gpu_select assumes the 16 MiB default):
 * the GEMM's reduction split is sized to fit `ws_limit`. Added for the GPU backend; the core
 * may call this instead of sc_gpu_select. */
sc_status sc_gpu_select_limit(const sc_problem *pb, sc_direction dir, sc_algo want, size_t ws_limit,
                              sc_algo *algo, size_t *ws_bytes);

/* Run call->algo (already selected). Checks the launch; does not synchronize. */
sc_status sc_gpu_run(const sc_call *call);

/* Tuning (sc_conv2d_tune, src/core/tune.c): the implicit GEMM's plan variants for a problem.
 * A plan is a tile configuration, a reduction split, an epilogue layout and the choice of
 * gathers (cc); its workspace is ws_bytes. */
typedef struct sc_gpu_plan {
    int cfg, splits, lm, cc, serial;
    size_t ws_bytes;
} sc_gpu_plan;

/* Up to `max` plans within ws_limit, the heuristic's own choice first, then the next best by
 * its model. 0 when the problem does not run on the implicit GEMM. */
int sc_gpu_tune_candidates(const sc_problem *pb, sc_direction dir, size_t ws_limit,
                           sc_gpu_plan *plans, int max);
/* Run the implicit GEMM of call (call->algo must be it) with `plan`. */
sc_status sc_gpu_run_plan(const sc_call *call, const sc_gpu_plan *plan);
/* Make `plan` the one later calls of this problem use (in memory, this process, this GPU's
 * SM count), as long as its workspace fits the limit they have. */
void sc_gpu_remember_plan(const sc_problem *pb, sc_direction dir, const sc_gpu_plan *plan);

#ifdef __cplusplus
}
#endif

#endif /* SC_GPU_H */
