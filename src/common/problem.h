/* problem.h - the vocabulary every layer below the public header shares: the validated problem,
 * the plan a backend runs, and one call's operands. Included by core, cpu and gpu alike (it
 * includes nothing of theirs), so dependencies run one way: core -> backends -> common. */
#ifndef SC_COMMON_PROBLEM_H
#define SC_COMMON_PROBLEM_H

#include "common/error.h"
#include "safeconv.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A validated descriptor with everything derived that every backend needs.
 * Sizes are int64_t; every product below was checked for overflow by sc__problem_init. */
typedef struct sc_problem {
    sc_conv2d_desc d;
    int64_t p, q;     /* output height, width */
    int64_t cg, kg;   /* channels per group: C/groups, K/groups */
    int64_t x_elems;  /* N*C*H*W */
    int64_t w_elems;  /* K*Cg*R*S */
    int64_t y_elems;  /* N*K*P*Q */
    size_t elem_size; /* bytes of one element of dtype */
} sc_problem;

/* Validate `d` and fill `pb` (may be NULL). BAD_PARAM with a message naming the field. */
sc_status sc__problem_init(const sc_conv2d_desc *d, sc_problem *pb);

/* Checked arithmetic on non-negative 64-bit sizes: false on overflow. */
static inline bool sc__mul_ok(int64_t a, int64_t b, int64_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

/* A kernel plan: the kernel family that selection chose for one problem and direction, with the
 * family's own choices, exactly as the call runs it. The workspace query reports ws_bytes of
 * this same plan, so the query and the call agree by construction (XNNPACK's reshape/run, a
 * oneDNN primitive descriptor). Fields a family does not use are 0 (cfg -1). */
typedef struct sc_kplan {
    sc_algo algo;    /* the family (SC_ALGO_*) */
    int cfg;         /* the family's named tile configuration, -1 where it has none */
    int splits;      /* reduction splits; 1 = none */
    int lm;          /* GEMM: epilogue lanes along M (coalesced NCHW outputs) */
    int gather;      /* GEMM: the family's operand-gather variant (0 = the plain one) */
    int serial;      /* GEMM backward-weight: splits add into dw in order, no slices */
    int tf32;        /* matrix units: fp32 operands rounded to TF32 */
    int bias_slices; /* GPU bias gradient (backward-bias, backward-weight's dbias): row slices,
                      * 1 = one pass with no workspace */
    size_t ws_bytes; /* workspace bytes the plan needs in the context's memory space */
} sc_kplan;

/* Operand roles shared by every backend, per direction:
 *   forward:          a = x,  b = w,  c = bias (may be NULL), out = y
 *   backward-data:    a = dy, b = w,                          out = dx
 *   backward-weight:  a = x,  b = dy,                         out = dw, out2 = dbias (may be NULL)
 *   backward-bias:    a = dy,                                 out = dbias
 */
typedef struct sc_call {
    const sc_problem *pb;
    sc_direction dir;
    sc_algo algo;
    const sc_kplan *plan; /* GPU kernels: the plan to run (plan->algo == algo) */
    const void *a, *b, *c;
    void *out, *out2;
    void *ws;
    size_t ws_size;
    void *stream;    /* GPU only */
    int num_threads; /* CPU only; 0 = all */
} sc_call;

/* Element counts of the operands a, b, c, out, out2 of `dir` (sc_call's roles; 0 = unused). */
static inline void sc__operand_elems(const sc_problem *pb, sc_direction dir, int64_t n[5])
{
    int64_t K = pb->d.k;
    for (int i = 0; i < 5; i++) n[i] = 0;
    switch (dir) {
    case SC_DIR_FORWARD:
        n[0] = pb->x_elems, n[1] = pb->w_elems, n[2] = K, n[3] = pb->y_elems;
        break;
    case SC_DIR_BACKWARD_DATA: n[0] = pb->y_elems, n[1] = pb->w_elems, n[3] = pb->x_elems; break;
    case SC_DIR_BACKWARD_WEIGHT:
        n[0] = pb->x_elems, n[1] = pb->y_elems, n[3] = pb->w_elems, n[4] = K;
        break;
    case SC_DIR_BACKWARD_BIAS: n[0] = pb->y_elems, n[3] = K; break;
    }
}

#ifdef __cplusplus
}
#endif

#endif /* SC_COMMON_PROBLEM_H */
