"""The moe-asic simulator: runs a :class:`~moecc.isa_spec.Program` over an HBM image.

Last stage of the ASIC flow (and the runtime of compiled ASIC partitions). It is both
functional and timed, in one discrete-event loop:

- The ``ctrl`` unit fetches instructions in order, executes scalar/control ones itself
  (registers, hardware loops, branches, ``lds``/``sts``, barrier, halt) and dispatches the
  others into the ``ld``, ``st``, ``mxu`` and ``vpu`` queues, resolving register-relative
  addresses at dispatch time (so later ``addi``s do not disturb queued work).
- Each unit starts its queue head in order once the unit can accept it and the head's wait
  tokens are available (counting semaphores: a wait consumes one count, a signal adds one
  when the signalling instruction completes). The functional effect (numpy on whole tiles)
  is applied when the instruction starts; consumers only see it through tokens fired at
  completion, as on the hardware.
- Timing comes from :mod:`moecc.backend.asic.timing` and the :class:`Target`.

Faults (out-of-bounds or misaligned access, a wait on a token nothing signals, deadlock, a
runaway loop past ``step_limit``) raise :class:`SimulationError` naming the instruction.

    result = Simulator(program, "moe-asic-v1").run({"x": x, "w": w})
    y = result.read("y"); print(result.report.total_cycles)
"""

from __future__ import annotations

import heapq
import math
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from moecc.errors import SimulationError, TargetError
from moecc.isa_spec.program import Instruction, Program, numpy_dtype
from moecc.isa_spec.spec import UNITS, InstructionSpec, IsaSpec, load_isa
from moecc.isa_spec.target import DEFAULT_TARGET, Target, load_target
from moecc.backend.asic.energy import EnergyMeter
from moecc.backend.asic.memory import Memory
from moecc.backend.asic.report import SimReport, TraceEvent, UnitReport, chrome_trace
from moecc.backend.asic.timing import DmaTiming, HbmBus, MxuTiming, Scheduled, vpu_schedule
from moecc.ir.vector_semantics import BINARY_OPS, FLOAT_ONLY_OPS, SCALAR_OPS, UNARY_OPS, topk_order

DEFAULT_STEP_LIMIT = 5_000_000
N_REGISTERS = 32
_MASK64 = (1 << 64) - 1
_QUEUED_UNITS = ("ld", "st", "mxu", "vpu")
_BCAST_SHAPES: dict[int, Callable[[int, int], tuple[int, int]]] = {
    0: lambda r, c: (r, c),
    1: lambda r, c: (1, c),
    2: lambda r, c: (r, 1),
    3: lambda r, c: (1, 1),
}


def _wrap64(value: int) -> int:
    value &= _MASK64
    return value - (1 << 64) if value >> 63 else value


_BINARY = {f"vpu.{name}": fn for name, fn in BINARY_OPS.items()}
_UNARY = {f"vpu.{name}": fn for name, fn in UNARY_OPS.items()}
_SCALAR = {f"vpu.{name}": fn for name, fn in SCALAR_OPS.items()}
_FLOAT_ONLY = {f"vpu.{name}" for name in FLOAT_ONLY_OPS}


@dataclass(slots=True)
class _Issued:
    """An instruction in a unit queue, its register operands resolved at dispatch."""

    pc: int
    inst: Instruction
    spec: InstructionSpec
    args: dict[str, int]
    dispatched_at: int


@dataclass(slots=True)
class _Unit:
    name: str
    queue: deque[_Issued] = field(default_factory=deque)
    accept_at: int = 0
    last_complete: int = 0
    busy_cycles: int = 0
    instructions: int = 0


@dataclass(frozen=True, slots=True)
class SimResult:
    """Final HBM contents, the cost report and the trace of one run."""

    hbm: np.ndarray  # uint8 image after the run
    report: SimReport
    trace_events: list[dict[str, Any]]
    program: Program
    #: Per instruction (pc), the last cycle its unit worked on it (-1: it never ran).
    pc_end: np.ndarray | None = None
    #: Per instruction (pc): cycles its unit was busy with it, HBM bytes it moved (read plus
    #: written) and MXU FLOPs it did, summed over every time it ran (a report's per-kernel view).
    pc_busy: np.ndarray | None = None
    pc_bytes: np.ndarray | None = None
    pc_flops: np.ndarray | None = None
    #: Per instruction (pc): the dynamic energy of its events in picojoules, summed over every
    #: time it ran (:mod:`moecc.backend.asic.energy`).
    pc_energy_pj: np.ndarray | None = None

    def read(self, region: str) -> np.ndarray:
        """A named HBM region of the final image, as an array of its dtype and shape."""
        spec = self.program.region(region)
        dtype = numpy_dtype(spec.dtype)
        return self.hbm[spec.offset:spec.end].view(dtype).reshape(spec.shape).copy()

    def trace(self) -> dict[str, Any]:
        """The Chrome/Perfetto trace document (``{"traceEvents": [...]}``)."""
        return {"traceEvents": self.trace_events, "displayTimeUnit": "ns"}


