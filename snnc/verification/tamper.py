"""Localisation of changed artifact bytes: which files differ from a fresh lowering, and which
nodes' parameters sit in the changed places."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ..compiler import artifact_files
from ..ir import Graph


def _content_marks(data: bytes) -> object:
    """A comparable description of a file's content: the members of a zip archive (by name, without
    their timestamps), lines of text, or bytes."""
    if data[:4] == b"PK\x03\x04":
        import io
        import zipfile
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                return {info.filename: _content_marks(zf.read(info)) for info in zf.infolist()}
        except (zipfile.BadZipFile, OSError, EOFError, ValueError):
            pass
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return data


def _file_marks(path: Path) -> object:
    return _content_marks(path.read_bytes())


def _changed_positions(fresh: dict, other: dict, prefix: tuple = ()) -> set:
    """Positions ``(file, [member,] where)`` at which ``other`` differs from ``fresh``: same-length
    binaries by byte, text by line, archives member by member, anything else as the whole file."""
    import difflib

    out = set()
    for name in set(fresh) | set(other):
        a, b = fresh.get(name), other.get(name)
        key = prefix + (name,)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out |= _changed_positions(a, b, key)
        elif a is None or b is None:
            out.add(key + ("*",))
        elif isinstance(a, bytes) and isinstance(b, bytes) and len(a) == len(b):
            x = np.frombuffer(a, np.uint8) != np.frombuffer(b, np.uint8)
            out.update(key + (int(i),) for i in np.flatnonzero(x))
        elif isinstance(a, list) and isinstance(b, list):
            sm = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
            for tag, i1, i2, _, _ in sm.get_opcodes():
                if tag != "equal":
                    out.update(key + (i,) for i in range(i1, max(i2, i1 + 1)))
        else:
            out.add(key + ("*",))
    return out


def _snapshot(directory: Path) -> dict:
    return {str(f): _file_marks(directory / f) for f in artifact_files(directory)}


def _perturbed(value: np.ndarray) -> np.ndarray:
    """An array of the same dtype and shape whose every element differs from ``value``'s."""
    value = np.asarray(value)
    if value.dtype == np.bool_:
        return ~value
    if value.dtype.kind in "iu" or (value.dtype.kind == "f" and np.all(value == np.round(value))):
        # integers (or integer-valued floats: quantized weights) move one step toward zero, 0 to 1,
        # so the result stays inside the range the target accepts
        nonzero = value != 0
        out = np.where(nonzero, value - np.sign(value).astype(value.dtype), np.ones_like(value))
        return np.asarray(out, value.dtype)
    step = np.maximum(np.abs(value), 1).astype(value.dtype) * np.asarray(0.375, value.dtype)
    return np.asarray(value + step, value.dtype)  # never equal to value (a positive step)


def _perturbed_quant(value):
    """The numeric entries of a ``quant`` annotation perturbed like parameters (targets lower the
    integer representation written there, e.g. Loihi's threshold mantissa)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value - (1 if value > 0 else -1) if value else 1
    if isinstance(value, float):
        return value + 0.375 * max(abs(value), 1.0)
    if isinstance(value, (list, tuple)):
        return type(value)(_perturbed_quant(v) for v in value)
    if isinstance(value, dict):
        return {k: _perturbed_quant(v) for k, v in value.items()}
    return value


def locate_changes(target, prepared: Graph, artifact_dir: Path, options: dict,
                   max_lowerings: int = 256) -> tuple[list, list]:
    """``(changed_files, suspects)``: the target files of ``artifact_dir`` that differ from a fresh
    lowering of ``prepared``, and the nodes whose parameters are lowered into the differing places
    (found by lowering again with one node's parameters perturbed at a time)."""
    with tempfile.TemporaryDirectory(prefix="snnc-locate-") as tmp:
        tmp = Path(tmp)
        fresh_dir = tmp / "fresh"
        fresh_dir.mkdir()
        target.lower(prepared.copy(), fresh_dir, options)
        fresh = _snapshot(fresh_dir)
        again_dir = tmp / "again"
        again_dir.mkdir()
        target.lower(prepared.copy(), again_dir, options)
        noise = _changed_positions(fresh, _snapshot(again_dir))  # non-deterministic bytes (timestamps)
        changed = _changed_positions(fresh, _snapshot(Path(artifact_dir))) - noise
        files = sorted({p[0] for p in changed})
        if not changed:
            return files, []
        touched_by: dict[str, set] = {}
        lowerings = 0
        for node in prepared.nodes:
            entries = [("params", k) for k in node.params] + \
                      [("quant", k) for k, v in node.quant.items() if _perturbed_quant(v) != v]
            for where, key in entries:
                if lowerings >= max_lowerings:
                    break
                variant = prepared.copy()
                vnode = variant[node.name]
                if where == "params":
                    vnode.params[key] = _perturbed(vnode.params[key])
                else:
                    vnode.quant[key] = _perturbed_quant(vnode.quant[key])
                vdir = tmp / f"v{lowerings}"
                vdir.mkdir()
                lowerings += 1
                try:
                    target.lower(variant, vdir, options)
                except Exception:  # noqa: BLE001 - a perturbed graph the target refuses tells nothing
                    continue
                touched = {p for p in _changed_positions(fresh, _snapshot(vdir)) - noise if p[-1] != "*"}
                touched_by.setdefault(node.name, set()).update(touched)
        # positions that several nodes' parameters reach (a checksum, a header) say nothing about
        # which node changed: attribute the change through the positions of one node only
        owners: dict = {}
        for name, positions in touched_by.items():
            for p in positions:
                owners.setdefault(p, []).append(name)
        suspects = [name for name in touched_by
                    if any(len(owners[p]) == 1 for p in touched_by[name] & changed)]
        if not suspects:
            suspects = [name for name in touched_by if touched_by[name] & changed]
        return files, suspects


