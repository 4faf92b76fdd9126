"""LLVM emitters of CPU-step graph ops (backend/llvm/graph_ops.py) against the reference interpreter.

Each test builds a one-op graph, wraps it in a kernel module holding one CpuCall over HBM
buffers at hand-planned offsets, compiles the step and compares what it writes into the heap
with :func:`moecc.ir.interpreter.run_graph`.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moecc.backend.llvm.graph_ops import compile_cpu_steps, unsupported_reason
from moecc.errors import MoeccError
from moecc.ir.builder import GraphBuilder
from moecc.ir.graph import Graph
from moecc.ir.kernel import Buffer, CpuCall, KernelModule
from moecc.ir.types import DType
from tests.test_llvm_graph_ops_dtypes import run_ops


def run_step(kind: str, arrays: list[np.ndarray], consts: list[np.ndarray] = (), **attrs: object) -> tuple[np.ndarray, np.ndarray]:
    """(LLVM result, interpreter result) of op ``kind`` on inputs ``arrays`` (+ constant operands)."""
    def build(builder: GraphBuilder, inputs: list) -> list:  # type: ignore[type-arg]
        constants = [builder.const(np.asarray(c), name=f"c{i}") for i, c in enumerate(consts)]
        return list(builder.emit(kind, inputs + constants, attrs))

    (got,), (expected,) = run_ops(build, arrays)
    return got, expected


def check(kind: str, arrays: list[np.ndarray], consts: list[np.ndarray] = (), rtol: float = 2e-6, atol: float = 1e-6,
          **attrs: object) -> None:
    got, expected = run_step(kind, arrays, consts, **attrs)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    if expected.dtype.kind in "biu":
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)


RNG = np.random.default_rng(0)
FLOAT_UNARY = ["neg", "abs", "sign", "relu", "exp", "log", "sqrt", "reciprocal", "tanh", "erf", "sigmoid", "sin",
               "cos", "floor", "ceil", "softplus", "hard_swish", "mish", "gelu", "leaky_relu", "hard_sigmoid",
               "is_nan", "is_inf"]


@pytest.mark.parametrize("kind", FLOAT_UNARY)
def test_float_unary(kind: str) -> None:
    x = (RNG.standard_normal((3, 5)) * 3).astype(np.float32)
    x[0, :3] = [np.nan, np.inf, -np.inf]
    check(kind, [x], rtol=1e-5)


def test_gelu_tanh() -> None:
    check("gelu", [RNG.standard_normal((4, 7)).astype(np.float32)], rtol=1e-5, approximate="tanh")


@pytest.mark.parametrize("kind", ["add", "sub", "mul", "div", "max", "min", "mod", "equal", "less", "greater",
                                  "less_equal", "greater_equal", "pow"])
@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.int32])
def test_binary_broadcast(kind: str, dtype: type) -> None:
    a = (RNG.standard_normal((2, 3, 4)) * 10).astype(dtype)
    b = (RNG.standard_normal((3, 1)) * 10).astype(dtype)
    if kind == "pow":
        a = np.abs(a)
        if dtype != np.float32:
            b = b % 5  # powers within int32 (the heap's integer storage)
    check(kind, [a, b], rtol=1e-5)
    if kind in ("mod",):
        check(kind, [a, b], fmod=True)


def test_integer_division_truncates_and_by_zero() -> None:
    a = np.array([-7, 7, -7, 7, 5], dtype=np.int64)
    b = np.array([2, -2, -2, 2, 0], dtype=np.int64)
    check("div", [a, b])
    check("mod", [a, b])


@pytest.mark.parametrize("kind", ["and", "or", "xor", "equal"])
def test_logical(kind: str) -> None:
    check(kind, [RNG.random((4, 1)) > 0.5, RNG.random((3,)) > 0.5])


def test_where_cast_clip() -> None:
    cond = RNG.random((2, 1, 4)) > 0.5
    check("where", [cond, RNG.standard_normal((3, 4)).astype(np.float32), RNG.standard_normal((4,)).astype(np.float32)])
    x = (RNG.standard_normal((3, 4)) * 5).astype(np.float32)
    for to in (DType.I64, DType.I32, DType.BOOL, DType.F32):
        check("cast", [x], to=to)
    check("cast", [np.arange(-3, 3, dtype=np.int64)], to=DType.F32)
    check("cast", [np.array([True, False])], to=DType.I64)
    check("clip", [x], min=-1.0, max=2.0)
    check("clip", [np.arange(-5, 5, dtype=np.int64)], min=-2.0)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 3), min_size=0, max_size=3), st.lists(st.booleans(), min_size=3, max_size=3))
def test_broadcast_shapes_hypothesis(shape: list[int], ones: list[bool]) -> None:
    other = [1 if one else d for d, one in zip(shape, ones)]
    a = RNG.standard_normal(tuple(shape)).astype(np.float32)
    b = RNG.standard_normal(tuple(other[1:])).astype(np.float32)
    check("add", [a, b])
    check("max", [b, a])


@pytest.mark.parametrize("kind", ["reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod"])
@pytest.mark.parametrize("axes,keepdims", [((), True), ((1,), False), ((0, 2), True), ((-1,), False)])
def test_reductions(kind: str, axes: tuple[int, ...], keepdims: bool) -> None:
    check(kind, [RNG.standard_normal((3, 4, 5)).astype(np.float32)], rtol=1e-5, axes=axes, keepdims=keepdims)
    check(kind, [RNG.integers(-5, 5, (3, 4, 5)).astype(np.int64)], axes=axes, keepdims=keepdims)


@pytest.mark.parametrize("kind", ["arg_max", "arg_min"])
@pytest.mark.parametrize("last", [False, True])
def test_arg(kind: str, last: bool) -> None:
    x = RNG.integers(0, 3, (4, 6)).astype(np.float32)
    for axis in (0, 1, -1):
        check(kind, [x], axis=axis, keepdims=axis != 0, select_last_index=last)


@pytest.mark.parametrize("kind", ["softmax", "log_softmax"])
def test_softmax_any_axis(kind: str) -> None:
    x = RNG.standard_normal((3, 4, 5)).astype(np.float32)
    for axis in (0, 1, 2, -1):
        check(kind, [x], rtol=1e-5, axis=axis)


def test_cumsum() -> None:
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    for exclusive in (False, True):
        for reverse in (False, True):
            check("cumsum", [x], rtol=1e-5, axis=1, exclusive=exclusive, reverse=reverse)
    check("cumsum", [np.arange(12, dtype=np.int64).reshape(3, 4)], axis=0)


def test_shape_ops() -> None:
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    check("transpose", [x], perm=[2, 0, 1])
    check("reshape", [x], shape=[4, 6])
    check("expand", [RNG.standard_normal((3, 1)).astype(np.float32)], shape=[2, 3, 4])
    check("tile", [x], repeats=[2, 1, 3])
    check("slice", [x], starts=[1, 3], ends=[3, -1], axes=[1, 2], steps=[1, -2])
    check("concat", [x, x[:, :1]], axis=1)
    for upper in (True, False):
        for k in (-1, 0, 2):
            check("trilu", [x], upper=upper, k=k)


def test_indexing() -> None:
    data = RNG.standard_normal((5, 4)).astype(np.float32)
    check("gather", [data, np.array([[0, -1], [4, 2]], dtype=np.int64)], axis=0)
    check("gather", [data, np.array([3, -4, 1], dtype=np.int64)], axis=1)
    check("gather_elements", [data, RNG.integers(-4, 4, (5, 2)).astype(np.int64)], axis=1)
    check("gather_nd", [data, np.array([[0, 1], [-1, 3]], dtype=np.int64)])
    check("gather_nd", [data, np.array([[2], [-5]], dtype=np.int64)])
    cube = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    check("gather_nd", [cube, np.array([[[1, 2]], [[2, 0]]], dtype=np.int64)], batch_dims=1)
    check("one_hot", [np.array([[0, 3], [-1, 7]], dtype=np.int64)], [np.array([0.0, 1.0], dtype=np.float32)], depth=4, axis=1)


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
def test_scatter(reduction: str) -> None:
    data = RNG.standard_normal((4, 5)).astype(np.float32)
    indices = np.array([[0, 1, -1], [4, 4, 2]], dtype=np.int64)
    check("scatter_elements", [data, indices, RNG.standard_normal((2, 3)).astype(np.float32)], axis=1, reduction=reduction)
    nd_indices = np.array([[1], [-1], [1]], dtype=np.int64)
    check("scatter_nd", [data, nd_indices, RNG.standard_normal((3, 5)).astype(np.float32)], reduction=reduction)
    check("scatter_nd", [data, np.array([[0, 1], [3, 4]], dtype=np.int64), np.ones(2, dtype=np.float32)], reduction=reduction)
    flags = RNG.random((3, 4)) > 0.5
    check("scatter_elements", [flags, np.array([[0, 0], [3, 1]], dtype=np.int64), RNG.random((2, 2)) > 0.5],
          axis=1, reduction=reduction)


def test_out_of_range_gather_raises() -> None:
    data = RNG.standard_normal((5, 4)).astype(np.float32)
    with pytest.raises(MoeccError, match="out of range"):
        run_step("gather", [data, np.array([0, 5], dtype=np.int64)], axis=0)


def test_unsupported_step_is_none() -> None:
    """A step holding an op without an emitter (only ``const`` has none) stays on the interpreter."""
    graph = Graph()
    value = GraphBuilder(graph, fold=False).const(np.ones(3, dtype=np.float32), name="c")
    graph.set_outputs([value], ["y"])
    assert unsupported_reason(graph.ops[-1]) is not None
    module = KernelModule()
    module.hbm.append(Buffer(value.name, "hbm", DType.F32, (3,), offset=0))
    module.steps.append(CpuCall("step0", (), (value.name,), (value.name,)))
    assert compile_cpu_steps(module, graph, {value.name: value.name}) == {"step0": None}


def run_multi(kind: str, arrays: list[np.ndarray], **attrs: object) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(LLVM results, interpreter results) of a several-result op ``kind`` on ``arrays``."""
    return run_ops(lambda builder, inputs: builder.emit(kind, inputs, attrs), arrays)


