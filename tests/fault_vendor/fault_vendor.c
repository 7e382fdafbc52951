/* fault_vendor.c - a vendor plugin for the tests (vendor_abi.h) that misbehaves on purpose, the
 * way MIOpen does for our users, and otherwise computes correctly with direct loops on HOST
 * memory (so it serves CPU contexts: CI has no GPU).
 *
 *   SAFECONV_VENDOR_LIBRARY=/path/libsafeconv_fault_vendor.so   select it
 *   SAFECONV_FAULT_RULES="k=7:segv; k=9&dir=bwd_data:abort; hw>42:hang"
 *   SAFECONV_FAULT_RULES_FILE=/path/rules   same syntax, one rule per line ('#' comments)
 *
 * A rule is CONDITIONS:ACTION; the first rule whose conditions all hold decides. Conditions are
 * KEY OP NUMBER joined by '&', with KEY one of n c h w k r s g (groups) hw (max(h,w)) stride pad
 * dil dir (value fwd, bwd_data or bwd_weight; OP '=' only) and OP one of = != < <= > >=.
 * Actions: ok, hang (never returns), segv (raises SIGSEGV), abort, wrong (every result 10%
 * off), nan (one NaN in the result), error (a vendor error status), slow or slow=MS (the first
 * call in the process sleeps MS, default 1000, then computes correctly).
 * SAFECONV_FAULT_VERSION=X makes it report version X (default 1.0).
 * With neither variable set the rule is "hw>42:hang": the original users' bug (an RX 5600 XT
 * fine at 42x42, hung at 44x44). fp32 only; other dtypes give an error status. */
#include "vendorlib/vendor_abi.h"

#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

enum action {
    A_OK,
    A_HANG,
    A_SEGV,
    A_ABORT,
    A_WRONG,
    A_NAN,
    A_ERROR,
    A_SLOW
};

/* Does one condition hold? "k>7", "dir=bwd_data". Unknown keys never hold. */
static int cond_holds(const char *c, size_t len, const sc_vendor_op *op)
{
    char buf[64];
    if (len >= sizeof buf) return 0;
    memcpy(buf, c, len), buf[len] = 0;
    char *p = buf;
    while (*p == ' ') p++;
    char key[16];
    size_t kl = strcspn(p, "=!<> ");
    if (!kl || kl >= sizeof key) return 0;
    memcpy(key, p, kl), key[kl] = 0;
    p += kl;
    while (*p == ' ') p++;
    char opr[3] = {0};
    if (p[0] && strchr("=!<>", p[0])) opr[0] = *p++;
    if (p[0] == '=') opr[1] = *p++;
    while (*p == ' ') p++;
    char *end = p + strlen(p);
    while (end > p && end[-1] == ' ') *--end = 0;
    const sc_conv2d_desc *d = &op->d;
    if (!strcmp(key, "dir")) {
        const char *names[] = {"fwd", "bwd_data", "bwd_weight", "bwd_bias"};
        int want = -1;
        for (int i = 0; i < 4; i++)
            if (!strcmp(p, names[i])) want = i;
        return !strcmp(opr, "=") ? want == (int)op->dir
                                 : !strcmp(opr, "!=") && want != (int)op->dir;
    }
    int64_t v;
    if (!strcmp(key, "n"))
        v = d->n;
    else if (!strcmp(key, "c"))
        v = d->c;
    else if (!strcmp(key, "h"))
        v = d->h;
    else if (!strcmp(key, "w"))
        v = d->w;
    else if (!strcmp(key, "k"))
        v = d->k;
    else if (!strcmp(key, "r"))
        v = d->r;
    else if (!strcmp(key, "s"))
        v = d->s;
    else if (!strcmp(key, "g"))
        v = d->groups;
    else if (!strcmp(key, "hw"))
        v = d->h > d->w ? d->h : d->w;
    else if (!strcmp(key, "stride"))
        v = d->stride_h;
    else if (!strcmp(key, "pad"))
        v = d->pad_h;
    else if (!strcmp(key, "dil"))
        v = d->dil_h;
    else
        return 0;
    char *num_end;
    long long x = strtoll(p, &num_end, 10);
    if (num_end == p) return 0;
    if (!strcmp(opr, "=")) return v == x;
    if (!strcmp(opr, "!=")) return v != x;
    if (!strcmp(opr, "<")) return v < x;
    if (!strcmp(opr, "<=")) return v <= x;
    if (!strcmp(opr, ">")) return v > x;
    if (!strcmp(opr, ">=")) return v >= x;
    return 0;
}

