"""The kernel IR's text form, parsing side: text (``docs/kernel_ir.md``) back to a
:class:`~moecc.ir.kernel.KernelModule`.

Kernel-IR tests and tools read hand-written or dumped kernel IR with
:func:`parse_kernel_module`; it inverts :func:`moecc.ir.kernel_printer.print_kernel_module`
exactly. The parser builds what the text says and checks only what the text alone decides:
syntax, dtype names, vector op and broadcast names, loops starting at 0. Whether buffers
exist and tiles fit them is :func:`moecc.ir.kernel.verify_kernel_module`'s job, so IR a pass
got wrong still parses and can be inspected. Every failure is an :class:`IRParseError`
naming ``line:column``.

The grammar is ``kernel_grammar.lark`` (LALR, contextual lexer).
"""

from __future__ import annotations

import functools
from importlib import resources

import lark

from moecc.ir.text_syntax import fail as _fail
from moecc.ir.text_syntax import syntax_error
from moecc.ir.text_syntax import token_int as _int
from moecc.ir.text_syntax import token_name as _name
from moecc.ir.text_syntax import token_string as _string
from moecc.ir.kernel import (
    BCAST_MODES,
    KERNEL_DTYPES,
    VECTOR_OPS,
    Affine,
    Buffer,
    Count,
    CpuCall,
    For,
    Gather,
    HbmRef,
    Kernel,
    KernelModule,
    Load,
    LocalRef,
    MatMul,
    Scatter,
    Stmt,
    Store,
    Vector,
)
from moecc.ir.types import DType

#: Readable names of the grammar's terminals, for "expected ..." in syntax errors.
_TERMINAL_NAMES = {
    "NAME": "a name (%name)",
    "SYMBOL": "a kernel or step name (@name)",
    "STRING": "a string",
    "INT": "an integer",
    "SIGNED_INT": "an integer",
    "FLOAT": "a number",
    "WORD": "a name",
    "TILE": "a tile shape (ROWSxCOLS)",
    "SPACE": "a memory space (hbm, sram, acc)",
    "ROLE": "a buffer role",
    "SLOTS": "a slot count (x2)",
    "ADDRESS": "a byte offset (@0x...)",
    "VPU_OP": "a vector op (vpu.<op>)",
    "HOLE": "'_'",
    "LPAR": "'('",
    "RPAR": "')'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "COLON": "':'",
    "EQUAL": "'='",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "STAR": "'*'",
    "AT": "'@'",
}


@functools.cache
def _lark_parser() -> lark.Lark:
    grammar = resources.files("moecc.ir").joinpath("kernel_grammar.lark").read_text(encoding="utf-8")
    return lark.Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True, maybe_placeholders=True)


def parse_kernel_module(text: str) -> KernelModule:
    """Parse kernel-IR text into a :class:`KernelModule` (not verified).

    Raises :class:`IRParseError` with ``line:column`` for anything malformed.
    """
    try:
        tree = _lark_parser().parse(text)
    except lark.exceptions.UnexpectedInput as err:
        raise syntax_error(err, text, _lark_parser(), _TERMINAL_NAMES, "see docs/kernel_ir.md for the kernel IR text form") from None
    return _ModuleReader().module(tree)


# -- tree to module --------------------------------------------------------------------------

def _names(tree: lark.Tree | None) -> list[str]:
    return [] if tree is None else [_name(t) for t in tree.children]


def _strings(tree: lark.Tree | None) -> tuple[str, ...]:
    if tree is None or tree.children[0] is None:
        return ()
    return tuple(_string(t) for t in tree.children[0].children)


def _dtype(token: lark.Token, *, allowed: tuple[DType, ...] | None = None) -> DType:
    try:
        dtype = DType(str(token))
    except ValueError:
        _fail(f"unknown element type '{token}'", token, remedy=f"use one of {', '.join(d.value for d in DType)}")
    if allowed is not None and dtype not in allowed:
        _fail(f"element type {dtype} is not a kernel element type", token,
              remedy=f"kernel statements work in {', '.join(d.value for d in allowed)}")
    return dtype


