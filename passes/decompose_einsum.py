"""Einsum decomposition: contractions become the transpose/reshape/matmul ops the back ends tile.

Exporters keep ``torch.einsum`` as one ``Einsum`` node (MoE experts applied as stacked weights,
``td,edf->tef``; attention written ``bhqd,bhkd->bhqk``). The graph IR's ``einsum`` op has
reference semantics but no back end tiles it: the ASIC has no lowering rule for it, so it runs
on the host, and the CPU emits it as a scalar loop per output element. Every einsum that is a
plain contraction is a matrix product in disguise, so this pass rewrites it into ``transpose``,
``reshape`` and ``matmul`` (plus ``reduce_sum`` and ``mul``), which both back ends run well.

For two operands A and B, each label falls in one class:

- *batch*: in A, B and the output;
- *contracted*: in A and B, not the output;
- *left* / *right free*: in A only (B only) and the output;
- *summed out*: in one operand only and not the output: a ``reduce_sum`` first.

A is transposed to ``[batch, left, contracted]`` and reshaped to ``[Bt, M, K]``, B to
``[batch, contracted, right]`` → ``[Bt, K, N]`` (plain 2-D when there is no batch label), one
``matmul``, a reshape to ``[batch..., left..., right...]`` and a transpose to the output's
order. Which operand goes left and the label order inside each class are free; the pass picks
the choice that transposes the fewest run-time elements (a constant's transpose folds at compile
time, so a stacked weight ``[e, d, f]`` simply becomes the ``[d, e*f]`` matrix of one big matmul).
Two shapes are not matmuls: without contracted labels the product is a broadcasting ``mul``,
and a *batched matrix-vector* product (a batch label, and one operand's labels all in the
other's, like the MoE's weighted sum over experts ``te,ted->td``) is a broadcasting ``mul`` and
a ``reduce_sum``: as a matmul it would be one M=1 product per batch row, which the MXU runs
at a fraction of its width (the ``dense-moe-einsum`` example on moe-asic-v1 takes 158k
cycles with that sum as a matmul, 102k this way). One operand is a ``reduce_sum`` and/or ``transpose``. Identity
transposes and reshapes are not emitted.

Position: first in :data:`~moecc.passes.manager.DEFAULT_GRAPH_PIPELINE`, so that
``canonicalize`` merges the reshapes it leaves back to back and ``fold-constants``/``dce``
tidy up after it. The constant transposes and reshapes fold as the pass builds them (the
builder evaluates ops on constants), and the constants they replace are left for ``dce``.

Broadcasting: a label of size 1 in an operand is dropped from that operand first (a reshape),
so a label of size 1 in one operand and n in the other is simply a label of the other; ``...``
stands for one label per broadcast dim, aligned from the right. A final reshape restores the
size-1 dims of the output. More than two operands are contracted pairwise, left to right, each
intermediate keeping the labels the output or a later operand still needs.

Left alone (the ``einsum`` stays, still correct on its reference and host paths): a label
repeated within one operand (a diagonal, ``ii->i``) and operands with no elements.

Numerics: float32 sums in another order than numpy's einsum. float16/bfloat16 round once per
emitted op: a lone matmul rounds once, as einsum does, but the products of a ``mul`` before a
``reduce_sum``, a ``reduce_sum`` before a matmul and a pairwise intermediate are rounded to the
half type too. Integers wrap alike.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from moecc.errors import PassError
from moecc.ir.builder import GraphBuilder
from moecc.ir.graph import Graph, Op, Value
from moecc.ir.ops.linalg import ELLIPSIS, parse_einsum
from moecc.passes.manager import Pass, register_pass

Labels = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Term:
    """A value with one einsum label per dim."""

    value: Value
    labels: Labels


def expand_ellipsis(equation: str, shapes: Sequence[tuple[int, ...]]) -> tuple[list[Labels], Labels]:
    """The equation's labels per operand and for the output, with ``...`` replaced by one label
    per broadcast dim (``...0``, ``...1``, ...), numbered so operands align from the right."""
    spec = parse_einsum(equation, len(shapes))
    ranks = [len(shape) - (len(term) - 1) if ELLIPSIS in term else 0 for term, shape in zip(spec.inputs, shapes)]
    width = max(ranks, default=0)

    def expand(term: Labels, rank: int) -> Labels:
        labels: list[str] = []
        for label in term:
            if label == ELLIPSIS:
                labels.extend(f"{ELLIPSIS}{i}" for i in range(width - rank, width))
            else:
                labels.append(label)
        return tuple(labels)

    return [expand(t, r) for t, r in zip(spec.inputs, ranks)], expand(spec.output, width)


def decline_reason(op: Op) -> str | None:
    """Why this einsum stays as it is, or ``None`` when the pass rewrites it."""
    inputs, _ = expand_ellipsis(op.attrs["equation"], [v.type.shape for v in op.operands])
    for labels in inputs:
        if len(set(labels)) != len(labels):
            return f"a label repeats within the term '{''.join(labels)}' (a diagonal)"
    if any(v.type.numel == 0 for v in op.operands):
        return "an operand has no elements"
    return None


def _is_const(value: Value) -> bool:
    return value.producer is not None and value.producer.is_const


def _orders(group: Iterable[str], *sources: Sequence[str] | None) -> list[Labels]:
    """The distinct orders of ``group`` that ``sources`` list it in (each a candidate layout)."""
    members = set(group)
    seen: list[Labels] = []
    for source in sources:
        if source is None:
            continue
        order = tuple(label for label in source if label in members)
        if order not in seen:
            seen.append(order)
    return seen


@dataclass(frozen=True, slots=True)
class MatmulLayout:
    """One way to run a contraction as a matmul: ``x`` goes left with its labels ordered
    ``batch + left + contracted``, ``y`` right with ``batch + contracted + right``; ``swapped``
    says ``x`` is the einsum's second operand."""

    x: Term
    y: Term
    batch: Labels
    left: Labels
    contracted: Labels
    right: Labels
    swapped: bool

    @property
    def result_labels(self) -> Labels:
        return self.batch + self.left + self.right


