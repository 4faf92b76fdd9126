"""A kernel's run of element-wise statements done block by block, before it is staged.

Runs in :func:`~.module._stage_kernel` on the tiled kernel, before :mod:`.webs`, after
:func:`merge_reductions` has joined a row reduction the lowering chunked and
:func:`align_runs` (before :mod:`.private`) has coalesced the loops the lowering wrote per
statement and put the statements of a run holding a row reduction in one ``[rows, ..]``
structure (the lowering tiles each op of a fused norm its own way). The tiled
lowering writes a multi-statement op (softmax, layer norm) as a sequence of kernel-level
statements, each over the whole tensor: every statement waits for the previous one to
finish everywhere, and an operand read by two statements is loaded twice. When a maximal run
of kernel-level ``compute``/``reduce``/``copy`` statements shares a leading axis along which
every statement only reads what the run wrote in the same slice, the run becomes one loop over
blocks of that axis with the statements inside (and a tail for the rows the blocks leave):
block ``b``'s loads overlap block ``b - 1``'s compute and store, and a kernel local only the
run uses shrinks to one block (dense, multi-buffered by :mod:`.buffering`).

The slice condition, sufficient: every buffer the run writes is seen through one view in the
whole run (up to how its last axis broadcasts: ``[.., 1]`` or stride 0), the one a statement
writes, which is injective (a destination), so different blocks touch different elements; a
local being shrunk is used nowhere else in the kernel. The
axis is the outermost such one of size > 1; blocks hold about :data:`BLOCK_ELEMENTS` elements
of the run's largest view, and at least two blocks are made, unless the whole run fits one
block (then it is one: two blocks this small pipeline nothing and each pays the run's latency).

A buffer kept beyond the run (a global, or a local used elsewhere) that one ``compute`` or
``copy`` of the run writes and later statements read (a residual add the norm after it reads)
is *forwarded*: the statement writes a block local, a copy stores it to the buffer, and the
later statements read the local, so the block's bytes are not stored and loaded back between
two statements (on the ASIC a store and a load on the chain, about 40 cycles a block).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

from moecc.ir.affine import Affine
from moecc.ir.tiled.nodes import Buffer, Compute, Copy, For, Kernel, Reduce, Stmt, View, stmt_views, walk

from moecc.backend.asic.staging.webs import map_expr_views

#: Elements of the run's largest view per block (64 KiB of f32).
BLOCK_ELEMENTS = 16384

_Elementwise = (Compute, Copy, Reduce)


def merge_reductions(body: tuple[Stmt, ...]) -> tuple[Stmt, ...]:
    """``reduce D = S[.., a:b]`` followed by ``reduce D += S[.., b:c]`` (the tiled lowering's
    chunks of a long row) as one ``reduce D = S[.., a:c]``, in every statement list: staging
    cuts rows into blocks itself, and a whole row keeps the statements of a kernel alike (a
    norm's statements then run block by block). Sums may reassociate (the IR leaves their order
    unspecified); max and min are exact."""
    out: list[Stmt] = []
    for stmt in body:
        if isinstance(stmt, For):
            stmt = dataclasses.replace(stmt, body=merge_reductions(stmt.body))
        prev = out[-1] if out else None
        if isinstance(stmt, Reduce) and stmt.accumulate and isinstance(prev, Reduce) and prev.op == stmt.op \
                and prev.dst == stmt.dst:
            a, b = prev.src, stmt.src
            step = b.offset + a.offset * -1
            if (a.buffer == b.buffer and a.shape[:-1] == b.shape[:-1] and a.strides == b.strides and a.strides[-1] != 0
                    and not step.terms and step.const == a.shape[-1] * a.strides[-1]):
                out[-1] = Reduce(prev.op, prev.dst, View(a.buffer, a.offset, a.shape[:-1] + (a.shape[-1] + b.shape[-1],),
                                                         a.strides), prev.accumulate)
                continue
        out.append(stmt)
    return tuple(out)


def _runs(stmts: tuple[Stmt, ...]) -> list[tuple[int, int]]:
    """``(start, end)`` of each maximal run of two or more element-wise statements."""
    out = []
    i = 0
    while i < len(stmts):
        j = i
        while j < len(stmts) and isinstance(stmts[j], _Elementwise):
            j += 1
        if j - i >= 2:
            out.append((i, j))
        i = max(j, i + 1)
    return out


def align_runs(kernel: Kernel) -> Kernel:
    """``kernel`` with its row reductions merged (:func:`merge_reductions`) and each run of
    element-wise statements holding a row reduction (kernel-level loops around one such
    statement coalesced into it) put in one row structure (:func:`_aligned`); other
    statements as they are. Runs before :mod:`.private` decides which global
    temporaries become locals: a fused norm's squares are then seen whole, densely."""
    original = merge_reductions(kernel.body)
    stmts = tuple(_coalesced(s) for s in original)
    out: list[Stmt] = []
    i = 0
    for start, end in _runs(stmts):
        out.extend(original[i:start])
        aligned = _aligned(stmts[start:end])
        out.extend(aligned if aligned is not None else original[start:end])
        i = end
    out.extend(original[i:])
    return kernel if tuple(out) == kernel.body else dataclasses.replace(kernel, body=tuple(out))


