/* gpu.h - the GPU backend as the core sees it. The runtime half (devices, memory, copies,
 * launching a plan) is the CUDA/HIP source in this folder, compiled by nvcc or hipcc, or
 * gpu_none.c in a build with neither, where there are no devices. The planning half
 * (select.c, the fam_*.c families, gemm_plan.c) is plain C in every build.
 *
 * Pointers in sc_call are device pointers; work is queued on call->stream (a cudaStream_t or
 * hipStream_t; NULL = legacy default stream) and is not waited for. */
#ifndef SC_GPU_H
#define SC_GPU_H

#include "common/problem.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sc_gpu_dev; /* family.h */

/* ---- runtime (backend.cu / gpu_none.c) ---- */

/* SC_BACKEND_CUDA, SC_BACKEND_HIP, or 0 when no GPU backend is compiled in. */
unsigned sc_gpu_backend(void);

/* Usable devices; 0 when the runtime or driver is missing. Never fails. */
int sc_gpu_device_count(void);
sc_status sc_gpu_device_info(int device, sc_device_info *info);

/* Make `device` current for the calling thread. */
sc_status sc_gpu_set_device(int device);

/* What planning needs of the current device (SM count, architecture; cached per device). */
sc_status sc_gpu_current_device(struct sc_gpu_dev *dev);

sc_status sc_gpu_malloc(void **ptr, size_t bytes);
void sc_gpu_free(void *ptr);

/* Synchronous copies on `stream` (waits for them). kind: 0 host->device, 1 device->host. */
sc_status sc_gpu_copy(void *dst, const void *src, size_t bytes, int kind, void *stream);
sc_status sc_gpu_sync(void *stream);

/* Run call->plan, exactly (chosen by sc_gpu_plan, or a tuning candidate); call->ws holds at
 * least plan->ws_bytes. Checks the launch; does not synchronize. */
sc_status sc_gpu_run(const sc_call *call);

/* ---- planning (select.c) ---- */

/* The plan a call of (pb, dir) runs on the current device: family `want` (SC_ALGO_NONE: the
 * default selection), fp32 math mode, the context's workspace limit, and the alignment in
 * bytes of the call's tensor pointers (16 = at least 16; the size query assumes 16). No
 * timing, no allocation: host cost in microseconds. UNSUPPORTED (message naming the field)
 * when the problem or the requested family cannot run here. */
sc_status sc_gpu_plan(const sc_problem *pb, sc_direction dir, sc_algo want, sc_math_mode math,
                      size_t ws_limit, int align, sc_kplan *plan);

/* Tuning (sc_conv2d_tune): up to `max` plan variants of the default family within ws_limit,
 * the default plan first; 0 when that family has no variants. */
int sc_gpu_tune_candidates(const sc_problem *pb, sc_direction dir, sc_math_mode math,
                           size_t ws_limit, sc_kplan *plans, int max);
/* Make `plan` the one later plans of this problem use (in memory, this process, devices of
 * this SM count), where its workspace fits their limit. */
void sc_gpu_remember_plan(const sc_problem *pb, sc_direction dir, const sc_kplan *plan);
/* Changes whenever a remembered plan changes: caches of plans compare it. */
unsigned sc_gpu_plan_generation(void);

#ifdef __cplusplus
}
#endif

#endif /* SC_GPU_H */
