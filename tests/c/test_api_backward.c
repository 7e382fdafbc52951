/* test_api_backward.c - sc_conv2d_backward, the backward pass in one call: the same bits as the
 * single-direction calls for every combination of outputs, the algorithms it reports, the
 * statistics, and bad input rejected before any output is written. CPU contexts (CI has no
 * GPU; the GPU route of the same entry point is checked by the Python tests on CUDA tensors). */
#include "safeconv.h"
#include "testlib.h"

#include <stddef.h>
#include <stdlib.h>

/* Fill with values in [-1, 1) from a xorshift state (the element type's bits for 16-bit). */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

static void fill(void *p, int64_t n, sc_dtype dt, uint64_t *s)
{
    for (int64_t i = 0; i < n; i++) {
        float v = (float)((rng_next(s) >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
        if (dt == SC_DTYPE_F32) {
            ((float *)p)[i] = v;
        } else {
            union {
                float f;
                uint32_t u;
            } b = {v};
            /* bf16: the top half; fp16: a small finite value from the top bits (any bits
             * that are finite numbers do: the check is bit equality of two computations). */
            ((uint16_t *)p)[i] = dt == SC_DTYPE_BF16 ? (uint16_t)(b.u >> 16)
                                                     : (uint16_t)(0x3000 + (rng_next(s) & 0x7ff));
        }
    }
}

static size_t esize(sc_dtype dt) { return dt == SC_DTYPE_F32 ? 4 : 2; }

/* Problems that take different CPU routes: plain, strided and padded, grouped, depthwise,
 * dilated, NHWC, 1x1, 16-bit. */
static sc_conv2d_desc problem(int i)
{
    sc_conv2d_desc d;
    sc_conv2d_desc_init(&d);
    d.n = 2, d.c = 8, d.h = 9, d.w = 7, d.k = 12, d.r = 3, d.s = 3, d.pad_h = d.pad_w = 1;
    switch (i) {
    case 1: d.stride_h = 2, d.stride_w = 2, d.pad_h = 0; break;
    case 2: d.groups = 4; break;
    case 3: d.k = 8, d.groups = 8; break;
    case 4: d.dil_h = 2, d.pad_h = 2; break;
    case 5: d.layout = SC_NHWC; break;
    case 6: d.r = d.s = 1, d.pad_h = d.pad_w = 0; break;
    case 7: d.dtype = SC_DTYPE_BF16, d.layout = SC_NHWC; break;
    case 8: d.dtype = SC_DTYPE_F16; break;
    /* oneDNN's blocked variant in both directions (NCHW 3x3 of 16+ channels), where the
     * backward in one call reorders dy once (a YOLO-style stride-2 layer among them). */
    case 9: d.c = d.k = 32, d.h = d.w = 12; break;
    case 10: d.c = 16, d.k = 32, d.h = d.w = 16, d.stride_h = d.stride_w = 2; break;
    }
    return d;
}
#define N_PROBLEMS 11

typedef struct bufs {
    void *x, *w, *dy, *dx, *dw, *db, *ref_dx, *ref_dw, *ref_db, *ref_bb;
    int64_t nx, nw, ny;
} bufs;

static bool alloc_bufs(const sc_conv2d_desc *d, bufs *b, uint64_t *s)
{
    if (sc_conv2d_tensor_elems(d, &b->nx, &b->nw, &b->ny) != SC_STATUS_OK) return false;
    size_t e = esize(d->dtype);
    void **all[] = {&b->x,  &b->w,      &b->dy,     &b->dx,     &b->dw,
                    &b->db, &b->ref_dx, &b->ref_dw, &b->ref_db, &b->ref_bb};
    int64_t n[] = {b->nx, b->nw, b->ny, b->nx, b->nw, d->k, b->nx, b->nw, d->k, d->k};
    memset(b, 0, offsetof(bufs, nx)); /* free_bufs after a failed allocation */
    for (int i = 0; i < 10; i++)
        if (!(*all[i] = malloc((size_t)n[i] * e))) return false;
    fill(b->x, b->nx, d->dtype, s);
    fill(b->w, b->nw, d->dtype, s);
    fill(b->dy, b->ny, d->dtype, s);
    return true;
}

static void free_bufs(bufs *b)
{
    void *all[] = {b->x,  b->w,      b->dy,     b->dx,     b->dw,
                   b->db, b->ref_dx, b->ref_dw, b->ref_db, b->ref_bb};
    for (int i = 0; i < 10; i++) free(all[i]);
}

/* Poison an output with a byte pattern that no computed result is made of. */
static void poison(void *p, int64_t n, sc_dtype dt) { memset(p, 0xA5, (size_t)n * esize(dt)); }

static bool same(const void *a, const void *b, int64_t n, sc_dtype dt)
{
    return memcmp(a, b, (size_t)n * esize(dt)) == 0;
}

SC_TEST(backward_one_call_same_bits)
{
    uint64_t s = sc_test_seed() | 1;
    sc_context *ctx = NULL;
    CHECK_STATUS(sc_context_create(NULL, &ctx), SC_STATUS_OK);
    for (int i = 0; i < N_PROBLEMS; i++) {
        sc_conv2d_desc d = problem(i);
        bufs b;
        CHECK_MSG(alloc_bufs(&d, &b, &s), "problem %d: allocation", i);
        sc_dtype dt = d.dtype;
        /* The single-direction calls are the reference. */
        CHECK_STATUS(sc_conv2d_backward_data(ctx, &d, b.dy, b.w, b.ref_dx, NULL, 0), SC_STATUS_OK);
        CHECK_STATUS(sc_conv2d_backward_weight(ctx, &d, b.x, b.dy, b.ref_dw, b.ref_db, NULL, 0),
                     SC_STATUS_OK);
        /* The bias gradient alone comes from sc_conv2d_backward_bias, whose sums may differ in
         * their last bits from backward-weight's (another order). */
        CHECK_STATUS(sc_conv2d_backward_bias(ctx, &d, b.dy, b.ref_bb), SC_STATUS_OK);
        /* Every combination of outputs: bit 0 dx, bit 1 dw, bit 2 dbias. */
        for (int m = 1; m < 8; m++) {
            poison(b.dx, b.nx, dt), poison(b.dw, b.nw, dt), poison(b.db, d.k, dt);
            void *dx = m & 1 ? b.dx : NULL, *dw = m & 2 ? b.dw : NULL, *db = m & 4 ? b.db : NULL;
            sc_stats before, after;
            CHECK_STATUS(sc_context_get_stats(ctx, &before), SC_STATUS_OK);
            sc_algo algos[4] = {SC_ALGO_CPU_REFERENCE, SC_ALGO_CPU_REFERENCE, SC_ALGO_CPU_REFERENCE,
                                SC_ALGO_CPU_REFERENCE};
            /* x and w only where needed: the call must not read the others. */
            CHECK_STATUS(sc_conv2d_backward(ctx, &d, dw ? b.x : NULL, dx ? b.w : NULL, b.dy, dx, dw,
                                            db, NULL, 0, algos),
                         SC_STATUS_OK);
            CHECK_STATUS(sc_context_get_stats(ctx, &after), SC_STATUS_OK);
            CHECK_MSG(!dx || same(b.dx, b.ref_dx, b.nx, dt), "problem %d mask %d: dx differs", i,
                      m);
            CHECK_MSG(!dw || same(b.dw, b.ref_dw, b.nw, dt), "problem %d mask %d: dw differs", i,
                      m);
            CHECK_MSG(!db || same(b.db, dw ? b.ref_db : b.ref_bb, d.k, dt),
                      "problem %d mask %d: dbias differs", i, m);
            /* Outputs not asked for are not written. */
            uint8_t p8 = 0xA5;
            CHECK_MSG(dx || ((uint8_t *)b.dx)[0] == p8, "problem %d mask %d: dx written", i, m);
            CHECK_MSG(dw || ((uint8_t *)b.dw)[0] == p8, "problem %d mask %d: dw written", i, m);
            CHECK_MSG(db || ((uint8_t *)b.db)[0] == p8, "problem %d mask %d: dbias written", i, m);
            /* Algorithms reported per direction, as the selection says; none for the rest. */
            for (int dir = 0; dir < 4; dir++) {
                bool ran = (dir == SC_DIR_BACKWARD_DATA && dx) ||
                           (dir == SC_DIR_BACKWARD_WEIGHT && dw) ||
                           (dir == SC_DIR_BACKWARD_BIAS && db && !dw);
                sc_algo want = SC_ALGO_NONE;
                if (ran) CHECK_STATUS(sc_conv2d_select(ctx, &d, (sc_direction)dir, &want), 0);
                CHECK_MSG(algos[dir] == want, "problem %d mask %d: algos[%d] = %s, want %s", i, m,
                          dir, sc_algo_name(algos[dir]), sc_algo_name(want));
                uint64_t calls = after.calls[dir] - before.calls[dir];
                CHECK_MSG(calls == (ran ? 1u : 0u), "problem %d mask %d: %llu calls of dir %d", i,
                          m, (unsigned long long)calls, dir);
            }
        }
        free_bufs(&b);
    }
    sc_context_destroy(ctx);
}

SC_TEST(backward_one_call_bad_input)
{
    uint64_t s = 12345;
    sc_context *ctx = NULL;
    CHECK_STATUS(sc_context_create(NULL, &ctx), SC_STATUS_OK);
    sc_conv2d_desc d = problem(0);
    bufs b;
    CHECK(alloc_bufs(&d, &b, &s));
    sc_dtype dt = d.dtype;
    poison(b.dx, b.nx, dt), poison(b.dw, b.nw, dt), poison(b.db, d.k, dt);
    sc_algo algos[4];
#define UNTOUCHED()                                                                                \
    CHECK(((uint8_t *)b.dx)[0] == 0xA5 && ((uint8_t *)b.dw)[0] == 0xA5 &&                          \
          ((uint8_t *)b.db)[0] == 0xA5)
    CHECK_STATUS(sc_conv2d_backward(ctx, &d, b.x, b.w, b.dy, NULL, NULL, NULL, NULL, 0, algos),
                 SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("dx, dw, dbias");
    CHECK(algos[SC_DIR_BACKWARD_DATA] == SC_ALGO_NONE);
    CHECK_STATUS(sc_conv2d_backward(NULL, &d, b.x, b.w, b.dy, b.dx, b.dw, NULL, NULL, 0, NULL),
                 SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("ctx");
    CHECK_STATUS(sc_conv2d_backward(ctx, NULL, b.x, b.w, b.dy, b.dx, b.dw, NULL, NULL, 0, NULL),
                 SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("desc");
    /* A missing input of the second direction fails before the first one writes dx. */
    CHECK_STATUS(sc_conv2d_backward(ctx, &d, NULL, b.w, b.dy, b.dx, b.dw, NULL, NULL, 0, NULL),
                 SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("x: NULL");
    UNTOUCHED();
    CHECK_STATUS(sc_conv2d_backward(ctx, &d, b.x, NULL, b.dy, b.dx, b.dw, NULL, NULL, 0, NULL),
                 SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("w: NULL");
    CHECK_STATUS(sc_conv2d_backward(ctx, &d, b.x, b.w, NULL, b.dx, b.dw, NULL, NULL, 0, NULL),
                 SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("dy: NULL");
    /* Misaligned outputs of the second direction, likewise. */
    char *odd_dw = (char *)b.dw + 1, *odd_db = (char *)b.db + 2;
    CHECK_STATUS(sc_conv2d_backward(ctx, &d, b.x, b.w, b.dy, b.dx, odd_dw, NULL, NULL, 0, NULL),
                 SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("dw");
    UNTOUCHED();
    CHECK_STATUS(sc_conv2d_backward(ctx, &d, b.x, b.w, b.dy, b.dx, b.dw, odd_db, NULL, 0, NULL),
                 SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("dbias");
    UNTOUCHED();
    /* A bad descriptor names its field, nothing written. */
    sc_conv2d_desc bad = d;
    bad.k = 0;
    CHECK_STATUS(sc_conv2d_backward(ctx, &bad, b.x, b.w, b.dy, b.dx, b.dw, NULL, NULL, 0, NULL),
                 SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("desc.k");
    UNTOUCHED();
#undef UNTOUCHED
    free_bufs(&b);
    sc_context_destroy(ctx);
}
