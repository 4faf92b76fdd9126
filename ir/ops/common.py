"""Shared helpers for op declarations: axis normalisation, broadcasting, dtype checks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from moecc.errors import ShapeError, UnsupportedError
from moecc.ir.types import DType, TensorType

FLOAT_TYPES: tuple[DType, ...] = (DType.F32, DType.F16, DType.BF16)
INT_TYPES: tuple[DType, ...] = (DType.I64, DType.I32, DType.I8, DType.U8)
NUMERIC_TYPES: tuple[DType, ...] = FLOAT_TYPES + INT_TYPES
ALL_TYPES: tuple[DType, ...] = tuple(DType)


def normalize_axis(kind: str, axis: int, rank: int) -> int:
    """Map a possibly negative axis into ``[0, rank)``; error naming the op otherwise."""
    if not -rank <= axis < max(rank, 1) or (rank == 0 and axis not in (0, -1)):
        raise ShapeError(f"op '{kind}': axis {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def normalize_axes(kind: str, axes: Sequence[int], rank: int) -> tuple[int, ...]:
    out = tuple(normalize_axis(kind, a, rank) for a in axes)
    if len(set(out)) != len(out):
        raise ShapeError(f"op '{kind}': repeated axes {tuple(axes)}")
    return out


def broadcast_shapes(kind: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    """Numpy/ONNX multidirectional broadcasting, with an error naming the op."""
    try:
        return tuple(int(d) for d in np.broadcast_shapes(*shapes))
    except ValueError:
        raise ShapeError(
            f"op '{kind}': shapes {' and '.join(str(s) for s in shapes)} do not broadcast"
        ) from None


def require_dtype(kind: str, t: TensorType, allowed: Sequence[DType], what: str = "operand") -> None:
    if t.dtype not in allowed:
        raise UnsupportedError(
            f"op '{kind}' {what} has element type {t.dtype}",
            remedy=f"it takes {', '.join(str(d) for d in allowed)}",
        )


def require_same_dtype(kind: str, types: Sequence[TensorType]) -> DType:
    dtypes = {t.dtype for t in types}
    if len(dtypes) != 1:
        raise ShapeError(f"op '{kind}': operand element types differ ({', '.join(sorted(str(d) for d in dtypes))})")
    return types[0].dtype
