"""Random network specs, and the snnc.nn model and IR graph built from the same spec.

A spec is a list of layer dicts; :func:`build` turns it into a ``torch.nn.Sequential`` of torch /
snnc.nn modules (single-step mode) and the IR graph that means the same thing, written by hand here
(independent of the FX tracer). :func:`specs` is a hypothesis strategy over such specs.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import strategies as st

import snnc.nn as snn
from snnc.ir import Graph

NEURONS = ("IF", "LIF", "PLIF", "CubaLIF")


@st.composite
def neuron_specs(draw):
    kind = draw(st.sampled_from(NEURONS))
    spec = {"op": "neuron", "kind": kind, "v_reset": draw(st.sampled_from([None, 0.0, -0.25])),
            "v_threshold": draw(st.sampled_from([0.5, 0.75, 1.0])),
            "per_neuron_threshold": draw(st.booleans())}
    if kind == "LIF":
        spec["tau"] = draw(st.sampled_from([1.5, 2.0, 3.0, 4.5]))
        spec["decay_input"] = draw(st.booleans())
    elif kind == "PLIF":
        spec["init_tau"] = draw(st.sampled_from([1.5, 2.0, 3.0]))
        spec["decay_input"] = draw(st.booleans())
    elif kind == "CubaLIF":
        spec["current_decay"] = draw(st.sampled_from([0.0, 0.25, 0.5, 0.75]))
        spec["voltage_decay"] = draw(st.sampled_from([0.0, 0.125, 0.5]))
    return spec


@st.composite
def specs(draw, readout: bool | None = None):
    """``{"input": shape, "layers": [...], "window": W, "seed": s}``."""
    image = draw(st.booleans())
    layers = []
    if image:
        shape = (draw(st.integers(1, 2)), draw(st.integers(4, 7)), draw(st.integers(4, 7)))
        c, h, w = shape
        for _ in range(draw(st.integers(1, 2))):
            kind = draw(st.sampled_from(["conv", "conv", "avgpool", "sumpool", "maxpool"]))
            if kind == "conv":
                k = draw(st.integers(1, 3))
                s, p = draw(st.integers(1, 2)), draw(st.integers(0, 1))
                out = draw(st.integers(1, 3))
                if (h + 2 * p - k) // s + 1 < 1 or (w + 2 * p - k) // s + 1 < 1:
                    continue
                layers.append({"op": "conv", "out": out, "k": k, "stride": s, "padding": p,
                               "bias": draw(st.booleans())})
                c, h, w = out, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
            else:
                if h < 2 or w < 2:
                    continue
                layers.append({"op": kind, "k": 2})
                h, w = h // 2, w // 2
            if draw(st.booleans()):
                layers.append(draw(neuron_specs()))
        layers.append({"op": "flatten"})
        features = c * h * w
    else:
        shape = (draw(st.integers(2, 8)),)
        features = shape[0]
    for _ in range(draw(st.integers(1, 2))):
        out = draw(st.integers(2, 6))
        layers.append({"op": "linear", "out": out, "bias": draw(st.booleans())})
        layers.append(draw(neuron_specs()))
        features = out
    use_readout = draw(st.booleans()) if readout is None else readout
    if use_readout:
        mode = draw(st.sampled_from(["spike", "membrane"]))
        rules = {"spike": ["argmax_spike_count", "first_to_threshold", "threshold_then_argmax", "binary_logit"],
                 "membrane": ["argmax_membrane", "binary_logit"]}[mode]
        rule = draw(st.sampled_from(rules))
        if rule == "binary_logit" and features != 2:
            layers.append({"op": "linear", "out": 2, "bias": True})
            layers.append(draw(neuron_specs()))
        if mode == "membrane" and layers[-1]["op"] == "neuron" and draw(st.booleans()):
            layers.append({"op": "linear", "out": 2 if rule == "binary_logit" else features, "bias": True})
        layers.append({"op": "readout", "mode": mode, "rule": rule,
                       "class_threshold": draw(st.integers(1, 3)),
                       "beta": draw(st.sampled_from([1.0, 0.875, 0.5]))})
    return {"input": shape, "layers": layers, "window": draw(st.sampled_from([0, 0, 3, 5])),
            "seed": draw(st.integers(0, 2**16))}


def _f64(v) -> np.ndarray:
    return np.asarray(v, dtype=np.float64)


def build(spec: dict, gain: float = 2.0):
    """``(model, graph)`` from a spec: the same weights, the same neuron parameters."""
    gen = torch.Generator().manual_seed(spec["seed"])
    window = spec.get("window", 0)
    modules = []
    g = Graph()
    g.add_node("x", "Input", shape=tuple(spec["input"])).shape = tuple(spec["input"])
    prev, shape = "x", tuple(spec["input"])
    for i, layer in enumerate(spec["layers"]):
        name = f"l{i}_{layer['op']}"
        op = layer["op"]
        if op == "conv":
            m = torch.nn.Conv2d(shape[0], layer["out"], layer["k"], layer["stride"], layer["padding"],
                                bias=layer["bias"])
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * gain / math.sqrt(m.weight[0].numel()))
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.2)
            params = {"weight": m.weight.detach().numpy().copy()}
            if m.bias is not None:
                params["bias"] = m.bias.detach().numpy().copy()
            g.add_node(name, "Conv2d", [prev], params, stride=layer["stride"], padding=layer["padding"])
        elif op == "linear":
            m = torch.nn.Linear(shape[0], layer["out"], bias=layer["bias"])
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * gain / math.sqrt(shape[0]))
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.2)
            params = {"weight": m.weight.detach().numpy().copy()}
            if m.bias is not None:
                params["bias"] = m.bias.detach().numpy().copy()
            g.add_node(name, "Linear", [prev], params)
        elif op in ("avgpool", "sumpool", "maxpool"):
            k = layer["k"]
            m = {"avgpool": torch.nn.AvgPool2d(k), "sumpool": torch.nn.AvgPool2d(k, divisor_override=1),
                 "maxpool": torch.nn.MaxPool2d(k)}[op]
            g.add_node(name, {"avgpool": "AvgPool2d", "sumpool": "SumPool2d", "maxpool": "MaxPool2d"}[op],
                       [prev], kernel_size=k)
        elif op == "flatten":
            m = torch.nn.Flatten()
            g.add_node(name, "Flatten", [prev])
        elif op == "neuron":
            m, attrs, params = _neuron(layer, shape, gen)
            m.window_size = window
            g.add_node(name, "Neuron", [prev], params, window_size=window, **attrs)
        elif op == "readout":
            m = snn.Readout(n_classes=shape[0], window_size=window, decision_rule=layer["rule"],
                            class_threshold=layer["class_threshold"], output_mode=layer["mode"], beta=layer["beta"])
            g.add_node(name, "Readout", [prev], {"beta": _f64(layer["beta"])}, output_mode=layer["mode"],
                       rule=layer["rule"], class_threshold=layer["class_threshold"], window_size=window)
        else:
            raise ValueError(op)
        modules.append(m)
        prev = name
        node = g[name]
        node.definition.validate(node)
        node.shape = shape = tuple(node.definition.infer_shape(node, [g[s].shape for s in node.inputs]))
    g.add_node("y", "Output", [prev])
    return torch.nn.Sequential(*modules), g.verify()


def _neuron(layer: dict, shape, gen):
    kind, v_reset = layer["kind"], layer["v_reset"]
    th = layer["v_threshold"]
    if layer["per_neuron_threshold"]:
        th = (th * (0.5 + torch.rand(shape, generator=gen))).to(torch.float32)
    th_param = th.numpy().copy() if isinstance(th, torch.Tensor) else _f64(th)
    attrs = {"reset": "subtract" if v_reset is None else "hard"}
    params = {"v_threshold": th_param, "v_leak": _f64(0.0 if v_reset is None else v_reset)}
    if v_reset is not None:
        params["v_reset"] = _f64(v_reset)
    if kind == "IF":
        m = snn.IF(v_threshold=th, v_reset=v_reset)
        attrs["charge"] = "if"
    elif kind == "LIF":
        m = snn.LIF(tau=layer["tau"], decay_input=layer["decay_input"], v_threshold=th, v_reset=v_reset)
        attrs.update(charge="lif", decay_input=layer["decay_input"])
        params["tau"] = _f64(layer["tau"])
    elif kind == "PLIF":
        m = snn.PLIF(init_tau=layer["init_tau"], decay_input=layer["decay_input"], v_threshold=th, v_reset=v_reset)
        attrs.update(charge="plif", decay_input=layer["decay_input"])
        params["k"] = m.k.detach().numpy().copy()
    else:
        m = snn.CubaLIF(current_decay=layer["current_decay"], voltage_decay=layer["voltage_decay"], v_threshold=th,
                        v_reset=v_reset)
        attrs["charge"] = "cuba"
        params["alpha"], params["beta"] = _f64(m.alpha), _f64(m.beta)
    return m, attrs, params


def run_model(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Step the single-step model over ``x`` ``[T, N, ...]`` from a fresh state."""
    snn.reset_net(model)
    with torch.no_grad():
        out = torch.stack([model(xt) for xt in x])
    snn.reset_net(model)
    return out


def inputs(spec: dict, steps: int = 12, batch: int = 3, spikes: bool = False, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(spec["seed"] + seed)
    x = torch.rand((steps, batch) + tuple(spec["input"]), generator=gen)
    return (x < 0.4).to(torch.float32) if spikes else x * 1.5
