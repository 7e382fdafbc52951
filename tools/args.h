/* args.h - tiny option parsing shared by the subcommands: "--name value" pairs and flags. */
#ifndef SC_TOOLS_ARGS_H
#define SC_TOOLS_ARGS_H

#include "safeconv.h"

#include <stdbool.h>
#include <stdint.h>

/* Parse a non-negative integer (decimal or 0x hex) or fail with a message naming `opt`. */
bool sc_arg_u64(const char *opt, const char *text, uint64_t *out);
bool sc_arg_int(const char *opt, const char *text, int lo, int hi, int *out);

/* "forward", "backward_data", "backward_weight", "backward_bias"; "all" gives -1. */
bool sc_arg_direction(const char *text, int *dir);
const char *sc_direction_name(sc_direction d);

/* "nchw" / "nhwc"; "both" gives -1. */
bool sc_arg_layout(const char *text, int *layout);

/* An algorithm by its sc_algo_name. */
bool sc_arg_algo(const char *text, sc_algo *out);

/* "cpu" gives SC_DEVICE_CPU; a number is a GPU ordinal. */
bool sc_arg_device(const char *text, int *device);

/* A finite number in [lo, hi] (no "inf", "nan", white space or trailing text). */
bool sc_arg_double(const char *opt, const char *text, double lo, double hi, double *out);

/* "N,C,H,W,K,R,S" or "N,C,H,W,K,R,S,STRIDE,PAD,DIL,GROUPS": integers and commas only. Fills
 * a fresh descriptor (not validated: sc_conv2d_validate names a bad field). */
bool sc_arg_shape(const char *opt, const char *text, sc_conv2d_desc *d);

/* The device the tools use by default: GPU 0 when one is present, else the CPU. */
int sc_default_device(void);

#endif
