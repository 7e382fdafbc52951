/* probe.c - the parent side of a probe: for each shape and direction, answer from the cache or
 * start a child (probe_child.c) under a watchdog, classify what happened, write it to the cache.
 *
 * The child is a fresh executable (`safeconv probe --child FD REQUEST`), never a fork that goes
 * on using the parent's GPU state: CUDA/HIP cannot be used in a forked child of a process that
 * initialised them. Only a CPU-only probe with no `safeconv` executable to be found forks
 * without exec. Each child leads its own process group; on the watchdog the whole group gets
 * SIGKILL, so nothing it started outlives it. Core dumps are off in children.
 *
 * Under attack and faults (docs/guard.md, "What the probe and the cache promise"):
 *  - the helper is never run from a relative path: options.helper and $SAFECONV_TOOL must be
 *    absolute, and the folder of libsafeconv.so is made absolute when the library is loaded;
 *  - a child dies with its parent (PR_SET_PDEATHSIG, checked after it is set), and
 *    sc_probe_kill_children() (async-signal-safe: `safeconv probe` calls it on SIGINT, SIGTERM
 *    and SIGHUP) kills the process groups of the children running;
 *  - the exec'ed child is started with _Fork (no atfork handlers: OpenBLAS's would wait for
 *    other threads' sgemm calls); the fork-only child is forked with the fork gate closed
 *    (common/fork_gate.h) and the vendor lock held, so it inherits no lock held by a thread
 *    that does not exist in it;
 *  - a failure of the machinery (no pipe or fork, a helper that cannot run, a child that died
 *    or gave up before calling the vendor: out of memory, a dtype the CPU cannot run, a signal
 *    in safeconv's own run) is reported but never cached as the vendor's outcome. */
#include "common/fork_gate.h"
#include "guard/guard.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void sc_probe_options_init(sc_probe_options *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->device = SC_DEVICE_CPU;
    o->deterministic = 1;
    o->watchdog_s = 120;
    o->slow_s = 30;
    o->repeats = 5;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static bool executable(const char *p) { return p && *p && access(p, X_OK) == 0; }

/* The folder of the file this code was loaded from, made absolute when it is loaded. dladdr
 * gives the name the loader was given (`SAFECONV_LIBRARY=build/libsafeconv.so`,
 * `LD_LIBRARY_PATH=build`), relative to the working directory of that moment; at probe time
 * the process may be anywhere, and `build/safeconv` there is anybody's program. Empty when
 * unknown (a bare name: found through a search path we cannot redo). */
static char lib_dir[PATH_MAX];

__attribute__((constructor)) static void remember_lib_dir(void)
{
    Dl_info info;
    if (!dladdr((void *)remember_lib_dir, &info) || !info.dli_fname) return;
    const char *name = info.dli_fname;
    char path[PATH_MAX], cwd[PATH_MAX];
    if (!strchr(name, '/')) return;
    if (name[0] == '/') {
        if (snprintf(path, sizeof path, "%s", name) >= (int)sizeof path) return;
    } else {
        if (!getcwd(cwd, sizeof cwd)) return;
        if (snprintf(path, sizeof path, "%s/%s", cwd, name) >= (int)sizeof path) return;
    }
    *strrchr(path, '/') = 0;
    snprintf(lib_dir, sizeof lib_dir, "%s", path);
}

/* The safeconv executable for children into buf: 1 found, 0 none (fork instead), -1 a
 * relative path given (error set): never resolved against the working directory. */
