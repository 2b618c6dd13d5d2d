"""Spiking neurons: the PyTorch reference whose behaviour every target reproduces.

Every neuron runs, per step ``t`` with input ``X[t]`` (SpikingJelly's discrete-time model)::

    H[t] = f(V[t-1], X[t])                   charge (per class, below)
    S[t] = Θ(H[t] - V_th)                    fire, Θ(0) = 1 (the comparison is ``>=``)
    V[t] = H[t]·(1 - S[t]) + V_reset·S[t]    hard reset (``v_reset`` a number)
    V[t] = H[t] - V_th·S[t]                  soft reset (``v_reset=None``)

``V[-1] = v_reset`` (hard) or 0 (soft). ``detach_reset`` cuts the gradient through ``S`` in the reset;
the surrogate function defines ``dS/dH`` in backward. ``v_threshold`` (and ``tau``/decays) may be a
number or a per-neuron tensor broadcastable to the per-step shape. In step mode ``'m'`` a backend other
than ``'torch'`` runs the whole sequence in one fused kernel (``snnc.runtime``).

The numeric core is ``snnc.ir.dynamics``, shared with the reference interpreter.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..ir import dynamics
from .base import MemoryModule
from .memory import record_spikes, recording
from .surrogate import Sigmoid, SurrogateFunction

BACKENDS = ("torch", "triton", "cupy")


def _hyper(value, name: str):
    """A hyperparameter: a Python float, or a per-neuron float tensor (kept as a buffer)."""
    if isinstance(value, torch.Tensor):
        if not value.is_floating_point():
            raise TypeError(f"{name} must be a float tensor, got {value.dtype}")
        return value.detach().clone() if value.dim() else float(value)
    return float(value)


class BaseNode(MemoryModule):
    """Shared fire/reset machinery; subclasses define ``charge``."""

    charge_kind: str = ""

    def __init__(self, v_threshold=1.0, v_reset: float | None = 0.0,
                 surrogate_function: SurrogateFunction | None = None, detach_reset: bool = False,
                 step_mode: str = "s", backend: str = "torch", store_v_seq: bool = False,
                 window_size: int = 0):
        super().__init__(step_mode, window_size)
        self._set_hyper("v_threshold", v_threshold)
        self.v_reset = None if v_reset is None else float(v_reset)
        self.surrogate_function = surrogate_function if surrogate_function is not None else Sigmoid()
        self.detach_reset = detach_reset
        self.backend = backend
        self.store_v_seq = store_v_seq
        self.register_memory("v", 0.0 if v_reset is None else float(v_reset))
        self.register_memory("v_seq", None)

    # parameters ---------------------------------------------------------------------------------
    def _set_hyper(self, name: str, value) -> None:
        value = _hyper(value, name)
        if isinstance(value, torch.Tensor):
            self.register_buffer(name, value)
        else:
            setattr(self, name, value)

    @property
    def backend(self) -> str:
        return self._backend

    @backend.setter
    def backend(self, value: str) -> None:
        if value not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {value!r}")
        self._backend = value

    @property
    def v_leak(self) -> float:
        """The potential the leak pulls towards: ``v_reset`` (hard reset) or 0 (soft reset)."""
        return 0.0 if self.v_reset is None else self.v_reset

    @property
    def reset_mode(self) -> str:
        return "subtract" if self.v_reset is None else "hard"

    # dynamics -----------------------------------------------------------------------------------
    def charge(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_state_shape(self, name: str, x: torch.Tensor) -> None:
        state = getattr(self, name)
        if state.shape != x.shape:
            raise ValueError(f"{type(self).__name__}: input of shape {tuple(x.shape)} but state {name!r} has shape "
                             f"{tuple(state.shape)}; call snnc.nn.reset_net(model) between sequences")

    def _init_state(self, x: torch.Tensor) -> None:
        if not isinstance(self.v, torch.Tensor):
            self.v = torch.full_like(x, self.v)
        self._check_state_shape("v", x)

    def _step(self, x: torch.Tensor) -> torch.Tensor:
        """Charge, fire and reset for one step; leaves ``V[t]`` in ``self.v`` (no window bookkeeping)."""
        self._init_state(x)
        h = self.charge(x)
        spike = self.surrogate_function(h - self.v_threshold)
        spike_r = spike.detach() if self.detach_reset else spike
        self.v = dynamics.reset(h, spike_r, self.reset_mode, self.v_threshold, self.v_reset)
        return spike

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One step or a sequence (``step_mode``), every backend; spikes of a spiking surrogate (0/1) are
        recorded for :func:`snnc.nn.compact_spikes`."""
        out = super().forward(x)
        if self.surrogate_function.spiking:
            record_spikes(out)
        return out

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.compiler.is_exporting():  # one snnc::neuron_step op carries the semantics (snnc.nn.export)
            from .export import neuron_step
            return neuron_step(self, x)
        spike = self._step(x)
        self._advance_window()
        return spike

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        """``[T, N, ...]``: the steps in order; with ``store_v_seq`` also ``self.v_seq = V[0..T-1]``
        (the potential after each step's reset, before any window reset)."""
        if torch.compiler.is_exporting():
            from .export import refuse_multi_step
            refuse_multi_step(self)
        if self.backend != "torch":
            return self._fused_forward(x_seq)
        spikes, v_seq = [], []
        for x in x_seq:
            spikes.append(self._step(x))
            if self.store_v_seq:
                v_seq.append(self.v)
            self._advance_window()
        if self.store_v_seq:
            self.v_seq = torch.stack(v_seq)
        return torch.stack(spikes)

    def _fused_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        """The fused kernel; inside :func:`snnc.nn.compact_spikes` it also writes the spikes' uint8 copy,
        recorded here (the record :meth:`forward` adds after it is then a no-op)."""
        from ..runtime import neuron_forward  # GPU runtime; imported lazily (triton/cupy optional)

        compact = recording() and self.surrogate_function.spiking
        spikes, as_bytes = neuron_forward(self, x_seq, spike_bytes=compact)
        if compact:
            record_spikes(spikes, as_bytes)
        return spikes

    def extra_repr(self) -> str:
        return (f"v_threshold={self.v_threshold}, v_reset={self.v_reset}, detach_reset={self.detach_reset}, "
                f"backend={self.backend!r}, " + super().extra_repr())


