"""SpikingJelly 2.0's own model zoo, traced as it is: ``spiking_resnet18`` and ``sew_resnet18`` (ADD,
AND and IAND connect), in step modes 'm' and 's', and ``spiking_vgg11`` / ``spiking_vgg11_bn`` at CIFAR size. Their float interpretation equals SpikingJelly's output exactly,
and they verify bit-exactly on the targets that take residual networks.

The zoo's ResNet modules import ``torchvision._internally_replaced_utils.load_state_dict_from_url`` at
module import (for pretrained weights, which these tests do not download); torchvision cannot be
installed beside the CPU torch build CI uses, so that one name is provided as a stub while the zoo
module is imported.
"""

import sys
import types

import pytest
import torch

import snnc
from snnc.ir import interpret

from spikingjelly.activation_based import functional, neuron


@pytest.fixture(scope="module")
def zoo():
    stub = types.ModuleType("torchvision._internally_replaced_utils")
    stub.load_state_dict_from_url = None
    saved = {k: sys.modules.get(k) for k in ("torchvision", "torchvision._internally_replaced_utils")}
    if saved["torchvision"] is None:
        package = types.ModuleType("torchvision")
        package._internally_replaced_utils = stub
        sys.modules["torchvision"] = package
        sys.modules["torchvision._internally_replaced_utils"] = stub
    try:
        from spikingjelly.activation_based.model import sew_resnet, spiking_resnet, spiking_vgg
    finally:
        for key, module in saved.items():
            if module is None:
                sys.modules.pop(key, None)
    return {"spiking_resnet18": lambda: spiking_resnet.spiking_resnet18(spiking_neuron=neuron.LIFNode, num_classes=10),
            **{f"sew_resnet18{'' if cnf == 'ADD' else '_' + cnf}":
               (lambda cnf=cnf: sew_resnet.sew_resnet18(spiking_neuron=neuron.LIFNode, num_classes=10, cnf=cnf))
               for cnf in ("ADD", "AND", "IAND")},
            "spiking_vgg11": lambda: spiking_vgg.spiking_vgg11(spiking_neuron=neuron.LIFNode, num_classes=10),
            "spiking_vgg11_bn": lambda: spiking_vgg.spiking_vgg11_bn(spiking_neuron=neuron.LIFNode, num_classes=10)}


def _model(zoo, name, mode):
    torch.manual_seed(0)
    model = zoo[name]()
    with torch.no_grad():  # trained-like batch norm statistics, gains that make every stage fire
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(3.0, 6.0)
    model.eval()
    functional.set_step_mode(model, mode)
    return model


def _reference(model, x, mode):
    functional.reset_net(model)
    with torch.no_grad():
        return model(x) if mode == "m" else torch.stack([model(xt) for xt in x])


X = torch.rand(4, 2, 3, 32, 32, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("mode", ["m", "s"])
@pytest.mark.parametrize("name", ["spiking_resnet18", "sew_resnet18"])
def test_zoo_resnet_traces_and_equals_spikingjelly(zoo, name, mode):
    model = _model(zoo, name, mode)
    graph = snnc.trace(model, X)
    assert sum(n.op == "Add" for n in graph.nodes) == 8  # every residual connection
    ref = _reference(model, X, mode)
    _, trace = interpret(graph, X, record=True)
    assert torch.equal(interpret(graph, X), ref)
    fired = [float(v.mean()) for k, v in trace.values.items() if graph[k].op == "Neuron"]
    assert min(fired) > 0 and max(fired) < 0.5  # every layer fires: the equality is not vacuous


@pytest.mark.parametrize("mode", ["m", "s"])
@pytest.mark.parametrize("cnf", ["AND", "IAND"])
def test_zoo_sew_resnet_with_a_product_connect_function_equals_spikingjelly(zoo, cnf, mode):
    """SEW's AND (``a · b``) and IAND (``a · (1 − b)``) residual connections, one ``Mul`` each."""
    model = _model(zoo, f"sew_resnet18_{cnf}", mode)
    graph = snnc.trace(model, X)
    muls = [n for n in graph.nodes if n.op == "Mul"]
    assert [n.attrs["complement"] for n in muls] == [(0, 1 if cnf == "IAND" else 0)] * 8
    out, trace = interpret(graph, X, record=True)
    assert torch.equal(out, _reference(model, X, mode))
    assert float(trace.values[muls[0].name].mean()) > 0.01  # the first block's product is not all zeros


@pytest.mark.parametrize("target", ["lynxi", "onnx", "hls", "gpu"])
def test_zoo_sew_resnet_iand_verifies(zoo, target):
    report = snnc.verify(_model(zoo, "sew_resnet18_IAND", "m"), target, X[:, :1])
    assert report.ok, report.summary()


@pytest.mark.parametrize("name", ["spiking_vgg11_bn", pytest.param("spiking_vgg11", marks=pytest.mark.slow)])
def test_zoo_vgg_at_cifar_size_traces_and_equals_spikingjelly(zoo, name):
    """At 32×32 the VGG's AdaptiveAvgPool2d((7, 7)) repeats a 1×1 map 49 times: imported as a 0/1
    Linear, exact."""
    model = _model(zoo, name, "m")
    x = X[:2]
    graph = snnc.trace(model, x)
    assert torch.equal(interpret(graph, x), _reference(model, x, "m"))


@pytest.mark.parametrize("target", ["lynxi", "onnx"])
def test_zoo_resnet_verifies(zoo, target):
    report = snnc.verify(_model(zoo, "sew_resnet18", "m"), target, X)
    assert report.ok, report.summary()


@pytest.mark.slow
@pytest.mark.parametrize("target", ["gpu", "lynxi", "hls", "onnx"])
@pytest.mark.parametrize("name", ["spiking_resnet18", "sew_resnet18"])
def test_zoo_resnet_verifies_on_every_residual_target(zoo, name, target):
    report = snnc.verify(_model(zoo, name, "m"), target, X)
    assert report.ok, report.summary()


def test_loihi_refuses_naming_the_node_and_the_reason(zoo):
    with pytest.raises(snnc.ir.UnsupportedError, match=r"loihi: node 'maxpool': max pooling has no Loihi synapse"):
        snnc.compile(_model(zoo, "spiking_resnet18", "m"), "loihi", "/nonexistent-never-written", example_input=X)
