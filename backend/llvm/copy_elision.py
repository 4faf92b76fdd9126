"""Which tile copies of a kernel the CPU need not perform: the analysis behind copy elision.

Where it sits: the CPU code generator (:mod:`moecc.backend.llvm.codegen`) emits kernel IR that
was tiled for the ASIC, where every operand must be copied into SRAM before a unit can read
it. On a CPU the heap and the scratch arena are the same memory, so a ``load`` of an HBM
window (and a ``vpu.mov`` between tiles) need not copy anything: the code generator keeps
such a copy *pending* and lets the statements that read the tile read its source instead
(a matmul reads a pitched window in place; element-wise code needs contiguous rows). A
pending copy is performed after all ("materialised") only when something is about to write
its tile or its source while the tile may still be read, and dropped when the tile is dead.

This module answers the questions that needs, on kernel IR alone:

- :func:`local_region` — the bytes a tile reference covers in its buffer (exact when its slot
  and offset are constants or the loop variables' values are given, the whole buffer when
  they depend on loop variables);
- :func:`effects` — the local regions a statement reads and writes, and the HBM buffers it
  stores to (for one concrete iteration when given the loop variables' values: the loop
  analysis of :mod:`moecc.backend.llvm.parallel_loops` unrolls loop bodies that way);
- :func:`may_read_later` — whether a region may be read again, scanning the statements
  that can run next (the rest of the block, the next iteration of each enclosing loop, what
  follows it) until a statement writes the whole region without reading it. Kernels start
  with no assumption about their local memories (the lowering writes every tile before it
  reads it), so a region nobody reads again before the kernel ends is dead.

Example (one attention head's ``q @ k^T`` as tiled for the ASIC)::

    load %a0[128x64] <- %q[128x64 at 0 pitch 64]       pending: a0 is q's window
    load %b1[128x64] <- %k[128x64 at 0 pitch 64]       pending: b1 is k's window
    matmul %acc2[128x128] <- %a0 @ %b1^T               reads q and k in place
    vpu.mov %o3[128x128] <- %acc2[128x128]             pending: o3 is acc2
    store %s[128x128 at 0 pitch 128] <- %o3            copies acc2 to s: one copy of four
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from moecc.ir.kernel import VECTOR_OPS, Buffer, For, Gather, Load, LocalRef, MatMul, Stmt, Store, Vector


@dataclass(frozen=True, slots=True)
class Region:
    """Bytes ``[start, end)`` of a local buffer; ``start is None``: somewhere in the buffer."""

    buffer: str
    start: int | None = None
    end: int | None = None

    @property
    def exact(self) -> bool:
        return self.start is not None


def local_region(ref: LocalRef, buffers: Mapping[str, Buffer], env: Mapping[str, int] | None = None) -> Region:
    """The bytes ``ref`` covers in its buffer: with ``env`` (loop variable -> value) exactly,
    without it the whole buffer when its slot or offset depends on a loop variable."""
    buf = buffers[ref.buffer]
    if env is not None:
        start = ref.slot.eval(env) * buf.slot_bytes + ref.offset.eval(env) * buf.dtype.itemsize
        return Region(ref.buffer, start, start + ref.rows * ref.cols * buf.dtype.itemsize)
    if ref.slot.terms or ref.offset.terms:
        return Region(ref.buffer)
    start = ref.slot.const * buf.slot_bytes + ref.offset.const * buf.dtype.itemsize
    return Region(ref.buffer, start, start + ref.rows * ref.cols * buf.dtype.itemsize)


def overlaps(a: Region, b: Region) -> bool:
    if a.buffer != b.buffer:
        return False
    if not (a.exact and b.exact):
        return True
    assert a.start is not None and a.end is not None and b.start is not None and b.end is not None
    return a.start < b.end and b.start < a.end


def covers(outer: Region, inner: Region) -> bool:
    """Whether ``outer`` is known to include every byte of ``inner``."""
    if outer.buffer != inner.buffer or not (outer.exact and inner.exact):
        return False
    assert outer.start is not None and outer.end is not None and inner.start is not None and inner.end is not None
    return outer.start <= inner.start and inner.end <= outer.end


@dataclass(frozen=True, slots=True)
class Effects:
    """What one (non-loop) statement reads and writes."""

    reads: tuple[Region, ...]
    writes: tuple[Region, ...]
    hbm_stores: tuple[str, ...] = ()
    #: Regions written only in part (nonzero's index list): they never overwrite a tile whole.
    partial_writes: tuple[Region, ...] = ()

    @property
    def all_writes(self) -> tuple[Region, ...]:
        return self.writes + self.partial_writes


def effects(stmt: Stmt, buffers: Mapping[str, Buffer], env: Mapping[str, int] | None = None) -> Effects:
    """The local regions ``stmt`` reads and writes and the HBM buffers it stores to (exact for
    the loop variables' values ``env`` when given, see :func:`local_region`)."""
    def region(ref: LocalRef) -> Region:
        return local_region(ref, buffers, env)

    if isinstance(stmt, Load):
        return Effects((), (region(stmt.dst),))
    if isinstance(stmt, Store):
        return Effects((region(stmt.src),), (), (stmt.dst.buffer,))
    if isinstance(stmt, Gather):
        return Effects((region(stmt.indices),), (region(stmt.dst),))
    if isinstance(stmt, MatMul):
        reads = (region(stmt.a), region(stmt.w)) + ((region(stmt.dst),) if stmt.accumulate else ())
        return Effects(reads, (region(stmt.dst),))
    if isinstance(stmt, Vector):
        kind = VECTOR_OPS.get(stmt.op)
        reads = tuple(region(ref) for ref in (stmt.a, stmt.b) if ref is not None)
        writes: tuple[Region, ...] = (region(stmt.dst),)
        partial: tuple[Region, ...] = ()
        if kind in ("topk", "nonzero"):
            # b is an output here: top-k's indices, nonzero's count.
            reads = tuple(region(ref) for ref in (stmt.a,) if ref is not None)
            writes += tuple(region(ref) for ref in (stmt.b,) if ref is not None)
        if kind == "nonzero":
            # The list is written only as far as the count of nonzero elements reaches.
            partial, writes = writes[:1], writes[1:]
        if stmt.op == "sel":
            reads += (region(stmt.dst),)  # dst is the 'false' input
        return Effects(reads, writes, partial_writes=partial)
    raise TypeError(f"no effects for {type(stmt).__name__}")


def writes_anywhere(body: Iterable[Stmt], buffers: Mapping[str, Buffer]) -> tuple[list[Region], set[str]]:
    """Every local region and HBM buffer a statement list (loops included) writes."""
    regions: list[Region] = []
    stores: set[str] = set()
    for stmt in body:
        if isinstance(stmt, For):
            inner, inner_stores = writes_anywhere(stmt.body, buffers)
            # Inside the loop a region depending on its variable is a whole-buffer region already.
            regions += inner
            stores |= inner_stores
            continue
        found = effects(stmt, buffers)
        regions += found.all_writes
        stores |= set(found.hbm_stores)
    return regions, stores


def _scan(body: Sequence[Stmt], region: Region, buffers: Mapping[str, Buffer]) -> bool | None:
    """True: ``region`` is read in ``body`` before being overwritten; False: overwritten whole
    first; None: neither (``body`` leaves the question open)."""
    for stmt in body:
        if isinstance(stmt, For):
            if stmt.count <= 0:
                continue
            inner = _scan(stmt.body, region, buffers)
            if inner is not None:
                return inner
            continue
        found = effects(stmt, buffers)
        if any(overlaps(read, region) for read in found.reads):
            return True
        if any(covers(write, region) for write in found.writes):
            return False
    return None


#: Where execution stands: for each enclosing statement list, outermost first, the list, the
#: index of the statement running in it, and whether the list is a loop body.
Frames = Sequence[tuple[Sequence[Stmt], int, bool]]


def may_read_later(region: Region, frames: Frames, buffers: Mapping[str, Buffer], *,
                   from_current: bool = False) -> bool:
    """Whether ``region`` may be read after the current statement (``frames[-1]``; with
    ``from_current``, by it and after it: a loop about to start) before something overwrites
    all of it. Both ways out of a loop body count: another iteration (the body again from its
    start) and leaving the loop; the kernel's end kills everything."""
    for depth in range(len(frames) - 1, -1, -1):
        body, index, is_loop = frames[depth]
        start = index if from_current and depth == len(frames) - 1 else index + 1
        found = _scan(body[start:], region, buffers)
        if found is not None:
            return found
        if is_loop and _scan(body[:index + 1], region, buffers):
            return True  # read by the next iteration; else look past the loop
    return False


__all__ = ["Effects", "Frames", "Region", "covers", "effects", "local_region", "may_read_later", "overlaps",
           "writes_anywhere"]
