"""snnc.runtime — fused multi-step neuron kernels for the GPU (Triton, and CUDA generated through CuPy).

``runtime`` imports nothing of snnc: the neurons call :func:`neuron_forward` with themselves, and it
reads their hyperparameters and state by attribute name, turns them into plain values
(:class:`NeuronProblem`) and runs one fused kernel over the whole ``[T, N, ...]`` sequence:

- ``backend='triton'``: ``snnc.runtime.triton`` (``torch.library.triton_op``, works under
  ``torch.compile``; on CPU tensors only with ``TRITON_INTERPRET=1``);
- ``backend='cupy'``: ``snnc.runtime.cuda`` (CUDA source generated as strings, compiled by CuPy).

Semantics are those of the IR's ``Neuron`` op and of the PyTorch loop in ``snnc.nn`` (see
``triton/kernels.py`` for the equations and the operation order).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from .surrogates import SURROGATES, surrogate_code

CHARGES = {"if": 0, "lif": 1, "plif": 2, "cuba": 3}


@dataclass
class NeuronProblem:
    """Everything a fused kernel needs, as plain values.

    Parameters ``v_threshold``, ``p1`` (lif: tau; plif: k; cuba: alpha) and ``p2`` (cuba: beta) are
    Python floats or tensors: ``[N]`` per neuron, or one element (plif ``k``, learnable)."""

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
    p1: float | torch.Tensor = 0.0
    p2: float | torch.Tensor = 0.0
    window: int = 0
    steps0: int = 0
    store_v_seq: bool = False
    key: tuple | None = None


def _per_neuron(value, shape, dtype):
    """A float stays a float; a tensor is broadcast to the per-step shape and flattened."""
    if isinstance(value, torch.Tensor):
        return value.to(dtype).expand(shape).contiguous().reshape(-1)
    return float(value)


def _problem_key(module, x_seq: torch.Tensor):
    """A cheap key of everything :func:`problem_of` reads, or None when a hyperparameter is a tensor
    (per-neuron; re-read every call). PLIF's ``k`` is read every call anyway."""
    kind = module.charge_kind
    values = [kind, type(module.surrogate_function), module.surrogate_function.kernel_params(), module.v_reset,
              module.v_threshold, bool(module.detach_reset), bool(getattr(module, "decay_input", True)),
              int(module.window_size), bool(module.store_v_seq), x_seq.dtype, x_seq.shape[1:]]
    if kind == "lif":
        values.append(module.tau)
    elif kind == "cuba":
        values += [module.current_decay, module.voltage_decay]
    for value in values[3:]:
        if isinstance(value, torch.Tensor):
            return None
    return tuple(values)


_PROBLEMS: dict = {}


def problem_of(module, x_seq: torch.Tensor) -> NeuronProblem:
    """Read a snnc neuron's hyperparameters (by attribute name) into a :class:`NeuronProblem` (cached
    while they are numbers: the host work per call is what limits short sequences)."""
    key = _problem_key(module, x_seq) if module.charge_kind in CHARGES else None
    cached = _PROBLEMS.get(key) if key is not None else None
    if cached is None:
        cached = _build_problem(module, x_seq)
        cached.key = key
        if key is not None:
            _PROBLEMS[key] = cached
    if cached.charge == "plif" or module.window_size:
        cached = copy.copy(cached)
        if cached.charge == "plif":
            cached.p1 = module.k.reshape(1)
        cached.steps0 = int(module._steps) if module.window_size else 0
    return cached


def _build_problem(module, x_seq: torch.Tensor) -> NeuronProblem:
    kind = module.charge_kind
    if kind not in CHARGES:
        raise ValueError(f"{type(module).__name__}: charge {kind!r} has no fused kernel; expected one of "
                         f"{', '.join(CHARGES)}")
    shape, dtype = x_seq.shape[1:], x_seq.dtype
    surrogate = module.surrogate_function
    name = getattr(surrogate, "kernel_name", "")
    surrogate_code(name, surrogate.kernel_params())  # checks the name and the parameter count now
    hard = module.v_reset is not None
    p1 = p2 = 0.0
    if kind == "lif":
        p1 = _per_neuron(module.tau, shape, dtype)
    elif kind == "plif":
        p1 = module.k.reshape(1)
    elif kind == "cuba":
        p1, p2 = _per_neuron(module.alpha, shape, dtype), _per_neuron(module.beta, shape, dtype)
    return NeuronProblem(
        charge=kind, hard=hard, v_reset=float(module.v_reset) if hard else 0.0, v_leak=float(module.v_leak),
        v_init=float(module.v_reset) if hard else 0.0, detach_reset=bool(module.detach_reset),
        decay_input=bool(getattr(module, "decay_input", True)), surrogate=name,
        surrogate_params=tuple(surrogate.kernel_params()),
        v_threshold=_per_neuron(module.v_threshold, shape, dtype), p1=p1, p2=p2,
        window=int(module.window_size), steps0=int(module._steps) if module.window_size else 0,
        store_v_seq=bool(module.store_v_seq))


