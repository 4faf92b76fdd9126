"""What a simulation run reports: cycles, per-unit busy time, HBM traffic, FLOPs, roofline.

Produced by :class:`moecc.backend.asic.sim.Simulator` at the end of a run; ``to_dict()`` is
what ``moecc sim --report`` writes as JSON, :func:`format_report` what it prints, and
:func:`chrome_trace` turns the run's events into a Chrome/Perfetto trace (one track per unit).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from moecc.isa_spec.spec import UNITS


@dataclass(frozen=True, slots=True)
class UnitReport:
    instructions: int
    busy_cycles: int
    utilisation: float  # busy_cycles / total_cycles


@dataclass(frozen=True, slots=True)
class SimReport:
    """The cost of one run on one target."""

    target: str
    clock_hz: float
    total_cycles: int
    seconds: float
    instructions_executed: int
    units: dict[str, UnitReport]
    hbm_bytes_read: int
    hbm_bytes_written: int
    compulsory_hbm_bytes: int  # distinct HBM bytes the program read plus distinct bytes it wrote
    mxu_flops: int
    vpu_elements: int
    #: Dynamic energy of the run by component (``mxu``, ``vpu``, ``sram``, ``acc``, ``hbm``), in
    #: picojoules (:mod:`moecc.backend.asic.energy`); static power is the caller's to add.
    energy_pj: dict[str, float]
    roofline_compute_cycles: float  # MXU FLOPs / peak rate of their dtype
    roofline_memory_cycles: float  # compulsory bytes / HBM bandwidth
    roofline_cycles: float
    roofline_bound: str  # "compute" or "memory"
    ratio_to_roofline: float  # total_cycles / roofline_cycles (1.0 = at the bound)
    mxu_flop_utilisation: float  # achieved FLOPs / (peak FLOPs per cycle * total cycles)
    hbm_bandwidth_utilisation: float  # (read + written bytes) / (bandwidth * total cycles)

    def utilisation(self, unit: str) -> float:
        return self.units[unit].utilisation

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (plain ints, floats, strings)."""
        return asdict(self)


def format_report(report: SimReport) -> str:
    """A short human-readable table of a report."""
    lines = [
        f"target {report.target}: {report.total_cycles} cycles ({report.seconds * 1e6:.3f} us), "
        f"{report.instructions_executed} instructions",
        f"{'unit':<6}{'instrs':>10}{'busy':>12}{'util':>8}",
    ]
    for name in UNITS:
        unit = report.units[name]
        lines.append(f"{name:<6}{unit.instructions:>10}{unit.busy_cycles:>12}{unit.utilisation:>8.1%}")
    lines += [
        f"HBM read {report.hbm_bytes_read} B, written {report.hbm_bytes_written} B "
        f"({report.hbm_bandwidth_utilisation:.1%} of bandwidth)",
        f"MXU {report.mxu_flops} FLOPs ({report.mxu_flop_utilisation:.1%} of peak), "
        f"VPU {report.vpu_elements} elements",
        f"roofline {report.roofline_cycles:.0f} cycles ({report.roofline_bound}-bound); "
        f"run is {report.ratio_to_roofline:.2f}x the bound",
        "dynamic energy " + ", ".join(f"{name} {pj / 1e6:.3f} uJ" for name, pj in report.energy_pj.items())
        + f" (total {sum(report.energy_pj.values()) / 1e6:.3f} uJ; static power not included)",
    ]
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class TraceEvent:
    unit: str
    name: str
    pc: int
    begin: int
    end: int


def chrome_trace(events: list[TraceEvent], clock_hz: float) -> dict[str, Any]:
    """Chrome/Perfetto trace JSON: complete ("X") events in microseconds, one tid per unit."""
    us_per_cycle = 1e6 / clock_hz
    tids = {unit: i for i, unit in enumerate(UNITS)}
    trace: list[dict[str, Any]] = [
        {"name": "process_name", "ph": "M", "pid": 0, "args": {"name": "moe-asic"}},
    ]
    for unit, tid in tids.items():
        trace.append({"name": "thread_name", "ph": "M", "pid": 0, "tid": tid, "args": {"name": unit}})
        trace.append({"name": "thread_sort_index", "ph": "M", "pid": 0, "tid": tid, "args": {"sort_index": tid}})
    for event in events:
        trace.append({
            "name": event.name,
            "ph": "X",
            "pid": 0,
            "tid": tids[event.unit],
            "ts": event.begin * us_per_cycle,
            "dur": max(event.end - event.begin, 0) * us_per_cycle,
            "args": {"pc": event.pc, "begin_cycle": event.begin, "end_cycle": event.end},
        })
    return {"traceEvents": trace, "displayTimeUnit": "ns"}


