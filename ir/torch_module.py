"""An IR graph's parameters held by an ``nn.Module``, so that ``.to(device)`` moves them once and
``torch.export`` keeps them as the program's buffers.

:class:`GraphParameters` registers every parameter of every node as a buffer, except a 0-d float,
which stays the Python number the reference interpreter uses for it (``Context.convert``). Float
arrays are stored in float32, the profile the modules built on it run. ``params(node)`` returns the
same dict ``Context.params`` would, so a module can hand itself to the interpreter's kernels as their
context.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .graph import Graph, Node
from .numerics import get_profile


class GraphParameters(nn.Module):
    """``graph``'s parameters as buffers (0-d floats as numbers), read per node (module docstring)."""

    def __init__(self, graph: Graph):
        super().__init__()
        self.graph = graph
        self.profile = get_profile("float32")
        self._buffer_names: dict[str, dict[str, str]] = {}
        self._scalars: dict[str, dict[str, float]] = {}
        for k, node in enumerate(graph.nodes):
            names, scalars = {}, {}
            for key, value in node.params.items():
                value = np.asarray(value)
                if value.ndim == 0 and value.dtype.kind == "f":
                    scalars[key] = float(value)
                    continue
                t = torch.as_tensor(value.copy())
                buffer = f"n{k}_{key}"
                self.register_buffer(buffer, t.to(torch.float32) if t.is_floating_point() else t)
                names[key] = buffer
            self._buffer_names[node.name] = names
            self._scalars[node.name] = scalars

    def param(self, node: Node, key: str):
        """One parameter: its buffer, its Python float (0-d), or None if the node has none of that name."""
        name = self._buffer_names[node.name].get(key)
        return getattr(self, name) if name is not None else self._scalars[node.name].get(key)

    def tensor_params(self, node: Node) -> dict[str, torch.Tensor]:
        return {key: getattr(self, name) for key, name in self._buffer_names[node.name].items()}

    def scalar_params(self, node: Node) -> dict[str, float]:
        return self._scalars[node.name]

    def params(self, node: Node) -> dict:
        """What ``snnc.ir.interpreter.Context.params`` gives the kernels for ``node``."""
        return {**self._scalars[node.name], **self.tensor_params(node)}


__all__ = ["GraphParameters"]
