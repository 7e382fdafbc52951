/* args.c - see args.h. */
#include "args.h"
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *shown(const char *text) { return text ? text : ""; }

bool sc_arg_u64(const char *opt, const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    /* strtoull would skip spaces and accept a sign (" -1" is 2^64 - 1): digits only. */
    if (!text || !isdigit((unsigned char)text[0])) goto bad;
    unsigned long long v = strtoull(text, &end, 0);
    if (errno || *end) goto bad;
    *out = v;
    return true;
bad:
    sc_cli_usage_error("%s: expected a non-negative integer, got '%s'", opt, shown(text));
    return false;
}

bool sc_arg_int(const char *opt, const char *text, int lo, int hi, int *out)
{
    char *end = NULL;
    errno = 0;
    bool shape_ok = text && (isdigit((unsigned char)text[0]) ||
                             (text[0] == '-' && lo < 0 && isdigit((unsigned char)text[1])));
    long v = shape_ok ? strtol(text, &end, 0) : 0;
    if (!shape_ok || errno || *end || v < lo || v > hi) {
        sc_cli_usage_error("%s: expected an integer in [%d, %d], got '%s'", opt, lo, hi,
                           shown(text));
        return false;
    }
    *out = (int)v;
    return true;
}

static bool real(const char *opt, const char *text, double lo, double hi, const char *what,
                 double *out)
{
    char *end = NULL;
    errno = 0;
    double v = text && *text && !isspace((unsigned char)text[0]) ? strtod(text, &end) : NAN;
    if (!end || end == text || *end || errno || !isfinite(v) || v < lo || v > hi) {
        sc_cli_usage_error("%s: expected %s in [%g, %g], got '%s'", opt, what, lo, hi, shown(text));
        return false;
    }
    *out = v;
    return true;
}

bool sc_arg_seconds(const char *opt, const char *text, double lo, double hi, double *out)
{
    return real(opt, text, lo, hi, "seconds", out);
}

bool sc_arg_number(const char *opt, const char *text, double lo, double hi, double *out)
{
    return real(opt, text, lo, hi, "a number", out);
}

static const char *const dir_names[] = {"forward", "backward_data", "backward_weight",
                                        "backward_bias"};

const char *sc_direction_name(sc_direction d) { return (unsigned)d < 4 ? dir_names[d] : "unknown"; }

bool sc_arg_direction(const char *opt, const char *text, bool allow_all, int *dir)
{
    if (allow_all && text && !strcmp(text, "all")) {
        *dir = -1;
        return true;
    }
    for (int i = 0; i < 4; i++)
        if (text && !strcmp(text, dir_names[i])) {
            *dir = i;
            return true;
        }
    sc_cli_usage_error("%s: expected forward, backward_data, backward_weight, backward_bias%s, "
                       "got '%s'",
                       opt, allow_all ? " or all" : "", shown(text));
    return false;
}

bool sc_arg_layout(const char *opt, const char *text, bool allow_both, int *layout)
{
    if (text && !strcmp(text, "nchw"))
        *layout = SC_NCHW;
    else if (text && !strcmp(text, "nhwc"))
        *layout = SC_NHWC;
    else if (allow_both && text && !strcmp(text, "both"))
        *layout = -1;
    else {
        sc_cli_usage_error("%s: expected nchw%s, got '%s'", opt,
                           allow_both ? ", nhwc or both" : " or nhwc", shown(text));
        return false;
    }
    return true;
}

bool sc_arg_algo(const char *opt, const char *text, sc_algo *out)
{
    for (int a = 1; a <= SC_ALGO_LAST; a++)
        if (text && !strcmp(text, sc_algo_name((sc_algo)a))) {
            *out = (sc_algo)a;
            return true;
        }
    char names[512] = "";
    size_t len = 0;
    for (int a = 1; a <= SC_ALGO_LAST && len < sizeof names; a++)
        len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", a > 1 ? ", " : "",
                                sc_algo_name((sc_algo)a));
    sc_cli_usage_error("%s: unknown algorithm '%s' (one of: %s)", opt, shown(text), names);
    return false;
}

bool sc_arg_device(const char *opt, const char *text, int *device)
{
    if (text && !strcmp(text, "cpu")) {
        *device = SC_DEVICE_CPU;
        return true;
    }
    char *end = NULL;
    long v = text && isdigit((unsigned char)text[0]) ? strtol(text, &end, 10) : -1;
    if (!end || *end || v < 0 || v > 1023) {
        sc_cli_usage_error("%s: expected 'cpu' or a GPU number, got '%s'", opt, shown(text));
        return false;
    }
    *device = (int)v;
    return true;
}

bool sc_arg_dtype(const char *opt, const char *text, sc_dtype *out, bool *tf32)
{
    static const struct {
        const char *name;
        sc_dtype t;
    } names[] = {{"f32", SC_DTYPE_F32}, {"f16", SC_DTYPE_F16}, {"bf16", SC_DTYPE_BF16}};
    if (tf32) *tf32 = false;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (text && !strcmp(text, names[i].name)) {
            *out = names[i].t;
            return true;
        }
    if (tf32 && text && !strcmp(text, "tf32")) {
        *out = SC_DTYPE_F32;
        *tf32 = true;
        return true;
    }
    sc_cli_usage_error("%s: expected f32, f16%s bf16%s, got '%s'", opt, tf32 ? "," : " or",
                       tf32 ? " or tf32" : "", shown(text));
    return false;
}

int sc_default_device(void) { return sc_device_count() > 0 ? 0 : SC_DEVICE_CPU; }
