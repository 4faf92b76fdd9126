"""The tiled loop IR's reference interpreter: runs a :class:`~moecc.ir.tiled.nodes.TiledModule`
on numpy.

It is the oracle at this level: lowering from the graph IR is checked by comparing it with
the graph interpreter (:func:`moecc.ir.interpreter.run_graph`), and the back ends (ASIC
staging + simulator, CPU emission) by comparing them with it. It favours clarity over speed:
loops run in Python with their variables bound, each statement is whole-view numpy.

Memory model: every global buffer is a flat numpy array in its dtype (bf16 is
``ml_dtypes.bfloat16``); each kernel run gets fresh zero-filled local buffers (targets may
leave them uninitialised: programs must write a local before reading it). A view reads or
writes ``flat[offset + sum(i_d * stride_d)]``.

Numerics (what every back end must match up to float reassociation):

- Float expressions compute in f32 whatever their operands' float type (f16/bf16 are
  widened) and round once, to the destination dtype, on store (round to nearest even);
  ``cast<T>`` inside an expression rounds to ``T`` there. Integer expressions compute in their
  own dtype and wrap (two's complement); integer ``div`` truncates toward zero (division by
  zero gives 0 here and is undefined on targets). ``max``/``min`` propagate NaN.
- ``reduce.sum`` accumulates floats in f32 and integers in i64, rounding/wrapping into the
  destination; the summation order is unspecified.
- ``matmul`` widens operands to the accumulation dtype (f32, or i32/i64 wrapping), adds the
  destination when accumulating, and rounds into the destination.
- ``scatter`` applies rows in order (a repeated index: the last row wins); ``scatter +=``
  adds row by row, rounding to the table dtype after each row.
- ``topk``: sorted, ties to the lower index, NaN above every number (as the graph op).
- Casts follow ONNX Cast (:func:`moecc.ir.ops.elementwise.cast_array`).

Run-time data faults raise :class:`~moecc.errors.InputError` (the data the module was given,
or computed from it, is out of range) naming the statement, the value and the valid range:
a gather/scatter index outside ``[-rows, rows)`` (negative indices count from the end, as
ONNX Gather) and a run-time loop count outside ``[0, max]``. Host calls run their inline
graph with :func:`moecc.ir.interpreter.run_graph`.

    outputs = run_tiled_module(module, {"x": x, "w": w})   # output name -> array, shaped
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence

import numpy as np

from moecc.errors import InputError, MoeccError, VerificationError
from moecc.ir.interpreter import run_graph
from moecc.ir.ops.elementwise import cast_array, erf, int_divide, int_power, sigmoid
from moecc.ir.printer import format_graph_name, format_value_name
from moecc.ir.tiled.nodes import (
    STMT_KINDS,
    Binary,
    Buffer,
    Cast,
    Compute,
    Const,
    Copy,
    ElementRef,
    Expr,
    For,
    Gather,
    HostCall,
    Kernel,
    MatMul,
    Operand,
    Reduce,
    Scatter,
    Select,
    Stmt,
    TiledModule,
    TopK,
    Unary,
    View,
)
from moecc.ir.tiled.printer import format_statement
from moecc.ir.tiled.verifier import verify_tiled_module
from moecc.ir.types import DType

_F32 = np.dtype(np.float32)


def run_tiled_module(module: TiledModule, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run ``module`` on ``inputs`` (every ``input`` and ``weight`` buffer by name) and return
    its outputs by name, shaped and typed as their buffers."""
    memory = run_tiled_memory(module, inputs)
    return {name: memory[name].reshape(module.buffer(name).shape) for name in module.outputs}


