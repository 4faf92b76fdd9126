"""How the tiled IR's dtypes live in memory and in registers of the generated code.

Storage (the heap and the scratch arena) holds every dtype as itself, as numpy does: f32, f16
and bf16 as their bits (f16/bf16 as ``i16``), i64/i32/i8 as such, u8 as a byte read
zero-extended, bool as one byte holding 0 or 1. Work values follow the tiled IR's numerics
(``docs/tiled_ir.md``): every float dtype computes in f32, integers in their own width (so
arithmetic wraps as numpy's does) and bool as ``i1``. Rounding to f16/bf16 happens on store or
at an explicit cast (nearest even); integer stores need nothing (the work value already has
the width).
"""

from __future__ import annotations

from llvmlite import ir

from moecc.backend.llvm.loop_builder import F32, I1, I8, I16, I32, I64, f32_to_bf16_bits, widen
from moecc.ir.types import DType

HALF = ir.HalfType()

#: LLVM type of one stored element of each dtype.
STORAGE: dict[DType, ir.Type] = {DType.F32: F32, DType.F16: I16, DType.BF16: I16, DType.I64: I64,
                                 DType.I32: I32, DType.I8: I8, DType.U8: I8, DType.BOOL: I8}
#: LLVM type a value of each dtype computes in.
WORK: dict[DType, ir.Type] = {DType.F32: F32, DType.F16: F32, DType.BF16: F32, DType.I64: I64,
                              DType.I32: I32, DType.I8: I8, DType.U8: I8, DType.BOOL: I1}


def is_unsigned(dtype: DType) -> bool:
    """Whether integer work values of ``dtype`` compare, divide and widen unsigned."""
    return dtype in (DType.U8, DType.BOOL)


def storage_type(dtype: DType) -> ir.Type:
    return STORAGE[dtype]


def work_type(dtype: DType) -> ir.Type:
    return WORK[dtype]


def from_storage(b: ir.IRBuilder, raw: ir.Value, dtype: DType) -> ir.Value:
    """A loaded element as its work value."""
    if dtype == DType.BF16:
        return widen(b, raw, DType.BF16)  # bf16 is the top half of an f32: exact
    if dtype == DType.F16:
        return b.fpext(b.bitcast(raw, HALF), F32)
    if dtype == DType.BOOL:
        return b.icmp_unsigned("!=", raw, ir.Constant(I8, 0))
    return raw


def to_storage(b: ir.IRBuilder, value: ir.Value, dtype: DType) -> ir.Value:
    """A work value rounded (f16/bf16: nearest even, NaN stays NaN) into its stored form."""
    if dtype == DType.BF16:
        return f32_to_bf16_bits(b, value)
    if dtype == DType.F16:
        return b.bitcast(b.fptrunc(value, HALF), I16)  # fptrunc rounds to nearest even
    if dtype == DType.BOOL:
        return b.zext(value, I8)
    return value


def round_float(b: ir.IRBuilder, value: ir.Value, dtype: DType) -> ir.Value:
    """An f32 work value rounded to float ``dtype`` and widened back (an in-expression cast)."""
    if dtype == DType.F32:
        return value
    return from_storage(b, to_storage(b, value, dtype), dtype)


def int_to_wide(b: ir.IRBuilder, value: ir.Value, dtype: DType, wide: ir.IntType = I64) -> ir.Value:
    """An integer (or bool) work value extended to ``wide`` by its signedness."""
    if value.type == wide:
        return value
    if value.type.width > wide.width:
        return b.trunc(value, wide)
    return b.zext(value, wide) if is_unsigned(dtype) else b.sext(value, wide)


def _float_to_int(b: ir.IRBuilder, value: ir.Value, dst: DType) -> ir.Value:
    """Truncation toward zero as numpy does on x86 (the reference's machine): NaN and values
    outside the conversion's range (int64 for i64, int32 for narrower types, which then wrap)
    give that range's minimum, the cvtt instructions' "integer indefinite"."""
    bits = 64 if dst == DType.I64 else 32
    limit = ir.Constant(F32, float(2 ** (bits - 1)))
    in_range = b.and_(b.fcmp_ordered(">=", value, b.fneg(limit)), b.fcmp_ordered("<", value, limit))
    sat = b.module.declare_intrinsic("llvm.fptosi.sat", [I64, F32], ir.FunctionType(I64, [F32]))
    truncated = b.call(sat, [value])
    wide = b.select(in_range, truncated, ir.Constant(I64, -(2 ** (bits - 1))))
    return b.trunc(wide, WORK[dst]) if WORK[dst] != I64 else wide


def convert(b: ir.IRBuilder, value: ir.Value, src: DType, dst: DType) -> ir.Value:
    """ONNX Cast between work values (the interpreter's ``cast_array``): to bool is ``!= 0``
    (NaN is true), to a float rounds once to nearest even, float to integer truncates
    (:func:`_float_to_int`), integer to integer wraps or extends by the source's sign."""
    if src == dst:
        return value
    if dst == DType.BOOL:
        if src.is_float:
            return b.fcmp_unordered("!=", value, ir.Constant(F32, 0.0))
        return b.icmp_unsigned("!=", value, ir.Constant(value.type, 0))
    if dst.is_float:
        if src.is_float:
            return round_float(b, value, dst)
        as_f32 = b.uitofp(value, F32) if is_unsigned(src) else b.sitofp(value, F32)
        return round_float(b, as_f32, dst)
    if src.is_float:
        return _float_to_int(b, value, dst)
    return int_to_wide(b, value, src, WORK[dst])


__all__ = ["HALF", "STORAGE", "WORK", "convert", "from_storage", "int_to_wide", "is_unsigned", "round_float",
           "storage_type", "to_storage", "work_type"]
