/* gpu_none.c - the GPU backend of a build without nvcc or hipcc: no devices. */
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

sc_status sc_gpu_select(const sc_problem *pb, sc_direction dir, sc_algo want, sc_algo *algo,
                        size_t *ws_bytes)
{
    (void)pb, (void)dir, (void)want, (void)algo, (void)ws_bytes;
    return sc__fail(SC_STATUS_NOT_AVAILABLE, "no GPU backend in this build");
}

sc_status sc_gpu_select_limit(const sc_problem *pb, sc_direction dir, sc_algo want, size_t ws_limit,
                              sc_algo *algo, size_t *ws_bytes)
{
    (void)ws_limit;
    return sc_gpu_select(pb, dir, want, algo, ws_bytes);
}

sc_status sc_gpu_run(const sc_call *call)
{
    (void)call;
    return sc__fail(SC_STATUS_NOT_AVAILABLE, "no GPU backend in this build");
}

int sc_gpu_tune_candidates(const sc_problem *pb, sc_direction dir, size_t ws_limit,
                           sc_gpu_plan *plans, int max)
{
    (void)pb, (void)dir, (void)ws_limit, (void)plans, (void)max;
    return 0;
}

sc_status sc_gpu_run_plan(const sc_call *call, const sc_gpu_plan *plan)
{
    (void)call, (void)plan;
    return sc__fail(SC_STATUS_NOT_AVAILABLE, "no GPU backend in this build");
}

void sc_gpu_remember_plan(const sc_problem *pb, sc_direction dir, const sc_gpu_plan *plan)
{
    (void)pb, (void)dir, (void)plan;
}
