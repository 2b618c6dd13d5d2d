"""The NIR target: the network as a NIR file (``model.nir``) for other neuromorphic tools, with an
explicit ``dt``. Its simulator reads the file back through snnc's NIR importer and runs it in the
float32 interpreter (see ``convert.py`` for the discretisation and FORMAT.md)."""

from __future__ import annotations

from ...ir import Graph
from .. import Target
from ..common import prepare_float32
from .constraints import approximate, check
from .convert import DEFAULT_DT, from_nir, read, to_nir
from .lower import lower
from .simulate import describe, simulate


def prepare(graph: Graph, options: dict | None = None) -> Graph:
    """Float32 as it is; with ``allow_approximate`` the neurons NIR cannot express are rewritten into
    their nearest NIR form (listed in ``metadata["nir_approximations"]``)."""
    graph = prepare_float32(graph)
    if (options or {}).get("allow_approximate"):
        notes = approximate(graph)
        if notes:
            graph.metadata["nir_approximations"] = notes
        graph.verify()
    return graph


TARGET = Target(name="nir", numerics="float32", prepare=prepare, check=check, lower=lower,
                simulate=simulate, describe=describe, options=("dt", "allow_approximate"))

__all__ = ["TARGET", "prepare", "check", "lower", "simulate", "describe", "to_nir", "from_nir", "read",
           "DEFAULT_DT"]
