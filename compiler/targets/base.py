"""The protocol every compilation target implements.

A target is one object (one module under ``moecc/targets/``) that says everything the driver,
the compiled model, the artifact and the CLI need to know about it, so none of them switches on
a target's name:

- its compile **options** (name → default) and how they are checked;
- what lowering reads of it (**machine** and **tiling**: the moe-asic part's description from its
  TOML and the ISA table, or the host CPU's caches and vector width) and its **pipeline**: the
  stage passes that follow the graph passes;
- building the **executable** from the finished compilation, **running** it and **reporting**;
- the IR **stages** a compiled model can print, and what it writes into and reads from a
  ``.moe`` artifact.

Adding a target is adding one module that defines a :class:`CompileTarget` subclass and
registering it in :mod:`moecc.targets`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from moecc.errors import TargetError, UnsupportedError

if TYPE_CHECKING:
    from moecc.compiled_model import CompiledModel
    from moecc.passes.compilation import Compilation
    from moecc.passes.manager import Pass


def check_moe_option(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` after checking its ``moe`` value (how ``moe`` ops lower on the tiled IR) and
    its ``capacity_factor`` (tokens an expert takes at most, as a factor of the mean; 0: dropless)."""
    import math

    from moecc.passes.tiled_lowering.context import MOE_MODES

    if options.get("moe") not in MOE_MODES:
        raise UnsupportedError(f"moe must be one of {', '.join(MOE_MODES)}, got {options.get('moe')!r}",
                               remedy="use moe='sparse' (each token to its chosen experts), 'dense' (every expert on every "
                                      "token) or 'auto' (whichever the target's cost of a matmul row favours, per layer)")
    factor = options.get("capacity_factor", 0.0)
    if isinstance(factor, bool) or not isinstance(factor, int | float) or not math.isfinite(factor) or factor < 0:
        raise UnsupportedError(f"capacity_factor must be a number >= 0, got {factor!r}",
                               remedy="give 0 (dropless, the default) or e.g. 1.25 (each expert takes at most 1.25x "
                                      "its mean share of the tokens; the rest are dropped and counted)")
    if factor and options["moe"] == "dense":
        raise UnsupportedError("capacity_factor caps the tokens a dispatched expert takes; moe='dense' dispatches none",
                               remedy="use moe='sparse' (or 'auto') with a capacity factor")
    if "capacity_factor" in options:
        options["capacity_factor"] = float(factor)
    return options


def refuse_values_too_big(graph: Any, holder: str) -> None:
    """Raise :class:`~moecc.errors.TargetError` naming the first value of ``graph`` (input or op
    result) larger than :data:`~moecc.frontend.onnx_importer.MAX_TENSOR_BYTES`, which ``holder``
    (the memory that would have to hold it) cannot."""
    from moecc.frontend.onnx_importer import MAX_TENSOR_BYTES

    values = [(v, "input") for v in graph.inputs]
    values += [(r, f"op {op.kind} (ONNX node '{op.source or op.kind}')") for op in graph.ops for r in op.results]
    for value, where in values:
        size = value.type.numel * value.type.dtype.itemsize
        if size > MAX_TENSOR_BYTES:
            raise TargetError(f"value %{value.name} of {where} is {value.type}, {size / 2**30:,.1f} GiB: more than "
                              f"{holder} can hold ({MAX_TENSOR_BYTES / 2**30:.0f} GiB per tensor)",
                              remedy="check the model's shapes (or --input-shape); the model is too big to run")


def format_host_ops(rows: list[dict[str, str]]) -> str:
    """``--explain-partition``: one line per host op (ONNX node, op kind, reason)."""
    if not rows:
        return "partition: every op runs in a kernel of the target; no host steps\n"
    lines = [f"partition: {len(rows)} op(s) run as host steps:"]
    for row in rows:
        node = f"ONNX node '{row['onnx_node']}'" if row["onnx_node"] else "(no ONNX node)"
        lines.append(f"  {node}: {row['kind']} {row['op']}: {row['reason']}")
    return "\n".join(lines) + "\n"


