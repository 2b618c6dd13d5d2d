"""The Delay op: ``y[t] = x[t − steps]`` within each window, zeros before; the one edge that may point
forward (a recurrent cycle). Checked against an independent shift of the input, through the gpu
module's whole-sequence form, a save/load round trip, and the graph checks' errors."""

import numpy as np
import pytest
import torch

from snnc.ir import Graph, GraphError, interpret, load
from snnc.targets.gpu.module import GraphModule


def _delay_graph(steps: int, window: int) -> Graph:
    g = Graph()
    g.add_node("x", "Input", shape=(3,))
    g.add_node("d", "Delay", ["x"], shape=(3,), steps=steps, window_size=window)
    g.add_node("y", "Output", ["d"])
    return g.verify()


def _shifted(x: torch.Tensor, steps: int, window: int) -> torch.Tensor:
    out = torch.zeros_like(x)
    for t in range(x.shape[0]):
        start = t - t % window if window else 0  # the step its window began
        if t - steps >= start:
            out[t] = x[t - steps]
    return out


@pytest.mark.parametrize("steps, window", [(1, 0), (2, 0), (2, 5), (3, 4)])
def test_delay_shifts_within_each_window(steps, window):
    g = _delay_graph(steps, window)
    x = torch.randn(13, 2, 3, generator=torch.Generator().manual_seed(0))
    expected = _shifted(x, steps, window)
    assert torch.equal(interpret(g, x), expected)
    assert torch.equal(GraphModule(g, fold=True)(x), expected)  # the whole-sequence form (gpu target)


def test_a_recurrent_graph_round_trips_through_the_file(tmp_path):
    g = Graph()
    g.add_node("x", "Input", shape=(2,))
    g.add_node("back", "Delay", ["n"], shape=(2,))
    g.add_node("sum", "Add", ["x", "back"])
    g.add_node("n", "Neuron", ["sum"], {"v_threshold": np.array(1.5), "v_reset": np.array(0.0)}, charge="if")
    g.add_node("y", "Output", ["n"])
    g.verify()
    g.save(tmp_path / "g.snnc")
    x = torch.ones(6, 1, 2)
    # x + S[t-1]: V = 1 (no spike), 2 (spike, reset), then 0 + 1 + 1 = 2 (spike) every step after
    assert interpret(load(tmp_path / "g.snnc"), x)[:, 0, 0].tolist() == [0, 1, 1, 1, 1, 1]


def test_graph_checks_name_the_delay():
    g = Graph()
    g.add_node("x", "Input", shape=(3,))
    g.add_node("d", "Delay", ["x"], shape=(4,))
    g.add_node("y", "Output", ["d"])
    with pytest.raises(GraphError, match=r"node 'd': Delay declares shape \(4,\), its input has \(3,\)"):
        g.verify()
    g = Graph()
    g.add_node("x", "Input", shape=(3,))
    g.add_node("d", "Delay", ["nowhere"], shape=(3,))
    g.add_node("y", "Output", ["d"])
    with pytest.raises(GraphError, match="node 'd': input 'nowhere' is not a node of the graph"):
        g.verify()
    g = Graph()
    g.add_node("x", "Input", shape=(3,))
    g.add_node("d", "Delay", ["x"], shape=(3,), steps=0)
    g.add_node("y", "Output", ["d"])
    with pytest.raises(GraphError, match="Delay needs steps >= 1"):
        g.verify()
