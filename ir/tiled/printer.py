"""The tiled loop IR's text form, printing side (:mod:`moecc.ir.tiled.parser` reads it back).

Lowering from the graph IR produces a :class:`~moecc.ir.tiled.nodes.TiledModule`; dumps,
tests and FileCheck-style checks read it through this printer. The text is lossless:
``parse_tiled_module(print_tiled_module(m)) == m`` and printing the parsed module gives the
same text (float constants print with ``repr``, so they read back to the same double; a NaN
constant reads back as NaN but, as NaN, never compares equal). The format is described in
``docs/tiled_ir.md``::

    tiled_module(%x) {
      global %x : f32[64, 32] input
      global %w : f32[32, 16] weight
      global %y : f32[64, 16] output
      kernel @mm sources("/mlp/MatMul") {
        local %acc : f32[16, 16]
        for %i = 0 to 4 {
          compute %acc[0; 16x16; 16, 1] = 0.0 : f32
          for %k = 0 to 2 {
            matmul %acc[0; 16x16; 16, 1] += %x[512*%i + 16*%k; 16x16; 32, 1] @ %w[256*%k; 16x16; 16, 1] : f32
          }
          copy %y[256*%i; 16x16; 16, 1] <- %acc[0; 16x16; 16, 1]
        }
      }
      return %y
    }

Views print as ``%buf[OFFSET; SHAPE; STRIDES]`` (offset an affine expression in stored term
order, shape ``16x16``, strides a comma list), element references (a dynamic loop's count)
as ``%buf[OFFSET]``. Host calls print their graph inline with the graph printer, constants
in full, indented inside the step's braces.
"""

from __future__ import annotations

from collections.abc import Sequence

