"""Compile real Hugging Face ONNX exports with moecc and compare them with onnxruntime.

A local developer check, not a test: torch is not a moecc dependency, so neither the test suite
nor CI runs this. For every model of ``examples/export_hf.py`` (small, randomly initialised, no
downloads) it exports the ONNX file, runs it in onnxruntime, compiles it with moecc for ``cpu``
(``threads=1`` and ``threads=2``) and ``asic`` (f32; its CPU steps run as LLVM code), runs it on
the same inputs, and prints one table row per model, export form and target: compile and run
time, the max abs difference per output, the partition (on ``asic`` the share of FLOPs on the
ASIC and the ops left as CPU steps; on ``cpu`` the kernels and CPU steps; on both
``partition["interpreter_ops"]``; on ``tiled``, the tiled IR on its interpreter, the kernels and
host calls, whose ops run on the graph interpreter) and ``ok``: every output within
``rtol=1e-3, atol=1e-4`` of onnxruntime and no op left on the reference interpreter.

Each model is exported twice: static (compiled as exported, at ``--batch`` x ``--seq``) and with
symbolic batch and sequence dims (compiled with ``input_shapes=`` at ``--dynamic-batch`` x
``--dynamic-seq``, run on fresh inputs of that shape, and checked against onnxruntime there).
Above the table, ``max |onnxruntime - torch|`` on the same inputs tells whether the export itself
is faithful at the shape checked. ``cpu-t2`` usually compiles in a fraction of ``cpu-t1``'s time:
the thread count is a run-time setting, so the second compile finds the same LLVM module in the
process's JIT cache.

Set up a virtualenv of its own (never install torch into the project's ``.venv``)::

    python3 -m venv /tmp/hf/venv
    /tmp/hf/venv/bin/pip install torch==2.13.0 transformers onnxscript onnxruntime
    /tmp/hf/venv/bin/pip install -e .          # from the repository root: moecc, editable

Usage::

    /tmp/hf/venv/bin/python scripts/check_hf_exports.py                  # everything (~2 min)
    /tmp/hf/venv/bin/python scripts/check_hf_exports.py --models llama mixtral --forms dynamic
    /tmp/hf/venv/bin/python scripts/check_hf_exports.py --out /tmp/hf/exports --targets asic

Exits 0 when every row passes, 1 otherwise (an exporter or moecc error is a failed row).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import moecc
from moecc.examples.export_hf import EXPORTS, Export, eager_output, export_one, run_onnxruntime

RTOL = 1e-3
ATOL = 1e-4
#: Target labels of the table: label -> (moecc target, threads).
TARGETS: dict[str, tuple[str, int]] = {
    "cpu-t1": ("cpu", 1), "cpu-t2": ("cpu", 2), "asic": ("asic", 1), "tiled": ("tiled", 1),
}
FORMS = ("static", "dynamic")


@dataclass(frozen=True, slots=True)
class Case:
    """One export to check: the ONNX file, the inputs to run it on and onnxruntime's outputs there."""

    spec: Export
    form: str  # "static" or "dynamic"
    path: Path
    feeds: dict[str, np.ndarray]
    expected: dict[str, np.ndarray]
    eager_diff: float  # max |onnxruntime - PyTorch| on ``feeds``

    @property
    def input_shapes(self) -> dict[str, tuple[int, ...]] | None:
        """The shapes to compile a dynamic export at (static exports compile as they are)."""
        return {k: v.shape for k, v in self.feeds.items()} if self.form == "dynamic" else None


@dataclass(slots=True)
class Row:
    """The result of one case on one target."""

    model: str
    exporter: str
    form: str
    shape: str
    target: str
    compile_s: float = float("nan")
    run_s: float = float("nan")
    diffs: dict[str, float] = field(default_factory=dict)
    ok: bool = False
    partition: str = ""
    error: str = ""


def make_case(spec: Export, form: str, out_dir: Path, ns: argparse.Namespace) -> Case:
    """Export ``spec`` in ``form``; a dynamic export is then run at the dynamic check shape."""
    exported = export_one(spec, out_dir / form, batch=ns.batch, seq=ns.seq, seed=ns.seed, dynamic=form == "dynamic")
    if form == "static":
        return Case(spec, form, exported.path, exported.feeds, exported.outputs, exported.eager_diff)
    feeds = spec.inputs(ns.dynamic_batch, ns.dynamic_seq, np.random.default_rng(ns.seed + 1))
    feeds, expected = run_onnxruntime(exported.path, feeds)
    eager_diff = float(np.abs(next(iter(expected.values())) - eager_output(exported.model, feeds)).max())
    return Case(spec, form, exported.path, feeds, expected, eager_diff)


