"""Numerics profiles: how a target represents values and how its arithmetic rounds and overflows.

A :class:`Profile` names a value dtype for the reference interpreter and may replace the float kernel
of any op with its own (``kernels``), so the interpreter runs a graph exactly as the target would.
Float profiles (``float32``, ``float64``, ``float16``, ``bfloat16``) use the float kernels unchanged.
Integer profiles (``loihi``, ``hls``, ``lynxi``) and ``onnx`` (float32 with onnxruntime's own sums)
live in their own modules and register themselves here;
their kernels read the graph the quantization pass produced for them. The ``loihi`` profile's
arithmetic is ``ir/numerics/loihi.py``; its quantization is the Loihi target's structural lowering
into netx layers, so the profile is registered by ``snnc.targets.loihi.profile`` (the one module
``get_profile`` names outside ``ir``, imported only when the profile is asked for).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from ..errors import SnncError


@dataclass(frozen=True)
class NumberFormat:
    """How a target stores one parameter: a name, the representable range ``[lo, hi]`` in the
    graph's units, and the bits per value."""

    name: str
    lo: float
    hi: float
    bits: int


@dataclass
class Profile:
    name: str
    dtype: torch.dtype
    kernels: dict[str, Callable] = field(default_factory=dict)
    description: str = ""
    #: default fixed-point formats of value classes (``{"v": Fixed(...).to_dict(), "i": ...}``, in the
    #: graph's units; see ``snnc.ir.quantize``) for nodes whose ``quant["formats"]`` has none; read by
    #: the range-analysis pass. Empty for float profiles.
    formats: dict = field(default_factory=dict)

    def prepare(self, graph):
        """Check (or adapt) a graph before it is interpreted under this profile."""
        return graph

    def state_vars(self, node) -> tuple[str, ...]:
        """The state variables a neuron keeps under this profile (the IR's: ``v``, then ``i``, ``b``)."""
        from ..neuron import state_variables
        return state_variables(node.attrs)

    def state_real(self, value) -> torch.Tensor | None:
        """A state variable's values in the graph's units as float64 (None for a flag: a spike kept
        for a delayed reset)."""
        if not isinstance(value, torch.Tensor) or value.dtype == torch.bool:
            return None
        return value.to(torch.float64)

    def state_format(self, node, var: str) -> NumberFormat:
        """The format a neuron's state variable ``var`` is kept in (a float profile: its dtype)."""
        return self.param_format(node, var)

    def param_format(self, node, key: str) -> NumberFormat:
        """The format parameter ``key`` of ``node`` is stored in (a float profile: its dtype)."""
        info = torch.finfo(self.dtype)
        return NumberFormat(str(self.dtype).removeprefix("torch."), -float(info.max), float(info.max), info.bits)

    def saturating_format(self, node) -> NumberFormat | None:
        """The format of ``node``'s values when a value out of its range shows in the values (a float
        dtype: as ±inf); None where it does not (integers that wrap)."""
        return self.param_format(node, "result") if self.dtype.is_floating_point else None

    def quantize(self, graph, calibration=None, config: dict | None = None):
        """Return ``(quantized_graph, report)``: parameters in this profile's representation, the
        choices recorded in each node's ``quant`` dict and ``graph.metadata["numerics"]``. Float
        profiles change nothing.

        ``calibration`` is a ``[T, N, *input_shape]`` input (or a list of them) or a
        ``snnc.ir.quantize.Calibration``; ``config`` is the profile's own precision config. The
        ``quant`` keys the shared passes read (``formats``, ``scales``) and the helpers to build them
        (``Fixed``, ``choose_fixed``, ``calibrate``) are in ``snnc.ir.quantize``; a report dict with
        ``{"layers": {node_name: {...}}}`` is shown per layer by ``snnc.passes.quantize``."""
        graph = graph.copy()
        graph.metadata["numerics"] = self.name
        return graph, {}


PROFILES: dict[str, Profile] = {}
_LAZY = {"loihi": "snnc.targets.loihi.profile", "hls": "snnc.ir.numerics.hls", "lynxi": "snnc.ir.numerics.lynxi",
         "onnx": "snnc.targets.onnx.profile"}


def register(profile: Profile) -> Profile:
    PROFILES[profile.name] = profile
    return profile


def get_profile(name: "str | Profile") -> Profile:
    if isinstance(name, Profile):
        return name
    if name not in PROFILES and name in _LAZY:
        import importlib
        importlib.import_module(_LAZY[name])
    try:
        return PROFILES[name]
    except KeyError:
        known = sorted(set(PROFILES) | set(_LAZY))
        raise SnncError(f"unknown numerics profile '{name}'; known: {known}") from None


for _dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
    register(Profile(str(_dtype).removeprefix("torch."), _dtype, description=f"IEEE {_dtype} arithmetic"))

__all__ = ["Profile", "NumberFormat", "PROFILES", "register", "get_profile"]
