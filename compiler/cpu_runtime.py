"""Runtime of the ``cpu`` target: kernels as LLVM machine code, CPU steps on the host.

Last stage of the CPU flow. The model is lowered to the same kernel IR as for the ASIC (tiled
for the host's caches, :func:`moecc.backend.llvm.cpu_target.tiling_target`), memory-planned,
and compiled by :mod:`moecc.backend.llvm.codegen` into one module: a function per kernel and
per CPU step (graph ops no kernel-IR rule covers, emitted by
:mod:`moecc.backend.llvm.graph_ops`), and sequences calling them in order. A run lays weights
and inputs into one heap image at their planned offsets (the same layout the ASIC's HBM image
has) and makes one call into the machine code for the whole model. A step holding an op
without an emitter (none today) would split the sequence and run on the reference
interpreter in between (``compiled.partition["interpreter_ops"]`` lists those ops).

The heap holds every value in its own graph dtype (the CPU's storage dtypes,
:func:`~moecc.backend.llvm.cpu_target.tiling_target`: i64 as i64, bool as one byte 0/1), so
inputs and outputs are copied without narrowing; ops on dtypes kernels do not work in are CPU
steps. An index out of range stops the run with the error naming the node, the input, the
value and the valid range (:func:`~moecc.ir.ops.indexing.index_out_of_range`), as on the
other targets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from moecc.asic_runtime import StagedExecutable
from moecc.errors import SimulationError
from moecc.ir.kernel import CpuCall
from moecc.ir.ops.indexing import IndexRangeError, index_out_of_range


@dataclass(slots=True)
class CpuExecutable(StagedExecutable):
    """Everything needed to run a model as JIT-compiled CPU code."""

    program: Any = None  # backend.llvm.codegen.CpuProgram
    _heap: np.ndarray | None = None
    _scratch: np.ndarray | None = None

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run on inputs keyed by graph input value name; outputs keyed by ONNX output name.

        The heap keeps the weights between runs (they are written once): every other HBM
        buffer is written by a kernel or CPU step before anything reads it, so only the
        inputs are copied in per run."""
        if self._heap is None:
            self._heap = self.initial_image(feeds)
            self._scratch = self.program.new_scratch()
        else:
            self.write_inputs(self._heap, feeds)
        ops_by_name = self.ops_by_name()
        try:
            self.program.run(self._heap, self._scratch,
                             cpu_step=lambda call, heap: self.run_cpu_step(call, heap, ops_by_name))
        except IndexRangeError as err:
            op = ops_by_name.get(getattr(err, "op_name", ""))
            if op is None:
                raise
            raise index_out_of_range(op, err.index, err.size).add_context(location=err.location) from None
        except SimulationError as err:
            kernel = getattr(err, "kernel", None)
            diagnosed = self.index_fault([kernel], self._heap) if kernel is not None else None
            if diagnosed is None:
                raise
            raise diagnosed.add_context(location=err.location) from err
        return self.read_outputs(self._heap)


def cpu_report(model: Any) -> dict[str, Any]:
    """The ``cpu`` part of :meth:`CompiledModel.report`: the CPU and its GEMM blocking, threads,
    where the ops run, the arenas, and the wall-clock time of the last run (a run on seeded
    random inputs when there was none yet, and the report says so)."""
    from moecc.asic_runtime import random_inputs
    from moecc.backend.llvm.cpu_target import host_cpu_target

    exe: CpuExecutable = model.executable
    program = exe.program
    if not isinstance(model.last_stats, float):
        model.run({spec.name: array for spec, array in zip(model.inputs, random_inputs(model.graph).values())})
        model.last_stats_source = "seeded random inputs (no run() yet)"
    target = program.cpu_target or host_cpu_target()
    native_steps = sum(1 for step in exe.module.steps
                       if isinstance(step, CpuCall) and step.name in program.kernel_functions)
    return {
        "cpu": target.name,
        "vector_floats": target.vector_floats,
        "caches_bytes": {"l1d": target.l1d_bytes, "l2": target.l2_bytes, "l3": target.l3_bytes},
        "sgemm_blocking": {"mr": target.mr, "nr": target.nr, "mc": target.mc, "kc": target.kc, "nc": target.nc},
        "threads": program.threads,
        "kernels": len(exe.module.kernels),
        "cpu_steps_compiled": native_steps,
        "cpu_steps_interpreted": len(program.host_steps),
        "partition": dict(model.partition),
        "heap_bytes": program.heap_bytes,
        "scratch_bytes_per_thread": program.layout.total_bytes,
        "last_run_ms": round(float(model.last_stats) * 1e3, 3),
        "last_run_source": model.last_stats_source,
    }
