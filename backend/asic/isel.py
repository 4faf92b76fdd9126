"""Instruction selection: planned kernel IR -> a flat stream of moe-asic instructions.

Where it sits: after memory planning (:mod:`moecc.passes.memory_plan`, every buffer has a
byte offset) and before token scheduling (:mod:`moecc.backend.asic.schedule`), which adds
the waits and signals; :mod:`moecc.backend.asic.codegen` strings the stages together.

Selection is a table: :data:`STATEMENT_EMITTERS` maps each statement type to an emitter and
:data:`VECTOR_EMITTERS` maps each VPU op to one. Loops are unrolled: the loop variable is
bound and every :class:`~moecc.ir.kernel.Affine` offset evaluated, so the output is
straight-line code. Hardware loops are a later optimisation.

A loop with a run-time trip count (a :class:`~moecc.ir.kernel.Count`) is unrolled to its
``max_count`` too, each iteration guarded by a forward branch out of the loop::

    START                          ; a label: the scheduler settles the loop before the last
    lds  r30, sram[count]          ; the scheduler fences it on the count's producer
    ; iteration i (0 <= i < max_count):
    li   r31, i+1
    blt  r30, r31, END             ; count < i+1: skip the rest
    GUARD                          ; a label: the scheduler queues unit marks for what i needs
    <body with var = i>
    SETTLE                         ; a label: the scheduler learns the work before i is done
    END:  (a ``label`` pseudo-instruction, see :func:`is_label`)
    dma.ld.mark, dma.st.mark, mxu.mark, vpu.mark   ; those of the units the loop used

The branch only ever skips *whole* iterations, and no dependency token crosses a guard (the
scheduler queues unit marks there for what the iteration needs from before it), so the
scheduler's straight-line view stays correct. After
``END`` the scheduler knows only what it knew before iteration 0 (any number of iterations
ran), and later instructions wait for the loop's work through the unit marks, which always
run and complete after every instruction of their unit that did. The
count and trip registers (:data:`COUNT_REGISTER`, :data:`TRIP_REGISTER`) are outside the
address-base cache, which is emptied at ``END`` (a skipped body's ``li``s did not run).
Nested run-time loops raise :class:`~moecc.errors.TargetError`.

Addresses are ``mem[rB + off]``. An address that fits the format's offset field uses ``r0``;
a larger one is split into a base register (set with ``li``, cached so neighbouring tiles
reuse it) plus an offset. Statements whose sizes exceed the fields (rows/m > 4095,
row_bytes > 65535, strides >= 2^18) are split into several instructions, or raise
:class:`~moecc.errors.TargetError` when no split preserves the semantics.

Every selected instruction records its unit and the byte ranges it reads and writes per
memory space: the scheduler derives the dependency tokens from them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from moecc.backend.asic.byte_ranges import ByteRange, merge_ranges, strided_range
from moecc.backend.asic.cross_kernel import has_matmul, leading_weight_loads, shares_bytes
from moecc.backend.asic.fill_dma import emit_fill_loads
from moecc.passes.weight_homes import is_fill_kernel
from moecc.errors import TargetError, VerificationError
from moecc.ir.kernel import (
    ON_CHIP_ROLES,
    VECTOR_OPS,
    Buffer,
    Count,
    For,
    Gather,
    HbmRef,
    Kernel,
    KernelModule,
    Load,
    LocalRef,
    MatMul,
    Scatter,
    Stmt,
    Store,
    Vector,
)
from moecc.ir.types import DType
from moecc.isa_spec.program import Addr
from moecc.isa_spec.spec import IsaSpec, load_isa
from moecc.isa_spec.target import Target

#: Scalar registers instruction selection may use as address bases (r0 is zero).
BASE_REGISTERS: tuple[int, ...] = tuple(range(1, 29))
#: Holds a matmul's run-time row count (``lds``) for ``mxu.mmr``; never an address base.
ROWS_REGISTER = 29
#: Holds a run-time loop's trip count (``lds``); never an address base.
COUNT_REGISTER = 30
#: Holds ``i + 1`` for a run-time loop's guard of iteration ``i``; never an address base.
TRIP_REGISTER = 31
#: Mnemonic and unit of the pseudo-instruction that places a branch label in the stream.
LABEL = "label"


@dataclass(frozen=True, slots=True)
class SelectedInstruction:
    """One instruction before scheduling: ``ProgramBuilder.emit`` operands plus what it touches."""

    mnemonic: str
    operands: Mapping[str, Any]
    unit: str
    reads: tuple[ByteRange, ...] = ()
    writes: tuple[ByteRange, ...] = ()
    comment: str = ""
    kernel: str = ""


#: Queued unit -> its mark instruction (completes after the unit's earlier instructions).
UNIT_MARKS: dict[str, str] = {"ld": "dma.ld.mark", "st": "dma.st.mark", "mxu": "mxu.mark", "vpu": "vpu.mark"}


def is_label(inst: SelectedInstruction) -> bool:
    """Whether ``inst`` is a label pseudo-instruction (``operands["name"]``), not a real one:
    the scheduler passes it through, :func:`~moecc.backend.asic.codegen.build_program` turns
    it into ``ProgramBuilder.label`` and everything counting instructions skips it."""
    return inst.unit == LABEL


class Selector:
    """Selects the instructions of the kernels of one program (one register state)."""

    def __init__(self, module: KernelModule, target: Target, isa: IsaSpec | None = None,
                 weights: Mapping[str, np.ndarray] | None = None) -> None:
        self.isa = isa or load_isa()
        #: HBM weight data (flat, storage dtype), by buffer: the zero blocks a load may skip
        self.weights = weights or {}
        self.target = target
        self.hbm = {b.name: b for b in module.hbm}
        for buf in module.hbm:
            _require_placed(buf, "module")
        self.out: list[SelectedInstruction] = []
        self.registers: dict[int, int] = {}  # register -> value, least recently used first
        self.kernel: Kernel | None = None
        self.local: dict[str, Buffer] = {}
        self.comment = ""
        self.labels = 0  # labels made so far (their names are unique per program)
        self.dynamic_loop: str | None = None  # variable of the run-time loop being selected
        #: The following kernels with their loads to select ahead, and whether this kernel has a matmul
        self.pending: tuple[list[tuple[Kernel, list[tuple[Load, dict[str, int]]]]], bool] | None = None
        #: (statement id, loop bindings) of loads selected ahead in the kernel before theirs
        self.prefetched: set[tuple[int, tuple[tuple[str, int], ...]]] = set()

    # -- limits from the instruction table -----------------------------------------------------

    def field_max(self, mnemonic: str, field: str) -> int:
        spec = self.isa.by_mnemonic(mnemonic)
        assert spec is not None, mnemonic
        for f in spec.format.fields:
            if f.name == field:
                return f.max_value
        raise KeyError(f"{mnemonic}.{field}")

    # -- entry points --------------------------------------------------------------------------

    def select_kernel(self, kernel: Kernel, following: Kernel | Sequence[Kernel] | None = None) -> None:
        """``kernel``'s instructions; with the ``following`` kernels of the program (the next
        one, and past weight fills the first kernel after them), their leading weight loads
        (:func:`leading_weight_loads`: cross-kernel prefetch) go before this kernel's first
        matmul (after the loads it needs), or, in a kernel without one, before its first
        statement that is not a load; they are not selected again when those kernels are."""
        self._enter(kernel)
        nexts = [following] if isinstance(following, Kernel) else list(following or ())
        ahead_of: list[tuple[Kernel, list[tuple[Load, dict[str, int]]]]] = []
        for other in nexts:
            leading = leading_weight_loads(other, self.hbm)
            ahead = [(stmt, env) for stmt, env in leading if (id(stmt), tuple(sorted(env.items()))) not in self.prefetched]
            if ahead and shares_bytes(kernel, other, {stmt.dst.buffer for stmt, _ in ahead}):
                break  # the ring wrapped: this kernel's work would overwrite them before use
            if ahead:
                ahead_of.append((other, ahead))
            if len(ahead) != len(leading) or not is_fill_kernel(other):
                break  # past a fill only: a later kernel's loads stay behind its own work
        self.pending = (ahead_of, has_matmul(kernel.body)) if ahead_of else None
        if is_fill_kernel(kernel):  # its loads at once: one DMA where the weights lie as their homes
            loads = [(stmt, {}) for stmt in kernel.body if isinstance(stmt, Load) and (id(stmt), ()) not in self.prefetched]
            self._select_loads(kernel, loads)
        self.select_body(kernel.body, {})
        self._prefetch()

    def _select_loads(self, kernel: Kernel, loads: list[tuple[Load, dict[str, int]]]) -> None:
        """Select ``kernel``'s ``loads`` here (a fill kernel's together: :mod:`.fill_dma`), once."""
        if is_fill_kernel(kernel):
            emit_fill_loads(self, loads, STATEMENT_EMITTERS[Load])
        else:
            for stmt, env in loads:
                STATEMENT_EMITTERS[Load](self, stmt, env)
        self.prefetched.update((id(stmt), tuple(sorted(env.items()))) for stmt, env in loads)

    def _prefetch(self) -> None:
        """Select the following kernels' prefetched loads here, once."""
        if self.pending is None:
            return
        ahead_of, _ = self.pending
        self.pending = None
        current = self.kernel
        for following, ahead in ahead_of:
            self._enter(following)
            self._select_loads(following, ahead)
        self._enter(current)

    def _enter(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.local = {b.name: b for b in kernel.buffers}
        for buf in kernel.buffers:
            _require_placed(buf, f"kernel {kernel.name}")

    def select_body(self, body: Sequence[Stmt], env: dict[str, int]) -> None:
        for stmt in body:
            if self.prefetched and isinstance(stmt, Load) and (id(stmt), tuple(sorted(env.items()))) in self.prefetched:
                continue  # selected ahead, in the kernel before (cross-kernel prefetch)
            if self.pending is not None and self.dynamic_loop is None and (
                    isinstance(stmt, MatMul) or (isinstance(stmt, For) and isinstance(stmt.count, Count))
                    or (not self.pending[1] and not isinstance(stmt, (Load, For)))):
                self._prefetch()
            emitter = STATEMENT_EMITTERS.get(type(stmt))
            if emitter is None:
                raise TargetError(f"kernel {self.kernel_name}: no instruction selection for {type(stmt).__name__}")
            emitter(self, stmt, env)

    @property
    def kernel_name(self) -> str:
        return self.kernel.name if self.kernel else "?"

    def describe(self, stmt: Stmt, env: Mapping[str, int], what: str) -> None:
        loops = " ".join(f"{k}={v}" for k, v in env.items())
        sources = f" ({', '.join(self.kernel.sources)})" if self.kernel and self.kernel.sources else ""
        self.comment = f"{self.kernel_name}{sources}: {what}" + (f" [{loops}]" if loops else "")

    # -- emission ------------------------------------------------------------------------------

    def emit(self, mnemonic: str, reads: Sequence[ByteRange] = (), writes: Sequence[ByteRange] = (),
             **operands: Any) -> None:
        spec = self.isa.by_mnemonic(mnemonic)
        assert spec is not None, mnemonic
        self.out.append(SelectedInstruction(mnemonic, operands, spec.unit, tuple(reads), tuple(writes),
                                            self.comment, self.kernel_name))

    def new_label(self, hint: str) -> str:
        self.labels += 1
        return f"{hint}.{self.labels}"

    def label(self, name: str) -> None:
        """Place label ``name`` here (a pseudo-instruction; branch operands name it)."""
        self.out.append(SelectedInstruction(LABEL, {"name": name}, LABEL, comment=self.comment,
                                            kernel=self.kernel_name))

    def register_holding(self, value: int) -> int:
        """A register holding exactly ``value`` (``li`` unless cached)."""
        if value == 0:
            return 0
        for reg, held in self.registers.items():
            if held == value:
                self.registers[reg] = self.registers.pop(reg)  # most recently used
                return reg
        free = [r for r in BASE_REGISTERS if r not in self.registers]
        reg = free[0] if free else next(iter(self.registers))
        self.registers.pop(reg, None)
        self.registers[reg] = value
        self.emit("li", rd=reg, imm=value)
        return reg

    def address(self, mnemonic: str, operand: str, byte_address: int, space: str | None = None) -> Addr:
        """``Addr`` for ``byte_address`` fitting ``operand``'s offset field of ``mnemonic``."""
        limit = self.field_max(mnemonic, f"{operand}.off")
        if byte_address <= limit:
            return Addr(0, byte_address, space)
        for reg, held in self.registers.items():
            if 0 <= byte_address - held <= limit:
                self.registers[reg] = self.registers.pop(reg)
                return Addr(reg, byte_address - held, space)
        # Round the base down so that the tiles after this one reuse the register.
        granule = (limit + 1) // 2
        base = byte_address - byte_address % granule
        return Addr(self.register_holding(base), byte_address - base, space)

    # -- operands ------------------------------------------------------------------------------

    def local_buffer(self, ref: LocalRef) -> Buffer:
        try:
            return self.local[ref.buffer]
        except KeyError:
            raise VerificationError(f"kernel {self.kernel_name}: unknown local buffer '{ref.buffer}'") from None

    def local_address(self, ref: LocalRef, env: Mapping[str, int]) -> tuple[Buffer, int]:
        buf = self.local_buffer(ref)
        assert buf.offset is not None
        slot = ref.slot.eval(env) % buf.slots  # slots form a ring (see moecc.ir.kernel)
        return buf, buf.offset + slot * buf.slot_bytes + ref.offset.eval(env) * buf.dtype.itemsize

    def hbm_address(self, ref: HbmRef, env: Mapping[str, int]) -> tuple[Buffer, int]:
        try:
            buf = self.hbm[ref.buffer]
        except KeyError:
            raise VerificationError(f"kernel {self.kernel_name}: unknown HBM buffer '{ref.buffer}'") from None
        assert buf.offset is not None
        return buf, buf.offset + ref.offset.eval(env) * buf.dtype.itemsize


def _require_placed(buf: Buffer, where: str) -> None:
    if buf.offset is None:
        raise TargetError(f"{where}: buffer {buf.name} has no offset",
                          remedy="run memory planning (moecc.passes.memory_plan.plan_memory) first")


def _chunks(total: int, size: int) -> list[tuple[int, int]]:
    """(start, length) pieces of ``range(total)`` of at most ``size``."""
    return [(start, min(size, total - start)) for start in range(0, total, size)]


# -- DMA ---------------------------------------------------------------------------------------


def dma_2d(sel: Selector, mnemonic: str, hbm_base: int, sram_base: int, rows: int, row_bytes: int,
            hbm_stride: int, sram_stride: int, *, loading: bool, far_space: str = "hbm") -> None:
    """One strided copy between a tile and a global buffer, split into as many DMAs as the
    field widths need: ``dma.ld``/``dma.st`` when the buffer is in HBM, ``dma.ld.sram``/
    ``dma.st.sram`` (on-chip copies, on the same queues) when memory planning kept it in SRAM
    (``far_space``)."""
    max_rows = sel.field_max(mnemonic, "rows")
    max_row_bytes = sel.field_max(mnemonic, "row_bytes")
    max_stride = min(sel.field_max(mnemonic, "sstride"), sel.field_max(mnemonic, "dstride"))
    # Column pieces stay multiples of 64 bytes, so element alignment is kept for every dtype.
    piece = max_row_bytes - max_row_bytes % 64
    for col_start, col_bytes in _chunks(row_bytes, piece):
        strided_ok = rows == 1 or (hbm_stride <= max_stride and sram_stride <= max_stride)
        for row_start, count in _chunks(rows, max_rows if strided_ok else 1):
            h = hbm_base + row_start * hbm_stride + col_start
            s = sram_base + row_start * sram_stride + col_start
            hs, ss = (hbm_stride, sram_stride) if count > 1 else (0, 0)
            hbm_range = strided_range(far_space, h, count, hbm_stride, col_bytes)
            sram_range = strided_range("sram", s, count, sram_stride, col_bytes)
            if loading:
                sel.emit(mnemonic, reads=[hbm_range], writes=[sram_range],
                         dst=sel.address(mnemonic, "dst", s), src=sel.address(mnemonic, "src", h),
                         rows=count, row_bytes=col_bytes, sstride=hs, dstride=ss)
            else:
                sel.emit(mnemonic, reads=[sram_range], writes=[hbm_range],
                         dst=sel.address(mnemonic, "dst", h), src=sel.address(mnemonic, "src", s),
                         rows=count, row_bytes=col_bytes, sstride=ss, dstride=hs)


def _check_same_itemsize(sel: Selector, local: Buffer, hbm: Buffer, what: str) -> int:
    if local.dtype.itemsize != hbm.dtype.itemsize:
        raise VerificationError(
            f"kernel {sel.kernel_name}: {what} copies {hbm.name} ({hbm.dtype}) to/from {local.name} "
            f"({local.dtype}); a DMA moves bytes and cannot convert",
            remedy="convert on the VPU (vpu.cvt) after the load or before the store")
    return local.dtype.itemsize


def emit_load(sel: Selector, stmt: Load, env: Mapping[str, int]) -> None:
    sel.describe(stmt, env, f"load {stmt.src.buffer} -> {stmt.dst.buffer}")
    local, s = sel.local_address(stmt.dst, env)
    hbm, h = sel.hbm_address(stmt.src, env)
    size = _check_same_itemsize(sel, local, hbm, "load")
    row_bytes = stmt.dst.cols * size
    on_chip = hbm.role in ON_CHIP_ROLES
    mnemonic, far = ("dma.ld.sram", "sram") if on_chip else ("dma.ld", "hbm")
    pitch = stmt.src.pitch * size
    local_pitch = stmt.dst.row_pitch * size
    pieces = _nonzero_pieces(sel, stmt, env) if stmt.skip_zero_blocks and not on_chip else None
    if pieces is None:
        dma_2d(sel, mnemonic, h, s, stmt.src.rows, row_bytes, pitch, local_pitch, loading=True, far_space=far)
        return
    for row, rows, col, cols in pieces:  # the zero blocks' bytes stay in HBM
        dma_2d(sel, mnemonic, h + row * pitch + col * size, s + row * local_pitch + col * size, rows, cols * size,
                pitch, local_pitch, loading=True, far_space=far)


def _nonzero_pieces(sel: Selector, stmt: Load, env: Mapping[str, int]) -> list[tuple[int, int, int, int]] | None:
    """``(row, rows, col, cols)`` rectangles of a ``skip_zero_blocks`` load's tile covering
    every block of it that holds a nonzero in HBM (bands of block rows with the same runs of
    such blocks merge); None when the source's data is unknown or the tile is not whole blocks
    of its matrix's block grid (then it loads whole)."""
    b, ref = stmt.skip_zero_blocks, stmt.src
    data = sel.weights.get(ref.buffer)
    buf = sel.hbm.get(ref.buffer)
    if data is None or buf is None or len(buf.shape) < 2 or ref.rows % b or ref.cols % b:
        return None
    r, c = buf.shape[-2:]
    start = ref.offset.eval(env)
    row0, col0 = divmod(start % (r * c), c)
    if ref.pitch != c or row0 % b or col0 % b or col0 + ref.cols > c or row0 + ref.rows > r:
        return None
    flat = np.asarray(data).reshape(-1)
    tile = flat[start:start + (ref.rows - 1) * c + ref.cols]
    tile = np.lib.stride_tricks.as_strided(tile, (ref.rows, ref.cols), (c * tile.itemsize, tile.itemsize))
    kept = (tile != 0).reshape(ref.rows // b, b, ref.cols // b, b).any(axis=(1, 3))
    bands = []
    for line in kept:
        runs, col = [], 0
        while col < len(line):
            if line[col]:
                end = col
                while end < len(line) and line[end]:
                    end += 1
                runs.append((col, end))
                col = end
            else:
                col += 1
        bands.append(tuple(runs))
    pieces = []
    band = 0
    while band < len(bands):
        last = band
        while last + 1 < len(bands) and bands[last + 1] == bands[band]:
            last += 1
        pieces += [(band * b, (last - band + 1) * b, lo * b, (hi - lo) * b) for lo, hi in bands[band]]
        band = last + 1
    return pieces


def emit_store(sel: Selector, stmt: Store, env: Mapping[str, int]) -> None:
    sel.describe(stmt, env, f"store {stmt.src.buffer} -> {stmt.dst.buffer}")
    local, s = sel.local_address(stmt.src, env)
    hbm, h = sel.hbm_address(stmt.dst, env)
    size = _check_same_itemsize(sel, local, hbm, "store")
    row_bytes = stmt.src.cols * size
    on_chip = hbm.role in ON_CHIP_ROLES
    if on_chip and h == s and stmt.dst.pitch == stmt.src.row_pitch:
        return  # the tile already is those bytes (a fill kernel's buffer placed on its weight's home)
    dma_2d(sel, "dma.st.sram" if on_chip else "dma.st", h, s, stmt.dst.rows, row_bytes, stmt.dst.pitch * size,
            stmt.src.row_pitch * size, loading=False, far_space="sram" if on_chip else "hbm")


def emit_gather(sel: Selector, stmt: Gather, env: Mapping[str, int]) -> None:
    sel.describe(stmt, env, f"gather {stmt.table.buffer} rows by {stmt.indices.buffer} -> {stmt.dst.buffer}")
    local, s = sel.local_address(stmt.dst, env)
    table, h = sel.hbm_address(stmt.table, env)
    index_buf, i = sel.local_address(stmt.indices, env)
    size = _check_same_itemsize(sel, local, table, "gather")
    row_bytes, stride = stmt.table.cols * size, stmt.table.pitch * size
    if row_bytes > sel.field_max("dma.gather", "row_bytes") or stride > sel.field_max("dma.gather", "stride"):
        raise TargetError(
            f"kernel {sel.kernel_name}: gather of {row_bytes}-byte rows with stride {stride} exceeds "
            f"dma.gather's row_bytes/stride fields",
            remedy="gather narrower column blocks of the table (one Gather per block)")
    count = stmt.dst.rows
    table_end = h + ((stmt.table.rows - 1) * stmt.table.pitch + stmt.table.cols) * size
    reads = [ByteRange("hbm", h, table_end),
             ByteRange("sram", i, i + stmt.indices.rows * stmt.indices.cols * index_buf.dtype.itemsize)]
    n_reg = sel.register_holding(count) if stmt.rows is None else _run_time_rows(sel, stmt.rows, count, env)
    sel.emit("dma.gather", reads=reads, writes=[ByteRange("sram", s, s + count * row_bytes)],
             dst=sel.address("dma.gather", "dst", s), src=sel.address("dma.gather", "src", h),
             idx=sel.address("dma.gather", "idx", i), n=n_reg, row_bytes=row_bytes, stride=stride)


def emit_scatter(sel: Selector, stmt: Scatter, env: Mapping[str, int]) -> None:
    mnemonic = "dma.scatter_add" if stmt.add else "dma.scatter"
    sel.describe(stmt, env, f"{'scatter_add' if stmt.add else 'scatter'} {stmt.src.buffer} rows by "
                            f"{stmt.indices.buffer} -> {stmt.table.buffer}")
    local, s = sel.local_address(stmt.src, env)
    table, h = sel.hbm_address(stmt.table, env)
    index_buf, i = sel.local_address(stmt.indices, env)
    size = _check_same_itemsize(sel, local, table, "scatter")
    row_bytes, stride = stmt.table.cols * size, stmt.table.pitch * size
    if row_bytes > sel.field_max(mnemonic, "row_bytes") or stride > sel.field_max(mnemonic, "stride"):
        raise TargetError(
            f"kernel {sel.kernel_name}: scatter of {row_bytes}-byte rows with stride {stride} exceeds "
            f"{mnemonic}'s row_bytes/stride fields",
            remedy="scatter narrower column blocks of the table (one Scatter per block)")
    count = stmt.src.rows
    # The rows written depend on the indices: the whole window the table can reach.
    table_end = h + ((stmt.table.rows - 1) * stmt.table.pitch + stmt.table.cols) * size
    table_range = ByteRange("hbm", h, table_end)
    reads = [ByteRange("sram", s, s + count * row_bytes),
             ByteRange("sram", i, i + stmt.indices.rows * stmt.indices.cols * index_buf.dtype.itemsize)]
    if stmt.add:
        reads.append(table_range)
    extra = {"dtype": stmt.dtype.value} if stmt.add else {}
    n_reg = sel.register_holding(count) if stmt.rows is None else _run_time_rows(sel, stmt.rows, count, env)
    sel.emit(mnemonic, reads=reads, writes=[table_range],
             dst=sel.address(mnemonic, "dst", h), src=sel.address(mnemonic, "src", s),
             idx=sel.address(mnemonic, "idx", i), n=n_reg, row_bytes=row_bytes, stride=stride, **extra)


def _run_time_rows(sel: Selector, cell: Count, bound: int, env: Mapping[str, int]) -> int:
    """:data:`ROWS_REGISTER` loaded with the run-time row count in ``cell``, clamped to
    ``[0, bound]`` (the IR's semantics; the instruction's tile holds ``bound`` rows). The
    scheduler fences the ``lds`` on the cell's producer."""
    cell_buf, at = sel.local_address(cell.ref, env)
    if cell_buf.space != "sram" or cell_buf.dtype != DType.I32:
        raise VerificationError(f"kernel {sel.kernel_name}: a run-time row count is read from "
                                f"{cell_buf.space} {cell_buf.dtype} buffer {cell_buf.name}; it must be sram i32")
    sel.emit("lds", reads=[ByteRange("sram", at, at + 4)], rd=ROWS_REGISTER, addr=sel.address("lds", "addr", at))
    sel.emit("max", rd=ROWS_REGISTER, ra=ROWS_REGISTER, rb=0)
    sel.emit("min", rd=ROWS_REGISTER, ra=ROWS_REGISTER, rb=sel.register_holding(bound))
    return ROWS_REGISTER


# -- MXU ---------------------------------------------------------------------------------------


def emit_matmul(sel: Selector, stmt: MatMul, env: Mapping[str, int]) -> None:
    sel.describe(stmt, env, f"matmul {stmt.dst.buffer} {'+=' if stmt.accumulate else '='} "
                            f"{stmt.a.buffer} @ {stmt.w.buffer}{'^T' if stmt.transpose_w else ''}")
    dtype = stmt.dtype.value
    if dtype not in sel.target.mxu_dtypes:
        raise TargetError(f"kernel {sel.kernel_name}: the MXU of {sel.target.name} does not multiply {dtype}",
                          remedy=f"lower the matmul in one of {', '.join(sel.target.mxu_dtypes)}")
    a_buf, a = sel.local_address(stmt.a, env)
    w_buf, w = sel.local_address(stmt.w, env)
    d_buf, d = sel.local_address(stmt.dst, env)
    m, (k, n) = stmt.a.rows, stmt.w_shape
    max_dim = sel.field_max("mxu.mm", "k")
    if k > max_dim or n > max_dim:
        raise TargetError(f"kernel {sel.kernel_name}: matmul k={k}, n={n} exceed mxu.mm's {max_dim} limit",
                          remedy=f"tile k and n to at most {max_dim}")
    a_size, d_size = a_buf.dtype.itemsize, d_buf.dtype.itemsize
    w_range = ByteRange("sram", w, w + w_buf.dtype.itemsize * stmt.w.rows * stmt.w.cols)
    if stmt.sparsity != "dense":
        _emit_sparse_matmul(sel, stmt, env, a, w, d, w_range)
        return
    if sel.dynamic_loop is None:
        # A matmul often waits on its activations (a kernel's first, on the kernel before's
        # result) while its weights are in SRAM already (prefetched): shift its first tile in
        # ahead. (Not inside run-time loops, the MoE experts' tiles, where it was not measured.)
        sel.emit("mxu.wpre", reads=[w_range], w=sel.address("mxu.wpre", "w", w), k=k, n=n, dtype=dtype,
                 tw=int(stmt.transpose_w))
    if stmt.rows is not None:
        # A run-time row count: read into a register (the scheduler fences the lds on the
        # cell's producer) and streamed by mxu.mmr; the rows past it keep their values.
        if m > 4095:
            raise TargetError(f"kernel {sel.kernel_name}: a matmul with a run-time row count has {m} rows; "
                              f"mxu.mmr streams at most 4095", remedy="tile the rows to at most 4095")
        _run_time_rows(sel, stmt.rows, m, env)
        dst_range = ByteRange("acc", d, d + m * n * d_size)
        sel.emit("mxu.mmr", reads=[ByteRange("sram", a, a + m * k * a_size), w_range, dst_range], writes=[dst_range],
                 dst=sel.address("mxu.mmr", "dst", d), a=sel.address("mxu.mmr", "a", a),
                 w=sel.address("mxu.mmr", "w", w), m=ROWS_REGISTER, k=k, n=n, dtype=dtype, acc=int(stmt.accumulate),
                 tw=int(stmt.transpose_w))
        return
    for row, count in _chunks(m, sel.field_max("mxu.mm", "m")):
        a_at, d_at = a + row * k * a_size, d + row * n * d_size
        dst_range = ByteRange("acc", d_at, d_at + count * n * d_size)
        reads = [ByteRange("sram", a_at, a_at + count * k * a_size), w_range]
        sel.emit("mxu.mm", reads=reads + ([dst_range] if stmt.accumulate else []), writes=[dst_range],
                 dst=sel.address("mxu.mm", "dst", d_at), a=sel.address("mxu.mm", "a", a_at),
                 w=sel.address("mxu.mm", "w", w), m=count, k=k, n=n, dtype=dtype, acc=int(stmt.accumulate),
                 tw=int(stmt.transpose_w))


def _emit_sparse_matmul(sel: Selector, stmt: MatMul, env: Mapping[str, int], a: int, w: int, d: int,
                        w_range: ByteRange) -> None:
    """``mxu.mmsp`` (zero blocks skipped) or ``mxu.mm24`` (2:4 values and positions)."""
    assert stmt.mask is not None
    _, mask = sel.local_address(stmt.mask, env)  # the format has a register, no offset: the base is the address
    mask_range = ByteRange("sram", mask, mask + stmt.mask.rows * stmt.mask.cols)
    m, (k, n) = stmt.a.rows, stmt.w_shape
    a_size = sel.local_buffer(stmt.a).dtype.itemsize
    mnemonic = "mxu.mmsp" if stmt.sparsity == "blocks" else "mxu.mm24"
    fields: dict[str, Any] = {"k": k, "n": n, "dtype": stmt.dtype.value, "acc": int(stmt.accumulate)}
    if stmt.sparsity == "blocks":
        fields.update(blk=stmt.block.bit_length() - 3, tw=int(stmt.transpose_w))  # block = 4 << blk
        if sel.dynamic_loop is None and stmt.rows is None:  # its first fold shifted in ahead, as mxu.mm's
            sel.emit("mxu.wpre", reads=[w_range], w=sel.address("mxu.wpre", "w", w), k=k, n=n, dtype=stmt.dtype.value,
                     tw=int(stmt.transpose_w))
    if stmt.rows is not None:  # a run-time row count (an MoE expert's tokens): mxu.mm24r, as mxu.mmr
        if stmt.sparsity != "2:4" or m > 4095:
            raise TargetError(f"kernel {sel.kernel_name}: a {stmt.sparsity} matmul of {m} rows with a run-time "
                              f"row count has no instruction", remedy="give it a static row count")
        _run_time_rows(sel, stmt.rows, m, env)
        dst_range = ByteRange("acc", d, d + m * n * 4)
        sel.emit("mxu.mm24r", reads=[ByteRange("sram", a, a + m * k * a_size), w_range, mask_range, dst_range],
                 writes=[dst_range], dst=sel.address("mxu.mm24r", "dst", d), a=sel.address("mxu.mm24r", "a", a),
                 w=sel.address("mxu.mm24r", "w", w), mask=Addr(sel.register_holding(mask), 0), m=ROWS_REGISTER,
                 **fields)
        return
    for row, count in _chunks(m, sel.field_max(mnemonic, "m")):
        a_at, d_at = a + row * k * a_size, d + row * n * 4
        dst_range = ByteRange("acc", d_at, d_at + count * n * 4)
        reads = [ByteRange("sram", a_at, a_at + count * k * a_size), w_range, mask_range]
        sel.emit(mnemonic, reads=reads + ([dst_range] if stmt.accumulate else []), writes=[dst_range],
                 dst=sel.address(mnemonic, "dst", d_at), a=sel.address(mnemonic, "a", a_at),
                 w=sel.address(mnemonic, "w", w), mask=Addr(sel.register_holding(mask), 0), m=count, **fields)


# -- VPU ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _VpuOperand:
    name: str
    ref: LocalRef
    write: bool
    also_read: bool = False


def _vpu(sel: Selector, stmt: Vector, env: Mapping[str, int], operands: Sequence[_VpuOperand],
         rows: int, cols: int, splittable: bool = True, **fields: Any) -> None:
    """One VPU op, split into row blocks when ``rows`` exceeds the field (row-independent ops)."""
    mnemonic = f"vpu.{stmt.op}"
    max_rows, max_cols = sel.field_max(mnemonic, "rows"), sel.field_max(mnemonic, "cols")
    if cols > max_cols or (rows > max_rows and not splittable):
        raise TargetError(f"kernel {sel.kernel_name}: {mnemonic} on a {rows}x{cols} tile exceeds the "
                          f"{max_rows}x{max_cols} rows/cols fields", remedy=f"tile to at most {max_cols} columns")
    placed = [(op, *sel.local_address(op.ref, env)) for op in operands]
    for row, count in _chunks(rows, max_rows):
        reads: list[ByteRange] = []
        writes: list[ByteRange] = []
        addrs: dict[str, Addr] = {}
        for op, buf, base in placed:
            size = buf.dtype.itemsize
            per_row = op.ref.cols * size
            # Operands with one row (row/scalar broadcasts) are shared by every row block.
            if op.ref.rows == rows and rows > 1:
                at, nbytes = base + row * per_row, count * per_row
            else:
                at, nbytes = base, op.ref.rows * per_row
            touched = ByteRange(buf.space, at, at + nbytes)
            (writes if op.write else reads).append(touched)
            if op.also_read:
                reads.append(touched)
            addrs[op.name] = sel.address(mnemonic, op.name, at, buf.space)
        sel.emit(mnemonic, reads=reads, writes=writes, rows=count, cols=cols, **addrs, **fields)


def _operand(stmt: Vector, name: str) -> LocalRef:
    ref = getattr(stmt, name)
    if ref is None:
        raise VerificationError(f"vector op '{stmt.op}' needs operand {name}")
    return ref


def _emit_binary(sel: Selector, stmt: Vector, env: Mapping[str, int]) -> None:
    ops = [_VpuOperand("dst", stmt.dst, True, also_read=stmt.op == "sel"),
           _VpuOperand("a", _operand(stmt, "a"), False), _VpuOperand("b", _operand(stmt, "b"), False)]
    _vpu(sel, stmt, env, ops, stmt.dst.rows, stmt.dst.cols, dtype=stmt.dtype.value, bcast=stmt.bcast)


def _emit_unary(sel: Selector, stmt: Vector, env: Mapping[str, int]) -> None:
    ops = [_VpuOperand("dst", stmt.dst, True), _VpuOperand("a", _operand(stmt, "a"), False)]
    _vpu(sel, stmt, env, ops, stmt.dst.rows, stmt.dst.cols, dtype=stmt.dtype.value, bcast=stmt.bcast)


def _emit_scalar(sel: Selector, stmt: Vector, env: Mapping[str, int]) -> None:
    ops = [_VpuOperand("dst", stmt.dst, True), _VpuOperand("a", _operand(stmt, "a"), False)]
    _vpu(sel, stmt, env, ops, stmt.dst.rows, stmt.dst.cols, dtype=stmt.dtype.value, imm=float(stmt.imm))


def _emit_fill(sel: Selector, stmt: Vector, env: Mapping[str, int]) -> None:
    _vpu(sel, stmt, env, [_VpuOperand("dst", stmt.dst, True)], stmt.dst.rows, stmt.dst.cols,
         dtype=stmt.dtype.value, imm=float(stmt.imm))


def _emit_reduce(sel: Selector, stmt: Vector, env: Mapping[str, int]) -> None:
    a = _operand(stmt, "a")
    ops = [_VpuOperand("dst", stmt.dst, True), _VpuOperand("a", a, False)]
    _vpu(sel, stmt, env, ops, a.rows, a.cols, dtype=stmt.dtype.value)


def _emit_convert(sel: Selector, stmt: Vector, env: Mapping[str, int]) -> None:
    if stmt.odt is None:
        raise VerificationError(f"kernel {sel.kernel_name}: cvt needs odt")
    ops = [_VpuOperand("dst", stmt.dst, True), _VpuOperand("a", _operand(stmt, "a"), False)]
    _vpu(sel, stmt, env, ops, stmt.dst.rows, stmt.dst.cols, dtype=stmt.dtype.value, odt=stmt.odt.value,
         bcast=stmt.bcast)


def _emit_topk(sel: Selector, stmt: Vector, env: Mapping[str, int]) -> None:
    a = _operand(stmt, "a")
    ops = [_VpuOperand("dst", stmt.dst, True), _VpuOperand("a", a, False),
           _VpuOperand("b", _operand(stmt, "b"), True)]
    _vpu(sel, stmt, env, ops, a.rows, a.cols, dtype=stmt.dtype.value, k=stmt.k)


def _emit_nonzero(sel: Selector, stmt: Vector, env: Mapping[str, int]) -> None:
    a = _operand(stmt, "a")
    ops = [_VpuOperand("dst", stmt.dst, True), _VpuOperand("a", a, False),
           _VpuOperand("b", _operand(stmt, "b"), True)]
    # Indices are flat over the whole tile, so the op cannot be split into row blocks.
    _vpu(sel, stmt, env, ops, a.rows, a.cols, splittable=False, dtype=stmt.dtype.value)


_VECTOR_KIND_EMITTERS: dict[str, Callable[[Selector, Vector, Mapping[str, int]], None]] = {
    "binary": _emit_binary,
    "unary": _emit_unary,
    "scalar": _emit_scalar,
    "fill": _emit_fill,
    "reduce": _emit_reduce,
    "convert": _emit_convert,
    "topk": _emit_topk,
    "nonzero": _emit_nonzero,
}
#: VPU op name -> emitter (every op of :data:`moecc.ir.kernel.VECTOR_OPS`).
VECTOR_EMITTERS: dict[str, Callable[[Selector, Vector, Mapping[str, int]], None]] = {
    op: _VECTOR_KIND_EMITTERS[kind] for op, kind in VECTOR_OPS.items()
}


def emit_vector(sel: Selector, stmt: Vector, env: Mapping[str, int]) -> None:
    emitter = VECTOR_EMITTERS.get(stmt.op)
    if emitter is None:
        raise TargetError(f"kernel {sel.kernel_name}: no VPU instruction for vector op '{stmt.op}'",
                          remedy=f"use one of {', '.join(VECTOR_EMITTERS)}")
    sel.describe(stmt, env, f"{stmt.op} -> {stmt.dst.buffer}")
    emitter(sel, stmt, env)


def emit_for(sel: Selector, stmt: For, env: Mapping[str, int]) -> None:
    if isinstance(stmt.count, Count):
        emit_dynamic_for(sel, stmt, stmt.count, env)
        return
    for value in range(stmt.count):
        sel.select_body(stmt.body, {**env, stmt.var: value})


def emit_dynamic_for(sel: Selector, stmt: For, count: Count, env: Mapping[str, int]) -> None:
    """A run-time trip count: unrolled to ``max_count`` iterations, each guarded by a ``blt``
    out of the loop (see the module docstring for the code and why it schedules correctly)."""
    if sel.dynamic_loop is not None:
        raise TargetError(
            f"kernel {sel.kernel_name}: loop %{stmt.var} with a run-time count is nested in run-time loop "
            f"%{sel.dynamic_loop}; instruction selection supports one level of run-time loops",
            remedy="make the inner (or outer) loop's trip count static")
    if stmt.max_count is None or stmt.max_count < 0:
        raise VerificationError(f"kernel {sel.kernel_name}: loop %{stmt.var} with a run-time count needs "
                                f"max_count >= 0")
    buf, at = sel.local_address(count.ref, env)
    if buf.space != "sram" or buf.dtype != DType.I32:
        raise VerificationError(f"kernel {sel.kernel_name}: loop %{stmt.var} reads its count from "
                                f"{buf.space} {buf.dtype} buffer {buf.name}; it must be sram i32")
    if stmt.max_count == 0:
        return  # the body can never run
    where = f"{count.buffer}[{count.offset.eval(env)}]"
    sel.describe(stmt, env, f"for {stmt.var} < {where} (max {stmt.max_count})")
    end = sel.new_label(f"{sel.kernel_name}.{stmt.var}.end")
    begin = len(sel.out)
    sel.out.append(SelectedInstruction(LABEL, {"name": sel.new_label(f"{sel.kernel_name}.{stmt.var}.start"),
                                               "loop_start": True}, LABEL, comment=sel.comment, kernel=sel.kernel_name))
    # The scheduler fences the lds on the count's producer (it reads SRAM when dispatched).
    sel.emit("lds", reads=[ByteRange("sram", at, at + 4)], rd=COUNT_REGISTER, addr=sel.address("lds", "addr", at))
    sel.dynamic_loop = stmt.var
    try:
        for value in range(stmt.max_count):
            inner = {**env, stmt.var: value}
            sel.describe(stmt, inner, f"iteration {value} of for {stmt.var} < {where}")
            sel.emit("li", rd=TRIP_REGISTER, imm=value + 1)
            sel.emit("blt", ra=COUNT_REGISTER, rb=TRIP_REGISTER, target=end)
            # A guard: the scheduler queues unit marks here for what this iteration's
            # instructions depend on before it (see schedule.Scheduler.guard).
            sel.out.append(SelectedInstruction(LABEL, {"name": sel.new_label(f"{sel.kernel_name}.{stmt.var}.guard"),
                                                       "guard": True, "first": value == 0}, LABEL,
                                               comment=sel.comment, kernel=sel.kernel_name))
            sel.select_body(stmt.body, inner)
            if value == stmt.max_count - 1:
                break  # after the last iteration only what was known before the loop holds
            # The iteration's last point: the scheduler settles what it knows here (fences
            # on the marks at the iteration's start, which ran if the iteration did).
            sel.out.append(SelectedInstruction(LABEL, {"name": sel.new_label(f"{sel.kernel_name}.{stmt.var}.settle"),
                                                       "settle": True}, LABEL, comment=sel.comment,
                                               kernel=sel.kernel_name))
    finally:
        sel.dynamic_loop = None
    sel.describe(stmt, env, f"end of for {stmt.var} < {where}")
    sel.out.append(SelectedInstruction(LABEL, {"name": end, "loop_end": True}, LABEL, comment=sel.comment,
                                       kernel=sel.kernel_name))
    sel.registers.clear()  # a skipped body's li's did not run
    # One mark per queued unit the loop used, touching everything the loop did on it: it
    # completes after that unit's last instruction that ran, so what follows waits on it.
    touched: dict[str, tuple[list[ByteRange], list[ByteRange]]] = {}
    for inst in sel.out[begin:]:
        if inst.unit in UNIT_MARKS:
            reads, writes = touched.setdefault(inst.unit, ([], []))
            reads.extend(inst.reads)
            writes.extend(inst.writes)
    for unit, (reads, writes) in touched.items():
        sel.emit(UNIT_MARKS[unit], reads=merge_ranges(reads), writes=merge_ranges(writes))


#: Statement type -> emitter. Loops unroll here; each other statement becomes 1+ instructions.
STATEMENT_EMITTERS: dict[type, Callable[[Selector, Any, Mapping[str, int]], None]] = {
    Load: emit_load,
    Store: emit_store,
    Gather: emit_gather,
    Scatter: emit_scatter,
    MatMul: emit_matmul,
    Vector: emit_vector,
    For: emit_for,
}


def select_instructions(module: KernelModule, kernels: Sequence[Kernel], target: Target,
                        isa: IsaSpec | None = None,
                        weights: Mapping[str, np.ndarray] | None = None) -> list[SelectedInstruction]:
    """The unscheduled instruction stream of ``kernels`` (one program) of a planned module,
    each kernel's leading weight loads selected in the kernel before (:meth:`Selector.select_kernel`);
    ``weights`` (HBM data by buffer, flat) lets loads marked ``skip_zero_blocks`` leave out
    the zero blocks."""
    selector = Selector(module, target, isa, weights)
    for i, kernel in enumerate(kernels):
        # The next kernel, and past weight fills (all leading loads) the first kernel after them.
        end = i + 1
        while end < len(kernels) and is_fill_kernel(kernels[end]):
            end += 1
        selector.select_kernel(kernel, kernels[i + 1:end + 1])
    return selector.out
