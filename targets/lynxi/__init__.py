"""The Lynxi target: a per-step JSON graph with a named state region and a BIN of float16 weights
(``model.json`` + ``model.bin``, specified in FORMAT.md), run under the ``lynxi`` numerics profile."""

from __future__ import annotations

from ...ir import Graph
from ...ir.numerics import get_profile
from .. import Target
from ..fit import memory_fit_of
from .constraints import check
from .lower import lower
from .simulate import describe, load, simulate


def prepare(graph: Graph, options: dict | None = None) -> Graph:
    """Quantize to the ``lynxi`` profile (float16 parameters); the report goes to
    ``graph.metadata["quantization_report"]``."""
    quantized, report = get_profile("lynxi").quantize(graph, config=(options or {}).get("config"))
    quantized.metadata["quantization_report"] = report
    return quantized


TARGET = Target(name="lynxi", numerics="lynxi", prepare=prepare, check=check, lower=lower,
                simulate=simulate, describe=describe, records_layers=True,
                fit=memory_fit_of("lynxi", 2, "float16 tensors: parameters in model.bin (each also 64-byte "
                                              "aligned there), values and the state region per sample"))

__all__ = ["TARGET", "prepare", "check", "lower", "simulate", "describe", "load"]
