"""Normalisations: layer_norm and rms_norm over the trailing axes ``[axis, rank)``.

The normalised axes are merged into one row of N elements (a view, or a copy when the layout
does not allow it), the leading axes are the rows, tiled so that the f32 row scratch fits the
local budget. Per tile, as the reference computes in f32: layer_norm sums the row, centres it,
sums the squares of the centred row and scales ``c * rsqrt(var + eps) * scale + bias``;
rms_norm sums the squares and scales ``x * rsqrt(mean(x^2) + eps) * scale`` (the op divides by the
square root; a product by one reciprocal per row is within an ulp and a quarter of the VPU time). ``scale`` and
``bias`` broadcast to the operand as stride-0 views and take the same row layout.
"""

from __future__ import annotations

from moecc.ir.affine import Affine
from moecc.ir.graph import Op, Value
from moecc.ir.ops.common import normalize_axis
from moecc.ir.tiled import views
from moecc.ir.tiled.nodes import Binary, Compute, Expr, Operand, Stmt, Unary, View
from moecc.ir.types import DType
from moecc.passes.tiled_lowering.context import LoweringContext, const, numel, register_rule, sources_of
from moecc.passes.tiled_lowering.data import reshaped
from moecc.passes.tiled_lowering.elementwise import narrow, widen
from moecc.passes.tiled_lowering.reductions import reduce_chunks, row_tile
from moecc.passes.tiled_lowering.tiles import Sizes, Starts, tile_loops, window

F32 = DType.F32


def _rows(ctx: LoweringContext, op: Op, value: Value, shape: tuple[int, ...], axis: int) -> View:
    """``value`` broadcast to ``shape`` and viewed ``shape[:axis] + (N,)``."""
    view = views.broadcast(ctx.view(value), shape)
    rows = shape[:axis] + (numel(shape[axis:]),)
    return reshaped(ctx, view, rows, value.name, sources_of(op))


@register_rule("layer_norm", "rms_norm")
def lower_norm(op: Op, ctx: LoweringContext) -> None:
    x = op.operands[0]
    t = x.type.dtype
    shape = x.type.shape
    axis = normalize_axis(op.kind, op.attrs["axis"], x.type.rank)
    if not shape:  # a scalar: one row of one element
        shape, axis = (1,), 0
    operands = [_rows(ctx, op, v, shape, axis) for v in op.operands]
    src = operands[0]
    dst = views.reshape(ctx.result(op.result), src.shape)
    lead, n = src.shape[:-1], src.shape[-1]
    eps = const(op.attrs["epsilon"], F32)
    count = const(n, F32)
    layer = op.kind == "layer_norm"
    with ctx.op_kernel(op) as kb:
        tile = row_tile(kb, lead, n, 2)
        z = tuple(Affine(0) for _ in tile) + (Affine(0),)
        sums = [kb.local(name, F32, tile + (1,)) for name in ("row_sum", "square_sum")]
        rows = [kb.local(name, F32, tile + (n,)) for name in (("centred", "squares") if layer else ("squares",))]

        def body(starts: Starts, sizes: Sizes) -> list[Stmt]:
            at = starts + (Affine(0),)

            def tile_of(view: View) -> Expr:
                return widen(Operand(window(view, at, sizes + (n,))), t)

            s, q = (window(b, z, sizes + (1,)) for b in sums)
            local_rows = [window(b, z, sizes + (n,)) for b in rows]
            xs = tile_of(src)
            scale = tile_of(operands[1])
            stmts: list[Stmt] = []
            if layer:
                c, sq = local_rows
                stmts += reduce_chunks(kb, "sum", s, window(src, at, sizes + (n,)))
                stmts.append(Compute(c, Binary("sub", xs, Binary("div", Operand(s), count))))
                stmts.append(Compute(sq, Binary("mul", Operand(c), Operand(c))))
                centred: Expr = Operand(c)
            else:
                (sq,) = local_rows
                stmts.append(Compute(sq, Binary("mul", xs, xs)))
                centred = xs
            stmts += reduce_chunks(kb, "sum", q, sq)
            # One reciprocal square root per row, then products: a row-wide division costs a
            # transcendental's time on the VPU (4x a product's), and norms sit between matmuls.
            rstd = Unary("rsqrt", Binary("add", Binary("div", Operand(q), count), eps))
            y: Expr = Binary("mul", Binary("mul", centred, rstd), scale)
            if layer and len(operands) > 2:
                y = Binary("add", y, tile_of(operands[2]))
            stmts.append(Compute(window(dst, at, sizes + (n,)), narrow(y, t)))
            return stmts

        kb.emit(tile_loops(kb, lead, tile, body))


__all__ = ["lower_norm"]
