"""Graph-IR ops: the shape family (reshape, transpose, concat, slice, expand, tile, trilu).

These ops move data without arithmetic. Every shape is static, so the ONNX frontend lowers
Squeeze/Unsqueeze/Flatten to ``reshape``, Split to ``slice`` ops, and folds Shape/Size/Range
to constants; the attributes below are already in canonical form (no ``-1``/``0`` reshape
magic, clamped slice bounds) so later passes never re-derive ONNX rules.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from moecc.errors import ShapeError
from moecc.ir.ops.common import broadcast_shapes, normalize_axis, require_same_dtype
from moecc.ir.registry import Attr, AttrKind, Operand, op
from moecc.ir.types import TensorType


@op("reshape", operands=["x"], attrs=[Attr("shape", AttrKind.INTS)])
class Reshape:
    """Reinterpret ``x`` (row-major) with the static ``shape``; element counts must match.
    ``shape`` holds literal sizes only: ONNX's ``0`` (copy) and ``-1`` (infer) are resolved
    by the frontend."""

    @staticmethod
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        shape = attrs["shape"]
        if any(d < 0 for d in shape):
            raise ShapeError(f"op 'reshape': target shape {shape} has a negative dim; sizes must be literal")
        if math.prod(shape) != types[0].numel:
            raise ShapeError(
                f"op 'reshape': cannot reshape {types[0]} ({types[0].numel} elements) to {shape} "
                f"({math.prod(shape)} elements)"
            )
        return [types[0].with_shape(shape)]

    @staticmethod
    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        return [np.reshape(arrays[0], attrs["shape"])]


@op("transpose", operands=["x"], attrs=[Attr("perm", AttrKind.INTS)])
class Transpose:
    """Permute the axes of ``x``: result axis ``i`` is input axis ``perm[i]``."""

    @staticmethod
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        perm = attrs["perm"]
        x = types[0]
        if sorted(perm) != list(range(x.rank)):
            raise ShapeError(f"op 'transpose': perm {perm} is not a permutation of the {x.rank} axes of {x}")
        return [x.with_shape(tuple(x.shape[p] for p in perm))]

    @staticmethod
    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        return [np.transpose(arrays[0], attrs["perm"]).copy()]


@op("concat", operands=[Operand("inputs", variadic=True)], attrs=[Attr("axis", AttrKind.INT)])
class Concat:
    """Join the operands along ``axis``; all other dims and the element type must agree."""

    @staticmethod
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        dtype = require_same_dtype("concat", types)
        rank = types[0].rank
        if rank == 0:
            raise ShapeError("op 'concat': operands must have rank >= 1, got scalars")
        axis = normalize_axis("concat", attrs["axis"], rank)
        for t in types[1:]:
            if t.rank != rank or any(a != b for i, (a, b) in enumerate(zip(t.shape, types[0].shape)) if i != axis):
                raise ShapeError(
                    f"op 'concat': operand shapes {', '.join(str(u) for u in types)} differ outside axis {axis}"
                )
        shape = list(types[0].shape)
        shape[axis] = sum(t.shape[axis] for t in types)
        return [TensorType(tuple(shape), dtype)]

    @staticmethod
    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        return [np.concatenate(list(arrays), axis=attrs["axis"])]


def _slice_length(start: int, end: int, step: int) -> int:
    return len(range(start, end, step))


@op(
    "slice",
    operands=["x"],
    attrs=[
        Attr("starts", AttrKind.INTS),
        Attr("ends", AttrKind.INTS),
        Attr("axes", AttrKind.INTS),
        Attr("steps", AttrKind.INTS),
    ],
)
class Slice:
    """Strided window of ``x``: along each listed axis, python ``x[start:end:step]``.

    Bounds are canonical (clamped by the frontend per the ONNX rules): for ``step > 0``,
    ``0 <= start, end <= dim``; for ``step < 0``, ``0 <= start <= dim - 1`` and
    ``-1 <= end <= dim - 1``, where ``end = -1`` means "stop after index 0" (not python's
    "last element"). Unlisted axes are kept whole."""

    @staticmethod
    def verify(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> None:
        x = types[0]
        starts, ends, axes, steps = attrs["starts"], attrs["ends"], attrs["axes"], attrs["steps"]
        if not len(starts) == len(ends) == len(axes) == len(steps):
            raise ShapeError(
                f"op 'slice': starts/ends/axes/steps have different lengths "
                f"({len(starts)}, {len(ends)}, {len(axes)}, {len(steps)})"
            )
        if len(set(axes)) != len(axes) or any(not 0 <= a < x.rank for a in axes):
            raise ShapeError(f"op 'slice': axes {axes} must be distinct and in [0, {x.rank}) for {x}")
        for axis, start, end, step in zip(axes, starts, ends, steps):
            dim = x.shape[axis]
            if step > 0:
                ok = 0 <= start <= dim and 0 <= end <= dim
            elif step < 0:
                ok = (dim == 0 and start == -1 and end == -1) or (0 <= start <= dim - 1 and -1 <= end <= dim - 1)
            else:
                ok = False
            if not ok:
                raise ShapeError(
                    f"op 'slice': bounds start={start} end={end} step={step} on axis {axis} (size {dim}) "
                    "are not canonical",
                    remedy="clamp them as the ONNX Slice rules say before building the op",
                )

    @staticmethod
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        shape = list(types[0].shape)
        for axis, start, end, step in zip(attrs["axes"], attrs["starts"], attrs["ends"], attrs["steps"]):
            shape[axis] = _slice_length(start, end, step)
        return [types[0].with_shape(tuple(shape))]

    @staticmethod
    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        x = arrays[0]
        index: list[slice] = [slice(None)] * x.ndim
        for axis, start, end, step in zip(attrs["axes"], attrs["starts"], attrs["ends"], attrs["steps"]):
            # A negative end is "before index 0", which python slicing can only say with None.
            index[axis] = slice(start if start >= 0 else None, end if end >= 0 else None, step)
        return [x[tuple(index)].copy()]


@op("expand", operands=["x"], attrs=[Attr("shape", AttrKind.INTS)])
class Expand:
    """Broadcast ``x`` to exactly ``shape`` (numpy rules; ``shape`` is the final result shape,
    the frontend resolves ONNX Expand's two-way broadcasting)."""

    @staticmethod
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        shape = attrs["shape"]
        if any(d < 0 for d in shape):
            raise ShapeError(f"op 'expand': target shape {shape} has a negative dim")
        if len(shape) < types[0].rank or broadcast_shapes("expand", types[0].shape, shape) != shape:
            raise ShapeError(f"op 'expand': {types[0]} does not broadcast to {shape}")
        return [types[0].with_shape(shape)]

    @staticmethod
    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        return [np.broadcast_to(arrays[0], attrs["shape"]).copy()]


@op("tile", operands=["x"], attrs=[Attr("repeats", AttrKind.INTS)])
class Tile:
    """Repeat ``x`` ``repeats[i]`` times along each axis ``i``."""

    @staticmethod
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        repeats = attrs["repeats"]
        x = types[0]
        if len(repeats) != x.rank or any(r < 0 for r in repeats):
            raise ShapeError(f"op 'tile': repeats {repeats} must be {x.rank} non-negative counts for {x}")
        return [x.with_shape(tuple(d * r for d, r in zip(x.shape, repeats)))]

    @staticmethod
    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        return [np.tile(arrays[0], attrs["repeats"])]


@op("trilu", operands=["x"], attrs=[Attr("upper", AttrKind.BOOL, True), Attr("k", AttrKind.INT, 0)])
class Trilu:
    """Keep the upper (``j - i >= k``) or lower (``j - i <= k``) triangle of the last two axes
    of ``x``, zeroing the rest."""

    @staticmethod
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        if types[0].rank < 2:
            raise ShapeError(f"op 'trilu': operand {types[0]} must have rank >= 2")
        return [types[0]]

    @staticmethod
    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        x = arrays[0]
        rows, cols = x.shape[-2:]
        offset = np.arange(cols)[None, :] - np.arange(rows)[:, None]
        keep = offset >= attrs["k"] if attrs["upper"] else offset <= attrs["k"]
        return [np.where(keep, x, np.zeros((), dtype=x.dtype))]
