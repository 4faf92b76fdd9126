"""The differential fuzzer (moecc.fuzz, issue #11): a small derandomized budget of random graphs
on asic, cpu and tiled against ref, the strategy's variety, that a wrong target result is caught
and shrinks to a minimal graph, and the minimal cases of past failures (tests/fuzz_regressions/).

Where it sits in the flow: CI's run of ``scripts/fuzz.py`` on every change (larger budgets are
run by hand with the script).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings

import moecc
from moecc import compile_graph
from moecc.fuzz import case_from_mir, case_to_mir, load_case
from moecc.fuzz.runner import FuzzFailure, check_case, failure_mir, run_case
from moecc.fuzz.strategy import gen_matmul, gen_reshape, gen_unary, graph_cases
from moecc.ir.interpreter import run_graph
from moecc.ir.verifier import verify_graph

REGRESSIONS = Path(__file__).parent / "fuzz_regressions"
QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much, HealthCheck.large_base_example]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy on empty or NaN data inside the executors
@settings(max_examples=24, derandomize=True, deadline=None, database=None, suppress_health_check=QUIET,
          phases=[Phase.generate, Phase.shrink])
@given(graph_cases(max_ops=16))
def test_random_graphs_match_ref_on_every_target(case) -> None:  # type: ignore[no-untyped-def]
    check_case(case, ("asic", "cpu", "tiled"))


def _sample(count: int, **kwargs: object) -> list:
    cases: list = []

    @settings(max_examples=count, derandomize=True, deadline=None, database=None, suppress_health_check=QUIET,
              phases=[Phase.generate])
    @given(graph_cases(**kwargs))
    def collect(case) -> None:  # type: ignore[no-untyped-def]
        cases.append(case)

    collect()
    return cases


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the reference run of empty or NaN data
def test_strategy_makes_varied_valid_graphs() -> None:
    cases = _sample(150)
    kinds: Counter[str] = Counter()
    multi_use = 0
    for case in cases:
        verify_graph(case.graph)
        outputs = run_graph(case.graph, case.feeds())
        if "gen_special" not in case.notes:  # NaN/inf on purpose only there
            assert all(np.all(np.isfinite(v.astype(np.float64))) for v in outputs.values() if v.dtype.kind == "f")
        kinds.update(case.op_kinds())
        uses = Counter(id(v) for op in case.graph.ops for v in op.operands if v.producer is not None
                       and not v.producer.is_const)
        multi_use += any(n > 1 for n in uses.values())  # a value feeding two ops: a DAG, not a chain
    sizes = [sum(1 for op in c.graph.ops if not op.is_const) for c in cases]
    assert len(kinds) >= 60, sorted(kinds)
    motifs = ("matmul", "softmax", "layer_norm", "rms_norm", "gather", "top_k", "moe", "attention", "where",
              "cast", "reduce_sum", "transpose", "concat", "scatter_elements")
    missing = [kind for kind in motifs if not kinds[kind]]
    assert len(missing) <= 2, missing
    assert max(sizes) >= 30 and min(sizes) <= 3
    moe_layouts = {len(op.operands) for c in cases for op in c.graph.ops if op.kind == "moe"}
    assert len(moe_layouts) >= 2, moe_layouts  # gated or not, with or without biases
    dtypes = {str(v.type.dtype) for c in cases for op in c.graph.ops for v in op.results}
    assert {"f32", "f16", "bf16", "i64", "i32", "bool"} <= dtypes, dtypes
    assert multi_use >= 20
    input_dtypes = {spec.dtype for c in cases for spec in c.inputs}
    assert {"f32", "bool"} <= input_dtypes and input_dtypes & {"i64", "i32"}, input_dtypes  # seeded data of each


def test_index_inputs_are_in_range() -> None:
    for case in _sample(60):
        feeds = case.feeds()
        for op in case.graph.ops:
            if op.kind == "gather" and op.operands[1] in case.graph.inputs:
                size = op.operands[0].type.shape[op.attrs["axis"]]
                idx = feeds[op.operands[1].name]
                assert idx.min() >= -size and idx.max() < size


def test_case_round_trips_through_mir() -> None:
    for case in _sample(10):
        text = case_to_mir(case, ["a comment"])
        back = case_from_mir(text)
        assert back.graph.structurally_equal(case.graph)
        assert "elided" not in text
        for name, value in case.feeds().items():
            np.testing.assert_array_equal(back.feeds()[name], value)


def test_compile_graph_leaves_the_graph_alone() -> None:
    case = _sample(3, max_ops=10)[-1]
    before = case.text()
    compiled = compile_graph(case.graph, "tiled")
    assert case.text() == before
    got = compiled.run(case.feeds())
    assert set(got) == set(case.graph.output_names)


def test_a_wrong_target_result_is_caught_and_shrinks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Break tanh in the tiled interpreter: the runner reports a mismatch on 'tiled' only, and
    hypothesis shrinks a failing graph to the single op."""
    from moecc.ir.tiled import interpreter

    monkeypatch.setitem(interpreter._UNARY, "tanh", lambda x: np.tanh(x) * 1.01)
    strategy = graph_cases(max_ops=8, generators=[gen_unary, gen_matmul, gen_reshape])
    minimal = find(strategy, lambda c: bool(run_case(c, ["tiled"]).failures),
                   settings=settings(max_examples=300, derandomize=True, database=None, suppress_health_check=QUIET))
    kinds = [op.kind for op in minimal.graph.ops if not op.is_const]
    assert len(kinds) == 1 and kinds[0] in ("tanh", "mish", "gelu")  # one op whose lowering uses tanh
    report = run_case(minimal, ["tiled", "ref"])
    assert [o.status for o in report.outcomes] == ["mismatch", "ok"]
    with pytest.raises(FuzzFailure, match="tiled: mismatch"):
        check_case(minimal, ["tiled"])
    text = failure_mir(report, report.outcomes[0])
    assert "fuzz failure on target 'tiled': mismatch" in text
    assert case_from_mir(text).graph.structurally_equal(minimal.graph)


