"""Memory planning: HBM regions by role, temporaries sharing space by liveness, local buffers
bump-allocated per kernel, and capacity errors that say to re-tile."""

from __future__ import annotations

import pytest

from moecc.errors import TargetError
from moecc.ir.kernel import Affine, Buffer, CpuCall, HbmRef, Kernel, KernelModule, Load, LocalRef, Store
from moecc.ir.types import DType
from moecc.isa_spec import load_target
from moecc.passes.interval_plan import Interval
from moecc.passes.memory_plan import ALIGNMENT, fit_within, kernel_fits, kernel_local_bytes, plan_memory

F32 = DType.F32
V1 = load_target("moe-asic-v1")
EDGE = load_target("moe-asic-edge")


def _copy(name: str, src: str, dst: str, rows: int = 4, cols: int = 10) -> Kernel:
    t = LocalRef("t", rows, cols)
    return Kernel(name, (Buffer("t", "sram", F32, (rows, cols)), Buffer("acc", "acc", F32, (rows, cols), slots=2)),
                  (Load(t, HbmRef(src, Affine(), rows, cols, cols)), Store(HbmRef(dst, Affine(), rows, cols, cols), t)))


def _chain() -> KernelModule:
    # x -> a -> b -> c -> y: a and c are never live together, so they may share bytes.
    hbm = [Buffer("x", "hbm", F32, (4, 10), role="input"), Buffer("y", "hbm", F32, (4, 10), role="output"),
           Buffer("w", "hbm", F32, (3,), role="weight")]
    hbm += [Buffer(n, "hbm", F32, (4, 10)) for n in ("a", "b", "c")]
    steps = [_copy("k0", "x", "a"), _copy("k1", "a", "b"), _copy("k2", "b", "c"), _copy("k3", "c", "y")]
    return KernelModule(hbm, steps, ["x"], ["y"])


def test_fixed_regions_are_disjoint_aligned_and_temps_share_by_liveness() -> None:
    planned, plan = plan_memory(_chain(), V1, on_chip=False)
    offsets = plan.hbm_offsets
    assert all(off % ALIGNMENT == 0 for off in offsets.values())
    assert offsets["x"] < offsets["y"] < offsets["w"] < min(offsets[t] for t in "abc")
    assert offsets["a"] == offsets["c"] != offsets["b"]
    assert plan.hbm_temp_bytes_shared == 2 * 192 < plan.hbm_temp_bytes_unshared == 3 * 192
    assert plan.hbm_bytes_planned == offsets["w"] + 64 + 2 * 192
    assert planned.hbm_buffer("b").offset == offsets["b"]


def test_cpu_steps_extend_liveness() -> None:
    module = _chain()
    module.steps.insert(3, CpuCall("host", ("a",), ("c",)))  # a is now live until c is written
    _, plan = plan_memory(module, V1, on_chip=False)
    assert len({plan.hbm_offsets[t] for t in "abc"}) == 3


def test_activations_stay_on_chip_when_they_fit() -> None:
    """Every temporary of the chain goes to SRAM above the kernels' ring (a and c, never live
    together, at one address); no HBM holds them."""
    planned, plan = plan_memory(_chain(), V1)
    resident = {b.name: b for b in planned.hbm if b.role == "resident"}
    assert set(resident) == {"a", "b", "c"} and plan.resident_buffers == 3
    ring = V1.sram_capacity_bytes // 2  # the ring's floor: half the SRAM
    assert all(b.offset is not None and b.offset >= ring for b in resident.values())
    assert resident["a"].offset == resident["c"].offset != resident["b"].offset
    assert plan.hbm_temp_bytes_shared == 0 and plan.sram_resident_bytes == 2 * 192


def test_host_steps_and_indexed_access_keep_activations_in_hbm() -> None:
    """A temporary a host step reads stays in HBM, and so does one live across a host step
    (the program ends there); the others still go on chip."""
    module = _chain()
    module.steps.insert(2, CpuCall("host", ("b",), ()))
    planned, _ = plan_memory(module, V1)
    roles = {b.name: b.role for b in planned.hbm}
    assert roles["b"] == "temp" and roles["a"] == "resident" and roles["c"] == "resident"
    module = _chain()
    module.steps.insert(1, CpuCall("host", (), ()))  # between a's write and its read
    planned, _ = plan_memory(module, V1)
    assert {b.name: b.role for b in planned.hbm}["a"] == "temp"


def test_activations_that_do_not_fit_stay_in_hbm() -> None:
    """fit_within takes the largest first while they fit; the rest are left out."""
    intervals = [Interval("big", 600, 0, 3), Interval("mid", 400, 1, 2), Interval("small", 100, 2, 5)]
    assert fit_within(intervals, 1000) == {"big": 0, "mid": 600}
    assert fit_within(intervals, 1100) == {"big": 0, "mid": 600, "small": 1000}
    assert fit_within(intervals, 500) == {"mid": 0, "small": 400}


def test_local_buffers_are_bump_allocated_per_kernel() -> None:
    planned, plan = plan_memory(_chain(), V1)
    kernel = planned.kernels[0]
    assert kernel.buffer("t").offset == 0 and kernel.buffer("acc").offset == 0
    assert kernel_local_bytes(kernel) == {"sram": 192, "acc": 320}  # 2 slots of 160 B, then aligned
    assert plan.sram_peak_bytes == 192 and plan.acc_peak_bytes == 320
    assert plan.sram_capacity_bytes == V1.sram_capacity_bytes


def test_kernel_too_big_for_edge_sram_raises_with_retile_remedy() -> None:
    copy = _copy("huge", "x", "y", rows=1024, cols=1024)
    big = Kernel("huge", copy.buffers[:1], copy.body)  # 4 MiB of f32 SRAM > the edge part's 2 MiB
    module = KernelModule([Buffer("x", "hbm", F32, (1024, 1024), role="input"),
                           Buffer("y", "hbm", F32, (1024, 1024), role="output")], [big], ["x"], ["y"])
    assert not kernel_fits(big, EDGE) and kernel_fits(big, V1)
    with pytest.raises(TargetError, match=r"sram.capacity_bytes = .* is too small: kernel huge.s local sram buffers need 4194304 bytes.*re-tile"):
        plan_memory(module, EDGE)
    plan_memory(module, V1)
