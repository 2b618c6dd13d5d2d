"""CUDA neuron kernels generated as source strings (``base.py``, ``cfunction.py``, ``neuron.py``) and
compiled by CuPy on first use. Generating code needs no CuPy; running it does (optional extra ``cuda``).

``multistep`` runs IF, LIF, PLIF (with the gradient of ``k``, hence of ``w``) and CubaLIF, float32 as
``float`` and float16 as ``half2``, scalar or per-neuron hyperparameters, every surrogate of
``runtime/surrogates.py``. bfloat16 is Triton-only (refused here with a message saying so), and so is
back-propagation through ``v_seq``.
"""

from __future__ import annotations

import torch

from .. import NeuronProblem, kernel_scalars
from .base import CKernel, CKernel1D, CKernel2D, CodeBlock, CodeTyper  # noqa: F401
from .neuron import NEURONS, CubaBPTT, CubaFPTT, IFBPTT, IFFPTT, LIFBPTT, LIFFPTT, PLIFBPTT, PLIFFPTT  # noqa: F401

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


_HYPER_FIELDS = {"v_th": "v_threshold", "tau": "tau", "alpha": "alpha", "beta": "beta"}


def _hypers(p: NeuronProblem) -> dict:
    """Kernel hyperparameter name -> its value in the problem (float or per-neuron tensor)."""
    names = {"if": ("v_th",), "lif": ("v_th", "tau"), "plif": ("v_th",), "cuba": ("v_th", "alpha", "beta")}
    return {name: getattr(p, _HYPER_FIELDS[name]) for name in names[p.charge]}


def _flat(t: torch.Tensor, dtype: str) -> torch.Tensor:
    """A per-neuron ``[N]`` tensor (or state of the per-step shape) as the kernel's 1-D operand."""
    return _as_2d(t.reshape(1, -1), dtype)[0].contiguous()


class _CupyNeuron(torch.autograd.Function):
    """One fused sequence (no window reset inside): inputs ``x``, ``v0``, ``i0`` (cuba), ``k`` (plif)."""

    @staticmethod
    def forward(ctx, x, v0, i0, k, p: NeuronProblem, dtype: str, store_v: bool, store_h: bool = True):
        ctx.set_materialize_grads(False)
        steps, shape, n_true = x.shape[0], x.shape[1:], x[0].numel()
        x2 = _as_2d(x, dtype)
        v2 = _flat(v0, dtype)
        numel, n = _numel_n(x2, dtype)
        hypers = _hypers(p)
        per_neuron = tuple(sorted(name for name, value in hypers.items() if isinstance(value, torch.Tensor)))
        fwd_cls = NEURONS[p.charge][0]
        extra = {"per_neuron": per_neuron}
        if p.charge == "lif":
            extra.update(decay_input=p.decay_input, tau_recip=True)
        elif p.charge == "plif":
            extra["decay_input"] = p.decay_input
        kernel = _kernel(fwd_cls, p.hard, dtype, store_v=store_v, store_h=store_h, **extra)
        s, v_last = torch.empty_like(x2), torch.empty_like(v2)
        h = torch.empty_like(x2) if store_h else None
        args = {"numel": numel, "N": n, "x_seq": x2, "spike_seq": s, "v_init": v2, "v_last": v_last,
                "v_reset": p.v_reset}
        if store_h:
            args["h_seq"] = h
        for name, value in hypers.items():
            args[name] = _flat(value, dtype) if isinstance(value, torch.Tensor) else float(value)
        if store_v:
            v_seq = torch.empty_like(x2)
            args["v_seq"] = v_seq
        if p.charge == "lif":
            args.update(inv_tau=0.0 if "tau" in per_neuron else kernel_scalars(p, True)[1], v_leak=p.v_leak)
        elif p.charge == "plif":
            args.update(k_ptr=k.detach().float().contiguous(), v_leak=p.v_leak)
        elif p.charge == "cuba":
            i_last = torch.empty_like(v2)
            args.update(i_init=_flat(i0, dtype), i_last=i_last)
        kernel(*_grid(n), args)
        ctx.save_for_backward(h, x2 if p.charge == "plif" and p.decay_input else None,
                              v2 if p.charge == "plif" else None, k)
        ctx.p, ctx.dtype, ctx.shape, ctx.n_true = p, dtype, shape, n_true
        ctx.args = {name: args[name] for name in hypers}
        ctx.per_neuron = per_neuron
        unpad = lambda t: t[..., :n_true].reshape(t.shape[0], *shape) if t.dim() == 2 else t[:n_true].reshape(shape)  # noqa: E731
        return (unpad(s), unpad(v_last), unpad(i_last) if p.charge == "cuba" else x.new_empty(0),
                unpad(v_seq) if store_v else x.new_empty(0))

    @staticmethod
    def backward(ctx, gs, gv_last, gi_last, gv_seq):
        h, x2, v2, k = ctx.saved_tensors
        p, dtype, n_true = ctx.p, ctx.dtype, ctx.n_true
        if gv_seq is not None and gv_seq.numel() and bool(gv_seq.any()):
            raise RuntimeError("the cupy neuron kernels do not back-propagate through v_seq; use backend='triton'")
        steps = h.shape[0]
        zeros = lambda: torch.zeros(n_true, dtype=h.dtype, device=h.device)  # noqa: E731
        gs = torch.zeros_like(h[:, :n_true]) if gs is None else gs.reshape(steps, -1)
        gv2 = _flat(zeros() if gv_last is None else gv_last, dtype)
        gs2 = _as_2d(gs, dtype)
        numel, n = _numel_n(h, dtype)
        extra = {"per_neuron": ctx.per_neuron}
        if p.charge in ("lif", "plif"):
            extra["decay_input"] = p.decay_input
        bwd_cls = NEURONS[p.charge][1]
        kernel = _kernel(bwd_cls, p.hard, p.detach_reset, p.surrogate, tuple(p.surrogate_params), dtype, **extra)
        gx, gv0 = torch.empty_like(h), torch.empty_like(gv2)
        args = {"numel": numel, "N": n, "grad_spike_seq": gs2, "h_seq": h, "grad_x_seq": gx,
                "grad_v_last": gv2, "grad_v_init": gv0, "v_reset": p.v_reset, **ctx.args}
        gk = gi0 = None
        if p.charge == "lif":
            args["inv_tau"] = 0.0 if "tau" in ctx.per_neuron else kernel_scalars(p, True)[1]
        elif p.charge == "plif":
            gk = torch.empty(n, dtype=torch.float32, device=h.device)
            args.update(k_ptr=k.detach().float().contiguous(), v_leak=p.v_leak, v_init=v2, grad_k=gk)
            if p.decay_input:
                args["x_seq"] = x2
        elif p.charge == "cuba":
            gi0 = torch.empty_like(gv2)
            args.update(grad_i_last=_flat(zeros() if gi_last is None else gi_last, dtype), grad_i_init=gi0)
        kernel(*_grid(n), args)
        shape = ctx.shape
        grad_k = gk.sum().reshape(k.shape).to(k.dtype) if gk is not None and ctx.needs_input_grad[3] else None
        return (gx[:, :n_true].reshape(steps, *shape), gv0[:n_true].reshape(shape),
                gi0[:n_true].reshape(shape) if gi0 is not None else None, grad_k, None, None, None, None)


