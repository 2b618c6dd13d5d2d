"""Triton kernels for the multi-step neuron (the IR's ``Neuron`` op, charges if/lif/plif/cuba).

One program owns ``BLOCK`` neurons and loops over the ``T`` steps of the sequence ``[T, N]``.

forward, per step (the order of operations is that of ``snnc.ir.neuron.step``, the program every
backend runs, so float32 results are bit-identical to the PyTorch loop; in float16/bfloat16 every
operation is rounded to the storage dtype, as the PyTorch loop does; the hard reset is the program's
select, its gradient that of the blend ``H·(1 - S) + v_reset·S``)::

    H = charge(V, I, X)
    S = (H - v_threshold) >= 0
    V = v_reset where S else H       (hard)    |    V = H - v_threshold·S   (soft)

backward (Fang et al., SpikingJelly, Science Advances 2023, Alg. 3; one kernel, reverse time), with ``gV`` the gradient reaching ``V[t]``::

    gH = gS·σ'(H - v_th) + gV·∂V/∂H + [not detach_reset] gV·∂V/∂S·σ'(H - v_th)
    gX = gH·∂H/∂X;  gV ← gH·∂H/∂V;  (cuba: gI ← (gH + gI)·alpha);  (plif: gk += gH·∂H/∂k)

What the backward needs of the forward is ``H[t]`` (``S[t]`` follows from it). Storing it would cost a
full ``[T, N]`` write and read; instead, when a gradient is needed, the forward keeps the state ``(V, I)``
after every ``SPAN`` steps (``[ceil(T / SPAN) - 1, N]``; none when one span covers the sequence) and the
backward, span by span in reverse, re-runs the span's steps from its checkpoint (or the initial state)
and the saved input ``X`` (the same :func:`_step`, so the same ``H`` bit for bit), keeps them in
registers and runs the recurrence back over them. Bytes per neuron-step: forward ``X`` + ``S``, backward
``gS`` + ``X`` + ``gX`` — the least an exact BPTT moves — plus ``2/SPAN`` for the checkpoints. The
kernels are specialized on ``T`` (the chunks unroll; a chunk's loads are issued together, the next
chunk's before the current one runs) and on whether ``N`` is a multiple of 16 (then a thread's
neighbouring neurons load and store as one vector). Window resets (state back to ``v_init``/0 before
step ``t`` when ``(steps0 + t) % window == 0``) cut the gradient through the state.

Matching PyTorch's rounding on the device the kernel runs on (each measured on the H100 against
PyTorch's CUDA element-wise kernels, see ``benchmarks/device/diag.py``):

- an operation with a Python-number hyperparameter (``v_th``, ``v_reset``, ``v_leak``, cuba's alpha and
  beta) is computed in float32 with the float32 value and the result rounded once to the storage dtype;
- ``/ tau`` for a scalar ``tau``: on CUDA PyTorch multiplies by ``float32(1 / tau)`` (reciprocal taken in
  double) — ``TAU_RECIP``, the host passes that reciprocal; on the CPU (``TRITON_INTERPRET=1``) PyTorch
  divides, and so do the kernels (``div_rn``). A per-neuron ``tau`` tensor is a true division on both;
- PLIF's ``k`` (a float32 0-d tensor): on CUDA PyTorch casts it to a float16/bfloat16 operand's dtype
  before the product (``ROUND_K``); on the CPU it uses the float32 value;
- ``enable_fp_fusion=False``: no multiply-add is contracted, as PyTorch's one-op kernels cannot.

16-bit steps (``NATIVE16``: float16, and bfloat16 on the GPU) keep the state in 16-bit registers: an
operation between two 16-bit tensors is done in that dtype (same result as float32-then-round, see
:func:`_top`), and so is one with a scalar hyperparameter that is itself a number of the dtype
(``EXACT16``, the common 1.0/0.0/0.5); only other scalars go through float32 — the conversions otherwise
bound the kernel. bfloat16 under the interpreter (NumPy has no bfloat16 arithmetic) and the backward's
gradient arithmetic emulate every rounding in float32 (``_round``).

Parameters come in one of three modes (``*_MODE`` constexpr): 0 = a scalar argument, 1 = one value per
neuron (a ``[N]`` tensor), 2 = a one-element tensor (PLIF's ``k``: read on the device, so no host sync).
"""

from __future__ import annotations

import triton
import triton.language as tl
from triton.language.extra.cuda import libdevice

IF, LIF, PLIF, CUBA = 0, 1, 2, 3
SCALAR, PER_NEURON, ONE = 0, 1, 2


@triton.jit
def _round(x, DT: tl.constexpr, LOWP: tl.constexpr):
    """Round a float32 intermediate to the storage dtype (a no-op in float32)."""
    if LOWP:
        x = x.to(DT).to(tl.float32)
    return x


@triton.jit
def _param(ptr, scalar, offs, mask, MODE: tl.constexpr):
    if MODE == 1:
        p = tl.load(ptr + offs, mask=mask, other=1.0).to(tl.float32)
    elif MODE == 2:
        p = tl.load(ptr).to(tl.float32)
    else:
        p = tl.cast(scalar, tl.float32)
    return p


