"""Kernel IR text form: printer output, lossless round trips (hypothesis over every statement
kind and field) and parse diagnostics with line:column."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moecc.errors import IRParseError
from moecc.ir.kernel import (
    BCAST_MODES,
    HBM_ROLES,
    KERNEL_DTYPES,
    VECTOR_OPS,
    Affine,
    Buffer,
    CpuCall,
    For,
    Gather,
    HbmRef,
    Kernel,
    KernelModule,
    Load,
    LocalRef,
    MatMul,
    Store,
    Vector,
)
from moecc.ir.kernel_parser import parse_kernel_module
from moecc.ir.kernel_printer import format_affine, print_kernel_module
from moecc.ir.types import DType

F32, BF16, I32 = DType.F32, DType.BF16, DType.I32

EXAMPLE_TEXT = """\
kernel_module(%x, %w) {
  hbm %x : f32[32, 64] input @0x0
  hbm %w : bf16[64, 128] weight @0x2000
  hbm %"/mlp/out:0" : f32[32, 128] output
  hbm %z : i32[32, 2] temp
  kernel @mlp sources("/mlp/MatMul", "/mlp/Relu") {
    sram %a : f32[16, 64] x2 @0x0
    sram %wt : bf16[64, 128]
    acc %c : f32[16, 128] @0x0
    load %wt[64x128] <- %w[64x128 at 0 pitch 128]
    for %i = 0 to 2 {
      load %a[16x64 slot %i] <- %x[16x64 at 1024*%i pitch 64]
      matmul %c[16x128] <- %a[16x64 slot %i] @ %wt[64x128] : bf16
      vpu.maxs %c[16x128] <- %c[16x128] {imm = 0.0001} : f32
      vpu.sub %c[16x128] <- %c[16x128], %c[16x1 at 3] {bcast = col} : f32
      vpu.fill %c[1x4 at -%i + 2*%i - 1] {imm = -inf} : f32
      store %"/mlp/out:0"[16x128 at 2048*%i pitch 128] <- %c[16x128]
    }
  }
  cpu @router ins(%"/mlp/out:0") outs(%z) ops("/TopK")
  return %"/mlp/out:0"
}
"""


def test_example_text_round_trips_exactly() -> None:
    module = parse_kernel_module(EXAMPLE_TEXT)
    assert print_kernel_module(module) == EXAMPLE_TEXT
    kernel = module.steps[0]
    assert isinstance(kernel, Kernel) and kernel.sources == ("/mlp/MatMul", "/mlp/Relu")
    assert kernel.buffers[0] == Buffer("a", "sram", F32, (16, 64), slots=2, offset=0)
    loop = kernel.body[1]
    assert isinstance(loop, For) and (loop.var, loop.count) == ("i", 2)
    fill = loop.body[4]
    assert isinstance(fill, Vector) and fill.imm == -math.inf
    assert fill.dst.offset == Affine(-1, (("i", -1), ("i", 2)))  # terms kept as written, not merged
    assert module.hbm[2].name == "/mlp/out:0" and module.hbm[2].offset is None
    assert module.steps[1] == CpuCall("router", ("/mlp/out:0",), ("z",), ("/TopK",))
    assert module.inputs == ["x", "w"] and module.outputs == ["/mlp/out:0"]


def test_matmul_accumulate_and_vector_fields_print() -> None:
    module = KernelModule(steps=[Kernel("k", (), (
        MatMul(LocalRef("c", 4, 8), LocalRef("a", 4, 2), LocalRef("w", 2, 8), accumulate=True, dtype=BF16),
        Vector("cvt", LocalRef("o", 4, 8), LocalRef("c", 4, 8), odt=BF16),
        Vector("topk", LocalRef("v", 4, 2), LocalRef("c", 4, 8), LocalRef("ix", 4, 2), k=2),
        Vector("sel", LocalRef("o", 4, 8), None, LocalRef("s", 1, 1), bcast="scalar", imm=-0.0),
        Gather(LocalRef("e", 3, 8), HbmRef("table", Affine(), 10, 8, 8), LocalRef("ids", 3, 1)),
    ))])
    body = print_kernel_module(module).splitlines()[2:7]
    assert [line.strip() for line in body] == [
        "matmul %c[4x8] += %a[4x2] @ %w[2x8] : bf16",
        "vpu.cvt %o[4x8] <- %c[4x8] : f32 -> bf16",
        "vpu.topk %v[4x2] <- %c[4x8], %ix[4x2] {k = 2} : f32",
        "vpu.sel %o[4x8] <- _, %s[1x1] {bcast = scalar, imm = -0.0} : f32",
        "gather %e[3x8] <- %table[10x8 at 0 pitch 8] index %ids[3x1]",
    ]
    again = parse_kernel_module(print_kernel_module(module))
    assert again == module
    assert math.copysign(1.0, again.steps[0].body[3].imm) == -1.0


def test_transposed_weight_matmul_prints_and_parses() -> None:
    stmt = MatMul(LocalRef("c", 4, 8), LocalRef("a", 4, 2), LocalRef("w", 8, 2), transpose_w=True)
    module = KernelModule(steps=[Kernel("k", (), (stmt,))])
    text = print_kernel_module(module)
    assert "matmul %c[4x8] <- %a[4x2] @ %w[8x2]^T : f32" in text
    assert parse_kernel_module(text) == module
    assert stmt.w_shape == (2, 8)


def test_run_time_row_count_and_count_slot_print_and_parse() -> None:
    """A matmul's run-time row count and a loop count in a slot of a multi-buffered cell."""
    from moecc.ir.kernel import Count, For

    mm = MatMul(LocalRef("c", 4, 8), LocalRef("a", 4, 2), LocalRef("w", 2, 8),
                rows=Count("n", Affine(0, (("t", 1),)), Affine(0, (("e", 1),))))
    loop = For("t", Count("tiles", Affine(), Affine(0, (("e", 1),))), (mm,), max_count=2)
    module = KernelModule(steps=[Kernel("k", (), (For("e", 4, (loop,)),))])
    text = print_kernel_module(module)
    assert "for %t = 0 to %tiles[0 slot %e] max 2 {" in text
    assert "matmul %c[4x8] <- %a[4x2] @ %w[2x8] : f32 rows %n[%t slot %e]" in text
    assert parse_kernel_module(text) == module