def build_hbm_image(program: Program, arrays: Mapping[str, np.ndarray] | None = None,
                    size: int | None = None) -> np.ndarray:
    """An HBM image holding ``arrays`` at their named regions, zeros elsewhere."""
    arrays = dict(arrays or {})
    needed = max(program.hbm_bytes_needed, size or 0)
    image = np.zeros(needed, dtype=np.uint8)
    names = {r.name for r in program.regions}
    unknown = set(arrays) - names
    if unknown:
        raise SimulationError(
            f"HBM data for unknown region(s) {', '.join(sorted(unknown))}",
            remedy=f"the program declares {', '.join(sorted(names)) or 'no regions'}",
        )
    for region in program.regions:
        if region.name not in arrays:
            continue
        value = np.asarray(arrays[region.name])
        if value.size != int(np.prod(region.shape)):
            raise SimulationError(
                f"region '{region.name}' is {region.dtype}{list(region.shape)}, data has shape {list(value.shape)}")
        typed = np.ascontiguousarray(value.reshape(region.shape).astype(numpy_dtype(region.dtype)))
        image[region.offset:region.end] = typed.view(np.uint8).reshape(-1)
    return image


class Simulator:
    """Functional + timed simulator of one program on one target.

    ``run(hbm)`` takes an HBM image (uint8 array or bytes), a mapping of region name ->
    array, or nothing (zeros); every run starts from fresh SRAM, accumulators and registers.
    """

    def __init__(self, program: Program, target: Target | str = DEFAULT_TARGET, *,
                 step_limit: int = DEFAULT_STEP_LIMIT, trace: bool = True,
                 isa: IsaSpec | None = None) -> None:
        self.program = program
        self.target = load_target(target) if isinstance(target, str) else target
        self.step_limit = step_limit
        self.record_trace = trace
        self.isa = isa or load_isa()
        self.specs = []
        for pc, inst in enumerate(program.instructions):
            spec = self.isa.by_mnemonic(inst.mnemonic)
            if spec is None:
                raise SimulationError(f"unknown mnemonic '{inst.mnemonic}'", location=f"instruction {pc}")
            self.specs.append(spec)
        self.signalled_tokens = {inst.signal for inst in program.instructions if inst.signal}

    # -- setup ----------------------------------------------------------------------------------

    def _image(self, hbm: np.ndarray | bytes | Mapping[str, np.ndarray] | None) -> np.ndarray:
        if hbm is None or isinstance(hbm, Mapping):
            image = build_hbm_image(self.program, hbm)
        elif isinstance(hbm, (bytes, bytearray, memoryview)):
            image = np.frombuffer(bytes(hbm), dtype=np.uint8).copy()
        else:
            image = np.ascontiguousarray(hbm).view(np.uint8).reshape(-1).copy()
        if image.size < self.program.hbm_bytes_needed:
            image = np.concatenate([image, np.zeros(self.program.hbm_bytes_needed - image.size, np.uint8)])
        if image.size > self.target.hbm_capacity_bytes:
            raise TargetError(f"HBM image of {image.size} bytes exceeds {self.target.name}'s "
                              f"{self.target.hbm_capacity_bytes}-byte HBM")
        return image

    def run(self, hbm: np.ndarray | bytes | Mapping[str, np.ndarray] | None = None) -> SimResult:
        return _Run(self, self._image(hbm)).execute()


def simulate(program: Program, hbm: np.ndarray | bytes | Mapping[str, np.ndarray] | None = None,
             target: Target | str = DEFAULT_TARGET, **options: Any) -> SimResult:
    """Shorthand for ``Simulator(program, target, **options).run(hbm)``."""
    return Simulator(program, target, **options).run(hbm)