@triton.jit
def _arith(a, b, OP: tl.constexpr):
    """``a OP b`` (0 +, 1 -, 2 *, 3 /) in the operands' dtype, each correctly rounded (``div_rn``)."""
    if OP == 0:
        r = a + b
    elif OP == 1:
        r = a - b
    elif OP == 2:
        r = a * b
    else:
        r = tl.math.div_rn(a, b + tl.zeros_like(a))
    return r


@triton.jit
def _sop(a, b, OP: tl.constexpr, DT: tl.constexpr):
    """``a OP b`` for a ``DT`` tensor ``a`` and a float32 scalar ``b``: computed in float32 with the float32
    ``b`` and rounded once (PyTorch's opmath for a Python-number operand)."""
    return _arith(a.to(tl.float32), b, OP).to(DT)


@triton.jit
def _top(a, b, OP: tl.constexpr, DT: tl.constexpr):
    """``a OP b`` for two ``DT`` tensors in ``DT`` arithmetic. Sum, difference and product rounded once
    from the exact value equal PyTorch's float32-then-round (float32 carries more than 2p+2 bits of a
    16-bit format's p, so its intermediate rounding is innocuous); division goes through float32."""
    if OP == 3:
        r = _arith(a.to(tl.float32), b.to(tl.float32), OP).to(DT)
    else:
        r = _arith(a, b, OP)
    return r


@triton.jit
def _pop(a, p, OP: tl.constexpr, NATIVE: tl.constexpr, DT: tl.constexpr):
    """``a OP p`` for a hyperparameter ``p``: a ``DT`` tensor (per neuron, or PLIF's rounded ``k``) or a
    float32 scalar."""
    if NATIVE:
        r = _top(a, p, OP, DT)
    else:
        r = _sop(a, p, OP, DT)
    return r


@triton.jit
def _charge_lowp(v, i, x, p1, p2, v_leak, CHARGE: tl.constexpr, DECAY_INPUT: tl.constexpr,
                 TAU_RECIP: tl.constexpr, P1_NATIVE: tl.constexpr, P2_NATIVE: tl.constexpr, EXACT16: tl.constexpr,
                 DT: tl.constexpr):
    """:func:`_charge` for float16 with the state in ``DT`` registers (no float32 round trips for
    operations between two tensors; the conversions are what bounds a 16-bit kernel). ``EXACT16``: the
    scalar hyperparameters are float16 numbers, so operations with them are float16 operations too."""
    if CHARGE == 0:
        h = _top(v, x, 0, DT)
    elif CHARGE == 1 or CHARGE == 2:
        if DECAY_INPUT:
            a = _top(x, _pop(v, v_leak, 1, EXACT16, DT), 1, DT)
        else:
            a = _pop(v, v_leak, 1, EXACT16, DT)
        if CHARGE == 2 or TAU_RECIP:
            d = _pop(a, p1, 2, P1_NATIVE, DT)
        else:
            d = _pop(a, p1, 3, P1_NATIVE, DT)
        if DECAY_INPUT:
            h = _top(v, d, 0, DT)
        else:
            h = _top(_top(v, d, 1, DT), x, 0, DT)
    else:
        i = _top(_pop(i, p1, 2, P1_NATIVE, DT), x, 0, DT)
        h = _top(_pop(v, p2, 2, P2_NATIVE, DT), i, 0, DT)
    return h, i


@triton.jit
def _charge(v, i, x, p1, p2, v_leak, CHARGE: tl.constexpr, DECAY_INPUT: tl.constexpr,
            TAU_RECIP: tl.constexpr, DT: tl.constexpr, LOWP: tl.constexpr):
    """``(H, I)``; ``p1`` is tau (lif; its reciprocal if TAU_RECIP), k (plif) or alpha (cuba), ``p2`` beta."""
    if CHARGE == 0:
        h = _round(v + x, DT, LOWP)
    elif CHARGE == 1:
        if DECAY_INPUT:
            a = _round(x - _round(v - v_leak, DT, LOWP), DT, LOWP)
        else:
            a = _round(v - v_leak, DT, LOWP)
        if TAU_RECIP:
            d = _round(a * p1, DT, LOWP)
        else:
            d = _round(tl.math.div_rn(a, p1 + tl.zeros_like(a)), DT, LOWP)
        if DECAY_INPUT:
            h = _round(v + d, DT, LOWP)
        else:
            h = _round(_round(v - d, DT, LOWP) + x, DT, LOWP)
    elif CHARGE == 2:
        if DECAY_INPUT:
            h = _round(v + _round(_round(x - _round(v - v_leak, DT, LOWP), DT, LOWP) * p1, DT, LOWP), DT, LOWP)
        else:
            h = _round(_round(v - _round(_round(v - v_leak, DT, LOWP) * p1, DT, LOWP), DT, LOWP) + x, DT, LOWP)
    else:
        i = _round(_round(i * p1, DT, LOWP) + x, DT, LOWP)
        h = _round(_round(v * p2, DT, LOWP) + i, DT, LOWP)
    return h, i


