"""The kernel being staged: its SRAM/accumulator buffers, temporaries, loop nest and 2-D tiles.

A :class:`KernelStager` builds one kernel-IR :class:`~moecc.ir.kernel.Kernel` from one tiled
kernel. Every statement works on 2-D *regions* (:class:`Region`: a strided ``rows x cols``
window of a tiled buffer inside the current loops) and brings them into SRAM *tiles*
(:class:`Tile`: a contiguous kernel-IR ``LocalRef`` plus its dtype and broadcast kind):

- a region of a global buffer is loaded (``Load``: one strided DMA when its columns are
  contiguous; a column, row or scalar when it broadcasts; row by row or element by element
  otherwise) into a temporary;
- a region of a local buffer *is* a tile when it is contiguous in that buffer, else it is
  gathered row by row (``vpu.mov``) into a temporary;
- writing a tile stores it (``Store``) or moves it (``vpu.mov``) the same way.

Temporaries come from a per-kernel pool keyed by space, dtype and shape: staging one tiled
statement takes temporaries, the next statement reuses them (they never live across
kernel-level statements; the statements of one loop body keep theirs apart, so a region a
statement of the body loaded is reused by the next one reading it, not loaded again), so a
kernel's SRAM is its tiled locals plus the largest statement's scratch. Loop-invariant work
is *hoisted* (:meth:`KernelStager.hoisted`) before the loops it does not depend on; its
temporaries stay out of the pool until the kernel-level statement ends (or, kept, until the
kernel ends), and a region moving only in inner loops can be loaded for all their iterations
at once (:meth:`KernelStager.blocked_loops`).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from moecc.errors import UnsupportedError
from moecc.ir.affine import Affine
from moecc.ir.kernel import VECTOR_OPS, Buffer, Count, For, HbmRef, Load, LocalRef, Stmt, Store, Vector
from moecc.ir.kernel import Gather as KGather
from moecc.ir.types import DType

#: Times the loops a blocked region does not move in must run for :meth:`KernelStager.blocked_loops`.
MIN_BLOCK_REUSE = 3
#: Broadcast kinds of a tile: its shape for an ``R x C`` statement is R x C, 1 x C, R x 1, 1 x 1.
KINDS: tuple[str, ...] = ("full", "row", "col", "scalar")


class NotStageable(UnsupportedError):
    """A tiled kernel uses something the ASIC's kernel IR cannot express; the kernel then runs
    as a host step, and this error's message is the reason recorded for it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, remedy="the kernel runs on the host (the reason is in report()['partition']['host_ops'])")


@dataclass(frozen=True, slots=True)
class Region:
    """``rows x cols`` elements of tiled buffer ``buffer``: element ``(r, c)`` is flat element
    ``offset + r*rstride + c*cstride`` (strides in elements; 0 broadcasts)."""

    buffer: str
    offset: Affine
    rows: int
    cols: int
    rstride: int
    cstride: int

    @property
    def kind(self) -> str:
        row_bcast = self.rows == 1 or self.rstride == 0
        col_bcast = self.cols == 1 or self.cstride == 0
        if row_bcast and col_bcast:
            return "scalar"
        if row_bcast:
            return "row"
        if col_bcast:
            return "col"
        return "full"


@dataclass(frozen=True, slots=True)
class Tile:
    """A contiguous tile in SRAM or the accumulator: ``kind`` says which shape of an ``R x C``
    statement it holds (``row``: 1 x C broadcast down the rows, ...)."""

    ref: LocalRef
    dtype: DType
    kind: str
    space: str = "sram"


def kind_shape(kind: str, rows: int, cols: int) -> tuple[int, int]:
    return {"full": (rows, cols), "row": (1, cols), "col": (rows, 1), "scalar": (1, 1)}[kind]


def join_kinds(*kinds: str) -> str:
    """The kind of an element-wise result of operands of ``kinds``."""
    has_rows = any(k in ("full", "col") for k in kinds)
    has_cols = any(k in ("full", "row") for k in kinds)
    return "full" if has_rows and has_cols else "col" if has_rows else "row" if has_cols else "scalar"


def bcast_mode(operand: str, result: str) -> str:
    """The VPU ``bcast`` field reading an operand of kind ``operand`` over a ``result`` tile."""
    if operand == result:
        return "none"
    if operand == "scalar":
        return "scalar"
    if result == "full":
        return operand
    raise NotStageable(f"a {operand} operand cannot broadcast onto a {result} result")


