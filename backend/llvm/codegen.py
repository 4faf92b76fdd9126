"""Kernel IR → LLVM IR → machine code: the CPU backend's code generator.

Position in the flow: after memory planning (:func:`moecc.passes.memory_plan.plan_memory`;
every buffer has its byte ``offset``), the planned :class:`~moecc.ir.kernel.KernelModule`
becomes one LLVM module built with llvmlite's IR builder, verified, optimised at O3 for the
host CPU and JIT-compiled. The memory mapping (see :func:`scratch_layout`):

- ``hbm`` buffers live in the **heap** arena, a uint8 numpy array, at their planned offsets;
- ``sram`` and ``acc`` buffers live in the **scratch** arena: SRAM at its planned offsets,
  the accumulator after the highest SRAM byte any kernel uses, then a staging area where
  bf16 matmul operands are widened to f32, then the sgemm's packing panels. Every thread
  has a scratch arena of its own (the caller's is passed in, workers' are the thread pool's).

Each :class:`~moecc.ir.kernel.Kernel` becomes ``void <name>(i8* heap, i8* scratch)``:
``For`` → counted loops (phi induction variables), ``Affine`` offsets → i64 arithmetic,
``Load``/``Store`` → one ``llvm.memcpy`` per row (one in all when rows are contiguous),
``Gather`` → a bounds-checked row copy per index, ``MatMul`` → ``moecc_matmul``, which calls
the blocked ``moecc_sgemm_ws`` (:mod:`moecc.backend.llvm.matmul`) with the thread's packing
panels — a transposed weight is packed transposed, no copy — and splits products of at least
:data:`~moecc.backend.llvm.parallel_matmul.PARALLEL_MIN_FLOPS` into column (or row) chunks over the module's thread pool
(:mod:`moecc.backend.llvm.thread_pool`, sized by :meth:`CpuProgram.set_threads`),
``Vector`` → element loops (:mod:`moecc.backend.llvm.vector_ops`); a run of consecutive
element-wise ``Vector`` statements over one tile shape becomes a single loop computing them
element by element, storing only what is read afterwards (:mod:`moecc.backend.llvm.vector_fusion`,
switch ``FUSE_VECTOR_LOOPS``; the same values bit for bit). Local buffers start
zeroed in every kernel, as in the reference interpreter. CPU steps split the kernels into
segments; ``run_segment_<i>`` runs segment ``i`` and ``run_all`` every kernel in order.
A run-time fault (gather index outside its table, ``nonzero`` overflowing its list) sets
globals and returns; :meth:`CpuProgram.run` turns it into a :class:`SimulationError` naming
the kernel (an index fault of a CPU step into an
:class:`~moecc.ir.ops.indexing.IndexRangeError` with the value), which the cpu runtime
words for the graph op and input (:mod:`moecc.cpu_runtime`).

Parallel loops: a top-level ``For`` whose iterations are independent
(:mod:`moecc.backend.llvm.parallel_loops` proves it from the kernel IR) and that does at least
:data:`PARALLEL_MIN_LOOP_WORK` becomes an outlined *chunk function*
``void <kernel>.loop<i>(i8* heap, i64 begin, i64 end, i8* scratch)``: it repeats the loop's
prologue (the statements before the loop whose local results the loop reads) on its thread's
scratch, then runs iterations ``[begin, end)``. The kernel hands it to ``moecc_parallel_for``
(with one thread the pool calls it once over the whole range: one code path). Matmuls inside
a chunk run on that thread alone (pool regions never nest), so a loop of few iterations with
big matmuls is split only where the iterations divide evenly among the threads; otherwise the
kernel calls the chunk function itself and the matmuls split their columns as before. A fault
in a chunk leaves the chunk and is recorded if its iteration is the lowest so far, so the
kernel reports the fault the sequential loop would have reported (the HBM outputs of later
iterations may have been written by then, which the sequential loop would not have done).

    planned, _ = plan_memory(module, load_target("moe-asic-v1"))
    program = compile_kernel_module(planned)
    heap = program.new_heap({"x": x, "w": w})
    program.run(heap)
    y = program.read(heap, "y")
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from llvmlite import ir

from moecc.backend.llvm.loop_builder import (
    F32,
    I8,
    I8_PTR,
    I32,
    I64,
    counted_loop,
    element_pointer,
    i64,
    load_element,
)
from moecc.backend.llvm.copy_elision import (
    Effects,
    Region,
    covers,
    effects,
    local_region,
    may_read_later,
    overlaps,
    writes_anywhere,
)
from moecc.backend.llvm import parallel_matmul
from moecc.backend.llvm.host_runtime import ARENA_ALIGNMENT, aligned_zeros, track_pool
from moecc.backend.llvm.parallel_loops import ParallelLoop, analyse_loops
from moecc.backend.llvm.thread_pool import CHUNK_FUNCTION, MAX_THREADS, SET_THREADS_SYMBOL, ThreadPool, add_thread_pool
from moecc.backend.llvm.vector_fusion import FusedRun, emit_run, plan_run
from moecc.backend.llvm.vector_ops import emit_vector
from moecc.errors import InputError, MoeccError, SimulationError, UnsupportedError, VerificationError
from moecc.ir.kernel import (
    Affine,
    Buffer,
    CpuCall,
    For,
    Gather,
    HbmRef,
    Kernel,
    KernelModule,
    Load,
    LocalRef,
    MatMul,
    Stmt,
    Store,
    VECTOR_OPS,
    Vector,
    verify_kernel_module,
    walk,
)
from moecc.ir.types import DType

if TYPE_CHECKING:
    from moecc.backend.llvm.cpu_target import CpuTarget

#: Run-time fault codes stored in ``@moecc_fault_code``.
FAULT_CODES: dict[str, int] = {"gather-index": 1, "nonzero-overflow": 2, "cpu-step-index": 3}
#: Clear every kernel's local buffers on entry, as the reference interpreter does. Off: the
#: lowering writes every tile before reading it (the ASIC's SRAM is never cleared between
#: kernels either, and the simulator matches the reference), and clearing costs a memset of
#: each kernel's whole working set per call. Tests switch it on to compare with the interpreter.
ZERO_LOCAL_BUFFERS = False
#: Leave tile copies (HBM loads, ``vpu.mov``) pending and read their sources in place
#: (:mod:`moecc.backend.llvm.copy_elision`). Off: every copy is performed where it stands, as the
#: ASIC does; tests compare the two.
ELIDE_COPIES = True
#: Top-level loops doing at least this much work (:attr:`ParallelLoop.work`, element operations
#: of about a nanosecond each on one core) run their iterations across the pool's threads.
#: Handing a loop to the pool costs about a microsecond (two when a worker has to be woken),
#: and every chunk repeats the loop's prologue; at 16k element operations (~10 us on one core)
#: a second thread saves several times what the hand-off costs.
PARALLEL_MIN_LOOP_WORK = 16_384
#: Split independent top-level loops across threads (see the module docstring). Off: every
#: loop runs in place on the calling thread, as before; tests compare the two.
PARALLEL_LOOPS = True
#: Prefix of the sequence entry points (``run_all``, ``run_segment_<i>``) in an object file
#: (:mod:`moecc.backend.llvm.object_file`), where every exported symbol starts with ``moecc_``.
ENTRY_PREFIX_OBJECT = "moecc_"
_F32_PTR = F32.as_pointer()

#: A host step on the heap image: reads its inputs from and writes its outputs to ``heap``.
CpuStepOnHeap = Callable[[CpuCall, np.ndarray], None]


def _align(value: int) -> int:
    return -(-value // ARENA_ALIGNMENT) * ARENA_ALIGNMENT


# -- the memory mapping ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ScratchLayout:
    """Where the kernels' local memories sit in a scratch arena (byte offsets); every thread's
    arena has this layout."""

    sram_bytes: int
    acc_base: int
    acc_bytes: int
    staging_base: int
    staging_bytes: int
    panel_a_base: int = 0
    panel_b_base: int = 0
    panel_b_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        return self.panel_b_base + self.panel_b_bytes

    def offset_of(self, buffer: Buffer) -> int:
        """Scratch byte offset of a planned SRAM/acc buffer."""
        if buffer.offset is None:
            raise VerificationError(f"local buffer {buffer.name} has no offset",
                                    remedy="run passes.memory_plan.plan_memory before the CPU code generator")
        return buffer.offset + (self.acc_base if buffer.space == "acc" else 0)


def scratch_layout(module: KernelModule, cpu_target: CpuTarget | None = None) -> ScratchLayout:
    """The scratch arena's layout: SRAM at its planned offsets from 0, the accumulator from the
    first aligned byte after the highest SRAM byte any kernel uses, then matmul staging (f32
    copies of bf16 operands, sized for the largest such matmul), then the sgemm's A and B
    packing panels (sized for the largest matmul, :func:`~moecc.backend.llvm.matmul.panel_floats`)."""
    from moecc.backend.llvm.cpu_target import host_cpu_target
    from moecc.backend.llvm.matmul import panel_floats

    target = cpu_target or host_cpu_target()
    ends = {"sram": 0, "acc": 0}
    staging = panel_a = panel_b = 0
    for kernel in module.kernels:
        for buf in kernel.buffers:
            if buf.offset is None:
                raise VerificationError(f"kernel {kernel.name}: buffer {buf.name} has no offset",
                                        remedy="run passes.memory_plan.plan_memory before the CPU code generator")
            ends[buf.space] = max(ends[buf.space], buf.offset + buf.nbytes)
        for stmt, _ in walk(kernel.body):
            if isinstance(stmt, MatMul):
                staging = max(staging, _staging_bytes(stmt))
                k, n = stmt.w_shape
                floats_a, floats_b = panel_floats(target, stmt.a.rows, n, k)
                panel_a, panel_b = max(panel_a, floats_a * 4), max(panel_b, floats_b * 4)
    acc_base = _align(ends["sram"])
    staging_base = _align(acc_base + ends["acc"])
    panel_a_base = staging_base + _align(staging)
    panel_b_base = panel_a_base + _align(panel_a)
    return ScratchLayout(ends["sram"], acc_base, ends["acc"], staging_base, _align(staging),
                         panel_a_base, panel_b_base, _align(panel_b))


def _staging_bytes(stmt: MatMul) -> int:
    if stmt.dtype == DType.F32:
        return 0  # f32 operands go to the sgemm as they are (a transposed weight too)
    k, n = stmt.w_shape
    return _align(stmt.a.rows * stmt.a.cols * 4) + k * n * 4


def heap_bytes(module: KernelModule) -> int:
    """Bytes of the heap arena: up to the end of the last planned HBM buffer."""
    end = 0
    for buf in module.hbm:
        if buf.offset is None:
            raise VerificationError(f"HBM buffer {buf.name} has no offset",
                                    remedy="run passes.memory_plan.plan_memory before the CPU code generator")
        end = max(end, buf.offset + buf.nbytes)
    return _align(end)


# -- the compiled program -------------------------------------------------------------------

@dataclass(slots=True)
class CpuProgram:
    """A kernel module compiled to machine code, run over numpy arenas.

    ``segments[i]`` names the functions of the ``i``-th run of consecutive kernels and native
    CPU steps; ``schedule`` interleaves segment numbers with the CPU steps left to the host
    between them (none when every step compiled: one segment). ``kernel_functions`` maps
    kernel and native step names to their symbols."""

    module: KernelModule
    layout: ScratchLayout
    heap_bytes: int
    llvm_ir: str
    segments: tuple[tuple[str, ...], ...]
    schedule: tuple[int | CpuCall, ...]
    kernel_functions: dict[str, str]
    _jit: Any = None
    entry_prefix: str = ""
    _entry_points: dict[str, Any] = field(default_factory=dict)
    cpu_target: Any = None  # the CpuTarget the code was compiled for (None: the host)
    threads: int = 1

    # what runs where

    @property
    def host_steps(self) -> tuple[CpuCall, ...]:
        """The CPU steps not compiled into the program (run by :meth:`run`'s ``cpu_step``)."""
        return tuple(item for item in self.schedule if isinstance(item, CpuCall))

    def interpreter_ops(self, graph: Any) -> dict[str, int]:
        """Op kinds (with counts) of the host steps, which run on the reference interpreter."""
        ops_by_name = {op.results[0].name: op for op in graph.ops}
        counts: dict[str, int] = {}
        for call in self.host_steps:
            for name in call.ops:
                kind = ops_by_name[name].kind
                counts[kind] = counts.get(kind, 0) + 1
        return counts

    # threads

    def set_threads(self, threads: int) -> None:
        """Run on ``threads`` threads: the caller plus ``threads - 1`` native workers of the
        program's pool, which split matmuls of at least :data:`~moecc.backend.llvm.parallel_matmul.PARALLEL_MIN_FLOPS` by columns
        (or rows) and the iterations of independent loops of at least
        :data:`PARALLEL_MIN_LOOP_WORK`. 1: single-threaded (the workers are stopped).

        Results do not depend on ``threads``: every output element sums over K in the same
        order, and a loop's iterations compute the same values on any thread."""
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            raise MoeccError(f"threads must be a positive integer, not {threads!r}", remedy="pass threads=1 or more")
        if threads > MAX_THREADS:
            raise MoeccError(f"threads={threads} is more than the {MAX_THREADS} a program can use",
                             remedy=f"pass threads between 1 and {MAX_THREADS}")
        setter = self._pool_setter()
        if setter is None:
            if threads == 1:
                return
            raise UnsupportedError(f"this program has no thread pool ({SET_THREADS_SYMBOL} is missing), so it "
                                   f"cannot run on {threads} threads",
                                   remedy="recompile the model with this moecc to run it with threads > 1")
        self.threads = threads
        self._apply_threads(setter)

    def _pool_setter(self) -> Any:
        if "set_threads" not in self._entry_points:
            try:
                address = self._jit.address(SET_THREADS_SYMBOL)
            except MoeccError:
                address = 0
            self._entry_points["set_threads"] = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int32)(address) \
                if address else None
        return self._entry_points["set_threads"]

    def _apply_threads(self, setter: Any) -> None:
        """Size the pool for this program (programs of the same module text share one engine,
        and so one pool, which another program may have resized)."""
        if setter(self.threads) != 0:
            setter(1)
            self.threads = 1
            track_pool(self._jit, setter, 1)
            raise MoeccError("the thread pool could not start its worker threads",
                             remedy="run with fewer threads (the system refused more)")
        track_pool(self._jit, setter, self.threads)

    # arenas

    def new_heap(self, values: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """A zeroed heap arena with ``values`` (HBM buffer name -> array of its element count)
        written at their planned offsets in the buffers' dtypes."""
        heap = aligned_zeros(self.heap_bytes)
        for name, value in (values or {}).items():
            self.write(heap, name, value)
        return heap

    def new_scratch(self) -> np.ndarray:
        return aligned_zeros(self.layout.total_bytes)

    def _buffer(self, name: str) -> Buffer:
        try:
            return self.module.hbm_buffer(name)
        except KeyError:
            raise InputError(f"no HBM buffer '{name}'",
                             remedy="the module's HBM buffers are " + ", ".join(b.name for b in self.module.hbm)) from None

    def write(self, heap: np.ndarray, name: str, value: np.ndarray) -> None:
        buf = self._buffer(name)
        data = np.ascontiguousarray(np.asarray(value).astype(buf.dtype.numpy).reshape(-1))
        if data.size != buf.elements:
            raise InputError(f"HBM buffer '{name}' holds {buf.elements} elements, data has {data.size}")
        assert buf.offset is not None  # checked by heap_bytes at compile time
        heap[buf.offset:buf.offset + buf.nbytes] = data.view(np.uint8)

    def read(self, heap: np.ndarray, name: str) -> np.ndarray:
        """A flat copy of HBM buffer ``name`` in its dtype."""
        buf = self._buffer(name)
        assert buf.offset is not None
        return heap[buf.offset:buf.offset + buf.nbytes].view(buf.dtype.numpy).copy()

    # running

    def _entry(self, name: str) -> Any:
        fn = self._entry_points.get(name)
        if fn is None:
            fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)(self._jit.address(self.entry_prefix + name))
            self._entry_points[name] = fn
        return fn

    def _arena_pointers(self, heap: np.ndarray, scratch: np.ndarray | None) -> tuple[int, int, np.ndarray]:
        for what, arena, size in (("heap", heap, self.heap_bytes), ("scratch", scratch, self.layout.total_bytes)):
            if arena is None:
                continue
            if not isinstance(arena, np.ndarray) or arena.dtype != np.uint8 or not arena.flags.c_contiguous \
                    or not arena.flags.writeable or arena.size < size:
                raise InputError(f"{what} arena must be a writable contiguous uint8 array of at least {size} bytes",
                                 remedy=f"make it with CpuProgram.new_{what}()")
        if scratch is None:
            scratch = self.new_scratch()
        return heap.ctypes.data, scratch.ctypes.data, scratch

    def run_segment(self, index: int, heap: np.ndarray, scratch: np.ndarray | None = None) -> None:
        """Run the kernels of segment ``index`` over the arenas."""
        heap_ptr, scratch_ptr, keep = self._arena_pointers(heap, scratch)
        self._reset_fault()
        setter = self._pool_setter()
        if setter is not None:
            self._apply_threads(setter)
        self._entry(f"run_segment_{index}")(heap_ptr, scratch_ptr)
        del keep
        self._raise_fault()

    def run(self, heap: np.ndarray, scratch: np.ndarray | None = None, cpu_step: CpuStepOnHeap | None = None) -> None:
        """Run every step in order: kernel segments as machine code, CPU steps with ``cpu_step``."""
        _, _, scratch = self._arena_pointers(heap, scratch)
        for item in self.schedule:
            if isinstance(item, CpuCall):
                if cpu_step is None:
                    raise UnsupportedError(
                        f"cpu step @{item.name} ({', '.join(item.ops) or 'no ops'}) needs a host executor",
                        remedy="pass cpu_step=... to CpuProgram.run")
                cpu_step(item, heap)
            else:
                self.run_segment(item, heap, scratch)

    # faults

    def _fault_cell(self, name: str, ctype: Any) -> Any:
        return ctype.from_address(self._jit.engine.get_global_value_address(name))

    def _reset_fault(self) -> None:
        self._fault_cell("moecc_fault_code", ctypes.c_int32).value = 0

    def _raise_fault(self) -> None:
        code = self._fault_cell("moecc_fault_code", ctypes.c_int32).value
        if code == 0:
            return
        detail = self._fault_cell("moecc_fault_detail", ctypes.c_int64).value
        kernel_index = self._fault_cell("moecc_fault_kernel", ctypes.c_int32).value
        stmt_index = self._fault_cell("moecc_fault_statement", ctypes.c_int32).value
        if code == FAULT_CODES["cpu-step-index"]:
            from moecc.backend.llvm.graph_ops import FAULT_BOUND
            from moecc.ir.ops.indexing import IndexRangeError

            step = self.module.steps[stmt_index]
            assert isinstance(step, CpuCall)
            bound = self._fault_cell(FAULT_BOUND, ctypes.c_int64).value
            op_name = step.ops[kernel_index] if 0 <= kernel_index < len(step.ops) else "?"
            error = IndexRangeError(f"op %{op_name}: index {detail} is out of range [{-bound}, {bound})",
                                    index=detail, size=bound, location=f"cpu step {step.name}",
                                    remedy="give indices within the indexed axis")
            error.op_name = op_name  # the runtime, which has the graph, names the node and input
            raise error
        kernel = self.module.kernels[kernel_index]
        stmt = [s for s, _ in walk(kernel.body)][stmt_index]
        from moecc.ir.kernel_printer import format_statement

        where = f"kernel {kernel.name}, statement {stmt_index} `{format_statement(stmt)}`"
        if code == FAULT_CODES["gather-index"]:
            assert isinstance(stmt, Gather)
            message = f"gather index {detail} is outside the table's {stmt.table.rows} rows"
        else:
            message = f"nonzero found more elements than its list {stmt.dst.buffer} holds ({detail})"  # type: ignore[union-attr]
        error = SimulationError(message, location=where)
        error.kernel = kernel.name  # the runtime finds the graph op and the index the kernel met
        raise error


