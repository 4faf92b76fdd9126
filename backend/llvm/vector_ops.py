"""Kernel-IR ``Vector`` statements → LLVM loops, with the kernel interpreter's numerics.

Part of the CPU backend's code generator (:mod:`moecc.backend.llvm.codegen`): each VPU
operation of :data:`~moecc.ir.kernel.VECTOR_OPS` becomes a loop over the tile's elements
whose body computes what :mod:`moecc.ir.kernel_interpreter` computes with numpy, bit for bit
except for the transcendental functions:

- floats (f32, bf16) work in f32, integers (i32) in i64 and wrap on store, as the
  interpreter's ``astype(work)`` / ``astype(dst.dtype)`` do; bf16 stores round to nearest even;
- ``max``/``min`` propagate NaN like ``np.maximum``; compares yield 1/0 in the operand dtype;
- ``exp``, ``sigmoid``, ``tanh``, ``log`` and ``erf`` are the branch-free f32 code of
  :mod:`moecc.backend.llvm.vector_math` (no libm calls, so their loops vectorise): within
  1-2 ulp of the correctly rounded result where numpy's float32 functions are within 2-4;
  ``erf`` is the Abramowitz–Stegun formula of the interpreter evaluated in f32 instead of
  f64 (within 5e-7);
- ``rsum`` over floats is numpy's pairwise summation (8 partial sums, one 8-lane vector;
  halving above 128 elements, a split tree fixed by the static row length), so row sums
  agree with the interpreter bit for bit;
- ``rmax`` over floats is NaN-propagating like ``np.max``, kept in 16 lanes plus a mask of
  lanes that saw a NaN (which of +0 and -0 a row of zeros yields may differ: numpy's own
  answer depends on its SIMD order);
- ``cvt`` float → i32 truncates toward zero with NaN → 0 (out-of-range values saturate,
  where numpy's cast is undefined);
- ``topk`` selects per row, larger first, ties by lower index, NaN below everything
  (``argsort(-x, kind="stable")``); ``nonzero`` faults when its list overflows.

Element-wise statements (binary, unary, convert and scalar ops) are described as data flow of
one element (:class:`ElementwiseForm`: which operand elements it reads, :func:`element_value`:
what it computes) and emitted by one loop builder, :func:`emit_element_loop`, for a single
statement here and for a run of statements sharing one loop in
:mod:`moecc.backend.llvm.vector_fusion` — so both compute the same values. Without a row or
column broadcast the loop is flat over ``rows * cols`` (tiles are contiguous), the shape the
loop vectoriser likes best; a broadcast column or scalar is loaded once per row or once per
loop, outside the loop the vectoriser widens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from llvmlite import ir

from moecc.errors import UnsupportedError, VerificationError
from moecc.ir.kernel import VECTOR_OPS, LocalRef, Vector
from moecc.ir.types import DType
from moecc.backend.llvm import vector_math
from moecc.backend.llvm.loop_builder import (
    F32,
    I8_PTR,
    I16,
    I32,
    I64,
    counted_loop,
    element_pointer,
    i64,
    load_element,
    narrow,
    store_element,
    widen,
    work_type,
)

_FLOAT_ONLY = frozenset({"div", "exp", "log", "rsqrt", "rcp", "tanh", "erf", "sigmoid", "sqrt"})
_BCAST_SHAPES: dict[str, Callable[[int, int], tuple[int, int]]] = {
    "none": lambda r, c: (r, c),
    "row": lambda r, c: (1, c),
    "col": lambda r, c: (r, 1),
    "scalar": lambda r, c: (1, 1),
}


class VectorEmitContext(Protocol):
    """What the kernel code generator offers the vector-op lowering."""

    builder: ir.IRBuilder
    module: ir.Module

    def local_pointer(self, ref: LocalRef) -> ir.Value: ...

    def local_dtype(self, ref: LocalRef) -> DType: ...

    def fault(self, kind: str, detail: ir.Value) -> None: ...

    def invalid(self, message: str) -> VerificationError: ...

    def entry_alloca(self, typ: ir.Type) -> ir.Value:
        """A stack slot in the function's entry block (never inside a loop)."""
        ...


