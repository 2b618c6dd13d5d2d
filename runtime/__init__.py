"""snnc.runtime — fused multi-step neuron kernels for the GPU (Triton, and CUDA generated through CuPy).

``runtime`` imports nothing of snnc. A neuron is described as the IR ``Neuron`` node it is
(``attrs``/``params``: ``snnc.nn`` neurons give theirs with ``ir_neuron()``, the gpu target passes the
graph's node), plus what training adds (surrogate, ``detach_reset``, ``store_v_seq``) and where in
its window the sequence starts; :func:`problem` turns that into plain values (:class:`NeuronProblem`)
and :func:`multistep` runs one fused kernel over the whole ``[T, N, ...]`` sequence:

- ``backend='triton'``: ``snnc.runtime.triton`` (``torch.library.triton_op``, works under
  ``torch.compile``; on CPU tensors only with ``TRITON_INTERPRET=1``);
- ``backend='cupy'``: ``snnc.runtime.cuda`` (CUDA source generated as strings, compiled by CuPy).

:class:`CapturedStep` (``capture.py``) records a whole training step of a network built on these
kernels (forward, loss, backward, optimizer step) into one CUDA graph and replays it.

Semantics are those of the IR's ``Neuron`` op (``snnc.ir.neuron.step``) and of the PyTorch loop in
``snnc.nn`` (see ``triton/kernels.py`` for the equations and the operation order).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from .surrogates import SURROGATES, surrogate_code

CHARGES = {"if": 0, "lif": 1, "plif": 2, "cuba": 3}


@dataclass
class NeuronProblem:
    """Everything a fused kernel needs, as plain values.

    ``v_threshold``, the charge's parameters (``tau``: lif; ``k``: plif; ``alpha``, ``beta``: cuba) and an
    adaptive threshold's (``adapt_decay``, ``adapt_scale``; ``threshold="adaptive"``) are Python floats
    or tensors: ``[N]`` per neuron, or one element (plif ``k``, learnable)."""

    charge: str
    hard: bool
    v_reset: float
    v_leak: float
    v_init: float
    detach_reset: bool
    decay_input: bool
    surrogate: str
    surrogate_params: tuple
    v_threshold: float | torch.Tensor
    tau: float | torch.Tensor = 0.0
    k: float | torch.Tensor = 0.0
    alpha: float | torch.Tensor = 0.0
    beta: float | torch.Tensor = 0.0
    threshold: str = "fixed"
    adapt_decay: float | torch.Tensor = 0.0
    adapt_scale: float | torch.Tensor = 0.0
    window: int = 0
    steps0: int = 0
    store_v_seq: bool = False
    key: tuple | None = None

    @property
    def decay(self) -> float | torch.Tensor:
        """The kernels' first charge parameter: ``tau`` (lif), ``k`` (plif) or ``alpha`` (cuba)."""
        return {"lif": self.tau, "plif": self.k, "cuba": self.alpha}.get(self.charge, 0.0)


def _per_neuron(value, shape, dtype):
    """A float stays a float; a tensor is broadcast to the per-step shape and flattened."""
    if isinstance(value, torch.Tensor):
        return value.to(dtype).expand(shape).contiguous().reshape(-1)
    return float(value)


_PROBLEMS: dict = {}
_LEARNED = ("k",)  # read again every call (PLIF's sigmoid(w) changes with every optimizer step)


def problem(attrs: dict, params: dict, x_seq: torch.Tensor, *, surrogate: str = "sigmoid",
            surrogate_params: tuple = (4.0,), detach_reset: bool = True, store_v_seq: bool = False,
            window: int = 0, steps0: int = 0) -> NeuronProblem:
    """The :class:`NeuronProblem` of a ``Neuron`` node (``attrs``, and ``params`` as Python floats or
    tensors) on ``x_seq``, starting ``steps0`` steps into a ``window`` (0: none). Cached while every
    parameter but PLIF's ``k`` is a number: the host work per call is what limits short sequences."""
    charge = attrs["charge"]
    if charge not in CHARGES:
        raise ValueError(f"charge {charge!r} has no fused kernel; expected one of {', '.join(CHARGES)}")
    fixed = {key: value for key, value in params.items() if key not in _LEARNED}
    key = None
    if not any(isinstance(value, torch.Tensor) for value in fixed.values()):
        # (a problem of numbers depends on neither the shape nor the dtype: nothing symbolic in the key
        # under torch.compile's dynamic shapes; no sorting either, which dynamo cannot trace)
        key = (tuple(attrs.items()), tuple(fixed.items()), surrogate, tuple(surrogate_params),
               bool(detach_reset), bool(store_v_seq), int(window))
    cached = _PROBLEMS.get(key) if key is not None else None
    if cached is None:
        cached = _build(attrs, params, x_seq, surrogate, surrogate_params, detach_reset, store_v_seq, window)
        cached.key = key
        if key is not None:
            _PROBLEMS[key] = cached
    # the per-call values, in a new problem (dataclasses.replace: dynamo traces it, not copy.copy)
    changes = {}
    if charge == "plif":
        k = params["k"]
        changes["k"] = k.reshape(1) if isinstance(k, torch.Tensor) else float(k)
    if window and int(steps0) != cached.steps0:
        changes["steps0"] = int(steps0)
    return dataclasses.replace(cached, **changes) if changes else cached


