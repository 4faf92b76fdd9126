"""Multi-buffering of streamed tiles (double buffering and deeper), as a rewrite of staged loops.

Runs last in :func:`~.module._stage_kernel`, on the staged kernel-IR body. Staging gives the
statements of one loop body distinct pool temporaries, but consecutive iterations share them:
iteration ``i + 1``'s load into a tile, or its ``vpu.mov`` out of an accumulator tile, is
ordered after iteration ``i``'s readers of the same bytes (a write-after-read), and the
scheduler's one-signal-per-producer tokens then chain the wait to the end of the previous
iteration. Giving every *iteration-private* buffer of an innermost loop slots removes those
false dependencies: temporaries (loaded tiles, converted operands, the SRAM tile a result is
moved into before its store) and tiled locals referenced nowhere but in that loop (an
accumulator tile per output tile), written before they are read in each iteration and read
in it. ``Affine`` has no modulo, so the loop is unrolled by the slot count ``S`` (up to
:data:`MAX_SLOTS`; 2 is double buffering): copy ``j`` uses slot ``j``, and ``count % S``
copies follow the loop. Only innermost loops are rewritten, and only while the kernel's SRAM
and accumulator (with the added slots) fit the part.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from moecc.ir.affine import Affine
from moecc.ir.kernel import Count, For, Gather, HbmRef, LocalRef, MatMul, Stmt, local_refs, walk
from moecc.isa_spec.target import Target

from moecc.backend.asic.staging.tiles import KernelStager, substitute


#: Slots a streamed temporary may get: the DMA keeps several descriptors in flight, and a
#: load's setup latency is hidden only when that many tiles are ahead of the compute.
MAX_SLOTS = 4


def double_buffer(body: Sequence[Stmt], temps: set[str], locals_: set[str], stager: KernelStager,
                  target: Target) -> tuple[Stmt, ...]:
    """``body`` with its innermost loops multi-buffered: the iteration-private temporaries,
    and tiled locals (an accumulator tile per output tile) referenced nowhere but in that
    loop, get slots."""
    slots: dict[str, int] = {}
    everywhere = _reference_counts(body)

    def fits(extra: set[str], count: int) -> bool:
        totals = {"sram": 0, "acc": 0}
        for buf in stager.buffers():
            n = max(slots.get(buf.name, buf.slots), count if buf.name in extra else 1)
            totals[buf.space] += -(-buf.slot_bytes * n // 64) * 64
        return totals["sram"] <= target.sram_capacity_bytes and totals["acc"] <= target.acc_capacity_bytes

    def rewrite(stmts: Sequence[Stmt], outer: For | None = None) -> list[Stmt]:
        out: list[Stmt] = []
        for stmt in stmts:
            if not isinstance(stmt, For):
                out.append(stmt)
                continue
            if stmt.is_dynamic:
                # Iterations are guarded one by one (instruction selection unrolls them): instead
                # of unrolling by slots, the iteration-private buffers take two slots named by
                # the iteration index (slots form a ring), so an iteration's tiles do not wait
                # for the previous iteration to finish with the same ones. Inside a static loop
                # (MoE's experts), consecutive outer iterations take disjoint halves of a ring of
                # 2 x max_count slots, so the next expert's first tile waits for nothing of this one's.
                inner = tuple(rewrite(stmt.body))
                if not any(isinstance(s, For) for s in inner):
                    counts = _reference_counts(inner)
                    owned = {n for n in locals_ if n in counts and counts[n] == everywhere[n]}
                    local = _iteration_private(inner, {n for n in counts if n in temps} | owned)
                    bound = max(1, stmt.max_count or 1)
                    if local and outer is not None and fits(local, 2 * bound):
                        ring, slot = 2 * bound, Affine.of(stmt.var) + Affine.of(outer.var) * bound
                    elif local and fits(local, RING_SLOTS):
                        ring, slot = RING_SLOTS, Affine.of(stmt.var)
                    else:
                        ring = 0
                    if ring:
                        for name in local:
                            slots[name] = max(slots.get(name, 1), ring)
                        inner = tuple(in_slot(s, slot, local) for s in inner)
                out.append(dataclasses.replace(stmt, body=inner))
                continue
            if any(isinstance(s, For) for s in stmt.body) or stmt.count < 2:
                out.append(For(stmt.var, stmt.count, tuple(rewrite(stmt.body, stmt if stmt.count >= 2 else None))))
                continue
            inside = _reference_counts(stmt.body)
            owned = {n for n in locals_ if n in inside and inside[n] == everywhere[n]}
            scratch = {n for n in inside if n in temps}
            local = _iteration_private(stmt.body, scratch | owned)
            ways = next((n for n in range(min(MAX_SLOTS, stmt.count), 1, -1) if local and fits(local, n)), 0)
            if not ways:
                out.append(stmt)
                continue
            for name in local:
                slots[name] = max(slots.get(name, 1), ways)
            var = Affine.of(stmt.var)
            unrolled = [_map(s, stmt.var, var * ways + j, local, j) for j in range(ways) for s in stmt.body]
            out.append(For(stmt.var, stmt.count // ways, tuple(unrolled)))
            start = stmt.count - stmt.count % ways
            out.extend(_map(s, stmt.var, Affine(start + j), local, j) for j in range(stmt.count % ways) for s in stmt.body)
        return out

    result = tuple(rewrite(body))
    if slots:
        stager.temps[:] = [dataclasses.replace(b, slots=slots[b.name]) if b.name in slots else b for b in stager.temps]
        stager.locals_.update({n: dataclasses.replace(b, slots=slots[n]) for n, b in stager.locals_.items() if n in slots})
    return result


def _reference_counts(body: Sequence[Stmt]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for stmt, _ in walk(body):
        for _, ref in local_refs(stmt):
            counts[ref.buffer] = counts.get(ref.buffer, 0) + 1
    return counts


def _iteration_private(body: Sequence[Stmt], buffers: set[str]) -> set[str]:
    """The buffers written before they are read in each iteration, and read in it: a loop that
    only fills parts of a tile consumed after the loop must keep one slot for it."""
    written: set[str] = set()
    read: set[str] = set()
    shared: set[str] = set()
    for stmt in body:
        roles = local_refs(stmt)
        if isinstance(stmt, (MatMul, Gather)) and stmt.rows is not None and not getattr(stmt, "accumulate", False):
            # A product or gather over a run-time row count keeps the rows past it: padding
            # rows, which nothing consumes (an MoE tile's padding rows are never scattered).
            # For slots it writes its destination.
            roles = [(role, ref) for role, ref in roles if not (role == "read" and ref == stmt.dst)]
        for role, ref in roles:
            if role == "read" and ref.buffer not in written:
                shared.add(ref.buffer)
        for role, ref in roles:
            (written if role == "write" else read).add(ref.buffer)
    return (buffers & read) - shared


#: Slots of the iteration-private buffers of a run-time-count loop (double buffering).
RING_SLOTS = 2


def in_slot(stmt: Stmt, slot: Affine, buffers: set[str]) -> Stmt:
    """``stmt`` (a loop: its count and body too) with its refs to ``buffers`` (tiles and
    run-time counts) in slot ``slot``, which is taken modulo each buffer's slots."""
    if isinstance(stmt, For):
        count = stmt.count
        if isinstance(count, Count) and count.buffer in buffers:
            count = Count(count.buffer, count.offset, slot)
        return dataclasses.replace(stmt, count=count, body=tuple(in_slot(s, slot, buffers) for s in stmt.body))
    changes = {}
    for f in dataclasses.fields(stmt):
        ref = getattr(stmt, f.name)
        if isinstance(ref, LocalRef) and ref.buffer in buffers:
            changes[f.name] = dataclasses.replace(ref, slot=slot)
        elif isinstance(ref, Count) and ref.buffer in buffers:  # a run-time row count
            changes[f.name] = Count(ref.buffer, ref.offset, slot)
    return dataclasses.replace(stmt, **changes) if changes else stmt


def _map(stmt: Stmt, var: str, value: Affine, streamed: set[str], slot_index: int) -> Stmt:
    """``stmt`` with ``var`` replaced by ``value``; refs to ``streamed`` buffers use slot ``slot_index``."""
    changes = {}
    for f in dataclasses.fields(stmt):
        ref = getattr(stmt, f.name)
        if isinstance(ref, LocalRef):
            slot = Affine(slot_index) if ref.buffer in streamed else ref.slot
            changes[f.name] = dataclasses.replace(ref, offset=substitute(ref.offset, var, value),
                                                  slot=substitute(slot, var, value))
        elif isinstance(ref, HbmRef):
            changes[f.name] = HbmRef(ref.buffer, substitute(ref.offset, var, value), ref.rows, ref.cols, ref.pitch)
        elif isinstance(ref, Count):  # a matmul's run-time row count
            slot = Affine(slot_index) if ref.buffer in streamed else ref.slot
            changes[f.name] = Count(ref.buffer, substitute(ref.offset, var, value), substitute(slot, var, value))
    return dataclasses.replace(stmt, **changes) if changes else stmt


__all__ = ["double_buffer", "in_slot"]
