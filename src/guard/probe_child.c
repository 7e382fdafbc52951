/* probe_child.c - the child side of a probe: one shape and direction, in a process of its own
 * (a fresh `safeconv probe --child FD REQUEST`, or a fork of a process that never touched a
 * GPU), so that a vendor call that hangs or crashes takes only this process with it.
 *
 * It runs safeconv's own kernels (GPU strategy on a GPU, the CPU backend on the CPU) and then
 * the vendor adapter on the same random inputs, compares, times both, and writes ONE line to FD:
 *   "R OUTCOME VENDOR_ALGO VENDOR_MS SAFECONV_MS FIRST_MS REL_ERROR WORKSPACE DETAIL..."
 * preceded by phase lines "P safeconv" and "P vendor" ("P probe" when it fails on its own
 * after the vendor phase began). A hang or a crash writes no R line: the parent's watchdog
 * and waitpid tell those apart, the last phase says where it stopped; an error reported
 * outside the vendor phase is the probe's, not the vendor's (not cached).
 *
 * REQUEST is one line of numbers (probe.c writes it), starting with SC_PROBE_PROTOCOL:
 *   "3 dir dtype layout n c h w k r s pad_h pad_w stride_h stride_w dil_h dil_w groups det
 *    device slow_s tolerance repeats seed" */
#include "gpu/gpu.h"
#include "guard/guard.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    sc_direction dir;
    sc_conv2d_desc d;
    int det, device, repeats;
    double slow_s, tol;
    unsigned long long seed;
} request;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static int parse(const char *s, request *r)
{
    memset(r, 0, sizeof *r);
    int ver, dir, dtype, layout;
    long long v[14];
    int n =
        sscanf(s,
               "%d %d %d %d %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld"
               " %d %d %lf %lf %d %llu",
               &ver, &dir, &dtype, &layout, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7],
               &v[8], &v[9], &v[10], &v[11], &v[12], &v[13], &r->det, &r->device, &r->slow_s,
               &r->tol, &r->repeats, &r->seed);
    if (n != 24 || ver != SC_PROBE_PROTOCOL) return -1;
    sc_conv2d_desc_init(&r->d);
    r->dir = (sc_direction)dir;
    r->d.dtype = (sc_dtype)dtype, r->d.layout = (sc_layout)layout;
    int64_t *f[] = {&r->d.n,        &r->d.c,     &r->d.h,     &r->d.w,     &r->d.k,
                    &r->d.r,        &r->d.s,     &r->d.pad_h, &r->d.pad_w, &r->d.stride_h,
                    &r->d.stride_w, &r->d.dil_h, &r->d.dil_w, &r->d.groups};
    for (int i = 0; i < 14; i++) *f[i] = v[i];
    return 0;
}

static void report(int fd, sc_probe_outcome o, int algo, double vms, double sms, double first,
                   double err, size_t ws, const char *detail)
{
    char line[512];
    char det[200];
    snprintf(det, sizeof det, "%s", detail ? detail : "");
    for (char *p = det; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    int n = snprintf(line, sizeof line, "R %d %d %.6g %.6g %.6g %.6g %zu %s\n", (int)o, algo, vms,
                     sms, first, err, ws, det);
    if (n > 0 && write(fd, line, (size_t)n) < 0) { /* the parent is gone: nothing to do */
    }
}

static void phase(int fd, const char *name)
{
    char line[64];
    int n = snprintf(line, sizeof line, "P %s\n", name);
    if (write(fd, line, (size_t)n) < 0) { /* the parent is gone */
    }
}

/* Element size and host <-> storage conversion for the dtypes (fp16/bf16 round to nearest). */
static size_t esize(sc_dtype t) { return t == SC_DTYPE_F32 ? 4 : 2; }

static uint16_t to_half(float f)
{
    union {
        float f;
        uint32_t u;
    } v = {f};
    uint32_t x = v.u, sign = (x >> 16) & 0x8000;
    int e = (int)((x >> 23) & 0xff) - 127 + 15;
    uint32_t m = x & 0x7fffff;
    if (e <= 0) return (uint16_t)sign; /* tiny inputs never occur: values are in [-1, 1] */
    if (e >= 31) return (uint16_t)(sign | 0x7c00);
    uint32_t h = sign | ((uint32_t)e << 10) | (m >> 13);
    if ((m & 0x1fff) > 0x1000 || ((m & 0x1fff) == 0x1000 && (h & 1))) h++;
    return (uint16_t)h;
}
static float from_half(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff, u;
    if (e == 0) {
        float f = ldexpf((float)m, -24);
        return sign ? -f : f;
    }
    if (e == 31)
        u = sign | 0x7f800000 | (m << 13);
    else
        u = sign | ((e - 15 + 127) << 23) | (m << 13);
    union {
        uint32_t u;
        float f;
    } v = {u};
    return v.f;
}
static uint16_t to_bf16(float f)
{
    union {
        float f;
        uint32_t u;
    } v = {f};
    return (uint16_t)((v.u + 0x7fff + ((v.u >> 16) & 1)) >> 16);
}
static float from_bf16(uint16_t b)
{
    union {
        uint32_t u;
        float f;
    } v = {(uint32_t)b << 16};
    return v.f;
}
static void store(sc_dtype t, void *dst, const float *src, int64_t n)
{
    if (t == SC_DTYPE_F32)
        memcpy(dst, src, (size_t)n * 4);
    else
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)dst)[i] = t == SC_DTYPE_F16 ? to_half(src[i]) : to_bf16(src[i]);
}
static void load(sc_dtype t, float *dst, const void *src, int64_t n)
{
    if (t == SC_DTYPE_F32)
        memcpy(dst, src, (size_t)n * 4);
    else
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = ((const uint16_t *)src)[i];
            dst[i] = t == SC_DTYPE_F16 ? from_half(h) : from_bf16(h);
        }
}

