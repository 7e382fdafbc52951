"""enable() / disable(): route every convolution in the process through safeconv.

What enable() replaces (and disable() puts back, the very same objects):
  torch.nn.functional.conv2d, .conv1d, .conv_transpose2d   -> safeconv.functional's
  nn.Conv2d._conv_forward, nn.Conv1d._conv_forward          -> safeconv's (statistics per layer)
  nn.ConvTranspose2d.forward                                 -> safeconv's
  torch.backends.cudnn.enabled -> False on ROCm builds (option bypass_other_ops): batch norm
                                   and PyTorch's other MIOpen operators on PyTorch's kernels
                                   (_other_ops.py); disable() puts the previous value back
Class attributes are looked up at call time, so models built before enable() and layers made
inside third-party code are covered. Code that took a reference earlier
(`from torch.nn.functional import conv2d` before enable()) or calls torch.conv2d directly keeps
PyTorch's convolution.
"""
import threading

import torch.nn as nn
import torch.nn.functional as F

from . import functional as SF
from . import _other_ops
from . import modules as SM
from .config import Config, get_global_config, set_global_config

_lock = threading.RLock()
_saved = None  # [(owner, attribute name, original object)] while enabled


def _targets():
    return [
        (F, "conv2d", SF.conv2d),
        (F, "conv1d", SF.conv1d),
        (F, "conv_transpose2d", SF.conv_transpose2d),
        (nn.Conv2d, "_conv_forward", SM.SafeConv2d.__dict__["_conv_forward"]),
        (nn.Conv1d, "_conv_forward", SM.SafeConv1d.__dict__["_conv_forward"]),
        (nn.ConvTranspose2d, "forward", SM._conv_transpose2d_forward),
    ]


def originals():
    """{name: object} that disable() restores (while enabled), for checks and debugging."""
    with _lock:
        return {"%s.%s" % (getattr(o, "__name__", o), a): orig for o, a, orig in (_saved or [])}


def is_enabled():
    return _saved is not None


class _Enabled:
    """Returned by enable(): use as a context manager to undo the call on exit (back to the
    state before it: disabled, or enabled with the previous options)."""

    def __init__(self, was_enabled, prev_cfg, cfg):
        self._was_enabled, self._prev_cfg, self.config = was_enabled, prev_cfg, cfg

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        with _lock:
            if self._was_enabled:
                set_global_config(self._prev_cfg)
                _other_ops.sync(self._prev_cfg)
            else:
                disable()
        return False

    def __repr__(self):
        return "<safeconv enabled: %r>" % (self.config,)


def enable(strategy="auto", **options):
    """Route every convolution through safeconv (see the module docstring).

    strategy: "auto" (default; until the guard lands it behaves as "gpu"), "gpu"
    ("gpu_unfold"), "vendor" ("implicit_gemm"), "selective", "cpu" ("cpu_fallback").
    options: size_threshold, allow_cpu, verbose, deterministic, cache_decisions, cache_path,
    workspace_limit, num_threads, algo, fallback, force_strategy, tf32, tensor_core_layout,
    bypass_other_ops (safeconv.config.DEFAULTS). On a ROCm build of PyTorch (strategy not
    "vendor") torch.backends.cudnn.enabled is False while enabled, so batch norm and PyTorch's
    other MIOpen operators run on PyTorch's kernels; bypass_other_ops=False keeps MIOpen, True
    does the same on CUDA builds.
    Calling it again changes the options and patches nothing twice. Also a context manager:
    `with safeconv.enable(strategy="gpu"): ...`."""
    cfg = Config(strategy=strategy, **options)
    cfg.context_options(True)  # the library parses the strategy name now, not at first call
    with _lock:
        was, prev = is_enabled(), get_global_config()
        set_global_config(cfg)
        _apply()
        _other_ops.sync(cfg)
    return _Enabled(was, prev, cfg)


def _apply():
    global _saved
    if _saved is not None:
        return
    saved = []
    for owner, attr, new in _targets():
        orig = owner.__dict__[attr] if isinstance(owner, type) else getattr(owner, attr)
        saved.append((owner, attr, orig))
    for owner, attr, new in _targets():
        setattr(owner, attr, new)
    _saved = saved


def disable():
    """Put back exactly what enable() replaced, and the default options. Harmless when not
    enabled. Layers converted by patch_model() or built as SafeConv2d stay on safeconv.
    torch.backends.cudnn.enabled gets back the value it had before enable() bypassed it."""
    global _saved
    with _lock:
        if _saved is not None:
            for owner, attr, orig in _saved:
                setattr(owner, attr, orig)
            _saved = None
        _other_ops.restore("safeconv.enable() is not active")
        set_global_config(Config())


def enable_all(strategy="auto", **options):
    """The original project's one call: setup_environment(), setup_multiprocessing(),
    patch_dataloader(), then enable(strategy, **options). Call it at the start of the main
    module, under `if __name__ == "__main__":` (spawned workers re-import the main module)."""
    from . import _env
    _env.setup_environment(strategy=strategy,
                           bypass_other_ops=options.get("bypass_other_ops"))
    _env.setup_multiprocessing()
    _env.patch_dataloader()
    return enable(strategy, **options)
