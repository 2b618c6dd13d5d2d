"""The ``hls`` numerics profile: signed fixed point ``<W, I>`` per tensor class and per layer, as the
C++ of ``targets/hls`` computes it (``targets/hls/FORMAT.md`` has the same rules from the C++ side).

**Formats** are :class:`snnc.ir.quantize.Fixed` (signed): ``W`` bits, ``I`` integer bits (sign
included), ``F = W - I`` fraction bits; the stored integer ``q`` means ``q · 2^-F``. Every node
records its formats in ``node.quant["formats"]`` under the shared tensor classes: ``weight``, ``bias``
(parameters of Linear/Conv2d; ``weight`` is also a Scale's factor and an AvgPool2d's reciprocal
``1/(kH·kW)``), ``accum`` (the exact sum of a Linear/Conv2d/pool, derived, never rounded), ``result``
(what the node outputs; a Neuron's is 0/1 spikes, a Readout's its decision), ``v``, ``i`` and ``b``
(neuron potential, ``cuba`` current, adaptive threshold's trace), ``threshold`` (also
``adapt_scale``), ``decay`` (``beta``, ``alpha``, ``k``, ``adapt_decay``), ``mem`` (membrane-mode
readout).

**Arithmetic.** Every equation of an op (``ops.py``) is evaluated *exactly* on the integer codes
(products have ``W1+W2`` bits and ``I1+I2`` integer bits, sums ``max(F)`` fraction and ``max(I)+1``
integer bits, as ``ap_fixed``) and rounded **once**, when the value is stored in its format:

- rounding (of ``y = value · 2^F``): ``trn`` floor, ``trn_zero`` toward 0, ``rnd`` floor(y + 1/2),
  ``rnd_zero`` / ``rnd_inf`` / ``rnd_min_inf`` / ``rnd_conv`` nearest with ties toward 0 / away from 0
  / toward −∞ / to even (the ``ap_fixed`` modes);
- overflow: ``wrap`` (keep the low W bits, two's complement), ``sat`` (clip to ``[-2^(W-1),
  2^(W-1)-1]``), ``sat_sym`` (clip to ``±(2^(W-1)-1)``).

A real input (the graph's input, or a parameter at quantization) is converted the same way from
float64: ``y = x · 2^F`` (exact), clipped to ``±2^62``, rounded, overflowed. Every intermediate type
must fit 63 bits and every stored format 53 bits (values travel between nodes as exact float64);
otherwise the kernel refuses the node.

Per op, what is stored (``:=`` is a rounding store into the named class's format):

- Linear / Conv2d: ``accum := bias + Σ w·x`` (exact: its format is sized from the fan-in), then
  ``result := accum``.
- SumPool2d: ``accum := Σ x``, ``result := accum``; AvgPool2d: ``result := accum · r`` with
  ``r = 1/(kH·kW)`` stored in the ``weight`` format; MaxPool2d: ``result := max x``.
- Add: ``result := x0 + x1 + …``; Scale: ``result := x · scale``; Flatten / Output: unchanged.
- Neuron (charge, fire, reset as in the op's docstring; ``v := …`` stores into ``v``'s format):
  ``if``: ``H := V + X``; ``lif``: quantization turns it into ``plif`` with ``k = 1/tau`` stored in
  the ``decay`` format; ``plif``: ``H := V + (X - (V - v_leak))·k`` (decay_input) or
  ``H := V - (V - v_leak)·k + X``; ``beta``: ``H := beta·V + X``; ``cuba``: ``I := I·alpha + X``
  (``i`` format), ``H := V·beta + I``. ``S = H >= th`` (or ``>``), exact. Reset: hard ``V = v_reset``
  (stored in ``v``'s format), subtract ``V := H - th``, none ``V = H``. Delayed / compensated timing:
  the docstring's expressions, each branch of ``S' ∈ {0, 1}`` stored once. ``v_reset``, ``v_leak``,
  ``v_init`` are in the ``v`` format, ``i_init`` in ``i``. An adaptive threshold is
  ``th = v_threshold + adapt_scale·B`` (exact), and after the reset ``B := B·adapt_decay + S``.
- Readout: counts are integers; membrane mode ``mem := beta·mem + x`` (``mem`` starts at 0, ``beta``
  in ``decay``; ``beta = 1`` when absent); ``binary_logit`` emits ``mem[1] - mem[0]`` exactly.

**Config** of :meth:`HlsProfile.quantize` (all keys optional)::

    {"default": "fixed<16,6,rnd,sat>",              # every class (or a dict width/int/rounding/overflow)
     "classes": {"v": "<24,10>", "decay": {"width": 18, "int": "auto"}, "input": "<8,4>"},
     "layers": {"fc1": {"weight": "<8,2,rnd,sat>", "reuse_factor": 4}},
     "reuse_factor": 1}

A format is a dict (``width``, ``int``, ``rounding``, ``overflow``) or a string ``<W,I>``,
``fixed<W,I,rnd,sat>`` or ``ap_fixed<W,I,AP_RND,AP_SAT>``; a missing field comes from the level
below: layer ← class ← default ← built-in class ← built-in default (a config ``default`` overrides
the built-in per-class formats). ``"int": "auto"`` picks the finest format that holds the
values (:func:`snnc.ir.quantize.choose_fixed`): the parameters' for ``weight``/``bias``/
``threshold``/``decay``, the calibration run's for ``result``/``v``/``i``/``b``/``mem``/``input`` (needs
``calibration``, a ``[T, N, ...]`` input or a list of them).
"""

