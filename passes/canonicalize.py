"""Canonicalization: local rewrites that put the graph IR into one normal form.

Exporters write the same computation many ways (Gemm vs MatMul + Add, reshape chains,
identity transposes and casts, ``x * 1``...). Later passes (pattern raising, fusion,
partitioning) only want to recognise one form, so this pass rewrites the others away. The
rewrites are a table of :class:`RewritePattern` (op kind → rewrite function), applied in
sweeps over the graph until a sweep changes nothing. Every rewrite keeps the replaced
result's type identical, and every one is exact (the results are the same numbers), except
the ones ``aggressive`` enables, which may change float rounding.

A rewrite function gets the op and a :class:`Rewriter`; it either returns ``None`` (does not
apply; it must not have emitted anything) or the values replacing the op's results, emitting
any new ops through the rewriter (they land just before the op, and fold when their operands
are constants). Ops left unused by a rewrite are removed at the end of the pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from moecc.errors import PassError
from moecc.ir.builder import GraphBuilder, const_value
from moecc.ir.graph import Graph, Op, Value
from moecc.passes.dce import remove_dead_ops
from moecc.passes.manager import Pass, register_pass


@dataclass(slots=True)
class Rewriter:
    """What a rewrite function may use: emit new ops before the op being rewritten."""

    graph: Graph
    builder: GraphBuilder
    aggressive: bool

    def emit(self, kind: str, operands: Sequence[Value], attrs: Mapping[str, Any] | None = None, *, name: str | None = None) -> Value:
        return self.builder.emit1(kind, operands, attrs, name=name)

    def scalar(self, value: float, like: Value) -> Value:
        """A rank-0 constant of ``like``'s element type."""
        return self.builder.const(np.asarray(value, dtype=like.type.dtype.numpy), name="cst")


RewriteFn = Callable[[Op, Rewriter], Sequence[Value] | None]


@dataclass(frozen=True, slots=True)
class RewritePattern:
    """One canonicalization: ``rewrite`` applied to ops of ``kind``."""

    name: str
    kind: str
    rewrite: RewriteFn


# -- the rewrites ------------------------------------------------------------------------

def _passthrough_if_same_type(op: Op, value: Value) -> list[Value] | None:
    """Replace ``op`` by ``value`` when that cannot change the result's type."""
    return [value] if value.type == op.result.type else None


def _is_identity_perm(perm: Sequence[int]) -> bool:
    return tuple(perm) == tuple(range(len(perm)))


def _all_equal_to(value: Value, scalar: float) -> bool:
    data = const_value(value)
    return data is not None and data.size > 0 and bool(np.all(data == scalar))


def _final_name(op: Op) -> str:
    return op.results[0].name


def reshape_to_same_shape(op: Op, rw: Rewriter) -> list[Value] | None:
    """``reshape(%x) {shape = x.shape}`` → ``%x``."""
    return _passthrough_if_same_type(op, op.operands[0])


def reshape_of_reshape(op: Op, rw: Rewriter) -> list[Value] | None:
    """``reshape(reshape(%x))`` → ``reshape(%x)`` with the outer shape (row-major order is
    unchanged by a reshape, so only the last shape matters)."""
    inner = op.operands[0].producer
    if inner is None or inner.kind != "reshape":
        return None
    return [rw.emit("reshape", [inner.operands[0]], {"shape": op.attrs["shape"]}, name=_final_name(op))]


def transpose_identity(op: Op, rw: Rewriter) -> list[Value] | None:
    """``transpose(%x) {perm = [0, 1, ...]}`` → ``%x``."""
    return [op.operands[0]] if _is_identity_perm(op.attrs["perm"]) else None


def transpose_of_transpose(op: Op, rw: Rewriter) -> list[Value] | None:
    """``transpose(transpose(%x) {perm = p}) {perm = q}`` → ``transpose(%x) {perm = p∘q}``,
    or ``%x`` when the composition is the identity. Result axis ``i`` of the pair is input
    axis ``p[q[i]]``."""
    inner = op.operands[0].producer
    if inner is None or inner.kind != "transpose":
        return None
    inner_perm, outer_perm = inner.attrs["perm"], op.attrs["perm"]
    composed = tuple(inner_perm[i] for i in outer_perm)
    source = inner.operands[0]
    if _is_identity_perm(composed):
        return [source]
    return [rw.emit("transpose", [source], {"perm": composed}, name=_final_name(op))]


