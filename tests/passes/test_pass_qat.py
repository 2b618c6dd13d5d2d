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


def test_quantize_state_rounds_each_stored_value():
    from snnc.nn.quant import quantize_state
    fmt = Fixed(8, 4, rounding="trn")  # step 1/16
    neuron = quantize_state(torch.nn.Sequential(snn.LIF(tau=3.0, v_threshold=1.0)), fmt)[0]
    x = torch.tensor([[1.5, 0.2]] * 6)
    snn.reset_net(neuron)
    v, spikes = torch.zeros(2), 0.0
    for xt in x:
        h = torch.floor((v + (xt - v) / 3.0) * 16) / 16  # LIF charge, then the H store (floor)
        s = (h >= 1.0).float()
        v = h * (1 - s)
        assert torch.equal(neuron(xt.unsqueeze(0))[0], s) and torch.equal(neuron.v[0].detach(), v)
        spikes += float(s.sum())
    assert spikes > 0
    cuba = quantize_state(torch.nn.Sequential(snn.CubaLIF(0.5, 0.5, v_threshold=10.0)), fmt)[0]
    snn.reset_net(cuba)
    cuba(torch.tensor([[0.3]]))
    cuba(torch.tensor([[0.3]]))
    # I: floor(0.3·16)/16 = 0.25, then floor((0.125 + 0.3)·16)/16 = 0.375; V: 0.25·... stored on the grid
    assert cuba.i.item() == 0.375 and Fixed(8, 4).representable(cuba.v.detach().numpy()).all()
    model = torch.nn.Sequential(cuba)
    strip_quantization(model)
    snn.reset_net(model)
    assert "charge" not in cuba.__dict__ and not hasattr(cuba, "state_quant")
    import io
    torch.save(model, io.BytesIO())  # no closures left


def test_quantize_state_is_straight_through_on_the_grid():
    """Where the state stays on the grid the forward is unchanged and so is every gradient."""
    from snnc.nn.quant import quantize_state
    x = (torch.randint(0, 5, (6, 3, 4)) / 8.0).requires_grad_()
    w = torch.randint(-4, 5, (2, 4)) / 4.0
    def run(quant):
        model = torch.nn.Sequential(snn.IF(v_threshold=1.0, v_reset=None))
        if quant:
            quantize_state(model, Fixed(12, 6))
        snn.reset_net(model)
        y = torch.stack([model(xt @ w.T) for xt in x])
        (grad,) = torch.autograd.grad((y * torch.arange(2.0)).sum(), x)
        return y, grad
    (y0, g0), (y1, g1) = run(False), run(True)
    assert torch.equal(y0, y1) and torch.equal(g0, g1) and g0.abs().sum() > 0
    with pytest.raises(Exception, match="backend='torch'"):
        quantize_state(torch.nn.Sequential(snn.IF(backend="triton")), Fixed(8, 4))
