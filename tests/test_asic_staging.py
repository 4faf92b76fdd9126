"""ASIC staging (backend/asic/staging): tiled IR -> kernel IR -> isel -> simulator, vs the tiled interpreter."""

from __future__ import annotations

import numpy as np
import pytest

import moecc
from moecc.backend.asic.codegen import generate_programs
from moecc.backend.asic.sim import Simulator
from moecc.backend.asic.staging import asic_tiling_params, stage_module
from moecc.compare import compare_outputs, tolerances
from moecc.examples import build_example, example_inputs, list_examples
from moecc.ir.affine import Affine
from moecc.ir.graph import Graph
from moecc.ir.kernel import CpuCall, Kernel as KKernel
from moecc.ir.tiled import (Binary, Buffer, Cast, Compute, Const, Copy, For, Gather, Kernel, MatMul, Operand, Reduce,
                            Select, TiledModule, TopK, Unary, View, run_tiled_module)
from moecc.ir.types import DType
from moecc.isa_spec.target import Target, load_target
from moecc.passes.memory_plan import plan_memory

TARGET = load_target("moe-asic-v1")


def _simulate(module: TiledModule, inputs: dict[str, np.ndarray], precision: str = "f32",
              staging_target: Target = TARGET) -> dict[str, np.ndarray]:
    """Stage, plan, select and simulate ``module``; outputs read back in their tiled dtypes."""
    staged = stage_module(module, {}, Graph("empty"), module.inputs, staging_target, precision)
    assert not staged.host_kernels, staged.host_rows
    planned, plan = plan_memory(staged.module, TARGET)
    image = np.zeros(plan.hbm_bytes_planned, dtype=np.uint8)
    hbm = {b.name: b for b in planned.hbm}
    for name, data in inputs.items():
        buf = hbm[name]
        flat = np.asarray(data).astype(buf.dtype.numpy).reshape(-1).view(np.uint8)
        image[buf.offset: buf.offset + flat.size] = flat
    for segment in generate_programs(planned, TARGET):
        image = Simulator(segment.program, TARGET).run(image).hbm
    out = {}
    for name in module.outputs:
        buf, tiled = hbm[name], module.buffer(name)
        raw = image[buf.offset: buf.offset + buf.elements * buf.dtype.itemsize].view(buf.dtype.numpy)
        out[name] = raw.astype(tiled.dtype.numpy).reshape(tiled.shape)
    return out


def _check(module: TiledModule, inputs: dict[str, np.ndarray], rtol: float = 1e-5, atol: float = 1e-6,
           staging_target: Target = TARGET) -> None:
    want = run_tiled_module(module, inputs)
    got = _simulate(module, inputs, staging_target=staging_target)
    problems = compare_outputs(got, {k: want[k] for k in module.outputs}, rtol=rtol, atol=atol)
    assert not problems, problems


def _module(buffers: list[Buffer], body: tuple, locals_: tuple[Buffer, ...] = ()) -> TiledModule:
    return TiledModule(tuple(buffers), (Kernel("k", locals_, body, ("/Test",)),),
                       tuple(b.name for b in buffers if b.role == "input"),
                       tuple(b.name for b in buffers if b.role == "output"))


def _g(name: str, dtype: DType, shape: tuple[int, ...], role: str) -> Buffer:
    return Buffer(name, "global", dtype, shape, role)


RNG = np.random.default_rng(0)


def test_compute_tree_with_broadcasts_and_bf16_store() -> None:
    x, col, y = View.contiguous("x", (3, 8, 16)), View("c", Affine(), (3, 8, 16), (8, 1, 0)), View.contiguous("y", (3, 8, 16))
    expr = Cast(DType.BF16, Binary("mul", Unary("exp", Binary("sub", Cast(DType.F32, Operand(x)), Operand(col))),
                                   Const(0.5, DType.F32)))
    m = _module([_g("x", DType.BF16, (3, 8, 16), "input"), _g("c", DType.F32, (3, 8), "input"),
                 _g("y", DType.BF16, (3, 8, 16), "output")], (Compute(y, expr),))
    _check(m, {"x": RNG.standard_normal((3, 8, 16)).astype("float32"), "c": RNG.standard_normal((3, 8)).astype("float32")},
           rtol=1e-2, atol=1e-2)


