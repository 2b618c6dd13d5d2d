"""snnc.nn models exported with torch.export (``snnc::neuron_step`` / ``snnc::readout_step``) import
into the IR exactly: the imported graph, interpreted, equals the eager model step for step; the CLI
compiles such a ``.pt2``; programs with other libraries' neurons are refused in one line."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from torch import nn

import snnc
from support.cli import one_line_error, run_cli
from snnc import nn as snn
from snnc.frontend.load import load_model
from snnc.ir import interpret
from snnc.ir.errors import SnncError

STEPS = 100
pytestmark = pytest.mark.filterwarnings("ignore:The tensor attribute self.lif")  # snnTorch under export


def _export(model, x, path):
    snn.reset_net(model)
    program = torch.export.export(model.eval(), (x[0],))
    torch.export.save(program, str(path))
    return program


def _eager(model, x):
    snn.reset_net(model)
    with torch.no_grad():
        out = torch.stack([model(xt) for xt in x])
    snn.reset_net(model)
    return out


def _chain(reset, seed):
    """IF, LIF (both decay_input), PLIF, CubaLIF, ALIF in one model; per-neuron thresholds/tau/decays."""
    torch.manual_seed(seed)
    v_reset = None if reset == "subtract" else 0.0
    leak = None if v_reset is None else -0.25  # a non-zero v_reset: the leak target
    model = nn.Sequential(
        nn.Linear(6, 8), snn.IF(v_threshold=torch.rand(8) + 0.5, v_reset=v_reset),
        nn.Linear(8, 7), snn.LIF(tau=1.5 + torch.rand(7) * 2, v_reset=leak),
        nn.Linear(7, 7), snn.LIF(tau=3.0, decay_input=False, v_threshold=0.8, v_reset=v_reset),
        nn.Linear(7, 6), snn.PLIF(init_tau=2.5, v_threshold=torch.rand(6) * 0.5 + 0.3, v_reset=leak),
        nn.Linear(6, 6), snn.PLIF(init_tau=4.0, decay_input=False, v_threshold=0.6, v_reset=v_reset),
        nn.Linear(6, 5), snn.CubaLIF(current_decay=torch.rand(5) * 0.8, voltage_decay=0.3,
                                     v_threshold=torch.rand(5) * 0.5 + 0.4, v_reset=v_reset),
        nn.Linear(5, 4), snn.CubaLIF(current_decay=0.25, voltage_decay=torch.rand(4) * 0.5, v_reset=v_reset),
        nn.Linear(4, 4), snn.ALIF(tau=1.5, tau_adapt=torch.rand(4) * 6 + 1, beta_adapt=0.2, v_threshold=0.2,
                                  v_reset=v_reset),
    )
    with torch.no_grad():  # strong enough weights that every layer both fires and stays silent
        for layer in model[::2]:
            layer.weight.mul_(2.5)
            layer.bias.add_(0.15)
    return model


def _spiking_input(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(STEPS, *shape, generator=g) * 2.0


@pytest.mark.parametrize("reset", ["hard", "subtract"])
def test_round_trip_every_neuron_bit_exact(tmp_path, reset):
    model = _chain(reset, seed=1 if reset == "hard" else 2)
    x = _spiking_input((3, 6), seed=3)
    path = tmp_path / "model.pt2"
    _export(model, x, path)
    graph = snnc.load(path)
    neurons = [n for n in graph.nodes if n.op == "Neuron"]
    assert [n.attrs["charge"] for n in neurons] == ["if", "lif", "lif", "plif", "plif", "cuba", "cuba", "lif"]
    assert [n.attrs["threshold"] for n in neurons].count("adaptive") == 1
    assert {n.attrs["reset"] for n in neurons} == {reset}
    ref = _eager(model, x)
    assert 0 < ref.sum() < ref.numel()  # the last layer both fires and stays silent
    out = interpret(graph, x)
    assert out.dtype == ref.dtype and torch.equal(out, ref)
    # every hidden layer too: the imported graph equals the fx-traced graph node for node
    traced = snnc.trace(model, x)
    assert [n.name for n in graph.nodes] == [n.name for n in traced.nodes]  # module paths, as snnc.trace
    for a, b in zip([n for n in graph.nodes if n.op == "Neuron"], [n for n in traced.nodes if n.op == "Neuron"]):
        assert a.attrs == b.attrs
        assert sorted(a.params) == sorted(b.params)
        for key in a.params:
            assert a.params[key].dtype == b.params[key].dtype and np.array_equal(a.params[key], b.params[key])
    per_neuron = neurons[0].params["v_threshold"]
    assert per_neuron.shape == (8,) and np.array_equal(per_neuron, model[1].v_threshold.numpy())


def test_hidden_spikes_every_layer_bit_exact(tmp_path):
    """Each neuron layer's spikes (cut the model after it) over 100 steps."""
    model = _chain("hard", seed=4)
    x = _spiking_input((2, 6), seed=5)
    for cut in range(2, len(model) + 1, 2):
        sub = model[:cut]
        path = tmp_path / f"cut{cut}.pt2"
        _export(sub, x, path)
        ref = _eager(sub, x)
        assert 0 < ref.sum() < ref.numel()
        assert torch.equal(interpret(snnc.load(path), x), ref)


