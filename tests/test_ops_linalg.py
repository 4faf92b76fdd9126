"""Linalg graph-IR ops (matmul, gemm, einsum) against numpy and the ONNX reference, and
the shape errors they raise."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import moecc
from moecc.errors import ShapeError, UnsupportedError
from moecc.ir.ops.linalg import parse_einsum
from tests.ir_test_helpers import run_op

RNG = np.random.default_rng(99)




def randn(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


# -- matmul ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "a_shape,b_shape",
    [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((2, 1, 3, 4), (5, 4, 2)), ((6, 3, 4), (4, 2))],
)
def test_matmul_follows_numpy(a_shape: tuple[int, ...], b_shape: tuple[int, ...]) -> None:
    a, b = randn(*a_shape), randn(*b_shape)
    (got,) = run_op("matmul", a, b)
    expected = np.matmul(a, b)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_integer_and_half_matmul() -> None:
    a = RNG.integers(-50, 50, (3, 4)).astype(np.int32)
    b = RNG.integers(-50, 50, (4, 2)).astype(np.int32)
    (got,) = run_op("matmul", a, b)
    np.testing.assert_array_equal(got, a @ b)
    assert got.dtype == np.int32
    a16, b16 = randn(8, 16).astype(ml_dtypes.bfloat16), randn(16, 4).astype(ml_dtypes.bfloat16)
    (half,) = run_op("matmul", a16, b16)
    assert half.dtype == ml_dtypes.bfloat16
    exact = (a16.astype(np.float32) @ b16.astype(np.float32)).astype(ml_dtypes.bfloat16)
    np.testing.assert_array_equal(half, exact)  # accumulated in f32, rounded once


@pytest.mark.parametrize("a_shape,b_shape", [((3, 4), (5, 6)), ((), (4,)), ((2, 3, 4), (3, 4, 5))])
def test_matmul_shape_errors(a_shape: tuple[int, ...], b_shape: tuple[int, ...]) -> None:
    with pytest.raises(ShapeError, match="matmul"):
        run_op("matmul", np.zeros(a_shape, np.float32), np.zeros(b_shape, np.float32))


def test_matmul_of_bool_is_unsupported() -> None:
    with pytest.raises(UnsupportedError, match="matmul"):
        run_op("matmul", np.zeros((2, 2), bool), np.zeros((2, 2), bool))


# -- gemm ------------------------------------------------------------------------------------

@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("c_shape", [None, (), (5,), (3, 1), (3, 5)])
def test_gemm_matches_onnx_reference(trans_a: bool, trans_b: bool, c_shape: tuple[int, ...] | None) -> None:
    a = randn(4, 3) if trans_a else randn(3, 4)
    b = randn(5, 4) if trans_b else randn(4, 5)
    operands = [a, b] + ([] if c_shape is None else [randn(*c_shape)])
    attrs = {"alpha": 0.5, "beta": 2.0, "trans_a": trans_a, "trans_b": trans_b}
    (got,) = run_op("gemm", *operands, **attrs)
    names = [f"x{i}" for i in range(len(operands))]
    node = helper.make_node("Gemm", names, ["y"], alpha=0.5, beta=2.0, transA=int(trans_a), transB=int(trans_b))
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, x.shape) for n, x in zip(names, operands)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    expected = ReferenceEvaluator(model).run(None, dict(zip(names, operands)))[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_gemm_shape_errors() -> None:
    with pytest.raises(ShapeError, match="gemm"):
        run_op("gemm", randn(3, 4), randn(5, 6))
    with pytest.raises(ShapeError, match="gemm"):
        run_op("gemm", randn(3, 4), randn(4, 5), randn(4, 5))
    with pytest.raises(ShapeError, match="gemm"):
        run_op("gemm", randn(2, 3, 4), randn(4, 5))


# -- einsum ---------------------------------------------------------------------------------

EINSUM_CASES = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("bhqd,bhkd->bhqk", [(1, 2, 3, 8), (1, 2, 5, 8)]),
    ("ij->ji", [(3, 4)]),
    ("ii->i", [(4, 4)]),
    ("ii", [(4, 4)]),
    ("ij->", [(3, 4)]),
    ("i,i", [(5,), (5,)]),
    ("i,j", [(3,), (4,)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (1, 4, 5)]),
    ("...ij,jk", [(2, 2, 3, 4), (4, 5)]),
    ("b i j , b j k -> b i k", [(2, 3, 4), (2, 4, 5)]),
    ("Ab,bA->A", [(3, 4), (4, 3)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
]


@pytest.mark.parametrize("equation,shapes", EINSUM_CASES, ids=[c[0] for c in EINSUM_CASES])
def test_einsum_matches_numpy(equation: str, shapes: list[tuple[int, ...]]) -> None:
    operands = [randn(*s) for s in shapes]
    (got,) = run_op("einsum", *operands, equation=equation)
    expected = np.einsum(equation.replace(" ", ""), *operands)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_implicit_einsum_output_is_sorted_ascii() -> None:
    spec = parse_einsum("ba,Ac", 2)
    assert spec.output == ("A", "a", "b", "c")
    assert parse_einsum("...ij,jk", 2).output == ("...", "i", "k")


@pytest.mark.parametrize(
    "equation,shapes",
    [
        ("ij,jk->ik", [(3, 4), (5, 6)]),
        ("ij->ik", [(3, 4)]),
        ("ij,jk", [(3, 4)]),
        ("ijk->i", [(3, 4)]),
        ("...ij->ij", [(2, 3, 4)]),
        ("i->ii", [(3,)]),
        ("i1->i", [(3, 3)]),
    ],
)
def test_einsum_errors(equation: str, shapes: list[tuple[int, ...]]) -> None:
    with pytest.raises(ShapeError, match="einsum"):
        run_op("einsum", *[randn(*s) for s in shapes], equation=equation)


def test_onnx_gemm_without_c_lowers_through_the_frontend() -> None:
    node = helper.make_node("Gemm", ["a", "b"], ["y"], transB=1, alpha=2.0)
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 3]), helper.make_tensor_value_info("b", TensorProto.FLOAT, [4, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    a, b = randn(2, 3), randn(4, 3)
    out = moecc.compile(model, target="ref").run({"a": a, "b": b})["y"]
    np.testing.assert_allclose(out, 2 * a @ b.T, rtol=1e-5)
