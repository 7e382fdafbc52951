/* fuzz_dispatch.c - libFuzzer target: descriptors and calls through the public API, on the CPU
 * route and through the fault-injection vendor (strategies cpu, vendor, auto, selective).
 *
 * Each input is a route, 14 descriptor fields (small values, values near the int64 limits, or
 * raw 8-byte integers), a dtype and a layout byte (junk allowed), a direction byte (junk
 * allowed) and a workspace choice. Every input goes through validate, output_size,
 * tensor_elems, flops, workspace_size and select: none may crash, overflow (UBSan) or answer a
 * status outside the API's. A valid fp32 problem small enough to run is run with random data
 * and compared with the double-precision reference (tools/check.c): a call that succeeds must
 * be right; the only failure allowed is the vendor's injected error. Then once more with a
 * caller workspace of exactly the size asked, and one byte short (ASan sees any overrun). */
#include "../../tools/check.h"
#include "safeconv.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ELEMS (1 << 14) /* per tensor, to run */
#define MAX_MACS  4e6

static sc_context *ctx[4];

static void fail(const char *what, const sc_conv2d_desc *d, int dir, const char *msg)
{
    char text[200];
    sc_desc_format(d, text, sizeof text);
    fprintf(stderr, "fuzz_dispatch: %s: %s dir %d: %s\n", what, text, dir, msg);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    /* The fault vendor is built next to this program (make fuzz). Only faults that return:
     * a hang or a crash would be the fuzzer's finding, not the library's. */
    static char plugin[PATH_MAX + 64];
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) abort();
    self[n] = 0;
    *strrchr(self, '/') = 0;
    snprintf(plugin, sizeof plugin, "%s/libsafeconv_fault_vendor.so", self);
    if (access(plugin, R_OK)) {
        fprintf(stderr, "fuzz_dispatch: no %s\n", plugin);
        abort();
    }
    setenv("SAFECONV_VENDOR_LIBRARY", plugin, 1);
    setenv("SAFECONV_FAULT_RULES", "k=13:error; ok", 1);
    const sc_strategy strategies[4] = {SC_STRATEGY_CPU, SC_STRATEGY_VENDOR, SC_STRATEGY_AUTO,
                                       SC_STRATEGY_SELECTIVE};
    for (int i = 0; i < 4; i++) {
        sc_context_options o;
        sc_context_options_init(&o);
        o.strategy = strategies[i];
        o.cache_path = ":memory:";
        o.size_threshold = 8;
        if (sc_context_create(&o, &ctx[i])) abort();
    }
    return 0;
}

typedef struct {
    const uint8_t *p;
    size_t n;
} input;

static uint8_t byte(input *in)
{
    if (!in->n) return 0;
    in->n--;
    return *in->p++;
}

static int64_t field(input *in)
{
    static const int64_t edges[] = {INT64_MAX,
                                    INT64_MIN,
                                    INT64_MAX / 2,
                                    (int64_t)1 << 31,
                                    ((int64_t)1 << 31) - 1,
                                    (int64_t)1 << 32,
                                    (int64_t)1 << 40,
                                    (int64_t)1 << 62,
                                    -1,
                                    -2,
                                    65535,
                                    1000003};
    uint8_t b = byte(in);
    if (b < 200) return b % 10; /* mostly small: valid problems */
    if (b < 240) return edges[(b - 200) % (sizeof edges / sizeof edges[0])];
    int64_t v = 0;
    for (int i = 0; i < 8; i++) v = (int64_t)((uint64_t)v << 8 | byte(in));
    return v;
}

/* A status of the API, and not INTERNAL ("a bug in safeconv"). */
static bool known_status(sc_status s)
{
    return (unsigned)s <= SC_STATUS_CACHE_ERROR && s != SC_STATUS_INTERNAL;
}

/* sc_conv2d_backward on a problem whose single directions ran: with the larger of the two
 * directions' workspaces it succeeds (but on the fault-injecting routes) and gives the bits of
 * the single-direction calls; one byte short it is BAD_PARAM. */
