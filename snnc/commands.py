"""The implementation of each CLI subcommand (filled in as the frontends and targets land)."""

from __future__ import annotations

from .ir.errors import SnncError


def run(args) -> int:
    raise SnncError(f"'{args.command}' is not implemented yet in this build of snnc")
