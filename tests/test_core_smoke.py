"""The IR interpreter under float32 equals hand-built snnc.nn models bit for bit."""

import numpy as np
import pytest
import torch

import snnc.nn as snn
from snnc.ir import Graph, interpret


def _graph(neuron_attrs, neuron_params, w, b):
    g = Graph()
    g.add_node("x", "Input", shape=(w.shape[1],))
    g.add_node("fc", "Linear", ["x"], {"weight": w, "bias": b})
    g.add_node("n", "Neuron", ["fc"], neuron_params, **neuron_attrs)
    g.add_node("y", "Output", ["n"])
    return g.verify()


@pytest.mark.parametrize("v_reset", [0.0, None, -0.3])
@pytest.mark.parametrize("kind", ["if", "lif", "lif_nodecay", "plif", "cuba"])
def test_interpreter_equals_module(kind, v_reset):
    torch.manual_seed(0)
    fc = torch.nn.Linear(6, 5)
    if kind == "if":
        neuron = snn.IF(v_threshold=0.7, v_reset=v_reset)
        attrs, params = {"charge": "if"}, {}
    elif kind.startswith("lif"):
        neuron = snn.LIF(tau=3.0, decay_input=kind == "lif", v_threshold=0.7, v_reset=v_reset)
        attrs, params = {"charge": "lif", "decay_input": kind == "lif"}, {"tau": np.array(3.0, np.float32)}
    elif kind == "plif":
        neuron = snn.PLIF(init_tau=2.5, v_threshold=0.7, v_reset=v_reset)
        attrs = {"charge": "plif"}
        params = {"k": neuron.k.detach().numpy()}
    else:
        neuron = snn.CubaLIF(current_decay=0.3, voltage_decay=0.2, v_threshold=0.7, v_reset=v_reset)
        attrs = {"charge": "cuba"}
        params = {"alpha": np.array(neuron.alpha, np.float32), "beta": np.array(neuron.beta, np.float32)}
    params["v_threshold"] = np.array(0.7, np.float32)
    attrs["reset"] = "subtract" if v_reset is None else "hard"
    if v_reset is not None:
        params["v_reset"] = np.array(v_reset, np.float32)
    params["v_leak"] = np.array(0.0 if v_reset is None else v_reset, np.float32)
    g = _graph(attrs, params, fc.weight.detach().numpy(), fc.bias.detach().numpy())
    x = torch.rand(40, 3, 6) * 4.0
    model = torch.nn.Sequential(fc, neuron)
    with torch.no_grad():
        expected = torch.stack([model(xt) for xt in x])
    got = interpret(g, x)
    assert expected.sum() > 0
    assert torch.equal(got, expected)
