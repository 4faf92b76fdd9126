"""ASIC lowering rules for the VPU: element-wise ops, row reductions, softmax, norms, top-k.

Position in the flow: registered into :data:`~moecc.passes.kernel_lowering.ASIC_LOWERINGS`
and called by :func:`~moecc.passes.kernel_lowering.lower_to_kernels`; each rule turns one graph
op into one kernel of the kernel IR (:mod:`moecc.ir.kernel`) that reads its operands from HBM,
computes on SRAM tiles with VPU statements and writes the whole result back to HBM. The stream
emitter works on groups of ops: :mod:`moecc.passes.fuse_elementwise` hands it chains of
element-wise ops (and last-axis reductions/softmax) that then run as one kernel, with the
intermediates kept in SRAM; a single op is the group of one.

Two kernel shapes cover everything here:

- **Element-wise streams** (unary, binary with broadcasting, ``where``, ``clip``, ``pow`` by a
  constant, ``cast`` and activation compositions). The output is seen as
  ``outer x rows x cols`` after merging dimensions that broadcast alike; each operand is then
  a full tile, a row (``bcast=row``), a column (``bcast=col``) or a scalar of the tile. A
  same-shape stream is refolded into ``rows x cols`` with ``cols <= 4095`` (plus a one-row
  tail). Tiles of ``R x C`` stream through two SRAM slots (the row loop is unrolled by two)
  so loads of tile ``i+1`` overlap compute and the store of tile ``i``.
- **Row kernels** over the last axis (``reduce_*``, ``softmax``, ``log_softmax``,
  ``layer_norm``, ``rms_norm``, ``top_k``, ``arg_max``/``arg_min``): ``R`` whole rows per
  tile, row statistics as ``R x 1`` columns applied with ``bcast=col``.

Before/after, ``%add = add(%x0: f32[64, 256], %x1: f32[256])`` on moe-asic-v1 (one tile, so
no loop; the row operand is loaded once, before the tiles)::

    kernel @k0_add sources("add %add (add)") {
      sram %in0 : f32[64, 256] x2
      sram %in1 : f32[1, 256]
      sram %out2 : f32[64, 256] x2
      load %in1[1x256] <- %x1[1x256 at 0 pitch 256]
      load %in0[64x256] <- %x0[64x256 at 0 pitch 256]
      vpu.add %out2[64x256] <- %in0[64x256], %in1[1x256] {bcast = row} : f32
      store %add[64x256 at 0 pitch 256] <- %out2[64x256]
    }

Anything a rule cannot do exactly (other dtypes, axes, broadcasting patterns, too-long rows)
is declined through ``supports`` with the reason, and the op runs on the host instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from moecc.ir.builder import const_value
from moecc.ir.graph import Op, Value
from moecc.ir.kernel import KERNEL_DTYPES, Affine, HbmRef, Load, LocalRef, Store, Vector
from moecc.ir.types import DType
from moecc.isa_spec.target import isa_tile_limits
from moecc.passes.kernel_lowering import KernelBuilder, LoweringContext, asic_lowering

#: VPU ``rows``/``cols`` and DMA ``rows`` fields (12 bits) and DMA strides (18 bits of bytes),
#: read from the ISA table; ``vpu.topk``'s ``k`` is checked against ``ctx.target.limits``.
MAX_TILE_DIM = isa_tile_limits().tile_dim
MAX_PITCH_BYTES = isa_tile_limits().stride_bytes
#: Smallest cap on a tile's elements; see :func:`tile_element_cap`.
MIN_TILE_CAP = 64 * 1024


def tile_element_cap(ctx: LoweringContext, total_elements: int) -> int:
    """The most elements a tile holds even when SRAM would allow more. A tile's DMA should
    move several times the bytes the bus carries during one DMA setup (so setup latency
    hides behind transfer), but a stream should still have enough tiles (8) to overlap:
    bigger tiles only lengthen the unoverlapped first load and last store."""
    target = ctx.target
    setup_hiding = int(4 * target.dma_setup_cycles * target.hbm_bytes_per_cycle) // 4
    return max(MIN_TILE_CAP, min(setup_hiding, total_elements // 8))
#: Loop nests deeper than this would exceed the smallest target's hardware loop stack once
#: instruction selection adds its own loops.
MAX_OUTER_DIMS = 1

F32 = DType.F32
I32 = DType.I32


# -- tiling helpers ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Tile:
    """Where one tile sits in a kernel's ``outer x rows x cols`` view (static sizes)."""

    outer: tuple[Affine, ...]
    row: Affine
    col: Affine
    rows: int
    cols: int
    slot: int


def emit_tiles(
    kb: KernelBuilder,
    outer: Sequence[int],
    row_start: int,
    rows: int,
    col_start: int,
    cols: int,
    tile_rows: int,
    tile_cols: int,
    body: Callable[[Tile], None],
) -> None:
    """Call ``body`` once per statically shaped tile covering ``rows x cols`` for every outer
    index: full tiles in loops, remainders peeled, the row loop unrolled by two so even tiles
    use SRAM slot 0 and odd tiles slot 1 (Affine offsets have no modulo)."""

    def over_outer(depth: int, pos: tuple[Affine, ...]) -> None:
        if depth == len(outer):
            over_cols(pos)
            return
        with kb.loop(outer[depth], hint="o") as var:
            over_outer(depth + 1, pos + (Affine.of(var),))

    def over_cols(pos: tuple[Affine, ...]) -> None:
        full, rem = divmod(cols, tile_cols)
        if full > 1:
            with kb.loop(full, hint="c") as var:
                over_rows(pos, Affine.of(var) * tile_cols + col_start, tile_cols)
        elif full == 1:
            over_rows(pos, Affine(col_start), tile_cols)
        if rem:
            over_rows(pos, Affine(col_start + full * tile_cols), rem)

    def over_rows(pos: tuple[Affine, ...], col: Affine, ncols: int) -> None:
        full, rem = divmod(rows, tile_rows)
        pairs = full // 2
        if pairs > 1:
            with kb.loop(pairs, hint="r") as var:
                base = Affine.of(var) * (2 * tile_rows) + row_start
                body(Tile(pos, base, col, tile_rows, ncols, 0))
                body(Tile(pos, base + tile_rows, col, tile_rows, ncols, 1))
        elif pairs == 1:
            body(Tile(pos, Affine(row_start), col, tile_rows, ncols, 0))
            body(Tile(pos, Affine(row_start + tile_rows), col, tile_rows, ncols, 1))
        if full % 2:
            body(Tile(pos, Affine(row_start + (full - 1) * tile_rows), col, tile_rows, ncols, 0))
        if rem:
            body(Tile(pos, Affine(row_start + full * tile_rows), col, rem, ncols, full % 2))

    over_outer(0, ())


def broadcast_view(out_shape: tuple[int, ...], shapes: Sequence[tuple[int, ...]]) -> tuple[tuple[int, ...], list[tuple[int, ...]]]:
    """Merge the output's dimensions that every operand broadcasts alike.

    Returns the merged extents and, per operand, its element stride along each (0 where it
    broadcasts). Size-1 output dimensions are dropped; a scalar output gives ``(1,)``.
    """
    rank = len(out_shape)
    strides: list[list[int]] = []
    for shape in shapes:
        padded = (1,) * (rank - len(shape)) + tuple(shape)
        own = [0] * rank
        step = 1
        for d in range(rank - 1, -1, -1):
            own[d] = step if padded[d] != 1 else 0
            step *= padded[d]
        strides.append(own)
    dims = [d for d in range(rank) if out_shape[d] != 1]
    extents: list[int] = []
    merged: list[list[int]] = [[] for _ in shapes]
    for d in dims:
        if extents and all(merged[i][-1] == strides[i][d] * out_shape[d] for i in range(len(shapes))):
            extents[-1] *= out_shape[d]
            for i in range(len(shapes)):
                merged[i][-1] = strides[i][d]
            continue
        extents.append(out_shape[d])
        for i in range(len(shapes)):
            merged[i].append(strides[i][d])
    if not extents:
        return (1,), [(0,) for _ in shapes]
    return tuple(extents), [tuple(m) for m in merged]


