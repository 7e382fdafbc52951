/* onednn_route.c - the oneDNN route as the CPU backend sees it (cpu.h): which layout variant a
 * problem gets, its workspace, and the thread count of each call.
 *
 * Threads. Debian's oneDNN 2.6 runs on OpenMP (DNNL_CPU_THREADING_RUNTIME == OMP): a primitive
 * takes the calling thread's OpenMP thread count when it is created and keeps it. So each call
 * sets the calling thread's count to the context's num_threads (0: the count the thread already
 * has, i.e. OMP_NUM_THREADS or all cores, or what the application set, e.g.
 * torch.set_num_threads) and turns OpenMP's dynamic adjustment off for the call, and restores
 * both after; the count is part of the recipe's key. OpenMP counts are per thread, so contexts on
 * other threads are unaffected.
 *
 * Fork. libgomp cannot start a parallel region in a child forked from a thread that already ran
 * one (the child inherits a thread pool whose threads did not survive the fork: it waits for
 * them forever). So once this route has been used, a forked child (a probe's child, a test's
 * captured run, a data-loader worker) runs its oneDNN calls on one thread: correct, slower, and
 * the bits of a one-thread context.
 *
 * Determinism. oneDNN promises bit-identical results run to run for the same primitive in the
 * same environment (CPU, library, thread count); 2.6 has no attribute for it (3.x added one,
 * mostly for GPU kernels with atomics). safeconv keeps every input of that promise fixed: the
 * variant and workspace follow from the problem and the limit alone (no timing), the thread
 * count is pinned per call and keyed, and dynamic thread adjustment is off. */
#include "cpu/cpu.h"
#include "cpu/onednn/onednn.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
#include <omp.h>
#define SC_DNNL_OMP 1
#else
#define SC_DNNL_OMP 0
#endif

/* ThreadSanitizer cannot see libgomp's synchronization (an uninstrumented library): every
 * buffer an OpenMP worker touches would be reported as a race with the thread that allocated
 * it. Under TSan the route computes on the calling thread, so what TSan checks is safeconv's
 * own threading (contexts, the recipe cache), which is what `make test-tsan` is for. */
#if defined(__SANITIZE_THREAD__)
#define SC_DNNL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SC_DNNL_TSAN 1
#endif
#endif
#ifndef SC_DNNL_TSAN
#define SC_DNNL_TSAN 0
#endif

static atomic_bool forked_child;
static void on_fork_child(void)
{
    atomic_store(&forked_child, true);
    sc_dnnl_cache_fork_done();
}
static void watch_forks(void)
{
    pthread_atfork(sc_dnnl_cache_fork_prepare, sc_dnnl_cache_fork_done, on_fork_child);
}

typedef struct thread_scope {
    int prev, prev_dynamic;
} thread_scope;

/* Pin the calling thread's OpenMP count for one call; returns the count in force. */
static int threads_enter(int wanted, thread_scope *t)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, watch_forks); /* before this route's first parallel region */
#if SC_DNNL_OMP
    t->prev = omp_get_max_threads();
    t->prev_dynamic = omp_get_dynamic();
    int n = SC_DNNL_TSAN || atomic_load(&forked_child) ? 1 : wanted > 0 ? wanted : t->prev;
    if (n != t->prev) omp_set_num_threads(n);
    if (t->prev_dynamic) omp_set_dynamic(0);
    return n;
#else /* TBB or a thread pool: oneDNN takes its own count; safeconv cannot set it per call */
    (void)wanted, (void)t;
    return 0;
#endif
}

static void threads_leave(int n, const thread_scope *t)
{
#if SC_DNNL_OMP
    if (n != t->prev) omp_set_num_threads(t->prev);
    if (t->prev_dynamic) omp_set_dynamic(1);
#else
    (void)n, (void)t;
#endif
}

bool sc_cpu_onednn_built(void) { return sc_dnnl_engine() != NULL; }

