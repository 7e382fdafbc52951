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
/* A finite number in [lo, hi]: digits or a point first (no white space, no "inf" or "nan"),
 * nothing after it. */
bool sc_arg_double(const char *opt, const char *text, double lo, double hi, double *out);

/* "N,C,H,W,K,R,S" or "N,C,H,W,K,R,S,STRIDE,PAD,DIL,GROUPS": integers and commas only. Fills
 * a fresh descriptor (not validated: sc_conv2d_validate names a bad field). */
bool sc_arg_shape(const char *opt, const char *text, sc_conv2d_desc *d);

/* --direction: "forward", "backward_data", "backward_weight", "backward_bias"; "all" gives -1
 * (callers that cannot take all, or one of them, say so). */
bool sc_arg_direction(const char *text, int *dir);
const char *sc_direction_name(sc_direction d);

/* --layout: "nchw" / "nhwc"; "both" gives -1 (callers that need one say so). */
bool sc_arg_layout(const char *text, int *layout);

/* --algo: an algorithm by its sc_algo_name; sc_arg_algo_for names another option (--versus). */
bool sc_arg_algo(const char *text, sc_algo *out);
bool sc_arg_algo_for(const char *opt, const char *text, sc_algo *out);

/* --device: "cpu" (or -1, as the --json documents write it) gives SC_DEVICE_CPU; a number is a
 * GPU ordinal. */
bool sc_arg_device(const char *text, int *device);

/* "f32", "f16", "bf16"; with tf32 non-NULL also "tf32" (f32 tensors, *tf32 = true: the
 * context's math mode SC_MATH_TF32). */
bool sc_arg_dtype(const char *opt, const char *text, sc_dtype *out, bool *tf32);

/* The device the tools use by default: GPU 0 when one is present, else the CPU. */
int sc_default_device(void);

#endif
