"""The Loihi target: Lava-DL ``netx`` HDF5 plus a bit-exact simulator of Lava's fixed-point CUBA.

``prepare`` quantizes to the ``loihi`` numerics profile (:mod:`snnc.ir.numerics.loihi`), ``check``
refuses what a Loihi 2 core or netx cannot hold, ``lower`` writes ``network.net`` + ``host.json``,
``simulate`` runs them, ``describe`` estimates cores and synapse memory per layer. FORMAT.md has the
files; ``scripts/lava_check.py`` cross-checks the simulator against real Lava.
"""

from __future__ import annotations

from pathlib import Path

from ...ir import Graph
from ...ir.numerics import get_profile
from .. import Target
from .constraints import check as _check
from .constraints import estimate, fit, table
from .lower import HOST_FILE, NET_FILE, lower
from .simulate import read_host, read_network, simulate


def prepare(graph: Graph, options: dict | None = None) -> Graph:
    """Quantize to the ``loihi`` profile. ``options["loihi"]`` (or ``options["quant_config"]``) is the
    profile's config (``weight_scale``, ``decay_rounding``); the report lands in
    ``metadata["loihi_quant_report"]``."""
    options = dict(options or {})
    config = options.get("loihi") or options.get("quant_config")
    qgraph, report = get_profile("loihi").quantize(graph, options.get("calibration"), config)
    qgraph.metadata["loihi_quant_report"] = report
    return qgraph


def check(graph: Graph, options: dict | None = None) -> None:
    _check(graph, options)


def describe(out_dir) -> str:
    """Per-layer neurons, fan-in, synapses, synapse memory and estimated Loihi 2 cores, from the artifact."""
    out_dir = Path(out_dir)
    host = read_host(out_dir)
    layers = read_network(out_dir / host.get("network", NET_FILE))
    names = {entry["index"]: entry.get("node") or f"layer{entry['index']}" for entry in host.get("layers", [])}
    estimates = [estimate(layer.type, names.get(i, f"layer{i}"), tuple(layer.weight.shape), layer.shape)
                 for i, layer in enumerate(layers) if layer.type in ("dense", "conv")]
    head = (f"Lava-DL netx network {NET_FILE}: input {host['input_shape']}, {len(layers)} netx layers, "
            f"window {host.get('window_size') or 'none'}, readout "
            f"{host['readout']['rule'] + ' (host side)' if host.get('readout') else 'none (spikes out)'}")
    return head + "\n" + table(estimates)


TARGET = Target(name="loihi", numerics="loihi", prepare=prepare, check=check, lower=lower, simulate=simulate,
                describe=describe, fit=fit, records_layers=True)

__all__ = ["TARGET", "prepare", "check", "lower", "simulate", "describe", "NET_FILE", "HOST_FILE"]