/* Layout variants in order of preference for a problem; the first that oneDNN serves within
 * the workspace limit runs. From oneDNN 2.6 on the public suite (bench/NOTES.md, issue 21):
 *  - 1x1 filters: the caller's layout. oneDNN's GEMM on plain tensors beats its blocked 1x1
 *    kernels plus the reorders in and out (up to 2x at 56x56); except, in NCHW, small planes
 *    (14x14 and below: the blocked kernels win by 10-20% and the reorders are small) and
 *    backward-weight where the GEMM is thin (C*K <= 4096: 3x slower at 32 -> 32 channels,
 *    160x160, two threads).
 *  - NCHW otherwise: blocked (its direct JIT kernels, 1.3-3x faster than its im2col + GEMM on
 *    plain tensors, reorders included), except backward-data of a dense layer with fewer than
 *    16 input channels (a stem: blocking pads C=3 to 16, 3x the work) and backward-weight of
 *    outputs of at most 8x8 (ResNet's last stage: the GEMM wins there).
 *  - NHWC otherwise: the caller's layout (oneDNN's NHWC kernels, no reorders), except
 *    backward-weight of dense layers of 32+ output channels with a strided or large output
 *    plane, where the blocked kernel wins by 10-50% (at 16 output channels, YOLO's stem, the
 *    NHWC kernel wins).
 * NHWC 1x1 backward-weight with a stride runs blocked: oneDNN's NHWC kernel for it is broken
 * (onednn.h, sc_dnnl_strided_1x1_nhwc_bw_unsafe), except at whole multiples of 64 channels,
 * where it is not and beats the blocked kernel and its reorders (ResNet-50's 256 -> 512
 * stride-2 layer). SAFECONV_ONEDNN_VARIANT=user|blocked puts one variant first (tests,
 * measurements); the other still serves what the first cannot. */
static int variants(const sc_problem *pb, sc_direction dir, sc_dnnl_variant out[SC_DNNL_VARIANTS])
{
    const sc_conv2d_desc *d = &pb->d;
    const bool pointwise = d->r == 1 && d->s == 1, dense = d->groups == 1;
    const bool strided = d->stride_h > 1 || d->stride_w > 1;
    const int64_t plane = pb->p * pb->q;
    bool user;
    const char *force = getenv("SAFECONV_ONEDNN_VARIANT");
    if (force && (!strcmp(force, "user") || !strcmp(force, "blocked")))
        user = !strcmp(force, "user");
    else if (pointwise && d->layout == SC_NHWC)
        user = !sc_dnnl_strided_1x1_nhwc_bw_unsafe(pb, dir);
    else if (pointwise)
        user = plane > 14 * 14 && (dir != SC_DIR_BACKWARD_WEIGHT || pb->cg * pb->kg > 4096);
    else if (d->layout == SC_NCHW)
        user = (dir == SC_DIR_BACKWARD_DATA && dense && pb->cg < 16) ||
               (dir == SC_DIR_BACKWARD_WEIGHT && plane <= 64);
    else
        user = !(dir == SC_DIR_BACKWARD_WEIGHT && dense && pb->kg >= 32 &&
                 (strided || (plane >= 28 * 28 && pb->cg >= 32)));
    out[0] = user ? SC_DNNL_USER : SC_DNNL_BLOCKED;
    out[1] = user ? SC_DNNL_BLOCKED : SC_DNNL_USER;
    return 2;
}

static void make_key(const sc_problem *pb, sc_direction dir, int threads, sc_dnnl_variant v,
                     sc_dnnl_key *k)
{
    memset(k, 0, sizeof *k); /* padding bytes too: keys compare with memcmp */
    k->d = pb->d;
    k->dir = (int)dir;
    k->threads = threads;
    k->variant = (int)v;
}

static bool is_reference(const sc_dnnl_recipe *r) { return !strncmp(r->why, "ref", 3); }

