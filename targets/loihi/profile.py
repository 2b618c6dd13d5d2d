"""The ``loihi`` numerics profile: the interpreter's Lava CUBA kernels (``snnc.ir.numerics.loihi``) and,
as its quantization, the Loihi target's lowering into netx layers (:mod:`.layers`). ``get_profile("loihi")``
imports this module."""

from __future__ import annotations

import torch

from ...ir.errors import SnncError
from ...ir.graph import Graph
from ...ir.numerics import NumberFormat, Profile, register
from ...ir.numerics.loihi import BIAS_MAX, BIAS_MIN, DESCRIPTION, KERNELS, VTH_MAX, WEIGHT_RANGE, sign_mode
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

    def param_format(self, node, key: str) -> NumberFormat:
        """Lava's integers: 8-bit weights in the layer's sign mode, the 17-bit threshold mantissa,
        the 13-bit bias mantissa, 12-bit decays (``alpha``/``beta`` here are ``1 - decay/4096``); the
        reset value is always 0 (not stored)."""
        if key == "weight":
            lo, hi = WEIGHT_RANGE[sign_mode(node.params["weight"])]
            return NumberFormat(f"int8 ({sign_mode(node.params['weight'])})", lo, hi, 8)
        if key == "v_threshold":
            return NumberFormat("uint17 mantissa", 0, VTH_MAX, 17)
        if key == "bias":
            return NumberFormat("int13 mantissa", BIAS_MIN, BIAS_MAX, 13)
        if key in ("alpha", "beta"):
            return NumberFormat("12-bit decay", 0.0, 1.0, 12)
        return NumberFormat("fixed 0 (not stored)", 0.0, 0.0, 0)

    def state_vars(self, node) -> tuple[str, ...]:
        return ("u", "v")

    def state_format(self, node, var: str) -> NumberFormat:
        """Lava's 24-bit current ``u`` and voltage ``v`` (in its units: the threshold is
        ``v_th_mant << 6``)."""
        return NumberFormat("int24", -(1 << 23), (1 << 23) - 1, 24)


PROFILE = register(LoihiProfile("loihi", torch.int64, kernels=KERNELS, description=DESCRIPTION))

__all__ = ["PROFILE", "LoihiProfile"]
