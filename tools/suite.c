/* suite.c - read layer suites (see suite.h). */
#include "suite.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sc_suite_load(const char *path, sc_suite_row **rows)
{
    *rows = NULL;
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
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
            fprintf(stderr,
                    "%s:%d: expected name and 14 integers "
                    "(n,c,h,w,k,r,s,stride_h,stride_w,pad_h,pad_w,dil_h,dil_w,groups)\n",
                    path, lineno);
            goto fail;
        }
        snprintf(row.name, sizeof row.name, "%s", name);
        d->n = x[0], d->c = x[1], d->h = x[2], d->w = x[3], d->k = x[4], d->r = x[5], d->s = x[6];
        d->stride_h = x[7], d->stride_w = x[8], d->pad_h = x[9], d->pad_w = x[10];
        d->dil_h = x[11], d->dil_w = x[12], d->groups = x[13];
        if (sc_conv2d_validate(d) != SC_STATUS_OK) {
            fprintf(stderr, "%s:%d: %s: %s\n", path, lineno, row.name, sc_last_error());
            goto fail;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            sc_suite_row *nv = realloc(v, (size_t)cap * sizeof *v);
            if (!nv) {
                fprintf(stderr, "%s: out of memory\n", path);
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
