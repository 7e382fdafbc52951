/* onednn_recipe.c - one convolution through oneDNN's C API: the primitive for a problem,
 * direction and layout variant, the reorders between the caller's layout and the primitive's,
 * and where each piece lives in the caller's workspace.
 *
 * Workspace (all of it from safeconv's workspace, so sc_conv2d_workspace_size counts it and the
 * context's limit bounds it; oneDNN allocates nothing per call):
 *   [scratchpad (user mode)] [reordered a] [reordered b] [out before its reorder] [K floats]
 * each 64-byte aligned; the K floats are a zero bias for a forward call without bias, or the
 * bias gradient of a backward-weight call that did not ask for one. */
#include "cpu/onednn/onednn.h"

#include <oneapi/dnnl/dnnl_debug.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SC_DNNL_ALIGN 64

static size_t align_up(size_t v) { return (v + SC_DNNL_ALIGN - 1) / SC_DNNL_ALIGN * SC_DNNL_ALIGN; }

/* Memory descriptors of x, w and y in the caller's layout (`any` = let oneDNN choose). */
static dnnl_status_t user_mds(const sc_problem *pb, bool any_act, bool any_w, dnnl_memory_desc_t *x,
                              dnnl_memory_desc_t *w, dnnl_memory_desc_t *y)
{
    const sc_conv2d_desc *d = &pb->d;
    const bool nhwc = d->layout == SC_NHWC, grouped = d->groups > 1;
    dnnl_dims_t xd = {d->n, d->c, d->h, d->w}, yd = {d->n, d->k, pb->p, pb->q};
    dnnl_dims_t wd4 = {d->k, pb->cg, d->r, d->s}, wd5 = {d->groups, pb->kg, pb->cg, d->r, d->s};
    dnnl_format_tag_t act = any_act ? dnnl_format_tag_any : nhwc ? dnnl_nhwc : dnnl_nchw;
    dnnl_format_tag_t wt = any_w     ? dnnl_format_tag_any
                           : grouped ? (nhwc ? dnnl_gohwi : dnnl_goihw)
                                     : (nhwc ? dnnl_ohwi : dnnl_oihw);
    dnnl_status_t s = dnnl_memory_desc_init_by_tag(x, 4, xd, dnnl_f32, act);
    if (!s) s = dnnl_memory_desc_init_by_tag(y, 4, yd, dnnl_f32, act);
    if (!s) s = dnnl_memory_desc_init_by_tag(w, grouped ? 5 : 4, grouped ? wd5 : wd4, dnnl_f32, wt);
    return s;
}

static bool fail(sc_dnnl_recipe *r, const char *what, dnnl_status_t s)
{
    snprintf(r->why, sizeof r->why, "oneDNN %s: %s", what, dnnl_status2str(s));
    return false;
}

