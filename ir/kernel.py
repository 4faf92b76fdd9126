"""Kernel IR: tiled loop nests over explicit buffers, between the graph passes and the backends.

After partitioning, every graph op the ASIC runs becomes a :class:`Kernel`: a loop nest
(:class:`For`, static trip counts) of tile statements over buffers in memory spaces
(``hbm``, ``sram``, ``acc``). Ops the ASIC cannot run become :class:`CpuCall` steps that
the host executes between kernels. Memory planning fills in every buffer's byte ``offset``;
instruction selection (:mod:`moecc.backend.asic.isel`) then maps each statement onto
moe-asic instructions, so tiling, fusion and layout decisions are made once, here.

Addressing: every offset is an :class:`Affine` expression of the enclosing loop variables,
in *elements* of the buffer's dtype.

- An :class:`HbmRef` is a 2-D strided window of an HBM buffer seen as a flat array:
  element ``(r, c)`` of the window is ``flat[offset + r * pitch + c]``.
- A :class:`LocalRef` is a contiguous ``rows x cols`` tile in an SRAM or accumulator buffer,
  starting at element ``offset`` of slot ``slot`` modulo the buffer's slots (buffers with ``slots > 1`` are multi-
  buffered: slot ``i % 2`` is the double-buffering idiom).

Statements (each maps to one instruction kind; see :data:`VECTOR_OPS`):
``Load`` (HBM → SRAM, 2-D strided), ``Store`` (SRAM → HBM), ``Gather`` (rows of an HBM
table by an int32 index list in SRAM), ``Scatter`` (the inverse: SRAM rows into rows of an
HBM table by an index list, ``add`` to accumulate, as MoE combine needs), ``MatMul``
(acc ← [acc +] a @ w), ``Vector`` (one VPU op), ``For`` (loop).

Loops have a static trip count, or a run-time one (:class:`Count`: an int32 element of an
SRAM buffer, e.g. the number of tokens routed to an expert): such a *dynamic* loop declares
``max_count``, the static bound that verification and instruction selection work with, and
runs its body ``clamp(count, 0, max_count)`` times.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Union

from moecc.errors import VerificationError
from moecc.ir.affine import Affine  # defined there for both tiled levels; kernel-IR users import it from here too
from moecc.ir.types import DType

Space = Literal["hbm", "sram", "acc"]
SPACES: tuple[str, ...] = ("hbm", "sram", "acc")
#: Element types the ASIC's memories and units work in.
KERNEL_DTYPES: tuple[DType, ...] = (DType.F32, DType.BF16, DType.I32, DType.U8)
#: HBM buffer roles: program inputs/outputs, constant weights, intermediates,
#: intermediates memory planning kept on chip (``resident``: the buffer's offset is an SRAM
#: byte address, and its loads and stores are on-chip copies), and the on-chip copies of
#: weights (``home``: an SRAM address too, filled from the weight by a fill kernel).
HBM_ROLES: tuple[str, ...] = ("input", "output", "weight", "temp", "resident", "home")
#: Roles of HBM-level buffers that live in SRAM (their offset is an SRAM byte address).
ON_CHIP_ROLES: tuple[str, ...] = ("resident", "home")

#: VPU operations a :class:`Vector` statement may name, with their operand pattern:
#: ``"binary"`` (dst, a, b with bcast), ``"unary"`` (dst, a with bcast), ``"scalar"`` (dst, a, imm),
#: ``"fill"`` (dst, imm), ``"reduce"`` (dst rows x 1, a), ``"convert"`` (dst in ``odt``, a),
#: ``"topk"`` (dst values rows x k, b indices rows x k int32, a input: ``topk`` the largest,
#: ``topkmin`` the smallest), ``"nonzero"``.
VECTOR_OPS: dict[str, str] = {
    **{op: "binary" for op in ("add", "sub", "mul", "div", "max", "min", "cmpgt", "cmpge", "cmpeq", "sel")},
    **{op: "unary" for op in ("mov", "neg", "abs", "exp", "log", "rsqrt", "rcp", "tanh", "erf", "sigmoid", "sqrt")},
    **{op: "scalar" for op in ("adds", "muls", "maxs", "mins")},
    "fill": "fill",
    "rsum": "reduce",
    "rmax": "reduce",
    "cvt": "convert",
    "topk": "topk",
    "topkmin": "topk",
    "nonzero": "nonzero",
}
BCAST_MODES: tuple[str, ...] = ("none", "row", "col", "scalar")


@dataclass(frozen=True, slots=True)
class Buffer:
    """A buffer in one memory space. ``shape`` is the logical shape (HBM: the graph value's
    shape; SRAM/acc: ``(rows, cols)`` of one slot); ``offset`` is its byte address, set by
    memory planning."""

    name: str
    space: str
    dtype: DType
    shape: tuple[int, ...]
    slots: int = 1
    offset: int | None = None
    role: str = "temp"

    @property
    def elements(self) -> int:
        count = 1
        for d in self.shape:
            count *= d
        return count

    @property
    def slot_bytes(self) -> int:
        return self.elements * self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.slot_bytes * self.slots

    def placed(self, offset: int) -> Buffer:
        return Buffer(self.name, self.space, self.dtype, self.shape, self.slots, offset, self.role)


@dataclass(frozen=True, slots=True)
class HbmRef:
    """A 2-D strided window of an HBM buffer viewed flat: ``flat[offset + r*pitch + c]``."""

    buffer: str
    offset: Affine
    rows: int
    cols: int
    pitch: int


@dataclass(frozen=True, slots=True)
class LocalRef:
    """A contiguous ``rows x cols`` tile of an SRAM/acc buffer at element ``offset`` of ``slot``;
    with a ``pitch`` (elements from one row's start to the next; 0: ``cols``, contiguous), a
    strided block of a wider local, which only a DMA (:class:`Load`, :class:`Store`) may
    address: the DMA writes and reads rows at a stride on both sides."""

    buffer: str
    rows: int
    cols: int
    offset: Affine = Affine()
    slot: Affine = Affine()
    pitch: int = 0

    @property
    def row_pitch(self) -> int:
        """Elements from one row's start to the next."""
        return self.pitch or self.cols

    @property
    def extent(self) -> int:
        """Elements from the first to one past the last the tile covers."""
        return (self.rows - 1) * self.row_pitch + self.cols


@dataclass(frozen=True, slots=True)
class Load:
    """``dst (sram) <- src (hbm)``, one 2-D strided DMA.

    ``skip_zero_blocks`` (a block edge ``B``, 0: none): the ``B x B`` blocks of the tile (from
    its origin) that are all zero in HBM may be left unloaded, since whatever reads the tile
    skips them (a ``blocks`` matmul masking them); instruction selection leaves their bytes
    out when the HBM data is known (a weight)."""

    dst: LocalRef
    src: HbmRef
    skip_zero_blocks: int = 0


@dataclass(frozen=True, slots=True)
class Store:
    """``dst (hbm) <- src (sram)``, one 2-D strided DMA."""

    dst: HbmRef
    src: LocalRef


@dataclass(frozen=True, slots=True)
class Gather:
    """``dst row i <- table row indices[i]`` (``dst``: n x cols in SRAM; ``indices``: n x 1 int32
    in SRAM; ``table``: HBM window whose ``pitch`` is the row stride and ``cols`` the row width)."""

    dst: LocalRef
    table: HbmRef
    indices: LocalRef
    #: A run-time row count (an int32 SRAM cell): only the first ``clamp(rows, 0, n)`` rows
    #: are gathered (an MoE tile's tokens); the others of ``dst`` are left as they were.
    rows: Count | None = None


@dataclass(frozen=True, slots=True)
class Scatter:
    """``table row indices[i] <- src row i`` (``add``: ``+=``, duplicates all add, in ``dtype``): ``src`` n x cols in SRAM; ``indices`` 1 x n or n x 1 int32 in SRAM; ``table`` an HBM window whose ``pitch`` is the row stride (elements) and ``cols`` the row width.

    Rows are written in order, so without ``add`` a repeated index keeps the last row. With
    ``add`` the sums are formed in f32 and rounded to ``dtype`` once (``dma.scatter_add``)."""

    table: HbmRef
    src: LocalRef
    indices: LocalRef
    add: bool = False
    dtype: DType = DType.F32
    #: As :class:`Gather`'s: only the first ``clamp(rows, 0, n)`` rows are written.
    rows: Count | None = None


@dataclass(frozen=True, slots=True)
class MatMul:
    """``dst (acc, m x n, f32) <- [dst +] a (sram, m x k) @ w (sram, k x n)`` on the MXU.

    With ``transpose_w`` the tile ``w`` is stored ``n x k`` and used transposed (``a @ w^T``):
    the weight-stationary array loads it transposed for free, so ``q @ k^T`` reads rows of K.

    A sparse weight names its ``mask`` (a u8 SRAM tile) and ``sparsity``:

    - ``"blocks"``: the weight ``W`` (``k x n``) is split in ``block``-square blocks and ``mask``
      (``k/block x n/block``, row-major) is 0 for the blocks that are all zero: they are skipped
      (``mxu.mmsp``), and their bytes in ``w`` may never have been loaded;
    - ``"2:4"``: ``w`` holds the kept values of a 2:4 weight (``k/2 x n``, not transposed) and
      ``mask`` their positions (``k/4 x n``), as :mod:`moecc.ir.sparse24` lays them out
      (``mxu.mm24``)."""

    dst: LocalRef
    a: LocalRef
    w: LocalRef
    accumulate: bool = False
    dtype: DType = DType.F32
    transpose_w: bool = False
    #: A run-time row count (an int32 SRAM cell, as a loop's :class:`Count`): only the first
    #: ``clamp(rows, 0, m)`` rows are computed, the others of ``dst`` keep their values.
    rows: Count | None = None
    sparsity: str = "dense"
    mask: LocalRef | None = None
    block: int = 0

    @property
    def w_shape(self) -> tuple[int, int]:
        """``(k, n)`` of the weight as the product uses it."""
        if self.sparsity == "2:4":
            return 2 * self.w.rows, self.w.cols
        return (self.w.cols, self.w.rows) if self.transpose_w else (self.w.rows, self.w.cols)


@dataclass(frozen=True, slots=True)
class Vector:
    """One VPU operation (``op`` from :data:`VECTOR_OPS`) on tiles in SRAM or acc."""

    op: str
    dst: LocalRef
    a: LocalRef | None = None
    b: LocalRef | None = None
    bcast: str = "none"
    imm: float = 0.0
    k: int = 0
    dtype: DType = DType.F32
    odt: DType | None = None


@dataclass(frozen=True, slots=True)
class Count:
    """A run-time trip count: the int32 element at ``offset`` (elements, an Affine of the enclosing loop variables) of the local SRAM buffer ``buffer``."""

    buffer: str
    offset: Affine = Affine()
    slot: Affine = Affine()  # of a multi-buffered cell: the next loop's count loads into another slot

    @property
    def ref(self) -> LocalRef:
        """The 1 x 1 tile the count is read from."""
        return LocalRef(self.buffer, 1, 1, self.offset, self.slot)


@dataclass(frozen=True, slots=True)
class For:
    """``for var in range(count): body``.

    ``count`` is static, or a :class:`Count` read when the loop starts (a *dynamic* loop).
    A dynamic loop must declare ``max_count`` (>= 0), its static bound: the body runs
    ``clamp(count, 0, max_count)`` times with ``var = 0, 1, ...``. The producer of the count
    guarantees ``count <= max_count`` (the clamp is what the hardware does otherwise: the
    unrolled code has ``max_count`` iterations); tiles are verified for every ``var`` below
    ``max_count``. Static loops leave ``max_count`` None."""

    var: str
    count: int | Count
    body: tuple[Stmt, ...]
    max_count: int | None = None

    @property
    def is_dynamic(self) -> bool:
        """Whether the trip count is read at run time."""
        return isinstance(self.count, Count)

    @property
    def trip_bound(self) -> int:
        """The most iterations the loop can run (its count, or its declared ``max_count``)."""
        if isinstance(self.count, Count):
            return self.max_count if self.max_count is not None else 0
        return self.count


Stmt = Union[Load, Store, Gather, Scatter, MatMul, Vector, For]


@dataclass(frozen=True, slots=True)
class Kernel:
    """One ASIC kernel: local buffers and a statement list; ``sources`` name the graph ops."""

    name: str
    buffers: tuple[Buffer, ...]
    body: tuple[Stmt, ...]
    sources: tuple[str, ...] = ()

    def buffer(self, name: str) -> Buffer:
        for b in self.buffers:
            if b.name == name:
                return b
        raise KeyError(name)


@dataclass(frozen=True, slots=True)
class CpuCall:
    """A host step: run the graph ops producing ``outputs`` from ``inputs`` (HBM buffer names,
    which are also the graph value names) on the CPU."""

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    ops: tuple[str, ...] = ()


Step = Union[Kernel, CpuCall]


@dataclass(slots=True)
class KernelModule:
    """The kernel-IR program: HBM buffers (one per graph value that crosses a kernel) and steps."""

    hbm: list[Buffer] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    def hbm_buffer(self, name: str) -> Buffer:
        for b in self.hbm:
            if b.name == name:
                return b
        raise KeyError(name)

    @property
    def kernels(self) -> list[Kernel]:
        return [s for s in self.steps if isinstance(s, Kernel)]


def walk(body: Sequence[Stmt], ranges: dict[str, int] | None = None) -> Iterator[tuple[Stmt, dict[str, int]]]:
    """Every non-loop statement with the trip counts of its enclosing loops (a dynamic
    loop's ``max_count``: every iteration that can run)."""
    ranges = dict(ranges or {})
    for stmt in body:
        if isinstance(stmt, For):
            inner = dict(ranges)
            inner[stmt.var] = stmt.trip_bound
            yield from walk(stmt.body, inner)
        else:
            yield stmt, ranges


def walk_loops(body: Sequence[Stmt], ranges: dict[str, int] | None = None) -> Iterator[tuple[For, dict[str, int]]]:
    """Every loop with the trip counts of the loops *enclosing* it (what its :class:`Count`
    offset may depend on), outer loops first."""
    ranges = dict(ranges or {})
    for stmt in body:
        if isinstance(stmt, For):
            yield stmt, ranges
            inner = dict(ranges)
            inner[stmt.var] = stmt.trip_bound
            yield from walk_loops(stmt.body, inner)


def local_refs(stmt: Stmt) -> list[tuple[str, LocalRef]]:
    """The (role, ref) pairs of a statement's SRAM/acc operands; role is 'read' or 'write'.

    For a loop: only what the loop header itself touches (a dynamic loop reads its
    :class:`Count` as a 1 x 1 tile), not its body (use :func:`walk` for that)."""
    if isinstance(stmt, For):
        return [("read", stmt.count.ref)] if isinstance(stmt.count, Count) else []
    if isinstance(stmt, Load):
        return [("write", stmt.dst)]
    if isinstance(stmt, Store):
        return [("read", stmt.src)]
    if isinstance(stmt, Gather):
        refs = [("write", stmt.dst), ("read", stmt.indices)]
        return refs + ([("read", stmt.dst), ("read", stmt.rows.ref)] if stmt.rows is not None else [])
    if isinstance(stmt, Scatter):
        return [("read", stmt.src), ("read", stmt.indices)] + ([("read", stmt.rows.ref)] if stmt.rows is not None else [])
    if isinstance(stmt, MatMul):
        refs = [("read", stmt.a), ("read", stmt.w), ("write", stmt.dst)]
        # A run-time row count leaves the rows past it as they were: dst is read too.
        refs += [("read", stmt.dst)] if stmt.accumulate or stmt.rows is not None else []
        refs += [("read", stmt.mask)] if stmt.mask is not None else []
        return refs + ([("read", stmt.rows.ref)] if stmt.rows is not None else [])
    if isinstance(stmt, Vector):
        refs: list[tuple[str, LocalRef]] = [("write", stmt.dst)]
        if stmt.op == "sel":
            refs.append(("read", stmt.dst))
        if stmt.a is not None:
            refs.append(("read", stmt.a))
        if stmt.b is not None:
            refs.append(("write" if VECTOR_OPS.get(stmt.op) in ("topk", "nonzero") else "read", stmt.b))
        return refs
    return []


def hbm_refs(stmt: Stmt) -> list[tuple[str, HbmRef]]:
    """The (role, ref) pairs of a statement's HBM operands; role is 'read' or 'write'."""
    if isinstance(stmt, Load):
        return [("read", stmt.src)]
    if isinstance(stmt, Store):
        return [("write", stmt.dst)]
    if isinstance(stmt, Gather):
        return [("read", stmt.table)]
    if isinstance(stmt, Scatter):
        # Which rows are written depends on the indices: the whole window counts.
        return [("write", stmt.table)] + ([("read", stmt.table)] if stmt.add else [])
    return []


def verify_kernel_module(module: KernelModule) -> None:
    """Check buffers exist, spaces/dtypes fit each statement, and every tile stays inside its
    buffer for all loop iterations (a dynamic loop's up to ``max_count``); a dynamic loop's
    :class:`Count` must be an in-bounds element of a local SRAM i32 buffer. Raises
    :class:`VerificationError` naming kernel and statement (or loop)."""
    hbm = {b.name: b for b in module.hbm}
    if len(hbm) != len(module.hbm):
        raise VerificationError("kernel module: duplicate HBM buffer names")
    for b in module.hbm:
        if b.space != "hbm" or b.role not in HBM_ROLES:
            raise VerificationError(f"HBM buffer {b.name}: space {b.space}, role {b.role}")
    for name in module.inputs + module.outputs:
        if name not in hbm:
            raise VerificationError(f"kernel module input/output '{name}' has no HBM buffer")
    for step in module.steps:
        if isinstance(step, CpuCall):
            for name in step.inputs + step.outputs:
                if name not in hbm:
                    raise VerificationError(f"cpu step {step.name}: unknown HBM buffer '{name}'")
            continue
        local = {b.name: b for b in step.buffers}
        for b in step.buffers:
            if b.space not in ("sram", "acc") or len(b.shape) != 2 or b.slots < 1:
                raise VerificationError(f"kernel {step.name}: local buffer {b.name} must be a 2-D sram/acc buffer")
            if b.space == "acc" and b.dtype != DType.F32:
                raise VerificationError(f"kernel {step.name}: accumulator buffer {b.name} must be f32")
        for loop, ranges in walk_loops(step.body):
            _check_loop(loop, local, ranges, f"kernel {step.name}, loop %{loop.var}")
        for index, (stmt, ranges) in enumerate(walk(step.body)):
            where = f"kernel {step.name}, statement {index} ({type(stmt).__name__})"
            # Bounds only matter when some iteration reaches the statement (no loop runs 0 times).
            runs = all(trips > 0 for trips in ranges.values())
            for _, ref in local_refs(stmt):
                _check_local(ref, local, ranges, where, bounds=runs)
            for _, href in hbm_refs(stmt):
                _check_hbm(href, hbm, ranges, where, bounds=runs)
            _check_statement(stmt, local, where)


#: A matmul's weight forms (:attr:`MatMul.sparsity`).
MATMUL_SPARSITIES: tuple[str, ...] = ("dense", "blocks", "2:4")


def _check_sparse_matmul(stmt: MatMul, local: Mapping[str, Buffer], where: str) -> None:
    """A sparse matmul's mask: a u8 SRAM tile of the shape its form needs."""
    if stmt.sparsity not in MATMUL_SPARSITIES:
        raise VerificationError(f"{where}: matmul sparsity '{stmt.sparsity}' is not one of {', '.join(MATMUL_SPARSITIES)}")
    if stmt.sparsity == "dense":
        if stmt.mask is not None:
            raise VerificationError(f"{where}: a dense matmul has no mask")
        return
    mask = stmt.mask
    if mask is None or local[mask.buffer].space != "sram" or local[mask.buffer].dtype != DType.U8:
        raise VerificationError(f"{where}: a {stmt.sparsity} matmul's mask is a u8 SRAM tile")
    k, n = stmt.w_shape
    if stmt.sparsity == "blocks":
        b = stmt.block
        if b < 4 or b & (b - 1) or k % b or n % b:
            raise VerificationError(f"{where}: block {b} must be a power of two >= 4 dividing k={k} and n={n}")
        want = (k // b, n // b)
    else:
        if stmt.transpose_w or k % 4:
            raise VerificationError(f"{where}: a 2:4 weight is not transposed and k={k} is a multiple of 4")
        want = (k // 4, n)
    if (mask.rows, mask.cols) != want:
        raise VerificationError(f"{where}: the {stmt.sparsity} mask is {mask.rows}x{mask.cols}, not {want[0]}x{want[1]}")


def _check_loop(loop: For, local: Mapping[str, Buffer], ranges: Mapping[str, int], where: str) -> None:
    if not isinstance(loop.count, Count):
        if loop.max_count is not None:
            raise VerificationError(f"{where}: max_count is only for a loop with a run-time count (a Count)")
        return
    if loop.max_count is None or isinstance(loop.max_count, bool) or not isinstance(loop.max_count, int) \
            or loop.max_count < 0:
        raise VerificationError(f"{where}: a loop with a run-time count needs max_count >= 0, "
                                f"got {loop.max_count!r}")
    count = loop.count
    buf = local.get(count.buffer)
    if buf is None:
        raise VerificationError(f"{where}: unknown local buffer '{count.buffer}' for the trip count")
    if buf.space != "sram" or buf.dtype != DType.I32:
        raise VerificationError(f"{where}: the trip count is read from {buf.space} {buf.dtype} buffer "
                                f"{buf.name}; it must be a local sram i32 buffer")
    unknown = [var for var, _ in count.offset.terms if var not in ranges]
    if unknown:
        raise VerificationError(f"{where}: the trip count's offset {count.offset} uses {', '.join(unknown)}, "
                                f"which is not an enclosing loop variable")
    # Bounds only matter when the count is read (no enclosing loop runs 0 times).
    _check_local(count.ref, local, ranges, f"{where} (trip count)", bounds=all(t > 0 for t in ranges.values()))


def _check_local(ref: LocalRef, local: Mapping[str, Buffer], ranges: Mapping[str, int], where: str,
                 bounds: bool = True) -> None:
    buf = local.get(ref.buffer)
    if buf is None:
        raise VerificationError(f"{where}: unknown local buffer '{ref.buffer}'")
    if not bounds:
        return
    lo, hi = ref.offset.bounds(ranges)
    slo, shi = ref.slot.bounds(ranges)
    # A slot is taken modulo the buffer's slots (a ring: a run-time loop's iteration names its
    # slot), so only a negative one is out of range.
    if lo < 0 or hi + ref.extent > buf.elements or slo < 0 or ref.rows <= 0 or ref.cols <= 0 or ref.pitch < 0 \
            or 0 < ref.pitch < ref.cols:
        raise VerificationError(
            f"{where}: tile {ref.rows}x{ref.cols} at element {ref.offset} slot {ref.slot} does not fit "
            f"buffer {buf.name} ({buf.shape[0]}x{buf.shape[1]} x {buf.slots} slots)"
        )


def _check_hbm(ref: HbmRef, hbm: Mapping[str, Buffer], ranges: Mapping[str, int], where: str,
               bounds: bool = True) -> None:
    buf = hbm.get(ref.buffer)
    if buf is None:
        raise VerificationError(f"{where}: unknown HBM buffer '{ref.buffer}'")
    if not bounds:
        return
    lo, hi = ref.offset.bounds(ranges)
    last = hi + (ref.rows - 1) * ref.pitch + ref.cols
    if lo < 0 or last > buf.elements or ref.rows <= 0 or ref.cols <= 0 or ref.pitch < 0:
        raise VerificationError(
            f"{where}: HBM window {ref.rows}x{ref.cols} (pitch {ref.pitch}) at element {ref.offset} "
            f"leaves buffer {buf.name} ({buf.elements} elements)"
        )


def _check_statement(stmt: Stmt, local: Mapping[str, Buffer], where: str) -> None:
    def space(ref: LocalRef) -> str:
        return local[ref.buffer].space

    dma_side = stmt.dst if isinstance(stmt, Load) else stmt.src if isinstance(stmt, Store) else None
    for _, ref in local_refs(stmt):
        if ref.pitch and ref.pitch != ref.cols and ref is not dma_side:
            raise VerificationError(f"{where}: only a load's destination or a store's source may be a pitched "
                                    f"tile ({ref.buffer}[{ref.rows}x{ref.cols} pitch {ref.pitch}])")

    if isinstance(stmt, (Load, Store, Gather)):
        ref = stmt.dst if isinstance(stmt, (Load, Gather)) else stmt.src
        other = stmt.src if isinstance(stmt, Load) else stmt.dst if isinstance(stmt, Store) else stmt.table
        if space(ref) != "sram":
            raise VerificationError(f"{where}: DMA reaches only SRAM, not {space(ref)}")
        if (ref.rows, ref.cols) != (other.rows, other.cols) and not isinstance(stmt, Gather):
            raise VerificationError(f"{where}: DMA tile {ref.rows}x{ref.cols} vs HBM window {other.rows}x{other.cols}")
    if isinstance(stmt, Scatter):
        if space(stmt.src) != "sram" or space(stmt.indices) != "sram":
            raise VerificationError(f"{where}: scatter reads rows and indices from SRAM only")
        n = stmt.src.rows
        if (stmt.indices.rows, stmt.indices.cols) not in ((1, n), (n, 1)):
            raise VerificationError(f"{where}: scatter of {n} rows needs 1x{n} or {n}x1 indices, "
                                    f"not {stmt.indices.rows}x{stmt.indices.cols}")
        if local[stmt.indices.buffer].dtype != DType.I32:
            raise VerificationError(f"{where}: scatter indices {stmt.indices.buffer} must be i32")
        if stmt.src.cols != stmt.table.cols:
            raise VerificationError(f"{where}: scatter of {stmt.src.cols}-column rows into table rows of "
                                    f"{stmt.table.cols}")
        if stmt.add and stmt.dtype not in (DType.F32, DType.BF16):
            raise VerificationError(f"{where}: scatter_add adds in f32 or bf16, not {stmt.dtype}")
        if stmt.add and local[stmt.src.buffer].dtype != stmt.dtype:
            raise VerificationError(f"{where}: scatter_add in {stmt.dtype} of {local[stmt.src.buffer].dtype} "
                                    f"rows from {stmt.src.buffer}")
    if isinstance(stmt, MatMul):
        if space(stmt.dst) != "acc" or space(stmt.a) != "sram" or space(stmt.w) != "sram":
            raise VerificationError(f"{where}: matmul needs acc <- sram @ sram")
        k, n = stmt.w_shape
        if stmt.a.cols != k or stmt.dst.rows != stmt.a.rows or stmt.dst.cols != n:
            raise VerificationError(
                f"{where}: matmul shapes {stmt.dst.rows}x{stmt.dst.cols} <- {stmt.a.rows}x{stmt.a.cols} @ "
                f"{stmt.w.rows}x{stmt.w.cols}{'^T' if stmt.transpose_w else ''}"
            )
        if stmt.rows is not None and (space(stmt.rows.ref) != "sram" or local[stmt.rows.buffer].dtype != DType.I32):
            raise VerificationError(f"{where}: a matmul's row count is an i32 SRAM cell, not "
                                    f"{space(stmt.rows.ref)} {local[stmt.rows.buffer].dtype}")
        if stmt.dtype not in (DType.F32, DType.BF16):
            raise VerificationError(f"{where}: matmul dtype {stmt.dtype}")
        _check_sparse_matmul(stmt, local, where)
    if isinstance(stmt, Vector):
        kind = VECTOR_OPS.get(stmt.op)
        if kind is None:
            raise VerificationError(f"{where}: unknown vector op '{stmt.op}'")
        if stmt.bcast not in BCAST_MODES:
            raise VerificationError(f"{where}: bcast '{stmt.bcast}'")
        if kind in ("binary", "unary", "scalar", "reduce", "convert", "topk", "nonzero") and stmt.a is None:
            raise VerificationError(f"{where}: vector op '{stmt.op}' needs operand a")
        if kind in ("binary", "topk", "nonzero") and stmt.b is None:
            raise VerificationError(f"{where}: vector op '{stmt.op}' needs operand b")
        if kind == "convert" and stmt.odt is None:
            raise VerificationError(f"{where}: cvt needs odt")
