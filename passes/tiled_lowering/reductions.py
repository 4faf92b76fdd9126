"""Reductions over any axes, softmax and log-softmax on any axis, top-k, arg max/min, cumsum.

The tiled IR reduces *rows* (the last axis of a view). A reduction over a set of axes permutes
the operand's view so that those axes come last and merges them into one (a view when the
strides allow, a copy otherwise); the kept axes are the rows, tiled by the kernel, and the
reduced axis is cut into ``k_tile`` chunks: the first stores, the rest accumulate (``+=``).
Sums of f16/bf16 accumulate in an f32 buffer and round once; a mean divides after the sum;
a product (no row op) is a loop of multiplies over the reduced axis. Softmax keeps its rows in
f32 locals (max, exponentials, sum). Top-k works on the last axis of a permuted view, writing
the permuted output views directly; arg max/min is a top-1 (ties to the first index, NaN
first, as numpy's argmax/argmin: arg min of floats is the top-1 of ``-x``), with
``select_last_index`` a top-1 of the reversed row (a negative stride).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from moecc.ir.affine import Affine
from moecc.ir.graph import Op
from moecc.ir.ops.common import normalize_axis
from moecc.ir.ops.reduction import reduction_axes
from moecc.ir.tiled import views
from moecc.ir.tiled.nodes import Binary, Cast, Compute, Expr, For, Operand, Reduce, Stmt, TopK, Unary, View
from moecc.ir.types import DType
from moecc.passes.tiled_lowering.context import (
    KernelBuilder,
    LoweringContext,
    as_rank1,
    const,
    int_fits,
    numel,
    register_rule,
    sources_of,
)
from moecc.passes.tiled_lowering.data import reshaped
from moecc.passes.tiled_lowering.elementwise import HALF, narrow, widen
from moecc.passes.tiled_lowering.tiles import Sizes, Starts, chunks, fit_tile, tile_loops, tiled_compute, window


def rows_view(ctx: LoweringContext, view: View, axes: Sequence[int], hint: str, sources: tuple[str, ...]) -> View:
    """``view`` permuted so that ``axes`` come last, merged into one: ``kept + (prod(axes),)``."""
    kept = [d for d in range(view.rank) if d not in axes]
    permuted = views.permute(view, kept + list(axes))
    count = numel(tuple(view.shape[d] for d in axes))
    shape = tuple(view.shape[d] for d in kept) + (count,)
    return reshaped(ctx, permuted, shape, hint, sources) if len(axes) != 1 else permuted


def last_axis(view: View, axis: int) -> View:
    """``view`` with ``axis`` moved last (the others in order)."""
    order = [d for d in range(view.rank) if d != axis] + [axis]
    return views.permute(view, order)


def reduce_chunks(kb: KernelBuilder, op: str, dst: View, src: View) -> list[Stmt]:
    """``dst[.., 0] = op(src[.., :])`` in chunks of ``k_tile`` along the row."""
    lead = tuple(Affine(0) for _ in src.shape[:-1])

    def chunk(start: Affine, size: int, first: bool) -> list[Stmt]:
        part = window(src, lead + (start,), src.shape[:-1] + (size,))
        return [Reduce(op, dst, part, accumulate=not first)]

    return chunks(kb, src.shape[-1], kb.params.k_tile, chunk)


def row_tile(kb: KernelBuilder, lead: Sequence[int], row: int, locals_per_row: int = 1) -> tuple[int, ...]:
    """A tile of the leading (row) axes whose ``locals_per_row`` f32 rows fit the local budget."""
    return fit_tile(lead, max(1, kb.params.local_bytes // max(1, row * 4 * locals_per_row)))


def emit_reduce(kb: KernelBuilder, op: str, dst: View, src: View) -> list[Stmt]:
    """``dst`` (``lead + (1,)``) = ``op`` over the rows of ``src`` (``lead + (R,)``), tiled."""
    lead = src.shape[:-1]
    tile = fit_tile(lead, max(1, kb.params.tile_elements // min(src.shape[-1], kb.params.k_tile)))

    def body(starts: Starts, sizes: Sizes) -> list[Stmt]:
        return reduce_chunks(kb, op, window(dst, starts + (Affine(0),), sizes + (1,)),
                             window(src, starts + (Affine(0),), sizes + (src.shape[-1],)))

    return tile_loops(kb, lead, tile, body)


def _reduce_supports(op: Op, ctx: LoweringContext) -> str | None:
    x = op.operands[0].type
    if op.kind == "reduce_mean" and x.dtype.is_int:
        axes = reduction_axes(op.kind, x.rank, op.attrs["axes"])
        count = numel(tuple(x.shape[a] for a in axes))
        if not int_fits(count, x.dtype):
            return f"the integer mean divides by {count}, which {x.dtype} cannot hold"
    return None


def _identity(kind: str, t: DType) -> float | int | bool:
    """What a reduction over no elements gives (the reference's empty-set values)."""
    if kind in ("max", "min"):
        if t == DType.BOOL:
            return kind == "min"
        if t.is_int:
            info = np.iinfo(t.numpy)
            return int(info.min if kind == "max" else info.max)
        return -math.inf if kind == "max" else math.inf
    if kind == "mean":
        return math.nan if t.is_float else 0
    return 1 if kind == "prod" else 0


@register_rule("reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", supports=_reduce_supports,
               empty_operands=True)
def lower_reduce(op: Op, ctx: LoweringContext) -> None:
    x = op.operands[0]
    t = x.type.dtype
    if x.type.numel == 0:  # an empty set: the identity everywhere
        fill = const(_identity(op.kind.removeprefix("reduce_"), t), t)
        with ctx.op_kernel(op) as kb:
            kb.emit(tiled_compute(kb, as_rank1(ctx.result(op.result)), [], lambda xs: fill))
        return
    axes = reduction_axes(op.kind, x.type.rank, op.attrs["axes"])
    src = as_rank1(rows_view(ctx, ctx.view(x), axes, x.name, sources_of(op)))
    lead, count = src.shape[:-1], src.shape[-1]
    out = ctx.result(op.result)
    dst = views.reshape(out, lead + (1,))
    kind = op.kind.removeprefix("reduce_")
    with ctx.op_kernel(op) as kb:
        if t == DType.BOOL:
            # No row reduction over bool: reduce 0/1 bytes, then compare.
            tmp = ctx.add_global(f"{op.result.name}_u8", DType.U8, src.shape)
            kb.emit(tiled_compute(kb, tmp, [src], lambda xs: Cast(DType.U8, xs[0])))
            acc = ctx.add_global(f"{op.result.name}_acc", DType.U8, dst.shape)
            kb.emit(emit_reduce(kb, kind, acc, tmp))
            kb.emit(tiled_compute(kb, dst, [acc], lambda xs: Cast(DType.BOOL, xs[0])))
            return
        if kind == "prod":
            kb.emit(_product(ctx, kb, op, dst, src))
            return
        wide = t in HALF and kind in ("sum", "mean") or kind == "mean" and t.is_float
        target = ctx.add_global(f"{op.result.name}_acc", DType.F32, dst.shape) if wide else dst
        kb.emit(emit_reduce(kb, "sum" if kind == "mean" else kind, target, src))
        if kind == "mean" and t.is_float:
            kb.emit(tiled_compute(kb, dst, [target], lambda xs: narrow(Binary("div", xs[0], const(count, DType.F32)), t)))
        elif kind == "mean":
            kb.emit(tiled_compute(kb, dst, [dst], lambda xs: Binary("div", xs[0], const(count, t))))
        elif wide:
            kb.emit(tiled_compute(kb, dst, [target], lambda xs: Cast(t, xs[0])))


def _product(ctx: LoweringContext, kb: KernelBuilder, op: Op, dst: View, src: View) -> list[Stmt]:
    """A running product over the row (no row-product statement): ``acc *= src[.., j]``."""
    t = ctx.dtype(src)
    acc = ctx.add_global(f"{op.result.name}_acc", DType.F32, dst.shape) if t in HALF else dst
    lead = src.shape[:-1]
    tile = fit_tile(lead, kb.params.tile_elements)

    def body(starts: Starts, sizes: Sizes) -> list[Stmt]:
        a = window(acc, starts + (Affine(0),), sizes + (1,))

        def column(start: Affine, size: int, first: bool) -> list[Stmt]:
            col = Operand(window(src, starts + (start,), sizes + (1,)))
            if first:
                return [Compute(a, widen(col, t))]
            return [Compute(a, Binary("mul", Operand(a), widen(col, t)))]

        return chunks(kb, src.shape[-1], 1, column)

    stmts = tile_loops(kb, lead, tile, body)
    if acc is not dst:
        stmts += tiled_compute(kb, dst, [acc], lambda xs: Cast(t, xs[0]))
    return stmts


@register_rule("softmax", "log_softmax")
def lower_softmax(op: Op, ctx: LoweringContext) -> None:
    x = op.operands[0]
    t = x.type.dtype
    axis = normalize_axis(op.kind, op.attrs["axis"], max(x.type.rank, 1))
    src = last_axis(as_rank1(ctx.view(x)), axis)
    dst = last_axis(as_rank1(ctx.result(op.result)), axis)
    lead, n = src.shape[:-1], src.shape[-1]
    with ctx.op_kernel(op) as kb:
        tile = row_tile(kb, lead, n, 2)
        m = kb.local("row_max", DType.F32, tile + (1,))
        e = kb.local("exps", DType.F32, tile + (n,))
        s = kb.local("row_sum", DType.F32, tile + (1,))
        kb.emit(tile_loops(kb, lead, tile, lambda starts, sizes: softmax_rows(
            kb, op.kind == "log_softmax", t,
            window(dst, starts + (Affine(0),), sizes + (n,)), window(src, starts + (Affine(0),), sizes + (n,)),
            [window(b, tuple(Affine(0) for _ in tile) + (Affine(0),), sizes + (b.shape[-1],)) for b in (m, e, s)])))


def softmax_rows(kb: KernelBuilder, log: bool, t: DType, dst: View, src: View, scratch: list[View]) -> list[Stmt]:
    """Softmax (or log-softmax) of the rows of ``src`` into ``dst`` through f32 scratch views
    ``[row max, exponentials, row sum]``: max, ``exp(x - max)``, sum, divide (or subtract the log)."""
    m, e, s = scratch
    x = widen(Operand(src), t)
    stmts: list[Stmt] = [*reduce_chunks(kb, "max", m, src)]
    shifted = Binary("sub", x, Operand(m))
    stmts.append(Compute(e, Unary("exp", shifted)))
    stmts += reduce_chunks(kb, "sum", s, e)
    if log:
        result: Expr = Binary("sub", shifted, Unary("log", Operand(s)))
    else:
        result = Binary("div", Operand(e), Operand(s))
    stmts.append(Compute(dst, narrow(result, t)))
    return stmts


def _arg_supports(op: Op, ctx: LoweringContext) -> str | None:
    return None if op.operands[0].type.rank else "arg max/min of a scalar is 0 (nothing to tile)"


@register_rule("arg_max", "arg_min", supports=_arg_supports)
def lower_arg(op: Op, ctx: LoweringContext) -> None:
    x = op.operands[0]
    t = x.type.dtype
    axis = normalize_axis(op.kind, op.attrs["axis"], x.type.rank)
    src = last_axis(ctx.view(x), axis)
    n = src.shape[-1]
    if op.attrs["select_last_index"]:  # the row read backwards: ties go to the last index
        src = View(src.buffer, src.offset + Affine((n - 1) * src.strides[-1]), src.shape,
                   src.strides[:-1] + (-src.strides[-1],))
    lead = src.shape[:-1]
    out = ctx.result(op.result)
    dst = views.reshape(as_rank1(out), lead + (1,))
    negate = op.kind == "arg_min" and t.is_float  # NaN must win, as numpy's argmin: top-1 of -x
    largest = op.kind == "arg_max" or negate
    with ctx.op_kernel(op) as kb:
        tile = row_tile(kb, lead, n, 2)
        values = kb.local("top", t, tile + (1,))
        flipped = kb.local("negated", t, tile + (n,)) if negate else None

        def body(starts: Starts, sizes: Sizes) -> list[Stmt]:
            z = tuple(Affine(0) for _ in tile)
            row = window(src, starts + (Affine(0),), sizes + (n,))
            stmts: list[Stmt] = []
            if flipped is not None:
                neg = window(flipped, z + (Affine(0),), sizes + (n,))
                stmts.append(Compute(neg, Unary("neg", Operand(row))))
                row = neg
            stmts.append(TopK(window(values, z + (Affine(0),), sizes + (1,)),
                              window(dst, starts + (Affine(0),), sizes + (1,)), row, largest))
            return stmts

        kb.emit(tile_loops(kb, lead, tile, body))
        if op.attrs["select_last_index"]:
            kb.emit(tiled_compute(kb, dst, [dst], lambda xs: Binary("sub", const(n - 1, DType.I64), xs[0])))


@register_rule("top_k")
def lower_top_k(op: Op, ctx: LoweringContext) -> None:
    x = op.operands[0]
    axis = normalize_axis("top_k", op.attrs["axis"], x.type.rank)
    src = last_axis(ctx.view(x), axis)
    values = last_axis(ctx.result(op.results[0]), axis)
    indices = last_axis(ctx.result(op.results[1]), axis)
    lead, k = src.shape[:-1], op.attrs["k"]
    largest = op.attrs["largest"]
    with ctx.op_kernel(op) as kb:
        tile = row_tile(kb, lead, src.shape[-1])

        def body(starts: Starts, sizes: Sizes) -> list[Stmt]:
            z = starts + (Affine(0),)
            return [TopK(window(values, z, sizes + (k,)), window(indices, z, sizes + (k,)),
                         window(src, z, sizes + (src.shape[-1],)), largest)]

        kb.emit(tile_loops(kb, lead, tile, body))


@register_rule("cumsum")
def lower_cumsum(op: Op, ctx: LoweringContext) -> None:
    x = op.operands[0]
    t = x.type.dtype
    axis = normalize_axis("cumsum", op.attrs["axis"], x.type.rank)
    src = last_axis(ctx.view(x), axis)
    dst = last_axis(ctx.result(op.result), axis)
    lead, n = src.shape[:-1], src.shape[-1]
    reverse, exclusive = op.attrs["reverse"], op.attrs["exclusive"]
    acc_t = DType.F32 if t in HALF else t
    with ctx.op_kernel(op) as kb:
        tile = row_tile(kb, lead, 1)
        acc = kb.local("running", acc_t, tile + (1,))

        def body(starts: Starts, sizes: Sizes) -> list[Stmt]:
            a = window(acc, tuple(Affine(0) for _ in tile) + (Affine(0),), sizes + (1,))

            def col(view: View, pos: Affine) -> View:
                return window(view, starts + (pos,), sizes + (1,))

            def step(pos: Affine, first: bool) -> list[Stmt]:
                xj = widen(Operand(col(src, pos)), t)
                update = Compute(a, xj if first else Binary("add", Operand(a), xj))
                store = Compute(col(dst, pos), narrow(Operand(a), t))
                if exclusive:
                    zero = Compute(col(dst, pos), const(0, t)) if first else store
                    return [zero, update]
                return [update, store]

            first = Affine(n - 1) if reverse else Affine(0)
            stmts = step(first, True)
            if n > 1:
                var = kb.var()
                pos = Affine(n - 2, ((var, -1),)) if reverse else Affine.of(var) + 1
                stmts.append(For(var, n - 1, tuple(step(pos, False))))
            return stmts

        kb.emit(tile_loops(kb, lead, tile, body))


__all__ = ["emit_reduce", "last_axis", "reduce_chunks", "row_tile", "rows_view", "softmax_rows"]