def _state(value, shape, dtype):
    if isinstance(value, torch.Tensor):
        return value.to(dtype).expand(shape).contiguous()
    return float(value)


def multistep(backend: str, problem: NeuronProblem, x_seq: torch.Tensor, v, i=0.0, spike_bytes: bool = False):
    """Run the fused kernel: returns ``(spikes, v_last, i_last, v_seq, spike_bytes)`` (``v_seq`` is None
    unless ``problem.store_v_seq``; ``i_last`` None unless cuba; ``spike_bytes``, the spikes as uint8, None
    unless asked for, a gradient will be wanted and the backend writes them: Triton). ``v``/``i`` are
    floats or tensors."""
    shape = x_seq.shape[1:]
    v, i = _state(v, shape, x_seq.dtype), _state(i, shape, x_seq.dtype)
    if backend == "triton":
        from .triton import multistep as run
        return run(problem, x_seq, v, i, spike_bytes)
    if backend == "cupy":
        from .cuda import multistep as run
        return (*run(problem, x_seq, v, i), None)
    raise ValueError(f"unknown runtime backend {backend!r}; expected 'triton' or 'cupy'")


def neuron_forward(module, x_seq: torch.Tensor, spike_bytes: bool = False):
    """The fused multi-step forward of a snnc neuron module; updates its state like the loop does.
    Returns the spikes and, when ``spike_bytes`` (see :func:`multistep`), their uint8 copy or None."""
    if x_seq.dim() < 2:
        raise ValueError(f"{type(module).__name__}: multi-step input must be [T, N, ...], got {list(x_seq.shape)}")
    problem = problem_of(module, x_seq)
    is_cuba = problem.charge == "cuba"
    spikes, v_last, i_last, v_seq, as_bytes = multistep(module.backend, problem, x_seq, module.v,
                                                        module.i if is_cuba else 0.0, spike_bytes)
    steps = x_seq.shape[0]
    window = problem.window
    # the memories are plain attributes (MemoryModule sets them with object.__setattr__ too)
    if window and (problem.steps0 + steps) % window == 0:
        module.reset()
    else:
        object.__setattr__(module, "v", v_last)
        if is_cuba:
            object.__setattr__(module, "i", i_last)
        object.__setattr__(module, "_steps", (problem.steps0 + steps) % window if window else module._steps + steps)
    if problem.store_v_seq:
        object.__setattr__(module, "v_seq", v_seq)
    return spikes, as_bytes


def kernel_scalars(problem: NeuronProblem, on_cuda: bool):
    """``(tau_recip, p1 scalar)`` for a scalar ``tau``, so the kernels divide exactly as PyTorch does on
    the device they run on.

    PyTorch on CUDA computes ``tensor / tau`` (``tau`` a Python number) as ``tensor * r`` with
    ``r = float32(1 / tau)``, the reciprocal taken in double and rounded once (measured on the H100:
    ``float32(1/1.7) = 0.5882353`` matches 2^20 of 2^20 quotients, ``1.0f / 1.7f = 0.58823526`` does not;
    for float16/bfloat16 the same float32 ``r`` is used and only the product is rounded). PyTorch on
    the CPU divides (float32): there the kernels (run by ``TRITON_INTERPRET=1``) divide too."""
    if problem.charge == "lif" and not isinstance(problem.p1, torch.Tensor) and on_cuda:
        return True, float(np.float32(1.0 / float(problem.p1)))
    return False, problem.p1 if not isinstance(problem.p1, torch.Tensor) else 0.0


__all__ = ["neuron_forward", "multistep", "problem_of", "NeuronProblem", "SURROGATES", "CHARGES"]