/* The recipe a call runs: the first variant that oneDNN serves within `limit` bytes with more
 * than its reference loops, else the first it serves at all; an error otherwise. Threads
 * pinned. The plan and the call both choose with this, so they agree. */
static sc_status choose(const sc_problem *pb, sc_direction dir, int threads, size_t limit,
                        sc_dnnl_recipe **out)
{
    *out = NULL;
    sc_dnnl_variant v[SC_DNNL_VARIANTS];
    int nv = variants(pb, dir, v);
    char why[160] = "";
    size_t least = SIZE_MAX; /* the smallest workspace of a variant over the limit */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < nv; i++) {
            sc_dnnl_key key;
            make_key(pb, dir, threads, v[i], &key);
            sc_dnnl_recipe *r = sc_dnnl_cache_acquire(pb, &key);
            if (!r) return sc__fail(SC_STATUS_OUT_OF_MEMORY, "cpu_onednn: out of memory");
            if (r->ok && r->ws_bytes <= limit && (pass == 1 || !is_reference(r))) {
                *out = r;
                return SC_STATUS_OK;
            }
            if (r->ok && r->ws_bytes > limit && r->ws_bytes < least) least = r->ws_bytes;
            if (!r->ok) snprintf(why, sizeof why, "%s", r->why);
            sc_dnnl_cache_release(r);
        }
    if (least != SIZE_MAX)
        return sc__fail(SC_STATUS_OUT_OF_MEMORY,
                        "options.workspace_limit: cpu_onednn needs %zu bytes of workspace for "
                        "this problem, the limit is %zu",
                        least, limit);
    return sc__fail(SC_STATUS_UNSUPPORTED, "cpu_onednn: not for this problem: %s", why);
}

#define SC_DNNL_MAX_FILTER 4096 /* (dilated) filter height or width, see outside() */

/* Problems oneDNN is not asked about. Its kernels index with int (a tensor of exactly INT_MAX
 * elements, n = 2^31-1 of 1x1x1, kept oneDNN 2.6 in its primitive descriptor for 30 s in the
 * dispatch fuzzer, where INT_MAX - 1 took a millisecond: sizes stop below it), and its JIT
 * generators emit code per distinct padding case along a row: padding that goes on well past
 * the filter's span (16+ outputs made of padding alone on a side, which no network has) makes
 * it generate, and allocate, without bound (the dispatch fuzzer's pad_w = 1000003 on a 5-wide
 * filter: gigabytes and minutes in one primitive descriptor). */
static const char *outside(const sc_problem *pb)
{
    const sc_conv2d_desc *d = &pb->d;
    const int64_t big = INT32_MAX;
    if (pb->x_elems >= big || pb->y_elems >= big || pb->w_elems >= big || d->k >= big ||
        d->c >= big)
        return "a tensor of 2^31-1 or more elements";
    /* Its shape arithmetic is int too: a stride of 2^31-1 (one output column, so legal) gave
     * wrong results and 2^31-2 a crash (the dispatch fuzzer). Every spatial quantity, and the
     * sums oneDNN forms from them, stays below 2^30: fields one by one first, so that the
     * products below cannot overflow int64. */
    const int64_t lim = (int64_t)1 << 30;
    if (d->h >= lim || d->w >= lim || d->r >= lim || d->s >= lim || d->stride_h >= lim ||
        d->stride_w >= lim || d->dil_h >= lim || d->dil_w >= lim)
        return "a size, stride or dilation of 2^30 or more";
    if (d->pad_h >= (d->r - 1) * d->dil_h + 17 || d->pad_w >= (d->s - 1) * d->dil_w + 17)
        return "padding 16 or more past the filter's span";
    /* Creating an NHWC forward primitive takes time quadratic in the filter's width: 0.09 s
     * at 4096 columns, 1.8 s at 20,000, 44 s at 100,000 (the fuzzer's 5 x 1000003 filter, f16,
     * ran past its 20 s limit). No network has filters that wide; the other algorithms take
     * them. */
    if ((d->r - 1) * d->dil_h + 1 > SC_DNNL_MAX_FILTER ||
        (d->s - 1) * d->dil_w + 1 > SC_DNNL_MAX_FILTER)
        return "a (dilated) filter taller or wider than 4096";
    if (d->h + 2 * d->pad_h >= lim || d->w + 2 * d->pad_w >= lim)
        return "a padded input of 2^30 or more";
    return NULL;
}

