"""The gate in front of ``torch.export.load``: a ``.pt2`` archive is read as data before torch sees it.

A ``.pt2`` is a zip archive (``<root>/``): ``models/<name>.json`` (the program, JSON), tensor payloads
under ``data/weights/`` and ``data/constants/`` (raw bytes, described by ``*_config.json``), and
members that torch unpickles: ``data/sample_inputs/<name>.pt``, and any payload whose config entry
says ``use_pickle``. torch loads the first with ``weights_only=True`` but retries with
``weights_only=False`` when that fails, and loads ``use_pickle`` payloads with ``weights_only=False``
outright; either runs whatever code a replaced member holds. So, before ``torch.export.load``:

- every member that torch would unpickle must load as plain tensors and containers under
  ``weights_only=True`` with no extra allowed classes; then torch's own load of the same bytes
  builds exactly those tensors, whichever mode it uses;
- members of a kind snnc does not know (custom or opaque objects, AOTInductor or ExecuTorch
  payloads, the pre-2.8 layout) are refused;
- every member's declared size is checked against the memory budget before it is inflated.

torch then reads the very bytes that were checked (an in-memory copy of the file).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
import zlib
from pathlib import Path

import torch

from ..ir.budget import check_bytes
from ..ir.errors import SnncError

#: members read as JSON or text: the programs, the payload configs, the archive's own records
DATA_MEMBER = re.compile(r"(models/[^/]+\.json|data/(weights|constants)/[^/]+_config\.json|archive_format|"
                         r"archive_version|byteorder|\.data/[^/]+|extra/[^/]+)")
PAYLOAD = re.compile(r"data/(weights|constants)/([^/]+)")
SAMPLE_INPUTS = re.compile(r"data/sample_inputs/[^/]+\.pt")


def _tensors_only(data: bytes, where: str) -> None:
    """Refuse ``data`` unless it unpickles under ``weights_only=True`` with no extra allowed class."""
    allowed = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure means torch would retry without weights_only
        found = re.search(r"GLOBAL ([\w.]+)", str(e)) or re.search(r"Unsupported global: ([\w.]+)", str(e))
        why = f"it unpickles {found.group(1)}" if found else f"it does not load as plain tensors ({type(e).__name__})"
        raise SnncError(f"{where}: refusing this torch.export archive: {why}, and torch would load it again "
                        "with weights_only=False (running any code it holds); re-export the model with "
                        "torch.export.save, or save it with torch.save(model) instead") from None
    finally:
        torch.serialization.add_safe_globals(allowed)


def _pickled_payloads(archive: zipfile.ZipFile, root: str, configs: list[str], where: str) -> set[str]:
    """The payload members whose config entry says ``use_pickle`` (torch unpickles them)."""
    pickled = set()
    for name in configs:
        try:
            doc = json.loads(archive.read(name))
            entries = doc["config"].values()
            kind = PAYLOAD.fullmatch(name[len(root):]).group(1)
            for entry in entries:
                if entry.get("use_pickle"):
                    pickled.add(f"{root}data/{kind}/{entry['path_name']}")
        except (ValueError, KeyError, TypeError, AttributeError):
            raise SnncError(f"{where}: {name} is not a valid payload description (JSON)") from None
    return pickled


def checked_archive(path: Path) -> io.BytesIO:
    """The bytes of the ``.pt2`` at ``path``, once every member has passed the checks above."""
    where = str(path)
    try:
        check_bytes(path.stat().st_size, where)
        data = path.read_bytes()
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as e:
        raise SnncError(f"{where}: not a torch.export program (.pt2 is a zip archive): {e}") from None
    names = [i.filename for i in infos if not i.is_dir()]
    roots = {n.split("/", 1)[0] + "/" for n in names if "/" in n}
    if len(roots) != 1 or f"{next(iter(roots))}archive_format" not in names:
        raise SnncError(f"{where}: not a torch.export program in the pt2 archive format (torch >= 2.8, "
                        "torch.export.save); older or foreign archives are not read")
    root = next(iter(roots))
    for info in infos:
        check_bytes(info.file_size, f"{where}: member {info.filename}")
    configs = [n for n in names if n.startswith(root) and re.fullmatch(r"data/(weights|constants)/[^/]+_config\.json",
                                                                        n[len(root):])]
    pickled = _pickled_payloads(archive, root, configs, where)
    try:
        for name in names:
            rel = name[len(root):] if name.startswith(root) else name
            if name in pickled or SAMPLE_INPUTS.fullmatch(rel):
                _tensors_only(archive.read(name), f"{where}: member {name}")
            elif DATA_MEMBER.fullmatch(rel):
                continue
            elif PAYLOAD.fullmatch(rel) and PAYLOAD.fullmatch(rel).group(2).startswith(("weight_", "tensor_")):
                continue  # raw tensor bytes, read by torch as a flat buffer
            else:
                raise SnncError(f"{where}: member {name} is not a part of an exported program that snnc reads "
                                "(tensors and JSON only); refusing the archive")
    except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError, RuntimeError) as e:
        raise SnncError(f"{where}: damaged archive: {e}") from None
    return io.BytesIO(data)


__all__ = ["checked_archive"]
