"""The ``hls`` profile's formats and configuration: the format syntax, the built-in formats per tensor
class, the layer / class / default resolution of a config (``ir/numerics/hls.py``'s docstring has
the syntax), and the exact accumulator format of a sum."""

from __future__ import annotations

import math
import re

from ..errors import SnncError, UnsupportedError
from ..quantize import OVERFLOW, ROUNDING, Fixed, choose_fixed


#: formats of the spikes a Neuron emits and of a readout's integer decisions
SPIKE = Fixed(2, 2, True, "trn", "wrap")
DECISION = Fixed(32, 32, True, "trn", "wrap")

BUILTIN = {
    "default": {"width": 16, "int": 6, "rounding": "rnd", "overflow": "sat"},
    "classes": {
        "input": {"width": 16, "int": 6},
        "weight": {"width": 16, "int": "auto"},
        "bias": {"width": 16, "int": "auto"},
        "threshold": {"width": 16, "int": "auto"},
        "decay": {"width": 18, "int": "auto"},
        "result": {"width": 16, "int": 6},
        "v": {"width": 24, "int": 10},
        "mem": {"width": 24, "int": 10},
    },
}
CONFIG_CLASSES = ("input", "weight", "bias", "result", "v", "i", "b", "threshold", "decay", "mem")
_ALIASES = {"membrane": "v", "current": "i", "beta": "decay", "accumulator": "result"}


# --- formats and config ---------------------------------------------------------------------------------
_FMT_RE = re.compile(r"^\s*(?:ap_fixed|fixed)?\s*<\s*(\d+)\s*,\s*(-?\d+|auto)\s*(?:,\s*([A-Za-z_]+)\s*)?"
                     r"(?:,\s*([A-Za-z_]+)\s*)?>\s*$")


def parse_format(spec) -> dict:
    """A format spec (dict or string) as a partial dict ``{width, int, rounding, overflow}``."""
    if isinstance(spec, Fixed):
        return spec.to_dict()
    if isinstance(spec, dict):
        out = {}
        for key, value in spec.items():
            key = {"W": "width", "I": "int", "w": "width", "i": "int"}.get(key, key)
            if key not in ("width", "int", "rounding", "overflow", "signed"):
                raise SnncError(f"hls config: unknown format field {key!r}; expected width, int, rounding, overflow")
            out[key] = value
        return out
    if isinstance(spec, str):
        m = _FMT_RE.match(spec)
        if not m:
            raise SnncError(f"hls config: cannot read format {spec!r}; expected e.g. '<16,6>' or "
                            "'fixed<16,6,rnd,sat>'")
        out = {"width": int(m.group(1)), "int": m.group(2) if m.group(2) == "auto" else int(m.group(2))}
        if m.group(3):
            out["rounding"] = m.group(3).lower().removeprefix("ap_")
        if m.group(4):
            out["overflow"] = m.group(4).lower().removeprefix("ap_")
        return out
    raise SnncError(f"hls config: a format must be a dict or a string, got {spec!r}")


