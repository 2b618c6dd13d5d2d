"""The ``snnc`` command end to end, each call a real subprocess (``python -m snnc``): compile, simulate,
verify (fresh, --artifact, a tampered artifact), inspect (model, artifact), --config, and bad input:
exit 2 with exactly one line on stderr, no traceback, no output left behind."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

import snnc.nn as sn
from support.cli import one_line_error, run_cli

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 12), sn.LIF(tau=2.0, v_threshold=0.5), nn.Linear(12, 4),
                          sn.IF(v_threshold=0.5))
    with torch.no_grad():
        model[1].bias.fill_(0.3)
    torch.save(model, d / "model.pt")
    torch.save(nn.Sequential(nn.Flatten(), nn.Linear(16, 4), nn.Tanh(), sn.IF()), d / "unsupported.pt")
    data = (d / "model.pt").read_bytes()
    (d / "truncated.pt").write_bytes(data[: len(data) // 3])
    (d / "foreign.pt").write_bytes(b"")  # replaced below by a pickle of a class in a user module
    (d / "usermod.py").write_text("import torch\nclass Net(torch.nn.Sequential):\n    pass\n")
    code = ("import sys, torch, snnc.nn as sn; sys.path.insert(0, '.'); import usermod; "
            "torch.save(usermod.Net(torch.nn.Flatten(), torch.nn.Linear(16, 4), sn.IF()), 'foreign.pt')")
    subprocess.run([sys.executable, "-c", code], cwd=d, check=True)
    rng = np.random.default_rng(0)
    np.save(d / "x.npy", (rng.random((24, 2, 1, 4, 4)) < 0.5).astype(np.float32))
    np.save(d / "wrong.npy", np.zeros((24, 2, 3, 3), np.float32))
    snn = pytest.importorskip("snntorch")
    pytest.importorskip("nirtorch")
    from snntorch.export_nir import export_to_nir
    import nir
    leaky = nn.Sequential(nn.Linear(16, 5), snn.Leaky(beta=torch.full((5,), 0.9), threshold=torch.full((5,), 0.5),
                                                       init_hidden=True, reset_mechanism="zero"))
    nir.write(str(d / "snntorch.nir"), export_to_nir(leaky, torch.randn(16)))
    np.save(d / "x16.npy", np.random.default_rng(1).random((10, 2, 16)).astype(np.float32))
    (d / "snnc.toml").write_text("window = 8\ninput_shape = [1, 4, 4]\n[target.nir]\ndt = 0.001\n")
    return d


def test_compile_simulate_verify_inspect(work):
    rc, out, err = run_cli("compile", "model.pt", "--target", "onnx", "-o", "art", "--input-shape", "1,4,4", cwd=work)
    assert rc == 0, err
    manifest = json.loads((work / "art" / "snnc.json").read_text())
    assert manifest["target"] == "onnx" and manifest["input_shape"] == [1, 4, 4]

    rc, out, err = run_cli("simulate", "art", "--inputs", "x.npy", "-o", "y.npy", cwd=work)
    assert rc == 0, err
    y = np.load(work / "y.npy")
    import snnc
    g = snnc.load(work / "model.pt", input_shape=(1, 4, 4))
    ref = snnc.ir.interpret(g, torch.as_tensor(np.load(work / "x.npy"))).numpy()
    assert y.shape == (24, 2, 4) and np.array_equal(y, ref) and y.sum() > 0

    rc, out, err = run_cli("verify", "model.pt", "--target", "onnx", "--artifact", "art", "--samples", "2", "--seed", "3",
                       "--report", "report.json", "--input-shape", "1,4,4", cwd=work)
    assert rc == 0, out + err
    assert "bit-exact" in out and json.loads((work / "report.json").read_text())["ok"] is True

    rc, out, err = run_cli("inspect", "model.pt", "--input-shape", "1,4,4", cwd=work)
    assert rc == 0, err
    assert "synops/step" in out and "Neuron(lif,ge,hard)" in out and "192" in out  # 16·12 synapses
    rc, out, err = run_cli("inspect", "art", cwd=work)
    assert rc == 0 and out.startswith("art: snnc onnx artifact") and "--- onnx describe ---" in out, err


def test_verify_detects_tampered_artifact(work):
    rc, _, err = run_cli("compile", "model.pt", "--target", "nir", "-o", "nirart", "--config", "snnc.toml",
                     "--allow-approximate", cwd=work)
    assert rc == 0, err
    import nir
    f = work / "nirart" / "model.nir"
    g = nir.read(str(f))
    g.nodes["3"].weight = g.nodes["3"].weight * 3.0  # tamper with one layer's weights
    nir.write(str(f), g)
    rc, out, err = run_cli("verify", "model.pt", "--target", "nir", "--artifact", "nirart", "--inputs", "x.npy",
                       "--config", "snnc.toml", "--allow-approximate", cwd=work)
    assert rc == 1, out + err
    assert "MISMATCH" in out


def test_bad_inputs_exit_2_one_line_nothing_left(work):
    before = set(p.name for p in work.iterdir())
    one_line_error(run_cli("compile", "missing.pt", "--target", "onnx", "-o", "o1", cwd=work), "missing.pt", "no such file")
    one_line_error(run_cli("compile", "truncated.pt", "--target", "onnx", "-o", "o2", "--input-shape", "1,4,4", cwd=work),
                   "truncated.pt", "truncated or corrupt")
    one_line_error(run_cli("compile", "unsupported.pt", "--target", "onnx", "-o", "o4", "--input-shape", "1,4,4", cwd=work),
                   "node '2'", "Tanh", "supported")
    one_line_error(run_cli("compile", "foreign.pt", "--target", "onnx", "-o", "o5", "--input-shape", "1,4,4", cwd=work),
                   "usermod.Net", "--trust-pickle")
    one_line_error(run_cli("compile", "model.pt", "--target", "nir", "-o", "o6", "--input-shape", "1,4,4",
                           "--dt", "0", cwd=work), "--dt must be > 0")
    one_line_error(run_cli("simulate", "art_missing", "--inputs", "x.npy", "-o", "y2.npy", cwd=work), "art_missing")
    one_line_error(run_cli("compile", "model.pt", "--target", "nosuch", "-o", "o7", cwd=work), "--target", "invalid choice")
    one_line_error(run_cli("compile", "model.pt", "--target", "onnx", "-o", "x.npy", "--input-shape", "1,4,4", cwd=work),
                   "x.npy", "not an snnc artifact")
    assert set(p.name for p in work.iterdir()) == before  # no output directory or file left behind
    rc, _, err = run_cli("compile", "missing.pt", "--target", "onnx", "-o", "o1", "--debug", cwd=work)
    assert rc != 0 and "Traceback" in err  # --debug shows it


def test_wrong_shape_and_trusted_pickle(work):
    if not (work / "art").is_dir():
        rc, _, err = run_cli("compile", "model.pt", "--target", "onnx", "-o", "art", "--input-shape", "1,4,4", cwd=work)
        assert rc == 0, err
    one_line_error(run_cli("simulate", "art", "--inputs", "wrong.npy", "-o", "y3.npy", cwd=work), "shape")
    assert not (work / "y3.npy").exists()
    rc, out, err = run_cli("inspect", "foreign.pt", "--input-shape", "1,4,4", "--trust-pickle", "--module", "usermod",
                       cwd=work)
    assert rc == 0 and "Linear" in out, err


def test_nir_model_file(work):
    """A .nir MODEL written by snnTorch's export_to_nir: compile to another target and verify."""
    rc, out, err = run_cli("verify", "snntorch.nir", "--target", "onnx", "--inputs", "x16.npy", "--dt", "1e-4", cwd=work)
    assert rc == 0 and "bit-exact" in out, out + err
