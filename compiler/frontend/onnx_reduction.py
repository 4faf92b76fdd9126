"""ONNX → graph IR: reductions (Reduce*, ArgMax/ArgMin, Softmax/LogSoftmax, CumSum, TopK).

ONNX moved the reduction axes from an attribute to an input (ReduceSum at opset 13, the
others at 18) and added ``noop_with_empty_axes`` with the move; both forms lower to the
reduction ops' static ``axes`` attribute, so axes given as an input must be constant.
ReduceL1/L2/LogSum/LogSumExp/SumSquare are composed from ``reduce_*`` and elementwise ops.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from moecc.errors import MoeccError
from moecc.frontend.onnx_context import NodeContext, onnx_op
from moecc.ir.graph import Value
from moecc.ir.ops.reduction import reduction_axes

#: ONNX op type → (graph-IR op kind, opset from which the axes are an input).
REDUCE_OPS: dict[str, tuple[str, int]] = {
    "ReduceSum": ("reduce_sum", 13),
    "ReduceMean": ("reduce_mean", 18),
    "ReduceMax": ("reduce_max", 18),
    "ReduceMin": ("reduce_min", 18),
    "ReduceProd": ("reduce_prod", 18),
}

#: Reductions composed from reduce_sum/reduce_max; their axes are an input from opset 18.
COMPOSED_REDUCE_OPS: tuple[str, ...] = ("ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")


def reduce_axes(ctx: NodeContext, axes_input_since: int) -> tuple[int, ...] | None:
    """The node's normalised reduction axes (``()`` = every axis), or None when the node is
    a no-op (empty axes with ``noop_with_empty_axes``)."""
    if ctx.opset >= axes_input_since:
        axes = ctx.const_ints(1, "axes") if ctx.has_input(1) else []
        noop = bool(ctx.attr("noop_with_empty_axes", 0))
    else:
        axes = [int(a) for a in ctx.attr("axes", [])]
        noop = False
    if not axes:
        return None if noop else ()
    try:
        return reduction_axes(ctx.op_type, ctx.type(0).rank, axes)
    except MoeccError as err:
        raise err.add_context(node=ctx.name, op_type=ctx.op_type, opset=ctx.opset) from None


def _reduce(ctx: NodeContext, kind: str, x: Value, axes: tuple[int, ...], keepdims: bool) -> Value:
    return ctx.emit(kind, [x], {"axes": axes, "keepdims": keepdims})


@onnx_op(*REDUCE_OPS, since=11)
def lower_reduce(ctx: NodeContext) -> Sequence[Value]:
    kind, axes_input_since = REDUCE_OPS[ctx.op_type]
    axes = reduce_axes(ctx, axes_input_since)
    if axes is None:
        return [ctx.input(0)]
    return [_reduce(ctx, kind, ctx.input(0), axes, bool(ctx.attr("keepdims", 1)))]


def _scalar(ctx: NodeContext, value: float, like: Value) -> Value:
    return ctx.const(np.asarray(value).astype(like.type.dtype.numpy))


@onnx_op(*COMPOSED_REDUCE_OPS, since=11)
def lower_composed_reduce(ctx: NodeContext) -> Sequence[Value]:
    x = ctx.input(0)
    axes = reduce_axes(ctx, 18)
    keepdims = bool(ctx.attr("keepdims", 1))
    if axes is None:
        # ONNX still applies the elementwise part when no axis is reduced.
        axes_to_reduce: tuple[int, ...] | None = None
    else:
        axes_to_reduce = axes

    def reduce_sum(value: Value) -> Value:
        return value if axes_to_reduce is None else _reduce(ctx, "reduce_sum", value, axes_to_reduce, keepdims)

    op_type = ctx.op_type
    if op_type == "ReduceL1":
        return [reduce_sum(ctx.emit("abs", [x]))]
    if op_type == "ReduceSumSquare":
        return [reduce_sum(ctx.emit("mul", [x, x]))]
    if op_type == "ReduceL2":
        return [ctx.emit("sqrt", [reduce_sum(ctx.emit("mul", [x, x]))])]
    if op_type == "ReduceLogSum":
        return [ctx.emit("log", [reduce_sum(x)])]
    # ReduceLogSumExp: shift by the (finite part of the) maximum so exp cannot overflow.
    if axes_to_reduce is None:
        return [x]
    shift_kept = _finite_or_zero(ctx, _reduce(ctx, "reduce_max", x, axes_to_reduce, True))
    total = reduce_sum(ctx.emit("exp", [ctx.emit("sub", [x, shift_kept])]))
    shift = shift_kept if keepdims else _finite_or_zero(ctx, _reduce(ctx, "reduce_max", x, axes_to_reduce, False))
    return [ctx.emit("add", [ctx.emit("log", [total]), shift])]


def _finite_or_zero(ctx: NodeContext, value: Value) -> Value:
    infinite = ctx.emit("is_inf", [value])
    return ctx.emit("where", [infinite, _scalar(ctx, 0, value), value])


@onnx_op("ArgMax", "ArgMin", since=11)
def lower_arg(ctx: NodeContext) -> Sequence[Value]:
    attrs = {
        "axis": int(ctx.attr("axis", 0)),
        "keepdims": bool(ctx.attr("keepdims", 1)),
        "select_last_index": bool(ctx.attr("select_last_index", 0)),
    }
    return [ctx.emit("arg_max" if ctx.op_type == "ArgMax" else "arg_min", [ctx.input(0)], attrs)]


@onnx_op("Softmax", "LogSoftmax", since=13)
def lower_softmax(ctx: NodeContext) -> Sequence[Value]:
    kind = "softmax" if ctx.op_type == "Softmax" else "log_softmax"
    return [ctx.emit(kind, [ctx.input(0)], {"axis": int(ctx.attr("axis", -1))})]


def _single_int(ctx: NodeContext, index: int, what: str) -> int:
    values = ctx.const_ints(index, what)
    if len(values) != 1:
        raise ctx.error(f"{what} must hold one integer, got {len(values)} values")
    return values[0]


@onnx_op("CumSum", since=11)
def lower_cumsum(ctx: NodeContext) -> Sequence[Value]:
    attrs = {
        "axis": _single_int(ctx, 1, "axis"),
        "exclusive": bool(ctx.attr("exclusive", 0)),
        "reverse": bool(ctx.attr("reverse", 0)),
    }
    return [ctx.emit("cumsum", [ctx.input(0)], attrs)]


@onnx_op("TopK", since=10)
def lower_top_k(ctx: NodeContext) -> Sequence[Value]:
    attrs = {
        "k": _single_int(ctx, 1, "K"),
        "axis": int(ctx.attr("axis", -1)),
        "largest": bool(ctx.attr("largest", 1)),
        "sorted": bool(ctx.attr("sorted", 1)),
    }
    return ctx.emit_multi("top_k", [ctx.input(0)], attrs)
