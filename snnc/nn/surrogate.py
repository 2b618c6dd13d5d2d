"""Surrogate gradients: forward is the Heaviside step ``Θ(x) = [x >= 0]``, backward ``dΘ/dx`` is replaced
by the derivative of a smooth function ``g``. Each class states its ``g'(x)``; with ``spiking=False`` a
surrogate returns ``g(x)`` itself (for ANN-style pre-training).

The derivatives follow SpikingJelly's ``surrogate`` module (seed 001's ``cfunction`` list), term for
term, so gradients agree with SpikingJelly's to rounding.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def heaviside(x: torch.Tensor) -> torch.Tensor:
    """``Θ(x) = 1 if x >= 0 else 0`` in ``x``'s dtype."""
    return (x >= 0).to(x.dtype)


class _SurrogateSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, surrogate):
        if x.requires_grad:
            ctx.save_for_backward(x)
            ctx.surrogate = surrogate
        return heaviside(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return ctx.surrogate.backward_grad(grad_output, x), None


class SurrogateFunction(nn.Module):
    """Base: ``forward(x)`` = Θ(x) with the surrogate backward (or ``g(x)`` if ``spiking=False``)."""

    #: name used by the fused GPU kernels to pick the same derivative
    kernel_name: str = ""

    def __init__(self, alpha: float, spiking: bool = True):
        super().__init__()
        self.alpha = float(alpha)
        self.spiking = spiking

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.spiking:
            return _SurrogateSpike.apply(x, self)
        return self.primitive(x)

    def backward_grad(self, grad_output: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``grad_output · g'(x)``."""
        raise NotImplementedError

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        """The smooth ``g(x)`` whose derivative is the surrogate."""
        raise NotImplementedError

    def kernel_params(self) -> tuple[float, ...]:
        """Parameters the fused kernels need, in order."""
        return (self.alpha,)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, spiking={self.spiking}"


class Sigmoid(SurrogateFunction):
    """``g(x) = sigmoid(αx)``; ``g'(x) = α·sigmoid(αx)·(1 - sigmoid(αx))``."""

    kernel_name = "sigmoid"

    def __init__(self, alpha: float = 4.0, spiking: bool = True):
        super().__init__(alpha, spiking)

    def backward_grad(self, grad_output, x):
        sg = torch.sigmoid(x * self.alpha)
        return grad_output * (1.0 - sg) * sg * self.alpha

    def primitive(self, x):
        return torch.sigmoid(x * self.alpha)


class ATan(SurrogateFunction):
    """``g(x) = arctan(π/2·αx)/π + 1/2``; ``g'(x) = α/2 / (1 + (π/2·αx)²)``."""

    kernel_name = "atan"

    def __init__(self, alpha: float = 2.0, spiking: bool = True):
        super().__init__(alpha, spiking)

    def backward_grad(self, grad_output, x):
        return self.alpha / 2 / (1 + (math.pi / 2 * self.alpha * x).pow(2)) * grad_output

    def primitive(self, x):
        return (math.pi / 2 * self.alpha * x).atan() / math.pi + 0.5
