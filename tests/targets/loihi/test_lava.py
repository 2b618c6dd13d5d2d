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


def test_sign_modes_and_small_weights_match_lava(tmp_path, lava_python):
    """Excitatory-only [0, 255] (odd values), inhibitory-only [-255, 0] with a bias, and small integer
    weights (netx rescales them by a power of two): Lava keeps all of them intact."""
    from snnc.ir import Graph

    rng = np.random.default_rng(11)
    g = Graph()
    g.add_node("x", "Input", shape=(12,))
    g.add_node("exc", "Linear", ["x"], {"weight": rng.uniform(0.0, 1.0, (10, 12))})
    g.add_node("n0", "Neuron", ["exc"], {"v_threshold": np.asarray(1.5), "v_reset": np.asarray(0.0)}, charge="if")
    g.add_node("inh", "Linear", ["n0"], {"weight": -rng.uniform(0.0, 1.0, (8, 10)),
                                          "bias": np.full(8, 0.3)})
    g.add_node("n1", "Neuron", ["inh"], {"v_threshold": np.asarray(1.0), "v_reset": np.asarray(0.0)}, charge="if")
    g.add_node("small", "Linear", ["n1"], {"weight": rng.normal(0.0, 1.0, (4, 8))})
    g.add_node("n2", "Neuron", ["small"], {"v_threshold": np.asarray(60000.0), "v_reset": np.asarray(0.0),
                                           "alpha": np.asarray(1.0), "beta": np.asarray(1.0)}, charge="cuba")
    g.add_node("y", "Output", ["n2"])
    q = TARGET.prepare(g.verify(), {})
    assert q["exc"].quant["sign_mode"] == "excitatory" and q["inh"].quant["sign_mode"] == "inhibitory"
    assert np.abs(q["small"].params["weight"]).max() <= 8           # threshold-limited scale
    assert (q["exc"].params["weight"] % 2 == 1).any()
    cross_check(g, tmp_path, lava_python, steps=40, batch=2, rate=0.5)


def test_pool_then_conv_merged_matches_lava(tmp_path, lava_python):
    rng = np.random.default_rng(12)
    g = nets.conv_net(rng, (2, 8, 8), (3,), ("cuba",), pool="merge_conv")
    q = TARGET.prepare(g, {})
    assert q["pconv"].quant["lowered_from"] == ["AvgPool2d", "Conv2d"] and q["pconv"].attrs["stride"] == (2, 2)
    cross_check(g, tmp_path, lava_python, steps=24, batch=2, rate=0.5)


def test_dilated_grouped_conv_matches_lava(tmp_path, lava_python):
    from snnc.ir import Graph

    rng = np.random.default_rng(13)
    g = Graph()
    g.add_node("x", "Input", shape=(4, 9, 8))
    g.add_node("c0", "Conv2d", ["x"], {"weight": rng.normal(0.2, 0.6, (6, 2, 3, 2))}, stride=(1, 2),
               padding=(2, 1), dilation=(2, 1), groups=2)
    g.add_node("n0", "Neuron", ["c0"], {"v_threshold": np.asarray(1.0), "v_reset": np.asarray(0.0),
                                        "alpha": np.asarray(0.5), "beta": np.asarray(0.75)}, charge="cuba")
    g.add_node("y", "Output", ["n0"])
    cross_check(g.verify(), tmp_path, lava_python, steps=20, batch=2, rate=0.5)
