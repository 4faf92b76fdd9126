"""Runs of element-wise ``Vector`` statements over the same tile shape → one loop on the CPU.

Where it sits: the CPU code generator (:mod:`moecc.backend.llvm.codegen`) walks a kernel's
statements in order; at each element-wise ``Vector`` statement it asks :func:`plan_run` for
the longest run of consecutive statements that may share one loop, does each statement's
copy-elision bookkeeping, and emits the run with :func:`emit_run` (the per-element values
come from :mod:`moecc.backend.llvm.vector_ops`, as for a single statement). Kernels of the
element-wise fusion pass are chains of such statements over tiles too big for the caches to
hold together; one pass over the elements instead of one per statement makes them read each
input once and write only what is read afterwards.

Example (llama's SiLU*up as tiled for the ASIC)::

    vpu.sigmoid %v2[19x2752] <- %in0[19x2752]            one loop: for each element e
    vpu.mul %v3[19x2752] <- %in0[19x2752], %v2[19x2752]      v2 = sigmoid(in0[e])
    vpu.mul %out4[19x2752] <- %v3[19x2752], %in1[19x2752]    v3 = in0[e] * v2
    store ... <- %out4[19x2752]                              out4[e] = v3 * in1[e]

``v2`` and ``v3`` pass in registers and, dead after the run, are never stored.

A run computes, element by element, what the statements compute one after the other, bit for
bit, because every byte two statements of a run share is used *at the same element*:

- statements are element-wise (binary, unary, convert, scalar ops; no reductions, fills,
  top-k or nonzero) with destinations of one shape;
- where a statement touches bytes another one writes, both see them as the same elements of
  a tile at the same address (``none`` broadcast, the same start): a later reader takes the
  value the earlier statement stored (rounded as stored: bf16, i32 wrap-around), an earlier
  reader reads memory before the later write. A ``row``, ``col`` or ``scalar`` operand
  another statement of the run writes, or tiles overlapping at another offset, end the run;
- a statement reading its own destination at other elements keeps its stores (it reads them
  in the loop, as it does alone);
- a ``vpu.mov`` that copy elision would leave pending joins a run only when a later statement
  of the run writes its destination or its source (which would perform the pending copy);
- a read that copy elision redirects to the source of a pending tile-to-tile copy ends the run
  if a statement of the run writes that source (which would perform the copy part-way).

A destination is stored unless a later statement of the run overwrites it, or the liveness
scan of :mod:`moecc.backend.llvm.copy_elision` proves nothing reads it after the run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from llvmlite import ir

from moecc.backend.llvm.copy_elision import Region, effects, overlaps
from moecc.backend.llvm.vector_ops import (
    ELEMENTWISE_KINDS,
    ElementwiseForm,
    InvalidStatement,
    LoopStatement,
    VectorEmitContext,
    elementwise_form,
    emit_element_loop,
)
from moecc.ir.kernel import VECTOR_OPS, Affine, Buffer, LocalRef, Stmt, Vector
from moecc.ir.types import DType

#: Run consecutive element-wise statements as one loop. Off: one loop per statement, as the
#: ASIC runs them; tests compare the two.
FUSE_VECTOR_LOOPS = True

#: A pending copy as the planner sees it: the tile's region, and the source's when it is local.
PendingCopy = tuple[Region, Region | None]


@dataclass(frozen=True, slots=True)
class FusedRun:
    """Consecutive element-wise statements that run as one loop (see :func:`plan_run`).

    For each statement: ``sources`` gives, per operand, the earlier statement of the run whose
    value it takes (None: read from memory); ``overwritten``, whether a later statement writes
    the same destination; ``rereads_own_dst``, whether it reads its own destination at other
    elements (so its stores must stay)."""

    forms: tuple[ElementwiseForm, ...]
    sources: tuple[tuple[int | None, ...], ...]
    overwritten: tuple[bool, ...]
    rereads_own_dst: tuple[bool, ...]

    @property
    def statements(self) -> tuple[Vector, ...]:
        return tuple(form.stmt for form in self.forms)


@dataclass(frozen=True, slots=True)
class _Access:
    """The bytes one operand or destination covers: from byte ``start`` (an affine expression
    of the loop variables) of ``buffer``; with ``bcast == "none"`` element ``e`` of the loop
    is at ``start + e * itemsize``."""

    buffer: str
    start: Affine
    nbytes: int
    bcast: str


def _access(ref: LocalRef, bcast: str, buffers: dict[str, Buffer]) -> _Access:
    buf = buffers[ref.buffer]
    itemsize = buf.dtype.itemsize
    return _Access(ref.buffer, ref.slot * buf.slot_bytes + ref.offset * itemsize, ref.rows * ref.cols * itemsize, bcast)


def _relation(x: _Access, y: _Access) -> str:
    """``disjoint``, ``aligned`` (the same elements at the same address) or ``overlap``
    (shared bytes at other elements, or offsets whose difference depends on a loop variable)."""
    if x.buffer != y.buffer:
        return "disjoint"
    delta = x.start + y.start * -1
    if delta.terms:
        return "overlap"
    if delta.const >= y.nbytes or -delta.const >= x.nbytes:
        return "disjoint"
    if delta.const == 0 and x.bcast == y.bcast == "none" and x.nbytes == y.nbytes:
        return "aligned"
    return "overlap"


@dataclass(frozen=True, slots=True)
class _Member:
    form: ElementwiseForm
    reads: tuple[_Access, ...]
    write: _Access


def plan_run(body: Sequence[Stmt], start: int, buffers: dict[str, Buffer], *,
             defers_move: Callable[[Vector], bool], pending: Sequence[PendingCopy] = ()) -> FusedRun | None:
    """The longest run of at least two statements from ``body[start]`` that may share one loop
    (see the module docstring), or None. ``defers_move(stmt)``: whether copy elision would
    leave that ``vpu.mov`` pending; ``pending``: the copies pending before ``body[start]``."""
    if not FUSE_VECTOR_LOOPS:
        return None
    members: list[_Member] = []
    for stmt in body[start:]:
        member = _member(stmt, buffers)
        if member is None or (members and member.form.shape != members[0].form.shape):
            break
        if any(_conflicts(earlier, member) for earlier in members):
            break
        if _disturbs_pending_source([m.form.stmt for m in members] + [stmt], buffers, pending):
            break
        members.append(member)
    members = _justify_moves(members, buffers, defers_move)
    if len(members) < 2:
        return None
    sources = tuple(tuple(_forwarded(members, k, read) for read in member.reads) for k, member in enumerate(members))
    overwritten = tuple(any(_relation(member.write, later.write) == "aligned" for later in members[k + 1:])
                        for k, member in enumerate(members))
    rereads = tuple(any(_relation(read, member.write) == "overlap" for read in member.reads) for member in members)
    return FusedRun(tuple(m.form for m in members), sources, overwritten, rereads)


def _member(stmt: Stmt, buffers: dict[str, Buffer]) -> _Member | None:
    """The statement's form and accesses if it is a valid element-wise statement (an invalid
    one is left to the single-statement lowering, which reports it)."""
    if not isinstance(stmt, Vector) or VECTOR_OPS.get(stmt.op) not in ELEMENTWISE_KINDS:
        return None

    def dtype_of(ref: LocalRef) -> DType:
        buf = buffers.get(ref.buffer)
        if buf is None:
            raise InvalidStatement(f"unknown local buffer '{ref.buffer}'")
        return buf.dtype

    try:
        form = elementwise_form(stmt, dtype_of)
    except InvalidStatement:
        return None
    reads = tuple(_access(operand.ref, operand.bcast, buffers) for operand in form.operands)
    return _Member(form, reads, _access(stmt.dst, "none", buffers))


def _conflicts(earlier: _Member, later: _Member) -> bool:
    """Whether the two statements share a byte (one of them writing it) at different elements."""
    pairs = [(earlier.write, later.write)]
    pairs += [(earlier.write, read) for read in later.reads]
    pairs += [(read, later.write) for read in earlier.reads]
    return any(_relation(x, y) == "overlap" for x, y in pairs)


def _disturbs_pending_source(statements: Sequence[Vector], buffers: dict[str, Buffer],
                             pending: Sequence[PendingCopy]) -> bool:
    """Whether the statements read the tile of a pending tile-to-tile copy (a read copy elision
    may redirect to the source) and write that source: the statements before the write would
    read the source in place, the loop interleaving them with the write."""
    if all(source is None for _, source in pending):
        return False
    found = [effects(stmt, buffers) for stmt in statements]
    reads = [region for f in found for region in f.reads]
    writes = [region for f in found for region in f.all_writes]
    return any(source is not None and any(overlaps(r, tile) for r in reads) and any(overlaps(w, source) for w in writes)
               for tile, source in pending)


def _justify_moves(members: list[_Member], buffers: dict[str, Buffer],
                   defers_move: Callable[[Vector], bool]) -> list[_Member]:
    """Cut the run before the first ``vpu.mov`` that copy elision would rather leave pending:
    one whose destination and source no later statement of the run writes (such a write
    would make the copy happen anyway, so the run computes it in the loop instead)."""
    while True:
        for k, member in enumerate(members):
            stmt = member.form.stmt
            if not defers_move(stmt):
                continue
            assert stmt.a is not None  # a deferrable mov has its operand
            touched = [effects(stmt, buffers).writes[0], effects(stmt, buffers).reads[0]]
            later_writes = [w for m in members[k + 1:] for w in effects(m.form.stmt, buffers).all_writes]
            if not any(overlaps(w, region) for w in later_writes for region in touched):
                members = members[:k]
                break
        else:
            return members


def _forwarded(members: Sequence[_Member], k: int, read: _Access) -> int | None:
    """The latest statement before ``k`` whose destination ``read`` reads element for element."""
    for i in range(k - 1, -1, -1):
        if _relation(members[i].write, read) == "aligned":
            return i
    return None


def emit_run(ctx: VectorEmitContext, run: FusedRun, operand_pointer: Callable[[int, LocalRef], ir.Value],
             dst_pointer: Callable[[LocalRef], ir.Value], live_after: Callable[[LocalRef], bool]) -> None:
    """Emit ``run`` as one loop at the builder's position. ``operand_pointer(k, ref)``: where
    statement ``k`` reads ``ref`` (copy elision may redirect it); ``dst_pointer(ref)``: the
    tile itself; ``live_after(ref)``: whether the tile may be read after the run."""
    statements = []
    for k, form in enumerate(run.forms):
        sources = tuple(operand_pointer(k, operand.ref) if source is None else source
                        for operand, source in zip(form.operands, run.sources[k]))
        dst = form.stmt.dst
        stored = run.rereads_own_dst[k] or (not run.overwritten[k] and live_after(dst))
        statements.append(LoopStatement(form, sources, dst_pointer(dst) if stored else None))
    emit_element_loop(ctx, statements, label=f"fused{len(statements)}")


__all__ = ["FUSE_VECTOR_LOOPS", "FusedRun", "PendingCopy", "emit_run", "plan_run"]