def fuse_runs(kernel: Kernel, taken: set[str], budget_bytes: int = 1 << 62,
              globals_: Mapping[str, Buffer] | None = None) -> Kernel:
    """``kernel`` with its runs of element-wise statements done block by block (see the module
    docstring); ``taken`` holds the global buffer names (new names avoid them); one block of
    every view of a run (the tiles its statements keep apart) fits ``budget_bytes``;
    ``globals_`` (the module's global buffers) lets a global a run writes and reads again be
    forwarded through a block local."""
    names = set(taken) | {b.name for b in kernel.buffers}
    names |= {stmt.var for _, stmt, _ in walk(kernel.body) if isinstance(stmt, For)}
    body: list[Stmt] = []
    buffers = {b.name: b for b in kernel.buffers}
    stmts = align_runs(kernel).body
    i = 0
    for start, end in _runs(stmts):
        body.extend(stmts[i:start])
        body.extend(_fuse(stmts[start:end], stmts[:start] + stmts[end:], buffers, names, budget_bytes, globals_ or {}))
        i = end
    body.extend(stmts[i:])
    if tuple(body) == kernel.body:
        return kernel
    if tuple(body) == stmts:
        return dataclasses.replace(kernel, body=stmts)
    used = {v.buffer for _, stmt, _ in walk(body) for _, v in stmt_views(stmt)}
    return dataclasses.replace(kernel, buffers=tuple(b for b in buffers.values() if b.name in used), body=tuple(body))


