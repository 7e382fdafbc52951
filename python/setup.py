"""setup.py - only for what pyproject.toml cannot say: a wheel that carries libsafeconv.so (put
beside the package by `make wheel`) is platform-specific. Its tag becomes py3-none-<platform>
(the library is loaded with ctypes: no Python ABI is involved) and it installs as platlib;
without the library the wheel is pure Python (py3-none-any)."""
import glob
import os

from setuptools import setup
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))
HAS_LIB = bool(glob.glob(os.path.join(HERE, "safeconv", "libsafeconv.so*")))

try:  # setuptools >= 70.1 has its own bdist_wheel; before, the wheel package's
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:
    from wheel.bdist_wheel import bdist_wheel


class LibDistribution(Distribution):
    def has_ext_modules(self):  # platlib, like a package with a compiled extension
        return HAS_LIB


class PlatformWheel(bdist_wheel):
    def finalize_options(self):
        super().finalize_options()
        self.root_is_pure = not HAS_LIB

    def get_tag(self):
        if not HAS_LIB:
            return super().get_tag()
        return ("py3", "none", super().get_tag()[2])


# A library left in setuptools' build folder by an earlier build must not enter a wheel built
# without one (it would then be tagged pure).
if not HAS_LIB:
    for stale in glob.glob(os.path.join(HERE, "build", "lib*", "safeconv", "libsafeconv.so*")):
        os.remove(stale)

setup(distclass=LibDistribution, cmdclass={"bdist_wheel": PlatformWheel})
