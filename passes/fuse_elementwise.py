"""Element-wise fusion for the ASIC: groups of graph ops that run as one streaming kernel.

Position in the flow: a fusion planner registered in
:data:`~moecc.passes.kernel_lowering.FUSION_PLANNERS`, run by
:func:`~moecc.passes.kernel_lowering.lower_to_kernels` after partitioning and before any op is
lowered. Lowered one by one, every element-wise op pays a kernel's DMA setup and an HBM round
trip for its result; a group streams row tiles of its *external* inputs into SRAM once, runs
every member's VPU statements on SRAM tiles (:func:`~moecc.passes.tiling_vector.lower_stream_group`)
and stores only the values something outside the group (or the graph's caller) reads.

What joins a group (see :func:`plan_elementwise_fusion`):

- ASIC ops with a group step (:func:`~moecc.passes.tiling_vector.group_step`): unary ops and
  activations, binary arithmetic with the broadcasts the VPU expresses, compares, ``where``,
  ``pow`` by a constant, ``cast``; and row ops over the last axis (``reduce_*`` with kept
  dimensions, ``softmax``/``log_softmax``), which make the group's tiles whole rows. CPU ops
  never join.
- An op joins the group(s) producing its operands when every value then broadcasts to the
  group's widest result, the VPU can express the view and the tiles fit SRAM
  (:func:`~moecc.passes.tiling_vector.plan_group`).
- A group is lowered at its last op, so no op outside it may read a member's result before
  that point (this also rules out cycles through outside ops).

Before/after, llama's decomposed RMSNorm (``pow``, ``reduce_mean``, ``add``, ``sqrt``,
``reciprocal``, ``mul``, ``mul``): seven kernels and six HBM temporaries become one kernel
``k<n>_fused_pow_mul`` that loads ``x`` and the weight row and stores only the normalised rows.
"""

from __future__ import annotations

from collections.abc import Sequence

from moecc.ir.graph import Graph, Op, Value
from moecc.passes.kernel_lowering import FUSION_PLANNERS, FusionGroup, LoweringContext, Partition
from moecc.passes.tiling_vector import ElementwiseStep, GroupPlan, group_step, lower_stream_group, plan_group


def plan_elementwise_fusion(graph: Graph, partition: Partition, ctx: LoweringContext) -> list[FusionGroup]:
    """Greedy, in graph order: each fusible op joins the groups of its operands' producers
    (all of them if they can merge, else the first that accepts it), or starts a group.
    Returns the groups of two or more ops."""
    index = {id(op): i for i, op in enumerate(graph.ops)}
    uses = graph.uses()
    steps: dict[int, ElementwiseStep] = {}
    group_of: dict[int, list[Op]] = {}
    for i, op in enumerate(graph.ops):
        if partition.placement.get(i) != "asic" or len(op.results) != 1:
            continue
        step = group_step(op, ctx)
        if step is None:
            continue
        steps[id(op)] = step
        candidates: list[list[Op]] = []
        for v in op.operands:
            producer = v.producer
            group = group_of.get(id(producer)) if producer is not None else None
            if group is not None and all(group is not c for c in candidates):
                candidates.append(group)
        options = [sum(candidates, [])] if candidates else []
        if len(candidates) > 1:
            options += candidates
        chosen = [op]
        for option in options:
            members = sorted(option + [op], key=lambda o: index[id(o)])
            if _fits(members, steps, uses, index, ctx):
                chosen = members
                break
        for member in chosen:
            group_of[id(member)] = chosen
    groups: list[FusionGroup] = []
    seen: set[int] = set()
    for members in group_of.values():
        if id(members) in seen or len(members) < 2:
            continue
        seen.add(id(members))
        groups.append(_fusion_group(members, [steps[id(m)] for m in members], uses))
    return groups


def stored_results(members: Sequence[Op], uses: dict[Value, list[Op | None]]) -> list[bool]:
    """Per member: whether its result must reach HBM (read outside the group or a graph output)."""
    inside = {id(m) for m in members}
    return [any(user is None or id(user) not in inside for user in uses.get(m.result, [])) for m in members]


def _fits(members: list[Op], steps: dict[int, ElementwiseStep], uses: dict[Value, list[Op | None]],
          index: dict[int, int], ctx: LoweringContext) -> bool:
    last = index[id(members[-1])]
    inside = {id(m) for m in members}
    for member in members:
        for user in uses.get(member.result, []):
            if user is not None and id(user) not in inside and index[id(user)] < last:
                return False  # an outside op would read the value before the group runs
    return isinstance(_plan(members, steps, uses, ctx), GroupPlan)


def _plan(members: Sequence[Op], steps: dict[int, ElementwiseStep], uses: dict[Value, list[Op | None]],
          ctx: LoweringContext) -> GroupPlan | str:
    return plan_group(ctx, [steps[id(m)] for m in members], stored_results(members, uses))


def _fusion_group(members: list[Op], steps: list[ElementwiseStep], uses: dict[Value, list[Op | None]]) -> FusionGroup:
    ops = tuple(members)
    stored = stored_results(members, uses)

    def lower(ctx: LoweringContext) -> None:
        group = plan_group(ctx, steps, stored)
        if isinstance(group, str):  # the planner checked this with the same context
            raise AssertionError(group)
        lower_stream_group(ctx, group, ctx.group_kernel(ops, f"fused_{ops[0].kind}_{ops[-1].kind}"))

    return FusionGroup(ops, lower)


FUSION_PLANNERS.append(plan_elementwise_fusion)

__all__ = ["plan_elementwise_fusion", "stored_results"]
