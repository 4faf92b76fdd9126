"""The LLVM back end's ``llvm`` IR level and the ``compile-host-steps`` stage (the asic target's host side).

- The ``llvm`` level (after ``emit-llvm-tiled`` on ``cpu``, :mod:`moecc.backend.llvm.tiled.stage`):
  its text is the program's LLVM assembly before optimisation (``llvm.parse_assembly`` reads it).
- ``compile-host-steps`` (after ``select-instructions`` on ``asic``): the host steps between
  the ASIC's programs are compiled through the tiled IR (:mod:`moecc.backend.llvm.host_steps`),
  one LLVM module each; the level stays ``asm``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from moecc.errors import PassError
from moecc.passes.compilation import Compilation, IRLevel, StagePass, register_level
from moecc.passes.manager import register_pass


@register_pass
@dataclass(frozen=True, slots=True)
class CompileHostStepsStage(StagePass):
    """The host steps between ASIC programs → machine code (one JIT module per step)."""

    name: ClassVar[str] = "compile-host-steps"
    consumes: ClassVar[tuple[str, ...]] = ("asm",)
    produces: ClassVar[str] = "asm"

    def run(self, unit: Compilation) -> None:
        from moecc.backend.llvm.host_steps import compile_host_steps

        unit.products["host_steps"] = compile_host_steps(unit.require_kernels(self.name), unit.graph, unit.value_buffers)


def _program(unit: Compilation) -> Any:
    program = unit.products.get("cpu_program")
    if program is None:
        raise PassError("the compilation has no LLVM module yet", remedy="run emit-llvm-tiled first")
    return program


def _print_llvm_level(unit: Compilation) -> str:
    return str(_program(unit).llvm_ir)


def _verify_llvm_level(unit: Compilation) -> None:
    _program(unit)  # LLVM's own verifier ran on the module before it was compiled


register_level(IRLevel("llvm", _print_llvm_level, _verify_llvm_level, "ll"))
