"""QAT with the loihi fake quantization deploys with the decisions of its float self (digits).

The fast variant trains briefly on a subset; the ``slow`` one is the full ``scripts/loihi_qat.py`` run
(the ≥ 99 % agreement claim).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _qat():
    spec = importlib.util.spec_from_file_location("loihi_qat", ROOT / "scripts" / "loihi_qat.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_qat_deploys_fast(tmp_path):
    r = _qat().run(hidden=32, steps=10, tail=2, epochs=3, n_train=600, n_test=150, lr=1e-2, batch=32,
                   out_dir=tmp_path, log=lambda *a: None)
    assert r["agreement"] >= 0.9, r
    assert r["deployed_accuracy"] >= 0.7, r
    assert (tmp_path / "artifact" / "network.net").exists()


@pytest.mark.slow
def test_qat_deploys_with_99_percent_agreement(tmp_path):
    r = _qat().run(out_dir=tmp_path, log=lambda *a: None)
    assert r["n_test"] == 360
    assert r["agreement"] >= 0.99, r
    assert r["deployed_accuracy"] >= 0.9, r
