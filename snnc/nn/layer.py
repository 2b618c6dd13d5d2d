"""Layers that work in both step modes, and containers.

Each stateless layer is a thin subclass of the torch.nn layer of the same name (so torch.fx and every
tool that knows ``nn.Linear``, ``nn.Conv2d`` … sees a standard layer) plus ``step_mode``. In step mode
``'s'`` it is exactly the torch.nn layer on ``[N, ...]``; in ``'m'`` it takes ``[T, N, ...]`` and
applies the torch.nn layer once to ``[T·N, ...]`` (time folded into the batch), returning
``[T, N, ...]``. BatchNorm2d in ``'m'`` therefore normalizes over time and batch together.

:class:`Dropout` is the one stateful layer: its mask is drawn once per sequence and kept over time,
and redrawn after a reset (``reset_net`` or the window boundary).

Containers: :class:`SeqToANNContainer` folds time for a stack of stateless modules,
:class:`MultiStepContainer` runs single-step modules over ``T``, and
:class:`ElementwiseRecurrentContainer` feeds a module's previous output back into its input. Modules
inside a container keep their own step mode (``set_step_mode`` leaves them alone; see
``CONTAINERS_KEEP_INNER_STEP_MODE``).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .base import MemoryModule, StepModule
from .functional import seq_to_ann_forward


class StepModeMixin(StepModule):
    """``'m'`` folds ``[T, N, ...]`` to ``[T·N, ...]`` around the torch.nn layer's own ``forward``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.step_mode == "s":
            return super().forward(x)
        if x.dim() < 2:
            raise ValueError(f"{type(self).__name__} in step_mode 'm' expects [T, N, ...], got shape {tuple(x.shape)}")
        return seq_to_ann_forward(x, super().forward)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", step_mode={self.step_mode!r}"


class Linear(StepModeMixin, nn.Linear):
    """``nn.Linear`` with ``step_mode``: ``y = x Wᵀ + b`` at every step."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, step_mode: str = "s",
                 device=None, dtype=None):
        super().__init__(in_features, out_features, bias, device=device, dtype=dtype)
        self.step_mode = step_mode


class Conv2d(StepModeMixin, nn.Conv2d):
    """``nn.Conv2d`` with ``step_mode`` (input ``[N, C, H, W]`` per step)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", step_mode: str = "s",
                 device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device=device, dtype=dtype)
        self.step_mode = step_mode


class BatchNorm2d(StepModeMixin, nn.BatchNorm2d):
    """``nn.BatchNorm2d`` with ``step_mode``; in ``'m'`` the statistics are over ``T·N·H·W``."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, step_mode: str = "s", device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device=device, dtype=dtype)
        self.step_mode = step_mode


class AvgPool2d(StepModeMixin, nn.AvgPool2d):
    """``nn.AvgPool2d`` with ``step_mode``."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override=None, step_mode: str = "s"):
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
        self.step_mode = step_mode


class MaxPool2d(StepModeMixin, nn.MaxPool2d):
    """``nn.MaxPool2d`` with ``step_mode``."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False, step_mode: str = "s"):
        super().__init__(kernel_size, stride, padding, dilation, return_indices, ceil_mode)
        self.step_mode = step_mode


class Flatten(StepModeMixin, nn.Flatten):
    """``nn.Flatten`` with ``step_mode``; dims count from the per-step tensor ``[N, ...]`` in both modes."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1, step_mode: str = "s"):
        super().__init__(start_dim, end_dim)
        self.step_mode = step_mode


