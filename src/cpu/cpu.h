/* cpu.h - the CPU backend as the core sees it: host pointers, synchronous; fp32 algorithms,
 * fp16/bf16 through fp32 copies. */
#ifndef SC_CPU_H
#define SC_CPU_H

#include "common/problem.h"

/* The CPU algorithms, for the core's routing. */
static inline bool sc_cpu_is_algo(sc_algo a)
{
    return a == SC_ALGO_CPU_REFERENCE || a == SC_ALGO_CPU_IM2COL_GEMM || a == SC_ALGO_CPU_DIRECT ||
           a == SC_ALGO_CPU_ONEDNN;
}

/* Choose a CPU algorithm (or check the requested one applies) and the scratch it needs within
 * `limit` bytes, for calls with `num_threads` threads (the context's option: 0 = default).
 * fp16/bf16 problems run the fp32 algorithm on widened copies (cpu_widen.c). */
sc_status sc_cpu_select(const sc_problem *pb, sc_direction dir, sc_algo want, size_t limit,
                        int num_threads, sc_algo *algo, size_t *ws_bytes);
sc_status sc_cpu_run(const sc_call *call);
/* Backward-data, then backward-weight of the same problem and dy (sc_conv2d_backward), their
 * workspaces disjoint: as sc_cpu_run of each, with dy reordered once where both run on oneDNN
 * and take it in the same layout. */
sc_status sc_cpu_run_backward(const sc_call *bd, const sc_call *bw);

/* The algorithms (cpu_reference.c, cpu_gemm.c, cpu_direct.c). Operand roles as in sc_call. */
sc_status sc_cpu_reference_run(const sc_call *call);
sc_status sc_cpu_gemm_run(const sc_call *call);
size_t sc_cpu_gemm_workspace(const sc_problem *pb, sc_direction dir, size_t limit);
sc_status sc_cpu_direct_run(const sc_call *call);

/* The oneDNN route (src/cpu/onednn/ when the build found oneDNN, else cpu_onednn_none.c).
 * plan: whether oneDNN serves this problem and direction with num_threads threads within
 * `limit` bytes of workspace, and how many it needs; *reference: only with oneDNN's reference
 * loops (correct, slow: never chosen by auto selection). */
bool sc_cpu_onednn_built(void);
sc_status sc_cpu_onednn_plan(const sc_problem *pb, sc_direction dir, int num_threads, size_t limit,
                             size_t *ws_bytes, bool *reference);
sc_status sc_cpu_onednn_run(const sc_call *call);
sc_status sc_cpu_onednn_run_backward(const sc_call *bd, const sc_call *bw);
/* Drop every cached oneDNN primitive (tests: the next call creates them again). */
void sc_cpu_onednn_cache_clear(void);

/* fp16/bf16 (cpu_widen.c): the fp32 form of a problem, and a call run on fp32 copies of its
 * operands with the outputs rounded back. */
void sc_cpu_problem_f32(const sc_problem *pb, sc_problem *out);
sc_status sc_cpu_run_widened(const sc_call *call);

/* Bias gradient, summed in double in a fixed order (cpu_bias.c; every CPU algorithm calls it). */
void sc_cpu_bias_grad(const sc_problem *pb, const float *dy, float *dbias);

#endif
