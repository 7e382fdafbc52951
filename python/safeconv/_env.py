"""Environment and multiprocessing helpers (the original project's), importable without torch.

setup_environment()  MIOpen/ROCm settings (docs/pytorch.md, "Quick start for AMD users"); warns about
                     HSA_OVERRIDE_GFX_VERSION on RDNA1 cards. Call it before `import torch`.
setup_multiprocessing()  the "spawn" start method.
patch_dataloader()   DataLoader defaults: spawn workers, persistent workers.
"""
import glob
import inspect
import os
import sys
import warnings

from . import _other_ops

_MIOPEN_DEFAULTS = {
    # Heuristics on a find-db miss: first runs take seconds instead of minutes.
    "MIOPEN_FIND_MODE": "2",
    # Keep PyTorch on ROCm from switching MIOpen to NHWC.
    "PYTORCH_MIOPEN_SUGGEST_NHWC": "0",
}

# gfx_target_version in the KFD topology is major*10000 + minor*100 + stepping.
_RDNA1 = {100100: "gfx1010", 100101: "gfx1011", 100102: "gfx1012"}


def _cache_root():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "safeconv")


def amd_gpu_archs():
    """gfx names of the AMD GPUs the kernel driver lists (from /sys/class/kfd, no ROCm
    runtime needed), e.g. ["gfx1010"]. Empty when there are none or the tree is unreadable."""
    archs = []
    for props in sorted(glob.glob("/sys/class/kfd/kfd/topology/nodes/*/properties")):
        try:
            with open(props) as f:
                for line in f:
                    key, _, val = line.partition(" ")
                    if key == "gfx_target_version" and int(val) > 0:
                        v = int(val)
                        archs.append(_RDNA1.get(v) or "gfx%d%d%x" % (v // 10000, (v // 100) % 100,
                                                                     v % 100))
        except (OSError, ValueError):
            continue
    return archs


def setup_environment(strategy=None, cache_dir=None, avoid_crashing_solvers=False,
                      archs=None, environ=None, quiet=False, bypass_other_ops=None):
    """Set the MIOpen/ROCm environment docs/pytorch.md describes, only where not already set.

    - MIOPEN_FIND_MODE=2 (fast find: heuristics on a find-db miss).
    - MIOPEN_USER_DB_PATH and MIOPEN_CUSTOM_CACHE_DIR: a writable per-user place
      (cache_dir, default $XDG_CACHE_HOME/safeconv/miopen), created here; a read-only home
      otherwise breaks MIOpen's first runs.
    - PYTORCH_MIOPEN_SUGGEST_NHWC=0.
    - strategy "vendor"/"implicit_gemm": MIOPEN_DEBUG_CONV_IMPLICIT_GEMM=1.
    - avoid_crashing_solvers=True: MIOPEN_DEBUG_CONV_GEMM=0 and MIOPEN_DEBUG_CONV_DIRECT_OCL_WRW2=0
      (solvers reported to crash on some RDNA2 cards; not always honoured once a find-db entry
      exists).
    Warns when HSA_OVERRIDE_GFX_VERSION is set on an RDNA1 card (gfx1010/1011/1012): it makes
    the runtime load code built for RDNA2 (gfx1030), whose instruction set differs; with ROCm
    5.3 and later that gives segfaults and memory access faults. Unset it and use a native
    build (safeconv's kernels are built for gfx1010 with `make GPU=hip HIP_ARCHS=gfx1010`).
    Also warns when torch is already imported: most of these are read when the libraries load.

    Notes which of PyTorch's operators safeconv.enable() keeps off the vendor library, and why
    (option bypass_other_ops, as enable() will take it; _other_ops.py): on a ROCm build of
    PyTorch (torch.version.hip where torch is imported; before that, an AMD GPU in the KFD
    topology stands for one), batch norm, RNNs and PyTorch's own convolutions run on PyTorch's
    kernels while enabled, unless the strategy is "vendor" or bypass_other_ops=False.

    Returns {"set": {name: value}, "kept": {name: value}, "warnings": [text],
    "other_ops": {"bypassed", "vendor", "operators", "reason"}, "notes": [text]}.
    `archs` (list of gfx names) and `environ` (a dict) replace the detected GPUs and
    os.environ, for tests.
    """
    from .config import Config
    Config(bypass_other_ops=bypass_other_ops)  # the option's own check, as enable() makes it
    env = os.environ if environ is None else environ
    result = {"set": {}, "kept": {}, "warnings": [], "notes": []}
    want = dict(_MIOPEN_DEFAULTS)
    root = cache_dir or os.path.join(_cache_root(), "miopen")
    want["MIOPEN_USER_DB_PATH"] = root
    want["MIOPEN_CUSTOM_CACHE_DIR"] = os.path.join(root, "kernels")
    if strategy in ("vendor", "implicit_gemm"):
        want["MIOPEN_DEBUG_CONV_IMPLICIT_GEMM"] = "1"
    if avoid_crashing_solvers:
        want["MIOPEN_DEBUG_CONV_GEMM"] = "0"
        want["MIOPEN_DEBUG_CONV_DIRECT_OCL_WRW2"] = "0"
    for name, value in want.items():
        if name in env:
            result["kept"][name] = env[name]
            continue
        if name in ("MIOPEN_USER_DB_PATH", "MIOPEN_CUSTOM_CACHE_DIR"):
            try:
                os.makedirs(value, exist_ok=True)
            except OSError as e:
                result["warnings"].append("%s: cannot create %s (%s); left unset"
                                          % (name, value, e))
                continue
        env[name] = value
        result["set"][name] = value

    if archs is None:
        archs = amd_gpu_archs()
    result["other_ops"] = _other_ops_note(strategy, bypass_other_ops, archs)
    result["notes"].append("with safeconv.enable(), PyTorch's other vendor-library operators "
                           "are " + _other_ops.describe(result["other_ops"]))
    override = env.get("HSA_OVERRIDE_GFX_VERSION")
    rdna1 = sorted(set(a for a in archs if a in _RDNA1.values()))
    if override and rdna1:
        result["warnings"].append(
            "HSA_OVERRIDE_GFX_VERSION=%s is set on an RDNA1 card (%s). It makes ROCm load code "
            "built for another architecture (10.3.0 = RDNA2, gfx1030), whose instruction set "
            "differs from RDNA1's; with ROCm 5.3 and later this gives segfaults and 'Memory "
            "access fault' errors. Unset it and use code built for your card: safeconv's "
            "kernels are compiled natively for %s (make GPU=hip HIP_ARCHS=%s)."
            % (override, ", ".join(rdna1), rdna1[0], rdna1[0]))
    if environ is None and "torch" in sys.modules:
        result["warnings"].append(
            "setup_environment() ran after `import torch`: settings the ROCm runtime and MIOpen "
            "read at load time may not take effect; call it first (import safeconv does not "
            "import torch)")
    if not quiet:
        for w in result["warnings"]:
            warnings.warn("safeconv: " + w, RuntimeWarning, stacklevel=2)
    return result


