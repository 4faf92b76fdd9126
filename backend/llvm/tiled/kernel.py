"""One tiled kernel as one LLVM function ``void k(i8* heap, i8* scratch)``.

Every statement becomes a loop nest over its destination (``compute``, ``copy``), its rows
(``reduce``, ``gather``, ``scatter``, ``topk``) or its batch (``matmul``, which calls the packed
sgemm per batch element). Loop nests are canonical counted loops (phi induction variables)
over the view's axes after :func:`coalesce` merged the axes every view walks contiguously
together, so the innermost loop is as long as the layout allows and LLVM's loop vectoriser
widens it (unit or zero strides); float sums carry ``reassoc`` so they vectorise too (the
tiled IR leaves the summation order unspecified). Loop variables of the tiled IR are the
induction variables themselves; view offsets are i64 arithmetic on them.

Run-time faults (a gather/scatter row index outside ``[-rows, rows)``, a run-time trip count
outside ``[0, max]``) write the module's fault cells (code, value, bound, kernel, statement)
and return; the program turns them into errors (:mod:`moecc.backend.llvm.tiled.program`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from llvmlite import ir

from moecc.backend.llvm.loop_builder import F32, I1, I8, I8_PTR, I32, I64, counted_loop, i64
from moecc.backend.llvm.tiled.dtypes import STORAGE, WORK, convert, from_storage, int_to_wide, is_unsigned, to_storage
from moecc.backend.llvm.tiled.elision import matmul_copy_elisions
from moecc.backend.llvm.tiled.expr import constant, emit_expr, int_max
from moecc.backend.llvm.tiled.matmul_call import MatmulEmitter
from moecc.backend.llvm.tiled.parallel_rows import over_rows
from moecc.errors import UnsupportedError
from moecc.ir.affine import Affine
from moecc.ir.tiled.nodes import (Compute, Copy, ElementRef, For, Gather, Kernel, MatMul, Reduce, Scatter, Stmt,
                                  TopK, View, expr_views)
from moecc.ir.types import DType

#: Fault codes the module's ``moecc_fault_code`` cell holds (0: none). Part of the object ABI
#: (docs/cpu_object_abi.md): 3 is an index out of range, as for the kernel-IR path's CPU steps.
FAULT_INDEX = 3
FAULT_LOOP_COUNT = 4
#: Symbols of the fault cells (the object ABI's names; ``value`` is ``moecc_fault_detail``).
FAULT_SYMBOLS = {"code": "moecc_fault_code", "value": "moecc_fault_detail", "bound": "moecc_fault_bound",
                 "kernel": "moecc_fault_kernel", "statement": "moecc_fault_statement"}


@dataclass(frozen=True, slots=True)
class FaultCells:
    """The module's fault globals: code, the offending value, the bound, kernel, statement."""

    code: ir.GlobalVariable
    value: ir.GlobalVariable
    bound: ir.GlobalVariable
    kernel: ir.GlobalVariable
    statement: ir.GlobalVariable

    @staticmethod
    def declare(module: ir.Module) -> FaultCells:
        def cell(name: str, typ: ir.Type) -> ir.GlobalVariable:
            var = ir.GlobalVariable(module, typ, FAULT_SYMBOLS[name])
            var.initializer = ir.Constant(typ, 0)
            return var

        return FaultCells(cell("code", I32), cell("value", I64), cell("bound", I64), cell("kernel", I32),
                          cell("statement", I32))


def coalesce(shape: Sequence[int], strides: Sequence[Sequence[int]]) -> tuple[list[int], list[list[int]]]:
    """``shape`` and per-view ``strides`` with size-1 axes dropped and adjacent axes merged
    where every view steps over the inner axis exactly as a longer inner axis would."""
    axes = [d for d, n in enumerate(shape) if n != 1]
    if not axes:
        return [1], [[0] for _ in strides]
    out_shape = [shape[axes[0]]]
    out = [[s[axes[0]]] for s in strides]
    for d in axes[1:]:
        n = shape[d]
        if all(o[-1] == s[d] * n for o, s in zip(out, strides)):
            out_shape[-1] *= n
            for o, s in zip(out, strides):
                o[-1] = s[d]
        else:
            out_shape.append(n)
            for o, s in zip(out, strides):
                o.append(s[d])
    return out_shape, out


