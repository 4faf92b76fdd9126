"""ONNX → graph IR: elementwise ops (arithmetic, comparisons, logic, activations, Cast,
Where, Clip, Identity, Dropout).

Most ONNX elementwise ops map one-to-one onto a graph-IR op of the elementwise family; the
rest (variadic Max/Min/Sum/Mean, Pow with a differently typed exponent, Clip's tensor
bounds, Elu/Selu/Celu/PRelu/...) are composed here from those ops. The importer calls the
handlers registered below through :data:`moecc.frontend.onnx_context.ONNX_HANDLERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from moecc.errors import MoeccError, ShapeError
from moecc.frontend.onnx_context import NodeContext, onnx_op
from moecc.ir.graph import Value
from moecc.ir.types import DType

#: ONNX op type → graph-IR op kind, for ops whose only operands are the node's inputs.
BINARY_OPS: dict[str, str] = {
    "Add": "add",
    "Sub": "sub",
    "Mul": "mul",
    "Div": "div",
    "Equal": "equal",
    "Less": "less",
    "Greater": "greater",
    "LessOrEqual": "less_equal",
    "GreaterOrEqual": "greater_equal",
    "And": "and",
    "Or": "or",
    "Xor": "xor",
}

#: ONNX op type → (graph-IR op kind, the first opset whose semantics the handler implements).
UNARY_OPS: dict[str, tuple[str, int]] = {
    "Neg": ("neg", 6),
    "Abs": ("abs", 6),
    "Exp": ("exp", 6),
    "Log": ("log", 6),
    "Sqrt": ("sqrt", 6),
    "Reciprocal": ("reciprocal", 6),
    "Tanh": ("tanh", 6),
    "Erf": ("erf", 9),
    "Sigmoid": ("sigmoid", 6),
    "Relu": ("relu", 6),
    "Softplus": ("softplus", 1),
    "HardSwish": ("hard_swish", 14),
    "Mish": ("mish", 18),
    "Not": ("not", 1),
    "IsNaN": ("is_nan", 9),
    "Sin": ("sin", 7),
    "Cos": ("cos", 7),
    "Floor": ("floor", 6),
    "Ceil": ("ceil", 6),
    "Sign": ("sign", 9),
}


def scalar_like(ctx: NodeContext, value: float, like: Value) -> Value:
    """A rank-0 constant of ``like``'s dtype (broadcasts against it)."""
    return ctx.const(np.asarray(value).astype(like.type.dtype.numpy))


def in_float32(ctx: NodeContext, x: Value) -> tuple[Value, Callable[[Value], Value]]:
    """``x`` widened to float32 when it is float16/bfloat16, and the function that rounds a
    result back: a composed activation then rounds once, as the single ONNX op does."""
    dtype = x.type.dtype
    if dtype in (DType.F16, DType.BF16):
        return ctx.emit("cast", [x], {"to": DType.F32}), lambda y: ctx.emit("cast", [y], {"to": dtype})
    return x, lambda y: y


def onnx_dtype(ctx: NodeContext, elem_type: int) -> DType:
    try:
        return DType.from_onnx(elem_type)
    except MoeccError as err:
        raise err.add_context(node=ctx.name, op_type=ctx.op_type, opset=ctx.opset) from None


# -- one-to-one maps ------------------------------------------------------------------------

@onnx_op(*BINARY_OPS, since=7)
def lower_binary(ctx: NodeContext) -> Sequence[Value]:
    return [ctx.emit(BINARY_OPS[ctx.op_type], [ctx.input(0), ctx.input(1)])]


def lower_unary(ctx: NodeContext) -> Sequence[Value]:
    return [ctx.emit(UNARY_OPS[ctx.op_type][0], [ctx.input(0)])]


for _op_type, (_kind, _since) in UNARY_OPS.items():
    onnx_op(_op_type, since=_since)(lower_unary)


@onnx_op("LeakyRelu", since=6)
def lower_leaky_relu(ctx: NodeContext) -> Sequence[Value]:
    return [ctx.emit("leaky_relu", [ctx.input(0)], {"alpha": float(ctx.attr("alpha", 0.01))})]


@onnx_op("HardSigmoid", since=6)
def lower_hard_sigmoid(ctx: NodeContext) -> Sequence[Value]:
    attrs = {"alpha": float(ctx.attr("alpha", 0.2)), "beta": float(ctx.attr("beta", 0.5))}
    return [ctx.emit("hard_sigmoid", [ctx.input(0)], attrs)]


@onnx_op("Gelu", since=20)
def lower_gelu(ctx: NodeContext) -> Sequence[Value]:
    approximate = ctx.attr("approximate", "none")
    if approximate not in ("none", "tanh"):
        raise ctx.error(f"approximate='{approximate}' is not a Gelu mode", remedy="use 'none' or 'tanh'")
    return [ctx.emit("gelu", [ctx.input(0)], {"approximate": approximate})]


@onnx_op("IsInf", since=10)
def lower_is_inf(ctx: NodeContext) -> Sequence[Value]:
    attrs = {
        "detect_positive": bool(ctx.attr("detect_positive", 1)),
        "detect_negative": bool(ctx.attr("detect_negative", 1)),
    }
    return [ctx.emit("is_inf", [ctx.input(0)], attrs)]


