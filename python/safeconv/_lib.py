"""ctypes binding to libsafeconv: library lookup, struct mirrors, errors, the context cache.

This module does not import torch. Everything here mirrors include/safeconv.h exactly; if the
header changes, change this file with it.

Library lookup order (first hit wins):
  1. $SAFECONV_LIBRARY (a path to libsafeconv.so); when set, nothing else is tried
  2. libsafeconv.so beside this package (safeconv/libsafeconv.so, as `make wheel` ships it)
  3. the repository's build tree, when the package is used in place: <repo>/build/libsafeconv.so
  4. the system loader, by soname (LD_LIBRARY_PATH, the ldconfig cache, /lib, /usr/lib)
  5. the folders `make install` writes to, read directly so that a fresh install works before
     ldconfig has run: <sys.prefix>/lib (make install PREFIX=$VIRTUAL_ENV) and /usr/local/lib,
     each also with the multiarch folder (lib/x86_64-linux-gnu: LIBDIR=...)
"""
import ctypes
import logging
import os
import sys
import sysconfig
import threading

# The package's messages (never print): warnings (shown on stderr when the application has not
# configured logging) and info. The C library writes its own messages (verbose, or
# SAFECONV_VERBOSITY=silent|decisions|calls) to stderr itself.
log = logging.getLogger("safeconv")

# --- enums (C ints) ------------------------------------------------------------------------
STATUS_OK = 0
STATUS_BAD_PARAM = 1
STATUS_UNSUPPORTED = 2
STATUS_OUT_OF_MEMORY = 3
STATUS_DEVICE_ERROR = 4
STATUS_VENDOR_FAILED = 5
STATUS_NOT_AVAILABLE = 6
STATUS_INTERNAL = 7
STATUS_CACHE_ERROR = 8

DTYPE_F32, DTYPE_F16, DTYPE_BF16 = 0, 1, 2
NCHW, NHWC = 0, 1
DIR_FORWARD, DIR_BACKWARD_DATA, DIR_BACKWARD_WEIGHT, DIR_BACKWARD_BIAS = 0, 1, 2, 3
DIRECTION_NAMES = ("forward", "backward_data", "backward_weight", "backward_bias")

MATH_EXACT, MATH_TF32 = 0, 1  # sc_math_mode
MATH_NAMES = {MATH_EXACT: "exact", MATH_TF32: "tf32"}

STRATEGY_AUTO, STRATEGY_GPU, STRATEGY_VENDOR, STRATEGY_SELECTIVE, STRATEGY_CPU = 0, 1, 2, 3, 4
STRATEGY_NAMES = {"auto": 0, "gpu": 1, "gpu_unfold": 1, "vendor": 2, "implicit_gemm": 2,
                  "selective": 3, "cpu": 4, "cpu_fallback": 4}

# Algorithm ids and names come from the library (sc_algo_name; ids are append-only), see
# algo_names(). This copy of the first ones is only for messages when no library is loaded.
ALGO_NAMES = {0: "none", 1: "cpu_reference", 2: "cpu_im2col_gemm", 3: "cpu_direct",
              4: "gpu_implicit_gemm", 5: "gpu_direct_depthwise", 6: "gpu_direct_small_c",
              7: "gpu_naive", 8: "vendor_cudnn", 9: "vendor_miopen", 10: "vendor_plugin",
              11: "gpu_implicit_gemm_mma", 12: "cpu_onednn", 13: "gpu_winograd"}
ALGO_GPU_IMPLICIT_GEMM_MMA = 11  # the only family that computes fp32 as TF32 (sc_math_mode)

DEVICE_CPU = -1
BACKEND_CPU, BACKEND_CUDA, BACKEND_HIP = 1, 2, 4


# --- structs -------------------------------------------------------------------------------
class ConvDesc(ctypes.Structure):
    """sc_conv2d_desc: 15 int64 then two C enums (int)."""
    _fields_ = [(name, ctypes.c_int64) for name in
                ("n", "c", "h", "w", "k", "r", "s", "pad_h", "pad_w", "stride_h", "stride_w",
                 "dil_h", "dil_w", "groups")] + [("dtype", ctypes.c_int), ("layout", ctypes.c_int)]

    def __repr__(self):
        return "ConvDesc(%s)" % ", ".join("%s=%d" % (f, getattr(self, f)) for f, _ in self._fields_)


