"""Element-wise fusion (passes/fuse_elementwise.py + the group emitter in passes/tiling_vector.py):
which ops form groups, that a group is one kernel storing only values read outside it, and that
fused kernels compute exactly what the op-by-op kernels do, on the kernel interpreter and the
simulator, against the graph reference interpreter."""

from __future__ import annotations

from collections.abc import Callable

import ml_dtypes
import numpy as np
import pytest

import moecc
from moecc.ir.builder import GraphBuilder
from moecc.ir.graph import Graph, Value
from moecc.ir.interpreter import run_graph
from moecc.ir.kernel import KernelModule, Store, verify_kernel_module, walk
from moecc.ir.kernel_interpreter import run_kernel_module
from moecc.ir.types import DType, TensorType
from moecc.isa_spec.target import load_target
from moecc.passes import kernel_lowering
from moecc.passes.fuse_elementwise import plan_elementwise_fusion
from moecc.passes.kernel_lowering import LoweringContext, lower_to_kernels, partition_graph

#: What the ASIC's HBM holds each graph dtype in (its target's storage dtypes).
ASIC_STORAGE = load_target("moe-asic-v1").storage_dtypes

TARGETS = [load_target("moe-asic-v1"), load_target("moe-asic-edge")]
RTOL, ATOL = 1e-4, 1e-5


def _rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _graph(inputs: dict[str, np.ndarray], body: Callable[[GraphBuilder, dict[str, Value]], list[Value]]) -> tuple[Graph, dict]:
    graph = Graph()
    b = GraphBuilder(graph, fold=False)
    values = {name: graph.add_input(name, TensorType.of(a)) for name, a in inputs.items()}
    outputs = body(b, values)
    graph.set_outputs(outputs, [f"y{i}" for i in range(len(outputs))])
    return graph, dict(inputs)


def _stored(array: np.ndarray, dtype: DType) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(array).astype(ASIC_STORAGE[dtype].numpy)).reshape(-1)


def _run(graph: Graph, feeds: dict, target, fuse: bool) -> tuple[KernelModule, dict[str, np.ndarray]]:
    module, weights, partition, names = lower_to_kernels(graph, target, fuse=fuse)
    verify_kernel_module(module)
    hbm = {names[v.name]: _stored(feeds[v.name], v.type.dtype) for v in graph.inputs}
    hbm.update(weights)
    out = run_kernel_module(module, hbm)
    return module, {f"y{i}": out[names[v.name]].reshape(v.type.shape) for i, v in enumerate(graph.outputs)}


def check_fused(graph: Graph, feeds: dict, target=TARGETS[0], *, kernels: int) -> KernelModule:
    """Lower fused and unfused: the fused module has ``kernels`` kernels, its outputs equal the
    unfused ones bit for bit and match the graph reference interpreter."""
    fused, got = _run(graph, feeds, target, fuse=True)
    _, unfused = _run(graph, feeds, target, fuse=False)
    assert len(fused.kernels) == kernels, [k.name for k in fused.kernels]
    expected = run_graph(graph, feeds)
    for name, value in got.items():
        np.testing.assert_array_equal(value, unfused[name], err_msg=name)
        want = np.asarray(expected[name]).astype(value.dtype)
        np.testing.assert_allclose(value.astype(np.float64), want.astype(np.float64), rtol=RTOL, atol=ATOL, err_msg=name)
    return fused


def _rms_norm(b: GraphBuilder, x: Value, weight: Value) -> Value:
    square = b.emit1("pow", [x, b.const(np.float32(2.0))])
    mean = b.emit1("reduce_mean", [square], {"axes": (-1,), "keepdims": True})
    shifted = b.emit1("add", [mean, b.const(np.float32(1e-6))])
    root = b.emit1("sqrt", [shifted])
    inverse = b.emit1("reciprocal", [root])
    return b.emit1("mul", [weight, b.emit1("mul", [x, inverse])])


def _groups(graph: Graph, target=TARGETS[0]) -> list[list[str]]:
    ctx = LoweringContext(graph, target)
    partition = partition_graph(graph, ctx)
    return [[op.kind for op in g.ops] for g in plan_elementwise_fusion(graph, partition, ctx)]


# -- what fuses --------------------------------------------------------------------------------------

