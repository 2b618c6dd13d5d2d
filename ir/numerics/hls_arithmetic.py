"""Exact fixed-point arithmetic on integer codes (int64 tensors) for the ``hls`` profile: rounding
shifts, overflow, conversion from float64, and :class:`FX`, a value that combines by the
``ap_fixed`` result-type rules (``ir/numerics/hls.py`` states the profile's semantics)."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import SnncError
from ..quantize import Fixed, round_half, rounds_up


#: the widest intermediate (exact) type; the C++ keeps codes in int64
MAX_EXACT_BITS = 63


# --- integer code arithmetic (int64 tensors) ---------------------------------------------------------
def _floor_shift(v: torch.Tensor, s: int) -> torch.Tensor:
    return torch.div(v, 1 << s, rounding_mode="floor")


def round_shift(v: torch.Tensor, s: int, rounding: str) -> torch.Tensor:
    """``v · 2^-s`` rounded to an integer by ``rounding`` (``s >= 1``)."""
    q = _floor_shift(v, s)
    r = v - q * (1 << s)  # in [0, 2^s)
    half = 1 << (s - 1)
    return q + rounds_up(rounding, r > half, r == half, v < 0, (q & 1) == 1, r != 0).to(torch.int64)


def overflow(v: torch.Tensor, width: int, mode: str) -> torch.Tensor:
    hi, lo = (1 << (width - 1)) - 1, -(1 << (width - 1))
    if mode == "sat":
        return v.clamp(lo, hi)
    if mode == "sat_sym":
        return v.clamp(-hi, hi)
    if mode == "wrap":
        u = v & ((1 << width) - 1)
        return torch.where(u > hi, u - (1 << width), u)
    raise SnncError(f"unknown overflow mode {mode!r}")


def convert(v: torch.Tensor, s: int, fmt: Fixed) -> torch.Tensor:
    """The code in ``fmt`` of the value ``v · 2^-s`` (``v`` int64 codes): round if ``s > 0``, then
    overflow. A left shift (``s < 0``) is computed without intermediate overflow (as the C++)."""
    w = fmt.width
    if s > 0:
        return overflow(round_shift(v, s, fmt.rounding), w, fmt.overflow)
    if s == 0:
        return overflow(v, w, fmt.overflow)
    n = -s
    if fmt.overflow == "wrap":
        if n >= 64:
            return torch.zeros_like(v)
        return overflow(torch.bitwise_left_shift(v, n) & ((1 << w) - 1), w, "wrap")
    hi = (1 << (w - 1)) - 1
    lo = -hi if fmt.overflow == "sat_sym" else -(1 << (w - 1))
    top, bottom = hi >> n, -((-lo) >> n)  # the codes v with lo <= v·2^n <= hi
    shifted = v * (1 << n) if n < 63 else torch.zeros_like(v)
    out = torch.where(v > top, torch.full_like(v, hi), shifted)
    return torch.where(v < bottom, torch.full_like(v, lo), out)


def from_float(x: torch.Tensor, fmt: Fixed) -> torch.Tensor:
    """Codes of real ``x`` in ``fmt``: ``y = x·2^F`` (exact), clipped to ±2^62, rounded, overflowed."""
    y = torch.as_tensor(x, dtype=torch.float64) * math.ldexp(1.0, fmt.frac_bits)
    y = y.clamp(-(2.0 ** 62), 2.0 ** 62)
    return overflow(round_half(y, fmt.rounding).to(torch.int64), fmt.width, fmt.overflow)


def to_float(codes: torch.Tensor, frac_bits: int) -> torch.Tensor:
    return codes.to(torch.float64) * math.ldexp(1.0, -frac_bits)


class FX:
    """An exact fixed-point value: int64 ``code`` tensor with ``width`` and ``int_bits``, combining by
    the ``ap_fixed`` result-type rules (the same as ``snnc_fixed.h``)."""

    __slots__ = ("code", "width", "int_bits")

    def __init__(self, code: torch.Tensor, width: int, int_bits: int):
        if width > MAX_EXACT_BITS:
            raise WidthError(f"an intermediate value needs {width} bits (more than {MAX_EXACT_BITS}); "
                              "use narrower formats")
        self.code, self.width, self.int_bits = code, width, int_bits

    @property
    def frac(self) -> int:
        return self.width - self.int_bits

    @classmethod
    def of(cls, value, fmt: Fixed) -> "FX":
        """A real value (float tensor/array already on ``fmt``'s grid, or to be rounded onto it)."""
        return cls(from_float(torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor)
                                              else value), fmt), fmt.width, fmt.int_bits)

    def _sum_type(self, o: "FX") -> tuple[int, int]:
        f, i = max(self.frac, o.frac), max(self.int_bits, o.int_bits) + 1
        return f + i, i

    def _aligned(self, o: "FX"):
        w, i = self._sum_type(o)
        if w > MAX_EXACT_BITS:
            raise WidthError(f"a sum needs {w} bits (more than {MAX_EXACT_BITS}); use narrower formats")
        f = w - i
        return self.code * (1 << (f - self.frac)), o.code * (1 << (f - o.frac)), w, i

    def __add__(self, o: "FX") -> "FX":
        a, b, w, i = self._aligned(o)
        return FX(a + b, w, i)

    def __sub__(self, o: "FX") -> "FX":
        a, b, w, i = self._aligned(o)
        return FX(a - b, w, i)

    def __mul__(self, o: "FX") -> "FX":
        return FX(self.code * o.code, self.width + o.width, self.int_bits + o.int_bits)

    def ge(self, o: "FX") -> torch.Tensor:
        a, b, _, _ = self._aligned(o)
        return a >= b

    def gt(self, o: "FX") -> torch.Tensor:
        a, b, _, _ = self._aligned(o)
        return a > b

    def cast(self, fmt: Fixed) -> "FX":
        """Store into ``fmt``: round (its rounding) and overflow (its overflow)."""
        return FX(convert(self.code, self.frac - fmt.frac_bits, fmt), fmt.width, fmt.int_bits)

    def value(self) -> torch.Tensor:
        return to_float(self.code, self.frac)

    @staticmethod
    def where(cond: torch.Tensor, a: "FX", b: "FX") -> "FX":
        assert (a.width, a.int_bits) == (b.width, b.int_bits)
        return FX(torch.where(cond, a.code, b.code), a.width, a.int_bits)


class WidthError(SnncError):
    """An exact intermediate type wider than ``MAX_EXACT_BITS`` (the kernel refuses the node)."""


