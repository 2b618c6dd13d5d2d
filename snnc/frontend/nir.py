"""NIR import and export for Python users (the ``nir`` target and the ``.nir`` loader use the same
conversion, ``snnc.targets.nir.convert``; its docstring states the ``dt`` convention).

    graph = snnc.frontend.nir.import_nir("model.nir", dt=1e-4)     # or a nir.NIRGraph
    snnc.frontend.nir.export_nir(graph, "model.nir", dt=1e-4)      # refuses what NIR cannot express
"""

from __future__ import annotations

from pathlib import Path

from ..ir import Graph
from ..ir.atomic import atomic_output
from ..targets.nir import DEFAULT_DT, check, from_nir, prepare, read, to_nir


def import_nir(source, dt: float | None = None, input_shape=None) -> Graph:
    """An IR graph from a ``.nir`` path or a ``nir.NIRGraph`` (``dt``: the file's ``snnc.dt``, else 1e-4)."""
    if isinstance(source, (str, Path)):
        return read(source, dt=dt, input_shape=input_shape)
    return from_nir(source, dt=dt, input_shape=input_shape)


def export_nir(graph: Graph, path=None, dt: float = DEFAULT_DT, allow_approximate: bool = False,
               overwrite: bool = False):
    """The ``nir.NIRGraph`` of ``graph`` (written atomically to ``path`` when given; an existing file
    there is replaced only with ``overwrite``). What NIR cannot
    express is refused (:class:`UnsupportedError` naming the node) unless ``allow_approximate``, which
    rewrites it into the nearest NIR form and lists the changes in the file's metadata."""
    import nir

    graph = prepare(graph, {"allow_approximate": allow_approximate})
    check(graph, {})
    nir_graph = to_nir(graph, dt=dt)
    if path is not None:
        with atomic_output(Path(path), directory=False, overwrite=overwrite) as tmp:
            nir.write(str(tmp), nir_graph)
    return nir_graph


__all__ = ["import_nir", "export_nir", "DEFAULT_DT"]
