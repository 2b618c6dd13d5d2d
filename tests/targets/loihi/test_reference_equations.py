"""The ``loihi`` profile against Lava's CUBA layer step (``lava/proc/lif/models.py`` and
``proc/dense``, checked bit-exact against Lava 0.10 by ``tests/targets/loihi -m lava``), written here
independently in numpy:
24-bit current wrap, voltage saturation, strict '>', v-only reset, round-toward-zero decays and the
one-step synaptic delay per layer."""

from __future__ import annotations

import numpy as np
import torch

from snnc.ir import interpret
from snnc.targets.loihi import TARGET

import loihi_nets as nets


def rz(x):
    return np.sign(x) * (np.abs(x) >> 12)


def layer_step(st, w, s_prev, i_decay, v_decay, vth, bias):
    """One Lava CUBA layer step (dense synapse with its one-step buffer), on int64 numpy arrays."""
    a_in, st["buf"] = st["buf"], (w[None, :, :] * s_prev[:, None, :]).sum(-1)
    u = rz(st["u"] * (4096 - i_decay)) + (a_in << 6)
    u = np.where(u > 2**23, u - 2**24, u)
    u = np.where(u <= -(2**23), u + 2**24, u)
    v = np.clip(rz(st["v"] * (4096 - v_decay)) + u + (bias << 6), -(2**23) + 1, 2**23 - 1)
    s = v > (vth << 6)
    st["u"], st["v"] = u, np.where(s, 0, v)
    return s.astype(np.int64)


def reference(q, x):
    """Every neuron layer's spikes ``[T, N, n]`` by the note's equations; layer k+1 takes layer k's spikes
    of the same step, the input spikes feed layer 1 at step t."""
    layers = []
    for node in q.nodes:
        if node.op == "Neuron":
            (syn,) = node.inputs
            qn = node.quant
            w = np.asarray(q[syn].params["weight"]).astype(np.int64)
            bias = np.broadcast_to(np.asarray(qn["bias_mant"], dtype=np.int64), (w.shape[0],))
            layers.append((node.name, w, int(qn["i_decay"]), int(qn["v_decay"]), int(qn["v_th_mant"]), bias))
    steps, batch = x.shape[:2]
    states = [{"u": np.zeros((batch, w.shape[0]), np.int64), "v": np.zeros((batch, w.shape[0]), np.int64),
               "buf": np.zeros((batch, w.shape[0]), np.int64)} for _, w, *_ in layers]
    out = {name: [] for name, *_ in layers}
    for t in range(steps):
        s = x[t].astype(np.int64)
        for st, (name, w, i_decay, v_decay, vth, bias) in zip(states, layers):
            s = layer_step(st, w, s, i_decay, v_decay, vth, bias)
            out[name].append(s)
    return {name: np.stack(v) for name, v in out.items()}


def check(graph, x):
    q = TARGET.prepare(graph, {})
    _, trace = interpret(q, torch.as_tensor(x), numerics="loihi", record=True)
    ref = reference(q, x)
    assert ref and sum(int(v.sum()) for v in ref.values()) > 0, "no spikes: the comparison would be vacuous"
    for name, spikes in ref.items():
        np.testing.assert_array_equal(trace.values[name].numpy(), spikes, err_msg=name)
    return q


def test_dense_layers_follow_the_reference_equations():
    rng = np.random.default_rng(7)
    for kinds in (("cuba", "lif"), ("if", "cuba"), ("lif", "if", "cuba")):
        sizes = (12,) + tuple(int(rng.integers(4, 16)) for _ in kinds)
        g = nets.dense_net(rng, sizes, kinds, 0.5, True, None, 0)
        check(g, nets.spikes(rng, 40, 3, g.input_shape, 0.5))


def test_current_wrap_and_voltage_saturation_follow_the_reference_equations():
    """No leak and a high threshold on strong excitatory weights: u wraps past 2^23, v saturates."""
    rng = np.random.default_rng(1)
    g = nets.dense_net(rng, (16, 6), ("cuba",), 1.0, False, None, 0)
    g["fc0"].params["weight"] = np.abs(g["fc0"].params["weight"]) + 1.0
    neuron = next(n for n in g.nodes if n.op == "Neuron")
    neuron.params.update(alpha=np.asarray(1.0), beta=np.asarray(1.0), v_threshold=np.asarray(1500.0))
    x = nets.spikes(rng, 300, 2, g.input_shape, 0.9)
    q = check(g, x)
    # the equations really reached the wrap and the saturation on this input
    w = np.asarray(q["fc0"].params["weight"]).astype(np.int64)
    st = {"u": np.zeros((2, 6), np.int64), "v": np.zeros((2, 6), np.int64), "buf": np.zeros((2, 6), np.int64)}
    us, vs = [], []
    qn = q[neuron.name].quant
    for t in range(x.shape[0]):
        layer_step(st, w, x[t].astype(np.int64), int(qn["i_decay"]), int(qn["v_decay"]), int(qn["v_th_mant"]),
                   np.int64(0))
        us.append(st["u"].copy())
        vs.append(st["v"].copy())
    us, vs = np.stack(us), np.stack(vs)
    assert (np.abs(np.diff(us, axis=0)) > 2**23).any(), "no 24-bit current wrap happened"
    assert (np.abs(vs) == 2**23 - 1).any(), "the voltage never saturated"