static int find_helper(const sc_probe_options *o, char *buf, size_t n)
{
    if (o->helper) {
        if (!*o->helper) return 0;
        if (o->helper[0] != '/')
            return sc__fail(SC_STATUS_BAD_PARAM,
                            "options.helper: '%.200s' is a relative path; give an absolute one "
                            "(it would be looked up from whatever folder the process is in)",
                            o->helper),
                   -1;
        snprintf(buf, n, "%s", o->helper);
        return 1;
    }
    const char *env = getenv("SAFECONV_TOOL");
    if (env && *env && env[0] != '/')
        return sc__fail(SC_STATUS_BAD_PARAM,
                        "SAFECONV_TOOL: '%.200s' is a relative path; give an absolute one (it "
                        "would be looked up from whatever folder the process is in)",
                        env),
               -1;
    if (executable(env)) {
        snprintf(buf, n, "%s", env);
        return 1;
    }
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len > 0) {
        self[len] = 0;
        char *slash = strrchr(self, '/');
        if (slash && !strcmp(slash + 1, "safeconv")) {
            snprintf(buf, n, "%s", self);
            return 1;
        }
        if (slash) {
            snprintf(slash + 1, sizeof self - (size_t)(slash + 1 - self), "safeconv");
            if (executable(self)) {
                snprintf(buf, n, "%s", self);
                return 1;
            }
        }
    }
    if (lib_dir[0]) {
        char cand[PATH_MAX + 32];
        snprintf(cand, sizeof cand, "%.4000s/safeconv", lib_dir);
        if (!executable(cand)) snprintf(cand, sizeof cand, "%.4000s/../bin/safeconv", lib_dir);
        if (executable(cand) && strlen(cand) < n) {
            memcpy(buf, cand, strlen(cand) + 1);
            return 1;
        }
    }
    return 0;
}

/* ---- children running now, for sc_probe_kill_children (a signal handler) ---- */
#define LIVE_SLOTS 64
static atomic_int live[LIVE_SLOTS];

static void track(pid_t pid)
{
    for (int i = 0; i < LIVE_SLOTS; i++) {
        int free_slot = 0;
        if (atomic_compare_exchange_strong(&live[i], &free_slot, (int)pid)) return;
    }
}

/* Called before the child is reaped: until then its pid (and group id) cannot be reused. */
static void untrack(pid_t pid)
{
    for (int i = 0; i < LIVE_SLOTS; i++) {
        int was = (int)pid;
        if (atomic_compare_exchange_strong(&live[i], &was, 0)) return;
    }
}

void sc_probe_kill_children(void)
{
    for (int i = 0; i < LIVE_SLOTS; i++) {
        int pid = atomic_load(&live[i]);
        if (pid > 0) {
            kill(-pid, SIGKILL); /* the group: whatever the child started */
            kill(pid, SIGKILL);  /* the child, should it not lead its group yet */
        }
    }
}

/* fork for a child that only execs: no atfork handlers (OpenBLAS's waits for other threads'
 * sgemm calls, and could wait forever); the child calls async-signal-safe functions only. */
static pid_t fork_to_exec(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    return _Fork();
#else
    return fork();
#endif
}

static void request_line(const sc_probe_options *o, const sc_conv2d_desc *d, sc_direction dir,
                         char *buf, size_t n)
{
    snprintf(buf, n,
             "%d %d %d %d %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld "
             "%d %d %.17g %.17g %d %llu",
             SC_PROBE_PROTOCOL, (int)dir, (int)d->dtype, (int)d->layout, (long long)d->n,
             (long long)d->c, (long long)d->h, (long long)d->w, (long long)d->k, (long long)d->r,
             (long long)d->s, (long long)d->pad_h, (long long)d->pad_w, (long long)d->stride_h,
             (long long)d->stride_w, (long long)d->dil_h, (long long)d->dil_w, (long long)d->groups,
             o->deterministic ? 1 : 0, o->device, o->slow_s, o->tolerance, o->repeats,
             (unsigned long long)o->seed);
}

/* Wait for pid up to `secs` (polling: a child stuck in the GPU driver may take a while to go).
 * Once it has exited, its process group is killed *before* it is reaped: while the leader is
 * an unreaped zombie its pid, and so the group id, cannot be reused, so the kill reaches only
 * what the child left behind. Returns 1 when reaped (*status set), 0 on time-out, -1 when the
 * child is not ours to wait for any more (SIGCHLD ignored, or reaped by someone else's
 * waitpid(-1)): its exit status is unknown. */
static int reap(pid_t pid, int *status, double secs)
{
    double end = now_s() + secs;
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        int r = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (si.si_pid == pid) {
            kill(-pid, SIGKILL);
            untrack(pid);
            while (waitpid(pid, status, 0) < 0)
                if (errno != EINTR) return -1;
            return 1;
        }
        if (now_s() > end) return 0;
        struct timespec t = {0, 2000000};
        nanosleep(&t, NULL);
    }
}

/* Children killed but not yet gone (stuck in a driver call): reaped later, so no zombie is
 * left behind by a finished probe. */
static pthread_mutex_t unreaped_mu = PTHREAD_MUTEX_INITIALIZER;
static pid_t unreaped[64];
static int nunreaped;

