"""The adaptive LIF end to end: a ``snnc.nn.ALIF`` network traced into the IR, compiled and verified
bit-exactly on gpu, hls, lynxi and onnx (the conformance matrix covers the IR forms); loihi and nir
refuse it, naming the node and why."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import snnc
import snnc.nn as snn
from snnc.ir import UnsupportedError


def _model() -> nn.Module:
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(6, 12), snn.ALIF(tau=2.0, tau_adapt=5.0, beta_adapt=0.5, v_threshold=0.5),
                          nn.Linear(12, 3), snn.LIF(tau=2.0, v_threshold=0.5))
    with torch.no_grad():  # weights on a 1/8 grid: exact in float16 and in the fixed-point formats
        for layer in (model[0], model[2]):
            layer.weight.copy_(torch.round(layer.weight * 16) / 8)
            layer.bias.zero_()
    return model


def _inputs() -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    return (torch.rand(24, 4, 6, generator=gen) < 0.6).float()


def test_the_traced_graph_is_the_adaptive_neuron():
    graph = snnc.trace(_model(), _inputs())
    (node,) = [n for n in graph.nodes if n.op == "Neuron" and n.attrs["threshold"] == "adaptive"]
    assert node.attrs["charge"] == "lif"
    assert float(node.params["adapt_decay"]) == 1.0 - 1.0 / 5.0 and float(node.params["adapt_scale"]) == 0.5


def test_the_inputs_make_the_adaptation_matter():
    """On these inputs the network's spikes differ from the same network with a fixed threshold, so a
    target that ignored the adaptation would fail verification."""
    from snnc.ir.interpreter import interpret

    graph = snnc.trace(_model(), _inputs())
    fixed = graph.copy()
    fixed["1"].attrs["threshold"] = "fixed"
    assert not torch.equal(interpret(graph, _inputs()), interpret(fixed, _inputs()))


@pytest.mark.parametrize("target", ["gpu", "hls", "lynxi", "onnx"])
def test_alif_verifies_bit_exactly(target):
    report = snnc.verify(_model(), target, inputs=_inputs())
    assert report.ok, str(report)


@pytest.mark.parametrize("target,why", [("loihi", "adaptive threshold is not expressible"),
                                        ("nir", "has an adaptive threshold")])
def test_loihi_and_nir_refuse_alif_naming_the_node(target, why, tmp_path):
    with pytest.raises(UnsupportedError, match=why) as e:
        snnc.compile(_model(), target, tmp_path / "out", example_input=_inputs())
    assert "'1'" in str(e.value)  # the ALIF module's node
    assert not (tmp_path / "out").exists()
