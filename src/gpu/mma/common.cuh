/* common.cuh - what the matrix-unit GEMM's operations share: the epilogue's paired store
 * (two adjacent columns, into the output or an fp32 split slice) and the host-side
 * declarations of the per-type launchers (gemm_mma_{f16,bf16,tf32}.cu). */
#ifndef SC_GPU_MMA_COMMON_CUH
#define SC_GPU_MMA_COMMON_CUH

#include "../gemm/bd_class.cuh"
#include "../gemm/common.cuh"
#include "kernel.cuh"

/* Configuration 7 (PERSIST): a block computes tiles blockIdx.x, blockIdx.x + gridDim.x, ... of
 * the tiles.x x tiles.y x tiles.z grid the other configurations launch one block per tile of
 * (M tiles, column tiles, grid.z), column tiles fastest so that the blocks running together share
 * A's rows in L2. Tile t is grid block (bx, by, bz). */
SC_HD void sc_wgmma_tile(int t, int tx, int ty, int &bx, int &by, int &bz)
{
    by = t % ty;
    t /= ty;
    bx = t % tx, bz = t / tx;
}
/* The tiles of block b of a persistent grid of g blocks over `all` tiles. */
SC_HD int sc_wgmma_tiles_of(int b, int g, int all) { return b < all ? (all - 1 - b) / g + 1 : 0; }

/* n (8, or 4 for an fp32 row whose width is 4 mod 8) consecutive elements v of one output row,
 * at off (a multiple of n): to the split slice yf, or rounded to the output y (sc_split_out
 * chose which), in 16-byte stores. */
SC_HD void sc_mma_store8(float *y, float *yf, i64 off, const float *v, int n)
{
    float4 *p = (float4 *)(y + off);
    p[0] = make_float4(v[0], v[1], v[2], v[3]);
    if (n > 4) p[1] = make_float4(v[4], v[5], v[6], v[7]);
}
/* 4 consecutive fp32 elements v of one output row (or split slice: y is the one chosen) at off
 * (a multiple of 4): one 16-byte store. fp32 only: 16-bit outputs take sc_mma_store8. */
SC_HD void sc_mma_store4(float *y, i64 off, const float *v)
{
    *(float4 *)(y + off) = make_float4(v[0], v[1], v[2], v[3]);
}
template <class T>
SC_HD void sc_mma_store8(T *y, float *yf, i64 off, const float *v, int n)
{
    if (yf) {
        float4 *p = (float4 *)(yf + off);
        p[0] = make_float4(v[0], v[1], v[2], v[3]);
        p[1] = make_float4(v[4], v[5], v[6], v[7]);
        return;
    }
    T h[8];
    for (int j = 0; j < 8; j++) sc_put(&h[j], v[j]);
    *(uint4 *)(y + off) = *(const uint4 *)h;
}

/* The directions for element type E (sc_half, sc_bf16; float = TF32): the plan's tile
 * configuration and split. */
template <class E>
int sc_mma_fwd(const sc_kp &kp, const sc_kplan &pl, const E *x, const E *w, const E *bias, E *y,
               float *ws, cudaStream_t st);
template <class E>
int sc_mma_bd(const sc_kp &kp, const sc_kplan &pl, const E *dy, const E *w, E *dx, float *ws,
              cudaStream_t st);
template <class E>
int sc_mma_bw(const sc_kp &kp, const sc_kplan &pl, const E *x, const E *dy, E *dw, float *ws,
              cudaStream_t st);

/* Configurations 5 (BN 128), 6 (BN 64) and 7 (BN 128, PERSIST) (gemm_wgmma.cu, compiled for
 * sm_90a): the wgmma kernel of an operation it is built for (sc_mma_cfg_built), over the grid of
 * tiles `grid` (PERSIST: wgmma_ws.cuh's kernel, one block an SM walking them). */
template <class Op, int BN, bool PERSIST = false>
int sc_wgmma_launch(const Op &op, dim3 grid, cudaStream_t st);

#endif /* SC_GPU_MMA_COMMON_CUH */
