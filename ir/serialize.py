"""The on-disk form of a graph: ``graph.json`` plus one ``.npy`` per parameter.

A saved graph is a directory, or the same files in a zip archive (any path ending in ``.snnc`` or
``.zip``)::

    graph.json      {"format": "snnc-ir", "version": 1, "metadata": {...},
                     "nodes": [{"name", "op", "inputs", "attrs", "quant", "params": {key: file}}]}
    params/p0.npy   parameter arrays (np.save, never pickled)

Loading checks the format name and version, every op, dtype and shape, and re-verifies the graph, so a
damaged file is refused with a message naming the file and node. Nothing is executed while loading.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from .errors import GraphError, SnncError
from .graph import Graph, Node, _jsonable
from .ops import OPS

FORMAT = "snnc-ir"
VERSION = 1
ALLOWED_DTYPES = {"float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"}


def is_archive(path) -> bool:
    return str(path).endswith((".snnc", ".zip"))


def _encode(graph: Graph) -> tuple[dict, dict[str, np.ndarray]]:
    files: dict[str, np.ndarray] = {}
    nodes = []
    for node in graph.nodes:
        refs = {}
        for key, value in node.params.items():
            fname = f"params/p{len(files)}.npy"
            files[fname] = np.ascontiguousarray(value)
            refs[key] = fname
        nodes.append({"name": node.name, "op": node.op, "inputs": list(node.inputs),
                      "attrs": _jsonable(node.attrs), "quant": _jsonable(node.quant), "params": refs})
    doc = {"format": FORMAT, "version": VERSION, "metadata": _jsonable(graph.metadata), "nodes": nodes}
    return doc, files


def save(graph: Graph, path) -> None:
    """Write ``graph`` to a directory (or a ``.snnc``/``.zip`` archive) atomically."""
    from .atomic import atomic_output

    graph.verify()
    doc, files = _encode(graph)
    path = Path(path)
    with atomic_output(path, directory=not is_archive(path)) as tmp:
        if is_archive(path):
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
                zf.writestr("graph.json", json.dumps(doc, indent=1))
                for fname, arr in files.items():
                    buf = io.BytesIO()
                    np.save(buf, arr, allow_pickle=False)
                    zf.writestr(fname, buf.getvalue())
        else:
            (tmp / "params").mkdir()
            (tmp / "graph.json").write_text(json.dumps(doc, indent=1))
            for fname, arr in files.items():
                np.save(tmp / fname, arr, allow_pickle=False)


class _Reader:
    def __init__(self, path: Path):
        self.path = path
        self.zip = None
        if path.is_file():
            try:
                self.zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as e:
                raise SnncError(f"{path}: not a saved snnc graph (expected a directory or a zip archive): {e}") from None
        elif not path.is_dir():
            raise SnncError(f"{path}: no such file or directory")

    def read(self, name: str) -> bytes:
        try:
            if self.zip is not None:
                return self.zip.read(name)
            return (self.path / name).read_bytes()
        except (KeyError, FileNotFoundError):
            raise SnncError(f"{self.path}: missing '{name}'") from None
        except (OSError, zipfile.BadZipFile, EOFError) as e:
            raise SnncError(f"{self.path}: cannot read '{name}': {e}") from None


def load(path) -> Graph:
    """Read a graph saved by :func:`save`; refuses unknown versions, ops, dtypes and bad shapes."""
    path = Path(path)
    reader = _Reader(path)
    try:
        doc = json.loads(reader.read("graph.json"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SnncError(f"{path}/graph.json: not valid JSON: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise SnncError(f"{path}/graph.json: not an snnc IR graph (format must be '{FORMAT}')")
    if doc.get("version") != VERSION:
        raise SnncError(f"{path}/graph.json: unsupported IR version {doc.get('version')!r}; this snnc reads version {VERSION}")
    nodes = doc.get("nodes")
    if not isinstance(nodes, list):
        raise SnncError(f"{path}/graph.json: 'nodes' must be a list")
    graph = Graph(metadata=doc.get("metadata") or {})
    for entry in nodes:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise SnncError(f"{path}/graph.json: every node needs a string 'name'")
        name = entry["name"]
        if entry.get("op") not in OPS:
            raise GraphError(name, f"{path}: unknown op {entry.get('op')!r}; known ops: {sorted(OPS)}")
        params = {}
        for key, fname in (entry.get("params") or {}).items():
            if not isinstance(fname, str) or not fname.startswith("params/") or ".." in fname:
                raise GraphError(name, f"{path}: parameter '{key}' has a bad file reference {fname!r}")
            try:
                arr = np.load(io.BytesIO(reader.read(fname)), allow_pickle=False)
            except ValueError as e:
                raise GraphError(name, f"{path}/{fname}: parameter '{key}' is not a valid .npy array: {e}") from None
            if arr.dtype.name not in ALLOWED_DTYPES:
                raise GraphError(name, f"{path}/{fname}: parameter '{key}' has unsupported dtype {arr.dtype}")
            params[key] = arr
        attrs = entry.get("attrs") or {}
        if not isinstance(attrs, dict):
            raise GraphError(name, f"{path}: 'attrs' must be an object")
        quant = entry.get("quant") or {}
        if not isinstance(quant, dict):
            raise GraphError(name, f"{path}: 'quant' must be an object")
        graph.add(Node(name, entry["op"], list(entry.get("inputs") or []), params,
                       {k: tuple(v) if isinstance(v, list) else v for k, v in attrs.items()}, quant=quant))
    graph.verify()
    return graph


__all__ = ["save", "load", "FORMAT", "VERSION", "is_archive"]
