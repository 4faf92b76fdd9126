"""The CPU back end reading the tiled IR (moecc.backend.llvm.tiled) against the tiled interpreter:
one hand-built module per statement kind and dtype family, run-time loop counts, faults naming
value and range, host calls, and every bundled example through ``cpu``."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import moecc
from moecc.backend.llvm.tiled.kernel import coalesce, write_order
from moecc.backend.llvm.tiled.memory import plan_heap
from moecc.backend.llvm.tiled.program import compile_tiled_module, run_tiled_on_cpu
from moecc.compare import compare_outputs, tolerances
from moecc.errors import InputError
from moecc.examples import build_example, example_inputs, list_examples
from moecc.ir.ops.indexing import IndexRangeError
from moecc.ir.tiled import TiledModule, parse_tiled_module, run_tiled_module
from moecc.ir.types import DType
from tests.test_tiled_ir import (C, MOE_ROWS, MOE_TILES, SOFTMAX, T, _routing, _topk_module,
                                 test_host_call_runs_its_inline_graph_between_kernels, tiled_matmul)

RNG = np.random.default_rng(11)


def compile_cpu(model: object, **kwargs: object) -> moecc.CompiledModel:
    return moecc.compile(model, target="cpu", **kwargs)


def _same(module: TiledModule, data: dict[str, np.ndarray], exact: bool = False) -> dict[str, np.ndarray]:
    """Run on machine code and on the interpreter; outputs must match (bit for bit when exact)."""
    want = run_tiled_module(module, data)
    got = run_tiled_on_cpu(module, data)
    for name, expected in want.items():
        have = got[name]
        assert have.dtype == expected.dtype and have.shape == expected.shape, name
        if exact or not (expected.dtype.kind == "f" or expected.dtype == ml_dtypes.bfloat16):
            np.testing.assert_array_equal(have, expected, err_msg=name)
        else:
            rtol = 1e-5 if expected.dtype == np.float32 else 1e-2
            np.testing.assert_allclose(have.astype(np.float64), expected.astype(np.float64), rtol=rtol, atol=1e-6,
                                       equal_nan=True, err_msg=name)
    return got


# -- compute: the expression emitter -----------------------------------------------------------

FLOAT_OPS = """\
tiled_module(%x, %y) {
  global %x : f32[4, 40] input
  global %y : f32[4, 40] input
  global %a : f32[4, 40] output
  global %b : f32[4, 40] output
  global %c : bool[4, 40] output
  kernel @k {
    compute %a[0; 4x40; 40, 1] = add(mul(exp(%x[0; 4x40; 40, 1]), sigmoid(%y[0; 4x40; 40, 1])), \
sub(tanh(%x[0; 4x40; 40, 1]), erf(%y[0; 4x40; 40, 1])))
    compute %b[0; 4x40; 40, 1] = select(gt(%x[0; 4x40; 40, 1], 0.0 : f32), log(abs(%x[0; 4x40; 40, 1])), \
max(min(%y[0; 4x40; 40, 1], rsqrt(abs(%x[0; 4x40; 40, 1]))), sign(%x[0; 4x40; 40, 1])))
    compute %c[0; 4x40; 40, 1] = or(ne(%x[0; 4x40; 40, 1], %y[0; 4x40; 40, 1]), le(floor(%x[0; 4x40; 40, 1]), \
ceil(sin(cos(%y[0; 4x40; 40, 1])))))
  }
  return %a, %b, %c
}
"""


def test_float_expression_tree_with_transcendentals_and_nan() -> None:
    x = (RNG.standard_normal((4, 40)) * 3).astype(np.float32)
    y = (RNG.standard_normal((4, 40)) * 3).astype(np.float32)
    x[0, :3] = [np.nan, np.inf, -np.inf]
    y[1, :2] = [np.nan, 0.0]
    _same(parse_tiled_module(FLOAT_OPS), {"x": x, "y": y})


HALF_STORES = """\
tiled_module(%a, %b) {
  global %a : bf16[3, 17] input
  global %b : f16[3, 17] input
  global %s : bf16[3, 17] output
  global %h : f16[3, 17] output
  global %r : bf16[3, 17] output
  kernel @k {
    compute %s[0; 3x17; 17, 1] = add(%a[0; 3x17; 17, 1], mul(%a[0; 3x17; 17, 1], 0.00390625 : bf16))
    compute %h[0; 3x17; 17, 1] = cast<f16>(div(cast<f32>(%b[0; 3x17; 17, 1]), 3.0 : f32))
    compute %r[0; 3x17; 17, 1] = sub(cast<bf16>(add(%a[0; 3x17; 17, 1], cast<bf16>(%b[0; 3x17; 17, 1]))), \
%a[0; 3x17; 17, 1])
  }
  return %s, %h, %r
}
"""


def test_half_types_compute_in_f32_and_round_to_nearest_even_on_store() -> None:
    a = (RNG.standard_normal((3, 17)) * 100).astype(ml_dtypes.bfloat16)
    b = (RNG.standard_normal((3, 17)) * 100).astype(np.float16)
    a[0, :2] = [np.nan, np.inf]
    _same(parse_tiled_module(HALF_STORES), {"a": a, "b": b}, exact=True)


INTEGER_OPS = """\
tiled_module(%i, %j, %u, %w) {
  global %i : i32[2, 9] input
  global %j : i32[2, 9] input
  global %u : u8[2, 9] input
  global %w : i64[2, 9] input
  global %q : i32[2, 9] output
  global %p : i8[2, 9] output
  global %m : u8[2, 9] output
  global %f : f32[2, 9] output
  global %n : bool[2, 9] output
  global %v : i64[2, 9] output
  kernel @k {
    compute %q[0; 2x9; 9, 1] = add(div(%i[0; 2x9; 9, 1], %j[0; 2x9; 9, 1]), mul(%i[0; 2x9; 9, 1], 65537 : i32))
    compute %p[0; 2x9; 9, 1] = cast<i8>(pow(%i[0; 2x9; 9, 1], %j[0; 2x9; 9, 1]))
    compute %m[0; 2x9; 9, 1] = max(sub(%u[0; 2x9; 9, 1], 200 : u8), div(%u[0; 2x9; 9, 1], 7 : u8))
    compute %f[0; 2x9; 9, 1] = add(cast<f32>(%u[0; 2x9; 9, 1]), cast<f32>(sign(%w[0; 2x9; 9, 1])))
    compute %n[0; 2x9; 9, 1] = xor(gt(%u[0; 2x9; 9, 1], 127 : u8), not(cast<bool>(%w[0; 2x9; 9, 1])))
    compute %v[0; 2x9; 9, 1] = select(%n[0; 2x9; 9, 1], abs(%w[0; 2x9; 9, 1]), neg(cast<i64>(%i[0; 2x9; 9, 1])))
  }
  return %q, %p, %m, %f, %n, %v
}
"""


def test_integer_expressions_wrap_and_division_by_zero_gives_zero() -> None:
    i = np.array([[7, -7, 2**31 - 1, -2**31, 5, 0, -3, 100, 9]] * 2, dtype=np.int32)
    j = np.array([[2, 2, 1, -1, 0, 3, -2, -1, 4], [0, 1, 3, 5, -3, 2, 7, 31, 1]], dtype=np.int32)
    u = RNG.integers(0, 256, size=(2, 9)).astype(np.uint8)
    w = np.array([[0, -5, 5, -2**63, 2**62, 1, -1, 3, 0]] * 2, dtype=np.int64)
    _same(parse_tiled_module(INTEGER_OPS), {"i": i, "j": j, "u": u, "w": w})


CASTS = """\
tiled_module(%x) {
  global %x : f32[1, 12] input
  global %i : i32[1, 12] output
  global %l : i64[1, 12] output
  global %b : u8[1, 12] output
  global %t : bool[1, 12] output
  kernel @k {
    compute %i[0; 1x12; 12, 1] = cast<i32>(%x[0; 1x12; 12, 1])
    compute %l[0; 1x12; 12, 1] = cast<i64>(%x[0; 1x12; 12, 1])
    compute %b[0; 1x12; 12, 1] = cast<u8>(%x[0; 1x12; 12, 1])
    compute %t[0; 1x12; 12, 1] = cast<bool>(%x[0; 1x12; 12, 1])
  }
  return %i, %l, %b, %t
}
"""


def test_float_to_integer_casts_truncate_as_the_interpreter() -> None:
    x = np.array([[0.0, -0.0, 1.9, -1.9, 255.5, 256.0, -1.0, 3e9, -3e9, np.nan, 1e-30, 77.7]], dtype=np.float32)
    _same(parse_tiled_module(CASTS), {"x": x})


BROADCAST = """\
tiled_module(%x, %col, %row) {
  global %x : f32[6, 8] input
  global %col : f32[6, 1] input
  global %row : f32[8] input
  global %y : f32[8, 6] output
  global %z : f32[6, 8] output
  kernel @k {
    compute %y[0; 6x8; 1, 6] = mul(%x[0; 6x8; 8, 1], %col[0; 6x1; 1, 1])
    compute %z[0; 6x8; 8, 1] = sub(%x[0; 6x8; 8, 1], %row[0; 6x8; 0, 1])
  }
  return %y, %z
}
"""


def test_compute_broadcasts_size_one_and_stride_zero_and_writes_transposed() -> None:
    data = {"x": RNG.standard_normal((6, 8)).astype(np.float32), "col": RNG.standard_normal((6, 1)).astype(np.float32),
            "row": RNG.standard_normal(8).astype(np.float32)}
    _same(parse_tiled_module(BROADCAST), data, exact=True)


def test_coalesce_merges_axes_every_view_walks_contiguously() -> None:
    assert coalesce((4, 1, 8), [(8, 8, 1), (8, 0, 1)]) == ([32], [[1], [1]])
    assert coalesce((4, 8), [(8, 1), (0, 1)]) == ([4, 8], [[8, 1], [0, 1]])
    assert coalesce((1, 1), [(5, 1)]) == ([1], [[0]])
    # a transposed destination is walked along its unit stride
    assert write_order((6, 8), [(1, 6), (8, 1)]) == ([8, 6], [[6, 1], [1, 8]])
    assert write_order((1, 4, 8), [(32, 8, 1), (0, 1, 4)]) == ([1, 4, 8], [[32, 8, 1], [0, 1, 4]])


# -- copy, reduce ------------------------------------------------------------------------------

COPY_REDUCE = """\
tiled_module(%x, %b) {
  global %x : f32[4, 12] input
  global %b : i8[2, 3] input
  global %t : f32[12, 4] output
  global %c : f32[2, 12] output
  global %m : f32[4, 1] output
  global %n : bf16[4, 1] output
  global %s : i8[2, 1] output
  global %l : i64[2, 1] output
  kernel @k {
    copy %t[0; 4x12; 1, 4] <- %x[0; 4x12; 12, 1]
    copy %c[0; 2x12; 12, 1] <- %x[12; 2x12; 12, 1]
    reduce.max %m[0; 4x1; 1, 1] = %x[0; 4x4; 12, 1]
    for %k = 0 to 2 {
      reduce.max %m[0; 4x1; 1, 1] += %x[4*%k + 4; 4x4; 12, 1]
    }
    reduce.sum %n[0; 4x1; 1, 1] = %x[0; 4x12; 12, 1]
    reduce.min %n[0; 4x1; 1, 1] += %x[0; 4x12; 12, 1]
    reduce.sum %s[0; 2x1; 1, 1] = %b[0; 2x3; 3, 1]
    reduce.min %l[0; 2x1; 1, 1] = %b[0; 2x3; 3, 1]
  }
  return %t, %c, %m, %n, %s, %l
}
"""


def test_copies_and_row_reductions_with_accumulation_and_wrapping() -> None:
    x = RNG.standard_normal((4, 12)).astype(np.float32)
    x[2, 7] = np.nan
    b = np.array([[100, 100, 100], [-128, -1, 1]], dtype=np.int8)
    _same(parse_tiled_module(COPY_REDUCE), {"x": x, "b": b})


def test_fused_softmax_from_the_tiled_ir_tests() -> None:
    x = (RNG.standard_normal((6, 10)) * 4).astype(ml_dtypes.bfloat16)
    _same(parse_tiled_module(SOFTMAX), {"x": x})


# -- matmul --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("dtype", "transpose_b"), [(DType.F32, False), (DType.F32, True), (DType.BF16, True),
                                                     (DType.F16, False)])
def test_tiled_matmul_through_the_sgemm(dtype: DType, transpose_b: bool) -> None:
    m, n, k = 20, 18, 21
    module = tiled_matmul(m, n, k, 8, dtype, transpose_b)
    x = RNG.standard_normal((m, k)).astype(dtype.numpy)
    w = RNG.standard_normal((n, k) if transpose_b else (k, n)).astype(dtype.numpy)
    _same(module, {"x": x, "w": w})


MATMULS = """\
tiled_module(%a, %b, %i, %j) {
  global %a : f32[3, 5, 4] input
  global %b : f32[4, 6] input
  global %i : i32[5, 4] input
  global %j : i8[6, 4] input
  global %y : f32[3, 5, 6] output
  global %z : f32[6, 5] output
  global %q : i32[5, 6] output
  global %r : i64[5, 6] output
  kernel @k {
    matmul %y[0; 3x5x6; 30, 6, 1] = %a[0; 3x5x4; 20, 4, 1] @ %b[0; 3x4x6; 0, 6, 1] : f32
    matmul %y[0; 3x5x6; 30, 6, 1] += %a[0; 3x4x5; 20, 1, 4]^T @ %b[0; 3x4x6; 0, 6, 1] : f32
    matmul %z[0; 5x6; 1, 5] = %a[20; 5x4; 4, 1] @ %b[0; 6x4; 1, 6]^T : f32
    matmul %q[0; 5x6; 6, 1] = %i[0; 5x4; 4, 1] @ %j[0; 6x4; 4, 1]^T : i32
    compute %r[0; 5x6; 6, 1] = cast<i64>(%q[0; 5x6; 6, 1])
    matmul %r[0; 5x6; 6, 1] += %i[0; 4x5; 1, 4]^T @ %j[0; 6x4; 4, 1]^T : i64
  }
  return %y, %z, %q, %r
}
"""


def test_batched_transposed_accumulating_and_integer_matmuls() -> None:
    data = {"a": RNG.standard_normal((3, 5, 4)).astype(np.float32), "b": RNG.standard_normal((4, 6)).astype(np.float32),
            "i": RNG.integers(-2**30, 2**30, size=(5, 4)).astype(np.int32),
            "j": RNG.integers(-128, 128, size=(6, 4)).astype(np.int8)}
    _same(parse_tiled_module(MATMULS), data)


FEW_ROWS = """\
tiled_module(%x, %w, %h) {
  global %x : f32[3, 2, 37] input
  global %w : f32[3, 9, 37] input
  global %h : bf16[9, 37] input
  global %y : f32[3, 2, 9] output
  global %z : bf16[2, 9] output
  kernel @k {
    local %acc : f32[2, 9]
    matmul %y[0; 3x2x9; 18, 9, 1] = %x[0; 3x2x37; 74, 37, 1] @ %w[0; 3x9x37; 333, 37, 1]^T : f32
    matmul %y[0; 3x2x9; 18, 9, 1] += %x[0; 3x2x37; 74, 37, 1] @ %w[0; 3x9x37; 333, 37, 1]^T : f32
    matmul %acc[0; 2x9; 9, 1] = %x[0; 2x37; 37, 1] @ %h[0; 9x37; 37, 1]^T : f32
    compute %z[0; 2x9; 9, 1] = cast<bf16>(%acc[0; 2x9; 9, 1])
  }
  return %y, %z
}
"""


def test_few_rows_against_transposed_weights_are_dot_products() -> None:
    module = parse_tiled_module(FEW_ROWS)
    data = {"x": RNG.standard_normal((3, 2, 37)).astype(np.float32), "w": RNG.standard_normal((3, 9, 37)).astype(np.float32),
            "h": RNG.standard_normal((9, 37)).astype(ml_dtypes.bfloat16)}
    program = compile_tiled_module(module)
    assert program.built.dot_matmuls == 3 and program.built.sgemm_calls == 0
    _same(module, data)


ELIDED = """\
tiled_module(%x) {
  global %x : f32[8, 64] input
  global %w : f32[64, 20] weight
  global %p : f32[1] weight
  global %y : f32[8, 20] output
  global %q : f32[8, 20] output
  kernel @k {
    local %acc : f32[8, 16]
    matmul %acc[0; 8x16; 16, 1] = %x[0; 8x32; 64, 1] @ %w[0; 32x16; 20, 1] : f32
    matmul %acc[0; 8x16; 16, 1] += %x[32; 8x32; 64, 1] @ %w[640; 32x16; 20, 1] : f32
    copy %y[0; 8x16; 20, 1] <- %acc[0; 8x16; 16, 1]
    matmul %acc[0; 8x4; 16, 1] = %x[0; 8x64; 64, 1] @ %w[16; 64x4; 20, 1] : f32
    copy %y[16; 8x4; 20, 1] <- %acc[0; 8x4; 16, 1]
    compute %q[0; 8x20; 20, 1] = pow(%y[0; 8x20; 20, 1], %p[0; 8x20; 0, 0])
  }
  return %y, %q
}
"""


@pytest.mark.parametrize("exponent", [2.0, 3.0, 0.5])
def test_accumulator_copies_are_elided_and_scalar_weights_fold(exponent: float) -> None:
    from moecc.backend.llvm.tiled.elision import matmul_copy_elisions

    module = parse_tiled_module(ELIDED)
    kernel = module.kernels[0]
    elided = matmul_copy_elisions(kernel)
    assert len(elided.redirect) == 3 and len(elided.skip) == 2
    data = {"x": RNG.standard_normal((8, 64)).astype(np.float32), "w": RNG.standard_normal((64, 20)).astype(np.float32),
            "p": np.array([exponent], np.float32)}
    program = compile_tiled_module(module, weights=data)
    assert ("llvm.pow" in program.llvm_ir) == (exponent == 0.5)  # 2 and 3 become multiplications
    want = run_tiled_module(module, data)
    got = run_tiled_on_cpu(module, data, program)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-5, equal_nan=True)


def test_an_accumulator_read_after_its_copy_is_kept() -> None:
    from moecc.backend.llvm.tiled.elision import matmul_copy_elisions

    text = ELIDED.replace("compute %q[0; 8x20; 20, 1] = pow(%y[0; 8x20; 20, 1], %p[0; 8x20; 0, 0])",
                          "compute %q[0; 8x4; 20, 1] = exp(%acc[0; 8x4; 16, 1])")
    module = parse_tiled_module(text)
    assert not matmul_copy_elisions(module.kernels[0]).skip
    data = {"x": RNG.standard_normal((8, 64)).astype(np.float32), "w": RNG.standard_normal((64, 20)).astype(np.float32),
            "p": np.array([2.0], np.float32)}
    _same(module, data)


# -- gather, scatter, top-k, loops, faults, host calls -------------------------------------------

@pytest.mark.parametrize("text", [MOE_ROWS, MOE_TILES], ids=["rows", "tiles"])
@pytest.mark.parametrize("negative", [False, True], ids=["indices", "negative-indices"])
def test_moe_dispatch_with_run_time_loop_counts(text: str, negative: bool) -> None:
    _same(parse_tiled_module(text), _routing(negative))


SCATTERS = """\
tiled_module(%src, %idx, %h) {
  global %src : f32[4, 2] input
  global %idx : i64[4] input
  global %h : bf16[4, 3] input
  global %table : f32[3, 2] output
  global %acc : bf16[2, 3] output
  kernel @k {
    scatter %table[0; 3x2; 2, 1] rows %idx[0; 4; 1] <- %src[0; 4x2; 2, 1]
    scatter %acc[0; 2x3; 3, 1] rows %idx[0; 4; 1] += %h[0; 4x3; 3, 1]
  }
  return %table, %acc
}
"""


def test_scatter_last_row_wins_and_half_scatter_add_rounds_per_row() -> None:
    data = {"src": np.arange(8, dtype=np.float32).reshape(4, 2), "idx": np.array([1, 0, 1, -2]),
            "h": (RNG.standard_normal((4, 3)) * 50).astype(ml_dtypes.bfloat16)}
    _same(parse_tiled_module(SCATTERS.replace("%table[0; 3x2; 2, 1]", "%table[0; 2x2; 2, 1]")), data, exact=True)


@pytest.mark.parametrize("index_dtype", [DType.I64, DType.I32])
@pytest.mark.parametrize("largest", [True, False])
def test_topk_ties_and_nan_as_the_interpreter(index_dtype: DType, largest: bool) -> None:
    x = RNG.integers(-3, 4, size=(5, 7)).astype(np.float32)
    x[2, 4] = np.nan
    x[3, [1, 5]] = np.nan
    _same(_topk_module(index_dtype, largest), {"x": x}, exact=True)


def test_run_time_loop_count_outside_its_max_is_an_input_error() -> None:
    data = _routing()
    data["counts"] = data["counts"].copy()
    data["counts"][1] = C + 1
    with pytest.raises(InputError, match=rf"statement 1 `for.*loop count {C + 1} is out of range \[0, {C}\]"):
        run_tiled_on_cpu(parse_tiled_module(MOE_ROWS), data)


def test_gather_index_out_of_range_names_value_range_and_node() -> None:
    data = _routing()
    data["order"] = data["order"].copy()
    data["order"][0, 0] = T
    with pytest.raises(IndexRangeError, match=rf"row index {T} is out of range \[-{T}, {T}\)") as info:
        run_tiled_on_cpu(parse_tiled_module(MOE_ROWS), data)
    assert "/moe/experts" in str(info.value) and "statement 2 `gather" in str(info.value)


def test_model_gather_out_of_range_names_the_onnx_node_and_input() -> None:
    model = build_example("gpt2-block")
    feeds = example_inputs("gpt2-block", model)
    name = next(k for k, v in feeds.items() if v.dtype.kind == "i")
    bad = dict(feeds)
    bad[name] = feeds[name].copy()
    bad[name].flat[0] = 10**6
    compiled = compile_cpu(model)
    with pytest.raises(IndexRangeError, match=rf"index 1000000 in input '{name}' is out of range \[-\d+, \d+\)") as info:
        compiled.run(bad)
    assert info.value.node  # the ONNX node of the gather
    compiled.run(feeds)  # still usable after a fault


def test_host_calls_run_between_machine_code_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    """The interpreter's host-call test, with its module run on machine code instead."""
    import tests.test_tiled_ir as base

    programs: list[object] = []

    def on_cpu(module: TiledModule, data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        program = compile_tiled_module(module)
        programs.append(program)
        out = run_tiled_on_cpu(module, data, program)
        np.testing.assert_array_equal(out["i2"], run_tiled_module(module, data)["i2"])
        return out

    monkeypatch.setattr(base, "run_tiled_module", on_cpu)
    test_host_call_runs_its_inline_graph_between_kernels()
    (program,) = programs
    assert program.host_calls_run == 1 and len(program.built.schedule) == 3  # segment, host call, segment


def test_temps_share_heap_space_by_liveness() -> None:
    module = parse_tiled_module("""\
tiled_module(%x) {
  global %x : f32[64] input
  global %t1 : f32[64] temp
  global %t2 : f32[64] temp
  global %t3 : f32[64] temp
  global %y : f32[64] output
  kernel @a {
    compute %t1[0; 64; 1] = exp(%x[0; 64; 1])
  }
  kernel @b {
    compute %t2[0; 64; 1] = add(%t1[0; 64; 1], 1.0 : f32)
  }
  kernel @c {
    compute %t3[0; 64; 1] = mul(%t2[0; 64; 1], 2.0 : f32)
  }
  kernel @d {
    compute %y[0; 64; 1] = sub(%t3[0; 64; 1], %x[0; 64; 1])
  }
  return %y
}
""")
    plan = plan_heap(module)
    assert plan.offsets["t1"] == plan.offsets["t3"] and plan.offsets["t1"] != plan.offsets["t2"]
    _same(module, {"x": RNG.standard_normal(64).astype(np.float32)})


# -- whole models through the cpu target ---------------------------------------------------------

@pytest.mark.parametrize("name", [name for name, _ in list_examples()])
def test_every_example_matches_ref(name: str) -> None:
    model = build_example(name)
    feeds = example_inputs(name, model)
    expected = moecc.compile(model, target="ref").run(feeds)
    compiled = compile_cpu(model)
    rtol, atol = tolerances("f32")
    assert compare_outputs(compiled.run(feeds), expected, rtol=rtol, atol=atol) == []
    report = compiled.report()["cpu"]
    assert report["host_calls"] == 0 and report["kernels"] > 0
    assert "define" in compiled.ir("llvm") and "tiled_module(" in compiled.ir("tiled")


def test_saved_artifact_reloads_by_re_jitting_the_tiled_ir(tmp_path: object) -> None:
    model = build_example("moe-transformer")
    feeds = example_inputs("moe-transformer", model)
    compiled = compile_cpu(model)
    path = f"{tmp_path}/m.moe"
    compiled.save(path)
    loaded = moecc.load(path)
    first, again = compiled.run(feeds), loaded.run(feeds)
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    assert loaded.report()["cpu"]["host_calls"] == 0


def test_threads_split_big_matmuls_without_changing_results() -> None:
    module = tiled_matmul(96, 192, 200, 96, DType.F32, False)  # 96^3 products: 1.8 Mflop each
    data = {"x": RNG.standard_normal((96, 200)).astype(np.float32), "w": RNG.standard_normal((200, 192)).astype(np.float32)}
    program = compile_tiled_module(module)
    one = run_tiled_on_cpu(module, data, program)["y"]
    program.set_threads(2)
    try:
        two = run_tiled_on_cpu(module, data, program)["y"]
    finally:
        program.set_threads(1)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_allclose(two, run_tiled_module(module, data)["y"], rtol=1e-4, atol=1e-4)
