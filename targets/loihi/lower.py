"""Loihi-quantized IR → Lava-DL ``netx`` HDF5 (``network.net``) + the host-side ``host.json``.

The HDF5 follows the schema netx reads (see FORMAT.md; the files load in Lava-DL 0.6 netx, ``scripts/lava_check.py``), with
the dtypes slayer's ``export_hdf5`` writes. netx has no readout and no notion of snnc's window, so
those (and the IR input/output shapes) go to ``host.json``, which the simulator and
``scripts/lava_check.py`` read.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from ...ir import Graph
from ...ir.interpreter import window_of
from .constraints import check

NET_FILE = "network.net"
HOST_FILE = "host.json"
HOST_FORMAT = "snnc-loihi-host"
HOST_VERSION = 1


def _type(group: h5py.Group, name: str) -> None:
    group.create_dataset("type", data=np.array([name.encode("ascii")], dtype="S10"))


def _neuron(group: h5py.Group, q: dict) -> None:
    n = group.create_group("neuron")
    n.create_dataset("type", data="CUBA", dtype=h5py.string_dtype())
    for key, value in (("iDecay", q["i_decay"]), ("vDecay", q["v_decay"]), ("vThMant", q["v_th_mant"]),
                       ("refDelay", 1)):
        n.create_dataset(key, data=np.int64(value))
    n.create_dataset("gradedSpike", data=np.bool_(False))


def plan(graph: Graph) -> tuple[list[dict], dict]:
    """The netx layer list (dicts) and the host config for a checked loihi graph."""
    nodes = graph.nodes
    inp = graph.inputs[0]
    input_shape = list(inp.attrs["shape"])
    layers: list[dict] = [{"type": "input", "shape": input_shape, "name": inp.name}]
    host = {"format": HOST_FORMAT, "version": HOST_VERSION, "network": NET_FILE,
            "input_shape": input_shape, "input_flattened": False, "window_size": window_of(graph),
            "readout": None, "output_shape": None}
    pending_flatten = False
    for node in nodes[1:]:
        src = graph[node.inputs[0]] if node.inputs else None
        if node.op == "Flatten":
            if src.op == "Input":
                layers[0]["shape"] = [int(np.prod(input_shape))]
                host["input_flattened"] = True
            else:
                pending_flatten = True
        elif node.op in ("Linear", "Conv2d"):
            if pending_flatten:
                layers.append({"type": "flatten", "shape": [int(np.prod(src.shape))], "name": src.name + "_flat"})
                pending_flatten = False
            neuron = graph.users(node.name)[0]
            entry = {"type": "dense" if node.op == "Linear" else "conv", "name": node.name,
                     "neuron_name": neuron.name, "shape": list(neuron.shape),
                     "weight": np.asarray(node.params["weight"], np.float32), "quant": neuron.quant}
            if node.op == "Conv2d":
                from ...ir.ops import pair
                for key in ("stride", "padding", "dilation"):
                    entry[key] = list(pair(node.name, key, node.attrs[key]))
                entry["groups"] = node.attrs["groups"]
            layers.append(entry)
        elif node.op == "Neuron":
            host["output_shape"] = list(node.shape)
        elif node.op == "Readout":
            host["readout"] = {"name": node.name, "rule": node.attrs["rule"],
                               "class_threshold": node.attrs["class_threshold"]}
        elif node.op == "Output":
            if src.op == "Flatten" or pending_flatten:
                host["output_shape"] = [int(np.prod(host["output_shape"]))]
    return layers, host


def write_network(layers: list[dict], path: Path) -> None:
    with h5py.File(path, "w") as f:
        group = f.create_group("layer")
        for i, layer in enumerate(layers):
            g = group.create_group(str(i))
            _type(g, layer["type"])
            g.create_dataset("shape", data=np.asarray(layer["shape"], np.int64))
            if layer["type"] in ("dense", "conv"):
                g.create_dataset("weight", data=layer["weight"])
                q = layer["quant"]
                if isinstance(q["bias_mant"], list):
                    g.create_dataset("bias", data=np.asarray(q["bias_mant"], np.float32))
                elif q["bias_mant"]:
                    g.create_dataset("bias", data=np.full(layer["shape"][0], q["bias_mant"], np.float32))
                if layer["type"] == "dense":
                    g.create_dataset("inFeatures", data=np.int64(layer["weight"].shape[1]))
                    g.create_dataset("outFeatures", data=np.int64(layer["weight"].shape[0]))
                else:
                    w = layer["weight"]
                    for key in ("stride", "padding", "dilation"):
                        g.create_dataset(key, data=np.asarray(layer[key], np.int64))
                    g.create_dataset("groups", data=np.int64(layer["groups"]))
                    g.create_dataset("inChannels", data=np.int64(w.shape[1] * layer["groups"]))
                    g.create_dataset("outChannels", data=np.int64(w.shape[0]))
                    g.create_dataset("kernelSize", data=np.asarray(w.shape[2:], np.int64))
                _neuron(g, q)


def lower(graph: Graph, out_dir, options: dict | None = None) -> None:
    """Write ``network.net`` and ``host.json`` for a loihi-quantized graph into ``out_dir``."""
    check(graph, options)
    out_dir = Path(out_dir)
    layers, host = plan(graph)
    host["layers"] = [{"index": i, "type": l["type"], "node": l["name"], "neuron": l.get("neuron_name")}
                      for i, l in enumerate(layers)]
    write_network(layers, out_dir / NET_FILE)
    (out_dir / HOST_FILE).write_text(json.dumps(host, indent=1))


__all__ = ["lower", "plan", "write_network", "NET_FILE", "HOST_FILE"]
