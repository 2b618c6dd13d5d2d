"""Progress on long work: a bar (tqdm) for counted steps and a one-line status for a single long step
(building a simulator, lowering a large model), both on stderr.

Shown only where a person watches: stderr is a terminal, ``$CI`` is unset and ``$SNNC_PROGRESS`` is
not ``0``. Piped output, log files and CI runs stay exactly as they were.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from typing import Iterator


def enabled() -> bool:
    """Whether progress is shown (a terminal on stderr, not CI, not ``SNNC_PROGRESS=0``)."""
    if os.environ.get("SNNC_PROGRESS") == "0" or os.environ.get("CI"):
        return False
    return sys.stderr.isatty()


class _NoBar:
    """What :func:`bar` returns when progress is not shown."""

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


NO_BAR = _NoBar()


def bar(total: int, desc: str, unit: str = "step", show: bool | None = None):
    """A progress bar of ``total`` steps (``update(n)``, ``close()``) on stderr: where :func:`enabled`
    (``show=None``), always (``True``, asked for explicitly) or never (``False``: a no-op)."""
    if not (enabled() if show is None else show):
        return NO_BAR
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False)


@contextmanager
def phase(desc: str) -> Iterator[None]:
    """Say ``desc …`` while a single long step runs, then clear the line (nothing when not enabled)."""
    if not enabled():
        yield
        return
    start = time.monotonic()
    sys.stderr.write(f"{desc} …")
    sys.stderr.flush()
    try:
        yield
    finally:
        sys.stderr.write(f"\r\033[K{desc}: {time.monotonic() - start:.1f} s\n")
        sys.stderr.flush()
