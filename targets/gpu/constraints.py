"""What the gpu target accepts: every op of the IR in float32 (neurons that do not fit the fused
kernel run step by step; see ``module.fusable``)."""

from __future__ import annotations

from ...ir import Graph
from ...ir.errors import UnsupportedError
from ..accepts import ACCEPTS

SUPPORTED = ACCEPTS["gpu"].ops


def check(graph: Graph, options: dict | None = None) -> None:
    numerics = graph.metadata.get("numerics", "float32")
    if numerics != "float32":
        raise UnsupportedError(None, f"graph is quantized for '{numerics}'; the gpu target runs float32 graphs",
                               target="gpu")
    for node in graph.nodes:
        if node.op not in SUPPORTED:
            raise UnsupportedError(node.name, f"op '{node.op}' is not supported by the gpu target", target="gpu")
