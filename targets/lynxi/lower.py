"""IR (quantized to the ``lynxi`` profile) → ``model.json`` + ``model.bin``; see FORMAT.md.

One layer per IR node, in topological order; every parameter goes into the tensor table of
``model.bin`` (float16, 64-byte aligned, SHA-256 per tensor); every piece of state a layer keeps
between steps gets an entry of the named persistent-state region.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...ir import Graph
from ...ir.neuron import initial_keys
from ...ir.ops import Pool2d, pair
from ..common import pack_tensors, sha256_hex, window_of

FORMAT = "snnc-lynxi"
VERSION = 1
ALIGNMENT = 64
STATE_REGION = "neuron_state"

LAYER_TYPES = {"Input": "input", "Output": "output", "Linear": "linear", "Conv2d": "conv2d",
               "AvgPool2d": "avgpool2d", "SumPool2d": "sumpool2d", "MaxPool2d": "maxpool2d",
               "Flatten": "flatten", "Add": "add", "Mul": "mul", "Delay": "delay", "Scale": "scale", "Neuron": "neuron", "Readout": "readout"}


def _attrs(node) -> dict:
    a = node.attrs
    if node.op == "Input":
        return {}
    if node.op == "Conv2d":
        return {"stride": list(pair(node.name, "stride", a["stride"])),
                "padding": list(pair(node.name, "padding", a["padding"])),
                "dilation": list(pair(node.name, "dilation", a["dilation"])), "groups": a["groups"]}
    if node.op in ("AvgPool2d", "SumPool2d", "MaxPool2d"):
        k, s, p = Pool2d.geometry(node)
        return {"kernel": list(k), "stride": list(s), "padding": list(p)}
    if node.op == "Neuron":
        attrs = {key: a[key] for key in ("charge", "decay_input", "compare", "reset", "reset_timing", "threshold")}
        if a["output"] != "spikes":  # (written only where it differs from the default, as version 1 reads it)
            attrs["output"] = a["output"]
        return attrs
    if node.op == "Readout":
        return {key: a[key] for key in ("output_mode", "rule", "class_threshold")}
    if node.op == "Mul":
        return {"complement": list(a["complement"])}
    if node.op == "Delay":
        return {"shape": list(node.shape), "steps": a["steps"]}
    return {}


def _state_entries(node, graph: Graph) -> list[tuple]:
    """The state variables of a layer: ``(var, dtype, shape, init)``."""
    shape = list(node.shape)
    if node.op == "Neuron":
        a = node.attrs
        out = [(var, "float16", shape, {"param": key} if key else {"fill": 0})
               for var, key in initial_keys(a, node.params.__contains__).items()]
        if a["reset_timing"] == "delayed":
            out.append(("s", "float16", shape, {"fill": 0}))
        return out
    if node.op == "Readout":
        (classes,) = graph[node.inputs[0]].shape
        if node.attrs["output_mode"] == "membrane":
            return [("mem", "float16", [classes], {"fill": 0})]
        out = [("count", "int32", [classes], {"fill": 0})]
        if node.attrs["rule"] in ("first_to_threshold", "threshold_then_argmax"):
            out.append(("first", "int32", [1], {"fill": -1}))
        return out
    if node.op == "Delay":
        return [(f"q{k}", "float16", shape, {"fill": 0}) for k in range(node.attrs["steps"])]
    return []


def build(graph: Graph) -> tuple[dict, bytes]:
    """The ``model.json`` document and the ``model.bin`` bytes for a lynxi-quantized graph."""
    graph.verify()
    tensors: list[tuple[str, np.ndarray]] = []
    layers = []
    entries = []
    region_size = 0
    for node in graph.nodes:
        params = {}
        for key, value in node.params.items():
            name = f"{node.name}.{key}"
            tensors.append((name, np.asarray(value, np.float16)))
            params[key] = name
        layer = {"name": node.name, "type": LAYER_TYPES[node.op], "inputs": list(node.inputs),
                 "shape": list(node.shape), "attrs": _attrs(node), "params": params, "state": []}
        if node.op == "Input":
            layer["attrs"] = {"shape": list(node.shape)}
        for var, dtype, shape, init in _state_entries(node, graph):
            nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
            offset = -(-region_size // ALIGNMENT) * ALIGNMENT
            entry = {"name": f"{node.name}.{var}", "layer": node.name, "var": var, "dtype": dtype,
                     "shape": shape, "offset": offset, "nbytes": nbytes, "init": init}
            entries.append(entry)
            layer["state"].append(entry["name"])
            region_size = offset + nbytes
        layers.append(layer)
    blob, table = pack_tensors(tensors, ALIGNMENT)
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "numerics": "lynxi",
        "byte_order": "little",
        "alignment": ALIGNMENT,
        "bin": {"file": "model.bin", "nbytes": len(blob), "sha256": sha256_hex(blob)},
        "window": window_of(graph),
        "input": graph.inputs[0].name,
        "outputs": [n.name for n in graph.outputs],
        "layers": layers,
        "state_region": {"name": STATE_REGION, "alignment": ALIGNMENT,
                         "bytes_per_sample": -(-region_size // ALIGNMENT) * ALIGNMENT, "entries": entries},
        "tensors": table,
    }
    return doc, blob


def lower(graph: Graph, out_dir: Path, options: dict | None = None) -> None:
    doc, blob = build(graph)
    out_dir = Path(out_dir)
    (out_dir / "model.bin").write_bytes(blob)
    (out_dir / "model.json").write_text(json.dumps(doc, indent=1) + "\n")
