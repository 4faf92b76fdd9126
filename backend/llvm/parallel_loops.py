"""Which top-level loops of a kernel may run their iterations on several threads at once.

Where it sits: the CPU code generator (:mod:`moecc.backend.llvm.codegen`) asks
:func:`analyse_loop` about every ``For`` at the top of a kernel body. A loop found independent
is emitted as an outlined *chunk function* that runs iterations ``[begin, end)`` on one
thread's scratch arena, handed to the program's thread pool; every other loop is emitted in
place, as before. This module is pure kernel-IR analysis (no LLVM): it proves, from the
static trip counts and affine offsets, that running the iterations in any order, on scratch
arenas of their own, computes what the sequential loop computes:

- **HBM.** The loop reads no HBM byte it stores to (compared by the buffers' planned byte
  extents, so aliasing buffers count as one), and the bytes different iterations store to do
  not overlap (every iteration's store windows are enumerated concretely, row by row).
- **Local memory.** Unrolling an iteration's inner loops concretely, every byte of SRAM or
  accumulator the iteration reads is either written earlier *in the same iteration*, or
  written by no iteration at all. The latter bytes must come from *prologue* statements
  before the loop (loads from HBM, vector ops such as fills), which every chunk repeats on its
  own scratch: :attr:`ParallelLoop.prologue` is the backward slice of those statements.
  (A ``nonzero`` list is written only in part, so it never counts as written.)
- **After the loop.** No local byte the loop writes is read after it before being
  overwritten (each thread's scratch ends with the last iteration *it* ran).

Faults (gather index, ``nonzero`` overflow) are allowed: the code generator reports the one
of the lowest faulting iteration, which is what the sequential loop reports. A verdict also
estimates the loop's work (:attr:`ParallelLoop.work`); the code generator splits only loops
worth the hand-off (``codegen.PARALLEL_MIN_LOOP_WORK``). A prologue costing more than an
iteration keeps the loop sequential: every chunk repeats it.

Example (the llama block's scaled, masked softmax over heads, as tiled for the ASIC)::

    load %in1[1x1] <- %scale[1x1 at 0 pitch 1]                    prologue: every chunk repeats it
    for %o8 = 0 to 4 {
      load %in0[128x128] <- %scores[128x128 at 16384*%o8 pitch 128]   written in the iteration
      load %in2[128x128] <- %mask[128x128 at 0 pitch 128]             (the same window each time)
      vpu.mul %v3[128x128] <- %in0[128x128], %in1[1x1] {bcast = scalar}   in1: from the prologue
      ...
      vpu.exp %out5[128x128] <- %tmp6[128x128]
      ...
      store %probs[128x128 at 16384*%o8 pitch 128] <- %out5[128x128]  disjoint per iteration
    }
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from moecc.backend.llvm.copy_elision import Region, effects, writes_anywhere
from moecc.ir.kernel import (
    VECTOR_OPS,
    Buffer,
    For,
    Gather,
    Kernel,
    Load,
    LocalRef,
    MatMul,
    Stmt,
    Store,
    Vector,
    local_refs,
    walk,
)

#: Statement instances (inner loops unrolled) the local-memory analysis simulates at most;
#: a bigger loop is left sequential rather than slow to compile.
MAX_ANALYSED_STATEMENTS = 20_000
#: Row windows of HBM stores the disjointness check enumerates at most.
MAX_STORE_ROWS = 4_000_000
#: A matmul's multiply-adds per unit of :attr:`ParallelLoop.work`: the blocked sgemm does
#: about 32 per nanosecond on one core, where element-wise code does about one element.
MATMUL_MACS_PER_ELEMENT = 32


@dataclass(frozen=True, slots=True)
class ParallelLoop:
    """A top-level loop whose iterations are independent."""

    position: int  # index of the loop in the kernel body
    loop: For
    #: Statements before the loop (in order) whose local results the loop reads: every chunk
    #: of the loop runs them first on its thread's scratch arena.
    prologue: tuple[Stmt, ...]
    #: Estimated cost of the whole loop in element operations (about a nanosecond each on one
    #: core): element-wise ops count their elements, stores their elements, matmuls their
    #: multiply-adds / :data:`MATMUL_MACS_PER_ELEMENT`; loads and moves count nothing (copy
    #: elision usually leaves them pending and their readers read the source in place).
    work: int
    #: Flops (2*M*N*K) of the biggest matmul in the body (0: none).
    matmul_flops: int


@dataclass(frozen=True, slots=True)
class SequentialLoop:
    """A top-level loop that must run in order, and why."""

    position: int
    reason: str


LoopVerdict = ParallelLoop | SequentialLoop


def analyse_loops(kernel: Kernel, hbm: Mapping[str, Buffer]) -> dict[int, LoopVerdict]:
    """The verdict on every top-level ``For`` of ``kernel``, by position in its body."""
    return {position: analyse_loop(kernel, position, hbm)
            for position, stmt in enumerate(kernel.body) if isinstance(stmt, For)}


def analyse_loop(kernel: Kernel, position: int, hbm: Mapping[str, Buffer]) -> LoopVerdict:
    """Whether the top-level loop ``kernel.body[position]`` may run its iterations in any order
    on per-thread scratch arenas (``hbm``: the module's planned HBM buffers by name)."""
    loop = kernel.body[position]
    if not isinstance(loop, For):
        raise TypeError(f"kernel {kernel.name}: statement {position} is not a loop")
    local = {b.name: b for b in kernel.buffers}

    def sequential(reason: str) -> SequentialLoop:
        return SequentialLoop(position, reason)

    if loop.count < 2:
        return sequential("fewer than two iterations")
    per_iteration = _instance_count(loop.body)
    varies = any(loop.var in ref.slot.variables or loop.var in ref.offset.variables
                 for stmt, _ in walk(loop.body) for _, ref in local_refs(stmt))
    if per_iteration * (loop.count if varies else 1) > MAX_ANALYSED_STATEMENTS:
        return sequential(f"too many statements to analyse ({per_iteration} per iteration)")

    reason = _hbm_reason(loop, hbm)
    if reason:
        return sequential(reason)

    # Local memory, one iteration at a time (one stands for all when no local tile moves
    # with the loop variable).
    needed = _Bytes(local)  # read before the iteration writes them
    written_by_loop = _Bytes(local)
    for iteration in range(loop.count if varies else 1):
        written = _Bytes(local)
        for stmt, env in _instances(loop.body, {loop.var: iteration}):
            found = effects(stmt, local, env)
            for region in found.reads:
                needed.add_missing(region, written)
            for region in found.writes:
                written.add(region)
            for region in found.all_writes:
                written_by_loop.add(region)
    if needed.intersects(written_by_loop):
        return sequential("an iteration reads local memory it did not write, which the loop writes "
                          "(values carried from one iteration to the next)")
    read = _read_before_overwritten(kernel.body[position + 1:], written_by_loop, local)
    if read is not None:
        return sequential(f"local buffer {read.buffer} is written by the loop and read after it")

    prologue = _prologue(kernel, position, needed, hbm)
    if isinstance(prologue, str):
        return sequential(prologue)
    iteration_work = sum(_work(stmt) * _trips(ranges) for stmt, ranges in walk(loop.body))
    repeated = sum(_work(stmt) for stmt in prologue)
    if repeated > iteration_work:
        # Every chunk repeats the prologue, and a chunk may be a single iteration.
        return sequential(f"the prologue to repeat per chunk ({repeated}) is too costly for an iteration "
                          f"({iteration_work})")
    flops = max((2 * s.a.rows * s.w_shape[0] * s.w_shape[1] for s, _ in walk(loop.body) if isinstance(s, MatMul)),
                default=0)
    return ParallelLoop(position, loop, prologue, iteration_work * loop.count, flops)


# -- HBM --------------------------------------------------------------------------------------

def _hbm_reason(loop: For, hbm: Mapping[str, Buffer]) -> str | None:
    """Why the loop's HBM accesses forbid reordering its iterations (None: they do not)."""
    stored = {stmt.dst.buffer for stmt, _ in walk(loop.body) if isinstance(stmt, Store)}
    read = {_hbm_source(stmt) for stmt, _ in walk(loop.body) if isinstance(stmt, (Load, Gather))}
    for name in sorted(read):
        clash = next((s for s in sorted(stored) if _extents_overlap(hbm[name], hbm[s])), None)
        if clash is not None:
            return f"the loop reads HBM buffer {name} and stores to {clash}, which share bytes"
    windows = [(stmt, ranges) for stmt, ranges in walk(loop.body, {loop.var: loop.count}) if isinstance(stmt, Store)]
    rows = sum(stmt.dst.rows * _trips(ranges) for stmt, ranges in windows)
    if rows > MAX_STORE_ROWS:
        return f"too many store rows to compare ({rows})"
    if windows and not _disjoint_across_iterations(*_store_intervals(loop.var, windows, hbm)):
        return "different iterations store to the same HBM bytes"
    return None


def _hbm_source(stmt: Load | Gather) -> str:
    return stmt.src.buffer if isinstance(stmt, Load) else stmt.table.buffer


def _extent(buf: Buffer) -> tuple[int, int]:
    assert buf.offset is not None, f"HBM buffer {buf.name} is not planned"
    return buf.offset, buf.offset + buf.nbytes


def _extents_overlap(a: Buffer, b: Buffer) -> bool:
    (a0, a1), (b0, b1) = _extent(a), _extent(b)
    return a0 < b1 and b0 < a1


def _store_intervals(var: str, windows: Sequence[tuple[Store, dict[str, int]]], hbm: Mapping[str, Buffer]
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heap byte ranges ``[start, end)`` of every row every store writes, with the iteration of
    the loop over ``var`` that writes it."""
    starts, ends, iterations = [], [], []
    for stmt, ranges in windows:
        window = stmt.dst
        buf = hbm[window.buffer]
        names = list(ranges)
        shape = [ranges[name] for name in names]
        offsets = np.full(shape, window.offset.const, dtype=np.int64)
        for name, coef in window.offset.terms:
            axis = names.index(name)
            offsets = offsets + coef * np.arange(ranges[name], dtype=np.int64).reshape(
                [-1 if i == axis else 1 for i in range(len(names))])
        iteration = np.broadcast_to(np.arange(ranges[var], dtype=np.int64).reshape(
            [-1 if name == var else 1 for name in names]), shape).reshape(-1)
        offsets = offsets.reshape(-1)
        if window.pitch == window.cols or window.rows == 1:
            row_starts, length = offsets, window.rows * window.cols  # the rows are contiguous
        else:
            row_starts = (offsets[:, None] + np.arange(window.rows, dtype=np.int64) * window.pitch).reshape(-1)
            iteration = np.repeat(iteration, window.rows)
            length = window.cols
        base = _extent(buf)[0]
        first = base + row_starts * buf.dtype.itemsize
        starts.append(first)
        ends.append(first + length * buf.dtype.itemsize)
        iterations.append(iteration)
    return np.concatenate(starts), np.concatenate(ends), np.concatenate(iterations)


def _disjoint_across_iterations(starts: np.ndarray, ends: np.ndarray, iterations: np.ndarray) -> bool:
    """Whether no byte is in ranges of two different iterations (ranges of one iteration may
    overlap each other)."""
    # Merge each iteration's ranges: laid out one iteration after another (keys iteration*span
    # + byte), a running maximum of the ends finds the overlapping runs without crossing from
    # one iteration into the next.
    span = int(ends.max()) + 1
    keys, key_ends = iterations * span + starts, iterations * span + ends
    order = np.argsort(keys, kind="stable")
    keys, key_ends = keys[order], key_ends[order]
    reach = np.maximum.accumulate(key_ends)
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] >= reach[:-1]
    run_starts = keys[first]
    run_ends = np.maximum.reduceat(key_ends, np.flatnonzero(first))
    owner = run_starts // span
    run_starts, run_ends = run_starts - owner * span, run_ends - owner * span
    # The runs of one iteration are disjoint, so any overlap left is between two iterations.
    order = np.argsort(run_starts, kind="stable")
    run_starts, run_ends = run_starts[order], run_ends[order]
    return bool(np.all(run_starts[1:] >= np.maximum.accumulate(run_ends)[:-1]))


# -- local memory -----------------------------------------------------------------------------

class _Bytes:
    """A set of bytes of the kernel's local buffers (a bitmap per buffer)."""

    def __init__(self, buffers: Mapping[str, Buffer]) -> None:
        self.buffers = buffers
        self.maps: dict[str, np.ndarray] = {}

    def _map(self, name: str) -> np.ndarray:
        found = self.maps.get(name)
        if found is None:
            found = self.maps[name] = np.zeros(self.buffers[name].nbytes, dtype=bool)
        return found

    def add(self, region: Region) -> None:
        self._map(region.buffer)[region.start:region.end] = True

    def remove(self, region: Region) -> None:
        if region.buffer in self.maps:
            self.maps[region.buffer][region.start:region.end] = False

    def add_missing(self, region: Region, present: _Bytes) -> None:
        """Add the bytes of ``region`` that ``present`` lacks."""
        have = present.maps.get(region.buffer)
        part = self._map(region.buffer)[region.start:region.end]
        if have is None:
            part[:] = True
        else:
            part |= ~have[region.start:region.end]

    def touches(self, region: Region) -> bool:
        """Whether the set holds any byte of ``region`` (anywhere in its buffer if inexact)."""
        found = self.maps.get(region.buffer)
        return found is not None and bool(found[region.start:region.end].any())

    def intersects(self, other: _Bytes) -> bool:
        return any(name in other.maps and bool((bits & other.maps[name]).any()) for name, bits in self.maps.items())

    def empty(self) -> bool:
        return not any(bits.any() for bits in self.maps.values())


def _read_before_overwritten(body: Sequence[Stmt], live: _Bytes, local: Mapping[str, Buffer]) -> Region | None:
    """The first region ``body`` reads that holds bytes of ``live`` not overwritten before (None:
    no such read). ``live`` loses the bytes ``body`` overwrites."""
    for stmt in body:
        if isinstance(stmt, For):
            # Inside a loop any read may come first: none may touch a live byte. Then the
            # constant tiles it writes whole are overwritten (when it runs at all).
            for inner, ranges in walk(stmt.body, {stmt.var: stmt.count}):
                read = next((r for r in effects(inner, local).reads if live.touches(r)), None)
                if read is not None:
                    return read
            for inner, ranges in walk(stmt.body, {stmt.var: stmt.count}):
                if all(ranges.values()):
                    for region in effects(inner, local).writes:
                        if region.exact:
                            live.remove(region)
            continue
        found = effects(stmt, local, {})
        read = next((r for r in found.reads if live.touches(r)), None)
        if read is not None:
            return read
        for region in found.writes:
            live.remove(region)
    return None


def _prologue(kernel: Kernel, position: int, needed: _Bytes, hbm: Mapping[str, Buffer]) -> tuple[Stmt, ...] | str:
    """The statements before the loop that produce the local bytes ``needed`` (the backward
    slice, in program order), or why they cannot be repeated per chunk."""
    local = {b.name: b for b in kernel.buffers}
    slice_: list[int] = []
    for index in range(position - 1, -1, -1):
        stmt = kernel.body[index]
        if isinstance(stmt, For):
            regions, _ = writes_anywhere(stmt.body, local)
            if any(needed.touches(region) for region in regions):
                return f"the loop reads local memory the loop at statement {index} writes"
            continue
        found = effects(stmt, local, {})
        if not any(needed.touches(region) for region in found.all_writes):
            continue
        if not _repeatable(stmt):
            return f"the loop reads local memory a {type(stmt).__name__} before it writes (not repeatable per chunk)"
        if isinstance(stmt, Load):
            # The HBM it reads must still hold the same bytes when a chunk repeats the load.
            source = hbm[stmt.src.buffer]
            _, stores = writes_anywhere(kernel.body[index + 1:position + 1], local)
            clash = next((s for s in sorted(stores) if _extents_overlap(source, hbm[s])), None)
            if clash is not None:
                return f"the prologue load of {stmt.src.buffer} would see the stores to {clash}"
        for region in found.writes:
            needed.remove(region)
        for region in found.reads:
            needed.add(region)
        slice_.append(index)
    if not needed.empty():
        return "the loop reads local memory nothing before it writes"
    return tuple(kernel.body[index] for index in reversed(slice_))


def _repeatable(stmt: Stmt) -> bool:
    """Statements a chunk may repeat: loads and vector ops (not ``nonzero``, which writes its
    list only in part and may fault)."""
    return isinstance(stmt, Load) or (isinstance(stmt, Vector) and VECTOR_OPS.get(stmt.op) != "nonzero")


# -- unrolling and cost -----------------------------------------------------------------------

def _instances(body: Sequence[Stmt], env: dict[str, int]) -> Iterator[tuple[Stmt, dict[str, int]]]:
    """Every statement instance of ``body`` in execution order, with its loop variables' values."""
    for stmt in body:
        if isinstance(stmt, For):
            for value in range(stmt.count):
                yield from _instances(stmt.body, {**env, stmt.var: value})
        else:
            yield stmt, env


def _instance_count(body: Sequence[Stmt]) -> int:
    return sum(stmt.count * _instance_count(stmt.body) if isinstance(stmt, For) else 1 for stmt in body)


def _trips(ranges: Mapping[str, int]) -> int:
    count = 1
    for trips in ranges.values():
        count *= trips
    return count


def _elements(ref: LocalRef) -> int:
    return ref.rows * ref.cols


def _work(stmt: Stmt) -> int:
    """Cost of one instance in element operations (see :attr:`ParallelLoop.work`)."""
    if isinstance(stmt, MatMul):
        k, n = stmt.w_shape
        return max(1, stmt.a.rows * n * k // MATMUL_MACS_PER_ELEMENT)
    if isinstance(stmt, Vector):
        if stmt.op == "mov" and stmt.bcast == "none":
            return 0  # usually left pending, like a load
        source = stmt.a if stmt.a is not None and VECTOR_OPS.get(stmt.op) in ("reduce", "topk", "nonzero") else stmt.dst
        return _elements(source)
    if isinstance(stmt, (Store, Gather)):
        return _elements(stmt.src if isinstance(stmt, Store) else stmt.dst)
    return 0


__all__ = ["MATMUL_MACS_PER_ELEMENT", "MAX_ANALYSED_STATEMENTS", "MAX_STORE_ROWS", "LoopVerdict", "ParallelLoop",
           "SequentialLoop", "analyse_loop", "analyse_loops"]
