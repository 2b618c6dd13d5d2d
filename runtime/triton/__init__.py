"""Triton multi-step neuron kernels (``kernels.py``) and their ``torch.library`` ops (``ops.py``)."""

from __future__ import annotations

import torch

from .. import CHARGES, NeuronProblem, kernel_scalars
from ..surrogates import surrogate_code
from .ops import CONFIG, NO_WINDOW, SCALARS, forward_direct, neuron_bwd, neuron_forward_op, neuron_fwd  # noqa: F401


def _mode(value) -> int:
    if not isinstance(value, torch.Tensor):
        return 0
    return 2 if value.numel() == 1 else 1


_PLANS: dict = {}


def _plan(p: NeuronProblem, tensors: dict, v, i, store_ckpt: bool, store_bytes: bool, on_cuda: bool,
          dtype: torch.dtype):
    """``(scalars, config)`` lists for the ops (cached per problem key while hyperparameters are numbers)."""
    # (a state tensor, or the scalar's value: tagged, since False == 0.0 for a dict key)
    v_key = ("tensor",) if tensors["v0"] is not None else ("scalar", float(v))
    key = None if p.key is None else (p.key, store_ckpt, store_bytes, on_cuda, p.steps0, v_key,
                                      tensors["i0"] is None, dtype)
    plan = _PLANS.get(key) if key is not None else None
    if plan is not None:
        return plan
    tau_recip, p1_scalar = kernel_scalars(p, on_cuda)
    code, (sg0, sg1) = surrogate_code(p.surrogate, p.surrogate_params)
    config = {
        "charge": CHARGES[p.charge], "decay_input": int(p.decay_input), "tau_recip": int(tau_recip),
        "hard": int(p.hard), "detach": int(p.detach_reset), "surrogate": code,
        "window": p.window if p.window else NO_WINDOW, "steps0": p.steps0 if p.window else 0,
        "store_ckpt": int(store_ckpt), "store_v": int(p.store_v_seq), "store_bytes": int(store_bytes),
        "v0_mode": _mode(tensors["v0"]) and 1, "i0_mode": _mode(tensors["i0"]) and 1,
        "vth_mode": _mode(tensors["vth"]), "p1_mode": _mode(tensors["p1"]), "p2_mode": _mode(tensors["p2"]),
        # PLIF's k, a float32 0-d tensor: PyTorch on CUDA rounds it to a float16/bfloat16 tensor's dtype
        # before multiplying; on the CPU it multiplies by the float32 value
        "round_k": int(p.charge == "plif" and on_cuda),
    }
    scalars = {
        "v0": 0.0 if tensors["v0"] is not None else float(v),
        "vth": 0.0 if tensors["vth"] is not None else p.v_threshold,
        "p1": p1_scalar, "p2": p.beta if tensors["p2"] is None else 0.0, "v_reset": p.v_reset,
        "v_leak": p.v_leak, "v_init": p.v_init, "sg_p0": sg0, "sg_p1": sg1,
    }
    # 16-bit kernels compute with these in the 16-bit dtype when each is a number of it (same results,
    # fewer conversions); tensor-valued ones are excluded by their mode, so their 0.0 placeholders are harmless
    values = [float(scalars[k]) for k in ("vth", "p1", "p2", "v_reset", "v_leak", "v_init")]
    config["exact16"] = int(dtype != torch.float32 and torch.tensor(values).to(dtype).double().tolist() == values)
    plan = ([float(scalars[k]) for k in SCALARS], [int(config[k]) for k in CONFIG])
    if key is not None:
        _PLANS[key] = plan
    return plan


def multistep(problem: NeuronProblem, x_seq: torch.Tensor, v, i, spike_bytes: bool = False):
    """Run ``problem`` on ``x_seq`` ``[T, N, ...]`` from state ``v`` (and ``i``), floats or tensors of
    the per-step shape. Returns ``(spikes, v_last, i_last, v_seq, spikes as uint8)``; differentiable.
    The uint8 copy is written with the spikes when ``spike_bytes`` and a gradient will be wanted (it is
    for ``snnc.nn.compact_spikes``, which keeps it for the layers that save the spikes), else None."""
    if x_seq.dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise TypeError(f"triton neuron kernel: input must be float32/float16/bfloat16, got {x_seq.dtype}")
    p = problem
    tensors = {
        "v0": v if isinstance(v, torch.Tensor) else None,
        "i0": i if isinstance(i, torch.Tensor) and p.charge == "cuba" else None,
        "vth": p.v_threshold if isinstance(p.v_threshold, torch.Tensor) else None,
        "p1": p.decay if isinstance(p.decay, torch.Tensor) else None,
        "p2": p.beta if isinstance(p.beta, torch.Tensor) else None,
    }
    if p.charge == "cuba" and tensors["i0"] is None and float(i) != 0.0:
        tensors["i0"] = torch.full_like(x_seq[0], float(i))
    store_ckpt = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (x_seq, tensors["v0"], tensors["i0"], tensors["p1"]))
    store_bytes = spike_bytes and store_ckpt
    scalars, config = _plan(p, tensors, v, i, store_ckpt, store_bytes, x_seq.is_cuda, x_seq.dtype)
    args = (x_seq, tensors["v0"], tensors["i0"], tensors["vth"], tensors["p1"], tensors["p2"], scalars, config)
    if store_ckpt or torch.compiler.is_compiling():
        s, v_last, i_last, v_seq, _, _, sb = neuron_forward_op(*args)
    else:  # nothing to differentiate: launch directly (no autograd node, no dispatcher)
        s, v_last, i_last, v_seq, _, _, sb = forward_direct(*args)
    return (s, v_last, (i_last if p.charge == "cuba" else None), (v_seq if p.store_v_seq else None),
            sb if store_bytes else None)


__all__ = ["multistep", "neuron_fwd", "neuron_bwd"]
