"""The ``loihi`` numerics profile: the interpreter's Lava CUBA kernels (``snnc.ir.numerics.loihi``) and,
as its quantization, the Loihi target's lowering into netx layers (:mod:`.layers`). ``get_profile("loihi")``
imports this module."""

from __future__ import annotations

import torch

from ...ir.errors import SnncError
from ...ir.graph import Graph
from ...ir.numerics import Profile, register
from ...ir.numerics.loihi import DESCRIPTION, KERNELS
from .layers import lower_to_layers


class LoihiProfile(Profile):
    def prepare(self, graph: Graph) -> Graph:
        if graph.metadata.get("numerics") != "loihi":
            raise SnncError("the graph is not quantized for loihi (metadata['numerics'] is "
                            f"{graph.metadata.get('numerics')!r}); run get_profile('loihi').quantize(graph) first")
        return graph

    def quantize(self, graph: Graph, calibration=None, config: dict | None = None):
        """:func:`.layers.lower_to_layers` (``calibration`` is not needed and is ignored)."""
        return lower_to_layers(graph, config)


PROFILE = register(LoihiProfile("loihi", torch.int64, kernels=KERNELS, description=DESCRIPTION))

__all__ = ["PROFILE", "LoihiProfile"]
