"""Model sub-commands (compile, run, opt, ops, example, inspect)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the model sub-commands (none yet)."""