def test_compare_select_and_floor() -> None:
    a, b, y = View.contiguous("a", (8, 16)), View("b", Affine(), (8, 16), (0, 1)), View.contiguous("y", (8, 16))
    expr = Select(Binary("lt", Operand(a), Operand(b)), Unary("floor", Operand(a)), Binary("pow", Operand(b), Const(2.0, DType.F32)))
    m = _module([_g("a", DType.F32, (8, 16), "input"), _g("b", DType.F32, (16,), "input"), _g("y", DType.F32, (8, 16), "output")],
                (Compute(y, expr),))
    _check(m, {"a": 3 * RNG.standard_normal((8, 16)).astype("float32"), "b": RNG.standard_normal(16).astype("float32")})


def test_copy_transposed_and_reduce_min_strided() -> None:
    src = View("x", Affine(), (16, 8), (1, 16))  # x^T
    t = View.contiguous("t", (16, 8))
    red = Reduce("min", View.contiguous("r", (16, 1)), src)
    m = _module([_g("x", DType.F32, (8, 16), "input"), _g("t", DType.F32, (16, 8), "output"), _g("r", DType.F32, (16, 1), "output")],
                (Copy(t, src), red))
    _check(m, {"x": RNG.standard_normal((8, 16)).astype("float32")})


def test_matmul_accumulate_in_local_with_loop() -> None:
    acc = Buffer("acc", "local", DType.F32, (32, 24))
    body = (MatMul(View.contiguous("acc", (32, 24)), View("a", Affine(), (32, 16), (40, 1)), View.contiguous("w", (16, 24))),
            For("k", 1, (MatMul(View.contiguous("acc", (32, 24)), View("a", Affine.of("k") * 16 + 16, (32, 24), (40, 1)),
                                View("w", Affine(16 * 24), (24, 24), (1, 24)), accumulate=True, transpose_b=True),)),
            Copy(View.contiguous("y", (32, 24)), View.contiguous("acc", (32, 24))))
    m = _module([_g("a", DType.F32, (32, 40), "input"), _g("w", DType.F32, (40, 24), "input"), _g("y", DType.F32, (32, 24), "output")],
                body, (acc,))
    _check(m, {"a": RNG.standard_normal((32, 40)).astype("float32"), "w": RNG.standard_normal((40, 24)).astype("float32")},
           rtol=1e-4, atol=1e-4)


def test_gather_negative_indices_and_topk() -> None:
    body = (Gather(View.contiguous("g", (5, 12)), View.contiguous("t", (10, 12)), View.contiguous("i", (5,))),
            TopK(View.contiguous("v", (5, 3)), View.contiguous("j", (5, 3)), View.contiguous("g", (5, 12)), largest=False))
    m = _module([_g("t", DType.F32, (10, 12), "input"), _g("i", DType.I64, (5,), "input"), _g("g", DType.F32, (5, 12), "output"),
                 _g("v", DType.F32, (5, 3), "output"), _g("j", DType.I64, (5, 3), "output")], body)
    _check(m, {"t": RNG.standard_normal((10, 12)).astype("float32"), "i": np.array([0, -1, 3, 9, -10])})


