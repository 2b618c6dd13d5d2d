"""The ``lynxi`` numerics profile: a 16-bit accelerator (SpikingJelly deploys to the Lynxi KA200 at
16-bit precision: Fang et al., SpikingJelly, Science Advances 2023, "Exchange Modules").

Every stored value is IEEE binary16 (``float16``): weights, biases, neuron parameters, activations
and neuron state. Arithmetic, defined exactly so that the interpreter and the simulator in
``targets/lynxi`` agree bit for bit (both call the functions below):

- **Input**: the ``[T, N, ...]`` input is rounded to float16 (round to nearest, ties to even).
- **Linear, Conv2d** (the synapse units): every product of two float16 values is exact; the products
  and the bias are summed in a wide accumulator (modelled with float64, which holds the sum exactly
  whenever the summands span at most 53 bits, always the case for 0/1 spike inputs with a fan-in up
  to 8192), then the accumulator is rounded to float32 and stored as float16 (two roundings, both
  round-to-nearest-even).
- **AvgPool2d / SumPool2d**: the window sum is taken in the same accumulator, divided by ``kH·kW``
  (average) in float64, rounded to float32 then to float16. **MaxPool2d** is exact.
- **Add, Mul, Scale** and every neuron/readout update: binary16 arithmetic, one rounding per operation
  (``a + b``, ``a * b``, ``a / b`` are correctly rounded float16), the neuron in the order of
  :mod:`snnc.ir.neuron` (every backend's one program). Overflow gives ``±inf`` (no saturation).
  Hard resets are selects (``V = v_reset where S else H``; ``0 where R else M``), so an overflowed
  potential still resets instead of turning into NaN.
- **Readout**: spike counts and the ``first`` class are int32; membrane ``mem = beta·mem + x`` is
  float16 (``mem`` starts at 0); decisions are emitted as float16 (exact for class indices and count
  differences up to 2048).

:func:`quantize` rounds every float parameter to float16 (refusing values beyond ±65504) and reports
the rounding error per layer.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import GraphError
from .. import readout
from ..ops import complemented
from ..neuron import TensorArithmetic, initial_state, step
from ..readout import TensorReadout
from . import Profile, register

F16 = torch.float16
F16_MAX = 65504.0


# --- the arithmetic (shared by the interpreter kernels and targets/lynxi/simulate.py) -------------
def f16(value) -> torch.Tensor:
    """A parameter as a float16 tensor (a Python float becomes a 0-d tensor, so that ``x * p`` is a
    float16 operation and not one with a float32 scalar)."""
    return torch.as_tensor(value).to(F16) if isinstance(value, torch.Tensor) else torch.tensor(value, dtype=F16)


def _store(acc: torch.Tensor) -> torch.Tensor:
    """Wide accumulator → float32 register → float16 (both round-to-nearest-even)."""
    return acc.to(torch.float32).to(F16)


def _wide(t):
    return None if t is None else t.to(torch.float64)


def dense(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``y = x · Wᵀ + b`` with exact products, wide accumulation, one store to float16."""
    return _store(F.linear(_wide(x), _wide(weight), _wide(bias)))


def conv2d(x, weight, bias, stride, padding, dilation, groups) -> torch.Tensor:
    return _store(F.conv2d(_wide(x), _wide(weight), _wide(bias), stride, padding, dilation, groups))


def avgpool2d(x, kernel, stride, padding) -> torch.Tensor:
    return _store(F.avg_pool2d(_wide(x), kernel, stride, padding, count_include_pad=True))


def sumpool2d(x, kernel, stride, padding) -> torch.Tensor:
    return _store(F.avg_pool2d(_wide(x), kernel, stride, padding, count_include_pad=True, divisor_override=1))


def maxpool2d(x, kernel, stride, padding) -> torch.Tensor:
    return F.max_pool2d(x, kernel, stride, padding)


def add(xs: list[torch.Tensor]) -> torch.Tensor:
    out = xs[0]
    for x in xs[1:]:
        out = out + x
    return out


def mul(xs: list[torch.Tensor], complement) -> torch.Tensor:
    """``a · b`` with ``1 − x`` for a complemented factor: each operation one binary16 rounding."""
    a, b = complemented(xs, complement)
    return a * b


