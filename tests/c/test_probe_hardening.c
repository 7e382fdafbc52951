/* test_probe_hardening.c - the probe as an attacker or a careless user meets it (docs/guard.md,
 * "What the probe and the cache promise"):
 *  - the helper is never run from a relative path (options.helper, $SAFECONV_TOOL): a planted
 *    `bin/safeconv` in the working directory is not executed (the library-folder case, where
 *    libsafeconv.so itself was loaded by a relative name, is python/tests/test_probe.py's);
 *  - killing the probing process (SIGKILL, SIGTERM, SIGINT; `safeconv probe` or a library
 *    caller, exec'ed or fork-only child) takes the child with it;
 *  - non-finite options are refused by name, a huge watchdog works (no float-to-int overflow:
 *    the sanitizer build checks the conversion). */
#include "testlib.h"

#include "safeconv.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *sc_tg_build_dir(void);
bool sc_tg_use_fault_vendor(const char *rules);
void sc_tg_no_vendor(void);
bool sc_tg_tempdir(char *buf, size_t n);
void sc_tg_rmtree(const char *dir);

static sc_conv2d_desc small(int64_t h)
{
    sc_conv2d_desc d;
    sc_conv2d_desc_init(&d);
    d.n = 1, d.c = 3, d.h = d.w = h, d.k = 4, d.r = d.s = 3;
    return d;
}

/* ---- 1: never a relative helper ---- */
SC_TEST(test_probe_helper_never_relative)
{
    char dir[64], old[PATH_MAX], marker[128], script[160];
    CHECK(sc_tg_tempdir(dir, sizeof dir));
    CHECK(getcwd(old, sizeof old));
    snprintf(marker, sizeof marker, "%s/planted-ran", dir);
    snprintf(script, sizeof script, "%s/bin", dir);
    CHECK(mkdir(script, 0755) == 0);
    snprintf(script, sizeof script, "%s/bin/safeconv", dir);
    FILE *f = fopen(script, "w");
    CHECK(f);
    /* What an attacker plants: it would answer "ok, and the vendor is faster". */
    fprintf(f, "#!/bin/sh\ntouch '%s'\necho 'R 1 0 0.001 1 1 0 0 planted' >&3\n", marker);
    fclose(f);
    CHECK(chmod(script, 0755) == 0);
    CHECK(sc_tg_use_fault_vendor(NULL));
    CHECK(chdir(dir) == 0);
    sc_probe_options o;
    sc_probe_options_init(&o);
    o.cache_path = ":memory:", o.repeats = 1, o.watchdog_s = 30;
    o.helper = "bin/safeconv";
    sc_conv2d_desc d = small(8);
    sc_probe_result r;
    sc_status st1 = sc_probe_shape(&o, &d, SC_DIR_FORWARD, &r);
    char err1[300];
    snprintf(err1, sizeof err1, "%s", sc_last_error());
    o.helper = NULL;
    setenv("SAFECONV_TOOL", "bin/safeconv", 1);
    sc_status st2 = sc_probe_shape(&o, &d, SC_DIR_FORWARD, &r);
    char err2[300];
    snprintf(err2, sizeof err2, "%s", sc_last_error());
    unsetenv("SAFECONV_TOOL");
    CHECK(chdir(old) == 0);
    sc_tg_no_vendor();
    CHECK_MSG(access(marker, F_OK) != 0, "the planted bin/safeconv was executed");
    CHECK_MSG(st1 == SC_STATUS_BAD_PARAM && strstr(err1, "options.helper") &&
                  strstr(err1, "relative"),
              "options.helper relative: %s: %s", sc_status_string(st1), err1);
    CHECK_MSG(st2 == SC_STATUS_BAD_PARAM && strstr(err2, "SAFECONV_TOOL"),
              "SAFECONV_TOOL relative: %s: %s", sc_status_string(st2), err2);
    sc_tg_rmtree(dir);
}

/* ---- 2: the child dies with its parent ---- */
/* A child of `parent` (from /proc), or 0. */
static pid_t child_of(pid_t parent)
{
    DIR *dp = opendir("/proc");
    pid_t found = 0;
    struct dirent *de;
    while (dp && !found && (de = readdir(dp))) {
        char path[300], buf[512];
        if (de->d_name[0] < '1' || de->d_name[0] > '9') continue;
        snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        char *close_paren = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
        int ppid = 0;
        if (close_paren && sscanf(close_paren + 2, "%*c %d", &ppid) == 1 && ppid == parent)
            found = (pid_t)atoi(de->d_name);
    }
    if (dp) closedir(dp);
    return found;
}

