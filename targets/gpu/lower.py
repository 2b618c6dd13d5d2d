"""Lower an IR graph to the gpu artifact (see FORMAT.md): ``graph.snnc`` (the graph, ``ir.serialize``),
``gpu.json`` (what the module does with it) and, when ``torch.export`` succeeds on the module,
``module.pt2`` (an exported program of the whole sequence for any ``T`` and batch, with the neurons as
``snnc::neuron_sequence`` ops: fused kernels on CUDA) and ``step.pt2`` (one step, re-importable)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import torch

from ...ir import Graph, serialize
from ...ir.interpreter import window_of
from .module import GraphModule, fusable

FORMAT_VERSION = 1


def describe_graph(graph: Graph) -> dict:
    return {
        "format": "snnc-gpu", "version": FORMAT_VERSION, "numerics": "float32",
        "input_shape": list(graph.input_shape), "window": window_of(graph),
        "fused_neurons": [n.name for n in graph.nodes if fusable(n)],
        "stepwise_neurons": [n.name for n in graph.nodes if n.op == "Neuron" and not fusable(n)],
    }


def export_sequence(graph: Graph):
    """``torch.export`` of :class:`GraphModule` with the time and batch dimensions dynamic (any ``T``, ``N``
    of at least 1). Exported on CPU; ``program.module().to("cuda")`` runs it on the GPU."""
    example = torch.zeros(2, 2, *graph.input_shape)
    dims = {"x": {0: torch.export.Dim("steps", min=1), 1: torch.export.Dim("batch", min=1)}}
    return torch.export.export(GraphModule(graph).eval(), (example,), dynamic_shapes=dims)


def _save_program(program, path: Path) -> None:
    """``torch.export.save`` into memory, then one plain write: a full disk is an ``OSError`` here
    (torch's own zip writer aborts the process on a failed write)."""
    buf = io.BytesIO()
    torch.export.save(program, buf)
    path.write_bytes(buf.getvalue())


def lower(graph: Graph, out_dir: Path, options: dict | None = None) -> None:
    options = options or {}
    out_dir = Path(out_dir)
    serialize.save(graph, out_dir / "graph.snnc")
    meta = describe_graph(graph)
    meta["exported"] = False
    if options.get("export", True):
        try:
            program = export_sequence(graph)
        except Exception as e:  # noqa: BLE001 - recorded, the artifact runs from graph.snnc
            program = None
            meta["export_error"] = f"{type(e).__name__}: {str(e)[:300]}"
        if program is not None:  # (a failed write is an error of the compile, not a note)
            _save_program(program, out_dir / "module.pt2")
            meta["exported"] = True
            meta["export_dynamic"] = ["steps", "batch"]
        try:  # one step with snnc:: ops, importable again: `snnc compile OUT/step.pt2` (snnc.ir.torch_ops)
            from ...ir.torch_ops import export_step
            step = export_step(graph)
        except Exception as e:  # noqa: BLE001 - recorded, as for module.pt2
            step = None
            meta["step_program_error"] = f"{type(e).__name__}: {str(e)[:300]}"
        meta["step_program"] = step is not None
        if step is not None:
            _save_program(step, out_dir / "step.pt2")
    (out_dir / "gpu.json").write_text(json.dumps(meta, indent=1))
