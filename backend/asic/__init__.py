"""The moe-asic backend: today the simulator (functional + timed); instruction selection,
scheduling and encoding from kernel IR are later work.

Where it sits: kernel IR -> (isel, later) -> :class:`moecc.isa_spec.Program` ->
:class:`Simulator` -> :class:`SimResult` (final HBM, :class:`SimReport`, Chrome trace).
"""

from __future__ import annotations

from moecc.backend.asic.report import SimReport, UnitReport, format_report
from moecc.backend.asic.sim import DEFAULT_STEP_LIMIT, SimResult, Simulator, build_hbm_image, simulate

__all__ = [
    "DEFAULT_STEP_LIMIT",
    "SimReport",
    "SimResult",
    "Simulator",
    "UnitReport",
    "build_hbm_image",
    "format_report",
    "simulate",
]
