/* gemm_plan.h - the FMA implicit GEMM family's planner (gemm_plan.c, plain C): the time model
 * that picks a tile configuration, reduction split, gather variant and split kind for a
 * problem, the workspace a plan needs, and the plans tuning measured faster. */
#ifndef SC_GPU_GEMM_PLAN_H
#define SC_GPU_GEMM_PLAN_H

#include "common/problem.h"
#include "gpu/kparams.h"

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The reduction step of every GEMM kernel (a multiple of it per split). */
#define SC_GEMM_BK 8

/* The plan the model (or an earlier tuning) picks within ws_limit: algo, cfg, splits, lm,
 * gather, serial and ws_bytes of *out. sm_count and hip describe the device. */
void sc_gemm_choose(const sc_kp *kp, sc_direction dir, int sm_count, bool hip, size_t ws_limit,
                    sc_kplan *out);

/* Tuning: the model's best `max` plans within ws_limit, best first (the first is what
 * sc_gemm_choose picks when nothing was tuned). Returns how many. */
int sc_gemm_candidates(const sc_kp *kp, sc_direction dir, int sm_count, bool hip, size_t ws_limit,
                       sc_kplan *out, int max);

/* Remember a measured winner for later plans of this problem on devices of sm_count SMs (in
 * memory, this process). Bumps sc_gemm_tuned_generation(). */
void sc_gemm_remember(const sc_kp *kp, sc_direction dir, int sm_count, const sc_kplan *pl);

/* Changes whenever a tuned plan is remembered: plan caches keyed on it stay coherent. */
unsigned sc_gemm_tuned_generation(void);

/* Workspace bytes of a plan (the weight copy of a channel-chunked plan, split slices or the
 * serial splits' counters). */
size_t sc_gemm_ws_bytes(const sc_kp *kp, sc_direction dir, const sc_kplan *pl);

/* Where the channel-chunked gathers can run, and the bytes of their (k,r,s,c) weight copy at
 * the start of the workspace (256-byte aligned so the split slices after it stay aligned). */
bool sc_gemm_cc_applies(const sc_kp *kp, sc_direction dir);
size_t sc_gemm_cc_wt_bytes(const sc_kp *kp);

#ifdef __cplusplus
}
#endif

#endif /* SC_GPU_GEMM_PLAN_H */