# -- code generation ------------------------------------------------------------------------

#: Emits CPU step ``call`` as function ``name(i8* heap)`` into an LLVM module (see
#: :func:`moecc.backend.llvm.graph_ops.emit_step`); raises UnsupportedError if it cannot.
StepEmitter = Callable[[ir.Module, CpuCall, str], None]


def compile_kernel_module(module: KernelModule, cpu_target: CpuTarget | None = None,
                          emit_step: StepEmitter | None = None, native_steps: Iterable[str] = ()) -> CpuProgram:
    """Compile a memory-planned kernel module for the CPU (default: the host) and JIT it.

    CPU steps named in ``native_steps`` are emitted into the same module by ``emit_step`` and
    run between the kernels as machine code; a step ``emit_step`` refuses is left to the
    caller's ``cpu_step`` host executor (see :meth:`CpuProgram.run`), like every other step."""
    native = set(native_steps) if emit_step is not None else set()
    while True:
        try:
            built = build_kernel_module(module, cpu_target, emit_step, native)
            break
        except _StepNotEmitted as refused:
            native.discard(refused.step)
    llvm_module, layout, function_names, segments, schedule = built
    jit = _compile(llvm_module, cpu_target)
    return CpuProgram(module, layout, heap_bytes(module), str(llvm_module), segments, schedule, function_names, jit,
                      cpu_target=cpu_target)


