"""The differential runner: one fuzz case on several targets against the reference interpreter.

Where it sits in the flow: after the strategy (:mod:`moecc.fuzz.strategy`) made a case, the
runner compiles its graph for each target with :func:`moecc.compile_graph` (the
default graph passes, then the target's stages), runs it on the case's inputs and compares the
outputs with :func:`moecc.ir.interpreter.run_graph` on the graph as generated (the project's
oracle), under :func:`moecc.compare.tolerances` and :func:`moecc.compare.compare_outputs`.

Each target's outcome is one of:

- ``ok``: every output matches (shape, dtype and values);
- ``refused``: compiling raised :class:`~moecc.errors.UnsupportedError` or
  :class:`~moecc.errors.TargetError`, or running refused an input's values with an
  :class:`~moecc.errors.InputError` (not an index error: indices are in range by construction),
  a legitimate refusal (listed with its reason in run summaries, never a failure);
- ``mismatch``: an output differs from the reference (a failure);
- ``error``: any other :class:`~moecc.errors.MoeccError` (a pass breaking the IR, a simulator
  fault, an index error on in-range indices...): a failure, since the graph is valid;
- ``crash``: any other exception, or a run over :data:`TIMEOUT_SECONDS` (a failure).
"""

from __future__ import annotations

import re
import signal
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from moecc.compare import compare_outputs, tolerances
from moecc.errors import InputError, MoeccError, TargetError, UnsupportedError
from moecc.fuzz.cases import FuzzCase, case_to_mir
from moecc.driver import compile_graph
from moecc.ir.interpreter import run_graph
from moecc.ir.ops.indexing import IndexRangeError

#: The targets checked against ``ref`` by default.
DEFAULT_TARGETS: tuple[str, ...] = ("asic", "cpu", "tiled")
#: Target variants the runner knows by name: a target and compile options.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "ref": ("ref", {}),  # the graph passes, then the reference interpreter: checks the passes
    "asic": ("asic", {}),
    "cpu": ("cpu", {}),
    "tiled": ("tiled", {}),
    "asic-edge": ("asic", {"asic_target": "moe-asic-edge"}),  # a 32x32 MXU: dims past 32 take edge tiles
    # bf16 MXU: its tolerances were measured on normalised transformer blocks; random graphs with
    # long or chained contractions of unnormalised values exceed them without a bug (e.g. x @ (x @ w)
    # with K = 129 and |x| <= 2: 1% of elements off by up to 0.17). A mismatch here needs a look.
    "asic-bf16": ("asic", {"precision": "bf16"}),
    "cpu-threads": ("cpu", {"threads": 2}),
    "cpu-dense": ("cpu", {"moe": "dense"}),
    "tiled-dense": ("tiled", {"moe": "dense"}),
    # Saved as a .moe artifact and loaded back before running (cpu: the ELF object, C ABI).
    "cpu-saved": ("cpu", {"saved": True}),
    "asic-saved": ("asic", {"saved": True}),
    # No graph passes: each target lowers the ops as generated (gemm, einsum, unfolded constants...).
    "asic-raw": ("asic", {"pipeline": ""}),
    "cpu-raw": ("cpu", {"pipeline": ""}),
    "tiled-raw": ("tiled", {"pipeline": ""}),
}
#: Outcomes that are failures.
FAILURES: tuple[str, ...] = ("mismatch", "error", "crash")
#: A compile + run of one small graph taking longer than this is a failure (a hang).
TIMEOUT_SECONDS = 120


@dataclass(slots=True)
class TargetOutcome:
    """What happened to a case on one target."""

    target: str
    status: str  # ok | refused | mismatch | error | crash
    detail: str = ""
    #: For refusals and failures: the detail with names and numbers blanked, to group them.
    reason: str = ""

    @property
    def failed(self) -> bool:
        return self.status in FAILURES


