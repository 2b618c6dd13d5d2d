"""Does the model fit the target: per-layer resources against the target's limits.

Every target answers with the same :class:`Fit`: one :class:`LayerFit` per layer (an IR node of the
prepared graph), the resources it uses (``usage``, keyed by the names in ``Fit.resources``), the
totals, and the limits the target declares. A limit is checked per layer (``per_layer``) or on the
total; every breach is a ``problem`` naming the layer and the limit, and ``fits`` is False then.

:func:`memory_fit` is the fit of targets whose resource is plain memory (gpu, onnx, nir in float32;
lynxi in float16): parameter bytes, and per sample and step the activation and state bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..ir import Graph
from ..ir.neuron import state_variables


@dataclass(frozen=True)
class Resource:
    """A counted resource: its key in ``LayerFit.usage``, what it means, its unit, and how the
    layers' amounts combine into the model's (``sum``, or ``max`` for a per-neuron quantity)."""

    key: str
    label: str
    unit: str = ""
    combine: str = "sum"


@dataclass(frozen=True)
class Limit:
    """``usage[resource] <= value``, for every layer (``per_layer``) or for the total."""

    resource: str
    value: float
    per_layer: bool
    why: str


@dataclass
class LayerFit:
    layer: str
    op: str
    usage: dict


@dataclass
class Fit:
    target: str
    resources: list          # Resource, in display order
    layers: list             # LayerFit
    limits: list = field(default_factory=list)  # Limit
    notes: list = field(default_factory=list)   # how the numbers are estimated

    @property
    def totals(self) -> dict:
        combine = {"sum": sum, "max": lambda values: max(values, default=0)}
        return {r.key: combine[r.combine]([layer.usage.get(r.key, 0) for layer in self.layers])
                for r in self.resources}

    def label(self, key: str) -> str:
        """What resource ``key`` is, in words."""
        return next((r.label for r in self.resources if r.key == key), key)

    @property
    def problems(self) -> list[str]:
        """Every limit breached, naming the layer (or the total) and the limit."""
        out = []
        for limit in self.limits:
            label = self.label(limit.resource)
            if limit.per_layer:
                out += [f"layer '{layer.layer}': {label} {_num(layer.usage[limit.resource])} exceeds "
                        f"{_num(limit.value)} ({limit.why})" for layer in self.layers
                        if layer.usage.get(limit.resource, 0) > limit.value]
            elif self.totals[limit.resource] > limit.value:
                out.append(f"total {label} {_num(self.totals[limit.resource])} exceeds {_num(limit.value)} "
                           f"({limit.why})")
        return out

    @property
    def fits(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {"target": self.target, "fits": self.fits, "problems": self.problems,
                "resources": [{"key": r.key, "label": r.label, "unit": r.unit, "combine": r.combine}
                              for r in self.resources],
                "layers": [{"layer": f.layer, "op": f.op, "usage": dict(f.usage)} for f in self.layers],
                "totals": self.totals,
                "limits": [{"resource": lim.resource, "value": lim.value, "per_layer": lim.per_layer,
                            "why": lim.why} for lim in self.limits],
                "notes": list(self.notes)}


def _num(v) -> str:
    return f"{v:,}" if float(v).is_integer() else f"{v:.4g}"


MEMORY = [Resource("parameter_bytes", "parameter memory", "B"),
          Resource("activation_bytes", "activation memory per sample and step", "B"),
          Resource("state_bytes", "state memory per sample", "B")]


def memory_fit(graph: Graph, target: str, value_bytes: int, note: str) -> Fit:
    """Parameter bytes, and per sample: the node's output per step and the neuron/readout state, all
    in ``value_bytes`` per value."""
    layers = []
    for node in graph.nodes:
        if node.op in ("Input", "Output", "Flatten"):
            continue  # no storage of their own (Flatten is a view)
        params = sum(int(np.asarray(v).size) for v in node.params.values())
        states = _state_values(graph, node)
        layers.append(LayerFit(node.name, node.op, {"parameter_bytes": params * value_bytes,
                                                    "activation_bytes": math.prod(node.shape) * value_bytes,
                                                    "state_bytes": states * value_bytes}))
    return Fit(target, MEMORY, layers, notes=[note])


def memory_fit_of(target: str, value_bytes: int, note: str):
    """The ``Target.fit`` of a memory target: :func:`memory_fit` in ``value_bytes`` per value."""
    def fit(graph: Graph, out_dir=None) -> Fit:
        return memory_fit(graph, target, value_bytes, note)
    return fit


def _state_values(graph: Graph, node) -> int:
    """State values a node keeps per sample: a neuron's V (I, B) per neuron, a readout's count or
    membrane per class."""
    if node.op == "Neuron":
        return math.prod(node.shape) * len(state_variables(node.attrs))
    if node.op == "Readout":
        return graph[node.inputs[0]].shape[0]
    return 0


__all__ = ["Fit", "LayerFit", "Resource", "Limit", "memory_fit", "memory_fit_of", "MEMORY"]
