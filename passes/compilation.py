"""What a target's pipeline carries from the graph IR to an executable, and the passes that change its level.

A graph pass rewrites a :class:`~moecc.ir.graph.Graph` in place. The stages after the graph
passes (lowering to the tiled IR, staging for the ASIC, memory planning, instruction selection,
LLVM emission) change what the compilation *is*: the IR moves from the graph to the tiled IR,
then to the kernel IR and programs, or to machine code. Each of them is a :class:`StagePass`
over one :class:`Compilation`, run by the same :class:`~moecc.passes.manager.PassManager` as the
graph passes, so every stage is verified, timed, printable (``--print-ir-after STAGE``) and a
place to stop (``--compile-to STAGE``).

A compilation is at one IR *level* at a time (``graph``, ``tiled``, ``kernel``, ``asm``,
``llvm``). Each level is registered once (:func:`register_level`) with its printer (text that parses back with
that level's parser) and its verifier, by the module that owns the level: graph and kernel here
(the ``ir`` layer's printers), ``tiled`` by ``lower-to-tiled``, ``asm`` by the ASIC back end,
``llvm`` by the LLVM back end.

    graph ──lower-to-tiled──▶ tiled ──stage-for-asic──▶ kernel ──plan-memory──▶ kernel
          ──select-instructions──▶ asm                                    (asic)
    graph ──lower-to-tiled──▶ tiled ──emit-llvm-tiled──▶ llvm               (cpu)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from moecc.errors import PassError
from moecc.ir.graph import Graph
from moecc.ir.kernel import KernelModule
from moecc.passes.manager import Pass


@dataclass(eq=False, slots=True)
class Compilation:
    """One model on its way through a target's pipeline.

    ``machine`` describes what code is generated for (the moe-asic part's description, or the
    host CPU); ``tiling`` is what lowering reads of it (the part itself, or the CPU's tiling
    view); ``options`` are the target's compile options (``precision``, ``threads``, ...).
    Stage passes fill the later fields and move ``level`` on; ``products`` holds what the back
    ends build (program segments, the LLVM program) by name."""

    graph: Graph
    machine: Any = None
    tiling: Any = None
    options: dict[str, Any] = field(default_factory=dict)
    level: str = "graph"
    kernels: KernelModule | None = None
    weights: dict[str, Any] = field(default_factory=dict)
    value_buffers: dict[str, str] = field(default_factory=dict)
    memory_plan: Any = None
    products: dict[str, Any] = field(default_factory=dict)

    def ir_text(self) -> str:
        """The current level's IR as text (parses back with that level's parser)."""
        return level_of(self.level).print(self)

    def verify(self) -> None:
        level_of(self.level).verify(self)

    def require_kernels(self, pass_name: str) -> KernelModule:
        if self.kernels is None:
            raise PassError("needs the kernel IR; run stage-for-asic first", pass_name=pass_name)
        return self.kernels


@dataclass(frozen=True, slots=True)
class IRLevel:
    """One IR level a compilation can be at: how to print it and how to verify it."""

    name: str
    print: Callable[[Compilation], str]
    verify: Callable[[Compilation], None]
    suffix: str  # file suffix of its text (for --dump-dir)


IR_LEVELS: dict[str, IRLevel] = {}


def register_level(level: IRLevel) -> IRLevel:
    IR_LEVELS[level.name] = level
    return level


def level_of(name: str) -> IRLevel:
    level = IR_LEVELS.get(name)
    if level is None:
        raise PassError(f"unknown IR level '{name}'", remedy=f"known levels: {', '.join(IR_LEVELS)}")
    return level


def _print_graph_level(unit: Compilation) -> str:
    from moecc.ir.printer import print_graph

    return print_graph(unit.graph)


def _verify_graph_level(unit: Compilation) -> None:
    from moecc.ir.verifier import verify_graph

    verify_graph(unit.graph)


def _print_kernel_level(unit: Compilation) -> str:
    from moecc.ir.kernel_printer import print_kernel_module

    return print_kernel_module(unit.require_kernels("print"))


def _verify_kernel_level(unit: Compilation) -> None:
    from moecc.ir.kernel import verify_kernel_module

    verify_kernel_module(unit.require_kernels("verify"))


register_level(IRLevel("graph", _print_graph_level, _verify_graph_level, "mir"))
register_level(IRLevel("kernel", _print_kernel_level, _verify_kernel_level, "kir"))


@dataclass(frozen=True, slots=True)
class StagePass(Pass):
    """A pass over a whole :class:`Compilation` that may move it to another IR level.

    Subclasses are frozen dataclasses (fields are options, each with a default), set ``name``,
    the ``consumes`` levels it accepts and the level it ``produces``, and implement
    :meth:`run`. Registered with :func:`~moecc.passes.manager.register_pass` like graph passes;
    the pass manager runs them only on a compilation (``moecc compile``), never on a bare graph
    (``moecc opt``)."""

    consumes: ClassVar[tuple[str, ...]] = ("graph",)
    produces: ClassVar[str] = "graph"

    def apply(self, unit: Compilation) -> bool:  # type: ignore[override]
        if not isinstance(unit, Compilation):
            raise PassError("is a compilation stage: it runs inside `moecc compile` (a target's pipeline), "
                            "not on a bare graph", pass_name=self.name,
                            remedy="use `moecc compile --compile-to STAGE` or drop it from the pipeline")
        if unit.level not in self.consumes:
            raise PassError(f"needs the IR at level {' or '.join(self.consumes)}, but the compilation is at "
                            f"'{unit.level}'", pass_name=self.name, remedy="check the order of the pipeline")
        self.run(unit)
        unit.level = self.produces
        return True

    def run(self, unit: Compilation) -> None:
        raise NotImplementedError(f"stage '{self.name}' does not implement run()")
