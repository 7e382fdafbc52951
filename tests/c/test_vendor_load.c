/* test_vendor_load.c - the built-in vendor adapters' loader (sc__vendor_lib_load, vendor.c):
 * which file it opens, what it reports when none opens or a function is missing, that a file
 * the user names is never searched past, and that the result is kept. libm stands in for the
 * vendor library (every glibc system has it; its cos and sin are the "vendor functions"). The
 * adapters themselves (cudnn.c, miopen.c) are loaded in child processes, because each keeps its
 * result for the life of the process. */
#include "testlib.h"

#include "vendorlib/vendor.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static double (*p_cos)(double);
static double (*p_sin)(double);
static int versions; /* calls of ver_cb */

static void ver_cb(char *ver, size_t len)
{
    versions++;
    snprintf(ver, len, "cos(0)=%g", p_cos(0.0)); /* the functions are resolved by now */
}

static const char *const libm_names[] = {"/nonexistent/libvendor.so.1", "libm.so.6"};

SC_TEST(vendor_load_searches_names_in_order_and_resolves)
{
    sc_vendor_lib lib = SC_VENDOR_LIB_INIT;
    const sc_vendor_sym syms[] = {{"cos", (void **)&p_cos, false}, {"sin", (void **)&p_sin, false}};
    char err[256] = "";
    unsetenv("SC_TEST_VENDOR_LIB");
    versions = 0, p_cos = NULL, p_sin = NULL;
    int rc = sc__vendor_lib_load(&lib, "SC_TEST_VENDOR_LIB", libm_names, 2, syms, 2, ver_cb, err,
                                 sizeof err);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, err);
    CHECK(!strcmp(lib.name, "libm.so.6")); /* the first name does not exist */
    CHECK(p_cos && p_sin && p_sin(0.0) == 0.0);
    CHECK_MSG(!strcmp(lib.ver, "cos(0)=1") && versions == 1, "ver '%s', %d calls", lib.ver,
              versions);
    /* kept: a second call neither reloads nor calls the version callback again */
    p_cos = NULL;
    CHECK(sc__vendor_lib_load(&lib, "SC_TEST_VENDOR_LIB", libm_names, 2, syms, 2, ver_cb, err,
                              sizeof err) == 0);
    CHECK(versions == 1 && p_cos == NULL);
}

SC_TEST(vendor_load_names_a_missing_function)
{
    sc_vendor_lib lib = SC_VENDOR_LIB_INIT;
    void *absent = NULL, *optional = (void *)1;
    const sc_vendor_sym syms[] = {{"cos", (void **)&p_cos, false},
                                  {"sc_no_such_vendor_fn", &optional, true},
                                  {"sc_no_such_vendor_fn2", &absent, false},
                                  {"sin", (void **)&p_sin, false}};
    char err[256] = "";
    unsetenv("SC_TEST_VENDOR_LIB");
    versions = 0;
    CHECK(sc__vendor_lib_load(&lib, "SC_TEST_VENDOR_LIB", libm_names, 2, syms, 4, ver_cb, err,
                              sizeof err) == 1);
    CHECK_MSG(!strcmp(err, "libm.so.6 lacks sc_no_such_vendor_fn2"), "err '%s'", err);
    CHECK(optional == NULL); /* an optional one that is missing is left NULL, not fatal */
    CHECK(versions == 0);    /* no version from a library that failed */
    /* the failure is kept, with its message */
    err[0] = 0;
    CHECK(sc__vendor_lib_load(&lib, "SC_TEST_VENDOR_LIB", libm_names, 2, syms, 1, ver_cb, err,
                              sizeof err) == 1);
    CHECK_MSG(strstr(err, "lacks sc_no_such_vendor_fn2"), "err '%s'", err);
}