def cast_to_same_dtype(op: Op, rw: Rewriter) -> list[Value] | None:
    """``cast(%x) {to = x.dtype}`` → ``%x``."""
    return _passthrough_if_same_type(op, op.operands[0])


def expand_to_same_shape(op: Op, rw: Rewriter) -> list[Value] | None:
    """``expand(%x) {shape = x.shape}`` → ``%x``."""
    return _passthrough_if_same_type(op, op.operands[0])


def slice_whole_tensor(op: Op, rw: Rewriter) -> list[Value] | None:
    """``slice(%x)`` that keeps every element in order → ``%x``.

    With positive steps, a window as long as its axis must start at 0 and take every
    element; a negative step reverses the axis, which is only a no-op on axes of size <= 1.
    """
    x = op.operands[0]
    if op.result.type != x.type:
        return None
    for axis, step in zip(op.attrs["axes"], op.attrs["steps"]):
        if step < 0 and x.type.shape[axis] > 1:
            return None
    return [x]


def concat_of_one(op: Op, rw: Rewriter) -> list[Value] | None:
    """``concat(%x) {axis = a}`` → ``%x``."""
    if len(op.operands) != 1:
        return None
    return _passthrough_if_same_type(op, op.operands[0])


def where_constant_condition(op: Op, rw: Rewriter) -> list[Value] | None:
    """``where(%c, %a, %b)`` with ``%c`` a constant that is all true → ``%a``, all false →
    ``%b``, when the chosen operand already has the result's type (no broadcasting)."""
    cond = const_value(op.operands[0])
    if cond is None or cond.size == 0:
        return None
    if bool(np.all(cond)):
        return _passthrough_if_same_type(op, op.operands[1])
    if not bool(np.any(cond)):
        return _passthrough_if_same_type(op, op.operands[2])
    return None


def mul_by_one(op: Op, rw: Rewriter) -> list[Value] | None:
    """``mul(%x, 1)`` or ``mul(1, %x)`` → ``%x`` when the constant does not broadcast ``%x``
    to a bigger shape."""
    lhs, rhs = op.operands
    for value, other in ((lhs, rhs), (rhs, lhs)):
        if _all_equal_to(other, 1) and value.type == op.result.type:
            return [value]
    return None


def add_of_zero(op: Op, rw: Rewriter) -> list[Value] | None:
    """``add(%x, 0)`` or ``add(0, %x)`` → ``%x`` when the constant does not broadcast ``%x``.

    Exact in value; the one bit-level difference is that ``-0.0 + 0.0`` is ``+0.0``, and
    the two zeros compare equal.
    """
    lhs, rhs = op.operands
    for value, other in ((lhs, rhs), (rhs, lhs)):
        if _all_equal_to(other, 0) and value.type == op.result.type:
            return [value]
    return None


def sub_of_zero(op: Op, rw: Rewriter) -> list[Value] | None:
    """``sub(%x, 0)`` → ``%x`` when the constant does not broadcast ``%x``."""
    lhs, rhs = op.operands
    if _all_equal_to(rhs, 0) and lhs.type == op.result.type:
        return [lhs]
    return None


def div_by_one(op: Op, rw: Rewriter) -> list[Value] | None:
    """``div(%x, 1)`` → ``%x`` when the constant does not broadcast ``%x``."""
    lhs, rhs = op.operands
    if _all_equal_to(rhs, 1) and lhs.type == op.result.type:
        return [lhs]
    return None


def one_over(op: Op, rw: Rewriter) -> list[Value] | None:
    """``div(1, %x)`` → ``reciprocal(%x)`` for floats, when the one does not broadcast ``%x``
    (the same IEEE division; one form for raising to read)."""
    lhs, rhs = op.operands
    if _all_equal_to(lhs, 1) and rhs.type == op.result.type and rhs.type.dtype.is_float:
        return [rw.emit("reciprocal", [rhs], name=_final_name(op))]
    return None


