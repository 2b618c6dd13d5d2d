"""Shared cases: run a neuron with backend='torch' and a fused backend on the same input and compare."""

from __future__ import annotations

import torch

from snnc.nn import neuron, surrogate

CONFIGS = {
    "if-hard": (neuron.IF, {}),
    "if-soft": (neuron.IF, {"v_reset": None}),
    "lif-hard": (neuron.LIF, {"tau": 3.0}),
    "lif-soft-nodecay": (neuron.LIF, {"tau": 1.7, "decay_input": False, "v_reset": None}),
    "lif-hard-vreset": (neuron.LIF, {"tau": 2.0, "v_reset": -0.25, "v_threshold": 0.7}),
    "plif-hard": (neuron.PLIF, {"init_tau": 2.5}),
    "plif-soft-nodecay": (neuron.PLIF, {"init_tau": 3.0, "decay_input": False, "v_reset": None}),
    "cuba-hard": (neuron.CubaLIF, {"current_decay": 0.3, "voltage_decay": 0.2}),
    "cuba-soft": (neuron.CubaLIF, {"current_decay": 0.1, "voltage_decay": 0.4, "v_reset": None}),
}

#: adaptive-threshold neurons (the Triton backend only)
ADAPTIVE = {
    "alif-hard": (neuron.ALIF, {"tau": 3.0, "tau_adapt": 5.0, "beta_adapt": 0.3}),
    "alif-soft-nodecay": (neuron.ALIF, {"tau": 1.7, "tau_adapt": 20.0, "beta_adapt": 1.5, "decay_input": False,
                                        "v_reset": None}),
    "alif-hard-vreset": (neuron.ALIF, {"tau": 2.0, "tau_adapt": 3.0, "beta_adapt": 0.7, "v_reset": -0.25,
                                       "v_threshold": 0.7}),
}


def surrogates():
    """Every surrogate of snnc.nn that has a kernel form, with non-default parameters."""
    out = [surrogate.Sigmoid(3.0), surrogate.ATan(1.5)]
    for name, args in (("PiecewiseLeakyReLU", ()), ("S2NN", ()), ("QPseudoSpike", ()), ("LeakyKReLU", ()),
                       ("FakeNumericalGradient", ()), ("LogTailedReLU", ())):
        cls = getattr(surrogate, name, None)
        if cls is not None:
            out.append(cls(*args))
    return out


def make_pair(name: str, backend: str, **extra):
    cls, kw = {**CONFIGS, **ADAPTIVE}[name]
    kw = {**kw, **extra}
    ref = cls(step_mode="m", backend="torch", **kw)
    fused = cls(step_mode="m", backend=backend, **kw)
    fused.load_state_dict(ref.state_dict())
    return ref, fused


def compare(ref, fused, x: torch.Tensor, exact: bool = True, grad: bool = True, rtol=1e-5, atol=1e-6,
            calls: int = 1, spike_tol: float = 5e-4):
    """Run both ``calls`` times on ``x`` (state carried between calls), then backward through all
    outputs with the same random weights; check spikes, state and gradients."""
    xa = x.clone().requires_grad_(grad)
    xb = x.clone().requires_grad_(grad)
    outs_a = [ref(xa) for _ in range(calls)]
    outs_b = [fused(xb) for _ in range(calls)]
    for a, b in zip(outs_a, outs_b):
        assert a.dtype == b.dtype and a.shape == b.shape
        mismatch = (a != b).sum().item()
        assert mismatch == 0 if exact else mismatch <= max(1, int(a.numel() * spike_tol)), f"{mismatch} spikes differ"
    for state in ("v", "i", "b"):
        va, vb = getattr(ref, state, None), getattr(fused, state, None)
        if isinstance(va, torch.Tensor):
            if exact:
                assert torch.equal(va, vb), f"{state} differs: {(va - vb).abs().max()}"
            else:
                assert torch.allclose(va.float(), vb.float(), rtol=rtol, atol=atol)
        else:
            assert va == vb
    if ref.store_v_seq:
        assert torch.equal(ref.v_seq, fused.v_seq) if exact else torch.allclose(
            ref.v_seq.float(), fused.v_seq.float(), rtol=rtol, atol=atol)
    if not grad:
        return
    gen = torch.Generator().manual_seed(1)
    loss_a = loss_b = 0.0
    for a, b in zip(outs_a, outs_b):
        w = torch.randn(a.shape, generator=gen).to(a.device, a.dtype)
        loss_a = loss_a + (a * w).sum()
        loss_b = loss_b + (b * w).sum()
    if isinstance(ref.v, torch.Tensor) and ref.v.requires_grad:
        w = torch.randn(ref.v.shape, generator=gen).to(x.device, x.dtype)
        loss_a = loss_a + (ref.v * w).sum()
        loss_b = loss_b + (fused.v * w).sum()
    loss_a.backward()
    loss_b.backward()
    scale = xa.grad.float().abs().max().clamp_min(1.0)
    torch.testing.assert_close(xb.grad.float() / scale, xa.grad.float() / scale, rtol=rtol, atol=atol)
    if hasattr(ref, "w"):
        torch.testing.assert_close(fused.w.grad.float(), ref.w.grad.float(), rtol=max(rtol, 1e-4),
                                   atol=atol * max(1.0, x.numel() ** 0.5))