class IF(BaseNode):
    """Integrate-and-fire: ``H[t] = V[t-1] + X[t]``."""

    charge_kind = "if"

    def charge(self, x):
        return dynamics.charge("if", self.v, x)


class LIF(BaseNode):
    """Leaky integrate-and-fire, ``tau > 1``:
    ``H[t] = V[t-1] + (X[t] - (V[t-1] - V_reset)) / tau`` (``decay_input=True``) or
    ``H[t] = V[t-1] - (V[t-1] - V_reset) / tau + X[t]`` (``decay_input=False``);
    ``V_reset`` reads 0 here under soft reset."""

    charge_kind = "lif"

    def __init__(self, tau=2.0, decay_input: bool = True, v_threshold=1.0, v_reset: float | None = 0.0,
                 surrogate_function: SurrogateFunction | None = None, detach_reset: bool = False,
                 step_mode: str = "s", backend: str = "torch", store_v_seq: bool = False, window_size: int = 0):
        super().__init__(v_threshold, v_reset, surrogate_function, detach_reset, step_mode, backend,
                         store_v_seq, window_size)
        self._set_hyper("tau", tau)
        if (torch.as_tensor(self.tau) <= 1).any():
            raise ValueError(f"LIF tau must be > 1, got {tau}")
        self.decay_input = decay_input

    def charge(self, x):
        return dynamics.charge("lif", self.v, x, decay_input=self.decay_input, tau=self.tau, v_leak=self.v_leak)

    def extra_repr(self):
        return f"tau={self.tau}, decay_input={self.decay_input}, " + super().extra_repr()


class PLIF(BaseNode):
    """Parametric LIF: as :class:`LIF` with ``1/tau = k = sigmoid(w)`` and ``w`` learnable
    (``w₀ = -ln(init_tau - 1)``):
    ``H[t] = V[t-1] + (X[t] - (V[t-1] - V_reset))·k`` (``decay_input``) or
    ``H[t] = V[t-1] - (V[t-1] - V_reset)·k + X[t]``."""

    charge_kind = "plif"

    def __init__(self, init_tau: float = 2.0, decay_input: bool = True, v_threshold=1.0,
                 v_reset: float | None = 0.0, surrogate_function: SurrogateFunction | None = None,
                 detach_reset: bool = False, step_mode: str = "s", backend: str = "torch",
                 store_v_seq: bool = False, window_size: int = 0):
        super().__init__(v_threshold, v_reset, surrogate_function, detach_reset, step_mode, backend,
                         store_v_seq, window_size)
        if init_tau <= 1:
            raise ValueError(f"PLIF init_tau must be > 1, got {init_tau}")
        self.w = nn.Parameter(torch.as_tensor(-math.log(init_tau - 1.0)))
        self.decay_input = decay_input

    @property
    def k(self) -> torch.Tensor:
        return self.w.sigmoid()

    def charge(self, x):
        return dynamics.charge("plif", self.v, x, decay_input=self.decay_input, k=self.k, v_leak=self.v_leak)

    def extra_repr(self):
        return f"tau={1.0 / self.k.item():.4f}, decay_input={self.decay_input}, " + super().extra_repr()


class CubaLIF(BaseNode):
    """Current-based LIF (Loihi's CUBA neuron), with current decay ``du`` and voltage decay ``dv`` in
    [0, 1]: ``I[t] = I[t-1]·(1 - du) + X[t]``; ``H[t] = V[t-1]·(1 - dv) + I[t]``. ``I`` starts at 0 and
    is not reset by a spike (only by the window)."""

    charge_kind = "cuba"

    def __init__(self, current_decay=0.5, voltage_decay=0.5, v_threshold=1.0, v_reset: float | None = 0.0,
                 surrogate_function: SurrogateFunction | None = None, detach_reset: bool = False,
                 step_mode: str = "s", backend: str = "torch", store_v_seq: bool = False, window_size: int = 0):
        super().__init__(v_threshold, v_reset, surrogate_function, detach_reset, step_mode, backend,
                         store_v_seq, window_size)
        for name, value in (("current_decay", current_decay), ("voltage_decay", voltage_decay)):
            if (torch.as_tensor(value) < 0).any() or (torch.as_tensor(value) > 1).any():
                raise ValueError(f"CubaLIF {name} must be in [0, 1], got {value}")
            self._set_hyper(name, value)
        self.register_memory("i", 0.0)

    @property
    def alpha(self):
        """Current decay multiplier ``1 - du``."""
        return 1.0 - self.current_decay

    @property
    def beta(self):
        """Voltage decay multiplier ``1 - dv``."""
        return 1.0 - self.voltage_decay

    def _init_state(self, x):
        super()._init_state(x)
        if not isinstance(self.i, torch.Tensor):
            self.i = torch.full_like(x, self.i)
        self._check_state_shape("i", x)

    def charge(self, x):
        self.i, h = dynamics.charge_cuba(self.i, self.v, x, self.alpha, self.beta)
        return h

    def extra_repr(self):
        return f"current_decay={self.current_decay}, voltage_decay={self.voltage_decay}, " + super().extra_repr()


__all__ = ["BaseNode", "IF", "LIF", "PLIF", "CubaLIF", "BACKENDS"]