class CompileTarget:
    """Base of the targets. Subclasses set the class variables and override the hooks."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: Compile options this target takes, with their defaults (``moecc.compile`` keywords).
    option_defaults: ClassVar[Mapping[str, Any]] = {}
    #: Stages ``CompiledModel.ir`` prints after a whole compile (``--emit``), in flow order.
    ir_stages: ClassVar[tuple[str, ...]] = ("graph",)
    #: Files ``moecc compile --emit`` can write besides IR text (e.g. ``obj``).
    emit_files: ClassVar[tuple[str, ...]] = ()
    #: Whether runs go through a simulator (timed in cycles, with a Chrome/Perfetto trace: ``--trace``).
    simulated: ClassVar[bool] = False

    # -- options -----------------------------------------------------------------------
    def check_options(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """The full option set: defaults overridden by ``given`` (already known to belong to
        this target); raise a :class:`~moecc.errors.MoeccError` naming a bad value."""
        return {**self.option_defaults, **given}

    # -- compiling ---------------------------------------------------------------------
    def prepare(self, unit: Compilation) -> None:
        """Fill ``unit.machine`` and ``unit.tiling`` from the options (before any stage runs)."""

    def stages(self, options: Mapping[str, Any]) -> list[Pass]:
        """The stage passes that follow the graph passes."""
        return []

    def finish(self, compiled: CompiledModel, unit: Compilation) -> None:
        """Build ``compiled.executable`` (and partition/memory figures) from the finished unit."""

    # -- using -------------------------------------------------------------------------
    def run(self, compiled: CompiledModel, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def report(self, compiled: CompiledModel) -> dict[str, Any]:
        return compiled.graph_report()

    def summary(self, report: Mapping[str, Any]) -> str:
        """The report as the lines ``--report -`` prints."""
        lines = [f"target        {report['target']}",
                 f"ops           {report['op_count']} ({', '.join(f'{k} {v}' for k, v in report['ops'].items())})",
                 f"weights       {report['constants']} constants, {report['weight_bytes'] / 1024:.1f} KiB"]
        lines += [f"input         {s['name']}: {'x'.join(map(str, s['shape']))} {s['dtype']}" for s in report["inputs"]]
        lines += [f"output        {s['name']}: {'x'.join(map(str, s['shape']))} {s['dtype']}" for s in report["outputs"]]
        if report.get("pass_times"):
            lines.append(f"compile time  {sum(report['pass_times'].values()) * 1000:.1f} ms")
        return "\n".join(lines) + "\n"

    def ir_stages_for(self, options: Mapping[str, Any]) -> tuple[str, ...]:
        """The IR stages a model compiled with ``options`` can print (:attr:`ir_stages` lists
        every stage any option set has)."""
        return self.ir_stages

    def options_for_stage(self, stage: str) -> str | None:
        """The option setting under which ``stage`` exists (e.g. ``"moe='dense'"``), for errors;
        None when no option set has it."""
        return None

    def ir_text(self, compiled: CompiledModel, stage: str) -> str:
        """Text of ``stage`` (one of :attr:`ir_stages` other than ``graph``)."""
        raise UnsupportedError(f"stage '{stage}' is not available for target '{self.name}'")

    def trace(self, compiled: CompiledModel) -> dict[str, Any]:
        raise UnsupportedError(f"target '{self.name}' has no trace", remedy="compile with target='asic'")

    def routing(self, compiled: CompiledModel) -> list[dict[str, Any]]:
        """Each dispatched MoE layer's expert choices in the last run (see :mod:`moecc.moe_report`)."""
        raise UnsupportedError(f"target '{self.name}' does not record routing",
                               remedy="compile with target='cpu' (MoE layers dispatched sparsely)")

    # -- artifacts ---------------------------------------------------------------------
    def save_members(self, compiled: CompiledModel, members: dict[str, bytes]) -> dict[str, Any] | None:
        """Add this target's files to an artifact's ``members``; return its manifest entry
        (None: nothing beyond the graph and weights)."""
        return None

    def constants_stored_elsewhere(self, entry: Mapping[str, Any] | None) -> frozenset[str]:
        """Graph constants whose data the target's own members hold (left out of weights.npz)."""
        return frozenset()

    def load_members(self, compiled: CompiledModel, entry: Mapping[str, Any] | None, members: Mapping[str, bytes],
                     path: Any) -> None:
        """Rebuild the executable from an artifact's members (``entry``: the manifest entry)."""

    def describe_artifact(self, entry: Mapping[str, Any] | None, members: Mapping[str, bytes]) -> str:
        """Lines ``moecc inspect`` prints about this target's part of an artifact."""
        return ""
