"""QAT fake quantizers: forward equals quantize→dequantize exactly, backward is the identity's
gradient; quantize_model makes a model's weights equal what the profile's quantization stores."""

import numpy as np
import pytest
import torch

import snnc.nn as snn
from snnc.ir import Graph
from snnc.ir.numerics import get_profile
from snnc.ir.quantize import Fixed
from snnc.nn.quant import FakeQuant, fake_quantize, quantize_model, strip_quantization


def test_fixed_forward_by_hand():
    fmt = Fixed(4, 2, rounding="rnd_conv", overflow="sat")  # step 1/4, range [-2, 1.75]
    x = torch.tensor([0.125, 0.375, -0.125, 1.9, -3.0, 0.6, 2.1], requires_grad=True)
    assert fake_quantize(x, fmt).tolist() == [0.0, 0.5, -0.0, 1.75, -2.0, 0.5, 1.75]
    wrap = Fixed(4, 2, rounding="trn", overflow="wrap")  # floor; -12 wraps to 4, 8 wraps to -8
    assert fake_quantize(x, wrap).tolist() == [0.0, 0.25, -0.25, 1.75, 1.0, 0.5, -2.0]


@pytest.mark.parametrize("spec", ["<6,2>", "fixed<8,1,trn,wrap>", {"kind": "pow2", "bits": 8},
                                  {"kind": "fixed", "width": 10, "int": "auto", "rounding": "rnd"},
                                  "float16", "bfloat16", {"kind": "loihi"}, {"kind": "loihi", "scale": 37.0}])
def test_forward_exact_and_gradient_straight_through(spec):
    torch.manual_seed(0)
    x = (torch.randn(5, 7) * 3).requires_grad_()
    fq = FakeQuant(spec)
    y = fq(x)
    # forward: exactly the round trip (and for fixed formats, on the grid of the format)
    assert torch.equal(y.detach(), fq.round_trip(x))
    fmt = fq.format_for(x)
    if fmt is not None:
        assert torch.equal(y.detach().double(), fmt.quantize(x.detach()))
        assert fmt.representable(y.detach().numpy()).all()
    # backward: identical to the gradient of the identity
    g = torch.randn(5, 7)
    (y * g).sum().backward()
    x2 = x.detach().clone().requires_grad_()
    (x2 * g).sum().backward()
    assert torch.equal(x.grad, x2.grad)


def test_quantize_model_trains_the_shadow_weights():
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(6, 4), snn.LIF(tau=2.0), torch.nn.Linear(4, 3))
    quantize_model(model, spec="<8,2>")
    w_q = model[0].weight.detach().clone()
    assert Fixed(8, 2).representable(w_q.numpy()).all()
    original = model[0].parametrizations.weight.original
    assert not torch.equal(original.detach(), w_q)
    x = torch.rand(4, 2, 6)
    snn.reset_net(model)
    loss = torch.stack([model(xt) for xt in x]).pow(2).sum()
    loss.backward()
    # the same network with the quantized weights baked in gives the same gradient (straight through)
    plain = torch.nn.Sequential(torch.nn.Linear(6, 4), snn.LIF(tau=2.0), torch.nn.Linear(4, 3))
    with torch.no_grad():
        for a, b in zip(plain, model):
            if isinstance(a, torch.nn.Linear):
                a.weight.copy_(b.weight)
                a.bias.copy_(b.bias)
    snn.reset_net(plain)
    torch.stack([plain(xt) for xt in x]).pow(2).sum().backward()
    assert torch.equal(original.grad, plain[0].weight.grad)
    assert torch.equal(model[2].parametrizations.bias.original.grad, plain[2].bias.grad)
    snn.reset_net(model)
    strip_quantization(model)
    assert torch.equal(model[0].weight.detach(), w_q) and isinstance(model[0].weight, torch.nn.Parameter)


def _graph(linear: torch.nn.Linear, name="fc"):
    g = Graph()
    g.add_node("x", "Input", shape=(linear.in_features,))
    g.add_node(name, "Linear", ["x"], {"weight": linear.weight.detach().numpy().copy(),
                                       "bias": linear.bias.detach().numpy().copy()})
    g.add_node("n", "Neuron", [name], {"v_threshold": np.array(1.0), "v_reset": np.array(0.0)}, charge="if")
    g.add_node("y", "Output", ["n"])
    return g.verify()


def test_qat_matches_hls_profile_weights():
    torch.manual_seed(2)
    fc = torch.nn.Linear(5, 4)
    config = {"default": "fixed<16,6,rnd,sat>", "classes": {"weight": "<8,1,rnd,sat>", "bias": "<10,2>"}}
    qgraph, _ = get_profile("hls").quantize(_graph(fc), None, config)
    model = quantize_model(torch.nn.Sequential(fc), "hls", config)
    assert np.array_equal(model[0].weight.detach().double().numpy(), qgraph["fc"].params["weight"])
    assert np.array_equal(model[0].bias.detach().double().numpy(), qgraph["fc"].params["bias"])


def test_qat_matches_loihi_profile_weights():
    torch.manual_seed(3)
    fc = torch.nn.Linear(5, 4)
    scale = 40.0
    qgraph, _ = get_profile("loihi").quantize(_graph(fc), None, {"weight_scale": {"fc": scale}})
    model = quantize_model(torch.nn.Sequential(fc), "loihi", {"weight_scale": {"0": scale}})
    stored = torch.as_tensor(qgraph["fc"].params["weight"], dtype=torch.float64)  # Lava's integer weights
    assert torch.equal(model[0].weight.detach(), (stored / scale).to(torch.float32))
    assert torch.equal(torch.round(model[0].weight.detach().double() * scale), stored)
    assert not torch.equal(model[0].weight.detach(), fc.parametrizations.weight.original.detach())
