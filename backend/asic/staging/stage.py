"""The ``stage-for-asic`` stage: ``tiled`` level -> ``kernel`` level for the moe-asic.

Runs after ``lower-to-tiled`` in the ``asic`` target's pipeline and before ``plan-memory``. It
stages the tiled module (:func:`~.module.stage_module`) and fills the compilation's kernel
level (``kernels``, ``weights``, ``value_buffers``);
the kernels left to the host and the host-step report rows go to
``unit.products["asic_staging"]`` for the target's ``finish``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from moecc.errors import PassError
from moecc.passes.compilation import Compilation, StagePass
from moecc.passes.manager import register_pass

PRODUCT = "asic_staging"


@register_pass
@dataclass(frozen=True, slots=True)
class StageForAsicStage(StagePass):
    """Stages the tiled IR onto the ASIC kernel IR (SRAM/accumulator tiles, DMAs, VPU ops)."""

    name: ClassVar[str] = "stage-for-asic"
    consumes: ClassVar[tuple[str, ...]] = ("tiled",)
    produces: ClassVar[str] = "kernel"

    def run(self, unit: Compilation) -> None:
        from moecc.backend.asic.staging.module import stage_module
        from moecc.passes.tiled_lowering.stage import tiled_of

        if unit.machine is None:
            raise PassError("the compilation has no moe-asic part to stage for", pass_name=self.name,
                            remedy="run it through moecc.compile(target='asic')")
        lowering = tiled_of(unit, "stage it for the ASIC")
        staged = stage_module(lowering.module, dict(lowering.weights), unit.graph, lowering.input_buffers,
                              unit.machine, str(unit.options.get("precision", "f32")))
        for value, buffer in lowering.value_buffers.items():  # intermediates too (index diagnosis)
            staged.value_buffers.setdefault(value, buffer)
        unit.kernels, unit.weights, unit.value_buffers = staged.module, staged.weights, staged.value_buffers
        unit.products[PRODUCT] = staged


__all__ = ["PRODUCT", "StageForAsicStage"]
