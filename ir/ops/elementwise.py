"""Graph-IR ops: the elementwise family.

Binary arithmetic, comparisons and logic with numpy/ONNX multidirectional broadcasting,
unary math and activations, ``cast``, ``where`` and ``clip``. The ONNX frontend
(:mod:`moecc.frontend.onnx_elementwise`) maps ONNX's elementwise ops onto these; passes fuse
chains of them into kernels; the reference interpreter runs the numpy semantics below.

Semantics follow ONNX exactly in the operand dtype: integer arithmetic wraps, integer
division truncates toward zero (C, not numpy's floor), float16/bfloat16 are computed in
float32 and rounded back once. The ops are declared from tables (one row per kind) rather
than one class each: a kind's whole contract is its row.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from moecc.errors import ShapeError
from moecc.ir.ops.common import (
    ALL_TYPES,
    FLOAT_TYPES,
    NUMERIC_TYPES,
    broadcast_shapes,
    require_dtype,
    require_same_dtype,
)
from moecc.ir.registry import Attr, AttrKind, OpDef, Operand, op, register
from moecc.ir.types import DType, TensorType

SIGNED_TYPES: tuple[DType, ...] = FLOAT_TYPES + (DType.I64, DType.I32, DType.I8)
BOOL_TYPES: tuple[DType, ...] = (DType.BOOL,)

ArrayFn = Callable[..., np.ndarray]


# -- numeric helpers -----------------------------------------------------------------------

def compute_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype arithmetic runs in: float32 for the half types, the dtype itself otherwise."""
    if dtype == np.float16 or dtype.name == "bfloat16":
        return np.dtype(np.float32)
    return dtype


def widen(x: np.ndarray) -> np.ndarray:
    """``x`` in its compute dtype (float16/bfloat16 become float32, others unchanged)."""
    target = compute_dtype(x.dtype)
    return x if x.dtype == target else x.astype(target)


_math_erf = np.frompyfunc(math.erf, 1, 1)


def erf(x: np.ndarray) -> np.ndarray:
    """Error function, correctly rounded to float64 (math.erf) then cast to ``x``'s dtype:
    numpy has no erf, and polynomial approximations lose relative accuracy near zero."""
    return np.asarray(_math_erf(np.asarray(x, dtype=np.float64)), dtype=np.float64).astype(x.dtype)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function without overflow for large |x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


def softplus(x: np.ndarray) -> np.ndarray:
    # logaddexp(0, x) = log(1 + exp(x)) without overflow to inf for large x.
    return np.logaddexp(x.dtype.type(0), x)


def gelu(x: np.ndarray, approximate: str) -> np.ndarray:
    if approximate == "tanh":
        inner = np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)
        return (0.5 * x * (1 + np.tanh(inner))).astype(x.dtype)
    wide = x.astype(np.float64)
    return (0.5 * wide * (1 + erf(wide / math.sqrt(2)))).astype(x.dtype)


def int_divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer division truncating toward zero, as C and ONNX do (numpy floors)."""
    quotient = np.floor_divide(a, b)
    remainder = np.remainder(a, b)
    needs_adjust = (remainder != 0) & ((a < 0) ^ (b < 0))
    return quotient + needs_adjust.astype(quotient.dtype)


def int_power(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer power; a negative exponent gives ``1 / a**n`` truncated toward zero
    (numpy refuses negative integer exponents)."""
    a, b = np.broadcast_arrays(a, b)
    negative = b < 0
    positive_power = np.power(a, np.where(negative, 0, b).astype(b.dtype))
    one = a.dtype.type(1)
    inverse = np.where(a == one, one, 0).astype(a.dtype)
    if np.issubdtype(a.dtype, np.signedinteger):
        odd = (b % 2) != 0
        inverse = np.where(a == -1, np.where(odd, a.dtype.type(-1), one), inverse)
    return np.where(negative, inverse, positive_power).astype(a.dtype)