static void remember_unreaped(pid_t pid)
{
    pthread_mutex_lock(&unreaped_mu);
    if (nunreaped < 64) unreaped[nunreaped++] = pid;
    pthread_mutex_unlock(&unreaped_mu);
}

static void reap_leftovers(double secs)
{
    pthread_mutex_lock(&unreaped_mu);
    for (int i = 0; i < nunreaped;) {
        int st;
        kill(-unreaped[i], SIGKILL); /* still unreaped: the group id is still this child's */
        if (reap(unreaped[i], &st, secs) != 0)
            unreaped[i] = unreaped[--nunreaped];
        else
            i++;
    }
    pthread_mutex_unlock(&unreaped_mu);
}

/* Run one child; fill res (outcome, times, detail). Returns false when the outcome is about
 * the probe machinery rather than the vendor (no pipe or fork, a helper that cannot run or
 * speaks another protocol, a child that never reached the vendor, an exit status nobody can
 * read): such results are reported but not cached, so a fixed setup probes again. */
static bool run_child(const sc_probe_options *o, const char *helper, const sc_conv2d_desc *d,
                      sc_direction dir, sc_probe_result *res)
{
    char req[512];
    request_line(o, d, dir, req, sizeof req);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC)) {
        res->outcome = SC_PROBE_ERROR;
        snprintf(res->detail, sizeof res->detail, "probe: pipe: %s", strerror(errno));
        return false;
    }
    /* Everything the child needs is prepared here: between fork and exec it only calls
     * async-signal-safe functions (the parent may have other threads). Under a sanitizer build
     * the exec'ed child gets handle_segv=0 etc., so that a crash reads as a crash, not as
     * ASan's exit code 1. */
    extern char **environ;
    size_t nenv = 0;
    while (environ[nenv]) nenv++;
    char **envp = calloc(nenv + 2, sizeof *envp);
    char asan[1200];
    const char *old_asan = getenv("ASAN_OPTIONS");
    snprintf(asan, sizeof asan,
             "ASAN_OPTIONS=%.1000s%shandle_segv=0:handle_sigbus=0:"
             "handle_sigfpe=0:handle_abort=0",
             old_asan ? old_asan : "", old_asan && *old_asan ? ":" : "");
    if (envp) {
        size_t k = 0;
        for (size_t i = 0; i < nenv; i++)
            if (strncmp(environ[i], "ASAN_OPTIONS=", 13)) envp[k++] = environ[i];
        envp[k++] = asan;
        envp[k] = NULL;
    }
    bool quiet = !getenv("SAFECONV_PROBE_VERBOSE");
    char *argv[] = {(char *)helper, "probe", "--child", "3", req, NULL};
    fflush(NULL);
    double t0 = now_s();
    pid_t parent = getpid();
    pid_t pid;
    if (helper) {
        pid = fork_to_exec();
    } else {
        /* The child runs safeconv's code: fork (malloc and stdio made safe by libc) with no
         * thread inside a CPU kernel and the vendor lock held (fork_gate.h). */
        sc__fork_gate_close();
        sc__vendor_fork_lock();
        pid = fork();
        sc__vendor_fork_unlock(pid == 0);
        sc__fork_gate_open(pid == 0);
    }
    if (pid < 0) {
        close(fds[0]), close(fds[1]);
        free(envp);
        res->outcome = SC_PROBE_ERROR;
        snprintf(res->detail, sizeof res->detail, "probe: fork: %s", strerror(errno));
        return false;
    }
    if (pid == 0) {
        /* Die with the parent, whatever kills it. Set after the fork, so check that the
         * parent did not die before: then this child has been re-parented already. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        setpgid(0, 0);
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL), signal(SIGSEGV, SIG_DFL), signal(SIGABRT, SIG_DFL);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            if (quiet) dup2(devnull, 1), dup2(devnull, 2);
        }
        /* The result pipe becomes fd 3, without close-on-exec. */
        if (fds[1] == 3)
            fcntl(3, F_SETFD, 0);
        else
            dup2(fds[1], 3);
        if (helper) {
            if (envp)
                execve(helper, argv, envp);
            else
                execv(helper, argv);
            _exit(127);
        }
        /* Fork-only (CPU probe, no executable found): the parent never touched a GPU. */
        _exit(sc__probe_child_run(req, 3));
    }
    free(envp);
    track(pid);
    setpgid(pid, pid); /* also done by the child: whichever runs first */
    res->child_pid = (int)pid;
    close(fds[1]);
    char buf[2048];
    size_t got = 0;
    bool hung = false;
    for (;;) {
        double left = o->watchdog_s - (now_s() - t0);
        if (left <= 0) {
            hung = true;
            break;
        }
        struct pollfd p = {fds[0], POLLIN, 0};
        /* At most an hour per wait (the loop re-checks): a long watchdog is not an int. */
        int pr = poll(&p, 1, left < 3600 ? (int)(left * 1000) + 1 : 3600 * 1000);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) continue; /* timeout: re-checked above */
        ssize_t r = read(fds[0], buf + got, sizeof buf - 1 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break; /* EOF: the child closed it (exit or death) */
        got += (size_t)r;
        buf[got] = 0;
        char *rl = strstr(buf, "R ");
        if (got >= sizeof buf - 1 || (rl && (rl == buf || rl[-1] == '\n') && strchr(rl, '\n')))
            break; /* the result is in */
    }
    buf[got] = 0;
    close(fds[0]);
    /* The result line, and the phase the child last announced. */
    char *line = NULL, *ph = NULL;
    for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (!strncmp(l, "R ", 2)) line = l;
        if (!strncmp(l, "P ", 2)) ph = l + 2;
    }
    bool in_vendor = ph && !strncmp(ph, "vendor", 6);
    got = line ? strlen(line) : 0;
    int status = 0, reaped = 0;
    if (hung) {
        kill(-pid, SIGKILL); /* not reaped yet: the group id is still this child's */
    } else {
        double left = o->watchdog_s - (now_s() - t0);
        reaped = reap(pid, &status, left > 0 ? left : 0);
        if (reaped == 0) {
            /* It would not exit in time: killed. With its result line in, the result stands
             * (the vendor hung in clean-up); without one, it hung. */
            kill(-pid, SIGKILL);
            if (got) {
                reaped = reap(pid, &status, 10.0);
                if (reaped == 0) remember_unreaped(pid);
                status = 0;
            } else {
                hung = true;
            }
        }
    }
    if (hung) {
        int rr = reap(pid, &status, 10.0);
        if (rr == 0) {
            snprintf(res->detail, sizeof res->detail, "killed; still exiting (in the driver?)");
            remember_unreaped(pid);
        }
        res->elapsed_s = now_s() - t0;
        if (!in_vendor) {
            /* Not started, or still in safeconv's own run: the vendor was never called. */
            res->outcome = SC_PROBE_ERROR;
            snprintf(res->detail, sizeof res->detail,
                     "%s within the %.3g s watchdog; raise it "
                     "for this shape",
                     ph ? "safeconv's own run did not finish" : "the child did not start",
                     o->watchdog_s);
            return false;
        }
        res->outcome = SC_PROBE_HANG;
        if (!res->detail[0])
            snprintf(res->detail, sizeof res->detail, "no result after %.1f s%s; killed",
                     o->watchdog_s,
                     in_vendor ? " in the vendor's first call (hung, or compiling longer than that)"
                               : "");
        return true;
    }
    res->elapsed_s = now_s() - t0;
    if (reaped > 0 && WIFSIGNALED(status)) {
        res->signal = WTERMSIG(status);
        if (!in_vendor) {
            /* Not the vendor's doing: it was not called (safeconv's own run, out of memory
             * and killed, ...). Reported, not cached. */
            res->outcome = SC_PROBE_ERROR;
            snprintf(res->detail, sizeof res->detail,
                     "the child died of signal %d (%s) %s, before calling the vendor", res->signal,
                     strsignal(res->signal), ph ? "in safeconv's own run" : "while starting");
            return false;
        }
        res->outcome = SC_PROBE_CRASH;
        snprintf(res->detail, sizeof res->detail, "signal %d (%s)", res->signal,
                 strsignal(res->signal));
        return true;
    }
    int outcome, algo;
    unsigned long long ws;
    int off = 0;
    if (line &&
        sscanf(line, "R %d %d %lf %lf %lf %lf %llu %n", &outcome, &algo, &res->vendor_ms,
               &res->safeconv_ms, &res->first_call_ms, &res->rel_error, &ws, &off) >= 7 &&
        (unsigned)outcome <= SC_PROBE_NO_VENDOR) {
        res->outcome = (sc_probe_outcome)outcome;
        res->vendor_algo = algo;
        res->workspace = ws;
        char *detail = line + off;
        detail[strcspn(detail, "\n")] = 0;
        snprintf(res->detail, sizeof res->detail, "%s", detail);
        if (!strcmp(res->detail, "probe child: bad request")) { /* a child from another build */
            snprintf(res->detail, sizeof res->detail,
                     "the probe child did not understand the "
                     "request (a safeconv executable from another build? set SAFECONV_TOOL)");
            return false;
        }
        /* An error before the vendor phase, or after the child left it ("P probe": its own
         * allocation failed), is the probe's: out of memory, a dtype the CPU cannot run. */
        if (res->outcome == SC_PROBE_ERROR && !in_vendor) return false;
        return true;
    }
    res->outcome = SC_PROBE_ERROR;
    if (reaped < 0) {
        snprintf(res->detail, sizeof res->detail,
                 "the child's exit status is unavailable "
                 "(SIGCHLD ignored, or reaped elsewhere) and it sent no result");
        return false;
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code == 127 && helper) {
        snprintf(res->detail, sizeof res->detail, "cannot run the probe helper %.150s", helper);
        return false;
    }
    snprintf(res->detail, sizeof res->detail, "child exited with code %d and no result%s", code,
             in_vendor ? "" : ", before calling the vendor");
    return in_vendor; /* the vendor may call exit(); before it, the helper failed */
}

