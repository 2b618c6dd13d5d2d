"""Quantization-aware training: fake quantization with straight-through gradients.

A fake quantizer maps a float tensor onto the values a profile can store and returns them as floats
(forward = quantize then dequantize, exactly the values the quantization pass would store); its
backward passes the gradient through unchanged (the straight-through estimator: ``dq(x)/dx := 1``),
so training sees the deployed weights while the float "shadow" weights keep accumulating small
updates.

Weight quantizer specs (a dict, a :class:`snnc.ir.quantize.Fixed`, or a format string):

- ``{"kind": "fixed", "width": W, "int": I, "rounding": "rnd_conv", "overflow": "sat"}`` (or a
  ``Fixed``, or ``"fixed<8,2,rnd,sat>"`` / ``"<8,2>"``): a fixed ``ap_fixed<W,I>``-like grid;
- ``{"kind": "fixed", "width": W, "int": "auto"}``, ``{"kind": "pow2", "bits": 8}``: a power-of-two
  scale chosen per tensor, each forward, from the current values (the finest ``W``-bit format that
  holds them; Loihi-style mantissa and exponent): :func:`snnc.ir.quantize.choose_fixed`;
- ``{"kind": "float", "dtype": "float16"}``: rounding to float16 / bfloat16 (the gpu and lynxi
  profiles);
- ``{"kind": "loihi", "scale": s}``: Lava's 8-bit integer weights, ``round(s·w)`` clipped into the
  range Lava keeps for the tensor's sign mode, divided by ``s``; without ``scale``, the largest
  scale the weights allow (``snnc.ir.numerics.loihi.weight_scale_limit``). Pass the same per-layer
  scales to ``get_profile("loihi").quantize(config={"weight_scale": ...})`` for an exact match.

:func:`quantize_model` puts such quantizers on the weights (and biases) of every ``Linear`` /
``Conv2d`` of a model, as ``torch.nn.utils.parametrize`` parametrizations: the module's ``weight``
is then the fake-quantized value, training updates the float original, and
:func:`strip_quantization` bakes the quantized values in. :func:`weight_spec` gives the spec a
profile implies. :func:`quantize_state` rounds the neurons' stored state the same way (optional).
"""

from __future__ import annotations

import re

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from ..ir.errors import SnncError
from ..ir.quantize import Fixed, choose_fixed

_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
_FMT = re.compile(r"^\s*(?:ap_fixed|fixed)?\s*<\s*(\d+)\s*,\s*(-?\d+|auto)\s*(?:,\s*(\w+)\s*)?(?:,\s*(\w+)\s*)?>\s*$")


class _StraightThrough(torch.autograd.Function):
    """``forward``: ``fn(x)``; ``backward``: the incoming gradient unchanged."""

    @staticmethod
    def forward(ctx, x, fn):
        return fn(x)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, None


def straight_through(x: torch.Tensor, fn) -> torch.Tensor:
    """``fn(x)`` in forward, identity in backward."""
    return _StraightThrough.apply(x, fn)


def fixed_round_trip(x: torch.Tensor, fmt: Fixed) -> torch.Tensor:
    """``x`` on ``fmt``'s grid (rounded and brought into range), in ``x``'s dtype; no gradient."""
    return fmt.quantize(x.detach()).to(x.dtype)


def fake_quantize(x: torch.Tensor, fmt: Fixed) -> torch.Tensor:
    """Fixed-point fake quantization with a straight-through gradient."""
    return straight_through(x, lambda t: fixed_round_trip(t, fmt))


def auto_format(x: torch.Tensor, width: int, signed: bool = True, rounding: str = "rnd_conv",
                overflow: str = "sat") -> Fixed:
    """The finest ``width``-bit power-of-two-scaled format holding every value of ``x`` (its extremes
    decide, so only they are converted)."""
    x = x.detach()
    ends = torch.stack([x.min(), x.max()]).to(torch.float64).cpu().numpy() if x.numel() else np.zeros(0)
    return choose_fixed(ends, width, signed, rounding, overflow)


