"""Shared helpers of tests/verify (a uniquely named module: conftest.py files of other test folders
share the name ``conftest``)."""

import numpy as np

from snnc.ir import Graph

def small_graph(window: int = 8, seed: int = 0) -> Graph:
    """Linear → IF → Linear → IF → Readout, weights on a 1/8 grid (exact in every profile)."""
    rng = np.random.default_rng(seed)
    g = Graph()
    g.add_node("x", "Input", shape=(6,))
    g.add_node("fc1", "Linear", ["x"], {"weight": (rng.integers(-6, 9, size=(8, 6)) / 8).astype(np.float32)})
    g.add_node("n1", "Neuron", ["fc1"], {"v_threshold": np.array(0.5, np.float32),
                                         "v_reset": np.array(0.0, np.float32)}, charge="if")
    g.add_node("fc2", "Linear", ["n1"], {"weight": (rng.integers(-6, 9, size=(3, 8)) / 8).astype(np.float32)})
    g.add_node("n2", "Neuron", ["fc2"], {"v_threshold": np.array(0.5, np.float32),
                                         "v_reset": np.array(0.0, np.float32)}, charge="if")
    g.add_node("r", "Readout", ["n2"])
    g.add_node("y", "Output", ["r"])
    return with_window(g, window)


def with_window(g: Graph, window: int) -> Graph:
    """Give every stateful node of ``g`` the same fixed window, verified."""
    for node in g.nodes:
        if node.stateful:
            node.attrs["window_size"] = window
    return g.verify()