class _StepNotEmitted(Exception):
    def __init__(self, step: str) -> None:
        super().__init__(step)
        self.step = step


def build_kernel_module(module: KernelModule, cpu_target: CpuTarget | None = None,
                        emit_step: StepEmitter | None = None, native_steps: Iterable[str] = ()
                        ) -> tuple[ir.Module, ScratchLayout, dict[str, str], tuple[tuple[str, ...], ...],
                                   tuple[int | CpuCall, ...]]:
    """The LLVM module of a planned kernel module: one function per kernel and per native CPU
    step, the sequences (``run_all``, ``run_segment_<i>``), ``moecc_matmul`` and the thread
    pool; ``moecc_sgemm_ws`` is declared (linked from :mod:`moecc.backend.llvm.matmul`). Also
    returns the scratch layout, the symbols of kernels and native steps, segments and schedule."""
    from moecc.backend.llvm.cpu_target import host_cpu_target

    verify_kernel_module(module)
    target = cpu_target or host_cpu_target()
    layout = scratch_layout(module, target)
    heap_bytes(module)  # every HBM buffer must be planned
    llvm_module = ir.Module(name="moecc_kernels")
    faults = _FaultGlobals.declare(llvm_module)
    pool = add_thread_pool(llvm_module, layout.total_bytes)
    matmul = parallel_matmul.define_parallel_matmul(llvm_module, layout, target, pool)
    hbm = {b.name: b for b in module.hbm}
    shared = _ModuleParts(llvm_module, hbm, layout, faults, matmul, pool, _LoopFaults.declare(llvm_module))
    symbols = step_symbols(module, native_steps if emit_step is not None else ())
    functions: dict[str, tuple[ir.Function, int]] = {}
    kernel_index = 0
    for position, (step, name) in enumerate(zip(module.steps, symbols)):
        if isinstance(step, Kernel):
            assert name is not None
            emitter = _KernelEmitter(shared, name, step, kernel_index, parallel=parallel_loop_plans(step, hbm))
            emitter.emit()
            functions[name] = (emitter.function, position)
            kernel_index += 1
        elif name is not None:
            assert emit_step is not None
            try:
                emit_step(llvm_module, step, name)
            except UnsupportedError:
                raise _StepNotEmitted(step.name) from None
            functions[name] = (llvm_module.get_global(name), position)
    segments, schedule = _segments(module, symbols)
    for index, names in enumerate(segments):
        _emit_sequence(llvm_module, f"run_segment_{index}", [functions[n] for n in names], faults)
    _emit_sequence(llvm_module, "run_all", [functions[n] for names in segments for n in names], faults)
    for name, (function, _) in functions.items():
        if name.startswith("moecc_s"):
            function.attributes.add("noinline")  # CPU steps too (see _KernelEmitter)
    function_names = {step.name: name for step, name in zip(module.steps, symbols) if name is not None}
    return llvm_module, layout, function_names, segments, schedule