def write_order(shape: Sequence[int], strides: Sequence[Sequence[int]]) -> tuple[list[int], list[list[int]]]:
    """Axes reordered so the destination (``strides[0]``) is walked with its smallest stride
    innermost: a transposed write then stores contiguously (and its reads are strided) instead
    of the reverse. Row-major destinations keep their order (the sort is stable)."""
    order = sorted(range(len(shape)), key=lambda d: -abs(strides[0][d]) if shape[d] > 1 else -float("inf"))
    return [shape[d] for d in order], [[s[d] for d in order] for s in strides]


def _broadcast_strides(view: View, shape: Sequence[int]) -> list[int]:
    """An operand's strides over the destination's shape (its size-1 axes repeat: stride 0)."""
    return [s if n == want else 0 for n, s, want in zip(view.shape, view.strides, shape)]


class _AliasScopes:
    """Scoped no-alias metadata: within one kernel every buffer it names is a region of its own
    (globals have their own heap places, temps sharing space are never live in the same step,
    locals have their own scratch places), so each access says which buffer it touches and
    that it touches none of the others. Without it every store might clobber every load of the
    heap and the vectoriser gives up (a broadcast row maximum is reloaded per element)."""

    def __init__(self, module: ir.Module, buffers: Sequence[str]) -> None:
        domain = module.add_metadata([ir.MetaDataString(module, "moecc.tiled")])
        scopes = {name: module.add_metadata([ir.MetaDataString(module, f"moecc.buffer.{name}"), domain])
                  for name in buffers}
        self.scope = {name: module.add_metadata([node]) for name, node in scopes.items()}
        self.others = {name: module.add_metadata([node for other, node in scopes.items() if other != name])
                       for name in buffers}

    def tag(self, instr: ir.Instruction, buffer: str) -> ir.Instruction:
        if buffer in self.scope:
            instr.set_metadata("alias.scope", self.scope[buffer])
            instr.set_metadata("noalias", self.others[buffer])
        return instr


