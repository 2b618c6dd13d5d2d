"""Host side of the Triton neuron kernels: checks, launch, ``torch.library`` registration, autograd.

Two custom ops, ``snnc::neuron_fwd`` and ``snnc::neuron_bwd``, registered with
``torch.library.triton_op`` (so ``torch.compile`` sees the Triton kernels and can trace through them,
``fullgraph=True`` and CUDA graphs included) or, on a PyTorch without it, ``torch.library.custom_op``
with a fake implementation. ``neuron_fwd`` carries its autograd formula (``neuron_bwd``).

The ops take plain values: tensors, a list of floats (``SCALARS``) and a list of ints (``CONFIG``).
"""

from __future__ import annotations

import itertools
import os
import threading
from typing import Optional

import torch
import triton
from torch import Tensor

from ..layout import like, steps_outermost
from . import kernels as K

#: launch settings ``(BLOCK, num_warps, CHUNK)`` by (dtype, kernel): ``"infer"`` (no gradient), ``"train"``
#: (the forward that keeps the state every span of steps) and ``"backward"``, whose chunk is that span:
#: it recomputes a span's H from its checkpoint (a multiple of train's CHUNK; a span as long as the
#: sequence needs no checkpoint, and its forward is ``"infer"``'s). A chunk's inputs are loaded at once.
#: A thread's BLOCK / (32·warps) neighbouring neurons move as one vector when N is a multiple of 16 (the
#: kernels are specialized on that). From sweeps on an H100 (2^22 neurons, T = 32;
#: ``benchmarks/device/diag.py tune``)
LAUNCH = {
    (torch.float32, "infer"): (256, 2, 8), (torch.float32, "train"): (256, 2, 8),
    (torch.float32, "backward"): (128, 2, 16),
    (torch.float16, "infer"): (256, 1, 8), (torch.float16, "train"): (256, 2, 8),
    (torch.float16, "backward"): (256, 2, 8),
    (torch.bfloat16, "infer"): (256, 1, 8), (torch.bfloat16, "train"): (256, 2, 8),
    (torch.bfloat16, "backward"): (256, 2, 8),
}

#: order of the ``config`` int list
CONFIG = ("charge", "decay_input", "tau_recip", "hard", "detach", "surrogate", "window", "steps0",
          "store_ckpt", "store_v", "v0_mode", "i0_mode", "vth_mode", "p1_mode", "p2_mode", "round_k", "exact16",
          "store_bytes")
#: order of the ``scalars`` float list
SCALARS = ("v0", "vth", "p1", "p2", "v_reset", "v_leak", "v_init", "sg_p0", "sg_p1")

_C = {name: i for i, name in enumerate(CONFIG)}
_S = {name: i for i, name in enumerate(SCALARS)}
_WINDOW, _STEPS0 = _C["window"], _C["steps0"]
#: the ``window`` of a neuron without one (steps never reach it)
NO_WINDOW = 1 << 30

_HAS_TRITON_OP = hasattr(torch.library, "triton_op") and hasattr(torch.library, "wrap_triton")


_DIRECT = threading.local()


def _launcher(kernel):
    """The kernel itself on the eager path (least launch overhead); wrapped (traceable) in the ops."""
    if _HAS_TRITON_OP and not getattr(_DIRECT, "on", False):
        return torch.library.wrap_triton(kernel)
    return kernel


try:  # Triton >= 3.4
    from triton import knobs as _knobs
except ImportError:  # pragma: no cover
    _knobs = None

#: eager launches skip Triton's per-call argument binding once a specialization is compiled
#: (``SNNC_TRITON_FAST_LAUNCH=0`` turns this off)
_INTERPRET = os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")
FAST_LAUNCH = _knobs is not None and os.environ.get("SNNC_TRITON_FAST_LAUNCH", "1") != "0" and not _INTERPRET
_COMPILED: dict = {}
_CONSTEXPR_NAMES: dict = {}


