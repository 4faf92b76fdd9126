"""Test helpers shared by the IR tests: run one graph-IR op, compare numbers across rewrites."""

from __future__ import annotations

import numpy as np

from moecc.ir.builder import GraphBuilder
from moecc.ir.graph import Graph
from moecc.ir.interpreter import run_graph
from moecc.ir.types import TensorType
from moecc.ir.verifier import verify_graph


def run_op(kind: str, *arrays: np.ndarray, **attrs: object) -> list[np.ndarray]:
    """Build a one-op graph (no folding), verify it and run it on ``arrays``."""
    graph = Graph()
    inputs = [graph.add_input(f"x{i}", TensorType.of(np.asarray(a))) for i, a in enumerate(arrays)]
    results = GraphBuilder(graph, fold=False).emit(kind, inputs, attrs)
    graph.set_outputs(results, [f"y{i}" for i in range(len(results))])
    verify_graph(graph)
    out = run_graph(graph, {v.name: np.asarray(a) for v, a in zip(inputs, arrays)})
    return [out[f"y{i}"] for i in range(len(results))]


#: Rewrites that move data are exact, but BLAS picks a different kernel (FMA or not, other
#: summation order) for a transposed view than for a contiguous copy, so a gemm with
#: ``trans_b`` and the matmul it becomes can differ in the last bit. Far below any real bug.
FLOAT_RTOL = 1e-6
FLOAT_ATOL = 1e-6


def assert_same_numbers(actual: np.ndarray, expected: np.ndarray, err_msg: str = "") -> None:
    """Bit-identical for integers and bools; within last-bit tolerances for floats."""
    assert actual.dtype == expected.dtype and actual.shape == expected.shape, err_msg
    if actual.dtype.kind in "biu":
        np.testing.assert_array_equal(actual, expected, err_msg=err_msg)
    else:
        np.testing.assert_allclose(
            actual.astype(np.float64), expected.astype(np.float64), rtol=FLOAT_RTOL, atol=FLOAT_ATOL, equal_nan=True, err_msg=err_msg
        )
