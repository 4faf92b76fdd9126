"""ASIC code generation: a planned kernel module -> moe-asic programs, one per host segment.

Where it sits: the last compiler stage of ``target="asic"``. Memory planning
(:mod:`moecc.passes.memory_plan`) has given every buffer an offset; here the steps are cut
into segments (maximal runs of consecutive kernels between CPU steps, since the host runs
the CPU steps between programs), and each segment goes through

    instruction selection (isel) -> token scheduling (schedule) -> Program + asm listing

The scheduled stream may hold ``label`` pseudo-instructions (branch targets of run-time
loops, :func:`moecc.backend.asic.isel.is_label`): they become ``ProgramBuilder.label`` calls,
take no pc, and are left out of the listing's instruction lines and of the unit counts.

The program's regions name every HBM buffer of the module, so the host and the simulator
address inputs, outputs, weights and temporaries by name in one shared HBM image.

    planned, plan = plan_memory(module, target)
    for segment in generate_programs(planned, target):
        result = Simulator(segment.program, target).run(hbm_image)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from moecc.backend.asic.isel import is_label, select_instructions
from moecc.backend.asic.schedule import ScheduledInstruction, ScheduleStats, schedule
from moecc.errors import TargetError
from moecc.ir.kernel import Buffer, Kernel, KernelModule
from moecc.isa_spec.disassembler import disassemble, format_instruction
from moecc.isa_spec.program import Program, ProgramBuilder, Region
from moecc.isa_spec.spec import IsaSpec, load_isa
from moecc.isa_spec.target import Target

#: Element types an HBM region can be declared with; other buffers become byte regions.
REGION_DTYPES: tuple[str, ...] = ("f32", "bf16", "i32", "u8")


@dataclass(frozen=True, slots=True)
class ProgramSegment:
    """One program: the kernels of steps ``steps[0] .. steps[1]-1`` of the module."""

    program: Program
    listing: str
    kernels: tuple[str, ...]
    steps: tuple[int, int]
    #: instructions per unit (ctrl, ld, st, mxu, vpu)
    unit_counts: Mapping[str, int] = field(default_factory=dict)
    schedule_stats: ScheduleStats = field(default_factory=ScheduleStats)

    def pc_kernels(self) -> list[str]:
        """The kernel each instruction (by pc) belongs to, read from the listing's
        ``; kernel NAME`` lines ("" before the first)."""
        return [kernel for kernel, _ in self.pc_sources()]

    def pc_sources(self) -> list[tuple[str, str]]:
        """Per instruction (by pc): its kernel and the statement it came from (the listing's
        trailing comment, with the loop variables' values, e.g. ``[_l6=3 _l7=0]``)."""
        out: list[tuple[str, str]] = []
        current = ""
        for line in self.listing.splitlines():
            text = line.strip()
            if line.startswith("; kernel "):
                current = line.split()[2]
            elif text and not text.startswith((".", ";")) and not text.endswith(":"):
                out.append((current, text.split(" ; ", 1)[1].strip() if " ; " in text else ""))
        return out


def hbm_regions(module: KernelModule) -> tuple[Region, ...]:
    """A region per HBM buffer (planned): its dtype and shape, or bytes for other dtypes."""
    regions = []
    for buf in module.hbm:
        if buf.offset is None:
            raise TargetError(f"HBM buffer {buf.name} has no offset",
                              remedy="run memory planning (plan_memory) before code generation")
        regions.append(_region(buf))
    return tuple(regions)


def _region(buf: Buffer) -> Region:
    assert buf.offset is not None
    if buf.dtype.value in REGION_DTYPES:
        return Region(buf.name, buf.offset, buf.dtype.value, tuple(buf.shape) or (1,))
    return Region(buf.name, buf.offset, "u8", (buf.nbytes,))


def segments_of(module: KernelModule) -> list[tuple[int, int]]:
    """``(first, end)`` step ranges of the maximal runs of consecutive kernels."""
    ranges: list[tuple[int, int]] = []
    start: int | None = None
    for index, step in enumerate(module.steps):
        if isinstance(step, Kernel):
            start = index if start is None else start
        elif start is not None:
            ranges.append((start, index))
            start = None
    if start is not None:
        ranges.append((start, len(module.steps)))
    return ranges


def build_program(scheduled: Sequence[ScheduledInstruction], regions: Sequence[Region],
                  isa: IsaSpec | None = None) -> Program:
    """Assemble scheduled instructions into a :class:`Program`, checking every field's width."""
    isa = isa or load_isa()
    builder = ProgramBuilder(isa)
    for region in regions:
        builder.region(region.name, region.offset, region.dtype, region.shape)
    emitted: list[ScheduledInstruction] = []  # by pc (labels take none)
    for item in scheduled:
        if is_label(item.inst):
            builder.label(item.inst.operands["name"])
            continue
        waits = tuple(t for t in item.wait if t)
        builder.emit(item.inst.mnemonic, wait=waits, signal=item.signal, **item.inst.operands)
        emitted.append(item)
    program = builder.build()
    for pc, inst in enumerate(program.instructions):
        spec = isa.by_mnemonic(inst.mnemonic)
        assert spec is not None
        for f in spec.fields:
            value = inst.fields[f.name]
            if not f.min_value <= value <= f.max_value:
                raise TargetError(
                    f"instruction {pc} ({inst.mnemonic}): field {f.name}={value} does not fit {f.width} bits",
                    location=emitted[pc].inst.comment or None,
                    remedy="this is an instruction-selection bug; please report it with the kernel IR")
    return program


def listing_text(program: Program, scheduled: Sequence[ScheduledInstruction], kernels: Mapping[str, Kernel],
                 isa: IsaSpec | None = None) -> str:
    """Assembly text with a ``; kernel NAME (sources)`` line where each kernel starts and the
    statement each instruction came from as a trailing comment; branch targets print as
    labels ``L<pc>``. Re-assembles to ``program``."""
    isa = isa or load_isa()
    header = disassemble(Program((), program.regions, program.isa_version), isa).rstrip("\n").split("\n")
    lines = list(header)
    items = [item for item in scheduled if not is_label(item.inst)]
    labels = _branch_labels(program, isa)
    current = None
    for pc, (inst, item) in enumerate(zip(program.instructions, items)):
        kernel = item.inst.kernel
        if kernel and kernel != current:
            current = kernel
            sources = kernels[kernel].sources if kernel in kernels else ()
            lines.append(f"; kernel {kernel}" + (f" ({', '.join(sources)})" if sources else ""))
        if pc in labels:
            lines.append(f"{labels[pc]}:")
        text = f"    {format_instruction(inst, pc, labels, isa)}"
        if item.inst.comment:
            text = f"{text:<100} ; {item.inst.comment}"
        lines.append(text)
    if len(program.instructions) in labels:
        lines.append(f"{labels[len(program.instructions)]}:")
    return "\n".join(lines) + "\n"


def _branch_labels(program: Program, isa: IsaSpec) -> dict[int, str]:
    """``L<pc>`` for every pc a branch or loop body of ``program`` targets (as the disassembler)."""
    labels: dict[int, str] = {}
    count = len(program.instructions)
    for pc, inst in enumerate(program.instructions):
        spec = isa.by_mnemonic(inst.mnemonic)
        assert spec is not None
        for f in spec.fields:
            if f.kind in ("body", "target"):
                target = pc + inst.fields[f.name] + (1 if f.kind == "body" else 0)
                if 0 <= target <= count:
                    labels[target] = f"L{target}"
    return labels


def generate_programs(module: KernelModule, target: Target, isa: IsaSpec | None = None,
                      weights: Mapping[str, np.ndarray] | None = None) -> list[ProgramSegment]:
    """One :class:`ProgramSegment` per run of consecutive kernels of a *planned* module
    (``weights``: the HBM weight data, which lets loads leave out zero blocks)."""
    isa = isa or load_isa()
    regions = hbm_regions(module)
    segments = []
    for first, end in segments_of(module):
        kernels = [s for s in module.steps[first:end] if isinstance(s, Kernel)]
        stream = select_instructions(module, kernels, target, isa, weights)
        scheduled, stats = schedule(stream)
        program = build_program(scheduled, regions, isa)
        units = Counter(item.inst.unit for item in scheduled if not is_label(item.inst))
        segments.append(ProgramSegment(
            program=program,
            listing=listing_text(program, scheduled, {k.name: k for k in kernels}, isa),
            kernels=tuple(k.name for k in kernels),
            steps=(first, end),
            unit_counts=dict(units),
            schedule_stats=stats,
        ))
    return segments
