"""One element of a tiled ``compute`` expression as straight-line LLVM IR.

:func:`emit_expr` evaluates a whole expression tree for the element the enclosing loop nest
is at: operands are loaded through a callback (the statement emitter knows the addresses),
constants are rounded to their dtype first, float ops run in f32 (transcendental ones through
:mod:`moecc.backend.llvm.vector_math`'s branch-free routines, so the loop still vectorises),
integer ops in their own width (wrapping), bool ops on ``i1``. Division by zero and
``INT_MIN / -1`` give 0 and ``INT_MIN`` (no trap) where the interpreter gives 0 and the
wrapped value. The caller converts the result to the destination's storage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from llvmlite import ir

from moecc.backend.llvm import vector_math
from moecc.backend.llvm.loop_builder import F32, I1
from moecc.backend.llvm.tiled.dtypes import WORK, convert, is_unsigned, round_float
from moecc.errors import UnsupportedError
from moecc.ir.tiled.nodes import Binary, Cast, Const, Expr, Operand, Select, Unary, View
from moecc.ir.tiled.verifier import expr_dtype
from moecc.ir.types import DType

#: Loads the work value of an operand view at the current element.
LoadFn = Callable[[View], ir.Value]

_FCMP = {"gt": ">", "ge": ">=", "eq": "==", "lt": "<", "le": "<="}


def _f32(value: float) -> ir.Constant:
    return ir.Constant(F32, float(np.float32(value)))


def _intrinsic(b: ir.IRBuilder, name: str, arity: int) -> ir.Function:
    return b.module.declare_intrinsic(name, [F32], ir.FunctionType(F32, [F32] * arity))


def _is_nan(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    return b.fcmp_unordered("uno", x, x)


def float_max(b: ir.IRBuilder, x: ir.Value, y: ir.Value, take_greater: bool = True) -> ir.Value:
    """np.maximum / np.minimum: a NaN in either operand is the result."""
    pick = b.select(b.fcmp_ordered(">" if take_greater else "<", x, y), x, y)
    return b.select(_is_nan(b, x), x, b.select(_is_nan(b, y), y, pick))


def int_max(b: ir.IRBuilder, x: ir.Value, y: ir.Value, dtype: DType, take_greater: bool = True) -> ir.Value:
    op = ">" if take_greater else "<"
    cmp = b.icmp_unsigned(op, x, y) if is_unsigned(dtype) else b.icmp_signed(op, x, y)
    return b.select(cmp, x, y)


def constant(value: float | int | bool, dtype: DType) -> ir.Constant:
    """A constant as a work value: rounded to its dtype first (a bf16 constant is the bf16 value)."""
    if dtype.is_float:
        return ir.Constant(F32, float(np.asarray(value, dtype=dtype.numpy).astype(np.float32)))
    if dtype == DType.BOOL:
        return ir.Constant(I1, int(bool(value)))
    wrapped = int(np.asarray(value).astype(dtype.numpy))
    return ir.Constant(WORK[dtype], wrapped)


def _unary_float(b: ir.IRBuilder, op: str, x: ir.Value) -> ir.Value:
    one = _f32(1.0)
    if op == "neg":
        return b.fneg(x)
    if op == "abs":
        return b.call(_intrinsic(b, "llvm.fabs", 1), [x])
    if op == "sign":
        sign = b.select(b.fcmp_ordered(">", x, _f32(0.0)), one, b.select(b.fcmp_ordered("<", x, _f32(0.0)), _f32(-1.0), _f32(0.0)))
        return b.select(_is_nan(b, x), x, sign)
    if op in ("exp", "log", "tanh", "erf", "sigmoid"):
        return getattr(vector_math, op)(b, x)
    if op == "sqrt":
        return b.call(_intrinsic(b, "llvm.sqrt", 1), [x])
    if op == "rsqrt":
        return b.fdiv(one, b.call(_intrinsic(b, "llvm.sqrt", 1), [x]))
    if op == "rcp":
        return b.fdiv(one, x)
    if op in ("sin", "cos", "floor", "ceil"):
        return b.call(_intrinsic(b, f"llvm.{op}", 1), [x])
    raise UnsupportedError(f"float op '{op}' has no CPU emitter", remedy="report it: the tiled IR defines it")


def _unary_int(b: ir.IRBuilder, op: str, x: ir.Value, dtype: DType) -> ir.Value:
    zero = ir.Constant(x.type, 0)
    if op == "not":
        return b.not_(x)
    if op == "neg":
        return b.sub(zero, x)
    if is_unsigned(dtype):
        if op == "abs":
            return x
        if op == "sign":
            return b.zext(b.icmp_unsigned("!=", x, zero), x.type)
    if op == "abs":
        return b.select(b.icmp_signed("<", x, zero), b.sub(zero, x), x)
    if op == "sign":
        positive = b.zext(b.icmp_signed(">", x, zero), x.type)
        negative = b.zext(b.icmp_signed("<", x, zero), x.type)
        return b.sub(positive, negative)
    raise UnsupportedError(f"integer op '{op}' has no CPU emitter", remedy="cast to a float dtype first")


def _binary_float(b: ir.IRBuilder, op: str, x: ir.Value, y: ir.Value) -> ir.Value:
    if op == "add":
        return b.fadd(x, y)
    if op == "sub":
        return b.fsub(x, y)
    if op == "mul":
        return b.fmul(x, y)
    if op == "div":
        return b.fdiv(x, y)
    if op in ("max", "min"):
        return float_max(b, x, y, op == "max")
    if op == "pow":
        # A constant exponent of 2 is exactly x*x (powf is correctly rounded there); 3 is
        # x*x*x, within 1.5 ulp of powf. Both vectorise; a powf call per element does not.
        if isinstance(y, ir.Constant) and y.constant in (2.0, 3.0):
            square = b.fmul(x, x)
            return square if y.constant == 2.0 else b.fmul(square, x)
        return b.call(_intrinsic(b, "llvm.pow", 2), [x, y])
    if op in _FCMP:
        return b.fcmp_ordered(_FCMP[op], x, y)
    if op == "ne":
        return b.fcmp_unordered("!=", x, y)  # NaN != anything
    raise UnsupportedError(f"float op '{op}' has no CPU emitter", remedy="report it: the tiled IR defines it")


def _int_pow(b: ir.IRBuilder, x: ir.Value, y: ir.Value, dtype: DType) -> ir.Value:
    """Square and multiply over every exponent bit (branch-free); a negative exponent gives
    ``1 / x**n`` truncated: 1 for x = 1, +-1 for x = -1, else 0 (the interpreter's int_power)."""
    typ = x.type
    one, zero = ir.Constant(typ, 1), ir.Constant(typ, 0)
    result, base, exponent = one, x, y
    for _ in range(typ.width):
        bit = b.trunc(exponent, I1)
        result = b.select(bit, b.mul(result, base), result)
        base = b.mul(base, base)
        exponent = b.lshr(exponent, one)
    if is_unsigned(dtype):
        return result
    odd = b.trunc(y, I1)
    minus_one = ir.Constant(typ, -1)
    inverse = b.select(b.icmp_signed("==", x, one), one,
                       b.select(b.icmp_signed("==", x, minus_one), b.select(odd, minus_one, one), zero))
    return b.select(b.icmp_signed("<", y, zero), inverse, result)


def _binary_int(b: ir.IRBuilder, op: str, x: ir.Value, y: ir.Value, dtype: DType) -> ir.Value:
    unsigned = is_unsigned(dtype)
    if op == "add":
        return b.or_(x, y) if x.type == I1 else b.add(x, y)
    if op == "sub":
        return b.xor(x, y) if x.type == I1 else b.sub(x, y)
    if op == "mul":
        return b.and_(x, y) if x.type == I1 else b.mul(x, y)
    if op == "div":
        zero = ir.Constant(x.type, 0)
        by_zero = b.icmp_unsigned("==", y, zero)
        if unsigned:
            return b.select(by_zero, zero, b.udiv(x, b.select(by_zero, ir.Constant(x.type, 1), y)))
        # x / -1 is -x (wrapping) without sdiv, which traps on INT_MIN / -1.
        by_minus_one = b.icmp_signed("==", y, ir.Constant(x.type, -1))
        safe = b.select(b.or_(by_zero, by_minus_one), ir.Constant(x.type, 1), y)
        quotient = b.sdiv(x, safe)
        return b.select(by_zero, zero, b.select(by_minus_one, b.sub(zero, x), quotient))
    if op in ("max", "min"):
        return int_max(b, x, y, dtype, op == "max")
    if op == "pow":
        return _int_pow(b, x, y, dtype)
    if op in ("and", "or", "xor"):
        return {"and": b.and_, "or": b.or_, "xor": b.xor}[op](x, y)
    symbol = {"gt": ">", "ge": ">=", "eq": "==", "lt": "<", "le": "<=", "ne": "!="}.get(op)
    if symbol is not None:
        return b.icmp_unsigned(symbol, x, y) if unsigned else b.icmp_signed(symbol, x, y)
    raise UnsupportedError(f"integer op '{op}' has no CPU emitter", remedy="report it: the tiled IR defines it")


def emit_expr(b: ir.IRBuilder, expr: Expr, dtypes: Mapping[str, DType], load: LoadFn) -> ir.Value:
    """The work value of ``expr`` at the current element (``dtypes``: buffer -> dtype)."""
    if isinstance(expr, Operand):
        return load(expr.view)
    if isinstance(expr, Const):
        return constant(expr.value, expr.dtype)
    if isinstance(expr, Unary):
        dtype = expr_dtype(expr.x, dtypes)
        x = emit_expr(b, expr.x, dtypes, load)
        if dtype.is_float:
            return _unary_float(b, expr.op, x)
        return _unary_int(b, expr.op, x, dtype)
    if isinstance(expr, Binary):
        dtype = expr_dtype(expr.a, dtypes)
        x = emit_expr(b, expr.a, dtypes, load)
        y = emit_expr(b, expr.b, dtypes, load)
        if dtype.is_float:
            return _binary_float(b, expr.op, x, y)
        return _binary_int(b, expr.op, x, y, dtype)
    if isinstance(expr, Select):
        cond = emit_expr(b, expr.cond, dtypes, load)
        return b.select(cond, emit_expr(b, expr.a, dtypes, load), emit_expr(b, expr.b, dtypes, load))
    if isinstance(expr, Cast):
        src = expr_dtype(expr.x, dtypes)
        value = emit_expr(b, expr.x, dtypes, load)
        if src == expr.dtype and src.is_float:
            return round_float(b, value, src)  # a same-type cast of a float still rounds
        return convert(b, value, src, expr.dtype)
    raise UnsupportedError(f"not a tiled-IR expression: {type(expr).__name__}", remedy="verify the module")


__all__ = ["LoadFn", "constant", "emit_expr", "float_max", "int_max"]
