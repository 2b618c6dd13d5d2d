"""Host side of the adaptive-threshold kernels (``adaptive_kernels.py``, whose docstring has the
equations): launch, ``torch.library`` registration and autograd.

As ``ops.py`` does for the fixed threshold: two custom ops, ``snnc::adaptive_fwd`` and
``snnc::adaptive_bwd`` (``torch.library.triton_op``, so ``torch.compile`` traces through the kernels,
dynamic shapes, ``fullgraph=True`` and CUDA graphs included), taking plain values (tensors, a float
list ``SCALARS`` and an int list ``CONFIG``); eager calls launch the kernels directly."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from .. import NeuronProblem, kernel_scalars
from ..surrogates import surrogate_code
from .adaptive_kernels import adaptive_backward_kernel, adaptive_forward_kernel
from .ops import _DIRECT, _HAS_TRITON_OP, _blocks, _direct, _launcher, _per_step, _spare

BLOCK, WARPS = 256, 2
#: the adaptive kernel's charges (``kernels.py``'s numbering)
CHARGES = {"if": 0, "lif": 1}
#: the hyperparameters, each a scalar (mode 0) or one value per neuron (mode 1)
OPERANDS = ("vth", "tau", "scale", "decay")
#: order of the ``config`` int list
CONFIG = ("charge", "decay_input", "tau_recip", "hard", "detach", "surrogate", "window", "steps0", "trace",
          "store_v", "v0_mode", "b0_mode", *(f"{name}_mode" for name in OPERANDS))
#: order of the ``scalars`` float list
SCALARS = ("v0", *OPERANDS, "v_reset", "v_leak", "v_init", "sg_p0", "sg_p1")


def _operand(value):
    """``(tensor or None, scalar)`` of a hyperparameter: a number is a scalar argument, a tensor one value
    per neuron."""
    if isinstance(value, Tensor):
        return value, 0.0
    return None, float(value)


def _arguments(p: NeuronProblem, on_cuda: bool, v_scalar: float, trace: bool, v0_mode: int, b0_mode: int):
    """``(per-neuron operand tensors, scalars, config)`` of ``p``, as the ops take them."""
    tau_recip, tau_scalar = kernel_scalars(p, on_cuda)
    code, (sg0, sg1) = surrogate_code(p.surrogate, p.surrogate_params)
    tau = p.tau if p.charge == "lif" else 1.0
    if p.charge == "lif" and not isinstance(p.tau, Tensor):
        tau = tau_scalar
    operands = [_operand(v) for v in (p.v_threshold, tau, p.adapt_scale, p.adapt_decay)]
    config = [CHARGES[p.charge], int(p.decay_input), int(tau_recip), int(p.hard), int(p.detach_reset), code,
              int(p.window), int(p.steps0), int(trace), int(p.store_v_seq), v0_mode, b0_mode,
              *(int(t is not None) for t, _ in operands)]
    scalars = [float(v_scalar), *(s for _, s in operands), p.v_reset, p.v_leak, p.v_init, sg0, sg1]
    return [t for t, _ in operands], scalars, config


def _constexprs(config: list[int], dtype: torch.dtype) -> dict:
    c = dict(zip(CONFIG, config))
    return dict(CHARGE=c["charge"], DECAY_INPUT=bool(c["decay_input"]), TAU_RECIP=bool(c["tau_recip"]),
                HARD=bool(c["hard"]), WINDOW=bool(c["window"]), LOWP=dtype != torch.float32,
                **{f"{name.upper()}_MODE": c[f"{name}_mode"] for name in OPERANDS}, BLOCK=BLOCK, num_warps=WARPS)


def _forward_impl(x: Tensor, v0: Optional[Tensor], b0: Optional[Tensor], vth: Optional[Tensor],
                  tau: Optional[Tensor], scale: Optional[Tensor], decay: Optional[Tensor], scalars: list[float],
                  config: list[int]) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """``(S, V[T-1], B[T-1], V sequence, H trace, B trace)`` from ``x`` ``[T, N]`` (contiguous) and the
    state ``v0``/``b0`` (``[N]``, or None: ``scalars``' ``v0`` and 0); the sequence is empty unless
    ``store_v``, the traces unless ``trace``."""
    c = dict(zip(CONFIG, config))
    steps = x.shape[0]
    n = x.numel() // steps if steps else 0
    direct, trace, store_v = getattr(_DIRECT, "on", False), bool(c["trace"]), bool(c["store_v"])
    s = torch.empty_like(x)
    h_seq, b_seq = (torch.empty_like(x), torch.empty_like(x)) if trace else (x.new_empty(0), x.new_empty(0))
    v_seq = torch.empty_like(x) if store_v else x.new_empty(0)
    v_last, b_last = _per_step(x), _per_step(x)
    spare = s if direct else _spare(s)
    operands = [x if t is None else t for t in (vth, tau, scale, decay)]
    _launcher(adaptive_forward_kernel)[(_blocks(n, BLOCK),)](
        x, s, h_seq if trace else spare, b_seq if trace else spare, v_seq if store_v else spare,
        x if v0 is None else v0, x if b0 is None else b0, v_last, b_last, *operands, *scalars[:8], n, steps,
        max(c["window"], 1), c["steps0"], **_constexprs(config, x.dtype), V0_MODE=c["v0_mode"],
        B0_MODE=c["b0_mode"], STORE_TRACE=trace, STORE_V=store_v, enable_fp_fusion=False)
    return s, v_last, b_last, v_seq, h_seq, b_seq


def _backward_impl(gs: Optional[Tensor], gv_seq: Optional[Tensor], gv_last: Optional[Tensor],
                   gb_last: Optional[Tensor], h_seq: Tensor, b_seq: Tensor, vth: Optional[Tensor],
                   tau: Optional[Tensor], scale: Optional[Tensor], decay: Optional[Tensor], scalars: list[float],
                   config: list[int]) -> tuple[Tensor, Tensor, Tensor]:
    """``(grad X, grad V0, grad B0)`` from the traces and the gradients reaching the outputs (None: zero)."""
    c = dict(zip(CONFIG, config))
    steps = h_seq.shape[0]
    n = h_seq.numel() // steps if steps else 0
    gx, gv0, gb0 = torch.empty_like(h_seq), _per_step(h_seq), _per_step(h_seq)
    dense = lambda g: h_seq if g is None else g.contiguous()  # noqa: E731
    operands = [h_seq if t is None else t for t in (vth, tau, scale, decay)]
    _launcher(adaptive_backward_kernel)[(_blocks(n, BLOCK),)](
        dense(gs), dense(gv_seq), dense(gv_last), dense(gb_last), h_seq, b_seq, gx, gv0, gb0, *operands,
        *scalars[1:5], scalars[5], scalars[8], scalars[9], n, steps, max(c["window"], 1), c["steps0"],
        **_constexprs(config, h_seq.dtype), DETACH=bool(c["detach"]), SURROGATE=c["surrogate"],
        HAS_GS=gs is not None, HAS_GVSEQ=gv_seq is not None, HAS_GVT=gv_last is not None,
        HAS_GBT=gb_last is not None)
    return gx, gv0, gb0


if _HAS_TRITON_OP:
    adaptive_fwd = torch.library.triton_op("snnc::adaptive_fwd", _forward_impl, mutates_args=())
    adaptive_bwd = torch.library.triton_op("snnc::adaptive_bwd", _backward_impl, mutates_args=())
else:  # pragma: no cover - PyTorch < 2.6: no torch.compile support for the adaptive kernels
    adaptive_fwd, adaptive_bwd = _forward_impl, _backward_impl


def _setup_context(ctx, inputs, output):
    x, v0, b0, vth, tau, scale, decay, scalars, config = inputs
    ctx.save_for_backward(output[4], output[5], vth, tau, scale, decay)
    ctx.scalars, ctx.config = scalars, config
    ctx.has_v0, ctx.has_b0 = v0 is not None, b0 is not None


def _gradients(ctx, gs, gv_last, gb_last, gv_seq, backward):
    h_seq, b_seq, vth, tau, scale, decay = ctx.saved_tensors
    if not ctx.config[CONFIG.index("trace")]:
        raise RuntimeError("snnc adaptive neuron kernel: backward needs the forward run with its trace "
                           "(a gradient was not expected when the forward ran)")
    gx, gv0, gb0 = backward(gs, gv_seq, gv_last, gb_last, h_seq, b_seq, vth, tau, scale, decay, ctx.scalars,
                            ctx.config)
    return (gx, gv0 if ctx.has_v0 else None, gb0 if ctx.has_b0 else None, None, None, None, None, None, None)


def _backward(ctx, gs, gv_last, gb_last, gv_seq, gh_seq, gb_seq):
    return _gradients(ctx, gs, gv_last, gb_last, gv_seq, adaptive_bwd)


if _HAS_TRITON_OP:
    torch.library.register_autograd("snnc::adaptive_fwd", _backward, setup_context=_setup_context)
_forward_direct, _backward_direct = _direct(_forward_impl), _direct(_backward_impl)


class _EagerAdaptive(torch.autograd.Function):
    """The ops' forward and backward without the dispatcher (eager mode)."""

    @staticmethod
    def forward(ctx, *inputs):
        out = _forward_direct(*inputs)
        _setup_context(ctx, inputs, out)
        ctx.mark_non_differentiable(out[4], out[5])
        ctx.set_materialize_grads(False)  # an output the loss does not use reaches the kernel as "none"
        return out

    @staticmethod
    def backward(ctx, gs, gv_last, gb_last, gv_seq, gh_seq, gb_seq):
        return _gradients(ctx, gs, gv_last, gb_last, gv_seq, _backward_direct)


def multistep(problem: NeuronProblem, x_seq: Tensor, state: dict):
    """Run an adaptive-threshold ``problem`` on ``x_seq`` ``[T, N, ...]`` from ``state`` (``v``, ``b``: floats
    or tensors of the per-step shape). Returns ``(spikes, {"v": V[T-1], "b": B[T-1]}, v_seq or None)``;
    differentiable in ``x_seq`` and the state tensors."""
    p = problem
    if p.charge not in CHARGES:
        raise ValueError(f"an adaptive threshold has a fused kernel for the charges {', '.join(CHARGES)}, not "
                         f"{p.charge!r} (use backend='torch')")
    if x_seq.dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise TypeError(f"triton neuron kernel: input must be float32/float16/bfloat16, got {x_seq.dtype}")
    shape = x_seq.shape[1:]
    x = x_seq.contiguous()
    v, b = state["v"], state.get("b", 0.0)
    v0 = v.to(x.dtype).expand(shape).contiguous() if isinstance(v, Tensor) else None
    b0 = b.to(x.dtype).expand(shape).contiguous() if isinstance(b, Tensor) else None
    if b0 is None and float(b) != 0.0:
        b0 = torch.full_like(x[0], float(b))
    trace = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, v0, b0))
    operands, scalars, config = _arguments(p, x.is_cuda, 0.0 if v0 is not None else float(v), trace,
                                           int(v0 is not None), int(b0 is not None))
    args = (x, v0, b0, *operands, scalars, config)
    if torch.compiler.is_compiling():
        out = adaptive_fwd(*args)
    elif trace:
        out = _EagerAdaptive.apply(*args)
    else:
        out = _forward_direct(*args)
    s, v_last, b_last, v_seq = out[:4]
    return s, {"v": v_last, "b": b_last}, (v_seq if p.store_v_seq else None)
