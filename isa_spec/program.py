"""moe-asic programs as data: instructions with field values, named HBM regions, a builder.

What the assembler produces, the encoder serialises, the disassembler prints and the
simulator runs. A compiler backend can build a :class:`Program` directly with
:class:`ProgramBuilder` instead of printing assembly text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from moecc.errors import AssemblyError
from moecc.isa_spec.spec import InstructionSpec, IsaSpec, load_isa

#: Element dtypes by their ISA names (``enums.dtype``).
DTYPES: dict[str, np.dtype] = {}


def numpy_dtype(name: str) -> np.dtype:
    """The numpy dtype of an ISA dtype name (``f32``, ``bf16``, ``i32``, plus ``u8`` for masks)."""
    if not DTYPES:
        import ml_dtypes

        DTYPES.update(
            f32=np.dtype(np.float32),
            bf16=np.dtype(ml_dtypes.bfloat16),
            i32=np.dtype(np.int32),
            u8=np.dtype(np.uint8),
        )
    if name not in DTYPES:
        raise AssemblyError(f"unknown dtype '{name}'", remedy=f"use one of {', '.join(DTYPES)}")
    return DTYPES[name]


@dataclass(frozen=True, slots=True)
class Instruction:
    """One instruction: mnemonic, raw field values (enum codes, f32 bit patterns) and tokens.

    ``fields`` maps every field the instruction uses (``dst.reg``, ``rows``, ...) to its value;
    signed fields hold Python ints, f32 immediates their 32-bit pattern.
    """

    mnemonic: str
    fields: Mapping[str, int] = field(default_factory=dict)
    wait: tuple[int, int] = (0, 0)
    signal: int = 0

    def __getitem__(self, name: str) -> int:
        return self.fields[name]


@dataclass(frozen=True, slots=True)
class Region:
    """A named HBM buffer: byte offset, element dtype and shape (program inputs and outputs)."""

    name: str
    offset: int
    dtype: str
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * numpy_dtype(self.dtype).itemsize

    @property
    def end(self) -> int:
        return self.offset + self.nbytes


@dataclass(frozen=True, slots=True)
class Program:
    """A moe-asic program: instructions, named HBM regions and the ISA version it targets."""

    instructions: tuple[Instruction, ...]
    regions: tuple[Region, ...] = ()
    isa_version: int = 2

    def region(self, name: str) -> Region:
        for region in self.regions:
            if region.name == name:
                return region
        raise KeyError(name)

    @property
    def hbm_bytes_needed(self) -> int:
        return max((r.end for r in self.regions), default=0)


@dataclass(frozen=True, slots=True)
class Addr:
    """An address operand for :class:`ProgramBuilder`: ``regs[reg] + off`` in ``space``."""

    reg: int = 0
    off: int = 0
    space: str | None = None  # only for VPU operands: "sram" or "acc"


class ProgramBuilder:
    """Builds a :class:`Program` from Python, resolving labels for loop bodies and branches.

    >>> b = ProgramBuilder()
    >>> b.emit("li", rd=1, imm=4)
    >>> b.emit("loopi", count=3, body="end")
    >>> b.emit("addi", rd=2, ra=2, imm=1)
    >>> b.label("end")
    >>> b.emit("halt")
    >>> len(b.build().instructions)
    4
    """

    def __init__(self, isa: IsaSpec | None = None) -> None:
        self._isa = isa or load_isa()
        self._pending: list[tuple[InstructionSpec, dict[str, int | str], tuple[int, int], int]] = []
        self._labels: dict[str, int] = {}
        self._regions: list[Region] = []

    def label(self, name: str) -> None:
        if name in self._labels:
            raise AssemblyError(f"label '{name}' defined twice")
        self._labels[name] = len(self._pending)

    def region(self, name: str, offset: int, dtype: str, shape: tuple[int, ...]) -> Region:
        region = Region(name, offset, dtype, tuple(shape))
        self._regions.append(region)
        return region

    def emit(self, mnemonic: str, *, wait: tuple[int, ...] = (), signal: int = 0, **operands: object) -> None:
        spec = self._isa.by_mnemonic(mnemonic)
        if spec is None:
            raise AssemblyError(f"unknown mnemonic '{mnemonic}'")
        values: dict[str, int | str] = {}
        for name, value in operands.items():
            fields = spec.operand_fields(name)
            if name not in spec.used_operands:
                raise AssemblyError(f"{mnemonic}: no operand '{name}'")
            if isinstance(value, Addr):
                values[f"{name}.reg"] = value.reg
                if any(f.name == f"{name}.off" for f in fields):
                    values[f"{name}.off"] = value.off
                elif value.off:
                    raise AssemblyError(f"{mnemonic}: operand '{name}' takes no offset")
                if any(f.name == f"{name}.space" for f in fields):
                    values[f"{name}.space"] = self._isa.enums["space"][value.space or "sram"]
            elif isinstance(value, str) and fields[0].enum_name:
                values[name] = self._isa.enums[fields[0].enum_name][value]
            elif isinstance(value, (int, str, np.integer)):
                values[name] = value if isinstance(value, str) else int(value)
            elif isinstance(value, float) and fields[0].kind == "f32":
                values[name] = int(np.float32(value).view(np.uint32))
            else:
                raise AssemblyError(f"{mnemonic}: bad value {value!r} for operand '{name}'")
        waits = tuple(wait) + (0,) * (2 - len(wait))
        if len(waits) != 2:
            raise AssemblyError(f"{mnemonic}: at most two wait tokens")
        self._pending.append((spec, values, (waits[0], waits[1]), signal))

    def build(self) -> Program:
        instructions = []
        for pc, (spec, values, wait, signal) in enumerate(self._pending):
            fields: dict[str, int] = {}
            for f in spec.fields:
                value = values.get(f.name, f.default if f.default is not None else None)
                if value is None:
                    raise AssemblyError(f"instruction {pc} ({spec.mnemonic}): missing field '{f.name}'")
                if isinstance(value, str):
                    if value not in self._labels:
                        raise AssemblyError(f"instruction {pc} ({spec.mnemonic}): unknown label '{value}'")
                    value = self._labels[value] - pc - (1 if f.kind == "body" else 0)
                fields[f.name] = value
            instructions.append(Instruction(spec.mnemonic, fields, wait, signal))
        return Program(tuple(instructions), tuple(self._regions))
