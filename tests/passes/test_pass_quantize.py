"""The quantization pass: delegates to the profile, reports formats, parameter errors, clipping on the
calibration set and a per-layer error bound that holds; exactly representable parameters give a
quantized interpreter equal to the float one."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings

from support.netspec import build, inputs, specs
from snnc.ir import Graph, interpret
from snnc.ir.interpreter import KERNELS
from snnc.ir.numerics import PROFILES, Profile, register
from snnc.ir.quantize import Fixed, format_of, set_format
from snnc.passes import quantize

W_FMT = Fixed(10, 3, rounding="rnd_conv", overflow="sat")   # step 1/128, range [-4, 4)
ACC_FMT = Fixed(24, 12, rounding="rnd_conv", overflow="sat")
V_FMT = Fixed(24, 12, rounding="rnd_conv", overflow="sat")


class FixedTestProfile(Profile):
    """A small fixed-point profile for these tests: parameters on W_FMT's grid, Linear/Conv results
    stored into ACC_FMT and the membrane into V_FMT (round to nearest even, saturate)."""

    def quantize(self, graph, calibration=None, config=None):
        g = graph.copy()
        for node in g.nodes:
            for key in ("weight", "bias", "v_threshold", "v_reset"):
                if key in node.params:
                    node.params[key] = W_FMT.quantize(node.params[key]).astype(node.params[key].dtype)
            if node.op in ("Linear", "Conv2d"):
                set_format(node, "weight", W_FMT)
                set_format(node, "bias", W_FMT)
                set_format(node, "accum", ACC_FMT)
            if node.op == "Neuron":
                set_format(node, "threshold", W_FMT)
                set_format(node, "v", V_FMT)
        g.metadata["numerics"] = self.name
        return g, {"layers": {n.name: {"note": "test"} for n in g.nodes if n.op == "Linear"}}


def _stored(kernel, cls):
    def run(node, xs, state, ctx):
        out = kernel(node, xs, state, ctx)
        fmt = format_of(node, cls)
        if fmt is None:
            return out
        if cls == "v":
            state["v"] = fmt.quantize(state["v"]).to(out.dtype)
            return out
        return fmt.quantize(out).to(out.dtype)
    return run


if "test-fixed" not in PROFILES:
    register(FixedTestProfile("test-fixed", torch.float64, {
        "Linear": _stored(KERNELS["Linear"], "accum"), "Conv2d": _stored(KERNELS["Conv2d"], "accum"),
        "Neuron": _stored(KERNELS["Neuron"], "v")}))


def _on_grid(spec):
    """A spec whose network uses only IF neurons and representable thresholds/resets."""
    layers = []
    for layer in spec["layers"]:
        if layer["op"] == "neuron":
            layer = {"op": "neuron", "kind": "IF", "v_reset": layer["v_reset"], "v_threshold": layer["v_threshold"],
                     "per_neuron_threshold": False}
        if layer["op"] in ("avgpool", "readout"):
            continue
        layers.append(layer)
    return dict(spec, layers=layers)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs(readout=False))
def test_representable_parameters_give_identical_outputs(spec):
    _, g = build(_on_grid(spec), gain=1.0)
    for node in g.nodes:  # put every parameter on the profile's grid first
        for key in ("weight", "bias"):
            if key in node.params:
                node.params[key] = W_FMT.quantize(node.params[key]).astype(np.float32)
    x = inputs(spec, spikes=True)
    q, report = quantize(g, "test-fixed", calibration=x)
    assert q.metadata["numerics"] == "test-fixed" and "numerics" not in g.metadata
    for layer in report.layers:
        assert all(err == 0.0 for err in layer.param_error.values()), layer
        assert all(n == 0 for n in layer.clipped.values()), layer
        if layer.op in ("Linear", "Conv2d"):
            assert layer.error_bound == ACC_FMT.step / 2 and layer.formats["weight"] == str(W_FMT)
            assert layer.details == {"note": "test"} or layer.op == "Conv2d"
    assert torch.equal(interpret(q, x, numerics="test-fixed").float(), interpret(g, x))


def test_error_bound_holds_and_clipping_is_counted():
    rng = np.random.default_rng(0)
    g = Graph()
    g.add_node("x", "Input", shape=(20,))
    g.add_node("fc", "Linear", ["x"], {"weight": (rng.normal(size=(8, 20)) * 2.5).astype(np.float32),
                                       "bias": rng.normal(size=8).astype(np.float32)})
    g.add_node("n", "Neuron", ["fc"], {"v_threshold": np.array(9.0), "v_reset": np.array(0.0)}, charge="if")
    g.add_node("y", "Output", ["n"])
    g.verify()
    x = torch.rand(30, 16, 20) * 3.0
    q, report = quantize(g, "test-fixed", calibration=x)
    fc = report["fc"]
    w = g["fc"].params["weight"]
    clipped_w = int(np.count_nonzero((w < W_FMT.min) | (w > W_FMT.max)))
    assert clipped_w > 0 and fc.clipped["weight"] == clipped_w and fc.clipped_total["weight"] == 160
    assert fc.input_absmax == pytest.approx(float(x.abs().max()))
    assert fc.param_error["weight"] > 0
    # the bound holds for the first layer's output on the calibration data (same inputs)
    _, tf = interpret(g, x, numerics="float64", record=True)
    _, tq = interpret(q, x, numerics="float64", record=True)
    observed = float((tf.values["fc"] - tq.values["fc"]).abs().max())
    assert 0 < observed <= fc.error_bound
    # the membrane (threshold 9 is clipped to the weight grid max) and its calibration values
    n = report["n"]
    assert n.clipped["v_threshold"] == 1 and n.clipped_total["v"] > 0
    assert "v" in n.formats
    assert report.to_dict()["layers"][0]["node"] == "fc"
    assert "fc" in report.table()


def test_float_profiles_change_nothing():
    spec = {"input": (4,), "seed": 0, "window": 0,
            "layers": [{"op": "linear", "out": 3, "bias": True},
                       {"op": "neuron", "kind": "LIF", "v_reset": 0.0, "v_threshold": 1.0, "tau": 2.0,
                        "decay_input": True, "per_neuron_threshold": False}]}
    _, g = build(spec)
    q, report = quantize(g, "float32")
    assert q.content_hash() == g.content_hash() and q.metadata["numerics"] == "float32"
    assert all(not layer.param_error for layer in report.layers)


def _two_layer(seed=0):
    spec = {"input": (6,), "seed": seed, "window": 0,
            "layers": [{"op": "linear", "out": 5, "bias": True},
                       {"op": "neuron", "kind": "IF", "v_reset": 0.0, "v_threshold": 1.0, "per_neuron_threshold": False},
                       {"op": "linear", "out": 3, "bias": False},
                       {"op": "neuron", "kind": "IF", "v_reset": 0.0, "v_threshold": 1.0, "per_neuron_threshold": False}]}
    return spec, build(spec)[1]


def test_report_with_the_hls_profile():
    spec, g = _two_layer()
    x = inputs(spec, spikes=True)
    config = {"default": "fixed<16,6,rnd,sat>", "classes": {"weight": "<6,2,rnd,sat>"}}
    q, report = quantize(g, "hls", calibration=x, config=config)
    layer = report["l0_linear"]
    assert layer.formats["weight"] == "fixed<6,2,rnd,sat>" and layer.param_error["weight"] > 0
    _, tf = interpret(g, x, numerics="float64", record=True)
    _, tq = interpret(q, x, numerics="hls", record=True)  # the profile's own fixed-point arithmetic
    observed = float((tf.values["l0_linear"] - tq.values["l0_linear"].double()).abs().max())
    assert 0 < observed <= layer.error_bound
    assert layer.clipped_total.get("v", 0) == 0  # v is a Neuron class; the Linear reports accum/result
    assert report["l1_neuron"].clipped_total["v"] > 0


def test_report_with_the_loihi_profile():
    spec, g = _two_layer(seed=1)
    q, report = quantize(g, "loihi")
    layer = report["l0_linear"]
    assert "scale" in layer.details and layer.details["max_weight_error"] >= 0
    assert layer.error_bound is not None and layer.error_bound >= 0
    assert q.metadata["numerics"] == "loihi"
