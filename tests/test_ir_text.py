"""The graph IR's text form: print/parse round trips over every registered op kind, elided
constants and weight binding, and the exact diagnostics for invalid IR."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moecc.errors import IRParseError, VerificationError
from moecc.ir import DType, ElidedTensor, Graph, Op, TensorType, Value, run_graph, tensor_digest, verify_graph
from moecc.ir.parser import parse_graph
from moecc.ir.printer import format_attr_value, format_dense, print_graph
from moecc.ir.registry import REGISTRY, REQUIRED, Attr, AttrKind, OpDef, Operand, all_op_defs

DOCS = Path(__file__).resolve().parent.parent / "docs" / "ir.md"

ROUND_TRIP_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- strategies --------------------------------------------------------------------------

FLOAT_BIT_TYPES = {DType.F32: np.uint32, DType.F16: np.uint16, DType.BF16: np.uint16}

#: Bit patterns worth having in every float test: ±0, ±inf, the quiet NaN, NaNs with payloads
#: and sign, denormals, ±max.
SPECIAL_FLOAT_BITS = {
    DType.F32: [0, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x7FC00001, 0x7F800001, 1, 0x7F7FFFFF, 0xFF7FFFFF],
    DType.F16: [0, 0x8000, 0x7C00, 0xFC00, 0x7E00, 0xFE00, 0x7E01, 0x7C01, 1, 0x7BFF, 0xFBFF],
    DType.BF16: [0, 0x8000, 0x7F80, 0xFF80, 0x7FC0, 0xFFC0, 0x7FC1, 0x7F81, 1, 0x7F7F, 0xFF7F],
}

shapes = st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple)
tensor_types = st.builds(TensorType, shapes, st.sampled_from(list(DType)))

simple_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.]{0,6}", fullmatch=True)
#: Anything a name could hold: quotes, backslashes, newlines, non-ASCII, surrogates, empty.
any_names = st.one_of(simple_names, simple_names, st.text(max_size=6))


@st.composite
def arrays(draw: st.DrawFn, type: TensorType | None = None) -> np.ndarray:
    """Random data of any dtype; floats mix ordinary values with NaN payloads, ±0 and ±inf."""
    if type is None:
        type = draw(tensor_types)
    count = type.numel
    dtype = type.dtype
    if dtype is DType.BOOL:
        flat = np.array(draw(st.lists(st.booleans(), min_size=count, max_size=count)), dtype=np.bool_)
    elif dtype.is_int:
        info = np.iinfo(dtype.numpy)
        small = st.integers(-3, 3).filter(lambda v: v >= info.min)
        values = draw(st.lists(st.one_of(small, st.integers(int(info.min), int(info.max))), min_size=count, max_size=count))
        flat = np.array(values, dtype=dtype.numpy)
    else:
        bits_type = FLOAT_BIT_TYPES[dtype]
        ordinary = st.floats(width=32, allow_nan=False).map(lambda f: _bits_of(f, dtype))
        any_bits = st.integers(0, int(np.iinfo(bits_type).max))
        special = st.sampled_from(SPECIAL_FLOAT_BITS[dtype])
        bits = draw(st.lists(st.one_of(ordinary, any_bits, special), min_size=count, max_size=count))
        flat = np.array(bits, dtype=bits_type).view(dtype.numpy)
    if count > 1 and draw(st.booleans()) and draw(st.booleans()):
        flat = np.full(count, flat[0], dtype=flat.dtype)  # a splat
    return flat.reshape(type.shape)


def _bits_of(value: float, dtype: DType) -> int:
    with np.errstate(over="ignore"):  # f32 values beyond f16's range become inf, which is fine
        return int(np.array([value]).astype(dtype.numpy).view(FLOAT_BIT_TYPES[dtype])[0])


def attr_values(attr: Attr) -> st.SearchStrategy[Any]:
    """Values of an attribute's declared kind (its choices sometimes, its default sometimes)."""
    by_kind: dict[AttrKind, st.SearchStrategy[Any]] = {
        AttrKind.INT: st.one_of(st.integers(-4, 4), st.integers(-(2**63), 2**63 - 1)),
        AttrKind.FLOAT: st.floats(),
        AttrKind.BOOL: st.booleans(),
        AttrKind.STR: st.text(max_size=8),
        AttrKind.INTS: st.lists(st.integers(-(2**63), 2**63 - 1), max_size=4).map(tuple),
        AttrKind.FLOATS: st.lists(st.floats(), max_size=4).map(tuple),
        AttrKind.DTYPE: st.sampled_from(list(DType)),
        AttrKind.TENSOR: arrays(),
    }
    options = [by_kind[attr.kind]]
    if attr.choices:
        options.append(st.sampled_from(attr.choices))
    if attr.default is not None and attr.default is not REQUIRED:
        options.append(st.just(_canonical(attr)))
    return st.one_of(options)


