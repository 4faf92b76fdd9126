"""Tests of the MXU lowering of matmul/gemm (passes/tiling_matmul.py).

Each case builds a one-op graph, lowers it with ``lower_to_kernels`` for both targets,
verifies the kernel module, executes it with the kernel-IR interpreter and compares with the
graph reference interpreter. Structural tests check the problem reduction (batch folding),
that tiles fit each target's budgets, double buffering, and honest declines.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import ml_dtypes
import numpy as np
import pytest

from moecc.ir import DType, Graph, GraphBuilder, TensorType, run_graph
from moecc.ir.kernel import CpuCall, For, Kernel, KernelModule, Load, MatMul, Store, Vector, verify_kernel_module, walk
from moecc.isa_spec.target import load_target
from moecc.passes.kernel_lowering import LoweringContext, lower_to_kernels
from moecc.passes.tiling_matmul import (
    BatchDim,
    MatmulFormats,
    MatmulProblem,
    OperandFormat,
    choose_tiling,
    local_bytes,
    matmul_problem,
)

#: What the ASIC's HBM holds each graph dtype in (its target's storage dtypes).
ASIC_STORAGE = load_target("moe-asic-v1").storage_dtypes

try:  # the shared kernel-IR interpreter; a tiny local executor stands in until it lands
    from moecc.ir.kernel_interpreter import run_kernel_module
except ImportError:  # pragma: no cover - depends on the checkout
    run_kernel_module = None

TARGETS = ("moe-asic-v1", "moe-asic-edge")
RTOL, ATOL = 1e-4, 1e-5
#: bf16 operands carry 8 mantissa bits; products accumulate in f32.
BF16_RTOL, BF16_ATOL = 2e-2, 2e-2


# -- a small executor for Load/Store/MatMul/Vector(mov, cvt, muls, add) ---------------------


def _execute_locally(module: KernelModule, hbm: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    memory = dict(hbm)
    for buf in module.hbm:
        memory.setdefault(buf.name, np.zeros(buf.elements, dtype=buf.dtype.numpy))
    for kernel in module.kernels:
        local = {b.name: np.zeros((b.slots, b.elements), dtype=b.dtype.numpy) for b in kernel.buffers}
        _run_body(kernel.body, {}, local, memory)
    return memory


def _run_body(body, env, local, memory) -> None:  # type: ignore[no-untyped-def]
    def tile(ref):  # type: ignore[no-untyped-def]
        start = ref.offset.eval(env)
        return local[ref.buffer][ref.slot.eval(env), start:start + ref.rows * ref.cols].reshape(ref.rows, ref.cols)

    def window(ref):  # type: ignore[no-untyped-def]
        base = ref.offset.eval(env)
        index = base + np.arange(ref.rows)[:, None] * ref.pitch + np.arange(ref.cols)[None, :]
        return index

    for stmt in body:
        if isinstance(stmt, For):
            for i in range(stmt.count):
                _run_body(stmt.body, {**env, stmt.var: i}, local, memory)
        elif isinstance(stmt, Load):
            tile(stmt.dst)[...] = memory[stmt.src.buffer][window(stmt.src)]
        elif isinstance(stmt, Store):
            memory[stmt.dst.buffer][window(stmt.dst)] = tile(stmt.src)
        elif isinstance(stmt, MatMul):
            product = tile(stmt.a).astype(np.float32) @ tile(stmt.w).astype(np.float32)
            out = tile(stmt.dst)
            out[...] = out + product if stmt.accumulate else product
        elif isinstance(stmt, Vector):
            a = tile(stmt.a).astype(np.float32)
            if stmt.op in ("mov", "cvt"):
                result = a
            elif stmt.op == "muls":
                result = a * np.float32(stmt.imm)
            elif stmt.op == "add":
                result = a + tile(stmt.b).astype(np.float32)
            else:
                raise AssertionError(f"local executor lacks vector op {stmt.op}")
            dst = tile(stmt.dst)
            dst[...] = result.astype(dst.dtype)
        else:
            raise AssertionError(f"local executor lacks {type(stmt).__name__}")


def execute(module: KernelModule, hbm: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if run_kernel_module is not None:
        return run_kernel_module(module, hbm)
    return _execute_locally(module, hbm)


# -- helpers --------------------------------------------------------------------------------


def one_op_graph(kind: str, arrays: list[np.ndarray], constant: tuple[bool, ...] = (), **attrs: object) -> Graph:
    """``kind`` over the arrays; ``constant[i]`` makes operand i a constant."""
    graph = Graph()
    builder = GraphBuilder(graph, fold=False)
    operands = []
    for i, array in enumerate(arrays):
        if i < len(constant) and constant[i]:
            operands.append(builder.const(array, name=f"w{i}"))
        else:
            operands.append(graph.add_input(f"x{i}", TensorType.of(array)))
    results = builder.emit(kind, operands, attrs)
    graph.set_outputs(results, ["y"])
    return graph


def lower_and_run(graph: Graph, target_name: str, inputs: Mapping[str, np.ndarray], precision: str = "f32"):  # type: ignore[no-untyped-def]
    target = load_target(target_name)
    module, weights, partition, value_buffers = lower_to_kernels(graph, target, precision)
    verify_kernel_module(module)
    assert partition.counts(graph) == {"asic": 1, "cpu": 0}, partition.reasons
    hbm: dict[str, np.ndarray] = {}
    for value in graph.inputs:
        buf = module.hbm_buffer(value_buffers[value.name])
        hbm[buf.name] = np.asarray(inputs[value.name]).astype(buf.dtype.numpy).reshape(-1)
    hbm.update({name: data.reshape(-1) for name, data in weights.items()})
    out = execute(module, hbm)
    y = module.hbm_buffer(module.outputs[0])
    for kernel in module.kernels:
        budget = kernel_local_bytes(kernel)
        assert budget["sram"] <= target.sram_capacity_bytes and budget["acc"] <= target.acc_capacity_bytes
    return out[y.name].reshape(graph.outputs[0].type.shape), module


def kernel_local_bytes(kernel: Kernel) -> dict[str, int]:
    out = {"sram": 0, "acc": 0}
    for b in kernel.buffers:
        out[b.space] += b.nbytes
    return out


def reference(graph: Graph, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
    return run_graph(graph, dict(inputs))["y"]


RNG = np.random.default_rng(7)


def rand(*shape: int, dtype: type = np.float32) -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


# -- the problem reduction ------------------------------------------------------------------


def test_batch_dims_that_b_does_not_vary_over_fold_into_m() -> None:
    assert matmul_problem((2, 3, 5, 7), (7, 11)) == MatmulProblem(30, 7, 11)
    assert matmul_problem((7,), (7, 11)) == MatmulProblem(1, 7, 11)
    assert matmul_problem((5, 7), (7,)) == MatmulProblem(5, 7, 1)
    assert matmul_problem((7,), (7,)) == MatmulProblem(1, 7, 1)


def test_contiguous_batch_dims_merge_and_broadcast_dims_keep_zero_strides() -> None:
    # [B, H] batch of attention scores: one loop of B*H.
    assert matmul_problem((2, 4, 8, 16), (2, 4, 16, 8)) == MatmulProblem(8, 16, 8, (BatchDim(8, 128, 128, 64),))
    # A broadcast over the batch: A's stride is 0.
    assert matmul_problem((8, 16), (3, 16, 4)) == MatmulProblem(8, 16, 4, (BatchDim(3, 0, 64, 32),))
    # [1, H] @ [B, H]: two loops, A does not move with B.
    problem = matmul_problem((1, 4, 8, 16), (2, 4, 16, 8))
    assert problem.batch == (BatchDim(2, 0, 512, 256), BatchDim(4, 128, 128, 64))


# -- numbers against the graph interpreter --------------------------------------------------

MATMUL_SHAPES = [
    ((16, 32), (32, 24)),  # single tile everywhere
    ((128, 256), (256, 256)),  # MXU multiples
    ((300, 200), (200, 130)),  # edge tiles in M, K and N
    ((600, 40), (40, 70)),  # several full M tiles plus an edge (odd count: unroll remainder)
    ((1, 700), (700, 33)),  # decode row, K over several tiles on the edge target
    ((64,), (64, 48)),  # 1-D a
    ((40, 64), (64,)),  # 1-D b: matrix-vector
    ((50,), (50,)),  # dot product
    ((2, 3, 20, 24), (24, 36)),  # batch folded into M
    ((2, 4, 20, 16), (2, 4, 16, 20)),  # attention scores: batched activations
    ((1, 4, 20, 16), (3, 4, 16, 12)),  # broadcast batch dims on A
    ((5, 24, 16), (16, 12)),
    ((24, 16), (5, 16, 12)),  # A broadcast over B's batch
    ((3, 1, 9, 8), (1, 2, 8, 7)),  # both broadcast
]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(("a_shape", "b_shape"), MATMUL_SHAPES, ids=[f"{a}x{b}" for a, b in MATMUL_SHAPES])
def test_matmul_runtime_operands_match_reference(target: str, a_shape: tuple[int, ...], b_shape: tuple[int, ...]) -> None:
    inputs = {"x0": rand(*a_shape), "x1": rand(*b_shape)}
    graph = one_op_graph("matmul", [inputs["x0"], inputs["x1"]])
    got, _ = lower_and_run(graph, target, inputs)
    np.testing.assert_allclose(got, reference(graph, inputs), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(("a_shape", "b_shape"), MATMUL_SHAPES[:9], ids=[f"{a}x{b}" for a, b in MATMUL_SHAPES[:9]])
def test_matmul_constant_weights_match_reference(target: str, a_shape: tuple[int, ...], b_shape: tuple[int, ...]) -> None:
    a, w = rand(*a_shape), rand(*b_shape)
    graph = one_op_graph("matmul", [a, w], constant=(False, True))
    got, _ = lower_and_run(graph, target, {"x0": a})
    np.testing.assert_allclose(got, reference(graph, {"x0": a}), rtol=RTOL, atol=ATOL)


def test_constant_left_operand() -> None:
    w, x = rand(24, 40), rand(40, 9)
    graph = one_op_graph("matmul", [w, x], constant=(True, False))
    got, _ = lower_and_run(graph, "moe-asic-edge", {"x1": x})
    np.testing.assert_allclose(got, reference(graph, {"x1": x}), rtol=RTOL, atol=ATOL)


def bf16_rounded(x: np.ndarray) -> np.ndarray:
    return x.astype(ml_dtypes.bfloat16).astype(np.float32)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("constant_b", [False, True])
def test_bf16_precision_converts_activations_and_packs_weights(target: str, constant_b: bool) -> None:
    a, w = rand(70, 150), rand(150, 45)
    graph = one_op_graph("matmul", [a, w], constant=(False, constant_b))
    inputs = {"x0": a} if constant_b else {"x0": a, "x1": w}
    got, module = lower_and_run(graph, target, inputs, precision="bf16")
    # Exactly the bf16-rounded operands multiplied in f32 (up to summation order).
    np.testing.assert_allclose(got, bf16_rounded(a) @ bf16_rounded(w), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got, reference(graph, inputs), rtol=BF16_RTOL, atol=BF16_ATOL * math.sqrt(150))
    kernel = module.kernels[0]
    matmuls = [s for s, _ in walk(kernel.body) if isinstance(s, MatMul)]
    assert matmuls and all(m.dtype == DType.BF16 for m in matmuls)
    converts = [s for s, _ in walk(kernel.body) if isinstance(s, Vector) and s.op == "cvt"]
    assert converts  # the activation is converted on the way in
    if constant_b:
        weight = [b for b in module.hbm if b.role == "weight"]
        assert [b.dtype for b in weight] == [DType.BF16]


@pytest.mark.parametrize("target", TARGETS)
def test_bf16_graph_runs_bf16_mxu_and_rounds_once(target: str) -> None:
    a, w = rand(33, 70).astype(ml_dtypes.bfloat16), rand(70, 20).astype(ml_dtypes.bfloat16)
    graph = one_op_graph("matmul", [a, w])
    got, _ = lower_and_run(graph, target, {"x0": a, "x1": w})
    expected = reference(graph, {"x0": a, "x1": w})
    assert got.dtype == ml_dtypes.bfloat16
    np.testing.assert_allclose(got.astype(np.float32), expected.astype(np.float32), rtol=1e-2, atol=1e-2)


GEMM_CASES = [
    dict(trans_a=False, trans_b=False, alpha=1.0, beta=1.0, c=None),
    dict(trans_a=False, trans_b=True, alpha=0.5, beta=1.0, c=(1, 40)),
    dict(trans_a=True, trans_b=True, alpha=1.0, beta=2.0, c=(40,)),
    dict(trans_a=False, trans_b=False, alpha=1.0, beta=-1.0, c=(30, 1)),
    dict(trans_a=False, trans_b=False, alpha=2.0, beta=0.5, c=(30, 40)),
    dict(trans_a=False, trans_b=False, alpha=1.0, beta=1.0, c=()),
]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case", GEMM_CASES, ids=[str(i) for i in range(len(GEMM_CASES))])
def test_gemm_with_constant_weights_bias_and_scales(target: str, case: dict) -> None:  # type: ignore[type-arg]
    m, k, n = 30, 50, 40
    a = rand(k, m) if case["trans_a"] else rand(m, k)
    b = rand(n, k) if case["trans_b"] else rand(k, n)
    arrays = [a, b] + ([rand(*case["c"])] if case["c"] is not None else [])
    attrs = {key: case[key] for key in ("trans_a", "trans_b", "alpha", "beta")}
    graph = one_op_graph("gemm", arrays, constant=(case["trans_a"], True, True), **attrs)
    inputs = {} if case["trans_a"] else {"x0": a}
    got, _ = lower_and_run(graph, target, inputs)
    np.testing.assert_allclose(got, reference(graph, inputs), rtol=RTOL, atol=ATOL)


def test_gemm_runtime_bias() -> None:
    a, b, c = rand(20, 30), rand(30, 10), rand(10)
    graph = one_op_graph("gemm", [a, b, c], constant=(False, True, False))
    got, _ = lower_and_run(graph, "moe-asic-v1", {"x0": a, "x2": c})
    np.testing.assert_allclose(got, reference(graph, {"x0": a, "x2": c}), rtol=RTOL, atol=ATOL)


# -- structure: budgets, re-tiling, double buffering, declines -----------------------------


def _context(target: str, precision: str = "f32") -> LoweringContext:
    return LoweringContext(Graph(), load_target(target), precision)


F32_FORMATS = MatmulFormats(DType.F32, OperandFormat(DType.F32, False), OperandFormat(DType.F32, False), DType.F32)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("mkn", [(4096, 4096, 4096), (1, 8192, 8192), (2048, 512, 16384), (100, 3000, 4095)])
def test_tiles_fit_the_target_budgets(target: str, mkn: tuple[int, int, int]) -> None:
    ctx = _context(target)
    problem = MatmulProblem(*mkn)
    tiling = choose_tiling(problem, ctx, F32_FORMATS)
    assert not isinstance(tiling, str), tiling
    need = local_bytes(problem, tiling, F32_FORMATS)
    assert need["sram"] <= ctx.sram_budget_bytes and need["acc"] <= ctx.acc_budget_bytes
    assert max(tiling.tm, tiling.tk, tiling.tn) <= 4095


def test_same_matmul_tiles_differently_per_target() -> None:
    problem = MatmulProblem(1024, 1024, 1024)
    v1 = choose_tiling(problem, _context("moe-asic-v1"), F32_FORMATS)
    edge = choose_tiling(problem, _context("moe-asic-edge"), F32_FORMATS)
    assert not isinstance(v1, str) and not isinstance(edge, str)
    assert v1.b_resident  # 4 MiB of weights stay in 24 MiB of SRAM
    assert not edge.b_resident  # but not in 2 MiB
    assert edge.tn == 32 and v1.tn == 128  # N tiles follow the array width


def test_streamed_operands_alternate_two_slots() -> None:
    a, w = rand(128, 2048), rand(2048, 512)
    graph = one_op_graph("matmul", [a, w])
    module, _, _, _ = lower_to_kernels(graph, load_target("moe-asic-edge"))
    kernel = module.kernels[0]
    loads = [s for s, _ in walk(kernel.body) if isinstance(s, Load)]
    slots = {(ld.dst.buffer, ld.dst.slot.const) for ld in loads}
    streamed = {name for name, _ in slots}
    assert all({(name, 0), (name, 1)} <= slots for name in streamed)
    assert any(isinstance(s, For) for s in kernel.body)  # loops, not a fully unrolled nest
    first_matmuls = [s for s, _ in walk(kernel.body) if isinstance(s, MatMul)]
    assert not first_matmuls[0].accumulate and any(m.accumulate for m in first_matmuls)
    stores = [s for s, _ in walk(kernel.body) if isinstance(s, Store)]
    assert stores


@pytest.mark.parametrize(
    ("dtype", "reason"),
    [(np.int32, "f32/bf16"), (np.int64, "f32/bf16"), (np.float16, "f32/bf16")],
)
def test_integer_and_f16_matmuls_run_on_the_cpu(dtype: type, reason: str) -> None:
    a, b = np.ones((4, 5), dtype=dtype), np.ones((5, 3), dtype=dtype)
    graph = one_op_graph("matmul", [a, b])
    _, _, partition, _ = lower_to_kernels(graph, load_target("moe-asic-v1"))
    assert partition.counts(graph) == {"asic": 0, "cpu": 1}
    assert reason in next(iter(partition.reasons.values()))


def test_runtime_transposed_gemm_a_operand_declines() -> None:
    a, b = rand(6, 8), rand(6, 4)
    graph = one_op_graph("gemm", [a, b], trans_a=True)
    _, _, partition, _ = lower_to_kernels(graph, load_target("moe-asic-v1"))
    assert "trans_a" in next(iter(partition.reasons.values()))


@pytest.mark.parametrize("target", TARGETS)
def test_runtime_transposed_gemm_b_operand_uses_the_transposed_weight_load(target: str) -> None:
    a, b, c = rand(70, 100), rand(45, 100), rand(45)
    graph = one_op_graph("gemm", [a, b, c], (False, False, True), trans_b=True, alpha=0.5)
    out, module = lower_and_run(graph, target, {"x0": a, "x1": b})
    np.testing.assert_allclose(out, reference(graph, {"x0": a, "x1": b}), rtol=RTOL, atol=ATOL)
    matmuls = [s for k in module.kernels for s, _ in walk(k.body) if isinstance(s, MatMul)]
    assert matmuls and all(s.transpose_w for s in matmuls)


# -- transposes folded into the MXU's transposed weight operand -------------------------------


def transpose_matmul_graph(a: np.ndarray, kt: np.ndarray, perm: tuple[int, ...], also_output: bool = False,
                           second_matmul: bool = False) -> Graph:
    """``y = x0 @ transpose(x1, perm)``; optionally the transpose is also a graph output, or
    feeds a second matmul ``z = x0 @ transpose(x1)``."""
    graph = Graph()
    builder = GraphBuilder(graph, fold=False)
    x0 = graph.add_input("x0", TensorType.of(a))
    x1 = graph.add_input("x1", TensorType.of(kt))
    (t,) = builder.emit("transpose", [x1], {"perm": list(perm)})
    (y,) = builder.emit("matmul", [x0, t], {})
    outputs, names = [y], ["y"]
    if second_matmul:
        (z,) = builder.emit("matmul", [x0, t], {})
        outputs, names = [*outputs, z], [*names, "z"]
    if also_output:
        outputs, names = [*outputs, t], [*names, "t"]
    graph.set_outputs(outputs, names)
    return graph


def _lower_graph(graph: Graph, target: str, inputs: Mapping[str, np.ndarray], precision: str = "f32"):  # type: ignore[no-untyped-def]
    module, weights, partition, value_buffers = lower_to_kernels(graph, load_target(target), precision)
    verify_kernel_module(module)
    hbm = {value_buffers[v.name]: np.asarray(inputs[v.name]).reshape(-1) for v in graph.inputs}
    hbm.update({name: data.reshape(-1) for name, data in weights.items()})
    out = execute(module, dict(hbm))
    results = {name: out[value_buffers[v.name]].reshape(v.type.shape) for name, v in zip(graph.output_names, graph.outputs)}
    return module, partition, hbm, results


ATTENTION_SCORES = [
    ("moe-asic-v1", (1, 4, 128, 64), (1, 4, 128, 64), (0, 1, 3, 2)),  # q @ k^T per head
    ("moe-asic-edge", (2, 3, 20, 16), (2, 3, 24, 16), (0, 1, 3, 2)),
    ("moe-asic-edge", (70, 100), (45, 100), (1, 0)),  # edge tiles in every dim
    ("moe-asic-v1", (3, 40, 300), (45, 300), (1, 0)),  # batch folds into M; several K tiles
    ("moe-asic-v1", (1, 4, 128, 64), (1, 128, 4, 64), (0, 2, 3, 1)),  # gpt2/bert: k^T of [b, s, h, d]
    ("moe-asic-edge", (3, 10, 24), (36, 3, 24), (1, 2, 0)),  # n rows strided, batch inside them
    ("moe-asic-edge", (2, 9, 5, 33), (9, 2, 40, 33), (1, 0, 3, 2)),  # swapped batch axes
]


@pytest.mark.parametrize(("target", "a_shape", "k_shape", "perm"), ATTENTION_SCORES)
def test_transpose_into_matmul_folds_with_no_transpose_kernel(target: str, a_shape: tuple[int, ...],
                                                               k_shape: tuple[int, ...], perm: tuple[int, ...]) -> None:
    a, kt = rand(*a_shape), rand(*k_shape)
    graph = transpose_matmul_graph(a, kt, perm)
    module, partition, _, results = _lower_graph(graph, target, {"x0": a, "x1": kt})
    assert partition.counts(graph) == {"asic": 2, "cpu": 0}
    assert [k.name.split("_", 1)[1] for k in module.kernels] == ["matmul"]
    assert len(module.hbm) == 3  # x0, x1 and y: the transpose result has no buffer
    matmuls = [s for s, _ in walk(module.kernels[0].body) if isinstance(s, MatMul)]
    assert all(s.transpose_w for s in matmuls)
    expected = run_graph(graph, {"x0": a, "x1": kt})
    np.testing.assert_allclose(results["y"], expected["y"], rtol=RTOL, atol=ATOL)


def test_transposes_that_move_the_contiguous_axis_away_from_k_do_not_fold() -> None:
    a, x = rand(2, 6, 5), rand(5, 2, 7)
    graph = transpose_matmul_graph(a, x, (1, 0, 2))  # B = [2, 5, 7]: n is x's contiguous axis
    module, _, _, results = _lower_graph(graph, "moe-asic-v1", {"x0": a, "x1": x})
    assert sorted(k.name.split("_", 1)[1] for k in module.kernels) == ["matmul", "transpose"]
    np.testing.assert_allclose(results["y"], a @ np.transpose(x, (1, 0, 2)), rtol=RTOL, atol=ATOL)


def test_folded_transpose_at_bf16_precision_converts_the_rows_it_loads() -> None:
    a, kt = rand(1, 2, 64, 32), rand(1, 2, 48, 32)
    graph = transpose_matmul_graph(a, kt, (0, 1, 3, 2))
    module, _, _, results = _lower_graph(graph, "moe-asic-v1", {"x0": a, "x1": kt}, precision="bf16")
    assert [k.name.split("_", 1)[1] for k in module.kernels] == ["matmul"]
    expected = bf16_rounded(a) @ np.swapaxes(bf16_rounded(kt), -1, -2)
    np.testing.assert_allclose(results["y"], expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("also_output", "second_matmul", "kernels"), [
    (True, False, ["transpose", "matmul"]),  # the transposed tensor itself is wanted
    (False, True, ["matmul", "matmul"]),  # every user folds it
])
def test_transpose_kernel_stays_only_when_its_result_is_read(also_output: bool, second_matmul: bool,
                                                             kernels: list[str]) -> None:
    a, kt = rand(2, 16, 8), rand(2, 12, 8)
    graph = transpose_matmul_graph(a, kt, (0, 2, 1), also_output, second_matmul)
    module, _, _, results = _lower_graph(graph, "moe-asic-v1", {"x0": a, "x1": kt})
    assert sorted(k.name.split("_", 1)[1] for k in module.kernels) == sorted(kernels)
    expected = run_graph(graph, {"x0": a, "x1": kt})
    for name, value in expected.items():
        np.testing.assert_allclose(results[name], value, rtol=RTOL, atol=ATOL)


def test_transpose_feeding_a_cpu_op_keeps_its_kernel() -> None:
    a, kt = rand(16, 8), rand(12, 8)
    graph = Graph()
    builder = GraphBuilder(graph, fold=False)
    x0, x1 = graph.add_input("x0", TensorType.of(a)), graph.add_input("x1", TensorType.of(kt))
    (t,) = builder.emit("transpose", [x1], {"perm": [1, 0]})
    (y,) = builder.emit("matmul", [x0, t], {})
    (s,) = builder.emit("cumsum", [t], {"axis": 1})
    graph.set_outputs([y, s], ["y", "s"])
    module, weights, partition, value_buffers = lower_to_kernels(graph, load_target("moe-asic-v1"))
    verify_kernel_module(module)
    assert partition.counts(graph) == {"asic": 2, "cpu": 1}
    assert sorted(k.name.split("_", 1)[1] for k in module.kernels) == ["matmul", "transpose"]
    (cpu,) = [step for step in module.steps if isinstance(step, CpuCall)]
    assert cpu.inputs == (value_buffers[t.name],)

    def run_cpu(step: CpuCall, hbm: dict[str, np.ndarray]) -> None:
        hbm[step.outputs[0]][...] = np.cumsum(hbm[step.inputs[0]].reshape(8, 12), axis=1).reshape(-1)

    out = run_kernel_module(module, {"x0": a.reshape(-1), "x1": kt.reshape(-1)}, run_cpu)
    np.testing.assert_allclose(out[value_buffers[s.name]].reshape(8, 12), np.cumsum(kt.T, axis=1), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(out[value_buffers[y.name]].reshape(16, 12), a @ kt.T, rtol=RTOL, atol=ATOL)


def test_simulated_folded_attention_scores_match_interpreter_and_reference() -> None:
    from moecc.backend.asic import Simulator
    from moecc.backend.asic.codegen import generate_programs
    from moecc.passes.memory_plan import plan_memory

    spec = load_target("moe-asic-v1")
    a, kt = rand(1, 4, 128, 64), rand(1, 4, 128, 64)
    graph = transpose_matmul_graph(a, kt, (0, 1, 3, 2))
    module, _, hbm, results = _lower_graph(graph, "moe-asic-v1", {"x0": a, "x1": kt})
    planned, _ = plan_memory(module, spec)
    (segment,) = generate_programs(planned, spec)
    assert "tw=1" in segment.listing and "dma" in segment.listing
    result = Simulator(segment.program, spec).run(hbm)
    simulated = result.read(module.outputs[0]).reshape(results["y"].shape)
    np.testing.assert_array_equal(simulated, results["y"])
    np.testing.assert_allclose(simulated, a @ np.swapaxes(kt, -1, -2), rtol=RTOL, atol=ATOL)


def test_hbm_dtypes_cover_the_supported_graph_dtypes() -> None:
    assert ASIC_STORAGE[DType.F32] == DType.F32 and ASIC_STORAGE[DType.BF16] == DType.BF16


# -- end to end: memory plan, codegen, simulator -------------------------------------------

E2E_CASES = [
    ("moe-asic-v1", (128, 256), (256, 256), False, "f32"),
    ("moe-asic-edge", (70, 100), (100, 45), False, "f32"),
    ("moe-asic-v1", (2, 4, 20, 16), (2, 4, 16, 20), False, "f32"),
    ("moe-asic-edge", (3, 10, 40), (40, 36), True, "f32"),
    ("moe-asic-v1", (33, 150), (150, 70), True, "bf16"),
]


@pytest.mark.parametrize(("target", "a_shape", "b_shape", "constant_b", "precision"), E2E_CASES)
def test_simulated_kernel_matches_interpreter_and_reference(
    target: str, a_shape: tuple[int, ...], b_shape: tuple[int, ...], constant_b: bool, precision: str
) -> None:
    codegen = pytest.importorskip("moecc.backend.asic.codegen")
    memory_plan = pytest.importorskip("moecc.passes.memory_plan")
    from moecc.backend.asic import Simulator

    spec = load_target(target)
    a, w = rand(*a_shape), rand(*b_shape)
    graph = one_op_graph("matmul", [a, w], constant=(False, constant_b))
    module, weights, _, _ = lower_to_kernels(graph, spec, precision)
    hbm = {"x0": a.reshape(-1), **({} if constant_b else {"x1": w.reshape(-1)})}
    hbm.update({name: data.reshape(-1) for name, data in weights.items()})
    planned, _ = memory_plan.plan_memory(module, spec)
    (segment,) = codegen.generate_programs(planned, spec)
    result = Simulator(segment.program, spec).run(hbm)
    out = module.outputs[0]
    simulated = result.read(out).reshape(-1)
    np.testing.assert_array_equal(simulated, execute(module, dict(hbm))[out])
    expected = reference(graph, {"x0": a, "x1": w})
    if precision == "f32":
        np.testing.assert_allclose(simulated.reshape(expected.shape), expected, rtol=RTOL, atol=ATOL)
    if a_shape == (128, 256) and b_shape == (256, 256):
        # Measured 2619 cycles against a 1536-cycle compute roofline (fixed DMA and MXU
        # latencies of a 1.5 us product); guard against losing the overlap.
        assert result.report.ratio_to_roofline < 2.0
