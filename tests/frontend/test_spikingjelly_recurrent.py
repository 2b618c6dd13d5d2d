"""SpikingJelly's recurrent containers traced as they are: ``LinearRecurrentContainer`` (``y[t] =
sub(rc([x[t], y[t-1]]))``) and ``ElementWiseRecurrentContainer`` (``y[t] = sub(f(y[t-1], x[t]))``, ``f``
an addition), each a cycle through the IR's Delay; outputs equal SpikingJelly's, and the
linear form verifies bit-exactly on the targets that hold a cycle."""

import pytest
import torch
from torch import nn

import snnc
from snnc.ir import UnsupportedError, interpret

pytest.importorskip("spikingjelly")
from spikingjelly.activation_based import functional, layer, neuron  # noqa: E402

X = torch.rand(20, 4, 6, generator=torch.Generator().manual_seed(3))
CONTAINERS = {
    "linear": lambda: layer.LinearRecurrentContainer(neuron.LIFNode(), in_features=8, out_features=8),
    "add": lambda: layer.ElementWiseRecurrentContainer(neuron.IFNode(v_threshold=0.5), lambda y, x: y + x),
}


def _net(kind):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), CONTAINERS[kind](), nn.Linear(8, 3), neuron.IFNode())
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        net[2].weight.mul_(3.0)
        if kind == "linear":
            net[1].rc.weight.mul_(4.0)
    return net


@pytest.mark.parametrize("kind", list(CONTAINERS))
def test_recurrent_container_equals_spikingjelly(kind):
    net = _net(kind)
    graph = snnc.trace(net, X)
    (delay,) = [n for n in graph.nodes if n.op == "Delay"]
    functional.reset_net(net)
    with torch.no_grad():
        ref = torch.stack([net(xt) for xt in X])
    out, trace = interpret(graph, X, record=True)
    rate = float(trace.values[delay.inputs[0]].mean())  # the recurrent layer's own spikes
    assert 0.02 < rate < 0.9
    assert torch.equal(out, ref)


@pytest.mark.parametrize("target", ["gpu", "onnx", "lynxi", "hls"])
def test_linear_recurrent_container_verifies(target):
    report = snnc.verify(_net("linear"), target, X, example_input=X)
    assert report.ok, report.summary()


def test_an_element_wise_function_other_than_an_addition_is_refused():
    net = nn.Sequential(nn.Linear(6, 8), layer.ElementWiseRecurrentContainer(neuron.IFNode(), lambda y, x: y - x))
    with pytest.raises(UnsupportedError, match="node '1'.*must be y \\+ x of its two"):
        snnc.trace(net, X)
