"""Transformer building blocks written node for node as the PyTorch exporters emit them.

Each function adds the decomposed ONNX form of one ``torch.nn`` module or Hugging Face helper to a
:class:`~moecc.examples.graph_builder.GraphBuilder`: linear layers in their three exported forms,
LayerNorm and the RMSNorm decomposition, head split / merge through ``Shape → Gather →
Unsqueeze → Concat → Reshape`` chains, scaled dot-product scores, causal masks, rotary embeddings,
grouped-query K/V repetition and the gated (SwiGLU) MLP. The model modules compose them; the
compiler's pattern-raising passes are expected to recognise exactly these shapes.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from onnx import TensorProto, numpy_helper

from moecc.errors import MoeccError
from moecc.examples.graph_builder import GraphBuilder

FLOAT = TensorProto.FLOAT
INT64 = TensorProto.INT64
# torch.finfo(torch.float32).min: the value HF writes into masked attention scores.
FLOAT_MIN = float(np.finfo(np.float32).min)
INT64_MAX = int(np.iinfo(np.int64).max)

LinearStyle = Literal["matmul", "transpose", "gemm"]


def check_sizes(example: str, conditions: dict[str, bool]) -> None:
    """Raise one :class:`MoeccError` naming every violated size constraint of ``example``."""
    failed = [text for text, ok in conditions.items() if not ok]
    if failed:
        raise MoeccError(
            f"bad sizes for example '{example}': " + "; ".join(failed),
            remedy="pass sizes that satisfy these constraints (see moecc.examples.EXAMPLES)",
        )


# -- shapes -----------------------------------------------------------------------------------


def dim(gb: GraphBuilder, x: str, axis: int) -> str:
    """``x.size(axis)`` as a 0-d int64 value: ``Shape → Gather``."""
    return gb.op("Gather", [gb.op("Shape", [x]), gb.const(np.int64(axis))], axis=0)


def as_1d(gb: GraphBuilder, scalar: str) -> str:
    """A 0-d size as the 1-element tensor ``Concat`` needs: ``Unsqueeze(axes=[0])``."""
    return gb.op("Unsqueeze", [scalar, gb.const([0])])


def position_ids(gb: GraphBuilder, input_ids: str) -> str:
    """``torch.arange(seq).unsqueeze(0)``: ``Range(0, seq, 1) → Unsqueeze`` giving [1, seq]."""
    seq = dim(gb, input_ids, 1)
    positions = gb.op("Range", [gb.const(np.int64(0)), seq, gb.const(np.int64(1))])
    return gb.op("Unsqueeze", [positions, gb.const([0])])


# -- linear layers and norms ----------------------------------------------------------------


def linear(
    gb: GraphBuilder,
    x: str,
    name: str,
    in_features: int,
    out_features: int,
    *,
    bias: bool,
    style: LinearStyle,
    out: str | None = None,
) -> str:
    """``nn.Linear`` in one of its exported forms.

    - ``"matmul"`` (TorchScript): weight stored pre-transposed ``[in, out]``, ``MatMul`` then
      ``Add(bias, y)``.
    - ``"transpose"`` (dynamo): weight stored ``[out, in]`` as in the state dict, a ``Transpose``
      node, ``MatMul``, ``Add``.
    - ``"gemm"``: ``Gemm(x, W, b, transB=1)``; ``x`` must be 2-D.

    ``out`` names the result (for graph outputs).
    """
    with gb.scope(name):
        if style == "gemm":
            w = gb.weight("weight", [out_features, in_features], fan_in=in_features)
            inputs = [x, w, gb.bias("bias", out_features)] if bias else [x, w]
            return gb.op("Gemm", inputs, out=out, alpha=1.0, beta=1.0, transB=1)
        if style == "matmul":
            w = gb.weight("weight", [in_features, out_features], fan_in=in_features)
        else:
            w = gb.op("Transpose", [gb.weight("weight", [out_features, in_features], fan_in=in_features)], perm=[1, 0])
        if not bias:
            return gb.op("MatMul", [x, w], out=out)
        return gb.op("Add", [gb.bias("bias", out_features), gb.op("MatMul", [x, w])], out=out)


def conv1d(gb: GraphBuilder, x: str, name: str, in_features: int, out_features: int) -> str:
    """GPT-2's ``Conv1D``: ``addmm(b, x.view(-1, in), W).view(*x.shape[:-1], out)``.

    Exported as a reshape to 2-D built from ``x``'s shape, ``Gemm`` with a ``[in, out]`` weight and
    a reshape back whose target is ``Concat(Shape(x)[:-1], [out])``.
    """
    with gb.scope(name):
        shape = gb.op("Shape", [x])
        leading = gb.op("Slice", [shape, gb.const([0]), gb.const([-1]), gb.const([0])])
        size_out = gb.op("Concat", [leading, gb.const([out_features])], axis=0)
        last = as_1d(gb, gb.op("Gather", [gb.op("Shape", [x]), gb.const(np.int64(-1))], axis=0))
        flat = gb.op("Reshape", [x, gb.op("Concat", [gb.const([-1]), last], axis=0)])
        w = gb.weight("weight", [in_features, out_features], fan_in=in_features)
        y = gb.op("Gemm", [flat, w, gb.bias("bias", out_features)], alpha=1.0, beta=1.0)
        return gb.op("Reshape", [y, size_out])


def layer_norm(gb: GraphBuilder, x: str, name: str, hidden: int, eps: float, out: str | None = None) -> str:
    """``nn.LayerNorm`` over the last axis: one ``LayerNormalization`` node (opset >= 17)."""
    with gb.scope(name):
        scale, shift = gb.norm_scale("weight", hidden), gb.bias("bias", hidden)
        return gb.op("LayerNormalization", [x, scale, shift], out=out, axis=-1, epsilon=eps)


def rms_norm(gb: GraphBuilder, x: str, name: str, hidden: int, eps: float) -> str:
    """HF ``LlamaRMSNorm``: ``w * (x * rsqrt(mean(x², -1) + eps))`` with its float32 casts.

    ``Cast → Pow(2) → ReduceMean → Add(eps) → Sqrt → Reciprocal → Mul → Cast → Mul(weight)``.
    """
    with gb.scope(name):
        xf = gb.op("Cast", [x], to=FLOAT)
        variance = gb.reduce("ReduceMean", gb.op("Pow", [xf, gb.const(np.float32(2.0))]), [-1], keepdims=True)
        inv_rms = gb.op("Reciprocal", [gb.op("Sqrt", [gb.op("Add", [variance, gb.const(np.float32(eps))])])])
        normed = gb.op("Cast", [gb.op("Mul", [xf, inv_rms])], to=FLOAT)
        return gb.op("Mul", [gb.norm_scale("weight", hidden), normed])


def embedding(gb: GraphBuilder, ids: str, name: str, num: int, hidden: int) -> str:
    """``nn.Embedding``: ``Gather`` of an N(0, 0.02²) table (HF's initialiser) by ``ids``."""
    with gb.scope(name):
        return gb.op("Gather", [gb.weight("weight", [num, hidden], std=0.02), ids], axis=0)


# -- attention --------------------------------------------------------------------------------


def split_heads(gb: GraphBuilder, x: str, n_heads: int, head_dim: int) -> str:
    """``x.view(b, s, n_heads, head_dim).transpose(1, 2)``: [b, s, n·d] → [b, n, s, d]."""
    b, s = as_1d(gb, dim(gb, x, 0)), as_1d(gb, dim(gb, x, 1))
    target = gb.op("Concat", [b, s, gb.const([n_heads]), gb.const([head_dim])], axis=0)
    return gb.op("Transpose", [gb.op("Reshape", [x, target])], perm=[0, 2, 1, 3])


def merge_heads(gb: GraphBuilder, x: str, hidden: int) -> str:
    """``x.transpose(1, 2).reshape(b, s, hidden)``: [b, n, s, d] → [b, s, n·d]."""
    t = gb.op("Transpose", [x], perm=[0, 2, 1, 3])
    b, s = as_1d(gb, dim(gb, t, 0)), as_1d(gb, dim(gb, t, 1))
    return gb.op("Reshape", [t, gb.op("Concat", [b, s, gb.const([hidden])], axis=0)])


def attention_scores(gb: GraphBuilder, q: str, k: str, head_dim: int, *, scale: Literal["div", "mul"]) -> str:
    """``q @ k.transpose(-1, -2)`` scaled by 1/√d, as ``Div`` (eager HF) or ``Mul`` (SDPA)."""
    scores = gb.op("MatMul", [q, gb.op("Transpose", [k], perm=[0, 1, 3, 2])])
    if scale == "div":
        return gb.op("Div", [scores, gb.const(np.float32(math.sqrt(head_dim)))])
    return gb.op("Mul", [scores, gb.const(np.float32(1.0 / math.sqrt(head_dim)))])


def causal_additive_mask(gb: GraphBuilder, input_ids: str) -> str:
    """HF's 4-D causal mask: ``finfo.min`` strictly above the diagonal, 0 elsewhere, [1, 1, s, s].

    ``ConstantOfShape([s, s], finfo.min) → Trilu(upper, k=1) → Unsqueeze([0, 1])``.
    """
    s = as_1d(gb, dim(gb, input_ids, 1))
    full = gb.op(
        "ConstantOfShape",
        [gb.op("Concat", [s, s], axis=0)],
        value=numpy_helper.from_array(np.array([FLOAT_MIN], dtype=np.float32)),
    )
    upper = gb.op("Trilu", [full, gb.const(np.int64(1))], upper=1)
    return gb.op("Unsqueeze", [upper, gb.const([0, 1])])


def rotary_tables(gb: GraphBuilder, max_positions: int, head_dim: int, theta: float) -> tuple[str, str]:
    """Cos/sin caches [max_positions, head_dim] (``cat(freqs, freqs)``) as initializers."""
    inv_freq = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    freqs = np.outer(np.arange(max_positions, dtype=np.float64), inv_freq)
    emb = np.concatenate([freqs, freqs], axis=-1)
    with gb.scope("rotary_emb"):
        return (
            gb.param("cos_cached", np.cos(emb).astype(np.float32)),
            gb.param("sin_cached", np.sin(emb).astype(np.float32)),
        )


def rotary_for_positions(gb: GraphBuilder, table: str, positions: str) -> str:
    """``cache[position_ids].unsqueeze(1)``: [1, s] ids → [1, 1, s, head_dim]."""
    return gb.op("Unsqueeze", [gb.op("Gather", [table, positions], axis=0), gb.const([1])])


def rotate_half(gb: GraphBuilder, x: str, head_dim: int) -> str:
    """``cat(-x[..., d/2:], x[..., :d/2], -1)`` via two ``Slice``, ``Neg`` and ``Concat``."""
    half = head_dim // 2
    x1 = gb.op("Slice", [x, gb.const([0]), gb.const([half]), gb.const([3]), gb.const([1])])
    x2 = gb.op("Slice", [x, gb.const([half]), gb.const([INT64_MAX]), gb.const([3]), gb.const([1])])
    return gb.op("Concat", [gb.op("Neg", [x2]), x1], axis=-1)


def apply_rotary(gb: GraphBuilder, x: str, cos: str, sin: str, head_dim: int) -> str:
    """``x * cos + rotate_half(x) * sin``."""
    return gb.op("Add", [gb.op("Mul", [x, cos]), gb.op("Mul", [rotate_half(gb, x, head_dim), sin])])


def repeat_kv(gb: GraphBuilder, x: str, n_kv_heads: int, n_rep: int, head_dim: int) -> str:
    """HF ``repeat_kv``: [b, kv, s, d] → [b, kv·n_rep, s, d].

    ``Unsqueeze(2) → Expand(b, kv, n_rep, s, d) → Reshape(b, kv·n_rep, s, d)``.
    """
    b, s = as_1d(gb, dim(gb, x, 0)), as_1d(gb, dim(gb, x, 2))
    kv, rep, d = gb.const([n_kv_heads]), gb.const([n_rep]), gb.const([head_dim])
    expanded = gb.op(
        "Expand", [gb.op("Unsqueeze", [x, gb.const([2])]), gb.op("Concat", [b, kv, rep, s, d], axis=0)]
    )
    target = gb.op("Concat", [b, gb.const([n_kv_heads * n_rep]), s, d], axis=0)
    return gb.op("Reshape", [expanded, target])


# -- MLP ----------------------------------------------------------------------------------------


def silu(gb: GraphBuilder, x: str) -> str:
    """``F.silu`` as exported: ``x * Sigmoid(x)``."""
    return gb.op("Mul", [x, gb.op("Sigmoid", [x])])


def swiglu_mlp(gb: GraphBuilder, x: str, name: str, hidden: int, intermediate: int, style: LinearStyle) -> str:
    """HF ``LlamaMLP``: ``down(silu(gate(x)) * up(x))``, no biases."""
    with gb.scope(name):
        gate = linear(gb, x, "gate_proj", hidden, intermediate, bias=False, style=style)
        up = linear(gb, x, "up_proj", hidden, intermediate, bias=False, style=style)
        act = gb.op("Mul", [silu(gb, gate), up])
        return linear(gb, act, "down_proj", intermediate, hidden, bias=False, style=style)
