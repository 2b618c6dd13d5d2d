"""``--config snnc.toml`` → compile options (in-process: parsing only; the subprocess tests run it)."""

import argparse

import pytest

from snnc.commands import model_options, read_config
from snnc.ir.errors import SnncError


def _args(tmp_path, text, **kw):
    (tmp_path / "snnc.toml").write_text(text)
    base = dict(config=str(tmp_path / "snnc.toml"), input_shape=None, timesteps=None, window=None, target="hls",
                trust_pickle=False, module=[], allow_approximate=False, dt=None)
    base.update(kw)
    return argparse.Namespace(**base)


def test_config_sets_window_shape_and_target_options(tmp_path):
    text = ('window = 16\ntimesteps = 32\ninput_shape = [1, 8, 8]\n'
            '[target.hls.precision]\ndefault = "<16,6>"\nreuse_factor = 2\n'
            '[target.hls.precision.layers.fc1]\nweight = "<8,3>"\n[target.nir]\ndt = 0.001\n')
    opts = model_options(_args(tmp_path, text))
    assert opts["window"] == 16 and opts["timesteps"] == 32 and opts["input_shape"] == (1, 8, 8)
    assert opts["config"] == {"default": "<16,6>", "reuse_factor": 2, "layers": {"fc1": {"weight": "<8,3>"}}}
    assert "dt" not in opts
    misplaced = text.replace('[target.nir]', '[target.hls.extra]\n[target.nir]').replace(
        '[target.hls.precision]', '[target.hls]\nreuse_factr = 2\n[target.hls.precision]', 1)
    with pytest.raises(SnncError, match=r"\[target.hls\] has unknown key\(s\) \['extra', 'reuse_factr'\]; known: \['precision'\]"):
        model_options(_args(tmp_path, misplaced))
    flags_win = model_options(_args(tmp_path, text, window=4, input_shape="2,3,3", target="nir"))
    assert flags_win["window"] == 4 and flags_win["input_shape"] == (2, 3, 3) and flags_win["dt"] == 0.001


@pytest.mark.parametrize("text,word", [("windw = 3\n", "unknown key"), ("window = -1\n", "window"),
                                       ("input_shape = [0, 3]\n", "input_shape"), ("window = [\n", "TOML")])
def test_bad_config_names_the_problem(tmp_path, text, word):
    with pytest.raises(SnncError, match=word):
        model_options(_args(tmp_path, text))
    with pytest.raises(SnncError, match="no such file"):
        read_config(tmp_path / "missing.toml")