@dataclass(slots=True)
class CaseReport:
    case: FuzzCase
    outcomes: list[TargetOutcome] = field(default_factory=list)

    @property
    def failures(self) -> list[TargetOutcome]:
        return [o for o in self.outcomes if o.failed]


class FuzzFailure(AssertionError):
    """A case failed on some target (raised by :func:`check_case`, so hypothesis shrinks it)."""

    def __init__(self, report: CaseReport) -> None:
        self.report = report
        lines = [f"{o.target}: {o.status}: {o.detail}" for o in report.failures]
        super().__init__("; ".join(lines) + "\n" + case_to_mir(report.case))


def reason_of(text: str) -> str:
    """``text`` with value names, numbers and shapes blanked: failures and refusals that
    differ only in those group together."""
    text = re.sub(r"%[\w.\"]+", "%v", text)
    text = re.sub(r"tensor<[^>]*>", "tensor<..>", text)
    text = re.sub(r"'[^']*'", "'..'", text)
    text = re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "N", text)
    return " ".join(text.split())[:160]


@contextmanager
def _time_limit(seconds: int) -> Iterator[None]:
    """Raise TimeoutError after ``seconds`` (main thread only; elsewhere no limit)."""
    try:
        previous = signal.signal(signal.SIGALRM, _raise_timeout)
    except ValueError:  # not the main thread
        yield
        return
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _raise_timeout(signum: int, frame: Any) -> None:
    raise TimeoutError(f"no result after {TIMEOUT_SECONDS} s")


