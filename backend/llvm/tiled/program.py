"""A tiled module compiled to machine code, and running it over numpy arenas.

:func:`compile_tiled_module` builds the LLVM module (:mod:`moecc.backend.llvm.tiled.codegen`),
links the packed sgemm and JIT-compiles it at O3 for the host. :meth:`TiledCpuProgram.run`
walks the schedule: machine-code segments, and host calls run on the reference interpreter
(``run_graph``) reading and writing the heap in place, as the kernel-IR runtime does for its
host steps. A fault recorded by the code becomes an error naming the kernel, the statement,
its ONNX nodes, the value and the valid range: :class:`~moecc.ir.ops.indexing.IndexRangeError`
for a row index (worded for the graph op by ``index_out_of_range`` when the graph is known),
:class:`~moecc.errors.InputError` for a run-time loop count.
"""

from __future__ import annotations

import ctypes
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from moecc.backend.llvm.cpu_target import CpuTarget, host_cpu_target
from moecc.backend.llvm.jit import JitModule
from moecc.backend.llvm.host_runtime import aligned_zeros, track_pool
from moecc.backend.llvm.tiled.codegen import SEGMENT_PREFIX, BuiltModule, build_tiled_module
from moecc.backend.llvm.tiled.kernel import FAULT_INDEX, FAULT_SYMBOLS
from moecc.errors import InputError, MoeccError
from moecc.ir.tiled.nodes import HostCall, TiledModule, walk
from moecc.ir.types import DType

_SEGMENT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)


def _jit(built: BuiltModule, target: CpuTarget) -> JitModule:
    import llvmlite.binding as llvm

    from moecc.backend.llvm.jit import compile_module
    from moecc.backend.llvm.matmul import PREPACK_SYMBOL, WORKSPACE_SYMBOL, compiled_sgemm

    sgemm_jit, _ = compiled_sgemm(target)
    # MCJIT resolves the external sgemm through LLVM's symbol table: the blocked GEMM is
    # compiled once per process, not into every model's module.
    for symbol in (WORKSPACE_SYMBOL, PREPACK_SYMBOL):
        llvm.add_symbol(symbol, sgemm_jit.address(symbol))
    return compile_module(built.llvm_module, target)


