"""Assembler: moe-asic assembly text -> :class:`Program`, driven by ``isa.toml`` and ``asm.lark``.

First step of the ISA tool flow (``moecc asm``); a compiler backend that prints assembly calls
:func:`assemble` too. Every error is an :class:`AssemblyError` naming the line and column.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

import lark
import numpy as np

from moecc.errors import AssemblyError
from moecc.isa_spec.encoding import encode_instruction
from moecc.isa_spec.program import Instruction, Program, Region, numpy_dtype
from moecc.isa_spec.spec import FieldSpec, InstructionSpec, IsaSpec, load_isa

_REGISTER = re.compile(r"r([0-9]|[12][0-9]|3[01])$")
_TOKEN = re.compile(r"t([0-9]|[12][0-9]|3[01])$")
N_REGISTERS = 32
N_TOKENS = 32


@functools.lru_cache(maxsize=1)
def _parser() -> lark.Lark:
    grammar = resources.files("moecc.isa_spec").joinpath("asm.lark").read_text(encoding="utf-8")
    return lark.Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True)


@dataclass(slots=True)
class _Symbols:
    constants: dict[str, int | float]
    registers: dict[str, int]
    tokens: dict[str, int]
    labels: dict[str, int]


class _Located(Exception):
    """Internal: an error with the node it happened at, turned into AssemblyError by the caller."""

    def __init__(self, message: str, node: lark.Tree | lark.Token | None) -> None:
        super().__init__(message)
        self.node = node


def _position(node: lark.Tree | lark.Token | None) -> tuple[int, int] | None:
    if isinstance(node, lark.Token) and node.line is not None:
        return node.line, node.column or 0
    if isinstance(node, lark.Tree) and not node.meta.empty:
        return node.meta.line, node.meta.column
    return None


def _error(message: str, node: lark.Tree | lark.Token | None, source: str, remedy: str | None = None) -> AssemblyError:
    pos = _position(node)
    location = f"{source} line {pos[0]}, column {pos[1]}" if pos else source
    return AssemblyError(message, location=location, remedy=remedy)


def assemble(text: str, source: str = "<asm>", isa: IsaSpec | None = None) -> Program:
    """Assemble moe-asic text into a :class:`Program` (raises AssemblyError with line/column)."""
    isa = isa or load_isa()
    if not text.strip():
        raise AssemblyError("empty assembly file", location=source, remedy="start with `.isa moe-asic 2`")
    try:
        tree = _parser().parse(text if text.endswith("\n") else text + "\n")
    except lark.exceptions.UnexpectedInput as exc:
        line, column = getattr(exc, "line", "?"), getattr(exc, "column", "?")
        what = _describe_unexpected(exc)
        raise AssemblyError(what, location=f"{source} line {line}, column {column}") from None
    try:
        return _Assembler(isa).run(tree)
    except _Located as exc:
        raise _error(str(exc), exc.node, source) from None


def _describe_unexpected(exc: lark.exceptions.UnexpectedInput) -> str:
    if isinstance(exc, lark.exceptions.UnexpectedCharacters):
        return f"unexpected character {exc.char!r}"
    if isinstance(exc, lark.exceptions.UnexpectedToken):
        if exc.token.type == "$END":
            return "unexpected end of file"
        return f"unexpected {exc.token.value!r}"
    return "syntax error"


class _Assembler:
    def __init__(self, isa: IsaSpec) -> None:
        self.isa = isa
        self.symbols = _Symbols({}, {}, {}, {})
        self.regions: list[Region] = []

    def run(self, tree: lark.Tree) -> Program:
        statements: list[tuple[lark.Tree, int]] = []
        seen_isa = False
        for node in tree.children:
            if node.data == "label":
                name = str(node.children[0])
                if name in self.symbols.labels:
                    raise _Located(f"label '{name}' defined twice", node)
                self.symbols.labels[name] = len(statements)
            elif node.data == "isa_directive":
                name_tok, version_tok = node.children
                if seen_isa:
                    raise _Located("second .isa directive", node)
                if str(name_tok) != self.isa.isa or int(version_tok) != self.isa.isa_version:
                    raise _Located(
                        f"program targets {name_tok} {version_tok}; this assembler is "
                        f"{self.isa.isa} {self.isa.isa_version}", node)
                seen_isa = True
            elif node.data == "instruction":
                if not seen_isa:
                    raise _Located(f"missing `.isa {self.isa.isa} {self.isa.isa_version}` before the first instruction", node)
                statements.append((node, len(statements)))
            else:
                self._directive(node)
        if not seen_isa:
            raise _Located(f"missing `.isa {self.isa.isa} {self.isa.isa_version}` directive", None)
        instructions = []
        for node, pc in statements:
            inst = self._instruction(node, pc)
            try:
                encode_instruction(inst, self.isa)
            except AssemblyError as exc:
                raise _Located(exc.message, node) from None
            instructions.append(inst)
        return Program(tuple(instructions), tuple(self.regions), self.isa.isa_version)

    # -- directives ---------------------------------------------------------------------------

    def _define(self, name_tok: lark.Token) -> str:
        name = str(name_tok)
        taken = (self.symbols.constants, self.symbols.registers, self.symbols.tokens)
        if any(name in table for table in taken) or _REGISTER.match(name) or _TOKEN.match(name):
            raise _Located(f"name '{name}' is already defined or reserved", name_tok)
        return name

    def _directive(self, node: lark.Tree) -> None:
        kind = node.data
        if kind == "equ_directive":
            name = self._define(node.children[0])
            self.symbols.constants[name] = self._eval(node.children[1])
        elif kind == "reg_directive":
            name = self._define(node.children[0])
            self.symbols.registers[name] = self._register(node.children[1])
        elif kind == "token_directive":
            name = self._define(node.children[0])
            value = self._eval_int(node.children[1])
            if not 1 <= value < N_TOKENS:
                raise _Located(f"token id {value} is outside 1..{N_TOKENS - 1}", node)
            self.symbols.tokens[name] = value
        elif kind == "region_directive":
            name_tok, offset_node, dtype_tok, *dims = node.children
            name = self._define(name_tok)
            offset = self._eval_int(offset_node)
            try:
                numpy_dtype(str(dtype_tok))
            except AssemblyError as exc:
                raise _Located(exc.message, dtype_tok) from None
            shape = tuple(self._eval_int(d) for d in dims if d is not None)
            if offset < 0 or any(d <= 0 for d in shape):
                raise _Located("region offset must be >= 0 and dimensions > 0", node)
            self.regions.append(Region(name, offset, str(dtype_tok), shape))
            self.symbols.constants[name] = offset
        else:  # pragma: no cover - the grammar has no other directives
            raise _Located(f"unknown directive {kind}", node)

    # -- expressions --------------------------------------------------------------------------

    def _eval(self, node: lark.Tree | lark.Token) -> int | float:
        if isinstance(node, lark.Token):
            raise _Located(f"unexpected {node!s}", node)
        kind = node.data
        if kind == "int_lit":
            return int(node.children[0])
        if kind == "hex_lit":
            return int(str(node.children[0]), 16)
        if kind == "float_lit":
            return float(node.children[0])
        if kind == "name":
            tok = node.children[0]
            name = str(tok)
            if name in self.symbols.constants:
                return self.symbols.constants[name]
            if name in self.symbols.labels:
                return self.symbols.labels[name]
            raise _Located(f"undefined name '{name}'", tok)
        if kind == "neg":
            return -self._eval(node.children[0])
        left, right = self._eval(node.children[0]), self._eval(node.children[1])
        if kind == "add":
            return left + right
        if kind == "sub":
            return left - right
        if kind == "mul":
            return left * right
        raise _Located(f"expected a value, found {kind}", node)

    def _eval_int(self, node: lark.Tree) -> int:
        value = self._eval(node)
        if not isinstance(value, int):
            raise _Located(f"expected an integer, got {value}", node)
        return value

    def _bare_name(self, node: lark.Tree | lark.Token) -> lark.Token:
        if isinstance(node, lark.Tree) and node.data == "name":
            return node.children[0]
        if isinstance(node, lark.Token) and node.type == "NAME":
            return node
        raise _Located("expected a name", node)

    def _register(self, node: lark.Tree | lark.Token) -> int:
        tok = self._bare_name(node)
        name = str(tok)
        if name in self.symbols.registers:
            return self.symbols.registers[name]
        match = _REGISTER.match(name)
        if not match:
            raise _Located(f"'{name}' is not a register (r0..r{N_REGISTERS - 1} or a .reg alias)", tok)
        return int(match.group(1))

    def _token(self, tok: lark.Token) -> int:
        name = str(tok)
        if name in self.symbols.tokens:
            return self.symbols.tokens[name]
        match = _TOKEN.match(name)
        if not match:
            raise _Located(f"'{name}' is not a token (t1..t{N_TOKENS - 1} or a .token alias)", tok)
        return int(match.group(1))

    # -- instructions -------------------------------------------------------------------------

    def _instruction(self, node: lark.Tree, pc: int) -> Instruction:
        mnemonic_tok, *rest = node.children
        spec = self.isa.by_mnemonic(str(mnemonic_tok))
        if spec is None:
            raise _Located(f"unknown mnemonic '{mnemonic_tok}'", mnemonic_tok)
        operands = [c for c in rest if c is not None and not (isinstance(c, lark.Tree) and c.data in ("wait_clause", "signal_clause"))]
        syncs = [c for c in rest if isinstance(c, lark.Tree) and c.data in ("wait_clause", "signal_clause")]
        given: dict[str, lark.Tree] = {}
        positional = [op for op in operands if not (isinstance(op, lark.Tree) and op.data == "keyword")]
        if any(isinstance(op, lark.Tree) and op.data == "keyword" for op in operands[: len(positional)]):
            raise _Located("positional operands must come before name=value operands", node)
        if len(positional) > len(spec.operands):
            raise _Located(f"{spec.mnemonic} takes {len(spec.operands)} positional operand(s), got {len(positional)}", positional[len(spec.operands)])
        for name, op in zip(spec.operands, positional):
            given[name] = op
        for op in operands[len(positional):]:
            key_tok, value = op.children
            key = str(key_tok)
            if key not in spec.used_operands:
                raise _Located(f"{spec.mnemonic} has no operand '{key}' (operands: {', '.join(spec.used_operands)})", key_tok)
            if key in given:
                raise _Located(f"operand '{key}' given twice", key_tok)
            given[key] = value
        fields: dict[str, int] = {}
        for name in spec.used_operands:
            field_specs = spec.operand_fields(name)
            if name not in given:
                if all(f.default is not None for f in field_specs):
                    fields.update({f.name: int(f.default) for f in field_specs})  # type: ignore[arg-type]
                    continue
                raise _Located(f"{spec.mnemonic}: missing operand '{name}'", node)
            fields.update(self._operand(spec, name, field_specs, given[name], pc))
        wait, signal = (0, 0), 0
        seen: set[str] = set()
        for clause in syncs:
            if clause.data in seen:
                raise _Located(f"second {clause.data.split('_')[0]}(...) clause", clause)
            seen.add(clause.data)
            if clause.data == "wait_clause":
                toks = [t for t in clause.children[1:] if t is not None]
                ids = [self._token(t) for t in toks]
                wait = (ids[0], ids[1] if len(ids) > 1 else 0)
            else:
                signal = self._token(clause.children[1])
        return Instruction(spec.mnemonic, fields, wait, signal)

    def _operand(self, spec: InstructionSpec, name: str, field_specs: tuple[FieldSpec, ...],
                 node: lark.Tree, pc: int) -> dict[str, int]:
        is_address = any("." in f.name for f in field_specs)
        if is_address:
            if not (isinstance(node, lark.Tree) and node.data == "address"):
                raise _Located(f"{spec.mnemonic}: operand '{name}' is an address like mem[rN + offset]", node)
            mem_tok, reg_node, offset_node = node.children
            mem = str(mem_tok)
            names = {f.name.split(".", 1)[1]: f for f in field_specs}
            values: dict[str, int] = {}
            if "space" in names:
                if mem not in self.isa.enums["space"]:
                    raise _Located(f"{spec.mnemonic}: operand '{name}' must be in {' or '.join(self.isa.enums['space'])}, not {mem}", mem_tok)
                values[f"{name}.space"] = self.isa.enums["space"][mem]
            elif mem != spec.memory_of(name):
                raise _Located(f"{spec.mnemonic}: operand '{name}' is in {spec.memory_of(name)}, not {mem}", mem_tok)
            values[f"{name}.reg"] = self._register(reg_node)
            offset = self._eval_int(offset_node) if offset_node is not None else 0
            if "off" in names:
                values[f"{name}.off"] = offset
            elif offset:
                raise _Located(f"{spec.mnemonic}: operand '{name}' takes no offset", offset_node)
            return values
        (field,) = field_specs
        return {field.name: self._scalar(spec, field, node, pc)}

    def _scalar(self, spec: InstructionSpec, field: FieldSpec, node: lark.Tree, pc: int) -> int:
        if isinstance(node, lark.Tree) and node.data == "address":
            raise _Located(f"{spec.mnemonic}: operand '{field.name}' is not an address", node)
        if field.kind == "reg":
            return self._register(node)
        if field.enum_name:
            tok = self._bare_name(node)
            table = self.isa.enums[field.enum_name]
            if str(tok) not in table:
                raise _Located(f"'{tok}' is not a {field.enum_name} ({', '.join(table)})", tok)
            return table[str(tok)]
        if field.kind in ("body", "target") and isinstance(node, lark.Tree) and node.data == "name":
            label = str(node.children[0])
            if label in self.symbols.labels:
                return self.symbols.labels[label] - pc - (1 if field.kind == "body" else 0)
        if field.kind == "f32":
            if isinstance(node, lark.Tree) and node.data == "hex_lit":
                return int(str(node.children[0]), 16)  # hex is the raw bit pattern (NaN payloads, inf)
            value = float(self._eval(node))
            with np.errstate(over="ignore"):
                bits = np.array([value], dtype=np.float32).view(np.uint32)[0]
            return int(bits)
        return self._eval_int(node)
