"""The ``tiled`` target: the target-neutral tiled IR on its interpreter (the oracle of the tiled level).

Pipeline after the graph passes: ``lower-to-tiled`` (:mod:`moecc.passes.tiled_lowering`), which
tiles every op it has a rule for and leaves the rest to host calls holding their graph ops.
The executable is the tiled module and its weights; a run is
:func:`moecc.ir.tiled.run_tiled_module` (host calls on the graph interpreter). Back ends that
start from the tiled IR (ASIC staging, CPU emission) are checked against this target. A
``.moe`` keeps the module as text (``tiled.tir``, parsed and verified on load) and the weights
lowering made itself (masks, iotas) in ``tiled_weights.npz``; weights that are graph constants
come from the graph's own weights.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from moecc.errors import ArtifactError, MoeccError
from moecc.targets.base import CompileTarget, check_moe_option, refuse_values_too_big

if TYPE_CHECKING:
    from moecc.compiled_model import CompiledModel
    from moecc.ir.tiled import TiledModule
    from moecc.passes.compilation import Compilation
    from moecc.passes.manager import Pass

_MODULE = "tiled.tir"
_WEIGHTS = "tiled_weights.npz"


@dataclass(frozen=True, slots=True)
class TiledExecutable:
    """A tiled module ready to run: the module, its weight buffers' data, and which graph
    input feeds which input buffer."""

    module: TiledModule
    weights: Mapping[str, np.ndarray] = field(default_factory=dict)
    input_buffers: tuple[str, ...] = ()

    def run(self, feeds: Mapping[str, np.ndarray], input_names: list[str], output_names: list[str]) -> dict[str, np.ndarray]:
        from moecc.ir.tiled import run_tiled_module

        data = dict(self.weights)
        data.update({buffer: feeds[name] for name, buffer in zip(input_names, self.input_buffers)})
        results = run_tiled_module(self.module, data)
        return {name: results[buffer] for name, buffer in zip(output_names, self.module.outputs)}


def read_tiled_members(module_text: bytes, weights_npz: bytes, partition: Mapping[str, Any], graph: Any,
                       path: Any) -> tuple[TiledModule, dict[str, np.ndarray]]:
    """The tiled module an artifact stores (not verified) and the data of its weight buffers: the
    ones lowering made itself from ``weights_npz``, graph constants by ``partition["weight_sources"]``.
    Shared by the ``tiled`` target and the ``cpu`` target's re-JIT path."""
    from moecc.ir.tiled import parse_tiled_module

    module = parse_tiled_module(module_text.decode("utf-8"))
    buffers = {b.name: b for b in module.buffers}
    weights: dict[str, np.ndarray] = {}
    with np.load(io.BytesIO(weights_npz), allow_pickle=False) as npz:
        for name in npz.files:
            weights[name] = npz[name].view(buffers[name].dtype.numpy).reshape(buffers[name].shape)
    constants = {op.result.name: op.attrs["value"] for op in graph.const_ops()}
    for buffer, value in dict(partition.get("weight_sources", {})).items():
        weights[buffer] = np.asarray(constants[value])
    missing = [b.name for b in module.buffers if b.role == "weight" and b.name not in weights]
    if missing:
        raise ArtifactError(f"'{path}': no data for tiled weight buffer(s) {', '.join(missing[:5])}",
                            remedy="recompile the model")
    return module, weights


