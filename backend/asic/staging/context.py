"""What staging one kernel needs to know besides the kernel: dtypes, weights, the part's limits.

:class:`StageContext` is shared by the statement stagers (:mod:`.statements`,
:mod:`.expressions`, :mod:`.matmul`): the tiled dtype of every buffer (the IR's semantics),
the HBM storage dtype the target gives it, the weights (a stride-0 view of a constant is an
immediate), the MXU dtype of this kernel and the tile budget (rows per block:
:meth:`StageContext.row_cap`). It reads regions of buffers the kernel does not write before
the loops they do not move in (:meth:`StageContext.read`; not when the kernel is restaged
``conservative`` to fit the SRAM), and converts tiles between a buffer's storage dtype and
the dtype the VPU computes in (f32 for every float and bool, i32 for every integer).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from moecc.ir.kernel import Count, Vector
from moecc.ir.tiled.nodes import ElementRef, View
from moecc.ir.types import DType
from moecc.isa_spec.target import Target

from moecc.backend.asic.staging.axes import Axes
from moecc.backend.asic.staging.sparse_weights import SparsePlan
from moecc.backend.asic.staging.tiles import KernelStager, NotStageable, Region, Tile, kind_shape

#: Bytes of SRAM one tiled statement's temporaries may take per block (operands, expression
#: nodes, conversions); blocks of rows are cut to fit it. At most 1/STATEMENT_SRAM_SHARE of the
#: part's SRAM (1/(2 * share) when the kernel is restaged conservatively).
STATEMENT_BUDGET_BYTES = 2 * 1024 * 1024
STATEMENT_SRAM_SHARE = 4
#: Temporaries a statement is assumed to need per element of its block, for that cut.
TEMPS_PER_ELEMENT = 8
#: Elements of one block of an element-wise statement or reduction, at most (256 KiB of
#: f32: a DMA's transfer outweighs its setup) and, when the statement is cut to pipeline, at
#: least.
MAX_TILE_ELEMENTS = 65536
MIN_TILE_ELEMENTS = 16384


def compute_dtype(dtype: DType) -> DType:
    """The dtype the VPU computes values of tiled dtype ``dtype`` in."""
    if dtype.is_float or dtype == DType.BOOL:
        return DType.F32
    return DType.I32


@dataclass(slots=True)
class StageContext:
    stager: KernelStager
    target: Target
    dtypes: dict[str, DType]  # tiled dtype of every global and local buffer
    roles: dict[str, str]  # role of every global buffer ("local" for locals)
    weights: Mapping[str, np.ndarray]
    mxu_dtype: DType
    written: frozenset[str] = frozenset()  # buffers the kernel writes (loop-invariant reads may hoist otherwise)
    resident: dict = field(default_factory=dict)  # (region, MXU dtype) -> operand tile kept for the kernel
    conservative: bool = False  # no hoisting: the kernel did not fit the SRAM with it
    sparse: SparsePlan | None = None  # weights multiplied sparse (:mod:`.sparse_weights`)
    dense_reads: set[str] = field(default_factory=set)  # of those, the ones a block read dense

    @property
    def tile_dim(self) -> int:
        return self.target.limits.tile_dim

    def run_time_count(self, ref: ElementRef) -> Count | None:
        """A run-time row count (an integer element) as the int32 SRAM cell instructions read
        it from: an element of an i32 local as it is; one of a global read into a cell (inside
        a run-time loop, where it changes per iteration); else None."""
        stager = self.stager
        cell = stager.locals_.get(ref.buffer)
        if cell is not None:
            return Count(ref.buffer, ref.offset) if cell.space == "sram" and cell.dtype == DType.I32 else None
        if not stager.in_dynamic_loop:
            return None
        tile = stager.expand(self.to_compute(stager.read(Region(ref.buffer, ref.offset, 1, 1, 1, 1)),
                                             self.dtypes[ref.buffer], 1, 1), 1, 1)
        if tile.dtype == DType.I32 and tile.space == "sram":
            return Count(tile.ref.buffer, tile.ref.offset, tile.ref.slot)
        return None

    def row_cap(self, cols: int, temps: int = TEMPS_PER_ELEMENT, axes: Axes | None = None) -> int:
        """Rows per block so that ``temps`` f32 tiles of ``cols`` columns fit the budget, and a
        block holds at most :data:`MAX_TILE_ELEMENTS` elements (DMAs long enough to outweigh
        their setup). A statement that is one tile (``axes`` without outer loops, and no loop
        around it) is cut in two down to :data:`MIN_TILE_ELEMENTS`, so that one half's store
        overlaps the other's load, and the next kernel's load of the first half its compute."""
        target = MAX_TILE_ELEMENTS
        if axes is not None and self.stager.depth == 0 and all(a.size == 1 for a in axes.outer):
            half = -(-axes.rows.size // 2) * cols
            target = min(MAX_TILE_ELEMENTS, max(MIN_TILE_ELEMENTS, half))
        share = STATEMENT_SRAM_SHARE * (2 if self.conservative else 1)
        budget = min(STATEMENT_BUDGET_BYTES, self.target.sram_capacity_bytes // share)
        rows = min(budget // max(1, cols * 4 * temps), target // max(1, cols))
        return max(1, min(self.tile_dim, rows))

    def read(self, region: Region) -> Tile:
        """``stager.read(region)``, loaded before the loops it does not move in when the kernel
        does not write its buffer (a norm's weight row, a broadcast source read per group)."""
        if region.buffer in self.stager.locals_ or region.buffer in self.written or self.conservative:
            return self.stager.read(region)
        with self.stager.hoisted(region.offset):
            return self.stager.read(region)

    def local_views(self, views: Sequence[View]) -> tuple[bool, ...]:
        """Which of ``views`` are of kernel-local buffers (tiles in SRAM or the accumulator)."""
        return tuple(v.buffer in self.stager.locals_ for v in views)

    def constant(self, buffer: str, offset: int) -> float | int | bool | None:
        """The element of a weight buffer (a constant the lowering made or the graph held)."""
        if self.roles.get(buffer) != "weight" or buffer not in self.weights:
            return None
        flat = np.asarray(self.weights[buffer]).reshape(-1)
        return flat[offset].item() if 0 <= offset < flat.size else None

    # -- dtype conversions on the VPU -------------------------------------------------------
    def convert(self, tile: Tile, dtype: DType, rows: int, cols: int) -> Tile:
        """``tile`` converted to ``dtype`` (``vpu.cvt``; nothing when it already is)."""
        if tile.dtype == dtype:
            return tile
        r, c = kind_shape(tile.kind, rows, cols)
        out = self.stager.temp(dtype, r, c)
        self.stager.emit(Vector("cvt", out, a=tile.ref, dtype=tile.dtype, odt=dtype))
        return Tile(out, dtype, tile.kind)

    def to_compute(self, tile: Tile, logical: DType, rows: int, cols: int) -> Tile:
        """A tile read from a buffer of tiled dtype ``logical``, in its compute dtype."""
        return self.convert(tile, compute_dtype(logical), rows, cols)

    def to_storage(self, tile: Tile, buffer: str, rows: int, cols: int) -> Tile:
        """A compute-dtype tile converted into ``buffer``'s storage dtype."""
        storage = self.stager.dtype_of(buffer)
        logical = self.dtypes[buffer]
        if logical == DType.F16:
            raise NotStageable("f16 values round to half precision, which no VPU conversion does")
        if logical in (DType.I8, DType.U8):
            raise NotStageable(f"{logical} values wrap at 8 bits, which the VPU's i32 does not")
        return self.convert(tile, storage, rows, cols)


__all__ = ["STATEMENT_BUDGET_BYTES", "StageContext", "compute_dtype"]
