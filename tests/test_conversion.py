"""``snnc.convert``: the converted SNN's accuracy approaches the ANN's on digits as T grows, its first
layer's firing rates are the normalized ReLU activations, and it deploys like any other model."""

import pytest
import torch
from torch import nn

import snnc
import snnc.nn as snn
from snnc.ir import UnsupportedError

from support.models import digits_example


@pytest.fixture(scope="module")
def digits():
    example = digits_example()
    data = example.load_data()
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Linear(64, 96), nn.BatchNorm1d(96), nn.ReLU(), nn.Dropout(0.1),
                        nn.Linear(96, 48), nn.ReLU(), nn.Linear(48, 10))
    opt = torch.optim.Adam(ann.parameters(), lr=1e-2)
    for _ in range(120):
        ann.train()
        opt.zero_grad()
        nn.functional.cross_entropy(ann(data.train_intensity), data.train_y).backward()
        opt.step()
    return ann.eval(), data


def _accuracy(model, x, y, T):
    snn.reset_net(model)
    with torch.no_grad():
        out = snn.multi_step_forward(x.expand(T, *x.shape).contiguous(), model)
    return float((out.mean(0).argmax(1) == y).float().mean())


@pytest.mark.parametrize("method", ["max", "percentile"])
def test_converted_accuracy_approaches_the_ann_as_t_grows(digits, method):
    ann, data = digits
    x, y = data.test_intensity, data.test_y
    with torch.no_grad():
        ann_acc = float((ann(x).argmax(1) == y).float().mean())
    assert ann_acc > 0.9
    model = snnc.convert(ann, data.train_intensity[:300], T=64, method=method, percentile=99.9)
    accs = {T: _accuracy(model, x, y, T) for T in (2, 8, 64)}
    assert accs[2] < accs[64] and accs[8] <= accs[64] + 0.01
    assert accs[64] >= ann_acc - 0.02, (ann_acc, accs)
    assert [type(m) for m in model] == [nn.Linear, snn.IF, nn.Linear, snn.IF, nn.Linear]  # BN folded, dropout gone


def test_first_layer_rates_are_the_normalized_activations(digits):
    """After T steps of constant input, an IF neuron with subtract reset has fired floor-ish(T·a/λ)
    times: its rate is min(max(a, 0)/λ, 1) within 1/T (a: the ANN's pre-activation with BN)."""
    ann, data = digits
    x = data.test_intensity[:50]
    model = snnc.convert(ann, data.train_intensity[:300], method="max")
    lam = model.activation_scales[0]
    with torch.no_grad():
        a = torch.relu(ann[1](ann[0](x)))
    T = 200
    spikes = []
    snn.reset_net(model)
    with torch.no_grad():
        for _ in range(T):
            spikes.append(model[1](model[0](x)))
    rate = torch.stack(spikes).mean(0)
    assert (rate - (a / lam).clamp(max=1)).abs().max() <= 1.0 / T + 1e-5


@pytest.mark.parametrize("target", ["gpu", "hls", "onnx", "lynxi"])
def test_converted_model_traces_and_verifies(digits, target):
    ann, data = digits
    model = snnc.convert(ann, data.train_intensity[:300], T=16, method="percentile", percentile=99.9)
    x = data.test_intensity[:8].expand(16, 8, 64).contiguous()
    report = snnc.verify(model, target, inputs=x.numpy(), example_input=x)
    assert report.ok, str(report)


def test_layers_without_a_relu_between_keep_the_ann_units():
    """Linear → ReLU → Linear → Linear: only the first Linear after the ReLU takes λ; at large T the
    time-averaged output equals the ANN's within the rate quantization."""
    torch.manual_seed(1)
    ann = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 5), nn.Linear(5, 3)).eval()
    x = torch.rand(20, 6)
    model = snnc.convert(ann, x, method="max")
    T = 2000
    snn.reset_net(model)
    with torch.no_grad():
        out = snn.multi_step_forward(x.expand(T, *x.shape).contiguous(), model).mean(0)
        want = ann(x)
    lam = model.activation_scales[0]
    bound = float((ann[3].weight.abs() @ ann[2].weight.abs()).sum(1).max()) * lam / T
    assert (out - want).abs().max() <= bound + 1e-4


def test_conversion_refuses_what_it_cannot_keep():
    data = torch.rand(10, 1, 4, 4)
    with pytest.raises(UnsupportedError, match="max pooling"):
        snnc.convert(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2)), data)
    with pytest.raises(UnsupportedError, match="Sigmoid"):
        snnc.convert(nn.Sequential(nn.Flatten(), nn.Linear(16, 4), nn.Sigmoid()), data)
    with pytest.raises(snnc.SnncError, match="method"):
        snnc.convert(nn.Sequential(nn.Flatten(), nn.Linear(16, 4)), data, method="mean")
    dead = nn.Sequential(nn.Flatten(), nn.Linear(16, 4), nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        dead[1].weight.fill_(-1.0)
        dead[1].bias.fill_(-1.0)
    with pytest.raises(snnc.SnncError, match="never active"):
        snnc.convert(dead, data)
