"""The NIR simulator: reads ``model.nir`` back with the ``nir`` package, converts it with snnc's NIR
importer (``convert.from_nir``, the file's own ``dt``) and runs it in the float32 reference
interpreter. Nothing but the ``.nir`` file is read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...ir.errors import SnncError
from ...ir.interpreter import interpret
from .convert import read
from .lower import FILE


def load(out_dir: Path):
    path = Path(out_dir) / FILE
    if not path.is_file():
        raise SnncError(f"{out_dir}: no {FILE} (not a NIR artifact)")
    return read(path, readout=False)  # the network as NIR tools run it


def simulate(out_dir: Path, inputs) -> torch.Tensor:
    graph = load(out_dir)
    return interpret(graph, torch.as_tensor(inputs), numerics="float32")


def describe(out_dir: Path) -> str:
    import nir

    path = Path(out_dir) / FILE
    g = nir.read(str(path))
    rows = [f"{FILE}: {path.stat().st_size} bytes, NIR {getattr(nir, '__version__', '?')}, "
            f"dt={np.asarray(g.metadata.get('snnc.dt', 'n/a'))}"]
    approx = g.metadata.get("snnc.approximations")
    if approx is not None:
        rows.append(f"approximations: {approx.decode() if isinstance(approx, bytes) else approx}")
    for name, node in g.nodes.items():
        params = ", ".join(f"{k}{list(np.shape(v))}" for k, v in vars(node).items()
                           if isinstance(v, np.ndarray) and k not in ("input_type", "output_type"))
        rows.append(f"  {name:<20} {type(node).__name__:<10} {params}")
    rows.append(f"  edges: {len(g.edges)}")
    return "\n".join(rows)
