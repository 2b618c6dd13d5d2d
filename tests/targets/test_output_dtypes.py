"""One dtype rule for ``snnc.simulate`` on every target: spikes and decisions as float32, values (a
membrane or a linear readout) in the target's own value type, converted exactly."""

import numpy as np
import pytest
import torch

import snnc
import snnc.nn as sn
from snnc.compiler import simulate_recorded, resolve_target
from snnc.targets import NAMES
from support.models import small_model

pytestmark = pytest.mark.filterwarnings("ignore")

X = (torch.rand(8, 3, 6, generator=torch.Generator().manual_seed(1)) < 0.4).float()
VALUE_DTYPES = {"gpu": torch.float32, "onnx": torch.float32, "nir": torch.float32, "lynxi": torch.float16,
                "hls": torch.float64}


class SpikesAndValues(torch.nn.Module):
    """Two outputs: the hidden layer's spikes and a linear readout of them (values)."""

    def __init__(self):
        super().__init__()
        net = small_model()
        self.fc, self.lif, self.out = net[0], net[1], net[2]

    def forward(self, x):
        s = self.lif(self.fc(x))
        return s, self.out(s)


def _raw_and_documented(target, model, tmp_path):
    art = snnc.compile(model, target, tmp_path / target, example_input=X, allow_approximate=target == "nir")
    raw, _ = simulate_recorded(resolve_target(target), art.path, X)
    return raw, snnc.simulate(art, X)


@pytest.mark.parametrize("target", NAMES)
def test_spikes_are_float32_everywhere(target, tmp_path):
    raw, out = _raw_and_documented(target, small_model(), tmp_path)
    assert out.dtype == torch.float32
    assert torch.equal(out.double(), torch.as_tensor(raw).double())  # the conversion is exact
    assert set(out.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("target", ["gpu", "lynxi", "hls", "onnx", "loihi"])
def test_decisions_are_float32(target, tmp_path):
    model = torch.nn.Sequential(*small_model(), sn.Readout(window_size=4))
    raw, out = _raw_and_documented(target, model, tmp_path)
    assert out.dtype == torch.float32
    assert torch.equal(out.double(), torch.as_tensor(raw).double())
    assert set(out.unique().tolist()) <= {0.0, 1.0, 2.0}


@pytest.mark.parametrize("target", sorted(VALUE_DTYPES))
def test_values_keep_the_targets_value_type(target, tmp_path):
    raw, (spikes, values) = _raw_and_documented(target, SpikesAndValues(), tmp_path)
    assert spikes.dtype == torch.float32
    assert values.dtype == VALUE_DTYPES[target]
    assert torch.equal(values, torch.as_tensor(raw[1]))  # untouched


def test_the_cli_writes_the_same_dtypes(tmp_path):
    from support.cli import run_cli
    torch.save(small_model(), tmp_path / "model.pt")
    np.save(tmp_path / "x.npy", X.numpy())
    for target in ("loihi", "lynxi", "hls"):
        assert run_cli("compile", "model.pt", "--target", target, "-o", target, cwd=tmp_path)[0] == 0
        rc, _, err = run_cli("simulate", target, "--inputs", "x.npy", "-o", f"y_{target}.npy", cwd=tmp_path)
        assert rc == 0, err
        assert np.load(tmp_path / f"y_{target}.npy").dtype == np.float32
