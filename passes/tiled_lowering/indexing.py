"""Indexing: gathers and scatters as row gathers/scatters, one_hot as a comparison with an iota.

The tiled IR moves *rows*: ``gather D <- T rows I`` and ``scatter T rows I (<-|+=) S`` with a
2-D table view and run-time bounds checks (negative indices count from the end, as ONNX).

- ``gather`` along any axis: the data is viewed ``[outer, N, inner]``, each outer slice a table
  of N rows of ``inner`` elements; the flattened indices pick rows (an embedding lookup is
  ``outer = 1``). ``gather_nd`` is the same per batch.
- ``gather_elements`` / ``scatter_elements`` pick single elements along one axis: for each
  position of the other axes (a loop), the axis is a table of one-element rows.
- ``scatter_nd`` scatters rows of the data viewed ``[rows, rest]``.
- Index tuples of length k > 1 (``gather_nd``, ``scatter_nd``) become one row number: each
  component is first *gathered from an iota table* of its axis' size, which checks it against
  that axis (the run-time bounds fault) and wraps a negative one, then the components are
  combined with the axes' row-major strides.
- Scatters copy the data into the result first, then store (``none``) or add (``add``) rows in
  index order, so a repeated index keeps the last row, or adds them all. The other reductions
  (``mul``, ``max``, ``min``, and ``add`` on bool, a logical or) update one row at a time:
  gather it, combine, scatter it back, in index order, which is the reference's ``ufunc.at``.
- ``one_hot``: ``select(wrap(indices) == iota, on, off)`` with an iota constant.
"""

from __future__ import annotations

import numpy as np

from moecc.ir.affine import Affine
from moecc.ir.graph import Op
from moecc.ir.ops.common import normalize_axis
from moecc.ir.tiled import views
from moecc.ir.tiled.nodes import Binary, Cast, Compute, Expr, For, Gather, Operand, Scatter, Select, Stmt, View
from moecc.ir.types import DType
from moecc.passes.tiled_lowering.context import (
    KernelBuilder,
    LoweringContext,
    const,
    contiguous_strides,
    numel,
    register_rule,
    sources_of,
)
from moecc.passes.tiled_lowering.data import reshaped
from moecc.passes.tiled_lowering.elementwise import narrow, widen
from moecc.passes.tiled_lowering.reductions import last_axis
from moecc.passes.tiled_lowering.tiles import Sizes, Starts, tile_loops, tiled_compute, tiled_copy, window


def _rows(view: View, starts: Starts, sizes: Sizes, shape: tuple[int, ...]) -> View:
    return views.reshape(window(view, starts, sizes), shape)


def emit_row_gather(kb: KernelBuilder, dst: View, table: View, index: View) -> list[Stmt]:
    """``dst[o, i, :] = table[o, index[o, i], :]``; dst ``[outer, n, inner]``, table
    ``[outer, N, inner]``, index ``[outer, n]`` (stride 0 on outer when shared)."""
    outer, n, inner = dst.shape
    rows = table.shape[1]

    def body(starts: Starts, sizes: Sizes) -> list[Stmt]:
        o, i, c = starts
        _, ni, nc = sizes
        return [Gather(_rows(dst, starts, sizes, (ni, nc)),
                       _rows(table, (o, Affine(0), c), (1, rows, nc), (rows, nc)),
                       _rows(index, (o, i), (1, ni), (ni,)))]

    return tile_loops(kb, dst.shape, (1, kb.params.tile_rows, kb.params.tile_cols), body)


def _nd_supports(op: Op, ctx: LoweringContext) -> str | None:
    if op.operands[1].type.shape[-1] == 0:
        return "index tuples of length 0 address the whole data (a broadcast copy, computed on the host)"
    return None


#: Scatter reduction -> the binary op combining a table row with an update (bool: logical).
_COMBINE = {"add": "add", "mul": "mul", "max": "max", "min": "min"}
_COMBINE_BOOL = {"add": "or", "mul": "and", "max": "or", "min": "and"}


def emit_row_updates(kb: KernelBuilder, table: View, index: View, src: View, reduction: str) -> list[Stmt]:
    """``table[index[i], :] = reduce(table[index[i], :], src[i, :])`` for ``i`` in order."""
    t = kb.dtype(table)
    if reduction == "none" or reduction == "add" and t != DType.BOOL:
        return [Scatter(table, index, src, reduction == "add")]
    op = (_COMBINE_BOOL if t == DType.BOOL else _COMBINE)[reduction]
    cols = table.shape[1]
    row = kb.local("row", t, (1, cols))
    var = kb.var()
    at = window(index, (Affine.of(var),), (1,))
    update = window(src, (Affine.of(var), Affine(0)), (1, cols))
    combined = narrow(Binary(op, widen(Operand(row), t), widen(Operand(update), t)), t)
    return [For(var, index.shape[0], (Gather(row, table, at), Compute(row, combined), Scatter(table, at, row)))]