class _Run:
    """The state of one simulation run (kept apart so a Simulator can run many times)."""

    def __init__(self, sim: Simulator, image: np.ndarray) -> None:
        t = sim.target
        self.sim = sim
        self.target = t
        self.program = sim.program.instructions
        self.specs = sim.specs
        self.hbm = Memory("hbm", image, track=True)
        self.sram = Memory("sram", np.zeros(t.sram_capacity_bytes, dtype=np.uint8))
        self.acc = Memory("acc", np.zeros(t.acc_capacity_bytes, dtype=np.uint8))
        self.regs = [0] * N_REGISTERS
        self.tokens: Counter[int] = Counter()
        self.pending: list[tuple[int, int, int]] = []  # (time, seq, token) signals in flight
        self.seq = 0
        self.units = {name: _Unit(name) for name in UNITS}
        bus = HbmBus(t.hbm_bytes_per_cycle)
        self.dma = {"ld": DmaTiming(t, bus), "st": DmaTiming(t, bus)}
        #: SRAM bytes ``[lo, hi)`` an HBM load on the ld queue is still writing, until the cycle
        #: it completes: a later on-chip copy on that queue reading them starts moving data only
        #: then (a unit's results take effect in program order, so no token orders the two).
        self.landing: list[tuple[int, int, int]] = []
        self.mxu = MxuTiming(t)
        #: (w, k, n, tw, dtype) of the tile the last mxu.wpre shifted in, until the next matmul
        self.preload_key: tuple[object, ...] | None = None
        self.pc = 0
        self.ctrl_free_at = 0
        self.loops: list[list[int]] = []  # [start, end, remaining]
        self.halted = False
        self.steps = 0
        self.events: list[TraceEvent] = []
        self.pc_end = np.full(len(self.program), -1, dtype=np.int64)
        self.pc_busy = np.zeros(len(self.program), dtype=np.int64)
        self.pc_bytes = np.zeros(len(self.program), dtype=np.int64)
        self.pc_flops = np.zeros(len(self.program), dtype=np.int64)
        self.energy = EnergyMeter(t, len(self.program))
        self.hbm_read = 0
        self.hbm_written = 0
        self.flops = 0
        self.compute_cycles = 0.0
        self.vpu_elements = 0

    # -- helpers --------------------------------------------------------------------------------

    def where(self, pc: int) -> str:
        return f"instruction {pc} ({self.program[pc].mnemonic})"

    def fail(self, pc: int, message: str) -> SimulationError:
        return SimulationError(message, location=self.where(pc))

    def tokens_ready(self, inst: Instruction) -> bool:
        need = Counter(t for t in inst.wait if t)
        return all(self.tokens[t] >= n for t, n in need.items())

    def consume(self, inst: Instruction) -> None:
        for t in inst.wait:
            if t:
                self.tokens[t] -= 1

    def signal_at(self, inst: Instruction, time: int) -> None:
        if inst.signal:
            self.seq += 1
            heapq.heappush(self.pending, (time, self.seq, inst.signal))

    def deliver(self, now: int) -> None:
        while self.pending and self.pending[0][0] <= now:
            _, _, token = heapq.heappop(self.pending)
            self.tokens[token] += 1

    def record(self, unit: str, pc: int, begin: int, end: int) -> None:
        self.units[unit].busy_cycles += max(end - begin, 0)
        self.pc_busy[pc] += max(end - begin, 0)
        if end > self.pc_end[pc]:
            self.pc_end[pc] = end
        if self.sim.record_trace:
            self.events.append(TraceEvent(unit, self.program[pc].mnemonic, pc, begin, end))

    # -- the event loop -------------------------------------------------------------------------

    def execute(self) -> SimResult:
        now = 0
        while True:
            self.deliver(now)
            progress = True
            while progress:
                progress = False
                for name in _QUEUED_UNITS:
                    unit = self.units[name]
                    if unit.queue and unit.accept_at <= now and unit.queue[0].dispatched_at <= now \
                            and self.tokens_ready(unit.queue[0].inst):
                        self.start(unit, unit.queue.popleft(), now)
                        progress = True
                if not self.halted and self.ctrl_free_at <= now and self.ctrl_step(now):
                    progress = True
                self.deliver(now)
            if self.halted:
                break
            candidates = [t for t in (
                [self.pending[0][0]] if self.pending else []) if t > now]
            if self.ctrl_free_at > now:
                candidates.append(self.ctrl_free_at)
            for unit in self.units.values():
                if unit.queue:
                    ready = max(unit.accept_at, unit.queue[0].dispatched_at)
                    if ready > now:
                        candidates.append(ready)
                if unit.last_complete > now:
                    candidates.append(unit.last_complete)
            if not candidates:
                raise self.deadlock()
            now = min(candidates)
        total = max([now] + [u.last_complete for u in self.units.values()])
        return self.result(total)

    def all_drained(self, now: int) -> bool:
        return all(not u.queue and u.last_complete <= now for u in self.units.values())

    def deadlock(self) -> SimulationError:
        blocked: list[tuple[int, Instruction]] = []
        if not self.halted and self.pc < len(self.program):
            blocked.append((self.pc, self.program[self.pc]))
        for name in _QUEUED_UNITS:
            if self.units[name].queue:
                head = self.units[name].queue[0]
                blocked.append((head.pc, head.inst))
        for pc, inst in sorted(blocked, key=lambda item: item[0]):
            for token in inst.wait:
                if token and self.tokens[token] == 0 and token not in self.sim.signalled_tokens:
                    return self.fail(pc, f"waits on token t{token}, which no instruction signals")
        waiting = [f"{self.where(pc)} waits on "
                   + ", ".join(f"t{t}" for t in inst.wait if t and self.tokens[t] == 0)
                   for pc, inst in sorted(blocked, key=lambda item: item[0]) if not self.tokens_ready(inst)]
        first = min((pc for pc, inst in blocked if not self.tokens_ready(inst)), default=self.pc)
        detail = "; ".join(waiting) if waiting else "every queue is full or waiting"
        return SimulationError(f"deadlock: no unit can make progress ({detail})", location=self.where(first)
                               if first < len(self.program) else None)

    # -- ctrl: fetch, scalar execution, dispatch ------------------------------------------------

    def ctrl_step(self, now: int) -> bool:
        """Execute or dispatch the instruction at pc if possible; False when stalled."""
        if self.pc >= len(self.program):  # running off the end is an implicit halt
            if self.all_drained(now):
                self.halted = True
                return True
            return False
        pc = self.pc
        inst, spec = self.program[pc], self.specs[pc]
        if spec.unit != "ctrl":
            unit = self.units[spec.unit]
            if len(unit.queue) >= self.target.queue_depth:
                return False
            cost = self.target.cycles("ctrl")
            unit.queue.append(_Issued(pc, inst, spec, self.resolve(spec, inst), now + cost))
            self.advance(pc, pc + 1, now, cost)
            return True
        if not self.tokens_ready(inst):
            return False
        if spec.mnemonic in ("barrier", "halt") and not self.all_drained(now):
            return False
        self.consume(inst)
        cost = self.target.cycles(spec.timing)
        next_pc = self.scalar(pc, inst, spec, now)
        self.units["ctrl"].instructions += 1
        self.record("ctrl", pc, now, now + cost)
        self.signal_at(inst, now + cost)
        if spec.mnemonic == "halt":
            self.halted = True
            self.units["ctrl"].last_complete = now + cost
            return True
        self.advance(pc, next_pc, now, cost)
        return True

    def advance(self, pc: int, next_pc: int, now: int, cost: int) -> None:
        self.steps += 1
        if self.steps > self.sim.step_limit:
            raise self.fail(pc, f"runaway program: more than {self.sim.step_limit} instructions executed "
                                "(raise step_limit if the loop is intended)")
        if next_pc == pc + 1:
            # The end of a hardware-loop body: the innermost loop jumps back or finishes.
            while self.loops and next_pc == self.loops[-1][1]:
                loop = self.loops[-1]
                if loop[2] > 1:
                    loop[2] -= 1
                    next_pc = loop[0]
                    break
                self.loops.pop()
        else:  # a taken branch leaves every loop whose body it jumps out of
            while self.loops and not self.loops[-1][0] <= next_pc < self.loops[-1][1]:
                self.loops.pop()
        self.pc = next_pc
        self.ctrl_free_at = now + cost

    def resolve(self, spec: InstructionSpec, inst: Instruction) -> dict[str, int]:
        """Operand values with registers read now: addresses absolute, register fields by value."""
        args: dict[str, int] = {}
        for f in spec.fields:
            name, _, part = f.name.partition(".")
            if part == "reg":
                args[name] = args.get(name, 0) + self.regs[inst.fields[f.name]]
            elif part == "off":
                args[name] = args.get(name, 0) + inst.fields[f.name]
            elif part == "space":
                args[f"{name}.space"] = inst.fields[f.name]
            elif f.kind == "reg":
                args[name] = self.regs[inst.fields[f.name]]
            else:
                args[name] = inst.fields[f.name]
        return args

    def scalar(self, pc: int, inst: Instruction, spec: InstructionSpec, now: int) -> int:
        m = spec.mnemonic
        f = inst.fields
        regs = self.regs

        def write(rd: int, value: int) -> None:
            if rd:  # r0 reads as zero
                regs[rd] = _wrap64(value)

        if m in ("nop", "barrier", "halt"):
            return pc + 1
        if m == "li":
            write(f["rd"], f["imm"])
        elif m in ("add", "sub", "mul", "min", "max"):
            a, b = regs[f["ra"]], regs[f["rb"]]
            write(f["rd"], {"add": a + b, "sub": a - b, "mul": a * b, "min": min(a, b), "max": max(a, b)}[m])
        elif m in ("addi", "muli", "shli", "shri", "andi"):
            a, imm = regs[f["ra"]], f["imm"]
            if m in ("shli", "shri") and not 0 <= imm < 64:
                raise self.fail(pc, f"shift amount {imm} is outside 0..63")
            write(f["rd"], {"addi": lambda: a + imm, "muli": lambda: a * imm, "shli": lambda: a << imm,
                            "shri": lambda: a >> imm, "andi": lambda: a & imm}[m]())
        elif m in ("lds", "sts"):
            addr = regs[f["addr.reg"]] + f["addr.off"]
            cell = self.sram.tile(self.where(pc), addr, 1, 1, np.dtype(np.int32))
            if m == "lds":
                write(f["rd"], int(cell[0, 0]))
            else:
                cell[0, 0] = np.array([regs[f["rs"]] & 0xFFFFFFFF], dtype=np.uint32).view(np.int32)[0]
        elif m in ("loop", "loopi"):
            count = regs[f["count"]] if m == "loop" else f["count"]
            body = f["body"]
            end = pc + 1 + body
            if end > len(self.program):
                raise self.fail(pc, f"loop body of {body} instructions runs past the end of the program")
            if count <= 0 or body == 0:
                return end
            if len(self.loops) >= self.target.loop_stack:
                raise self.fail(pc, f"hardware loops nested deeper than {self.target.loop_stack}")
            self.loops.append([pc + 1, end, count])
        elif m in ("beq", "bne", "blt"):
            a, b = regs[f["ra"]], regs[f["rb"]]
            taken = {"beq": a == b, "bne": a != b, "blt": a < b}[m]
            if taken:
                target = pc + f["target"]
                if not 0 <= target <= len(self.program):
                    raise self.fail(pc, f"branch target {target} is outside the program")
                return target
        else:  # pragma: no cover - every ctrl mnemonic is handled above
            raise self.fail(pc, "not a control instruction")
        return pc + 1

    # -- units ----------------------------------------------------------------------------------

    def start(self, unit: _Unit, issued: _Issued, now: int) -> None:
        self.consume(issued.inst)
        if issued.spec.timing == "sync":  # a queue mark: done once the unit's earlier work is
            scheduled = Scheduled(now + 1, max(unit.last_complete, now + 1), (now, now))
        else:
            handler = {"ld": self.run_dma, "st": self.run_dma, "mxu": self.run_mxu, "vpu": self.run_vpu}[unit.name]
            moved, flops = self.hbm_read + self.hbm_written, self.flops
            scheduled = handler(issued, now)
            self.pc_bytes[issued.pc] += self.hbm_read + self.hbm_written - moved
            self.pc_flops[issued.pc] += self.flops - flops
        unit.accept_at = max(scheduled.accept_at, now + 1)
        unit.last_complete = max(unit.last_complete, scheduled.complete)
        unit.instructions += 1
        self.record(unit.name, issued.pc, *scheduled.busy)
        self.signal_at(issued.inst, scheduled.complete)

    def run_dma(self, issued: _Issued, now: int) -> Scheduled:
        a, m, where = issued.args, issued.spec.mnemonic, self.where(issued.pc)
        timing = self.dma[issued.spec.unit]
        if m in ("dma.ld.sram", "dma.st.sram"):
            rows, row_bytes = a["rows"], a["row_bytes"]
            src = self.sram.rows(where, a["src"], rows, row_bytes, a["sstride"])
            dst = self.sram.rows(where, a["dst"], rows, row_bytes, a["dstride"])
            dst[...] = src.copy()
            self.energy.sram(issued.pc, 2 * rows * row_bytes)  # read, then written
            lo, hi = a["src"], a["src"] + (rows - 1) * a["sstride"] + row_bytes
            self.landing = [w for w in self.landing if w[2] > now]
            landed = max((end for w_lo, w_hi, end in self.landing if w_lo < hi and lo < w_hi), default=now)
            return timing.schedule_local(max(now, landed), rows * row_bytes)
        if m in ("dma.ld", "dma.st"):
            rows, row_bytes = a["rows"], a["row_bytes"]
            if m == "dma.ld":
                src = self.hbm.rows(where, a["src"], rows, row_bytes, a["sstride"])
                dst = self.sram.rows(where, a["dst"], rows, row_bytes, a["dstride"])
                self.hbm.mark(a["src"], rows, row_bytes, a["sstride"], write=False)
                self.hbm_read += rows * row_bytes
            else:
                src = self.sram.rows(where, a["src"], rows, row_bytes, a["sstride"])
                dst = self.hbm.rows(where, a["dst"], rows, row_bytes, a["dstride"])
                self.hbm.mark(a["dst"], rows, row_bytes, a["dstride"], write=True)
                self.hbm_written += rows * row_bytes
            dst[...] = src.copy()
            self.energy.hbm(issued.pc, rows * row_bytes)
            self.energy.sram(issued.pc, rows * row_bytes)
            scheduled = timing.schedule(now, rows * row_bytes)
            if m == "dma.ld":
                self.landing = [w for w in self.landing if w[2] > now]
                self.landing.append((a["dst"], a["dst"] + (rows - 1) * a["dstride"] + row_bytes, scheduled.complete))
            return scheduled
        n, row_bytes, stride = a["n"], a["row_bytes"], a["stride"]
        if n < 0:
            raise self.fail(issued.pc, f"row count register holds {n}")
        index = self.sram.tile(where, a["idx"], 1, n, np.dtype(np.int32))[0].astype(np.int64)
        nbytes = n * row_bytes
        extra = n * self.target.dma_gather_row_cycles
        self.energy.sram(issued.pc, nbytes + 4 * n)  # the rows and their indices
        self.energy.hbm(issued.pc, nbytes if m in ("dma.gather", "dma.scatter") else 2 * nbytes)
        if m == "dma.gather":
            offsets = self.hbm.row_indices(where, a["src"], index, stride, row_bytes)
            dst = self.sram.rows(where, a["dst"], n, row_bytes, row_bytes)
            dst[...] = self.hbm.data[offsets]
            if self.hbm.touched_read is not None:
                self.hbm.touched_read[offsets] = True
            self.hbm_read += nbytes
            return timing.schedule(now, nbytes, extra)
        offsets = self.hbm.row_indices(where, a["dst"], index, stride, row_bytes)
        src = self.sram.rows(where, a["src"], n, row_bytes, row_bytes)
        if m == "dma.scatter":
            self.hbm.data[offsets] = src
            self.hbm_written += nbytes
            self.hbm.touched_written[offsets] = True  # type: ignore[index]
            return timing.schedule(now, nbytes, extra)
        dtype = numpy_dtype(self.sim.isa.enum_value_name("dtype", a["dtype"]) or "f32")
        if row_bytes % dtype.itemsize:
            raise self.fail(issued.pc, f"row_bytes {row_bytes} is not a multiple of the {dtype} size")
        unique, inverse = np.unique(index, return_inverse=True)
        rows_at = self.hbm.row_indices(where, a["dst"], unique, stride, row_bytes)
        current = self.hbm.data[rows_at].copy().view(dtype).astype(np.float32)
        addend = src.copy().view(dtype).astype(np.float32)
        np.add.at(current, inverse.reshape(-1), addend)
        self.hbm.data[rows_at] = current.astype(dtype).view(np.uint8)
        self.hbm.touched_read[rows_at] = True  # type: ignore[index]
        self.hbm.touched_written[rows_at] = True  # type: ignore[index]
        self.hbm_read += nbytes
        self.hbm_written += nbytes
        return timing.schedule(now, 2 * nbytes, extra)

    def mxu_dtype(self, issued: _Issued) -> tuple[str, np.dtype]:
        name = self.sim.isa.enum_value_name("dtype", issued.args["dtype"]) or "?"
        if name not in self.target.mxu_dtypes:
            raise self.fail(issued.pc, f"the MXU of {self.target.name} does not multiply {name}")
        return name, numpy_dtype(name)

    def run_mxu(self, issued: _Issued, now: int) -> Scheduled:
        a, where = issued.args, self.where(issued.pc)
        dtype_name, dtype = self.mxu_dtype(issued)
        if issued.spec.mnemonic == "mxu.wpre":  # timing only: the next matmul's first tile, ahead
            k, n, tw = a["k"], a["n"], a.get("tw", 0)
            self.sram.tile(where, a["w"], n if tw else k, k if tw else n, dtype)  # (checks the operand)
            self.preload_key = (a["w"], k, n, tw, dtype_name)
            return self.mxu.preload(now)
        m, k, n = a["m"], a["k"], a["n"]
        preloaded = (issued.spec.mnemonic in ("mxu.mm", "mxu.mmr", "mxu.mmsp")
                     and self.preload_key == (a["w"], k, n, a.get("tw", 0), dtype_name))
        self.preload_key = None
        if issued.spec.mnemonic in ("mxu.mmr", "mxu.mm24r"):  # m was read from a register at dispatch
            if not 0 <= m <= 4095:
                raise self.fail(issued.pc, f"row count {m} (register m) is outside 0..4095")
            if m == 0:
                self.mxu.preloaded = None
                return Scheduled(now + 1, now + 1, (now, now))
        lhs = self.sram.tile(where, a["a"], m, k, dtype).astype(np.float32)
        rows, cols = self.target.mxu_rows, self.target.mxu_cols
        k_folds, n_folds = math.ceil(k / rows), math.ceil(n / cols)
        if issued.spec.mnemonic in ("mxu.mm24", "mxu.mm24r"):  # 2:4 compressed weights: half the folds
            weights = self.sparse24_weights(issued, k, n, dtype)
            folds = math.ceil(k / (2 * rows)) * n_folds
            flops = 2 * m * (k // 2) * n  # the kept half
        elif a.get("tw", 0):
            # The array loads the stationary operand transposed as it shifts it in: same cycles.
            # Contiguous, so numpy's product rounds exactly as for the same weight stored k x n.
            weights = np.ascontiguousarray(self.sram.tile(where, a["w"], n, k, dtype).astype(np.float32).T)
        else:
            weights = self.sram.tile(where, a["w"], k, n, dtype).astype(np.float32)
        if issued.spec.mnemonic == "mxu.mmsp":
            block = 4 << a["blk"]
            if k % block or n % block:
                raise self.fail(issued.pc, f"k={k} and n={n} must be multiples of the {block}-element block")
            mask = self.sram.tile(where, a["mask"], k // block, n // block, np.dtype(np.uint8)) != 0
            keep = np.repeat(np.repeat(mask, block, axis=0), block, axis=1)
            weights = np.where(keep, weights, np.float32(0))
            padded = np.zeros((k_folds * rows, n_folds * cols), dtype=bool)
            padded[:k, :n] = keep
            kept_folds = padded.reshape(k_folds, rows, n_folds, cols).any(axis=(1, 3))
            folds = int(kept_folds.sum())
            preloaded = preloaded and bool(kept_folds[0, 0])  # the preloaded tile is the first fold
            flops = 2 * m * block * block * int(mask.sum())
        elif issued.spec.mnemonic not in ("mxu.mm24", "mxu.mm24r"):
            folds = k_folds * n_folds
            flops = 2 * m * k * n
        product = lhs @ weights
        self.energy.macs(issued.pc, flops // 2, dtype_name)
        # Operand bytes: the activations and the weight bytes the array shifts in (stored form:
        # 2:4 values and positions, or the blocks a mask keeps) from SRAM; the f32 results to
        # the accumulators (read too when they accumulate).
        self.energy.sram(issued.pc, m * k * dtype.itemsize + self.stored_weight_bytes(issued, k, n, dtype, flops, m))
        self.energy.acc(issued.pc, m * n * 4 * (2 if a["acc"] else 1))
        out = self.acc.tile(where, a["dst"], m, n, np.dtype(np.float32))
        if a["acc"]:
            out += product
        else:
            out[...] = product
        self.flops += flops
        self.compute_cycles += flops / self.target.peak_flops_per_cycle(dtype_name)
        return self.mxu.schedule(now, folds, m, self.target.passes(dtype_name), preloaded)

    @staticmethod
    def stored_weight_bytes(issued: _Issued, k: int, n: int, dtype: np.dtype, flops: int, m: int) -> int:
        """The weight bytes a matmul reads from SRAM: 2:4 values (half of ``k``) and their 2-bit
        positions; under a block mask only the kept blocks (``flops / 2m`` elements); else ``k x n``."""
        mnemonic = issued.spec.mnemonic
        if mnemonic in ("mxu.mm24", "mxu.mm24r"):
            return (k // 2) * n * dtype.itemsize + (k // 4) * n
        if mnemonic == "mxu.mmsp":
            return (flops // (2 * max(m, 1))) * dtype.itemsize
        return k * n * dtype.itemsize

    def sparse24_weights(self, issued: _Issued, k: int, n: int, dtype: np.dtype) -> np.ndarray:
        """``mxu.mm24``'s ``k x n`` weight, expanded from its kept values and 2-bit positions
        (:mod:`moecc.ir.sparse24`)."""
        from moecc.ir.sparse24 import GROUP, SparseFormatError, expand_2_4

        a, where = issued.args, self.where(issued.pc)
        if k % GROUP:
            raise self.fail(issued.pc, f"k={k} must be a multiple of {GROUP} for 2:4 weights")
        values = self.sram.tile(where, a["w"], k // 2, n, dtype).astype(np.float32)
        positions = self.sram.tile(where, a["mask"], k // GROUP, n, np.dtype(np.uint8))
        try:
            return expand_2_4(values, positions)
        except SparseFormatError as err:
            raise self.fail(issued.pc, err.message) from None

    def vpu_operand(self, issued: _Issued, name: str, shape: tuple[int, int], dtype_code: int) -> np.ndarray:
        space = issued.args[f"{name}.space"]
        dtype_name = self.sim.isa.enum_value_name("dtype", dtype_code) or "f32"
        memory = self.acc if space == 1 else self.sram
        if space == 1 and dtype_name != "f32":
            raise self.fail(issued.pc, f"operand '{name}' is in the f32 accumulator but dtype is {dtype_name}")
        tile = memory.tile(self.where(issued.pc), issued.args[name], shape[0], shape[1], numpy_dtype(dtype_name))
        self.energy.memory(issued.pc, space == 1, tile.nbytes)  # each operand read or written once
        return tile

    def run_vpu(self, issued: _Issued, now: int) -> Scheduled:
        a, m = issued.args, issued.spec.mnemonic
        rows, cols, dtype_code = a["rows"], a["cols"], a["dtype"]
        is_int = self.sim.isa.enum_value_name("dtype", dtype_code) == "i32"
        work = np.int64 if is_int else np.float32
        if is_int and m in _FLOAT_ONLY:
            raise self.fail(issued.pc, f"{m} needs a float dtype, not i32")
        bcast = _BCAST_SHAPES[a.get("bcast", 0)](rows, cols)
        elements = rows * cols
        if m in _BINARY or m == "vpu.sel":
            lhs = self.vpu_operand(issued, "a", (rows, cols), dtype_code).astype(work)
            rhs = self.vpu_operand(issued, "b", bcast, dtype_code).astype(work)
            dst = self.vpu_operand(issued, "dst", (rows, cols), dtype_code)
            with np.errstate(all="ignore"):
                if m == "vpu.sel":
                    result = np.where(lhs != 0, rhs, dst.astype(work))
                elif is_int and m == "vpu.div":
                    result = lhs // rhs
                else:
                    result = _BINARY[m](lhs, rhs)
            dst[...] = np.broadcast_to(result, (rows, cols)).astype(dst.dtype)
        elif m in _UNARY:
            src = self.vpu_operand(issued, "a", bcast, dtype_code).astype(work)
            with np.errstate(all="ignore"):
                result = _UNARY[m](src)
            out_code = a["odt"] if m == "vpu.cvt" else dtype_code
            shape = (rows, 1) if m in ("vpu.rsum", "vpu.rmax") else (rows, cols)
            dst = self.vpu_operand(issued, "dst", shape, out_code)
            if dst.dtype == np.int32 and not is_int:
                result = np.trunc(np.nan_to_num(result))  # float -> int truncates toward zero
            dst[...] = np.broadcast_to(result, shape).astype(dst.dtype)
        elif m in _SCALAR:
            imm = float(np.array([a["imm"]], dtype=np.uint32).view(np.float32)[0])
            scalar = int(imm) if is_int else np.float32(imm)
            dst = self.vpu_operand(issued, "dst", (rows, cols), dtype_code)
            src = dst.astype(work) if m == "vpu.fill" else \
                self.vpu_operand(issued, "a", (rows, cols), dtype_code).astype(work)
            with np.errstate(all="ignore"):
                dst[...] = _SCALAR[m](src, scalar).astype(dst.dtype)
        elif m in ("vpu.topk", "vpu.topkmin"):
            k = a["k"]
            if not 1 <= k <= cols:
                raise self.fail(issued.pc, f"k={k} must be in 1..cols ({cols})")
            src = self.vpu_operand(issued, "a", (rows, cols), dtype_code).astype(work)
            order = topk_order(src, k, m == "vpu.topk")  # NaN above every number, ties: the lower index first
            dst = self.vpu_operand(issued, "dst", (rows, k), dtype_code)
            dst[...] = np.take_along_axis(src, order, axis=1).astype(dst.dtype)
            self.vpu_operand(issued, "b", (rows, k), self.sim.isa.enums["dtype"]["i32"])[...] = order
            elements = rows * cols * k
        elif m == "vpu.nonzero":
            src = self.vpu_operand(issued, "a", (rows, cols), dtype_code)
            found = np.flatnonzero(src.reshape(-1) != 0).astype(np.int32)
            i32 = self.sim.isa.enums["dtype"]["i32"]
            self.vpu_operand(issued, "dst", (1, found.size), i32)[...] = found
            self.vpu_operand(issued, "b", (1, 1), i32)[...] = found.size
        else:  # pragma: no cover
            raise self.fail(issued.pc, "not a VPU instruction")
        self.vpu_elements += elements
        self.energy.vpu(issued.pc, elements, issued.spec.timing)
        return vpu_schedule(self.target, now, elements, issued.spec.timing)

    # -- report ---------------------------------------------------------------------------------

    def result(self, total: int) -> SimResult:
        t = self.target
        total = max(total, 1)
        read_mask, written_mask = self.hbm.touched_read, self.hbm.touched_written
        compulsory = int(read_mask.sum()) + int(written_mask.sum())  # type: ignore[union-attr]
        memory_cycles = compulsory / t.hbm_bytes_per_cycle
        roofline = max(self.compute_cycles, memory_cycles, 1e-9)
        peak = t.peak_flops_per_cycle("bf16")
        units = {
            name: UnitReport(u.instructions, u.busy_cycles, u.busy_cycles / total)
            for name, u in self.units.items()
        }
        report = SimReport(
            target=t.name,
            clock_hz=t.clock_hz,
            total_cycles=total,
            seconds=total / t.clock_hz,
            instructions_executed=sum(u.instructions for u in self.units.values()),
            units=units,
            hbm_bytes_read=self.hbm_read,
            hbm_bytes_written=self.hbm_written,
            compulsory_hbm_bytes=compulsory,
            mxu_flops=self.flops,
            vpu_elements=self.vpu_elements,
            energy_pj=dict(self.energy.pj),
            roofline_compute_cycles=self.compute_cycles,
            roofline_memory_cycles=memory_cycles,
            roofline_cycles=roofline,
            roofline_bound="compute" if self.compute_cycles >= memory_cycles else "memory",
            ratio_to_roofline=total / roofline,
            mxu_flop_utilisation=self.flops / (peak * total),
            hbm_bandwidth_utilisation=(self.hbm_read + self.hbm_written) / (t.hbm_bytes_per_cycle * total),
        )
        trace = chrome_trace(self.events, t.clock_hz)["traceEvents"] if self.sim.record_trace else []
        return SimResult(self.hbm.data, report, trace, self.sim.program, self.pc_end, self.pc_busy, self.pc_bytes,
                         self.pc_flops, self.energy.pc_pj)