def _canonical(attr: Attr) -> Any:
    if attr.kind is AttrKind.FLOAT:
        return float(attr.default)
    if attr.kind in (AttrKind.INTS, AttrKind.FLOATS):
        return tuple(attr.default)
    return attr.default


@st.composite
def graphs(draw: st.DrawFn, *, max_ops: int = 8, kinds: list[str] | None = None) -> Graph:
    """A random graph over every registered op kind (or ``kinds``): operand counts follow the
    Operand declarations, attributes their declared kinds; types are random (the parser does
    not verify, so the graph need not type-check)."""
    op_defs = all_op_defs()
    kinds = sorted(op_defs) if kinds is None else kinds
    graph = Graph(draw(any_names))
    used: set[str] = set()

    def fresh() -> str:
        name = draw(any_names)
        while name in used:
            name += "_"
        used.add(name)
        graph.reserve_name(name)
        return name

    values: list[Value] = []
    for _ in range(draw(st.integers(0, 3))):
        value = Value(fresh(), draw(tensor_types))
        graph.inputs.append(value)
        values.append(value)
    for _ in range(draw(st.integers(0, max_ops))):
        kind = draw(st.sampled_from(kinds))
        opdef = op_defs[kind]
        if kind == "const" or (opdef.min_operands > 0 and not values):
            op = _const_op(draw, fresh)
        else:
            op = _random_op(draw, opdef, values, fresh)
        graph.ops.append(op)
        values.extend(op.results)
    if values:
        outputs = draw(st.lists(st.sampled_from(values), max_size=4))
        names = [draw(st.one_of(st.just(v.name), any_names)) for v in outputs]
        graph.set_outputs(outputs, names)
    return graph


def _const_op(draw: st.DrawFn, fresh: Any) -> Op:
    data = draw(arrays())
    result_type = TensorType.of(data) if draw(st.integers(0, 4)) else draw(tensor_types)
    source = draw(st.one_of(st.none(), st.text(max_size=10)))
    return Op("const", [], {"value": data}, [Value(fresh(), result_type)], source)


def _random_op(draw: st.DrawFn, opdef: OpDef, values: list[Value], fresh: Any) -> Op:
    highest = opdef.max_operands if opdef.max_operands is not None else opdef.min_operands + 2
    count = draw(st.integers(opdef.min_operands, highest))
    operands = [draw(st.sampled_from(values)) for _ in range(count)]
    attrs: dict[str, Any] = {}
    for attr in opdef.attrs:
        if attr.default is None and draw(st.booleans()):
            continue  # an optional attribute left out
        attrs[attr.name] = draw(attr_values(attr))
    results = [Value(fresh(), draw(tensor_types)) for _ in range(opdef.num_results)]
    source = draw(st.one_of(st.none(), st.text(max_size=10)))
    return Op(opdef.name, operands, attrs, results, source)


#: An op no real family declares, so every attribute kind, an optional tensor attribute on a
#: non-const op, a variadic operand and two results are covered whatever the registry holds.
EVERY_KIND_OP = OpDef(
    name="text_test_every_attr_kind",
    operands=(Operand("x"), Operand("more", variadic=True)),
    attrs=(
        Attr("count", AttrKind.INT),
        Attr("scale", AttrKind.FLOAT, 1),
        Attr("flag", AttrKind.BOOL, False),
        Attr("mode", AttrKind.STR, "none", choices=("none", "tanh")),
        Attr("dims", AttrKind.INTS, ()),
        Attr("weights", AttrKind.FLOATS, (1.0, -0.0)),
        Attr("to", AttrKind.DTYPE, DType.F32),
        Attr("table", AttrKind.TENSOR, None),
        Attr("limit", AttrKind.FLOAT, None),
    ),
    infer=lambda types, attrs: [types[0], types[0]],
    compute=lambda arrays, attrs: [arrays[0], arrays[0]],
    num_results=2,
)


