"""The ``asic`` target: the moe-asic, run on moecc's simulator, with host steps on the CPU.

Pipeline after the graph passes: ``lower-to-tiled`` (the target-neutral tiled IR, with tiling
parameters from the part: :func:`moecc.backend.asic.staging.asic_tiling_params`),
``stage-for-asic`` (:mod:`moecc.backend.asic.staging`: the kernel IR, and the kernels it cannot
express left to the host), ``plan-memory`` (HBM, SRAM and accumulator offsets),
``select-instructions`` (isel, tokens, one program per run of kernels) and
``compile-host-steps`` (machine code for the host steps in between, compiled through the tiled
IR as the ``cpu`` target compiles them). The part's description (``asic_target``: a name from
``moecc isa --targets`` or a path to a target TOML) sizes the tiles and the staging.
``precision="bf16"`` runs the MXU in bf16 with f32 accumulation. ``moe="sparse"`` dispatches
each token of a ``moe`` op to its chosen experts on the chip (per-expert token tiles in loops
whose trip counts are read at run time, gathers and scatter-adds); ``moe="dense"`` runs every
expert on every token; ``moe="auto"`` (the default) picks per layer from the part's cost of a
matmul row (:func:`moecc.passes.tiled_lowering.moe_dispatch.choose_moe`): sparse in f32, dense
in bf16 on an array whose weight load per fold outweighs a small tile's rows. ``routing="uniform"``, ``"zipf:ALPHA"`` or a
JSON file replaces the routers' choices by that distribution (a what-if for the simulated
cycles: the outputs are then not the model's; :mod:`moecc.passes.tiled_lowering.routing_whatif`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from moecc.errors import ArtifactError, MoeccError, UnsupportedError
from moecc.ir.graph import ElidedTensor
from moecc.targets.base import CompileTarget, check_moe_option

if TYPE_CHECKING:
    from moecc.compiled_model import CompiledModel
    from moecc.passes.compilation import Compilation
    from moecc.passes.manager import Pass

_KERNELS = "kernels.kir"
_IMAGE = "hbm_image.bin"
_REPORT = "report.json"
_HOST_KERNELS = "host_kernels.tir"  # the tiled kernels staging left to the host


#: Where activations live between kernels: in SRAM when they fit (the default), or always HBM.
ACTIVATION_HOMES = ("on-chip", "hbm")


class AsicTarget(CompileTarget):
    name: ClassVar[str] = "asic"
    description: ClassVar[str] = "the moe-asic, run on moecc's simulator (kernels) with host steps on the CPU"
    option_defaults: ClassVar[Mapping[str, Any]] = {"asic_target": "moe-asic-v1", "precision": "f32", "trace": False,
                                                    "moe": "auto", "routing": "", "capacity_factor": 0.0,
                                                    "activations": "on-chip", "target_overrides": {}}
    ir_stages: ClassVar[tuple[str, ...]] = ("graph", "kernel", "asm")
    simulated: ClassVar[bool] = True

    def check_options(self, given: Mapping[str, Any]) -> dict[str, Any]:
        from moecc.backend.asic.precision import PRECISIONS

        options = super().check_options(given)
        if options["precision"] not in PRECISIONS:
            raise UnsupportedError(f"precision '{options['precision']}' is not supported",
                                   remedy=f"use one of {', '.join(PRECISIONS)}")
        if not isinstance(options["asic_target"], str):
            raise UnsupportedError(f"asic_target must be a part name or a path, got {options['asic_target']!r}")
        overrides = options["target_overrides"]
        if not isinstance(overrides, Mapping) or not all(isinstance(k, str) for k in overrides):
            raise UnsupportedError(f"target_overrides must map entries of the part's description to values, got "
                                   f"{overrides!r}", remedy="give e.g. {'sram.capacity_bytes': '8MiB', 'mxu.rows': 256}")
        options["target_overrides"] = {k: str(v) for k, v in overrides.items()}
        from moecc.isa_spec.target import load_target

        load_target(options["asic_target"], options["target_overrides"])  # a bad part or entry is refused up front
        options["trace"] = bool(options["trace"])
        if not isinstance(options["routing"], str):
            raise UnsupportedError(f"routing must be a string (uniform, zipf:ALPHA or a JSON file), got {options['routing']!r}",
                                   remedy="give routing='uniform', 'zipf:1.2' or a path")
        if options["activations"] not in ACTIVATION_HOMES:
            raise UnsupportedError(f"activations '{options['activations']}' is not supported",
                                   remedy=f"use one of {', '.join(ACTIVATION_HOMES)}")
        if options["routing"]:
            from moecc.passes.tiled_lowering.routing_whatif import parse_routing

            parse_routing(options["routing"])  # a bad spec is refused before anything compiles
        return check_moe_option(options)

    def prepare(self, unit: Compilation) -> None:
        from moecc.isa_spec.target import load_target

        unit.machine = unit.tiling = load_target(unit.options["asic_target"], unit.options.get("target_overrides"))

    def stages(self, options: Mapping[str, Any]) -> list[Pass]:
        from dataclasses import asdict

        import moecc.backend.asic.stages  # noqa: F401  (registers select-instructions)
        import moecc.backend.llvm.stages  # noqa: F401  (registers compile-host-steps)
        from moecc.backend.asic.staging import asic_tiling_params
        from moecc.isa_spec.target import load_target
        from moecc.passes.manager import parse_pipeline
        from moecc.passes.tiled_lowering.stage import LowerToTiledStage

        part = load_target(str(options["asic_target"]), options.get("target_overrides"))
        params = asdict(asic_tiling_params(part, str(options.get("precision", "f32"))))
        lower = LowerToTiledStage(**params, moe=str(options.get("moe", "auto")), routing=str(options.get("routing", "")),
                                  capacity_factor=float(options.get("capacity_factor", 0.0)))
        on_chip = "true" if options.get("activations", "on-chip") == "on-chip" else "false"
        return [lower, *parse_pipeline(f"stage-for-asic,plan-memory{{on_chip={on_chip}}},select-instructions,"
                                       "compile-host-steps")]

    def finish(self, compiled: CompiledModel, unit: Compilation) -> None:
        from moecc.asic_runtime import AsicExecutable

        from moecc.passes.tiled_lowering.stage import tiled_of

        module, plan, graph = unit.kernels, unit.memory_plan, unit.graph
        assert module is not None and plan is not None
        # The MoE layers the lowering dispatched (or ran densely), for the routing report. An
        # experts kernel whose matmuls all stream a run-time row count (mxu.mmr) multiplies
        # only the tiles' tokens; otherwise the chip multiplies whole token tiles, and their
        # padding rows are executed FLOPs.
        layers = [{**layer, "padded_matmuls": not _streams_real_rows(module, layer.get("experts_kernel"))}
                  for layer in tiled_of(unit, "report its MoE layers").moe_layers]
        executable = AsicExecutable(graph, module, unit.weights, unit.value_buffers, plan.hbm_bytes_planned,
                                    target=unit.machine, segments=list(unit.products["segments"]),
                                    moe_layers=layers)
        executable.compiled_steps = dict(unit.products.get("host_steps", {}))
        compiled.executable = executable
        self._finish_partition(compiled, unit, executable)
        compiled.memory = {
            "sram_peak_bytes": plan.sram_peak_bytes,
            "sram_capacity_bytes": unit.machine.sram_capacity_bytes,
            "acc_peak_bytes": plan.acc_peak_bytes,
            "acc_capacity_bytes": unit.machine.acc_capacity_bytes,
            "hbm_bytes_planned": plan.hbm_bytes_planned,
            # The activations' (temporaries') share of HBM: as planned, the most bytes live
            # at one step (a lower bound on any plan), and every one in a place of its own.
            "hbm_activation_bytes": plan.hbm_temp_bytes_shared,
            "hbm_activation_lower_bound": plan.hbm_temp_bytes_lower_bound,
            "hbm_activation_no_reuse": plan.hbm_temp_bytes_unshared,
            "hbm_activation_greedy_by_size": plan.hbm_temp_bytes_greedy,
            "hbm_activation_planner": plan.hbm_temp_planner,
            # Activations kept in SRAM between the kernels that write and read them (their
            # loads and stores are on-chip copies): how many, their bytes, the SRAM they take.
            "sram_resident_activations": plan.resident_buffers,
            "sram_resident_activation_bytes": plan.resident_bytes,
            "sram_resident_region_bytes": plan.sram_resident_bytes,
            # Weights kept in SRAM homes, filled once from HBM ahead of their first use (their
            # loads are on-chip copies): how many and their bytes.
            "sram_weight_homes": plan.weight_homes,
            "sram_weight_home_bytes": plan.weight_home_bytes,
        }
        compiled.options["asic_target"] = unit.machine.name.split("[", 1)[0]  # the part; its overrides apart

    def _finish_partition(self, compiled: CompiledModel, unit: Compilation, executable: Any) -> None:
        """What ran where (``compiled.partition``): the ops of the kernels staging left to the
        host, and the host calls. Those kernels run the tiled interpreter over the image (their
        CpuCall steps name no graph ops, so the host-step compiler made no code for them)."""
        from moecc.asic_report import graph_flops
        from moecc.backend.asic.staging import host_kernel_steps
        from moecc.backend.asic.staging.stage import PRODUCT
        from moecc.backend.llvm.host_steps import interpreter_ops

        staged = unit.products[PRODUCT]
        hbm = {b.name: b for b in executable.module.hbm}
        executable.compiled_steps.update(host_kernel_steps(staged.host_kernels, hbm))
        graph = unit.graph
        host_sources = {row["onnx_node"] for row in staged.host_rows}
        placement = {i: ("cpu" if op.source in host_sources else "asic") for i, op in enumerate(graph.ops)
                     if not op.is_const}
        counts = {"asic": sum(1 for p in placement.values() if p == "asic"),
                  "cpu": sum(1 for p in placement.values() if p == "cpu")}
        cpu_ops: dict[str, int] = {}
        for row in staged.host_rows:
            cpu_ops[row["kind"]] = cpu_ops.get(row["kind"], 0) + 1
        compiled.partition = {
            "ops": counts,
            "cpu_ops": cpu_ops,
            "host_ops": list(staged.host_rows),
            "flops": graph_flops(graph, placement),
            "interpreter_ops": interpreter_ops(executable.compiled_steps),
            "staging_slow_paths": staged.slow_paths,
            "moe_layers": list(executable.moe_layers),
            "sparse_weights": staged.sparse.rows(unit.weights, hbm),
        }

    # -- using -------------------------------------------------------------------------
    def run(self, compiled: CompiledModel, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs, stats = compiled.executable.run(feeds, trace=bool(compiled.options.get("trace")))
        compiled.last_stats, compiled.last_stats_source = stats, "last run()"
        return outputs

    def report(self, compiled: CompiledModel) -> dict[str, Any]:
        from moecc.asic_report import asic_report

        return asic_report(compiled)

    def routing(self, compiled: CompiledModel) -> list[dict[str, Any]]:
        stats = compiled.last_stats
        if stats is None or compiled.last_stats_source != "last run()":
            raise UnsupportedError("no run yet: routing is recorded by a run", remedy="run the model first")
        layers = compiled.executable.moe_layers
        return [{"layer": layer["onnx_node"], "experts": np.asarray(chosen).tolist()}
                for layer, chosen in zip(layers, stats.moe_experts)]

    def summary(self, report: Mapping[str, Any]) -> str:
        from moecc.asic_report import format_asic_summary

        return format_asic_summary(dict(report))

    def ir_text(self, compiled: CompiledModel, stage: str) -> str:
        if stage == "kernel":
            from moecc.ir.kernel_printer import print_kernel_module

            return print_kernel_module(compiled.executable.module)
        from moecc.backend.asic.stages import asm_text

        return asm_text(compiled.executable.segments)

    def trace(self, compiled: CompiledModel) -> dict[str, Any]:
        if compiled.last_stats is None or not compiled.last_stats.trace_events:
            from moecc.asic_runtime import random_inputs

            _, stats = compiled.executable.run(random_inputs(compiled.graph), trace=True)
            compiled.last_stats, compiled.last_stats_source = stats, "seeded random inputs (no run() yet)"
        return {"traceEvents": compiled.last_stats.trace_events, "displayTimeUnit": "ns"}

    # -- artifacts ---------------------------------------------------------------------
    def save_members(self, compiled: CompiledModel, members: dict[str, bytes]) -> dict[str, Any]:
        """The kernel IR, program binaries and listings, the HBM image up to the last weight (the
        weights at their offsets), and the report when a run has produced its figures (saving
        never simulates). Graph constants whose bytes the image holds as they are are listed in
        ``constants_in_image`` (left out of ``weights.npz``: each weight is stored once)."""
        from moecc.asic_runtime import to_hbm
        from moecc.ir.kernel_printer import print_kernel_module
        from moecc.isa_spec import encode_program

        exe = compiled.executable
        members[_KERNELS] = print_kernel_module(exe.module).encode("utf-8")
        buffers = {b.name: b for b in exe.module.hbm}
        placed = [buffers[name] for name in exe.weights]
        image = np.zeros(max((b.offset + b.nbytes for b in placed), default=0), dtype=np.uint8)
        for name, data in exe.weights.items():
            buffer = buffers[name]
            image[buffer.offset: buffer.offset + buffer.nbytes] = to_hbm(data, buffer).reshape(-1).view(np.uint8)
        in_image: dict[str, str] = {}
        for op in compiled.graph.const_ops():
            buffer = buffers.get(exe.value_buffers.get(op.result.name, op.result.name))
            value = op.attrs["value"]
            if (buffer is None or buffer.role != "weight" or buffer.offset is None or isinstance(value, ElidedTensor)
                    or np.dtype(value.dtype) != np.dtype(buffer.dtype.numpy) or value.nbytes != buffer.nbytes):
                continue
            if np.array_equal(image[buffer.offset: buffer.offset + buffer.nbytes],
                              np.ascontiguousarray(value).reshape(-1).view(np.uint8)):
                in_image[op.result.name] = buffer.name
        members[_IMAGE] = memoryview(image)  # type: ignore[assignment]  (written as it is, not copied)
        segments = []
        for index, segment in enumerate(exe.segments):
            members[f"program{index}.bin"] = encode_program(segment.program)
            members[f"program{index}.s"] = segment.listing.encode("utf-8")
            segments.append({"listing": segment.listing, "kernels": list(segment.kernels), "steps": list(segment.steps),
                             "unit_counts": dict(segment.unit_counts)})
        if compiled.last_stats is not None:
            members[_REPORT] = json.dumps(compiled.report(), indent=2, sort_keys=True).encode("utf-8")
        from moecc.backend.asic.staging.host import host_kernels_text

        host_kernels = host_kernels_text(exe.compiled_steps)
        if host_kernels is not None:
            members[_HOST_KERNELS] = host_kernels.encode("utf-8")
        return {
            "asic_target": exe.target.name.split("[", 1)[0],
            "target_overrides": dict(compiled.options.get("target_overrides", {})),
            "hbm_bytes": exe.hbm_bytes,
            "value_buffers": exe.value_buffers,
            "segments": segments,
            "partition": dict(compiled.partition),
            "memory": compiled.memory,
            "constants_in_image": in_image,
        }

    def constants_stored_elsewhere(self, entry: Mapping[str, Any] | None) -> frozenset[str]:
        return frozenset((entry or {}).get("constants_in_image", {}))

    def load_members(self, compiled: CompiledModel, entry: Mapping[str, Any] | None, members: Mapping[str, bytes],
                     path: Any) -> None:
        from moecc.asic_runtime import AsicExecutable
        from moecc.backend.asic.codegen import ProgramSegment
        from moecc.backend.llvm.host_steps import compile_host_steps
        from moecc.ir.kernel import verify_kernel_module
        from moecc.ir.kernel_parser import parse_kernel_module
        from moecc.isa_spec import decode_program
        from moecc.isa_spec.target import load_target

        try:
            if entry is None:
                raise KeyError("asic")
            module = parse_kernel_module(members[_KERNELS].decode("utf-8"))
            verify_kernel_module(module)
            image = np.frombuffer(members[_IMAGE], dtype=np.uint8)
            weights = {}
            for buffer in module.hbm:
                if buffer.role == "weight":
                    size = buffer.elements * buffer.dtype.itemsize
                    weights[buffer.name] = image[buffer.offset: buffer.offset + size].view(buffer.dtype.numpy)
            constants = {op.result.name: op for op in compiled.graph.const_ops()}
            compiled.graph.bind_weights({
                name: weights[buffer_name].reshape(constants[name].result.type.shape)
                for name, buffer_name in dict(entry.get("constants_in_image", {})).items()})
            segments = []
            for index, meta in enumerate(entry["segments"]):
                program = decode_program(members[f"program{index}.bin"])
                segments.append(ProgramSegment(program=program, listing=meta["listing"], kernels=tuple(meta["kernels"]),
                                               steps=(int(meta["steps"][0]), int(meta["steps"][1])),
                                               unit_counts=dict(meta["unit_counts"])))
            target = load_target(entry["asic_target"], dict(entry.get("target_overrides", {})))
        except MoeccError as err:
            raise ArtifactError(f"'{path}' holds an invalid ASIC program: {err}", remedy="recompile the model") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"'{path}': ASIC part is corrupt ({type(exc).__name__}: {exc})",
                                remedy="recompile the model") from None
        executable = AsicExecutable(compiled.graph, module, weights, dict(entry["value_buffers"]), int(entry["hbm_bytes"]),
                                    target=target, segments=segments)
        # The artifact keeps the host steps' graph ops, not their code: compile them again.
        executable.compiled_steps = dict(compile_host_steps(module, compiled.graph, executable.value_buffers))
        if _HOST_KERNELS in members:  # tiled kernels on the host: their text, not graph ops
            from moecc.backend.asic.staging.host import host_kernels_from_text

            executable.compiled_steps.update(host_kernels_from_text(members[_HOST_KERNELS].decode("utf-8"),
                                                                    {b.name: b for b in module.hbm}))
        executable.moe_layers = list(dict(entry.get("partition", {})).get("moe_layers", []))
        compiled.executable = executable
        compiled.partition = dict(entry.get("partition", {}))
        compiled.memory = dict(entry.get("memory", {}))

    def describe_artifact(self, entry: Mapping[str, Any] | None, members: Mapping[str, bytes]) -> str:
        if not entry:
            return ""
        ops = entry.get("partition", {}).get("ops", {})
        text = (f"asic part     {entry['asic_target']}, HBM image {entry['hbm_bytes']:,} B\n"
                f"partition     {ops.get('asic', 0)} ops on the ASIC, {ops.get('cpu', 0)} on the CPU\n"
                f"programs      {len(entry['segments'])} segment(s)\n")
        if _REPORT in members:
            text += self.summary(json.loads(members[_REPORT]))
        return text


def _streams_real_rows(module: Any, kernel_name: str | None) -> bool:
    """Whether every matmul of the staged kernel ``kernel_name`` has a run-time row count."""
    from moecc.ir.kernel import MatMul, walk

    kernel = next((k for k in module.kernels if k.name == kernel_name), None) if kernel_name else None
    if kernel is None:
        return False
    matmuls = [stmt for stmt, _ in walk(kernel.body) if isinstance(stmt, MatMul)]
    return bool(matmuls) and all(stmt.rows is not None for stmt in matmuls)
