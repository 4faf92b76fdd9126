"""Live ranges of kernel locals given their own dense buffers, before a tiled kernel is staged.

Runs in :func:`~.module._stage_kernel` on the tiled kernel, after :mod:`.blocks`, before the
statements are staged. The tiled lowering reuses
one local for several statements through different views: an accumulator ``[128, 128]``
serves the full output tiles and then, through ``[0; 128x48; 128, 1]``, the 48-column edge
tile. Staging needs a local region to be contiguous to use it as a tile; the edge view is
not, so every row would move separately (two ``vpu.mov`` per row, into and out of the
accumulator). A *web* here is a maximal run of the kernel-level statements using local
``L`` through one and the same view ``V`` at a constant offset, whose first access writes
``V`` whole: no value flows into it from another run, so it can live in a buffer of its own,
laid out densely as ``V``'s shape. When every run of ``L`` is such a web, the runs whose view
is not dense get new locals (``L.<n>``); a local no statement uses any more goes.
Anything else (a run starting with a read or an accumulation, several views in one statement,
offsets moving with a loop) keeps ``L`` as it is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from moecc.ir.tiled.nodes import (Binary, Buffer, Cast, Compute, Expr, For, Kernel, Operand, Select, Stmt, Unary, View,
                                  stmt_views, walk)


def split_webs(kernel: Kernel, taken: set[str]) -> Kernel:
    """``kernel`` with the non-dense webs of its locals in buffers of their own (see the module
    docstring); ``taken`` holds the global buffer names (new names avoid them)."""
    names = set(taken) | {b.name for b in kernel.buffers}
    body = kernel.body
    buffers = list(kernel.buffers)
    for local in kernel.buffers:
        body = _split(body, local, names, buffers)
    used = {v.buffer for _, stmt, _ in walk(body) for _, v in stmt_views(stmt)}
    buffers = [b for b in buffers if b.name in used]
    if body == kernel.body:
        return kernel
    return dataclasses.replace(kernel, buffers=tuple(buffers), body=body)


def _split(body: tuple[Stmt, ...], local: Buffer, names: set[str], buffers: list[Buffer]) -> tuple[Stmt, ...]:
    """``body`` with the webs of ``local`` renamed; when one loop holds every use of it, the
    webs of that loop's body (each iteration starts every one of them with a write)."""
    webs = _webs(body, local.name)
    if not webs:
        users = [i for i, stmt in enumerate(body)
                 if any(v.buffer == local.name for _, inner, _ in walk((stmt,)) for _, v in stmt_views(inner))]
        if len(users) == 1 and isinstance(body[users[0]], For):
            loop = body[users[0]]
            inner = _split(loop.body, local, names, buffers)
            if inner != loop.body:
                return body[:users[0]] + (dataclasses.replace(loop, body=inner),) + body[users[0] + 1:]
        return body
    mapping: dict[tuple[int, View], View] = {}
    for view, tops in webs:
        name = _fresh(f"{local.name}.{len(buffers)}", names)
        names.add(name)
        buffers.append(Buffer(name, "local", local.dtype, view.shape))
        mapping.update({(top, view): View.contiguous(name, view.shape) for top in tops})
    return tuple(_map_views(stmt, lambda v, t=t: mapping.get((t, v), v)) for t, stmt in enumerate(body))


def _webs(body: tuple[Stmt, ...], local: str) -> list[tuple[View, list[int]]]:
    """The webs of ``local`` to rename: (view, its kernel-level statements), or [] when its
    runs are not all webs."""
    runs: list[tuple[View, list[int]]] = []
    for top, stmt in enumerate(body):
        leaves = [[(access, view) for access, view in stmt_views(inner) if view.buffer == local]
                  for _, inner, _ in walk((stmt,))]
        leaves = [leaf for leaf in leaves if leaf]
        if not leaves:
            continue
        views = {view for leaf in leaves for _, view in leaf}
        if len(views) != 1:
            return []
        view = leaves[0][0][1]
        if view.offset.terms:
            return []
        if runs and runs[-1][0] == view:
            runs[-1][1].append(top)
            continue
        if any(access != "write" for access, _ in leaves[0]):
            return []  # the run starts by reading (or accumulating into) what an earlier one left
        runs.append((view, [top]))
    return [(view, tops) for view, tops in runs if not dense_view(view)]


def dense_view(view: View) -> bool:
    """Whether the view's axes of size > 1 are row-major contiguous."""
    step = 1
    for n, s in reversed(list(zip(view.shape, view.strides))):
        if n == 1:
            continue
        if s != step:
            return False
        step *= n
    return True


def _fresh(name: str, names: set[str]) -> str:
    candidate, n = name, 0
    while candidate in names:
        n += 1
        candidate = f"{name}_{n}"
    return candidate


def _map_views(stmt: Stmt, f: Callable[[View], View]) -> Stmt:
    if isinstance(stmt, For):
        return dataclasses.replace(stmt, body=tuple(_map_views(s, f) for s in stmt.body))
    if isinstance(stmt, Compute):
        return Compute(f(stmt.dst), map_expr_views(stmt.expr, f))
    changes = {field.name: f(getattr(stmt, field.name)) for field in dataclasses.fields(stmt)
               if isinstance(getattr(stmt, field.name), View)}
    return dataclasses.replace(stmt, **changes)


def map_expr_views(expr: Expr, f: Callable[[View], View]) -> Expr:
    """``expr`` with every operand view ``v`` replaced by ``f(v)``."""
    if isinstance(expr, Operand):
        return Operand(f(expr.view))
    if isinstance(expr, Unary):
        return Unary(expr.op, map_expr_views(expr.x, f))
    if isinstance(expr, Cast):
        return Cast(expr.dtype, map_expr_views(expr.x, f))
    if isinstance(expr, Binary):
        return Binary(expr.op, map_expr_views(expr.a, f), map_expr_views(expr.b, f))
    if isinstance(expr, Select):
        return Select(map_expr_views(expr.cond, f), map_expr_views(expr.a, f), map_expr_views(expr.b, f))
    return expr


__all__ = ["dense_view", "map_expr_views", "split_webs"]
