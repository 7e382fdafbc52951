/* status.c - status strings, version, enum names. */
#include "core/internal.h"

#include <stdio.h>
#include <string.h>

const char *sc_status_string(sc_status status)
{
    switch (status) {
    case SC_STATUS_OK: return "ok";
    case SC_STATUS_BAD_PARAM: return "bad parameter";
    case SC_STATUS_UNSUPPORTED: return "unsupported";
    case SC_STATUS_OUT_OF_MEMORY: return "out of memory";
    case SC_STATUS_DEVICE_ERROR: return "device error";
    case SC_STATUS_VENDOR_FAILED: return "vendor library failed";
    case SC_STATUS_NOT_AVAILABLE: return "not available";
    case SC_STATUS_INTERNAL: return "internal error";
    case SC_STATUS_CACHE_ERROR: return "cache error";
    }
    return "unknown status";
}

#define SC_STR2(x) #x
#define SC_STR(x)  SC_STR2(x)
const char *sc_version_string(void)
{
    return SC_STR(SC_VERSION_MAJOR) "." SC_STR(SC_VERSION_MINOR) "." SC_STR(SC_VERSION_PATCH);
}

int sc_version(void)
{
    return SC_VERSION_MAJOR * 10000 + SC_VERSION_MINOR * 100 + SC_VERSION_PATCH;
}

static const struct {
    const char *name;
    sc_strategy s;
} strategy_names[] = {
    {"auto", SC_STRATEGY_AUTO},
    {"gpu", SC_STRATEGY_GPU},
    {"gpu_unfold", SC_STRATEGY_GPU},
    {"vendor", SC_STRATEGY_VENDOR},
    {"implicit_gemm", SC_STRATEGY_VENDOR},
    {"selective", SC_STRATEGY_SELECTIVE},
    {"cpu", SC_STRATEGY_CPU},
    {"cpu_fallback", SC_STRATEGY_CPU},
};

sc_status sc_strategy_from_name(const char *name, sc_strategy *out)
{
    if (!name) return sc__fail(SC_STATUS_BAD_PARAM, "strategy: name is NULL");
    if (!out) return sc__fail(SC_STATUS_BAD_PARAM, "out: NULL");
    for (size_t i = 0; i < sizeof strategy_names / sizeof strategy_names[0]; i++)
        if (strcmp(name, strategy_names[i].name) == 0) {
            *out = strategy_names[i].s;
            return SC_STATUS_OK;
        }
    return sc__fail(SC_STATUS_BAD_PARAM,
                    "strategy: unknown name '%s' (expected auto, gpu, gpu_unfold, vendor, "
                    "implicit_gemm, selective, cpu or cpu_fallback)",
                    name);
}

const char *sc__direction_name(sc_direction dir)
{
    switch (dir) {
    case SC_DIR_FORWARD: return "forward";
    case SC_DIR_BACKWARD_DATA: return "backward_data";
    case SC_DIR_BACKWARD_WEIGHT: return "backward_weight";
    case SC_DIR_BACKWARD_BIAS: return "backward_bias";
    }
    return "unknown direction";
}

const char *sc_strategy_name(sc_strategy s)
{
    switch (s) {
    case SC_STRATEGY_AUTO: return "auto";
    case SC_STRATEGY_GPU: return "gpu";
    case SC_STRATEGY_VENDOR: return "vendor";
    case SC_STRATEGY_SELECTIVE: return "selective";
    case SC_STRATEGY_CPU: return "cpu";
    }
    return "unknown";
}

const char *sc_algo_name(sc_algo a)
{
    switch (a) {
    case SC_ALGO_NONE: return "none";
    case SC_ALGO_CPU_REFERENCE: return "cpu_reference";
    case SC_ALGO_CPU_IM2COL_GEMM: return "cpu_im2col_gemm";
    case SC_ALGO_CPU_DIRECT: return "cpu_direct";
    case SC_ALGO_GPU_IMPLICIT_GEMM: return "gpu_implicit_gemm";
    case SC_ALGO_GPU_DIRECT_DEPTHWISE: return "gpu_direct_depthwise";
    case SC_ALGO_GPU_DIRECT_SMALL_C: return "gpu_direct_small_c";
    case SC_ALGO_GPU_NAIVE: return "gpu_naive";
    case SC_ALGO_VENDOR_CUDNN: return "vendor_cudnn";
    case SC_ALGO_VENDOR_MIOPEN: return "vendor_miopen";
    case SC_ALGO_VENDOR_PLUGIN: return "vendor_plugin";
    case SC_ALGO_GPU_IMPLICIT_GEMM_MMA: return "gpu_implicit_gemm_mma";
    case SC_ALGO_CPU_ONEDNN: return "cpu_onednn";
    case SC_ALGO_GPU_WINOGRAD: return "gpu_winograd";
    }
    return "unknown";
}
