"""The bytes an instruction touches, as the scheduler compares them.

Where it sits: instruction selection (:mod:`moecc.backend.asic.isel`) gives every selected
instruction the byte ranges (:class:`ByteRange`) it reads and writes; the scheduler
(:mod:`moecc.backend.asic.schedule`) orders two instructions of different units with a token
when a write of one overlaps a read or write of the other. A strided DMA's side is its runs
(:func:`strided_range`), so two column blocks of one matrix do not overlap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes of one memory space (``hbm``, ``sram`` or ``acc``): ``[start, end)``, or, for a
    strided DMA's side (``rows`` > 1), only ``rows`` runs of ``width`` bytes ``pitch`` apart
    from ``start`` (``end`` then bounds the last run). Two column blocks of one matrix do not
    overlap, so a store to one does not hold up a load of the other."""

    space: str
    start: int
    end: int
    rows: int = 1
    pitch: int = 0
    width: int = 0

    def overlaps(self, other: ByteRange) -> bool:
        return self.space == other.space and self.start < other.end and other.start < self.end and (
            (self.rows == 1 and other.rows == 1) or strided_overlap(self, other))


def strided_overlap(a: ByteRange, b: ByteRange) -> bool:
    """Whether two ranges whose bounds overlap share a byte, given their runs: exact when at
    most one is strided or both have one pitch; otherwise the bounds decide (which may only
    add a wait)."""
    if b.rows > 1 and a.rows == 1:
        a, b = b, a
    if b.rows == 1:  # a strided, b contiguous: is a run of a's within [b.start, b.end)?
        first = max(0, (b.start - a.width - a.start) // a.pitch + 1)  # the first run ending after b.start
        last = min(a.rows - 1, (b.end - 1 - a.start) // a.pitch)  # the last run starting before b.end
        return first <= last
    if a.pitch != b.pitch:
        return True
    # One pitch: in a's frame (its runs at rows 0.. of columns [0, a.width)), b's run j starts at
    # row q + j, column r, and may wrap into the next row.
    p = a.pitch
    q, r = divmod(b.start - a.start, p)

    def rows_meet(first: int) -> bool:
        return first < a.rows and 0 < first + b.rows

    return (r < a.width and rows_meet(q)) or (r + b.width > p and rows_meet(q + 1))


def strided_range(space: str, start: int, rows: int, pitch: int, width: int) -> ByteRange:
    """The bytes of ``rows`` runs of ``width`` bytes ``pitch`` apart (one range when they touch)."""
    end = start + (rows - 1) * pitch + width
    if rows == 1 or pitch <= width:
        return ByteRange(space, start, end)
    return ByteRange(space, start, end, rows, pitch, width)


def merge_ranges(ranges: Sequence[ByteRange]) -> tuple[ByteRange, ...]:
    """``ranges`` as the fewest disjoint ranges covering the same bytes, per space."""
    merged: list[ByteRange] = []
    for r in sorted(ranges, key=lambda r: (r.space, r.start)):
        last = merged[-1] if merged else None
        if last is not None and last.space == r.space and r.start <= last.end:
            merged[-1] = ByteRange(r.space, last.start, max(last.end, r.end))  # the bounds: a superset
        else:
            merged.append(r)
    return tuple(merged)


__all__ = ["ByteRange", "merge_ranges", "strided_overlap", "strided_range"]