class Dropout(nn.Dropout, MemoryModule):
    """Dropout whose mask is fixed over time: while training, ``y[t] = x[t] · m / (1 - p)`` with one
    Bernoulli mask ``m`` (keep probability ``1 - p``) drawn at the first step after a reset and reused
    for every later step, until the next reset (``reset_net`` or the window boundary). The mask has the
    per-step shape ``[N, ...]``; it is redrawn if that shape changes. In eval mode (or ``p == 0``) it is
    the identity. ``generator`` makes the masks reproducible."""

    def __init__(self, p: float = 0.5, step_mode: str = "s", generator: torch.Generator | None = None):
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout p must be in [0, 1), got {p}")
        super().__init__(p)
        self.step_mode = step_mode
        self.generator = generator
        self.register_memory("mask", None)

    def _mask_for(self, x: torch.Tensor) -> torch.Tensor:
        if self.mask is None or self.mask.shape != x.shape or self.mask.device != x.device:
            keep = torch.rand(x.shape, generator=self.generator, device=x.device) >= self.p
            self.mask = keep.to(x.dtype) / (1.0 - self.p)
        return self.mask.to(x.dtype)

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        y = x * self._mask_for(x)
        self.advance_window()
        return y

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x_seq
        if self.window_size:
            return super().multi_step_forward(x_seq)
        return x_seq * self._mask_for(x_seq[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return MemoryModule.forward(self, x)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["generator"] = None  # generators do not pickle; a loaded model draws from the global RNG
        return state

    def extra_repr(self) -> str:
        return f"p={self.p}, " + MemoryModule.extra_repr(self)


class _StepSequential(nn.Sequential, StepModule):
    """An ``nn.Sequential`` with a step mode: ``'s'`` runs the modules in order on one step."""

    def __init__(self, *modules: nn.Module, step_mode: str = "m"):
        super().__init__(*modules)
        self.step_mode = step_mode

    def extra_repr(self) -> str:
        return f"step_mode={self.step_mode!r}"


class SeqToANNContainer(_StepSequential):
    """A stack of stateless modules applied with time folded into the batch: in ``'m'`` mode
    ``[T, N, ...] → [T·N, ...] → modules → [T, N, ...]``; in ``'s'`` mode the modules in order.
    Inner modules are called per step (keep them in step mode ``'s'``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.step_mode == "s":
            return super().forward(x)
        return seq_to_ann_forward(x, list(self))  # the modules (not a bound super() method: dynamo traces it)


class MultiStepContainer(_StepSequential):
    """Runs single-step modules (stateful ones included) over ``T`` in ``'m'`` mode: for each ``t`` in
    order, ``y[t] = modules(x[t])``; in ``'s'`` mode the modules in order on one step."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.step_mode == "s":
            return super().forward(x)
        return torch.stack([super(MultiStepContainer, self).forward(xt) for xt in x])

    def extra_repr(self) -> str:
        return f"step_mode={self.step_mode!r}"


class ElementwiseRecurrentContainer(MemoryModule):
    """Element-wise recurrence around a single-step module ``f``:
    ``y[t] = f(g(y[t-1], x[t]))`` with ``y[-1] = 0`` and ``g`` an element-wise function such as
    ``torch.add`` (a neuron with its own output added back to its input). ``y`` is state (reset by
    ``reset_net``)."""

    def __init__(self, sub_module: nn.Module, element_wise_function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                 step_mode: str = "s"):
        super().__init__(step_mode)
        self.sub_module = sub_module
        self.element_wise_function = element_wise_function
        self.register_memory("y", None)

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        y_prev = torch.zeros_like(x) if self.y is None else self.y
        self.y = self.sub_module(self.element_wise_function(y_prev, x))
        self.advance_window()
        return self.y

    def extra_repr(self) -> str:
        return f"element_wise_function={getattr(self.element_wise_function, '__name__', self.element_wise_function)}, " \
               + super().extra_repr()


#: containers whose inner modules keep their own step mode under ``set_step_mode``
CONTAINERS_KEEP_INNER_STEP_MODE = (SeqToANNContainer, MultiStepContainer, ElementwiseRecurrentContainer)
for _container in CONTAINERS_KEEP_INNER_STEP_MODE:
    _container.keeps_inner_step_mode = True

__all__ = ["StepModeMixin", "Linear", "Conv2d", "BatchNorm2d", "AvgPool2d", "MaxPool2d", "Flatten", "Dropout",
           "SeqToANNContainer", "MultiStepContainer", "ElementwiseRecurrentContainer",
           "CONTAINERS_KEEP_INNER_STEP_MODE"]
