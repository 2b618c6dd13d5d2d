"""Fixtures of the safety tests: a small snnc.nn model saved as ``.pt``, its inputs, and the CLI as a
user runs it (a real subprocess)."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import snnc.nn as sn

SAFETY_TARGETS = ("gpu", "loihi", "lynxi", "hls", "onnx", "nir")


def small_model() -> torch.nn.Module:
    torch.manual_seed(0)
    net = torch.nn.Sequential(sn.Linear(6, 8, bias=False), sn.LIF(tau=2.0), sn.Linear(8, 3, bias=False), sn.LIF(tau=2.0))
    with torch.no_grad():  # weights on a 1/8 grid: exact in every profile
        for layer in (net[0], net[2]):
            layer.weight.copy_(torch.randint(-6, 9, layer.weight.shape) / 8)
    return net


def run_cli(*args, cwd, env=None, **kwargs):
    full = dict(os.environ, PYTHONWARNINGS="ignore", **(env or {}))
    p = subprocess.run([sys.executable, "-m", "snnc", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                       env=full, timeout=300, **kwargs)
    return p.returncode, p.stdout, p.stderr


def one_line_error(result, *words, code=2):
    rc, out, err = result
    assert rc == code, (rc, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and "internal error" not in err, err
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


@pytest.fixture
def work(tmp_path):
    """A directory with ``model.pt`` (whole module), ``x.npy`` (spikes [8, 2, 6]) and ``x_values.npy``."""
    torch.save(small_model(), tmp_path / "model.pt")
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", (rng.random((8, 2, 6)) < 0.4).astype(np.float32))
    return tmp_path
