"""Composite graph-IR ops (layer_norm, rms_norm, attention, rotary_embedding, gated_mlp, moe)
and the ONNX-23 lowering of LayerNormalization, RMSNormalization, Attention and
RotaryEmbedding, checked against numpy and ``onnx.reference``."""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest
from onnx.reference.ops.op_attention import _compute_attention
from onnx.reference.ops.op_rotary_embedding import rotary_embedding as reference_rotary

from moecc.errors import ShapeError, UnsupportedError
from moecc.frontend.onnx_importer import import_onnx
from tests.test_ops_shape import build_and_run, check_node, single_node_model

RNG = np.random.default_rng(2)


def rand(*shape: int, dtype: type = np.float32) -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


# -- IR ops ----------------------------------------------------------------------------------

def test_layer_norm_and_rms_norm_ir() -> None:
    x, scale, bias = rand(2, 3, 8), rand(8), rand(8)
    (y,) = build_and_run("layer_norm", [x, scale, bias], {"axis": -1, "epsilon": 1e-5})
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-5) * scale + bias, rtol=1e-5, atol=1e-6)
    (y,) = build_and_run("rms_norm", [x, rand(3, 8)], {"axis": 1})
    assert y.shape == x.shape


def test_norm_rejects_a_scale_that_does_not_broadcast() -> None:
    with pytest.raises(ShapeError, match="rms_norm"):
        build_and_run("rms_norm", [rand(2, 8), rand(4)])


@pytest.mark.parametrize(("hq", "hkv", "s", "length"), [(4, 4, 3, 3), (4, 2, 2, 5), (6, 1, 1, 4)])
def test_attention_ir_matches_onnx_reference_with_kv_cache(hq: int, hkv: int, s: int, length: int) -> None:
    q, k, v = rand(2, hq, s, 8), rand(2, hkv, length, 8), rand(2, hkv, length, 6)
    scale = 0.3
    (y,) = build_and_run("attention", [q, k, v], {"scale": scale, "is_causal": True})
    # The IR's causal rule is bottom-right aligned: ONNX's with L - S cached keys.
    past = length - s
    expected = _compute_attention(
        q, k[:, :, past:], v[:, :, past:], past_key=k[:, :, :past], past_value=v[:, :, :past], scale=scale, is_causal=True
    )[0]
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_attention_ir_masks_softcap_and_fully_masked_rows() -> None:
    q, k, v = rand(1, 2, 3, 4), rand(1, 2, 5, 4), rand(1, 2, 5, 4)
    mask = RNG.random((1, 1, 3, 5)) > 0.4
    mask[..., 1, :] = False
    (y,) = build_and_run("attention", [q, k, v, mask], {"scale": 0.5, "softcap": 2.0})
    expected = _compute_attention(q, k, v, attn_mask=mask, scale=0.5, softcap=2.0)[0]
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    assert np.all(y[..., 1, :] == 0)


def test_attention_ir_rejects_bad_head_counts() -> None:
    with pytest.raises(ShapeError, match="attention"):
        build_and_run("attention", [rand(1, 3, 2, 4), rand(1, 2, 2, 4), rand(1, 2, 2, 4)], {"scale": 1.0})


@pytest.mark.parametrize(("interleaved", "rotary_dim"), [(False, 0), (True, 0), (False, 4), (True, 6)])
def test_rotary_embedding_ir(interleaved: bool, rotary_dim: int) -> None:
    x = rand(2, 3, 5, 8)
    half = (rotary_dim or 8) // 2
    angles = RNG.random((1, 5, half)).astype(np.float32) * 3
    cos, sin = np.cos(angles), np.sin(angles)
    (y,) = build_and_run("rotary_embedding", [x, cos, sin], {"interleaved": interleaved, "rotary_dim": rotary_dim})
    expected = reference_rotary(
        x, np.broadcast_to(cos, (2, 5, half)), np.broadcast_to(sin, (2, 5, half)),
        interleaved=interleaved, rotary_embedding_dim=rotary_dim,
    )
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