def _partition_summary(target: str, partition: Mapping[str, Any]) -> tuple[str, bool]:
    """A short text of the partition, and whether it is acceptable (no op left on the interpreter)."""
    if target in ("tiled", "cpu"):  # no FLOP split; a host call runs its graph ops on the interpreter
        hosted = ",".join(sorted({row["kind"] for row in partition.get("host_ops", [])})) or "-"
        text = f"{partition['kernels']} kernels, {partition['host_calls']} host calls; host ops {hosted}"
        if target == "tiled":
            return text, not partition["host_calls"]
    interpreted = dict(partition.get("interpreter_ops", {}))
    if target == "asic":
        flops = partition["flops"]
        share = flops["asic"] / flops["total"] if flops["total"] else 1.0
        cpu_ops = ",".join(f"{k}x{v}" for k, v in sorted(partition.get("cpu_ops", {}).items())) or "-"
        text = f"ASIC {100 * share:.3f}% of {flops['total'] / 1e6:.2f} MFLOP; CPU ops {cpu_ops}"
    text += f"; interpreter {interpreted or '{}'}"
    return text, not interpreted


def check(case: Case, label: str) -> Row:
    """Compile ``case`` for the target ``label`` names, run it, and compare with onnxruntime."""
    target, threads = TARGETS[label]
    shape = "x".join(map(str, next(iter(case.feeds.values())).shape[:2]))
    row = Row(case.spec.name, case.spec.exporter, case.form, shape, label)
    try:
        start = time.perf_counter()
        options = {"threads": threads} if target == "cpu" else {}
        compiled = moecc.compile(str(case.path), target=target, input_shapes=case.input_shapes, **options)
        row.compile_s = time.perf_counter() - start
        start = time.perf_counter()
        outputs = compiled.run(case.feeds)
        row.run_s = time.perf_counter() - start
    except Exception as err:  # noqa: BLE001 - a failed compile or run is a failed row, not the end
        row.error = f"{type(err).__name__}: {err}"
        traceback.print_exc(file=sys.stderr)
        return row
    close = True
    for name, want in case.expected.items():
        got = outputs.get(name)
        if got is None or got.shape != want.shape:  # a missing or misshapen output fails outright
            row.diffs[name] = float("inf")
            close = False
            continue
        row.diffs[name] = float(np.abs(got.astype(np.float64) - want).max())
        close = close and bool(np.allclose(got, want, rtol=RTOL, atol=ATOL))
    row.partition, placed = _partition_summary(target, compiled.partition)
    row.ok = close and placed
    return row


def print_table(rows: list[Row]) -> None:
    """One line per row, columns padded to their widest cell."""
    header = ["model", "exporter", "form", "BxS", "target", "compile s", "run s", "max abs diff", "ok", "partition"]
    cells = [header]
    for r in rows:
        named = len(r.diffs) > 1  # several outputs: one difference each, by name
        diffs = ", ".join(f"{k}={v:.2e}" if named else f"{v:.2e}" for k, v in r.diffs.items()) or "-"
        cells.append([r.model, r.exporter, r.form, r.shape, r.target, f"{r.compile_s:.2f}", f"{r.run_s:.3f}",
                      diffs, "ok" if r.ok else "FAIL", r.error or r.partition])
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    widths[-1] = 0  # the last column is not padded
    for line in cells:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="folder for the exports (default: a temporary one)")
    parser.add_argument("--models", nargs="+", choices=list(EXPORTS), default=list(EXPORTS))
    parser.add_argument("--forms", nargs="+", choices=FORMS, default=list(FORMS))
    parser.add_argument("--targets", nargs="+", choices=list(TARGETS), default=list(TARGETS))
    parser.add_argument("--batch", type=int, default=2, help="batch of the exports (and of static checks)")
    parser.add_argument("--seq", type=int, default=16, help="sequence length of the exports")
    parser.add_argument("--dynamic-batch", type=int, default=1, help="batch that dynamic exports compile at")
    parser.add_argument("--dynamic-seq", type=int, default=24, help="sequence length dynamic exports compile at")
    parser.add_argument("--seed", type=int, default=0)
    ns = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="moecc-hf-") as tmp:
        out_dir = ns.out or Path(tmp)
        rows: list[Row] = []
        exports: list[str] = []
        for name in ns.models:
            for form in ns.forms:
                (out_dir / form).mkdir(parents=True, exist_ok=True)
                try:
                    case = make_case(EXPORTS[name], form, out_dir, ns)
                except Exception as err:  # noqa: BLE001 - an exporter failure is reported, others go on
                    traceback.print_exc(file=sys.stderr)
                    rows.append(Row(name, EXPORTS[name].exporter, form, "-", "export",
                                    error=f"{type(err).__name__}: {err}"))
                    continue
                exports.append(f"{name} ({form}): max |onnxruntime - torch| = {case.eager_diff:.2e}")
                rows.extend(check(case, label) for label in ns.targets)
                print(f"done: {name} ({form})", file=sys.stderr, flush=True)

    print(f"moecc {moecc.__version__}; rtol {RTOL}, atol {ATOL}")
    print("\n".join(exports))
    print_table(rows)
    failed = [r for r in rows if not r.ok]
    print(f"{len(rows) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