class _NoContext:
    """Stands in for the autograd context when the forward runs without a graph."""

    def set_materialize_grads(self, value):
        pass

    def save_for_backward(self, *tensors):
        pass


def multistep(problem: NeuronProblem, x_seq: torch.Tensor, v, i):
    """The CuPy backend of :func:`snnc.runtime.multistep`; the sequence is cut at window resets."""
    p = problem
    if x_seq.dtype not in (torch.float32, torch.float16):
        raise TypeError(f"backend='cupy' runs float32 (float) and float16 (half2), got {x_seq.dtype}; "
                        "bfloat16 needs backend='triton'")
    if not x_seq.is_cuda:
        raise ValueError("backend='cupy' needs CUDA tensors")
    dtype = "float" if x_seq.dtype == torch.float32 else "half2"
    v0 = v if isinstance(v, torch.Tensor) else torch.full_like(x_seq[0], float(v))
    cuba = p.charge == "cuba"
    i0 = (i if isinstance(i, torch.Tensor) else torch.full_like(x_seq[0], float(i))) if cuba else None
    k = p.k if p.charge == "plif" else None
    grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x_seq, v0, i0, k))
    steps, start, spikes, v_seqs = x_seq.shape[0], 0, [], []
    i_last = None
    while start < steps:
        end = steps
        if p.window:
            first = p.window - (p.steps0 + start) % p.window  # steps until the next window reset
            end = min(steps, start + first)
        args = (x_seq[start:end], v0, i0, k, p, dtype, p.store_v_seq)
        if grad:
            s, v_last, i_last, v_seq = _CupyNeuron.apply(*args)
        else:  # nothing to differentiate: no autograd node, and H is not stored
            s, v_last, i_last, v_seq = _CupyNeuron.forward(_NoContext(), *args, store_h=False)
        spikes.append(s)
        v_seqs.append(v_seq)
        v0, i0 = v_last, i_last if cuba else None
        if p.window and (p.steps0 + end) % p.window == 0:
            v0 = torch.full_like(x_seq[0], p.v_init)
            i0 = torch.zeros_like(x_seq[0]) if cuba else None
        start = end
    s = spikes[0] if len(spikes) == 1 else torch.cat(spikes)
    v_seq = (v_seqs[0] if len(v_seqs) == 1 else torch.cat(v_seqs)) if p.store_v_seq else None
    return s, v_last, (i_last if cuba else None), v_seq


__all__ = ["multistep", "CKernel", "CKernel1D", "CKernel2D", "CodeTyper", "CodeBlock", "NEURONS"]