from __future__ import annotations

import math
import re

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import GraphError, SnncError, UnsupportedError
from .. import readout
from ..neuron import OperatorArithmetic, initial_state, state_variables, step
from ..readout import TensorReadout
from ..quantize import Fixed, calibrate, choose_fixed
from . import Profile, register

#: the widest intermediate (exact) type; the C++ keeps codes in int64
MAX_EXACT_BITS = 63
ROUNDINGS = ("trn", "trn_zero", "rnd", "rnd_zero", "rnd_inf", "rnd_min_inf", "rnd_conv")
OVERFLOWS = ("wrap", "sat", "sat_sym")

#: formats of the spikes a Neuron emits and of a readout's integer decisions
SPIKE = Fixed(2, 2, True, "trn", "wrap")
DECISION = Fixed(32, 32, True, "trn", "wrap")

BUILTIN = {
    "default": {"width": 16, "int": 6, "rounding": "rnd", "overflow": "sat"},
    "classes": {
        "input": {"width": 16, "int": 6},
        "weight": {"width": 16, "int": "auto"},
        "bias": {"width": 16, "int": "auto"},
        "threshold": {"width": 16, "int": "auto"},
        "decay": {"width": 18, "int": "auto"},
        "result": {"width": 16, "int": 6},
        "v": {"width": 24, "int": 10},
        "mem": {"width": 24, "int": 10},
    },
}
CONFIG_CLASSES = ("input", "weight", "bias", "result", "v", "i", "b", "threshold", "decay", "mem")
_ALIASES = {"membrane": "v", "current": "i", "beta": "decay", "accumulator": "result"}


# --- integer code arithmetic (int64 tensors) ---------------------------------------------------------
def _floor_shift(v: torch.Tensor, s: int) -> torch.Tensor:
    return torch.div(v, 1 << s, rounding_mode="floor")


def round_shift(v: torch.Tensor, s: int, rounding: str) -> torch.Tensor:
    """``v · 2^-s`` rounded to an integer by ``rounding`` (``s >= 1``)."""
    q = _floor_shift(v, s)
    r = v - q * (1 << s)  # in [0, 2^s)
    half = 1 << (s - 1)
    if rounding == "trn":
        return q
    if rounding == "trn_zero":
        return q + ((v < 0) & (r != 0)).to(torch.int64)
    up = r > half
    tie = r == half
    if rounding == "rnd":
        up = up | tie
    elif rounding == "rnd_zero":
        up = up | (tie & (v < 0))
    elif rounding == "rnd_inf":
        up = up | (tie & (v >= 0))
    elif rounding == "rnd_conv":
        up = up | (tie & ((q & 1) == 1))
    elif rounding != "rnd_min_inf":
        raise SnncError(f"unknown rounding mode {rounding!r}")
    return q + up.to(torch.int64)


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
    f = torch.floor(y)
    frac = y - f  # exact, in [0, 1)
    q = f.to(torch.int64)
    r = fmt.rounding
    if r == "trn":
        pass
    elif r == "trn_zero":
        q = q + ((y < 0) & (frac != 0)).to(torch.int64)
    else:
        up, tie = frac > 0.5, frac == 0.5
        if r == "rnd":
            up = up | tie
        elif r == "rnd_zero":
            up = up | (tie & (y < 0))
        elif r == "rnd_inf":
            up = up | (tie & (y >= 0))
        elif r == "rnd_conv":
            up = up | (tie & ((q & 1) == 1))
        q = q + up.to(torch.int64)
    return overflow(q, fmt.width, fmt.overflow)


