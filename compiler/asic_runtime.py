"""Runtime of the ``asic`` target: the simulator for kernels, the host for CPU steps.

Last stage of the ASIC flow. An :class:`AsicExecutable` holds the planned kernel module, the
moe-asic programs generated from it (one per run of consecutive kernels) and the packed
weights. :meth:`AsicExecutable.run` builds the HBM image (weights and inputs at their planned
offsets, converted to their HBM dtypes), then walks the module's steps: each program segment
runs on the simulator over the image; each CPU step runs its graph ops over the image as
LLVM code (:mod:`moecc.backend.llvm.graph_ops`), reading its inputs from and writing its
outputs to their planned offsets (a step no emitter covers would run on the reference
interpreter instead). Cycles, bytes and traces of the segments add up to the run's
:class:`AsicRunStats`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from moecc.errors import InputError, MoeccError
from moecc.ir.builder import const_value
from moecc.ir.graph import Graph, Op
from moecc.ir.kernel import Buffer, CpuCall, KernelModule
from moecc.ir.registry import evaluate
from moecc.ir.types import DType
from moecc.isa_spec.target import Target

_I32 = np.iinfo(np.int32)


def to_hbm(array: np.ndarray, buffer: Buffer) -> np.ndarray:
    """A graph value converted to its HBM buffer's dtype (i64 → i32 with a range check)."""
    arr = np.asarray(array)
    if buffer.dtype == DType.I32 and arr.dtype.kind in "iu" and arr.size:
        if arr.min() < _I32.min or arr.max() > _I32.max:
            raise InputError(f"integer tensor '{buffer.name}' has values outside int32, which the ASIC cannot hold")
    return np.ascontiguousarray(arr.astype(buffer.dtype.numpy).reshape(-1))


def from_hbm(flat: np.ndarray, dtype: DType, shape: tuple[int, ...]) -> np.ndarray:
    """An HBM buffer's contents converted back to a graph value of ``dtype`` and ``shape``."""
    if dtype == DType.BOOL:
        return (flat != 0).reshape(shape)
    return flat.astype(dtype.numpy).reshape(shape)


@dataclass(slots=True)
class AsicRunStats:
    """Totals of one run over every program segment (CPU steps cost no ASIC cycles)."""

    cycles: int = 0
    unit_busy: dict[str, int] = field(default_factory=dict)
    unit_instructions: dict[str, int] = field(default_factory=dict)
    hbm_read: int = 0
    hbm_written: int = 0
    mxu_flops: int = 0
    instructions: int = 0
    segments: int = 0
    cpu_steps: int = 0
    trace_events: list[dict[str, Any]] = field(default_factory=list)

    def add(self, report: Any, events: list[dict[str, Any]]) -> None:
        """Add one segment's report; its trace events are shifted to start where the last ended."""
        offset_us = self.cycles * 1e6 / report.clock_hz
        for event in events:
            if event.get("ph") == "M" and self.segments:
                continue  # track names are declared once
            shifted = dict(event)
            if "ts" in shifted:
                shifted["ts"] = shifted["ts"] + offset_us
            self.trace_events.append(shifted)
        self.cycles += report.total_cycles
        self.instructions += report.instructions_executed
        for name, unit in report.units.items():
            self.unit_busy[name] = self.unit_busy.get(name, 0) + unit.busy_cycles
            self.unit_instructions[name] = self.unit_instructions.get(name, 0) + unit.instructions
        self.hbm_read += report.hbm_bytes_read
        self.hbm_written += report.hbm_bytes_written
        self.mxu_flops += report.mxu_flops
        self.segments += 1


