"""The ``cpu`` target: the whole model as machine code for the host CPU, through LLVM.

Pipeline after the graph passes: ``lower-to-tiled`` with tile sizes for the host's caches
(:func:`moecc.backend.llvm.tiled.params.cpu_tiling_params`), then ``emit-llvm-tiled`` (the
whole tiled module as one LLVM module, O3, JIT: :mod:`moecc.backend.llvm.tiled`); host calls,
if any, run on the reference interpreter between machine-code segments. IR stages: graph,
tiled, llvm. ``threads`` sets the native thread pool's size (results do not depend on it but for the
grouping of a sparse MoE layer's per-token sums, whose experts run split across the threads);
``moe="dense"`` runs every expert of a ``moe`` op on every token instead of dispatching each
token to its chosen experts (``sparse``, the default).
``moecc compile --emit obj`` writes that module as an ELF object with the C ABI of
docs/cpu_object_abi.md (:func:`moecc.backend.llvm.object_file.link_object`); a ``.moe`` keeps
the object (and the tiled IR text), so loading needs no code generation.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from moecc.errors import ArtifactError, MoeccError, UnsupportedError
from moecc.ir.graph import ElidedTensor
from moecc.targets.base import CompileTarget, check_moe_option, refuse_values_too_big

if TYPE_CHECKING:
    from moecc.compiled_model import CompiledModel
    from moecc.passes.compilation import Compilation
    from moecc.passes.manager import Pass

_OBJECT = "kernels.o"
_TILED = "cpu_tiled.tir"


def _check_features(entry: Mapping[str, Any], path: Any) -> Any:
    """The host CPU target, after checking it has every feature the stored code was compiled for."""
    from moecc.backend.llvm.cpu_target import host_cpu_target

    host = host_cpu_target()
    enabled = {f[1:] for f in host.features.split(",") if f.startswith("+")}
    missing = sorted(f[1:] for f in str(entry["features"]).split(",") if f.startswith("+") and f[1:] not in enabled)
    if missing:
        raise ArtifactError(f"'{path}' was compiled for CPU '{entry['cpu']}' with features this CPU "
                            f"('{host.name}') lacks: {', '.join(missing[:8])}", remedy="recompile the model on this machine")
    return host


class CpuCompileTarget(CompileTarget):
    name: ClassVar[str] = "cpu"
    description: ClassVar[str] = "the host CPU: the whole model compiled with LLVM into machine code (JIT or an ELF object)"
    option_defaults: ClassVar[Mapping[str, Any]] = {"threads": 1, "moe": "sparse", "capacity_factor": 0.0}
    ir_stages: ClassVar[tuple[str, ...]] = ("graph", "tiled", "llvm")
    emit_files: ClassVar[tuple[str, ...]] = ("obj",)

    def check_options(self, given: Mapping[str, Any]) -> dict[str, Any]:
        options = super().check_options(given)
        threads = options["threads"]
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise UnsupportedError(f"threads must be a positive integer, got {threads!r}", remedy="use threads=1 or more")
        return check_moe_option(options)

    def prepare(self, unit: Compilation) -> None:
        from moecc.backend.llvm.cpu_target import host_cpu_target

        unit.machine = host_cpu_target()

    def stages(self, options: Mapping[str, Any]) -> list[Pass]:
        from moecc.backend.llvm.cpu_target import host_cpu_target
        from moecc.backend.llvm.tiled.params import cpu_tiling_params
        from moecc.backend.llvm.tiled.stage import EmitLlvmTiledStage
        from moecc.passes.tiled_lowering.stage import LowerToTiledStage

        params = cpu_tiling_params(host_cpu_target())
        return [LowerToTiledStage(params.tile_rows, params.tile_cols, params.k_tile, params.local_bytes,
                                  moe=str(options.get("moe", "sparse")),
                                  capacity_factor=float(options.get("capacity_factor", 0.0))),
                EmitLlvmTiledStage()]

    def finish(self, compiled: CompiledModel, unit: Compilation) -> None:
        from moecc.backend.llvm.tiled.executable import TiledCpuExecutable
        from moecc.backend.llvm.tiled.program import interpreted_op_counts
        from moecc.passes.tiled_lowering.stage import tiled_of

        refuse_values_too_big(unit.graph, "the cpu heap")
        lowering = tiled_of(unit, "build the executable")
        program = unit.products["cpu_program"]
        compiled.executable = TiledCpuExecutable(program, dict(lowering.weights), lowering.input_buffers, unit.graph)
        compiled.partition = {
            "kernels": lowering.kernel_count,
            "host_calls": lowering.host_call_count,
            "host_ops": [row.as_row() for row in lowering.host_ops],
            # Op kind -> how many run on the reference interpreter.
            "interpreter_ops": interpreted_op_counts(lowering.module),
            "weight_sources": dict(lowering.weight_sources),
            "moe_layers": [dict(layer) for layer in lowering.moe_layers],
        }
        compiled.options["cpu"] = unit.machine.name

    # -- using -------------------------------------------------------------------------
    def run(self, compiled: CompiledModel, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        program = compiled.executable.program
        threads = int(compiled.options.get("threads", 1))
        if program.threads != threads:  # a loaded artifact: the manifest's option
            program.set_threads(threads)
        start = time.perf_counter()
        outputs = compiled.executable.run(feeds, [v.name for v in compiled.graph.inputs], compiled.graph.output_names)
        compiled.last_stats, compiled.last_stats_source = time.perf_counter() - start, "last run()"
        return outputs

    def report(self, compiled: CompiledModel) -> dict[str, Any]:
        from moecc.backend.llvm.tiled.report import tiled_cpu_report

        from moecc.moe_report import routing_report

        report = compiled.graph_report()
        report["cpu"] = tiled_cpu_report(compiled)  # runs the model first when it has not run yet
        exe = compiled.executable
        layers = list(compiled.partition.get("moe_layers", []))
        counts = []
        for layer in layers:  # tokens per expert: counted by the dispatch, or from the choices (dense)
            if "counts_buffer" in layer:
                counted = exe.last_run_buffer(str(layer["counts_buffer"]))
            else:
                chosen = exe.last_run_buffer(str(layer["experts_buffer"]))
                counted = None if chosen is None else np.bincount(
                    np.asarray(chosen, dtype=np.int64).reshape(-1), minlength=int(layer["experts"]))
            counts.append(counted)
        if layers and all(c is not None for c in counts):
            counts = [np.asarray(c).reshape(-1) for c in counts]
            report["moe"] = routing_report(layers, counts)
        return report

    def routing(self, compiled: CompiledModel) -> list[dict[str, Any]]:
        exe = compiled.executable
        rows = []
        for layer in compiled.partition.get("moe_layers", []):
            chosen = exe.last_run_buffer(str(layer["experts_buffer"]))
            if chosen is None:
                raise UnsupportedError("no run yet: routing is recorded by a run", remedy="run the model first")
            rows.append({"layer": layer["onnx_node"], "experts": chosen.tolist()})
        return rows

    def summary(self, report: Mapping[str, Any]) -> str:
        from moecc.moe_report import format_routing

        cpu = report["cpu"]
        blocking = cpu["sgemm_blocking"]
        return super().summary(report) + (
                f"cpu           {cpu['cpu']}, {cpu['vector_floats']} floats/vector, sgemm {blocking['mr']}x{blocking['nr']} "
                f"register tile, {cpu['threads']} thread(s), tiles {cpu['tiling']}\n"
                f"code          {cpu['kernels']} kernels as LLVM code, {cpu['host_calls']} host calls on the interpreter "
                f"({cpu['host_calls_run']} run so far)\n"
                f"memory        heap {cpu['heap_bytes'] / 1024:.1f} KiB ({cpu['heap_bytes_reused'] / 1024:.1f} KiB saved by "
                f"reusing temps), scratch {cpu['scratch_bytes_per_thread'] / 1024:.1f} KiB per thread\n"
                f"run time      {cpu['last_run_ms']:.3f} ms ({cpu['last_run_source']})\n"
                + format_routing(report.get("moe", [])))

    def ir_text(self, compiled: CompiledModel, stage: str) -> str:
        if stage == "tiled":
            from moecc.ir.tiled import print_tiled_module

            return print_tiled_module(compiled.executable.module)
        return str(compiled.executable.program.llvm_ir)

    # -- artifacts ---------------------------------------------------------------------
    def save_members(self, compiled: CompiledModel, members: dict[str, bytes]) -> dict[str, Any]:
        """The tiled IR as text (for ``ir('tiled')``, host calls and fault messages) and the
        machine code as the same relocatable object ``--emit obj`` writes, which also holds
        the weight image: loading needs no code generation. Graph constants whose bytes the
        image holds as they are are listed in ``constants_in_object`` (left out of
        ``weights.npz``)."""
        from moecc.backend.llvm.cpu_target import host_cpu_target
        from moecc.backend.llvm.object_file import emit_model_object, model_abi
        from moecc.ir.tiled import print_tiled_module

        exe = compiled.executable
        program = exe.program
        cpu = host_cpu_target()
        abi = model_abi(exe)
        members[_TILED] = print_tiled_module(exe.module).encode("utf-8")
        # Loaded from an artifact: the object it came from (there is no LLVM module to emit).
        members[_OBJECT] = exe.object_code if exe.object_code is not None else emit_model_object(program, abi, cpu)
        offsets = program.built.heap.offsets
        constants = {op.result.name: op.attrs["value"] for op in compiled.graph.const_ops()}
        in_object: dict[str, str] = {}
        for buffer_name, value_name in dict(compiled.partition.get("weight_sources", {})).items():
            value = constants.get(value_name)
            if value is None or isinstance(value, ElidedTensor):
                continue
            buffer = exe.module.buffer(buffer_name)
            if buffer.role != "weight" or np.dtype(value.dtype) != np.dtype(buffer.dtype.numpy):
                continue  # converted on the way to the heap: keep the original
            if tuple(np.shape(value)) != tuple(buffer.shape) and np.size(value) != buffer.elements:
                continue
            packed = program.built.packed_weights.get(buffer_name)  # held in the sgemm's layout
            data = (np.ascontiguousarray(value) if packed is None else packed.pack(value)).tobytes()
            start = offsets[buffer_name]
            if abi.weight_image[start: start + len(data)] == data:
                in_object.setdefault(value_name, buffer_name)
        built = program.built
        return {"lowering": "tiled", "cpu": cpu.name, "features": cpu.features, "input_buffers": list(exe.input_buffers),
                "partition": dict(compiled.partition), "heap_offsets": dict(offsets),
                "heap_bytes_reused": built.heap.reused_bytes,
                "matmuls": {"sgemm": built.sgemm_calls, "staged": built.staged_matmuls,
                            "integer": built.integer_matmuls, "dot": built.dot_matmuls},
                "packed_weights": {name: [w.k, w.n, w.transposed, w.nr, w.skip_zero]
                                   for name, w in built.packed_weights.items()},
                "constants_in_object": in_object}

    def load_members(self, compiled: CompiledModel, entry: Mapping[str, Any] | None, members: Mapping[str, bytes],
                     path: Any) -> None:
        """Rebuild the tiled executable from the stored object (no lowering, no LLVM code
        generation); weights come out of the object's weight image."""
        from moecc.backend.llvm.jit import load_object
        from moecc.backend.llvm.object_file import object_constant, object_weight_image
        from moecc.backend.llvm.tiled.codegen import BuiltModule, tiled_schedule
        from moecc.backend.llvm.tiled.executable import TiledCpuExecutable
        from moecc.backend.llvm.tiled.memory import HeapPlan, ScratchPlan
        from moecc.backend.llvm.tiled.packed_weights import PackedWeight
        from moecc.backend.llvm.tiled.program import TiledCpuProgram
        from moecc.ir.tiled import parse_tiled_module, verify_tiled_module

        if entry is not None and entry.get("lowering") != "tiled":
            raise ArtifactError(f"'{path}' holds cpu code compiled through the kernel IR, which this moecc no longer has",
                                remedy="recompile the model")
        try:
            if entry is None:
                raise KeyError("cpu")
            host = _check_features(entry, path)
            module = parse_tiled_module(members[_TILED].decode("utf-8"))
            verify_tiled_module(module)
            jit = load_object(members[_OBJECT], host, name="moecc_tiled")
            heap_bytes = object_constant(jit, "moecc_heap_bytes")
            scratch_bytes = object_constant(jit, "moecc_scratch_bytes")
            offsets = {str(k): int(v) for k, v in dict(entry["heap_offsets"]).items()}
            for buffer in module.buffers:
                if offsets[buffer.name] + buffer.elements * buffer.dtype.itemsize > heap_bytes:
                    raise ArtifactError(f"'{path}': buffer {buffer.name} lies outside the object's heap",
                                        remedy="recompile the model")
            schedule, host_zero, _ = tiled_schedule(module)
            matmuls = dict(entry["matmuls"])
            packed = {str(name): PackedWeight(int(k), int(n), bool(transposed), int(nr), bool(skip[0]) if skip else False)
                      for name, (k, n, transposed, nr, *skip) in dict(entry.get("packed_weights", {})).items()}
            for name, plan in packed.items():
                if plan.k * plan.n != module.buffer(name).elements or plan.nr <= 0 or plan.n % plan.nr:
                    raise ArtifactError(f"'{path}': the packed layout of weight {name} does not match its buffer",
                                        remedy="recompile the model")
            built = BuiltModule(None, HeapPlan(offsets, heap_bytes, int(entry["heap_bytes_reused"])),  # type: ignore[arg-type]
                                ScratchPlan({}, 0, 0, 0, 0, scratch_bytes), schedule, host_zero,
                                int(matmuls["sgemm"]), int(matmuls["staged"]), int(matmuls["integer"]), int(matmuls["dot"]),
                                packed)
            program = TiledCpuProgram(module, built, jit, "", host)
            image = np.frombuffer(object_weight_image(jit, heap_bytes), dtype=np.uint8)

            def stored(name: str) -> np.ndarray:
                buffer = module.buffer(name)
                size, start = buffer.elements * buffer.dtype.itemsize, offsets[name]
                if start + size > image.size:
                    raise ArtifactError(f"'{path}': weight {name} lies outside the object's weight image",
                                        remedy="recompile the model")
                data = image[start: start + size].view(buffer.dtype.numpy)
                if name in packed:  # the image holds it in the sgemm's layout
                    return packed[name].unpack(data).reshape(buffer.shape)
                return data.reshape(buffer.shape).copy()

            weights = {b.name: stored(b.name) for b in module.buffers if b.role == "weight"}
            constants = {op.result.name: op for op in compiled.graph.const_ops()}
            bound = {}
            for value_name, buffer_name in dict(entry["constants_in_object"]).items():
                op = constants[value_name]
                bound[value_name] = weights[buffer_name].reshape(op.result.type.shape)
            compiled.graph.bind_weights(bound)
            compiled.executable = TiledCpuExecutable(program, weights, tuple(str(n) for n in entry["input_buffers"]),
                                                     compiled.graph, object_code=bytes(members[_OBJECT]))
            compiled.partition = dict(entry["partition"])
        except ArtifactError:
            raise
        except MoeccError as err:
            remedy, err.remedy = err.remedy, None
            raise ArtifactError(f"'{path}' holds an invalid tiled cpu program: {err.add_context()}",
                                remedy=remedy or "recompile the model") from None
        except (KeyError, TypeError, ValueError, OSError) as exc:
            raise ArtifactError(f"'{path}': tiled cpu part is corrupt ({type(exc).__name__}: {exc})",
                                remedy="recompile the model") from None

    def constants_stored_elsewhere(self, entry: Mapping[str, Any] | None) -> frozenset[str]:
        if entry is None:
            return frozenset()
        return frozenset(entry.get("constants_in_object", {}))