class Decomposer:
    """Emits the ops replacing one einsum through ``builder`` (constant operands fold as the
    builder creates them, so a weight's transpose never reaches the graph)."""

    def __init__(self, builder: GraphBuilder, sizes: dict[str, int]) -> None:
        self.builder = builder
        self.sizes = sizes
        # Ops from here on in the graph's (rebuilt) op list are this einsum's replacement.
        self.first_new = len(builder.graph.ops)

    def shape(self, labels: Iterable[str]) -> tuple[int, ...]:
        return tuple(self.sizes[label] for label in labels)

    def numel(self, labels: Iterable[str]) -> int:
        return math.prod(self.shape(labels))

    # -- single-term steps (each skipped when it would change nothing) -------------------

    def reshape(self, value: Value, shape: tuple[int, ...]) -> Value:
        if value.type.shape == shape:
            return value
        return self.builder.emit1("reshape", [value], {"shape": shape})

    def final_reshape(self, value: Value, shape: tuple[int, ...]) -> Value:
        """``value`` reshaped to the einsum's result shape. When ``value`` is itself a reshape
        just emitted (so nothing else uses it yet), that one is taken back: one reshape, not two."""
        graph = self.builder.graph
        producer = value.producer
        ours_last = len(graph.ops) > self.first_new and graph.ops[-1] is producer
        if value.type.shape != shape and producer is not None and producer.kind == "reshape" and ours_last:
            graph.ops.pop()
            graph.release_name(value.name)
            value = producer.operands[0]
        return self.reshape(value, shape)

    def squeeze(self, term: Term) -> Term:
        """Drop the labels of size 1: a size-1 label broadcasts, so the other operands alone
        decide its size (and where none has it, the final reshape restores the dim)."""
        kept = tuple(label for label, dim in zip(term.labels, term.value.type.shape) if dim != 1)
        if kept == term.labels:
            return term
        return Term(self.reshape(term.value, self.shape(kept)), kept)

    def transpose(self, term: Term, order: Labels) -> Term:
        perm = tuple(term.labels.index(label) for label in order)
        if perm == tuple(range(len(perm))):
            return term
        return Term(self.builder.emit1("transpose", [term.value], {"perm": perm}), order)

    def sum_out(self, term: Term, labels: Iterable[str]) -> Term:
        gone = set(labels)
        if not gone:
            return term
        axes = tuple(i for i, label in enumerate(term.labels) if label in gone)
        value = self.builder.emit1("reduce_sum", [term.value], {"axes": axes, "keepdims": False})
        return Term(value, tuple(label for label in term.labels if label not in gone))

    def single(self, term: Term, out: Labels) -> Term:
        """One operand: sum out the labels the output lacks, then transpose to its order."""
        return self.transpose(self.sum_out(term, [lbl for lbl in term.labels if lbl not in out]), out)

    # -- contraction of two terms --------------------------------------------------------

    def contract(self, a: Term, b: Term, keep: set[str], out: Labels | None) -> Term:
        """``a`` times ``b``, summed over every label not in ``keep``; the result's labels are
        ``out`` when given (the final product), else the order that needs no transpose."""
        a = self.sum_out(a, [lbl for lbl in a.labels if lbl not in b.labels and lbl not in keep])
        b = self.sum_out(b, [lbl for lbl in b.labels if lbl not in a.labels and lbl not in keep])
        contracted = tuple(label for label in a.labels if label in b.labels and label not in keep)
        if not contracted:
            return self.outer(a, b, out if out is not None else _union(a.labels, b.labels))
        batched = any(label in b.labels and label in keep for label in a.labels)
        if batched and (set(a.labels) <= set(b.labels) or set(b.labels) <= set(a.labels)):
            # A batched matrix-vector product: as a matmul, every batch row would be its own
            # M=1 (or N=1) product, reloading the matrix per row. Multiplying element-wise
            # (the smaller operand broadcasts over the larger's dims) and summing is one pass.
            superset = a if set(b.labels) <= set(a.labels) else b
            product = self.outer(a, b, superset.labels)
            reduced = self.sum_out(product, contracted)
            return reduced if out is None else self.transpose(reduced, out)
        layout = min(self.layouts(a, b, keep, out), key=lambda lay: self.cost(lay, out))
        batch, left, contracted, right = layout.batch, layout.left, layout.contracted, layout.right
        x = self.transpose(layout.x, batch + left + contracted)
        y = self.transpose(layout.y, batch + contracted + right)
        lead = (self.numel(batch),) if batch else ()
        x_value = self.reshape(x.value, lead + (self.numel(left), self.numel(contracted)))
        y_value = self.reshape(y.value, lead + (self.numel(contracted), self.numel(right)))
        product = self.builder.emit1("matmul", [x_value, y_value])
        result = Term(self.reshape(product, self.shape(layout.result_labels)), layout.result_labels)
        return result if out is None else self.transpose(result, out)

    def layouts(self, a: Term, b: Term, keep: set[str], out: Labels | None) -> Iterable[MatmulLayout]:
        """Every candidate layout: either operand on the left, and each class of labels in
        the order one of the operands or the output has it."""
        for x, y, swapped in ((a, b, False), (b, a, True)):
            shared = [label for label in x.labels if label in y.labels]
            batch = [label for label in shared if label in keep]
            contracted = [label for label in shared if label not in keep]
            left = [label for label in x.labels if label not in y.labels]
            right = [label for label in y.labels if label not in x.labels]
            for orders in itertools.product(
                _orders(batch, out, x.labels, y.labels),
                _orders(left, out, x.labels),
                _orders(contracted, x.labels, y.labels),
                _orders(right, out, y.labels),
            ):
                yield MatmulLayout(x, y, *orders, swapped=swapped)

    def cost(self, layout: MatmulLayout, out: Labels | None) -> tuple[int, int, bool]:
        """Run-time elements the layout's transposes move (a constant's transpose folds at
        compile time, so it is free), then how many transposes, then A on the left."""
        moved, count = 0, 0
        for term, order in (
            (layout.x, layout.batch + layout.left + layout.contracted),
            (layout.y, layout.batch + layout.contracted + layout.right),
        ):
            if term.labels != order:
                count += 1
                moved += 0 if _is_const(term.value) else self.numel(order)
        if out is not None and layout.result_labels != out:
            count += 1
            moved += self.numel(out)
        return moved, count, layout.swapped

    def outer(self, a: Term, b: Term, order: Labels) -> Term:
        """The element-wise product of ``a`` and ``b`` with labels ``order`` (their union):
        both transposed to that order with size-1 dims where they lack a label, then a
        broadcasting ``mul``."""
        values = []
        for term in (a, b):
            moved = self.transpose(term, tuple(label for label in order if label in term.labels))
            shape = tuple(self.sizes[label] if label in term.labels else 1 for label in order)
            values.append(self.reshape(moved.value, shape))
        return Term(self.builder.emit1("mul", values), order)


