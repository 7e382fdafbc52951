/* gpu_none.c - the runtime half of the GPU backend in a build without nvcc or hipcc: no
 * devices. (The planning half, select.c and the families, is plain C in every build.) */
#include "gpu.h"

unsigned sc_gpu_backend(void) { return 0; }
int sc_gpu_device_count(void) { return 0; }

sc_status sc_gpu_device_info(int device, sc_device_info *info)
{
    (void)info;
    return sc__fail(SC_STATUS_NOT_AVAILABLE,
                    "device: GPU %d requested, but this build has no GPU backend", device);
}

sc_status sc_gpu_set_device(int device) { return sc_gpu_device_info(device, NULL); }

sc_status sc_gpu_malloc(void **ptr, size_t bytes)
{
    (void)bytes;
    *ptr = NULL;
    return sc__fail(SC_STATUS_NOT_AVAILABLE, "no GPU backend in this build");
}

void sc_gpu_free(void *ptr) { (void)ptr; }

sc_status sc_gpu_copy(void *dst, const void *src, size_t bytes, int kind, void *stream)
{
    (void)dst, (void)src, (void)bytes, (void)kind, (void)stream;
    return sc__fail(SC_STATUS_NOT_AVAILABLE, "no GPU backend in this build");
}

sc_status sc_gpu_sync(void *stream)
{
    (void)stream;
    return SC_STATUS_OK;
}

sc_status sc_gpu_current_device(struct sc_gpu_dev *dev)
{
    (void)dev;
    return sc__fail(SC_STATUS_NOT_AVAILABLE, "no GPU backend in this build");
}

sc_status sc_gpu_run(const sc_call *call)
{
    (void)call;
    return sc__fail(SC_STATUS_NOT_AVAILABLE, "no GPU backend in this build");
}
