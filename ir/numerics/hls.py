"""The ``hls`` numerics profile: signed fixed point ``<W, I>`` per tensor class and per layer, as the
C++ of ``targets/hls`` computes it (``targets/hls/FORMAT.md`` has the same rules from the C++ side).
This module holds the kernels and the profile; the code arithmetic is ``hls_arithmetic``, the formats
and config ``hls_config``, the quantization ``hls_quantization``.

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
- Add: ``result := x0 + x1 + …``; Mul: ``result := a · b``, a complemented factor ``1 − x`` exact
  (the constant 1 in the spike format ``fixed<2, 2>``, the ``ap_fixed`` sum type); Scale: ``result := x · scale``; Flatten / Output: unchanged.
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

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import GraphError, SnncError, UnsupportedError
from .. import readout
from ..neuron import OperatorArithmetic, initial_state, step
from ..readout import TensorReadout
from ..quantize import Fixed
from . import NumberFormat, Profile, register
from .hls_arithmetic import FX, WidthError, convert, from_float, overflow, round_shift, to_float
from .hls_config import DECISION, SPIKE, Config, accum_format, formats, parse_format
from .hls_quantization import PARAM_CLASS, SUPPORTED, quantize


# --- kernels -----------------------------------------------------------------------------------------
def _named(fn):
    def kernel(node, xs, state, ctx):
        try:
            return fn(node, xs, state, ctx)
        except WidthError as e:
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
def _mul(node, xs, state, ctx):
    one = FX.of(torch.ones((), dtype=torch.float64), SPIKE)
    a, b = (one - _read(x, f) if flag else _read(x, f)
            for x, f, flag in zip(xs, _input_formats(node, ctx), node.attrs["complement"]))
    return (a * b).cast(_result(node)).value()


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

    def state_output(self, value, tensor_class):
        return value.value()

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
    "AvgPool2d": _sumpool, "SumPool2d": _sumpool, "MaxPool2d": _maxpool, "Add": _add, "Mul": _mul, "Scale": _scale,
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

    def param_format(self, node, key: str) -> NumberFormat:
        return self._format(node, PARAM_CLASS[key])

    def state_format(self, node, var: str) -> NumberFormat:
        return self._format(node, var)

    def saturating_format(self, node) -> NumberFormat | None:
        """The ``result`` format, unless it wraps (a wrapped value looks like any other)."""
        if Fixed.from_dict(node.quant["formats"]["result"]).overflow == "wrap":
            return None
        return self._format(node, "result")

    def state_real(self, value) -> torch.Tensor | None:
        if isinstance(value, FX):
            return to_float(value.code, value.frac)
        return super().state_real(value)

    @staticmethod
    def _format(node, cls: str) -> NumberFormat:
        fmt = Fixed.from_dict(node.quant["formats"][cls])
        return NumberFormat(str(fmt), fmt.min, fmt.max, fmt.width)


PROFILE = register(HlsProfile("hls", torch.float64, KERNELS,
                              "signed fixed point <W,I> per tensor class and layer (targets/hls)"))

__all__ = ["PROFILE", "SUPPORTED", "PARAM_CLASS", "HlsProfile", "FX", "Config", "quantize", "from_float", "convert",
           "round_shift", "overflow", "to_float", "parse_format", "accum_format", "formats", "SPIKE", "DECISION",
           "FixedArithmetic", "FixedReadout"]
