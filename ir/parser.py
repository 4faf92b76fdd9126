"""The graph IR's text form, parsing side: text (``docs/ir.md``) back to a :class:`Graph`.

``moecc opt`` and the textual IR tests read IR with :func:`parse_graph`. The parser builds the
graph exactly as written: result types and attributes come from the text, nothing is
re-inferred or verified (run :func:`moecc.ir.verifier.verify_graph` for that), so any
syntactically valid IR over registered op kinds parses, including IR a pass got wrong. What the
parser does check, with ``line:column`` in an :class:`IRParseError`: the syntax, that op kinds
exist in the registry, attribute names and kinds against the op's declaration (filling in the
defaults the printer leaves out), and SSA naming (no undefined or redefined values).

The grammar is ``grammar.lark`` (LALR); tensor types and ``dense<...>`` literals are single
tokens read here, so a big constant printed in full parses at numpy speed.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any, NoReturn

import lark
import numpy as np

from moecc.errors import IRParseError, UnsupportedError
from moecc.ir.graph import ElidedTensor, Graph, Op, Value, tensor_digest
from moecc.ir.printer import FLOAT_BITS, canonical_default
from moecc.ir.registry import REQUIRED, Attr, AttrKind, OpDef, all_op_defs
from moecc.ir.types import DType, TensorType

_INT_LITERAL = re.compile(r"[-+]?\d+")
_FLOAT_LITERAL = re.compile(r"[-+]?(\d+(\.\d*)?([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?|inf|nan)")
_HEX_LITERAL = re.compile(r"0x[0-9a-fA-F]+")
_DIGEST = re.compile(r"[0-9a-f]{16}")
_DENSE_TOKEN = re.compile(r"\[|\]|,|[^\s\[\],]+")
_ELIDED = re.compile(r'\s*elided\s+"([^"]*)"\s*')

#: Readable names of the grammar's terminals, for "expected ..." in syntax errors.
_TERMINAL_NAMES = {
    "VALUE": "a value (%name)",
    "GRAPH_NAME": "a graph name (@name)",
    "TENSOR_TYPE": "a tensor type",
    "DENSE": "a dense<...> literal",
    "STRING": "a string",
    "NUMBER": "a number",
    "WORD": "a name",
    "LPAR": "'('",
    "RPAR": "')'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "COLON": "':'",
    "EQUAL": "'='",
    "GRAPH": "'graph'",
    "RETURN": "'return'",
    "AS": "'as'",
    "LOC": "'loc'",
}


@functools.cache
def _lark_parser() -> lark.Lark:
    grammar = resources.files("moecc.ir").joinpath("grammar.lark").read_text(encoding="utf-8")
    return lark.Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True, maybe_placeholders=True)


def parse_graph(text: str, *, weights: Mapping[str, np.ndarray] | None = None) -> Graph:
    """Parse graph-IR text into a :class:`Graph` (not verified).

    Elided constants (``dense<elided "digest">``) become :class:`ElidedTensor` placeholders;
    when ``weights`` is given, each is bound to ``weights[value name]`` or ``weights[digest]``
    (a const's result name is tried first; tensor attributes of other ops bind by digest).
    Raises :class:`IRParseError` naming ``line:column`` for anything malformed.
    """
    try:
        tree = _lark_parser().parse(text)
    except lark.exceptions.UnexpectedInput as err:
        raise _syntax_error(err, text) from None
    return _GraphReader(text, weights).read(tree)


# -- syntax errors -------------------------------------------------------------------------

def _describe_terminals(names: set[str] | frozenset[str]) -> str:
    readable = sorted({_TERMINAL_NAMES.get(n, n.lower()) for n in names if not n.startswith("$")})
    if not readable:
        return "the end of the text"
    return readable[0] if len(readable) == 1 else "one of " + ", ".join(readable)


def _syntax_error(err: lark.exceptions.UnexpectedInput, text: str) -> IRParseError:
    line, column = err.line, err.column
    if isinstance(err, lark.exceptions.UnexpectedCharacters):
        char = text[err.pos_in_stream] if err.pos_in_stream < len(text) else ""
        message = f"unexpected character {char!r}"
        expected = err.allowed or set()
    elif isinstance(err, lark.exceptions.UnexpectedEOF):
        lines = text.split("\n")
        line, column = len(lines), len(lines[-1]) + 1
        message = "unexpected end of text"
        expected = set(err.expected)
    elif isinstance(err, lark.exceptions.UnexpectedToken):
        token = err.token
        if token.type == "$END":
            lines = text.rstrip("\n").split("\n")
            line, column = len(lines), len(lines[-1]) + 1
            message = "unexpected end of text"
        else:
            message = f"unexpected {token.value!r}"
        expected = err.accepts or err.expected
    else:
        message, expected = "syntax error", set()
    return IRParseError(
        f"{message}, expected {_describe_terminals(expected)}",
        location=f"line {line}:{column}",
    )


# -- tree to graph ---------------------------------------------------------------------------

class _GraphReader:
    """Walks the Lark tree in order, keeping the SSA symbol table."""

    def __init__(self, text: str, weights: Mapping[str, np.ndarray] | None) -> None:
        self.text = text
        self.weights = weights
        self.op_defs = all_op_defs()
        self.values: dict[str, tuple[Value, lark.Token]] = {}

    # -- errors
    @staticmethod
    def fail(message: str, at: lark.Token | lark.tree.Meta, *, remedy: str | None = None) -> NoReturn:
        raise IRParseError(message, location=f"line {at.line}:{at.column}", remedy=remedy)

    # -- structure
    def read(self, tree: lark.Tree) -> Graph:
        graph_name_token, *rest = tree.children
        graph = Graph(_unquote_name(graph_name_token, self))
        params = [c for c in rest if isinstance(c, lark.Tree) and c.data == "param"]
        ops = [c for c in rest if isinstance(c, lark.Tree) and c.data == "op"]
        (ret,) = [c for c in rest if isinstance(c, lark.Tree) and c.data == "return_stmt"]
        for param in params:
            name_token, type_token = param.children
            value = Value(self.define(name_token), self.tensor_type(type_token))
            self.bind(value, name_token)
            graph.inputs.append(value)
        for op_tree in ops:
            graph.ops.append(self.read_op(op_tree))
        outputs: list[Value] = []
        names: list[str] = []
        for out in ret.children:
            if out is None:
                continue
            value_token, name_token = out.children
            value = self.use(value_token)
            outputs.append(value)
            names.append(value.name if name_token is None else self.string(name_token))
        graph.set_outputs(outputs, names)
        for name in self.values:
            graph.reserve_name(name)  # so passes' fresh names cannot collide with parsed ones
        return graph

    def define(self, token: lark.Token) -> str:
        name = _unquote_name(token, self)
        if name in self.values:
            _, first = self.values[name]
            self.fail(
                f"value {token} is already defined (at line {first.line}:{first.column})",
                token,
                remedy="give every value a unique name",
            )
        self.values[name] = (None, token)  # type: ignore[assignment]  # bound to its Value below
        return name

    def bind(self, value: Value, token: lark.Token) -> None:
        self.values[value.name] = (value, token)

    def use(self, token: lark.Token) -> Value:
        name = _unquote_name(token, self)
        entry = self.values.get(name)
        if entry is None or entry[0] is None:
            self.fail(f"use of undefined value {token}", token, remedy="define a value before using it")
        return entry[0]

    def read_op(self, tree: lark.Tree) -> Op:
        results_tree, kind_token, body, loc = tree.children
        kind = str(kind_token)
        opdef = self.op_defs.get(kind)
        if opdef is None:
            self.fail(
                f"unknown op kind '{kind}'",
                kind_token,
                remedy="the registered op kinds are listed by moecc.ir.registry.all_op_defs()",
            )
        result_tokens = list(results_tree.children) if results_tree is not None else []
        source = self.string(loc.children[0]) if loc is not None else None
        if body.data == "const_body":
            dense_token, type_token = body.children
            result_type = self.tensor_type(type_token)
            attr_tree = None
            operand_tokens: list[lark.Token] = []
            types = [result_type]
            types_at: lark.Token | lark.tree.Meta = type_token
            if kind != "const":
                self.fail(f"only 'const' takes a dense literal directly, '{kind}' does not", dense_token)
            constant = self.dense(dense_token, result_type)
            attrs: dict[str, Any] = {"value": constant}
        else:
            operand_children = [c for c in body.children if isinstance(c, lark.Token) and c.type == "VALUE"]
            operand_tokens = operand_children
            attr_tree = next((c for c in body.children if isinstance(c, lark.Tree)), None)
            type_tokens = [c for c in body.children if isinstance(c, lark.Token) and c.type == "TENSOR_TYPE"]
            types = [self.tensor_type(t) for t in type_tokens]
            types_at = type_tokens[0] if type_tokens else kind_token
            attrs = {}
        operands = [self.use(t) for t in operand_tokens]
        if len(types) != len(result_tokens):
            self.fail(
                f"'{kind}' defines {len(result_tokens)} result(s) but lists {len(types)} type(s)",
                types_at,
                remedy="write one tensor type per result after ':'",
            )
        names = [self.define(t) for t in result_tokens]
        if body.data == "generic_body":
            attrs = self.attributes(opdef, attr_tree, kind_token)
        else:
            attrs = self.fill_defaults(opdef, attrs, kind_token)
        if kind == "const" and isinstance(attrs.get("value"), ElidedTensor) and len(names) == 1:
            attrs["value"] = self.bind_weight(attrs["value"], names[0], tree.meta)
        results = [Value(n, t) for n, t in zip(names, types)]
        for value, token in zip(results, result_tokens):
            self.bind(value, token)
        return Op(kind, operands, attrs, results, source)

    # -- attributes
    def attributes(self, opdef: OpDef, tree: lark.Tree | None, kind_token: lark.Token) -> dict[str, Any]:
        declared = {a.name: a for a in opdef.attrs}
        attrs: dict[str, Any] = {}
        seen: dict[str, lark.Token] = {}
        for attr_tree in (tree.children if tree is not None else []):
            if attr_tree is None:
                continue
            name_token, value_tree = attr_tree.children
            name = str(name_token)
            if name in seen:
                self.fail(f"attribute '{name}' is given twice", name_token)
            seen[name] = name_token
            attr = declared.get(name)
            if attr is None:
                takes = ", ".join(declared) if declared else "no attributes"
                self.fail(f"op '{opdef.name}' has no attribute '{name}'", name_token, remedy=f"it takes {takes}")
            value = self.attr_value(opdef, attr, value_tree, name_token)
            if attr.kind is AttrKind.TENSOR and isinstance(value, ElidedTensor):
                value = self.bind_weight(value, None, name_token)
            attrs[name] = value
        return self.fill_defaults(opdef, attrs, kind_token)

    def fill_defaults(self, opdef: OpDef, attrs: dict[str, Any], at: lark.Token) -> dict[str, Any]:
        """Attributes in declaration order, with the defaults the printer left out."""
        out: dict[str, Any] = {}
        for attr in opdef.attrs:
            if attr.name in attrs:
                out[attr.name] = attrs[attr.name]
            elif attr.default is REQUIRED:
                self.fail(f"op '{opdef.name}' needs attribute '{attr.name}' ({attr.kind.value})", at)
            elif attr.default is not None:
                out[attr.name] = canonical_default(attr)
        return out

    def attr_value(self, opdef: OpDef, attr: Attr, tree: lark.Tree, name_token: lark.Token) -> Any:
        kind = attr.kind
        where = f"attribute '{attr.name}' of '{opdef.name}'"
        if kind is AttrKind.TENSOR:
            if tree.data != "dense_attr":
                self.fail(f"{where} is a tensor: write dense<...> : tensor<...>", _first_position(tree, name_token))
            dense_token, type_token = tree.children
            return self.dense(dense_token, self.tensor_type(type_token))
        if kind in (AttrKind.INTS, AttrKind.FLOATS):
            if tree.data != "list":
                self.fail(f"{where} is a list of {kind.value}: write [a, b, ...]", _first_position(tree, name_token))
            element = AttrKind.INT if kind is AttrKind.INTS else AttrKind.FLOAT
            items = [c for c in tree.children if c is not None]
            return tuple(self.scalar(element, item.children[0], where) for item in items)
        if tree.data != "scalar":
            self.fail(f"{where} is a single {kind.value}, not a list or tensor", _first_position(tree, name_token))
        return self.scalar(kind, tree.children[0], where)

    def scalar(self, kind: AttrKind, token: lark.Token, where: str) -> Any:
        text = str(token)
        if kind is AttrKind.INT and token.type == "NUMBER" and _INT_LITERAL.fullmatch(text):
            return int(text)
        if kind is AttrKind.FLOAT and token.type == "NUMBER":
            return float(text)
        if kind is AttrKind.BOOL and text in ("true", "false") and token.type == "WORD":
            return text == "true"
        if kind is AttrKind.STR and token.type == "STRING":
            return self.string(token)
        if kind is AttrKind.DTYPE and token.type == "WORD":
            try:
                return DType(text)
            except ValueError:
                self.fail(
                    f"{where}: unknown element type '{text}'",
                    token,
                    remedy=f"use one of {', '.join(d.value for d in DType)}",
                )
        article = "an" if kind.value[0] in "aeiou" else "a"
        self.fail(f"{where} must be {article} {kind.value}, got {text}", token)

    # -- literals
    def string(self, token: lark.Token) -> str:
        try:
            return json.loads(str(token))
        except json.JSONDecodeError as err:
            self.fail(f"bad string literal {token}: {err.msg}", token)

    def tensor_type(self, token: lark.Token) -> TensorType:
        inner = str(token)[len("tensor<") : -1]
        *dims, dtype_text = inner.split("x")
        if not all(d.isdigit() and d.isascii() for d in dims):
            self.fail(f"bad tensor type {token}: dimensions must be non-negative integers", token)
        try:
            dtype = DType(dtype_text)
        except ValueError:
            self.fail(
                f"bad tensor type {token}: unknown element type '{dtype_text}'",
                token,
                remedy=f"use one of {', '.join(d.value for d in DType)}",
            )
        return TensorType(tuple(int(d) for d in dims), dtype)

    def dense(self, token: lark.Token, type: TensorType) -> np.ndarray | ElidedTensor:
        body = str(token)[len("dense<") : -1]
        elided = _ELIDED.fullmatch(body)
        if elided:
            digest = elided.group(1)
            if not _DIGEST.fullmatch(digest):
                self.fail(f"bad digest \"{digest}\": expected 16 lowercase hex digits", token)
            return ElidedTensor(type, digest)
        return _DenseReader(self, token, type).read()

    def bind_weight(self, placeholder: ElidedTensor, name: str | None, at: lark.Token | lark.tree.Meta) -> Any:
        """Real data for an elided constant from ``weights`` (by value name, then digest)."""
        if self.weights is None:
            return placeholder
        data = self.weights.get(name) if name is not None else None
        by_name = data is not None
        if data is None:
            data = self.weights.get(placeholder.digest)
        if data is None:
            return placeholder
        array = np.asarray(data)
        try:
            actual = TensorType.of(array)
        except UnsupportedError as err:
            self.fail(f"weight for {name or placeholder.digest}: {err.message}", at)
        if actual != placeholder.type:
            self.fail(f"weight '{name or placeholder.digest}' is {actual}, the IR declares {placeholder.type}", at)
        if by_name and tensor_digest(array) != placeholder.digest:
            self.fail(
                f"weight '{name}' has digest {tensor_digest(array)}, the IR says {placeholder.digest}",
                at,
                remedy="the weights do not belong to this IR; pass the matching weights",
            )
        return array


class _DenseReader:
    """Reads the inside of a ``dense<...>`` token: nested lists or a splat value."""

    def __init__(self, reader: _GraphReader, token: lark.Token, type: TensorType) -> None:
        self.reader = reader
        self.token = token
        self.type = type
        self.body_offset = len("dense<")

    def position(self, offset: int) -> lark.Token:
        """A token-like object carrying the line:column of ``offset`` within the body."""
        text = str(self.token)[: self.body_offset + offset]
        newlines = text.count("\n")
        if newlines:
            column = len(text) - text.rfind("\n")
        else:
            column = self.token.column + len(text)
        return lark.Token("DENSE", "", line=self.token.line + newlines, column=column)

    def fail(self, message: str, offset: int) -> NoReturn:
        self.reader.fail(message, self.position(offset))

    def read(self) -> np.ndarray:
        body = str(self.token)[self.body_offset : -1]
        tokens = [(m.group(), m.start()) for m in _DENSE_TOKEN.finditer(body)]
        if not tokens:
            self.fail(f"empty dense literal for {self.type}", 0)
        shape = self.type.shape
        if tokens[0][0] != "[":
            if len(tokens) != 1:
                self.fail(f"unexpected {tokens[1][0]!r} after a splat value", tokens[1][1])
            element = self.elements([tokens[0]])
            return np.full(shape, element[0], dtype=self.type.dtype.numpy)
        elements = self.structure(tokens, shape)
        return self.elements(elements).reshape(shape)

    def structure(self, tokens: list[tuple[str, int]], shape: tuple[int, ...]) -> list[tuple[str, int]]:
        """Check that the nesting of ``tokens`` matches ``shape``; return the element tokens."""
        elements: list[tuple[str, int]] = []
        pos = 0

        def nest(depth: int) -> None:
            nonlocal pos
            text, offset = tokens[pos]
            if depth == len(shape):
                if text in "[],":
                    self.fail(f"expected a value at nesting depth {depth} for {self.type}, got {text!r}", offset)
                elements.append(tokens[pos])
                pos += 1
                return
            if text != "[":
                self.fail(f"expected '[' at nesting depth {depth} for {self.type}, got {text!r}", offset)
            pos += 1
            count = 0
            while True:
                if pos >= len(tokens):
                    self.fail("unclosed '[' in dense literal", offset)
                text, here = tokens[pos]
                if text == "]" and count == 0:
                    break
                if count > 0:
                    if text == "]":
                        break
                    if text != ",":
                        self.fail(f"expected ',' or ']', got {text!r}", here)
                    pos += 1
                    if pos >= len(tokens):
                        self.fail("unclosed '[' in dense literal", offset)
                nest(depth + 1)
                count += 1
            if count != shape[depth]:
                self.fail(f"dimension {depth} has {count} entries, the type {self.type} says {shape[depth]}", offset)
            pos += 1  # the ']'

        nest(0)
        if pos != len(tokens):
            self.fail(f"unexpected {tokens[pos][0]!r} after the dense literal", tokens[pos][1])
        return elements

    def elements(self, tokens: list[tuple[str, int]]) -> np.ndarray:
        dtype = self.type.dtype
        if dtype is DType.BOOL:
            for text, offset in tokens:
                if text not in ("true", "false"):
                    self.fail(f"expected true or false for {dtype}, got {text!r}", offset)
            return np.array([text == "true" for text, _ in tokens], dtype=np.bool_)
        if dtype.is_int:
            info = np.iinfo(dtype.numpy)
            values: list[int] = []
            for text, offset in tokens:
                if not _INT_LITERAL.fullmatch(text):
                    self.fail(f"expected an integer for {dtype}, got {text!r}", offset)
                number = int(text)
                if not info.min <= number <= info.max:
                    self.fail(f"{number} is out of range for {dtype}", offset)
                values.append(number)
            return np.array(values, dtype=dtype.numpy)
        return self.float_elements(tokens, dtype)

    def float_elements(self, tokens: list[tuple[str, int]], dtype: DType) -> np.ndarray:
        bits_type = FLOAT_BITS[dtype]
        out = np.empty(len(tokens), dtype=bits_type)
        decimal_at: list[int] = []
        decimals: list[str] = []
        for i, (text, offset) in enumerate(tokens):
            if _HEX_LITERAL.fullmatch(text):
                pattern = int(text, 16)
                if pattern >= 1 << (8 * dtype.itemsize):
                    self.fail(f"bit pattern {text} is wider than {dtype}", offset)
                out[i] = pattern
            elif _FLOAT_LITERAL.fullmatch(text):
                decimal_at.append(i)
                decimals.append(text)
            else:
                self.fail(f"expected a number for {dtype}, got {text!r}", offset)
        if decimals:
            # the printer checked its decimals through this same path (text → f64 → dtype)
            wide = np.array(decimals).astype(np.float64)
            out[decimal_at] = wide.astype(dtype.numpy).view(bits_type)
        return out.view(dtype.numpy)


def _unquote_name(token: lark.Token, reader: _GraphReader) -> str:
    """The name in a ``%name`` / ``@name`` token; quoted names use string escapes."""
    body = str(token)[1:]
    if not body.startswith('"'):
        return body
    try:
        return json.loads(body)
    except json.JSONDecodeError as err:
        reader.fail(f"bad quoted name {token}: {err.msg}", token)


def _first_position(tree: lark.Tree, fallback: lark.Token) -> lark.Token | lark.tree.Meta:
    for token in tree.scan_values(lambda t: isinstance(t, lark.Token)):
        return token
    return fallback


__all__ = ["parse_graph"]
