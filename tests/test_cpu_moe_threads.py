"""cpu target: a sparse MoE layer's expert loop (a ``parallel`` tiled-IR loop) split across threads.

The expert loop carries ``parallel accumulate(%<y>) cost %<y>_tokens_per_expert[..]``;
with threads > 1 the CPU back end runs contiguous ranges of experts (balanced by their token
counts) concurrently, each range adding into a private copy of the accumulator, and adds the
copies in a fixed order afterwards. Checked: threads 1, 2, 3 agree (bitwise for top-2, whose
two additions per token cannot regroup; f32 tolerance otherwise) and match the reference;
repeated runs are bitwise identical; the marker round-trips through the text form and the
verifier holds its promise; a run-time fault inside a part is still reported.
"""

from __future__ import annotations

import numpy as np
import pytest

import moecc
from moecc.backend.llvm.tiled.program import TiledCpuProgram, compile_tiled_module
from moecc.errors import InputError, VerificationError
from moecc.ir.interpreter import run_graph
from moecc.ir.tiled import parse_tiled_module, print_tiled_module, run_tiled_module, verify_tiled_module
from moecc.ir.tiled.nodes import For, Parallel, TiledModule, walk
from moecc.ir.types import DType
from moecc.passes.tiled_lowering.lower import TiledLowering, lower_graph
from tests.test_moe_dispatch import BF16_TOL, CASES, F32_TOL, PARAMS, moe_graph

#: Threads against one thread (the sums regroup only for tokens with more than two experts).
THREAD_TOL = dict(rtol=1e-5, atol=1e-6)
THREAD_CASES = ("balanced", "many-tokens", "all-experts", "one-hot-expert", "plain-mlp-biases", "bf16")


def _lower(case: str, capacity_factor: float = 0.0) -> tuple[np.ndarray, TiledLowering, dict[str, np.ndarray], dict]:
    spec = CASES[case]
    graph, data = moe_graph(**spec)
    expected = run_graph(graph, {"x": data})["y"].astype(np.float32)
    lowering = lower_graph(graph, PARAMS, moe="sparse", capacity_factor=capacity_factor)
    verify_tiled_module(lowering.module)
    return expected, lowering, {"x": data, **lowering.weights}, spec


def _run(program: TiledCpuProgram, feeds: dict[str, np.ndarray], threads: int) -> dict[str, np.ndarray]:
    program.set_threads(threads)
    try:
        heap, scratch = program.new_heap(), program.new_scratch()
        for name, value in feeds.items():
            program.write(heap, name, value)
        program.run(heap, scratch)
        return {name: program.read(heap, name) for name in program.module.outputs}
    finally:
        program.set_threads(1)


def _expert_loops(module: TiledModule) -> list[For]:
    """The parallel loops weighted by a cost (MoE dispatch's expert loops; attention's head
    loops are parallel too, unweighted)."""
    return [stmt for kernel in module.kernels for _, stmt, _ in walk(kernel.body)
            if isinstance(stmt, For) and stmt.parallel is not None and stmt.parallel.cost is not None]


@pytest.mark.parametrize("case", THREAD_CASES)
def test_threads_match_one_thread_and_the_reference(case: str) -> None:
    expected, lowering, feeds, spec = _lower(case)
    program = compile_tiled_module(lowering.module)
    assert ".par0" in program.llvm_ir  # the outlined expert range
    (out,) = lowering.module.outputs
    single = _run(program, feeds, 1)
    tol = BF16_TOL if spec.get("dtype") == DType.BF16 else F32_TOL
    np.testing.assert_allclose(single[out].astype(np.float32), expected, **tol)
    for threads in (2, 3):
        outputs = _run(program, feeds, threads)
        for name, value in single.items():
            if spec["top_k"] <= 2 or value.dtype.kind != "f":
                np.testing.assert_array_equal(outputs[name], value, err_msg=f"{name}, {threads} threads")
            else:
                np.testing.assert_allclose(outputs[name], value, **THREAD_TOL, err_msg=f"{name}, {threads} threads")
        np.testing.assert_allclose(outputs[out].astype(np.float32), expected, **tol)


def test_repeated_runs_with_two_threads_are_bitwise_identical() -> None:
    _, lowering, feeds, _ = _lower("many-tokens")  # top-3: the grouping of the sums shows
    program = compile_tiled_module(lowering.module)
    first = _run(program, feeds, 2)
    for _ in range(4):
        again = _run(program, feeds, 2)
        for name, value in first.items():
            np.testing.assert_array_equal(again[name], value)


def test_capacity_factor_with_threads() -> None:
    expected_dropless, lowering, feeds, _ = _lower("many-tokens", capacity_factor=0.75)
    assert lowering.module.buffer("y_slot_table").shape[0] % 8 == 1  # a sink row: tokens are dropped
    program = compile_tiled_module(lowering.module)
    (out,) = lowering.module.outputs
    interpreted = run_tiled_module(lowering.module, feeds)[out]
    single = _run(program, feeds, 1)[out]
    np.testing.assert_allclose(single, interpreted, **F32_TOL)
    assert not np.allclose(single, expected_dropless, **F32_TOL)  # capped: not the dropless answer
    for threads in (2, 3):
        np.testing.assert_allclose(_run(program, feeds, threads)[out], single, **THREAD_TOL)


