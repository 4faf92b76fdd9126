"""Forms the tiled lowering takes for in-order units (the ASIC) to shorten a layer's critical path.

- A rotary embedding with constant angles is one ``[rows, d]`` matrix in ``x``'s own layout
  (each head a tile of its own would be a chain of copies and vector ops per head), its result
  taking that layout; with run-time angles, or on the CPU, the per-head form stays.
- A gated MLP over fewer tokens than the array's row floor is one kernel (gate and up tiles
  back to back, each gated as soon as it is done, the down projection accumulated over them);
  with more tokens, the three kernels stay.
- Sibling projections (q, k, v of one input) below the row floor share a kernel, and are one
  product over their weights side by side when that takes fewer folds, keys and values first.
- Cross-kernel prefetch looks past weight fills: the first kernel after a fill has its leading
  weight loads selected in the kernel before the fill too.

Every form is checked against the reference interpreter on the ASIC simulator.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import moecc
from moecc.backend.asic.staging.params import asic_tiling_params
from moecc.compare import tolerances
from moecc.ir.builder import GraphBuilder
from moecc.ir.graph import Graph
from moecc.ir.tiled.nodes import For, MatMul, stmt_views, walk
from moecc.ir.types import DType, TensorType
from moecc.isa_spec.target import load_target
from moecc.passes.tiled_lowering.context import TilingParams
from moecc.passes.tiled_lowering.lower import lower_graph

V1 = load_target("moe-asic-v1")


def _rotary_graph(constant: bool) -> Graph:
    """``x`` in a projection's layout ``[B, S, H, D]``, transposed to heads first and rotated."""
    graph = Graph("rotary")
    x = graph.add_input("x", TensorType((1, 8, 4, 16), DType.F32))
    b = GraphBuilder(graph)
    rng = np.random.default_rng(1)
    if constant:
        c, s = (b.const(rng.standard_normal((1, 8, 8)).astype(np.float32), name) for name in ("cos", "sin"))
    else:
        c, s = (graph.add_input(name, TensorType((1, 8, 8), DType.F32)) for name in ("cos", "sin"))
    y = b.emit1("add", [x, x])
    t = b.emit1("transpose", [y], {"perm": (0, 2, 1, 3)})
    r = b.emit1("rotary_embedding", [t, c, s], {"interleaved": False, "rotary_dim": 0})
    graph.set_outputs([b.emit1("mul", [r, r])])
    return graph


def _rotary_views(module, kinds=("rotary",)) -> set[int]:  # noqa: ANN001
    """Ranks of the destinations the rotary kernels' statements write."""
    return {s.dst.rank for k in module.kernels if any(kind in k.name for kind in kinds)
            for _, s, _ in walk(k.body) if not isinstance(s, For) and hasattr(s, "dst")}


@pytest.mark.parametrize("constant", [True, False])
def test_rotary_with_constant_angles_is_one_matrix_on_in_order_units(constant: bool) -> None:
    graph = _rotary_graph(constant)
    rng = np.random.default_rng(2)
    feeds = {"x": rng.standard_normal((1, 8, 4, 16)).astype(np.float32)}
    if not constant:
        feeds.update(cos=rng.standard_normal((1, 8, 8)).astype(np.float32),
                     sin=rng.standard_normal((1, 8, 8)).astype(np.float32))
    (expected,) = moecc.compile_graph(graph, "ref").run(feeds).values()
    ranks = _rotary_views(lower_graph(graph, asic_tiling_params(V1)).module, ("rotary", "fused"))
    assert (2 in ranks) is constant, ranks  # [rows, half] tiles, or the per-head 4-D form only
    assert 4 in _rotary_views(lower_graph(graph, TilingParams()).module, ("rotary", "fused"))  # the CPU's form
    rtol, atol = tolerances("f32")
    for target in ("asic", "tiled", "cpu"):
        (got,) = moecc.compile_graph(graph, target).run(feeds).values()
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


def _mlp_graph(tokens: int) -> Graph:
    graph = Graph("mlp")
    x = graph.add_input("x", TensorType((tokens, 64), DType.F32))
    weights = {name: graph.add_input(name, TensorType(shape, DType.F32))
               for name, shape in (("g", (64, 192)), ("u", (64, 192)), ("d", (192, 64)))}
    b = GraphBuilder(graph)
    h = b.emit1("add", [x, x])
    m = b.emit1("gated_mlp", [h, weights["g"], weights["u"], weights["d"]], {"activation": "silu"})
    graph.set_outputs([b.emit1("add", [m, h])])
    return graph


