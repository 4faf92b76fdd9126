"""The ``lower-to-tiled`` stage: graph level -> ``tiled`` level (``.tir`` text).

Registers the ``tiled`` IR level (printed by :func:`~moecc.ir.tiled.print_tiled_module`, which
parses back with :func:`~moecc.ir.tiled.parse_tiled_module`; verified by
:func:`~moecc.ir.tiled.verify_tiled_module`) and the stage pass producing it. The lowering's
result (module, weights, host ops) is kept in ``unit.products["tiled"]``. The tiling parameters
are the pass's options: ``lower-to-tiled{tile_rows=8,k_tile=16}``; ``moe=dense`` lowers ``moe`` ops
densely (every expert on every token) instead of by sparse dispatch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from moecc.errors import PassError
from moecc.passes.compilation import Compilation, IRLevel, StagePass, register_level
from moecc.passes.manager import register_pass
from moecc.passes.tiled_lowering.context import TilingParams
from moecc.passes.tiled_lowering.lower import TiledLowering, lower_graph

PRODUCT = "tiled"


def tiled_of(unit: Compilation, what: str) -> TiledLowering:
    lowering = unit.products.get(PRODUCT)
    if not isinstance(lowering, TiledLowering):
        raise PassError(f"needs the tiled IR to {what}; run lower-to-tiled first", pass_name="lower-to-tiled")
    return lowering


def _print_tiled_level(unit: Compilation) -> str:
    from moecc.ir.tiled import print_tiled_module

    return print_tiled_module(tiled_of(unit, "print").module)


def _verify_tiled_level(unit: Compilation) -> None:
    from moecc.ir.tiled import verify_tiled_module

    verify_tiled_module(tiled_of(unit, "verify").module)


register_level(IRLevel("tiled", _print_tiled_level, _verify_tiled_level, "tir"))


@register_pass
@dataclass(frozen=True, slots=True)
class LowerToTiledStage(StagePass):
    """Lowers the graph into the target-neutral tiled IR; ops no rule tiles become host calls."""

    name: ClassVar[str] = "lower-to-tiled"
    consumes: ClassVar[tuple[str, ...]] = ("graph",)
    produces: ClassVar[str] = "tiled"
    tile_rows: int = 32
    tile_cols: int = 64
    k_tile: int = 64
    local_bytes: int = 64 * 1024
    expert_rows: int = 0
    row_floor: int = 1
    expert_bytes: int = 0
    mxu_operand_bytes: int = 4
    in_order_units: bool = False
    array_rows: int = 1
    array_cols: int = 1
    moe: str = "sparse"
    routing: str = ""  # a routing what-if (passes/tiled_lowering/routing_whatif.py); "" keeps the model's
    capacity_factor: float = 0.0  # tokens an expert takes at most, as a factor of the mean (0: dropless)  # how moe ops lower: sparse dispatch, or dense (every expert on every token)

    def run(self, unit: Compilation) -> None:
        params = TilingParams(self.tile_rows, self.tile_cols, self.k_tile, self.local_bytes, self.expert_rows,
                              self.row_floor, self.expert_bytes, self.mxu_operand_bytes, self.in_order_units,
                              self.array_rows, self.array_cols)
        unit.products[PRODUCT] = lower_graph(unit.graph, params, self.moe, self.routing, self.capacity_factor)


__all__ = ["PRODUCT", "LowerToTiledStage", "tiled_of"]
