"""snnTorch's own model forms, traced as they are: the tutorial's time loop (``init_leaky()``,
``spk, mem = lif(cur, mem)``, stacked records), a time-major loop over ``x.size(0)``, ``Synaptic``'s
``(spk, syn, mem)``, and a ``Sequential`` ending in ``Leaky(output=True)``. Every value the model
returns is an output of the graph, equal to snnTorch's (spikes and membranes, exactly), and the graph
verifies bit-exactly on the targets that accept membrane outputs; the others refuse naming the node.
"""

import pytest
import torch
from torch import nn

import snnc
from snnc.ir import UnsupportedError, interpret

snn = pytest.importorskip("snntorch")

STEPS, N = 25, 4


class Tutorial5(nn.Module):
    """snnTorch tutorial 5's network, with ``num_steps`` a module attribute (the tutorial's global)."""

    def __init__(self, beta=0.95):
        super().__init__()
        self.num_steps = STEPS
        self.fc1, self.lif1 = nn.Linear(12, 10), snn.Leaky(beta=beta)
        self.fc2, self.lif2 = nn.Linear(10, 3), snn.Leaky(beta=beta, reset_mechanism="zero")

    def forward(self, x):
        mem1 = self.lif1.init_leaky()
        mem2 = self.lif2.init_leaky()
        spk2_rec, mem2_rec = [], []
        for step in range(self.num_steps):
            cur1 = self.fc1(x)
            spk1, mem1 = self.lif1(cur1, mem1)
            cur2 = self.fc2(spk1)
            spk2, mem2 = self.lif2(cur2, mem2)
            spk2_rec.append(spk2)
            mem2_rec.append(mem2)
        return torch.stack(spk2_rec, dim=0), torch.stack(mem2_rec, dim=0)


class TimeMajorSynaptic(nn.Module):
    """A time-major loop over ``x.size(0)``, ``Synaptic`` state ``(syn, mem)``, returning all three."""

    def __init__(self):
        super().__init__()
        self.fc, self.syn = nn.Linear(12, 6), snn.Synaptic(alpha=0.8, beta=0.9)

    def forward(self, x):
        syn, mem = self.syn.init_synaptic()
        spk_rec, syn_rec, mem_rec = [], [], []
        for step in range(x.size(0)):
            spk, syn, mem = self.syn(self.fc(x[step]), syn, mem)
            spk_rec.append(spk)
            syn_rec.append(syn)
            mem_rec.append(mem)
        return torch.stack(spk_rec), torch.stack(syn_rec), torch.stack(mem_rec)


def _scaled(model, gain=3.0):
    torch.manual_seed(3)
    model = model()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.weight.mul_(gain)
    return model


def _firing(spikes):
    rate = float(spikes.float().mean())
    assert 0.02 < rate < 0.9, f"spike rate {rate}: the comparison would be vacuous"


def test_tutorial5_time_loop_returns_spikes_and_membrane_exactly():
    model = _scaled(Tutorial5)
    x = torch.rand(N, 12)
    with torch.no_grad():
        ref_spk, ref_mem = model(x)
    per_step = x.expand(STEPS, N, 12).contiguous()
    graph = snnc.trace(model, per_step)
    assert graph.metadata["time_loop"] == {"steps": STEPS, "input": "static"}
    assert [n.op for n in graph.outputs] == ["Output", "Output"]
    spk, mem = interpret(graph, per_step)
    _firing(ref_spk)
    assert torch.equal(spk, ref_spk) and torch.equal(mem, ref_mem)
    assert graph.value_kind(graph.outputs[0].name) == "spikes" and graph.value_kind(graph.outputs[1].name) == "values"


def test_time_major_synaptic_loop_returns_spikes_current_and_membrane_exactly():
    model = _scaled(TimeMajorSynaptic)
    x = torch.rand(30, N, 12)
    with torch.no_grad():
        ref = model(x)
    graph = snnc.trace(model, x)
    assert graph.metadata["time_loop"] == {"steps": 30, "input": "per_step"}
    got = interpret(graph, x)
    _firing(ref[0])
    assert len(got) == 3 and all(torch.equal(g, r) for g, r in zip(got, ref))


def test_sequential_ending_in_leaky_output_true_keeps_the_membrane():
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(12, 8), snn.Leaky(beta=0.9, init_hidden=True),
                          nn.Linear(8, 3), snn.Leaky(beta=0.8, init_hidden=True, output=True))
    with torch.no_grad():
        model[0].weight.mul_(3)
        model[2].weight.mul_(3)
    x = torch.rand(20, N, 12)
    spk_ref, mem_ref = [], []
    for m in model.modules():
        if isinstance(m, snn.Leaky):
            m.reset_mem()
    with torch.no_grad():
        for t in range(x.shape[0]):
            spk, mem = model(x[t])
            spk_ref.append(spk)
            mem_ref.append(mem)
    graph = snnc.trace(model, x)
    spk, mem = interpret(graph, x)
    _firing(torch.stack(spk_ref))
    assert torch.equal(spk, torch.stack(spk_ref)) and torch.equal(mem, torch.stack(mem_ref))


@pytest.mark.parametrize("target", ["gpu", "lynxi", "hls", "onnx"])
def test_tutorial5_verifies_with_its_membrane_output(target):
    model = _scaled(Tutorial5)
    x = torch.rand(STEPS, N, 12)
    report = snnc.verify(model, target, inputs=x.numpy(), example_input=x)
    assert report.ok, str(report)


def test_targets_without_membrane_outputs_refuse_naming_the_node(tmp_path):
    model = _scaled(Tutorial5)
    x = torch.rand(STEPS, N, 12)
    with pytest.raises(UnsupportedError, match="lif2_mem.*only spikes"):
        snnc.compile(model, "loihi", tmp_path / "out", example_input=x)
    assert not (tmp_path / "out").exists()


def test_a_loop_whose_steps_differ_is_refused():
    class Differs(Tutorial5):
        def forward(self, x):
            mem1 = self.lif1.init_leaky()
            rec = []
            for step in range(4):
                cur = self.fc1(x) * (2.0 if step == 2 else 1.0)
                spk, mem1 = self.lif1(cur, mem1)
                rec.append(spk)
            return torch.stack(rec)

    with pytest.raises(UnsupportedError, match="not as a loop of identical steps"):
        snnc.trace(Differs(), torch.zeros(4, 1, 12))


def test_a_reduction_over_time_after_the_loop_is_refused():
    class Summed(Tutorial5):
        def forward(self, x):
            return super().forward(x)[0].sum(0)

    with pytest.raises(UnsupportedError, match="after the time loop"):
        snnc.trace(Summed(), torch.zeros(STEPS, 1, 12))


def test_a_loop_reading_a_tensor_attribute_is_refused_naming_it():
    class ReadsAttribute(Tutorial5):
        def __init__(self):
            super().__init__()
            self.gain = nn.Parameter(torch.ones(12))

        def forward(self, x):
            mem1 = self.lif1.init_leaky()
            rec = []
            for step in range(3):
                spk, mem1 = self.lif1(self.fc1(x * self.gain), mem1)
                rec.append(spk)
            return torch.stack(rec)

    with pytest.raises(UnsupportedError, match="tensor attribute 'gain'"):
        snnc.trace(ReadsAttribute(), torch.zeros(3, 1, 12))