@contextlib.contextmanager
def every_kind_op_registered() -> Iterator[None]:
    all_op_defs()  # load the real families first
    REGISTRY[EVERY_KIND_OP.name] = EVERY_KIND_OP
    try:
        yield
    finally:
        REGISTRY.pop(EVERY_KIND_OP.name, None)


def assert_same_text_facts(a: Graph, b: Graph) -> None:
    """What ``structurally_equal`` leaves out but the text carries: names and sources."""
    assert a.name == b.name
    assert [v.name for v in a.values()] == [v.name for v in b.values()]
    assert [op.source for op in a.ops] == [op.source for op in b.ops]


# -- round trips ---------------------------------------------------------------------------

@ROUND_TRIP_SETTINGS
@given(graphs())
def test_print_parse_round_trip_over_every_op_kind(graph: Graph) -> None:
    text = print_graph(graph, elide_constants=False)
    parsed = parse_graph(text)
    assert parsed.structurally_equal(graph), text
    assert_same_text_facts(parsed, graph)
    assert print_graph(parsed, elide_constants=False) == text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(graphs(max_ops=5), st.integers(0, 6))
def test_elided_text_parses_to_placeholders_and_binds_back(graph: Graph, threshold: int) -> None:
    text = print_graph(graph, elide_threshold=threshold)
    assert print_graph(parse_graph(text), elide_threshold=threshold) == text
    parsed = parse_graph(text)
    weights: dict[str, np.ndarray] = {}
    for original, placeholder in zip(graph.ops, parsed.ops):
        for name, value in original.attrs.items():
            if isinstance(value, np.ndarray) and value.size > threshold:
                elided = placeholder.attrs[name]
                assert elided == ElidedTensor(TensorType.of(value), tensor_digest(value))
                weights[elided.digest] = value
    by_digest = parse_graph(text, weights=weights)
    assert by_digest.structurally_equal(graph)
    # Graph.bind_weights after parsing restores the constants (the registry's only tensor attrs)
    parsed.bind_weights(weights)
    tensors_only_in_consts = all(
        op.kind == "const" for op in graph.ops for value in op.attrs.values() if isinstance(value, np.ndarray)
    )
    assert parsed.structurally_equal(graph) or not tensors_only_in_consts


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data(), st.integers(0, 6))
def test_round_trip_covers_every_attribute_kind(data: st.DataObject, threshold: int) -> None:
    with every_kind_op_registered():
        graph = data.draw(graphs(max_ops=4, kinds=[EVERY_KIND_OP.name, "const"]))
        text = print_graph(graph, elide_constants=False)
        parsed = parse_graph(text)
        assert parsed.structurally_equal(graph), text
        assert_same_text_facts(parsed, graph)
        assert print_graph(parsed, elide_constants=False) == text
        # tensor attributes of any op elide too, and bind back by digest
        elided = print_graph(graph, elide_threshold=threshold)
        weights = {
            tensor_digest(value): value
            for op in graph.ops
            for value in op.attrs.values()
            if isinstance(value, np.ndarray)
        }
        assert parse_graph(elided, weights=weights).structurally_equal(graph)


