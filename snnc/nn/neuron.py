"""Spiking neurons: the PyTorch reference whose behaviour every target reproduces.

Every neuron runs, per step ``t`` with input ``X[t]`` (SpikingJelly's discrete-time model)::

    H[t] = f(V[t-1], X[t])                   charge (per class, below)
    S[t] = Θ(H[t] - V_th)                    fire, Θ(0) = 1 (the comparison is ``>=``)
    V[t] = V_reset if S[t] else H[t]         hard reset (``v_reset`` a number; gradient of H·(1-S) + V_reset·S)
    V[t] = H[t] - V_th·S[t]                  soft reset (``v_reset=None``)

``V[-1] = v_reset`` (hard) or 0 (soft). ``detach_reset`` cuts the gradient through ``S`` in the reset;
the surrogate function defines ``dS/dH`` in backward. ``v_threshold`` (and ``tau``/decays) may be a
number or a per-neuron tensor broadcastable to the per-step shape. In step mode ``'m'`` a backend other
than ``'torch'`` runs the whole sequence in one fused kernel (``snnc.runtime``).

Each step is :func:`snnc.ir.neuron.step`, the program every target runs, over the autograd
arithmetic below (the surrogate spike for the comparison; the hard reset a select whose gradient is
that of the blend ``H·(1 - S) + V_reset·S``, so it carries the gradient through ``S``). Each neuron describes itself as
the IR ``Neuron`` node it is (:meth:`BaseNode.ir_neuron`), the one description the step, the importer
and ``torch.export`` use.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..ir import neuron
from ..ir.torch_ops import exporting
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


def _leak(m) -> dict:
    """``v_leak`` when it is not 0 (``D = V - v_leak``; without it the step uses ``V`` itself)."""
    return {"v_leak": m.v_leak} if m.v_leak != 0.0 else {}


class _SpikeSelect(torch.autograd.Function):
    """``a where S else b`` for a 0/1 spike ``S`` (a Python float ``a`` allowed), with the gradient of
    the blend ``b·(1 - S) + a·S``: ``∂/∂S = a - b``, ``∂/∂b = 1 - S``, ``∂/∂a = S`` (the blend's
    gradient to rounding: autograd adds the two terms of ``∂/∂S`` to the other gradients of ``S`` in
    another order)."""

    @staticmethod
    def forward(ctx, s, a, b):
        ctx.a_is_tensor = isinstance(a, torch.Tensor)
        ctx.save_for_backward(s, a if ctx.a_is_tensor else None, b)
        ctx.a = None if ctx.a_is_tensor else a
        return torch.where(s != 0, a, b)

    @staticmethod
    def backward(ctx, grad):
        s, a, b = ctx.saved_tensors
        a = a if ctx.a_is_tensor else ctx.a
        grad_s = grad * a - grad * b if ctx.needs_input_grad[0] else None
        grad_a = grad * s if ctx.needs_input_grad[1] else None
        grad_b = grad * (1.0 - s) if ctx.needs_input_grad[2] else None
        return grad_s, grad_a, grad_b


class _SurrogateArithmetic(neuron.TensorArithmetic):
    """The step for training: fire is the surrogate spike of ``H - V_th``; a reset uses it detached
    when ``detach_reset``; a select has the gradient of the blend ``b·(1 - S) + a·S`` (the blend
    itself for a graded, non-spiking surrogate)."""

    def __init__(self, module, params: dict, like: torch.Tensor):
        super().__init__(params, like)
        self.surrogate, self.detach_reset = module.surrogate_function, module.detach_reset
        # snnc.nn.quantize_state's fake quantizers, when the module has them
        self.quantizers = {"v": module._modules.get("state_quant"), "i": module._modules.get("current_quant")}

    def store(self, value, tensor_class):
        quantize = self.quantizers.get(tensor_class)
        return value if quantize is None else quantize(value)

    def compare(self, op, a, b):
        return self.surrogate(a - b)

    def spike(self, cond):
        return cond.detach() if self.detach_reset else cond

    def output(self, cond):
        return cond

    def select(self, cond, a, b):
        s = self.spike(cond)
        if self.surrogate.spiking:
            return _SpikeSelect.apply(s, a, b)
        return b * (1.0 - s) + a * s  # a graded "spike" (spiking=False) blends


class BaseNode(MemoryModule):
    """Shared fire/reset machinery; a subclass names its charge (``charge_kind``, an IR charge) and
    gives its parameters (:meth:`charge_params`)."""

    charge_kind: str = ""
    #: the state the step reads and writes (``snnc.ir.neuron.step``'s names)
    state_names: tuple[str, ...] = ("v",)

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

    # the IR node it is ---------------------------------------------------------------------------
    def charge_params(self) -> dict:
        """The charge's parameters by IR name (Python floats or tensors, the values computed with)."""
        return {}

    def ir_neuron(self) -> tuple[dict, dict]:
        """``(attrs, params)`` of the IR ``Neuron`` node this module is (``snnc.ir.ops.Neuron``)."""
        attrs = {"charge": self.charge_kind, "compare": "ge", "reset": self.reset_mode,
                 "reset_timing": "immediate", "decay_input": bool(getattr(self, "decay_input", True)),
                 "window_size": int(self.window_size)}
        params = {"v_threshold": self.v_threshold}
        if self.v_reset is not None:
            params["v_reset"] = self.v_reset
        params.update(self.charge_params())
        return attrs, params

    def _check_state_shape(self, name: str, x: torch.Tensor) -> None:
        state = getattr(self, name)
        if state.shape != x.shape:
            raise ValueError(f"{type(self).__name__}: input of shape {tuple(x.shape)} but state {name!r} has shape "
                             f"{tuple(state.shape)}; call snnc.nn.reset_net(model) between sequences")

    def _init_state(self, x: torch.Tensor) -> None:
        for name in self.state_names:
            if not isinstance(getattr(self, name), torch.Tensor):
                setattr(self, name, torch.full_like(x, getattr(self, name)))
            self._check_state_shape(name, x)

    def _step(self, x: torch.Tensor) -> torch.Tensor:
        """Charge, fire and reset for one step; leaves ``V[t]`` in ``self.v`` (no window bookkeeping)."""
        self._init_state(x)
        attrs, params = self.ir_neuron()
        state = {name: getattr(self, name) for name in self.state_names}
        spike = neuron.step(_SurrogateArithmetic(self, params, x), attrs, x, state)
        for name in self.state_names:
            setattr(self, name, state[name])
        return spike

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One step or a sequence (``step_mode``), every backend; spikes of a spiking surrogate (0/1) are
        recorded for :func:`snnc.nn.compact_spikes`."""
        out = super().forward(x)
        if self.surrogate_function.spiking:
            record_spikes(out)
        return out

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        if exporting():  # one snnc::neuron_step op carries the semantics (snnc.nn.export)
            from .export import neuron_step
            return neuron_step(self, x)
        spike = self._step(x)
        self.advance_window()
        return spike

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        """``[T, N, ...]``: the steps in order; with ``store_v_seq`` also ``self.v_seq = V[0..T-1]``
        (the potential after each step's reset, before any window reset)."""
        if exporting():
            from .export import refuse_multi_step
            refuse_multi_step(self)
        if self.backend != "torch":
            return self._fused_forward(x_seq)
        spikes, v_seq = [], []
        for x in x_seq:
            spikes.append(self._step(x))
            if self.store_v_seq:
                v_seq.append(self.v)
            self.advance_window()
        if self.store_v_seq:
            self.v_seq = torch.stack(v_seq)
        return torch.stack(spikes)

    def _fused_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        """The fused kernel; inside :func:`snnc.nn.compact_spikes` it also writes the spikes' uint8 copy,
        recorded here (the record :meth:`forward` adds after it is then a no-op)."""
        from ..runtime import multistep, problem  # GPU runtime; imported lazily (triton/cupy optional)

        if x_seq.dim() < 2:
            raise ValueError(f"{type(self).__name__}: multi-step input must be [T, N, ...], got {list(x_seq.shape)}")
        attrs, params = self.ir_neuron()
        sg = self.surrogate_function
        fused = problem(attrs, params, x_seq, surrogate=getattr(sg, "kernel_name", ""),
                        surrogate_params=tuple(sg.kernel_params()), detach_reset=self.detach_reset,
                        store_v_seq=self.store_v_seq, window=self.window_size, steps0=self.steps_in_window)
        compact = recording() and sg.spiking
        state = {name: getattr(self, name) for name in self.state_names}
        spikes, last, v_seq, as_bytes = multistep(self.backend, fused, x_seq, state, spike_bytes=compact)
        if self.advance_window(x_seq.shape[0]):
            for name in self.state_names:
                setattr(self, name, last[name])
        if self.store_v_seq:
            self.v_seq = v_seq
        if compact:
            record_spikes(spikes, as_bytes)
        return spikes

    def extra_repr(self) -> str:
        return (f"v_threshold={self.v_threshold}, v_reset={self.v_reset}, detach_reset={self.detach_reset}, "
                f"backend={self.backend!r}, " + super().extra_repr())


class IF(BaseNode):
    """Integrate-and-fire: ``H[t] = V[t-1] + X[t]``."""

    charge_kind = "if"



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

    def charge_params(self):
        return {"tau": self.tau, **_leak(self)}

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

    def charge_params(self):
        return {"k": self.k, **_leak(self)}

    def extra_repr(self):
        return f"tau={1.0 / self.k.item():.4f}, decay_input={self.decay_input}, " + super().extra_repr()


class CubaLIF(BaseNode):
    """Current-based LIF (Loihi's CUBA neuron), with current decay ``du`` and voltage decay ``dv`` in
    [0, 1]: ``I[t] = I[t-1]·(1 - du) + X[t]``; ``H[t] = V[t-1]·(1 - dv) + I[t]``. ``I`` starts at 0 and
    is not reset by a spike (only by the window)."""

    charge_kind = "cuba"
    state_names = ("v", "i")

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

    def charge_params(self):
        return {"alpha": self.alpha, "beta": self.beta}

    def extra_repr(self):
        return f"current_decay={self.current_decay}, voltage_decay={self.voltage_decay}, " + super().extra_repr()


class ALIF(LIF):
    """Adaptive LIF (Bellec et al., NeurIPS 2018): the :class:`LIF` charge with a threshold that rises by
    ``beta_adapt`` per spike and relaxes with time constant ``tau_adapt >= 1``::

        H[t]  = V[t-1] + (X[t] - (V[t-1] - V_reset)) / tau            (decay_input; as LIF)
        th[t] = v_threshold + beta_adapt·b[t-1]
        S[t]  = Θ(H[t] - th[t])
        V[t]  = V_reset if S[t] else H[t]    |    H[t] - th[t]·S[t]    (hard | soft reset)
        b[t]  = b[t-1]·(1 - 1/tau_adapt) + S[t]                         b[-1] = 0

    (``1 - 1/tau_adapt`` is taken once, in double precision, as the IR's ``adapt_decay``). ``b``
    starts at 0 and returns to 0 at every window reset; ``detach_reset`` also cuts the gradient through
    the spike that feeds ``b``. The IR node is a ``lif`` ``Neuron`` with ``threshold="adaptive"``."""

    state_names = ("v", "b")

    def __init__(self, tau=20.0, tau_adapt=200.0, beta_adapt=1.8, decay_input: bool = True, v_threshold=1.0,
                 v_reset: float | None = 0.0, surrogate_function: SurrogateFunction | None = None,
                 detach_reset: bool = False, step_mode: str = "s", backend: str = "torch",
                 store_v_seq: bool = False, window_size: int = 0):
        super().__init__(tau, decay_input, v_threshold, v_reset, surrogate_function, detach_reset, step_mode,
                         backend, store_v_seq, window_size)
        self._set_hyper("tau_adapt", tau_adapt)
        if (torch.as_tensor(self.tau_adapt) < 1).any():
            raise ValueError(f"ALIF tau_adapt must be >= 1, got {tau_adapt}")
        self._set_hyper("beta_adapt", beta_adapt)
        self.register_memory("b", 0.0)

    @property
    def adapt_decay(self):
        """``1 - 1/tau_adapt``, the fraction of ``b`` kept per step."""
        if isinstance(self.tau_adapt, torch.Tensor):
            return 1.0 - 1.0 / self.tau_adapt.double()
        return 1.0 - 1.0 / self.tau_adapt

    def ir_neuron(self):
        attrs, params = super().ir_neuron()
        attrs["threshold"] = "adaptive"
        decay = self.adapt_decay
        params.update(adapt_decay=decay.to(self.tau_adapt.dtype) if isinstance(decay, torch.Tensor) else decay,
                      adapt_scale=self.beta_adapt)
        return attrs, params

    def extra_repr(self):
        return f"tau_adapt={self.tau_adapt}, beta_adapt={self.beta_adapt}, " + super().extra_repr()


__all__ = ["BaseNode", "IF", "LIF", "PLIF", "CubaLIF", "ALIF", "BACKENDS"]
