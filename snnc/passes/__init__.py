"""Graph → graph passes, one per file, and the standard pipeline the compile driver runs.

- :func:`infer_shapes` (``shape_inference.py``): per-step shapes, checked.
- :func:`fold_batchnorm` (``fold_batchnorm.py``): BatchNorm into the preceding Linear/Conv2d.
- :func:`eliminate_dead_nodes` (``dead_nodes.py``): drop what no Output reads.
- :func:`fixed_window_readout` (``readout.py``): configure/insert the Readout, one window everywhere.
- :func:`quantize` (``quantize.py``): post-training quantization to a profile, with a per-layer report.
- :func:`analyze_ranges` (``range_analysis.py``): interval bounds and fixed-point overflow report.

Every pass returns a new graph and leaves its argument unchanged.
"""

from __future__ import annotations

from snnc.ir import Graph

from .dead_nodes import eliminate_dead_nodes
from .fold_batchnorm import fold_batchnorm
from .quantize import LayerReport, QuantReport, quantize
from .range_analysis import Overflow, RangeReport, analyze_ranges
from .readout import fixed_window_readout
from .shape_inference import infer_shapes


def standard_pipeline(graph: Graph, window: int | None = None, insert_readout: bool = False) -> Graph:
    """Shape inference → BN folding → dead-node elimination → fixed-window readout.

    ``window`` (steps; ``None`` keeps the Readout's own window) is propagated to every stateful node;
    ``insert_readout=True`` adds a Readout after the last layer when the graph has none."""
    graph = infer_shapes(graph)
    graph = fold_batchnorm(graph)
    graph = eliminate_dead_nodes(graph)
    return fixed_window_readout(graph, window, insert=insert_readout)


__all__ = ["standard_pipeline", "infer_shapes", "fold_batchnorm", "eliminate_dead_nodes",
           "fixed_window_readout", "quantize", "QuantReport", "LayerReport", "analyze_ranges",
           "RangeReport", "Overflow"]