class DeviceInfo(ctypes.Structure):
    """sc_device_info."""
    _fields_ = [("index", ctypes.c_int), ("backend", ctypes.c_int),
                ("name", ctypes.c_char * 256), ("arch", ctypes.c_char * 64),
                ("multiprocessors", ctypes.c_int), ("warp_size", ctypes.c_int),
                ("total_memory", ctypes.c_uint64), ("driver_version", ctypes.c_int),
                ("runtime_version", ctypes.c_int)]


class ContextOptions(ctypes.Structure):
    """sc_context_options, in the header's field order."""
    _fields_ = [("device", ctypes.c_int), ("stream", ctypes.c_void_p),
                ("strategy", ctypes.c_int), ("deterministic", ctypes.c_int),
                ("allow_cpu", ctypes.c_int), ("workspace_limit", ctypes.c_size_t),
                ("verbosity", ctypes.c_int), ("size_threshold", ctypes.c_int),
                ("algo", ctypes.c_int), ("num_threads", ctypes.c_int),
                ("cache_path", ctypes.c_char_p), ("math", ctypes.c_int)]


class Stats(ctypes.Structure):
    """sc_stats."""
    _fields_ = [("calls", ctypes.c_uint64 * 4), ("gpu_calls", ctypes.c_uint64),
                ("cpu_calls", ctypes.c_uint64), ("vendor_calls", ctypes.c_uint64),
                ("workspace_peak", ctypes.c_uint64), ("last_algo", ctypes.c_int)]


# --- errors --------------------------------------------------------------------------------
class SafeConvError(RuntimeError):
    """Any failure reported by safeconv. `.status` is the library's sc_status number
    (STATUS_BAD_PARAM for problems found in Python before calling the library)."""

    def __init__(self, message, status=STATUS_INTERNAL):
        super().__init__(message)
        self.status = status


class SafeConvInputError(SafeConvError, ValueError):
    """Bad input: wrong dtype mix, devices, shapes (status BAD_PARAM)."""

    def __init__(self, message):
        super().__init__(message, STATUS_BAD_PARAM)


class SafeConvUnsupportedError(SafeConvError, NotImplementedError):
    """A valid request this build or backend cannot do (e.g. float64, fp16 on the CPU)."""

    def __init__(self, message, status=STATUS_UNSUPPORTED):
        super().__init__(message, status)


class LibraryNotFoundError(SafeConvError, OSError):
    def __init__(self, message):
        super().__init__(message, STATUS_NOT_AVAILABLE)


# --- loading -------------------------------------------------------------------------------
_lock = threading.Lock()
_lib = None
_lib_path = None


SONAME = "libsafeconv.so.0"  # the major version this package speaks (checked after loading)


def _repo_root():
    """The repository this package sits in (python/safeconv -> <repo>), or None when it was
    installed (pip) or copied elsewhere."""
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                         os.pardir, os.pardir))
    if os.path.isfile(os.path.join(root, "include", "safeconv.h")) and \
            os.path.isfile(os.path.join(root, "Makefile")):
        return root
    return None


def _install_dirs():
    """Library folders of `make install` (the default PREFIX /usr/local, and this Python's
    prefix, e.g. a virtual environment), with their multiarch variant (LIBDIR=.../lib/<triplet>)."""
    multiarch = sysconfig.get_config_var("MULTIARCH")
    dirs = []
    for prefix in (sys.prefix, "/usr/local"):
        for d in ([os.path.join(prefix, "lib", multiarch)] if multiarch else []) + \
                [os.path.join(prefix, "lib")]:
            if d not in dirs:
                dirs.append(d)
    return dirs


def _candidates():
    """(paths to try in order, whether they came from $SAFECONV_LIBRARY). A bare file name
    (the soname) goes to the system loader."""
    env = os.environ.get("SAFECONV_LIBRARY")
    if env:
        return [env], True
    here = os.path.dirname(os.path.abspath(__file__))
    paths = [os.path.join(here, "libsafeconv.so")]
    root = _repo_root()
    if root:
        paths.append(os.path.join(root, "build", "libsafeconv.so"))
    paths.append(SONAME)
    paths += [os.path.join(d, SONAME) for d in _install_dirs()]
    return paths, False


