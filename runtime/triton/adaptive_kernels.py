"""The fused multi-step kernels for a ``Neuron`` with an adaptive threshold (``snnc.nn.ALIF``); the host
side is ``adaptive.py``.

One program owns ``BLOCK`` neurons and runs the ``T`` steps of ``[T, N]`` in order. Forward, per step
(the order of ``snnc.ir.neuron.step``; each operation rounded to the storage dtype as PyTorch rounds
it, see ``kernels.py``)::

    th = v_threshold + adapt_scale·B
    H  = charge(V, X)                          if: V + X;  lif: as kernels.py
    S  = (H - th) >= 0
    V  = v_reset where S else H   (hard)   |   H - th·S   (soft)
    B  = B·adapt_decay + S

Backward (reverse time), with ``gV``/``gB`` the gradients reaching the state after the step and ``σ'``
the surrogate's derivative at ``H - th``; ``ĝS`` is the gradient of ``S`` (its output's, plus, unless
``detach_reset``, what the reset and the adaptation pass back through it)::

    ĝS  = gS + [not detach] (gV·∂V/∂S + gB)          ∂V/∂S = v_reset - H (hard) | -th (soft)
    gH  = gV·∂V/∂H + ĝS·σ'                           ∂V/∂H = 1 - S (hard) | 1 (soft)
    gth = -ĝS·σ' - [soft] gV·S
    gB ← gB·adapt_decay + gth·adapt_scale;   gX = gH·∂H/∂X;   gV ← gH·∂H/∂V

The forward keeps ``H`` and ``B`` of every step when a gradient will be wanted (two ``[T, N]`` writes:
the simple exact form, not the recompute-from-checkpoints of ``kernels.py``). Window resets put
``V`` back to ``v_init`` and ``B`` to 0 before step ``t`` when ``(steps0 + t) % window == 0`` and cut
the gradient there. Hyperparameters are scalars (mode 0) or one value per neuron (mode 1).
"""

from __future__ import annotations

import triton
import triton.language as tl

from .kernels import _charge, _fresh, _incoming, _lif_charge_grad, _neurons, _param, _reset, _round, _surrogate_grad


@triton.jit
def _threshold(vth, scale, b, DT: tl.constexpr, LOWP: tl.constexpr):
    """``v_threshold + adapt_scale·B``, each operation rounded to the storage dtype."""
    return _round(vth + _round(scale * b, DT, LOWP), DT, LOWP)


@triton.jit(do_not_specialize=["T", "window", "steps0"])
def adaptive_forward_kernel(
        x_ptr, s_ptr, h_ptr, b_ptr, vseq_ptr, v0_ptr, b0_ptr, vT_ptr, bT_ptr,
        vth_ptr, tau_ptr, scale_ptr, decay_ptr, v0_s, vth_s, tau_s, scale_s, decay_s, v_reset, v_leak, v_init,
        N, T, window, steps0,
        CHARGE: tl.constexpr, DECAY_INPUT: tl.constexpr, TAU_RECIP: tl.constexpr, HARD: tl.constexpr,
        V0_MODE: tl.constexpr, B0_MODE: tl.constexpr, VTH_MODE: tl.constexpr, TAU_MODE: tl.constexpr,
        SCALE_MODE: tl.constexpr, DECAY_MODE: tl.constexpr, STORE_TRACE: tl.constexpr, STORE_V: tl.constexpr,
        WINDOW: tl.constexpr, LOWP: tl.constexpr, BLOCK: tl.constexpr):
    """The forward (module docstring); ``STORE_TRACE`` also writes ``H`` and the ``B`` each step starts from."""
    DT: tl.constexpr = x_ptr.dtype.element_ty
    v_reset, v_leak, v_init = tl.cast(v_reset, tl.float32), tl.cast(v_leak, tl.float32), tl.cast(v_init, tl.float32)
    offs, mask, n = _neurons(N, BLOCK)
    vth = _param(vth_ptr, vth_s, offs, mask, VTH_MODE)
    tau = _param(tau_ptr, tau_s, offs, mask, TAU_MODE)
    scale = _param(scale_ptr, scale_s, offs, mask, SCALE_MODE)
    decay = _param(decay_ptr, decay_s, offs, mask, DECAY_MODE)
    v = _param(v0_ptr, v0_s, offs, mask, V0_MODE) + tl.zeros([BLOCK], tl.float32)
    b = _param(b0_ptr, 0.0, offs, mask, B0_MODE) + tl.zeros([BLOCK], tl.float32)
    for t in range(T):
        fresh = _fresh(t, window, steps0, WINDOW)
        v = tl.where(fresh, v_init, v)
        b = tl.where(fresh, 0.0, b)
        row = n * t
        x = tl.load(x_ptr + row + offs, mask=mask, other=0.0).to(tl.float32)
        th = _threshold(vth, scale, b, DT, LOWP)
        h, _ = _charge(v, v, x, tau, tau, v_leak, CHARGE, DECAY_INPUT, TAU_RECIP, DT, LOWP)
        s = tl.where(_round(h - th, DT, LOWP) >= 0.0, 1.0, 0.0)
        v = _reset(h, s, th, v_reset, HARD, DT, LOWP)
        if STORE_TRACE:
            tl.store(h_ptr + row + offs, h.to(DT), mask=mask)
            tl.store(b_ptr + row + offs, b.to(DT), mask=mask)
        b = _round(_round(b * decay, DT, LOWP) + s, DT, LOWP)
        tl.store(s_ptr + row + offs, s.to(DT), mask=mask)
        if STORE_V:
            tl.store(vseq_ptr + row + offs, v.to(DT), mask=mask)
    tl.store(vT_ptr + offs, v.to(DT), mask=mask)
    tl.store(bT_ptr + offs, b.to(DT), mask=mask)