static void sleep_ms(int ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

enum how {
    CLI,
    LIB_EXEC,
    LIB_FORK
};

/* The probing process: a probe of a shape that hangs in the vendor, watchdog 600 s. */
static void prober(enum how how)
{
    signal(SIGINT, SIG_DFL), signal(SIGTERM, SIG_DFL); /* not inherited as ignored */
    char tool[PATH_MAX + 16];
    snprintf(tool, sizeof tool, "%s/safeconv", sc_tg_build_dir());
    if (how == CLI) {
        execl(tool, "safeconv", "probe", "--shape", "1,3,44,44,4,3,3", "--dir", "forward",
              "--device", "-1", "--watchdog", "600", "--repeats", "1", "--cache",
              ":memory:", "--quiet", (char *)NULL);
        _exit(127);
    }
    sc_probe_options o;
    sc_probe_options_init(&o);
    o.cache_path = ":memory:", o.repeats = 1, o.watchdog_s = 600;
    o.helper = how == LIB_EXEC ? tool : "";
    sc_conv2d_desc d = small(44);
    sc_probe_result r;
    sc_probe_shape(&o, &d, SC_DIR_FORWARD, &r);
    _exit(0);
}

/* In a subreaper of its own (orphans come back to it): start the prober, wait for its child,
 * kill the prober with `sig`, then wait up to 20 s for every descendant to be gone. 0, or the
 * step that failed (32: the child outlived its parent). */
static int kill_and_watch(enum how how, int sig)
{
    if (prctl(PR_SET_CHILD_SUBREAPER, 1)) return 29;
    pid_t p = fork();
    if (p == 0) prober(how);
    pid_t g = 0;
    for (int i = 0; i < 3000 && !(g = child_of(p)); i++) sleep_ms(10);
    if (!g) {
        kill(p, SIGKILL);
        return 30;
    }
    sleep_ms(300); /* let it reach the vendor's (endless) call */
    kill(p, sig);
    int status;
    if (waitpid(p, &status, 0) != p) return 31;
    if (!WIFSIGNALED(status) || WTERMSIG(status) != sig) return 33;
    for (int i = 0; i < 2000; i++) {
        if (waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD) return 0; /* all gone */
        sleep_ms(10);
    }
    kill(-g, SIGKILL), kill(g, SIGKILL);
    while (waitpid(-1, NULL, 0) > 0) {}
    return 32;
}

SC_TEST(test_probe_child_dies_with_parent)
{
    CHECK(sc_tg_use_fault_vendor("hw>42:hang"));
    const struct {
        enum how how;
        int sig;
        const char *what;
    } cases[] = {
        {CLI, SIGKILL, "safeconv probe, SIGKILL"},
        {CLI, SIGTERM, "safeconv probe, SIGTERM"},
        {CLI, SIGINT, "safeconv probe, SIGINT (Ctrl-C)"},
        {LIB_EXEC, SIGKILL, "sc_probe_shape (exec'ed helper), SIGKILL"},
        {LIB_FORK, SIGKILL, "sc_probe_shape (fork-only child), SIGKILL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fflush(NULL);
        pid_t h = fork();
        if (h == 0) _exit(kill_and_watch(cases[i].how, cases[i].sig));
        int status;
        CHECK(waitpid(h, &status, 0) == h);
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
        CHECK_MSG(code == 0, "%s: step %d%s", cases[i].what, code,
                  code == 32 ? " (the probe child outlived its parent)" : "");
    }
    sc_tg_no_vendor();
}

/* ---- 8: numbers that are not numbers ---- */
SC_TEST(test_probe_non_finite_options)
{
    CHECK(sc_tg_use_fault_vendor(NULL));
    sc_probe_options o;
    sc_probe_options_init(&o);
    o.cache_path = ":memory:", o.repeats = 1;
    sc_conv2d_desc d = small(8);
    sc_probe_result r;
    o.watchdog_s = INFINITY;
    CHECK_STATUS(sc_probe_shape(&o, &d, SC_DIR_FORWARD, &r), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("options.watchdog_s");
    o.watchdog_s = 30, o.tolerance = NAN;
    CHECK_STATUS(sc_probe_shape(&o, &d, SC_DIR_FORWARD, &r), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("options.tolerance");
    o.tolerance = 0, o.slow_s = INFINITY;
    CHECK_STATUS(sc_probe_shape(&o, &d, SC_DIR_FORWARD, &r), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("options.slow_s");
    /* A watchdog of 35 days is a number like any other (it used to overflow an int). */
    o.slow_s = 30, o.watchdog_s = 3e6;
    CHECK_STATUS(sc_probe_shape(&o, &d, SC_DIR_FORWARD, &r), SC_STATUS_OK);
    CHECK_MSG(r.outcome == SC_PROBE_OK, "%s: %s", sc_probe_outcome_name(r.outcome), r.detail);
    o.watchdog_s = 1e300;
    CHECK_STATUS(sc_probe_shape(&o, &d, SC_DIR_FORWARD, &r), SC_STATUS_OK);
    sc_tg_no_vendor();
}
