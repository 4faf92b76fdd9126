"""The result of :func:`moecc.compile`: a model ready to run, inspect and save.

A :class:`CompiledModel` holds the compiled graph, the target's executable and its I/O
signature (ONNX names and types). ``run`` checks inputs and hands them to the target
(:mod:`moecc.targets`), which runs its executable; ``ir`` prints a stage; ``report``
summarises it; ``save`` writes a ``.moe`` artifact (:mod:`moecc.artifact`). A model compiled
only up to a stage (``compile_to=``) prints that stage's IR and does nothing else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from moecc.errors import InputError, UnsupportedError
from moecc.ir.graph import Graph
from moecc.ir.types import DType, TensorType


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """One model input or output: its ONNX name and static type."""

    name: str
    type: TensorType

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.type.shape), "dtype": str(self.type.dtype)}

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> TensorSpec:
        return TensorSpec(str(data["name"]), TensorType(tuple(int(d) for d in data["shape"]), DType.parse(str(data["dtype"]))))


@dataclass(slots=True)
class CompiledModel:
    """A compiled model for one target."""

    graph: Graph
    target: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    options: dict[str, Any] = field(default_factory=dict)
    pass_times: dict[str, float] = field(default_factory=dict)
    executable: Any = None  # the target's: AsicExecutable, TiledCpuExecutable (None on "ref")
    partition: dict[str, Any] = field(default_factory=dict)  # ops/FLOPs per placement, CPU reasons
    memory: dict[str, int] = field(default_factory=dict)  # memory plan figures
    last_stats: Any = None  # AsicRunStats (asic) or wall-clock seconds (cpu) of the last run()
    last_stats_source: str = ""
    #: With ``compile_to``: the stage the compilation stopped after, and its IR text.
    stopped_after: str | None = None
    stage_text: str = ""
    #: The report's ``"pruning"`` section when weights were pruned (``compile(prune=...)``).
    pruning: dict[str, Any] | None = None

    @property
    def backend(self) -> Any:
        """The :class:`~moecc.targets.base.CompileTarget` this model was compiled for."""
        from moecc.targets import get_target

        return get_target(self.target)

    @staticmethod
    def from_graph(graph: Graph, target: str, input_names: list[str], options: Mapping[str, Any] | None = None,
                   pass_times: Mapping[str, float] | None = None) -> CompiledModel:
        inputs = [TensorSpec(n, v.type) for n, v in zip(input_names, graph.inputs, strict=True)]
        outputs = [TensorSpec(n, v.type) for n, v in zip(graph.output_names, graph.outputs, strict=True)]
        return CompiledModel(graph, target, inputs, outputs, dict(options or {}), dict(pass_times or {}))

    # -- running ------------------------------------------------------------------------
    def check_inputs(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Validate names, dtypes and shapes; return arrays keyed by graph input value name."""
        if not isinstance(inputs, Mapping):
            raise InputError("inputs must be a dict mapping input names to numpy arrays")
        expected = {s.name for s in self.inputs}
        missing = [s.name for s in self.inputs if s.name not in inputs]
        extra = sorted(set(inputs) - expected)
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing input(s) {', '.join(missing)}")
            if extra:
                parts.append(f"unknown input(s) {', '.join(map(str, extra))}")
            raise InputError("; ".join(parts), remedy=f"the model takes {self.signature_text()}")
        feeds: dict[str, np.ndarray] = {}
        for spec, value in zip(self.inputs, self.graph.inputs):
            arr = np.asarray(inputs[spec.name])
            want = spec.type
            if arr.dtype != want.dtype.numpy:
                raise InputError(
                    f"input '{spec.name}' has dtype {arr.dtype}, the model takes {want.dtype.numpy} ({want})",
                    remedy=f"convert it with .astype(np.{want.dtype.numpy})" if want.dtype != DType.BF16 else "convert it to bfloat16",
                )
            if tuple(arr.shape) != want.shape:
                raise InputError(
                    f"input '{spec.name}' has shape {tuple(arr.shape)}, the model was compiled for {want.shape}",
                    remedy="recompile with input_shapes / --input-shape for this shape",
                )
            feeds[value.name] = arr
        return feeds

    def run(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Run the model; outputs keyed by the ONNX output names, in the ONNX dtypes."""
        self._require_complete("run")
        feeds = self.check_inputs(inputs)
        return self.backend.run(self, feeds)

    def routing(self) -> list[dict[str, Any]]:
        """The expert choices of each MoE layer in the last run: ``[{"layer": ONNX node,
        "experts": [[e, ..] per token]}, ..]`` in graph order (``cpu``)."""
        self._require_complete("record routing")
        return self.backend.routing(self)

    def trace(self) -> dict[str, Any]:
        """Chrome/Perfetto trace of the last simulated run (runs once on seeded inputs if needed)."""
        self._require_complete("trace")
        return self.backend.trace(self)

    def _require_complete(self, what: str) -> None:
        if self.stopped_after is not None:
            raise UnsupportedError(f"cannot {what}: the model was compiled only up to stage '{self.stopped_after}'",
                                   remedy="compile without compile_to / --compile-to")

    # -- inspecting ---------------------------------------------------------------------
    def ir(self, stage: str = "graph", *, elide_constants: bool = True) -> str:
        """The text of a compilation stage: ``graph``, or one of the target's later stages
        (``kernel``, ``asm``, ``llvm``); after ``compile_to``, that stage's IR."""
        if self.stopped_after is not None:
            if stage in (self.stopped_after, "stopped"):
                return self.stage_text
            raise UnsupportedError(f"the model was compiled only up to stage '{self.stopped_after}'",
                                   remedy=f"ask for ir('{self.stopped_after}') or compile the whole model")
        stages = self.backend.ir_stages_for(self.options)
        needs = self.backend.options_for_stage(stage)
        if stage not in stages and needs is not None:
            raise UnsupportedError(f"stage '{stage}' of target '{self.target}' exists only with {needs}",
                                   remedy=f"compile with {needs}, or ask for one of: {', '.join(stages)}")
        if stage not in stages:
            raise UnsupportedError(
                f"stage '{stage}' is not available for target '{self.target}'",
                remedy=f"available: {', '.join(stages)}",
            )
        if stage == "graph":
            from moecc.ir.printer import print_graph

            return print_graph(self.graph, elide_constants=elide_constants)
        return self.backend.ir_text(self, stage)

    def signature_text(self) -> str:
        ins = ", ".join(f"{s.name}: {s.type}" for s in self.inputs)
        outs = ", ".join(f"{s.name}: {s.type}" for s in self.outputs)
        return f"({ins}) -> ({outs})"

    def report(self) -> dict[str, Any]:
        """A JSON-serialisable summary of the compiled model (on ``asic``: cycles, bytes,
        utilisation, roofline, partition and memory plan of the last run; with pruned weights,
        a ``"pruning"`` section: method, score, filter, a row per weight, the skipped ones)."""
        self._require_complete("report")
        report = self.backend.report(self)
        if self.pruning is not None:
            report["pruning"] = self.pruning
        return report

    def graph_report(self) -> dict[str, Any]:
        """The target-independent part of a report: signature, ops, weights, compile times."""
        op_counts: dict[str, int] = {}
        for op in self.graph.ops:
            if not op.is_const:
                op_counts[op.kind] = op_counts.get(op.kind, 0) + 1
        return {
            "target": self.target,
            "inputs": [s.to_dict() for s in self.inputs],
            "outputs": [s.to_dict() for s in self.outputs],
            "ops": dict(sorted(op_counts.items())),
            "op_count": sum(op_counts.values()),
            "constants": sum(1 for _ in self.graph.const_ops()),
            "weight_bytes": self.graph.weight_bytes(),
            "pass_times": dict(self.pass_times),
            "options": self.json_options(),
        }

    def json_options(self) -> dict[str, Any]:
        """The compile options that are plain JSON values (for reports and the manifest)."""
        return {k: v for k, v in self.options.items() if isinstance(v, (str, int, float, bool, list, dict, type(None)))}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write a ``.moe`` artifact (whole or not at all)."""
        from moecc.artifact import save_artifact

        self._require_complete("save")
        save_artifact(self, path)
