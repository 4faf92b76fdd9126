"""Elementwise graph-IR ops run through GraphBuilder + the reference interpreter, checked
against the ONNX reference evaluator, numpy and hand-computed ONNX edge cases."""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

from moecc.errors import ShapeError, UnsupportedError, VerificationError
from moecc.ir.types import DType
from tests.ir_test_helpers import run_op

RNG = np.random.default_rng(1234)




def onnx_reference(op_type: str, arrays: list[np.ndarray], out_dtype: np.dtype, **attrs: object) -> np.ndarray:
    """The ONNX reference evaluator's answer for one node."""
    names = [f"x{i}" for i in range(len(arrays))]
    node = helper.make_node(op_type, names, ["y"], **attrs)
    to_onnx = helper.np_dtype_to_tensor_dtype
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info(n, to_onnx(a.dtype), a.shape) for n, a in zip(names, arrays)],
        [helper.make_tensor_value_info("y", to_onnx(np.dtype(out_dtype)), None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])
    return ReferenceEvaluator(model).run(None, dict(zip(names, arrays)))[0]


# -- against the ONNX reference ----------------------------------------------------------------

UNARY_CASES = [
    ("Neg", "neg", {}),
    ("Abs", "abs", {}),
    ("Exp", "exp", {}),
    ("Log", "log", {}),
    ("Sqrt", "sqrt", {}),
    ("Reciprocal", "reciprocal", {}),
    ("Tanh", "tanh", {}),
    ("Erf", "erf", {}),
    ("Sigmoid", "sigmoid", {}),
    ("Relu", "relu", {}),
    ("Sin", "sin", {}),
    ("Cos", "cos", {}),
    ("Floor", "floor", {}),
    ("Ceil", "ceil", {}),
    ("Sign", "sign", {}),
    ("Softplus", "softplus", {}),
    ("HardSwish", "hard_swish", {}),
    ("Mish", "mish", {}),
    ("LeakyRelu", "leaky_relu", {"alpha": 0.3}),
    ("HardSigmoid", "hard_sigmoid", {"alpha": 0.25, "beta": 0.4}),
]


@pytest.mark.parametrize("op_type,kind,attrs", UNARY_CASES, ids=[c[0] for c in UNARY_CASES])
def test_unary_matches_onnx_reference(op_type: str, kind: str, attrs: dict) -> None:
    x = (RNG.standard_normal((3, 17)) * 4).astype(np.float32)
    if op_type in ("Log", "Sqrt"):
        x = np.abs(x) + 0.01
    (got,) = run_op(kind, x, **attrs)
    expected = onnx_reference(op_type, [x], np.float32, **attrs)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_onnx_reference(approximate: str) -> None:
    x = (RNG.standard_normal((64,)) * 3).astype(np.float32)
    (got,) = run_op("gelu", x, approximate=approximate)
    node = helper.make_node("Gelu", ["x0"], ["y"], approximate=approximate)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x0", TensorProto.FLOAT, x.shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, x.shape)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    expected = ReferenceEvaluator(model).run(None, {"x0": x})[0]
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-7)


BINARY_CASES = [
    ("Add", "add"), ("Sub", "sub"), ("Mul", "mul"), ("Div", "div"), ("Pow", "pow"), ("Max", "max"), ("Min", "min"),
    ("Equal", "equal"), ("Less", "less"), ("Greater", "greater"), ("LessOrEqual", "less_equal"),
    ("GreaterOrEqual", "greater_equal"),
]


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64])
@pytest.mark.parametrize("op_type,kind", BINARY_CASES, ids=[c[0] for c in BINARY_CASES])
def test_binary_broadcasting_matches_onnx_reference(op_type: str, kind: str, dtype: type) -> None:
    a = (RNG.standard_normal((2, 3, 4)) * 5).astype(dtype)
    b = (RNG.standard_normal((3, 1)) * 5).astype(dtype)
    if kind == "pow":
        a = np.abs(a) + 1 if dtype == np.float32 else a
        b = np.abs(b) % 4
    if kind == "div" and dtype != np.float32:
        b[b == 0] = 3
    (got,) = run_op(kind, a, b)
    comparison = kind in ("equal", "less", "greater", "less_equal", "greater_equal")
    expected = onnx_reference(op_type, [a, b], np.bool_ if comparison else dtype)
    assert got.shape == (2, 3, 4)
    assert got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.parametrize("op_type,kind", [("And", "and"), ("Or", "or"), ("Xor", "xor")])
