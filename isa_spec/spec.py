"""The moe-asic instruction table, loaded from ``isa.toml`` into typed, validated records.

First stop of the ISA flow: every other ISA module (encoding, assembler, disassembler,
docgen) and the simulator's decoder read instructions through :func:`load_isa` instead of
hard-coding them, so adding an instruction is a table edit.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from importlib import resources
from typing import Any

from moecc.errors import AssemblyError

#: Units that own an instruction queue; ``ctrl`` is the in-order fetch/dispatch + scalar unit.
UNITS: tuple[str, ...] = ("ctrl", "ld", "st", "mxu", "vpu")

FIELD_KINDS: frozenset[str] = frozenset(
    {"uimm", "simm", "reg", "token", "f32", "space", "body", "target"}
)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One bit field of an instruction word."""

    name: str
    lsb: int
    width: int
    kind: str  # one of FIELD_KINDS or "enum:<name>"
    default: int | None = None
    #: The assembly operand this field belongs to (``dst`` for ``dst.reg``).
    operand: str = dataclass_field(init=False, repr=False, compare=False)

    @property
    def enum_name(self) -> str | None:
        if self.kind == "space":
            return "space"
        return self.kind.split(":", 1)[1] if self.kind.startswith("enum:") else None

    @property
    def signed(self) -> bool:
        return self.kind in ("simm", "target")

    @property
    def min_value(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_value(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "operand", self.name.split(".", 1)[0])


@dataclass(frozen=True, slots=True)
class FormatSpec:
    name: str
    fields: tuple[FieldSpec, ...]


@dataclass(frozen=True, slots=True)
class InstructionSpec:
    """One instruction: its encoding, unit, assembly syntax, semantics and timing class."""

    mnemonic: str
    opcode: int
    unit: str
    format: FormatSpec
    operands: tuple[str, ...]  # positional assembly operands, in order
    keywords: tuple[str, ...]  # name=value assembly operands
    semantics: str
    timing: str
    memory: tuple[tuple[str, str], ...]  # address operand -> memory, for fixed-memory operands

    #: The format's fields this instruction uses (the others must be zero), and the fields of
    #: each operand: computed once (the assembler, disassembler and simulator ask per instruction).
    fields: tuple[FieldSpec, ...] = dataclass_field(init=False, repr=False, compare=False)
    _operand_fields: dict[str, tuple[FieldSpec, ...]] = dataclass_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        used = set(self.used_operands)
        object.__setattr__(self, "fields", tuple(f for f in self.format.fields if f.operand in used))
        by_operand: dict[str, tuple[FieldSpec, ...]] = {}
        for f in self.format.fields:
            by_operand[f.operand] = by_operand.get(f.operand, ()) + (f,)
        object.__setattr__(self, "_operand_fields", by_operand)

    @property
    def used_operands(self) -> tuple[str, ...]:
        return self.operands + self.keywords

    def operand_fields(self, operand: str) -> tuple[FieldSpec, ...]:
        return self._operand_fields.get(operand, ())

    def memory_of(self, operand: str) -> str | None:
        return dict(self.memory).get(operand)


@dataclass(frozen=True)  # not slots: the lookup indexes below are cached on the instance
class IsaSpec:
    """The whole instruction set."""

    isa: str
    isa_version: int
    format_version: int
    word_bits: int
    header: tuple[FieldSpec, ...]
    enums: dict[str, dict[str, int]]
    formats: dict[str, FormatSpec]
    instructions: tuple[InstructionSpec, ...]

    @property
    def word_bytes(self) -> int:
        return self.word_bits // 8

    @functools.cached_property
    def _by_mnemonic(self) -> dict[str, InstructionSpec]:
        return {i.mnemonic: i for i in self.instructions}

    @functools.cached_property
    def _by_opcode(self) -> dict[int, InstructionSpec]:
        return {i.opcode: i for i in self.instructions}

    def by_mnemonic(self, mnemonic: str) -> InstructionSpec | None:
        return self._by_mnemonic.get(mnemonic)

    def by_opcode(self, opcode: int) -> InstructionSpec | None:
        return self._by_opcode.get(opcode)

    def enum_value_name(self, enum: str, value: int) -> str | None:
        for name, code in self.enums[enum].items():
            if code == value:
                return name
        return None


def _field(raw: dict[str, Any], where: str) -> FieldSpec:
    try:
        field = FieldSpec(
            name=str(raw["name"]),
            lsb=int(raw["lsb"]),
            width=int(raw["width"]),
            kind=str(raw["kind"]),
            default=raw.get("default"),
        )
    except KeyError as exc:
        raise AssemblyError(f"isa.toml: {where}: field entry lacks {exc}") from None
    if field.kind not in FIELD_KINDS and not field.kind.startswith("enum:"):
        raise AssemblyError(f"isa.toml: {where}: field '{field.name}' has unknown kind '{field.kind}'")
    return field


def parse_isa(text: str) -> IsaSpec:
    """Parse and validate the instruction table (raises AssemblyError on a bad table)."""
    data = tomllib.loads(text)
    header = tuple(_field(f, "header") for f in data["header"])
    word_bits = int(data["word_bits"])
    formats = {
        name: FormatSpec(name, tuple(_field(f, f"format {name}") for f in body["fields"]))
        for name, body in data["formats"].items()
    }
    enums = {name: {k: int(v) for k, v in values.items()} for name, values in data["enums"].items()}
    for fmt in formats.values():
        _check_layout(header + fmt.fields, word_bits, f"format {fmt.name}")
        for field in fmt.fields:
            if field.enum_name and field.enum_name not in enums:
                raise AssemblyError(f"isa.toml: format {fmt.name}: unknown enum '{field.enum_name}'")
    instructions = []
    opcode_width = header[0].width
    for raw in data["instruction"]:
        mnemonic = raw["mnemonic"]
        fmt = formats.get(raw["format"])
        if fmt is None:
            raise AssemblyError(f"isa.toml: {mnemonic}: unknown format '{raw['format']}'")
        inst = InstructionSpec(
            mnemonic=mnemonic,
            opcode=int(raw["opcode"]),
            unit=str(raw["unit"]),
            format=fmt,
            operands=tuple(raw.get("operands", ())),
            keywords=tuple(raw.get("keywords", ())),
            semantics=str(raw["semantics"]),
            timing=str(raw["timing"]),
            memory=tuple(sorted(raw.get("memory", {}).items())),
        )
        format_operands = {f.operand for f in fmt.fields}
        for operand in inst.used_operands:
            if operand not in format_operands:
                raise AssemblyError(f"isa.toml: {mnemonic}: operand '{operand}' not in format {fmt.name}")
        if inst.unit not in UNITS:
            raise AssemblyError(f"isa.toml: {mnemonic}: unknown unit '{inst.unit}'")
        if not 0 <= inst.opcode < (1 << opcode_width):
            raise AssemblyError(f"isa.toml: {mnemonic}: opcode does not fit {opcode_width} bits")
        instructions.append(inst)
    for attr in ("mnemonic", "opcode"):
        values = [getattr(i, attr) for i in instructions]
        if len(values) != len(set(values)):
            raise AssemblyError(f"isa.toml: duplicate {attr}")
    return IsaSpec(
        isa=str(data["isa"]),
        isa_version=int(data["isa_version"]),
        format_version=int(data["format_version"]),
        word_bits=word_bits,
        header=header,
        enums=enums,
        formats=formats,
        instructions=tuple(instructions),
    )


def _check_layout(fields: tuple[FieldSpec, ...], word_bits: int, where: str) -> None:
    taken = 0
    for field in fields:
        mask = ((1 << field.width) - 1) << field.lsb
        if field.width <= 0 or field.lsb + field.width > word_bits:
            raise AssemblyError(f"isa.toml: {where}: field '{field.name}' exceeds the {word_bits}-bit word")
        if taken & mask:
            raise AssemblyError(f"isa.toml: {where}: field '{field.name}' overlaps another field")
        taken |= mask


@functools.lru_cache(maxsize=1)
def load_isa() -> IsaSpec:
    """The packaged moe-asic instruction table (cached)."""
    text = resources.files("moecc.isa_spec").joinpath("isa.toml").read_text(encoding="utf-8")
    return parse_isa(text)
