"""No code runs from a model file: a pickle payload that would create a marker file, planted in every
container format snnc reads (``.pt``, ``.pt2`` members, ``.npy`` object arrays, NIR attributes, IR
archives), is refused with one line naming the file, and the marker never appears."""

import io
import json
import os
import zipfile

import numpy as np
import pytest
import torch

import snnc
import snnc.nn as sn
from snnc.ir.errors import SnncError

from support.cli import one_line_error, run_cli
from support.models import small_model


class Payload:
    """Unpickling this runs ``touch MARKER``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _pickled(marker) -> bytes:
    buf = io.BytesIO()
    torch.save({"x": Payload(marker)}, buf)
    return buf.getvalue()


def _export_pt2(path):
    model = torch.nn.Sequential(sn.Linear(6, 4), sn.LIF(tau=2.0))
    sn.set_step_mode(model, "s")
    torch.export.save(torch.export.export(model.eval(), (torch.zeros(1, 6),)), str(path))


def _rewrite(path, replace):
    """Rewrite the zip at ``path``, passing each member through ``replace(name, data) -> data``."""
    with zipfile.ZipFile(path) as zf:
        members = [(i, zf.read(i.filename)) for i in zf.infolist()]
    with zipfile.ZipFile(path, "w") as zf:
        for info, data in members:
            zf.writestr(info, replace(info.filename, data))


def test_pt_payload_refused_without_trust_pickle(work):
    marker = work / "ran"
    torch.save(Payload(marker), work / "evil.pt")
    one_line_error(run_cli("compile", "evil.pt", "--target", "onnx", "-o", "out", cwd=work), "evil.pt",
                   "--trust-pickle")
    assert not marker.exists() and not (work / "out").exists()


def test_pt2_sample_inputs_payload_refused(work):
    _export_pt2(work / "e.pt2")
    assert run_cli("inspect", "e.pt2", cwd=work)[0] == 0  # the untouched program loads
    marker = work / "ran"
    _rewrite(work / "e.pt2", lambda name, data: _pickled(marker) if name.endswith("sample_inputs/model.pt") else data)
    line = one_line_error(run_cli("compile", "e.pt2", "--target", "onnx", "-o", "out", cwd=work),
                          "e.pt2", "sample_inputs/model.pt", "weights_only=False")
    assert "Payload" in line or "system" in line
    assert not marker.exists() and not (work / "out").exists()


def test_pt2_weight_marked_use_pickle_refused(work):
    _export_pt2(work / "e.pt2")
    marker = work / "ran"

    def replace(name, data):
        if name.endswith("_weights_config.json"):
            doc = json.loads(data)
            entry = next(iter(doc["config"].values()))
            entry["use_pickle"] = True
            replace.weight = entry["path_name"]
            return json.dumps(doc).encode()
        return data

    _rewrite(work / "e.pt2", replace)
    _rewrite(work / "e.pt2", lambda name, data: _pickled(marker) if name.endswith("/" + replace.weight) else data)
    with pytest.raises(SnncError, match=replace.weight):
        snnc.load(work / "e.pt2")
    assert not marker.exists()


def test_pt2_unknown_member_refused(work):
    _export_pt2(work / "e.pt2")
    with zipfile.ZipFile(work / "e.pt2", "a") as zf:
        root = zf.namelist()[0].split("/")[0]
        zf.writestr(f"{root}/data/constants/custom_obj_0", b"\x80\x04N.")
    with pytest.raises(SnncError, match="custom_obj_0"):
        snnc.load(work / "e.pt2")


def test_npy_object_array_refused(work):
    marker = work / "ran"
    np.save(work / "evil.npy", np.array([Payload(marker)], dtype=object), allow_pickle=True)
    np.save(work / "sim_x.npy", np.zeros((2, 1, 6), np.float32))
    assert run_cli("compile", "model.pt", "--target", "gpu", "-o", "art", "--input-shape", "6", cwd=work)[0] == 0
    one_line_error(run_cli("simulate", "art", "--inputs", "evil.npy", "-o", "y.npy", cwd=work), "evil.npy", "pickled")
    rc, out, err = run_cli("verify", "model.pt", "--target", "gpu", "--inputs", "evil.npy", "--input-shape", "6",
                           cwd=work)
    one_line_error((rc, out, err), "evil.npy")
    assert not marker.exists() and not (work / "y.npy").exists()


def test_ir_archive_with_pickled_parameter_refused(work):
    marker = work / "ran"
    graph = snnc.trace(small_model(), torch.zeros(1, 1, 6))
    graph.save(work / "g.snnc")
    evil = io.BytesIO()
    np.save(evil, np.array([Payload(marker)], dtype=object), allow_pickle=True)

    def replace(name, data):
        if name == "params/p0.npy":
            return evil.getvalue()
        if name == "graph.json":  # a forger also fixes the recorded digests
            import hashlib
            doc = json.loads(data)
            for node in doc["nodes"]:
                for ref in node["params"].values():
                    if ref["file"] == "params/p0.npy":
                        ref["sha256"] = hashlib.sha256(evil.getvalue()).hexdigest()
            return json.dumps(doc).encode()
        return data

    _rewrite(work / "g.snnc", replace)
    one_line_error(run_cli("inspect", "g.snnc", cwd=work), "p0.npy", "pickled")
    assert not marker.exists()


def test_nir_attribute_with_pickle_bytes_is_only_data(work):
    """h5py never unpickles: a pickle stored as a NIR attribute stays bytes, and the graph still imports."""
    h5py = pytest.importorskip("h5py")
    marker = work / "ran"
    graph = snnc.trace(small_model(), torch.zeros(1, 1, 6))
    snnc.compile(graph, "nir", work / "art", allow_approximate=True)
    path = work / "art" / "model.nir"
    with h5py.File(path, "r+") as f:
        f["node/nodes"][next(iter(f["node/nodes"]))].create_dataset("payload", data=np.void(_pickled(marker)))
    try:
        snnc.load(path)
    except SnncError:
        pass  # refusing the unknown field is fine too; running it is not
    assert not marker.exists()