def test_parse_of_the_design_example_keeps_everything() -> None:
    text = """\
graph @main(%input_ids: tensor<1x16xi64>) {
  %wte = const dense<elided "3fa9c0d1e2b4a5f6"> : tensor<256x64xf32>
  %pos = const dense<[0, 1, 2, 3]> : tensor<4xi64>
  %h = gather(%wte, %input_ids) : tensor<1x16x64xf32>  loc("/embed/Gather")
  %vals, %idx = top_k(%h) {k = 2} : tensor<1x16x2xf32>, tensor<1x16x2xi64>
  %c = cast(%h) {to = bf16} : tensor<1x16x64xbf16>
  return %vals as "logits", %idx, %vals as "again", %input_ids
}
"""
    graph = parse_graph(text)
    assert print_graph(graph) == text
    wte, pos, gather, top_k, cast = graph.ops
    assert wte.attrs["value"] == ElidedTensor(TensorType((256, 64), DType.F32), "3fa9c0d1e2b4a5f6")
    assert pos.attrs["value"].tolist() == [0, 1, 2, 3]
    assert gather.attrs == {"axis": 0} and gather.source == "/embed/Gather"
    assert top_k.attrs == {"k": 2, "axis": -1, "largest": True, "sorted": True}
    assert cast.attrs == {"to": DType.BF16}
    assert graph.output_names == ["logits", "idx", "again", "input_ids"]
    assert graph.outputs[0] is graph.outputs[2] and graph.outputs[3] is graph.inputs[0]
    weights = {"wte": np.ones((256, 64), np.float32)}
    with pytest.raises(IRParseError, match=r"line 2:3: weight 'wte' has digest [0-9a-f]{16}, the IR says 3fa9c0d1e2b4a5f6"):
        parse_graph(text, weights=weights)


def test_printed_graph_verifies_and_runs_after_parsing() -> None:
    graph = Graph("tiny")
    x = graph.add_input("x", TensorType((2, 3), DType.F32))
    bias = graph.add_const(np.array([0.5, -0.0, 1e-30], np.float32), "bias")
    added = graph.add_op("add", [x, bias], {}, [x.type], names=["sum"], source="/Add").result
    graph.add_op("softmax", [added], {"axis": -1}, [x.type], names=["probs"])
    graph.set_outputs([graph.ops[-1].result], ["probs"])
    verify_graph(graph)
    parsed = parse_graph(print_graph(graph))
    verify_graph(parsed)
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(run_graph(parsed, {"x": data})["probs"], run_graph(graph, {"x": data})["probs"])


def test_running_an_unbound_elided_constant_fails_and_binding_fixes_it() -> None:
    weight = np.linspace(-1, 1, 32, dtype=np.float32).reshape(4, 8)
    graph = Graph()
    x = graph.add_input("x", TensorType((4, 8), DType.F32))
    w = graph.add_const(weight, "w")
    graph.add_op("add", [x, w], {}, [x.type], names=["y"])
    graph.set_outputs([graph.ops[-1].result])
    text = print_graph(graph)
    assert f'%w = const dense<elided "{tensor_digest(weight)}"> : tensor<4x8xf32>' in text
    parsed = parse_graph(text)
    inputs = {"x": np.zeros((4, 8), np.float32)}
    with pytest.raises(VerificationError, match="was elided"):
        run_graph(parsed, inputs)
    parsed.bind_weights({"w": weight})
    np.testing.assert_array_equal(run_graph(parsed, inputs)["y"], weight)
    by_name = parse_graph(text, weights={"w": weight})
    np.testing.assert_array_equal(run_graph(by_name, inputs)["y"], weight)


# -- the format itself ---------------------------------------------------------------------

@pytest.mark.parametrize(
    ("data", "text"),
    [
        (np.array([1.5, -0.0, np.nan, np.inf, -np.inf, 0.1, 3.0], np.float32), "dense<[1.5, -0.0, nan, inf, -inf, 0.1, 3.0]>"),
        (np.array([0x7FC00001, 0xFFC00000], np.uint32).view(np.float32), "dense<[0x7fc00001, 0xffc00000]>"),
        (np.array([0.1, 65504, 6e-8], np.float16), "dense<[0.1, 65500.0, 6e-08]>"),
        (np.array([[1, 2], [3, 4]], np.int64), "dense<[[1, 2], [3, 4]]>"),
        (np.full((3, 3), 7, np.int8), "dense<7>"),
        (np.array(True), "dense<true>"),
        (np.zeros((2, 0, 3), np.uint8), "dense<[[], []]>"),
        (np.array([], np.float32), "dense<[]>"),
    ],
)
def test_dense_literals_read_well(data: np.ndarray, text: str) -> None:
    assert format_dense(data) == text


