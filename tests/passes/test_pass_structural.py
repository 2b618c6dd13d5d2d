"""Shape inference, BN folding, dead-node elimination, fixed-window readout, standard pipeline:
each preserves the graph's meaning (BN folding within float tolerance, the others exactly)."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import snnc.nn as snn
from support.netspec import build, inputs, run_model, specs
from snnc.ir import Graph, GraphError, interpret
from snnc.passes import (eliminate_dead_nodes, fixed_window_readout, fold_batchnorm, infer_shapes,
                         standard_pipeline)

SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
F32 = np.float32


def _bn_params(c, rng):
    return {"mean": rng.normal(size=c).astype(F32), "var": rng.uniform(0.5, 2.0, size=c).astype(F32),
            "weight": rng.normal(size=c).astype(F32), "bias": rng.normal(size=c).astype(F32)}


def _with_batchnorm(conv: bool, bias: bool, chain: int = 1, seed: int = 0):
    rng = np.random.default_rng(seed)
    g = Graph()
    if conv:
        g.add_node("x", "Input", shape=(2, 5, 5))
        params = {"weight": rng.normal(size=(3, 2, 3, 3)).astype(F32)}
        if bias:
            params["bias"] = rng.normal(size=3).astype(F32)
        g.add_node("layer", "Conv2d", ["x"], params, padding=1)
    else:
        g.add_node("x", "Input", shape=(6,))
        params = {"weight": rng.normal(size=(3, 6)).astype(F32)}
        if bias:
            params["bias"] = rng.normal(size=3).astype(F32)
        g.add_node("layer", "Linear", ["x"], params)
    prev = "layer"
    for i in range(chain):
        g.add_node(f"bn{i}", "BatchNorm", [prev], _bn_params(3, rng))
        prev = f"bn{i}"
    g.add_node("n", "Neuron", [prev], {"v_threshold": np.array(0.5, F32), "v_reset": np.array(0.0, F32),
                                       "tau": np.array(2.0)}, charge="lif")
    g.add_node("y", "Output", ["n"])
    return g.verify()


@pytest.mark.parametrize("conv", [False, True])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("chain", [1, 2])
def test_fold_batchnorm_within_tolerance(conv, bias, chain):
    g = _with_batchnorm(conv, bias, chain)
    folded = fold_batchnorm(g)
    assert [n.op for n in folded.nodes] == ["Input", "Conv2d" if conv else "Linear", "Neuron", "Output"]
    assert folded["n"].inputs == ["layer"]
    assert any(n.op == "BatchNorm" for n in g.nodes)  # the argument is unchanged
    x = torch.rand((10, 4) + g.input_shape) * 2
    _, before = interpret(g, x, record=True)
    _, after = interpret(folded, x, record=True)
    torch.testing.assert_close(after.values["layer"], before.values[f"bn{chain - 1}"], rtol=1e-5, atol=1e-5)
    # the spikes agree except where the potential is within float rounding of the threshold
    assert (after.values["n"] != before.values["n"]).float().mean() < 0.01


def test_fold_batchnorm_leaves_unfoldable():
    g = Graph()
    rng = np.random.default_rng(0)
    g.add_node("x", "Input", shape=(3, 4, 4))
    g.add_node("pool", "AvgPool2d", ["x"], kernel_size=2)
    g.add_node("bn", "BatchNorm", ["pool"], _bn_params(3, rng))
    g.add_node("c", "Conv2d", ["bn"], {"weight": np.ones((3, 3, 1, 1), F32)})
    g.add_node("bn2", "BatchNorm", ["c"], _bn_params(3, rng))
    g.add_node("y", "Output", ["bn2"])
    g.add_node("y2", "Output", ["c"])  # the conv has a second user: folding would change y2
    folded = fold_batchnorm(g.verify())
    assert [n.op for n in folded.nodes] == [n.op for n in g.nodes]
    x = torch.rand(3, 2, 3, 4, 4)
    for a, b in zip(interpret(g, x), interpret(folded, x)):
        assert torch.equal(a, b)


@SETTINGS
@given(specs(), st.integers(1, 3))
def test_dead_node_elimination_is_exact(spec, extra):
    _, g = build(spec)
    # dead branches: a layer off the input and a neuron off a hidden node, never read by an Output
    nodes = list(g.nodes)
    hidden = nodes[len(nodes) // 2]
    g.nodes = nodes[:-1]
    g._by_name = None
    g.add_node("dead_fc", "Linear", ["x"], {"weight": np.ones((extra, int(np.prod(g.input_shape))), F32)}) \
        if len(g.input_shape) == 1 else g.add_node("dead_fc", "Flatten", ["x"])
    g.add_node("dead_n", "Neuron", [hidden.name], {"v_threshold": np.array(1.0), "v_reset": np.array(0.0)},
               charge="if", window_size=spec["window"])
    g.add(nodes[-1])
    g.verify()
    out = eliminate_dead_nodes(g)
    assert "dead_fc" not in out and "dead_n" not in out
    assert [n.name for n in out.nodes] == [n.name for n in nodes]
    x = inputs(spec)
    assert torch.equal(interpret(g, x), interpret(out, x))
    assert out.content_hash() == build(spec)[1].content_hash()


@SETTINGS
@given(specs())
def test_infer_shapes_is_exact_and_idempotent(spec):
    _, g = build(spec)
    out = infer_shapes(g)
    assert out.content_hash() == g.content_hash()
    assert [n.shape for n in out.nodes] == [n.shape for n in g.nodes]
    x = inputs(spec)
    assert torch.equal(interpret(g, x), interpret(out, x))


def test_infer_shapes_with_new_input_shape():
    g = Graph()
    g.add_node("x", "Input", shape=(1, 8, 8))
    g.add_node("c", "Conv2d", ["x"], {"weight": np.ones((2, 1, 3, 3), F32)}, stride=2)
    g.add_node("p", "MaxPool2d", ["c"], kernel_size=2)
    g.add_node("y", "Output", ["p"])
    out = infer_shapes(g.verify(), input_shape=(1, 12, 10))
    assert out["c"].shape == (2, 5, 4) and out["p"].shape == (2, 2, 2)
    assert g["p"].shape == (2, 1, 1)
    with pytest.raises(GraphError, match="node 'c'.*does not fit"):
        infer_shapes(g, input_shape=(3, 8, 8))


@SETTINGS
@given(specs(readout=True), st.integers(1, 6))
def test_readout_window_equals_nn_model_with_window(spec, window):
    """Propagating a window W gives exactly the snnc.nn model with set_window_size(W)."""
    spec = dict(spec, window=0)
    model, g = build(spec)
    out = fixed_window_readout(g, window)
    assert all(n.attrs["window_size"] == window for n in out.nodes if n.stateful)
    snn.set_window_size(model, window)
    x = inputs(spec, steps=13)
    assert torch.equal(interpret(out, x), run_model(model, x))
    # configuring again with the same window changes nothing
    assert fixed_window_readout(out, window).content_hash() == out.content_hash()
    assert fixed_window_readout(out).content_hash() == out.content_hash()


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs(readout=False), st.integers(1, 6), st.sampled_from(["argmax_spike_count", "first_to_threshold"]))
def test_readout_insertion_equals_nn_readout(spec, window, rule):
    spec = dict(spec, window=0)
    model, g = build(spec)
    out = fixed_window_readout(g, window, insert=True, rule=rule)
    ops = [n.op for n in out.nodes]
    assert ops[-2:] == ["Readout", "Output"]
    classes = g.nodes[-2].shape[0] if len(g.nodes[-2].shape) == 1 else int(np.prod(g.nodes[-2].shape))
    model = torch.nn.Sequential(*model, snn.Readout(n_classes=classes, decision_rule=rule))
    snn.set_window_size(model, window)
    x = inputs(spec, steps=11)
    assert torch.equal(interpret(out, x), run_model(model, x))


def test_readout_insert_flattens_and_validates():
    g = Graph()
    g.add_node("x", "Input", shape=(1, 4, 4))
    g.add_node("p", "SumPool2d", ["x"], kernel_size=2)
    g.add_node("n", "Neuron", ["p"], {"v_threshold": np.array(1.0), "v_reset": np.array(0.0)}, charge="if")
    g.add_node("y", "Output", ["n"])
    out = fixed_window_readout(g.verify(), 4, insert=True, output_mode="membrane")
    assert [n.op for n in out.nodes] == ["Input", "SumPool2d", "Neuron", "Flatten", "Readout", "Output"]
    assert out["readout"].attrs["rule"] == "argmax_membrane" and out["n"].attrs["window_size"] == 4
    with pytest.raises(GraphError, match="window must be an int >= 0"):
        fixed_window_readout(g, -1)
    with pytest.raises(GraphError, match="node 'readout'.*'rule' must be one of"):
        fixed_window_readout(out, 4, rule="majority")
    # without a readout and without insert, only the window is propagated
    plain = fixed_window_readout(g, 3)
    assert [n.op for n in plain.nodes] == [n.op for n in g.nodes] and plain["n"].attrs["window_size"] == 3


def test_standard_pipeline():
    g = _with_batchnorm(conv=True, bias=True)
    nodes = list(g.nodes)
    g.nodes = nodes[:-1]
    g._by_name = None
    g.add_node("unused", "MaxPool2d", ["x"], kernel_size=2)
    g.add(nodes[-1])
    out = standard_pipeline(g.verify(), window=5, insert_readout=True)
    assert [n.op for n in out.nodes] == ["Input", "Conv2d", "Neuron", "Flatten", "Readout", "Output"]
    assert {n.attrs["window_size"] for n in out.nodes if n.stateful} == {5}
    same = standard_pipeline(out)
    assert same.content_hash() == out.content_hash()