def flat_width(n: int) -> int:
    """Row width for refolding a contiguous stream of ``n`` elements: ``n`` itself when it fits
    a tile, else the largest divisor in [512, 4095] (no tail), else 2048 (with a tail row)."""
    if n <= MAX_TILE_DIM:
        return n
    for width in range(MAX_TILE_DIM, 511, -1):
        if n % width == 0:
            return width
    return 2048


# -- element-wise streams ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Arg:
    """One operand as a compute step sees it: its tile and how the VPU broadcasts it."""

    ref: LocalRef
    bcast: str


@dataclass(slots=True)
class TileCompute:
    """Emits a tile's VPU statements: ``dst``-shaped temporaries and dense copies of broadcasts."""

    kb: KernelBuilder
    dtype: DType
    dst: LocalRef
    temps: list[LocalRef]
    zero: LocalRef | None = None
    count: LocalRef | None = None  # 1 x 1 holding the row length (row steps' exact means)

    def vec(self, op: str, dst: LocalRef, a: LocalRef | None = None, b: LocalRef | None = None, *,
            bcast: str = "none", imm: float = 0.0, dtype: DType | None = None, odt: DType | None = None) -> None:
        self.kb.emit(Vector(op, dst, a, b, bcast=bcast, imm=float(imm), dtype=dtype or self.dtype, odt=odt))

    def dense(self, arg: Arg, into: LocalRef) -> LocalRef:
        """``arg`` as a full tile: itself, or broadcast into ``into`` with ``vpu.mov``."""
        if arg.bcast == "none":
            return arg.ref
        self.vec("mov", into, arg.ref, bcast=arg.bcast)
        return into

    def binary(self, op: str, dst: LocalRef, a: Arg, b: Arg, commutative: bool) -> None:
        """``dst = a op b``; the VPU broadcasts only its second operand, so a broadcast first
        operand is swapped (commutative ops) or spread into ``dst`` first."""
        if a.bcast != "none" and b.bcast == "none" and commutative:
            a, b = b, a
        first = self.dense(a, dst)
        self.vec(op, dst, first, b.ref, bcast=b.bcast)


#: A compute step: writes the result tile ``c.dst`` from the operand tiles.
ComputeFn = Callable[[TileCompute, list[Arg], Op], None]


@dataclass(frozen=True, slots=True)
class StreamOperand:
    """An operand read by an element-wise stream: HBM buffer, dtype, strides over the view."""

    buffer: str
    dtype: DType
    strides: tuple[int, ...]

    def kind(self) -> str:
        row, col = self.strides[-2], self.strides[-1]
        if row and col:
            return "none"
        if col:
            return "row"
        if row:
            return "col"
        return "scalar"


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """The ``outer x rows x cols`` view of an element-wise stream and its regions to tile."""

    outer: tuple[int, ...]
    rows: int
    cols: int
    operands: tuple[StreamOperand, ...]
    out_strides: tuple[int, ...]
    #: (row_start, rows, col_start, cols) blocks covering the view (a refolded stream has a tail).
    regions: tuple[tuple[int, int, int, int], ...] = field(default=())


def plan_stream(out_shape: tuple[int, ...], operands: Sequence[tuple[str, DType, tuple[int, ...]]]) -> StreamPlan | str:
    """View the output and operands as tiles; a reason string when the pattern is not one the
    VPU's broadcast modes express within the ISA's field limits."""
    extents, strides = broadcast_view(out_shape, [shape for _, _, shape in operands])
    out_strides = tuple(math.prod(extents[d + 1:]) for d in range(len(extents)))
    if len(extents) == 1:
        n = extents[0]
        width = flat_width(n)
        full_rows, tail = divmod(n, width)
        regions = [(0, full_rows, 0, width)] if full_rows else []
        if tail:
            regions.append((full_rows, 1, 0, tail))
        ops = tuple(StreamOperand(name, dt, (width, 1) if s[0] else (0, 0)) for (name, dt, _), s in zip(operands, strides))
        return StreamPlan((), full_rows + (1 if tail else 0), width, ops, (width, 1), tuple(regions))
    if len(extents) - 2 > MAX_OUTER_DIMS:
        return f"broadcasting pattern of {len(extents)} distinct dimension groups (at most {MAX_OUTER_DIMS + 2})"
    rows, cols = extents[-2], extents[-1]
    ops = tuple(StreamOperand(name, dt, s) for (name, dt, _), s in zip(operands, strides))
    for op in ops + (StreamOperand("", F32, out_strides),):
        if op.strides[-2] * op.dtype.itemsize > MAX_PITCH_BYTES and cols > MAX_TILE_DIM:
            return f"row pitch of {op.strides[-2]} elements exceeds the DMA stride field"
    return StreamPlan(tuple(extents[:-2]), rows, cols, ops, out_strides, ((0, rows, 0, cols),))


def _window(buffer: str, strides: tuple[int, ...], tile: Tile, rows: int, cols: int) -> HbmRef:
    offset = Affine()
    for pos, stride in zip(tile.outer, strides[:-2]):
        offset = offset + pos * stride
    offset = offset + tile.row * strides[-2] + tile.col * strides[-1]
    pitch = strides[-2] if rows > 1 else cols
    return HbmRef(buffer, offset, rows, cols, pitch)


@dataclass(frozen=True, slots=True)
class ElementwiseStep:
    """One graph op as a step of an element-wise stream: the values it reads (in the order its
    compute function takes them), the value it writes, and what the compute needs: the VPU
    working ``dtype``, ``temps`` scratch tiles of the tile's shape, a 1x1 zero, a 1x1 row
    length (``count``, for means) and whether it needs whole rows per tile (``row_op``)."""

    op: Op
    inputs: tuple[Value, ...]
    result: Value
    compute: ComputeFn
    dtype: DType
    temps: int = 0
    zero: bool = False
    count: bool = False
    row_op: bool = False


@dataclass(frozen=True, slots=True)
class GroupPlan:
    """How a group of steps streams: the view (``plan``; its operands are ``values`` in order:
    the group's external inputs, then every step's result), the tile size, and which results
    are stored to HBM."""

    steps: tuple[ElementwiseStep, ...]
    values: tuple[Value, ...]
    externals: int
    stored: tuple[bool, ...]
    plan: StreamPlan
    tile_rows: int
    tile_cols: int


def _broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    if len(shape) > len(target):
        return False
    padded = (1,) * (len(target) - len(shape)) + tuple(shape)
    return all(d in (1, t) for d, t in zip(padded, target))


def plan_row_stream(space: tuple[int, ...], operands: Sequence[tuple[str, DType, tuple[int, ...]]]) -> StreamPlan | str:
    """Like :func:`plan_stream`, but the last axis of ``space`` stays a dimension of its own so
    every tile holds whole rows (row reductions and softmax inside a fused group)."""
    rank = len(space)
    padded = [(1,) * (rank - len(shape)) + tuple(shape) for _, _, shape in operands]
    lead, lead_strides = broadcast_view(space[:-1], [p[:-1] for p in padded])
    cols = space[-1]
    if cols > MAX_TILE_DIM:
        return f"rows of {cols} elements exceed the VPU's {MAX_TILE_DIM}-column tiles"
    extents = tuple(lead) + (cols,)
    if len(extents) - 2 > MAX_OUTER_DIMS:
        return f"broadcasting pattern of {len(extents)} distinct dimension groups (at most {MAX_OUTER_DIMS + 2})"
    ops = []
    for (name, dt, _), p, strides in zip(operands, padded, lead_strides):
        width = p[-1]
        ops.append(StreamOperand(name, dt, tuple(s * width for s in strides) + ((1 if width == cols and cols > 1 else 0),)))
    out_strides = tuple(math.prod(extents[d + 1:]) for d in range(len(extents)))
    if len(extents) == 1:  # a single row
        extents = (1, cols)
        ops = [StreamOperand(o.buffer, o.dtype, (0,) + o.strides) for o in ops]
        out_strides = (cols, 1)
    return StreamPlan(tuple(extents[:-2]), extents[-2], extents[-1], tuple(ops), out_strides, ((0, extents[-2], 0, cols),))