@triton.jit
def _reset(h, s, vth, v_reset, HARD: tl.constexpr, DT: tl.constexpr, LOWP: tl.constexpr):
    if HARD:  # the select V = v_reset where S else H (v_reset rounded as PyTorch rounds v_reset·S)
        v = tl.where(s > 0.0, _round(v_reset * s, DT, LOWP), h)
    else:
        v = _round(h - _round(vth * s, DT, LOWP), DT, LOWP)
    return v


@triton.jit
def _div(a, b, FAST: tl.constexpr):
    """``a / b`` in float32: Triton's ``div.full`` (~2 ulp), or with ``FAST`` the hardware reciprocal and a
    product (``__fdividef``, ~2 ulp, no range scaling: two instructions instead of seven) — for gradients,
    which are equal to PyTorch's within rounding, not bit for bit."""
    if FAST:
        q = libdevice.fast_dividef(a + tl.zeros_like(b), b)
    else:
        q = a / b
    return q


@triton.jit
def _surrogate_grad(x, p0, p1, CODE: tl.constexpr, FAST: tl.constexpr):
    """``g'(x)`` for the surrogate numbered ``CODE`` (``runtime/surrogates.py``), in float32."""
    if CODE == 0:  # sigmoid
        sg = _div(1.0, 1.0 + tl.exp(-(p0 * x)), FAST)
        g = p0 * sg * (1.0 - sg)
    elif CODE == 1:  # atan
        a = 1.5707963267948966 * p0 * x
        g = _div(p0 / 2.0, 1.0 + a * a, FAST)
    elif CODE == 2:  # piecewise_leaky_relu
        g = tl.where(tl.abs(x) < p0, 0.5 / p0 + tl.zeros_like(x), p1 + tl.zeros_like(x))
    elif CODE == 3:  # s2nn
        sg = _div(1.0, 1.0 + tl.exp(-(p0 * x)), FAST)
        g = tl.where(x < 0.0, p0 * sg * (1.0 - sg), _div(p1, x + 1.0, FAST))
    elif CODE == 4:  # q_pseudo_spike
        g = tl.exp(-p0 * tl.log(1.0 + 2.0 / (p0 - 1.0) * tl.abs(x)))
    elif CODE == 5:  # leaky_k_relu
        g = tl.where(x >= 0.0, p1 + tl.zeros_like(x), p0 + tl.zeros_like(x))
    elif CODE == 6:  # fake_numerical_gradient
        g = tl.minimum(_div(1.0, tl.abs(x), FAST), p0)
    else:  # log_tailed_relu
        g = tl.where(x <= 0.0, p0 + tl.zeros_like(x), tl.where(x <= 1.0, 1.0, _div(1.0, x, FAST)))
    return g


@triton.jit
def _hyperparameters(vth_ptr, p1_ptr, p2_ptr, vth_s, p1_s, p2_s, offs, mask, VTH_MODE: tl.constexpr,
                     P1_MODE: tl.constexpr, P2_MODE: tl.constexpr, ROUND_K: tl.constexpr, DT: tl.constexpr,
                     LOWP: tl.constexpr):
    """``(v_th, p1, p2)`` in float32 (``p1`` is tau or its reciprocal, k or alpha; ``p2`` beta)."""
    vth = _param(vth_ptr, vth_s, offs, mask, VTH_MODE)
    p1 = _param(p1_ptr, p1_s, offs, mask, P1_MODE)
    if ROUND_K:  # PyTorch on CUDA casts the float32 0-d ``k`` to the tensor's dtype before multiplying
        p1 = _round(p1, DT, LOWP)
    p2 = _param(p2_ptr, p2_s, offs, mask, P2_MODE)
    return vth, p1, p2


@triton.jit
def _as_state(value, DT: tl.constexpr, NATIVE: tl.constexpr):
    """A float32 value in the registers the step keeps its state or a hyperparameter in."""
    if NATIVE:
        value = value.to(DT)
    return value


@triton.jit
def _initial_state(v0_ptr, i0_ptr, v0_s, offs, mask, V0_MODE: tl.constexpr, I0_MODE: tl.constexpr,
                   DT: tl.constexpr, NATIVE16: tl.constexpr, BLOCK: tl.constexpr):
    """The state ``(V, I)`` before the first step, in the step's registers."""
    v = _param(v0_ptr, v0_s, offs, mask, V0_MODE) + tl.zeros([BLOCK], tl.float32)
    i = _param(i0_ptr, 0.0, offs, mask, I0_MODE) + tl.zeros([BLOCK], tl.float32)
    return _as_state(v, DT, NATIVE16), _as_state(i, DT, NATIVE16)