def _union(first: Labels, second: Labels) -> Labels:
    return first + tuple(label for label in second if label not in first)


def label_sizes(inputs: Sequence[Labels], shapes: Sequence[tuple[int, ...]]) -> dict[str, int]:
    """Each label's size: the largest of its dims (the others are equal or a broadcast 1)."""
    sizes: dict[str, int] = {}
    for labels, shape in zip(inputs, shapes):
        for label, dim in zip(labels, shape):
            sizes[label] = max(sizes.get(label, 1), dim)
    return sizes


def decompose_einsum_op(op: Op, builder: GraphBuilder) -> Value:
    """Emit the ops computing einsum ``op`` (one :func:`decline_reason` accepts) through
    ``builder`` and return the value equal to its result."""
    shapes = [v.type.shape for v in op.operands]
    inputs, output = expand_ellipsis(op.attrs["equation"], shapes)
    decomposer = Decomposer(builder, label_sizes(inputs, shapes))
    terms = [decomposer.squeeze(Term(v, labels)) for v, labels in zip(op.operands, inputs)]
    present = {label for term in terms for label in term.labels}
    out = tuple(label for label in output if label in present)
    if len(terms) == 1:
        result = decomposer.single(terms[0], out)
    else:
        result = terms[0]
        for i, term in enumerate(terms[1:], start=1):
            final = i == len(terms) - 1
            later = {label for t in terms[i + 1 :] for label in t.labels}
            result = decomposer.contract(result, term, set(output) | later, out if final else None)
    return decomposer.final_reshape(result.value, op.result.type.shape)


