/* test_cpu_onednn.c - the oneDNN route's own behaviour (src/cpu/onednn, docs/cpu.md): absent
 * builds say so, its workspace is what the query says and within the limit, each call leaves
 * the caller's OpenMP settings as they were, a forked child still computes (libgomp), and the
 * primitive cache survives eviction while two threads use it. Results against the reference
 * are test_cpu_property.c's; determinism is test_cpu_determinism.c's. */
#include "../../tools/check.h"
#include "cpu_onednn_util.h"
#include "testlib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

double sc_tg_check_vs_reference(sc_context *ctx, const sc_conv2d_desc *d, sc_direction dir,
                                sc_status *status);

static sc_context *onednn_ctx(int threads, size_t limit)
{
    sc_context_options o;
    sc_context_options_init(&o);
    o.algo = SC_ALGO_CPU_ONEDNN;
    o.num_threads = threads;
    o.workspace_limit = limit;
    sc_context *ctx = NULL;
    if (sc_context_create(&o, &ctx)) return NULL;
    return ctx;
}

/* A layer big enough that oneDNN runs it on several threads and reorders it to blocked
 * layouts. */
static sc_conv2d_desc layer(void)
{
    sc_conv2d_desc d;
    sc_conv2d_desc_init(&d);
    d.n = 2, d.c = 16, d.h = 20, d.w = 20, d.k = 32, d.r = 3, d.s = 3, d.pad_h = d.pad_w = 1;
    return d;
}

SC_TEST(cpu_onednn_absent_build_says_so)
{
    if (sc_test_onednn_built()) return; /* present: every other test here runs */
    sc_context *ctx = onednn_ctx(0, 0);
    CHECK(ctx);
    sc_conv2d_desc d = layer();
    sc_algo a;
    CHECK_STATUS(sc_conv2d_select(ctx, &d, SC_DIR_FORWARD, &a), SC_STATUS_NOT_AVAILABLE);
    CHECK_ERROR_MENTIONS("cpu_onednn");
    sc_context_destroy(ctx);
}

/* Auto selection: oneDNN for real layers (dense, depthwise, 1x1) when built, the other
 * algorithms without it and for tiny problems. */
SC_TEST(cpu_auto_selection_takes_onednn_where_built)
{
    bool built = sc_test_onednn_built();
    sc_context *ctx;
    CHECK_STATUS(sc_context_create(NULL, &ctx), SC_STATUS_OK);
    sc_conv2d_desc dense = layer(), depthwise = layer(), pointwise = layer(), tiny = layer();
    depthwise.groups = depthwise.k = depthwise.c;
    pointwise.r = pointwise.s = 1, pointwise.pad_h = pointwise.pad_w = 0;
    tiny.n = 1, tiny.c = 1, tiny.k = 1, tiny.h = tiny.w = 3;
    struct {
        const sc_conv2d_desc *d;
        sc_algo without;
    } cases[] = {{&dense, SC_ALGO_CPU_IM2COL_GEMM},
                 {&depthwise, SC_ALGO_CPU_DIRECT},
                 {&pointwise, SC_ALGO_CPU_IM2COL_GEMM}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int dir = 0; dir < 3; dir++) {
            sc_algo a;
            CHECK_STATUS(sc_conv2d_select(ctx, cases[i].d, (sc_direction)dir, &a), SC_STATUS_OK);
            CHECK_MSG(a == (built ? SC_ALGO_CPU_ONEDNN : cases[i].without), "case %zu dir %d: %s",
                      i, dir, sc_algo_name(a));
        }
    sc_algo a;
    CHECK_STATUS(sc_conv2d_select(ctx, &tiny, SC_DIR_FORWARD, &a), SC_STATUS_OK);
    CHECK(a != SC_ALGO_CPU_ONEDNN);
    CHECK_STATUS(sc_conv2d_select(ctx, &dense, SC_DIR_BACKWARD_BIAS, &a), SC_STATUS_OK);
    CHECK(a == SC_ALGO_CPU_DIRECT);
    sc_context_destroy(ctx);
}

