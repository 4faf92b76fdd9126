"""Memory planning for the ASIC: byte offsets for every kernel-IR buffer.

Where it sits: the ``plan-memory`` stage (:class:`PlanMemoryStage`) of the ``asic`` target,
after ``stage-for-asic`` has produced a :class:`~moecc.ir.kernel.KernelModule` (tiled kernels
over unplaced buffers) and before ``select-instructions`` (:mod:`moecc.backend.asic.isel`),
which needs byte addresses. The kernel IR printed after it carries the offsets.

- HBM: program inputs, outputs and weights each get their own region (the host writes and
  reads them by name), laid out in that order; temporaries follow and may share bytes when
  their live ranges over the step order do not overlap (:mod:`moecc.passes.interval_plan`:
  greedy by size, other orders with best fit and a hill climb; the plan reports its lower
  bound, the most bytes live at once).
- SRAM and accumulator: all of a kernel's local buffers live for the whole kernel (so a
  run-time loop's count buffer, or a scatter's rows and indices, need no liveness of their
  own); kernels follow each other around a ring (:func:`_plan_kernel`). A kernel that does
  not fit raises :class:`~moecc.errors.TargetError` (:func:`kernel_fits` says so beforehand).
- Activations kept on chip: the ring takes the bottom of the SRAM, :data:`RING_KERNELS` times
  the largest kernel's locals (at least half the SRAM); the rest holds temporaries between the
  kernel that writes them and the last that reads them (role ``resident``: the offset is an
  SRAM address, their loads and stores become on-chip ``dma.ld.sram``/``dma.st.sram`` copies, no HBM traffic).
  Temporaries are taken largest first, each at the lowest address clear of those live at the
  same time, while they fit (:func:`fit_within`); a temporary that a host step touches, that
  lives across a host step (the program ends there), or that a gather or scatter reads by
  run-time indices stays in HBM.
- Weights kept on chip: above those activations, the weights that fit get SRAM homes, filled
  from HBM a few kernels ahead of their first use; their loads become on-chip copies
  (:mod:`moecc.passes.weight_homes`). A fill kernel's buffers are placed already, on the homes.

Every offset is aligned to :data:`ALIGNMENT` bytes (a DMA burst, and more than any element).

    planned, plan = plan_memory(module, load_target("moe-asic-v1"))
    planned.hbm_buffer("x").offset, plan.hbm_bytes_planned
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from moecc.errors import PassError, TargetError
from moecc.ir.kernel import Buffer, CpuCall, Kernel, KernelModule, Load, Step, Store, hbm_refs, walk
from moecc.isa_spec.target import Target
from moecc.passes.compilation import Compilation, StagePass
from moecc.passes.interval_plan import Interval, IntervalPlan, plan_intervals
from moecc.passes.manager import register_pass
from moecc.passes.weight_homes import HOME_SUFFIX, is_fill_kernel, keep_weights_on_chip

ALIGNMENT = 64
#: Local memory spaces of a kernel, with the Target attribute holding each capacity.
LOCAL_CAPACITY_ATTR: dict[str, str] = {"sram": "sram_capacity_bytes", "acc": "acc_capacity_bytes"}
#: Roles that get a region of their own, in layout order.
FIXED_ROLES: tuple[str, ...] = ("input", "output", "weight")
#: The kernels' ring keeps this many times the largest kernel's SRAM (and at least half of
#: it), so consecutive kernels still touch disjoint bytes and overlap; the rest of the SRAM
#: may hold activations between kernels.
RING_KERNELS = 2


@dataclass(frozen=True, slots=True)
class MemoryPlan:
    """What memory planning decided, for reports and the artifact."""

    hbm_bytes_planned: int
    sram_peak_bytes: int
    acc_peak_bytes: int
    sram_capacity_bytes: int
    acc_capacity_bytes: int
    hbm_offsets: Mapping[str, int] = field(default_factory=dict)
    #: kernel name -> {"sram": bytes, "acc": bytes}
    kernel_local_bytes: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    #: bytes the temporaries would need without sharing (to show what liveness saved)
    hbm_temp_bytes_unshared: int = 0
    #: bytes the temporaries take as planned (:mod:`moecc.passes.interval_plan`)
    hbm_temp_bytes_shared: int = 0
    #: the most temporary bytes live at one step: no plan takes less
    hbm_temp_bytes_lower_bound: int = 0
    #: which ordering placed them, and what the greedy-by-size baseline would take
    hbm_temp_planner: str = ""
    hbm_temp_bytes_greedy: int = 0
    #: temporaries kept in SRAM between kernels: how many, their bytes, and the SRAM they take
    resident_buffers: int = 0
    resident_bytes: int = 0
    sram_resident_bytes: int = 0
    #: weights kept on chip (:mod:`moecc.passes.weight_homes`): how many and their bytes
    weight_homes: int = 0
    weight_home_bytes: int = 0


def align(value: int, alignment: int = ALIGNMENT) -> int:
    return -(-value // alignment) * alignment


def kernel_local_bytes(kernel: Kernel) -> dict[str, int]:
    """Bytes of SRAM and accumulator a kernel's local buffers take, alignment included."""
    totals = {space: 0 for space in LOCAL_CAPACITY_ATTR}
    for buf in kernel.buffers:
        totals[buf.space] = totals.get(buf.space, 0) + align(buf.nbytes)
    return totals


