"""Small float IR graphs for the Loihi tests: dense, conv, pooling, with chosen neuron kinds."""

from __future__ import annotations

import numpy as np

from snnc.ir import Graph


def neuron_params(kind: str, rng, threshold: float = 1.0) -> tuple[dict, dict]:
    """(params, attrs) of a Neuron of ``kind`` (if / lif / beta / cuba) with a hard reset to 0."""
    params = {"v_threshold": np.asarray(threshold), "v_reset": np.asarray(0.0)}
    attrs = {"charge": kind, "reset": "hard", "compare": "gt" if rng.random() < 0.5 else "ge"}
    if kind == "lif":
        params["tau"] = np.asarray(float(rng.choice([2.0, 4.0, 8.0])))
        attrs["decay_input"] = bool(rng.random() < 0.5)
    elif kind == "beta":
        params["beta"] = np.asarray(float(rng.integers(0, 4097)) / 4096)
    elif kind == "cuba":
        params["alpha"] = np.asarray(float(rng.integers(0, 4097)) / 4096)
        params["beta"] = np.asarray(float(rng.integers(0, 4097)) / 4096)
    return params, attrs


def dense_net(rng, sizes=(12, 10, 6), kinds=("cuba", "cuba"), weight_scale=1.0, bias=False,
              readout=None, window=0) -> Graph:
    g = Graph()
    g.add_node("x", "Input", shape=(sizes[0],))
    prev = "x"
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = rng.normal(0, weight_scale, (n_out, n_in))
        p = {"weight": w}
        kind = kinds[i % len(kinds)]
        if bias and kind in ("if", "lif"):
            p["bias"] = rng.normal(0, 0.1, n_out)
        g.add_node(f"fc{i}", "Linear", [prev], p)
        params, attrs = neuron_params(kind, rng)
        g.add_node(f"sn{i}", "Neuron", [f"fc{i}"], params, window_size=window, **attrs)
        prev = f"sn{i}"
    if readout:
        g.add_node("ro", "Readout", [prev], rule=readout, window_size=window)
        prev = "ro"
    g.add_node("y", "Output", [prev])
    return g.verify()


def conv_net(rng, in_shape=(2, 7, 6), channels=(4, 3), kinds=("cuba",), pool=None, stride=1, padding=1,
             dense_out=5, window=0, weight_scale=1.0) -> Graph:
    """conv → neuron → [pool → neuron | pool→flatten→linear] ... → flatten → linear → neuron."""
    g = Graph()
    g.add_node("x", "Input", shape=tuple(in_shape))
    prev, c_in = "x", in_shape[0]
    for i, c in enumerate(channels):
        w = rng.normal(0, weight_scale, (c, c_in, 3, 3))
        g.add_node(f"conv{i}", "Conv2d", [prev], {"weight": w}, stride=stride, padding=padding)
        params, attrs = neuron_params(kinds[i % len(kinds)], rng)
        g.add_node(f"cn{i}", "Neuron", [f"conv{i}"], params, window_size=window, **attrs)
        prev, c_in = f"cn{i}", c
    if pool == "neuron":                       # slayer-style pool block: pooling with its own neuron
        g.add_node("pool", "SumPool2d", [prev], kernel_size=2)
        params, attrs = neuron_params("if", rng, threshold=1.0)
        g.add_node("pn", "Neuron", ["pool"], params, window_size=window, **attrs)
        prev = "pn"
    elif pool == "avg_neuron":
        g.add_node("pool", "AvgPool2d", [prev], kernel_size=2)
        params, attrs = neuron_params("cuba", rng, threshold=0.5)
        g.add_node("pn", "Neuron", ["pool"], params, window_size=window, **attrs)
        prev = "pn"
    elif pool == "merge_conv":                 # pool → conv merged into one strided conv
        g.add_node("pool", "AvgPool2d", [prev], kernel_size=2)
        g.add_node("pconv", "Conv2d", ["pool"], {"weight": rng.normal(0, weight_scale, (2, c_in, 2, 2))}, padding=1)
        params, attrs = neuron_params("cuba", rng)
        g.add_node("pn", "Neuron", ["pconv"], params, window_size=window, **attrs)
        prev = "pn"
    elif pool == "merge":                      # pool → flatten → linear merged into one dense layer
        g.add_node("pool", "SumPool2d", [prev], kernel_size=2)
        prev = "pool"
    g.add_node("flat", "Flatten", [prev])
    g.add_node("probe", "Output", ["flat"])
    n_in = g.verify()["flat"].shape[0]
    g.nodes.pop()
    g._by_name = None
    g.add_node("fc", "Linear", ["flat"], {"weight": rng.normal(0, weight_scale, (dense_out, n_in))})
    params, attrs = neuron_params("cuba", rng)
    g.add_node("out", "Neuron", ["fc"], params, window_size=window, **attrs)
    g.add_node("y", "Output", ["out"])
    return g.verify()


def spikes(rng, steps, batch, shape, rate=0.3) -> np.ndarray:
    return (rng.random((steps, batch) + tuple(shape)) < rate).astype(np.float32)