/* A buffer in the probe's memory space (host for the CPU, device for a GPU). */
typedef struct {
    void *p;
    int64_t n;
} buf;

static int buf_alloc(const request *r, buf *b, int64_t n)
{
    b->n = n;
    size_t bytes = (size_t)(n ? n : 1) * esize(r->d.dtype);
    if (r->device < 0) return posix_memalign(&b->p, 64, bytes) ? -1 : 0;
    return sc_gpu_malloc(&b->p, bytes) ? -1 : 0;
}
static void buf_free(const request *r, buf *b)
{
    if (!b->p) return;
    if (r->device < 0)
        free(b->p);
    else
        sc_gpu_free(b->p);
    b->p = NULL;
}
static int buf_put(const request *r, buf *b, const float *h)
{
    size_t bytes = (size_t)b->n * esize(r->d.dtype);
    if (r->device < 0) return store(r->d.dtype, b->p, h, b->n), 0;
    void *tmp = malloc(bytes ? bytes : 1);
    if (!tmp) return -1;
    store(r->d.dtype, tmp, h, b->n);
    int rc = sc_gpu_copy(b->p, tmp, bytes, 0, NULL) ? -1 : 0;
    free(tmp);
    return rc;
}
static int buf_get(const request *r, const buf *b, float *h)
{
    size_t bytes = (size_t)b->n * esize(r->d.dtype);
    if (r->device < 0) return load(r->d.dtype, h, b->p, b->n), 0;
    void *tmp = malloc(bytes ? bytes : 1);
    if (!tmp) return -1;
    int rc = sc_gpu_copy(tmp, b->p, bytes, 1, NULL) ? -1 : 0;
    load(r->d.dtype, h, tmp, b->n);
    free(tmp);
    return rc;
}
static void sync_dev(const request *r)
{
    if (r->device >= 0) sc_gpu_sync(NULL);
}

