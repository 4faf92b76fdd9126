"""One DMA for a weight fill: the weights a fill kernel loads, when their HBM bytes lie as their homes do.

Where it sits: instruction selection (:class:`moecc.backend.asic.isel.Selector`) hands the
loads of a fill kernel (:mod:`moecc.passes.weight_homes`), selected in that kernel or ahead of
it in the kernel before, to :func:`emit_fill_loads`. Memory planning places the weights that
have SRAM homes in HBM in home order, with the homes' alignment, so the weights one fill kernel
loads are one run of bytes in both memories: one ``dma.ld`` moves a run (a rows x row-bytes
rectangle over it, the alignment padding between weights included), up to what the bus moves
in two DMA setups' time (:func:`run_limit`), so that a big fill still reaches its first
reader in pieces.

Why: a DMA holds one of its queue's engines from its issue until its last byte, and a fill's
loads wait behind the HBM latency and each other on the shared bus. One load per weight takes
as many engines for that long; the kernels around the fill then have their on-chip copies (an
attention's keys and values, a rotary table) queue for the one engine left. One DMA per fill
leaves them the others. The bytes moved are the same but for the padding.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from moecc.ir.kernel import ON_CHIP_ROLES, Load
from moecc.passes.memory_plan import ALIGNMENT

if TYPE_CHECKING:
    from moecc.backend.asic.isel import Selector

def fill_runs(sel: Selector, loads: Sequence[tuple[Load, Mapping[str, int]]]) -> list[list[int]] | None:
    """The indices of ``loads`` in runs of bytes one DMA each moves: consecutive weights in HBM
    that lie as their tiles do in SRAM, each run at most :func:`run_limit` bytes (a weight
    larger than that alone); None when a load is not a whole weight from HBM into a whole
    tile (then each goes by itself)."""
    spans = []
    for index, (stmt, env) in enumerate(loads):
        local, s = sel.local_address(stmt.dst, env)
        hbm, h = sel.hbm_address(stmt.src, env)
        size = hbm.dtype.itemsize
        if hbm.role in ON_CHIP_ROLES or stmt.skip_zero_blocks or local.dtype.itemsize != size \
                or stmt.src.pitch != stmt.src.cols or stmt.dst.row_pitch != stmt.dst.cols:
            return None
        spans.append((h, s, stmt.src.rows * stmt.src.cols * size, index))
    spans.sort()
    limit = run_limit(sel)
    runs: list[list[int]] = []
    run_h = run_s = run_end = 0
    for h, s, nbytes, index in spans:
        # The next weight joins the run when it follows it (past the alignment padding) in both
        # memories at the same distance, and the run stays within the limit.
        if runs and h - run_h == s - run_s and 0 <= h - run_end < ALIGNMENT and h + nbytes - run_h <= limit:
            runs[-1].append(index)
        else:
            runs.append([index])
            run_h, run_s = h, s
        run_end = h + nbytes
    return runs


#: A fill DMA moves at most what the HBM bus moves in this many DMA setups' time
#: (:func:`run_limit`): measured on the Hugging Face exports (docs/benchmarks.md, session 13),
#: 1 leaves the small models' MLP weights in two DMAs (Llama 24 x 128: +144 cycles), 4 and
#: more make GPT-2 at hidden 256 wait for a whole layer's fill (+162 cycles).
FILL_RUN_SETUPS = 2


def run_limit(sel: Selector) -> int:
    """The most bytes one fill DMA moves (:data:`FILL_RUN_SETUPS` setups' worth of the bus).
    Past that the transfer outweighs the setup, another engine costs little, and a shorter
    first run reaches the kernel that reads it sooner."""
    return max(ALIGNMENT, int(FILL_RUN_SETUPS * sel.target.dma_setup_cycles * sel.target.hbm_bytes_per_cycle))


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
                    emit_one: Callable[[Selector, Load, Mapping[str, int]], None]) -> None:
    """Select a fill kernel's ``loads``: each run :func:`fill_runs` finds of two weights or more
    as one DMA, the others each by ``emit_one(sel, stmt, env)``."""
    runs = fill_runs(sel, loads)
    for run in runs if runs is not None else [[i] for i in range(len(loads))]:
        members = [loads[i] for i in run]
        if len(members) > 1 and _emit_run(sel, members):
            continue
        for stmt, env in members:
            emit_one(sel, stmt, env)


def _emit_run(sel: Selector, members: Sequence[tuple[Load, Mapping[str, int]]]) -> bool:
    """One ``dma.ld`` over the bytes of ``members`` (consecutive weights, from the first one's
    address to the last one's padded end); False when no rectangle fits the fields."""
    from moecc.backend.asic.isel import dma_2d  # isel imports this module

    (first, env), (last, last_env) = members[0], members[-1]
    _, s = sel.local_address(first.dst, env)
    _, h = sel.hbm_address(first.src, env)
    last_hbm, last_h = sel.hbm_address(last.src, last_env)
    end = last_h + last.src.rows * last.src.cols * last_hbm.dtype.itemsize
    shape = _rectangle(sel, -(-(end - h) // ALIGNMENT) * ALIGNMENT)  # the last weight's padding: its slot in both
    if shape is None:
        return False
    rows, row_bytes = shape
    names = ", ".join(stmt.src.buffer for stmt, _ in members)
    sel.describe(first, env, f"load {names} -> their homes (one DMA)")
    dma_2d(sel, "dma.ld", h, s, rows, row_bytes, row_bytes, row_bytes, loading=True)  # fits the fields: one DMA
    return True


__all__ = ["FILL_RUN_SETUPS", "emit_fill_loads", "fill_runs", "run_limit"]
