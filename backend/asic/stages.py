"""The ASIC back end's stage as a pass: kernel IR → moe-asic programs (``select-instructions``).

Runs after ``plan-memory`` in the ``asic`` target's pipeline. It cuts the planned kernel module
into segments (runs of kernels between host steps), selects instructions for each by the ISA
table, schedules dependency tokens and encodes a program per segment
(:func:`~moecc.backend.asic.codegen.generate_programs`). The compilation moves to the ``asm``
level, whose text is the programs' listings, one per segment, each of which the assembler reads
back (:func:`asm_segments` splits them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from moecc.backend.asic.codegen import ProgramSegment
from moecc.errors import PassError
from moecc.passes.compilation import Compilation, IRLevel, StagePass, register_level
from moecc.passes.manager import register_pass

#: Line that opens each program segment in the ``asm`` level's text (an assembler comment).
SEGMENT_MARKER = "; ----- program segment "


@register_pass
@dataclass(frozen=True, slots=True)
class SelectInstructionsStage(StagePass):
    """Instruction selection, token scheduling and encoding: one program per segment."""

    name: ClassVar[str] = "select-instructions"
    consumes: ClassVar[tuple[str, ...]] = ("kernel",)
    produces: ClassVar[str] = "asm"

    def run(self, unit: Compilation) -> None:
        from moecc.backend.asic.codegen import generate_programs

        unit.products["segments"] = generate_programs(unit.require_kernels(self.name), unit.tiling,
                                                       weights=unit.weights)


def _segments(unit: Compilation) -> list[ProgramSegment]:
    segments = unit.products.get("segments")
    if segments is None:
        raise PassError("the compilation has no programs yet", remedy="run select-instructions first")
    return list(segments)


def asm_text(segments: Sequence[ProgramSegment]) -> str:
    """The listings of ``segments``, each opened by a :data:`SEGMENT_MARKER` line."""
    parts = []
    for index, segment in enumerate(segments):
        first, end = segment.steps
        parts.append(f"{SEGMENT_MARKER}{index} (steps {first}..{end - 1})\n{segment.listing}")
    return "".join(parts)


def _print_asm_level(unit: Compilation) -> str:
    return asm_text(_segments(unit))


def asm_segments(text: str) -> list[str]:
    """The listing of each program segment in the ``asm`` level's text (for the assembler)."""
    chunks = text.split(SEGMENT_MARKER)
    return [chunk.partition("\n")[2] for chunk in chunks[1:]]


def _verify_asm_level(unit: Compilation) -> None:
    segments = _segments(unit)
    steps = len(unit.require_kernels("verify").steps)
    for segment in segments:
        first, end = segment.steps
        if not 0 <= first < end <= steps:
            raise PassError(f"program segment covers steps {first}..{end - 1} of a module with {steps} steps")


register_level(IRLevel("asm", _print_asm_level, _verify_asm_level, "s"))
