"""asm -> bin -> asm -> bin round trips for every instruction and field value (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moecc.errors import AssemblyError
from moecc.isa_spec import (
    Instruction,
    Program,
    Region,
    assemble,
    decode_program,
    disassemble,
    encode_program,
    load_isa,
)

ISA = load_isa()


def _field_values(spec):  # noqa: ANN001, ANN202 - strategy builder
    parts = {}
    for field in spec.fields:
        if field.enum_name:
            parts[field.name] = st.sampled_from(sorted(ISA.enums[field.enum_name].values()))
        else:
            parts[field.name] = st.integers(field.min_value, field.max_value)
    return st.fixed_dictionaries(parts)


def _instruction(spec):  # noqa: ANN001, ANN202
    token = st.integers(0, 31)
    return st.builds(
        lambda fields, w0, w1, sig: Instruction(spec.mnemonic, fields, (w0, w1), sig),
        _field_values(spec), token, token, token,
    )


@pytest.mark.parametrize("mnemonic", [i.mnemonic for i in ISA.instructions])
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_every_instruction_round_trips(mnemonic: str, data: st.DataObject) -> None:
    spec = ISA.by_mnemonic(mnemonic)
    insts = tuple(data.draw(st.lists(_instruction(spec), min_size=1, max_size=3)))
    program = Program(insts, (Region("buf", 64, "f32", (2, 3)),))
    binary = encode_program(program)
    assert decode_program(binary) == program
    text = disassemble(decode_program(binary))
    again = encode_program(assemble(text))
    assert again == binary, text
    assert disassemble(decode_program(again)) == text


def test_word_is_128_bits_and_opcodes_unique() -> None:
    assert ISA.word_bits == 128
    assert len({i.opcode for i in ISA.instructions}) == len(ISA.instructions)


@pytest.mark.parametrize(
    "text, fragment",
    [
        (".isa moe-asic 2\n  frobnicate r1\n", "line 2, column 3: unknown mnemonic 'frobnicate'"),
        (".isa moe-asic 2\n  li r1, 5\n  add r1, r2\n", "line 3"),
        (".isa moe-asic 1\n", "line 1"),  # ISA 1 (mxu.mmsp blocks of 8 << blk) is refused
        ("  li r1, 1\n", "missing `.isa"),
        (".isa moe-asic 2\n  li r40, 1\n", "not a register"),
        (".isa moe-asic 2\n  dma.ld hbm[r1], sram[r2], rows=1, row_bytes=1, sstride=1, dstride=1\n",
         "line 2, column 10: dma.ld: operand 'dst' is in sram, not hbm"),
        (".isa moe-asic 2\n  loopi 2, nowhere\n", "undefined name 'nowhere'"),
        (".isa moe-asic 2\n  addi r1, r1, 99999999999\n", "does not fit"),
        (".isa moe-asic 2\n  li r1, $\n", "line 2, column 10: unexpected character"),
        ("", "empty"),
    ],
)
def test_assembly_errors_name_line_and_column(text: str, fragment: str) -> None:
    with pytest.raises(AssemblyError) as info:
        assemble(text, source="t.s")
    assert fragment in str(info.value)


@pytest.mark.parametrize("blob", [b"", b"\x00" * 7, b"MOEASIC\x00" + b"\x01" * 40, bytes(range(256))])
def test_bad_binaries_raise_assembly_error(blob: bytes) -> None:
    with pytest.raises(AssemblyError):
        decode_program(blob)


def test_truncated_binary_is_rejected() -> None:
    binary = encode_program(assemble(".isa moe-asic 2\n li r1, 3\n halt\n"))
    with pytest.raises(AssemblyError, match="truncated"):
        decode_program(binary[:-3])


def test_nonzero_unused_bits_are_rejected() -> None:
    binary = bytearray(encode_program(assemble(".isa moe-asic 2\n halt\n")))
    binary[20 + 15] = 0x80  # top bit of the only word: outside halt's fields
    with pytest.raises(AssemblyError, match="non-zero bits"):
        decode_program(bytes(binary))