@pytest.mark.parametrize(("expr", "text"), [
    (Affine(), "0"),
    (Affine(-7), "-7"),
    (Affine(5, (("i", 128), ("j", 1))), "128*%i + %j + 5"),
    (Affine(-3, (("i", -1), ("j", -2))), "-%i - 2*%j - 3"),
    (Affine(0, (("k", 0),)), "0*%k"),
    (Affine(0, (("a b", 2),)), '2*%"a b"'),
])
def test_affine_text(expr: Affine, text: str) -> None:
    assert format_affine(expr) == text


def test_nan_immediate_round_trips_as_nan() -> None:
    module = KernelModule(steps=[Kernel("k", (), (Vector("fill", LocalRef("t", 2, 2), imm=math.nan),))])
    text = print_kernel_module(module)
    assert "{imm = nan}" in text
    again = parse_kernel_module(text)
    assert math.isnan(again.steps[0].body[0].imm)
    assert print_kernel_module(again) == text


def test_hand_written_text_forms() -> None:
    text = """
    // comments, a hex-less address and a term written var*coef
    kernel_module() {
      hbm %t : f32[8] temp @64
      kernel @k {
        sram %s : f32[1, 8]
        load %s[1x8] <- %t[1x8 pitch 8]
        vpu.adds %s[1x8 at %j*3 + 1 - 1] <- %s[1x8] {imm = 1e-3} : f32
      }
      return
    }"""
    module = parse_kernel_module(text)
    assert module.hbm[0].offset == 64
    kernel = module.steps[0]
    assert kernel.body[0].src.offset == Affine()
    assert kernel.body[1].dst.offset == Affine(0, (("j", 3),))
    assert kernel.body[1].imm == 0.001


# -- diagnostics ----------------------------------------------------------------------------

def _error_of(text: str) -> str:
    with pytest.raises(IRParseError) as info:
        parse_kernel_module(text)
    return str(info.value)


def test_syntax_error_names_line_and_column() -> None:
    text = "kernel_module() {\n  kernel @k {\n    load %a[4x4] %x[4x4 pitch 4]\n  }\n  return\n}\n"
    message = _error_of(text)
    assert message.startswith("line 3:18: unexpected '%x[4x4 pitch 4]'") or message.startswith("line 3:18")
    assert "'<-'" in message


def test_unexpected_end_of_text() -> None:
    message = _error_of("kernel_module() {\n  hbm %x : f32[4] input\n")
    assert message.startswith("line 2:")
    assert "unexpected end of text" in message


@pytest.mark.parametrize(("statement", "culprit", "message"), [
    ("vpu.exp %a[1x1] <- %a[1x1] : f64", "f64", "unknown element type 'f64'"),
    ("vpu.frobnicate %a[1x1] : f32", "vpu.frobnicate", "unknown vector op 'frobnicate'"),
    ("vpu.add %a[1x1] <- %a[1x1], %a[1x1] {bcast = diag} : f32", "diag", "unknown broadcast 'diag'"),
    ("matmul %c[1x1] <- %a[1x1] @ %w[1x1] : i64", "i64", "element type i64 is not a kernel element type"),
    ("for %i = 1 to 4 {\n }", "1", "loops start at 0, not 1"),
    ("vpu.fill %a[1x1] {k = 1, k = 2} : f32", "2}", "attribute 'k' given twice"),
])
def test_semantic_errors_point_at_the_token(statement: str, culprit: str, message: str) -> None:
    text = f"kernel_module() {{\n  kernel @k {{\n    {statement}\n  }}\n  return\n}}\n"
    line = text.splitlines()[2]
    column = line.rindex(culprit) + 1 if culprit != "1" else line.index(culprit) + 1
    assert _error_of(text).startswith(f"line 3:{column}: {message}")