static void progress(const sc_probe_options *o, int done, int total, const int counts[8],
                     const sc_probe_result *r, int cached)
{
    if (o->on_result) o->on_result(o->user, done, total, counts, r);
    if (!o->progress) return;
    char tally[200];
    snprintf(tally, sizeof tally,
             "ok %d  hang %d  crash %d  error %d  wrong %d  slow %d  (cached %d)",
             counts[SC_PROBE_OK], counts[SC_PROBE_HANG], counts[SC_PROBE_CRASH],
             counts[SC_PROBE_ERROR], counts[SC_PROBE_WRONG], counts[SC_PROBE_SLOW], cached);
    if (isatty(2)) {
        char bar[31];
        int fill = total ? done * 30 / total : 30;
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
        bar[30] = 0;
        fprintf(stderr, "\rprobe [%s] %d/%d  %s", bar, done, total, tally);
        if (done == total) fputc('\n', stderr);
    } else {
        static const char *const dn[] = {"fwd", "bwd_data", "bwd_weight", "bwd_bias"};
        const sc_conv2d_desc *d = &r->desc;
        fprintf(stderr,
                "probe %d/%d %s n%lld c%lld %lldx%lld k%lld %lldx%lld s%lld g%lld: %s%s  | %s\n",
                done, total, dn[r->dir & 3], (long long)d->n, (long long)d->c, (long long)d->h,
                (long long)d->w, (long long)d->k, (long long)d->r, (long long)d->s,
                (long long)d->stride_h, (long long)d->groups, sc_probe_outcome_name(r->outcome),
                r->from_cache ? " (cached)" : "", tally);
    }
}

