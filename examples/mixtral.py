"""The ``mixtral-block`` example: a Llama decoder whose MLP is a Mixtral sparse MoE block.

The MoE block is written as PyTorch exports Hugging Face's Mixtral with
``experts_implementation="batched_mm"``: no data-dependent loop over experts, but a gather of each
selected expert's weights per (token, slot) followed by batched matmuls::

    x [b, s, H] ─ Reshape(-1, H) ─▶ tokens [T, H]
    router: Gemm(tokens, gate.weight[E, H], transB=1) ─ Softmax(axis=1) ─ TopK(k) ─▶ p [T, k], idx [T, k]
    renormalise: Div(p, ReduceSum(p, -1, keepdims)) ─ Cast
    experts (stacked weights in state-dict layout, w1/w3 [E, I, H], w2 [E, H, I]):
      Gather(w, idx) (or GatherND(w, idx[..., None])) ─ Transpose(0,1,3,2) ─▶ [T, k, in, out]
      Unsqueeze(tokens, [1, 2]) [T, 1, 1, H] ─ MatMul(w1) ─ SiLU ─ Mul(MatMul(w3)) ─ MatMul(w2)
      ─ Squeeze(2) [T, k, H] ─ Mul(Unsqueeze(p, -1)) ─ ReduceSum(axis 1) ─▶ [T, H]
    Reshape(b, s, H)

Around it sits the Llama skeleton of :mod:`moecc.examples.llama` (RMSNorm, rotary GQA attention,
residuals, final RMSNorm, LM head). :mod:`moecc.examples.moe_transformer` reuses this builder.
"""

from __future__ import annotations

from typing import Literal

import onnx

from moecc.examples.graph_builder import DEFAULT_OPSET, GraphBuilder, example_metadata
from moecc.examples.layers import FLOAT, INT64, as_1d, check_sizes, dim, linear, silu
from moecc.examples.llama import attention_sizes_ok, decoder_lm

NAME = "mixtral-block"
ExpertGather = Literal["gather", "gathernd"]
EXPERT_GATHERS: tuple[str, ...] = ("gather", "gathernd")


def _selected_expert_weights(gb: GraphBuilder, stacked: str, idx: str, how: ExpertGather) -> str:
    """``stacked[idx].transpose(-1, -2)``: [E, out, in] by [T, k] → [T, k, in, out]."""
    if how == "gather":
        picked = gb.op("Gather", [stacked, idx], axis=0)
    else:
        picked = gb.op("GatherND", [stacked, gb.op("Unsqueeze", [idx, gb.const([-1])])], batch_dims=0)
    return gb.op("Transpose", [picked], perm=[0, 1, 3, 2])


def sparse_moe_block(
    gb: GraphBuilder,
    x: str,
    *,
    hidden: int,
    intermediate: int,
    n_experts: int,
    top_k: int,
    expert_gather: ExpertGather,
    name: str = "block_sparse_moe",
) -> str:
    """Mixtral's ``MixtralSparseMoeBlock`` with batched-matmul experts on [b, s, hidden]."""
    with gb.scope(name):
        b, s = as_1d(gb, dim(gb, x, 0)), as_1d(gb, dim(gb, x, 1))
        tokens = gb.op("Reshape", [x, gb.const([-1, hidden])])
        router_logits = linear(gb, tokens, "gate", hidden, n_experts, bias=False, style="gemm")
        probs = gb.op("Softmax", [router_logits], axis=1)
        top_p, top_idx = gb.op_multi("TopK", [probs, gb.const([top_k])], 2, axis=-1, largest=1, sorted=1)
        top_p = gb.op("Div", [top_p, gb.reduce("ReduceSum", top_p, [-1], keepdims=True)])
        routing = gb.op("Cast", [top_p], to=FLOAT)
        with gb.scope("experts"):
            w1 = gb.weight("w1", [n_experts, intermediate, hidden], fan_in=hidden)
            w3 = gb.weight("w3", [n_experts, intermediate, hidden], fan_in=hidden)
            w2 = gb.weight("w2", [n_experts, hidden, intermediate], fan_in=intermediate)
            rows = gb.op("Unsqueeze", [tokens, gb.const([1, 2])])
            gate = gb.op("MatMul", [rows, _selected_expert_weights(gb, w1, top_idx, expert_gather)])
            up = gb.op("MatMul", [rows, _selected_expert_weights(gb, w3, top_idx, expert_gather)])
            act = gb.op("Mul", [silu(gb, gate), up])
            down = gb.op("MatMul", [act, _selected_expert_weights(gb, w2, top_idx, expert_gather)])
            per_slot = gb.op("Squeeze", [down, gb.const([2])])
            weighted = gb.op("Mul", [per_slot, gb.op("Unsqueeze", [routing, gb.const([-1])])])
            combined = gb.reduce("ReduceSum", weighted, [1], keepdims=False)
        return gb.op("Reshape", [combined, gb.op("Concat", [b, s, gb.const([hidden])], axis=0)])


