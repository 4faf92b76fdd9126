"""Graph-IR ops: the reduction family.

``reduce_{sum,mean,max,min,prod}`` over a set of axes, ``arg_max``/``arg_min``, ``softmax``
and ``log_softmax`` over one axis, ``cumsum`` and ``top_k``. The ONNX frontend
(:mod:`moecc.frontend.onnx_reduction`) maps ONNX's reductions onto these, passes raise
softmax/norm patterns around them, and the VPU's row reductions implement them.

Semantics are ONNX's in the operand dtype: integer sums wrap, an integer mean truncates
toward zero, float16/bfloat16 accumulate in float32. Reducing an empty set gives the
reduction's identity (0, 1, -inf / the integer minimum / False for max, ...), as the ONNX
reference does. Ties in ``top_k`` go to the lower index.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from moecc.errors import ShapeError
from moecc.ir.ops.common import FLOAT_TYPES, NUMERIC_TYPES, normalize_axes, normalize_axis, require_dtype
from moecc.ir.ops.elementwise import int_divide, widen
from moecc.ir.registry import Attr, AttrKind, OpDef, Operand, op, register
from moecc.ir.types import DType, TensorType


def reduced_shape(shape: tuple[int, ...], axes: Sequence[int], keepdims: bool) -> tuple[int, ...]:
    """The shape left after reducing ``axes`` (already normalised) of ``shape``."""
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def reduction_axes(kind: str, rank: int, axes: Sequence[int]) -> tuple[int, ...]:
    """Normalised reduction axes; an empty list means every axis."""
    return tuple(range(rank)) if not axes else tuple(sorted(normalize_axes(kind, axes, rank)))


# -- reduce_* ------------------------------------------------------------------------------

def _empty_max_identity(dtype: np.dtype) -> Any:
    if dtype == np.bool_:
        return False
    if dtype.kind in "iu":
        return np.iinfo(dtype).min
    return -np.inf


def _empty_min_identity(dtype: np.dtype) -> Any:
    if dtype == np.bool_:
        return True
    if dtype.kind in "iu":
        return np.iinfo(dtype).max
    return np.inf


def _sum(x: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    # dtype= keeps integer sums in their own (wrapping) type; numpy would widen them to int64.
    return np.sum(x, axis=axes, keepdims=keepdims, dtype=x.dtype)


def _prod(x: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    return np.prod(x, axis=axes, keepdims=keepdims, dtype=x.dtype)


def _mean(x: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    count = int(np.prod([x.shape[a] for a in axes])) if axes else 1
    total = _sum(x, axes, keepdims)
    if x.dtype.kind in "iu":
        if not count or count > np.iinfo(x.dtype).max:
            # A count the dtype cannot hold exceeds every |sum| it can: truncating division gives 0.
            return np.zeros_like(total)
        return int_divide(total, np.asarray(count, dtype=x.dtype))
    return total / x.dtype.type(count)


def _max(x: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    if x.size == 0:
        return np.full(reduced_shape(x.shape, axes, keepdims), _empty_max_identity(x.dtype), dtype=x.dtype)
    return np.max(x, axis=axes, keepdims=keepdims)


def _min(x: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    if x.size == 0:
        return np.full(reduced_shape(x.shape, axes, keepdims), _empty_min_identity(x.dtype), dtype=x.dtype)
    return np.min(x, axis=axes, keepdims=keepdims)


@dataclass(frozen=True, slots=True)
class ReduceKind:
    """One ``reduce_*`` op: its numpy reduction (on the compute dtype) and operand dtypes."""

    name: str
    fn: Callable[[np.ndarray, tuple[int, ...], bool], np.ndarray]
    dtypes: tuple[DType, ...]
    doc: str


REDUCE_KINDS: tuple[ReduceKind, ...] = (
    ReduceKind("reduce_sum", _sum, NUMERIC_TYPES, "sum over axes (empty set: 0)"),
    ReduceKind("reduce_mean", _mean, NUMERIC_TYPES, "mean over axes (integers truncate; empty set: NaN)"),
    ReduceKind("reduce_max", _max, NUMERIC_TYPES + (DType.BOOL,), "maximum over axes (empty set: -inf, int min, False)"),
    ReduceKind("reduce_min", _min, NUMERIC_TYPES + (DType.BOOL,), "minimum over axes (empty set: +inf, int max, True)"),
    ReduceKind("reduce_prod", _prod, NUMERIC_TYPES, "product over axes (empty set: 1)"),
)

REDUCE_ATTRS: tuple[Attr, ...] = (Attr("axes", AttrKind.INTS, ()), Attr("keepdims", AttrKind.BOOL, True))


def _declare_reduce(kind: ReduceKind) -> OpDef:
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        x = types[0]
        require_dtype(kind.name, x, kind.dtypes)
        axes = reduction_axes(kind.name, x.rank, attrs["axes"])
        return [x.with_shape(reduced_shape(x.shape, axes, attrs["keepdims"]))]

    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        x = arrays[0]
        axes = reduction_axes(kind.name, x.ndim, attrs["axes"])
        with np.errstate(all="ignore"):
            result = kind.fn(widen(x), axes, attrs["keepdims"])
        return [np.asarray(result).astype(x.dtype, copy=False)]

    return register(
        OpDef(
            name=kind.name,
            operands=(Operand("x"),),
            attrs=REDUCE_ATTRS,
            infer=infer,
            compute=compute,
            doc=kind.doc + "; axes=() reduces every axis",
            family="reduction",
        )
    )


for _reduce in REDUCE_KINDS:
    _declare_reduce(_reduce)


# -- arg_max / arg_min -----------------------------------------------------------------------

ARG_ATTRS: tuple[Attr, ...] = (
    Attr("axis", AttrKind.INT),
    Attr("keepdims", AttrKind.BOOL, True),
    Attr("select_last_index", AttrKind.BOOL, False),
)


def _declare_arg(name: str, fn: Callable[..., np.ndarray], word: str) -> OpDef:
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        x = types[0]
        require_dtype(name, x, NUMERIC_TYPES)
        axis = normalize_axis(name, attrs["axis"], x.rank)
        if x.rank and x.shape[axis] == 0:
            raise ShapeError(f"op '{name}': axis {axis} of {x} is empty, there is no {word} to select")
        shape = reduced_shape(x.shape, (axis,), attrs["keepdims"]) if x.rank else ()
        return [TensorType(shape, DType.I64)]

    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        x = widen(arrays[0])
        if x.ndim == 0:
            return [np.asarray(0, dtype=np.int64)]
        axis = normalize_axis(name, attrs["axis"], x.ndim)
        if attrs["select_last_index"]:
            index = x.shape[axis] - 1 - fn(np.flip(x, axis), axis=axis)
        else:
            index = fn(x, axis=axis)
        if attrs["keepdims"]:
            index = np.expand_dims(index, axis)
        return [np.asarray(index, dtype=np.int64)]

    return register(
        OpDef(
            name=name,
            operands=(Operand("x"),),
            attrs=ARG_ATTRS,
            infer=infer,
            compute=compute,
            doc=f"index (i64) of the {word} along axis; ties go to the first index, or the last "
            "with select_last_index",
            family="reduction",
        )
    )


_declare_arg("arg_max", np.argmax, "maximum")
_declare_arg("arg_min", np.argmin, "minimum")


# -- softmax / log_softmax -----------------------------------------------------------------------

def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _declare_softmax(name: str, fn: Callable[[np.ndarray, int], np.ndarray], doc: str) -> OpDef:
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        x = types[0]
        require_dtype(name, x, FLOAT_TYPES)
        normalize_axis(name, attrs["axis"], x.rank)
        return [x]

    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        x = arrays[0]
        if x.size == 0:
            return [x.copy()]
        wide = widen(x).reshape(x.shape or (1,))
        axis = normalize_axis(name, attrs["axis"], wide.ndim)
        with np.errstate(all="ignore"):
            result = fn(wide, axis)
        return [result.reshape(x.shape).astype(x.dtype, copy=False)]

    return register(
        OpDef(
            name=name,
            operands=(Operand("x"),),
            attrs=(Attr("axis", AttrKind.INT, -1),),
            infer=infer,
            compute=compute,
            doc=doc,
            family="reduction",
        )
    )


_declare_softmax("softmax", _softmax, "exp(x - max) / sum(exp(x - max)) along one axis")
_declare_softmax("log_softmax", _log_softmax, "(x - max) - log(sum(exp(x - max))) along one axis")


# -- cumsum, top_k -----------------------------------------------------------------------------

@op(
    "cumsum",
    operands=["x"],
    attrs=[Attr("axis", AttrKind.INT), Attr("exclusive", AttrKind.BOOL, False), Attr("reverse", AttrKind.BOOL, False)],
)
class CumSum:
    """Running sum along ``axis``; ``exclusive`` leaves out the element itself, ``reverse``
    sums from the end. Integers wrap."""

    @staticmethod
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        require_dtype("cumsum", types[0], NUMERIC_TYPES)
        if types[0].rank == 0:
            raise ShapeError("op 'cumsum': the input must have rank >= 1")
        normalize_axis("cumsum", attrs["axis"], types[0].rank)
        return [types[0]]

    @staticmethod
    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        x = arrays[0]
        axis = normalize_axis("cumsum", attrs["axis"], x.ndim)
        work = widen(x)
        if attrs["reverse"]:
            work = np.flip(work, axis)
        with np.errstate(all="ignore"):
            total = np.cumsum(work, axis=axis, dtype=work.dtype)
        if attrs["exclusive"]:
            # Shift by one rather than subtract: x[i] - x[i] need not round back to the
            # previous partial sum in floating point.
            total = np.concatenate(
                [np.zeros_like(np.take(total, [0], axis=axis)), np.take(total, np.arange(x.shape[axis] - 1), axis=axis)],
                axis=axis,
            )
        if attrs["reverse"]:
            total = np.flip(total, axis)
        return [np.ascontiguousarray(total).astype(x.dtype, copy=False)]


@op(
    "top_k",
    operands=["x"],
    attrs=[
        Attr("k", AttrKind.INT),
        Attr("axis", AttrKind.INT, -1),
        Attr("largest", AttrKind.BOOL, True),
        Attr("sorted", AttrKind.BOOL, True),
    ],
    num_results=2,
)
class TopK:
    """The ``k`` largest (or smallest) elements along ``axis`` and their i64 indices, in
    sorted order (also when sorted=False, which ONNX leaves unspecified). Among equal values
    the lower index comes first; NaN sorts above every number."""

    @staticmethod
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        x = types[0]
        require_dtype("top_k", x, NUMERIC_TYPES)
        if x.rank == 0:
            raise ShapeError("op 'top_k': the input must have rank >= 1")
        axis = normalize_axis("top_k", attrs["axis"], x.rank)
        k = attrs["k"]
        if not 0 <= k <= x.shape[axis]:
            raise ShapeError(f"op 'top_k': k={k} must be in [0, {x.shape[axis]}] for axis {axis} of {x}")
        shape = x.shape[:axis] + (k,) + x.shape[axis + 1 :]
        return [x.with_shape(shape), TensorType(shape, DType.I64)]

    @staticmethod
    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        x = arrays[0]
        axis = normalize_axis("top_k", attrs["axis"], x.ndim)
        keys = widen(x)
        if attrs["largest"]:
            # A stable ascending sort of the reversed axis, read backwards, is a descending
            # sort in which equal values keep ascending original indices.
            n = x.shape[axis]
            order = np.flip(np.argsort(np.flip(keys, axis), axis=axis, kind="stable"), axis)
            order = n - 1 - order
        else:
            order = np.argsort(keys, axis=axis, kind="stable")
        indices = np.take(order, np.arange(attrs["k"]), axis=axis).astype(np.int64)
        values = np.take_along_axis(x, indices, axis=axis)
        return [values, indices]


__all__ = ["REDUCE_KINDS", "ReduceKind", "reduced_shape", "reduction_axes"]
