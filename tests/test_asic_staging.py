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


def test_scatter_kernel_becomes_a_host_step() -> None:
    from moecc.ir.tiled import Scatter

    body = (Scatter(View.contiguous("y", (4, 4)), View.contiguous("i", (2,)), View.contiguous("x", (2, 4))),)
    m = _module([_g("x", DType.F32, (2, 4), "input"), _g("i", DType.I32, (2,), "input"), _g("y", DType.F32, (4, 4), "output")], body)
    staged = stage_module(m, {}, Graph("empty"), m.inputs, TARGET)
    assert isinstance(staged.module.steps[0], CpuCall) and "scatter" in staged.host_rows[0]["reason"]


def test_tiling_params_follow_the_part() -> None:
    from moecc.backend.asic.staging.params import K_FOLDS

    params = asic_tiling_params(TARGET)
    assert (params.k_tile, params.tile_cols) == (K_FOLDS * TARGET.mxu_rows, TARGET.mxu_cols)
    assert params.local_bytes < TARGET.sram_capacity_bytes


def test_lowering_option_is_checked() -> None:
    with pytest.raises(moecc.MoeccError, match="lowering"):
        moecc.compile(build_example("bert-layer"), target="asic", lowering="nope")


@pytest.mark.parametrize("precision", ["f32", "bf16"])
@pytest.mark.parametrize("name", [n for n, _ in list_examples()])
def test_examples_match_ref(name: str, precision: str) -> None:
    model = build_example(name)
    feeds = example_inputs(name, model)
    compiled = moecc.compile(model, target="asic", lowering="tiled", precision=precision)
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
    compiled = moecc.compile(model, target="asic", lowering="tiled")
    kinds = [type(s).__name__ for s in compiled.executable.module.steps]
    assert kinds == ["Kernel", "CpuCall", "Kernel"]
    assert [row["kind"] for row in compiled.partition["host_ops"]] == ["mod"]
    assert not compare_outputs(compiled.run(feeds), moecc.compile(model, target="ref").run(feeds))


def test_kernel_left_to_the_host_survives_save_and_load(tmp_path) -> None:
    model = build_example("dense-moe")
    feeds = example_inputs("dense-moe", model)
    compiled = moecc.compile(model, target="asic", lowering="tiled")
    assert any(row["kind"] == "kernel" for row in compiled.partition["host_ops"])  # the scatter kernel
    path = tmp_path / "m.moe"
    compiled.save(path)
    loaded = moecc.load(path)
    want = moecc.compile(model, target="ref").run(feeds)
    assert not compare_outputs(loaded.run(feeds), want, rtol=1e-4, atol=1e-5)


def test_run_time_loop_kernel_runs_on_the_host_over_the_image() -> None:
    from moecc.backend.asic.staging import host_kernel_steps
    from moecc.ir.tiled import ElementRef

    body = (For("i", ElementRef("n", Affine()), (Compute(View("y", Affine.of("i") * 4, (1, 4), (4, 1)),
                                                          Unary("exp", Operand(View("x", Affine.of("i") * 4, (1, 4), (4, 1))))),),
                max_count=3),)
    m = _module([_g("x", DType.F32, (3, 4), "input"), _g("n", DType.I64, (1,), "input"), _g("y", DType.F32, (3, 4), "output")], body)
    staged = stage_module(m, {}, Graph("empty"), m.inputs, TARGET)
    assert "run-time trip count" in staged.host_rows[0]["reason"]
    planned, plan = plan_memory(staged.module, TARGET)
    hbm = {b.name: b for b in planned.hbm}
    image = np.zeros(plan.hbm_bytes_planned, dtype=np.uint8)
    inputs = {"x": RNG.standard_normal((3, 4)).astype("float32"), "n": np.array([2])}
    for name, data in inputs.items():
        flat = data.astype(hbm[name].dtype.numpy).reshape(-1).view(np.uint8)
        image[hbm[name].offset: hbm[name].offset + flat.size] = flat
    host_kernel_steps(staged.host_kernels, hbm)["k"](image)
    y = image[hbm["y"].offset: hbm["y"].offset + 48].view(np.float32).reshape(3, 4)
    np.testing.assert_array_equal(y, run_tiled_module(m, inputs)["y"])