def test_gather_from_rows_wider_than_the_stride_field() -> None:
    """Rows 400 bytes apart with a 256-byte stride field: gathered as sub-rows 200 bytes apart."""
    import dataclasses

    narrow = dataclasses.replace(TARGET, tile_limits=dataclasses.replace(TARGET.limits, stride_bytes=256))
    body = (For("c", 2, (Gather(View("g", Affine.of("c") * 50, (4, 50), (100, 1)), View("t", Affine.of("c") * 50, (6, 50), (100, 1)),
                                View.contiguous("i", (4,))),)),)
    m = _module([_g("t", DType.F32, (6, 100), "input"), _g("i", DType.I32, (4,), "input"), _g("g", DType.F32, (4, 100), "output")],
                body)
    _check(m, {"t": RNG.standard_normal((6, 100)).astype("float32"), "i": np.array([5, 0, -1, 2], dtype=np.int32)},
           staging_target=narrow)


@pytest.mark.parametrize("accumulate", [False, True])
def test_scatter_runs_on_the_chip(accumulate: bool) -> None:
    """Rows scattered by an index list (dma.scatter / dma.scatter_add): a repeated index keeps the
    last row, or adds every row; negative indices count from the end."""
    from moecc.ir.tiled import Scatter

    body = (Scatter(View.contiguous("y", (6, 4)), View.contiguous("i", (5,)), View.contiguous("x", (5, 4)),
                    accumulate=accumulate),)
    m = _module([_g("x", DType.F32, (5, 4), "input"), _g("i", DType.I32, (5,), "input"),
                 _g("y", DType.F32, (6, 4), "output")], body)
    _check(m, {"x": RNG.standard_normal((5, 4)).astype("float32"), "i": np.array([3, 0, 3, -1, 2], dtype=np.int32)})


def test_tiling_params_follow_the_part() -> None:
    from moecc.backend.asic.staging.params import K_FOLDS

    params = asic_tiling_params(TARGET)
    assert (params.k_tile, params.tile_cols) == (K_FOLDS * TARGET.mxu_rows, TARGET.mxu_cols)
    assert params.local_bytes < TARGET.sram_capacity_bytes


def test_precision_option_is_checked() -> None:
    with pytest.raises(moecc.MoeccError, match="precision 'f16' is not supported"):
        moecc.compile(build_example("bert-layer"), target="asic", precision="f16")


@pytest.mark.parametrize("precision", ["f32", "bf16"])
@pytest.mark.parametrize("name", [n for n, _ in list_examples()])
def test_examples_match_ref(name: str, precision: str) -> None:
    model = build_example(name)
    feeds = example_inputs(name, model)
    compiled = moecc.compile(model, target="asic", precision=precision)
    assert any(isinstance(s, KKernel) for s in compiled.executable.module.steps)
    got = compiled.run(feeds)
    want = moecc.compile(model, target="ref").run(feeds)
    rtol, atol = tolerances(precision)
    assert not compare_outputs(got, want, rtol=rtol, atol=atol)


def test_host_call_runs_its_graph_ops_on_the_host() -> None:
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 8])
    nodes = [helper.make_node("Exp", ["x"], ["e"], name="/Exp"),
             helper.make_node("Mod", ["e", "x"], ["m"], fmod=1, name="/Mod"),
             helper.make_node("Add", ["m", "x"], ["y"], name="/Add")]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y]), opset_imports=[helper.make_opsetid("", 17)])
    feeds = {"x": RNG.uniform(0.5, 2, (4, 8)).astype("float32")}
    compiled = moecc.compile(model, target="asic")
    kinds = [type(s).__name__ for s in compiled.executable.module.steps]
    assert kinds == ["Kernel", "CpuCall", "Kernel"]
    assert [row["kind"] for row in compiled.partition["host_ops"]] == ["mod"]
    assert not compare_outputs(compiled.run(feeds), moecc.compile(model, target="ref").run(feeds))


