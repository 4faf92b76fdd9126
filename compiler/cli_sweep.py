"""``moecc sweep``: one model over many chips and compile options, with its Pareto front.

The command around :func:`moecc.sweep.run_sweep` (registered by :mod:`moecc.cli` like the other
command modules): it parses the knobs and options, checks the output paths before any point
runs, shows the sweep's progress on stderr, prints the table and writes the CSV, JSON and plot.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TextIO

from moecc.errors import OptionError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from moecc.sweep import DEFAULT_OBJECTIVES, METRIC_COLUMNS, SAMPLING_METHODS
    from moecc.sweep_executors import EXECUTORS

    p = subparsers.add_parser(
        "sweep", help="one model over many ASIC parts and compile options, with the Pareto front",
        description="Compile and simulate a model on every point of a grid of knobs (entries of the part's TOML, "
                    "precision, asic_target, moe) or a sample of it, on the same seeded inputs; print one row per "
                    "point (cycles, latency, roofline ratio, MXU utilization, HBM bytes, energy, power, area, "
                    "throughput, outputs checked against the reference) with the Pareto front of the objectives "
                    "marked *. Points that cannot compile are rows too. See docs/sweep.md.")
    p.add_argument("model", help="ONNX model file")
    p.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="a knob and its values (repeatable): a dotted key of the part's TOML (mxu.rows=64,128; "
                        "sram.capacity_bytes=8MiB,24MiB) or precision (f32,bf16), asic_target (parts or .toml "
                        "files) or moe (sparse,dense,auto)")
    p.add_argument("--sample", choices=SAMPLING_METHODS, default="grid",
                   help="grid: every combination (default); random: --points of them drawn without replacement; "
                        "lhs: a --points-point Latin hypercube (each knob's values taken equally often)")
    p.add_argument("--points", type=int, default=None, metavar="N", help="points of a random or lhs sample")
    p.add_argument("--seed", type=int, default=0, help="seed of a random or lhs sample (default 0)")
    p.add_argument("--objectives", default=DEFAULT_OBJECTIVES, metavar="COLUMN:min|max,...",
                   help=f"the Pareto front's objectives (default {DEFAULT_OBJECTIVES}); columns: "
                        f"{', '.join(METRIC_COLUMNS)}")
    p.add_argument("--csv", metavar="FILE", help="write the rows as CSV")
    p.add_argument("--json", metavar="FILE", help="write the sweep (knobs, sampling, objectives, rows) as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="draw the first two objectives and the Pareto front (matplotlib)")
    p.add_argument("--timings", action="store_true",
                   help="also write each point's seconds_to_evaluate to --csv/--json (it is the one column that "
                        "differs between runs, so it is left out by default)")
    p.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="local: worker processes on this machine (default); ray: Ray tasks, on a local Ray "
                        "instance or the cluster at --address")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="worker processes (default: one per CPU; 1 runs the points in this process); with "
                        "--executor ray, the CPUs of the local Ray instance")
    p.add_argument("--address", default=None, metavar="ADDR", help="--executor ray: the Ray cluster to use")
    p.add_argument("--retries", type=int, default=None, metavar="N",
                   help="--executor ray: run a point whose task raised (other than a compile error) up to N more "
                        "times (default 1)")
    p.add_argument("--input-shape", action="append", default=[], metavar="NAME:DIMS")
    p.add_argument("--inputs", default=None, metavar="FILE.npz",
                   help="the inputs of every point, by input name (default: seeded random inputs, seed 0)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="set_entries",
                   help="an entry of the part set on every point (repeatable)")
    p.add_argument("--target", default=None, metavar="PART",
                   help="the part the knobs vary (a name or .toml; default moe-asic-v1)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=_cmd_sweep)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from moecc.cli_model import _input_shapes, _set_entries
    from moecc.fileio import atomic_write
    from moecc.pareto import parse_objectives
    from moecc.sweep import METRIC_COLUMNS, Sampling, format_table, parse_knob, run_sweep
    from moecc.sweep_executors import make_executor

    knobs = [parse_knob(text) for text in args.vary]
    objectives = parse_objectives(args.objectives, METRIC_COLUMNS)
    executor = make_executor(args.executor, jobs=args.jobs, address=args.address, retries=args.retries)
    for option, path in (("--csv", args.csv), ("--json", args.json), ("--plot", args.plot)):
        if path:
            _check_output_path(option, path)
    if args.plot:
        from moecc.sweep_plot import require_matplotlib

        require_matplotlib(args.plot)
    if args.plot and len(objectives) < 2:
        raise OptionError("--plot draws two objectives",
                          remedy="give --objectives with two columns, e.g. latency_s:min,energy_j:min")
    progress = SweepProgress(quiet=args.quiet)
    try:
        result = run_sweep(args.model, knobs, sampling=Sampling(args.sample, args.points, args.seed),
                           objectives=objectives, base_part=args.target, fixed_overrides=_set_entries(args.set_entries),
                           input_shapes=_input_shapes(args.input_shape), inputs=args.inputs, executor=executor,
                           on_start=progress.start, on_row=progress.row_done)
    finally:  # an error message, like the table, starts on a clean line
        progress.finish()
    sys.stdout.write(format_table(result))
    written = []
    if args.csv:
        atomic_write(args.csv, result.to_csv(timings=args.timings))
        written.append(args.csv)
    if args.json:
        atomic_write(args.json, json.dumps(result.to_json(timings=args.timings), indent=1) + "\n")
        written.append(args.json)
    if args.plot:
        from moecc.sweep_plot import plot_sweep

        plot_sweep(result, args.plot)
        written.append(args.plot)
    print(f"{len(result.rows)} points, {result.failed} failed" + (f"; wrote {', '.join(written)}" if written else ""))
    return 0


def _check_output_path(option: str, path: str) -> None:
    """Fail before the sweep, not after it, on an output path that cannot be written."""
    target = Path(path)
    if target.is_dir():
        raise OptionError(f"{option} '{path}' is a directory", remedy="give a file name")
    if not (target.parent if str(target.parent) else Path(".")).is_dir():
        raise OptionError(f"{option} '{path}': folder '{target.parent}' does not exist", remedy="create it first")


class SweepProgress:
    """Points done and left, failures and elapsed time on ``stream`` (stderr): one line rewritten
    in place on a terminal, otherwise a plain line every tenth of the points; nothing if ``quiet``."""

    def __init__(self, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.quiet = quiet
        self.terminal = bool(isatty and isatty())
        self.total = 0
        self.done = 0
        self.failed = 0
        self.began = time.perf_counter()
        self._width = 0

    def start(self, total: int) -> None:
        """The sweep has planned ``total`` points and starts running them."""
        self.total = total
        self.began = time.perf_counter()
        self._show()

    def row_done(self, index: int, row: dict[str, object]) -> None:
        self.done += 1
        self.failed += row["status"] != "ok"
        if self.terminal or self.done == self.total or self.done % max(1, self.total // 10) == 0:
            self._show()

    def finish(self) -> None:
        """Clear the line on a terminal (the table follows)."""
        if not self.quiet and self.terminal and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()

    def _show(self) -> None:
        if self.quiet:
            return
        text = (f"moecc sweep: {self.done}/{self.total} points done, {self.total - self.done} left, "
                f"{self.failed} failed, {time.perf_counter() - self.began:.1f} s")
        if self.terminal:
            self.stream.write("\r" + text.ljust(self._width))
            self._width = max(self._width, len(text))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
