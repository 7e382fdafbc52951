/* suite.c - read layer suites (see suite.h). */
#include "suite.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char error[512];

const char *sc_suite_error(void) { return error; }

static void set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error, sizeof error, fmt, ap);
    va_end(ap);
}

/* The folders a suite NAME is looked up in, relative to this program: <bin>/../share/
 * safeconv/suites (an installed copy, `make install`), <build>/../bench/suites (the build tree,
 * build/safeconv). */
static int suite_dirs(char dirs[2][PATH_MAX])
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return 0;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return 0;
    *slash = '\0';
    snprintf(dirs[0], PATH_MAX, "%.*s/../share/safeconv/suites", PATH_MAX - 40, exe);
    snprintf(dirs[1], PATH_MAX, "%.*s/../bench/suites", PATH_MAX - 40, exe);
    return 2;
}

bool sc_suite_find(const char *arg, char *path, size_t size)
{
    error[0] = '\0';
    if (!arg || !*arg) {
        set_error("empty suite name");
        return false;
    }
    if (strchr(arg, '/') || access(arg, F_OK) == 0) {
        snprintf(path, size, "%s", arg);
        return true;
    }
    char dirs[2][PATH_MAX];
    int nd = suite_dirs(dirs);
    for (int i = 0; i < nd; i++) {
        snprintf(path, size, "%s/%s%s", dirs[i], arg,
                 strlen(arg) > 4 && !strcmp(arg + strlen(arg) - 4, ".csv") ? "" : ".csv");
        if (access(path, R_OK) == 0) {
            char real[PATH_MAX];
            if (realpath(path, real) && strlen(real) < size) strcpy(path, real);
            return true;
        }
    }
    set_error("%s: no such file, and no suite of that name in %s%s%s", arg,
              nd ? dirs[0] : "(this program's folder is unknown)", nd ? " or " : "",
              nd ? dirs[1] : "");
    return false;
}

int sc_suite_load(const char *path, sc_suite_row **rows)
{
    *rows = NULL;
    error[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f) {
        set_error("%s: %s", path, strerror(errno));
        return -1;
    }
    int n = 0, cap = 0, lineno = 0;
    sc_suite_row *v = NULL;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        if (*s == '#' || *s == '\n' || *s == '\r' || *s == '\0') continue;
        sc_suite_row row;
        memset(&row, 0, sizeof row);
        sc_conv2d_desc *d = &row.desc;
        sc_conv2d_desc_init(d);
        long long x[14];
        int used = 0;
        char name[64];
        int got = sscanf(
            s, "%63[^,],%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld%n",
            name, &x[0], &x[1], &x[2], &x[3], &x[4], &x[5], &x[6], &x[7], &x[8], &x[9], &x[10],
            &x[11], &x[12], &x[13], &used);
        if (got != 15 || strspn(s + used, " \t\r\n") != strlen(s + used)) {
            set_error("%s:%d: expected name and 14 integers "
                      "(n,c,h,w,k,r,s,stride_h,stride_w,pad_h,pad_w,dil_h,dil_w,groups)",
                      path, lineno);
            goto fail;
        }
        snprintf(row.name, sizeof row.name, "%s", name);
        d->n = x[0], d->c = x[1], d->h = x[2], d->w = x[3], d->k = x[4], d->r = x[5], d->s = x[6];
        d->stride_h = x[7], d->stride_w = x[8], d->pad_h = x[9], d->pad_w = x[10];
        d->dil_h = x[11], d->dil_w = x[12], d->groups = x[13];
        if (sc_conv2d_validate(d) != SC_STATUS_OK) {
            set_error("%s:%d: %s: %s", path, lineno, row.name, sc_last_error());
            goto fail;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            sc_suite_row *nv = realloc(v, (size_t)cap * sizeof *v);
            if (!nv) {
                set_error("%s: out of memory", path);
                goto fail;
            }
            v = nv;
        }
        v[n++] = row;
    }
    fclose(f);
    *rows = v;
    return n;
fail:
    fclose(f);
    free(v);
    return -1;
}
