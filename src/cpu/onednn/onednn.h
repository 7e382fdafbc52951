/* onednn.h - the oneDNN route's innards (src/cpu/onednn, built by mk/onednn.mk): a recipe is
 * everything one problem, direction, thread count and layout variant needs to run through
 * oneDNN (primitive, reorders, the workspace layout); the cache keeps recipes, since creating
 * a primitive costs milliseconds. The backend reaches this route only through cpu.h. */
#ifndef SC_CPU_ONEDNN_H
#define SC_CPU_ONEDNN_H

#include "common/problem.h"

#include <oneapi/dnnl/dnnl.h>
#include <stdbool.h>
#include <stddef.h>

/* How the operands meet oneDNN (see docs/cpu.md, "oneDNN route"). */
typedef enum sc_dnnl_variant {
    /* Activations in the caller's layout. NCHW: weights too, which gets oneDNN's own
     * im2col + GEMM; NHWC: weights in oneDNN's blocked layout (its direct NHWC kernels). */
    SC_DNNL_USER = 0,
    /* Every operand in the blocked layout oneDNN prefers (nChw16c, ...), reordered in and out
     * through the workspace: its direct JIT kernels, as PyTorch runs them. */
    SC_DNNL_BLOCKED = 1,
    SC_DNNL_VARIANTS = 2
} sc_dnnl_variant;

/* oneDNN 2.6's 1x1 backward-weight kernel, given NHWC activations and a stride, copies the
 * strided input into per-thread scratchpad space it books too small when C/groups is below its
 * channel block (oneDNN issue #6035, open): wrong and run-to-run different weight gradients, or
 * writes past the workspace into the heap (seen here at 9 channels, stride 2 and 2x1). Whole
 * multiples of 64 channels are past every block oneDNN 2.6 uses (8 for AVX2, 16 for AVX-512
 * fp32, at most 64 for its 16-bit and AMX kernels) and are the layers where the kernel matters
 * (ResNet's stride-2 1x1 layers: 256-1024 channels; it is what PyTorch runs there):
 * cpu_onednn_strided_1x1_nhwc_backward_weight_wide tests them under the sanitizers. True for
 * the problems that must never get that kernel: the recipe refuses it (known_broken) and the
 * route prefers the blocked variant for them (variants). */
static inline bool sc_dnnl_strided_1x1_nhwc_bw_unsafe(const sc_problem *pb, int dir)
{
    const sc_conv2d_desc *d = &pb->d;
    return dir == SC_DIR_BACKWARD_WEIGHT && d->layout == SC_NHWC && d->r == 1 && d->s == 1 &&
           (d->stride_h > 1 || d->stride_w > 1) && pb->cg % 64 != 0;
}

/* What a recipe is made for. Built zeroed, then filled, so memcmp compares it. */
typedef struct sc_dnnl_key {
    sc_conv2d_desc d;
    int dir;     /* sc_direction: forward, backward-data or backward-weight */
    int threads; /* OpenMP threads the primitive was created for (it runs with that many) */
    int variant; /* sc_dnnl_variant */
} sc_dnnl_key;

/* Operand slots of a recipe, in sc_call's roles: a, b, out. */
enum {
    SC_DNNL_A = 0,
    SC_DNNL_B = 1,
    SC_DNNL_OUT = 2,
    SC_DNNL_SLOTS = 3
};

typedef struct sc_dnnl_recipe {
    bool ok;       /* false: oneDNN cannot serve this key; `why` says why */
    char why[160]; /* ok: the implementation's name ("jit:avx512_core"); else the reason */
    dnnl_primitive_t prim;
    dnnl_memory_desc_t user_md[SC_DNNL_SLOTS]; /* the caller's tensors */
    dnnl_memory_desc_t prim_md[SC_DNNL_SLOTS]; /* what the primitive takes */
    dnnl_primitive_t reorder[SC_DNNL_SLOTS];   /* user -> prim (inputs), prim -> user (out);
                                                  NULL where the layouts already agree */
    size_t buf_off[SC_DNNL_SLOTS];             /* workspace offset of a reordered copy */
    dnnl_memory_desc_t bias_md;                /* K floats: bias (forward), dbias (weight) */
    size_t bias_off;                           /* zero bias / dbias nobody asked for */
    dnnl_memory_desc_t scratch_md;             /* oneDNN's scratchpad, user mode */
    size_t scratch_off;
    size_t ws_bytes; /* workspace the recipe needs, including 64 bytes to align its start */
    /* cache bookkeeping (onednn_cache.c) */
    int refs;
    bool detached;
} sc_dnnl_recipe;

/* Build the recipe for `key` (never NULL unless out of memory; check ->ok). The calling thread's
 * OpenMP thread count must already be key->threads. */
sc_dnnl_recipe *sc_dnnl_recipe_create(const sc_problem *pb, const sc_dnnl_key *key);
void sc_dnnl_recipe_destroy(sc_dnnl_recipe *r);
/* Run a recipe on call's operands with call->ws (at least r->ws_bytes). `given` (may be NULL):
 * per input slot, that input already in the primitive's layout (prim_md), read instead of
 * reordering the caller's tensor; `kept` (may be NULL): per slot, where the run left the input's
 * reordered copy (in call->ws; NULL where it made none). */
sc_status sc_dnnl_recipe_run(const sc_dnnl_recipe *r, const sc_call *call,
                             const void *const given[SC_DNNL_SLOTS], void *kept[SC_DNNL_SLOTS]);

/* The recipe for a key from the cache, created on a miss; release it after use. NULL only when
 * out of memory. Thread-safe. */
sc_dnnl_recipe *sc_dnnl_cache_acquire(const sc_problem *pb, const sc_dnnl_key *key);
void sc_dnnl_cache_release(sc_dnnl_recipe *r);

/* pthread_atfork handlers: hold the cache's lock across a fork (prepare), release it in the
 * parent and in the child (done). */
void sc_dnnl_cache_fork_prepare(void);
void sc_dnnl_cache_fork_done(void);

/* The engine every recipe uses (created once); NULL when oneDNN cannot make a CPU engine. */
dnnl_engine_t sc_dnnl_engine(void);

#endif