def cast_array(x: np.ndarray, to: DType) -> np.ndarray:
    """ONNX Cast between supported dtypes: floats to bool by ``!= 0`` (NaN is True),
    floats to ints truncating toward zero, ints to ints wrapping."""
    target = to.numpy
    if x.dtype == target:
        return x
    if to is DType.BOOL:
        return x != 0
    # The half types go through float32: every bfloat16/float16 value is exact in float32,
    # and ml_dtypes does not convert directly to every integer type.
    if x.dtype.kind not in "iub" and x.dtype != np.float32 and (to.is_int or to.is_float):
        x = x.astype(np.float32)
    return x.astype(target)


# -- table-driven declarations --------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class UnaryKind:
    """One unary op: its numpy function (on the compute dtype), operand dtypes, attributes
    and whether it returns bool (predicates)."""

    name: str
    fn: ArrayFn
    dtypes: tuple[DType, ...]
    doc: str
    attrs: tuple[Attr, ...] = ()
    returns_bool: bool = False


@dataclass(frozen=True, slots=True)
class BinaryKind:
    """One binary op with broadcasting: its numpy function (on the compute dtype), the
    operand dtypes it accepts and whether it returns bool (comparisons)."""

    name: str
    fn: ArrayFn
    dtypes: tuple[DType, ...]
    doc: str
    attrs: tuple[Attr, ...] = ()
    returns_bool: bool = False


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, x.dtype.type(0))


def _leaky_relu(x: np.ndarray, alpha: float) -> np.ndarray:
    return np.where(x < 0, x * x.dtype.type(alpha), x)


