"""The ``dense-moe-einsum`` example: a dense-masked MoE whose experts are stacked weights applied
with ``torch.einsum``, as the TorchScript exporter writes it.

Where :mod:`moecc.examples.dense_moe` loops over expert modules (one MatMul chain per expert),
this MoE keeps each projection of all experts in one parameter (``w_gate``/``w_up``
``[E, H, F]``, ``w_down`` ``[E, F, H]``) and applies it with ``torch.einsum``, which
``torch.onnx.export(..., dynamo=False)`` keeps as one ``Einsum`` node per call::

    x = hidden_states.view(-1, H)                       Shape → Gather → Concat → Reshape  [t, H]
    probs = softmax(x @ router)                          MatMul → Softmax                   [t, E]
    top_w, top_i = topk(probs, k); top_w /= top_w.sum(-1, keepdim=True)     TopK → ReduceSum → Div
    weights = zeros_like(probs).scatter(-1, top_i, top_w)  ConstantOfShape(Shape) → ScatterElements
    gate = einsum("td,edf->tef", x, w_gate); up = einsum("td,edf->tef", x, w_up)           [t, E, F]
    act = silu(gate) * up                                Sigmoid → Mul → Mul
    down = einsum("tef,efd->ted", act, w_down)                                               [t, E, H]
    out = einsum("te,ted->td", weights, down)            (combine="mul": Mul → ReduceSum)   [t, H]
    output = out.view(b, s, H)                           Concat(Shape chain) → Reshape

Every expert runs on every token; the mask zeroes the unselected ones, so the result equals a
sparse top-k MoE. moecc's ``decompose-einsum`` pass turns the einsums into matmuls.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import onnx
from onnx import numpy_helper

from moecc.examples.graph_builder import DEFAULT_OPSET, GraphBuilder, example_metadata
from moecc.examples.layers import FLOAT, as_1d, check_sizes, dim, linear, silu

NAME = "dense-moe-einsum"
Combine = Literal["einsum", "mul"]
COMBINES: tuple[str, ...] = ("einsum", "mul")


def _renormalised_top_k_weights(gb: GraphBuilder, probs: str, top_k: int) -> str:
    """``zeros_like(probs).scatter(-1, top_i, top_w / top_w.sum(-1, keepdim=True))``: the
    softmax weights of the top-k experts renormalised to sum to 1, zero elsewhere, [t, E]."""
    top_w, top_i = gb.op_multi("TopK", [probs, gb.const([top_k])], 2, axis=-1, largest=1, sorted=1)
    top_w = gb.op("Div", [top_w, gb.reduce("ReduceSum", top_w, [-1], keepdims=True)])
    zeros = gb.op(
        "ConstantOfShape",
        [gb.op("Shape", [probs])],
        value=numpy_helper.from_array(np.zeros([1], dtype=np.float32)),
    )
    return gb.op("ScatterElements", [zeros, top_i, top_w], axis=-1)


def build_dense_moe_einsum(
    *,
    batch: int = 2,
    seq: int = 16,
    hidden: int = 64,
    intermediate: int = 128,
    n_experts: int = 4,
    top_k: int = 2,
    combine: Combine = "einsum",
    dynamic: bool = False,
    seed: int = 0,
    opset: int = DEFAULT_OPSET,
) -> onnx.ModelProto:
    """Dense-masked top-k SwiGLU MoE over ``hidden_states`` → ``output``, both float32
    [batch, seq, hidden], experts as stacked weights applied with ``Einsum``.

    ``combine`` sums the weighted expert outputs with ``Einsum("te,ted->td")`` (default) or
    with ``Mul`` + ``ReduceSum`` over the expert axis.
    """
    check_sizes(
        NAME,
        {
            "all sizes must be >= 1": min(batch, seq, hidden, intermediate, n_experts) >= 1,
            f"top_k ({top_k}) must be between 1 and n_experts ({n_experts})": 1 <= top_k <= n_experts,
            f"combine must be one of {COMBINES}, not {combine!r}": combine in COMBINES,
        },
    )
    gb = GraphBuilder("dense_moe_einsum", seed=seed, opset=opset)
    b, s = ("batch", "seq") if dynamic else (batch, seq)
    hidden_states = gb.add_input("hidden_states", FLOAT, [b, s, hidden])
    # hidden_states.view(-1, hidden_states.size(-1)): the exporter keeps the size lookup.
    flat_shape = gb.op("Concat", [gb.const([-1]), as_1d(gb, dim(gb, hidden_states, 2))], axis=0)
    x = gb.op("Reshape", [hidden_states, flat_shape])
    probs = gb.op("Softmax", [linear(gb, x, "router", hidden, n_experts, bias=False, style="matmul")], axis=-1)
    weights = _renormalised_top_k_weights(gb, probs, top_k)
    with gb.scope("experts"):
        w_gate = gb.weight("w_gate", [n_experts, hidden, intermediate], fan_in=hidden)
        w_up = gb.weight("w_up", [n_experts, hidden, intermediate], fan_in=hidden)
        w_down = gb.weight("w_down", [n_experts, intermediate, hidden], fan_in=intermediate)
        gate = gb.op("Einsum", [x, w_gate], equation="td,edf->tef")
        up = gb.op("Einsum", [x, w_up], equation="td,edf->tef")
        act = gb.op("Mul", [silu(gb, gate), up])
        down = gb.op("Einsum", [act, w_down], equation="tef,efd->ted")
    if combine == "einsum":
        combined = gb.op("Einsum", [weights, down], equation="te,ted->td")
    else:
        weighted = gb.op("Mul", [down, gb.op("Unsqueeze", [weights, gb.const([-1])])])
        combined = gb.reduce("ReduceSum", weighted, [1], keepdims=False)
    # out.view(b, s, h) with the sizes read from the input's shape.
    out_shape = gb.op(
        "Concat", [as_1d(gb, dim(gb, hidden_states, axis)) for axis in range(3)], axis=0
    )
    gb.op("Reshape", [combined, out_shape], out="output")
    gb.add_output("output", FLOAT, [b, s, hidden])
    sizes = dict(batch=batch, seq=seq, hidden=hidden, intermediate=intermediate, n_experts=n_experts,
                 top_k=top_k, combine=combine, dynamic=dynamic, seed=seed, opset=opset)
    return gb.build(doc=__doc__ or "", metadata=example_metadata(NAME, sizes))
