"""Batch-norm folding: ``BatchNorm`` after a ``Linear`` or ``Conv2d`` becomes part of its weights.

With ``g = weight / sqrt(var + eps)`` per output channel ``c``, ``BN(W·x + b) = (g·W)·x + (g·(b - mean)
+ bias)``, so the layer gets ``W'[c] = g[c]·W[c]``, ``b'[c] = g[c]·(b[c] - mean[c]) + bias[c]`` and the
BatchNorm node disappears (its users read the layer). The arithmetic is done in float64 and stored
in the layer's dtype, so the folded graph equals the original within float rounding, not bit for
bit. A BatchNorm whose producer is not a float Linear/Conv2d, or whose producer has other users (or is
already quantized), is left in place (a target that cannot run it refuses it by name).
"""

from __future__ import annotations

import numpy as np

from snnc.ir import Graph

FOLDABLE = ("Linear", "Conv2d")


def fold_batchnorm(graph: Graph) -> Graph:
    out = graph.copy().verify()
    while True:  # BatchNorm chains fold one per round
        out, changed = _fold_once(out)
        if not changed:
            return out


def _fold_once(out: Graph) -> tuple[Graph, bool]:
    folded: dict[str, str] = {}  # BatchNorm name -> the layer it was folded into
    for bn in out.nodes:
        if bn.op != "BatchNorm":
            continue
        layer = out[bn.inputs[0]]
        if layer.op not in FOLDABLE or len(out.users(layer.name)) != 1 or layer.quant:
            continue
        if layer.params["weight"].dtype.kind != "f":  # integer (quantized) weights cannot absorb a scale
            continue
        p = {k: np.asarray(v, dtype=np.float64) for k, v in bn.params.items()}
        g = p["weight"] / np.sqrt(p["var"] + bn.attrs["eps"])
        w = layer.params["weight"]
        b = layer.params.get("bias")
        b64 = np.zeros(w.shape[0]) if b is None else b.astype(np.float64)
        shape = (-1,) + (1,) * (w.ndim - 1)
        layer.params["weight"] = (w.astype(np.float64) * g.reshape(shape)).astype(w.dtype)
        layer.params["bias"] = (g * (b64 - p["mean"]) + p["bias"]).astype(w.dtype if b is None else b.dtype)
        folded[bn.name] = layer.name
    if not folded:
        return out, False
    nodes = []
    for node in out.nodes:
        if node.name in folded:
            continue
        node.inputs = [folded.get(src, src) for src in node.inputs]
        nodes.append(node)
    out.replace_nodes(nodes)
    return out, True


__all__ = ["fold_batchnorm"]
