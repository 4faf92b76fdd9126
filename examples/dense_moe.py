"""The ``dense-moe`` example: a dense-masked Mixture-of-Experts layer as TorchScript exports it.

A hand-written PyTorch MoE that avoids data-dependent control flow computes every expert on
every token and zeroes the unselected ones with a top-k mask. ``torch.onnx.export(...,
dynamo=False)`` unrolls the Python loop over experts, so each expert is its own chain of nodes::

    x [b, s, H] ─ MatMul(gate [H, E]) ─ Softmax ─ TopK(k) ─▶ idx [b, s, k]
    mask = zeros_like(probs).scatter(-1, idx, 1.0):
           ConstantOfShape(Shape(probs), 0) ─ ScatterElements(idx, Expand(1.0, Shape(idx)))
       or  ReduceSum(OneHot(idx, E), axis=-2)                        (mask_op="onehot")
    w = probs·mask / ReduceSum(probs·mask, -1)          [b, s, E]
    expert e: MatMul(fc1) ─ Add(b1) ─ Relu ─ MatMul(fc2) ─ Add(b2) ─ Unsqueeze(2)
    Concat(experts, axis=2) [b, s, E, H] ─ Mul(Unsqueeze(w, -1)) ─ ReduceSum(axis 2) ─▶ output

Mathematically this equals a sparse top-k MoE; a compiler that proves the mask sparse can skip
the unselected experts.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import onnx
from onnx import numpy_helper

from moecc.examples.graph_builder import DEFAULT_OPSET, GraphBuilder, example_metadata
from moecc.examples.layers import FLOAT, check_sizes, linear

NAME = "dense-moe"
MaskOp = Literal["scatter", "onehot"]
MASK_OPS: tuple[str, ...] = ("scatter", "onehot")


def _topk_mask(gb: GraphBuilder, probs: str, top_idx: str, n_experts: int, mask_op: MaskOp) -> str:
    """A float 0/1 mask [b, s, E] with ones at the top-k expert indices."""
    if mask_op == "scatter":
        zeros = gb.op(
            "ConstantOfShape",
            [gb.op("Shape", [probs])],
            value=numpy_helper.from_array(np.zeros([1], dtype=np.float32)),
        )
        ones = gb.op("Expand", [gb.const(np.float32(1.0)), gb.op("Shape", [top_idx])])
        return gb.op("ScatterElements", [zeros, top_idx, ones], axis=-1)
    one_hot = gb.op("OneHot", [top_idx, gb.const(np.int64(n_experts)), gb.const([0.0, 1.0])], axis=-1)
    return gb.reduce("ReduceSum", one_hot, [-2], keepdims=False)


def build_dense_moe(
    *,
    batch: int = 2,
    seq: int = 16,
    hidden: int = 64,
    intermediate: int = 128,
    n_experts: int = 4,
    top_k: int = 2,
    mask_op: MaskOp = "scatter",
    dynamic: bool = False,
    seed: int = 0,
    opset: int = DEFAULT_OPSET,
) -> onnx.ModelProto:
    """Dense-masked top-k MoE over ``hidden_states`` → ``output``, both float32 [batch, seq, hidden].

    ``mask_op`` builds the top-k mask with ``ScatterElements`` (default) or ``OneHot``.
    """
    check_sizes(
        NAME,
        {
            "all sizes must be >= 1": min(batch, seq, hidden, intermediate, n_experts) >= 1,
            f"top_k ({top_k}) must be between 1 and n_experts ({n_experts})": 1 <= top_k <= n_experts,
            f"mask_op must be one of {MASK_OPS}, not {mask_op!r}": mask_op in MASK_OPS,
        },
    )
    gb = GraphBuilder("dense_moe", seed=seed, opset=opset)
    b, s = ("batch", "seq") if dynamic else (batch, seq)
    x = gb.add_input("hidden_states", FLOAT, [b, s, hidden])
    probs = gb.op("Softmax", [linear(gb, x, "gate", hidden, n_experts, bias=False, style="matmul")], axis=-1)
    _, top_idx = gb.op_multi("TopK", [probs, gb.const([top_k])], 2, axis=-1, largest=1, sorted=1)
    masked = gb.op("Mul", [probs, _topk_mask(gb, probs, top_idx, n_experts, mask_op)])
    weights = gb.op("Div", [masked, gb.reduce("ReduceSum", masked, [-1], keepdims=True)])
    expert_outputs = []
    for e in range(n_experts):
        with gb.scope(f"experts.{e}"):
            h = gb.op("Relu", [linear(gb, x, "fc1", hidden, intermediate, bias=True, style="matmul")])
            y = linear(gb, h, "fc2", intermediate, hidden, bias=True, style="matmul")
            expert_outputs.append(gb.op("Unsqueeze", [y, gb.const([2])]))
    stacked = gb.op("Concat", expert_outputs, axis=2)
    weighted = gb.op("Mul", [stacked, gb.op("Unsqueeze", [weights, gb.const([-1])])])
    gb.reduce("ReduceSum", weighted, [2], keepdims=False, out="output")
    gb.add_output("output", FLOAT, [b, s, hidden])
    sizes = dict(batch=batch, seq=seq, hidden=hidden, intermediate=intermediate, n_experts=n_experts,
                 top_k=top_k, mask_op=mask_op, dynamic=dynamic, seed=seed, opset=opset)
    return gb.build(doc=__doc__ or "", metadata=example_metadata(NAME, sizes))