def flat_rows(ctx: LoweringContext, kb: KernelBuilder, name: str, tuples: View, dims: tuple[int, ...]) -> View:
    """Index tuples ``tuples [n, k]`` into the axes ``dims`` as row numbers of those axes seen
    as one (``[n]``, i64). Each component is gathered from an iota of its axis: the gather
    checks it against that axis and wraps a negative one."""
    count = tuples.shape[0]
    flat = ctx.add_global(f"{name}_rows", DType.I64, (count,))
    parts = []
    for j, dim in enumerate(dims):
        iota = ctx.constant(np.arange(dim, dtype=np.int64).reshape(dim, 1), f"{name}_axis{j}")
        checked = ctx.add_global(f"{name}_index{j}", DType.I64, (1, count, 1))
        column = views.reshape(views.window(tuples, (0, j), (count, 1)), (1, count))
        kb.emit(emit_row_gather(kb, checked, views.reshape(iota, (1, dim, 1)), column))
        parts.append(views.reshape(checked, (count,)))
    strides = contiguous_strides(dims)

    def build(xs: list[Expr]) -> Expr:
        total: Expr = xs[0] if strides[0] == 1 else Binary("mul", xs[0], const(strides[0], DType.I64))
        for x, stride in zip(xs[1:], strides[1:]):
            total = Binary("add", total, x if stride == 1 else Binary("mul", x, const(stride, DType.I64)))
        return total

    kb.emit(tiled_compute(kb, flat, parts, build))
    return flat


@register_rule("gather")
def lower_gather(op: Op, ctx: LoweringContext) -> None:
    data, indices = op.operands
    shape = data.type.shape
    axis = normalize_axis("gather", op.attrs["axis"], data.type.rank)
    outer, rows, inner = numel(shape[:axis]), shape[axis], numel(shape[axis + 1:])
    count = indices.type.numel
    src = sources_of(op)
    table = reshaped(ctx, ctx.view(data), (outer, rows, inner), data.name, src)
    index = views.broadcast(reshaped(ctx, ctx.view(indices), (count,), indices.name, src), (outer, count))
    dst = views.reshape(ctx.result(op.result), (outer, count, inner))
    with ctx.op_kernel(op) as kb:
        kb.emit(emit_row_gather(kb, dst, table, index))


@register_rule("gather_nd", supports=_nd_supports)
def lower_gather_nd(op: Op, ctx: LoweringContext) -> None:
    data, indices = op.operands
    b = op.attrs["batch_dims"]
    k = indices.type.shape[-1]
    shape = data.type.shape
    outer, rows, inner = numel(shape[:b]), numel(shape[b:b + k]), numel(shape[b + k:])
    count = indices.type.numel // (outer * k)
    src = sources_of(op)
    table = reshaped(ctx, ctx.view(data), (outer, rows, inner), data.name, src)
    tuples = reshaped(ctx, ctx.view(indices), (outer * count, k), indices.name, src)
    dst = views.reshape(ctx.result(op.result), (outer, count, inner))
    with ctx.op_kernel(op) as kb:
        index = views.reshape(tuples, (outer, count)) if k == 1 else views.reshape(
            flat_rows(ctx, kb, op.result.name, tuples, shape[b:b + k]), (outer, count))
        kb.emit(emit_row_gather(kb, dst, table, index))


def _element_rows(kb: KernelBuilder, op: Op, table: View, index: View, rows: View, scatter: bool,
                  reduction: str = "none") -> list[Stmt]:
    """Per position of the leading axes, the last axis of ``table`` as one-element rows:
    ``rows[j] = table[index[j]]`` (gather) or ``table[index[j]] (op)= rows[j]`` (scatter)."""
    lead = index.shape[:-1]
    n, size = index.shape[-1], table.shape[-1]

    def body(starts: Starts, sizes: Sizes) -> list[Stmt]:
        ones = tuple(1 for _ in lead)
        z = starts + (Affine(0),)
        t = _rows(table, z, ones + (size,), (size, 1))
        i = _rows(index, z, ones + (n,), (n,))
        r = _rows(rows, z, ones + (n,), (n, 1))
        return emit_row_updates(kb, t, i, r, reduction) if scatter else [Gather(r, t, i)]

    return tile_loops(kb, lead, tuple(1 for _ in lead), body)


