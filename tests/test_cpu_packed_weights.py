"""Weights stored packed on the cpu target (backend/llvm/tiled/packed_weights.py): which weights
the plan packs, that tiles of a packed weight read at loop offsets give the interpreter's
results, that the heap holds the sgemm's layout while reads give the tensor back, and that
element-wise statements split over two threads give the bits one thread gives."""

from __future__ import annotations

import numpy as np
import pytest

import moecc
from moecc.backend.llvm.cpu_target import host_cpu_target
from moecc.backend.llvm.tiled import parallel_rows
from moecc.backend.llvm.tiled.packed_weights import PackedWeight, plan_packed_weights
from moecc.backend.llvm.tiled.program import compile_tiled_module
from moecc.examples import build_example, example_inputs
from moecc.ir.tiled import parse_tiled_module, run_tiled_module

NR = host_cpu_target().nr
RNG = np.random.default_rng(3)
#: The sgemm sums in another order than the interpreter's loops.
RTOL, ATOL = 1e-5, 1e-5


def tiled_linear(k: int, n: int, tile_n: int, tile_k: int, transposed: bool, extra: str = "") -> str:
    """``y = x @ w`` (``w`` ``[k, n]``, or ``[n, k]`` read as ``w^T``) over tiles of ``tile_n``
    columns and ``tile_k`` rows of K, accumulating."""
    w_shape = f"{n}, {k}" if transposed else f"{k}, {n}"
    if transposed:
        w_view = f"%w[{tile_n * k}*%j + {tile_k}*%p; {tile_n}x{tile_k}; {k}, 1]^T"
    else:
        w_view = f"%w[{tile_k * n}*%p + {tile_n}*%j; {tile_k}x{tile_n}; {n}, 1]"
    return f"""\
tiled_module(%x) {{
  global %x : f32[24, {k}] input
  global %w : f32[{w_shape}] weight
  global %y : f32[24, {n}] output
  global %z : f32[24, {n}] output
  kernel @k {{
    for %j = 0 to {n // tile_n} {{
      for %p = 0 to {k // tile_k} {{
        matmul %y[{tile_n}*%j; 24x{tile_n}; {n}, 1] += %x[{tile_k}*%p; 24x{tile_k}; {k}, 1] @ {w_view} : f32
      }}
    }}
    compute %z[0; 24x{n}; {n}, 1] = mul(%y[0; 24x{n}; {n}, 1], 2.0 : f32){extra}
  }}
  return %y, %z
}}
"""


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("tile_n,tile_k", [(2 * NR, 16), (NR, 48), (4 * NR, 96)])
def test_tiles_of_a_packed_weight_at_loop_offsets(transposed: bool, tile_n: int, tile_k: int) -> None:
    k, n = 96, 4 * NR
    module = parse_tiled_module(tiled_linear(k, n, tile_n, tile_k, transposed))
    plan = plan_packed_weights(module, host_cpu_target())
    assert plan == {"w": PackedWeight(k, n, transposed, NR)}
    x = RNG.standard_normal((24, k)).astype(np.float32)
    w = RNG.standard_normal((n, k) if transposed else (k, n)).astype(np.float32)
    want = run_tiled_module(module, {"x": x, "w": w})
    program = compile_tiled_module(module)
    assert program.built.packed_weights == plan
    heap, scratch = program.new_heap(), program.new_scratch()
    program.write(heap, "x", x)
    program.write(heap, "w", w)
    b = w.T if transposed else w
    # The heap holds B sliver-major: sliver s's K rows of NR floats one after another.
    stored = program.view(heap, "w")
    np.testing.assert_array_equal(stored[:k * NR].reshape(k, NR), b[:, :NR])
    np.testing.assert_array_equal(stored[k * NR:2 * k * NR].reshape(k, NR), b[:, NR:2 * NR])
    np.testing.assert_array_equal(program.read(heap, "w"), w)  # reads give the tensor back
    program.run(heap, scratch)
    for name in ("y", "z"):
        np.testing.assert_allclose(program.read(heap, name), want[name], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("why", ["read by a compute", "N not a multiple of NR", "tile off a sliver boundary"])
def test_weights_the_plan_leaves_alone(why: str) -> None:
    k, n = 96, 4 * NR
    if why == "read by a compute":
        text = tiled_linear(k, n, n, k, False).replace(
            "mul(%y[0; 24x{n}; {n}, 1], 2.0 : f32)".format(n=n), f"add(%y[0; 24x{n}; {n}, 1], %w[0; 24x{n}; {n}, 1])")
    elif why == "N not a multiple of NR":
        n = 4 * NR + 1
        text = tiled_linear(k, n, n, k, False)
    else:
        text = tiled_linear(k, n, n, k, False).replace(f"%w[{k * n}*%p + {n}*%j;", f"%w[{k * n}*%p + {n}*%j + 1;")
        text = text.replace(f"%w[{k * n}*%p + {n}*%j + 1; {k}x{n}", f"%w[{k * n}*%p + {n}*%j + 1; {k}x{n - NR}")
        text = text.replace(f"%y[{n}*%j; 24x{n}", f"%y[{n}*%j; 24x{n - NR}")
    module = parse_tiled_module(text)
    assert plan_packed_weights(module, host_cpu_target()) == {}
    x = RNG.standard_normal((24, k)).astype(np.float32)
    w = RNG.standard_normal(module.buffer("w").shape).astype(np.float32)
    want = run_tiled_module(module, {"x": x, "w": w})
    program = compile_tiled_module(module)
    heap, scratch = program.new_heap(), program.new_scratch()
    program.write(heap, "x", x)
    program.write(heap, "w", w)
    np.testing.assert_array_equal(program.view(heap, "w"), w.reshape(-1))
    program.run(heap, scratch)
    np.testing.assert_allclose(program.read(heap, "z"), want["z"], rtol=RTOL, atol=ATOL)


def test_pack_and_unpack_are_inverse() -> None:
    for transposed in (False, True):
        plan = PackedWeight(5, 3 * NR, transposed, NR)
        w = RNG.standard_normal((3 * NR, 5) if transposed else (5, 3 * NR)).astype(np.float32)
        packed = plan.pack(w)
        assert packed.shape == (w.size,)
        np.testing.assert_array_equal(plan.unpack(packed).reshape(w.shape), w)


def test_exports_weights_are_stored_packed_and_artifacts_keep_them(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = build_example("llama-block")
    inputs = example_inputs("llama-block", model, seed=2)
    compiled = moecc.compile(model, target="cpu")
    packed = compiled.executable.program.built.packed_weights
    assert packed  # the projections' weights
    report = compiled.report()["cpu"]
    assert report["weights_stored_packed"] == len(packed)
    assert report["weights_stored_packed_bytes"] == sum(4 * w.k * w.n for w in packed.values())
    expected = compiled.run(inputs)
    path = tmp_path / "llama.moe"
    compiled.save(path)
    loaded = moecc.load(path)
    assert loaded.executable.program.built.packed_weights == packed
    for name, value in loaded.run(inputs).items():
        np.testing.assert_array_equal(value, expected[name])


@pytest.mark.parametrize("name", ["llama-block", "gpt2-block"])
def test_elementwise_statements_split_over_threads_give_the_same_bits(name: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # The examples' statements are below the threshold: split every one of two rows or more.
    monkeypatch.setattr(parallel_rows, "PARALLEL_MIN_ELEMENTS", 0)
    model = build_example(name)
    inputs = example_inputs(name, model, seed=0)
    single = moecc.compile(model, target="cpu").run(inputs)
    compiled = moecc.compile(model, target="cpu", threads=2)
    assert ".rows" in compiled.executable.program.llvm_ir  # outlined row functions exist
    for _ in range(2):
        for key, value in compiled.run(inputs).items():
            np.testing.assert_array_equal(value, single[key])


def _zero_tiled(k: int, n: int, tile: int = 128) -> np.ndarray:
    w = RNG.standard_normal((k, n)).astype(np.float32)
    for i in range(k // tile):
        for j in range(n // tile):
            if (i + j) % 2 == 0:
                w[i * tile:(i + 1) * tile, j * tile:(j + 1) * tile] = 0
    return w


def _matmul_model(w: np.ndarray, m: int, transposed: bool = False) -> bytes:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    k, n = w.shape
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, k])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])
    if transposed:  # Gemm with transB: the weight stored n x k
        node = helper.make_node("Gemm", ["x", "W"], ["y"], transB=1)
        init = numpy_helper.from_array(np.ascontiguousarray(w.T), "W")
    else:
        node = helper.make_node("MatMul", ["x", "W"], ["y"])
        init = numpy_helper.from_array(w, "W")
    graph = helper.make_graph([node], "g", [x], [y], [init])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model.SerializeToString()


@pytest.mark.parametrize("transposed", [False, True], ids=["kxn", "gemm-transB"])
@pytest.mark.parametrize("threads", [1, 2])
def test_zero_tiles_are_skipped_by_the_sgemm(transposed: bool, threads: int) -> None:
    """A packed weight with all-zero 128x128 tiles multiplies only its nonzero runs of rows
    (``B_PREPACKED_SPARSE``): the product is numpy's, with one thread or two (the same bits)."""
    w = _zero_tiled(512, 256)
    x = RNG.standard_normal((96, 512)).astype(np.float32)
    compiled = moecc.compile(_matmul_model(w, 96, transposed), "cpu", threads=threads)
    packed = compiled.executable.program.built.packed_weights
    assert any(p.skip_zero for p in packed.values())
    got = compiled.run({"x": x})["y"]
    np.testing.assert_allclose(got, x @ w, rtol=RTOL, atol=ATOL)
    if threads == 2:
        one = moecc.compile(_matmul_model(w, 96, transposed), "cpu", threads=1).run({"x": x})["y"]
        np.testing.assert_array_equal(got, one)


def test_dense_weights_are_not_scanned_for_zeros() -> None:
    w = RNG.standard_normal((256, 256)).astype(np.float32)
    compiled = moecc.compile(_matmul_model(w, 64), "cpu")
    assert not any(p.skip_zero for p in compiled.executable.program.built.packed_weights.values())


def test_zero_group_share() -> None:
    plan = PackedWeight(256, 2 * NR, False, NR)
    w = RNG.standard_normal((256, 2 * NR)).astype(np.float32)
    w[:64, :NR] = 0  # 2 of the 16 groups of 32 rows (two slivers of 8 groups each)
    assert plan.zero_group_share(w, 32) == pytest.approx(2 / 16)


def test_zero_skipping_survives_an_artifact(tmp_path) -> None:
    w = _zero_tiled(256, 256)
    x = RNG.standard_normal((64, 256)).astype(np.float32)
    compiled = moecc.compile(_matmul_model(w, 64), "cpu")
    expected = compiled.run({"x": x})["y"]
    assert compiled.report()["cpu"]["weights_skipping_zero_rows"] == 1
    compiled.save(tmp_path / "m.moe")
    loaded = moecc.load(tmp_path / "m.moe")
    np.testing.assert_array_equal(loaded.run({"x": x})["y"], expected)
    assert loaded.report()["cpu"]["weights_skipping_zero_rows"] == 1
