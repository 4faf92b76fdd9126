"""``moecc sweep --executor ray``: on a local Ray instance the sweep gives the local table, and a
point whose task raises is retried (then ends ok) or, past its retries, is a failed row.

Each test has the executor start (and stop) its own local Ray instance with 2 CPUs, so the
fault-injection variable set before it reaches the Ray workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from moecc.examples import build_example
from moecc.sweep import SweepResult, parse_knob, run_sweep
from moecc.sweep_executors import FAULT_ENV, LocalExecutor, RayExecutor

try:
    import ray
except ImportError as exc:  # pragma: no cover - a broken test environment, not a skip
    raise ImportError("tests/test_sweep_ray.py needs Ray: pip install -e '.[test]'") from exc

KNOBS = ("mxu.rows=64,128", "precision=f32,bf16")


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sweep_ray") / "llama.onnx"
    path.write_bytes(build_example("llama-block").SerializeToString())
    return path


@pytest.fixture(scope="module")
def local(model_path: Path) -> SweepResult:
    return run_sweep(model_path, [parse_knob(k) for k in KNOBS], executor=LocalExecutor(1))


def test_ray_gives_the_local_table(model_path: Path, local: SweepResult) -> None:
    result = run_sweep(model_path, [parse_knob(k) for k in KNOBS],
                       executor=RayExecutor(jobs=2))
    assert not ray.is_initialized()  # it started Ray, so it shut it down
    assert all(row["status"] == "ok" for row in result.rows)
    assert result.to_json() == local.to_json()


def test_ray_retries_a_raising_task(model_path: Path, local: SweepResult, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAULT_ENV, "1:1,2:always")  # point 1 raises once, point 2 on every attempt
    result = run_sweep(model_path, [parse_knob(k) for k in KNOBS],
                       executor=RayExecutor(jobs=2, retries=1))
    # The Pareto marks may move (point 2 takes no part now); the rest of each row may not.
    rows = [{k: v for k, v in row.items() if k != "pareto"} for row in result.to_json()["rows"]]
    expected = [{k: v for k, v in row.items() if k != "pareto"} for row in local.to_json()["rows"]]
    assert rows[1] == expected[1]  # retried, then ok
    assert rows[2]["status"] == "failed"
    assert rows[2]["error"].startswith("lost after 2 attempts: RuntimeError: fault injected by")
    assert [rows[0], rows[3]] == [expected[0], expected[3]]
