"""The energy and area model of a moe-asic part: the ``[energy]`` and ``[area]`` tables of its
target description, with published defaults.

Where it sits: :func:`~moecc.isa_spec.target.parse_target` reads both tables into a
:class:`~moecc.isa_spec.target.Target` (an absent table or entry keeps the default below, and
any entry can be set with ``--set energy.hbm_pj_per_byte=20`` like every other entry). The
simulator (:mod:`moecc.backend.asic.energy`) charges each instruction's events at these prices;
the report (:mod:`moecc.energy_report`) adds static power over the run's time and the host
steps' energy, and prices the die area from the part's sizes.

Every default comes from a published figure; ``docs/architecture.md`` ("Energy and area")
gives the sources and the arithmetic. In short: per-operation and SRAM energies are Horowitz's
45 nm table (ISSCC 2014), HBM energy is HBM2's 3.9 pJ/bit (O'Connor et al., MICRO 2017), areas
and static power are TPU v1's 28 nm floorplan shares and idle power (Jouppi et al., ISCA 2017),
and the host's power is one core's share of a 40-core, 270 W server CPU. The two nodes are not
scaled to one another: the model is for comparing design points of one part, not for absolute
watts. The HBM PHY area has no published source here and is an estimate (said where it is set).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class EnergyModel:
    """Prices of the events a run is made of, in picojoules, and the static power."""

    #: MXU dtype -> pJ per multiply-accumulate (f32 runs as three bf16 passes: three bf16 MACs).
    mac_pj: tuple[tuple[str, float], ...] = (("bf16", 2.0), ("f32", 6.0))
    hbm_pj_per_byte: float = 31.2  # read or written over the HBM interface
    sram_pj_per_byte: float = 12.5  # read or written in the scratchpad (banks of ~1 MB)
    acc_pj_per_byte: float = 2.5  # read or written in the accumulators (small per-column arrays)
    vpu_pj_per_op: float = 3.7  # one lane-operation (an f32 multiply); multi-cycle ops count per cycle
    static_watts_per_mm2: float = 0.0846  # leakage and clock of the idle die, per mm^2 of it
    host_watts: float = 6.75  # one host core running a host step

    def mac(self, dtype: str) -> float:
        table = dict(self.mac_pj)
        return table.get(dtype, table.get("f32", 0.0))


@dataclass(frozen=True, slots=True)
class AreaModel:
    """Die area of the part's blocks, in mm^2, from its sizes."""

    mxu_cell_mm2: float = 0.001212  # one multiply-accumulate cell of the systolic array
    sram_mm2_per_mib: float = 4.0  # scratchpad
    acc_mm2_per_mib: float = 4.965  # accumulators
    vpu_lane_mm2: float = 0.0776  # one VPU lane (element per cycle)
    control_mm2: float = 6.62  # instruction fetch, dispatch, queues
    hbm_phy_mm2_per_stack: float = 15.0  # estimate: no published source (docs/architecture.md)
    hbm_stack_bytes_per_s: float = 4.096e11  # one HBM2E stack: 1024 pins x 3.2 Gb/s

    def blocks(self, *, mxu_cells: int, sram_bytes: int, acc_bytes: int, vpu_lanes: int,
               hbm_bytes_per_s: float) -> dict[str, float]:
        """Area per block and ``total``; the HBM PHYs are one per stack the bandwidth needs."""
        stacks = max(1, math.ceil(hbm_bytes_per_s / self.hbm_stack_bytes_per_s))
        out = {
            "mxu": mxu_cells * self.mxu_cell_mm2,
            "sram": sram_bytes / MIB * self.sram_mm2_per_mib,
            "acc": acc_bytes / MIB * self.acc_mm2_per_mib,
            "vpu": vpu_lanes * self.vpu_lane_mm2,
            "control": self.control_mm2,
            "hbm_phy": stacks * self.hbm_phy_mm2_per_stack,
        }
        out["total"] = sum(out.values())
        return out


_ENERGY_KEYS = ("hbm_pj_per_byte", "sram_pj_per_byte", "acc_pj_per_byte", "vpu_pj_per_op",
                "static_watts_per_mm2", "host_watts")
_AREA_KEYS = ("mxu_cell_mm2", "sram_mm2_per_mib", "acc_mm2_per_mib", "vpu_lane_mm2", "control_mm2",
              "hbm_phy_mm2_per_stack", "hbm_stack_bytes_per_s")


def energy_model(table: Mapping[str, Any]) -> EnergyModel:
    """The ``[energy]`` table (absent entries keep the defaults); raises KeyError naming an
    unknown entry and ValueError naming a negative one, as ``energy.<key>``."""
    unknown = sorted(set(table) - set(_ENERGY_KEYS) - {"mac_pj"})
    if unknown:
        raise KeyError(f"energy.{unknown[0]}")
    values: dict[str, Any] = {key: float(table[key]) for key in _ENERGY_KEYS if key in table}
    if "mac_pj" in table:
        values["mac_pj"] = tuple(sorted((str(k), float(v)) for k, v in dict(table["mac_pj"]).items()))
    model = EnergyModel(**values)
    _non_negative("energy", {**{k: getattr(model, k) for k in _ENERGY_KEYS},
                             **{f"mac_pj.{k}": v for k, v in model.mac_pj}})
    return model


def area_model(table: Mapping[str, Any]) -> AreaModel:
    """The ``[area]`` table (absent entries keep the defaults), checked as :func:`energy_model`."""
    unknown = sorted(set(table) - set(_AREA_KEYS))
    if unknown:
        raise KeyError(f"area.{unknown[0]}")
    model = AreaModel(**{key: float(table[key]) for key in _AREA_KEYS if key in table})
    _non_negative("area", {k: getattr(model, k) for k in _AREA_KEYS})
    if model.hbm_stack_bytes_per_s <= 0:
        raise ValueError(f"area.hbm_stack_bytes_per_s = {model.hbm_stack_bytes_per_s} must be positive")
    return model


def _non_negative(table: str, values: Mapping[str, float]) -> None:
    for key, value in values.items():
        if not value >= 0:  # also catches NaN
            raise ValueError(f"{table}.{key} = {value} must be zero or positive")


__all__ = ["AreaModel", "EnergyModel", "area_model", "energy_model"]