SC_TEST(cpu_onednn_workspace_is_the_query_and_within_the_limit)
{
    if (!sc_test_onednn_built()) return;
    sc_conv2d_desc d = layer();
    sc_context *ctx = onednn_ctx(2, 0);
    CHECK(ctx);
    int64_t xe, we, ye;
    CHECK_STATUS(sc_conv2d_tensor_elems(&d, &xe, &we, &ye), SC_STATUS_OK);
    float *x = calloc((size_t)xe, 4), *w = calloc((size_t)we, 4), *y = calloc((size_t)ye, 4);
    CHECK(x && w && y);
    size_t need = 0;
    CHECK_STATUS(sc_conv2d_workspace_size(ctx, &d, SC_DIR_FORWARD, &need), SC_STATUS_OK);
    CHECK_MSG(need > 0, "the oneDNN route needs its scratchpad or reorder buffers");
    void *ws = NULL;
    CHECK(posix_memalign(&ws, 64, need) == 0);
    CHECK_STATUS(sc_conv2d_forward(ctx, &d, x, w, NULL, y, ws, need), SC_STATUS_OK);
    CHECK_STATUS(sc_conv2d_forward(ctx, &d, x, w, NULL, y, ws, need - 1), SC_STATUS_BAD_PARAM);
    sc_stats st;
    CHECK_STATUS(sc_context_get_stats(ctx, &st), SC_STATUS_OK);
    CHECK(st.last_algo == SC_ALGO_CPU_ONEDNN && st.workspace_peak == need);
    sc_context_destroy(ctx);

    /* A limit below what any layout variant needs: forced, a clear error; auto, another
     * algorithm. */
    CHECK((ctx = onednn_ctx(2, 256)));
    sc_algo a;
    CHECK_STATUS(sc_conv2d_select(ctx, &d, SC_DIR_BACKWARD_WEIGHT, &a), SC_STATUS_OUT_OF_MEMORY);
    CHECK_ERROR_MENTIONS("options.workspace_limit");
    sc_context_destroy(ctx);
    sc_context_options o;
    sc_context_options_init(&o);
    o.workspace_limit = 256;
    CHECK_STATUS(sc_context_create(&o, &ctx), SC_STATUS_OK);
    CHECK_STATUS(sc_conv2d_select(ctx, &d, SC_DIR_BACKWARD_WEIGHT, &a), SC_STATUS_OK);
    CHECK(a != SC_ALGO_CPU_ONEDNN);
    CHECK_STATUS(sc_conv2d_workspace_size(ctx, &d, SC_DIR_BACKWARD_WEIGHT, &need), SC_STATUS_OK);
    CHECK(need <= 256);
    sc_context_destroy(ctx);
    free(ws), free(x), free(w), free(y);
}

/* OpenMP's functions, looked up at run time: only a build with oneDNN links libgomp. */
typedef int (*omp_get_fn)(void);
typedef void (*omp_set_fn)(int);

