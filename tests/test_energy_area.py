"""The energy and area model: target tables, the simulator's meter, the report's figures."""

from __future__ import annotations

import numpy as np
import pytest

import moecc
from moecc.asic_report import format_asic_summary
from moecc.backend.asic import Simulator
from moecc.examples import build_example
from moecc.isa_spec import assemble
from moecc.isa_spec.target import load_target

ENERGY_KEYS = ("energy.mac_pj.bf16", "energy.mac_pj.f32", "energy.hbm_pj_per_byte", "energy.sram_pj_per_byte",
               "energy.acc_pj_per_byte", "energy.vpu_pj_per_op", "energy.static_watts_per_mm2", "energy.host_watts")
AREA_KEYS = ("area.mxu_cell_mm2", "area.sram_mm2_per_mib", "area.acc_mm2_per_mib", "area.vpu_lane_mm2",
             "area.control_mm2", "area.hbm_phy_mm2_per_stack", "area.hbm_stack_bytes_per_s")


@pytest.mark.parametrize("part", ["moe-asic-v1", "moe-asic-edge"])
def test_every_energy_and_area_entry_is_set_in_the_packaged_parts_and_overridable(part: str) -> None:
    base = load_target(part)
    assert base.energy.mac("bf16") > 0 and base.energy.hbm_pj_per_byte > 0
    for key in ENERGY_KEYS + AREA_KEYS:
        changed = load_target(part, {key: "123"})
        assert changed != base, key


def test_bad_energy_entries_name_the_key() -> None:
    with pytest.raises(moecc.TargetError, match=r"energy\.hbm_pj_per_byte = -1.0 must be zero or positive"):
        load_target("moe-asic-v1", {"energy.hbm_pj_per_byte": "-1"})
    with pytest.raises(moecc.TargetError, match=r"area\.sram_mm2_per_mib"):
        load_target("moe-asic-v1", {"area.sram_mm2_per_mib": "nan"})
    with pytest.raises(moecc.TargetError, match=r"no entry 'energy\.joules'"):
        load_target("moe-asic-v1", {"energy.joules": "1"})


def test_area_scales_with_the_part() -> None:
    base = load_target("moe-asic-v1").area_mm2()
    big = load_target("moe-asic-v1", {"mxu.rows": 256, "mxu.cols": 256, "sram.capacity_bytes": "48MiB"}).area_mm2()
    assert big["mxu"] == pytest.approx(4 * base["mxu"])
    assert big["sram"] == pytest.approx(2 * base["sram"])
    assert base["total"] == pytest.approx(sum(v for k, v in base.items() if k != "total"))
    # One HBM PHY per stack the bandwidth needs (1.2 TB/s on v1: three 409.6 GB/s stacks).
    assert base["hbm_phy"] == pytest.approx(3 * load_target("moe-asic-v1").area.hbm_phy_mm2_per_stack)
    wide = load_target("moe-asic-v1", {"hbm.bandwidth_bytes_per_s": "2.4e12"}).area_mm2()
    assert wide["hbm_phy"] == pytest.approx(2 * base["hbm_phy"])


