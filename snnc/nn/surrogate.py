"""Surrogate gradients: forward is the Heaviside step ``Θ(x) = [x >= 0]``, backward ``dΘ/dx`` is replaced
by the derivative of a smooth function ``g``. Each class states its ``g'(x)``; with ``spiking=False`` a
surrogate returns ``g(x)`` itself (for ANN-style pre-training).

The derivatives follow SpikingJelly's ``surrogate`` module (and the ``cfunction`` helpers of its ``auto_cuda`` code generator), term for
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
    """Base: ``forward(x)`` = Θ(x) with the surrogate backward (or ``g(x)`` if ``spiking=False``).

    Subclasses name their parameters in ``param_names`` (stored as float attributes, in the order the
    fused GPU kernels take them: :meth:`kernel_params`) and implement :meth:`derivative` (``g'``) and
    :meth:`primitive` (``g``)."""

    #: name used by the fused GPU kernels to pick the same derivative
    kernel_name: str = ""
    #: the parameters, in kernel order
    param_names: tuple[str, ...] = ("alpha",)

    def __init__(self, alpha: float = 1.0, spiking: bool = True, **params: float):
        super().__init__()
        params = {"alpha": alpha, **params}
        for name in self.param_names:
            setattr(self, name, float(params[name]))
        self.spiking = spiking

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.spiking:
            return _SurrogateSpike.apply(x, self)
        return self.primitive(x)

    def derivative(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """``g'(x)``."""
        raise NotImplementedError(f"{type(self).__name__} must define derivative")

    def backward_grad(self, grad_output: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``grad_output · g'(x)``."""
        return grad_output * self.derivative(x)

    def primitive(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """The smooth ``g(x)`` whose derivative is the surrogate."""
        raise NotImplementedError(f"{type(self).__name__} must define primitive")

    def kernel_params(self) -> tuple[float, ...]:
        """Parameters the fused kernels need, in order (``param_names``)."""
        return tuple(float(getattr(self, name)) for name in self.param_names)

    def extra_repr(self) -> str:
        return ", ".join(f"{n}={getattr(self, n)}" for n in self.param_names) + f", spiking={self.spiking}"


class Sigmoid(SurrogateFunction):
    """``g(x) = sigmoid(αx)``; ``g'(x) = α·sigmoid(αx)·(1 - sigmoid(αx))``."""

    kernel_name = "sigmoid"

    def __init__(self, alpha: float = 4.0, spiking: bool = True):
        super().__init__(alpha, spiking)

    def derivative(self, x):
        sg = torch.sigmoid(x * self.alpha)
        return (1.0 - sg) * sg * self.alpha

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

    def derivative(self, x):
        return self.alpha / 2 / (1 + (math.pi / 2 * self.alpha * x).pow(2))

    def backward_grad(self, grad_output, x):
        return self.derivative(x) * grad_output

    def primitive(self, x):
        return (math.pi / 2 * self.alpha * x).atan() / math.pi + 0.5


class PiecewiseLeakyReLU(SurrogateFunction):
    """Piecewise linear with leaky tails, window half-width ``w > 0`` and tail slope ``c``:
    ``g'(x) = 1/(2w)`` for ``|x| < w``, ``c`` for ``|x| >= w``;
    ``g(x) = c·x + c·w`` (``x < -w``), ``x/(2w) + 1/2`` (``|x| <= w``), ``c·x - c·w + 1`` (``x > w``)."""

    kernel_name = "piecewise_leaky_relu"
    param_names = ("w", "c")

    def __init__(self, w: float = 1.0, c: float = 0.01, spiking: bool = True):
        if w <= 0:
            raise ValueError(f"PiecewiseLeakyReLU w must be > 0, got {w}")
        super().__init__(spiking=spiking, w=w, c=c)

    def derivative(self, x):
        inside = x.abs() < self.w
        return torch.where(inside, torch.full_like(x, 1.0 / (2.0 * self.w)), torch.full_like(x, self.c))

    def primitive(self, x):
        w, c = self.w, self.c
        middle = x / (2.0 * w) + 0.5
        return torch.where(x < -w, c * x + c * w, torch.where(x > w, c * x - c * w + 1.0, middle))


class S2NN(SurrogateFunction):
    """S2NN: a sigmoid slope below 0 and a logarithmic tail above:
    ``g'(x) = α·sigmoid(αx)·(1 - sigmoid(αx))`` for ``x < 0``, ``β / (x + 1)`` for ``x >= 0``;
    ``g(x) = sigmoid(αx)`` (``x < 0``), ``β·ln(x + 1) + 1/2`` (``x >= 0``)."""

    kernel_name = "s2nn"
    param_names = ("alpha", "beta")

    def __init__(self, alpha: float = 4.0, beta: float = 1.0, spiking: bool = True):
        super().__init__(alpha, spiking, beta=beta)

    def derivative(self, x):
        sg = torch.sigmoid(self.alpha * x)
        negative = self.alpha * sg * (1.0 - sg)
        positive = self.beta / (x.clamp_min(0.0) + 1.0)
        return torch.where(x < 0.0, negative, positive)

    def primitive(self, x):
        return torch.where(x < 0.0, torch.sigmoid(self.alpha * x), self.beta * torch.log1p(x.clamp_min(0.0)) + 0.5)


class QPseudoSpike(SurrogateFunction):
    """q-PseudoSpike with tail parameter ``α > 1`` (``q`` of Herranz-Celotti & Rouat):
    ``g'(x) = (1 + 2|x|/(α - 1))^(-α)``;
    ``g(x) = ½·(1 - 2x/(α - 1))^(1 - α)`` (``x < 0``), ``1 - ½·(1 + 2x/(α - 1))^(1 - α)`` (``x >= 0``)."""

    kernel_name = "q_pseudo_spike"

    def __init__(self, alpha: float = 2.0, spiking: bool = True):
        if alpha <= 1:
            raise ValueError(f"QPseudoSpike alpha must be > 1, got {alpha}")
        super().__init__(alpha, spiking)

    def derivative(self, x):
        return (1.0 + 2.0 / (self.alpha - 1.0) * x.abs()).pow(-self.alpha)

    def primitive(self, x):
        half_tail = 0.5 * (1.0 + 2.0 / (self.alpha - 1.0) * x.abs()).pow(1.0 - self.alpha)
        return torch.where(x < 0.0, half_tail, 1.0 - half_tail)


class LeakyKReLU(SurrogateFunction):
    """Two slopes: ``g'(x) = k`` for ``x >= 0``, ``leak`` for ``x < 0``;
    ``g(x) = k·x`` (``x >= 0``), ``leak·x`` (``x < 0``)."""

    kernel_name = "leaky_k_relu"
    param_names = ("leak", "k")

    def __init__(self, leak: float = 0.0, k: float = 1.0, spiking: bool = True):
        super().__init__(spiking=spiking, leak=leak, k=k)

    def derivative(self, x):
        return torch.where(x >= 0.0, torch.full_like(x, self.k), torch.full_like(x, self.leak))

    def primitive(self, x):
        return torch.where(x >= 0.0, self.k * x, self.leak * x)


class FakeNumericalGradient(SurrogateFunction):
    """Emulates the numerical gradient of the step, clipped at ``α``:
    ``g'(x) = min(σ(x)/x, α)`` with ``σ(x) = 1`` for ``x >= 0`` and ``-1`` for ``x < 0``, i.e.
    ``min(1/|x|, α)``, and ``α`` at ``x = ±0`` (SpikingJelly computes ``σ(x)/x`` and so returns ``-inf``
    at ``x = -0.0``; elsewhere the two agree exactly). It has no primitive, so it is spiking only."""

    kernel_name = "fake_numerical_gradient"

    def __init__(self, alpha: float = 0.3, spiking: bool = True):
        if not spiking:
            raise ValueError("FakeNumericalGradient has no primitive function; it supports spiking=True only")
        super().__init__(alpha, spiking)

    def derivative(self, x):
        return x.abs().reciprocal().clamp_max(self.alpha)

    def primitive(self, x):
        raise ValueError("FakeNumericalGradient has no primitive function")


class LogTailedReLU(SurrogateFunction):
    """Log-tailed ReLU (Cai et al., half-wave Gaussian quantization):
    ``g'(x) = α`` (``x <= 0``), ``1`` (``0 < x <= 1``), ``1/x`` (``x > 1``);
    ``g(x) = α·x`` (``x <= 0``), ``x`` (``0 < x <= 1``), ``ln(x) + 1`` (``x > 1``)."""

    kernel_name = "log_tailed_relu"

    def __init__(self, alpha: float = 0.0, spiking: bool = True):
        super().__init__(alpha, spiking)

    def derivative(self, x):
        tail = 1.0 / x.clamp_min(1.0)
        return torch.where(x <= 0.0, torch.full_like(x, self.alpha), tail)

    def primitive(self, x):
        return torch.where(x > 1.0, torch.log(x.clamp_min(1.0)) + 1.0,
                           torch.where(x <= 0.0, self.alpha * x, x))


SURROGATES = {cls.kernel_name: cls for cls in (Sigmoid, ATan, PiecewiseLeakyReLU, S2NN, QPseudoSpike, LeakyKReLU,
                                                FakeNumericalGradient, LogTailedReLU)}

__all__ = ["heaviside", "SurrogateFunction", "SURROGATES"] + [cls.__name__ for cls in SURROGATES.values()]