def moe_sizes_ok(n_experts: int, top_k: int, expert_gather: str) -> dict[str, bool]:
    """The constraints on a sparse MoE block's sizes and options."""
    return {
        f"top_k ({top_k}) must be between 1 and n_experts ({n_experts})": 1 <= top_k <= n_experts,
        f"expert_gather must be one of {EXPERT_GATHERS}, not {expert_gather!r}": expert_gather in EXPERT_GATHERS,
    }


def build_moe_lm(
    example: str,
    *,
    batch: int,
    seq: int,
    vocab: int,
    hidden: int,
    heads: int,
    kv_heads: int,
    intermediate: int,
    n_experts: int,
    top_k: int,
    n_layers: int,
    max_positions: int,
    expert_gather: ExpertGather,
    dynamic: bool,
    seed: int,
    opset: int,
    doc: str,
) -> onnx.ModelProto:
    """A Llama-skeleton LM whose every layer's MLP is a sparse MoE block; records ``example``."""
    check_sizes(
        example,
        {
            "all sizes must be >= 1": min(
                batch, seq, vocab, hidden, intermediate, n_experts, n_layers, max_positions
            ) >= 1,
            f"seq ({seq}) must be <= max_positions ({max_positions})": seq <= max_positions,
            **attention_sizes_ok(hidden, heads, kv_heads),
            **moe_sizes_ok(n_experts, top_k, expert_gather),
        },
    )
    gb = GraphBuilder(example.replace("-", "_"), seed=seed, opset=opset)
    b, s = ("batch", "seq") if dynamic else (batch, seq)
    ids = gb.add_input("input_ids", INT64, [b, s])

    def mlp(g: GraphBuilder, x: str) -> str:
        return sparse_moe_block(
            g, x, hidden=hidden, intermediate=intermediate, n_experts=n_experts, top_k=top_k,
            expert_gather=expert_gather,
        )

    logits = decoder_lm(
        gb, ids, vocab=vocab, hidden=hidden, heads=heads, kv_heads=kv_heads,
        n_layers=n_layers, max_positions=max_positions, mlp=mlp,
    )
    gb.add_output(logits, FLOAT, [b, s, vocab])
    sizes = dict(batch=batch, seq=seq, vocab=vocab, hidden=hidden, heads=heads, kv_heads=kv_heads,
                 intermediate=intermediate, n_experts=n_experts, top_k=top_k, n_layers=n_layers,
                 max_positions=max_positions, expert_gather=expert_gather, dynamic=dynamic,
                 seed=seed, opset=opset)
    return gb.build(doc=doc, metadata=example_metadata(example, sizes))


def build_mixtral_block(
    *,
    batch: int = 2,
    seq: int = 16,
    vocab: int = 256,
    hidden: int = 64,
    heads: int = 4,
    kv_heads: int = 2,
    intermediate: int = 128,
    n_experts: int = 4,
    top_k: int = 2,
    n_layers: int = 1,
    max_positions: int = 64,
    expert_gather: ExpertGather = "gather",
    dynamic: bool = False,
    seed: int = 0,
    opset: int = DEFAULT_OPSET,
) -> onnx.ModelProto:
    """Mixtral LM: ``n_layers`` of (RMSNorm, GQA attention, RMSNorm, sparse MoE) → ``logits``.

    Input ``input_ids`` int64 [batch, seq]; output ``logits`` float32 [batch, seq, vocab].
    ``expert_gather`` picks ``Gather`` or ``GatherND`` for selecting expert weights.
    """
    return build_moe_lm(
        NAME, batch=batch, seq=seq, vocab=vocab, hidden=hidden, heads=heads, kv_heads=kv_heads,
        intermediate=intermediate, n_experts=n_experts, top_k=top_k, n_layers=n_layers,
        max_positions=max_positions, expert_gather=expert_gather, dynamic=dynamic, seed=seed,
        opset=opset, doc=__doc__ or "",
    )
