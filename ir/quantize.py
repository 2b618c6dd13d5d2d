"""Shared quantization machinery: fixed-point formats, rounding and overflow, format choice and
calibration. The integer profiles (``ir/numerics/loihi.py``, ``hls.py``, …) build their
``Profile.quantize`` from these instead of writing their own; the quantization and range-analysis
passes (``snnc.passes``) read what they record.

**Formats.** :class:`Fixed` is a signed (or unsigned) fixed-point number of ``width`` bits of which
``int_bits`` are integer bits (sign included), like ``ap_fixed<W,I>``: the stored integer ``q``
means ``q · 2^-(W-I)``. ``int_bits`` may exceed ``width`` (a power-of-two exponent: Loihi's 8-bit
weight mantissa with a weight exponent ``e`` is ``Fixed(8, 8 + e)``) or be negative. Converting a
real ``x`` to the stored integer: scale by ``2^(W-I)``, round by ``rounding``, then bring into range
by ``overflow``:

============  ===================================================================  ===============
rounding      ``q = `` (``y = x·2^(W-I)``)                                          ap_fixed mode
============  ===================================================================  ===============
``trn``       ``floor(y)`` (toward −∞)                                              ``AP_TRN``
``trn_zero``  ``trunc(y)`` (toward 0; Loihi's decays)                               ``AP_TRN_ZERO``
``rnd``       ``floor(y + 1/2)`` (half toward +∞)                                   ``AP_RND``
``rnd_zero``  nearest, half toward 0                                                ``AP_RND_ZERO``
``rnd_inf``   nearest, half away from 0                                             ``AP_RND_INF``
``rnd_min_inf`` nearest, half toward −∞                                             ``AP_RND_MIN_INF``
``rnd_conv``  nearest, half to even (``torch.round``)                               ``AP_RND_CONV``
============  ===================================================================  ===============

overflow: ``wrap`` (two's complement modulo ``2^W``, ``AP_WRAP``), ``sat`` (clip to
``[q_min, q_max]``, ``AP_SAT``), ``sat_sym`` (clip to ``[-q_max, q_max]``, ``AP_SAT_SYM``).

**The ``node.quant`` convention** (what a profile's ``quantize`` writes, what the passes read):

- ``node.quant["formats"]``: ``{tensor_class: Fixed.to_dict()}`` with the tensor classes
  ``"weight"``, ``"bias"`` (parameters), ``"accum"`` (the sum a Linear/Conv2d/pool computes, bias
  included), ``"result"`` (the node's output as stored), ``"v"`` (a Neuron's membrane potential,
  before and after its reset), ``"i"`` (a ``cuba`` Neuron's current), ``"b"`` (an adaptive
  threshold's spike trace), ``"threshold"``, ``"decay"``
  (Neuron parameters), ``"mem"`` (a membrane-mode Readout's accumulator). All formats are in the
  *real* units of the float graph (see ``scales``). A class that is absent is not fixed point.
- ``node.quant["scales"]``: ``{param_key: s}`` when a parameter is stored as an integer mantissa:
  its real value is ``stored · s``. Absent (or a missing key) means the parameter is stored in real
  units (already rounded onto its format's grid).
- ``graph.metadata["numerics"]``: the profile's name (set by ``Profile.quantize``).

:func:`format_of` reads a format back; :func:`real_params` gives a node's parameters in real units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .errors import SnncError

ROUNDING = ("trn", "trn_zero", "rnd", "rnd_zero", "rnd_inf", "rnd_min_inf", "rnd_conv")
OVERFLOW = ("wrap", "sat", "sat_sym")
TENSOR_CLASSES = ("weight", "bias", "accum", "result", "v", "i", "b", "threshold", "decay", "mem")


def _ns(x):
    return torch if isinstance(x, torch.Tensor) else np


def _ldexp(y, exponent: int):
    """``y · 2^exponent`` without forming ``2^exponent`` (which overflows for tiny/huge formats)."""
    if isinstance(y, torch.Tensor):
        return torch.ldexp(y, torch.tensor(exponent, dtype=torch.int64))
    return np.ldexp(y, exponent)


def rounds_up(mode: str, above_half, at_half, negative, odd, inexact):
    """Whether a value between the integers ``q = floor(value)`` and ``q + 1`` rounds to ``q + 1`` by
    ``mode`` (the ``ap_fixed`` modes), from where its fraction lies (``above_half``, ``at_half``,
    ``inexact``: not 0), its sign and whether ``q`` is odd (boolean arrays or tensors): the one rule the
    float conversion here and the integer shifts of ``ir.numerics.hls_arithmetic`` share."""
    if mode == "trn":
        return above_half & False
    if mode == "trn_zero":
        return negative & inexact
    if mode == "rnd":
        return above_half | at_half
    if mode == "rnd_zero":
        return above_half | (at_half & negative)
    if mode == "rnd_inf":
        return above_half | (at_half & ~negative)
    if mode == "rnd_min_inf":
        return above_half
    if mode == "rnd_conv":
        return above_half | (at_half & odd)
    raise SnncError(f"unknown rounding mode {mode!r}; expected one of {ROUNDING}")


def round_half(y, mode: str):
    """Round ``y`` (numpy array or torch tensor, float) to integers (still float) by ``mode``, exactly
    (``floor`` and the fraction ``y - floor(y)`` are exact in binary floating point)."""
    xp = _ns(y)
    f = xp.floor(y)
    frac = y - f
    up = rounds_up(mode, frac > 0.5, frac == 0.5, y < 0, xp.remainder(f, 2) == 1, frac != 0)
    return xp.where(up, f + 1, f)


def bring_into_range(q, q_min: int, q_max: int, mode: str):
    """Integers ``q`` (float or int array/tensor) into ``[q_min, q_max]`` by ``wrap``/``sat``/``sat_sym``."""
    xp = _ns(q)
    if mode == "sat":
        return xp.clip(q, q_min, q_max)
    if mode == "sat_sym":
        return xp.clip(q, -q_max, q_max)
    if mode == "wrap":
        span = q_max - q_min + 1
        return xp.remainder(q - q_min, span) + q_min
    raise SnncError(f"unknown overflow mode {mode!r}; expected one of {OVERFLOW}")


@dataclass(frozen=True)
class Fixed:
    """``ap_fixed<width, int_bits>``-like format (see the module docstring)."""

    width: int
    int_bits: int
    signed: bool = True
    rounding: str = "rnd_conv"
    overflow: str = "sat"

    def __post_init__(self):
        if not isinstance(self.width, int) or isinstance(self.width, bool) or not 1 <= self.width <= 53:
            raise SnncError(f"fixed-point width must be an int in [1, 53], got {self.width!r}")
        if not isinstance(self.int_bits, int) or isinstance(self.int_bits, bool):
            raise SnncError(f"fixed-point int_bits must be an int, got {self.int_bits!r}")
        if self.signed and self.width < 2:
            raise SnncError("a signed fixed-point format needs at least 2 bits")
        if self.rounding not in ROUNDING:
            raise SnncError(f"unknown rounding mode {self.rounding!r}; expected one of {ROUNDING}")
        if self.overflow not in OVERFLOW:
            raise SnncError(f"unknown overflow mode {self.overflow!r}; expected one of {OVERFLOW}")

    # the grid -----------------------------------------------------------------------------------
    @property
    def frac_bits(self) -> int:
        return self.width - self.int_bits

    @property
    def step(self) -> float:
        """The real value of one least-significant bit, ``2^-frac_bits``."""
        return math.ldexp(1.0, -self.frac_bits)

    @property
    def q_min(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def q_max(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def min(self) -> float:
        return self.q_min * self.step

    @property
    def max(self) -> float:
        return self.q_max * self.step

    # conversions --------------------------------------------------------------------------------
    def to_int(self, x):
        """Stored integers of real ``x`` (float64 numpy array, or a float64 tensor for a tensor)."""
        y = x.to(torch.float64) if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)
        q = round_half(_ldexp(y, self.frac_bits), self.rounding)
        q = bring_into_range(q, self.q_min, self.q_max, self.overflow)
        return q if isinstance(q, torch.Tensor) else np.asarray(q, dtype=np.float64)  # 0-d stays an array

    def quantize(self, x):
        """``x`` rounded onto this format's grid and brought into range, in real units (float64)."""
        q = self.to_int(x) * self.step
        return q if isinstance(q, torch.Tensor) else np.asarray(q, dtype=np.float64)

    def representable(self, x) -> np.ndarray:
        """Whether each value of ``x`` is exactly a value of this format."""
        y = _ldexp(np.asarray(x, dtype=np.float64), self.frac_bits)
        return (y == np.round(y)) & (y >= self.q_min) & (y <= self.q_max)

    def out_of_range(self, x) -> int:
        """How many values of ``x`` lie outside ``[min, max]`` (values the overflow mode changes)."""
        x = np.asarray(x, dtype=np.float64)
        return int(np.count_nonzero((x < self.min) | (x > self.max)))

    # naming -------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"width": self.width, "int": self.int_bits, "signed": self.signed,
                "rounding": self.rounding, "overflow": self.overflow}

    @classmethod
    def from_dict(cls, d: dict) -> "Fixed":
        if not isinstance(d, dict) or "width" not in d or "int" not in d:
            raise SnncError(f"a fixed-point format needs 'width' and 'int', got {d!r}")
        return cls(int(d["width"]), int(d["int"]), bool(d.get("signed", True)),
                   d.get("rounding", "rnd_conv"), d.get("overflow", "sat"))

    @classmethod
    def with_step(cls, width: int, step: float, **kw) -> "Fixed":
        """The format of ``width`` bits whose least-significant bit is ``step`` (a power of two)."""
        mant, exp = math.frexp(step)
        if mant != 0.5:
            raise SnncError(f"fixed-point step must be a power of two, got {step}")
        return cls(width, width + (exp - 1), **kw)

    def __str__(self) -> str:
        kind = "fixed" if self.signed else "ufixed"
        return f"{kind}<{self.width},{self.int_bits},{self.rounding},{self.overflow}>"


