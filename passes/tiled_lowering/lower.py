"""The lowering driver: a graph (after the graph passes) into one tiled module, host calls between kernels.

Ops are visited in order. For each, the rule table (:data:`~.context.RULES`) decides: the
op's rule says yes and lowers it into kernels, or (no rule, or the rule's reason) the op joins
the current run of host ops; a run of consecutive host ops becomes one host call holding those
graph ops inline, bound to global buffers. Consecutive element-wise and row ops share one
kernel (:mod:`.fusion`). Values whose producer is a view op (transpose,
slice, expand, most reshapes) are views of another buffer; they are copied into a buffer of
their own only where a host call or a module output needs one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from moecc.errors import PassError
from moecc.ir.graph import Graph, Op, Value
from moecc.ir.subgraph import extract_subgraph
from moecc.ir.tiled.nodes import HostCall, TiledModule, View
from moecc.passes.tiled_lowering.context import (
    MOE_MODES,
    RULES,
    HostOp,
    LoweringContext,
    TilingParams,
    as_rank1,
)
from moecc.passes.tiled_lowering.fusion import FusionGroups, plan_inlining
from moecc.passes.tiled_lowering.sibling_projections import find_siblings, lower_siblings
from moecc.passes.tiled_lowering.streamed_mlp import find_plain_mlp, lower_plain_mlp
from moecc.passes.tiled_lowering.tiles import tiled_copy

# Importing the rule modules fills the rule table.
from moecc.passes.tiled_lowering import (  # noqa: F401  (registration)
    composite,
    contractions,
    data,
    elementwise,
    indexing,
    norms,
    reductions,
    rotary,
)


@dataclass(frozen=True, slots=True)
class TiledLowering:
    """What lowering produced: the module, its weights (buffer -> data), which weight buffers
    hold graph constants (buffer -> value name), the input buffer of each graph input and the
    ops left to host calls."""

    module: TiledModule
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    weight_sources: dict[str, str] = field(default_factory=dict)
    input_buffers: tuple[str, ...] = ()
    host_ops: tuple[HostOp, ...] = ()
    #: One entry per sparsely dispatched moe op: its node, sizes and the buffer holding its
    #: tokens per expert after a run (:mod:`.moe_dispatch`), for the routing report.
    moe_layers: tuple[dict[str, object], ...] = ()
    #: Graph value name -> the global buffer holding exactly it (row-major, its dtype), for the
    #: values that have one: what a run-time diagnosis reads a value from.
    value_buffers: dict[str, str] = field(default_factory=dict)

    @property
    def kernel_count(self) -> int:
        return len(self.module.kernels)

    @property
    def host_call_count(self) -> int:
        return sum(1 for s in self.module.steps if isinstance(s, HostCall))


def decide(op: Op, ctx: LoweringContext) -> str | None:
    """``None`` when ``op`` lowers into kernels, else the reason it runs on the host."""
    rule = RULES.get(op.kind)
    if rule is None:
        return f"no tiled lowering rule for op kind '{op.kind}'"
    if any(r.type.numel == 0 for r in op.results):
        return None  # nothing to compute (handled in lower_graph)
    if not rule.empty_operands and any(v.type.numel == 0 for v in op.operands):
        return "an operand has no elements (the result is an identity or fill value, computed on the host)"
    return rule.supports(op, ctx)


def lower_graph(graph: Graph, params: TilingParams | None = None, moe: str = "sparse",
                routing: str = "", capacity_factor: float = 0.0) -> TiledLowering:
    """Lower ``graph`` into a tiled module (see the module docstring); ``moe`` is one of
    :data:`~.context.MOE_MODES` (how ``moe`` ops lower); ``routing`` a what-if replacing the
    routers' expert choices (:mod:`.routing_whatif`; "" keeps the model's); ``capacity_factor``
    caps each expert's tokens (:func:`.moe_dispatch.expert_capacity`; 0 is dropless)."""
    from moecc.passes.tiled_lowering.routing_whatif import parse_routing

    if moe not in MOE_MODES:
        raise PassError(f"moe={moe!r} is not a moe lowering", pass_name="lower-to-tiled",
                        remedy=f"use one of {', '.join(MOE_MODES)}")
    if routing and moe == "dense":
        raise PassError("a routing what-if replaces the choices of a dispatched MoE layer", pass_name="lower-to-tiled",
                        remedy="use moe='sparse' with routing=...")
    if not (isinstance(capacity_factor, int | float) and capacity_factor >= 0):
        raise PassError(f"capacity factor {capacity_factor!r} must be a number >= 0", pass_name="lower-to-tiled",
                        remedy="give 0 (dropless) or e.g. 1.25")
    if capacity_factor and moe == "dense":
        raise PassError("a capacity factor caps the tokens a dispatched expert takes", pass_name="lower-to-tiled",
                        remedy="use moe='sparse' with capacity_factor=...")
    ctx = LoweringContext(graph, params or TilingParams(), moe, routing=parse_routing(routing),
                          capacity_factor=float(capacity_factor))
    input_buffers = []
    for value in graph.inputs:
        view = ctx.add_global(value.name, value.type.dtype, value.type.shape, "input")
        ctx.views[value] = view
        input_buffers.append(view.buffer)
    outputs = _plan_outputs(ctx)
    ctx.inline_plan = plan_inlining(ctx)
    uses = graph.uses()
    pending: list[tuple[Op, str]] = []
    groups = FusionGroups(ctx)
    lowered: set[int] = set()  # ops lowered ahead: a plain MLP's, or a projection's merged siblings
    for op in graph.ops:
        if op.is_const or id(op) in lowered:
            continue
        reason = decide(op, ctx)
        if reason is not None:
            groups.close()
            pending.append((op, reason))
            continue
        if pending:
            _host_call(ctx, pending, uses)
            pending = []
        if any(r.type.numel == 0 for r in op.results):
            for r in op.results:
                ctx.result(r)
            continue
        mlp = find_plain_mlp(op, ctx, uses)
        if mlp is not None and all(decide(o, ctx) is None for o in mlp.ops):
            groups.before(mlp.last)  # the second projection's group: its epilogue joins
            if lower_plain_mlp(mlp, ctx):
                groups.after(mlp.last)
                lowered.update(id(o) for o in mlp.ops)
                continue
        siblings = find_siblings(op, ctx, uses)
        groups.before(op)
        if siblings is not None and all(decide(o, ctx) is None for o in siblings.ops):
            merged = lower_siblings(siblings, ctx)  # emits nothing when it returns None
            if merged is not None:
                groups.after_merged(siblings.ops, merged.last_fold, merged.epilogue_at)
                lowered.update(id(o) for o in siblings.ops)
                continue
        RULES[op.kind].lower(op, ctx)
        groups.after(op)
        for r in op.results:
            if r not in ctx.views and r not in ctx.inlined:
                ctx.result(r)  # an unused result a rule did not write (cannot be read)
    groups.close()
    if pending:
        _host_call(ctx, pending, uses)
    _finish_outputs(ctx, outputs)
    module = TiledModule(tuple(ctx.globals_), tuple(ctx.steps), tuple(input_buffers), tuple(outputs))
    used = {b.name for b in module.buffers}
    weights = {k: v for k, v in ctx.weights.items() if k in used}
    value_buffers = {value.name: view.buffer for value, view in ctx.views.items()
                     if view.buffer in used and ctx.all_buffers[view.buffer].space == "global"
                     and ctx.all_buffers[view.buffer].dtype == value.type.dtype and ctx.is_whole_buffer(view)}
    return TiledLowering(module, weights, dict(ctx.weight_sources), tuple(input_buffers), tuple(ctx.host_ops),
                         tuple(ctx.moe_layers), value_buffers)


