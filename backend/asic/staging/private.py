"""Global temporaries only one kernel touches, made locals of it (SRAM, no HBM round trip).

Runs in :func:`~.module.stage_module` before each kernel is staged. A tiled kernel that writes
a global temporary and reads it back (a reduction's partial sums; the activations of an
expert's MLP inside a fused MoE kernel) stores it to HBM and loads it again; when no other
step touches it and it fits, it becomes a local of the kernel instead: first with every such
temporary up to :data:`PRIVATE_TEMP_SHARES` ``[0]`` of the SRAM each (a fused element-wise
group's intermediates, which :mod:`.blocks` then shrinks to one block); when the staged kernel
does not fit the SRAM that way, with the smaller share, then with none
(:func:`~.module.stage_module` tries them in turn). Staging needs the
regions a statement makes of a local to be contiguous, so the local keeps the buffer's
row-major layout when every view of it is dense (or broadcast), and otherwise is laid out in
*column blocks* when every view of it is a ``rows x b`` block of ``[R, W]`` at a column
offset that is a multiple of ``b``: element ``(r, c)`` at ``(c // b) * R * b + r * b + c % b``,
so each such block is a contiguous ``R x b`` tile. A ``matmul`` reading it as ``a`` across
several blocks is split into one product per block of ``k`` (accumulating; sums may
reassociate).
"""

from __future__ import annotations

import dataclasses
import math

from moecc.ir.affine import Affine
from moecc.ir.tiled.nodes import (Buffer, Compute, Copy, For, Gather, HostCall, Kernel, MatMul, Reduce, Scatter, Stmt,
                                  TiledModule, View, stmt_elements, stmt_views, walk)
from moecc.isa_spec.target import Target

from moecc.backend.asic.staging.webs import dense_view, map_expr_views

#: A global temporary only one kernel uses becomes one of its locals up to 1/share of the SRAM:
#: the shares tried in turn, the first whose staged kernel fits the SRAM wins (none: no locals).
PRIVATE_TEMP_SHARES = (8, 64)
#: Narrowest column block a private temporary is laid out in.
MIN_BLOCK_COLS = 16


def private_temps(tiled: TiledModule, target: Target, share: int) -> dict[str, list[Buffer]]:
    """Kernel name -> the global temporaries no other step touches, each at most 1/``share``
    of the SRAM."""
    users: dict[str, set[str]] = {}
    for step in tiled.steps:
        if isinstance(step, HostCall):
            for name in step.inputs + step.outputs:
                users.setdefault(name, set()).add(f"@{step.name}")
            continue
        for _, stmt, _ in walk(step.body):
            # Elements read at run time (loop counts, a matmul's row count) and the tables of
            # gathers and scatters are DMA'd or loaded from HBM: they stay global.
            for ref in stmt_elements(stmt):
                users.setdefault(ref.buffer, set()).add(f"@{step.name}")
            if isinstance(stmt, Gather | Scatter):
                users.setdefault(stmt.table.buffer, set()).add(f"@{step.name}")
            for _, view in stmt_views(stmt):
                users.setdefault(view.buffer, set()).add(step.name)
    limit = target.sram_capacity_bytes // share
    outputs = set(tiled.outputs)
    private: dict[str, list[Buffer]] = {}
    for buf in tiled.buffers:
        owners = users.get(buf.name, set())
        if (buf.role == "temp" and buf.name not in outputs and len(owners) == 1
                and not next(iter(owners)).startswith("@") and buf.elements * 4 <= limit):
            private.setdefault(next(iter(owners)), []).append(buf)
    return private


def localize(kernel: Kernel, buffers: list[Buffer]) -> Kernel:
    """``kernel`` with those of ``buffers`` (global temporaries only it touches) that it sees
    densely or in column blocks made locals (see the module docstring); the others stay."""
    for buf in buffers:
        views = [v for _, stmt, _ in walk(kernel.body) for _, v in stmt_views(stmt) if v.buffer == buf.name]
        if all(dense_view(_without_broadcast(v)) for v in views):
            kernel = dataclasses.replace(kernel, buffers=kernel.buffers + (Buffer(buf.name, "local", buf.dtype, buf.shape),))
            continue
        relaid = _column_blocks(kernel, buf)
        if relaid is not None:
            kernel = relaid
    return kernel


def _without_broadcast(view: View) -> View:
    return View(view.buffer, view.offset, tuple(n for n, s in zip(view.shape, view.strides) if s),
                tuple(s for s in view.strides if s))


