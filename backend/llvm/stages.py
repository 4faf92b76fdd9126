"""The LLVM back end's stages as passes: ``emit-llvm`` (the cpu target) and ``compile-host-steps``
(the asic target's host side).

- ``emit-llvm`` (after ``plan-memory`` on ``cpu``): every kernel and every host step of the
  planned kernel module becomes a function of one LLVM module (``codegen`` +
  ``graph_ops.emit_step``), optimised at O3 and JIT-compiled. The compilation moves to the
  ``llvm`` level, whose text is that module's LLVM assembly (``llvm.parse_assembly`` reads it).
- ``compile-host-steps`` (after ``select-instructions`` on ``asic``): the host steps between
  the ASIC's programs are JIT-compiled, one LLVM module each; the level stays ``asm``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from moecc.errors import PassError
from moecc.passes.compilation import Compilation, IRLevel, StagePass, register_level
from moecc.passes.manager import register_pass


@register_pass
@dataclass(frozen=True, slots=True)
class EmitLlvmStage(StagePass):
    """Kernels and host steps → one LLVM module → machine code (JIT)."""

    name: ClassVar[str] = "emit-llvm"
    consumes: ClassVar[tuple[str, ...]] = ("kernel",)
    produces: ClassVar[str] = "llvm"

    def run(self, unit: Compilation) -> None:
        from moecc.backend.llvm.codegen import compile_kernel_module
        from moecc.backend.llvm.graph_ops import emit_step, step_unsupported_ops
        from moecc.ir.kernel import CpuCall

        module = unit.require_kernels(self.name)
        graph = unit.graph
        ops_by_name = {op.results[0].name: op for op in graph.ops}
        steps = [step for step in module.steps if isinstance(step, CpuCall)]
        native = [step.name for step in steps if not step_unsupported_ops(step, ops_by_name)]

        def emit(llvm_module: Any, call: CpuCall, name: str) -> None:
            emit_step(llvm_module, call, graph, module, unit.value_buffers, ops_by_name, name)

        program = compile_kernel_module(module, unit.machine, emit, native)
        program.set_threads(int(unit.options.get("threads", 1)))
        unit.products["cpu_program"] = program


@register_pass
@dataclass(frozen=True, slots=True)
class CompileHostStepsStage(StagePass):
    """The host steps between ASIC programs → machine code (one JIT module per step)."""

    name: ClassVar[str] = "compile-host-steps"
    consumes: ClassVar[tuple[str, ...]] = ("asm",)
    produces: ClassVar[str] = "asm"

    def run(self, unit: Compilation) -> None:
        from moecc.backend.llvm.graph_ops import compile_cpu_steps

        unit.products["host_steps"] = compile_cpu_steps(unit.require_kernels(self.name), unit.graph, unit.value_buffers)


def _program(unit: Compilation) -> Any:
    program = unit.products.get("cpu_program")
    if program is None:
        raise PassError("the compilation has no LLVM module yet", remedy="run emit-llvm first")
    return program


def _print_llvm_level(unit: Compilation) -> str:
    return str(_program(unit).llvm_ir)


def _verify_llvm_level(unit: Compilation) -> None:
    _program(unit)  # LLVM's own verifier ran on the module before it was compiled


register_level(IRLevel("llvm", _print_llvm_level, _verify_llvm_level, "ll"))