def _loihi_round_trip(w: torch.Tensor, scale: float | None) -> torch.Tensor:
    from ..ir.numerics import loihi

    arr = w.detach().to(torch.float64).cpu().numpy()
    s = loihi.weight_scale_limit(arr) if scale is None else float(scale)
    if not np.isfinite(s):
        s = 1.0
    return torch.as_tensor(loihi.quantize_weights(arr, s) / s).to(w.dtype).to(w.device)


def parse_spec(spec) -> dict:
    """A weight quantizer spec in its dict form (see the module docstring)."""
    if isinstance(spec, Fixed):
        return {"kind": "fixed", **spec.to_dict()}
    if isinstance(spec, str):
        if spec in _DTYPES:
            return {"kind": "float", "dtype": spec}
        m = _FMT.match(spec)
        if not m:
            raise SnncError(f"cannot read quantizer spec {spec!r}; expected e.g. '<8,2>', 'fixed<8,2,rnd,sat>' "
                            "or 'float16'")
        out = {"kind": "fixed", "width": int(m.group(1)), "int": m.group(2) if m.group(2) == "auto" else int(m.group(2))}
        if m.group(3):
            out["rounding"] = m.group(3).lower().removeprefix("ap_")
        if m.group(4):
            out["overflow"] = m.group(4).lower().removeprefix("ap_")
        return out
    if isinstance(spec, dict):
        spec = dict(spec)
        spec.setdefault("kind", "fixed")
        if spec["kind"] not in ("fixed", "pow2", "float", "loihi"):
            raise SnncError(f"unknown quantizer kind {spec['kind']!r}; expected fixed, pow2, float or loihi")
        return spec
    raise SnncError(f"a quantizer spec must be a dict, a Fixed or a string, got {spec!r}")