@pytest.mark.parametrize(("tokens", "kernels"), [(8, 1), (40, 1), (50, 3), (128, 3)])
def test_gated_mlp_is_one_kernel_below_the_row_floor(tokens: int, kernels: int) -> None:
    """f32 on moe-asic-v1: a fold streams 3 passes per row, so below 128 / 3 = 42 rows it costs
    its weight load whatever streams; the MLP's three products then share one kernel (the ffn
    width of 192 is a full and an edge tile)."""
    graph = _mlp_graph(tokens)
    params = asic_tiling_params(V1)
    assert params.row_floor == 42
    lowering = lower_graph(graph, params)
    with_matmuls = [k.name for k in lowering.module.kernels if any(isinstance(s, MatMul) for _, s, _ in walk(k.body))]
    assert len(with_matmuls) == kernels, with_matmuls
    rng = np.random.default_rng(4)
    feeds = {"x": rng.standard_normal((tokens, 64)).astype(np.float32),
             "g": (rng.standard_normal((64, 192)) / 8).astype(np.float32),
             "u": (rng.standard_normal((64, 192)) / 8).astype(np.float32),
             "d": (rng.standard_normal((192, 64)) / 8).astype(np.float32)}
    (expected,) = moecc.compile_graph(graph, "ref").run(feeds).values()
    for precision in ("f32", "bf16"):
        rtol, atol = tolerances(precision)
        (got,) = moecc.compile_graph(graph, "asic", precision=precision).run(feeds).values()
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


