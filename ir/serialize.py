"""The on-disk form of a graph: ``graph.json`` plus one ``.npy`` per parameter.

A saved graph is a directory, or the same files in a zip archive (any path ending in ``.snnc`` or
``.zip``)::

    graph.json      {"format": "snnc-ir", "version": 1, "hash": <Graph.content_hash()>,
                     "metadata": {...},
                     "nodes": [{"name", "op", "inputs", "attrs", "quant", "shape",
                                "params": {key: {"file", "dtype", "shape", "sha256"}}}]}
    params/p0.npy   parameter arrays (np.save, never pickled)

Loading checks the format name and version, every op, attribute, dtype and shape (each parameter
against the dtype/shape recorded for it and against its op, each node's per-step shape against the
one inferred again), each parameter file's SHA-256 and finally the graph's content hash, so a
damaged or edited file is refused with a message naming the file and node. Nothing is executed
while loading: JSON is parsed as data and arrays are read as data only (``snnc.ir.npy``: never
unpickled, a zip member's declared size checked before it is inflated).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .budget import check_bytes
from .errors import GraphError, SnncError
from .graph import Graph, Node, _jsonable, node_record
from .npy import read_npy
from .ops import OPS

FORMAT = "snnc-ir"
VERSION = 1
ALLOWED_DTYPES = {"float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"}
NODE_KEYS = {"name", "op", "inputs", "attrs", "quant", "shape", "params"}
MAX_JSON_BYTES = 64 << 20


def is_archive(path) -> bool:
    return str(path).endswith((".snnc", ".zip"))


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _encode(graph: Graph) -> tuple[dict, dict[str, bytes]]:
    files: dict[str, bytes] = {}
    nodes = []
    for node in graph.nodes:
        refs = {}
        for key, value in node.params.items():
            arr = np.asarray(value, order="C")  # (ascontiguousarray would make 0-d arrays 1-d)
            if arr.dtype.name not in ALLOWED_DTYPES:
                raise GraphError(node.name, f"parameter '{key}' has dtype {arr.dtype}, which cannot be saved; "
                                            f"expected one of {sorted(ALLOWED_DTYPES)}")
            fname = f"params/p{len(files)}.npy"
            files[fname] = data = _npy_bytes(arr)
            refs[key] = {"file": fname, "dtype": arr.dtype.name, "shape": list(arr.shape),
                         "sha256": hashlib.sha256(data).hexdigest()}
        record = node_record(node)
        record["shape"] = None if node.shape is None else list(node.shape)
        record["params"] = refs
        nodes.append(record)
    try:
        metadata = _jsonable(graph.metadata)
    except GraphError as e:
        raise SnncError(f"graph metadata: {e}") from None
    doc = {"format": FORMAT, "version": VERSION, "hash": graph.content_hash(), "metadata": metadata,
           "nodes": nodes}
    return doc, files


def saved_files(path: Path) -> set[str] | None:
    """The files of a graph directory saved by :func:`save` (``graph.json`` and the parameter files it
    lists), or ``None`` when ``path`` holds no readable ``graph.json`` of this format."""
    try:
        doc = json.loads((Path(path) / "graph.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("nodes"), list):
        return None
    files = {"graph.json"}
    for entry in doc["nodes"]:
        refs = entry.get("params") if isinstance(entry, dict) else None
        for ref in (refs.values() if isinstance(refs, dict) else ()):
            if isinstance(ref, dict) and isinstance(ref.get("file"), str):
                files.add(ref["file"])
    return files


def save(graph: Graph, path, overwrite: bool = False) -> None:
    """Write ``graph`` to a directory (or a ``.snnc``/``.zip`` archive) atomically. An existing saved
    graph at ``path`` is replaced only with ``overwrite``; anything else there is never touched."""
    from .atomic import atomic_output

    graph.verify()
    doc, files = _encode(graph)
    text = json.dumps(doc, indent=1, allow_nan=False)
    path = Path(path)
    with atomic_output(path, directory=not is_archive(path), overwrite=overwrite, owned=saved_files) as tmp:
        if is_archive(path):
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
                zf.writestr("graph.json", text)
                for fname, data in files.items():
                    zf.writestr(fname, data)
        else:
            (tmp / "params").mkdir()
            (tmp / "graph.json").write_text(text)
            for fname, data in files.items():
                (tmp / fname).write_bytes(data)


class _Reader:
    """Reads members of a saved graph from a directory or a zip archive."""

    def __init__(self, path: Path):
        self.path = path
        self.zip = None
        if path.is_file():
            try:
                self.zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError, EOFError) as e:
                raise SnncError(f"{path}: not a saved snnc graph (expected a directory or a zip archive): {e}") from None
        elif not path.is_dir():
            raise SnncError(f"{path}: no such file or directory")

    def read(self, name: str, limit: int | None = None) -> bytes:
        try:
            if self.zip is not None:
                size = self.zip.getinfo(name).file_size  # what the archive declares, before inflating it
                if limit is not None and size > limit:
                    raise SnncError(f"{self.path}: '{name}' is larger than {limit} bytes")
                check_bytes(size, f"{self.path}: '{name}'")
                return self.zip.read(name)
            file = self.path / name
            if limit is not None and file.stat().st_size > limit:
                raise SnncError(f"{self.path}: '{name}' is larger than {limit} bytes")
            return file.read_bytes()
        except (KeyError, FileNotFoundError):
            raise SnncError(f"{self.path}: missing '{name}'") from None
        except (OSError, zipfile.BadZipFile, EOFError, RuntimeError, zlib.error, ValueError, NotImplementedError) as e:
            # (zipfile raises zlib.error on a damaged deflate stream, NotImplementedError for an
            # unknown compression method, RuntimeError for an encrypted member)
            raise SnncError(f"{self.path}: cannot read '{name}' (corrupt or truncated?): {e}") from None


def _shape_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value)


def _read_param(reader: _Reader, path: Path, name: str, key: str, ref) -> np.ndarray:
    if isinstance(ref, str):
        ref = {"file": ref}
    if not isinstance(ref, dict) or not isinstance(ref.get("file"), str):
        raise GraphError(name, f"{path}: parameter '{key}' has a bad reference {ref!r}")
    fname = ref["file"]
    if not fname.startswith("params/") or ".." in fname or "\\" in fname:
        raise GraphError(name, f"{path}: parameter '{key}' has a bad file reference {fname!r}")
    data = reader.read(fname)
    digest = ref.get("sha256")
    if digest is not None and hashlib.sha256(data).hexdigest() != digest:
        raise GraphError(name, f"{path}/{fname}: parameter '{key}' is corrupt (SHA-256 does not match graph.json)")
    try:
        arr = read_npy(data, f"{path}/{fname}")
    except SnncError as e:
        raise GraphError(name, f"parameter '{key}': {e}") from None
    if arr.dtype.name not in ALLOWED_DTYPES:
        raise GraphError(name, f"{path}/{fname}: parameter '{key}' has unsupported dtype {arr.dtype}; "
                               f"expected one of {sorted(ALLOWED_DTYPES)}")
    if "dtype" in ref and ref["dtype"] != arr.dtype.name:
        raise GraphError(name, f"{path}/{fname}: parameter '{key}' has dtype {arr.dtype}, graph.json says {ref['dtype']}")
    if "shape" in ref and (not _shape_list(ref["shape"]) or tuple(ref["shape"]) != arr.shape):
        raise GraphError(name, f"{path}/{fname}: parameter '{key}' has shape {arr.shape}, graph.json says {ref['shape']}")
    return arr


def _attrs_from_json(value):
    """JSON lists back to the tuples the ops declare (only for flat lists of numbers)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}


