"""The compile driver: manifest, inspection copy of the IR, atomic writes, simulate."""

import json

import numpy as np
import pytest
import torch

import snnc
from snnc.ir import SnncError, interpret, load
from snnc.targets import Target

import support.verify_toy_target as toy_target


def test_compile_writes_manifest_ir_and_files(graph, tmp_path):
    out = tmp_path / "art"
    art = snnc.compile(graph, toy_target.make(), out, timesteps=16)
    manifest = json.loads((out / "snnc.json").read_text())
    assert manifest["format"] == "snnc-artifact" and manifest["version"] == 2
    assert manifest["target"] == "toy" and manifest["numerics"] == "float32"
    assert manifest["snnc_version"] == snnc.__version__
    assert manifest["ir_hash"] == graph.content_hash()
    assert manifest["input_shape"] == [6] and manifest["output_shapes"] == [[1]]
    assert manifest["output_kinds"] == ["decisions"]  # the graph ends with its Readout
    assert manifest["timesteps"] == 16 and manifest["window"] == 8
    assert sorted(manifest["files"]) == ["net.json", "weights.bin"]
    assert load(out / "ir").content_hash() == graph.content_hash()
    assert art.size_bytes == sum((out / f).stat().st_size for f in ("net.json", "weights.bin"))
    assert art.changed_files() == []


def test_simulate_runs_the_artifact(graph, tmp_path, monkeypatch):
    target = toy_target.make()
    art = snnc.compile(graph, target, tmp_path / "art")
    x = (torch.rand(16, 3, 6, generator=torch.Generator().manual_seed(0)) < 0.4).float()
    monkeypatch.setattr("snnc.compiler.resolve_target", lambda name: target)
    y = snnc.simulate(tmp_path / "art", x)
    assert torch.equal(y, interpret(graph, x))
    assert torch.equal(art.simulate(x.numpy()), y)
    with pytest.raises(SnncError, match=r"inputs must have shape \[T, N, 6\]"):
        snnc.simulate(art, torch.zeros(4, 1, 5))


def test_window_option_reaches_every_stateful_node(graph, tmp_path):
    art = snnc.compile(graph, toy_target.make(), tmp_path / "art", window=4)
    assert art.manifest["window"] == 4
    assert all(n.attrs["window_size"] == 4 for n in art.graph.nodes if n.stateful)


def test_failed_compile_leaves_nothing_and_keeps_the_old_artifact(graph, tmp_path):
    out = tmp_path / "art"
    snnc.compile(graph, toy_target.make(), out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def bad_lower(g, d, o):
        (d / "half.bin").write_bytes(b"partial")
        raise SnncError("disk full (simulated)")

    broken = Target("toy", "float32", lambda g, o: g, lambda g, o: None, bad_lower, toy_target._simulate_plain)
    with pytest.raises(SnncError, match="disk full"):
        snnc.compile(graph, broken, out, overwrite=True)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    with pytest.raises(SnncError):
        snnc.compile(graph, broken, tmp_path / "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art"]


def test_check_refusal_is_raised_before_anything_is_written(graph, tmp_path):
    def refuse(g, o):
        from snnc.ir import UnsupportedError
        raise UnsupportedError("n2", "too many neurons", target="toy")

    t = Target("toy", "float32", lambda g, o: g, refuse, toy_target._lower, toy_target._simulate_plain)
    with pytest.raises(SnncError, match="toy: node 'n2': too many neurons"):
        snnc.compile(graph, t, tmp_path / "art")
    assert not (tmp_path / "art").exists()


def test_bad_manifest_is_refused(graph, tmp_path):
    out = tmp_path / "art"
    snnc.compile(graph, toy_target.make(), out)
    (out / "snnc.json").write_text("{not json")
    with pytest.raises(SnncError, match="snnc.json: not valid JSON"):
        snnc.Artifact.open(out)
    (out / "snnc.json").write_text(json.dumps({"format": "snnc-artifact", "version": 99}))
    with pytest.raises(SnncError, match="unsupported artifact version 99"):
        snnc.Artifact.open(out)
    with pytest.raises(SnncError, match="missing"):
        snnc.Artifact.open(tmp_path)


def test_inputs_from_npy(graph, tmp_path):
    from snnc.compiler import as_inputs
    x = np.ones((4, 2, 6), np.int8)
    np.save(tmp_path / "x.npy", x)
    assert as_inputs(tmp_path / "x.npy", (6,)).dtype == torch.float32
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(SnncError, match="not a valid .npy"):
        as_inputs(tmp_path / "bad.npy")
    with pytest.raises(SnncError, match="NaN or Inf"):
        as_inputs(np.full((2, 1, 6), np.nan, np.float32), (6,))
