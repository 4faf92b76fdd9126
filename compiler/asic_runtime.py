"""Runtime of the ``asic`` target: the simulator for kernels, the host for CPU steps.

Last stage of the ASIC flow. An :class:`AsicExecutable` holds the planned kernel module, the
moe-asic programs generated from it (one per run of consecutive kernels) and the packed
weights. :meth:`AsicExecutable.run` builds the HBM image (weights and inputs at their planned
offsets, converted to their HBM dtypes), then walks the module's steps: each program segment
runs on the simulator over the image; each CPU step runs its graph ops as machine code compiled
through the tiled IR (:mod:`moecc.backend.llvm.host_steps`), reading its inputs from and writing
its outputs to their planned offsets (a step loaded without its code runs on the reference
interpreter instead). Cycles, bytes and traces of the segments add up to the run's
:class:`AsicRunStats`.

Values cross the host boundary in the storage dtypes the target gave their buffers
(:func:`to_hbm`, :func:`from_hbm`): on the ASIC an i64 input is written as i32, and a value
outside int32 is refused there with the value (never wrapped). An index out of range is
reported on every target as :func:`~moecc.ir.ops.indexing.index_out_of_range` words it (node,
input, value, valid range): a CPU step records the index it met, and for a kernel's gather
fault (the ASIC's DMA, the cpu code's bounds check, which see the index only after it was
wrapped) :meth:`StagedExecutable.index_fault` reads the indices from the image.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from moecc.errors import InputError, MoeccError, SimulationError
from moecc.ir.builder import const_value
from moecc.ir.graph import Graph, Op, Value
from moecc.ir.kernel import Buffer, CpuCall, KernelModule
from moecc.ir.ops.common import normalize_axis
from moecc.ir.ops.indexing import INDEXING_KINDS, IndexRangeError, index_out_of_range
from moecc.ir.registry import evaluate
from moecc.ir.types import DType
from moecc.isa_spec.target import Target



def narrowing_outlier(array: np.ndarray, dtype: DType) -> int | None:
    """The first integer of ``array`` that storage ``dtype`` (narrower) cannot hold, or None."""
    arr = np.asarray(array)
    if not dtype.is_int or arr.dtype.kind not in "iu" or not arr.size or arr.dtype.itemsize <= dtype.itemsize:
        return None
    limits = np.iinfo(dtype.numpy)
    outside = (arr < limits.min) | (arr > limits.max)
    return int(arr.reshape(-1)[np.flatnonzero(outside.reshape(-1))[0]]) if outside.any() else None


def to_hbm(array: np.ndarray, buffer: Buffer) -> np.ndarray:
    """A graph value converted to its HBM buffer's dtype (narrowing integers with a range
    check: a value the buffer cannot hold is an error, never wrapped)."""
    arr = np.asarray(array)
    bad = narrowing_outlier(arr, buffer.dtype)
    if bad is not None:
        raise InputError(f"tensor '{buffer.name}' holds {bad}, outside the {buffer.dtype} its memory stores it in",
                         remedy=f"give values within [{np.iinfo(buffer.dtype.numpy).min}, {np.iinfo(buffer.dtype.numpy).max}]")
    return np.ascontiguousarray(arr.astype(buffer.dtype.numpy).reshape(-1))


def index_users(graph: Graph, value: Value) -> list[Op]:
    """The ops using ``value`` (or a reshape of it) as their indices operand."""
    uses = graph.uses()
    found: list[Op] = []
    frontier = [value]
    while frontier:
        current = frontier.pop()
        for user in uses.get(current, []):
            if user is None:
                continue
            if user.kind == "reshape":
                frontier.append(user.result)
            elif user.kind in INDEXING_KINDS and len(user.operands) > 1 and user.operands[1] is current:
                found.append(user)
    return found


def index_axis_size(op: Op) -> int | None:
    """The size of the axis an indexing op's indices address (one axis: gather,
    gather_elements, scatter_elements; None for the tuple-indexed ``*_nd`` ops)."""
    if op.kind in ("gather", "gather_elements", "scatter_elements"):
        data = op.operands[0].type
        return data.shape[normalize_axis(op.kind, op.attrs["axis"], data.rank)]
    return None


def from_hbm(flat: np.ndarray, dtype: DType, shape: tuple[int, ...]) -> np.ndarray:
    """An HBM buffer's contents converted back to a graph value of ``dtype`` and ``shape``."""
    if dtype == DType.BOOL:
        return (flat != 0).reshape(shape)
    return flat.astype(dtype.numpy).reshape(shape)


