"""The loihi profile's float → integer mapping, the refusals (naming the node), the core limits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import snnc
from snnc.ir import Graph, interpret
from snnc.ir.errors import SnncError, UnsupportedError
from snnc.ir.numerics import get_profile
from snnc.targets.loihi import TARGET
from snnc.targets.loihi.constraints import MAX_FAN_IN

import loihi_nets as nets

quantize = get_profile("loihi").quantize


def if_net(rng, sizes, unit, thresholds, compare):
    """IF layers whose float weights are integers × ``unit`` with max exactly 254 units: the loihi
    integers then carry the float dynamics exactly (no decays to round)."""
    g = Graph()
    g.add_node("x", "Input", shape=(sizes[0],))
    prev = "x"
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = rng.integers(-256, 255, (b, a)).astype(np.float64)
        w.flat[0] = 254.0
        w = np.clip(w, -256, 254)
        g.add_node(f"fc{i}", "Linear", [prev], {"weight": w * unit})
        g.add_node(f"n{i}", "Neuron", [f"fc{i}"], {"v_threshold": np.asarray(thresholds[i] * unit),
                                                   "v_reset": np.asarray(0.0)}, charge="if", compare=compare)
        prev = f"n{i}"
    g.add_node("y", "Output", [prev])
    return g.verify()


@pytest.mark.parametrize("compare", ["ge", "gt"])
def test_integer_if_net_matches_float_up_to_the_synaptic_delay(compare):
    rng = np.random.default_rng(0)
    g = if_net(rng, (20, 12, 6), 0.01, (300, 250), compare)
    q, report = quantize(g)
    for name in ("fc0", "fc1"):
        assert np.array_equal(q[name].params["weight"], np.round(g[name].params["weight"] / 0.01))
        assert report["layers"][name]["max_weight_error"] < 1e-9
    assert q["n0"].quant["v_th_mant"] == (299 if compare == "ge" else 300)
    x = torch.as_tensor(nets.spikes(rng, 30, 4, (20,), 0.5))
    ref = interpret(g, x.double(), numerics="float64")
    got = interpret(q, x, numerics="loihi")
    layers = 2                                      # Lava delivers every synapse one step later
    assert got[:layers].sum() == 0
    assert torch.equal(got[layers:].double(), ref[:-layers])


def test_quant_annotations_and_decays():
    rng = np.random.default_rng(1)
    g = nets.dense_net(rng, (5, 4, 3, 2), ("if", "lif", "cuba"))
    g["sn1"].params["tau"] = np.asarray(4.0)
    g["sn1"].attrs["decay_input"] = True
    g["sn2"].params["alpha"] = np.asarray(0.75)
    g["sn2"].params["beta"] = np.asarray(0.5)
    q, report = quantize(g)
    assert q.metadata["numerics"] == "loihi"
    assert (q["sn0"].quant["i_decay"], q["sn0"].quant["v_decay"]) == (4096, 0)       # IF
    assert (q["sn1"].quant["i_decay"], q["sn1"].quant["v_decay"]) == (4096, 1024)    # LIF tau 4
    assert (q["sn2"].quant["i_decay"], q["sn2"].quant["v_decay"]) == (1024, 2048)    # CUBA
    for name in ("fc0", "fc1", "fc2"):
        w = q[name].params["weight"]
        assert q[name].quant["sign_mode"] in ("mixed", "excitatory", "inhibitory")
        assert w.min() >= -256 and w.max() <= 255 and np.array_equal(w, np.round(w))
        assert report["layers"][name]["scale"] == q[name].quant["weight_scale"]
    # LIF with decay_input: the 1/tau input gain is folded into the weights (same scale rule)
    s = q["fc1"].quant["weight_scale"]
    assert np.allclose(q["fc1"].params["weight"], np.round(g["fc1"].params["weight"] / 4.0 * s))


def test_pooling_is_lowered_to_conv_or_merged_into_dense():
    rng = np.random.default_rng(2)
    q, _ = quantize(nets.conv_net(rng, (2, 8, 8), (3,), pool="neuron"))
    assert q["pool"].op == "Conv2d" and q["pool"].quant["lowered_from"] == ["SumPool2d"]
    q, _ = quantize(nets.conv_net(rng, (2, 8, 8), (3,), pool="merge"))
    assert "pool" not in q and q["fc"].quant["lowered_from"] == ["SumPool2d", "Linear"]
    assert q["fc"].params["weight"].shape == (5, 3 * 8 * 8)


def refuse(graph, match):
    with pytest.raises(UnsupportedError, match=match):
        TARGET.prepare(graph, {})


def test_refusals_name_the_node():
    rng = np.random.default_rng(3)
    g = nets.dense_net(rng, (4, 4, 2), ("if",))
    g["sn0"].attrs["reset"] = "subtract"
    refuse(g, "node 'sn0'.*subtract")
    g = nets.dense_net(rng, (4, 4, 2), ("if",))
    g["sn0"].params["v_reset"] = np.asarray(0.5)
    refuse(g, "node 'sn0'.*v_reset")
    g = nets.dense_net(rng, (4, 4, 2), ("cuba",))
    g["sn0"].params["alpha"] = np.asarray(0.5)
    g["fc0"].params["bias"] = np.ones(4)
    refuse(g, "node 'fc0'.*bias")
    g = nets.dense_net(rng, (4, 4, 2), ("if",))
    g["sn0"].params["v_threshold"] = np.asarray([1.0, 2.0, 1.0, 1.0])
    refuse(g, "node 'sn0'.*differs across neurons")

    g = Graph()
    g.add_node("x", "Input", shape=(1, 6, 6))
    g.add_node("c", "Conv2d", ["x"], {"weight": np.ones((2, 1, 3, 3))}, padding=1)
    g.add_node("n", "Neuron", ["c"], {"v_threshold": np.asarray(1.0), "v_reset": np.asarray(0.0)}, charge="if")
    g.add_node("mp", "MaxPool2d", ["n"], kernel_size=2)
    g.add_node("y", "Output", ["mp"])
    refuse(g.verify(), "node 'mp'.*max pooling")

    g = Graph()
    g.add_node("x", "Input", shape=(4,))
    g.add_node("a", "Linear", ["x"], {"weight": np.ones((4, 4))})
    g.add_node("n", "Neuron", ["a"], {"v_threshold": np.asarray(1.0), "v_reset": np.asarray(0.0)}, charge="if")
    g.add_node("b", "Linear", ["n"], {"weight": np.ones((4, 4))})
    g.add_node("add", "Add", ["n", "b"])
    g.add_node("y", "Output", ["add"])
    refuse(g.verify(), "node 'add'.*residual")
    g = Graph()
    g.add_node("x", "Input", shape=(4,))
    g.add_node("a", "Linear", ["x"], {"weight": np.ones((4, 4))})
    g.add_node("n", "Neuron", ["a"], {"v_threshold": np.asarray(1.0), "v_reset": np.asarray(0.0)}, charge="if")
    g.add_node("y", "Output", ["n"])
    g.add_node("b", "Linear", ["n"], {"weight": np.ones((2, 4))})
    g.add_node("m", "Neuron", ["b"], {"v_threshold": np.asarray(1.0), "v_reset": np.asarray(0.0)}, charge="if")
    g.add_node("z", "Output", ["m"])
    refuse(g.verify(), "node 'n'.*feeds 2 nodes")

    g = nets.dense_net(rng, (4, 3, 2), ("if",), readout="argmax_spike_count")
    g["ro"].attrs.update(output_mode="membrane", rule="argmax_membrane")
    refuse(g.verify(), "node 'ro'.*membrane")


def test_constraints_refuse_what_a_core_or_lava_cannot_hold(tmp_path):
    rng = np.random.default_rng(4)
    g = nets.dense_net(rng, (MAX_FAN_IN + 1, 2), ("if",))
    q = TARGET.prepare(g, {})
    with pytest.raises(UnsupportedError, match=f"node 'fc0'.*fan-in {MAX_FAN_IN + 1}"):
        TARGET.check(q, {})
    q = TARGET.prepare(nets.dense_net(rng, (6, 4, 2), ("if",)), {})
    q["fc0"].params["weight"][0, 0] = 255.0                   # Lava rescales a mixed matrix holding 255
    q["fc0"].params["weight"][0, 1] = -3.0
    with pytest.raises(UnsupportedError, match="node 'fc0'.*mixed weights"):
        TARGET.check(q, {})
    q = TARGET.prepare(nets.dense_net(rng, (6, 4, 2), ("if",)), {})
    q["sn1"].quant["v_th_mant"] = 1 << 17
    with pytest.raises(UnsupportedError, match="node 'sn1'.*17 bits"):
        TARGET.check(q, {})
    q = TARGET.prepare(nets.dense_net(rng, (6, 4, 2), ("if",)), {})
    q["sn0"].quant["bias_mant"] = [5000, 0, 0, 0]
    with pytest.raises(UnsupportedError, match="node 'sn0'.*13 bits"):
        TARGET.check(q, {})
    with pytest.raises(SnncError, match="not quantized"):
        TARGET.check(nets.dense_net(rng, (6, 4, 2), ("if",)), {})


def test_describe_and_input_checks(tmp_path):
    rng = np.random.default_rng(5)
    g = nets.conv_net(rng, (2, 8, 8), (4,), pool="neuron")
    q = TARGET.prepare(g, {})
    TARGET.lower(q, tmp_path, {})
    text = TARGET.describe(tmp_path)
    assert "estimated Loihi 2 cores: 3" in text
    assert "conv0" in text and "pool" in text and "fc" in text
    assert "4608" in text                     # conv0: 4·8·8 neurons × 2·3·3 fan-in synapses
    with pytest.raises(SnncError, match="binary spikes"):
        TARGET.simulate(tmp_path, torch.full((2, 1, 2, 8, 8), 0.5))
    with pytest.raises(SnncError, match="input must have shape"):
        TARGET.simulate(tmp_path, torch.zeros(2, 1, 3, 8, 8))


def test_compile_and_verify_through_the_driver(tmp_path):
    torch.manual_seed(0)
    from torch import nn
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), snnc.nn.IF(),
                          nn.AvgPool2d(2), snnc.nn.CubaLIF(0.5, 0.25), nn.Flatten(),
                          nn.Linear(64, 10, bias=False), snnc.nn.CubaLIF(0.5, 0.25), snnc.nn.Readout(10))
    x = (torch.rand(12, 3, 1, 8, 8) < 0.3).float()
    art = snnc.compile(model, "loihi", tmp_path / "out", example_input=x, window=12)
    assert {"host.json", "network.net", "snnc.json"} <= {p.name for p in (tmp_path / "out").iterdir()}
    report = snnc.verify(model, "loihi", x, window=12)
    assert report.ok
    assert snnc.simulate(art, x).shape == (12, 3, 1)


def test_pool_then_conv_merges_exactly_or_is_refused():
    import itertools

    import torch.nn.functional as F

    from snnc.targets.loihi.layers import pool_then_conv

    rng = np.random.default_rng(6)
    merged = refused = 0
    for op, k, s, h, w, kc, sc, pc, dc in itertools.product(
            ("SumPool2d", "AvgPool2d"), (1, 2, 3), (2, 3), (6, 7), (6, 8), (1, 3), (1, 2), (0, 1), (1, 2)):
        g = Graph()
        g.add_node("x", "Input", shape=(2, h, w))
        g.add_node("p", op, ["x"], kernel_size=k, stride=s)
        g.add_node("c", "Conv2d", ["p"], {"weight": rng.normal(0, 1, (3, 2, kc, kc))}, stride=sc, padding=pc,
                   dilation=dc)
        g.add_node("y", "Output", ["c"])
        try:
            g.verify()
        except SnncError:
            continue
        x = torch.as_tensor(rng.normal(0, 1, (2, 2, h, w)))
        ref = interpret(g, x[None], numerics="float64")[0]
        result = pool_then_conv(g["p"], g["c"], (2, h, w))
        if result is None:
            refused += 1
            assert k > s or (h - k) // s * s + s < h or (w - k) // s * s + s < w
            continue
        kernel, a = result
        got = F.conv2d(x, torch.as_tensor(kernel), None, a["stride"], a["padding"], a["dilation"], a["groups"])
        assert got.shape == ref.shape and torch.allclose(got, ref, atol=1e-12), (op, k, s, h, w, kc, sc, pc, dc)
        merged += 1
    assert merged > 50 and refused > 10