def _crash_reason(exc: BaseException) -> str:
    """Exception type and where it was raised (the innermost moecc frame)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/moecc/" in f.filename or "/work/" in f.filename]
    where = f"{Path(frames[-1].filename).name}:{frames[-1].name}" if frames else "?"
    return f"{type(exc).__name__} in {where}"


def run_target(case: FuzzCase, target: str, feeds: Mapping[str, np.ndarray], expected: Mapping[str, np.ndarray],
               options: Mapping[str, Any] | None = None) -> TargetOutcome:
    """Compile ``case`` for ``target`` (a target or a :data:`VARIANTS` name), run it on ``feeds``
    and compare with ``expected``."""
    compiled = None
    name, variant_options = VARIANTS.get(target, (target, {}))
    options = {**variant_options, **dict(options or {})}
    saved = bool(options.pop("saved", False))
    try:
        with _time_limit(TIMEOUT_SECONDS):
            try:
                compiled = compile_graph(case.graph, name, **options)
            except (UnsupportedError, TargetError) as err:
                return TargetOutcome(target, "refused", str(err), reason_of(err.message))
            if saved:
                compiled = _through_artifact(compiled)
            got = compiled.run(dict(feeds))
    except MoeccError as err:
        phase = "run" if compiled is not None else "compile"
        if phase == "run" and isinstance(err, InputError) and not isinstance(err, IndexRangeError):
            # A target refusing input values it documents it cannot hold (the asic's i32 for i64).
            return TargetOutcome(target, "refused", str(err), f"run: {reason_of(err.message)}")
        return TargetOutcome(target, "error", f"{phase}: {type(err).__name__}: {err}",
                             f"{phase}: {type(err).__name__}: {reason_of(err.message)}")
    except Exception as exc:  # noqa: BLE001 - every other exception is a crash to report
        phase = "run" if compiled is not None else "compile"
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return TargetOutcome(target, "crash", f"{phase}: {text}", f"{phase}: {_crash_reason(exc)}")
    rtol, atol = tolerances(str(compiled.options.get("precision", "f32")))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN against a number: reported as a difference
        problems = compare_outputs(got, expected, rtol=rtol, atol=atol)
    for name, want in expected.items():
        if name in got and np.asarray(got[name]).dtype != np.asarray(want).dtype:
            problems.append(f"output '{name}' has dtype {np.asarray(got[name]).dtype}, expected {np.asarray(want).dtype}")
    if problems:
        producers = sorted({v.producer.kind for v, n in zip(case.graph.outputs, case.graph.output_names)
                            if v.producer is not None and any(f"'{n}'" in p for p in problems)})
        return TargetOutcome(target, "mismatch", "; ".join(problems), f"mismatch in {','.join(producers) or '?'}")
    return TargetOutcome(target, "ok")


def _through_artifact(compiled: Any) -> Any:
    """``compiled`` saved as a ``.moe`` artifact and loaded back (what a deployment runs)."""
    import tempfile

    from moecc.artifact import load_artifact

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "case.moe"
        compiled.save(path)
        return load_artifact(path)


def run_case(case: FuzzCase, targets: Sequence[str] = DEFAULT_TARGETS,
             options: Mapping[str, Mapping[str, Any]] | None = None) -> CaseReport:
    """Run ``case`` on every target (``options[target]`` are its compile options)."""
    feeds = case.feeds()
    with np.errstate(all="ignore"):
        expected = run_graph(case.graph, feeds)
    report = CaseReport(case)
    for target in targets:
        report.outcomes.append(run_target(case, target, feeds, expected, (options or {}).get(target)))
    return report


def check_case(case: FuzzCase, targets: Sequence[str] = DEFAULT_TARGETS,
               options: Mapping[str, Mapping[str, Any]] | None = None) -> CaseReport:
    """:func:`run_case`, raising :class:`FuzzFailure` when any target failed."""
    report = run_case(case, targets, options)
    if report.failures:
        raise FuzzFailure(report)
    return report


def without_output(case: FuzzCase, index: int) -> FuzzCase:
    """``case`` without output ``index``, the ops and inputs only it needed removed."""
    graph = case.graph.clone()
    outputs = [v for i, v in enumerate(graph.outputs) if i != index]
    names = [n for i, n in enumerate(graph.output_names) if i != index]
    graph.set_outputs(outputs, names)
    live = {id(v) for v in outputs}
    dead = []
    for op in reversed(graph.ops):
        if any(id(r) in live for r in op.results):
            live.update(id(v) for v in op.operands)
        else:
            dead.append(op)
    graph.remove_ops(dead)
    kept = [i for i, v in enumerate(graph.inputs) if id(v) in live]
    for i, v in enumerate(graph.inputs):
        if i not in kept:
            graph.release_name(v.name)
    graph.inputs = [graph.inputs[i] for i in kept]
    return FuzzCase(graph, [case.inputs[i] for i in kept], list(case.notes))


def reduce_case(case: FuzzCase, still_fails: Callable[[FuzzCase], bool]) -> FuzzCase:
    """Drop outputs (and what only they needed) while ``still_fails``: hypothesis shrinks the
    choices that built a graph, this removes the parts of the graph that do not matter."""
    current = without_output(case, len(case.graph.outputs))  # unused inputs and dead ops go
    if not still_fails(current):
        current = case
    progress = True
    while progress and len(current.graph.outputs) > 1:
        progress = False
        for index in range(len(current.graph.outputs)):
            candidate = without_output(current, index)
            if still_fails(candidate):
                current, progress = candidate, True
                break
    return current


def failure_mir(report: CaseReport, outcome: TargetOutcome, extra: Sequence[str] = ()) -> str:
    """The ``.mir`` text of a failing case: target, symptom, how to reproduce, then the graph."""
    comments = [f"fuzz failure on target '{outcome.target}': {outcome.status}",
                f"symptom: {outcome.detail}",
                f"ops: {', '.join(sorted(report.case.op_kinds()))}",
                *extra,
                "reproduce: python -c \"from moecc.fuzz import load_case; from moecc.fuzz.runner import run_case; "
                f"print(run_case(load_case('THIS.mir'), ['{outcome.target}']).outcomes)\""]
    return case_to_mir(report.case, comments)


__all__ = ["DEFAULT_TARGETS", "VARIANTS", "CaseReport", "FuzzFailure", "TargetOutcome", "check_case", "failure_mir",
           "reason_of", "reduce_case", "run_case", "run_target", "without_output"]