def _scaled_constant(value: Value, factor: float, rw: Rewriter) -> Value | None:
    data = const_value(value)
    if data is None:
        return None
    scaled = (data.astype(np.float32) * np.float32(factor)).astype(data.dtype)
    return rw.builder.const(scaled, name="cst")


def gemm_to_matmul(op: Op, rw: Rewriter) -> list[Value] | None:
    """``gemm(%a, %b, %c) {alpha, beta, trans_a, trans_b}`` →
    ``add(mul(matmul(transpose(%a), transpose(%b)), alpha), mul(%c, beta))``, leaving out
    the transposes that are not asked for and the multiplications by 1.

    Integer gemm with ``alpha``/``beta`` other than 1 stays (no exact lowering in the
    operand type). With ``aggressive``, ``alpha``/``beta`` are folded into a constant
    ``%b``/``%c`` instead of multiplied at run time (this rounds differently).
    """
    a, b = op.operands[0], op.operands[1]
    c = op.operands[2] if len(op.operands) > 2 else None
    alpha, beta = op.attrs["alpha"], op.attrs["beta"]
    if c is None:
        beta = 1.0
    if not op.result.type.dtype.is_float and (alpha != 1.0 or beta != 1.0):
        return None
    if op.attrs["trans_a"]:
        a = rw.emit("transpose", [a], {"perm": (1, 0)})
    if op.attrs["trans_b"]:
        b = rw.emit("transpose", [b], {"perm": (1, 0)})
    if rw.aggressive and alpha != 1.0:
        scaled_b = _scaled_constant(b, alpha, rw)
        if scaled_b is not None:
            b, alpha = scaled_b, 1.0
    last = c is None and alpha == 1.0
    y = rw.emit("matmul", [a, b], name=_final_name(op) if last else None)
    if alpha != 1.0:
        y = rw.emit("mul", [y, rw.scalar(alpha, y)], name=_final_name(op) if c is None else None)
    if c is not None:
        if rw.aggressive and beta != 1.0:
            scaled_c = _scaled_constant(c, beta, rw)
            if scaled_c is not None:
                c, beta = scaled_c, 1.0
        if beta != 1.0:
            c = rw.emit("mul", [c, rw.scalar(beta, c)])
        y = rw.emit("add", [y, c], name=_final_name(op))
    return [y]


#: Every canonicalization, in the order they are tried on an op of their kind.
PATTERNS: tuple[RewritePattern, ...] = (
    RewritePattern("gemm-to-matmul", "gemm", gemm_to_matmul),
    RewritePattern("reshape-to-same-shape", "reshape", reshape_to_same_shape),
    RewritePattern("reshape-of-reshape", "reshape", reshape_of_reshape),
    RewritePattern("transpose-identity", "transpose", transpose_identity),
    RewritePattern("transpose-of-transpose", "transpose", transpose_of_transpose),
    RewritePattern("cast-to-same-dtype", "cast", cast_to_same_dtype),
    RewritePattern("expand-to-same-shape", "expand", expand_to_same_shape),
    RewritePattern("slice-whole-tensor", "slice", slice_whole_tensor),
    RewritePattern("concat-of-one", "concat", concat_of_one),
    RewritePattern("where-constant-condition", "where", where_constant_condition),
    RewritePattern("mul-by-one", "mul", mul_by_one),
    RewritePattern("add-of-zero", "add", add_of_zero),
    RewritePattern("sub-of-zero", "sub", sub_of_zero),
    RewritePattern("div-by-one", "div", div_by_one),
    RewritePattern("one-over", "div", one_over),
)


def _patterns_by_kind(patterns: Sequence[RewritePattern]) -> dict[str, tuple[RewritePattern, ...]]:
    table: dict[str, list[RewritePattern]] = {}
    for pattern in patterns:
        table.setdefault(pattern.kind, []).append(pattern)
    return {kind: tuple(group) for kind, group in table.items()}


_PATTERNS_BY_KIND = _patterns_by_kind(PATTERNS)


# -- the driver --------------------------------------------------------------------------