def kernel_fits(kernel: Kernel, target: Target) -> bool:
    """Whether the kernel's local buffers fit the target's SRAM and accumulator."""
    used = kernel_local_bytes(kernel)
    return all(used.get(space, 0) <= getattr(target, attr) for space, attr in LOCAL_CAPACITY_ATTR.items())


def plan_memory(module: KernelModule, target: Target, on_chip: bool = True,
                weight_homes: bool = True) -> tuple[KernelModule, MemoryPlan]:
    """A copy of ``module`` with every buffer's byte ``offset`` set, and the plan's summary;
    ``on_chip=False`` keeps every temporary and weight in HBM, ``weight_homes=False`` every weight."""
    local_bytes = {step.name: kernel_local_bytes(step) for step in module.steps if isinstance(step, Kernel)}
    peak = max((b["sram"] for b in local_bytes.values()), default=0)
    ring = min(target.sram_capacity_bytes, max(RING_KERNELS * peak, target.sram_capacity_bytes // 2))
    resident = fit_within(_resident_candidates(module), target.sram_capacity_bytes - ring) if on_chip else {}
    sizes = {b.name: align(b.nbytes) for b in module.hbm}
    resident_end = max((offset + sizes[name] for name, offset in resident.items()), default=0)
    homes: dict[str, int] = {}
    if on_chip and weight_homes:
        module, homes = keep_weights_on_chip(module, ring + resident_end, target.sram_capacity_bytes, ALIGNMENT)
    hbm_offsets, temps, hbm_end = _plan_hbm(module, set(resident), homes)
    if hbm_end > target.hbm_capacity_bytes:
        raise TargetError(
            f"memory plan: the model needs {hbm_end} bytes of HBM, {target.name} has {target.hbm_capacity_bytes}",
            remedy="use a target with more HBM or a smaller model / batch",
        )
    steps: list[Step] = []
    cursor = {space: 0 for space in LOCAL_CAPACITY_ATTR}
    capacity = {"sram": ring, "acc": target.acc_capacity_bytes}
    for step in module.steps:
        # A fill kernel's buffers are placed already, on the homes of the weights it fills.
        planned_step = isinstance(step, Kernel) and not is_fill_kernel(step)
        steps.append(_plan_kernel(step, target, cursor, capacity) if planned_step else step)
    hbm = [Buffer(b.name, b.space, b.dtype, b.shape, b.slots, ring + resident[b.name], "resident")
           if b.name in resident else b.placed(homes[b.name[:-len(HOME_SUFFIX)]]) if b.role == "home"
           else b.placed(hbm_offsets[b.name]) for b in module.hbm]
    planned = KernelModule(hbm=hbm, steps=steps, inputs=list(module.inputs), outputs=list(module.outputs))
    plan = MemoryPlan(
        hbm_bytes_planned=hbm_end,
        sram_peak_bytes=peak,
        acc_peak_bytes=max((b["acc"] for b in local_bytes.values()), default=0),
        sram_capacity_bytes=target.sram_capacity_bytes,
        acc_capacity_bytes=target.acc_capacity_bytes,
        hbm_offsets=hbm_offsets,
        kernel_local_bytes=local_bytes,
        hbm_temp_bytes_unshared=temps.no_reuse,
        hbm_temp_bytes_shared=temps.end,
        hbm_temp_bytes_lower_bound=temps.lower_bound,
        hbm_temp_planner=temps.algorithm,
        hbm_temp_bytes_greedy=temps.baseline_end,
        resident_buffers=len(resident),
        resident_bytes=sum(sizes[name] for name in resident),
        sram_resident_bytes=resident_end,
        weight_homes=len(homes),
        weight_home_bytes=sum(sizes[name] for name in homes),
    )
    return planned, plan


def _resident_candidates(module: KernelModule) -> list[Interval]:
    """The temporaries that may stay on chip, with their live ranges: read and written only by
    plain loads and stores, touched by no host step and live across none."""
    live = _live_ranges(module)
    refused: set[str] = set()
    host_steps: list[int] = []
    for index, step in enumerate(module.steps):
        if isinstance(step, CpuCall):
            refused.update(step.inputs + step.outputs)
            host_steps.append(index)
            continue
        for stmt, _ in walk(step.body):
            if not isinstance(stmt, (Load, Store)):
                refused.update(ref.buffer for _, ref in hbm_refs(stmt))
    candidates = []
    for b in module.hbm:
        if b.role != "temp" or b.name in refused or b.name not in live:
            continue
        first, last = live[b.name]
        if any(first < h < last for h in host_steps):
            continue
        candidates.append(Interval(b.name, align(max(b.nbytes, 1)), first, last))
    return candidates


def fit_within(intervals: Sequence[Interval], capacity: int) -> dict[str, int]:
    """Offsets in ``[0, capacity)`` for as many of ``intervals`` as fit, largest first, each at
    the lowest offset clear of the placed ones live at the same time; the rest are left out."""
    placed: list[tuple[Interval, int]] = []
    offsets: dict[str, int] = {}
    for item in sorted(intervals, key=lambda i: (-i.size, i.first, i.name)):
        if item.size > capacity:
            continue
        busy = sorted((offset, offset + other.size) for other, offset in placed
                      if other.first <= item.last and item.first <= other.last)
        offset = 0
        for lo, hi in busy:
            if offset + item.size <= lo:
                break
            offset = max(offset, hi)
        if offset + item.size <= capacity:
            placed.append((item, offset))
            offsets[item.name] = offset
    return offsets


def _plan_kernel(kernel: Kernel, target: Target, ring: dict[str, int], capacity: Mapping[str, int]) -> Kernel:
    """Place a kernel's local buffers contiguously at the ring cursor of each space.

    Kernels follow each other around SRAM (and acc) like a ring buffer instead of all
    starting at 0: consecutive kernels then touch disjoint bytes, so the scheduler sees no
    false dependency between them and the next kernel's independent loads (its weights)
    overlap the current kernel's compute. A kernel that does not fit before the end wraps
    to 0. ``ring`` is updated in place; ``capacity`` is each space's ring size."""
    used = kernel_local_bytes(kernel)
    for space, attr in LOCAL_CAPACITY_ATTR.items():
        if used.get(space, 0) > getattr(target, attr):
            buffers = [b for b in kernel.buffers if b.space == space]
            sizes = ", ".join(f"{b.name} {b.nbytes} B" for b in buffers[:6]) + (", ..." if len(buffers) > 6 else "")
            key = f"{space}.capacity_bytes"  # the entry of the part's description
            raise TargetError(
                f"{target.name}: {key} = {getattr(target, attr)} is too small: kernel {kernel.name}'s local "
                f"{space} buffers need {used[space]} bytes at the smallest tiles ({sizes})",
                remedy=f"give {key} at least {used[space]} (--set {key}=...), or re-tile the kernel with smaller tiles",
            )
    cursor: dict[str, int] = {}
    for space in LOCAL_CAPACITY_ATTR:
        start = ring[space]
        if start + used.get(space, 0) > capacity[space]:
            start = 0
        cursor[space] = start
    placed: list[Buffer] = []
    for buf in kernel.buffers:
        placed.append(buf.placed(cursor[buf.space]))
        cursor[buf.space] += align(buf.nbytes)
    ring.update(cursor)
    return Kernel(kernel.name, tuple(placed), kernel.body, kernel.sources)


def _live_ranges(module: KernelModule) -> dict[str, tuple[int, int]]:
    """First and last step index touching each HBM buffer (:func:`hbm_refs`: a scatter
    writes its table, a scatter_add also reads it; statements in a run-time loop count
    whatever its trip count, since any of them may run)."""
    ranges: dict[str, tuple[int, int]] = {}

    def touch(name: str, index: int) -> None:
        lo, hi = ranges.get(name, (index, index))
        ranges[name] = (min(lo, index), max(hi, index))

    for index, step in enumerate(module.steps):
        if isinstance(step, CpuCall):
            for name in step.inputs + step.outputs:
                touch(name, index)
            continue
        for stmt, _ in walk(step.body):
            for _, ref in hbm_refs(stmt):
                touch(ref.buffer, index)
    return ranges


def _plan_hbm(module: KernelModule, resident: set[str],
              homes: Mapping[str, int]) -> tuple[dict[str, int], IntervalPlan, int]:
    """Offsets of every HBM buffer but the ``resident`` ones, the temporaries' plan
    (:func:`plan_intervals` over their live ranges in step order) and the end of the HBM image.
    The weights with SRAM ``homes`` go first, in home order: the weights one fill kernel loads
    then lie in HBM as in SRAM, and one DMA fills them (:mod:`moecc.backend.asic.fill_dma`)."""
    offsets: dict[str, int] = {}
    cursor = 0
    for role in FIXED_ROLES:
        placed = [buf for buf in module.hbm if buf.role == role]
        if role == "weight":
            placed.sort(key=lambda buf: (buf.name not in homes, homes.get(buf.name, 0)))
        for buf in placed:
            offsets[buf.name] = cursor
            cursor = align(cursor + buf.nbytes)
    temps_base = cursor
    live = _live_ranges(module)
    # A temporary never touched shares with nothing live (its interval is step -1).
    temps = [Interval(b.name, align(max(b.nbytes, 1)), *live.get(b.name, (-1, -1))) for b in module.hbm
             if b.role == "temp" and b.name not in resident]
    plan = plan_intervals(temps)
    for name, offset in plan.offsets.items():
        offsets[name] = temps_base + offset
    return offsets, plan, temps_base + plan.end


@register_pass
@dataclass(frozen=True, slots=True)
class PlanMemoryStage(StagePass):
    """Gives every HBM and local buffer of the kernel IR its offset (:func:`plan_memory`).
    ``on_chip=false`` keeps every activation and weight in HBM (to see what keeping them on chip
    buys); ``weight_homes=false`` keeps the weights there only."""

    name: ClassVar[str] = "plan-memory"
    consumes: ClassVar[tuple[str, ...]] = ("kernel",)
    produces: ClassVar[str] = "kernel"
    on_chip: bool = True
    weight_homes: bool = True

    def run(self, unit: Compilation) -> None:
        if unit.tiling is None:
            raise PassError("the compilation has no target description to plan memory for", pass_name=self.name,
                            remedy="run it through moecc.compile() with target='asic'")
        unit.kernels, unit.memory_plan = plan_memory(unit.require_kernels(self.name), unit.tiling, self.on_chip,
                                                     self.weight_homes)
