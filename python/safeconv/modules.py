"""Drop-in modules and patch_model().

SafeConv2d, SafeConv1d and SafeConvTranspose2d subclass PyTorch's classes and add no
parameters or buffers: same constructor, same state_dict keys, so a stock checkpoint loads
unchanged and a safeconv checkpoint loads into a stock model.

patch_model(model) works in place by changing the class of each conv module (module.__class__):
the module object, its parameters, device, dtype, hooks and train/eval mode are untouched.
A subclass of nn.Conv2d defined elsewhere is given a subclass of its own class that routes
_conv_forward through safeconv (its other methods keep working).
"""
from typing import List, Optional

import torch
import torch.nn as nn
from torch import Tensor
from torch.nn.modules.utils import _pair, _single

from . import _lib as L
from . import functional as SF
from .config import Config

# TorchScript: enable() puts the _conv_forward/forward functions below into PyTorch's own
# classes, so `torch.jit.script(model)` compiles them. Each starts with the code PyTorch's
# method has, under `if torch.jit.is_scripting():` (a branch the script compiler decides at
# compile time: the rest, which calls safeconv through Python, is never compiled), with
# PyTorch's functions taken before enable() (SF.TORCH_*). Scripted code therefore runs
# PyTorch's convolution. safeconv's own classes refuse to be scripted (__prepare_scriptable__):
# a SafeConv2d asked for safeconv, which TorchScript cannot call.
_NO_SCRIPT = ("%s cannot be compiled by TorchScript: safeconv computes through its C library "
              "from Python (ctypes), which a scripted module cannot call. Script a model of "
              "stock layers instead (under safeconv.enable() scripted code runs PyTorch's "
              "convolution), use torch.compile (PyTorch >= 2.4), or safeconv.unpatch_model() "
              "first to script it with PyTorch's convolution.")


def _tokenize(module):
    """torch.compile (PyTorch >= 2.4): the int that names this module to safeconv's operators
    (options and statistics per module; see _compile.py). Nothing on older PyTorch."""
    if SF._compile is not None:
        SF._compile.assign_token(module)


class _SafeConvMixin:
    """Marks safeconv classes. `safeconv_config` (a Config, or None for the global one set by
    enable()) selects strategy and options per module."""
    safeconv_config = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _tokenize(self)

    def __setstate__(self, state):  # unpickled or deep-copied: a token of its own
        super().__setstate__(state)
        _tokenize(self)

    def __prepare_scriptable__(self):
        raise L.SafeConvUnsupportedError(_NO_SCRIPT % type(self).__name__)


class SafeConv2d(_SafeConvMixin, nn.Conv2d):
    """nn.Conv2d computed by safeconv (forward and every gradient)."""

    def _conv_forward(self, input: Tensor, weight: Tensor, bias: Optional[Tensor]):
        if torch.jit.is_scripting():  # PyTorch's own method (see above)
            if self.padding_mode != "zeros":
                return SF.TORCH_CONV2D(SF.TORCH_PAD(input, self._reversed_padding_repeated_twice,
                                                    mode=self.padding_mode),
                                       weight, bias, self.stride, _pair(0), self.dilation,
                                       self.groups)
            return SF.TORCH_CONV2D(input, weight, bias, self.stride, self.padding, self.dilation,
                                   self.groups)
        if self.padding_mode != "zeros":
            return SF.conv2d(SF.TORCH_PAD(input, self._reversed_padding_repeated_twice,
                                          mode=self.padding_mode),
                             weight, bias, self.stride, 0, self.dilation, self.groups, layer=self)
        return SF.conv2d(input, weight, bias, self.stride, self.padding, self.dilation,
                         self.groups, layer=self)


class SafeConv1d(_SafeConvMixin, nn.Conv1d):
    """nn.Conv1d computed by safeconv as a convolution of height 1."""

    def _conv_forward(self, input: Tensor, weight: Tensor, bias: Optional[Tensor]):
        if torch.jit.is_scripting():  # PyTorch's own method
            if self.padding_mode != "zeros":
                return SF.TORCH_CONV1D(SF.TORCH_PAD(input, self._reversed_padding_repeated_twice,
                                                    mode=self.padding_mode),
                                       weight, bias, self.stride, _single(0), self.dilation,
                                       self.groups)
            return SF.TORCH_CONV1D(input, weight, bias, self.stride, self.padding, self.dilation,
                                   self.groups)
        if self.padding_mode != "zeros":
            return SF.conv1d(SF.TORCH_PAD(input, self._reversed_padding_repeated_twice,
                                          mode=self.padding_mode),
                             weight, bias, self.stride, 0, self.dilation, self.groups, layer=self)
        return SF.conv1d(input, weight, bias, self.stride, self.padding, self.dilation,
                         self.groups, layer=self)


