"""The ``llama-block`` example, and the Llama decoder skeleton the MoE examples reuse.

Structure, as Hugging Face's ``LlamaForCausalLM`` exports with the dynamo exporter (linear
weights kept in state-dict layout ``[out, in]`` behind a ``Transpose``)::

    input_ids [b, s] ─ Gather(embed_tokens) ─▶ h
    Range(0, s) ─ Gather(cos_cached / sin_cached) ─ Unsqueeze(1) ─▶ cos, sin [1, 1, s, d]
    ConstantOfShape([s, s], finfo.min) ─ Trilu(upper, k=1) ─ Unsqueeze ─▶ causal mask [1, 1, s, s]
    per layer:
      RMSNorm: Cast ─ Pow(2) ─ ReduceMean ─ Add(eps) ─ Sqrt ─ Reciprocal ─ Mul ─ Cast ─ Mul(w)
      q/k/v_proj (k, v with n_kv_heads < n_heads) ─ head split (Shape chains, Reshape, Transpose)
      rotary: x·cos + rotate_half(x)·sin, rotate_half = Concat(Neg(Slice), Slice)
      repeat_kv: Unsqueeze ─ Expand ─ Reshape (grouped-query attention)
      MatMul(q, Transpose(k)) ─ Mul(1/√d) ─ Add(mask) ─ Softmax ─ MatMul(v) ─ merge ─ o_proj
      ─ Add(residual) ─ RMSNorm ─ MLP ─ Add(residual)
    RMSNorm(norm) ─ lm_head ─▶ logits [b, s, vocab]

The MLP is SwiGLU (``down(silu(gate(x)) * up(x))``, SiLU as ``x * Sigmoid(x)``) here; the Mixtral
and MoE-transformer examples pass a sparse MoE block instead.
"""

from __future__ import annotations

from collections.abc import Callable

import onnx

from moecc.examples.graph_builder import DEFAULT_OPSET, GraphBuilder, example_metadata
from moecc.examples.layers import (
    FLOAT,
    INT64,
    LinearStyle,
    apply_rotary,
    attention_scores,
    causal_additive_mask,
    check_sizes,
    embedding,
    linear,
    merge_heads,
    position_ids,
    repeat_kv,
    rms_norm,
    rotary_for_positions,
    rotary_tables,
    split_heads,
    swiglu_mlp,
)

NAME = "llama-block"
RMS_EPS = 1e-6
ROPE_THETA = 10000.0
LINEAR_STYLE: LinearStyle = "transpose"

# (builder, hidden states [b, s, hidden]) -> MLP output [b, s, hidden], built in the layer's scope.
MlpBuilder = Callable[[GraphBuilder, str], str]