def test_refusals_are_not_failures_but_other_errors_are(monkeypatch: pytest.MonkeyPatch) -> None:
    case = _sample(2, max_ops=4)[-1]
    import moecc.fuzz.runner as runner

    def refuse(*args: object, **kwargs: object) -> None:
        raise moecc.UnsupportedError("op 'x' does not support element type bf16")

    monkeypatch.setattr(runner, "compile_graph", refuse)
    (outcome,) = run_case(case, ["cpu"]).outcomes
    assert outcome.status == "refused" and not outcome.failed

    def broken(*args: object, **kwargs: object) -> None:
        raise moecc.PassError("pass 'x' produced invalid IR")

    monkeypatch.setattr(runner, "compile_graph", broken)
    assert run_case(case, ["cpu"]).outcomes[0].status == "error"

    def crash(*args: object, **kwargs: object) -> None:
        raise IndexError("list index out of range")

    monkeypatch.setattr(runner, "compile_graph", crash)
    (outcome,) = run_case(case, ["cpu"]).outcomes
    assert outcome.status == "crash" and outcome.failed and "IndexError" in outcome.reason


def _regression_files() -> list[Path]:
    return sorted(REGRESSIONS.glob("*.mir")) if REGRESSIONS.is_dir() else []


def _header(text: str, key: str) -> str | None:
    for line in text.splitlines():
        if line.startswith(f"// {key}: "):
            return line[len(f"// {key}: "):].strip()
    return None


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NaN/inf data
@pytest.mark.parametrize("path", _regression_files(), ids=lambda p: p.stem)
def test_fuzz_regressions(path: Path) -> None:
    """Each minimal failing case found by the fuzzer, on the targets its header names. Cases whose
    bug is still open (``// regression: open ...``) are expected to fail until it is fixed."""
    text = path.read_text(encoding="utf-8")
    targets = (_header(text, "targets") or "asic,cpu,tiled").split(",")
    status = _header(text, "regression") or "fixed"
    case = load_case(path)
    verify_graph(case.graph)
    report = run_case(case, targets)
    failures = [f"{o.target}: {o.status}: {o.detail}" for o in report.failures]
    if status.startswith("open"):
        if failures:
            pytest.xfail(f"open bug ({status}): {failures[0][:200]}")
        pytest.fail(f"{path.name} passes now: change its header to '// regression: fixed'")
    assert not failures, failures


def _fuzz_script():  # type: ignore[no-untyped-def]
    import importlib.util

    spec = importlib.util.spec_from_file_location("fuzz_script", Path(__file__).parents[1] / "scripts" / "fuzz.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_fuzz_script_reports_and_writes_a_minimal_case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    script = _fuzz_script()
    assert script.main(["--examples", "4", "--seed", "0", "--targets", "tiled,ref", "--max-ops", "4",
                        "--out", str(tmp_path / "clean"), "--known", ""]) == 0
    assert "tiled  graphs run 4, ok 4" in capsys.readouterr().out
    from moecc.ir.tiled import interpreter

    monkeypatch.setitem(interpreter._UNARY, "tanh", lambda x: np.tanh(x) * 1.01)
    assert script.main(["--examples", "40", "--seed", "0", "--targets", "tiled", "--max-ops", "6",
                        "--generators", "unary,reshape", "--out", str(tmp_path / "bad"), "--known", ""]) == 1
    out = capsys.readouterr().out
    assert "distinct failure(s)" in out
    (written,) = sorted((tmp_path / "bad").glob("*.mir"))
    case = load_case(written)
    assert [op.kind for op in case.graph.ops if not op.is_const] in (["tanh"], ["mish"], ["gelu"])
    assert run_case(case, ["tiled"]).outcomes[0].status == "mismatch"
