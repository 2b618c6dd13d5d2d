"""Every target of the registry documents its artifact in ``targets/<name>/FORMAT.md`` under one
structure: the same second-level sections, in the same order (subsections are the target's own)."""

from pathlib import Path

import pytest

from snnc.targets import NAMES

SECTIONS = ["Files", "Contents", "Execution", "Numerics", "Limits", "Readers", "Versioning"]
ROOT = Path(__file__).resolve().parents[2] / "targets"


@pytest.mark.parametrize("target", NAMES)
def test_format_doc_follows_the_shared_structure(target):
    doc = ROOT / target / "FORMAT.md"
    assert doc.is_file(), f"{target} has no FORMAT.md"
    lines = doc.read_text().splitlines()
    assert lines[0].startswith("# "), f"{doc}: the first line is the title"
    sections = [line[3:].strip() for line in lines if line.startswith("## ")]
    assert sections == SECTIONS, f"{doc}: sections {sections}, expected {SECTIONS}"


@pytest.mark.parametrize("target", NAMES)
def test_format_doc_limits_point_at_the_declared_contract(target):
    text = (ROOT / target / "FORMAT.md").read_text()
    limits = text.split("## Limits", 1)[1].split("\n## ", 1)[0]
    assert f'ACCEPTS["{target}"]' in limits, f"{target}/FORMAT.md: Limits does not name its ACCEPTS entry"
