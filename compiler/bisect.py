"""``moecc bisect``: where a target first disagrees with the reference interpreter.

A debugging tool beside the flow (it drives :func:`moecc.compile_graph` and the executors, and
changes nothing in them). Given a model, a target and inputs (given, or seeded as the report's
are), it

1. compiles the model for the target and compares its outputs with the reference (``ref``);
   nothing more happens when they agree;
2. **the first op**: compiles the graph again with every op's result made a graph output, runs
   both, and names the first op (in graph order) whose result differs beyond the tolerance,
   with its ONNX node;
3. **the first pass**: recompiles with the graph pipeline cut after 0, 1, 2, ... passes and
   names the first pass after which the outputs differ; when they already differ with no
   graph pass, the difference is in the target's stages, narrowed with the IR levels' own
   executors: the tiled interpreter (target ``tiled``) after ``lower-to-tiled``, and the
   kernel-IR interpreter over the ``asic`` target's planned kernel module (so a difference that
   only the simulated program shows lies in ``plan-memory`` or ``select-instructions``).

Observing every value can change what the compiler does (a fused chain keeps its
intermediates), so step 2 may find nothing while step 1 did: the result says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from moecc.compare import compare_outputs, tolerances
from moecc.errors import MoeccError
from moecc.ir.graph import Graph, Op


@dataclass(slots=True)
class BisectResult:
    """What :func:`bisect_model` found."""

    target: str
    problems: list[str]  # the final outputs' differences (empty: they agree)
    first_op: dict[str, str] | None = None  # value, kind, onnx_node, problem
    first_pass: str | None = None  # a graph pass, or a target stage
    notes: list[str] = field(default_factory=list)

    @property
    def differs(self) -> bool:
        return bool(self.problems)

    def format(self) -> str:
        if not self.differs:
            return f"{self.target}: every output matches the reference\n"
        lines = [f"{self.target}: the outputs differ from the reference ({self.problems[0]})"]
        if self.first_op is not None:
            op = self.first_op
            lines.append(f"first op:   %{op['value']} = {op['kind']} (ONNX node '{op['onnx_node']}'): {op['problem']}")
        if self.first_pass is not None:
            lines.append(f"first pass: {self.first_pass}")
        lines += [f"note:       {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


def bisect_model(model: Any, target: str, options: Mapping[str, Any] | None = None, *,
                 input_shapes: Mapping[str, tuple[int, ...]] | None = None,
                 inputs: Mapping[str, np.ndarray] | None = None, seed: int = 0,
                 pipeline: str | None = None) -> BisectResult:
    """Bisect ``model`` (anything :func:`moecc.compile` takes) on ``target`` (see the module
    docstring). ``inputs`` by graph input name; missing ones are seeded."""
    from moecc.asic_runtime import random_inputs
    from moecc.frontend.onnx_importer import import_onnx, load_model
    from moecc.ir.interpreter import run_graph

    options = dict(options or {})
    rtol, atol = tolerances(str(options.get("precision", "f32")))
    onnx_model, _ = load_model(model)
    graph = import_onnx(onnx_model, input_shapes)
    feeds = {**random_inputs(graph, seed), **dict(inputs or {})}
    observed = _observe_all(graph)
    reference = run_graph(observed.clone(), feeds)
    finals = {name: reference[name] for name in graph.output_names}

    def differences(pipeline_text: str | None, whole: Graph | None = None, on: str = target) -> list[str]:
        try:
            compiled = _compile(whole or graph, on, options if on == target else {}, pipeline_text)
            got = compiled.run(feeds)
        except MoeccError as err:
            return [f"{type(err).__name__}: {err}"]
        wanted = finals if whole is None else reference
        return compare_outputs(got, wanted, rtol=rtol, atol=atol)

    result = BisectResult(target, differences(pipeline))
    if not result.differs:
        return result
    result.first_op = _first_op(graph, observed, reference, target, options, pipeline, rtol, atol, feeds, result.notes)
    result.first_pass = _first_pass(graph, target, options, pipeline, differences, feeds, finals, rtol, atol)
    return result


def _observe_all(graph: Graph) -> Graph:
    """A copy of ``graph`` whose outputs are its outputs, then every op result not among them."""
    copy = graph.clone()
    values = list(copy.outputs)
    names = list(copy.output_names)
    taken = set(names)
    for op in copy.ops:
        if op.is_const:
            continue
        for r in op.results:
            if r.name not in taken:
                values.append(r)
                names.append(r.name)
                taken.add(r.name)
    copy.set_outputs(values, names)
    return copy


def _compile(graph: Graph, target: str, options: Mapping[str, Any], pipeline: str | None) -> Any:
    from moecc.driver import compile_graph

    return compile_graph(graph, target, pipeline=pipeline, **options)


def _first_op(graph: Graph, observed: Graph, reference: Mapping[str, np.ndarray], target: str,
              options: Mapping[str, Any], pipeline: str | None, rtol: float, atol: float,
              feeds: Mapping[str, np.ndarray], notes: list[str]) -> dict[str, str] | None:
    try:
        got = _compile(observed, target, options, pipeline).run(feeds)
    except MoeccError as err:
        notes.append(f"with every value observed the model does not compile or run ({err}); no first op")
        return None
    for op in graph.ops:
        if op.is_const:
            continue
        for r in op.results:
            problems = compare_outputs({r.name: got[r.name]}, {r.name: reference[r.name]}, rtol=rtol, atol=atol)
            if problems:
                return {"value": r.name, "kind": op.kind, "onnx_node": op.source or op.kind, "problem": problems[0]}
    notes.append("with every value observed no op differs: observing them changed how the model compiles "
                 "(e.g. a fused chain keeps its intermediates)")
    return None


def _first_pass(graph: Graph, target: str, options: Mapping[str, Any], pipeline: str | None, differences: Any,
                feeds: Mapping[str, np.ndarray], finals: Mapping[str, np.ndarray], rtol: float, atol: float) -> str:
    from moecc.passes.manager import DEFAULT_GRAPH_PIPELINE, parse_pipeline

    passes = parse_pipeline(DEFAULT_GRAPH_PIPELINE if pipeline is None else pipeline)
    for count in range(len(passes)):
        if differences(",".join(p.pipeline_text() for p in passes[:count])):
            if count == 0:
                return _first_stage(graph, target, options, feeds, finals, rtol, atol)
            return f"{passes[count - 1].name} (graph pass {count} of {len(passes)})"
    return f"{passes[-1].name} (the last graph pass)" if passes else _first_stage(graph, target, options, feeds, finals,
                                                                                  rtol, atol)


def _first_stage(graph: Graph, target: str, options: Mapping[str, Any], feeds: Mapping[str, np.ndarray],
                 finals: Mapping[str, np.ndarray], rtol: float, atol: float) -> str:
    """The target stage the difference comes from (no graph pass needed to show it)."""
    def tiled_agrees() -> bool:
        moe = {"moe": options["moe"]} if "moe" in options else {}
        try:
            got = _compile(graph, "tiled", moe, "").run(feeds)
        except MoeccError:
            return False
        return not compare_outputs(got, finals, rtol=rtol, atol=atol)

    if target == "tiled":
        return "lower-to-tiled (the tiled interpreter differs)"
    if target == "cpu":
        return ("emit-llvm-tiled (the tiled interpreter agrees; the machine code does not)" if tiled_agrees()
                else "lower-to-tiled (the tiled interpreter differs too)")
    if target == "asic":
        if not tiled_agrees():
            return "lower-to-tiled (the tiled interpreter differs too)"
        compiled = _compile(graph, target, options, "")
        if compare_outputs(_run_kernel_ir(compiled, feeds), finals, rtol=rtol, atol=atol):
            return "stage-for-asic (the tiled interpreter agrees; the kernel-IR interpreter does not)"
        return "plan-memory or select-instructions (the kernel IR agrees; the simulated program does not)"
    return "a stage of the target"


def _run_kernel_ir(compiled: Any, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The ``asic`` model's planned kernel module on the kernel-IR interpreter, host steps on the
    graph interpreter, outputs by ONNX name (what the simulator should have computed)."""
    from moecc.asic_runtime import from_hbm, to_hbm
    from moecc.ir.builder import const_value
    from moecc.ir.kernel import CpuCall
    from moecc.ir.kernel_interpreter import run_kernel_module
    from moecc.ir.registry import evaluate

    exe = compiled.executable
    buffers = {b.name: b for b in exe.module.hbm}
    ops = {op.results[0].name: op for op in compiled.graph.ops}
    hbm = {name: to_hbm(data, buffers[name]) for name, data in exe.weights.items()}
    for value in compiled.graph.inputs:
        name = exe.value_buffers[value.name]
        hbm[name] = to_hbm(feeds[value.name], buffers[name])

    def cpu_step(call: CpuCall, memory: dict[str, np.ndarray]) -> None:
        env: dict[int, np.ndarray] = {}
        for op_name in call.ops:
            op: Op = ops[op_name]
            args = []
            for v in op.operands:
                data = env.get(id(v))
                if data is None:
                    data = const_value(v)
                if data is None:
                    data = from_hbm(memory[exe.value_buffers[v.name]], v.type.dtype, v.type.shape)
                args.append(data)
            for r, out in zip(op.results, evaluate(op.kind, args, op.attrs, [r.type for r in op.results])):
                env[id(r)] = out
                name = exe.value_buffers.get(r.name)
                if name in call.outputs:
                    memory[name] = to_hbm(out, buffers[name])

    memory = run_kernel_module(exe.module, hbm, cpu_step)
    graph = compiled.graph
    return {name: from_hbm(memory[exe.value_buffers[v.name]], v.type.dtype, v.type.shape)
            for name, v in zip(graph.output_names, graph.outputs)}


__all__ = ["BisectResult", "bisect_model"]