def parallel_loop_plans(kernel: Kernel, hbm: Mapping[str, Buffer]) -> dict[int, ParallelLoop]:
    """The top-level loops of ``kernel`` (by position in its body) that the code generator runs
    across the thread pool: independent (:func:`~moecc.backend.llvm.parallel_loops.analyse_loops`)
    and doing at least :data:`PARALLEL_MIN_LOOP_WORK`."""
    if not PARALLEL_LOOPS:
        return {}
    return {position: verdict for position, verdict in analyse_loops(kernel, hbm).items()
            if isinstance(verdict, ParallelLoop) and verdict.work >= PARALLEL_MIN_LOOP_WORK}


def step_symbols(module: KernelModule, native_steps: Iterable[str] = ()) -> list[str | None]:
    """The symbol of each step's LLVM function, in step order: every kernel, and the CPU
    steps named in ``native_steps`` (None for the other CPU steps)."""
    native = set(native_steps)
    symbols: list[str | None] = []
    kernel_index = 0
    for position, step in enumerate(module.steps):
        if isinstance(step, Kernel):
            symbols.append(_symbol(kernel_index, step.name))
            kernel_index += 1
        elif step.name in native:
            symbols.append(f"moecc_s{position}_" + re.sub(r"[^A-Za-z0-9_]", "_", step.name))
        else:
            symbols.append(None)
    return symbols


def program_for_module(module: KernelModule, jit: Any, entry_prefix: str = "", llvm_ir: str = "",
                       cpu_target: CpuTarget | None = None, native_steps: Iterable[str] = ()) -> CpuProgram:
    """A :class:`CpuProgram` over already compiled machine code (``jit``: anything with
    ``address(name)`` and ``engine``, e.g. an object file loaded by
    :func:`moecc.backend.llvm.jit.load_object`) for the planned ``module``, whose CPU steps
    ``native_steps`` were compiled into it."""
    verify_kernel_module(module)
    symbols = step_symbols(module, native_steps)
    segments, schedule = _segments(module, symbols)
    function_names = {step.name: name for step, name in zip(module.steps, symbols) if name is not None}
    return CpuProgram(module, scratch_layout(module, cpu_target), heap_bytes(module), llvm_ir, segments, schedule,
                      function_names, jit, entry_prefix=entry_prefix, cpu_target=cpu_target)


def _segments(module: KernelModule, symbols: Sequence[str | None]
              ) -> tuple[tuple[tuple[str, ...], ...], tuple[int | CpuCall, ...]]:
    """Runs of consecutive kernels and native steps (their function symbols) and the schedule
    interleaving segment numbers with the CPU steps left to the host between them."""
    segments: list[tuple[str, ...]] = []
    schedule: list[int | CpuCall] = []
    current: list[str] = []
    for step, symbol in zip(module.steps, symbols):
        if symbol is not None:
            current.append(symbol)
            continue
        if current:
            schedule.append(len(segments))
            segments.append(tuple(current))
            current = []
        assert isinstance(step, CpuCall)
        schedule.append(step)
    if current:
        schedule.append(len(segments))
        segments.append(tuple(current))
    return tuple(segments), tuple(schedule)


def _symbol(index: int, name: str) -> str:
    return f"moecc_k{index}_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


@dataclass(frozen=True, slots=True)
class _FaultGlobals:
    code: ir.GlobalVariable
    detail: ir.GlobalVariable
    kernel: ir.GlobalVariable
    statement: ir.GlobalVariable

    @staticmethod
    def declare(module: ir.Module) -> _FaultGlobals:
        def cell(name: str, typ: ir.Type) -> ir.GlobalVariable:
            var = ir.GlobalVariable(module, typ, name)
            var.initializer = ir.Constant(typ, 0)
            return var

        return _FaultGlobals(cell("moecc_fault_code", I32), cell("moecc_fault_detail", I64),
                             cell("moecc_fault_kernel", I32), cell("moecc_fault_statement", I32))


#: Largest i64: the "no fault yet" iteration of :class:`_LoopFaults`.
_NO_ITERATION = (1 << 63) - 1


@dataclass(frozen=True, slots=True)
class _LoopFaults:
    """The fault of the lowest faulting iteration of the running parallel loop (loops run one
    at a time: pool regions never nest). ``record(iteration, code, statement, detail)`` keeps
    a fault if its iteration is lower than the one recorded, under a spin lock: faults are
    rare, and chunks on other threads may fault at the same time."""

    lock: ir.GlobalVariable
    iteration: ir.GlobalVariable
    code: ir.GlobalVariable
    statement: ir.GlobalVariable
    detail: ir.GlobalVariable
    record: ir.Function

    @staticmethod
    def declare(module: ir.Module) -> _LoopFaults:
        def cell(name: str, typ: ir.Type) -> ir.GlobalVariable:
            var = ir.GlobalVariable(module, typ, "moecc_loop_fault_" + name)
            var.linkage = "internal"
            var.initializer = ir.Constant(typ, 0)
            return var

        lock, iteration, code, statement, detail = (cell("lock", I32), cell("iteration", I64), cell("code", I32),
                                                    cell("statement", I32), cell("detail", I64))
        fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [I64, I32, I32, I64]), name="moecc_loop_fault")
        fn.linkage = "internal"
        at, kind, number, value = fn.args
        entry, spin, locked = (fn.append_basic_block(n) for n in ("entry", "spin", "locked"))
        b = ir.IRBuilder(entry)
        b.branch(spin)
        b.position_at_end(spin)
        taken = b.extract_value(b.cmpxchg(lock, ir.Constant(I32, 0), ir.Constant(I32, 1), "acquire", "monotonic"), 1)
        b.cbranch(taken, locked, spin)
        b.position_at_end(locked)
        with b.if_then(b.icmp_signed("<", at, b.load(iteration))):
            for cell, new in ((iteration, at), (code, kind), (statement, number), (detail, value)):
                b.store(new, cell)
        b.store_atomic(ir.Constant(I32, 0), lock, "release", 4)
        b.ret_void()
        return _LoopFaults(lock, iteration, code, statement, detail, fn)


@dataclass(frozen=True, slots=True)
class _ModuleParts:
    """What every kernel's (and chunk's) emitter shares in one LLVM module."""

    module: ir.Module
    hbm: Mapping[str, Buffer]
    layout: ScratchLayout
    faults: _FaultGlobals
    matmul: ir.Function
    pool: ThreadPool
    loop_faults: _LoopFaults