static void backward_in_one_call(int route, const sc_conv2d_desc *d, int64_t xe, int64_t we,
                                 int64_t ye, uint8_t ws_mode, uint64_t seed)
{
    size_t wbd = 0, wbw = 0;
    if (sc_conv2d_workspace_size(ctx[route], d, SC_DIR_BACKWARD_DATA, &wbd) ||
        sc_conv2d_workspace_size(ctx[route], d, SC_DIR_BACKWARD_WEIGHT, &wbw))
        return;
    size_t ws = wbd > wbw ? wbd : wbw;
    if (ws > ((size_t)64 << 20)) return;
    size_t give = ws && (ws_mode & 2) ? ws - 1 : ws;
    size_t n[7] = {(size_t)xe, (size_t)we, (size_t)ye, (size_t)xe,
                   (size_t)we, (size_t)xe, (size_t)we};
    float *t[7] = {0};
    bool ok = true;
    for (int i = 0; i < 7; i++) ok = ok && (t[i] = malloc(n[i] * sizeof(float)));
    void *w = malloc(give ? give : 1);
    if (ok && w) {
        for (int i = 0; i < 3; i++)
            for (size_t j = 0; j < n[i]; j++)
                t[i][j] = (float)((seed + 7919 * (uint64_t)(i + 3 * j)) % 17) * 0.125f - 1.0f;
        bool faulty = route != 0 && d->k == 13;
        sc_algo algos[4];
        sc_status rs =
            sc_conv2d_backward(ctx[route], d, t[0], t[1], t[2], t[3], t[4], NULL, w, give, algos);
        if (!known_status(rs)) fail("backward in one call", d, -1, "unknown status");
        if (give < ws && rs != SC_STATUS_BAD_PARAM)
            fail("backward in one call, workspace one byte short", d, -1, sc_status_string(rs));
        if (give == ws && rs && !faulty)
            fail("backward in one call with the workspace asked for", d, -1, sc_last_error());
        if (give == ws && !rs && !faulty) {
            if (sc_conv2d_backward_data(ctx[route], d, t[2], t[1], t[5], w, give) ||
                sc_conv2d_backward_weight(ctx[route], d, t[0], t[2], t[6], NULL, w, give))
                fail("single directions after one call", d, -1, sc_last_error());
            if (memcmp(t[3], t[5], n[3] * sizeof(float)) ||
                memcmp(t[4], t[6], n[4] * sizeof(float)))
                fail("backward in one call", d, -1, "bits differ from the single directions");
        }
    }
    for (int i = 0; i < 7; i++) free(t[i]);
    free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input in = {data, size};
    int route = byte(&in) % 4;
    sc_conv2d_desc d;
    sc_conv2d_desc_init(&d);
    int64_t *f[] = {&d.n,     &d.c,     &d.h,        &d.w,        &d.k,     &d.r,     &d.s,
                    &d.pad_h, &d.pad_w, &d.stride_h, &d.stride_w, &d.dil_h, &d.dil_w, &d.groups};
    for (int i = 0; i < 14; i++) *f[i] = field(&in);
    uint8_t t = byte(&in), l = byte(&in);
    d.dtype = (sc_dtype)(t < 250 ? t % 3 : t); /* junk now and then */
    d.layout = (sc_layout)(l < 250 ? l % 2 : l);
    uint8_t db = byte(&in);
    int dir = db < 250 ? db % 4 : db;
    uint8_t ws_mode = byte(&in);
    uint64_t seed = (uint64_t)byte(&in) << 8 | byte(&in);

    sc_status vs = sc_conv2d_validate(&d);
    if (!known_status(vs)) fail("validate", &d, dir, "unknown status");
    int64_t p = 0, q = 0, xe = 0, we = 0, ye = 0;
    sc_status os = sc_conv2d_output_size(&d, &p, &q);
    sc_status es = sc_conv2d_tensor_elems(&d, &xe, &we, &ye);
    if ((os == SC_STATUS_OK) != (vs == SC_STATUS_OK) ||
        (es == SC_STATUS_OK) != (vs == SC_STATUS_OK))
        fail("validate vs sizes", &d, dir, sc_last_error());
    if (vs == SC_STATUS_OK && (p < 1 || q < 1 || xe < 1 || we < 1 || ye < 1))
        fail("sizes", &d, dir, "a valid problem with an empty tensor");
    (void)sc_conv2d_flops(&d, (sc_direction)dir);
    size_t ws = 0;
    sc_algo algo;
    sc_status wss = sc_conv2d_workspace_size(ctx[route], &d, (sc_direction)dir, &ws);
    sc_status sel = sc_conv2d_select(ctx[route], &d, (sc_direction)dir, &algo);
    if (!known_status(wss) || !known_status(sel)) fail("query", &d, dir, "unknown status");
    if (vs || dir > 3 || d.dtype != SC_DTYPE_F32) return 0;
    if (xe > MAX_ELEMS || we > MAX_ELEMS || ye > MAX_ELEMS) return 0;
    if (sc_conv2d_flops(&d, SC_DIR_FORWARD) / 2 > MAX_MACS) return 0;

    sc_check_result res;
    sc_status st = sc_check_direction(ctx[route], SC_DEVICE_CPU, &d, (sc_direction)dir, seed, &res);
    if (st) fail("check", &d, dir, sc_last_error());
    bool injected = route != 0 && d.k == 13 && strstr(res.message, "FAULT_STATUS");
    if (!res.pass && !injected) fail("result", &d, dir, res.message);
    if (dir == SC_DIR_BACKWARD_DATA) backward_in_one_call(route, &d, xe, we, ye, ws_mode, seed);

    /* A caller workspace: exactly the size asked, then one byte short. */
    if (wss || !ws || dir == SC_DIR_BACKWARD_BIAS || ws > ((size_t)64 << 20)) return 0;
    size_t give = ws_mode & 1 ? ws - 1 : ws;
    float *a = calloc((size_t)(xe > ye ? xe : ye), sizeof(float));
    float *b = calloc((size_t)(we > ye ? we : ye), sizeof(float));
    float *out =
        calloc((size_t)(xe > we ? (xe > ye ? xe : ye) : (we > ye ? we : ye)), sizeof(float));
    void *w = malloc(give ? give : 1);
    if (a && b && out && w) {
        sc_status rs;
        if (dir == SC_DIR_FORWARD)
            rs = sc_conv2d_forward(ctx[route], &d, a, b, NULL, out, w, give);
        else if (dir == SC_DIR_BACKWARD_DATA)
            rs = sc_conv2d_backward_data(ctx[route], &d, a, b, out, w, give);
        else
            rs = sc_conv2d_backward_weight(ctx[route], &d, a, b, out, NULL, w, give);
        if (!known_status(rs)) fail("call", &d, dir, "unknown status");
        if (give == ws && rs && !(route != 0 && d.k == 13))
            fail("call with the workspace asked for", &d, dir, sc_last_error());
        if (give < ws && rs != SC_STATUS_BAD_PARAM)
            fail("call with a workspace one byte short", &d, dir, sc_status_string(rs));
    }
    free(a), free(b), free(out), free(w);
    return 0;
}