static void fill_from_entry(sc_probe_result *r, const sc_cache_entry *e)
{
    r->outcome = e->outcome;
    r->vendor_algo = e->vendor_algo;
    r->vendor_ms = e->vendor_ms, r->safeconv_ms = e->safeconv_ms;
    r->workspace = e->workspace;
    snprintf(r->detail, sizeof r->detail, "%s", e->detail);
    r->from_cache = 1;
}

sc_status sc_probe_suite(const sc_probe_options *opt, const sc_conv2d_desc *descs, size_t n,
                         unsigned dir_mask, sc_probe_result *results)
{
    sc__clear_error();
    sc_probe_options o;
    if (opt)
        o = *opt;
    else
        sc_probe_options_init(&o);
    if (!descs && n) return sc__fail(SC_STATUS_BAD_PARAM, "descs: NULL");
    if (!results && n) return sc__fail(SC_STATUS_BAD_PARAM, "results: NULL");
    if (!dir_mask || (dir_mask & ~0xfu))
        return sc__fail(SC_STATUS_BAD_PARAM, "dir_mask: 0x%x; set bits 1 << SC_DIR_* (0..3)",
                        dir_mask);
    if (!(o.watchdog_s > 0) || !isfinite(o.watchdog_s))
        return sc__fail(SC_STATUS_BAD_PARAM, "options.watchdog_s: %g; must be finite and > 0",
                        o.watchdog_s);
    if (!(o.slow_s > 0) || !isfinite(o.slow_s))
        return sc__fail(SC_STATUS_BAD_PARAM, "options.slow_s: %g; must be finite and > 0",
                        o.slow_s);
    if (!(o.tolerance >= 0) || !isfinite(o.tolerance))
        return sc__fail(SC_STATUS_BAD_PARAM, "options.tolerance: %g; must be finite and >= 0",
                        o.tolerance);
    if (o.repeats < 1 || o.repeats > 100)
        return sc__fail(SC_STATUS_BAD_PARAM, "options.repeats: %d, must be 1..100", o.repeats);
    if (o.device >= 0 && o.device >= sc_device_count())
        return sc__fail(SC_STATUS_NOT_AVAILABLE, "options.device: GPU %d not present", o.device);
    for (size_t i = 0; i < n; i++)
        if (sc_conv2d_validate(&descs[i])) {
            char msg[400];
            snprintf(msg, sizeof msg, "%s", sc_last_error());
            return sc__fail(SC_STATUS_BAD_PARAM, "descs[%zu]: %s", i, msg);
        }
    int ndirs = 0;
    sc_direction dirs[4];
    for (int j = 0; j < 4; j++)
        if (dir_mask & (1u << j)) dirs[ndirs++] = (sc_direction)j;
    int total = (int)n * ndirs;

    const char *why = "";
    const sc_vendor_adapter *ad = sc__vendor_get(&why);
    bool serves = sc__vendor_serves(ad, o.device);
    sc_cache *cache = NULL;
    sc_cache_key env;
    memset(&env, 0, sizeof env);
    if (serves) {
        sc_status st = sc_cache_open(o.cache_path, &cache);
        if (!st) st = sc__cache_env_key(o.device, ad, &env);
        if (st) {
            sc_cache_close(cache);
            return st;
        }
    }
    char helper_buf[PATH_MAX];
    int have_helper = -2; /* resolved on first need */
    int counts[8] = {0}, cached = 0, done = 0;
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < ndirs; j++) {
            sc_probe_result *r = &results[i * (size_t)ndirs + (size_t)j];
            memset(r, 0, sizeof *r);
            r->desc = descs[i], r->dir = dirs[j];
            sc_cache_entry e;
            memset(&e, 0, sizeof e);
            e.key = env;
            e.key.desc = descs[i], e.key.dir = dirs[j],
            e.key.deterministic = o.deterministic ? 1 : 0;
            int found = 0;
            if (!serves || dirs[j] == SC_DIR_BACKWARD_BIAS) {
                r->outcome = SC_PROBE_NO_VENDOR;
                snprintf(r->detail, sizeof r->detail, "%s",
                         !serves ? (ad ? "the vendor library works on another memory space" : why)
                                 : "the bias gradient is never sent to the vendor");
            } else if (!o.force && !sc_cache_get(cache, &e.key, &e, &found) && found &&
                       e.outcome > SC_PROBE_SEEN && e.outcome < SC_PROBE_NO_VENDOR) {
                /* An answer; 'seen', 'no-vendor' and codes nobody knows (a file from another
                 * build, or planted) are probed again. */
                fill_from_entry(r, &e);
                cached++;
            } else {
                if (have_helper == -2) {
                    have_helper = find_helper(&o, helper_buf, sizeof helper_buf);
                    if (have_helper < 0) {
                        sc_cache_close(cache);
                        return SC_STATUS_BAD_PARAM; /* a relative path: error set */
                    }
                    if (!have_helper && o.device >= 0) {
                        sc_cache_close(cache);
                        return sc__fail(SC_STATUS_NOT_AVAILABLE,
                                        "probe: no `safeconv` executable found for the child "
                                        "processes of a GPU probe; set SAFECONV_TOOL or "
                                        "options.helper");
                    }
                }
                bool about_vendor =
                    run_child(&o, have_helper ? helper_buf : NULL, &descs[i], dirs[j], r);
                e.key.desc = descs[i], e.key.dir = dirs[j];
                e.outcome = r->outcome, e.vendor_algo = r->vendor_algo;
                e.vendor_ms = r->vendor_ms, e.safeconv_ms = r->safeconv_ms;
                e.workspace = r->workspace, e.updated = 0;
                snprintf(e.detail, sizeof e.detail, "%s", r->detail);
                if (r->outcome != SC_PROBE_NO_VENDOR && about_vendor) sc_cache_put(cache, &e);
                sc__clear_error();
            }
            sc_cache_entry tmp = {
                .outcome = r->outcome, .vendor_ms = r->vendor_ms, .safeconv_ms = r->safeconv_ms};
            r->use_vendor = sc__cache_prefers_vendor(&tmp);
            counts[r->outcome & 7]++;
            progress(&o, ++done, total, counts, r, cached);
        }
    sc_cache_close(cache);
    reap_leftovers(1.0);
    sc__cache_bump_generation();
    return SC_STATUS_OK;
}

