"""Exact sparsity on the ASIC: weights with all-zero MXU blocks run ``mxu.mmsp`` and skip those
blocks' loads; 2:4 weights are stored compressed and run ``mxu.mm24``. Outputs are bitwise the
dense program's; MXU cycles and HBM bytes fall with the zeros."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import moecc
from moecc.backend.asic.staging import module as staging_module
from moecc.backend.asic.staging.sparse_weights import SparsePlan
from moecc.ir.kernel_parser import parse_kernel_module
from moecc.ir.kernel_printer import print_kernel_module
from moecc.ir.sparse24 import is_2_4

BLOCK = 128  # moe-asic-v1's MXU edge


def _linear(weight: np.ndarray, *, gemm_trans_b: bool = False, rows: int = 128) -> bytes:
    """``y = x @ W + b`` (MatMul + Add), or ``Gemm(x, W, b, transB=1)`` with W stored n x k."""
    rng = np.random.default_rng(3)
    n = weight.shape[0] if gemm_trans_b else weight.shape[1]
    k = weight.shape[1] if gemm_trans_b else weight.shape[0]
    bias = rng.standard_normal(n).astype(np.float32)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, k])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, n])
    if gemm_trans_b:
        nodes = [helper.make_node("Gemm", ["x", "W", "B"], ["y"], transB=1)]
    else:
        nodes = [helper.make_node("MatMul", ["x", "W"], ["t"]), helper.make_node("Add", ["t", "B"], ["y"])]
    graph = helper.make_graph(nodes, "linear", [x], [y],
                              [numpy_helper.from_array(weight, "W"), numpy_helper.from_array(bias, "B")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def _half_zero_tiles(k: int, n: int, seed: int = 0) -> np.ndarray:
    w = np.random.default_rng(seed).standard_normal((k, n)).astype(np.float32)
    for i in range(k // BLOCK):
        for j in range(n // BLOCK):
            if (i + j) % 2 == 0:
                w[i * BLOCK:(i + 1) * BLOCK, j * BLOCK:(j + 1) * BLOCK] = 0
    return w


def _two_four(k: int, n: int, seed: int = 0) -> np.ndarray:
    w = np.random.default_rng(seed).standard_normal((k, n)).astype(np.float32)
    groups = w.reshape(k // 4, 4, n)
    keep = np.zeros(groups.shape, dtype=bool)
    np.put_along_axis(keep, np.argsort(-np.abs(groups), axis=1)[:, :2], True, axis=1)
    return np.where(keep, groups, 0).reshape(k, n)


def _dense_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    """Staging as before sparse weights: every weight dense."""
    monkeypatch.setattr(staging_module, "plan_sparse_weights", lambda *args: SparsePlan())


def _run(model: bytes, x: np.ndarray, precision: str = "f32") -> tuple[np.ndarray, dict]:
    compiled = moecc.compile(model, "asic", precision=precision)
    out = compiled.run({"x": x})["y"]
    return out, compiled.report()


@pytest.mark.parametrize("precision", ["f32", "bf16"])
@pytest.mark.parametrize("gemm", [False, True], ids=["matmul", "gemm-transB"])
def test_zero_tiles_are_skipped_and_results_unchanged(monkeypatch: pytest.MonkeyPatch, precision: str,
                                                      gemm: bool) -> None:
    w = _half_zero_tiles(256, 512)
    model = _linear(np.ascontiguousarray(w.T) if gemm else w, gemm_trans_b=gemm)
    x = np.random.default_rng(1).standard_normal((128, 256)).astype(np.float32)
    sparse_out, sparse = _run(model, x, precision)
    (row,) = sparse["sparse_weights"]
    assert (row["form"], row["zero_blocks"], row["total_blocks"]) == ("blocks", 4, 8)
    with monkeypatch.context() as patch:
        _dense_plan(patch)
        dense_out, dense = _run(model, x, precision)
    assert dense["sparse_weights"] == []
    np.testing.assert_array_equal(sparse_out, dense_out)  # bit for bit
    assert sparse["units"]["mxu"]["busy_cycles"] <= 0.55 * dense["units"]["mxu"]["busy_cycles"]
    itemsize = 2 if precision == "bf16" else 4
    saved = dense["hbm_bytes"]["read"] - sparse["hbm_bytes"]["read"]
    assert saved >= 0.95 * (w.size // 2) * itemsize  # the zero half of W is never streamed
    assert sparse["cycles"] < dense["cycles"]


@pytest.mark.parametrize("precision", ["f32", "bf16"])
@pytest.mark.parametrize("gemm", [False, True], ids=["matmul", "gemm-transB"])
def test_2_4_weights_run_compressed(monkeypatch: pytest.MonkeyPatch, precision: str, gemm: bool) -> None:
    w = _two_four(256, 512)
    assert is_2_4(w)
    model = _linear(np.ascontiguousarray(w.T) if gemm else w, gemm_trans_b=gemm)
    x = np.random.default_rng(2).standard_normal((128, 256)).astype(np.float32)
    compiled = moecc.compile(model, "asic", precision=precision)
    sparse_out = compiled.run({"x": x})["y"]
    sparse = compiled.report()
    (row,) = sparse["sparse_weights"]
    assert row["form"] == "2:4" and not row["dense_kept"]
    assert row["stored_bytes"] <= 0.65 * row["dense_bytes"]
    hbm = {b.name for b in compiled.executable.module.hbm}
    name = row["weight"]  # W, or the constant folding its transpose made
    assert name not in hbm and {name + "__values", name + "__positions"} <= hbm
    assert "mxu.mm24" in compiled.ir("asm")
    with monkeypatch.context() as patch:
        _dense_plan(patch)
        dense_out, dense = _run(model, x, precision)
    np.testing.assert_array_equal(sparse_out, dense_out)
    assert sparse["units"]["mxu"]["busy_cycles"] <= 0.55 * dense["units"]["mxu"]["busy_cycles"]
    assert sparse["hbm_bytes"]["read"] < dense["hbm_bytes"]["read"]


def test_dense_weights_are_untouched() -> None:
    w = np.random.default_rng(4).standard_normal((256, 512)).astype(np.float32)
    compiled = moecc.compile(_linear(w), "asic")
    assert compiled.report()["sparse_weights"] == []
    asm = compiled.ir("asm")
    assert "mxu.mmsp" not in asm and "mxu.mm24" not in asm


def test_a_weight_read_by_another_op_stays_dense() -> None:
    """W feeds the matmul and an Add: only a weight every reader of which is a matmul's weight
    operand is stored or loaded sparse."""
    w = _two_four(128, 128)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [128, 128])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [128, 128])
    nodes = [helper.make_node("MatMul", ["x", "W"], ["t"]), helper.make_node("Add", ["t", "W"], ["y"])]
    graph = helper.make_graph(nodes, "g", [x], [y], [numpy_helper.from_array(w, "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    compiled = moecc.compile(model, "asic")
    assert compiled.report()["sparse_weights"] == []
    feed = np.random.default_rng(0).standard_normal((128, 128)).astype(np.float32)
    np.testing.assert_allclose(compiled.run({"x": feed})["y"], feed @ w + w, rtol=1e-5, atol=1e-5)


def test_sparse_kernel_ir_round_trips_and_interprets() -> None:
    """The kernel IR prints the sparse forms and reads them back; the kernel interpreter agrees
    with the simulator on them."""
    from moecc.ir.kernel_interpreter import run_kernel_module

    for w in (_half_zero_tiles(256, 256), _two_four(256, 256)):
        compiled = moecc.compile(_linear(w), "asic")
        module = compiled.executable.module
        text = print_kernel_module(module)
        assert ("skip_zero_blocks" in text) or ("positions" in text)
        assert print_kernel_module(parse_kernel_module(text)) == text
        x = np.random.default_rng(5).standard_normal((128, 256)).astype(np.float32)
        simulated = compiled.run({"x": x})["y"]
        interpreted = run_kernel_module(module, {"x": x, **compiled.executable.weights})["y"]
        np.testing.assert_array_equal(interpreted.reshape(simulated.shape), simulated)


def test_artifact_round_trip_keeps_the_sparse_program(tmp_path) -> None:
    w = _two_four(256, 512)
    compiled = moecc.compile(_linear(w), "asic")
    x = np.random.default_rng(6).standard_normal((128, 256)).astype(np.float32)
    expected = compiled.run({"x": x})["y"]
    path = tmp_path / "sparse.moe"
    compiled.save(path)
    loaded = moecc.load(path)
    np.testing.assert_array_equal(loaded.run({"x": x})["y"], expected)


def test_edge_part_uses_its_own_block() -> None:
    """moe-asic-edge's MXU is smaller: its zero blocks are its own array's."""
    w = _half_zero_tiles(256, 256)
    compiled = moecc.compile(_linear(w), "asic", asic_target="moe-asic-edge")
    rows = compiled.report()["sparse_weights"]
    assert rows and rows[0]["block"] <= BLOCK
    x = np.random.default_rng(7).standard_normal((128, 256)).astype(np.float32)
    ref = moecc.compile(_linear(w), "ref").run({"x": x})["y"]
    np.testing.assert_allclose(compiled.run({"x": x})["y"], ref, rtol=1e-5, atol=1e-4)


def test_onnx_round_trip_of_the_test_models_is_valid() -> None:
    onnx.checker.check_model(onnx.load_from_string(_linear(_two_four(256, 512))))


@pytest.mark.parametrize("moe", ["sparse", "dense"])
def test_pruned_moe_experts_on_the_asic(moe: str) -> None:
    """An MoE layer pruned 2:4: its expert stacks are stored compressed only, under dense
    dispatch (mxu.mm24) and sparse dispatch (each expert's token tile streams its run-time row
    count by mxu.mm24r); the outputs are the reference's of the same pruned model."""
    from moecc.examples import build_example, example_inputs

    model = build_example("mixtral-block", hidden=128, intermediate=256)
    feeds = example_inputs("mixtral-block", model)
    expected = moecc.compile(model, "ref", prune="2:4").run(feeds)
    compiled = moecc.compile(model, "asic", prune="2:4", moe=moe)
    got = compiled.run(feeds)
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-4, atol=1e-5)
    stacks = [row for row in compiled.report()["sparse_weights"] if row["matrices"] > 1]
    hbm = {b.name for b in compiled.executable.module.hbm}
    for row in stacks:
        assert row["form"] == "2:4"
        assert row["dense_kept"] == (row["weight"] in hbm)
        assert {row["weight"] + "__values", row["weight"] + "__positions"} <= hbm
    assert stacks and not any(row["dense_kept"] for row in stacks)
    asm = compiled.ir("asm")
    assert ("mxu.mm24r" in asm) == (moe == "sparse") and "mxu.mmr" not in asm


def test_the_zero_sample_reads_little_and_sees_pruned_weights() -> None:
    from moecc.ir.weight_zeros import may_hold_zeros

    dense = np.random.default_rng(8).standard_normal((1024, 1024)).astype(np.float32) + np.float32(0.5)
    dense[dense == 0] = 1.0
    assert not may_hold_zeros(dense)
    assert may_hold_zeros(_half_zero_tiles(1024, 1024)) and may_hold_zeros(_two_four(1024, 1024))
