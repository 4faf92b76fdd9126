"""ISA tool sub-commands (asm, disasm, sim, isa). Filled in by the instruction-set work."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ISA sub-commands (none yet)."""