def _plane(view: View, width: int, ranges: dict[str, int]) -> tuple[Affine, Affine, int, int] | None:
    """(row offset, column offset, rows, columns) of a view of a row-major ``[R, width]``
    buffer that is one 2-D block of it (axes of size 1 aside), else None."""
    axes = [(n, s) for n, s in zip(view.shape, view.strides) if n != 1]
    rows = cols = 1
    if axes and axes[-1][1] == 1:
        cols = axes.pop()[0]
    if axes:
        n, s = axes.pop()
        if s != width:
            return None
        rows = n
    if axes:
        return None
    row, col = Affine(), Affine()
    for var, coef in view.offset.terms:
        if coef % width == 0:
            row = row + Affine.of(var) * (coef // width)
        elif 0 < coef < width:
            col = col + Affine.of(var) * coef
        else:
            return None
    r, c = divmod(view.offset.const, width)
    row, col = row + r, col + c
    lo, hi = col.bounds(ranges)
    if lo < 0 or hi + cols > width:
        return None
    return row, col, rows, cols


def _column_blocks(kernel: Kernel, buf: Buffer) -> Kernel | None:
    name, width = buf.name, buf.shape[-1] if buf.shape else 1
    height = buf.elements // max(1, width)
    planes: dict[View, tuple[Affine, Affine, int, int]] = {}
    split_reads: set[View] = set()  # views read as a matmul's `a` across blocks of k
    for _, stmt, loops in walk(kernel.body):
        if isinstance(stmt, For):
            continue
        ranges = {loop.var: loop.trip_bound for loop in loops}
        mine = [(a, v) for a, v in stmt_views(stmt) if v.buffer == name]
        if not mine:
            continue
        if not isinstance(stmt, (Compute, Copy, Reduce, MatMul)):
            return None
        if isinstance(stmt, MatMul) and stmt.a.buffer == name:
            if stmt.transpose_a or stmt.dst.buffer == name or stmt.b.buffer == name:
                return None
            split_reads.add(stmt.a)
        for _, view in mine:
            plane = _plane(view, width, ranges)
            if plane is None:
                return None
            planes[view] = plane
    if not planes:
        return None
    block = 0
    for view, (_, col, _, cols) in planes.items():
        for _, coef in col.terms:
            block = math.gcd(block, coef)
        block = math.gcd(block, col.const)
        if view not in split_reads:
            block = math.gcd(block, cols)
    block = math.gcd(block, width) if block else width
    if block < MIN_BLOCK_COLS or block == width:
        return None
    if any(cols > block for view, (_, _, _, cols) in planes.items() if view not in split_reads):
        return None

    def place(view: View, plane: tuple[Affine, Affine, int, int]) -> View:
        row, col = plane[0], plane[1]
        offset = row * block + _divide(col, block) * (height * block)
        strides = tuple(0 if n == 1 else (1 if s == 1 else block) for n, s in zip(view.shape, view.strides))
        return View(name, offset, view.shape, strides)

    def remap(view: View) -> View:
        return place(view, planes[view]) if view.buffer == name else view

    def split(stmt: MatMul) -> list[Stmt]:
        """One product per ``block`` columns of ``a`` (rows of ``b``), accumulating."""
        a, b = stmt.a, stmt.b
        row, col, rows, _ = planes[a]
        parts: list[Stmt] = []
        for j, k0 in enumerate(range(0, a.shape[-1], block)):
            kn = min(block, a.shape[-1] - k0)
            a_j = View(a.buffer, a.offset + k0 * a.strides[-1], a.shape[:-1] + (kn,), a.strides)
            if stmt.transpose_b:
                b_j = View(b.buffer, b.offset + k0 * b.strides[-1], b.shape[:-1] + (kn,), b.strides)
            else:
                b_j = View(b.buffer, b.offset + k0 * b.strides[-2], b.shape[:-2] + (kn, b.shape[-1]), b.strides)
            parts.append(dataclasses.replace(stmt, dst=remap(stmt.dst), a=place(a_j, (row, col + k0, rows, kn)), b=b_j,
                                             accumulate=stmt.accumulate or j > 0))
        return parts

    def rewrite(stmt: Stmt) -> list[Stmt]:
        if isinstance(stmt, For):
            return [dataclasses.replace(stmt, body=tuple(x for s in stmt.body for x in rewrite(s)))]
        if isinstance(stmt, Compute):
            return [Compute(remap(stmt.dst), map_expr_views(stmt.expr, remap))]
        if isinstance(stmt, Copy):
            return [Copy(remap(stmt.dst), remap(stmt.src))]
        if isinstance(stmt, Reduce):
            return [Reduce(stmt.op, remap(stmt.dst), remap(stmt.src), stmt.accumulate)]
        if isinstance(stmt, MatMul) and stmt.a in split_reads:
            return split(stmt)
        if isinstance(stmt, MatMul):
            return [dataclasses.replace(stmt, dst=remap(stmt.dst), a=remap(stmt.a), b=remap(stmt.b))]
        return [stmt]

    body = tuple(x for stmt in kernel.body for x in rewrite(stmt))
    local = Buffer(name, "local", buf.dtype, (width // block * height, block))
    return dataclasses.replace(kernel, buffers=kernel.buffers + (local,), body=body)


def _divide(col: Affine, block: int) -> Affine:
    return Affine(col.const // block, tuple((v, c // block) for v, c in col.terms))


__all__ = ["MIN_BLOCK_COLS", "PRIVATE_TEMP_SHARES", "localize", "private_temps"]