def _other_ops_note(strategy, option, archs):
    """What enable() will do with PyTorch's other cuDNN/MIOpen operators (_other_ops.status()'s
    keys but cudnn_enabled). Whether PyTorch is a ROCm build: torch.version.hip if torch is
    imported (setup_environment() is meant to run before), else whether an AMD GPU is listed."""
    torch = sys.modules.get("torch")
    if torch is not None:
        hip = getattr(torch.version, "hip", None)
    else:
        hip = ("not known: torch not imported yet, AMD GPU %s" % ", ".join(archs)
               if archs else None)
    bypass, why = _other_ops.decide(option, strategy or "auto", hip)
    return {"bypassed": bypass, "vendor": _other_ops.vendor_name(hip),
            "operators": list(_other_ops.operators(hip)), "reason": why}


def setup_multiprocessing(method="spawn"):
    """Use the "spawn" start method (torch.multiprocessing's, else multiprocessing's).

    Why: a forked child inherits the parent's GPU runtime state, which neither CUDA nor ROCm
    supports (hangs and 'initialization error' in DataLoader workers), and safeconv's guard
    probes in child processes. With spawn, each child re-imports the main module, so the
    training code must sit under `if __name__ == "__main__":`.
    Returns the start method in force. If another method was already fixed, it is kept and a
    warning says so."""
    try:
        import torch.multiprocessing as mp
    except ImportError:
        import multiprocessing as mp
    current = mp.get_start_method(allow_none=True)
    if current == method:
        return current
    if current is None:
        mp.set_start_method(method)
        return method
    try:
        mp.set_start_method(method, force=True)
        return method
    except RuntimeError as e:  # pragma: no cover - depends on the platform
        warnings.warn("safeconv: start method stays %r (%s)" % (current, e), RuntimeWarning)
        return current


_dl_saved = None


def patch_dataloader(multiprocessing_context="spawn", persistent_workers=True):
    """Make DataLoaders with workers default to spawned, persistent workers.

    Only defaults change: arguments a caller passes explicitly win. Persistent workers start
    once per DataLoader instead of once per epoch (a spawned worker imports torch, which takes
    seconds). Idempotent; unpatch_dataloader() restores DataLoader.__init__ exactly."""
    global _dl_saved
    from torch.utils.data import DataLoader
    if _dl_saved is not None:
        return
    orig = DataLoader.__dict__["__init__"]

    sig = inspect.signature(orig)

    def __init__(self, *args, **kwargs):
        try:
            given = sig.bind_partial(self, *args, **kwargs).arguments
        except TypeError:
            given = None  # let DataLoader report the bad call itself
        if given is not None and (given.get("num_workers") or 0) > 0:
            if "multiprocessing_context" not in given:
                kwargs["multiprocessing_context"] = multiprocessing_context
            if "persistent_workers" not in given:
                kwargs["persistent_workers"] = persistent_workers
        orig(self, *args, **kwargs)

    __init__.__wrapped__ = orig
    __init__.__doc__ = orig.__doc__
    DataLoader.__init__ = __init__
    _dl_saved = orig


def unpatch_dataloader():
    global _dl_saved
    if _dl_saved is None:
        return
    from torch.utils.data import DataLoader
    DataLoader.__init__ = _dl_saved
    _dl_saved = None
