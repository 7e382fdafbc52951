"""build_layer_ops.py - compile safeconv/csrc/layer_ops.cpp for the PyTorch this Python imports
(`make layer-ops` runs it with the interpreter of the Python tests).

Writes safeconv/_layer_ops-torch<version>.so (the version as torch.__version__ gives it): the
package loads only the file built for the PyTorch it runs with (functional._load_layer_ops).
The compiler is $CXX (default g++), with PyTorch's headers and C++ ABI setting; a CUDA build of
PyTorch gets the CUDA stream code (-DSAFECONV_EXT_CUDA, headers from $CUDA_HOME or
/usr/local/cuda). A ROCm build of PyTorch is refused: the operators' HIP stream code is not
written (the Python layer serves those PyTorch builds). Exits 0 after writing the file, 1 with
the reason otherwise.

    python3 python/build_layer_ops.py [--print-path] [--if-stale] [--cxx g++]

--if-stale: do nothing when the file is newer than its sources (layer_ops.cpp, safeconv.h).

One C++ runtime: the operators link the libstdc++ this Python has loaded (PyTorch's), named by
its path, and the file written must not define the runtime's own symbols. A toolchain that
links a static copy of libstdc++ into it (a compiler wrapper whose -B directory has only
libstdc++.a did, on a GPU machine) gives the process two runtimes: the copy's std::locale facet
ids are not PyTorch's, and the first error message with a number in it (c10::str formatting an
integer) called a wrong facet and ended the process with SIGSEGV instead of raising.
"""
import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def loaded_libstdcxx():
    """The path of the libstdc++ this process has loaded (after `import torch`), or None."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split(None, 5)[-1].strip()
                if re.search(r"/libstdc\+\+\.so\.6(\.[0-9.]+)?$", path):
                    return path
    except OSError:
        pass
    return None


# std::locale and its facet ids, defined by libstdc++ itself: a file that defines them carries
# a copy of the runtime (module docstring)
_RUNTIME_SYMBOL = re.compile(r"^_ZNSt6locale|^_ZNSt7codecvt|^_ZNSt8ios_base4Init")


def own_runtime_symbols(path, nm="nm"):
    """The C++ runtime symbols `path` defines in its dynamic table (none is right), or None
    where `nm` is not there to say."""
    if shutil.which(nm) is None:
        return None
    r = subprocess.run([nm, "-D", "--defined-only", path], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    names = (line.split()[-1] for line in r.stdout.splitlines() if line.strip())
    return sorted(n for n in names if _RUNTIME_SYMBOL.match(n))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--print-path", action="store_true", help="print the output path and exit")
    ap.add_argument("--if-stale", action="store_true", help="build only when out of date")
    ap.add_argument("--cxx", default=os.environ.get("CXX") or "g++")
    a = ap.parse_args()
    try:
        import torch
        from torch.utils import cpp_extension
    except ImportError as e:
        print("build_layer_ops.py: this Python has no PyTorch (%s)" % e, file=sys.stderr)
        return 1
    sys.path.insert(0, HERE)  # this tree's package, where the file is looked for
    from safeconv.functional import cpp_layer_path, cpp_layer_source_hash
    out = cpp_layer_path()
    if a.print_path:
        print(out)
        return 0
    if getattr(torch.version, "hip", None):
        print("build_layer_ops.py: PyTorch %s is a ROCm build; the C++ layer is CPU and CUDA "
              "only (the Python layer runs instead)" % torch.__version__, file=sys.stderr)
        return 1
    src = os.path.join(HERE, "safeconv", "csrc", "layer_ops.cpp")
    header = os.path.join(ROOT, "include", "safeconv.h")
    if a.if_stale and os.path.isfile(out) and all(
            os.path.getmtime(out) > os.path.getmtime(p) for p in (src, header, __file__)):
        return 0
    # PyTorch's headers need C++20 from 2.11 on (its cpp_extension's default since then)
    try:
        major, minor = (int(v) for v in torch.__version__.split(".")[:2])
    except ValueError:
        major, minor = 2, 99
    std = "c++20" if (major, minor) >= (2, 11) else "c++17"
    cmd = [a.cxx, "-std=" + std, "-O2", "-fPIC", "-shared", "-Wall", "-Wno-unused-parameter",
           "-D_GLIBCXX_USE_CXX11_ABI=%d" % int(torch._C._GLIBCXX_USE_CXX11_ABI),
           '-DSAFECONV_LAYER_SOURCE="%s"' % cpp_layer_source_hash(),
           "-I" + os.path.join(ROOT, "include")]
    cmd += ["-isystem" + p for p in cpp_extension.include_paths()]
    libs = ["-lc10", "-ltorch", "-ltorch_cpu"]
    if torch.version.cuda:
        cuda = os.environ.get("CUDA_HOME") or "/usr/local/cuda"
        if not os.path.isfile(os.path.join(cuda, "include", "cuda_runtime_api.h")):
            print("build_layer_ops.py: PyTorch %s is a CUDA build but %s/include has no CUDA "
                  "headers (set CUDA_HOME)" % (torch.__version__, cuda), file=sys.stderr)
            return 1
        cmd += ["-DSAFECONV_EXT_CUDA", "-isystem" + os.path.join(cuda, "include")]
        libs += ["-lc10_cuda", "-ltorch_cuda"]
    for p in cpp_extension.library_paths():
        cmd += ["-L" + p, "-Wl,-rpath," + p]
    runtime = loaded_libstdcxx()
    if runtime:  # this runtime, not whatever the compiler's search path finds first
        libs.append(runtime)
    tmp = out + ".tmp"
    cmd += [src, "-o", tmp] + libs + ["-ldl"]
    print(" ".join(shlex.quote(c) for c in cmd))
    try:
        r = subprocess.run(cmd)
    except OSError as e:  # no such compiler, or not executable
        print("build_layer_ops.py: cannot run the compiler %s: %s (--cxx or CXX names another)"
              % (a.cxx, e.strerror), file=sys.stderr)
        return 1
    if r.returncode != 0:
        if os.path.exists(tmp):
            os.remove(tmp)
        print("build_layer_ops.py: the compiler failed (%d)" % r.returncode, file=sys.stderr)
        return 1
    own = own_runtime_symbols(tmp)
    if own:
        os.remove(tmp)
        print("build_layer_ops.py: %s linked its own copy of the C++ runtime into the operators "
              "(it defines %s, ...): exceptions out of them would end the process. Use a "
              "compiler that links libstdc++ dynamically (--cxx or CXX, e.g. /usr/bin/g++)"
              % (a.cxx, own[0]), file=sys.stderr)
        return 1
    os.replace(tmp, out)  # a half-written file is never loaded
    print("build_layer_ops.py: wrote %s" % out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
