"""The ``asic`` target's host steps as machine code, through the tiled IR.

Where it sits: the ``compile-host-steps`` stage (:mod:`moecc.backend.llvm.stages`) runs after
instruction selection on the ``asic`` target. Each :class:`~moecc.ir.kernel.CpuCall` of the
kernel module (graph ops no ASIC rule covers, between two program segments) becomes a graph of
its own (:func:`~moecc.ir.subgraph.extract_subgraph`), is lowered to the tiled IR with the
host CPU's tiling parameters and compiled as the ``cpu`` target compiles a whole model
(:func:`~moecc.backend.llvm.tiled.program.compile_tiled_module`). So a host step has the same
code, numerics and index checks as that op on ``cpu``; an op the tiled lowering leaves to a host
call runs there on the reference interpreter, and :func:`interpreter_ops` counts it.

:class:`HostStepProgram` works on graph values (name -> array in its graph dtype); the runtime
(:meth:`moecc.asic_runtime.StagedExecutable.run_cpu_step`) reads them from and writes them to
the HBM image in the storage dtypes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from moecc.backend.llvm.tiled.executable import TiledCpuExecutable
from moecc.backend.llvm.tiled.program import interpreted_op_counts
from moecc.ir.graph import Graph, Value
from moecc.ir.kernel import CpuCall, KernelModule
from moecc.ir.subgraph import extract_subgraph


@dataclass(slots=True)
class HostStepProgram:
    """One host step compiled: its graph (values named as in the model), the model values it
    reads and the ones it writes, and the compiled tiled module running it."""

    name: str
    graph: Graph
    inputs: tuple[Value, ...]
    outputs: tuple[Value, ...]
    executable: TiledCpuExecutable = field(repr=False)

    def run(self, values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Outputs by value name, from the inputs by value name."""
        names = [v.name for v in self.graph.inputs]
        return self.executable.run(values, names, [v.name for v in self.outputs])


def compile_host_step(call: CpuCall, graph: Graph, value_buffers: Mapping[str, str]) -> HostStepProgram:
    """``call``'s ops (by result name in ``graph``) as a compiled program writing the results
    the step stores to HBM (``call.outputs``, through ``value_buffers``)."""
    from moecc.backend.llvm.cpu_target import host_cpu_target
    from moecc.backend.llvm.tiled.params import cpu_tiling_params
    from moecc.backend.llvm.tiled.program import compile_tiled_module
    from moecc.passes.tiled_lowering.context import TilingParams
    from moecc.passes.tiled_lowering.lower import lower_graph

    ops_by_name = {op.results[0].name: op for op in graph.ops}
    ops = [ops_by_name[name] for name in call.ops]
    stored = set(call.outputs)
    exported = [r for op in ops for r in op.results if value_buffers.get(r.name) in stored] or [ops[0].results[0]]
    sub, inputs = extract_subgraph(call.name, ops, exported)
    machine = host_cpu_target()
    params = cpu_tiling_params(machine)
    lowering = lower_graph(sub, TilingParams(params.tile_rows, params.tile_cols, params.k_tile, params.local_bytes))
    program = compile_tiled_module(lowering.module, machine, weights=lowering.weights)
    executable = TiledCpuExecutable(program, lowering.weights, lowering.input_buffers, sub)
    return HostStepProgram(call.name, sub, tuple(inputs), tuple(exported), executable)


def compile_host_steps(module: KernelModule, graph: Graph, value_buffers: Mapping[str, str]) -> dict[str, HostStepProgram]:
    """One compiled program per host step of ``module``, by step name."""
    return {call.name: compile_host_step(call, graph, value_buffers)
            for call in module.steps if isinstance(call, CpuCall) and call.ops}


def interpreter_ops(steps: Mapping[str, object]) -> dict[str, int]:
    """Op kind -> count of the host steps' ops that run on the reference interpreter."""
    counts: dict[str, int] = {}
    for step in steps.values():
        if isinstance(step, HostStepProgram):
            for kind, n in interpreted_op_counts(step.executable.module).items():
                counts[kind] = counts.get(kind, 0) + n
    return dict(sorted(counts.items()))


__all__ = ["HostStepProgram", "compile_host_step", "compile_host_steps", "interpreter_ops"]
