"""ONNX lowering of the indexing family: Gather, GatherElements, GatherND, ScatterElements,
ScatterND and OneHot.

Part of the ONNX frontend (see :mod:`moecc.frontend.onnx_context`). The graph-IR ops carry the
ONNX semantics (negative indices wrap), so most handlers map one to one; axes are made
non-negative here and OneHot's depth must be known at compile time because it is a dim.
"""

from __future__ import annotations

import numpy as np

from moecc.errors import ShapeError
from moecc.frontend.onnx_context import NodeContext, onnx_op
from moecc.ir.graph import Value


def _axis(ctx: NodeContext, axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise ctx.error(f"axis {axis} is out of range for rank {rank}", cls=ShapeError)
    return axis + rank if axis < 0 else axis


def _reduction(ctx: NodeContext) -> str:
    reduction = str(ctx.attr("reduction", "none"))
    allowed = ("none",) if ctx.opset < 16 else ("none", "add", "mul") if ctx.opset < 18 else ("none", "add", "mul", "max", "min")
    if reduction not in allowed:
        raise ctx.error(f"reduction '{reduction}' is not defined at opset {ctx.opset}", remedy=f"use one of {allowed}")
    return reduction


@onnx_op("Gather", since=13)
def gather(ctx: NodeContext) -> list[Value]:
    data = ctx.input(0)
    axis = _axis(ctx, int(ctx.attr("axis", 0)), data.type.rank)
    return [ctx.emit("gather", [data, ctx.input(1)], {"axis": axis})]


@onnx_op("GatherElements", since=13)
def gather_elements(ctx: NodeContext) -> list[Value]:
    data = ctx.input(0)
    axis = _axis(ctx, int(ctx.attr("axis", 0)), data.type.rank)
    return [ctx.emit("gather_elements", [data, ctx.input(1)], {"axis": axis})]


@onnx_op("GatherND", since=13)
def gather_nd(ctx: NodeContext) -> list[Value]:
    return [ctx.emit("gather_nd", [ctx.input(0), ctx.input(1)], {"batch_dims": int(ctx.attr("batch_dims", 0))})]


@onnx_op("ScatterElements", since=13)
def scatter_elements(ctx: NodeContext) -> list[Value]:
    data = ctx.input(0)
    axis = _axis(ctx, int(ctx.attr("axis", 0)), data.type.rank)
    return [ctx.emit("scatter_elements", [data, ctx.input(1), ctx.input(2)], {"axis": axis, "reduction": _reduction(ctx)})]


@onnx_op("ScatterND", since=13)
def scatter_nd(ctx: NodeContext) -> list[Value]:
    return [ctx.emit("scatter_nd", [ctx.input(0), ctx.input(1), ctx.input(2)], {"reduction": _reduction(ctx)})]


@onnx_op("OneHot", since=13)
def one_hot(ctx: NodeContext) -> list[Value]:
    indices = ctx.input(0)
    depth_data = np.asarray(ctx.const_input(1, "depth")).reshape(-1)
    if depth_data.size != 1:
        raise ctx.error(f"depth must be a single value, got {depth_data.size}", cls=ShapeError)
    # ONNX casts a float depth to an integer (truncation) before using it as a dim.
    depth = int(depth_data[0])
    if depth < 0:
        raise ctx.error(f"depth {depth} is negative", cls=ShapeError)
    values = ctx.input(2)
    if values.type.numel != 2:
        raise ctx.error(f"values must hold [off, on], got {values.type}", cls=ShapeError)
    if values.type.shape != (2,):
        values = ctx.emit("reshape", [values], {"shape": (2,)})
    rank = indices.type.rank + 1
    axis = int(ctx.attr("axis", -1))
    if not -rank <= axis < rank:
        raise ctx.error(f"axis {axis} is out of range [{-rank}, {rank - 1}]", cls=ShapeError)
    return [ctx.emit("one_hot", [indices, values], {"depth": depth, "axis": axis + rank if axis < 0 else axis})]