def _emit_sequence(module: ir.Module, name: str, items: Sequence[tuple[ir.Function, int]], faults: _FaultGlobals) -> None:
    """``void name(heap, scratch)``: call the kernels ``(heap, scratch)`` and native CPU steps
    ``(heap)`` in order (each with its position in the module's steps), stopping at the first
    fault. A step flags an index out of range in ``graph_ops_fault`` (1 + the op's position in
    the step); that becomes fault code ``cpu-step-index`` with the step's position in
    ``moecc_fault_statement``, the op's position in ``moecc_fault_kernel`` and the index as
    given in ``moecc_fault_detail``."""
    from moecc.backend.llvm.graph_ops import FAULT_FLAG, FAULT_INDEX

    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [I8_PTR, I8_PTR]), name=name)
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    done = fn.append_basic_block("done")
    for callee, position in items:
        if len(callee.args) == 1:
            flag = module.globals[FAULT_FLAG]
            b.call(callee, [fn.args[0]])
            raised = b.load(flag)
            with b.if_then(b.icmp_signed("!=", raised, ir.Constant(I32, 0)), likely=False):
                b.store(ir.Constant(I32, 0), flag)
                b.store(ir.Constant(I32, FAULT_CODES["cpu-step-index"]), faults.code)
                b.store(b.sub(raised, ir.Constant(I32, 1)), faults.kernel)
                b.store(ir.Constant(I32, position), faults.statement)
                b.store(b.load(module.globals[FAULT_INDEX]), faults.detail)
        else:
            b.call(callee, fn.args)
        ok = fn.append_basic_block("next")
        b.cbranch(b.icmp_signed("!=", b.load(faults.code), ir.Constant(I32, 0)), done, ok)
        b.position_at_end(ok)
    b.branch(done)
    b.position_at_end(done)
    b.ret_void()


def _compile(module: ir.Module, cpu_target: CpuTarget | None) -> Any:
    """JIT the kernel module, resolving ``moecc_sgemm_ws`` to the process's compiled sgemm."""
    import llvmlite.binding as llvm

    from moecc.backend.llvm.jit import compile_module
    from moecc.backend.llvm.matmul import WORKSPACE_SYMBOL, compiled_sgemm

    sgemm_jit, _ = compiled_sgemm(cpu_target)
    # MCJIT resolves external symbols through LLVM's symbol table: point it at the compiled
    # blocked GEMM instead of compiling it into every module.
    llvm.add_symbol(WORKSPACE_SYMBOL, sgemm_jit.address(WORKSPACE_SYMBOL))
    return compile_module(module, cpu_target)


@dataclass(frozen=True, slots=True)
class _CopySource:
    """Where a pending copy's data is: ``rows x cols`` elements from ``pointer``, rows ``pitch``
    elements apart, in an HBM buffer or in a local region."""

    pointer: ir.Value
    pitch: int
    rows: int
    cols: int
    itemsize: int
    hbm_buffer: str | None = None
    region: Region | None = None

    @property
    def contiguous(self) -> bool:
        return self.pitch == self.cols or self.rows == 1


@dataclass(frozen=True, slots=True)
class _PendingCopy:
    """``tile <- source``, not performed (yet): reads of ``tile`` go to ``source``."""

    tile: LocalRef
    region: Region
    source: _CopySource

    @property
    def hbm_buffer(self) -> str | None:
        return self.source.hbm_buffer

    def disturbed_by(self, write: Region) -> bool:
        """Whether writing ``write`` changes the source."""
        return self.source.region is not None and overlaps(write, self.source.region)

    def matches(self, region: Region, ref: LocalRef) -> bool:
        """Whether reading ``ref`` (at ``region``) reads exactly this copy's tile."""
        if not (region.exact and region == self.region):
            return False
        return (ref.rows, ref.cols) == (self.tile.rows, self.tile.cols) or self.source.contiguous


def _tile_reads(stmt: Stmt) -> list[tuple[LocalRef, bool]]:
    """The tiles a statement reads, each with whether its reader takes a row pitch (matmul
    operands and store sources can read a pitched window in place; element-wise code cannot)."""
    if isinstance(stmt, Store):
        return [(stmt.src, True)]
    if isinstance(stmt, Gather):
        return [(stmt.indices, False)]
    if isinstance(stmt, MatMul):
        return [(stmt.a, True), (stmt.w, True)] + ([(stmt.dst, False)] if stmt.accumulate else [])
    if isinstance(stmt, Vector):
        refs = [stmt.a] if VECTOR_OPS.get(stmt.op) in ("topk", "nonzero") else [stmt.a, stmt.b]
        if stmt.op == "sel":
            refs.append(stmt.dst)  # dst is the 'false' input
        return [(ref, False) for ref in refs if ref is not None]
    return []


