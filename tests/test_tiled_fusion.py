"""Element-wise fusion in the tiled lowering (passes/tiled_lowering/fusion.py) and what ASIC
staging does with a fused group (backend/asic/staging/blocks.py, private.py)."""

from __future__ import annotations

import numpy as np
import pytest

import moecc
from moecc.backend.asic.staging.blocks import align_runs, fuse_runs
from moecc.examples import build_example, example_inputs
from moecc.ir.graph import Graph
from moecc.ir.tiled import Compute, For, Kernel, MatMul, Reduce
from moecc.ir.tiled.nodes import walk
from moecc.ir.types import DType, TensorType
from moecc.passes.tiled_lowering import lower_graph
from moecc.passes.tiled_lowering.context import TilingParams
from moecc.passes.tiled_lowering.fusion import plan_inlining


def _op(g: Graph, kind: str, operands: list, shape: tuple[int, ...], attrs: dict | None = None):
    return g.add_op(kind, operands, attrs or {}, [TensorType(shape, DType.F32)]).result


def _rms_norm_graph(rows: int = 64, hidden: int = 96) -> Graph:
    """Llama's decomposed RMSNorm: pow, reduce_mean, add, sqrt, reciprocal, mul, mul."""
    g = Graph("rms")
    full, row = (1, rows, hidden), (1, rows, 1)
    x = g.add_input("x", TensorType(full, DType.F32))
    two = g.add_const(np.array(2.0, dtype=np.float32), "two")
    eps = g.add_const(np.array(1e-6, dtype=np.float32), "eps")
    w = g.add_const(np.linspace(0.5, 1.5, hidden, dtype=np.float32), "w")
    sq = _op(g, "pow", [x, two], full)
    mean = _op(g, "reduce_mean", [sq], row, {"axes": [-1], "keepdims": True})
    shifted = _op(g, "add", [mean, eps], row)
    root = _op(g, "sqrt", [shifted], row)
    inv = _op(g, "reciprocal", [root], row)
    normed = _op(g, "mul", [x, inv], full)
    g.set_outputs([_op(g, "mul", [normed, w], full)])
    return g


def _kernels(module) -> list[Kernel]:
    return [s for s in module.steps if isinstance(s, Kernel)]


def test_decomposed_rms_norm_is_one_kernel_and_matches_the_reference():
    graph = _rms_norm_graph()
    lowered = lower_graph(graph, TilingParams())
    kernels = _kernels(lowered.module)
    assert len(kernels) == 1, [k.name for k in kernels]
    assert kernels[0].name.startswith("fused_")
    x = np.random.default_rng(0).standard_normal((1, 64, 96)).astype(np.float32)
    got = moecc.compile_graph(graph, target="tiled").run({"x": x})
    want = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + 1e-6) * np.linspace(0.5, 1.5, 96, dtype=np.float32)
    np.testing.assert_allclose(next(iter(got.values())), want, rtol=1e-5, atol=1e-6)


def test_single_use_chain_is_one_expression_and_multi_use_cheap_op_is_recomputed():
    """GELU(tanh) after a bias add: the add has four element-wise users (inlined into each as
    one cheap op); everything else has one user. The whole activation is one statement.
    (raise-composites would make the decomposed GELU one ``gelu`` op; it is off here so that
    the expression fusion of a decomposed chain is what gets tested.)"""
    model = build_example("gpt2-block", seq=16, hidden=32, heads=2, n_layers=1, vocab=64)
    compiled = moecc.compile(model, target="tiled", disable_passes=["raise-composites"])
    module = compiled.executable.module
    gelu = [k for k in _kernels(module) if any("Tanh" in s for s in k.sources)]
    assert gelu, [k.name for k in _kernels(module)]
    computes = [s for k in gelu for _, s, _ in walk(k.body) if isinstance(s, Compute)]
    assert any("tanh" in repr(s.expr) for s in computes)
    assert not any(b.name.endswith(("Tanh_output_0", "Pow_output_0")) for b in module.buffers), \
        "an inlined intermediate got a buffer"
    inputs = example_inputs("gpt2-block", model, seed=0)
    ref = moecc.compile(model, target="ref").run(inputs)
    got = compiled.run(inputs)
    for name in ref:
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-4, atol=1e-5)