def load(path) -> Graph:
    """Read a graph saved by :func:`save`; refuses unknown versions, ops, dtypes, bad shapes and
    corrupt files with a :class:`SnncError` naming the file (and node)."""
    path = Path(path)
    reader = _Reader(path)
    try:
        doc = json.loads(reader.read("graph.json", MAX_JSON_BYTES))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise SnncError(f"{path}/graph.json: not valid JSON (truncated or corrupt?): {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise SnncError(f"{path}/graph.json: not an snnc IR graph (format must be '{FORMAT}')")
    if doc.get("version") != VERSION or isinstance(doc.get("version"), bool):
        raise SnncError(f"{path}/graph.json: unsupported IR version {doc.get('version')!r}; this snnc reads version {VERSION}")
    nodes = doc.get("nodes")
    if not isinstance(nodes, list):
        raise SnncError(f"{path}/graph.json: 'nodes' must be a list")
    metadata = doc.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise SnncError(f"{path}/graph.json: 'metadata' must be an object")
    graph = Graph(metadata=metadata)
    for i, entry in enumerate(nodes):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
            raise SnncError(f"{path}/graph.json: node #{i} needs a non-empty string 'name'")
        name = entry["name"]
        unknown = set(entry) - NODE_KEYS
        if unknown:
            raise GraphError(name, f"{path}: unknown node field(s) {sorted(unknown)}")
        if entry.get("op") not in OPS:
            raise GraphError(name, f"{path}: unknown op {entry.get('op')!r}; known ops: {sorted(OPS)}")
        inputs = entry.get("inputs") or []
        if not isinstance(inputs, list) or not all(isinstance(s, str) for s in inputs):
            raise GraphError(name, f"{path}: 'inputs' must be a list of node names")
        refs = entry.get("params") or {}
        if not isinstance(refs, dict):
            raise GraphError(name, f"{path}: 'params' must be an object")
        params = {key: _read_param(reader, path, name, key, ref) for key, ref in refs.items()}
        attrs = entry.get("attrs") or {}
        if not isinstance(attrs, dict):
            raise GraphError(name, f"{path}: 'attrs' must be an object")
        quant = entry.get("quant") or {}
        if not isinstance(quant, dict):
            raise GraphError(name, f"{path}: 'quant' must be an object")
        graph.add(Node(name, entry["op"], list(inputs), params, _attrs_from_json(attrs), quant=quant))
    graph.verify()
    for entry, node in zip(nodes, graph.nodes):
        saved = entry.get("shape")
        if saved is not None and (not _shape_list(saved) or tuple(saved) != node.shape):
            raise GraphError(node.name, f"{path}: saved per-step shape {saved} does not match the inferred shape "
                                        f"{list(node.shape)}")
    expected = doc.get("hash")
    if expected is not None and expected != graph.content_hash():
        raise SnncError(f"{path}/graph.json: content hash mismatch (the file was edited or is corrupt): "
                        f"recorded {expected}, computed {graph.content_hash()}")
    return graph


__all__ = ["save", "load", "saved_files", "FORMAT", "VERSION", "is_archive"]
