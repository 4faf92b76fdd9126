"""Element-wise fusion at lowering time: a chain of element-wise and row ops becomes one kernel.

Position in the flow: used by :func:`~.lower.lower_graph` while it visits the graph's ops in
order. Lowered one by one, every element-wise op of a decomposed norm or activation is a
kernel of its own: on the ASIC each pays a kernel boundary (every queue drains) and an HBM
round trip for its result. A *fusion group* instead collects the statements of consecutive
ops into one kernel; the values only the group uses stay global temporaries of that one
kernel, which ASIC staging then makes SRAM locals and runs block by block
(``backend/asic/staging/private.py`` and ``blocks.py``). On the CPU the statements are the
same ones, in the same order, so results are bitwise unchanged on every target.

What joins (:data:`FUSIBLE_FAMILIES`, :data:`FUSIBLE_KINDS`): element-wise ops (unary,
binary, cast, where, clip), row reductions and softmax, layer/RMS norms, and the data ops
that are views or copies (reshape, transpose, slice, expand, concat, tile, trilu). An op
joins the open group when it reads a value the group produced (a view of one counts);
otherwise the group is closed (appended as a kernel) and the op starts a new one. A
contraction (matmul, gemm: :data:`EPILOGUE_FAMILIES`) never joins but opens a group of its
own, which its element-wise consumers then join: a matmul's *epilogue* (bias, activation,
gating product, residual add, the norm after it) shares its kernel, and the product stays
on chip instead of a store and a load across a kernel boundary (bert-layer on moe-asic-v1:
38,024 -> 32,694 cycles in f32). A group a matmul opened also takes the fusible ops that
follow it without reading it: exporters write SwiGLU as gate matmul, up matmul, then the
gate's SiLU and the product, so the activation lands in the up projection's kernel. On
in-order units, projections of one input by constant weights (an exporter's q, k and v) share
one kernel too when they stream fewer rows than the array's row floor (each fold then costs its
weight load whatever streams, so latency is what is left to win): the array streams them back
to back with their weights preloaded instead of paying each kernel's boundary. In such a group
an op that does not read the last projection's result (the rotary embeddings of q and k) is
placed before that projection's epilogue, so its vector work does not queue behind the last
product's drain. (With more rows the kernels' own double buffering and cross-kernel prefetch
serve better: bert-layer at 128 tokens, +1.6% joined.)
Letting matmuls join groups too was measured worse (a group's operands are then read
through its staging rather than each matmul's own double buffering and cross-kernel
prefetch: llama-block +7%). Anything else (a gather, a composite, a host call) closes the
group first. A group also closes when its kernel's locals exceed
:data:`MAX_GROUP_LOCAL_SHARE` times the tiling's ``local_bytes`` or it holds
:data:`MAX_GROUP_OPS` ops, so one kernel never outgrows a part.

Inside a group, *expression fusion* goes further (:func:`plan_inlining`): an element-wise
result read only by element-wise ops of the same shape is never stored; its expression is
built into each user's statement (:mod:`.elementwise`), when it has one user or is one cheap
op. A tanh-GELU after a bias add is then one statement, not nine.

Before/after, llama's decomposed RMSNorm (``pow``, ``reduce_mean``, ``add``, ``sqrt``,
``reciprocal``, ``mul``, ``mul``): seven kernels become one, ``fused_<pow result>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from moecc.ir.graph import Op, Value
from moecc.ir.tiled.nodes import Compute, Copy, MatMul
from moecc.passes.tiled_lowering.context import RULES, KernelBuilder, LoweringContext

#: Rule families (module names under ``passes/tiled_lowering``) whose ops may join a group.
FUSIBLE_FAMILIES = frozenset({"elementwise", "norms", "contractions"})
#: Families whose ops only open a group (their element-wise consumers join it as an epilogue).
EPILOGUE_FAMILIES = frozenset({"contractions"})
#: Further op kinds that only open a group: attention (the head merge after it joins its
#: kernel) and the gated MLP (its down projection's kernel takes the residual add).
EPILOGUE_KINDS = frozenset({"attention", "gated_mlp"})
#: Further op kinds that may join: row reductions, softmax, the view/copy data ops and the
#: rotary embedding (element-wise on the halves of each head).
FUSIBLE_KINDS = frozenset({
    "reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "softmax", "log_softmax",
    "reshape", "transpose", "slice", "expand", "concat", "tile", "trilu", "rotary_embedding",
})
#: A group closes once its kernel's locals exceed this many times the tiling's ``local_bytes``.
MAX_GROUP_LOCAL_SHARE = 4
#: ... or once it holds this many ops.
MAX_GROUP_OPS = 32


#: Element-wise kinds that are one VPU op: recomputed by each user when their result is read
#: by several element-wise ops (:func:`plan_inlining`).
CHEAP_KINDS = frozenset({"add", "sub", "mul", "max", "min", "neg", "abs", "cast"})


def inlinable(op: Op, ctx: LoweringContext) -> bool:
    """Whether ``op`` is an element-wise op its rule lowers through one expression."""
    from moecc.passes.tiled_lowering.lower import decide  # lower imports this module

    rule = RULES.get(op.kind)
    return (rule is not None and rule.family == "elementwise" and len(op.results) == 1
            and op.result.type.numel > 0 and all(v.type.numel > 0 for v in op.operands) and decide(op, ctx) is None)


def plan_inlining(ctx: LoweringContext) -> set[Value]:
    """The element-wise results to inline into their users (not graph outputs), each user an
    element-wise op of the same shape (nothing computed at a larger shape than before):

    - a result with one use;
    - a result with several uses when its op is one node over values that are stored (a
      bias add read by the two halves of a GELU): each user recomputes that node from the
      operands instead of reading a stored copy, which saves the store and costs one VPU op."""
    uses = ctx.graph.uses()
    plan: set[Value] = set()
    for op in ctx.graph.ops:
        if op.is_const or not inlinable(op, ctx):
            continue
        users = uses.get(op.result, [])
        if not users or any(u is None or not inlinable(u, ctx) or u.result.type.shape != op.result.type.shape
                            for u in users):
            continue
        if len(users) == 1 or (op.kind in CHEAP_KINDS and not any(v in plan for v in op.operands)):
            plan.add(op.result)
    return plan


#: Data ops that are views of their operand (an exporter's transposed weight is one).
VIEW_KINDS = frozenset({"reshape", "transpose"})


def projection_input(op: Op) -> Value | None:
    """The activation a matmul (or gemm) multiplies by a constant weight: the input of a
    projection; None for anything else."""
    if op.kind not in ("matmul", "gemm") or len(op.operands) < 2:
        return None
    weight = op.operands[1].producer
    while weight is not None and weight.kind in VIEW_KINDS:  # an exporter's transposed weight
        weight = weight.operands[0].producer
    return op.operands[0] if weight is not None and weight.is_const else None


def projection_rows(op: Op) -> int:
    """Rows a projection streams: its input's elements over the contracted width."""
    shape = op.operands[0].type.shape
    return op.operands[0].type.numel // max(1, shape[-1]) if shape else 1


