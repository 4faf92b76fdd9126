"""The tiled loop IR's text form, parsing side: text (``docs/tiled_ir.md``) back to a
:class:`~moecc.ir.tiled.nodes.TiledModule`.

Tests and tools read hand-written or dumped tiled IR with :func:`parse_tiled_module`; it
inverts :func:`moecc.ir.tiled.printer.print_tiled_module` exactly. Like the kernel-IR parser
it builds what the text says and checks only what the text alone decides: syntax, dtype
names, op names and their arity, loops starting at 0, constants fitting their dtype.
Whether names resolve, shapes agree and views stay in bounds is
:func:`moecc.ir.tiled.verifier.verify_tiled_module`'s job, so IR a pass got wrong still
parses and can be inspected. A host call's inline graph is read by
:func:`moecc.ir.parser.parse_graph`, its errors re-anchored to this text. Every failure is
an :class:`IRParseError` naming ``line:column``.

The grammar is ``grammar.lark`` in this package (LALR, contextual lexer).
"""

from __future__ import annotations

import functools
import re
from importlib import resources

import lark
import numpy as np

from moecc.errors import IRParseError, MoeccError
from moecc.ir.affine import Affine
from moecc.ir.parser import parse_graph
from moecc.ir.text_syntax import fail as _fail
from moecc.ir.text_syntax import syntax_error
from moecc.ir.text_syntax import token_int as _int
from moecc.ir.text_syntax import token_name as _name
from moecc.ir.text_syntax import token_string as _string
from moecc.ir.tiled.nodes import (
    BINARY_OPS,
    REDUCE_OPS,
    UNARY_OPS,
    Binary,
    Buffer,
    Cast,
    Compute,
    Const,
    Copy,
    ElementRef,
    Expr,
    For,
    Gather,
    HostCall,
    Kernel,
    MatMul,
    Operand,
    Parallel,
    Reduce,
    Scatter,
    Select,
    Stmt,
    TiledModule,
    TopK,
    Unary,
    View,
)
from moecc.ir.types import DType

_REMEDY = "see docs/tiled_ir.md for the tiled IR text form"

#: Readable names of the grammar's terminals, for "expected ..." in syntax errors.
_TERMINAL_NAMES = {
    "NAME": "a name (%name)",
    "SYMBOL": "a step name (@name)",
    "STRING": "a string",
    "INT": "an integer",
    "SIGNED_INT": "an integer",
    "FLOAT": "a number",
    "WORD": "a name",
    "SHAPE": "a shape (16x64)",
    "SPACE": "a memory space (global, local)",
    "ROLE": "a buffer role",
    "REDUCE_OP": "a reduction (reduce.sum, reduce.max, reduce.min)",
    "TOPK_OP": "topk.largest or topk.smallest",
    "GRAPH": "an inline graph (graph @name(...) {...})",
    "TRANSPOSED": "'^T'",
    "TRUE": "'true'",
    "FALSE": "'false'",
    "LPAR": "'('",
    "RPAR": "')'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "COLON": "':'",
    "SEMICOLON": "';'",
    "EQUAL": "'='",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "STAR": "'*'",
    "AT": "'@'",
    "LESSTHAN": "'<'",
    "MORETHAN": "'>'",
}


@functools.cache
def _lark_parser() -> lark.Lark:
    grammar = resources.files("moecc.ir.tiled").joinpath("grammar.lark").read_text(encoding="utf-8")
    return lark.Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True, maybe_placeholders=True)


def parse_tiled_module(text: str) -> TiledModule:
    """Parse tiled-IR text into a :class:`TiledModule` (not verified).

    Raises :class:`IRParseError` with ``line:column`` for anything malformed.
    """
    try:
        tree = _lark_parser().parse(text)
    except lark.exceptions.UnexpectedInput as err:
        raise syntax_error(err, text, _lark_parser(), _TERMINAL_NAMES, _REMEDY) from None
    return _ModuleReader().module(tree)


# -- tree to module --------------------------------------------------------------------------

def _names(tree: lark.Tree | None) -> tuple[str, ...]:
    return () if tree is None else tuple(_name(t) for t in tree.children)


def _strings(tree: lark.Tree | None) -> tuple[str, ...]:
    if tree is None or tree.children[0] is None:
        return ()
    return tuple(_string(t) for t in tree.children[0].children)


def _dtype(token: lark.Token) -> DType:
    try:
        return DType(str(token))
    except ValueError:
        _fail(f"unknown element type '{token}'", token, remedy=f"use one of {', '.join(d.value for d in DType)}")


