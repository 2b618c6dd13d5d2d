"""Outputs of the fuzz corpus, saved before the neuron and readout were rewritten as one program.

``random_case(seed)`` gives the same graph and inputs on every machine. For each seed and each
numerics profile, the test hashes every node's value at every step (``interpret(record=True)``) and
the range analysis' summary, and compares with ``tests/data/regression_corpus.json``. A refactor of the
arithmetic must leave every hash unchanged; a deliberate change of semantics regenerates the file
(``python tests/ir/test_regression_corpus.py``) and says why in its commit.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from snnc.fuzz import TARGET_HINTS, random_case
from snnc.ir import SnncError, interpret
from snnc.ir.numerics import get_profile
from snnc.passes.range_analysis import analyze_ranges

CORPUS = Path(__file__).parents[1] / "data" / "regression_corpus.json"
SEEDS = range(160)
PROFILES = ("float32", "lynxi", "hls", "loihi")


def _digest(seed: int, profile: str) -> str:
    case = random_case(seed, **TARGET_HINTS.get(profile, {}))  # loihi: what Lava's CUBA neuron expresses
    h = hashlib.sha256()
    try:
        graph, _ = get_profile(profile).quantize(case.graph.copy(), calibration=case.inputs)
        _, trace = interpret(graph, case.inputs, numerics=profile, record=True)
        for name in sorted(trace.values):
            h.update(name.encode() + trace.values[name].contiguous().numpy().tobytes())
        if profile == "hls":
            h.update(analyze_ranges(graph).summary().encode())
    except SnncError as e:  # a refusal is part of the behaviour too
        h.update(f"refused {type(e).__name__}: {e}".encode())
    return h.hexdigest()[:16]


def _corpus() -> dict[str, str]:
    return {f"{seed}/{profile}": _digest(seed, profile) for seed in SEEDS for profile in PROFILES}


@pytest.mark.parametrize("profile", PROFILES)
def test_fuzz_corpus_outputs_are_unchanged(profile):
    saved = json.loads(CORPUS.read_text())["digests"]
    changed = [seed for seed in SEEDS if _digest(seed, profile) != saved[f"{seed}/{profile}"]]
    assert not changed, f"{profile}: outputs changed for seeds {changed} (random_case(seed))"


if __name__ == "__main__":
    CORPUS.write_text(json.dumps({"about": __doc__.split("\n\n")[0], "digests": _corpus()}, indent=0) + "\n")
    print(f"wrote {CORPUS}")