def _fuse(run: tuple[Stmt, ...], others: tuple[Stmt, ...], buffers: dict[str, Buffer], names: set[str],
          budget_bytes: int, globals_: Mapping[str, Buffer]) -> list[Stmt]:
    rank = run[0].dst.rank  # type: ignore[attr-defined]
    shape = run[0].dst.shape[:-1]  # type: ignore[attr-defined]
    if rank < 2 or any(s.dst.rank != rank or s.dst.shape[:-1] != shape for s in run):  # type: ignore[attr-defined]
        return list(run)
    accesses = [(a, v) for s in run for a, v in stmt_views(s)]
    views: dict[str, View] = {}  # written buffer -> the view a statement writes it through
    for access, view in accesses:
        if access != "read":
            views.setdefault(view.buffer, view)
    if any(v.buffer in views and _key(v) != _key(views[v.buffer]) for _, v in accesses):
        return list(run)
    written = set(views)
    axis = next((a for a in range(rank - 1) if shape[a] > 1 and all(v.strides[a] != 0 for v in views.values())), None)
    if axis is None:
        return list(run)
    size = shape[axis]
    per_row = max(v.elements for _, v in accesses) // size
    all_rows = sum(v.elements for _, v in accesses) // size
    block = min(size // 2, BLOCK_ELEMENTS // max(1, per_row), budget_bytes // max(1, 4 * all_rows))
    if size * per_row <= BLOCK_ELEMENTS and size <= budget_bytes // max(1, 4 * all_rows):
        block = size  # one block: blocks this small pipeline nothing and each pays the run's latency
    if block < 1:
        return list(run)
    count, tail = divmod(size, block)
    # Kernel locals the run alone uses shrink to one dense block.
    used_elsewhere = {v.buffer for s in others for _, inner, _ in walk((s,)) for _, v in stmt_views(inner)}
    shrink = {name for name in written if name in buffers and buffers[name].space == "local"
              and name not in used_elsewhere}
    forward = _forwarded(run, {name for name in written - shrink if name in buffers or name in globals_})
    if count < 2 and not (count == 1 and not tail and (shrink or forward)):
        return list(run)
    var = _fresh("_blk", names)
    names.add(var)

    def sliced(start: Affine, rows: int, renamed: dict[str, str]):
        def f(view: View) -> View:
            dims = view.shape[:axis] + (rows,) + view.shape[axis + 1:]
            if view.buffer in renamed:
                dense = View.contiguous(renamed[view.buffer], views[view.buffer].shape[:axis] + (rows,) +
                                        views[view.buffer].shape[axis + 1:])
                same_last = (view.shape[-1], view.strides[-1]) == (views[view.buffer].shape[-1],
                                                                   views[view.buffer].strides[-1])
                return View(dense.buffer, dense.offset, dims, dense.strides[:-1] + (dense.strides[-1] if same_last else 0,))
            return View(view.buffer, view.offset + start * view.strides[axis], dims, view.strides)
        return f

    out: list[Stmt] = []
    first = Affine.of(var) * block if count > 1 else Affine(0)
    for start, rows, n in ((first, block, count), (Affine(count * block), tail, 1)):
        if not rows:
            continue
        renamed: dict[str, str] = {}
        for name in sorted(shrink | forward):
            new = _fresh(f"{name}.b{rows}", names)
            names.add(new)
            view = views[name]
            dims = view.shape[:axis] + (rows,) + view.shape[axis + 1:]
            buffers[new] = Buffer(new, "local", (buffers.get(name) or globals_[name]).dtype, dims)
            renamed[name] = new
        f = sliced(start, rows, renamed)
        in_place = sliced(start, rows, {k: v for k, v in renamed.items() if k not in forward})
        mapped: list[Stmt] = []
        for s in run:
            mapped.append(_map(s, f))
            if isinstance(s, (Compute, Copy)) and s.dst.buffer in forward:
                # Written through a block local the later statements read; stored from it too.
                mapped.append(Copy(in_place(s.dst), f(s.dst)))
        stmts = tuple(mapped)
        if n > 1:
            out.append(For(var, n, stmts))
        else:
            out.extend(stmts)
    return out


def _forwarded(run: tuple[Stmt, ...], candidates: set[str]) -> set[str]:
    """Buffers of ``candidates`` (written by the run, kept beyond it: globals, or locals used
    elsewhere) that one ``compute``/``copy`` of the run writes and later statements of it read:
    each block of them is written into a block local, stored from there and read from there
    by the later statements (no store and load back of the same bytes between two statements)."""
    out: set[str] = set()
    for index, stmt in enumerate(run):
        if not isinstance(stmt, (Compute, Copy)) or stmt.dst.buffer not in candidates:
            continue
        name = stmt.dst.buffer
        writers = [s for s in run for a, v in stmt_views(s) if a != "read" and v.buffer == name]
        read_here = any(a == "read" and v.buffer == name for a, v in stmt_views(stmt))
        read_later = any(a == "read" and v.buffer == name for s in run[index + 1:] for a, v in stmt_views(s))
        if len(writers) == 1 and not read_here and read_later:
            out.add(name)
    return out


def _coalesced(stmt: Stmt) -> Stmt:
    """A kernel-level loop around one element-wise statement as that statement with one more
    axis (what staging does to it anyway, :func:`~.statements.coalesce`), so that the loops
    the lowering wrote per op can join a run."""
    from moecc.backend.asic.staging.statements import coalesce  # statements imports webs, as we do

    if isinstance(stmt, For) and not stmt.is_dynamic:
        merged = coalesce(stmt)
        if isinstance(merged, _Elementwise):
            return merged
    return stmt


def _regrouped(stmt: Stmt, groups: list[list[int]]) -> Stmt:
    """``stmt`` with the axes of its iteration space (a reduction's leading axes) replaced by
    ``groups``: each a run of original axes, outermost first, merged into one axis."""
    def f(view: View) -> View:
        lead = len(view.shape) - (1 if isinstance(stmt, Reduce) else 0)
        shape = [math.prod(view.shape[a] for a in g) for g in groups]
        strides = [view.strides[g[-1]] for g in groups]
        return View(view.buffer, view.offset, tuple(shape) + view.shape[lead:], tuple(strides) + view.strides[lead:])
    return _map(stmt, f)


def _merged(stmt: Stmt) -> Stmt | None:
    """``stmt`` with the fewest axes: size-1 axes dropped (not a reduction's last), the others
    ordered by the destination's strides and neighbours merged where every view steps over
    them as one. None when it cannot be expressed so (a broadcast destination)."""
    dst = stmt.dst  # type: ignore[attr-defined]
    lead = dst.rank - (1 if isinstance(stmt, Reduce) else 0)
    if isinstance(stmt, Compute | Copy):
        # Operands of size 1 along an axis broadcast: make that a stride-0 axis of the
        # destination's size, so that every view has the destination's shape.
        if any(v.rank != dst.rank for _, v in stmt_views(stmt)):
            return None
        stmt = _map(stmt, lambda v: View(v.buffer, v.offset, dst.shape, tuple(
            s if n == d else 0 for n, d, s in zip(v.shape, dst.shape, v.strides))))
    views = [v for _, v in stmt_views(stmt)]
    if any(v.shape[:lead] != dst.shape[:lead] for v in views):
        return None
    axes = sorted((a for a in range(lead) if dst.shape[a] != 1), key=lambda a: -dst.strides[a])
    if any(dst.strides[a] == 0 for a in axes):
        return None
    groups: list[list[int]] = []
    for a in axes:
        if groups and all(v.strides[groups[-1][-1]] == v.shape[a] * v.strides[a] for v in views):
            groups[-1].append(a)
        else:
            groups.append([a])
    return _regrouped(stmt, groups)


def _split_rows(stmt: Stmt, rows: int) -> Stmt | None:
    """A merged element-wise ``stmt`` as ``[rows, n]`` (a reduction: ``[rows, ..]``), or None."""
    dst = stmt.dst  # type: ignore[attr-defined]
    lead = dst.rank - (1 if isinstance(stmt, Reduce) else 0)
    if isinstance(stmt, Reduce):
        if lead == 1 and dst.shape[0] == rows:
            return stmt
        if lead == 0 and rows == 1:
            return _map(stmt, lambda v: View(v.buffer, v.offset, (1,) + v.shape, (0,) + v.strides))
        return None
    if lead == 2 and dst.shape[0] == rows:
        return stmt
    if lead == 1 and dst.shape[0] % rows == 0:
        cols = dst.shape[0] // rows
        return _map(stmt, lambda v: View(v.buffer, v.offset, (rows, cols), (cols * v.strides[0], v.strides[0])))
    if lead == 0 and rows == 1:
        return _map(stmt, lambda v: View(v.buffer, v.offset, (1, 1), (0, 0)))
    return None


def _aligned(run: tuple[Stmt, ...]) -> tuple[Stmt, ...] | None:
    """The run's statements in one row structure, ``[rows, ..]``, when it holds a row
    reduction and every statement can be viewed so: rows are the reduction's rows (a fused
    norm's square, sum, scale and normalised output, written by the lowering over different
    tilings of the same rows). None otherwise (the run is fused as it stands, if at all)."""
    reduction = next((s for s in run if isinstance(s, Reduce)), None)
    if reduction is None:
        return None
    rows = math.prod(reduction.dst.shape[:-1])
    out = []
    for stmt in run:
        merged = _merged(stmt)
        split = _split_rows(merged, rows) if merged is not None else None
        if split is None:
            return None
        out.append(split)
    return tuple(out)


def _key(view: View) -> tuple:
    """What two views of a written buffer must share: offset, every axis but the last, and the
    offsets the last axis reaches (a ``[.., 1]`` view and a stride-0 broadcast of it agree)."""
    last = frozenset(i * view.strides[-1] for i in range(view.shape[-1]))
    return view.offset, view.shape[:-1], view.strides[:-1], last


def _map(stmt: Stmt, f) -> Stmt:
    if isinstance(stmt, Compute):
        return Compute(f(stmt.dst), map_expr_views(stmt.expr, f))
    if isinstance(stmt, Copy):
        return Copy(f(stmt.dst), f(stmt.src))
    assert isinstance(stmt, Reduce)
    return Reduce(stmt.op, f(stmt.dst), f(stmt.src), stmt.accumulate)


def _fresh(name: str, names: set[str]) -> str:
    candidate, n = name, 0
    while candidate in names:
        n += 1
        candidate = f"{name}{n}"
    return candidate


__all__ = ["BLOCK_ELEMENTS", "align_runs", "fuse_runs", "merge_reductions"]