_LOCATION = re.compile(r"line (\d+):(\d+)")


class _ModuleReader:
    """Turns the Lark tree into tiled-IR dataclasses, top-down."""

    def module(self, tree: lark.Tree) -> TiledModule:
        inputs, *items, ret = tree.children
        buffers: list[Buffer] = []
        steps: list[Kernel | HostCall] = []
        for item in items:
            if item.data == "buffer":
                buffers.append(self.buffer(item))
            elif item.data == "kernel":
                steps.append(self.kernel(item))
            else:
                steps.append(self.host_call(item))
        return TiledModule(tuple(buffers), tuple(steps), _names(inputs), _names(ret.children[0]))

    def buffer(self, tree: lark.Tree) -> Buffer:
        space, name, dtype, *rest = tree.children
        *dims, role = rest
        shape = tuple(_int(d) for d in dims if d is not None)
        return Buffer(_name(name), str(space), _dtype(dtype), shape, "temp" if role is None else str(role))

    def kernel(self, tree: lark.Tree) -> Kernel:
        name, sources, *items = tree.children
        buffers = tuple(self.buffer(i) for i in items if i.data == "buffer")
        body = tuple(self.statement(i) for i in items if i.data != "buffer")
        return Kernel(_name(name), buffers, body, _strings(sources))

    def host_call(self, tree: lark.Tree) -> HostCall:
        name, inputs, outputs, reason, sources, graph_token = tree.children
        try:
            graph = parse_graph(str(graph_token))
        except MoeccError as err:
            raise _reanchor(err, graph_token) from None
        return HostCall(
            name=_name(name),
            graph=graph,
            inputs=_names(inputs),
            outputs=_names(outputs),
            reason="" if reason is None else _string(reason.children[0]),
            sources=_strings(sources),
        )

    # -- statements

    def statement(self, tree: lark.Tree) -> Stmt:
        c = tree.children
        kind = tree.data
        if kind == "copy":
            return Copy(self.view(c[0]), self.view(c[1]))
        if kind == "compute":
            return Compute(self.view(c[0]), self.expr(c[1]))
        if kind == "reduce":
            op_token, dst, mode, src = c
            op = str(op_token)[len("reduce."):]
            if op not in REDUCE_OPS:
                _fail(f"unknown reduction '{op}'", op_token, remedy=f"reductions are {', '.join(REDUCE_OPS)}")
            return Reduce(op, self.view(dst), self.view(src), mode.data == "assign_add")
        if kind == "matmul":
            dst, mode, a, ta, b, tb, acc, rows, blocks, block = c
            return MatMul(self.view(dst), self.view(a), self.view(b), mode.data == "assign_add", _dtype(acc),
                          transpose_a=ta is not None, transpose_b=tb is not None,
                          rows=None if rows is None else self.element(rows),
                          blocks=None if blocks is None else self.view(blocks), block=0 if block is None else int(block))
        if kind == "gather":
            return Gather(self.view(c[0]), self.view(c[1]), self.view(c[2]), in_bounds=c[4] is not None,
                          limit=None if c[3] is None else self.element(c[3]))
        if kind == "scatter":
            table, index, mode, src, limit, checked = c
            return Scatter(self.view(table), self.view(index), self.view(src), mode.data == "move_add",
                           in_bounds=checked is not None, limit=None if limit is None else self.element(limit))
        if kind == "topk":
            op_token, values, indices, src = c
            which = str(op_token)[len("topk."):]
            if which not in ("largest", "smallest"):
                _fail(f"unknown top-k order '{which}'", op_token, remedy="write topk.largest or topk.smallest")
            return TopK(self.view(values), self.view(indices), self.view(src), which == "largest")
        if kind == "for_loop":
            var, start, count, max_count, parallel, *body = c
            if _int(start) != 0:
                _fail(f"loops start at 0, not {start}", start,
                      remedy="write 'for %i = 0 to COUNT' and offset the index")
            trips: int | ElementRef = _int(count) if isinstance(count, lark.Token) else self.element(count)
            return For(_name(var), trips, tuple(self.statement(s) for s in body),
                       None if max_count is None else _int(max_count),
                       None if parallel is None else self.parallel(parallel))
        raise AssertionError(f"unhandled statement rule {kind}")  # grammar and reader disagree

    # -- operands

    def view(self, tree: lark.Tree) -> View:
        name, offset, shape, *strides = tree.children
        dims = () if shape is None else tuple(int(d) for d in _split_shape(str(shape)))
        return View(_name(name), self.affine(offset), dims, tuple(_int(s) for s in strides if s is not None))

    def parallel(self, tree: lark.Tree) -> Parallel:
        accumulate: tuple[str, ...] = ()
        cost: ElementRef | None = None
        for child in tree.children:
            if isinstance(child, lark.Tree) and child.data == "names":
                accumulate = _names(child)
            elif isinstance(child, lark.Tree) and child.data == "element":
                cost = self.element(child)
        return Parallel(accumulate, cost)

    def element(self, tree: lark.Tree) -> ElementRef:
        name, offset = tree.children
        return ElementRef(_name(name), self.affine(offset))

    def expr(self, tree: lark.Tree) -> Expr:
        kind = tree.data
        if kind == "expr_view":
            return Operand(self.view(tree.children[0]))
        if kind == "expr_const":
            return self.const(tree)
        if kind == "expr_cast":
            dtype, x = tree.children
            return Cast(_dtype(dtype), self.expr(x))
        op_token, *args = tree.children
        op = str(op_token)
        operands = [self.expr(a) for a in args]
        arity = 1 if op in UNARY_OPS else 2 if op in BINARY_OPS else 3 if op == "select" else None
        if arity is None:
            known = sorted(UNARY_OPS) + sorted(BINARY_OPS) + ["select"]
            _fail(f"unknown element-wise op '{op}'", op_token, remedy=f"ops are {', '.join(known)} and cast<T>")
        if len(operands) != arity:
            _fail(f"'{op}' takes {arity} operand(s), not {len(operands)}", op_token)
        if arity == 1:
            return Unary(op, operands[0])
        if arity == 2:
            return Binary(op, operands[0], operands[1])
        return Select(operands[0], operands[1], operands[2])

    @staticmethod
    def const(tree: lark.Tree) -> Const:
        literal, dtype_token = tree.children
        dtype = _dtype(dtype_token)
        text = str(literal)
        if dtype is DType.BOOL:
            if literal.type not in ("TRUE", "FALSE"):
                _fail(f"a bool constant is true or false, not {text}", literal)
            return Const(literal.type == "TRUE", dtype)
        if literal.type in ("TRUE", "FALSE"):
            _fail(f"{text} is a bool constant, not {dtype}", literal)
        if dtype.is_float:
            return Const(float(text), dtype)
        try:
            value = int(text)
        except ValueError:
            _fail(f"integer constant of {dtype} expected, got {text}", literal)
        info = _int_range(dtype)
        if not info[0] <= value <= info[1]:
            _fail(f"constant {value} does not fit {dtype} ([{info[0]}, {info[1]}])", literal)
        return Const(value, dtype)

    @staticmethod
    def affine(tree: lark.Tree) -> Affine:
        const = 0
        terms: list[tuple[str, int]] = []
        for part in tree.children:
            sign = -1 if part.data in ("affine_negated", "affine_minus") else 1
            term = part.children[0]
            tokens = term.children
            if term.data == "affine_const":
                const += sign * _int(tokens[0])
            elif term.data == "affine_var":
                terms.append((_name(tokens[0]), sign))
            elif term.data == "affine_scaled":
                terms.append((_name(tokens[1]), sign * _int(tokens[0])))
            else:
                terms.append((_name(tokens[0]), sign * _int(tokens[1])))
        return Affine(const, tuple(terms))


def _split_shape(text: str) -> list[str]:
    # `x` separates dims; a dim may be negative (`4x-1`), which the verifier rejects.
    return text.split("x")


def _int_range(dtype: DType) -> tuple[int, int]:
    info = np.iinfo(dtype.numpy)
    return int(info.min), int(info.max)


def _reanchor(err: MoeccError, token: lark.Token) -> IRParseError:
    """An error from parsing a host call's graph, with its location moved into the module text."""
    match = _LOCATION.search(err.location or "")
    line, column = token.line, token.column
    if match:
        inner_line, inner_column = int(match.group(1)), int(match.group(2))
        # The graph text starts at the token: its first line is shifted right, later ones not
        # (their indentation is part of the token).
        column = inner_column + (token.column - 1 if inner_line == 1 else 0)
        line = token.line + inner_line - 1
    return IRParseError(f"in the graph of a host call: {err.message}", location=f"line {line}:{column}",
                        remedy=err.remedy or "see docs/ir.md for the graph IR text form")


__all__ = ["parse_tiled_module"]
