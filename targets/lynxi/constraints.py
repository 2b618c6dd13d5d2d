"""What the lynxi target accepts; every refusal names the node and the limit."""

from __future__ import annotations

import numpy as np

from ...ir import Graph
from ...ir.errors import UnsupportedError
from ...ir.numerics.lynxi import F16_MAX
from ..accepts import ACCEPTS

SUPPORTED_OPS = sorted(ACCEPTS["lynxi"].ops)
MAX_CLASSES = 2048  # float16 holds every integer up to 2048 exactly: class indices stay exact
MAX_FAN_IN = 8192   # the wide accumulator is exact for spike inputs up to this fan-in


def check(graph: Graph, options: dict | None = None) -> None:
    graph.verify()
    if graph.metadata.get("numerics") != "lynxi":
        raise UnsupportedError(None, "the graph is not quantized to the 'lynxi' profile; run "
                                     "TARGET.prepare (or get_profile('lynxi').quantize) first", target="lynxi")
    windows = {n.attrs["window_size"] for n in graph.nodes if n.stateful}
    if len(windows) > 1:
        raise UnsupportedError(None, f"stateful nodes have different window sizes {sorted(windows)}; "
                                     "the lynxi state region is reset as a whole", target="lynxi")
    for node in graph.nodes:
        if node.op not in SUPPORTED_OPS:
            hint = " (fold it into the previous layer first)" if node.op == "BatchNorm" else ""
            raise UnsupportedError(node.name, f"op {node.op} is not supported{hint}; supported: "
                                              f"{', '.join(SUPPORTED_OPS)}", target="lynxi")
        for key, value in node.params.items():
            if value.dtype.kind == "f" and value.dtype.name != "float16":
                raise UnsupportedError(node.name, f"parameter '{key}' is {value.dtype.name}, expected float16",
                                       target="lynxi")
            if value.size and float(np.abs(value.astype(np.float64)).max()) > F16_MAX:
                raise UnsupportedError(node.name, f"parameter '{key}' exceeds the float16 range", target="lynxi")
        if node.op == "Readout" and graph[node.inputs[0]].shape[0] > MAX_CLASSES:
            raise UnsupportedError(node.name, f"{graph[node.inputs[0]].shape[0]} classes; at most {MAX_CLASSES} "
                                              "(decisions are float16)", target="lynxi")
        if node.op in ("Linear", "Conv2d"):
            w = node.params["weight"]
            fan_in = w.shape[1] * (w.shape[2] * w.shape[3] if w.ndim == 4 else 1)
            if fan_in > MAX_FAN_IN:
                raise UnsupportedError(node.name, f"fan-in {fan_in} exceeds {MAX_FAN_IN}", target="lynxi")