@dataclass(slots=True)
class StagedExecutable:
    """A planned kernel module over one HBM image, with graph ops for its CPU steps.

    Shared by the ``asic`` runtime (kernels on the simulator) and the ``cpu`` runtime
    (kernels as LLVM machine code): both lay out the image from the same memory plan."""

    graph: Graph
    module: KernelModule
    weights: dict[str, np.ndarray]
    value_buffers: dict[str, str]
    hbm_bytes: int
    #: JIT-compiled CPU steps by step name (backend.llvm.graph_ops); None or absent: interpreter.
    compiled_steps: dict[str, Any] = field(default_factory=dict)

    def _buffers(self) -> dict[str, Buffer]:
        return {b.name: b for b in self.module.hbm}

    def initial_image(self, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        """The HBM image before the first segment: weights and inputs at their offsets."""
        image = np.zeros(self.hbm_bytes, dtype=np.uint8)
        buffers = self._buffers()
        for name, data in self.weights.items():
            _write(image, buffers[name], to_hbm(data, buffers[name]))
        self.write_inputs(image, feeds)
        return image

    def write_inputs(self, image: np.ndarray, feeds: Mapping[str, np.ndarray]) -> None:
        buffers = self._buffers()
        for value in self.graph.inputs:
            buffer = buffers[self.value_buffers[value.name]]
            _write(image, buffer, to_hbm(feeds[value.name], buffer))

    def read_outputs(self, image: np.ndarray) -> dict[str, np.ndarray]:
        """The graph outputs (keyed by ONNX output name, in their graph dtypes) from ``image``."""
        buffers = self._buffers()
        outputs: dict[str, np.ndarray] = {}
        for name, value in zip(self.graph.output_names, self.graph.outputs):
            buffer = buffers[self.value_buffers[value.name]]
            outputs[name] = from_hbm(_read(image, buffer), value.type.dtype, value.type.shape)
        return outputs

    def ops_by_name(self) -> dict[str, Op]:
        return {op.results[0].name: op for op in self.graph.ops}

    def run_cpu_step(self, call: CpuCall, image: np.ndarray, ops_by_name: Mapping[str, Op]) -> None:
        """Run a CPU step over ``image``: its LLVM-compiled function when there is one,
        else its graph ops on the reference interpreter."""
        compiled = self.compiled_steps.get(call.name)
        if compiled is not None:
            compiled(image)
            return
        buffers = self._buffers()
        env: dict[int, np.ndarray] = {}
        ops = [ops_by_name[name] for name in call.ops]
        produced = {id(r) for op in ops for r in op.results}
        for op in ops:
            args = []
            for v in op.operands:
                if id(v) in env:
                    args.append(env[id(v)])
                    continue
                data = const_value(v)
                if data is None and id(v) not in produced:
                    data = from_hbm(_read(image, buffers[self.value_buffers[v.name]]), v.type.dtype, v.type.shape)
                if data is None:
                    raise MoeccError(f"cpu step {call.name}: operand %{v.name} is not available")
                args.append(data)
            try:
                outs = evaluate(op.kind, args, op.attrs, [r.type for r in op.results])
            except MoeccError as err:
                raise err.add_context(node=op.source, location=f"cpu step {call.name}, op {op.describe()}") from None
            for r, a in zip(op.results, outs):
                env[id(r)] = a
        for op in ops:
            for r in op.results:
                name = self.value_buffers.get(r.name)
                if name in call.outputs:
                    _write(image, buffers[name], to_hbm(env[id(r)], buffers[name]))


@dataclass(slots=True)
class AsicExecutable(StagedExecutable):
    """Everything needed to run a model on the simulated ASIC."""

    target: Target = None  # type: ignore[assignment]
    segments: list[Any] = field(default_factory=list)

    def run(self, feeds: Mapping[str, np.ndarray], *, trace: bool = False) -> tuple[dict[str, np.ndarray], AsicRunStats]:
        """Run on inputs keyed by graph input value name; outputs keyed by ONNX output name."""
        from moecc.backend.asic.sim import Simulator

        image = self.initial_image(feeds)
        stats = AsicRunStats()
        segment_at = {seg.steps[0]: seg for seg in self.segments}
        ops_by_name = self.ops_by_name()
        step = 0
        while step < len(self.module.steps):
            current = self.module.steps[step]
            if isinstance(current, CpuCall):
                self.run_cpu_step(current, image, ops_by_name)
                stats.cpu_steps += 1
                step += 1
                continue
            segment = segment_at[step]
            result = Simulator(segment.program, self.target, trace=trace).run(image)
            image = result.hbm
            stats.add(result.report, result.trace_events if trace else [])
            step = segment.steps[1]
        return self.read_outputs(image), stats


def _write(image: np.ndarray, buffer: Buffer, flat: np.ndarray) -> None:
    assert buffer.offset is not None
    data = flat.view(np.uint8)
    image[buffer.offset: buffer.offset + data.size] = data


def _read(image: np.ndarray, buffer: Buffer) -> np.ndarray:
    assert buffer.offset is not None
    size = buffer.elements * buffer.dtype.itemsize
    return image[buffer.offset: buffer.offset + size].view(buffer.dtype.numpy).copy()


def random_inputs(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded inputs for a report run: floats ~ N(0, 1); integers that index a gather drawn
    within the gathered table's range (so embeddings are looked up in bounds), others 0/1."""
    rng = np.random.default_rng(seed)
    bounds: dict[int, int] = {}
    for op in graph.ops:
        if op.kind in ("gather", "gather_elements") and len(op.operands) > 1:
            axis = op.attrs.get("axis", 0) % max(op.operands[0].type.rank, 1)
            size = op.operands[0].type.shape[axis]
            key = id(op.operands[1])
            bounds[key] = min(bounds.get(key, size), size)
    feeds: dict[str, np.ndarray] = {}
    for v in graph.inputs:
        t = v.type
        if t.dtype.is_float:
            feeds[v.name] = rng.standard_normal(t.shape).astype(t.dtype.numpy)
        elif t.dtype == DType.BOOL:
            feeds[v.name] = np.ones(t.shape, dtype=np.bool_)
        else:
            high = bounds.get(id(v), 2)
            feeds[v.name] = rng.integers(0, max(high, 1), t.shape).astype(t.dtype.numpy)
    return feeds