def substitute(affine: Affine, var: str, replacement: Affine) -> Affine:
    """``affine`` with loop variable ``var`` replaced by ``replacement``."""
    out = Affine(affine.const, tuple((v, c) for v, c in affine.terms if v != var))
    for v, c in affine.terms:
        if v == var:
            out = out + replacement * c
    return out


@dataclass(slots=True)
class KernelStager:
    """Buffers and the statement list of one kernel being staged (see the module docstring).

    ``locals_`` maps each tiled local buffer to its kernel-IR buffer (SRAM, or the accumulator
    for matmul destinations); ``global_dtypes`` gives each global buffer's HBM storage dtype."""

    name: str
    global_dtypes: dict[str, DType]
    locals_: dict[str, Buffer] = field(default_factory=dict)
    temps: list[Buffer] = field(default_factory=list)
    _pool_used: dict[tuple[str, DType, int, int], int] = field(default_factory=dict)
    _bodies: list[list[Stmt]] = field(default_factory=lambda: [[]])
    _loop_vars: list[str] = field(default_factory=list)  # variable of each open loop (_bodies[i + 1])
    _loop_counts: list[int] = field(default_factory=list)  # trip count of each open loop (a bound if dynamic)
    _loop_dynamic: list[bool] = field(default_factory=list)  # whether each open loop's count is read at run time
    _pinned: set[str] = field(default_factory=set)  # hoisted temporaries: out of the pool until release()
    _kept: set[str] = field(default_factory=set)  # temporaries out of the pool for the whole kernel
    _taken: list[list[str]] = field(default_factory=list)  # temporaries taken inside each open hoisted()
    _loaded: dict[tuple, Tile] = field(default_factory=dict)  # global regions loaded in the current body
    _vars: Iterator[int] = field(default_factory=itertools.count)
    slow_paths: int = 0  # element-by-element DMAs or moves (views no 2-D window expresses)
    loop_depth: int = 0  # tiled loops around the statement being staged

    # -- statements and loops -------------------------------------------------------------
    def emit(self, stmt: Stmt) -> None:
        self._bodies[-1].append(stmt)

    @property
    def body(self) -> tuple[Stmt, ...]:
        assert len(self._bodies) == 1
        return tuple(self._bodies[0])

    @contextmanager
    def loop(self, count: int, var: str | None = None, dynamic: Count | None = None) -> Iterator[Affine]:
        """Emit ``for var = 0 to count`` around what the block emits; yields the variable. With
        ``dynamic``, the trip count is that SRAM cell's value at run time and ``count`` its bound."""
        var = var or f"_s{next(self._vars)}"
        self._loaded.clear()
        self._bodies.append([])
        self._loop_vars.append(var)
        self._loop_counts.append(count)
        self._loop_dynamic.append(dynamic is not None)
        try:
            yield Affine.of(var)
        finally:
            body = self._bodies.pop()
            self._loop_vars.pop()
            self._loop_counts.pop()
            self._loop_dynamic.pop()
            self._loaded.clear()
        if body and count > 0:
            self.emit(For(var, dynamic, tuple(body), max_count=count) if dynamic is not None
                      else For(var, count, tuple(body)))

    @property
    def in_dynamic_loop(self) -> bool:
        """Whether a loop with a run-time trip count is open."""
        return any(self._loop_dynamic)

    def pin(self, name: str) -> None:
        """Keep temporary ``name`` out of the pool until :meth:`release`."""
        self._pinned.add(name)

    @contextmanager
    def hoisted(self, *offsets: Affine, keep: bool = False, level: int | None = None) -> Iterator[None]:
        """Emit the block's statements before the outermost open loop none of ``offsets``
        depends on (loop-invariant work, e.g. a gather's indices or a matmul operand reused
        across the output tiles, runs once). Temporaries the block takes stay out of the pool
        until :meth:`release` (the end of the kernel-level statement), so that no statement
        inside the loops reuses them; with ``keep``, for the rest of the kernel (a tile later
        statements read again). ``level`` overrides where (the loops left open around it)."""
        if level is None:
            level = self.invariant_level(*offsets)
        # Never hoist over a loop that does not run (its body's reads are not bounds-checked).
        level = max([level] + [i + 1 for i, n in enumerate(self._loop_counts) if n < 1])
        moved = level < len(self._loop_vars)
        inner, inner_vars = self._bodies[level + 1:], self._loop_vars[level:]
        inner_counts, inner_dynamic = self._loop_counts[level:], self._loop_dynamic[level:]
        del self._bodies[level + 1:], self._loop_vars[level:], self._loop_counts[level:], self._loop_dynamic[level:]
        self._taken.append([])
        try:
            yield
        finally:
            taken = self._taken.pop()
            if keep:
                self._kept.update(taken)
            elif moved:
                self._pinned.update(taken)
            elif self._taken:
                self._taken[-1].extend(taken)
            self._bodies.extend(inner)
            self._loop_vars.extend(inner_vars)
            self._loop_counts.extend(inner_counts)
            self._loop_dynamic.extend(inner_dynamic)

    def invariant_level(self, *offsets: Affine) -> int:
        """The open loops the innermost one ``offsets`` depend on is among (0: none)."""
        used = {v for offset in offsets for v in offset.variables}
        return max((i + 1 for i, var in enumerate(self._loop_vars) if var in used), default=0)

    def blocked_loops(self, offset: Affine, blocks_fit) -> tuple[int, list[tuple[str, int]]] | None:
        """Where a region moving with ``offset`` can be loaded for all its positions at once:
        (level, loops) when, inside the ``level``-th open loop (which it does not move in),
        it moves only in ``loops`` (variable, count; outermost first), and ``blocks_fit(n)``
        accepts the product ``n`` of their counts. The outermost such level is taken. A
        contraction's operand then loads every ``k`` (and ``n``) block once, before the loop
        over row blocks or output tiles, instead of once per output tile."""
        used = set(offset.variables)
        depth = len(self._loop_vars)
        if any(n < 1 for n in self._loop_counts) or any(self._loop_dynamic):
            return None
        last_used = max((i for i in range(depth) if self._loop_vars[i] in used), default=-1)
        for level in range(last_used):
            if self._loop_vars[level] in used:
                continue
            loops = [(self._loop_vars[i], self._loop_counts[i]) for i in range(level, depth) if self._loop_vars[i] in used]
            count = reuse = 1
            for _, n in loops:
                count *= n
            for i in range(level, depth):
                if self._loop_vars[i] not in used:
                    reuse *= self._loop_counts[i]
            # The blocks load before the loops start, ahead of what the first iteration needs
            # on the (in-order) load queue: worth it when they spare at least two reloads.
            if reuse >= MIN_BLOCK_REUSE and blocks_fit(count):
                return level, loops
        return None

    def open_ranges(self) -> dict[str, int]:
        """Trip count (a bound if run-time) of every open loop, by variable."""
        return dict(zip(self._loop_vars, self._loop_counts))

    @property
    def depth(self) -> int:
        """Loops open around what is being emitted."""
        return len(self._loop_vars)

    def kept_bytes(self) -> int:
        """SRAM the temporaries kept for the whole kernel take."""
        return sum(b.nbytes for b in self.temps if b.name in self._kept)

    def release(self) -> None:
        """A kernel-level statement is done: hoisted temporaries return to the pool."""
        self._pinned.clear()

    def blocks(self, total: int, size: int) -> Iterator[tuple[Affine, int]]:
        """(start, length) blocks covering ``range(total)``: full blocks under one loop, then the
        edge block. Use as ``for start, n in stager.blocks(..)`` inside the caller's emission."""
        size = max(1, min(size, total))
        full, edge = divmod(total, size)
        if full == 1:
            yield Affine(), size
        elif full > 1:
            with self.loop(full) as v:
                yield v * size, size
        if edge:
            yield Affine(full * size), edge

    # -- temporaries ----------------------------------------------------------------------
    def new_statement(self) -> None:
        """Temporaries taken so far may be reused: the previous tiled statement is done."""
        self._pool_used.clear()
        self._loaded.clear()

    def temp(self, dtype: DType, rows: int, cols: int, space: str = "sram") -> LocalRef:
        key = (space, dtype, rows, cols)
        index = self._pool_used.get(key, 0)
        self._pool_used[key] = index + 1
        matches = [b for b in self.temps if (b.space, b.dtype, b.shape) == (space, dtype, (rows, cols))
                   and b.name not in self._pinned and b.name not in self._kept]
        if index < len(matches):
            buf = matches[index]
        else:
            buf = Buffer(f"{'a' if space == 'acc' else 't'}{len(self.temps)}_{dtype}_{rows}x{cols}", space, dtype,
                         (rows, cols))
            self.temps.append(buf)
        if self._taken:
            self._taken[-1].append(buf.name)
        return LocalRef(buf.name, rows, cols)

    def temp_tile(self, dtype: DType, kind: str, rows: int, cols: int, space: str = "sram") -> Tile:
        r, c = kind_shape(kind, rows, cols)
        return Tile(self.temp(dtype, r, c, space), dtype, kind, space)

    # -- reading regions into tiles -------------------------------------------------------
    def dtype_of(self, buffer: str) -> DType:
        if buffer in self.locals_:
            return self.locals_[buffer].dtype
        return self.global_dtypes[buffer]

    def read(self, region: Region) -> Tile:
        """The region as a tile (its broadcast kind kept: a stride-0 axis is not repeated)."""
        kind = region.kind
        rows, cols = kind_shape(kind, region.rows, region.cols)
        rstride = region.rstride if kind in ("full", "col") else 0
        cstride = region.cstride if kind in ("full", "row") else 0
        if kind == "col":  # a column is a line of `rows` elements: read it as 1 x rows, use as rows x 1
            line = self._read_2d(region.buffer, region.offset, 1, rows, 0, rstride)
            return Tile(LocalRef(line.ref.buffer, rows, 1, line.ref.offset, line.ref.slot), line.dtype, "col", line.space)
        tile = self._read_2d(region.buffer, region.offset, rows, cols, rstride, cstride)
        return Tile(tile.ref, tile.dtype, kind, tile.space)

    def _read_2d(self, buffer: str, offset: Affine, rows: int, cols: int, rstride: int, cstride: int) -> Tile:
        dtype = self.dtype_of(buffer)
        if buffer in self.locals_:
            local = self.locals_[buffer]
            if (cstride == 1 or cols == 1) and (rstride == cols or rows == 1):
                return Tile(LocalRef(buffer, rows, cols, offset), dtype, "full", local.space)
            out = self.temp(dtype, rows, cols)
            self._move_rows(LocalRef(out.buffer, rows, cols), buffer, offset, rows, cols, rstride, cstride, dtype,
                            into_region=False)
            return Tile(out, dtype, "full")
        # A region loaded before in the same loop body (by an earlier statement of it: their
        # temporaries stay apart) is still in its tile unless the kernel stored to it since.
        key = (buffer, offset, rows, cols, rstride, cstride, id(self._bodies[-1]))
        if key in self._loaded:
            return self._loaded[key]
        out = self.temp(dtype, rows, cols)
        self._dma(out, buffer, offset, rows, cols, rstride, cstride, load=True)
        self._loaded[key] = Tile(out, dtype, "full")
        return self._loaded[key]

    # -- writing tiles into regions -------------------------------------------------------
    def write(self, region: Region, tile: Tile) -> None:
        """Write a full ``region.rows x region.cols`` tile (dtype: the region's) into the region."""
        tile = self.expand(tile, region.rows, region.cols)
        dtype = self.dtype_of(region.buffer)
        if tile.dtype != dtype:
            raise NotStageable(f"internal: writing a {tile.dtype} tile into {dtype} buffer {region.buffer}")
        rows, cols = region.rows, region.cols
        if region.buffer in self.locals_:
            if (region.cstride == 1 or cols == 1) and (region.rstride == cols or rows == 1):
                dst = LocalRef(region.buffer, rows, cols, region.offset)
                if dst != tile.ref and not self._retarget(tile.ref, dst):
                    self.emit(Vector("mov", dst, a=tile.ref, dtype=dtype))
                return
            if region.cstride == 1 and region.rstride > cols and self._retarget_pitched(tile.ref, region):
                return
            self._move_rows(tile.ref, region.buffer, region.offset, rows, cols, region.rstride, region.cstride,
                            dtype, into_region=True)
            return
        if tile.space != "sram":
            moved = self.temp(dtype, rows, cols)
            self.emit(Vector("mov", moved, a=tile.ref, dtype=dtype))
            tile = Tile(moved, dtype, "full")
        self._dma(tile.ref, region.buffer, region.offset, rows, cols, region.rstride, region.cstride, load=False)

    def _retarget(self, temp: LocalRef, dst: LocalRef) -> bool:
        """Make the statement that just produced temporary ``temp`` write ``dst`` instead (no
        ``vpu.mov`` after it). Only a pool temporary produced by the last statement, by an op
        that neither reads its destination (``sel``) nor writes a second one (``topk``)."""
        body = self._bodies[-1]
        if not body or not any(b.name == temp.buffer for b in self.temps):
            return False
        last = body[-1]
        local = self.locals_[dst.buffer]
        if isinstance(last, Vector) and last.dst == temp and last.op != "sel" \
                and VECTOR_OPS[last.op] not in ("topk", "nonzero"):
            body[-1] = dataclasses.replace(last, dst=dst)
            return True
        # A load's tile may be the temporary's elements in another shape (a strided row is
        # loaded as a column of 1-element rows): both are contiguous, so it lands in ``dst`` as is.
        if not isinstance(last, (Load, KGather)) or local.space != "sram":
            return False
        same = last.dst == temp or (isinstance(last, Load) and (last.dst.buffer, last.dst.offset, last.dst.slot) == (
            temp.buffer, temp.offset, temp.slot) and last.dst.rows * last.dst.cols == dst.rows * dst.cols)
        if same:
            if last.dst != temp:
                dst = LocalRef(dst.buffer, last.dst.rows, last.dst.cols, dst.offset, dst.slot)
            body[-1] = dataclasses.replace(last, dst=dst)
            self._loaded = {k: t for k, t in self._loaded.items() if t.ref.buffer != temp.buffer}
            return True
        return False

    def _retarget_pitched(self, temp: LocalRef, region: Region) -> bool:
        """Make the load that just filled temporary ``temp`` write the rows of ``region`` (a
        block of a wider SRAM local, rows ``region.rstride`` apart) itself, at the DMA's
        destination stride, instead of a ``vpu.mov`` per row after it."""
        body = self._bodies[-1]
        if not body or not any(b.name == temp.buffer for b in self.temps) or self.locals_[region.buffer].space != "sram":
            return False
        last = body[-1]
        if not isinstance(last, Load) or last.dst != temp or last.skip_zero_blocks:
            return False
        body[-1] = Load(LocalRef(region.buffer, region.rows, region.cols, region.offset, pitch=region.rstride), last.src)
        self._loaded = {k: t for k, t in self._loaded.items() if t.ref.buffer != temp.buffer}
        return True

    def store_pitched(self, region: Region, src: Region) -> bool:
        """Store ``src``, a block of an SRAM local with rows ``src.rstride`` apart, into the
        global ``region`` with one DMA reading the local at that stride (no ``vpu.mov`` per row
        into a contiguous temporary first); False when the two do not fit that form."""
        local = self.locals_.get(src.buffer)
        if local is None or local.space != "sram" or region.buffer in self.locals_ or src.kind != "full" \
                or (src.rows, src.cols) != (region.rows, region.cols) or src.cstride != 1 or src.rstride <= src.cols \
                or not (region.cstride == 1 or region.cols == 1) or region.rstride < 0:
            return False
        self._loaded = {k: t for k, t in self._loaded.items() if k[0] != region.buffer}
        pitch = region.rstride if region.rows > 1 else region.cols
        self.emit(Store(HbmRef(region.buffer, region.offset, region.rows, region.cols, pitch),
                        LocalRef(src.buffer, src.rows, src.cols, src.offset, pitch=src.rstride)))
        return True

    def expand(self, tile: Tile, rows: int, cols: int) -> Tile:
        """``tile`` as a full ``rows x cols`` tile (a broadcasting ``vpu.mov`` when it is not)."""
        if tile.kind == "full" or (rows, cols) == (tile.ref.rows, tile.ref.cols):
            return Tile(tile.ref, tile.dtype, "full", tile.space)
        out = self.temp(tile.dtype, rows, cols)
        self.emit(Vector("mov", out, a=tile.ref, bcast=bcast_mode(tile.kind, "full"), dtype=tile.dtype))
        return Tile(out, tile.dtype, "full")

    def load_into(self, tile: LocalRef, buffer: str, offset: Affine, rows: int, cols: int, rstride: int,
                  cstride: int) -> None:
        """Load a strided window of global ``buffer`` into contiguous ``tile`` (DMA)."""
        self._dma(tile, buffer, offset, rows, cols, rstride, cstride, load=True)

    # -- element movement -----------------------------------------------------------------
    def _dma(self, tile: LocalRef, buffer: str, offset: Affine, rows: int, cols: int, rstride: int, cstride: int,
             load: bool) -> None:
        """Copy between contiguous ``tile`` and a strided window of global ``buffer``."""

        def one(local: LocalRef, window: HbmRef) -> None:
            self.emit(Load(local, window) if load else Store(window, local))

        if not load:
            self._loaded = {k: t for k, t in self._loaded.items() if k[0] != buffer}

        base = tile.offset
        if cols == 1 or cstride == 1:
            if rows == 1 or rstride >= 0:
                pitch = rstride if rows > 1 else cols
                one(LocalRef(tile.buffer, rows, cols, base, tile.slot), HbmRef(buffer, offset, rows, cols, pitch))
                return
            with self.loop(rows) as r:  # a reversed row order: one DMA per row
                one(LocalRef(tile.buffer, 1, cols, base + r * cols, tile.slot), HbmRef(buffer, offset + r * rstride, 1, cols, cols))
            return
        if rows == 1 and cstride > 0:  # one row with strided elements: a column of 1-element rows
            one(LocalRef(tile.buffer, cols, 1, base, tile.slot), HbmRef(buffer, offset, cols, 1, cstride))
            return
        if cstride > 0:
            # A transposed window (strided elements in each row): each tile row is one DMA of
            # 1-element rows (``rows`` DMAs, not one per element; counted: such views want a
            # copy into a layout the DMA reads whole rows of).
            self.slow_paths += 1
            with self.loop(rows) as r:
                one(LocalRef(tile.buffer, cols, 1, base + r * cols, tile.slot),
                    HbmRef(buffer, offset + r * rstride, cols, 1, cstride))
            return
        # A reversed window: the DMA writes contiguous tile rows only, so move it element by
        # element (counted as above).
        self.slow_paths += 1
        with self.loop(rows) as r:
            with self.loop(cols) as c:
                one(LocalRef(tile.buffer, 1, 1, base + r * cols + c, tile.slot),
                    HbmRef(buffer, offset + r * rstride + c * cstride, 1, 1, 1))

    def _move_rows(self, tile: LocalRef, buffer: str, offset: Affine, rows: int, cols: int,
                   rstride: int, cstride: int, dtype: DType, into_region: bool) -> None:
        """Move between contiguous ``tile`` and a strided window of local ``buffer`` (VPU)."""

        def one(tile_ref: LocalRef, local_ref: LocalRef) -> None:
            if into_region:
                self.emit(Vector("mov", local_ref, a=tile_ref, dtype=dtype))
            else:
                self.emit(Vector("mov", tile_ref, a=local_ref, dtype=dtype))

        if cstride == 1 or cols == 1:
            with self.loop(rows) as r:
                one(LocalRef(tile.buffer, 1, cols, tile.offset + r * cols, tile.slot),
                    LocalRef(buffer, 1, cols, offset + r * rstride))
            return
        if not into_region and cstride == 0:
            with self.loop(rows) as r:
                self.emit(Vector("mov", LocalRef(tile.buffer, 1, cols, tile.offset + r * cols, tile.slot),
                                 a=LocalRef(buffer, 1, 1, offset + r * rstride), bcast="scalar", dtype=dtype))
            return
        self.slow_paths += 1
        with self.loop(rows) as r:
            with self.loop(cols) as c:
                one(LocalRef(tile.buffer, 1, 1, tile.offset + r * cols + c, tile.slot),
                    LocalRef(buffer, 1, 1, offset + r * rstride + c * cstride))

    # -- the kernel -----------------------------------------------------------------------
    def buffers(self) -> tuple[Buffer, ...]:
        return tuple(self.locals_.values()) + tuple(self.temps)


__all__ = ["KINDS", "KernelStager", "NotStageable", "Region", "Tile", "bcast_mode", "join_kinds", "kind_shape",
           "substitute"]
