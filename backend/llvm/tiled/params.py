"""Tile sizes for lowering to the tiled IR when the tiles run as CPU loops.

The tiled lowering (:class:`~moecc.passes.tiled_lowering.context.TilingParams`) cuts outputs
into ``tile_rows x tile_cols`` tiles, contractions and reductions into ``k_tile`` chunks and
bounds each kernel's locals by ``local_bytes``. On the CPU a matmul tile is one call of the
packed sgemm (:mod:`moecc.backend.llvm.matmul`), which blocks for the caches itself, and an
element-wise tile is one loop nest: bigger tiles mean fewer sgemm calls (each packs its B
panel again) and longer vectorised loops. So:

- ``tile_cols``: the sgemm's column block ``nc`` capped at 512 floats (whole register-tile
  slivers: a multiple of ``nr``), so an accumulator row stays a few KiB;
- ``local_bytes``: half the L2, where an accumulator tile then lives while the sgemm writes it
  and the epilogue reads it back;
- ``tile_rows``: as many rows as fit ``local_bytes`` at ``tile_cols`` f32 columns, a multiple
  of the register tile's ``mr``, at most 256;
- ``k_tile``: ``16 * kc``: each chunk is one sgemm call that blocks K by ``kc`` itself, and
  chunking at all only re-reads the accumulator (GPT-2's 1024-wide MLP projection in one
  call rather than two took its kernel from 720 to 680 us).
"""

from __future__ import annotations

from moecc.backend.llvm.cpu_target import CpuTarget
from moecc.passes.tiled_lowering.context import TilingParams


def cpu_tiling_params(cpu: CpuTarget) -> TilingParams:
    """Tile sizes for ``cpu`` (see the module docstring for the reasoning)."""
    tile_cols = max(cpu.nr, min(cpu.nc, 512) // cpu.nr * cpu.nr)
    local_bytes = max(64 * 1024, cpu.l2_bytes // 2)
    rows = local_bytes // (4 * tile_cols)
    tile_rows = max(cpu.mr, min(256, rows) // cpu.mr * cpu.mr)
    k_tile = 16 * cpu.kc
    return TilingParams(tile_rows=tile_rows, tile_cols=tile_cols, k_tile=k_tile, local_bytes=local_bytes)


__all__ = ["cpu_tiling_params"]