class Config:
    """A resolved view of the ``quantize`` config (see the module docstring)."""

    def __init__(self, config: dict | None):
        config = dict(config or {})
        unknown = set(config) - {"default", "classes", "layers", "reuse_factor"}
        if unknown:
            raise SnncError(f"hls config: unknown key(s) {sorted(unknown)}; expected default, classes, "
                            "layers, reuse_factor")
        self.builtin = {k: parse_format(v) for k, v in BUILTIN["classes"].items()}
        self.default = parse_format(config.get("default", {}))
        self.classes = {}
        for key, spec in (config.get("classes") or {}).items():
            key = _ALIASES.get(key, key)
            if key not in CONFIG_CLASSES:
                raise SnncError(f"hls config: unknown tensor class {key!r}; expected one of {CONFIG_CLASSES}")
            self.classes[key] = {**self.classes.get(key, {}), **parse_format(spec)}
        self.layers = {}
        for name, spec in (config.get("layers") or {}).items():
            if not isinstance(spec, dict):
                raise SnncError(f"hls config: layers[{name!r}] must be a dict of tensor class -> format")
            for key in spec:
                if _ALIASES.get(key, key) not in CONFIG_CLASSES + ("reuse_factor",):
                    raise SnncError(f"hls config: layers[{name!r}] has unknown key {key!r}; expected "
                                    f"reuse_factor or a tensor class of {CONFIG_CLASSES}")
            self.layers[name] = {(_ALIASES.get(k, k)): (v if k == "reuse_factor" else parse_format(v))
                                 for k, v in spec.items()}
        self.reuse_factor = int(config.get("reuse_factor", 1))

    def spec(self, node: str, cls: str) -> dict:
        """The format spec of ``cls`` at ``node``: built-in default < built-in class < config default <
        config class < config layer (the current ``i`` and the adaptation ``b`` inherit the potential
        ``v``'s at each level)."""
        chain = ("v", cls) if cls in ("i", "b") else (cls,)
        out = dict(BUILTIN["default"])
        for c in chain:
            out.update(self.builtin.get(c, {}))
        out.update(self.default)
        for c in chain:
            out.update(self.classes.get(c, {}))
        for c in chain:
            out.update(self.layers.get(node, {}).get(c, {}))
        return out

    def reuse(self, node: str) -> int:
        rf = int(self.layers.get(node, {}).get("reuse_factor", self.reuse_factor))
        if rf < 1:
            raise SnncError(f"hls config: reuse_factor of '{node}' must be >= 1, got {rf}")
        return rf

    def check_layers(self, graph) -> None:
        for name in self.layers:
            if name not in graph:
                raise SnncError(f"hls config: layers names '{name}', which is not a node of the graph")


def make_format(node: str, cls: str, spec: dict, values=None) -> Fixed:
    """The :class:`Fixed` of ``spec``; ``int: "auto"`` chooses from ``values``."""
    rounding, ovf = spec.get("rounding", "rnd"), spec.get("overflow", "sat")
    if rounding not in ROUNDING or ovf not in OVERFLOW:
        raise SnncError(f"hls: node '{node}' class '{cls}': rounding must be one of {ROUNDING} and "
                        f"overflow one of {OVERFLOW}, got {rounding!r}/{ovf!r}")
    if not spec.get("signed", True):
        raise UnsupportedError(node, f"class '{cls}': only signed fixed-point formats are supported", target="hls")
    width = spec.get("width")
    if not isinstance(width, int) or not 2 <= width <= 53:
        raise SnncError(f"hls: node '{node}' class '{cls}': width must be an int in [2, 53], got {width!r}")
    if spec.get("int") == "auto":
        if values is None:
            raise SnncError(f"hls: node '{node}' class '{cls}': int 'auto' needs calibration data "
                            "(quantize(graph, calibration=x))")
        return choose_fixed(values, width, True, rounding, ovf)
    if not isinstance(spec.get("int"), int):
        raise SnncError(f"hls: node '{node}' class '{cls}': int must be an int or 'auto', got {spec.get('int')!r}")
    return Fixed(width, spec["int"], True, rounding, ovf)


def formats(node) -> dict[str, Fixed]:
    return {k: Fixed.from_dict(v) for k, v in (node.quant.get("formats") or {}).items()}


def accum_format(node_name: str, x: Fixed, w: Fixed | None, b: Fixed | None, terms: int) -> Fixed:
    """The exact accumulator of ``b + Σ_terms w·x`` (or ``Σ x`` when ``w`` is None): fraction bits of the
    finest term, integer bits for ``terms + 1`` terms of the largest magnitude."""
    if w is None:
        frac, top = x.frac_bits, x.int_bits
    else:
        frac, top = x.frac_bits + w.frac_bits, x.int_bits + w.int_bits - 1
    if b is not None:
        frac, top = max(frac, b.frac_bits), max(top, b.int_bits)
    int_bits = top + math.ceil(math.log2(terms + 1))
    width = int_bits + frac
    if width > 53:
        raise UnsupportedError(node_name, f"the accumulator needs {width} bits (more than 53) for a "
                                          f"fan-in of {terms}; use narrower formats", target="hls")
    return Fixed(width, int_bits, True, "trn", "wrap")



