"""save → load gives the same graph (hash, interpretation); damaged files are refused with a message
naming the file and node, and loading never runs code."""

import hashlib
import io
import json
import os
import pickle
import zipfile

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import snnc
from support.netspec import build, inputs, specs
from snnc.ir import Graph, GraphError, SnncError, interpret, load


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(specs(), st.booleans())
def test_roundtrip_same_hash_and_outputs(tmp_path_factory, spec, archive):
    _, graph = build(spec)
    graph.nodes[-2].quant = {"formats": {"v": {"width": 16, "int": 6}}, "scale": np.float32(0.5), "tag": (1, 2)}
    graph.metadata = {"source": "test", "input_shape": list(spec["input"])}
    path = tmp_path_factory.mktemp("g") / ("net.snnc" if archive else "net")
    graph.save(path)
    loaded = snnc.load(path)
    assert loaded.content_hash() == graph.content_hash()
    assert [n.shape for n in loaded.nodes] == [n.shape for n in graph.nodes]
    assert loaded.metadata == graph.metadata
    for a, b in zip(graph.nodes, loaded.nodes):
        assert a.attrs == b.attrs and a.params.keys() == b.params.keys()
        for k in a.params:
            assert a.params[k].dtype == b.params[k].dtype and np.array_equal(a.params[k], b.params[k])
    x = inputs(spec)
    assert torch.equal(interpret(graph, x), interpret(loaded, x))
    # saving the loaded graph again gives identical bytes for graph.json
    path2 = path.parent / ("again.snnc" if archive else "again")
    loaded.save(path2)
    read = (lambda p: zipfile.ZipFile(p).read("graph.json")) if archive else (lambda p: (p / "graph.json").read_bytes())
    assert read(path) == read(path2)


def test_hash_is_stable_and_sensitive():
    spec = {"input": (3,), "seed": 1, "window": 0,
            "layers": [{"op": "linear", "out": 2, "bias": True},
                       {"op": "neuron", "kind": "IF", "v_reset": 0.0, "v_threshold": 1.0, "per_neuron_threshold": False}]}
    _, g1 = build(spec)
    _, g2 = build(spec)
    assert g1.content_hash() == g2.content_hash()
    g2.nodes[1].params["weight"] = g2.nodes[1].params["weight"].copy()
    g2.nodes[1].params["weight"][0, 0] += 1e-7
    assert g1.content_hash() != g2.content_hash()
    _, g3 = build(spec)
    g3.nodes[2].attrs["compare"] = "gt"
    assert g1.content_hash() != g3.content_hash()
    _, g4 = build(spec)
    g4.metadata["note"] = "metadata is not part of the hash"
    assert g1.content_hash() == g4.content_hash()
    _, g5 = build(spec)
    g5.nodes[1].params["weight"] = g5.nodes[1].params["weight"].astype(np.float64)
    assert g1.content_hash() != g5.content_hash()


def _graph():
    g = Graph()
    g.add_node("x", "Input", shape=(4,))
    g.add_node("fc", "Linear", ["x"], {"weight": np.arange(12, dtype=np.float32).reshape(3, 4) / 10,
                                       "bias": np.zeros(3, np.float32)})
    g.add_node("n", "Neuron", ["fc"], {"v_threshold": np.array(1.0, np.float32), "v_reset": np.array(0.0, np.float32)},
               charge="if")
    g.add_node("y", "Output", ["n"])
    return g.verify()


def _edit(path, fn):
    doc = json.loads((path / "graph.json").read_text())
    fn(doc)
    (path / "graph.json").write_text(json.dumps(doc))


def _param_file(path, node, key):
    doc = json.loads((path / "graph.json").read_text())
    entry = next(e for e in doc["nodes"] if e["name"] == node)
    return path / entry["params"][key]["file"]


@pytest.mark.parametrize("damage, message", [
    (lambda d: d.update(version=2), "unsupported IR version 2"),
    (lambda d: d.update(version="1"), "unsupported IR version '1'"),
    (lambda d: d.update(format="onnx"), "not an snnc IR graph"),
    (lambda d: d["nodes"][1].update(op="Dense"), "node 'fc'.*unknown op 'Dense'"),
    (lambda d: d["nodes"][2]["attrs"].update(charge="izhikevich"), "node 'n'.*attribute 'charge' must be one of"),
    (lambda d: d["nodes"][2]["attrs"].update(window_size=True), "node 'n'.*attribute 'window_size' must be int"),
    (lambda d: d["nodes"][2]["attrs"].update(colour=1), "node 'n'.*no attribute"),
    (lambda d: d["nodes"][1].update(shape=[4]), "node 'fc'.*saved per-step shape \\[4\\] does not match"),
    (lambda d: d["nodes"][1]["params"]["weight"].update(shape=[4, 3]), "node 'fc'.*has shape \\(3, 4\\), graph.json says"),
    (lambda d: d["nodes"][1]["params"]["weight"].update(file="../../etc/passwd"), "node 'fc'.*bad file reference"),
    (lambda d: d["nodes"][1]["params"]["weight"].update(file="params/p99.npy"), "missing 'params/p99.npy'"),
    (lambda d: d["nodes"][1].update(inputs=["nope"]), "node 'fc'.*input 'nope' is not an earlier node"),
    (lambda d: d["nodes"][1].update(extra=1), "node 'fc'.*unknown node field"),
    (lambda d: d["nodes"][1]["attrs"].update(), None),
    (lambda d: d.update(hash="0" * 64), "content hash mismatch"),
])
def test_load_rejects_damaged_json(tmp_path, damage, message):
    path = tmp_path / "g"
    _graph().save(path)
    _edit(path, damage)
    if message is None:
        load(path)
        return
    with pytest.raises(SnncError, match=message):
        load(path)


