"""Graph-IR ops of CPU steps → LLVM functions over the heap arena.

Where it sits: kernel lowering (:mod:`moecc.passes.kernel_lowering`) leaves the graph ops no
lowering rule covers in :class:`~moecc.ir.kernel.CpuCall` steps. :func:`compile_cpu_steps`
turns each step into one JIT-compiled function ``void cpu_step(i8* heap)`` that reads its
operands from their HBM buffers (planned byte offsets, each in its buffer's dtype: the storage
dtype the target gave the value, :attr:`~moecc.isa_spec.target.Target.storage_dtypes`; on the
ASIC f16 as f32, every integer as i32 and bool as f32 0/1, on the CPU every dtype as itself,
bool as one byte 0/1), runs the step's ops in order and writes the step's outputs back. The ``cpu`` and ``asic`` runtimes call these instead of the reference interpreter. Every
registered op kind but ``const`` has an emitter for every dtype the registry allows it; a step
holding an op without one maps to ``None`` and stays on the interpreter
(:func:`unsupported_reason` says why).

:func:`emit_step` emits one step as a function ``name(i8* heap)`` into an existing llvmlite
module, so several steps can share one module: the globals a step creates (temporaries,
constants) are prefixed by its function name, intrinsics and libm functions are declared once
per module, and every step of a module raises the one fault flag ``graph_ops_fault``.
:func:`build_step_module` is the one-step module (function ``cpu_step``) the JIT compiles.

The emitters are generic and table-driven: every op is either *pointwise* (a function from an
output index to the element's value: element-wise ops with numpy broadcasting, shape ops,
gathers, reductions, arg_max/min, trilu, one_hot, matmul/gemm/einsum as a sum of products per
element) emitted inside one loop nest over the output (a gather whose data and result are
stored alike copies whole blocks instead, :func:`_gather_rows`), or *line-wise* (softmax, log_softmax,
cumsum, layer_norm, rms_norm, rotary_embedding: loops along one axis or block per line) or
custom (concat, scatters, attention per query row, gated_mlp and moe per token), or
*multi-result* (top_k: values and indices).

Values work in f32 (every float dtype), i64 (every integer dtype) and i1 (bool), as the
reference interpreter computes (f16/bf16 ops compute in f32 and round the result once). Every
store rounds or wraps the value to its graph dtype (:data:`FIT`: f16 and bf16 round to nearest
even, i32/i8/u8 truncate and sign- or zero-extend like numpy's cast back), so each op's result
matches the reference's rounding; loads fit the stored value to its dtype again, as the
interpreter's ``from_hbm`` does. Only attention rounds its intermediates, because its reference
computes in the operands' own dtype step by step. Intermediates live in module globals
(single-threaded runtime); they and constants are held in the graph dtype itself. An
out-of-range gather/scatter index reads (or writes) element 0 instead and, if it is the step's
first, records itself in the module's fault cells: :data:`FAULT_FLAG` holds one plus the op's
position in its step, :data:`FAULT_INDEX` the index as given, :data:`FAULT_BOUND` the size of
the indexed axis. The Python wrapper (or :class:`~moecc.backend.llvm.codegen.CpuProgram` for
steps compiled into a whole-model program) turns them into the
:func:`~moecc.ir.ops.indexing.index_out_of_range` error naming the node, the input and the
value.
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from llvmlite import ir

from moecc.backend.llvm.jit import compile_module
from moecc.backend.llvm.loop_builder import (
    F32,
    F64,
    I1,
    I8,
    I8_PTR,
    I16,
    I32,
    I64,
    counted_loop,
    f32_to_bf16_bits,
    i64,
    widen,
)
from moecc.errors import MoeccError, UnsupportedError
from moecc.ir.builder import const_value
from moecc.ir.graph import Graph, Op, Value
from moecc.ir.kernel import CpuCall, KernelModule
from moecc.ir.ops.common import normalize_axis
from moecc.ir.ops.elementwise import clip_bound
from moecc.ir.ops.indexing import index_out_of_range
from moecc.ir.ops.linalg import ELLIPSIS, parse_einsum
from moecc.ir.ops.reduction import reduction_axes
from moecc.ir.types import DType

#: Graph dtypes the emitters handle: all of them.
SUPPORTED_DTYPES: frozenset[DType] = frozenset(DType)

#: The fault cells every step of a module shares: the flag (0, or 1 + the faulting op's
#: position in its step), the index as given and the size of the axis it indexes.
FAULT_FLAG = "graph_ops_fault"
FAULT_INDEX = "graph_ops_fault_index"
FAULT_BOUND = "graph_ops_fault_bound"

HALF = ir.HalfType()

#: LLVM type of each storage dtype (heap buffers, step globals): f16 and bf16 as their 16 bits,
#: bool as a byte holding 0 or 1 (numpy's ``bool_``), u8 as a byte read zero-extended.
STORAGE: dict[DType, ir.Type] = {DType.F32: F32, DType.F16: I16, DType.BF16: I16, DType.I64: I64, DType.I32: I32,
                                 DType.I8: I8, DType.U8: I8, DType.BOOL: I8}

StepFunction = Callable[[np.ndarray], None]


@dataclass(frozen=True, slots=True)
class Tensor:
    """A graph value's storage in generated code: byte pointer, graph dtype, shape, and the
    dtype its elements are stored in (a heap tensor: its buffer's dtype; by default the graph
    dtype itself, as step globals hold it)."""

    pointer: ir.Value
    dtype: DType
    shape: tuple[int, ...]
    storage: DType | None = None

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def stored(self) -> DType:
        return self.storage if self.storage is not None else self.dtype


def _work(dtype: DType) -> ir.Type:
    """The type values of ``dtype`` compute in."""
    if dtype == DType.BOOL:
        return I1
    return I64 if dtype.is_int else F32


def _wrap_to(bits: int, signed: bool) -> Callable[[ir.IRBuilder, ir.Value], ir.Value]:
    def wrap(b: ir.IRBuilder, value: ir.Value) -> ir.Value:
        narrow = b.trunc(value, ir.IntType(bits))
        return b.sext(narrow, I64) if signed else b.zext(narrow, I64)
    return wrap


def _round_f16(b: ir.IRBuilder, value: ir.Value) -> ir.Value:
    # fptrunc rounds to nearest even (overflow to inf, NaN stays NaN), as numpy's astype does.
    return b.fpext(b.fptrunc(value, HALF), F32)


def _round_bf16(b: ir.IRBuilder, value: ir.Value) -> ir.Value:
    return widen(b, f32_to_bf16_bits(b, value), DType.BF16)


#: A work value rounded (floats) or wrapped (integers) to a graph dtype: what numpy's cast of
#: an f32/i64 result back to the dtype gives.
FIT: dict[DType, Callable[[ir.IRBuilder, ir.Value], ir.Value]] = {
    DType.F32: lambda b, v: v,
    DType.F16: _round_f16,
    DType.BF16: _round_bf16,
    DType.I64: lambda b, v: v,
    DType.I32: _wrap_to(32, True),
    DType.I8: _wrap_to(8, True),
    DType.U8: _wrap_to(8, False),
    DType.BOOL: lambda b, v: v,
}


def _fit(b: ir.IRBuilder, value: ir.Value, dtype: DType) -> ir.Value:
    return FIT[dtype](b, value)


def _from_storage(b: ir.IRBuilder, raw: ir.Value, stored: DType, dtype: DType) -> ir.Value:
    """A loaded storage element as a work value of ``dtype``."""
    if dtype == DType.BOOL:
        if stored == DType.F32:  # the ASIC's 0/1 f32
            return b.fcmp_unordered("!=", raw, ir.Constant(F32, 0.0))
        return b.icmp_unsigned("!=", raw, ir.Constant(raw.type, 0))
    if stored in (DType.I32, DType.I8):
        raw = b.sext(raw, I64)
    elif stored == DType.U8:
        raw = b.zext(raw, I64)
    elif stored == DType.BF16:
        raw = widen(b, raw, DType.BF16)
    elif stored == DType.F16:
        raw = b.fpext(b.bitcast(raw, HALF), F32)
    return _fit(b, raw, dtype)


def _to_storage(b: ir.IRBuilder, value: ir.Value, stored: DType, dtype: DType) -> ir.Value:
    """A work value of ``dtype`` fitted to the dtype and converted to its storage."""
    if dtype == DType.BOOL:
        return b.uitofp(value, F32) if stored == DType.F32 else b.zext(value, STORAGE[stored])
    if stored == DType.BF16:
        return f32_to_bf16_bits(b, value)  # rounds to nearest even itself
    if stored == DType.F16:
        return b.bitcast(b.fptrunc(value, HALF), I16)  # rounds to nearest even, as numpy's cast
    value = _fit(b, value, dtype)
    return value if stored in (DType.F32, DType.I64) else b.trunc(value, STORAGE[stored])


class StepEmitter:
    """Builds one step's function; the ops' emitters use its helpers.

    Globals it creates are named after the function, so several steps can share a module;
    the fault flag is the module's one ``graph_ops_fault``."""

    def __init__(self, module: ir.Module, name: str) -> None:
        self.module = module
        self.name = name
        self.function = ir.Function(module, ir.FunctionType(ir.VoidType(), [I8_PTR]), name=name)
        self.heap = self.function.args[0]
        self.entry = self.function.append_basic_block("entry")
        body = self.function.append_basic_block("body")
        self.builder = ir.IRBuilder(self.entry)
        self.builder.branch(body)
        self.builder.position_at_end(body)
        self.fault = _module_cell(module, FAULT_FLAG, I32)
        self.fault_index = _module_cell(module, FAULT_INDEX, I64)
        self.fault_bound = _module_cell(module, FAULT_BOUND, I64)
        #: Position in the step of the op being emitted (what a fault records).
        self.op_position = 0
        self._globals = 0

    # -- storage --------------------------------------------------------------------------
    def at_offset(self, offset: int) -> ir.Value:
        return self.builder.gep(self.heap, [i64(offset)], inbounds=True)

    def _global_name(self, what: str) -> str:
        self._globals += 1
        return f"{self.name}.{what}{self._globals}"

    def scratch(self, dtype: DType, shape: tuple[int, ...]) -> Tensor:
        """A temporary tensor of ``dtype`` and ``shape``: a zeroed module global holding the
        dtype itself."""
        size = max(math.prod(shape), 1)
        storage = STORAGE[dtype]
        variable = ir.GlobalVariable(self.module, ir.ArrayType(storage, size), name=self._global_name("tmp"))
        variable.initializer = ir.Constant(variable.type.pointee, None)
        variable.align = 64
        return Tensor(self.builder.bitcast(variable, I8_PTR), dtype, shape)

    def constant(self, data: np.ndarray, dtype: DType) -> Tensor:
        """A constant operand as a module global holding its graph dtype itself."""
        stored = dtype
        raw = np.asarray(data).astype(dtype.numpy)
        payload = bytearray(np.ascontiguousarray(raw).tobytes()) or bytearray(8)
        variable = ir.GlobalVariable(self.module, ir.ArrayType(I8, len(payload)), name=self._global_name("const"))
        variable.initializer = ir.Constant(variable.type.pointee, payload)
        variable.global_constant = True
        variable.align = 64
        return Tensor(self.builder.bitcast(variable, I8_PTR), dtype, tuple(np.shape(data)), stored)

    def _element(self, t: Tensor, flat: ir.Value) -> ir.Value:
        b = self.builder
        return b.gep(b.bitcast(t.pointer, STORAGE[t.stored].as_pointer()), [flat], inbounds=True)

    def load(self, t: Tensor, flat: ir.Value) -> ir.Value:
        return _from_storage(self.builder, self.builder.load(self._element(t, flat)), t.stored, t.dtype)

    def store(self, t: Tensor, flat: ir.Value, value: ir.Value) -> None:
        self.builder.store(_to_storage(self.builder, value, t.stored, t.dtype), self._element(t, flat))

    # -- indexing -------------------------------------------------------------------------
    def flat(self, shape: Sequence[int], index: Sequence[ir.Value]) -> ir.Value:
        total: ir.Value = i64(0)
        stride = 1
        for dim, idx in reversed(list(zip(shape, index))):
            if dim != 1:
                total = self.builder.add(total, self.builder.mul(idx, i64(stride)))
            stride *= dim
        return total

    def load_at(self, t: Tensor, index: Sequence[ir.Value]) -> ir.Value:
        return self.load(t, self.flat(t.shape, index))

    def load_broadcast(self, t: Tensor, out_index: Sequence[ir.Value]) -> ir.Value:
        """Element of ``t`` at an output index under numpy broadcasting."""
        tail = list(out_index[len(out_index) - len(t.shape):]) if t.shape else []
        index = [i64(0) if d == 1 else idx for d, idx in zip(t.shape, tail)]
        return self.load_at(t, index)

    def nest(self, shape: Sequence[int], body: Callable[[list[ir.Value]], None], name: str = "d") -> None:
        """Loops over every index of ``shape`` (row-major), calling ``body`` innermost."""
        def level(depth: int, index: list[ir.Value]) -> None:
            if depth == len(shape):
                body(index)
                return
            counted_loop(self.builder, shape[depth], lambda i: level(depth + 1, index + [i]), name=f"{name}{depth}")
        level(0, [])

    def entry_alloca(self, typ: ir.Type) -> ir.Value:
        with self.builder.goto_block(self.entry):
            self.builder.position_at_start(self.entry)
            return self.builder.alloca(typ)

    def checked_index(self, raw: ir.Value, size: int) -> ir.Value:
        """An index wrapped from ``[-size, 0)``; out of ``[-size, size)`` it reads element 0
        (never outside the heap) and, unless a fault is recorded already, records the op's
        position, the index and ``size`` in the fault cells."""
        b = self.builder
        wrapped = b.select(b.icmp_signed("<", raw, i64(0)), b.add(raw, i64(size)), raw)
        bad = b.or_(b.icmp_signed("<", wrapped, i64(0)), b.icmp_signed(">=", wrapped, i64(size)))
        with b.if_then(bad, likely=False):
            with b.if_then(b.icmp_signed("==", b.load(self.fault), ir.Constant(I32, 0))):
                b.store(ir.Constant(I32, self.op_position + 1), self.fault)
                b.store(raw, self.fault_index)
                b.store(i64(size), self.fault_bound)
        return b.select(bad, i64(0), wrapped)

    def intrinsic(self, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
        existing = self.module.globals.get(name)
        if existing is not None:
            return existing
        return ir.Function(self.module, ir.FunctionType(ret, args), name=name)

    def call(self, name: str, *args: ir.Value, typ: ir.Type = F32) -> ir.Value:
        return self.builder.call(self.intrinsic(name, typ, [typ] * len(args)), list(args))


def _module_cell(module: ir.Module, name: str, typ: ir.Type) -> ir.GlobalVariable:
    """The module's zero-initialised global ``name`` (declared by its first user)."""
    cell = module.globals.get(name)
    if cell is None:
        cell = ir.GlobalVariable(module, typ, name=name)
        cell.initializer = ir.Constant(typ, 0)
    return cell


# -- scalar semantics -----------------------------------------------------------------------

def _f(value: float) -> ir.Constant:
    return ir.Constant(F32, value)


def _is_nan(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    return b.fcmp_unordered("uno", x, x)


def _max(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    """np.maximum: NaN propagates (floats); signed max (integers); or (bool)."""
    if x.type == I1:
        return b.or_(x, y)
    if x.type == I64:
        return b.select(b.icmp_signed(">", x, y), x, y)
    return b.select(_is_nan(b, x), x, b.select(b.fcmp_unordered(">=", x, y), x, y))


def _min(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    if x.type == I1:
        return b.and_(x, y)
    if x.type == I64:
        return b.select(b.icmp_signed("<", x, y), x, y)
    return b.select(_is_nan(b, x), x, b.select(b.fcmp_unordered("<=", x, y), x, y))


def _softplus(e: StepEmitter, x: ir.Value) -> ir.Value:
    b = e.builder
    absolute = e.call("llvm.fabs.f32", x)
    tail = e.call("log1pf", e.call("llvm.exp.f32", b.fneg(absolute)))
    return b.fadd(_max(b, x, _f(0.0)), tail)


def _erf64(e: StepEmitter, x64: ir.Value) -> ir.Value:
    return e.call("erf", x64, typ=F64)


def _gelu(e: StepEmitter, x: ir.Value, attrs: Mapping[str, Any]) -> ir.Value:
    b = e.builder
    wide = b.fpext(x, F64)
    half = ir.Constant(F64, 0.5)
    one = ir.Constant(F64, 1.0)
    if attrs["approximate"] == "tanh":
        cube = b.fmul(b.fmul(wide, wide), wide)
        inner = b.fmul(ir.Constant(F64, math.sqrt(2 / math.pi)), b.fadd(wide, b.fmul(ir.Constant(F64, 0.044715), cube)))
        result = b.fmul(b.fmul(half, wide), b.fadd(one, e.call("tanh", inner, typ=F64)))
    else:
        scaled = b.fdiv(wide, ir.Constant(F64, math.sqrt(2)))
        result = b.fmul(b.fmul(half, wide), b.fadd(one, _erf64(e, scaled)))
    return b.fptrunc(result, F32)


def _hard_sigmoid(b: ir.IRBuilder, x: ir.Value, alpha: float, beta: float) -> ir.Value:
    linear = b.fadd(b.fmul(x, _f(float(np.float32(alpha)))), _f(float(np.float32(beta))))
    return _min(b, _max(b, linear, _f(0.0)), _f(1.0))


def _sigmoid(e: StepEmitter, x: ir.Value) -> ir.Value:
    b = e.builder
    t = e.call("llvm.exp.f32", b.fneg(e.call("llvm.fabs.f32", x)))
    denominator = b.fadd(_f(1.0), t)
    return b.select(b.fcmp_ordered(">=", x, _f(0.0)), b.fdiv(_f(1.0), denominator), b.fdiv(t, denominator))


def _sign(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    if x.type == I64:
        positive = b.zext(b.icmp_signed(">", x, i64(0)), I64)
        negative = b.zext(b.icmp_signed("<", x, i64(0)), I64)
        return b.sub(positive, negative)
    return b.select(b.fcmp_ordered(">", x, _f(0.0)), _f(1.0), b.select(b.fcmp_ordered("<", x, _f(0.0)), _f(-1.0), x))


UnaryEmitter = Callable[[StepEmitter, ir.Value, Mapping[str, Any]], ir.Value]

FLOAT_UNARY: dict[str, UnaryEmitter] = {
    "neg": lambda e, x, a: e.builder.fneg(x),
    "abs": lambda e, x, a: e.call("llvm.fabs.f32", x),
    "sign": lambda e, x, a: _sign(e.builder, x),
    "relu": lambda e, x, a: _max(e.builder, x, _f(0.0)),
    "exp": lambda e, x, a: e.call("llvm.exp.f32", x),
    "log": lambda e, x, a: e.call("llvm.log.f32", x),
    "sqrt": lambda e, x, a: e.call("llvm.sqrt.f32", x),
    "reciprocal": lambda e, x, a: e.builder.fdiv(_f(1.0), x),
    "tanh": lambda e, x, a: e.call("tanhf", x),
    "erf": lambda e, x, a: e.builder.fptrunc(_erf64(e, e.builder.fpext(x, F64)), F32),
    "sigmoid": lambda e, x, a: _sigmoid(e, x),
    "sin": lambda e, x, a: e.call("llvm.sin.f32", x),
    "cos": lambda e, x, a: e.call("llvm.cos.f32", x),
    "floor": lambda e, x, a: e.call("llvm.floor.f32", x),
    "ceil": lambda e, x, a: e.call("llvm.ceil.f32", x),
    "softplus": lambda e, x, a: _softplus(e, x),
    "hard_swish": lambda e, x, a: e.builder.fmul(x, _hard_sigmoid(e.builder, x, 1 / 6, 0.5)),
    "mish": lambda e, x, a: e.builder.fmul(x, e.call("tanhf", _softplus(e, x))),
    "gelu": _gelu,
    "leaky_relu": lambda e, x, a: e.builder.select(
        e.builder.fcmp_ordered("<", x, _f(0.0)), e.builder.fmul(x, _f(float(np.float32(a["alpha"])))), x),
    "hard_sigmoid": lambda e, x, a: _hard_sigmoid(e.builder, x, a["alpha"], a["beta"]),
    "is_nan": lambda e, x, a: _is_nan(e.builder, x),
    "is_inf": lambda e, x, a: _is_inf(e, x, a),
}

INT_UNARY: dict[str, UnaryEmitter] = {
    "neg": lambda e, x, a: e.builder.sub(i64(0), x),
    "abs": lambda e, x, a: e.builder.select(e.builder.icmp_signed("<", x, i64(0)), e.builder.sub(i64(0), x), x),
    "sign": lambda e, x, a: _sign(e.builder, x),
    "relu": lambda e, x, a: _max(e.builder, x, i64(0)),
}

BOOL_UNARY: dict[str, UnaryEmitter] = {
    "not": lambda e, x, a: e.builder.xor(x, ir.Constant(I1, 1)),
}


def _is_inf(e: StepEmitter, x: ir.Value, attrs: Mapping[str, Any]) -> ir.Value:
    b = e.builder
    result = ir.Constant(I1, 0)
    if attrs["detect_positive"]:
        result = b.or_(result, b.fcmp_ordered("==", x, _f(math.inf)))
    if attrs["detect_negative"]:
        result = b.or_(result, b.fcmp_ordered("==", x, _f(-math.inf)))
    return result


BinaryEmitter = Callable[[StepEmitter, ir.Value, ir.Value, Mapping[str, Any]], ir.Value]


def _float_mod(e: StepEmitter, x: ir.Value, y: ir.Value, attrs: Mapping[str, Any]) -> ir.Value:
    b = e.builder
    remainder = b.frem(x, y)
    if attrs["fmod"]:
        return remainder
    # np.mod: the result takes the divisor's sign.
    differs = b.and_(b.fcmp_ordered("!=", remainder, _f(0.0)),
                     b.xor(b.fcmp_ordered("<", remainder, _f(0.0)), b.fcmp_ordered("<", y, _f(0.0))))
    return b.select(differs, b.fadd(remainder, y), remainder)


def _int_div(e: StepEmitter, x: ir.Value, y: ir.Value, attrs: Mapping[str, Any]) -> ir.Value:
    b = e.builder
    zero = b.icmp_signed("==", y, i64(0))
    return b.select(zero, i64(0), b.sdiv(x, b.select(zero, i64(1), y)))


def _int_mod(e: StepEmitter, x: ir.Value, y: ir.Value, attrs: Mapping[str, Any]) -> ir.Value:
    b = e.builder
    zero = b.icmp_signed("==", y, i64(0))
    remainder = b.select(zero, i64(0), b.srem(x, b.select(zero, i64(1), y)))
    if attrs["fmod"]:
        return remainder
    differs = b.and_(b.icmp_signed("!=", remainder, i64(0)),
                     b.xor(b.icmp_signed("<", remainder, i64(0)), b.icmp_signed("<", y, i64(0))))
    return b.select(differs, b.add(remainder, y), remainder)


_COMPARES = {"equal": "==", "less": "<", "greater": ">", "less_equal": "<=", "greater_equal": ">="}

FLOAT_BINARY: dict[str, BinaryEmitter] = {
    "add": lambda e, x, y, a: e.builder.fadd(x, y),
    "sub": lambda e, x, y, a: e.builder.fsub(x, y),
    "mul": lambda e, x, y, a: e.builder.fmul(x, y),
    "div": lambda e, x, y, a: e.builder.fdiv(x, y),
    "pow": lambda e, x, y, a: e.call("llvm.pow.f32", x, y),
    "max": lambda e, x, y, a: _max(e.builder, x, y),
    "min": lambda e, x, y, a: _min(e.builder, x, y),
    "mod": _float_mod,
    **{k: (lambda op: lambda e, x, y, a: e.builder.fcmp_ordered(op, x, y))(v) for k, v in _COMPARES.items()},
}

def _int_pow(e: StepEmitter, x: ir.Value, y: ir.Value, attrs: Mapping[str, Any]) -> ir.Value:
    """The reference's ``int_power``: ``x ** y`` by square-and-multiply over the exponent's
    bits (wrapping mod 2**64, which the store's wrap to the dtype finishes as numpy's power in
    the dtype would); a negative exponent gives ``1 / x**|y|`` truncated: 1 for x == 1, +-1 by
    parity for x == -1 (a u8 operand is never -1: it is zero-extended), else 0."""
    b = e.builder
    result, base = e.entry_alloca(I64), e.entry_alloca(I64)
    b.store(i64(1), result)
    b.store(x, base)

    def square_and_multiply(bit: ir.Value) -> None:
        current, square = b.load(result), b.load(base)
        taken = b.icmp_signed("!=", b.and_(b.lshr(y, bit), i64(1)), i64(0))
        b.store(b.select(taken, b.mul(current, square), current), result)
        b.store(b.mul(square, square), base)

    counted_loop(b, 63, square_and_multiply, name="p")  # bits 0..62 of a non-negative i64
    odd = b.icmp_signed("!=", b.and_(y, i64(1)), i64(0))
    inverse = b.select(b.icmp_signed("==", x, i64(1)), i64(1),
                       b.select(b.icmp_signed("==", x, i64(-1)), b.select(odd, i64(-1), i64(1)), i64(0)))
    return b.select(b.icmp_signed("<", y, i64(0)), inverse, b.load(result))


INT_BINARY: dict[str, BinaryEmitter] = {
    "add": lambda e, x, y, a: e.builder.add(x, y),
    "sub": lambda e, x, y, a: e.builder.sub(x, y),
    "mul": lambda e, x, y, a: e.builder.mul(x, y),
    "div": _int_div,
    "pow": _int_pow,
    "max": lambda e, x, y, a: _max(e.builder, x, y),
    "min": lambda e, x, y, a: _min(e.builder, x, y),
    "mod": _int_mod,
    **{k: (lambda op: lambda e, x, y, a: e.builder.icmp_signed(op, x, y))(v) for k, v in _COMPARES.items()},
}

BOOL_BINARY: dict[str, BinaryEmitter] = {
    "and": lambda e, x, y, a: e.builder.and_(x, y),
    "or": lambda e, x, y, a: e.builder.or_(x, y),
    "xor": lambda e, x, y, a: e.builder.xor(x, y),
    "equal": lambda e, x, y, a: e.builder.icmp_unsigned("==", x, y),
}


def _float_to_int(e: StepEmitter, value: ir.Value, dst: DType) -> ir.Value:
    """numpy's float → integer cast on x86, the reference's machine: truncation toward zero;
    NaN and values outside the conversion's range (int64 for i64, int32 for the narrower
    types, which then wrap) give that range's minimum, the "integer indefinite" value of the
    cvtt instructions. ONNX leaves out-of-range casts undefined; this matches the reference."""
    b = e.builder
    bits = 64 if dst == DType.I64 else 32
    limit = ir.Constant(value.type, float(2 ** (bits - 1)))
    in_range = b.and_(b.fcmp_ordered(">=", value, b.fneg(limit)), b.fcmp_ordered("<", value, limit))
    suffix = "f32" if value.type == F32 else "f64"
    truncated = b.call(e.intrinsic(f"llvm.fptosi.sat.i64.{suffix}", I64, [value.type]), [value])
    return b.select(in_range, truncated, i64(-(2 ** (bits - 1))))


def _convert(e: StepEmitter, value: ir.Value, src: DType, dst: DType) -> ir.Value:
    """ONNX Cast between work values, as the reference's ``cast_array``: to bool is ``!= 0``
    (NaN is True); to a float rounds to nearest even (integers go through f32, as ml_dtypes
    converts them); float → int truncates (:func:`_float_to_int`); int → int wraps."""
    b = e.builder
    if dst == DType.BOOL:
        if src == DType.BOOL:
            return value
        if value.type == F32:
            return b.fcmp_unordered("!=", value, _f(0.0))
        return b.icmp_signed("!=", value, i64(0))
    if dst.is_float:
        if value.type == I1:
            value = b.uitofp(value, F32)
        elif value.type == I64:
            value = b.sitofp(value, F32)
        return _fit(b, value, dst)
    if value.type == I1:
        wide = b.zext(value, I64)
    elif value.type == F32:
        wide = _float_to_int(e, value, dst)
    else:
        wide = value
    return _fit(b, wide, dst)


# -- op emitters --------------------------------------------------------------------------

PointwiseEmitter = Callable[[StepEmitter, Op, list[Tensor], Tensor, list[ir.Value]], ir.Value]


def _elementwise(e: StepEmitter, op: Op, ins: list[Tensor], out: Tensor, index: list[ir.Value]) -> ir.Value:
    values = [e.load_broadcast(t, index) for t in ins]
    dtype = ins[0].dtype if ins else out.dtype
    kind = op.kind
    if kind == "where":
        return e.builder.select(values[0], values[1], values[2])
    if kind == "cast":
        return _convert(e, values[0], dtype, op.attrs["to"])
    if kind == "clip":
        x = values[0]
        for name, combine in (("min", _max), ("max", _min)):
            if op.attrs.get(name) is not None:
                bound = clip_bound(op.attrs[name], op.operands[0].type.dtype.numpy)
                const = _f(float(bound)) if x.type == F32 else i64(int(bound))
                x = combine(e.builder, x, const)
        return x
    table = _unary_table(dtype) if len(values) == 1 else _binary_table(dtype)
    return table[kind](e, *values, op.attrs)  # the store rounds or wraps to the dtype


def _unary_table(dtype: DType) -> Mapping[str, UnaryEmitter]:
    return BOOL_UNARY if dtype == DType.BOOL else INT_UNARY if dtype.is_int else FLOAT_UNARY


def _binary_table(dtype: DType) -> Mapping[str, BinaryEmitter]:
    return BOOL_BINARY if dtype == DType.BOOL else INT_BINARY if dtype.is_int else FLOAT_BINARY


def _reshape(e: StepEmitter, op: Op, ins: list[Tensor], out: Tensor, index: list[ir.Value]) -> ir.Value:
    return e.load(ins[0], e.flat(out.shape, index))


def _transpose(e: StepEmitter, op: Op, ins: list[Tensor], out: Tensor, index: list[ir.Value]) -> ir.Value:
    source: list[ir.Value] = [i64(0)] * len(index)
    for out_axis, in_axis in enumerate(op.attrs["perm"]):
        source[in_axis] = index[out_axis]
    return e.load_at(ins[0], source)


def _expand(e: StepEmitter, op: Op, ins: list[Tensor], out: Tensor, index: list[ir.Value]) -> ir.Value:
    return e.load_broadcast(ins[0], index)


def _tile(e: StepEmitter, op: Op, ins: list[Tensor], out: Tensor, index: list[ir.Value]) -> ir.Value:
    source = [e.builder.urem(idx, i64(d)) if d > 1 else i64(0) for idx, d in zip(index, ins[0].shape)]
    return e.load_at(ins[0], source)


def _slice(e: StepEmitter, op: Op, ins: list[Tensor], out: Tensor, index: list[ir.Value]) -> ir.Value:
    source = list(index)
    for axis, start, step in zip(op.attrs["axes"], op.attrs["starts"], op.attrs["steps"]):
        source[axis] = e.builder.add(i64(start), e.builder.mul(index[axis], i64(step)))
    return e.load_at(ins[0], source)


def _trilu(e: StepEmitter, op: Op, ins: list[Tensor], out: Tensor, index: list[ir.Value]) -> ir.Value:
    b = e.builder
    value = e.load_at(ins[0], index)
    if len(index) < 2:
        return value
    diagonal = b.sub(index[-1], index[-2])
    keep = b.icmp_signed(">=" if op.attrs["upper"] else "<=", diagonal, i64(op.attrs["k"]))
    return b.select(keep, value, ir.Constant(value.type, 0))


def _gather(e: StepEmitter, op: Op, ins: list[Tensor], out: Tensor, index: list[ir.Value]) -> ir.Value:
    data, indices = ins
    axis = normalize_axis("gather", op.attrs["axis"], len(data.shape))
    rank = len(indices.shape)
    position = e.checked_index(e.load_at(indices, index[axis: axis + rank]), data.shape[axis])
    return e.load_at(data, index[:axis] + [position] + index[axis + rank:])


def _gather_rows(e: StepEmitter, op: Op, ins: list[Tensor], out: Tensor) -> bool:
    """gather as block copies when ``data`` and the result are stored alike (a copy then
    changes no bits): for every outer index and every index, one ``memcpy`` of the
    contiguous block after the axis. An embedding lookup or a MoE step's expert-weight gather
    is then as fast as the gather kernel's row DMA. False (nothing emitted) otherwise."""
    data, indices = ins
    if data.stored != out.stored or out.size == 0:
        return False
    b = e.builder
    axis = normalize_axis("gather", op.attrs["axis"], len(data.shape))
    outer, length = math.prod(data.shape[:axis]), data.shape[axis]
    block = math.prod(data.shape[axis + 1:]) * data.stored.itemsize
    count = max(indices.size, 1) if indices.shape else 1
    memcpy = e.module.declare_intrinsic("llvm.memcpy", [I8_PTR, I8_PTR, I64])

    def per_outer(o: ir.Value) -> None:
        def per_index(j: ir.Value) -> None:
            position = e.checked_index(e.load(indices, j), length)
            source = b.mul(b.add(b.mul(o, i64(length)), position), i64(block))
            target = b.mul(b.add(b.mul(o, i64(count)), j), i64(block))
            b.call(memcpy, [b.gep(out.pointer, [target], inbounds=True), b.gep(data.pointer, [source], inbounds=True),
                            i64(block), ir.Constant(I1, 0)])

        counted_loop(b, count, per_index, name="j")

    counted_loop(b, outer, per_outer, name="o")
    return True


def _gather_elements(e: StepEmitter, op: Op, ins: list[Tensor], out: Tensor, index: list[ir.Value]) -> ir.Value:
    data, indices = ins
    axis = normalize_axis("gather_elements", op.attrs["axis"], len(data.shape))
    position = e.checked_index(e.load_at(indices, index), data.shape[axis])
    return e.load_at(data, index[:axis] + [position] + index[axis + 1:])


def _gather_nd(e: StepEmitter, op: Op, ins: list[Tensor], out: Tensor, index: list[ir.Value]) -> ir.Value:
    data, indices = ins
    batch = op.attrs["batch_dims"]
    k = indices.shape[-1]
    outer = index[:len(indices.shape) - 1]
    positions = [e.checked_index(e.load_at(indices, outer + [i64(j)]), data.shape[batch + j]) for j in range(k)]
    return e.load_at(data, index[:batch] + positions + index[len(indices.shape) - 1:])


def _one_hot(e: StepEmitter, op: Op, ins: list[Tensor], out: Tensor, index: list[ir.Value]) -> ir.Value:
    b = e.builder
    indices, values = ins
    depth = op.attrs["depth"]
    axis = normalize_axis("one_hot", op.attrs["axis"], len(indices.shape) + 1)
    raw = e.load_at(indices, index[:axis] + index[axis + 1:])
    if raw.type == F32:  # the reference casts float indices to int64
        raw = _float_to_int(e, raw, DType.I64)
    wrapped = b.select(b.icmp_signed("<", raw, i64(0)), b.add(raw, i64(depth)), raw)
    hot = b.icmp_signed("==", wrapped, index[axis])
    return b.select(hot, e.load(values, i64(1)), e.load(values, i64(0)))


def _reduce(e: StepEmitter, op: Op, ins: list[Tensor], out: Tensor, index: list[ir.Value]) -> ir.Value:
    """reduce_*: an inner loop nest over the reduced axes per output element."""
    b = e.builder
    x = ins[0]
    rank = len(x.shape)
    axes = reduction_axes(op.kind, rank, op.attrs["axes"])
    keep = op.attrs["keepdims"]
    dtype = x.dtype
    is_bool = dtype == DType.BOOL
    work = I64 if is_bool else _work(dtype)
    kind = op.kind
    count = math.prod(x.shape[a] for a in axes)
    if kind in ("reduce_sum", "reduce_mean"):
        initial = ir.Constant(work, 0)
    elif kind == "reduce_prod":
        initial = ir.Constant(work, 1)
    elif kind == "reduce_max":
        initial = _f(-math.inf) if work == F32 else i64(0 if is_bool else int(np.iinfo(dtype.numpy).min))
    else:
        initial = _f(math.inf) if work == F32 else i64(1 if is_bool else int(np.iinfo(dtype.numpy).max))
    accumulator = e.entry_alloca(work)
    b.store(initial, accumulator)
    kept = [a for a in range(rank) if a not in axes]
    outer = {axis: (index[axis] if keep else index[pos]) for pos, axis in enumerate(kept)}

    def body(inner: list[ir.Value]) -> None:
        at = dict(outer)
        at.update(zip(axes, inner))
        value = e.load_at(x, [at[a] for a in range(rank)])
        if is_bool:
            value = b.zext(value, I64)
        current = b.load(accumulator)
        if kind in ("reduce_sum", "reduce_mean"):
            combined = b.fadd(current, value) if work == F32 else b.add(current, value)
        elif kind == "reduce_prod":
            combined = b.fmul(current, value) if work == F32 else b.mul(current, value)
        elif kind == "reduce_max":
            combined = _max(b, current, value)
        else:
            combined = _min(b, current, value)
        b.store(combined, accumulator)

    e.nest([x.shape[a] for a in axes], body, name="r")
    result = b.load(accumulator)
    if kind == "reduce_mean":
        if work == F32:
            result = b.fdiv(result, _f(float(count)))
        elif count:
            # The reference divides the sum wrapped to the dtype by the count cast to it.
            divisor = int(np.asarray(count).astype(dtype.numpy))
            result = _int_div(e, _fit(b, result, dtype), i64(divisor), {})
        else:
            result = i64(0)
    if is_bool:
        return b.icmp_signed("!=", result, i64(0))
    return result


def _arg(e: StepEmitter, op: Op, ins: list[Tensor], out: Tensor, index: list[ir.Value]) -> ir.Value:
    """arg_max/arg_min along one axis: first (or last) best index; the first NaN wins."""
    b = e.builder
    x = ins[0]
    rank = len(x.shape)
    if rank == 0:
        return i64(0)
    axis = normalize_axis(op.kind, op.attrs["axis"], rank)
    outer = list(index) if op.attrs["keepdims"] else index[:axis] + [i64(0)] + index[axis:]
    best_value = e.entry_alloca(_work(x.dtype) if x.dtype != DType.BOOL else I64)
    best_index = e.entry_alloca(I64)
    first = outer[:axis] + [i64(0)] + outer[axis + 1:]
    start = e.load_at(x, first)
    if x.dtype == DType.BOOL:
        start = b.zext(start, I64)
    b.store(start, best_value)
    b.store(i64(0), best_index)
    ordering = (">=" if op.kind == "arg_max" else "<=") if op.attrs["select_last_index"] else (">" if op.kind == "arg_max" else "<")

    def body(i: ir.Value) -> None:
        value = e.load_at(x, outer[:axis] + [i] + outer[axis + 1:])
        if x.dtype == DType.BOOL:
            value = b.zext(value, I64)
        best = b.load(best_value)
        if value.type == F32:
            better = b.fcmp_ordered(ordering, value, best)
            better = b.or_(b.and_(better, b.not_(_is_nan(b, best))), b.and_(_is_nan(b, value), b.not_(_is_nan(b, best))))
        else:
            better = b.icmp_signed(ordering, value, best)
        b.store(b.select(better, value, best), best_value)
        b.store(b.select(better, i, b.load(best_index)), best_index)

    counted_loop(b, x.shape[axis], body, name="a")
    return b.load(best_index)


def _matmul(e: StepEmitter, op: Op, ins: list[Tensor], out: Tensor, index: list[ir.Value]) -> ir.Value:
    """numpy matmul: a dot product over the contraction dim per output element. A 1-D ``a``
    is a row, a 1-D ``b`` a column; batch dims broadcast (``flat`` skips unit dims, so the
    output's batch index addresses a broadcast operand directly)."""
    b = e.builder
    a, w = ins
    depth = a.shape[-1]
    batch_rank = len(out.shape) - (len(a.shape) > 1) - (len(w.shape) > 1)
    batch = index[:batch_rank]
    rest = index[batch_rank:]
    row = rest[0] if len(a.shape) > 1 else None
    col = rest[-1] if len(w.shape) > 1 else None
    work = _work(out.dtype)
    total = e.entry_alloca(work)
    b.store(ir.Constant(work, 0), total)

    def accumulate(k: ir.Value) -> None:
        a_batch = batch[len(batch) - (len(a.shape) - 2):] if len(a.shape) > 2 else []
        w_batch = batch[len(batch) - (len(w.shape) - 2):] if len(w.shape) > 2 else []
        x = e.load_at(a, a_batch + [row, k] if row is not None else [k])
        y = e.load_at(w, w_batch + [k, col] if col is not None else [k])
        current = b.load(total)
        b.store(b.fadd(current, b.fmul(x, y)) if work == F32 else b.add(current, b.mul(x, y)), total)

    counted_loop(b, depth, accumulate, name="k")
    return b.load(total)


def _gemm(e: StepEmitter, op: Op, ins: list[Tensor], out: Tensor, index: list[ir.Value]) -> ir.Value:
    """ONNX Gemm as the reference computes it: ``op(a) @ op(b)`` per element, then
    ``* alpha`` and ``+ c * beta`` when they are not 1. Floats scale in f32; an integer
    product wraps in its dtype, and a non-unit alpha or beta (a Python float in the
    reference) turns the sum into f64, truncated back to the dtype at the end."""
    b = e.builder
    a, w = ins[:2]
    c = ins[2] if len(ins) > 2 else None
    alpha, beta = op.attrs["alpha"], op.attrs["beta"]
    row, col = index
    depth = a.shape[0] if op.attrs["trans_a"] else a.shape[1]
    work = _work(out.dtype)
    total = e.entry_alloca(work)
    b.store(ir.Constant(work, 0), total)

    def accumulate(k: ir.Value) -> None:
        x = e.load_at(a, [k, row] if op.attrs["trans_a"] else [row, k])
        y = e.load_at(w, [col, k] if op.attrs["trans_b"] else [k, col])
        current = b.load(total)
        b.store(b.fadd(current, b.fmul(x, y)) if work == F32 else b.add(current, b.mul(x, y)), total)

    counted_loop(b, depth, accumulate, name="k")
    result = b.load(total)
    addend = e.load_broadcast(c, index) if c is not None else None
    if work == F32:
        if alpha != 1.0:
            result = b.fmul(result, _f(float(np.float32(alpha))))
        if addend is not None:
            if beta != 1.0:
                addend = b.fmul(addend, _f(float(np.float32(beta))))
            result = b.fadd(result, addend)
        return result
    if alpha == 1.0 and (addend is None or beta == 1.0):
        return result if addend is None else b.add(result, addend)
    wide = b.sitofp(_fit(b, result, out.dtype), F64)
    if alpha != 1.0:
        wide = b.fmul(wide, ir.Constant(F64, alpha))
    if addend is not None:
        addend = b.sitofp(addend, F64)
        wide = b.fadd(wide, b.fmul(addend, ir.Constant(F64, beta)) if beta != 1.0 else addend)
    return _float_to_int(e, wide, out.dtype)


@dataclass(frozen=True, slots=True)
class EinsumPlan:
    """An einsum equation resolved for concrete shapes: one label per operand dim (ellipsis
    dims become labels ``...0``, ``...1``, ... right-aligned), the output's labels, the
    contracted labels (in no output) and every label's size (a size-1 dim broadcasts)."""

    operands: tuple[tuple[str, ...], ...]
    output: tuple[str, ...]
    contracted: tuple[str, ...]
    sizes: Mapping[str, int]


def einsum_plan(equation: str, shapes: Sequence[tuple[int, ...]]) -> EinsumPlan:
    """The :class:`EinsumPlan` of ``equation`` (as the registry parses it) on ``shapes``."""
    spec = parse_einsum(equation, len(shapes))
    ellipsis_rank = max((len(shape) - len(term) + 1 for term, shape in zip(spec.inputs, shapes) if ELLIPSIS in term),
                        default=0)
    ellipsis = tuple(f"...{i}" for i in range(ellipsis_rank))

    def expand(term: tuple[str, ...], rank: int) -> tuple[str, ...]:
        if ELLIPSIS not in term:
            return term
        at = term.index(ELLIPSIS)
        width = rank - len(term) + 1
        return term[:at] + ellipsis[ellipsis_rank - width:] + term[at + 1:]

    operands = tuple(expand(term, len(shape)) for term, shape in zip(spec.inputs, shapes))
    output = expand(spec.output, len(spec.output) - 1 + ellipsis_rank)
    sizes: dict[str, int] = {}
    for labels, shape in zip(operands, shapes):
        for label, dim in zip(labels, shape):
            if sizes.get(label, 1) == 1:
                sizes[label] = dim
    contracted = tuple(sorted({label for labels in operands for label in labels} - set(output)))
    return EinsumPlan(operands, output, contracted, sizes)


def _einsum(e: StepEmitter, op: Op, ins: list[Tensor], out: Tensor, index: list[ir.Value]) -> ir.Value:
    """einsum as a sum of products per output element: a loop nest over the contracted
    labels multiplies one element of every operand (repeated labels take diagonals; size-1
    dims broadcast because :meth:`StepEmitter.flat` skips them)."""
    b = e.builder
    plan = einsum_plan(op.attrs["equation"], [t.shape for t in ins])
    at = dict(zip(plan.output, index))
    work = _work(out.dtype)
    total = e.entry_alloca(work)
    b.store(ir.Constant(work, 0), total)

    def accumulate(inner: list[ir.Value]) -> None:
        where = {**at, **dict(zip(plan.contracted, inner))}
        product = None
        for t, labels in zip(ins, plan.operands):
            value = e.load_at(t, [where[label] for label in labels])
            product = value if product is None else (b.fmul(product, value) if work == F32 else b.mul(product, value))
        current = b.load(total)
        b.store(b.fadd(current, product) if work == F32 else b.add(current, product), total)

    e.nest([plan.sizes[label] for label in plan.contracted], accumulate, name="k")
    return b.load(total)


POINTWISE: dict[str, PointwiseEmitter] = {
    **{k: _elementwise for k in (*FLOAT_UNARY, *BOOL_UNARY, *FLOAT_BINARY, *BOOL_BINARY, "where", "cast", "clip")},
    "reshape": _reshape,
    "transpose": _transpose,
    "expand": _expand,
    "tile": _tile,
    "slice": _slice,
    "trilu": _trilu,
    "gather": _gather,
    "gather_elements": _gather_elements,
    "gather_nd": _gather_nd,
    "one_hot": _one_hot,
    **{k: _reduce for k in ("reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod")},
    "arg_max": _arg,
    "arg_min": _arg,
    "matmul": _matmul,
    "gemm": _gemm,
    "einsum": _einsum,
}


def _lines(e: StepEmitter, shape: tuple[int, ...], axis: int, body: Callable[[Callable[[ir.Value], list[ir.Value]]], None]) -> None:
    """Loops over every line along ``axis``; ``body`` gets a function from a position on the
    line to the full index."""
    outer_shape = shape[:axis] + shape[axis + 1:]

    def per_line(outer: list[ir.Value]) -> None:
        body(lambda i: outer[:axis] + [i] + outer[axis:])

    e.nest(outer_shape, per_line, name="l")


def _softmax(e: StepEmitter, op: Op, ins: list[Tensor], out: Tensor) -> None:
    b = e.builder
    x = ins[0]
    if x.size == 0:
        return
    shape = x.shape or (1,)
    axis = normalize_axis(op.kind, op.attrs["axis"], len(shape))
    length = shape[axis]
    peak = e.entry_alloca(F32)
    total = e.entry_alloca(F32)

    def line(at: Callable[[ir.Value], list[ir.Value]]) -> None:
        b.store(_f(-math.inf), peak)
        b.store(_f(0.0), total)
        counted_loop(b, length, lambda i: b.store(_max(b, b.load(peak), e.load(x, e.flat(shape, at(i)))), peak), name="m")

        def accumulate(i: ir.Value) -> None:
            shifted = b.fsub(e.load(x, e.flat(shape, at(i))), b.load(peak))
            b.store(b.fadd(b.load(total), e.call("llvm.exp.f32", shifted)), total)

        counted_loop(b, length, accumulate, name="s")

        def write(i: ir.Value) -> None:
            flat = e.flat(shape, at(i))
            shifted = b.fsub(e.load(x, flat), b.load(peak))
            if op.kind == "softmax":
                value = b.fdiv(e.call("llvm.exp.f32", shifted), b.load(total))
            else:
                value = b.fsub(shifted, e.call("llvm.log.f32", b.load(total)))
            e.store(out, flat, value)

        counted_loop(b, length, write, name="w")

    _lines(e, shape, axis, line)


def _cumsum(e: StepEmitter, op: Op, ins: list[Tensor], out: Tensor) -> None:
    b = e.builder
    x = ins[0]
    axis = normalize_axis("cumsum", op.attrs["axis"], len(x.shape))
    length = x.shape[axis]
    work = _work(x.dtype)
    total = e.entry_alloca(work)

    def line(at: Callable[[ir.Value], list[ir.Value]]) -> None:
        b.store(ir.Constant(work, 0), total)

        def step(i: ir.Value) -> None:
            position = b.sub(i64(length - 1), i) if op.attrs["reverse"] else i
            flat = e.flat(x.shape, at(position))
            value = e.load(x, flat)
            before = b.load(total)
            after = b.fadd(before, value) if work == F32 else b.add(before, value)
            b.store(after, total)
            e.store(out, flat, before if op.attrs["exclusive"] else after)

        counted_loop(b, length, step, name="c")

    _lines(e, x.shape, axis, line)


def _concat(e: StepEmitter, op: Op, ins: list[Tensor], out: Tensor) -> None:
    axis = normalize_axis("concat", op.attrs["axis"], len(out.shape))
    offset = 0
    for t in ins:
        def body(index: list[ir.Value], t: Tensor = t, offset: int = offset) -> None:
            target = list(index)
            target[axis] = e.builder.add(index[axis], i64(offset))
            e.store(out, e.flat(out.shape, target), e.load_at(t, index))
        e.nest(t.shape, body, name="c")
        offset += t.shape[axis]


def _combine(b: ir.IRBuilder, reduction: str, old: ir.Value, new: ir.Value) -> ir.Value:
    if reduction == "none":
        return new
    if reduction == "max":
        return _max(b, old, new)
    if reduction == "min":
        return _min(b, old, new)
    if old.type == I1:  # numpy's ufunc.at on bool: add is or, mul is and
        return b.or_(old, new) if reduction == "add" else b.and_(old, new)
    is_float = old.type == F32
    if reduction == "add":
        return b.fadd(old, new) if is_float else b.add(old, new)
    return b.fmul(old, new) if is_float else b.mul(old, new)


def _scatter_elements(e: StepEmitter, op: Op, ins: list[Tensor], out: Tensor) -> None:
    """A copy of ``data``, then each update combined into its indexed element, in order."""
    b = e.builder
    data, indices, updates = ins
    axis = normalize_axis("scatter_elements", op.attrs["axis"], len(data.shape))
    e.nest(data.shape, lambda index: e.store(out, e.flat(out.shape, index), e.load_at(data, index)))

    def body(index: list[ir.Value]) -> None:
        position = e.checked_index(e.load_at(indices, index), data.shape[axis])
        flat = e.flat(out.shape, index[:axis] + [position] + index[axis + 1:])
        e.store(out, flat, _combine(b, op.attrs["reduction"], e.load(out, flat), e.load_at(updates, index)))

    e.nest(indices.shape, body, name="u")


def _scatter_nd(e: StepEmitter, op: Op, ins: list[Tensor], out: Tensor) -> None:
    b = e.builder
    data, indices, updates = ins
    k = indices.shape[-1]
    batch = indices.shape[:-1]
    e.nest(data.shape, lambda index: e.store(out, e.flat(out.shape, index), e.load_at(data, index)))

    def body(index: list[ir.Value]) -> None:
        prefix = [e.checked_index(e.load_at(indices, index[:len(batch)] + [i64(j)]), data.shape[j]) for j in range(k)]
        flat = e.flat(out.shape, prefix + index[len(batch):])
        e.store(out, flat, _combine(b, op.attrs["reduction"], e.load(out, flat), e.load_at(updates, index)))

    e.nest(updates.shape, body, name="u")


def _attention(e: StepEmitter, op: Op, ins: list[Tensor], out: Tensor) -> None:
    """Scaled dot-product attention per query row, the reference's steps: scores
    ``(q * sqrt(scale)) . (k * sqrt(scale))`` into a row scratch, softcap, plus the bias (mask
    and causal), a max-shifted softmax (an all -inf row shifts by 0, a zero sum divides by
    1), zeros where every key is masked, then the weighted sum of v.

    The reference computes in the operands' dtype step by step, so for f16/bf16 every step's
    result is rounded to the dtype here too (no-ops for f32). Its dot products (numpy
    matmuls) accumulate in f32 and round once; its row sum of the weights accumulates in f32
    for f16 but in bf16, rounding after every addition, for bf16 (ml_dtypes' add loop)."""
    b = e.builder
    q, k, v = ins[:3]
    mask = ins[3] if len(ins) > 3 else None
    batch, heads, queries, depth = q.shape
    kv_heads, length, value_depth = k.shape[1], k.shape[2], v.shape[3]
    if out.size == 0:
        return
    dtype = q.dtype

    def fit(value: ir.Value) -> ir.Value:
        return _fit(b, value, dtype)

    def constant(value: float) -> ir.Constant:  # rounded from f64 straight to the dtype, as ``dtype(value)``
        return _f(float(np.asarray(value, dtype=np.float64).astype(dtype.numpy)))

    group = heads // kv_heads
    root_scale = constant(np.sqrt(op.attrs["scale"]))
    cap = op.attrs["softcap"]
    row = e.scratch(DType.F32, (length,))
    total, peak, bias_peak = e.entry_alloca(F32), e.entry_alloca(F32), e.entry_alloca(F32)
    dot = e.entry_alloca(F32)

    def per_row(index: list[ir.Value]) -> None:
        n, h, s = index
        g = b.udiv(h, i64(group))
        b.store(_f(-math.inf), peak)
        b.store(_f(-math.inf), bias_peak)

        def score(j: ir.Value) -> None:
            b.store(_f(0.0), dot)

            def multiply(d: ir.Value) -> None:
                x = fit(b.fmul(e.load_at(q, [n, h, s, d]), root_scale))
                y = fit(b.fmul(e.load_at(k, [n, g, j, d]), root_scale))
                b.store(b.fadd(b.load(dot), b.fmul(x, y)), dot)

            counted_loop(b, depth, multiply, name="d")
            value = fit(b.load(dot))
            if cap > 0:
                capped = constant(cap)
                value = fit(b.fmul(fit(e.call("tanhf", fit(b.fdiv(value, capped)))), capped))
            bias = _f(0.0)
            if mask is not None:
                term = e.load_broadcast(mask, [n, h, s, j])
                bias = b.select(term, _f(0.0), _f(-math.inf)) if mask.dtype == DType.BOOL else b.fadd(bias, term)
            if op.attrs["is_causal"]:
                allowed = b.icmp_signed("<=", j, b.add(s, i64(length - queries)))
                bias = fit(b.fadd(bias, b.select(allowed, _f(0.0), _f(-math.inf))))
            value = fit(b.fadd(value, bias))
            e.store(row, j, value)
            b.store(_max(b, b.load(peak), value), peak)
            b.store(_max(b, b.load(bias_peak), bias), bias_peak)

        counted_loop(b, length, score, name="j")
        shift = b.load(peak)
        shift = b.select(b.fcmp_ordered("==", shift, _f(-math.inf)), _f(0.0), shift)
        b.store(_f(0.0), total)

        def exponentiate(j: ir.Value) -> None:
            weight = fit(e.call("llvm.exp.f32", fit(b.fsub(e.load(row, j), shift))))
            e.store(row, j, weight)
            running = b.fadd(b.load(total), weight)
            b.store(fit(running) if dtype == DType.BF16 else running, total)

        counted_loop(b, length, exponentiate, name="x")
        divisor = fit(b.load(total))
        divisor = b.select(b.fcmp_ordered("==", divisor, _f(0.0)), _f(1.0), divisor)
        blocked = b.fcmp_ordered("==", b.load(bias_peak), _f(-math.inf))

        def normalize(j: ir.Value) -> None:
            e.store(row, j, b.select(blocked, _f(0.0), fit(b.fdiv(e.load(row, j), divisor))))

        counted_loop(b, length, normalize, name="w")

        def weighted_sum(c: ir.Value) -> None:
            b.store(_f(0.0), dot)
            counted_loop(b, length, lambda j: b.store(
                b.fadd(b.load(dot), b.fmul(e.load(row, j), e.load_at(v, [n, g, j, c]))), dot), name="v")
            e.store(out, e.flat(out.shape, [n, h, s, c]), b.load(dot))

        counted_loop(b, value_depth, weighted_sum, name="c")

    e.nest((batch, heads, queries), per_row, name="r")


def _sorts_before(b: ir.IRBuilder, x: ir.Value, i: ir.Value, y: ir.Value, j: ir.Value, largest: bool) -> ir.Value:
    """Whether element (value ``x``, index ``i``) precedes (``y``, ``j``) in top_k's order:
    the better value first (NaN above every number, NaNs equal), equal values by lower index."""
    if not largest:
        x, y = y, x
    if x.type == F32:
        x_nan, y_nan = _is_nan(b, x), _is_nan(b, y)
        better = b.or_(b.and_(x_nan, b.not_(y_nan)), b.fcmp_ordered(">", x, y))
        equal = b.or_(b.and_(x_nan, y_nan), b.fcmp_ordered("==", x, y))
    else:
        better = b.icmp_signed(">", x, y)
        equal = b.icmp_signed("==", x, y)
    return b.or_(better, b.and_(equal, b.icmp_signed("<", i, j)))


def _select_k(e: StepEmitter, length: int, k: int, value_at: Callable[[ir.Value], ir.Value], work: ir.Type,
              largest: bool, pick: Callable[[ir.Value, ir.Value, ir.Value], None]) -> None:
    """k selection passes over one line of ``length`` elements: pass ``j`` picks the first
    element (in top_k's total order, :func:`_sorts_before`) that comes after pass ``j - 1``'s
    pick and calls ``pick(j, value, index)``; no scratch, O(k * length)."""
    b = e.builder
    previous_value, previous_index = e.entry_alloca(work), e.entry_alloca(I64)
    best_value, best_index = e.entry_alloca(work), e.entry_alloca(I64)
    # Defined starting values: pass 0 ignores them, but an undefined compare could poison
    # its result.
    b.store(ir.Constant(work, 0), previous_value)
    b.store(i64(-1), previous_index)

    def select(j: ir.Value) -> None:
        b.store(i64(-1), best_index)
        b.store(ir.Constant(work, 0), best_value)

        def scan(i: ir.Value) -> None:
            value = value_at(i)
            after_previous = b.or_(b.icmp_signed("==", j, i64(0)),
                                   _sorts_before(b, b.load(previous_value), b.load(previous_index), value, i, largest))
            best = b.load(best_index)
            improves = b.or_(b.icmp_signed("<", best, i64(0)),
                             _sorts_before(b, value, i, b.load(best_value), best, largest))
            take = b.and_(after_previous, improves)
            b.store(b.select(take, value, b.load(best_value)), best_value)
            b.store(b.select(take, i, best), best_index)

        counted_loop(b, length, scan, name="t")
        chosen_value, chosen_index = b.load(best_value), b.load(best_index)
        pick(j, chosen_value, chosen_index)
        b.store(chosen_value, previous_value)
        b.store(chosen_index, previous_index)

    counted_loop(b, k, select, name="j")


def _top_k(e: StepEmitter, op: Op, ins: list[Tensor], outs: list[Tensor]) -> None:
    """top_k per line by :func:`_select_k`."""
    x = ins[0]
    values, indices = outs
    axis = normalize_axis("top_k", op.attrs["axis"], len(x.shape))
    k = op.attrs["k"]
    if k == 0 or values.size == 0:
        return

    def per_line(outer: list[ir.Value]) -> None:
        def pick(j: ir.Value, value: ir.Value, index: ir.Value) -> None:
            target = outer[:axis] + [j] + outer[axis:]
            e.store(values, e.flat(values.shape, target), value)
            e.store(indices, e.flat(indices.shape, target), index)

        _select_k(e, x.shape[axis], k, lambda i: e.load_at(x, outer[:axis] + [i] + outer[axis:]), _work(x.dtype),
                  op.attrs["largest"], pick)

    e.nest(x.shape[:axis] + x.shape[axis + 1:], per_line, name="l")


# -- composites ---------------------------------------------------------------------------

def _norm(e: StepEmitter, op: Op, ins: list[Tensor], out: Tensor) -> None:
    """layer_norm / rms_norm over the block of axes ``[axis, rank)`` per outer index, in f32
    as the reference: layer_norm ``(x - mean) / sqrt(var + eps) * scale + bias`` (biased
    variance of the centred values), rms_norm ``x / sqrt(mean(x * x) + eps) * scale``."""
    b = e.builder
    x, scale = ins[:2]
    bias = ins[2] if len(ins) > 2 else None
    axis = normalize_axis(op.kind, op.attrs["axis"], len(x.shape))
    block = x.shape[axis:]
    count = _f(float(math.prod(block)))
    epsilon = _f(float(np.float32(op.attrs["epsilon"])))
    centred = op.kind == "layer_norm"
    total = e.entry_alloca(F32)

    def per_block(outer: list[ir.Value]) -> None:
        def accumulate(value: Callable[[list[ir.Value]], ir.Value]) -> ir.Value:
            b.store(_f(0.0), total)
            e.nest(block, lambda inner: b.store(b.fadd(b.load(total), value(inner)), total), name="n")
            return b.fdiv(b.load(total), count)

        def element(inner: list[ir.Value]) -> ir.Value:
            return e.load_at(x, outer + inner)

        mean = accumulate(element) if centred else _f(0.0)

        def deviation(inner: list[ir.Value]) -> ir.Value:
            return b.fsub(element(inner), mean) if centred else element(inner)

        def square(inner: list[ir.Value]) -> ir.Value:
            value = deviation(inner)
            return b.fmul(value, value)

        spread = accumulate(square)
        root = e.call("llvm.sqrt.f32", b.fadd(spread, epsilon))

        def write(inner: list[ir.Value]) -> None:
            at = outer + inner
            value = b.fmul(b.fdiv(deviation(inner), root), e.load_broadcast(scale, at))
            if bias is not None:
                value = b.fadd(value, e.load_broadcast(bias, at))
            e.store(out, e.flat(out.shape, at), value)

        e.nest(block, write, name="w")

    e.nest(x.shape[:axis], per_block, name="l")


def _rotary_embedding(e: StepEmitter, op: Op, ins: list[Tensor], out: Tensor) -> None:
    """Per (batch, head, position): each pair ``(x1, x2)`` of the first rotary_dim features
    (halves ``(i, i + half)``, or ``(2i, 2i + 1)`` when interleaved) becomes
    ``(cos * x1 - sin * x2, sin * x1 + cos * x2)`` in f32; the other features are copied."""
    b = e.builder
    x, cos, sin = ins
    batch, heads, length, depth = x.shape
    rotary = op.attrs["rotary_dim"] or depth
    half = rotary // 2
    interleaved = op.attrs["interleaved"]

    def per_row(index: list[ir.Value]) -> None:
        n, _, s = index

        def rotate(i: ir.Value) -> None:
            first = b.mul(i, i64(2)) if interleaved else i
            second = b.add(first, i64(1)) if interleaved else b.add(i, i64(half))
            x1, x2 = e.load_at(x, index + [first]), e.load_at(x, index + [second])
            c, s_ = e.load_at(cos, [n, s, i]), e.load_at(sin, [n, s, i])
            e.store(out, e.flat(out.shape, index + [first]), b.fsub(b.fmul(c, x1), b.fmul(s_, x2)))
            e.store(out, e.flat(out.shape, index + [second]), b.fadd(b.fmul(s_, x1), b.fmul(c, x2)))

        def copy(d: ir.Value) -> None:
            at = index + [b.add(d, i64(rotary))]
            e.store(out, e.flat(out.shape, at), e.load_at(x, at))

        counted_loop(b, half, rotate, name="i")
        counted_loop(b, depth - rotary, copy, name="c")

    e.nest((batch, heads, length), per_row, name="r")


def _silu(e: StepEmitter, x: ir.Value) -> ir.Value:
    b = e.builder
    return b.fdiv(x, b.fadd(_f(1.0), e.call("llvm.exp.f32", b.fneg(x))))


def _composite_gelu(e: StepEmitter, x: ir.Value) -> ir.Value:
    b = e.builder
    # The composites' reference takes erf of the f32 quotient in f64 and rounds it to f32.
    scaled = b.fdiv(x, _f(float(np.float32(math.sqrt(2.0)))))
    erf = b.fptrunc(_erf64(e, b.fpext(scaled, F64)), F32)
    return b.fmul(b.fmul(_f(0.5), x), b.fadd(_f(1.0), erf))


def _composite_gelu_tanh(e: StepEmitter, x: ir.Value) -> ir.Value:
    b = e.builder
    cube = b.fmul(b.fmul(b.fmul(_f(float(np.float32(0.044715))), x), x), x)
    inner = b.fmul(_f(float(np.float32(math.sqrt(2.0 / math.pi)))), b.fadd(x, cube))
    return b.fmul(b.fmul(_f(0.5), x), b.fadd(_f(1.0), e.call("tanhf", inner)))


#: gated_mlp/moe activations, in f32 as :func:`moecc.ir.ops.composite._activation` computes.
ACTIVATIONS: dict[str, Callable[[StepEmitter, ir.Value], ir.Value]] = {
    "silu": _silu,
    "gelu": _composite_gelu,
    "gelu_tanh": _composite_gelu_tanh,
    "relu": lambda e, x: _max(e.builder, x, _f(0.0)),
}


def _dot(e: StepEmitter, length: int, terms: Callable[[ir.Value], tuple[ir.Value, ir.Value]],
         total: ir.Value) -> ir.Value:
    """The f32 sum over ``k < length`` of the products ``terms(k)``, accumulated in the
    alloca ``total``."""
    b = e.builder
    b.store(_f(0.0), total)

    def accumulate(k: ir.Value) -> None:
        x, y = terms(k)
        b.store(b.fadd(b.load(total), b.fmul(x, y)), total)

    counted_loop(b, length, accumulate, name="k")
    return b.load(total)


def _expert(e: StepEmitter, x: Callable[[ir.Value], ir.Value], w_gate: Callable[[ir.Value, ir.Value], ir.Value],
            w_up: Callable[[ir.Value, ir.Value], ir.Value], w_down: Callable[[ir.Value, ir.Value], ir.Value],
            shape: tuple[int, int, int], activation: str, hidden: Tensor,
            emit: Callable[[ir.Value, ir.Value], None]) -> None:
    """One gated MLP on one row ``x`` (element accessors; ``shape`` is (H, F, H')):
    ``hidden[f] = act(x . w_gate[:, f]) * (x . w_up[:, f])`` into the f32 scratch ``hidden``,
    then ``emit(c, hidden . w_down[:, c])`` for every output column."""
    b = e.builder
    width, ffn, out_width = shape
    total = e.entry_alloca(F32)
    act = ACTIVATIONS[activation]

    def gate(f: ir.Value) -> None:
        gated = act(e, _dot(e, width, lambda k: (x(k), w_gate(k, f)), total))
        e.store(hidden, f, b.fmul(gated, _dot(e, width, lambda k: (x(k), w_up(k, f)), total)))

    counted_loop(b, ffn, gate, name="f")
    counted_loop(b, out_width, lambda c: emit(c, _dot(e, ffn, lambda f: (e.load(hidden, f), w_down(f, c)), total)),
                 name="c")


def _gated_mlp(e: StepEmitter, op: Op, ins: list[Tensor], out: Tensor) -> None:
    """gated_mlp per row of x (every dim but the last), f32 throughout as the reference."""
    x, w_gate, w_up, w_down = ins
    width, ffn = w_gate.shape
    out_width = w_down.shape[1]
    hidden = e.scratch(DType.F32, (ffn,))

    def per_row(row: list[ir.Value]) -> None:
        _expert(e, lambda k: e.load_at(x, row + [k]), lambda k, f: e.load_at(w_gate, [k, f]),
                lambda k, f: e.load_at(w_up, [k, f]), lambda f, c: e.load_at(w_down, [f, c]),
                (width, ffn, out_width), op.attrs["activation"], hidden,
                lambda c, value: e.store(out, e.flat(out.shape, row + [c]), value))

    e.nest(x.shape[:-1], per_row, name="r")


def _moe(e: StepEmitter, op: Op, ins: list[Tensor], out: Tensor) -> None:
    """moe per token, in f32 as the reference: router logits and their softmax, the top_k
    experts by :func:`_select_k` (ties to the lower expert), their routing weights
    (renormalised over the chosen, in rank order, if ``normalize``), then each chosen
    expert's gated MLP added weighted into the row, in expert order as the reference sums."""
    b = e.builder
    x, router, w_gate, w_up, w_down = ins
    tokens, width = x.shape
    experts, ffn = router.shape[1], w_gate.shape[2]
    k = op.attrs["top_k"]
    probs = e.scratch(DType.F32, (experts,))
    weights = e.scratch(DType.F32, (experts,))
    chosen = e.scratch(DType.BOOL, (experts,))
    hidden = e.scratch(DType.F32, (ffn,))
    row = e.scratch(DType.F32, (width,))
    total, peak, chosen_total = e.entry_alloca(F32), e.entry_alloca(F32), e.entry_alloca(F32)

    def per_token(t: ir.Value) -> None:
        b.store(_f(-math.inf), peak)

        def logit(j: ir.Value) -> None:
            value = _dot(e, width, lambda h: (e.load_at(x, [t, h]), e.load_at(router, [h, j])), total)
            e.store(probs, j, value)
            b.store(_max(b, b.load(peak), value), peak)
            e.store(chosen, j, ir.Constant(I1, 0))

        counted_loop(b, experts, logit, name="j")
        b.store(_f(0.0), total)

        def exponentiate(j: ir.Value) -> None:
            value = e.call("llvm.exp.f32", b.fsub(e.load(probs, j), b.load(peak)))
            e.store(probs, j, value)
            b.store(b.fadd(b.load(total), value), total)

        counted_loop(b, experts, exponentiate, name="x")
        divisor = b.load(total)
        counted_loop(b, experts, lambda j: e.store(probs, j, b.fdiv(e.load(probs, j), divisor)), name="p")
        b.store(_f(0.0), chosen_total)

        def pick(rank: ir.Value, value: ir.Value, index: ir.Value) -> None:
            e.store(chosen, index, ir.Constant(I1, 1))
            e.store(weights, index, value)
            b.store(b.fadd(b.load(chosen_total), value), chosen_total)

        _select_k(e, experts, k, lambda j: e.load(probs, j), F32, True, pick)
        if op.attrs["normalize"]:
            norm = b.load(chosen_total)
            counted_loop(b, experts, lambda j: e.store(weights, j, b.fdiv(e.load(weights, j), norm)), name="n")
        counted_loop(b, width, lambda c: e.store(row, c, _f(0.0)), name="z")

        def expert(j: ir.Value) -> None:
            weight = e.load(weights, j)

            def add(c: ir.Value, value: ir.Value) -> None:
                e.store(row, c, b.fadd(e.load(row, c), b.fmul(weight, value)))

            with b.if_then(e.load(chosen, j)):
                _expert(e, lambda h: e.load_at(x, [t, h]), lambda h, f: e.load_at(w_gate, [j, h, f]),
                        lambda h, f: e.load_at(w_up, [j, h, f]), lambda f, c: e.load_at(w_down, [j, f, c]),
                        (width, ffn, width), op.attrs["activation"], hidden, add)

        counted_loop(b, experts, expert, name="e")
        counted_loop(b, width, lambda c: e.store(out, e.flat(out.shape, [t, c]), e.load(row, c)), name="o")

    counted_loop(b, tokens, per_token, name="t")


LINEWISE: dict[str, Callable[[StepEmitter, Op, list[Tensor], Tensor], None]] = {
    "softmax": _softmax,
    "log_softmax": _softmax,  # one emitter: the op kind picks the formula
    "cumsum": _cumsum,
    "concat": _concat,
    "scatter_elements": _scatter_elements,
    "scatter_nd": _scatter_nd,
    "attention": _attention,
    "layer_norm": _norm,
    "rms_norm": _norm,  # one emitter: the op kind picks the formula
    "rotary_embedding": _rotary_embedding,
    "gated_mlp": _gated_mlp,
    "moe": _moe,
}


#: Ops with several results: emitters get one output tensor per result.
MULTI_RESULT: dict[str, Callable[[StepEmitter, Op, list[Tensor], list[Tensor]], None]] = {
    "top_k": _top_k,
}


#: Every op kind some emitter handles, in every dtype the registry allows it: every registered
#: kind but ``const``, which is never a step's op (a constant operand becomes a module global).
SUPPORTED_OPS: frozenset[str] = frozenset(POINTWISE) | frozenset(LINEWISE) | frozenset(MULTI_RESULT)


def unsupported_reason(op: Op) -> str | None:
    """Why ``op`` has no LLVM emitter (None when it has one)."""
    if op.kind not in SUPPORTED_OPS:
        return f"no emitter for '{op.kind}'"
    if len(op.results) != 1 and op.kind not in MULTI_RESULT:
        return f"'{op.kind}' has several results"
    for v in (*op.operands, *op.results):
        if v.type.dtype not in SUPPORTED_DTYPES:
            return f"'{op.kind}' on {v.type.dtype}"
    if op.kind in POINTWISE and POINTWISE[op.kind] is _elementwise and op.kind not in ("where", "cast", "clip"):
        dtype = op.operands[0].type.dtype
        table = _unary_table(dtype) if len(op.operands) == 1 else _binary_table(dtype)
        if op.kind not in table:
            return f"'{op.kind}' on {dtype}"
    return None


def emit_op(e: StepEmitter, op: Op, ins: list[Tensor], outs: list[Tensor]) -> None:
    """Emit ``op`` computing ``outs`` (one per result) from ``ins``."""
    if op.kind in MULTI_RESULT:
        MULTI_RESULT[op.kind](e, op, ins, outs)
        return
    (out,) = outs
    if op.kind in LINEWISE:
        LINEWISE[op.kind](e, op, ins, out)
        return
    if op.kind == "gather" and _gather_rows(e, op, ins, out):
        return
    emitter = POINTWISE[op.kind]

    def body(index: list[ir.Value]) -> None:
        e.store(out, e.flat(out.shape, index), emitter(e, op, ins, out, index))

    e.nest(out.shape, body)


# -- steps ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CompiledStep:
    """A JIT-compiled CPU step: call it on the heap image (a contiguous uint8 array).

    ``ops`` are the step's graph ops in order (a fault names one by its position);
    ``fault_addresses`` the addresses of the module's :data:`FAULT_FLAG`,
    :data:`FAULT_INDEX` and :data:`FAULT_BOUND` cells."""

    name: str
    function: Any
    fault_addresses: tuple[int, int, int]
    jit: Any
    ops: tuple[Op, ...] = ()

    def __call__(self, heap: np.ndarray) -> None:
        if not (heap.flags.c_contiguous and heap.flags.writeable and heap.dtype == np.uint8):
            raise MoeccError(f"cpu step {self.name}: the heap must be a writable contiguous uint8 array")
        self.function(heap.ctypes.data)
        flag_at, index_at, bound_at = self.fault_addresses
        flag = ctypes.c_int32.from_address(flag_at)
        if flag.value:
            position, flag.value = flag.value - 1, 0
            raise step_index_error(self.name, self.ops, position, ctypes.c_int64.from_address(index_at).value,
                                   ctypes.c_int64.from_address(bound_at).value)


def step_index_error(step: str, ops: Sequence[Op], position: int, index: int, bound: int) -> MoeccError:
    """The error of a CPU step's index fault: op ``position`` of the step met ``index``
    outside ``[-bound, bound)``."""
    if 0 <= position < len(ops):
        return index_out_of_range(ops[position], index, bound).add_context(location=f"cpu step {step}")
    return MoeccError(f"cpu step {step}: index {index} is out of range [{-bound}, {bound})",
                      location=f"cpu step {step}", remedy="give indices within the indexed axis")


def step_unsupported_ops(call: CpuCall, ops_by_name: Mapping[str, Op]) -> list[str]:
    """The descriptions of the step's ops this module cannot compile."""
    return [f"{ops_by_name[n].describe()}: {r}" for n in call.ops if (r := unsupported_reason(ops_by_name[n])) is not None]


def emit_step(llvm_module: ir.Module, call: CpuCall, graph: Graph, module: KernelModule,
              value_buffers: Mapping[str, str], ops_by_name: Mapping[str, Op], function_name: str) -> ir.Function:
    """Emit CPU step ``call`` as function ``function_name(i8* heap)`` into ``llvm_module``.

    Operands come from their HBM buffers (planned offsets) or, for constants, from module
    globals; results the step outputs go to their buffers, the others to temporaries. Every
    global it creates is prefixed by ``function_name``, so steps emitted into one module under
    distinct names never collide; they share the module's fault flag :data:`FAULT_FLAG`."""
    buffers = {b.name: b for b in module.hbm}
    e = StepEmitter(llvm_module, function_name)
    ops = [ops_by_name[n] for n in call.ops]
    produced = {id(r) for op in ops for r in op.results}
    tensors: dict[int, Tensor] = {}

    def operand(v: Value) -> Tensor:
        if id(v) in tensors:
            return tensors[id(v)]
        name = value_buffers.get(v.name)
        if name in buffers and buffers[name].offset is not None and id(v) not in produced:
            tensor = Tensor(e.at_offset(buffers[name].offset), v.type.dtype, v.type.shape, buffers[name].dtype)
        else:
            data = const_value(v)
            if data is None:
                raise MoeccError(f"cpu step {call.name}: operand %{v.name} is not available")
            tensor = e.constant(np.asarray(data), v.type.dtype)
        tensors[id(v)] = tensor
        return tensor

    for position, op in enumerate(ops):
        ins = [operand(v) for v in op.operands]
        outs = []
        for result in op.results:
            name = value_buffers.get(result.name)
            if name in call.outputs and buffers[name].offset is not None:
                outs.append(Tensor(e.at_offset(buffers[name].offset), result.type.dtype, result.type.shape,
                                   buffers[name].dtype))
            else:
                outs.append(e.scratch(result.type.dtype, result.type.shape))
        e.op_position = position
        emit_op(e, op, ins, outs)
        for result, out in zip(op.results, outs):
            tensors[id(result)] = out
    e.builder.ret_void()
    return e.function


def build_step_module(call: CpuCall, graph: Graph, module: KernelModule, value_buffers: Mapping[str, str],
                      ops_by_name: Mapping[str, Op]) -> ir.Module:
    """The LLVM module of one CPU step: function ``cpu_step(i8* heap)`` and its globals."""
    llvm_module = ir.Module(name=f"cpu_step_{call.name}")
    emit_step(llvm_module, call, graph, module, value_buffers, ops_by_name, "cpu_step")
    return llvm_module


def compile_cpu_steps(module: KernelModule, graph: Graph, value_buffers: Mapping[str, str]) -> dict[str, StepFunction | None]:
    """One callable per CPU step of ``module`` (``None`` where a step holds an op or dtype
    without an emitter: the runtime runs that step on the reference interpreter)."""
    ops_by_name = {op.results[0].name: op for op in graph.ops}
    compiled: dict[str, StepFunction | None] = {}
    for call in module.steps:
        if not isinstance(call, CpuCall):
            continue
        if step_unsupported_ops(call, ops_by_name):
            compiled[call.name] = None
            continue
        try:
            llvm_module = build_step_module(call, graph, module, value_buffers, ops_by_name)
        except UnsupportedError:
            compiled[call.name] = None
            continue
        jit = compile_module(llvm_module)
        function = jit.function("cpu_step", None, ctypes.c_void_p)
        cells = tuple(jit.engine.get_global_value_address(name) for name in (FAULT_FLAG, FAULT_INDEX, FAULT_BOUND))
        compiled[call.name] = CompiledStep(call.name, function, cells, jit,  # type: ignore[arg-type]
                                           tuple(ops_by_name[n] for n in call.ops))
    return compiled


def interpreter_ops(module: KernelModule, graph: Graph, compiled: Mapping[str, StepFunction | None]) -> dict[str, int]:
    """Op kinds (with counts) of the steps left on the reference interpreter."""
    ops_by_name = {op.results[0].name: op for op in graph.ops}
    counts: dict[str, int] = {}
    for call in module.steps:
        if isinstance(call, CpuCall) and compiled.get(call.name) is None:
            for name in call.ops:
                kind = ops_by_name[name].kind
                counts[kind] = counts.get(kind, 0) + 1
    return counts


__all__ = [
    "FAULT_BOUND", "FAULT_FLAG", "FAULT_INDEX", "SUPPORTED_DTYPES", "SUPPORTED_OPS", "CompiledStep", "Tensor", "build_step_module",
    "compile_cpu_steps", "emit_step", "interpreter_ops", "step_index_error", "step_unsupported_ops", "unsupported_reason",
]
