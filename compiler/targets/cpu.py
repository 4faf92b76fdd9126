"""The ``cpu`` target: the whole model as machine code for the host CPU, through LLVM.

Pipeline after the graph passes: ``partition``, ``lower-to-kernels`` (tiled for the host's
caches: :func:`moecc.backend.llvm.cpu_target.tiling_target`), ``plan-memory`` (one heap) and
``emit-llvm`` (kernels and host steps in one LLVM module, O3, JIT). ``threads`` sets the native
thread pool's size (results do not depend on it). ``moecc compile --emit obj`` writes the same
code as an ELF object with a C ABI; a ``.moe`` keeps that object, so loading needs no LLVM
code generation.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from moecc.errors import ArtifactError, MoeccError, UnsupportedError
from moecc.ir.graph import ElidedTensor
from moecc.targets.base import CompileTarget, host_ops

if TYPE_CHECKING:
    from moecc.compiled_model import CompiledModel
    from moecc.passes.compilation import Compilation
    from moecc.passes.manager import Pass

_KERNELS = "kernels.kir"
_OBJECT = "kernels.o"


class CpuCompileTarget(CompileTarget):
    name: ClassVar[str] = "cpu"
    description: ClassVar[str] = "the host CPU: the whole model compiled with LLVM into machine code (JIT or an ELF object)"
    option_defaults: ClassVar[Mapping[str, Any]] = {"threads": 1}
    ir_stages: ClassVar[tuple[str, ...]] = ("graph", "kernel", "llvm")
    emit_files: ClassVar[tuple[str, ...]] = ("obj",)

    def check_options(self, given: Mapping[str, Any]) -> dict[str, Any]:
        options = super().check_options(given)
        threads = options["threads"]
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise UnsupportedError(f"threads must be a positive integer, got {threads!r}", remedy="use threads=1 or more")
        return options

    def prepare(self, unit: Compilation) -> None:
        from moecc.backend.llvm.cpu_target import host_cpu_target, tiling_target

        unit.machine = host_cpu_target()
        unit.tiling = tiling_target(unit.machine)

    def stages(self, options: Mapping[str, Any]) -> list[Pass]:
        import moecc.backend.llvm.stages  # noqa: F401  (registers emit-llvm)
        from moecc.passes.manager import parse_pipeline

        return parse_pipeline("partition,lower-to-kernels,plan-memory,emit-llvm")

    def finish(self, compiled: CompiledModel, unit: Compilation) -> None:
        from moecc.backend.llvm.codegen import heap_bytes
        from moecc.cpu_runtime import CpuExecutable
        from moecc.passes.kernel_lowering import graph_flops

        module, plan, part, graph = unit.kernels, unit.memory_plan, unit.partition, unit.graph
        assert module is not None and plan is not None
        program = unit.products["cpu_program"]
        compiled.executable = CpuExecutable(graph, module, unit.weights, unit.value_buffers,
                                            max(plan.hbm_bytes_planned, heap_bytes(module)), program=program)
        compiled.partition = {
            # The lowering's "asic" placement is a kernel here; its "cpu" ops are the CPU steps.
            "ops": {"kernels" if k == "asic" else "cpu_steps": v for k, v in part.counts(graph).items()},
            "flops": {"kernels" if k == "asic" else "cpu_steps" if k == "cpu" else k: v
                      for k, v in graph_flops(graph, part.placement).items()},
            "host_ops": host_ops(graph, part),
            "interpreter_ops": program.interpreter_ops(graph),
        }
        compiled.options["cpu"] = unit.machine.name

    # -- using -------------------------------------------------------------------------
    def run(self, compiled: CompiledModel, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        program = compiled.executable.program
        threads = int(compiled.options.get("threads", 1))
        if program.threads != threads:  # a loaded artifact: the manifest's option
            program.set_threads(threads)
        start = time.perf_counter()
        outputs = compiled.executable.run(feeds)
        compiled.last_stats, compiled.last_stats_source = time.perf_counter() - start, "last run()"
        return outputs

    def report(self, compiled: CompiledModel) -> dict[str, Any]:
        from moecc.cpu_runtime import cpu_report

        report = compiled.graph_report()
        report["cpu"] = cpu_report(compiled)
        return report

    def summary(self, report: Mapping[str, Any]) -> str:
        cpu = report["cpu"]
        blocking = cpu["sgemm_blocking"]
        return super().summary(report) + (
            f"cpu           {cpu['cpu']}, {cpu['vector_floats']} floats/vector, sgemm {blocking['mr']}x{blocking['nr']} "
            f"register tile, {cpu['threads']} thread(s)\n"
            f"code          {cpu['kernels']} kernels, {cpu['cpu_steps_compiled']} CPU steps as LLVM code, "
            f"{cpu['cpu_steps_interpreted']} on the interpreter\n"
            f"memory        heap {cpu['heap_bytes'] / 1024:.1f} KiB, scratch {cpu['scratch_bytes_per_thread'] / 1024:.1f} KiB "
            f"per thread\n"
            f"run time      {cpu['last_run_ms']:.3f} ms ({cpu['last_run_source']})\n")

    def ir_text(self, compiled: CompiledModel, stage: str) -> str:
        if stage == "kernel":
            from moecc.ir.kernel_printer import print_kernel_module

            return print_kernel_module(compiled.executable.module)
        return str(compiled.executable.program.llvm_ir)

    # -- artifacts ---------------------------------------------------------------------
    def save_members(self, compiled: CompiledModel, members: dict[str, bytes]) -> dict[str, Any]:
        """The kernel IR and the machine code of kernels and CPU steps as one relocatable
        object, which also holds the weight image. Graph constants whose bytes the image holds
        as they are are listed in ``constants_in_object`` (left out of ``weights.npz``)."""
        from moecc.asic_runtime import to_hbm
        from moecc.backend.llvm.cpu_target import host_cpu_target
        from moecc.backend.llvm.object_file import executable_object, model_abi
        from moecc.ir.kernel import CpuCall
        from moecc.ir.kernel_printer import print_kernel_module

        exe = compiled.executable
        cpu = host_cpu_target()
        members[_KERNELS] = print_kernel_module(exe.module).encode("utf-8")
        members[_OBJECT] = executable_object(exe, cpu)
        image = model_abi(exe).weight_image
        buffers = {b.name: b for b in exe.module.hbm}
        in_object: dict[str, str] = {}
        for op in compiled.graph.const_ops():
            # Constants missing from value_buffers have HBM buffers of their own name (the bytes are compared below).
            buffer = buffers.get(exe.value_buffers.get(op.result.name, op.result.name))
            value = op.attrs["value"]
            if buffer is None or buffer.role != "weight" or buffer.offset is None or isinstance(value, ElidedTensor):
                continue
            if np.dtype(value.dtype) != np.dtype(buffer.dtype.numpy):
                continue  # converted on the way to the heap: keep the original
            data = to_hbm(value, buffer).tobytes()
            if image[buffer.offset: buffer.offset + len(data)] == data:
                in_object[op.result.name] = buffer.name
        host = {step.name for step in exe.program.host_steps}
        return {
            "cpu": cpu.name,
            "features": cpu.features,
            "hbm_bytes": exe.hbm_bytes,
            "value_buffers": exe.value_buffers,
            "partition": dict(compiled.partition),
            "native_steps": [s.name for s in exe.module.steps if isinstance(s, CpuCall) and s.name not in host],
            "constants_in_object": in_object,
        }

    def constants_stored_elsewhere(self, entry: Mapping[str, Any] | None) -> frozenset[str]:
        return frozenset(entry["constants_in_object"]) if entry is not None else frozenset()

    def load_members(self, compiled: CompiledModel, entry: Mapping[str, Any] | None, members: Mapping[str, bytes],
                     path: Any) -> None:
        """Rebuild the executable from the stored object: no lowering, no LLVM optimisation,
        no code generation. Weights come out of the object's weight image, and so do the graph
        constants it holds as they are."""
        from moecc.asic_runtime import from_hbm
        from moecc.backend.llvm.cpu_target import host_cpu_target
        from moecc.backend.llvm.object_file import program_from_object, weight_image
        from moecc.cpu_runtime import CpuExecutable
        from moecc.ir.kernel import verify_kernel_module
        from moecc.ir.kernel_parser import parse_kernel_module

        try:
            if entry is None:
                raise KeyError("cpu")
            host = host_cpu_target()
            enabled = {f[1:] for f in host.features.split(",") if f.startswith("+")}
            missing = sorted(f[1:] for f in str(entry["features"]).split(",") if f.startswith("+") and f[1:] not in enabled)
            if missing:
                raise ArtifactError(f"'{path}' was compiled for CPU '{entry['cpu']}' with features this CPU "
                                    f"('{host.name}') lacks: {', '.join(missing[:8])}", remedy="recompile the model on this machine")
            module = parse_kernel_module(members[_KERNELS].decode("utf-8"))
            verify_kernel_module(module)
            program = program_from_object(module, members[_OBJECT], host, [str(n) for n in entry["native_steps"]])
            image = np.frombuffer(weight_image(program), dtype=np.uint8)
            buffers = {b.name: b for b in module.hbm}

            def stored(name: str) -> np.ndarray:
                buffer = buffers[name]
                size = buffer.elements * buffer.dtype.itemsize
                if buffer.offset is None or buffer.offset + size > image.size:
                    raise ArtifactError(f"'{path}': weight {name} lies outside the object's weight image",
                                        remedy="recompile the model")
                return image[buffer.offset: buffer.offset + size].view(buffer.dtype.numpy).copy()

            weights = {b.name: stored(b.name) for b in module.hbm if b.role == "weight"}
            constants = {op.result.name: op for op in compiled.graph.const_ops()}
            bound = {}
            for value_name, buffer_name in dict(entry["constants_in_object"]).items():
                op = constants[value_name]
                bound[value_name] = from_hbm(weights[buffer_name], op.result.type.dtype, op.result.type.shape)
            compiled.graph.bind_weights(bound)
            executable = CpuExecutable(compiled.graph, module, weights, dict(entry["value_buffers"]), int(entry["hbm_bytes"]),
                                       program=program)
        except ArtifactError:
            raise
        except MoeccError as err:
            # The inner error's own remedy (e.g. "run it JIT-compiled") beats a generic one.
            remedy, err.remedy = err.remedy, None
            raise ArtifactError(f"'{path}' holds an invalid cpu program: {err.add_context()}",
                                remedy=remedy or "recompile the model") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"'{path}': cpu part is corrupt ({type(exc).__name__}: {exc})",
                                remedy="recompile the model") from None
        compiled.executable = executable
        compiled.partition = dict(entry.get("partition", {}))
