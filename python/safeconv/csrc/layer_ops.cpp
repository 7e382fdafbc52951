/* layer_ops.cpp - conv2d's eager training path as a PyTorch operator in C++ (docs/pytorch.md,
 * "The C++ layer").
 *
 * Why: in an eager training step the Python layer's host time per convolution (the autograd
 * Function, the context lock, the workspace, the stream, three ctypes calls) is about twice
 * PyTorch's own per layer, and on small late layers the host, not the GPU, sets the pace. This
 * file runs the part of a conv2d call that repeats every step in C++: the forward, and the whole
 * backward as an autograd node of its own (no Python runs in backward()).
 *
 * What stays in Python (functional.py): everything decided once per layer and shape (argument
 * checks, padding, layouts, autocast, the descriptor). Python builds one `_Entry` per layer and
 * call shape and calls `torch.ops.safeconv_layer.conv2d(x, w, b, entry.id())` with the operands
 * as the user gave them; the operator casts them (autocast), lays them out as the entry says and
 * checks every tensor against the entry (shape, dtype, device): operands it does not describe
 * give None (the Python layer then runs the call); it never reads memory the entry does not
 * describe.
 *
 * The autograd graph is the Python layer's (functional.py's module comment): forward's
 * gradients are backward_data, backward_weight and backward_bias, each itself differentiable
 * (double backward), and without create_graph the backward is one sc_conv2d_backward call.
 * Every library call gets the bits the Python layer's call gets: the same descriptor, options,
 * math mode and workspace rules.
 *
 * Library: libsafeconv is the one the Python package already loaded (ctypes): _bind() takes the
 * addresses of its functions from it (checked with dladdr), so this file loads no library.
 * Contexts: a `_Context` is a context of its own (created from the Python context's options),
 * with a mutex that serializes its calls (a context is used by one thread at a time; backward
 * runs on PyTorch's autograd threads). Statistics: each call adds one to the entry's tally, an
 * int64 CPU tensor that the layer's Python statistics read (_stats.py, TALLY_* below).
 * GPU calls: on PyTorch's current stream of the tensor's GPU, that GPU made current for the
 * call, workspace from PyTorch's caching allocator (capture-safe: no synchronization, no
 * events). Builds: CPU PyTorch, and CUDA PyTorch with SAFECONV_EXT_CUDA defined. */
#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/DeviceGuard.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/custom_class.h>
#include <torch/library.h>

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "safeconv.h"

