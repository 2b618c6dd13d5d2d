"""Every available target against the reference interpreter, and tampered artifacts caught through
``snnc verify --artifact`` (exit 1, the tampered node named)."""

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings

import snnc
from support.cli import run_cli
from snnc.fuzz import TARGET_HINTS, networks
from snnc.ir import UnsupportedError

from support.verify_helpers import small_graph, with_window
from snnc.targets import NAMES

X = (torch.rand(16, 4, 6, generator=torch.Generator().manual_seed(3)) < 0.5).float()


def conv_graph():
    from snnc.ir import Graph
    rng = np.random.default_rng(4)
    g = Graph()
    g.add_node("x", "Input", shape=(1, 6, 6))
    g.add_node("conv", "Conv2d", ["x"], {"weight": (rng.integers(-4, 5, size=(2, 1, 3, 3)) / 4).astype(np.float32)})
    g.add_node("nc", "Neuron", ["conv"], {"v_threshold": np.array(0.5, np.float32),
                                          "v_reset": np.array(0.0, np.float32)}, charge="if")
    g.add_node("pool", "SumPool2d", ["nc"], kernel_size=2)
    g.add_node("flat", "Flatten", ["pool"])
    g.add_node("fc", "Linear", ["flat"], {"weight": (rng.integers(-4, 5, size=(3, 8)) / 4).astype(np.float32)})
    g.add_node("nf", "Neuron", ["fc"], {"v_threshold": np.array(0.5, np.float32),
                                        "v_reset": np.array(0.0, np.float32)}, charge="if")
    g.add_node("r", "Readout", ["nf"])
    g.add_node("y", "Output", ["r"])
    return with_window(g, 8)


