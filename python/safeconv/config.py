"""Options: what enable(), patch_model() and SafeConv2d run with.

A Config is immutable once made; the active one is a module global replaced by enable().
Each Config resolves, per device kind, to the dict of context options that keys the context
cache in _lib (one sc_context per device, strategy and options).
"""
from . import _lib as L

# Option name -> default. Names and defaults follow docs/architecture.md ("Strategies") and the header.
DEFAULTS = {
    "strategy": "auto",       # auto | gpu (gpu_unfold) | vendor (implicit_gemm) | selective | cpu
    "size_threshold": 42,     # selective: max(H, W) up to which the vendor library is used
    "allow_cpu": False,       # GPU tensors: compute on the CPU where no GPU kernel applies
    "verbose": 0,             # 0 silent, 1 (or True) decisions to stderr, 2 every call
    "deterministic": True,    # only bit-reproducible algorithms
    "cache_decisions": True,  # keep vendor/safeconv decisions in the persistent selection cache
    "cache_path": None,       # selection cache file (None: $SAFECONV_CACHE_DIR or XDG cache)
    "workspace_limit": 0,     # bytes of scratch per call; 0 = library default (64 MiB CPU, 16 GPU)
    "num_threads": 0,         # CPU backend threads; 0 = PyTorch's OpenMP count (oneDNN route)
    "algo": None,             # force one algorithm by name (e.g. "cpu_reference"); None = choose
    "fallback": "error",      # "error": raise on requests safeconv cannot do (float64, fp16 on
                              # the CPU, UNSUPPORTED from the library); "torch": run PyTorch's
                              # own convolution for those instead, counted as path "torch"
    "force_strategy": False,  # CPU tensors always use strategy "cpu" unless this is True
    "tf32": None,             # fp32 on GPUs: None follows torch.backends.cudnn.allow_tf32 (as
                              # PyTorch's cuDNN convolutions do), True allows TF32 on the matrix
                              # units, False keeps exact fp32 (sc_math_mode)
    "tensor_core_layout": True,  # CUDA conv2d with an NCHW input in fp16/bf16 (or fp32 with
                              # TF32 allowed): run it as NHWC, the layout of the matrix-unit
                              # kernels, and return a contiguous output (two copies per call)
    "bypass_other_ops": None,  # enable() only: PyTorch's other cuDNN/MIOpen operators (batch
                              # norm, RNNs) on PyTorch's own kernels while enabled, through
                              # torch.backends.cudnn.enabled=False: None = on for ROCm builds
                              # unless strategy vendor, off for CUDA; True always; False never
                              # (_other_ops.py)
}



def _algo_ids():
    return {name: num for num, name in L.algo_names().items()}


class Config:
    __slots__ = ("_opts", "_ctx_cache")

    def __init__(self, **options):
        unknown = sorted(set(options) - set(DEFAULTS))
        if unknown:
            raise L.SafeConvInputError(
                "safeconv options: unknown option(s) %s; valid options are %s"
                % (", ".join(map(repr, unknown)), ", ".join(sorted(DEFAULTS))))
        opts = dict(DEFAULTS)
        opts.update(options)
        _validate(opts)
        object.__setattr__(self, "_opts", opts)
        object.__setattr__(self, "_ctx_cache", {})

    def __reduce__(self):  # copy/deepcopy/pickle (a module may hold one)
        return (_make_config, (dict(self._opts),))

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._opts[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        raise AttributeError("Config is immutable; use replace(**options)")

    def replace(self, **options):
        opts = dict(self._opts)
        opts.update(options)
        return Config(**opts)

    def as_dict(self):
        return dict(self._opts)

    def __repr__(self):
        diff = {k: v for k, v in self._opts.items() if DEFAULTS[k] != v}
        return "Config(%s)" % ", ".join("%s=%r" % kv for kv in sorted(diff.items()))

    def context_options(self, on_cpu):
        """The resolved sc_context_options (as a hashable dict) for CPU or GPU tensors."""
        key = bool(on_cpu)
        got = self._ctx_cache.get(key)
        if got is not None:
            return got
        o = self._opts
        strategy = o["strategy"]
        if on_cpu and not o["force_strategy"]:
            strategy = "cpu"
        verbosity = o["verbose"]
        verbosity = 1 if verbosity is True else 0 if verbosity is False else int(verbosity)
        cache_path = o["cache_path"]
        if not o["cache_decisions"]:
            # An in-memory selection cache: decisions live only as long as the context.
            cache_path = ":memory:"
        got = {
            "strategy_id": L.strategy_from_name(strategy),
            "deterministic": bool(o["deterministic"]),
            "allow_cpu": bool(o["allow_cpu"]),
            "workspace_limit": int(o["workspace_limit"] or 0),
            "verbosity": verbosity,
            "size_threshold": int(o["size_threshold"]),
            "algo": 0 if o["algo"] is None else _algo_ids()[o["algo"]],
            "num_threads": int(o["num_threads"]),
            "cache_path": cache_path,
        }
        self._ctx_cache[key] = got
        return got


def _make_config(opts):
    return Config(**opts)


def _validate(o):
    """Python-side checks with messages naming the option (the library re-checks)."""
    def bad(name, why):
        raise L.SafeConvInputError("safeconv option %s: %s (got %r)" % (name, why, o[name]))

    if not isinstance(o["strategy"], str) or o["strategy"] not in L.STRATEGY_NAMES:
        bad("strategy", "expected one of %s" % ", ".join(sorted(L.STRATEGY_NAMES)))
    for name in ("size_threshold", "workspace_limit", "num_threads"):
        v = o[name]
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            bad(name, "expected an integer >= 0")
    if o["verbose"] not in (0, 1, 2, True, False):
        bad("verbose", "expected 0, 1, 2 or a bool")
    if o["algo"] is not None:
        ids = _algo_ids()  # the library's names (loads it)
        if o["algo"] not in ids or o["algo"] == "none":
            bad("algo", "expected None or one of %s"
                % ", ".join(sorted(n for n in ids if n != "none")))
    if o["fallback"] not in ("error", "torch"):
        bad("fallback", "expected 'error' or 'torch'")
    if o["tf32"] is not None and not isinstance(o["tf32"], bool):
        bad("tf32", "expected None (follow PyTorch), True or False")
    if not isinstance(o["tensor_core_layout"], bool):
        bad("tensor_core_layout", "expected True or False")
    if o["bypass_other_ops"] is not None and not isinstance(o["bypass_other_ops"], bool):
        bad("bypass_other_ops", "expected None (on for ROCm builds unless strategy vendor), "
            "True or False")
    if o["cache_path"] is not None and not isinstance(o["cache_path"], str):
        bad("cache_path", "expected None or a path string")


_global = Config()


def current_config():
    """The Config in force: the one the last enable() set, else the defaults."""
    return _global


def set_global_config(cfg):
    global _global
    _global = cfg


def get_global_config():
    return _global