def _sweep(graph: Graph, aggressive: bool, applied: dict[str, int]) -> int:
    """One pass over the ops trying every pattern once per op; returns the rewrite count.

    The op list is rebuilt as it goes: a rewrite appends its new ops where the old op was,
    and later ops see the replacement values through ``replacement``.
    """
    old_ops = graph.ops
    graph.ops = []
    builder = GraphBuilder(graph)
    rewriter = Rewriter(graph, builder, aggressive)
    replacement: dict[int, Value] = {}
    rewritten: list[Op] = []
    for op in old_ops:
        if replacement:
            op.operands = [replacement.get(id(v), v) for v in op.operands]
        patterns = _PATTERNS_BY_KIND.get(op.kind, ())
        new_values = None
        if patterns:
            builder.source = op.source
            # Release the op's result names so the value replacing it can keep the name.
            for r in op.results:
                graph.release_name(r.name)
            for pattern in patterns:
                new_values = pattern.rewrite(op, rewriter)
                if new_values is not None:
                    _check_replacement(pattern, op, new_values)
                    applied[pattern.name] = applied.get(pattern.name, 0) + 1
                    break
            if new_values is None:
                for r in op.results:
                    graph.reserve_name(r.name)
        if new_values is None:
            graph.ops.append(op)
            continue
        for old, new in zip(op.results, new_values):
            replacement[id(old)] = new
        rewritten.append(op)
    if replacement:
        graph.outputs = [replacement.get(id(v), v) for v in graph.outputs]
    return len(rewritten)


def _check_replacement(pattern: RewritePattern, op: Op, new_values: Sequence[Value]) -> None:
    old_types = [r.type for r in op.results]
    new_types = [v.type for v in new_values]
    if old_types != new_types:
        raise PassError(
            f"rewrite '{pattern.name}' replaced {op.describe()} of type(s) "
            f"{', '.join(map(str, old_types))} by {', '.join(map(str, new_types))}",
            pass_name=Canonicalize.name,
            remedy="this is a moecc bug; run without canonicalize to work around it",
        )


def canonicalize_graph(graph: Graph, *, aggressive: bool = False, max_iterations: int = 16) -> dict[str, int]:
    """Apply :data:`PATTERNS` until a sweep changes nothing (at most ``max_iterations``
    sweeps), then remove dead ops; return how often each pattern applied (plus ``"dce"``)."""
    applied: dict[str, int] = {}
    for _ in range(max_iterations):
        if _sweep(graph, aggressive, applied) == 0:
            break
    removed = remove_dead_ops(graph)
    if removed:
        applied["dce"] = removed
    return applied


@register_pass
@dataclass(frozen=True, slots=True)
class Canonicalize(Pass):
    """Rewrites the graph into canonical form with the patterns in :data:`PATTERNS`.

    Options: ``aggressive`` also allows rewrites that change float rounding (folding gemm's
    alpha/beta into constant operands); ``max_iterations`` bounds the sweeps. Dead ops are
    removed at the end, as MLIR's canonicalizer does.

    Before (``-p canonicalize``)::

        %w = const dense<0.5> : tensor<8x4xf32>
        %t = gemm(%x, %w, %b) {trans_b = true} : tensor<2x8xf32>
        %r = reshape(%t) {shape = [16]} : tensor<16xf32>
        %y = reshape(%r) {shape = [2, 8]} : tensor<2x8xf32>
        return %y

    After (``%w`` is a constant, so its transpose folds; the reshapes cancel)::

        %transpose = const dense<elided "ad91dd438b725340"> : tensor<4x8xf32>
        %matmul = matmul(%x, %transpose) : tensor<2x8xf32>
        %t = add(%matmul, %b) : tensor<2x8xf32>
        return %t as "y"
    """

    name: ClassVar[str] = "canonicalize"
    aggressive: bool = False
    max_iterations: int = 16

    def __post_init__(self) -> None:
        if self.max_iterations < 1:
            raise PassError(f"max_iterations must be at least 1, got {self.max_iterations}", pass_name=self.name)

    def apply(self, graph: Graph) -> bool:
        return bool(canonicalize_graph(graph, aggressive=self.aggressive, max_iterations=self.max_iterations))