SC_TEST(cpu_onednn_leaves_the_callers_openmp_settings)
{
    if (!sc_test_onednn_built()) return;
    omp_get_fn get_threads = (omp_get_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "omp_get_max_threads");
    omp_set_fn set_threads = (omp_set_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    omp_get_fn get_dynamic = (omp_get_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "omp_get_dynamic");
    omp_set_fn set_dynamic = (omp_set_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "omp_set_dynamic");
    if (!get_threads || !set_threads || !get_dynamic || !set_dynamic) return; /* not OpenMP */
    int threads0 = get_threads(), dynamic0 = get_dynamic();
    set_threads(3);
    set_dynamic(1);
    sc_conv2d_desc d = layer();
    int64_t xe, we, ye;
    CHECK_STATUS(sc_conv2d_tensor_elems(&d, &xe, &we, &ye), SC_STATUS_OK);
    float *x = calloc((size_t)xe, 4), *w = calloc((size_t)we, 4), *y = calloc((size_t)ye, 4);
    CHECK(x && w && y);
    for (int threads = 0; threads <= 2; threads++) {
        sc_context *ctx = onednn_ctx(threads, 0);
        CHECK(ctx);
        CHECK_STATUS(sc_conv2d_forward(ctx, &d, x, w, NULL, y, NULL, 0), SC_STATUS_OK);
        CHECK_STATUS(sc_conv2d_backward_data(ctx, &d, y, w, x, NULL, 0), SC_STATUS_OK);
        CHECK_MSG(get_threads() == 3 && get_dynamic() == 1,
                  "num_threads %d: OpenMP left at %d threads, dynamic %d", threads, get_threads(),
                  get_dynamic());
        sc_context_destroy(ctx);
    }
    set_threads(threads0);
    set_dynamic(dynamic0);
    free(x), free(w), free(y);
}

/* libgomp cannot start a parallel region in a child forked from a thread that ran one: the
 * route must run such a child's calls on one thread instead of waiting forever. */
SC_TEST(cpu_onednn_forked_child_computes)
{
    if (!sc_test_onednn_built()) return;
    sc_conv2d_desc d = layer();
    int64_t xe, we, ye;
    CHECK_STATUS(sc_conv2d_tensor_elems(&d, &xe, &we, &ye), SC_STATUS_OK);
    float *x = calloc((size_t)xe, 4), *w = calloc((size_t)we, 4), *y = calloc((size_t)ye, 4);
    CHECK(x && w && y);
    sc_context *ctx = onednn_ctx(2, 0);
    CHECK(ctx);
    CHECK_STATUS(sc_conv2d_forward(ctx, &d, x, w, NULL, y, NULL, 0), SC_STATUS_OK);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        alarm(30); /* a hang ends as SIGALRM */
        sc_status st = sc_conv2d_backward_weight(ctx, &d, x, y, w, NULL, NULL, 0);
        if (!st) st = sc_conv2d_forward(ctx, &d, x, w, NULL, y, NULL, 0);
        _exit(st ? 1 : 0);
    }
    int status = 0;
    pid_t got = 0;
    for (int i = 0; i < 400 && got == 0; i++) { /* 40 s */
        got = waitpid(pid, &status, WNOHANG);
        if (got == 0) usleep(100000);
    }
    if (got == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    sc_context_destroy(ctx);
    free(x), free(w), free(y);
    CHECK_MSG(got == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0, "forked child: %s %d",
              WIFSIGNALED(status) ? "killed by signal" : "exit status",
              WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

/* oneDNN 2.6's 1x1 backward-weight on NHWC tensors with a stride and fewer channels than its
 * block books its scratchpad too small (oneDNN issue #6035): wrong, run-to-run different weight
 * gradients, or heap corruption. The route must never run it, even when the caller's layout is
 * preferred (SAFECONV_ONEDNN_VARIANT=user). Fails on the code without known_broken(). */
SC_TEST(cpu_onednn_strided_1x1_nhwc_backward_weight)
{
    if (!sc_test_onednn_built()) return;
    sc_context *ctx = onednn_ctx(2, 0);
    CHECK(ctx);
    const int64_t strides[3][2] = {{2, 2}, {2, 1}, {1, 3}};
    for (int pref = 0; pref < 2; pref++) {
        if (pref) setenv("SAFECONV_ONEDNN_VARIANT", "user", 1);
        for (int i = 0; i < 3; i++)
            for (int rep = 0; rep < 4; rep++) {
                sc_conv2d_desc d;
                sc_conv2d_desc_init(&d);
                d.n = 1 + rep % 2, d.c = 9, d.h = 16, d.w = 16, d.k = 3, d.r = d.s = 1;
                d.stride_h = strides[i][0], d.stride_w = strides[i][1], d.layout = SC_NHWC;
                sc_check_result res;
                CHECK_STATUS(sc_check_direction(ctx, SC_DEVICE_CPU, &d, SC_DIR_BACKWARD_WEIGHT,
                                                (uint64_t)(10 * i + rep), &res),
                             SC_STATUS_OK);
                CHECK_MSG(res.pass, "stride %lldx%lld, user first %d, run %d: %s",
                          (long long)d.stride_h, (long long)d.stride_w, pref, rep, res.message);
            }
        unsetenv("SAFECONV_ONEDNN_VARIANT");
    }
    sc_context_destroy(ctx);
}

/* ... and at whole multiples of 64 channels, where the route does run oneDNN's strided NHWC
 * kernel (known_broken): right against the reference and the same bits twice, fp32, bf16 and
 * fp16, on one and two threads, for strides that leave a remainder of x unread and shapes
 * around the kernel's blocks; under ASan (make test-asan) a scratchpad booked too small would
 * be a heap error. */
SC_TEST(cpu_onednn_strided_1x1_nhwc_backward_weight_wide)
{
    if (!sc_test_onednn_built()) return;
    const int64_t strides[3][2] = {{2, 2}, {2, 1}, {1, 3}};
    const int64_t chans[3] = {64, 128, 192};
    const sc_dtype dtypes[3] = {SC_DTYPE_F32, SC_DTYPE_BF16, SC_DTYPE_F16};
    for (int threads = 1; threads <= 2; threads++) {
        sc_context *ctx = onednn_ctx(threads, 0);
        CHECK(ctx);
        for (int i = 0; i < 3; i++)
            for (int c = 0; c < 3; c++)
                for (int t = 0; t < 3; t++) {
                    sc_conv2d_desc d;
                    sc_conv2d_desc_init(&d);
                    d.n = 1 + (i + c) % 3, d.c = chans[c], d.h = 11 + c, d.w = 9 + i;
                    d.r = d.s = 1, d.k = c == 1 ? 8 : 40, d.layout = SC_NHWC, d.dtype = dtypes[t];
                    d.stride_h = strides[i][0], d.stride_w = strides[i][1];
                    sc_check_result res;
                    CHECK_STATUS(sc_check_direction(ctx, SC_DEVICE_CPU, &d, SC_DIR_BACKWARD_WEIGHT,
                                                    (uint64_t)(100 * threads + 10 * i + c), &res),
                                 SC_STATUS_OK);
                    CHECK_MSG(res.pass, "C %lld, stride %lldx%lld, dtype %d, %d threads: %s",
                              (long long)d.c, (long long)d.stride_h, (long long)d.stride_w,
                              (int)d.dtype, threads, res.message);
                }
        sc_context_destroy(ctx);
    }
}

/* Valid problems oneDNN takes minutes and gigabytes to create a primitive for, or computes
 * wrongly (the dispatch fuzzer's): padding far past the filter's span, a tensor of exactly
 * 2^31-1 elements, a filter 1000003 wide and a stride near 2^31, declined at once (forced: an
 * error naming it; auto: another algorithm, and a right result), and NHWC rows of millions of
 * outputs, which must not get oneDNN's NHWC kernel (the blocked variant or another algorithm
 * may serve them). Without the guards each select below runs for minutes. */
SC_TEST(cpu_onednn_declines_what_onednn_cannot_plan)
{
    if (!sc_test_onednn_built()) return;
    sc_conv2d_desc pad, wide;
    sc_conv2d_desc_init(&pad);
    pad.n = 8, pad.c = 8, pad.h = 4, pad.w = 8, pad.k = 4, pad.r = 3, pad.s = 5;
    pad.pad_h = 3, pad.pad_w = 1000003, pad.layout = SC_NHWC;
    sc_conv2d_desc_init(&wide);
    wide.n = 8, wide.c = 1, wide.h = 3, wide.w = 50397441, wide.k = 1, wide.r = 1, wide.s = 2;
    wide.stride_w = 3, wide.pad_h = 3, wide.pad_w = 8, wide.dil_h = 4, wide.dil_w = 3;
    wide.layout = SC_NHWC;
    sc_conv2d_desc edge; /* x and y of INT_MAX elements: 30 s in oneDNN 2.6's descriptor */
    sc_conv2d_desc_init(&edge);
    edge.n = INT32_MAX, edge.c = edge.h = edge.w = edge.k = 1, edge.r = 8, edge.s = 3;
    edge.pad_h = 4, edge.pad_w = 3, edge.stride_h = 7, edge.stride_w = 8, edge.layout = SC_NHWC;
    sc_conv2d_desc stride; /* one output column: stride 2^31-1 wrong results, 2^31-2 a crash */
    sc_conv2d_desc_init(&stride);
    stride.n = 3, stride.c = 1, stride.h = 8, stride.w = 4, stride.k = 4, stride.r = 8;
    stride.s = 6, stride.stride_w = INT32_MAX, stride.pad_h = 8, stride.pad_w = 4;
    stride.layout = SC_NHWC;
    sc_conv2d_desc tall; /* a 5 x 1000003 filter: NHWC forward descriptor time grows as s^2 */
    sc_conv2d_desc_init(&tall);
    tall.n = 7, tall.c = 8, tall.h = 8, tall.w = 1000003, tall.k = 8, tall.r = 5;
    tall.s = 1000003, tall.pad_h = 4, tall.pad_w = 6, tall.stride_h = 4, tall.stride_w = 3;
    tall.dtype = SC_DTYPE_F16, tall.layout = SC_NHWC;
    sc_context *forced = onednn_ctx(2, 0), *dflt;
    CHECK(forced);
    CHECK_STATUS(sc_context_create(NULL, &dflt), SC_STATUS_OK);
    sc_algo a;
    for (int dir = 0; dir < 3; dir++) {
        CHECK(sc_conv2d_select(forced, &pad, (sc_direction)dir, &a) != SC_STATUS_OK);
        CHECK_ERROR_MENTIONS("padding");
        CHECK(sc_conv2d_select(forced, &edge, (sc_direction)dir, &a) != SC_STATUS_OK);
        CHECK_ERROR_MENTIONS("2^31-1");
        CHECK(sc_conv2d_select(forced, &tall, (sc_direction)dir, &a) != SC_STATUS_OK);
        CHECK_ERROR_MENTIONS("4096");
        CHECK_STATUS(sc_conv2d_select(dflt, &tall, (sc_direction)dir, &a), SC_STATUS_OK);
        for (int64_t sw = INT32_MAX - 1; sw <= INT32_MAX; sw++) {
            stride.stride_w = sw;
            CHECK(sc_conv2d_select(forced, &stride, (sc_direction)dir, &a) != SC_STATUS_OK);
            CHECK_ERROR_MENTIONS("2^30");
            sc_status st2;
            CHECK(sc_tg_check_vs_reference(dflt, &stride, (sc_direction)dir, &st2) < 1e-4);
            CHECK_STATUS(st2, SC_STATUS_OK);
        }
        CHECK_STATUS(sc_conv2d_select(dflt, &edge, (sc_direction)dir, &a), SC_STATUS_OK);
        CHECK(a != SC_ALGO_CPU_ONEDNN);
        sc_status st = sc_conv2d_select(forced, &wide, (sc_direction)dir, &a);
        CHECK(st == SC_STATUS_OK || st == SC_STATUS_OUT_OF_MEMORY || st == SC_STATUS_UNSUPPORTED);
        CHECK_STATUS(sc_conv2d_select(dflt, &pad, (sc_direction)dir, &a), SC_STATUS_OK);
        CHECK(a != SC_ALGO_CPU_ONEDNN);
        CHECK_STATUS(sc_conv2d_select(dflt, &wide, (sc_direction)dir, &a), SC_STATUS_OK);
    }
    sc_context_destroy(forced);
    sc_context_destroy(dflt);
}

/* Two threads, each with its own context, run more distinct problems than the primitive cache
 * holds, half of them the other thread's at the same time: evictions while the other thread
 * runs a recipe, and both threads creating the same one. Every result is checked. */
typedef struct cache_worker {
    int first, failures;
    char message[512];
} cache_worker;

static void *cache_work(void *arg)
{
    cache_worker *wk = arg;
    sc_context *ctx = onednn_ctx(1, 0);
    if (!ctx) {
        wk->failures++;
        return NULL;
    }
    int n = sc_test_quick() ? 60 : 240;
    for (int i = wk->first; i < wk->first + n; i++) {
        sc_conv2d_desc d;
        sc_conv2d_desc_init(&d);
        d.n = 1, d.c = 3, d.k = 4, d.r = 3, d.s = 3, d.pad_h = 1;
        d.h = 4 + i % 20, d.w = 4 + i / 20; /* a distinct problem per i */
        sc_check_result res;
        sc_direction dir = (sc_direction)(i % 3);
        if (sc_check_direction(ctx, SC_DEVICE_CPU, &d, dir, (uint64_t)i, &res) || !res.pass) {
            if (!wk->failures++)
                snprintf(wk->message, sizeof wk->message, "problem %d dir %d: %s", i, (int)dir,
                         res.message[0] ? res.message : sc_last_error());
        }
    }
    sc_context_destroy(ctx);
    return NULL;
}

SC_TEST(cpu_onednn_cache_eviction_under_threads)
{
    if (!sc_test_onednn_built()) return;
    int n = sc_test_quick() ? 60 : 240;
    cache_worker wk[2] = {{.first = 0}, {.first = n / 2}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) CHECK(pthread_create(&t[i], NULL, cache_work, &wk[i]) == 0);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++)
        CHECK_MSG(wk[i].failures == 0, "thread %d: %d failures, first: %s", i, wk[i].failures,
                  wk[i].message);
}