def check_top_k(x: np.ndarray, **attrs: object) -> None:
    (values, indices), (want_values, want_indices) = run_multi("top_k", [x], **attrs)
    assert values.dtype == want_values.dtype and indices.dtype == want_indices.dtype == np.int64
    np.testing.assert_array_equal(indices, want_indices)
    np.testing.assert_array_equal(values, want_values)


@pytest.mark.parametrize("largest", [True, False])
def test_top_k_axes_and_k(largest: bool) -> None:
    x = RNG.standard_normal((3, 5, 4)).astype(np.float32)
    for axis in (0, 1, 2, -1):
        for k in sorted({0, 1, 2, x.shape[axis]}):
            check_top_k(x, k=k, axis=axis, largest=largest)
    check_top_k(RNG.integers(-50, 50, (4, 7)).astype(np.int64), k=3, axis=1, largest=largest)
    check_top_k(RNG.integers(-50, 50, (6, 2)).astype(np.int32), k=4, axis=0, largest=largest, sorted=False)


@pytest.mark.parametrize("largest", [True, False])
def test_top_k_ties_and_nan(largest: bool) -> None:
    ties = RNG.integers(0, 3, (4, 9)).astype(np.float32)
    for k in (1, 4, 9):
        check_top_k(ties, k=k, axis=1, largest=largest)
    check_top_k(RNG.integers(0, 2, (8, 3)).astype(np.int64), k=8, axis=0, largest=largest)
    special = np.array([[1.0, np.nan, -np.inf, 1.0, np.nan, np.inf, -0.0, 0.0],
                        [np.nan] * 8], dtype=np.float32)
    (values, indices), (want_values, want_indices) = run_multi("top_k", [special], k=8, axis=1, largest=largest)
    np.testing.assert_array_equal(indices, want_indices)
    np.testing.assert_array_equal(values, want_values)  # NaNs compare equal in assert_array_equal


