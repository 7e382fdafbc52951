"""The ctypes mirrors match include/safeconv.h: sizes and field offsets, read from a C program
compiled against the header (skipped only when no C compiler is found)."""
import ctypes
import os
import shutil
import subprocess

import pytest

from safeconv import _lib as L
from safeconv import _probe as P

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir)

STRUCTS = {
    "sc_conv2d_desc": L.ConvDesc, "sc_device_info": L.DeviceInfo,
    "sc_context_options": L.ContextOptions, "sc_stats": L.Stats,
    "sc_probe_options": P.ProbeOptions, "sc_probe_result": P.ProbeResult,
}


def test_struct_layouts_match_the_header(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    header = open(os.path.join(ROOT, "include", "safeconv.h")).read()
    lines = ['#include "safeconv.h"', "#include <stdio.h>", "#include <stddef.h>",
             "int main(void) {"]
    expect = []
    for cname, cls in STRUCTS.items():
        if cname not in header:
            continue  # e.g. the guard's section in an older header
        lines.append('printf("%%zu\\n", sizeof(%s));' % cname)
        expect.append(("sizeof " + cname, ctypes.sizeof(cls)))
        for field, _ in cls._fields_:
            lines.append('printf("%%zu\\n", offsetof(%s, %s));' % (cname, field))
            expect.append(("%s.%s" % (cname, field), getattr(cls, field).offset))
    lines.append("return 0; }")
    src = tmp_path / "abi.c"
    src.write_text("\n".join(lines))
    exe = tmp_path / "abi"
    subprocess.run([cc, "-I", os.path.join(ROOT, "include"), str(src), "-o", str(exe)],
                   check=True)
    got = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split()
    assert len(got) == len(expect)
    for (what, py), c in zip(expect, got):
        assert int(c) == py, what


def test_enum_values_match_the_header():
    header = open(os.path.join(ROOT, "include", "safeconv.h")).read()
    for name, value in [("SC_STATUS_UNSUPPORTED = 2", None), ("SC_NHWC = 1", None),
                        ("SC_DIR_BACKWARD_BIAS = 3", None), ("SC_STRATEGY_CPU = 4", None),
                        ("SC_ALGO_VENDOR_MIOPEN = 9", None), ("SC_DEVICE_CPU (-1)", None)]:
        assert name in header, name
    assert (L.STATUS_UNSUPPORTED, L.NHWC, L.DIR_BACKWARD_BIAS, L.STRATEGY_CPU,
            L.DEVICE_CPU) == (2, 1, 3, 4, -1)
    assert L.ALGO_NAMES[9] == "vendor_miopen"
    names = L.algo_names()          # asked from the library
    assert names[0] == "none" and names[1] == "cpu_reference" and names[9] == "vendor_miopen"
    for i, n in L.ALGO_NAMES.items():
        assert names.get(i, n) == n
