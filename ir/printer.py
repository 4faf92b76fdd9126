"""The graph IR's text form, printing side (the parser in :mod:`moecc.ir.parser` reads it back).

Every stage of the flow can be dumped as text (``moecc compile --emit graph``,
``--print-ir-after-all``, ``CompiledModel.ir("graph")``) and ``moecc opt`` reads it back, so
the text is lossless: ``parse_graph(print_graph(g, elide_constants=False))`` is structurally
equal to ``g`` and printing that again gives the same text. The format is described in
``docs/ir.md``::

    graph @main(%x: tensor<2x3xf32>) {
      %w = const dense<[1.5, -0.0, nan]> : tensor<3xf32>
      %y, %i = top_k(%x) {k = 2} : tensor<2x2xf32>, tensor<2x2xi64>  loc("/TopK")
      return %y as "values", %i
    }

Float data prints as the shortest decimal that reads back to the same bits; values no decimal
can carry (NaNs other than the canonical quiet NaN) print as their bit pattern in hex.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from moecc.ir.graph import ElidedTensor, Graph, Op, Value, tensor_digest
from moecc.ir.registry import REQUIRED, Attr, AttrKind, OpDef, all_op_defs
from moecc.ir.types import DType, TensorType

#: Constants with more elements than this print as ``dense<elided "digest">`` by default.
DEFAULT_ELIDE_THRESHOLD = 16

_BARE_NAME = re.compile(r"[A-Za-z0-9_.]+")

#: Unsigned integer types viewing the bits of each float dtype (for hex bit patterns).
FLOAT_BITS: dict[DType, np.dtype] = {
    DType.F32: np.dtype(np.uint32),
    DType.F16: np.dtype(np.uint16),
    DType.BF16: np.dtype(np.uint16),
}


def print_graph(graph: Graph, *, elide_constants: bool = True, elide_threshold: int = DEFAULT_ELIDE_THRESHOLD) -> str:
    """The text form of ``graph``.

    Constants (and tensor attributes) with more than ``elide_threshold`` elements print as
    their content digest when ``elide_constants`` is set; everything else prints exactly.
    Attributes equal to their registered default are left out (the parser fills them in).
    """
    printer = _GraphPrinter(elide_constants, elide_threshold)
    return printer.print(graph)


def quote_string(text: str) -> str:
    """A double-quoted string literal, JSON escapes; non-printable characters are escaped so the
    text survives files, terminals and ``splitlines``."""
    body = json.dumps(text, ensure_ascii=False)[1:-1]
    if body.isprintable():
        return f'"{body}"'
    out: list[str] = []
    for ch in body:
        if ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            if code > 0xFFFF:  # astral characters escape as a UTF-16 surrogate pair, as JSON does
                code -= 0x10000
                out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
            else:
                out.append(f"\\u{code:04x}")
    return '"' + "".join(out) + '"'


def format_value_name(name: str) -> str:
    """``%name``, quoted when the name has characters outside letters, digits, ``_`` and ``.``."""
    return "%" + (name if _BARE_NAME.fullmatch(name) else quote_string(name))


def format_graph_name(name: str) -> str:
    return "@" + (name if _BARE_NAME.fullmatch(name) else quote_string(name))


def format_float(value: float) -> str:
    """A float attribute: Python's repr, which reads back to the same double."""
    return repr(float(value))


def format_dense(value: np.ndarray | ElidedTensor, *, elide: bool = False) -> str:
    """``dense<...>`` for a tensor (without its ``: type``): nested lists, a single value for
    a splat (all elements identical) or a scalar, ``elided "digest"`` when ``elide`` is set or
    the data is unknown."""
    if isinstance(value, ElidedTensor):
        return f'dense<elided "{value.digest}">'
    if elide:
        return f'dense<elided "{tensor_digest(value)}">'
    dtype = DType.from_numpy(value.dtype)
    flat = np.ascontiguousarray(value).reshape(-1)
    if flat.size > 1 and _is_splat(flat):
        return f"dense<{_element_literals(flat[:1], dtype)[0]}>"
    literals = _element_literals(flat, dtype)
    if value.ndim == 0:
        return f"dense<{literals[0]}>"
    return f"dense<{_nest(literals, value.shape)}>"


