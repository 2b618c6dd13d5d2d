"""Parity with the real SpikingJelly 2.0: IF / LIF / PLIF give the same spikes (exactly), the same
potentials and the same input (and PLIF w) gradients on random float64 inputs, for hard and soft reset,
both ``decay_input``, both step modes and both ``detach_reset``."""

import pytest
import torch

import snnc.nn as snn
from snnc.nn import surrogate

sj_neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
sj_surrogate = pytest.importorskip("spikingjelly.activation_based.surrogate")


def _pair(kind, v_reset, decay_input, step_mode, detach_reset, sg):
    common = dict(v_threshold=0.8, v_reset=v_reset, detach_reset=detach_reset, step_mode=step_mode)
    ours_sg = {"sigmoid": surrogate.Sigmoid(4.0), "atan": surrogate.ATan(2.0)}[sg]
    theirs_sg = {"sigmoid": sj_surrogate.Sigmoid(4.0), "atan": sj_surrogate.ATan(2.0)}[sg]
    if kind == "if":
        return snn.IF(surrogate_function=ours_sg, **common), sj_neuron.IFNode(surrogate_function=theirs_sg, **common)
    if kind == "lif":
        return (snn.LIF(tau=2.5, decay_input=decay_input, surrogate_function=ours_sg, **common),
                sj_neuron.LIFNode(tau=2.5, decay_input=decay_input, surrogate_function=theirs_sg, **common))
    return (snn.PLIF(init_tau=3.0, decay_input=decay_input, surrogate_function=ours_sg, **common),
            sj_neuron.ParametricLIFNode(init_tau=3.0, decay_input=decay_input, surrogate_function=theirs_sg, **common))


def _run(neuron, x, step_mode):
    if step_mode == "m":
        out = neuron(x)
        return out, neuron.v
    outs = [neuron(xt) for xt in x]
    return torch.stack(outs), neuron.v


CONFIGS = [(kind, v_reset, decay_input, step_mode, detach_reset, sg)
           for kind in ("if", "lif", "plif")
           for v_reset in (0.0, None, -0.3)
           for decay_input in ((True, False) if kind != "if" else (True,))
           for step_mode in ("s", "m")
           for detach_reset in (False, True)
           for sg in ("sigmoid", "atan")
           if sg == "sigmoid" or (detach_reset is False and v_reset != -0.3)]


@pytest.mark.parametrize("kind,v_reset,decay_input,step_mode,detach_reset,sg", CONFIGS)
def test_outputs_and_gradients_equal_spikingjelly(kind, v_reset, decay_input, step_mode, detach_reset, sg):
    check_parity(kind, v_reset, decay_input, step_mode, detach_reset, sg)


def check_parity(kind, v_reset, decay_input, step_mode, detach_reset, sg, device="cpu"):
    ours, theirs = _pair(kind, v_reset, decay_input, step_mode, detach_reset, sg)
    ours, theirs = ours.to(device, torch.float64), theirs.to(device, torch.float64)
    g = torch.Generator().manual_seed(hash((kind, str(v_reset), decay_input, step_mode)) % 2**31)
    x = (torch.randn(12, 4, 6, generator=g, dtype=torch.float64) * 0.8 + 0.5).to(device)
    weights = torch.randn(x.shape, generator=g, dtype=torch.float64).to(device)
    results = []
    for neuron in (ours, theirs):
        xi = x.clone().requires_grad_(True)
        s, v = _run(neuron, xi, step_mode)
        loss = (s * weights).sum() + (v * weights[-1]).sum()
        params = [neuron.w] if kind == "plif" else []
        grads = torch.autograd.grad(loss, [xi] + params)
        results.append((s.detach(), v.detach(), grads))
    (s_o, v_o, g_o), (s_t, v_t, g_t) = results
    assert s_o.dtype == s_t.dtype == torch.float64
    assert torch.equal(s_o, s_t)
    assert 0 < s_o.sum() < s_o.numel()
    torch.testing.assert_close(v_o, v_t, rtol=1e-12, atol=1e-12)
    for a, b in zip(g_o, g_t):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert g_o[0].abs().sum() > 0


@pytest.mark.parametrize("kind", ["if", "lif", "plif"])
def test_store_v_seq_equals_spikingjelly(kind):
    ours, theirs = _pair(kind, 0.0, True, "m", False, "sigmoid")
    ours.store_v_seq = theirs.store_v_seq = True
    x = torch.rand(8, 3, 5, generator=torch.Generator().manual_seed(5), dtype=torch.float64) * 1.5
    ours.double()(x), theirs.double()(x)
    torch.testing.assert_close(ours.v_seq, theirs.v_seq, rtol=1e-12, atol=1e-12)
