"""The onnx target: a checker-valid step model of standard ops, run in onnxruntime step by step,
equal to the float32 interpreter exactly where the operation order allows and within float32
rounding elsewhere (see targets/onnx/FORMAT.md)."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.lynxi_graphs import draw_graph, draw_inputs

from snnc.ir import Graph, interpret  # noqa: E402
from snnc.ir.errors import SnncError, UnsupportedError  # noqa: E402
from snnc.targets.onnx import TARGET, run  # noqa: E402
from snnc.targets.onnx.simulate import run_sequence  # noqa: E402

STANDARD = {"Gemm", "Conv", "AveragePool", "MaxPool", "Flatten", "Add", "Sub", "Mul", "Div", "Where", "Cast",
            "GreaterOrEqual", "Greater", "Equal", "Not", "ArgMax", "ReduceMax", "Gather", "Identity"}
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _lower(graph, directory):
    prepared = TARGET.prepare(graph, {})
    TARGET.check(prepared, {})
    directory.mkdir(parents=True, exist_ok=True)
    TARGET.lower(prepared, directory, {})
    step = onnx.load(str(directory / "model.onnx")).graph
    used = {name for node in step.node for name in node.input}
    assert [t.name for t in step.initializer if t.name not in used] == []  # no dead initializers
    return prepared


def _fixed_graph() -> Graph:
    rng = np.random.default_rng(1)
    g = Graph()
    g.add_node("x", "Input", shape=(2, 6, 6))
    g.add_node("conv", "Conv2d", ["x"], {"weight": rng.normal(size=(4, 2, 3, 3)).astype(np.float32)}, padding=1)
    g.add_node("n_conv", "Neuron", ["conv"], {"v_threshold": np.array(0.5, np.float32),
                                              "v_reset": np.array(0.0, np.float32),
                                              "tau": np.array(2.0, np.float32)}, charge="lif", window_size=4)
    g.add_node("pool", "SumPool2d", ["n_conv"], kernel_size=2)
    g.add_node("flat", "Flatten", ["pool"])
    g.add_node("fc", "Linear", ["flat"], {"weight": rng.normal(size=(3, 36)).astype(np.float32),
                                          "bias": rng.normal(size=3).astype(np.float32)})
    g.add_node("n", "Neuron", ["fc"], {"v_threshold": np.array(0.7, np.float32), "beta": np.array(0.9, np.float32)},
               charge="beta", reset="subtract", reset_timing="delayed", window_size=4)
    g.add_node("readout", "Readout", ["n"], rule="threshold_then_argmax", class_threshold=2, window_size=4)
    g.add_node("y", "Output", ["readout"])
    g.add_node("spikes", "Output", ["n"])
    return g.verify()


def test_model_is_checker_valid_standard_onnx(tmp_path):
    _lower(_fixed_graph(), tmp_path)
    model = onnx.load(str(tmp_path / "model.onnx"))
    onnx.checker.check_model(model, full_check=True)
    assert {o.domain for o in model.opset_import} == {""}
    assert {n.op_type for n in model.graph.node} <= STANDARD
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["snnc.format"] == "snnc-onnx-step" and meta["snnc.version"] == "1" and meta["snnc.window"] == "4"
    states = json.loads(meta["snnc.states"])
    assert [s["name"] for s in states] == ["n_conv.v", "n.v", "n.s", "readout.count", "readout.first"]
    assert [i.name for i in model.graph.input] == ["x", "reset"] + [s["input"] for s in states]
    assert [o.name for o in model.graph.output] == ["y", "spikes"] + [s["output"] for s in states]
    assert "AveragePool" not in {n.op_type for n in model.graph.node}  # SumPool is a depthwise Conv of ones
    sequence = onnx.load(str(tmp_path / "model_sequence.onnx"))
    onnx.checker.check_model(sequence, full_check=True)
    assert [n.op_type for n in sequence.graph.node if n.op_type == "Scan"] == ["Scan"]
    assert [i.name for i in sequence.graph.input] == ["x", "reset"]
    assert [o.name for o in sequence.graph.output][:2] == ["y", "spikes"]


def test_fixed_graph_equals_interpreter_exactly(tmp_path):
    prepared = _lower(_fixed_graph(), tmp_path)
    x = torch.from_numpy((np.random.default_rng(0).random((11, 3, 2, 6, 6)) < 0.5).astype(np.float32))
    got = TARGET.simulate(tmp_path, x)
    expected = interpret(prepared, x)
    assert all(torch.equal(g, e) for g, e in zip(got, expected))
    assert all(torch.equal(g, e) for g, e in zip(run_sequence(tmp_path, x), expected))
    assert expected[1].sum() > 0


@pytest.mark.parametrize("kind", ["if", "lif", "lif_nodecay", "plif", "beta", "beta_delayed", "beta_compensated",
                                  "cuba", "cuba_delayed", "cuba_compensated"])
@pytest.mark.parametrize("reset", ["hard", "subtract", "none"])
def test_neuron_update_is_exact_for_any_float_input(tmp_path, kind, reset):
    """Neurons and readout with no synapse in front: the same float32 ops in the same order, exact."""
    rng = np.random.default_rng(hash((kind, reset)) % 2**32)
    shape = (7,)
    params = {"v_threshold": rng.uniform(0.3, 1.0, size=shape).astype(np.float32)}
    attrs = {"charge": kind.split("_")[0], "reset": reset, "window_size": 6, "decay_input": kind != "lif_nodecay"}
    if reset == "hard":
        params["v_reset"] = np.array(-0.1, np.float32)
    if kind.startswith("lif"):
        params["tau"], params["v_leak"] = np.array(2.7, np.float32), np.array(0.05, np.float32)
    if kind == "plif":
        params["k"] = rng.uniform(0.2, 0.6, size=shape).astype(np.float32)
    if kind.startswith(("beta", "cuba")):
        params["beta"] = np.array(0.83, np.float32)
    if kind.startswith("cuba"):
        params["alpha"], params["i_init"] = np.array(0.71, np.float32), np.array(0.02, np.float32)
    if kind.endswith(("delayed", "compensated")):
        attrs["reset_timing"] = kind.split("_")[1]
    g = Graph()
    g.add_node("x", "Input", shape=shape)
    g.add_node("n", "Neuron", ["x"], params, **attrs)
    g.add_node("r", "Readout", ["n"], {"beta": np.array(0.9, np.float32)}, output_mode="membrane",
               rule="argmax_membrane", window_size=6)
    g.add_node("y", "Output", ["n"])
    g.add_node("d", "Output", ["r"])
    prepared = _lower(g.verify(), tmp_path)
    x = torch.from_numpy(rng.normal(0.3, 0.6, size=(20, 4, *shape)).astype(np.float32))
    got, values = run(tmp_path, x, record=True)
    expected, trace = interpret(prepared, x, record=True)
    assert all(torch.equal(a, b) for a, b in zip(got, expected))
    assert 0 < expected[0].mean() < 1
    for name in ("n", "r"):
        assert torch.equal(values[name], trace.values[name])


# --- hypothesis ----------------------------------------------------------------------------------------
@settings(max_examples=30, **SETTINGS)
@given(data=st.data())
def test_exact_where_sums_are_exact(data, tmp_path_factory):
    """Dyadic weights (multiples of 1/16) and spike inputs: every Gemm/Conv/pool sum is exact in
    float32 whatever the order, so every value of every node at every step is bit-identical."""
    graph, shape = draw_graph(data, dyadic=True)
    out = tmp_path_factory.mktemp("onnx")
    prepared = _lower(graph, out)
    x = torch.from_numpy(draw_inputs(data, shape, spikes=True))
    got, values = run(out, x, record=True)
    expected, trace = interpret(prepared, x, record=True)
    for g, e in zip(got, expected):
        assert g.dtype == e.dtype == torch.float32 and torch.equal(g, e)
    for name, value in trace.values.items():
        if name in values:
            assert torch.equal(values[name], value), name
    # the whole-sequence model (Scan over the same step body) gives the same outputs
    for g, e in zip(run_sequence(out, x), expected):
        assert torch.equal(g, e)


@settings(max_examples=30, **SETTINGS)
@given(data=st.data())
def test_within_rounding_for_any_weights(data, tmp_path_factory):
    """Arbitrary float weights and inputs: every value equals the ``onnx`` profile's bit for bit; against
    the plain float32 interpreter (another sum order) every value agrees within float32 rounding up to
    the first differing spike, and a spike may differ only where H is within rounding of the threshold."""
    graph, shape = draw_graph(data, dyadic=False)
    out = tmp_path_factory.mktemp("onnx")
    prepared = _lower(graph, out)
    x = torch.from_numpy(draw_inputs(data, shape))
    _, values = run(out, x, record=True)
    _assert_exact_under_the_onnx_profile(prepared, values, x)
    _, trace = interpret(prepared, x, record=True)
    _assert_within_rounding(prepared, values, trace, x.shape[0])


def _assert_exact_under_the_onnx_profile(prepared, values, x) -> None:
    _, trace = interpret(prepared, x, numerics="onnx", record=True)
    for name, value in trace.values.items():
        if name in values:
            assert torch.equal(values[name], value), name


def _assert_within_rounding(prepared, values, trace, steps) -> int:
    """Up to the first step with a differing spike: every value within float32 rounding; the differing
    spikes have H within rounding of the threshold. Returns how many values were not bit-identical."""
    neurons = {n.name: n for n in prepared.nodes if n.op == "Neuron"}
    inexact = 0
    for t in range(steps):
        for node in prepared.nodes:
            if node.name not in values:
                continue
            got, ref = values[node.name][t], trace.values[node.name][t]
            if node.name in neurons and not torch.equal(got, ref):
                h = values[f"{node.name}.h"][t]
                th = torch.as_tensor(node.params["v_threshold"]).expand_as(h)
                diff = got != ref
                assert torch.all((h[diff] - th[diff]).abs() <= 1e-4 * (1 + th[diff].abs())), node.name
                return inexact  # the runs diverge after a flipped spike; nothing more to compare
            scale = float(ref.abs().max()) if ref.numel() else 0.0
            torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5 * (1.0 + scale), msg=node.name)
            inexact += int((got != ref).sum())
    return inexact


def test_large_fan_in_within_rounding(tmp_path):
    """Fan-in 784 and a 3x3x8 convolution: onnxruntime's Gemm/Conv sums differ from PyTorch's in the
    last bits, yet stay within rounding; the ``onnx`` profile, which takes the runtime's sums, is equal
    bit for bit."""
    rng = np.random.default_rng(0)
    g = Graph()
    g.add_node("x", "Input", shape=(4, 14, 14))
    g.add_node("c", "Conv2d", ["x"], {"weight": (rng.normal(size=(8, 4, 3, 3)) * 0.2).astype(np.float32)}, padding=1)
    g.add_node("nc", "Neuron", ["c"], {"v_threshold": np.array(1.0, np.float32)}, charge="if", reset="subtract",
               window_size=8)
    g.add_node("f", "Flatten", ["nc"])
    g.add_node("fc", "Linear", ["f"], {"weight": (rng.normal(size=(10, 1568)) * 0.05).astype(np.float32),
                                       "bias": (rng.normal(size=10) * 0.1).astype(np.float32)})
    g.add_node("n", "Neuron", ["fc"], {"v_threshold": np.array(1.0, np.float32), "tau": np.array(2.0, np.float32),
                                       "v_reset": np.array(0.0, np.float32)}, charge="lif", window_size=8)
    g.add_node("r", "Readout", ["n"], window_size=8)
    g.add_node("y", "Output", ["r"])
    prepared = _lower(g.verify(), tmp_path)
    x = torch.from_numpy(rng.random((8, 6, 4, 14, 14)).astype(np.float32))
    _, values = run(tmp_path, x, record=True)
    _, trace = interpret(prepared, x, record=True)
    assert _assert_within_rounding(prepared, values, trace, 8) > 0
    assert trace.values["n"].sum() > 0
    _assert_exact_under_the_onnx_profile(prepared, values, x)  # onnxruntime's own sums: every bit equal


# --- refusals --------------------------------------------------------------------------------------------
def test_check_refuses_batchnorm():
    g = Graph()
    g.add_node("x", "Input", shape=(3, 4, 4))
    ones = np.ones(3, np.float32)
    g.add_node("bn", "BatchNorm", ["x"], {"mean": ones, "var": ones, "weight": ones, "bias": ones})
    g.add_node("y", "Output", ["bn"])
    with pytest.raises(UnsupportedError, match=r"onnx: node 'bn': op BatchNorm.*fold"):
        TARGET.check(g.verify(), {})


def test_damaged_or_foreign_model_refused(tmp_path):
    _lower(_fixed_graph(), tmp_path)
    path = tmp_path / "model.onnx"
    x = torch.zeros(1, 1, 2, 6, 6)
    model = onnx.load(str(path))
    for prop in model.metadata_props:
        if prop.key == "snnc.version":
            prop.value = "2"
    onnx.save(model, str(path))
    with pytest.raises(SnncError, match=r"model.onnx: metadata snnc.version '2' is not supported"):
        TARGET.simulate(tmp_path, x)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(SnncError, match=r"model.onnx: not a valid ONNX model"):
        TARGET.simulate(tmp_path, x)
    path.unlink()
    with pytest.raises(SnncError, match=r"model.onnx: not found"):
        TARGET.simulate(tmp_path, x)


def test_describe_and_bad_inputs(tmp_path):
    _lower(_fixed_graph(), tmp_path)
    text = TARGET.describe(tmp_path)
    assert "ONNX step model (opset 17)" in text and "5 state tensors, window 4" in text and "Gemm×1" in text
    with pytest.raises(SnncError, match=r"input must have shape \[T, N, 2, 6, 6\], got \[3, 1, 2, 6\]"):
        TARGET.simulate(tmp_path, torch.zeros(3, 1, 2, 6))
    with pytest.raises(SnncError, match="NaN or Inf"):
        TARGET.simulate(tmp_path, torch.full((2, 1, 2, 6, 6), float("inf")))
    with pytest.raises(SnncError, match="at least one time step"):
        run_sequence(tmp_path, torch.zeros(0, 1, 2, 6, 6))


# heavier variants (pytest -m slow)
@pytest.mark.slow
@settings(max_examples=300, **SETTINGS)
@given(data=st.data())
def test_exact_where_sums_are_exact_many(data, tmp_path_factory):
    test_exact_where_sums_are_exact.hypothesis.inner_test(data, tmp_path_factory)


@pytest.mark.slow
@settings(max_examples=300, **SETTINGS)
@given(data=st.data())
def test_within_rounding_for_any_weights_many(data, tmp_path_factory):
    test_within_rounding_for_any_weights.hypothesis.inner_test(data, tmp_path_factory)