@triton.jit
def _step(v, i, x, fresh, vth, p1, p2, v_reset, v_leak, v_init, CHARGE: tl.constexpr, DECAY_INPUT: tl.constexpr,
          TAU_RECIP: tl.constexpr, HARD: tl.constexpr, VTH_MODE: tl.constexpr, P1_MODE: tl.constexpr,
          P2_MODE: tl.constexpr, ROUND_K: tl.constexpr, NATIVE16: tl.constexpr, EXACT16: tl.constexpr,
          DT: tl.constexpr, LOWP: tl.constexpr):
    """One step of the neuron from the state ``(V, I)``: ``(H, S, V', I', V before the charge)``.

    The forward and the backward's recomputation both run this, so the backward sees the forward's
    ``H`` bit for bit. ``fresh`` (a window starts) puts the state back to ``v_init``/0 first. With
    ``NATIVE16`` the state is in float16 registers and hyperparameters given per neuron (or PLIF's
    rounded ``k``, or scalars when ``EXACT16``) are float16 (see :func:`_charge_lowp`); otherwise
    everything is float32, rounded to the storage dtype after every operation (``_round``)."""
    if NATIVE16:
        VTH_NATIVE: tl.constexpr = (VTH_MODE == 1) or (EXACT16 and VTH_MODE == 0)
        P1_NATIVE: tl.constexpr = (P1_MODE == 1) or ROUND_K or (EXACT16 and P1_MODE == 0)
        P2_NATIVE: tl.constexpr = (P2_MODE == 1) or (EXACT16 and P2_MODE == 0)
        vth = _as_state(vth, DT, VTH_NATIVE)
        p1 = _as_state(p1, DT, P1_NATIVE)
        p2 = _as_state(p2, DT, P2_NATIVE)
        v_leak = _as_state(v_leak, DT, EXACT16)
        v_reset = _as_state(v_reset, DT, EXACT16)
        v = tl.where(fresh, v_init.to(DT), v)
        i = tl.where(fresh, 0.0, i.to(tl.float32)).to(DT)
        h, i = _charge_lowp(v, i, x, p1, p2, v_leak, CHARGE, DECAY_INPUT, TAU_RECIP, P1_NATIVE, P2_NATIVE, EXACT16,
                            DT)
        fire = _pop(h, vth, 1, VTH_NATIVE, DT).to(tl.float32) >= 0.0
        s = tl.where(fire, 1.0, 0.0).to(DT)
        if HARD:  # the select V = v_reset where S else H, v_reset rounded as PyTorch rounds v_reset·S
            v_next = tl.where(fire, _pop(s, v_reset, 2, EXACT16, DT), h)
        else:
            v_next = _top(h, _pop(s, vth, 2, VTH_NATIVE, DT), 1, DT)
    else:
        v = tl.where(fresh, v_init, v)
        i = tl.where(fresh, 0.0, i)
        h, i = _charge(v, i, x.to(tl.float32), p1, p2, v_leak, CHARGE, DECAY_INPUT, TAU_RECIP, DT, LOWP)
        s = tl.where(_round(h - vth, DT, LOWP) >= 0.0, 1.0, 0.0)
        v_next = _reset(h, s, vth, v_reset, HARD, DT, LOWP)
    return h, s, v_next, i, v


@triton.jit
def _fresh(t, window, steps0, WINDOW: tl.constexpr):
    """A window starts at step ``t`` (not the first of the call: the caller's state is used there);
    never without ``WINDOW`` (a constant, so the state resets that depend on it compile away)."""
    if WINDOW:
        fresh = ((steps0 + t) % window == 0) & (t > 0)
    else:
        fresh = False
    return fresh


@triton.jit
def _lif_charge_grad(gh, inv_tau, DECAY_INPUT: tl.constexpr):
    """``(gX, gV)`` of the lif charge: ``∂H/∂X = 1/tau`` (decay_input, else 1), ``∂H/∂V = 1 - 1/tau``."""
    if DECAY_INPUT:
        gx = gh * inv_tau
    else:
        gx = gh
    return gx, gh * (1.0 - inv_tau)


@triton.jit
def _incoming(ptr, offs, mask, HAS: tl.constexpr, BLOCK: tl.constexpr):
    """The gradient reaching the state after the last step, in float32 (zeros without one)."""
    g = tl.zeros([BLOCK], tl.float32)
    if HAS:
        g += tl.load(ptr + offs, mask=mask, other=0.0).to(tl.float32)
    return g