def test_logic_ops(op_type: str, kind: str) -> None:
    a = RNG.random((4, 5)) > 0.5
    b = RNG.random((5,)) > 0.5
    (got,) = run_op(kind, a, b)
    np.testing.assert_array_equal(got, onnx_reference(op_type, [a, b], np.bool_))
    (negated,) = run_op("not", a)
    np.testing.assert_array_equal(negated, ~a)


# -- ONNX semantics numpy does not have ------------------------------------------------------------

def test_integer_division_truncates_toward_zero() -> None:
    a = np.array([7, -7, 7, -7, 0, -1], dtype=np.int32)
    b = np.array([2, 2, -2, -2, 5, 3], dtype=np.int32)
    (got,) = run_op("div", a, b)
    np.testing.assert_array_equal(got, [3, -3, -3, 3, 0, 0])
    assert got.dtype == np.int32


def test_integer_arithmetic_wraps_in_its_dtype() -> None:
    a = np.array([127, -128], dtype=np.int8)
    (added,) = run_op("add", a, np.array([1, -1], dtype=np.int8))
    np.testing.assert_array_equal(added, np.array([-128, 127], dtype=np.int8))


def test_integer_power_with_negative_exponent() -> None:
    base = np.array([2, 1, -1, -1, 3, 0], dtype=np.int64)
    exponent = np.array([-1, -4, -3, -2, 3, 2], dtype=np.int64)
    (got,) = run_op("pow", base, exponent)
    np.testing.assert_array_equal(got, [0, 1, -1, 1, 27, 0])


@pytest.mark.parametrize("fmod", [False, True])
def test_mod_sign_rules(fmod: bool) -> None:
    a = np.array([5, -5, 5, -5], dtype=np.int32)
    b = np.array([3, 3, -3, -3], dtype=np.int32)
    (got,) = run_op("mod", a, b, fmod=fmod)
    np.testing.assert_array_equal(got, np.fmod(a, b) if fmod else np.mod(a, b))


def test_erf_is_accurate_to_float32() -> None:
    x = np.concatenate([np.linspace(-6, 6, 2001), [1e-30, -1e-8, 1e-4]]).astype(np.float32)
    (got,) = run_op("erf", x)
    expected = np.array([math.erf(float(v)) for v in x], dtype=np.float64).astype(np.float32)
    np.testing.assert_array_equal(got, expected)


def test_half_types_compute_in_float32_and_round_once() -> None:
    x = np.array([0.1, 1.7, -3.2, 9.5], dtype=np.float32)
    for dtype in (np.float16, ml_dtypes.bfloat16):
        half = x.astype(dtype)
        (got,) = run_op("tanh", half)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, np.tanh(half.astype(np.float32)).astype(dtype))


def test_sigmoid_and_softplus_do_not_overflow() -> None:
    x = np.array([-1000, -88, 0, 88, 1000], dtype=np.float32)
    (sig,) = run_op("sigmoid", x)
    (soft,) = run_op("softplus", x)
    assert np.all(np.isfinite(sig)) and sig[0] == 0 and sig[-1] == 1
    np.testing.assert_allclose(soft[-2:], [88, 1000], rtol=1e-6)


def test_is_inf_and_is_nan() -> None:
    x = np.array([np.inf, -np.inf, np.nan, 1.0], dtype=np.float32)
    np.testing.assert_array_equal(run_op("is_inf", x)[0], [True, True, False, False])
    np.testing.assert_array_equal(run_op("is_inf", x, detect_negative=False)[0], [True, False, False, False])
    np.testing.assert_array_equal(run_op("is_inf", x, detect_positive=False)[0], [False, True, False, False])
    np.testing.assert_array_equal(run_op("is_nan", x)[0], [False, False, True, False])


# -- cast, where, clip -------------------------------------------------------------------------