#: The trace's track (tid) of host steps, after the units' tracks.
HOST_TRACK = 16


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
    #: Each MoE layer's chosen experts per token ([tokens, k]), read from HBM after the run.
    moe_experts: list[np.ndarray] = field(default_factory=list)
    #: Per kernel, in program order: (name, cycles of the run it accounts for, cycle it ended at).
    kernel_cycles: list[tuple[str, int, int]] = field(default_factory=list)
    #: Per kernel: its instructions' busy cycles per unit, HBM bytes, MXU FLOPs and DMAs.
    kernel_work: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Modelled cycles of the host steps placed on the trace so far (its time axis only).
    host_trace_cycles: int = 0
    #: Dynamic energy of the ASIC's instructions by component, in picojoules (the report adds
    #: static power and the host steps: moecc.energy_report).
    energy_pj: dict[str, float] = field(default_factory=dict)

    def add_kernels(self, segment: Any, result: Any) -> None:
        """Account one segment's cycles to its kernels (call before :meth:`add`): a kernel
        accounts for the cycles from the end of the kernels before it to its own end (the last
        instruction of it to finish), so the shares add up to the segment's cycles. The work of
        each instruction (busy cycles, bytes, FLOPs) goes to the kernel it was selected for (a
        load prefetched in the kernel before counts for its own kernel)."""
        pc_end = result.pc_end
        if pc_end is None:
            return
        from moecc.isa_spec import load_isa

        isa = load_isa()
        ends: dict[str, int] = {}
        program = segment.program.instructions
        for pc, kernel in enumerate(segment.pc_kernels()):
            if pc < len(pc_end) and pc_end[pc] >= 0:
                ends[kernel] = max(ends.get(kernel, 0), int(pc_end[pc]))
                if result.pc_busy is None:
                    continue
                work = self.kernel_work.setdefault(kernel, {"busy": {}, "hbm_bytes": 0, "flops": 0, "dmas": 0,
                                                            "energy_pj": 0.0})
                mnemonic = program[pc].mnemonic
                unit = isa.by_mnemonic(mnemonic).unit
                work["busy"][unit] = work["busy"].get(unit, 0) + int(result.pc_busy[pc])
                work["hbm_bytes"] += int(result.pc_bytes[pc])
                work["flops"] += int(result.pc_flops[pc])
                if result.pc_energy_pj is not None:
                    work["energy_pj"] += float(result.pc_energy_pj[pc])
                work["dmas"] += int(mnemonic.startswith("dma.") and not mnemonic.endswith((".mark", ".sram")))
        done = 0
        for name in segment.kernels:
            end = ends.get(name)
            if end is None:
                continue
            self.kernel_cycles.append((name, max(0, end - done), self.cycles + end))
            done = max(done, end)

    def add_host_step(self, step: Any, cycles: int, clock_hz: float) -> None:
        """A host step on the trace's ``host`` track, at the end of the trace so far, lasting its
        modelled cycles (the report's host model); later segments start after it, so the trace
        keeps one time axis (the run's ASIC ``cycles`` do not include it)."""
        us_per_cycle = 1e6 / clock_hz
        if not any(e.get("tid") == HOST_TRACK and e.get("ph") == "M" for e in self.trace_events):
            self.trace_events += [
                {"name": "thread_name", "ph": "M", "pid": 0, "tid": HOST_TRACK, "args": {"name": "host (modelled)"}},
                {"name": "thread_sort_index", "ph": "M", "pid": 0, "tid": HOST_TRACK, "args": {"sort_index": HOST_TRACK}},
            ]
        self.trace_events.append({
            "name": f"host step {step.name}", "ph": "X", "pid": 0, "tid": HOST_TRACK,
            "ts": (self.cycles + self.host_trace_cycles) * us_per_cycle, "dur": cycles * us_per_cycle,
            "args": {"kernel": step.name, "ops": list(step.ops), "modelled_cycles": cycles}})
        self.host_trace_cycles += cycles

    def add(self, report: Any, events: list[dict[str, Any]], labels: Any = None) -> None:
        """Add one segment's report; its trace events are shifted to start where the last ended
        (host steps included) and given ``labels(pc)`` (kernel, statement, MoE layer and expert)
        as arguments."""
        offset_us = (self.cycles + self.host_trace_cycles) * 1e6 / report.clock_hz
        for event in events:
            if event.get("ph") == "M" and self.segments:
                continue  # track names are declared once
            shifted = dict(event)
            if labels is not None and "pc" in event.get("args", {}):
                shifted["args"] = {**event["args"], **labels(event["args"]["pc"])}
                if "expert" in shifted["args"]:
                    shifted["name"] = f"{shifted['args']['moe_layer']} expert {shifted['args']['expert']}: {event['name']}"
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
        for component, pj in report.energy_pj.items():
            self.energy_pj[component] = self.energy_pj.get(component, 0.0) + pj
        self.segments += 1


