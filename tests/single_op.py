"""Test helper shared by the per-family op tests: run one graph-IR op on numpy arrays."""

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