def emit_vector(ctx: VectorEmitContext, stmt: Vector) -> None:
    """Emit the loops of one ``Vector`` statement at the builder's position."""
    kind = VECTOR_OPS.get(stmt.op)
    if kind is None:
        raise ctx.invalid(f"unknown vector op '{stmt.op}'")
    if stmt.bcast not in _BCAST_SHAPES:
        raise ctx.invalid(f"unknown broadcast '{stmt.bcast}'")
    if stmt.dtype == DType.I32 and stmt.op in _FLOAT_ONLY:
        raise ctx.invalid(f"vpu.{stmt.op} needs a float dtype, not i32")
    if kind in ELEMENTWISE_KINDS:
        try:
            form = elementwise_form(stmt, ctx.local_dtype)
        except InvalidStatement as problem:
            raise ctx.invalid(str(problem)) from None
        sources = tuple(ctx.local_pointer(operand.ref) for operand in form.operands)
        emit_element_loop(ctx, [LoopStatement(form, sources, ctx.local_pointer(stmt.dst))])
        return
    emitters: dict[str, Callable[[VectorEmitContext, Vector], None]] = {
        "reduce": _reduce,
        "fill": _fill,
        "topk": _topk,
        "nonzero": _nonzero,
    }
    emitters[kind](ctx, stmt)


# -- operands and loops ---------------------------------------------------------------------

def _operand(ctx: VectorEmitContext, stmt: Vector, name: str) -> LocalRef:
    ref = getattr(stmt, name)
    if ref is None:
        raise ctx.invalid(f"vpu.{stmt.op} needs operand {name}")
    return ref


def _expect(ctx: VectorEmitContext, ref: LocalRef, shape: tuple[int, int], what: str, dtype: DType | None) -> ir.Value:
    """Check an operand's tile shape (and buffer dtype) and return its base pointer."""
    if (ref.rows, ref.cols) != shape:
        raise ctx.invalid(f"{what} %{ref.buffer}[{ref.rows}x{ref.cols}] should be {shape[0]}x{shape[1]}")
    if dtype is not None and ctx.local_dtype(ref) != dtype:
        raise ctx.invalid(f"operand {ref.buffer} is {ctx.local_dtype(ref)}, the statement works in {dtype}")
    return ctx.local_pointer(ref)


