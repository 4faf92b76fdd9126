"""Which weights weight pruning may touch: every matmul weight of the graph IR, with its role.

Part of the ``prune-weights`` step (:mod:`moecc.passes.prune`), which runs on the graph IR after
the graph passes, so the ``gated_mlp``, ``moe`` and ``attention`` ops the raising passes build
are there to say what a weight is. A *candidate* is a constant read as a matrix by a matmul-like
op:

- the ``b`` operand of ``matmul`` (2-D; stored ``k x n``) or ``gemm`` (stored ``n x k`` when
  ``trans_b``);
- ``w_gate``, ``w_up``, ``w_down`` of ``gated_mlp`` (``k x n``);
- ``w_gate``, ``w_up``, ``w_down`` of ``moe`` (stacked ``[E, k, n]``, one matrix per expert)
  and its ``router_w``;
- a float table read by ``gather`` (an embedding), listed so the report says it was left alone.

Each gets a role. Never pruned, whatever the filter says:

- ``router``: a ``moe`` op's ``router_w``, or a matmul whose result reaches a ``top_k`` through
  views, casts, a constant bias, ``softmax`` or ``sigmoid`` (a router ``raise-moe`` left alone);
- ``embedding``: a constant read by ``gather`` (also when a matmul reads it too: tied weights);
- ``lm_head``: a matmul (or gemm) whose result reaches a graph output through views (reshape,
  transpose, slice, expand), casts and element-wise ops with a constant (bias, scale, division,
  or a ``tanh`` softcap) only: the model's output projection. The rule is conservative: any
  output head (classifier, regression) is kept, not only a vocabulary projection.

Prunable roles: ``attention`` (a matmul whose result reaches an ``attention`` op through views,
biases, scales and ``rotary_embedding``, or whose input comes from one through views), ``mlp``
(a ``gated_mlp`` weight, or a matmul next to an activation op: its result feeds one, or its
input is one, or a product with one), ``expert`` (a ``moe`` expert weight) and ``other`` (any
other projection). A weight also read by any other op (an ``add``, a ``concat``...), read in
two orientations, integer-typed, a vector or a batched matmul operand is not pruned either;
the reason is recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from moecc.ir.graph import ElidedTensor, Graph, Op, Value
from moecc.ir.ops.composite import moe_operand_layout

#: Roles pruning never touches.
PROTECTED_ROLES: tuple[str, ...] = ("router", "embedding", "lm_head")

#: Ops that move or retype data without mixing elements.
VIEW_KINDS = frozenset({"reshape", "transpose", "slice", "expand", "cast"})
#: Element-wise activation ops (as the graph IR has them after ``raise-composites``).
ACTIVATION_KINDS = frozenset({"gelu", "silu", "relu", "sigmoid", "tanh", "leaky_relu", "mish", "softplus",
                              "hard_swish", "hard_sigmoid"})
#: Element-wise ops that pass a value on when their other operand is a constant.
CONSTANT_OPERAND_KINDS = frozenset({"add", "sub", "mul", "div"})
#: Steps of the search along uses (a path longer than this decides nothing).
MAX_STEPS = 8

Uses = Mapping[Value, list[Op | None]]


@dataclass(frozen=True, slots=True)
class WeightUse:
    """One op reading a candidate weight: the op, the operand's name (``b``, ``w_gate``,
    ``router_w``, ...) and whether the stored matrix is ``n x k`` (gemm's ``trans_b``)."""

    op: Op
    operand: str
    transposed: bool = False


@dataclass(slots=True)
class Candidate:
    """A weight constant, what reads it, its role and, when it must stay as it is, why."""

    const: Op
    role: str
    uses: list[WeightUse] = field(default_factory=list)
    reason: str | None = None

    @property
    def name(self) -> str:
        return self.const.result.name

    @property
    def nodes(self) -> tuple[str, ...]:
        """The ONNX nodes of the ops reading it (their kinds when they have none)."""
        return tuple(dict.fromkeys(u.op.source or u.op.kind for u in self.uses))

    @property
    def stacked(self) -> bool:
        """A ``[E, k, n]`` stack of expert matrices."""
        return any(u.op.kind == "moe" for u in self.uses)

    @property
    def transposed(self) -> bool:
        return any(u.transposed for u in self.uses)

    @property
    def orientation(self) -> str:
        matrix = "n x k (gemm trans_b)" if self.transposed else "k x n"
        return f"E x {matrix}" if self.stacked else matrix


def find_candidates(graph: Graph) -> list[Candidate]:
    """Every weight constant read by a matmul-like op or a ``gather``, in graph order, with its
    role and (for those that must not be pruned) the reason."""
    uses = graph.uses()
    candidates: list[Candidate] = []
    for const in graph.const_ops():
        value = const.result
        readers = list({id(op): op for op in uses.get(value, []) if op is not None}.values())
        weight_uses = [u for op in readers for u in _weight_uses(op, value)]
        gathers = [op for op in readers if op.kind == "gather" and op.operands[0] is value]
        if not weight_uses and not (gathers and value.type.dtype.is_float):
            continue
        # A table only gather reads is listed under the gathers (so the report names them).
        candidate = Candidate(const, _role(weight_uses, gathers, uses),
                              weight_uses or [WeightUse(op, "data") for op in gathers])
        candidate.reason = _reason(candidate, readers, gathers, None in uses.get(value, []))
        candidates.append(candidate)
    return candidates


def _weight_uses(op: Op, value: Value) -> list[WeightUse]:
    """How ``op`` reads ``value`` as a weight matrix (empty when it does not)."""
    if op.kind == "matmul" and op.operands[1] is value:
        return [WeightUse(op, "b")]
    if op.kind == "gemm" and op.operands[1] is value:
        return [WeightUse(op, "b", bool(op.attrs.get("trans_b")))]
    if op.kind == "gated_mlp":
        return [WeightUse(op, name) for name, v in zip(("x", "w_gate", "w_up", "w_down"), op.operands)
                if v is value and name != "x"]
    if op.kind == "moe":
        return [WeightUse(op, name) for name, v in zip(moe_operand_layout(op.attrs), op.operands)
                if v is value and name in ("router_w", "w_gate", "w_up", "w_down")]
    return []


def _role(weight_uses: list[WeightUse], gathers: list[Op], uses: Uses) -> str:
    """The role of a weight from all its uses; a protected role wins over a prunable one."""
    roles = [_use_role(u, uses) for u in weight_uses] + ["embedding"] * bool(gathers)
    for role in PROTECTED_ROLES:
        if role in roles:
            return role
    return roles[0]


def _use_role(use: WeightUse, uses: Uses) -> str:
    op = use.op
    if op.kind == "moe":
        return "router" if use.operand == "router_w" else "expert"
    if op.kind == "gated_mlp":
        return "mlp"
    result = op.result
    if _reaches(result, uses, _router_step, lambda o: o is not None and o.kind == "top_k"):
        return "router"
    if _reaches(result, uses, _head_step, lambda o: o is None):
        return "lm_head"
    if _reaches(result, uses, _attention_step, lambda o: o is not None and o.kind == "attention") or _comes_from(
            op.operands[0], lambda p: p.kind == "attention"):
        return "attention"
    if (_reaches(result, uses, _bias_step, _is_activation_user)
            or _comes_from(op.operands[0], lambda p: p.kind in ACTIVATION_KINDS or _is_gated_product(p))):
        return "mlp"
    return "other"


def _reason(candidate: Candidate, readers: list[Op], gathers: list[Op], is_output: bool) -> str | None:
    """Why ``candidate`` must stay as it is, or None when it may be pruned."""
    value = candidate.const.result
    if candidate.role == "router":
        return "a MoE router weight (never pruned: it decides where tokens go)"
    if candidate.role == "embedding":
        return (f"read by gather ('{gathers[0].source or 'gather'}'): an embedding table, or the gathered expert "
                f"weights of an MoE layer raise-moe left alone (never pruned)")
    if candidate.role == "lm_head":
        return "the output projection (LM head) feeding a graph output (never pruned)"
    if is_output:
        return "also a graph output"
    # An op reading it more often than as weights reads it otherwise too (as matmul's a, say).
    others = [op for op in readers if sum(v is value for v in op.operands) > len(_weight_uses(op, value))]
    if others:
        return f"also read by {others[0].kind} ('{others[0].source or others[0].kind}'), not only as a matmul weight"
    if isinstance(candidate.const.attrs["value"], ElidedTensor):
        return "its data is elided (bind the weights first)"
    if not value.type.dtype.is_float:
        return f"an integer ({value.type.dtype}) weight: pruning is for float weights"
    if len({u.transposed for u in candidate.uses}) > 1:
        return "read both as k x n and as n x k"
    rank = value.type.rank
    if rank != 2 and any(u.op.kind in ("matmul", "gemm") for u in candidate.uses):
        return (f"a {rank}-D matmul operand {list(value.type.shape)}: only 2-D matmul weights and moe expert "
                f"stacks are pruned")
    return None


# -- searching along uses ----------------------------------------------------------------

Step = Callable[[Op, Value], bool]


def _reaches(start: Value, uses: Uses, through: Step, found: Callable[[Op | None], bool]) -> bool:
    """Whether a use of ``start`` (``None``: a graph output) satisfies ``found``, following only
    ops ``through(op, operand)`` accepts, at most :data:`MAX_STEPS` ops deep."""
    frontier, seen = [start], {id(start)}
    for _ in range(MAX_STEPS):
        following: list[Value] = []
        for value in frontier:
            for op in uses.get(value, []):
                if found(op):
                    return True
                if op is not None and through(op, value):
                    following += [r for r in op.results if id(r) not in seen]
                    seen.update(id(r) for r in op.results)
        if not following:
            return False
        frontier = following
    return False


def _comes_from(value: Value, found: Callable[[Op], bool]) -> bool:
    """Whether ``value`` is, through views only, the result of an op ``found`` accepts."""
    for _ in range(MAX_STEPS):
        producer = value.producer
        if producer is None or producer.is_const:
            return False
        if found(producer):
            return True
        if producer.kind not in VIEW_KINDS:
            return False
        value = producer.operands[0]
    return False


def _is_const(value: Value) -> bool:
    return value.producer is not None and value.producer.is_const


def _with_constant(op: Op, operand: Value) -> bool:
    """``op`` is element-wise with a constant on its other side (a bias, a scale)."""
    return op.kind in CONSTANT_OPERAND_KINDS and all(_is_const(v) for v in op.operands if v is not operand)


def _bias_step(op: Op, operand: Value) -> bool:
    return op.kind in VIEW_KINDS or _with_constant(op, operand)


def _head_step(op: Op, operand: Value) -> bool:
    return _bias_step(op, operand) or op.kind == "tanh"


def _router_step(op: Op, operand: Value) -> bool:
    return _bias_step(op, operand) or op.kind in ("softmax", "sigmoid")


def _attention_step(op: Op, operand: Value) -> bool:
    return _bias_step(op, operand) or (op.kind == "rotary_embedding" and op.operands[0] is operand)


def _is_activation_user(op: Op | None) -> bool:
    return op is not None and op.kind in ACTIVATION_KINDS


def _is_gated_product(op: Op) -> bool:
    """``act(g) * u``: a product with an activation's result (a gated MLP left unraised)."""
    return op.kind == "mul" and any(v.producer is not None and v.producer.kind in ACTIVATION_KINDS for v in op.operands)


__all__ = ["PROTECTED_ROLES", "Candidate", "WeightUse", "find_candidates"]
