"""The hls artifact: equal to the float PyTorch model when every value is representable, the project
files (Makefile build, testbench file format), the cache, describe(), and the refusals."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
import torch
from torch import nn

import snnc.nn as snn
from snnc.ir import Graph, interpret
from snnc.ir.errors import SnncError, UnsupportedError
from snnc.targets import get_target
from snnc.targets.hls.simulate import build

TARGET = get_target("hls")
WIDE = {"default": "<24,10,rnd,sat>", "classes": {"v": "<40,12>", "i": "<40,12>", "mem": "<40,12>",
                                                   "decay": "<10,2>", "result": "<24,10>"}}


def _dyadic(gen, shape, scale=8, span=10):
    return torch.randint(-span, span + 1, shape, generator=gen).double() / scale


def _run_torch(layers, x, window):
    """The float64 PyTorch model step by step, every state reset after each window."""
    outs = []
    for t in range(x.shape[0]):
        h = x[t]
        for layer in layers:
            h = layer(h)
        outs.append(h)
        if (t + 1) % window == 0:
            snn.reset_net(nn.Sequential(*layers))
    return torch.stack(outs)


def test_dense_equals_float_pytorch_model(tmp_path):
    gen = torch.Generator().manual_seed(3)
    fc1, fc2 = nn.Linear(8, 12).double(), nn.Linear(12, 4, bias=False).double()
    with torch.no_grad():
        fc1.weight.copy_(_dyadic(gen, (12, 8)))
        fc1.bias.copy_(_dyadic(gen, (12,), span=4))
        fc2.weight.copy_(_dyadic(gen, (4, 12), scale=4))
    lif = snn.LIF(tau=2.0, v_threshold=1.0, v_reset=0.0)
    soft = snn.IF(v_threshold=0.75, v_reset=None)
    window = 6
    readout = snn.Readout(n_classes=4, decision_rule="threshold_then_argmax", class_threshold=2)
    x = (torch.rand(2 * window, 5, 8, generator=gen) < 0.5).double()
    want = _run_torch([fc1, lif, fc2, soft, readout], x, window)

    g = Graph()
    g.add_node("x", "Input", shape=(8,))
    g.add_node("fc1", "Linear", ["x"], {"weight": fc1.weight.detach().numpy(), "bias": fc1.bias.detach().numpy()})
    g.add_node("lif", "Neuron", ["fc1"], {"v_threshold": np.array(1.0), "v_reset": np.array(0.0), "tau": np.array(2.0)},
               charge="lif", reset="hard", window_size=window)
    g.add_node("fc2", "Linear", ["lif"], {"weight": fc2.weight.detach().numpy()})
    g.add_node("soft", "Neuron", ["fc2"], {"v_threshold": np.array(0.75)}, charge="if", reset="subtract",
               window_size=window)
    g.add_node("readout", "Readout", ["soft"], rule="threshold_then_argmax", class_threshold=2, window_size=window)
    g.add_node("y", "Output", ["readout"])
    _assert_cpp_equals(g, x, want, tmp_path)
    assert len(set(want.flatten().tolist())) > 1  # the decisions are not all the same


def _assert_cpp_equals(g, x, want, tmp_path):
    """Quantize ``g`` with the wide formats, build its C++ and require it to equal ``want`` (the float
    PyTorch model) and the hls interpreter, exactly."""
    q = TARGET.prepare(g.verify(), {"config": WIDE})
    TARGET.lower(q, tmp_path, {})
    got = TARGET.simulate(tmp_path, x)
    assert torch.equal(got, want.double())
    assert torch.equal(got, interpret(q, x, numerics="hls"))


def test_conv_cuba_membrane_readout_equals_float_pytorch_model(tmp_path):
    gen = torch.Generator().manual_seed(5)
    conv = nn.Conv2d(2, 4, 3, padding=1).double()
    fc = nn.Linear(36, 3).double()
    with torch.no_grad():
        conv.weight.copy_(_dyadic(gen, (4, 2, 3, 3)))
        conv.bias.copy_(_dyadic(gen, (4,), span=3))
        fc.weight.copy_(_dyadic(gen, (3, 36)))
        fc.bias.copy_(_dyadic(gen, (3,)))
    cuba = snn.CubaLIF(current_decay=0.5, voltage_decay=0.25, v_threshold=1.0, v_reset=0.0)
    pool = nn.AvgPool2d(2)
    readout = snn.Readout(n_classes=3, output_mode="membrane", decision_rule="argmax_membrane", beta=0.5)
    window = 5
    x = (torch.rand(2 * window, 3, 2, 6, 6, generator=gen) < 0.5).double()
    want = _run_torch([conv, cuba, pool, nn.Flatten(), fc, readout], x, window)

    g = Graph()
    g.add_node("x", "Input", shape=(2, 6, 6))
    g.add_node("conv", "Conv2d", ["x"], {"weight": conv.weight.detach().numpy(), "bias": conv.bias.detach().numpy()},
               padding=1)
    g.add_node("cuba", "Neuron", ["conv"], {"v_threshold": np.array(1.0), "v_reset": np.array(0.0),
                                            "alpha": np.array(0.5), "beta": np.array(0.75)},
               charge="cuba", reset="hard", window_size=window)
    g.add_node("pool", "AvgPool2d", ["cuba"], kernel_size=2)
    g.add_node("flat", "Flatten", ["pool"])
    g.add_node("fc", "Linear", ["flat"], {"weight": fc.weight.detach().numpy(), "bias": fc.bias.detach().numpy()})
    g.add_node("readout", "Readout", ["fc"], {"beta": np.array(0.5)}, output_mode="membrane",
               rule="argmax_membrane", window_size=window)
    g.add_node("y", "Output", ["readout"])
    _assert_cpp_equals(g, x, want, tmp_path)


def _small_graph(window=4, batchnorm=False):
    g = Graph()
    g.add_node("x", "Input", shape=(4,))
    g.add_node("fc", "Linear", ["x"], {"weight": np.full((3, 4), 0.5)})
    prev = "fc"
    if batchnorm:
        g.add_node("bn", "BatchNorm", ["fc"], {k: np.ones(3) for k in ("mean", "var", "weight", "bias")})
        prev = "bn"
    g.add_node("sn", "Neuron", [prev], {"v_threshold": np.array(1.0), "beta": np.array(0.5)}, charge="beta",
               reset="subtract", window_size=window)
    g.add_node("y", "Output", ["sn"])
    return g.verify()


def test_artifact_files_makefile_cache_and_describe(tmp_path):
    q = TARGET.prepare(_small_graph(), {"config": {"layers": {"fc": {"reuse_factor": 4, "weight": "<6,2,rnd,sat>"}}}})
    TARGET.check(q, {})
    TARGET.lower(q, tmp_path, {})
    for rel in ("firmware/snnc_top.cpp", "firmware/snnc_top.h", "firmware/weights.h", "firmware/snnc_fixed.h",
                "tb/testbench.cpp", "Makefile", "README.md", "vitis_hls.tcl", "model.json"):
        assert (tmp_path / rel).is_file(), rel
    src = (tmp_path / "firmware" / "snnc_top.cpp").read_text()
    assert "void fc(" in src and "void sn(" in src and "#pragma HLS PIPELINE II=4" in src
    assert "snnc::fixed<6, 2, snnc::RND, snnc::SAT> fc_weight_t" in (tmp_path / "firmware" / "snnc_top.h").read_text()
    x = (torch.rand(9, 3, 4) < 0.6).double()
    _, first = build(tmp_path)
    _, again = build(tmp_path)
    assert again["cached"]
    y = TARGET.simulate(tmp_path, x)
    assert torch.equal(y, interpret(q, x, numerics="hls"))
    # record=True: every layer's per-step output, equal to the interpreter's trace
    y2, layers = TARGET.simulate(tmp_path, x, record=True)
    _, trace = interpret(q, x, numerics="hls", record=True)
    assert torch.equal(y2, y) and set(layers) == {"fc", "sn"}
    for name, value in layers.items():
        assert torch.equal(value, trace.values[name]), name
    # the project builds on its own with make, and its testbench reads/writes the documented files
    if shutil.which("make"):
        work = tmp_path / "copy"
        shutil.copytree(tmp_path, work, ignore=shutil.ignore_patterns("copy"))
        x.numpy().astype("<f8").tofile(work / "in.bin")
        subprocess.run(["make", "-s", "csim", "INPUT=in.bin", "T=9", "N=3"], cwd=work, check=True, capture_output=True)
        out = np.fromfile(work / "build" / "output.bin", dtype="<f8").reshape(9, 3, 3)
        assert np.array_equal(out, y.numpy())
    text = TARGET.describe(tmp_path)
    model = json.loads((tmp_path / "model.json").read_text())
    fc = next(layer for layer in model["layers"] if layer["name"] == "fc")
    assert fc["multipliers"] == 3 and fc["weight_bits"] == 12 * 6 and fc["reuse_factor"] == 4
    sn = next(layer for layer in model["layers"] if layer["name"] == "sn")
    assert sn["state_bits"] == 3 * 24
    assert "fc" in text and "sn" in text and "state bits" in text


def test_window_resets_state_across_windows(tmp_path):
    q = TARGET.prepare(_small_graph(window=3), {})
    TARGET.lower(q, tmp_path, {})
    x = torch.ones(9, 2, 4)
    y = TARGET.simulate(tmp_path, x)
    assert torch.equal(y[0:3], y[3:6]) and torch.equal(y[3:6], y[6:9])
    assert torch.equal(y, interpret(q, x, numerics="hls"))


def test_refusals_name_the_node():
    with pytest.raises(UnsupportedError, match="'bn'"):
        TARGET.prepare(_small_graph(batchnorm=True), {})
    with pytest.raises(SnncError, match="not quantized"):
        TARGET.check(_small_graph(), {})
    wide = {"classes": {"v": "<50,20>", "decay": "<20,2>"}}  # beta·V needs 70 bits
    q = TARGET.prepare(_small_graph(), {"config": wide})
    with pytest.raises(UnsupportedError, match="'sn'.*bits"):
        TARGET.check(q, {})
    with pytest.raises(SnncError, match="layers names 'nope'"):
        TARGET.prepare(_small_graph(), {"config": {"layers": {"nope": {}}}})
    with pytest.raises(SnncError, match="unknown key 'wieght'"):
        TARGET.prepare(_small_graph(), {"config": {"layers": {"fc": {"wieght": "<8,2>"}}}})
    with pytest.raises(SnncError, match="cannot read format"):
        TARGET.prepare(_small_graph(), {"config": {"default": "fixed(8,2)"}})
    with pytest.raises(SnncError, match="unsigned|signed"):
        TARGET.prepare(_small_graph(), {"config": {"classes": {"weight": {"width": 8, "int": 2, "signed": False}}}})
    with pytest.raises(SnncError, match="auto.*calibration"):
        TARGET.prepare(_small_graph(), {"config": {"classes": {"result": {"width": 8, "int": "auto"}}}})


def test_calibrated_auto_formats_and_lif_as_plif():
    from snnc.ir import get_profile
    g = _small_graph()
    x = (torch.rand(6, 4, 4) < 0.5).double()
    x[0, 0] = 1.0  # fc reaches its maximum 2.0 once
    q, report = get_profile("hls").quantize(g, calibration=x,
                                            config={"classes": {"result": {"width": 10, "int": "auto"}}})
    fc = q["fc"].quant["formats"]["result"]
    assert fc["width"] == 10 and fc["int"] == 3  # 2.0 needs 2 integer bits + sign
    assert report["fc"]["weight"]["max_abs_error"] == 0.0
    lif = Graph()
    lif.add_node("x", "Input", shape=(2,))
    lif.add_node("n", "Neuron", ["x"], {"v_threshold": np.array(1.0), "v_reset": np.array(0.0),
                                        "tau": np.array(3.0)}, charge="lif", reset="hard")
    lif.add_node("y", "Output", ["n"])
    q, report = get_profile("hls").quantize(lif.verify(), config={"classes": {"decay": "<8,1,rnd,sat>"}})
    node = q["n"]
    assert node.attrs["charge"] == "plif" and "tau" not in node.params
    assert float(node.params["k"]) == round(128 / 3) / 128  # 1/3 on the <8,1> grid
    assert report["n"]["k"]["max_abs_error"] == pytest.approx(abs(43 / 128 - 1 / 3))


def test_node_names_become_distinct_c_identifiers(tmp_path):
    g = Graph()
    g.add_node("input", "Input", shape=(3,))
    g.add_node("fc", "Linear", ["input"], {"weight": np.full((3, 3), 0.25), "bias": np.zeros(3)})
    g.add_node("fc_weight", "Scale", ["fc"], {"scale": np.array(2.0)})
    g.add_node("layers.0", "Neuron", ["fc_weight"], {"v_threshold": np.array(0.5), "v_reset": np.array(0.0)},
               charge="if", reset="hard")
    g.add_node("int", "Linear", ["layers.0"], {"weight": np.eye(3)})
    g.add_node("0", "Add", ["int", "fc_weight"])
    g.add_node("out", "Output", ["0"])
    q = TARGET.prepare(g.verify(), {})
    TARGET.lower(q, tmp_path, {})
    x = (torch.rand(5, 2, 3) < 0.7).double()
    assert torch.equal(TARGET.simulate(tmp_path, x), interpret(q, x, numerics="hls"))
