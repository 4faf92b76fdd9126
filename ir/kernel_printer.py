"""The kernel IR's text form, printing side (:mod:`moecc.ir.kernel_parser` reads it back).

Tiling lowers the ASIC partition of a graph to a :class:`~moecc.ir.kernel.KernelModule`;
``moecc compile --emit kernel`` and ``CompiledModel.ir("kernel")`` show it through this
printer, and kernel-IR tests are written against the text. The text is lossless:
``parse_kernel_module(print_kernel_module(m)) == m`` for every module whose vector
immediates are not NaN (NaN never equals itself; it still prints and parses back as NaN).
The format is described in ``docs/kernel_ir.md``::

    kernel_module(%x, %w) {
      hbm %x : f32[16, 64] input @0x0
      hbm %w : f32[64, 128] weight @0x1000
      hbm %y : f32[16, 128] output @0x9000
      kernel @mlp sources("/mlp/MatMul") {
        sram %a : f32[16, 64] @0x0
        sram %b : f32[64, 32] x2 @0x1000
        acc %c : f32[16, 128] @0x0
        load %a[16x64] <- %x[16x64 at 0 pitch 64]
        for %j = 0 to 4 {
          load %b[64x32 slot %j] <- %w[64x32 at 32*%j pitch 128]
          ...
        }
        for %t = 0 to %n[%e] max 16 {
          ...
        }
        scatter_add %y[4x128 at 0 pitch 128] += %r[4x128] index %idx[1x4] : f32
      }
      cpu @router ins(%y) outs(%z) ops("/TopK")
      return %y
    }

A loop's count is an integer, or ``%buf[OFFSET] max BOUND`` for a run-time count (the i32
element ``OFFSET`` of SRAM buffer ``%buf``, :class:`~moecc.ir.kernel.Count`, with its
``max_count``); ``scatter_add ... +=`` is a :class:`~moecc.ir.kernel.Scatter` with ``add``.
Loop variables are ``%`` names like buffers (as MLIR's induction variables), offsets are affine
expressions over them (``128*%i + %j - 3``), and fields equal to their defaults are left out
(a LocalRef's zero offset and slot, a local buffer's single slot and ``temp`` role).
"""

from __future__ import annotations

from collections.abc import Sequence