def fusible(op: Op) -> bool:
    """Whether ``op`` may share a kernel with the element-wise ops around it."""
    rule = RULES.get(op.kind)
    return rule is not None and (rule.family in FUSIBLE_FAMILIES or op.kind in FUSIBLE_KINDS or op.kind in EPILOGUE_KINDS)


def opens_epilogue(op: Op) -> bool:
    """Whether ``op`` only opens a group, which its consumers then join."""
    return RULES[op.kind].family in EPILOGUE_FAMILIES or op.kind in EPILOGUE_KINDS


@dataclass(slots=True)
class FusionGroups:
    """The open group of one lowering: its kernel builder, its ops and the values they made."""

    ctx: LoweringContext
    builder: KernelBuilder | None = None
    ops: list[Op] = field(default_factory=list)
    produced: set[Value] = field(default_factory=set)
    named: list[Op] = field(default_factory=list)  # the ops that wrote statements (the name)
    epilogue: bool = False  # the open group was opened by a matmul
    #: The input of the matmul that opened the group when it is a projection: another projection
    #: of that input joins the group (:meth:`before`).
    siblings_of: Value | None = None
    #: While ``siblings_of``: where the last projection's epilogue (its accumulator's copy out)
    #: starts, and the values that projection made (its result and views of it).
    _last_epilogue: int | None = None
    _last_values: set[Value] = field(default_factory=set)
    _stmts_before: int = 0

    def before(self, op: Op) -> None:
        """Called before ``op`` (which lowers into kernels) is lowered: close the open group
        unless ``op`` joins it; open a group for a fusible ``op`` that did not join one."""
        if not fusible(op):
            self.close()
            return
        sibling = (self.builder is not None and self.siblings_of is not None and projection_input(op) is self.siblings_of
                   and self.ctx.params.in_order_units and projection_rows(op) < self.ctx.params.row_floor)
        if self.builder is not None and not sibling and (
                opens_epilogue(op) or not (self.epilogue or any(v in self.produced for v in op.operands))):
            self.close()
        if self.builder is None:
            self.builder = KernelBuilder(self.ctx, "", ())
            self.ctx.group = self.builder
            self.epilogue = opens_epilogue(op)
            self.siblings_of = projection_input(op)
        self._stmts_before = len(self.builder.stmts)

    def after(self, op: Op) -> None:
        """Called after ``op`` was lowered: note its results, close an oversized group."""
        if self.builder is None:
            return
        self._order_siblings(op)
        self._noted(op)

    def after_merged(self, ops: Sequence[Op], last_fold: Sequence[Op], epilogue_at: int) -> None:
        """Called after sibling projections ``ops`` were lowered as one product
        (:mod:`.sibling_projections`): ``last_fold`` are those the last fold computes,
        ``epilogue_at`` where their copies out start among the statements emitted. An op that
        reads none of them (the keys' rotary embedding) goes before those copies."""
        if self.builder is None:
            return
        if self.siblings_of is not None:
            self._last_epilogue = self._stmts_before + epilogue_at
            self._last_values = {r for op in last_fold for r in op.results}
        self._noted(*ops)

    def _noted(self, *ops: Op) -> None:
        for op in ops:
            self.ops.append(op)
            self.produced.update(op.results)
        if len(self.builder.stmts) > self._stmts_before:
            self.named.append(ops[0])
        local_bytes = sum(b.elements * b.dtype.itemsize for b in self.builder.locals)
        if (len(self.ops) >= MAX_GROUP_OPS
                or local_bytes > MAX_GROUP_LOCAL_SHARE * self.ctx.params.local_bytes):
            self.close()

    def _order_siblings(self, op: Op) -> None:
        """In a group of sibling projections, an op that does not read the last projection's
        result (the rotary embeddings of q and k after v's matmul) has its statements placed
        before that projection's epilogue: after its product in program order (whose loads go
        first), before the vector unit's copy out of its accumulator, which waits for the
        product's drain."""
        stmts = self.builder.stmts
        if self.siblings_of is None:
            self._last_epilogue, self._last_values = None, set()
            return
        mine = stmts[self._stmts_before:]
        if projection_input(op) is self.siblings_of:
            at = next((i for i, st in enumerate(mine) if not isinstance(st, MatMul)), None)
            whole = at is not None and all(isinstance(st, (Copy, Compute)) for st in mine[at:])
            self._last_epilogue = self._stmts_before + at if whole else None
            self._last_values = set(op.results)
            return
        if any(v in self._last_values for v in op.operands):
            self._last_values.update(op.results)
            return
        if self._last_epilogue is not None and mine:
            del stmts[self._stmts_before:]
            stmts[self._last_epilogue:self._last_epilogue] = mine
            self._last_epilogue += len(mine)

    def close(self) -> None:
        """Append the open group's kernel (if it has statements) and forget the group."""
        kb = self.builder
        if kb is None:
            return
        self.ctx.group = None
        self.builder = None
        named, self.ops, self.produced, self.named = self.named, [], set(), []
        self.siblings_of, self._last_epilogue, self._last_values = None, None, set()
        if not kb.stmts:
            return
        first = named[0].results[0].name if named else "group"
        kb.name = self.ctx.fresh_step(f"fused_{first}" if len(named) > 1 else first)
        self.ctx.append_kernel(kb)


__all__ = ["projection_input", "projection_rows", "EPILOGUE_FAMILIES", "EPILOGUE_KINDS", "opens_epilogue", "FUSIBLE_FAMILIES", "FUSIBLE_KINDS", "MAX_GROUP_LOCAL_SHARE", "MAX_GROUP_OPS", "FusionGroups", "fusible",
           "CHEAP_KINDS", "inlinable", "plan_inlining"]
