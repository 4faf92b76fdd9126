"""The target-neutral tiled loop IR, between the graph IR and both back ends.

Lowering turns graph ops into :class:`TiledModule` s: loop nests (static or run-time trip
counts) over strided N-D views of global and kernel-local buffers, with copy, fused
element-wise compute, row reductions, contractions, row gather/scatter and top-k
statements, plus host calls that run graph ops inline. The ASIC back end reaches its kernel
IR (:mod:`moecc.ir.kernel`) from here by a staging pass; the CPU back end emits LLVM loops
directly. One idea per module:

- :mod:`~moecc.ir.tiled.nodes`: the dataclasses;
- :mod:`~moecc.ir.tiled.views`: layout ops (transpose, slice, broadcast, reshape) as views;
- :mod:`~moecc.ir.tiled.printer`, :mod:`~moecc.ir.tiled.parser` (``grammar.lark``): the
  lossless text form;
- :mod:`~moecc.ir.tiled.verifier`: static invariants;
- :mod:`~moecc.ir.tiled.interpreter`: the numpy reference semantics.

See ``docs/tiled_ir.md``.
"""

from moecc.ir.tiled.interpreter import run_tiled_memory, run_tiled_module
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
    Step,
    Stmt,
    TiledModule,
    TopK,
    Unary,
    View,
    walk,
)
from moecc.ir.tiled.parser import parse_tiled_module
from moecc.ir.tiled.printer import print_tiled_module
from moecc.ir.tiled.verifier import verify_tiled_module

__all__ = [
    "Binary",
    "Buffer",
    "Cast",
    "Compute",
    "Const",
    "Copy",
    "ElementRef",
    "Expr",
    "For",
    "Gather",
    "HostCall",
    "Kernel",
    "MatMul",
    "Operand",
    "Parallel",
    "Reduce",
    "Scatter",
    "Select",
    "Step",
    "Stmt",
    "TiledModule",
    "TopK",
    "Unary",
    "View",
    "parse_tiled_module",
    "print_tiled_module",
    "run_tiled_memory",
    "run_tiled_module",
    "verify_tiled_module",
    "walk",
]