sc_status sc_cpu_onednn_plan(const sc_problem *pb, sc_direction dir, int num_threads, size_t limit,
                             size_t *ws_bytes, bool *reference)
{
    *ws_bytes = 0;
    *reference = false;
    if (dir == SC_DIR_BACKWARD_BIAS)
        return sc__fail(SC_STATUS_UNSUPPORTED, "cpu_onednn: the bias gradient alone is a sum");
    const char *why = outside(pb);
    if (why) return sc__fail(SC_STATUS_UNSUPPORTED, "cpu_onednn: not for %s", why);
    if (!sc_dnnl_engine())
        return sc__fail(SC_STATUS_NOT_AVAILABLE, "cpu_onednn: oneDNN has no CPU engine here");
    thread_scope t;
    int n = threads_enter(num_threads, &t);
    sc_dnnl_recipe *r;
    sc_status st = choose(pb, dir, n, limit, &r);
    threads_leave(n, &t);
    if (st) return st;
    *ws_bytes = r->ws_bytes;
    *reference = is_reference(r);
    sc_dnnl_cache_release(r);
    return SC_STATUS_OK;
}

sc_status sc_cpu_onednn_run(const sc_call *call)
{
    if (call->dir == SC_DIR_BACKWARD_BIAS) return sc_cpu_direct_run(call);
    thread_scope t;
    int n = threads_enter(call->num_threads, &t);
    /* The plan chose the first variant within the limit; the workspace it sized is at most the
     * limit, so the same choice within ws_size finds the same recipe. */
    sc_dnnl_recipe *r;
    sc_status st = choose(call->pb, call->dir, n, call->ws_size, &r);
    if (!st) st = sc_dnnl_recipe_run(r, call, NULL, NULL);
    sc_dnnl_cache_release(r);
    threads_leave(n, &t);
    return st;
}

/* Backward-data then backward-weight of one problem (bd and bw: the calls, dy the same tensor,
 * their workspaces disjoint). Where both primitives take dy in the same reordered layout (the
 * blocked variant, NCHW), backward-weight reads the copy backward-data made: one reorder of dy
 * instead of two, the same bits (the copy is the same reorder of the same tensor). */
sc_status sc_cpu_onednn_run_backward(const sc_call *bd, const sc_call *bw)
{
    thread_scope t;
    int n = threads_enter(bd->num_threads, &t);
    sc_dnnl_recipe *r1 = NULL, *r2 = NULL;
    sc_status st = choose(bd->pb, SC_DIR_BACKWARD_DATA, n, bd->ws_size, &r1);
    if (!st) st = choose(bw->pb, SC_DIR_BACKWARD_WEIGHT, n, bw->ws_size, &r2);
    void *kept[SC_DNNL_SLOTS];
    if (!st) st = sc_dnnl_recipe_run(r1, bd, NULL, kept);
    if (!st) {
        const void *given[SC_DNNL_SLOTS] = {NULL, NULL, NULL};
        if (kept[SC_DNNL_A] && r2->reorder[SC_DNNL_B] &&
            dnnl_memory_desc_equal(&r1->prim_md[SC_DNNL_A], &r2->prim_md[SC_DNNL_B]))
            given[SC_DNNL_B] = kept[SC_DNNL_A];
        st = sc_dnnl_recipe_run(r2, bw, given, NULL);
    }
    if (r1) sc_dnnl_cache_release(r1);
    if (r2) sc_dnnl_cache_release(r2);
    threads_leave(n, &t);
    return st;
}
