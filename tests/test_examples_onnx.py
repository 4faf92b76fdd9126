"""The example model builders: deterministic, checker-clean, runnable in onnxruntime, exporter-shaped."""

from __future__ import annotations

import functools
import py_compile
from pathlib import Path

import numpy as np
import onnx
import pytest

from moecc.errors import MoeccError
from moecc.examples import EXAMPLES, build_example, example_inputs, list_examples, realistic_sizes

ort = pytest.importorskip("onnxruntime")

NAMES = list(EXAMPLES)
DECODERS = ["gpt2-block", "llama-block", "mixtral-block", "moe-transformer"]
EXPORT_SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "export_hf.py"


@functools.cache
def _built(name: str, dynamic: bool = False) -> onnx.ModelProto:
    return build_example(name, dynamic=dynamic)


def _run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds)))


def _expected_shape(name: str, sizes: dict) -> tuple[int, ...]:
    if name in ("bert-layer", "dense-moe", "dense-moe-einsum"):
        return (sizes["batch"], sizes["seq"], sizes["hidden"])
    return (sizes["batch"], sizes["seq"], sizes["vocab"])


def _dims(value: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


@pytest.mark.parametrize("name", NAMES)
def test_builds_deterministically(name: str) -> None:
    assert build_example(name).SerializeToString() == _built(name).SerializeToString()
    other_seed = build_example(name, seed=1).SerializeToString()
    assert other_seed != _built(name).SerializeToString()


@pytest.mark.parametrize("name", NAMES)
def test_passes_full_checker_at_opset_18(name: str) -> None:
    model = _built(name)
    onnx.checker.check_model(model, full_check=True)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 18)]
    assert model.graph.initializer, "weights must be initializers"
    assert any(n.op_type == "Constant" for n in model.graph.node)
    names = [n.name for n in model.graph.node]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("name", NAMES)
def test_runs_in_onnxruntime(name: str) -> None:
    model = _built(name)
    outputs = _run(model, example_inputs(name, model))
    (out,) = outputs.values()
    assert out.shape == _expected_shape(name, dict(EXAMPLES[name].default_sizes))
    assert out.dtype == np.float32
    assert np.isfinite(out).all()
    assert 0.05 < float(out.std()) < 20.0, "activations should stay O(1)"


@pytest.mark.parametrize("name", NAMES)
def test_dynamic_variant_has_symbolic_dims_and_matches_static(name: str) -> None:
    model = _built(name, dynamic=True)
    onnx.checker.check_model(model, full_check=True)
    for value in [*model.graph.input, *model.graph.output]:
        assert _dims(value)[:2] == ["batch", "seq"]
    feeds = example_inputs(name, model)
    static = _built(name)
    np.testing.assert_allclose(
        next(iter(_run(model, feeds).values())),
        next(iter(_run(static, feeds).values())),
        rtol=1e-5, atol=1e-6,
    )
    # Another batch and sequence length than the model was built with.
    small = {k: v[:1, :5] for k, v in feeds.items()}
    (out,) = _run(model, small).values()
    assert out.shape[:2] == (1, 5) and np.isfinite(out).all()


@pytest.mark.parametrize("name", DECODERS)
def test_decoders_are_causal(name: str) -> None:
    model = _built(name)
    feeds = example_inputs(name, model)
    changed = {"input_ids": feeds["input_ids"].copy()}
    changed["input_ids"][:, -1] = (changed["input_ids"][:, -1] + 1) % EXAMPLES[name].default_sizes["vocab"]
    before, after = _run(model, feeds)["logits"], _run(model, changed)["logits"]
    np.testing.assert_allclose(before[:, :-1], after[:, :-1], rtol=1e-5, atol=1e-6)
    assert not np.allclose(before[:, -1], after[:, -1])


def test_bert_ignores_padded_tokens() -> None:
    model = _built("bert-layer")
    feeds = example_inputs("bert-layer", model)
    mask = feeds["attention_mask"]
    assert set(np.unique(mask)) <= {0, 1} and mask[0].all() and not mask.all()
    changed = dict(feeds, input_ids=np.where(mask == 0, 0, feeds["input_ids"]))
    before, after = _run(model, feeds)["last_hidden_state"], _run(model, changed)["last_hidden_state"]
    real = mask.astype(bool)
    np.testing.assert_allclose(before[real], after[real], rtol=1e-5, atol=1e-5)


def test_expert_gather_forms_agree() -> None:
    gather = build_example("mixtral-block")
    gather_nd = build_example("mixtral-block", expert_gather="gathernd")
    assert "GatherND" in {n.op_type for n in gather_nd.graph.node}
    feeds = example_inputs("mixtral-block", gather)
    np.testing.assert_allclose(_run(gather, feeds)["logits"], _run(gather_nd, feeds)["logits"], rtol=1e-5, atol=1e-6)


