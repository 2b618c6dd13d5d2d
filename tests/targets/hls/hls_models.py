"""Graph and config generators for the hls target tests (hypothesis strategies and fixed cases)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from snnc.ir import Graph

ROUNDINGS = ("trn", "trn_zero", "rnd", "rnd_zero", "rnd_inf", "rnd_min_inf", "rnd_conv")
OVERFLOWS = ("wrap", "sat", "sat_sym")


def dyadic(rng, shape, scale=8, lo=-12, hi=12):
    """Multiples of 1/scale: exactly representable in a wide enough fixed-point format."""
    return rng.integers(lo, hi + 1, shape).astype(np.float64) / scale


def neuron_params(rng, kind: dict, shape: tuple) -> tuple[dict, dict]:
    """Parameters and attributes of a Neuron of the variant ``kind`` over ``shape``."""
    per = kind["per_neuron"]

    def value(lo, hi, scale=8):
        if per:
            return rng.integers(lo, hi + 1, shape).astype(np.float64) / scale
        return np.array(rng.integers(lo, hi + 1) / scale)

    charge = kind["charge"]
    params = {"v_threshold": value(4, 12)}
    if charge == "lif":
        params["tau"] = np.array([2.0, 4.0, 1.5, 3.0][rng.integers(4)]) if not per else \
            rng.choice([2.0, 4.0, 1.5], size=shape)
    if charge == "plif":
        params["k"] = value(1, 7)
    if charge in ("beta", "cuba"):
        params["beta"] = value(4, 8)
    if charge == "cuba":
        params["alpha"] = value(2, 7)
    if kind["reset"] == "hard":
        params["v_reset"] = np.array(rng.integers(-2, 2) / 4)
    if kind.get("v_leak") and charge in ("lif", "plif"):
        params["v_leak"] = np.array(rng.integers(-2, 3) / 8)
    if kind.get("v_init"):
        params["v_init"] = np.array(rng.integers(-4, 5) / 8)
        if charge == "cuba":
            params["i_init"] = np.array(rng.integers(-4, 5) / 8)
    attrs = {"charge": charge, "compare": kind["compare"], "reset": kind["reset"],
             "reset_timing": kind["timing"], "decay_input": kind["decay_input"]}
    return params, attrs


@st.composite
def neuron_kinds(draw):
    charge = draw(st.sampled_from(["if", "lif", "plif", "beta", "cuba"]))
    timings = ["immediate", "delayed", "compensated"] if charge in ("beta", "cuba") else ["immediate"]
    return {"charge": charge, "compare": draw(st.sampled_from(["ge", "gt"])),
            "reset": draw(st.sampled_from(["hard", "subtract", "none"])),
            "timing": draw(st.sampled_from(timings)), "decay_input": draw(st.booleans()),
            "per_neuron": draw(st.booleans()), "v_leak": draw(st.booleans()), "v_init": draw(st.booleans())}


@st.composite
def formats(draw, lo=3, hi=20):
    width = draw(st.integers(lo, hi))
    i = draw(st.one_of(st.integers(1, max(1, width - 1)), st.just("auto")))
    return {"width": width, "int": i, "rounding": draw(st.sampled_from(ROUNDINGS)),
            "overflow": draw(st.sampled_from(OVERFLOWS))}


@st.composite
def configs(draw):
    """None (built-in), a random default, and random per-class formats, some narrow enough to overflow."""
    if draw(st.integers(0, 4)) == 0:
        return None
    cfg = {"default": draw(formats(4, 16)).copy()}
    cfg["default"]["int"] = draw(st.integers(2, 6))
    classes = {}
    for cls in ("weight", "bias", "threshold", "decay"):
        if draw(st.booleans()):
            classes[cls] = draw(formats(4, 18))
    for cls in ("input", "result", "v", "i", "mem"):
        if draw(st.booleans()):
            f = draw(formats(4, 24))
            if f["int"] == "auto":
                f["int"] = 4
            classes[cls] = f
    cfg["classes"] = classes
    cfg["reuse_factor"] = draw(st.sampled_from([1, 2, 4]))
    return cfg


def dense_graph(rng, kinds: list[dict], readout: dict | None, n_in=6, hidden=(7,), n_out=3, window=0,
                scale_add=False) -> Graph:
    g = Graph()
    g.add_node("inp", "Input", shape=(n_in,))
    prev, width = "inp", n_in
    sizes = list(hidden) + [n_out]
    for li, size in enumerate(sizes):
        params = {"weight": dyadic(rng, (size, width))}
        if rng.integers(2):
            params["bias"] = dyadic(rng, (size,), lo=-4, hi=4)
        g.add_node(f"fc{li}", "Linear", [prev], params)
        prev = f"fc{li}"
        if scale_add and li == 0:
            g.add_node("scaled", "Scale", [prev], {"scale": dyadic(rng, (size,), scale=4, lo=-6, hi=6)})
            g.add_node("fc0b", "Linear", ["inp"], {"weight": dyadic(rng, (size, n_in))})
            g.add_node("sum", "Add", ["scaled", "fc0b", prev])
            prev = "sum"
        last = li == len(sizes) - 1
        if not last or readout is None or readout["mode"] == "spike":
            kind = kinds[li % len(kinds)]
            params, attrs = neuron_params(rng, kind, (size,))
            g.add_node(f"sn{li}", "Neuron", [prev], params, window_size=window, **attrs)
            prev = f"sn{li}"
        width = size
    if readout is not None:
        params = {"beta": np.array(readout["beta"])} if readout["mode"] == "membrane" and readout["beta"] is not None else {}
        g.add_node("readout", "Readout", [prev], params, output_mode=readout["mode"], rule=readout["rule"],
                   class_threshold=readout["class_threshold"], window_size=window)
        prev = "readout"
    g.add_node("out", "Output", [prev])
    return g.verify()


def conv_graph(rng, kind: dict, readout: dict | None, pool: str, window=0, groups=1, extra_output=False,
               n_out=3) -> Graph:
    g = Graph()
    g.add_node("inp", "Input", shape=(2, 6, 6))
    c_out = 4
    params = {"weight": dyadic(rng, (c_out, 2 // groups, 3, 3), lo=-6, hi=6)}
    if rng.integers(2):
        params["bias"] = dyadic(rng, (c_out,), lo=-4, hi=4)
    g.add_node("conv", "Conv2d", ["inp"], params, stride=1, padding=1, groups=groups)
    nparams, attrs = neuron_params(rng, kind, (c_out, 6, 6))
    if kind["per_neuron"]:  # per-channel parameters, broadcast over H, W
        nparams = {k: (v[:, :1, :1].copy() if v.ndim == 3 else v) for k, v in nparams.items()}
    g.add_node("sn_conv", "Neuron", ["conv"], nparams, window_size=window, **attrs)
    pool_attrs = {"kernel_size": 2, "stride": 2} if pool != "MaxPool2d" else {"kernel_size": 3, "stride": 2, "padding": 1}
    g.add_node("pool", pool, ["sn_conv"], **pool_attrs)
    g.add_node("flat", "Flatten", ["pool"])
    n_flat = c_out * 3 * 3  # both pool geometries give 3x3
    g.add_node("fc", "Linear", ["flat"], {"weight": dyadic(rng, (n_out, n_flat), lo=-4, hi=4)})
    prev = "fc"
    if readout is None or readout["mode"] == "spike":
        params, attrs = neuron_params(rng, dict(kind, per_neuron=False), (n_out,))
        g.add_node("sn_out", "Neuron", ["fc"], params, window_size=window, **attrs)
        prev = "sn_out"
    if readout is not None:
        params = {"beta": np.array(readout["beta"])} if readout["mode"] == "membrane" and readout["beta"] is not None else {}
        g.add_node("readout", "Readout", [prev], params, output_mode=readout["mode"], rule=readout["rule"],
                   class_threshold=readout["class_threshold"], window_size=window)
        prev = "readout"
    g.add_node("out", "Output", [prev])
    if extra_output:
        g.add_node("spikes", "Output", ["sn_conv"])
    return g.verify()


@st.composite
def readouts(draw, n_classes=3):
    mode = draw(st.sampled_from(["spike", "membrane", None]))
    if mode is None:
        return None
    rules = ["argmax_spike_count", "first_to_threshold", "threshold_then_argmax"] if mode == "spike" \
        else ["argmax_membrane"]
    if n_classes == 2:
        rules.append("binary_logit")
    return {"mode": mode, "rule": draw(st.sampled_from(rules)), "class_threshold": draw(st.integers(1, 3)),
            "beta": draw(st.sampled_from([None, 0.5, 0.75, 1.0]))}
