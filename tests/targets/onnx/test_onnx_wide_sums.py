"""The float targets' equality contract on wide layers: onnxruntime sums in an order of its own, so
the ``onnx`` profile computes exactly those sums with onnxruntime (``targets/onnx/profile.py``) and
verification stays bit-exact on a fan-in of 4096 — and still fails when the artifact's weights differ
from the model's by one ulp."""

import importlib

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

import snnc
from snnc.ir import Graph, interpret

onnx_lower = importlib.import_module("snnc.targets.onnx.lower")  # the module (the package exports lower())

F32 = np.float32
FAN_IN = 4096


def _wide() -> Graph:
    rng = np.random.default_rng(0)
    g = Graph()
    g.add_node("x", "Input", shape=(FAN_IN,))
    bias = rng.normal(0, 0.1, 16).astype(F32)
    bias[3] = 0.0  # so that fc[3] = weight[3, 7] exactly on sample 0 (an ulp of it is not rounded away)
    g.add_node("fc", "Linear", ["x"], {"weight": rng.normal(0, 1 / 64, (16, FAN_IN)).astype(F32), "bias": bias})
    g.add_node("n", "Neuron", ["fc"], {"v_threshold": np.array(0.3, F32), "v_reset": np.array(0.0, F32),
                                       "tau": np.array(2.0, F32)}, charge="lif")
    g.add_node("out", "Linear", ["n"], {"weight": rng.normal(0, 0.3, (4, 16)).astype(F32)})
    g.add_node("y", "Output", ["out"])  # float outputs: the wide layer's sums themselves, and a readout-
    g.add_node("logits", "Output", ["fc"])  # style linear layer of spikes
    return g.verify()


def _inputs() -> torch.Tensor:
    x = torch.rand((6, 8, FAN_IN), generator=torch.Generator().manual_seed(0))
    x[:, 0] = 0.0
    x[:, 0, 7] = 1.0  # sample 0: column 7 alone, so fc's output there is weight[:, 7] + bias, exactly
    return x


def test_the_plain_float32_sum_order_is_not_onnxruntime_s():
    """Why the profile exists: the float32 interpreter and onnxruntime disagree on this layer."""
    g, x = _wide(), _inputs()
    report = snnc.verify(g, "onnx", x)
    assert report.ok
    plain, runtime = interpret(g, x, numerics="float32"), interpret(g, x, numerics="onnx")
    assert not all(torch.equal(a, b) for a, b in zip(plain, runtime))


@pytest.mark.parametrize("target", ["onnx", "gpu"])
def test_a_wide_float_layer_verifies_bit_exactly(target):
    report = snnc.verify(_wide(), target, _inputs())
    assert report.ok and report.bit_exact, report.summary()


def _one_ulp(model: onnx.ModelProto) -> onnx.ModelProto:
    """``fc.weight[3, 7]`` one ulp up, in the model about to be written."""
    for i, init in enumerate(model.graph.initializer):
        if init.name == "fc.weight":
            w = numpy_helper.to_array(init).copy()
            w[3, 7] = np.nextafter(w[3, 7], F32(np.inf))
            model.graph.initializer[i].CopyFrom(numpy_helper.from_array(w, init.name))
    return model


def test_a_lowering_one_ulp_off_fails(monkeypatch):
    build = onnx_lower.build
    monkeypatch.setattr(onnx_lower, "build", lambda graph: _one_ulp(build(graph)))
    report = snnc.verify(_wide(), "onnx", _inputs())
    assert not report.ok
    d = report.first_divergence
    assert (d.node, d.batch, d.index) == ("logits", 0, (3,))  # where column 7 alone reaches fc[3]
    assert d.target == np.nextafter(F32(d.reference), F32(np.inf))


def test_an_artifact_one_ulp_off_fails(tmp_path):
    g = _wide()
    art = snnc.compile(g, "onnx", tmp_path / "art")
    path = art.path / "model.onnx"
    onnx.save(_one_ulp(onnx.load(str(path))), str(path))
    assert not snnc.verify(g, "onnx", _inputs(), artifact=art.path).ok  # its files differ: not run
    ran = snnc.verify(g, "onnx", _inputs(), artifact=art.path, allow_changed=True)
    assert not ran.ok and "fc" in ran.suspects
