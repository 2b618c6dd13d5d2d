"""Run a Loihi artifact (``network.net`` + ``host.json``) with Lava's fixed-point semantics.

Reads nothing but those two files. Per step: the input spikes feed the first synapse, each layer's
spikes feed the next layer's synapse in the same step, every synapse delivers one step later (no
re-alignment: layer k's output at step t depends on inputs up to step t−k, as on Lava's output port).
All state (synapse buffers, u, v, readout) is cleared after every ``window_size`` steps. The integer
operations are those of :mod:`snnc.ir.numerics.loihi`; the readout is the IR's ``readout_step``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import torch

from ...ir.errors import SnncError
from ...ir.interpreter import readout_step
from ...ir.numerics.loihi import bias_tensor, check_spikes, conv_sum, cuba_step, delayed, dense_sum
from .lower import HOST_FILE, HOST_FORMAT, HOST_VERSION, NET_FILE


@dataclass
class Layer:
    type: str
    shape: tuple
    weight: torch.Tensor | None = None
    geometry: dict = field(default_factory=dict)
    neuron: dict = field(default_factory=dict)
    bias: object = 0


def _scalar(ds) -> int:
    return int(np.asarray(ds[()]).reshape(-1)[0])


def _pair(ds) -> tuple[int, int]:
    v = np.asarray(ds[()]).reshape(-1)
    return (int(v[0]), int(v[0])) if v.size == 1 else (int(v[0]), int(v[1]))


def read_network(path) -> list[Layer]:
    """The layers of a netx HDF5, read as netx reads them (``weight``/``bias`` truncated to int)."""
    layers = []
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise SnncError(f"{path}: cannot open the netx HDF5 ({e})") from None
    with f:
        if "layer" not in f:
            raise SnncError(f"{path}: no /layer group (not a netx network)")
        for i in range(len(f["layer"])):
            g = f["layer"][str(i)]
            kind = np.asarray(g["type"][()]).reshape(-1)[0]
            kind = kind.decode("ascii") if isinstance(kind, bytes) else str(kind)
            shape = tuple(int(d) for d in g["shape"][()]) if "shape" in g else ()
            layer = Layer(kind, shape)
            if kind in ("dense", "conv"):
                w = np.asarray(g["weight"][()]).astype(np.int64)
                if kind == "dense" and w.ndim == 1:
                    w = w.reshape(int(np.prod(shape)), -1)
                layer.weight = torch.as_tensor(w)
                if kind == "conv":
                    layer.geometry = {k: _pair(g[k]) for k in ("stride", "padding", "dilation")}
                    layer.geometry["groups"] = _scalar(g["groups"])
                n = g["neuron"]
                ntype = n["type"][()]
                ntype = ntype.decode() if isinstance(ntype, bytes) else str(ntype)
                if ntype not in ("CUBA", "LOIHI"):
                    raise SnncError(f"{path}: layer {i}: neuron type {ntype!r} is not CUBA")
                layer.neuron = {k: _scalar(n[k]) for k in ("iDecay", "vDecay", "vThMant")}
                if "bias" in g:
                    b = np.asarray(g["bias"][()]).astype(np.int64).reshape(-1)
                    layer.bias = [int(v) for v in b]
            elif kind not in ("input", "flatten"):
                raise SnncError(f"{path}: layer {i}: netx layer type {kind!r} is not supported by this simulator")
            layers.append(layer)
    return layers


def read_host(out_dir: Path) -> dict:
    try:
        host = json.loads((out_dir / HOST_FILE).read_text())
    except (OSError, ValueError) as e:
        raise SnncError(f"{out_dir / HOST_FILE}: cannot read the host config ({e})") from None
    if host.get("format") != HOST_FORMAT or host.get("version") != HOST_VERSION:
        raise SnncError(f"{out_dir / HOST_FILE}: expected format {HOST_FORMAT} version {HOST_VERSION}")
    return host


def simulate(out_dir, inputs, record: bool = False):
    """Outputs ``[T, N, *output_shape]`` (spikes, or the readout's decisions ``[T, N, 1]``), int64.
    ``record=True`` also returns every layer's spikes keyed by the IR neuron's name (from host.json)."""
    if not record:
        return run(out_dir, inputs)
    out, trace = run(out_dir, inputs, record=True)
    names = {e["index"]: e.get("neuron") for e in read_host(Path(out_dir)).get("layers", [])}
    return out, {names.get(i) or f"layer{i}": v for i, v in trace.items()}


def run(out_dir, inputs, apply_readout: bool = True, record: bool = False):
    """:func:`simulate`; ``apply_readout=False`` returns the output layer's spikes even when the
    artifact has a host-side readout; ``record=True`` also returns every netx layer's spikes
    (``{index: [T, N, *layer shape]}``, the shape as in the HDF5, e.g. CHW for conv)."""
    out_dir = Path(out_dir)
    host = read_host(out_dir)
    layers = read_network(out_dir / host.get("network", NET_FILE))
    x = torch.as_tensor(inputs)
    shape = tuple(host["input_shape"])
    if x.dim() != len(shape) + 2 or tuple(x.shape[2:]) != shape:
        raise SnncError(f"input must have shape [T, N, {', '.join(map(str, shape))}], got {list(x.shape)}")
    check_spikes(x, "loihi input")
    x = x.to(torch.int64)
    steps, batch = x.shape[:2]
    window = int(host.get("window_size") or 0)
    readout = host.get("readout") if apply_readout else None
    out_shape = tuple(host["output_shape"])
    biases = [bias_tensor(layer.bias, layer.shape) if layer.type in ("dense", "conv") else 0 for layer in layers]
    states = [({}, {}) for _ in layers]
    ro_state: dict = {}
    outputs, trace = [], {i: [] for i, layer in enumerate(layers) if layer.type in ("dense", "conv")}
    for t in range(steps):
        s = x[t].reshape(batch, -1) if host.get("input_flattened") else x[t]
        for i, (layer, bias, (syn, neu)) in enumerate(zip(layers, biases, states)):
            if layer.type == "flatten":
                s = s.reshape(batch, -1)
                continue
            if layer.type == "input":
                continue
            if layer.type == "dense":
                a = dense_sum(s, layer.weight)
            else:
                geo = layer.geometry
                a = conv_sum(s, layer.weight, geo["stride"], geo["padding"], geo["dilation"], geo["groups"])
            n = layer.neuron
            s = cuba_step(neu, delayed(syn, a), n["iDecay"], n["vDecay"], n["vThMant"], bias)
            if record:
                trace[i].append(s)
        y = s.reshape((batch,) + out_shape)
        if readout is not None:
            y = readout_step(y, ro_state, "spike", readout["rule"], readout["class_threshold"])
        outputs.append(y)
        if window and (t + 1) % window == 0:
            for syn, neu in states:
                syn.clear()
                neu.clear()
            ro_state.clear()
    result = torch.stack(outputs)
    if record:
        return result, {i: torch.stack(v) for i, v in trace.items()}
    return result


__all__ = ["simulate", "run", "read_network", "read_host", "Layer"]
