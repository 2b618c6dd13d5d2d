"""The reference interpreter under float32 equals snnc.nn models bit for bit, on random stacks of
Linear/Conv2d/pools/Flatten/neurons (IF, LIF, PLIF, CubaLIF; hard and soft reset)/Readout built from
one spec both ways; recorded shapes equal the inferred ones."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings

from support.netspec import build, inputs, run_model, specs
from snnc.ir import Graph, SnncError, interpret

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(specs())
def test_interpreter_equals_nn_model(spec):
    model, graph = build(spec)
    x = inputs(spec)
    expected = run_model(model, x)
    got, trace = interpret(graph, x, record=True)
    assert got.dtype == torch.float32
    assert got.shape == expected.shape
    assert torch.equal(got, expected)
    for node in graph.nodes:
        assert tuple(trace.values[node.name].shape[2:]) == node.shape, node.name


def test_random_models_spike():
    """The generator makes networks whose neurons both fire and stay silent (so the equality above
    compares real spike trains, not constants)."""
    from hypothesis import find

    def active(spec):
        _, graph = build(spec)
        _, trace = interpret(graph, inputs(spec), record=True)
        spikes = [trace.values[n.name] for n in graph.nodes if n.op == "Neuron"]
        return all(0 < float(s.mean()) < 1 for s in spikes) and len(spikes) >= 2

    spec = find(specs(readout=False), active,
                settings=settings(max_examples=200, deadline=None, phases=[Phase.generate], database=None))
    assert active(spec)


def test_window_reset_matches_fresh_runs():
    """With window W, steps [kW, (k+1)W) behave as a fresh run on that slice."""
    spec = {"input": (4,), "seed": 3, "window": 4,
            "layers": [{"op": "linear", "out": 5, "bias": True},
                       {"op": "neuron", "kind": "CubaLIF", "v_reset": 0.0, "v_threshold": 0.5,
                        "per_neuron_threshold": False, "current_decay": 0.25, "voltage_decay": 0.125},
                       {"op": "readout", "mode": "spike", "rule": "argmax_spike_count", "class_threshold": 1,
                        "beta": 1.0}]}
    _, graph = build(spec)
    x = inputs(spec, steps=12)
    y = interpret(graph, x)
    for k in range(3):
        assert torch.equal(y[4 * k:4 * (k + 1)], interpret(graph, x[4 * k:4 * (k + 1)]))


def test_delayed_reset_beta_charge_by_hand():
    """snnTorch-style delayed subtract reset, checked against the equations written out."""
    g = Graph()
    g.add_node("x", "Input", shape=(1,))
    g.add_node("n", "Neuron", ["x"], {"v_threshold": np.array(1.0), "beta": np.array(0.5)}, charge="beta",
               reset="subtract", reset_timing="delayed", compare="gt")
    g.add_node("y", "Output", ["n"])
    xs = [0.8, 0.8, 0.8, 0.0, 2.0, 0.0]
    v, s_prev, expected = 0.0, 0.0, []
    for x in xs:
        h = 0.5 * v + x - s_prev * 1.0
        s = float(h > 1.0)
        expected.append(s)
        v, s_prev = h, s
    got = interpret(g, torch.tensor(xs, dtype=torch.float64).reshape(-1, 1, 1), numerics="float64")
    assert got.flatten().tolist() == expected


def test_interpret_rejects_bad_input():
    spec = {"input": (3,), "seed": 0, "window": 0,
            "layers": [{"op": "linear", "out": 2, "bias": False},
                       {"op": "neuron", "kind": "IF", "v_reset": 0.0, "v_threshold": 1.0,
                        "per_neuron_threshold": False}]}
    _, graph = build(spec)
    with pytest.raises(SnncError, match=r"input must have shape \[T, N, 3\]"):
        interpret(graph, torch.zeros(4, 2, 5))
    with pytest.raises(SnncError, match="at least one time step"):
        interpret(graph, torch.zeros(0, 2, 3))
    with pytest.raises(SnncError, match="NaN"):
        interpret(graph, torch.full((2, 1, 3), float("nan")))
    with pytest.raises(SnncError, match="unknown numerics profile"):
        interpret(graph, torch.zeros(2, 1, 3), numerics="float8")
