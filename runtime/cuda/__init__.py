"""CUDA neuron kernels generated as source strings (``base.py``, ``cfunction.py``, ``neuron.py``) and
compiled by CuPy on first use. Generating code needs no CuPy; running it does (optional extra ``cuda``).

``multistep`` runs IF and LIF (float32 as ``float``, float16 as ``half2``, scalar hyperparameters,
every surrogate of ``runtime/surrogates.py``); PLIF, CubaLIF, per-neuron parameters and bfloat16 are
Triton-only and refused here with a message saying so.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import NeuronProblem, kernel_scalars
from .base import CKernel, CKernel1D, CKernel2D, CodeBlock, CodeTyper  # noqa: F401
from .neuron import NEURONS, IFBPTT, IFFPTT, LIFBPTT, LIFFPTT  # noqa: F401

THREADS = 512
_KERNELS: dict[tuple, CKernel2D] = {}


def _kernel(cls, *args, **kwargs):
    key = (cls, args, tuple(sorted(kwargs.items())))
    kernel = _KERNELS.get(key)
    if kernel is None:
        kernel = _KERNELS[key] = cls(*args, **kwargs)
    return kernel


def _as_2d(x: torch.Tensor, dtype: str) -> torch.Tensor:
    """``[T, N]`` view; for half2 the neuron axis padded to even length (odd-length half padding)."""
    x = x.reshape(x.shape[0], -1).contiguous()
    if dtype == "half2" and x.shape[1] % 2:
        x = torch.nn.functional.pad(x, (0, 1))
    return x


def _numel_n(x2d: torch.Tensor, dtype: str) -> tuple[int, int]:
    scale = 2 if dtype == "half2" else 1
    return x2d.numel() // scale, x2d.shape[1] // scale


def _grid(n: int):
    return ((n + THREADS - 1) // THREADS,), (THREADS,)


class _CupyNeuron(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, v0, p: NeuronProblem, dtype: str, store_v: bool):
        ctx.set_materialize_grads(False)
        steps, shape, n_true = x.shape[0], x.shape[1:], x[0].numel()
        x2 = _as_2d(x, dtype)
        v2 = _as_2d(v0.reshape(1, -1), dtype)[0].contiguous()
        numel, n = _numel_n(x2, dtype)
        tau_recip, p1 = kernel_scalars(p, True)
        fwd_cls = IFFPTT if p.charge == "if" else LIFFPTT
        extra = {} if p.charge == "if" else {"decay_input": p.decay_input, "tau_recip": tau_recip}
        kernel = _kernel(fwd_cls, p.hard, dtype, store_v=store_v, **extra)
        s, h, v_last = torch.empty_like(x2), torch.empty_like(x2), torch.empty_like(v2)
        args = {"numel": numel, "N": n, "x_seq": x2, "spike_seq": s, "h_seq": h, "v_init": v2, "v_last": v_last,
                "v_th": p.v_threshold, "v_reset": p.v_reset}
        if store_v:
            v_seq = torch.empty_like(x2)
            args["v_seq"] = v_seq
        if p.charge == "lif":
            args.update(tau=p.p1, inv_tau=kernel_scalars(p, True)[1], v_leak=p.v_leak)
        kernel(*_grid(n), args)
        ctx.save_for_backward(h)
        ctx.p, ctx.dtype, ctx.shape, ctx.n_true = p, dtype, shape, n_true
        unpad = lambda t: t[..., :n_true].reshape(t.shape[0], *shape) if t.dim() == 2 else t[:n_true].reshape(shape)  # noqa: E731
        return unpad(s), unpad(v_last), unpad(v_seq) if store_v else x.new_empty(0)

    @staticmethod
    def backward(ctx, gs, gv_last, gv_seq):
        (h,) = ctx.saved_tensors
        p, dtype = ctx.p, ctx.dtype
        if gv_seq is not None and gv_seq.numel() and bool(gv_seq.any()):
            raise RuntimeError("the cupy neuron kernels do not back-propagate through v_seq; use backend='triton'")
        steps = h.shape[0]
        gs = torch.zeros_like(h[:, :ctx.n_true]) if gs is None else gs.reshape(steps, -1)
        gv = torch.zeros(ctx.n_true, dtype=h.dtype, device=h.device) if gv_last is None else gv_last.reshape(-1)
        gs2, gv2 = _as_2d(gs, dtype), _as_2d(gv.reshape(1, -1), dtype)[0].contiguous()
        numel, n = _numel_n(h, dtype)
        extra = {} if p.charge == "if" else {"decay_input": p.decay_input}
        bwd_cls = IFBPTT if p.charge == "if" else LIFBPTT
        kernel = _kernel(bwd_cls, p.hard, p.detach_reset, p.surrogate, tuple(p.surrogate_params), dtype, **extra)
        gx, gv0 = torch.empty_like(h), torch.empty_like(gv2)
        args = {"numel": numel, "N": n, "grad_spike_seq": gs2, "h_seq": h, "grad_x_seq": gx,
                "grad_v_last": gv2, "grad_v_init": gv0, "v_th": p.v_threshold, "v_reset": p.v_reset}
        if p.charge == "lif":
            args["inv_tau"] = kernel_scalars(p, True)[1]
        kernel(*_grid(n), args)
        n_true = ctx.n_true
        return (gx[:, :n_true].reshape(steps, *ctx.shape), gv0[:n_true].reshape(ctx.shape), None, None, None)


def multistep(problem: NeuronProblem, x_seq: torch.Tensor, v, i):
    """The CuPy backend of :func:`snnc.runtime.multistep`; the sequence is cut at window resets."""
    p = problem
    if p.charge not in ("if", "lif"):
        raise ValueError(f"backend='cupy' runs IF and LIF; {p.charge!r} neurons need backend='triton'")
    if x_seq.dtype not in (torch.float32, torch.float16):
        raise TypeError(f"backend='cupy' runs float32 (float) and float16 (half2), got {x_seq.dtype}")
    if any(isinstance(q, torch.Tensor) for q in (p.v_threshold, p.p1)):
        raise ValueError("backend='cupy' takes scalar hyperparameters; per-neuron ones need backend='triton'")
    if not x_seq.is_cuda:
        raise ValueError("backend='cupy' needs CUDA tensors")
    dtype = "float" if x_seq.dtype == torch.float32 else "half2"
    v0 = v if isinstance(v, torch.Tensor) else torch.full_like(x_seq[0], float(v))
    steps, start, spikes, v_seqs = x_seq.shape[0], 0, [], []
    while start < steps:
        end = steps
        if p.window:
            first = p.window - (p.steps0 + start) % p.window  # steps until the next window reset
            end = min(steps, start + first)
        s, v_last, v_seq = _CupyNeuron.apply(x_seq[start:end], v0, p, dtype, p.store_v_seq)
        spikes.append(s)
        v_seqs.append(v_seq)
        v0 = v_last
        if p.window and (p.steps0 + end) % p.window == 0:
            v0 = torch.full_like(x_seq[0], p.v_init)
        start = end
    s = spikes[0] if len(spikes) == 1 else torch.cat(spikes)
    v_seq = (v_seqs[0] if len(v_seqs) == 1 else torch.cat(v_seqs)) if p.store_v_seq else None
    return s, v_last, None, v_seq


__all__ = ["multistep", "CKernel", "CKernel1D", "CKernel2D", "CodeTyper", "CodeBlock", "NEURONS"]
