"""Real Lava (netx + Loihi2SimCfg fixed_pt) == our simulator, every layer, every step.

Marked ``lava``: runs with ``-m lava`` when the cached Lava venv exists (``python scripts/lava_check.py
--setup`` creates it once, needs Python 3.10). Each net gets a fresh directory: netx never closes the
file it loads.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from snnc.targets.loihi import TARGET

import loihi_nets as nets

pytestmark = pytest.mark.lava

ROOT = Path(__file__).resolve().parents[3]


def _lava_check():
    spec = importlib.util.spec_from_file_location("lava_check", ROOT / "scripts" / "lava_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lava_check = _lava_check()


@pytest.fixture(scope="module")
def lava_python():
    if not (lava_check.READY.exists() and lava_check.venv_python().exists()):
        pytest.skip("no cached Lava venv; run: python scripts/lava_check.py --setup (needs Python 3.10)")
    return lava_check.venv_python()


def cross_check(graph, tmp_path, lava_python, steps=24, batch=2, rate=0.4, seed=0):
    q = TARGET.prepare(graph, {})
    TARGET.check(q, {})
    TARGET.lower(q, tmp_path, {})
    rng = np.random.default_rng(seed)
    x = nets.spikes(rng, steps, batch, graph.input_shape, rate)
    report = lava_check.compare(tmp_path, x, lava_python)
    assert report["equal"], report["first_divergence"]
    assert report["spikes"] > 0
    return report


@pytest.mark.parametrize("name", ["dense", "conv", "pool", "overflow"])
def test_demo_nets_match_lava(name, tmp_path, lava_python):
    cross_check(lava_check.demo_nets(0)[name], tmp_path, lava_python)


def test_merged_pooling_and_window_match_lava(tmp_path, lava_python):
    rng = np.random.default_rng(7)
    g = nets.conv_net(rng, (2, 8, 8), (3,), ("cuba",), pool="merge", window=10)
    report = cross_check(g, tmp_path, lava_python, steps=20, batch=1)   # two windows, one Lava run each
    assert report["layers"] == 2