@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_decomposed_rms_norm_is_one_kernel_storing_only_its_result(target):
    graph, feeds = _graph({"x": _rand(2, 100, 256), "w": _rand(256, seed=1)}, lambda b, v: [_rms_norm(b, v["x"], v["w"])])
    assert _groups(graph, target) == [["pow", "reduce_mean", "add", "sqrt", "reciprocal", "mul", "mul"]]
    module = check_fused(graph, feeds, target, kernels=1)
    temps = {b.name for b in module.hbm if b.role not in ("input", "weight")}
    assert temps == {graph.outputs[0].name}  # intermediates never reach HBM
    stores = [s for s, _ in walk(module.kernels[0].body) if isinstance(s, Store)]
    assert {s.dst.buffer for s in stores} == {graph.outputs[0].name}


def test_element_wise_chain_with_broadcasts_is_one_kernel():
    def body(b, v):
        gate = b.emit1("sigmoid", [v["g"]])
        silu = b.emit1("mul", [v["g"], gate])
        scaled = b.emit1("mul", [silu, v["row"]])
        return [b.emit1("add", [b.emit1("mul", [scaled, v["up"]]), v["col"]])]

    graph, feeds = _graph({"g": _rand(70, 300), "up": _rand(70, 300, seed=1), "row": _rand(300, seed=2),
                           "col": _rand(70, 1, seed=3)}, body)
    check_fused(graph, feeds, kernels=1)


def test_diamond_reuses_the_sram_value():
    def body(b, v):
        e = b.emit1("exp", [v["x"]])
        return [b.emit1("add", [b.emit1("mul", [e, e]), b.emit1("neg", [e])])]

    graph, feeds = _graph({"x": _rand(33, 65)}, body)
    check_fused(graph, feeds, kernels=1)


def test_attention_scale_mask_softmax_is_one_row_kernel():
    def body(b, v):
        scaled = b.emit1("mul", [v["s"], b.const(np.float32(0.125))])
        return [b.emit1("softmax", [b.emit1("add", [scaled, v["mask"]])], {"axis": -1})]

    graph, feeds = _graph({"s": _rand(1, 4, 64, 96), "mask": _rand(1, 1, 64, 96, seed=1)}, body)
    assert _groups(graph) == [["mul", "add", "softmax"]]
    check_fused(graph, feeds, kernels=1)


@pytest.mark.parametrize("kind", ["reduce_sum", "reduce_max", "reduce_min", "log_softmax"])
def test_row_ops_inside_groups(kind):
    def body(b, v):
        t = b.emit1("tanh", [v["x"]])
        attrs = {"axis": -1} if kind == "log_softmax" else {"axes": (-1,), "keepdims": True}
        return [b.emit1("mul", [b.emit1(kind, [t], attrs), v["x"]])]

    graph, feeds = _graph({"x": _rand(50, 40)}, body)
    check_fused(graph, feeds, kernels=1)


def test_bf16_chain_matches_unfused_bit_for_bit():
    x = _rand(40, 64).astype(ml_dtypes.bfloat16)
    y = _rand(40, 64, seed=1).astype(ml_dtypes.bfloat16)
    graph, feeds = _graph({"x": x, "y": y}, lambda b, v: [b.emit1("tanh", [b.emit1("add", [b.emit1("exp", [v["x"]]), v["y"]])])])
    fused, got = _run(graph, feeds, TARGETS[0], fuse=True)
    _, unfused = _run(graph, feeds, TARGETS[0], fuse=False)
    assert len(fused.kernels) == 1
    np.testing.assert_array_equal(got["y0"], unfused["y0"])


# -- what stays apart, and what is kept -------------------------------------------------------------

def test_value_read_outside_the_group_is_still_stored():
    def body(b, v):
        e = b.emit1("exp", [v["x"]])
        total = b.emit1("add", [e, v["x"]])
        return [total, b.emit1("transpose", [e], {"perm": (1, 0)})]  # the transpose reads e from HBM

    graph, feeds = _graph({"x": _rand(30, 20)}, body)
    module = check_fused(graph, feeds, kernels=2)
    fused = module.kernels[0]
    stored = {s.dst.buffer for s, _ in walk(fused.body) if isinstance(s, Store)}
    assert stored == {graph.ops[0].result.name, graph.outputs[0].name}


def test_graph_outputs_inside_a_group_are_stored():
    def body(b, v):
        e = b.emit1("exp", [v["x"]])
        return [e, b.emit1("neg", [e])]

    graph, feeds = _graph({"x": _rand(30, 20)}, body)
    module = check_fused(graph, feeds, kernels=1)
    stored = {s.dst.buffer for s, _ in walk(module.kernels[0].body) if isinstance(s, Store)}
    assert stored == {v.name for v in graph.outputs}


