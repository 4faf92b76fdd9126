"""The stages between the graph passes and a back end, as passes: partition, lower, plan memory.

Each is a :class:`~moecc.passes.compilation.StagePass` over a
:class:`~moecc.passes.compilation.Compilation` whose ``tiling`` is what the target's lowering
reads (the moe-asic part's description, or the host CPU's tiling view):

- ``partition`` asks each op's lowering rule whether it fits the target; ops that do not become
  host steps. The graph is unchanged; ``--print-ir-after partition`` shows each op's placement
  (and the reason for host steps) as comments after the graph text.
- ``lower-to-kernels`` lowers the partitioned graph into the kernel IR (one kernel per op or
  fusion group, host steps between them): graph level → kernel level.
- ``plan-memory`` places every buffer (HBM liveness sharing, local rings); the kernel IR
  printed after it carries the offsets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from moecc.errors import PassError
from moecc.passes.compilation import Compilation, StagePass
from moecc.passes.manager import register_pass


def _tiling(unit: Compilation, pass_name: str) -> object:
    if unit.tiling is None:
        raise PassError("the compilation has no target description to lower for", pass_name=pass_name,
                        remedy="run it through moecc.compile() with target='asic' or 'cpu'")
    return unit.tiling


@register_pass
@dataclass(frozen=True, slots=True)
class PartitionStage(StagePass):
    """Places every op: a kernel of the target, or a host step (with the reason)."""

    name: ClassVar[str] = "partition"
    consumes: ClassVar[tuple[str, ...]] = ("graph",)
    produces: ClassVar[str] = "graph"

    def run(self, unit: Compilation) -> None:
        from moecc.passes.kernel_lowering import lowering_context, partition_graph

        ctx = lowering_context(unit.graph, _tiling(unit, self.name), str(unit.options.get("precision", "f32")))
        unit.partition = partition_graph(unit.graph, ctx)
        unit.products["moe_layers"] = list(ctx.moe_layers)


@register_pass
@dataclass(frozen=True, slots=True)
class LowerToKernelsStage(StagePass):
    """Lowers the partitioned graph into the kernel IR (``fuse=false``: no fusion groups)."""

    name: ClassVar[str] = "lower-to-kernels"
    consumes: ClassVar[tuple[str, ...]] = ("graph",)
    produces: ClassVar[str] = "kernel"
    fuse: bool = True

    def run(self, unit: Compilation) -> None:
        from moecc.passes.kernel_lowering import lower_to_kernels

        kept = {str(layer["experts_value"]) for layer in unit.products.get("moe_layers", [])}
        module, weights, partition, value_buffers = lower_to_kernels(
            unit.graph, _tiling(unit, self.name), str(unit.options.get("precision", "f32")),
            fuse=self.fuse, partition=unit.partition, kept=kept)
        unit.kernels, unit.weights, unit.partition, unit.value_buffers = module, weights, partition, value_buffers


@register_pass
@dataclass(frozen=True, slots=True)
class PlanMemoryStage(StagePass):
    """Gives every HBM and local buffer its offset."""

    name: ClassVar[str] = "plan-memory"
    consumes: ClassVar[tuple[str, ...]] = ("kernel",)
    produces: ClassVar[str] = "kernel"

    def run(self, unit: Compilation) -> None:
        from moecc.passes.memory_plan import plan_memory

        unit.kernels, unit.memory_plan = plan_memory(unit.require_kernels(self.name), _tiling(unit, self.name))