def _launch(kernel, grid0: int, args: tuple, kw: dict, key) -> None:
    """``kernel[(grid0,)](*args, **kw)``; on the eager path, with a compiled kernel in hand, straight to its
    launcher. ``key`` identifies ``kw``; the specialization Triton derives from ``args`` (pointer dtypes
    and 16-byte alignment, the value of specialized ints, 32/64-bit ints) is added here, so a cached
    kernel is reused exactly where Triton would pick the same one."""
    global FAST_LAUNCH
    if not (FAST_LAUNCH and getattr(_DIRECT, "on", False)):
        _launcher(kernel)[(grid0,)](*args, **kw)
        return
    spec = [key]
    for a in args:
        if isinstance(a, Tensor):
            spec.append((a.dtype, a.data_ptr() % 16 == 0))
        elif isinstance(a, int):
            spec.append(a if -1 < a < 64 else (a % 16 == 0, a >= 1 << 31))
    spec = tuple(spec)
    compiled = _COMPILED.get(spec)
    if compiled is None:
        compiled = kernel[(grid0,)](*args, **kw)
        if compiled is not None and hasattr(compiled, "function"):
            _COMPILED[spec] = compiled
        return
    names = _CONSTEXPR_NAMES.get(kernel)
    if names is None:
        names = _CONSTEXPR_NAMES[kernel] = tuple(p.name for p in kernel.params if p.is_constexpr)
    stream = torch._C._cuda_getCurrentRawStream(args[0].device.index)
    values = (*args, *(kw[n] for n in names))
    enter, leave = _knobs.runtime.launch_enter_hook, _knobs.runtime.launch_exit_hook
    try:
        meta = None if enter is None else compiled.launch_metadata((grid0, 1, 1), stream, *values)
        compiled.run(grid0, 1, 1, stream, compiled.function, compiled.packed_metadata, meta, enter, leave, *values)
        FAST_HITS[0] += 1
    except Exception:  # an unexpected Triton: never again, launch the ordinary way
        FAST_LAUNCH = False
        kernel[(grid0,)](*args, **kw)


#: launches that took the cached path (diagnostics)
FAST_HITS = [0]


def _or(t: Optional[Tensor], dummy: Tensor) -> Tensor:
    return dummy if t is None else t


def _spare(t: Tensor) -> Tensor:
    """A stand-in for an output pointer the kernel does not write. On the eager path any tensor will do;
    in the ops (what torch.compile traces) it must not alias a written output: functionalization clones
    every argument a user kernel may mutate separately, and an alias would be written back over it."""
    return t if getattr(_DIRECT, "on", False) else t.new_empty(1)


def _constexprs(config: list[int], dtype: torch.dtype, steps: int, backward: bool,
                cuda: bool = True) -> tuple[dict, int]:
    """The launch's keyword arguments (constexprs, block, warps) for ``config`` and ``steps`` (the kernels
    are specialized on T), built once, and a number naming them. 16-bit arithmetic in 16-bit registers
    (``NATIVE16``) for float16, and for bfloat16 on the GPU (``TRITON_INTERPRET``'s NumPy has no
    bfloat16 arithmetic)."""
    key = (tuple(config), dtype, steps, backward, cuda)
    kw = _CONSTEXPRS.get(key)
    if kw is None:
        c = config
        f32 = dtype == torch.float32
        span = _span(dtype, steps)
        store_ckpt = bool(c[_C["store_ckpt"]]) and span < steps
        kind = "backward" if backward else ("train" if store_ckpt else "infer")
        block, warps, chunk = LAUNCH[dtype, kind]
        kw = dict(CHARGE=c[_C["charge"]], DECAY_INPUT=bool(c[_C["decay_input"]]), TAU_RECIP=bool(c[_C["tau_recip"]]),
                  HARD=bool(c[_C["hard"]]), V0_MODE=c[_C["v0_mode"]], I0_MODE=c[_C["i0_mode"]],
                  VTH_MODE=c[_C["vth_mode"]], P1_MODE=c[_C["p1_mode"]], P2_MODE=c[_C["p2_mode"]],
                  LOWP=not f32, ROUND_K=bool(c[_C["round_k"]]),
                  NATIVE16=dtype == torch.float16 or (dtype == torch.bfloat16 and cuda),
                  EXACT16=not f32 and bool(c[_C["exact16"]]), WINDOW=c[_WINDOW] < NO_WINDOW,
                  T=steps, CHUNK=chunk, BLOCK=block, num_warps=warps, enable_fp_fusion=False)
        if backward:  # (the interpreter has no libdevice: it divides)
            kw.update(DETACH=bool(c[_C["detach"]]), SURROGATE=c[_C["surrogate"]], FAST_DIV=cuda and not _INTERPRET)
        else:
            if store_ckpt and span % chunk:
                raise ValueError(f"snnc.runtime.triton.ops.LAUNCH: the backward's chunk ({span}) must be a "
                                 f"multiple of the training forward's ({chunk}) for {dtype}")
            kw.update(STORE_CKPT=store_ckpt, SPAN=span, STORE_V=bool(c[_C["store_v"]]),
                      STORE_SB=bool(c[_C["store_bytes"]]))
        kw = _CONSTEXPRS[key] = (kw, next(_KW_IDS))
    return kw


