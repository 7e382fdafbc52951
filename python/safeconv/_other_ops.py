"""PyTorch's other cuDNN/MIOpen operators while enable() is active: batch norm and the rest.

Why: on ROCm, torch.backends.cudnn.enabled (True by default) means MIOpen, and PyTorch sends
more than convolutions there: batch norm forward and backward, RNNs, and the convolutions
PyTorch still runs itself. MIOpen's batch-norm backward has its own RDNA failures (MIOpen
issues 485 and 1528, Navi21-specific precision fixes, rocm-libraries 4757 for mixed precision),
so a user who enables safeconv because MIOpen hangs could still hang, or get wrong gradients,
in the next BatchNorm2d. While enable() is active on a ROCm build of PyTorch (strategy not
"vendor"), torch.backends.cudnn.enabled is therefore False, and those operators run on
PyTorch's own kernels; disable() puts back the value it had before, exactly.

Convolutions are not affected: enable() replaces F.conv2d and friends (and the Conv modules'
forward) with safeconv's, which never look at torch.backends.cudnn.enabled, and safeconv's
vendor route (strategy "auto"/"selective" with probed decisions) dlopen's cuDNN/MIOpen in the C
library (src/vendorlib), not through PyTorch. What does change: the calls safeconv hands back to
PyTorch's own convolution (fallback="torch", tracing, meta tensors, conv3d, torch.conv2d called
directly) run on PyTorch's native convolution instead of MIOpen/cuDNN, which is the point: off
the vendor library.

The option bypass_other_ops: None (auto: on for ROCm builds unless the strategy is "vendor",
off for CUDA builds), True (always, CUDA builds included: to test and measure it on NVIDIA),
False (never: MIOpen/cuDNN keep them).

This module imports torch only inside its functions (setup_environment() uses decide()).
"""
import sys

OPTION = "bypass_other_ops"

# What torch.backends.cudnn.enabled sends to the vendor library besides safeconv's convolutions.
OPERATORS = ("batch norm forward and backward (BatchNorm1d/2d/3d, F.batch_norm)",
             "RNN, LSTM and GRU",
             "the convolutions PyTorch itself runs (fallback='torch', conv3d, torch.conv2d)")
OPERATORS_CUDA_ONLY = ("CTC loss", "grid sampling")

_VENDOR_STRATEGIES = ("vendor", "implicit_gemm")

_saved = None  # [value of torch.backends.cudnn.enabled before enable()] while bypassing
_reason = "safeconv.enable() is not active"


def decide(option, strategy, hip):
    """(bypass, why) for the option value, the strategy name and torch.version.hip."""
    if option is True:
        return True, "bypass_other_ops=True"
    if option is False:
        return False, "bypass_other_ops=False keeps them on the vendor library"
    if strategy in _VENDOR_STRATEGIES:
        return False, "strategy %r asks for the vendor library" % strategy
    if hip is None:
        return False, ("not a ROCm build of PyTorch: cuDNN keeps them "
                       "(bypass_other_ops=True moves them to PyTorch's kernels)")
    return True, ("ROCm build of PyTorch (HIP %s), strategy %r: MIOpen's batch-norm backward "
                  "has its own RDNA hangs and wrong gradients (bypass_other_ops=False keeps "
                  "MIOpen)" % (hip, strategy))


def vendor_name(hip):
    return "MIOpen" if hip is not None else "cuDNN"


def operators(hip):
    return OPERATORS if hip is not None else OPERATORS + OPERATORS_CUDA_ONLY


def sync(cfg):
    """Make torch.backends.cudnn.enabled what `cfg` (the options enable() now runs with) asks
    for: False while bypassing, remembering the value before; the remembered value back when
    it stops. Called under _patch's lock."""
    global _saved, _reason
    import torch
    bypass, _reason = decide(cfg.bypass_other_ops, cfg.strategy, torch.version.hip)
    if bypass:
        if _saved is None:
            _saved = [torch.backends.cudnn.enabled]
        torch.backends.cudnn.enabled = False
    else:
        restore()


def restore(reason=None):
    """Put back the value torch.backends.cudnn.enabled had before the bypass (disable())."""
    global _saved, _reason
    if reason is not None:
        _reason = reason
    if _saved is not None:
        import torch
        torch.backends.cudnn.enabled = _saved[0]
        _saved = None


def status():
    """What report() says: {"bypassed", "vendor", "operators", "reason", "cudnn_enabled"}.
    cudnn_enabled: torch.backends.cudnn.enabled now (False while bypassing, unless the
    program set it back itself)."""
    torch = sys.modules.get("torch")
    hip = getattr(getattr(torch, "version", None), "hip", None)
    return {
        "bypassed": _saved is not None,
        "vendor": vendor_name(hip),
        "operators": list(operators(hip)),
        "reason": _reason,
        "cudnn_enabled": bool(torch.backends.cudnn.enabled) if torch is not None else None,
    }


def describe(st=None):
    """One line for report()'s table and setup_environment()'s note."""
    st = st or status()
    ops = ", ".join(st["operators"])
    if st["bypassed"]:
        return ("kept off %s (torch.backends.cudnn.enabled=False while enabled): %s; why: %s"
                % (st["vendor"], ops, st["reason"]))
    return "left to PyTorch's %s setting: %s; why: %s" % (st["vendor"], ops, st["reason"])