def _build(attrs, params, x_seq, surrogate, surrogate_params, detach_reset, store_v_seq, window) -> NeuronProblem:
    surrogate_code(surrogate, surrogate_params)  # checks the name and the parameter count now
    shape, dtype = x_seq.shape[1:], x_seq.dtype
    hard = attrs["reset"] == "hard"
    v_init = params.get("v_init", params.get("v_reset") if hard else None)
    charge_params = {key: _per_neuron(params[key], shape, dtype)
                     for key in ("tau", "alpha", "beta", "adapt_decay", "adapt_scale") if key in params}
    return NeuronProblem(
        charge=attrs["charge"], hard=hard, v_reset=float(params["v_reset"]) if hard else 0.0,
        v_leak=float(params.get("v_leak", 0.0)), v_init=0.0 if v_init is None else float(v_init),
        detach_reset=bool(detach_reset), decay_input=bool(attrs.get("decay_input", True)), surrogate=surrogate,
        surrogate_params=tuple(surrogate_params), v_threshold=_per_neuron(params["v_threshold"], shape, dtype),
        window=int(window), store_v_seq=bool(store_v_seq), threshold=attrs.get("threshold", "fixed"),
        **charge_params)


def _state(value, shape, dtype):
    if isinstance(value, torch.Tensor):
        return value.to(dtype).expand(shape).contiguous()
    return float(value)


def multistep(backend: str, problem: NeuronProblem, x_seq: torch.Tensor, state: dict, spike_bytes: bool = False):
    """Run the fused kernel from ``state`` (``v``, and ``i`` (cuba) / ``b`` (adaptive threshold): floats or
    tensors of the per-step shape; ``snnc.ir.neuron.state_variables`` names them). Returns ``(spikes,
    last state, v_seq, spike_bytes)``: the state after the last step by the same names, ``v_seq`` None
    unless ``problem.store_v_seq``, ``spike_bytes`` (the spikes as uint8) None unless asked for, a
    gradient will be wanted and the backend writes them (Triton, fixed threshold)."""
    if problem.threshold == "adaptive":
        if backend != "triton":
            raise ValueError(f"an adaptive threshold has a fused kernel for backend='triton' only, not {backend!r}")
        from .triton.adaptive import multistep as run
        return (*run(problem, x_seq, state), None)
    shape = x_seq.shape[1:]
    v, i = _state(state["v"], shape, x_seq.dtype), _state(state.get("i", 0.0), shape, x_seq.dtype)
    if backend == "triton":
        from .triton import multistep as run
        s, v_last, i_last, v_seq, as_bytes = run(problem, x_seq, v, i, spike_bytes)
    elif backend == "cupy":
        from .cuda import multistep as run
        (s, v_last, i_last, v_seq), as_bytes = run(problem, x_seq, v, i), None
    else:
        raise ValueError(f"unknown runtime backend {backend!r}; expected 'triton' or 'cupy'")
    last = {"v": v_last} if problem.charge != "cuba" else {"v": v_last, "i": i_last}
    return s, last, v_seq, as_bytes


def kernel_scalars(problem: NeuronProblem, on_cuda: bool):
    """``(tau_recip, p1 scalar)`` for a scalar ``tau``, so the kernels divide exactly as PyTorch does on
    the device they run on.

    PyTorch on CUDA computes ``tensor / tau`` (``tau`` a Python number) as ``tensor * r`` with
    ``r = float32(1 / tau)``, the reciprocal taken in double and rounded once (measured on the H100:
    ``float32(1/1.7) = 0.5882353`` matches 2^20 of 2^20 quotients, ``1.0f / 1.7f = 0.58823526`` does not;
    for float16/bfloat16 the same float32 ``r`` is used and only the product is rounded). PyTorch on
    the CPU divides (float32): there the kernels (run by ``TRITON_INTERPRET=1``) divide too."""
    if problem.charge == "lif" and not isinstance(problem.tau, torch.Tensor) and on_cuda:
        return True, float(np.float32(1.0 / float(problem.tau)))
    return False, problem.decay if not isinstance(problem.decay, torch.Tensor) else 0.0


from .capture import CapturedStep  # noqa: E402 - after the names it does not use

__all__ = ["multistep", "problem", "NeuronProblem", "SURROGATES", "CHARGES", "CapturedStep"]
