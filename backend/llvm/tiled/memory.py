"""Where a tiled module's buffers live when it runs as machine code.

- **Heap** (one uint8 arena per executable): every ``global`` buffer at a byte offset.
  Inputs, weights and outputs get places of their own (weights are written once and kept
  between runs); ``temp`` globals share space by liveness: two temps may overlap when no step
  uses both within the interval from the first to the last step touching either.
- **Scratch** (one arena per thread): each kernel's ``local`` buffers from offset 0 (kernels
  run one at a time, so they all overlap), then the matmul staging area (operands widened to
  f32 or made row-major for the sgemm) and the sgemm's packing panels, each sized for the
  largest need over the module.

The interpreter zero-fills globals before a run and locals per kernel run; the lowering writes
a buffer before reading it, so nothing is zeroed except a buffer whose first access in program
order is a read or an update (:func:`first_reads`), which the code zeroes right before.
"""

from __future__ import annotations

from dataclasses import dataclass

from moecc.backend.llvm.cpu_target import CpuTarget
from moecc.ir.tiled.nodes import For, HostCall, Kernel, MatMul, TiledModule, stmt_elements, stmt_views, walk
from moecc.passes.interval_plan import Interval, plan_intervals

#: Alignment of every buffer in both arenas: one cache line (and one AVX-512 vector).
ALIGN = 64


def align(value: int) -> int:
    return -(-value // ALIGN) * ALIGN


@dataclass(frozen=True, slots=True)
class HeapPlan:
    """Byte offset of every global buffer in the heap and the heap's size."""

    offsets: dict[str, int]
    heap_bytes: int
    reused_bytes: int  # bytes temps save by sharing space
    temp_bytes_no_reuse: int = 0  # every temp a place of its own
    temp_bytes_lower_bound: int = 0  # the most temp bytes live at one step
    temp_planner: str = ""


@dataclass(frozen=True, slots=True)
class ScratchPlan:
    """Per-thread scratch: each kernel's local offsets, then staging and the sgemm panels."""

    local_offsets: dict[str, dict[str, int]]  # kernel -> local -> byte offset
    staging_base: int
    staging_bytes: int
    panel_a_base: int
    panel_b_base: int
    total_bytes: int


def step_buffers(step: Kernel | HostCall) -> set[str]:
    if isinstance(step, HostCall):
        return set(step.inputs) | set(step.outputs)
    names: set[str] = set()
    for _, stmt, _ in walk(step.body):
        names.update(ref.buffer for ref in stmt_elements(stmt))
        if not isinstance(stmt, For):
            names.update(view.buffer for _, view in stmt_views(stmt))
    return names


def plan_heap(module: TiledModule, reuse: bool = True) -> HeapPlan:
    """Offsets of the global buffers: fixed places for inputs, weights and outputs, temps
    sharing space by liveness over the step order (:func:`~moecc.passes.interval_plan.plan_intervals`,
    the ASIC's HBM planner: greedy by size, other orders with best fit, a hill climb), or
    each a place of its own without ``reuse``."""
    offsets: dict[str, int] = {}
    cursor = 0
    temps = [b for b in module.buffers if b.role == "temp"]
    for buf in module.buffers:
        if buf.role != "temp":
            offsets[buf.name] = cursor
            cursor += align(max(buf.elements * buf.dtype.itemsize, 1))
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for index, step in enumerate(module.steps):
        for name in step_buffers(step):
            first.setdefault(name, index)
            last[name] = index
    sizes = {b.name: align(max(b.elements * b.dtype.itemsize, 1)) for b in temps}
    total = sum(sizes.values())
    if not reuse:
        top = 0
        for buf in temps:
            offsets[buf.name] = cursor + top
            top += sizes[buf.name]
        return HeapPlan(offsets, cursor + top, 0, total, 0)
    plan = plan_intervals([Interval(b.name, sizes[b.name], first.get(b.name, -1), last.get(b.name, -1)) for b in temps])
    for name, offset in plan.offsets.items():
        offsets[name] = cursor + offset
    return HeapPlan(offsets, cursor + plan.end, total - plan.end, total, plan.lower_bound, plan.algorithm)


def first_reads(kernel: Kernel, seen: set[str]) -> list[str]:
    """Buffers (globals not in ``seen``, and this kernel's locals) whose first access in
    ``kernel`` is a read or an update: they must hold zeros, as the interpreter gives them.
    ``seen`` (globals accessed by earlier steps, or supplied) is updated."""
    local = {b.name for b in kernel.buffers}
    zero: list[str] = []
    local_seen: set[str] = set()
    for _, stmt, _ in walk(kernel.body):
        accesses: list[tuple[str, str]] = [("read", ref.buffer) for ref in stmt_elements(stmt)]
        if not isinstance(stmt, For):
            # Reads first: a statement reading and writing a buffer reads it before writing.
            pairs = [(access, view.buffer) for access, view in stmt_views(stmt)]
            accesses += [p for p in pairs if p[0] != "write"] + [p for p in pairs if p[0] == "write"]
        for access, name in accesses:
            known = local_seen if name in local else seen
            if name in known:
                continue
            known.add(name)
            if access != "write":
                zero.append(name)
    return zero


def _matmul_staging_bytes(stmt: MatMul) -> int:
    """f32 bytes to stage a matmul's operands and result: every one of them at most once."""
    m, n = stmt.dst.shape[-2:]
    k = stmt.a.shape[-2] if stmt.transpose_a else stmt.a.shape[-1]
    return 4 * (align(m * k) + align(k * n) + align(m * n)) + 3 * ALIGN


def plan_scratch(module: TiledModule, target: CpuTarget) -> ScratchPlan:
    """Locals of every kernel from 0, then the staging area and the panels after the largest."""
    from moecc.backend.llvm.matmul import panel_floats

    local_offsets: dict[str, dict[str, int]] = {}
    locals_top = 0
    staging = 0
    panel_a = panel_b = 0
    for kernel in module.kernels:
        cursor = 0
        offsets: dict[str, int] = {}
        for buf in kernel.buffers:
            offsets[buf.name] = cursor
            cursor += align(max(buf.elements * buf.dtype.itemsize, 1))
        local_offsets[kernel.name] = offsets
        locals_top = max(locals_top, cursor)
        for _, stmt, _ in walk(kernel.body):
            if isinstance(stmt, MatMul) and stmt.acc_dtype.is_float:
                staging = max(staging, _matmul_staging_bytes(stmt))
                m, n = stmt.dst.shape[-2:]
                k = stmt.a.shape[-2] if stmt.transpose_a else stmt.a.shape[-1]
                fa, fb = panel_floats(target, m, n, k)
                panel_a, panel_b = max(panel_a, fa), max(panel_b, fb)
    staging_base = align(locals_top)
    panel_a_base = align(staging_base + staging)
    panel_b_base = align(panel_a_base + 4 * panel_a)
    total = align(panel_b_base + 4 * panel_b)
    return ScratchPlan(local_offsets, staging_base, staging, panel_a_base, panel_b_base, max(total, ALIGN))


__all__ = ["ALIGN", "HeapPlan", "ScratchPlan", "align", "first_reads", "plan_heap", "plan_scratch", "step_buffers"]