def _hard_sigmoid(x: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    return np.clip(x * x.dtype.type(alpha) + x.dtype.type(beta), 0, 1).astype(x.dtype)


def _hard_swish(x: np.ndarray) -> np.ndarray:
    return x * _hard_sigmoid(x, 1 / 6, 0.5)


def _silu(x: np.ndarray) -> np.ndarray:
    return x * sigmoid(x)


def _mish(x: np.ndarray) -> np.ndarray:
    return x * np.tanh(softplus(x))


def _is_inf(x: np.ndarray, detect_positive: bool, detect_negative: bool) -> np.ndarray:
    return (np.isposinf(x) & detect_positive) | (np.isneginf(x) & detect_negative)


UNARY_KINDS: tuple[UnaryKind, ...] = (
    UnaryKind("neg", np.negative, SIGNED_TYPES, "-x"),
    UnaryKind("abs", np.abs, NUMERIC_TYPES, "|x|"),
    UnaryKind("sign", np.sign, NUMERIC_TYPES, "-1, 0 or 1 by the sign of x (NaN stays NaN)"),
    UnaryKind("relu", _relu, SIGNED_TYPES, "max(x, 0)"),
    UnaryKind("exp", np.exp, FLOAT_TYPES, "e**x"),
    UnaryKind("log", np.log, FLOAT_TYPES, "natural logarithm"),
    UnaryKind("sqrt", np.sqrt, FLOAT_TYPES, "square root"),
    UnaryKind("reciprocal", np.reciprocal, FLOAT_TYPES, "1 / x"),
    UnaryKind("tanh", np.tanh, FLOAT_TYPES, "hyperbolic tangent"),
    UnaryKind("erf", erf, FLOAT_TYPES, "error function"),
    UnaryKind("sigmoid", sigmoid, FLOAT_TYPES, "1 / (1 + exp(-x))"),
    UnaryKind("sin", np.sin, FLOAT_TYPES, "sine"),
    UnaryKind("cos", np.cos, FLOAT_TYPES, "cosine"),
    UnaryKind("floor", np.floor, FLOAT_TYPES, "round toward -inf"),
    UnaryKind("ceil", np.ceil, FLOAT_TYPES, "round toward +inf"),
    UnaryKind("softplus", softplus, FLOAT_TYPES, "log(1 + exp(x))"),
    UnaryKind("hard_swish", _hard_swish, FLOAT_TYPES, "x * max(0, min(1, x/6 + 1/2))"),
    UnaryKind("mish", _mish, FLOAT_TYPES, "x * tanh(softplus(x))"),
    UnaryKind("silu", _silu, FLOAT_TYPES, "x * sigmoid(x) (SiLU/Swish; raised from that product by raise-composites)"),
    UnaryKind(
        "gelu",
        gelu,
        FLOAT_TYPES,
        "x * Phi(x); approximate='tanh' uses the tanh formula",
        attrs=(Attr("approximate", AttrKind.STR, "none", choices=("none", "tanh")),),
    ),
    UnaryKind(
        "leaky_relu", _leaky_relu, FLOAT_TYPES, "x if x >= 0 else alpha * x", attrs=(Attr("alpha", AttrKind.FLOAT, 0.01),)
    ),
    UnaryKind(
        "hard_sigmoid",
        _hard_sigmoid,
        FLOAT_TYPES,
        "max(0, min(1, alpha * x + beta))",
        attrs=(Attr("alpha", AttrKind.FLOAT, 0.2), Attr("beta", AttrKind.FLOAT, 0.5)),
    ),
    UnaryKind("not", np.logical_not, BOOL_TYPES, "logical not"),
    UnaryKind("is_nan", np.isnan, FLOAT_TYPES, "x is NaN", returns_bool=True),
    UnaryKind(
        "is_inf",
        _is_inf,
        FLOAT_TYPES,
        "x is +inf (if detect_positive) or -inf (if detect_negative)",
        attrs=(Attr("detect_positive", AttrKind.BOOL, True), Attr("detect_negative", AttrKind.BOOL, True)),
        returns_bool=True,
    ),
)


def _divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return int_divide(a, b) if a.dtype.kind in "iu" else np.divide(a, b)


def _power(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return int_power(a, b) if a.dtype.kind in "iu" else np.power(a, b)


def _mod(a: np.ndarray, b: np.ndarray, fmod: bool) -> np.ndarray:
    return np.fmod(a, b) if fmod else np.mod(a, b)


BINARY_KINDS: tuple[BinaryKind, ...] = (
    BinaryKind("add", np.add, NUMERIC_TYPES, "a + b (integers wrap)"),
    BinaryKind("sub", np.subtract, NUMERIC_TYPES, "a - b (integers wrap)"),
    BinaryKind("mul", np.multiply, NUMERIC_TYPES, "a * b (integers wrap)"),
    BinaryKind("div", _divide, NUMERIC_TYPES, "a / b; integer division truncates toward zero"),
    BinaryKind("pow", _power, NUMERIC_TYPES, "a ** b; both operands have one dtype (the frontend casts the exponent)"),
    BinaryKind("max", np.maximum, NUMERIC_TYPES, "elementwise maximum (NaN propagates)"),
    BinaryKind("min", np.minimum, NUMERIC_TYPES, "elementwise minimum (NaN propagates)"),
    BinaryKind(
        "mod",
        _mod,
        NUMERIC_TYPES,
        "remainder: fmod=False takes the divisor's sign (floor), fmod=True the dividend's (C fmod)",
        attrs=(Attr("fmod", AttrKind.BOOL, False),),
    ),
    BinaryKind("and", np.logical_and, BOOL_TYPES, "logical and"),
    BinaryKind("or", np.logical_or, BOOL_TYPES, "logical or"),
    BinaryKind("xor", np.logical_xor, BOOL_TYPES, "logical exclusive or"),
    BinaryKind("equal", np.equal, ALL_TYPES, "a == b", returns_bool=True),
    BinaryKind("less", np.less, NUMERIC_TYPES, "a < b", returns_bool=True),
    BinaryKind("greater", np.greater, NUMERIC_TYPES, "a > b", returns_bool=True),
    BinaryKind("less_equal", np.less_equal, NUMERIC_TYPES, "a <= b", returns_bool=True),
    BinaryKind("greater_equal", np.greater_equal, NUMERIC_TYPES, "a >= b", returns_bool=True),
)


def _attr_values(attrs: Sequence[Attr], values: Mapping[str, Any]) -> list[Any]:
    return [values[a.name] for a in attrs]


def _declare_unary(kind: UnaryKind) -> OpDef:
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        require_dtype(kind.name, types[0], kind.dtypes)
        return [types[0].with_dtype(DType.BOOL) if kind.returns_bool else types[0]]

    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        x = arrays[0]
        with np.errstate(all="ignore"):
            result = np.asarray(kind.fn(widen(x), *_attr_values(kind.attrs, attrs)))
        return [result.astype(np.bool_ if kind.returns_bool else x.dtype, copy=False)]

    return register(
        OpDef(
            name=kind.name,
            operands=(Operand("x"),),
            attrs=kind.attrs,
            infer=infer,
            compute=compute,
            doc=kind.doc,
            family="elementwise",
        )
    )


def _declare_binary(kind: BinaryKind) -> OpDef:
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        dtype = require_same_dtype(kind.name, types)
        require_dtype(kind.name, types[0], kind.dtypes)
        shape = broadcast_shapes(kind.name, types[0].shape, types[1].shape)
        return [TensorType(shape, DType.BOOL if kind.returns_bool else dtype)]

    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        a, b = arrays
        with np.errstate(all="ignore"):
            result = np.asarray(kind.fn(widen(a), widen(b), *_attr_values(kind.attrs, attrs)))
        return [result.astype(np.bool_ if kind.returns_bool else a.dtype, copy=False)]

    return register(
        OpDef(
            name=kind.name,
            operands=(Operand("a"), Operand("b")),
            attrs=kind.attrs,
            infer=infer,
            compute=compute,
            doc=kind.doc,
            family="elementwise",
        )
    )


for _unary in UNARY_KINDS:
    _declare_unary(_unary)
for _binary in BINARY_KINDS:
    _declare_binary(_binary)


# -- ops with their own contracts ------------------------------------------------------------

@op("cast", operands=["x"], attrs=[Attr("to", AttrKind.DTYPE)])
class Cast:
    """Convert ``x`` to dtype ``to`` with ONNX Cast rules: float→int truncates toward zero,
    int→int wraps, anything→bool is ``x != 0``, float→narrower float rounds to nearest even."""

    @staticmethod
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        return [types[0].with_dtype(attrs["to"])]

    @staticmethod
    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        with np.errstate(all="ignore"):
            return [cast_array(arrays[0], attrs["to"])]


@op("where", operands=["cond", "a", "b"])
class Where:
    """``cond ? a : b`` elementwise, all three broadcast together; ``cond`` is bool."""

    @staticmethod
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        cond, a, b = types
        require_dtype("where", cond, BOOL_TYPES, "condition")
        dtype = require_same_dtype("where", [a, b])
        return [TensorType(broadcast_shapes("where", cond.shape, a.shape, b.shape), dtype)]

    @staticmethod
    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        cond, a, b = arrays
        return [np.where(cond, a, b).astype(a.dtype, copy=False)]


def clip_bound(bound: float, dtype: np.dtype) -> Any:
    """A float bound as a scalar of ``dtype`` (clamped to an integer type's range)."""
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if math.isnan(bound):
            raise ShapeError("op 'clip': a NaN bound on an integer tensor has no meaning")
        clamped = min(max(bound, float(info.min)), float(info.max))
        return dtype.type(min(max(int(clamped), int(info.min)), int(info.max)))
    return np.asarray(bound, dtype=np.float64).astype(dtype)[()]


@op(
    "clip",
    operands=["x"],
    attrs=[Attr("min", AttrKind.FLOAT, None), Attr("max", AttrKind.FLOAT, None)],
)
class Clip:
    """``min(max(x, min), max)`` with each present bound first converted to x's dtype;
    when min > max every element becomes max (ONNX). NaN passes through."""

    @staticmethod
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        require_dtype("clip", types[0], NUMERIC_TYPES)
        return [types[0]]

    @staticmethod
    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        x = arrays[0]
        out = x
        if attrs.get("min") is not None:
            out = np.maximum(out, clip_bound(attrs["min"], x.dtype))
        if attrs.get("max") is not None:
            out = np.minimum(out, clip_bound(attrs["max"], x.dtype))
        return [np.asarray(out).astype(x.dtype, copy=False)]


__all__ = [
    "BINARY_KINDS",
    "UNARY_KINDS",
    "BinaryKind",
    "UnaryKind",
    "cast_array",
    "compute_dtype",
    "erf",
    "int_divide",
    "int_power",
    "sigmoid",
    "widen",
]