from moecc.ir.affine import Affine
from moecc.ir.printer import format_graph_name, format_value_name, print_graph, quote_string
from moecc.ir.tiled.nodes import (
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

_INDENT = "  "


def print_tiled_module(module: TiledModule) -> str:
    """The text form of ``module`` (ends with a newline)."""
    lines = [f"tiled_module({_names(module.inputs)}) {{"]
    lines += [_INDENT + format_buffer(b) for b in module.buffers]
    for step in module.steps:
        if isinstance(step, Kernel):
            lines += _kernel_lines(step, _INDENT)
        else:
            lines += _host_lines(step, _INDENT)
    lines.append(_INDENT + ("return " + _names(module.outputs) if module.outputs else "return"))
    lines.append("}")
    return "\n".join(lines) + "\n"


def print_kernel(kernel: Kernel) -> str:
    """One kernel's text as it appears inside a module, for messages and debugging."""
    return "\n".join(_kernel_lines(kernel, "")) + "\n"


def format_affine(expr: Affine) -> str:
    """``128*%i + %j - 3``: terms in stored order (zero coefficients kept), then the constant."""
    out: list[str] = []
    for var, coef in expr.terms:
        magnitude = abs(coef)
        body = format_value_name(var) if magnitude == 1 else f"{magnitude}*{format_value_name(var)}"
        if not out:
            out.append(("-" if coef < 0 else "") + body)
        else:
            out.append(("- " if coef < 0 else "+ ") + body)
    if not out:
        out.append(str(expr.const))
    elif expr.const:
        out.append(("- " if expr.const < 0 else "+ ") + str(abs(expr.const)))
    return " ".join(out)


def format_buffer(buffer: Buffer) -> str:
    """``global %x : f32[16, 64] input`` / ``local %t : bf16[16, 64]`` (a local's role shows only
    when it is not ``temp``, which the verifier rejects)."""
    text = f"{buffer.space} {format_value_name(buffer.name)} : {buffer.dtype}[{', '.join(map(str, buffer.shape))}]"
    if buffer.space != "local" or buffer.role != "temp":
        text += f" {buffer.role}"
    return text


def format_view(view: View) -> str:
    """``%x[64*%i + 3; 16x64; 64, 1]``."""
    shape = "x".join(str(d) for d in view.shape)
    strides = ", ".join(str(s) for s in view.strides)
    return f"{format_value_name(view.buffer)}[{format_affine(view.offset)}; {shape}; {strides}]"


def format_element(ref: ElementRef) -> str:
    """``%counts[%e]``."""
    return f"{format_value_name(ref.buffer)}[{format_affine(ref.offset)}]"


def format_const(const: Const) -> str:
    """``0.5 : f32``, ``-3 : i32``, ``true : bool``."""
    if const.dtype is DType.BOOL:
        literal = "true" if const.value else "false"
    elif const.dtype.is_float:
        literal = repr(float(const.value))
    else:
        literal = str(int(const.value))
    return f"{literal} : {const.dtype}"


def format_expr(expr: Expr) -> str:
    """An expression in call syntax: ``exp(sub(%x[..], %m[..]))``, ``cast<bf16>(..)``."""
    if isinstance(expr, Operand):
        return format_view(expr.view)
    if isinstance(expr, Const):
        return format_const(expr)
    if isinstance(expr, Unary):
        return f"{expr.op}({format_expr(expr.x)})"
    if isinstance(expr, Binary):
        return f"{expr.op}({format_expr(expr.a)}, {format_expr(expr.b)})"
    if isinstance(expr, Select):
        return f"select({format_expr(expr.cond)}, {format_expr(expr.a)}, {format_expr(expr.b)})"
    if isinstance(expr, Cast):
        return f"cast<{expr.dtype}>({format_expr(expr.x)})"
    raise TypeError(f"not a tiled-IR expression: {expr!r}")


def format_statement(stmt: Stmt) -> str:
    """One statement on one line; a loop prints its header only (``for %i = 0 to 4``)."""
    if isinstance(stmt, Copy):
        return f"copy {format_view(stmt.dst)} <- {format_view(stmt.src)}"
    if isinstance(stmt, Compute):
        return f"compute {format_view(stmt.dst)} = {format_expr(stmt.expr)}"
    if isinstance(stmt, Reduce):
        return f"reduce.{stmt.op} {format_view(stmt.dst)} {_assign(stmt.accumulate)} {format_view(stmt.src)}"
    if isinstance(stmt, MatMul):
        a = format_view(stmt.a) + ("^T" if stmt.transpose_a else "")
        b = format_view(stmt.b) + ("^T" if stmt.transpose_b else "")
        rows = "" if stmt.rows is None else f" rows {format_element(stmt.rows)}"
        blocks = "" if stmt.blocks is None else f" blocks {format_view(stmt.blocks)} block {stmt.block}"
        return f"matmul {format_view(stmt.dst)} {_assign(stmt.accumulate)} {a} @ {b} : {stmt.acc_dtype}{rows}{blocks}"
    if isinstance(stmt, Gather):
        checked = (f" limit {format_element(stmt.limit)}" if stmt.limit is not None else "") + \
            (" in_bounds" if stmt.in_bounds else "")
        return f"gather {format_view(stmt.dst)} <- {format_view(stmt.table)} rows {format_view(stmt.index)}{checked}"
    if isinstance(stmt, Scatter):
        arrow = "+=" if stmt.accumulate else "<-"
        checked = (f" limit {format_element(stmt.limit)}" if stmt.limit is not None else "") + \
            (" in_bounds" if stmt.in_bounds else "")
        return (f"scatter {format_view(stmt.table)} rows {format_view(stmt.index)} {arrow} "
                f"{format_view(stmt.src)}{checked}")
    if isinstance(stmt, TopK):
        which = "largest" if stmt.largest else "smallest"
        return f"topk.{which} {format_view(stmt.values)}, {format_view(stmt.indices)} = {format_view(stmt.src)}"
    if isinstance(stmt, For):
        count = format_element(stmt.count) if isinstance(stmt.count, ElementRef) else str(stmt.count)
        text = f"for {format_value_name(stmt.var)} = 0 to {count}"
        if stmt.max_count is not None:
            text += f" max {stmt.max_count}"
        if stmt.parallel is not None:
            text += " " + format_parallel(stmt.parallel)
        return text
    raise TypeError(f"not a tiled-IR statement: {stmt!r}")


def format_parallel(parallel: Parallel) -> str:
    """``parallel``, ``parallel accumulate(%acc) cost %counts[%e]``."""
    text = "parallel"
    if parallel.accumulate:
        text += f" accumulate({_names(parallel.accumulate)})"
    if parallel.cost is not None:
        text += f" cost {format_element(parallel.cost)}"
    return text


def _assign(accumulate: bool) -> str:
    return "+=" if accumulate else "="


def _kernel_lines(kernel: Kernel, indent: str) -> list[str]:
    head = f"{indent}kernel {format_graph_name(kernel.name)}"
    if kernel.sources:
        head += f" sources({_strings(kernel.sources)})"
    lines = [head + " {"]
    inner = indent + _INDENT
    lines += [inner + format_buffer(b) for b in kernel.buffers]
    lines += _body_lines(kernel.body, inner)
    lines.append(indent + "}")
    return lines


def _body_lines(body: Sequence[Stmt], indent: str) -> list[str]:
    lines: list[str] = []
    for stmt in body:
        if isinstance(stmt, For):
            lines.append(f"{indent}{format_statement(stmt)} {{")
            lines += _body_lines(stmt.body, indent + _INDENT)
            lines.append(indent + "}")
        else:
            lines.append(indent + format_statement(stmt))
    return lines


def _host_lines(call: HostCall, indent: str) -> list[str]:
    head = (f"{indent}host {format_graph_name(call.name)} ins({_names(call.inputs)}) "
            f"outs({_names(call.outputs)})")
    if call.reason:
        head += f" reason({quote_string(call.reason)})"
    if call.sources:
        head += f" sources({_strings(call.sources)})"
    inner = indent + _INDENT
    # Constants in full: the host graph is part of the module, not a reference to weights.
    graph_lines = print_graph(call.graph, elide_constants=False).rstrip("\n").split("\n")
    return [head + " {"] + [inner + line for line in graph_lines] + [indent + "}"]


def _names(names: Sequence[str]) -> str:
    return ", ".join(format_value_name(n) for n in names)


def _strings(texts: Sequence[str]) -> str:
    return ", ".join(quote_string(t) for t in texts)


__all__ = [
    "format_affine",
    "format_buffer",
    "format_const",
    "format_element",
    "format_expr",
    "format_parallel",
    "format_statement",
    "format_view",
    "print_kernel",
    "print_tiled_module",
]