# NIR has no Readout and no reset window, so these graphs are not NIR graphs (tests/cli and the fuzz test
# below verify the nir target on what it can express).
@pytest.mark.parametrize("target", [t for t in NAMES if t != "nir"])
@pytest.mark.parametrize("make", [small_graph, conv_graph])
def test_fresh_artifact_is_bit_exact(target, make):
    g = make()
    x = (torch.rand((16, 3) + g.input_shape, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    report = snnc.verify(g, target, x)
    assert report.ok, report.summary()
    assert report.layers[0].elements == x.shape[0] * x.shape[1]


# --- tampering: edit one weight / one threshold in the artifact files, as an attacker or a bug would


def _tamper_hls(art, node, kind):
    """Rewrite the first code of the node's weight (or its threshold) in firmware/weights.bin."""
    table = {t["name"]: t for t in json.loads((art / "model.json").read_text())["weights"]}
    entry = table[f"{node}_weight" if kind == "weight" else f"{node}_v_threshold"]
    path = art / "firmware" / "weights.bin"
    blob = bytearray(path.read_bytes())
    dtype = np.dtype(entry["dtype"]).newbyteorder("<")
    code = np.frombuffer(blob, dtype, 1, entry["offset"])[0]
    if kind == "threshold":
        new = int(code) // 2 or 1  # half the threshold
    else:
        new = int(round((0.875 if code * 2.0 ** -entry["frac_bits"] < 0.5 else -0.875) * 2 ** entry["frac_bits"]))
    blob[entry["offset"]:entry["offset"] + dtype.itemsize] = np.array(new, dtype).tobytes()
    path.write_bytes(bytes(blob))


def _tamper_loihi(art, node, kind):
    import h5py
    host = json.loads((art / "host.json").read_text())
    key = "node" if kind == "weight" else "neuron"
    (layer,) = [entry["index"] for entry in host["layers"] if entry[key] == node]
    with h5py.File(art / "network.net", "r+") as f:
        if kind == "weight":
            w = f[f"layer/{layer}/weight"][...]
            w.reshape(-1)[0] = 100.0 if w.reshape(-1)[0] < 0 else -100.0
            f[f"layer/{layer}/weight"][...] = w
        else:
            ds = f[f"layer/{layer}/neuron/vThMant"]
            ds[()] = ds[()] * 4


def _tamper_lynxi(art, node, kind):
    """Edit one float16 in model.bin and re-seal the checksums (a consistent but wrong artifact)."""
    doc = json.loads((art / "model.json").read_text())
    name = f"{node}.weight" if kind == "weight" else f"{node}.v_threshold"
    (tensor,) = [t for t in doc["tensors"] if t["name"] == name]
    blob = bytearray((art / doc["bin"]["file"]).read_bytes())
    off = tensor["offset"]
    value = np.frombuffer(bytes(blob[off:off + 2]), "<f2")[0]
    blob[off:off + 2] = np.array([value * 4 + (2.0 if kind == "weight" else 0.0)], "<f2").tobytes()
    tensor["sha256"] = hashlib.sha256(blob[off:off + tensor["nbytes"]]).hexdigest()
    doc["bin"]["sha256"] = hashlib.sha256(blob).hexdigest()
    (art / doc["bin"]["file"]).write_bytes(bytes(blob))
    (art / "model.json").write_text(json.dumps(doc, indent=1))


TAMPER = {"hls": _tamper_hls, "loihi": _tamper_loihi, "lynxi": _tamper_lynxi}
TAMPERABLE = [t for t in NAMES if t in TAMPER]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    base = tmp_path_factory.mktemp("compiled")
    small_graph().save(base / "model.snnc")
    np.save(base / "x.npy", X.numpy())
    arts = {}
    for target in TAMPERABLE:
        snnc.compile(base / "model.snnc", target, base / target)
        arts[target] = base / target
    return base, arts


@pytest.mark.parametrize("target", TAMPERABLE)
@pytest.mark.parametrize("node,kind", [("fc2", "weight"), ("n1", "threshold")])
def test_tampered_artifact_is_caught_in_process(compiled, tmp_path, target, node, kind):
    base, arts = compiled
    art = tmp_path / "art"
    shutil.copytree(arts[target], art)
    assert snnc.verify(base / "model.snnc", target, X, artifact=art).ok
    TAMPER[target](art, node, kind)
    report = snnc.verify(base / "model.snnc", target, X, artifact=art)
    assert not report.ok and report.exit_code == 1
    assert report.suspects == [node], report.summary()
    assert report.differs_from_fresh


@pytest.mark.parametrize("target", TAMPERABLE)
def test_verify_artifact_cli_exit_codes(compiled, tmp_path, target):
    """The CI guard: exit 0 on the shipped artifact, exit 1 naming the node once a weight or a
    threshold in it is changed."""
    base, arts = compiled
    rc, out, err = run_cli("verify", base / "model.snnc", "--target", target, "--artifact", arts[target], "--inputs",
                           base / "x.npy", "--report", tmp_path / "ok.json", cwd=tmp_path)
    assert rc == 0, out + err
    assert json.loads((tmp_path / "ok.json").read_text())["ok"] is True
    for node, kind in (("fc2", "weight"), ("n1", "threshold")):
        art = tmp_path / f"art_{node}"
        shutil.copytree(arts[target], art)
        TAMPER[target](art, node, kind)
        rc, out, err = run_cli("verify", base / "model.snnc", "--target", target, "--artifact", art, "--samples",
                               "4", "--seed", "0", "--report", tmp_path / f"{node}.json", cwd=tmp_path)
        assert rc == 1, out + err
        doc = json.loads((tmp_path / f"{node}.json").read_text())
        assert doc["ok"] is False and doc["suspects"] == [node]
        assert node in out


# --- fuzz: a bounded number of random networks per target in CI (benchmarks/fuzz_all_targets.py runs 1000)

FUZZ_TARGETS = NAMES


@pytest.mark.parametrize("target", FUZZ_TARGETS)
def test_fuzz_target(target):
    examples = {"hls": 4, "gpu": 4}.get(target, 12)  # hls compiles C++ per example; keep CI < 2 min
    stats = {"checked": 0, "refused": 0}

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(networks(**TARGET_HINTS.get(target, {})))
    def check(case):
        try:
            report = snnc.verify(case.graph, target, case.inputs)
        except UnsupportedError:
            stats["refused"] += 1
            return
        stats["checked"] += 1
        assert report.ok, f"{case}\n{report.summary()}"

    check()
    assert stats["checked"] >= 1, stats