/* The primitive descriptor for key's direction, with forward's as the hint of a backward one. */
static bool make_pd(const sc_problem *pb, const sc_dnnl_key *key, dnnl_primitive_attr_t attr,
                    sc_dnnl_recipe *r, dnnl_primitive_desc_t *pd)
{
    const sc_conv2d_desc *d = &pb->d;
    const bool blocked = key->variant == SC_DNNL_BLOCKED;
    /* Plain NHWC weights (ohwi) get only the reference implementation: let oneDNN block them. */
    const bool any_w = blocked || d->layout == SC_NHWC;
    dnnl_memory_desc_t x, w, y;
    dnnl_status_t s = user_mds(pb, blocked, any_w, &x, &w, &y);
    if (!s) s = dnnl_memory_desc_init_by_tag(&r->bias_md, 1, (dnnl_dims_t){d->k}, dnnl_f32, dnnl_a);
    if (s) return fail(r, "memory descriptor", s);
    /* oneDNN counts dilation from 0. The right padding is what the last output actually
     * reaches past the input (PyTorch's symmetric padding leaves less, or none, on the right of
     * a strided layer); never negative: oneDNN's P = (H + pad_l + pad_r - span) / stride + 1
     * floors away a short last window the same way. Padding that the output never reaches sends
     * oneDNN down slower border paths (10-35% on stride-2 layers). */
    const int64_t span_h = (d->r - 1) * d->dil_h + 1, span_w = (d->s - 1) * d->dil_w + 1;
    int64_t pad_b = (pb->p - 1) * d->stride_h + span_h - d->h - d->pad_h;
    int64_t pad_r = (pb->q - 1) * d->stride_w + span_w - d->w - d->pad_w;
    dnnl_dims_t strides = {d->stride_h, d->stride_w}, dil = {d->dil_h - 1, d->dil_w - 1};
    dnnl_dims_t pad = {d->pad_h, d->pad_w}, pad2 = {pad_b > 0 ? pad_b : 0, pad_r > 0 ? pad_r : 0};
    dnnl_convolution_desc_t fd, bd;
    s = dnnl_dilated_convolution_forward_desc_init(&fd, dnnl_forward_training,
                                                   dnnl_convolution_direct, &x, &w, &r->bias_md, &y,
                                                   strides, dil, pad, pad2);
    if (s) return fail(r, "forward descriptor", s);
    dnnl_primitive_desc_t fwd;
    if ((s = dnnl_primitive_desc_create(&fwd, &fd, attr, sc_dnnl_engine(), NULL)))
        return fail(r, "forward primitive", s);
    if (key->dir == SC_DIR_FORWARD) {
        *pd = fwd;
        return true;
    }
    if (key->dir == SC_DIR_BACKWARD_DATA)
        s = dnnl_dilated_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &x, &w,
                                                             &y, strides, dil, pad, pad2);
    else
        s = dnnl_dilated_convolution_backward_weights_desc_init(
            &bd, dnnl_convolution_direct, &x, &w, &r->bias_md, &y, strides, dil, pad, pad2);
    if (!s) s = dnnl_primitive_desc_create(pd, &bd, attr, sc_dnnl_engine(), fwd);
    dnnl_primitive_desc_destroy(fwd);
    if (s)
        return fail(r,
                    key->dir == SC_DIR_BACKWARD_DATA ? "backward-data primitive"
                                                     : "backward-weight primitive",
                    s);
    return true;
}

/* The primitive's descriptors of slots a, b, out for the direction (sc_call's roles). */
static void slot_queries(int dir, dnnl_query_t q[SC_DNNL_SLOTS])
{
    switch (dir) {
    case SC_DIR_FORWARD:
        q[0] = dnnl_query_src_md, q[1] = dnnl_query_weights_md, q[2] = dnnl_query_dst_md;
        break;
    case SC_DIR_BACKWARD_DATA:
        q[0] = dnnl_query_diff_dst_md, q[1] = dnnl_query_weights_md, q[2] = dnnl_query_diff_src_md;
        break;
    default:
        q[0] = dnnl_query_src_md, q[1] = dnnl_query_diff_dst_md, q[2] = dnnl_query_diff_weights_md;
        break;
    }
}

static bool make_reorder(const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                         dnnl_primitive_attr_t attr, sc_dnnl_recipe *r, dnnl_primitive_t *out)
{
    dnnl_primitive_desc_t pd;
    dnnl_status_t s =
        dnnl_reorder_primitive_desc_create(&pd, from, sc_dnnl_engine(), to, sc_dnnl_engine(), attr);
    if (s) return fail(r, "reorder", s);
    /* Reorders of fp32 between plain and blocked layouts need no scratchpad; one that did would
     * need a share of the workspace this recipe does not plan. */
    const dnnl_memory_desc_t *sp = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (sp && dnnl_memory_desc_get_size(sp) > 0) {
        dnnl_primitive_desc_destroy(pd);
        snprintf(r->why, sizeof r->why, "oneDNN reorder wants a scratchpad");
        return false;
    }
    s = dnnl_primitive_create(out, pd);
    dnnl_primitive_desc_destroy(pd);
    return s ? fail(r, "reorder primitive", s) : true;
}

/* The NHWC strided 1x1 backward-weight kernel where oneDNN 2.6 computes it wrongly (onednn.h):
 * never built; the blocked variant (channels padded to the block) serves those problems. */
static bool known_broken(const sc_problem *pb, const sc_dnnl_key *key)
{
    return key->variant == SC_DNNL_USER && sc_dnnl_strided_1x1_nhwc_bw_unsafe(pb, key->dir);
}

/* oneDNN's NHWC forward kernel (brgconv), which every backward descriptor of the `user` variant
 * also builds as its forward hint, takes time proportional to the output row's width to create:
 * 0.1 s at 3,300 columns, 4 s at 480,000 (an audio conv1d as 1 x W), minutes at the fuzzer's
 * millions. Wider rows than this take the blocked variant, or another algorithm. */
#define SC_DNNL_NHWC_MAX_ROW 16384

static bool too_slow_to_create(const sc_problem *pb, const sc_dnnl_key *key)
{
    return key->variant == SC_DNNL_USER && pb->d.layout == SC_NHWC && pb->q > SC_DNNL_NHWC_MAX_ROW;
}