def attention_sizes_ok(hidden: int, heads: int, kv_heads: int) -> dict[str, bool]:
    """The size constraints of Llama-style grouped-query attention with rotary embeddings."""
    return {
        f"heads ({heads}) must divide hidden ({hidden})": heads >= 1 and hidden % heads == 0,
        f"kv_heads ({kv_heads}) must divide heads ({heads})": kv_heads >= 1 and heads % kv_heads == 0,
        "head_dim (hidden / heads) must be even for rotary embeddings": (
            heads >= 1 and (hidden // heads) % 2 == 0
        ),
    }


def self_attention(
    gb: GraphBuilder, x: str, *, hidden: int, heads: int, kv_heads: int, cos: str, sin: str, mask: str
) -> str:
    """HF ``LlamaAttention`` (eager) on normalised hidden states [b, s, hidden]."""
    head_dim = hidden // heads
    with gb.scope("self_attn"):
        q = linear(gb, x, "q_proj", hidden, heads * head_dim, bias=False, style=LINEAR_STYLE)
        k = linear(gb, x, "k_proj", hidden, kv_heads * head_dim, bias=False, style=LINEAR_STYLE)
        v = linear(gb, x, "v_proj", hidden, kv_heads * head_dim, bias=False, style=LINEAR_STYLE)
        q = apply_rotary(gb, split_heads(gb, q, heads, head_dim), cos, sin, head_dim)
        k = apply_rotary(gb, split_heads(gb, k, kv_heads, head_dim), cos, sin, head_dim)
        v = split_heads(gb, v, kv_heads, head_dim)
        if kv_heads != heads:
            k = repeat_kv(gb, k, kv_heads, heads // kv_heads, head_dim)
            v = repeat_kv(gb, v, kv_heads, heads // kv_heads, head_dim)
        scores = gb.op("Add", [attention_scores(gb, q, k, head_dim, scale="mul"), mask])
        context = gb.op("MatMul", [gb.op("Softmax", [scores], axis=-1), v])
        return linear(gb, merge_heads(gb, context, hidden), "o_proj", hidden, hidden, bias=False, style=LINEAR_STYLE)


def decoder_lm(
    gb: GraphBuilder,
    ids: str,
    *,
    vocab: int,
    hidden: int,
    heads: int,
    kv_heads: int,
    n_layers: int,
    max_positions: int,
    mlp: MlpBuilder,
) -> str:
    """Embedding, ``n_layers`` pre-norm decoder layers with ``mlp``, final norm, LM head.

    Adds the graph output ``logits`` and returns its name.
    """
    with gb.scope("model"):
        h = embedding(gb, ids, "embed_tokens", vocab, hidden)
        positions = position_ids(gb, ids)
        cos_table, sin_table = rotary_tables(gb, max_positions, hidden // heads, ROPE_THETA)
        cos = rotary_for_positions(gb, cos_table, positions)
        sin = rotary_for_positions(gb, sin_table, positions)
        mask = causal_additive_mask(gb, ids)
        for i in range(n_layers):
            with gb.scope(f"layers.{i}"):
                x = rms_norm(gb, h, "input_layernorm", hidden, RMS_EPS)
                attn = self_attention(gb, x, hidden=hidden, heads=heads, kv_heads=kv_heads, cos=cos, sin=sin, mask=mask)
                h = gb.op("Add", [h, attn])
                x = rms_norm(gb, h, "post_attention_layernorm", hidden, RMS_EPS)
                h = gb.op("Add", [h, mlp(gb, x)])
        h = rms_norm(gb, h, "norm", hidden, RMS_EPS)
    return linear(gb, h, "lm_head", hidden, vocab, bias=False, style=LINEAR_STYLE, out="logits")


def build_llama_block(
    *,
    batch: int = 2,
    seq: int = 16,
    vocab: int = 256,
    hidden: int = 64,
    heads: int = 4,
    kv_heads: int = 2,
    intermediate: int = 128,
    n_layers: int = 1,
    max_positions: int = 64,
    dynamic: bool = False,
    seed: int = 0,
    opset: int = DEFAULT_OPSET,
) -> onnx.ModelProto:
    """Llama LM with ``n_layers`` decoder layers (GQA + RoPE + SwiGLU) → ``logits``.

    Input ``input_ids`` int64 [batch, seq]; output ``logits`` float32 [batch, seq, vocab].
    """
    check_sizes(
        NAME,
        {
            "all sizes must be >= 1": min(batch, seq, vocab, hidden, intermediate, n_layers, max_positions) >= 1,
            f"seq ({seq}) must be <= max_positions ({max_positions})": seq <= max_positions,
            **attention_sizes_ok(hidden, heads, kv_heads),
        },
    )
    gb = GraphBuilder("llama_block", seed=seed, opset=opset)
    b, s = ("batch", "seq") if dynamic else (batch, seq)
    ids = gb.add_input("input_ids", INT64, [b, s])

    def mlp(g: GraphBuilder, x: str) -> str:
        return swiglu_mlp(g, x, "mlp", hidden, intermediate, LINEAR_STYLE)

    logits = decoder_lm(
        gb, ids, vocab=vocab, hidden=hidden, heads=heads, kv_heads=kv_heads,
        n_layers=n_layers, max_positions=max_positions, mlp=mlp,
    )
    gb.add_output(logits, FLOAT, [b, s, vocab])
    sizes = dict(batch=batch, seq=seq, vocab=vocab, hidden=hidden, heads=heads, kv_heads=kv_heads,
                 intermediate=intermediate, n_layers=n_layers, max_positions=max_positions,
                 dynamic=dynamic, seed=seed, opset=opset)
    return gb.build(doc=__doc__ or "", metadata=example_metadata(NAME, sizes))
