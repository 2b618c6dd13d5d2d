"""What the Loihi target accepts, and the per-layer resource estimate ``snnc inspect`` prints.

The graph checked here is the one :func:`snnc.targets.loihi.layers.lower_to_layers` produced
(structural refusals — Add, max-pool, non-CUBA neurons — are raised there, naming the node). Here:
integer ranges that Lava keeps intact, and sizes a Loihi 2 core can hold.

Core limits used (Intel's public Loihi 2 brief: 128 neuro cores, up to 1 M neurons and 120 M synapses
per chip; the exact per-core synapse memory depends on the encoding, so these are planning estimates):

- ``NEURONS_PER_CORE = 8192`` (1 M neurons / 128 cores)
- ``SYNAPSE_BYTES_PER_CORE = 128 KiB`` of synaptic memory, 8-bit weights stored densely (no sharing)
- ``MAX_FAN_IN = 4096`` synapses into one neuron (one neuron's synapses must sit in one core)
- ``CORES_PER_CHIP = 128`` (only reported: larger nets span several chips)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...ir import Graph
from ...ir.errors import SnncError, UnsupportedError
from ..fit import Fit, LayerFit, Limit, Resource
from ...ir.numerics.loihi import (BIAS_MAX, BIAS_MIN, DECAY_UNITY, VTH_MAX, WEIGHT_RANGE, neuron_quant,
                                  sign_mode)

TARGET = "loihi"
NEURONS_PER_CORE = 8192
SYNAPSE_BYTES_PER_CORE = 128 * 1024
MAX_FAN_IN = 4096
CORES_PER_CHIP = 128
INT8_MAX = 127          # Lava's conv model keeps kernel size, stride, padding, dilation in int8
ALLOWED = ("Input", "Flatten", "Linear", "Conv2d", "Neuron", "Readout", "Output")


@dataclass
class LayerEstimate:
    name: str
    kind: str            # dense | conv
    neurons: int
    fan_in: int
    weights: int         # distinct weights stored in the artifact

    @property
    def synapses(self) -> int:
        return self.neurons * self.fan_in

    @property
    def synapse_bytes(self) -> int:
        return self.synapses          # 8-bit weights, no sharing assumed

    @property
    def cores(self) -> int:
        return max(math.ceil(self.neurons / NEURONS_PER_CORE),
                   math.ceil(self.synapse_bytes / SYNAPSE_BYTES_PER_CORE), 1)


def estimate(kind: str, name: str, weight_shape, out_shape) -> LayerEstimate:
    neurons = int(np.prod(out_shape))
    fan_in = int(weight_shape[1]) if kind == "dense" else int(np.prod(weight_shape[1:]))
    return LayerEstimate(name, kind, neurons, fan_in, int(np.prod(weight_shape)))


def table(estimates: list[LayerEstimate]) -> str:
    rows = [f"{'layer':<16} {'kind':<6} {'neurons':>8} {'fan-in':>7} {'synapses':>10} {'syn. memory':>12} {'cores':>6}"]
    for e in estimates:
        rows.append(f"{e.name:<16} {e.kind:<6} {e.neurons:>8} {e.fan_in:>7} {e.synapses:>10} "
                    f"{e.synapse_bytes / 1024:>9.1f} KiB {e.cores:>6}")
    total = sum(e.cores for e in estimates)
    rows.append(f"estimated Loihi 2 cores: {total} ({math.ceil(total / CORES_PER_CHIP)} chip(s) of "
                f"{CORES_PER_CHIP}); limits: {NEURONS_PER_CORE} neurons and {SYNAPSE_BYTES_PER_CORE // 1024} KiB "
                f"synapses per core, fan-in <= {MAX_FAN_IN}")
    return "\n".join(rows)


def _refuse(node, msg):
    raise UnsupportedError(node.name, msg, target=TARGET)


def check(graph: Graph, options: dict | None = None) -> list[LayerEstimate]:
    """Refuse, naming the node, anything the netx/Lava path cannot run exactly; return the estimates."""
    if graph.metadata.get("numerics") != "loihi":
        raise SnncError("loihi: the graph is not quantized for loihi; run TARGET.prepare (the loihi profile's "
                        "quantize) first")
    graph.verify()
    estimates = []
    for node in graph.nodes:
        if node.op not in ALLOWED:
            _refuse(node, f"op {node.op} is not supported on Loihi")
        if node.op in ("Linear", "Conv2d"):
            w = node.params["weight"]
            if "bias" in node.params:
                _refuse(node, "synapse bias must live in the neuron (bias_mant); re-quantize")
            if not np.array_equal(w, np.round(w)):
                _refuse(node, "weights must be integers (quantize to the loihi profile first)")
            lo, hi = WEIGHT_RANGE[sign_mode(w)]
            if w.min() < lo or w.max() > hi:
                _refuse(node, f"{sign_mode(w)} weights must lie in [{lo}, {hi}] (Lava rescales others), got "
                              f"[{w.min():g}, {w.max():g}]")
            if not np.any(w):
                _refuse(node, "all weights are 0 (netx cannot scale an all-zero matrix)")
            if node.op == "Conv2d":
                geo = [node.attrs[k] for k in ("stride", "padding", "dilation")] + [w.shape[2:]]
                flat = [v for g in geo for v in (g if isinstance(g, tuple) else (g,))]
                if max(flat) > INT8_MAX or node.attrs["groups"] > INT8_MAX:
                    _refuse(node, f"conv geometry must fit in int8 (<= {INT8_MAX}) for Lava's conv model")
            kind = "dense" if node.op == "Linear" else "conv"
            users = graph.users(node.name)
            if len(users) != 1 or users[0].op != "Neuron":
                _refuse(node, "a Loihi synapse must feed exactly one Neuron")
            e = estimate(kind, node.name, w.shape, users[0].shape)
            if e.fan_in > MAX_FAN_IN:
                _refuse(node, f"fan-in {e.fan_in} exceeds the {MAX_FAN_IN} synapses one Loihi 2 neuron can take")
            estimates.append(e)
        elif node.op == "Neuron":
            q = neuron_quant(node)
            src = graph[node.inputs[0]]
            if src.op not in ("Linear", "Conv2d"):
                _refuse(node, "a Loihi neuron must follow a Linear or Conv2d synapse")
            for key in ("i_decay", "v_decay"):
                if not 0 <= q[key] <= DECAY_UNITY:
                    _refuse(node, f"{key} = {q[key]} outside [0, {DECAY_UNITY}]")
            if not 0 <= q["v_th_mant"] <= VTH_MAX:
                _refuse(node, f"threshold mantissa {q['v_th_mant']} does not fit 17 bits [0, {VTH_MAX}]")
            b = np.atleast_1d(np.asarray(q["bias_mant"], np.int64))
            if b.size and (b.min() < BIAS_MIN or b.max() > BIAS_MAX):
                _refuse(node, f"bias mantissa must fit 13 bits [{BIAS_MIN}, {BIAS_MAX}], got [{b.min()}, {b.max()}]")
            if isinstance(q["bias_mant"], list) and len(q["bias_mant"]) != node.shape[0]:
                _refuse(node, f"bias_mant needs one value per channel ({node.shape[0]})")
        elif node.op == "Readout" and node.attrs["output_mode"] != "spike":
            _refuse(node, "only spike-mode readouts run on the host after Loihi")
        elif node.op == "Flatten":
            src = graph[node.inputs[0]]
            if src.op not in ("Input", "Neuron"):
                _refuse(node, "Flatten must follow the input or a neuron")
    return estimates


def fit(graph: Graph, out_dir=None) -> Fit:
    """Per netx layer (named by its synapse node): neurons, fan-in, synapses, synaptic memory and
    cores, against one neuron's fan-in limit and one chip's cores (the estimates of :func:`estimate`)."""
    layers = []
    for node in graph.nodes:
        if node.op in ("Linear", "Conv2d"):
            users = graph.users(node.name)
            e = estimate("dense" if node.op == "Linear" else "conv", node.name, node.params["weight"].shape,
                         (users[0] if users else node).shape)
            layers.append(LayerFit(e.name, node.op, {
                "neurons": e.neurons, "fan_in": e.fan_in, "synapses": e.synapses, "synapse_bytes": e.synapse_bytes,
                "cores": e.cores, "neurons_per_core": math.ceil(e.neurons / e.cores),
                "synapse_bytes_per_core": math.ceil(e.synapse_bytes / e.cores)}))
    return Fit(TARGET, FIT_RESOURCES, layers,
               [Limit("fan_in", MAX_FAN_IN, True, "the synapses one Loihi 2 neuron can take, all in one core"),
                Limit("neurons_per_core", NEURONS_PER_CORE, True, "the neurons of one neuro core"),
                Limit("synapse_bytes_per_core", SYNAPSE_BYTES_PER_CORE, True, "the synaptic memory of one core"),
                Limit("cores", CORES_PER_CHIP, False, "the neuro cores of one Loihi 2 chip")],
               [f"cores per layer: max(neurons / {NEURONS_PER_CORE}, synaptic memory / "
                f"{SYNAPSE_BYTES_PER_CORE // 1024} KiB), 8-bit weights stored densely (planning estimates)"])


FIT_RESOURCES = [Resource("neurons", "neurons"), Resource("fan_in", "fan-in", combine="max"), Resource("synapses", "synapses"),
                 Resource("synapse_bytes", "synaptic memory", "B"), Resource("cores", "cores"),
                 Resource("neurons_per_core", "neurons per core", combine="max"),
                 Resource("synapse_bytes_per_core", "synaptic memory per core", "B", combine="max")]

__all__ = ["check", "fit", "estimate", "table", "LayerEstimate", "NEURONS_PER_CORE", "SYNAPSE_BYTES_PER_CORE",
           "MAX_FAN_IN", "CORES_PER_CHIP"]
