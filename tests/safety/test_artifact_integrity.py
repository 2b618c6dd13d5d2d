"""An artifact is data: an edit of any of its files makes ``simulate`` and ``verify --artifact`` refuse
before anything of it is built or run, and nothing in it (flags, paths, code) ever reaches a compiler."""

import json
import hashlib
import warnings

import pytest
import torch

import snnc
from snnc.compiler import ArtifactChangedWarning
from snnc.ir.errors import SnncError

from support.cli import one_line_error, run_cli
from snnc.targets import NAMES
from support.models import small_model

X = (torch.rand(8, 2, 6, generator=torch.Generator().manual_seed(1)) < 0.4).float()


def _compile(target, out):
    options = {"allow_approximate": True} if target == "nir" else {}
    return snnc.compile(small_model(), target, out, example_input=X, **options)


def _flip_middle_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _resign(art_dir, rel):
    """What a forger does next: record the edited file's new SHA-256 in snnc.json."""
    manifest = json.loads((art_dir / "snnc.json").read_text())
    manifest["files"][rel] = hashlib.sha256((art_dir / rel).read_bytes()).hexdigest()
    (art_dir / "snnc.json").write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    root = tmp_path_factory.mktemp("artifacts")
    return {t: _compile(t, root / t).path for t in NAMES}


@pytest.mark.parametrize("target", NAMES)
def test_every_edited_file_is_refused_by_simulate(artifacts, target, tmp_path):
    import shutil
    art = snnc.compiler.Artifact.open(artifacts[target])
    assert torch.equal(torch.as_tensor(snnc.simulate(art, X)).float(),
                       torch.as_tensor(snnc.simulate(art, X)).float())  # the untouched artifact runs
    for rel in art.manifest["files"]:
        copy = tmp_path / rel.replace("/", "_")
        shutil.copytree(art.path, copy)
        _flip_middle_byte(copy / rel)
        with pytest.raises(SnncError, match=f"{rel}.*changed since compile.*refusing to run"):
            snnc.simulate(copy, X)
        with pytest.warns(ArtifactChangedWarning, match=rel):  # run anyway only when asked, loudly
            try:
                snnc.simulate(copy, X, allow_changed=True)
            except SnncError:
                pass  # a damaged file may not load at all: then it says so
        (copy / "notes.txt").write_text("added by hand")
        with pytest.raises(SnncError, match="notes.txt"):
            snnc.simulate(copy, X)


@pytest.mark.parametrize("target", NAMES)
def test_verify_artifact_refuses_an_edited_artifact_without_running_it(artifacts, target, tmp_path, monkeypatch):
    import shutil
    copy = tmp_path / "art"
    shutil.copytree(artifacts[target], copy)
    manifest = json.loads((copy / "snnc.json").read_text())
    rel = max(manifest["files"], key=lambda f: (copy / f).stat().st_size)  # the file holding the weights
    _flip_middle_byte(copy / rel)
    ran = []
    tgt = snnc.compiler.resolve_target(target)
    monkeypatch.setattr(type(tgt), "simulate", property(lambda self: lambda *a, **k: ran.append(a)), raising=False)
    report = snnc.verify(small_model(), target, X, artifact=copy, example_input=X,
                         **({"allow_approximate": True} if target == "nir" else {}))
    assert not report.ok and report.exit_code == 1
    assert rel in report.differs_from_fresh and report.layers == [] and ran == []
    assert "not run" in report.summary()


def test_cli_simulate_and_verify_refuse_an_edited_artifact(work):
    assert run_cli("compile", "model.pt", "--target", "onnx", "-o", "art", "--input-shape", "6", cwd=work)[0] == 0
    _flip_middle_byte(work / "art" / "model.onnx")
    one_line_error(run_cli("simulate", "art", "--inputs", "x.npy", "-o", "y.npy", cwd=work), "model.onnx",
                   "changed since compile", "--allow-changed")
    assert not (work / "y.npy").exists()
    rc, out, err = run_cli("verify", "model.pt", "--target", "onnx", "--artifact", "art", "--input-shape", "6",
                           "--inputs", "x.npy", cwd=work)
    assert rc == 1 and "model.onnx" in out and "not run" in out, (rc, out, err)


def _hls_copy(artifacts, tmp_path):
    import shutil
    copy = tmp_path / "art"
    shutil.copytree(artifacts["hls"], copy)
    return copy


def test_hls_code_injected_and_resigned_is_never_built_by_verify(artifacts, tmp_path, monkeypatch):
    monkeypatch.setenv("SNNC_CACHE", str(tmp_path / "cache"))
    copy = _hls_copy(artifacts, tmp_path)
    marker = tmp_path / "ran"
    top = copy / "firmware" / "snnc_top.cpp"
    top.write_text(f'#include <cstdlib>\nstatic int injected = std::system("touch {marker}");\n' + top.read_text())
    with pytest.raises(SnncError, match="snnc_top.cpp"):
        snnc.simulate(copy, X)
    report = snnc.verify(small_model(), "hls", X, artifact=copy, example_input=X)
    assert not report.ok and report.layers == [] and not marker.exists()
    _resign(copy, "firmware/snnc_top.cpp")  # the manifest now agrees with the edit:
    report = snnc.verify(small_model(), "hls", X, artifact=copy, example_input=X)  # a fresh lowering does not
    assert not report.ok and "firmware/snnc_top.cpp" in report.differs_from_fresh and report.layers == []
    assert not marker.exists() and not (tmp_path / "cache").exists()  # nothing was compiled


def test_hls_flags_never_come_from_the_artifact(artifacts, tmp_path, monkeypatch):
    monkeypatch.setenv("SNNC_CACHE", str(tmp_path / "cache"))
    copy = _hls_copy(artifacts, tmp_path)
    marker = tmp_path / "ran"
    model = json.loads((copy / "model.json").read_text())
    model["cxxflags"] += f" -wrapper /bin/sh,-c,touch\\ {marker}"
    model["sources"] = ["/etc/hostname"]
    (copy / "model.json").write_text(json.dumps(model))
    with pytest.raises(SnncError, match="model.json"):
        snnc.simulate(copy, X)
    _resign(copy, "model.json")  # even a consistent manifest cannot pass flags or sources to the compiler
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = snnc.simulate(copy, X)
    assert torch.equal(torch.as_tensor(y), torch.as_tensor(snnc.simulate(artifacts["hls"], X)))
    assert not marker.exists()
