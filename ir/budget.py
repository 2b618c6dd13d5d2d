"""Size budgets: what a file or a flag declares is checked before anything of that size is allocated.

A header can declare any size (an ``.npy`` of ``[10**9, 10**9]``, a NIR dataset, a zip member, a
``--samples 10**12``); allocating it first fails only after the machine is out of memory, with an
error that names nothing. Every such size is checked here against :func:`memory_budget` (half of the
physical memory, or ``$SNNC_MEMORY_BUDGET`` bytes) and refused with a :class:`SnncError` naming what
declared it.
"""

from __future__ import annotations

import math
import os

from .errors import SnncError


def memory_budget() -> int:
    """Bytes one array (or one run's inputs and outputs) may take: ``$SNNC_MEMORY_BUDGET``, else half
    of the physical memory."""
    text = os.environ.get("SNNC_MEMORY_BUDGET")
    if text:
        try:
            return int(float(text))
        except ValueError:
            raise SnncError(f"$SNNC_MEMORY_BUDGET must be a number of bytes, got {text!r}") from None
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


def check_bytes(nbytes: int, what: str) -> None:
    """Refuse ``what`` (e.g. "--samples 10**12", "model.nir: node 'fc' weight") when it needs more
    than the budget."""
    budget = memory_budget()
    if nbytes > budget:
        raise SnncError(f"{what}: needs {_human(nbytes)}, more than the memory budget of {_human(budget)} "
                        "(set $SNNC_MEMORY_BUDGET to allow more)")


def check_elements(shape, itemsize: int, what: str) -> None:
    """:func:`check_bytes` for an array of ``shape`` with ``itemsize``-byte elements."""
    dims = [int(d) for d in shape]
    if any(d < 0 for d in dims):
        raise SnncError(f"{what}: negative dimension in shape {dims}")
    check_bytes(math.prod(dims) * int(itemsize), f"{what} (shape {dims})")


__all__ = ["memory_budget", "check_bytes", "check_elements"]
