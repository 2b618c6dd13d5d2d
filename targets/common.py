"""Mechanics shared by the targets (append-only: each owner adds what other targets can reuse).

- :func:`pack_tensors`: lay named arrays out in one little-endian binary blob, each at an aligned
  offset, with a table of ``{name, dtype, shape, offset, nbytes, sha256}`` (the Lynxi BIN; usable by
  any target that ships a weight blob).
- :func:`sha256_hex`, :func:`align_up`.
- :func:`window_of`, :func:`stateful_nodes`: graph walking helpers.
- :func:`check_inputs`: a simulator's input check, the same refusals as the interpreter's.
- :func:`prepare_float32`: ``prepare`` of the float32 targets.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ..ir import Graph
from ..ir.interpreter import window_of  # noqa: F401  (re-exported: the graph's reset window)
from ..ir.numerics import get_profile


def align_up(n: int, alignment: int) -> int:
    return (n + alignment - 1) // alignment * alignment


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pack_tensors(tensors: list[tuple[str, np.ndarray]], alignment: int = 64) -> tuple[bytes, list[dict]]:
    """Concatenate ``tensors`` (in the given order) into one blob, each starting at a multiple of
    ``alignment``, zero-filled gaps, little-endian C-order element bytes. Returns the blob and the
    table: one ``{"name", "dtype", "shape", "offset", "nbytes", "sha256"}`` per tensor."""
    blob = bytearray()
    table = []
    for name, array in tensors:
        array = np.asarray(array, order="C")  # (np.ascontiguousarray would make 0-d arrays 1-d)
        data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes(order="C")
        offset = align_up(len(blob), alignment)
        blob.extend(b"\0" * (offset - len(blob)))
        blob.extend(data)
        table.append({"name": name, "dtype": array.dtype.name, "shape": list(array.shape),
                      "offset": offset, "nbytes": len(data), "sha256": sha256_hex(data)})
    return bytes(blob), table


def check_inputs(x, shape: tuple) -> None:
    """Refuse what the reference interpreter refuses: a ``[T, N, *shape]`` input with the wrong shape,
    no step or no sample, or NaN/Inf values (``x`` a tensor or array)."""
    from ..ir.errors import SnncError

    dims = tuple(x.shape)
    if len(dims) != len(shape) + 2 or dims[2:] != tuple(shape):
        raise SnncError(f"input must have shape [T, N, {', '.join(map(str, shape))}], got {list(dims)}")
    if dims[0] == 0 or dims[1] == 0:
        raise SnncError(f"input must have at least one time step and one sample, got shape {list(dims)}")
    values = np.asarray(x)
    if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
        raise SnncError("input contains NaN or Inf")


def stateful_nodes(graph: Graph) -> list:
    """The nodes that keep state between steps (neurons, readouts), in graph order."""
    return [n for n in graph.nodes if n.stateful]


__all__ = ["align_up", "sha256_hex", "pack_tensors", "window_of", "stateful_nodes", "check_inputs"]


def prepare_float32(graph: Graph, options: dict | None = None) -> Graph:
    """``prepare`` of the targets that compute in float32 (gpu, onnx, nir): the graph as it is, marked
    with numerics ``float32``."""
    graph, _ = get_profile("float32").quantize(graph)
    return graph
