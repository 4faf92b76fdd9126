"""Graph-IR ops: the indexing family (gather/scatter variants and one_hot).

Embedding lookups (``gather``), MoE token routing (``gather``/``scatter_nd``) and KV-cache
updates lower to these. Index operands are i64 or i32; negative indices count from the end
of the indexed axis as ONNX says, and an index out of range is an error at run time: the
computation raises :class:`IndexRangeError` (the value and the axis size), and whoever runs
the op (the reference interpreter, the ASIC and cpu runtimes, which find the value in their
fault records) reports it with :func:`index_out_of_range`, naming the ONNX node, the input
the index came from, the value and the valid range.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from moecc.errors import InputError, MoeccError, ShapeError
from moecc.ir.ops.common import NUMERIC_TYPES, normalize_axis, require_dtype, require_same_dtype
from moecc.ir.registry import Attr, AttrKind, op
from moecc.ir.types import DType, TensorType

INDEX_TYPES: tuple[DType, ...] = (DType.I64, DType.I32)
REDUCTIONS: tuple[str, ...] = ("none", "add", "mul", "max", "min")
#: Op kinds whose operand 1 holds indices into operand 0 (out of range: a run-time error).
INDEXING_KINDS: tuple[str, ...] = ("gather", "gather_elements", "gather_nd", "scatter_elements", "scatter_nd")


class IndexRangeError(InputError):
    """An index met at run time lies outside ``[-size, size)`` of the axis it indexes: bad
    input data (a token id beyond the vocabulary), not a bad model. ``index`` and ``size``
    are the value and the axis size; :func:`index_out_of_range` words it for the op."""

    def __init__(self, message: str, *, index: int, size: int, **context: Any) -> None:
        self.index = index
        self.size = size
        super().__init__(message, **context)


def _out_of_range(kind: str, index: int, size: int) -> IndexRangeError:
    return IndexRangeError(f"op '{kind}': index {index} is out of range [{-size}, {size})", index=index, size=size,
                           remedy="give indices within the indexed axis")


def _wrap_indices(kind: str, indices: np.ndarray, size: int) -> np.ndarray:
    """Indices in ``[-size, size)`` mapped into ``[0, size)``; anything else is an error."""
    idx = np.asarray(indices, dtype=np.int64)
    if idx.size and (idx.min() < -size or idx.max() >= size):
        bad = idx[(idx < -size) | (idx >= size)].reshape(-1)[0]
        raise _out_of_range(kind, int(bad), size)
    return np.where(idx < 0, idx + size, idx)


def _first_bad_tuple_entry(kind: str, idx: np.ndarray, sizes: np.ndarray) -> IndexRangeError:
    """The error of the first entry (row-major) of index tuples ``idx [..., k]`` outside its
    axis (``sizes[j]`` for entry ``j``)."""
    bad = (idx < -sizes) | (idx >= sizes)
    flat = int(np.flatnonzero(bad.reshape(-1))[0])
    return _out_of_range(kind, int(idx.reshape(-1)[flat]), int(sizes[flat % len(sizes)]))


def index_source(value: Any) -> str:
    """Where an index operand's values come from, for messages: ``input 'input_ids'`` when
    it is a graph input (or a reshape of one), else the value and the node computing it."""
    origin = value
    while origin.producer is not None and origin.producer.kind == "reshape":
        origin = origin.producer.operands[0]
    if origin.producer is None:
        return f"input '{origin.name}'"
    producer = value.producer
    return f"%{value.name} (computed by node '{producer.source or producer.kind}')"


def index_out_of_range(op: Any, index: int, size: int) -> MoeccError:
    """The run-time error of graph op ``op`` (an :data:`INDEXING_KINDS` op) meeting ``index``
    outside ``[-size, size)``, on any target: it names the ONNX node, the input the index
    came from, the value and the valid range, e.g. ``node '/embed/Gather', op gather: index
    50000 in input 'input_ids' is out of range [-1000, 1000)``."""
    where = index_source(op.operands[1]) if op.kind in INDEXING_KINDS and len(op.operands) > 1 else "an index operand"
    return IndexRangeError(
        f"index {index} in {where} is out of range [{-size}, {size})",
        index=index, size=size, node=op.source, op_type=op.kind,
        remedy=f"give indices within the indexed axis of size {size} (negative ones count from its end)",
    )


def _check_indices(kind: str, t: TensorType) -> None:
    require_dtype(kind, t, INDEX_TYPES, "indices operand")


@op("gather", operands=["data", "indices"], attrs=[Attr("axis", AttrKind.INT, 0)])
class Gather:
    """Pick slices of ``data`` along ``axis`` at ``indices``: the result shape is
    ``data.shape[:axis] + indices.shape + data.shape[axis+1:]``."""

    @staticmethod
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        data, indices = types
        _check_indices("gather", indices)
        if data.rank == 0:
            raise ShapeError("op 'gather': data must have rank >= 1")
        axis = normalize_axis("gather", attrs["axis"], data.rank)
        return [data.with_shape(data.shape[:axis] + indices.shape + data.shape[axis + 1 :])]

    @staticmethod
    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        data, indices = arrays
        axis = normalize_axis("gather", attrs["axis"], data.ndim)
        idx = _wrap_indices("gather", indices, data.shape[axis])
        return [np.take(data, idx, axis=axis)]


@op("gather_elements", operands=["data", "indices"], attrs=[Attr("axis", AttrKind.INT, 0)])
class GatherElements:
    """``out[i..] = data[i.. with axis coordinate replaced by indices[i..]]``; the result has
    the shape of ``indices`` (same rank as ``data``)."""

    @staticmethod
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        data, indices = types
        _check_indices("gather_elements", indices)
        if data.rank == 0 or indices.rank != data.rank:
            raise ShapeError(f"op 'gather_elements': data {data} and indices {indices} must have the same rank >= 1")
        axis = normalize_axis("gather_elements", attrs["axis"], data.rank)
        if any(i > d for k, (i, d) in enumerate(zip(indices.shape, data.shape)) if k != axis):
            raise ShapeError(f"op 'gather_elements': indices {indices} exceed data {data} outside axis {axis}")
        return [data.with_shape(indices.shape)]

    @staticmethod
    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        data, indices = arrays
        axis = normalize_axis("gather_elements", attrs["axis"], data.ndim)
        idx = _wrap_indices("gather_elements", indices, data.shape[axis])
        # take_along_axis needs the non-axis dims to match, so index a view cut to indices' extent.
        view = data[tuple(slice(0, n) if k != axis else slice(None) for k, n in enumerate(idx.shape))]
        return [np.take_along_axis(view, idx, axis=axis)]


@op("gather_nd", operands=["data", "indices"], attrs=[Attr("batch_dims", AttrKind.INT, 0)])
class GatherND:
    """Gather slices of ``data`` addressed by the last axis of ``indices`` (tuples of length
    ``k``), after ``batch_dims`` leading batch axes shared by both operands."""

    @staticmethod
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        data, indices = types
        _check_indices("gather_nd", indices)
        b = attrs["batch_dims"]
        if indices.rank < 1 or data.rank < 1 or not 0 <= b < min(data.rank, indices.rank):
            raise ShapeError(f"op 'gather_nd': batch_dims {b} does not fit data {data} and indices {indices}")
        if data.shape[:b] != indices.shape[:b]:
            raise ShapeError(f"op 'gather_nd': batch dims of data {data} and indices {indices} differ")
        k = indices.shape[-1]
        if k > data.rank - b:
            raise ShapeError(f"op 'gather_nd': index tuples of length {k} are too long for data {data} with batch_dims {b}")
        return [data.with_shape(indices.shape[:-1] + data.shape[b + k :])]

    @staticmethod
    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        data, indices = arrays
        b = attrs["batch_dims"]
        k = indices.shape[-1]
        batch_shape = data.shape[:b]
        batch = int(np.prod(batch_shape, dtype=np.int64))
        flat_data = data.reshape((batch,) + data.shape[b:])
        flat_idx = np.asarray(indices, dtype=np.int64).reshape((batch, -1, k))
        sizes = np.array(data.shape[b : b + k], dtype=np.int64)
        if flat_idx.size and (np.any(flat_idx < -sizes) or np.any(flat_idx >= sizes)):
            raise _first_bad_tuple_entry("gather_nd", flat_idx, sizes)
        flat_idx = np.where(flat_idx < 0, flat_idx + sizes, flat_idx)
        out = np.stack(
            [flat_data[n][tuple(flat_idx[n].T)] for n in range(batch)]
        ) if batch else np.zeros((0, flat_idx.shape[1]) + data.shape[b + k :], dtype=data.dtype)
        return [out.reshape(indices.shape[:-1] + data.shape[b + k :])]


def _scatter(kind: str, out: np.ndarray, index: tuple[np.ndarray, ...], updates: np.ndarray, reduction: str) -> None:
    """Apply ``updates`` at ``index`` of ``out`` in place; later duplicates win for ``none``."""
    if reduction == "none":
        out[index] = updates
        return
    ufunc = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}[reduction]
    if out.dtype == np.bool_ and reduction in ("add", "mul"):
        ufunc = np.logical_or if reduction == "add" else np.logical_and
    ufunc.at(out, index, updates)


@op(
    "scatter_elements",
    operands=["data", "indices", "updates"],
    attrs=[Attr("axis", AttrKind.INT, 0), Attr("reduction", AttrKind.STR, "none", choices=REDUCTIONS)],
)
class ScatterElements:
    """A copy of ``data`` with ``updates[i..]`` written (or reduced) at the position of
    ``i..`` whose ``axis`` coordinate is replaced by ``indices[i..]``."""

    @staticmethod
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        data, indices, updates = types
        _check_indices("scatter_elements", indices)
        require_same_dtype("scatter_elements", [data, updates])
        if indices.shape != updates.shape or indices.rank != data.rank or data.rank == 0:
            raise ShapeError(
                f"op 'scatter_elements': indices {indices} and updates {updates} must have one shape, "
                f"of the rank of data {data}"
            )
        axis = normalize_axis("scatter_elements", attrs["axis"], data.rank)
        if any(i > d for k, (i, d) in enumerate(zip(indices.shape, data.shape)) if k != axis):
            raise ShapeError(f"op 'scatter_elements': indices {indices} exceed data {data} outside axis {axis}")
        return [data]

    @staticmethod
    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        data, indices, updates = arrays
        axis = normalize_axis("scatter_elements", attrs["axis"], data.ndim)
        idx = _wrap_indices("scatter_elements", indices, data.shape[axis])
        grid = list(np.indices(idx.shape, sparse=True))
        grid[axis] = idx
        out = data.copy()
        _scatter("scatter_elements", out, tuple(np.broadcast_arrays(*grid)), updates, attrs["reduction"])
        return [out]


@op(
    "scatter_nd",
    operands=["data", "indices", "updates"],
    attrs=[Attr("reduction", AttrKind.STR, "none", choices=REDUCTIONS)],
)
class ScatterND:
    """A copy of ``data`` with slices ``updates[i..]`` written (or reduced) at the positions
    given by the index tuples ``indices[i.., :]``."""

    @staticmethod
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        data, indices, updates = types
        _check_indices("scatter_nd", indices)
        require_same_dtype("scatter_nd", [data, updates])
        if indices.rank < 1 or indices.shape[-1] > data.rank:
            raise ShapeError(f"op 'scatter_nd': indices {indices} do not address data {data}")
        k = indices.shape[-1]
        want = indices.shape[:-1] + data.shape[k:]
        if updates.shape != want:
            raise ShapeError(f"op 'scatter_nd': updates {updates} must have shape {want} for data {data} and indices {indices}")
        return [data]

    @staticmethod
    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        data, indices, updates = arrays
        k = indices.shape[-1]
        sizes = np.array(data.shape[:k], dtype=np.int64)
        idx = np.asarray(indices, dtype=np.int64).reshape(-1, k)
        if idx.size and (np.any(idx < -sizes) or np.any(idx >= sizes)):
            raise _first_bad_tuple_entry("scatter_nd", idx, sizes)
        idx = np.where(idx < 0, idx + sizes, idx)
        flat_updates = updates.reshape((idx.shape[0],) + data.shape[k:])
        out = data.copy()
        _scatter("scatter_nd", out, tuple(idx.T), flat_updates, attrs["reduction"])
        return [out]


@op("one_hot", operands=["indices", "values"], attrs=[Attr("depth", AttrKind.INT), Attr("axis", AttrKind.INT, -1)])
class OneHot:
    """``values[1]`` where ``indices`` (wrapped from ``[-depth, 0)``) equals the position along
    the new axis ``axis`` of size ``depth``, ``values[0]`` elsewhere (also for out-of-range
    indices). ``values`` is ``[off, on]``; the result has its element type."""

    @staticmethod
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        indices, values = types
        require_dtype("one_hot", indices, NUMERIC_TYPES, "indices operand")
        if values.shape != (2,):
            raise ShapeError(f"op 'one_hot': values {values} must be a 2-element [off, on] vector")
        if attrs["depth"] < 0:
            raise ShapeError(f"op 'one_hot': depth {attrs['depth']} must be non-negative")
        axis = normalize_axis("one_hot", attrs["axis"], indices.rank + 1)
        shape = indices.shape[:axis] + (attrs["depth"],) + indices.shape[axis:]
        return [values.with_shape(shape)]

    @staticmethod
    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        indices, values = arrays
        depth = attrs["depth"]
        axis = normalize_axis("one_hot", attrs["axis"], indices.ndim + 1)
        # Float indices are truncated toward zero, as the ONNX reference casts them to int.
        idx = np.asarray(indices).astype(np.int64)
        idx = np.where(idx < 0, idx + depth, idx)
        positions = np.arange(depth).reshape((1,) * axis + (depth,) + (1,) * (indices.ndim - axis))
        hot = np.expand_dims(idx, axis) == positions
        return [np.where(hot, values[1], values[0]).astype(values.dtype)]