@pytest.mark.parametrize("mode,rule", [("spike", "argmax_spike_count"), ("spike", "threshold_then_argmax"),
                                       ("membrane", "argmax_membrane")])
def test_readout_with_window_bit_exact(tmp_path, mode, rule):
    torch.manual_seed(6)
    w = 7
    model = nn.Sequential(nn.Linear(5, 6), snn.LIF(tau=2.0, window_size=w), nn.Linear(6, 3),
                          snn.IF(v_threshold=torch.tensor([0.5, 0.7, 0.9]), window_size=w),
                          snn.Readout(3, window_size=w, output_mode=mode, decision_rule=rule, class_threshold=2,
                                      beta=0.9))
    with torch.no_grad():
        for layer in (model[0], model[2]):
            layer.weight.mul_(3.0)
            layer.bias.add_(0.2)
    x = _spiking_input((4, 5), seed=7)
    path = tmp_path / "readout.pt2"
    _export(model, x, path)
    graph = snnc.load(path)
    (ro,) = [n for n in graph.nodes if n.op == "Readout"]
    assert (ro.attrs["rule"], ro.attrs["window_size"], ro.attrs["output_mode"]) == (rule, w, mode)
    assert all(n.attrs["window_size"] == w for n in graph.nodes if n.op == "Neuron")
    ref = _eager(model, x)
    assert len(torch.unique(ref)) > 1  # the decision changes over the windows
    assert torch.equal(interpret(graph, x), ref)


def test_exported_program_runs_one_step_from_reset(tmp_path):
    """The program itself is executable: one step from the reset state, as the model's first step."""
    model = _chain("subtract", seed=8)
    x = _spiking_input((3, 6), seed=9)
    program = _export(model, x, tmp_path / "m.pt2")
    ops = {str(n.target) for n in program.graph.nodes if n.op == "call_function"}
    assert "snnc.neuron_step.default" in ops
    assert not any("gt" in o or "ge" in o or "where" in o for o in ops if o.startswith("aten"))
    with torch.no_grad():
        first = torch.export.load(str(tmp_path / "m.pt2")).module()(x[0])
    assert torch.equal(first, _eager(model, x[:1])[0])
    # exporting left the model untouched: eager training path still runs with autograd
    model.train()
    out = model(x[0].requires_grad_())
    out.sum().backward()
    assert model[0].weight.grad is not None


def test_export_refuses_multi_step_and_leftover_state(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2), snn.IF())
    x = torch.rand(4, 2, 3)
    snn.set_step_mode(model, "m")
    with pytest.raises(Exception, match="one time step"):
        torch.export.export(model, (x,))
    readout = snn.Readout(2, step_mode="m")
    with pytest.raises(Exception, match="one time step"):
        torch.export.export(readout, (x[:, :, :2],))
    snn.set_step_mode(model, "s")
    model(x[0])  # state left behind
    with pytest.raises(Exception, match="reset_net"):
        torch.export.export(model, (x[0],))


def _snntorch_pt2(path):
    snntorch = pytest.importorskip("snntorch")

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)
            self.lif = snntorch.Leaky(beta=0.9, init_hidden=True)

        def forward(self, x):
            return self.lif(self.fc(x))

    torch.export.save(torch.export.export(Net(), (torch.rand(2, 4),)), str(path))


def test_foreign_neurons_refused(tmp_path):
    path = tmp_path / "foreign.pt2"
    _snntorch_pt2(path)
    with pytest.raises(SnncError, match=r"lif \(snntorch.*torch.save.*snnc.nn"):
        load_model(path)


def test_cli_compile_pt2_hls_and_lynxi_and_refusal(tmp_path):
    torch.manual_seed(10)
    model = nn.Sequential(nn.Linear(6, 5), snn.LIF(tau=2.0), nn.Linear(5, 4), snn.IF(v_threshold=0.5))
    x = (torch.rand(STEPS, 2, 6) < 0.4).float()
    _export(model, x, tmp_path / "model.pt2")
    for target in ("hls", "lynxi"):
        rc, _, err = run_cli("compile", "model.pt2", "--target", target, "-o", f"out_{target}", cwd=tmp_path)
        assert rc == 0, err
        manifest = (tmp_path / f"out_{target}" / "snnc.json").read_text()
        assert f'"{target}"' in manifest
        out = snnc.simulate(tmp_path / f"out_{target}", x)
        assert out.shape == (STEPS, 2, 4)
        # the shipped artifact equals the model file interpreted under the target's numerics
        report = snnc.verify(tmp_path / "model.pt2", target, x, artifact=tmp_path / f"out_{target}")
        assert report.ok, report.first_divergence
    _snntorch_pt2(tmp_path / "foreign.pt2")
    one_line_error(run_cli("compile", "foreign.pt2", "--target", "hls", "-o", "out_bad", cwd=tmp_path),
                   "torch.save", "snnc.nn")
    assert not (tmp_path / "out_bad").exists()


