"""LLVM CPU-step emitters (backend/llvm/graph_ops.py) in every dtype, and the composites,
against the reference interpreter.

Each test builds a small graph, puts all its (non-constant) ops into one CpuCall over HBM
buffers at hand-planned offsets (so intermediates go through the step's temporaries and are
rounded there), compiles the step and compares what it writes with
:func:`moecc.ir.interpreter.run_graph`. Integers and bools must match exactly; so must floats
from correctly rounded arithmetic (the emitters round f16/bf16 results as numpy does);
transcendental functions and reordered sums may differ by the tolerances below.
"""

from __future__ import annotations

import ctypes
import platform
from collections.abc import Callable, Mapping, Sequence

import ml_dtypes
import numpy as np
import pytest
from llvmlite import ir

from moecc.asic_runtime import from_hbm, to_hbm
from moecc.backend.llvm import graph_ops
from moecc.backend.llvm.cpu_target import host_cpu_target, tiling_target
from moecc.backend.llvm.graph_ops import FAULT_FLAG, compile_cpu_steps, emit_step, unsupported_reason
from moecc.backend.llvm.jit import compile_module
from moecc.errors import MoeccError
from moecc.ir.builder import GraphBuilder
from moecc.ir.graph import Graph, Value
from moecc.ir.interpreter import run_graph
from moecc.ir.kernel import Buffer, CpuCall, KernelModule
from moecc.ir.ops.elementwise import BINARY_KINDS, UNARY_KINDS
from moecc.ir.registry import all_op_defs
from moecc.ir.types import DType, TensorType
from moecc.isa_spec.target import load_target

#: What the ASIC's HBM holds each graph dtype in (its target's storage dtypes).
ASIC_STORAGE = load_target("moe-asic-v1").storage_dtypes
#: What the cpu heap holds each graph dtype in: itself (tiling_target's storage dtypes).
CPU_STORAGE = tiling_target(host_cpu_target()).storage_dtypes

BF16 = np.dtype(ml_dtypes.bfloat16)
F16 = np.dtype(np.float16)
F32 = np.dtype(np.float32)

#: Relative tolerances: one unit in the last place of each float dtype. LLVM's libm and
#: numpy's differ by an f32 ulp or two, which rounding to f16/bf16 can turn into one ulp of
#: the narrow type; f32 allows a few f32 ulps (libm, summation order).
ULP_RTOL = {F32: 1e-5, F16: 2.0**-10, BF16: 2.0**-7}
#: Absolute tolerance for results near zero (cancellation in sums), per dtype: one ulp at 1.
NEAR_ZERO_ATOL = {F32: 1e-6, F16: 2.0**-10, BF16: 2.0**-7}
#: Share of f16/bf16 elements that must be bit-identical even where one ulp is allowed: a libm
#: difference changes the rounded value only when the f32 result lies next to a rounding
#: boundary, while a missing rounding step (an intermediate kept in f32) changes most of them.
HALF_IDENTICAL_SHARE = 0.95
#: Every float dtype and every integer dtype the graph IR has.
FLOATS = [F32, F16, BF16]
INTS = [np.dtype(np.int64), np.dtype(np.int32), np.dtype(np.int8), np.dtype(np.uint8)]

RNG = np.random.default_rng(7)


def is_float(dtype: np.dtype) -> bool:
    return DType.from_numpy(dtype).is_float