@dataclass(slots=True)
class TiledCpuProgram:
    """A compiled tiled module. ``host_calls_run`` counts host calls run so far (the report)."""

    module: TiledModule
    built: BuiltModule
    jit: JitModule
    llvm_ir: str
    cpu_target: CpuTarget
    threads: int = 1
    host_calls_run: int = 0
    _segments: dict[int, Any] = field(default_factory=dict)
    _cells: dict[str, Any] = field(default_factory=dict)

    @property
    def heap_bytes(self) -> int:
        return self.built.heap.heap_bytes

    @property
    def scratch_bytes(self) -> int:
        return self.built.scratch.total_bytes

    @property
    def host_calls(self) -> tuple[HostCall, ...]:
        return tuple(item for item in self.built.schedule if isinstance(item, HostCall))

    def set_threads(self, threads: int) -> None:
        """Run on ``threads`` threads: the caller and ``threads - 1`` workers of the module's
        pool, which split matmuls of at least a million flops by columns (or rows), every
        element summing over k in the same order, and run ``parallel`` loops (a sparse MoE
        layer's experts) as ranges of iterations adding into private copies of their
        accumulators, added up in a fixed order afterwards
        (:mod:`moecc.backend.llvm.tiled.parallel`): the same bits run to run; against another
        thread count only those sums may group differently."""
        from moecc.backend.llvm.thread_pool import MAX_THREADS, SET_THREADS_SYMBOL

        if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_THREADS:
            raise MoeccError(f"threads must be an integer from 1 to {MAX_THREADS}, not {threads!r}",
                             remedy=f"pass threads between 1 and {MAX_THREADS}")
        setter = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int32)(self.jit.address(SET_THREADS_SYMBOL))
        if setter(threads) != 0:
            setter(1)
            threads = 1
            raise MoeccError("the thread pool could not start its worker threads",
                             remedy="run with fewer threads (the system refused more)")
        self.threads = threads
        track_pool(self.jit, setter, threads)

    # arenas

    def new_heap(self) -> np.ndarray:
        return aligned_zeros(self.heap_bytes)

    def new_scratch(self) -> np.ndarray:
        return aligned_zeros(self.scratch_bytes)

    def view(self, heap: np.ndarray, name: str) -> np.ndarray:
        """Global buffer ``name`` as a flat array over the heap (no copy)."""
        buf = self.module.buffer(name)
        start = self.built.heap.offsets[name]
        return heap[start:start + buf.elements * buf.dtype.itemsize].view(buf.dtype.numpy)

    def write(self, heap: np.ndarray, name: str, value: np.ndarray) -> None:
        buf = self.module.buffer(name)
        data = np.asarray(value)
        if data.size != buf.elements:
            raise InputError(f"buffer '{name}' is {buf.dtype}{list(buf.shape)} ({buf.elements} elements), the data "
                             f"has shape {list(data.shape)}", remedy="pass data of the buffer's element count")
        packed = self.built.packed_weights.get(name)
        if packed is not None:  # stored in the sgemm's layout (packed_weights)
            self.view(heap, name)[:] = packed.pack(data)
            return
        self.view(heap, name)[:] = data.astype(buf.dtype.numpy, copy=False).reshape(-1)

    def read(self, heap: np.ndarray, name: str) -> np.ndarray:
        packed = self.built.packed_weights.get(name)
        flat = self.view(heap, name) if packed is None else packed.unpack(self.view(heap, name))
        return flat.reshape(self.module.buffer(name).shape).copy()

    # running

    def run(self, heap: np.ndarray, scratch: np.ndarray, graph: Any = None) -> None:
        """Run every step in order over the arenas; raise the first fault as an error."""
        for item in self.built.schedule:
            self._run_item(item, heap, scratch, graph)

    def _run_item(self, item: int | HostCall, heap: np.ndarray, scratch: np.ndarray, graph: Any) -> None:
        from moecc.ir.interpreter import run_graph

        if isinstance(item, HostCall):
            for name in self.built.host_zero.get(item.name, ()):
                self.view(heap, name)[:] = 0
            args = {value.name: self.read(heap, name) for name, value in zip(item.inputs, item.graph.inputs)}
            try:
                results = run_graph(item.graph, args)
            except MoeccError as err:
                raise err.add_context(location=f"host call @{item.name}") from None
            for name, out in zip(item.outputs, item.graph.output_names):
                self.write(heap, name, np.asarray(results[out]))
            self.host_calls_run += 1
            return
        self._cell("code", ctypes.c_int32).value = 0
        fn = self._segments.get(item)
        if fn is None:
            fn = self._segments[item] = _SEGMENT(self.jit.address(f"{SEGMENT_PREFIX}{item}"))
        fn(heap.ctypes.data, scratch.ctypes.data)
        if self._cell("code", ctypes.c_int32).value:
            raise self._fault(graph)

    def profile(self, heap: np.ndarray, scratch: np.ndarray, repeats: int = 5) -> list[tuple[str, float]]:
        """Median seconds of every segment (a kernel, when compiled ``segment_per_kernel``) and
        host call over ``repeats`` runs, in schedule order."""
        import time

        samples: list[list[float]] = [[] for _ in self.built.schedule]
        kernels = iter(self.module.kernels)
        names = [f"host @{item.name}" if isinstance(item, HostCall) else "" for item in self.built.schedule]
        names = [name or f"@{next(kernels).name}" for name in names]
        for _ in range(repeats):
            for position, item in enumerate(self.built.schedule):
                start = time.perf_counter()
                self._run_item(item, heap, scratch, None)
                samples[position].append(time.perf_counter() - start)
        return [(name, sorted(times)[len(times) // 2]) for name, times in zip(names, samples)]

    def _cell(self, name: str, ctype: Any) -> Any:
        cell = self._cells.get(name)
        if cell is None:  # (looking the address up costs microseconds: once per program)
            cell = self._cells[name] = ctype.from_address(self.jit.engine.get_global_value_address(FAULT_SYMBOLS[name]))
        return cell

    def _fault(self, graph: Any) -> MoeccError:
        from moecc.ir.ops.indexing import INDEXING_KINDS, IndexRangeError, index_out_of_range
        from moecc.ir.tiled.printer import format_statement

        code = self._cell("code", ctypes.c_int32).value
        value = self._cell("value", ctypes.c_int64).value
        bound = self._cell("bound", ctypes.c_int64).value
        kernel = self.module.kernels[self._cell("kernel", ctypes.c_int32).value]
        number = self._cell("statement", ctypes.c_int32).value
        stmt = next(s for i, s, _ in walk(kernel.body) if i == number)
        nodes = ", ".join(f"'{s}'" for s in kernel.sources) or "no ONNX node"
        where = f"kernel @{kernel.name} (ONNX node {nodes}), statement {number} `{format_statement(stmt)}`"
        if code == FAULT_INDEX:
            ops = [op for op in (graph.ops if graph is not None else ())
                   if op.source in kernel.sources and op.kind in INDEXING_KINDS]
            if ops:
                return index_out_of_range(ops[0], value, bound).add_context(location=where)
            return IndexRangeError(f"row index {value} is out of range [{-bound}, {bound})", index=value, size=bound,
                                   location=where, node=kernel.sources[0] if kernel.sources else None,
                                   remedy="give indices within the indexed axis (negative ones count from its end)")
        return InputError(f"run-time loop count {value} is out of range [0, {bound}]", location=where,
                          remedy="the loop's declared max bounds every count it may read")


def interpreted_op_counts(module: TiledModule) -> dict[str, int]:
    """Op kind -> count of the graph ops ``module``'s host calls run on the reference interpreter."""
    counts: dict[str, int] = {}
    for step in module.steps:
        if isinstance(step, HostCall):
            for op in step.graph.ops:
                if not op.is_const:
                    counts[op.kind] = counts.get(op.kind, 0) + 1
    return dict(sorted(counts.items()))


def scalar_weights(module: TiledModule, weights: Mapping[str, np.ndarray]) -> dict[str, float | int | bool]:
    """Value of every one-element weight buffer ``weights`` holds, in the buffer's dtype."""
    out: dict[str, float | int | bool] = {}
    for buf in module.buffers:
        data = weights.get(buf.name)
        if buf.role == "weight" and buf.elements == 1 and data is not None and np.asarray(data).size == 1:
            value = np.asarray(data).astype(buf.dtype.numpy).reshape(-1)[0]
            out[buf.name] = bool(value) if buf.dtype == DType.BOOL else (
                float(np.float32(value)) if buf.dtype.is_float else int(value))
    return out


def compile_tiled_module(module: TiledModule, target: CpuTarget | None = None, reuse_temps: bool = True,
                         segment_per_kernel: bool = False,
                         weights: Mapping[str, np.ndarray] | None = None) -> TiledCpuProgram:
    """Verify ``module``, emit it as one LLVM module and JIT-compile it for ``target`` (the
    host). ``segment_per_kernel`` makes every kernel a segment of its own (for
    :meth:`TiledCpuProgram.profile`); ``weights`` (the data the weight buffers will hold) lets
    one-element weights become constants in the code (an exponent of 2 becomes ``x*x``), and
    packed weights with all-zero runs of rows skip them (:data:`~moecc.backend.llvm.matmul.B_PREPACKED_SPARSE`)."""
    from moecc.backend.llvm.jit import module_text
    from moecc.ir.tiled import verify_tiled_module

    verify_tiled_module(module)
    target = target or host_cpu_target()
    scalars = scalar_weights(module, weights or {})
    built = build_tiled_module(module, target, reuse_temps, segment_per_kernel, scalars, weights)
    text = module_text(built.llvm_module, target)
    jit = _jit(built, target)
    return TiledCpuProgram(module, built, jit, text, target)


def run_tiled_on_cpu(module: TiledModule, inputs: Mapping[str, np.ndarray],
                     program: TiledCpuProgram | None = None) -> dict[str, np.ndarray]:
    """``run_tiled_module``'s counterpart on machine code: outputs by name, shaped."""
    program = program or compile_tiled_module(module)
    heap, scratch = program.new_heap(), program.new_scratch()
    for name, value in inputs.items():
        program.write(heap, name, value)
    program.run(heap, scratch)
    return {name: program.read(heap, name) for name in module.outputs}


__all__ = ["TiledCpuProgram", "compile_tiled_module", "interpreted_op_counts", "run_tiled_on_cpu"]
