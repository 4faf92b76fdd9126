"""Disassembler: :class:`Program` -> canonical moe-asic assembly text.

The inverse of :mod:`moecc.isa_spec.assembler`: ``assemble(disassemble(p))`` encodes to the
same bytes as ``p`` for every instruction and field value (a hypothesis test checks it).
Loop bodies and branch targets inside the program print as labels ``L<pc>``; registers and
tokens print by number, HBM regions as ``.region`` directives.
"""

from __future__ import annotations

import math

import numpy as np

from moecc.isa_spec.program import Instruction, Program
from moecc.isa_spec.spec import FieldSpec, InstructionSpec, IsaSpec, load_isa


def _f32_text(bits: int) -> str:
    value = float(np.array([bits], dtype=np.uint32).view(np.float32)[0])
    if not math.isfinite(value):
        return f"{bits:#010x}"  # hex is read back as the raw bit pattern
    return repr(value)


def _target_pc(spec: InstructionSpec, field: FieldSpec, value: int, pc: int) -> int:
    return pc + value + (1 if field.kind == "body" else 0)


def _operand_text(isa: IsaSpec, spec: InstructionSpec, name: str, inst: Instruction, pc: int,
                  labels: dict[int, str]) -> str:
    fields = spec.operand_fields(name)
    values = inst.fields
    if any("." in f.name for f in fields):
        sub = {f.name.split(".", 1)[1] for f in fields}
        mem = (isa.enum_value_name("space", values[f"{name}.space"]) if "space" in sub
               else spec.memory_of(name))
        text = f"{mem}[r{values[f'{name}.reg']}"
        if "off" in sub:
            text += f" + {values[f'{name}.off']:#x}"
        return text + "]"
    (field,) = fields
    value = values[field.name]
    if field.kind == "reg":
        return f"r{value}"
    if field.enum_name:
        return str(isa.enum_value_name(field.enum_name, value))
    if field.kind == "f32":
        return _f32_text(value)
    if field.kind in ("body", "target"):
        target = _target_pc(spec, field, value, pc)
        if target in labels:
            return labels[target]
    return str(value)


def format_instruction(inst: Instruction, pc: int = 0, labels: dict[int, str] | None = None,
                       isa: IsaSpec | None = None) -> str:
    """One instruction as canonical assembly text (no label, no indentation)."""
    isa = isa or load_isa()
    spec = isa.by_mnemonic(inst.mnemonic)
    assert spec is not None, inst.mnemonic
    labels = labels or {}
    parts = [_operand_text(isa, spec, name, inst, pc, labels) for name in spec.operands]
    parts += [f"{name}={_operand_text(isa, spec, name, inst, pc, labels)}" for name in spec.keywords]
    text = inst.mnemonic + (" " + ", ".join(parts) if parts else "")
    if inst.wait != (0, 0):
        text += f" wait(t{inst.wait[0]}" + (f", t{inst.wait[1]}" if inst.wait[1] else "") + ")"
    if inst.signal:
        text += f" signal(t{inst.signal})"
    return text


def disassemble(program: Program, isa: IsaSpec | None = None) -> str:
    """The whole program as assembly text that re-assembles to the same binary."""
    isa = isa or load_isa()
    count = len(program.instructions)
    labels: dict[int, str] = {}
    for pc, inst in enumerate(program.instructions):
        spec = isa.by_mnemonic(inst.mnemonic)
        assert spec is not None
        for field in spec.fields:
            if field.kind in ("body", "target"):
                target = _target_pc(spec, field, inst.fields[field.name], pc)
                if 0 <= target <= count:
                    labels[target] = f"L{target}"
    lines = [f".isa {isa.isa} {program.isa_version}"]
    for region in program.regions:
        shape = ", ".join(str(d) for d in region.shape)
        lines.append(f".region {region.name} {region.offset:#x} {region.dtype} [{shape}]")
    for pc, inst in enumerate(program.instructions):
        if pc in labels:
            lines.append(f"{labels[pc]}:")
        lines.append(f"    {format_instruction(inst, pc, labels, isa)}")
    if count in labels:
        lines.append(f"{labels[count]}:")
    return "\n".join(lines) + "\n"
