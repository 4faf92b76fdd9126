"""Target descriptions of moe-asic parts (``target-<name>.toml``), loaded into typed records.

The simulator's timing model and the roofline in its report are priced from a
:class:`Target`; a later compiler backend reads the same record for tile sizes and memory
capacities. The default part is ``moe-asic-v1``; ``moe-asic-edge`` is a small contrasting part.

A target also says how its memories store each graph dtype (:attr:`Target.storage_dtypes`):
ASIC staging gives every HBM buffer the storage dtype of its value, and the runtimes
convert at the host boundary. Every moe-asic part stores :data:`ASIC_STORAGE_DTYPES` (its
memories and units work in f32, bf16 and i32 only); the cpu target's heap stores every dtype
as itself.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from moecc.errors import TargetError
from moecc.ir.types import DType
from moecc.isa_spec.energy_area import AreaModel, EnergyModel, area_model, energy_model

DEFAULT_TARGET = "moe-asic-v1"

_FILE_PREFIX = "target-"

#: Graph dtype -> the dtype a moe-asic part's HBM (and its kernels) hold it in. The ASIC's
#: memories and units work in f32, bf16 and i32 only: f16 is widened to f32, every integer
#: is held as i32 (the host checks i64 inputs fit when it writes them), and bool is 0/1 in
#: f32 because that is what the VPU's compares produce.
ASIC_STORAGE_DTYPES: tuple[tuple[DType, DType], ...] = (
    (DType.F32, DType.F32),
    (DType.BF16, DType.BF16),
    (DType.F16, DType.F32),
    (DType.I64, DType.I32),
    (DType.I32, DType.I32),
    (DType.I8, DType.I32),
    (DType.U8, DType.I32),
    (DType.BOOL, DType.F32),
)


@dataclass(frozen=True, slots=True)
class TileLimits:
    """The largest tile one statement of a kernel may name, as the instruction fields allow.

    Lowering rules split work into tiles within these limits; for a moe-asic part they come
    from the ISA table's field widths (:func:`isa_tile_limits`), never from copies of them. A
    target with no such fields (the CPU's tiling view) uses :data:`UNBOUNDED_TILE_LIMITS`."""

    tile_dim: int  # rows / cols of a VPU or DMA tile (the VPU formats' rows/cols fields)
    row_bytes: int  # bytes of one DMA row (dma.ld/st row_bytes)
    stride_bytes: int  # byte stride between DMA rows or gathered rows (sstride/dstride/stride)
    topk: int  # k of one vpu.topk


#: No instruction fields to respect (a CPU's loops take any count and stride).
UNBOUNDED_TILE_LIMITS = TileLimits(tile_dim=1 << 30, row_bytes=1 << 40, stride_bytes=1 << 40, topk=1 << 30)


@functools.cache
def isa_tile_limits() -> TileLimits:
    """:class:`TileLimits` read from the ISA table: the narrowest of the fields that carry each
    quantity, over every instruction that has them."""
    from moecc.isa_spec.spec import load_isa

    isa = load_isa()

    def widest(unit_prefix: str, names: tuple[str, ...]) -> int:
        values = [f.max_value for inst in isa.instructions if inst.mnemonic.startswith(unit_prefix)
                  for f in inst.fields if f.name in names]
        if not values:
            raise TargetError(f"isa.toml has no field {'/'.join(names)} on {unit_prefix}* instructions")
        return min(values)

    return TileLimits(
        tile_dim=min(widest("vpu.", ("rows", "cols")), widest("dma.", ("rows",))),
        row_bytes=widest("dma.", ("row_bytes",)),
        stride_bytes=widest("dma.", ("sstride", "dstride", "stride")),
        topk=min(f.max_value for inst in isa.instructions if inst.mnemonic == "vpu.topk" for f in inst.fields
                 if f.name == "k"),
    )


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
    #: graph dtype -> storage dtype pairs (a tuple, so the record stays hashable); read it as
    #: the mapping :attr:`storage_dtypes`.
    storage: tuple[tuple[DType, DType], ...] = ASIC_STORAGE_DTYPES
    #: Largest tiles one statement may name; None: the ISA table's (:func:`isa_tile_limits`).
    tile_limits: TileLimits | None = None
    #: The host that runs host steps (graph ops no kernel covers), as the report prices them: one
    #: step costs ``host_step_overhead_s + max(flops / host_flops_per_s, bytes / host_bytes_per_s)``,
    #: ``bytes`` being what it reads and writes in HBM (over the host link). ``[host]`` in the TOML;
    #: these defaults (one AVX-512 core, a PCIe 4.0 x16 link, a 10 us launch) when it is absent.
    host_flops_per_s: float = 1.0e11
    host_bytes_per_s: float = 2.5e10
    host_step_overhead_s: float = 1.0e-5
    #: Setup cycles of an on-chip copy (``dma.ld.sram``, ``dma.st.sram``: SRAM to SRAM): a descriptor without the HBM
    #: first-access latency. ``[dma] local_setup_cycles`` in the TOML.
    dma_local_setup_cycles: int = 16
    #: Prices of a run's events and the static power (``[energy]`` in the TOML).
    energy: EnergyModel = EnergyModel()
    #: Die area per block (``[area]`` in the TOML); :meth:`area_mm2` applies it to this part.
    area: AreaModel = AreaModel()

    def area_mm2(self) -> dict[str, float]:
        """Die area per block of this part (MXU cells, SRAM, accumulators, VPU lanes, control,
        one HBM PHY per stack its bandwidth needs) and ``total``, in mm^2."""
        return self.area.blocks(mxu_cells=self.mxu_rows * self.mxu_cols, sram_bytes=self.sram_capacity_bytes,
                                acc_bytes=self.acc_capacity_bytes, vpu_lanes=self.vpu_lanes,
                                hbm_bytes_per_s=self.hbm_bandwidth_bytes_per_s)

    @property
    def sram_bytes_per_cycle(self) -> int:
        """What an on-chip copy moves per cycle: every bank's width."""
        return self.sram_banks * self.sram_bank_width_bytes

    @property
    def limits(self) -> TileLimits:
        """The tile limits lowering must respect (the ISA table's unless the description sets its own)."""
        return self.tile_limits if self.tile_limits is not None else isa_tile_limits()

    @property
    def storage_dtypes(self) -> Mapping[DType, DType]:
        """Graph dtype -> the dtype this target's memories hold values of it in."""
        return _storage_map(self.storage)

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


@functools.lru_cache(maxsize=8)
def _storage_map(pairs: tuple[tuple[DType, DType], ...]) -> Mapping[DType, DType]:
    return MappingProxyType(dict(pairs))


#: The smallest MXU side a description may give (the block-sparse form's smallest block).
MIN_MXU_SIDE = 8
#: Positive entries a description must give, as TOML keys and the record's fields.
_POSITIVE = (("clock_hz", "clock_hz"), ("hbm.bandwidth_bytes_per_s", "hbm_bandwidth_bytes_per_s"),
             ("hbm.capacity_bytes", "hbm_capacity_bytes"), ("sram.capacity_bytes", "sram_capacity_bytes"),
             ("sram.banks", "sram_banks"), ("sram.bank_width_bytes", "sram_bank_width_bytes"),
             ("acc.capacity_bytes", "acc_capacity_bytes"), ("vpu.lanes", "vpu_lanes"), ("dma.engines", "dma_engines"),
             ("queues.depth", "queue_depth"), ("queues.loop_stack", "loop_stack"),
             ("host.flops_per_s", "host_flops_per_s"), ("host.bytes_per_s", "host_bytes_per_s"))


def parse_target(text: str, origin: str = "<target>", overrides: Mapping[str, object] | None = None) -> Target:
    """Parse and validate one target description (raises TargetError), with ``overrides``
    (dotted TOML key -> value, :mod:`moecc.isa_spec.target_overrides`) set first."""
    from moecc.isa_spec.target_overrides import apply_overrides, override_name

    try:
        data = tomllib.loads(text)
        if overrides:
            data = apply_overrides(data, overrides, origin)
        costs = _costs(data, origin)
        target = Target(
            name=override_name(str(data["name"]), overrides or {}),
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
            dma_local_setup_cycles=int(data["dma"].get("local_setup_cycles", 16)),
            queue_depth=int(data["queues"]["depth"]),
            loop_stack=int(data["queues"]["loop_stack"]),
            timing=tuple(sorted((k, int(v)) for k, v in data["timing"].items())),
            **_host_model(data.get("host", {})),
            **costs,
        )
    except tomllib.TOMLDecodeError as exc:
        raise TargetError(f"{origin}: not valid TOML: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise TargetError(f"{origin}: missing or bad entry {exc}", remedy="compare with target-moe-asic-v1.toml") from None
    for key, attr in _POSITIVE:
        if getattr(target, attr) <= 0:
            raise TargetError(f"{origin}: {key} = {getattr(target, attr)} must be positive",
                              remedy=f"give {key} a positive value")
    for key, side in (("mxu.rows", target.mxu_rows), ("mxu.cols", target.mxu_cols)):
        if side < MIN_MXU_SIDE:
            raise TargetError(f"{origin}: {key} = {side} is below the smallest MXU side, {MIN_MXU_SIDE}",
                              remedy=f"give {key} at least {MIN_MXU_SIDE}")
    for dtype, passes in target.mxu_passes:
        if passes <= 0:
            raise TargetError(f"{origin}: mxu.passes.{dtype} = {passes} must be positive")
    return target


def _costs(data: Mapping[str, object], origin: str) -> dict[str, object]:
    """The ``[energy]`` and ``[area]`` tables as :class:`Target` fields (absent: the defaults)."""
    try:
        return {"energy": energy_model(data.get("energy", {})),  # type: ignore[arg-type]
                "area": area_model(data.get("area", {}))}  # type: ignore[arg-type]
    except ValueError as exc:
        key = str(exc).split(" ")[0]
        raise TargetError(f"{origin}: {exc}", remedy=f"give {key} a value of zero or more") from None


def _host_model(host: Mapping[str, object]) -> dict[str, float]:
    """The ``[host]`` table's entries as :class:`Target` fields (absent ones keep the defaults)."""
    names = {"flops_per_s": "host_flops_per_s", "bytes_per_s": "host_bytes_per_s",
             "step_overhead_s": "host_step_overhead_s"}
    unknown = sorted(set(host) - set(names))
    if unknown:
        raise KeyError(f"host.{unknown[0]}")
    return {names[key]: float(value) for key, value in host.items()}  # type: ignore[arg-type]


def available_targets() -> list[str]:
    """Names of the packaged target descriptions."""
    folder = resources.files("moecc.isa_spec")
    return sorted(
        p.name[len(_FILE_PREFIX):-len(".toml")]
        for p in folder.iterdir()
        if p.name.startswith(_FILE_PREFIX) and p.name.endswith(".toml")
    )


def load_target(name_or_path: str = DEFAULT_TARGET, overrides: Mapping[str, object] | None = None) -> Target:
    """A packaged target by name (``moe-asic-v1``) or a target TOML file by path, with
    ``overrides`` of its entries (:mod:`moecc.isa_spec.target_overrides`)."""
    return _load_target(name_or_path, tuple(sorted((str(k), str(v)) for k, v in (overrides or {}).items())))


@functools.lru_cache(maxsize=16)
def _load_target(name_or_path: str, pairs: tuple[tuple[str, str], ...]) -> Target:
    overrides = dict(pairs)
    if name_or_path.endswith(".toml"):
        path = Path(name_or_path)
        if not path.is_file():
            raise TargetError(f"target file '{path}' does not exist")
        return parse_target(path.read_text(encoding="utf-8"), str(path), overrides)
    resource = resources.files("moecc.isa_spec").joinpath(f"{_FILE_PREFIX}{name_or_path}.toml")
    if not resource.is_file():
        raise TargetError(
            f"unknown target '{name_or_path}'",
            remedy=f"choose one of {', '.join(available_targets())} or give a .toml path",
        )
    return parse_target(resource.read_text(encoding="utf-8"), name_or_path, overrides)
