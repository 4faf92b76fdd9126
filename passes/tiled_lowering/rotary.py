"""The rotary embedding: two element-wise statements on the halves of each head's features.

Position in the flow: a rule of ``lower-to-tiled`` (:mod:`.lower`). The halves are the first
and second half of the rotated features (or the even/odd stride-2 views when interleaved), cos
and sin broadcast over heads; the unrotated tail is a copy. On in-order units (the ASIC), with
constant cos and sin, ``x`` and the result are one ``[rows, d]`` matrix in ``x``'s own layout
(:func:`_rows_rotation`): one tile instead of one per head.
"""

from __future__ import annotations

import numpy as np

from moecc.ir.graph import Op
from moecc.ir.tiled import views
from moecc.ir.tiled.nodes import Binary, Expr, View
from moecc.passes.tiled_lowering.context import LoweringContext, register_rule
from moecc.passes.tiled_lowering.data import strided_slice
from moecc.passes.tiled_lowering.elementwise import narrow, widen
from moecc.passes.tiled_lowering.tiles import tiled_compute, tiled_copy


#: Elements of the cos and sin tables a rotation of the whole tensor as one matrix may take
#: (each repeated per head and batch entry: :func:`_rows_rotation`).
ROTARY_TABLE_ELEMENTS = 1 << 16


def _rows_rotation(op: Op, ctx: LoweringContext, xv: View) -> tuple[View, View, View, View] | None:
    """``x`` and the result as ``[rows, d]`` matrices in ``x``'s own layout, with cos and sin as
    constant ``[rows, half]`` tables repeated per head, or None. On in-order units (the ASIC)
    each head's rotation would be a tile of its own, each a chain of copies and vector ops: the
    whole tensor is one tile instead. The result takes ``x``'s layout (an exporter's transpose
    to ``[B, H, S, D]`` stays a view), so the two merge into rows alike. Only with constant cos
    and sin (static shapes), a small table, and a result that is not a graph output."""
    x, cos, sin = op.operands
    b, h, s, d = x.type.shape
    half = (op.attrs["rotary_dim"] or d) // 2
    constant = all(v.producer is not None and v.producer.is_const for v in (cos, sin))
    if not ctx.params.in_order_units or not constant or op.result in ctx.designated \
            or b * h * s * half > ROTARY_TABLE_ELEMENTS or xv.strides[3] != 1:
        return None
    perm = sorted(range(3), key=lambda axis: -xv.strides[axis]) + [3]
    rows = b * h * s
    try:
        x2d = views.reshape(views.permute(xv, perm), (rows, d))
    except ValueError:
        return None
    physical = ctx.add_global(op.result.name, x.type.dtype, tuple(x.type.shape[a] for a in perm))
    ctx.views[op.result] = views.permute(physical, [perm.index(a) for a in range(4)])

    def table(value) -> View:  # noqa: ANN001
        angles = np.asarray(value.producer.attrs["value"])
        full = np.broadcast_to(angles.reshape(angles.shape[0], 1, s, half), (b, h, s, half)).transpose(perm)
        return ctx.constant(np.ascontiguousarray(full.reshape(rows, half)), f"{value.name}_rows")

    return x2d, views.reshape(physical, (rows, d)), table(cos), table(sin)


@register_rule("rotary_embedding")
def lower_rotary(op: Op, ctx: LoweringContext) -> None:
    x, cos, sin = op.operands
    t = x.type.dtype
    b, h, s, d = x.type.shape
    rotary = op.attrs["rotary_dim"] or d
    half = rotary // 2
    xv = ctx.view(x)
    whole = _rows_rotation(op, ctx, xv)
    if whole is not None:  # [rows, d] matrices: the halves are column windows
        xv, out, c, sn = whole
        shape: tuple[int, ...] = (out.shape[0], half)
        axis, lead = 1, (0,)
    else:
        out = ctx.result(op.result)
        shape = (b, h, s, half)

        def angles(view: View) -> View:
            return views.broadcast(views.reshape(view, (view.shape[0], 1, s, half)), shape)

        c, sn = angles(ctx.view(cos)), angles(ctx.view(sin))
        axis, lead = 3, (0, 0, 0)
    if op.attrs["interleaved"]:
        parts = [(strided_slice(v, axis, 0, 2, half), strided_slice(v, axis, 1, 2, half)) for v in (xv, out)]
    else:
        parts = [(views.window(v, lead + (0,), shape), views.window(v, lead + (half,), shape)) for v in (xv, out)]
    (x1, x2), (o1, o2) = parts

    def real(xs: list[Expr]) -> Expr:
        cw, sw, a, bb = (widen(e, t) for e in xs)
        return narrow(Binary("sub", Binary("mul", cw, a), Binary("mul", sw, bb)), t)

    def imag(xs: list[Expr]) -> Expr:
        cw, sw, a, bb = (widen(e, t) for e in xs)
        return narrow(Binary("add", Binary("mul", sw, a), Binary("mul", cw, bb)), t)

    with ctx.op_kernel(op) as kb:
        kb.emit(tiled_compute(kb, o1, [c, sn, x1, x2], real))
        kb.emit(tiled_compute(kb, o2, [c, sn, x1, x2], imag))
        if rotary < d:
            tail = shape[:-1] + (d - rotary,)
            kb.emit(tiled_copy(kb, views.window(out, lead + (rotary,), tail), views.window(xv, lead + (rotary,), tail)))


__all__ = ["ROTARY_TABLE_ELEMENTS", "lower_rotary"]
