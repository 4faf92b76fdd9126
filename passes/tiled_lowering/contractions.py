"""Contractions: matmul (every rank, broadcast batch axes), gemm, einsum.

:func:`emit_matmul` is the one tiled contraction every rule (and the composites) uses: the
output ``[batch.., M, N]`` is cut into ``tile_rows`` x ``tile_cols`` tiles (batch axes whole
while the f32 accumulator stays within the local budget), each tile accumulates in a local
buffer over ``k_tile`` chunks of the contraction (the first chunk stores, the rest ``+=``) and
is written out once, rounded (or wrapped) to the destination's dtype, optionally through an
epilogue expression (gemm's ``alpha``/``beta * c``). Edge tiles are peeled.

Operands are views: a 1-D operand is a row (column) view, batch axes an operand lacks or has
as 1 are stride-0 axes, and a transposed operand (a transpose op upstream, whose view has a
unit stride on the row axis) is handed to ``matmul`` as ``A^T``/``B^T`` of the untransposed
layout. Float operands accumulate in f32, integer ones in i32 (i64 for i64), wrapping as the
reference's integer matmul does modulo the operand width.
"""

from __future__ import annotations

from collections.abc import Callable

from moecc.errors import PassError
from moecc.ir.affine import Affine
from moecc.ir.graph import Op
from moecc.ir.ops.common import broadcast_shapes
from moecc.ir.tiled import views
from moecc.ir.tiled.nodes import Binary, Cast, Compute, Copy, Expr, MatMul, Operand, Stmt, View
from moecc.ir.types import DType
from moecc.passes.tiled_lowering.context import KernelBuilder, LoweringContext, TilingParams, const, register_rule
from moecc.passes.tiled_lowering.tiles import Sizes, Starts, chunks, fit_tile, tile_loops, window

#: (destination tile, accumulator tile, tile starts, tile sizes) -> the expression stored.
Epilogue = Callable[[View, View, Starts, Sizes], Expr]


def acc_dtype(dtype: DType) -> DType:
    """What a contraction over ``dtype`` accumulates in."""
    if dtype.is_float:
        return DType.F32
    return DType.I64 if dtype == DType.I64 else DType.I32


def _swap(view: View) -> View:
    order = list(range(view.rank - 2)) + [view.rank - 1, view.rank - 2]
    return views.permute(view, order)


def as_transposed(view: View) -> tuple[View, bool]:
    """(view, transposed): a view whose rows are unit-stride and columns are not is the
    transpose of a row-major layout; hand it over as ``X^T`` of that layout."""
    if view.shape[-1] > 1 and view.shape[-2] > 1 and view.strides[-2] == 1 and view.strides[-1] != 1:
        return _swap(view), True
    return view, False


