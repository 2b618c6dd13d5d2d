"""``snnc report`` and ``snnc verify --report`` as a user runs them: the tables on stdout, the JSON
(re-read and checked against the schema's keys) and the self-contained HTML page."""

import json

import numpy as np

import snnc
from snnc.deployment import SCHEMA, VERSION

from support.cli import one_line_error, run_cli
from support.verify_helpers import small_graph

SECTIONS = {"schema", "version", "target", "numerics", "inputs_shape", "fits", "verified", "refusal", "notes",
            "fit", "cost", "quantization", "drift"}


def _model(tmp_path):
    snnc.ir.save(small_graph(), tmp_path / "model.snnc")
    np.save(tmp_path / "x.npy", (np.random.default_rng(0).random((8, 3, 6)) < 0.5).astype(np.float32))
    return tmp_path / "model.snnc"


def test_report_prints_tables_and_writes_json_and_html(tmp_path):
    model = _model(tmp_path)
    rc, out, err = run_cli("report", model, "--target", "loihi", "--inputs", "x.npy", "--json", "r.json",
                           "--html", "r.html", cwd=tmp_path)
    assert rc == 0, err
    for title in ("== fit", "== synaptic operations", "== activity", "== quantization", "== drift"):
        assert title in out
    doc = json.loads((tmp_path / "r.json").read_text())
    assert set(doc) == SECTIONS and (doc["schema"], doc["version"]) == (SCHEMA, VERSION)
    assert doc["fits"] and doc["verified"] and doc["inputs_shape"] == [8, 3, 6]
    assert [layer["layer"] for layer in doc["fit"]["layers"]] == ["fc1", "fc2"]
    again = snnc.report(small_graph(), "loihi", inputs=np.load(tmp_path / "x.npy")).to_dict()
    assert doc == json.loads(json.dumps(again))  # the CLI and the API give the same report
    page = (tmp_path / "r.html").read_text()
    assert page.startswith("<!doctype html>") and "src='data:image/png;base64," in page
    for part in ("<h2>fit</h2>", "<h2>quantization</h2>", "rates_n1.png", "raster_", "divergence_map.png"):
        assert part in page, part
    assert "http" not in page.split("<body>", 1)[1]  # self-contained: nothing fetched


def test_report_exit_status_is_1_when_the_model_does_not_fit(tmp_path):
    from snnc.ir import Graph
    g = Graph()
    g.add_node("x", "Input", shape=(5000,))
    g.add_node("fc", "Linear", ["x"], {"weight": np.full((2, 5000), 0.25, np.float32)})
    g.add_node("n", "Neuron", ["fc"], {"v_threshold": np.array(1.0, np.float32),
                                       "v_reset": np.array(0.0, np.float32)}, charge="if")
    g.add_node("y", "Output", ["n"])
    snnc.ir.save(g.verify(), tmp_path / "wide.snnc")
    rc, out, err = run_cli("report", "wide.snnc", "--target", "loihi", "--samples", "1", "--timesteps", "2",
                           cwd=tmp_path)
    assert rc == 1, err
    assert "DOES NOT FIT: layer 'fc': fan-in 5,000 exceeds 4,096" in out


def test_report_refuses_to_replace_a_user_file_before_the_work(tmp_path):
    model = _model(tmp_path)
    (tmp_path / "r.json").write_text("mine")
    one_line_error(run_cli("report", model, "--target", "gpu", "--json", "r.json", cwd=tmp_path), "r.json")
    assert (tmp_path / "r.json").read_text() == "mine"


def test_verify_report_json_includes_the_deployment_sections(tmp_path):
    model = _model(tmp_path)
    rc, out, err = run_cli("verify", model, "--target", "hls", "--inputs", "x.npy", "--report", "v.json",
                           cwd=tmp_path)
    assert rc == 0, err
    doc = json.loads((tmp_path / "v.json").read_text())
    assert doc["bit_exact"] and set(doc["deployment"]) == SECTIONS
    assert doc["deployment"]["fit"]["target"] == "hls" and doc["deployment"]["verified"] is True
    assert doc["deployment"]["quantization"]["range_analysis"]["checked"] > 0


def test_the_schema_document_names_every_key_the_json_has():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "report-schema.md").read_text()
    report = snnc.report(small_graph(), "hls", inputs=np.ones((4, 2, 6), np.float32)).to_dict()

    def keys(value, prefix=""):
        if isinstance(value, dict):
            for key, inner in value.items():
                if key in ("footprint", "totals", "spike_rate_error", "usage"):  # keyed by node or resource
                    yield prefix + key
                    continue
                yield prefix + key
                yield from keys(inner, "")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            yield from keys(value[0], "")

    import re

    missing = sorted({k for k in keys(report) if not re.search(rf"[`{{ ,.]{k}[`}},.]", doc)})
    assert not missing, f"docs/report-schema.md does not document {missing}"
