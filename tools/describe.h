/* describe.h - the pieces several subcommands print in their --json documents (docs/cli.md):
 * a device, the backends, a convolution descriptor, probe outcome counts. */
#ifndef SC_TOOLS_DESCRIBE_H
#define SC_TOOLS_DESCRIBE_H

#include "json.h"
#include "safeconv.h"

/* "cpu", "cuda", "hip". */
const char *sc_backend_name(int backend);
/* {"index", "backend", "name", "arch", "multiprocessors", "warp_size", "total_memory",
 * "driver_version", "runtime_version"}; index -1 is the CPU. */
void sc_json_device(sc_json *j, const char *key, const sc_device_info *i);
/* Every device: GPUs in order, then the CPU; a GPU that cannot be described gives
 * {"index", "error"}. */
void sc_json_devices(sc_json *j, const char *key);
/* ["cpu", "cuda", ...] of a sc_backend mask. */
void sc_json_backends(sc_json *j, const char *key, unsigned mask);
/* {"n", "c", "h", "w", "k", "r", "s", "stride_h", "stride_w", "pad_h", "pad_w", "dil_h",
 * "dil_w", "groups", "layout", "dtype", "text"}. */
void sc_json_desc(sc_json *j, const char *key, const sc_conv2d_desc *d);
/* {"seen": n, "ok": n, ... "no-vendor": n, "unknown": n} in outcome order; counts[8] is the
 * number of codes no outcome name knows. */
void sc_json_outcomes(sc_json *j, const char *key, const int counts[9]);
/* "f32", "f16", "bf16". */
const char *sc_dtype_name(sc_dtype t);

#endif
