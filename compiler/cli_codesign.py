"""``moecc compare``: hardware/software co-design commands (one model on several chips).

The command around :func:`moecc.chip_compare.compare_chips`; registered by :mod:`moecc.cli`
like the other command modules.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "compare", help="one model on two ASIC parts, kernel by kernel",
        description="Compile a model for two moe-asic parts (names or .toml files, entries set with --set-a / "
                    "--set-b), run both on the same seeded inputs and print the whole model's cycles, MXU busy "
                    "cycles and HBM bytes on each, then every kernel's cycles on each, their ratio and what bounds "
                    "it, the kernels whose cycles changed most first.")
    p.add_argument("model", help="ONNX model file")
    p.add_argument("--target-a", default="moe-asic-v1", metavar="PART", help="chip A (default moe-asic-v1)")
    p.add_argument("--target-b", default=None, metavar="PART", help="chip B (default: chip A, with --set-b)")
    p.add_argument("--set-a", action="append", default=[], metavar="KEY=VALUE", help="set an entry of chip A")
    p.add_argument("--set-b", action="append", default=[], metavar="KEY=VALUE", help="set an entry of chip B")
    p.add_argument("--precision", choices=["f32", "bf16"], default=None)
    p.add_argument("--moe", choices=["sparse", "dense", "auto"], default=None)
    p.add_argument("--input-shape", action="append", default=[], metavar="NAME:DIMS")
    p.add_argument("--seed", type=int, default=0, help="seed of the inputs (default 0)")
    p.add_argument("--top", type=int, default=0, help="print only the N most changed kernels (default: all)")
    p.add_argument("--json", metavar="FILE", help="also write the comparison as JSON (- for stdout instead)")
    p.set_defaults(func=_cmd_compare)


def _cmd_compare(args: argparse.Namespace) -> int:
    from moecc.chip_compare import compare_chips, format_comparison
    from moecc.cli_model import _input_shapes, _set_entries
    from moecc.errors import InputError

    if args.top < 0:
        raise InputError(f"--top {args.top}: give a positive number of kernels (0: all)")
    part_b = args.target_b or args.target_a
    set_a, set_b = _set_entries(args.set_a) or {}, _set_entries(args.set_b) or {}
    if part_b == args.target_a and set_a == set_b:
        raise InputError("chips A and B are the same part with the same entries",
                         remedy="give --target-b, or set an entry with --set-b (e.g. --set-b mxu.rows=256)")
    options = {k: v for k, v in {"precision": args.precision, "moe": args.moe}.items() if v is not None}
    result = compare_chips(args.model, args.target_a, part_b, overrides_a=set_a, overrides_b=set_b,
                           input_shapes=_input_shapes(args.input_shape), seed=args.seed, **options)
    if args.json == "-":
        json.dump(result, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    sys.stdout.write(format_comparison(result, args.top))
    if args.json:
        from moecc.fileio import atomic_write

        atomic_write(args.json, json.dumps(result, indent=1) + "\n")
    return 0