@onnx_op("Mod", since=10)
def lower_mod(ctx: NodeContext) -> Sequence[Value]:
    return [ctx.emit("mod", [ctx.input(0), ctx.input(1)], {"fmod": bool(ctx.attr("fmod", 0))})]


@onnx_op("Where", since=9)
def lower_where(ctx: NodeContext) -> Sequence[Value]:
    return [ctx.emit("where", [ctx.input(0), ctx.input(1), ctx.input(2)])]


# -- variadic --------------------------------------------------------------------------------

def fold_pairwise(ctx: NodeContext, kind: str) -> Value:
    """``kind(kind(x0, x1), x2) ...`` over every present input (broadcasting as it goes)."""
    values = [ctx.input(i) for i in range(len(ctx.inputs)) if ctx.has_input(i)]
    if not values:
        raise ctx.error("needs at least one input")
    result = values[0]
    for value in values[1:]:
        result = ctx.emit(kind, [result, value])
    return result


@onnx_op("Max", "Min", since=8)
def lower_max_min(ctx: NodeContext) -> Sequence[Value]:
    return [fold_pairwise(ctx, ctx.op_type.lower())]


@onnx_op("Sum", since=8)
def lower_sum(ctx: NodeContext) -> Sequence[Value]:
    return [fold_pairwise(ctx, "add")]


@onnx_op("Mean", since=8)
def lower_mean(ctx: NodeContext) -> Sequence[Value]:
    total = fold_pairwise(ctx, "add")
    count = sum(1 for i in range(len(ctx.inputs)) if ctx.has_input(i))
    return [ctx.emit("div", [total, scalar_like(ctx, count, total)])]


# -- Pow, Cast, CastLike, Clip -----------------------------------------------------------------

@onnx_op("Pow", since=7)
def lower_pow(ctx: NodeContext) -> Sequence[Value]:
    base, exponent = ctx.input(0), ctx.input(1)
    base_dtype, exp_dtype = base.type.dtype, exponent.type.dtype
    if base_dtype is exp_dtype:
        return [ctx.emit("pow", [base, exponent])]
    if base_dtype.is_int and exp_dtype.is_float:
        # ONNX computes int ** float in floating point and converts the result back to the
        # base type; casting the exponent to int instead would change 3 ** 0.5.
        wide = ctx.emit("cast", [base], {"to": DType.F32})
        exponent = ctx.emit("cast", [exponent], {"to": DType.F32})
        return [ctx.emit("cast", [ctx.emit("pow", [wide, exponent])], {"to": base_dtype})]
    return [ctx.emit("pow", [base, ctx.emit("cast", [exponent], {"to": base_dtype})])]


@onnx_op("Cast", since=6)
def lower_cast(ctx: NodeContext) -> Sequence[Value]:
    x = ctx.input(0)
    to = onnx_dtype(ctx, int(ctx.attr("to")))
    return [x if x.type.dtype is to else ctx.emit("cast", [x], {"to": to})]


@onnx_op("CastLike", since=15)
def lower_cast_like(ctx: NodeContext) -> Sequence[Value]:
    x, to = ctx.input(0), ctx.type(1).dtype
    return [x if x.type.dtype is to else ctx.emit("cast", [x], {"to": to})]


#: Integers beyond this magnitude do not survive the float ``clip`` attribute exactly.
_EXACT_FLOAT_INT = 2**53


def _clip_attr_bound(data: np.ndarray | None, dtype: DType) -> float | None:
    """A constant bound as a float attribute, or None when it cannot be one exactly."""
    if data is None or data.size != 1:
        return None
    value = data.reshape(()).item()
    if dtype.is_int and abs(int(value)) > _EXACT_FLOAT_INT:
        return None
    return float(value)


@onnx_op("Clip", since=11)
def lower_clip(ctx: NodeContext) -> Sequence[Value]:
    """Constant bounds become one ``clip``; a run-time (or inexact) bound makes the whole
    node ``min(max(x, lo), hi)``, which is ONNX's definition."""
    x = ctx.input(0)
    bounds = {name: ctx.optional_input(index) for index, name in ((1, "min"), (2, "max"))}
    attrs: dict[str, float | None] = {
        name: _clip_attr_bound(ctx.maybe_const(index), x.type.dtype) for index, name in ((1, "min"), (2, "max"))
    }
    if all(attrs[name] is not None for name, bound in bounds.items() if bound is not None):
        return [ctx.emit("clip", [x], {name: v for name, v in attrs.items() if v is not None})]
    result = x
    for name, kind in (("min", "max"), ("max", "min")):
        bound = bounds[name]
        if bound is not None:
            result = ctx.emit(kind, [result, bound])
    return [result]


# -- Identity, Dropout ---------------------------------------------------------------------------

@onnx_op("Identity", since=1)
def lower_identity(ctx: NodeContext) -> Sequence[Value]:
    return [ctx.input(0)]


