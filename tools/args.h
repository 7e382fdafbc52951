/* args.h - option values of the `safeconv` subcommands. Each parser returns false after a usage
 * error naming the option and the text (cli.h: "safeconv CMD: --count: expected ..."); the
 * caller then returns SC_EXIT_USAGE. */
#ifndef SC_TOOLS_ARGS_H
#define SC_TOOLS_ARGS_H

#include "safeconv.h"

#include <stdbool.h>
#include <stdint.h>

/* A non-negative integer (decimal or 0x hex), digits only: no sign, no space. */
bool sc_arg_u64(const char *opt, const char *text, uint64_t *out);
/* An integer in [lo, hi] (a leading '-' allowed when lo < 0). */
bool sc_arg_int(const char *opt, const char *text, int lo, int hi, int *out);
/* A finite number of seconds (or a fraction) in [lo, hi]: no nan, no inf. */
bool sc_arg_seconds(const char *opt, const char *text, double lo, double hi, double *out);
/* The same for a number that is not a time. */
bool sc_arg_number(const char *opt, const char *text, double lo, double hi, double *out);

/* "forward", "backward_data", "backward_weight", "backward_bias"; "all" gives -1 when
 * allow_all. */
bool sc_arg_direction(const char *opt, const char *text, bool allow_all, int *dir);
const char *sc_direction_name(sc_direction d);

/* "nchw" / "nhwc"; "both" gives -1 when allow_both. */
bool sc_arg_layout(const char *opt, const char *text, bool allow_both, int *layout);

/* An algorithm by its sc_algo_name. */
bool sc_arg_algo(const char *opt, const char *text, sc_algo *out);

/* "cpu" gives SC_DEVICE_CPU; a number is a GPU ordinal. */
bool sc_arg_device(const char *opt, const char *text, int *device);

/* "f32", "f16", "bf16"; with tf32 non-NULL also "tf32" (f32 tensors, *tf32 = true: the
 * context's math mode SC_MATH_TF32). */
bool sc_arg_dtype(const char *opt, const char *text, sc_dtype *out, bool *tf32);

/* The device the tools use by default: GPU 0 when one is present, else the CPU. */
int sc_default_device(void);

#endif