from moecc.ir.kernel import (
    BCAST_MODES,
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
from moecc.ir.printer import format_graph_name, format_value_name, quote_string
from moecc.ir.types import DType

_INDENT = "  "


def print_kernel_module(module: KernelModule) -> str:
    """The text form of ``module`` (ends with a newline)."""
    lines = [f"kernel_module({_names(module.inputs)}) {{"]
    lines += [_INDENT + format_buffer(b) for b in module.hbm]
    for step in module.steps:
        if isinstance(step, Kernel):
            lines += _kernel_lines(step, _INDENT)
        else:
            lines.append(_INDENT + format_cpu_call(step))
    lines.append(_INDENT + ("return " + _names(module.outputs) if module.outputs else "return"))
    lines.append("}")
    return "\n".join(lines) + "\n"


def print_kernel(kernel: Kernel) -> str:
    """The text of one kernel (as it appears inside a module), for messages and debugging."""
    return "\n".join(_kernel_lines(kernel, "")) + "\n"


def format_affine(expr: Affine) -> str:
    """``128*%i + %j - 3``: terms in their stored order (zero coefficients kept), then the constant."""
    out: list[str] = []
    for var, coef in expr.terms:
        name = format_value_name(var)
        magnitude = abs(coef)
        body = name if magnitude == 1 else f"{magnitude}*{name}"
        if not out:
            out.append(("-" if coef < 0 else "") + body)
        else:
            out.append(("- " if coef < 0 else "+ ") + body)
    if expr.const or not out:
        if not out:
            out.append(str(expr.const))
        else:
            out.append(("- " if expr.const < 0 else "+ ") + str(abs(expr.const)))
    return " ".join(out)


def format_buffer(buffer: Buffer) -> str:
    """``sram %a : bf16[16, 64] x2 @0x100``; HBM buffers always show their role."""
    text = f"{buffer.space} {format_value_name(buffer.name)} : {buffer.dtype}[{', '.join(map(str, buffer.shape))}]"
    if buffer.space == "hbm" or buffer.role != "temp":
        text += f" {buffer.role}"
    if buffer.slots != 1:
        text += f" x{buffer.slots}"
    if buffer.offset is not None:
        text += f" @{hex(buffer.offset)}"
    return text


def format_local_ref(ref: LocalRef) -> str:
    """``%a[16x64 at 64*%k pitch 128 slot %i]`` (zero offset, pitch and slot left out)."""
    text = f"{format_value_name(ref.buffer)}[{ref.rows}x{ref.cols}"
    if ref.offset != Affine():
        text += f" at {format_affine(ref.offset)}"
    if ref.pitch:
        text += f" pitch {ref.pitch}"
    if ref.slot != Affine():
        text += f" slot {format_affine(ref.slot)}"
    return text + "]"


def format_hbm_ref(ref: HbmRef) -> str:
    """``%x[16x64 at 1024*%i pitch 256]``."""
    return f"{format_value_name(ref.buffer)}[{ref.rows}x{ref.cols} at {format_affine(ref.offset)} pitch {ref.pitch}]"


def format_count(count: Count) -> str:
    """``%n[%e]``: the run-time trip count, element ``offset`` of SRAM buffer ``%n`` (``%n[%e
    slot %i]`` in a slot of a multi-buffered cell)."""
    slot = "" if count.slot == Affine() else f" slot {format_affine(count.slot)}"
    return f"{format_value_name(count.buffer)}[{format_affine(count.offset)}{slot}]"


def format_loop_header(stmt: For) -> str:
    """``for %i = 0 to 4 {`` or, with a run-time count, ``for %i = 0 to %n[%e] max 16 {``."""
    count = format_count(stmt.count) if isinstance(stmt.count, Count) else str(stmt.count)
    bound = "" if stmt.max_count is None else f" max {stmt.max_count}"
    return f"for {format_value_name(stmt.var)} = 0 to {count}{bound} {{"


def format_statement(stmt: Stmt) -> str:
    """One non-loop statement on one line (a :class:`For` needs :func:`print_kernel`;
    :func:`format_loop_header` gives its first line)."""
    if isinstance(stmt, Load):
        skip = f" skip_zero_blocks {stmt.skip_zero_blocks}" if stmt.skip_zero_blocks else ""
        return f"load {format_local_ref(stmt.dst)} <- {format_hbm_ref(stmt.src)}{skip}"
    if isinstance(stmt, Store):
        return f"store {format_hbm_ref(stmt.dst)} <- {format_local_ref(stmt.src)}"
    if isinstance(stmt, Gather):
        rows = "" if stmt.rows is None else f" rows {format_count(stmt.rows)}"
        return (f"gather {format_local_ref(stmt.dst)} <- {format_hbm_ref(stmt.table)} "
                f"index {format_local_ref(stmt.indices)}{rows}")
    if isinstance(stmt, Scatter):
        head = (f"scatter_add {format_hbm_ref(stmt.table)} +=" if stmt.add
                else f"scatter {format_hbm_ref(stmt.table)} <-")
        text = f"{head} {format_local_ref(stmt.src)} index {format_local_ref(stmt.indices)}"
        # The dtype matters to scatter_add only; a plain scatter shows it when not the default.
        text += f" : {stmt.dtype}" if stmt.add or stmt.dtype != DType.F32 else ""
        return text + ("" if stmt.rows is None else f" rows {format_count(stmt.rows)}")
    if isinstance(stmt, MatMul):
        arrow = "+=" if stmt.accumulate else "<-"
        rows = "" if stmt.rows is None else f" rows {format_count(stmt.rows)}"
        sparse = ""
        if stmt.mask is not None:
            sparse = (f" mask {format_local_ref(stmt.mask)} block {stmt.block}" if stmt.sparsity == "blocks"
                      else f" positions {format_local_ref(stmt.mask)}")
        return (f"matmul {format_local_ref(stmt.dst)} {arrow} {format_local_ref(stmt.a)} @ "
                f"{format_local_ref(stmt.w)}{'^T' if stmt.transpose_w else ''} : {stmt.dtype}{rows}{sparse}")
    if isinstance(stmt, Vector):
        return _format_vector(stmt)
    raise TypeError(f"not a kernel statement: {stmt!r}")


def format_cpu_call(call: CpuCall) -> str:
    """``cpu @name ins(%a, %b) outs(%c) ops("/TopK")``."""
    text = f"cpu {format_graph_name(call.name)} ins({_names(call.inputs)}) outs({_names(call.outputs)})"
    if call.ops:
        text += f" ops({', '.join(quote_string(op) for op in call.ops)})"
    return text


def _format_vector(stmt: Vector) -> str:
    op = stmt.op if _is_word(stmt.op) else quote_string(stmt.op)
    text = f"vpu.{op} {format_local_ref(stmt.dst)}"
    if stmt.a is not None or stmt.b is not None:
        operands = [format_local_ref(stmt.a) if stmt.a is not None else "_"]
        if stmt.b is not None:
            operands.append(format_local_ref(stmt.b))
        text += " <- " + ", ".join(operands)
    attrs: list[str] = []
    if stmt.bcast != "none":
        attrs.append(f"bcast = {stmt.bcast if stmt.bcast in BCAST_MODES else quote_string(stmt.bcast)}")
    if repr(float(stmt.imm)) != "0.0":  # -0.0 equals 0.0 but is a different immediate
        attrs.append(f"imm = {float(stmt.imm)!r}")
    if stmt.k != 0:
        attrs.append(f"k = {stmt.k}")
    if attrs:
        text += " {" + ", ".join(attrs) + "}"
    text += f" : {stmt.dtype}"
    if stmt.odt is not None:
        text += f" -> {stmt.odt}"
    return text


def _kernel_lines(kernel: Kernel, indent: str) -> list[str]:
    head = f"{indent}kernel {format_graph_name(kernel.name)}"
    if kernel.sources:
        head += f" sources({', '.join(quote_string(s) for s in kernel.sources)})"
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
            lines.append(indent + format_loop_header(stmt))
            lines += _body_lines(stmt.body, indent + _INDENT)
            lines.append(indent + "}")
        else:
            lines.append(indent + format_statement(stmt))
    return lines


def _names(names: Sequence[str]) -> str:
    return ", ".join(format_value_name(n) for n in names)


def _is_word(text: str) -> bool:
    return text.isascii() and text.replace("_", "a").isalnum() and not text[0].isdigit()


__all__ = [
    "format_affine",
    "format_buffer",
    "format_count",
    "format_cpu_call",
    "format_hbm_ref",
    "format_local_ref",
    "format_loop_header",
    "format_statement",
    "print_kernel",
    "print_kernel_module",
]
