"""interpret(graph, numerics="loihi") == the Loihi simulator on the HDF5, every layer and step.

Nets are made by hypothesis: dense and conv stacks with random neuron kinds, decays, thresholds,
biases, pooling lowered to conv or merged into dense, windows, and configurations that drive the
24-bit current wrap and the voltage saturation.
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from snnc.ir import Graph, interpret
from snnc.ir.errors import GraphError, UnsupportedError
from snnc.ir.numerics.loihi import UV_HALF, V_LIMIT, conv_sum, cuba_step, delayed, dense_sum
from snnc.targets.loihi import TARGET

import loihi_nets as nets

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))


def lower(graph, tmp_path_factory):
    q = TARGET.prepare(graph, {})
    TARGET.check(q, {})
    out = tmp_path_factory.mktemp("loihi")
    TARGET.lower(q, out, {})
    return q, out


def assert_bitexact(q, out, x):
    ref, trace = interpret(q, x, numerics="loihi", record=True)
    got, layers = TARGET.simulate(out, x, record=True)
    assert ref.dtype == got.dtype == torch.int64
    assert torch.equal(ref, got)
    neurons = [n.name for n in q.nodes if n.op == "Neuron"]
    assert sorted(layers) == sorted(neurons)
    for name in neurons:
        assert torch.equal(trace.values[name], layers[name]), name
    return ref


@SETTINGS
@given(seed=st.integers(0, 2**31 - 1), depth=st.integers(1, 3), width=st.integers(1, 24),
       kinds=st.lists(st.sampled_from(["if", "lif", "cuba", "beta"]), min_size=1, max_size=3),
       weight_scale=st.sampled_from([0.05, 0.5, 3.0]), bias=st.booleans(),
       readout=st.sampled_from([None, "argmax_spike_count", "first_to_threshold", "threshold_then_argmax"]),
       window=st.sampled_from([0, 5, 8]), steps=st.integers(1, 20), batch=st.integers(1, 3),
       rate=st.floats(0.0, 1.0))
def test_dense_nets(tmp_path_factory, seed, depth, width, kinds, weight_scale, bias, readout, window, steps,
                    batch, rate):
    rng = np.random.default_rng(seed)
    sizes = tuple(int(rng.integers(1, width + 1)) for _ in range(depth + 1))
    if readout:
        sizes = sizes[:-1] + (max(sizes[-1], 2),)
    g = nets.dense_net(rng, sizes, tuple(kinds), weight_scale, bias, readout, window)
    q, out = lower(g, tmp_path_factory)
    x = torch.as_tensor(nets.spikes(rng, steps, batch, g.input_shape, rate))
    assert_bitexact(q, out, x)


@SETTINGS
@given(seed=st.integers(0, 2**31 - 1), h=st.integers(4, 9), w=st.integers(4, 9), c_in=st.integers(1, 3),
       channels=st.lists(st.integers(1, 4), min_size=1, max_size=2), stride=st.integers(1, 2),
       padding=st.integers(0, 1), pool=st.sampled_from([None, "neuron", "avg_neuron", "merge", "merge_conv"]),
       window=st.sampled_from([0, 6]), steps=st.integers(1, 12), batch=st.integers(1, 2),
       rate=st.floats(0.05, 0.9), weight_scale=st.sampled_from([0.3, 1.0, 5.0]))
def test_conv_nets(tmp_path_factory, seed, h, w, c_in, channels, stride, padding, pool, window, steps, batch,
                   rate, weight_scale):
    rng = np.random.default_rng(seed)
    try:
        g = nets.conv_net(rng, (c_in, h, w), tuple(channels), ("cuba", "if", "lif"), pool=None, stride=stride,
                          padding=padding, window=window, weight_scale=weight_scale)
    except GraphError:                         # the geometry leaves an empty map
        reject()
    side = min(g[f"cn{len(channels) - 1}"].shape[1:])
    if pool and side >= 2:
        g = nets.conv_net(np.random.default_rng(seed), (c_in, h, w), tuple(channels), ("cuba", "if", "lif"),
                          pool=pool, stride=stride, padding=padding, window=window, weight_scale=weight_scale)
    try:
        q, out = lower(g, tmp_path_factory)
    except UnsupportedError as e:               # pool → conv over an odd map is not exactly one conv
        assert pool == "merge_conv" and "cannot be merged" in str(e)
        reject()
    x = torch.as_tensor(nets.spikes(rng, steps, batch, g.input_shape, rate))
    assert_bitexact(q, out, x)


def overflow_net(fan_in=256, seed=1) -> Graph:
    """No leak in u or v and a high threshold: u wraps around 2^23 and v saturates within 32 steps."""
    rng = np.random.default_rng(seed)
    g = Graph()
    g.add_node("x", "Input", shape=(fan_in,))
    g.add_node("fc0", "Linear", ["x"], {"weight": rng.normal(1.0, 1.0, (8, fan_in))})
    g.add_node("acc", "Neuron", ["fc0"], {"v_threshold": np.asarray(2000.0), "v_reset": np.asarray(0.0),
                                          "alpha": np.asarray(1.0), "beta": np.asarray(1.0)},
               charge="cuba", compare="gt")
    g.add_node("fc1", "Linear", ["acc"], {"weight": rng.normal(0.0, 1.0, (4, 8))})
    g.add_node("out", "Neuron", ["fc1"], {"v_threshold": np.asarray(0.5), "v_reset": np.asarray(0.0),
                                          "alpha": np.asarray(0.5), "beta": np.asarray(0.75)},
               charge="cuba", compare="gt")
    g.add_node("y", "Output", ["out"])
    return g.verify()


def test_overflow_and_saturation_are_exercised_and_bitexact(tmp_path_factory):
    g = overflow_net()
    q, out = lower(g, tmp_path_factory)
    rng = np.random.default_rng(0)
    x = torch.as_tensor(nets.spikes(rng, 32, 2, g.input_shape, 0.4))
    assert_bitexact(q, out, x)
    # the first layer's state really wraps (u jumps by ~2^24) and saturates (|v| == 2^23 - 1)
    w = torch.as_tensor(q["fc0"].params["weight"]).long()
    state, syn, us, vs = {}, {}, [], []
    for t in range(x.shape[0]):
        cuba_step(state, delayed(syn, dense_sum(x[t].long(), w)), 0, 0, q["acc"].quant["v_th_mant"], 0)
        us.append(state["u"])
        vs.append(state["v"])
    us, vs = torch.stack(us), torch.stack(vs)
    assert ((us[1:] - us[:-1]).abs() > UV_HALF).any(), "no 24-bit current wrap happened"
    assert (vs.abs() == V_LIMIT).any(), "the voltage never saturated"


def test_conv_current_wrap_and_saturation_are_bitexact(tmp_path_factory):
    """A conv layer without leak (alpha = beta = 1) and the largest threshold: u wraps, v saturates."""
    rng = np.random.default_rng(3)
    g = nets.conv_net(rng, (3, 8, 8), (8,), ("cuba",), weight_scale=1.0)
    g["conv0"].params["weight"] = np.abs(g["conv0"].params["weight"]) + 0.5
    g["cn0"].params.update(alpha=np.asarray(1.0), beta=np.asarray(1.0), v_threshold=np.asarray(1500.0))
    q, out = lower(g, tmp_path_factory)
    x = torch.as_tensor(nets.spikes(rng, 100, 2, g.input_shape, 0.9))
    assert_bitexact(q, out, x)
    a = q["conv0"].attrs
    w = torch.as_tensor(q["conv0"].params["weight"]).long()
    state, syn, us, vs = {}, {}, [], []
    for t in range(x.shape[0]):
        y = conv_sum(x[t].long(), w, a["stride"], a["padding"], a["dilation"], a["groups"])
        cuba_step(state, delayed(syn, y), 0, 0, q["cn0"].quant["v_th_mant"], 0)
        us.append(state["u"])
        vs.append(state["v"])
    us, vs = torch.stack(us), torch.stack(vs)
    assert ((us[1:] - us[:-1]).abs() > UV_HALF).any(), "no 24-bit current wrap happened"
    assert (vs.abs() == V_LIMIT).any(), "the voltage never saturated"
