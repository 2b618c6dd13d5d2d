"""The digits example trains above chance in a tiny budget and saves a loadable model."""

import torch

from support.models import digits_example

def test_digits_quick_run_learns_and_saves(tmp_path):
    digits = digits_example()
    result = digits.main(["--quick", "--no-deploy", "--out", str(tmp_path), "--hidden", "64"])
    assert result["accuracy"] > 0.5  # chance is 0.1; two epochs reach ~0.85
    model = torch.load(result["path"], weights_only=False)
    data = result["data"]
    assert data.test_x.shape[0] == 8 and set(data.test_x.unique().tolist()) <= {0.0, 1.0}
    assert digits.evaluate(model, data.test_x, data.test_y) == result["accuracy"]