def _intrinsic(ctx: VectorEmitContext, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
    existing = ctx.module.globals.get(name)
    if isinstance(existing, ir.Function):
        return existing
    return ir.Function(ctx.module, ir.FunctionType(ret, args), name=name)


def _is_nan(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    return b.fcmp_unordered("uno", x, x)


def _float_max(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    # np.maximum: NaN in either operand gives NaN.
    return b.select(b.or_(b.fcmp_ordered(">", x, y), _is_nan(b, x)), x, y)


def _float_min(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.select(b.or_(b.fcmp_ordered("<", x, y), _is_nan(b, x)), x, y)


# -- binary ---------------------------------------------------------------------------------

def _binary_float(op: str, b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    if op == "add":
        return b.fadd(x, y)
    if op == "sub":
        return b.fsub(x, y)
    if op == "mul":
        return b.fmul(x, y)
    if op == "div":
        return b.fdiv(x, y)
    if op == "max":
        return _float_max(b, x, y)
    if op == "min":
        return _float_min(b, x, y)
    predicate = {"cmpgt": ">", "cmpge": ">=", "cmpeq": "=="}[op]
    return b.uitofp(b.fcmp_ordered(predicate, x, y), F32)


def _binary_int(op: str, b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    if op == "add":
        return b.add(x, y)
    if op == "sub":
        return b.sub(x, y)
    if op == "mul":
        return b.mul(x, y)
    if op == "max":
        return b.select(b.icmp_signed(">", x, y), x, y)
    if op == "min":
        return b.select(b.icmp_signed("<", x, y), x, y)
    predicate = {"cmpgt": ">", "cmpge": ">=", "cmpeq": "=="}[op]
    return b.zext(b.icmp_signed(predicate, x, y), I64)


# -- unary and convert ----------------------------------------------------------------------

#: Transcendental functions as branch-free f32 code the loop vectoriser widens (no libm calls).
_MATH_FUNCTIONS: dict[str, Callable[[ir.IRBuilder, ir.Value], ir.Value]] = {
    "exp": vector_math.exp,
    "log": vector_math.log,
    "tanh": vector_math.tanh,
    "sigmoid": vector_math.sigmoid,
    "erf": vector_math.erf,
}


def _unary_float(ctx: VectorEmitContext, op: str, x: ir.Value) -> ir.Value:
    b = ctx.builder
    one = ir.Constant(F32, 1.0)
    if op in ("mov", "cvt"):
        return x
    if op == "neg":
        return b.fneg(x)
    if op == "abs":
        return b.call(_intrinsic(ctx, "llvm.fabs.f32", F32, [F32]), [x])
    if op in _MATH_FUNCTIONS:
        return _MATH_FUNCTIONS[op](b, x)
    if op == "sqrt":
        return b.call(_intrinsic(ctx, "llvm.sqrt.f32", F32, [F32]), [x])
    if op == "rsqrt":
        return b.fdiv(one, b.call(_intrinsic(ctx, "llvm.sqrt.f32", F32, [F32]), [x]))
    if op == "rcp":
        return b.fdiv(one, x)
    raise UnsupportedError(f"vpu.{op} has no CPU lowering")


def _unary_int(b: ir.IRBuilder, op: str, x: ir.Value) -> ir.Value:
    if op in ("mov", "cvt"):
        return x
    if op == "neg":
        return b.sub(i64(0), x)
    if op == "abs":
        return b.select(b.icmp_signed("<", x, i64(0)), b.sub(i64(0), x), x)
    raise UnsupportedError(f"vpu.{op} on i32 has no CPU lowering")


def _convert(b: ir.IRBuilder, ctx: VectorEmitContext, value: ir.Value, src: DType, dst: DType) -> ir.Value:
    """Work value of ``src`` -> work value of ``dst`` (numpy ``astype`` semantics)."""
    if src == DType.I32 and dst != DType.I32:
        return b.sitofp(value, F32)
    if src != DType.I32 and dst == DType.I32:
        # trunc(nan_to_num(x)): NaN -> 0, toward zero; the saturating form keeps huge values defined.
        sat = _intrinsic(ctx, "llvm.fptosi.sat.i32.f32", I32, [F32])
        return b.sext(b.call(sat, [value]), I64)
    return value


# -- element-wise statements ----------------------------------------------------------------

#: Operand patterns whose statements compute each destination element from operand elements
#: at the same position (or broadcast to it): one loop of independent elements.
ELEMENTWISE_KINDS = frozenset({"binary", "unary", "convert", "scalar"})


class InvalidStatement(Exception):
    """An element-wise statement that cannot be lowered as written (shapes, dtypes, immediate);
    the emitter reports it with the statement's location."""


@dataclass(frozen=True, slots=True)
class ElementOperand:
    """A tile an element-wise statement reads, and which of its elements destination element
    ``(r, c)`` takes: ``none`` element ``(r, c)``, ``row`` element ``c`` (one row for all rows),
    ``col`` element ``r`` (one column for all columns), ``scalar`` element 0."""

    ref: LocalRef
    bcast: str
    dtype: DType


@dataclass(frozen=True, slots=True)
class ElementwiseForm:
    """An element-wise ``Vector`` statement as data flow of one element: the operands it
    reads (in the order :func:`element_value` takes their values; ``sel`` reads its
    destination as the 'false' input) and the dtype it stores."""

    stmt: Vector
    operands: tuple[ElementOperand, ...]
    out_dtype: DType

    @property
    def shape(self) -> tuple[int, int]:
        return self.stmt.dst.rows, self.stmt.dst.cols


def elementwise_form(stmt: Vector, dtype_of: Callable[[LocalRef], DType]) -> ElementwiseForm:
    """The element data flow of a statement whose op is one of :data:`ELEMENTWISE_KINDS`,
    with its tile shapes and buffer dtypes (``dtype_of``) checked; raises
    :class:`InvalidStatement` for a statement the lowering cannot emit."""
    kind = VECTOR_OPS.get(stmt.op)
    if kind not in ELEMENTWISE_KINDS:
        raise InvalidStatement(f"vpu.{stmt.op} is not an element-wise op")
    if stmt.bcast not in _BCAST_SHAPES:
        raise InvalidStatement(f"unknown broadcast '{stmt.bcast}'")
    if stmt.dtype == DType.I32 and stmt.op in _FLOAT_ONLY:
        raise InvalidStatement(f"vpu.{stmt.op} needs a float dtype, not i32")
    rows, cols = stmt.dst.rows, stmt.dst.cols
    full, broadcast = (rows, cols), _BCAST_SHAPES[stmt.bcast](rows, cols)

    def operand(name: str, shape: tuple[int, int], what: str, bcast: str, dtype: DType) -> ElementOperand:
        ref = getattr(stmt, name)
        if ref is None:
            raise InvalidStatement(f"vpu.{stmt.op} needs operand {name}")
        _check_tile(ref, shape, what, dtype, dtype_of)
        return ElementOperand(ref, bcast, dtype)

    dtype = out_dtype = stmt.dtype
    if kind == "binary":
        operands = [operand("a", full, "operand a", "none", dtype),
                    operand("b", broadcast, f"operand b (bcast {stmt.bcast})", stmt.bcast, dtype)]
        _check_tile(stmt.dst, full, "destination", dtype, dtype_of)
        if stmt.op == "sel":
            operands.append(ElementOperand(stmt.dst, "none", dtype))  # dst is the 'false' input
    elif kind in ("unary", "convert"):
        if stmt.op == "cvt":
            if stmt.odt is None:
                raise InvalidStatement("vpu.cvt needs odt")
            out_dtype = stmt.odt
        operands = [operand("a", broadcast, f"operand a (bcast {stmt.bcast})", stmt.bcast, dtype)]
        _check_tile(stmt.dst, full, "destination", out_dtype, dtype_of)
    else:  # scalar: the immediate is the second operand
        _check_tile(stmt.dst, full, "destination", dtype, dtype_of)
        _immediate(stmt)
        operands = [operand("a", full, "operand a", "none", dtype)]
    return ElementwiseForm(stmt, tuple(operands), out_dtype)


def _check_tile(ref: LocalRef, shape: tuple[int, int], what: str, dtype: DType,
                dtype_of: Callable[[LocalRef], DType]) -> None:
    if (ref.rows, ref.cols) != shape:
        raise InvalidStatement(f"{what} %{ref.buffer}[{ref.rows}x{ref.cols}] should be {shape[0]}x{shape[1]}")
    if dtype_of(ref) != dtype:
        raise InvalidStatement(f"operand {ref.buffer} is {dtype_of(ref)}, the statement works in {dtype}")


def element_value(ctx: VectorEmitContext, form: ElementwiseForm, values: Sequence[ir.Value]) -> ir.Value:
    """The work value a statement computes for one element from its operands' work values
    (the interpreter's numerics; the caller narrows it to the stored dtype)."""
    stmt, b = form.stmt, ctx.builder
    kind = VECTOR_OPS[stmt.op]
    is_int = stmt.dtype == DType.I32
    if kind == "binary":
        x, y = values[0], values[1]
        if stmt.op == "sel":
            true = b.icmp_signed("!=", x, i64(0)) if is_int else b.fcmp_unordered("!=", x, ir.Constant(F32, 0.0))
            return b.select(true, y, values[2])
        return (_binary_int if is_int else _binary_float)(stmt.op, b, x, y)
    if kind == "scalar":
        op = {"adds": "add", "muls": "mul", "maxs": "max", "mins": "min"}[stmt.op]
        return (_binary_int if is_int else _binary_float)(op, b, values[0], _immediate(stmt))
    y = _unary_int(b, stmt.op, values[0]) if is_int else _unary_float(ctx, stmt.op, values[0])
    return _convert(b, ctx, y, stmt.dtype, form.out_dtype)


@dataclass(frozen=True, slots=True)
class LoopStatement:
    """One statement of an element loop: where each operand's value comes from — a byte
    pointer to the tile (loaded per its broadcast), or the index of an earlier statement of the
    same loop whose value, as stored, to take — and where to store (None: not stored)."""

    form: ElementwiseForm
    sources: tuple[ir.Value | int, ...]
    dst: ir.Value | None


def emit_element_loop(ctx: VectorEmitContext, statements: Sequence[LoopStatement], label: str = "") -> None:
    """One loop over the destinations' ``rows x cols`` elements (all statements have that
    shape) computing every statement's value in order for each element.

    With only ``none`` and ``scalar`` operands it is one flat loop over ``rows * cols``
    (tiles are contiguous), the shape the loop vectoriser likes best; a ``row`` or ``col``
    operand makes it a loop over rows around a loop over columns. Broadcast operands are
    loaded where they change: a scalar once before the loop, a column once per row. Hoisting
    matters: an operand loaded inside the inner loop may alias the stores there, which keeps
    the loop vectoriser from widening the loop. ``label`` prefixes the loops' block names."""
    b = ctx.builder
    rows, cols = statements[0].form.shape
    memory = [(k, j, operand, source) for k, statement in enumerate(statements)
              for j, (operand, source) in enumerate(zip(statement.form.operands, statement.sources))
              if not isinstance(source, int)]
    scalars = {(k, j): load_element(b, source, operand.dtype, i64(0))
               for k, j, operand, source in memory if operand.bcast == "scalar"}
    reread = {source for statement in statements for source in statement.sources if isinstance(source, int)}

    def element(index: ir.Value, column: ir.Value | None, per_row: dict[tuple[int, int], ir.Value]) -> None:
        results: dict[int, ir.Value] = {}  # what a load of each statement's destination would give
        for k, statement in enumerate(statements):
            values = []
            for j, (operand, source) in enumerate(zip(statement.form.operands, statement.sources)):
                if isinstance(source, int):
                    values.append(results[source])
                elif operand.bcast == "scalar":
                    values.append(scalars[k, j])
                elif operand.bcast == "col":
                    values.append(per_row[k, j])
                else:
                    values.append(load_element(b, source, operand.dtype, column if operand.bcast == "row" else index))
            dtype = statement.form.out_dtype
            stored = narrow(b, element_value(ctx, statement.form, values), dtype)
            if statement.dst is not None:
                b.store(stored, element_pointer(b, statement.dst, dtype, index))
            if k in reread:
                results[k] = widen(b, stored, dtype)  # rounded as stored: bf16, i32 wrap

    if not any(operand.bcast in ("row", "col") for _, _, operand, _ in memory):
        counted_loop(b, rows * cols, lambda i: element(i, None, {}), label or "e")
        return

    def row_body(r: ir.Value) -> None:
        start = b.mul(r, i64(cols))
        per_row = {(k, j): load_element(b, source, operand.dtype, r)
                   for k, j, operand, source in memory if operand.bcast == "col"}
        counted_loop(b, cols, lambda c: element(b.add(start, c), c, per_row), f"{label}.c" if label else "c")

    counted_loop(b, rows, row_body, f"{label}.r" if label else "r")


# -- reductions -----------------------------------------------------------------------------

#: numpy's pairwise summation keeps this many partial sums: one 8-lane vector.
PAIRWISE_LANES = 8
#: numpy sums blocks of up to this many elements directly and splits longer ones in two.
PAIRWISE_BLOCK = 128


def pairwise_sum_function(module: ir.Module, dtype: DType, count: int) -> ir.Function:
    """``float moecc_pairwise_sum_<dtype>_<count>(i8* base)``: numpy's float pairwise sum of
    ``count`` contiguous elements, bit for bit.

    numpy sums fewer than 8 elements sequentially from 0; up to 128 with 8 partial sums
    (element ``j`` goes to sum ``j % 8``) combined as ((0+1)+(2+3))+((4+5)+(6+7)) plus a
    sequential tail; longer runs split at half rounded down to a multiple of 8 and add the
    two halves' sums. The 8 partial sums are one 8-lane vector here, so a block is a chain
    of vector adds. ``count`` is static, so each size in the split tree is one small
    function (the inliner flattens them as far as it sees fit) and the tree costs no
    run-time recursion."""
    name = f"moecc_pairwise_sum_{dtype}_{count}"
    existing = module.globals.get(name)
    if isinstance(existing, ir.Function):
        return existing
    fn = ir.Function(module, ir.FunctionType(F32, [I8_PTR]), name=name)
    fn.linkage = "internal"
    base, = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))

    def sequential(total: ir.Value, start: int) -> ir.Value:
        for i in range(start, count):
            total = b.fadd(total, load_element(b, base, dtype, i64(i)))
        return total

    if count < PAIRWISE_LANES:
        b.ret(sequential(ir.Constant(F32, 0.0), 0))
    elif count <= PAIRWISE_BLOCK:
        blocked = count - count % PAIRWISE_LANES
        partial = _load_lanes(b, base, dtype, 0)
        for start in range(PAIRWISE_LANES, blocked, PAIRWISE_LANES):
            partial = b.fadd(partial, _load_lanes(b, base, dtype, start))
        r = [b.extract_element(partial, i64(j)) for j in range(PAIRWISE_LANES)]
        total = b.fadd(b.fadd(b.fadd(r[0], r[1]), b.fadd(r[2], r[3])), b.fadd(b.fadd(r[4], r[5]), b.fadd(r[6], r[7])))
        b.ret(sequential(total, blocked))
    else:
        half = count // 2 - (count // 2) % PAIRWISE_LANES
        left = b.call(pairwise_sum_function(module, dtype, half), [base])
        right_base = b.gep(base, [i64(half * dtype.itemsize)], inbounds=True)
        right = b.call(pairwise_sum_function(module, dtype, count - half), [right_base])
        b.ret(b.fadd(left, right))
    return fn


def _load_lanes(b: ir.IRBuilder, base: ir.Value, dtype: DType, start: ir.Value | int,
                lanes: int = PAIRWISE_LANES) -> ir.Value:
    """Elements ``start .. start+lanes-1`` of a float array as an f32 vector."""
    pointer = element_pointer(b, base, dtype, i64(start) if isinstance(start, int) else start)
    if dtype == DType.F32:
        return b.load(b.bitcast(pointer, ir.VectorType(F32, lanes).as_pointer()), align=4)
    halves = b.load(b.bitcast(pointer, ir.VectorType(I16, lanes).as_pointer()), align=2)
    # bf16 is the top half of an f32: widening is exact.
    wide = b.shl(b.zext(halves, ir.VectorType(I32, lanes)), ir.Constant(ir.VectorType(I32, lanes), [16] * lanes))
    return b.bitcast(wide, ir.VectorType(F32, lanes))


#: Lanes of the row maximum's explicit vectors (the maximum does not depend on the order).
MAX_LANES = 16


def _row_max(ctx: VectorEmitContext, a_ptr: ir.Value, dtype: DType, start: ir.Value, cols: int) -> ir.Value:
    """The NaN-propagating maximum (``np.max``) of ``cols`` floats from element ``start``.

    Lanes keep a plain ``x > m ? x : m`` maximum, one instruction on SIMD hardware, and
    a separate mask of lanes that saw a NaN; a NaN anywhere makes the result NaN. (A loop
    over ``llvm.maximum`` also vectorises, but every step then needs NaN and signed-zero
    fix-ups, about twice the work.)"""
    b = ctx.builder
    vector, mask = ir.VectorType(F32, MAX_LANES), ir.VectorType(ir.IntType(1), MAX_LANES)
    best_slot, nan_slot = ctx.entry_alloca(vector), ctx.entry_alloca(mask)
    b.store(ir.Constant(vector, [float("-inf")] * MAX_LANES), best_slot)
    b.store(ir.Constant(mask, [0] * MAX_LANES), nan_slot)

    def chunk(k: ir.Value) -> None:
        x = _load_lanes(b, a_ptr, dtype, b.add(start, b.mul(k, i64(MAX_LANES))), MAX_LANES)
        best = b.load(best_slot)
        b.store(b.select(b.fcmp_ordered(">", x, best), x, best), best_slot)
        b.store(b.or_(b.load(nan_slot), b.fcmp_unordered("uno", x, x)), nan_slot)

    counted_loop(b, cols // MAX_LANES, chunk, "c")
    best, lanes = b.load(best_slot), MAX_LANES
    while lanes > 1:  # fold the upper half of the lanes onto the lower half
        lanes //= 2
        low = b.shuffle_vector(best, best, ir.Constant(ir.VectorType(I32, lanes), list(range(lanes))))
        high = b.shuffle_vector(best, best, ir.Constant(ir.VectorType(I32, lanes), list(range(lanes, 2 * lanes))))
        best = b.select(b.fcmp_ordered(">", high, low), high, low)
    result = b.extract_element(best, i64(0))
    lane_bits = ir.IntType(MAX_LANES)
    seen_nan = b.icmp_unsigned("!=", b.bitcast(b.load(nan_slot), lane_bits), ir.Constant(lane_bits, 0))
    for c in range(cols - cols % MAX_LANES, cols):
        x = load_element(b, a_ptr, dtype, b.add(start, i64(c)))
        result = b.select(b.fcmp_ordered(">", x, result), x, result)
        seen_nan = b.or_(seen_nan, _is_nan(b, x))
    return b.select(seen_nan, ir.Constant(F32, float("nan")), result)


def _reduce(ctx: VectorEmitContext, stmt: Vector) -> None:
    a_ref = _operand(ctx, stmt, "a")
    if stmt.bcast != "none":
        raise ctx.invalid(f"vpu.{stmt.op} reduces whole rows; bcast must be none, not {stmt.bcast}")
    rows, cols = stmt.dst.rows, a_ref.cols
    dtype = stmt.dtype
    a_ptr = _expect(ctx, a_ref, (rows, cols), "operand a", dtype)
    d_ptr = _expect(ctx, stmt.dst, (rows, 1), "destination", dtype)
    b = ctx.builder

    def row_body(r: ir.Value) -> None:
        start = b.mul(r, i64(cols))
        if dtype == DType.I32:
            value = _int_row_reduction(ctx, stmt.op, a_ptr, start, cols)
        elif stmt.op == "rsum":
            row_ptr = b.gep(a_ptr, [b.mul(start, i64(dtype.itemsize))])
            total = b.call(pairwise_sum_function(ctx.module, dtype, cols), [row_ptr])
            # numpy reduces onto the identity 0 (which turns a -0 sum into +0).
            value = b.fadd(ir.Constant(F32, 0.0), total)
        else:
            value = _row_max(ctx, a_ptr, dtype, start, cols)
        store_element(b, d_ptr, dtype, r, value)

    counted_loop(b, rows, row_body, "r")


def _int_row_reduction(ctx: VectorEmitContext, op: str, a_ptr: ir.Value, start: ir.Value, cols: int) -> ir.Value:
    """Sum or maximum of an i32 row in i64: plain add and max reductions, which the loop
    vectoriser widens as they are."""
    b = ctx.builder
    acc = ctx.entry_alloca(I64)
    if op == "rsum":
        b.store(i64(0), acc)
        combine: Callable[[ir.Value, ir.Value], ir.Value] = b.add
    else:
        b.store(i64(-(2**31)), acc)  # below every i32 value
        combine = lambda m, x: b.select(b.icmp_signed(">", x, m), x, m)  # noqa: E731
    counted_loop(b, cols,
                 lambda c: b.store(combine(b.load(acc), load_element(b, a_ptr, DType.I32, b.add(start, c))), acc),
                 "c")
    return b.load(acc)


# -- scalar and fill ------------------------------------------------------------------------

def _immediate(stmt: Vector) -> ir.Constant:
    imm = float(np.float32(stmt.imm))  # the instruction carries an f32 immediate
    if stmt.dtype != DType.I32:
        return ir.Constant(F32, imm)
    if not np.isfinite(imm) or abs(imm) >= 2.0**63:
        raise InvalidStatement(f"i32 vpu.{stmt.op} with immediate {stmt.imm!r}")
    return i64(int(imm))


def _fill(ctx: VectorEmitContext, stmt: Vector) -> None:
    rows, cols = stmt.dst.rows, stmt.dst.cols
    dtype = stmt.dtype
    d_ptr = _expect(ctx, stmt.dst, (rows, cols), "destination", dtype)
    try:
        value = _immediate(stmt)
    except InvalidStatement as problem:
        raise ctx.invalid(str(problem)) from None
    b = ctx.builder
    stored = narrow(b, value, dtype)  # folded to a constant
    counted_loop(b, rows * cols, lambda i: b.store(stored, element_pointer(b, d_ptr, dtype, i)), "e")


# -- top-k and nonzero ----------------------------------------------------------------------

def _precedes(b: ir.IRBuilder, is_int: bool, x: ir.Value, ix: ir.Value, y: ir.Value, iy: ir.Value) -> ir.Value:
    """Whether (x at ix) sorts before (y at iy) in ``argsort(-v, kind="stable")``: larger
    first, NaN after every number, ties by lower index."""
    earlier = b.icmp_signed("<", ix, iy)
    if is_int:
        return b.or_(b.icmp_signed(">", x, y), b.and_(b.icmp_signed("==", x, y), earlier))
    x_nan, y_nan = _is_nan(b, x), _is_nan(b, y)
    greater = b.or_(b.fcmp_ordered(">", x, y), b.and_(b.not_(x_nan), y_nan))
    equal = b.or_(b.fcmp_ordered("==", x, y), b.and_(x_nan, y_nan))
    return b.or_(greater, b.and_(equal, earlier))


def _topk(ctx: VectorEmitContext, stmt: Vector) -> None:
    a_ref, b_ref = _operand(ctx, stmt, "a"), _operand(ctx, stmt, "b")
    rows, cols, k = a_ref.rows, a_ref.cols, stmt.k
    if not 1 <= k <= cols:
        raise ctx.invalid(f"top-k with k={k} over rows of {cols}")
    dtype = stmt.dtype
    a_ptr = _expect(ctx, a_ref, (rows, cols), "input", dtype)
    v_ptr = _expect(ctx, stmt.dst, (rows, k), "values", dtype)
    i_ptr = _expect(ctx, b_ref, (rows, k), "indices", DType.I32)
    b = ctx.builder
    is_int = dtype == DType.I32
    wt = work_type(dtype)
    prev_value, prev_index = ctx.entry_alloca(wt), ctx.entry_alloca(I64)
    best_value, best_index = ctx.entry_alloca(wt), ctx.entry_alloca(I64)

    def row_body(r: ir.Value) -> None:
        start = b.mul(r, i64(cols))

        def pick(j: ir.Value) -> None:
            # The best element strictly after the previous pick in the sort order.
            b.store(i64(-1), best_index)
            first_pick = b.icmp_signed("==", j, i64(0))

            def scan(c: ir.Value) -> None:
                x = load_element(b, a_ptr, dtype, b.add(start, c))
                after_prev = b.or_(first_pick, _precedes(b, is_int, b.load(prev_value), b.load(prev_index), x, c))
                none_yet = b.icmp_signed("<", b.load(best_index), i64(0))
                better = b.or_(none_yet, _precedes(b, is_int, x, c, b.load(best_value), b.load(best_index)))
                take = b.and_(after_prev, better)
                b.store(b.select(take, x, b.load(best_value)), best_value)
                b.store(b.select(take, c, b.load(best_index)), best_index)

            b.store(ir.Constant(wt, 0 if is_int else 0.0), best_value)
            counted_loop(b, cols, scan, "c")
            out = b.add(b.mul(r, i64(k)), j)
            store_element(b, v_ptr, dtype, out, b.load(best_value))
            store_element(b, i_ptr, DType.I32, out, b.load(best_index))
            b.store(b.load(best_value), prev_value)
            b.store(b.load(best_index), prev_index)

        counted_loop(b, k, pick, "j")

    counted_loop(b, rows, row_body, "r")


def _nonzero(ctx: VectorEmitContext, stmt: Vector) -> None:
    a_ref, b_ref = _operand(ctx, stmt, "a"), _operand(ctx, stmt, "b")
    dtype = stmt.dtype
    a_ptr = _expect(ctx, a_ref, (a_ref.rows, a_ref.cols), "input", dtype)
    c_ptr = _expect(ctx, b_ref, (1, 1), "count", DType.I32)
    if ctx.local_dtype(stmt.dst) != DType.I32:
        raise ctx.invalid(f"nonzero list {stmt.dst.buffer} must be i32")
    l_ptr = ctx.local_pointer(stmt.dst)
    capacity = stmt.dst.rows * stmt.dst.cols
    b = ctx.builder
    count = ctx.entry_alloca(I64)
    b.store(i64(0), count)

    def body(i: ir.Value) -> None:
        raw = b.load(element_pointer(b, a_ptr, dtype, i))
        x = widen(b, raw, dtype)
        nonzero = b.icmp_signed("!=", x, i64(0)) if dtype == DType.I32 else b.fcmp_unordered("!=", x, ir.Constant(F32, 0.0))
        with b.if_then(nonzero):
            n = b.load(count)
            with b.if_then(b.icmp_signed(">=", n, i64(capacity)), likely=False):
                ctx.fault("nonzero-overflow", i64(capacity))
            store_element(b, l_ptr, DType.I32, n, i)
            b.store(b.add(n, i64(1)), count)

    counted_loop(b, a_ref.rows * a_ref.cols, body, "e")
    store_element(b, c_ptr, DType.I32, i64(0), b.load(count))


__all__ = ["ELEMENTWISE_KINDS", "ElementOperand", "ElementwiseForm", "InvalidStatement", "LoopStatement",
           "VectorEmitContext", "element_value", "elementwise_form", "emit_element_loop", "emit_vector",
           "pairwise_sum_function"]