def scale(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return x * factor


def neuron_step(attrs: dict, p: dict, x: torch.Tensor, state: dict) -> torch.Tensor:
    """One float16 step of the ``Neuron`` op (:func:`snnc.ir.neuron.step`: one float16 rounding per
    operation, in the written order); ``p`` holds float16 tensors; updates ``state``."""
    ar = TensorArithmetic(p, x)
    if not state:
        state.update(initial_state(ar, attrs))
    return step(ar, attrs, x, state)


def readout_step(attrs: dict, beta: torch.Tensor | None, x: torch.Tensor, state: dict) -> torch.Tensor:
    """One step of the ``Readout`` op (:func:`snnc.ir.readout.step`): counts and classes int32, the
    membrane and the decision float16; updates ``state``."""
    ar = TensorReadout(beta, F16, torch.int32)
    if not state:
        state.update(ar.initial_state(x, attrs["output_mode"]))
    return readout.step(ar, attrs, x, state)


# --- interpreter kernels --------------------------------------------------------------------------
def _p16(node, ctx) -> dict:
    return ctx.cached(("lynxi", node.name), lambda: {k: f16(v) for k, v in ctx.params(node).items()})


def _geometry(node):
    from ..ops import Pool2d
    return Pool2d.geometry(node)


def _k_linear(node, xs, state, ctx):
    p = _p16(node, ctx)
    return dense(xs[0], p["weight"], p.get("bias"))


def _k_conv2d(node, xs, state, ctx):
    p, a = _p16(node, ctx), node.attrs
    return conv2d(xs[0], p["weight"], p.get("bias"), a["stride"], a["padding"], a["dilation"], a["groups"])


def _k_avgpool(node, xs, state, ctx):
    return avgpool2d(xs[0], *_geometry(node))


def _k_sumpool(node, xs, state, ctx):
    return sumpool2d(xs[0], *_geometry(node))


def _k_maxpool(node, xs, state, ctx):
    return maxpool2d(xs[0], *_geometry(node))


def _k_add(node, xs, state, ctx):
    return add(xs)


def _k_mul(node, xs, state, ctx):
    return mul(xs, node.attrs["complement"])


def _k_scale(node, xs, state, ctx):
    return scale(xs[0], _p16(node, ctx)["scale"])


def _k_batchnorm(node, xs, state, ctx):
    raise GraphError(node.name, "BatchNorm has no lynxi kernel; fold it into the previous layer first")


def _k_neuron(node, xs, state, ctx):
    return neuron_step(node.attrs, _p16(node, ctx), xs[0], state)


def _k_readout(node, xs, state, ctx):
    return readout_step(node.attrs, _p16(node, ctx).get("beta"), xs[0], state)


KERNELS = {"Linear": _k_linear, "Conv2d": _k_conv2d, "AvgPool2d": _k_avgpool, "SumPool2d": _k_sumpool,
           "MaxPool2d": _k_maxpool, "Add": _k_add, "Mul": _k_mul, "Scale": _k_scale, "BatchNorm": _k_batchnorm,
           "Neuron": _k_neuron, "Readout": _k_readout}


# --- quantization ---------------------------------------------------------------------------------
def to_float16(node_name: str, key: str, value: np.ndarray) -> np.ndarray:
    """Round a float parameter to float16; values beyond the float16 range are refused."""
    value = np.asarray(value)
    if value.dtype.kind != "f":
        return value
    too_big = np.abs(value.astype(np.float64)) > F16_MAX
    if np.any(too_big):
        worst = float(np.max(np.abs(value)))
        raise GraphError(node_name, f"parameter '{key}' has |value| up to {worst:g}, beyond the float16 "
                                    f"range ±{F16_MAX:g} of the lynxi profile")
    return value.astype(np.float16)


class LynxiProfile(Profile):
    def prepare(self, graph):
        """A graph not yet quantized for lynxi is quantized on the fly (the same rounding)."""
        if graph.metadata.get("numerics") != self.name:
            graph, _ = self.quantize(graph)
        return graph

    def quantize(self, graph, calibration=None, config=None):
        """Round every float parameter to float16; record the format in ``node.quant``. The report is
        ``{"layers": {node: {"params": {param: {"max_abs_error", "max_rel_error", "rms_error",
        "subnormals"}}, "max_weight_error": ...}}}`` (the last for Linear/Conv2d)."""
        graph = graph.copy()
        report: dict = {"layers": {}}
        for node in graph.nodes:
            if not node.params:
                continue
            layer = {}
            for key, value in list(node.params.items()):
                q = to_float16(node.name, key, value)
                if q.dtype == np.float16:
                    ref = np.asarray(value, np.float64)
                    err = np.abs(q.astype(np.float64) - ref)
                    nz = np.abs(ref) > 0
                    layer[key] = {
                        "max_abs_error": float(err.max()) if err.size else 0.0,
                        "max_rel_error": float((err[nz] / np.abs(ref[nz])).max()) if np.any(nz) else 0.0,
                        "rms_error": float(np.sqrt(np.mean(err ** 2))) if err.size else 0.0,
                        "subnormals": int(np.count_nonzero((q != 0) & (np.abs(q) < np.float16(6.104e-05)))),
                    }
                node.params[key] = q
            node.quant = dict(node.quant, format="float16", accumulate="wide->float32->float16")
            entry = {"params": layer}
            if "weight" in layer and node.op in ("Linear", "Conv2d"):
                entry["max_weight_error"] = layer["weight"]["max_abs_error"]
            report["layers"][node.name] = entry
        graph.metadata["numerics"] = self.name
        return graph, report


PROFILE = register(LynxiProfile("lynxi", F16, KERNELS, description=(
    "16-bit: float16 weights, activations and state; synapse sums in a wide accumulator stored "
    "through float32 to float16; elementwise float16 arithmetic, one rounding per operation")))

__all__ = ["PROFILE", "f16", "dense", "conv2d", "avgpool2d", "sumpool2d", "maxpool2d", "add", "mul", "scale",
           "neuron_step", "readout_step", "to_float16"]