def test_expert_loop_marker_round_trips() -> None:
    _, lowering, _, _ = _lower("balanced")
    (loop,) = _expert_loops(lowering.module)
    assert loop.parallel is not None
    assert loop.parallel.accumulate == ("y",)  # an f32 result: the experts add into it directly
    assert loop.parallel.cost is not None and loop.parallel.cost.buffer == "y_tokens_per_expert"
    text = print_tiled_module(lowering.module)
    assert f"for %{loop.var} = 0 to 5 parallel accumulate(%y) cost %y_tokens_per_expert[%{loop.var}] {{" in text
    parsed = parse_tiled_module(text)
    assert parsed == lowering.module
    assert print_tiled_module(parsed) == text
    verify_tiled_module(parsed)


def test_compiled_model_with_threads_matches_ref() -> None:
    from moecc.examples import build_example, example_inputs

    sizes = dict(seq=48, hidden=32, intermediate=48, n_experts=6, top_k=2, n_layers=1)
    model = build_example("mixtral-block", **sizes)
    inputs = example_inputs("mixtral-block", model, seed=0)
    reference = moecc.compile(model, target="ref").run(inputs)
    single = moecc.compile(model, target="cpu").run(inputs)
    compiled = moecc.compile(model, target="cpu", threads=2)
    assert len(_expert_loops(compiled.executable.module)) == 1  # the layer's expert loop is marked
    for _ in range(2):
        outputs = compiled.run(inputs)
        for name, value in single.items():
            np.testing.assert_array_equal(outputs[name], value)
            np.testing.assert_allclose(outputs[name], reference[name], rtol=1e-4, atol=1e-5)
    capped = moecc.compile(model, target="cpu", capacity_factor=1.0)
    capped_threads = moecc.compile(model, target="cpu", threads=3, capacity_factor=1.0)
    expected = capped.run(inputs)
    for name, value in capped_threads.run(inputs).items():
        np.testing.assert_allclose(value, expected[name], **THREAD_TOL)


# -- a hand-written parallel loop: not MoE, same shape ---------------------------------------

SCATTER_ROWS = """tiled_module(%x, %to, %n) {
  global %x : f32[9, 4] input
  global %to : i32[9] input
  global %n : i32[9] input
  global %y : f32[5, 4] output
  kernel @rows {
    local %row : f32[1, 4]
    local %at : i32[1]
    compute %y[0; 5x4; 4, 1] = 0.5 : f32
    for %i = 0 to 9 parallel accumulate(%y) cost %n[%i] {
      for %j = 0 to %n[%i] max 3 {
        copy %at[0; 1; 1] <- %to[%i; 1; 1]
        compute %row[0; 1x4; 4, 1] = mul(%x[4*%i; 1x4; 4, 1], 2.0 : f32)
        scatter %y[0; 5x4; 4, 1] rows %at[0; 1; 1] += %row[0; 1x4; 4, 1] in_bounds
      }
    }
  }
  return %y
}
"""


def _rows_inputs(counts: list[int]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {"x": rng.standard_normal((9, 4)).astype(np.float32),
            "to": np.array([0, 1, 1, 4, 2, 1, 0, 3, 1], np.int32),
            "n": np.array(counts, np.int32)}


def test_any_parallel_loop_runs_on_threads() -> None:
    module = parse_tiled_module(SCATTER_ROWS)
    verify_tiled_module(module)
    program = compile_tiled_module(module)
    for counts in ([1, 2, 3, 0, 1, 3, 2, 0, 1], [3, 0, 0, 0, 0, 0, 0, 0, 0], [0] * 9):
        feeds = _rows_inputs(counts)
        expected = run_tiled_module(module, feeds)["y"]
        for threads in (1, 2, 3, 4):
            np.testing.assert_allclose(_run(program, feeds, threads)["y"], expected, **THREAD_TOL)


def test_fault_inside_a_parallel_part_is_reported() -> None:
    program = compile_tiled_module(parse_tiled_module(SCATTER_ROWS))
    feeds = _rows_inputs([1, 1, 1, 1, 1, 1, 1, 7, 1])  # 7 > max 3
    for threads in (1, 2):
        with pytest.raises(InputError, match="run-time loop count 7"):
            _run(program, feeds, threads)


@pytest.mark.parametrize("change, message", [
    (("scatter %y[0; 5x4; 4, 1] rows %at[0; 1; 1] +=", "scatter %y[0; 5x4; 4, 1] rows %at[0; 1; 1] <-"),
     "other than by adding"),
    (("parallel accumulate(%y) cost", "parallel cost"), "does not accumulate into it"),
    (("compute %y[0; 5x4; 4, 1] = 0.5 : f32", "compute %row[0; 1x4; 4, 1] = 0.5 : f32"), "also used outside"),
    (("compute %row[0; 1x4; 4, 1] = mul(%x[4*%i; 1x4; 4, 1], 2.0 : f32)",
      "compute %row[0; 1x4; 4, 1] = add(%row[0; 1x4; 4, 1], %x[4*%i; 1x4; 4, 1])"), "read before"),
    (("cost %n[%i]", "cost %n[%i + 1]"), "outside buffer"),
    (("accumulate(%y)", "accumulate(%x)"), "input buffer"),
])
def test_verifier_holds_the_parallel_promise(change: tuple[str, str], message: str) -> None:
    text = SCATTER_ROWS.replace(*change)
    assert text != SCATTER_ROWS
    with pytest.raises(VerificationError, match=message):
        verify_tiled_module(parse_tiled_module(text))


def test_unmarked_loops_are_sequential_by_default() -> None:
    assert For("i", 4, ()).parallel is None
    assert Parallel() == Parallel((), None)
