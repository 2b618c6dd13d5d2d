"""The HDF5 opened with plain h5py shows what netx reads, with slayer's dtypes.

The expectations below are transcribed from Lava-DL 0.6's ``netx`` reader and slayer's
``export_hdf5`` (the keys and dtypes they read and write), not derived from our writer.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import torch
import torch.nn.functional as F

from snnc.targets.loihi import TARGET

import loihi_nets as nets

# keys netx reads per layer type (required, optional); `neuron` is a sub-group
SCHEMA = {
    "input": ({"type", "shape"}, {"neuron", "weight", "bias"}),
    "flatten": ({"type"}, {"shape"}),
    "dense": ({"type", "shape", "weight", "neuron"}, {"bias", "delay", "inFeatures", "outFeatures"}),
    "conv": ({"type", "shape", "weight", "stride", "padding", "dilation", "groups", "neuron"},
             {"bias", "inChannels", "outChannels", "kernelSize", "delay"}),
}
NEURON_KEYS = {"type", "iDecay", "vDecay", "vThMant", "refDelay", "gradedSpike"}
WEIGHT_RANGES = {"mixed": (-256, 254), "excitatory": (0, 255), "inhibitory": (-255, 0)}


def artifact(tmp_path, graph):
    q = TARGET.prepare(graph, {})
    TARGET.lower(q, tmp_path, {})
    return q, tmp_path / "network.net"


def layer_type(g) -> str:
    t = g["type"]
    assert t.dtype == np.dtype("S10") and t.shape == (1,), "slayer writes `type` as a (1,) |S10 array"
    return t[0].decode("ascii")


def check_layer_schema(g):
    kind = layer_type(g)
    required, optional = SCHEMA[kind]
    keys = set(g.keys())
    assert required <= keys, f"{kind}: missing {required - keys}"
    assert keys <= required | optional, f"{kind}: unexpected {keys - required - optional}"
    assert g["shape"].dtype == np.int64
    if kind in ("dense", "conv"):
        w = g["weight"][()]
        assert w.dtype in (np.float32, np.float64)
        assert np.array_equal(w, np.round(w)), "netx truncates floats: weights must hold integers"
        mode = "excitatory" if w.min() >= 0 else "inhibitory" if w.max() <= 0 else "mixed"
        lo, hi = WEIGHT_RANGES[mode]
        assert lo <= w.min() and w.max() <= hi, f"{mode} weights outside the range Lava keeps intact"
        if "bias" in g:
            assert g["bias"].dtype in (np.float32, np.float64)
            assert np.array_equal(g["bias"][()], np.round(g["bias"][()]))
        n = g["neuron"]
        assert set(n.keys()) == NEURON_KEYS
        assert h5py.check_string_dtype(n["type"].dtype) is not None and n["type"].shape == ()
        assert n["type"][()] == b"CUBA"
        for key in ("iDecay", "vDecay", "vThMant", "refDelay"):
            assert n[key].dtype == np.int64 and n[key].shape == ()
        assert n["gradedSpike"].dtype == np.bool_
        assert 0 <= n["iDecay"][()] <= 4096 and 0 <= n["vDecay"][()] <= 4096
        assert 0 <= n["vThMant"][()] < 2**17
    if kind == "dense":
        shape, w = g["shape"][()], g["weight"][()]
        assert w.ndim == 2 and w.shape[0] == int(np.prod(shape)), "dense weight is (out, in)"
    if kind == "conv":
        shape, w = g["shape"][()], g["weight"][()]
        assert shape.shape == (3,), "conv shape is CHW"
        assert w.ndim == 4 and w.shape[0] == shape[0], "conv weight is torch layout (O, I/groups, kH, kW)"
        for key in ("stride", "padding", "dilation"):
            assert g[key][()].shape in ((), (2,)) and np.issubdtype(g[key].dtype, np.integer)
        assert g["groups"].shape == () and np.issubdtype(g["groups"].dtype, np.integer)
    return kind


def layers_of(path):
    with h5py.File(path, "r") as f:
        assert set(f.keys()) <= {"layer", "simulation"}
        names = sorted(f["layer"].keys(), key=int)
        assert names == [str(i) for i in range(len(names))], "netx reads /layer/0 .. /layer/N-1"
        kinds = [check_layer_schema(f["layer"][i]) for i in names]
        first = f["layer"]["0"]
        assert kinds[0] == "input" and "neuron" not in first, "input layer without neuron (net.inp feeds layer 1)"
        return kinds


def test_dense_schema(tmp_path):
    rng = np.random.default_rng(0)
    g = nets.dense_net(rng, (10, 7, 4), ("if", "cuba"), bias=True)
    q, path = artifact(tmp_path, g)
    assert layers_of(path) == ["input", "dense", "dense"]
    with h5py.File(path, "r") as f:
        assert list(f["layer/0/shape"][()]) == [10]
        assert np.array_equal(f["layer/1/weight"][()], q["fc0"].params["weight"])
        n = f["layer/1/neuron"]
        assert (n["iDecay"][()], n["vDecay"][()]) == (4096, 0), "IF is CUBA with iDecay 4096, vDecay 0"
        assert n["refDelay"][()] == 1 and not n["gradedSpike"][()]


def test_conv_and_pool_schema(tmp_path):
    rng = np.random.default_rng(1)
    g = nets.conv_net(rng, (2, 8, 6), (3,), ("cuba",), pool="neuron", stride=1, padding=1)
    q, path = artifact(tmp_path, g)
    assert layers_of(path) == ["input", "conv", "conv", "flatten", "dense"]
    with h5py.File(path, "r") as f:
        assert list(f["layer/0/shape"][()]) == [2, 8, 6], "input shape is CHW"
        pool = f["layer/2"]
        assert list(pool["shape"][()]) == [3, 4, 3]
        assert list(pool["stride"][()]) == [2, 2] and int(pool["groups"][()]) == 3
        assert np.all(pool["weight"][()] == pool["weight"][()].flat[0]), "sum pooling = a conv of equal weights"
        # the stored conv, applied as torch cross-correlation, is the IR's conv on integer weights
        x = torch.as_tensor(nets.spikes(rng, 1, 2, (2, 8, 6), 0.5)[0], dtype=torch.float64)
        w = torch.as_tensor(f["layer/1/weight"][()], dtype=torch.float64)
        ref = F.conv2d(x, torch.as_tensor(q["conv0"].params["weight"], dtype=torch.float64), padding=1)
        assert torch.equal(F.conv2d(x, w, stride=tuple(f["layer/1/stride"][()]),
                                    padding=tuple(f["layer/1/padding"][()])), ref)


def test_host_json_names_readout_and_window(tmp_path):
    rng = np.random.default_rng(2)
    g = nets.dense_net(rng, (6, 5, 3), ("cuba",), readout="argmax_spike_count", window=7)
    artifact(tmp_path, g)
    host = json.loads((tmp_path / "host.json").read_text())
    assert host["readout"]["rule"] == "argmax_spike_count" and host["window_size"] == 7
    assert host["network"] == "network.net" and host["output_shape"] == [3]