@pytest.mark.parametrize("activation", ["silu", "gelu", "gelu_tanh", "relu"])
def test_gated_mlp_ir(activation: str) -> None:
    x, wg, wu, wd = rand(3, 8), rand(8, 16), rand(8, 16), rand(16, 8)
    (y,) = build_and_run("gated_mlp", [x, wg, wu, wd], {"activation": activation})
    g = x.astype(np.float64) @ wg
    act = {
        "silu": g / (1 + np.exp(-g)),
        "gelu": _gelu(g),
        "gelu_tanh": 0.5 * g * (1 + np.tanh(math.sqrt(2 / math.pi) * (g + 0.044715 * g**3))),
        "relu": np.maximum(g, 0),
    }[activation]
    np.testing.assert_allclose(y, (act * (x @ wu)) @ wd, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("normalize", [True, False])
def test_moe_ir_matches_a_token_by_token_loop(normalize: bool) -> None:
    tokens, hidden, ffn, experts, top_k = 5, 8, 12, 4, 2
    x, router = rand(tokens, hidden), rand(hidden, experts)
    wg, wu, wd = rand(experts, hidden, ffn), rand(experts, hidden, ffn), rand(experts, ffn, hidden)
    (y,) = build_and_run("moe", [x, router, wg, wu, wd], {"top_k": top_k, "normalize": normalize})
    expected = np.zeros_like(x)
    for t in range(tokens):
        logits = x[t] @ router
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        chosen = sorted(range(experts), key=lambda e: (-probs[e], e))[:top_k]
        weights = probs[chosen] / (probs[chosen].sum() if normalize else 1.0)
        for e, w in zip(chosen, weights):
            gate = x[t] @ wg[e]
            expected[t] += w * ((gate / (1 + np.exp(-gate)) * (x[t] @ wu[e])) @ wd[e])
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_moe_ir_rejects_bad_expert_shapes() -> None:
    with pytest.raises(ShapeError, match="moe"):
        build_and_run("moe", [rand(2, 8), rand(8, 4), rand(4, 8, 6), rand(4, 8, 6), rand(4, 8, 6)], {"top_k": 2})


# -- ONNX handlers ---------------------------------------------------------------------------

@pytest.mark.parametrize("axis", [-1, 1])
@pytest.mark.parametrize("with_bias", [True, False])
def test_layer_normalization_onnx(axis: int, with_bias: bool) -> None:
    x = rand(2, 3, 4)
    norm_shape = x.shape[axis:]
    inputs = {"x": x, "scale": rand(*norm_shape), "bias": rand(*norm_shape) if with_bias else None}
    graph = check_node("LayerNormalization", inputs, axis=axis, epsilon=1e-3)
    assert [op.kind for op in graph.ops] == ["layer_norm"]


def test_layer_normalization_mean_and_inv_std_outputs_onnx() -> None:
    x = rand(2, 3, 4)
    inputs = {"x": x, "scale": rand(3, 4), "bias": rand(3, 4)}
    graph = check_node("LayerNormalization", inputs, ["y", "mean", "inv_std"], axis=1, rtol=1e-5, atol=1e-5)
    assert "layer_norm" not in {op.kind for op in graph.ops}


def test_layer_normalization_f16_onnx() -> None:
    inputs = {"x": rand(2, 8, dtype=np.float16), "scale": rand(8, dtype=np.float16)}
    check_node("LayerNormalization", inputs, rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("axis", [-1, 0, 2])
def test_rms_normalization_onnx(axis: int) -> None:
    x = rand(2, 3, 4)
    check_node("RMSNormalization", {"x": x, "scale": rand(*x.shape[axis:])}, axis=axis)


def _attention_inputs(rank: int, s: int, kv: int, past: int, hq: int = 4, hkv: int = 2) -> dict[str, np.ndarray | None]:
    if rank == 3:
        q, k, v = rand(2, s, hq * 8), rand(2, kv, hkv * 8), rand(2, kv, hkv * 6)
    else:
        q, k, v = rand(2, hq, s, 8), rand(2, hkv, kv, 8), rand(2, hkv, kv, 6)
    return {
        "q": q,
        "k": k,
        "v": v,
        "mask": None,
        "past_key": rand(2, hkv, past, 8) if past else None,
        "past_value": rand(2, hkv, past, 6) if past else None,
    }


@pytest.mark.parametrize("rank", [3, 4])
@pytest.mark.parametrize(("s", "kv", "past", "causal"), [(3, 3, 0, 1), (2, 4, 0, 1), (2, 2, 3, 1), (1, 1, 4, 0), (3, 3, 2, 0)])
def test_attention_onnx(rank: int, s: int, kv: int, past: int, causal: int) -> None:
    inputs = _attention_inputs(rank, s, kv, past)
    outputs = ["y", "present_key", "present_value"] if past else ["y"]
    heads = {"q_num_heads": 4, "kv_num_heads": 2} if rank == 3 else {}
    check_node("Attention", inputs, outputs, is_causal=causal, **heads)


@pytest.mark.parametrize("mask_dtype", [np.bool_, np.float32])
@pytest.mark.parametrize("causal", [0, 1])
def test_attention_onnx_masks_shorter_than_the_keys(mask_dtype: type, causal: int) -> None:
    inputs = _attention_inputs(4, 3, 3, 2)
    mask = RNG.random((3, 4)) > 0.3 if mask_dtype is np.bool_ else rand(1, 3, 4)
    inputs["mask"] = mask.astype(mask_dtype)
    check_node("Attention", inputs, ["y", "present_key", "present_value"], is_causal=causal, scale=0.2, softcap=3.0)


def test_attention_onnx_qk_matmul_output_mode_0() -> None:
    inputs = _attention_inputs(4, 3, 3, 0)
    check_node("Attention", inputs, ["y", "", "", "qk"])


def test_attention_onnx_nonpad_kv_seqlen_and_window() -> None:
    inputs = _attention_inputs(4, 2, 5, 0)
    inputs = {**{k: inputs[k] for k in ("q", "k", "v")}, "mask": None, "past_key": None, "past_value": None,
              "nonpad": np.array([3, 5], np.int64)}
    check_node("Attention", inputs, opset=24, is_causal=1)
    check_node("Attention", inputs, opset=25, left_window_size=1)


@pytest.mark.parametrize("mode", [1, 2, 3])
@pytest.mark.parametrize("causal", [0, 1])
def test_attention_onnx_qk_matmul_output_modes(mode: int, causal: int) -> None:
    inputs = _attention_inputs(4, 3, 3, 2)
    mask = RNG.random((3, 5)) > 0.3
    mask[1] = False
    inputs["mask"] = mask
    outputs = ["y", "present_key", "present_value", "qk"]
    check_node("Attention", inputs, outputs, is_causal=causal, softcap=2.0, qk_matmul_output_mode=mode)


@pytest.mark.parametrize("rank", [3, 4])
@pytest.mark.parametrize(("interleaved", "rotary_dim", "positions"), [(0, 0, True), (1, 0, False), (0, 4, True), (1, 4, False)])
def test_rotary_embedding_onnx(rank: int, interleaved: int, rotary_dim: int, positions: bool) -> None:
    heads, s, d = 2, 3, 8
    x = rand(2, s, heads * d) if rank == 3 else rand(2, heads, s, d)
    half = (rotary_dim or d) // 2
    table = RNG.random((6 if positions else 2, *(() if positions else (s,)), half)).astype(np.float32)
    inputs = {
        "x": x,
        "cos": np.cos(table),
        "sin": np.sin(table),
        "position_ids": RNG.integers(0, 6, size=(2, s)).astype(np.int64) if positions else None,
    }
    attrs = {"num_heads": heads} if rank == 3 else {}
    check_node("RotaryEmbedding", inputs, interleaved=interleaved, rotary_embedding_dim=rotary_dim, **attrs)


def test_attention_bf16_rounds_like_the_reference() -> None:
    inputs = _attention_inputs(4, 3, 3, 0)
    inputs = {k: None if v is None else v.astype(ml_dtypes.bfloat16) for k, v in inputs.items()}
    check_node("Attention", inputs, is_causal=1, rtol=0, atol=0)
