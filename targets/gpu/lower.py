"""Lower an IR graph to the gpu artifact (see FORMAT.md): ``graph.snnc`` (the graph, ``ir.serialize``),
``gpu.json`` (what the module does with it) and, when ``torch.export`` succeeds on the module,
``module.pt2`` (an exported program of the CPU path for a fixed example input shape)."""

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
        steps = int(options.get("export_steps", 2))
        example = torch.zeros(steps, 1, *graph.input_shape)
        try:
            program = torch.export.export(GraphModule(graph).eval(), (example,))
        except Exception as e:  # noqa: BLE001 - recorded, the artifact runs from graph.snnc
            program = None
            meta["export_error"] = f"{type(e).__name__}: {str(e)[:300]}"
        if program is not None:  # (a failed write is an error of the compile, not a note)
            _save_program(program, out_dir / "module.pt2")
            meta["exported"] = True
            meta["export_input_shape"] = list(example.shape)
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