@onnx_op("Dropout", since=7)
def lower_dropout(ctx: NodeContext) -> Sequence[Value | None]:
    """Inference dropout is the identity; the mask output is all true (nothing dropped)."""
    x = ctx.input(0)
    training = False
    ratio: float | None = float(ctx.attr("ratio", 0.5))
    if ctx.opset >= 12:
        if ctx.has_input(2):
            mode = ctx.maybe_const(2)
            if mode is None:
                raise ctx.error("training_mode is only known at run time", remedy="export the model in inference mode")
            training = bool(np.asarray(mode).reshape(-1)[0])
        ratio_data = ctx.maybe_const(1)
        ratio = 0.5 if not ctx.has_input(1) else (None if ratio_data is None else float(np.asarray(ratio_data).reshape(-1)[0]))
    if training and (ratio is None or ratio > 0):
        raise ctx.error(
            f"training-mode dropout (ratio {'unknown' if ratio is None else ratio}) is random and moecc compiles inference only",
            remedy="export the model with training_mode off (model.eval())",
        )
    outputs: list[Value | None] = [x]
    if ctx.num_outputs > 1:
        mask = None
        if ctx.output_used(1):
            mask_dtype = np.bool_ if ctx.opset >= 10 else x.type.dtype.numpy
            mask = ctx.const(np.ones(x.type.shape, dtype=mask_dtype))
        outputs.append(mask)
    return outputs


# -- activations composed from elementwise ops ---------------------------------------------------

@onnx_op("Elu", since=6)
def lower_elu(ctx: NodeContext) -> Sequence[Value]:
    x, restore = in_float32(ctx, ctx.input(0))
    alpha = float(ctx.attr("alpha", 1.0))
    expm1 = ctx.emit("sub", [ctx.emit("exp", [x]), scalar_like(ctx, 1, x)])
    negative = ctx.emit("mul", [scalar_like(ctx, alpha, x), expm1])
    return [restore(ctx.emit("where", [ctx.emit("less", [x, scalar_like(ctx, 0, x)]), negative, x]))]


@onnx_op("Selu", since=6)
def lower_selu(ctx: NodeContext) -> Sequence[Value]:
    x, restore = in_float32(ctx, ctx.input(0))
    alpha = float(ctx.attr("alpha", 1.67326319217681884765625))
    gamma = float(ctx.attr("gamma", 1.05070102214813232421875))
    negative = ctx.emit("sub", [ctx.emit("mul", [scalar_like(ctx, alpha, x), ctx.emit("exp", [x])]), scalar_like(ctx, alpha, x)])
    chosen = ctx.emit("where", [ctx.emit("greater", [x, scalar_like(ctx, 0, x)]), x, negative])
    return [restore(ctx.emit("mul", [scalar_like(ctx, gamma, x), chosen]))]


@onnx_op("Celu", since=12)
def lower_celu(ctx: NodeContext) -> Sequence[Value]:
    x, restore = in_float32(ctx, ctx.input(0))
    alpha = float(ctx.attr("alpha", 1.0))
    zero = scalar_like(ctx, 0, x)
    scaled = ctx.emit("exp", [ctx.emit("div", [x, scalar_like(ctx, alpha, x)])])
    negative = ctx.emit("mul", [scalar_like(ctx, alpha, x), ctx.emit("sub", [scaled, scalar_like(ctx, 1, x)])])
    return [restore(ctx.emit("add", [ctx.emit("max", [x, zero]), ctx.emit("min", [negative, zero])]))]


@onnx_op("ThresholdedRelu", since=10)
def lower_thresholded_relu(ctx: NodeContext) -> Sequence[Value]:
    x = ctx.input(0)
    alpha = float(ctx.attr("alpha", 1.0))
    above = ctx.emit("greater", [x, scalar_like(ctx, alpha, x)])
    return [ctx.emit("where", [above, x, scalar_like(ctx, 0, x)])]


@onnx_op("Softsign", since=1)
def lower_softsign(ctx: NodeContext) -> Sequence[Value]:
    x, restore = in_float32(ctx, ctx.input(0))
    return [restore(ctx.emit("div", [x, ctx.emit("add", [ctx.emit("abs", [x]), scalar_like(ctx, 1, x)])]))]


@onnx_op("PRelu", since=9)
def lower_prelu(ctx: NodeContext) -> Sequence[Value]:
    x, slope = ctx.input(0), ctx.input(1)
    negative = ctx.emit("mul", [x, slope])
    result = ctx.emit("where", [ctx.emit("less", [x, scalar_like(ctx, 0, x)]), negative, x])
    if result.type.shape != x.type.shape:
        raise ctx.error(
            f"slope of shape {slope.type.shape} must broadcast to the input's shape {x.type.shape}",
            cls=ShapeError,
        )
    return [result]


@onnx_op("Swish", since=24)
def lower_swish(ctx: NodeContext) -> Sequence[Value]:
    x, restore = in_float32(ctx, ctx.input(0))
    alpha = float(ctx.attr("alpha", 1.0))
    scaled = x if alpha == 1.0 else ctx.emit("mul", [x, scalar_like(ctx, alpha, x)])
    return [restore(ctx.emit("mul", [x, ctx.emit("sigmoid", [scaled])]))]
