"""ONNX Runtime contrib ops the frontend imports: ``com.microsoft::MoE`` (and a clear refusal of
``com.microsoft::QMoE``).

Part of the ONNX frontend (see :mod:`moecc.frontend.onnx_context`). ``MoE`` becomes the graph
IR's ``moe`` op, as onnxruntime's CPU kernel computes it (checked against onnxruntime in
``tests/test_onnx_contrib_moe.py``): softmax over the router logits, top-``k`` experts per row,
their probabilities renormalised when ``normalize_routing_weights``, and per expert
``act(x @ fc1^T + b1) @ fc2^T + b2`` with ``fc1_experts_weights [E, inter, hidden]`` and
``fc2_experts_weights [E, hidden, inter]``. The op takes router logits; the ``moe`` op takes the
router's weights, so the logits must be ``x @ W`` (``+ b``) of the op's own input in the graph
(as exporters write them). Refused with the reason: a router computed otherwise, the sparse
mixer, SwiGLU (fused, interleaved, clamped), ``identity`` activations and ``fc3`` weights (gated
experts, which onnxruntime's CPU kernel does not run to check against). ``QMoE`` is an
unsupported op whose error says why (:data:`REFUSED_OPS`).
"""

from __future__ import annotations

import numpy as np

from moecc.frontend.onnx_context import NodeContext, onnx_op
from moecc.frontend.onnx_shape import reshape_to
from moecc.ir.builder import const_value
from moecc.ir.graph import Value

#: Contrib ops refused with a reason of their own (in the unsupported-ops error).
REFUSED_OPS = {"com.microsoft::QMoE": "quantised experts are not supported yet; export the MoE with float expert weights"}

#: ONNX Runtime's activation_type -> the moe op's activation. Its CPU kernel's "gelu" is the tanh
#: approximation (measured: 2.4e-7 from gelu_tanh, 6.3e-4 from the erf form).
_ACTIVATIONS = {"relu": "relu", "gelu": "gelu_tanh", "silu": "silu"}


def _router(ctx: NodeContext, logits: Value, rows: Value) -> tuple[Value, Value | None]:
    """``(W, b)`` with ``logits = rows @ W (+ b)``, ``W`` and ``b`` constants, else an error."""
    def through_reshapes(value: Value) -> Value:
        while value.producer is not None and value.producer.kind == "reshape":
            value = value.producer.operands[0]
        return value

    producer = logits.producer
    bias = None
    if producer is not None and producer.kind == "add":
        a, b = producer.operands
        matmul_side, bias = (a, b) if const_value(b) is not None else (b, a)
        producer = matmul_side.producer
    if (producer is None or producer.kind != "matmul" or const_value(producer.operands[1]) is None
            or through_reshapes(producer.operands[0]) is not through_reshapes(rows)
            or (bias is not None and const_value(bias) is None)):
        raise ctx.error("MoE's router_probs must be the router's logits x @ W (+ b) of the MoE's own input, "
                        "with constant W and b", remedy="export the router as a MatMul/Gemm of the MoE input")
    return producer.operands[1], bias


@onnx_op("com.microsoft::MoE", since=13)
def microsoft_moe(ctx: NodeContext) -> list[Value | None]:
    x, logits = ctx.input(0), ctx.input(1)
    fc1_w, fc1_b, fc2_w, fc2_b = ctx.input(2), ctx.optional_input(3), ctx.input(4), ctx.optional_input(5)
    activation = str(ctx.attr("activation_type", "relu"))
    if int(ctx.attr("use_sparse_mixer", 0)):
        raise ctx.error("MoE with use_sparse_mixer=1 is not supported", remedy="export with the softmax top-k router")
    if activation not in _ACTIVATIONS:
        raise ctx.error(f"MoE activation_type '{activation}' is not supported (relu, gelu and silu are)",
                        remedy="export the experts with one of those, or as plain ONNX ops")
    if ctx.optional_input(6) is not None or ctx.optional_input(7) is not None:
        raise ctx.error("MoE with fc3_experts_weights (gated experts) is not supported yet",
                        remedy="export the experts as plain ONNX ops; moecc recognises gated MoE layers there")
    hidden = x.type.shape[-1]
    experts, inter = fc1_w.type.shape[0], fc1_w.type.shape[1]
    if fc1_w.type.shape != (experts, inter, hidden) or fc2_w.type.shape != (experts, hidden, inter):
        raise ctx.error(f"MoE expert weights {fc1_w.type} and {fc2_w.type} are not fc1 [E, inter, {hidden}] and "
                        f"fc2 [E, {hidden}, inter]")
    tokens = int(np.prod(x.type.shape[:-1], dtype=np.int64))
    rows = reshape_to(ctx, x, (tokens, hidden))
    router_w, router_b = _router(ctx, logits, rows)
    if router_w.type.shape != (hidden, experts):
        raise ctx.error(f"MoE router weight {router_w.type} is not [{hidden}, {experts}]")
    operands = [rows, router_w, ctx.emit("transpose", [fc1_w], {"perm": [0, 2, 1]}),
                ctx.emit("transpose", [fc2_w], {"perm": [0, 2, 1]})]
    biased = fc1_b is not None or fc2_b is not None
    if biased:
        zeros_b1 = ctx.const(np.zeros((experts, inter), dtype=x.type.dtype.numpy))
        zeros_b2 = ctx.const(np.zeros((experts, hidden), dtype=x.type.dtype.numpy))
        operands += [fc1_b if fc1_b is not None else zeros_b1, fc2_b if fc2_b is not None else zeros_b2]
    if router_b is not None:
        operands.append(reshape_to(ctx, router_b, (experts,)))
    out = ctx.emit("moe", operands, {"top_k": int(ctx.attr("k", 1)), "activation": _ACTIVATIONS[activation],
                                     "normalize": bool(int(ctx.attr("normalize_routing_weights", 0))),
                                     "gated": False, "expert_bias": biased, "router_bias": router_b is not None})
    return [reshape_to(ctx, out, x.type.shape)]
