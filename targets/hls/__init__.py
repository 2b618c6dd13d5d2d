"""The ``hls`` target: synchronous HLS-style C++ (one top-function call per time step, state kept
across calls, fixed-window reset), a testbench and build files; simulated by compiling the C++.
See ``FORMAT.md``."""

from __future__ import annotations

from ...ir.numerics import get_profile
from .. import Target
from .constraints import check
from .lower import lower
from .simulate import describe, fit, simulate


def prepare(graph, options: dict | None = None):
    """Quantize to the ``hls`` profile. Options: ``config`` (the profile's config dict, see
    ``snnc.ir.numerics.hls``) and ``calibration`` (inputs for ``int: "auto"`` activation formats). An already quantized graph
    is returned unchanged."""
    options = dict(options or {})
    if graph.metadata.get("numerics") == "hls":
        return graph
    graph, _ = get_profile("hls").quantize(graph, options.get("calibration"), options.get("config"))
    return graph


TARGET = Target("hls", "hls", prepare, check, lower, simulate, describe, fit=fit, records_layers=True)

__all__ = ["TARGET", "prepare", "check", "lower", "simulate", "describe"]
