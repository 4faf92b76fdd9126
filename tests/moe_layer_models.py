"""Shared pieces of the tests that build one MoE layer as ONNX (a token matrix ``x`` [T, H] in,
``y`` [T, H] out) and check ``raise-moe`` on it against onnxruntime."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import moecc


def layer_model(nodes: Sequence[onnx.NodeProto], name: str, inits: Sequence[onnx.TensorProto], tokens: int,
                hidden: int) -> onnx.ModelProto:
    """The checked opset-18 model of ``nodes`` from ``x`` [tokens, hidden] to ``y`` of that shape."""
    graph = helper.make_graph(list(nodes), name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [tokens, hidden])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [tokens, hidden])], list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.checker.check_model(model)
    return model


def layer_inputs(tokens: int, hidden: int, seed: int = 0) -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(100 + seed).standard_normal((tokens, hidden)).astype(np.float32)}


def onnxruntime_output(model: onnx.ModelProto, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """``y`` as onnxruntime computes it (the test is skipped without onnxruntime)."""
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["y"], inputs)[0]


def moe_ops(compiled: moecc.CompiledModel) -> list:
    """The ``moe`` ops of a compiled model's graph (after ``raise-moe``)."""
    return [op for op in compiled.graph.ops if op.kind == "moe"]