def test_load_rejects_shape_mismatch_of_parameter(tmp_path):
    """A weight whose file and record agree but which no longer fits the op."""
    path = tmp_path / "g"
    _graph().save(path)
    f = _param_file(path, "fc", "weight")
    data = io.BytesIO()
    np.save(data, np.zeros((3, 5), np.float32))
    f.write_bytes(data.getvalue())

    def fix(doc):
        ref = doc["nodes"][1]["params"]["weight"]
        ref.update(shape=[3, 5], sha256=hashlib.sha256(data.getvalue()).hexdigest())
        doc.pop("hash")
    _edit(path, fix)
    with pytest.raises(GraphError, match=r"node 'fc': Linear expects input of shape \(5,\), got \(4,\)"):
        load(path)


@pytest.mark.parametrize("array, message", [
    (np.zeros((3, 4), np.complex64), "unsupported dtype complex64"),
    (np.array(["a", "b"]), "unsupported dtype"),
])
def test_load_rejects_bad_dtype(tmp_path, array, message):
    path = tmp_path / "g"
    _graph().save(path)
    data = io.BytesIO()
    np.save(data, array)
    _param_file(path, "fc", "weight").write_bytes(data.getvalue())
    _edit(path, lambda d: (d["nodes"][1]["params"]["weight"].pop("sha256"), d.pop("hash")))
    with pytest.raises(GraphError, match=f"node 'fc'.*{message}"):
        load(path)


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch BOOM_SNNC_TEST",))


def test_load_never_unpickles(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "g"
    _graph().save(path)
    data = io.BytesIO()
    np.save(data, np.array([_Boom()], dtype=object), allow_pickle=True)
    _param_file(path, "fc", "weight").write_bytes(data.getvalue())
    _edit(path, lambda d: (d["nodes"][1]["params"]["weight"].pop("sha256"), d.pop("hash")))
    with pytest.raises(GraphError, match="node 'fc'.*not a valid .npy array"):
        load(path)
    assert not (tmp_path / "BOOM_SNNC_TEST").exists()
    # a pickle in place of graph.json is just invalid JSON
    (path / "graph.json").write_bytes(pickle.dumps(_Boom()))
    with pytest.raises(SnncError, match="not valid JSON"):
        load(path)
    assert not (tmp_path / "BOOM_SNNC_TEST").exists()


def test_load_rejects_corrupt_and_truncated_files(tmp_path):
    path = tmp_path / "g"
    _graph().save(path)
    f = _param_file(path, "fc", "weight")
    raw = bytearray(f.read_bytes())
    raw[-1] ^= 0x40  # one flipped bit in the data
    f.write_bytes(bytes(raw))
    with pytest.raises(GraphError, match="node 'fc'.*corrupt \\(SHA-256"):
        load(path)
    f.write_bytes(bytes(raw[:-8]))
    _edit(path, lambda d: d["nodes"][1]["params"]["weight"].pop("sha256"))
    with pytest.raises(GraphError, match="node 'fc'.*not a valid .npy array"):
        load(path)
    (path / "graph.json").write_text((path / "graph.json").read_text()[:50])
    with pytest.raises(SnncError, match="not valid JSON"):
        load(path)
    (path / "graph.json").unlink()
    with pytest.raises(SnncError, match="missing 'graph.json'"):
        load(path)


def test_load_rejects_truncated_and_corrupt_archive(tmp_path):
    path = tmp_path / "g.snnc"
    _graph().save(path)
    raw = path.read_bytes()
    (tmp_path / "cut.snnc").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(SnncError, match="cut.snnc"):
        load(tmp_path / "cut.snnc")
    # flip a byte inside the stored (deflated) graph.json: zip's CRC or our checks refuse it
    info = zipfile.ZipFile(path).getinfo("graph.json")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 5
    bad = bytearray(raw)
    bad[start] ^= 0xFF
    (tmp_path / "bad.snnc").write_bytes(bytes(bad))
    with pytest.raises(SnncError):
        load(tmp_path / "bad.snnc")
    (tmp_path / "empty.snnc").write_bytes(b"")
    with pytest.raises(SnncError, match="not a saved snnc graph"):
        load(tmp_path / "empty.snnc")
    with pytest.raises(SnncError, match="no such file"):
        load(tmp_path / "absent")


def test_save_is_atomic_and_refuses_unstorable(tmp_path):
    g = _graph()
    path = tmp_path / "g"
    g.save(path)
    before = (path / "graph.json").read_bytes()
    g.nodes[2].quant = {"bad": object()}
    with pytest.raises(GraphError, match="node 'n'.*cannot be stored"):
        g.save(path)
    assert (path / "graph.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g"]