sc_status sc_probe_shape(const sc_probe_options *opt, const sc_conv2d_desc *d, sc_direction dir,
                         sc_probe_result *res)
{
    if ((unsigned)dir > SC_DIR_BACKWARD_BIAS)
        return sc__fail(SC_STATUS_BAD_PARAM, "dir: unknown direction %d", (int)dir);
    if (!d) return sc__fail(SC_STATUS_BAD_PARAM, "d: NULL");
    if (!res) return sc__fail(SC_STATUS_BAD_PARAM, "res: NULL");
    return sc_probe_suite(opt, d, 1, 1u << dir, res);
}

typedef struct {
    sc_cache_key env;
    int det;
    sc_conv2d_desc *descs;
    sc_direction *dirs;
    size_t n, cap;
    bool oom;
} pending_ctx;

static int collect(const sc_cache_entry *e, void *user)
{
    pending_ctx *pc = user;
    if (e->outcome != SC_PROBE_SEEN || e->key.deterministic != pc->det ||
        !sc__cache_same_env(&e->key, &pc->env))
        return 0;
    /* A row nobody can probe (another build's, or planted: dir -1, groups that do not divide)
     * is passed over rather than blocking the others. */
    if ((unsigned)e->key.dir > SC_DIR_BACKWARD_WEIGHT || sc_conv2d_validate(&e->key.desc)) {
        sc__clear_error();
        return 0;
    }
    if (pc->n == pc->cap) {
        size_t cap = pc->cap ? pc->cap * 2 : 16;
        sc_conv2d_desc *d = realloc(pc->descs, cap * sizeof *d);
        if (d) pc->descs = d;
        sc_direction *r = realloc(pc->dirs, cap * sizeof *r);
        if (r) pc->dirs = r;
        if (!d || !r) return pc->oom = true, 1;
        pc->cap = cap;
    }
    pc->descs[pc->n] = e->key.desc, pc->dirs[pc->n] = e->key.dir, pc->n++;
    return 0;
}

