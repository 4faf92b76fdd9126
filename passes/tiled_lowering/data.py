"""Data movement and shapes: views where the layout allows, copies otherwise.

``transpose``, ``slice`` (any step, negative ones as negative strides), ``expand`` and every
``reshape`` numpy could do without a copy produce no statement at all: the result is a view of
the operand's buffer (:mod:`moecc.ir.tiled.views`). A reshape of a view that cannot be re-split
(a transposed view merged across its permuted axes) copies into a fresh row-major buffer first.
``concat`` copies each operand into its window of the result; ``tile`` is one copy whose
destination is viewed ``[r0, d0, r1, d1, ..]`` and whose source is broadcast along the ``r``
axes; ``trilu`` selects between the operand and zero under a constant triangle mask. (The graph
IR has no pad or split: the frontend turns Split into slices, Squeeze/Unsqueeze/Flatten into
reshapes.)
"""

from __future__ import annotations

import numpy as np

from moecc.ir.affine import Affine
from moecc.ir.graph import Op
from moecc.ir.tiled import views
from moecc.ir.tiled.nodes import Expr, Select, View
from moecc.passes.tiled_lowering.context import LoweringContext, as_rank1, const, register_rule, sources_of
from moecc.passes.tiled_lowering.tiles import tiled_compute, tiled_copy


def reshaped(ctx: LoweringContext, view: View, shape: tuple[int, ...], hint: str, sources: tuple[str, ...]) -> View:
    """``view`` with ``shape`` (same count, row-major): a view when numpy would not copy, else
    a copy into a fresh contiguous buffer, viewed with ``shape``."""
    try:
        return views.reshape(view, shape)
    except ValueError:
        dense = ctx.contiguous(view, ctx.dtype(view), hint, sources)
        return views.reshape(dense, shape)


@register_rule("reshape")
def lower_reshape(op: Op, ctx: LoweringContext) -> None:
    x = op.operands[0]
    ctx.bind(op.result, reshaped(ctx, ctx.view(x), tuple(op.attrs["shape"]), x.name, sources_of(op)))


@register_rule("transpose")
def lower_transpose(op: Op, ctx: LoweringContext) -> None:
    ctx.bind(op.result, views.permute(ctx.view(op.operands[0]), op.attrs["perm"]))


def strided_slice(view: View, axis: int, start: int, step: int, length: int) -> View:
    """Elements ``start, start + step, ..`` (``length`` of them) along ``axis``: the offset
    moves to ``start`` and the stride scales by ``step`` (negative: walking backwards)."""
    shape, strides = list(view.shape), list(view.strides)
    offset = view.offset + Affine(start * strides[axis])
    shape[axis] = length
    strides[axis] *= step
    return View(view.buffer, offset, tuple(shape), tuple(strides))


@register_rule("slice")
def lower_slice(op: Op, ctx: LoweringContext) -> None:
    view = ctx.view(op.operands[0])
    out_shape = op.result.type.shape
    for axis, start, _end, step in zip(op.attrs["axes"], op.attrs["starts"], op.attrs["ends"], op.attrs["steps"]):
        view = strided_slice(view, axis, start, step, out_shape[axis])
    ctx.bind(op.result, view)


@register_rule("expand")
def lower_expand(op: Op, ctx: LoweringContext) -> None:
    ctx.bind(op.result, views.broadcast(ctx.view(op.operands[0]), tuple(op.attrs["shape"])))


@register_rule("concat", empty_operands=True)
def lower_concat(op: Op, ctx: LoweringContext) -> None:
    out = ctx.result(op.result)
    axis = op.attrs["axis"] % op.result.type.rank
    at = 0
    with ctx.op_kernel(op) as kb:
        for value in op.operands:
            size = value.type.shape[axis]
            if size and value.type.numel:
                starts = [0] * out.rank
                starts[axis] = at
                kb.emit(tiled_copy(kb, views.window(out, starts, value.type.shape), ctx.view(value)))
            at += size


@register_rule("tile")
def lower_tile(op: Op, ctx: LoweringContext) -> None:
    x = op.operands[0]
    repeats = op.attrs["repeats"]
    out = ctx.result(op.result)
    # Each output axis of r*d elements is viewed as (r, d): the destination is one view of
    # rank 2n, the source the operand with a stride-0 axis before each of its own.
    pairs = [(r, d) for r, d in zip(repeats, x.type.shape)]
    dst = views.reshape(out, tuple(n for pair in pairs for n in pair))
    src_view = ctx.view(x)
    src = View(src_view.buffer, src_view.offset, dst.shape,
               tuple(s for stride in src_view.strides for s in (0, stride)))
    with ctx.op_kernel(op) as kb:
        kb.emit(tiled_copy(kb, dst, src))


@register_rule("trilu")
def lower_trilu(op: Op, ctx: LoweringContext) -> None:
    x = op.operands[0]
    rows, cols = x.type.shape[-2:]
    offset = np.arange(cols)[None, :] - np.arange(rows)[:, None]
    keep = offset >= op.attrs["k"] if op.attrs["upper"] else offset <= op.attrs["k"]
    mask = ctx.constant(keep, f"{op.result.name}_mask")
    shape = op.result.type.shape
    out = ctx.result(op.result)
    dtype = x.type.dtype
    zero = const(0, dtype)

    def build(xs: list[Expr]) -> Expr:
        return Select(xs[0], xs[1], zero)

    with ctx.op_kernel(op) as kb:
        kb.emit(tiled_compute(kb, as_rank1(out), [views.broadcast(mask, shape), ctx.view(x)], build))


__all__ = ["reshaped", "strided_slice"]