def to_float(codes: torch.Tensor, frac_bits: int) -> torch.Tensor:
    return codes.to(torch.float64) * math.ldexp(1.0, -frac_bits)


class FX:
    """An exact fixed-point value: int64 ``code`` tensor with ``width`` and ``int_bits``, combining by
    the ``ap_fixed`` result-type rules (the same as ``snnc_fixed.h``)."""

    __slots__ = ("code", "width", "int_bits")

    def __init__(self, code: torch.Tensor, width: int, int_bits: int):
        if width > MAX_EXACT_BITS:
            raise _WidthError(f"an intermediate value needs {width} bits (more than {MAX_EXACT_BITS}); "
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
            raise _WidthError(f"a sum needs {w} bits (more than {MAX_EXACT_BITS}); use narrower formats")
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


class _WidthError(SnncError):
    pass


# --- formats and config ---------------------------------------------------------------------------------
_FMT_RE = re.compile(r"^\s*(?:ap_fixed|fixed)?\s*<\s*(\d+)\s*,\s*(-?\d+|auto)\s*(?:,\s*([A-Za-z_]+)\s*)?"
                     r"(?:,\s*([A-Za-z_]+)\s*)?>\s*$")


def parse_format(spec) -> dict:
    """A format spec (dict or string) as a partial dict ``{width, int, rounding, overflow}``."""
    if isinstance(spec, Fixed):
        return spec.to_dict()
    if isinstance(spec, dict):
        out = {}
        for key, value in spec.items():
            key = {"W": "width", "I": "int", "w": "width", "i": "int"}.get(key, key)
            if key not in ("width", "int", "rounding", "overflow", "signed"):
                raise SnncError(f"hls config: unknown format field {key!r}; expected width, int, rounding, overflow")
            out[key] = value
        return out
    if isinstance(spec, str):
        m = _FMT_RE.match(spec)
        if not m:
            raise SnncError(f"hls config: cannot read format {spec!r}; expected e.g. '<16,6>' or "
                            "'fixed<16,6,rnd,sat>'")
        out = {"width": int(m.group(1)), "int": m.group(2) if m.group(2) == "auto" else int(m.group(2))}
        if m.group(3):
            out["rounding"] = m.group(3).lower().removeprefix("ap_")
        if m.group(4):
            out["overflow"] = m.group(4).lower().removeprefix("ap_")
        return out
    raise SnncError(f"hls config: a format must be a dict or a string, got {spec!r}")


class Config:
    """A resolved view of the ``quantize`` config (see the module docstring)."""

    def __init__(self, config: dict | None):
        config = dict(config or {})
        unknown = set(config) - {"default", "classes", "layers", "reuse_factor"}
        if unknown:
            raise SnncError(f"hls config: unknown key(s) {sorted(unknown)}; expected default, classes, "
                            "layers, reuse_factor")
        self.builtin = {k: parse_format(v) for k, v in BUILTIN["classes"].items()}
        self.default = parse_format(config.get("default", {}))
        self.classes = {}
        for key, spec in (config.get("classes") or {}).items():
            key = _ALIASES.get(key, key)
            if key not in CONFIG_CLASSES:
                raise SnncError(f"hls config: unknown tensor class {key!r}; expected one of {CONFIG_CLASSES}")
            self.classes[key] = {**self.classes.get(key, {}), **parse_format(spec)}
        self.layers = {}
        for name, spec in (config.get("layers") or {}).items():
            if not isinstance(spec, dict):
                raise SnncError(f"hls config: layers[{name!r}] must be a dict of tensor class -> format")
            for key in spec:
                if _ALIASES.get(key, key) not in CONFIG_CLASSES + ("reuse_factor",):
                    raise SnncError(f"hls config: layers[{name!r}] has unknown key {key!r}; expected "
                                    f"reuse_factor or a tensor class of {CONFIG_CLASSES}")
            self.layers[name] = {(_ALIASES.get(k, k)): (v if k == "reuse_factor" else parse_format(v))
                                 for k, v in spec.items()}
        self.reuse_factor = int(config.get("reuse_factor", 1))

    def spec(self, node: str, cls: str) -> dict:
        """The format spec of ``cls`` at ``node``: built-in default < built-in class < config default <
        config class < config layer (the current ``i`` and the adaptation ``b`` inherit the potential
        ``v``'s at each level)."""
        chain = ("v", cls) if cls in ("i", "b") else (cls,)
        out = dict(BUILTIN["default"])
        for c in chain:
            out.update(self.builtin.get(c, {}))
        out.update(self.default)
        for c in chain:
            out.update(self.classes.get(c, {}))
        for c in chain:
            out.update(self.layers.get(node, {}).get(c, {}))
        return out

    def reuse(self, node: str) -> int:
        rf = int(self.layers.get(node, {}).get("reuse_factor", self.reuse_factor))
        if rf < 1:
            raise SnncError(f"hls config: reuse_factor of '{node}' must be >= 1, got {rf}")
        return rf

    def check_layers(self, graph) -> None:
        for name in self.layers:
            if name not in graph:
                raise SnncError(f"hls config: layers names '{name}', which is not a node of the graph")


def make_format(node: str, cls: str, spec: dict, values=None) -> Fixed:
    """The :class:`Fixed` of ``spec``; ``int: "auto"`` chooses from ``values``."""
    rounding, ovf = spec.get("rounding", "rnd"), spec.get("overflow", "sat")
    if rounding not in ROUNDINGS or ovf not in OVERFLOWS:
        raise SnncError(f"hls: node '{node}' class '{cls}': rounding must be one of {ROUNDINGS} and "
                        f"overflow one of {OVERFLOWS}, got {rounding!r}/{ovf!r}")
    if not spec.get("signed", True):
        raise UnsupportedError(node, f"class '{cls}': only signed fixed-point formats are supported", target="hls")
    width = spec.get("width")
    if not isinstance(width, int) or not 2 <= width <= 53:
        raise SnncError(f"hls: node '{node}' class '{cls}': width must be an int in [2, 53], got {width!r}")
    if spec.get("int") == "auto":
        if values is None:
            raise SnncError(f"hls: node '{node}' class '{cls}': int 'auto' needs calibration data "
                            "(quantize(graph, calibration=x))")
        return choose_fixed(values, width, True, rounding, ovf)
    if not isinstance(spec.get("int"), int):
        raise SnncError(f"hls: node '{node}' class '{cls}': int must be an int or 'auto', got {spec.get('int')!r}")
    return Fixed(width, spec["int"], True, rounding, ovf)


def formats(node) -> dict[str, Fixed]:
    return {k: Fixed.from_dict(v) for k, v in (node.quant.get("formats") or {}).items()}


def accum_format(node_name: str, x: Fixed, w: Fixed | None, b: Fixed | None, terms: int) -> Fixed:
    """The exact accumulator of ``b + Σ_terms w·x`` (or ``Σ x`` when ``w`` is None): fraction bits of the
    finest term, integer bits for ``terms + 1`` terms of the largest magnitude."""
    if w is None:
        frac, top = x.frac_bits, x.int_bits
    else:
        frac, top = x.frac_bits + w.frac_bits, x.int_bits + w.int_bits - 1
    if b is not None:
        frac, top = max(frac, b.frac_bits), max(top, b.int_bits)
    int_bits = top + math.ceil(math.log2(terms + 1))
    width = int_bits + frac
    if width > 53:
        raise UnsupportedError(node_name, f"the accumulator needs {width} bits (more than 53) for a "
                                          f"fan-in of {terms}; use narrower formats", target="hls")
    return Fixed(width, int_bits, True, "trn", "wrap")


def _set(node, cls: str, fmt: Fixed) -> None:
    node.quant.setdefault("formats", {})[cls] = fmt.to_dict()


def _on_grid(values, fmt: Fixed) -> np.ndarray:
    return to_float(from_float(torch.as_tensor(np.asarray(values, dtype=np.float64)), fmt), fmt.frac_bits).numpy()


# --- quantization --------------------------------------------------------------------------------------
PARAM_CLASS = {"weight": "weight", "bias": "bias", "scale": "weight", "v_threshold": "threshold",
               "v_reset": "v", "v_leak": "v", "v_init": "v", "i_init": "i", "k": "decay", "beta": "decay",
               "alpha": "decay", "adapt_decay": "decay", "adapt_scale": "threshold"}
SUPPORTED = ("Input", "Output", "Linear", "Conv2d", "AvgPool2d", "SumPool2d", "MaxPool2d", "Flatten",
             "Add", "Scale", "Neuron", "Readout")


def quantize(graph, calibration=None, config: dict | None = None):
    """Turn a float graph into the ``hls`` representation; returns ``(graph, report)``.

    Parameters are replaced by float64 arrays of values exactly on their formats' grids (``lif`` becomes
    ``plif`` with ``k = 1/tau`` quantized); every node gets ``quant["formats"]`` (and ``reuse_factor``
    for Linear/Conv2d, ``recip`` for AvgPool2d). The report lists per node and parameter the maximum
    absolute rounding error and how many values the overflow mode changed."""
    cfg = Config(config)
    graph = graph.copy().verify()
    cfg.check_layers(graph)
    for node in graph.nodes:
        if node.op not in SUPPORTED:
            raise UnsupportedError(node.name, f"op {node.op} is not supported by the hls profile "
                                              f"(supported: {', '.join(SUPPORTED)}); fold BatchNorm first",
                                   target="hls")
    needs_cal = any(cfg.spec(n.name, c).get("int") == "auto" for n in graph.nodes
                    for c in ("result", "v", "i", "b", "mem", "input"))
    cal = calibrate(graph, calibration, numerics="float64") if calibration is not None and needs_cal else None

    def observed(node, cls):
        if cal is None:
            return None
        return cal.values.get(node.name, {}).get(cls, np.zeros(1))

    report: dict[str, dict] = {}
    out_fmt: dict[str, Fixed] = {}
    for node in graph.nodes:
        in_fmts = [out_fmt[s] for s in node.inputs]
        node.quant = {"inputs": [f.to_dict() for f in in_fmts]}
        rep = report.setdefault(node.name, {})
        op = node.op

        def param(key, cls=None, fmt=None):
            cls = cls or PARAM_CLASS[key]
            value = np.asarray(node.params[key], dtype=np.float64)
            if fmt is None:
                fmt = make_format(node.name, cls, cfg.spec(node.name, cls), value)
                _set(node, cls, fmt)
            q = _on_grid(value, fmt)
            node.params[key] = q
            rep[key] = {"format": str(fmt), "max_abs_error": float(np.max(np.abs(q - value))) if value.size else 0.0,
                        "out_of_range": fmt.out_of_range(value)}
            return fmt

        def result(cls="result"):
            fmt = make_format(node.name, cls, cfg.spec(node.name, cls), observed(node, "result"))
            _set(node, "result", fmt)
            return fmt

        if op == "Input":
            spec = cfg.spec(node.name, "input")
            fmt = make_format(node.name, "input", spec, None if cal is None else cal.values[node.name]["result"])
            _set(node, "result", fmt)
        elif op in ("Output", "Flatten"):
            _set(node, "result", in_fmts[0])
        elif op in ("Linear", "Conv2d"):
            wf = param("weight")
            bf = param("bias") if "bias" in node.params else None
            w = node.params["weight"]
            terms = w.shape[1] if op == "Linear" else int(np.prod(w.shape[1:]))
            _set(node, "accum", accum_format(node.name, in_fmts[0], wf, bf, terms))
            result()
            node.quant["reuse_factor"] = cfg.reuse(node.name)
        elif op in ("AvgPool2d", "SumPool2d"):
            from ..ops import Pool2d
            k, _, _ = Pool2d.geometry(node)
            _set(node, "accum", accum_format(node.name, in_fmts[0], None, None, k[0] * k[1]))
            if op == "AvgPool2d":
                recip = 1.0 / (k[0] * k[1])
                spec = cfg.spec(node.name, "weight")
                rf = make_format(node.name, "weight", spec, np.array([recip]))
                _set(node, "weight", rf)
                node.quant["recip"] = float(_on_grid(np.array([recip]), rf)[0])
                rep["recip"] = {"format": str(rf), "max_abs_error": abs(node.quant["recip"] - recip)}
            result()
        elif op in ("MaxPool2d", "Add"):
            result()
        elif op == "Scale":
            param("scale")
            result()
        elif op == "Neuron":
            _quantize_neuron(node, cfg, param, observed)
            _set(node, "result", SPIKE)
        elif op == "Readout":
            if node.attrs["output_mode"] == "membrane":
                if "beta" not in node.params:
                    node.params["beta"] = np.array(1.0)
                param("beta")
                mf = make_format(node.name, "mem", cfg.spec(node.name, "mem"), observed(node, "mem"))
                _set(node, "mem", mf)
                if node.attrs["rule"] == "binary_logit":
                    _set(node, "result", Fixed(mf.width + 1, mf.int_bits + 1, True, "trn", "wrap"))
                else:
                    _set(node, "result", DECISION)
            else:
                node.params.pop("beta", None)
                _set(node, "result", DECISION)
        out_fmt[node.name] = Fixed.from_dict(node.quant["formats"]["result"])
        if out_fmt[node.name].width > 53:
            raise UnsupportedError(node.name, "the output format needs more than 53 bits", target="hls")
        if not rep:
            report.pop(node.name)
    graph.metadata["numerics"] = "hls"
    graph.verify()
    return graph, report


def _quantize_neuron(node, cfg: Config, param, observed) -> None:
    a = node.attrs
    if a["charge"] == "lif":  # k = 1/tau in the decay format: the plif charge
        tau = np.asarray(node.params.pop("tau"), dtype=np.float64)
        node.params["k"] = 1.0 / tau
        node.attrs["charge"] = "plif"
        node.quant["charge_from"] = "lif"
    vf = make_format(node.name, "v", cfg.spec(node.name, "v"), observed(node, "v"))
    _set(node, "v", vf)
    for cls in state_variables(a)[1:]:  # i (cuba), b (adaptive threshold)
        _set(node, cls, make_format(node.name, cls, cfg.spec(node.name, cls), observed(node, cls)))
    threshold_keys = [k for k in ("v_threshold", "adapt_scale") if k in node.params]
    values = np.concatenate([np.asarray(node.params[k], dtype=np.float64).ravel() for k in threshold_keys])
    tf = make_format(node.name, "threshold", cfg.spec(node.name, "threshold"), values)
    _set(node, "threshold", tf)  # one threshold format for the threshold and the adaptation's scale
    for key in threshold_keys:
        param(key, fmt=tf)
    decay_keys = [k for k in ("k", "beta", "alpha", "adapt_decay") if k in node.params]
    if decay_keys:  # one decay format for the node, chosen over all its decay parameters
        values = np.concatenate([np.asarray(node.params[k], dtype=np.float64).ravel() for k in decay_keys])
        df = make_format(node.name, "decay", cfg.spec(node.name, "decay"), values)
        _set(node, "decay", df)
        for key in decay_keys:
            param(key, fmt=df)
    for key in ("v_reset", "v_leak", "v_init"):
        if key in node.params:
            param(key, fmt=vf)
    if "i_init" in node.params:
        param("i_init", fmt=Fixed.from_dict(node.quant["formats"]["i"]))


# --- kernels -----------------------------------------------------------------------------------------
def _named(fn):
    def kernel(node, xs, state, ctx):
        try:
            return fn(node, xs, state, ctx)
        except _WidthError as e:
            raise UnsupportedError(node.name, str(e), target="hls") from None
    kernel.__name__ = fn.__name__
    return kernel


def _consts(node, ctx) -> dict:
    """The node's parameters as FX constants in their formats (once per run)."""
    def make():
        fm = formats(node)
        return {key: FX.of(torch.as_tensor(np.asarray(value, dtype=np.float64)).to(ctx.device),
                           fm.get(PARAM_CLASS[key]) or fm["v"]) for key, value in node.params.items()}
    return ctx.cached(("hls", node.name), make)


def _input_formats(node, ctx) -> list[Fixed]:
    return [Fixed.from_dict(d) for d in node.quant["inputs"]]


def _read(x: torch.Tensor, fmt: Fixed) -> FX:
    return FX(from_float(x, fmt), fmt.width, fmt.int_bits)


def _result(node) -> Fixed:
    return Fixed.from_dict(node.quant["formats"]["result"])


def _exact_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Integer codes ``a @ b`` through float64 BLAS: exact, because every product and partial sum is an
    integer the accumulator format (at most 53 bits) holds."""
    return (a.to(torch.float64) @ b.to(torch.float64)).to(torch.int64)


def _accumulate(x: FX, w: FX, b: FX | None, acc: Fixed, products: torch.Tensor, bias_shape=(-1,)) -> FX:
    """``acc := b + Σ w·x`` from the exact sums of products ``products`` (codes with ``Fx + Fw``
    fraction bits): aligned to the accumulator's grid, the bias added; checks that the C++
    ``acc += w * x`` (and ``acc = b``) types fit."""
    zero = torch.zeros((), dtype=torch.int64)
    prod_t, acc_t = FX(zero, x.width + w.width, x.int_bits + w.int_bits), FX(zero, acc.width, acc.int_bits)
    acc_t._aligned(prod_t)
    code = products * (1 << (acc.frac_bits - prod_t.frac))
    if b is not None:
        acc_t._aligned(b)
        code = code + b.code.reshape(bias_shape) * (1 << (acc.frac_bits - b.frac))
    return FX(code, acc.width, acc.int_bits)


@_named
def _linear(node, xs, state, ctx):
    (fin,) = _input_formats(node, ctx)
    fm, p = formats(node), _consts(node, ctx)
    x = _read(xs[0], fin)
    products = _exact_matmul(x.code, p["weight"].code.T)
    return _accumulate(x, p["weight"], p.get("bias"), fm["accum"], products).cast(fm["result"]).value()


@_named
def _conv2d(node, xs, state, ctx):
    (fin,) = _input_formats(node, ctx)
    fm, p = formats(node), _consts(node, ctx)
    a = node.attrs
    x = _read(xs[0], fin)
    w = p["weight"]
    n, c, h, wd = x.code.shape
    o, cg, kh, kw = w.code.shape
    g = a["groups"]
    from ..ops import pair
    stride, pad, dil = (pair(node.name, k, a[k]) for k in ("stride", "padding", "dilation"))
    oh, ow = node.shape[1], node.shape[2]
    # im2col on the codes as float64 (exact: codes fit 53 bits)
    cols = F.unfold(x.code.to(torch.float64), (kh, kw), dilation=dil, padding=pad, stride=stride)
    cols = cols.reshape(n, g, cg * kh * kw, oh * ow)
    wm = w.code.reshape(g, o // g, cg * kh * kw).to(torch.float64)
    # exact in float64: every partial sum is an integer inside the accumulator (<= 53 bits)
    total = torch.einsum("ngkl,gok->ngol", cols, wm).to(torch.int64).reshape(n, o, oh, ow)
    acc = _accumulate(x, w, p.get("bias"), fm["accum"], total, (o, 1, 1))
    return acc.cast(fm["result"]).value()


def _pool_geometry(node):
    from ..ops import Pool2d
    return Pool2d.geometry(node)


@_named
def _sumpool(node, xs, state, ctx):
    (fin,) = _input_formats(node, ctx)
    fm = formats(node)
    k, s, p = _pool_geometry(node)
    x = _read(xs[0], fin)
    summed = F.avg_pool2d(x.code.to(torch.float64), k, s, p, count_include_pad=True, divisor_override=1)
    accf = fm["accum"]
    acc = FX(summed.to(torch.int64), accf.width, accf.int_bits)
    FX(torch.zeros((), dtype=torch.int64), accf.width, accf.int_bits)._aligned(x)  # acc += x
    if node.op == "AvgPool2d":
        rf = fm["weight"]
        recip = FX.of(torch.tensor(node.quant["recip"], dtype=torch.float64), rf)
        return (acc * recip).cast(fm["result"]).value()
    return acc.cast(fm["result"]).value()


@_named
def _maxpool(node, xs, state, ctx):
    (fin,) = _input_formats(node, ctx)
    k, s, p = _pool_geometry(node)
    x = _read(xs[0], fin)
    m = F.max_pool2d(x.code.to(torch.float64), k, s, p).to(torch.int64)
    return FX(m, x.width, x.int_bits).cast(_result(node)).value()


@_named
def _add(node, xs, state, ctx):
    fins = _input_formats(node, ctx)
    total = _read(xs[0], fins[0])
    for x, f in zip(xs[1:], fins[1:]):
        total = total + _read(x, f)
    return total.cast(_result(node)).value()


@_named
def _scale(node, xs, state, ctx):
    (fin,) = _input_formats(node, ctx)
    x = _read(xs[0], fin)
    return (x * _consts(node, ctx)["scale"]).cast(_result(node)).value()


@_named
def _identity(node, xs, state, ctx):
    return xs[0]


@_named
def _flatten(node, xs, state, ctx):
    return xs[0].reshape(xs[0].shape[0], -1)


def _zero(fmt: Fixed, like: torch.Tensor) -> FX:
    return FX(torch.zeros(like.shape, dtype=torch.int64, device=like.device), fmt.width, fmt.int_bits)


def _full(c: FX, like: torch.Tensor) -> FX:
    return FX(torch.broadcast_to(c.code, like.shape).clone(), c.width, c.int_bits)


class FixedArithmetic(OperatorArithmetic):
    """:func:`snnc.ir.neuron.step` in exact fixed point: :class:`FX` values combine by the ``ap_fixed``
    rules (no division: ``lif`` becomes ``plif`` at quantization); :meth:`store` rounds and overflows into the node's ``v``/``i`` format; a spike is the
    ``<2, 2>`` number 0 or 1."""

    def __init__(self, node, params: dict[str, FX], like: torch.Tensor):
        super().__init__(params)
        self.fm, self.like = formats(node), like

    def compare(self, op, a, b):
        return a.ge(b) if op == "ge" else a.gt(b)

    def select(self, cond, a, b):
        return FX.where(cond, a, b)

    def spike(self, cond):
        return FX(cond.to(torch.int64), 2, 2)

    def output(self, cond):
        return cond.to(torch.float64)

    def store(self, value, tensor_class):
        return value.cast(self.fm[tensor_class])

    def zero(self, tensor_class):
        return _zero(self.fm[tensor_class], self.like)

    def initial(self, key, var):
        if var == "s":
            return torch.zeros(self.like.shape, dtype=torch.bool, device=self.like.device)
        if key is None:
            return self.zero(var)
        return _full(self.params[key].cast(self.fm[var]), self.like)


@_named
def _neuron(node, xs, state, ctx):
    (fin,) = _input_formats(node, ctx)
    charge = node.attrs["charge"]
    if charge not in ("if", "plif", "beta", "cuba"):
        raise UnsupportedError(node.name, f"charge '{charge}' is not supported by the hls profile", target="hls")
    x = _read(xs[0], fin)
    ar = FixedArithmetic(node, _consts(node, ctx), x.code)
    if "v" not in state:
        state.update(initial_state(ar, node.attrs))
    return step(ar, node.attrs, x, state)


class FixedReadout(TensorReadout):
    """:func:`snnc.ir.readout.step` with the membrane in exact fixed point (``mem := beta·mem + x``
    stored into the node's ``mem`` format); counts, classes and decisions as float64 tensors."""

    def __init__(self, node, beta: FX | None):
        super().__init__(beta, torch.float64)
        self.mem_format = formats(node).get("mem")

    def initial_state(self, x, output_mode):
        if output_mode == "membrane":
            return {"mem": _zero(self.mem_format, x.code)}
        return super().initial_state(x, output_mode)

    def accumulate(self, mem, x):
        return super().accumulate(mem, x).cast(self.mem_format)

    def argmax(self, values):
        return super().argmax(values.code if isinstance(values, FX) else values)

    def difference(self, values):
        if isinstance(values, FX):
            return (FX(values.code[:, 1], values.width, values.int_bits) -
                    FX(values.code[:, 0], values.width, values.int_bits)).value()
        return super().difference(values)


@_named
def _readout(node, xs, state, ctx):
    (fin,) = _input_formats(node, ctx)
    x = _read(xs[0], fin) if node.attrs["output_mode"] == "membrane" else xs[0].to(torch.float64)
    ar = FixedReadout(node, _consts(node, ctx).get("beta"))
    if not state:
        state.update(ar.initial_state(x, node.attrs["output_mode"]))
    return readout.step(ar, node.attrs, x, state)


def _refuse(node, xs, state, ctx):
    raise UnsupportedError(node.name, f"op {node.op} is not supported by the hls profile; fold it first",
                           target="hls")


KERNELS = {
    "Output": _identity, "Flatten": _flatten, "Linear": _linear, "Conv2d": _conv2d,
    "AvgPool2d": _sumpool, "SumPool2d": _sumpool, "MaxPool2d": _maxpool, "Add": _add, "Scale": _scale,
    "Neuron": _neuron, "Readout": _readout, "BatchNorm": _refuse,
}


class HlsProfile(Profile):
    def prepare(self, graph):
        if graph.metadata.get("numerics") != "hls":
            raise SnncError("the graph is not quantized for the hls profile (metadata numerics = "
                            f"{graph.metadata.get('numerics')!r}); run get_profile('hls').quantize(graph) first")
        for node in graph.nodes:
            if "result" not in (node.quant.get("formats") or {}):
                raise GraphError(node.name, "has no hls formats (quant['formats']); re-run the hls quantization")
        return graph

    def quantize(self, graph, calibration=None, config=None):
        return quantize(graph, calibration, config)


PROFILE = register(HlsProfile("hls", torch.float64, KERNELS,
                              "signed fixed point <W,I> per tensor class and layer (targets/hls)"))

__all__ = ["PROFILE", "HlsProfile", "FX", "Config", "quantize", "from_float", "convert", "round_shift",
           "overflow", "to_float", "parse_format", "accum_format", "formats", "SPIKE", "DECISION"]