def decompose_einsums(graph: Graph) -> int:
    """Rewrite every einsum :func:`decline_reason` accepts; return how many were rewritten.

    The op list is rebuilt in order: an einsum's replacement ops land where it was, and the
    value replacing it keeps its name, so printed IR and reports still say ``%<name>``.
    """
    old_ops = graph.ops
    graph.ops = []
    builder = GraphBuilder(graph)
    replacement: dict[int, Value] = {}
    rewritten = 0
    for op in old_ops:
        if replacement:
            op.operands = [replacement.get(id(v), v) for v in op.operands]
        if op.kind != "einsum" or decline_reason(op) is not None:
            graph.ops.append(op)
            continue
        builder.source = op.source
        first_new = len(graph.ops)
        new = decompose_einsum_op(op, builder)
        if new.type != op.result.type:
            raise PassError(
                f"decomposing {op.describe()} gave {new.type}, not {op.result.type}",
                pass_name=DecomposeEinsum.name,
                remedy="this is a moecc bug; run without decompose-einsum to work around it",
            )
        if new.producer is not None and any(new.producer is o for o in graph.ops[first_new:]):
            # The last new op takes the einsum's name (released with the einsum).
            graph.release_name(new.name)
            new.name = op.result.name
        else:
            graph.release_name(op.result.name)
        replacement[id(op.result)] = new
        rewritten += 1
    if replacement:
        graph.outputs = [replacement.get(id(v), v) for v in graph.outputs]
    return rewritten


@register_pass
@dataclass(frozen=True, slots=True)
class DecomposeEinsum(Pass):
    """Rewrites every ``einsum`` that is a contraction into ``transpose``/``reshape``/
    ``matmul`` (``reduce_sum`` for labels summed out of one operand, ``mul`` for products
    without a contracted label); diagonals (``ii->i``) and empty operands stay einsum.

    Before (``-p decompose-einsum``; stacked expert weights, ``%w`` a constant)::

        %w = const dense<...> : tensor<4x8x16xf32>
        %h = einsum(%x, %w) {equation = "td,edf->tef"} : tensor<32x4x16xf32>
        return %h

    After (``%w``'s transpose to ``[d, e, f]`` folds: one ``[t, d] @ [d, e*f]`` product)::

        %reshape = const dense<...> : tensor<8x64xf32>
        %matmul = matmul(%x, %reshape) : tensor<32x64xf32>
        %h = reshape(%matmul) {shape = [32, 4, 16]} : tensor<32x4x16xf32>
        return %h

    A batch label (in both operands and the output) becomes a batched matmul: ``tef,efd->ted``
    is ``transpose(act) [e, t, f] @ w [e, f, d]`` → ``[e, t, d]``, transposed to ``[t, e, d]``.
    """

    name: ClassVar[str] = "decompose-einsum"

    def apply(self, graph: Graph) -> bool:
        return decompose_einsums(graph) > 0