def run_ops(build: Callable[[GraphBuilder, list[Value]], Sequence[Value]], arrays: Sequence[np.ndarray]
            ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(LLVM results, interpreter results) of the graph ``build(builder, inputs)`` makes,
    run as one CPU step over a heap image holding the ASIC's storage dtypes; the same step
    over the cpu heap's (every dtype as itself) must give the same values."""
    got, expected = _run_ops(build, arrays, ASIC_STORAGE)
    on_cpu, _ = _run_ops(build, arrays, CPU_STORAGE)
    for asic_value, cpu_value in zip(got, on_cpu):
        assert asic_value.dtype == cpu_value.dtype
        np.testing.assert_array_equal(cpu_value, asic_value)
    return got, expected


def _run_ops(build: Callable[[GraphBuilder, list[Value]], Sequence[Value]], arrays: Sequence[np.ndarray],
             storage: Mapping[DType, DType]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    graph = Graph()
    inputs = [graph.add_input(f"x{i}", TensorType.of(np.asarray(a))) for i, a in enumerate(arrays)]
    builder = GraphBuilder(graph, fold=False)
    results = list(build(builder, inputs))
    names = [f"y{i}" for i in range(len(results))]
    graph.set_outputs(results, names)
    module = KernelModule()
    value_buffers: dict[str, str] = {}
    offset = 0
    for value in (*inputs, *results):
        dtype = storage[value.type.dtype]
        buffer = Buffer(value.name, "hbm", dtype, value.type.shape, offset=offset)
        module.hbm.append(buffer)
        value_buffers[value.name] = value.name
        offset += -(-max(buffer.elements, 1) * dtype.itemsize // 64) * 64
    ops = tuple(op.results[0].name for op in graph.ops if not op.is_const)
    module.steps.append(CpuCall("step0", tuple(v.name for v in inputs), tuple(r.name for r in results), ops))
    steps = compile_cpu_steps(module, graph, value_buffers)
    assert steps["step0"] is not None, [unsupported_reason(op) for op in graph.ops]
    heap = np.zeros(offset + 64, dtype=np.uint8)
    for value, array in zip(inputs, arrays):
        buffer = module.hbm_buffer(value.name)
        data = to_hbm(np.asarray(array), buffer).view(np.uint8)
        heap[buffer.offset: buffer.offset + data.size] = data
    steps["step0"](heap)
    got = []
    for result in results:
        out = module.hbm_buffer(result.name)
        flat = heap[out.offset: out.offset + out.elements * out.dtype.itemsize].view(out.dtype.numpy)
        assert_stores_dtype(flat, result.type.dtype)
        got.append(from_hbm(flat.copy(), result.type.dtype, result.type.shape))
    expected = run_graph(graph, {v.name: np.asarray(a) for v, a in zip(inputs, arrays)})
    return got, [expected[n] for n in names]


def assert_stores_dtype(flat: np.ndarray, dtype: DType) -> None:
    """The heap holds values of the graph dtype (rounded f16, wrapped i8/u8, 0/1 bools), as
    an ASIC kernel reading the buffer next expects: ``from_hbm`` alone would hide a step
    that stores unrounded values."""
    if dtype == DType.F16:
        np.testing.assert_array_equal(flat, flat.astype(np.float16).astype(np.float32))
    elif dtype == DType.BOOL:
        assert set(np.unique(flat)) <= {0.0, 1.0}
    elif dtype in (DType.I8, DType.U8):
        info = np.iinfo(dtype.numpy)
        assert flat.size == 0 or (flat.min() >= info.min and flat.max() <= info.max)


def assert_matches(got: np.ndarray, expected: np.ndarray, exact: bool) -> None:
    """Integers, bools and ``exact`` floats bit for bit (NaNs as NaN); other floats within
    one ulp of their dtype."""
    assert got.dtype == expected.dtype and got.shape == expected.shape
    if expected.dtype.kind in "biu":
        np.testing.assert_array_equal(got, expected)
        return
    wide_got, wide_expected = got.astype(np.float64), expected.astype(np.float64)
    if exact:
        np.testing.assert_array_equal(wide_got, wide_expected)
        return
    np.testing.assert_allclose(wide_got, wide_expected, rtol=ULP_RTOL[expected.dtype],
                               atol=NEAR_ZERO_ATOL[expected.dtype], equal_nan=True)
    if expected.dtype != F32 and expected.size:
        identical = (wide_got == wide_expected) | (np.isnan(wide_got) & np.isnan(wide_expected))
        assert identical.mean() >= HALF_IDENTICAL_SHARE, f"only {identical.mean():.0%} bit-identical"


def check_op(kind: str, arrays: Sequence[np.ndarray], exact: bool = False, **attrs: object) -> None:
    (got,), (expected,) = run_ops(lambda g, xs: g.emit(kind, xs, attrs), arrays)
    assert_matches(got, expected, exact)


def sample(dtype: np.dtype, shape: tuple[int, ...], scale: float = 3.0) -> np.ndarray:
    """Random values of ``dtype``: floats ~ N(0, scale), integers over the whole i8/u8 range
    (so arithmetic wraps) or a few hundred either side of zero."""
    if dtype.kind == "u":
        return RNG.integers(0, 256, shape).astype(dtype)
    if dtype == np.int8:
        return RNG.integers(-128, 128, shape).astype(dtype)
    if dtype.kind == "i":
        return RNG.integers(-300, 300, shape).astype(dtype)
    return (RNG.standard_normal(shape) * scale).astype(np.float32).astype(dtype)


# -- coverage --------------------------------------------------------------------------------

def test_every_registered_op_kind_has_an_emitter() -> None:
    kinds = set(all_op_defs()) - {"const"}  # constants are operands (module globals), never step ops
    assert kinds == set(graph_ops.SUPPORTED_OPS)
    assert graph_ops.SUPPORTED_DTYPES == frozenset(DType)


@pytest.mark.parametrize("kind", [*UNARY_KINDS, *BINARY_KINDS], ids=lambda k: k.name)
def test_every_elementwise_dtype_has_an_emitter(kind: object) -> None:
    for dtype in kind.dtypes:
        table = (graph_ops._unary_table(dtype) if kind in UNARY_KINDS else graph_ops._binary_table(dtype))
        assert kind.name in table, f"{kind.name} on {dtype}"


def test_const_op_is_reported_unsupported() -> None:
    graph = Graph()
    GraphBuilder(graph, fold=False).const(np.ones(3, dtype=np.float32))
    assert unsupported_reason(graph.ops[-1]) == "no emitter for 'const'"


# -- element-wise ops in every dtype -----------------------------------------------------------

EXACT_BINARY = ["add", "sub", "mul", "div", "max", "min", "mod", "equal", "less", "greater", "less_equal",
                "greater_equal"]


@pytest.mark.parametrize("dtype", FLOATS + INTS, ids=str)
@pytest.mark.parametrize("kind", [*EXACT_BINARY, "pow"])
def test_binary_every_dtype(kind: str, dtype: np.dtype) -> None:
    a = sample(dtype, (3, 4))
    b = sample(dtype, (4,))
    if kind in ("div", "mod") and dtype.kind in "iu":
        b[0] = 0  # integer division by zero gives 0, as the reference
    if kind == "pow":
        # i64 values live as int32 in the heap: keep the powers in range there.
        high = 4 if dtype == np.int64 else 12
        b = (RNG.integers(-3, high, (4,)) if dtype.kind != "u" else RNG.integers(0, high, (4,))).astype(dtype)
        if is_float(dtype):
            a = np.abs(a)
    # Correctly rounded f32 arithmetic rounded once to f16/bf16 is what numpy computes: exact.
    check_op(kind, [a, b], exact=kind != "pow" or dtype.kind in "iu")
    if kind == "mod":
        check_op(kind, [a, b], exact=True, fmod=True)


@pytest.mark.parametrize("dtype", INTS[1:], ids=str)  # i64 wraps at 64 bits, but lives as int32 in the heap
def test_integer_arithmetic_wraps(dtype: np.dtype) -> None:
    info = np.iinfo(dtype)
    edge = np.array([info.max, info.min, info.max - 1, 1, 0, info.min + 1], dtype=dtype)
    other = np.array([1, 1, 3, info.max, info.min, 2], dtype=dtype)
    for kind in ("add", "sub", "mul"):
        check_op(kind, [edge, other], exact=True)
    if dtype.kind == "i":
        check_op("neg", [edge], exact=True)
        check_op("div", [edge, np.full(6, -1, dtype=dtype)], exact=True)
    check_op("abs", [edge], exact=True)
    check_op("pow", [np.array([3, 2, 7, 255 % (int(info.max) + 1), 2], dtype=dtype),
                     np.array([5, 9, 11, 2, 40], dtype=dtype)], exact=True)


def test_integer_pow_negative_exponents() -> None:
    base = np.array([1, -1, -1, 2, -2, 0, 5, 3], dtype=np.int64)
    exponent = np.array([-3, -3, -4, -1, -2, 0, 0, 19], dtype=np.int64)
    check_op("pow", [base, exponent], exact=True)
    check_op("pow", [base.astype(np.int32), exponent.astype(np.int32)], exact=True)
    check_op("pow", [base.astype(np.int8), exponent.astype(np.int8)], exact=True)


FLOAT_UNARY = ["neg", "abs", "sign", "relu", "exp", "log", "sqrt", "reciprocal", "tanh", "erf", "sigmoid", "sin",
               "cos", "floor", "ceil", "softplus", "hard_swish", "mish", "gelu", "leaky_relu", "hard_sigmoid",
               "is_nan", "is_inf"]
EXACT_UNARY = {"neg", "abs", "sign", "relu", "sqrt", "reciprocal", "floor", "ceil", "is_nan", "is_inf"}


@pytest.mark.parametrize("dtype", [F16, BF16], ids=str)
@pytest.mark.parametrize("kind", FLOAT_UNARY)
def test_half_unary(kind: str, dtype: np.dtype) -> None:
    x = sample(dtype, (4, 6))
    x[0, :4] = np.array([np.nan, np.inf, -np.inf, 0.0], dtype=np.float32).astype(dtype)
    check_op(kind, [x], exact=kind in EXACT_UNARY)


INT_UNARY = [(k.name, d) for k in UNARY_KINDS for d in INTS if DType.from_numpy(d) in k.dtypes]


@pytest.mark.parametrize("kind,dtype", INT_UNARY, ids=[f"{k}-{d}" for k, d in INT_UNARY])
def test_integer_unary(kind: str, dtype: np.dtype) -> None:
    check_op(kind, [sample(dtype, (5, 3))], exact=True)


def test_f16_results_round_to_nearest_even() -> None:
    one = np.float16(1.0)
    ulp = np.float16(2.0**-10)
    half_ulp = np.float16(2.0**-11)
    a = np.array([one, one + ulp, 2048, 65504, 65504, 1e-7, -one], dtype=np.float16)
    b = np.array([half_ulp, half_ulp, 1, 16, 32, 1e-7, -half_ulp], dtype=np.float16)
    (got,), (want,) = run_ops(lambda g, xs: [g.emit1("add", xs)], [a, b])
    assert got[0] == np.float16(1.0) and got[1] == np.float16(1.0) + 2 * ulp  # ties to even
    assert np.isinf(got[4])  # overflow
    assert_matches(got, want, exact=True)


def test_f16_intermediates_round_between_ops() -> None:
    """(a + b) - a: the reference rounds a + b to f16 before the subtraction."""
    a = np.full(4, 1.0, dtype=np.float16)
    b = np.array([2.0**-12, 2.0**-11 * 3, 1e-4, 0.5], dtype=np.float16)
    (got,), (want,) = run_ops(lambda g, xs: [g.emit1("sub", [g.emit1("add", xs), xs[0]])], [a, b])
    assert got[0] == 0.0  # 1 + 2**-12 rounds back to 1 in f16 (not in f32)
    assert_matches(got, want, exact=True)


def test_bf16_rounding_nan_and_inf() -> None:
    values = np.array([1.0, 1.00390625, 1.01171875, 3.38e38, -3.38e38, np.nan, np.inf, -np.inf, 1e-40],
                      dtype=np.float32)
    (cast,), (want,) = run_ops(lambda g, xs: [g.emit1("cast", xs, {"to": DType.BF16})], [values])
    assert_matches(cast, want, exact=True)
    assert cast[1] == 1.0 and float(cast[2]) == 1.015625  # a tie goes to even; above it rounds up
    assert np.isnan(cast[5]) and np.isposinf(cast[6]) and np.isneginf(cast[7])
    big = np.array([3.38e38, -3.38e38, 1.0, np.nan, np.inf], dtype=np.float32).astype(BF16)
    two = np.array([2.0, 2.0, np.nan, 1.0, -np.inf], dtype=np.float32).astype(BF16)
    (product, total), (want_product, want_total) = run_ops(
        lambda g, xs: [g.emit1("mul", xs), g.emit1("add", xs)], [big, two])
    assert np.isposinf(product[0]) and np.isneginf(product[1]) and np.isnan(product[2]) and np.isnan(total[4])
    assert_matches(product, want_product, exact=True)
    assert_matches(total, want_total, exact=True)


# -- casts --------------------------------------------------------------------------------------

ALL_DTYPES = FLOATS + INTS + [np.dtype(np.bool_)]


def cast_sample(dtype: np.dtype) -> np.ndarray:
    """In-range values of ``dtype``: negative, fractional, wrapping and rounding cases."""
    if dtype == np.bool_:
        return np.array([True, False, True, True])
    if is_float(dtype):
        values = [0.0, -0.0, 1.5, -1.5, 2.5, -2.7, 100.9, 127.6, -128.9, 200.25, 255.9, 1000.3, 65519.0, 1e-6]
        return np.array(values, dtype=np.float32).astype(dtype)
    info = np.iinfo(dtype) if dtype.itemsize < 8 else np.iinfo(np.int32)
    return np.array([0, 1, -1 if dtype.kind == "i" else 2, info.max, info.min, 127, 128 % (int(info.max) + 1),
                     255 % (int(info.max) + 1), 2049 % (int(info.max) + 1)], dtype=dtype)


@pytest.mark.parametrize("source", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("target", ALL_DTYPES, ids=str)
def test_cast_every_pair(source: np.dtype, target: np.dtype) -> None:
    x = cast_sample(source)
    if is_float(source) and target.kind in "iu":
        # Out-of-range float → int casts are undefined in ONNX (tested on x86 below).
        limit = np.iinfo(target).max if target.itemsize <= 4 else 2**31
        x = x[np.abs(x.astype(np.float64)) < min(limit, 2**31)]
    check_op("cast", [x], exact=True, to=DType.from_numpy(target))


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="numpy's out-of-range casts are x86's")
@pytest.mark.parametrize("target", [np.int8, np.uint8, np.int32], ids=lambda t: np.dtype(t).name)
def test_cast_out_of_range_floats_like_the_reference(target: type) -> None:
    x = np.array([300.7, -300.7, -129.0, 1e10, -1e10, np.nan, np.inf, -np.inf, 3e9], dtype=np.float32)
    check_op("cast", [x], exact=True, to=DType.from_numpy(target))
    with np.errstate(over="ignore"):  # 1e10 and 3e9 become inf in f16, on purpose
        halves = x.astype(np.float16)
    check_op("cast", [halves], exact=True, to=DType.from_numpy(target))


# -- every op family in the narrow dtypes -------------------------------------------------------

@pytest.mark.parametrize("dtype", [F16, BF16, np.dtype(np.int8), np.dtype(np.uint8)], ids=str)
def test_op_families_in_narrow_dtypes(dtype: np.dtype) -> None:
    x = sample(dtype, (3, 4, 5))
    exact_sums = dtype.kind in "iu"
    for kind in ("reduce_sum", "reduce_mean", "reduce_prod"):
        check_op(kind, [x], exact=exact_sums, axes=(1,), keepdims=False)
    for kind in ("reduce_max", "reduce_min"):
        check_op(kind, [x], exact=True, axes=(0, 2), keepdims=True)
        check_op(kind, [x[:, :0]], exact=True, axes=(1,), keepdims=True)  # empty: the identity
    for kind in ("arg_max", "arg_min"):
        check_op(kind, [x], exact=True, axis=1, keepdims=False)
    check_op("cumsum", [x], exact=exact_sums, axis=2, reverse=True)
    check_op("clip", [x], exact=True, min=-20.0, max=100.0)
    check_op("where", [RNG.random((4, 5)) > 0.5, x, x[:1]], exact=True)
    check_op("transpose", [x], exact=True, perm=[2, 0, 1])
    check_op("concat", [x, x[:, :2]], exact=True, axis=1)
    check_op("gather", [x, np.array([[2, -1]], dtype=np.int64)], exact=True, axis=1)
    check_op("scatter_elements", [x[0], np.array([[0, 1, 3]], dtype=np.int64), x[1, :1, :3]], exact=True,
             axis=1, reduction="add")
    check_op("matmul", [x, sample(dtype, (5, 2))], exact=exact_sums)
    ((values, indices), (want_values, want_indices)) = run_ops(
        lambda g, xs: g.emit("top_k", xs, {"k": 3, "axis": 1}), [x])
    assert_matches(values, want_values, exact=True)
    assert_matches(indices, want_indices, exact=True)
    if is_float(dtype):
        check_op("softmax", [x], axis=1)
        check_op("log_softmax", [x], axis=-1)
    check_op("one_hot", [np.array([[0, 3], [-1, 7]], dtype=np.int64), np.array([2, 5], dtype=dtype)],
             exact=True, depth=4, axis=1)


def test_integer_reduce_mean_wraps_before_dividing() -> None:
    x = np.array([[100, 100, 100], [-128, -128, 5]], dtype=np.int8)
    check_op("reduce_mean", [x], exact=True, axes=(1,), keepdims=False)
    check_op("reduce_mean", [x.astype(np.uint8)], exact=True, axes=(1,), keepdims=False)


def test_one_hot_with_half_indices_and_values() -> None:
    indices = np.array([0.7, 2.2, -1.5, np.nan, 9.0], dtype=np.float16)
    check_op("one_hot", [indices, np.array([0.5, 1.25], dtype=BF16)], exact=True, depth=3, axis=-1)


def test_i64_constant_beyond_int32() -> None:
    big = np.array([2**40, -(2**40) + 3, 5], dtype=np.int64)

    def build(g: GraphBuilder, xs: list[Value]) -> list[Value]:
        # (x + big) - big: only exact if the constant keeps its 64 bits
        return [g.emit1("sub", [g.emit1("add", [xs[0], g.const(big)]), g.const(big)])]

    (got,), (want,) = run_ops(build, [np.array([1, 2, 3], dtype=np.int64)])
    assert_matches(got, want, exact=True)


# -- linalg ----------------------------------------------------------------------------------------

EINSUMS = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),  # matmul
    ("ij->ji", [(3, 4)]),  # transpose
    ("ij->", [(3, 4)]),  # sum
    ("ij->i", [(3, 4)]),  # row sums
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),  # batch matmul
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (3, 4, 2)]),  # ellipsis, broadcast batch
    ("ij,jk", [(2, 3), (3, 4)]),  # implicit output
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),  # three operands
    ("i,j->ij", [(3,), (4,)]),  # outer product
    ("bhsd,bhtd->bhst", [(1, 2, 3, 4), (1, 2, 5, 4)]),  # attention scores
    ("ii->i", [(4, 4)]),  # diagonal
    ("ij,ij->", [(3, 4), (3, 4)]),  # inner product of matrices
]