def test_inlining_never_computes_at_a_larger_shape_or_hides_a_graph_output():
    g = Graph("bcast")
    x = g.add_input("x", TensorType((4, 1), DType.F32))
    y = g.add_input("y", TensorType((4, 8), DType.F32))
    e = _op(g, "exp", [x], (4, 1))           # [4, 1] read by a [4, 8] op: not inlined
    s = _op(g, "mul", [e, y], (4, 8))
    n = _op(g, "neg", [s], (4, 8))           # one user of the same shape: inlined
    t = _op(g, "tanh", [n], (4, 8))
    g.set_outputs([t, s])                     # s is an output: kept
    from moecc.passes.tiled_lowering.context import LoweringContext

    plan = plan_inlining(LoweringContext(g, TilingParams()))
    assert plan == {n}


@pytest.mark.parametrize("target_name", ["moe-asic-v1", "moe-asic-edge"])
def test_staging_runs_a_fused_norm_block_by_block_with_its_temporaries_in_sram(target_name):
    graph = _rms_norm_graph(rows=128, hidden=256)
    from moecc.backend.asic.staging import asic_tiling_params
    from moecc.isa_spec.target import load_target

    target = load_target(target_name)
    lowered = lower_graph(graph, asic_tiling_params(target))
    (kernel,) = _kernels(lowered.module)
    aligned = align_runs(kernel)
    body = [s for s in aligned.body]
    assert all(isinstance(s, Compute | Reduce) for s in body), [type(s).__name__ for s in body]
    assert {s.dst.shape[0] for s in body} == {128}  # one row structure for the whole run
    fused = fuse_runs(aligned, {b.name for b in lowered.module.buffers})
    assert any(isinstance(s, For) for s in fused.body)  # the run became a loop over row blocks
    compiled = moecc.compile_graph(graph, target="asic", asic_target=target_name)
    x = np.random.default_rng(1).standard_normal((1, 128, 256)).astype(np.float32)
    got = compiled.run({"x": x})
    want = moecc.compile_graph(graph, target="ref").run({"x": x})
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-6)
    # The squares, sums and scales never reach HBM: the kernel writes only the output.
    assert compiled.report()["hbm_bytes"]["written"] == 128 * 256 * 4


def test_wide_weight_matmul_streams_its_weight_once():
    """A [128, 256] @ [256, 2048] product on the edge part (64-row tiles): the output tile covers
    all 128 rows, so the 2 MiB weight is read from HBM once."""
    g = Graph("mm")
    x = g.add_input("x", TensorType((128, 256), DType.F32))
    weight = np.random.default_rng(0).standard_normal((256, 2048)).astype(np.float32)
    w = g.add_const(weight, "w")
    g.set_outputs([_op(g, "matmul", [x, w], (128, 2048))])
    compiled = moecc.compile_graph(g, target="asic", asic_target="moe-asic-edge")
    xs = np.random.default_rng(1).standard_normal((128, 256)).astype(np.float32)
    got = compiled.run({"x": xs})
    np.testing.assert_allclose(next(iter(got.values())), xs @ weight, rtol=1e-4, atol=1e-3)
    read = compiled.report()["hbm_bytes"]["read"]
    assert read <= 256 * 2048 * 4 + 128 * 256 * 4 + 4096, read


def test_matmul_statements_keep_a_short_contraction_unrolled():
    g = Graph("mm2")
    x = g.add_input("x", TensorType((64, 512), DType.F32))
    w = g.add_const(np.ones((512, 64), dtype=np.float32), "w")
    g.set_outputs([_op(g, "matmul", [x, w], (64, 64))])
    lowered = lower_graph(g, TilingParams(tile_rows=64, tile_cols=64, k_tile=128))
    (kernel,) = _kernels(lowered.module)
    inner = [s for s in kernel.body if isinstance(s, For)]
    # Four k chunks: written out inside the output-tile loop, no loop of its own.
    assert not any(isinstance(s, For) for loop in inner for _, s, _ in walk(loop.body) if s is not loop)
    assert sum(isinstance(s, MatMul) for _, s, _ in walk(kernel.body)) == 4