class _ModuleReader:
    """Turns the Lark tree into kernel-IR dataclasses, top-down."""

    def module(self, tree: lark.Tree) -> KernelModule:
        inputs, *items, ret = tree.children
        module = KernelModule(inputs=_names(inputs), outputs=_names(ret.children[0]))
        for item in items:
            if item.data == "buffer":
                module.hbm.append(self.buffer(item))
            elif item.data == "kernel":
                module.steps.append(self.kernel(item))
            else:
                module.steps.append(self.cpu_call(item))
        return module

    def buffer(self, tree: lark.Tree) -> Buffer:
        space, name, dtype, *rest = tree.children
        *dims, role, slots, address = rest
        shape = tuple(_int(d) for d in dims if d is not None)
        return Buffer(
            name=_name(name),
            space=str(space),
            dtype=_dtype(dtype),
            shape=shape,
            slots=1 if slots is None else int(str(slots)[1:]),
            offset=None if address is None else _int_address(address),
            role="temp" if role is None else str(role),
        )

    def kernel(self, tree: lark.Tree) -> Kernel:
        name, sources, *items = tree.children
        buffers = tuple(self.buffer(i) for i in items if i.data == "buffer")
        body = tuple(self.statement(i) for i in items if i.data != "buffer")
        return Kernel(_name(name), buffers, body, _strings(sources))

    def cpu_call(self, tree: lark.Tree) -> CpuCall:
        name, inputs, outputs, ops = tree.children
        return CpuCall(_name(name), tuple(_names(inputs)), tuple(_names(outputs)), _strings(ops))

    # -- statements

    def statement(self, tree: lark.Tree) -> Stmt:
        c = tree.children
        if tree.data == "load":
            return Load(self.local(c[0]), self.hbm(c[1]), 0 if c[2] is None else _int(c[2]))
        if tree.data == "store":
            return Store(self.hbm(c[0]), self.local(c[1]))
        if tree.data == "gather":
            return Gather(self.local(c[0]), self.hbm(c[1]), self.local(c[2]),
                          rows=None if c[3] is None else self.count(c[3]))
        if tree.data in ("scatter_assign", "scatter_add"):
            table, src, indices, dtype, rows = c
            return Scatter(self.hbm(table), self.local(src), self.local(indices), tree.data == "scatter_add",
                           DType.F32 if dtype is None else _dtype(dtype, allowed=KERNEL_DTYPES),
                           rows=None if rows is None else self.count(rows))
        if tree.data == "matmul":
            dst, mode, a, w, transposed, dtype, rows, sparse = c
            sparsity, mask, block = "dense", None, 0
            if sparse is not None:
                sparsity = "blocks" if sparse.data == "mm_blocks" else "2:4"
                mask = self.local(sparse.children[0])
                block = _int(sparse.children[1]) if sparsity == "blocks" else 0
            return MatMul(self.local(dst), self.local(a), self.local(w), mode.data == "mm_accumulate",
                          _dtype(dtype, allowed=KERNEL_DTYPES), transpose_w=transposed is not None,
                          rows=None if rows is None else self.count(rows), sparsity=sparsity, mask=mask, block=block)
        if tree.data == "vector":
            return self.vector(tree)
        if tree.data == "for_loop":
            var, start, count, bound, *body = c
            if _int(start) != 0:
                _fail(f"loops start at 0, not {start}", start, remedy="write 'for %i = 0 to COUNT' and offset the index")
            if isinstance(count, lark.Tree):  # `%buf[OFFSET]`: a run-time count
                trips: int | Count = self.count(count)
            else:
                trips = _int(count)
            return For(_name(var), trips, tuple(self.statement(s) for s in body),
                       None if bound is None else _int(bound))
        raise AssertionError(f"unhandled statement rule {tree.data}")  # grammar and reader disagree

    def vector(self, tree: lark.Tree) -> Vector:
        op_token, dst, operands, attrs, dtype, odt = tree.children
        op_text = str(op_token)[len("vpu."):]
        op = _string(op_token, op_text) if op_text.startswith('"') else op_text
        if op not in VECTOR_OPS:
            _fail(f"unknown vector op '{op}'", op_token, remedy=f"vector ops are {', '.join(sorted(VECTOR_OPS))}")
        a = b = None
        if operands is not None:
            first, second = operands.children
            a = None if isinstance(first, lark.Token) else self.local(first)
            b = None if second is None else self.local(second)
        fields: dict[str, object] = {}
        for attr in attrs.children if attrs is not None else ():
            key = {"bcast_attr": "bcast", "imm_attr": "imm", "k_attr": "k"}[attr.data]
            (value,) = attr.children
            if key in fields:
                _fail(f"attribute '{key}' given twice", value)
            fields[key] = self.vector_attr(key, value)
        return Vector(
            op=op,
            dst=self.local(dst),
            a=a,
            b=b,
            dtype=_dtype(dtype, allowed=KERNEL_DTYPES),
            odt=None if odt is None else _dtype(odt, allowed=KERNEL_DTYPES),
            **fields,  # type: ignore[arg-type]
        )

    @staticmethod
    def vector_attr(key: str, value: lark.Token) -> object:
        if key == "bcast":
            mode = _string(value) if value.type == "STRING" else str(value)
            if mode not in BCAST_MODES:
                _fail(f"unknown broadcast '{mode}'", value, remedy=f"bcast is one of {', '.join(BCAST_MODES)}")
            return mode
        if key == "imm":
            return float(str(value))
        return _int(value)

    # -- operands

    def count(self, tree: lark.Tree) -> Count:
        """``%buf[OFFSET (slot SLOT)]``: an int32 SRAM cell read at run time."""
        buffer, offset, slot = tree.children
        return Count(_name(buffer), self.affine(offset), Affine() if slot is None else self.affine(slot))

    def local(self, tree: lark.Tree) -> LocalRef:
        name, tile, offset, pitch, slot = tree.children
        rows, cols = _tile(tile)
        return LocalRef(_name(name), rows, cols, self.affine(offset), self.affine(slot), 0 if pitch is None else _int(pitch))

    def hbm(self, tree: lark.Tree) -> HbmRef:
        name, tile, offset, pitch = tree.children
        rows, cols = _tile(tile)
        return HbmRef(_name(name), self.affine(offset), rows, cols, _int(pitch))

    @staticmethod
    def affine(tree: lark.Tree | None) -> Affine:
        if tree is None:
            return Affine()
        const = 0
        terms: list[tuple[str, int]] = []
        for part in tree.children:
            sign = -1 if part.data in ("affine_negated", "affine_minus") else 1
            term = part.children[0]
            kind, tokens = term.data, term.children
            if kind == "affine_const":
                const += sign * _int(tokens[0])
            elif kind == "affine_var":
                terms.append((_name(tokens[0]), sign))
            elif kind == "affine_scaled":
                terms.append((_name(tokens[1]), sign * _int(tokens[0])))
            else:
                terms.append((_name(tokens[0]), sign * _int(tokens[1])))
        return Affine(const, tuple(terms))


def _tile(token: lark.Token) -> tuple[int, int]:
    rows, _, cols = str(token).partition("x")
    return int(rows), int(cols)


def _int_address(token: lark.Token) -> int:
    text = str(token)[1:]
    negative = text.startswith("-")
    digits = text.lstrip("-")
    value = int(digits, 16) if digits[:2].lower() == "0x" else int(digits)
    return -value if negative else value


__all__ = ["parse_kernel_module"]
