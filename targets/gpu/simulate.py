"""Run a gpu artifact: read ``gpu.json`` and ``graph.snnc`` (nothing else) and run the module on the
input's device (CUDA: folded layers and fused neuron kernels; CPU: bit-identical to the interpreter)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ...ir import serialize
from ...ir.errors import SnncError
from .lower import FORMAT_VERSION
from .module import GraphModule


def load(out_dir: Path) -> GraphModule:
    out_dir = Path(out_dir)
    try:
        meta = json.loads((out_dir / "gpu.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise SnncError(f"{out_dir / 'gpu.json'}: cannot read the gpu artifact description ({e})") from None
    if meta.get("format") != "snnc-gpu" or meta.get("version") != FORMAT_VERSION:
        raise SnncError(f"{out_dir / 'gpu.json'}: not a snnc-gpu artifact of version {FORMAT_VERSION}")
    return GraphModule(serialize.load(out_dir / "graph.snnc")).eval()


def simulate(out_dir: Path, inputs) -> torch.Tensor:
    module = load(out_dir)
    x = torch.as_tensor(inputs)
    from ...ir.interpreter import check_input
    check_input(module.graph, x)
    with torch.no_grad():
        return module.to(x.device)(x)


def describe(out_dir: Path) -> str:
    meta = json.loads((Path(out_dir) / "gpu.json").read_text())
    return (f"gpu artifact: input {meta['input_shape']}, window {meta['window']}, "
            f"{len(meta['fused_neurons'])} fused neuron layer(s), {len(meta['stepwise_neurons'])} step-by-step, "
            f"torch.export program: {'module.pt2' if meta.get('exported') else 'none'}")
