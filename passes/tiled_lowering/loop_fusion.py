"""Loop fusion inside a kernel: consecutive loops over the same tiles become one loop.

Position in the flow: applied by :meth:`~.context.LoweringContext.append_kernel` to every
kernel's top-level statements. A fusion group lowers op by op, so a matmul's epilogue arrives
as a second loop after the matmul's: ``for j { matmul acc; copy y[:, j] <- acc }`` then
``for j { compute z[:, j] = gelu(y[:, j]) }``. Run in that order, a unit that executes its
queue in order (the ASIC's VPU) reaches the epilogue only after every output tile's matmul:
the epilogue's vector work follows all of the MXU's instead of overlapping it. Fused, each
iteration computes a tile and then its epilogue, so tile ``j``'s epilogue runs while tile
``j + 1`` multiplies; on the CPU the tile is still in cache.

Two adjacent loops with the same static trip count fuse when the first holds a matmul and the
second none (a product's epilogue: element-wise work, copies, reductions; two loops of
products stay apart, as attention's phases, which put every head's scores before every
head's output on purpose; chains of element-wise loops are left to staging, which runs them
block by block itself, ``backend/asic/staging/blocks.py``),
neither is parallel, their bodies hold no loops, every view in them moves with the loop
variable alone, and no
iteration of the second loop touches what a *later* iteration of the first writes, nor
writes what a later iteration of the first reads (the dependences that fusing would
reverse). Each view's footprint is a set of flat element indices moving by a fixed stride
per iteration, so this is checked exactly on the footprints, up to :data:`MAX_FOOTPRINT`
elements per view. The fused program computes the same values in another order: results
are bitwise unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from moecc.ir.affine import Affine
from moecc.ir.tiled.nodes import ElementRef, For, MatMul, Stmt, View, stmt_views

#: Views with more elements than this are not checked (the loops stay apart).
MAX_FOOTPRINT = 1 << 20


def _stride(offset: Affine, var: str) -> int | None:
    """The offset's coefficient of ``var``, or None when it moves with another variable."""
    coef = 0
    for name, c in offset.terms:
        if name != var:
            return None
        coef += c
    return coef


def _footprint(view: View) -> np.ndarray:
    """The flat elements ``view`` covers at loop variable 0, sorted and unique."""
    flat = np.asarray(view.offset.const, dtype=np.int64)
    for size, stride in zip(view.shape, view.strides):
        flat = np.add.outer(flat, np.arange(size, dtype=np.int64) * stride)
    return np.unique(flat)


def _accesses(body: Sequence[Stmt], var: str) -> list[tuple[str, str, View, int]] | None:
    """(buffer, access, view, stride per iteration) of every view, or None when a body holds a
    loop, a run-time element, or a view that moves with another variable."""
    out = []
    for stmt in body:
        if isinstance(stmt, For):
            return None
        for field in dataclasses.fields(stmt):  # run-time elements (a matmul's rows, limits)
            if isinstance(getattr(stmt, field.name), ElementRef):
                return None
        for access, view in stmt_views(stmt):
            stride = _stride(view.offset, var)
            if stride is None or int(np.prod(view.shape, dtype=np.int64)) > MAX_FOOTPRINT:
                return None
            out.append((view.buffer, access, view, stride))
    return out


def _clash(later: tuple[np.ndarray, int], earlier: tuple[np.ndarray, int], count: int) -> bool:
    """Whether iteration ``i`` of ``earlier``'s footprint meets a later iteration ``i + k``
    (``k >= 1``) of ``later``'s. Different strides: assumed to clash."""
    (a, sa), (b, sb) = earlier, later
    if sa != sb:
        return True
    return any(np.intersect1d(a, b + k * sb, assume_unique=True).size for k in range(1, count))


def fusible(first: For, second: For) -> bool:
    """Whether ``second``'s body may run inside ``first``'s loop, iteration by iteration."""
    if (first.parallel is not None or second.parallel is not None or not isinstance(first.count, int)
            or first.count != second.count or first.max_count is not None or second.max_count is not None
            or not any(isinstance(s, MatMul) for s in first.body) or any(isinstance(s, MatMul) for s in second.body)):
        return False
    one = _accesses(first.body, first.var)
    two = _accesses(second.body, second.var)
    if one is None or two is None:
        return False
    # Footprints only of the views a write meets (a weight both loops only read is never enumerated).
    footprints: dict[int, np.ndarray] = {}

    def footprint(view: View) -> np.ndarray:
        if id(view) not in footprints:
            footprints[id(view)] = _footprint(view)
        return footprints[id(view)]

    for buffer, access, view, stride in two:
        for other, access1, view1, stride1 in one:
            if other != buffer or (access == "read" and access1 == "read"):
                continue
            # Iteration i of the second loop against a later iteration of the first.
            if _clash((footprint(view1), stride1), (footprint(view), stride), first.count):
                return False
    return True


def _renamed(value: Any, old: str, new: str) -> Any:
    """``value`` (a statement, view, expression, element or affine) with variable ``old`` as ``new``."""
    if isinstance(value, Affine):
        return Affine(value.const, tuple((new if v == old else v, c) for v, c in value.terms))
    if isinstance(value, View):
        return dataclasses.replace(value, offset=_renamed(value.offset, old, new))
    if isinstance(value, ElementRef):
        return dataclasses.replace(value, offset=_renamed(value.offset, old, new))
    if isinstance(value, tuple):
        return tuple(_renamed(v, old, new) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _renamed(getattr(value, f.name), old, new) for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **changes)
    return value


def fuse_loops(stmts: Sequence[Stmt]) -> list[Stmt]:
    """``stmts`` with runs of adjacent fusible loops merged (see the module docstring)."""
    out: list[Stmt] = []
    for stmt in stmts:
        last = out[-1] if out else None
        if isinstance(stmt, For) and isinstance(last, For) and fusible(last, stmt):
            body = tuple(_renamed(s, stmt.var, last.var) for s in stmt.body)
            out[-1] = dataclasses.replace(last, body=last.body + body)
        else:
            out.append(stmt)
    return out


__all__ = ["MAX_FOOTPRINT", "fuse_loops", "fusible"]
