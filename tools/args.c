/* args.c - see args.h. */
#include "args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool sc_arg_u64(const char *opt, const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!text || !*text || *text == '-') goto bad;
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
    char *end;
    errno = 0;
    long v = text ? strtol(text, &end, 0) : 0;
    if (!text || !*text || errno || *end || v < lo || v > hi) {
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
    char *end;
    long v = text ? strtol(text, &end, 10) : -1;
    if (!text || !*text || *end || v < 0 || v > 1023) {
        fprintf(stderr, "safeconv: --device: expected 'cpu' or a GPU number, got '%s'\n",
                text ? text : "(nothing)");
        return false;
    }
    *device = (int)v;
    return true;
}

int sc_default_device(void) { return sc_device_count() > 0 ? 0 : SC_DEVICE_CPU; }
