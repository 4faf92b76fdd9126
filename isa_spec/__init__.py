"""The moe-asic instruction set as data, and the tools derived from it.

Where it sits in the flow: instruction selection (``moecc.backend.asic``, later work) emits
moe-asic instructions; this package assembles, encodes, decodes and disassembles them, and
describes the parts (targets) the simulator in :mod:`moecc.backend.asic.sim` prices.

- ``isa.toml``: the instruction table (mnemonic, opcode, unit, fields, semantics, timing class)
- ``target-<name>.toml``: target descriptions (``moe-asic-v1`` default, ``moe-asic-edge``)
- ``asm.lark``: the assembly grammar; ``isa_prose.md`` + :mod:`docgen` -> ``ISA.md``
"""

from __future__ import annotations

from moecc.isa_spec.assembler import assemble
from moecc.isa_spec.disassembler import disassemble, format_instruction
from moecc.isa_spec.encoding import decode_instruction, decode_program, encode_instruction, encode_program
from moecc.isa_spec.program import Addr, Instruction, Program, ProgramBuilder, Region, numpy_dtype
from moecc.isa_spec.spec import FieldSpec, FormatSpec, InstructionSpec, IsaSpec, load_isa
from moecc.isa_spec.target import DEFAULT_TARGET, Target, available_targets, load_target

__all__ = [
    "DEFAULT_TARGET",
    "Addr",
    "FieldSpec",
    "FormatSpec",
    "Instruction",
    "InstructionSpec",
    "IsaSpec",
    "Program",
    "ProgramBuilder",
    "Region",
    "Target",
    "assemble",
    "available_targets",
    "decode_instruction",
    "decode_program",
    "disassemble",
    "encode_instruction",
    "encode_program",
    "format_instruction",
    "load_isa",
    "load_target",
    "numpy_dtype",
]
