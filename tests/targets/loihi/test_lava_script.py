"""scripts/lava_check.py without Lava: it skips cleanly (exit 0, or 3 with --require)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_lava_check_skips_without_python310(tmp_path, monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("lava_check_skip", ROOT / "scripts" / "lava_check.py")
    lc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lc)
    monkeypatch.setattr(lc, "VENV", tmp_path / "venv")
    monkeypatch.setattr(lc, "READY", tmp_path / "venv" / ".snnc-lava-ready")
    monkeypatch.setattr(lc, "find_python310", lambda: None)
    assert lc.main([]) == 0
    assert "SKIPPED" in capsys.readouterr().out
    assert lc.main(["--require"]) == 3
    assert not (tmp_path / "venv").exists()
