"""Tiling parameters for ``lower-to-tiled`` derived from a moe-asic part.

The tiled lowering is target-neutral: it reads four numbers (:class:`TilingParams`). For the
ASIC they follow from the part's description, so that a tiled statement maps onto few
instructions after staging:

- ``tile_cols``: the MXU's width (``mxu_cols``), one weight tile per output tile;
- ``k_tile``: :data:`K_FOLDS` array heights: ``mxu.mm`` folds a deep contraction through the
  array itself (the weight FIFO loads the next fold while one streams), so one statement per
  few folds means fewer loads, fewer instructions and no accumulate chain between them; it is
  also the chunk of row reductions, whose rows then stay whole for ``vpu.rsum``; at least
  :data:`MIN_K_TILE` elements;
- ``tile_rows``: activation rows per tile, as many as one weight tile is reused for (a
  multiple of the array height keeps the MXU streaming), capped by the VPU/DMA row field;
- ``local_bytes``: an eighth of the SRAM, because staging adds temporaries per statement
  (operands converted to f32, expression nodes) and double-buffers streamed tiles;
- ``expert_rows``: the array height, a MoE expert's token tile (its matmuls stream its real
  rows: ``mxu.mmr``);
- ``row_floor``: the array height over the MXU dtype's passes, the rows below which a matmul
  costs no less (its weight load per fold), which ``moe="auto"`` weighs;
- ``expert_bytes``: half the SRAM for one MoE expert's weights and token tiles (the token tile
  shrinks when a big expert would not leave room);
- ``array_rows``: the array height, the shortest query tile causal attention cuts (a shorter
  one pays the array's fill and drain for nothing);
- ``array_cols``: the array width; with the height, the weight tile short attention heads are
  packed into.

A part with a small SRAM gets smaller tiles: while one matmul statement's tiles (``rows x k``,
``k x cols`` and ``rows x cols`` in f32, double-buffered) would take more than
1/:data:`TILE_SRAM_SHARE` of the SRAM, the largest of the three dims is halved (not below
:data:`MIN_TILE`). The packaged parts keep the tiles above (their SRAM holds them).
"""

from __future__ import annotations

from moecc.isa_spec.target import Target
from moecc.passes.tiled_lowering.context import TilingParams

#: Contraction depth of one tiled matmul statement, in MXU heights.
K_FOLDS = 4
#: ... and at least this many elements: on a small array four folds are too short a
#: contraction to amortise a statement's operand loads and accumulator moves.
MIN_K_TILE = 256
#: Activation rows per weight tile, in MXU heights.
ROWS_PER_WEIGHT_TILE = 2
#: A MoE expert's token tile is the array height: its matmuls stream the tile's real rows
#: (``mxu.mmr``, a run-time row count), so it costs nothing on padding, and a tile that size
#: keeps its products in the accumulator (which the run-time row count needs) on both parts.
#: An MoE expert's weights (resident while its tiles run) and token tiles may take up to
#: 1/EXPERT_SRAM_SHARE of the SRAM (the next expert's weights and staging temps need the rest).
EXPERT_SRAM_SHARE = 2
#: Share of the SRAM the tiled lowering may declare as kernel locals (the rest: staging temps).
LOCAL_SHARE = 8
#: One matmul statement's tiles (f32, double-buffered) take at most 1/TILE_SRAM_SHARE of the
#: SRAM; a part with less gets smaller tiles, down to MIN_TILE on each side.
TILE_SRAM_SHARE = 4
MIN_TILE = 8


def _fitted_tiles(rows: int, k: int, cols: int, sram_bytes: int) -> tuple[int, int, int]:
    """``(rows, k, cols)`` halved, the largest first, until the statement's tiles fit."""
    dims = [rows, k, cols]

    def footprint() -> int:
        r, kk, c = dims
        return 2 * 4 * (r * kk + kk * c + r * c)

    while footprint() > sram_bytes // TILE_SRAM_SHARE:
        largest = max(range(3), key=lambda i: dims[i])
        if dims[largest] <= MIN_TILE:
            break
        dims[largest] = max(MIN_TILE, dims[largest] // 2)
    return dims[0], dims[1], dims[2]


def asic_tiling_params(target: Target, precision: str = "f32") -> TilingParams:
    """The :class:`TilingParams` ``lower-to-tiled`` uses for ``target`` (and the MXU dtype of
    ``precision``, which sets the row floor: a fold streams ``rows x passes`` cycles against
    the array height's cycles of weight load)."""
    dim = target.limits.tile_dim
    passes = target.passes("bf16" if precision == "bf16" else "f32")
    rows, k_tile, cols = _fitted_tiles(max(1, min(dim, ROWS_PER_WEIGHT_TILE * target.mxu_rows)),
                                       max(1, min(dim, max(MIN_K_TILE, K_FOLDS * target.mxu_rows))),
                                       max(1, min(dim, target.mxu_cols)), target.sram_capacity_bytes)
    return TilingParams(
        tile_rows=rows,
        tile_cols=cols,
        k_tile=k_tile,
        local_bytes=max(1024, target.sram_capacity_bytes // LOCAL_SHARE),
        expert_rows=max(1, min(dim, target.mxu_rows)),
        row_floor=max(1, target.mxu_rows // max(1, passes)),
        expert_bytes=max(1, target.sram_capacity_bytes // EXPERT_SRAM_SHARE),
        mxu_operand_bytes=2 if precision == "bf16" else 4,  # the MXU multiplies bf16 copies
        in_order_units=True,
        array_rows=max(1, min(dim, target.mxu_rows)),
        array_cols=max(1, min(dim, target.mxu_cols)),
    )


__all__ = ["EXPERT_SRAM_SHARE", "K_FOLDS", "LOCAL_SHARE", "MIN_K_TILE", "MIN_TILE", "ROWS_PER_WEIGHT_TILE",
           "TILE_SRAM_SHARE", "asic_tiling_params"]