@given(arrays())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_dense_literals_are_bit_exact(data: np.ndarray) -> None:
    type = TensorType.of(data)
    text = f"graph @g() {{\n  %c = const {format_dense(data)} : {type}\n  return %c\n}}\n"
    parsed = parse_graph(text).ops[0].attrs["value"]
    assert parsed.dtype == data.dtype and parsed.shape == data.shape
    assert parsed.tobytes() == data.tobytes()


def test_names_that_need_quoting_round_trip() -> None:
    graph = Graph('my "graph"')
    weird = ["has space", "", 'quote"back\\slash', "new\nline", "ünï", "\ud800", "\u2028", "9lives", "a.b_c"]
    values = []
    for name in weird:
        value = Value(name, TensorType((), DType.F32))
        graph.reserve_name(name)
        graph.inputs.append(value)
        values.append(value)
    graph.set_outputs(values, [n[::-1] for n in weird])
    text = print_graph(graph)
    assert "\n" not in text.split("{", 1)[0] and text.count("\n") == 3
    assert "%a.b_c: tensor<f32>" in text and "%9lives" in text and '%"has space"' in text
    parsed = parse_graph(text)
    assert [v.name for v in parsed.inputs] == weird
    assert parsed.output_names == graph.output_names and parsed.name == graph.name


def test_attributes_equal_to_defaults_are_omitted_and_refilled() -> None:
    graph = parse_graph(
        "graph @g(%x: tensor<2x3xf32>) {\n"
        "  %y = softmax(%x) {axis = -1} : tensor<2x3xf32>\n"
        "  %z = softmax(%x) {axis = 0} : tensor<2x3xf32>\n"
        "  %c = clip(%x) {max = 6.0} : tensor<2x3xf32>\n"
        "  return %y, %z, %c\n}\n"
    )
    assert [op.attrs for op in graph.ops] == [{"axis": -1}, {"axis": 0}, {"max": 6.0}]
    text = print_graph(graph)
    assert "%y = softmax(%x) : tensor<2x3xf32>" in text
    assert "%z = softmax(%x) {axis = 0} : tensor<2x3xf32>" in text
    assert "%c = clip(%x) {max = 6.0} : tensor<2x3xf32>" in text


def test_every_attribute_kind_has_a_syntax() -> None:
    spellings = {
        AttrKind.INT: (-3, "-3"),
        AttrKind.FLOAT: (1e-05, "1e-05"),
        AttrKind.BOOL: (False, "false"),
        AttrKind.STR: ('a "b"', '"a \\"b\\""'),
        AttrKind.INTS: ((1, -2), "[1, -2]"),
        AttrKind.FLOATS: ((0.5, float("-inf")), "[0.5, -inf]"),
        AttrKind.DTYPE: (DType.BF16, "bf16"),
        AttrKind.TENSOR: (np.array([1, 2], np.int32), "dense<[1, 2]> : tensor<2xi32>"),
    }
    assert set(spellings) == set(AttrKind)
    for value, text in spellings.values():
        assert format_attr_value(value) == text


def test_comments_and_free_layout_are_accepted() -> None:
    graph = parse_graph(
        "// a comment\ngraph @g(%x: tensor<f32>)\n{ %y = neg(%x)   // why not\n : tensor<f32> return %y }"
    )
    assert [op.kind for op in graph.ops] == ["neg"] and graph.output_names == ["y"]


