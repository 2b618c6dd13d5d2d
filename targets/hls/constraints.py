"""What the hls target accepts. Refusals name the node and the limit.

- The graph must be quantized for the ``hls`` profile (``TARGET.prepare`` does it).
- Ops: those of ``ACCEPTS["hls"]`` (every op but BatchNorm, which must be folded first), every neuron
  and readout variant the IR defines (a ``lif`` charge as ``plif``).
- One Input; every stored format signed, at most 53 bits; every exact intermediate (products, sums,
  accumulators) at most 63 bits: checked by running one step of the profile's kernels, which refuse
  any wider value with the node's name.
"""

from __future__ import annotations

import torch

from ...ir.errors import SnncError, UnsupportedError
from ...ir.quantize import Fixed
from ..accepts import ACCEPTS

SUPPORTED = sorted(ACCEPTS["hls"].ops)


def check(graph, options: dict | None = None) -> None:
    if graph.metadata.get("numerics") != "hls":
        raise SnncError("hls: the graph is not quantized for the hls profile; use TARGET.prepare(graph, options)")
    for node in graph.nodes:
        if node.op not in SUPPORTED:
            raise UnsupportedError(node.name, f"op {node.op} is not supported (supported: {', '.join(SUPPORTED)})",
                                   target="hls")
        fm = node.quant.get("formats") or {}
        if "result" not in fm:
            raise UnsupportedError(node.name, "has no hls formats; quantize the graph for hls first", target="hls")
        for cls, d in fm.items():
            f = Fixed.from_dict(d)
            if not f.signed:
                raise UnsupportedError(node.name, f"format of '{cls}' must be signed, got {f}", target="hls")
        if node.op == "Neuron" and node.attrs["charge"] == "lif":
            raise UnsupportedError(node.name, "a lif charge must be quantized to plif (k = 1/tau) first",
                                   target="hls")
    # one step of the exact kernels: every intermediate width is checked there, naming the node
    from ...ir.interpreter import interpret
    x = torch.zeros((1, 1) + tuple(graph.input_shape), dtype=torch.float64)
    interpret(graph, x, numerics="hls")


__all__ = ["check"]
