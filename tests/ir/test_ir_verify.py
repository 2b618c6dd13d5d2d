"""The verifier rejects malformed graphs with a GraphError naming the node; shape inference agrees
with what the interpreter computes for every op."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from snnc.ir import Graph, GraphError, interpret

F32 = np.float32


def _neuron_params(**extra):
    return {"v_threshold": np.array(1.0, F32), "v_reset": np.array(0.0, F32), **extra}


def _base(**node):
    """Input (2, 6, 6) → <node 'bad'> → Output."""
    g = Graph()
    g.add_node("x", "Input", shape=node.pop("input_shape", (2, 6, 6)))
    g.add_node("bad", node.pop("op"), node.pop("inputs", ["x"]), node.pop("params", {}), **node)
    g.add_node("y", "Output", ["bad"])
    return g


@pytest.mark.parametrize("node, message", [
    (dict(op="Conv2d", params={"weight": np.zeros((3, 2, 3), F32)}), "Conv2d weight must be 4-D"),
    (dict(op="Conv2d", params={"weight": np.zeros((3, 4, 3, 3), F32)}), "does not fit 2 input channels"),
    (dict(op="Conv2d", params={"weight": np.zeros((3, 2, 3, 3), F32)}, stride=0), "'stride' must be >= 1"),
    (dict(op="Conv2d", params={"weight": np.zeros((3, 2, 3, 3), F32)}, padding=-1), "'padding' must be >= 0"),
    (dict(op="Conv2d", params={"weight": np.zeros((3, 2, 3, 3), F32)}, stride=(1, 2, 3)), "int or a pair of ints"),
    (dict(op="Conv2d", params={"weight": np.zeros((3, 2, 3, 3), F32)}, stride=1.0), "'stride' must be int or tuple"),
    (dict(op="Conv2d", params={"weight": np.zeros((3, 2, 9, 9), F32)}), "output would be empty"),
    (dict(op="Conv2d", params={"weight": np.zeros((3, 2, 3, 3), F32), "bias": np.zeros(2, F32)}), "bias must have shape"),
    (dict(op="Conv2d", params={"weight": np.full((3, 2, 3, 3), np.nan, F32)}), "'weight' contains NaN"),
    (dict(op="Conv2d", params={"weight": np.zeros((3, 2, 3, 3), F32), "gain": np.ones(1)}), "no parameter"),
    (dict(op="Conv2d", params={}), "needs parameter"),
    (dict(op="Conv2d", params={"weight": np.array([["a"]])}), "must be numeric"),
    (dict(op="Linear", params={"weight": np.zeros((3, 72), F32)}), r"Linear expects input of shape \(72,\)"),
    (dict(op="MaxPool2d", kernel_size=2, padding=2), "padding .* at most half"),
    (dict(op="AvgPool2d"), "needs attribute 'kernel_size'"),
    (dict(op="SumPool2d", kernel_size=7), "output would be empty"),
    (dict(op="Add", inputs=[]), "needs at least one input"),
    (dict(op="Flatten", inputs=["x", "x"]), "takes 1 input"),
    (dict(op="Neuron", params=_neuron_params(), charge="lif"), "needs parameter 'tau'"),
    (dict(op="Neuron", params=_neuron_params(tau=np.array(0.0)), charge="lif"), "'tau' = 0 gives a decay outside \\[0, 1\\]"),
    (dict(op="Neuron", params={"v_threshold": np.array(1.0)}, charge="if"), "hard reset needs parameter 'v_reset'"),
    (dict(op="Neuron", params=_neuron_params(), charge="if", reset_timing="delayed"), "delayed reset .* 'beta'"),
    (dict(op="Neuron", params=_neuron_params(), charge="if", window_size=-1), "window_size must be >= 0"),
    (dict(op="Neuron", params=_neuron_params(), charge="if", window_size=True), "'window_size' must be int"),
    (dict(op="Neuron", params=_neuron_params(), charge="if", compare=">="), "'compare' must be one of"),
    (dict(op="Neuron", params=_neuron_params(v_threshold=np.ones(5, F32)), charge="if"), "does not broadcast"),
    (dict(op="Neuron", params=_neuron_params(), charge="if", leak=1), "no attribute"),
    (dict(op="Readout"), r"Readout expects a per-step input \(C,\)"),
    (dict(op="Readout", input_shape=(3,), rule="argmax_membrane"), "not a spike-mode rule"),
    (dict(op="Readout", input_shape=(3,), rule="binary_logit"), "binary_logit needs 2 classes"),
    (dict(op="Readout", input_shape=(3,), class_threshold=0), "class_threshold must be >= 1"),
    (dict(op="Readout", input_shape=(3,), params={"beta": np.ones(3)}), "beta must be a scalar"),
    (dict(op="BatchNorm", params={k: np.ones(3, F32) for k in ("mean", "var", "weight", "bias")}), "'mean' must have shape"),
    (dict(op="Scale", params={"scale": np.ones(4, F32)}), "does not broadcast"),
    (dict(op="Conv", params={}), "unknown op 'Conv'"),
])
def test_verifier_names_the_node(node, message):
    with pytest.raises(GraphError, match=f"node 'bad': .*{message}"):
        _base(**node).verify()


def test_graph_level_errors():
    g = Graph()
    g.add_node("x", "Input", shape=(3,))
    with pytest.raises(GraphError, match="at least one Output"):
        g.verify()
    with pytest.raises(GraphError, match="node 'x': duplicate node name"):
        g.add_node("x", "Output", ["x"])
    with pytest.raises(GraphError, match="node 'o': input 'z' is not an earlier node"):
        g.add_node("o", "Output", ["z"])
    g.add_node("o", "Output", ["x"])
    g.nodes.reverse()  # break the topological order behind the graph's back
    g._by_name = None
    with pytest.raises(GraphError, match="node 'o': input 'x' is not an earlier node"):
        g.verify()
    g2 = Graph()
    with pytest.raises(GraphError, match="node 'x': input shape must be positive"):
        g2.add_node("x", "Input", shape=(0, 3))
        g2.add_node("y", "Output", ["x"])
        g2.verify()


def test_attribute_coercions():
    g = Graph()
    g.add_node("x", "Input", shape=[np.int64(2), 5, 5])  # numpy ints and lists are accepted
    g.add_node("c", "Conv2d", ["x"], {"weight": np.ones((1, 2, 3, 3), F32)}, stride=np.int32(2), padding=[1, 1])
    g.add_node("bn", "BatchNorm", ["c"], {k: np.ones(1, F32) for k in ("mean", "var", "weight", "bias")}, eps=0)
    g.add_node("y", "Output", ["bn"])
    g.verify()
    assert g["x"].attrs["shape"] == (2, 5, 5) and g["c"].attrs["stride"] == 2 and g["c"].attrs["padding"] == (1, 1)
    assert isinstance(g["bn"].attrs["eps"], float)
    assert g["c"].shape == (1, 3, 3)


@settings(max_examples=40, deadline=None)
@given(c=st.integers(1, 3), h=st.integers(3, 9), w=st.integers(3, 9), k=st.integers(1, 3), s=st.integers(1, 3),
       p=st.integers(0, 1), d=st.integers(1, 2), groups=st.sampled_from([1, 2]), op=st.sampled_from(
           ["Conv2d", "AvgPool2d", "SumPool2d", "MaxPool2d"]))
def test_inferred_shapes_match_execution(c, h, w, k, s, p, d, groups, op):
    g = Graph()
    g.add_node("x", "Input", shape=(c * groups, h, w))
    if op == "Conv2d":
        g.add_node("n", op, ["x"], {"weight": np.ones((2 * groups, c, k, k), F32)}, stride=s, padding=p,
                   dilation=d, groups=groups)
    else:
        g.add_node("n", op, ["x"], kernel_size=k, stride=s, padding=min(p, k // 2))
    g.add_node("f", "Flatten", ["n"])
    g.add_node("y", "Output", ["f"])
    try:
        g.verify()
    except GraphError as e:
        assert "would be empty" in str(e)
        return
    _, trace = interpret(g, torch.rand(2, 1, c * groups, h, w), record=True)
    for node in g.nodes:
        assert tuple(trace.values[node.name].shape[2:]) == node.shape
