"""Sizes that would need terabytes are refused in well under a second without allocating, naming the
flag or node; messages say what and where; bad values are not accepted silently."""

import time

import h5py
import numpy as np
import pytest
import torch

import snnc
import snnc.nn as sn
from snnc.ir.errors import SnncError

from support.cli import one_line_error, run_cli
from support.models import small_model


def _quick(result, *words):
    line = one_line_error(result, *words)
    assert "memory budget" in line
    return line


def _npy_header_only(path, shape):
    """A ``.npy`` whose header declares ``shape`` (float32) with no data behind it."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": shape})


def test_npy_header_declaring_terabytes(work):
    assert run_cli("compile", "model.pt", "--target", "onnx", "-o", "art", "--input-shape", "6", cwd=work)[0] == 0
    _npy_header_only(work / "bomb.npy", (10**6, 10**6, 6))
    t0 = time.perf_counter()
    with pytest.raises(SnncError, match="bomb.npy.*memory budget"):
        snnc.simulate(work / "art", work / "bomb.npy")
    assert time.perf_counter() - t0 < 1.0
    _quick(run_cli("simulate", "art", "--inputs", "bomb.npy", "-o", "y.npy", cwd=work), "bomb.npy")
    _npy_header_only(work / "short.npy", (4, 1, 6))
    one_line_error(run_cli("simulate", "art", "--inputs", "short.npy", "-o", "y.npy", cwd=work), "short.npy",
                   "truncated")


def test_flags_declaring_terabytes(work):
    _quick(run_cli("compile", "model.pt", "--target", "onnx", "-o", "art", "--input-shape", "6",
                   "--timesteps", str(10**12), cwd=work), "--timesteps")
    _quick(run_cli("verify", "model.pt", "--target", "onnx", "--input-shape", "6", "--samples", str(10**12),
                   cwd=work), "--samples")
    t0 = time.perf_counter()
    with pytest.raises(SnncError, match="--samples"):
        snnc.verify(small_model(), "onnx", example_input=torch.zeros(1, 1, 6), samples=10**12)
    assert time.perf_counter() - t0 < 1.0


def test_nir_dataset_declaring_terabytes(work, tmp_path):
    graph = snnc.trace(small_model(), torch.zeros(1, 1, 6))
    snnc.compile(graph, "nir", tmp_path / "art", allow_approximate=True)
    path = tmp_path / "art" / "model.nir"
    with h5py.File(path, "r+") as f:
        name = next(n for n in f["node/nodes"] if "weight" in f["node/nodes"][n])
        del f[f"node/nodes/{name}/weight"]
        f.create_dataset(f"node/nodes/{name}/weight", shape=(10**7, 10**7), dtype="f4", chunks=(1, 1024))
    t0 = time.perf_counter()
    with pytest.raises(SnncError, match="weight.*memory budget"):
        snnc.load(path)
    assert time.perf_counter() - t0 < 1.0


def test_meta_device_model(work):
    with torch.device("meta"):
        model = torch.nn.Sequential(sn.Linear(6, 3), sn.IF())
    torch.save(model, work / "meta.pt")
    one_line_error(run_cli("compile", "meta.pt", "--target", "onnx", "-o", "art", "--input-shape", "6", cwd=work),
                   "meta.pt", "meta device")


def test_nir_missing_edge_and_unknown_node_named(tmp_path):
    import nir
    shape = np.array([3])
    lif = nir.LIF(tau=np.full(2, 2e-4), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2))
    graph = nir.NIRGraph(nodes={"input": nir.Input(shape), "fc": nir.Affine(np.ones((2, 3)), np.zeros(2)),
                                "lif": lif, "output": nir.Output(np.array([2]))},
                         edges=[("input", "fc"), ("lif", "output")])  # fc -> lif is missing
    nir.write(str(tmp_path / "miss.nir"), graph)
    one_line_error(run_cli("inspect", "miss.nir", cwd=tmp_path), "Input", "lif", "edge is missing")
    with h5py.File(tmp_path / "miss.nir", "r+") as f:
        del f["node/nodes/fc/type"]
        f["node/nodes/fc/type"] = np.bytes_("Quantum")
    one_line_error(run_cli("inspect", "miss.nir", cwd=tmp_path), "miss.nir", "'fc'", "'Quantum'")


def test_values_that_are_not_accepted_silently(work):
    model = small_model()
    model[1].tau = torch.tensor(0.5)  # as a saved model can carry it, past LIF's own check
    torch.save(model, work / "fast.pt")
    one_line_error(run_cli("compile", "fast.pt", "--target", "gpu", "-o", "a1", "--input-shape", "6", cwd=work),
                   "tau", "0.5", "[0, 1]")
    one_line_error(run_cli("compile", "model.pt", "--target", "gpu", "-o", "a2", "--input-shape", "1,,2", cwd=work),
                   "--input-shape", "1,,2")
    (work / "snnc.toml").write_text("[target.nir]\ndtt = 1e-4\n")
    one_line_error(run_cli("compile", "model.pt", "--target", "nir", "-o", "a3", "--input-shape", "6",
                           "--config", "snnc.toml", cwd=work), "dtt", "allow_approximate", "dt")
    one_line_error(run_cli("verify", "model.pt", "--target", "gpu", "--input-shape", "6", "--window", "100",
                           "--timesteps", "4", cwd=work), "--window 100", "--timesteps 4")
    np.save(work / "complex.npy", np.ones((4, 1, 6), np.complex64))
    assert run_cli("compile", "model.pt", "--target", "gpu", "-o", "a4", "--input-shape", "6", cwd=work)[0] == 0
    one_line_error(run_cli("simulate", "a4", "--inputs", "complex.npy", "-o", "y.npy", cwd=work), "complex")
    with pytest.raises(SnncError, match="complex"):
        snnc.simulate(work / "a4", torch.ones(4, 1, 6, dtype=torch.complex64))
    assert sorted(p.name for p in work.iterdir() if p.name.startswith(("a", "."))) == ["a4"]


def test_missing_plotting_package_keeps_the_verdict(work):
    blocker = work / "block"
    blocker.mkdir()
    (blocker / "matplotlib.py").write_text("raise ModuleNotFoundError(\"No module named 'matplotlib'\", "
                                           "name='matplotlib')\n")
    rc, out, err = run_cli("verify", "model.pt", "--target", "gpu", "--input-shape", "6", "--plots", "plots",
                           cwd=work, env={"PYTHONPATH": str(blocker)})
    assert rc == 0 and "bit-exact" in out, (rc, out, err)
    assert err.strip().splitlines() == ["snnc verify: no plots written: matplotlib is not installed "
                                        "(pip install 'snnc[plots]')"]
    assert not (work / "plots").exists()


@pytest.mark.parametrize("trust", [False, True])
def test_a_file_that_is_no_torch_save_says_so(work, trust):
    (work / "garbage.pt").write_bytes(bytes(range(7, 200)))
    (work / "notes.pt").write_text("hello")
    flags = ["--trust-pickle"] if trust else []
    for name in ("garbage.pt", "notes.pt"):
        line = one_line_error(run_cli("inspect", name, "--input-shape", "6", *flags, cwd=work), name,
                              "not a torch.save file")
        assert "unpickle" not in line
