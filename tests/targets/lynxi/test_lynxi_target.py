"""The lynxi target: artifact re-read by an independent reader, corrupt pairs refused, and the
simulator equal to the interpreter under the ``lynxi`` profile bit for bit."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.lynxi_graphs import draw_graph, draw_inputs
from snnc.ir import Graph, interpret
from snnc.ir.errors import GraphError, SnncError, UnsupportedError
from snnc.targets.lynxi import TARGET
from snnc.targets.lynxi.simulate import load, run


# --- a reader written from FORMAT.md alone (json + hashlib + numpy; nothing of snnc) ---------------
def read_pair(directory):
    doc = json.loads((directory / "model.json").read_text())
    assert doc["format"] == "snnc-lynxi" and doc["version"] == 1 and doc["byte_order"] == "little"
    blob = (directory / doc["bin"]["file"]).read_bytes()
    assert len(blob) == doc["bin"]["nbytes"]
    assert hashlib.sha256(blob).hexdigest() == doc["bin"]["sha256"]
    tensors = {}
    for t in doc["tensors"]:
        assert t["dtype"] == "float16" and t["offset"] % doc["alignment"] == 0
        raw = blob[t["offset"]:t["offset"] + t["nbytes"]]
        assert len(raw) == t["nbytes"] == 2 * int(np.prod(t["shape"]))
        assert hashlib.sha256(raw).hexdigest() == t["sha256"]
        tensors[t["name"]] = np.frombuffer(raw, dtype="<f2").reshape(t["shape"])
    layers = {}
    for layer in doc["layers"]:
        layers[layer["name"]] = {"type": layer["type"], "inputs": layer["inputs"], "shape": tuple(layer["shape"]),
                                 "attrs": layer["attrs"],
                                 "params": {k: tensors[v] for k, v in layer["params"].items()},
                                 "state": layer["state"]}
    region = doc["state_region"]
    for e in region["entries"]:
        size = {"float16": 2, "int32": 4}[e["dtype"]]
        assert e["nbytes"] == size * int(np.prod(e["shape"]))
        assert e["offset"] % region["alignment"] == 0 and e["offset"] + e["nbytes"] <= region["bytes_per_sample"]
    return doc, layers


def _fixed_graph() -> Graph:
    rng = np.random.default_rng(3)
    g = Graph()
    g.add_node("x", "Input", shape=(2, 6, 6))
    g.add_node("conv", "Conv2d", ["x"], {"weight": rng.normal(size=(4, 2, 3, 3)).astype(np.float32),
                                         "bias": rng.normal(size=4).astype(np.float32)}, padding=1)
    g.add_node("n_conv", "Neuron", ["conv"], {"v_threshold": np.array(0.5, np.float32),
                                              "v_reset": np.array(0.0, np.float32),
                                              "tau": rng.uniform(1.5, 3, size=(4, 1, 1)).astype(np.float32)},
               charge="lif", window_size=4)
    g.add_node("pool", "AvgPool2d", ["n_conv"], kernel_size=3)
    g.add_node("flat", "Flatten", ["pool"])
    g.add_node("fc", "Linear", ["flat"], {"weight": rng.normal(size=(3, 16)).astype(np.float32)})
    g.add_node("n", "Neuron", ["fc"], {"v_threshold": np.array(0.7, np.float32), "alpha": np.array(0.9, np.float32),
                                       "beta": np.array(0.8, np.float32)}, charge="cuba", reset="subtract",
               window_size=4)
    g.add_node("readout", "Readout", ["n"], rule="first_to_threshold", class_threshold=2, window_size=4)
    g.add_node("y", "Output", ["readout"])
    return g.verify()


@pytest.fixture(scope="module")
def fixed():
    graph = TARGET.prepare(_fixed_graph(), {})
    TARGET.check(graph, {})
    return graph


@pytest.fixture
def artifact(fixed, tmp_path):
    out = tmp_path / "art"
    out.mkdir()
    TARGET.lower(fixed, out, {})
    return out


def test_independent_reader_reproduces_parameters(fixed, artifact):
    doc, layers = read_pair(artifact)
    assert [l["name"] for l in doc["layers"]] == [n.name for n in fixed.nodes]
    for node in fixed.nodes:
        layer = layers[node.name]
        assert layer["shape"] == node.shape
        assert set(layer["params"]) == set(node.params)
        for key, value in node.params.items():
            assert value.dtype == np.float16
            np.testing.assert_array_equal(layer["params"][key], value)
            assert layer["params"][key].tobytes() == value.tobytes()
    assert layers["n"]["attrs"] == {"charge": "cuba", "decay_input": True, "compare": "ge", "reset": "subtract",
                                    "reset_timing": "immediate", "threshold": "fixed"}
    assert layers["conv"]["attrs"]["padding"] == [1, 1]
    assert [e["var"] for e in doc["state_region"]["entries"] if e["layer"] == "n"] == ["v", "i"]
    assert doc["window"] == 4 and doc["outputs"] == ["y"]


def test_simulator_matches_interpreter_fixed(fixed, artifact):
    x = torch.from_numpy((np.random.default_rng(0).random((13, 4, 2, 6, 6)) < 0.5).astype(np.float32))
    got = TARGET.simulate(artifact, x)
    expected = interpret(fixed, x, numerics="lynxi")
    assert got.dtype == torch.float16 and torch.equal(got, expected)
    assert (expected >= 0).any()


def test_quantization_report(fixed):
    graph = TARGET.prepare(_fixed_graph(), {})
    report = graph.metadata["quantization_report"]
    assert report["layers"]["fc"]["max_weight_error"] == report["layers"]["fc"]["params"]["weight"]["max_abs_error"]
    assert graph.metadata["numerics"] == "lynxi"
    original = _fixed_graph()
    for node in graph.nodes:
        if node.params:
            assert node.quant["format"] == "float16"
        for key, value in node.params.items():
            ref = original[node.name].params[key].astype(np.float64)
            err = np.abs(value.astype(np.float64) - ref)
            assert report["layers"][node.name]["params"][key]["max_abs_error"] == pytest.approx(err.max())
            # round to nearest: at most half an ulp, 2**-11 relative for normal float16 values
            assert np.all(err <= np.abs(ref) * 2.0**-11 + 2.0**-25)


def test_out_of_range_parameter_refused():
    g = _fixed_graph()
    g["fc"].params["weight"][0, 0] = 1e6
    with pytest.raises(GraphError, match=r"node 'fc'.*'weight'.*float16 range"):
        TARGET.prepare(g, {})


def test_check_refuses_batchnorm_and_unquantized():
    g = Graph()
    g.add_node("x", "Input", shape=(3, 4, 4))
    ones = np.ones(3, np.float32)
    g.add_node("bn", "BatchNorm", ["x"], {"mean": ones, "var": ones, "weight": ones, "bias": ones})
    g.add_node("y", "Output", ["bn"])
    with pytest.raises(UnsupportedError, match=r"lynxi: node 'bn': op BatchNorm.*fold"):
        TARGET.check(TARGET.prepare(g.verify(), {}), {})
    with pytest.raises(UnsupportedError, match="not quantized"):
        TARGET.check(_fixed_graph(), {})


# --- corrupt, truncated, version-bumped pairs --------------------------------------------------------
def _edit_json(directory, edit):
    path = directory / "model.json"
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


def _tensor(doc, name):
    return next(t for t in doc["tensors"] if t["name"] == name)


def _layer(doc, name):
    return next(l for l in doc["layers"] if l["name"] == name)


def test_corrupt_tensor_byte(artifact):
    doc = json.loads((artifact / "model.json").read_text())
    t = _tensor(doc, "fc.weight")
    blob = bytearray((artifact / "model.bin").read_bytes())
    blob[t["offset"] + 5] ^= 0x40
    (artifact / "model.bin").write_bytes(bytes(blob))
    with pytest.raises(SnncError, match=r"tensor 'fc.weight'.*sha256.*corrupt"):
        TARGET.simulate(artifact, torch.zeros(1, 1, 2, 6, 6))


def test_corrupt_padding_byte(artifact):
    doc = json.loads((artifact / "model.json").read_text())
    t = _tensor(doc, "conv.bias")  # 8 bytes, so the rest of its 64-byte slot is padding
    blob = bytearray((artifact / "model.bin").read_bytes())
    blob[t["offset"] + t["nbytes"] + 1] ^= 1
    (artifact / "model.bin").write_bytes(bytes(blob))
    with pytest.raises(SnncError, match=r"model.bin: sha256 .* does not match model.json.*corrupt"):
        TARGET.simulate(artifact, torch.zeros(1, 1, 2, 6, 6))


def test_truncated_bin(artifact):
    blob = (artifact / "model.bin").read_bytes()
    (artifact / "model.bin").write_bytes(blob[:-7])
    with pytest.raises(SnncError, match=r"model.bin: has \d+ bytes, model.json declares \d+ \(truncated\)"):
        TARGET.simulate(artifact, torch.zeros(1, 1, 2, 6, 6))


def test_trailing_bytes(artifact):
    with open(artifact / "model.bin", "ab") as f:
        f.write(b"\0")
    with pytest.raises(SnncError, match=r"trailing bytes"):
        TARGET.simulate(artifact, torch.zeros(1, 1, 2, 6, 6))


def test_truncated_json(artifact):
    text = (artifact / "model.json").read_text()
    (artifact / "model.json").write_text(text[: len(text) // 2])
    with pytest.raises(SnncError, match=r"model.json: not valid JSON"):
        TARGET.simulate(artifact, torch.zeros(1, 1, 2, 6, 6))


def test_missing_bin(artifact):
    (artifact / "model.bin").unlink()
    with pytest.raises(SnncError, match=r"model.bin: not found"):
        TARGET.simulate(artifact, torch.zeros(1, 1, 2, 6, 6))


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(version=2), r"model.json: version 2 is not supported by this reader \(supports \[1\]\)"),
    (lambda d: d.update(format="other"), r"format is 'other', expected 'snnc-lynxi'"),
    (lambda d: d.update(byte_order="big"), r"byte_order: expected 'little'"),
    (lambda d: _tensor(d, "fc.weight").update(dtype="float32"), r"tensor 'fc.weight': dtype 'float32'"),
    (lambda d: _tensor(d, "fc.weight").update(offset=_tensor(d, "fc.weight")["offset"] + 2),
     r"tensor 'fc.weight': offset \d+ is not a non-negative multiple of the alignment 64"),
    (lambda d: _tensor(d, "fc.weight").update(offset=1 << 20), r"tensor 'fc.weight': bytes .* lie outside model.bin"),
    (lambda d: _tensor(d, "fc.weight").update(shape=[3, 15]), r"tensor 'fc.weight': nbytes 96 does not match shape"),
    (lambda d: _tensor(d, "fc.weight").update(sha256="0" * 64), r"tensor 'fc.weight': sha256 .* corrupt"),
    (lambda d: _layer(d, "fc").update(shape=[4]), r"layer 'fc'.shape: declared \[4\], but the layer computes \[3\]"),
    (lambda d: _layer(d, "fc").update(type="dense"), r"layer 'fc': unknown type 'dense'"),
    (lambda d: _layer(d, "fc").update(inputs=["n"]), r"layer 'fc': input 'n' is not an earlier layer"),
    (lambda d: _layer(d, "fc")["params"].update(weight="nope"), r"layer 'fc'.params.weight: tensor 'nope'"),
    (lambda d: _layer(d, "n")["attrs"].update(charge="exp"), r"layer 'n'.attrs.charge: must be one of"),
    (lambda d: _layer(d, "n").update(state=["n.v"]), r"layer 'n'.state: has .* a neuron layer needs"),
    (lambda d: d["state_region"]["entries"][0].update(offset=3), r"entry 'n_conv.v': offset 3"),
    (lambda d: d.update(outputs=["fc"]), r"outputs: must name output layers"),
])
def test_bad_json_refused(artifact, edit, message):
    _edit_json(artifact, edit)
    with pytest.raises(SnncError, match=message):
        TARGET.simulate(artifact, torch.zeros(1, 1, 2, 6, 6))


# --- hypothesis: simulator == interpreter(lynxi), bit for bit ------------------------------------------
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_simulator_equals_interpreter(data, tmp_path_factory):
    graph, shape = draw_graph(data)
    prepared = TARGET.prepare(graph, {})
    TARGET.check(prepared, {})
    out = tmp_path_factory.mktemp("lynxi")
    TARGET.lower(prepared, out, {})
    x = torch.from_numpy(draw_inputs(data, shape))
    got = TARGET.simulate(out, x)
    expected, trace = interpret(prepared, x, numerics="lynxi", record=True)
    for g, e in zip(got, expected):
        assert g.dtype == e.dtype == torch.float16
        assert g.shape == e.shape
        assert torch.equal(g, e), f"first mismatch at {(g != e).nonzero()[0].tolist()}"
    # every layer's value at every step, not only the outputs (synapse sums, pools, spikes)
    _, layers = run(load(out), x, record=True)
    assert set(layers) == set(trace.values)
    for name, value in trace.values.items():
        assert layers[name].dtype == torch.float16 and torch.equal(layers[name], value), name
    # and an unquantized graph interpreted under lynxi is quantized the same way on the fly
    assert torch.equal(interpret(graph, x, numerics="lynxi")[0], expected[0])
    shutil.rmtree(out)


def test_float16_arithmetic_is_what_runs():
    """A case where float16 and float32 disagree: IF neuron charged by 0.01 per step up to 0.5. In
    float16 0.01 is 0.0099945068359375 and every sum is rounded to 11 bits, so V crosses 0.5 at other
    steps than in float32; the lynxi interpreter and the simulator follow float16."""
    g = Graph()
    g.add_node("x", "Input", shape=(1,))
    g.add_node("n", "Neuron", ["x"], {"v_threshold": np.array(0.5, np.float32), "v_reset": np.array(0.0, np.float32)},
               charge="if")
    g.add_node("y", "Output", ["n"])
    g.verify()
    x = torch.full((120, 1, 1), 0.01)
    f32 = interpret(g, x)[:, 0, 0]
    v16 = np.float16(0)
    expected = []
    for _ in range(120):
        v16 = np.float16(v16 + np.float16(0.01))
        expected.append(1.0 if v16 >= 0.5 else 0.0)
        v16 = np.float16(0) if v16 >= 0.5 else v16
    prepared = TARGET.prepare(g, {})
    lx = interpret(prepared, x, numerics="lynxi")[:, 0, 0]
    assert lx.tolist() == expected
    assert not torch.equal(lx.float(), f32)  # float32 fires at other steps
    import tempfile
    from pathlib import Path
    with tempfile.TemporaryDirectory() as d:
        TARGET.lower(prepared, Path(d), {})
        assert torch.equal(TARGET.simulate(Path(d), x)[:, 0, 0], lx)


# --- an independent executor written from FORMAT.md alone (numpy; nothing of snnc) ---------------------
def _store(acc):  # FORMAT.md: exact sum -> binary32 -> binary16
    return acc.astype(np.float32).astype(np.float16)


def _pad(x, ph, pw, value):
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def _windows(xp, kh, kw, sh, sw, dh, dw, h_out, w_out):
    for u in range(kh):
        for v in range(kw):
            yield u, v, xp[:, :, u * dh:u * dh + sh * (h_out - 1) + 1:sh, v * dw:v * dw + sw * (w_out - 1) + 1:sw]


def np_run(doc, layers, x):
    """Run the pair on x [T, N, ...] following FORMAT.md's 'Running' and 'Arithmetic' sections."""
    x = x.astype(np.float16)
    n = x.shape[1]
    entries = {e["name"]: e for e in doc["state_region"]["entries"]}

    def init_state():
        state = {}
        for name, e in entries.items():
            dtype = {"float16": np.float16, "int32": np.int32}[e["dtype"]]
            init = e["init"]
            fill = init["fill"] if "fill" in init else layers[e["layer"]]["params"][init["param"]]
            state[name] = (np.zeros((n, *e["shape"]), dtype) + np.asarray(fill, dtype)).astype(dtype)
        return state

    state = init_state()
    outs = []
    for t in range(x.shape[0]):
        val = {}
        for layer in doc["layers"]:
            name, kind = layer["name"], layer["type"]
            p = layers[name]["params"]
            a = layer["attrs"]
            xs = [val[s] for s in layer["inputs"]]
            st = {entries[e]["var"]: e for e in layer["state"]}
            if kind == "input":
                y = x[t]
            elif kind == "output":
                y = xs[0]
            elif kind == "linear":
                acc = xs[0].astype(np.float64) @ p["weight"].astype(np.float64).T
                y = _store(acc + p["bias"].astype(np.float64) if "bias" in p else acc)
            elif kind == "conv2d":
                w = p["weight"].astype(np.float64)
                (sh, sw), (ph, pw), (dh, dw), g = a["stride"], a["padding"], a["dilation"], a["groups"]
                h_out, w_out = layer["shape"][1:]
                xp = _pad(xs[0].astype(np.float64), ph, pw, 0.0)
                o, cg = w.shape[0], w.shape[1]
                acc = np.zeros((n, o, h_out, w_out))
                for u, v, patch in _windows(xp, w.shape[2], w.shape[3], sh, sw, dh, dw, h_out, w_out):
                    for gi in range(g):
                        og = o // g
                        acc[:, gi * og:(gi + 1) * og] += np.einsum(
                            "nchw,oc->nohw", patch[:, gi * cg:(gi + 1) * cg], w[gi * og:(gi + 1) * og, :, u, v])
                if "bias" in p:
                    acc += p["bias"].astype(np.float64)[None, :, None, None]
                y = _store(acc)
            elif kind in ("avgpool2d", "sumpool2d", "maxpool2d"):
                (kh, kw), (sh, sw), (ph, pw) = a["kernel"], a["stride"], a["padding"]
                h_out, w_out = layer["shape"][1:]
                if kind == "maxpool2d":
                    xp = _pad(xs[0], ph, pw, -np.inf)
                    y = np.max([win for _, _, win in _windows(xp, kh, kw, sh, sw, 1, 1, h_out, w_out)], axis=0)
                else:
                    xp = _pad(xs[0].astype(np.float64), ph, pw, 0.0)
                    acc = np.sum([win for _, _, win in _windows(xp, kh, kw, sh, sw, 1, 1, h_out, w_out)], axis=0)
                    y = _store(acc / (kh * kw) if kind == "avgpool2d" else acc)
            elif kind == "flatten":
                y = xs[0].reshape(n, -1)
            elif kind == "add":
                y = xs[0]
                for other in xs[1:]:
                    y = y + other
            elif kind == "scale":
                y = xs[0] * p["scale"]
            elif kind == "neuron":
                xin, v, th = xs[0], state[st["v"]], p["v_threshold"]
                d = v - p["v_leak"] if "v_leak" in p else v
                cmp = np.greater_equal if a["compare"] == "ge" else np.greater
                timing, mode, zero = a["reset_timing"], a["reset"], np.float16(0)
                if timing != "immediate":
                    r = state[st["s"]] if timing == "delayed" else cmp(v, th).astype(np.float16)
                    if a["charge"] == "cuba":
                        i = state[st["i"]] * p["alpha"] + xin
                        state[st["i"]] = i
                        m = v * p["beta"] + i
                        h = m - r * th if mode == "subtract" else (np.where(r != 0, zero, m) if mode == "hard" else m)
                    elif mode == "subtract":
                        h = (p["beta"] * v + xin) - r * th
                    elif mode == "hard":
                        h = np.where(r != 0, zero, p["beta"] * v) + xin
                    else:
                        h = p["beta"] * v + xin
                elif a["charge"] == "cuba":
                    i = state[st["i"]] * p["alpha"] + xin
                    state[st["i"]] = i
                    h = v * p["beta"] + i
                elif a["charge"] == "if":
                    h = v + xin
                elif a["charge"] == "lif":
                    h = v + (xin - d) / p["tau"] if a["decay_input"] else (v - d / p["tau"]) + xin
                elif a["charge"] == "plif":
                    h = v + (xin - d) * p["k"] if a["decay_input"] else (v - d * p["k"]) + xin
                else:
                    h = p["beta"] * v + xin
                fired = cmp(h, th)
                y = fired.astype(np.float16)
                if timing == "delayed":
                    state[st["s"]], state[st["v"]] = y, h
                elif timing == "compensated":
                    dd = y - r
                    state[st["v"]] = h - dd * th if mode == "subtract" else \
                        (np.where(dd > 0, zero, np.where(dd < 0, h + h, h)).astype(np.float16) if mode == "hard" else h)
                elif a["reset"] == "hard":
                    state[st["v"]] = np.where(fired, p["v_reset"], h).astype(np.float16)
                elif a["reset"] == "subtract":
                    state[st["v"]] = h - th * y
                else:
                    state[st["v"]] = h
            elif kind == "readout":
                rule = a["rule"]
                if a["output_mode"] == "membrane":
                    mem = state[st["mem"]]
                    mem = p["beta"] * mem + xs[0] if "beta" in p else mem + xs[0]
                    state[st["mem"]] = mem
                    y = mem[:, 1:2] - mem[:, 0:1] if rule == "binary_logit" else \
                        np.argmax(mem, axis=1)[:, None].astype(np.float16)
                else:
                    count = state[st["count"]] + (xs[0] != 0).astype(np.int32)
                    state[st["count"]] = count
                    argmax = np.argmax(count, axis=1)[:, None]
                    if rule == "binary_logit":
                        y = (count[:, 1:2] - count[:, 0:1]).astype(np.float16)
                    elif rule == "argmax_spike_count":
                        y = argmax.astype(np.float16)
                    else:
                        first = state[st["first"]]
                        reached = count >= a["class_threshold"]
                        lowest = np.where(reached.any(axis=1), np.argmax(reached, axis=1), -1)[:, None]
                        first = np.where(first >= 0, first, lowest).astype(np.int32)
                        state[st["first"]] = first
                        y = (first if rule == "first_to_threshold" else np.where(first >= 0, first, argmax))
                        y = y.astype(np.float16)
            else:
                raise AssertionError(kind)
            assert y.dtype == np.float16, (name, y.dtype)
            val[name] = y
        outs.append([val[o] for o in doc["outputs"]])
        if doc["window"] and (t + 1) % doc["window"] == 0:
            state = init_state()
    return [np.stack([o[i] for o in outs]) for i in range(len(doc["outputs"]))]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_reader_from_format_md_reproduces_outputs(data, tmp_path_factory):
    """FORMAT.md is enough: the numpy executor above, given only model.json + model.bin, produces
    the simulator's outputs bit for bit (spike inputs, so every wide sum is exact in float64)."""
    graph, shape = draw_graph(data)
    out = tmp_path_factory.mktemp("lynxi_np")
    TARGET.lower(TARGET.prepare(graph, {}), out, {})
    x = draw_inputs(data, shape, spikes=True)
    doc, layers = read_pair(out)
    mine = np_run(doc, layers, x)
    theirs = TARGET.simulate(out, torch.from_numpy(x))
    for m, s in zip(mine, theirs):
        np.testing.assert_array_equal(m, s.numpy())
        assert m.dtype == np.float16
    shutil.rmtree(out)


def test_describe_and_bad_inputs(artifact):
    text = TARGET.describe(artifact)
    assert "lynxi model v1: 9 layers" in text and "state region 'neuron_state'" in text and "window 4" in text
    with pytest.raises(SnncError, match=r"input must have shape \[T, N, 2, 6, 6\], got \[3, 1, 2, 6\]"):
        TARGET.simulate(artifact, torch.zeros(3, 1, 2, 6))
    with pytest.raises(SnncError, match="at least one time step"):
        TARGET.simulate(artifact, torch.zeros(0, 1, 2, 6, 6))
    with pytest.raises(SnncError, match="NaN or Inf"):
        TARGET.simulate(artifact, torch.full((2, 1, 2, 6, 6), float("nan")))


# heavier variants (pytest -m slow)
@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_simulator_equals_interpreter_many(data, tmp_path_factory):
    test_simulator_equals_interpreter.hypothesis.inner_test(data, tmp_path_factory)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_reader_from_format_md_many(data, tmp_path_factory):
    test_reader_from_format_md_reproduces_outputs.hypothesis.inner_test(data, tmp_path_factory)
