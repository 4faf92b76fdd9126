"""``moecc sweep``: knobs and their validation, the sampled point sets, rows from real compiles
(failed points, outputs checked, what more bandwidth or a bigger MXU does), the CSV/JSON/plot
outputs, the local executor (2 workers give the table 1 gives) and the command line."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moecc.cli import main
from moecc.cli_sweep import SweepProgress
from moecc.errors import InputError, OptionError, TargetError
from moecc.examples import build_example
from moecc.pareto import Objective
from moecc.sweep import (
    METRIC_COLUMNS, Knob, Sampling, SweepResult, format_table, grid_size, parse_knob, plan_points, report_metrics,
    run_sweep, validate_knobs,
)
from moecc.sweep_executors import FAULT_ENV, LocalExecutor, make_executor

if importlib.util.find_spec("matplotlib") is None:  # the plot tests need it: it is in the 'test' extra
    raise ImportError("tests/test_sweep.py needs matplotlib: pip install -e '.[test]'")



@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sweep") / "llama.onnx"
    path.write_bytes(build_example("llama-block").SerializeToString())
    return path


@pytest.fixture(scope="module")
def mixed_sweep(model_path: Path) -> SweepResult:
    """2 x 2 x 2 points in this process, the 1 KiB SRAM ones too small to compile."""
    knobs = [parse_knob("mxu.rows=64,128"), parse_knob("sram.capacity_bytes=1KiB,8MiB"), parse_knob("precision=f32,bf16")]
    return run_sweep(model_path, knobs, executor=LocalExecutor(1))


def _table(result: SweepResult) -> dict[str, Any]:
    """What must not depend on the executor: everything but the wall times."""
    return result.to_json(timings=False)


# -- knobs and points -------------------------------------------------------------------

def test_parse_knob() -> None:
    assert parse_knob("sram.capacity_bytes=8MiB, 24MiB") == Knob("sram.capacity_bytes", ("8MiB", "24MiB"))
    for text, message in (("mxu.rows", "bad --vary"), ("=64", "bad --vary"), ("mxu.rows=64,,128", "empty value"),
                          ("mxu.rows=", "empty value"), ("mxu.rows=64,64", "64 is given twice")):
        with pytest.raises(OptionError, match=message):
            parse_knob(text)


def test_validate_knobs_before_any_point() -> None:
    assert validate_knobs([parse_knob("mxu.rows=64,128"), parse_knob("precision=bf16")], None, {}) == "moe-asic-v1"
    assert validate_knobs([parse_knob("mxu.rows=64")], "moe-asic-edge", {"sram.capacity_bytes": "8MiB"}) == "moe-asic-edge"
    with pytest.raises(TargetError, match=r"--vary mxu\.row=64: .*no entry 'mxu\.row'"):
        validate_knobs([parse_knob("mxu.row=64,128")], None, {})
    with pytest.raises(TargetError, match=r"--vary mxu\.rows=abc: not an integer"):
        validate_knobs([parse_knob("mxu.rows=128,abc")], None, {})
    with pytest.raises(TargetError, match=r"--vary mxu\.rows=2: .*smallest MXU side"):
        validate_knobs([parse_knob("mxu.rows=2")], None, {})
    with pytest.raises(TargetError, match=r"--vary asic_target=nope: unknown target"):
        validate_knobs([parse_knob("asic_target=moe-asic-v1,nope")], None, {})
    with pytest.raises(OptionError, match=r"--vary precision=f16: not a value of precision.*f32, bf16"):
        validate_knobs([parse_knob("precision=f32,f16")], None, {})
    with pytest.raises(OptionError, match="--vary mxu.rows is given twice"):
        validate_knobs([parse_knob("mxu.rows=64"), parse_knob("mxu.rows=128")], None, {})
    with pytest.raises(OptionError, match="has no values"):
        validate_knobs([Knob("mxu.rows", ())], None, {})
    with pytest.raises(OptionError, match="at least one knob"):
        validate_knobs([], None, {})
    with pytest.raises(OptionError, match="both set"):
        validate_knobs([parse_knob("mxu.rows=64")], None, {"mxu.rows": "128"})
    with pytest.raises(OptionError, match="--target and --vary asic_target"):
        validate_knobs([parse_knob("asic_target=moe-asic-edge")], "moe-asic-v1", {})


KNOBS = [Knob("a", ("1", "2", "3")), Knob("b", ("x", "y")), Knob("c", ("p", "q", "r", "s"))]


def test_grid_points() -> None:
    points, notes = plan_points(KNOBS, Sampling("grid"))
    assert len(points) == grid_size(KNOBS) == 24 and not notes
    assert points[:3] == [{"a": "1", "b": "x", "c": "p"}, {"a": "1", "b": "x", "c": "q"}, {"a": "1", "b": "x", "c": "r"}]
    assert len({tuple(p.values()) for p in points}) == 24


def _grid_order(point: dict[str, str]) -> tuple[int, ...]:
    return tuple(k.values.index(point[k.key]) for k in KNOBS)


def test_random_points() -> None:
    points, _ = plan_points(KNOBS, Sampling("random", 10, seed=3))
    grid = plan_points(KNOBS, Sampling("grid"))[0]
    assert len(points) == 10 and all(p in grid for p in points)
    assert len({tuple(p.values()) for p in points}) == 10  # without replacement
    assert points == sorted(points, key=_grid_order)
    assert plan_points(KNOBS, Sampling("random", 10, seed=3))[0] == points  # seeded
    assert plan_points(KNOBS, Sampling("random", 10, seed=4))[0] != points
    assert sorted(plan_points(KNOBS, Sampling("random", 24))[0], key=_grid_order) == grid  # all of it


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 5), min_size=1, max_size=4), data=st.data())
def test_lhs_points_are_stratified(sizes: list[int], data: st.DataObject) -> None:
    knobs = [Knob(f"k{i}", tuple(str(v) for v in range(size))) for i, size in enumerate(sizes)]
    n = data.draw(st.integers(1, grid_size(knobs)))
    seed = data.draw(st.integers(0, 1000))
    points, notes = plan_points(knobs, Sampling("lhs", n, seed))
    assert plan_points(knobs, Sampling("lhs", n, seed)) == (points, notes)  # deterministic
    assert not notes and len({tuple(p.values()) for p in points}) == len(points) == n  # distinct
    assert points == sorted(points, key=lambda p: tuple(int(p[k.key]) for k in knobs))  # in grid order
    for knob in knobs:  # stratified: every value of every knob taken equally often, to within one
        counts = Counter(p[knob.key] for p in points)
        assert set(counts) <= set(knob.values)
        assert all(math.floor(n / len(knob.values)) <= counts[v] <= math.ceil(n / len(knob.values))
                   for v in knob.values)


def test_lhs_points() -> None:
    knobs = [Knob("a", tuple("0123")), Knob("b", tuple("0123")), Knob("c", ("f32", "bf16"))]
    points, notes = plan_points(knobs, Sampling("lhs", 8, seed=1))
    assert len(points) == 8 and not notes
    assert Counter(p["a"] for p in points) == dict.fromkeys("0123", 2)
    assert Counter(p["c"] for p in points) == {"f32": 4, "bf16": 4}
    assert plan_points(knobs, Sampling("lhs", 8, seed=2))[0] != points
    # Most of a grid whose pairs of values cannot all be drawn at random without repeats.
    knobs = [Knob("rows", tuple("abcde")), Knob("cols", tuple("xyz")), Knob("sram", ("1", "8")), Knob("p", ("f", "b"))]
    points, notes = plan_points(knobs, Sampling("lhs", 50, seed=0))
    assert not notes and len({tuple(p.values()) for p in points}) == 50
    assert Counter(p["rows"] for p in points) == dict.fromkeys("abcde", 10)


def test_sampling_errors() -> None:
    with pytest.raises(OptionError, match="--points 25 is more than the grid's 24 points"):
        plan_points(KNOBS, Sampling("random", 25))
    with pytest.raises(OptionError, match="--points 30 is more"):
        plan_points(KNOBS, Sampling("lhs", 30))
    with pytest.raises(OptionError, match="needs --points"):
        plan_points(KNOBS, Sampling("lhs"))
    with pytest.raises(OptionError, match="--points applies to --sample random or lhs"):
        plan_points(KNOBS, Sampling("grid", 4))


# -- rows -------------------------------------------------------------------------------

def _fake_report(**extra: Any) -> dict[str, Any]:
    return {"total_cycles": 1000, "seconds": 1e-6, "ratio_to_roofline": 1.5, "units": {"mxu": {"utilization": 0.5}},
            "hbm_bytes": {"read": 300, "written": 100}, "precision": "bf16", "asic_target": "moe-asic-v1", **extra}


def test_report_metrics() -> None:
    metrics = report_metrics(_fake_report(energy_joules={"mxu": 1e-3, "total": 2e-3}, average_power_watts=2000.0,
                                          area_mm2={"mxu": 50.0, "total": 200.0}, tokens=32, tokens_per_s=3.2e7,
                                          tokens_per_joule=1.6e4))
    assert metrics == {"cycles": 1000, "latency_s": 1e-6, "ratio_to_roofline": 1.5, "mxu_utilization": 0.5,
                       "hbm_bytes": 400, "energy_j": 2e-3, "average_power_w": 2000.0, "area_mm2": 200.0,
                       "tokens_per_s": 3.2e7, "tokens_per_j": 1.6e4}
    assert list(metrics) == list(METRIC_COLUMNS)


def test_failed_points_are_rows(mixed_sweep: SweepResult) -> None:
    rows = mixed_sweep.rows
    assert [(r["mxu.rows"], r["sram.capacity_bytes"], r["precision"]) for r in rows][:3] == [
        ("64", "1KiB", "f32"), ("64", "1KiB", "bf16"), ("64", "8MiB", "f32")]
    failed = [r for r in rows if r["sram.capacity_bytes"] == "1KiB"]
    ok = [r for r in rows if r["sram.capacity_bytes"] == "8MiB"]
    assert mixed_sweep.failed == 4
    assert all(r["status"] == "failed" and "sram.capacity_bytes" in r["error"] and r["cycles"] is None for r in failed)
    assert all(r["status"] == "ok" and r["error"] is None and r["outputs_match"] is True for r in ok)
    assert all(r["cycles"] > 0 and 0 < r["mxu_utilization"] <= 1 and r["hbm_bytes"] > 0 for r in ok)
    assert all(r["energy_j"] > 0 and r["average_power_w"] > 0 and r["area_mm2"] > 0 and r["tokens_per_j"] > 0 for r in ok)
    assert any(r["pareto"] for r in ok) and not any(r["pareto"] for r in failed)
    text = format_table(mixed_sweep)
    marked = [line for line in text.splitlines() if line.startswith("* ") and not line.startswith("* on the")]
    assert "4 of 8 points failed" in text and len(marked) == sum(r["pareto"] for r in rows)


def test_more_bandwidth_or_a_bigger_mxu_is_not_slower(model_path: Path, tmp_path: Path) -> None:
    bandwidth = run_sweep(model_path, [parse_knob("hbm.bandwidth_bytes_per_s=1.2e12,2.4e12"),
                                       parse_knob("precision=f32,bf16")], executor=LocalExecutor(1))
    by_point = {(r["hbm.bandwidth_bytes_per_s"], r["precision"]): r["cycles"] for r in bandwidth.rows}
    for precision in ("f32", "bf16"):  # measured: 6845 -> 6811 (f32), 7046 -> 7024 (bf16)
        assert by_point[("2.4e12", precision)] < by_point[("1.2e12", precision)]
    # A model whose matmuls are big enough to keep the MXU busy: 4x the array, about half the
    # cycles in f32 (measured 24360 -> 12623). On the default small model a 64x64 array is faster.
    compute_heavy = tmp_path / "llama-wide.onnx"
    compute_heavy.write_bytes(build_example("llama-block", hidden=128, intermediate=256, seq=64).SerializeToString())
    mxu = run_sweep(compute_heavy, [parse_knob("mxu.rows=64,128"), parse_knob("mxu.cols=64,128")],
                    executor=LocalExecutor(1))
    cycles = {(r["mxu.rows"], r["mxu.cols"]): r["cycles"] for r in mxu.rows}
    assert cycles[("128", "128")] < cycles[("64", "64")]
    assert all(r["outputs_match"] for r in mxu.rows)


def test_csv_and_json_hold_the_same_rows(mixed_sweep: SweepResult) -> None:
    document = json.loads(json.dumps(mixed_sweep.to_json()))
    assert document["knobs"] == {"mxu.rows": ["64", "128"], "sram.capacity_bytes": ["1KiB", "8MiB"],
                                 "precision": ["f32", "bf16"]}
    assert document["sampling"] == {"method": "grid", "points": 8, "seed": 0}
    assert document["objectives"] == ["latency_s:min", "energy_j:min"]
    assert document["inputs"] == "seeded random inputs (seed 0)" and document["failed"] == 4
    assert "seconds_to_evaluate" not in document["rows"][0]
    assert "seconds_to_evaluate" in mixed_sweep.to_json(timings=True)["rows"][0]
    table = list(csv.DictReader(io.StringIO(mixed_sweep.to_csv())))
    assert list(table[0]) == mixed_sweep.columns()
    for from_csv, from_json in zip(table, document["rows"], strict=True):
        assert from_csv == {k: _as_csv(v) for k, v in from_json.items()}


def _as_csv(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, float) else str(value)


def test_two_workers_give_the_table_one_gives(model_path: Path, mixed_sweep: SweepResult) -> None:
    knobs = [parse_knob("mxu.rows=64,128"), parse_knob("sram.capacity_bytes=1KiB,8MiB"), parse_knob("precision=f32,bf16")]
    done: list[int] = []
    pooled = run_sweep(model_path, knobs, executor=LocalExecutor(2),
                       on_row=lambda index, row: done.append(index))
    assert sorted(done) == list(range(8))
    assert _table(pooled) == _table(mixed_sweep)


def test_an_exception_in_a_point_is_its_failed_row(model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAULT_ENV, "1:always")
    result = run_sweep(model_path, [parse_knob("precision=f32,bf16")], executor=LocalExecutor(1))
    assert result.rows[0]["status"] == "ok"
    assert result.rows[1]["status"] == "failed" and result.rows[1]["error"].startswith("RuntimeError: fault injected")


def test_inputs_from_a_file(model_path: Path, tmp_path: Path) -> None:
    import numpy as np

    import moecc
    from moecc.asic_runtime import random_inputs

    feeds = random_inputs(moecc.compile(model_path, "ref").graph, seed=5)
    np.savez(tmp_path / "inputs.npz", **feeds)
    result = run_sweep(model_path, [parse_knob("precision=f32,bf16")], inputs=tmp_path / "inputs.npz",
                       executor=LocalExecutor(1))
    assert result.inputs == str(tmp_path / "inputs.npz")
    assert all(r["status"] == "ok" and r["outputs_match"] for r in result.rows)
    with pytest.raises(InputError, match="--inputs .* does not exist"):
        run_sweep(model_path, [parse_knob("precision=f32")], inputs=tmp_path / "missing.npz", executor=LocalExecutor(1))


def test_executor_options() -> None:
    with pytest.raises(OptionError, match="--retries applies to --executor ray"):
        make_executor("local", retries=2)
    with pytest.raises(OptionError, match="--address applies to --executor ray"):
        make_executor("local", address="127.0.0.1:6379")
    with pytest.raises(OptionError, match="--jobs 0"):
        make_executor("local", jobs=0)
    with pytest.raises(OptionError, match="--jobs does not apply to a Ray cluster"):
        make_executor("ray", jobs=2, address="127.0.0.1:6379")


def test_progress_lines() -> None:
    stream = io.StringIO()
    progress = SweepProgress(stream=stream)
    progress.start(20)
    for index in range(20):
        progress.row_done(index, {"status": "failed" if index == 3 else "ok"})
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 + 10  # the start, then every second point (a tenth of 20)
    assert lines[-1].startswith("moecc sweep: 20/20 points done, 0 left, 1 failed, ")
    quiet = io.StringIO()
    progress = SweepProgress(quiet=True, stream=quiet)
    progress.start(2)
    progress.row_done(0, {"status": "ok"})
    assert quiet.getvalue() == ""


# -- the command ------------------------------------------------------------------------

def test_cli_sweep_writes_table_files_and_plot(model_path: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    argv = ["sweep", str(model_path), "--vary", "mxu.rows=64,128", "--vary", "sram.capacity_bytes=1KiB,8MiB,24MiB",
            "--vary", "precision=f32,bf16", "--sample", "lhs", "--points", "6", "--seed", "2", "--jobs", "1",
            "--csv", str(out / "s.csv"), "--json", str(out / "s.json"),
            "--plot", str(out / "s.png")]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "moecc sweep: 6/6 points done" in captured.err  # stderr is not a terminal: plain lines
    document = json.loads((out / "s.json").read_text())
    failed = sum(r["status"] == "failed" for r in document["rows"])
    assert len(document["rows"]) == 6 and failed == 2  # the LHS takes each SRAM size twice
    assert f"6 points, {failed} failed; wrote" in captured.out and "mxu.rows" in captured.out
    assert Counter(r["sram.capacity_bytes"] for r in document["rows"]) == {"1KiB": 2, "8MiB": 2, "24MiB": 2}
    assert len(list(csv.DictReader(io.StringIO((out / "s.csv").read_text())))) == 6
    assert (out / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.iterdir()) == ["s.csv", "s.json", "s.png"]  # no temp files left

    assert main(argv[:-6] + ["--quiet"]) == 0  # the same sweep again, nothing written, no progress
    again = capsys.readouterr()
    assert again.err == "" and again.out.endswith(f"6 points, {failed} failed\n")


@pytest.mark.parametrize(("args", "message"), [
    (["--vary", "mxu.row=64,128"], "no entry 'mxu.row'"),
    (["--vary", "mxu.rows=64", "--vary", "mxu.rows=128"], "given twice"),
    (["--vary", "mxu.rows=64,128", "--sample", "random", "--points", "3"], "--points 3 is more than the grid's 2"),
    (["--vary", "mxu.rows=64,128", "--objectives", "speed:max"], "--objectives"),
    (["--vary", "mxu.rows=64,128", "--retries", "2"], "--retries applies to --executor ray"),
    (["--vary", "mxu.rows=64,128", "--csv", "no/such/folder/s.csv"], "--csv 'no/such/folder/s.csv'"),
    (["--vary", "mxu.rows=64,128", "--plot", "p.png", "--objectives", "latency_s:min"], "--plot draws two"),
    (["--vary", "mxu.rows=64,128", "--plot", "p.txt"], "matplotlib writes no '.txt' files"),
    ([], "at least one knob"),
])
def test_cli_sweep_bad_options(model_path: Path, args: list[str], message: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", str(model_path), "--jobs", "1", "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_plots(mixed_sweep: SweepResult, tmp_path: Path) -> None:
    """Three objectives and failed points; figures spanning 1000x (log axes); no point that ran."""
    from moecc.sweep_plot import plot_sweep

    three = [Objective("latency_s", "min"), Objective("mxu_utilization", "max"), Objective("hbm_bytes", "min")]
    two = three[:1] + [Objective("energy_j", "min")]
    knobs = [Knob("a", ("1", "2", "3")), Knob("b", ("x", "y"))]
    spread = [{"a": a, "b": b, "status": "ok", "latency_s": 10.0 ** -(3 + i), "energy_j": 10.0 ** -(1 + (i * 7) % 4),
               "pareto": False} for i, (a, b) in enumerate((a, b) for a in "123" for b in "xy")]
    failed = [{"a": "1", "b": "x", "status": "failed", "latency_s": None, "energy_j": None, "pareto": False}]
    for name, result in (("three.png", SweepResult(model=mixed_sweep.model, knobs=mixed_sweep.knobs,
                                                   sampling=mixed_sweep.sampling, objectives=three,
                                                   inputs=mixed_sweep.inputs, rows=mixed_sweep.rows, notes=[])),
                         ("log.png", SweepResult("m.onnx", knobs, Sampling(), two, "inputs", spread, [])),
                         ("none.png", SweepResult("m.onnx", knobs, Sampling(), two, "inputs", failed, []))):
        plot_sweep(result, tmp_path / name)
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