def format_of(node, tensor_class: str) -> Fixed | None:
    """The format recorded in ``node.quant["formats"][tensor_class]`` (None if not fixed point)."""
    d = (node.quant.get("formats") or {}).get(tensor_class)
    return None if d is None else Fixed.from_dict(d)


def set_format(node, tensor_class: str, fmt: Fixed) -> None:
    if tensor_class not in TENSOR_CLASSES:
        raise SnncError(f"unknown tensor class {tensor_class!r}; expected one of {TENSOR_CLASSES}")
    node.quant.setdefault("formats", {})[tensor_class] = fmt.to_dict()


def real_params(node) -> dict[str, np.ndarray]:
    """The node's parameters in real units (``stored · node.quant["scales"][key]``), float64."""
    scales = node.quant.get("scales") or {}
    return {k: np.asarray(v, dtype=np.float64) * float(scales.get(k, 1.0)) for k, v in node.params.items()}


# choosing formats -----------------------------------------------------------------------------------
def choose_fixed(x, width: int, signed: bool = True, rounding: str = "rnd_conv", overflow: str = "sat",
                 headroom_bits: int = 0) -> Fixed:
    """The finest ``width``-bit format that holds every value of ``x`` after rounding (plus
    ``headroom_bits`` spare integer bits): a power-of-two scale chosen per tensor. All-zero ``x`` gets
    ``int_bits = 1``. Raises if ``signed=False`` and ``x`` has negative values."""
    x = np.asarray(x, dtype=np.float64)
    if not signed and x.size and x.min() < 0:
        raise SnncError("choose_fixed: negative values need a signed format")
    absmax = float(np.max(np.abs(x))) if x.size else 0.0
    if absmax == 0.0:
        return Fixed(width, 1 + headroom_bits, signed, rounding, overflow)
    int_bits = math.frexp(absmax)[1] + (1 if signed else 0)  # absmax < 2^e: e bits (+ sign)
    fmt = Fixed(width, int_bits - 1, signed, rounding, overflow)
    if not _fits(x, fmt):
        fmt = Fixed(width, int_bits, signed, rounding, overflow)
    if not _fits(x, fmt):
        fmt = Fixed(width, int_bits + 1, signed, rounding, overflow)
    return Fixed(width, fmt.int_bits + headroom_bits, signed, rounding, overflow)


