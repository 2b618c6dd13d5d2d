"""The floating-point neuron step, shared by ``snnc.nn`` and the reference interpreter.

These functions compute the charge / fire / reset equations stated in :class:`snnc.ir.ops.Neuron`'s
docstring. Both the PyTorch modules and the interpreter call them with the same kinds of arguments
(scalar hyperparameters as Python floats, per-neuron ones as tensors), so a model and the graph traced
from it agree bit for bit on every device. They are written with autograd in mind: ``snnc.nn`` passes
the surrogate spike, the interpreter the plain comparison.
"""

from __future__ import annotations

import torch

Scalar = float | torch.Tensor


def charge(kind: str, v: torch.Tensor, x: torch.Tensor, *, decay_input: bool = True,
           tau: Scalar | None = None, k: Scalar | None = None, beta: Scalar | None = None,
           v_leak: Scalar = 0.0) -> torch.Tensor:
    """``H`` for the ``if``, ``lif``, ``plif`` and ``beta`` charges (``cuba`` has :func:`charge_cuba`)."""
    if kind == "if":
        return v + x
    if kind == "lif":
        return v + (x - (v - v_leak)) / tau if decay_input else v - (v - v_leak) / tau + x
    if kind == "plif":
        return v + (x - (v - v_leak)) * k if decay_input else v - (v - v_leak) * k + x
    if kind == "beta":
        return beta * v + x
    raise ValueError(f"unknown charge {kind!r}")


def charge_cuba(i: torch.Tensor, v: torch.Tensor, x: torch.Tensor, alpha: Scalar, beta: Scalar):
    """``I = I·alpha + X``; ``H = V·beta + I``. Returns ``(I, H)``."""
    i = i * alpha + x
    return i, v * beta + i


def fire(h: torch.Tensor, v_threshold: Scalar, compare: str = "ge") -> torch.Tensor:
    """``S = H >= v_th`` (or ``>``) as 0/1 in ``h``'s dtype (no gradient)."""
    return (h >= v_threshold if compare == "ge" else h > v_threshold).to(h.dtype)


def reset(h: torch.Tensor, s: torch.Tensor, mode: str, v_threshold: Scalar, v_reset: Scalar | None):
    """``V`` after the reset: ``hard``: ``H·(1-S) + v_reset·S``; ``subtract``: ``H - v_th·S``; ``none``: ``H``.

    With ``S`` in {0, 1} these equal ``v_reset``/``H - v_th``/``H`` exactly; the arithmetic form keeps
    the gradient through ``S`` for surrogate training."""
    if mode == "hard":
        return h * (1.0 - s) + v_reset * s
    if mode == "subtract":
        return h - v_threshold * s
    if mode == "none":
        return h
    raise ValueError(f"unknown reset {mode!r}")
