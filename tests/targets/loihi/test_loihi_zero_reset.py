"""snnTorch's zero-reset Leaky (a beta neuron with the delayed reset to 0) reaches Loihi traced as it
is, not only through NIR: its spikes are those of the immediate reset to 0 that Lava's CUBA neuron
has, which is what the lowering maps it to."""

import numpy as np
import pytest
import snntorch as snn
import torch
from torch import nn

import snnc
from snnc.ir import Graph, UnsupportedError, interpret

F32 = np.float32


def _beta(timing: str, charge: str = "beta") -> Graph:
    rng = np.random.default_rng(0)
    g = Graph()
    g.add_node("x", "Input", shape=(5,))
    g.add_node("fc", "Linear", ["x"], {"weight": rng.normal(0, 0.6, (7, 5)).astype(F32)})
    params = {"v_threshold": np.array(0.5, F32), "v_reset": np.array(0.0, F32), "beta": np.array(0.875, F32)}
    if charge == "cuba":
        params["alpha"] = np.array(0.5, F32)
    g.add_node("n", "Neuron", ["fc"], params, charge=charge, reset="hard", reset_timing=timing)
    g.add_node("y", "Output", ["n"])
    return g.verify()


def test_the_delayed_zero_reset_has_the_spikes_of_the_immediate_one():
    x = (torch.rand((64, 8, 5), generator=torch.Generator().manual_seed(0)) < 0.5).float()
    delayed, immediate = interpret(_beta("delayed"), x), interpret(_beta("immediate"), x)
    assert torch.equal(delayed, immediate) and 0.05 < float(delayed.mean()) < 0.95


def test_snntorch_zero_reset_leaky_traced_directly_deploys_to_loihi():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 7, bias=False), snn.Leaky(beta=0.875, threshold=0.5, reset_mechanism="zero",
                                                               init_hidden=True))
    x = (torch.rand((32, 4, 5), generator=torch.Generator().manual_seed(1)) < 0.5).float()
    (neuron,) = [n for n in snnc.trace(net, x).nodes if n.op == "Neuron"]
    assert neuron.attrs["reset_timing"] == "delayed"  # as snnTorch defines it
    report = snnc.verify(net, "loihi", x)
    assert report.ok, report.summary()


def test_a_cuba_delayed_reset_is_still_refused_with_the_reason():
    with pytest.raises(UnsupportedError, match=r"node 'n': the delayed reset of a 'cuba' neuron is not expressible"):
        snnc.verify(_beta("delayed", "cuba"), "loihi", samples=1)
