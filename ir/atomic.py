"""Atomic output: a compile either leaves its complete artifact or nothing at all.

``atomic_output(path)`` yields a temporary sibling path (a directory, or a file path with
``directory=False``); when the block finishes it replaces ``path`` with it in one rename. On any
exception the temporary is removed and an existing ``path`` is left exactly as it was, so a failed
compile never loses a user's previous artifact.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextmanager
def atomic_output(path, directory: bool = True):
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    backup = None
    if path.exists() or path.is_symlink():
        backup = parent / f".{path.name}.old.{os.getpid()}"
        _remove(backup)
        os.replace(path, backup)
    try:
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        if backup is not None:
            os.replace(backup, path)
        raise
    if backup is not None:
        _remove(backup)