def test_cast_rules() -> None:
    x = np.array([1.9, -1.9, 0.0, np.nan, -0.0], dtype=np.float32)
    np.testing.assert_array_equal(run_op("cast", x[:3], to=DType.I32)[0], [1, -1, 0])
    np.testing.assert_array_equal(run_op("cast", x, to=DType.BOOL)[0], [True, True, False, True, False])
    wrapped = run_op("cast", np.array([200, 300], dtype=np.int32), to=DType.I8)[0]
    np.testing.assert_array_equal(wrapped, np.array([-56, 44], dtype=np.int8))
    bf = run_op("cast", np.array([1.00390625, 3.0], dtype=np.float32), to=DType.BF16)[0]
    assert bf.dtype == ml_dtypes.bfloat16 and float(bf[0]) == 1.0  # ties round to even
    back = run_op("cast", bf, to=DType.I64)[0]
    np.testing.assert_array_equal(back, [1, 3])


def test_where_broadcasts_all_three() -> None:
    cond = np.array([[True], [False]])
    a = np.arange(3, dtype=np.float32)
    b = np.float32(-1) * np.ones((2, 1, 1), dtype=np.float32)
    (got,) = run_op("where", cond, a, b)
    np.testing.assert_array_equal(got, np.where(cond, a, b))
    assert got.shape == (2, 2, 3)


def test_clip_bounds_and_min_above_max() -> None:
    x = np.array([-5, 0, 5, np.nan], dtype=np.float32)
    np.testing.assert_array_equal(run_op("clip", x, min=-1.0, max=1.0)[0], [-1, 0, 1, np.nan])
    np.testing.assert_array_equal(run_op("clip", x, max=2.0)[0], [-5, 0, 2, np.nan])
    np.testing.assert_array_equal(run_op("clip", x[:3], min=3.0, max=1.0)[0], [1, 1, 1])
    ints = np.array([-300, 7, 300], dtype=np.int64)
    np.testing.assert_array_equal(run_op("clip", ints, min=-10.0, max=10.0)[0], [-10, 7, 10])


# -- errors ---------------------------------------------------------------------------------

def test_bad_broadcast_is_a_shape_error_naming_the_op() -> None:
    with pytest.raises(ShapeError, match="'add'"):
        run_op("add", np.zeros((2, 3), np.float32), np.zeros((4,), np.float32))


def test_mixed_dtypes_are_refused() -> None:
    with pytest.raises(ShapeError, match="'mul'"):
        run_op("mul", np.zeros(2, np.float32), np.zeros(2, np.int32))


@pytest.mark.parametrize(
    "kind,array",
    [("exp", np.zeros(2, np.int32)), ("and", np.zeros(2, np.float32)), ("not", np.zeros(2, np.int8)), ("neg", np.zeros(2, np.uint8))],
)
def test_wrong_dtype_is_unsupported(kind: str, array: np.ndarray) -> None:
    arrays = (array, array) if kind == "and" else (array,)
    with pytest.raises(UnsupportedError, match=f"'{kind}'"):
        run_op(kind, *arrays)


def test_bad_attribute_choice_is_refused() -> None:
    with pytest.raises(VerificationError, match="approximate"):
        run_op("gelu", np.zeros(2, np.float32), approximate="fast")


# -- property: broadcasting binary ops agree with numpy ------------------------------------------

@settings(max_examples=40, deadline=None)
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4),
    data=st.data(),
)
def test_add_mul_sub_agree_with_numpy(shapes, data) -> None:
    elements = st.floats(-100, 100, width=32)
    a = data.draw(hnp.arrays(np.float32, shapes.input_shapes[0], elements=elements))
    b = data.draw(hnp.arrays(np.float32, shapes.input_shapes[1], elements=elements))
    for kind, fn in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply)):
        (got,) = run_op(kind, a, b)
        assert got.shape == shapes.result_shape
        np.testing.assert_array_equal(got, fn(a, b))


def test_onnx_frontend_lowers_pow_with_float_exponent_on_int_base() -> None:
    import moecc

    node = helper.make_node("Pow", ["a", "b"], ["y"])
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info("a", TensorProto.INT32, [3]), helper.make_tensor_value_info("b", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    a = np.array([3, 2, 4], dtype=np.int32)
    b = np.array([0.5, 3.0, 1.5], dtype=np.float32)
    out = moecc.compile(model, target="ref").run({"a": a, "b": b})["y"]
    np.testing.assert_array_equal(out, np.power(a, b).astype(np.int32))
    onnx.checker.check_model(model)
