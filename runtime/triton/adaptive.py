"""Host side of the adaptive-threshold kernels (``adaptive_kernels.py``, whose docstring has the
equations): launch and eager autograd."""

from __future__ import annotations

from types import SimpleNamespace

import torch
import triton

from .. import NeuronProblem, kernel_scalars
from ..surrogates import surrogate_code
from .adaptive_kernels import adaptive_backward_kernel, adaptive_forward_kernel

BLOCK, WARPS = 256, 2
#: the adaptive kernel's charges (``kernels.py``'s numbering)
CHARGES = {"if": 0, "lif": 1}


def _operand(value):
    """``(tensor or None, scalar, mode)`` of a hyperparameter: a number is a scalar argument (mode 0), a
    tensor one value per neuron (mode 1)."""
    if isinstance(value, torch.Tensor):
        return value, 0.0, 1
    return None, float(value), 0


def _launch_config(p: NeuronProblem, on_cuda: bool) -> dict:
    tau_recip, tau_scalar = kernel_scalars(p, on_cuda)
    code, (sg0, sg1) = surrogate_code(p.surrogate, p.surrogate_params)
    tau = p.tau if p.charge == "lif" else 1.0
    operands = {"vth": _operand(p.v_threshold), "tau": _operand(tau), "scale": _operand(p.adapt_scale),
                "decay": _operand(p.adapt_decay)}
    if p.charge == "lif" and not isinstance(p.tau, torch.Tensor):
        operands["tau"] = (None, float(tau_scalar), 0)
    return {"operands": operands, "tau_recip": bool(tau_recip), "surrogate": (code, sg0, sg1)}


def _parameters(x: torch.Tensor, cfg: dict) -> tuple[list, list, dict]:
    """The four hyperparameters as the kernels take them: pointers, scalars and modes."""
    dummy = x.new_empty(1)
    pointers, scalars, modes = [], [], {}
    for name, (tensor, scalar, mode) in cfg["operands"].items():
        pointers.append(dummy if tensor is None else tensor)
        scalars.append(scalar)
        modes[f"{name.upper()}_MODE"] = mode
    return pointers, scalars, modes


def _shared(p: NeuronProblem, cfg: dict) -> dict:
    return {"CHARGE": CHARGES[p.charge], "DECAY_INPUT": bool(p.decay_input), "TAU_RECIP": cfg["tau_recip"],
            "HARD": bool(p.hard), "WINDOW": bool(p.window)}


class _AdaptiveNeuron(torch.autograd.Function):
    """``(S, V[T-1], B[T-1], V sequence)`` from ``x`` ``[T, N]`` and the state ``v0``/``b0`` (``[N]`` tensors
    or None for the problem's initial values); differentiable in ``x``, ``v0`` and ``b0``."""

    @staticmethod
    def forward(ctx, x, v0, b0, p: NeuronProblem, v_scalar: float, trace: bool):
        steps, n = x.shape[0], x[0].numel()
        cfg = _launch_config(p, x.is_cuda)
        pointers, scalars, modes = _parameters(x, cfg)
        s = torch.empty_like(x)
        h_seq = torch.empty_like(x) if trace else x.new_empty(1)
        b_seq = torch.empty_like(x) if trace else x.new_empty(1)
        v_seq = torch.empty_like(x) if p.store_v_seq else x.new_empty(1)
        v_last, b_last = torch.empty_like(x[0]), torch.empty_like(x[0])
        window = p.window if p.window else 1
        adaptive_forward_kernel[(triton.cdiv(n, BLOCK),)](
            x, s, h_seq, b_seq, v_seq, x if v0 is None else v0, x if b0 is None else b0, v_last, b_last,
            *pointers, v_scalar, *scalars, p.v_reset, p.v_leak, p.v_init, n, steps, window, p.steps0,
            **_shared(p, cfg), V0_MODE=0 if v0 is None else 1, B0_MODE=0 if b0 is None else 1, **modes,
            STORE_TRACE=trace, STORE_V=p.store_v_seq, LOWP=x.dtype != torch.float32, BLOCK=BLOCK, num_warps=WARPS,
            enable_fp_fusion=False)
        ctx.problem, ctx.cfg = p, cfg
        ctx.has_v0, ctx.has_b0 = v0 is not None, b0 is not None
        if trace:
            ctx.save_for_backward(h_seq, b_seq)
        return s, v_last, b_last, (v_seq if p.store_v_seq else None)

    @staticmethod
    def backward(ctx, gs, gv_last, gb_last, gv_seq):
        p, cfg = ctx.problem, ctx.cfg
        h_seq, b_seq = ctx.saved_tensors
        steps, n = h_seq.shape[0], h_seq[0].numel()
        pointers, scalars, modes = _parameters(h_seq, cfg)
        gx = torch.empty_like(h_seq)
        gv0, gb0 = torch.empty_like(h_seq[0]), torch.empty_like(h_seq[0])
        code, sg0, sg1 = cfg["surrogate"]
        dense = lambda g: h_seq if g is None else g.contiguous()  # noqa: E731
        adaptive_backward_kernel[(triton.cdiv(n, BLOCK),)](
            dense(gs), dense(gv_seq), dense(gv_last), dense(gb_last), h_seq, b_seq, gx, gv0, gb0,
            *pointers, *scalars, p.v_reset, sg0, sg1, n, steps, p.window if p.window else 1, p.steps0,
            **_shared(p, cfg), DETACH=bool(p.detach_reset), SURROGATE=code, **modes, HAS_GS=gs is not None,
            HAS_GVSEQ=gv_seq is not None, HAS_GVT=gv_last is not None, HAS_GBT=gb_last is not None,
            LOWP=h_seq.dtype != torch.float32, BLOCK=BLOCK, num_warps=WARPS)
        return gx, (gv0 if ctx.has_v0 else None), (gb0 if ctx.has_b0 else None), None, None, None


def multistep(problem: NeuronProblem, x_seq: torch.Tensor, state: dict):
    """Run an adaptive-threshold ``problem`` on ``x_seq`` ``[T, N, ...]`` from ``state`` (``v``, ``b``: floats
    or tensors of the per-step shape). Returns ``(spikes, {"v": V[T-1], "b": B[T-1]}, v_seq or None)``;
    differentiable in ``x_seq`` and the state tensors (eager autograd)."""
    p = problem
    if p.charge not in CHARGES:
        raise ValueError(f"an adaptive threshold has a fused kernel for the charges {', '.join(CHARGES)}, not "
                         f"{p.charge!r} (use backend='torch')")
    if x_seq.dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise TypeError(f"triton neuron kernel: input must be float32/float16/bfloat16, got {x_seq.dtype}")
    shape = x_seq.shape[1:]
    x = x_seq.contiguous()
    v, b = state["v"], state.get("b", 0.0)
    v0 = v.to(x.dtype).expand(shape).contiguous() if isinstance(v, torch.Tensor) else None
    b0 = b.to(x.dtype).expand(shape).contiguous() if isinstance(b, torch.Tensor) else None
    if b0 is None and float(b) != 0.0:
        b0 = torch.full_like(x[0], float(b))
    trace = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, v0, b0))
    args = (x, v0, b0, p, 0.0 if v0 is not None else float(v), trace)
    if trace:
        s, v_last, b_last, v_seq = _AdaptiveNeuron.apply(*args)
    else:
        with torch.no_grad():
            s, v_last, b_last, v_seq = _AdaptiveNeuron.forward(SimpleNamespace(), *args)  # no autograd context
    return s, {"v": v_last, "b": b_last}, v_seq
