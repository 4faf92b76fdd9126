"""Iteration spaces of tiled statements as loops around 2-D regions.

A tiled statement runs over an N-D shape and addresses each operand through an N-D strided
view. The kernel IR's tiles are 2-D, so :func:`plan_axes` chooses the two axes a tile spans and
loops over the rest:

1. axes of size 1 go; an operand's size-1 axis broadcasts (stride 0); the rest are ordered
   by the destination's stride, outermost first;
2. the column axis is one where the destination (else any operand) has stride 1, so that DMA
   rows and VPU rows are contiguous (a reduction keeps its reduced axis last);
3. neighbouring axes merge when every view steps over them as one (``stride_outer ==
   size_inner * stride_inner``), so a contiguous ``[4, 16, 64]`` is one ``64 x 64`` tile;
4. the row axis is the one left that takes the fewest instructions (tiles times a DMA per
   global view, plus row moves for a local view it is not contiguous in), the innermost on a
   tie, so a transposing copy moves whole ``seq x head_dim`` planes, not one row per head;
   the others become loops.

:func:`regions` then walks the loops and cuts rows and columns into blocks (the budget and the
ISA's field limits), yielding one :class:`~.tiles.Region` per view per block.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from moecc.ir.affine import Affine
from moecc.ir.tiled.nodes import View

from moecc.backend.asic.staging.tiles import KernelStager, Region


@dataclass(frozen=True, slots=True)
class Axis:
    size: int
    strides: tuple[int, ...]  # one per view


@dataclass(frozen=True, slots=True)
class Axes:
    """Loops (outermost first), then the row and column axes of the tile."""

    outer: tuple[Axis, ...]
    rows: Axis
    cols: Axis


def broadcast_strides(view: View, shape: Sequence[int]) -> tuple[int, ...]:
    """``view``'s strides over ``shape`` (its size-1 axes broadcast with stride 0)."""
    return tuple(0 if n == 1 and d != 1 else s for n, s, d in zip(view.shape, view.strides, shape))


def plan_axes(shape: Sequence[int], views: Sequence[View], *, keep_last: bool = False, col_cap: int = 1 << 30,
              local: Sequence[bool] = ()) -> Axes:
    """See the module docstring. ``views[0]`` is the destination; ``keep_last`` pins the last
    axis as the columns (a reduction's axis); columns merge only up to ``col_cap`` elements;
    ``local[i]`` says view ``i`` is of a kernel-local buffer (for the row axis's cost)."""
    strides = [broadcast_strides(v, shape) for v in views]
    axes = [Axis(d, tuple(s[i] for s in strides)) for i, d in enumerate(shape)]
    last = axes.pop() if keep_last else None
    axes = [a for a in axes if a.size != 1]
    # Outermost first by the destination's stride (row-major over it), so that axes a loop
    # coalesced in front of the statement merge with their neighbours.
    axes.sort(key=lambda a: -abs(a.strides[0]))
    if last is None:
        pick = next((i for i in reversed(range(len(axes))) if axes[i].strides[0] == 1), None)
        if pick is None:
            pick = next((i for i in reversed(range(len(axes))) if 1 in axes[i].strides), len(axes) - 1)
        if axes:
            last = axes.pop(pick)
    if last is None:
        last = Axis(1, tuple(0 for _ in views))
    # Merge inner axes into the columns while every view is contiguous across them.
    while not keep_last and axes and last.size * axes[-1].size <= col_cap and _mergeable(axes[-1], last):
        outer = axes.pop()
        last = Axis(outer.size * last.size, last.strides)
    merged: list[Axis] = []
    for axis in axes:
        if merged and _mergeable(merged[-1], axis):
            outer = merged.pop()
            axis = Axis(outer.size * axis.size, axis.strides)
        merged.append(axis)
    if not merged:
        return Axes((), Axis(1, tuple(0 for _ in views)), last)
    pick = min(reversed(range(len(merged))), key=lambda i: _row_cost(merged, i, last, local))
    rows = merged.pop(pick)
    return Axes(tuple(merged), rows, last)


def _row_cost(axes: Sequence[Axis], pick: int, cols: Axis, local: Sequence[bool]) -> int:
    """Instructions a statement takes with ``axes[pick]`` as its rows: per tile, one op plus a
    DMA per global view, plus a move per row for a local view the tile is not contiguous in."""
    rows = axes[pick]
    tiles = 1
    for i, axis in enumerate(axes):
        if i != pick:
            tiles *= axis.size
    per_tile = 1
    for i, stride in enumerate(rows.strides):
        if i < len(local) and local[i]:
            cstride = cols.strides[i] if cols.size > 1 else 0
            if cstride == 0:  # a column (or a scalar): one line of rows
                contiguous = stride in (0, 1)
            else:
                contiguous = stride in (0, cols.size) and cstride == 1
            per_tile += 0 if contiguous or rows.size == 1 else rows.size
        else:
            per_tile += rows.size if stride < 0 else 1
    return tiles * per_tile


def _mergeable(outer: Axis, inner: Axis) -> bool:
    return all(so == inner.size * si for so, si in zip(outer.strides, inner.strides))


def regions(stager: KernelStager, axes: Axes, views: Sequence[View], row_cap: int,
            col_cap: int) -> Iterator[tuple[Region, ...]]:
    """Emit the loops of ``axes`` and yield, per block of at most ``row_cap`` x ``col_cap``
    elements, one region per view (same order as ``views``)."""

    def walk(level: int, offsets: tuple[Affine, ...]) -> Iterator[tuple[Region, ...]]:
        if level == len(axes.outer):
            for r0, rn in stager.blocks(axes.rows.size, row_cap):
                for c0, cn in stager.blocks(axes.cols.size, col_cap):
                    yield tuple(Region(v.buffer, o + r0 * rs + c0 * cs, rn, cn, rs, cs)
                                for v, o, rs, cs in zip(views, offsets, axes.rows.strides, axes.cols.strides))
            return
        axis = axes.outer[level]
        with stager.loop(axis.size) as var:
            yield from walk(level + 1, tuple(o + var * s for o, s in zip(offsets, axis.strides)))

    yield from walk(0, tuple(v.offset for v in views))


__all__ = ["Axes", "Axis", "broadcast_strides", "plan_axes", "regions"]
