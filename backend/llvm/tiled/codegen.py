"""A whole tiled module as one LLVM module, JIT-compiled.

Layout (:mod:`moecc.backend.llvm.tiled.memory`): global buffers in one heap arena, kernel
locals, matmul staging and the sgemm panels in a scratch arena. Each kernel is an internal
function (:mod:`moecc.backend.llvm.tiled.kernel`); the kernels between two host calls form a
*segment*, ``void moecc_tiled_segment_<i>(i8* heap, i8* scratch)``, which calls them in order
and stops at the first fault. Host calls run on the reference interpreter between segments
(:mod:`moecc.backend.llvm.tiled.program`). ``moecc_sgemm_ws`` is resolved to the process's
compiled packed sgemm, as the kernel-IR back end does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from llvmlite import ir

from moecc.backend.llvm.cpu_target import CpuTarget, host_cpu_target
from moecc.backend.llvm.loop_builder import I8_PTR, I32
from moecc.backend.llvm.thread_pool import add_thread_pool
from moecc.backend.llvm.tiled.kernel import FaultCells, KernelEmitter
from moecc.backend.llvm.tiled.matmul_call import MatmulEmitter
from moecc.backend.llvm.tiled.memory import HeapPlan, ScratchPlan, first_reads, plan_heap, plan_scratch, step_buffers
from moecc.backend.llvm.tiled.packed_weights import PackedWeight, plan_packed_weights
from moecc.ir.tiled.nodes import HostCall, Kernel, TiledModule
from moecc.ir.types import DType

SEGMENT_PREFIX = "moecc_tiled_segment_"


@dataclass(frozen=True, slots=True)
class BuiltModule:
    """The LLVM module and what the runtime needs to drive it."""

    llvm_module: ir.Module
    heap: HeapPlan
    scratch: ScratchPlan
    schedule: tuple[int | HostCall, ...]  # segment numbers and host calls, in order
    host_zero: dict[str, tuple[str, ...]]  # host call -> buffers to zero before it
    sgemm_calls: int
    staged_matmuls: int
    integer_matmuls: int
    dot_matmuls: int
    #: weights the heap holds in the sgemm's packed layout (:mod:`.packed_weights`)
    packed_weights: Mapping[str, PackedWeight] = dataclasses.field(default_factory=dict)


def _symbol(index: int, name: str) -> str:
    return f"moecc_tiled_k{index}_" + "".join(c if c.isalnum() or c == "_" else "_" for c in name)


def tiled_schedule(module: TiledModule, segment_per_kernel: bool = False
                   ) -> tuple[tuple[int | HostCall, ...], dict[str, tuple[str, ...]], list[int]]:
    """The run order (segment numbers and host calls), the buffers to zero before each host
    call (those nothing wrote yet) and the segment of every kernel: the kernels between two
    host calls form a segment (each kernel one with ``segment_per_kernel``)."""
    seen = {b.name for b in module.buffers if b.role in ("input", "weight")}
    schedule: list[int | HostCall] = []
    host_zero: dict[str, tuple[str, ...]] = {}
    segment_of: list[int] = []
    segments = 0
    open_segment = False
    for step in module.steps:
        if isinstance(step, HostCall):
            if open_segment:
                segments += 1
                open_segment = False
            host_zero[step.name] = tuple(n for n in step.inputs if n not in seen)
            seen.update(step.inputs, step.outputs)
            schedule.append(step)
            continue
        assert isinstance(step, Kernel)
        seen.update(step_buffers(step))  # globals only matter: a host call names no kernel local
        if not open_segment:
            schedule.append(segments)
            open_segment = True
        segment_of.append(segments)
        if segment_per_kernel:
            segments += 1
            open_segment = False
    return tuple(schedule), host_zero, segment_of


def build_tiled_module(module: TiledModule, target: CpuTarget | None = None, reuse_temps: bool = True,
                       segment_per_kernel: bool = False,
                       scalars: Mapping[str, float | int | bool] | None = None,
                       weight_data: Mapping[str, np.ndarray] | None = None) -> BuiltModule:
    """Emit every kernel of ``module`` and the segment functions into one LLVM module
    (``segment_per_kernel``: one segment each, so that a profile can time kernels apart;
    ``scalars``: values of one-element weight buffers, folded into expressions as constants;
    ``weight_data``: the weights' values, from which packed weights with enough all-zero row
    groups are multiplied skipping them)."""
    target = target or host_cpu_target()
    heap = plan_heap(module, reuse_temps)
    scratch = plan_scratch(module, target)
    llvm_module = ir.Module(name="moecc_tiled")
    faults = FaultCells.declare(llvm_module)
    # The pool's workers get scratch arenas of the module's size (their locals and panels).
    pool = add_thread_pool(llvm_module, scratch.total_bytes)
    weights = {b.name: b.elements for b in module.buffers if b.role == "weight" and b.dtype == DType.F32}
    packed = plan_packed_weights(module, target, weight_data)
    matmul = MatmulEmitter(llvm_module, scratch, target, pool, weights, heap.heap_bytes, packed)
    globals_ = {b.name: b for b in module.buffers}
    schedule, host_zero, segment_of = tiled_schedule(module, segment_per_kernel)
    segments: list[list[ir.Function]] = [[] for item in schedule if not isinstance(item, HostCall)]
    seen = {b.name for b in module.buffers if b.role in ("input", "weight")}
    kernel_index = 0
    for step in module.steps:
        if isinstance(step, HostCall):
            seen.update(step.inputs, step.outputs)
            continue
        assert isinstance(step, Kernel)
        dtypes = {name: b.dtype for name, b in globals_.items()}
        dtypes.update({b.name: b.dtype for b in step.buffers})
        # Base pointers only for the globals this kernel names.
        places = {name: ("heap", heap.offsets[name]) for name in step_buffers(step) if name in globals_}
        locals_ = scratch.local_offsets[step.name]
        places.update({name: ("scratch", offset) for name, offset in locals_.items()})
        sizes = {b.name: b.elements * b.dtype.itemsize for b in (*module.buffers, *step.buffers)}
        zero = {name: sizes[name] for name in first_reads(step, seen)}
        emitter = KernelEmitter(llvm_module, step, kernel_index, _symbol(kernel_index, step.name), faults, dtypes,
                                places, zero, matmul, scalars, sizes)
        segments[segment_of[kernel_index]].append(emitter.emit())
        kernel_index += 1

    for number, functions in enumerate(segments):
        fn = ir.Function(llvm_module, ir.FunctionType(ir.VoidType(), [I8_PTR, I8_PTR]), name=f"{SEGMENT_PREFIX}{number}")
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        done = fn.append_basic_block("done")
        for callee in functions:
            b.call(callee, fn.args)
            ok = fn.append_basic_block("next")
            b.cbranch(b.icmp_signed("!=", b.load(faults.code), ir.Constant(I32, 0)), done, ok)
            b.position_at_end(ok)
        b.branch(done)
        b.position_at_end(done)
        b.ret_void()
    if matmul.pack_bytes:  # the prepacked weights' areas, after the planned buffers
        heap = dataclasses.replace(heap, heap_bytes=matmul.heap_bytes + matmul.pack_bytes)
    return BuiltModule(llvm_module, heap, scratch, schedule, host_zero, matmul.calls, matmul.staged, matmul.loops,
                       matmul.dots, packed)


__all__ = ["SEGMENT_PREFIX", "BuiltModule", "build_tiled_module", "tiled_schedule"]
