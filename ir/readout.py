"""The ``Readout`` op's step, written once over a small vector arithmetic.

:func:`step` is the one implementation of :class:`snnc.ir.ops.Readout`'s docstring for the
interpreter (float and float16), the fixed-point profile and the ONNX emitter; the C++ templates
``readout_spike.cpp``/``readout_membrane.cpp`` write the same loops by hand. Per sample, over the
classes ``c``::

    spike mode     count = count + [x != 0]                      (integers)
                   binary_logit          count[1] - count[0]
                   argmax_spike_count    argmax count            (ties: the lowest index)
                   first = first if first >= 0 else lowest(c : count[c] >= class_threshold), or -1
                   first_to_threshold    first
                   threshold_then_argmax first if first >= 0 else argmax count
    membrane mode  mem = store(beta * mem + x)   (mem + x without beta; mem starts at 0)
                   binary_logit          mem[1] - mem[0]
                   argmax_membrane       argmax mem
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch


class ReadoutArithmetic(ABC):
    """Values are ``[N, C]`` per-class vectors or ``[N]`` class indices in the backend's own form."""

    @abstractmethod
    def accumulate(self, mem, x):
        """``store(beta * mem + x)`` (``mem + x`` when the node has no ``beta``)."""

    @abstractmethod
    def count(self, count, x):
        """``count + [x != 0]``."""

    @abstractmethod
    def argmax(self, values):
        """The index of the largest class (the lowest one among ties)."""

    @abstractmethod
    def difference(self, values):
        """``values[1] - values[0]``."""

    @abstractmethod
    def lowest_reached(self, count, threshold: int):
        """The lowest class with ``count >= threshold``, or -1."""

    @abstractmethod
    def keep_first(self, first, other):
        """``first`` where it is a class (``>= 0``), else ``other``."""

    @abstractmethod
    def decision(self, value):
        """The op's ``[N, 1]`` output."""


def step(ar: ReadoutArithmetic, attrs: dict, x, state: dict):
    """One step of the ``Readout`` op; updates ``state`` (``mem``, or ``count`` and ``first``)."""
    rule = attrs["rule"]
    if attrs["output_mode"] == "membrane":
        state["mem"] = mem = ar.accumulate(state["mem"], x)
        return ar.decision(ar.difference(mem) if rule == "binary_logit" else ar.argmax(mem))
    state["count"] = count = ar.count(state["count"], x)
    if rule == "binary_logit":
        return ar.decision(ar.difference(count))
    best = ar.argmax(count)
    if rule == "argmax_spike_count":
        return ar.decision(best)
    state["first"] = first = ar.keep_first(state["first"], ar.lowest_reached(count, attrs["class_threshold"]))
    if rule == "first_to_threshold":
        return ar.decision(first)
    return ar.decision(ar.keep_first(first, best))


class TensorReadout(ReadoutArithmetic):
    """Tensors: the membrane in the value dtype (one rounding per operation), counts and classes in
    ``index_dtype``, decisions in ``value_dtype``. ``beta`` is a Python float, a 0-d tensor of the
    value dtype, or None."""

    def __init__(self, beta, value_dtype: torch.dtype, index_dtype: torch.dtype = torch.int64):
        self.beta, self.value_dtype, self.index_dtype = beta, value_dtype, index_dtype

    def initial_state(self, x: torch.Tensor, output_mode: str) -> dict:
        """The state a window starts from: ``mem = 0`` (membrane mode), or ``count = 0`` and no
        ``first`` class (-1)."""
        if output_mode == "membrane":
            return {"mem": torch.zeros_like(x)}
        n, classes = x.shape
        return {"count": torch.zeros((n, classes), dtype=self.index_dtype, device=x.device),
                "first": torch.full((n,), -1, dtype=self.index_dtype, device=x.device)}

    def accumulate(self, mem, x):
        return mem + x if self.beta is None else self.beta * mem + x

    def count(self, count, x):
        return count + (x != 0).to(self.index_dtype)

    def argmax(self, values):
        return values.argmax(dim=1).to(self.index_dtype)

    def difference(self, values):
        return values[:, 1] - values[:, 0]

    def lowest_reached(self, count, threshold):
        reached = count >= threshold
        return torch.where(reached.any(dim=1), reached.to(torch.int8).argmax(dim=1).to(self.index_dtype), -1)

    def keep_first(self, first, other):
        return torch.where(first >= 0, first, other)

    def decision(self, value):
        return value.reshape(-1, 1).to(self.value_dtype)


__all__ = ["ReadoutArithmetic", "TensorReadout", "step"]
