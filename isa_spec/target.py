"""Target descriptions of moe-asic parts (``target-<name>.toml``), loaded into typed records.

The simulator's timing model and the roofline in its report are priced from a
:class:`Target`; a later compiler backend reads the same record for tile sizes and memory
capacities. The default part is ``moe-asic-v1``; ``moe-asic-edge`` is a small contrasting part.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from moecc.errors import TargetError

DEFAULT_TARGET = "moe-asic-v1"

_FILE_PREFIX = "target-"


@dataclass(frozen=True, slots=True)
class Target:
    """One moe-asic part: memories, units and per-timing-class costs."""

    name: str
    description: str
    clock_hz: float
    hbm_capacity_bytes: int
    hbm_bandwidth_bytes_per_s: float
    sram_capacity_bytes: int
    sram_banks: int
    sram_bank_width_bytes: int
    acc_capacity_bytes: int
    mxu_rows: int
    mxu_cols: int
    mxu_dtypes: tuple[str, ...]
    mxu_passes: tuple[tuple[str, int], ...]  # dtype -> streaming passes per activation row
    vpu_lanes: int
    dma_engines: int
    dma_setup_cycles: int
    dma_gather_row_cycles: int
    queue_depth: int
    loop_stack: int
    timing: tuple[tuple[str, int], ...]  # timing class -> cycles

    @property
    def hbm_bytes_per_cycle(self) -> float:
        return self.hbm_bandwidth_bytes_per_s / self.clock_hz

    def passes(self, dtype: str) -> int:
        table = dict(self.mxu_passes)
        if dtype not in table:
            raise TargetError(f"target {self.name}: the MXU does not support dtype {dtype}")
        return table[dtype]

    def cycles(self, timing_class: str) -> int:
        table = dict(self.timing)
        if timing_class not in table:
            raise TargetError(f"target {self.name}: no cost for timing class '{timing_class}'")
        return table[timing_class]

    def peak_flops_per_cycle(self, dtype: str) -> float:
        """MXU multiply-adds (2 FLOPs) per cycle at full streaming rate for ``dtype``."""
        return 2.0 * self.mxu_rows * self.mxu_cols / self.passes(dtype)

    def peak_flops_per_s(self, dtype: str) -> float:
        return self.peak_flops_per_cycle(dtype) * self.clock_hz


def parse_target(text: str, origin: str = "<target>") -> Target:
    """Parse and validate one target description (raises TargetError)."""
    try:
        data = tomllib.loads(text)
        target = Target(
            name=str(data["name"]),
            description=str(data.get("description", "")),
            clock_hz=float(data["clock_hz"]),
            hbm_capacity_bytes=int(data["hbm"]["capacity_bytes"]),
            hbm_bandwidth_bytes_per_s=float(data["hbm"]["bandwidth_bytes_per_s"]),
            sram_capacity_bytes=int(data["sram"]["capacity_bytes"]),
            sram_banks=int(data["sram"]["banks"]),
            sram_bank_width_bytes=int(data["sram"]["bank_width_bytes"]),
            acc_capacity_bytes=int(data["acc"]["capacity_bytes"]),
            mxu_rows=int(data["mxu"]["rows"]),
            mxu_cols=int(data["mxu"]["cols"]),
            mxu_dtypes=tuple(data["mxu"]["dtypes"]),
            mxu_passes=tuple(sorted((k, int(v)) for k, v in data["mxu"]["passes"].items())),
            vpu_lanes=int(data["vpu"]["lanes"]),
            dma_engines=int(data["dma"]["engines"]),
            dma_setup_cycles=int(data["dma"]["setup_cycles"]),
            dma_gather_row_cycles=int(data["dma"]["gather_row_cycles"]),
            queue_depth=int(data["queues"]["depth"]),
            loop_stack=int(data["queues"]["loop_stack"]),
            timing=tuple(sorted((k, int(v)) for k, v in data["timing"].items())),
        )
    except tomllib.TOMLDecodeError as exc:
        raise TargetError(f"{origin}: not valid TOML: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise TargetError(f"{origin}: missing or bad entry {exc}", remedy="compare with target-moe-asic-v1.toml") from None
    positive = ("clock_hz", "hbm_bandwidth_bytes_per_s", "sram_capacity_bytes", "acc_capacity_bytes",
                "mxu_rows", "mxu_cols", "vpu_lanes", "dma_engines", "queue_depth", "loop_stack")
    for attr in positive:
        if getattr(target, attr) <= 0:
            raise TargetError(f"{origin}: {attr} must be positive")
    return target


def available_targets() -> list[str]:
    """Names of the packaged target descriptions."""
    folder = resources.files("moecc.isa_spec")
    return sorted(
        p.name[len(_FILE_PREFIX):-len(".toml")]
        for p in folder.iterdir()
        if p.name.startswith(_FILE_PREFIX) and p.name.endswith(".toml")
    )


@functools.lru_cache(maxsize=16)
def load_target(name_or_path: str = DEFAULT_TARGET) -> Target:
    """A packaged target by name (``moe-asic-v1``) or a target TOML file by path."""
    if name_or_path.endswith(".toml"):
        path = Path(name_or_path)
        if not path.is_file():
            raise TargetError(f"target file '{path}' does not exist")
        return parse_target(path.read_text(encoding="utf-8"), str(path))
    resource = resources.files("moecc.isa_spec").joinpath(f"{_FILE_PREFIX}{name_or_path}.toml")
    if not resource.is_file():
        raise TargetError(
            f"unknown target '{name_or_path}'",
            remedy=f"choose one of {', '.join(available_targets())} or give a .toml path",
        )
    return parse_target(resource.read_text(encoding="utf-8"), name_or_path)
