"""Random spiking graphs for the lynxi tests, built directly with ``Graph.add_node``.

``draw_graph(data)`` draws (with hypothesis) a small network: an optional convolutional front
(Conv2d → Neuron → pool → Scale → Flatten), one or two Linear → Neuron stages (sometimes a residual
``Add``), and a Readout with any rule, plus the spikes of the last neuron as a second output.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from snnc.ir import Graph

RULES = [("spike", "argmax_spike_count"), ("spike", "first_to_threshold"), ("spike", "threshold_then_argmax"),
         ("spike", "binary_logit"), ("membrane", "argmax_membrane"), ("membrane", "binary_logit")]


def _weights(rng, shape, scale, dyadic):
    w = rng.normal(size=shape) * scale
    if dyadic:  # multiples of 1/16: every sum of them is exact in float32, in any order
        w = np.round(w * 16) / 16
    return w.astype(np.float32)


def _neuron_params(data, rng, shape, window):
    charge = data.draw(st.sampled_from(["if", "lif", "plif", "beta", "cuba"]))
    reset = data.draw(st.sampled_from(["hard", "subtract", "none"]))
    timing = data.draw(st.sampled_from(["immediate", "delayed", "compensated"])) if charge in ("beta", "cuba") \
        else "immediate"
    per_neuron = data.draw(st.booleans())

    def value(lo, hi):
        if per_neuron:
            return rng.uniform(lo, hi, size=shape).astype(np.float32)
        return np.array(rng.uniform(lo, hi), np.float32)

    params = {"v_threshold": value(0.3, 1.2)}
    if reset == "hard":
        params["v_reset"] = value(-0.3, 0.2)
    if charge == "lif":
        params["tau"] = value(1.5, 4.0)
    if charge == "plif":
        params["k"] = value(0.2, 0.7)
    if charge in ("beta", "cuba"):
        params["beta"] = value(0.5, 0.98)
    if charge == "cuba":
        params["alpha"] = value(0.5, 0.95)
        if data.draw(st.booleans()):
            params["i_init"] = value(-0.1, 0.1)
    if charge in ("lif", "plif") and data.draw(st.booleans()):
        params["v_leak"] = value(-0.2, 0.2)
    if data.draw(st.booleans()):
        params["v_init"] = value(-0.2, 0.3)
    attrs = dict(charge=charge, reset=reset, reset_timing=timing, window_size=window,
                 compare=data.draw(st.sampled_from(["ge", "gt"])), decay_input=data.draw(st.booleans()))
    return params, attrs


def draw_graph(data, dyadic: bool = False) -> tuple[Graph, tuple]:
    """A verified float graph and its per-step input shape."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31 - 1)))
    window = data.draw(st.sampled_from([0, 3, 5]))
    g = Graph()
    image = data.draw(st.booleans())
    if image:
        c, hw = data.draw(st.integers(1, 3)), data.draw(st.integers(4, 7))
        g.add_node("x", "Input", shape=(c, hw, hw))
        groups = c if (c > 1 and data.draw(st.booleans())) else 1
        o = groups * data.draw(st.integers(1, 2))
        k, s, p = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 2)), data.draw(st.integers(0, 1))
        params = {"weight": _weights(rng, (o, c // groups, k, k), 0.8, dyadic)}
        if data.draw(st.booleans()):
            params["bias"] = _weights(rng, (o,), 0.3, dyadic)
        g.add_node("conv", "Conv2d", ["x"], params, stride=s, padding=p, groups=groups)
        size = (hw + 2 * p - k) // s + 1
        nparams, nattrs = _neuron_params(data, rng, (o, 1, 1), window)
        g.add_node("n_conv", "Neuron", ["conv"], nparams, **nattrs)
        last = "n_conv"
        pool = data.draw(st.sampled_from([None, "AvgPool2d", "SumPool2d", "MaxPool2d"]))
        if pool and size >= 2:
            kp = 2 if dyadic else data.draw(st.integers(1, 2))
            sp = data.draw(st.integers(1, 2))
            g.add_node("pool", pool, [last], kernel_size=kp, stride=sp)
            last = "pool"
            size = (size - kp) // sp + 1
        if data.draw(st.booleans()):
            g.add_node("scale", "Scale", [last], {"scale": np.array(rng.choice([0.5, 1.5, 2.0]) if dyadic
                                                                  else rng.uniform(0.5, 2.0), np.float32)})
            last = "scale"
        g.add_node("flat", "Flatten", [last])
        last = "flat"
        features = o * size * size
    else:
        features = data.draw(st.integers(2, 12))
        g.add_node("x", "Input", shape=(features,))
        last = "x"
    stages = data.draw(st.integers(1, 2))
    classes = 2 if data.draw(st.booleans()) else data.draw(st.integers(2, 6))
    for i in range(stages):
        out = classes if i == stages - 1 else data.draw(st.integers(3, 10))
        params = {"weight": _weights(rng, (out, features), 1.2 / np.sqrt(features) + 0.3, dyadic)}
        if data.draw(st.booleans()):
            params["bias"] = _weights(rng, (out,), 0.2, dyadic)
        g.add_node(f"fc{i}", "Linear", [last], params)
        last = f"fc{i}"
        if i == stages - 1 and data.draw(st.booleans()):
            g.add_node(f"fc{i}b", "Linear", [g[last].inputs[0]],
                       {"weight": _weights(rng, (out, features), 0.5, dyadic)})
            g.add_node(f"sum{i}", "Add", [last, f"fc{i}b"])
            last = f"sum{i}"
        nparams, nattrs = _neuron_params(data, rng, (out,), window)
        g.add_node(f"n{i}", "Neuron", [last], nparams, **nattrs)
        last = f"n{i}"
        features = out
    mode, rule = data.draw(st.sampled_from([r for r in RULES if r[1] != "binary_logit" or classes == 2]))
    rparams = {"beta": np.array(rng.choice([0.5, 0.75, 1.0]) if dyadic else rng.uniform(0.6, 1.0), np.float32)} \
        if mode == "membrane" and data.draw(st.booleans()) else {}
    g.add_node("readout", "Readout", [last], rparams, output_mode=mode, rule=rule,
               class_threshold=data.draw(st.integers(1, 3)), window_size=window)
    g.add_node("decision", "Output", ["readout"])
    g.add_node("spikes", "Output", [last])
    return g.verify(), g.input_shape


def draw_inputs(data, shape, spikes: bool | None = None):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31 - 1)))
    t, n = data.draw(st.integers(1, 9)), data.draw(st.integers(1, 3))
    if spikes is None:
        spikes = data.draw(st.booleans())
    if spikes:
        return (rng.random((t, n, *shape)) < data.draw(st.sampled_from([0.2, 0.5, 0.8]))).astype(np.float32)
    return rng.normal(0.3, 1.0, size=(t, n, *shape)).astype(np.float32)
