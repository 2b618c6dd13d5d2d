"""Spike encoders: turn intensities ``x ∈ [0, 1]`` into spike trains (SpikingJelly paper, eqs. 8–11).

Both encoders have :meth:`encode` ``(x [N, ...], T) -> [T, N, ...]`` for a static input (what the
digits example uses, outside the model), and a step-mode ``forward``:

- ``'s'``: one step ``[N, ...] -> [N, ...]``;
- ``'m'``: ``[T, N, ...] -> [T, N, ...]``, step ``t`` encoded from ``x[t]`` (pass a static input
  repeated over time, ``x.expand(T, *x.shape)``).

Outputs are 0/1 in ``x``'s dtype.
"""

from __future__ import annotations

import torch

from .base import MemoryModule


def _check_unit_interval(x: torch.Tensor, who: str) -> None:
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"{who} expects intensities in [0, 1], got values in "
                         f"[{x.min().item():g}, {x.max().item():g}]; scale the input first")


class PoissonEncoder(MemoryModule):
    """Rate code (eq. 11): every step, independently, ``S[t] = 1`` with probability ``x``:
    ``S[t] = [u[t] < x]`` with ``u[t]`` uniform in ``[0, 1)``. So ``x = 0`` never fires and ``x = 1``
    fires every step; the spike count over ``T`` steps is Binomial(T, x), SpikingJelly's approximation
    of the Poisson law of eq. 10. ``generator`` (a ``torch.Generator``) makes the draws reproducible;
    without it the global RNG is used. Stateless apart from the generator."""

    def __init__(self, step_mode: str = "s", generator: torch.Generator | None = None):
        super().__init__(step_mode)
        self.generator = generator

    def _spikes(self, x: torch.Tensor) -> torch.Tensor:
        _check_unit_interval(x, "PoissonEncoder")
        u = torch.rand(x.shape, generator=self.generator, device=x.device,
                       dtype=x.dtype if x.is_floating_point() else torch.float32)
        return (u < x).to(x.dtype if x.is_floating_point() else torch.float32)

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._spikes(x)

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self._spikes(x_seq)

    def encode(self, x: torch.Tensor, T: int) -> torch.Tensor:
        """``[N, ...] -> [T, N, ...]``: ``T`` independent draws of the static input ``x``."""
        return self._spikes(x.unsqueeze(0).expand(int(T), *x.shape))

    def __getstate__(self):
        state = self.__dict__.copy()
        state["generator"] = None  # generators do not pickle
        return state


class LatencyEncoder(MemoryModule):
    """Latency (time-to-first-spike) code (eqs. 8–9): each input fires exactly once in a window of
    ``T`` steps, at ``t_f = round((T - 1)·(1 - x))`` (``round`` = round half to even, as
    ``torch.round``): ``S[t] = 1 if t == t_f else 0``. Larger ``x`` fires earlier; ``x = 1`` fires at
    ``t = 0`` and ``x = 0`` at ``t = T - 1``. Deterministic.

    In ``'s'`` mode the encoder counts steps: call ``i`` (from 0 after a reset) emits
    ``[i mod T == t_f(x)]``, so ``T`` calls with the same ``x`` produce its code and the count wraps to
    the next window. In ``'m'`` mode step ``t`` of ``[T', N, ...]`` emits ``[t mod T == t_f(x[t])]``."""

    def __init__(self, T: int, step_mode: str = "s"):
        super().__init__(step_mode)
        if int(T) < 1:
            raise ValueError(f"LatencyEncoder T must be >= 1, got {T}")
        self.T = int(T)
        self.register_memory("index", 0)

    def firing_time(self, x: torch.Tensor, T: int | None = None) -> torch.Tensor:
        """``t_f = round((T - 1)·(1 - x))`` as int64 (``T`` defaults to ``self.T``)."""
        _check_unit_interval(x, "LatencyEncoder")
        T = self.T if T is None else int(T)
        return torch.round((T - 1) * (1.0 - x.to(torch.float64))).to(torch.int64)

    def _dtype(self, x):
        return x.dtype if x.is_floating_point() else torch.float32

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        out = (self.firing_time(x) == self.index).to(self._dtype(x))
        self.index = (self.index + 1) % self.T
        self.advance_window()
        return out

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        if self.window_size:
            return super().multi_step_forward(x_seq)
        steps = torch.arange(x_seq.shape[0], device=x_seq.device) + self.index
        steps = (steps % self.T).reshape(-1, *([1] * (x_seq.dim() - 1)))
        out = (self.firing_time(x_seq) == steps).to(self._dtype(x_seq))
        self.index = (self.index + x_seq.shape[0]) % self.T
        return out

    def encode(self, x: torch.Tensor, T: int | None = None) -> torch.Tensor:
        """``[N, ...] -> [T, N, ...]``: the code of the static input ``x`` (``T`` defaults to ``self.T``)."""
        T = self.T if T is None else int(T)
        t_f = self.firing_time(x, T)
        steps = torch.arange(T, device=x.device).reshape(-1, *([1] * x.dim()))
        return (t_f.unsqueeze(0) == steps).to(self._dtype(x))

    def extra_repr(self) -> str:
        return f"T={self.T}, " + super().extra_repr()


__all__ = ["PoissonEncoder", "LatencyEncoder"]
