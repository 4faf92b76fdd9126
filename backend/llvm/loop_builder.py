"""Counted loops and typed element access for llvmlite IR builders.

Used by the tiled-IR code generator (:mod:`moecc.backend.llvm.tiled`), the sgemm and the
thread pool: every loop the CPU backend emits is a
``for i in range(count)`` with a phi-node induction variable, so the O3 pipeline sees the
canonical form its loop vectoriser and unroller expect. Element loads and stores convert the
kernel IR's storage dtypes (f32, bf16, i32) to and from the working types the VPU semantics
use (f32 for floats, i64 for integers, as :mod:`moecc.ir.kernel_interpreter` does).
"""

from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir

from moecc.errors import UnsupportedError
from moecc.ir.types import DType

I1 = ir.IntType(1)
I8 = ir.IntType(8)
I16 = ir.IntType(16)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
F32 = ir.FloatType()
F64 = ir.DoubleType()
I8_PTR = I8.as_pointer()

#: Storage type of each kernel dtype in memory.
STORAGE_TYPES: dict[DType, ir.Type] = {DType.F32: F32, DType.BF16: I16, DType.I32: I32}


def i64(value: int) -> ir.Constant:
    return ir.Constant(I64, value)


def counted_loop(builder: ir.IRBuilder, count: ir.Value | int, body: Callable[[ir.Value], None], name: str = "i") -> None:
    """Emit ``for i in range(count): body(i)`` (i64 induction variable in a phi node).

    ``body`` emits into the builder, which is left positioned after the loop."""
    trip = i64(count) if isinstance(count, int) else count
    function = builder.function
    before = builder.block
    header = function.append_basic_block(f"{name}.head")
    inner = function.append_basic_block(f"{name}.body")
    after = function.append_basic_block(f"{name}.end")
    builder.branch(header)
    builder.position_at_end(header)
    index = builder.phi(I64, name=name)
    index.add_incoming(i64(0), before)
    builder.cbranch(builder.icmp_signed("<", index, trip), inner, after)
    builder.position_at_end(inner)
    body(index)
    following = builder.add(index, i64(1), name=f"{name}.next")
    index.add_incoming(following, builder.block)
    builder.branch(header)
    builder.position_at_end(after)


def element_pointer(builder: ir.IRBuilder, base: ir.Value, dtype: DType, index: ir.Value) -> ir.Value:
    """Pointer to element ``index`` of an array of ``dtype`` starting at byte pointer ``base``."""
    typed = builder.bitcast(base, storage_type(dtype).as_pointer())
    return builder.gep(typed, [index], inbounds=True)


def storage_type(dtype: DType) -> ir.Type:
    try:
        return STORAGE_TYPES[dtype]
    except KeyError:
        raise UnsupportedError(f"the CPU backend has no storage for kernel dtype {dtype}",
                               remedy="kernel IR buffers are f32, bf16 or i32") from None


def work_type(dtype: DType) -> ir.Type:
    """The type element-wise semantics compute in: f32 for float dtypes, i64 for i32 (whose
    wrap-around on store then matches numpy's int64 arithmetic cast back to int32)."""
    return I64 if dtype == DType.I32 else F32


def load_element(builder: ir.IRBuilder, base: ir.Value, dtype: DType, index: ir.Value) -> ir.Value:
    """Load element ``index`` and widen it to :func:`work_type`."""
    raw = builder.load(element_pointer(builder, base, dtype, index))
    return widen(builder, raw, dtype)


def widen(builder: ir.IRBuilder, raw: ir.Value, dtype: DType) -> ir.Value:
    if dtype == DType.F32:
        return raw
    if dtype == DType.I32:
        return builder.sext(raw, I64)
    # bf16 is the top half of an f32: widening is exact.
    return builder.bitcast(builder.shl(builder.zext(raw, I32), ir.Constant(I32, 16)), F32)


def store_element(builder: ir.IRBuilder, base: ir.Value, dtype: DType, index: ir.Value, value: ir.Value) -> None:
    """Narrow a work value to ``dtype`` and store it as element ``index``."""
    builder.store(narrow(builder, value, dtype), element_pointer(builder, base, dtype, index))


def narrow(builder: ir.IRBuilder, value: ir.Value, dtype: DType) -> ir.Value:
    """Work value -> storage value: f32 as is, i64 truncated (wraps like numpy's astype),
    bf16 rounded to nearest even as ml_dtypes does (NaN stays a quiet NaN)."""
    if dtype == DType.F32:
        return value
    if dtype == DType.I32:
        return builder.trunc(value, I32)
    return f32_to_bf16_bits(builder, value)


def f32_to_bf16_bits(builder: ir.IRBuilder, value: ir.Value) -> ir.Value:
    bits = builder.bitcast(value, I32)
    upper = builder.lshr(bits, ir.Constant(I32, 16))
    bias = builder.add(ir.Constant(I32, 0x7FFF), builder.and_(upper, ir.Constant(I32, 1)))
    rounded = builder.lshr(builder.add(bits, bias), ir.Constant(I32, 16))
    quiet_nan = builder.or_(upper, ir.Constant(I32, 0x40))
    is_nan = builder.fcmp_unordered("uno", value, value)
    return builder.trunc(builder.select(is_nan, quiet_nan, rounded), I16)


__all__ = [
    "F32", "F64", "I1", "I8", "I8_PTR", "I16", "I32", "I64", "STORAGE_TYPES",
    "counted_loop", "element_pointer", "f32_to_bf16_bits", "i64", "load_element", "narrow",
    "storage_type", "store_element", "widen", "work_type",
]