def _not_found_hint(from_env):
    """What to do about a library that could not be loaded, for where this package is."""
    if from_env:
        return "SAFECONV_LIBRARY is set, so only that path was tried"
    root = _repo_root()
    if root:
        return ("build it: `make` in %s (or set SAFECONV_LIBRARY to the path of "
                "libsafeconv.so)" % root)
    return ("install it: `make install` in a safeconv checkout (as root: /usr/local/lib; or "
            "`make install PREFIX=%s` for this Python's prefix), or put libsafeconv.so beside "
            "this package (%s), or set SAFECONV_LIBRARY to its path"
            % (sys.prefix, os.path.dirname(os.path.abspath(__file__))))


def _declare(lib):
    c_int, c_int64, c_void_p, c_char_p, c_size_t = (ctypes.c_int, ctypes.c_int64,
                                                     ctypes.c_void_p, ctypes.c_char_p,
                                                     ctypes.c_size_t)
    P = ctypes.POINTER
    sigs = {
        "sc_status_string": (c_char_p, [c_int]),
        "sc_last_error": (c_char_p, []),
        "sc_version_string": (c_char_p, []),
        "sc_version": (c_int, []),
        "sc_strategy_from_name": (c_int, [c_char_p, P(c_int)]),
        "sc_strategy_name": (c_char_p, [c_int]),
        "sc_algo_name": (c_char_p, [c_int]),
        "sc_conv2d_desc_init": (None, [P(ConvDesc)]),
        "sc_conv2d_validate": (c_int, [P(ConvDesc)]),
        "sc_conv2d_output_size": (c_int, [P(ConvDesc), P(c_int64), P(c_int64)]),
        "sc_conv2d_tensor_elems": (c_int, [P(ConvDesc), P(c_int64), P(c_int64), P(c_int64)]),
        "sc_conv2d_flops": (ctypes.c_double, [P(ConvDesc), c_int]),
        "sc_backends_compiled": (ctypes.c_uint, []),
        "sc_device_count": (c_int, []),
        "sc_device_get_info": (c_int, [c_int, P(DeviceInfo)]),
        "sc_context_options_init": (None, [P(ContextOptions)]),
        "sc_context_create": (c_int, [P(ContextOptions), P(c_void_p)]),
        "sc_context_destroy": (None, [c_void_p]),
        "sc_context_set_stream": (c_int, [c_void_p, c_void_p]),
        "sc_context_set_math_mode": (c_int, [c_void_p, c_int]),
        "sc_context_get_stats": (c_int, [c_void_p, P(Stats)]),
        "sc_conv2d_forward": (c_int, [c_void_p, P(ConvDesc), c_void_p, c_void_p, c_void_p,
                                      c_void_p, c_void_p, c_size_t]),
        "sc_conv2d_backward_data": (c_int, [c_void_p, P(ConvDesc), c_void_p, c_void_p,
                                            c_void_p, c_void_p, c_size_t]),
        "sc_conv2d_backward_weight": (c_int, [c_void_p, P(ConvDesc), c_void_p, c_void_p,
                                              c_void_p, c_void_p, c_void_p, c_size_t]),
        "sc_conv2d_backward_bias": (c_int, [c_void_p, P(ConvDesc), c_void_p, c_void_p]),
        "sc_conv2d_backward": (c_int, [c_void_p, P(ConvDesc), c_void_p, c_void_p, c_void_p,
                                       c_void_p, c_void_p, c_void_p, c_void_p, c_size_t,
                                       P(c_int)]),
        "sc_conv2d_workspace_size": (c_int, [c_void_p, P(ConvDesc), c_int, P(c_size_t)]),
        "sc_conv2d_select": (c_int, [c_void_p, P(ConvDesc), c_int, P(c_int)]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)  # AttributeError: an incompatible library
        fn.restype = restype
        fn.argtypes = argtypes


def load_library():
    """The loaded libsafeconv (a ctypes.CDLL), loading it on first use.
    Raises LibraryNotFoundError with every path tried."""
    global _lib, _lib_path
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is not None:
            return _lib
        paths, from_env = _candidates()
        errors = []
        for p in paths:
            if os.path.sep in p and not os.path.exists(p):
                errors.append("%s: no such file" % p)
                continue
            try:
                lib = ctypes.CDLL(p)
            except OSError as e:
                errors.append("%s: %s" % (p, e))
                continue
            try:
                _declare(lib)
            except AttributeError as e:
                errors.append("%s: not a compatible libsafeconv (%s)" % (p, e))
                continue
            if lib.sc_version() // 10000 != 0:
                errors.append("%s: version %s, this package needs 0.x"
                              % (p, lib.sc_version_string().decode()))
                continue
            _lib, _lib_path = lib, p
            return lib
        raise LibraryNotFoundError("safeconv: libsafeconv.so could not be loaded (%s):\n  %s"
                                   % (_not_found_hint(from_env), "\n  ".join(errors)))


def library_path():
    load_library()
    return _lib_path


def has_symbol(name):
    """True if the loaded library exports `name` (optional API such as the guard's)."""
    try:
        getattr(load_library(), name)
        return True
    except AttributeError:
        return False


def last_error():
    msg = load_library().sc_last_error()
    return msg.decode("utf-8", "replace") if msg else ""


def status_string(st):
    s = load_library().sc_status_string(int(st))
    return s.decode() if s else "status %d" % st


def check(st, what):
    """Raise the matching SafeConvError when `st` is not OK. `what` names the call."""
    if st == STATUS_OK:
        return
    msg = last_error() or status_string(st)
    text = "safeconv %s failed (%s): %s" % (what, status_string(st), msg)
    if st == STATUS_BAD_PARAM:
        err = SafeConvInputError(text)
    elif st in (STATUS_UNSUPPORTED, STATUS_NOT_AVAILABLE):
        err = SafeConvUnsupportedError(text, st)
    else:
        err = SafeConvError(text, st)
    raise err


def version():
    return load_library().sc_version_string().decode()


def device_count():
    return int(load_library().sc_device_count())


def backends_compiled():
    mask = int(load_library().sc_backends_compiled())
    return [name for bit, name in ((BACKEND_CPU, "cpu"), (BACKEND_CUDA, "cuda"),
                                   (BACKEND_HIP, "hip")) if mask & bit]


def device_info(device=DEVICE_CPU):
    """A dict describing GPU `device` or the CPU (-1)."""
    info = DeviceInfo()
    check(load_library().sc_device_get_info(int(device), ctypes.byref(info)),
          "sc_device_get_info")
    backend = {BACKEND_CPU: "cpu", BACKEND_CUDA: "cuda", BACKEND_HIP: "hip"}.get(info.backend,
                                                                               str(info.backend))
    return {"index": info.index, "backend": backend, "name": info.name.decode("utf-8", "replace"),
            "arch": info.arch.decode("utf-8", "replace"), "multiprocessors": info.multiprocessors,
            "warp_size": info.warp_size, "total_memory": int(info.total_memory),
            "driver_version": info.driver_version, "runtime_version": info.runtime_version}


def strategy_from_name(name):
    """The sc_strategy number of `name` (the C parser decides; aliases included)."""
    if not isinstance(name, str):
        raise SafeConvInputError("strategy: expected a name such as 'auto' or 'gpu', got %r"
                                 % (name,))
    out = ctypes.c_int()
    check(load_library().sc_strategy_from_name(name.encode(), ctypes.byref(out)), "strategy")
    return out.value


_algo_names = None


def algo_names():
    """{id: name} of every algorithm the loaded library knows (asked from sc_algo_name)."""
    global _algo_names
    if _algo_names is None:
        lib = load_library()
        names = {}
        for i in range(256):
            n = lib.sc_algo_name(i)
            n = n.decode() if n else "unknown"
            if n != "unknown":
                names[i] = n
        _algo_names = names
    return _algo_names


def algo_name(a):
    return algo_names().get(int(a), "algo_%d" % int(a))


_algo_paths = {}


def algo_path(a):
    """The route an algorithm id runs on, as the statistics name it: "cpu", "gpu" or "vendor"
    (the prefix of its name: sc_algo_name's names say where they run)."""
    got = _algo_paths.get(a)
    if got is None:
        got = _algo_paths[a] = algo_name(a).split("_")[0]
    return got


# --- contexts ------------------------------------------------------------------------------
class Context:
    """One sc_context. Calls must hold `.lock` (a context is used by one thread at a time)."""

    def __init__(self, key, device, opts):
        lib = load_library()
        o = ContextOptions()
        lib.sc_context_options_init(ctypes.byref(o))
        o.device = device
        o.strategy = opts["strategy_id"]
        o.deterministic = 1 if opts["deterministic"] else 0
        o.allow_cpu = 1 if opts["allow_cpu"] else 0
        o.workspace_limit = int(opts["workspace_limit"] or 0)
        o.verbosity = int(opts["verbosity"])
        o.size_threshold = int(opts["size_threshold"])
        o.algo = int(opts["algo"])
        o.num_threads = int(opts["num_threads"])
        cache_path = opts["cache_path"]
        self._cache_path = cache_path.encode() if cache_path else None  # keep alive
        o.cache_path = self._cache_path
        handle = ctypes.c_void_p()
        check(lib.sc_context_create(ctypes.byref(o), ctypes.byref(handle)), "sc_context_create")
        self.handle = handle
        self.key = key
        # for the C++ layer's twin of this context (functional._cpp_entry): the options as
        # created (their pointer fields are the twin's own) and the twin once made
        self.options_bytes = bytes(o)
        self.cache_path = cache_path or None
        self.cpp_twin = None
        self.device = device
        self.lock = threading.Lock()
        self.stream = None
        self.math = o.math  # the context's sc_math_mode (set per call: set_math_mode)
        self.stats = Stats()
        self._stats_ref = ctypes.byref(self.stats)
        # sc_conv2d_backward's algorithm per direction (sc_algo[4]), reused by every call
        self.algos = (ctypes.c_int * 4)()
        # (descriptor bytes, direction) -> workspace bytes the library asked for: a hint, not a
        # promise (a later decision of the guard, or a tuned plan, may need more; the caller
        # then gets a "workspace_size:" error, re-queries and retries).
        self.ws_sizes = {}

    def set_stream(self, stream):
        if stream != self.stream:
            check(load_library().sc_context_set_stream(self.handle, ctypes.c_void_p(stream)),
                  "sc_context_set_stream")
            self.stream = stream

    def set_math_mode(self, mode):
        """The fp32 math mode of later calls (a library call only when it changes)."""
        if mode != self.math:
            check(load_library().sc_context_set_math_mode(self.handle, int(mode)),
                  "sc_context_set_math_mode")
            self.math = mode

    def get_stats(self):
        """The context's statistics, in a struct this context reuses (copy to keep one)."""
        check(load_library().sc_context_get_stats(self.handle, self._stats_ref),
              "sc_context_get_stats")
        return self.stats

    def workspace_size(self, dbytes, d, direction):
        """The workspace bytes of a call, remembered per descriptor and direction (see
        ws_sizes). dbytes: bytes(d)."""
        key = (dbytes, direction)
        got = self.ws_sizes.get(key)
        if got is None:
            n = ctypes.c_size_t()
            check(load_library().sc_conv2d_workspace_size(self.handle, ctypes.byref(d),
                                                          direction, ctypes.byref(n)),
                  "sc_conv2d_workspace_size")
            got = n.value
            if len(self.ws_sizes) >= 4096:  # shapes without end (varying image sizes)
                self.ws_sizes.clear()
            self.ws_sizes[key] = got
        return got

    def forget_workspace_size(self, dbytes, direction):
        self.ws_sizes.pop((dbytes, direction), None)

    def destroy(self):
        self.cpp_twin = None  # its layers' entries keep it until they are replaced
        if self.handle:
            load_library().sc_context_destroy(self.handle)
            self.handle = None


_contexts = {}
_contexts_lock = threading.Lock()
# Bumped by clear_contexts(): callers that keep a Context (functional._context) check it.
contexts_generation = 0


def get_context(device, opts):
    """The cached context for (device, resolved options). `opts` is a dict from
    config.Config.context_options(); its items form the key."""
    key = (device,) + tuple(sorted(opts.items()))
    ctx = _contexts.get(key)
    if ctx is None:
        with _contexts_lock:
            ctx = _contexts.get(key)
            if ctx is None:
                ctx = Context(key, device, opts)
                _contexts[key] = ctx
    return ctx


def clear_contexts():
    """Destroy every cached context (waits for their queued GPU work). Later calls create new
    ones. Contexts are otherwise kept for the life of the process."""
    global contexts_generation
    with _contexts_lock:
        for ctx in _contexts.values():
            with ctx.lock:
                ctx.destroy()
        _contexts.clear()
        contexts_generation += 1
