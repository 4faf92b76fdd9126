"""The compilation driver: one straight function from a model to a :class:`CompiledModel`.

Stages, in order: ONNX import (frontend) → graph passes (the pipeline, verified after each
pass) → target lowering (``ref``: none; the graph runs on the reference interpreter).
Reading :func:`compile` top to bottom tells what the compiler does.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

from moecc.compiled_model import CompiledModel
from moecc.frontend.onnx_importer import InputShapes, ModelSource, import_onnx, load_model, resolve_input_types
from moecc.targets import check_target



def compile(  # noqa: A001 - the public name DESIGN.md fixes
    model: ModelSource,
    target: str = "ref",
    *,
    input_shapes: InputShapes | None = None,
    constant_inputs: Mapping[str, Any] | None = None,
    pipeline: str | None = None,
    print_ir_after_all: bool = False,
    print_ir_after: Iterable[str] = (),
    time_passes: bool = False,
    ir_stream: TextIO | None = None,
    asic_target: str = "moe-asic-v1",
    precision: str = "f32",
    trace: bool = False,
    threads: int = 1,
) -> CompiledModel:
    """Compile an ONNX model (path, bytes or ``onnx.ModelProto``) for ``target``.

    ``input_shapes`` fixes dynamic dims (``{"input_ids": (1, 128)}``); ``constant_inputs``
    binds inputs to fixed values (they become constants, e.g. run-time axes or K); ``pipeline`` replaces
    the default graph pass pipeline (``"fold-constants,dce"``; ``""`` runs none).
    On ``target="asic"``: ``asic_target`` names the part (a target description in
    ``moecc.isa_spec``, e.g. ``"moe-asic-edge"``, or a path to one), ``precision`` is ``"f32"``
    or ``"bf16"`` (the MXU in bf16 with f32 accumulation), ``trace`` keeps Chrome traces of runs.
    On ``target="cpu"``: ``threads`` splits each big matmul's columns across that many threads
    (kept in ``options["threads"]`` and in saved artifacts; results do not depend on it).
    """
    from moecc.errors import UnsupportedError
    from moecc.passes.manager import DEFAULT_GRAPH_PIPELINE, PassManager, parse_pipeline

    check_target(target)
    if threads != 1 and target != "cpu":
        raise UnsupportedError(f"threads={threads} is an option of target 'cpu', not '{target}'",
                               remedy="compile with target='cpu' or leave threads at 1")
    times: dict[str, float] = {}
    start = time.perf_counter()
    onnx_model, _ = load_model(model)  # once: external data is read into the proto here
    graph = import_onnx(onnx_model, input_shapes, constant_inputs)
    times["import-onnx"] = time.perf_counter() - start
    frozen = set(constant_inputs or {})
    input_names = [n for n in _onnx_input_names(onnx_model, input_shapes, constant_inputs) if n not in frozen]

    text = DEFAULT_GRAPH_PIPELINE if pipeline is None else pipeline
    manager = PassManager(
        parse_pipeline(text),
        print_ir_after_all=print_ir_after_all,
        print_ir_after=set(print_ir_after),
        time_passes=time_passes,
        out=ir_stream or sys.stderr,
    )
    manager.run(graph)
    times.update(manager.pass_times)
    options: dict[str, Any] = {"pipeline": text, "input_shapes": {k: list(v) for k, v in (input_shapes or {}).items()}}
    compiled = CompiledModel.from_graph(graph, target, input_names, options, times)
    if target == "asic":
        _compile_for_asic(compiled, asic_target, precision, trace, times)
    elif target == "cpu":
        _compile_for_cpu(compiled, times, threads)
    compiled.pass_times = dict(times)  # with the back end's stages (lowering, memory plan, codegen)
    return compiled


def _compile_for_cpu(compiled: CompiledModel, times: dict[str, float], threads: int = 1) -> None:
    """Lower to kernel IR tiled for the host's caches, plan memory, compile kernels and CPU
    steps into one LLVM module (the whole model runs as machine code; a step holding an op
    without an emitter would run on the reference interpreter: ``partition["interpreter_ops"]``)."""
    from moecc.backend.llvm.codegen import compile_kernel_module, heap_bytes
    from moecc.backend.llvm.cpu_target import host_cpu_target, tiling_target
    from moecc.backend.llvm.graph_ops import emit_step, step_unsupported_ops
    from moecc.ir.kernel import CpuCall
    from moecc.cpu_runtime import CpuExecutable
    from moecc.ir.kernel import verify_kernel_module
    from moecc.passes.kernel_lowering import graph_flops, lower_to_kernels
    from moecc.passes.memory_plan import plan_memory

    cpu = host_cpu_target()
    tiling = tiling_target(cpu)
    graph = compiled.graph
    start = time.perf_counter()
    module, weights, partition, value_buffers = lower_to_kernels(graph, tiling, "f32")
    verify_kernel_module(module)
    times["lower-to-kernels"] = time.perf_counter() - start
    start = time.perf_counter()
    module, plan = plan_memory(module, tiling)
    times["plan-memory"] = time.perf_counter() - start
    start = time.perf_counter()
    ops_by_name = {op.results[0].name: op for op in graph.ops}
    steps = [step for step in module.steps if isinstance(step, CpuCall)]
    native = [step.name for step in steps if not step_unsupported_ops(step, ops_by_name)]

    def emit(llvm_module: Any, call: CpuCall, name: str) -> None:
        emit_step(llvm_module, call, graph, module, value_buffers, ops_by_name, name)

    program = compile_kernel_module(module, cpu, emit, native)
    program.set_threads(threads)
    times["codegen-llvm"] = time.perf_counter() - start
    compiled.cpu = CpuExecutable(graph, module, weights, value_buffers, max(plan.hbm_bytes_planned, heap_bytes(module)),
                                 program=program)
    compiled.partition = {
        # The lowering's "asic" placement is a kernel here; its "cpu" ops are the CPU steps.
        "ops": {"kernels" if k == "asic" else "cpu_steps": v for k, v in partition.counts(graph).items()},
        "flops": {"kernels" if k == "asic" else "cpu_steps" if k == "cpu" else k: v
                  for k, v in graph_flops(graph, partition.placement).items()},
        "interpreter_ops": program.interpreter_ops(graph),
    }
    compiled.options.update({"cpu": cpu.name, "threads": threads})


def _compile_for_asic(compiled: CompiledModel, asic_target: str, precision: str, trace: bool, times: dict[str, float]) -> None:
    """Partition and lower to kernel IR, plan memory, generate programs (the ASIC back half)."""
    from moecc.asic_runtime import AsicExecutable
    from moecc.backend.asic.codegen import generate_programs
    from moecc.ir.kernel import verify_kernel_module
    from moecc.isa_spec.target import load_target
    from moecc.passes.kernel_lowering import graph_flops, lower_to_kernels
    from moecc.passes.memory_plan import plan_memory

    target = load_target(asic_target)
    graph = compiled.graph
    start = time.perf_counter()
    module, weights, partition, value_buffers = lower_to_kernels(graph, target, precision)
    verify_kernel_module(module)
    times["lower-to-kernels"] = time.perf_counter() - start
    start = time.perf_counter()
    module, plan = plan_memory(module, target)
    times["plan-memory"] = time.perf_counter() - start
    start = time.perf_counter()
    segments = generate_programs(module, target)
    times["codegen-asic"] = time.perf_counter() - start
    compiled.asic = AsicExecutable(graph, module, weights, value_buffers, plan.hbm_bytes_planned, target=target, segments=segments)
    cpu_ops: dict[str, int] = {}
    for index, reason in partition.reasons.items():
        key = graph.ops[index].kind
        cpu_ops[key] = cpu_ops.get(key, 0) + 1
    compiled.partition = {
        "ops": partition.counts(graph),
        "cpu_ops": cpu_ops,
        "cpu_reasons": {graph.ops[i].describe(): r for i, r in partition.reasons.items()},
        "flops": graph_flops(graph, partition.placement),
    }
    compiled.memory = {
        "sram_peak_bytes": plan.sram_peak_bytes,
        "sram_capacity_bytes": target.sram_capacity_bytes,
        "acc_peak_bytes": plan.acc_peak_bytes,
        "acc_capacity_bytes": target.acc_capacity_bytes,
        "hbm_bytes_planned": plan.hbm_bytes_planned,
    }
    compiled.options.update({"asic_target": target.name, "precision": precision, "trace": trace})
    _compile_cpu_steps(compiled, compiled.asic, times)


def _compile_cpu_steps(compiled: CompiledModel, executable: Any, times: dict[str, float]) -> None:
    """On ``asic``: JIT-compile each CPU step's graph ops with LLVM (a module per step, run by
    the host between simulated program segments); a step holding an op without an emitter
    would stay on the reference interpreter (its op kinds: ``partition["interpreter_ops"]``)."""
    from moecc.backend.llvm.graph_ops import compile_cpu_steps, interpreter_ops

    start = time.perf_counter()
    executable.compiled_steps = compile_cpu_steps(executable.module, executable.graph, executable.value_buffers)
    times["codegen-cpu-steps"] = time.perf_counter() - start
    compiled.partition["interpreter_ops"] = interpreter_ops(executable.module, executable.graph, executable.compiled_steps)


def _onnx_input_names(model: Any, input_shapes: Mapping[str, Sequence[int]] | None, constant_inputs: Mapping[str, Any] | None) -> list[str]:
    import numpy as np

    shapes = {**{k: np.shape(v) for k, v in (constant_inputs or {}).items()}, **(input_shapes or {})}
    return list(resolve_input_types(model, shapes).keys())
