"""Reference against target, value for value: per-layer results and the first divergence."""

from __future__ import annotations

import math

import numpy as np
import torch

from .report import Divergence, LayerResult


def as_list(out) -> list:
    if isinstance(out, (tuple, list)):
        return list(out)
    return [out]


def compare(node: str, op: str, kind: str, ref: torch.Tensor, tgt) -> LayerResult:
    ref = torch.as_tensor(ref).detach().cpu()
    try:
        tgt = torch.as_tensor(tgt).detach().cpu()
    except (TypeError, ValueError, RuntimeError) as e:
        return LayerResult(node, op, kind, ref.numel(), ref.numel(), shape_error=f"target value is not a tensor: {e}")
    if tuple(ref.shape) != tuple(tgt.shape):
        return LayerResult(node, op, kind, ref.numel(), ref.numel(),
                           shape_error=f"target shape {list(tgt.shape)} != reference {list(ref.shape)}")
    r, t = ref.to(torch.float64), tgt.to(torch.float64)
    differ = (r != t) & ~(torch.isnan(r) & torch.isnan(t))
    count = int(differ.sum())
    first = None
    if count:
        step = int(differ.reshape(differ.shape[0], -1).any(dim=1).nonzero()[0])
        flat = differ[step].reshape(-1).nonzero()[0].item()
        per_step = tuple(differ.shape[2:])
        batch, rest = divmod(flat, max(1, math.prod(per_step)))
        index = tuple(int(i) for i in np.unravel_index(rest, per_step)) if per_step else ()
        first = Divergence(node, step, int(batch), index, float(r[step].reshape(-1)[flat]),
                           float(t[step].reshape(-1)[flat]))
    return LayerResult(node, op, kind, ref.numel(), count, first)


def first_divergence(layers: list[LayerResult], order: dict[str, int]) -> Divergence | None:
    """The earliest step's divergence, at the earliest node in topological order (the cause rather
    than its consequences downstream), then the first batch and neuron index."""
    firsts = [layer.first for layer in layers if layer.first is not None]
    if not firsts:
        return None
    return min(firsts, key=lambda d: (d.step, order.get(d.node, len(order)), d.batch, d.index))


