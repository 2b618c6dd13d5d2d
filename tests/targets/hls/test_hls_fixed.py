"""snnc_fixed.h against the hls profile's integer arithmetic: every rounding and overflow mode, from
doubles and between formats (left and right shifts), products, sums and comparisons. One g++ build."""

from __future__ import annotations

import itertools
import shutil
import subprocess

import numpy as np
import pytest
import torch

from snnc.ir.numerics.hls import FX, convert, from_float
from snnc.ir.quantize import Fixed
from snnc.targets.hls.lower import HEADER, cpp_type

ROUNDINGS = ("trn", "trn_zero", "rnd", "rnd_zero", "rnd_inf", "rnd_min_inf", "rnd_conv")
OVERFLOWS = ("wrap", "sat", "sat_sym")
SHAPES = [(5, 2), (8, 8), (12, 3), (6, 9), (10, -2), (20, 10)]  # (W, I), I > W and I < 0 included
SOURCE = Fixed(30, 12, True, "trn", "wrap")  # codes converted from here into every format


def _values(rng):
    v = np.concatenate([rng.uniform(-300, 300, 60), rng.uniform(-2, 2, 60),
                        np.arange(-40, 41) / 16, [0.0, -0.0, 1e30, -1e30, 2.0**61, -2.0**63, 0.5, -0.5, 1.5, -1.5]])
    return v.astype(np.float64)


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
def test_header_matches_python_integer_arithmetic(tmp_path):
    rng = np.random.default_rng(1)
    values = _values(rng)
    src_codes = rng.integers(-(1 << 29), 1 << 29, 200).tolist() + [0, 1, -1, (1 << 29) - 1, -(1 << 29)]
    formats = [Fixed(w, i, True, r, o) for (w, i), r, o in itertools.product(SHAPES, ROUNDINGS, OVERFLOWS)]
    lines = ['#include <cstdio>', '#include "snnc_fixed.h"',
             f"static const double VALUES[{len(values)}] = {{{', '.join(repr(float(v)) for v in values)}}};",
             f"static const long long CODES[{len(src_codes)}] = {{{', '.join(f'{c}LL' for c in src_codes)}}};",
             f"typedef {cpp_type(SOURCE)} src_t;",
             "template <class T> void run() {",
             "  for (double d : VALUES) { T a(d); std::printf(\"%lld \", (long long)a.v); }",
             "  for (long long c : CODES) { T a = src_t::from_raw(c); std::printf(\"%lld \", (long long)a.v); }",
             "  std::printf(\"\\n\");", "}",
             "int main() {"]
    lines += [f"  run<{cpp_type(f)}>();" for f in formats]
    # products, sums, comparisons of two formats
    lines += ["  typedef snnc::fixed<9, 3, snnc::TRN, snnc::WRAP> a_t;", "  typedef snnc::fixed<7, 5, snnc::RND, snnc::SAT> b_t;",
              "  for (int i = -256; i < 256; i += 7) for (int j = -64; j < 64; j += 5) {",
              "    a_t a = a_t::from_raw(i); b_t b = b_t::from_raw(j);",
              "    std::printf(\"%lld %lld %lld %d %d\\n\", (long long)(a * b).v, (long long)(a + b).v,"
              " (long long)(a - b).v, (int)(a >= b), (int)(a > b));", "  }", "}"]
    (tmp_path / "t.cpp").write_text("\n".join(lines))
    shutil.copy(HEADER, tmp_path / "snnc_fixed.h")
    exe = tmp_path / "t"
    subprocess.run(["g++", "-std=c++17", "-O0", "-Wall", "-Werror", "-o", str(exe), str(tmp_path / "t.cpp")], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()
    x = torch.from_numpy(values)
    codes = torch.tensor(src_codes, dtype=torch.int64)
    for f, line in zip(formats, out):
        got = [int(t) for t in line.split()]
        want = from_float(x, f).tolist() + convert(codes, SOURCE.frac_bits - f.frac_bits, f).tolist()
        assert got == want, f"{f}: {[(i, g, w) for i, (g, w) in enumerate(zip(got, want)) if g != w][:5]}"
    k = len(formats)
    rows = [list(map(int, line.split())) for line in out[k:]]
    i = torch.arange(-256, 256, 7, dtype=torch.int64).repeat_interleave(len(range(-64, 64, 5)))
    j = torch.arange(-64, 64, 5, dtype=torch.int64).repeat(len(range(-256, 256, 7)))
    a, b = FX(i, 9, 3), FX(j, 7, 5)
    want = torch.stack([(a * b).code, (a + b).code, (a - b).code, a.ge(b).long(), a.gt(b).long()], 1)
    assert rows == want.tolist()


def test_rounding_modes_on_ties():
    """The seven modes on the ties ±0.5, ±1.5, ±2.5 and a non-tie, at 0 fraction bits."""
    x = torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 1.25, -1.25], dtype=torch.float64)
    want = {"trn": [0, 1, 2, -1, -2, -3, 1, -2], "trn_zero": [0, 1, 2, 0, -1, -2, 1, -1],
            "rnd": [1, 2, 3, 0, -1, -2, 1, -1], "rnd_zero": [0, 1, 2, 0, -1, -2, 1, -1],
            "rnd_inf": [1, 2, 3, -1, -2, -3, 1, -1], "rnd_min_inf": [0, 1, 2, -1, -2, -3, 1, -1],
            "rnd_conv": [0, 2, 2, 0, -2, -2, 1, -1]}
    for mode, expected in want.items():
        assert from_float(x, Fixed(8, 8, True, mode, "sat")).tolist() == expected, mode


def test_overflow_modes():
    x = torch.tensor([7.0, 8.0, 9.0, -8.0, -9.0, 20.0], dtype=torch.float64)
    assert from_float(x, Fixed(4, 4, True, "trn", "wrap")).tolist() == [7, -8, -7, -8, 7, 4]
    assert from_float(x, Fixed(4, 4, True, "trn", "sat")).tolist() == [7, 7, 7, -8, -8, 7]
    assert from_float(x, Fixed(4, 4, True, "trn", "sat_sym")).tolist() == [7, 7, 7, -7, -7, 7]
