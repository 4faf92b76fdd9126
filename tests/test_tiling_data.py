"""Tests for passes/tiling_data.py: data-movement ops lowered to DMA kernels.

Each case builds a one-op graph, lowers it for both targets, verifies the kernel module and
runs it with the kernel-IR interpreter against the graph reference interpreter; a few cases
also go through memory planning, code generation and the simulator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import ml_dtypes
import numpy as np
import pytest

from moecc.errors import MoeccError
from moecc.ir.builder import GraphBuilder
from moecc.ir.graph import Graph
from moecc.ir.interpreter import run_graph
from moecc.ir.kernel import (
    Affine,
    CpuCall,
    For,
    Gather,
    HbmRef,
    KernelModule,
    Load,
    LocalRef,
    Stmt,
    Store,
    Vector,
    verify_kernel_module,
    walk,
)
from moecc.ir.kernel_interpreter import run_kernel_module
from moecc.ir.types import TensorType
from moecc.isa_spec.target import Target, load_target
from moecc.passes.kernel_lowering import lower_to_kernels
from moecc.passes.tiling_data import (
    MAX_STRIDE_BYTES,
    MAX_TILE_DIM,
    CopyView,
    balanced_chunk,
    merge_axes,
    plan_copy,
    row_major_strides,
)

#: What the ASIC's HBM holds each graph dtype in (its target's storage dtypes).
ASIC_STORAGE = load_target("moe-asic-v1").storage_dtypes

TARGETS = [load_target("moe-asic-v1"), load_target("moe-asic-edge")]
TARGET_IDS = ["v1", "edge"]


# -- harness ----------------------------------------------------------------------------------


def one_op_graph(kind: str, inputs: Sequence[np.ndarray], attrs: Mapping[str, object], consts: Mapping[int, np.ndarray] | None = None) -> Graph:
    """``kind`` over graph inputs, except operands listed in ``consts`` (constants)."""
    graph = Graph()
    builder = GraphBuilder(graph, fold=False)
    operands = []
    for i, array in enumerate(inputs):
        if consts and i in consts:
            operands.append(builder.const(consts[i], name=f"c{i}"))
        else:
            operands.append(graph.add_input(f"x{i}", TensorType.of(np.asarray(array))))
    result = builder.emit1(kind, operands, dict(attrs))
    graph.set_outputs([result], ["y"])
    return graph


def lower_and_run(graph: Graph, feeds: Mapping[str, np.ndarray], target: Target) -> tuple[np.ndarray, KernelModule]:
    module, weights, partition, value_buffers = lower_to_kernels(graph, target)
    verify_kernel_module(module)
    assert not [s for s in module.steps if isinstance(s, CpuCall)], partition.reasons
    hbm: dict[str, np.ndarray] = {b.name: np.zeros(b.elements, b.dtype.numpy) for b in module.hbm}
    for name, data in weights.items():
        hbm[name] = np.ascontiguousarray(data).reshape(-1).copy()
    for value in graph.inputs:
        buffer = value_buffers[value.name]
        hbm[buffer] = np.asarray(feeds[value.name]).astype(hbm[buffer].dtype).reshape(-1).copy()
    _check_budgets(module, target)
    final = run_kernel_module(module, hbm)
    out = graph.outputs[0]
    return final[module.outputs[0]].reshape(out.type.shape), module


def _check_budgets(module: KernelModule, target: Target) -> None:
    for kernel in module.kernels:
        sram = sum(b.nbytes for b in kernel.buffers if b.space == "sram")
        assert sram <= target.sram_capacity_bytes, kernel.name
        for stmt, _ in walk(kernel.body):
            refs = [getattr(stmt, f) for f in ("dst", "src", "a", "b", "indices") if isinstance(getattr(stmt, f, None), LocalRef)]
            assert all(r.rows <= MAX_TILE_DIM for r in refs if not isinstance(stmt, (Load, Store))), stmt
            for f in ("src", "dst", "table"):
                ref = getattr(stmt, f, None)
                if isinstance(ref, HbmRef):
                    itemsize = module.hbm_buffer(ref.buffer).dtype.itemsize
                    assert ref.rows == 1 or ref.pitch * itemsize <= MAX_STRIDE_BYTES, stmt
                    assert ref.cols * itemsize <= 65535, stmt


def check(kind: str, inputs: Sequence[np.ndarray], attrs: Mapping[str, object], target: Target,
          consts: Mapping[int, np.ndarray] | None = None) -> KernelModule:
    graph = one_op_graph(kind, inputs, attrs, consts)
    feeds = {v.name: np.asarray(a) for v, a in zip(graph.inputs, [a for i, a in enumerate(inputs) if not consts or i not in consts])}
    expected = run_graph(graph, feeds)["y"]
    actual, module = lower_and_run(graph, feeds, target)
    hbm_dtype = ASIC_STORAGE[graph.outputs[0].type.dtype].numpy
    np.testing.assert_array_equal(actual, expected.astype(hbm_dtype))
    return module


def rand(*shape: int, dtype: type = np.float32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed + math.prod(shape))
    return rng.standard_normal(shape).astype(dtype)


def dma_count(module: KernelModule) -> int:
    """DMAs the module issues at run time (loops multiplied out)."""

    def count(body: Sequence[Stmt]) -> int:
        total = 0
        for stmt in body:
            if isinstance(stmt, For):
                total += stmt.count * count(stmt.body)
            elif isinstance(stmt, (Load, Store, Gather)):
                total += 1
        return total

    return sum(count(k.body) for k in module.kernels)


# -- planning ---------------------------------------------------------------------------------


def test_merge_axes_fuses_contiguous_neighbours_and_drops_unit_axes() -> None:
    shape, src, dst = merge_axes((2, 1, 3, 4), row_major_strides((2, 1, 3, 4)), row_major_strides((2, 1, 3, 4)))
    assert shape == (24,) and src == (1,) and dst == (1,)
    # [A,B,C] -> [C,A,B] is a 2-D transpose once A and B fuse.
    shape, src, dst = merge_axes((4, 2, 3), (1, 12, 4), (6, 3, 1))
    assert shape == (4, 6) and src == (1, 4) and dst == (6, 1)


def test_balanced_chunk_splits_evenly() -> None:
    assert balanced_chunk(4096, 4095) == 2048
    assert balanced_chunk(100, 4095) == 100
    assert balanced_chunk(10, 3) == 3


def test_plan_of_key_transpose_uses_element_windows_on_the_shorter_axis() -> None:
    s, d = 128, 64  # [S, D] -> [D, S]
    plan = plan_copy((d, s), CopyView(0, (1, d)), CopyView(0, (s, 1)), 4, 1 << 20)
    assert not isinstance(plan, str)
    # Columns along S (the longer axis): one element window per D row, one store per tile.
    assert plan.shape[plan.c_axis] == s and plan.dmas == d + 1


def test_plan_declines_reversal_of_the_only_axis() -> None:
    assert isinstance(plan_copy((8,), CopyView(7, (-1,)), CopyView(0, (1,)), 4, 1 << 20), str)


# -- reshape ----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS, ids=TARGET_IDS)
def test_reshape_aliases_without_a_kernel(target: Target) -> None:
    module = check("reshape", [rand(2, 3, 4)], {"shape": [6, 4]}, target)
    assert module.kernels == []


# -- transpose --------------------------------------------------------------------------------

TRANSPOSES = [
    ((7, 5), [1, 0]),
    ((2, 3, 4, 5), [0, 2, 1, 3]),  # head split/merge [B,S,H,D] <-> [B,H,S,D]
    ((1, 2, 33, 16), [0, 1, 3, 2]),  # attention K^T [B,H,S,D] -> [B,H,D,S]
    ((3, 4, 5), [2, 0, 1]),
    ((3, 4, 5), [1, 2, 0]),
    ((2, 3, 4, 5), [3, 1, 0, 2]),
    ((1, 5, 1), [2, 1, 0]),
    ((6,), [0]),
]


@pytest.mark.parametrize("target", TARGETS, ids=TARGET_IDS)
@pytest.mark.parametrize("shape,perm", TRANSPOSES)
def test_transpose(shape: tuple[int, ...], perm: list[int], target: Target) -> None:
    check("transpose", [rand(*shape)], {"perm": perm}, target)


@pytest.mark.parametrize("target", TARGETS, ids=TARGET_IDS)
def test_transpose_int_and_large_edge_tiles(target: Target) -> None:
    x = np.arange(300 * 70, dtype=np.int64).reshape(300, 70)
    check("transpose", [x], {"perm": [1, 0]}, target)
    # Rows beyond one tile (edge: 2 MiB SRAM, 512 KiB tiles) with a peeled remainder.
    check("transpose", [rand(2, 2100, 3, 64)], {"perm": [0, 2, 1, 3]}, target)


def test_key_transpose_dma_count_is_one_window_per_head_row() -> None:
    b, h, s, d = 1, 4, 128, 32
    module = check("transpose", [rand(b, h, s, d)], {"perm": [0, 1, 3, 2]}, TARGETS[0])
    assert dma_count(module) == b * h * (d + 1)


def test_head_split_moves_whole_rows() -> None:
    module = check("transpose", [rand(2, 16, 4, 8)], {"perm": [0, 2, 1, 3]}, TARGETS[0])
    assert dma_count(module) == 2 * 4 * 2  # one load + one store of a 16 x 8 tile per (b, h)


# -- slice ------------------------------------------------------------------------------------

SLICES = [
    ((10, 12), dict(starts=[2], ends=[9], axes=[0], steps=[1])),
    ((10, 12), dict(starts=[1, 3], ends=[10, 11], axes=[0, 1], steps=[3, 1])),
    ((10, 12), dict(starts=[0], ends=[12], axes=[1], steps=[2])),  # step on the last axis
    ((10, 12), dict(starts=[9], ends=[-1], axes=[0], steps=[-2])),  # reversed rows
    ((4, 6, 8), dict(starts=[7, 1], ends=[-1, 6], axes=[2, 1], steps=[-1, 2])),  # reversed last axis
    ((2, 5, 64), dict(starts=[32], ends=[64], axes=[2], steps=[1])),  # rotary half
]


@pytest.mark.parametrize("target", TARGETS, ids=TARGET_IDS)
@pytest.mark.parametrize("shape,attrs", SLICES)
def test_slice(shape: tuple[int, ...], attrs: dict[str, list[int]], target: Target) -> None:
    check("slice", [rand(*shape)], attrs, target)


def test_slice_reversing_a_vector_runs_on_the_cpu() -> None:
    graph = one_op_graph("slice", [rand(8)], dict(starts=[7], ends=[-1], axes=[0], steps=[-1]))
    module, _, partition, _ = lower_to_kernels(graph, TARGETS[0])
    assert isinstance(module.steps[0], CpuCall)
    assert "reversal" in next(iter(partition.reasons.values()))


# -- concat -----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS, ids=TARGET_IDS)
@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_concat(axis: int, target: Target) -> None:
    shapes = [[3, 4, 5], [3, 4, 5], [3, 4, 5]]
    norm = axis % 3
    for i, s in enumerate(shapes):
        s[norm] = i + 1
    check("concat", [rand(*s, seed=i) for i, s in enumerate(shapes)], {"axis": axis}, target)


@pytest.mark.parametrize("target", TARGETS, ids=TARGET_IDS)
def test_concat_with_a_constant_and_an_empty_operand(target: Target) -> None:
    inputs = [rand(2, 3), np.zeros((2, 0), np.float32), rand(2, 4, seed=1)]
    check("concat", inputs, {"axis": 1}, target, consts={2: inputs[2]})


# -- expand / tile ----------------------------------------------------------------------------

EXPANDS = [
    ((1, 8), (6, 8)),  # row broadcast: VPU mov bcast=row
    ((6, 1), (6, 8)),  # column broadcast: VPU mov bcast=col
    ((1, 1), (5, 7)),  # scalar broadcast
    ((3,), (2, 4, 3)),  # new leading axes: load once, store every position
    ((2, 1, 3), (2, 5, 3)),
    ((1, 4, 1), (3, 4, 6)),
    ((), (3, 2)),
]


@pytest.mark.parametrize("target", TARGETS, ids=TARGET_IDS)
@pytest.mark.parametrize("shape,out", EXPANDS)
def test_expand(shape: tuple[int, ...], out: tuple[int, ...], target: Target) -> None:
    check("expand", [rand(*shape) if shape else np.float32(1.5)], {"shape": list(out)}, target)


def test_expand_loads_once_and_stores_each_broadcast_position() -> None:
    module = check("expand", [rand(1, 64)], {"shape": [4, 64, 64]}, TARGETS[0])
    loads = sum(1 for k in module.kernels for s, _ in walk(k.body) if isinstance(s, Load))
    assert loads == 1


@pytest.mark.parametrize("target", TARGETS, ids=TARGET_IDS)
@pytest.mark.parametrize("shape,repeats", [((2, 3), [2, 3]), ((4,), [3]), ((2, 1, 3), [1, 4, 2])])
def test_tile(shape: tuple[int, ...], repeats: list[int], target: Target) -> None:
    check("tile", [rand(*shape)], {"repeats": repeats}, target)


# -- gather -----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS, ids=TARGET_IDS)
@pytest.mark.parametrize("vocab,hidden,index_shape", [(50, 16, (2, 7)), (11, 4100, (3,)), (64, 8, ())])
def test_gather_runtime_indices_wrap_negatives(vocab: int, hidden: int, index_shape: tuple[int, ...], target: Target) -> None:
    rng = np.random.default_rng(vocab)
    ids = rng.integers(-vocab, vocab, size=index_shape).astype(np.int64)
    check("gather", [rand(vocab, hidden), ids], {"axis": 0}, target, consts={0: rand(vocab, hidden)})
    check("gather", [rand(vocab, hidden), ids], {"axis": 0}, target)


@pytest.mark.parametrize("target", TARGETS, ids=TARGET_IDS)
def test_gather_many_rows_double_buffered(target: Target) -> None:
    vocab, hidden = 100, 512
    ids = np.random.default_rng(1).integers(0, vocab, size=(5000,)).astype(np.int64)
    module = check("gather", [rand(vocab, hidden), ids], {"axis": 0}, target)
    assert any(b.slots >= 2 for k in module.kernels for b in k.buffers)


@pytest.mark.parametrize("target", TARGETS, ids=TARGET_IDS)
def test_gather_constant_indices_are_wrapped_at_compile_time(target: Target) -> None:
    ids = np.array([[0, -1, 3], [-4, 2, 2]], dtype=np.int64)
    module = check("gather", [rand(4, 3, 2), ids], {"axis": 0}, target, consts={1: ids})
    vectors = [s for k in module.kernels for s, _ in walk(k.body) if isinstance(s, Vector)]
    assert vectors == []


def test_gather_on_axis_one_declines() -> None:
    graph = one_op_graph("gather", [rand(4, 5), np.array([1, 2], np.int64)], {"axis": 1})
    _, _, partition, _ = lower_to_kernels(graph, TARGETS[0])
    assert "axis" in next(iter(partition.reasons.values()))


def test_gather_out_of_range_index_is_an_error() -> None:
    graph = one_op_graph("gather", [rand(4, 2), np.array([1, 9], np.int64)], {"axis": 0})
    feeds = {"x0": rand(4, 2), "x1": np.array([1, 9], np.int64)}
    with pytest.raises(MoeccError):
        lower_and_run(graph, feeds, TARGETS[0])


@pytest.mark.parametrize("target", TARGETS, ids=TARGET_IDS)
def test_bf16_and_bool_values_move_unchanged(target: Target) -> None:
    x = rand(2, 9, 3, 8).astype(ml_dtypes.bfloat16)
    check("transpose", [x], {"perm": [0, 2, 3, 1]}, target)
    mask = rand(4, 6) > 0
    check("slice", [mask], dict(starts=[1], ends=[6], axes=[1], steps=[2]), target)


def test_streams_rotate_one_slot_per_dma_engine() -> None:
    for target in TARGETS:
        module = check("transpose", [rand(2, 16, 8, 8)], {"perm": [0, 2, 1, 3]}, target)
        tiles = [b for k in module.kernels for b in k.buffers if b.name.startswith("tile")]
        assert tiles[0].slots == min(4, max(2, target.dma_engines))


def test_loop_offsets_are_affine_in_loop_variables() -> None:
    module = check("transpose", [rand(3, 40, 5, 8)], {"perm": [0, 2, 1, 3]}, TARGETS[1])
    loops = [s for k in module.kernels for s in k.body if isinstance(s, For)]
    assert loops and all(isinstance(s.dst.offset, Affine) for k in module.kernels for s, _ in walk(k.body) if isinstance(s, Store))


# -- end to end through memory planning, codegen and the simulator ----------------------------


def simulate_one_op(graph: Graph, feeds: Mapping[str, np.ndarray], target: Target) -> tuple[np.ndarray, object]:
    from moecc.backend.asic import Simulator
    from moecc.backend.asic.codegen import generate_programs
    from moecc.passes.memory_plan import plan_memory

    module, weights, _, value_buffers = lower_to_kernels(graph, target)
    verify_kernel_module(module)
    planned, _ = plan_memory(module, target)
    segments = generate_programs(planned, target)
    assert len(segments) == 1
    image: dict[str, np.ndarray] = {name: data.reshape(-1) for name, data in weights.items()}
    for value in graph.inputs:
        buffer = module.hbm_buffer(value_buffers[value.name])
        image[buffer.name] = np.asarray(feeds[value.name]).astype(buffer.dtype.numpy).reshape(buffer.shape)
    result = Simulator(segments[0].program, target).run(image)
    return result.read(module.outputs[0]).reshape(graph.outputs[0].type.shape), result


SIMULATED = [
    ("transpose", [rand(1, 2, 33, 16)], {"perm": [0, 1, 3, 2]}),
    ("transpose", [rand(2, 40, 3, 8)], {"perm": [0, 2, 1, 3]}),
    ("slice", [rand(10, 12)], dict(starts=[9, 0], ends=[-1, 12], axes=[0, 1], steps=[-2, 3])),
    ("expand", [rand(6, 1)], {"shape": [3, 6, 8]}),
    ("expand", [rand(1, 8)], {"shape": [6, 8]}),
    ("concat", [rand(3, 2), rand(3, 5, seed=1)], {"axis": 1}),
    ("tile", [rand(2, 3)], {"repeats": [3, 2]}),
    ("gather", [rand(50, 16), np.array([[3, -1, 49], [-50, 0, 7]], np.int64)], {"axis": 0}),
]


@pytest.mark.parametrize("target", TARGETS, ids=TARGET_IDS)
@pytest.mark.parametrize("kind,inputs,attrs", SIMULATED, ids=[c[0] for c in SIMULATED])
def test_simulated_end_to_end(kind: str, inputs: list[np.ndarray], attrs: dict[str, object], target: Target) -> None:
    graph = one_op_graph(kind, inputs, attrs)
    feeds = {v.name: a for v, a in zip(graph.inputs, inputs)}
    expected = run_graph(graph, feeds)["y"]
    actual, _ = simulate_one_op(graph, feeds, target)
    np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize("bad", [4, 9, -5])
def test_simulated_gather_out_of_range_faults(bad: int) -> None:
    inputs = [rand(4, 2), np.array([1, bad], np.int64)]
    graph = one_op_graph("gather", inputs, {"axis": 0})
    with pytest.raises(MoeccError):
        simulate_one_op(graph, {"x0": inputs[0], "x1": inputs[1]}, TARGETS[0])