def test_shape_changes_break_groups():
    def body(b, v):
        e = b.emit1("exp", [v["x"]])
        t = b.emit1("transpose", [e], {"perm": (1, 0)})
        r = b.emit1("reshape", [b.emit1("neg", [t])], {"shape": (20 * 30,)})
        return [b.emit1("abs", [r])]

    graph, feeds = _graph({"x": _rand(30, 20)}, body)
    assert _groups(graph) == []
    check_fused(graph, feeds, kernels=4)


def test_cpu_ops_never_join():
    def body(b, v):
        e = b.emit1("exp", [v["x"]])
        p = b.emit1("pow", [e, b.const(np.float32(1.7))])  # declined: runs on the CPU
        return [b.emit1("neg", [p])]

    graph, feeds = _graph({"x": np.abs(_rand(8, 8)) + 0.1}, body)
    assert _groups(graph) == []
    module, _, _, _ = lower_to_kernels(graph, TARGETS[0])
    assert len(module.kernels) == 2 and len(module.steps) == 3


def test_outside_reader_before_the_group_ends_blocks_fusion():
    def body(b, v):
        e = b.emit1("exp", [v["x"]])
        t = b.emit1("transpose", [e], {"perm": (1, 0)})  # reads e between exp and add
        return [b.emit1("add", [e, b.emit1("transpose", [t], {"perm": (1, 0)})])]

    graph, feeds = _graph({"x": _rand(16, 24)}, body)
    assert _groups(graph) == []
    check_fused(graph, feeds, kernels=4)


def test_mismatched_shapes_do_not_merge():
    def body(b, v):
        a = b.emit1("exp", [v["x"]])  # [1, 8]
        c = b.emit1("exp", [v["y"]])  # [8, 1]
        return [b.emit1("add", [a, c])]  # [8, 8]: both broadcast into it, so all three fuse

    graph, feeds = _graph({"x": _rand(1, 8), "y": _rand(8, 1, seed=1)}, body)
    assert _groups(graph) == [["exp", "exp", "add"]]
    check_fused(graph, feeds, kernels=1)


# -- end to end --------------------------------------------------------------------------------------

@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_fused_kernels_on_the_simulator(target):
    from moecc.backend.asic import Simulator
    from moecc.backend.asic.codegen import generate_programs
    from moecc.passes.memory_plan import plan_memory

    graph, feeds = _graph({"x": _rand(3, 70, 128), "w": _rand(128, seed=1)}, lambda b, v: [_rms_norm(b, v["x"], v["w"])])
    module, weights, _, names = lower_to_kernels(graph, target)
    assert len(module.kernels) == 1
    hbm = {names[v.name]: _stored(feeds[v.name], v.type.dtype) for v in graph.inputs}
    hbm.update({k: v.reshape(-1) for k, v in weights.items()})
    planned, _ = plan_memory(module, target)
    (segment,) = generate_programs(planned, target)
    result = Simulator(segment.program, target).run(hbm)
    name = names[graph.outputs[0].name]
    interpreted = run_kernel_module(module, dict(hbm))
    np.testing.assert_array_equal(result.read(name).reshape(-1), interpreted[name].reshape(-1))
    want = np.asarray(run_graph(graph, feeds)["y0"]).reshape(-1)
    np.testing.assert_allclose(result.read(name).reshape(-1), want, rtol=RTOL, atol=ATOL)


def test_llama_block_fewer_kernels_and_cycles(monkeypatch):
    from moecc.examples import build_example, example_inputs

    model = build_example("llama-block")
    feeds = example_inputs("llama-block", model, seed=0)
    fused = moecc.compile(model, target="asic")
    fused_out = fused.run(feeds)
    monkeypatch.setattr(kernel_lowering, "FUSION_PLANNERS", [])
    plain = moecc.compile(model, target="asic")
    plain_out = plain.run(feeds)
    count = lambda cm: cm.ir("kernel").count("kernel @")  # noqa: E731
    assert count(fused) <= count(plain) - 15
    assert fused.report()["cycles"] < plain.report()["cycles"]
    for name, value in plain_out.items():
        np.testing.assert_allclose(fused_out[name], value, rtol=RTOL, atol=ATOL)


def test_reduction_of_a_row_broadcast_value():
    def body(b, v):
        t = b.emit1("exp", [v["r"]])  # [1, 8]: one row of the [4, 8] tiles
        m = b.emit1("reduce_max", [t], {"axes": (-1,), "keepdims": True})  # [1, 1]
        return [b.emit1("mul", [b.emit1("add", [v["x"], t]), m])]

    graph, feeds = _graph({"x": _rand(4, 8), "r": _rand(1, 8, seed=1)}, body)
    check_fused(graph, feeds, kernels=1)
