"""Whole-network helpers: reset, step mode, backend, detaching state, and the T-folding forwards."""

from __future__ import annotations

import torch
from torch import nn

from .base import MemoryModule, StepModule


def reset_net(net: nn.Module) -> None:
    """Reset the state of every stateful module in ``net`` (call between independent sequences)."""
    for m in net.modules():
        if isinstance(m, MemoryModule):
            m.reset()


def detach_net(net: nn.Module) -> None:
    """Detach the state of every stateful module from the autograd graph (truncated BPTT)."""
    for m in net.modules():
        if isinstance(m, MemoryModule):
            m.detach()


def set_step_mode(net: nn.Module, step_mode: str) -> None:
    """Set ``step_mode`` ('s' or 'm') on every snnc module in ``net``, except inside containers that
    drive their inner modules step by step (``keeps_inner_step_mode``: SeqToANNContainer,
    MultiStepContainer, ElementwiseRecurrentContainer); those keep their own mode."""
    pending = [net]
    while pending:
        m = pending.pop()
        if isinstance(m, StepModule):
            m.step_mode = step_mode
        if not getattr(m, "keeps_inner_step_mode", False):
            pending.extend(m.children())


def set_backend(net: nn.Module, backend: str, instance=None) -> None:
    """Set ``backend`` on every neuron in ``net`` (optionally only instances of ``instance``)."""
    from .neuron import BaseNode

    for m in net.modules():
        if isinstance(m, instance or BaseNode) and isinstance(m, BaseNode):
            m.backend = backend


def set_window_size(net: nn.Module, window_size: int) -> None:
    """Give every stateful module the same fixed window (what the readout pass does on the IR)."""
    for m in net.modules():
        if isinstance(m, MemoryModule):
            m.window_size = int(window_size)


def multi_step_forward(x_seq: torch.Tensor, single_step_module) -> torch.Tensor:
    """Apply a single-step module (or a list of them, in order) to each step of ``[T, N, ...]``."""
    modules = single_step_module if isinstance(single_step_module, (list, tuple, nn.Sequential)) else [single_step_module]
    out = []
    for x in x_seq:
        for m in modules:
            x = m(x)
        out.append(x)
    return torch.stack(out)


def seq_to_ann_forward(x_seq: torch.Tensor, stateless_module) -> torch.Tensor:
    """Apply a stateless module to ``[T, N, ...]`` with ``T`` folded into the batch: ``[T·N, ...]``."""
    modules = stateless_module if isinstance(stateless_module, (list, tuple, nn.Sequential)) else [stateless_module]
    t, n = x_seq.shape[:2]
    y = x_seq.flatten(0, 1)
    for m in modules:
        y = m(y)
    return y.reshape(t, n, *y.shape[1:])