def test_the_simulator_prices_each_event_of_a_program() -> None:
    """One load, one matmul, one VPU add, one store: every component by hand."""
    m, k, n = 8, 16, 32
    x = np.ones((m, k), np.float32)
    w = np.ones((k, n), np.float32)
    program = assemble(f""".isa moe-asic 2
.region x 0x0 f32 [{m}, {k}]
.region w 0x1000 f32 [{k}, {n}]
.region y 0x4000 f32 [{m}, {n}]
    li r1, 0x1000
    li r2, 0x4000
    dma.ld sram[r0], hbm[r0], rows=1, row_bytes={x.nbytes}, sstride=0, dstride=0 signal(t1)
    dma.ld sram[r0 + 0x1000], hbm[r1], rows=1, row_bytes={w.nbytes}, sstride=0, dstride=0 signal(t2)
    mxu.mm acc[r0], sram[r0], sram[r0 + 0x1000], m={m}, k={k}, n={n}, dtype=f32 wait(t1, t2) signal(t3)
    vpu.add sram[r0 + 0x4000], acc[r0], acc[r0], rows={m}, cols={n}, dtype=f32 wait(t3) signal(t4)
    dma.st hbm[r2], sram[r0 + 0x4000], rows=1, row_bytes={m * n * 4}, sstride=0, dstride=0 wait(t4)
    halt
""")
    target = load_target("moe-asic-v1")
    result = Simulator(program, target).run({"x": x, "w": w})
    np.testing.assert_array_equal(result.read("y"), 2 * x @ w)
    e = target.energy
    moved = x.nbytes + w.nbytes + m * n * 4
    expected = {
        "hbm": moved * e.hbm_pj_per_byte,
        # DMA sides in SRAM, the matmul's operands, the add's result.
        "sram": (moved + x.nbytes + w.nbytes + m * n * 4) * e.sram_pj_per_byte,
        # The matmul writes its results; the add reads two operands.
        "acc": (m * n * 4 + 2 * m * n * 4) * e.acc_pj_per_byte,
        "mxu": m * k * n * e.mac("f32"),
        "vpu": m * n * e.vpu_pj_per_op,
    }
    assert result.report.energy_pj == pytest.approx(expected)
    assert result.pc_energy_pj.sum() == pytest.approx(sum(expected.values()))


@pytest.fixture(scope="module")
def llama() -> bytes:
    return build_example("llama-block").SerializeToString()


def _report(model: bytes, **options: object) -> dict:
    return moecc.compile(model, "asic", **options).report()


def test_the_report_adds_static_power_and_host_steps_and_counts_tokens(llama: bytes) -> None:
    report = _report(llama)
    joules = report["energy_joules"]
    assert set(joules) == {"mxu", "vpu", "sram", "acc", "hbm", "static", "host", "total"}
    assert joules["total"] == pytest.approx(sum(v for k, v in joules.items() if k != "total"))
    target = load_target("moe-asic-v1")
    static_watts = target.energy.static_watts_per_mm2 * report["area_mm2"]["total"]
    assert joules["static"] == pytest.approx(static_watts * report["seconds"])
    host_seconds = report["host_cycles"] / target.clock_hz
    assert joules["host"] == pytest.approx(target.energy.host_watts * host_seconds)
    assert report["average_power_watts"] == pytest.approx(joules["total"] / report["seconds"])
    graph_input = build_example("llama-block").graph.input[0]
    tokens = int(np.prod([d.dim_value for d in graph_input.type.tensor_type.shape.dim]))
    assert report["tokens"] == tokens and "input_ids" in report["tokens_from"]
    assert report["tokens_per_s"] == pytest.approx(tokens / report["seconds"])
    assert report["tokens_per_joule"] == pytest.approx(tokens / joules["total"])
    # Each kernel's energy: its instructions' and the static power over its cycles; the kernels
    # together are the ASIC's share (host steps aside).
    kernels = sum(row["energy_joules"] for row in report["kernels"]["by_kernel"])
    asic_only = joules["total"] - joules["host"] - static_watts * host_seconds
    assert kernels == pytest.approx(asic_only, rel=1e-6)
    assert "energy " in format_asic_summary(report)


def test_energy_follows_the_prices_and_the_design(llama: bytes) -> None:
    base = _report(llama)["energy_joules"]
    dearer = _report(llama, target_overrides={"energy.hbm_pj_per_byte": 62.4})["energy_joules"]
    assert dearer["hbm"] == pytest.approx(2 * base["hbm"])
    assert dearer["mxu"] == pytest.approx(base["mxu"]) and dearer["sram"] == pytest.approx(base["sram"])
    bf16 = _report(llama, precision="bf16")["energy_joules"]
    assert bf16["mxu"] < base["mxu"] / 2  # a third of the passes, the same MACs
    big = _report(llama, target_overrides={"sram.capacity_bytes": "48MiB"})
    assert big["area_mm2"]["sram"] == pytest.approx(2 * _report(llama)["area_mm2"]["sram"])
