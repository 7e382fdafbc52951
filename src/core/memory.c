/* memory.c - allocation and copies in a device's memory space, for tools and bindings. */
#include "core/internal.h"
#include "gpu/gpu.h"

#include <stdlib.h>
#include <string.h>

static sc_status check_device(int device)
{
    if (device == SC_DEVICE_CPU) return SC_STATUS_OK;
    if (device < 0)
        return sc__fail(SC_STATUS_BAD_PARAM,
                        "device: %d is neither a GPU ordinal nor "
                        "SC_DEVICE_CPU (-1)",
                        device);
    int n = sc_gpu_device_count();
    if (device >= n)
        return sc__fail(SC_STATUS_NOT_AVAILABLE, "device: GPU %d requested, %d present", device, n);
    return sc_gpu_set_device(device);
}

sc_status sc_memory_alloc(int device, size_t bytes, void **ptr)
{
    sc__clear_error();
    if (!ptr) return sc__fail(SC_STATUS_BAD_PARAM, "ptr: NULL");
    *ptr = NULL;
    sc_status st = check_device(device);
    if (st) return st;
    if (bytes == 0) bytes = 1;
    if (device == SC_DEVICE_CPU) {
        if (posix_memalign(ptr, 64, bytes))
            return sc__fail(SC_STATUS_OUT_OF_MEMORY, "bytes: allocating %zu host bytes failed",
                            bytes);
        return SC_STATUS_OK;
    }
    return sc_gpu_malloc(ptr, bytes);
}

void sc_memory_free(int device, void *ptr)
{
    if (!ptr) return;
    if (device == SC_DEVICE_CPU)
        free(ptr);
    else if (check_device(device) == SC_STATUS_OK)
        sc_gpu_free(ptr);
}

sc_status sc_memory_copy(int device, void *dst, const void *src, size_t bytes, int to_device)
{
    sc__clear_error();
    if (!dst) return sc__fail(SC_STATUS_BAD_PARAM, "dst: NULL");
    if (!src) return sc__fail(SC_STATUS_BAD_PARAM, "src: NULL");
    sc_status st = check_device(device);
    if (st) return st;
    if (device == SC_DEVICE_CPU) {
        memmove(dst, src, bytes);
        return SC_STATUS_OK;
    }
    return sc_gpu_copy(dst, src, bytes, to_device ? 0 : 1, NULL);
}

sc_status sc_context_synchronize(sc_context *ctx)
{
    sc__clear_error();
    if (!ctx) return sc__fail(SC_STATUS_BAD_PARAM, "ctx: NULL");
    if (ctx->opt.device < 0) return SC_STATUS_OK;
    sc_status st = sc_gpu_set_device(ctx->opt.device);
    return st ? st : sc_gpu_sync(ctx->opt.stream);
}