def test_docs_examples_parse_and_print_back() -> None:
    blocks = re.findall(r"```mlir\n(.*?)```", DOCS.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "docs/ir.md should show the format in ```mlir blocks"
    for block in blocks:
        without_comments = "".join(line for line in block.splitlines(keepends=True) if not line.lstrip().startswith("//"))
        graph = parse_graph(block)
        verify_graph(graph)
        assert print_graph(graph) == without_comments


# -- diagnostics ---------------------------------------------------------------------------

HEADER = "graph @g(%x: tensor<2x3xf32>) {\n"

INVALID_IR = [
    pytest.param(
        HEADER + "  %y = frobnicate(%x) : tensor<2x3xf32>\n  return %y\n}\n",
        "line 2:8: unknown op kind 'frobnicate'; the registered op kinds are listed by moecc.ir.registry.all_op_defs()",
        id="unknown-op",
    ),
    pytest.param(
        HEADER + "  %y = neg(%z) : tensor<2x3xf32>\n  return %y\n}\n",
        "line 2:12: use of undefined value %z; define a value before using it",
        id="undefined-value",
    ),
    pytest.param(
        HEADER + "  %y = neg(%y) : tensor<2x3xf32>\n  return %y\n}\n",
        "line 2:12: use of undefined value %y; define a value before using it",
        id="self-reference",
    ),
    pytest.param(
        HEADER + "  %x = neg(%x) : tensor<2x3xf32>\n  return %x\n}\n",
        "line 2:3: value %x is already defined (at line 1:10); give every value a unique name",
        id="redefined-input",
    ),
    pytest.param(
        HEADER + "  %a, %a = top_k(%x) {k = 1} : tensor<2x1xf32>, tensor<2x1xi64>\n  return %a\n}\n",
        "line 2:7: value %a is already defined (at line 2:3); give every value a unique name",
        id="redefined-result",
    ),
    pytest.param(
        HEADER + "  %y = softmax(%x) {axis = 1.0} : tensor<2x3xf32>\n  return %y\n}\n",
        "line 2:28: attribute 'axis' of 'softmax' must be an int, got 1.0",
        id="float-for-int",
    ),
    pytest.param(
        HEADER + "  %y, %i = top_k(%x) {k = 1, largest = 1} : tensor<2x1xf32>, tensor<2x1xi64>\n  return %y\n}\n",
        "line 2:40: attribute 'largest' of 'top_k' must be a bool, got 1",
        id="int-for-bool",
    ),
    pytest.param(
        HEADER + "  %y = cast(%x) {to = f64} : tensor<2x3xf32>\n  return %y\n}\n",
        "line 2:23: attribute 'to' of 'cast': unknown element type 'f64'; use one of f32, f16, bf16, i64, i32, i8, u8, bool",
        id="bad-dtype-attr",
    ),
    pytest.param(
        HEADER + "  %y = transpose(%x) {perm = 1} : tensor<3x2xf32>\n  return %y\n}\n",
        "line 2:30: attribute 'perm' of 'transpose' is a list of ints: write [a, b, ...]",
        id="scalar-for-ints",
    ),
    pytest.param(
        HEADER + "  %y = transpose(%x) {perm = [1, 0.5]} : tensor<3x2xf32>\n  return %y\n}\n",
        "line 2:34: attribute 'perm' of 'transpose' must be an int, got 0.5",
        id="float-in-ints",
    ),
    pytest.param(
        HEADER + "  %y = softmax(%x) {dim = 1} : tensor<2x3xf32>\n  return %y\n}\n",
        "line 2:21: op 'softmax' has no attribute 'dim'; it takes axis",
        id="unknown-attr",
    ),
    pytest.param(
        HEADER + "  %y = softmax(%x) {axis = 0, axis = 1} : tensor<2x3xf32>\n  return %y\n}\n",
        "line 2:31: attribute 'axis' is given twice",
        id="duplicate-attr",
    ),
    pytest.param(
        HEADER + "  %y, %i = top_k(%x) : tensor<2x1xf32>, tensor<2x1xi64>\n  return %y\n}\n",
        "line 2:12: op 'top_k' needs attribute 'k' (int)",
        id="missing-required-attr",
    ),
    pytest.param(
        HEADER + "  %y, %i = top_k(%x) {k = 1} : tensor<2x1xf32>\n  return %y\n}\n",
        "line 2:32: 'top_k' defines 2 result(s) but lists 1 type(s); write one tensor type per result after ':'",
        id="type-count",
    ),
    pytest.param(
        HEADER + "  %y = neg(%x) : tensor<2x3xf64>\n  return %y\n}\n",
        "line 2:18: bad tensor type tensor<2x3xf64>: unknown element type 'f64'; use one of f32, f16, bf16, i64, i32, i8, u8, bool",
        id="bad-element-type",
    ),
    pytest.param(
        HEADER + "  %y = neg(%x) : tensor<2x?xf32>\n  return %y\n}\n",
        "line 2:18: bad tensor type tensor<2x?xf32>: dimensions must be non-negative integers",
        id="dynamic-dim",
    ),
    pytest.param(
        HEADER + "  %c = const dense<[1, 2, 3]> : tensor<2xi64>\n  return %c\n}\n",
        "line 2:20: dimension 0 has 3 entries, the type tensor<2xi64> says 2",
        id="dense-too-long",
    ),
    pytest.param(
        HEADER + "  %c = const dense<[[1, 2], [3]]> : tensor<2x2xi64>\n  return %c\n}\n",
        "line 2:29: dimension 1 has 1 entries, the type tensor<2x2xi64> says 2",
        id="dense-ragged",
    ),
    pytest.param(
        HEADER + "  %c = const dense<[1, 2.5]> : tensor<2xi64>\n  return %c\n}\n",
        "line 2:24: expected an integer for i64, got '2.5'",
        id="dense-float-for-int",
    ),
    pytest.param(
        HEADER + "  %c = const dense<[1, 256]> : tensor<2xu8>\n  return %c\n}\n",
        "line 2:24: 256 is out of range for u8",
        id="dense-out-of-range",
    ),
    pytest.param(
        HEADER + "  %c = const dense<[1.0, 0x1ffff]> : tensor<2xbf16>\n  return %c\n}\n",
        "line 2:26: bit pattern 0x1ffff is wider than bf16",
        id="dense-wide-bits",
    ),
    pytest.param(
        HEADER + "  %c = const dense<[true, 1]> : tensor<2xbool>\n  return %c\n}\n",
        "line 2:27: expected true or false for bool, got '1'",
        id="dense-int-for-bool",
    ),
    pytest.param(
        HEADER + '  %c = const dense<elided "xyz"> : tensor<4xf32>\n  return %c\n}\n',
        'line 2:14: bad digest "xyz": expected 16 lowercase hex digits',
        id="bad-digest",
    ),
    pytest.param(
        HEADER + "  %c = neg dense<[1.0]> : tensor<1xf32>\n  return %c\n}\n",
        "line 2:12: only 'const' takes a dense literal directly, 'neg' does not",
        id="dense-on-non-const",
    ),
    pytest.param(
        HEADER + "  %y = neg(%x) : tensor<2x3xf32>\n  return %y,\n}\n",
        "line 4:1: unexpected '}', expected a value (%name)",
        id="trailing-comma",
    ),
    pytest.param(
        HEADER + "  %y = neg(%x) : tensor<2x3xf32>\n",
        "line 2:33: unexpected end of text, expected one of ',', 'loc', 'return', a name, a value (%name)",
        id="truncated",
    ),
    pytest.param(
        HEADER + "  %y = neg(%x) $ : tensor<2x3xf32>\n  return %y\n}\n",
        "line 2:16: unexpected character '$', expected one of ':', '{', a name, a value (%name)",
        id="stray-character",
    ),
    pytest.param(
        HEADER + '  %y = neg(%x) : tensor<2x3xf32>  loc("\\q")\n  return %y\n}\n',
        "line 2:39: bad string literal \"\\q\": Invalid \\escape",
        id="bad-escape",
    ),
]


@pytest.mark.parametrize(("text", "message"), INVALID_IR)
def test_invalid_ir_is_reported_with_line_and_column(text: str, message: str) -> None:
    with pytest.raises(IRParseError) as caught:
        parse_graph(text)
    assert str(caught.value) == message


def test_wrongly_typed_weights_are_refused_where_the_constant_is() -> None:
    text = HEADER + '  %w = const dense<elided "0123456789abcdef"> : tensor<2x3xf32>\n  return %w\n}\n'
    assert isinstance(parse_graph(text).ops[0].attrs["value"], ElidedTensor)
    with pytest.raises(IRParseError) as caught:
        parse_graph(text, weights={"0123456789abcdef": np.zeros((3, 2), np.float32)})
    assert str(caught.value) == "line 2:3: weight 'w' is tensor<3x2xf32>, the IR declares tensor<2x3xf32>"
