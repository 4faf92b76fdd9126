"""Element-wise ops: one ``compute`` per tile, broadcasting as stride-0 views.

Each graph kind is a row of :data:`UNARY` or :data:`BINARY`: how its expression is built from
its operands. Operands of another shape are broadcast views of their buffers (numpy rules:
added leading axes and stretched size-1 axes get stride 0), never copies. Half-precision
(f16/bf16) arithmetic is written in f32 (operands ``cast<f32>``, constants f32) and cast back
once on store, which is how the graph reference computes it; integers compute in their own
dtype and wrap. Activations that are not a tiled-IR op (relu, softplus, gelu, ...) are their
formulas. An op whose result :mod:`.fusion` planned to inline emits nothing: its expression
is built into its one user's statement (:class:`~.context.Inlined`), so a chain of single-use
element-wise ops is one ``compute``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from moecc.errors import PassError
from moecc.ir.graph import Op, Value
from moecc.ir.ops.elementwise import clip_bound
from moecc.ir.tiled import views
from moecc.ir.tiled.nodes import Binary, Cast, Expr, Select, Unary, View
from moecc.ir.types import DType
from moecc.passes.tiled_lowering.context import Inlined, LoweringContext, as_rank1, const, register_rule, sources_of
from moecc.passes.tiled_lowering.tiles import tiled_compute

HALF = (DType.F16, DType.BF16)


def work_dtype(dtype: DType) -> DType:
    """The dtype float arithmetic is written in: f32 for every float type."""
    return DType.F32 if dtype in HALF else dtype


def widen(x: Expr, dtype: DType) -> Expr:
    return Cast(DType.F32, x) if dtype in HALF else x


def narrow(x: Expr, dtype: DType) -> Expr:
    return Cast(dtype, x) if dtype in HALF else x


def bin_(op: str, a: Expr, b: Expr) -> Binary:
    return Binary(op, a, b)


def un(op: str, x: Expr) -> Unary:
    return Unary(op, x)


# -- activations (shared with the composites) ---------------------------------------------------

def softplus(x: Expr, t: DType) -> Expr:
    # max(x, 0) + log(1 + exp(-|x|)): no overflow for large |x| (as numpy's logaddexp).
    return bin_("add", bin_("max", x, const(0, t)),
                un("log", bin_("add", const(1, t), un("exp", un("neg", un("abs", x))))))


def hard_sigmoid(x: Expr, t: DType, alpha: float, beta: float) -> Expr:
    lin = bin_("add", bin_("mul", x, const(alpha, t)), const(beta, t))
    return bin_("min", bin_("max", lin, const(0, t)), const(1, t))


def gelu(x: Expr, t: DType, approximate: bool) -> Expr:
    if approximate:
        cube = bin_("mul", bin_("mul", x, x), x)
        inner = bin_("mul", const(math.sqrt(2 / math.pi), t), bin_("add", x, bin_("mul", const(0.044715, t), cube)))
        return bin_("mul", bin_("mul", const(0.5, t), x), bin_("add", const(1, t), un("tanh", inner)))
    return bin_("mul", bin_("mul", const(0.5, t), x),
                bin_("add", const(1, t), un("erf", bin_("mul", x, const(1 / math.sqrt(2.0), t)))))


def activation(name: str, x: Expr, t: DType) -> Expr:
    """The gated-MLP / MoE activations of the composite ops (on a float expression of ``t``)."""
    if name == "silu":  # x * sigmoid(x): two VPU passes (the reference's x / (1 + exp(-x)) to an ulp)
        return bin_("mul", x, un("sigmoid", x))
    if name == "gelu":
        return gelu(x, t, approximate=False)
    if name == "gelu_tanh":
        return gelu(x, t, approximate=True)
    return bin_("max", x, const(0, t))


def moe_glu(attrs: Mapping[str, Any], gate: Expr, up: Expr, t: DType) -> Expr:
    """A gated ``moe`` expert's hidden layer from its (biased) gate and up projections, per the
    op's ``gating`` (:class:`~moecc.ir.ops.composite.Moe`): ``act(gate) * up``, or GPT-OSS's
    clamped SwiGLU ``(clamp(up, -limit, limit) + 1) * g / (1 + exp(-(g * alpha)))`` with
    ``g = min(gate, limit)`` (the reference's formula, clamps as min/max)."""
    gating = attrs.get("gating") or "product"
    if gating == "product":
        return bin_("mul", activation(attrs["activation"], gate, t), up)
    if gating != "clamped_swiglu":
        raise PassError(f"moe gating '{gating}' has no tiled lowering")
    limit, alpha = float(attrs["swiglu_limit"]), float(attrs["swiglu_alpha"])
    g = bin_("min", gate, const(limit, t))
    u = bin_("min", bin_("max", up, const(-limit, t)), const(limit, t))
    glu = bin_("div", g, bin_("add", const(1, t), un("exp", un("neg", bin_("mul", g, const(alpha, t))))))
    return bin_("mul", bin_("add", u, const(1, t)), glu)


# -- the tables ---------------------------------------------------------------------------------

UnaryBuild = Callable[[Expr, Mapping[str, Any], DType], Expr]
BinaryBuild = Callable[[Expr, Expr, Mapping[str, Any], DType], Expr]


def _direct(name: str) -> UnaryBuild:
    return lambda x, attrs, t: un(name, x)


def _is_inf(x: Expr, attrs: Mapping[str, Any], t: DType) -> Expr:
    pos, neg = attrs["detect_positive"], attrs["detect_negative"]
    tests = []
    if pos:
        tests.append(bin_("eq", x, const(math.inf, t)))
    if neg:
        tests.append(bin_("eq", x, const(-math.inf, t)))
    if not tests:
        return const(False, DType.BOOL)
    return tests[0] if len(tests) == 1 else bin_("or", tests[0], tests[1])


#: Unary kind -> expression of its (widened) operand.
UNARY: dict[str, UnaryBuild] = {
    **{k: _direct(k) for k in ("neg", "abs", "sign", "exp", "log", "sqrt", "tanh", "erf", "sigmoid", "sin", "cos",
                               "floor", "ceil", "not")},
    "reciprocal": _direct("rcp"),
    "relu": lambda x, attrs, t: bin_("max", x, const(0, t)),
    "softplus": lambda x, attrs, t: softplus(x, t),
    "hard_swish": lambda x, attrs, t: bin_("mul", x, hard_sigmoid(x, t, 1 / 6, 0.5)),
    "mish": lambda x, attrs, t: bin_("mul", x, un("tanh", softplus(x, t))),
    "silu": lambda x, attrs, t: bin_("mul", x, un("sigmoid", x)),
    "gelu": lambda x, attrs, t: gelu(x, t, attrs["approximate"] == "tanh"),
    "leaky_relu": lambda x, attrs, t: Select(bin_("lt", x, const(0, t)), bin_("mul", x, const(attrs["alpha"], t)), x),
    "hard_sigmoid": lambda x, attrs, t: hard_sigmoid(x, t, attrs["alpha"], attrs["beta"]),
    "is_nan": lambda x, attrs, t: bin_("ne", x, x),
    "is_inf": _is_inf,
}


def _int_mod(a: Expr, b: Expr, attrs: Mapping[str, Any], t: DType) -> Expr:
    """Integer remainder from truncating division: C's fmod, or (fmod=False) the divisor's
    sign; x mod 0 is 0, as numpy gives."""
    rem = bin_("sub", a, bin_("mul", bin_("div", a, b), b))
    if not attrs["fmod"]:
        differ = bin_("ne", bin_("lt", rem, const(0, t)), bin_("lt", b, const(0, t)))
        rem = Select(bin_("and", bin_("ne", rem, const(0, t)), differ), bin_("add", rem, b), rem)
    return Select(bin_("eq", b, const(0, t)), const(0, t), rem)


#: Binary kind -> expression of its two (widened) operands.
BINARY: dict[str, BinaryBuild] = {
    **{k: (lambda name: lambda a, b, attrs, t: bin_(name, a, b))(k)
       for k in ("add", "sub", "mul", "div", "pow", "max", "min", "and", "or", "xor")},
    **{k: (lambda name: lambda a, b, attrs, t: bin_(name, a, b))(v)
       for k, v in (("equal", "eq"), ("less", "lt"), ("greater", "gt"), ("less_equal", "le"),
                    ("greater_equal", "ge"))},
    "mod": _int_mod,
}


# -- emission -----------------------------------------------------------------------------------

def broadcast_view(ctx: LoweringContext, value: Value, shape: tuple[int, ...]) -> Any:
    """``value``'s view broadcast to ``shape`` (stride-0 axes), rank >= 1."""
    return as_rank1(views.broadcast(ctx.view(value), shape))


def emit_elementwise(ctx: LoweringContext, op: Op, operands: Sequence[Value], build: Callable[[list[Expr]], Expr]) -> None:
    """``op``'s single result = ``build(operands)``, every operand broadcast to the result.
    Operands that were inlined contribute their leaves and expressions; a result planned to be
    inlined is recorded (:class:`Inlined`) instead of computed."""
    leaves: list[Value] = []
    parts: list[Inlined | None] = []
    for v in operands:
        lazy = ctx.inlined.get(v)
        parts.append(lazy)
        leaves.extend(lazy.leaves if lazy is not None else (v,))

    def full(xs: list[Expr]) -> Expr:
        args: list[Expr] = []
        i = 0
        for lazy in parts:
            n = 1 if lazy is None else len(lazy.leaves)
            args.append(xs[i] if lazy is None else lazy.build(xs[i:i + n]))
            i += n
        return build(args)

    out = op.result
    sources = tuple(dict.fromkeys(s for lazy in parts if lazy is not None for s in lazy.sources))
    sources += tuple(s for s in sources_of(op) if s not in sources)
    if out in ctx.inline_plan:
        ctx.inlined[out] = Inlined(tuple(leaves), full, sources)
        return
    order = _shared_layout(ctx, out, leaves)
    if order is None:
        dst = as_rank1(ctx.result(out))
    else:
        # The result in its operands' memory order, bound as the permuted view (a transpose
        # is folded into the layout: no element moves across it here, and a matmul reading
        # it transposed takes it as is).
        shape = out.type.shape
        buffer = ctx.add_global(out.name, out.type.dtype, tuple(shape[a] for a in order))
        dst = views.permute(buffer, [order.index(i) for i in range(len(shape))])
        ctx.bind(out, dst)
    srcs = [broadcast_view(ctx, v, out.type.shape) for v in leaves]
    with ctx.kernel(out.name, sources) as kb:
        kb.emit(tiled_compute(kb, dst, srcs, full))


def _memory_order(view: View) -> tuple[int, ...] | None:
    """The axes of ``view`` outermost first, when it is a permutation of a dense row-major
    buffer (every axis of size > 1 a distinct stride, each the product of the sizes inside
    it); None otherwise."""
    if any(n > 1 and s <= 0 for n, s in zip(view.shape, view.strides)):
        return None
    order = tuple(sorted(range(view.rank), key=lambda a: (-view.strides[a] if view.shape[a] > 1 else 0, a)))
    step = 1
    for a in reversed(order):
        if view.shape[a] > 1 and view.strides[a] != step:
            return None
        step *= view.shape[a]
    return order


def _shared_layout(ctx: LoweringContext, out: Value, leaves: Sequence[Value]) -> tuple[int, ...] | None:
    """The memory order the full-size operands of an element-wise op share, when it is not
    row-major and the result is not a graph output (whose layout is fixed); else None."""
    if out in ctx.designated or out.type.rank < 2:
        return None
    orders = set()
    for v in leaves:
        if tuple(v.type.shape) != tuple(out.type.shape):
            continue  # broadcast operands follow whatever layout the result takes
        orders.add(_memory_order(ctx.view(v)))
    if len(orders) != 1:
        return None
    (order,) = orders
    if order is None:
        return None
    moved = [a for a in order if out.type.shape[a] > 1]
    return order if moved != sorted(moved) else None


@register_rule(*UNARY)
def lower_unary(op: Op, ctx: LoweringContext) -> None:
    t, out_t = op.operands[0].type.dtype, op.result.type.dtype
    fn = UNARY[op.kind]

    def build(xs: list[Expr]) -> Expr:
        expr = fn(widen(xs[0], t), op.attrs, work_dtype(t))
        return narrow(expr, out_t) if out_t == t else expr

    emit_elementwise(ctx, op, op.operands, build)


def _binary_supports(op: Op, ctx: LoweringContext) -> str | None:
    if op.kind == "mod" and op.operands[0].type.dtype.is_float:
        return "float mod needs an exactly rounded remainder (numpy's fmod); no tiled expression computes it"
    return None


@register_rule(*BINARY, supports=_binary_supports)
def lower_binary(op: Op, ctx: LoweringContext) -> None:
    t, out_t = op.operands[0].type.dtype, op.result.type.dtype
    fn = BINARY[op.kind]

    def build(xs: list[Expr]) -> Expr:
        expr = fn(widen(xs[0], t), widen(xs[1], t), op.attrs, work_dtype(t))
        return narrow(expr, out_t) if out_t == t else expr

    emit_elementwise(ctx, op, op.operands, build)


@register_rule("cast")
def lower_cast(op: Op, ctx: LoweringContext) -> None:
    to = op.attrs["to"]
    emit_elementwise(ctx, op, op.operands, lambda xs: xs[0] if op.operands[0].type.dtype == to else Cast(to, xs[0]))


@register_rule("where")
def lower_where(op: Op, ctx: LoweringContext) -> None:
    emit_elementwise(ctx, op, op.operands, lambda xs: Select(xs[0], xs[1], xs[2]))


@register_rule("clip")
def lower_clip(op: Op, ctx: LoweringContext) -> None:
    t = op.operands[0].type.dtype
    bounds = []
    for name, fn in (("min", "max"), ("max", "min")):
        bound = op.attrs.get(name)
        if bound is not None:
            value = clip_bound(bound, np.dtype(t.numpy))
            bounds.append((fn, const(float(value) if t.is_float else int(value), t)))

    def build(xs: list[Expr]) -> Expr:
        expr: Expr = xs[0]
        for fn, bound in bounds:
            expr = bin_(fn, expr, bound)
        return expr

    emit_elementwise(ctx, op, op.operands, build)


__all__ = ["BINARY", "UNARY", "activation", "broadcast_view", "emit_elementwise", "moe_glu", "narrow", "widen", "work_dtype"]