class FakeQuant(nn.Module):
    """Fake quantization by a spec (see the module docstring), straight-through in backward. Usable
    as a layer (activations) or as a weight parametrization (:func:`quantize_model`)."""

    def __init__(self, spec):
        super().__init__()
        self.spec = parse_spec(spec)
        s = self.spec
        self.fixed = None
        if s["kind"] == "fixed" and s.get("int") != "auto":
            self.fixed = Fixed(int(s["width"]), int(s["int"]), bool(s.get("signed", True)),
                               s.get("rounding", "rnd_conv"), s.get("overflow", "sat"))
        elif s["kind"] == "float" and s.get("dtype", "float16") not in _DTYPES:
            raise SnncError(f"float fake quantization supports {sorted(_DTYPES)}, got {s.get('dtype')!r}")

    def format_for(self, x: torch.Tensor) -> Fixed | None:
        """The fixed-point format used for ``x`` (None for float and loihi specs)."""
        s = self.spec
        if self.fixed is not None:
            return self.fixed
        if s["kind"] == "pow2":
            return auto_format(x, int(s.get("bits", 8)), bool(s.get("signed", True)), s.get("rounding", "rnd_conv"))
        if s["kind"] == "fixed":
            return auto_format(x, int(s["width"]), bool(s.get("signed", True)), s.get("rounding", "rnd_conv"),
                               s.get("overflow", "sat"))
        return None

    def round_trip(self, x: torch.Tensor) -> torch.Tensor:
        """The quantized value of ``x`` (no gradient)."""
        s = self.spec
        if s["kind"] == "float":
            return x.detach().to(_DTYPES[s.get("dtype", "float16")]).to(x.dtype)
        if s["kind"] == "loihi":
            return _loihi_round_trip(x, s.get("scale"))
        return fixed_round_trip(x, self.format_for(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return straight_through(x, self.round_trip)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.spec.items())


def weight_spec(profile: str, config: dict | None = None, layer: str | None = None, tensor: str = "weight"):
    """The weight quantizer spec a profile implies for one layer (``None``: no quantization).

    ``float32``/``float64``: none; ``float16``/``bfloat16``/``lynxi``: float rounding; ``loihi``:
    ``{"kind": "loihi"}`` with ``config["weight_scale"][layer]`` if given (biases: none, Lava folds
    them into the neuron); ``hls``: the format of the ``weight``/``bias`` class from the hls config
    (``layers`` → ``classes`` → ``default``), else ``<16,6>`` with an automatic integer part."""
    config = dict(config or {})
    if profile in ("float32", "float64"):
        return None
    if profile in ("float16", "bfloat16"):
        return {"kind": "float", "dtype": profile}
    if profile == "lynxi":
        return {"kind": "float", "dtype": "float16"}
    if profile == "loihi":
        if tensor != "weight":
            return None
        scale = (config.get("weight_scale") or {}).get(layer) if layer is not None else None
        return {"kind": "loihi", "scale": scale}
    if profile == "hls":
        for level in ((config.get("layers") or {}).get(layer) or {}, config.get("classes") or {}):
            if tensor in level:
                return _merge(level[tensor], config.get("default"))
        if config.get("default") is not None:
            return _merge(config["default"], None)
        return {"kind": "fixed", "width": 16, "int": "auto"}
    raise SnncError(f"no weight quantization is known for profile {profile!r}; pass spec= explicitly")


def _merge(spec, default) -> dict:
    out = parse_spec(default) if default is not None else {"kind": "fixed"}
    out.update({k: v for k, v in parse_spec(spec).items()})
    return out


QUANTIZABLE = (nn.Linear, nn.Conv2d)


def quantize_model(model: nn.Module, profile: str | None = None, config: dict | None = None, spec=None,
                   bias: bool = True) -> nn.Module:
    """Put fake quantizers on the ``weight`` (and ``bias``) of every Linear/Conv2d of ``model``, in
    place: by ``spec`` for all, or by :func:`weight_spec` of ``profile`` per layer (the layer's name is
    its qualified module name, dots as underscores, as the tracer names IR nodes). Returns ``model``."""
    if spec is None and profile is None:
        raise SnncError("quantize_model needs a profile or a spec")
    for name, module in model.named_modules():
        if not isinstance(module, QUANTIZABLE):
            continue
        layer = name.replace(".", "_")
        for tensor in ("weight", "bias") if bias else ("weight",):
            if getattr(module, tensor, None) is None or parametrize.is_parametrized(module, tensor):
                continue
            s = spec if spec is not None else weight_spec(profile, config, layer, tensor)
            if s is not None:
                parametrize.register_parametrization(module, tensor, FakeQuant(s))
    return model


def quantize_state(model: nn.Module, spec, current_spec=None) -> nn.Module:
    """Round every value a neuron stores (``snnc.ir.neuron.step``'s ``store`` points: the potential
    ``H`` after its charge, a subtracted reset, a ``CubaLIF``'s current ``I``) by a fake quantizer,
    straight-through in backward, in place, as a fixed-point profile stores them (the reset then acts
    on the rounded ``H``). ``current_spec`` defaults to ``spec``. Only the ``torch`` backend runs the
    step in Python, so fused backends are refused. Returns ``model``."""
    from .neuron import BaseNode, CubaLIF

    for name, m in model.named_modules():
        if not isinstance(m, BaseNode) or "state_quant" in m._modules:
            continue
        if m.backend != "torch":
            raise SnncError(f"quantize_state: neuron '{name}' uses backend {m.backend!r}; state fake "
                            "quantization needs backend='torch'")
        m.state_quant = FakeQuant(spec)
        if isinstance(m, CubaLIF):
            m.current_quant = FakeQuant(current_spec if current_spec is not None else spec)
    return model


def strip_quantization(model: nn.Module) -> nn.Module:
    """Replace every fake-quantized parameter by its quantized value (plain parameters again) and
    take :func:`quantize_state`'s rounding off the neurons (the model pickles again)."""
    for module in model.modules():
        if "state_quant" in module._modules:
            del module.state_quant
            module._modules.pop("current_quant", None)
        if parametrize.is_parametrized(module):
            for tensor in list(module.parametrizations.keys()):
                parametrize.remove_parametrizations(module, tensor, leave_parametrized=True)
    return model


__all__ = ["FakeQuant", "fake_quantize", "straight_through", "fixed_round_trip", "auto_format", "parse_spec",
           "weight_spec", "quantize_model", "quantize_state", "strip_quantization"]