class _KernelEmitter:
    """Builds the LLVM function of one kernel, ``void name(i8* heap, i8* scratch)``; with
    ``chunk``, the chunk function of that parallel loop instead,
    ``void name(i8* heap, i64 begin, i64 end, i8* scratch)`` (its prologue, then iterations
    ``[begin, end)``). ``parallel``: the kernel's loops to hand to the thread pool, by position."""

    def __init__(self, parts: _ModuleParts, name: str, kernel: Kernel, index: int, *,
                 parallel: Mapping[int, ParallelLoop] | None = None, chunk: ParallelLoop | None = None) -> None:
        self.parts = parts
        self.module = parts.module
        self.kernel = kernel
        self.index = index
        self.hbm = parts.hbm
        self.layout = parts.layout
        self.faults = parts.faults
        self.matmul_function = parts.matmul
        self.local = {b.name: b for b in kernel.buffers}
        self.chunk = chunk
        self.parallel: Mapping[int, ParallelLoop] = parallel or {}
        self.iteration: ir.Value | None = None  # in a chunk function: the loop's current iteration
        if chunk is None:
            self.function = ir.Function(self.module, ir.FunctionType(ir.VoidType(), [I8_PTR, I8_PTR]), name=name)
            # Inlined into the sequences a kernel gains nothing (one call per run) and is
            # optimised and compiled once per sequence: llama-block's module took 2.6 s.
            self.function.attributes.add("noinline")
            self.heap, self.scratch = self.function.args
        else:
            self.function = ir.Function(self.module, CHUNK_FUNCTION, name=name)
            self.function.linkage = "internal"
            self.heap, self.begin, self.end, self.scratch = self.function.args
        for arg in (self.heap, self.scratch):
            arg.add_attribute("noalias")  # heap and scratch are distinct arrays
        # Stack slots go to a block of their own, so they are allocated once per call.
        self.allocas = ir.IRBuilder(self.function.append_basic_block("allocas"))
        self.builder = ir.IRBuilder(self.function.append_basic_block("entry"))
        self.exit_block = self.function.append_basic_block("exit")
        self.env: dict[str, ir.Value] = {}
        self.statement_numbers = {id(stmt): i for i, (stmt, _) in enumerate(walk(kernel.body))}
        self.current: Stmt | None = None
        # Copy elision (see copy_elision): tile copies not performed yet, where execution
        # stands (for the liveness scans), and the current statement's reads redirected to
        # the sources of pending copies (by id of the LocalRef: pointer, row pitch in elements).
        self.pending: list[_PendingCopy] = []
        self.frames: list[list[Any]] = []
        self.read_aliases: dict[int, tuple[ir.Value, int]] = {}

    # the context the vector lowering uses

    def where(self) -> str:
        number = self.statement_numbers.get(id(self.current), "?")
        return f"kernel {self.kernel.name}, statement {number}"

    def invalid(self, message: str) -> VerificationError:
        return VerificationError(message, location=self.where(), remedy="fix the kernel IR (tiling or lowering)")

    def entry_alloca(self, typ: ir.Type) -> ir.Value:
        return self.allocas.alloca(typ)

    def fault(self, kind: str, detail: ir.Value) -> None:
        b = self.builder
        if self.chunk is not None:
            # Other chunks run on: the kernel reports the lowest faulting iteration's fault.
            assert self.iteration is not None, "only the loop's statements can fault (the prologue cannot)"
            b.call(self.parts.loop_faults.record, [self.iteration, ir.Constant(I32, FAULT_CODES[kind]),
                                                   ir.Constant(I32, self.statement_numbers[id(self.current)]), detail])
            b.branch(self.exit_block)
            return
        b.store(ir.Constant(I32, FAULT_CODES[kind]), self.faults.code)
        b.store(detail, self.faults.detail)
        b.store(ir.Constant(I32, self.index), self.faults.kernel)
        b.store(ir.Constant(I32, self.statement_numbers[id(self.current)]), self.faults.statement)
        b.branch(self.exit_block)

    def local_dtype(self, ref: LocalRef) -> DType:
        return self._local_buffer(ref).dtype

    def local_pointer(self, ref: LocalRef) -> ir.Value:
        """Byte pointer to the first element of a local tile (for a tile the current statement
        reads while its copy is pending: the copy's source)."""
        alias = self.read_aliases.get(id(ref))
        if alias is not None:
            return alias[0]
        return self.scratch_pointer(ref)

    def scratch_pointer(self, ref: LocalRef) -> ir.Value:
        """Byte pointer to a local tile in the scratch arena."""
        buf = self._local_buffer(ref)
        base = self.layout.offset_of(buf)
        slot = self.affine(ref.slot)
        elements = self.affine(ref.offset)
        b = self.builder
        byte = b.add(i64(base), b.add(b.mul(slot, i64(buf.slot_bytes)), b.mul(elements, i64(buf.dtype.itemsize))))
        return b.gep(self.scratch, [byte], inbounds=True)

    def _local_buffer(self, ref: LocalRef) -> Buffer:
        buf = self.local.get(ref.buffer)
        if buf is None:
            raise self.invalid(f"unknown local buffer '{ref.buffer}'")
        return buf

    def hbm_pointer(self, ref: HbmRef, dtype: DType, row: ir.Value | None = None) -> ir.Value:
        """Byte pointer to element (row, 0) of an HBM window, checking the buffer's dtype."""
        buf = self.hbm.get(ref.buffer)
        if buf is None:
            raise self.invalid(f"unknown HBM buffer '{ref.buffer}'")
        if buf.dtype != dtype:
            raise self.invalid(f"DMA between HBM buffer {ref.buffer} ({buf.dtype}) and an SRAM tile of {dtype}: "
                               "DMA copies bytes and cannot convert")
        b = self.builder
        element = self.affine(ref.offset)
        if row is not None:
            element = b.add(element, b.mul(row, i64(ref.pitch)))
        assert buf.offset is not None
        byte = b.add(i64(buf.offset), b.mul(element, i64(dtype.itemsize)))
        return b.gep(self.heap, [byte], inbounds=True)

    def affine(self, expr: Affine) -> ir.Value:
        b = self.builder
        value: ir.Value = i64(expr.const)
        for var, coef in expr.terms:
            induction = self.env.get(var)
            if induction is None:
                raise self.invalid(f"offset {expr} uses loop variable {var} outside its loop")
            value = b.add(value, b.mul(induction, i64(coef)))
        return value

    # statements

    def emit(self) -> None:
        body_start = self.builder.block
        if self.chunk is not None:
            # The chunk's statement list: the prologue, then the loop over [begin, end).
            self.block(self.chunk.prologue + (self.chunk.loop,), is_loop=False)
        else:
            if ZERO_LOCAL_BUFFERS:
                self._zero_locals()
            self.block(self.kernel.body, is_loop=False)
        self.pending.clear()  # local memories die with the kernel
        self.allocas.branch(body_start)
        self.builder.branch(self.exit_block)
        self.builder.position_at_end(self.exit_block)
        self.builder.ret_void()

    def _zero_locals(self) -> None:
        # The reference interpreter gives every kernel fresh zero-filled local buffers.
        for buf in self.kernel.buffers:
            start = self.builder.gep(self.scratch, [i64(self.layout.offset_of(buf))], inbounds=True)
            self.builder.call(self._memset(), [start, ir.Constant(I8, 0), i64(buf.nbytes), ir.Constant(ir.IntType(1), 0)])

    def block(self, body: Sequence[Stmt], is_loop: bool) -> None:
        frame: list[Any] = [body, -1, is_loop]
        self.frames.append(frame)
        outer = {id(copy) for copy in self.pending}
        index = 0
        while index < len(body):
            stmt = body[index]
            frame[1] = index
            if isinstance(stmt, For):
                self.loop(stmt)
                index += 1
                continue
            run = plan_run(body, index, self.local, defers_move=self._defers_move,
                           pending=[(copy.region, copy.source.region) for copy in self.pending])
            if run is not None:
                self._fused_run(run, frame)
                index += len(run.forms)
                continue
            self.current = stmt
            self.statement(stmt)
            index += 1
        if is_loop:
            # Copies left pending by this iteration: their source pointers are values of this
            # iteration, so they are performed now (if the next iteration or the code after
            # the loop may read the tile) or dropped.
            for copy in [c for c in self.pending if id(c) not in outer]:
                self._settle(copy)
                self.pending.remove(copy)
        self.frames.pop()

    def _prepare(self, stmt: Stmt) -> None:
        """Copy-elision bookkeeping before ``stmt``: settle the pending copies it disturbs and
        redirect its reads of pending tiles to their sources (``read_aliases``)."""
        self._before_writes(stmt, effects(stmt, self.local))
        self.read_aliases = {}
        for ref, allow_pitch in _tile_reads(stmt):
            self._redirect_read(ref, allow_pitch)

    def statement(self, stmt: Stmt) -> None:
        self._prepare(stmt)
        try:
            if isinstance(stmt, Load):
                self._defer(stmt.dst, self._hbm_source(stmt.src, self.local_dtype(stmt.dst)))
                if not ELIDE_COPIES:
                    self._materialise(self.pending.pop())
            elif isinstance(stmt, Store):
                self.store(stmt)
            elif isinstance(stmt, Gather):
                self.gather(stmt)
            elif isinstance(stmt, MatMul):
                self.matmul(stmt)
            elif isinstance(stmt, Vector):
                if not self._defer_move(stmt):
                    emit_vector(self, stmt)
            else:
                raise self.invalid(f"not a kernel statement: {type(stmt).__name__}")
        finally:
            self.read_aliases = {}

    def _fused_run(self, run: FusedRun, frame: list[Any]) -> None:
        """Element-wise statements as one loop (:mod:`moecc.backend.llvm.vector_fusion`).

        Each statement's bookkeeping runs first, in order and where the statement stands (the
        liveness scans see the right position): the copies it settles are ones the statements
        before it in the run leave alone, so performing them before the loop is the same. The
        loop then reads what each statement's own bookkeeping redirected."""
        start = frame[1]
        aliases = []
        for k, stmt in enumerate(run.statements):
            frame[1] = start + k
            self.current = stmt
            self._prepare(stmt)
            aliases.append(self.read_aliases)
        self.read_aliases = {}

        def operand_pointer(k: int, ref: LocalRef) -> ir.Value:
            self.current, self.read_aliases = run.statements[k], aliases[k]
            try:
                return self.local_pointer(ref)
            finally:
                self.read_aliases = {}

        # Liveness after the run: frames stand at its last statement.
        frames = [(body, index, is_loop) for body, index, is_loop in self.frames]
        emit_run(self, run, operand_pointer, self.scratch_pointer,
                 lambda ref: may_read_later(local_region(ref, self.local), frames, self.local))

    def loop(self, stmt: For) -> None:
        # Pending copies whose tile or source the loop writes are settled before it: inside, a
        # read redirected to the source would be wrong from the iteration after the write on.
        regions, stores = writes_anywhere(stmt.body, self.local)
        for copy in list(self.pending):
            if any(overlaps(region, copy.region) or copy.disturbed_by(region) for region in regions) \
                    or copy.hbm_buffer in stores:
                self._settle(copy, from_current=True)
                self.pending.remove(copy)
        top_level = len(self.frames) == 1
        if top_level and self.chunk is None and self.frames[0][1] in self.parallel:
            self._parallel_loop(self.parallel[self.frames[0][1]])
            return
        b = self.builder
        # A chunk function's loop runs iterations [begin, end) of the kernel's loop.
        start = self.begin if top_level and self.chunk is not None else None
        outer = self.env.get(stmt.var)

        def body(index: ir.Value) -> None:
            self.env[stmt.var] = index if start is None else b.add(start, index)
            if start is not None:
                self.iteration = self.env[stmt.var]
            self.block(stmt.body, is_loop=True)

        counted_loop(b, stmt.count if start is None else b.sub(self.end, start), body, stmt.var)
        if outer is None:
            self.env.pop(stmt.var, None)
        else:
            self.env[stmt.var] = outer

    def _parallel_loop(self, plan: ParallelLoop) -> None:
        """Run the loop through its chunk function on the thread pool (see the module docstring).

        The pending copies the loop disturbs were settled by :meth:`loop`; the others stay
        pending across the call: the chunks write only local regions nobody reads after the
        loop, and repeat the prologue with the values it had here."""
        chunk = _KernelEmitter(self.parts, f"{self.function.name}.loop{plan.position}", self.kernel, self.index,
                               chunk=plan)
        chunk.emit()
        b = self.builder
        loop_faults, pool = self.parts.loop_faults, self.parts.pool
        b.store(i64(_NO_ITERATION), loop_faults.iteration)
        b.store(ir.Constant(I32, 0), loop_faults.code)
        count = i64(plan.loop.count)
        split = [chunk.function, self.heap, count, self.scratch]
        if plan.matmul_flops >= parallel_matmul.PARALLEL_MIN_FLOPS:
            # Its matmuls would split across the threads on their own: hand out whole
            # iterations only when they share out evenly (at most a quarter of the threads'
            # time idle), else run the chunk here and let each matmul split.
            threads = b.sext(b.call(pool.get_threads, []), I64)
            rounds = b.sdiv(b.add(count, b.sub(threads, i64(1))), threads)
            even = b.icmp_signed("<=", b.mul(b.mul(rounds, threads), i64(4)), i64(5 * plan.loop.count))
            with b.if_else(even) as (then, otherwise):
                with then:
                    b.call(pool.parallel_for, split)
                with otherwise:
                    b.call(chunk.function, [self.heap, i64(0), count, self.scratch])
        else:
            b.call(pool.parallel_for, split)
        code = b.load(loop_faults.code)
        with b.if_then(b.icmp_signed("!=", code, ir.Constant(I32, 0)), likely=False):
            b.store(code, self.faults.code)
            b.store(b.load(loop_faults.detail), self.faults.detail)
            b.store(ir.Constant(I32, self.index), self.faults.kernel)
            b.store(b.load(loop_faults.statement), self.faults.statement)
            b.branch(self.exit_block)

    # copy elision

    def _hbm_source(self, window: HbmRef, dtype: DType) -> _CopySource:
        return _CopySource(self.hbm_pointer(window, dtype), window.pitch, window.rows, window.cols, dtype.itemsize,
                           hbm_buffer=window.buffer)

    def _defer(self, tile: LocalRef, source: _CopySource) -> None:
        """``tile <- source`` as a pending copy (tile and source shapes checked)."""
        if (tile.rows, tile.cols) != (source.rows, source.cols):
            raise self.invalid(f"copy of a {source.rows}x{source.cols} window into a {tile.rows}x{tile.cols} tile")
        self.pending.append(_PendingCopy(tile, local_region(tile, self.local), source))

    def _defers_move(self, stmt: Vector) -> bool:
        """Whether :meth:`_defer_move` makes ``stmt`` a pending copy: a ``vpu.mov`` between
        disjoint tiles of one shape and dtype."""
        if not ELIDE_COPIES or stmt.op != "mov" or stmt.bcast != "none" or stmt.a is None:
            return False
        a, dst = stmt.a, stmt.dst
        if (a.rows, a.cols) != (dst.rows, dst.cols) or self.local_dtype(a) != self.local_dtype(dst):
            return False
        return not overlaps(local_region(a, self.local), local_region(dst, self.local))

    def _defer_move(self, stmt: Vector) -> bool:
        """``vpu.mov`` between tiles of one dtype becomes a pending copy."""
        if not self._defers_move(stmt):
            return False
        a, dst = stmt.a, stmt.dst
        assert a is not None
        alias = self.read_aliases.get(id(a))
        dtype = self.local_dtype(a)
        if alias is not None:
            # a's own copy is pending: dst gets a's source, seen in a's shape.
            inner = next(c.source for c in self.pending if c.matches(local_region(a, self.local), a))
            source = _CopySource(alias[0], alias[1], a.rows, a.cols, dtype.itemsize, hbm_buffer=inner.hbm_buffer,
                                 region=inner.region)
        else:
            source = _CopySource(self.scratch_pointer(a), a.cols, a.rows, a.cols, dtype.itemsize,
                                 region=local_region(a, self.local))
        self._defer(dst, source)
        return True

    def _redirect_read(self, ref: LocalRef, allow_pitch: bool) -> None:
        region = local_region(ref, self.local)
        for copy in self.pending:
            if copy.matches(region, ref) and (allow_pitch or copy.source.contiguous):
                same_shape = (ref.rows, ref.cols) == (copy.tile.rows, copy.tile.cols)
                # Read in another shape, the (contiguous) source is rows of the reader's width.
                self.read_aliases[id(ref)] = (copy.source.pointer, copy.source.pitch if same_shape else ref.cols)
                return

    def _before_writes(self, stmt: Stmt, found: Effects) -> None:
        """Settle the pending copies this statement disturbs: writes to their tiles or sources,
        stores to their HBM buffers, and reads that cannot be redirected to a source."""
        read_refs = _tile_reads(stmt)
        for copy in list(self.pending):
            tile_written = any(overlaps(w, copy.region) for w in found.all_writes)
            source_written = any(copy.disturbed_by(w) for w in found.all_writes) or copy.hbm_buffer in found.hbm_stores
            read = any(overlaps(r, copy.region) for r in found.reads)
            awkward_read = any(overlaps(local_region(ref, self.local), copy.region)
                               and not (copy.matches(local_region(ref, self.local), ref)
                                        and (pitch or copy.source.contiguous))
                               for ref, pitch in read_refs)
            if read and (tile_written or source_written):
                awkward_read = True  # read and disturbed by one statement: read the real tile
            if awkward_read:
                self._materialise(copy)
            elif tile_written and not read and any(covers(w, copy.region) for w in found.writes):
                pass  # overwritten whole before anyone reads it again: dropped
            elif tile_written or source_written:
                self._settle(copy)
            else:
                continue
            self.pending.remove(copy)

    def _settle(self, copy: _PendingCopy, from_current: bool = False) -> None:
        """Perform ``copy`` if its tile may still be read (after the current statement, or from
        it on), else drop it (the caller removes it from the pending list)."""
        frames = [(body, index, is_loop) for body, index, is_loop in self.frames]
        if may_read_later(copy.region, frames, self.local, from_current=from_current):
            self._materialise(copy)

    def _materialise(self, copy: _PendingCopy) -> None:
        source = copy.source
        self._copy_rows(self.scratch_pointer(copy.tile), source.cols, source.pointer, source.pitch, source.rows,
                        source.cols * source.itemsize, source.itemsize)

    def _copy_rows(self, dst: ir.Value, dst_pitch: int, src: ir.Value, src_pitch: int, rows: int, row_bytes: int,
                   itemsize: int, may_overlap: bool = False) -> None:
        """``rows`` rows of ``row_bytes`` from ``src`` to ``dst`` (pitches in elements)."""
        b = self.builder
        copy = self._memmove() if may_overlap else self._memcpy()
        no = ir.Constant(ir.IntType(1), 0)
        if rows == 1 or (dst_pitch * itemsize == row_bytes and src_pitch * itemsize == row_bytes):
            b.call(copy, [dst, src, i64(row_bytes * rows), no])
            return

        def row(r: ir.Value) -> None:
            b.call(copy, [b.gep(dst, [b.mul(r, i64(dst_pitch * itemsize))], inbounds=True),
                          b.gep(src, [b.mul(r, i64(src_pitch * itemsize))], inbounds=True), i64(row_bytes), no])

        counted_loop(b, rows, row, "row")

    def _memcpy(self) -> ir.Function:
        return self.module.declare_intrinsic("llvm.memcpy", [I8_PTR, I8_PTR, I64])

    def _memmove(self) -> ir.Function:
        return self.module.declare_intrinsic("llvm.memmove", [I8_PTR, I8_PTR, I64])

    def _memset(self) -> ir.Function:
        return self.module.declare_intrinsic("llvm.memset", [I8_PTR, I64])

    def store(self, stmt: Store) -> None:
        """SRAM -> HBM: row copies from the tile, or straight from a pending copy's source."""
        window, tile = stmt.dst, stmt.src
        if (tile.rows, tile.cols) != (window.rows, window.cols):
            raise self.invalid(f"DMA tile {tile.rows}x{tile.cols} vs HBM window {window.rows}x{window.cols}")
        dtype = self.local_dtype(tile)
        pointer, pitch = self.read_aliases.get(id(tile), (None, tile.cols))
        from_heap = pointer is not None and any(c.source.hbm_buffer is not None and c.source.pointer is pointer
                                                for c in self.pending)
        source = pointer if pointer is not None else self.scratch_pointer(tile)
        # HBM to HBM may overlap, except in a parallel loop's chunk: such a loop reads no HBM
        # byte it stores to (which LLVM cannot see there, the offsets depending on `begin`).
        self._copy_rows(self.hbm_pointer(window, dtype), window.pitch, source, pitch, tile.rows,
                        tile.cols * dtype.itemsize, dtype.itemsize, may_overlap=from_heap and self.chunk is None)

    def gather(self, stmt: Gather) -> None:
        dtype = self.local_dtype(stmt.dst)
        count = stmt.dst.rows
        if stmt.indices.rows * stmt.indices.cols != count:
            raise self.invalid(f"gather of {count} rows has {stmt.indices.rows * stmt.indices.cols} indices")
        if self.local_dtype(stmt.indices) != DType.I32:
            raise self.invalid(f"gather indices {stmt.indices.buffer} must be i32")
        if stmt.dst.cols != stmt.table.cols:
            raise self.invalid(f"gather rows of {stmt.table.cols} elements into a tile of {stmt.dst.cols} columns")
        b = self.builder
        local = self.local_pointer(stmt.dst)
        indices = self.local_pointer(stmt.indices)
        row_bytes = stmt.dst.cols * dtype.itemsize

        def row(i: ir.Value) -> None:
            index = load_element(b, indices, DType.I32, i)
            outside = b.or_(b.icmp_signed("<", index, i64(0)), b.icmp_signed(">=", index, i64(stmt.table.rows)))
            with b.if_then(outside, likely=False):
                self.fault("gather-index", index)
            remote = self.hbm_pointer(stmt.table, dtype, index)
            near = b.gep(local, [b.mul(i, i64(row_bytes))], inbounds=True)
            b.call(self._memcpy(), [near, remote, i64(row_bytes), ir.Constant(ir.IntType(1), 0)])

        counted_loop(b, count, row, "g")

    def matmul(self, stmt: MatMul) -> None:
        transpose = stmt.transpose_w
        k, n = stmt.w_shape
        m = stmt.a.rows
        if stmt.a.cols != k or (stmt.dst.rows, stmt.dst.cols) != (m, n):
            raise self.invalid(f"matmul {stmt.dst.rows}x{stmt.dst.cols} <- {m}x{stmt.a.cols} @ {k}x{n}")
        for ref in (stmt.a, stmt.w):
            if self.local_dtype(ref) != stmt.dtype:
                raise self.invalid(f"operand {ref.buffer} is {self.local_dtype(ref)}, the statement works in {stmt.dtype}")
        if self.local_dtype(stmt.dst) != DType.F32:
            raise self.invalid(f"matmul destination {stmt.dst.buffer} must be f32")
        b = self.builder
        # Operands whose copies are pending are read in place, at their source's row pitch.
        a_ptr, lda = self.read_aliases.get(id(stmt.a), (self.local_pointer(stmt.a), k))
        w_ptr, ldw = self.read_aliases.get(id(stmt.w), (self.local_pointer(stmt.w), k if transpose else n))
        staging = self.layout.staging_base
        if stmt.dtype != DType.F32:
            # bf16 operands are widened to f32 (the weight untransposed on the way).
            wide = b.gep(self.scratch, [i64(staging)], inbounds=True)

            def a_row(r: ir.Value) -> None:
                counted_loop(b, k, lambda c: b.store(
                    load_element(b, a_ptr, stmt.dtype, b.add(b.mul(r, i64(lda)), c)),
                    element_pointer(b, wide, DType.F32, b.add(b.mul(r, i64(k)), c))), "wc")

            counted_loop(b, m, a_row, "wa")
            a_ptr, lda = wide, k
            staging += _align(m * k * 4)
            wide = b.gep(self.scratch, [i64(staging)], inbounds=True)

            def weight_row(p: ir.Value) -> None:
                def element(j: ir.Value) -> None:
                    source = b.add(b.mul(j, i64(ldw)), p) if transpose else b.add(b.mul(p, i64(ldw)), j)
                    value = load_element(b, w_ptr, stmt.dtype, source)
                    b.store(value, element_pointer(b, wide, DType.F32, b.add(b.mul(p, i64(n)), j)))

                counted_loop(b, n, element, "wj")

            counted_loop(b, k, weight_row, "wp")
            w_ptr, ldw = wide, n
            transpose = False
        d_ptr = self.scratch_pointer(stmt.dst)
        b.call(self.matmul_function, [
            b.bitcast(d_ptr, _F32_PTR), b.bitcast(a_ptr, _F32_PTR), b.bitcast(w_ptr, _F32_PTR),
            i64(m), i64(n), i64(k), i64(lda), i64(ldw), i64(n),
            ir.Constant(I32, int(stmt.accumulate)), ir.Constant(I32, int(transpose)), self.scratch])

__all__ = ["ARENA_ALIGNMENT", "ENTRY_PREFIX_OBJECT", "FAULT_CODES", "PARALLEL_LOOPS",
           "PARALLEL_MIN_LOOP_WORK", "CpuProgram", "CpuStepOnHeap", "ScratchLayout", "StepEmitter", "aligned_zeros",
           "build_kernel_module", "step_symbols", "compile_kernel_module", "heap_bytes",
           "parallel_loop_plans", "program_for_module", "scratch_layout"]
