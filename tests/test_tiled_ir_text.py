"""The tiled loop IR's text form: lossless round trips (hand-written and random modules) and
parse errors that name line:column."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moecc.errors import IRParseError
from moecc.ir.affine import Affine
from moecc.ir.builder import GraphBuilder
from moecc.ir.graph import Graph
from moecc.ir.tiled import (
    Binary,
    Buffer,
    Cast,
    Compute,
    Const,
    Copy,
    For,
    Gather,
    HostCall,
    Kernel,
    MatMul,
    Operand,
    Scatter,
    Select,
    TiledModule,
    TopK,
    Unary,
    View,
    parse_tiled_module,
    print_tiled_module,
    run_tiled_module,
    verify_tiled_module,
)
from moecc.ir.tiled.nodes import BINARY_OPS, REDUCE_OPS, ROLES, SPACES, UNARY_OPS, ElementRef, Expr, Reduce, Stmt
from moecc.ir.tiled.printer import format_affine
from moecc.ir.types import DType, TensorType

DOCS = Path(__file__).resolve().parents[1] / "docs" / "tiled_ir.md"


def _assert_roundtrip(module: TiledModule) -> str:
    text = print_tiled_module(module)
    again = parse_tiled_module(text)
    assert again == module, text
    assert print_tiled_module(again) == text
    return text


# -- hand-written text --------------------------------------------------------------------------

EVERY_STATEMENT = """\
tiled_module(%x, %"ids:0") {
  global %x : f32[16, 8] input
  global %"ids:0" : i64[4] input
  global %w : bf16[2, 8, 8] weight
  global %b : u8[1, 1] weight
  global %n : i32[2] temp
  global %y : f32[16, 8] output
  global %v : f32[16, 2] output
  global %i : i32[16, 2] output
  kernel @all sources("/a", "/b \\"quoted\\"") {
    local %t : f32[4, 8]
    local %h : bf16[4, 8]
    // comments are ignored
    copy %t[0; 4x8; 8, 1] <- %x[32*%"ids:0" + 0*%q + 5; 4x8; 8, 1]
    compute %h[0; 4x8; 8, 1] = cast<bf16>(select(ge(%t[0; 4x8; 8, 1], -0.0 : f32), exp(%t[0; 4x8; 8, 1]), -inf : f32))
    compute %n[0; 2; 1] = xor(not(%n[0; 2; 1]), -2147483648 : i32)
    reduce.min %t[0; 4x1; 8, 1] += %x[0; 4x8; 8, 1]
    matmul %t[0; 4x8; 8, 1] += %h[0; 4x8; 8, 1]^T @ %w[-%e + 64*%e; 8x8; 8, 1]^T : f32
    matmul %t[0; 1x4x8; 0, 8, 1] = %h[0; 1x4x8; 0, 8, 1] @ %w[0; 1x8x8; 64, 8, 1] : i64
    gather %t[0; 4x8; 8, 1] <- %x[0; 16x8; 8, 1] rows %"ids:0"[0; 4; 1]
    gather %t[0; 4x8; 8, 1] <- %x[0; 16x8; 8, 1] rows %"ids:0"[0; 4; 1] in_bounds
    scatter %y[0; 16x8; 8, 1] rows %"ids:0"[0; 4; 1] <- %t[0; 4x8; 8, 1]
    scatter %y[0; 16x8; 8, 1] rows %"ids:0"[0; 4; -1] += %t[0; 4x8; 8, 1] in_bounds
    topk.smallest %v[0; 16x2; 2, 1], %i[0; 16x2; 2, 1] = %x[0; 16x8; 8, 1]
    matmul %t[0; 4x8; 8, 1] = %h[0; 4x8; 8, 1] @ %w[0; 8x8; 8, 1]^T : f32 blocks %b[0; 1x1; 1, 1] block 8
    for %e = 0 to 2 {
      for %t2 = 0 to %n[%e] max 16 {
        compute %y[8*%t2; 1x8; 8, 1] = true : bool
      }
    }
    for %z = 0 to 0 {
    }
  }
  kernel @empty {
  }
  host @"host step" ins(%y) outs(%v, %i) reason("top_k over\\té rows") sources("/TopK") {
    graph @router(%a: tensor<16x8xf32>) {
      %b, %c = top_k(%a) {k = 2} : tensor<16x2xf32>, tensor<16x2xi64>  loc("/TopK {x}")
      return %b, %c
    }
  }
  host @bare ins() outs() {
    graph @g() {
      return
    }
  }
  return %y, %v, %i
}
"""


def test_every_statement_kind_round_trips_exactly() -> None:
    module = parse_tiled_module(EVERY_STATEMENT)
    # Comments are dropped; everything else prints back as written.
    expected = EVERY_STATEMENT.replace("    // comments are ignored\n", "")
    assert print_tiled_module(module) == expected
    assert parse_tiled_module(expected) == module
    kernel = module.steps[0]
    assert isinstance(kernel, Kernel)
    copy = kernel.body[0]
    assert isinstance(copy, Copy) and copy.src.offset == Affine(5, (("ids:0", 32), ("q", 0)))  # terms as written
    inf = kernel.body[1].expr.x.b  # type: ignore[union-attr]
    assert inf == Const(-math.inf, DType.F32)
    assert kernel.body[7].in_bounds and not kernel.body[6].in_bounds and kernel.body[9].in_bounds
    masked = kernel.body[11]
    assert isinstance(masked, MatMul) and masked.blocks is not None and masked.block == 8
    loop = kernel.body[12]
    assert isinstance(loop, For) and isinstance(loop.body[0], For)
    assert loop.body[0].count == ElementRef("n", Affine(0, (("e", 1),))) and loop.body[0].max_count == 16


def test_docs_example_is_printer_output_and_runs() -> None:
    blocks = re.findall(r"```mlir\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    assert blocks, "docs/tiled_ir.md has no mlir example"
    for text in blocks:
        module = parse_tiled_module(text)
        assert print_tiled_module(module) == text
        verify_tiled_module(module)
    # The first example is the MoE dispatch: run it with every token on expert 0.
    module = parse_tiled_module(blocks[0])
    inputs = {}
    for buf in module.buffers:
        if buf.role in ("input", "weight"):
            inputs[buf.name] = np.ones(buf.shape, dtype=buf.dtype.numpy)
    run_tiled_module(module, inputs)


def test_docs_python_example_builds_a_valid_module() -> None:
    (snippet,) = [b for b in re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
                  if "TiledModule(" in b]
    namespace: dict[str, object] = {}
    exec(snippet, namespace)  # noqa: S102 - our own documentation
    module = namespace["module"]
    assert isinstance(module, TiledModule)
    verify_tiled_module(module)
    _assert_roundtrip(module)


@pytest.mark.parametrize(("expr", "text"), [
    (Affine(), "0"),
    (Affine(-7), "-7"),
    (Affine(5, (("i", 128), ("j", 1))), "128*%i + %j + 5"),
    (Affine(-3, (("i", -1), ("j", -2))), "-%i - 2*%j - 3"),
    (Affine(0, (("k", 0),)), "0*%k"),
])
def test_affine_text(expr: Affine, text: str) -> None:
    assert format_affine(expr) == text


def test_nan_constants_read_back_as_nan() -> None:
    module = TiledModule((Buffer("y", "global", DType.F32, (1,), "output"),),
                         (Kernel("k", (), (Compute(View.contiguous("y", (1,)), Const(math.nan, DType.F32)),)),),
                         (), ("y",))
    text = print_tiled_module(module)
    assert "nan : f32" in text and print_tiled_module(parse_tiled_module(text)) == text
    assert np.isnan(run_tiled_module(module, {})["y"]).all()


# -- random modules -----------------------------------------------------------------------------

NAMES = st.one_of(st.sampled_from(["x", "y", "acc", "t.0", "_", "9"]), st.text(min_size=1, max_size=4))
VARS = st.sampled_from(["i", "j", "k", "e t"])
DTYPES = st.sampled_from(list(DType))
STRINGS = st.text(max_size=6)


@st.composite
def affines(draw: st.DrawFn) -> Affine:
    terms = draw(st.lists(st.tuples(VARS, st.integers(-300, 300)), max_size=3))
    return Affine(draw(st.integers(-10_000, 10_000)), tuple(terms))


@st.composite
def views(draw: st.DrawFn) -> View:
    rank = draw(st.integers(0 if draw(st.integers(0, 20)) == 0 else 1, 3))
    shape = tuple(draw(st.lists(st.integers(-2, 64), min_size=rank, max_size=rank)))
    strides = tuple(draw(st.lists(st.integers(-100, 100), min_size=rank, max_size=rank)))
    return View(draw(NAMES), draw(affines()), shape, strides)


@st.composite
def consts(draw: st.DrawFn) -> Const:
    dtype = draw(DTYPES)
    if dtype is DType.BOOL:
        return Const(draw(st.booleans()), dtype)
    if dtype.is_float:
        return Const(draw(st.floats(allow_nan=False)), dtype)
    info = np.iinfo(dtype.numpy)
    return Const(draw(st.integers(int(info.min), int(info.max))), dtype)


def _grow(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    return st.one_of(
        st.builds(Unary, st.sampled_from(sorted(UNARY_OPS)), children),
        st.builds(Binary, st.sampled_from(sorted(BINARY_OPS)), children, children),
        st.builds(Select, children, children, children),
        st.builds(Cast, DTYPES, children),
    )


EXPRS = st.recursive(st.one_of(st.builds(Operand, views()), consts()), _grow, max_leaves=6)

LEAF_STMTS = st.one_of(
    st.builds(Copy, views(), views()),
    st.builds(Compute, views(), EXPRS),
    st.builds(Reduce, st.sampled_from(REDUCE_OPS), views(), views(), st.booleans()),
    st.builds(MatMul, views(), views(), views(), st.booleans(), DTYPES, st.booleans(), st.booleans()),
    st.builds(Gather, views(), views(), views()),
    st.builds(Scatter, views(), views(), views(), st.booleans()),
    st.builds(TopK, views(), views(), views(), st.booleans()),
)


@st.composite
def loops(draw: st.DrawFn, bodies: st.SearchStrategy[list[Stmt]]) -> For:
    count: int | ElementRef
    if draw(st.booleans()):
        count = draw(st.integers(-3, 100))
    else:
        count = ElementRef(draw(NAMES), draw(affines()))
    max_count = draw(st.one_of(st.none(), st.integers(-1, 100)))
    return For(draw(VARS), count, tuple(draw(bodies)), max_count)


STMTS = st.recursive(LEAF_STMTS, lambda inner: loops(st.lists(inner, max_size=3)), max_leaves=8)

BUFFER_ARGS = (NAMES, DTYPES, st.lists(st.integers(-1, 100), max_size=3).map(tuple), st.sampled_from(ROLES))


@st.composite
def buffers(draw: st.DrawFn, space: st.SearchStrategy[str]) -> Buffer:
    name, dtype, shape, role = (draw(s) for s in BUFFER_ARGS)
    return Buffer(name, draw(space), dtype, shape, role)


@st.composite
def host_calls(draw: st.DrawFn) -> HostCall:
    graph = Graph(draw(NAMES))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=2)))
    x = graph.add_input(draw(NAMES), TensorType(shape, DType.F32))
    builder = GraphBuilder(graph, source=draw(st.one_of(st.none(), STRINGS)))
    if draw(st.booleans()):
        values, indices = builder.emit("top_k", [x], {"k": 1, "largest": draw(st.booleans())})
        graph.set_outputs([values, indices], [draw(NAMES), draw(NAMES)])
    else:
        data = np.array(draw(st.lists(st.floats(allow_nan=False, width=32), min_size=shape[-1],
                                      max_size=shape[-1])), dtype=np.float32)
        graph.set_outputs([builder.emit1("add", [x, builder.const(data)])])
    outputs = tuple(draw(NAMES) for _ in graph.outputs)
    sources = tuple(draw(st.lists(STRINGS, max_size=2)))
    return HostCall(draw(NAMES), graph, (draw(NAMES),), outputs, draw(STRINGS), sources)


KERNELS = st.builds(Kernel, NAMES, st.lists(buffers(st.just("local")), max_size=2).map(tuple),
                    st.lists(STMTS, max_size=4).map(tuple), st.lists(STRINGS, max_size=2).map(tuple))

MODULES = st.builds(
    TiledModule,
    st.lists(buffers(st.sampled_from(SPACES)), max_size=4).map(tuple),
    st.lists(st.one_of(KERNELS, host_calls()), max_size=3).map(tuple),
    st.lists(NAMES, max_size=3).map(tuple),
    st.lists(NAMES, max_size=3).map(tuple),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MODULES)
def test_random_modules_round_trip(module: TiledModule) -> None:
    _assert_roundtrip(module)


# -- parse errors -------------------------------------------------------------------------------

GOOD = """\
tiled_module(%x) {
  global %x : f32[4, 4] input
  global %y : f32[4, 4] output
  kernel @k {
    compute %y[0; 4x4; 4, 1] = neg(%x[0; 4x4; 4, 1])
  }
  return %y
}
"""
STATEMENT = "    compute %y[0; 4x4; 4, 1] = neg(%x[0; 4x4; 4, 1])\n"


def _with(line: str) -> str:
    return GOOD.replace(STATEMENT, line + "\n")


@pytest.mark.parametrize(("text", "message"), [
    (_with("    copy %y[0; 4x4; 4, 1] <- %x[0; 4x4; 4, 1"), r"line 6:3: unexpected '}', expected one of ',', ']'"),
    (_with("    copy %y[0; 4x4; 4, 1] <- %x[0; 4x4 4, 1]"), r"line 5:40: unexpected '4', expected"),
    (_with("    compute %y[0; 4x4; 4, 1] = frob(%x[0; 4x4; 4, 1])"), r"line 5:32: unknown element-wise op 'frob'"),
    (_with("    compute %y[0; 4x4; 4, 1] = add(%x[0; 4x4; 4, 1])"), r"line 5:32: 'add' takes 2 operand\(s\), not 1"),
    (_with("    compute %y[0; 4x4; 4, 1] = 300 : i8"), r"line 5:32: constant 300 does not fit i8"),
    (_with("    compute %y[0; 4x4; 4, 1] = 1.0 : bool"), r"line 5:32: a bool constant is true or false"),
    (_with("    compute %y[0; 4x4; 4, 1] = true : f32"), r"line 5:32: true is a bool constant"),
    (_with("    compute %y[0; 4x4; 4, 1] = 1.5 : i32"), r"line 5:32: integer constant of i32 expected"),
    (_with("    compute %y[0; 4x4; 4, 1] = cast<f31>(%x[0; 4x4; 4, 1])"), r"line 5:37: unknown element type 'f31'"),
    (_with("    reduce.mean %y[0; 4x1; 4, 1] = %x[0; 4x4; 4, 1]"), r"line 5:5: unknown reduction 'mean'"),
    (_with("    topk.middle %y[0; 4x1; 4, 1], %y[0; 4x1; 4, 1] = %x[0; 4x4; 4, 1]"), r"line 5:5: unknown top-k order"),
    (_with("    for %i = 1 to 4 {\n    }"), r"line 5:14: loops start at 0, not 1"),
    (GOOD.replace("f32[4, 4] input", "f33[4, 4] input"), r"line 2:15: unknown element type 'f33'"),
    (GOOD.replace("  return %y\n}\n", "  return %y\n"), r"line 7:12: unexpected end of text, expected one of ',', '}'"),
    (GOOD.replace("@k", "@k ("), r"line 4:13: unexpected character '\('|line 4:13: unexpected"),
    (GOOD.replace("  return %y", '  host @h ins() outs() {\n    graph @g() {\n      %a = frob() : tensor<f32>\n'
                  '      return %a\n    }\n  }\n  return %y'), r"in the graph of a host call: .*frob"),
])
def test_parse_errors_name_line_and_column(text: str, message: str) -> None:
    with pytest.raises(IRParseError, match=message):
        parse_tiled_module(text)


def test_host_graph_errors_point_into_the_module_text() -> None:
    text = GOOD.replace("  return %y", '  host @h ins() outs() {\n    graph @g() {\n      %a = const dense<1.0> : '
                        'tensor<f32>\n      return %a, %zz\n    }\n  }\n  return %y')
    with pytest.raises(IRParseError) as info:
        parse_tiled_module(text)
    lines = text.split("\n")
    row = next(i for i, line in enumerate(lines) if "%zz" in line) + 1
    column = lines[row - 1].index("%zz") + 1
    assert f"line {row}:{column}" in str(info.value), str(info.value)
