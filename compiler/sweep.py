"""``moecc sweep``: one model over many chips and compile options, with the Pareto front.

Beside the flow, over it (like :mod:`moecc.chip_compare`): a sweep varies knobs — entries of the
ASIC part's description (dotted TOML keys, set through ``target_overrides``:
:mod:`moecc.isa_spec.target_overrides`) and the compile options ``precision``, ``asic_target``
and ``moe`` — over a grid of their values, or a seeded random or Latin-hypercube sample of that
grid. Each design point is compiled for ``asic`` and simulated on the same inputs, and becomes
one row: its knob values, whether it compiled, the report's cycles, latency, roofline ratio, MXU
utilization, HBM traffic, energy, power, area and throughput, and whether its outputs match the
reference interpreter's. The rows on the Pareto front of the chosen objectives
(:mod:`moecc.pareto`) are marked.

Where points run is :mod:`moecc.sweep_executors`' business (in this process, a local process
pool, or Ray); they return rows as they finish and :func:`run_sweep` puts them back in point
order, so a sweep's table does not depend on the executor or the number of workers. The only
column that does is ``seconds_to_evaluate`` (wall time of one point), which the CSV and JSON
files leave out unless asked (``timings=True``). (One caveat: worker processes run numpy's BLAS
in one thread, this process in its own number of threads, and on a large model that can move a
point's outputs across the comparison's tolerance: docs/sweep.md, "BLAS threads".)
:mod:`moecc.sweep_plot` draws the result and :mod:`moecc.cli_sweep` is the command.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from moecc.errors import InputError, MoeccError, OptionError, TargetError
from moecc.isa_spec.target import DEFAULT_TARGET, load_target
from moecc.pareto import Objective, parse_objectives, pareto_front

if TYPE_CHECKING:
    import onnx

#: Compile options a knob may vary, with the values each takes (None: any part name or .toml).
COMPILE_OPTION_KNOBS: dict[str, tuple[str, ...] | None] = {
    "precision": ("f32", "bf16"),
    "moe": ("sparse", "dense", "auto"),
    "asic_target": None,
}

#: A row's figures from the point's report (None on a failed row).
METRIC_COLUMNS: tuple[str, ...] = (
    "cycles", "latency_s", "ratio_to_roofline", "mxu_utilization", "hbm_bytes", "energy_j",
    "average_power_w", "area_mm2", "tokens_per_s", "tokens_per_j",
)
#: A row's columns after its knob values.
RESULT_COLUMNS: tuple[str, ...] = ("status", "error", *METRIC_COLUMNS, "outputs_match", "pareto")
#: Wall time of one point: the one column that differs between two runs of the same sweep.
TIMING_COLUMN = "seconds_to_evaluate"

DEFAULT_OBJECTIVES = "latency_s:min,energy_j:min"
SAMPLING_METHODS = ("grid", "random", "lhs")
INPUT_SEED = 0
#: Swaps tried to rid a Latin hypercube of repeated points before evaluating the repeats once.
LHS_SWAPS = 10_000

Row = dict[str, Any]
Point = dict[str, str]


@dataclass(frozen=True, slots=True)
class Knob:
    """One thing a sweep varies: a target entry (dotted TOML key) or a compile option, and its
    values as the user wrote them (``8MiB`` stays ``8MiB``)."""

    key: str
    values: tuple[str, ...]

    @property
    def is_compile_option(self) -> bool:
        return self.key in COMPILE_OPTION_KNOBS


@dataclass(frozen=True, slots=True)
class Sampling:
    """Which points of the knobs' grid a sweep evaluates: all of them (``grid``), ``points``
    drawn uniformly without replacement (``random``), or a ``points``-point Latin hypercube
    (``lhs``: each knob's values taken equally often, to within one); ``seed`` seeds the draw."""

    method: str = "grid"
    points: int | None = None
    seed: int = 0


@dataclass(frozen=True, slots=True)
class SweepJob:
    """What every point of a sweep shares; executors ship it once to each worker."""

    model_bytes: bytes
    inputs: Mapping[str, np.ndarray]
    reference: Mapping[str, np.ndarray]  # the reference interpreter's outputs on ``inputs``
    base_part: str  # the part when no knob varies ``asic_target``
    fixed_overrides: Mapping[str, str]  # target entries set on every point (``--set``)
    input_shapes: Mapping[str, tuple[int, ...]] | None


class PointExecutor(Protocol):
    """Runs points (:mod:`moecc.sweep_executors`): yields ``(point index, row)`` as each finishes."""

    def run(self, job: SweepJob, points: Sequence[Point]) -> Iterator[tuple[int, Row]]: ...


@dataclass(slots=True)
class SweepResult:
    """A finished sweep: what was varied and how, and one row per point, in point order."""

    model: str
    knobs: list[Knob]
    sampling: Sampling
    objectives: list[Objective]
    inputs: str
    rows: list[Row]
    notes: list[str]

    @property
    def failed(self) -> int:
        return sum(row["status"] != "ok" for row in self.rows)

    def columns(self, timings: bool = False) -> list[str]:
        """The rows' columns in order; ``timings`` adds ``seconds_to_evaluate``."""
        return [k.key for k in self.knobs] + list(RESULT_COLUMNS) + ([TIMING_COLUMN] if timings else [])

    def to_json(self, timings: bool = False) -> dict[str, Any]:
        columns = self.columns(timings)
        return {
            "model": self.model,
            "knobs": {k.key: list(k.values) for k in self.knobs},
            "sampling": {"method": self.sampling.method, "points": len(self.rows), "seed": self.sampling.seed},
            "objectives": [str(o) for o in self.objectives],
            "inputs": self.inputs,
            "failed": self.failed,
            "notes": self.notes,
            "rows": [{c: row[c] for c in columns} for row in self.rows],
        }

    def to_csv(self, timings: bool = False) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        columns = self.columns(timings)
        writer.writerow(columns)
        for row in self.rows:
            writer.writerow([_csv_cell(row[c]) for c in columns])
        return out.getvalue()


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


# -- knobs ------------------------------------------------------------------------------

def parse_knob(text: str) -> Knob:
    """``--vary KEY=V1,V2,...`` as a :class:`Knob` (values keep their text)."""
    key, sep, values_text = text.partition("=")
    key = key.strip()
    values = tuple(v.strip() for v in values_text.split(","))
    if not sep or not key:
        raise OptionError(f"bad --vary '{text}'", remedy="write it as KEY=V1,V2,..., e.g. --vary mxu.rows=64,128")
    if not all(values):
        raise OptionError(f"--vary {key}: an empty value in '{values_text}'",
                          remedy=f"list the values separated by single commas, e.g. --vary {key}=A,B")
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise OptionError(f"--vary {key}: value {repeated[0]} is given twice", remedy="list each value once")
    return Knob(key, values)


def validate_knobs(knobs: Sequence[Knob], base_part: str | None, fixed_overrides: Mapping[str, str]) -> str:
    """Check every knob before any point runs, and return the base part.

    Each knob is named once, has a value, and every value is valid on its own: a compile
    option's value is one it takes, a part loads, and each target entry's value builds the part
    (once per distinct entry and value on each part, so an unknown key or a bad value fails here
    with the key named). Combinations of valid values that cannot compile are failed rows."""
    if not knobs:
        raise OptionError("a sweep needs at least one knob", remedy="give --vary KEY=V1,V2,... (e.g. mxu.rows=64,128)")
    seen: set[str] = set()
    for knob in knobs:
        if knob.key in seen:
            raise OptionError(f"--vary {knob.key} is given twice", remedy="give each knob once, with all its values")
        seen.add(knob.key)
        if not knob.values:
            raise OptionError(f"--vary {knob.key} has no values", remedy=f"give --vary {knob.key}=V1,V2,...")
        if knob.key in fixed_overrides:
            raise OptionError(f"{knob.key} is both set (--set) and varied (--vary)", remedy="give it in one of them")
        allowed = COMPILE_OPTION_KNOBS.get(knob.key)
        bad = [v for v in knob.values if allowed and v not in allowed]
        if bad:
            raise OptionError(f"--vary {knob.key}={bad[0]}: not a value of {knob.key}",
                              remedy=f"choose among {', '.join(allowed or ())}")
    part_knob = next((k for k in knobs if k.key == "asic_target"), None)
    if part_knob and base_part:
        raise OptionError("--target and --vary asic_target both name the part", remedy="give one of them")
    base = base_part or DEFAULT_TARGET
    for part in part_knob.values if part_knob else (base,):
        if part_knob:
            _load_for_knob(part, {}, "asic_target", part)
        load_target(part, fixed_overrides)  # a bad --set entry: its error names --set KEY=VALUE
        for knob in knobs:
            if not knob.is_compile_option:
                for value in knob.values:
                    _load_for_knob(part, {**fixed_overrides, knob.key: value}, knob.key, value)
    return base


def _load_for_knob(part: str, overrides: Mapping[str, str], key: str, value: str) -> None:
    """Build ``part`` with ``overrides``; a TargetError names the ``--vary`` knob and value at fault."""
    try:
        load_target(part, overrides)
    except TargetError as exc:
        setting = f"--set {key}={value}"  # how target_overrides names a bad value
        if setting in exc.message:
            raise TargetError(exc.message.replace(setting, f"--vary {key}={value}"), remedy=exc.remedy) from None
        raise exc.add_context(location=f"--vary {key}={value}") from None


# -- points -----------------------------------------------------------------------------

def grid_size(knobs: Sequence[Knob]) -> int:
    return math.prod(len(k.values) for k in knobs)


def plan_points(knobs: Sequence[Knob], sampling: Sampling) -> tuple[list[Point], list[str]]:
    """The points to evaluate (knob -> value), in grid order, and notes on how they were drawn.

    ``grid`` is the cartesian product, the first knob varying slowest. ``random`` and ``lhs``
    need ``points`` (at most the grid's size: more is an error, since a sample cannot hold more
    distinct points than the grid) and draw them with ``seed``; their points come sorted in grid
    order. Repeats in a Latin hypercube are swapped away where possible (else they are evaluated
    once and a note says so)."""
    total = grid_size(knobs)
    if sampling.method not in SAMPLING_METHODS:
        raise OptionError(f"--sample {sampling.method}: unknown sampling", remedy=f"choose {', '.join(SAMPLING_METHODS)}")
    if sampling.method == "grid":
        if sampling.points is not None:
            raise OptionError("--points applies to --sample random or lhs", remedy="leave it out for a full grid")
        return [dict(zip((k.key for k in knobs), values)) for values in itertools.product(*(k.values for k in knobs))], []
    if sampling.points is None or sampling.points < 1:
        raise OptionError(f"--sample {sampling.method} needs --points N (N >= 1)", remedy="e.g. --points 8")
    if sampling.points > total:
        raise OptionError(f"--points {sampling.points} is more than the grid's {total} points",
                          remedy=f"give at most {total}, or --sample grid for all of them")
    rng = np.random.default_rng(sampling.seed)
    sizes = [len(k.values) for k in knobs]
    notes: list[str] = []
    if sampling.method == "random":
        flat = sorted(int(i) for i in rng.choice(total, size=sampling.points, replace=False))
        indices = [_unravel(i, sizes) for i in flat]
    else:
        indices, repeats = _latin_hypercube(sizes, sampling.points, rng)
        if repeats:
            notes.append(f"no {sampling.points}-point Latin hypercube without repeated points was found in "
                         f"{LHS_SWAPS} swaps; {repeats} repeated points are evaluated once")
    return [{k.key: k.values[i] for k, i in zip(knobs, index)} for index in indices], notes


def _unravel(flat: int, sizes: Sequence[int]) -> tuple[int, ...]:
    """Grid index ``flat`` (first knob slowest) as one value index per knob."""
    index = []
    for size in reversed(sizes):
        flat, i = divmod(flat, size)
        index.append(i)
    return tuple(reversed(index))


def _latin_hypercube(sizes: Sequence[int], n: int, rng: np.random.Generator) -> tuple[list[tuple[int, ...]], int]:
    """``n`` points over knobs with ``sizes`` values: each knob's axis cut into ``n`` strata,
    stratum ``s`` mapped to value ``floor((s + 1/2) * size / n)``, strata shuffled per knob. A
    repeated point then swaps one knob's value with another point (a knob's values keep their
    counts) while that does not add repeats, for at most :data:`LHS_SWAPS` swaps. More than half
    the grid is drawn as the grid less a hypercube of the rest (the grid takes each value equally
    often, so the rest's counts are equal to within one too). Returns the distinct points in grid
    order and how many repeats were left and dropped."""
    total = math.prod(sizes)
    if 2 * n > total:
        left_out, repeats = _latin_hypercube(sizes, total - n, rng)
        if not repeats:
            excluded = set(left_out)
            return [p for p in (_unravel(i, sizes) for i in range(total)) if p not in excluded], 0
    design = np.stack([rng.permutation(np.floor((np.arange(n) + 0.5) * size / n).astype(np.int64))
                       for size in sizes], axis=1)
    distinct = _distinct_rows(design, sizes)
    for _ in range(LHS_SWAPS):
        if len(distinct) == n:
            break
        repeated = np.ones(n, dtype=bool)
        repeated[distinct] = False
        row, other = int(rng.choice(np.flatnonzero(repeated))), int(rng.integers(n))
        knob = int(rng.integers(len(sizes)))
        design[[row, other], knob] = design[[other, row], knob]
        swapped = _distinct_rows(design, sizes)
        if len(swapped) < len(distinct):  # worse: undo it
            design[[row, other], knob] = design[[other, row], knob]
        else:
            distinct = swapped
    points = sorted({tuple(int(v) for v in row) for row in design})
    return points, n - len(points)


def _distinct_rows(design: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
    """Indices of the first occurrence of each distinct row of ``design``."""
    return np.unique(np.ravel_multi_index(design.T, sizes), return_index=True)[1]


# -- one point --------------------------------------------------------------------------

def evaluate_point(job: SweepJob, point: Point) -> Row:
    """Compile ``point`` for ``asic``, simulate it on the job's inputs and return its row.

    A :class:`MoeccError` (the point cannot compile or run) is a ``failed`` row with the error's
    text; any other exception propagates, for the executor to retry or report."""
    import moecc
    from moecc.compare import compare_outputs, tolerances

    start = time.perf_counter()
    options = {k: v for k, v in point.items() if k in COMPILE_OPTION_KNOBS}
    overrides = {**job.fixed_overrides, **{k: v for k, v in point.items() if k not in COMPILE_OPTION_KNOBS}}
    options.setdefault("asic_target", job.base_part)
    try:
        compiled = moecc.compile(job.model_bytes, "asic", input_shapes=job.input_shapes, target_overrides=overrides,
                                 **options)
        outputs = compiled.run(job.inputs)
        report = compiled.report()
    except MoeccError as exc:
        return failed_row(point, str(exc), time.perf_counter() - start)
    rtol, atol = tolerances(report["precision"])
    matches = not compare_outputs(outputs, job.reference, rtol=rtol, atol=atol)
    return {**point, "status": "ok", "error": None, **report_metrics(report), "outputs_match": matches,
            "pareto": False, TIMING_COLUMN: time.perf_counter() - start}


def failed_row(point: Point, error: str, seconds: float | None) -> Row:
    """The row of a point that did not give a report: ``error`` says why."""
    return {**point, "status": "failed", "error": error, **dict.fromkeys(METRIC_COLUMNS),
            "outputs_match": None, "pareto": False, TIMING_COLUMN: seconds}


def report_metrics(report: Mapping[str, Any]) -> dict[str, Any]:
    """The row's figures from an ``asic`` report (``compiled.report()``)."""
    return {
        "cycles": int(report["total_cycles"]),
        "latency_s": float(report["seconds"]),
        "ratio_to_roofline": float(report["ratio_to_roofline"]),
        "mxu_utilization": float(report["units"]["mxu"]["utilization"]),
        "hbm_bytes": int(report["hbm_bytes"]["read"]) + int(report["hbm_bytes"]["written"]),
        "energy_j": float(report["energy_joules"]["total"]),
        "average_power_w": float(report["average_power_watts"]),
        "area_mm2": float(report["area_mm2"]["total"]),
        "tokens_per_s": float(report["tokens_per_s"]),
        "tokens_per_j": float(report["tokens_per_joule"]),
    }


# -- the sweep --------------------------------------------------------------------------

def run_sweep(
    model: str | os.PathLike[str] | bytes | onnx.ModelProto,
    knobs: Sequence[Knob],
    *,
    sampling: Sampling = Sampling(),
    objectives: Sequence[Objective] | str = DEFAULT_OBJECTIVES,
    base_part: str | None = None,
    fixed_overrides: Mapping[str, str] | None = None,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    inputs: str | os.PathLike[str] | Mapping[str, np.ndarray] | None = None,
    executor: PointExecutor | None = None,
    on_start: Callable[[int], None] | None = None,
    on_row: Callable[[int, Row], None] | None = None,
) -> SweepResult:
    """Sweep ``model`` over ``knobs``: validate them, plan the points, read the model once, run
    the reference interpreter once on the inputs (seeded random inputs, or ``inputs``: an
    ``.npz`` file or arrays by input name), evaluate every point with ``executor`` (default:
    a local process pool, :class:`moecc.sweep_executors.LocalExecutor`), and mark the Pareto
    front of ``objectives``. ``on_start(number of points)`` is called when the points start
    running and ``on_row(point index, row)`` as each finishes."""
    import moecc
    from moecc.asic_runtime import random_inputs
    from moecc.frontend.onnx_importer import load_model

    if isinstance(objectives, str):
        objectives = parse_objectives(objectives, METRIC_COLUMNS)
    fixed = {str(k): str(v) for k, v in (fixed_overrides or {}).items()}
    base = validate_knobs(knobs, base_part, fixed)
    points, notes = plan_points(knobs, sampling)
    proto, _ = load_model(model)
    model_bytes = proto.SerializeToString()
    shapes = {name: tuple(int(d) for d in dims) for name, dims in input_shapes.items()} if input_shapes else None
    reference_model = moecc.compile(model_bytes, "ref", input_shapes=shapes)
    if inputs is None:
        feeds, inputs_text = random_inputs(reference_model.graph, seed=INPUT_SEED), f"seeded random inputs (seed {INPUT_SEED})"
    elif isinstance(inputs, Mapping):
        feeds, inputs_text = {k: np.asarray(v) for k, v in inputs.items()}, "inputs given by the caller"
    else:
        feeds, inputs_text = load_inputs(inputs), str(inputs)
    job = SweepJob(model_bytes=model_bytes, inputs=feeds, reference=reference_model.run(feeds), base_part=base,
                   fixed_overrides=fixed, input_shapes=shapes)
    if executor is None:
        from moecc.sweep_executors import LocalExecutor

        executor = LocalExecutor()
    if on_start is not None:
        on_start(len(points))
    rows: dict[int, Row] = {}
    for index, row in executor.run(job, points):
        rows[index] = row
        if on_row is not None:
            on_row(index, row)
    ordered = [rows[i] for i in range(len(points))]
    for index in pareto_front(ordered, objectives):
        ordered[index]["pareto"] = True
    name = str(model) if isinstance(model, (str, os.PathLike)) else "<model>"
    return SweepResult(model=name, knobs=list(knobs), sampling=sampling, objectives=list(objectives),
                       inputs=inputs_text, rows=ordered, notes=notes)


def load_inputs(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file, by input name (``--inputs``)."""
    file = Path(path)
    if not file.is_file():
        raise InputError(f"--inputs '{path}' does not exist or is not a file", remedy="give an .npz of arrays by input name")
    try:
        with np.load(file, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"--inputs '{path}' is not a readable .npz file ({exc})",
                         remedy="write it with numpy.savez(path, input_name=array, ...)") from None


# -- the table --------------------------------------------------------------------------

def format_table(result: SweepResult) -> str:
    """The rows as a text table in point order, Pareto rows marked ``*``; the figures are left out
    when no point has them (every point failed), and failed points' errors follow the table."""
    shown = [k.key for k in result.knobs] + [c for c in ("status", *METRIC_COLUMNS, "outputs_match", TIMING_COLUMN)
                                             if any(row[c] is not None for row in result.rows)]
    cells = [[_table_cell(row[c]) for c in shown] for row in result.rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(shown)]
    lines = ["  " + "  ".join(c.rjust(w) for c, w in zip(shown, widths))]
    for row, line in zip(result.rows, cells):
        lines.append(("* " if row["pareto"] else "  ") + "  ".join(c.rjust(w) for c, w in zip(line, widths)))
    objectives = ", ".join(str(o) for o in result.objectives)
    lines += ["", f"* on the Pareto front of {objectives} ({sum(r['pareto'] for r in result.rows)} of "
                  f"{len(result.rows)} points); inputs: {result.inputs}"]
    failed = [(i, row) for i, row in enumerate(result.rows) if row["status"] != "ok"]
    if failed:
        lines += ["", f"{len(failed)} of {len(result.rows)} points failed:"]
        lines += [f"  {', '.join(f'{k.key}={row[k.key]}' for k in result.knobs)}: {row['error']}" for _, row in failed]
    lines += [f"note: {note}" for note in result.notes]
    return "\n".join(lines) + "\n"


def _table_cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


__all__ = [
    "COMPILE_OPTION_KNOBS", "DEFAULT_OBJECTIVES", "METRIC_COLUMNS", "RESULT_COLUMNS", "SAMPLING_METHODS",
    "TIMING_COLUMN", "Knob", "PointExecutor", "Sampling", "SweepJob", "SweepResult", "evaluate_point",
    "failed_row", "format_table", "grid_size", "load_inputs", "parse_knob", "plan_points", "report_metrics",
    "run_sweep", "validate_knobs",
]
