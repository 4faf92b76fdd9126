"""View algebra for lowering into the tiled loop IR: layout ops as views, not copies.

Lowering from the graph IR turns Transpose, Slice, Expand/broadcasting and (most) Reshape into
a different :class:`~moecc.ir.tiled.nodes.View` of the same buffer, and tiling cuts views into
tiles; these functions do that arithmetic once. Each returns a new view addressing exactly the
elements numpy's corresponding operation would (``transpose``, basic slicing,
``broadcast_to``, ``reshape`` without a copy) and raises :class:`ValueError` when the request
does not fit the view.
"""

from __future__ import annotations

from collections.abc import Sequence

from moecc.ir.affine import Affine
from moecc.ir.tiled.nodes import View


def permute(view: View, axes: Sequence[int]) -> View:
    """Axis ``i`` of the result is axis ``axes[i]`` of ``view`` (numpy ``transpose``)."""
    if sorted(axes) != list(range(view.rank)):
        raise ValueError(f"axes {list(axes)} are not a permutation of {view.rank} axes")
    return View(view.buffer, view.offset, tuple(view.shape[a] for a in axes), tuple(view.strides[a] for a in axes))


def window(view: View, starts: Sequence[int | str | Affine], sizes: Sequence[int]) -> View:
    """The sub-view of ``sizes`` starting at index ``starts`` (affine: a tile at a loop
    variable's position). Static starts are checked against the view's shape."""
    if len(starts) != view.rank or len(sizes) != view.rank:
        raise ValueError(f"window of rank {len(starts)}/{len(sizes)} on a view of rank {view.rank}")
    offset = view.offset
    for axis, (start, size, dim, stride) in enumerate(zip(starts, sizes, view.shape, view.strides)):
        begin = Affine.of(start)
        if size < 1 or (not begin.terms and not 0 <= begin.const <= dim - size):
            raise ValueError(f"window [{begin}, +{size}) does not fit axis {axis} of size {dim}")
        offset = offset + begin * stride
    return View(view.buffer, offset, tuple(sizes), view.strides)


def broadcast(view: View, shape: Sequence[int]) -> View:
    """``view`` broadcast to ``shape`` by numpy's rules: leading axes are added and size-1
    axes stretched, both with stride 0."""
    shape = tuple(shape)
    extra = len(shape) - view.rank
    if extra < 0:
        raise ValueError(f"cannot broadcast rank {view.rank} to rank {len(shape)}")
    strides = [0] * extra
    for dim, stride, want in zip(view.shape, view.strides, shape[extra:]):
        if dim == want:
            strides.append(stride)
        elif dim == 1:
            strides.append(0)
        else:
            raise ValueError(f"cannot broadcast {list(view.shape)} to {list(shape)}")
    return View(view.buffer, view.offset, shape, tuple(strides))


def reshape(view: View, shape: Sequence[int]) -> View:
    """``view`` with a new shape of the same element count, in row-major order, without a
    copy: groups of axes are merged or split where their strides allow (numpy's no-copy
    reshape). Raises :class:`ValueError` when the reshape needs a copy (then lower it as a
    ``copy`` into a contiguous buffer first)."""
    shape = tuple(shape)
    count = 1
    for d in shape:
        count *= d
    if count != view.elements or any(d < 1 for d in shape):
        raise ValueError(f"cannot reshape {list(view.shape)} ({view.elements} elements) to {list(shape)}")
    # Size-1 axes address nothing: drop them, then match groups of old and new axes with the
    # same element count; each old group must be contiguous among itself to be re-split.
    old = [(n, s) for n, s in zip(view.shape, view.strides) if n != 1]
    new_strides = [0] * len(shape)
    oi = ni = 0
    while oi < len(old) and ni < len(shape):
        oj, nj = oi + 1, ni + 1
        old_count, new_count = old[oi][0], shape[ni]
        while old_count != new_count:
            if new_count < old_count:
                new_count *= shape[nj]
                nj += 1
            else:
                old_count *= old[oj][0]
                oj += 1
        for k in range(oi, oj - 1):
            if old[k][1] != old[k + 1][0] * old[k + 1][1]:
                raise ValueError(f"reshaping {list(view.shape)} with strides {list(view.strides)} to "
                                 f"{list(shape)} needs a copy")
        new_strides[nj - 1] = old[oj - 1][1]
        for k in range(nj - 1, ni, -1):
            new_strides[k - 1] = new_strides[k] * shape[k]
        oi, ni = oj, nj
    # Trailing size-1 axes (ni < len(shape)) keep stride 0: they address one element.
    return View(view.buffer, view.offset, shape, tuple(new_strides))


__all__ = ["broadcast", "permute", "reshape", "window"]