def format_attr_value(value: Any, *, elide: bool = False) -> str:
    """An attribute value, spelled by its Python type: ``true``, ``3``, ``0.5``, ``"str"``,
    ``[1, 2]``, ``f32``, ``dense<...> : tensor<...>``."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return format_float(float(value))
    if isinstance(value, str):
        return quote_string(value)
    if isinstance(value, DType):
        return str(value)
    if isinstance(value, ElidedTensor):
        return f"{format_dense(value)} : {value.type}"
    if isinstance(value, np.ndarray):
        return f"{format_dense(value, elide=elide)} : {TensorType.of(value)}"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(format_attr_value(v) for v in value) + "]"
    raise TypeError(f"attribute value {value!r} of type {type(value).__name__} has no text form")


def canonical_default(attr: Attr) -> Any:
    """An attribute's default in the form normalised attributes hold (floats as float, lists
    as tuples), so printer and parser agree on what "equal to the default" means."""
    default = attr.default
    if default is None or default is REQUIRED:
        return default
    if attr.kind is AttrKind.FLOAT:
        return float(default)
    if attr.kind is AttrKind.INT:
        return int(default)
    if attr.kind is AttrKind.INTS:
        return tuple(int(x) for x in default)
    if attr.kind is AttrKind.FLOATS:
        return tuple(float(x) for x in default)
    return default


class _GraphPrinter:
    def __init__(self, elide_constants: bool, elide_threshold: int) -> None:
        self.elide_constants = elide_constants
        self.elide_threshold = elide_threshold
        self.op_defs = all_op_defs()

    def _elides(self, array: np.ndarray) -> bool:
        return self.elide_constants and array.size > self.elide_threshold

    def print(self, graph: Graph) -> str:
        params = ", ".join(f"{format_value_name(v.name)}: {v.type}" for v in graph.inputs)
        lines = [f"graph {format_graph_name(graph.name)}({params}) {{"]
        lines.extend("  " + self.format_op(op) for op in graph.ops)
        lines.append("  " + self._format_return(graph.outputs, graph.output_names))
        lines.append("}")
        return "\n".join(lines) + "\n"

    def format_op(self, op: Op) -> str:
        head = ""
        if op.results:
            head = ", ".join(format_value_name(r.name) for r in op.results) + " = "
        if self._prints_as_const(op):
            value = op.attrs["value"]
            elide = isinstance(value, np.ndarray) and self._elides(value)
            text = f"{head}const {format_dense(value, elide=elide)} : {op.results[0].type}"
        else:
            operands = ", ".join(format_value_name(v.name) for v in op.operands)
            text = f"{head}{op.kind}({operands})"
            attrs = self._format_attrs(op)
            if attrs:
                text += f" {{{attrs}}}"
            if op.results:
                text += " : " + ", ".join(str(r.type) for r in op.results)
        if op.source is not None:
            text += f"  loc({quote_string(op.source)})"
        return text

    @staticmethod
    def _prints_as_const(op: Op) -> bool:
        """Whether the short ``const dense<..> : type`` form says everything about ``op``."""
        if op.kind != "const" or op.operands or len(op.results) != 1 or set(op.attrs) != {"value"}:
            return False
        value = op.attrs["value"]
        if isinstance(value, ElidedTensor):
            return value.type == op.results[0].type
        if isinstance(value, np.ndarray):
            try:
                return TensorType.of(value) == op.results[0].type
            except Exception:  # an unsupported dtype: the generic form reports it
                return False
        return False

    def _format_attrs(self, op: Op) -> str:
        opdef: OpDef | None = self.op_defs.get(op.kind)
        declared = {a.name: a for a in opdef.attrs} if opdef is not None else {}
        order = [n for n in declared if n in op.attrs] + [n for n in op.attrs if n not in declared]
        parts: list[str] = []
        for name in order:
            value = op.attrs[name]
            if value is None:
                continue
            elide = isinstance(value, np.ndarray) and self._elides(value)
            text = format_attr_value(value, elide=elide)
            attr = declared.get(name)
            if attr is not None:
                default = canonical_default(attr)
                if default is not None and default is not REQUIRED and format_attr_value(default) == text:
                    continue
            parts.append(f"{name} = {text}")
        return ", ".join(parts)

    @staticmethod
    def _format_return(outputs: Sequence[Value], names: Sequence[str]) -> str:
        parts: list[str] = []
        # a broken graph (a pass's bug) still prints; the verifier reports the mismatch
        names = list(names) + [v.name for v in outputs[len(names) :]]
        for value, name in zip(outputs, names):
            part = format_value_name(value.name)
            if name != value.name:
                part += f" as {quote_string(name)}"
            parts.append(part)
        return "return" + (" " + ", ".join(parts) if parts else "")


def _is_splat(flat: np.ndarray) -> bool:
    as_bytes = flat.view(np.uint8).reshape(flat.size, -1)
    return bool((as_bytes == as_bytes[0]).all())


def _nest(literals: list[str], shape: tuple[int, ...]) -> str:
    """Nested ``[..]`` lists of ``literals`` (row-major) for ``shape``."""
    if len(shape) == 1:
        return "[" + ", ".join(literals) + "]"
    if shape[0] == 0:
        return "[]"
    step = len(literals) // shape[0] if shape[0] else 0
    if step == 0:  # a zero somewhere below: every row is an empty nest of the same shape
        inner = _nest([], shape[1:])
        return "[" + ", ".join([inner] * shape[0]) + "]"
    rows = (_nest(literals[i : i + step], shape[1:]) for i in range(0, len(literals), step))
    return "[" + ", ".join(rows) + "]"


def _element_literals(flat: np.ndarray, dtype: DType) -> list[str]:
    if dtype is DType.BOOL:
        return ["true" if x else "false" for x in flat.tolist()]
    if dtype.is_int:
        return [str(x) for x in flat.tolist()]
    return _float_literals(flat, dtype)


def _float_literals(flat: np.ndarray, dtype: DType) -> list[str]:
    """Shortest ``%g`` decimal per element that reads back (decimal → f64 → dtype, exactly as
    the parser does) to the same bits; hex bit patterns for NaNs other than the quiet one."""
    bits_type = FLOAT_BITS[dtype]
    bits = flat.view(bits_type)
    with np.errstate(invalid="ignore"):  # signalling NaNs warn; they print as bit patterns anyway
        wide = flat.astype(np.float64)  # exact: every f32/f16/bf16 value is a double
    out = np.empty(flat.size, dtype=object)
    finite = np.isfinite(wide)
    canonical_nan = np.array([np.nan]).astype(dtype.numpy).view(bits_type)[0]
    for i in np.flatnonzero(~finite):
        if np.isinf(wide[i]):
            out[i] = "inf" if wide[i] > 0 else "-inf"
        elif bits[i] == canonical_nan:
            out[i] = "nan"
        else:
            out[i] = f"0x{int(bits[i]):0{2 * dtype.itemsize}x}"
    pending = np.flatnonzero(finite)
    with np.errstate(over="ignore"):  # a too-short decimal may round past the dtype's max
        # numpy's own shortest repr of f32/f16 scalars gets almost every element in one pass
        # (bf16 scalars print 6 digits, not the shortest); the %g ladder catches the rest
        first_try = dtype in (DType.F32, DType.F16)
        for digits in range(0 if first_try else 1, 18):
            if pending.size == 0:
                break
            if digits == 0:
                text = np.array([str(x) for x in flat[pending]])
            else:
                text = np.char.mod(f"%.{digits}g", wide[pending])
            decoded = text.astype(np.float64)
            hit = decoded.astype(dtype.numpy).view(bits_type) == bits[pending]
            # repr of the decoded double is as short and reads back to that same double, but
            # writes 10.0 rather than %g's 1e+01 and 3.0 rather than 3
            out[pending[hit]] = [repr(x) for x in decoded[hit].tolist()]
            pending = pending[~hit]
    return out.tolist()


__all__ = [
    "DEFAULT_ELIDE_THRESHOLD",
    "canonical_default",
    "format_attr_value",
    "format_dense",
    "format_value_name",
    "print_graph",
    "quote_string",
]
