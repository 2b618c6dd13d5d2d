"""The bad-input corpus (tests/data) through the real command line: every case exits 2 with one line
on stderr naming the problem, no traceback, nothing written, and no code executed."""

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import snnc
from support.cli import run_cli
from snnc.ir import SnncError

DATA = Path(__file__).resolve().parents[1] / "data"
CORPUS = json.loads((DATA / "corpus.json").read_text())["cases"]
MARKER = "SNNC_PICKLE_EXECUTED"
TARGETS = ("hls", "lynxi", "loihi", "gpu")  # targets whose damaged artifacts are checked




def _case_argv(case, tmp: Path):
    target = case.get("needs") or TARGETS[0]
    return [a.format(data=DATA, out=tmp / "out", target=target) for a in case["argv"]]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Run every corpus case (and the damaged fresh artifacts) concurrently, each in its own cwd."""
    jobs = {}
    for case in CORPUS:
        tmp = tmp_path_factory.mktemp(case["name"])
        jobs[case["name"]] = (tmp, _case_argv(case, tmp), case["expect"])
    for target in TARGETS:
        for kind, argv, expect in _damaged_artifacts(target, tmp_path_factory):
            jobs[f"damaged_{target}_{kind}"] = (argv[-1], argv[:-1], expect)
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(run_cli, *argv, cwd=cwd) for name, (cwd, argv, _) in jobs.items()}
        return {name: (jobs[name], f.result()) for name, f in futures.items()}


def _damaged_artifacts(target, factory):
    """A fresh artifact of good.snnc for ``target``, damaged: every target file truncated to half;
    every target file gone (snnc.json left)."""
    base = factory.mktemp(f"art_{target}")
    try:
        snnc.compile(DATA / "good.snnc", target, base / "art")
    except SnncError:
        return []
    out = []
    names = ["/art"] + [rel.name for rel in snnc.Artifact.open(base / "art").files]  # the message names one
    for kind in ("truncated", "missing"):
        tmp = factory.mktemp(f"{target}_{kind}")
        art = tmp / "art"
        shutil.copytree(base / "art", art)
        for rel in snnc.Artifact.open(art).files:
            victim = art / rel
            if kind == "truncated":
                victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
            else:
                victim.unlink()
        out.append((kind, ["simulate", str(art), "--inputs", str(DATA / "good_inputs.npy"), "-o",
                           str(tmp / "out"), tmp], names))
    return out


def test_the_foreign_pickle_is_live(tmp_path):
    """The corpus pickle really runs code when unpickled unsafely (so the CLI test below means something)."""
    code = f"import pickle; pickle.loads(open({str(DATA / 'foreign_pickle.pkl')!r}, 'rb').read())"
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True)
    assert (tmp_path / MARKER).exists()


def test_corpus_names():
    assert len(CORPUS) >= 20 and len({c["name"] for c in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("name", [c["name"] for c in CORPUS] +
                         [f"damaged_{t}_{k}" for t in TARGETS for k in ("truncated", "missing")])
def test_bad_input_exits_2_with_one_line(results, name):
    (cwd, argv, expect), (code, stdout, stderr) = results[name]
    detail = f"snnc {' '.join(map(str, argv))}\nexit {code}\nstdout: {stdout}\nstderr: {stderr}"
    assert code == 2, detail
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, detail
    assert "Traceback" not in stderr + stdout, detail
    assert lines[0].startswith("snnc ") and "error:" in lines[0], detail
    expect = [expect] if isinstance(expect, str) else expect
    assert any(e.lower() in lines[0].lower() for e in expect), detail
    assert not (Path(cwd) / "out").exists(), f"partial output left behind\n{detail}"
    assert not (Path(cwd) / MARKER).exists() and not (DATA / MARKER).exists(), f"code was executed\n{detail}"
