"""snnTorch's recurrent neurons, traced as they are: ``RLeaky`` (all-to-all ``linear_features``, and
one-to-one ``V``) and ``RSynaptic``, in a ``Sequential`` with ``init_hidden=True`` and in the tutorial's
time loop (``spk, mem = rlif(cur, spk, mem)``). Each becomes ``Neuron(X + R(Delay(S)))``: the IR's one
cycle, through a Delay. Spikes equal snnTorch's exactly, membranes to float32 rounding (snnTorch adds
the recurrent current after the decayed state, the IR before it); every target that can hold the cycle
verifies bit-exactly, Loihi and NIR refuse naming the Delay."""

import pytest
import torch
from torch import nn

import snnc
from snnc.ir import UnsupportedError, interpret

snn = pytest.importorskip("snntorch")

STEPS, N = 30, 4
RECURRENT = {
    "rleaky_linear": lambda: snn.RLeaky(beta=0.8, linear_features=8, init_hidden=True),
    "rleaky_one_to_one": lambda: snn.RLeaky(beta=0.8, all_to_all=False, V=0.5, init_hidden=True),
    "rleaky_no_reset": lambda: snn.RLeaky(beta=0.8, linear_features=8, reset_mechanism="none", init_hidden=True),
    "rsynaptic_linear": lambda: snn.RSynaptic(alpha=0.6, beta=0.8, linear_features=8, init_hidden=True),
}


def _sequential(kind):
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(6, 8), RECURRENT[kind](), nn.Linear(8, 3), snn.Leaky(beta=0.9, init_hidden=True))
    with torch.no_grad():
        model[0].weight.mul_(2.0)
        model[2].weight.mul_(3.0)
        if hasattr(model[1].recurrent, "weight"):
            model[1].recurrent.weight.mul_(2.0)
    return model


def _reference(model, x):
    for m in model.modules():
        if hasattr(m, "reset_hidden"):
            m.reset_hidden()
    with torch.no_grad():
        return torch.stack([model(xt) for xt in x])


def _firing(spikes):
    rate = float(spikes.float().mean())
    assert 0.02 < rate < 0.9, f"spike rate {rate}: the comparison would be vacuous"


X = torch.rand(STEPS, N, 6, generator=torch.Generator().manual_seed(2))


@pytest.mark.parametrize("kind", list(RECURRENT))
def test_recurrent_neuron_in_a_sequential_equals_snntorch(kind):
    model = _sequential(kind)
    graph = snnc.trace(model, X)
    delays = [n for n in graph.nodes if n.op == "Delay"]
    assert len(delays) == 1 and graph[delays[0].inputs[0]].op == "Neuron"  # the cycle: spikes → Delay
    _, trace = interpret(graph, X, record=True)
    _firing(trace.values[delays[0].inputs[0]])  # the recurrent layer itself fires
    assert torch.equal(interpret(graph, X), _reference(model, X))


class RecurrentLoop(nn.Module):
    """The tutorial's time loop with an ``RLeaky``: state ``(spk, mem)`` passed back each step."""

    def __init__(self):
        super().__init__()
        self.fc1, self.rlif = nn.Linear(6, 8), snn.RLeaky(beta=0.85, linear_features=8)
        self.fc2, self.lif = nn.Linear(8, 3), snn.Leaky(beta=0.9)

    def forward(self, x):
        spk1, mem1 = self.rlif.init_rleaky()
        mem2 = self.lif.init_leaky()
        spk_rec, mem_rec = [], []
        for step in range(STEPS):
            spk1, mem1 = self.rlif(self.fc1(x[step]), spk1, mem1)
            spk2, mem2 = self.lif(self.fc2(spk1), mem2)
            spk_rec.append(spk2)
            mem_rec.append(mem2)
        return torch.stack(spk_rec), torch.stack(mem_rec)


def test_rleaky_time_loop_returns_spikes_and_membrane():
    torch.manual_seed(6)
    model = RecurrentLoop()
    with torch.no_grad():
        model.fc1.weight.mul_(2.0)
        model.fc2.weight.mul_(3.0)
        ref_spk, ref_mem = model(X)
    graph = snnc.trace(model, X)
    spk, mem = interpret(graph, X)
    _firing(ref_spk)
    assert torch.equal(spk, ref_spk)
    torch.testing.assert_close(mem, ref_mem, rtol=0, atol=1e-6)


def test_rleaky_zero_reset_is_refused_naming_the_module():
    model = nn.Sequential(nn.Linear(6, 8), snn.RLeaky(beta=0.8, linear_features=8, reset_mechanism="zero",
                                                      init_hidden=True))
    with pytest.raises(UnsupportedError, match="node '1'.*RLeaky with reset_mechanism='zero'"):
        snnc.trace(model, X)


@pytest.mark.parametrize("target", ["gpu", "onnx", "lynxi", "hls"])
def test_recurrent_network_verifies(target):
    report = snnc.verify(_sequential("rleaky_linear"), target, X, example_input=X)
    assert report.ok, report.summary()


@pytest.mark.parametrize("target, message", [("loihi", "Delay .*not lowered to netx"),
                                             ("nir", "does not write Delay")])
def test_targets_without_recurrence_refuse_naming_the_delay(tmp_path, target, message):
    with pytest.raises(UnsupportedError, match=f"node '1_recurrent_delay'.*{message}"):
        snnc.compile(_sequential("rleaky_linear"), target, tmp_path / "out", example_input=X)
    assert not (tmp_path / "out").exists()