@dataclass(slots=True)
class StagedExecutable:
    """A planned kernel module over one HBM image, with graph ops for its CPU steps: the image
    layout, host-boundary conversions, host steps and index diagnosis that
    :class:`AsicExecutable` runs its program segments between."""

    graph: Graph
    module: KernelModule
    weights: dict[str, np.ndarray]
    value_buffers: dict[str, str]
    hbm_bytes: int
    #: Compiled host steps by step name (backend.llvm.host_steps); None or absent: interpreter.
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
            self.check_narrowing(value, feeds[value.name], buffer.dtype)
            _write(image, buffer, to_hbm(feeds[value.name], buffer))

    def check_narrowing(self, value: Value, array: np.ndarray, stored: DType) -> None:
        """Refuse an input holding an integer its storage dtype cannot hold (the ASIC's i32
        for i64) with the value: as the index error of the op it indexes when it is one (no
        axis is that long), else naming the input."""
        bad = narrowing_outlier(array, stored)
        if bad is None:
            return
        for op in index_users(self.graph, value):
            size = index_axis_size(op)
            if size is not None:
                raise index_out_of_range(op, bad, size)
        limits = np.iinfo(stored.numpy)
        raise InputError(f"input '{value.name}' holds {bad}, outside the {stored} this target stores "
                         f"{value.type.dtype} values in", remedy=f"give values within [{limits.min}, {limits.max}]")

    def index_fault(self, kernels: Iterable[str], image: np.ndarray) -> MoeccError | None:
        """The index error behind a gather fault in one of ``kernels`` (names, in run order):
        the first index of their gather ops that is outside the table, read from ``image``
        (kernels see indices only wrapped to their table, so the fault itself cannot say what
        the input held). None when none is (the fault has another cause)."""
        by_source = {op.source: op for op in self.graph.ops if op.source and op.kind in INDEXING_KINDS}
        buffers = self._buffers()
        by_name = {k.name: k for k in self.module.kernels}
        for kernel_name in kernels:
            kernel = by_name.get(kernel_name)
            for source in kernel.sources if kernel is not None else ():
                op = by_source.get(source)  # kernels staged from the tiled IR name their ONNX nodes
                size = index_axis_size(op) if op is not None and op.kind in INDEXING_KINDS else None
                if op is None or size is None:
                    continue
                indices = op.operands[1]
                data = const_value(indices)
                if data is None:
                    name = self.value_buffers.get(indices.name)
                    if name is None or name not in buffers:
                        continue
                    data = from_hbm(_read(image, buffers[name]), indices.type.dtype, indices.type.shape)
                flat = np.asarray(data, dtype=np.int64).reshape(-1)
                outside = np.flatnonzero((flat < -size) | (flat >= size))
                if outside.size:
                    return index_out_of_range(op, int(flat[outside[0]]), size)
        return None

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
        from moecc.backend.llvm.host_steps import HostStepProgram

        compiled = self.compiled_steps.get(call.name)
        buffers = self._buffers()
        if isinstance(compiled, HostStepProgram):
            values = {v.name: from_hbm(_read(image, buffers[self.value_buffers[v.name]]), v.type.dtype, v.type.shape)
                      for v in compiled.inputs}
            try:
                results = compiled.run(values)
            except MoeccError as err:
                raise err.add_context(location=f"cpu step {call.name}") from None
            for value in compiled.outputs:
                name = self.value_buffers.get(value.name)
                if name in call.outputs:
                    _write(image, buffers[name], to_hbm(results[value.name], buffers[name]))
            return
        if compiled is not None:  # a callable over the image (a tiled kernel staging left to the host)
            try:
                compiled(image)
            except IndexRangeError as err:
                sources = getattr(getattr(compiled, "kernel", None), "sources", ())
                op = next((op for op in self.graph.ops if op.source in sources and op.kind in INDEXING_KINDS), None)
                if op is None:
                    raise
                raise index_out_of_range(op, err.index, err.size).add_context(location=f"host step {call.name}") from None
            return
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
            except IndexRangeError as err:
                raise index_out_of_range(op, err.index, err.size).add_context(location=f"cpu step {call.name}") from None
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
    #: The MoE layers whose expert choices a run leaves in HBM, for the routing report.
    moe_layers: list[dict[str, Any]] = field(default_factory=list)

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
                if trace:
                    stats.add_host_step(current, self._host_cost(current, ops_by_name), self.target.clock_hz)
                step += 1
                continue
            segment = segment_at[step]
            try:
                result = Simulator(segment.program, self.target, trace=trace).run(image)
            except SimulationError as err:
                # A DMA gather faults on the index after the kernel wrapped it (-1): the
                # indices in the image say which input value it was.
                diagnosed = self.index_fault(segment.kernels, image)
                if diagnosed is None:
                    raise
                raise diagnosed.add_context(location=f"simulated {err.location or 'program'}") from err
            image = result.hbm
            stats.add_kernels(segment, result)
            stats.add(result.report, result.trace_events if trace else [],
                      self._trace_labels(segment) if trace else None)
            step = segment.steps[1]
        stats.moe_experts = self.routing(image)
        return self.read_outputs(image), stats

    def _host_cost(self, step: CpuCall, ops_by_name: Mapping[str, Any]) -> int:
        """The modelled cycles of one host step (the report's host model)."""
        from moecc.asic_report import host_step_cost

        sizes = {b.name: b.elements * b.dtype.itemsize for b in self.module.hbm}
        return int(host_step_cost(step, ops_by_name, sizes, self.target)["cycles"])

    def _trace_labels(self, segment: Any) -> Any:
        """``pc -> {kernel, statement[, moe_layer, expert]}`` for one segment's trace events:
        an instruction of a MoE layer's experts kernel is labelled with the layer's ONNX node
        and the expert whose work it does (the expert loop's value in its statement)."""
        import re

        sources = segment.pc_sources()
        experts = {str(layer["experts_kernel"]): layer for layer in self.moe_layers if "experts_kernel" in layer}

        def labels(pc: int) -> dict[str, Any]:
            if not 0 <= pc < len(sources):
                return {}
            kernel, statement = sources[pc]
            out: dict[str, Any] = {"kernel": kernel, "statement": statement}
            layer = experts.get(kernel)
            if layer is not None:
                found = re.search(rf"\b{re.escape(str(layer['expert_var']))}=(\d+)", statement)
                if found:
                    out.update(moe_layer=layer["onnx_node"], expert=int(found.group(1)))
            return out

        return labels

    def routing(self, image: np.ndarray) -> list[np.ndarray]:
        """Each MoE layer's chosen experts (``[tokens, k]``) as the run left them in HBM (empty
        when a layer's choices never went through HBM)."""
        buffers = self._buffers()
        values = {r.name: r for op in self.graph.ops for r in op.results}
        chosen = []
        for layer in self.moe_layers:
            if "experts_buffer" in layer:  # dispatched sparsely: the router's [tokens, k] choices buffer
                buffer = buffers.get(str(layer["experts_buffer"]))
                if buffer is None:
                    return []
                shape = (int(layer["tokens"]), int(layer["top_k"]))
                chosen.append(_read(image, buffer).astype(np.int64).reshape(shape))
                continue
            value = values.get(str(layer["experts_value"]))
            name = self.value_buffers.get(value.name) if value is not None else None
            if value is None or name not in buffers:
                return []
            chosen.append(from_hbm(_read(image, buffers[name]), value.type.dtype, value.type.shape))
        return chosen


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
