"""Where quantization loses range or precision, per layer.

- **Parameters**: for every parameter of the prepared graph, the range its values use against the
  range of the format the target stores it in (``Profile.param_format``), the fraction of that range
  used, and how many values that are non-zero in the float model became 0 (rounded to zero).
- **States seen in simulation**: per neuron and state variable (``v``, ``i`` or Lava's ``u``, ``b``),
  the range it took over every step and sample against the format it is kept in
  (``Profile.state_format``).
- **Values seen in simulation**: per node whose result format shows saturation in the values
  (``Profile.saturating_format``: a fixed-point format that saturates, a float dtype), how many of its values over all steps and samples
  sat at the format's limit (saturated, or infinite in a float format). A wrapping format cannot show
  its overflows in the values; the range analysis covers it.
- **Range analysis** (``snnc.passes.range_analysis``): the proven verdict over every input in
  ``[0, 1]`` — how many fixed-point values it checked and which can overflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..ir import Graph
from ..ir.errors import SnncError
from ..ir.interpreter import Trace
from ..ir.numerics import get_profile


class _UsesRange:
    """``used`` (min, max) of values against their format's ``limit`` (lo, hi)."""

    @property
    def range_used(self) -> float:
        """``max |used| / max |limit|`` (1: the format's whole range; 0 for all-zero values)."""
        top = max(abs(self.limit[0]), abs(self.limit[1]))
        return max(abs(self.used[0]), abs(self.used[1])) / top if top else 0.0


@dataclass
class ParameterRange(_UsesRange):
    layer: str
    parameter: str
    format: str
    used: tuple                 # (min, max) of the stored values
    limit: tuple                # (lo, hi) of the format
    rounded_to_zero: int        # non-zero in the float model, 0 as stored
    values: int


@dataclass
class StateRange(_UsesRange):
    layer: str
    state: str                  # v, i (Lava: u), b
    format: str
    used: tuple                 # (min, max) over every step and sample
    limit: tuple


@dataclass
class SaturatedValues:
    layer: str
    format: str
    limit: tuple
    saturated: int              # values at (or beyond) the format's limit
    values: int


@dataclass
class Quantization:
    numerics: str
    parameters: list = field(default_factory=list)     # ParameterRange
    states: list = field(default_factory=list)         # StateRange
    values: list = field(default_factory=list)         # SaturatedValues
    range_checked: int = 0
    range_overflows: list = field(default_factory=list)  # str, one per value that can overflow
    range_note: str = ""

    @property
    def rounded_to_zero(self) -> int:
        return sum(p.rounded_to_zero for p in self.parameters)

    @property
    def saturated(self) -> int:
        return sum(v.saturated for v in self.values)

    def to_dict(self) -> dict:
        return {"numerics": self.numerics, "rounded_to_zero": self.rounded_to_zero, "saturated": self.saturated,
                "parameters": [{**vars(p), "range_used": p.range_used} for p in self.parameters],
                "states": [{**vars(s), "range_used": s.range_used} for s in self.states],
                "values": [vars(v) for v in self.values],
                "range_analysis": {"checked": self.range_checked, "overflows": self.range_overflows,
                                   "ok": not self.range_overflows, "note": self.range_note}}


def _parameter_range(profile, node, key: str, float_node) -> ParameterRange:
    q = np.asarray(node.params[key], np.float64)
    fmt = profile.param_format(node, key)
    zeroed = 0
    if float_node is not None and key in float_node.params:
        f = np.asarray(float_node.params[key], np.float64)
        if f.shape == q.shape:
            zeroed = int(((f != 0) & (q == 0)).sum())
    used = (float(q.min()), float(q.max())) if q.size else (0.0, 0.0)
    return ParameterRange(node.name, key, fmt.name, used, (fmt.lo, fmt.hi), zeroed, int(q.size))


def measure_quantization(float_graph: Graph, prepared: Graph, trace: Trace, numerics: str) -> Quantization:
    profile = get_profile(numerics)
    report = Quantization(numerics)
    float_nodes = {n.name: n for n in float_graph.nodes}
    for name, ranges in trace.state_ranges.items():
        for var, used in ranges.items():
            fmt = profile.state_format(prepared[name], var)
            report.states.append(StateRange(name, var, fmt.name, used, (fmt.lo, fmt.hi)))
    values = trace.values
    for node in prepared.nodes:
        for key in node.params:
            report.parameters.append(_parameter_range(profile, node, key, float_nodes.get(node.name)))
        if node.op in ("Input", "Output", "Neuron", "Readout", "Flatten") or node.name not in values:
            continue  # spikes, decisions and views: nothing to saturate
        fmt = profile.saturating_format(node)
        if fmt is not None:
            v = torch.as_tensor(values[node.name]).to(torch.float64)
            hit = int(((v <= fmt.lo) | (v >= fmt.hi) | ~torch.isfinite(v)).sum())
            report.values.append(SaturatedValues(node.name, fmt.name, (fmt.lo, fmt.hi), hit, v.numel()))
    _range_analysis(report, prepared)
    return report


def _range_analysis(report: Quantization, prepared: Graph) -> None:
    from ..passes.range_analysis import analyze_ranges

    try:
        ranges = analyze_ranges(prepared)
    except SnncError as e:
        report.range_note = f"not run: {e}"
        return
    report.range_checked = len(ranges.checked)
    if not ranges.checked:
        report.range_note = "no fixed-point formats to check: the target's values are floats or Lava's integers"
        return
    report.range_overflows = [str(o) for o in ranges.overflows] + \
        [f"node '{n}': {c} grows without bound (no window)" for n, c in ranges.unbounded]


__all__ = ["Quantization", "ParameterRange", "StateRange", "SaturatedValues", "measure_quantization"]
