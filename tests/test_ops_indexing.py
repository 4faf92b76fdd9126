"""Indexing-family graph-IR ops (gather/scatter variants, one_hot) and their ONNX lowering,
checked against numpy and ``onnx.reference``."""

from __future__ import annotations

import numpy as np
import pytest

from moecc.errors import InputError, ShapeError, UnsupportedError
from moecc.frontend.onnx_importer import import_onnx
from moecc.ir.ops.indexing import IndexRangeError
from tests.test_ops_shape import build_and_run, check_node, single_node_model

RNG = np.random.default_rng(1)
DATA = RNG.standard_normal((3, 4, 5)).astype(np.float32)
I64 = np.int64


# -- IR ops ----------------------------------------------------------------------------------

def test_gather_wraps_negative_indices() -> None:
    idx = np.array([[0, -1], [2, -4]], I64)
    (y,) = build_and_run("gather", [DATA, idx], {"axis": 1})
    np.testing.assert_array_equal(y, np.take(DATA, idx % 4, axis=1))


def test_gather_out_of_range_is_an_error() -> None:
    # Bad input data, not a bad model: an input error with the value and the valid range.
    with pytest.raises(IndexRangeError, match=r"index 3 .*out of range \[-3, 3\)") as info:
        build_and_run("gather", [DATA, np.array([3], I64)], {"axis": 0})
    assert isinstance(info.value, InputError) and (info.value.index, info.value.size) == (3, 3)


def test_gather_rejects_float_indices() -> None:
    with pytest.raises(UnsupportedError, match="gather"):
        build_and_run("gather", [DATA, np.array([0.0], np.float32)])


def test_gather_elements_and_scatter_elements_round_trip() -> None:
    idx = np.argsort(RNG.standard_normal((3, 4, 5)), axis=2).astype(I64)
    (gathered,) = build_and_run("gather_elements", [DATA, idx], {"axis": 2})
    np.testing.assert_array_equal(gathered, np.take_along_axis(DATA, idx, axis=2))
    (scattered,) = build_and_run("scatter_elements", [np.zeros_like(DATA), idx, gathered], {"axis": 2})
    np.testing.assert_array_equal(scattered, DATA)


@pytest.mark.parametrize("reduction", ["add", "mul", "max", "min"])
def test_scatter_nd_reductions_accumulate_duplicates(reduction: str) -> None:
    data = np.arange(1, 5, dtype=np.float32)
    idx = np.array([[1], [1], [3]], I64)
    upd = np.array([2.0, 3.0, 5.0], np.float32)
    (y,) = build_and_run("scatter_nd", [data, idx, upd], {"reduction": reduction})
    expected = data.copy()
    ufunc = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}[reduction]
    ufunc.at(expected, idx[:, 0], upd)
    np.testing.assert_array_equal(y, expected)


def test_gather_nd_with_batch_dims() -> None:
    idx = np.array([[[1, 2]], [[0, 0]], [[3, -1]]], I64)
    (y,) = build_and_run("gather_nd", [DATA, idx], {"batch_dims": 1})
    expected = np.stack([DATA[b][tuple(np.where(idx[b] < 0, idx[b] + 5, idx[b]).T)] for b in range(3)])
    np.testing.assert_array_equal(y, expected)


def test_one_hot_ir() -> None:
    idx = np.array([[0, 2], [-1, 7]], I64)
    (y,) = build_and_run("one_hot", [idx, np.array([0, 5], np.int32)], {"depth": 3, "axis": 1})
    expected = np.zeros((2, 3, 2), np.int32)
    expected[0, 0, 0] = expected[0, 2, 1] = expected[1, 2, 0] = 5
    np.testing.assert_array_equal(y, expected)


# -- ONNX handlers ---------------------------------------------------------------------------

@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("index_dtype", [np.int64, np.int32])
def test_gather_onnx(axis: int, index_dtype: type) -> None:
    idx = np.array([[0, -1], [1, 2]], index_dtype)
    check_node("Gather", {"data": DATA, "indices": idx}, axis=axis)


def test_gather_elements_onnx() -> None:
    idx = RNG.integers(-4, 4, size=(3, 2, 5)).astype(I64)
    check_node("GatherElements", {"data": DATA, "indices": idx}, axis=-2)


@pytest.mark.parametrize(("indices", "batch_dims"), [([[0, 1], [2, 3]], 0), ([[[1]], [[0]], [[3]]], 1), ([[1, 2, 3]], 0)])
def test_gather_nd_onnx(indices: list, batch_dims: int) -> None:
    check_node("GatherND", {"data": DATA, "indices": np.array(indices, I64)}, batch_dims=batch_dims)


@pytest.mark.parametrize(("reduction", "opset"), [("none", 13), ("add", 16), ("mul", 16), ("max", 18), ("min", 18)])
def test_scatter_elements_onnx(reduction: str, opset: int) -> None:
    idx = np.array([[1, -1, 1]], I64)
    upd = np.array([[1.5, 2.5, 3.5]], np.float32)
    data = np.arange(12, dtype=np.float32).reshape(3, 4)
    check_node("ScatterElements", {"data": data, "indices": idx, "updates": upd}, opset=opset, axis=1, reduction=reduction)


def test_scatter_reduction_newer_than_the_opset_is_refused() -> None:
    model = single_node_model(
        "ScatterND",
        {"data": np.zeros(4, np.float32), "indices": np.array([[0]], I64), "updates": np.ones(1, np.float32)},
        ["y"],
        opset=16,
        reduction="max",
    )
    with pytest.raises(Exception) as info:  # onnx's checker or moecc refuses; never a wrong answer
        import_onnx(model)
    assert isinstance(info.value, (UnsupportedError, ShapeError))


@pytest.mark.parametrize(("reduction", "opset"), [("none", 13), ("add", 16), ("mul", 18), ("min", 18)])
def test_scatter_nd_onnx(reduction: str, opset: int) -> None:
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    idx = np.array([[1, 2], [0, -1]], I64)
    upd = RNG.standard_normal((2, 4)).astype(np.float32)
    check_node("ScatterND", {"data": data, "indices": idx, "updates": upd}, opset=opset, reduction=reduction)


@pytest.mark.parametrize("axis", [-1, 0, 1])
@pytest.mark.parametrize("index_dtype", [np.int64, np.float32])
def test_one_hot_onnx(axis: int, index_dtype: type) -> None:
    idx = np.array([[1, -2], [9, 0]], index_dtype)
    inputs = {"indices": idx, "depth": np.array(4, I64), "values": np.array([0.5, 2.0], np.float32)}
    check_node("OneHot", inputs, constants=["depth"], axis=axis)


def test_one_hot_with_runtime_depth_is_a_shape_error() -> None:
    inputs = {"indices": np.array([1], I64), "depth": np.array(4, I64), "values": np.array([0, 1], I64)}
    with pytest.raises(ShapeError, match="depth"):
        import_onnx(single_node_model("OneHot", inputs, ["y"]))
