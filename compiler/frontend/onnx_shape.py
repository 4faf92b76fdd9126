"""ONNX lowering of the shape family: Reshape, Transpose, Squeeze, Unsqueeze, Flatten, Concat,
Split, Slice, Expand, Shape, Size, ConstantOfShape, Range, Tile, Trilu and Constant.

Part of the ONNX frontend (see :mod:`moecc.frontend.onnx_context`). Every shape in moecc is
static, so shape-valued inputs must be constants once the builder has folded them; the ONNX
conventions (``0``/``-1`` in Reshape, negative axes, clamped Slice bounds, two-way Expand
broadcasting) are resolved here, and the graph-IR ops only see canonical attributes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from moecc.errors import ShapeError, UnsupportedError
from moecc.frontend.onnx_context import NodeContext, onnx_op
from moecc.ir.graph import Value
from moecc.ir.ops.common import broadcast_shapes
from moecc.ir.types import DType


def _axis(ctx: NodeContext, axis: int, rank: int, what: str = "axis") -> int:
    """A possibly negative ONNX axis in ``[-rank, rank)`` as a non-negative one."""
    if not -rank <= axis < rank:
        raise ctx.error(f"{what} {axis} is out of range for rank {rank}", cls=ShapeError)
    return axis + rank if axis < 0 else axis


def _axes(ctx: NodeContext, axes: Sequence[int], rank: int) -> list[int]:
    out = [_axis(ctx, a, rank, "axes entry") for a in axes]
    if len(set(out)) != len(out):
        raise ctx.error(f"axes {list(axes)} repeat an axis", cls=ShapeError)
    return out


def reshape_to(ctx: NodeContext, x: Value, shape: Sequence[int]) -> Value:
    """``x`` reshaped to a literal shape, or ``x`` itself when the shape already matches."""
    shape = tuple(int(d) for d in shape)
    if shape == x.type.shape:
        return x
    return ctx.emit("reshape", [x], {"shape": shape})


def _axes_operand(ctx: NodeContext, index: int) -> list[int] | None:
    """Squeeze/Unsqueeze axes: an input from opset 13, an attribute before."""
    if ctx.has_input(index):
        return ctx.const_ints(index, "axes")
    if ctx.has_attr("axes"):
        return [int(a) for a in ctx.attr("axes")]
    return None


@onnx_op("Reshape", since=13)
def reshape(ctx: NodeContext) -> list[Value]:
    x = ctx.input(0)
    target = ctx.const_ints(1, "the target shape")
    allow_zero = bool(ctx.attr("allowzero", 0))
    shape: list[int] = []
    infer_at: int | None = None
    for i, d in enumerate(target):
        if d == 0 and not allow_zero:
            if i >= x.type.rank:
                raise ctx.error(f"shape entry {i} is 0 (copy) but the input {x.type} has only {x.type.rank} dims", cls=ShapeError)
            shape.append(x.type.shape[i])
        elif d == -1:
            if infer_at is not None:
                raise ctx.error(f"target shape {target} has more than one -1", cls=ShapeError)
            infer_at = i
            shape.append(1)
        elif d < 0:
            raise ctx.error(f"target shape {target} has invalid dim {d}", cls=ShapeError)
        else:
            shape.append(d)
    if infer_at is not None:
        known = math.prod(shape)
        if known == 0 or x.type.numel % known:
            raise ctx.error(f"cannot infer the -1 of target shape {target} for input {x.type}", cls=ShapeError)
        shape[infer_at] = x.type.numel // known
    return [reshape_to(ctx, x, shape)]


@onnx_op("Transpose", since=13)
def transpose(ctx: NodeContext) -> list[Value]:
    x = ctx.input(0)
    perm = ctx.attr("perm")
    perm = list(range(x.type.rank))[::-1] if perm is None else [int(p) for p in perm]
    if perm == list(range(x.type.rank)):
        return [x]
    return [ctx.emit("transpose", [x], {"perm": [_axis(ctx, p, x.type.rank, "perm entry") for p in perm]})]


@onnx_op("Squeeze", since=13)
def squeeze(ctx: NodeContext) -> list[Value]:
    x = ctx.input(0)
    axes = _axes_operand(ctx, 1)
    if axes is None:
        drop = {i for i, d in enumerate(x.type.shape) if d == 1}
    else:
        drop = set(_axes(ctx, axes, x.type.rank))
        wrong = [a for a in sorted(drop) if x.type.shape[a] != 1]
        if wrong:
            raise ctx.error(f"cannot squeeze axes {wrong} of {x.type}: their size is not 1", cls=ShapeError)
    return [reshape_to(ctx, x, [d for i, d in enumerate(x.type.shape) if i not in drop])]


@onnx_op("Unsqueeze", since=13)
def unsqueeze(ctx: NodeContext) -> list[Value]:
    x = ctx.input(0)
    axes = _axes_operand(ctx, 1)
    if axes is None:
        raise ctx.error("Unsqueeze needs axes", cls=ShapeError)
    rank = x.type.rank + len(axes)
    inserted = set(_axes(ctx, axes, rank))
    dims = iter(x.type.shape)
    return [reshape_to(ctx, x, [1 if i in inserted else next(dims) for i in range(rank)])]


@onnx_op("Flatten", since=13)
def flatten(ctx: NodeContext) -> list[Value]:
    x = ctx.input(0)
    rank = x.type.rank
    axis = int(ctx.attr("axis", 1))
    if not -rank <= axis <= rank:
        raise ctx.error(f"axis {axis} is out of range [{-rank}, {rank}]", cls=ShapeError)
    axis = axis + rank if axis < 0 else axis
    return [reshape_to(ctx, x, [math.prod(x.type.shape[:axis]), math.prod(x.type.shape[axis:])])]


@onnx_op("Concat", since=13)
def concat(ctx: NodeContext) -> list[Value]:
    values = [ctx.input(i) for i in range(len(ctx.inputs)) if ctx.has_input(i)]
    if not values:
        raise ctx.error("Concat needs at least one input", cls=ShapeError)
    axis = _axis(ctx, int(ctx.attr("axis")), values[0].type.rank)
    if len(values) == 1:
        return [values[0]]
    return [ctx.emit("concat", values, {"axis": axis})]


def slice_axis(ctx: NodeContext, x: Value, axis: int, start: int, end: int, step: int = 1) -> Value:
    """``x[start:end:step]`` along one axis with canonical (already clamped) bounds."""
    if start == 0 and end == x.type.shape[axis] and step == 1:
        return x
    return ctx.emit("slice", [x], {"starts": [start], "ends": [end], "axes": [axis], "steps": [step]})


@onnx_op("Split", since=13)
def split(ctx: NodeContext) -> list[Value]:
    x = ctx.input(0)
    axis = _axis(ctx, int(ctx.attr("axis", 0)), x.type.rank)
    dim = x.type.shape[axis]
    outputs = ctx.num_outputs
    if ctx.has_input(1):
        sizes = ctx.const_ints(1, "split sizes")
        if len(sizes) != outputs or sum(sizes) != dim or any(s < 0 for s in sizes):
            raise ctx.error(f"split sizes {sizes} do not divide axis {axis} of size {dim} into {outputs} outputs", cls=ShapeError)
    else:
        parts = int(ctx.attr("num_outputs", outputs)) if ctx.opset >= 18 else outputs
        if parts != outputs or parts <= 0:
            raise ctx.error(f"num_outputs is {parts} but the node has {outputs} outputs", cls=ShapeError)
        if ctx.opset >= 18 and ctx.has_attr("num_outputs"):
            # Opset 18: chunks of ceil(dim / n), the last one smaller when it does not divide.
            chunk = -(-dim // parts)
            sizes = [max(0, min(chunk, dim - i * chunk)) for i in range(parts)]
        else:
            if dim % parts:
                raise ctx.error(f"axis {axis} of size {dim} does not split evenly into {parts} outputs", cls=ShapeError)
            sizes = [dim // parts] * parts
    results: list[Value] = []
    offset = 0
    for size in sizes:
        results.append(slice_axis(ctx, x, axis, offset, offset + size))
        offset += size
    return results


def clamp_slice(start: int, end: int, step: int, dim: int) -> tuple[int, int]:
    """ONNX Slice bounds (negative = from the end, any magnitude) clamped to canonical form."""
    if start < 0:
        start += dim
    if end < 0:
        end += dim
    if step > 0:
        return min(max(start, 0), dim), min(max(end, 0), dim)
    return min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)


@onnx_op("Slice", since=13)
def slice_(ctx: NodeContext) -> list[Value]:
    x = ctx.input(0)
    rank = x.type.rank
    starts = ctx.const_ints(1, "starts")
    ends = ctx.const_ints(2, "ends")
    axes = ctx.const_ints(3, "axes") if ctx.has_input(3) else list(range(len(starts)))
    steps = ctx.const_ints(4, "steps") if ctx.has_input(4) else [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ctx.error(f"starts/ends/axes/steps have different lengths {len(starts)}, {len(ends)}, {len(axes)}, {len(steps)}", cls=ShapeError)
    if any(s == 0 for s in steps):
        raise ctx.error(f"steps {steps} contain 0", cls=ShapeError)
    attrs: dict[str, list[int]] = {"starts": [], "ends": [], "axes": [], "steps": []}
    for axis, start, end, step in zip(_axes(ctx, axes, rank), starts, ends, steps):
        dim = x.type.shape[axis]
        lo, hi = clamp_slice(start, end, step, dim)
        if lo == 0 and hi == dim and step == 1:
            continue
        attrs["starts"].append(lo)
        attrs["ends"].append(hi)
        attrs["axes"].append(axis)
        attrs["steps"].append(step)
    if not attrs["axes"]:
        return [x]
    return [ctx.emit("slice", [x], attrs)]


def expand_to(ctx: NodeContext, x: Value, shape: Sequence[int]) -> Value:
    """``x`` broadcast to ``shape`` (exactly), or ``x`` when it already has that shape."""
    shape = tuple(int(d) for d in shape)
    if shape == x.type.shape:
        return x
    return ctx.emit("expand", [x], {"shape": shape})


@onnx_op("Expand", since=13)
def expand(ctx: NodeContext) -> list[Value]:
    x = ctx.input(0)
    requested = ctx.const_ints(1, "the target shape")
    if any(d < 0 for d in requested):
        raise ctx.error(f"target shape {requested} has a negative dim", cls=ShapeError)
    try:
        shape = broadcast_shapes("expand", x.type.shape, tuple(requested))
    except ShapeError as err:
        raise err.add_context(node=ctx.name, op_type=ctx.op_type, opset=ctx.opset) from None
    return [expand_to(ctx, x, shape)]


@onnx_op("Shape", since=13)
def shape(ctx: NodeContext) -> list[Value]:
    dims = ctx.input(0).type.shape
    start = int(ctx.attr("start", 0))
    end = ctx.attr("end")
    # Python slicing clamps exactly as the ONNX spec says for out-of-range start/end.
    picked = dims[start:] if end is None else dims[start : int(end)]
    return [ctx.const(np.array(picked, dtype=np.int64))]


@onnx_op("Size", since=13)
def size(ctx: NodeContext) -> list[Value]:
    return [ctx.const(np.array(ctx.input(0).type.numel, dtype=np.int64))]


@onnx_op("ConstantOfShape", since=13)
def constant_of_shape(ctx: NodeContext) -> list[Value]:
    dims = ctx.const_ints(0, "the shape")
    if any(d < 0 for d in dims):
        raise ctx.error(f"shape {dims} has a negative dim", cls=ShapeError)
    value = ctx.attr("value")
    fill = np.zeros((1,), dtype=np.float32) if value is None else np.asarray(value).reshape(-1)
    if fill.size != 1:
        raise ctx.error(f"value must hold one element, it holds {fill.size}", cls=ShapeError)
    DType.from_numpy(fill.dtype)
    return [ctx.const(np.full(dims, fill[0], dtype=fill.dtype))]


@onnx_op("Range", since=13)
def range_(ctx: NodeContext) -> list[Value]:
    start, limit, delta = (np.asarray(ctx.const_input(i, what)) for i, what in enumerate(("start", "limit", "delta")))
    dtype = start.dtype
    DType.from_numpy(dtype)
    if np.issubdtype(dtype, np.integer):
        s, lim, d = int(start), int(limit), int(delta)
        if d == 0:
            raise ctx.error("delta is 0", cls=ShapeError)
        count = max(-(-(lim - s) // d), 0)
        values = s + np.arange(count, dtype=np.int64) * d
    else:
        # Accumulate in f32 (the stash_type default): exact for f32, safe for f16/bf16.
        s, lim, d = (np.float32(v) for v in (start, limit, delta))
        if d == 0:
            raise ctx.error("delta is 0", cls=ShapeError)
        count = max(int(math.ceil((float(lim) - float(s)) / float(d))), 0)
        values = s + np.arange(count, dtype=np.float32) * d
    return [ctx.const(values.astype(dtype))]


@onnx_op("Tile", since=13)
def tile(ctx: NodeContext) -> list[Value]:
    x = ctx.input(0)
    repeats = ctx.const_ints(1, "repeats")
    if len(repeats) != x.type.rank or any(r < 0 for r in repeats):
        raise ctx.error(f"repeats {repeats} must be {x.type.rank} non-negative counts", cls=ShapeError)
    if all(r == 1 for r in repeats):
        return [x]
    return [ctx.emit("tile", [x], {"repeats": repeats})]


@onnx_op("Trilu", since=14)
def trilu(ctx: NodeContext) -> list[Value]:
    k = ctx.const_ints(1, "k") if ctx.has_input(1) else [0]
    if len(k) != 1:
        raise ctx.error(f"k must be a scalar, got {len(k)} values", cls=ShapeError)
    return [ctx.emit("trilu", [ctx.input(0)], {"upper": bool(ctx.attr("upper", 1)), "k": k[0]})]


@onnx_op("Constant", since=13)
def constant(ctx: NodeContext) -> list[Value]:
    present = ctx.attrs_present()
    if "sparse_value" in present:
        raise ctx.error("sparse constants are not supported", remedy="store the constant densely (attribute 'value')")
    if "value_string" in present or "value_strings" in present:
        raise ctx.error("string constants are not supported")
    if "value" in present:
        data = np.asarray(ctx.attr("value"))
    elif "value_float" in present:
        data = np.array(ctx.attr("value_float"), dtype=np.float32)
    elif "value_floats" in present:
        data = np.array(ctx.attr("value_floats"), dtype=np.float32)
    elif "value_int" in present:
        data = np.array(ctx.attr("value_int"), dtype=np.int64)
    elif "value_ints" in present:
        data = np.array(ctx.attr("value_ints"), dtype=np.int64)
    else:
        raise ctx.error("Constant has no value attribute", cls=ShapeError)
    try:
        DType.from_numpy(data.dtype)
    except UnsupportedError as err:
        raise err.add_context(node=ctx.name, op_type=ctx.op_type, opset=ctx.opset) from None
    return [ctx.const(data)]