@pytest.mark.parametrize("dtype", [F32, BF16, F16, np.dtype(np.int64), np.dtype(np.int8)], ids=str)
@pytest.mark.parametrize("equation,shapes", EINSUMS, ids=[e for e, _ in EINSUMS])
def test_einsum(equation: str, shapes: list[tuple[int, ...]], dtype: np.dtype) -> None:
    arrays = [sample(dtype, shape, scale=1.0) for shape in shapes]
    check_op("einsum", arrays, exact=dtype.kind in "iu", equation=equation)


@pytest.mark.parametrize("dtype", [F32, F16, BF16, np.dtype(np.int32), np.dtype(np.int8)], ids=str)
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True), (True, True)])
def test_gemm(dtype: np.dtype, trans_a: bool, trans_b: bool) -> None:
    a = sample(dtype, (4, 3) if trans_a else (3, 4), scale=1.0)
    b = sample(dtype, (5, 4) if trans_b else (4, 5), scale=1.0)
    exact = dtype.kind in "iu"
    for c_shape in ((), (5,), (3, 1), (3, 5)):
        c = sample(dtype, c_shape, scale=1.0)
        check_op("gemm", [a, b, c], exact=exact, trans_a=trans_a, trans_b=trans_b)
        check_op("gemm", [a, b, c], exact=exact, trans_a=trans_a, trans_b=trans_b, alpha=0.5, beta=-1.5)
    check_op("gemm", [a, b], exact=exact, trans_a=trans_a, trans_b=trans_b, alpha=2.0)


