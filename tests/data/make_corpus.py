"""Regenerate the bad-input corpus in this directory: ``python tests/data/make_corpus.py``.

Each file is small and malformed in one way (see ``corpus.json`` for what each one is and the CLI
command that must refuse it with exit 2 and one line). ``good.snnc`` is a valid model the commands
that need one use. The foreign pickle, if it were ever unpickled unsafely, would create the file
``SNNC_PICKLE_EXECUTED`` in the working directory; the test asserts it never appears.
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).parent
MARKER = "SNNC_PICKLE_EXECUTED"


def good_graph(threshold=0.5, extra=None):
    from snnc.ir import Graph
    rng = np.random.default_rng(0)
    g = Graph()
    g.add_node("x", "Input", shape=(6,))
    g.add_node("fc1", "Linear", ["x"], {"weight": (rng.integers(-6, 9, size=(8, 6)) / 8).astype(np.float32)})
    g.add_node("n1", "Neuron", ["fc1"], {"v_threshold": np.array(threshold, np.float32),
                                         "v_reset": np.array(0.0, np.float32)}, charge="if", window_size=8)
    g.add_node("fc2", "Linear", ["n1"], {"weight": (rng.integers(-6, 9, size=(3, 8)) / 8).astype(np.float32)})
    g.add_node("n2", "Neuron", ["fc2"], {"v_threshold": np.array(0.5, np.float32),
                                         "v_reset": np.array(0.0, np.float32)}, charge="if", window_size=8)
    g.add_node("r", "Readout", ["n2"], window_size=8)
    g.add_node("y", "Output", ["r"])
    return g.verify()


def write_unchecked(graph, path: Path, version=None):
    """Save a graph without verifying it first (to store what ``save`` would refuse)."""
    from snnc.ir import serialize
    doc, files = serialize._encode(graph)
    if version is not None:
        doc["version"] = version
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("graph.json", json.dumps(doc, indent=1))
        for name, data in files.items():
            zf.writestr(name, data)


class _Foreign:
    """Unpickling this runs ``open(MARKER, "w")``: code execution, which snnc must never allow."""

    def __reduce__(self):
        return (open, (MARKER, "w"))


def main():
    good = good_graph()
    good.save(HERE / "good.snnc")
    np.save(HERE / "good_inputs.npy", (np.random.default_rng(1).random((8, 2, 6)) < 0.5).astype(np.float32))

    (HERE / "corrupt.pt").write_bytes(bytes(np.random.default_rng(2).integers(0, 256, 300, dtype=np.uint8)))
    import snnc.nn as snn
    model = torch.nn.Sequential(torch.nn.Linear(6, 4, bias=False), snn.IF(v_threshold=1.0, v_reset=0.0))
    buf = io.BytesIO()
    torch.save(model, buf)
    data = buf.getvalue()
    (HERE / "truncated.pt").write_bytes(data[: len(data) // 2])
    buf = io.BytesIO()
    torch.save({"model": _Foreign()}, buf)
    (HERE / "foreign_pickle.pt").write_bytes(buf.getvalue())
    (HERE / "foreign_pickle.pkl").write_bytes(pickle.dumps(_Foreign(), protocol=2))
    nan = good_graph()
    nan["fc2"].params["weight"] = nan["fc2"].params["weight"].copy()
    nan["fc2"].params["weight"][1, 2] = np.nan
    write_unchecked(nan, HERE / "nan_weights.snnc")
    inf = good_graph()
    inf["n1"].params["v_threshold"] = np.array(np.inf, np.float32)
    write_unchecked(inf, HERE / "inf_threshold.snnc")
    good_graph(threshold=1e30).save(HERE / "huge_threshold.snnc")
    write_unchecked(good, HERE / "future_version.snnc", version=99)
    (HERE / "empty.snnc").write_bytes(b"")
    np.save(HERE / "wrong_shape_inputs.npy", np.zeros((8, 2, 5), np.float32))
    np.save(HERE / "nan_inputs.npy", np.full((8, 2, 6), np.nan, np.float32))
    np.save(HERE / "pickled_inputs.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    torch.save(torch.nn.Sequential(torch.nn.LSTM(6, 4)), HERE / "unsupported_layer.pt")

    from snnc.ir import Graph
    g = Graph()
    g.add_node("x", "Input", shape=(1, 4, 4))
    g.add_node("pool", "MaxPool2d", ["x"], kernel_size=2)
    g.add_node("flat", "Flatten", ["pool"])
    g.add_node("fc", "Linear", ["flat"], {"weight": np.full((2, 4), 0.5, np.float32)})
    g.add_node("n", "Neuron", ["fc"], {"v_threshold": np.array(0.5, np.float32),
                                       "v_reset": np.array(0.0, np.float32)}, charge="if")
    g.add_node("y", "Output", ["n"])
    g.verify().save(HERE / "maxpool.snnc")

    art = HERE / "artifact_bad_manifest"
    art.mkdir(exist_ok=True)
    (art / "snnc.json").write_text('{"format": "snnc-artifact", "version": 2, "target": ')
    art = HERE / "artifact_unknown_target"
    art.mkdir(exist_ok=True)
    (art / "snnc.json").write_text(json.dumps({"format": "snnc-artifact", "version": 2, "target": "quantum",
                                               "numerics": "float32", "input_shape": [6],
                                               "output_kinds": ["spikes"]}))
    art = HERE / "artifact_future_version"
    art.mkdir(exist_ok=True)
    (art / "snnc.json").write_text(json.dumps({"format": "snnc-artifact", "version": 7, "target": "hls",
                                               "numerics": "hls", "input_shape": [6]}))


if __name__ == "__main__":
    main()