def emit_matmul(kb: KernelBuilder, dst: View, a: View, b: View, *, transpose_a: bool = False,
                transpose_b: bool = False, epilogue: Epilogue | None = None) -> list[Stmt]:
    """``dst[batch.., M, N] = a @ b`` tiled; ``a`` is ``[batch.., M, K]`` (``[batch.., K, M]``
    with ``transpose_a``), ``b`` ``[batch.., K, N]`` (``[batch.., N, K]`` with ``transpose_b``)."""
    ctx = kb.ctx
    dtype = ctx.dtype(a)
    acc_t = acc_dtype(dtype)
    out_t = ctx.dtype(dst)
    batch = dst.shape[:-2]
    m, n = dst.shape[-2:]
    k = a.shape[-2] if transpose_a else a.shape[-1]
    tn = min(n, kb.params.tile_cols)
    tm = _rows_per_tile(kb.params, m, n, k, tn, ctx.dtype(b).itemsize)
    tb = fit_tile(batch, max(1, kb.params.local_bytes // (tm * tn * 4)))
    acc = kb.local("acc", acc_t, tb + (tm, tn))
    zero_b = tuple(Affine(0) for _ in batch)

    def body(starts: Starts, sizes: Sizes) -> list[Stmt]:
        bs, (ms, ns) = starts[:-2], starts[-2:]
        bz, (mz, nz) = sizes[:-2], sizes[-2:]
        acc_tile = window(acc, zero_b + (Affine(0), Affine(0)), bz + (mz, nz))
        dst_tile = window(dst, starts, sizes)

        def chunk(start: Affine, size: int, first: bool) -> list[Stmt]:
            a_tile = window(a, bs + ((start, ms) if transpose_a else (ms, start)), bz + ((size, mz) if transpose_a else (mz, size)))
            b_tile = window(b, bs + ((ns, start) if transpose_b else (start, ns)), bz + ((nz, size) if transpose_b else (size, nz)))
            return [MatMul(acc_tile, a_tile, b_tile, accumulate=not first, acc_dtype=acc_t,
                           transpose_a=transpose_a, transpose_b=transpose_b)]

        stmts = chunks(kb, k, kb.params.k_tile, chunk)
        if epilogue is not None:
            expr = epilogue(dst_tile, acc_tile, starts, sizes)
            stmts.append(Compute(dst_tile, expr if ctx.dtype(dst) == acc_t else Cast(out_t, expr)))
        elif out_t == acc_t:
            stmts.append(Copy(dst_tile, acc_tile))
        else:
            stmts.append(Compute(dst_tile, Cast(out_t, Operand(acc_tile))))
        return stmts

    return tile_loops(kb, dst.shape, tb + (tm, tn), body)


def _rows_per_tile(params: TilingParams, m: int, n: int, k: int, tn: int, itemsize: int) -> int:
    """Rows of an output tile: ``tile_rows``, or more when ``b`` spans several column tiles
    (each pass over the rows streams all of ``b`` again) and the taller ``a`` block and
    accumulator tile still fit: the ``a`` block within four times ``local_bytes`` (it is read
    from global memory, where staging keeps it resident), the accumulator tile a quarter."""
    tm = min(m, params.tile_rows)
    if n <= tn or m <= tm:
        return tm
    step = params.tile_rows
    fit = min(4 * params.local_bytes // max(1, k * itemsize), params.local_bytes // 4 // (tn * 4))
    return max(tm, min(m, fit // step * step))


def matmul_views(ctx: LoweringContext, a: View, b: View, out: View) -> tuple[View, View, View]:
    """numpy matmul's operands and result as ``[batch.., M, K] @ [batch.., K, N] -> [batch.., M, N]``
    views: 1-D operands become a row / a column, batch axes broadcast with stride 0."""
    a2 = views.reshape(a, (1,) + a.shape) if a.rank == 1 else a
    b2 = views.reshape(b, b.shape + (1,)) if b.rank == 1 else b
    batch = broadcast_shapes("matmul", a2.shape[:-2], b2.shape[:-2])
    m, n = a2.shape[-2], b2.shape[-1]
    a3 = views.broadcast(a2, batch + a2.shape[-2:])
    b3 = views.broadcast(b2, batch + b2.shape[-2:])
    return a3, b3, views.reshape(out, batch + (m, n))


@register_rule("matmul")
def lower_matmul(op: Op, ctx: LoweringContext) -> None:
    a, b, dst = matmul_views(ctx, ctx.view(op.operands[0]), ctx.view(op.operands[1]), ctx.result(op.result))
    a, ta = as_transposed(a)
    b, tb = as_transposed(b)
    with ctx.op_kernel(op) as kb:
        kb.emit(emit_matmul(kb, dst, a, b, transpose_a=ta, transpose_b=tb))


def _gemm_supports(op: Op, ctx: LoweringContext) -> str | None:
    if op.operands[0].type.dtype.is_int and (op.attrs["alpha"] != 1.0 or op.attrs["beta"] != 1.0):
        return "integer gemm with alpha/beta other than 1 scales in float (the reference's promotion)"
    return None


@register_rule("gemm", supports=_gemm_supports)
def lower_gemm(op: Op, ctx: LoweringContext) -> None:
    a, b = ctx.view(op.operands[0]), ctx.view(op.operands[1])
    out = ctx.result(op.result)
    t = op.result.type.dtype
    acc_t = acc_dtype(t)
    alpha, beta = op.attrs["alpha"], op.attrs["beta"]
    c = views.broadcast(ctx.view(op.operands[2]), out.shape) if len(op.operands) > 2 else None

    def epilogue(dst: View, acc: View, starts: Starts, sizes: Sizes) -> Expr:
        expr: Expr = Operand(acc)
        if alpha != 1.0:
            expr = Binary("mul", expr, const(alpha, acc_t))
        if c is not None:
            cx: Expr = Operand(window(c, starts, sizes))
            if t != acc_t:
                cx = Cast(acc_t, cx)
            if beta != 1.0:
                cx = Binary("mul", cx, const(beta, acc_t))
            expr = Binary("add", expr, cx)
        return expr

    with ctx.op_kernel(op) as kb:
        kb.emit(emit_matmul(kb, out, a, b, transpose_a=op.attrs["trans_a"], transpose_b=op.attrs["trans_b"],
                            epilogue=epilogue))


def _einsum_supports(op: Op, ctx: LoweringContext) -> str | None:
    return ("einsum is tiled after the decompose-einsum graph pass rewrites it into matmul/transpose/reduce ops; "
            "what that pass leaves (a label repeated within one operand: a diagonal) has no tiled contraction")


@register_rule("einsum", supports=_einsum_supports)
def lower_einsum(op: Op, ctx: LoweringContext) -> None:
    # Never called: the rule always declines, so an einsum is always a host call.
    raise PassError("einsum has no tiled lowering", pass_name="lower-to-tiled",
                    remedy="run decompose-einsum before lower-to-tiled")


__all__ = ["acc_dtype", "as_transposed", "emit_matmul", "matmul_views"]