class TiledTarget(CompileTarget):
    name: ClassVar[str] = "tiled"
    description: ClassVar[str] = "the target-neutral tiled IR on its interpreter (the oracle of the tiled level)"
    ir_stages: ClassVar[tuple[str, ...]] = ("graph", "tiled")
    option_defaults: ClassVar[Mapping[str, Any]] = {"moe": "sparse", "capacity_factor": 0.0}

    def check_options(self, given: Mapping[str, Any]) -> dict[str, Any]:
        return check_moe_option(super().check_options(given))

    def stages(self, options: Mapping[str, Any]) -> list[Pass]:
        from moecc.passes.tiled_lowering.stage import LowerToTiledStage

        return [LowerToTiledStage(moe=str(options.get("moe", "sparse")),
                                  capacity_factor=float(options.get("capacity_factor", 0.0)))]

    def finish(self, compiled: CompiledModel, unit: Compilation) -> None:
        from moecc.passes.tiled_lowering.stage import tiled_of

        refuse_values_too_big(unit.graph, "the tiled interpreter")
        lowering = tiled_of(unit, "build the executable")
        compiled.executable = TiledExecutable(lowering.module, dict(lowering.weights), lowering.input_buffers)
        compiled.partition = {
            "kernels": lowering.kernel_count,
            "host_calls": lowering.host_call_count,
            "host_ops": [row.as_row() for row in lowering.host_ops],
            "weight_sources": dict(lowering.weight_sources),
        }

    # -- using -------------------------------------------------------------------------
    def run(self, compiled: CompiledModel, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return compiled.executable.run(feeds, [v.name for v in compiled.graph.inputs], compiled.graph.output_names)

    def report(self, compiled: CompiledModel) -> dict[str, Any]:
        report = compiled.graph_report()
        part = compiled.partition
        report["partition"] = {key: part[key] for key in ("kernels", "host_calls", "host_ops") if key in part}
        return report

    def summary(self, report: Mapping[str, Any]) -> str:
        part = report.get("partition", {})
        return super().summary(report) + (
            f"tiled         {part.get('kernels', 0)} kernels, {part.get('host_calls', 0)} host calls "
            f"({len(part.get('host_ops', []))} ops on the host)\n")

    def ir_text(self, compiled: CompiledModel, stage: str) -> str:
        from moecc.ir.tiled import print_tiled_module

        return print_tiled_module(compiled.executable.module)

    # -- artifacts ---------------------------------------------------------------------
    def save_members(self, compiled: CompiledModel, members: dict[str, bytes]) -> dict[str, Any]:
        """The module as text and the weights lowering made (graph constants stay in the
        graph's weights, named in ``weight_sources``)."""
        from moecc.ir.tiled import print_tiled_module

        exe: TiledExecutable = compiled.executable
        sources = dict(compiled.partition.get("weight_sources", {}))
        members[_MODULE] = print_tiled_module(exe.module).encode("utf-8")
        own = {name: (a.view(np.uint16) if a.dtype.name == "bfloat16" else a)
               for name, a in exe.weights.items() if name not in sources}
        buffer = io.BytesIO()
        np.savez(buffer, **own)
        members[_WEIGHTS] = buffer.getvalue()
        return {"input_buffers": list(exe.input_buffers), "partition": dict(compiled.partition)}

    def load_members(self, compiled: CompiledModel, entry: Mapping[str, Any] | None, members: Mapping[str, bytes],
                     path: Any) -> None:
        from moecc.ir.tiled import verify_tiled_module

        try:
            if entry is None:
                raise KeyError("tiled")
            partition = dict(entry["partition"])
            module, weights = read_tiled_members(members[_MODULE], members[_WEIGHTS], partition, compiled.graph, path)
            verify_tiled_module(module)
            compiled.executable = TiledExecutable(module, weights, tuple(str(n) for n in entry["input_buffers"]))
            compiled.partition = partition
        except ArtifactError:
            raise
        except MoeccError as err:
            raise ArtifactError(f"'{path}' holds an invalid tiled module: {err}", remedy="recompile the model") from None
        except (KeyError, TypeError, ValueError, OSError) as exc:
            raise ArtifactError(f"'{path}': tiled part is corrupt ({type(exc).__name__}: {exc})",
                                remedy="recompile the model") from None

    def describe_artifact(self, entry: Mapping[str, Any] | None, members: Mapping[str, bytes]) -> str:
        part = dict((entry or {}).get("partition", {}))
        return f"tiled: {part.get('kernels', '?')} kernels, {part.get('host_calls', '?')} host calls\n"