def _hand_graph(window):
    """Conv, SumPool, per-neuron thresholds, snnTorch-style '>' with delayed reset, readout, two outputs."""
    from snnc.ir import Graph

    rng = np.random.default_rng(11)
    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
    g = Graph()
    g.add_node("x", "Input", shape=(2, 6, 6))
    g.add_node("conv", "Conv2d", ["x"], {"weight": f32(rng.normal(size=(4, 2, 3, 3))),
                                         "bias": f32(rng.normal(size=4) * 0.1)}, padding=1)
    g.add_node("n1", "Neuron", ["conv"], {"v_threshold": f32(0.5), "v_reset": f32(0.0), "tau": f32(3.0)},
               charge="lif", reset="hard", window_size=window)
    g.add_node("pool", "SumPool2d", ["n1"], kernel_size=2)
    g.add_node("flat", "Flatten", ["pool"])
    g.add_node("fc", "Linear", ["flat"], {"weight": f32(rng.normal(size=(5, 36)) * 0.5)})
    g.add_node("n2", "Neuron", ["fc"], {"v_threshold": f32(rng.uniform(0.5, 1.0, size=5)),
                                        "beta": np.asarray(0.875)}, charge="beta", compare="gt",
               reset="subtract", reset_timing="delayed", window_size=window)
    g.add_node("fc2", "Linear", ["n2"], {"weight": f32(rng.normal(size=(3, 5))), "bias": f32(rng.normal(size=3))})
    g.add_node("n3", "Neuron", ["fc2"], {"v_threshold": f32(0.3), "alpha": f32(rng.uniform(0, 1, size=3)),
                                         "beta": f32(0.5), "v_reset": f32(0.0)}, charge="cuba", reset="hard",
               window_size=window)
    g.add_node("readout", "Readout", ["n3"], rule="threshold_then_argmax", class_threshold=2, window_size=window)
    g.add_node("y", "Output", ["readout"])
    g.add_node("spikes", "Output", ["n2"])
    g.add_node("n3_syn", "Neuron", ["fc2"], dict(g["n3"].params), **{**g["n3"].attrs, "output": "i"})
    g.add_node("current", "Output", ["n3_syn"])
    g.add_node("n3_mem", "Neuron", ["fc2"], dict(g["n3"].params), **{**g["n3"].attrs, "output": "v"})
    g.add_node("membrane", "Output", ["n3_mem"])
    return g.verify()


@pytest.mark.parametrize("window", [0, 5])
def test_graph_step_program_round_trip(tmp_path, window):
    """Any float IR graph → snnc.ir.torch_ops.export_step → .pt2 → the same graph (interpreted equal)."""
    from snnc.ir.torch_ops import export_step

    g = _hand_graph(window)
    torch.export.save(export_step(g), str(tmp_path / "step.pt2"))
    g2 = snnc.load(tmp_path / "step.pt2")
    assert [(n.op, n.attrs.get("charge"), n.attrs.get("reset_timing"), n.attrs.get("output")) for n in g.nodes] == \
        [(n.op, n.attrs.get("charge"), n.attrs.get("reset_timing"), n.attrs.get("output")) for n in g2.nodes]
    for a, b in zip(g.nodes, g2.nodes):
        assert sorted(a.params) == sorted(b.params)
        assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    x = (torch.rand(STEPS, 3, 2, 6, 6, generator=torch.Generator().manual_seed(12)) < 0.4).float()
    want, got = interpret(g, x), interpret(g2, x)
    assert 0 < want[1].sum() < want[1].numel()
    assert all(torch.equal(a, b) for a, b in zip(got, want))


def test_gpu_artifact_step_program_recompiles(tmp_path):
    model = nn.Sequential(nn.Linear(6, 5), snn.PLIF(), nn.Linear(5, 4), snn.IF(v_threshold=0.5)).eval()
    x = (torch.rand(STEPS, 2, 6) < 0.4).float()
    snnc.compile(model, "gpu", tmp_path / "gpu", example_input=x)
    assert (tmp_path / "gpu" / "step.pt2").is_file()
    g = snnc.load(tmp_path / "gpu" / "step.pt2")
    assert torch.equal(interpret(g, x), _eager(model, x))
    with pytest.raises(SnncError, match="step.pt2"):
        snnc.load(tmp_path / "gpu" / "module.pt2")
