"""The ``emit-llvm-tiled`` stage: ``tiled`` level -> ``llvm`` level (the cpu target).

Takes the tiled module ``lower-to-tiled`` left in ``unit.products["tiled"]``, emits it as one
LLVM module and JIT-compiles it (:func:`~moecc.backend.llvm.tiled.program.compile_tiled_module`).
The program goes to ``unit.products["cpu_program"]``, where the registered ``llvm`` level (from
:mod:`moecc.backend.llvm.stages`) prints its ``llvm_ir``, the module text before optimisation,
which ``llvm.parse_assembly`` reads back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import moecc.backend.llvm.stages  # noqa: F401  (registers the llvm level)
from moecc.passes.compilation import Compilation, StagePass
from moecc.passes.manager import register_pass


@register_pass
@dataclass(frozen=True, slots=True)
class EmitLlvmTiledStage(StagePass):
    """The tiled module -> one LLVM module -> machine code (JIT)."""

    name: ClassVar[str] = "emit-llvm-tiled"
    consumes: ClassVar[tuple[str, ...]] = ("tiled",)
    produces: ClassVar[str] = "llvm"
    reuse_temps: bool = True

    def run(self, unit: Compilation) -> None:
        from moecc.backend.llvm.tiled.program import compile_tiled_module
        from moecc.passes.tiled_lowering.stage import tiled_of

        lowering = tiled_of(unit, "emit LLVM from it")
        program = compile_tiled_module(lowering.module, unit.machine, self.reuse_temps, weights=lowering.weights)
        program.set_threads(int(unit.options.get("threads", 1)))
        unit.products["cpu_program"] = program


__all__ = ["EmitLlvmTiledStage"]
