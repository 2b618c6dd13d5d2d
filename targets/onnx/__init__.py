"""The ONNX target: one time step as a standard ONNX graph with the neuron and readout state as
explicit inputs and outputs (``model.onnx``, see FORMAT.md), run step by step in onnxruntime."""

from __future__ import annotations

from ...ir import Graph
from .. import Target
from .constraints import check
from .lower import build, lower
from .simulate import describe, run, simulate


def prepare(graph: Graph, options: dict | None = None) -> Graph:
    """The step model computes in float32: the graph is used as it is (numerics ``float32``)."""
    graph = graph.copy()
    graph.metadata["numerics"] = "float32"
    return graph


TARGET = Target(name="onnx", numerics="float32", prepare=prepare, check=check, lower=lower,
                simulate=simulate, describe=describe)

__all__ = ["TARGET", "prepare", "check", "lower", "build", "simulate", "run", "describe"]