@pytest.mark.parametrize("shapes", [((3, 4), (4, 5)), ((4,), (4, 2)), ((3, 4), (4,)), ((5,), (5,)),
                                    ((2, 1, 3, 4), (3, 4, 2)), ((4,), (2, 4, 3)), ((2, 3, 4), (4,)),
                                    ((1, 3, 4), (2, 1, 4, 2)), ((3, 0), (0, 2))])
@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.int32])
def test_matmul(shapes: tuple[tuple[int, ...], tuple[int, ...]], dtype: type) -> None:
    a_shape, b_shape = shapes
    rng = np.random.default_rng(sum(a_shape) * 31 + sum(b_shape))  # not the shared RNG: hypothesis draws vary
    a = (rng.standard_normal(a_shape) * 5).astype(dtype)
    b = (rng.standard_normal(b_shape) * 5).astype(dtype)
    # Sums of K products in another order than numpy's: an element that cancels to near zero
    # is off by up to ~K * eps * max|a| * max|b| absolutely, which rtol alone does not cover.
    k = a_shape[-1]
    atol = 4 * k * float(np.finfo(np.float32).eps) * float(np.abs(a).max(initial=0) * np.abs(b).max(initial=0))
    check("matmul", [a, b], rtol=1e-5, atol=max(atol, 1e-6))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("softcap", [0.0, 5.0])
def test_attention(causal: bool, softcap: float) -> None:
    q = RNG.standard_normal((2, 4, 3, 8)).astype(np.float32)
    k = RNG.standard_normal((2, 2, 5, 8)).astype(np.float32)
    v = RNG.standard_normal((2, 2, 5, 6)).astype(np.float32)
    attrs = {"scale": 0.35, "is_causal": causal, "softcap": softcap}
    check("attention", [q, k, v], rtol=1e-4, **attrs)
    float_mask = RNG.standard_normal((3, 5)).astype(np.float32)
    check("attention", [q, k, v, float_mask], rtol=1e-4, **attrs)
    bool_mask = RNG.random((2, 1, 3, 5)) > 0.4
    bool_mask[0, 0, 1] = False  # a query row attending nothing gives zeros
    check("attention", [q, k, v, bool_mask], rtol=1e-4, **attrs)