static bool build(const sc_problem *pb, const sc_dnnl_key *key, dnnl_primitive_attr_t attr,
                  sc_dnnl_recipe *r)
{
    if (known_broken(pb, key)) {
        snprintf(r->why, sizeof r->why,
                 "oneDNN 2.6's strided 1x1 backward-weight on NHWC tensors (issue #6035)");
        return false;
    }
    if (too_slow_to_create(pb, key)) {
        snprintf(r->why, sizeof r->why,
                 "NHWC rows of more than %d outputs (oneDNN's kernel creation grows with them)",
                 SC_DNNL_NHWC_MAX_ROW);
        return false;
    }
    dnnl_primitive_desc_t pd = NULL;
    if (!make_pd(pb, key, attr, r, &pd)) return false;
    bool ok = false;
    const char *impl = "";
    dnnl_status_t s = dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    snprintf(r->why, sizeof r->why, "%s", s ? "?" : impl);
    dnnl_memory_desc_t x, w, y;
    dnnl_query_t q[SC_DNNL_SLOTS];
    slot_queries(key->dir, q);
    if ((s = user_mds(pb, false, false, &x, &w, &y))) {
        fail(r, "memory descriptor", s);
        goto out;
    }
    const dnnl_memory_desc_t *user[3][SC_DNNL_SLOTS] = {{&x, &w, &y}, {&y, &w, &x}, {&x, &y, &w}};
    size_t off = 0;
    r->scratch_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    r->scratch_off = off;
    off += align_up(dnnl_memory_desc_get_size(&r->scratch_md));
    for (int i = 0; i < SC_DNNL_SLOTS; i++) {
        r->user_md[i] = *user[key->dir][i];
        r->prim_md[i] = *dnnl_primitive_desc_query_md(pd, q[i], 0);
        if (dnnl_memory_desc_equal(&r->user_md[i], &r->prim_md[i])) continue;
        bool in = i != SC_DNNL_OUT;
        if (!make_reorder(in ? &r->user_md[i] : &r->prim_md[i],
                          in ? &r->prim_md[i] : &r->user_md[i], attr, r, &r->reorder[i]))
            goto out;
        r->buf_off[i] = off;
        off += align_up(dnnl_memory_desc_get_size(&r->prim_md[i]));
    }
    r->bias_off = off;
    off += align_up((size_t)pb->d.k * sizeof(float));
    r->ws_bytes = off + SC_DNNL_ALIGN;
    if ((s = dnnl_primitive_create(&r->prim, pd))) {
        fail(r, "primitive", s);
        goto out;
    }
    snprintf(r->why, sizeof r->why, "%s", impl);
    ok = true;
out:
    dnnl_primitive_desc_destroy(pd);
    return ok;
}

sc_dnnl_recipe *sc_dnnl_recipe_create(const sc_problem *pb, const sc_dnnl_key *key)
{
    sc_dnnl_recipe *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    if (!sc_dnnl_engine()) {
        snprintf(r->why, sizeof r->why, "oneDNN could not create a CPU engine");
        return r;
    }
    dnnl_primitive_attr_t attr;
    dnnl_status_t s = dnnl_primitive_attr_create(&attr);
    if (!s) s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (s) {
        fail(r, "attributes", s);
        return r;
    }
    r->ok = build(pb, key, attr, r);
    dnnl_primitive_attr_destroy(attr);
    if (!r->ok) { /* keep the reason, drop whatever was made */
        char why[sizeof r->why];
        memcpy(why, r->why, sizeof why);
        sc_dnnl_recipe_destroy(r);
        if (!(r = calloc(1, sizeof *r))) return NULL;
        memcpy(r->why, why, sizeof why);
    }
    return r;
}

void sc_dnnl_recipe_destroy(sc_dnnl_recipe *r)
{
    if (!r) return;
    if (r->prim) dnnl_primitive_destroy(r->prim);
    for (int i = 0; i < SC_DNNL_SLOTS; i++)
        if (r->reorder[i]) dnnl_primitive_destroy(r->reorder[i]);
    free(r);
}

/* ---- running ----------------------------------------------------------------------------- */

typedef struct run_state {
    dnnl_stream_t stream;
    dnnl_memory_t mem[8];
    int nmem;
} run_state;

