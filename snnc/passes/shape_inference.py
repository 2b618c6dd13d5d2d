"""Shape inference: every node's per-step output shape, checked against its op.

``infer_shapes(graph)`` returns a copy whose nodes all carry their inferred ``shape``; with
``input_shape`` it first sets the Input's per-step shape (re-shaping a graph traced at another size,
as far as its parameters allow). A node whose inputs do not fit raises a ``GraphError`` naming it.
"""

from __future__ import annotations

from snnc.ir import Graph


def infer_shapes(graph: Graph, input_shape: tuple[int, ...] | None = None) -> Graph:
    out = graph.copy()
    if input_shape is not None:
        (inp,) = [n for n in out.nodes if n.op == "Input"] or [None]
        inp.attrs["shape"] = tuple(int(d) for d in input_shape)
    return out.verify()


__all__ = ["infer_shapes"]