def test_unexpected_character() -> None:
    message = _error_of("kernel_module() {\n  return $\n}")
    assert message.startswith("line 2:10: unexpected character '$'")


# -- generated modules ----------------------------------------------------------------------

_names = st.one_of(
    st.sampled_from(["x", "w", "a", "acc0", "t.1", "/mlp/MatMul_output_0", "i", "j"]),
    st.text(min_size=0, max_size=6),
)
_vars = st.sampled_from(["i", "j", "k", "outer loop"])
_ints = st.integers(-(2**40), 2**40)
_small = st.integers(-3, 300)
_affines = st.builds(Affine, _ints, st.lists(st.tuples(_vars, st.integers(-5, 130)), max_size=3).map(tuple))
_dtypes = st.sampled_from(list(DType))
_kernel_dtypes = st.sampled_from(KERNEL_DTYPES)
_local_refs = st.builds(LocalRef, _names, _small, _small, _affines, _affines, st.integers(0, 300))
_hbm_refs = st.builds(HbmRef, _names, _affines, _small, _small, _small)
_floats = st.floats(allow_nan=False)  # NaN never equals itself; covered by a test of its own

_vectors = st.builds(
    Vector,
    st.sampled_from(sorted(VECTOR_OPS)),
    _local_refs,
    st.none() | _local_refs,
    st.none() | _local_refs,
    st.sampled_from(BCAST_MODES),
    _floats,
    _small,
    _kernel_dtypes,
    st.none() | _kernel_dtypes,
)
_leaf_statements = st.one_of(
    st.builds(Load, _local_refs, _hbm_refs),
    st.builds(Store, _hbm_refs, _local_refs),
    st.builds(Gather, _local_refs, _hbm_refs, _local_refs),
    st.builds(MatMul, _local_refs, _local_refs, _local_refs, st.booleans(), _kernel_dtypes, st.booleans()),
    _vectors,
)
_statements = st.recursive(
    _leaf_statements,
    lambda inner: st.builds(For, _vars, _small, st.lists(inner, max_size=3).map(tuple)),
    max_leaves=8,
)
_shapes = st.lists(st.integers(0, 4096), max_size=4).map(tuple)
_offsets = st.none() | st.integers(-(2**20), 2**40)
_local_buffers = st.builds(Buffer, _names, st.sampled_from(["sram", "acc"]), _dtypes, _shapes,
                           st.integers(-1, 4), _offsets, st.sampled_from(HBM_ROLES))
_hbm_buffers = st.builds(Buffer, _names, st.just("hbm"), _dtypes, _shapes, st.integers(1, 3), _offsets,
                         st.sampled_from(HBM_ROLES))
_kernels = st.builds(
    Kernel, _names, st.lists(_local_buffers, max_size=3).map(tuple),
    st.lists(_statements, max_size=4).map(tuple), st.lists(st.text(max_size=8), max_size=2).map(tuple),
)
_cpu_calls = st.builds(
    CpuCall, _names, st.lists(_names, max_size=2).map(tuple), st.lists(_names, max_size=2).map(tuple),
    st.lists(st.text(max_size=8), max_size=2).map(tuple),
)
_modules = st.builds(
    KernelModule,
    st.lists(_hbm_buffers, max_size=3),
    st.lists(st.one_of(_kernels, _cpu_calls), max_size=3),
    st.lists(_names, max_size=2),
    st.lists(_names, max_size=2),
)


@settings(max_examples=150, deadline=None)
@given(_modules)
def test_generated_modules_round_trip(module: KernelModule) -> None:
    text = print_kernel_module(module)
    again = parse_kernel_module(text)
    assert again == module
    assert print_kernel_module(again) == text


def test_docs_example_prints_back_verifies_and_runs() -> None:
    from pathlib import Path

    import numpy as np

    from moecc.ir.kernel import verify_kernel_module
    from moecc.ir.kernel_interpreter import run_kernel_module

    doc = (Path(__file__).parent.parent / "docs" / "kernel_ir.md").read_text(encoding="utf-8")
    example = doc.split("## Example", 1)[1].split("```mlir\n", 1)[1].split("```", 1)[0]
    module = parse_kernel_module(example)
    assert print_kernel_module(module) == example
    verify_kernel_module(module)

    def top2(call: CpuCall, memory: dict[str, np.ndarray]) -> None:
        memory["top"] = -np.sort(-memory["y"].reshape(64, 32), axis=1)[:, :2]

    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((64, 64), np.float32), rng.standard_normal((64, 32), np.float32)
    out = run_kernel_module(module, {"x": x, "w": w}, cpu_step=top2)
    expected = np.maximum(x @ w, 0)
    np.testing.assert_allclose(out["y"].reshape(64, 32), expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(out["top"].reshape(64, 2), -np.sort(-expected, axis=1)[:, :2], rtol=1e-5, atol=1e-4)