# -- composites ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("interleaved", [False, True])
@pytest.mark.parametrize("rotary_dim", [0, 4])
@pytest.mark.parametrize("cos_batch", [1, 2])
def test_rotary_embedding(dtype: np.dtype, interleaved: bool, rotary_dim: int, cos_batch: int) -> None:
    x = sample(dtype, (2, 3, 5, 8), scale=1.0)
    half = (rotary_dim or 8) // 2
    angles = RNG.uniform(0, 2 * np.pi, (cos_batch, 5, half))
    cos, sin = np.cos(angles).astype(np.float32).astype(dtype), np.sin(angles).astype(np.float32).astype(dtype)
    check_op("rotary_embedding", [x, cos, sin], interleaved=interleaved, rotary_dim=rotary_dim)
    # The features past rotary_dim are copied unchanged.
    (got,), _ = run_ops(lambda g, xs: g.emit("rotary_embedding", xs, {"interleaved": interleaved,
                                                                       "rotary_dim": rotary_dim}), [x, cos, sin])
    rotary = rotary_dim or 8
    np.testing.assert_array_equal(got[..., rotary:], x[..., rotary:])


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("kind", ["layer_norm", "rms_norm"])
@pytest.mark.parametrize("axis", [-1, 1])
def test_norms(dtype: np.dtype, kind: str, axis: int) -> None:
    x = sample(dtype, (3, 4, 6), scale=2.0) + np.asarray(1.5, dtype=dtype)
    scale = sample(dtype, (6,) if axis == -1 else (4, 6), scale=1.0)
    check_op(kind, [x, scale], axis=axis, epsilon=1e-3)
    if kind == "layer_norm":
        bias = sample(dtype, (1, 6), scale=1.0)
        check_op(kind, [x, scale, bias], axis=axis)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("activation", ["silu", "gelu", "gelu_tanh", "relu"])