def run_tiled_memory(module: TiledModule, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Verify and run ``module``; return every global buffer as a flat array in its dtype.

    Given arrays may have any shape with the buffer's element count; they are converted to
    the buffer's dtype and copied (the caller's arrays are never written). Buffers not given
    start zero-filled."""
    verify_tiled_module(module)
    memory = initial_memory(module, inputs)
    for step in module.steps:
        execute_step(step, module.buffers, memory)
    return memory


def initial_memory(module: TiledModule, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The global buffers before the first step: given data, zeros elsewhere."""
    buffers = {b.name: b for b in module.buffers}
    unknown = sorted(set(inputs) - set(buffers))
    if unknown:
        raise InputError(f"data for unknown buffer(s) {', '.join(unknown)}",
                         remedy=f"the module's global buffers are {', '.join(buffers) or 'none'}")
    memory: dict[str, np.ndarray] = {}
    for buf in module.buffers:
        if buf.name not in inputs:
            if buf.role in ("input", "weight"):
                raise InputError(f"no data for {buf.role} buffer '{buf.name}' ({buf.dtype}{list(buf.shape)})",
                                 remedy="pass every input and weight buffer by name")
            memory[buf.name] = np.zeros(buf.elements, dtype=buf.dtype.numpy)
            continue
        value = np.asarray(inputs[buf.name])
        if value.size != buf.elements:
            raise InputError(f"buffer '{buf.name}' is {buf.dtype}{list(buf.shape)} ({buf.elements} elements), "
                             f"the data has shape {list(value.shape)}")
        memory[buf.name] = value.astype(buf.dtype.numpy).reshape(-1)  # astype copies
    return memory


def execute_step(step: Kernel | HostCall, buffers: Sequence[Buffer], memory: MutableMapping[str, np.ndarray]) -> None:
    """Run one step over ``memory`` (global name -> flat array, updated in place);
    ``buffers`` are the module's global buffers."""
    if isinstance(step, Kernel):
        _KernelRun(step, memory).run()
    else:
        _host_call(step, {b.name: b for b in buffers}, memory)


# -- host calls ------------------------------------------------------------------------------

def _host_call(call: HostCall, buffers: Mapping[str, Buffer], memory: MutableMapping[str, np.ndarray]) -> None:
    graph = call.graph
    args = {value.name: memory[name].reshape(buffers[name].shape) for name, value in zip(call.inputs, graph.inputs)}
    try:
        results = run_graph(graph, args)
    except MoeccError as err:
        raise err.add_context(location=f"host call {format_graph_name(call.name)}") from None
    for name, out_name in zip(call.outputs, graph.output_names):
        buf = buffers[name]
        memory[name] = np.array(results[out_name], dtype=buf.dtype.numpy).reshape(-1)


# -- kernels ---------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1024)
def _relative_indices(shape: tuple[int, ...], strides: tuple[int, ...]) -> np.ndarray:
    """Flat element offsets of a view relative to its offset, shaped like the view."""
    index = np.zeros(shape, dtype=np.int64)
    for axis, (n, stride) in enumerate(zip(shape, strides)):
        dims = [1] * len(shape)
        dims[axis] = n
        index = index + (np.arange(n, dtype=np.int64) * stride).reshape(dims)
    index.setflags(write=False)
    return index


def _widen(values: np.ndarray) -> np.ndarray:
    """Values in the dtype expressions compute in: f32 for every float type."""
    return values.astype(_F32) if values.dtype.kind == "f" or values.dtype.name == "bfloat16" else values


def _store_as(values: np.ndarray, dtype: DType) -> np.ndarray:
    """Computed values rounded (floats, nearest even) or wrapped (integers) into ``dtype``."""
    return values.astype(dtype.numpy)


_UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "neg": np.negative,
    "abs": np.abs,
    "sign": np.sign,
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "rsqrt": lambda x: np.float32(1) / np.sqrt(x),
    "rcp": lambda x: np.float32(1) / x,
    "tanh": np.tanh,
    "erf": erf,
    "sigmoid": sigmoid,
    "sin": np.sin,
    "cos": np.cos,
    "floor": np.floor,
    "ceil": np.ceil,
    "not": lambda x: np.logical_not(x) if x.dtype == np.bool_ else np.invert(x),
}


def _divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind == "f":
        return a / b
    safe = np.where(b == 0, 1, b).astype(b.dtype)
    return np.where(b == 0, 0, int_divide(a, safe)).astype(a.dtype)


def _power(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.power(a, b) if a.dtype.kind == "f" else int_power(np.asarray(a), np.asarray(b))


_BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": _divide,
    "max": np.maximum,
    "min": np.minimum,
    "pow": _power,
    "gt": np.greater,
    "ge": np.greater_equal,
    "eq": np.equal,
    "lt": np.less,
    "le": np.less_equal,
    "ne": np.not_equal,
    "and": np.bitwise_and,
    "or": np.bitwise_or,
    "xor": np.bitwise_xor,
}