def _span(dtype: torch.dtype, steps: int) -> int:
    """Steps between the training forward's state checkpoints: the backward's chunk, or the whole
    sequence when it is no longer."""
    return min(LAUNCH[dtype, "backward"][2], max(steps, 1))


_CONSTEXPRS: dict = {}
_KW_IDS = itertools.count()


def _blocks(n, block: int):
    """``ceil(n / block)`` programs (``n`` may be symbolic under dynamic shapes)."""
    return (n + block - 1) // block


def _steps(x: Tensor) -> int:
    """``T`` as a number: the kernels are specialized on it. Under ``torch.compile`` with dynamic shapes
    this makes the sequence length a specialization (a guard: one compiled graph per ``T``) while the
    batch and neuron dimensions stay symbolic (they only size the grid and the loop bounds)."""
    return int(x.shape[0])


def _checkpoints(x: Tensor) -> tuple[int, ...]:
    """Shape of the forward's state checkpoints: one per span boundary, ``[ceil(T / span) - 1, N...]``."""
    steps = _steps(x)
    return (max(-(-steps // _span(x.dtype, steps)) - 1, 0), *x.shape[1:])


def _layout(x: Tensor, *per_neuron: Optional[Tensor]) -> tuple[Tensor, ...]:
    """``x`` as the kernels read it (``T`` dense steps; a channels-last sequence stays as it is) and the
    per-neuron operands laid out like one of its steps. Anything else is made C-contiguous."""
    operands = [t for t in per_neuron if t is not None and t.numel() > 1]
    if x.is_contiguous() or not (steps_outermost(x) and x.shape[0] and all(t.shape == x.shape[1:] for t in operands)):
        return (x.contiguous(), *(None if t is None else t.contiguous() for t in per_neuron))
    return (x, *(like(t, x[0]) if t is not None and t.numel() > 1 else t for t in per_neuron))


def _per_step(x: Tensor) -> Tensor:
    """An uninitialised tensor laid out like one step of ``x``."""
    return torch.empty_like(x[0]) if x.shape[0] else x.new_empty(x.shape[1:])


def _forward_impl(x: Tensor, v0: Optional[Tensor], i0: Optional[Tensor], vth: Optional[Tensor],
                  p1: Optional[Tensor], p2: Optional[Tensor], scalars: list[float],
                  config: list[int]) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """``(S, V[T-1], I[T-1], V sequence, V checkpoints, I checkpoints, S as uint8)``; the last five are
    empty when not asked for (cuba, ``store_v``, ``store_ckpt``, ``store_bytes``). S, V and I keep ``x``'s
    layout (see :func:`_layout`)."""
    c, f = config, scalars
    x, v0, i0, vth, p1, p2 = _layout(x, v0, i0, vth, p1, p2)
    steps = _steps(x)
    n = x.numel() // steps if steps else 0
    kw, kid = _constexprs(c, x.dtype, steps, False, x.is_cuda)
    direct = getattr(_DIRECT, "on", False)
    cuba = kw["CHARGE"] == K.CUBA
    s = torch.empty_like(x)
    sb = torch.empty_like(x, dtype=torch.uint8) if kw["STORE_SB"] else x.new_empty(0, dtype=torch.uint8)
    vseq = torch.empty_like(x) if kw["STORE_V"] else x.new_empty(0)
    ckv = x.new_empty(_checkpoints(x)) if kw["STORE_CKPT"] else x.new_empty(0)
    cki = x.new_empty(_checkpoints(x)) if kw["STORE_CKPT"] and cuba else x.new_empty(0)
    v_last = _per_step(x)
    i_last = _per_step(x) if cuba else x.new_empty(0)
    spare = s if direct else _spare(s)
    _launch(K.neuron_forward_kernel, _blocks(n, kw["BLOCK"]), (
        x, s, sb if kw["STORE_SB"] else spare, vseq if kw["STORE_V"] else spare,
        ckv if ckv.numel() else spare, cki if cki.numel() else spare,
        x if v0 is None else v0, x if i0 is None else i0, v_last,
        i_last if cuba else (v_last if direct else _spare(v_last)),
        x if vth is None else vth, x if p1 is None else p1, x if p2 is None else p2,
        f[0], f[1], f[2], f[3], f[4], f[5], f[6], n, c[_WINDOW], c[_STEPS0]), kw, kid)
    return s, v_last, i_last, vseq, ckv, cki, sb


def _direct(impl):
    """``impl`` launched directly (no dispatcher, no autograd node): the eager paths."""
    def run(*args):
        _DIRECT.on = True
        try:
            return impl(*args)
        finally:
            _DIRECT.on = False
    return run


#: the no-gradient eager forward
forward_direct = _direct(_forward_impl)


def _backward_impl(gs: Optional[Tensor], gvseq: Optional[Tensor], gv_last: Optional[Tensor],
                   gi_last: Optional[Tensor], x: Tensor, ckv: Tensor, cki: Tensor, v0: Optional[Tensor],
                   i0: Optional[Tensor], vth: Optional[Tensor], p1: Optional[Tensor], p2: Optional[Tensor],
                   scalars: list[float], config: list[int], need: list[int]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(grad X, grad V0, grad I0, per-neuron grad k)``; ``need`` = [grad of v0 wanted, grad of i0 wanted]."""
    c, f = config, scalars
    x, v0, i0, vth, p1, p2 = _layout(x, v0, i0, vth, p1, p2)
    steps = _steps(x)
    n = x.numel() // steps if steps else 0
    kw, kid = _constexprs(c, x.dtype, steps, True, x.is_cuda)
    gx = torch.empty_like(x)
    gv0 = _per_step(x) if need[0] else x.new_empty(0)
    gi0 = _per_step(x) if need[1] else x.new_empty(0)
    blocks = _blocks(n, kw["BLOCK"])
    plif = kw["CHARGE"] == K.PLIF
    gk = x.new_empty(n if plif else 0, dtype=torch.float32)
    # a spikes' gradient the same at every step (a rate loss: y.mean(0), y.sum()) is read in place, one step
    gs_broadcast = gs is not None and steps > 1 and gs.stride(0) == 0
    gs = like(gs[0], x[0]) if gs_broadcast else like(gs, x)
    gvseq = like(gvseq, x)
    if steps:
        gv_last, gi_last = like(gv_last, x[0]), like(gi_last, x[0])
    has = dict(HAS_GS=gs is not None, GS_BROADCAST=gs_broadcast, HAS_GVSEQ=gvseq is not None, HAS_GVT=gv_last is not None,
               HAS_GIT=gi_last is not None, STORE_GV0=bool(need[0]), STORE_GI0=bool(need[1]))
    _launch(K.neuron_backward_kernel, blocks, (
        _or(gs, x), _or(gvseq, x), _or(gv_last, x), _or(gi_last, x), x, _or(ckv if ckv.numel() else None, x),
        _or(cki if cki.numel() else None, x), _or(v0, x), _or(i0, x), _or(vth, x), _or(p1, x), _or(p2, x),
        gx, gv0 if need[0] else _spare(gx), gi0 if need[1] else _spare(gx), gk if plif else _spare(gx),
        f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], n, c[_WINDOW], c[_STEPS0]),
        {**kw, **has}, (kid, tuple(has.values())))
    return gx, gv0, gi0, gk


def _fake_forward(x, v0, i0, vth, p1, p2, scalars, config):
    c = config
    x = _layout(x, v0, i0, vth, p1, p2)[0]
    empty = x.new_empty(0)
    cuba = c[_C["charge"]] == K.CUBA
    return (torch.empty_like(x), _per_step(x), _per_step(x) if cuba else empty,
            torch.empty_like(x) if c[_C["store_v"]] else empty,
            x.new_empty(_checkpoints(x)) if c[_C["store_ckpt"]] else empty,
            x.new_empty(_checkpoints(x)) if c[_C["store_ckpt"]] and cuba else empty,
            torch.empty_like(x, dtype=torch.uint8) if c[_C["store_bytes"]] else x.new_empty(0, dtype=torch.uint8))


def _fake_backward(gs, gvseq, gv_last, gi_last, x, ckv, cki, v0, i0, vth, p1, p2, scalars, config, need):
    x = _layout(x, v0, i0, vth, p1, p2)[0]
    return (torch.empty_like(x), _per_step(x) if need[0] else x.new_empty(0),
            _per_step(x) if need[1] else x.new_empty(0),
            x.new_empty(x[0].numel() if config[_C["charge"]] == K.PLIF else 0, dtype=torch.float32))


if _HAS_TRITON_OP:
    neuron_fwd = torch.library.triton_op("snnc::neuron_fwd", _forward_impl, mutates_args=())
    neuron_bwd = torch.library.triton_op("snnc::neuron_bwd", _backward_impl, mutates_args=())
else:  # pragma: no cover - PyTorch < 2.6
    neuron_fwd = torch.library.custom_op("snnc::neuron_fwd", _forward_impl, mutates_args=())
    neuron_bwd = torch.library.custom_op("snnc::neuron_bwd", _backward_impl, mutates_args=())
    neuron_fwd.register_fake(_fake_forward)
    neuron_bwd.register_fake(_fake_backward)


def _setup_context(ctx, inputs, output):
    x, v0, i0, vth, p1, p2, scalars, config = inputs
    s, v_last, i_last, vseq, ckv, cki, sb = output
    ctx.save_for_backward(x, ckv, cki, v0, i0, vth, p1, p2)
    ctx.scalars, ctx.config = scalars, config
    ctx.has_v0, ctx.has_i0 = v0 is not None, i0 is not None


def _gradients(ctx, gs, gv_last, gi_last, gvseq, backward):
    """The autograd formula of the forward, with ``backward`` the op (or, eager, its implementation)."""
    x, ckv, cki, v0, i0, vth, p1, p2 = ctx.saved_tensors
    c = ctx.config
    if not c[_C["store_ckpt"]]:
        raise RuntimeError("snnc neuron kernel: backward needs the forward run with store_ckpt "
                           "(a gradient was not expected when the forward ran)")
    need_v0 = ctx.has_v0 and c[_C["v0_mode"]] == 1 and ctx.needs_input_grad[1]
    need_i0 = ctx.has_i0 and c[_C["i0_mode"]] == 1 and ctx.needs_input_grad[2]
    gx, gv0, gi0, gk = backward(gs, gvseq if c[_C["store_v"]] else None, gv_last,
                                gi_last if c[_C["charge"]] == K.CUBA else None, x, ckv, cki, v0, i0, vth, p1, p2,
                                ctx.scalars, c, [int(need_v0), int(need_i0)])
    grad_p1 = None
    if c[_C["charge"]] == K.PLIF and p1 is not None and ctx.needs_input_grad[4]:
        grad_p1 = gk.sum().reshape(p1.shape).to(p1.dtype)
    return (gx, gv0 if need_v0 else None, gi0 if need_i0 else None, None, grad_p1, None, None, None)


def _backward(ctx, gs, gv_last, gi_last, gvseq, gckv, gcki, gsb):
    return _gradients(ctx, gs, gv_last, gi_last, gvseq, neuron_bwd)


torch.library.register_autograd("snnc::neuron_fwd", _backward, setup_context=_setup_context)
_backward_direct = _direct(_backward_impl)


class EagerNeuron(torch.autograd.Function):
    """The same forward/backward as the ops, without the dispatcher (eager mode: lower host overhead)."""

    @staticmethod
    def forward(ctx, x, v0, i0, vth, p1, p2, scalars, config):
        out = forward_direct(x, v0, i0, vth, p1, p2, scalars, config)
        _setup_context(ctx, (x, v0, i0, vth, p1, p2, scalars, config), out)
        ctx.mark_non_differentiable(out[4], out[5], out[6])
        ctx.set_materialize_grads(False)  # an output the loss does not use reaches the kernel as "none"
        return out

    @staticmethod
    def backward(ctx, gs, gv_last, gi_last, gvseq, gckv, gcki, gsb):
        return _gradients(ctx, gs, gv_last, gi_last, gvseq, _backward_direct)


def neuron_forward_op(*args):
    """``snnc::neuron_fwd`` under torch.compile, the eager autograd function otherwise."""
    if torch.compiler.is_compiling():
        return neuron_fwd(*args)
    return EagerNeuron.apply(*args)
