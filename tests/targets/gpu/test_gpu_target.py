"""The gpu target: lower → simulate equals the interpreter exactly on CPU; artifact files re-read;
torch.export program loads and agrees; on CUDA (marker gpu) the fused path agrees with the interpreter."""

import json

import numpy as np
import pytest
import torch

from snnc.ir import Graph
from snnc.ir.interpreter import interpret
from snnc.targets import get_target
from snnc.targets.gpu import GraphModule


def graph(seed=0, charge="lif", window=0):
    """… → Conv2d → Neuron of ``charge`` ("alif": lif with an adaptive threshold) → … → Readout."""
    adaptive = charge == "alif"
    charge = "lif" if adaptive else charge
    rng = np.random.default_rng(seed)
    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
    g = Graph()
    g.add_node("x", "Input", shape=(2, 6, 6))
    g.add_node("conv", "Conv2d", ["x"], {"weight": f32(rng.normal(size=(4, 2, 3, 3))),
                                         "bias": f32(rng.normal(size=4) * 0.1)}, padding=1)
    params = {"v_threshold": f32(0.5), "v_reset": f32(0.0)}
    params.update({"lif": {"tau": f32(3.0), "v_leak": f32(0.0)}, "cuba": {"alpha": f32(0.7), "beta": f32(0.8)},
                   "plif": {"k": f32(0.4), "v_leak": f32(0.0)}, "if": {}}[charge])
    if adaptive:
        params.update(adapt_decay=f32(0.8), adapt_scale=f32(0.3))
    g.add_node("n1", "Neuron", ["conv"], params, charge=charge, reset="hard", window_size=window,
               threshold="adaptive" if adaptive else "fixed")
    g.add_node("pool", "SumPool2d", ["n1"], kernel_size=2)
    g.add_node("flat", "Flatten", ["pool"])
    g.add_node("fc", "Linear", ["flat"], {"weight": f32(rng.normal(size=(3, 36)) * 0.5)})
    g.add_node("n2", "Neuron", ["fc"], {"v_threshold": f32(rng.uniform(0.5, 1.0, size=3))}, charge="if",
               reset="subtract", window_size=window)
    g.add_node("readout", "Readout", ["n2"], rule="argmax_spike_count", window_size=window)
    g.add_node("y", "Output", ["readout"])
    g.add_node("spikes", "Output", ["n2"])
    return g.verify()


@pytest.mark.parametrize("charge,window", [("lif", 0), ("cuba", 3), ("plif", 0), ("if", 2), ("alif", 3)])
def test_cpu_simulate_equals_interpreter(tmp_path, charge, window):
    target = get_target("gpu")
    g = target.prepare(graph(charge=charge, window=window), {})
    target.check(g, {})
    target.lower(g, tmp_path, {})
    meta = json.loads((tmp_path / "gpu.json").read_text())
    assert meta["format"] == "snnc-gpu" and "n1" in meta["fused_neurons"]
    x = (torch.rand(6, 3, 2, 6, 6) < 0.4).float()
    got = target.simulate(tmp_path, x)
    want = interpret(g, x, "float32")
    for a, b in zip(got, want):
        assert torch.equal(a, b)
    assert "gpu artifact" in target.describe(tmp_path)


#: three sequence lengths and batch sizes, none of them the export's example (2, 2)
SHAPES = [(1, 1), (5, 3), (9, 7)]


@pytest.mark.parametrize("charge,window", [("lif", 0), ("cuba", 3), ("alif", 2)])
def test_exported_program_takes_any_steps_and_batch(tmp_path, charge, window):
    """module.pt2 folds T into the batch and runs snnc::neuron_sequence: on CPU it equals the module's
    folded path exactly for every [T, N], and its neurons equal the interpreter's step."""
    target = get_target("gpu")
    g = target.prepare(graph(charge=charge, window=window), {})
    target.lower(g, tmp_path, {})
    meta = json.loads((tmp_path / "gpu.json").read_text())
    assert meta["exported"] and meta["export_dynamic"] == ["steps", "batch"], meta.get("export_error")
    program = torch.export.load(tmp_path / "module.pt2").module()
    ops = {str(n.target) for n in program.graph.nodes if n.op == "call_function"}
    assert "snnc.neuron_sequence.default" in ops and "snnc.readout_sequence.default" in ops
    folded = GraphModule(g, fold=True)
    for steps, batch in SHAPES:
        x = (torch.rand(steps, batch, 2, 6, 6) < 0.5).float()
        got = program(x)
        assert got[0].shape == (steps, batch, 1) and got[1].shape == (steps, batch, 3)
        for a, b in zip(got, folded(x)):
            assert torch.equal(a, b)


def test_neuron_sequence_op_equals_the_interpreter():
    """snnc::neuron_sequence's own implementation is interpret()'s step over the window."""
    g = graph(charge="cuba", window=3)
    node = g["n1"]
    x = torch.randn(8, 4, 4, 6, 6)
    module = GraphModule(g)
    tensors, scalars = module.tensor_params(node), module.scalar_params(node)
    got = torch.ops.snnc.neuron_sequence(
        x, list(tensors.values()), attrs=json.dumps(node.attrs), tensor_params=",".join(tensors),
        scalars=list(scalars.values()), scalar_params=",".join(scalars), window=3)
    single = Graph()
    single.add_node("x", "Input", shape=(4, 6, 6))
    single.add_node("n1", "Neuron", ["x"], node.params, **node.attrs)
    single.add_node("y", "Output", ["n1"])
    want = interpret(single.verify(), x, "float32")
    assert 0 < got.sum() < got.numel() and torch.equal(got, want)


@pytest.mark.gpu
@pytest.mark.parametrize("charge,window", [("lif", 0), ("cuba", 3), ("plif", 2), ("alif", 0), ("alif", 3)])
def test_cuda_fused_path(tmp_path, charge, window):
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    target = get_target("gpu")
    g = target.prepare(graph(charge=charge, window=window), {})
    target.lower(g, tmp_path, {"export": False})
    x = (torch.rand(8, 16, 2, 6, 6) < 0.4).float().cuda()
    got = target.simulate(tmp_path, x)
    want = interpret(g, x, "float32")
    # the fused neuron kernels are exact; folded convolutions may round differently: compare spikes
    agree = (got[1] == want[1]).float().mean().item()
    assert agree > 0.99, agree


@pytest.mark.gpu
@pytest.mark.parametrize("charge,window", [("lif", 0), ("cuba", 3), ("plif", 2), ("alif", 3)])
def test_exported_program_on_cuda(tmp_path, charge, window):
    """module.pt2 moved to CUDA runs the fused kernels for three [T, N]: equal to the artifact's module
    on CUDA exactly (same folded layers, same kernels)."""
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    target = get_target("gpu")
    g = target.prepare(graph(charge=charge, window=window), {})
    target.lower(g, tmp_path, {})
    program = torch.export.load(tmp_path / "module.pt2").module().to("cuda")
    module = GraphModule(g).cuda()
    for steps, batch in SHAPES:
        x = (torch.rand(steps, batch, 2, 6, 6) < 0.4).float().cuda()
        with torch.no_grad():
            got, want = program(x), module(x)
        assert got[1].is_cuda
        for a, b in zip(got, want):
            assert torch.equal(a, b)
