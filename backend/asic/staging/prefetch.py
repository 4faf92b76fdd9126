"""Prefetch across a loop around a run-time-count loop: its loads get a slot per iteration.

Runs in :func:`~.module._stage_kernel` after multi-buffering (:mod:`.buffering`), on the
staged kernel-IR body. The shape it rewrites is MoE dispatch's expert loop: a static loop
over experts whose body loads the expert's weights (and its tile count) and then runs a loop
whose trip count is read at run time (the expert's token tiles)::

    for %e = 0 to E {
      load %w[..] <- %W[.. at S*%e ..]           ; expert e's weights
      for %t = 0 to %n[0] max T { .. %w .. }     ; its tiles
    }

With one slot, expert ``e + 1``'s weights overwrite expert ``e``'s and so wait for its last
tile. The rewrite gives each such load's buffer two slots named by ``%e`` (kernel-IR slots
form a ring)::

    for %e = 0 to E {
      load %w[.. slot %e] <- %W[.. at S*%e ..]
      for %t = 0 to %n[0 slot %e] max T { .. %w[.. slot %e] .. }
    }

so expert ``e + 1``'s loads wait only for expert ``e - 1``'s tiles. Program order already
puts them where a prefetch belongs: on the load queue right after expert ``e``'s last tile
load, running while the array works through expert ``e``'s tiles (the run-time loop ends
with unit marks, not a barrier: see :mod:`moecc.backend.asic.isel`).

A load qualifies when it sits in the loop's body before the run-time loop, reads HBM the
kernel never writes, depends on the loop variable, and fills a single-slot buffer that only
this loop touches and that nothing else in it writes; the rewrite is skipped when the extra
slots would not fit the part's SRAM.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from moecc.ir.affine import Affine
from moecc.ir.kernel import For, Load, Scatter, Stmt, Store, local_refs
from moecc.isa_spec.target import Target
from moecc.passes.memory_plan import align

from moecc.backend.asic.staging.buffering import in_slot
from moecc.backend.asic.staging.tiles import KernelStager

#: Slots of a prefetched buffer: the current iteration's and the next one's.
PREFETCH_SLOTS = 2


def prefetch_next_iteration(body: Sequence[Stmt], stager: KernelStager, target: Target) -> tuple[Stmt, ...]:
    """``body`` with the loads of every static loop around a run-time-count loop in a slot
    per iteration (see the module docstring)."""
    slotted: set[str] = set()
    written_hbm = {s.dst.buffer for s in _statements(body) if isinstance(s, Store)} | \
        {s.table.buffer for s in _statements(body) if isinstance(s, Scatter)}
    everywhere = _reference_counts(body)
    sizes = {b.name: b for b in stager.buffers()}

    def fits(extra: set[str]) -> bool:
        total = 0
        for buf in sizes.values():
            if buf.space != "sram":
                continue
            n = PREFETCH_SLOTS if buf.name in extra | slotted else buf.slots
            total += align(buf.slot_bytes * n)
        return total <= target.sram_capacity_bytes

    def rewrite(stmts: Sequence[Stmt]) -> list[Stmt]:
        out: list[Stmt] = []
        for stmt in stmts:
            if not isinstance(stmt, For):
                out.append(stmt)
                continue
            if stmt.is_dynamic or stmt.count < 2 or not any(isinstance(s, For) and s.is_dynamic for s in stmt.body):
                out.append(dataclasses.replace(stmt, body=tuple(rewrite(stmt.body))))
                continue
            ahead = _prefetchable(stmt, everywhere, written_hbm, sizes)
            if not ahead or not fits(ahead):
                out.append(stmt)
                continue
            slotted.update(ahead)
            here = Affine.of(stmt.var)
            out.append(dataclasses.replace(stmt, body=tuple(in_slot(s, here, ahead) for s in stmt.body)))
        return out

    result = tuple(rewrite(body))
    if slotted:
        stager.temps[:] = [dataclasses.replace(b, slots=PREFETCH_SLOTS) if b.name in slotted else b for b in stager.temps]
        stager.locals_.update({n: dataclasses.replace(b, slots=PREFETCH_SLOTS)
                               for n, b in stager.locals_.items() if n in slotted})
    return result


def _prefetchable(loop: For, everywhere: dict[str, int], written_hbm: set[str], sizes: dict) -> set[str]:
    """The buffers of ``loop``'s loads that can take a slot per iteration."""
    inside = _reference_counts(loop.body)
    writes: dict[str, int] = {}
    for stmt in _statements(loop.body):
        for role, ref in local_refs(stmt):
            if role == "write":
                writes[ref.buffer] = writes.get(ref.buffer, 0) + 1
    found: set[str] = set()
    for stmt in loop.body:
        if isinstance(stmt, For) and stmt.is_dynamic:
            break
        if not isinstance(stmt, Load):
            continue
        name = stmt.dst.buffer
        buf = sizes.get(name)
        if (buf is None or buf.slots != 1 or buf.space != "sram" or stmt.dst.slot != Affine()
                or stmt.src.buffer in written_hbm or loop.var not in _variables(stmt.src.offset)
                or inside.get(name) != everywhere.get(name) or writes.get(name) != 1):
            continue
        found.add(name)
    return found


def _statements(body: Sequence[Stmt]):
    """Every statement, loops included (their headers read a run-time count)."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, For):
            yield from _statements(stmt.body)


def _reference_counts(body: Sequence[Stmt]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for stmt in _statements(body):
        for _, ref in local_refs(stmt):
            counts[ref.buffer] = counts.get(ref.buffer, 0) + 1
    return counts


def _variables(affine: Affine) -> set[str]:
    return {name for name, coef in affine.terms if coef}


__all__ = ["PREFETCH_SLOTS", "prefetch_next_iteration"]
