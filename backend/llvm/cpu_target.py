"""CPU target description for the LLVM backend: what the host offers and how to block for it.

The LLVM backend tiles the tiled IR and its GEMM micro-kernel for a :class:`CpuTarget`, the CPU
counterpart of the ASIC's target description: the LLVM CPU name and feature string the JIT
compiles for (:mod:`moecc.backend.llvm.jit`), the SIMD width in floats, the cache sizes,
and the blocking of the matmul (:mod:`moecc.backend.llvm.matmul`): an ``MR x NR`` register
tile, and ``MC x KC`` / ``KC x NC`` packed panels sized so that a ``KC x NR`` sliver of B
stays in L1 and an ``MC x KC`` block of A stays in L2 while the micro-kernel sweeps them.

:func:`host_cpu_target` reads the host (llvmlite's CPU name and features, cache sizes from
``/sys/devices/system/cpu/cpu0/cache`` when present) once per process.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path

from moecc.errors import MoeccError

#: Where Linux describes the first CPU's caches (``index*/{level,type,size}``).
SYSFS_CACHE_DIR = Path("/sys/devices/system/cpu/cpu0/cache")
#: Cache sizes assumed when the host does not say (a typical modern x86 core).
DEFAULT_L1D_BYTES = 32 * 1024
DEFAULT_L2_BYTES = 1024 * 1024
DEFAULT_L3_BYTES = 8 * 1024 * 1024
FLOAT_BYTES = 4



@dataclass(frozen=True, slots=True)
class CpuTarget:
    """A CPU to compile for, with the GEMM blocking chosen for it.

    ``features`` is an LLVM target feature string (``"+avx2,+fma,..."``) handed to the target
    machine as is. ``vector_floats`` is the SIMD width the micro-kernel's accumulators use.
    ``mr x nr`` is the register tile (``mr * nr / vector_floats`` vector accumulators);
    ``mc``, ``kc``, ``nc`` are the cache blocks of M, K and N (``mc`` a multiple of ``mr``,
    ``nc`` a multiple of ``nr``).
    """

    name: str
    features: str
    vector_floats: int
    l1d_bytes: int
    l2_bytes: int
    l3_bytes: int
    mr: int
    nr: int
    mc: int
    kc: int
    nc: int

    def __post_init__(self) -> None:
        if self.vector_floats not in (4, 8, 16):
            raise MoeccError(
                f"CPU target '{self.name}': vector width {self.vector_floats} floats is not supported",
                remedy="use 4 (SSE/NEON), 8 (AVX2) or 16 (AVX-512)",
            )
        if self.nr % self.vector_floats:
            raise MoeccError(
                f"CPU target '{self.name}': nr={self.nr} is not a multiple of the vector width {self.vector_floats}",
                remedy="choose nr as a whole number of vectors",
            )
        for block, unit, label in ((self.mc, self.mr, "mc/mr"), (self.nc, self.nr, "nc/nr")):
            if block <= 0 or unit <= 0 or block % unit:
                raise MoeccError(
                    f"CPU target '{self.name}': {label} = {block}/{unit} is not a positive whole multiple",
                    remedy="make mc a multiple of mr and nc a multiple of nr",
                )
        if self.kc <= 0:
            raise MoeccError(f"CPU target '{self.name}': kc={self.kc} must be positive", remedy="use kc >= 1")

    @property
    def accumulators(self) -> int:
        """Vector registers the micro-kernel keeps its ``mr x nr`` tile in."""
        return self.mr * self.nr // self.vector_floats

    def with_blocking(self, **blocking: int) -> CpuTarget:
        """This target with some of ``mr``, ``nr``, ``mc``, ``kc``, ``nc`` (or ``vector_floats``) replaced."""
        return replace(self, **blocking)


def feature_set(features: str) -> frozenset[str]:
    """The enabled features (without ``+``) of an LLVM feature string."""
    return frozenset(item[1:] for item in features.split(",") if item.startswith("+"))


def vector_floats_for(features: frozenset[str]) -> int:
    """The widest float SIMD the features allow: AVX-512 → 16, AVX2 → 8, else 4."""
    if "avx512f" in features:
        return 16
    if "avx2" in features or "avx" in features:
        return 8
    return 4


def read_cache_sizes(cache_dir: Path = SYSFS_CACHE_DIR) -> tuple[int, int, int]:
    """L1 data, L2 and L3 sizes in bytes from sysfs, each falling back to its default."""
    sizes = {1: DEFAULT_L1D_BYTES, 2: DEFAULT_L2_BYTES, 3: DEFAULT_L3_BYTES}
    if not cache_dir.is_dir():
        return sizes[1], sizes[2], sizes[3]
    for index in sorted(cache_dir.glob("index*")):
        try:
            level = int((index / "level").read_text().strip())
            kind = (index / "type").read_text().strip()
            size = _parse_cache_size((index / "size").read_text().strip())
        except (OSError, ValueError):
            continue  # an unreadable entry leaves that level at its default
        if level in sizes and kind in ("Data", "Unified") and size > 0:
            sizes[level] = size
    return sizes[1], sizes[2], sizes[3]


def _parse_cache_size(text: str) -> int:
    multiplier = {"K": 1024, "M": 1024 * 1024, "G": 1024 * 1024 * 1024}.get(text[-1:].upper(), 1)
    digits = text[:-1] if multiplier != 1 else text
    return int(digits) * multiplier


def register_tile_for(vector_floats: int) -> tuple[int, int]:
    """``(mr, nr)`` filling most of the vector register file with accumulators.

    AVX-512 has 32 zmm registers: 14 x 32 keeps 28 accumulators, 2 B vectors and a broadcast A
    element. AVX2 has 16 ymm: 6 x 16 keeps 12 accumulators. 128-bit SIMD: 4 x 8 (8 of 16/32)."""
    return {16: (14, 32), 8: (6, 16), 4: (4, 8)}[vector_floats]


#: Deepest K block of the sgemm: deeper gained nothing measurable (see blocking_for).
MAX_KC = 256


def blocking_for(mr: int, nr: int, l1d_bytes: int, l2_bytes: int) -> tuple[int, int, int]:
    """``(mc, kc, nc)``: the ``kc x nr`` B sliver the micro-kernel reuses for a whole ``mc``
    block takes up to all of L1 (the A slivers stream through behind it from L2; the
    prefetchers keep up), at most :data:`MAX_KC` deep, an ``mc x kc`` A block half of L2;
    ``nc`` bounds the packed B panel (kept in L3/DRAM).

    Measured on an AVX-512 host (48 KiB L1d, 14 x 32 tile): kc = 256 beats kc = 128 by about 5 %
    at 512^3 and above (fewer passes over C), kc = 384 gains nothing more; on a Zen 4 (32 KiB
    L1d, 14 x 32) kc = 256 (the whole L1) beats 160 (2/3 of it) by 2-3 % on 128-row products
    (``python bench/cpu_vs_onnxruntime.py``-style single matmuls, 128 x 256 x 1024: 104 -> 107
    GFLOP/s)."""
    kc = max(64, min(MAX_KC, l1d_bytes // (FLOAT_BYTES * nr)))
    kc -= kc % 16
    mc = max(mr, (l2_bytes // 2) // (FLOAT_BYTES * kc))
    mc = min(mc - mc % mr, 64 * mr) or mr
    nc = 4096 - 4096 % nr
    return mc, kc, nc


def make_cpu_target(name: str, features: str, l1d_bytes: int, l2_bytes: int, l3_bytes: int) -> CpuTarget:
    """A target for an LLVM CPU ``name`` with ``features`` and cache sizes, blocked by the rules above."""
    vector_floats = vector_floats_for(feature_set(features))
    mr, nr = register_tile_for(vector_floats)
    mc, kc, nc = blocking_for(mr, nr, l1d_bytes, l2_bytes)
    return CpuTarget(
        name=name,
        features=features,
        vector_floats=vector_floats,
        l1d_bytes=l1d_bytes,
        l2_bytes=l2_bytes,
        l3_bytes=l3_bytes,
        mr=mr,
        nr=nr,
        mc=mc,
        kc=kc,
        nc=nc,
    )


@functools.cache
def host_cpu_target() -> CpuTarget:
    """The machine this process runs on (read once)."""
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features()
    enabled = {name for name, on in features.items() if on}
    # x86 CPUs that "prefer 256-bit" vectors make LLVM split explicit 512-bit vector code into
    # halves unless told otherwise; the micro-kernel is written for the full register width.
    text = features.flatten() + (",-prefer-256-bit" if "avx512f" in enabled else "")
    l1d, l2, l3 = read_cache_sizes()
    return make_cpu_target(llvm.get_host_cpu_name(), text, l1d, l2, l3)
