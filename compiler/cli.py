"""The ``moecc`` command line: argument parsing and error reporting around the Python API.

Each family of sub-commands lives in its own module with a ``register(subparsers)`` function
(model commands in :mod:`moecc.cli_model`, ``prune-report`` in :mod:`moecc.cli_prune`,
``compare`` in :mod:`moecc.cli_codesign`, ISA tools in :mod:`moecc.cli_isa`). Any
:class:`~moecc.errors.MoeccError` becomes one line on stderr and exit code 2 (1 for a failed
check); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence

from moecc import __version__
from moecc.errors import CheckFailed, MoeccError

#: Modules contributing sub-commands, each exposing ``register(subparsers) -> None``.
COMMAND_MODULES: tuple[str, ...] = ("moecc.cli_model", "moecc.cli_prune", "moecc.cli_codesign", "moecc.cli_sweep", "moecc.cli_isa")

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moecc",
        description="Compile transformer / MoE ONNX models for the moe-asic and the CPU.",
    )
    parser.add_argument("--version", action="version", version=f"moecc {__version__}")
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


class _ArgumentParserError(MoeccError):
    pass


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_list
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # argparse already printed usage + one error line
        return EXIT_BAD_INPUT if exc.code not in (0, None) else EXIT_OK
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    try:
        return int(args.func(args) or 0)
    except CheckFailed as exc:
        if debug:
            traceback.print_exc()
        print(f"moecc: check failed: {exc}", file=sys.stderr)
        return EXIT_CHECK_FAILED
    except MoeccError as exc:
        if debug:
            traceback.print_exc()
        print(f"moecc: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # stdout closed early (e.g. `moecc ops | head`): not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        print("moecc: interrupted", file=sys.stderr)
        return 130
    except (MemoryError, RecursionError) as exc:
        if debug:
            traceback.print_exc()
        print(f"moecc: error: out of resources ({type(exc).__name__}); the model is too large for this machine", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
