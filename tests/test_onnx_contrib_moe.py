"""``com.microsoft::MoE`` (onnxruntime's contrib op) imports as the ``moe`` op and matches
onnxruntime's own kernel on every target; its unsupported forms and ``QMoE`` are refused."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import moecc
from moecc.compare import compare_outputs

T, H, F, E = 24, 16, 32, 4


def _model(activation: str = "relu", k: int = 2, normalize: int = 1, biases: bool = True, router_bias: bool = True,
           extra: dict | None = None, op_type: str = "MoE", seed: int = 0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)

    def w(name: str, *shape: int, scale: float = 0.2) -> onnx.TensorProto:
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)

    inits = [w("router_w", H, E, scale=1.0), w("fc1", E, F, H), w("fc2", E, H, F)]
    nodes = [helper.make_node("MatMul", ["x", "router_w"], ["logits0"], name="router")]
    if router_bias:
        inits.append(w("router_b", E, scale=1.0))
        nodes.append(helper.make_node("Add", ["logits0", "router_b"], ["logits"], name="router_bias"))
    else:
        nodes.append(helper.make_node("Identity", ["logits0"], ["logits"], name="router_id"))
    ins = ["x", "logits", "fc1", "", "fc2", ""]
    if biases:
        inits += [w("fc1_b", E, F), w("fc2_b", E, H)]
        ins = ["x", "logits", "fc1", "fc1_b", "fc2", "fc2_b"]
    nodes.append(helper.make_node(op_type, ins, ["y"], name="moe", domain="com.microsoft", k=k,
                                  activation_type=activation, normalize_routing_weights=normalize, **(extra or {})))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [T, H])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [T, H])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])


def _onnxruntime(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


@pytest.mark.parametrize("form", [
    dict(), dict(activation="gelu", k=1), dict(activation="silu", normalize=0, biases=False),
    dict(router_bias=False, k=3),
])
@pytest.mark.parametrize("target", ["ref", "cpu", "asic", "tiled"])
def test_contrib_moe_matches_onnxruntime(form: dict, target: str) -> None:
    model = _model(**form)
    x = np.random.default_rng(1).standard_normal((T, H)).astype(np.float32)
    expected = {"y": _onnxruntime(model, x)}
    compiled = moecc.compile(model, target=target)
    assert not compare_outputs(compiled.run({"x": x}), expected, rtol=1e-3, atol=1e-4)
    if target in ("ref", "cpu", "tiled"):
        assert [op.kind for op in compiled.graph.ops if op.kind == "moe"] == ["moe"]


@pytest.mark.parametrize("form, message", [
    (dict(activation="swiglu"), "activation_type 'swiglu' is not supported"),
    (dict(extra={"use_sparse_mixer": 1}), "use_sparse_mixer"),
    (dict(op_type="QMoE"), "QMoE .*quantised experts are not supported"),
])
def test_unsupported_contrib_moe_forms_are_refused(form: dict, message: str) -> None:
    with pytest.raises(moecc.MoeccError, match=message):
        moecc.compile(_model(**form), target="ref")


def test_contrib_moe_is_listed() -> None:
    ops = moecc.supported_onnx_ops()
    assert "com.microsoft::MoE" in ops and "com.microsoft::QMoE" not in ops
