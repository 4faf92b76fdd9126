"""The ``bert-layer`` example: BERT embeddings and encoder layer(s), as TorchScript exports them.

Structure of Hugging Face's eager ``BertModel`` (no pooler), linear weights pre-transposed
``[in, out]`` as the TorchScript exporter stores them::

    input_ids, token_type_ids, attention_mask: int64 [b, s]
    embeddings: Gather(word) + Gather(token_type) + Gather(position, position_ids[:, :s])
                ─ LayerNormalization
    additive mask: Unsqueeze(mask, [1, 2]) ─ Cast(float) ─ Sub(1, ·) ─ Mul(finfo.min)  [b, 1, 1, s]
    per layer:
      query/key/value: MatMul + Add ─ head split (Shape chains, Reshape, Transpose)
      MatMul(q, Transpose(k)) ─ Div(√d) ─ Add(mask) ─ Softmax ─ MatMul(v) ─ merge heads
      attention.output: MatMul + Add ─ Add(residual) ─ LayerNormalization
      intermediate: MatMul + Add ─ erf-GELU: Div(√2) ─ Erf ─ Add(1) ─ Mul(x) ─ Mul(0.5)
      output: MatMul + Add ─ Add(residual) ─ LayerNormalization
    ─▶ last_hidden_state float32 [b, s, hidden]

Attention is bidirectional: only padding (attention_mask == 0) is masked.
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
    dim,
    embedding,
    layer_norm,
    linear,
    merge_heads,
    split_heads,
)

NAME = "bert-layer"
LN_EPS = 1e-12
STYLE = "matmul"


def erf_gelu(gb: GraphBuilder, x: str) -> str:
    """Exact GELU as TorchScript exports ``F.gelu``: ``x · (1 + erf(x / √2)) · 0.5``."""
    erf = gb.op("Erf", [gb.op("Div", [x, gb.const(np.float32(math.sqrt(2.0)))])])
    return gb.op("Mul", [gb.op("Mul", [x, gb.op("Add", [erf, gb.const(np.float32(1.0))])]), gb.const(np.float32(0.5))])


def _extended_attention_mask(gb: GraphBuilder, mask: str) -> str:
    """HF ``get_extended_attention_mask``: ``(1 - mask[:, None, None, :]) * finfo.min``."""
    m = gb.op("Cast", [gb.op("Unsqueeze", [mask, gb.const([1, 2])])], to=FLOAT)
    inverted = gb.op("Sub", [gb.const(np.float32(1.0)), m])
    return gb.op("Mul", [inverted, gb.const(np.float32(FLOAT_MIN))])


def _embeddings(
    gb: GraphBuilder, ids: str, types: str, *, vocab: int, type_vocab: int, max_positions: int, hidden: int
) -> str:
    with gb.scope("embeddings"):
        buffer = gb.param("position_ids", np.arange(max_positions, dtype=np.int64)[None, :])
        seq = as_1d(gb, dim(gb, ids, 1))
        positions = gb.op("Slice", [buffer, gb.const([0]), seq, gb.const([1]), gb.const([1])])
        words = embedding(gb, ids, "word_embeddings", vocab, hidden)
        token_types = embedding(gb, types, "token_type_embeddings", type_vocab, hidden)
        summed = gb.op("Add", [words, token_types])
        summed = gb.op("Add", [summed, embedding(gb, positions, "position_embeddings", max_positions, hidden)])
        return layer_norm(gb, summed, "LayerNorm", hidden, LN_EPS)


def _encoder_layer(
    gb: GraphBuilder, x: str, mask: str, *, hidden: int, heads: int, intermediate: int, out: str | None
) -> str:
    head_dim = hidden // heads
    with gb.scope("attention"):
        with gb.scope("self"):
            q, k, v = (
                split_heads(gb, linear(gb, x, name, hidden, hidden, bias=True, style=STYLE), heads, head_dim)
                for name in ("query", "key", "value")
            )
            scores = gb.op("Add", [attention_scores(gb, q, k, head_dim, scale="div"), mask])
            context = merge_heads(gb, gb.op("MatMul", [gb.op("Softmax", [scores], axis=-1), v]), hidden)
        with gb.scope("output"):
            attn = linear(gb, context, "dense", hidden, hidden, bias=True, style=STYLE)
            x = layer_norm(gb, gb.op("Add", [attn, x]), "LayerNorm", hidden, LN_EPS)
    with gb.scope("intermediate"):
        h = erf_gelu(gb, linear(gb, x, "dense", hidden, intermediate, bias=True, style=STYLE))
    with gb.scope("output"):
        y = linear(gb, h, "dense", intermediate, hidden, bias=True, style=STYLE)
        return layer_norm(gb, gb.op("Add", [y, x]), "LayerNorm", hidden, LN_EPS, out=out)


def build_bert_layer(
    *,
    batch: int = 2,
    seq: int = 16,
    vocab: int = 256,
    hidden: int = 64,
    heads: int = 4,
    intermediate: int = 256,
    type_vocab: int = 2,
    max_positions: int = 64,
    n_layers: int = 1,
    dynamic: bool = False,
    seed: int = 0,
    opset: int = DEFAULT_OPSET,
) -> onnx.ModelProto:
    """BERT embeddings + ``n_layers`` encoder layers → ``last_hidden_state``.

    Inputs ``input_ids``, ``token_type_ids``, ``attention_mask``: int64 [batch, seq] (the mask is
    1 for real tokens, 0 for padding); output ``last_hidden_state`` float32 [batch, seq, hidden].
    """
    check_sizes(
        NAME,
        {
            "all sizes must be >= 1": min(
                batch, seq, vocab, hidden, intermediate, type_vocab, max_positions, n_layers
            ) >= 1,
            f"heads ({heads}) must divide hidden ({hidden})": heads >= 1 and hidden % heads == 0,
            f"seq ({seq}) must be <= max_positions ({max_positions})": seq <= max_positions,
        },
    )
    gb = GraphBuilder("bert_layer", seed=seed, opset=opset)
    b, s = ("batch", "seq") if dynamic else (batch, seq)
    ids = gb.add_input("input_ids", INT64, [b, s])
    types = gb.add_input("token_type_ids", INT64, [b, s])
    mask = gb.add_input("attention_mask", INT64, [b, s])
    additive = _extended_attention_mask(gb, mask)
    h = _embeddings(gb, ids, types, vocab=vocab, type_vocab=type_vocab, max_positions=max_positions, hidden=hidden)
    for i in range(n_layers):
        with gb.scope("encoder", f"layer.{i}"):
            out = "last_hidden_state" if i == n_layers - 1 else None
            h = _encoder_layer(gb, h, additive, hidden=hidden, heads=heads, intermediate=intermediate, out=out)
    gb.add_output(h, FLOAT, [b, s, hidden])
    sizes = dict(batch=batch, seq=seq, vocab=vocab, hidden=hidden, heads=heads, intermediate=intermediate,
                 type_vocab=type_vocab, max_positions=max_positions, n_layers=n_layers, dynamic=dynamic,
                 seed=seed, opset=opset)
    return gb.build(doc=__doc__ or "", metadata=example_metadata(NAME, sizes))
