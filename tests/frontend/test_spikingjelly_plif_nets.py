"""SpikingJelly 2.0's ``parametric_lif_net`` zoo (Fang et al.'s PLIF networks: MNIST, Fashion-MNIST,
N-MNIST, CIFAR-10, CIFAR10-DVS, DVS Gesture), traced as it is — each ends with ``layer.VotingLayer`` —
in step modes 'm' and 's', at small widths: every neuron's spikes equal SpikingJelly's, the vote
(a mean, imported as a Linear) equals it to the last bit of a mean and picks the same class, and the
nets verify on the targets that take them."""

import pytest
import torch

import snnc
from snnc.ir import interpret

from spikingjelly.activation_based import functional, neuron
from spikingjelly.activation_based.model import parametric_lif_net as zoo

#: net -> (per-step input shape, channels); the widths are small, the structure is the zoo's
NETS = {"MNISTNet": ((1, 28, 28), 8), "FashionMNISTNet": ((1, 28, 28), 8), "NMNISTNet": ((2, 34, 34), 8),
        "CIFAR10Net": ((3, 32, 32), 8), "CIFAR10DVSNet": ((2, 128, 128), 4), "DVSGestureNet": ((2, 128, 128), 4)}


def _model(name, mode):
    torch.manual_seed(0)
    shape, channels = NETS[name]
    model = getattr(zoo, name)(channels=channels, spiking_neuron=neuron.ParametricLIFNode, detach_reset=True)
    with torch.no_grad():  # batch norm statistics and gains that make every layer fire
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(2.0, 4.0)
                m.bias.uniform_(0.3, 1.3)
            elif isinstance(m, torch.nn.Linear):  # a spread that makes a few of the inputs fire it
                m.weight.normal_(0.0, 6.0 / m.in_features ** 0.5)
    model.eval()
    functional.set_step_mode(model, mode)
    return model


def _input(name, steps=4, batch=2):
    return (torch.rand(steps, batch, *NETS[name][0], generator=torch.Generator().manual_seed(1)) < 0.3).float()


def _reference(model, x, mode):
    functional.reset_net(model)
    with torch.no_grad():
        return model(x) if mode == "m" else torch.stack([model(xt) for xt in x])


@pytest.mark.parametrize("mode", ["m", "s"])
@pytest.mark.parametrize("name", sorted(NETS))
def test_plif_net_traces_and_equals_spikingjelly(name, mode):
    model, x = _model(name, mode), _input(name)
    graph = snnc.trace(model, x)
    ref = _reference(model, x, mode)
    got, trace = interpret(graph, x, record=True)
    vote = graph.nodes[-2]
    assert vote.op == "Linear" and got.shape == ref.shape
    torch.testing.assert_close(got, ref, rtol=0, atol=2e-7)  # a mean of 10 spikes, rounded as a dot product
    assert torch.equal(got.argmax(-1), ref.argmax(-1))
    # the spikes the vote reads are SpikingJelly's exactly: the vote of them times 10 is the spike count
    counts = trace.values[graph[vote.inputs[0]].name].unflatten(-1, (-1, 10)).sum(-1)
    torch.testing.assert_close(counts / 10, ref, rtol=0, atol=2e-7)
    fired = [float(v.mean()) for k, v in trace.values.items() if graph[k].op == "Neuron"]
    assert min(fired) > 0 and max(fired) < 0.7, fired  # every layer fires: the equality is not vacuous


@pytest.mark.parametrize("target", ["lynxi", "onnx", "gpu"])
def test_plif_net_verifies(target):
    report = snnc.verify(_model("MNISTNet", "m"), target, _input("MNISTNet"))
    assert report.ok, report.summary()


def test_voting_layer_refuses_a_width_it_cannot_group():
    from spikingjelly.activation_based import layer
    net = torch.nn.Sequential(layer.Linear(4, 15), neuron.IFNode(), layer.VotingLayer(10))
    with pytest.raises(snnc.ir.UnsupportedError, match=r"VotingLayer\(10\) expects a per-step \[C\*10\] vector, got \[15\]"):
        snnc.trace(net, torch.rand(2, 1, 4))
