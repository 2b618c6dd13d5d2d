"""snnc.targets — one sub-package per deployment target, all with the same shape.

Each ``targets/<name>/`` has ``lower.py`` (IR → artifact files), ``simulate.py`` (artifact files →
outputs, reading nothing but those files), ``constraints.py`` (what the target accepts; refusals name
the node and the limit) and ``FORMAT.md``. Its ``__init__`` exposes ``TARGET``, a :class:`Target`.
What every target accepts is declared as data in ``targets/accepts.py`` (its constraints read their op
lists from there; the fuzzer's draws and the conformance matrix derive from it).
Shared mechanics live in ``targets/common.py`` and ``snnc.ir``; a target never imports another.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # this module imports no torch: the CLI reads NAMES before deciding to load anything
    from pathlib import Path

    import torch

    from ..ir import Graph

#: every target, in the order the CLI lists them; each is the sub-package ``snnc.targets.<name>``
NAMES = ("gpu", "loihi", "lynxi", "hls", "onnx", "nir")


@dataclass(frozen=True)
class Target:
    """A deployment target.

    - ``numerics``: the profile under which the reference interpreter reproduces the target.
    - ``prepare(graph, options)``: target-specific graph preparation after the common passes
      (e.g. quantization to the profile); returns the graph the artifact is lowered from.
    - ``check(graph, options)``: raise :class:`UnsupportedError` naming the node for anything the
      target cannot lower.
    - ``lower(graph, out_dir, options)``: write the artifact files into ``out_dir`` (an empty
      temporary directory; the caller makes the write atomic and adds ``snnc.json``).
    - ``simulate(out_dir, inputs)``: run the artifact on ``[T, N, *input_shape]`` inputs and return
      the outputs ``[T, N, *output_shape]`` step by step.
    - ``records_layers``: whether ``simulate`` also takes ``record=True`` and then returns
      ``(outputs, {ir_node_name: [T, N, *shape]})``, the per-layer values the artifact exposes.
    - ``describe(out_dir)``: a human-readable summary for ``snnc inspect`` (estimates, sizes).
    - ``fit(graph, out_dir)``: the :class:`snnc.targets.fit.Fit` of a prepared graph (its resources
      per layer against the target's limits; ``out_dir``, the artifact when one was written, else None).
    - ``options``: the names of the target's own options (a ``[target.<name>]`` table of
      ``snnc.toml`` may hold these and ``precision``; any other key is refused).
    """

    name: str
    numerics: str
    prepare: Callable[[Graph, dict], Graph]
    check: Callable[[Graph, dict], None]
    lower: Callable[[Graph, Path, dict], None]
    simulate: Callable[[Path, torch.Tensor], torch.Tensor]
    describe: Callable[[Path], str] | None = None
    fit: Callable[[Graph, Path | None], object] | None = None
    options: tuple[str, ...] = ()
    records_layers: bool = False


def get_target(name: str) -> Target:
    from ..ir.errors import SnncError

    if name not in NAMES:
        raise SnncError(f"unknown target '{name}'; expected one of {', '.join(NAMES)}")
    try:
        module = importlib.import_module(f"snnc.targets.{name}")
    except ModuleNotFoundError as e:
        if e.name and e.name.startswith(f"snnc.targets.{name}"):
            raise SnncError(f"target '{name}' is not available in this build of snnc") from None
        raise
    return module.TARGET


__all__ = ["Target", "get_target", "NAMES"]
