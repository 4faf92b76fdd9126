"""Binary encoding of moe-asic programs, driven entirely by the instruction table.

Sits between the assembler (text -> :class:`Program`) and the simulator/artifact (bytes):
:func:`encode_program` writes the container below, :func:`decode_program` reads it back and
rejects anything malformed with :class:`AssemblyError`.

Container (little-endian)::

    magic "MOEASIC\\0" | u16 format_version | u16 isa_version | u32 n_instructions | u32 meta_bytes
    n_instructions x 16-byte words | meta_bytes of UTF-8 JSON (named HBM regions)
"""

from __future__ import annotations

import json
import struct

from moecc.errors import AssemblyError
from moecc.isa_spec.program import Instruction, Program, Region, numpy_dtype
from moecc.isa_spec.spec import FieldSpec, IsaSpec, load_isa

MAGIC = b"MOEASIC\0"
_HEADER = struct.Struct("<8sHHII")


def _check_value(spec_name: str, field: FieldSpec, value: int, isa: IsaSpec) -> None:
    if not isinstance(value, int):
        raise AssemblyError(f"{spec_name}: field '{field.name}' must be an integer, got {value!r}")
    if not field.min_value <= value <= field.max_value:
        raise AssemblyError(
            f"{spec_name}: field '{field.name}' value {value} does not fit "
            f"[{field.min_value}, {field.max_value}] ({field.width} bits)"
        )
    enum = field.enum_name
    if enum and value not in isa.enums[enum].values():
        raise AssemblyError(f"{spec_name}: field '{field.name}' value {value} is not a {enum}")


def encode_instruction(inst: Instruction, isa: IsaSpec | None = None) -> int:
    """The 128-bit word of one instruction, as an int."""
    isa = isa or load_isa()
    spec = isa.by_mnemonic(inst.mnemonic)
    if spec is None:
        raise AssemblyError(f"unknown mnemonic '{inst.mnemonic}'")
    header_values = {"opcode": spec.opcode, "wait0": inst.wait[0], "wait1": inst.wait[1], "signal": inst.signal}
    word = 0
    for field in isa.header:
        value = header_values[field.name]
        _check_value(spec.mnemonic, field, value, isa)
        word |= value << field.lsb
    expected = {f.name for f in spec.fields}
    unknown = set(inst.fields) - expected
    if unknown:
        raise AssemblyError(f"{spec.mnemonic}: unknown field(s) {', '.join(sorted(unknown))}")
    for field in spec.fields:
        if field.name not in inst.fields:
            raise AssemblyError(f"{spec.mnemonic}: missing field '{field.name}'")
        value = inst.fields[field.name]
        _check_value(spec.mnemonic, field, value, isa)
        word |= (value & ((1 << field.width) - 1)) << field.lsb
    return word


def decode_instruction(word: int, isa: IsaSpec | None = None, index: int | None = None) -> Instruction:
    """The instruction of a 128-bit word; rejects unknown opcodes and non-zero unused bits."""
    isa = isa or load_isa()
    where = f"instruction {index}: " if index is not None else ""

    def extract(field: FieldSpec) -> int:
        raw = (word >> field.lsb) & ((1 << field.width) - 1)
        if field.signed and raw >> (field.width - 1):
            raw -= 1 << field.width
        return raw

    header = {f.name: extract(f) for f in isa.header}
    spec = isa.by_opcode(header["opcode"])
    if spec is None:
        raise AssemblyError(f"{where}unknown opcode {header['opcode']:#x}")
    used_mask = 0
    for field in isa.header + spec.fields:
        used_mask |= ((1 << field.width) - 1) << field.lsb
    if word & ~used_mask:
        raise AssemblyError(f"{where}{spec.mnemonic} has non-zero bits outside its fields")
    fields: dict[str, int] = {}
    for field in spec.fields:
        value = extract(field)
        if field.enum_name and value not in isa.enums[field.enum_name].values():
            raise AssemblyError(f"{where}{spec.mnemonic}: field '{field.name}' value {value} is not a {field.enum_name}")
        fields[field.name] = value
    return Instruction(spec.mnemonic, fields, (header["wait0"], header["wait1"]), header["signal"])


def encode_program(program: Program, isa: IsaSpec | None = None) -> bytes:
    """The binary container of a program."""
    isa = isa or load_isa()
    nbytes = isa.word_bytes
    words = b"".join(
        encode_instruction(inst, isa).to_bytes(nbytes, "little") for inst in program.instructions
    )
    meta = json.dumps(
        {"regions": [[r.name, r.offset, r.dtype, list(r.shape)] for r in program.regions]},
        separators=(",", ":"),
    ).encode("utf-8")
    header = _HEADER.pack(MAGIC, isa.format_version, program.isa_version, len(program.instructions), len(meta))
    return header + words + meta


def decode_program(data: bytes, isa: IsaSpec | None = None) -> Program:
    """Read a binary container back; truncated, foreign or corrupt data raise AssemblyError."""
    isa = isa or load_isa()
    if len(data) < _HEADER.size:
        raise AssemblyError(f"binary is {len(data)} bytes, shorter than the {_HEADER.size}-byte header")
    magic, format_version, isa_version, count, meta_len = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise AssemblyError("not a moe-asic binary (bad magic)", remedy="assemble it with `moecc asm`")
    if format_version != isa.format_version or isa_version != isa.isa_version:
        raise AssemblyError(
            f"binary is format {format_version} / ISA {isa_version}; this moecc reads "
            f"format {isa.format_version} / ISA {isa.isa_version}"
        )
    nbytes = isa.word_bytes
    expected = _HEADER.size + count * nbytes + meta_len
    if len(data) != expected:
        raise AssemblyError(f"binary is {len(data)} bytes but its header says {expected} (truncated or padded)")
    instructions = []
    for i in range(count):
        start = _HEADER.size + i * nbytes
        instructions.append(decode_instruction(int.from_bytes(data[start:start + nbytes], "little"), isa, i))
    try:
        meta = json.loads(data[_HEADER.size + count * nbytes:].decode("utf-8"))
        regions = tuple(
            Region(str(name), int(offset), str(dtype), tuple(int(d) for d in shape))
            for name, offset, dtype, shape in meta["regions"]
        )
        for region in regions:
            numpy_dtype(region.dtype)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise AssemblyError(f"binary metadata is corrupt ({exc})") from None
    return Program(tuple(instructions), regions, isa_version)