def _plan_outputs(ctx: LoweringContext) -> list[str]:
    """One output buffer per graph output; the op producing the value writes it directly when
    it is that value's first appearance among the outputs."""
    names: list[str] = []
    for value in ctx.graph.outputs:
        view = ctx.add_global(value.name, value.type.dtype, value.type.shape, "output")
        if value not in ctx.designated and value.producer is not None and not value.producer.is_const:
            ctx.designated[value] = view.buffer
        names.append(view.buffer)
    return names


def _finish_outputs(ctx: LoweringContext, outputs: list[str]) -> None:
    """Copy every output held elsewhere (a view, an input, a constant, a repeat) into its buffer."""
    for value, name in zip(ctx.graph.outputs, outputs):
        view = ctx.view(value)
        if view.buffer == name and ctx.is_whole_buffer(view) or value.type.numel == 0:
            continue
        dst = View.contiguous(name, value.type.shape)
        with ctx.kernel(f"output_{name}", (value.producer.source or value.producer.kind,)
                        if value.producer is not None else ()) as kb:
            kb.emit(tiled_copy(kb, as_rank1(dst), as_rank1(view)))


def _host_call(ctx: LoweringContext, group: list[tuple[Op, str]], uses: dict[Value, list[Op | None]]) -> None:
    """One host call running ``group``'s ops (consecutive in the graph) on the graph interpreter."""
    ops = [op for op, _ in group]
    inside = {id(op) for op in ops}
    name = ctx.fresh_step(f"host_{ops[0].results[0].name}")
    exported = [r for op in ops for r in op.results
                if any(user is None or id(user) not in inside for user in uses.get(r, []))]
    if not exported:  # results nobody reads: keep the first so the call has an output
        exported = [ops[0].results[0]]
    sub, inputs = extract_subgraph(name, ops, exported)  # constants travel inside its graph
    bound_inputs = [ctx.materialize(value) for value in inputs]
    bound_outputs = [ctx.result(r).buffer for r in exported]
    reasons = list(dict.fromkeys(reason for _, reason in group))
    sources = tuple(dict.fromkeys(op.source or op.kind for op in ops))
    ctx.steps.append(HostCall(name, sub, tuple(bound_inputs), tuple(bound_outputs), "; ".join(reasons), sources))
    for op, reason in group:
        ctx.host_ops.append(HostOp(f"%{op.results[0].name}", op.kind, op.source or "", reason))


__all__ = ["TiledLowering", "decide", "lower_graph"]
