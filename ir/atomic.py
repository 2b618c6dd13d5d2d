"""Atomic output: every writer of snnc leaves its complete result or nothing, and never a user's file
lost.

``atomic_output(path)`` yields a temporary sibling (a directory, or a file with ``directory=False``);
when the block finishes, one rename puts it at ``path``. What may stand at ``path`` before:

- nothing, or an empty directory (directory mode): written;
- an existing result of the same writer, with ``overwrite=True``: replaced. For a directory that is
  one whose ``owned(path)`` (the writer's reading of its own manifest) lists every file in it; a
  directory holding anything else (a user's ``notes.txt``) is refused even with ``overwrite``;
- anything else: refused with a :class:`SnncError` naming the path, before anything is written.

On any exception (SIGTERM included: while the block runs in the main thread, a SIGTERM that would
otherwise kill the process raises :class:`SystemExit` instead) the temporary is removed and ``path``
is left as it was. The result gets the permissions of any file the user creates (the umask applies;
``tempfile`` would make it private, 0700/0600).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from .errors import SnncError

#: a writer's reading of an existing output directory: the relative paths of every file its manifest
#: lists (``None`` when the directory is not that writer's output)
Owned = Callable[[Path], "set[str] | None"]


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def files_below(path: Path) -> set[str]:
    """Every file (or link, or other non-directory) below ``path``, relative, as POSIX strings."""
    return {p.relative_to(path).as_posix() for p in path.rglob("*") if not p.is_dir() or p.is_symlink()}


def check_replaceable(path: Path, directory: bool, overwrite: bool, owned: Owned | None,
                      kind: str = "snnc output") -> None:
    """Raise :class:`SnncError` unless ``path`` may be replaced (the rules in the module docstring);
    ``kind`` names what the writer writes ("snnc artifact")."""
    if not (path.exists() or path.is_symlink()):
        return
    if directory:
        if path.is_symlink() or not path.is_dir():
            raise SnncError(f"{path}: exists and is not an {kind} (it is not a directory); refusing to replace it")
        present = files_below(path)
        if not present:
            return
        listed = owned(path) if owned is not None else None
        if listed is None:
            shown = ", ".join(sorted(present)[:3]) + (", ..." if len(present) > 3 else "")
            raise SnncError(f"{path}: exists and is not an {kind}: it holds files that snnc did not write "
                            f"({shown}); refusing to replace it (choose another output path)")
        foreign = sorted(present - listed)
        if foreign:
            raise SnncError(f"{path}: holds {', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}, which "
                            "its manifest does not list; refusing to replace it (move those files away first)")
        if not overwrite:
            raise SnncError(f"{path}: an existing {kind}; pass --force (overwrite=True) to replace it")
        return
    if path.is_dir() and not path.is_symlink():
        raise SnncError(f"{path}: is a directory; expected a file path to write")
    if not overwrite:
        raise SnncError(f"{path}: exists; pass --force (overwrite=True) to replace it")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _temporary(parent: Path, name: str, directory: bool) -> Path:
    """A new sibling named ``.NAME.XXXXXXXX.tmp``, created with the umask's permissions."""
    for _ in range(100):
        tmp = parent / f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            if directory:
                os.mkdir(tmp, 0o777)
            else:
                os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return tmp
        except FileExistsError:
            continue
    raise SnncError(f"{parent}: cannot create a temporary output beside {name}")


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """In the main thread, while the default SIGTERM action (terminate) is in force, turn SIGTERM into
    ``SystemExit(143)`` so that the temporary output is cleaned up like on Ctrl-C."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _make_parent(parent: Path) -> None:
    """The output's directory (other ``OSError``s, e.g. permissions, name their path themselves)."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise SnncError(f"{parent}: exists and is not a directory") from None


@contextmanager
def atomic_output(path, directory: bool = True, overwrite: bool = False, owned: Owned | None = None,
                  kind: str = "snnc output"):
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    check_replaceable(path, directory, overwrite, owned, kind)
    _make_parent(parent)
    with _sigterm_raises():  # before the temporary exists: a SIGTERM from then on removes it
        try:
            tmp = _temporary(parent, path.name, directory)
        except PermissionError:
            raise SnncError(f"{path}: cannot write here ({parent} is not writable)") from None
        except OSError as e:
            raise SnncError(f"{path}: cannot write here ({e.strerror})") from None
        try:
            yield tmp
            os.chmod(tmp, (0o777 if directory else 0o666) & ~_umask())
        except BaseException:
            _remove(tmp)
            raise
        backup = None
        try:
            if path.exists() or path.is_symlink():
                if directory and path.is_dir() and not files_below(path):
                    path.rmdir()  # an empty directory: nothing to keep
                else:
                    backup = _temporary(parent, path.name + ".old", directory=path.is_dir() and not path.is_symlink())
                    os.replace(path, backup)
            os.replace(tmp, path)
        except BaseException:
            _remove(tmp)
            if backup is not None and not (path.exists() or path.is_symlink()):
                os.replace(backup, path)
            raise
        if backup is not None:
            _remove(backup)


def write_file(path, data: bytes | str, overwrite: bool = False) -> None:
    """Write one file atomically under the rules above (``str`` is written as UTF-8)."""
    with atomic_output(path, directory=False, overwrite=overwrite) as tmp:
        Path(tmp).write_bytes(data.encode() if isinstance(data, str) else data)