sc_status sc_probe_pending(const sc_probe_options *opt, sc_conv2d_desc **descs, sc_direction **dirs,
                           size_t *count)
{
    sc__clear_error();
    if (!descs || !dirs || !count)
        return sc__fail(SC_STATUS_BAD_PARAM, "%s: NULL",
                        !descs  ? "descs"
                        : !dirs ? "dirs"
                                : "count");
    *descs = NULL, *dirs = NULL, *count = 0;
    sc_probe_options o;
    if (opt)
        o = *opt;
    else
        sc_probe_options_init(&o);
    const sc_vendor_adapter *ad = sc__vendor_get(NULL);
    if (!sc__vendor_serves(ad, o.device)) return SC_STATUS_OK;
    pending_ctx pc;
    memset(&pc, 0, sizeof pc);
    pc.det = o.deterministic ? 1 : 0;
    sc_status st = sc__cache_env_key(o.device, ad, &pc.env);
    if (st) return st;
    sc_cache *c;
    if ((st = sc_cache_open(o.cache_path, &c))) return st;
    st = sc_cache_foreach(c, collect, &pc);
    sc_cache_close(c);
    if (!st && pc.oom) st = sc__fail(SC_STATUS_OUT_OF_MEMORY, "pending: allocation failed");
    if (st) {
        free(pc.descs), free(pc.dirs);
        return st;
    }
    *descs = pc.descs, *dirs = pc.dirs, *count = pc.n;
    return SC_STATUS_OK;
}