def test_gated_mlp(dtype: np.dtype, activation: str) -> None:
    x = sample(dtype, (2, 3, 8), scale=1.0)
    weights = [sample(dtype, (8, 6), scale=0.5), sample(dtype, (8, 6), scale=0.5), sample(dtype, (6, 5), scale=0.5)]
    check_op("gated_mlp", [x, *weights], activation=activation)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("top_k,normalize", [(1, True), (2, True), (2, False), (4, False)])
@pytest.mark.parametrize("activation", ["silu", "gelu"])
def test_moe(dtype: np.dtype, top_k: int, normalize: bool, activation: str) -> None:
    tokens, hidden, experts, ffn = 5, 8, 4, 6
    x = sample(dtype, (tokens, hidden), scale=1.0)
    router = sample(dtype, (hidden, experts), scale=1.0)
    arrays = [x, router, sample(dtype, (experts, hidden, ffn), scale=0.5),
              sample(dtype, (experts, hidden, ffn), scale=0.5), sample(dtype, (experts, ffn, hidden), scale=0.5)]
    check_op("moe", arrays, top_k=top_k, normalize=normalize, activation=activation)


def test_moe_ties_pick_the_lower_expert() -> None:
    x = np.ones((2, 4), dtype=np.float32)
    router = np.zeros((4, 3), dtype=np.float32)  # every expert equally likely
    experts = [RNG.standard_normal(shape).astype(np.float32) for shape in ((3, 4, 5), (3, 4, 5), (3, 5, 4))]
    (got,), (want,) = run_ops(lambda g, xs: g.emit("moe", xs, {"top_k": 2}), [x, router, *experts])
    assert_matches(got, want, exact=False)