class SafeConvTranspose2d(_SafeConvMixin, nn.ConvTranspose2d):
    """nn.ConvTranspose2d computed by safeconv (its forward is safeconv's backward-data)."""

    def forward(self, input: Tensor, output_size: Optional[List[int]] = None) -> Tensor:
        """nn.ConvTranspose2d.forward with the convolution through safeconv."""
        if self.padding_mode != "zeros":
            raise ValueError("Only `zeros` padding mode is supported for ConvTranspose2d")
        assert isinstance(self.padding, tuple)
        output_padding = self._output_padding(
            input, output_size, self.stride, self.padding, self.kernel_size,  # type: ignore
            2, self.dilation)  # type: ignore[arg-type]
        if torch.jit.is_scripting():  # PyTorch's own method
            return SF.TORCH_CONV_TRANSPOSE2D(input, self.weight, self.bias, self.stride,
                                             self.padding, output_padding, self.groups,
                                             self.dilation)
        return SF.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                   output_padding, self.groups, self.dilation, layer=self)


_conv_transpose2d_forward = SafeConvTranspose2d.__dict__["forward"]


# PyTorch class -> safeconv class; subclasses get one made on first need.
_CLASS_MAP = {nn.Conv2d: SafeConv2d, nn.Conv1d: SafeConv1d, nn.ConvTranspose2d: SafeConvTranspose2d}
_made = {}


def _safe_class(cls):
    if issubclass(cls, _SafeConvMixin):
        return cls
    if cls in _CLASS_MAP:
        return _CLASS_MAP[cls]
    if cls in _made:
        return _made[cls]
    if issubclass(cls, nn.ConvTranspose2d):
        body = {"forward": _conv_transpose2d_forward}
        if cls.forward is not nn.ConvTranspose2d.forward:
            return None  # its own forward: leave it to enable()'s F.conv_transpose2d patch
    elif issubclass(cls, nn.Conv2d):
        body = {"_conv_forward": SafeConv2d._conv_forward}
    elif issubclass(cls, nn.Conv1d):
        body = {"_conv_forward": SafeConv1d._conv_forward}
    else:
        return None
    body["__module__"] = cls.__module__
    body["__doc__"] = "%s computed by safeconv (made by patch_model)." % cls.__name__
    new = type("Safe" + cls.__name__, (_SafeConvMixin, cls), body)
    new._safeconv_base = cls
    _made[cls] = new
    return new


SafeConv2d._safeconv_base = nn.Conv2d
SafeConv1d._safeconv_base = nn.Conv1d
SafeConvTranspose2d._safeconv_base = nn.ConvTranspose2d


def patch_model(model, strategy=None, **options):
    """Route every Conv1d, Conv2d and ConvTranspose2d of `model` (recursively, `model` itself
    included) through safeconv, in place; returns `model`.

    Weights, devices, dtypes, hooks and train/eval mode are kept (only each module's class
    changes). With no strategy or options, the layers follow the global options of enable()
    (or the defaults); with them, these layers use their own. Calling it again is harmless
    (and replaces the per-layer options if given). unpatch_model() undoes it."""
    if not isinstance(model, nn.Module):
        raise L.SafeConvInputError("patch_model: expected a torch.nn.Module, got %s"
                                   % type(model).__name__)
    if "bypass_other_ops" in options:
        raise L.SafeConvInputError(
            "patch_model: option bypass_other_ops is enable()'s (it sets the process-wide "
            "torch.backends.cudnn.enabled, which patch_model leaves alone); use "
            "safeconv.enable(), or set torch.backends.cudnn.enabled = False yourself")
    cfg = None
    if strategy is not None or options:
        if strategy is not None:
            options["strategy"] = strategy
        cfg = Config(**options)
    for m in model.modules():
        if not isinstance(m, (nn.Conv2d, nn.Conv1d, nn.ConvTranspose2d)):
            continue
        new = _safe_class(type(m))
        if new is None:
            continue
        m.__class__ = new
        _tokenize(m)
        if cfg is not None:
            m.safeconv_config = cfg
    return model


def unpatch_model(model):
    """Undo patch_model: give each patched module its PyTorch class back."""
    for m in model.modules():
        if isinstance(m, _SafeConvMixin):
            base = getattr(type(m), "_safeconv_base", None)
            if base is not None:
                m.__class__ = base
            m.__dict__.pop("safeconv_config", None)
    return model


def is_patched(module):
    return isinstance(module, _SafeConvMixin)
