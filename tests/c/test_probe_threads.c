/* test_probe_threads.c - probing from a process whose other threads are busy in safeconv's CPU
 * kernels (issue 14, defect 10). fork() runs OpenBLAS's atfork handler, which shuts its thread
 * pool down; with another thread inside an sgemm it waited forever (the probing process hung
 * in fork), and a BLAS lock held by such a thread stayed held in the fork-only child (its own
 * run "did not finish within the watchdog"). Now the probe forks with no thread inside a
 * kernel (common/fork_gate.h), and the exec'ed child is started without atfork handlers.
 *
 * Eight threads run convolutions (the im2col + sgemm path; half of them fp16, which the CPU
 * backend widens and runs through the fp32 entry again) without pause while the main thread
 * probes 12 times with the fork-only child and 4 times with the exec'ed one: every probe must
 * come back "ok". In a child process with an alarm: a hang fails the test, not the run.
 * Not part of the ThreadSanitizer run (forking a multi-threaded process). Under ASan only the
 * exec'ed probes run: GCC 12's ASan allocator takes no lock around fork(), so a fork-only child
 * whose parent had another thread inside malloc waits forever on that allocator lock in its
 * own first malloc (seen with gdb: __asan::Allocator::Allocate -> Mutex::Lock, in 2-3 runs of 6;
 * glibc's malloc, which the plain builds use, is fork-safe and passes every run). */
#include "testlib.h"

#include "safeconv.h"

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define SC_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SC_TEST_ASAN 1
#endif
#endif
#ifndef SC_TEST_ASAN
#define SC_TEST_ASAN 0
#endif

const char *sc_tg_build_dir(void);
bool sc_tg_use_fault_vendor(const char *rules);
void sc_tg_no_vendor(void);

static atomic_int stop;

static void *busy(void *arg)
{
    bool half = arg != NULL; /* fp16: widened to fp32, the kernel entered once more */
    sc_context_options o;
    sc_context_options_init(&o);
    o.strategy = SC_STRATEGY_CPU;
    sc_context *ctx;
    if (sc_context_create(&o, &ctx)) return NULL;
    sc_conv2d_desc d;
    sc_conv2d_desc_init(&d);
    d.n = 2, d.c = 16, d.h = d.w = 24, d.k = 16, d.r = d.s = 3, d.pad_h = d.pad_w = 1;
    if (half) d.dtype = SC_DTYPE_F16;
    int64_t xe, we, ye;
    sc_conv2d_tensor_elems(&d, &xe, &we, &ye);
    float *x = calloc((size_t)xe, 4), *w = calloc((size_t)we, 4), *y = calloc((size_t)ye, 4);
    while (x && w && y && !atomic_load(&stop)) sc_conv2d_forward(ctx, &d, x, w, NULL, y, NULL, 0);
    sc_context_destroy(ctx);
    free(x), free(w), free(y);
    return NULL;
}

/* 0, or 40 + the probe that did not come back ok. */
static int probe_while_busy(void)
{
    enum {
        THREADS = 8,
        FORK_ONLY = 12,
        EXECED = 4
    };
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, busy, i % 2 ? (void *)1 : NULL)) return 30;
    char tool[PATH_MAX + 16];
    snprintf(tool, sizeof tool, "%s/safeconv", sc_tg_build_dir());
    sc_probe_options o;
    sc_probe_options_init(&o);
    o.cache_path = ":memory:", o.watchdog_s = 30, o.repeats = 1, o.force = 1;
    sc_conv2d_desc d;
    sc_conv2d_desc_init(&d);
    d.n = 1, d.c = 8, d.h = d.w = 16, d.k = 8, d.r = d.s = 3, d.pad_h = d.pad_w = 1;
    int code = 0;
    for (int i = SC_TEST_ASAN ? FORK_ONLY : 0; i < FORK_ONLY + EXECED && !code; i++) {
        o.helper = i < FORK_ONLY ? "" : tool;
        sc_probe_result r;
        if (sc_probe_shape(&o, &d, SC_DIR_FORWARD, &r) || r.outcome != SC_PROBE_OK) {
            fprintf(stderr, "    probe %d: %s: %s\n", i, sc_probe_outcome_name(r.outcome),
                    r.detail);
            code = 40 + i;
        }
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    return code;
}

SC_TEST(test_probe_fork_while_threads_compute)
{
    CHECK(sc_tg_use_fault_vendor("k=1000:hang"));
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(120);
        _exit(probe_while_busy());
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    sc_tg_no_vendor();
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
    CHECK_MSG(code == 0, "step %d%s", code,
              code == 100 + SIGALRM ? " (hung: killed by the alarm after 120 s)" : "");
}
