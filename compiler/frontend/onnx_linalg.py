"""ONNX → graph IR: MatMul, Gemm and Einsum.

They map one-to-one onto the linalg family's ``matmul``, ``gemm`` and ``einsum``; the
canonicalize pass later lowers ``gemm`` to matmul/mul/add so that fusion and tiling only see
matmuls. The importer calls these through :data:`moecc.frontend.onnx_context.ONNX_HANDLERS`.
"""

from __future__ import annotations

from collections.abc import Sequence

from moecc.frontend.onnx_context import NodeContext, onnx_op
from moecc.ir.graph import Value


@onnx_op("MatMul", since=9)
def lower_matmul(ctx: NodeContext) -> Sequence[Value]:
    return [ctx.emit("matmul", [ctx.input(0), ctx.input(1)])]


@onnx_op("Gemm", since=11)
def lower_gemm(ctx: NodeContext) -> Sequence[Value]:
    operands = [ctx.input(0), ctx.input(1)]
    c = ctx.optional_input(2)
    if c is not None:
        operands.append(c)
    attrs = {
        "alpha": float(ctx.attr("alpha", 1.0)),
        "beta": float(ctx.attr("beta", 1.0)),
        "trans_a": bool(ctx.attr("transA", 0)),
        "trans_b": bool(ctx.attr("transB", 0)),
    }
    return [ctx.emit("gemm", operands, attrs)]


@onnx_op("Einsum", since=12)
def lower_einsum(ctx: NodeContext) -> Sequence[Value]:
    operands = [ctx.input(i) for i in range(len(ctx.inputs))]
    return [ctx.emit("einsum", operands, {"equation": str(ctx.attr("equation"))})]