@triton.jit(do_not_specialize=["T", "window", "steps0"])
def adaptive_backward_kernel(
        gs_ptr, gvseq_ptr, gvT_ptr, gbT_ptr, h_ptr, b_ptr, gx_ptr, gv0_ptr, gb0_ptr,
        vth_ptr, tau_ptr, scale_ptr, decay_ptr, vth_s, tau_s, scale_s, decay_s, v_reset, sg_p0, sg_p1,
        N, T, window, steps0,
        CHARGE: tl.constexpr, DECAY_INPUT: tl.constexpr, TAU_RECIP: tl.constexpr, HARD: tl.constexpr,
        DETACH: tl.constexpr, SURROGATE: tl.constexpr, VTH_MODE: tl.constexpr, TAU_MODE: tl.constexpr,
        SCALE_MODE: tl.constexpr, DECAY_MODE: tl.constexpr, HAS_GS: tl.constexpr, HAS_GVSEQ: tl.constexpr,
        HAS_GVT: tl.constexpr, HAS_GBT: tl.constexpr, WINDOW: tl.constexpr, LOWP: tl.constexpr,
        BLOCK: tl.constexpr):
    """BPTT of :func:`adaptive_forward_kernel` from its trace (module docstring), in float32."""
    DT: tl.constexpr = h_ptr.dtype.element_ty
    v_reset = tl.cast(v_reset, tl.float32)
    sg_p0, sg_p1 = tl.cast(sg_p0, tl.float32), tl.cast(sg_p1, tl.float32)
    offs, mask, n = _neurons(N, BLOCK)
    vth = _param(vth_ptr, vth_s, offs, mask, VTH_MODE)
    tau = _param(tau_ptr, tau_s, offs, mask, TAU_MODE)
    scale = _param(scale_ptr, scale_s, offs, mask, SCALE_MODE)
    decay = _param(decay_ptr, decay_s, offs, mask, DECAY_MODE)
    if TAU_RECIP:
        inv_tau = tau
    else:
        inv_tau = 1.0 / tau
    gv = _incoming(gvT_ptr, offs, mask, HAS_GVT, BLOCK)
    gb = _incoming(gbT_ptr, offs, mask, HAS_GBT, BLOCK)
    for r in range(T):
        t = T - 1 - r
        row = n * t
        h = tl.load(h_ptr + row + offs, mask=mask, other=0.0).to(tl.float32)
        b = tl.load(b_ptr + row + offs, mask=mask, other=0.0).to(tl.float32)
        th = _threshold(vth, scale, b, DT, LOWP)
        d = _round(h - th, DT, LOWP)
        s = tl.where(d >= 0.0, 1.0, 0.0)
        sg = _surrogate_grad(d, sg_p0, sg_p1, SURROGATE, False)
        if HAS_GVSEQ:
            gv += tl.load(gvseq_ptr + row + offs, mask=mask, other=0.0).to(tl.float32)
        if HARD:
            gh = gv * (1.0 - s)
            dv_ds = v_reset - h
            gth = tl.zeros([BLOCK], tl.float32)
        else:
            gh = gv
            dv_ds = -th
            gth = -gv * s
        g_spike = tl.zeros([BLOCK], tl.float32)
        if HAS_GS:
            g_spike += tl.load(gs_ptr + row + offs, mask=mask, other=0.0).to(tl.float32)
        if not DETACH:
            g_spike += gv * dv_ds + gb
        gh += g_spike * sg
        gth -= g_spike * sg
        gb = gb * decay + gth * scale
        if CHARGE == 1:
            gx, gv = _lif_charge_grad(gh, inv_tau, DECAY_INPUT)
        else:
            gx = gh
            gv = gh
        tl.store(gx_ptr + row + offs, gx.to(gx_ptr.dtype.element_ty), mask=mask)
        fresh = _fresh(t, window, steps0, WINDOW)
        gv = tl.where(fresh, 0.0, gv)
        gb = tl.where(fresh, 0.0, gb)
    tl.store(gv0_ptr + offs, gv.to(gv0_ptr.dtype.element_ty), mask=mask)
    tl.store(gb0_ptr + offs, gb.to(gb0_ptr.dtype.element_ty), mask=mask)

