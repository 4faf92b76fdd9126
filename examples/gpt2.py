"""The ``gpt2-block`` example: a GPT-2 language model with one (or a few) decoder blocks.

Structure, as Hugging Face's eager ``GPT2LMHeadModel`` exports through TorchScript::

    input_ids [b, s] ─ Gather(wte) ─┐
    Range(0, s) ─ Gather(wpe) ──────┴─ Add ─▶ h
    per block:
      LayerNormalization(ln_1)
      Conv1D c_attn: Reshape(-1, H) ─ Gemm(W[H,3H], b) ─ Reshape(b, s, 3H) ─ Split(3) ─▶ q, k, v
      heads: Shape─Gather─Unsqueeze─Concat─Reshape ─ Transpose(0,2,1,3)
      MatMul(q, Transpose(k)) ─ Div(√d) ─ Where(causal bias[:, :, k-q:k, :k], ·, finfo.min)
      Softmax ─ MatMul(v) ─ Transpose ─ Reshape ─ Conv1D c_proj ─ Add(residual)
      LayerNormalization(ln_2) ─ Conv1D c_fc ─ tanh-GELU (Mul/Pow/Mul/Add/Mul/Tanh/Add/Mul)
      ─ Conv1D c_proj ─ Add(residual)
    LayerNormalization(ln_f) ─ MatMul(Transpose(wte)) ─▶ logits [b, s, vocab]

The causal mask is GPT-2's boolean ``bias`` buffer [1, 1, n_positions, n_positions], sliced to
the sequence; the LM head is tied to the token embedding.
"""

from __future__ import annotations

import math

import numpy as np
import onnx

from moecc.examples.graph_builder import DEFAULT_OPSET, GraphBuilder, example_metadata
from moecc.examples.layers import (
    FLOAT,
    FLOAT_MIN,
    INT64,
    as_1d,
    attention_scores,
    check_sizes,
    conv1d,
    dim,
    layer_norm,
    merge_heads,
    position_ids,
    split_heads,
)

NAME = "gpt2-block"
LN_EPS = 1e-5


def new_gelu(gb: GraphBuilder, x: str) -> str:
    """GPT-2's ``NewGELUActivation``: ``0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))``."""
    half_x = gb.op("Mul", [x, gb.const(np.float32(0.5))])
    cube = gb.op("Pow", [x, gb.const(np.float32(3.0))])
    inner = gb.op("Add", [x, gb.op("Mul", [cube, gb.const(np.float32(0.044715))])])
    scaled = gb.op("Mul", [inner, gb.const(np.float32(math.sqrt(2.0 / math.pi)))])
    one_plus = gb.op("Add", [gb.op("Tanh", [scaled]), gb.const(np.float32(1.0))])
    return gb.op("Mul", [half_x, one_plus])


def _causal_where(gb: GraphBuilder, scores: str, q: str, k: str, n_positions: int) -> str:
    """``torch.where(bias[:, :, k_len - q_len : k_len, :k_len], scores, finfo.min)``."""
    tril = np.tril(np.ones((n_positions, n_positions), dtype=bool))[None, None]
    bias = gb.param("bias", tril)
    q_len, k_len = dim(gb, q, 2), dim(gb, k, 2)
    start, end = as_1d(gb, gb.op("Sub", [k_len, q_len])), as_1d(gb, k_len)
    rows = gb.op("Slice", [bias, start, end, gb.const([2]), gb.const([1])])
    causal = gb.op("Slice", [rows, gb.const([0]), end, gb.const([3]), gb.const([1])])
    return gb.op("Where", [causal, scores, gb.const(np.float32(FLOAT_MIN))])


def _block(gb: GraphBuilder, h: str, hidden: int, heads: int, n_positions: int) -> str:
    head_dim = hidden // heads
    x = layer_norm(gb, h, "ln_1", hidden, LN_EPS)
    with gb.scope("attn"):
        qkv = conv1d(gb, x, "c_attn", hidden, 3 * hidden)
        q, k, v = gb.op_multi("Split", [qkv, gb.const([hidden] * 3)], 3, axis=2)
        q, k, v = (split_heads(gb, t, heads, head_dim) for t in (q, k, v))
        scores = _causal_where(gb, attention_scores(gb, q, k, head_dim, scale="div"), q, k, n_positions)
        context = gb.op("MatMul", [gb.op("Softmax", [scores], axis=-1), v])
        attn_out = conv1d(gb, merge_heads(gb, context, hidden), "c_proj", hidden, hidden)
    h = gb.op("Add", [attn_out, h])
    x = layer_norm(gb, h, "ln_2", hidden, LN_EPS)
    with gb.scope("mlp"):
        x = conv1d(gb, x, "c_fc", hidden, 4 * hidden)
        x = conv1d(gb, new_gelu(gb, x), "c_proj", 4 * hidden, hidden)
    return gb.op("Add", [h, x])


def build_gpt2_block(
    *,
    batch: int = 2,
    seq: int = 16,
    vocab: int = 256,
    hidden: int = 64,
    heads: int = 4,
    n_positions: int = 64,
    n_layers: int = 1,
    dynamic: bool = False,
    seed: int = 0,
    opset: int = DEFAULT_OPSET,
) -> onnx.ModelProto:
    """GPT-2 LM: embeddings, ``n_layers`` decoder blocks, ``ln_f``, tied LM head → ``logits``.

    Input ``input_ids`` int64 [batch, seq]; output ``logits`` float32 [batch, seq, vocab].
    With ``dynamic=True`` batch and seq are the symbolic dims ``"batch"`` and ``"seq"``.
    """
    check_sizes(
        NAME,
        {
            "all sizes must be >= 1": min(batch, seq, vocab, hidden, heads, n_positions, n_layers) >= 1,
            f"heads ({heads}) must divide hidden ({hidden})": heads >= 1 and hidden % heads == 0,
            f"seq ({seq}) must be <= n_positions ({n_positions})": seq <= n_positions,
        },
    )
    gb = GraphBuilder("gpt2_block", seed=seed, opset=opset)
    b, s = ("batch", "seq") if dynamic else (batch, seq)
    ids = gb.add_input("input_ids", INT64, [b, s])
    with gb.scope("transformer"):
        wte = gb.weight("wte.weight", [vocab, hidden], std=0.02)
        wpe = gb.weight("wpe.weight", [n_positions, hidden], std=0.02)
        with gb.scope("wte"):
            tokens = gb.op("Gather", [wte, ids], axis=0)
        with gb.scope("wpe"):
            positions = gb.op("Gather", [wpe, position_ids(gb, ids)], axis=0)
        h = gb.op("Add", [tokens, positions])
        for i in range(n_layers):
            with gb.scope(f"h.{i}"):
                h = _block(gb, h, hidden, heads, n_positions)
        h = layer_norm(gb, h, "ln_f", hidden, LN_EPS)
    with gb.scope("lm_head"):
        gb.op("MatMul", [h, gb.op("Transpose", [wte], perm=[1, 0])], out="logits")
    gb.add_output("logits", FLOAT, [b, s, vocab])
    sizes = dict(batch=batch, seq=seq, vocab=vocab, hidden=hidden, heads=heads,
                 n_positions=n_positions, n_layers=n_layers, dynamic=dynamic, seed=seed, opset=opset)
    return gb.build(doc=__doc__ or "", metadata=example_metadata(NAME, sizes))