def _dense_moe_reference(model: onnx.ModelProto, x: np.ndarray, top_k: int) -> np.ndarray:
    """Sparse top-k MoE in numpy, from the model's own initializers."""
    w = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    logits = x @ w["gate.weight"]
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    out = np.zeros_like(x)
    for token in np.ndindex(*x.shape[:-1]):
        top = np.argsort(-probs[token])[:top_k]
        gates = probs[token][top] / probs[token][top].sum()
        for e, g in zip(top, gates):
            h = np.maximum(x[token] @ w[f"experts.{e}.fc1.weight"] + w[f"experts.{e}.fc1.bias"], 0)
            out[token] += g * (h @ w[f"experts.{e}.fc2.weight"] + w[f"experts.{e}.fc2.bias"])
    return out


@pytest.mark.parametrize("mask_op", ["scatter", "onehot"])
def test_dense_moe_matches_sparse_reference(mask_op: str) -> None:
    model = build_example("dense-moe", mask_op=mask_op)
    assert {"scatter": "ScatterElements", "onehot": "OneHot"}[mask_op] in {n.op_type for n in model.graph.node}
    feeds = example_inputs("dense-moe", model)
    expected = _dense_moe_reference(model, feeds["hidden_states"], top_k=2)
    np.testing.assert_allclose(_run(model, feeds)["output"], expected, rtol=1e-4, atol=1e-5)


def test_exporter_shaped_patterns() -> None:
    ops = {name: {n.op_type for n in _built(name).graph.node} for name in NAMES}
    assert {"Shape", "Gather", "Unsqueeze", "Concat", "Reshape", "Split", "Where", "Tanh", "Pow"} <= ops["gpt2-block"]
    assert {"Pow", "ReduceMean", "Sqrt", "Reciprocal", "Neg", "Trilu", "Expand", "Sigmoid"} <= ops["llama-block"]
    assert {"TopK", "ReduceSum", "Div", "Gather", "Squeeze", "Softmax"} <= ops["mixtral-block"]
    assert {"Erf", "Cast", "Sub", "LayerNormalization"} <= ops["bert-layer"]
    assert {"ScatterElements", "TopK", "Concat"} <= ops["dense-moe"]
    layers = {n.name.split("/")[2] for n in _built("moe-transformer").graph.node if n.name.startswith("/model/layers.")}
    assert layers == {"layers.0", "layers.1"}


def test_opset_17_variant() -> None:
    model = build_example("llama-block", opset=17)
    onnx.checker.check_model(model, full_check=True)
    assert _run(model, example_inputs("llama-block", model))["logits"].shape == (2, 16, 256)


def test_example_inputs_are_valid_and_deterministic() -> None:
    for name in NAMES:
        model = _built(name)
        a, b = example_inputs(name, model, seed=3), example_inputs(name, model, seed=3)
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
        if "input_ids" in a:
            assert 0 <= a["input_ids"].min() and a["input_ids"].max() < EXAMPLES[name].default_sizes["vocab"]
            assert a["input_ids"].dtype == np.int64


def test_inputs_follow_built_sizes() -> None:
    model = build_example("gpt2-block", vocab=32, seq=8, dynamic=True)
    feeds = example_inputs("gpt2-block", model)
    assert feeds["input_ids"].shape == (2, 8) and feeds["input_ids"].max() < 32
    with pytest.raises(MoeccError, match="built as example 'gpt2-block'"):
        example_inputs("llama-block", model)


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(MoeccError, match="unknown example 'gpt5'.*llama-block"):
        build_example("gpt5")
    with pytest.raises(MoeccError):
        example_inputs("gpt5", _built("gpt2-block"))
    with pytest.raises(MoeccError):
        realistic_sizes("gpt5")


@pytest.mark.parametrize(
    ("name", "sizes", "message"),
    [
        ("gpt2-block", {"hidden": 66}, "must divide hidden"),
        ("llama-block", {"kv_heads": 3}, "must divide heads"),
        ("mixtral-block", {"top_k": 5}, "top_k"),
        ("dense-moe", {"mask_op": "dense"}, "mask_op"),
        ("bert-layer", {"seq": 1000}, "max_positions"),
        ("moe-transformer", {"hidden": 0}, ">= 1"),
        ("llama-block", {"hiden": 64}, "no size"),
        ("llama-block", {"seq": "16"}, "must be an int"),
        ("llama-block", {"dynamic": 1}, "must be a bool"),
        ("llama-block", {"opset": 12}, "opset 12"),
    ],
)
def test_bad_sizes_raise(name: str, sizes: dict, message: str) -> None:
    with pytest.raises(MoeccError, match=message):
        build_example(name, **sizes)


def test_registry_and_realistic_sizes() -> None:
    assert [n for n, _ in list_examples()] == NAMES
    assert set(NAMES) == {
        "gpt2-block", "llama-block", "mixtral-block", "dense-moe", "dense-moe-einsum", "bert-layer", "moe-transformer",
    }
    for name in NAMES:
        sizes = realistic_sizes(name)
        assert sizes.keys() == EXAMPLES[name].default_sizes.keys()
        assert sizes["seq"] >= 128 and sizes["hidden"] >= 256


def test_export_script_compiles_without_importing_torch() -> None:
    py_compile.compile(str(EXPORT_SCRIPT), doraise=True)