static dnnl_status_t mem(run_state *st, const dnnl_memory_desc_t *md, void *p, dnnl_memory_t *out)
{
    dnnl_status_t s = dnnl_memory_create(out, md, sc_dnnl_engine(), p);
    if (!s) st->mem[st->nmem++] = *out;
    return s;
}

static dnnl_status_t reorder(run_state *st, dnnl_primitive_t prim, dnnl_memory_t from,
                             dnnl_memory_t to)
{
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    return dnnl_primitive_execute(prim, st->stream, 2, args);
}

sc_status sc_dnnl_recipe_run(const sc_dnnl_recipe *r, const sc_call *call,
                             const void *const given[SC_DNNL_SLOTS], void *kept[SC_DNNL_SLOTS])
{
    if (kept)
        for (int i = 0; i < SC_DNNL_SLOTS; i++) kept[i] = NULL;
    if (!r->ok) return sc__fail(SC_STATUS_UNSUPPORTED, "cpu_onednn: %s", r->why);
    if (call->ws_size < r->ws_bytes)
        return sc__fail(SC_STATUS_INTERNAL, "cpu_onednn: workspace of %zu bytes, %zu needed",
                        call->ws_size, r->ws_bytes);
    uint8_t *base =
        (uint8_t *)(((uintptr_t)call->ws + SC_DNNL_ALIGN - 1) & ~(uintptr_t)(SC_DNNL_ALIGN - 1));
    const sc_problem *pb = call->pb;
    void *user[SC_DNNL_SLOTS] = {(void *)call->a, (void *)call->b, call->out};
    void *bias = call->dir == SC_DIR_FORWARD ? (void *)call->c : call->out2;
    if (!bias) { /* forward without bias adds zeros; an unwanted dbias goes to scratch */
        bias = base + r->bias_off;
        if (call->dir == SC_DIR_FORWARD) memset(bias, 0, (size_t)pb->d.k * sizeof(float));
    }

    run_state st = {0};
    dnnl_status_t s = dnnl_stream_create(&st.stream, sc_dnnl_engine(), dnnl_stream_default_flags);
    /* u: the caller's tensors; op: what the primitive reads and writes (a reordered copy in
     * the workspace, or the caller's tensor itself) */
    dnnl_memory_t u[SC_DNNL_SLOTS] = {0}, op[SC_DNNL_SLOTS] = {0}, bmem = NULL, scratch = NULL;
    for (int i = 0; i < SC_DNNL_SLOTS && !s; i++) {
        s = mem(&st, &r->user_md[i], user[i], &u[i]);
        op[i] = u[i];
        if (s || !r->reorder[i]) continue;
        if (i != SC_DNNL_OUT && given && given[i]) { /* already reordered by the caller */
            s = mem(&st, &r->prim_md[i], (void *)given[i], &op[i]);
            continue;
        }
        s = mem(&st, &r->prim_md[i], base + r->buf_off[i], &op[i]);
        if (!s && i != SC_DNNL_OUT) s = reorder(&st, r->reorder[i], u[i], op[i]);
        if (!s && i != SC_DNNL_OUT && kept) kept[i] = base + r->buf_off[i];
    }
    if (!s) s = mem(&st, &r->bias_md, bias, &bmem);
    if (!s) s = mem(&st, &r->scratch_md, base + r->scratch_off, &scratch);
    if (!s) {
        dnnl_exec_arg_t args[5];
        int n = 0;
        switch (call->dir) {
        case SC_DIR_FORWARD:
            args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, op[0]};
            args[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, op[1]};
            args[n++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, bmem};
            args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST, op[2]};
            break;
        case SC_DIR_BACKWARD_DATA:
            args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_DST, op[0]};
            args[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, op[1]};
            args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_SRC, op[2]};
            break;
        default:
            args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, op[0]};
            args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_DST, op[1]};
            args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_WEIGHTS, op[2]};
            args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_BIAS, bmem};
            break;
        }
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, scratch};
        s = dnnl_primitive_execute(r->prim, st.stream, n, args);
    }
    if (!s && r->reorder[SC_DNNL_OUT]) s = reorder(&st, r->reorder[SC_DNNL_OUT], op[2], u[2]);
    if (!s) s = dnnl_stream_wait(st.stream);
    for (int i = 0; i < st.nmem; i++) dnnl_memory_destroy(st.mem[i]);
    if (st.stream) dnnl_stream_destroy(st.stream);
    if (s)
        return sc__fail(SC_STATUS_INTERNAL, "cpu_onednn: execution failed: %s", dnnl_status2str(s));
    return SC_STATUS_OK;
}
