"""ASIC lowering rules for data movement: reshape, transpose, slice, concat, expand, tile, gather.

Position in the flow: registered into :data:`moecc.passes.kernel_lowering.ASIC_LOWERINGS`
and called by :func:`~moecc.passes.kernel_lowering.lower_to_kernels` after partitioning.
None of these ops computes anything, so every rule is a DMA program: HBM → SRAM tile → HBM.

Every op except ``gather`` is one or more *strided copies*: the result (row-major in HBM) and
a strided view of the operand address the same logical array, e.g. ``transpose{perm}``
reads ``x`` with its strides permuted, ``slice`` multiplies them by the steps, ``expand``
sets them to 0 on broadcast axes. :func:`plan_copy` merges axes that are contiguous on both
sides, then picks two axes for the SRAM tile:

- ``c`` (tile columns): a side whose stride on ``c`` is 1 moves the tile with one 2-D
  window (rows along ``q``, pitch = its stride on ``q``); a side with another stride moves it
  with one *element window* per tile row (``rows = cols of the tile``, ``cols = 1``, ``pitch``
  = its stride on ``c``): this is how transposes that move the last axis (attention's K^T)
  and steps on the last axis work, because SRAM tiles are always contiguous.
- ``q`` (tile rows): the widest remaining axis whose pitch fits the DMA stride field.

Among the candidate ``c`` axes the plan with the fewest DMAs wins. The other axes become a
loop nest; operand axes with stride 0 (broadcasts) loop *inside* the load, so the tile is
loaded once and stored to every broadcast position, and a broadcast within the tile is a
VPU ``mov`` with ``bcast=row/col/scalar``. The innermost loop with two or more tiles is
unrolled over 2-4 tile slots (one per DMA engine) so loads of the next tiles overlap the
store of the previous.

``gather`` on axis 0 (embedding lookup) loads the indices as an int32 row, wraps negative
indices on the VPU (``idx < 0 ? idx + V : idx``), and fetches table rows with ``Gather``.
``reshape`` is free: the result aliases the operand's HBM buffer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from moecc.ir.builder import const_value
from moecc.ir.graph import Op
from moecc.ir.kernel import Affine, Gather, HbmRef, Load, LocalRef, Store, Vector
from moecc.ir.ops.common import normalize_axis
from moecc.ir.types import DType, TensorType
from moecc.isa_spec.target import isa_tile_limits
from moecc.passes.kernel_lowering import KernelBuilder, LoweringContext, asic_lowering
from moecc.passes.tiling_matmul import folds_transpose

#: ISA field limits, read from the ISA table (isa_spec/ISA.md): VPU/DMA tile rows and cols are
#: 12-bit, DMA ``row_bytes`` 16-bit, DMA strides 18-bit byte counts. (The gather row stride is
#: checked against the target's own limit, ``ctx.target.limits``.)
MAX_TILE_DIM = isa_tile_limits().tile_dim
MAX_ROW_BYTES = isa_tile_limits().row_bytes
MAX_STRIDE_BYTES = isa_tile_limits().stride_bytes
#: Largest exactly representable integer in the f32 immediate that wraps negative indices.
MAX_WRAP_TABLE_ROWS = 1 << 24
#: Above this many single-element-column DMAs a copy is better left to the host (a
#: transpose of the innermost axis of a huge tensor, or a reversal).
MAX_ELEMENT_WINDOW_DMAS = 1 << 16
#: Upper bound on one SRAM tile slot: big enough to amortise DMA setup, small enough that
#: several slots overlap well.
MAX_TILE_BYTES = 1 << 20
#: Most tile slots a stream rotates through: one load in flight per DMA engine of the
#: target (``Target.dma_engines``), at least double buffering.
MAX_STREAM_SLOTS = 4


# -- strided copies -------------------------------------------------------------------------


def row_major_strides(shape: Sequence[int]) -> tuple[int, ...]:
    """Element strides of a contiguous row-major array of ``shape``."""
    strides: list[int] = []
    step = 1
    for dim in reversed(shape):
        strides.append(step)
        step *= dim
    return tuple(reversed(strides))


@dataclass(frozen=True, slots=True)
class CopyView:
    """One side of a strided copy: ``element(i) = flat[offset + sum(i[a] * strides[a])]``."""

    offset: int
    strides: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class CopyPlan:
    """How one strided copy of a logical ``shape`` is tiled (axes after merging).

    ``c_axis``/``q_axis`` are the tile's column and row axes (``q_axis`` None: one-row
    tiles); ``cols``/``rows`` their chunk sizes; ``dmas`` the DMA count the plan issues."""

    shape: tuple[int, ...]
    src: CopyView
    dst: CopyView
    c_axis: int
    q_axis: int | None
    cols: int
    rows: int
    dmas: int

    @property
    def tile_elements(self) -> int:
        return self.rows * self.cols


def balanced_chunk(extent: int, cap: int) -> int:
    """The chunk size that cuts ``extent`` into the fewest pieces of at most ``cap``, evenly
    (4096 with cap 4095 becomes 2 x 2048, not 4095 + 1)."""
    pieces = math.ceil(extent / max(1, cap))
    return math.ceil(extent / pieces)


def merge_axes(shape: Sequence[int], src: Sequence[int], dst: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """Drop size-1 axes and fuse neighbours that are contiguous on both sides."""
    kept = [(n, s, d) for n, s, d in zip(shape, src, dst) if n != 1]
    if not kept:
        return (1,), (1,), (1,)
    merged = [kept[0]]
    for n, s, d in kept[1:]:
        pn, ps, pd = merged[-1]
        if ps == s * n and pd == d * n:
            merged[-1] = (pn * n, s, d)
        else:
            merged.append((n, s, d))
    return tuple(m[0] for m in merged), tuple(m[1] for m in merged), tuple(m[2] for m in merged)


def _split_long_contiguous_axis(shape: tuple[int, ...], src: tuple[int, ...], dst: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """A last axis longer than a tile row and contiguous on both sides is split in two
    (``n -> n/f x f``) so a tile can hold several rows of it: bigger DMAs."""
    n = shape[-1]
    if n <= MAX_TILE_DIM or src[-1] != 1 or dst[-1] != 1:
        return shape, src, dst
    best = max((f for f in range(MAX_TILE_DIM, 0, -1) if n % f == 0 and f >= 256), default=None)
    if best is None:
        return shape, src, dst
    return shape[:-1] + (n // best, best), src[:-1] + (best, 1), dst[:-1] + (best, 1)


def _pitch_fits(stride: int, itemsize: int) -> bool:
    return 0 <= stride and stride * itemsize <= MAX_STRIDE_BYTES


def _side_mode(stride_c: int) -> str:
    """How a side moves a tile whose columns are along an axis with this stride."""
    if stride_c == 1:
        return "window"
    if stride_c == 0:
        return "bcast"
    return "element"


def _q_fits(mode: str, stride_q: int, itemsize: int) -> bool:
    """Can this side use ``q`` as the tile's row axis (its stride on ``q`` is a DMA pitch)?"""
    if mode == "element":
        return True  # q only shifts the offset of each element window
    return _pitch_fits(stride_q, itemsize)


