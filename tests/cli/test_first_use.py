"""First use as a researcher runs it: the per-step input shape inferred from the model's first layer
(and what is missing said exactly when the model does not determine it)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

import snnc
import snnc.nn as sn
from snnc.frontend.input_shape import resolve_input_shape
from snnc.ir.errors import SnncError
from support.cli import one_line_error, run_cli

pytestmark = pytest.mark.filterwarnings("ignore")


class FlattenFirst(nn.Module):
    """A user's own ``forward``: flatten, then the first Linear."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(12, 3)
        self.lif = sn.LIF(tau=2.0)

    def forward(self, x):
        return self.lif(self.fc(torch.flatten(x, 1)))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("first_use")
    torch.manual_seed(0)
    torch.save(nn.Sequential(nn.Linear(64, 16), sn.LIF(tau=2.0), nn.Linear(16, 4), sn.LIF(tau=2.0)), d / "mlp.pt")
    torch.save(nn.Sequential(nn.Conv2d(2, 4, 3), sn.IF(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3), sn.IF()),
               d / "conv.pt")
    np.save(d / "x_conv.npy", (np.random.default_rng(0).random((6, 2, 2, 6, 6)) < 0.3).astype(np.float32))
    return d


def test_linear_first_needs_no_input_shape(models):
    rc, out, err = run_cli("inspect", "mlp.pt", cwd=models)
    assert rc == 0, err
    assert "input [64]" in out.splitlines()[0]
    rc, out, err = run_cli("compile", "mlp.pt", "--target", "onnx", "-o", "mlp_onnx", cwd=models)
    assert rc == 0, err
    assert json.loads((models / "mlp_onnx" / "snnc.json").read_text())["input_shape"] == [64]
    rc, out, err = run_cli("verify", "mlp.pt", "--target", "onnx", "--artifact", "mlp_onnx", cwd=models)
    assert rc == 0 and "bit-exact" in out, out + err


def test_conv_first_needs_only_height_and_width(models):
    line = one_line_error(run_cli("inspect", "conv.pt", cwd=models), "Conv2d '0'", "channels (2)",
                          "--input-shape H,W")
    assert "2,H,W" in line
    rc, out, err = run_cli("inspect", "conv.pt", "--input-shape", "6,6", cwd=models)
    assert rc == 0, err
    assert "input [2, 6, 6]" in out.splitlines()[0]
    one_line_error(run_cli("compile", "conv.pt", "--target", "onnx", "-o", "c", "--input-shape", "3,6,6", cwd=models),
                   "--input-shape 3,6,6", "2 input channel(s), not 3")
    assert not (models / "c").exists()


def test_verify_takes_the_shape_from_the_inputs(models):
    """``verify MODEL.pt --inputs x.npy`` traces at the inputs' per-step shape, no --input-shape."""
    rc, out, err = run_cli("verify", "conv.pt", "--target", "hls", "--inputs", "x_conv.npy", cwd=models)
    assert rc == 0 and "bit-exact" in out, out + err


def test_inspect_an_artifact_or_a_file_in_it(models):
    """An artifact reads as a summary (formats whole, files with sizes and hash prefixes re-read here),
    and a file of it (``OUT/model.json``) leads to its artifact, in inspect and in compile."""
    import hashlib
    rc, out, err = run_cli("compile", "mlp.pt", "--target", "hls", "-o", "mlp_hls", cwd=models)
    assert rc == 0, err
    art = models / "mlp_hls"
    files = json.loads((art / "snnc.json").read_text())["files"]
    rc, out, err = run_cli("inspect", "mlp_hls", cwd=models)
    assert rc == 0, err
    assert out.startswith("mlp_hls: snnc hls artifact (format version 2")
    assert "  outputs      [4] spikes" in out and "  input        [64] per step" in out
    for name in files:
        data = (art / name).read_bytes()
        assert f"{len(data):,} B  {hashlib.sha256(data).hexdigest()[:12]}" in out, name
    ir_rows = out.split("--- prepared IR (ir/) ---")[1].split("---")[0]
    linear = next(line for line in ir_rows.splitlines() if line.startswith("0 "))
    assert "weight=fixed<" in linear and "accum=fixed<" in linear and linear.rstrip().endswith("reuse_factor=1")
    assert "{" not in ir_rows  # no raw JSON
    rc, inside, err = run_cli("inspect", "mlp_hls/firmware/weights.h", cwd=models)
    assert rc == 0, err
    assert inside == "mlp_hls/firmware/weights.h is a file of the snnc artifact at mlp_hls:\n" + out
    one_line_error(run_cli("compile", "mlp_hls/model.json", "--target", "onnx", "-o", "o", cwd=models),
                   "mlp_hls/model.json", "file of the snnc artifact at mlp_hls", "snnc inspect mlp_hls",
                   "--target hls --artifact mlp_hls")
    assert not (models / "o").exists()


def test_inferred_shape_through_a_users_forward():
    model = FlattenFirst()
    assert resolve_input_shape(model) == (12,)
    g = snnc.trace(model, (12,))
    x = (torch.rand(5, 2, 12) < 0.5).float()
    assert torch.equal(snnc.ir.interpret(g, x), snnc.ir.interpret(snnc.compiler.to_graph(model), x))


def test_shape_not_determined_says_what_is_missing():
    with pytest.raises(SnncError, match=r"first layer, AvgPool2d '0', does not fix it.*--input-shape"):
        resolve_input_shape(nn.Sequential(nn.AvgPool2d(2), nn.Flatten(), nn.Linear(4, 2), sn.IF()))
    with pytest.raises(SnncError, match=r"BatchNorm2d '1' fixes the input's channels \(3\)"):
        resolve_input_shape(nn.Sequential(sn.IF(), nn.BatchNorm2d(3), nn.Conv2d(3, 2, 1)))
    assert resolve_input_shape(nn.Sequential(sn.IF(), nn.Conv2d(3, 2, 1)), (5, 7)) == (3, 5, 7)
    assert resolve_input_shape(nn.Sequential(nn.AvgPool2d(2), nn.Flatten()), (1, 4, 4)) == (1, 4, 4)


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["compile", "--help"], ["verify"],
                                  ["compile", "m.pt", "--target", "nosuch", "-o", "o"]])
def test_help_version_and_usage_errors_import_no_torch(argv, tmp_path):
    code = ("import sys\nfrom snnc.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "loaded = sorted(m for m in ('torch', 'numpy', 'snnc.ir') if m in sys.modules)\n"
            "print('LOADED', loaded, file=sys.stderr)\n")
    p = subprocess.run([sys.executable, "-c", code, *argv], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert "LOADED []" in p.stderr, p.stderr


def test_every_argument_is_documented_with_its_default():
    from snnc.cli import build_parser
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            assert action.help, f"snnc {name}: {action.option_strings or action.dest} has no help text"
            if action.default not in (None, False, [], "==SUPPRESS==") and action.dest != "help":
                assert "default" in action.help, f"snnc {name} {action.option_strings}: default not shown"
    rc, out, _ = run_cli("verify", "--help", cwd=".")
    assert rc == 0 and "(default: 4)" in out and "(default: 0)" in out