def plan_group(ctx: LoweringContext, steps: Sequence[ElementwiseStep], stored: Sequence[bool]) -> GroupPlan | str:
    """Plan one kernel computing ``steps`` (in dependency order) on shared SRAM tiles; a reason
    string when they cannot share one (shapes that do not broadcast to the widest result,
    a view the VPU cannot express, or tiles that do not fit SRAM)."""
    produced = {id(s.result) for s in steps}
    externals: list[Value] = []
    for step in steps:
        for v in step.inputs:
            if id(v) not in produced and all(v is not e for e in externals):
                externals.append(v)
    results = [s.result for s in steps]
    space = max((r.type.shape for r in results), key=lambda s: math.prod(s))
    values = externals + results
    for v in values:
        if not _broadcasts_to(v.type.shape, space):
            return f"{v.name} {v.type.shape} does not broadcast to the group's shape {space}"
    operands = [(v.name, _operand_dtype(v, ctx), v.type.shape) for v in values]
    row_group = any(s.row_op for s in steps)
    plan = plan_row_stream(space, operands) if row_group else plan_stream(space, operands)
    if isinstance(plan, str):
        return plan
    position = {id(v): i for i, v in enumerate(values)}
    for step in steps:
        if step.row_op and not plan.operands[position[id(step.inputs[0])]].strides[-1]:
            return f"{step.op.kind} of {step.inputs[0].name}, which is constant along the row"
    if row_group and plan.cols > MAX_TILE_DIM:
        return f"rows of {plan.cols} elements exceed one tile"
    tile_cols = min(plan.cols, MAX_TILE_DIM)
    temps = _group_temps(steps)
    # Bytes per tile element over every double-buffered tile (full values, temps); row, column
    # and scalar values are small and counted generously as one extra row each.
    per_element = sum(2 * dt.itemsize * n for dt, n in temps.items())
    small = 64
    for index, operand in enumerate(plan.operands):
        if operand.kind() == "none":
            per_element += 2 * operand.dtype.itemsize
        else:
            small += 2 * operand.dtype.itemsize * (tile_cols + MAX_TILE_DIM)
    per_element = max(per_element, 1)  # a group of row/column/scalar values only
    if row_group and per_element * tile_cols + small > ctx.sram_budget_bytes:
        return f"one row of {tile_cols} elements over {len(values)} values does not fit SRAM"
    budget = max(ctx.sram_budget_bytes - small, per_element * tile_cols)
    cap = tile_element_cap(ctx, math.prod(space))
    tile_rows = max(1, min(plan.rows, MAX_TILE_DIM, cap // tile_cols, budget // (per_element * tile_cols)))
    return GroupPlan(tuple(steps), tuple(values), len(externals), tuple(stored), plan, tile_rows, tile_cols)


def _group_temps(steps: Sequence[ElementwiseStep]) -> dict[DType, int]:
    """Scratch tiles per working dtype: steps run one after the other, so they share them."""
    temps: dict[DType, int] = {}
    for s in steps:
        if s.temps:
            temps[s.dtype] = max(temps.get(s.dtype, 0), s.temps)
    return temps


def _relative_bcast(operand: str, result: str) -> str:
    """How the VPU broadcasts an operand of kind ``operand`` onto a result tile of kind ``result``
    (an element-wise operand only ever broadcasts along axes where the result does not)."""
    return "none" if operand == result else operand


def lower_stream_group(ctx: LoweringContext, group: GroupPlan, kb: KernelBuilder) -> None:
    """Emit one kernel streaming the group's external inputs in tiles through every step's
    compute (results stay in SRAM tiles) and storing only the results marked ``stored``."""
    plan = group.plan
    tile_rows, tile_cols = group.tile_rows, group.tile_cols
    # Stored results get their HBM buffers before the inputs (the order memory planning sees).
    result_names = [ctx.hbm(v) if keep else "" for v, keep in zip(group.values[group.externals:], group.stored)]
    names = [_operand_buffer(v, ctx) for v in group.values[:group.externals]] + result_names
    single_col_tile = plan.cols <= tile_cols
    shapes = {"none": (tile_rows, tile_cols), "row": (1, tile_cols), "col": (tile_rows, 1), "scalar": (1, 1)}
    buffers: list[tuple[str, bool]] = []  # (sram buffer, hoisted) per value
    hoisted_loads: list[Load] = []
    for index, operand in enumerate(plan.operands[:group.externals]):
        kind = operand.kind()
        rows, cols = shapes[kind]
        invariant = kind == "scalar" and not any(operand.strides[:-2]) or (
            kind == "row" and single_col_tile and not any(operand.strides[:-2]))
        name = kb.sram(rows, cols, operand.dtype, slots=1 if invariant else 2, hint="in")
        buffers.append((name, invariant))
        if invariant:
            first = Tile(tuple(Affine() for _ in plan.outer), Affine(), Affine(), 1, 1, 0)
            ncols = 1 if kind == "scalar" else plan.cols
            hoisted_loads.append(Load(LocalRef(name, 1, ncols), _window(names[index], operand.strides, first, 1, ncols)))
    for operand, keep in zip(plan.operands[group.externals:], group.stored):
        rows, cols = shapes[operand.kind()]
        buffers.append((kb.sram(rows, cols, operand.dtype, slots=2, hint="out" if keep else "v"), False))
    temp_bufs = [(dt, kb.sram(tile_rows, tile_cols, dt, slots=2, hint="tmp"))
                 for dt, n in _group_temps(group.steps).items() for _ in range(n)]
    zero_ref = count_ref = None
    if any(s.zero for s in group.steps):
        zero_ref = LocalRef(kb.sram(1, 1, F32, hint="zero"), 1, 1)
        kb.emit(Vector("fill", zero_ref, imm=0.0, dtype=F32))
    if any(s.count for s in group.steps):
        count_ref = LocalRef(kb.sram(1, 1, F32, hint="count"), 1, 1)
        kb.emit(Vector("fill", count_ref, imm=float(plan.cols), dtype=F32))
    for load in hoisted_loads:
        kb.emit(load)
    position = {id(v): i for i, v in enumerate(group.values)}

    def ref_of(index: int, tile: Tile) -> LocalRef:
        name, invariant = buffers[index]
        rows, cols = {"none": (tile.rows, tile.cols), "row": (1, tile.cols), "col": (tile.rows, 1),
                      "scalar": (1, 1)}[plan.operands[index].kind()]
        return LocalRef(name, rows, cols, slot=Affine(0 if invariant else tile.slot))

    def body(tile: Tile) -> None:
        for index, operand in enumerate(plan.operands[:group.externals]):
            kind, ref = operand.kind(), ref_of(index, tile)
            if kind == "none":
                kb.emit(Load(ref, _window(names[index], operand.strides, tile, tile.rows, tile.cols)))
            elif kind == "row" and not buffers[index][1]:
                kb.emit(Load(ref, _window(names[index], operand.strides, tile, 1, tile.cols)))
            elif kind == "col":
                # A column of the tile is contiguous in HBM (stride 1): load it as one row.
                window = _window(names[index], operand.strides, tile, 1, tile.rows)
                kb.emit(Load(LocalRef(ref.buffer, 1, tile.rows, slot=ref.slot), window))
            elif kind == "scalar" and not buffers[index][1]:
                kb.emit(Load(ref, _window(names[index], operand.strides, tile, 1, 1)))
        for step in group.steps:
            out = position[id(step.result)]
            dst = ref_of(out, tile)
            result_kind = plan.operands[out].kind()
            args = [Arg(ref_of(position[id(v)], tile), _relative_bcast(plan.operands[position[id(v)]].kind(), result_kind))
                    for v in step.inputs]
            # Row steps (reductions, softmax) need scratch of whole rows, not of their result.
            rows, cols = (dst.rows, tile.cols) if step.row_op else (dst.rows, dst.cols)
            tmp = [LocalRef(name, rows, cols, slot=Affine(tile.slot)) for dt, name in temp_bufs if dt == step.dtype]
            step.compute(TileCompute(kb, step.dtype, dst, tmp, zero_ref, count_ref), args, step.op)
        for offset, keep in enumerate(group.stored):
            if not keep:
                continue
            index = group.externals + offset
            operand, ref = plan.operands[index], ref_of(index, tile)
            if operand.kind() == "col":
                kb.emit(Store(_window(names[index], operand.strides, tile, 1, tile.rows), LocalRef(ref.buffer, 1, tile.rows, slot=ref.slot)))
            else:
                kb.emit(Store(_window(names[index], operand.strides, tile, ref.rows, ref.cols), ref))

    for row_start, rows, col_start, cols in plan.regions:
        emit_tiles(kb, plan.outer, row_start, rows, col_start, cols, tile_rows, tile_cols, body)
    ctx.add_kernel(kb)


def lower_step(op: Op, ctx: LoweringContext, step: ElementwiseStep) -> None:
    group = plan_group(ctx, [step], [True])
    if isinstance(group, str):  # supports() checked this already
        raise AssertionError(group)
    lower_stream_group(ctx, group, ctx.kernel(op))


def _stream_reason(op: Op, inputs: Sequence[Value], dtypes: Sequence[DType], ctx: LoweringContext) -> str | None:
    """Why an element-wise stream over ``inputs`` cannot run on the VPU (``None``: it can)."""
    result = op.results[0]
    if result.type.numel == 0:
        return "empty tensor"
    for value in inputs:
        if value.type.dtype not in dtypes:
            return f"{value.type.dtype} operand (VPU lowering takes {', '.join(map(str, dtypes))})"
    plan = plan_stream(result.type.shape, [(v.name, _operand_dtype(v, ctx), v.type.shape) for v in inputs])
    return plan if isinstance(plan, str) else None


def _working_dtype(value: Value, ctx: LoweringContext) -> DType:
    """The dtype a kernel computes on ``value`` in: the dtype the target stores it in."""
    return ctx.storage_dtype(value.type.dtype)


def _operand_dtype(value: Value, ctx: LoweringContext) -> DType:
    """The dtype a kernel reads ``value`` from HBM in: its storage dtype, except a constant
    bool the target stores in a non-kernel dtype (the CPU's one-byte bool), which
    :func:`_operand_buffer` packs as the 0/1 f32 the VPU's ``sel`` takes as a mask (only
    ``where``'s condition gets here: :func:`~moecc.passes.kernel_lowering.storage_reason`
    sends other ops on such values to the CPU)."""
    stored = ctx.storage_dtype(value.type.dtype)
    if stored in KERNEL_DTYPES:
        return stored
    if value.type.dtype is DType.BOOL and const_value(value) is not None:
        return F32
    raise AssertionError(f"%{value.name} ({value.type.dtype}) held as {stored} reached a kernel rule")


def _operand_buffer(value: Value, ctx: LoweringContext) -> str:
    """The HBM buffer a kernel reads ``value`` from, in :func:`_operand_dtype`."""
    dtype = _operand_dtype(value, ctx)
    if dtype != ctx.storage_dtype(value.type.dtype):
        return ctx.packed_constant(value, dtype)
    return ctx.hbm(value)


# -- unary ops and activations ------------------------------------------------------------------------

#: Graph unary kinds that are one VPU operation (so bf16 rounds once, as the reference does).
UNARY_VPU_OPS: dict[str, str] = {
    "neg": "neg", "abs": "abs", "exp": "exp", "log": "log", "sqrt": "sqrt", "reciprocal": "rcp",
    "tanh": "tanh", "erf": "erf", "sigmoid": "sigmoid",
}


def _unary_direct(vop: str) -> ComputeFn:
    def compute(c: TileCompute, args: list[Arg], op: Op) -> None:
        c.vec(vop, c.dst, c.dense(args[0], c.dst))
    return compute


def _relu(c: TileCompute, args: list[Arg], op: Op) -> None:
    c.vec("maxs", c.dst, c.dense(args[0], c.dst), imm=0.0)


def _gelu(c: TileCompute, args: list[Arg], op: Op) -> None:
    x, y = c.dense(args[0], c.dst), c.dst
    if op.attrs.get("approximate", "none") == "tanh":
        # 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))
        c.vec("mul", y, x, x)
        c.vec("muls", y, y, imm=0.044715)
        c.vec("mul", y, y, x)
        c.vec("add", y, y, x)
        c.vec("muls", y, y, imm=math.sqrt(2.0 / math.pi))
        c.vec("tanh", y, y)
    else:
        # 0.5 * x * (1 + erf(x / sqrt(2)))
        c.vec("muls", y, x, imm=1.0 / math.sqrt(2.0))
        c.vec("erf", y, y)
    c.vec("adds", y, y, imm=1.0)
    c.vec("mul", y, y, x)
    c.vec("muls", y, y, imm=0.5)


def _softplus_into(c: TileCompute, out: LocalRef, x: LocalRef, relu: LocalRef) -> None:
    # max(x, 0) + log(1 + exp(-|x|)): no overflow for large x, unlike log(1 + exp(x)).
    c.vec("abs", out, x)
    c.vec("neg", out, out)
    c.vec("exp", out, out)
    c.vec("adds", out, out, imm=1.0)
    c.vec("log", out, out)
    c.vec("maxs", relu, x, imm=0.0)
    c.vec("add", out, out, relu)


def _softplus(c: TileCompute, args: list[Arg], op: Op) -> None:
    _softplus_into(c, c.dst, c.dense(args[0], c.temps[0]), c.temps[1])


def _mish(c: TileCompute, args: list[Arg], op: Op) -> None:
    x = c.dense(args[0], c.temps[1])
    _softplus_into(c, c.temps[0], x, c.dst)
    c.vec("tanh", c.temps[0], c.temps[0])
    c.vec("mul", c.dst, x, c.temps[0])


def _hard_sigmoid_into(c: TileCompute, out: LocalRef, x: LocalRef, alpha: float, beta: float) -> None:
    c.vec("muls", out, x, imm=alpha)
    c.vec("adds", out, out, imm=beta)
    c.vec("maxs", out, out, imm=0.0)
    c.vec("mins", out, out, imm=1.0)


def _hard_sigmoid(c: TileCompute, args: list[Arg], op: Op) -> None:
    _hard_sigmoid_into(c, c.dst, c.dense(args[0], c.dst), op.attrs.get("alpha", 0.2), op.attrs.get("beta", 0.5))


def _hard_swish(c: TileCompute, args: list[Arg], op: Op) -> None:
    x = c.dense(args[0], c.temps[0])
    _hard_sigmoid_into(c, c.dst, x, 1.0 / 6.0, 0.5)
    c.vec("mul", c.dst, c.dst, x)


def _leaky_relu(c: TileCompute, args: list[Arg], op: Op) -> None:
    # max(x, 0) + alpha * min(x, 0) equals the reference's where(x < 0, alpha * x, x) exactly.
    x = c.dense(args[0], c.dst)
    t = c.temps[0]
    c.vec("mins", t, x, imm=0.0)
    c.vec("muls", t, t, imm=op.attrs.get("alpha", 0.01))
    c.vec("maxs", c.dst, x, imm=0.0)
    c.vec("add", c.dst, c.dst, t)


def _clip(c: TileCompute, args: list[Arg], op: Op) -> None:
    x = c.dense(args[0], c.dst)
    lo, hi = op.attrs.get("min"), op.attrs.get("max")
    if lo is None and hi is None:
        c.vec("mov", c.dst, x)
    if lo is not None:
        c.vec("maxs", c.dst, x, imm=lo)
        x = c.dst
    if hi is not None:
        c.vec("mins", c.dst, x, imm=hi)


@dataclass(frozen=True, slots=True)
class UnaryRule:
    """How one unary kind runs: its compute step, temporaries, and whether bf16 is exact
    (one VPU rounding, as the reference's compute-in-f32-round-once)."""

    compute: ComputeFn
    temps: int = 0
    bf16_exact: bool = False


UNARY_RULES: dict[str, UnaryRule] = {
    **{kind: UnaryRule(_unary_direct(vop), bf16_exact=True) for kind, vop in UNARY_VPU_OPS.items()},
    "relu": UnaryRule(_relu, bf16_exact=True),
    "clip": UnaryRule(_clip, bf16_exact=True),
    "gelu": UnaryRule(_gelu),
    "softplus": UnaryRule(_softplus, temps=2),
    "mish": UnaryRule(_mish, temps=2),
    "hard_sigmoid": UnaryRule(_hard_sigmoid),
    "hard_swish": UnaryRule(_hard_swish, temps=1),
    "leaky_relu": UnaryRule(_leaky_relu, temps=1),
}


def _supports_unary(op: Op, ctx: LoweringContext) -> str | None:
    rule = UNARY_RULES[op.kind]
    dtypes = (F32, DType.BF16) if rule.bf16_exact else (F32,)
    if op.kind == "clip" and any(isinstance(op.attrs.get(k), float) and math.isnan(op.attrs[k]) for k in ("min", "max")):
        return "NaN clip bound"
    return _stream_reason(op, op.operands[:1], dtypes, ctx)


@asic_lowering(*UNARY_RULES, supports=_supports_unary)
def lower_unary(op: Op, ctx: LoweringContext) -> None:
    lower_step(op, ctx, unary_step(op, ctx))


def unary_step(op: Op, ctx: LoweringContext) -> ElementwiseStep:
    rule = UNARY_RULES[op.kind]
    return ElementwiseStep(op, tuple(op.operands[:1]), op.result, rule.compute, _working_dtype(op.operands[0], ctx),
                           rule.temps)


# -- binary arithmetic, comparisons, where -------------------------------------------------------------

#: Graph binary kind -> (VPU op, commutative, operand dtypes).
BINARY_RULES: dict[str, tuple[str, bool, tuple[DType, ...]]] = {
    "add": ("add", True, (F32, DType.BF16, I32)),
    "sub": ("sub", False, (F32, DType.BF16, I32)),
    "mul": ("mul", True, (F32, DType.BF16, I32)),
    "div": ("div", False, (F32, DType.BF16)),  # the VPU's integer division floors; ONNX truncates
    "max": ("max", True, (F32, DType.BF16, I32)),
    "min": ("min", True, (F32, DType.BF16, I32)),
}

#: Comparison kind -> (VPU compare, operands swapped, commutative). Results are 0/1 in f32,
#: which is how bool values live in HBM.
COMPARE_RULES: dict[str, tuple[str, bool, bool]] = {
    "greater": ("cmpgt", False, False),
    "less": ("cmpgt", True, False),
    "greater_equal": ("cmpge", False, False),
    "less_equal": ("cmpge", True, False),
    "equal": ("cmpeq", False, True),
}


def _supports_binary(op: Op, ctx: LoweringContext) -> str | None:
    _, _, dtypes = BINARY_RULES[op.kind]
    return _stream_reason(op, op.operands, dtypes, ctx)


@asic_lowering(*BINARY_RULES, supports=_supports_binary)
def lower_binary(op: Op, ctx: LoweringContext) -> None:
    lower_step(op, ctx, binary_step(op, ctx))


def binary_step(op: Op, ctx: LoweringContext) -> ElementwiseStep:
    vop, commutative, _ = BINARY_RULES[op.kind]

    def compute(c: TileCompute, args: list[Arg], op: Op) -> None:
        c.binary(vop, c.dst, args[0], args[1], commutative)

    return ElementwiseStep(op, tuple(op.operands), op.result, compute, _working_dtype(op.operands[0], ctx))


def _supports_compare(op: Op, ctx: LoweringContext) -> str | None:
    return _stream_reason(op, op.operands, (F32,), ctx)


@asic_lowering(*COMPARE_RULES, supports=_supports_compare)
def lower_compare(op: Op, ctx: LoweringContext) -> None:
    lower_step(op, ctx, compare_step(op))


def compare_step(op: Op) -> ElementwiseStep:
    vop, swapped, commutative = COMPARE_RULES[op.kind]

    def compute(c: TileCompute, args: list[Arg], op: Op) -> None:
        a, b = (args[1], args[0]) if swapped else (args[0], args[1])
        c.binary(vop, c.dst, a, b, commutative)

    return ElementwiseStep(op, tuple(op.operands), op.result, compute, F32)


def _supports_where(op: Op, ctx: LoweringContext) -> str | None:
    if op.operands[1].type.dtype != F32:
        return f"{op.operands[1].type.dtype} values (where lowers f32 only)"
    return _stream_reason(op, op.operands, (DType.BOOL, F32), ctx)


# A constant condition is packed as a 0/1 f32 mask (:func:`_operand_buffer`) on any target.
@asic_lowering("where", supports=_supports_where, packs=(0,))
def lower_where(op: Op, ctx: LoweringContext) -> None:
    lower_step(op, ctx, where_step(op))


def where_step(op: Op) -> ElementwiseStep:
    cond_is_full = op.operands[0].type.shape == op.result.type.shape

    def compute(c: TileCompute, args: list[Arg], op: Op) -> None:
        cond, if_true, if_false = args
        # sel: dst <- cond != 0 ? bcast(if_true) : dst, so dst starts as the 'false' values.
        c.vec("mov", c.dst, if_false.ref, bcast=if_false.bcast)
        mask = cond.ref if cond.bcast == "none" else c.dense(cond, c.temps[0])
        c.vec("sel", c.dst, mask, if_true.ref, bcast=if_true.bcast)

    return ElementwiseStep(op, tuple(op.operands), op.result, compute, F32, temps=0 if cond_is_full else 1)


# -- pow by a constant exponent ------------------------------------------------------------------------

#: Largest |n| of an integer exponent lowered as repeated multiplication.
MAX_INT_EXPONENT = 8


def constant_exponent(op: Op) -> float | None:
    data = const_value(op.operands[1])
    if data is None or data.size == 0:
        return None
    flat = np.asarray(data, dtype=np.float64).reshape(-1)
    if not np.all(flat == flat[0]):
        return None
    e = float(flat[0])
    if e in (0.5, -0.5) or (e.is_integer() and abs(e) <= MAX_INT_EXPONENT):
        return e
    return None


def _supports_pow(op: Op, ctx: LoweringContext) -> str | None:
    if constant_exponent(op) is None:
        return "exponent is not a constant 0.5, -0.5 or an integer in [-8, 8]"
    return _stream_reason(op, op.operands[:1], (F32,), ctx)


@asic_lowering("pow", supports=_supports_pow)
def lower_pow(op: Op, ctx: LoweringContext) -> None:
    lower_step(op, ctx, pow_step(op))


def pow_step(op: Op) -> ElementwiseStep:
    e = constant_exponent(op)
    assert e is not None

    def compute(c: TileCompute, args: list[Arg], op: Op) -> None:
        x = c.dense(args[0], c.temps[0])
        if e == 0.5:
            c.vec("sqrt", c.dst, x)
        elif e == -0.5:
            c.vec("rsqrt", c.dst, x)
        elif e == 0:
            c.vec("fill", c.dst, imm=1.0)  # x**0 is 1 even for NaN
        else:
            c.vec("mov", c.dst, x)
            for _ in range(int(abs(e)) - 1):
                c.vec("mul", c.dst, c.dst, x)
            if e < 0:
                c.vec("rcp", c.dst, c.dst)

    return ElementwiseStep(op, tuple(op.operands[:1]), op.result, compute, F32, temps=1)


# -- cast -------------------------------------------------------------------------------------------

def cast_steps(src: DType, dst: DType, storage: Mapping[DType, DType]) -> str | None:
    """How ``cast`` from graph dtype ``src`` to ``dst`` runs on their HBM representations
    (``storage``: the target's storage dtypes): ``"mov"`` (same bytes), ``"cvt"`` (one VPU
    conversion), ``"to_bool"`` (x != 0 as 0/1 f32), or ``None`` when the VPU cannot do it
    exactly."""
    stored_src, stored_dst = storage[src], storage[dst]
    if DType.F16 in (src, dst) or src in (DType.I8, DType.U8) or dst in (DType.I8, DType.U8):
        return None  # f16 lives widened to f32 and 8-bit ints widened to i32: no exact rounding/wrap here
    if dst is DType.BOOL:
        return "mov" if src is DType.BOOL else "to_bool"
    if stored_src == stored_dst:
        return "mov"
    if stored_src is I32 and stored_dst is DType.BF16:
        return None  # int -> bf16 would round twice through f32
    return "cvt"


def _supports_cast(op: Op, ctx: LoweringContext) -> str | None:
    src, dst = op.operands[0].type.dtype, op.attrs["to"]
    if cast_steps(src, dst, ctx.target.storage_dtypes) is None:
        return f"cast {src} -> {dst} has no exact VPU form"
    return _stream_reason(op, op.operands[:1], (src,), ctx)


@asic_lowering("cast", supports=_supports_cast)
def lower_cast(op: Op, ctx: LoweringContext) -> None:
    lower_step(op, ctx, cast_step(op, ctx))


def cast_step(op: Op, ctx: LoweringContext) -> ElementwiseStep:
    src_value = op.operands[0]
    steps = cast_steps(src_value.type.dtype, op.attrs["to"], ctx.target.storage_dtypes)
    stored_src, stored_dst = _working_dtype(src_value, ctx), ctx.storage_dtype(op.attrs["to"])

    def compute(c: TileCompute, args: list[Arg], op: Op) -> None:
        x = args[0]
        if steps == "mov":
            c.vec("mov", c.dst, x.ref, bcast=x.bcast, dtype=stored_src)
        elif steps == "cvt":
            c.vec("cvt", c.dst, x.ref, bcast=x.bcast, dtype=stored_src, odt=stored_dst)
        else:  # x != 0 as 1 - (x == 0), in f32
            value = c.temps[0]
            if stored_src is F32:
                c.vec("mov", value, x.ref, bcast=x.bcast)
            else:
                c.vec("cvt", value, x.ref, bcast=x.bcast, dtype=stored_src, odt=F32)
            assert c.zero is not None
            c.vec("cmpeq", c.dst, value, c.zero, bcast="scalar")
            c.vec("muls", c.dst, c.dst, imm=-1.0)
            c.vec("adds", c.dst, c.dst, imm=1.0)

    to_bool = steps == "to_bool"
    return ElementwiseStep(op, tuple(op.operands[:1]), op.result, compute, F32, temps=1 if to_bool else 0, zero=to_bool)


# -- row kernels: reductions, softmax, norms, top-k over the last axis -----------------------------------

@dataclass(frozen=True, slots=True)
class RowOutput:
    """One result of a row kernel: the graph value, its width per row and its tile dtype."""

    value: Value
    cols: int
    dtype: DType = F32


@dataclass(slots=True)
class RowCompute:
    """What a row kernel's compute step sees for one tile of ``rows`` whole rows."""

    kb: KernelBuilder
    x: LocalRef
    outs: list[LocalRef]
    stats: list[LocalRef]  # rows x 1 columns
    temps: list[LocalRef]  # rows x cols tiles
    params: list[Arg]  # row-broadcast operands (scale, bias)
    count: LocalRef  # 1 x 1 holding the row length (for exact means)

    def vec(self, op: str, dst: LocalRef, a: LocalRef | None = None, b: LocalRef | None = None, *,
            bcast: str = "none", imm: float = 0.0, k: int = 0) -> None:
        self.kb.emit(Vector(op, dst, a, b, bcast=bcast, imm=float(imm), k=k, dtype=F32))

    def mean(self, dst: LocalRef, x: LocalRef) -> None:
        """Row means as the reference computes them: sum, then divide by the count."""
        self.vec("rsum", dst, x)
        self.vec("div", dst, dst, self.count, bcast="scalar")


RowComputeFn = Callable[[RowCompute, Op], None]


def trailing_rows_cols(shape: tuple[int, ...], first_axis: int) -> tuple[int, int]:
    """``shape`` as rows x cols with cols covering the axes ``[first_axis, rank)``."""
    return math.prod(shape[:first_axis]), math.prod(shape[first_axis:])


def _row_param_reason(x: Value, param: Value, axis: int) -> str | None:
    """A scale/bias must be one row over the normalised axes (or one scalar)."""
    if param.type.numel == 1:
        return None
    shape = param.type.shape
    padded = (1,) * (x.type.rank - len(shape)) + tuple(shape)
    if all(d == 1 for d in padded[:axis]) and padded[axis:] == x.type.shape[axis:]:
        return None
    return f"{param.name} {param.type.shape} is not one row over axes [{axis}, {x.type.rank}) of {x.type.shape}"


def _row_reason(x: Value, cols: int, extra: Sequence[Value] = ()) -> str | None:
    if x.type.dtype is not F32 or any(v.type.dtype is not F32 for v in extra):
        return f"{x.type.dtype} input (row kernels lower f32 only)"
    if x.type.numel == 0:
        return "empty tensor"
    if cols > MAX_TILE_DIM:
        return f"rows of {cols} elements exceed the VPU's {MAX_TILE_DIM}-column tiles"
    return None


def lower_rows(op: Op, ctx: LoweringContext, x: Value, first_axis: int, outputs: Sequence[RowOutput],
               compute: RowComputeFn, *, stats: int = 0, temps: int = 0, params: Sequence[Value] = ()) -> None:
    """Emit one kernel that streams ``R`` whole rows of ``x`` (axes ``[first_axis, rank)`` form a
    row) through ``compute`` and stores each output's ``R x cols`` block."""
    rows, cols = trailing_rows_cols(x.type.shape, first_axis)
    kb = ctx.kernel(op)
    per_row = 4 * (2 * cols + 2 * temps * cols + 2 * stats) + sum(2 * o.cols * o.dtype.itemsize for o in outputs)
    fixed = sum(4 * cols for _ in params) + 64
    cap = tile_element_cap(ctx, x.type.numel)
    tile_rows = max(1, min(rows, MAX_TILE_DIM, max(1, cap // cols), (ctx.sram_budget_bytes - fixed) // per_row))
    x_name = ctx.hbm(x)
    x_buf = kb.sram(tile_rows, cols, F32, slots=2, hint="x")
    out_bufs = [kb.sram(tile_rows, o.cols, o.dtype, slots=2, hint="out") for o in outputs]
    stat_bufs = [kb.sram(tile_rows, 1, F32, slots=2, hint="stat") for _ in range(stats)]
    temp_bufs = [kb.sram(tile_rows, cols, F32, slots=2, hint="tmp") for _ in range(temps)]
    count = LocalRef(kb.sram(1, 1, F32, hint="count"), 1, 1)
    kb.emit(Vector("fill", count, imm=float(cols), dtype=F32))
    param_args: list[Arg] = []
    for value in params:
        width = 1 if value.type.numel == 1 else cols
        ref = LocalRef(kb.sram(1, width, F32, hint="param"), 1, width)
        kb.emit(Load(ref, HbmRef(ctx.hbm(value), Affine(), 1, width, width)))
        param_args.append(Arg(ref, "scalar" if width == 1 else "row"))
    out_names = [ctx.hbm(o.value) for o in outputs]

    def body(tile: Tile) -> None:
        slot = Affine(tile.slot)
        n = tile.rows
        x_ref = LocalRef(x_buf, n, cols, slot=slot)
        kb.emit(Load(x_ref, HbmRef(x_name, tile.row * cols, n, cols, cols)))
        outs = [LocalRef(b, n, o.cols, slot=slot) for b, o in zip(out_bufs, outputs)]
        compute(RowCompute(kb, x_ref, outs, [LocalRef(b, n, 1, slot=slot) for b in stat_bufs],
                           [LocalRef(b, n, cols, slot=slot) for b in temp_bufs], param_args, count), op)
        for name, ref, o in zip(out_names, outs, outputs):
            if o.cols == 1:  # a column of row statistics is contiguous: store it as one DMA row
                kb.emit(Store(HbmRef(name, tile.row, 1, n, n), LocalRef(ref.buffer, 1, n, slot=slot)))
            else:
                kb.emit(Store(HbmRef(name, tile.row * o.cols, n, o.cols, o.cols), ref))

    emit_tiles(kb, (), 0, rows, 0, cols, tile_rows, cols, body)
    ctx.add_kernel(kb)


# reduce_* ---------------------------------------------------------------------------------------------

REDUCE_KINDS: tuple[str, ...] = ("reduce_sum", "reduce_mean", "reduce_max", "reduce_min")


def reduced_block(op: Op) -> tuple[int, int, int] | None:
    """``x`` as ``(outer, reduced, inner)`` when the reduced axes are one contiguous block
    (``inner`` is 1 for trailing axes), else None."""
    shape = op.operands[0].type.shape
    rank = len(shape)
    axes = sorted({a % rank for a in (op.attrs.get("axes") or range(rank))}) if rank else []
    if not axes:
        return (1, 1, 1)
    first, last = axes[0], axes[-1] + 1
    if axes != list(range(first, last)):
        return None
    return math.prod(shape[:first]), math.prod(shape[first:last]), math.prod(shape[last:])


def _supports_reduce(op: Op, ctx: LoweringContext) -> str | None:
    x = op.operands[0]
    block = reduced_block(op)
    if block is None:
        return f"reduces axes {op.attrs.get('axes')} that are not one contiguous block"
    _, reduced, inner = block
    if reduced == 0:
        return "reduction over an empty axis"
    if inner > 1:  # accumulate whole (outer x inner) planes element-wise
        if x.type.dtype is not F32:
            return f"{x.type.dtype} input (reductions lower f32 only)"
        return None
    return _row_reason(x, reduced)


@asic_lowering(*REDUCE_KINDS, supports=_supports_reduce)
def lower_reduce(op: Op, ctx: LoweringContext) -> None:
    block = reduced_block(op)
    assert block is not None
    if block[2] > 1:
        lower_reduce_planes(op, ctx, *block)
        return

    def compute(c: RowCompute, op: Op) -> None:
        (out,) = c.outs
        if op.kind == "reduce_sum":
            c.vec("rsum", out, c.x)
        elif op.kind == "reduce_mean":
            c.mean(out, c.x)
        elif op.kind == "reduce_max":
            c.vec("rmax", out, c.x)
        else:  # min(x) = -max(-x), exactly
            c.vec("neg", c.x, c.x)
            c.vec("rmax", out, c.x)
            c.vec("neg", out, out)

    x = op.operands[0]
    rank = x.type.rank
    first = min((a % rank for a in (op.attrs.get("axes") or range(rank))), default=0) if rank else 0
    lower_rows(op, ctx, x, first, [RowOutput(op.result, 1)], compute)


#: Element-wise combine of two planes for each reduction kind.
PLANE_COMBINE: dict[str, str] = {"reduce_sum": "add", "reduce_mean": "add", "reduce_max": "max", "reduce_min": "min"}


def lower_reduce_planes(op: Op, ctx: LoweringContext, outer: int, reduced: int, inner: int) -> None:
    """Reduce a middle block of axes: ``x`` is ``outer x reduced x inner`` and the result is the
    ``outer x inner`` plane combining the ``reduced`` planes element-wise (a loop over them,
    unrolled by two so plane loads alternate SRAM slots)."""
    x = op.operands[0]
    combine = PLANE_COMBINE[op.kind]
    x_name, out_name = ctx.hbm(x), ctx.hbm(op.result)
    kb = ctx.kernel(op)
    tile_cols = min(inner, MAX_TILE_DIM)
    pitch = reduced * inner
    cap = tile_element_cap(ctx, outer * inner)
    # A tile row steps over a whole (reduced x inner) block; past the DMA stride field, one row at a time.
    row_limit = MAX_TILE_DIM if max(pitch, inner) * 4 <= MAX_PITCH_BYTES else 1
    tile_rows = max(1, min(outer, row_limit, cap // tile_cols, ctx.sram_budget_bytes // (16 * tile_cols + 64)))
    acc = kb.sram(tile_rows, tile_cols, F32, slots=2, hint="acc")
    plane = kb.sram(tile_rows, tile_cols, F32, slots=2, hint="plane")
    count = None
    if op.kind == "reduce_mean":
        count = LocalRef(kb.sram(1, 1, F32, hint="count"), 1, 1)
        kb.emit(Vector("fill", count, imm=float(reduced), dtype=F32))

    def body(tile: Tile) -> None:
        n, w = tile.rows, tile.cols
        total = LocalRef(acc, n, w, slot=Affine(tile.slot))

        def window(m: Affine) -> HbmRef:
            return HbmRef(x_name, tile.row * pitch + m * inner + tile.col, n, w, pitch if n > 1 else w)

        def add_plane(m: Affine, slot: int) -> None:
            part = LocalRef(plane, n, w, slot=Affine(slot))
            kb.emit(Load(part, window(m)))
            kb.emit(Vector(combine, total, total, part, dtype=F32))

        kb.emit(Load(total, window(Affine())))
        rest = reduced - 1
        if rest >= 4:
            with kb.loop(rest // 2, hint="m") as var:
                m = Affine.of(var) * 2 + 1
                add_plane(m, 0)
                add_plane(m + 1, 1)
        else:
            for i in range(rest // 2 * 2):
                add_plane(Affine(1 + i), i % 2)
        if rest % 2:
            add_plane(Affine(reduced - 1), 0)
        if count is not None:
            kb.emit(Vector("div", total, total, count, bcast="scalar", dtype=F32))
        kb.emit(Store(HbmRef(out_name, tile.row * inner + tile.col, n, w, inner if n > 1 else w), total))

    emit_tiles(kb, (), 0, outer, 0, inner, tile_rows, tile_cols, body)
    ctx.add_kernel(kb)


# softmax / log_softmax --------------------------------------------------------------------------------

def last_axis(op: Op, axis: int) -> int | None:
    """``axis`` normalised when the elements along it are contiguous (it is the last axis, or
    only size-1 axes follow), else None."""
    shape = op.operands[0].type.shape
    if not shape:
        return None
    axis %= len(shape)
    return axis if math.prod(shape[axis + 1:]) == 1 else None


def _supports_softmax(op: Op, ctx: LoweringContext) -> str | None:
    x = op.operands[0]
    axis = last_axis(op, op.attrs.get("axis", -1))
    if axis is None:
        return f"axis {op.attrs.get('axis')} is not the last axis"
    return _row_reason(x, x.type.shape[axis])


@asic_lowering("softmax", "log_softmax", supports=_supports_softmax)
def lower_softmax(op: Op, ctx: LoweringContext) -> None:
    def compute(c: RowCompute, op: Op) -> None:
        (y,), (stat,) = c.outs, c.stats
        c.vec("rmax", stat, c.x)
        c.vec("sub", c.x, c.x, stat, bcast="col")
        if op.kind == "softmax":
            c.vec("exp", y, c.x)
            c.vec("rsum", stat, y)
            c.vec("rcp", stat, stat)
            c.vec("mul", y, y, stat, bcast="col")
        else:  # (x - max) - log(sum(exp(x - max)))
            c.vec("exp", y, c.x)
            c.vec("rsum", stat, y)
            c.vec("log", stat, stat)
            c.vec("sub", y, c.x, stat, bcast="col")

    x = op.operands[0]
    axis = last_axis(op, op.attrs.get("axis", -1))
    assert axis is not None
    lower_rows(op, ctx, x, axis, [RowOutput(op.result, x.type.shape[axis])], compute, stats=1)


# layer_norm / rms_norm ---------------------------------------------------------------------------------

def _supports_norm(op: Op, ctx: LoweringContext) -> str | None:
    x = op.operands[0]
    axis = op.attrs.get("axis", -1) % max(x.type.rank, 1)
    for param in op.operands[1:]:
        reason = _row_param_reason(x, param, axis)
        if reason:
            return reason
    return _row_reason(x, trailing_rows_cols(x.type.shape, axis)[1], op.operands[1:])


@asic_lowering("layer_norm", "rms_norm", supports=_supports_norm)
def lower_norm(op: Op, ctx: LoweringContext) -> None:
    eps = float(op.attrs.get("epsilon", 1e-5))

    def compute(c: RowCompute, op: Op) -> None:
        (y,), (stat,), (t,) = c.outs, c.stats, c.temps
        if op.kind == "layer_norm":
            c.mean(stat, c.x)
            c.vec("sub", c.x, c.x, stat, bcast="col")  # centred
        c.vec("mul", t, c.x, c.x)
        c.mean(stat, t)  # variance, or mean square
        c.vec("adds", stat, stat, imm=eps)
        c.vec("rsqrt", stat, stat)
        c.vec("mul", y, c.x, stat, bcast="col")
        c.vec("mul", y, y, c.params[0].ref, bcast=c.params[0].bcast)
        if len(c.params) > 1:
            c.vec("add", y, y, c.params[1].ref, bcast=c.params[1].bcast)

    x = op.operands[0]
    axis = op.attrs.get("axis", -1) % x.type.rank
    cols = trailing_rows_cols(x.type.shape, axis)[1]
    lower_rows(op, ctx, x, axis, [RowOutput(op.result, cols)], compute, stats=1, temps=1, params=op.operands[1:])


# top_k / arg_max / arg_min ------------------------------------------------------------------------------

def _supports_top_k(op: Op, ctx: LoweringContext) -> str | None:
    x = op.operands[0]
    axis = last_axis(op, op.attrs.get("axis", -1))
    if axis is None:
        return f"axis {op.attrs.get('axis')} is not the last axis"
    if not op.attrs.get("largest", True):
        return "largest=False (vpu.topk selects the largest)"
    k = op.attrs["k"]
    max_k = ctx.target.limits.topk
    if not 1 <= k <= max_k:
        return f"k={k} outside vpu.topk's 1..{max_k}"
    return _row_reason(x, x.type.shape[axis])


@asic_lowering("top_k", supports=_supports_top_k)
def lower_top_k(op: Op, ctx: LoweringContext) -> None:
    k = op.attrs["k"]

    def compute(c: RowCompute, op: Op) -> None:
        values, indices = c.outs
        c.vec("topk", values, c.x, indices, k=k)

    x = op.operands[0]
    axis = last_axis(op, op.attrs.get("axis", -1))
    assert axis is not None
    lower_rows(op, ctx, x, axis, [RowOutput(op.results[0], k), RowOutput(op.results[1], k, I32)], compute)


def _supports_arg(op: Op, ctx: LoweringContext) -> str | None:
    x = op.operands[0]
    if x.type.rank == 0:
        return "0-d input"
    axis = last_axis(op, op.attrs["axis"])
    if axis is None:
        return f"axis {op.attrs['axis']} is not the last axis"
    if op.attrs.get("select_last_index", False):
        return "select_last_index=True (vpu.topk breaks ties toward the lower index)"
    return _row_reason(x, x.type.shape[axis])


@asic_lowering("arg_max", "arg_min", supports=_supports_arg)
def lower_arg(op: Op, ctx: LoweringContext) -> None:
    def compute(c: RowCompute, op: Op) -> None:
        (indices,), (best,) = c.outs, c.stats
        if op.kind == "arg_min":  # the lowest index of the minimum is the lowest index of -x's maximum
            c.vec("neg", c.x, c.x)
        c.vec("topk", best, c.x, indices, k=1)

    x = op.operands[0]
    axis = last_axis(op, op.attrs["axis"])
    assert axis is not None
    lower_rows(op, ctx, x, axis, [RowOutput(op.result, 1, I32)], compute, stats=1)


# -- steps of fused groups -----------------------------------------------------------------------------

def reduce_row_step(op: Op) -> ElementwiseStep | None:
    """``reduce_*`` over the last axis with kept dimensions, as a step of a fused group whose
    tiles hold whole rows; ``None`` when the reduction is not of that form."""
    x = op.operands[0]
    rank = x.type.rank
    if rank == 0 or x.type.dtype is not F32 or op.result.type.rank != rank or x.type.shape[-1] <= 1:
        return None
    if sorted({a % rank for a in (op.attrs.get("axes") or range(rank))}) != [rank - 1]:
        return None

    def compute(c: TileCompute, args: list[Arg], op: Op) -> None:
        # plan_group checked the operand varies along the row, so its tile holds the result's
        # rows: a full tile for a column result, one row for a scalar one.
        x = args[0].ref
        if op.kind == "reduce_sum":
            c.vec("rsum", c.dst, x)
        elif op.kind == "reduce_mean":  # sum, then divide by the count, as the reference does
            assert c.count is not None
            c.vec("rsum", c.dst, x)
            c.vec("div", c.dst, c.dst, c.count, bcast="scalar")
        elif op.kind == "reduce_max":
            c.vec("rmax", c.dst, x)
        else:  # min(x) = -max(-x), exactly
            c.vec("neg", c.temps[0], x)
            c.vec("rmax", c.dst, c.temps[0])
            c.vec("neg", c.dst, c.dst)

    return ElementwiseStep(op, (x,), op.result, compute, F32, temps=1, count=op.kind == "reduce_mean", row_op=True)


def softmax_row_step(op: Op) -> ElementwiseStep | None:
    """``softmax``/``log_softmax`` over the last axis as a step of a fused group (the same VPU
    sequence as :func:`lower_softmax`, so fusing changes no bits)."""
    x = op.operands[0]
    rank = x.type.rank
    if rank == 0 or x.type.dtype is not F32 or op.attrs.get("axis", -1) % rank != rank - 1:
        return None

    def compute(c: TileCompute, args: list[Arg], op: Op) -> None:
        shifted, y = c.temps[0], c.dst
        stat = LocalRef(c.temps[1].buffer, c.temps[1].rows, 1, c.temps[1].offset, c.temps[1].slot)
        x = c.dense(args[0], shifted)
        c.vec("rmax", stat, x)
        c.vec("sub", shifted, x, stat, bcast="col")
        c.vec("exp", y, shifted)
        c.vec("rsum", stat, y)
        if op.kind == "softmax":
            c.vec("rcp", stat, stat)
            c.vec("mul", y, y, stat, bcast="col")
        else:  # (x - max) - log(sum(exp(x - max)))
            c.vec("log", stat, stat)
            c.vec("sub", y, shifted, stat, bcast="col")

    return ElementwiseStep(op, (x,), op.result, compute, F32, temps=2, row_op=True)


def group_step(op: Op, ctx: LoweringContext) -> ElementwiseStep | None:
    """``op`` as a step of a fused element-wise group, or ``None`` when it cannot be one. Call
    only for ops whose own lowering rule accepted them (dtypes and patterns are checked there)."""
    if op.kind in UNARY_RULES:
        return unary_step(op, ctx)
    if op.kind in BINARY_RULES:
        return binary_step(op, ctx)
    if op.kind in COMPARE_RULES:
        return compare_step(op)
    if op.kind == "where":
        return where_step(op)
    if op.kind == "pow":
        return pow_step(op)
    if op.kind == "cast":
        return cast_step(op, ctx)
    if op.kind in REDUCE_KINDS:
        return reduce_row_step(op)
    if op.kind in ("softmax", "log_softmax"):
        return softmax_row_step(op)
    return None