def test_prefetch_looks_past_a_weight_fill() -> None:
    """Kernels ``first``, a weight fill, ``second``: the fill's load and ``second``'s leading
    weight load are both selected before ``first``'s matmul (cross-kernel prefetch past the
    fill), each once, and the program still computes ``(x @ w) @ w2``."""
    from moecc.backend.asic.isel import select_instructions
    from moecc.ir.affine import Affine
    from moecc.ir.kernel import Buffer, HbmRef, Kernel as KKernel, KernelModule, Load, LocalRef
    from moecc.passes.memory_plan import plan_memory
    from moecc.passes.weight_homes import is_fill_kernel
    from moecc.backend.asic import Simulator
    from moecc.backend.asic.codegen import build_program, hbm_regions
    from moecc.backend.asic.schedule import schedule
    from tests.test_asic_codegen import RNG, _two_matmul_kernels, hbm

    module = _two_matmul_kernels()
    planned, _ = plan_memory(module, V1, weight_homes=False)
    first, second = (s for s in planned.steps if isinstance(s, KKernel))
    end = max(b.offset + b.nbytes for k in (first, second) for b in k.buffers if b.space == "sram")
    fill_buffer = Buffer("w9.fill", "sram", DType.F32, (32, 32), 1, -(-end // 4096) * 4096 + 4096)
    fill = KKernel("fill_weights_0", (fill_buffer,),
                   (Load(LocalRef("w9.fill", 32, 32), HbmRef("w9", Affine(), 32, 32, 32)),), ("second_0",))
    assert is_fill_kernel(fill)
    hbm_buffers = [*planned.hbm, hbm("w9", (32, 32), "weight").placed(max(b.offset + b.nbytes for b in planned.hbm))]
    planned = KernelModule(hbm=hbm_buffers, steps=[first, fill, second], inputs=planned.inputs, outputs=planned.outputs)
    selected = select_instructions(planned, [first, fill, second], V1)
    stream = [i for i in selected if i.mnemonic != "li"]
    first_mm = next(n for n, i in enumerate(stream) if i.mnemonic.startswith("mxu.mm"))
    fill_loads = [n for n, i in enumerate(stream) if "load w9" in i.comment]
    w2_loads = [n for n, i in enumerate(stream) if i.mnemonic == "dma.ld" and "load w2" in i.comment]
    assert len(fill_loads) == 1 and fill_loads[0] < first_mm
    assert len(w2_loads) == 2 and w2_loads[0] < first_mm < w2_loads[1]  # j = 0 ahead, past the fill
    x, w, w2v, w9 = (RNG.standard_normal((32, 32)).astype("float32") for _ in range(4))
    scheduled, _ = schedule(selected)
    result = Simulator(build_program(scheduled, hbm_regions(planned), None), V1).run({"x": x, "w": w, "w2": w2v, "w9": w9})
    np.testing.assert_allclose(result.read("z"), (x @ w) @ w2v, rtol=1e-4, atol=1e-4)


def test_a_run_reads_what_it_wrote_from_a_block_local() -> None:
    """A residual add kept beyond its kernel and the RMSNorm reading it, in one run of
    element-wise statements: the add writes a block local, which is stored to the residual's
    buffer and read by the norm (no store and load back of the same bytes); a run this small
    is one block. The result is the reference's."""
    from moecc.backend.asic.staging.blocks import fuse_runs
    from moecc.ir.tiled.nodes import Copy

    graph = Graph("residual")
    x = graph.add_input("x", TensorType((32, 128), DType.F32))
    r = graph.add_input("r", TensorType((32, 128), DType.F32))
    b = GraphBuilder(graph)
    scale = b.const(np.linspace(0.5, 1.5, 128, dtype=np.float32), "scale")
    s = b.emit1("add", [x, r])
    n = b.emit1("rms_norm", [s, scale], {"epsilon": 1e-6, "axis": -1})
    graph.set_outputs([s, n])
    lowering = lower_graph(graph, asic_tiling_params(V1))
    (kernel,) = lowering.module.kernels
    fused = fuse_runs(kernel, {g.name for g in lowering.module.buffers}, 1 << 22, {g.name: g for g in lowering.module.buffers})
    stmts = [st for _, st, _ in walk(fused.body) if not isinstance(st, For)]
    assert not any(isinstance(st, For) for _, st, _ in walk(fused.body))  # one block
    stores = [st for st in stmts if isinstance(st, Copy) and st.src.buffer.endswith(".b32")]
    assert stores, [type(st).__name__ for st in stmts]
    residual = stores[0].dst.buffer
    writer = next(i for i, st in enumerate(stmts) if st is stores[0])
    assert all(v.buffer != residual for st in stmts[writer + 1:] for a, v in stmt_views(st) if a == "read")
    rng = np.random.default_rng(6)
    feeds = {"x": rng.standard_normal((32, 128)).astype(np.float32), "r": rng.standard_normal((32, 128)).astype(np.float32)}
    expected = list(moecc.compile_graph(graph, "ref").run(feeds).values())
    got = list(moecc.compile_graph(graph, "asic").run(feeds).values())
    rtol, atol = tolerances("f32")
    for want, have in zip(expected, got):
        np.testing.assert_allclose(have, want, rtol=rtol, atol=atol)


def _projections_graph(tokens: int) -> Graph:
    """q, k and v projections of one input (constant weights, one of them transposed by the
    exporter), and an element-wise op on q and on k after all three, as exporters order them."""
    graph = Graph("qkv")
    x = graph.add_input("x", TensorType((tokens, 64), DType.F32))
    b = GraphBuilder(graph)
    rng = np.random.default_rng(8)
    wq, wk = (b.const((rng.standard_normal((64, 64)) / 8).astype(np.float32), n) for n in ("wq", "wk"))
    wv = b.emit1("transpose", [b.const((rng.standard_normal((32, 64)) / 8).astype(np.float32), "wv_t")], {"perm": (1, 0)})
    q, k, v = (b.emit1("matmul", [x, w]) for w in (wq, wk, wv))
    graph.set_outputs([b.emit1("mul", [q, q]), b.emit1("tanh", [k]), v])
    return graph


@pytest.mark.parametrize(("tokens", "kernels"), [(16, 1), (64, 3)])
def test_sibling_projections_share_a_kernel_below_the_row_floor(tokens: int, kernels: int) -> None:
    graph = _projections_graph(tokens)
    lowering = lower_graph(graph, asic_tiling_params(V1))
    with_matmuls = [k for k in lowering.module.kernels if any(isinstance(s, MatMul) for _, s, _ in walk(k.body))]
    assert len(with_matmuls) == kernels, [k.name for k in with_matmuls]
    if kernels == 1:  # q and k (v is an output) side by side: one fold of 128 columns instead of two
        body = [s for _, s, _ in walk(with_matmuls[0].body) if not isinstance(s, For)]
        products = [s for s in body if isinstance(s, MatMul)]
        assert [p.b.shape for p in products] == [(64, 128), (64, 32)], [p.b.shape for p in products]
        # k (the tanh's) goes first: its element-wise op comes before q's copy out of the fold
        tanh_at = next(i for i, s in enumerate(body) if "tanh" in repr(getattr(s, "expr", "")))
        assert tanh_at > max(i for i, s in enumerate(body) if isinstance(s, MatMul))
    assert len(lower_graph(graph, TilingParams()).module.kernels) >= 3  # the CPU keeps a kernel each
    rng = np.random.default_rng(9)
    feeds = {"x": rng.standard_normal((tokens, 64)).astype(np.float32)}
    expected = list(moecc.compile_graph(graph, "ref").run(feeds).values())
    rtol, atol = tolerances("f32")
    for want, have in zip(expected, moecc.compile_graph(graph, "asic").run(feeds).values()):
        np.testing.assert_allclose(have, want, rtol=rtol, atol=atol)


def _attention_projections_graph(tokens: int, widths: tuple[int, int, int], transposed: bool,
                                 bias: bool = False) -> Graph:
    """q, k and v projections of one input feeding an attention op (so k and v are needed
    first), ``transposed``: every weight stored ``[out, in]`` and transposed by the graph;
    ``bias``: each projection adds a bias (Qwen's q, k and v)."""
    graph = Graph("qkv_attention")
    hidden = 64
    x = graph.add_input("x", TensorType((1, tokens, hidden), DType.F32))
    b = GraphBuilder(graph)
    rng = np.random.default_rng(11)
    outs = []
    for name, width in zip("qkv", widths):
        if transposed:
            w = b.emit1("transpose", [b.const((rng.standard_normal((width, hidden)) / 8).astype(np.float32), name)],
                        {"perm": (1, 0)})
        else:
            w = b.const((rng.standard_normal((hidden, width)) / 8).astype(np.float32), name)
        out = b.emit1("matmul", [x, w])
        if bias:
            out = b.emit1("add", [out, b.const(rng.standard_normal(width).astype(np.float32), f"b{name}")])
        outs.append(out)
    heads = [b.emit1("transpose", [b.emit1("reshape", [o], {"shape": (1, tokens, width // 16, 16)})],
                     {"perm": (0, 2, 1, 3)}) for o, width in zip(outs, widths)]
    att = b.emit1("attention", heads, {"scale": 0.25, "is_causal": True})
    graph.set_outputs([b.emit1("mul", [att, att])])
    return graph


@pytest.mark.parametrize(("tokens", "widths", "folds"), [
    (24, (64, 32, 32), 1),   # grouped-query heads: 128 columns, one fold instead of three
    (24, (96, 48, 48), 2),   # 192 columns: two folds instead of three
    (20, (128, 128, 128), 3),  # every width a whole fold: nothing to win, not merged
    (48, (64, 32, 32), 3),   # above the row floor: not merged
])
@pytest.mark.parametrize("transposed", [False, True])
def test_sibling_projections_merge_into_fewer_folds(tokens: int, widths: tuple[int, int, int], folds: int,
                                                    transposed: bool) -> None:
    """Below the row floor, sibling projections whose weights side by side take fewer folds are
    one product, keys and values first; the results match the reference on the ASIC."""
    graph = _attention_projections_graph(tokens, widths, transposed)
    module = lower_graph(graph, asic_tiling_params(V1)).module
    products = [s for k in module.kernels for _, s, _ in walk(k.body)
                if isinstance(s, MatMul) and s.blocks is None and s.b.shape[-2] == 64]
    assert len(products) == folds, [p.b.shape for p in products]
    if widths == (96, 48, 48):  # k and v fill the first fold, q the rest
        assert [p.b.shape[-1] for p in products] == [128, 64]
    rng = np.random.default_rng(12)
    feeds = {"x": rng.standard_normal((1, tokens, 64)).astype(np.float32)}
    (want,) = moecc.compile_graph(graph, "ref").run(feeds).values()
    rtol, atol = tolerances("f32")
    (have,) = moecc.compile_graph(graph, "asic").run(feeds).values()
    np.testing.assert_allclose(have, want, rtol=rtol, atol=atol)


@pytest.mark.parametrize("precision", ["f32", "bf16"])
def test_merged_projections_with_biases_match_the_reference(precision: str) -> None:
    """Merged projections each keep their own epilogue (a bias add) and precision."""
    graph = _attention_projections_graph(24, (96, 48, 48), transposed=True, bias=True)
    module = lower_graph(graph, asic_tiling_params(V1)).module
    assert sum(isinstance(s, MatMul) and s.b.shape[-2] == 64 for k in module.kernels for _, s, _ in walk(k.body)) == 2
    rng = np.random.default_rng(13)
    feeds = {"x": rng.standard_normal((1, 24, 64)).astype(np.float32)}
    (want,) = moecc.compile_graph(graph, "ref").run(feeds).values()
    rtol, atol = tolerances(precision)
    (have,) = moecc.compile_graph(graph, "asic", precision=precision).run(feeds).values()
    np.testing.assert_allclose(have, want, rtol=rtol, atol=atol)


def _plain_mlp_graph(tokens: int, bias: bool, act: str, transposed: bool = False) -> Graph:
    """x @ w1 (+ b1) -> act -> @ w2, with an exporter's reshapes around the activation, then a
    residual add (the second projection's epilogue); ``transposed``: w2 stored ``[out, in]``
    and transposed by the graph, as torch's Linear exports."""
    graph = Graph("mlp")
    x = graph.add_input("x", TensorType((1, tokens, 64), DType.F32))
    b = GraphBuilder(graph)
    rng = np.random.default_rng(10)
    w1 = b.const((rng.standard_normal((64, 200)) / 8).astype(np.float32), "w1")
    w2 = b.const((rng.standard_normal((200, 64)) / 8).astype(np.float32), "w2")
    if transposed:
        w2 = b.emit1("transpose", [b.const((rng.standard_normal((64, 200)) / 8).astype(np.float32), "w2_t")],
                     {"perm": (1, 0)})
    rows = b.emit1("reshape", [x], {"shape": (tokens, 64)})
    h = b.emit1("matmul", [rows, w1])
    if bias:
        h = b.emit1("add", [h, b.const(rng.standard_normal(200).astype(np.float32), "b1")])
    h = b.emit1("reshape", [h], {"shape": (1, tokens, 200)})
    attrs = {"approximate": "tanh"} if act == "gelu" else {}
    h = b.emit1(act, [h], attrs)
    h = b.emit1("reshape", [h], {"shape": (tokens, 200)})
    y = b.emit1("matmul", [h, w2])
    graph.set_outputs([b.emit1("add", [y, rows])])
    return graph


@pytest.mark.parametrize(("tokens", "bias", "act", "streamed", "transposed"),
                         [(24, True, "gelu", True, False), (24, False, "relu", True, True), (16, True, "silu", True, False),
                          (64, True, "gelu", False, False)])
def test_a_plain_mlp_is_one_streamed_kernel_below_the_row_floor(tokens: int, bias: bool, act: str,
                                                                 streamed: bool, transposed: bool) -> None:
    from moecc.passes.tiled_lowering.context import LoweringContext
    from moecc.passes.tiled_lowering.streamed_mlp import find_plain_mlp

    graph = _plain_mlp_graph(tokens, bias, act, transposed)
    params = asic_tiling_params(V1)
    ctx = LoweringContext(graph, params)
    first = next(op for op in graph.ops if op.kind == "matmul")
    assert (find_plain_mlp(first, ctx, graph.uses()) is not None) is streamed
    lowering = lower_graph(graph, params)
    with_matmuls = [k for k in lowering.module.kernels if any(isinstance(s, MatMul) for _, s, _ in walk(k.body))]
    assert len(with_matmuls) == (1 if streamed else 2), [k.name for k in with_matmuls]
    rng = np.random.default_rng(12)
    feeds = {"x": rng.standard_normal((1, tokens, 64)).astype(np.float32)}
    (expected,) = moecc.compile_graph(graph, "ref").run(feeds).values()
    for precision in ("f32", "bf16"):
        rtol, atol = tolerances(precision)
        (got,) = moecc.compile_graph(graph, "asic", precision=precision).run(feeds).values()
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)
    (tiled,) = moecc.compile_graph(graph, "tiled").run(feeds).values()  # the CPU's form is untouched
    np.testing.assert_allclose(tiled, expected, rtol=1e-5, atol=1e-5)


def test_a_hidden_activation_read_twice_is_not_streamed() -> None:
    """The chain stops when a value in it has a second reader (it must be stored)."""
    from moecc.passes.tiled_lowering.context import LoweringContext
    from moecc.passes.tiled_lowering.streamed_mlp import find_plain_mlp

    graph = _plain_mlp_graph(24, True, "gelu")
    act = next(op for op in graph.ops if op.kind == "gelu")
    graph.set_outputs([*graph.outputs, act.result])
    ctx = LoweringContext(graph, asic_tiling_params(V1))
    first = next(op for op in graph.ops if op.kind == "matmul")
    assert find_plain_mlp(first, ctx, graph.uses()) is None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 41), st.sampled_from([16, 64, 96, 136]), st.sampled_from([24, 128, 200, 300]),
       st.sampled_from(["gelu", "relu", "silu", "tanh"]), st.booleans(), st.booleans())
def test_streamed_mlps_property(tokens: int, hidden: int, ffn: int, act: str, bias: bool, gated: bool) -> None:
    """Random widths (edge tiles included) and activations, gated or plain: the one-kernel MLP
    gives the reference's outputs."""
    graph = Graph("mlp")
    x = graph.add_input("x", TensorType((tokens, hidden), DType.F32))
    b = GraphBuilder(graph)
    rng = np.random.default_rng(tokens * 7 + hidden + ffn)
    w = {n: b.const((rng.standard_normal(shape) / np.sqrt(shape[0])).astype(np.float32), n)
         for n, shape in (("w1", (hidden, ffn)), ("wu", (hidden, ffn)), ("w2", (ffn, hidden)))}
    h = b.emit1("add", [x, x])
    if gated:
        activation = {"gelu": "gelu", "relu": "relu", "silu": "silu", "tanh": "silu"}[act]
        y = b.emit1("gated_mlp", [h, w["w1"], w["wu"], w["w2"]], {"activation": activation})
    else:
        z = b.emit1("matmul", [h, w["w1"]])
        if bias:
            z = b.emit1("add", [z, b.const(rng.standard_normal(ffn).astype(np.float32), "b1")])
        z = b.emit1(act, [z], {"approximate": "none"} if act == "gelu" else {})
        y = b.emit1("matmul", [z, w["w2"]])
    graph.set_outputs([b.emit1("add", [y, h])])
    feeds = {"x": rng.standard_normal((tokens, hidden)).astype(np.float32)}
    (expected,) = moecc.compile_graph(graph, "ref").run(feeds).values()
    (got,) = moecc.compile_graph(graph, "asic").run(feeds).values()
    rtol, atol = tolerances("f32")
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


def test_every_layers_tables_are_one_weight() -> None:
    """The causal masks, block masks and rotary tables lowering makes are equal in every layer:
    each is one weight buffer, not one per layer; graph constants stay their own buffers."""
    from moecc.examples import build_example

    model = build_example("llama-block", seq=16, hidden=64, heads=4, kv_heads=2, n_layers=2, vocab=64)
    compiled = moecc.compile(model, target="asic")
    lowering = lower_graph(compiled.graph, asic_tiling_params(V1))
    made = [b.name for b in lowering.module.buffers if b.role == "weight" and b.name not in lowering.weight_sources]
    attentions = sum(1 for op in compiled.graph.ops if op.kind == "attention")
    assert attentions == 2
    assert sum(1 for name in made if name.endswith("_causal_packed")) == 1, made
    # (Square heads' value mask equals the key mask: then one buffer serves both.)
    assert sum(1 for name in made if name.endswith(("_key_blocks", "_value_blocks"))) in (1, 2), made
    assert sum(1 for name in made if name.endswith("_rows")) == 4, made  # cos and sin, for q's and k's heads
    graph_constants = [b for b in lowering.module.buffers if b.name in lowering.weight_sources]
    assert len({lowering.weight_sources[b.name] for b in graph_constants}) == len(graph_constants)
