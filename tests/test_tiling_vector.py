"""VPU lowering rules (passes/tiling_vector.py): one-op graphs lowered for both targets,
verified, executed on the kernel IR and compared with the graph reference interpreter."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from moecc.ir.builder import GraphBuilder
from moecc.ir.graph import Graph
from moecc.ir.interpreter import run_graph
from moecc.ir.kernel import For, KernelModule, verify_kernel_module, walk
from moecc.ir.kernel_interpreter import run_kernel_module
from moecc.ir.types import DType, TensorType
from moecc.isa_spec.target import load_target
from moecc.passes.kernel_lowering import lower_to_kernels

#: What the ASIC's HBM holds each graph dtype in (its target's storage dtypes).
ASIC_STORAGE = load_target("moe-asic-v1").storage_dtypes

TARGETS = [load_target("moe-asic-v1"), load_target("moe-asic-edge")]
RTOL, ATOL = 1e-4, 1e-5


# -- harness ---------------------------------------------------------------------------------------

def _stored(array: np.ndarray, dtype: DType) -> np.ndarray:
    stored = ASIC_STORAGE[dtype]
    return np.ascontiguousarray(np.asarray(array).astype(stored.numpy)).reshape(-1)


def check_op(kind: str, arrays: list[np.ndarray], attrs: dict | None = None, *, consts: dict[int, np.ndarray] | None = None,
             target=TARGETS[0], expect_kernels: int = 1, rtol: float = RTOL, atol: float = ATOL) -> KernelModule:
    """Lower a one-op graph, check every op ran on the ASIC, execute and compare with run_graph."""
    graph = Graph()
    builder = GraphBuilder(graph, fold=False)
    consts = consts or {}
    operands, feeds = [], {}
    for i, a in enumerate(arrays):
        if i in consts:
            operands.append(builder.const(consts[i], name=f"c{i}"))
        else:
            v = graph.add_input(f"x{i}", TensorType.of(np.asarray(a)))
            operands.append(v)
            feeds[v.name] = np.asarray(a)
    results = builder.emit(kind, operands, attrs or {})
    graph.set_outputs(results, [f"y{i}" for i in range(len(results))])
    expected = run_graph(graph, feeds)
    module, weights, partition, names = lower_to_kernels(graph, target)
    assert partition.counts(graph)["cpu"] == 0, partition.reasons
    verify_kernel_module(module)
    assert len(module.kernels) == expect_kernels
    for kernel in module.kernels:
        used = {"sram": 0, "acc": 0}
        for b in kernel.buffers:
            used[b.space] += b.nbytes
        assert used["sram"] <= target.sram_capacity_bytes
        for stmt, _ in walk(kernel.body):
            for ref in (getattr(stmt, "dst", None), getattr(stmt, "a", None), getattr(stmt, "b", None), getattr(stmt, "src", None)):
                if ref is not None:
                    assert ref.rows <= 4095 and ref.cols <= 4095
    hbm = {module.hbm_buffer(names[v.name]).name: _stored(feeds[v.name], v.type.dtype) for v in graph.inputs}
    hbm.update(weights)
    out = run_kernel_module(module, hbm)
    for i, r in enumerate(results):
        buf = module.hbm_buffer(names[r.name])
        got = out[buf.name].reshape(r.type.shape)
        want = np.asarray(expected[f"y{i}"])
        want_stored = want.astype(ASIC_STORAGE[r.type.dtype].numpy)
        if want.dtype.kind in "iub":
            np.testing.assert_array_equal(got, want_stored, err_msg=f"{kind} result {i}")
        else:
            np.testing.assert_allclose(got.astype(np.float64), want_stored.astype(np.float64), rtol=rtol, atol=atol,
                                       equal_nan=True, err_msg=f"{kind} result {i}")
    return module


def _rand(*shape: int, seed: int = 0, dtype=np.float32) -> np.ndarray:
    return np.random.default_rng(seed + len(shape) * 7 + sum(shape)).standard_normal(shape).astype(dtype)


def _ids(target) -> str:
    return target.name


# -- unary ---------------------------------------------------------------------------------------------

UNARY_CASES = ["neg", "abs", "exp", "tanh", "erf", "sigmoid", "relu", "softplus", "mish", "hard_sigmoid",
               "hard_swish", "leaky_relu"]


@pytest.mark.parametrize("target", TARGETS, ids=_ids)
@pytest.mark.parametrize("kind", UNARY_CASES)
def test_unary(kind, target):
    check_op(kind, [_rand(3, 70, 33) * 3], target=target)


@pytest.mark.parametrize("target", TARGETS, ids=_ids)
@pytest.mark.parametrize("kind", ["log", "sqrt", "reciprocal"])
def test_unary_positive(kind, target):
    check_op(kind, [np.abs(_rand(257, 9)) + 0.1], target=target)


@pytest.mark.parametrize("target", TARGETS, ids=_ids)
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu(approximate, target):
    check_op("gelu", [_rand(5, 128) * 3], {"approximate": approximate}, target=target)


# -- binary, broadcasting, long streams -----------------------------------------------------------------

BROADCASTS = [
    ((4, 33, 65), (4, 33, 65)),   # same shape, refolded
    ((64, 256), (256,)),          # row
    ((256,), (64, 256)),          # row, first operand broadcast
    ((64, 256), (64, 1)),         # col
    ((64, 1), (64, 256)),         # col, first operand broadcast
    ((3, 50, 7), ()),             # scalar
    ((), (3, 50, 7)),             # scalar first
    ((6, 1, 40), (6, 9, 40)),     # batched row (one outer dim)
    ((9, 1), (1, 40)),            # outer product
    ((2, 5000), (5000,)),         # row longer than a VPU tile: column chunks
]


@pytest.mark.parametrize("target", TARGETS, ids=_ids)
@pytest.mark.parametrize("kind", ["add", "sub", "mul", "div", "max", "min"])
@pytest.mark.parametrize("shapes", BROADCASTS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_binary_broadcast(kind, shapes, target):
    a, b = _rand(*shapes[0], seed=1), _rand(*shapes[1], seed=2)
    if kind == "div":
        b = np.where(np.abs(b) < 0.1, np.float32(0.5), b).astype(np.float32)
    check_op(kind, [a, b], target=target)


@pytest.mark.parametrize("target", TARGETS, ids=_ids)
@pytest.mark.parametrize("kind", ["greater", "less", "equal", "greater_equal", "less_equal"])
def test_compare(kind, target):
    a = np.round(_rand(40, 24, seed=3))
    b = np.round(_rand(24, seed=4))
    check_op(kind, [a, b], target=target)
    check_op(kind, [b, a], target=target)


@pytest.mark.parametrize("target", TARGETS, ids=_ids)
def test_long_stream_double_buffered(target):
    n = 1_000_003  # prime: 2048-wide rows plus a tail row
    module = check_op("add", [_rand(n, seed=5), _rand(n, seed=6)], target=target)
    (kernel,) = module.kernels
    assert all(b.slots == 2 for b in kernel.buffers)
    assert any(isinstance(s, For) for s in kernel.body)


def test_int32_add_wraps_like_the_reference():
    a = np.array([[2**31 - 1, -5, 7]], dtype=np.int32)
    b = np.array([[1, 3, -9]], dtype=np.int32)
    check_op("add", [a, b])
    check_op("mul", [a, b])


@pytest.mark.parametrize("target", TARGETS, ids=_ids)
def test_where(target):
    cond = _rand(12, 30, seed=7) > 0
    check_op("where", [cond, _rand(12, 30, seed=8), _rand(30, seed=9)], target=target)
    check_op("where", [cond[:1], _rand(12, 1, seed=8), _rand(12, 30, seed=9)], target=target)


@pytest.mark.parametrize("target", TARGETS, ids=_ids)
def test_clip(target):
    x = _rand(33, 17) * 4
    check_op("clip", [x], {"min": -1.0, "max": 2.0}, target=target)
    check_op("clip", [x], {"min": 0.5}, target=target)
    check_op("clip", [x], {"max": 3.0, "min": 4.0}, target=target)


@pytest.mark.parametrize("exponent", [2.0, 3.0, 0.5, -0.5, 1.0, -1.0, 0.0, -3.0, 4.0])
def test_pow_constant_exponent(exponent):
    x = np.abs(_rand(20, 31)) + 0.2
    check_op("pow", [x, np.float32(exponent)], consts={1: np.array(exponent, dtype=np.float32)})


def test_pow_other_exponents_decline():
    graph = Graph()
    x = graph.add_input("x", TensorType((4, 4), DType.F32))
    y = GraphBuilder(graph, fold=False).emit("pow", [x, GraphBuilder(graph).const(np.float32(1.7))], {})
    graph.set_outputs(y, ["y"])
    _, _, partition, _ = lower_to_kernels(graph, TARGETS[0])
    assert partition.counts(graph) == {"asic": 0, "cpu": 1}
    assert "exponent" in next(iter(partition.reasons.values()))


CASTS = [
    (np.float32, DType.BF16), (DType.BF16, DType.F32), (np.float32, DType.BOOL), (np.bool_, DType.F32),
    (np.float32, DType.I64), (np.int64, DType.F32), (np.int32, DType.I64), (np.int64, DType.BOOL), (np.bool_, DType.I32),
]


@pytest.mark.parametrize("target", TARGETS, ids=_ids)
@pytest.mark.parametrize("src,to", CASTS, ids=lambda c: str(c))
def test_cast(src, to, target):
    x = _rand(19, 45) * 10
    x[0, :3] = 0.0
    if src is DType.BF16:
        x = x.astype(ml_dtypes.bfloat16)
    elif src is np.bool_:
        x = x > 0
    else:
        x = x.astype(src)
    check_op("cast", [x], {"to": to}, target=target)


def test_bf16_single_rounding_ops():
    a = (_rand(16, 64) * 3).astype(ml_dtypes.bfloat16)
    b = _rand(64, seed=3).astype(ml_dtypes.bfloat16)
    check_op("add", [a, b], rtol=1e-2, atol=1e-2)
    check_op("exp", [a], rtol=1e-2, atol=1e-2)


# -- row kernels ----------------------------------------------------------------------------------------

ROW_SHAPES = [(4, 16), (3, 70, 33), (5000, 24), (7, 4095), (1, 1)]


@pytest.mark.parametrize("target", TARGETS, ids=_ids)
@pytest.mark.parametrize("kind", ["reduce_sum", "reduce_mean", "reduce_max", "reduce_min"])
@pytest.mark.parametrize("shape", ROW_SHAPES, ids=str)
@pytest.mark.parametrize("keepdims", [True, False])
def test_reduce_last_axis(kind, shape, keepdims, target):
    check_op(kind, [_rand(*shape)], {"axes": (-1,), "keepdims": keepdims}, target=target)


def test_reduce_trailing_axes_and_all():
    check_op("reduce_sum", [_rand(4, 6, 8)], {"axes": (1, 2), "keepdims": False})
    check_op("reduce_mean", [_rand(6, 8)], {"axes": (), "keepdims": True})


@pytest.mark.parametrize("target", TARGETS, ids=_ids)
@pytest.mark.parametrize("kind", ["reduce_sum", "reduce_mean", "reduce_max", "reduce_min"])
@pytest.mark.parametrize("shape,axes", [((4, 6), (0,)), ((3, 9, 40), (1,)), ((2, 5, 3, 4500), (1, 2)), ((5000, 3, 8), (1,)),
                                        ((4, 6, 1), (1,)), ((7, 2, 64), (0, 1))], ids=str)
def test_reduce_middle_axes(kind, shape, axes, target):
    check_op(kind, [_rand(*shape)], {"axes": axes, "keepdims": False}, target=target)


def test_reduce_scattered_axes_decline():
    graph = Graph()
    x = graph.add_input("x", TensorType((4, 6, 5), DType.F32))
    y = GraphBuilder(graph, fold=False).emit("reduce_sum", [x], {"axes": (0, 2), "keepdims": True})
    graph.set_outputs(y, ["y"])
    _, _, partition, _ = lower_to_kernels(graph, TARGETS[0])
    assert "contiguous" in next(iter(partition.reasons.values()))


@pytest.mark.parametrize("target", TARGETS, ids=_ids)
@pytest.mark.parametrize("kind", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape", ROW_SHAPES, ids=str)
def test_softmax(kind, shape, target):
    check_op(kind, [_rand(*shape) * 4], {"axis": -1}, target=target)


@pytest.mark.parametrize("target", TARGETS, ids=_ids)
@pytest.mark.parametrize("shape", [(4, 16), (3, 70, 33), (600, 768)], ids=str)
def test_layer_norm(shape, target):
    x = _rand(*shape) * 2 + 1
    scale, bias = _rand(shape[-1], seed=3), _rand(shape[-1], seed=4)
    check_op("layer_norm", [x, scale, bias], {"axis": -1, "epsilon": 1e-5}, consts={1: scale, 2: bias}, target=target)
    check_op("layer_norm", [x, scale], {"axis": -1, "epsilon": 1e-3}, target=target)


def test_layer_norm_over_two_axes():
    x = _rand(5, 6, 7)
    check_op("layer_norm", [x, _rand(6, 7, seed=1), _rand(1, 6, 7, seed=2)], {"axis": 1})


@pytest.mark.parametrize("target", TARGETS, ids=_ids)
@pytest.mark.parametrize("shape", [(4, 16), (3, 70, 33), (600, 768)], ids=str)
def test_rms_norm(shape, target):
    x = _rand(*shape) * 2 + 1
    scale = _rand(shape[-1], seed=3)
    check_op("rms_norm", [x, scale], {"axis": -1, "epsilon": 1e-6}, consts={1: scale}, target=target)


@pytest.mark.parametrize("target", TARGETS, ids=_ids)
@pytest.mark.parametrize("shape,k", [((4, 16), 2), ((3, 70, 33), 8), ((300, 64), 63), ((9, 5), 5)], ids=str)
def test_top_k(shape, k, target):
    x = np.round(_rand(*shape) * 3)  # many ties: lower index first
    check_op("top_k", [x], {"k": k, "axis": -1, "largest": True, "sorted": True}, target=target)


@pytest.mark.parametrize("target", TARGETS, ids=_ids)
@pytest.mark.parametrize("kind", ["arg_max", "arg_min"])
@pytest.mark.parametrize("keepdims", [True, False])
def test_arg_max_min(kind, keepdims, target):
    x = np.round(_rand(37, 3, 20) * 2)
    check_op(kind, [x], {"axis": -1, "keepdims": keepdims, "select_last_index": False}, target=target)


# -- end to end through memory planning, codegen and the simulator ------------------------------------

def _one_op_graph(kind: str, arrays: list[np.ndarray], attrs: dict, consts: dict[int, np.ndarray]) -> tuple[Graph, dict]:
    graph = Graph()
    builder = GraphBuilder(graph, fold=False)
    operands, feeds = [], {}
    for i, a in enumerate(arrays):
        if i in consts:
            operands.append(builder.const(consts[i], name=f"c{i}"))
        else:
            v = graph.add_input(f"x{i}", TensorType.of(np.asarray(a)))
            operands.append(v)
            feeds[v.name] = np.asarray(a)
    results = builder.emit(kind, operands, attrs)
    graph.set_outputs(results, [f"y{i}" for i in range(len(results))])
    return graph, feeds


SIM_CASES = [
    ("add", [(300, 96), (96,)], {}, {}),
    ("gelu", [(64, 200)], {"approximate": "none"}, {}),
    ("where", [(40, 33), (40, 33), (33,)], {}, {}),
    ("softmax", [(257, 128)], {"axis": -1}, {}),
    ("layer_norm", [(130, 64), (64,), (64,)], {"axis": -1, "epsilon": 1e-5}, {1: 1, 2: 2}),
    ("top_k", [(70, 40)], {"k": 4, "axis": -1, "largest": True, "sorted": True}, {}),
    ("reduce_mean", [(90, 50)], {"axes": (-1,), "keepdims": False}, {}),
    ("reduce_sum", [(50, 4, 96)], {"axes": (1,), "keepdims": False}, {}),  # MoE combine over top-k
]


@pytest.mark.parametrize("target", TARGETS, ids=_ids)
@pytest.mark.parametrize("kind,shapes,attrs,const_seeds", SIM_CASES, ids=[c[0] for c in SIM_CASES])
def test_simulator_matches_interpreter_and_reference(kind, shapes, attrs, const_seeds, target):
    from moecc.backend.asic import Simulator
    from moecc.backend.asic.codegen import generate_programs
    from moecc.passes.memory_plan import plan_memory

    arrays = [_rand(*s, seed=i) * 2 for i, s in enumerate(shapes)]
    if kind == "where":
        arrays[0] = arrays[0] > 0
    consts = {i: arrays[i] for i in const_seeds}
    graph, feeds = _one_op_graph(kind, arrays, attrs, consts)
    module, weights, partition, names = lower_to_kernels(graph, target)
    assert partition.counts(graph)["cpu"] == 0
    hbm = {names[v.name]: _stored(feeds[v.name], v.type.dtype) for v in graph.inputs}
    hbm.update({k: v.reshape(-1) for k, v in weights.items()})
    planned, _ = plan_memory(module, target)
    (segment,) = generate_programs(planned, target)
    result = Simulator(segment.program, target).run(hbm)
    interpreted = run_kernel_module(module, dict(hbm))
    expected = run_graph(graph, feeds)
    for i, r in enumerate(graph.outputs):
        name = names[r.name]
        simulated = result.read(name).reshape(-1)
        np.testing.assert_array_equal(simulated, interpreted[name].reshape(-1))
        want = np.asarray(expected[f"y{i}"]).astype(ASIC_STORAGE[r.type.dtype].numpy).reshape(-1)
        np.testing.assert_allclose(simulated.astype(np.float64), want.astype(np.float64), rtol=RTOL, atol=ATOL)