static void fill_random(float *x, int64_t n, unsigned long long *state)
{
    for (int64_t i = 0; i < n; i++) {
        *state ^= *state << 13, *state ^= *state >> 7, *state ^= *state << 17;
        x[i] = (float)((double)(*state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
}

static sc_status safeconv_call(sc_context *ctx, const request *r, buf *a, buf *b, buf *out)
{
    switch (r->dir) {
    case SC_DIR_FORWARD: return sc_conv2d_forward(ctx, &r->d, a->p, b->p, NULL, out->p, NULL, 0);
    case SC_DIR_BACKWARD_DATA:
        return sc_conv2d_backward_data(ctx, &r->d, a->p, b->p, out->p, NULL, 0);
    default: return sc_conv2d_backward_weight(ctx, &r->d, a->p, b->p, out->p, NULL, NULL, 0);
    }
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n ? v[n / 2] : 0;
}

int sc__probe_child_run(const char *req, int fd)
{
    /* A parent that stopped listening must not turn into a "crash" by SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    request r;
    if (atoi(req) != SC_PROBE_PROTOCOL) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "probe protocol mismatch: the parent speaks %d, this child %d "
                 "(a safeconv executable from another build? set SAFECONV_TOOL)",
                 atoi(req), SC_PROBE_PROTOCOL);
        report(fd, SC_PROBE_ERROR, 0, 0, 0, 0, 0, 0, msg);
        return 2;
    }
    if (parse(req, &r) || sc_conv2d_validate(&r.d) || (unsigned)r.dir > SC_DIR_BACKWARD_WEIGHT) {
        report(fd, SC_PROBE_ERROR, 0, 0, 0, 0, 0, 0, "probe child: bad request");
        return 2;
    }
    if (r.device >= 0 && sc_gpu_set_device(r.device)) {
        report(fd, SC_PROBE_ERROR, 0, 0, 0, 0, 0, 0, "probe child: cannot select the GPU");
        return 1;
    }
    if (r.repeats < 1) r.repeats = 1;
    if (r.repeats > 100) r.repeats = 100;
    int64_t xe, we, ye;
    sc_conv2d_tensor_elems(&r.d, &xe, &we, &ye);
    int64_t ne[3]; /* a, b, out per direction (sc_call roles) */
    if (r.dir == SC_DIR_FORWARD)
        ne[0] = xe, ne[1] = we, ne[2] = ye;
    else if (r.dir == SC_DIR_BACKWARD_DATA)
        ne[0] = ye, ne[1] = we, ne[2] = xe;
    else
        ne[0] = xe, ne[1] = ye, ne[2] = we;

    float *h[4] = {0};
    buf b[3] = {{0}};
    char detail[256] = "";
    sc_context *ctx = NULL;
    int rc = 0;
    for (int i = 0; i < 3; i++)
        if (!(h[i] = malloc((size_t)ne[i] * sizeof(float))) || buf_alloc(&r, &b[i], ne[i])) {
            report(fd, SC_PROBE_ERROR, 0, 0, 0, 0, 0, 0, "probe child: out of memory");
            rc = 1;
            goto out;
        }
    if (!(h[3] = malloc((size_t)ne[2] * sizeof(float)))) {
        report(fd, SC_PROBE_ERROR, 0, 0, 0, 0, 0, 0, "probe child: out of memory");
        rc = 1;
        goto out;
    }
    unsigned long long seed = r.seed ? r.seed : 0x5afec0de;
    fill_random(h[0], ne[0], &seed);
    fill_random(h[1], ne[1], &seed);
    for (int64_t i = 0; i < ne[2]; i++) h[2][i] = NAN;
    if (buf_put(&r, &b[0], h[0]) || buf_put(&r, &b[1], h[1]) || buf_put(&r, &b[2], h[2])) {
        report(fd, SC_PROBE_ERROR, 0, 0, 0, 0, 0, 0, "probe child: copy to the device failed");
        rc = 1;
        goto out;
    }

    /* safeconv's side: its own kernels, never the vendor. Phase lines let the parent tell
     * a vendor hang from a shape too big for the watchdog. */
    phase(fd, "safeconv");
    sc_context_options o;
    sc_context_options_init(&o);
    o.device = r.device;
    o.deterministic = r.det;
    o.strategy = r.device < 0 ? SC_STRATEGY_CPU : SC_STRATEGY_GPU;
    sc_status st = sc_context_create(&o, &ctx);
    if (!st) st = safeconv_call(ctx, &r, &b[0], &b[1], &b[2]);
    sync_dev(&r);
    double times[100];
    for (int i = 0; !st && i < r.repeats; i++) {
        double t0 = now_ms();
        st = safeconv_call(ctx, &r, &b[0], &b[1], &b[2]);
        sync_dev(&r);
        times[i] = now_ms() - t0;
    }
    if (st) {
        snprintf(detail, sizeof detail, "safeconv cannot run it: %s", sc_last_error());
        report(fd, SC_PROBE_ERROR, 0, 0, 0, 0, 0, 0, detail);
        goto out;
    }
    double safeconv_ms = median(times, r.repeats);
    if (buf_get(&r, &b[2], h[2])) {
        report(fd, SC_PROBE_ERROR, 0, 0, 0, 0, 0, 0, "probe child: copy from the device failed");
        rc = 1;
        goto out;
    }

    /* The vendor's side, first call timed from handle creation to the finished result. */
    phase(fd, "vendor");
    const char *why = "";
    const sc_vendor_adapter *ad = sc__vendor_get(&why);
    if (!sc__vendor_serves(ad, r.device)) {
        report(fd, SC_PROBE_NO_VENDOR, 0, 0, safeconv_ms, 0, 0, 0, ad ? "wrong memory space" : why);
        goto out;
    }
    for (int64_t i = 0; i < ne[2]; i++) h[3][i] = NAN;
    buf_put(&r, &b[2], h[3]);
    sc_vendor_op op;
    memset(&op, 0, sizeof op);
    op.d = r.d;
    sc_conv2d_output_size(&r.d, &op.p, &op.q);
    op.dir = r.dir, op.deterministic = r.det;
    op.ws_limit = r.device < 0 ? (size_t)64 << 20 : (size_t)16 << 20;
    op.a = b[0].p, op.b = b[1].p, op.out = b[2].p;
    void *handle = NULL;
    int algo = 0;
    size_t ws = 0;
    char err[256] = "";
    double t0 = now_ms();
    int vr = ad->create(&handle, r.device, err, sizeof err);
    if (!vr) vr = ad->plan(handle, &op, &algo, &ws, err, sizeof err);
    buf wsb = {0};
    if (!vr && ws && buf_alloc(&r, &wsb, (int64_t)((ws + 3) / esize(r.d.dtype)))) {
        /* This machine's memory, not the vendor: say so (phase "probe"), so it is not cached. */
        phase(fd, "probe");
        snprintf(err, sizeof err, "cannot allocate %zu bytes of vendor workspace", ws);
        report(fd, SC_PROBE_ERROR, algo, 0, 0, 0, 0, ws, err);
        goto vendor_out;
    }
    op.ws = wsb.p, op.ws_size = ws;
    if (!vr) vr = ad->run(handle, &op, algo, err, sizeof err);
    sync_dev(&r);
    double first_ms = now_ms() - t0;
    if (vr) {
        report(fd, SC_PROBE_ERROR, algo, 0, safeconv_ms, first_ms, 0, ws, err);
        goto vendor_out;
    }
    buf_get(&r, &b[2], h[3]);
    double num = 0, den = 0;
    bool finite = true;
    for (int64_t i = 0; i < ne[2]; i++) {
        if (!isfinite(h[3][i])) finite = false;
        double dd = (double)h[3][i] - h[2][i];
        num += dd * dd, den += (double)h[2][i] * h[2][i];
    }
    double rel = finite ? (den > 0 ? sqrt(num / den) : sqrt(num)) : NAN;
    double tol = r.tol > 0 ? r.tol : r.d.dtype == SC_DTYPE_F32 ? 1e-3 : 2e-2;
    if (!finite || !(rel <= tol)) {
        snprintf(detail, sizeof detail,
                 finite ? "relative error %.3g > tolerance %.3g"
                        : "NaN or Inf in the result (tolerance %.3g)",
                 finite ? rel : tol, tol);
        report(fd, SC_PROBE_WRONG, algo, 0, safeconv_ms, first_ms, rel, ws, detail);
        goto vendor_out;
    }
    for (int i = 0; !vr && i < r.repeats; i++) {
        double t1 = now_ms();
        vr = ad->run(handle, &op, algo, err, sizeof err);
        sync_dev(&r);
        times[i] = now_ms() - t1;
    }
    if (vr) {
        report(fd, SC_PROBE_ERROR, algo, 0, safeconv_ms, first_ms, rel, ws, err);
        goto vendor_out;
    }
    double vendor_ms = median(times, r.repeats);
    if (first_ms > r.slow_s * 1e3) {
        snprintf(detail, sizeof detail, "first call %.1f s > %.1f s", first_ms / 1e3, r.slow_s);
        report(fd, SC_PROBE_SLOW, algo, vendor_ms, safeconv_ms, first_ms, rel, ws, detail);
    } else {
        report(fd, SC_PROBE_OK, algo, vendor_ms, safeconv_ms, first_ms, rel, ws, "");
    }
vendor_out:
    if (handle) ad->destroy(handle);
    buf_free(&r, &wsb);
out:
    sc_context_destroy(ctx);
    for (int i = 0; i < 3; i++) buf_free(&r, &b[i]);
    for (int i = 0; i < 4; i++) free(h[i]);
    return rc;
}

int sc_probe_child_main(int argc, char **argv)
{
    /* argv: [.., "--child", FD, REQUEST] as probe.c builds it; only the last two matter. */
    if (argc < 2) return 2;
    int fd = atoi(argv[argc - 2]);
    if (fd < 0) return 2;
    return sc__probe_child_run(argv[argc - 1], fd);
}