class KernelEmitter:
    """Emits one kernel. ``pointers(b, heap, scratch)`` gives the typed base pointer of every
    buffer the kernel may touch (globals in the heap, its locals in the scratch arena)."""

    def __init__(self, module: ir.Module, kernel: Kernel, index: int, symbol: str, faults: FaultCells,
                 dtypes: Mapping[str, DType], byte_offsets: Mapping[str, tuple[str, int]],
                 zero: Mapping[str, int], matmul: MatmulEmitter,
                 scalars: Mapping[str, float | int | bool] | None = None,
                 sizes: Mapping[str, int] | None = None) -> None:
        self.module = module
        self.kernel = kernel
        self.index = index
        self.faults = faults
        self.dtypes = dtypes
        self.function = ir.Function(module, ir.FunctionType(ir.VoidType(), [I8_PTR, I8_PTR]), name=symbol)
        self.function.linkage = "internal"
        self.heap, self.scratch = self.function.args
        entry = self.function.append_basic_block("entry")
        self.allocas = ir.IRBuilder(entry)
        self.b = ir.IRBuilder(self.function.append_basic_block("body"))
        self.exit_block = self.function.append_basic_block("exit")
        ir.IRBuilder(self.exit_block).ret_void()
        self.env: dict[str, ir.Value] = {}
        self.statement = 0
        self.matmul_emitter = matmul
        self.scalars = dict(scalars or {})
        self.elisions = matmul_copy_elisions(kernel)
        self.bases: dict[str, ir.Value] = {}
        self.alias = _AliasScopes(module, list(byte_offsets))
        self.places = dict(byte_offsets)
        #: Bytes of every buffer (a parallel loop's private accumulator copies need them).
        self.sizes = dict(sizes or {})
        self.in_parallel = False
        self.parallel_loops = 0
        self.outlined = 0  # functions outlined for parallel_rows
        self.bind_arenas(self.heap, self.scratch)
        memset = module.declare_intrinsic("llvm.memset", [I8_PTR, I64])
        for name, nbytes in zero.items():
            self.b.call(memset, [self.allocas.bitcast(self.bases[name], I8_PTR), ir.Constant(I8, 0), i64(nbytes),
                                 ir.Constant(I1, 0)])

    # -- plumbing

    def emit(self) -> ir.Function:
        self.block(self.kernel.body)
        self.b.branch(self.exit_block)
        self.allocas.branch(self.function.basic_blocks[1])
        return self.function

    def bind_arenas(self, heap: ir.Value, scratch: ir.Value) -> None:
        """Base pointers of every buffer over ``heap`` and ``scratch`` (in the entry block)."""
        self.heap, self.scratch = heap, scratch
        self.bases = {}
        for name, (arena, offset) in self.places.items():
            base = heap if arena == "heap" else scratch
            raw = self.allocas.gep(base, [i64(offset)], inbounds=True)
            self.bases[name] = self.allocas.bitcast(raw, STORAGE[self.dtypes[name]].as_pointer())

    def enter_function(self, fn: ir.Function) -> tuple:
        """Emit into ``fn`` (entry, body and exit blocks, as the kernel's own) from now on; the
        state to give :meth:`leave_function` to come back. A fault in ``fn`` returns from it."""
        saved = (self.function, self.allocas, self.b, self.exit_block, self.heap, self.scratch, self.bases,
                 self.env, self.in_parallel)
        self.function = fn
        self.allocas = ir.IRBuilder(fn.append_basic_block("entry"))
        self.b = ir.IRBuilder(fn.append_basic_block("body"))
        self.exit_block = fn.append_basic_block("exit")
        ir.IRBuilder(self.exit_block).ret_void()
        self.env = {}
        self.in_parallel = True
        return saved

    def finish_function(self) -> None:
        self.b.branch(self.exit_block)
        self.allocas.branch(self.function.basic_blocks[1])

    def leave_function(self, saved: tuple) -> None:
        (self.function, self.allocas, self.b, self.exit_block, self.heap, self.scratch, self.bases, self.env,
         self.in_parallel) = saved

    def alloca(self, typ: ir.Type) -> ir.Value:
        # Allocas in the entry block, before its branch: promoted to registers by mem2reg/SROA.
        with self.allocas.goto_block(self.function.entry_basic_block):
            return self.allocas.alloca(typ)

    def affine(self, expr: Affine) -> ir.Value:
        value: ir.Value = i64(expr.const)
        for var, coef in expr.terms:
            value = self.b.add(value, self.b.mul(self.env[var], i64(coef)))
        return value

    def address(self, buffer: str, base: ir.Value, index: Sequence[ir.Value], strides: Sequence[int]) -> ir.Value:
        element = base
        for i, s in zip(index, strides):
            if s:
                element = self.b.add(element, self.b.mul(i, i64(s)))
        return self.b.gep(self.bases[buffer], [element], inbounds=True)

    def raw_load(self, buffer: str, pointer: ir.Value) -> ir.Value:
        return self.alias.tag(self.b.load(pointer), buffer)

    def raw_store(self, buffer: str, value: ir.Value, pointer: ir.Value) -> None:
        self.alias.tag(self.b.store(value, pointer), buffer)

    def load(self, buffer: str, base: ir.Value, index: Sequence[ir.Value], strides: Sequence[int]) -> ir.Value:
        return from_storage(self.b, self.raw_load(buffer, self.address(buffer, base, index, strides)), self.dtypes[buffer])

    def store(self, buffer: str, base: ir.Value, index: Sequence[ir.Value], strides: Sequence[int],
              value: ir.Value) -> None:
        self.raw_store(buffer, to_storage(self.b, value, self.dtypes[buffer]), self.address(buffer, base, index, strides))

    def nest(self, shape: Sequence[int], body: Callable[[list[ir.Value]], None], name: str = "d") -> None:
        def level(depth: int, index: list[ir.Value]) -> None:
            if depth == len(shape):
                body(index)
            elif shape[depth] == 1:
                level(depth + 1, index + [i64(0)])
            else:
                counted_loop(self.b, shape[depth], lambda i: level(depth + 1, index + [i]), name=f"{name}{depth}")
        level(0, [])

    def fault(self, code: int, value: ir.Value, bound: int) -> None:
        """Record a fault of the current statement and leave the kernel."""
        b = self.b
        for cell, item in ((self.faults.code, ir.Constant(I32, code)), (self.faults.value, value),
                           (self.faults.bound, i64(bound)), (self.faults.kernel, ir.Constant(I32, self.index)),
                           (self.faults.statement, ir.Constant(I32, self.current))):
            b.store(item, cell)
        b.branch(self.exit_block)

    def wide_int(self, value: ir.Value, dtype: DType) -> ir.Value:
        return int_to_wide(self.b, value, dtype)

    # -- statements

    def block(self, body: Sequence[Stmt]) -> None:
        for stmt in body:
            self.current = self.statement
            self.statement += 1
            if isinstance(stmt, For):
                self.loop(stmt)
            elif isinstance(stmt, Copy):
                if id(stmt) not in self.elisions.skip:
                    self.copy(stmt)
            elif isinstance(stmt, Compute):
                self.compute(stmt)
            elif isinstance(stmt, Reduce):
                self.reduce(stmt)
            elif isinstance(stmt, MatMul):
                target = self.elisions.redirect.get(id(stmt))
                self.matmul_emitter.emit(self, stmt if target is None else replace(stmt, dst=target))
            elif isinstance(stmt, (Gather, Scatter)):
                self.rows(stmt)
            elif isinstance(stmt, TopK):
                self.topk(stmt)
            else:
                raise UnsupportedError(f"tiled statement {type(stmt).__name__} has no CPU emitter",
                                       remedy="verify the module")

    def loop(self, stmt: For) -> None:
        """A loop; a ``parallel`` one also gets the thread pool's path
        (:mod:`moecc.backend.llvm.tiled.parallel`), chosen at run time when the pool has threads."""
        number = self.current
        if isinstance(stmt.count, ElementRef):
            ref = stmt.count
            dtype = self.dtypes[ref.buffer]
            raw = self.wide_int(self.load(ref.buffer, self.affine(ref.offset), [], []), dtype)
            bound = stmt.max_count or 0
            bad = self.b.or_(self.b.icmp_signed("<", raw, i64(0)), self.b.icmp_signed(">", raw, i64(bound)))
            with self.b.if_then(bad, likely=False):
                self.fault(FAULT_LOOP_COUNT, raw, bound)
            count: ir.Value | int = raw
        else:
            count = stmt.count
        outer = self.env.get(stmt.var)

        def body(i: ir.Value) -> None:
            self.env[stmt.var] = i
            self.block(stmt.body)

        def sequential() -> None:
            counted_loop(self.b, count, body, name=f"for.{stmt.var}")

        if stmt.parallel is not None and not self.in_parallel and (not isinstance(count, int) or count > 1):
            from moecc.backend.llvm.tiled.parallel import ParallelLoop

            self.parallel_loops += 1
            ParallelLoop(self, stmt, self.parallel_loops - 1).emit(count, sequential)
        else:
            sequential()
        self.current = number
        if outer is None:
            self.env.pop(stmt.var, None)
        else:
            self.env[stmt.var] = outer

    def copy(self, stmt: Copy) -> None:
        dst, src = stmt.dst, stmt.src
        if dst == src:
            return
        shape, (ds, ss) = coalesce(*write_order(dst.shape, [dst.strides, src.strides]))
        d0, s0 = self.affine(dst.offset), self.affine(src.offset)
        itemsize = self.dtypes[dst.buffer].itemsize
        if ds[-1] == 1 and ss[-1] == 1 and shape[-1] > 1:
            memcpy = self.module.declare_intrinsic("llvm.memcpy", [I8_PTR, I8_PTR, I64])

            def row(index: list[ir.Value]) -> None:
                full = index + [i64(0)]
                to = self.b.bitcast(self.address(dst.buffer, d0, full, ds), I8_PTR)
                frm = self.b.bitcast(self.address(src.buffer, s0, full, ss), I8_PTR)
                self.b.call(memcpy, [to, frm, i64(shape[-1] * itemsize), ir.Constant(I1, 0)])

            self.nest(shape[:-1], row, "copy")
            return

        def element(index: list[ir.Value]) -> None:
            value = self.raw_load(src.buffer, self.address(src.buffer, s0, index, ss))
            self.raw_store(dst.buffer, value, self.address(dst.buffer, d0, index, ds))

        self.nest(shape, element, "copy")

    def compute(self, stmt: Compute) -> None:
        dst = stmt.dst
        operands = list(dict.fromkeys(expr_views(stmt.expr)))
        all_strides = [list(dst.strides)] + [_broadcast_strides(v, dst.shape) for v in operands]
        shape, strides = coalesce(*write_order(dst.shape, all_strides))
        slot = {v: k + 1 for k, v in enumerate(operands)}

        def rows(begin: ir.Value, end: ir.Value) -> None:
            bases = [self.affine(dst.offset)] + [self.affine(v.offset) for v in operands]

            def element(index: list[ir.Value]) -> None:
                def load(view: View) -> ir.Value:
                    if view.buffer in self.scalars:  # a one-element weight: its value is known
                        return constant(self.scalars[view.buffer], self.dtypes[view.buffer])
                    k = slot[view]
                    return self.load(view.buffer, bases[k], index, strides[k])

                value = emit_expr(self.b, stmt.expr, self.dtypes, load)
                self.store(dst.buffer, bases[0], index, strides[0], value)

            self.nest_rows(shape, begin, end, element, "e")

        over_rows(self, shape[0] if shape else 1, math.prod(shape), rows, "rows")

    def nest_rows(self, shape: Sequence[int], begin: ir.Value, end: ir.Value,
                  body: Callable[[list[ir.Value]], None], name: str) -> None:
        """:meth:`nest` over ``shape`` with the outermost index running over ``[begin, end)``."""
        if not shape:
            body([])
            return
        b = self.b
        counted_loop(b, b.sub(end, begin),
                     lambda i: self.nest(shape[1:], lambda rest: body([b.add(begin, i)] + rest), name), name=f"{name}r")

    def reduce(self, stmt: Reduce) -> None:
        src, dst = stmt.src, stmt.dst
        n, step = src.shape[-1], src.strides[-1]
        shape, (ds, ss) = coalesce(src.shape[:-1] or (1,), [dst.strides[:-1] or (0,), src.strides[:-1] or (0,)])
        sdt, ddt = self.dtypes[src.buffer], self.dtypes[dst.buffer]
        is_float = sdt.is_float

        def widen(value: ir.Value, dtype: DType) -> ir.Value:
            return value if dtype.is_float else self.wide_int(value, dtype)

        def combine(x: ir.Value, y: ir.Value, reassoc: bool) -> ir.Value:
            b = self.b
            if stmt.op == "sum":
                if is_float:
                    total = b.fadd(x, y)
                    if reassoc:
                        total.flags.append("reassoc")
                    return total
                return b.add(x, y)
            if is_float:
                # llvm.maximum/minimum propagate NaN as np.max does and, unlike a compare and
                # select, are a reduction kind the loop vectoriser widens.
                name = "llvm.maximum" if stmt.op == "max" else "llvm.minimum"
                return b.call(self.module.declare_intrinsic(name, [F32], ir.FunctionType(F32, [F32, F32])), [x, y])
            return int_max(b, x, y, DType.I64, stmt.op == "max")

        def rows(begin: ir.Value, end: ir.Value) -> None:
            d0, s0 = self.affine(dst.offset), self.affine(src.offset)
            acc = self.alloca(F32 if is_float else I64)

            def row(index: list[ir.Value]) -> None:
                b = self.b
                first = widen(self.load(src.buffer, s0, index, ss), sdt)
                b.store(ir.Constant(F32, 0.0) if stmt.op == "sum" and is_float else
                        i64(0) if stmt.op == "sum" else first, acc)
                start = b.add(s0, b.mul(i64(step), i64(0 if stmt.op == "sum" else 1)))

                def element(k: list[ir.Value]) -> None:
                    value = widen(self.load(src.buffer, b.add(start, b.mul(k[0], i64(step))), index, ss), sdt)
                    b.store(combine(b.load(acc), value, True), acc)

                count = n if stmt.op == "sum" else n - 1
                if count > 0:
                    self.nest([count], element, "r")
                result = b.load(acc)
                if stmt.accumulate:
                    result = combine(widen(self.load(dst.buffer, d0, index, ds), ddt), result, False)
                if ddt.is_float:
                    self.store(dst.buffer, d0, index, ds, result if is_float else b.sitofp(result, F32))
                elif ddt == DType.BOOL:
                    self.store(dst.buffer, d0, index, ds, b.icmp_signed("!=", result, i64(0)))
                else:
                    self.store(dst.buffer, d0, index, ds, int_to_wide(b, result, DType.I64, WORK[ddt]))

            self.nest_rows(shape, begin, end, row, "rows")

        over_rows(self, shape[0], math.prod(shape) * n, rows, "rows")

    def row_index(self, table: View, index: View, i: ir.Value) -> ir.Value:
        """Row ``index[i]`` of ``table``, bounds-checked (a fault names the value), negative
        ones counted from the end."""
        b = self.b
        rows = table.shape[0]
        raw = self.wide_int(self.load(index.buffer, self.affine(index.offset), [i], index.strides), self.dtypes[index.buffer])
        bad = b.or_(b.icmp_signed("<", raw, i64(-rows)), b.icmp_signed(">=", raw, i64(rows)))
        with b.if_then(bad, likely=False):
            self.fault(FAULT_INDEX, raw, rows)
        return b.select(b.icmp_signed("<", raw, i64(0)), b.add(raw, i64(rows)), raw)

    def rows(self, stmt: Gather | Scatter) -> None:
        """Gather ``dst[i] = table[index[i]]`` or scatter ``table[index[i]] (+)= src[i]``, a row
        at a time in index order (a repeated scatter index: the last row wins, or all add)."""
        b = self.b
        table, index = stmt.table, stmt.index
        other = stmt.dst if isinstance(stmt, Gather) else stmt.src
        cols = table.shape[1]
        t0, o0 = self.affine(table.offset), self.affine(other.offset)
        dtype = self.dtypes[table.buffer]
        accumulate = isinstance(stmt, Scatter) and stmt.accumulate
        memcpy = self.module.declare_intrinsic("llvm.memcpy", [I8_PTR, I8_PTR, I64])
        limit: ir.Value | None = None
        if stmt.limit is not None:  # a run-time row count: only the first rows (the others unread)
            ref = stmt.limit
            limit = self.wide_int(self.load(ref.buffer, self.affine(ref.offset), [], []), self.dtypes[ref.buffer])

        def per_index(i: ir.Value) -> None:
            if limit is not None:
                with b.if_then(b.icmp_signed("<", i[0], limit)):
                    one_index(i)
            else:
                one_index(i)

        def one_index(i: ir.Value) -> None:
            row = self.row_index(table, index, i[0])
            t_row = b.add(t0, b.mul(row, i64(table.strides[0])))
            o_row = b.add(o0, b.mul(i[0], i64(other.strides[0])))
            t_at, o_at = (table.buffer, t_row, table.strides[1]), (other.buffer, o_row, other.strides[1])
            to, frm = (o_at, t_at) if isinstance(stmt, Gather) else (t_at, o_at)
            if not accumulate and to[2] == 1 and frm[2] == 1 and cols > 1:
                dst_ptr = b.bitcast(self.address(to[0], to[1], [], []), I8_PTR)
                src_ptr = b.bitcast(self.address(frm[0], frm[1], [], []), I8_PTR)
                b.call(memcpy, [dst_ptr, src_ptr, i64(cols * dtype.itemsize), ir.Constant(I1, 0)])
                return

            def element(j: list[ir.Value]) -> None:
                src_ptr = self.address(frm[0], frm[1], j, [frm[2]])
                dst_ptr = self.address(to[0], to[1], j, [to[2]])
                if not accumulate:
                    self.raw_store(to[0], self.raw_load(frm[0], src_ptr), dst_ptr)
                    return
                x = from_storage(b, self.raw_load(to[0], dst_ptr), dtype)
                y = from_storage(b, self.raw_load(frm[0], src_ptr), self.dtypes[frm[0]])
                total = b.fadd(x, y) if dtype.is_float else b.or_(x, y) if dtype == DType.BOOL else b.add(x, y)
                self.raw_store(to[0], to_storage(b, total, dtype), dst_ptr)

            self.nest([cols], element, "col")

        self.nest([index.shape[0]], per_index, "row")

    def topk(self, stmt: TopK) -> None:
        """Per row: the k best by repeated selection, each pick the best element ranked after
        the previous pick in the total order (value, then lower index first; NaN above every
        number): O(n*k), no marking, ties and NaNs as the interpreter's stable sort."""
        src, values, indices = stmt.src, stmt.values, stmt.indices
        n, k = src.shape[-1], stmt.k
        sdt, idt = self.dtypes[src.buffer], self.dtypes[indices.buffer]
        b = self.b
        work = WORK[sdt]
        s0, v0, i0 = self.affine(src.offset), self.affine(values.offset), self.affine(indices.offset)
        prev_val, prev_idx, best_val, best_idx = (self.alloca(work), self.alloca(I64), self.alloca(work), self.alloca(I64))

        def greater(x: ir.Value, y: ir.Value) -> ir.Value:
            if sdt.is_float:
                nan_x, nan_y = b.fcmp_unordered("uno", x, x), b.fcmp_unordered("uno", y, y)
                return b.or_(b.and_(nan_x, b.not_(nan_y)), b.fcmp_ordered(">", x, y))
            return b.icmp_unsigned(">", x, y) if is_unsigned(sdt) else b.icmp_signed(">", x, y)

        def equal(x: ir.Value, y: ir.Value) -> ir.Value:
            if sdt.is_float:
                both_nan = b.and_(b.fcmp_unordered("uno", x, x), b.fcmp_unordered("uno", y, y))
                return b.or_(both_nan, b.fcmp_ordered("==", x, y))
            return b.icmp_unsigned("==", x, y)

        def precedes(x: ir.Value, ix: ir.Value, y: ir.Value, iy: ir.Value) -> ir.Value:
            ahead = greater(x, y) if stmt.largest else greater(y, x)
            return b.or_(ahead, b.and_(equal(x, y), b.icmp_signed("<", ix, iy)))

        def row(index: list[ir.Value]) -> None:
            b.store(i64(-1), prev_idx)

            def pick(j: list[ir.Value]) -> None:
                b.store(i64(-1), best_idx)

                def scan(c: list[ir.Value]) -> None:
                    x = self.load(src.buffer, s0, index + c, src.strides)
                    after = b.or_(b.icmp_signed("<", b.load(prev_idx), i64(0)),
                                  precedes(b.load(prev_val), b.load(prev_idx), x, c[0]))
                    better = b.or_(b.icmp_signed("<", b.load(best_idx), i64(0)),
                                   precedes(x, c[0], b.load(best_val), b.load(best_idx)))
                    take = b.and_(after, better)
                    b.store(b.select(take, x, b.load(best_val)), best_val)
                    b.store(b.select(take, c[0], b.load(best_idx)), best_idx)

                self.nest([n], scan, "scan")
                chosen, at = b.load(best_val), b.load(best_idx)
                self.store(values.buffer, v0, index + j, values.strides, convert(b, chosen, sdt, self.dtypes[values.buffer]))
                self.store(indices.buffer, i0, index + j, indices.strides, int_to_wide(b, at, DType.I64, WORK[idt]))
                b.store(chosen, prev_val)
                b.store(at, prev_idx)

            self.nest([k], pick, "pick")

        self.nest(list(src.shape[:-1]), row, "trow")


__all__ = ["FAULT_INDEX", "FAULT_LOOP_COUNT", "FAULT_SYMBOLS", "FaultCells", "KernelEmitter", "coalesce", "write_order"]
