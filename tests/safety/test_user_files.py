"""No user file is lost: every writer (compile, simulate, verify's report/junit/plots, ``snnc.ir.save``,
CLI and API) writes whole or not at all, and only where nothing of the user's stands; replacing
snnc's own output needs --force / overwrite=True. Interrupted and failing writes leave nothing; the
results have the permissions the umask gives."""

import os
import resource
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import snnc
from snnc.ir.errors import SnncError

from support.cli import one_line_error, run_cli
from support.models import small_model

X = (torch.rand(8, 2, 6, generator=torch.Generator().manual_seed(1)) < 0.4).float()


def _user_dir(path):
    path.mkdir()
    (path / "thesis.tex").write_text("three years of work")
    (path / "data").mkdir()
    (path / "data" / "run1.csv").write_text("1,2,3")
    return {p.relative_to(path): p.read_bytes() for p in path.rglob("*") if p.is_file()}


def _unchanged(path, before):
    return {p.relative_to(path): p.read_bytes() for p in path.rglob("*") if p.is_file()} == before


def _leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def test_cli_writers_never_replace_a_users_directory(work):
    before = _user_dir(work / "results")
    assert run_cli("compile", "model.pt", "--target", "gpu", "-o", "art", "--input-shape", "6", cwd=work)[0] == 0
    one_line_error(run_cli("simulate", "art", "--inputs", "x.npy", "-o", "results", cwd=work), "results",
                   "is a directory")
    one_line_error(run_cli("simulate", "art", "--inputs", "x.npy", "-o", "results", "--force", cwd=work), "results")
    one_line_error(run_cli("compile", "model.pt", "--target", "gpu", "-o", "results", "--input-shape", "6",
                           "--force", cwd=work), "results", "thesis.tex")
    for flag in ("--report", "--junit"):
        one_line_error(run_cli("verify", "model.pt", "--target", "gpu", "--input-shape", "6", flag, "results",
                               cwd=work), "results", "is a directory")
    one_line_error(run_cli("verify", "model.pt", "--target", "gpu", "--input-shape", "6", "--plots", "results",
                           "--force", cwd=work), "results", "thesis.tex")
    assert _unchanged(work / "results", before) and _leftovers(work) == []


def test_existing_outputs_are_replaced_only_with_force(work):
    args = ("compile", "model.pt", "--target", "lynxi", "-o", "art", "--input-shape", "6")
    assert run_cli(*args, cwd=work)[0] == 0
    one_line_error(run_cli(*args, cwd=work), "art", "--force")
    assert run_cli(*args, "--force", cwd=work)[0] == 0
    (work / "art" / "notes.txt").write_text("mine")
    one_line_error(run_cli(*args, "--force", cwd=work), "art", "notes.txt")
    assert (work / "art" / "notes.txt").read_text() == "mine"
    (work / "art" / "notes.txt").unlink()
    assert run_cli("simulate", "art", "--inputs", "x.npy", "-o", "y.npy", cwd=work)[0] == 0
    np.save(work / "y.npy", np.arange(3))  # the user's own array now
    one_line_error(run_cli("simulate", "art", "--inputs", "x.npy", "-o", "y.npy", cwd=work), "y.npy", "--force")
    assert np.array_equal(np.load(work / "y.npy"), np.arange(3))
    assert run_cli("simulate", "art", "--inputs", "x.npy", "-o", "y.npy", "--force", cwd=work)[0] == 0
    assert np.load(work / "y.npy").shape[:2] == (8, 2)
    verify = ("verify", "model.pt", "--target", "lynxi", "--input-shape", "6", "--report", "r.json")
    assert run_cli(*verify, cwd=work)[0] == 0
    one_line_error(run_cli(*verify, cwd=work), "r.json", "--force")
    assert run_cli(*verify, "--force", cwd=work)[0] == 0
    assert _leftovers(work) == []


def test_api_writers_never_replace_a_users_directory(tmp_path):
    graph = snnc.trace(small_model(), X)
    before = _user_dir(tmp_path / "proj")
    for write in (lambda: snnc.compile(graph, "gpu", tmp_path / "proj"),
                  lambda: snnc.compile(graph, "gpu", tmp_path / "proj", overwrite=True),
                  lambda: snnc.ir.save(graph, tmp_path / "proj"),
                  lambda: graph.save(tmp_path / "proj", overwrite=True),
                  lambda: snnc.verify(graph, "gpu", X).plot(tmp_path / "proj", overwrite=True),
                  lambda: snnc.verify(graph, "gpu", X).to_json(tmp_path / "proj" / "thesis.tex")):
        with pytest.raises(SnncError, match="proj"):
            write()
    assert _unchanged(tmp_path / "proj", before)
    graph.save(tmp_path / "g")
    with pytest.raises(SnncError, match="overwrite"):
        graph.save(tmp_path / "g")
    graph.save(tmp_path / "g", overwrite=True)
    assert snnc.load(tmp_path / "g").content_hash() == graph.content_hash()
    (tmp_path / "empty").mkdir()
    snnc.compile(graph, "gpu", tmp_path / "empty")  # an empty directory is free to use
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_artifacts_honour_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        art = snnc.compile(snnc.trace(small_model(), X), "onnx", tmp_path / "art")
        snnc.trace(small_model(), X).save(tmp_path / "g.snnc")
    finally:
        os.umask(old)
    assert stat.S_IMODE(art.path.stat().st_mode) == 0o777 & ~umask
    for path in art.path.rglob("*"):
        expected = (0o777 if path.is_dir() else 0o666) & ~umask
        assert stat.S_IMODE(path.stat().st_mode) == expected, path
    assert stat.S_IMODE((tmp_path / "g.snnc").stat().st_mode) == 0o666 & ~umask


def test_sigterm_mid_compile_leaves_nothing(work):
    """A real ``snnc compile`` subprocess, terminated as soon as its temporary output appears."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.Popen([sys.executable, "-m", "snnc", "compile", "model.pt", "--target", "gpu", "-o", "art",
                             "--input-shape", "6"], cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not _leftovers(work) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    assert _leftovers(work), "the compile finished before its temporary output was seen"
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    assert _leftovers(work) == [] and not (work / "art").exists()


def _limit_file_size():  # in the child: writes past 16 KiB fail with EFBIG, like a full disk
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 10, 16 << 10))


def test_a_failing_write_is_bad_input_and_leaves_nothing(work):
    rc, out, err = run_cli("compile", "model.pt", "--target", "gpu", "-o", "art", "--input-shape", "6", cwd=work,
                           preexec_fn=_limit_file_size)
    one_line_error((rc, out, err), "File too large")
    assert _leftovers(work) == [] and not (work / "art").exists()


def test_unwritable_places_are_bad_input(work):
    (work / "afile").write_text("x")
    one_line_error(run_cli("compile", "model.pt", "--target", "onnx", "-o", "afile/out", "--input-shape", "6",
                           cwd=work), "afile")
    one_line_error(run_cli("compile", "model.pt", "--target", "onnx", "-o", "/proc/snnc-out", "--input-shape", "6",
                           cwd=work), "/proc")
    one_line_error(run_cli("verify", "model.pt", "--target", "onnx", "--input-shape", "6", "--report",
                           "/proc/r.json", cwd=work), "/proc")