@pytest.mark.parametrize("dtype", [F16, BF16], ids=str)
@pytest.mark.parametrize("causal,softcap", [(False, 0.0), (True, 0.0), (True, 4.0)])
def test_attention_in_half_dtypes(dtype: np.dtype, causal: bool, softcap: float) -> None:
    q = sample(dtype, (1, 4, 3, 8), scale=1.0)
    k = sample(dtype, (1, 2, 6, 8), scale=1.0)
    v = sample(dtype, (1, 2, 6, 5), scale=1.0)
    attrs = {"scale": 0.35, "is_causal": causal, "softcap": softcap}
    check_op("attention", [q, k, v], **attrs)
    check_op("attention", [q, k, v, sample(dtype, (3, 6), scale=1.0)], **attrs)
    mask = RNG.random((1, 1, 3, 6)) > 0.3
    mask[0, 0, 1] = False
    check_op("attention", [q, k, v, mask], **attrs)


# -- several steps in one module -------------------------------------------------------------------

def test_emit_step_puts_several_steps_in_one_module() -> None:
    graph = Graph()
    x = graph.add_input("x", TensorType((4,), DType.F32))
    builder = GraphBuilder(graph, fold=False)
    first = builder.emit1("mul", [x, builder.const(np.full(4, 3.0, dtype=np.float32))], name="first")
    hidden = builder.emit1("exp", [first], name="hidden")
    second = builder.emit1("gather", [hidden, builder.const(np.array([3, 9], dtype=np.int64))], name="second")
    graph.set_outputs([first, second], ["a", "b"])
    module = KernelModule()
    value_buffers = {}
    for offset, value in zip((0, 64, 128), (x, first, second)):
        module.hbm.append(Buffer(value.name, "hbm", DType.F32, value.type.shape, offset=offset))
        value_buffers[value.name] = value.name
    calls = [CpuCall("s0", ("x",), (first.name,), (first.name,)),
             CpuCall("s1", (first.name,), (second.name,), (hidden.name, second.name))]
    ops_by_name = {op.results[0].name: op for op in graph.ops}
    llvm_module = ir.Module(name="steps")
    for call in calls:
        emit_step(llvm_module, call, graph, module, value_buffers, ops_by_name, f"step_{call.name}")
    names = [g.name for g in llvm_module.global_values]
    assert names.count(FAULT_FLAG) == 1
    assert all(n.startswith(("step_s0", "step_s1", "llvm.", FAULT_FLAG)) for n in names), names
    assert any(n.startswith("step_s0.const") for n in names) and any(n.startswith("step_s1.tmp") for n in names)
    jit = compile_module(llvm_module)
    heap = np.zeros(192, dtype=np.uint8)
    heap[:16] = np.array([0.0, 0.5, -1.0, 0.25], dtype=np.float32).view(np.uint8)
    for call in calls:
        jit.function(f"step_{call.name}", None, ctypes.c_void_p)(heap.ctypes.data)
    np.testing.assert_allclose(heap[64:80].view(np.float32), [0.0, 1.5, -3.0, 0.75])
    # Index 9 is out of range: the shared flag holds 1 + the op's position in its step (second
    # is op 1 of s1), the other cells the index and the axis size (and element 0 is read instead).
    cell = jit.engine.get_global_value_address
    assert ctypes.c_int32.from_address(cell(FAULT_FLAG)).value == 2
    assert ctypes.c_int64.from_address(cell(graph_ops.FAULT_INDEX)).value == 9
    assert ctypes.c_int64.from_address(cell(graph_ops.FAULT_BOUND)).value == 4
    np.testing.assert_allclose(heap[128:136].view(np.float32), np.exp([0.75, 0.0]), rtol=1e-6)


def test_out_of_range_index_raises_through_the_wrapper() -> None:
    with pytest.raises(MoeccError, match="out of range"):
        run_ops(lambda g, xs: [g.emit1("gather", xs, {"axis": 0})],
                [sample(F16, (5, 2)), np.array([0, 5], dtype=np.int64)])
