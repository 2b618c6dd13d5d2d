"""What the onnx target accepts; every refusal names the node and the limit."""

from __future__ import annotations

from ...ir import Graph
from ...ir.errors import UnsupportedError
from ..accepts import ACCEPTS

SUPPORTED_OPS = sorted(ACCEPTS["onnx"].ops)
PROTOBUF_LIMIT = 2**31 - 2**20  # 2 GiB protobuf limit, minus room for the graph itself


def check(graph: Graph, options: dict | None = None) -> None:
    graph.verify()
    windows = {n.attrs["window_size"] for n in graph.nodes if n.stateful}
    if len(windows) > 1:
        raise UnsupportedError(None, f"stateful nodes have different window sizes {sorted(windows)}; the "
                                     "step model has one reset input for all state", target="onnx")
    total = sum(v.size * 4 for n in graph.nodes for v in n.params.values())
    if total >= PROTOBUF_LIMIT:
        raise UnsupportedError(None, f"{total} bytes of float32 parameters; a single-file ONNX model holds "
                                     f"less than {PROTOBUF_LIMIT} bytes (protobuf limit)", target="onnx")
    for node in graph.nodes:
        if node.op not in SUPPORTED_OPS:
            hint = " (fold it into the previous layer first)" if node.op == "BatchNorm" else ""
            raise UnsupportedError(node.name, f"op {node.op} is not supported{hint}; supported: "
                                              f"{', '.join(SUPPORTED_OPS)}", target="onnx")
        # parameters of any float dtype are written as float32: the float32 interpreter computes
        # with float32 parameters too (its Context converts them), so nothing changes numerically
