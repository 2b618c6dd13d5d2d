"""The ONNX target: one time step as a standard ONNX graph with the neuron and readout state as
explicit inputs and outputs (``model.onnx``, see FORMAT.md), run step by step in onnxruntime."""

from __future__ import annotations

from .. import Target
from ...ir import Graph
from ...ir.numerics import get_profile
from ..fit import memory_fit_of
from .constraints import check
from .lower import build, lower
from .simulate import describe, run, simulate

def prepare(graph: Graph, options: dict | None = None) -> Graph:
    """The float graph as it is, marked with the ``onnx`` numerics (float32 with onnxruntime's own
    sums: ``targets/onnx/profile.py``)."""
    graph, _ = get_profile("onnx").quantize(graph)
    return graph


TARGET = Target(name="onnx", numerics="onnx", prepare=prepare, check=check, lower=lower,
                simulate=simulate, describe=describe, records_layers=True,
                fit=memory_fit_of("onnx", 4, "float32 initializers, values and state inputs of the step model"))

__all__ = ["TARGET", "prepare", "check", "lower", "build", "simulate", "run", "describe"]