#ifdef SAFECONV_EXT_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace
{

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

/* ---- the library's entry points (the loaded libsafeconv's) ----
 * Python hands over the addresses of the functions it loaded (ctypes), in the order of
 * API_NAMES; each is accepted only where dladdr() names it that function of one and the same
 * object. No dlopen(): the operators never load a library of their own. */
struct Api {
    decltype(&sc_context_create) context_create;
    decltype(&sc_context_destroy) context_destroy;
    decltype(&sc_context_set_stream) context_set_stream;
    decltype(&sc_context_set_math_mode) context_set_math_mode;
    decltype(&sc_context_get_stats) context_get_stats;
    decltype(&sc_conv2d_forward) forward;
    decltype(&sc_conv2d_backward) backward;
    decltype(&sc_conv2d_workspace_size) workspace_size;
    decltype(&sc_conv2d_validate) validate;
    decltype(&sc_conv2d_output_size) output_size;
    decltype(&sc_last_error) last_error;
    decltype(&sc_status_string) status_string;
};
Api api;
std::mutex api_mu;
std::atomic<bool> api_ready{false};

const char *const API_NAMES[] = {"sc_context_create",     "sc_context_destroy",
                                 "sc_context_set_stream", "sc_context_set_math_mode",
                                 "sc_context_get_stats",  "sc_conv2d_forward",
                                 "sc_conv2d_backward",    "sc_conv2d_workspace_size",
                                 "sc_conv2d_validate",    "sc_conv2d_output_size",
                                 "sc_last_error",         "sc_status_string"};
constexpr size_t API_COUNT = sizeof API_NAMES / sizeof API_NAMES[0];
static_assert(API_COUNT * sizeof(void *) == sizeof(Api), "one address per Api member");

std::vector<std::string> api_names() { return {API_NAMES, API_NAMES + API_COUNT}; }

/* _bind(addresses): the library's functions, API_NAMES' order. */
void bind_api(std::vector<int64_t> addresses)
{
    std::lock_guard<std::mutex> g(api_mu);
    TORCH_CHECK(addresses.size() == API_COUNT, "safeconv layer ops: _bind takes ", API_COUNT,
                " addresses, got ", addresses.size());
    void *fns[API_COUNT];
    void *base = nullptr;
    for (size_t i = 0; i < API_COUNT; i++) {
        void *p = reinterpret_cast<void *>(static_cast<intptr_t>(addresses[i]));
        Dl_info info;
        bool named = p && dladdr(p, &info) && info.dli_saddr == p && info.dli_sname &&
                     std::strcmp(info.dli_sname, API_NAMES[i]) == 0;
        TORCH_CHECK(named && (i == 0 || info.dli_fbase == base), "safeconv layer ops: address ", i,
                    " is not ", API_NAMES[i], " of the loaded libsafeconv");
        base = info.dli_fbase;
        fns[i] = p;
    }
    Api a;
    std::memcpy(&a, fns, sizeof a); /* function pointers, member by member in API_NAMES' order */
    if (api_ready.load(std::memory_order_acquire)) {
        TORCH_CHECK(std::memcmp(&a, &api, sizeof a) == 0,
                    "safeconv layer ops: already bound to another libsafeconv");
        return;
    }
    api = a;
    api_ready.store(true, std::memory_order_release);
}

void need_api()
{
    TORCH_CHECK(api_ready.load(std::memory_order_acquire),
                "safeconv layer ops: _bind() has not run (import safeconv's functional module)");
}

/* A failed library call as the Python layer words it: "safeconv <call> failed (<status>): <why>" */
[[noreturn]] void fail(const char *what, sc_status st)
{
    const char *msg = api.last_error();
    TORCH_CHECK(false, "safeconv ", what, " failed (", api.status_string(st),
                "): ", (msg && *msg) ? msg : api.status_string(st));
}

/* ---- statistics: one int64 tally per layer, shared with Python (_stats.py) ----
 * tally[(direction * TALLY_ALGOS + algo) * TALLY_MATHS + math]: library calls, where math is 0
 * fp32, 1 tf32, 2 fp16, 3 bf16 (what report() shows); then the layer's forward and backward
 * calls (the user's calls, not the library's). */
constexpr int TALLY_ALGOS = 32;
constexpr int TALLY_MATHS = 4;
constexpr int TALLY_FORWARD_CALLS = 4 * TALLY_ALGOS * TALLY_MATHS;
constexpr int TALLY_BACKWARD_CALLS = TALLY_FORWARD_CALLS + 1;
constexpr int TALLY_SIZE = TALLY_FORWARD_CALLS + 2;
static_assert(SC_ALGO_LAST < TALLY_ALGOS, "the tally has a column per algorithm id");

/* ---- a context of this file's own ---- */
struct Ctx : torch::CustomClassHolder {
    sc_context *h = nullptr;
    int device = SC_DEVICE_CPU;
    std::mutex mu;          /* held for every use of h */
    void *stream = nullptr; /* the stream h was last given */
    int math = SC_MATH_EXACT;
    at::Tensor no_workspace; /* a GPU call that needs none gets this (see with_context) */

    /* opts: the bytes of an sc_context_options (its pointer fields are replaced here) */
    Ctx(at::Tensor opts, c10::optional<std::string> cache_path)
    {
        need_api();
        TORCH_CHECK(opts.device().is_cpu() && opts.scalar_type() == at::kByte &&
                        opts.is_contiguous() && opts.numel() == (int64_t)sizeof(sc_context_options),
                    "safeconv _Context: options must be ", sizeof(sc_context_options),
                    " bytes (a CPU uint8 tensor)");
        sc_context_options o;
        std::memcpy(&o, opts.data_ptr(), sizeof o);
        o.stream = nullptr;
        o.cache_path = cache_path ? cache_path->c_str() : nullptr;
        sc_status st = api.context_create(&o, &h);
        if (st != SC_STATUS_OK) fail("sc_context_create", st);
        device = o.device;
        math = o.math;
    }
    ~Ctx() override
    {
        if (h) api.context_destroy(h);
    }
};

/* ---- one layer's call shape: the descriptor and what the Python layer decided for it ---- */
struct Entry : torch::CustomClassHolder {
    c10::intrusive_ptr<Ctx> ctx;
    sc_conv2d_desc d;
    int64_t p, q;
    std::vector<int64_t> w_stride; /* the weight's strides: weight gradients get exactly these */
    int64_t math;                  /* sc_math_mode to set for the calls, or -1: leave it */
    at::Tensor tally;
    size_t ws[4]; /* workspace bytes per direction (ctx->mu) */
    bool ws_known[4];
    int64_t id = 0; /* in the entries table (entry_id) once asked for; 0 before */

    Entry(c10::intrusive_ptr<Ctx> ctx_, at::Tensor desc, std::vector<int64_t> w_stride_,
          int64_t math_, at::Tensor tally_)
        : ctx(std::move(ctx_)), w_stride(std::move(w_stride_)), math(math_),
          tally(std::move(tally_)), ws{}, ws_known{}
    {
        need_api();
        TORCH_CHECK(desc.device().is_cpu() && desc.scalar_type() == at::kByte &&
                        desc.is_contiguous() && desc.numel() == (int64_t)sizeof(sc_conv2d_desc),
                    "safeconv _Entry: desc must be ", sizeof(sc_conv2d_desc),
                    " bytes (a CPU uint8 tensor)");
        std::memcpy(&d, desc.data_ptr(), sizeof d);
        sc_status st = api.validate(&d);
        if (st != SC_STATUS_OK) fail("sc_conv2d_validate", st);
        st = api.output_size(&d, &p, &q);
        if (st != SC_STATUS_OK) fail("sc_conv2d_output_size", st);
        TORCH_CHECK(w_stride.size() == 4, "safeconv _Entry: w_stride must have 4 values");
        /* weight gradients are made with these strides and written in the entry's layout */
        at::Tensor probe = at::empty_strided({d.k, d.c / d.groups, d.r, d.s}, w_stride,
                                             at::TensorOptions().device(at::kMeta));
        TORCH_CHECK(probe.is_contiguous(format()),
                    "safeconv _Entry: w_stride is not a dense layout of the weight in the "
                    "descriptor's layout");
        TORCH_CHECK(math >= -1 && math <= SC_MATH_TF32, "safeconv _Entry: math ", math);
        TORCH_CHECK(tally.device().is_cpu() && tally.scalar_type() == at::kLong &&
                        tally.is_contiguous() && tally.numel() == TALLY_SIZE,
                    "safeconv _Entry: tally must be ", TALLY_SIZE, " int64 values on the CPU");
    }

    bool nhwc() const { return d.layout == SC_NHWC; }
    at::MemoryFormat format() const
    {
        return nhwc() ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
    }
    at::ScalarType dtype() const
    {
        return d.dtype == SC_DTYPE_F16    ? at::kHalf
               : d.dtype == SC_DTYPE_BF16 ? at::kBFloat16
                                          : at::kFloat;
    }
    void count(int slot)
    {
        __atomic_fetch_add(tally.data_ptr<int64_t>() + slot, 1, __ATOMIC_RELAXED);
    }
    void count_call(int direction, int algo)
    {
        int m;
        if (d.dtype == SC_DTYPE_F16)
            m = 2;
        else if (d.dtype == SC_DTYPE_BF16)
            m = 3;
        else
            m = (math == SC_MATH_TF32 && algo == SC_ALGO_GPU_IMPLICIT_GEMM_MMA) ? 1 : 0;
        if (algo < 0 || algo >= TALLY_ALGOS) algo = 0;
        count((direction * TALLY_ALGOS + algo) * TALLY_MATHS + m);
    }
    /* t in this entry's layout (dense NCHW, or dense channels_last for NHWC) */
    at::Tensor lay(const at::Tensor &t) const { return t.contiguous(format()); }
    /* the last reference is gone: out of the entries table (entry_id) */
    void release_resources() override;
};
using EntryPtr = c10::intrusive_ptr<Entry>;

/* ---- entries by id ----
 * The operator takes a layer's entry as an int (entry_id), not as the script object: PyTorch's
 * Python binding looks for __torch_function__ on each argument that is not a tensor, and on a
 * script object that lookup throws and catches C++ exceptions (two a call, several microseconds
 * on every eager forward). The table holds weak references: an entry lives as long as Python
 * (the layer's statistics) or an autograd node holds it, and leaves the table when the last
 * reference goes (release_resources), so an id of an entry that is gone finds nothing. Ids are
 * never reused. The table is never destroyed: an entry released late in the process's exit
 * (after static destructors ran) still finds it. */
struct Entries {
    std::mutex mu;
    std::unordered_map<int64_t, c10::weak_intrusive_ptr<Entry>> by_id;
    int64_t next = 1;
};
Entries &entries()
{
    static Entries *t = new Entries();
    return *t;
}

int64_t entry_id(const EntryPtr &e)
{
    Entries &t = entries();
    std::lock_guard<std::mutex> g(t.mu);
    if (e->id == 0) {
        e->id = t.next++;
        t.by_id.emplace(e->id, c10::weak_intrusive_ptr<Entry>(e));
    }
    return e->id;
}

/* The entry with this id, or an empty pointer where there is none (never made, or gone). */
EntryPtr entry_of(int64_t id)
{
    Entries &t = entries();
    std::lock_guard<std::mutex> g(t.mu);
    auto it = t.by_id.find(id);
    return it == t.by_id.end() ? EntryPtr() : it->second.lock();
}

void Entry::release_resources()
{
    Entries &t = entries();
    std::lock_guard<std::mutex> g(t.mu);
    if (id) t.by_id.erase(id); /* our weak reference: the object is freed after this returns */
}

/* Why t is not what the entry says a call's operand is (nullptr when it is): its sizes, dtype,
 * device, dense in the entry's layout (the weight and its gradient: the entry's weight strides,
 * or dense). */
const char *operand_mismatch(const Entry &e, const at::Tensor &t,
                             std::initializer_list<int64_t> sizes, bool weight = false)
{
    if (!t.defined()) return "is missing";
    if (!t.sizes().equals(sizes)) return "has another shape than the layer's call";
    if (t.scalar_type() != e.dtype()) return "has another dtype than the layer's call";
    const int dev = e.ctx->device;
    if (dev == SC_DEVICE_CPU ? !t.device().is_cpu()
                             : !(t.device().is_cuda() && t.device().index() == dev))
        return "is on another device than the layer's context";
    bool dense = t.is_contiguous(t.dim() == 4 ? e.format() : at::MemoryFormat::Contiguous) ||
                 (weight && t.strides().equals(at::IntArrayRef(e.w_stride)) &&
                  t.is_non_overlapping_and_dense());
    return dense ? nullptr : "is not dense in the layer's layout";
}

void check_operand(const Entry &e, const at::Tensor &t, const char *name,
                   std::initializer_list<int64_t> sizes, bool weight = false)
{
    const char *why = operand_mismatch(e, t, sizes, weight);
    TORCH_CHECK(why == nullptr, "safeconv conv2d: ", name, " ", why);
}

/* Run fn(workspace, bytes) -> status on the entry's context: its lock held; for a GPU context
 * that GPU current, PyTorch's current stream and the entry's math mode set, and a workspace
 * from PyTorch's caching allocator as large as the directions in `dirs` (a bit per direction)
 * ask for (bias excluded: it needs none), or a non-NULL one of 0 bytes so that the library
 * never allocates a pool of its own (functional._call_gpu says why). A "workspace_size:" error
 * (the plan changed and needs more) re-queries and retries once. The CPU gets no workspace (the
 * context's pool), as from the Python layer. `call` names fn's library call in the status
 * when fn fails. *last_algo: sc_stats.last_algo when not NULL. */
struct Status {
    sc_status st;
    const char *call; /* the library call that failed */
};

template <class F>
Status with_context(Entry &e, const at::Tensor &like, unsigned dirs, const char *call, F &&fn,
                    int *last_algo)
{
    Ctx &c = *e.ctx;
    std::lock_guard<std::mutex> g(c.mu);
    const bool gpu = c.device != SC_DEVICE_CPU;
    c10::OptionalDeviceGuard guard;
    sc_status st = SC_STATUS_OK;
    if (gpu) {
        guard.reset_device(like.device());
#ifdef SAFECONV_EXT_CUDA
        void *s = c10::cuda::getCurrentCUDAStream(like.device().index()).stream();
#else
        void *s = nullptr;
        TORCH_CHECK(false, "safeconv layer ops: built without CUDA");
#endif
        if (s != c.stream) {
            st = api.context_set_stream(c.h, s);
            if (st != SC_STATUS_OK) return {st, "sc_context_set_stream"};
            c.stream = s;
        }
        if (e.math >= 0 && e.math != c.math) {
            st = api.context_set_math_mode(c.h, (sc_math_mode)e.math);
            if (st != SC_STATUS_OK) return {st, "sc_context_set_math_mode"};
            c.math = (int)e.math;
        }
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        /* the workspace: memory straight from the caching allocator (a tensor around it cost an
         * at::empty, a TensorImpl and a dispatch, on every call), back to it at scope end, after
         * fn has queued its kernels on the stream the memory belongs to */
        c10::DataPtr ws;
        void *wsp = nullptr;
        size_t bytes = 0;
        if (gpu) {
            for (int dir = 0; dir < SC_DIR_BACKWARD_BIAS; dir++) {
                if (!(dirs & (1u << dir))) continue;
                if (!e.ws_known[dir]) {
                    size_t n = 0;
                    st = api.workspace_size(c.h, &e.d, (sc_direction)dir, &n);
                    if (st != SC_STATUS_OK) return {st, "sc_conv2d_workspace_size"};
                    e.ws[dir] = n;
                    e.ws_known[dir] = true;
                }
                bytes = std::max(bytes, e.ws[dir]);
            }
            if (bytes) {
#ifdef SAFECONV_EXT_CUDA
                ws = c10::cuda::CUDACachingAllocator::get()->allocate(bytes);
                wsp = ws.get();
#endif
            } else {
                if (!c.no_workspace.defined())
                    c.no_workspace = at::empty({256}, like.options().dtype(at::kByte));
                wsp = c.no_workspace.data_ptr();
            }
        }
        st = fn(wsp, bytes);
        if (attempt == 0 && st == SC_STATUS_BAD_PARAM &&
            std::strncmp(api.last_error(), "workspace_size:", 15) == 0) {
            for (int dir = 0; dir < 4; dir++)
                if (dirs & (1u << dir)) e.ws_known[dir] = false;
            continue;
        }
        break;
    }
    if (st != SC_STATUS_OK) return {st, call};
    if (last_algo) {
        sc_stats s;
        if (api.context_get_stats(c.h, &s) == SC_STATUS_OK) *last_algo = (int)s.last_algo;
    }
    return {st, nullptr};
}

/* ---- the primitives, no autograd (operands in the entry's layout) ---- */
/* Why the first forward operand (x, w, and b where defined) that is not what the entry says is
 * not (operand_mismatch), its name in *name; nullptr when all are. */
const char *forward_mismatch(const Entry &e, const at::Tensor &x, const at::Tensor &w,
                             const at::Tensor &b, const char **name)
{
    const sc_conv2d_desc &d = e.d;
    const char *why = operand_mismatch(e, x, {d.n, d.c, d.h, d.w});
    *name = "input";
    if (!why) {
        why = operand_mismatch(e, w, {d.k, d.c / d.groups, d.r, d.s}, true);
        *name = "weight";
    }
    if (!why && b.defined()) {
        why = operand_mismatch(e, b, {d.k});
        *name = "bias";
    }
    return why;
}

void check_forward_operands(const Entry &e, const at::Tensor &x, const at::Tensor &w,
                            const at::Tensor &b)
{
    const char *name = nullptr;
    const char *why = forward_mismatch(e, x, w, b, &name);
    TORCH_CHECK(why == nullptr, "safeconv conv2d: ", name, " ", why);
}

/* y = conv(x, w) + b for operands that match the entry (check_forward_operands); the failed
 * call's status instead of an exception (the operator's own forward hands that case back to the
 * Python layer, docs/pytorch.md "The C++ layer"). */
Status forward_into(Entry &e, const at::Tensor &x, const at::Tensor &w, const at::Tensor &b,
                    at::Tensor &y)
{
    const sc_conv2d_desc &d = e.d;
    y = at::empty({d.n, d.k, e.p, e.q}, x.options().memory_format(e.format()));
    int algo = 0;
    Status r = with_context(
        e, x, 1u << SC_DIR_FORWARD, "sc_conv2d_forward",
        [&](void *ws, size_t bytes) {
            return api.forward(e.ctx->h, &d, x.data_ptr(), w.data_ptr(),
                               b.defined() ? b.data_ptr() : nullptr, y.data_ptr(), ws, bytes);
        },
        &algo);
    if (r.st == SC_STATUS_OK) e.count_call(SC_DIR_FORWARD, algo);
    return r;
}

at::Tensor run_forward(Entry &e, const at::Tensor &x, const at::Tensor &w, const at::Tensor &b)
{
    check_forward_operands(e, x, w, b);
    at::Tensor y;
    Status r = forward_into(e, x, w, b, y);
    if (r.st != SC_STATUS_OK) fail(r.call, r.st);
    return y;
}

struct Grads {
    at::Tensor dx, dw, db;
};

/* The gradients asked for (dx from dy and w; dw from x and dy, with db; or db alone) in one
 * sc_conv2d_backward call: the bits each single-direction call gives. */
Grads run_backward(Entry &e, const at::Tensor &x, const at::Tensor &w, const at::Tensor &dy,
                   bool need_x, bool need_w, bool need_b)
{
    const sc_conv2d_desc &d = e.d;
    Grads g;
    if (!need_x && !need_w && !need_b) return g;
    check_operand(e, dy, "grad_output", {d.n, d.k, e.p, e.q});
    if (need_x) check_operand(e, w, "weight", {d.k, d.c / d.groups, d.r, d.s}, true);
    if (need_w) check_operand(e, x, "input", {d.n, d.c, d.h, d.w});
    at::TensorOptions o = dy.options();
    if (need_x) g.dx = at::empty({d.n, d.c, d.h, d.w}, o.memory_format(e.format()));
    if (need_w) g.dw = at::empty_strided({d.k, d.c / d.groups, d.r, d.s}, e.w_stride, o);
    if (need_b) g.db = at::empty({d.k}, o);
    unsigned dirs = (need_x ? 1u << SC_DIR_BACKWARD_DATA : 0u) |
                    (need_w ? 1u << SC_DIR_BACKWARD_WEIGHT : 0u) |
                    (need_b && !need_w ? 1u << SC_DIR_BACKWARD_BIAS : 0u);
    sc_algo algos[4] = {SC_ALGO_NONE, SC_ALGO_NONE, SC_ALGO_NONE, SC_ALGO_NONE};
    Status r = with_context(
        e, dy, dirs, "sc_conv2d_backward",
        [&](void *ws, size_t bytes) {
            return api.backward(e.ctx->h, &d, need_w ? x.data_ptr() : nullptr,
                                need_x ? w.data_ptr() : nullptr, dy.data_ptr(),
                                need_x ? g.dx.data_ptr() : nullptr,
                                need_w ? g.dw.data_ptr() : nullptr,
                                need_b ? g.db.data_ptr() : nullptr, ws, bytes, algos);
        },
        nullptr);
    if (r.st != SC_STATUS_OK) fail(r.call, r.st);
    for (int dir = 0; dir < 4; dir++)
        if (dirs & (1u << dir)) e.count_call(dir, algos[dir]);
    return g;
}

/* ---- autograd: the Python layer's four Functions (functional.py) ---- */
struct ConvBackwardData;
struct ConvBackwardWeight;

/* A forward output computed before the node is made (the operator's own call), or undefined:
 * compute it here. Not a tensor argument, so not an input of the node. */
struct Computed {
    at::Tensor y;
};

struct ConvForward : torch::autograd::Function<ConvForward> {
    /* b: optional, so that no bias is no input at all (an undefined tensor is not one) */
    static at::Tensor forward(AutogradContext *ctx, at::Tensor x, at::Tensor w,
                              c10::optional<at::Tensor> b, EntryPtr e, bool top, Computed done)
    {
        at::Tensor bias = b.has_value() ? *b : at::Tensor();
        at::Tensor y = done.y.defined() ? done.y : run_forward(*e, x, w, bias);
        if (top) e->count(TALLY_FORWARD_CALLS);
        /* what backward may need, from the inputs (needs_input_grad asks the running graph
         * task, which during a backward knows nothing of the edges made in it) */
        bool need_x = x.requires_grad(), need_w = w.requires_grad();
        ctx->saved_data["e"] = e;
        ctx->saved_data["top"] = top;
        ctx->saved_data["bias"] = bias.defined();
        ctx->save_for_backward({need_w ? x : at::Tensor(), need_x ? w : at::Tensor()});
        return y;
    }
    static variable_list backward(AutogradContext *ctx, variable_list grads);
};

struct ConvBackwardWeight : torch::autograd::Function<ConvBackwardWeight> {
    static at::Tensor forward(AutogradContext *ctx, at::Tensor x, at::Tensor dy, EntryPtr e)
    {
        at::Tensor dw = run_backward(*e, x, at::Tensor(), dy, false, true, false).dw;
        bool need_x = x.requires_grad(), need_dy = dy.requires_grad();
        ctx->saved_data["e"] = e;
        ctx->save_for_backward({need_dy ? x : at::Tensor(), need_x ? dy : at::Tensor()});
        return dw;
    }
    static variable_list backward(AutogradContext *ctx, variable_list grads);
};

struct ConvBackwardData : torch::autograd::Function<ConvBackwardData> {
    static at::Tensor forward(AutogradContext *ctx, at::Tensor dy, at::Tensor w, EntryPtr e)
    {
        at::Tensor dx = run_backward(*e, at::Tensor(), w, dy, true, false, false).dx;
        bool need_dy = dy.requires_grad(), need_w = w.requires_grad();
        ctx->saved_data["e"] = e;
        ctx->save_for_backward({need_w ? dy : at::Tensor(), need_dy ? w : at::Tensor()});
        return dx;
    }
    static variable_list backward(AutogradContext *ctx, variable_list grads)
    {
        EntryPtr e = ctx->saved_data["e"].toCustomClass<Entry>();
        variable_list saved = ctx->get_saved_variables();
        const at::Tensor &dy = saved[0], &w = saved[1];
        bool need_dy = ctx->needs_input_grad(0), need_w = ctx->needs_input_grad(1);
        at::Tensor ddx = e->lay(grads[0]), g_dy, g_w;
        if (at::GradMode::is_enabled()) {
            if (need_dy) g_dy = ConvForward::apply(ddx, w, c10::nullopt, e, false, Computed{});
            if (need_w) g_w = ConvBackwardWeight::apply(ddx, dy, e);
        } else {
            if (need_dy) g_dy = run_forward(*e, ddx, w, at::Tensor());
            if (need_w) g_w = run_backward(*e, ddx, at::Tensor(), dy, false, true, false).dw;
        }
        return {g_dy, g_w, at::Tensor()};
    }
};

variable_list ConvBackwardWeight::backward(AutogradContext *ctx, variable_list grads)
{
    EntryPtr e = ctx->saved_data["e"].toCustomClass<Entry>();
    variable_list saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &dy = saved[1];
    bool need_x = ctx->needs_input_grad(0), need_dy = ctx->needs_input_grad(1);
    at::Tensor ddw = e->lay(grads[0]), g_x, g_dy;
    if (at::GradMode::is_enabled()) {
        if (need_x) g_x = ConvBackwardData::apply(dy, ddw, e);
        if (need_dy) g_dy = ConvForward::apply(x, ddw, c10::nullopt, e, false, Computed{});
    } else {
        if (need_x) g_x = run_backward(*e, at::Tensor(), ddw, dy, true, false, false).dx;
        if (need_dy) g_dy = run_forward(*e, x, ddw, at::Tensor());
    }
    return {g_x, g_dy, at::Tensor()};
}

/* db = the library's backward_bias of dy; its gradient is ddb broadcast over N, P, Q. */
struct ConvBackwardBias : torch::autograd::Function<ConvBackwardBias> {
    static at::Tensor forward(AutogradContext *ctx, at::Tensor dy, EntryPtr e)
    {
        ctx->saved_data["shape"] = dy.sizes().vec();
        return run_backward(*e, at::Tensor(), at::Tensor(), dy, false, false, true).db;
    }
    static variable_list backward(AutogradContext *ctx, variable_list grads)
    {
        std::vector<int64_t> shape = ctx->saved_data["shape"].toIntVector();
        return {grads[0].reshape({1, -1, 1, 1}).expand(shape), at::Tensor()};
    }
};

variable_list ConvForward::backward(AutogradContext *ctx, variable_list grads)
{
    EntryPtr e = ctx->saved_data["e"].toCustomClass<Entry>();
    variable_list saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &w = saved[1];
    bool need_x = ctx->needs_input_grad(0), need_w = ctx->needs_input_grad(1);
    bool need_b = ctx->saved_data["bias"].toBool() && ctx->needs_input_grad(2);
    at::Tensor dy = e->lay(grads[0]);
    Grads g;
    if (at::GradMode::is_enabled()) { /* create_graph: the gradients are differentiable */
        if (need_x) g.dx = ConvBackwardData::apply(dy, w, e);
        if (need_w) g.dw = ConvBackwardWeight::apply(x, dy, e);
        if (need_b) g.db = ConvBackwardBias::apply(dy, e);
    } else {
        g = run_backward(*e, x, w, dy, need_x, need_w, need_b);
    }
    if (ctx->saved_data["top"].toBool()) e->count(TALLY_BACKWARD_CALLS);
    return {g.dx, g.dw, g.db, at::Tensor(), at::Tensor(), at::Tensor()};
}

/* ---- the operator ----
 * conv2d(x, w, b, entry) takes the layer's operands as the user passed them, and the id of the
 * layer's entry (entry_id; an id that names no live entry gives None): under autocast its
 * Autocast kernel casts them to the entry's dtype (PyTorch's cached_cast, the cast and weight
 * cache of PyTorch's own convolutions), and the Autograd kernel puts them in the entry's layout
 * (x and w dense in NCHW or channels_last, b dense): both recorded by autograd, as the Python
 * layer's casts and copies are. Operands the entry does not describe, or a failed library call,
 * give an undefined tensor (None in Python) and no node: the Python layer then runs the call
 * and raises its own typed error (a SafeConvError naming the field, which a RuntimeError from
 * here would not be). */
struct Laid {
    at::Tensor x, w, b;
};

/* The operands in the entry's layout (out) and y = their forward, or false where they are not
 * what the entry describes or the library call failed (y undefined). */
bool laid_forward(Entry &e, const at::Tensor &x, const at::Tensor &w,
                  const c10::optional<at::Tensor> &b, Laid &out, at::Tensor &y)
{
    out.x = e.lay(x);
    out.w = e.lay(w);
    if (b.has_value() && b->defined()) out.b = b->contiguous();
    const char *name = nullptr;
    if (forward_mismatch(e, out.x, out.w, out.b, &name) != nullptr) return false;
    if (forward_into(e, out.x, out.w, out.b, y).st == SC_STATUS_OK) return true;
    y = at::Tensor();
    return false;
}

at::Tensor conv2d_autograd(const at::Tensor &x, const at::Tensor &w,
                           const c10::optional<at::Tensor> &b, int64_t id)
{
    EntryPtr e = entry_of(id);
    if (!e) return at::Tensor();
    Laid o;
    Computed done;
    if (!laid_forward(*e, x, w, b, o, done.y)) return at::Tensor();
    c10::optional<at::Tensor> bias;
    if (o.b.defined()) bias = o.b;
    return ConvForward::apply(o.x, o.w, bias, e, true, done);
}

/* Below autograd (inference mode, or a caller that redispatches): the forward alone. */
at::Tensor conv2d_plain(const at::Tensor &x, const at::Tensor &w,
                        const c10::optional<at::Tensor> &b, int64_t id)
{
    EntryPtr e = entry_of(id);
    if (!e) return at::Tensor();
    Laid o;
    at::Tensor y;
    if (!laid_forward(*e, x, w, b, o, y)) return at::Tensor();
    e->count(TALLY_FORWARD_CALLS);
    return y;
}

template <c10::DeviceType Dev, c10::DispatchKey Key>
at::Tensor conv2d_autocast(const at::Tensor &x, const at::Tensor &w,
                           const c10::optional<at::Tensor> &b, int64_t id)
{
    c10::impl::ExcludeDispatchKeyGuard no_autocast(Key);
    static auto op = c10::Dispatcher::singleton()
                         .findSchemaOrThrow("safeconv_layer::conv2d", "")
                         .typed<at::Tensor(const at::Tensor &, const at::Tensor &,
                                           const c10::optional<at::Tensor> &, int64_t)>();
    EntryPtr e = entry_of(id);
    if (!e) return at::Tensor();
    const at::ScalarType dt = e->dtype();
    return op.call(at::autocast::cached_cast(dt, x, Dev), at::autocast::cached_cast(dt, w, Dev),
                   at::autocast::cached_cast(dt, b, Dev), id);
}

int64_t tally_size() { return TALLY_SIZE; }

/* The SHA-256 of the layer_ops.cpp this file was built from (build_layer_ops.py defines it):
 * Python loads only operators built from the source it ships (functional._load_cpp_layer). */
#ifndef SAFECONV_LAYER_SOURCE
#define SAFECONV_LAYER_SOURCE "unknown"
#endif
std::string source_hash() { return SAFECONV_LAYER_SOURCE; }

} // namespace

