/* internal.h - what the layers below the public header share: the validated problem, error
 * reporting, the context's innards. Never installed. */
#ifndef SC_INTERNAL_H
#define SC_INTERNAL_H

#include "safeconv.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A validated descriptor with everything derived that every backend needs.
 * Sizes are int64_t; every product below was checked for overflow by sc__problem_init. */
typedef struct sc_problem {
    sc_conv2d_desc d;
    int64_t p, q;         /* output height, width */
    int64_t cg, kg;       /* channels per group: C/groups, K/groups */
    int64_t x_elems;      /* N*C*H*W */
    int64_t w_elems;      /* K*Cg*R*S */
    int64_t y_elems;      /* N*K*P*Q */
    size_t elem_size;     /* bytes of one element of dtype */
} sc_problem;

/* Validate `d` and fill `pb`. BAD_PARAM with a message naming the field on failure. */
sc_status sc__problem_init(const sc_conv2d_desc *d, sc_problem *pb);

/* Record `fmt` as the calling thread's last error and return `st`. */
sc_status sc__fail(sc_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sc__clear_error(void);

/* Checked arithmetic on non-negative 64-bit sizes: false on overflow. */
static inline bool sc__mul_ok(int64_t a, int64_t b, int64_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

/* Per-context pool: one buffer per memory space, grown on demand up to the limit, reused. */
typedef struct sc_pool {
    void *ptr;
    size_t size;
} sc_pool;

struct sc_context {
    sc_context_options opt;   /* as given, with defaults filled in */
    char *cache_path;         /* owned copy of opt.cache_path (may be NULL) */
    size_t workspace_limit;   /* resolved default */
    sc_pool host_pool;
    sc_pool device_pool;
    sc_stats stats;
    struct sc_guard_state *guard; /* selection cache, vendor adapter; NULL until first needed */
};

/* A workspace of at least `bytes` from the caller's (if given) or the context's pool in the
 * context's memory space (host for `on_host`). */
sc_status sc__workspace(sc_context *ctx, bool on_host, size_t bytes, void *caller_ws,
                        size_t caller_size, void **out);

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
    const void *a, *b, *c;
    void *out, *out2;
    void *ws;
    size_t ws_size;
    void *stream;     /* GPU only */
    int num_threads;  /* CPU only; 0 = all */
} sc_call;

/* Element counts of the operands a, b, c, out, out2 of `dir` (sc_call's roles; 0 = unused). */
static inline void sc__operand_elems(const sc_problem *pb, sc_direction dir, int64_t n[5])
{
    int64_t K = pb->d.k;
    for (int i = 0; i < 5; i++) n[i] = 0;
    switch (dir) {
    case SC_DIR_FORWARD: n[0] = pb->x_elems, n[1] = pb->w_elems, n[2] = K, n[3] = pb->y_elems; break;
    case SC_DIR_BACKWARD_DATA: n[0] = pb->y_elems, n[1] = pb->w_elems, n[3] = pb->x_elems; break;
    case SC_DIR_BACKWARD_WEIGHT: n[0] = pb->x_elems, n[1] = pb->y_elems, n[3] = pb->w_elems, n[4] = K; break;
    case SC_DIR_BACKWARD_BIAS: n[0] = pb->y_elems, n[3] = K; break;
    }
}

#endif /* SC_INTERNAL_H */
