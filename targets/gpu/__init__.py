"""The gpu target: the IR graph as a PyTorch module with T folded into the batch for stateless layers
and neurons on the fused Triton kernels (``snnc.runtime``); see FORMAT.md."""

from __future__ import annotations

from ...ir import Graph
from .. import Target
from .constraints import check
from .lower import lower
from .module import GraphModule, fusable
from .simulate import describe, load, simulate


def prepare(graph: Graph, options: dict | None = None) -> Graph:
    """The module computes in float32: the graph is used as it is (numerics ``float32``)."""
    graph = graph.copy()
    graph.metadata["numerics"] = "float32"
    return graph


TARGET = Target(name="gpu", numerics="float32", prepare=prepare, check=check, lower=lower,
                simulate=simulate, describe=describe)

__all__ = ["TARGET", "prepare", "check", "lower", "simulate", "describe", "load", "GraphModule", "fusable"]
