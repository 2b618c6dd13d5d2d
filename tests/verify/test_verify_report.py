"""snnc.verify: bit-exact comparison, divergence location, tampering, drift, reports."""

import json
from xml.etree import ElementTree as ET

import numpy as np
import pytest
import torch

import snnc
from snnc.ir import SnncError
from snnc.targets import Target
from snnc.testing import DeploymentMismatch, assert_deploys

import support.verify_toy_target as toy_target
from support.verify_helpers import small_graph

X = (torch.rand(16, 4, 6, generator=torch.Generator().manual_seed(3)) < 0.5).float()


def _tamper(art_dir, node, key, delta):
    """Add ``delta`` to the first element of ``node``'s parameter ``key`` in the toy weights.bin."""
    doc = json.loads((art_dir / "net.json").read_text())
    ref = next(n for n in doc["nodes"] if n["name"] == node)["params"][key]
    blob = bytearray((art_dir / "weights.bin").read_bytes())
    dt = np.dtype(ref["dtype"])
    value = np.frombuffer(blob, dt, 1, ref["offset"]).copy() + delta
    blob[ref["offset"]:ref["offset"] + dt.itemsize] = value.astype(dt).tobytes()
    (art_dir / "weights.bin").write_bytes(bytes(blob))


def test_fresh_compile_is_bit_exact(graph):
    report = snnc.verify(graph, toy_target.make(), X)
    assert report.ok and report.bit_exact and report.exit_code == 0
    assert report.first_divergence is None
    assert {l.node for l in report.layers} == {"y", "fc1", "n1", "fc2", "n2"}
    assert all(l.mismatches == 0 and l.elements > 0 for l in report.layers)
    assert report.drift.decision_agreement == 1.0 and report.drift.decisions == 2 * 4
    assert set(report.drift.spike_rate_error) == {"n1", "n2"}


@pytest.mark.parametrize("expose", [True, False])
@pytest.mark.parametrize("node,key,delta", [("fc2", "weight", 3.0), ("n1", "v_threshold", 5.0)])
def test_tampered_artifact_fails_naming_the_node(graph, tmp_path, expose, node, key, delta):
    target = toy_target.make(expose=expose)
    out = tmp_path / "art"
    snnc.compile(graph, target, out)
    assert snnc.verify(graph, target, X, artifact=out).ok
    _tamper(out, node, key, delta)
    refused = snnc.verify(graph, target, X, artifact=out)  # not run: its files changed
    assert not refused.ok and refused.exit_code == 1 and refused.layers == []
    assert refused.changed_files == ["weights.bin"] and refused.suspects == [node]
    assert "not run" in refused.summary() and node in refused.summary()
    report = snnc.verify(graph, target, X, artifact=out, allow_changed=True)  # run, to find where
    assert not report.ok and report.exit_code == 1
    assert report.changed_files == ["weights.bin"]
    assert report.suspects == [node]
    if expose:
        assert report.first_divergence.node == node
        d = report.first_divergence
        ref, tgt, _ = report._traces[node]
        assert ref[d.step, d.batch][d.index] == d.reference != d.target == tgt[d.step, d.batch][d.index]
        # nothing earlier differs
        assert all(l.mismatches == 0 for l in report.layers if l.node in ("fc1",))
    else:
        assert report.first_divergence.node == "y"
    assert node in report.summary()


def test_first_divergence_is_earliest_step_then_node():
    from snnc.verification.comparison import compare, first_divergence
    ref = torch.zeros(5, 2, 3)
    a = ref.clone(); a[3, 1, 2] = 1
    b = ref.clone(); b[2, 0, 1] = 7; b[2, 1, 0] = 8
    la, lb = compare("a", "Neuron", "layer", ref, a), compare("b", "Linear", "layer", ref, b)
    assert (la.mismatches, lb.mismatches) == (1, 2)
    d = first_divergence([la, lb], {"a": 0, "b": 1})
    assert (d.node, d.step, d.batch, d.index, d.reference, d.target) == ("b", 2, 0, (1,), 0.0, 7.0)
    c = ref.clone(); c[2, 1, 1] = 1
    d = first_divergence([lb, compare("c", "Neuron", "layer", ref, c)], {"c": 0, "b": 1})
    assert (d.node, d.step, d.batch) == ("c", 2, 1)
    shape = compare("s", "Neuron", "output", ref, torch.zeros(5, 2, 4))
    assert not shape.ok and "shape" in shape.shape_error