def _fits(x: np.ndarray, fmt: Fixed) -> bool:
    q = round_half(_ldexp(x, fmt.frac_bits), fmt.rounding)
    return bool(np.all((q >= fmt.q_min) & (q <= fmt.q_max)))


def choose_exponent(x, bits: int = 8, signed: bool = True, rounding: str = "rnd_conv") -> tuple[np.ndarray, int]:
    """Power-of-two-exponent quantization (Loihi's weight mantissa and exponent): the smallest
    exponent ``e`` with every ``round(x / 2^e)`` a ``bits``-bit integer. Returns ``(mantissa, e)``
    with ``mantissa · 2^e`` the quantized ``x`` (mantissa as int64)."""
    fmt = choose_fixed(x, bits, signed, rounding, "sat")
    return fmt.to_int(x).astype(np.int64), -fmt.frac_bits


# calibration --------------------------------------------------------------------------------------
@dataclass
class Stats:
    """Summary of the values one tensor class took on a calibration set."""

    min: float
    max: float
    absmax: float
    count: int
    p999: float  # the 99.9th percentile of |x|

    @classmethod
    def of(cls, values: np.ndarray) -> "Stats":
        values = np.asarray(values, dtype=np.float64).ravel()
        if values.size == 0:
            return cls(0.0, 0.0, 0.0, 0, 0.0)
        a = np.abs(values)
        return cls(float(values.min()), float(values.max()), float(a.max()), int(values.size),
                   float(np.quantile(a, 0.999)))


