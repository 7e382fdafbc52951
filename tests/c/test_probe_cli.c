/* test_probe_cli.c - `safeconv probe`, `safeconv cache` and `safeconv doctor` as a user runs
 * them (the executable next to the test runner), with the fault vendor. */
#include "testlib.h"

#include "safeconv.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

const char *sc_tg_build_dir(void);
bool sc_tg_use_fault_vendor(const char *rules);
void sc_tg_no_vendor(void);
bool sc_tg_tempdir(char *buf, size_t n);
void sc_tg_rmtree(const char *dir);

/* Run a shell command, stdout+stderr into *out (malloc'ed); the exit code. */
static int run(const char *cmd, char **out)
{
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t cap = 1 << 16, n = 0;
    *out = calloc(1, cap);
    size_t r;
    while (*out && (r = fread(*out + n, 1, cap - 1 - n, p)) > 0) n += r;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

SC_TEST(test_probe_cli_probe_cache_doctor)
{
    char dir[256], cmd[2048], csv[320];
    CHECK(sc_tg_tempdir(dir, sizeof dir));
    CHECK(sc_tg_use_fault_vendor("k=7:segv; hw>42:hang"));
    snprintf(csv, sizeof csv, "%s/suite.csv", dir);
    FILE *f = fopen(csv, "w");
    CHECK(f);
    fprintf(f, "# name,n,c,h,w,k,r,s,stride_h,stride_w,pad_h,pad_w,dil_h,dil_w,groups\n"
               "fine,1,3,12,12,4,3,3,1,1,1,1,1,1,1\n"
               "big,1,3,44,44,4,3,3,1,1,1,1,1,1,1\n"
               "segv,1,3,8,8,7,3,3,1,1,1,1,1,1,1\n");
    fclose(f);
    const char *b = sc_tg_build_dir();
    char *out = NULL;
    snprintf(cmd, sizeof cmd,
             "%s/safeconv probe --suite %s --direction forward --device cpu "
             "--watchdog 1 --repeat 1 --cache %s/c.sqlite 2>&1",
             b, csv, dir);
    int rc = run(cmd, &out);
    CHECK_MSG(rc == 0 && out && strstr(out, "total 3: ok 1, hang 1, crash 1"), "rc %d: %s", rc,
              out ? out : "");
    CHECK(strstr(out, "signal 11"));
    free(out);
    /* Again: from the cache. */
    rc = run(cmd, &out);
    CHECK(rc == 0 && out && strstr(out, "[cached]") && strstr(out, "(cached 3)"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s/safeconv cache show --cache %s/c.sqlite --device cpu 2>&1", b,
             dir);
    rc = run(cmd, &out);
    CHECK_MSG(rc == 0 && out && strstr(out, "3 rows (0 stale"), "%s", out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "%s/safeconv cache clear --cache %s/c.sqlite 2>&1", b, dir);
    rc = run(cmd, &out);
    CHECK(rc == 0 && out && strstr(out, "removed 3 rows"));
    free(out);
    snprintf(cmd, sizeof cmd, "SAFECONV_CACHE_DIR=%s %s/safeconv cache path", dir, b);
    rc = run(cmd, &out);
    CHECK(rc == 0 && out && strstr(out, "/safeconv.sqlite") && !strncmp(out, dir, strlen(dir)));
    free(out);
    snprintf(cmd, sizeof cmd, "SAFECONV_CACHE_DIR=%s %s/safeconv doctor 2>&1", dir, b);
    rc = run(cmd, &out);
    CHECK(rc == 0 && out && strstr(out, "verdict: ") && strstr(out, "fault 1.0"));
    free(out);
    /* Where MIOpen is in the picture (here: named), doctor says what the PyTorch layer does
     * with batch norm, in the text and among --json's hints. */
    snprintf(cmd, sizeof cmd,
             "SAFECONV_MIOPEN_LIBRARY=%s/no/libMIOpen.so.1 SAFECONV_CACHE_DIR=%s "
             "%s/safeconv doctor 2>&1",
             dir, dir, b);
    rc = run(cmd, &out);
    CHECK_MSG(rc == 0 && out && strstr(out, "hint: PyTorch on ROCm") && strstr(out, "batch norm") &&
                  strstr(out, "bypass_other_ops=False"),
              "rc %d: %s", rc, out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd,
             "SAFECONV_MIOPEN_LIBRARY=%s/no/libMIOpen.so.1 SAFECONV_CACHE_DIR=%s "
             "%s/safeconv doctor --json 2>/dev/null",
             dir, dir, b);
    rc = run(cmd, &out);
    CHECK_MSG(rc == 0 && out && strstr(out, "\"hints\"") &&
                  strstr(out, "bypass_other_ops=False keeps MIOpen"),
              "rc %d: %s", rc, out ? out : "");
    free(out);
    /* Shapes auto met are probed by --seen. */
    char cpath[320];
    snprintf(cpath, sizeof cpath, "%s/c.sqlite", dir);
    sc_context_options co;
    sc_context_options_init(&co);
    co.cache_path = cpath;
    sc_context *ctx;
    CHECK_STATUS(sc_context_create(&co, &ctx), SC_STATUS_OK);
    sc_conv2d_desc d;
    sc_conv2d_desc_init(&d);
    d.n = 1, d.c = 2, d.h = d.w = 6, d.k = 7, d.r = d.s = 3; /* k=7: segv */
    float x[72], w[126], y[7 * 16];
    for (int i = 0; i < 72; i++) x[i] = (float)i / 72;
    for (int i = 0; i < 126; i++) w[i] = (float)i / 126;
    CHECK_STATUS(sc_conv2d_forward(ctx, &d, x, w, NULL, y, NULL, 0), SC_STATUS_OK);
    sc_context_destroy(ctx);
    snprintf(cmd, sizeof cmd,
             "%s/safeconv probe --seen --device cpu --watchdog 1 --repeat 1 "
             "--cache %s 2>&1",
             b, cpath);
    rc = run(cmd, &out);
    CHECK_MSG(rc == 0 && out && strstr(out, "seen-1") &&
                  strstr(out, "total 1: ok 0, hang 0, crash 1"),
              "rc %d: %s", rc, out ? out : "");
    free(out);
    rc = run(cmd, &out);
    CHECK(rc == 0 && out && strstr(out, "no remembered shapes"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s/safeconv probe --suite /nonexistent.csv 2>&1", b);
    rc = run(cmd, &out);
    CHECK(rc == 1);
    free(out);
    snprintf(cmd, sizeof cmd, "%s/safeconv probe --watchdog x --suite %s 2>&1", b, csv);
    rc = run(cmd, &out);
    CHECK(rc == 2);
    free(out);
    sc_tg_no_vendor();
    sc_tg_rmtree(dir);
}
