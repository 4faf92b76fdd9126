"""Matmuls that write their destination directly instead of through an accumulator local.

The tiled lowering accumulates every matmul tile in a local f32 buffer (the first k chunk
stores, the others add) and then copies the tile out (``copy G <- acc``). That shape suits the
ASIC (an accumulator memory); on the CPU the sgemm accumulates in registers and writes C with
any row pitch, so the copy only moves the tile through the cache once more. When the local is
used for nothing else, the matmuls can write the copy's destination themselves:

- the local is referenced only by matmuls whose destination is exactly the copied view and by
  that one copy, all in one statement list (the matmuls possibly inside loops of it) with the
  matmuls before the copy;
- no statement from the first of those matmuls to the copy touches the copy's destination
  buffer in any other way (nor do the matmuls read it).

The analysis maps statements by identity (``id``) for the emitter, which keeps numbering every
statement as written (fault messages name the statements of the module as printed).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from moecc.ir.tiled.nodes import Copy, For, Kernel, MatMul, Stmt, View, stmt_elements, stmt_views


@dataclass(slots=True)
class Elisions:
    """``redirect``: id of a matmul -> the view it writes instead; ``skip``: ids of copies."""

    redirect: dict[int, View] = field(default_factory=dict)
    skip: set[int] = field(default_factory=set)


def _flat(stmts: Sequence[Stmt]) -> Iterator[Stmt]:
    for stmt in stmts:
        yield stmt
        if isinstance(stmt, For):
            yield from _flat(stmt.body)


def _buffers(stmt: Stmt) -> set[str]:
    names = {ref.buffer for ref in stmt_elements(stmt)}
    return names if isinstance(stmt, For) else names | {view.buffer for _, view in stmt_views(stmt)}


def _blocks(body: Sequence[Stmt]) -> Iterator[Sequence[Stmt]]:
    yield body
    for stmt in body:
        if isinstance(stmt, For):
            yield from _blocks(stmt.body)


def matmul_copy_elisions(kernel: Kernel) -> Elisions:
    """The matmul/copy groups of ``kernel`` that can skip the accumulator (module docstring).
    A local qualifies when every statement naming it belongs to such a group (edge tiles make
    several groups over windows of one local)."""
    found = Elisions()
    local = {b.name for b in kernel.buffers}
    refs: dict[str, set[int]] = {}
    for stmt in _flat(kernel.body):
        for name in _buffers(stmt):
            if name in local:
                refs.setdefault(name, set()).add(id(stmt))
    groups: dict[str, list[tuple[Copy, list[MatMul]]]] = {}
    for block in _blocks(kernel.body):
        for position, stmt in enumerate(block):
            if not (isinstance(stmt, Copy) and stmt.src.buffer in local and stmt.dst.buffer not in local):
                continue
            acc, target = stmt.src, stmt.dst
            matmuls: list[MatMul] = []
            first = None
            for back in range(position - 1, -1, -1):
                inner = list(_flat([block[back]]))
                mine = [s for s in inner if isinstance(s, MatMul) and s.dst == acc]
                if mine and len(mine) == sum(1 for s in inner if acc.buffer in _buffers(s)):
                    matmuls = mine + matmuls
                    first = back
                elif any(acc.buffer in _buffers(s) for s in inner):
                    break
            if first is None:
                continue
            if any(target.buffer in _buffers(s) for s in _flat(block[first:position])):
                continue  # the matmuls (or anything between) read or write the destination
            groups.setdefault(acc.buffer, []).append((stmt, matmuls))
    for name, members in groups.items():
        grouped = {id(copy) for copy, _ in members} | {id(m) for _, ms in members for m in ms}
        if refs.get(name, set()) <= grouped:
            for copy, matmuls in members:
                for matmul in matmuls:
                    found.redirect[id(matmul)] = copy.dst
                found.skip.add(id(copy))
    return found


__all__ = ["Elisions", "matmul_copy_elisions"]