def test_artifact_from_another_model_fails(tmp_path):
    target = toy_target.make()
    snnc.compile(small_graph(seed=1), target, tmp_path / "art")
    report = snnc.verify(small_graph(seed=0), target, X, artifact=tmp_path / "art")
    assert not report.ok and not report.ir_hash_matches
    assert "different graph" in report.summary()


def test_artifact_for_another_target_is_bad_input(graph, tmp_path):
    snnc.compile(graph, toy_target.make("toy2"), tmp_path / "art")
    with pytest.raises(SnncError, match="compiled for target 'toy2'"):
        snnc.verify(graph, toy_target.make(), X, artifact=tmp_path / "art")


def _quantizing_target():
    def prepare(g, o):
        g = g.copy()
        for n in g.nodes:
            if "weight" in n.params:
                n.params["weight"] = (np.round(n.params["weight"] * 2) / 2).astype(np.float32)
        return g
    base = toy_target.make()
    return Target("toyq", "float32", prepare, base.check, base.lower, base.simulate,
                  records_layers=base.records_layers)


def test_drift_is_measured_and_fails_only_with_max_drift(graph):
    target = _quantizing_target()
    x = (torch.rand(32, 16, 6, generator=torch.Generator().manual_seed(5)) < 0.5).float()
    report = snnc.verify(graph, target, x)
    assert report.ok and report.bit_exact
    d = report.drift
    assert d.worst > 0 and max(d.spike_rate_error.values()) > 0
    assert 0.0 <= d.decision_agreement <= 1.0 and d.decisions == 4 * 16
    # the measured spike-rate error, recomputed independently
    from snnc.ir import interpret
    _, tf = interpret(graph, x, record=True)
    _, tq = interpret(target.prepare(graph, {}), x, record=True)
    expect = (tf.values["n1"].mean(dim=(0, 1)) - tq.values["n1"].mean(dim=(0, 1))).abs().mean().item()
    assert d.spike_rate_error["n1"] == pytest.approx(expect, abs=1e-12)
    strict = snnc.verify(graph, target, x, max_drift=d.worst / 2)
    assert not strict.ok and strict.bit_exact and not strict.drift_ok and strict.exit_code == 1
    assert snnc.verify(graph, target, x, max_drift=d.worst).ok


def test_samples_are_reproducible(graph):
    a = snnc.verify(graph, toy_target.make(), samples=3, seed=7, timesteps=10)
    b = snnc.verify(graph, toy_target.make(), samples=3, seed=7, timesteps=10)
    assert a.inputs_shape == [10, 3, 6] and a.to_dict()["drift"] == b.to_dict()["drift"]