TORCH_LIBRARY(safeconv_layer, m)
{
    m.class_<Ctx>("_Context").def(torch::init<at::Tensor, c10::optional<std::string>>());
    m.class_<Entry>("_Entry")
        .def(torch::init<c10::intrusive_ptr<Ctx>, at::Tensor, std::vector<int64_t>, int64_t,
                         at::Tensor>())
        .def("id", entry_id);
    m.def("_bind(int[] addresses) -> ()", bind_api);
    m.def("_bind_names() -> str[]", api_names);
    m.def("_tally_size() -> int", tally_size);
    m.def("_source_hash() -> str", source_hash);
    m.def("conv2d(Tensor x, Tensor w, Tensor? b, int entry) -> Tensor");
}

TORCH_LIBRARY_IMPL(safeconv_layer, Autograd, m) { m.impl("conv2d", conv2d_autograd); }
TORCH_LIBRARY_IMPL(safeconv_layer, CPU, m) { m.impl("conv2d", conv2d_plain); }
TORCH_LIBRARY_IMPL(safeconv_layer, CUDA, m) { m.impl("conv2d", conv2d_plain); }
TORCH_LIBRARY_IMPL(safeconv_layer, AutocastCPU, m)
{
    m.impl("conv2d", conv2d_autocast<c10::DeviceType::CPU, c10::DispatchKey::AutocastCPU>);
}
TORCH_LIBRARY_IMPL(safeconv_layer, AutocastCUDA, m)
{
    m.impl("conv2d", conv2d_autocast<c10::DeviceType::CUDA, c10::DispatchKey::AutocastCUDA>);
}
