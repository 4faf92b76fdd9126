"""Cutting work into tiles: loops over full tiles with the edge tiles peeled, static counts.

Every rule tiles through these helpers. :func:`tile_loops` walks an N-D iteration space in
tiles: along each axis a ``for`` over the full tiles (no loop when there is one) and, when the
axis does not divide, one more copy of the body for the smaller edge tile. The body receives
each tile's start (affine in the loop variables) and size per axis, so every statement it
makes has static shapes. :func:`chunks` does the same along a contraction or reduction axis,
telling the body which chunk comes first (it stores; the others accumulate).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from moecc.ir.affine import Affine
from moecc.ir.tiled import views
from moecc.ir.tiled.nodes import Compute, Copy, Expr, For, Operand, Stmt, View
from moecc.passes.tiled_lowering.context import KernelBuilder, TilingParams

Starts = tuple[Affine, ...]
Sizes = tuple[int, ...]
TileBody = Callable[[Starts, Sizes], list[Stmt]]


def fit_tile(shape: Sequence[int], budget: int) -> tuple[int, ...]:
    """A tile of at most ``budget`` elements (at least one), whole innermost axes first."""
    tile = [1] * len(shape)
    elems = 1
    for d in range(len(shape) - 1, -1, -1):
        if elems * shape[d] <= budget:
            tile[d] = shape[d]
            elems *= shape[d]
        else:
            tile[d] = max(1, budget // elems)
            break
    return tuple(tile)


def choose_tile(shape: Sequence[int], params: TilingParams) -> tuple[int, ...]:
    """The element-wise tile of ``shape``: ``tile_rows`` x ``tile_cols`` on the last two axes,
    leading axes whole while the tile stays within ``tile_rows * tile_cols`` elements."""
    if len(shape) <= 1:
        return fit_tile(shape, params.tile_elements)
    rows, cols = min(shape[-2], params.tile_rows), min(shape[-1], params.tile_cols)
    lead = fit_tile(shape[:-2], max(1, params.tile_elements // (rows * cols)))
    return lead + (rows, cols)


def tile_loops(kb: KernelBuilder, shape: Sequence[int], tile: Sequence[int], body: TileBody) -> list[Stmt]:
    """Statements covering ``shape`` in tiles of ``tile``: full tiles in loops, edges peeled."""
    shape, tile = tuple(shape), tuple(tile)

    def walk(axis: int, starts: Starts, sizes: Sizes) -> list[Stmt]:
        if axis == len(shape):
            return body(starts, sizes)
        n, t = shape[axis], max(1, min(tile[axis], shape[axis]))
        full, rem = divmod(n, t)
        out: list[Stmt] = []
        if full == 1:
            out += walk(axis + 1, starts + (Affine(0),), sizes + (t,))
        elif full > 1:
            var = kb.var()
            inner = walk(axis + 1, starts + (Affine.of(var) * t,), sizes + (t,))
            out.append(For(var, full, tuple(inner)))
        if rem:
            out += walk(axis + 1, starts + (Affine(full * t),), sizes + (rem,))
        return out

    return walk(0, (), ())


#: Chunks of a contraction or reduction written out rather than looped over (:func:`chunks`).
UNROLLED_CHUNKS = 4


def chunks(kb: KernelBuilder, n: int, t: int, body: Callable[[Affine, int, bool], list[Stmt]]) -> list[Stmt]:
    """``n`` elements in chunks of ``t``: the body gets (start, size, first); the first chunk is
    peeled (it stores, the rest accumulate), then the other full chunks (written out up to
    :data:`UNROLLED_CHUNKS` of them, so that the loop around a short contraction is innermost
    and its tiles can be multi-buffered; else a loop), then the edge."""
    t = max(1, min(t, n))
    full, rem = divmod(n, t)
    if full == 0:
        return body(Affine(0), rem, True)
    out = body(Affine(0), t, True)
    if full <= UNROLLED_CHUNKS:
        for i in range(1, full):
            out += body(Affine(i * t), t, False)
    else:
        var = kb.var()
        out.append(For(var, full - 1, tuple(body(Affine.of(var) * t + t, t, False))))
    if rem:
        out += body(Affine(full * t), rem, False)
    return out


def window(view: View, starts: Sequence[Affine], sizes: Sequence[int]) -> View:
    return views.window(view, tuple(starts), tuple(sizes))


def zeros(rank: int) -> Starts:
    return tuple(Affine(0) for _ in range(rank))


def tiled_compute(kb: KernelBuilder, dst: View, operands: Sequence[View], build: Callable[[list[Expr]], Expr],
                  tile: Sequence[int] | None = None) -> list[Stmt]:
    """``dst = build(operands)`` element-wise, one ``compute`` per tile; every operand already
    has ``dst``'s shape (broadcast with stride-0 axes)."""
    for view in operands:
        if tuple(view.shape) != tuple(dst.shape):
            raise ValueError(f"operand shape {view.shape} is not the destination's {dst.shape}")
    chosen = tuple(tile) if tile is not None else choose_tile(dst.shape, kb.params)

    def body(starts: Starts, sizes: Sizes) -> list[Stmt]:
        expr = build([Operand(window(v, starts, sizes)) for v in operands])
        return [Compute(window(dst, starts, sizes), expr)]

    return tile_loops(kb, dst.shape, chosen, body)


def tiled_copy(kb: KernelBuilder, dst: View, src: View) -> list[Stmt]:
    """``dst <- src`` (equal shapes and dtypes), one ``copy`` per tile."""
    chosen = choose_tile(dst.shape, kb.params)

    def body(starts: Starts, sizes: Sizes) -> list[Stmt]:
        return [Copy(window(dst, starts, sizes), window(src, starts, sizes))]

    return tile_loops(kb, dst.shape, chosen, body)


__all__ = ["UNROLLED_CHUNKS", "choose_tile", "chunks", "fit_tile", "tile_loops", "tiled_compute", "tiled_copy", "window", "zeros"]
