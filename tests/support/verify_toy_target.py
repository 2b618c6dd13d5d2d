"""A minimal target for testing the driver itself: ``net.json`` (structure) + ``weights.bin`` (raw
little-endian parameters); its simulator rebuilds the graph from those two files only and runs the
float32 interpreter. ``expose=True`` makes ``simulate`` accept ``record=True`` (per-layer values)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from snnc.ir import Graph, Node, interpret
from snnc.targets import Target


def _lower(graph, out: Path, options):
    blob = bytearray()
    nodes = []
    for node in graph.nodes:
        params = {}
        for key, value in node.params.items():
            arr = np.ascontiguousarray(value)
            params[key] = {"offset": len(blob), "dtype": arr.dtype.str, "shape": list(arr.shape)}
            blob += arr.tobytes()
        attrs = {k: list(v) if isinstance(v, tuple) else v for k, v in node.attrs.items()}
        nodes.append({"name": node.name, "op": node.op, "inputs": node.inputs, "attrs": attrs, "params": params})
    (out / "net.json").write_text(json.dumps({"nodes": nodes}, indent=1))
    (out / "weights.bin").write_bytes(bytes(blob))


def _load(out: Path) -> Graph:
    doc = json.loads((out / "net.json").read_text())
    blob = (out / "weights.bin").read_bytes()
    g = Graph()
    for n in doc["nodes"]:
        params = {}
        for key, ref in n["params"].items():
            dt = np.dtype(ref["dtype"])
            count = int(np.prod(ref["shape"])) if ref["shape"] else 1
            params[key] = np.frombuffer(blob, dt, count, ref["offset"]).reshape(ref["shape"]).copy()
        attrs = {k: tuple(v) if isinstance(v, list) else v for k, v in n["attrs"].items()}
        g.add(Node(n["name"], n["op"], n["inputs"], params, attrs))
    return g.verify()


def _simulate_plain(out, x):
    return interpret(_load(Path(out)), x)


def _simulate_record(out, x, record=False):
    y, trace = interpret(_load(Path(out)), x, record=True)
    if record:
        g = _load(Path(out))
        return y, {n.name: trace.values[n.name] for n in g.nodes if n.op in ("Neuron", "Linear", "Conv2d")}
    return y


def make(name="toy", expose=True) -> Target:
    return Target(name, "float32", prepare=lambda g, o: g, check=lambda g, o: None, lower=_lower,
                  simulate=_simulate_record if expose else _simulate_plain, records_layers=expose)
