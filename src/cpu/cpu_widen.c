/* cpu_widen.c - fp16 and bf16 problems on the CPU backend: the operands are widened to fp32
 * host copies, the fp32 algorithm runs, and the outputs are rounded back to the problem's type
 * (to nearest, ties to even). So every CPU algorithm takes every dtype, with fp32 accumulation
 * (the reference: double) and one rounding of each result, what the GPU kernels give too.
 * The copies are allocated per call, outside the workspace: an fp16 call on the CPU serves
 * autocast on the CPU and tests, not speed. */
#include "common/half.h"
#include "cpu/cpu.h"

#include <stdlib.h>

static void widen(const sc_problem *pb, const void *src, float *dst, int64_t n)
{
    const uint16_t *h = (const uint16_t *)src;
    if (pb->d.dtype == SC_DTYPE_F16)
        for (int64_t i = 0; i < n; i++) dst[i] = sc_f16_to_f32(h[i]);
    else
        for (int64_t i = 0; i < n; i++) dst[i] = sc_bf16_to_f32(h[i]);
}

static void narrow(const sc_problem *pb, const float *src, void *dst, int64_t n)
{
    uint16_t *h = (uint16_t *)dst;
    if (pb->d.dtype == SC_DTYPE_F16)
        for (int64_t i = 0; i < n; i++) h[i] = sc_f32_to_f16(src[i]);
    else
        for (int64_t i = 0; i < n; i++) h[i] = sc_f32_to_bf16(src[i]);
}

void sc_cpu_problem_f32(const sc_problem *pb, sc_problem *out)
{
    *out = *pb;
    out->d.dtype = SC_DTYPE_F32;
    out->elem_size = sizeof(float);
}

sc_status sc_cpu_run_widened(const sc_call *call)
{
    sc_problem pf;
    sc_cpu_problem_f32(call->pb, &pf);
    int64_t n[5];
    sc__operand_elems(call->pb, call->dir, n);
    const void *src[5] = {call->a, call->b, call->c, call->out, call->out2};
    float *f[5] = {NULL, NULL, NULL, NULL, NULL};
    sc_status st = SC_STATUS_OK;
    for (int i = 0; i < 5 && !st; i++) {
        if (!src[i] || !n[i]) continue;
        if (!(f[i] = malloc((size_t)n[i] * sizeof(float))))
            st = sc__fail(SC_STATUS_OUT_OF_MEMORY, "cpu: fp32 copy of %lld elements",
                          (long long)n[i]);
        else if (i < 3)
            widen(call->pb, src[i], f[i], n[i]);
    }
    if (!st) {
        sc_call fc = *call;
        fc.pb = &pf;
        fc.a = f[0], fc.b = f[1], fc.c = f[2], fc.out = f[3], fc.out2 = f[4];
        st = sc_cpu_run(&fc);
    }
    for (int i = 3; i < 5 && !st; i++)
        if (f[i]) narrow(call->pb, f[i], (void *)src[i], n[i]);
    for (int i = 0; i < 5; i++) free(f[i]);
    return st;
}