/* Parse ACTION ("slow=250") into *act and *ms. */
static void parse_action(const char *a, size_t len, enum action *act, long *ms)
{
    char buf[32];
    while (len && *a == ' ') a++, len--;
    while (len && (a[len - 1] == ' ' || a[len - 1] == '\r')) len--;
    if (len >= sizeof buf) len = sizeof buf - 1;
    memcpy(buf, a, len), buf[len] = 0;
    *ms = 1000;
    static const char *const names[] = {"ok",    "hang", "segv",  "abort",
                                        "wrong", "nan",  "error", "slow"};
    *act = A_OK;
    for (int i = 0; i < 8; i++) {
        size_t nl = strlen(names[i]);
        if (!strncmp(buf, names[i], nl) && (buf[nl] == 0 || buf[nl] == '=')) {
            *act = (enum action)i;
            if (buf[nl] == '=') *ms = atol(buf + nl + 1);
        }
    }
}

static char *read_rules(void)
{
    const char *env = getenv("SAFECONV_FAULT_RULES");
    if (env) return strdup(env);
    const char *path = getenv("SAFECONV_FAULT_RULES_FILE");
    if (!path) return strdup("hw>42:hang");
    FILE *f = fopen(path, "r");
    if (!f) return strdup("");
    char *s = calloc(1, 65536);
    size_t n = s ? fread(s, 1, 65535, f) : 0;
    fclose(f);
    /* Comments out; lines become rules. */
    for (size_t i = 0; s && i < n; i++) {
        if (s[i] == '#')
            while (i < n && s[i] != '\n') s[i++] = ' ';
        if (i < n && s[i] == '\n') s[i] = ';';
    }
    return s;
}

static enum action decide(const sc_vendor_op *op, long *ms)
{
    char *rules = read_rules();
    enum action act = A_OK;
    *ms = 1000;
    for (char *r = rules; r && *r;) {
        size_t rl = strcspn(r, ";");
        char *colon = memchr(r, ':', rl);
        if (colon) {
            int all = 1;
            for (char *c = r; c < colon && all;) {
                size_t cl = strcspn(c, "&");
                if (c + cl > colon) cl = (size_t)(colon - c);
                all = cond_holds(c, cl, op);
                c += cl + 1;
            }
            if (all) {
                parse_action(colon + 1, (size_t)(r + rl - colon - 1), &act, ms);
                break;
            }
        }
        r += rl + (r[rl] == ';');
    }
    free(rules);
    return act;
}

/* ---- Correct results: direct loops accumulating in double. ---- */
static int64_t xi(const sc_conv2d_desc *d, int64_t n, int64_t c, int64_t h, int64_t w)
{
    return d->layout == SC_NHWC ? ((n * d->h + h) * d->w + w) * d->c + c
                                : ((n * d->c + c) * d->h + h) * d->w + w;
}
static int64_t wi(const sc_conv2d_desc *d, int64_t k, int64_t c, int64_t r, int64_t s)
{
    int64_t cg = d->c / d->groups;
    return d->layout == SC_NHWC ? ((k * d->r + r) * d->s + s) * cg + c
                                : ((k * cg + c) * d->r + r) * d->s + s;
}
static int64_t yi(const sc_vendor_op *op, int64_t n, int64_t k, int64_t p, int64_t q)
{
    const sc_conv2d_desc *d = &op->d;
    return d->layout == SC_NHWC ? ((n * op->p + p) * op->q + q) * d->k + k
                                : ((n * d->k + k) * op->p + p) * op->q + q;
}

/* Visit every (x index, w index, y index) triple that one multiply-add of the convolution
 * touches, accumulating into acc[] indexed by the output role of `dir`. */
static void compute(const sc_vendor_op *op, double *acc)
{
    const sc_conv2d_desc *d = &op->d;
    int64_t cg = d->c / d->groups, kg = d->k / d->groups;
    const float *A = op->a, *B = op->b;
    for (int64_t n = 0; n < d->n; n++)
        for (int64_t k = 0; k < d->k; k++) {
            int64_t g = k / kg;
            for (int64_t p = 0; p < op->p; p++)
                for (int64_t q = 0; q < op->q; q++)
                    for (int64_t c = 0; c < cg; c++)
                        for (int64_t r = 0; r < d->r; r++) {
                            int64_t h = p * d->stride_h - d->pad_h + r * d->dil_h;
                            if (h < 0 || h >= d->h) continue;
                            for (int64_t s = 0; s < d->s; s++) {
                                int64_t w = q * d->stride_w - d->pad_w + s * d->dil_w;
                                if (w < 0 || w >= d->w) continue;
                                int64_t ix = xi(d, n, g * cg + c, h, w), iw = wi(d, k, c, r, s),
                                        iy = yi(op, n, k, p, q);
                                switch (op->dir) {
                                case SC_DIR_FORWARD: acc[iy] += (double)A[ix] * B[iw]; break;
                                case SC_DIR_BACKWARD_DATA: acc[ix] += (double)A[iy] * B[iw]; break;
                                default: acc[iw] += (double)A[ix] * B[iy]; break;
                                }
                            }
                        }
        }
}

