"""The digits example trains above chance in a tiny budget and saves a loadable model."""

import importlib.util
import pathlib
import sys

import torch

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "digits.py"


def _load_example():
    spec = importlib.util.spec_from_file_location("digits_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_digits_quick_run_learns_and_saves(tmp_path):
    digits = _load_example()
    result = digits.main(["--quick", "--no-deploy", "--out", str(tmp_path), "--hidden", "64"])
    assert result["accuracy"] > 0.5  # chance is 0.1; two epochs reach ~0.85
    model = torch.load(result["path"], weights_only=False)
    data = result["data"]
    assert data.test_x.shape[0] == 8 and set(data.test_x.unique().tolist()) <= {0.0, 1.0}
    assert digits.evaluate(model, data.test_x, data.test_y) == result["accuracy"]