SC_TEST(vendor_load_reports_the_first_name_when_none_opens)
{
    sc_vendor_lib lib = SC_VENDOR_LIB_INIT;
    const char *const names[] = {"/nonexistent/a/libvendor.so.9", "/nonexistent/b/libvendor.so"};
    char err[256] = "";
    unsetenv("SC_TEST_VENDOR_LIB");
    CHECK(sc__vendor_lib_load(&lib, "SC_TEST_VENDOR_LIB", names, 2, NULL, 0, NULL, err,
                              sizeof err) == 1);
    CHECK_MSG(!strncmp(err, "not found: ", 11) && strstr(err, "/nonexistent/a/libvendor.so.9"),
              "err '%s'", err);
}

SC_TEST(vendor_load_never_searches_past_a_named_file)
{
    /* The variable names a file that does not exist: the search names (libm, which would open)
     * are not tried, and the error names the user's file. */
    sc_vendor_lib lib = SC_VENDOR_LIB_INIT;
    const char *const names[] = {"libm.so.6"};
    char err[256] = "";
    setenv("SC_TEST_VENDOR_LIB", "/nonexistent/named/libvendor.so", 1);
    int rc =
        sc__vendor_lib_load(&lib, "SC_TEST_VENDOR_LIB", names, 1, NULL, 0, NULL, err, sizeof err);
    unsetenv("SC_TEST_VENDOR_LIB");
    CHECK(rc == 1 && lib.name[0] == 0);
    CHECK_MSG(strstr(err, "not found: ") && strstr(err, "/nonexistent/named/libvendor.so"),
              "err '%s'", err);
    /* An empty value is unset: the names are searched. */
    sc_vendor_lib lib2 = SC_VENDOR_LIB_INIT;
    setenv("SC_TEST_VENDOR_LIB", "", 1);
    rc = sc__vendor_lib_load(&lib2, "SC_TEST_VENDOR_LIB", names, 1, NULL, 0, NULL, err, sizeof err);
    unsetenv("SC_TEST_VENDOR_LIB");
    CHECK(rc == 0 && !strcmp(lib2.name, "libm.so.6"));
}

/* adapter->load() in a child process with `var` set to `value`; its error text in out. */
static int load_in_child(const sc_vendor_adapter *ad, const char *var, const char *value, char *out,
                         size_t len)
{
    int fd[2];
    if (pipe(fd)) return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        close(fd[0]);
        setenv(var, value, 1);
        char err[256] = "";
        int rc = ad->load(err, sizeof err);
        ssize_t w = write(fd[1], err, strlen(err));
        (void)w;
        _exit(rc == 0 ? 0 : 1);
    }
    close(fd[1]);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < len && (r = read(fd[0], out + got, len - 1 - got)) > 0) got += (size_t)r;
    out[got] = 0;
    close(fd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

SC_TEST(vendor_adapters_load_through_their_variables)
{
    char out[256];
    /* MIOpen's variable names libm: it opens and lacks MIOpen's first function */
    int rc =
        load_in_child(sc__vendor_miopen(), "SAFECONV_MIOPEN_LIBRARY", "libm.so.6", out, sizeof out);
    CHECK_MSG(rc == 1 && !strcmp(out, "libm.so.6 lacks miopenGetVersion"), "rc %d: '%s'", rc, out);
    rc = load_in_child(sc__vendor_cudnn(), "SAFECONV_CUDNN_LIBRARY", "libm.so.6", out, sizeof out);
    CHECK_MSG(rc == 1 && !strcmp(out, "libm.so.6 lacks cudnnGetVersion"), "rc %d: '%s'", rc, out);
    /* a named file that does not exist: reported by name, the search path not tried */
    rc = load_in_child(sc__vendor_cudnn(), "SAFECONV_CUDNN_LIBRARY", "/nonexistent/libcudnn.so.9",
                       out, sizeof out);
    CHECK_MSG(rc == 1 && strstr(out, "not found: ") && strstr(out, "/nonexistent/libcudnn.so.9"),
              "rc %d: '%s'", rc, out);
}