static int fault_load(char *err, size_t len)
{
    (void)err, (void)len;
    return 0;
}
/* $SAFECONV_FAULT_VERSION changes the version it reports (tests of cache version stamps). */
static const char *fault_version(void)
{
    const char *v = getenv("SAFECONV_FAULT_VERSION");
    return v && *v ? v : "1.0";
}
static const char *fault_library(void) { return "libsafeconv_fault_vendor.so"; }
static int fault_create(void **h, int device, char *err, size_t len)
{
    (void)device, (void)err, (void)len;
    *h = malloc(1);
    return 0;
}
static void fault_destroy(void *h) { free(h); }

static int fault_plan(void *h, const sc_vendor_op *op, int *algo, size_t *ws, char *err, size_t len)
{
    (void)h;
    if (op->d.dtype != SC_DTYPE_F32) {
        snprintf(err, len, "FAULT_STATUS_NOT_SUPPORTED: fp32 only");
        return 3;
    }
    *algo = 1, *ws = 0;
    return 0;
}

static int fault_run(void *h, const sc_vendor_op *op, int algo, char *err, size_t len)
{
    (void)h, (void)algo;
    if (op->d.dtype != SC_DTYPE_F32) {
        snprintf(err, len, "FAULT_STATUS_NOT_SUPPORTED: fp32 only");
        return 3;
    }
    long ms;
    enum action act = decide(op, &ms);
    static atomic_int called; /* threads may call at once (test_cache_threads.c) */
    bool first = !atomic_exchange(&called, 1);
    switch (act) {
    case A_HANG:
        for (;;) pause();
    case A_SEGV: raise(SIGSEGV); break;
    case A_ABORT: abort();
    case A_ERROR: snprintf(err, len, "FAULT_STATUS_EXECUTION_FAILED (injected)"); return 8;
    case A_SLOW:
        if (first) {
            struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
            while (nanosleep(&t, &t)) {}
        }
        break;
    default: break;
    }
    const sc_conv2d_desc *d = &op->d;
    int64_t cg = d->c / d->groups;
    int64_t out_elems = op->dir == SC_DIR_FORWARD         ? d->n * d->k * op->p * op->q
                        : op->dir == SC_DIR_BACKWARD_DATA ? d->n * d->c * d->h * d->w
                                                          : d->k * cg * d->r * d->s;
    double *acc = calloc((size_t)out_elems, sizeof *acc);
    if (!acc) {
        snprintf(err, len, "FAULT_STATUS_ALLOC_FAILED");
        return 2;
    }
    compute(op, acc);
    float *out = op->out;
    for (int64_t i = 0; i < out_elems; i++) out[i] = (float)acc[i];
    free(acc);
    if (op->dir == SC_DIR_FORWARD && op->c) {
        const float *bias = op->c;
        for (int64_t i = 0; i < out_elems; i++) {
            int64_t k = d->layout == SC_NHWC ? i % d->k : i / (op->p * op->q) % d->k;
            out[i] += bias[k];
        }
    }
    if (op->dir == SC_DIR_BACKWARD_WEIGHT && op->out2) {
        const float *dy = op->b;
        float *db = op->out2;
        for (int64_t k = 0; k < d->k; k++) {
            double sum = 0;
            for (int64_t n = 0; n < d->n; n++)
                for (int64_t p = 0; p < op->p; p++)
                    for (int64_t q = 0; q < op->q; q++) sum += dy[yi(op, n, k, p, q)];
            db[k] = (float)sum;
        }
    }
    if (act == A_WRONG)
        for (int64_t i = 0; i < out_elems; i++) out[i] = out[i] * 1.1f + 0.01f;
    if (act == A_NAN) out[out_elems / 2] = NAN;
    return 0;
}

static const sc_vendor_adapter adapter = {
    .abi = SC_VENDOR_ABI,
    .name = "fault",
    .memory = SC_VENDOR_MEM_HOST,
    .algo = SC_ALGO_VENDOR_PLUGIN,
    .load = fault_load,
    .version = fault_version,
    .library = fault_library,
    .create = fault_create,
    .destroy = fault_destroy,
    .plan = fault_plan,
    .run = fault_run,
};

EXPORT const sc_vendor_adapter *safeconv_vendor_adapter(int abi)
{
    return abi == SC_VENDOR_ABI ? &adapter : NULL;
}