@triton.jit
def _neurons(N, BLOCK: tl.constexpr):
    """This program's ``BLOCK`` neurons: their offsets in a step, the mask of those below ``N``, and the
    step stride ``N`` as int64 (offsets across steps are 64-bit scalars, within a step 32-bit)."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    return offs, offs < N, tl.cast(N, tl.int64)


@triton.jit
def _program(N, v0_ptr, i0_ptr, vth_ptr, p1_ptr, p2_ptr, v0_s, vth_s, p1_s, p2_s, V0_MODE: tl.constexpr,
             I0_MODE: tl.constexpr, VTH_MODE: tl.constexpr, P1_MODE: tl.constexpr, P2_MODE: tl.constexpr,
             ROUND_K: tl.constexpr, NATIVE16: tl.constexpr, DT: tl.constexpr, LOWP: tl.constexpr,
             BLOCK: tl.constexpr):
    """What both kernels start from: this program's neurons (:func:`_neurons`), their hyperparameters and
    the state before the first step."""
    offs, mask, n = _neurons(N, BLOCK)
    vth, p1, p2 = _hyperparameters(vth_ptr, p1_ptr, p2_ptr, vth_s, p1_s, p2_s, offs, mask, VTH_MODE, P1_MODE, P2_MODE,
                                   ROUND_K, DT, LOWP)
    v, i = _initial_state(v0_ptr, i0_ptr, v0_s, offs, mask, V0_MODE, I0_MODE, DT, NATIVE16, BLOCK)
    return offs, mask, n, vth, p1, p2, v, i


@triton.jit
def _load_steps(ptr, row, n, offs, mask, NSTEPS: tl.constexpr):
    """The values of ``NSTEPS`` consecutive steps from step offset ``row`` (a scalar; ``n`` the step
    stride), all loads issued before any is used."""
    values = ()
    for k in tl.static_range(NSTEPS):
        values = values + (tl.load(ptr + (row + n * k) + offs, mask=mask, other=0.0),)
    return values


@triton.jit
def _checkpoint_row(t0, n, SPAN: tl.constexpr):
    """Offset of the state checkpoint taken before step ``t0`` (``0 < t0 < T``, ``t0 ≡ T mod SPAN``): the
    spans are counted back from the end, the first one partial, so the checkpoint after step ``t0 - 1`` is
    number ``ceil(t0 / SPAN) - 1``."""
    return n * ((t0 + (SPAN - 1)) // SPAN - 1)


@triton.jit
def _forward_chunk(xs, s_ptr, sb_ptr, vseq_ptr, ckv_ptr, cki_ptr, n, offs, mask, t0, v, i, vth, p1, p2,
                   v_reset, v_leak, v_init, window, steps0,
                   CHARGE: tl.constexpr, DECAY_INPUT: tl.constexpr, TAU_RECIP: tl.constexpr, HARD: tl.constexpr,
                   VTH_MODE: tl.constexpr, P1_MODE: tl.constexpr, P2_MODE: tl.constexpr, ROUND_K: tl.constexpr,
                   NATIVE16: tl.constexpr, EXACT16: tl.constexpr, DT: tl.constexpr, LOWP: tl.constexpr,
                   STORE_V: tl.constexpr, STORE_SB: tl.constexpr, STORE_CKPT: tl.constexpr, WINDOW: tl.constexpr,
                   T: tl.constexpr, SPAN: tl.constexpr, NSTEPS: tl.constexpr):
    """Steps ``t0 .. t0 + NSTEPS - 1`` from their loaded inputs ``xs`` (``STORE_SB``: the spikes as uint8
    too); with ``STORE_CKPT``, the state after them when a span of ``SPAN`` steps (the backward's chunk)
    starts there."""
    row = n * t0
    for k in tl.static_range(NSTEPS):
        h, s, v, i, _ = _step(v, i, xs[k], _fresh(t0 + k, window, steps0, WINDOW), vth, p1, p2, v_reset, v_leak, v_init,
                              CHARGE, DECAY_INPUT, TAU_RECIP, HARD, VTH_MODE, P1_MODE, P2_MODE, ROUND_K, NATIVE16,
                              EXACT16, DT, LOWP)
        tl.store(s_ptr + (row + n * k) + offs, s.to(DT), mask=mask)
        if STORE_SB:
            tl.store(sb_ptr + (row + n * k) + offs, s.to(tl.uint8), mask=mask)
        if STORE_V:
            tl.store(vseq_ptr + (row + n * k) + offs, v.to(DT), mask=mask)
    if STORE_CKPT:
        t1 = t0 + NSTEPS
        if (t1 < T) and ((T - t1) % SPAN == 0):
            ck = _checkpoint_row(t1, n, SPAN)
            tl.store(ckv_ptr + ck + offs, v.to(DT), mask=mask)
            if CHARGE == 3:
                tl.store(cki_ptr + ck + offs, i.to(DT), mask=mask)
    return v, i


@triton.jit(do_not_specialize=["window", "steps0"])
def neuron_forward_kernel(
        x_ptr, s_ptr, sb_ptr, vseq_ptr, ckv_ptr, cki_ptr, v0_ptr, i0_ptr, vT_ptr, iT_ptr, vth_ptr, p1_ptr, p2_ptr,
        v0_s, vth_s, p1_s, p2_s, v_reset, v_leak, v_init,
        N, window, steps0,
        CHARGE: tl.constexpr, DECAY_INPUT: tl.constexpr, TAU_RECIP: tl.constexpr, HARD: tl.constexpr,
        V0_MODE: tl.constexpr, I0_MODE: tl.constexpr, VTH_MODE: tl.constexpr, P1_MODE: tl.constexpr,
        P2_MODE: tl.constexpr, STORE_CKPT: tl.constexpr, STORE_V: tl.constexpr, STORE_SB: tl.constexpr,
        LOWP: tl.constexpr,
        ROUND_K: tl.constexpr, NATIVE16: tl.constexpr, EXACT16: tl.constexpr, WINDOW: tl.constexpr, T: tl.constexpr,
        CHUNK: tl.constexpr, SPAN: tl.constexpr, BLOCK: tl.constexpr):
    """Multi-step forward of the ``Neuron`` op (see the module docstring), ``CHUNK`` steps at a time: the
    ``T mod CHUNK`` leading steps, then whole chunks, each chunk's inputs loaded while the one before it
    runs. ``STORE_CKPT`` (a gradient will be asked for) stores the state at the start of every span of
    ``SPAN`` steps (a multiple of ``CHUNK``; spans counted back from the end) but the first,
    ``[ceil(T / SPAN) - 1, N]``. ``STORE_SB`` also writes the spikes as uint8 (``snnc.nn.compact_spikes``
    keeps those for the layers that save the spikes)."""
    v_reset, v_leak, v_init = tl.cast(v_reset, tl.float32), tl.cast(v_leak, tl.float32), tl.cast(v_init, tl.float32)
    DT: tl.constexpr = x_ptr.dtype.element_ty
    FULL: tl.constexpr = T // CHUNK
    LEAD: tl.constexpr = T % CHUNK
    offs, mask, n, vth, p1, p2, v, i = _program(N, v0_ptr, i0_ptr, vth_ptr, p1_ptr, p2_ptr, v0_s, vth_s, p1_s, p2_s,
                                                V0_MODE, I0_MODE, VTH_MODE, P1_MODE, P2_MODE, ROUND_K, NATIVE16, DT,
                                                LOWP, BLOCK)
    if LEAD > 0:
        v, i = _forward_chunk(_load_steps(x_ptr, 0, n, offs, mask, LEAD), s_ptr, sb_ptr, vseq_ptr, ckv_ptr, cki_ptr, n,
                              offs, mask, 0, v, i, vth, p1, p2, v_reset, v_leak, v_init, window, steps0, CHARGE,
                              DECAY_INPUT, TAU_RECIP, HARD, VTH_MODE, P1_MODE, P2_MODE, ROUND_K, NATIVE16, EXACT16, DT,
                              LOWP, STORE_V, STORE_SB, STORE_CKPT, WINDOW, T, SPAN, LEAD)
    if FULL > 0:
        xs = _load_steps(x_ptr, n * LEAD, n, offs, mask, CHUNK)
        for c in range(FULL):
            t0 = LEAD + c * CHUNK
            following = _load_steps(x_ptr, n * (t0 + CHUNK), n, offs, mask & (c + 1 < FULL), CHUNK)
            v, i = _forward_chunk(xs, s_ptr, sb_ptr, vseq_ptr, ckv_ptr, cki_ptr, n, offs, mask, t0, v, i, vth, p1, p2,
                                  v_reset, v_leak, v_init, window, steps0, CHARGE, DECAY_INPUT, TAU_RECIP, HARD,
                                  VTH_MODE, P1_MODE, P2_MODE, ROUND_K, NATIVE16, EXACT16, DT, LOWP, STORE_V,
                                  STORE_SB, STORE_CKPT, WINDOW, T, SPAN, CHUNK)
            xs = following
    tl.store(vT_ptr + offs, v.to(DT), mask=mask)
    if CHARGE == 3:
        tl.store(iT_ptr + offs, i.to(DT), mask=mask)


@triton.jit
def _backward_loads(gs_ptr, gvseq_ptr, x_ptr, ckv_ptr, cki_ptr, n, offs, mask, t0, v_start, i_start,
                    CHARGE: tl.constexpr, HAS_GS: tl.constexpr, GS_BROADCAST: tl.constexpr, HAS_GVSEQ: tl.constexpr,
                    CHUNK: tl.constexpr, NSTEPS: tl.constexpr):
    """What the backward of steps ``t0 .. t0 + NSTEPS - 1`` reads: the state before them (the checkpoint,
    or ``v_start``/``i_start`` at ``t0 = 0``), their inputs and the gradients reaching their outputs
    (``GS_BROADCAST``: the spikes' gradient is one step's, the same at every step: read in place)."""
    v = v_start
    i = i_start
    if t0 > 0:
        ck = _checkpoint_row(t0, n, CHUNK)
        v = tl.load(ckv_ptr + ck + offs, mask=mask, other=0.0).to(v_start.dtype)
        if CHARGE == 3:
            i = tl.load(cki_ptr + ck + offs, mask=mask, other=0.0).to(i_start.dtype)
    row = n * t0
    xs = _load_steps(x_ptr, row, n, offs, mask, NSTEPS)
    gss = ()
    gvs = ()
    if HAS_GS:
        if GS_BROADCAST:
            gss = _load_steps(gs_ptr, 0, 0, offs, mask, NSTEPS)
        else:
            gss = _load_steps(gs_ptr, row, n, offs, mask, NSTEPS)
    if HAS_GVSEQ:
        gvs = _load_steps(gvseq_ptr, row, n, offs, mask, NSTEPS)
    return v, i, xs, gss, gvs


@triton.jit
def _backward_chunk(loaded, gx_ptr, n, offs, mask, t0, gv, gi, gk, vth, p1, p2, v_reset, v_leak, v_init, sg_p0, sg_p1,
                    window, steps0, CHARGE: tl.constexpr, DECAY_INPUT: tl.constexpr, TAU_RECIP: tl.constexpr,
                    HARD: tl.constexpr, DETACH: tl.constexpr, SURROGATE: tl.constexpr, VTH_MODE: tl.constexpr,
                    P1_MODE: tl.constexpr, P2_MODE: tl.constexpr, ROUND_K: tl.constexpr, NATIVE16: tl.constexpr,
                    EXACT16: tl.constexpr, DT: tl.constexpr, LOWP: tl.constexpr, HAS_GS: tl.constexpr,
                    HAS_GVSEQ: tl.constexpr, WINDOW: tl.constexpr, FAST_DIV: tl.constexpr, NSTEPS: tl.constexpr):
    """BPTT through steps ``t0 + NSTEPS - 1 .. t0`` from their :func:`_backward_loads`: recompute their ``H``
    from the state before them, then run the recurrence backwards over them."""
    v, i, xs, gss, gvs = loaded
    row = n * t0
    hs = ()
    vs = ()
    for k in tl.static_range(NSTEPS):
        h, _, v, i, v_before = _step(v, i, xs[k], _fresh(t0 + k, window, steps0, WINDOW), vth, p1, p2, v_reset, v_leak,
                                     v_init, CHARGE, DECAY_INPUT, TAU_RECIP, HARD, VTH_MODE, P1_MODE, P2_MODE,
                                     ROUND_K, NATIVE16, EXACT16, DT, LOWP)
        hs = hs + (h,)
        vs = vs + (v_before.to(tl.float32),)
    if CHARGE == 1:  # dH/dV = 1 - 1/tau, dH/dX = 1/tau (decay_input)
        if TAU_RECIP:
            inv_tau = p1
        else:
            inv_tau = 1.0 / p1
    VTH_NATIVE: tl.constexpr = NATIVE16 and ((VTH_MODE == 1) or (EXACT16 and VTH_MODE == 0))
    for r in tl.static_range(NSTEPS):
        if VTH_NATIVE:  # H - v_th in float16, as the step computed it
            d = _top(hs[NSTEPS - 1 - r], vth.to(DT), 1, DT).to(tl.float32)
        else:
            d = _round(hs[NSTEPS - 1 - r].to(tl.float32) - vth, DT, LOWP)
        h = hs[NSTEPS - 1 - r].to(tl.float32)
        if HAS_GVSEQ:
            gv += gvs[NSTEPS - 1 - r].to(tl.float32)
        s = tl.where(d >= 0.0, 1.0, 0.0)
        sg = _surrogate_grad(d, sg_p0, sg_p1, SURROGATE, FAST_DIV)
        if HARD:
            gh = gv * (1.0 - s)
            dv_ds = v_reset - h
        else:
            gh = gv
            dv_ds = -vth
        if HAS_GS:
            gh += gss[NSTEPS - 1 - r].to(tl.float32) * sg
        if not DETACH:
            gh += gv * dv_ds * sg
        if CHARGE == 0:
            gx = gh
            gv = gh
        elif CHARGE == 1:
            gx, gv = _lif_charge_grad(gh, inv_tau, DECAY_INPUT)
        elif CHARGE == 2:
            dh_dk = -_round(vs[NSTEPS - 1 - r] - v_leak, DT, LOWP)
            if DECAY_INPUT:
                dh_dk = _round(xs[NSTEPS - 1 - r].to(tl.float32) + dh_dk, DT, LOWP)
                gx = gh * p1
            else:
                gx = gh
            gk += tl.where(mask, gh * dh_dk, 0.0)
            gv = gh * (1.0 - p1)
        else:
            gi = gh + gi
            gx = gi
            gv = gh * p2
            gi = gi * p1
        tl.store(gx_ptr + (row + n * (NSTEPS - 1 - r)) + offs, gx.to(gx_ptr.dtype.element_ty), mask=mask)
        fresh = _fresh(t0 + NSTEPS - 1 - r, window, steps0, WINDOW)
        gv = tl.where(fresh, 0.0, gv)
        gi = tl.where(fresh, 0.0, gi)
    return gv, gi, gk


@triton.jit(do_not_specialize=["window", "steps0"])
def neuron_backward_kernel(
        gs_ptr, gvseq_ptr, gvT_ptr, giT_ptr, x_ptr, ckv_ptr, cki_ptr, v0_ptr, i0_ptr, vth_ptr, p1_ptr, p2_ptr,
        gx_ptr, gv0_ptr, gi0_ptr, gk_ptr,
        v0_s, vth_s, p1_s, p2_s, v_reset, v_leak, v_init, sg_p0, sg_p1,
        N, window, steps0,
        CHARGE: tl.constexpr, DECAY_INPUT: tl.constexpr, TAU_RECIP: tl.constexpr, HARD: tl.constexpr,
        DETACH: tl.constexpr, SURROGATE: tl.constexpr,
        V0_MODE: tl.constexpr, I0_MODE: tl.constexpr, VTH_MODE: tl.constexpr, P1_MODE: tl.constexpr,
        P2_MODE: tl.constexpr, HAS_GS: tl.constexpr, GS_BROADCAST: tl.constexpr, HAS_GVSEQ: tl.constexpr,
        HAS_GVT: tl.constexpr,
        HAS_GIT: tl.constexpr, STORE_GV0: tl.constexpr, STORE_GI0: tl.constexpr, LOWP: tl.constexpr,
        ROUND_K: tl.constexpr, NATIVE16: tl.constexpr, EXACT16: tl.constexpr, WINDOW: tl.constexpr,
        FAST_DIV: tl.constexpr, T: tl.constexpr, CHUNK: tl.constexpr, BLOCK: tl.constexpr):
    """BPTT of :func:`neuron_forward_kernel`, chunk by chunk in reverse time, from the input and the
    forward's checkpoints (``H`` is recomputed, not stored); ``CHUNK`` is the forward's ``SPAN``."""
    v_reset, v_leak, v_init = tl.cast(v_reset, tl.float32), tl.cast(v_leak, tl.float32), tl.cast(v_init, tl.float32)
    sg_p0, sg_p1 = tl.cast(sg_p0, tl.float32), tl.cast(sg_p1, tl.float32)
    DT: tl.constexpr = x_ptr.dtype.element_ty
    FULL: tl.constexpr = T // CHUNK
    LEAD: tl.constexpr = T % CHUNK
    offs, mask, n, vth, p1, p2, v_start, i_start = _program(N, v0_ptr, i0_ptr, vth_ptr, p1_ptr, p2_ptr, v0_s, vth_s,
                                                            p1_s, p2_s, V0_MODE, I0_MODE, VTH_MODE, P1_MODE, P2_MODE,
                                                            ROUND_K, NATIVE16, DT, LOWP, BLOCK)
    gv = _incoming(gvT_ptr, offs, mask, HAS_GVT, BLOCK)
    gi = _incoming(giT_ptr, offs, mask, HAS_GIT, BLOCK)
    gk = tl.zeros([BLOCK], tl.float32)
    # whole chunks from the end, each one's loads issued while the one after it runs back, then the
    # T mod CHUNK leading steps
    if FULL > 0:
        loaded = _backward_loads(gs_ptr, gvseq_ptr, x_ptr, ckv_ptr, cki_ptr, n, offs, mask, T - CHUNK, v_start,
                                 i_start, CHARGE, HAS_GS, GS_BROADCAST, HAS_GVSEQ, CHUNK, CHUNK)
        for r in range(FULL):
            t0 = T - (r + 1) * CHUNK
            preceding = _backward_loads(gs_ptr, gvseq_ptr, x_ptr, ckv_ptr, cki_ptr, n, offs, mask & (r + 1 < FULL),
                                        t0 - CHUNK, v_start, i_start, CHARGE, HAS_GS, GS_BROADCAST, HAS_GVSEQ,
                                        CHUNK, CHUNK)
            gv, gi, gk = _backward_chunk(loaded, gx_ptr, n, offs, mask, t0, gv, gi, gk, vth, p1, p2, v_reset, v_leak,
                                         v_init, sg_p0, sg_p1, window, steps0, CHARGE, DECAY_INPUT, TAU_RECIP, HARD,
                                         DETACH, SURROGATE, VTH_MODE, P1_MODE, P2_MODE, ROUND_K, NATIVE16, EXACT16,
                                         DT, LOWP, HAS_GS, HAS_GVSEQ, WINDOW, FAST_DIV, CHUNK)
            loaded = preceding
    if LEAD > 0:
        loaded = _backward_loads(gs_ptr, gvseq_ptr, x_ptr, ckv_ptr, cki_ptr, n, offs, mask, 0, v_start, i_start,
                                 CHARGE, HAS_GS, GS_BROADCAST, HAS_GVSEQ, CHUNK, LEAD)
        gv, gi, gk = _backward_chunk(loaded, gx_ptr, n, offs, mask, 0, gv, gi, gk, vth, p1, p2, v_reset, v_leak, v_init,
                                     sg_p0, sg_p1, window, steps0, CHARGE, DECAY_INPUT, TAU_RECIP, HARD, DETACH,
                                     SURROGATE, VTH_MODE, P1_MODE, P2_MODE, ROUND_K, NATIVE16, EXACT16, DT, LOWP,
                                     HAS_GS, HAS_GVSEQ, WINDOW, FAST_DIV, LEAD)
    if STORE_GV0:
        tl.store(gv0_ptr + offs, gv.to(gv0_ptr.dtype.element_ty), mask=mask)
    if STORE_GI0:
        tl.store(gi0_ptr + offs, gi.to(gi0_ptr.dtype.element_ty), mask=mask)
    if CHARGE == 2:  # each neuron's sum over the steps; the host sums over the neurons
        tl.store(gk_ptr + offs, gk, mask=mask)