def plan_copy(shape: Sequence[int], src: CopyView, dst: CopyView, itemsize: int, tile_bytes: int) -> CopyPlan | str:
    """Tile a strided copy for the DMA; a reason string when it cannot be done well."""
    if math.prod(shape) == 0:
        return "empty tensor"
    mshape, ms, md = merge_axes(shape, src.strides, dst.strides)
    mshape, ms, md = _split_long_contiguous_axis(mshape, ms, md)
    best: CopyPlan | None = None
    for c in range(len(mshape)):
        plan = _plan_with_columns(mshape, CopyView(src.offset, ms), CopyView(dst.offset, md), c, itemsize, tile_bytes)
        if plan is not None and (best is None or plan.dmas < best.dmas):
            best = plan
    if best is None:
        return "no axis can be read and written with non-negative DMA strides (a reversal of the innermost axis)"
    element_dmas = best.dmas if (_side_mode(best.src.strides[best.c_axis]) == "element" or _side_mode(best.dst.strides[best.c_axis]) == "element") else 0
    if element_dmas > MAX_ELEMENT_WINDOW_DMAS:
        return f"the copy would need {element_dmas} element-granular DMAs (limit {MAX_ELEMENT_WINDOW_DMAS})"
    return best


def _plan_with_columns(shape: tuple[int, ...], src: CopyView, dst: CopyView, c: int, itemsize: int, tile_bytes: int) -> CopyPlan | None:
    s_c, d_c = src.strides[c], dst.strides[c]
    if s_c < 0 or d_c <= 0:
        return None
    src_mode, dst_mode = _side_mode(s_c), _side_mode(d_c)
    if (src_mode == "element" and not _pitch_fits(s_c, itemsize)) or (dst_mode == "element" and not _pitch_fits(d_c, itemsize)):
        return None
    cols = balanced_chunk(shape[c], min(MAX_TILE_DIM, MAX_ROW_BYTES // itemsize))
    candidates = [
        a for a in range(len(shape))
        if a != c and _q_fits(src_mode, src.strides[a], itemsize) and _q_fits(dst_mode, dst.strides[a], itemsize)
        and dst.strides[a] != 0
    ]
    # The widest axis makes the biggest tiles; among equals, the one nearest the columns.
    q = max(candidates, key=lambda a: (shape[a], a), default=None)
    rows = 1
    if q is not None:
        row_cap = max(1, min(MAX_TILE_DIM, tile_bytes // (cols * itemsize)))
        rows = balanced_chunk(shape[q], row_cap)
    tiles = math.ceil(shape[c] / cols) * (math.ceil(shape[q] / rows) if q is not None else 1)
    outer = [a for a in range(len(shape)) if a not in (c, q)]
    varying = math.prod(shape[a] for a in outer if src.strides[a] != 0)
    broadcast = math.prod(shape[a] for a in outer if src.strides[a] == 0)
    loads = varying * tiles * (rows if src_mode == "element" else 1)
    stores = varying * broadcast * tiles * (rows if dst_mode == "element" else 1)
    return CopyPlan(tuple(shape), src, dst, c, q, cols, rows, loads + stores)


@dataclass(frozen=True, slots=True)
class _Level:
    """One loop level of a copy nest: ``extent`` elements of an axis in chunks of ``chunk``."""

    extent: int
    chunk: int
    src_stride: int
    dst_stride: int
    role: str  # "outer", "rows" or "cols"


@dataclass(frozen=True, slots=True)
class CopyBuffers:
    """The SRAM buffers a copy nest uses: the tile and a small buffer for in-tile broadcasts."""

    tile: str
    bcast: str | None
    slots: int


def stream_slots(ctx: LoweringContext) -> int:
    """Tile slots a streamed copy rotates through on this target."""
    return max(2, min(MAX_STREAM_SLOTS, ctx.target.dma_engines))


def copy_buffers(kb: KernelBuilder, plans: Sequence[CopyPlan], dtype: DType, max_slots: int) -> CopyBuffers:
    """Declare tile buffers big enough for every plan (they run one after another), with as
    many slots as the longest streamed loop can use, up to ``max_slots``."""
    largest = max(plans, key=lambda p: p.tile_elements)
    slots = 1
    for plan in plans:
        levels = _levels(plan)[0]
        index = _double_buffer_level(levels)
        if index is not None:
            slots = max(slots, min(max_slots, levels[index].extent // levels[index].chunk))
    tile = kb.sram(largest.rows, largest.cols, dtype, slots, hint="tile")
    broadcasting = [p for p in plans if _broadcasts_in_tile(p)]
    bcast = None
    if broadcasting:
        bcast = kb.sram(1, max(max(p.rows, p.cols) for p in broadcasting), dtype, slots, hint="bc")
    return CopyBuffers(tile, bcast, slots)


def _broadcasts_in_tile(plan: CopyPlan) -> bool:
    """Does the tile repeat operand data (a VPU ``mov`` with broadcast fills it)?"""
    s_q = plan.src.strides[plan.q_axis] if plan.q_axis is not None else None
    return plan.src.strides[plan.c_axis] == 0 or s_q == 0


def _levels(plan: CopyPlan) -> tuple[list[_Level], list[_Level]]:
    """(levels that load, broadcast levels that only store), outermost first."""
    varying: list[_Level] = []
    broadcast: list[_Level] = []
    for a, n in enumerate(plan.shape):
        if a in (plan.c_axis, plan.q_axis):
            continue
        level = _Level(n, 1, plan.src.strides[a], plan.dst.strides[a], "outer")
        (broadcast if level.src_stride == 0 else varying).append(level)
    if plan.q_axis is not None:
        q = plan.q_axis
        varying.append(_Level(plan.shape[q], plan.rows, plan.src.strides[q], plan.dst.strides[q], "rows"))
    c = plan.c_axis
    varying.append(_Level(plan.shape[c], plan.cols, plan.src.strides[c], plan.dst.strides[c], "cols"))
    return varying, broadcast


def _double_buffer_level(levels: Sequence[_Level]) -> int | None:
    """The innermost level with at least two full chunks: its loop rotates tile slots."""
    for index in range(len(levels) - 1, -1, -1):
        if levels[index].extent // levels[index].chunk >= 2:
            return index
    return None


def emit_copy(kb: KernelBuilder, plan: CopyPlan, bufs: CopyBuffers, src_buffer: str, dst_buffer: str, dtype: DType) -> None:
    """Emit the loop nest of one planned copy into ``kb``."""
    varying, broadcast = _levels(plan)
    db_level = _double_buffer_level(varying) if bufs.slots > 1 else None
    q_src = plan.src.strides[plan.q_axis] if plan.q_axis is not None else 0
    q_dst = plan.dst.strides[plan.q_axis] if plan.q_axis is not None else 0
    s_c, d_c = plan.src.strides[plan.c_axis], plan.dst.strides[plan.c_axis]

    def tile_body(src_off: Affine, dst_off: Affine, rows: int, cols: int, slot: int) -> None:
        tile = LocalRef(bufs.tile, rows, cols, Affine(), Affine(slot))
        _emit_tile_load(kb, tile, bufs, src_buffer, src_off, q_src, s_c, dtype, slot)

        def stores(index: int, off: Affine) -> None:
            if index == len(broadcast):
                _emit_tile_store(kb, tile, dst_buffer, off, q_dst, d_c)
                return
            level = broadcast[index]
            with kb.loop(level.extent, hint="b") as var:
                stores(index + 1, off + Affine.of(var) * level.dst_stride)

        stores(0, dst_off)

    def nest(index: int, src_off: Affine, dst_off: Affine, rows: int, cols: int, slot: int) -> None:
        if index == len(varying):
            tile_body(src_off, dst_off, rows, cols, slot)
            return
        level = varying[index]
        full, rest = divmod(level.extent, level.chunk)

        def inner(at: Affine, size: int, inner_slot: int) -> None:
            sized_rows = size if level.role == "rows" else rows
            sized_cols = size if level.role == "cols" else cols
            nest(index + 1, src_off + at * level.src_stride, dst_off + at * level.dst_stride, sized_rows, sized_cols, inner_slot)

        if full == 1:
            inner(Affine(0), level.chunk, slot)
        elif full > 1 and index == db_level:
            rotate(full, lambda at, phase: inner(at * level.chunk, level.chunk, phase), bufs.slots, kb)
        elif full > 1:
            with kb.loop(full) as var:
                inner(Affine.of(var) * level.chunk, level.chunk, slot)
        if rest:
            inner(Affine(full * level.chunk), rest, full % bufs.slots if index == db_level else slot)

    nest(0, Affine(plan.src.offset), Affine(plan.dst.offset), 1, 1, 0)


def rotate(count: int, body: Callable[[Affine, int], None], slots: int, kb: KernelBuilder) -> None:
    """``for i in range(count): body(i, i % slots)`` without a modulo (Affine has none): the
    loop is unrolled by ``slots`` and the leftover iterations are peeled."""
    groups, tail = divmod(count, slots)
    if groups == 1:
        for phase in range(slots):
            body(Affine(phase), phase)
    elif groups > 1:
        with kb.loop(groups, hint="p") as var:
            for phase in range(slots):
                body(Affine.of(var) * slots + phase, phase)
    for phase in range(tail):
        body(Affine(groups * slots + phase), phase)


def _emit_tile_load(kb: KernelBuilder, tile: LocalRef, bufs: CopyBuffers, src: str, off: Affine, s_q: int, s_c: int, dtype: DType, slot: int) -> None:
    rows, cols = tile.rows, tile.cols
    mode = _side_mode(s_c)
    bcast_buffer = bufs.bcast or ""
    if mode == "window" and (rows == 1 or s_q != 0):
        kb.emit(Load(tile, HbmRef(src, off, rows, cols, s_q if rows > 1 else cols)))
    elif mode == "window":  # every tile row is the same operand row
        row = LocalRef(bcast_buffer, 1, cols, Affine(), Affine(slot))
        kb.emit(Load(row, HbmRef(src, off, 1, cols, cols)))
        kb.emit(Vector("mov", tile, a=row, bcast="row", dtype=dtype))
    elif mode == "bcast" and rows > 1 and s_q != 0:  # every tile column is the same
        column = LocalRef(bcast_buffer, rows, 1, Affine(), Affine(slot))
        kb.emit(Load(column, HbmRef(src, off, rows, 1, s_q)))
        kb.emit(Vector("mov", tile, a=column, bcast="col", dtype=dtype))
    elif mode == "bcast":
        scalar = LocalRef(bcast_buffer, 1, 1, Affine(), Affine(slot))
        kb.emit(Load(scalar, HbmRef(src, off, 1, 1, 1)))
        kb.emit(Vector("mov", tile, a=scalar, bcast="scalar", dtype=dtype))
    elif rows == 1:
        kb.emit(Load(LocalRef(tile.buffer, cols, 1, Affine(), tile.slot), HbmRef(src, off, cols, 1, s_c)))
    else:
        with kb.loop(rows, hint="r") as r:
            row_at = LocalRef(tile.buffer, cols, 1, Affine.of(r) * cols, tile.slot)
            kb.emit(Load(row_at, HbmRef(src, off + Affine.of(r) * s_q, cols, 1, s_c)))


def _emit_tile_store(kb: KernelBuilder, tile: LocalRef, dst: str, off: Affine, d_q: int, d_c: int) -> None:
    rows, cols = tile.rows, tile.cols
    if d_c == 1:
        kb.emit(Store(HbmRef(dst, off, rows, cols, d_q if rows > 1 else cols), tile))
    elif rows == 1:
        kb.emit(Store(HbmRef(dst, off, cols, 1, d_c), LocalRef(tile.buffer, cols, 1, Affine(), tile.slot)))
    else:
        with kb.loop(rows, hint="r") as r:
            row_at = LocalRef(tile.buffer, cols, 1, Affine.of(r) * cols, tile.slot)
            kb.emit(Store(HbmRef(dst, off + Affine.of(r) * d_q, cols, 1, d_c), row_at))


# -- op views -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CopySpec:
    """A copy from operand ``operand`` into the op's result, as two views of ``shape``."""

    operand: int
    shape: tuple[int, ...]
    src: CopyView
    dst: CopyView


def _transpose_specs(op: Op) -> list[CopySpec]:
    x = op.operands[0].type
    xs = row_major_strides(x.shape)
    out = op.result.type.shape
    perm = op.attrs["perm"]
    return [CopySpec(0, out, CopyView(0, tuple(xs[p] for p in perm)), CopyView(0, row_major_strides(out)))]


def _slice_specs(op: Op) -> list[CopySpec]:
    x = op.operands[0].type
    strides = list(row_major_strides(x.shape))
    offset = 0
    for axis, start, step in zip(op.attrs["axes"], op.attrs["starts"], op.attrs["steps"]):
        offset += start * strides[axis]
        strides[axis] *= step
    out = op.result.type.shape
    return [CopySpec(0, out, CopyView(offset, tuple(strides)), CopyView(0, row_major_strides(out)))]


def _broadcast_strides(shape: Sequence[int], out: Sequence[int]) -> tuple[int, ...]:
    padded = (1,) * (len(out) - len(shape)) + tuple(shape)
    strides = row_major_strides(padded)
    return tuple(0 if n == 1 and m != 1 else s for n, m, s in zip(padded, out, strides))


def _expand_specs(op: Op) -> list[CopySpec]:
    out = op.result.type.shape
    src = _broadcast_strides(op.operands[0].type.shape, out)
    return [CopySpec(0, out, CopyView(0, src), CopyView(0, row_major_strides(out)))]


def _tile_specs(op: Op) -> list[CopySpec]:
    x = op.operands[0].type.shape
    out = op.result.type.shape
    xs, os_ = row_major_strides(x), row_major_strides(out)
    shape: list[int] = []
    src: list[int] = []
    dst: list[int] = []
    for n, r, s, o in zip(x, op.attrs["repeats"], xs, os_):
        shape += [r, n]
        src += [0, s]
        dst += [n * o, o]
    return [CopySpec(0, tuple(shape), CopyView(0, tuple(src)), CopyView(0, tuple(dst)))]


def _concat_specs(op: Op) -> list[CopySpec]:
    out = op.result.type.shape
    axis = normalize_axis("concat", op.attrs["axis"], len(out))
    os_ = row_major_strides(out)
    specs: list[CopySpec] = []
    start = 0
    for index, operand in enumerate(op.operands):
        shape = operand.type.shape
        if math.prod(shape):
            specs.append(CopySpec(index, shape, CopyView(0, row_major_strides(shape)), CopyView(start * os_[axis], os_)))
        start += shape[axis]
    return specs


COPY_SPECS: dict[str, Callable[[Op], list[CopySpec]]] = {
    "transpose": _transpose_specs,
    "slice": _slice_specs,
    "expand": _expand_specs,
    "tile": _tile_specs,
    "concat": _concat_specs,
}


def _hbm_itemsize(t: TensorType, ctx: LoweringContext) -> int | None:
    dtype = ctx.target.storage_dtypes.get(t.dtype)
    return None if dtype is None else dtype.itemsize


def _tile_budget(ctx: LoweringContext) -> int:
    # Every tile slot plus the small broadcast buffers must fit with room to spare.
    return max(1, min(MAX_TILE_BYTES, ctx.sram_budget_bytes // (2 * stream_slots(ctx))))


def _copy_plans(op: Op, ctx: LoweringContext) -> list[tuple[CopySpec, CopyPlan]] | str:
    result = op.result.type
    itemsize = _hbm_itemsize(result, ctx)
    if itemsize is None:
        return f"dtype {result.dtype} has no ASIC memory format"
    if result.numel == 0:
        return "empty result"
    plans: list[tuple[CopySpec, CopyPlan]] = []
    for spec in COPY_SPECS[op.kind](op):
        plan = plan_copy(spec.shape, spec.src, spec.dst, itemsize, _tile_budget(ctx))
        if isinstance(plan, str):
            return plan
        plans.append((spec, plan))
    return plans


def supports_copy(op: Op, ctx: LoweringContext) -> str | None:
    if folds_transpose(op, ctx):
        return None  # nothing to run: its matmuls read the input transposed
    plans = _copy_plans(op, ctx)
    return plans if isinstance(plans, str) else None


@asic_lowering("transpose", "slice", "expand", "tile", "concat", supports=supports_copy)
def lower_copy(op: Op, ctx: LoweringContext) -> None:
    """One kernel of strided DMA copies (one per concat operand) into the result buffer;
    none for a transpose every user of which is a matmul reading its input transposed."""
    if folds_transpose(op, ctx):
        return
    plans = _copy_plans(op, ctx)
    if isinstance(plans, str):  # pragma: no cover - partitioning asked supports first
        raise AssertionError(plans)
    dst = ctx.hbm(op.result)
    dtype = ctx.hbm_dtype(op.result)
    kb = ctx.kernel(op)
    bufs = copy_buffers(kb, [plan for _, plan in plans], dtype, stream_slots(ctx))
    for spec, plan in plans:
        emit_copy(kb, plan, bufs, ctx.hbm(op.operands[spec.operand]), dst, dtype)
    ctx.add_kernel(kb)


def supports_reshape(op: Op, ctx: LoweringContext) -> str | None:
    if op.result.type.dtype not in ctx.target.storage_dtypes:
        return f"dtype {op.result.type.dtype} has no memory format on {ctx.target.name}"
    return None


# Any storage dtype: the result only takes the operand's buffer, nothing is read or written.
@asic_lowering("reshape", supports=supports_reshape, aliases=True)
def lower_reshape(op: Op, ctx: LoweringContext) -> None:
    """Free: a row-major reshape keeps every byte where it is."""
    ctx.alias(op.result, op.operands[0])


# -- gather (embedding lookup) --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GatherPlan:
    """Row gather ``out[n, :] = table[idx[n], :]`` of a ``[table_rows, width]`` table."""

    table_rows: int
    width: int
    count: int
    rows: int  # index chunk
    cols: int  # column chunk of a table row
    wrap: bool  # run-time indices: wrap negatives on the VPU
    constant_indices: np.ndarray | None  # already wrapped, int32


@dataclass(frozen=True, slots=True)
class _IndexChecks:
    """SRAM buffers for checking run-time indices: ``constants`` holds 0, V and -1."""

    constants: str
    mask: str
    wrapped: str
    table_rows: int

    def constant(self, at: int) -> LocalRef:
        return LocalRef(self.constants, 1, 1, Affine(at))


def _emit_index_checks(kb: KernelBuilder, checks: _IndexChecks, raw: LocalRef, slot: int) -> None:
    """``wrapped = raw < 0 ? raw + V : raw``, then ``-1`` where ``wrapped >= V``.

    ONNX wraps indices in ``[-V, 0)``. Anything still out of range ends up negative, and the
    DMA faults on a negative row index, so a bad index is a run-time error rather than a
    silent read of whatever follows the table in HBM."""
    count = raw.cols
    mask = LocalRef(checks.mask, 1, count, Affine(), Affine(slot))
    wrapped = LocalRef(checks.wrapped, 1, count, Affine(), Affine(slot))
    zero, rows, minus_one = checks.constant(0), checks.constant(1), checks.constant(2)
    kb.emit(Vector("cmpge", mask, a=raw, b=zero, bcast="scalar", dtype=DType.I32))
    kb.emit(Vector("adds", wrapped, a=raw, imm=float(checks.table_rows), dtype=DType.I32))
    kb.emit(Vector("sel", wrapped, a=mask, b=raw, dtype=DType.I32))
    kb.emit(Vector("cmpge", mask, a=wrapped, b=rows, bcast="scalar", dtype=DType.I32))
    kb.emit(Vector("sel", wrapped, a=mask, b=minus_one, bcast="scalar", dtype=DType.I32))


def plan_gather(op: Op, ctx: LoweringContext) -> GatherPlan | str:
    data, indices = op.operands[0].type, op.operands[1].type
    if normalize_axis("gather", op.attrs["axis"], data.rank) != 0:
        return "gather on an axis other than 0 (only row gathers map onto the DMA)"
    itemsize = _hbm_itemsize(data, ctx)
    if itemsize is None:
        return f"dtype {data.dtype} has no ASIC memory format"
    table_rows, count = data.shape[0], indices.numel
    width = math.prod(data.shape[1:])
    if table_rows == 0 or count == 0 or width == 0:
        return "empty gather"
    max_stride = ctx.target.limits.stride_bytes
    if width * itemsize > max_stride:
        return f"table rows of {width * itemsize} bytes exceed the gather stride field ({max_stride} bytes)"
    known = const_value(op.operands[1])
    constant: np.ndarray | None = None
    if known is not None:
        flat = np.asarray(known, dtype=np.int64).reshape(-1)
        if flat.min() < -table_rows or flat.max() >= table_rows:
            return "constant indices out of range"
        constant = np.where(flat < 0, flat + table_rows, flat).astype(np.int32)
    elif table_rows >= MAX_WRAP_TABLE_ROWS:
        return f"a table of {table_rows} rows is too long to wrap negative run-time indices exactly"
    cols = balanced_chunk(width, min(MAX_TILE_DIM, MAX_ROW_BYTES // itemsize))
    row_cap = max(1, min(MAX_TILE_DIM, _tile_budget(ctx) // (cols * itemsize)))
    rows = balanced_chunk(count, row_cap)
    return GatherPlan(table_rows, width, count, rows, cols, constant is None, constant)


def supports_gather(op: Op, ctx: LoweringContext) -> str | None:
    plan = plan_gather(op, ctx)
    return plan if isinstance(plan, str) else None


# Constant indices are packed as the i32 row list the Gather statement reads (plan_gather).
@asic_lowering("gather", supports=supports_gather, packs=(1,))
def lower_gather(op: Op, ctx: LoweringContext) -> None:
    """Embedding lookup: per chunk of indices, load them, wrap negatives, gather, store."""
    plan = plan_gather(op, ctx)
    if isinstance(plan, str):  # pragma: no cover - partitioning asked supports first
        raise AssertionError(plan)
    table = ctx.hbm(op.operands[0])
    if plan.constant_indices is not None:
        indices = ctx.weight(f"{op.operands[1].name}.rows", plan.constant_indices, DType.I32)
    else:
        indices = ctx.hbm(op.operands[1])
    out = ctx.hbm(op.result)
    dtype = ctx.hbm_dtype(op.result)
    kb = ctx.kernel(op)
    full, rest = divmod(plan.count, plan.rows)
    slots = max(1, min(stream_slots(ctx), full))
    idx = kb.sram(1, plan.rows, DType.I32, slots, hint="idx")
    gathered = kb.sram(plan.rows, plan.cols, dtype, slots, hint="rows")
    checks: _IndexChecks | None = None
    if plan.wrap:
        checks = _IndexChecks(
            constants=kb.sram(1, 3, DType.I32, hint="limits"),
            mask=kb.sram(1, plan.rows, DType.I32, slots, hint="mask"),
            wrapped=kb.sram(1, plan.rows, DType.I32, slots, hint="widx"),
            table_rows=plan.table_rows,
        )
        for at, value in enumerate((0, plan.table_rows, -1)):
            kb.emit(Vector("fill", checks.constant(at), imm=float(value), dtype=DType.I32))

    def chunk(first: Affine, count: int, slot: int) -> None:
        raw = LocalRef(idx, 1, count, Affine(), Affine(slot))
        kb.emit(Load(raw, HbmRef(indices, first, 1, count, count)))
        index_ref = LocalRef(idx, count, 1, Affine(), Affine(slot))
        if checks is not None:
            _emit_index_checks(kb, checks, raw, slot)
            index_ref = LocalRef(checks.wrapped, count, 1, Affine(), Affine(slot))
        col_full, col_rest = divmod(plan.width, plan.cols)

        def columns(col: Affine, width: int) -> None:
            tile = LocalRef(gathered, count, width, Affine(), Affine(slot))
            kb.emit(Gather(tile, HbmRef(table, col, plan.table_rows, width, plan.width), index_ref))
            kb.emit(Store(HbmRef(out, first * plan.width + col, count, width, plan.width), tile))

        if col_full == 1:
            columns(Affine(), plan.cols)
        elif col_full > 1:
            with kb.loop(col_full, hint="c") as c:
                columns(Affine.of(c) * plan.cols, plan.cols)
        if col_rest:
            columns(Affine(col_full * plan.cols), col_rest)

    if full == 1:
        chunk(Affine(), plan.rows, 0)
    elif full > 1:
        rotate(full, lambda at, phase: chunk(at * plan.rows, plan.rows, phase), slots, kb)
    if rest:
        chunk(Affine(full * plan.rows), rest, full % slots)
    ctx.add_kernel(kb)


__all__ = [
    "CopyPlan",
    "CopyView",
    "GatherPlan",
    "balanced_chunk",
    "merge_axes",
    "plan_copy",
    "plan_gather",
    "row_major_strides",
]
