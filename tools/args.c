/* args.c - see args.h. */
#include "args.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* strtoull and strtol skip leading white space and take a sign: " -1" would be 2^64 - 1.
 * A number starts with a digit (or '-' and a digit where negatives are allowed). */
static bool starts_number(const char *t, bool negative_ok)
{
    return t && (isdigit((unsigned char)t[0]) ||
                 (negative_ok && t[0] == '-' && isdigit((unsigned char)t[1])));
}

bool sc_arg_u64(const char *opt, const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!starts_number(text, false)) goto bad;
    unsigned long long v = strtoull(text, &end, 0);
    if (errno || *end) goto bad;
    *out = v;
    return true;
bad:
    fprintf(stderr, "safeconv: %s: expected a non-negative integer, got '%s'\n", opt,
            text ? text : "(nothing)");
    return false;
}

bool sc_arg_int(const char *opt, const char *text, int lo, int hi, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = starts_number(text, true) ? strtol(text, &end, 0) : 0;
    if (!end || errno || *end || v < lo || v > hi) {
        fprintf(stderr, "safeconv: %s: expected an integer in [%d, %d], got '%s'\n", opt, lo, hi,
                text ? text : "(nothing)");
        return false;
    }
    *out = (int)v;
    return true;
}

static const char *const dir_names[] = {"forward", "backward_data", "backward_weight",
                                        "backward_bias"};

const char *sc_direction_name(sc_direction d) { return (unsigned)d < 4 ? dir_names[d] : "unknown"; }

bool sc_arg_direction(const char *text, int *dir)
{
    if (text && !strcmp(text, "all")) {
        *dir = -1;
        return true;
    }
    for (int i = 0; i < 4; i++)
        if (text && !strcmp(text, dir_names[i])) {
            *dir = i;
            return true;
        }
    fprintf(stderr,
            "safeconv: --direction: expected forward, backward_data, backward_weight, "
            "backward_bias or all, got '%s'\n",
            text ? text : "(nothing)");
    return false;
}

bool sc_arg_layout(const char *text, int *layout)
{
    if (text && !strcmp(text, "nchw"))
        *layout = SC_NCHW;
    else if (text && !strcmp(text, "nhwc"))
        *layout = SC_NHWC;
    else if (text && !strcmp(text, "both"))
        *layout = -1;
    else {
        fprintf(stderr, "safeconv: --layout: expected nchw, nhwc or both, got '%s'\n",
                text ? text : "(nothing)");
        return false;
    }
    return true;
}

bool sc_arg_algo(const char *text, sc_algo *out)
{
    for (int a = 0; a <= SC_ALGO_LAST; a++)
        if (text && !strcmp(text, sc_algo_name((sc_algo)a))) {
            *out = (sc_algo)a;
            return true;
        }
    fprintf(stderr,
            "safeconv: --algo: unknown algorithm '%s' (e.g. cpu_reference, "
            "cpu_im2col_gemm, cpu_direct, cpu_onednn, gpu_implicit_gemm, gpu_naive)\n",
            text ? text : "(nothing)");
    return false;
}

bool sc_arg_device(const char *text, int *device)
{
    if (text && !strcmp(text, "cpu")) {
        *device = SC_DEVICE_CPU;
        return true;
    }
    char *end = NULL;
    errno = 0;
    long v = starts_number(text, false) ? strtol(text, &end, 10) : -1;
    if (!end || errno || *end || v < 0 || v > 1023) {
        fprintf(stderr, "safeconv: --device: expected 'cpu' or a GPU number, got '%s'\n",
                text ? text : "(nothing)");
        return false;
    }
    *device = (int)v;
    return true;
}

bool sc_arg_double(const char *opt, const char *text, double lo, double hi, double *out)
{
    char *end = NULL;
    double v = 0;
    /* Digits or a point first: no white space, no sign games, no "inf" or "nan". */
    if (text && (isdigit((unsigned char)text[0]) || text[0] == '.' ||
                 (text[0] == '-' && (isdigit((unsigned char)text[1]) || text[1] == '.'))))
        v = strtod(text, &end);
    if (!end || end == text || *end || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "safeconv: %s: expected a number in [%g, %g], got '%s'\n", opt, lo, hi,
                text ? text : "(nothing)");
        return false;
    }
    *out = v;
    return true;
}

bool sc_arg_shape(const char *opt, const char *text, sc_conv2d_desc *d)
{
    long long v[11];
    int n = 0;
    const char *p = text;
    while (p && n < 11) {
        char *end;
        errno = 0;
        if (!starts_number(p, true)) break;
        v[n] = strtoll(p, &end, 10);
        if (errno || (*end != ',' && *end != 0)) break;
        n++;
        p = *end == ',' ? end + 1 : NULL;
    }
    if (p || (n != 7 && n != 11)) {
        fprintf(stderr,
                "safeconv: %s: expected N,C,H,W,K,R,S or N,C,H,W,K,R,S,STRIDE,PAD,DIL,GROUPS "
                "(integers), got '%s'\n",
                opt, text ? text : "(nothing)");
        return false;
    }
    sc_conv2d_desc_init(d);
    d->n = v[0], d->c = v[1], d->h = v[2], d->w = v[3], d->k = v[4], d->r = v[5], d->s = v[6];
    if (n == 11) {
        d->stride_h = d->stride_w = v[7];
        d->pad_h = d->pad_w = v[8];
        d->dil_h = d->dil_w = v[9];
        d->groups = v[10];
    }
    return true;
}

int sc_default_device(void) { return sc_device_count() > 0 ? 0 : SC_DEVICE_CPU; }
