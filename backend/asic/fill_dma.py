"""One DMA for a weight fill: the weights a fill kernel loads, when their HBM bytes lie as their homes do.

Where it sits: instruction selection (:class:`moecc.backend.asic.isel.Selector`) hands the
loads of a fill kernel (:mod:`moecc.passes.weight_homes`), selected in that kernel or ahead of
it in the kernel before, to :func:`emit_fill_loads`. Memory planning places the weights that
have SRAM homes in HBM in home order, with the homes' alignment, so the weights one fill kernel
loads are one run of bytes in both memories: one ``dma.ld`` moves them all (a rows x row-bytes
rectangle over the run, the alignment padding between weights included).

Why: a DMA holds one of its queue's engines from its issue until its last byte, and a fill's
loads wait behind the HBM latency and each other on the shared bus. One load per weight takes
as many engines for that long; the kernels around the fill then have their on-chip copies (an
attention's keys and values, a rotary table) queue for the one engine left. One DMA per fill
leaves them the others. The bytes moved are the same but for the padding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from moecc.backend.asic.byte_ranges import strided_range
from moecc.ir.kernel import ON_CHIP_ROLES, Load
from moecc.passes.memory_plan import ALIGNMENT

if TYPE_CHECKING:
    from moecc.backend.asic.isel import Selector

def fill_run(sel: Selector, loads: Sequence[tuple[Load, Mapping[str, int]]]) -> tuple[int, int, int] | None:
    """``(hbm address, sram address, bytes)`` of the one run of bytes ``loads`` move, when each
    loads a whole weight from HBM into a whole tile and the weights lie in HBM as their tiles do
    in SRAM; None otherwise."""
    spans = []
    for stmt, env in loads:
        local, s = sel.local_address(stmt.dst, env)
        hbm, h = sel.hbm_address(stmt.src, env)
        size = hbm.dtype.itemsize
        if hbm.role in ON_CHIP_ROLES or stmt.skip_zero_blocks or local.dtype.itemsize != size \
                or stmt.src.pitch != stmt.src.cols or stmt.dst.row_pitch != stmt.dst.cols:
            return None
        spans.append((h, s, stmt.src.rows * stmt.src.cols * size))
    if len(spans) < 2:
        return None
    spans.sort()
    h0, s0, _ = spans[0]
    end = 0
    for h, s, nbytes in spans:
        if h - h0 != s - s0 or h - h0 < end:
            return None
        end = h - h0 + nbytes
    return h0, s0, -(-end // ALIGNMENT) * ALIGNMENT  # the last weight's padding: its slot in both


def _rectangle(sel: Selector, nbytes: int) -> tuple[int, int] | None:
    """``(rows, row bytes)`` covering ``nbytes`` (a multiple of memory planning's alignment) within
    ``dma.ld``'s field widths, rows as few as may be."""
    max_rows, max_row_bytes = sel.field_max("dma.ld", "rows"), sel.field_max("dma.ld", "row_bytes")
    max_stride = min(sel.field_max("dma.ld", "sstride"), sel.field_max("dma.ld", "dstride"))
    granules = nbytes // ALIGNMENT
    for per_row in range(min(granules, min(max_row_bytes, max_stride) // ALIGNMENT), 0, -1):
        if granules % per_row == 0 and granules // per_row <= max_rows:
            return granules // per_row, per_row * ALIGNMENT
    return None


def emit_fill_loads(sel: Selector, loads: Sequence[tuple[Load, Mapping[str, int]]],
                    emit_one: object) -> None:
    """Select a fill kernel's ``loads``: one DMA when :func:`fill_run` finds their run of bytes,
    else each by ``emit_one(sel, stmt, env)``."""
    run = fill_run(sel, loads)
    shape = _rectangle(sel, run[2]) if run is not None else None
    if run is None or shape is None:
        for stmt, env in loads:
            emit_one(sel, stmt, env)  # type: ignore[operator]
        return
    h, s, _ = run
    rows, row_bytes = shape
    stride = row_bytes if rows > 1 else 0
    names = ", ".join(stmt.src.buffer for stmt, _ in loads)
    sel.describe(loads[0][0], loads[0][1], f"load {names} -> their homes (one DMA)")
    sel.emit("dma.ld", reads=[strided_range("hbm", h, rows, row_bytes, row_bytes)],
             writes=[strided_range("sram", s, rows, row_bytes, row_bytes)],
             dst=sel.address("dma.ld", "dst", s), src=sel.address("dma.ld", "src", h),
             rows=rows, row_bytes=row_bytes, sstride=stride, dstride=stride)


__all__ = ["emit_fill_loads", "fill_run"]