@dataclass
class Calibration:
    """Values seen by running the float interpreter on a calibration set: ``values[node][class]``
    (classes ``"result"`` for every node, ``"v"`` (pre- and post-reset potentials) and ``"i"`` for
    neurons, ``"mem"`` for membrane readouts), each a float64 numpy array of all steps and samples."""

    values: dict[str, dict[str, np.ndarray]]

    def stats(self, node: str, tensor_class: str = "result") -> Stats:
        return Stats.of(self.values.get(node, {}).get(tensor_class, np.zeros(0)))

    def out_of_range(self, node: str, tensor_class: str, fmt: Fixed) -> tuple[int, int]:
        """``(values outside fmt's range, total values)`` for one node and class."""
        v = self.values.get(node, {}).get(tensor_class)
        if v is None:
            return 0, 0
        return fmt.out_of_range(v), int(v.size)


def calibrate(graph, data, numerics: str = "float32") -> Calibration:
    """Run ``graph`` on ``data`` (``[T, N, *input_shape]``, or a list of such batches) under the
    float interpreter and collect every node's outputs and every neuron's / readout's state."""
    from .interpreter import KERNELS, interpret
    from .numerics import Profile, get_profile

    base = get_profile(numerics)
    seen: dict[str, dict[str, list]] = {}

    def recording(op):
        kernel = base.kernels.get(op, KERNELS[op])

        def run(node, xs, state, ctx):
            out = kernel(node, xs, state, ctx)
            rec = seen.setdefault(node.name, {})
            for key, cls_ in (("h", "v"), ("v", "v"), ("i", "i"), ("b", "b"), ("mem", "mem")):
                if key in state and not (key == "i" and node.attrs.get("charge") != "cuba"):
                    rec.setdefault(cls_, []).append(state[key].detach().to(torch.float64).cpu().numpy().ravel())
            return out
        return run

    profile = Profile(f"{base.name}+calibration", base.dtype,
                      {**base.kernels, "Neuron": recording("Neuron"), "Readout": recording("Readout")})
    batches = data if isinstance(data, (list, tuple)) else [data]
    results: dict[str, list] = {}
    for batch in batches:
        _, trace = interpret(graph, batch, numerics=profile, record=True)
        for name, value in trace.values.items():
            results.setdefault(name, []).append(value.to(torch.float64).cpu().numpy().ravel())
    values: dict[str, dict[str, np.ndarray]] = {}
    for name, chunks in results.items():
        values[name] = {"result": np.concatenate(chunks)}
    for name, rec in seen.items():
        for cls_, chunks in rec.items():
            values.setdefault(name, {})[cls_] = np.concatenate(chunks)
    return Calibration(values)


__all__ = ["Fixed", "ROUNDING", "OVERFLOW", "TENSOR_CLASSES", "rounds_up", "round_half", "bring_into_range",
           "format_of", "set_format", "real_params", "choose_fixed", "choose_exponent", "Stats",
           "Calibration", "calibrate"]
