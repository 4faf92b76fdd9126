"""The simulator's energy meter: each instruction's events priced by the part's energy table.

Where it sits: :mod:`moecc.backend.asic.sim` calls the meter as it executes an instruction
(the bytes a DMA moves, the MACs and operand bytes of a matmul, the lane-operations and operand
bytes of a VPU instruction), so a run's dynamic energy is counted from what actually ran (a
skipped zero block or a run-time loop that did not iterate costs nothing). Prices come from
:class:`~moecc.isa_spec.energy_area.EnergyModel`; static power and host steps are added by the
report (:mod:`moecc.energy_report`), which knows the run's time.

Components: ``mxu`` (MACs), ``vpu`` (lane-operations; an instruction of a timing class that
takes ``c`` cycles per vector counts ``c`` operations per lane, relative to ``vpu_simple``),
``sram`` and ``acc`` (bytes read or written in each), ``hbm`` (bytes over the HBM interface).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from moecc.isa_spec.target import Target

#: The dynamic components, in the order reports list them.
DYNAMIC_COMPONENTS = ("mxu", "vpu", "sram", "acc", "hbm")


@dataclass(slots=True)
class EnergyMeter:
    """Picojoules by component and by instruction (pc) of one run."""

    target: Target
    program_length: int
    pj: dict[str, float] = field(default_factory=lambda: dict.fromkeys(DYNAMIC_COMPONENTS, 0.0))
    pc_pj: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.pc_pj = np.zeros(self.program_length, dtype=np.float64)

    def _charge(self, pc: int, component: str, pj: float) -> None:
        self.pj[component] += pj
        self.pc_pj[pc] += pj

    def hbm(self, pc: int, nbytes: int) -> None:
        self._charge(pc, "hbm", nbytes * self.target.energy.hbm_pj_per_byte)

    def sram(self, pc: int, nbytes: int) -> None:
        self._charge(pc, "sram", nbytes * self.target.energy.sram_pj_per_byte)

    def acc(self, pc: int, nbytes: int) -> None:
        self._charge(pc, "acc", nbytes * self.target.energy.acc_pj_per_byte)

    def memory(self, pc: int, in_acc: bool, nbytes: int) -> None:
        """An operand's bytes in the accumulators (``in_acc``) or the scratchpad."""
        (self.acc if in_acc else self.sram)(pc, nbytes)

    def macs(self, pc: int, count: int, dtype: str) -> None:
        self._charge(pc, "mxu", count * self.target.energy.mac(dtype))

    def vpu(self, pc: int, elements: int, timing_class: str) -> None:
        per_element = self.target.cycles(timing_class) / max(1, self.target.cycles("vpu_simple"))
        self._charge(pc, "vpu", elements * per_element * self.target.energy.vpu_pj_per_op)


__all__ = ["DYNAMIC_COMPONENTS", "EnergyMeter"]
