"""Reduction graph-IR ops (reduce_*, arg_max/min, softmax, cumsum, top_k) against numpy and
the ONNX reference, plus the ONNX node tests whose axes/K come in as graph inputs, re-run with
those inputs bound as constants (the shared harness can only refuse them)."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from onnx.backend.test.case.node import collect_testcases

import moecc
from moecc.errors import ShapeError, UnsupportedError
from tests.ir_test_helpers import run_op
from tests.onnx_node_cases import as_array, compare_outputs

RNG = np.random.default_rng(7)




# -- reduce_* --------------------------------------------------------------------------------

REDUCERS = {"reduce_sum": np.sum, "reduce_mean": np.mean, "reduce_max": np.max, "reduce_min": np.min, "reduce_prod": np.prod}


@pytest.mark.parametrize("kind", sorted(REDUCERS))
@pytest.mark.parametrize("axes", [(), (0,), (-1,), (0, 2), (2, 0, 1)])
@pytest.mark.parametrize("keepdims", [True, False])
def test_reduce_matches_numpy(kind: str, axes: tuple[int, ...], keepdims: bool) -> None:
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    (got,) = run_op(kind, x, axes=axes, keepdims=keepdims)
    expected = REDUCERS[kind](x, axis=axes or None, keepdims=keepdims)
    assert got.shape == np.shape(expected) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_integer_reductions_stay_in_their_dtype() -> None:
    x = np.array([[100, 100], [-7, 2]], dtype=np.int8)
    (total,) = run_op("reduce_sum", x, axes=(1,), keepdims=False)
    np.testing.assert_array_equal(total, np.array([-56, -5], dtype=np.int8))  # 200 wraps
    (mean,) = run_op("reduce_mean", np.array([[-1, -2], [3, 4]], dtype=np.int32), axes=(1,))
    np.testing.assert_array_equal(mean, [[-1], [3]])  # truncated toward zero


@pytest.mark.parametrize(
    "kind,expected",
    [("reduce_sum", 0.0), ("reduce_prod", 1.0), ("reduce_max", -np.inf), ("reduce_min", np.inf), ("reduce_mean", np.nan)],
)
def test_empty_reductions_give_the_identity(kind: str, expected: float) -> None:
    (got,) = run_op(kind, np.zeros((2, 0, 3), np.float32), axes=(1,), keepdims=True)
    assert got.shape == (2, 1, 3)
    np.testing.assert_array_equal(got, np.full((2, 1, 3), expected, np.float32))
    (ints,) = run_op("reduce_max", np.zeros((0, 3), np.int32), axes=(0,), keepdims=False)
    np.testing.assert_array_equal(ints, np.full(3, np.iinfo(np.int32).min))


def test_reduce_max_of_bool() -> None:
    x = np.array([[True, False], [False, False]])
    np.testing.assert_array_equal(run_op("reduce_max", x, axes=(1,), keepdims=False)[0], [True, False])


def test_reduce_rejects_bad_axes() -> None:
    with pytest.raises(ShapeError, match="reduce_sum"):
        run_op("reduce_sum", np.zeros((2, 3), np.float32), axes=(2,))
    with pytest.raises(ShapeError, match="repeated"):
        run_op("reduce_sum", np.zeros((2, 3), np.float32), axes=(1, -1))


# -- arg_max / arg_min --------------------------------------------------------------------------

def test_arg_max_min_ties_and_select_last_index() -> None:
    x = np.array([[1, 5, 5, 0], [2, 2, 2, 2]], dtype=np.float32)
    np.testing.assert_array_equal(run_op("arg_max", x, axis=1)[0], [[1], [0]])
    np.testing.assert_array_equal(run_op("arg_max", x, axis=1, select_last_index=True)[0], [[2], [3]])
    np.testing.assert_array_equal(run_op("arg_min", x, axis=-1, keepdims=False)[0], [3, 0])
    np.testing.assert_array_equal(run_op("arg_min", x, axis=0, keepdims=False, select_last_index=True)[0], [0, 1, 1, 0])
    assert run_op("arg_max", x, axis=0)[0].dtype == np.int64


def test_arg_max_of_empty_axis_is_refused() -> None:
    with pytest.raises(ShapeError, match="arg_max"):
        run_op("arg_max", np.zeros((0, 3), np.float32), axis=0)


# -- softmax / log_softmax ------------------------------------------------------------------------

@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_and_log_softmax(axis: int) -> None:
    x = (RNG.standard_normal((3, 4, 5)) * 30).astype(np.float32)
    shifted = x - x.max(axis=axis, keepdims=True)
    expected = np.exp(shifted) / np.exp(shifted).sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(run_op("softmax", x, axis=axis)[0], expected, rtol=1e-5, atol=1e-7)
    log_expected = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    np.testing.assert_allclose(run_op("log_softmax", x, axis=axis)[0], log_expected, rtol=1e-5, atol=1e-5)


def test_softmax_of_integers_is_unsupported() -> None:
    with pytest.raises(UnsupportedError, match="softmax"):
        run_op("softmax", np.zeros((2, 2), np.int32))


# -- cumsum ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_cumsum_variants(exclusive: bool, reverse: bool) -> None:
    x = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int32)
    (got,) = run_op("cumsum", x, axis=1, exclusive=exclusive, reverse=reverse)
    work = x[:, ::-1] if reverse else x
    expected = np.cumsum(work, axis=1)
    if exclusive:
        expected = np.concatenate([np.zeros((2, 1), np.int32), expected[:, :-1]], axis=1)
    np.testing.assert_array_equal(got, expected[:, ::-1] if reverse else expected)
    assert got.dtype == np.int32


# -- top_k --------------------------------------------------------------------------------------

def test_top_k_ties_prefer_the_lower_index() -> None:
    x = np.array([[3, 1, 3, 2, 3]], dtype=np.float32)
    values, indices = run_op("top_k", x, k=3)
    np.testing.assert_array_equal(values, [[3, 3, 3]])
    np.testing.assert_array_equal(indices, [[0, 2, 4]])
    values, indices = run_op("top_k", np.array([2, 1, 1, 0, 1], np.int64), k=3, largest=False)
    np.testing.assert_array_equal(values, [0, 1, 1])
    np.testing.assert_array_equal(indices, [3, 1, 2])
    assert indices.dtype == np.int64


def test_top_k_along_a_middle_axis_matches_sorting() -> None:
    x = RNG.standard_normal((2, 6, 3)).astype(np.float32)
    values, indices = run_op("top_k", x, k=4, axis=1)
    order = np.argsort(-x, axis=1, kind="stable")[:, :4]
    np.testing.assert_array_equal(indices, order)
    np.testing.assert_array_equal(values, np.take_along_axis(x, order, axis=1))


def test_top_k_larger_than_the_axis_is_refused() -> None:
    with pytest.raises(ShapeError, match="top_k"):
        run_op("top_k", np.zeros((2, 3), np.float32), k=4)


# -- ONNX node tests with run-time axes/K bound as constants ----------------------------------------

BOUND_OPS = {
    "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
    "ReduceLogSumExp", "ReduceSumSquare", "TopK", "CumSum",
}


def _cases_with_runtime_operands() -> list:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = collect_testcases()
    out = []
    for case in cases:
        if case.model is None or not case.data_sets:
            continue
        nodes = list(case.model.graph.node)
        if len(nodes) != 1 or nodes[0].op_type not in BOUND_OPS or len(nodes[0].input) < 2:
            continue
        if nodes[0].input[1] in {i.name for i in case.model.graph.input}:
            out.append(case)
    return sorted(out, key=lambda c: c.name)


BOUND_CASES = _cases_with_runtime_operands()


def _bind_as_initializer(model: onnx.ModelProto, name: str, value: np.ndarray) -> onnx.ModelProto:
    bound = onnx.ModelProto()
    bound.CopyFrom(model)
    kept = [i for i in bound.graph.input if i.name != name]
    del bound.graph.input[:]
    bound.graph.input.extend(kept)
    bound.graph.initializer.append(numpy_helper.from_array(value, name))
    return bound


@pytest.mark.parametrize("case", BOUND_CASES, ids=[c.name for c in BOUND_CASES])
def test_node_case_with_constant_axes(case) -> None:
    node = case.model.graph.node[0]
    names = [i.name for i in case.model.graph.input]
    for inputs, expected in case.data_sets:
        feeds = dict(zip(names, (as_array(i) for i in inputs)))
        operand = node.input[1]
        model = _bind_as_initializer(case.model, operand, feeds.pop(operand))
        try:
            compiled = moecc.compile(model, target="ref", input_shapes={k: v.shape for k, v in feeds.items()})
        except UnsupportedError as err:
            if "element type" in str(err):
                pytest.skip(f"exotic dtype: {err}")
            raise
        outs = compiled.run(feeds)
        for output, exp in zip(case.model.graph.output, expected):
            compare_outputs(f"{case.name}:{output.name}", outs[output.name], exp)
