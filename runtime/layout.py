"""Memory layouts the fused kernels read without a copy.

A kernel indexes a sequence ``[T, N...]`` as ``T`` rows of ``N`` elements: step ``t``'s neurons are the
``N`` storage slots from ``t·N``. That holds for a C-contiguous tensor and for any tensor whose steps are
its outermost dimension and whose step is dense in some order of its dimensions (channels-last
activations, ``[T, B, C, H, W]`` viewed from an NHWC ``[T·B, C, H, W]``). Element-wise per-neuron
operands then have to be laid out like one step.
"""

from __future__ import annotations

from typing import Optional

import torch


def is_dense(t: torch.Tensor) -> bool:
    """True when ``t``'s elements fill ``numel`` consecutive storage slots exactly once: sorted by
    stride (size-1 dims ignored), each stride equals the product of the sizes before it."""
    expected = 1
    for size, stride in sorted(((s, st) for s, st in zip(t.shape, t.stride()) if s != 1), key=lambda d: d[1]):
        if stride != expected:
            return False
        expected *= size
    return True


def steps_outermost(x: torch.Tensor) -> bool:
    """``x`` ``[T, N...]`` is ``T`` consecutive dense steps (C-contiguous, or a step in any dense order)."""
    return x.is_contiguous() or (x.dim() > 1 and (x.shape[0] == 1 or x.stride(0) == x[0].numel())
                                 and is_dense(x))


def like(t: Optional[torch.Tensor], ref: torch.Tensor) -> Optional[torch.Tensor]:
    """``t`` (``ref``'s shape) with ``ref``'s strides: itself when it has them, else a copy."""
    if t is None or t.stride() == ref.stride():
        return t
    return torch.empty_like(ref, dtype=t.dtype).copy_(t)
