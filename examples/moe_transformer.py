"""The ``moe-transformer`` example: the small MoE language model the moecc demo compiles.

Two decoder layers, each RMSNorm → rotary grouped-query attention → residual → RMSNorm →
Mixtral-style sparse MoE (4 experts, top-2, batched-matmul experts) → residual, between a token
embedding and an LM head. It is :func:`moecc.examples.mixtral.build_moe_lm` with demo-sized
defaults (hidden 64, 4 heads / 2 KV heads, seq 16, vocab 256); see :mod:`moecc.examples.mixtral`
for the node-level structure.
"""

from __future__ import annotations

import onnx

from moecc.examples.graph_builder import DEFAULT_OPSET
from moecc.examples.mixtral import ExpertGather, build_moe_lm

NAME = "moe-transformer"


def build_moe_transformer(
    *,
    batch: int = 1,
    seq: int = 16,
    vocab: int = 256,
    hidden: int = 64,
    heads: int = 4,
    kv_heads: int = 2,
    intermediate: int = 128,
    n_experts: int = 4,
    top_k: int = 2,
    n_layers: int = 2,
    max_positions: int = 64,
    expert_gather: ExpertGather = "gather",
    dynamic: bool = False,
    seed: int = 0,
    opset: int = DEFAULT_OPSET,
) -> onnx.ModelProto:
    """The demo MoE transformer: ``input_ids`` int64 [batch, seq] → ``logits`` [batch, seq, vocab]."""
    return build_moe_lm(
        NAME, batch=batch, seq=seq, vocab=vocab, hidden=hidden, heads=heads, kv_heads=kv_heads,
        intermediate=intermediate, n_experts=n_experts, top_k=top_k, n_layers=n_layers,
        max_positions=max_positions, expert_gather=expert_gather, dynamic=dynamic, seed=seed,
        opset=opset, doc=__doc__ or "",
    )
