"""The kernel IR's reference interpreter: runs a :class:`~moecc.ir.kernel.KernelModule` on numpy.

It is the oracle between tiling and the ASIC backend: tiling is checked by comparing this
interpreter with the graph interpreter, and instruction selection by comparing the simulator
(:mod:`moecc.backend.asic.sim`) with this interpreter. So every statement computes exactly
what its moe-asic instruction computes in the simulator (same working precision, same
rounding, same tie-breaking), but over *named* buffers instead of byte addresses:

- HBM is a dict of flat numpy arrays, one per HBM buffer, in the buffer's dtype
  (f32 -> float32, bf16 -> ml_dtypes.bfloat16, i32 -> int32).
- Each kernel run gets fresh zero-filled local buffers, one ``(slots, rows*cols)`` array per
  SRAM/acc buffer. Byte offsets and aliasing between buffers are deliberately not modelled:
  that is memory planning's contract, checked by the simulator.
- Loops run in Python with their variables bound; each statement is whole-tile numpy. A
  loop with a run-time count (:class:`~moecc.ir.kernel.Count`) reads it from its SRAM
  buffer when it starts and runs ``clamp(count, 0, max_count)`` times, as the unrolled
  ``blt``-guarded code of instruction selection does.

Beyond :func:`~moecc.ir.kernel.verify_kernel_module` the interpreter checks what only makes
sense per statement: operand tile shapes against the op's broadcast mode, operand dtypes
against the statement's dtype (the hardware reinterprets bytes, so a mismatch is a bug in
the IR, reported as :class:`VerificationError`), and run-time data faults (gather indices
outside the table, ``nonzero`` overflowing its list) as :class:`SimulationError`.
``scatter_add`` sums in f32 (duplicate indices in order) and rounds to its dtype once, as
``dma.scatter_add`` does.

    hbm = run_kernel_module(module, {"x": x, "w": w}, cpu_step=run_on_host)
    y = hbm["y"].reshape(module.hbm_buffer("y").shape)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping, Sequence

import numpy as np

from moecc.errors import InputError, MoeccError, SimulationError, UnsupportedError, VerificationError
from moecc.ir.kernel import (
    VECTOR_OPS,
    Buffer,
    Count,
    CpuCall,
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
    verify_kernel_module,
    walk,
)
from moecc.ir.kernel_printer import format_loop_header, format_statement
from moecc.ir.types import DType
from moecc.ir.vector_semantics import BINARY_OPS, FLOAT_ONLY_OPS, SCALAR_OPS, UNARY_OPS, topk_order

#: A host step: runs ``call`` by reading and replacing arrays of the HBM dict in place.
CpuStep = Callable[[CpuCall, dict[str, np.ndarray]], None]

_BCAST_SHAPES: dict[str, Callable[[int, int], tuple[int, int]]] = {
    "none": lambda r, c: (r, c),
    "row": lambda r, c: (1, c),
    "col": lambda r, c: (r, 1),
    "scalar": lambda r, c: (1, 1),
}


_BINARY = BINARY_OPS
_UNARY = UNARY_OPS
_SCALAR = SCALAR_OPS
_FLOAT_ONLY = FLOAT_ONLY_OPS


def run_kernel_module(
    module: KernelModule,
    hbm: Mapping[str, np.ndarray],
    cpu_step: CpuStep | None = None,
) -> dict[str, np.ndarray]:
    """Run every step of ``module`` in order and return the final HBM contents.

    ``hbm`` gives the contents of (at least) every ``input`` and ``weight`` buffer, any shape
    with the buffer's element count; values are converted to the buffer's dtype and copied, so
    the caller's arrays are never written. Other buffers start zero-filled. ``cpu_step`` runs
    each :class:`CpuCall` by updating the HBM dict in place. The result maps every HBM buffer
    name to a flat array in the buffer's dtype (reshape with ``module.hbm_buffer(n).shape``).
    """
    verify_kernel_module(module)
    memory = _initial_hbm(module, hbm)
    for step in module.steps:
        if isinstance(step, Kernel):
            execute_kernel(step, memory)
            continue
        if cpu_step is None:
            raise UnsupportedError(
                f"cpu step @{step.name} ({', '.join(step.ops) or 'no ops'}) needs a host executor",
                remedy="pass cpu_step=... to run_kernel_module (for example one that runs the graph ops)",
            )
        cpu_step(step, memory)
        _normalise_cpu_outputs(module, step, memory)
    return memory


def execute_kernel(kernel: Kernel, hbm: MutableMapping[str, np.ndarray]) -> None:
    """Run one kernel over ``hbm`` (name -> flat array, updated in place) with fresh,
    zero-filled local buffers."""
    _KernelRun(kernel, hbm).run()


# -- HBM set-up -------------------------------------------------------------------------------

def _initial_hbm(module: KernelModule, given: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    buffers = {b.name: b for b in module.hbm}
    unknown = sorted(set(given) - set(buffers))
    if unknown:
        raise InputError(f"HBM data for unknown buffer(s) {', '.join(unknown)}",
                         remedy=f"the module's HBM buffers are {', '.join(buffers) or 'none'}")
    memory: dict[str, np.ndarray] = {}
    for buf in module.hbm:
        if buf.name not in given:
            if buf.role in ("input", "weight"):
                raise InputError(f"no data for {buf.role} buffer '{buf.name}' ({buf.dtype}{list(buf.shape)})",
                                 remedy="pass every input and weight in the hbm dict")
            memory[buf.name] = np.zeros(buf.elements, dtype=buf.dtype.numpy)
            continue
        value = np.asarray(given[buf.name])
        if value.size != buf.elements:
            raise InputError(f"HBM buffer '{buf.name}' is {buf.dtype}{list(buf.shape)} ({buf.elements} elements), "
                             f"data has shape {list(value.shape)}")
        memory[buf.name] = value.astype(buf.dtype.numpy).reshape(-1)  # astype copies
    return memory


def _normalise_cpu_outputs(module: KernelModule, call: CpuCall, memory: dict[str, np.ndarray]) -> None:
    for name in call.outputs:
        buf = module.hbm_buffer(name)
        value = memory.get(name)
        if value is None or np.asarray(value).size != buf.elements:
            got = "nothing" if value is None else f"shape {list(np.asarray(value).shape)}"
            raise MoeccError(f"cpu step @{call.name} left {got} in output '{name}' ({buf.dtype}{list(buf.shape)})",
                             remedy="the cpu_step callback must store every output of the call in the hbm dict")
        memory[name] = np.asarray(value).astype(buf.dtype.numpy, copy=False).reshape(-1)


# -- one kernel -------------------------------------------------------------------------------

class _KernelRun:
    """The state of one kernel execution: loop environment and fresh local buffers."""

    def __init__(self, kernel: Kernel, hbm: MutableMapping[str, np.ndarray]) -> None:
        self.kernel = kernel
        self.hbm = hbm
        self.buffers: dict[str, Buffer] = {b.name: b for b in kernel.buffers}
        self.local = {b.name: np.zeros((b.slots, b.elements), dtype=b.dtype.numpy) for b in kernel.buffers}
        self.env: dict[str, int] = {}
        # Statement numbers as verify_kernel_module counts them, so messages from both agree.
        self.index = {id(stmt): i for i, (stmt, _) in enumerate(walk(kernel.body))}
        self.stmt: Stmt | None = None

    def run(self) -> None:
        self.block(self.kernel.body)

    def block(self, body: Sequence[Stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, For):
                trips = self.trip_count(stmt)
                outer = self.env.get(stmt.var)
                for value in range(trips):
                    self.env[stmt.var] = value
                    self.block(stmt.body)
                if outer is None:
                    self.env.pop(stmt.var, None)
                else:
                    self.env[stmt.var] = outer
                continue
            self.stmt = stmt
            if isinstance(stmt, Load):
                self.load(stmt)
            elif isinstance(stmt, Store):
                self.store(stmt)
            elif isinstance(stmt, Gather):
                self.gather(stmt)
            elif isinstance(stmt, Scatter):
                self.scatter(stmt)
            elif isinstance(stmt, MatMul):
                self.matmul(stmt)
            elif isinstance(stmt, Vector):
                self.vector(stmt)
            else:
                raise self.invalid(f"not a kernel statement: {type(stmt).__name__}")

    def trip_count(self, stmt: For) -> int:
        """The loop's static count, or its run-time :class:`Count` clamped to ``[0, max_count]``."""
        if not isinstance(stmt.count, Count):
            return stmt.count
        self.stmt = stmt
        if stmt.max_count is None:
            raise self.invalid("a loop with a run-time count needs max_count")
        return self.row_limit(stmt.count, stmt.max_count)

    # -- errors

    def where(self) -> str:
        stmt = self.stmt
        loops = ", ".join(f"{var}={value}" for var, value in self.env.items())
        if isinstance(stmt, For):
            head = f"kernel {self.kernel.name}, loop `{format_loop_header(stmt)}`"
        else:
            index = self.index.get(id(stmt), "?")
            text = format_statement(stmt) if stmt is not None else ""
            head = f"kernel {self.kernel.name}, statement {index} `{text}`"
        return head + (f" at {loops}" if loops else "")

    def invalid(self, message: str) -> VerificationError:
        return VerificationError(message, location=self.where(), remedy="fix the kernel IR (tiling or lowering)")

    def fault(self, message: str) -> SimulationError:
        return SimulationError(message, location=self.where())

    # -- operands

    def tile(self, ref: LocalRef, dtype: DType | None = None) -> np.ndarray:
        """A writable (rows, cols) view of a local tile, optionally checking its dtype."""
        buf = self.buffers.get(ref.buffer)
        if buf is None:
            raise self.invalid(f"unknown local buffer '{ref.buffer}'")
        if dtype is not None and buf.dtype != dtype:
            raise self.invalid(f"operand {ref.buffer} is {buf.dtype}, the statement works in {dtype}")
        offset = ref.offset.eval(self.env)
        slot = ref.slot.eval(self.env)
        slot = slot % buf.slots if slot >= 0 else slot  # slots form a ring (see moecc.ir.kernel)
        count = ref.extent
        if ref.rows <= 0 or ref.cols <= 0 or not 0 <= slot < buf.slots or offset < 0 or offset + count > buf.elements:
            raise self.invalid(f"tile {ref.rows}x{ref.cols} at element {offset} of slot {slot} leaves buffer "
                               f"{buf.name} ({'x'.join(map(str, buf.shape))}, {buf.slots} slot(s))")
        flat = self.local[ref.buffer][slot, offset:offset + count]
        if ref.row_pitch == ref.cols:
            return flat.reshape(ref.rows, ref.cols)
        # A pitched tile (a DMA's side): a writable strided view of the local's elements.
        return np.lib.stride_tricks.as_strided(flat, (ref.rows, ref.cols), (ref.row_pitch * flat.itemsize, flat.itemsize))

    def hbm_array(self, ref: HbmRef, dtype: np.dtype) -> np.ndarray:
        flat = self.hbm.get(ref.buffer)
        if flat is None:
            raise self.invalid(f"unknown HBM buffer '{ref.buffer}'")
        if flat.dtype != dtype:
            raise self.invalid(f"DMA between HBM buffer {ref.buffer} ({flat.dtype}) and an SRAM tile of {dtype}: "
                               "DMA copies bytes and cannot convert")
        return flat

    def window(self, ref: HbmRef, size: int, row_starts: np.ndarray | None = None) -> np.ndarray:
        """Flat element indices of a window (``row_starts``: explicit row numbers, for gathers)."""
        rows = np.arange(ref.rows) if row_starts is None else row_starts
        index = ref.offset.eval(self.env) + rows[:, None] * ref.pitch + np.arange(ref.cols)[None, :]
        if index.size and (index.min() < 0 or index.max() >= size):
            raise self.invalid(f"HBM window {ref.rows}x{ref.cols} (pitch {ref.pitch}) at element "
                               f"{ref.offset.eval(self.env)} leaves buffer {ref.buffer} ({size} elements)")
        return index

    def expect_shape(self, ref: LocalRef, shape: tuple[int, int], what: str) -> None:
        if (ref.rows, ref.cols) != shape:
            raise self.invalid(f"{what} %{ref.buffer}[{ref.rows}x{ref.cols}] should be {shape[0]}x{shape[1]}")

    # -- DMA

    def load(self, stmt: Load) -> None:
        dst = self.tile(stmt.dst)
        flat = self.hbm_array(stmt.src, dst.dtype)
        self.expect_shape(stmt.dst, (stmt.src.rows, stmt.src.cols), "load destination")
        dst[...] = flat[self.window(stmt.src, flat.size)]

    def store(self, stmt: Store) -> None:
        src = self.tile(stmt.src)
        flat = self.hbm_array(stmt.dst, src.dtype)
        self.expect_shape(stmt.src, (stmt.dst.rows, stmt.dst.cols), "store source")
        flat[self.window(stmt.dst, flat.size)] = src

    def gather(self, stmt: Gather) -> None:
        dst = self.tile(stmt.dst)
        count = stmt.dst.rows
        indices = self.tile(stmt.indices, DType.I32).reshape(-1)
        if indices.size != count:
            raise self.invalid(f"gather of {count} rows has {indices.size} indices")
        if stmt.dst.cols != stmt.table.cols:
            raise self.invalid(f"gather rows of {stmt.table.cols} elements into a tile of {stmt.dst.cols} columns")
        flat = self.hbm_array(stmt.table, dst.dtype)
        rows = self.table_rows(stmt, indices, count, "gather")
        dst[:rows.size] = flat[self.window(stmt.table, flat.size, rows)]

    def row_limit(self, cell: Count | None, count: int) -> int:
        """The rows (or iterations) a run-time count applies: ``clamp(cell, 0, count)``; all
        ``count`` without one."""
        if cell is None:
            return count
        return min(max(int(self.tile(cell.ref, DType.I32)[0, 0]), 0), count)

    def table_rows(self, stmt: Gather | Scatter, indices: np.ndarray, count: int, what: str) -> np.ndarray:
        """The table rows a gather or scatter moves: its first ``rows`` indices (all without a
        run-time row count), each inside the table."""
        rows = indices.astype(np.int64)[:self.row_limit(stmt.rows, count)]
        bad = (rows < 0) | (rows >= stmt.table.rows)
        if bad.any():
            raise self.fault(f"{what} index {int(rows[bad][0])} is outside the table's {stmt.table.rows} rows")
        return rows

    def scatter(self, stmt: Scatter) -> None:
        src = self.tile(stmt.src, stmt.dtype if stmt.add else None)
        count = stmt.src.rows
        indices = self.tile(stmt.indices, DType.I32).reshape(-1)
        if indices.size != count:
            raise self.invalid(f"scatter of {count} rows has {indices.size} indices")
        if stmt.src.cols != stmt.table.cols:
            raise self.invalid(f"scatter of {stmt.src.cols}-column rows into table rows of {stmt.table.cols} elements")
        flat = self.hbm_array(stmt.table, src.dtype)
        rows = self.table_rows(stmt, indices, count, "scatter")
        count = rows.size
        src = src[:count]
        if not stmt.add:
            index = self.window(stmt.table, flat.size, rows)
            for i in range(count):  # in order: with a repeated index the last row wins
                flat[index[i]] = src[i]
            return
        # As dma.scatter_add: every distinct row read once, the rows added in order in f32,
        # the sum rounded to the dtype once.
        unique, inverse = np.unique(rows, return_inverse=True)
        index = self.window(stmt.table, flat.size, unique)
        current = flat[index].astype(np.float32)
        np.add.at(current, inverse.reshape(-1), src.astype(np.float32))
        flat[index] = current.astype(flat.dtype)

    # -- MXU

    def matmul(self, stmt: MatMul) -> None:
        a = self.tile(stmt.a, stmt.dtype).astype(np.float32)
        w = self.tile(stmt.w, stmt.dtype).astype(np.float32)
        if stmt.sparsity == "2:4":
            w = self.sparse24_weight(stmt, w)
        elif stmt.transpose_w:
            # Contiguous, to round exactly as the simulator's product does.
            w = np.ascontiguousarray(w.T)
        if stmt.sparsity == "blocks":
            assert stmt.mask is not None
            keep = self.tile(stmt.mask, DType.U8) != 0
            keep = np.repeat(np.repeat(keep, stmt.block, axis=0), stmt.block, axis=1)
            if keep.shape != w.shape:
                raise self.invalid(f"block mask {keep.shape} does not cover the {w.shape[0]}x{w.shape[1]} weight")
            w = np.where(keep, w, np.float32(0))  # skipped blocks may never have been loaded
        dst = self.tile(stmt.dst, DType.F32)
        if a.shape[1] != w.shape[0] or dst.shape != (a.shape[0], w.shape[1]):
            raise self.invalid(f"matmul {dst.shape[0]}x{dst.shape[1]} <- {a.shape[0]}x{a.shape[1]} @ "
                               f"{w.shape[0]}x{w.shape[1]}")
        product = a @ w
        rows = self.row_limit(stmt.rows, dst.shape[0])  # the rows past a run-time count keep their values
        if stmt.accumulate:
            dst[:rows] += product[:rows]
        else:
            dst[:rows] = product[:rows]

    def sparse24_weight(self, stmt: MatMul, values: np.ndarray) -> np.ndarray:
        """The dense weight of a 2:4 matmul from its kept values and positions."""
        from moecc.ir.sparse24 import SparseFormatError, expand_2_4

        assert stmt.mask is not None
        try:
            return expand_2_4(values, self.tile(stmt.mask, DType.U8))
        except SparseFormatError as err:
            raise self.invalid(err.message) from None

    # -- VPU

    def vector(self, stmt: Vector) -> None:
        kind = VECTOR_OPS.get(stmt.op)
        if kind is None:
            raise self.invalid(f"unknown vector op '{stmt.op}'")
        if stmt.bcast not in _BCAST_SHAPES:
            raise self.invalid(f"unknown broadcast '{stmt.bcast}'")
        is_int = stmt.dtype == DType.I32
        if is_int and stmt.op in _FLOAT_ONLY:
            raise self.invalid(f"vpu.{stmt.op} needs a float dtype, not i32")
        work = np.dtype(np.int64) if is_int else np.dtype(np.float32)
        with np.errstate(all="ignore"):
            {
                "binary": self.binary,
                "unary": self.unary,
                "convert": self.unary,
                "reduce": self.unary,
                "scalar": self.scalar,
                "fill": self.scalar,
                "topk": self.topk,
                "nonzero": self.nonzero,
            }[kind](stmt, work)

    def operand(self, stmt: Vector, name: str) -> LocalRef:
        ref = getattr(stmt, name)
        if ref is None:
            raise self.invalid(f"vpu.{stmt.op} needs operand {name}")
        return ref

    def binary(self, stmt: Vector, work: np.dtype) -> None:
        a_ref, b_ref = self.operand(stmt, "a"), self.operand(stmt, "b")
        shape = (stmt.dst.rows, stmt.dst.cols)
        self.expect_shape(a_ref, shape, "operand a")
        self.expect_shape(b_ref, _BCAST_SHAPES[stmt.bcast](*shape), f"operand b (bcast {stmt.bcast})")
        lhs = self.tile(a_ref, stmt.dtype).astype(work)
        rhs = self.tile(b_ref, stmt.dtype).astype(work)
        dst = self.tile(stmt.dst, stmt.dtype)
        if stmt.op == "sel":
            result = np.where(lhs != 0, rhs, dst.astype(work))  # dst is the 'false' input
        else:
            result = _BINARY[stmt.op](lhs, rhs)
        dst[...] = np.broadcast_to(result, shape).astype(dst.dtype)

    def unary(self, stmt: Vector, work: np.dtype) -> None:
        a_ref = self.operand(stmt, "a")
        reduce = VECTOR_OPS[stmt.op] == "reduce"
        # The instruction's rows x cols: the destination's, except a reduction's columns are a's.
        shape = (stmt.dst.rows, a_ref.cols if reduce else stmt.dst.cols)
        self.expect_shape(a_ref, _BCAST_SHAPES[stmt.bcast](*shape), f"operand a (bcast {stmt.bcast})")
        out_shape = (shape[0], 1) if reduce else shape
        self.expect_shape(stmt.dst, out_shape, "destination")
        out_dtype = stmt.dtype
        if stmt.op == "cvt":
            if stmt.odt is None:
                raise self.invalid("vpu.cvt needs odt")
            out_dtype = stmt.odt
        src = self.tile(a_ref, stmt.dtype).astype(work)
        dst = self.tile(stmt.dst, out_dtype)
        result = _UNARY[stmt.op](src)
        if dst.dtype == np.int32 and work.kind == "f":
            result = np.trunc(np.nan_to_num(result))  # float -> int truncates toward zero
        dst[...] = np.broadcast_to(result, out_shape).astype(dst.dtype)

    def scalar(self, stmt: Vector, work: np.dtype) -> None:
        shape = (stmt.dst.rows, stmt.dst.cols)
        imm = float(np.float32(stmt.imm))  # the instruction carries an f32 immediate
        if work.kind == "i":
            if not np.isfinite(imm):
                raise self.invalid(f"i32 vpu.{stmt.op} with immediate {stmt.imm!r}")
            value: object = int(imm)
        else:
            value = np.float32(imm)
        dst = self.tile(stmt.dst, stmt.dtype)
        if stmt.op == "fill":
            src = dst.astype(work)
        else:
            a_ref = self.operand(stmt, "a")
            self.expect_shape(a_ref, shape, "operand a")
            src = self.tile(a_ref, stmt.dtype).astype(work)
        dst[...] = _SCALAR[stmt.op](src, value).astype(dst.dtype)

    def topk(self, stmt: Vector, work: np.dtype) -> None:
        a_ref, b_ref = self.operand(stmt, "a"), self.operand(stmt, "b")
        rows, cols, k = a_ref.rows, a_ref.cols, stmt.k
        if not 1 <= k <= cols:
            raise self.invalid(f"top-k with k={k} over rows of {cols}")
        self.expect_shape(stmt.dst, (rows, k), "values")
        self.expect_shape(b_ref, (rows, k), "indices")
        src = self.tile(a_ref, stmt.dtype).astype(work)
        values = self.tile(stmt.dst, stmt.dtype)
        indices = self.tile(b_ref, DType.I32)
        order = topk_order(src, k, stmt.op == "topk")  # NaN above every number, ties: the lower index first
        values[...] = np.take_along_axis(src, order, axis=1).astype(values.dtype)
        indices[...] = order

    def nonzero(self, stmt: Vector, work: np.dtype) -> None:
        a_ref, b_ref = self.operand(stmt, "a"), self.operand(stmt, "b")
        self.expect_shape(b_ref, (1, 1), "count")
        src = self.tile(a_ref, stmt.dtype)
        found = np.flatnonzero(src.reshape(-1) != 0).astype(np.int32)
        listing = self.tile(stmt.dst, DType.I32).reshape(-1)
        if found.size > listing.size:
            raise self.fault(f"nonzero found {found.size} elements, its list {stmt.dst.buffer} holds {listing.size}")
        listing[:found.size] = found
        self.tile(b_ref, DType.I32)[0, 0] = found.size


__all__ = ["CpuStep", "execute_kernel", "run_kernel_module"]
