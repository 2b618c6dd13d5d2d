"""What the onnx target accepts; every refusal names the node and the limit."""

from __future__ import annotations

from ...ir import Graph
from ...ir.errors import UnsupportedError

SUPPORTED_OPS = ("Input", "Output", "Linear", "Conv2d", "AvgPool2d", "SumPool2d", "MaxPool2d", "Flatten",
                 "Add", "Scale", "Neuron", "Readout")


def check(graph: Graph, options: dict | None = None) -> None:
    graph.verify()
    windows = {n.attrs["window_size"] for n in graph.nodes if n.stateful}
    if len(windows) > 1:
        raise UnsupportedError(None, f"stateful nodes have different window sizes {sorted(windows)}; the "
                                     "step model has one reset input for all state", target="onnx")
    for node in graph.nodes:
        if node.op not in SUPPORTED_OPS:
            hint = " (fold it into the previous layer first)" if node.op == "BatchNorm" else ""
            raise UnsupportedError(node.name, f"op {node.op} is not supported{hint}; supported: "
                                              f"{', '.join(SUPPORTED_OPS)}", target="onnx")
        # parameters of any float dtype are written as float32: the float32 interpreter computes
        # with float32 parameters too (its Context converts them), so nothing changes numerically
