"""MXU lowering of ``matmul`` and ``gemm``: graph op → tiled kernel-IR loop nest.

Position in the flow: one of the ``tiling_*`` rule modules that
:mod:`moecc.passes.kernel_lowering` loads; it runs after partitioning and before memory
planning. Every matmul the graph IR allows (2-D, batched, broadcast batch dims, 1-D operands,
constant or run-time operands on either side) is first reduced to a :class:`MatmulProblem`:
batch loops around one ``[M, K] @ [K, N]`` product over flat row-major HBM buffers. Batch
dims that the right operand does not vary over fold into ``M`` (``[B, S, D] @ [D, N]`` is one
``[B*S, D] @ [D, N]`` product), and adjacent batch dims with compatible strides merge.

The product is then tiled (:func:`choose_tiling`) from the target: ``tm x tk`` tiles of A,
``tk x tn`` tiles of B, ``tm x tn`` accumulator tiles, everything double-buffered, with the
SRAM and accumulator budgets of the target deciding tile sizes and residency:

- *A panel*: the ``tm x K`` rows of A an M tile needs stay in SRAM across all N tiles
  (laid out as K blocks so each block is a contiguous MXU operand).
- *B resident*: all of B (``K x N``) stays in SRAM across all M tiles; the first M tile loads
  each block just before it uses it, so compute starts after the first block, not after all.
- Otherwise operands stream tile by tile through two SRAM slots.

Among the configurations that fit, the one with the least HBM traffic wins. The loop nest is
``batch → M tiles → N tiles → K tiles``; K tiles accumulate in ``acc`` (the first overwrites),
then the accumulator tile goes ``acc → SRAM`` (``Vector mov``, or ``cvt`` to a bf16 result)
and is stored. Edge tiles are peeled into statement groups with smaller static sizes, and
loops are unrolled by two so even iterations use slot 0 and odd ones slot 1 (Affine has no
modulo), letting the scheduler overlap DMA with MXU work.

Transposed B: the MXU loads its stationary operand transposed at no cost (``MatMul.transpose_w``,
``mxu.mm tw=1``). When B is ``transpose(x)`` whose ``k`` axis is ``x``'s contiguous last axis
(attention's ``k^T``), the kernel reads ``n x k`` row windows of ``x`` directly
(:func:`transposed_source`) and the transpose op emits no kernel once every user folds it
(:func:`folds_transpose`, asked by ``tiling_data``). gemm's run-time ``trans_b`` operand is
read the same way.

Precision: f32 graphs at ``precision="f32"`` run the MXU in f32 (exact f32 products);
at ``precision="bf16"`` the MXU multiplies bf16 with f32 accumulation: constant operands are
packed as bf16 weights once, run-time operands are loaded as f32 and converted tile by tile
(``Vector cvt``). bf16 graphs always run bf16 on the MXU. Integer and f16 matmuls decline
(they run on the CPU).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np

from moecc.ir.builder import const_value
from moecc.ir.graph import Op, Value
from moecc.ir.kernel import Affine, HbmRef, Load, LocalRef, MatMul, Store, Vector
from moecc.ir.ops.common import broadcast_shapes
from moecc.ir.types import DType
from moecc.isa_spec.target import isa_tile_limits
from moecc.passes.kernel_lowering import KernelBuilder, LoweringContext, asic_lowering

#: Largest m/k/n/rows/cols a tile may have: the ISA's 12-bit instruction fields (read from the
#: table). Row pitches are checked against the target's own limit (``ctx.target.limits``).
MAX_TILE_DIM = isa_tile_limits().tile_dim
#: Graph dtypes the MXU path computes exactly (others run on the CPU).
MXU_GRAPH_DTYPES: tuple[DType, ...] = (DType.F32, DType.BF16)
#: Rows of A per M tile before budgets shrink it: enough streaming rows per weight fold to
#: hide the next fold's weight load (``rows`` cycles) behind ``m x passes`` cycles.
DEFAULT_TILE_M = 256
#: Weight folds (array heights) per K tile: one MXU instruction covers this many folds.
DEFAULT_K_FOLDS = 2


# -- the problem: batch loops around one 2-D product --------------------------------------


@dataclass(frozen=True, slots=True)
class BatchDim:
    """One batch loop: ``size`` iterations, element strides into A, B and the result
    (0 where that operand is broadcast over the dim)."""

    size: int
    a_stride: int
    b_stride: int
    out_stride: int


@dataclass(frozen=True, slots=True)
class MatmulProblem:
    """``out[b] = A[b] @ B[b]`` for every batch index: ``[m, k] @ [k, n]`` row-major products
    at element offsets given by the batch dims (outermost first)."""

    m: int
    k: int
    n: int
    batch: tuple[BatchDim, ...] = ()

    @property
    def batch_count(self) -> int:
        return math.prod(d.size for d in self.batch)

    @property
    def macs(self) -> int:
        return self.batch_count * self.m * self.k * self.n


def matmul_problem(a_shape: Sequence[int], b_shape: Sequence[int],
                   b_batch_strides: Sequence[int] | None = None) -> MatmulProblem:
    """Reduce numpy ``matmul(a, b)`` of these shapes to batch loops around a 2-D product,
    folding batch dims B does not vary over into M and merging contiguous batch dims.
    ``b_batch_strides`` gives B's batch-axis element strides when B is not a row-major
    tensor of its own (a view of a folded transpose's input)."""
    a2 = (1, *a_shape) if len(a_shape) == 1 else tuple(a_shape)
    b2 = (*b_shape, 1) if len(b_shape) == 1 else tuple(b_shape)
    m, k, n = a2[-2], a2[-1], b2[-1]
    batch_shape = broadcast_shapes("matmul", a2[:-2], b2[:-2])
    a_strides = _broadcast_strides(a2[:-2], batch_shape, m * k)
    b_strides = _broadcast_strides(b2[:-2], batch_shape, k * n)
    if b_batch_strides is not None:
        pad = len(batch_shape) - len(b2[:-2])
        b_strides = [0] * pad + [0 if size == 1 else stride for size, stride in zip(b2[:-2], b_batch_strides)]
    out_strides = _broadcast_strides(batch_shape, batch_shape, m * n)
    dims = [BatchDim(s, sa, sb, so) for s, sa, sb, so in zip(batch_shape, a_strides, b_strides, out_strides) if s != 1]
    # Innermost batch dims B is broadcast over, with A and the result contiguous across
    # them, are just more rows of one product.
    while dims and dims[-1].b_stride == 0 and dims[-1].a_stride == m * k and dims[-1].out_stride == m * n:
        m *= dims.pop().size
    merged: list[BatchDim] = []
    for dim in dims:
        if merged and _contiguous(merged[-1], dim):
            outer = merged.pop()
            dim = BatchDim(outer.size * dim.size, dim.a_stride, dim.b_stride, dim.out_stride)
        merged.append(dim)
    return MatmulProblem(m, k, n, tuple(merged))


def _broadcast_strides(shape: Sequence[int], batch_shape: Sequence[int], matrix: int) -> list[int]:
    """Element strides of ``shape`` (right-aligned to ``batch_shape``), 0 on broadcast dims."""
    strides = [0] * len(batch_shape)
    step = matrix
    for axis in range(1, len(shape) + 1):
        size = shape[-axis]
        strides[-axis] = step if size != 1 else 0
        step *= size
    return strides


def _contiguous(outer: BatchDim, inner: BatchDim) -> bool:
    """Whether two adjacent batch loops are one loop of ``outer.size * inner.size``."""
    return (
        outer.a_stride == inner.a_stride * inner.size
        and outer.b_stride == inner.b_stride * inner.size
        and outer.out_stride == inner.out_stride * inner.size
    )


# -- tiling: tile sizes and residency from the target ----------------------------------------


@dataclass(frozen=True, slots=True)
class MatmulTiling:
    """Tile sizes and which operands stay resident in SRAM (see the module docstring)."""

    tm: int
    tk: int
    tn: int
    a_panel: bool
    b_resident: bool


@dataclass(frozen=True, slots=True)
class OperandFormat:
    """How the kernel reads one operand: HBM element type, and whether tiles are converted
    to the MXU type on the way (an f32 run-time operand feeding a bf16 MXU)."""

    hbm_dtype: DType
    convert: bool


@dataclass(frozen=True, slots=True)
class MatmulFormats:
    mxu: DType
    a: OperandFormat
    b: OperandFormat
    out: DType
    #: Element type and broadcast of gemm's ``c`` tile, when there is one.
    bias: tuple[DType, str] | None = None


def resident_b_slots(problem: MatmulProblem) -> int:
    """A resident B that changes with the batch index gets two slots, so the next batch's
    B loads while the current one computes."""
    return 2 if any(d.b_stride for d in problem.batch) else 1


def local_bytes(problem: MatmulProblem, tiling: MatmulTiling, formats: MatmulFormats) -> dict[str, int]:
    """SRAM and accumulator bytes of every local buffer (all slots) of the kernel."""
    tm, tk, tn = tiling.tm, tiling.tk, tiling.tn
    mxu = formats.mxu.itemsize
    sram = 2 * tm * (problem.k if tiling.a_panel else tk) * mxu
    sram += problem.k * problem.n * mxu * resident_b_slots(problem) if tiling.b_resident else 2 * tk * tn * mxu
    if formats.a.convert:
        sram += 2 * tm * tk * formats.a.hbm_dtype.itemsize
    if formats.b.convert:
        sram += 2 * tk * tn * formats.b.hbm_dtype.itemsize
    sram += 2 * tm * tn * formats.out.itemsize
    if formats.bias is not None:
        sram += 2 * tm * tn * formats.bias[0].itemsize
    return {"sram": sram, "acc": 2 * tm * tn * 4}


def hbm_traffic_bytes(problem: MatmulProblem, tiling: MatmulTiling, formats: MatmulFormats) -> int:
    """HBM bytes the kernel moves: reloads of A per N tile unless panelled, of B per M tile
    unless resident."""
    m_tiles = math.ceil(problem.m / tiling.tm)
    n_tiles = math.ceil(problem.n / tiling.tn)
    a_bytes = problem.m * problem.k * formats.a.hbm_dtype.itemsize
    b_bytes = problem.k * problem.n * formats.b.hbm_dtype.itemsize
    out_bytes = problem.m * problem.n * formats.out.itemsize
    per_batch = a_bytes * (1 if tiling.a_panel else n_tiles) + b_bytes * (1 if tiling.b_resident else m_tiles) + out_bytes
    return problem.batch_count * per_batch


#: Folds per tile when the product is too short in M to be compute-bound: B then streams
#: through in fewer, larger DMAs, so descriptor setup and MXU latency hide behind the bytes.
SHORT_M_K_FOLDS = 4
SHORT_M_N_FOLDS = 4


def initial_tiles(problem: MatmulProblem, ctx: LoweringContext) -> tuple[int, int, int]:
    """Starting ``(tm, tk, tn)`` before budgets shrink them, as multiples of the array.

    A K tile of a few folds keeps the first MXU instruction close behind the first loads;
    an N tile of one array width lets each accumulator tile drain and store while the next
    one computes. When M is shorter than the array height (decode, GEMV), every weight fold
    streams only a few rows: the kernel is bound by B's bytes, so B tiles grow instead.
    """
    rows, cols = ctx.target.mxu_rows, ctx.target.mxu_cols
    short = problem.m < rows
    tm = min(problem.m, DEFAULT_TILE_M, MAX_TILE_DIM)
    tk = min(problem.k, (SHORT_M_K_FOLDS if short else DEFAULT_K_FOLDS) * rows, MAX_TILE_DIM)
    tn = min(problem.n, (SHORT_M_N_FOLDS if short else 1) * cols, MAX_TILE_DIM)
    return tm, tk, tn


def choose_tiling(problem: MatmulProblem, ctx: LoweringContext, formats: MatmulFormats) -> MatmulTiling | str:
    """The tiling with the least HBM traffic whose buffers fit the target's SRAM and
    accumulator budgets; tiles start at MXU-sized multiples and halve until something fits.
    Returns a reason string when nothing fits."""
    target = ctx.target
    tm, tk, tn = initial_tiles(problem, ctx)
    while True:
        candidates = []
        for a_panel in (True, False):
            for b_resident in (True, False):
                tiling = MatmulTiling(tm, tk, tn, a_panel, b_resident)
                need = local_bytes(problem, tiling, formats)
                if need["sram"] <= ctx.sram_budget_bytes and need["acc"] <= ctx.acc_budget_bytes:
                    candidates.append(tiling)
        if candidates:
            # Ties (e.g. a single K tile makes the panel free) go to the resident variants:
            # they load each block once and never wait for a slot to free up.
            return min(candidates, key=lambda t: (hbm_traffic_bytes(problem, t, formats), not t.a_panel, not t.b_resident))
        if max(tm, tk, tn) == 1:
            return f"matmul tiles do not fit {target.name}'s SRAM/accumulator even at 1x1x1"
        # Shrink the largest tile dim first; it dominates every buffer it appears in.
        if tm >= tk and tm >= tn:
            tm = (tm + 1) // 2
        elif tk >= tn:
            tk = (tk + 1) // 2
        else:
            tn = (tn + 1) // 2


# -- supports -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    problem: MatmulProblem
    tiling: MatmulTiling
    formats: MatmulFormats
    #: B is stored ``[..., n, k]`` in HBM (the input of a folded transpose, or gemm's run-time
    #: ``trans_b`` operand): its tiles load as ``n x k`` rows and the MXU uses them transposed.
    b_transposed: bool = False
    #: Element pitch between B's HBM rows (k rows, or n rows when ``b_transposed``).
    b_pitch: int = 0


def _operand_format(value: Value, mxu: DType, ctx: LoweringContext) -> OperandFormat:
    hbm_dtype = ctx.storage_dtype(value.type.dtype)
    if const_value(value) is not None:
        return OperandFormat(mxu, False)  # packed in the MXU type once, at compile time
    return OperandFormat(hbm_dtype, hbm_dtype != mxu)


def _plan(a: Value, b: Value, result: Value, ctx: LoweringContext, bias: tuple[DType, str] | None = None,
          transposed: tuple[bool, bool] = (False, False), fold: FoldedTranspose | None = None,
          b_transposed: bool = False) -> _Plan | str:
    """Problem, formats and tiling of ``a @ b`` (gemm: either operand read transposed;
    ``b_transposed``: B's HBM buffer holds it as ``[..., n, k]``; ``fold``: B is read
    from a folded transpose's input)."""
    dtype = result.type.dtype
    if dtype not in MXU_GRAPH_DTYPES or a.type.dtype != dtype or b.type.dtype != dtype:
        return f"the MXU path computes f32/bf16 matmuls, not {dtype}"
    if 0 in a.type.shape or 0 in b.type.shape:
        return "empty matmul operand"
    mxu = DType.BF16 if dtype == DType.BF16 else ctx.mxu_dtype_for(result.producer)
    a_shape, b_shape = (v.type.shape[::-1] if t else v.type.shape for v, t in zip((a, b), transposed))
    problem = matmul_problem(a_shape, b_shape, fold.batch_strides if fold is not None else None)
    b_transposed = b_transposed or fold is not None
    formats = MatmulFormats(mxu, _operand_format(a, mxu, ctx), _operand_format(b, mxu, ctx),
                            ctx.storage_dtype(dtype), bias)
    b_pitch = fold.pitch if fold is not None else problem.k if b_transposed else problem.n
    pitches = {"A": problem.k * formats.a.hbm_dtype.itemsize, "B": b_pitch * formats.b.hbm_dtype.itemsize,
               "the result": problem.n * formats.out.itemsize}
    max_stride = ctx.target.limits.stride_bytes
    for name, pitch in pitches.items():
        if pitch > max_stride:
            return f"row pitch of {name} ({pitch} bytes) exceeds the DMA stride field ({max_stride} bytes)"
    tiling = choose_tiling(problem, ctx, formats)
    if isinstance(tiling, str):
        return tiling
    return _Plan(problem, tiling, formats, b_transposed, b_pitch)


@dataclass(frozen=True, slots=True)
class FoldedTranspose:
    """B = ``transpose(source, perm)`` read in place: B's ``[k, n]`` matrices are ``n`` rows
    of ``k`` contiguous elements of ``source`` (``pitch`` elements apart), at batch strides
    ``batch_strides`` (one per leading axis of B)."""

    source: Value
    batch_strides: tuple[int, ...]
    pitch: int


def transposed_source(value: Value) -> FoldedTranspose | None:
    """How to read ``value = transpose(x, perm)`` of a run-time ``x`` without the transpose:
    possible when B's ``k`` axis is ``x``'s last (contiguous) axis, as in attention's ``k^T``
    (``perm (0, 1, 3, 2)`` of ``[b, h, s, d]``, or ``(0, 2, 3, 1)`` of ``[b, s, h, d]``). B's
    ``[k, n]`` matrices are then rows of ``x``, which the MXU reads with a transposed weight."""
    producer = value.producer
    if producer is None or producer.kind != "transpose":
        return None
    perm = [int(p) for p in producer.attrs["perm"]]
    rank = len(perm)
    if rank < 2 or perm[-2] != rank - 1:
        return None
    source = producer.operands[0]
    if const_value(source) is not None:  # constants are packed in the layout the kernel reads
        return None
    strides = [1] * rank
    for axis in range(rank - 2, -1, -1):
        strides[axis] = strides[axis + 1] * source.type.shape[axis + 1]
    return FoldedTranspose(source, tuple(strides[p] for p in perm[:-2]), strides[perm[-1]])


def _matmul_plan(op: Op, ctx: LoweringContext) -> tuple[_Plan, Value] | str:
    """The plan of a matmul and the value its B operand is read from: the transpose's input
    when B is a foldable transpose (the transpose kernel is then not needed), else B."""
    a, b = op.operands
    fold = transposed_source(b)
    if fold is not None:
        folded = _plan(a, b, op.result, ctx, fold=fold)
        if not isinstance(folded, str):
            return folded, fold.source
    plain = _plan(a, b, op.result, ctx)
    return plain if isinstance(plain, str) else (plain, b)


def supports_matmul(op: Op, ctx: LoweringContext) -> str | None:
    plan = _matmul_plan(op, ctx)
    return plan if isinstance(plan, str) else None


def folds_transpose(op: Op, ctx: LoweringContext) -> bool:
    """Whether every use of this transpose's result is the B operand of an ASIC matmul that
    reads the transpose's input directly: then the transpose needs no kernel and its result
    no HBM buffer. A graph output, any other user (a CPU op, a reshape, a matmul's A), or a
    matmul that cannot fold it keeps the transpose."""
    if op.kind != "transpose" or transposed_source(op.result) is None:
        return False
    users = ctx.graph.uses().get(op.result, [])
    if not users:
        return False
    for user in users:
        if user is None or user.kind != "matmul" or user.operands[1] is not op.result or user.operands[0] is op.result:
            return False
        plan = _matmul_plan(user, ctx)
        if isinstance(plan, str) or not plan[0].b_transposed:
            return False
    return True


# -- emission -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Tile:
    """One tile position along a dim: element offset (affine in loop variables), static size,
    double-buffer slot parity, and whether it is the dim's first tile."""

    offset: Affine
    size: int
    parity: int
    first: bool


@contextlib.contextmanager
def _loop(kb: KernelBuilder, count: int) -> Iterator[Affine]:
    """A loop variable as an Affine; a single iteration emits no loop at all."""
    if count == 1:
        yield Affine(0)
        return
    with kb.loop(count) as var:
        yield Affine.of(var)


def _tiles(kb: KernelBuilder, extent: int, tile: int, body: Callable[[_Tile], None]) -> None:
    """Emit ``body`` for every tile of ``range(extent)`` in steps of ``tile``: the first tile
    peeled (its first-iteration work differs), full tiles in a loop unrolled by two (slots
    alternate with a static parity), and the edge tile last with its smaller static size."""
    full, edge = divmod(extent, tile)
    body(_Tile(Affine(0), min(tile, extent), 0, True))
    position, parity = min(tile, extent), 1
    remaining = full - 1 if full else 0
    if remaining >= 2:
        with _loop(kb, remaining // 2) as j:
            step = j * (2 * tile)
            body(_Tile(step + position, tile, parity, False))
            body(_Tile(step + position + tile, tile, parity ^ 1, False))
        position += (remaining // 2) * 2 * tile
    if remaining % 2:
        body(_Tile(Affine(position), tile, parity, False))
        position, parity = position + tile, parity ^ 1
    if full and edge:
        body(_Tile(Affine(position), edge, parity, False))


@dataclass(frozen=True, slots=True)
class _Bias:
    """gemm's ``c`` as read by the epilogue: HBM buffer, broadcast pattern, and scale."""

    buffer: str
    bcast: str  # none | row | col | scalar
    dtype: DType


class _MatmulKernel:
    """Builds the loop nest of one matmul kernel (see the module docstring)."""

    def __init__(self, kb: KernelBuilder, plan: _Plan, a: str, b: str, out: str, alpha: float = 1.0,
                 bias: _Bias | None = None) -> None:
        self.kb, self.plan, self.p, self.t, self.f = kb, plan, plan.problem, plan.tiling, plan.formats
        self.a_hbm, self.b_hbm, self.out_hbm = a, b, out
        self.alpha, self.bias = alpha, bias
        p, t, f = self.p, self.t, self.f
        self.a_buf = kb.sram(t.tm, p.k if t.a_panel else t.tk, f.mxu, slots=2, hint="a")
        self.b_buf = kb.sram(p.k, p.n, f.mxu, slots=resident_b_slots(p), hint="bres") if t.b_resident else kb.sram(t.tk, t.tn, f.mxu, slots=2, hint="b")
        self.a_stage = kb.sram(t.tm, t.tk, f.a.hbm_dtype, slots=2, hint="a32") if f.a.convert else None
        self.b_stage = kb.sram(t.tk, t.tn, f.b.hbm_dtype, slots=2, hint="b32") if f.b.convert else None
        self.acc = kb.acc(t.tm, t.tn, slots=2, hint="acc")
        self.out_buf = kb.sram(t.tm, t.tn, f.out, slots=2, hint="o")
        self.bias_buf = kb.sram(t.tm, t.tn, bias.dtype, slots=2, hint="c") if bias is not None else None
        k_tiles = math.ceil(p.k / t.tk)
        # Streamed tiles alternate slots over the flattened (n, k) sequence: by k parity
        # when each N tile has an even number of K tiles, else by k parity xor n parity.
        self.stream_by_n = k_tiles % 2 == 1

    def emit(self) -> None:
        self._batch(0, Affine(0), Affine(0), Affine(0))

    def _batch(self, level: int, a_off: Affine, b_off: Affine, o_off: Affine, flip: int = 0) -> None:
        if level == len(self.p.batch):
            _tiles(self.kb, self.p.m, self.t.tm, lambda mt: self._m_tile(mt, a_off, b_off, o_off, flip))
            return
        dim = self.p.batch[level]
        if level == len(self.p.batch) - 1:
            # Consecutive products of the innermost batch loop use opposite slots, so small
            # batched products (attention heads) overlap instead of waiting on each other.
            def one(bt: _Tile) -> None:
                i = bt.offset
                self._batch(level + 1, a_off + i * dim.a_stride, b_off + i * dim.b_stride, o_off + i * dim.out_stride,
                            bt.parity)

            _tiles(self.kb, dim.size, 1, one)
            return
        with _loop(self.kb, dim.size) as i:
            self._batch(level + 1, a_off + i * dim.a_stride, b_off + i * dim.b_stride, o_off + i * dim.out_stride)

    def _m_tile(self, mt: _Tile, a_off: Affine, b_off: Affine, o_off: Affine, flip: int) -> None:
        mt = replace(mt, parity=mt.parity ^ flip)
        if self.t.a_panel:
            _tiles(self.kb, self.p.k, self.t.tk, lambda kt: self._load_a(mt, kt, a_off, mt.parity))
        _tiles(self.kb, self.p.n, self.t.tn,
               lambda nt: self._n_tile(mt, replace(nt, parity=nt.parity ^ flip), a_off, b_off, o_off, flip))

    def _n_tile(self, mt: _Tile, nt: _Tile, a_off: Affine, b_off: Affine, o_off: Affine, flip: int) -> None:
        p, kb = self.p, self.kb
        acc = LocalRef(self.acc, mt.size, nt.size, slot=Affine(nt.parity))

        def k_step(kt: _Tile) -> None:
            slot = kt.parity ^ (nt.parity if self.stream_by_n else 0)
            a_ref = self._a_tile(mt, kt, a_off, slot)
            b_ref = self._b_tile(mt, nt, kt, b_off, slot, flip)
            kb.emit(MatMul(LocalRef(acc.buffer, mt.size, nt.size, slot=acc.slot), a_ref, b_ref,
                           accumulate=not kt.first, dtype=self.f.mxu, transpose_w=self.plan.b_transposed))

        _tiles(kb, p.k, self.t.tk, k_step)
        self._epilogue(mt, nt, acc, o_off)

    # -- operands --
    def _load_a(self, mt: _Tile, kt: _Tile, a_off: Affine, slot: int) -> LocalRef:
        """Bring the ``mt x kt`` block of A into its SRAM place (panel block or stream slot)."""
        offset = kt.offset * mt.size if self.t.a_panel else Affine(0)
        dst = LocalRef(self.a_buf, mt.size, kt.size, offset, Affine(slot))
        src = HbmRef(self.a_hbm, a_off + mt.offset * self.p.k + kt.offset, mt.size, kt.size, self.p.k)
        self._load(dst, src, self.a_stage, slot)
        return dst

    def _a_tile(self, mt: _Tile, kt: _Tile, a_off: Affine, slot: int) -> LocalRef:
        if self.t.a_panel:
            return LocalRef(self.a_buf, mt.size, kt.size, kt.offset * mt.size, Affine(mt.parity))
        return self._load_a(mt, kt, a_off, slot)

    def _b_tile(self, mt: _Tile, nt: _Tile, kt: _Tile, b_off: Affine, slot: int, flip: int) -> LocalRef:
        if self.plan.b_transposed:
            # B^T is [n, k] row-major: the (kt, nt) tile of B is an ns x ks row window of it.
            rows, cols = nt.size, kt.size
            src = HbmRef(self.b_hbm, b_off + nt.offset * self.plan.b_pitch + kt.offset, rows, cols, self.plan.b_pitch)
        else:
            rows, cols = kt.size, nt.size
            src = HbmRef(self.b_hbm, b_off + kt.offset * self.plan.b_pitch + nt.offset, rows, cols, self.plan.b_pitch)
        if self.t.b_resident:
            # Block (k0, n0) of a K-row panel sits at k0*N + n0*ks: contiguous ks x ns (or ns x ks).
            resident_slot = Affine(flip if resident_b_slots(self.p) == 2 else 0)
            dst = LocalRef(self.b_buf, rows, cols, kt.offset * self.p.n + nt.offset * kt.size, resident_slot)
            if mt.first:  # loaded by the first M tile, just before its first use
                self._load(dst, src, self.b_stage, slot)
            return dst
        dst = LocalRef(self.b_buf, rows, cols, slot=Affine(slot))
        self._load(dst, src, self.b_stage, slot)
        return dst

    def _load(self, dst: LocalRef, src: HbmRef, stage: str | None, slot: int) -> None:
        if stage is None:
            self.kb.emit(Load(dst, src))
            return
        staged = LocalRef(stage, dst.rows, dst.cols, slot=Affine(slot))
        self.kb.emit(Load(staged, src))
        self.kb.emit(Vector("cvt", dst, staged, dtype=DType.F32, odt=self.f.mxu))

    # -- result --
    def _epilogue(self, mt: _Tile, nt: _Tile, acc: LocalRef, o_off: Affine) -> None:
        kb, f = self.kb, self.f
        out = LocalRef(self.out_buf, mt.size, nt.size, slot=Affine(nt.parity))
        # The result is rounded to its type once, after alpha and c are applied in f32.
        work = out if f.out == DType.F32 else acc
        if self.alpha != 1.0:
            kb.emit(Vector("muls", work, acc, imm=self.alpha))
        elif work is out:
            kb.emit(Vector("mov", out, acc))
        if self.bias is not None:
            kb.emit(self._bias_add(mt, nt, work, o_off))
        if f.out != DType.F32:
            kb.emit(Vector("cvt", out, acc, dtype=DType.F32, odt=f.out))
        dst = HbmRef(self.out_hbm, o_off + mt.offset * self.p.n + nt.offset, mt.size, nt.size, self.p.n)
        kb.emit(Store(dst, out))

    def _bias_add(self, mt: _Tile, nt: _Tile, work: LocalRef, o_off: Affine) -> Vector:
        bias, p = self.bias, self.p
        assert bias is not None and self.bias_buf is not None
        rows, cols, offset, pitch = {
            "none": (mt.size, nt.size, mt.offset * p.n + nt.offset, p.n),
            "row": (1, nt.size, nt.offset, p.n),
            "col": (mt.size, 1, mt.offset, 1),
            "scalar": (1, 1, Affine(0), 1),
        }[bias.bcast]
        tile = LocalRef(self.bias_buf, rows, cols, slot=Affine(nt.parity))
        self.kb.emit(Load(tile, HbmRef(bias.buffer, offset, rows, cols, pitch)))
        return Vector("add", work, work, tile, bcast=bias.bcast)


def _operand_buffer(value: Value, fmt: OperandFormat, ctx: LoweringContext, transpose: bool = False) -> str:
    """HBM buffer the kernel reads for an operand: constants packed once in the MXU type
    (transposed when gemm asks for it), run-time values where they live."""
    data = const_value(value)
    if data is None:
        return ctx.hbm(value)
    packed = np.asarray(data).T if transpose else np.asarray(data)
    return ctx.weight(f"{value.name}.T" if transpose else value.name, packed, fmt.hbm_dtype)


@asic_lowering("matmul", supports=supports_matmul)
def lower_matmul(op: Op, ctx: LoweringContext) -> None:
    a = op.operands[0]
    planned = _matmul_plan(op, ctx)
    if isinstance(planned, str):  # supports() said yes; a changed context is a compiler bug
        raise RuntimeError(f"lower_matmul called on an unsupported matmul: {planned}")
    plan, b = planned
    kb = ctx.kernel(op, "matmul")
    a_buf = _operand_buffer(a, plan.formats.a, ctx)
    b_buf = _operand_buffer(b, plan.formats.b, ctx)
    _MatmulKernel(kb, plan, a_buf, b_buf, ctx.hbm(op.result)).emit()
    ctx.add_kernel(kb)


# -- gemm -----------------------------------------------------------------------------------


def _bias_pattern(c_shape: tuple[int, ...], m: int, n: int) -> str | None:
    """How gemm's ``c`` broadcasts over the [M, N] result, as a VPU bcast mode."""
    dims = tuple(c_shape)
    if math.prod(dims) == 1:
        return "scalar"
    if dims in ((n,), (1, n)):
        return "row"
    if dims == (m, 1):
        return "col"
    if dims == (m, n):
        return "none"
    return None


def _gemm_operands(op: Op) -> tuple[Value, Value] | str:
    a, b = op.operands[0], op.operands[1]
    if op.attrs["trans_a"] and const_value(a) is None:
        return "gemm trans_a of a run-time operand (the DMA cannot transpose)"
    return a, b


def _gemm_plan(op: Op, ctx: LoweringContext) -> _Plan | str:
    operands = _gemm_operands(op)
    if isinstance(operands, str):
        return operands
    a, b = operands
    m, n = op.result.type.shape
    bias = None
    if len(op.operands) == 3:
        c = op.operands[2]
        pattern = _bias_pattern(c.type.shape, m, n)
        if pattern is None:
            return f"gemm c of shape {list(c.type.shape)}"
        if c.type.dtype != DType.F32 or op.result.type.dtype != DType.F32:
            return "gemm with c runs on the MXU for f32 only"
        if const_value(c) is None and float(op.attrs["beta"]) != 1.0:
            return "gemm with a run-time c and beta != 1"
        bias = (DType.F32, pattern)
    # Transposed constants are packed transposed, so the product is a plain [M,K] @ [K,N].
    # A run-time trans_b operand is read as stored, [N, K], by the MXU's transposed weight load.
    trans_b = bool(op.attrs["trans_b"])
    return _plan(a, b, op.result, ctx, bias, (bool(op.attrs["trans_a"]), trans_b),
                 b_transposed=trans_b and const_value(b) is None)


def supports_gemm(op: Op, ctx: LoweringContext) -> str | None:
    plan = _gemm_plan(op, ctx)
    return plan if isinstance(plan, str) else None


@asic_lowering("gemm", supports=supports_gemm)
def lower_gemm(op: Op, ctx: LoweringContext) -> None:
    plan = _gemm_plan(op, ctx)
    if isinstance(plan, str):
        raise RuntimeError(f"lower_gemm called on an unsupported gemm: {plan}")
    a, b = op.operands[0], op.operands[1]
    kb = ctx.kernel(op, "gemm")
    a_buf = _operand_buffer(a, plan.formats.a, ctx, transpose=bool(op.attrs["trans_a"]))
    b_buf = _operand_buffer(b, plan.formats.b, ctx, transpose=bool(op.attrs["trans_b"]))
    bias = None
    if len(op.operands) == 3 and plan.formats.bias is not None:
        c, beta = op.operands[2], float(op.attrs["beta"])
        c_data = const_value(c)
        m, n = op.result.type.shape
        if c_data is not None:
            # beta folds into the packed constant: the same f32 product the reference forms.
            scaled = np.asarray(c_data, dtype=np.float32) * np.float32(beta) if beta != 1.0 else np.asarray(c_data)
            name = ctx.weight(f"{c.name}.scaled" if beta != 1.0 else c.name, scaled, DType.F32)
        elif beta == 1.0:
            name = ctx.hbm(c)
        else:
            raise RuntimeError("gemm with a run-time c and beta != 1 should have been declined")
        bias = _Bias(name, plan.formats.bias[1], DType.F32)
    _MatmulKernel(kb, plan, a_buf, b_buf, ctx.hbm(op.result), float(op.attrs["alpha"]), bias).emit()
    ctx.add_kernel(kb)


__all__ = [
    "BatchDim",
    "MatmulFormats",
    "MatmulProblem",
    "MatmulTiling",
    "OperandFormat",
    "FoldedTranspose",
    "choose_tiling",
    "folds_transpose",
    "hbm_traffic_bytes",
    "local_bytes",
    "lower_gemm",
    "lower_matmul",
    "matmul_problem",
    "supports_gemm",
    "supports_matmul",
    "transposed_source",
]
