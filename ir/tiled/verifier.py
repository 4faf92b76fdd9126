"""Invariants of the tiled loop IR, checked statically (no data needed).

Run after lowering from the graph IR and after every tiled-IR rewrite, and by the
interpreter before it runs a module; the ASIC staging pass and CPU emission may then assume
them. :func:`verify_tiled_module` checks:

- buffers: unique names (globals and every kernel's locals share one namespace, loop
  variables included), valid space/role, non-negative dims; module inputs are exactly the
  ``input`` buffers, outputs exist; step names are unique;
- views: the buffer exists, rank >= 1, one stride per dim, dims >= 1, offset variables are
  loop variables in scope, and the view stays inside its buffer for every iteration (static
  loops by their count, dynamic loops by their declared maximum); written views are
  injective (no element written twice) and never ``input``/``weight`` buffers;
- loops: static counts >= 0 without ``max``; a dynamic count is an in-bounds element of an
  integer buffer, with a ``max``; a ``parallel`` loop does not nest in another, its body
  writes no global buffer but its ``accumulate`` ones (global numbers), which it only adds to
  (``scatter +=``, ``matmul +=``, ``reduce.sum +=``) and never reads otherwise, and every
  local it touches is written before it is read in the body and used nowhere else; its
  ``cost`` is an in-bounds integer element of a global buffer;
- per statement: shapes and dtypes (copy: equal; compute: expression types, broadcasting;
  reduce, matmul contraction rules, gather/scatter rows, top-k), and aliasing a target
  cannot honour (a destination partly overlapping one of its operands);
- host calls: bound buffers exist and match the inline graph's types; the graph verifies.

The first violation raises :class:`VerificationError` located at the kernel, the statement
index (pre-order, loops included, as :func:`moecc.ir.tiled.nodes.walk` numbers them) and
its kind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from moecc.errors import MoeccError, VerificationError
from moecc.ir.affine import Affine
from moecc.ir.printer import format_graph_name, format_value_name
from moecc.ir.tiled.nodes import (
    BINARY_OPS,
    MATMUL_ACC_DTYPES,
    REDUCE_OPS,
    ROLES,
    STMT_KINDS,
    TOPK_INDEX_DTYPES,
    UNARY_OPS,
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
    expr_views,
    stmt_elements,
    stmt_views,
    walk,
)
from moecc.ir.tiled.printer import format_view
from moecc.ir.types import DType, TensorType
from moecc.ir.verifier import verify_graph

_REMEDY = "fix the tiled IR (lowering or the pass that rewrote it)"


def verify_tiled_module(module: TiledModule) -> None:
    """Raise :class:`VerificationError` on the first violated invariant of ``module``."""
    globals_ = _check_buffers(module.buffers, "global", "tiled module")
    for name in module.inputs:
        buf = globals_.get(name)
        if buf is None or buf.role != "input":
            raise _error(f"module input {format_value_name(name)} is not an input buffer", "tiled module")
    for buf in module.buffers:
        if buf.role == "input" and buf.name not in module.inputs:
            raise _error(f"input buffer {format_value_name(buf.name)} is not listed as a module input", "tiled module")
    for names, what in ((module.inputs, "inputs"), (module.outputs, "outputs")):
        if len(set(names)) != len(names):
            raise _error(f"module {what} name a buffer twice", "tiled module")
    for name in module.outputs:
        if name not in globals_:
            raise _error(f"module output {format_value_name(name)} is not a global buffer", "tiled module")
    seen: set[str] = set()
    for step in module.steps:
        if step.name in seen:
            raise _error(f"two steps are named {format_graph_name(step.name)}", "tiled module")
        seen.add(step.name)
        if isinstance(step, Kernel):
            _KernelChecker(step, globals_).run()
        elif isinstance(step, HostCall):
            _check_host_call(step, globals_)
        else:
            raise _error(f"not a step: {type(step).__name__}", "tiled module")


def expr_dtype(expr: Expr, dtypes: Mapping[str, DType]) -> DType:
    """The dtype of ``expr`` given the dtypes of the buffers its views read (no checks beyond
    what is needed to type it; :func:`verify_tiled_module` checks the rest)."""
    if isinstance(expr, Operand):
        return dtypes[expr.view.buffer]
    if isinstance(expr, Const):
        return expr.dtype
    if isinstance(expr, Unary):
        return expr_dtype(expr.x, dtypes)
    if isinstance(expr, Binary):
        return DType.BOOL if BINARY_OPS.get(expr.op) == "compare" else expr_dtype(expr.a, dtypes)
    if isinstance(expr, Select):
        return expr_dtype(expr.a, dtypes)
    if isinstance(expr, Cast):
        return expr.dtype
    raise TypeError(f"not a tiled-IR expression: {expr!r}")


# -- buffers and host calls ------------------------------------------------------------------

def _error(message: str, location: str) -> VerificationError:
    return VerificationError(message, location=location, remedy=_REMEDY)


def _check_buffers(buffers: Sequence[Buffer], space: str, where: str,
                   taken: Mapping[str, Buffer] | None = None) -> dict[str, Buffer]:
    table: dict[str, Buffer] = {}
    for buf in buffers:
        name = format_value_name(buf.name)
        if buf.name in table or (taken is not None and buf.name in taken):
            raise _error(f"buffer {name} is declared twice", where)
        if buf.space != space:
            raise _error(f"buffer {name} is in space '{buf.space}', expected '{space}' here", where)
        if not isinstance(buf.dtype, DType):
            raise _error(f"buffer {name} has element type {buf.dtype!r}", where)
        if buf.role not in ROLES or (space == "local" and buf.role != "temp"):
            raise _error(f"buffer {name} has role '{buf.role}'", where)
        if any((not isinstance(d, int)) or d < 0 for d in buf.shape):
            raise _error(f"buffer {name} has shape {list(buf.shape)}", where)
        table[buf.name] = buf
    return table


def _check_host_call(call: HostCall, globals_: Mapping[str, Buffer]) -> None:
    where = f"host call {format_graph_name(call.name)}"
    graph = call.graph
    for names, values, what in ((call.inputs, graph.inputs, "inputs"), (call.outputs, graph.outputs, "outputs")):
        if len(names) != len(values):
            raise _error(f"binds {len(names)} buffer(s) to the graph's {len(values)} {what}", where)
        for name, value in zip(names, values):
            buf = globals_.get(name)
            if buf is None:
                raise _error(f"{what[:-1]} {format_value_name(name)} is not a global buffer", where)
            if TensorType(buf.shape, buf.dtype) != value.type:
                raise _error(f"buffer {format_value_name(name)} ({buf.dtype}{list(buf.shape)}) is bound to graph "
                             f"value %{value.name} of type {value.type}", where)
            if what == "outputs" and buf.role in ("input", "weight"):
                raise _error(f"writes {buf.role} buffer {format_value_name(name)}", where)
    if len(set(call.outputs)) != len(call.outputs):
        raise _error("binds one buffer to two graph outputs", where)
    try:
        verify_graph(graph)
    except MoeccError as err:
        raise _error(f"its graph does not verify: {err.message}", where) from None


# -- kernels ---------------------------------------------------------------------------------

def _adds_into(stmt: Stmt, view: View) -> bool:
    """Whether ``stmt`` touches ``view`` only to add to it (a parallel loop's accumulation)."""
    if isinstance(stmt, Scatter):
        return stmt.accumulate and view is stmt.table and stmt.src.buffer != view.buffer and \
            stmt.index.buffer != view.buffer
    if isinstance(stmt, MatMul):
        return stmt.accumulate and view is stmt.dst and view.buffer not in (stmt.a.buffer, stmt.b.buffer)
    if isinstance(stmt, Reduce):
        return stmt.op == "sum" and stmt.accumulate and view is stmt.dst and stmt.src.buffer != view.buffer
    return False


def _touched_outside(body: Sequence[Stmt], loop: For) -> set[str]:
    """Buffers the statements of ``body`` other than ``loop`` (and its body) access."""
    names: set[str] = set()
    for stmt in body:
        if stmt is loop:
            continue
        names.update(ref.buffer for ref in stmt_elements(stmt))
        if isinstance(stmt, For):
            names |= _touched_outside(stmt.body, loop)
        else:
            names.update(view.buffer for _, view in stmt_views(stmt))
    return names


class _KernelChecker:
    """Walks one kernel's body with the loop scope, checking each statement."""

    def __init__(self, kernel: Kernel, globals_: Mapping[str, Buffer]) -> None:
        self.kernel = kernel
        self.label = f"kernel {format_graph_name(kernel.name)}"
        local = _check_buffers(kernel.buffers, "local", self.label, globals_)
        self.buffers: dict[str, Buffer] = {**globals_, **local}
        self.index = 0
        self.where = self.label
        self.in_parallel = False

    def run(self) -> None:
        self.block(self.kernel.body, {}, True)

    def fail(self, message: str) -> VerificationError:
        return _error(message, self.where)

    def block(self, body: Sequence[Stmt], ranges: dict[str, int], runs: bool) -> None:
        """``ranges``: trip bound of every loop variable in scope; ``runs``: whether the
        statements can execute at all (no enclosing loop has a zero bound)."""
        for stmt in body:
            kind = STMT_KINDS.get(type(stmt))
            if kind is None:
                raise _error(f"not a tiled-IR statement: {type(stmt).__name__}", self.label)
            self.where = f"{self.label}, statement {self.index} ({kind})"
            self.index += 1
            if isinstance(stmt, For):
                self.loop(stmt, ranges, runs)
                continue
            for access, view in stmt_views(stmt):
                self.view(view, ranges, runs, write=access != "read")
            if isinstance(stmt, MatMul) and stmt.rows is not None:
                self.element(stmt.rows, ranges, runs, "matmul row count")
                if not stmt.acc_dtype.is_float:
                    raise self.fail("a matmul with a run-time row count must be a float contraction")
            if isinstance(stmt, (Gather, Scatter)) and stmt.limit is not None:
                self.element(stmt.limit, ranges, runs, f"{type(stmt).__name__.lower()} limit")
            self.statement(stmt)

    def element(self, ref: ElementRef, ranges: dict[str, int], runs: bool, what: str) -> None:
        """An integer element read at run time (a loop count, a matmul's rows) is in its buffer."""
        buf = self.buffer(ref.buffer)
        if not buf.dtype.is_int:
            raise self.fail(f"{what} is read from {buf.dtype} buffer {format_value_name(buf.name)}; "
                            "it must be an integer buffer")
        self.in_scope(ref.offset.variables, ranges)
        lo, hi = ref.offset.bounds(ranges)
        if runs and (lo < 0 or hi >= buf.elements):
            raise self.fail(f"{what} element [{lo}, {hi}] is outside buffer {format_value_name(buf.name)} "
                            f"({buf.elements} elements)")

    def loop(self, stmt: For, ranges: dict[str, int], runs: bool) -> None:
        if stmt.var in ranges:
            raise self.fail(f"loop variable {format_value_name(stmt.var)} shadows an enclosing loop's")
        if stmt.var in self.buffers:
            raise self.fail(f"loop variable {format_value_name(stmt.var)} has a buffer's name")
        if isinstance(stmt.count, ElementRef):
            self.element(stmt.count, ranges, runs, "run-time loop count")
            if stmt.max_count is None or stmt.max_count < 0:
                raise self.fail("a loop with a run-time count needs 'max N' (N >= 0), its bound for verification")
        else:
            if not isinstance(stmt.count, int) or stmt.count < 0:
                raise self.fail(f"loop count {stmt.count!r} must be a non-negative integer")
            if stmt.max_count is not None:
                raise self.fail("a loop with a static count takes no 'max'")
        inner = dict(ranges)
        inner[stmt.var] = stmt.trip_bound
        if stmt.parallel is None:
            self.block(stmt.body, inner, runs and stmt.trip_bound > 0)
            return
        if self.in_parallel:
            raise self.fail("parallel loops do not nest (mark the outer or the inner loop, not both)")
        self.parallel(stmt, inner, runs)
        self.in_parallel = True
        try:
            self.block(stmt.body, inner, runs and stmt.trip_bound > 0)
        finally:
            self.in_parallel = False

    def parallel(self, stmt: For, inner: dict[str, int], runs: bool) -> None:
        """A parallel loop's promise (:class:`~moecc.ir.tiled.nodes.Parallel`) holds: its body
        writes only its accumulate buffers (by addition only) and locals private to it."""
        par = stmt.parallel
        assert par is not None
        where = self.where
        accumulate = set(par.accumulate)
        if len(accumulate) != len(par.accumulate):
            raise self.fail("a parallel loop names an accumulate buffer twice")
        for name in par.accumulate:
            buf = self.buffer(name)
            text = format_value_name(name)
            if buf.space != "global":
                raise self.fail(f"parallel loop accumulates into local {text}; only global buffers can be")
            if buf.role in ("input", "weight"):
                raise self.fail(f"parallel loop accumulates into {buf.role} buffer {text}")
            if not (buf.dtype.is_float or buf.dtype.is_int):
                raise self.fail(f"parallel loop accumulates into {buf.dtype} buffer {text}; it must be a number")
        if par.cost is not None:
            self.element(par.cost, inner, runs, "parallel loop cost")
            if self.buffer(par.cost.buffer).space != "global" or par.cost.buffer in accumulate:
                raise self.fail(f"parallel loop cost is read from {format_value_name(par.cost.buffer)}; it must be "
                                "a global buffer the loop does not accumulate into")
        if isinstance(stmt.count, ElementRef) and stmt.count.buffer in accumulate:
            raise self.fail("a parallel loop's count is read from one of its accumulate buffers")
        first: dict[str, str] = {}  # local -> its first access in the body
        for index, inner_stmt, _ in walk(stmt.body):
            self.where = f"{where}, body statement {index} ({STMT_KINDS.get(type(inner_stmt), '?')})"
            refs = stmt_elements(inner_stmt)
            for ref in refs:
                if ref.buffer in accumulate:
                    raise self.fail(f"reads accumulate buffer {format_value_name(ref.buffer)} of the enclosing "
                                    "parallel loop (it may only add to it)")
            if isinstance(inner_stmt, For):
                accesses = [("read", ref.buffer) for ref in refs]
            else:
                pairs = stmt_views(inner_stmt)
                for access, view in pairs:
                    name = view.buffer
                    buf = self.buffers.get(name)
                    if buf is None:
                        continue  # reported where the statement itself is checked
                    if name in accumulate:
                        if not _adds_into(inner_stmt, view):
                            raise self.fail(f"{access}s accumulate buffer {format_value_name(name)} of the enclosing "
                                            "parallel loop other than by adding to it (scatter +=, matmul +=, "
                                            "reduce.sum +=)")
                    elif buf.space == "global" and access != "read":
                        raise self.fail(f"writes global buffer {format_value_name(name)} inside a parallel loop that "
                                        "does not accumulate into it (iterations would race)")
                accesses = [("read", ref.buffer) for ref in refs]
                # Reads first: a statement reading and writing a buffer reads it before writing.
                accesses += [(a, v.buffer) for a, v in pairs if a != "write"]
                accesses += [(a, v.buffer) for a, v in pairs if a == "write"]
            for access, name in accesses:
                buf = self.buffers.get(name)
                if buf is not None and buf.space == "local":
                    first.setdefault(name, access)
        self.where = where
        for name, access in first.items():
            if access != "write":
                raise self.fail(f"local {format_value_name(name)} is read before the parallel loop's body writes it "
                                "(each thread has its own locals)")
        outside = _touched_outside(self.kernel.body, stmt) & set(first)
        if outside:
            raise self.fail(f"local {format_value_name(sorted(outside)[0])} of a parallel loop is also used outside "
                            "it (each thread has its own locals)")

    # -- operands

    def buffer(self, name: str) -> Buffer:
        buf = self.buffers.get(name)
        if buf is None:
            raise self.fail(f"unknown buffer {format_value_name(name)}")
        return buf

    def in_scope(self, variables: Sequence[str], ranges: Mapping[str, int]) -> None:
        for var in variables:
            if var not in ranges:
                raise self.fail(f"{format_value_name(var)} is not a loop variable in scope here")

    def view(self, view: View, ranges: Mapping[str, int], runs: bool, *, write: bool) -> None:
        buf = self.buffer(view.buffer)
        text = format_view(view)
        if view.rank == 0 or len(view.strides) != view.rank:
            raise self.fail(f"view {text} needs rank >= 1 and one stride per dim")
        if any(d < 1 for d in view.shape):
            raise self.fail(f"view {text} has a dim < 1")
        self.in_scope(view.offset.variables, ranges)
        if runs:
            lo, hi = view.bounds(ranges)
            if lo < 0 or hi >= buf.elements:
                raise self.fail(f"view {text} reaches elements [{lo}, {hi}] over its loops; buffer "
                                f"{format_value_name(buf.name)} ({buf.dtype}{list(buf.shape)}) has "
                                f"{buf.elements} elements")
        if write:
            if not view.is_injective:
                raise self.fail(f"destination view {text} reaches some element twice (a stride-0 or overlapping axis)")
            if buf.space == "global" and buf.role in ("input", "weight"):
                raise self.fail(f"writes {buf.role} buffer {format_value_name(buf.name)}")

    def dtype(self, view: View) -> DType:
        return self.buffers[view.buffer].dtype

    def no_overlap(self, dst: View, src: View, what: str, *, identical_ok: bool = False) -> None:
        """Reject a destination overlapping an operand (unless it is the very same view and
        ``identical_ok``): targets read and write in an order of their choosing."""
        if dst.buffer != src.buffer:
            return
        if identical_ok and (dst.shape, dst.strides) == (src.shape, src.strides) and _same(dst.offset, src.offset):
            return
        delta = src.offset + dst.offset * -1
        if delta.terms:  # offsets move differently with the loops: not decidable cheaply; allowed
            return
        dlo, dhi = dst.span()
        slo, shi = src.span()
        if slo + delta.const <= dhi and dlo <= shi + delta.const:
            raise self.fail(f"destination {format_view(dst)} overlaps {what} {format_view(src)}")

    # -- statements

    def statement(self, stmt: Stmt) -> None:
        if isinstance(stmt, Copy):
            if stmt.dst.shape != stmt.src.shape:
                raise self.fail(f"copy shapes differ: {_shape(stmt.dst)} <- {_shape(stmt.src)}")
            if self.dtype(stmt.dst) != self.dtype(stmt.src):
                raise self.fail(f"copy from {self.dtype(stmt.src)} to {self.dtype(stmt.dst)}; a copy does not "
                                "convert (use compute with cast<T>)")
            self.no_overlap(stmt.dst, stmt.src, "source", identical_ok=True)
        elif isinstance(stmt, Compute):
            dtype = self.expr(stmt.expr, stmt.dst.shape)
            if dtype != self.dtype(stmt.dst):
                raise self.fail(f"expression of type {dtype} stored into {self.dtype(stmt.dst)} destination "
                                f"{format_value_name(stmt.dst.buffer)} (convert with cast<T>)")
            for view in _operands(stmt.expr):
                self.no_overlap(stmt.dst, view, "operand", identical_ok=True)
        elif isinstance(stmt, Reduce):
            self.reduce(stmt)
        elif isinstance(stmt, MatMul):
            self.matmul(stmt)
        elif isinstance(stmt, Gather):
            self.rows(stmt.table, stmt.index, stmt.dst, "gather destination")
            for view, what in ((stmt.table, "table"), (stmt.index, "index")):
                self.no_overlap(stmt.dst, view, what)
        elif isinstance(stmt, Scatter):
            self.rows(stmt.table, stmt.index, stmt.src, "scatter source")
            if stmt.accumulate and self.dtype(stmt.table) == DType.BOOL:
                raise self.fail("scatter-add into a bool table")
            for view, what in ((stmt.src, "source"), (stmt.index, "index")):
                self.no_overlap(stmt.table, view, what)
        elif isinstance(stmt, TopK):
            self.topk(stmt)

    def reduce(self, stmt: Reduce) -> None:
        if stmt.op not in REDUCE_OPS:
            raise self.fail(f"unknown reduction '{stmt.op}'")
        want = stmt.src.shape[:-1] + (1,)
        if stmt.dst.shape != want:
            raise self.fail(f"reduction of {_shape(stmt.src)} over its last axis writes {_shape(want)}, "
                            f"not {_shape(stmt.dst)}")
        src, dst = self.dtype(stmt.src), self.dtype(stmt.dst)
        if not (src.is_float and dst.is_float or src.is_int and dst.is_int):
            raise self.fail(f"reduction of {src} into {dst}: both float or both integer")
        self.no_overlap(stmt.dst, stmt.src, "source")

    def matmul(self, stmt: MatMul) -> None:
        a, b, dst = stmt.a, stmt.b, stmt.dst
        if min(a.rank, b.rank, dst.rank) < 2 or not a.rank == b.rank == dst.rank:
            raise self.fail(f"matmul operands need one rank >= 2: {_shape(dst)} = {_shape(a)} @ {_shape(b)}")
        m, k = (a.shape[-1], a.shape[-2]) if stmt.transpose_a else (a.shape[-2], a.shape[-1])
        k2, n = (b.shape[-1], b.shape[-2]) if stmt.transpose_b else (b.shape[-2], b.shape[-1])
        batch = dst.shape[:-2]
        if a.shape[:-2] != batch or b.shape[:-2] != batch or k != k2 or dst.shape[-2:] != (m, n):
            ta = "^T" if stmt.transpose_a else ""
            tb = "^T" if stmt.transpose_b else ""
            raise self.fail(f"matmul shapes do not contract: {_shape(dst)} = {_shape(a)}{ta} @ {_shape(b)}{tb}")
        da, db, dd, acc = self.dtype(a), self.dtype(b), self.dtype(dst), stmt.acc_dtype
        if acc not in MATMUL_ACC_DTYPES:
            raise self.fail(f"matmul accumulates in {acc}; use one of {', '.join(map(str, MATMUL_ACC_DTYPES))}")
        kind_ok = (da.is_float and db.is_float and acc.is_float and dd.is_float) or (
            da.is_int and db.is_int and acc.is_int and dd.is_int)
        if not kind_ok:
            raise self.fail(f"matmul of {da} @ {db} into {dd} accumulating in {acc}: float operands accumulate in "
                            "f32 into a float destination, integer ones in i32/i64 into an integer destination")
        for view, what in ((a, "operand a"), (b, "operand b")):
            self.no_overlap(dst, view, what)
        if stmt.blocks is not None:
            size = stmt.block
            if dst.rank != 2 or size < 1 or k % size or n % size or stmt.blocks.shape != (k // size, n // size) \
                    or self.dtype(stmt.blocks) != DType.U8:
                raise self.fail(f"matmul block mask {_shape(stmt.blocks.shape)} of {self.dtype(stmt.blocks)} with block "
                                f"{size}: a 2-D matmul's mask is u8 [k / block, n / block] = "
                                f"[{k // max(size, 1)}, {n // max(size, 1)}] with block dividing k={k} and n={n}")

    def rows(self, table: View, index: View, rows: View, what: str) -> None:
        if table.rank != 2 or index.rank != 1:
            raise self.fail(f"row table must be 2-D and index 1-D, not {_shape(table)} and {_shape(index)}")
        if not self.dtype(index).is_int:
            raise self.fail(f"index {format_value_name(index.buffer)} is {self.dtype(index)}, not an integer type")
        want = (index.shape[0], table.shape[1])
        if rows.shape != want:
            raise self.fail(f"{what} is {_shape(rows)}; {index.shape[0]} rows of {table.shape[1]} need {_shape(want)}")
        if self.dtype(rows) != self.dtype(table):
            raise self.fail(f"{what} is {self.dtype(rows)}, the table {self.dtype(table)}")

    def topk(self, stmt: TopK) -> None:
        src, values, indices = stmt.src, stmt.values, stmt.indices
        k = values.shape[-1]
        if values.shape[:-1] != src.shape[:-1] or not 1 <= k <= src.shape[-1] or indices.shape != values.shape:
            raise self.fail(f"top-k of {_shape(src)} writes values {_shape(values)} and indices {_shape(indices)}: "
                            "both must be the source's shape with the last axis k <= its length")
        if self.dtype(values) != self.dtype(src) or self.dtype(src) == DType.BOOL:
            raise self.fail(f"top-k values are {self.dtype(values)}, the source {self.dtype(src)} (numeric, equal)")
        if self.dtype(indices) not in TOPK_INDEX_DTYPES:
            raise self.fail(f"top-k indices are {self.dtype(indices)}, not i64 or i32")
        for view, what in ((src, "source"), (values, "values")):
            self.no_overlap(indices, view, what)
        self.no_overlap(values, src, "source")

    def expr(self, expr: Expr, shape: tuple[int, ...]) -> DType:
        """Type-check ``expr`` evaluated over ``shape``; return its dtype."""
        if isinstance(expr, Operand):
            view = expr.view
            if view.rank != len(shape) or any(d not in (1, s) for d, s in zip(view.shape, shape)):
                raise self.fail(f"operand {format_view(view)} does not broadcast to {_shape(shape)} "
                                "(same rank, each dim equal or 1)")
            return self.dtype(view)
        if isinstance(expr, Const):
            self.const(expr)
            return expr.dtype
        if isinstance(expr, Unary):
            x = self.expr(expr.x, shape)
            kind = UNARY_OPS.get(expr.op)
            if kind is None:
                raise self.fail(f"unknown unary op '{expr.op}'")
            ok = {"float": x.is_float, "numeric": x.is_float or x.is_int, "logical": x == DType.BOOL or x.is_int}[kind]
            if not ok:
                raise self.fail(f"{expr.op} does not apply to {x}")
            return x
        if isinstance(expr, Binary):
            a, b = self.expr(expr.a, shape), self.expr(expr.b, shape)
            kind = BINARY_OPS.get(expr.op)
            if kind is None:
                raise self.fail(f"unknown binary op '{expr.op}'")
            if a != b:
                raise self.fail(f"{expr.op} of {a} and {b}: operands share one type (cast one of them)")
            if kind == "arith" and a == DType.BOOL or kind == "logical" and a.is_float:
                raise self.fail(f"{expr.op} does not apply to {a}")
            return DType.BOOL if kind == "compare" else a
        if isinstance(expr, Select):
            cond = self.expr(expr.cond, shape)
            a, b = self.expr(expr.a, shape), self.expr(expr.b, shape)
            if cond != DType.BOOL or a != b:
                raise self.fail(f"select({cond}, {a}, {b}): the condition is bool and both branches share one type")
            return a
        if isinstance(expr, Cast):
            self.expr(expr.x, shape)
            if not isinstance(expr.dtype, DType):
                raise self.fail(f"cast to {expr.dtype!r}")
            return expr.dtype
        raise self.fail(f"not a tiled-IR expression: {type(expr).__name__}")

    def const(self, const: Const) -> None:
        value, dtype = const.value, const.dtype
        if not isinstance(dtype, DType):
            raise self.fail(f"constant of type {dtype!r}")
        if dtype == DType.BOOL:
            ok = isinstance(value, bool)
        elif dtype.is_float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            info = np.iinfo(dtype.numpy)
            ok = isinstance(value, int) and not isinstance(value, bool) and info.min <= value <= info.max
        if not ok:
            raise self.fail(f"constant {value!r} is not a {dtype} value")


def _operands(expr: Expr) -> list[View]:
    return list(expr_views(expr))


def _same(a: Affine, b: Affine) -> bool:
    """Whether two offsets are equal for every loop iteration (terms may be written differently)."""
    delta = a + b * -1
    return not delta.terms and delta.const == 0


def _shape(view: View | tuple[int, ...]) -> str:
    dims = view.shape if isinstance(view, View) else view
    return "[" + ", ".join(map(str, dims)) + "]"


__all__ = ["expr_dtype", "verify_tiled_module"]
