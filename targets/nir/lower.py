"""Lowering to NIR: the IR graph as ``model.nir`` (NIR's HDF5 file, written by ``nir.write``)."""

from __future__ import annotations

from pathlib import Path

from ...ir import Graph
from .convert import DEFAULT_DT, to_nir

FILE = "model.nir"


def lower(graph: Graph, out_dir: Path, options: dict | None = None) -> None:
    import nir

    dt = float((options or {}).get("dt", DEFAULT_DT) or DEFAULT_DT)
    nir.write(str(Path(out_dir) / FILE), to_nir(graph, dt=dt))
