"""safeconv for PyTorch: 2D convolution forward and backward without cuDNN/MIOpen.

Three ways to use it (docs/pytorch.md):
    safeconv.enable(strategy="gpu")        # every convolution in the process; disable() undoes
    safeconv.patch_model(model)            # the conv layers of one model, in place
    safeconv.SafeConv2d(3, 64, 3)          # explicit layers (same constructor as nn.Conv2d)

`import safeconv` does not import torch or load the library, so setup_environment() can run
before `import torch`. The torch parts load on first use of any of their names.
"""
from ._env import (amd_gpu_archs, patch_dataloader, setup_environment, setup_multiprocessing,
                   unpatch_dataloader)
from ._lib import (LibraryNotFoundError, SafeConvError, SafeConvInputError,
                   SafeConvUnsupportedError, backends_compiled, clear_contexts, device_count,
                   device_info, library_path, load_library)
from ._lib import version as library_version

__version__ = "0.1.0"

# name -> submodule that defines it (imported on first access: they import torch)
_LAZY = {
    "enable": "_patch", "disable": "_patch", "is_enabled": "_patch", "enable_all": "_patch",
    "SafeConv2d": "modules", "SafeConv1d": "modules", "SafeConvTranspose2d": "modules",
    "patch_model": "modules", "unpatch_model": "modules", "is_patched": "modules",
    "report": "_stats", "reset_stats": "_stats",
    "probe_model": "_probe", "collect_conv_shapes": "_probe",
    "conv2d": "functional", "conv1d": "functional", "conv_transpose2d": "functional",
    "Config": "config",
}

__all__ = sorted(list(_LAZY) + [
    "setup_environment", "setup_multiprocessing", "patch_dataloader", "unpatch_dataloader",
    "amd_gpu_archs", "SafeConvError", "SafeConvInputError", "SafeConvUnsupportedError",
    "LibraryNotFoundError", "backends_compiled", "clear_contexts", "device_count",
    "device_info", "library_path", "library_version", "load_library"])


# public submodules, reachable as attributes (safeconv.functional.cpp_layer_status(), as
# docs/pytorch.md shows) before anything has imported them
_SUBMODULES = ("functional", "modules", "config")


def __getattr__(name):
    import importlib
    if name in _SUBMODULES:
        return importlib.import_module("." + name, __name__)
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError("module 'safeconv' has no attribute %r" % name)
    value = getattr(importlib.import_module("." + mod, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
