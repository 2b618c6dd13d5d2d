"""Range analysis: the intervals contain every value the float interpreter produces for inputs
within the bounds (hypothesis), and overflows of fixed-point formats are found where they happen."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings

from support.netspec import build, inputs, specs
from snnc.ir import Graph
from snnc.ir.quantize import Fixed, calibrate, set_format
from snnc.passes import analyze_ranges


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_intervals_contain_every_value(spec):
    _, g = build(spec)
    x = inputs(spec, steps=16)  # values in [0, 1.5)
    report = analyze_ranges(g, (0.0, 1.5))
    seen = calibrate(g, x)
    for node in g.nodes:
        for cls, values in seen.values[node.name].items():
            lo, hi = report.intervals[node.name][cls]
            v = values.reshape((-1,) + lo.shape)
            slack = 1e-5 * (1.0 + np.maximum(np.abs(lo), np.abs(hi)))
            assert np.all(v >= lo - slack), (node.name, cls)
            assert np.all(v <= hi + slack), (node.name, cls)


def _integrator(reset="none", window=8, fmt=Fixed(8, 4)):
    g = Graph()
    g.add_node("x", "Input", shape=(3,))
    g.add_node("fc", "Linear", ["x"], {"weight": np.array([[0.25, 0.5, 0.25], [0.5, 0.5, 0.5]], np.float32)})
    params = {"v_threshold": np.array(100.0)}
    if reset == "hard":
        params["v_reset"] = np.array(0.0)
    g.add_node("n", "Neuron", ["fc"], params, charge="if", reset=reset, window_size=window)
    g.add_node("y", "Output", ["n"])
    g.verify()
    if fmt is not None:
        set_format(g["n"], "v", fmt)
    return g


def test_overflow_found_at_the_right_node_index_and_step():
    g = _integrator()
    report = analyze_ranges(g, (0.0, 1.0))
    assert not report.ok and len(report.overflows) == 1
    o = report.overflows[0]
    # neuron 1 gains 1.5 per step at most: H = 1.5·(t+1) first exceeds 7.9375 at t = 5 (H = 9)
    assert (o.node, o.tensor_class, o.index, o.step) == ("n", "v", (1,), 5)
    assert o.bound == (0.0, 12.0) and o.limit == (-8.0, 7.9375)
    assert "node 'n': v can reach [0, 12]" in str(o)
    # the interpreter reaches that value with all-ones input: the bound is attained
    seen = calibrate(g, torch.ones(8, 1, 3)).values["n"]["v"].reshape(8, 2, 2)  # [step, (H, V), neuron]
    assert seen[5, 0, 1] == 9.0 and seen[4, 0, 1] == 7.5
    assert report.bound("n", "v") == (0.0, 12.0)


def test_no_overflow_with_room_and_with_reset():
    assert analyze_ranges(_integrator(fmt=Fixed(8, 5)), (0.0, 1.0)).ok
    g = _integrator(reset="hard", fmt=Fixed(8, 4))
    g["n"].params["v_threshold"] = np.array(4.0)
    report = analyze_ranges(g, (0.0, 1.0))
    assert report.ok and report.bound("n", "v") == (0.0, 5.5)  # H < 4 before the step, +1.5
    assert report.checked == [("n", "v", str(Fixed(8, 4)))]


def test_unbounded_without_window_and_default_formats():
    g = _integrator(window=0, fmt=None)
    report = analyze_ranges(g, (0.0, 1.0), horizon=64, formats={"v": Fixed(16, 8).to_dict()})
    assert report.unbounded == [("n", "v")] and not report.overflows and not report.ok
    assert "grows without bound" in report.summary()
    report = analyze_ranges(g, (0.0, 1.0), horizon=100, formats={"v": Fixed(16, 8)})
    # H = 1.5·(t+1) first exceeds 127.99 at t = 85
    assert [(o.node, o.index, o.step) for o in report.overflows] == [("n", (1,), 85)]
    lif = _integrator(window=0, fmt=Fixed(16, 8))
    lif["n"].attrs["charge"] = "lif"
    lif["n"].params["tau"] = np.array(2.0)
    report = analyze_ranges(lif, (0.0, 1.0))
    assert report.ok and not report.unbounded
    lo, hi = report.bound("n", "v")
    assert lo == 0.0 and hi == pytest.approx(1.5)  # the LIF fixed point: H = X for constant input


def test_accum_format_and_negative_inputs():
    g = _integrator(fmt=None)
    set_format(g["fc"], "accum", Fixed(6, 1))  # range [-1, 0.96875]: both rows can leave it
    report = analyze_ranges(g, (-1.0, 1.0))
    (o,) = report.overflows
    assert (o.node, o.tensor_class, o.index, o.step) == ("fc", "accum", (0,), None)
    assert o.bound == (-1.0, 1.0)
    assert report.bound("fc") == (-1.5, 1.5)
    per_element = analyze_ranges(g, (np.array([0.0, 0.0, -1.0]), np.array([1.0, 0.0, 0.0])))
    lo, hi = per_element.intervals["fc"]["result"]
    assert lo.tolist() == [-0.25, -0.5] and hi.tolist() == [0.25, 0.5]


# Lava's state in the units of a loihi-quantized graph (integer weights): u and v hold 64× the value
# (``a << 6``) in 24 bits, so the graph-unit format has 6 fraction bits; u wraps, v saturates.
LOIHI_FORMATS = {"i": Fixed(24, 18, overflow="wrap"), "v": Fixed(24, 18, overflow="sat")}


def test_loihi_current_overflow_is_located():
    import snnc.nn as snn
    from snnc.ir.numerics import get_profile
    g = Graph()
    g.add_node("x", "Input", shape=(100,))
    g.add_node("fc", "Linear", ["x"], {"weight": np.ones((2, 100), np.float32)})
    neuron = snn.CubaLIF(current_decay=0.0, voltage_decay=0.5, v_threshold=1e3)
    g.add_node("n", "Neuron", ["fc"], {"v_threshold": np.array(1e3), "v_reset": np.array(0.0),
                                       "alpha": np.array(neuron.alpha), "beta": np.array(neuron.beta)}, charge="cuba")
    g.add_node("y", "Output", ["n"])
    q, _ = get_profile("loihi").quantize(g.verify())
    per_step = float(q["fc"].params["weight"].sum(axis=1).max())  # all inputs spiking
    first = int(np.floor(LOIHI_FORMATS["i"].max / per_step))    # (t + 1)·per_step > max first at t
    report = analyze_ranges(q, (0.0, 1.0), steps=first + 3, formats=LOIHI_FORMATS)
    i_over = [o for o in report.overflows if o.tensor_class == "i"]
    assert [(o.node, o.step) for o in i_over] == [("n", first)]
    assert report.bound("n", "i")[1] == pytest.approx(per_step * (first + 3))
    early = analyze_ranges(q, (0.0, 1.0), steps=first, formats=LOIHI_FORMATS)
    assert not [o for o in early.overflows if o.tensor_class == "i"]
    # the voltage (v = v/2 + u) saturates before the current wraps: it reaches 2·u
    (v_over,) = [o for o in early.overflows if o.tensor_class == "v"]
    assert v_over.step < first


def test_membrane_readout_accumulator():
    g = Graph()
    g.add_node("x", "Input", shape=(2,))
    g.add_node("r", "Readout", ["x"], {"beta": np.array(1.0)}, output_mode="membrane", rule="argmax_membrane")
    g.add_node("y", "Output", ["r"])
    g.verify()
    assert analyze_ranges(g, (0.0, 1.0), horizon=32).unbounded == [("r", "mem")]
    g["r"].attrs["window_size"] = 4
    set_format(g["r"], "mem", Fixed(5, 3))  # max 3.75 < 4
    report = analyze_ranges(g, (0.0, 1.0))
    assert report.bound("r", "mem") == (0.0, 4.0) and not report.unbounded
    assert [(o.node, o.tensor_class, o.step) for o in report.overflows] == [("r", "mem", 3)]
    assert report.bound("r") == (0.0, 1.0)  # the decision is a class index
    g["r"].params["beta"] = np.array(0.5)
    assert analyze_ranges(g, (0.0, 1.0)).bound("r", "mem") == (0.0, 1.875)


from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(charge=st.sampled_from(["beta", "cuba"]), reset=st.sampled_from(["subtract", "hard", "none"]),
       timing=st.sampled_from(["immediate", "delayed", "compensated"]), compare=st.sampled_from(["ge", "gt"]),
       beta=st.sampled_from([0.0, 0.5, 0.9, 1.0]), alpha=st.sampled_from([0.0, 0.5, 1.0]),
       low=st.sampled_from([0.0, -1.0]), window=st.sampled_from([0, 6]), seed=st.integers(0, 1000))
def test_snntorch_style_neurons_contained(charge, reset, timing, compare, beta, alpha, low, window, seed):
    """Delayed and compensated resets (snnTorch Leaky/Synaptic): every H, V and I seen lies inside."""
    rng = np.random.default_rng(seed)
    g = Graph()
    g.add_node("x", "Input", shape=(4,))
    g.add_node("fc", "Linear", ["x"], {"weight": rng.normal(size=(3, 4)).astype(np.float32)})
    params = {"v_threshold": np.array(0.75), "beta": np.array(beta)}
    if charge == "cuba":
        params["alpha"] = np.array(alpha)
    if reset == "hard":
        params["v_reset"] = np.array(0.0)
    g.add_node("n", "Neuron", ["fc"], params, charge=charge, reset=reset, reset_timing=timing, compare=compare,
               window_size=window)
    g.add_node("y", "Output", ["n"])
    g.verify()
    x = torch.as_tensor(rng.uniform(low, 1.0, size=(20, 8, 4)), dtype=torch.float32)
    report = analyze_ranges(g, (low, 1.0), horizon=200)
    seen = calibrate(g, x).values
    for node, cls in (("fc", "result"), ("n", "v"), ("n", "i"), ("n", "result")):
        if cls not in seen[node]:
            continue
        lo, hi = report.intervals[node][cls]
        v = seen[node][cls].reshape((-1,) + lo.shape)
        slack = 1e-5 * (1.0 + np.maximum(np.abs(lo), np.abs(hi)))
        assert np.all(v >= lo - slack) and np.all(v <= hi + slack), (node, cls)


@pytest.mark.parametrize("complement", [(0, 0), (0, 1), (1, 1)])
def test_a_product_interval_is_its_extreme_corners(complement):
    """``a · b`` (each factor complemented or not) of two signed layers, ``a = 2x`` in [-2, 2] and
    ``b = 1 − 3x`` in [-2, 4]: the interval is the extreme corner products of the factors' intervals,
    and every value the interpreter computes lies inside."""
    g = Graph()
    g.add_node("x", "Input", shape=(1,))
    g.add_node("a", "Linear", ["x"], {"weight": np.array([[2.0]])})
    g.add_node("b", "Linear", ["x"], {"weight": np.array([[-3.0]]), "bias": np.array([1.0])})
    g.add_node("m", "Mul", ["a", "b"], complement=complement)
    g.add_node("y", "Output", ["m"])
    g.verify()
    lo, hi = analyze_ranges(g, (-1.0, 1.0)).bound("m", "result")
    factors = [(1 - h, 1 - l) if flag else (l, h) for (l, h), flag in zip([(-2.0, 2.0), (-2.0, 4.0)], complement)]
    corners = [u * v for u in factors[0] for v in factors[1]]
    assert (lo, hi) == (min(corners), max(corners))
    seen = calibrate(g, torch.linspace(-1, 1, 41, dtype=torch.float64).reshape(41, 1, 1)).values["m"]["result"]
    assert seen.min() >= lo and seen.max() <= hi