def test_report_json_junit_and_plots(graph, tmp_path):
    target = toy_target.make()
    snnc.compile(graph, target, tmp_path / "art")
    _tamper(tmp_path / "art", "fc2", "weight", 3.0)
    report = snnc.verify(graph, target, X, artifact=tmp_path / "art", allow_changed=True)
    doc = json.loads(report.to_json(tmp_path / "r.json"))
    assert doc == json.loads((tmp_path / "r.json").read_text())
    assert doc["ok"] is False and doc["first_divergence"]["node"] == "fc2"
    assert doc["mismatches"]["fc2"] > 0 and doc["mismatches"]["fc1"] == 0
    assert set(doc["drift"]["spike_rate_error"]) == {"n1", "n2"}
    report.write_junit(tmp_path / "j.xml")
    suite = ET.parse(tmp_path / "j.xml").getroot()
    failed = {c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None}
    assert {"bit_exact[fc2]", "bit_exact[n2]", "bit_exact[y]"} <= failed
    assert "bit_exact[fc1]" not in failed and int(suite.get("failures")) == len(failed)
    written = report.plot(tmp_path / "plots")
    names = {p.name for p in written}
    assert "divergence_map.png" in names and "raster_fc2.png" in names
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written)
    figures = report.figures()
    assert set(figures) == names
    decisions = figures["raster_y.png"].axes  # the readout: its class per step, not a raster
    assert [ax.get_ylabel() for ax in decisions] == [f"class (sample {s})" for s in range(4)]
    ref, tgt, _ = report._traces["y"]
    lines = {line.get_label(): line.get_ydata() for line in decisions[0].get_lines()}
    assert np.array_equal(lines["reference"], ref[:, 0, 0].double().numpy())
    assert np.array_equal(lines["target toy"], tgt[:, 0, 0].double().numpy())
    differs = (ref[:, 0, 0] != tgt[:, 0, 0]).numpy()
    assert differs.any() and np.array_equal(lines["differs"], tgt[:, 0, 0].double().numpy()[differs])
    raster = figures["raster_fc2.png"].axes
    assert raster[0].get_ylabel() == "element (sample 0)" and raster[2].get_title() == "fc2: differs"
    assert not raster[2].texts  # it differs: a map, not the words
    assert not figures["divergence_map.png"].axes[0].texts


def test_exact_plots_say_no_divergence(graph):
    report = snnc.verify(graph, toy_target.make(), X)
    figures = report.figures()
    (text,) = figures["divergence_map.png"].axes[0].texts
    assert text.get_text() == "no divergence: 5 node(s) equal at every one of 16 steps"
    assert [t.get_text() for t in figures["raster_n1.png"].axes[2].texts] == ["no difference"]
    assert figures["raster_n1.png"].axes[0].get_ylabel() == "neuron (sample 0)"
    assert figures["raster_y.png"].axes[0].get_title() == "y: decision per step (no difference)"


def test_assert_deploys(graph, tmp_path):
    target = toy_target.make()
    report = assert_deploys(graph, target, X)
    assert report.ok
    snnc.compile(graph, target, tmp_path / "art")
    _tamper(tmp_path / "art", "n2", "v_threshold", -0.4)
    with pytest.raises(DeploymentMismatch, match=r"node\(s\) n2") as info:
        assert_deploys(graph, target, X, artifact=tmp_path / "art")
    assert isinstance(info.value, AssertionError) and info.value.report.suspects == ["n2"]
    with pytest.raises(DeploymentMismatch, match="first divergence: node 'n2'") as info:
        assert_deploys(graph, target, X, artifact=tmp_path / "art", allow_changed=True)
    assert info.value.report.first_divergence.node == "n2"


def test_progress_bar_and_chunks_give_the_same_report(graph, capsys):
    x = (torch.rand(16, 10, 6, generator=torch.Generator().manual_seed(9)) < 0.5).float()
    plain = snnc.verify(graph, toy_target.make(), x)
    chunked = snnc.verify(graph, toy_target.make(), x, progress=True, chunk=3)
    assert "verify toy" in capsys.readouterr().err
    assert chunked.to_dict() == plain.to_dict() and chunked.ok


def test_sampled_inputs():
    from snnc.verification import sample_inputs
    s = sample_inputs((2, 3), samples=5, timesteps=7, seed=1)
    assert s.shape == (7, 5, 2, 3) and set(s.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(s, sample_inputs((2, 3), samples=5, timesteps=7, seed=1))
    v = sample_inputs((4,), samples=2, timesteps=3, seed=1, kind="values")
    assert v.min() >= 0 and v.max() < 1 and len(v.unique()) > 2
    with pytest.raises(SnncError, match="samples > 0"):
        sample_inputs((4,), samples=0)


def test_verify_traces_a_torch_module():
    import snnc.nn as snn
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5, bias=False), snn.IF(v_threshold=0.5, v_reset=0.0))
    report = snnc.verify(model, toy_target.make(), X)
    assert report.ok and report.layers[0].elements == 16 * 4 * 5
    with torch.no_grad():
        expected = torch.stack([model(xt) for xt in X])
    assert torch.equal(report.outputs[0], expected)
