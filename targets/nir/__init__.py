"""The NIR target: the network as a NIR file (``model.nir``) for other neuromorphic tools, with an
explicit ``dt``. Its simulator reads the file back through snnc's NIR importer and runs it in the
float32 interpreter (see ``convert.py`` for the discretisation and FORMAT.md)."""

from __future__ import annotations

import warnings

from ...ir import Graph
from ...ir.errors import SnncWarning
from .. import Target
from ..common import prepare_float32
from ..fit import memory_fit_of
from .constraints import approximate, check
from .convert import DEFAULT_DT, READOUT_KEY, from_nir, read, strip_readouts, to_nir
from .lower import lower
from .simulate import describe, simulate


def prepare(graph: Graph, options: dict | None = None) -> Graph:
    """Float32 as it is, without the readouts that feed outputs (NIR has none: the file ends at their
    input spikes and records them in its metadata, with a warning); with ``allow_approximate`` the
    neurons NIR cannot express are rewritten into their nearest NIR form (listed in
    ``metadata["nir_approximations"]``)."""
    graph = prepare_float32(graph)
    readouts = strip_readouts(graph)
    if readouts:
        graph.metadata[READOUT_KEY] = readouts
        names = ", ".join(f"'{r['name']}'" for r in readouts.values())
        warnings.warn(f"nir: NIR has no readout: the file ends at the spikes that Readout {names} reads "
                      "(recorded in its metadata, so snnc's own import puts it back)", SnncWarning, stacklevel=2)
    if (options or {}).get("allow_approximate"):
        notes = approximate(graph)
        if notes:
            graph.metadata["nir_approximations"] = notes
        graph.verify()
    return graph


TARGET = Target(name="nir", numerics="float32", prepare=prepare, check=check, lower=lower,
                simulate=simulate, describe=describe, options=("dt", "allow_approximate"),
                fit=memory_fit_of("nir", 4, "float32 parameters of the NIR file; activations and state as a "
                                            "float32 simulator of it holds them"))

__all__ = ["TARGET", "prepare", "check", "lower", "simulate", "describe", "to_nir", "from_nir", "read",
           "DEFAULT_DT"]