def _cut(view: View, extents: tuple[int, ...], axis: int) -> View:
    """``view`` cut to ``extents`` on every axis but ``axis``."""
    sizes = tuple(view.shape[d] if d == axis else extents[d] for d in range(view.rank))
    return views.window(view, (0,) * view.rank, sizes)


@register_rule("gather_elements")
def lower_gather_elements(op: Op, ctx: LoweringContext) -> None:
    data, indices = op.operands
    axis = normalize_axis("gather_elements", op.attrs["axis"], data.type.rank)
    table = last_axis(_cut(ctx.view(data), indices.type.shape, axis), axis)
    index = last_axis(ctx.view(indices), axis)
    dst = last_axis(ctx.result(op.result), axis)
    with ctx.op_kernel(op) as kb:
        kb.emit(_element_rows(kb, op, table, index, dst, scatter=False))


@register_rule("scatter_elements")
def lower_scatter_elements(op: Op, ctx: LoweringContext) -> None:
    data, indices, updates = op.operands
    axis = normalize_axis("scatter_elements", op.attrs["axis"], data.type.rank)
    out = ctx.result(op.result)
    with ctx.op_kernel(op) as kb:
        kb.emit(tiled_copy(kb, out, ctx.view(data)))
        table = last_axis(_cut(out, indices.type.shape, axis), axis)
        kb.emit(_element_rows(kb, op, table, last_axis(ctx.view(indices), axis), last_axis(ctx.view(updates), axis),
                              scatter=True, reduction=op.attrs["reduction"]))


@register_rule("scatter_nd", supports=_nd_supports)
def lower_scatter_nd(op: Op, ctx: LoweringContext) -> None:
    data, indices, updates = op.operands
    k = indices.type.shape[-1]
    shape = data.type.shape
    rows, rest = numel(shape[:k]), numel(shape[k:])
    count = indices.type.numel // k
    src = sources_of(op)
    out = ctx.result(op.result)
    table = views.reshape(out, (rows, rest))
    tuples = reshaped(ctx, ctx.view(indices), (count, k), indices.name, src)
    update_rows = reshaped(ctx, ctx.view(updates), (count, rest), updates.name, src)
    with ctx.op_kernel(op) as kb:
        index = views.reshape(tuples, (count,)) if k == 1 else flat_rows(ctx, kb, op.result.name, tuples, shape[:k])
        kb.emit(tiled_copy(kb, out, ctx.view(data)))

        def body(starts: Starts, sizes: Sizes) -> list[Stmt]:
            (c,), (nc,) = starts, sizes
            return emit_row_updates(kb, window(table, (Affine(0), c), (rows, nc)), index,
                                    window(update_rows, (Affine(0), c), (count, nc)), op.attrs["reduction"])

        kb.emit(tile_loops(kb, (rest,), (kb.params.tile_cols,), body))


@register_rule("one_hot")
def lower_one_hot(op: Op, ctx: LoweringContext) -> None:
    indices, values = op.operands
    depth = op.attrs["depth"]
    shape = op.result.type.shape
    axis = normalize_axis("one_hot", op.attrs["axis"], indices.type.rank + 1)
    at_axis = tuple(depth if d == axis else 1 for d in range(len(shape)))
    expanded = indices.type.shape[:axis] + (1,) + indices.type.shape[axis:]
    idx = views.broadcast(views.reshape(ctx.view(indices), expanded), shape)
    iota = views.broadcast(views.reshape(ctx.constant(np.arange(depth, dtype=np.int64), f"{op.result.name}_iota"),
                                         at_axis), shape)
    vals = ctx.view(values)
    ones = (1,) * len(shape)
    off = views.broadcast(views.reshape(views.window(vals, (0,), (1,)), ones), shape)
    on = views.broadcast(views.reshape(views.window(vals, (1,), (1,)), ones), shape)
    i64 = DType.I64

    def build(xs: list[Expr]) -> Expr:
        raw, pos, lo, hi = xs
        c: Expr = raw if indices.type.dtype == i64 else Cast(i64, raw)
        wrapped = Select(Binary("lt", c, const(0, i64)), Binary("add", c, const(depth, i64)), c)
        return Select(Binary("eq", wrapped, pos), hi, lo)

    out = ctx.result(op.result)
    with ctx.op_kernel(op) as kb:
        kb.emit(tiled_compute(kb, out, [idx, iota, off, on], build))


__all__ = ["emit_row_gather"]