def test_kernel_left_to_the_host_survives_save_and_load(tmp_path) -> None:
    """A kernel staging cannot express (sin: the VPU has no sine) runs the tiled interpreter on
    the host; a saved and loaded model still runs it."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 8])
    nodes = [helper.make_node("Exp", ["x"], ["e"], name="/Exp"), helper.make_node("MatMul", ["e", "w"], ["p"], name="/MatMul"),
             helper.make_node("Sin", ["p"], ["y"], name="/Sin")]
    w = helper.make_tensor("w", TensorProto.FLOAT, [8, 8], RNG.standard_normal(64).astype("float32").tolist())
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y], [w]), opset_imports=[helper.make_opsetid("", 17)])
    feeds = {"x": RNG.standard_normal((4, 8)).astype("float32")}
    compiled = moecc.compile(model, target="asic")
    assert any(row["kind"] == "kernel" for row in compiled.partition["host_ops"])  # the sin kernel
    path = tmp_path / "m.moe"
    compiled.save(path)
    loaded = moecc.load(path)
    want = moecc.compile(model, target="ref").run(feeds)
    assert not compare_outputs(loaded.run(feeds), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("count", [0, 2, 3])
def test_run_time_loop_runs_on_the_chip(count: int) -> None:
    """A loop whose trip count is an input element: the chip runs ``count`` iterations (the
    rows past them keep their zeros)."""
    from moecc.ir.tiled import ElementRef

    body = (For("i", ElementRef("n", Affine()), (Compute(View("y", Affine.of("i") * 4, (1, 4), (4, 1)),
                                                          Unary("exp", Operand(View("x", Affine.of("i") * 4, (1, 4), (4, 1))))),),
                max_count=3),)
    m = _module([_g("x", DType.F32, (3, 4), "input"), _g("n", DType.I64, (1,), "input"), _g("y", DType.F32, (3, 4), "output")], body)
    _check(m, {"x": RNG.standard_normal((3, 4)).astype("float32"), "n": np.array([count])})


# -- staging quality: what the kernel does, not only what it computes ---------------------------

def _staged_kernel(module: TiledModule, precision: str = "f32") -> KKernel:
    staged = stage_module(module, {}, Graph("empty"), module.inputs, TARGET, precision)
    assert not staged.host_kernels, staged.host_rows
    kernels = [s for s in staged.module.steps if isinstance(s, KKernel)]
    assert len(kernels) == 1
    return kernels[0]


def _executed(kernel: KKernel, kind: type, where=lambda s: True) -> int:
    """How many ``kind`` statements (matching ``where``) one run of ``kernel`` executes."""
    from moecc.ir.kernel import For as KFor

    def count(body) -> int:
        total = 0
        for s in body:
            if isinstance(s, KFor):
                total += s.count * count(s.body)
            elif isinstance(s, kind) and where(s):
                total += 1
        return total

    return count(kernel.body)


def test_transposing_copy_moves_whole_planes() -> None:
    """[heads, seq, d] -> [seq, heads, d]: one DMA pair per head (seq rows), not per token."""
    from moecc.ir.kernel import Load, Store

    src = View("x", Affine(), (64, 4, 16), (16, 1024, 1))
    m = _module([_g("x", DType.F32, (4, 64, 16), "input"), _g("y", DType.F32, (64, 4, 16), "output")],
                (Copy(View.contiguous("y", (64, 4, 16)), src),))
    kernel = _staged_kernel(m)
    assert _executed(kernel, Load) <= 4 and _executed(kernel, Store) <= 4
    _check(m, {"x": RNG.standard_normal((4, 64, 16)).astype("float32")})


def test_transposed_window_loads_one_dma_per_tile_row() -> None:
    """x^T read by a compute: each tile row is one DMA of 1-element rows (16 per 16 x 64 tile),
    not one DMA per element (1,024)."""
    from moecc.ir.kernel import Load

    src = View("x", Affine(), (16, 64), (1, 16))  # x^T, x stored [64, 16]
    y = View.contiguous("y", (16, 64))
    m = _module([_g("x", DType.F32, (64, 16), "input"), _g("y", DType.F32, (16, 64), "output")],
                (Compute(y, Binary("mul", Operand(src), Const(0.5, DType.F32))),))
    kernel = _staged_kernel(m)
    assert _executed(kernel, Load) <= 16
    _check(m, {"x": RNG.standard_normal((64, 16)).astype("float32")})


def _projection(n: int, n_tile: int) -> TiledModule:
    """y[32, n] = x[32, 16] @ w[16, n], output tiles of n_tile columns through a local acc (the
    tiled lowering's form), the edge tile through a narrower view of the same acc."""
    full, edge = divmod(n, n_tile)
    acc = Buffer("acc", "local", DType.F32, (32, n_tile))
    x = View.contiguous("x", (32, 16))
    body: list = [For("j", full, (MatMul(View.contiguous("acc", (32, n_tile)), x, View("w", Affine.of("j") * n_tile, (16, n_tile), (n, 1))),
                                  Copy(View("y", Affine.of("j") * n_tile, (32, n_tile), (n, 1)), View.contiguous("acc", (32, n_tile)))))]
    if edge:
        part = View("acc", Affine(), (32, edge), (n_tile, 1))
        body += [MatMul(part, x, View("w", Affine(full * n_tile), (16, edge), (n, 1))),
                 Copy(View("y", Affine(full * n_tile), (32, edge), (n, 1)), part)]
    return _module([_g("x", DType.F32, (32, 16), "input"), _g("w", DType.F32, (16, n), "input"),
                    _g("y", DType.F32, (32, n), "output")], tuple(body), (acc,))


def test_matmul_keeps_the_activation_resident_and_the_edge_tile_whole() -> None:
    from moecc.ir.kernel import Load, Vector

    m = _projection(5 * 24 + 8, 24)
    kernel = _staged_kernel(m)
    # x is loaded once, for the loop's tiles and the edge tile's statement alike.
    assert _executed(kernel, Load, lambda s: s.src.buffer == "x") == 1
    # The 8-column edge tile has an accumulator of its own: no row-by-row moves.
    assert _executed(kernel, Vector, lambda s: s.op == "mov") == 6
    # Output tiles are multi-buffered: accumulator and the SRAM tile the store reads.
    slotted = {b.name for b in kernel.buffers if b.slots > 1}
    assert "acc" in slotted and any(b.space == "sram" and b.name in slotted and b.shape == (32, 24) for b in kernel.buffers)
    _check(m, {"x": RNG.standard_normal((32, 16)).astype("float32"), "w": RNG.standard_normal((16, 128)).astype("float32")},
           rtol=1e-4, atol=1e-4)


def test_loop_around_one_statement_is_staged_as_one_statement() -> None:
    """A loop over column blocks of an element-wise statement: merged into whole rows."""
    from moecc.ir.kernel import Load

    blocks = For("c", 4, (Compute(View("y", Affine.of("c") * 16, (32, 16), (64, 1)),
                                  Binary("mul", Operand(View("x", Affine.of("c") * 16, (32, 16), (64, 1))),
                                         Operand(View("b", Affine.of("c") * 16, (32, 16), (0, 1))))),))
    m = _module([_g("x", DType.F32, (32, 64), "input"), _g("b", DType.F32, (64,), "input"), _g("y", DType.F32, (32, 64), "output")],
                (blocks,))
    kernel = _staged_kernel(m)
    assert _executed(kernel, Load, lambda s: s.src.buffer == "x") == 1
    _check(m, {"x": RNG.standard_normal((32, 64)).astype("float32"), "b": RNG.standard_normal(64).astype("float32")})


def test_in_place_compute() -> None:
    y = View.contiguous("y", (8, 4))
    body = (Copy(y, View.contiguous("x", (8, 4))), Compute(y, Binary("mul", Operand(y), Operand(View("s", Affine(), (8, 4), (1, 0))))))
    m = _module([_g("x", DType.F32, (8, 4), "input"), _g("s", DType.F32, (8,), "input"), _g("y", DType.F32, (8, 4), "output")], body)
    _check(m, {"x": RNG.standard_normal((8, 4)).astype("float32"), "s": RNG.standard_normal(8).astype("float32")})


def _softmax(rows: int, cols: int, partial_global: bool = False) -> TiledModule:
    """Softmax over rows as the tiled lowering writes it: kernel-level statements in sequence."""
    x, y = View.contiguous("x", (rows, cols)), View.contiguous("y", (rows, cols))
    mx, e, s = View.contiguous("mx", (rows, 1)), View.contiguous("e", (rows, cols)), View.contiguous("s", (rows, 1))
    body = (Reduce("max", mx, x), Compute(e, Unary("exp", Binary("sub", Operand(x), Operand(View("mx", Affine(), (rows, cols), (1, 0)))))),
            Reduce("sum", s, e), Compute(y, Binary("div", Operand(e), Operand(View("s", Affine(), (rows, cols), (1, 0))))))
    locals_ = [Buffer("e", "local", DType.F32, (rows, cols)), Buffer("mx", "local", DType.F32, (rows, 1))]
    globals_ = [_g("x", DType.F32, (rows, cols), "input"), _g("y", DType.F32, (rows, cols), "output")]
    if partial_global:
        globals_.append(_g("s", DType.F32, (rows, 1), "temp"))
    else:
        locals_.append(Buffer("s", "local", DType.F32, (rows, 1)))
    return _module(globals_, body, tuple(locals_))


def test_statements_of_a_kernel_run_block_by_block() -> None:
    """The softmax's four statements run per block of rows; x is loaded once per block, the
    locals shrink to a block, and the partial sums in a global temporary stay in SRAM."""
    from moecc.ir.kernel import For as KFor, Load, Store

    m = _softmax(256, 96, partial_global=True)
    kernel = _staged_kernel(m)
    assert isinstance(kernel.body[0], KFor) or len([s for s in kernel.body if isinstance(s, KFor)]) >= 1
    assert _executed(kernel, Load) == _executed(kernel, Store) >= 2
    assert _executed(kernel, Store, lambda s: s.dst.buffer == "s") == 0
    assert all(b.elements < 256 * 96 for b in kernel.buffers)
    _check(m, {"x": RNG.standard_normal((256, 96)).astype("float32")})


def test_contraction_operand_blocks_load_once_per_row_block() -> None:
    """for m { for n { acc = a[m, k0] @ w[k0, n]; for k { acc += a[m, k] @ w[k, n] }; y <- acc } }:
    the a blocks of a row block load once, before the loop over output tiles (not per tile)."""
    from moecc.ir.kernel import Load

    m_, k_, n_ = 2, 4, 4  # row blocks of 16, contraction chunks of 32, output tiles of 8
    a_ = lambda off: View("a", off, (16, 32), (k_ * 32, 1))  # noqa: E731
    w_ = lambda off: View("w", off, (32, 8), (n_ * 8, 1))  # noqa: E731
    acc = View.contiguous("acc", (16, 8))
    i, j, k = Affine.of("i"), Affine.of("j"), Affine.of("k")
    body = (For("i", m_, (For("j", n_, (
        MatMul(acc, a_(i * (16 * k_ * 32)), w_(j * 8)),
        For("k", k_ - 1, (MatMul(acc, a_(i * (16 * k_ * 32) + k * 32 + 32), w_(k * (32 * n_ * 8) + j * 8 + 32 * n_ * 8),
                                 accumulate=True),)),
        Copy(View("y", i * (16 * n_ * 8) + j * 8, (16, 8), (n_ * 8, 1)), acc))),)),)
    m = _module([_g("a", DType.F32, (32, 128), "input"), _g("w", DType.F32, (128, 32), "input"), _g("y", DType.F32, (32, 32), "output")],
                body, (Buffer("acc", "local", DType.F32, (16, 8)),))
    kernel = _staged_kernel(m)
    assert _executed(kernel, Load, lambda s: s.src.buffer == "a") == m_ * k_
    _check(m, {"a": RNG.standard_normal((32, 128)).astype("float32"), "w": RNG.standard_normal((128, 32)).astype("float32")},
           rtol=1e-4, atol=1e-4)


def test_chunked_row_reduction_is_one_reduction() -> None:
    """A layer norm's sum of squares in two column chunks of a local: one reduction over whole
    rows (no row-by-row moves of the local's column halves), blocks of rows as the rest."""
    from moecc.backend.asic.staging.blocks import merge_reductions
    from moecc.ir.kernel import Vector as KVector

    x, sq = View.contiguous("x", (64, 128)), View.contiguous("sq", (64, 128))
    half = lambda v, c: View(v.buffer, Affine(c), (64, 64), (128, 1))  # noqa: E731
    s = View.contiguous("s", (64, 1))
    body = (Compute(sq, Binary("mul", Operand(x), Operand(x))),
            Reduce("sum", s, half(sq, 0)), Reduce("sum", s, half(sq, 64), accumulate=True),
            Compute(View.contiguous("y", (64, 128)), Binary("div", Operand(x), Operand(View("s", Affine(), (64, 128), (1, 0))))))
    assert len(merge_reductions(body)) == 3
    m = _module([_g("x", DType.F32, (64, 128), "input"), _g("y", DType.F32, (64, 128), "output")], body,
                (Buffer("sq", "local", DType.F32, (64, 128)), Buffer("s", "local", DType.F32, (64, 1))))
    kernel = _staged_kernel(m)
    assert _executed(kernel, KVector, lambda v: v.op == "mov") == 0
    _check(m, {"x": RNG.standard_normal((64, 128)).astype("float32")}, rtol=1e-4, atol=1e-4)


def test_batch_over_a_shared_weight_is_more_rows() -> None:
    """[2, 48, 32] @ w[32, 24] (the weight broadcast over the batch): one 96-row product."""
    from moecc.ir.kernel import MatMul as KMatMul

    acc = View.contiguous("acc", (2, 48, 24))
    body = (MatMul(acc, View.contiguous("x", (2, 48, 32)), View("w", Affine(), (2, 32, 24), (0, 24, 1))),
            Copy(View.contiguous("y", (2, 48, 24)), acc))
    m = _module([_g("x", DType.F32, (2, 48, 32), "input"), _g("w", DType.F32, (32, 24), "input"),
                 _g("y", DType.F32, (2, 48, 24), "output")], body, (Buffer("acc", "local", DType.F32, (2, 48, 24)),))
    kernel = _staged_kernel(m)
    assert _executed(kernel, KMatMul) == 1
    _check(m, {"x": RNG.standard_normal((2, 48, 32)).astype("float32"), "w": RNG.standard_normal((32, 24)).astype("float32")},
           rtol=1e-4, atol=1e-4)


def test_gather_of_column_blocks_is_one_gather() -> None:
    from moecc.ir.kernel import Gather as KGather

    body = (For("c", 4, (Gather(View("g", Affine.of("c") * 8, (5, 8), (32, 1)), View("t", Affine.of("c") * 8, (10, 8), (32, 1)),
                                View.contiguous("i", (5,))),)),)
    m = _module([_g("t", DType.F32, (10, 32), "input"), _g("i", DType.I32, (5,), "input"), _g("g", DType.F32, (5, 32), "output")], body)
    assert _executed(_staged_kernel(m), KGather) == 1
    _check(m, {"t": RNG.standard_normal((10, 32)).astype("float32"), "i": np.array([3, -1, 0, 9, 2], dtype=np.int32)})


def test_kernel_restaged_without_resident_tiles_when_the_sram_is_short() -> None:
    """A part whose SRAM cannot hold the kernel's tiles: staged again the plain way (every tile
    loads its operands), not with operands hoisted and kept."""
    import dataclasses

    from moecc.ir.kernel import Load

    m = _projection(5 * 24 + 8, 24)
    tiny = dataclasses.replace(TARGET, sram_capacity_bytes=4096)
    staged = stage_module(m, {}, Graph("empty"), m.inputs, tiny)
    kernel = next(s for s in staged.module.steps if isinstance(s, KKernel))
    assert _executed(kernel, Load, lambda s: s.src.buffer == "x") == 6
    assert _executed(_staged_kernel(m), Load, lambda s: s.src.buffer == "x") == 1


def test_private_temporary_in_column_blocks_stays_in_sram() -> None:
    """h = relu(x @ w1) written and read back in 16-column blocks of a global temporary only
    this kernel touches, then y = h @ w2: h lives in SRAM, laid out by column blocks (each
    block a contiguous tile), and the second product runs per block of k."""
    from moecc.ir.kernel import Load, Store

    acc = View.contiguous("acc", (32, 16))
    j = Affine.of("j")
    h_block = View("h", j * 16, (32, 16), (64, 1))
    body = (For("j", 4, (MatMul(acc, View.contiguous("x", (32, 24)), View("w1", j * 16, (24, 16), (64, 1))),
                         Copy(h_block, acc))),
            For("j", 4, (Compute(h_block, Binary("max", Operand(h_block), Const(0.0, DType.F32))),)),
            MatMul(View.contiguous("acc2", (32, 8)), View.contiguous("h", (32, 64)), View.contiguous("w2", (64, 8))),
            Copy(View.contiguous("y", (32, 8)), View.contiguous("acc2", (32, 8))))
    m = _module([_g("x", DType.F32, (32, 24), "input"), _g("w1", DType.F32, (24, 64), "input"), _g("w2", DType.F32, (64, 8), "input"),
                 _g("h", DType.F32, (32, 64), "temp"), _g("y", DType.F32, (32, 8), "output")], body,
                (Buffer("acc", "local", DType.F32, (32, 16)), Buffer("acc2", "local", DType.F32, (32, 8))))
    kernel = _staged_kernel(m)
    assert _executed(kernel, Store, lambda s: s.dst.buffer == "h") == 0
    assert _executed(kernel, Load, lambda s: s.src.buffer == "h") == 0
    _check(m, {"x": RNG.standard_normal((32, 24)).astype("float32"), "w1": RNG.standard_normal((24, 64)).astype("float32"),
               "w2": RNG.standard_normal((64, 8)).astype("float32")}, rtol=1e-4, atol=1e-4)


def test_a_matmul_with_run_time_rows_runs_whole_tiles_on_the_chip() -> None:
    """The kernel IR's tiles have static shapes: a tiled matmul over a run-time number of rows
    multiplies every row (the IR leaves the rows past the count unspecified)."""
    from moecc.ir.tiled import ElementRef
    from moecc.ir.tiled.nodes import MatMul

    body = (MatMul(View("y", Affine(), (4, 4), (4, 1)), View("a", Affine(), (4, 4), (4, 1)),
                   View("b", Affine(), (4, 4), (4, 1)), rows=ElementRef("n", Affine())),)
    m = _module([_g("a", DType.F32, (4, 4), "input"), _g("b", DType.F32, (4, 4), "input"),
                 _g("n", DType.I32, (1,), "input"), _g("y", DType.F32, (4, 4), "output")], body)
    inputs = {"a": RNG.standard_normal((4, 4)).astype("float32"), "b": RNG.standard_normal((4, 4)).astype("float32"),
              "n": np.array([2], dtype=np.int32)}
    got = _simulate(m, inputs)["y"]
    np.testing.assert_allclose(got[:2], run_tiled_module(m, inputs)["y"][:2], rtol=1e-5, atol=1e-6)