_COMBINE: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "sum": np.add,
    "max": np.maximum,
    "min": np.minimum,
}


#: (statement number, statement, numbered body of a loop) for one statement of a kernel.
_Numbered = tuple[int, Stmt, list["_Numbered"]]


def _numbered(body: Sequence[Stmt], counter: Iterator[int]) -> list[_Numbered]:
    out: list[_Numbered] = []
    for stmt in body:
        index = next(counter)
        out.append((index, stmt, _numbered(stmt.body, counter) if isinstance(stmt, For) else []))
    return out


class _KernelRun:
    """One execution of a kernel: loop environment, fresh local buffers, statement numbering."""

    def __init__(self, kernel: Kernel, memory: MutableMapping[str, np.ndarray]) -> None:
        self.kernel = kernel
        self.arrays: dict[str, np.ndarray] = dict(memory)  # the same arrays: writes land in memory
        self.arrays.update({b.name: np.zeros(b.elements, dtype=b.dtype.numpy) for b in kernel.buffers})
        self.env: dict[str, int] = {}
        # Statement numbers as the verifier counts them (pre-order, loops included), attached
        # by position so that a statement object shared by two places keeps both numbers.
        self.tree = _numbered(kernel.body, itertools.count())
        self.stmt: Stmt | None = None
        self.stmt_index = -1

    def run(self) -> None:
        with np.errstate(all="ignore"):
            self.block(self.tree)

    def block(self, body: Sequence[_Numbered]) -> None:
        for index, stmt, inner in body:
            self.stmt, self.stmt_index = stmt, index
            if isinstance(stmt, For):
                self.loop(stmt, index, inner)
            elif isinstance(stmt, Copy):
                self.write(stmt.dst, self.read(stmt.src))
            elif isinstance(stmt, Compute):
                self.compute(stmt)
            elif isinstance(stmt, Reduce):
                self.reduce(stmt)
            elif isinstance(stmt, MatMul):
                self.matmul(stmt)
            elif isinstance(stmt, Gather):
                self.gather(stmt)
            elif isinstance(stmt, Scatter):
                self.scatter(stmt)
            elif isinstance(stmt, TopK):
                self.topk(stmt)
            else:
                raise self.invalid(f"not a tiled-IR statement: {type(stmt).__name__}")

    # -- errors

    def where(self) -> str:
        stmt = self.stmt
        index = self.stmt_index
        kind = STMT_KINDS.get(type(stmt), "?")
        loops = ", ".join(f"{format_value_name(var)}={value}" for var, value in self.env.items())
        text = format_statement(stmt) if stmt is not None else ""
        return (f"kernel {format_graph_name(self.kernel.name)}, statement {index} ({kind}) `{text}`"
                + (f" at {loops}" if loops else ""))

    def invalid(self, message: str) -> VerificationError:
        return VerificationError(message, location=self.where(), remedy="run verify_tiled_module on the module")

    def fault(self, message: str, remedy: str) -> InputError:
        return InputError(message, location=self.where(), remedy=remedy)

    # -- memory

    def indices(self, view: View) -> tuple[np.ndarray, np.ndarray]:
        """(flat array, element indices shaped like the view)."""
        flat = self.arrays[view.buffer]
        base = view.offset.eval(self.env)
        lo, hi = view.span()
        if base + lo < 0 or base + hi >= flat.size:  # the verifier rules this out; stay memory-safe
            raise self.invalid(f"view of %{view.buffer} reaches [{base + lo}, {base + hi}] of {flat.size} elements")
        return flat, base + _relative_indices(view.shape, view.strides)

    def read(self, view: View) -> np.ndarray:
        flat, index = self.indices(view)
        return flat[index]

    def write(self, view: View, values: np.ndarray) -> None:
        flat, index = self.indices(view)
        flat[index] = np.broadcast_to(values, view.shape).astype(flat.dtype, copy=False)

    def dtype_of(self, view: View) -> DType:
        return DType.from_numpy(self.arrays[view.buffer].dtype)

    # -- statements

    def loop(self, stmt: For, index: int, body: Sequence[_Numbered]) -> None:
        count = stmt.count
        if isinstance(count, ElementRef):
            count = self.loop_count(count, stmt.max_count)
        outer = self.env.get(stmt.var)
        for value in range(count):
            self.env[stmt.var] = value
            self.block(body)
            self.stmt, self.stmt_index = stmt, index
        if outer is None:
            self.env.pop(stmt.var, None)
        else:
            self.env[stmt.var] = outer

    def loop_count(self, ref: ElementRef, max_count: int | None) -> int:
        value = self.element(ref)
        offset = ref.offset.eval(self.env)
        bound = 0 if max_count is None else max_count
        if not 0 <= value <= bound:
            raise self.fault(f"run-time loop count {value} (element {offset} of %{ref.buffer}) is out of range "
                             f"[0, {bound}]", remedy="the declared max bounds every count the loop may read")
        return value

    def compute(self, stmt: Compute) -> None:
        dtype = self.dtype_of(stmt.dst)
        result = self.expr(stmt.expr)
        self.write(stmt.dst, _store_as(np.asarray(result), dtype))

    def expr(self, expr: Expr) -> np.ndarray:
        if isinstance(expr, Operand):
            return _widen(self.read(expr.view))
        if isinstance(expr, Const):
            # Through the constant's own dtype first: a bf16 constant is the bf16 value.
            return _widen(np.asarray(expr.value, dtype=expr.dtype.numpy))
        if isinstance(expr, Unary):
            return np.asarray(_UNARY[expr.op](self.expr(expr.x)))
        if isinstance(expr, Binary):
            a, b = self.expr(expr.a), self.expr(expr.b)
            result = np.asarray(_BINARY[expr.op](a, b))
            if result.dtype != a.dtype and result.dtype != np.bool_:  # numpy scalar promotion
                result = result.astype(a.dtype)
            return result
        if isinstance(expr, Select):
            cond, a, b = self.expr(expr.cond), self.expr(expr.a), self.expr(expr.b)
            return np.where(cond, a, b).astype(a.dtype, copy=False)
        if isinstance(expr, Cast):
            return _widen(cast_array(np.asarray(self.expr(expr.x)), expr.dtype))
        raise self.invalid(f"not a tiled-IR expression: {type(expr).__name__}")

    def reduce(self, stmt: Reduce) -> None:
        src = _widen(self.read(stmt.src))
        if src.dtype.kind in "iu":
            src = src.astype(np.int64)
        if stmt.op == "sum":
            result = np.sum(src, axis=-1, keepdims=True, dtype=src.dtype)
        elif stmt.op == "max":
            result = np.max(src, axis=-1, keepdims=True)
        else:
            result = np.min(src, axis=-1, keepdims=True)
        if stmt.accumulate:
            old = _widen(self.read(stmt.dst))
            result = _COMBINE[stmt.op](old.astype(result.dtype), result)
        self.write(stmt.dst, _store_as(result, self.dtype_of(stmt.dst)))

    def matmul(self, stmt: MatMul) -> None:
        work = np.dtype(np.float32) if stmt.acc_dtype.is_float else np.dtype(np.int64)
        a = self.read(stmt.a).astype(work)
        b = self.read(stmt.b).astype(work)
        if stmt.transpose_a:
            a = np.swapaxes(a, -1, -2)
        if stmt.transpose_b:
            b = np.swapaxes(b, -1, -2)
        if stmt.blocks is not None:  # the unmarked blocks are zero, whatever b holds there
            size = stmt.block
            kept = np.repeat(np.repeat(self.read(stmt.blocks) != 0, size, axis=0), size, axis=1)
            b = np.where(kept, b, work.type(0))
        product = np.matmul(a, b)
        if stmt.accumulate:
            product = product + self.read(stmt.dst).astype(work)
        # Integer products wrap in the accumulation dtype first, as an i32 accumulator would.
        result = _store_as(product.astype(stmt.acc_dtype.numpy), self.dtype_of(stmt.dst))
        if stmt.rows is not None:  # only the first rows are computed; the others stay as they were
            rows = min(max(self.element(stmt.rows), 0), result.shape[-2])
            kept = np.array(self.read(stmt.dst), copy=True)
            kept[..., :rows, :] = result[..., :rows, :]
            result = kept
        self.write(stmt.dst, result)

    def element(self, ref: ElementRef) -> int:
        """The integer element ``ref`` names, at the current loop variables."""
        flat = self.arrays[ref.buffer]
        offset = ref.offset.eval(self.env)
        if not 0 <= offset < flat.size:
            raise self.invalid(f"element {offset} is outside %{ref.buffer} ({flat.size} elements)")
        return int(flat[offset])

    def row_indices(self, table: View, index: View, in_bounds: bool = False, limit: int | None = None) -> np.ndarray:
        """Flat element indices of the table rows ``index`` selects: shape (n, cols), the first
        ``limit`` only when given. ``in_bounds``: the statement promised indices in ``[0, rows)``;
        a negative one is an error then, as on a target that skips the wrapping."""
        rows = table.shape[0]
        idx = self.read(index).astype(np.int64)[:limit]
        bad = np.flatnonzero(((idx < 0) if in_bounds else (idx < -rows)) | (idx >= rows))
        if bad.size:
            i = int(bad[0])
            from moecc.ir.ops.indexing import IndexRangeError

            low = 0 if in_bounds else -rows
            raise IndexRangeError(f"row index {int(idx[i])} (element {i} of the index view) is out of range "
                                  f"[{low}, {rows}) of table %{table.buffer}", index=int(idx[i]), size=rows,
                                  location=self.where(),
                                  remedy="indices count rows of the table view; negative ones count from the end")
        idx = np.where(idx < 0, idx + rows, idx)
        _, table_index = self.indices(table)
        return table_index[idx]

    def limit(self, stmt: Gather | Scatter) -> int | None:
        """The rows a gather or scatter applies: ``clamp(limit, 0, n)``, or all (None)."""
        if stmt.limit is None:
            return None
        return min(max(self.element(stmt.limit), 0), stmt.index.shape[0])

    def gather(self, stmt: Gather) -> None:
        limit = self.limit(stmt)
        positions = self.row_indices(stmt.table, stmt.index, stmt.in_bounds, limit)
        rows = self.arrays[stmt.table.buffer][positions]
        if limit is not None:  # the rows past the limit keep their values
            kept = np.array(self.read(stmt.dst), copy=True)
            kept[:limit] = rows
            rows = kept
        self.write(stmt.dst, rows)

    def scatter(self, stmt: Scatter) -> None:
        limit = self.limit(stmt)
        positions = self.row_indices(stmt.table, stmt.index, stmt.in_bounds, limit)
        flat = self.arrays[stmt.table.buffer]
        src = self.read(stmt.src)[:limit]
        if not stmt.accumulate:
            # The last row written to an index wins: keep each index's last occurrence only.
            _, last_reversed = np.unique(positions[::-1, 0], return_index=True)
            keep = positions.shape[0] - 1 - last_reversed
            flat[positions[keep]] = src[keep]
        elif flat.dtype in (np.float16,) or flat.dtype.name == "bfloat16":
            for row in range(positions.shape[0]):  # round to the table dtype after every row
                pos = positions[row]
                flat[pos] = (flat[pos].astype(_F32) + src[row].astype(_F32)).astype(flat.dtype)
        else:
            np.add.at(flat, positions, src)  # in index order; f32 rounds per add, integers wrap

    def topk(self, stmt: TopK) -> None:
        src = self.read(stmt.src)
        keys = _widen(src)
        n, k = src.shape[-1], stmt.k
        if stmt.largest:
            # A stable ascending sort of the reversed rows, read backwards, is a descending
            # sort in which equal values keep ascending indices (and NaN, sorted last by
            # numpy, comes first).
            order = n - 1 - np.flip(np.argsort(np.flip(keys, -1), axis=-1, kind="stable"), -1)
        else:
            order = np.argsort(keys, axis=-1, kind="stable")
        order = order[..., :k]
        self.write(stmt.values, np.take_along_axis(src, order, axis=-1))
        self.write(stmt.indices, order.astype(self.arrays[stmt.indices.buffer].dtype))


__all__ = ["execute_step", "initial_memory", "run_tiled_memory", "run_tiled_module"]
