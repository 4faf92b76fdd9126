"""Cross-kernel prefetch: which loads of a kernel instruction selection may select in the kernel before.

Where it sits: read by :mod:`moecc.backend.asic.isel` (``Selector.select_kernel``), which
selects the next kernel's :func:`leading_weight_loads` ahead of the current kernel's first
matmul (or its first statement that is not a load, in a kernel without one), unless they
would land in SRAM bytes the current kernel uses (:func:`shares_bytes`). Memory planning puts
consecutive kernels' local buffers apart around SRAM (a ring), so usually they do not, and the
next kernel's weights stream under the current kernel's compute instead of after the boundary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from moecc.ir.kernel import Buffer, Count, For, Kernel, Load, MatMul, Stmt, Vector, local_refs


def shares_bytes(kernel: Kernel, following: Kernel, names: set[str]) -> bool:
    """Whether buffers ``names`` of ``following`` overlap any local buffer of ``kernel``: then
    loads into them cannot be selected in ``kernel`` (in program order they would come before
    its own accesses to those bytes, which would overwrite or read the wrong data)."""
    def span(buf: Buffer) -> tuple[str, int, int]:
        assert buf.offset is not None
        return buf.space, buf.offset, buf.offset + buf.nbytes

    targets = [span(b) for b in following.buffers if b.name in names]
    return any(space == s and lo < e and s_lo < hi
               for space, lo, hi in targets for s, s_lo, e in (span(b) for b in kernel.buffers))


def has_matmul(body: Sequence[Stmt]) -> bool:
    return any(isinstance(s, MatMul) or (isinstance(s, For) and has_matmul(s.body)) for s in body)


def leading_weight_loads(kernel: Kernel, hbm: Mapping[str, Buffer]) -> list[tuple[Load, dict[str, int]]]:
    """The loads of weights (HBM buffers nothing writes, or their on-chip homes) that ``kernel`` starts with, with
    their loop bindings: in statement order, through the first iteration of static loops,
    past other loads and vector statements (into and on other buffers), up to the first
    statement that is neither.

    Selected at the end of the kernel before's leading loads instead (the SRAM ring puts
    consecutive kernels' buffers apart, so they run under that kernel's compute: the MXU
    does not wait on this kernel's weights at the boundary). The scheduler still sees every
    byte either side touches, so a wrapped ring costs waits, never a wrong result."""
    found: list[tuple[Load, dict[str, int]]] = []
    others: set[str] = set()

    def walk(body: Sequence[Stmt], env: dict[str, int]) -> bool:
        for stmt in body:
            if isinstance(stmt, Load):
                src = hbm.get(stmt.src.buffer)
                # A weight, or its on-chip home (filled kernels before: never written after).
                if src is not None and src.role in ("weight", "home") and stmt.dst.buffer not in others:
                    found.append((stmt, dict(env)))
                else:
                    others.add(stmt.dst.buffer)
                continue
            if isinstance(stmt, Vector):
                # A vector statement before the weights (a bf16 kernel's input conversion) does
                # not hold them up: loads into buffers it does not touch may still go ahead.
                others.update(ref.buffer for _, ref in local_refs(stmt))
                continue
            if isinstance(stmt, For) and not isinstance(stmt.count, Count) and stmt.count > 0:
                walk(stmt.body, {**env, stmt.var: 0})
            return False
        return True

    walk(kernel.body, {})
    return found


__all__ = ["has_matmul", "leading_weight_loads", "shares_bytes"]
