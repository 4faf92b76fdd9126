"""``moecc prune-report``: the accuracy, savings and break-even table of pruning a model.

The command around :func:`moecc.prune_report.prune_report` (see there for what it measures);
registered by :mod:`moecc.cli` like the other command modules.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "prune-report", help="what pruning a model costs in accuracy and saves on a target",
        description="Compile a model with and without --prune, run both on the calibration input sets (or 4 "
                    "seeded ones), and print the accuracy of every output (max abs and relative error, cosine, "
                    "top-1 agreement of logits), the model's cycles, MXU cycles and HBM bytes, per pruned weight "
                    "its sparsity, stored bytes and its matmul's cycles on the simulator, and the break-even "
                    "advisor: per matmul whether 2:4, tile pruning or neither pays off on the target.")
    p.add_argument("model", help="ONNX model file")
    p.add_argument("--prune", required=True, metavar="SPEC",
                   help="2:4, tile:FRACTION[:ROWSxCOLS] or magnitude:FRACTION (as for compile --prune)")
    p.add_argument("--calibration", default=None, metavar="FILE.npz|N",
                   help="input sets: Wanda scores from them, and the accuracy is measured on them "
                        "(default: magnitude scores, accuracy on 4 seeded sets)")
    p.add_argument("--prune-filter", default=None, metavar="REGEX", help="prune only the weights this matches")
    p.add_argument("--target", default="asic", choices=["asic", "cpu"],
                   help="where to measure (default asic; the cpu target runs pruned weights densely)")
    p.add_argument("--asic-target", default=None, metavar="PART")
    p.add_argument("--precision", choices=["f32", "bf16"], default=None)
    p.add_argument("--input-shape", action="append", default=[], metavar="NAME:DIMS")
    p.add_argument("--no-advice", action="store_true", help="leave out the break-even advisor")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON (- for stdout instead of the table)")
    p.set_defaults(func=_cmd_prune_report)


def _cmd_prune_report(args: argparse.Namespace) -> int:
    from moecc.cli_model import _input_shapes
    from moecc.passes.prune import pruning_pass
    from moecc.prune_report import format_prune_report, prune_report

    pruning_pass(args.prune, args.calibration, args.prune_filter)  # a bad value is refused before any work
    options = {"asic_target": args.asic_target, "precision": args.precision} if args.target == "asic" else {}
    if args.target != "asic" and (args.asic_target or args.precision):
        from moecc.errors import OptionError

        raise OptionError("--asic-target and --precision apply to --target asic", remedy="drop them or use --target asic")
    report = prune_report(args.model, args.prune, target=args.target, calibration=args.calibration,
                          prune_filter=args.prune_filter, input_shapes=_input_shapes(args.input_shape),
                          advise=not args.no_advice, **{k: v for k, v in options.items() if v is not None})
    if args.json == "-":
        json.dump(report, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    sys.stdout.write(format_prune_report(report))
    if args.json:
        from moecc.fileio import atomic_write

        atomic_write(args.json, json.dumps(report, indent=1) + "\n")
    return 0
