"""Graph-IR ops: the composite family (layer_norm, rms_norm, attention, rotary_embedding,
gated_mlp, moe).

These are the ops the ASIC has dedicated lowerings for. The ONNX frontend emits the first
four directly from their ONNX-23 counterparts; ``gated_mlp`` and ``moe`` have no ONNX op and
are raised from decomposed patterns by passes. Reference semantics compute in f32 (the
ONNX ``stash_type`` default) and cast the result back to the operand's element type.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from moecc.errors import ShapeError
from moecc.ir.ops.common import FLOAT_TYPES, broadcast_shapes, normalize_axis, require_dtype, require_same_dtype
from moecc.ir.registry import Attr, AttrKind, Operand, op
from moecc.ir.types import DType, TensorType

ACTIVATIONS: tuple[str, ...] = ("silu", "gelu", "gelu_tanh", "relu")

_erf64 = np.frompyfunc(math.erf, 1, 1)


def _erf(x: np.ndarray) -> np.ndarray:
    return _erf64(x.astype(np.float64)).astype(np.float64).astype(x.dtype)


def _f32(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def _activation(name: str) -> Callable[[np.ndarray], np.ndarray]:
    def silu(x: np.ndarray) -> np.ndarray:
        return x / (np.float32(1) + np.exp(-x))

    def gelu(x: np.ndarray) -> np.ndarray:
        return np.float32(0.5) * x * (np.float32(1) + _erf(x / np.float32(math.sqrt(2.0))))

    def gelu_tanh(x: np.ndarray) -> np.ndarray:
        inner = np.float32(math.sqrt(2.0 / math.pi)) * (x + np.float32(0.044715) * x * x * x)
        return np.float32(0.5) * x * (np.float32(1) + np.tanh(inner))

    def relu(x: np.ndarray) -> np.ndarray:
        return np.maximum(x, np.float32(0))

    return {"silu": silu, "gelu": gelu, "gelu_tanh": gelu_tanh, "relu": relu}[name]


def _check_scale_like(kind: str, what: str, x: TensorType, t: TensorType) -> None:
    if t.dtype != x.dtype:
        raise ShapeError(f"op '{kind}': {what} {t} must have the element type of x {x}")
    if t.rank > x.rank or broadcast_shapes(kind, x.shape, t.shape) != x.shape:
        raise ShapeError(f"op '{kind}': {what} {t} does not broadcast to x {x}")


@op(
    "layer_norm",
    operands=["x", "scale", Operand("bias", optional=True)],
    attrs=[Attr("axis", AttrKind.INT, -1), Attr("epsilon", AttrKind.FLOAT, 1e-5)],
)
class LayerNorm:
    """``(x - mean) / sqrt(var + epsilon) * scale + bias`` with mean and (biased) variance over
    the axes ``[axis, rank)``; ``scale``/``bias`` broadcast to ``x``."""

    @staticmethod
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        x = types[0]
        require_dtype("layer_norm", x, FLOAT_TYPES, "x operand")
        normalize_axis("layer_norm", attrs["axis"], x.rank)
        _check_scale_like("layer_norm", "scale", x, types[1])
        if len(types) > 2:
            _check_scale_like("layer_norm", "bias", x, types[2])
        return [x]

    @staticmethod
    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        x = _f32(arrays[0])
        axes = tuple(range(normalize_axis("layer_norm", attrs["axis"], x.ndim), x.ndim))
        mean = np.mean(x, axis=axes, keepdims=True)
        centered = x - mean
        var = np.mean(centered * centered, axis=axes, keepdims=True)
        y = centered / np.sqrt(var + np.float32(attrs["epsilon"])) * _f32(arrays[1])
        if len(arrays) > 2:
            y = y + _f32(arrays[2])
        return [y.astype(arrays[0].dtype)]


@op("rms_norm", operands=["x", "scale"], attrs=[Attr("axis", AttrKind.INT, -1), Attr("epsilon", AttrKind.FLOAT, 1e-5)])
class RmsNorm:
    """``x / sqrt(mean(x^2) + epsilon) * scale`` with the mean over the axes ``[axis, rank)``."""

    @staticmethod
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        x = types[0]
        require_dtype("rms_norm", x, FLOAT_TYPES, "x operand")
        normalize_axis("rms_norm", attrs["axis"], x.rank)
        _check_scale_like("rms_norm", "scale", x, types[1])
        return [x]

    @staticmethod
    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        x = _f32(arrays[0])
        axes = tuple(range(normalize_axis("rms_norm", attrs["axis"], x.ndim), x.ndim))
        mean_square = np.mean(x * x, axis=axes, keepdims=True)
        y = x / np.sqrt(mean_square + np.float32(attrs["epsilon"])) * _f32(arrays[1])
        return [y.astype(arrays[0].dtype)]


@op(
    "attention",
    operands=["q", "k", "v", Operand("mask", optional=True)],
    attrs=[
        Attr("scale", AttrKind.FLOAT),
        Attr("is_causal", AttrKind.BOOL, False),
        Attr("softcap", AttrKind.FLOAT, 0.0),
        Attr("heads_last", AttrKind.BOOL, False),
        Attr("sinks", AttrKind.FLOATS, ()),
    ],
)
class Attention:
    """Scaled dot-product attention, ``softmax(softcap(scale * q @ k^T) + bias) @ v``.

    q ``[B, Hq, S, D]``, k ``[B, Hkv, L, D]``, v ``[B, Hkv, L, Dv]`` with ``Hq % Hkv == 0``: query
    head ``h`` reads kv head ``h // (Hq / Hkv)`` (grouped-query attention). ``softcap > 0``
    applies ``softcap * tanh(s / softcap)`` to the scores before masking. ``mask`` broadcasts to
    ``[B, Hq, S, L]``: bool (True = attend) or float (added to the scores). ``is_causal`` lets
    query ``i`` attend keys ``j <= i + (L - S)`` (aligned to the bottom right, as with a KV
    cache). A query row with no attendable key yields zeros. ``heads_last`` gives the result as
    ``[B, S, Hq, Dv]`` (the transpose exporters write before merging the heads), else
    ``[B, Hq, S, Dv]``. ``sinks`` (empty, or one logit per query head: GPT-OSS's attention
    sinks) join each row's softmax as one more key with no value: they take a share of the
    weights and give nothing, and a row whose every key is masked then yields zeros too."""

    @staticmethod
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        q, k, v = types[:3]
        dtype = require_same_dtype("attention", [q, k, v])
        require_dtype("attention", q, FLOAT_TYPES, "q operand")
        if not q.rank == k.rank == v.rank == 4:
            raise ShapeError(f"op 'attention': q {q}, k {k}, v {v} must all be rank 4 [batch, heads, seq, head_dim]")
        b, hq, s, d = q.shape
        if k.shape[0] != b or v.shape[0] != b:
            raise ShapeError(f"op 'attention': batch sizes of q {q}, k {k}, v {v} differ")
        if k.shape[3] != d:
            raise ShapeError(f"op 'attention': head sizes of q {q} and k {k} differ")
        if k.shape[1:3] != v.shape[1:3]:
            raise ShapeError(f"op 'attention': k {k} and v {v} differ in kv heads or kv length")
        hkv, length = k.shape[1], k.shape[2]
        if hkv == 0 or hq % hkv != 0:
            raise ShapeError(f"op 'attention': {hq} query heads are not a multiple of {hkv} kv heads")
        if len(types) > 3:
            mask = types[3]
            if mask.dtype != DType.BOOL and mask.dtype != dtype:
                raise ShapeError(f"op 'attention': mask {mask} must be bool or {dtype}")
            full = (b, hq, s, length)
            if mask.rank > 4 or broadcast_shapes("attention", mask.shape, full) != full:
                raise ShapeError(f"op 'attention': mask {mask} does not broadcast to {full}")
        if attrs["softcap"] < 0:
            raise ShapeError(f"op 'attention': softcap {attrs['softcap']} must be >= 0")
        if attrs["sinks"] and len(attrs["sinks"]) != hq:
            raise ShapeError(f"op 'attention': {len(attrs['sinks'])} sinks for {hq} query heads; give one per head")
        return [TensorType((b, s, hq, v.shape[3]) if attrs["heads_last"] else (b, hq, s, v.shape[3]), dtype)]

    @staticmethod
    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        # Computed in the operands' own element type, step for step as the ONNX reference
        # does (q and k each scaled by sqrt(scale)), so f16/bf16 results round identically.
        q, k, v = arrays[:3]
        dtype = q.dtype.type
        s, length = q.shape[2], k.shape[2]
        group = q.shape[1] // k.shape[1]
        k = np.repeat(k, group, axis=1)
        v = np.repeat(v, group, axis=1)
        bias = np.zeros((s, length), dtype=q.dtype)
        if len(arrays) > 3:
            mask = arrays[3]
            if mask.dtype == np.bool_:
                bias = bias + np.where(mask, dtype(0), dtype(-np.inf))
            else:
                bias = bias + mask
        if attrs["is_causal"]:
            allowed = np.arange(length)[None, :] <= np.arange(s)[:, None] + (length - s)
            bias = bias + np.where(allowed, dtype(0), dtype(-np.inf))
        root_scale = dtype(np.sqrt(attrs["scale"]))
        # numpy promotes bf16 matmuls to f32; the reference rounds back right away.
        scores = np.matmul(q * root_scale, np.swapaxes(k, -1, -2) * root_scale).astype(q.dtype)
        cap = attrs["softcap"]
        if cap > 0:
            scores = np.tanh(scores / dtype(cap)) * dtype(cap)
        scores = scores + bias
        if attrs["sinks"]:  # one more key per row, its logit the head's sink, with no value
            sink = np.broadcast_to(np.asarray(attrs["sinks"], dtype=q.dtype).reshape(1, -1, 1, 1),
                                   scores.shape[:-1] + (1,))
            scores = np.concatenate([scores, sink], axis=-1)
        row_max = np.max(scores, axis=-1, keepdims=True)
        row_max = np.where(np.isneginf(row_max), dtype(0), row_max)
        weights = np.exp(scores - row_max)
        total = np.sum(weights, axis=-1, keepdims=True)
        weights = weights / np.where(total == dtype(0), dtype(1), total)
        weights = weights[..., :length]
        # Rows whose every key is masked attend to nothing: zeros, as ONNX Attention-23 says.
        blocked = np.isneginf(np.max(bias, axis=-1, keepdims=True))
        weights = np.where(blocked, dtype(0), weights)
        y = np.matmul(weights.astype(q.dtype), v).astype(q.dtype)
        return [np.ascontiguousarray(y.transpose(0, 2, 1, 3)) if attrs["heads_last"] else y]


@op(
    "rotary_embedding",
    operands=["x", "cos", "sin"],
    attrs=[Attr("interleaved", AttrKind.BOOL, False), Attr("rotary_dim", AttrKind.INT, 0)],
)
class RotaryEmbedding:
    """Rotate pairs of the first ``rotary_dim`` features (0 = all) of x ``[B, H, S, D]`` by the
    angles whose cos/sin are ``[B or 1, S, rotary_dim / 2]``. Pairs are the two halves
    ``(i, i + rotary_dim/2)``, or adjacent ``(2i, 2i+1)`` when ``interleaved``."""

    @staticmethod
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        x, cos, sin = types
        require_dtype("rotary_embedding", x, FLOAT_TYPES, "x operand")
        require_same_dtype("rotary_embedding", [x, cos, sin])
        if x.rank != 4:
            raise ShapeError(f"op 'rotary_embedding': x {x} must be rank 4 [batch, heads, seq, head_dim]")
        b, _, s, d = x.shape
        rotary = attrs["rotary_dim"] or d
        if rotary % 2 or not 0 < rotary <= d:
            raise ShapeError(f"op 'rotary_embedding': rotary_dim {rotary} must be even and in (0, {d}]")
        for name, t in (("cos", cos), ("sin", sin)):
            if t.rank != 3 or t.shape[0] not in (1, b) or t.shape[1:] != (s, rotary // 2):
                raise ShapeError(
                    f"op 'rotary_embedding': {name} {t} must have shape [{b} or 1, {s}, {rotary // 2}] for x {x}"
                )
        return [x]

    @staticmethod
    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        x = _f32(arrays[0])
        rotary = attrs["rotary_dim"] or x.shape[3]
        half = rotary // 2
        cos = _f32(arrays[1])[:, None, :, :]
        sin = _f32(arrays[2])[:, None, :, :]
        rotated, kept = x[..., :rotary], x[..., rotary:]
        if attrs["interleaved"]:
            x1, x2 = rotated[..., 0::2], rotated[..., 1::2]
        else:
            x1, x2 = rotated[..., :half], rotated[..., half:]
        real = cos * x1 - sin * x2
        imag = sin * x1 + cos * x2
        if attrs["interleaved"]:
            rotated = np.stack([real, imag], axis=-1).reshape(rotated.shape)
        else:
            rotated = np.concatenate([real, imag], axis=-1)
        return [np.concatenate([rotated, kept], axis=-1).astype(arrays[0].dtype)]


def gated_mlp_hidden(x: np.ndarray, w_gate: np.ndarray, w_up: np.ndarray, activation: str) -> np.ndarray:
    """The hidden layer ``act(x @ w_gate) * (x @ w_up)`` of a ``gated_mlp`` (f32 arrays): what
    its ``w_down`` multiplies."""
    return _activation(activation)(x @ w_gate) * (x @ w_up)


def _gated_mlp(x: np.ndarray, w_gate: np.ndarray, w_up: np.ndarray, w_down: np.ndarray, activation: str) -> np.ndarray:
    return gated_mlp_hidden(x, w_gate, w_up, activation) @ w_down


@op(
    "gated_mlp",
    operands=["x", "w_gate", "w_up", "w_down"],
    attrs=[Attr("activation", AttrKind.STR, "silu", choices=ACTIVATIONS)],
)
class GatedMlp:
    """``(act(x @ w_gate) * (x @ w_up)) @ w_down`` with x ``[..., H]``, w_gate/w_up ``[H, F]``,
    w_down ``[F, H']`` (the SwiGLU/GeGLU feed-forward block)."""

    @staticmethod
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        x, w_gate, w_up, w_down = types
        require_dtype("gated_mlp", x, FLOAT_TYPES, "x operand")
        require_same_dtype("gated_mlp", types)
        if x.rank < 1 or w_gate.rank != 2 or w_up.shape != w_gate.shape or w_down.rank != 2:
            raise ShapeError(f"op 'gated_mlp': x {x}, w_gate {w_gate}, w_up {w_up}, w_down {w_down} have bad ranks")
        hidden, ffn = w_gate.shape
        if x.shape[-1] != hidden or w_down.shape[0] != ffn:
            raise ShapeError(
                f"op 'gated_mlp': x {x} needs w_gate/w_up [{x.shape[-1]}, F] and w_down [F, H'], "
                f"got {w_gate}, {w_up}, {w_down}"
            )
        return [x.with_shape(x.shape[:-1] + (w_down.shape[1],))]

    @staticmethod
    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        x, w_gate, w_up, w_down = (_f32(a) for a in arrays)
        return [_gated_mlp(x, w_gate, w_up, w_down, attrs["activation"]).astype(arrays[0].dtype)]


def moe_operand_layout(attrs: Mapping[str, Any]) -> tuple[str, ...]:
    """The names of a ``moe`` op's operands, in order, for its attributes: ``x, router_w,
    w_gate, [w_up], w_down, [b_gate, [b_up], b_down], [router_b], [select_b]`` (``w_up``/``b_up``
    when ``gated``, the expert biases when ``expert_bias``, the router bias when ``router_bias``,
    the selection bias when ``selection_bias``)."""
    names = ["x", "router_w", "w_gate"] + (["w_up"] if attrs["gated"] else []) + ["w_down"]
    if attrs["expert_bias"]:
        names += ["b_gate"] + (["b_up"] if attrs["gated"] else []) + ["b_down"]
    if attrs["router_bias"]:
        names.append("router_b")
    if attrs.get("selection_bias"):
        names.append("select_b")
    return tuple(names)


#: How a ``moe`` router turns logits into scores: ``softmax`` over the experts (also when the
#: ``scoring`` attribute is absent) or an element-wise ``sigmoid`` (DeepSeek-V3).
MOE_SCORINGS: tuple[str, ...] = ("softmax", "sigmoid")


def moe_scoring(attrs: Mapping[str, Any]) -> str:
    """A ``moe`` op's router scoring (the optional ``scoring`` attribute; absent: ``softmax``)."""
    return attrs.get("scoring") or "softmax"


def moe_groups(attrs: Mapping[str, Any]) -> tuple[int, int]:
    """``(n_group, topk_group)`` of a ``moe`` op's group-limited routing; ``(1, 1)`` (no limit)
    when the attributes are absent."""
    return int(attrs.get("n_group") or 1), int(attrs.get("topk_group") or 1)


def moe_routed_scaling(attrs: Mapping[str, Any]) -> float:
    """The factor a ``moe`` op's routing weights are multiplied by (absent: 1)."""
    scale = attrs.get("routed_scaling")
    return 1.0 if scale is None else float(scale)


def is_softmax_routed(attrs: Mapping[str, Any]) -> bool:
    """True when a ``moe`` op routes by the original rule: softmax, top-k, renormalised or not
    (no sigmoid scoring, selection bias, group limit or routed scaling)."""
    return (moe_scoring(attrs) == "softmax" and not attrs.get("selection_bias") and attrs.get("n_group") is None
            and attrs.get("topk_group") is None and attrs.get("routed_scaling") is None)


def moe_route(logits: np.ndarray, attrs: Mapping[str, Any],
              select_b: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The reference routing of a ``moe`` op from its f32 router logits ``[T, E]`` (router bias
    added): ``(chosen experts [T, k], their weights [T, k])``, see :class:`Moe`."""
    if moe_scoring(attrs) == "sigmoid":
        e = np.exp(-np.abs(logits))  # the logistic function without overflow (as the sigmoid op)
        scores = np.where(logits >= 0, np.float32(1) / (np.float32(1) + e), e / (np.float32(1) + e))
    else:
        scores = np.exp(logits - logits.max(axis=-1, keepdims=True))
        scores = scores / scores.sum(axis=-1, keepdims=True)
    choice = scores if select_b is None else scores + select_b
    tokens, experts = choice.shape
    n_group, topk_group = moe_groups(attrs)
    if n_group > 1:
        grouped = choice.reshape(tokens, n_group, experts // n_group)
        top2 = -np.sort(-grouped, axis=-1, kind="stable")[..., :2]
        group_scores = top2[..., 0] + top2[..., 1]
        kept = np.argsort(-group_scores, axis=-1, kind="stable")[:, :topk_group]
        keep = np.zeros((tokens, n_group), dtype=bool)
        np.put_along_axis(keep, kept, True, axis=-1)
        choice = np.where(np.repeat(keep, experts // n_group, axis=-1), choice, np.float32(-np.inf))
    chosen = np.argsort(-choice, axis=-1, kind="stable")[:, : attrs["top_k"]]
    weights = np.take_along_axis(scores, chosen, axis=-1)
    if attrs["normalize"]:
        weights = weights / weights.sum(axis=-1, keepdims=True)
    scale = attrs.get("routed_scaling")
    if scale is not None:
        weights = weights * np.float32(scale)
    return chosen, weights.astype(np.float32)


def is_basic_moe(attrs: Mapping[str, Any]) -> bool:
    """True when a ``moe`` op has the original form (gated by a product, no biases): five
    operands ``x, router_w, w_gate, w_up, w_down``. Consumers that only know that form check this."""
    return (bool(attrs["gated"]) and not attrs["expert_bias"] and not attrs["router_bias"]
            and moe_gating(attrs) == "product" and is_softmax_routed(attrs))


#: How a gated ``moe`` expert combines its gate and up projections ``g``, ``u``: ``product``
#: ``act(g) * u``; ``clamped_swiglu`` (GPT-OSS) ``(clamp(u, -limit, limit) + 1) * silu_alpha(min(g,
#: limit))`` with ``silu_alpha(z) = z * sigmoid(alpha * z)``.
MOE_GATINGS: tuple[str, ...] = ("product", "clamped_swiglu")


def moe_gating(attrs: Mapping[str, Any]) -> str:
    """A ``moe`` op's gating form (the optional ``gating`` attribute; absent: ``product``)."""
    return attrs.get("gating") or "product"


def moe_glu(gate: np.ndarray, up: np.ndarray, attrs: Mapping[str, Any]) -> np.ndarray:
    """The gated hidden layer of a ``moe`` expert from its (biased) f32 gate and up projections."""
    if moe_gating(attrs) == "clamped_swiglu":
        limit = np.float32(attrs["swiglu_limit"])
        alpha = np.float32(attrs["swiglu_alpha"])
        g = np.minimum(gate, limit)
        u = np.minimum(np.maximum(up, -limit), limit)
        return (u + np.float32(1)) * (g / (np.float32(1) + np.exp(-(g * alpha))))
    return _activation(attrs["activation"])(gate) * up


def moe_expert_hidden(x: np.ndarray, w: Mapping[str, np.ndarray], e: int, attrs: Mapping[str, Any]) -> np.ndarray:
    """The hidden layer of ``moe`` expert ``e`` on the rows ``x`` (f32 arrays ``w`` by operand
    name, see :func:`moe_operand_layout`): what its ``w_down[e]`` multiplies."""
    h = x @ w["w_gate"][e]
    if attrs["expert_bias"]:
        h = h + w["b_gate"][e]
    if attrs["gated"]:
        up = x @ w["w_up"][e]
        if attrs["expert_bias"]:
            up = up + w["b_up"][e]
        return moe_glu(h, up, attrs)
    return _activation(attrs["activation"])(h)


def _moe_expert(x: np.ndarray, w: Mapping[str, np.ndarray], e: int, attrs: Mapping[str, Any]) -> np.ndarray:
    """Expert ``e`` on the rows ``x`` (f32 arrays ``w`` by operand name)."""
    y = moe_expert_hidden(x, w, e, attrs) @ w["w_down"][e]
    if attrs["expert_bias"]:
        y = y + w["b_down"][e]
    return y


def _check_gating(attrs: Mapping[str, Any]) -> None:
    gating = moe_gating(attrs)
    alpha, limit = attrs.get("swiglu_alpha"), attrs.get("swiglu_limit")
    if gating == "product":
        if alpha is not None or limit is not None:
            raise ShapeError("op 'moe': swiglu_alpha and swiglu_limit belong to gating = \"clamped_swiglu\", "
                             "not to the product gating")
        return
    if alpha is None or limit is None:
        raise ShapeError(f"op 'moe': gating = \"{gating}\" needs both swiglu_alpha and swiglu_limit")
    if not attrs["gated"] or attrs["activation"] != "silu":
        raise ShapeError(f"op 'moe': gating = \"{gating}\" needs gated = true and activation = \"silu\", got "
                         f"gated = {str(bool(attrs['gated'])).lower()}, activation = \"{attrs['activation']}\"")
    if not (math.isfinite(alpha) and math.isfinite(limit) and limit > 0):
        raise ShapeError(f"op 'moe': swiglu_alpha {alpha} must be finite and swiglu_limit {limit} finite and > 0")


def _check_routing(attrs: Mapping[str, Any], experts: int) -> None:
    """The optional routing attributes (scoring, group limit, routed scaling) agree."""
    n_group, topk_group = attrs.get("n_group"), attrs.get("topk_group")
    if (n_group is None) != (topk_group is None):
        raise ShapeError("op 'moe': n_group and topk_group go together (group-limited routing needs both)")
    if n_group is not None:
        if n_group < 1 or experts % n_group:
            raise ShapeError(f"op 'moe': n_group {n_group} must be >= 1 and divide the {experts} experts")
        if not 1 <= topk_group <= n_group:
            raise ShapeError(f"op 'moe': topk_group {topk_group} must be in [1, n_group = {n_group}]")
        size = experts // n_group
        if n_group > 1 and size < 2:
            raise ShapeError(f"op 'moe': a group's score is the sum of its top 2 experts: groups of {size} "
                             f"expert(s) ({experts} experts in {n_group} groups) are too small")
        if attrs["top_k"] > topk_group * size:
            raise ShapeError(f"op 'moe': top_k {attrs['top_k']} exceeds the {topk_group * size} experts of the "
                             f"{topk_group} kept group(s) of {size}")
    scale = attrs.get("routed_scaling")
    if scale is not None and not (math.isfinite(scale) and scale > 0):
        raise ShapeError(f"op 'moe': routed_scaling {scale} must be finite and > 0")


@op(
    "moe",
    operands=["x", "router_w", "w_gate", Operand("weights", variadic=True)],
    attrs=[
        Attr("top_k", AttrKind.INT),
        Attr("normalize", AttrKind.BOOL, True),
        Attr("activation", AttrKind.STR, "silu", choices=ACTIVATIONS),
        Attr("gated", AttrKind.BOOL, True),
        Attr("expert_bias", AttrKind.BOOL, False),
        Attr("router_bias", AttrKind.BOOL, False),
        Attr("gating", AttrKind.STR, None, choices=MOE_GATINGS),
        Attr("swiglu_alpha", AttrKind.FLOAT, None),
        Attr("swiglu_limit", AttrKind.FLOAT, None),
        Attr("scoring", AttrKind.STR, None, choices=MOE_SCORINGS),
        Attr("selection_bias", AttrKind.BOOL, None),
        Attr("n_group", AttrKind.INT, None),
        Attr("topk_group", AttrKind.INT, None),
        Attr("routed_scaling", AttrKind.FLOAT, None),
    ],
)
class Moe:
    """Mixture of experts: each token of x ``[T, H]`` is routed by ``softmax(x @ router_w
    (+ router_b))`` (router_w ``[H, E]``, router_b ``[E]``) to its ``top_k`` experts (ties: the
    lower expert index first), whose MLPs are summed weighted by the router probabilities,
    renormalised to sum to 1 over the chosen experts if ``normalize``.

    Operands, in order: ``x, router_w, w_gate, [w_up], w_down, [b_gate, [b_up], b_down],
    [router_b]``. Expert ``e`` computes ``(act(x @ w_gate[e] + b_gate[e]) * (x @ w_up[e] +
    b_up[e])) @ w_down[e] + b_down[e]`` (w_gate/w_up ``[E, H, F]``, w_down ``[E, F, H]``,
    b_gate/b_up ``[E, F]``, b_down ``[E, H]``); without ``gated`` there is no ``w_up``/``b_up``
    and no product (a plain MLP ``act(x @ w_gate[e] + b_gate[e]) @ w_down[e] + b_down[e]``);
    without ``expert_bias`` (the default) there are no biases. The defaults (gated, no biases)
    give the five operands ``x, router_w, w_gate, w_up, w_down``.

    ``gating`` (optional) says how a gated expert combines ``g = x @ w_gate[e] + b_gate[e]`` and
    ``u = x @ w_up[e] + b_up[e]``: ``product`` (also when absent) ``act(g) * u``;
    ``clamped_swiglu`` (GPT-OSS's experts) ``(clamp(u, -swiglu_limit, swiglu_limit) + 1) * gc *
    sigmoid(swiglu_alpha * gc)`` with ``gc = min(g, swiglu_limit)``, which needs ``gated``,
    ``activation = "silu"`` (the sigmoid is part of the form) and both ``swiglu_alpha`` (finite;
    GPT-OSS's config says 1.702) and ``swiglu_limit`` (finite, > 0; 7.0), which the ``product``
    form must not have. Fused, interleaved gate/up weights are split into ``w_gate``/``w_up`` (and
    ``b_gate``/``b_up``) by whoever builds the op.

    Routing (DeepSeek-V3's router; every attribute optional, absent = the softmax rule above):
    ``scoring`` ``softmax`` (default) or ``sigmoid`` (scores ``sigmoid(logits)``, element-wise);
    ``selection_bias`` adds a last operand ``select_b`` ``[E]`` (``e_score_correction_bias``) to
    the scores only to *choose* experts: ``choice = scores + select_b``; ``n_group``/``topk_group``
    (both or neither) limit the choice to groups: the experts split into ``n_group`` consecutive
    groups (``n_group`` divides E, groups of at least 2 when ``n_group > 1``), each scored by the
    sum of its two largest ``choice`` values, and only the experts of the ``topk_group`` best
    groups (ties: the lower group) stay candidates (needs ``top_k <= topk_group * E / n_group``);
    the top-``k`` of ``choice`` over the candidates are the chosen experts, whose weights are
    their *uncorrected* ``scores``, renormalised if ``normalize``, then times ``routed_scaling``
    (finite, > 0; absent: 1)."""

    @staticmethod
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> list[TensorType]:
        names = moe_operand_layout(attrs)
        if len(types) != len(names):
            raise ShapeError(
                f"op 'moe': with gated={attrs['gated']}, expert_bias={attrs['expert_bias']}, "
                f"router_bias={attrs['router_bias']}, selection_bias={bool(attrs.get('selection_bias'))} "
                f"the operands are {', '.join(names)} "
                f"({len(names)}), got {len(types)}"
            )
        t = dict(zip(names, types))
        x, router, w_gate, w_down = t["x"], t["router_w"], t["w_gate"], t["w_down"]
        require_dtype("moe", x, FLOAT_TYPES, "x operand")
        require_same_dtype("moe", types)
        if x.rank != 2 or router.rank != 2 or w_gate.rank != 3 or w_down.rank != 3:
            raise ShapeError(f"op 'moe': x {x}, router_w {router}, w_gate {w_gate}, w_down {w_down} have bad ranks")
        tokens, hidden = x.shape
        experts = router.shape[1]
        ffn = w_gate.shape[2]
        w_up = t.get("w_up", w_gate)
        if (
            router.shape[0] != hidden
            or w_gate.shape != (experts, hidden, ffn)
            or w_up.shape != w_gate.shape
            or w_down.shape != (experts, ffn, hidden)
        ):
            raise ShapeError(
                f"op 'moe': for x {x} and router_w {router} the experts need w_gate/w_up "
                f"[{experts}, {hidden}, F] and w_down [{experts}, F, {hidden}], got {w_gate}, {w_up}, {w_down}"
            )
        wanted = {"b_gate": (experts, ffn), "b_up": (experts, ffn), "b_down": (experts, hidden), "router_b": (experts,)}
        for name, shape in wanted.items():
            if name in t and t[name].shape != shape:
                raise ShapeError(f"op 'moe': {name} must have shape {list(shape)}, got {t[name]}")
        if not 1 <= attrs["top_k"] <= experts:
            raise ShapeError(f"op 'moe': top_k {attrs['top_k']} must be in [1, {experts}]")
        if "select_b" in t and t["select_b"].shape != (experts,):
            raise ShapeError(f"op 'moe': select_b must have shape [{experts}], got {t['select_b']}")
        _check_gating(attrs)
        _check_routing(attrs, experts)
        return [x]

    @staticmethod
    def compute(arrays: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> list[np.ndarray]:
        w = {name: _f32(a) for name, a in zip(moe_operand_layout(attrs), arrays)}
        x, router = w["x"], w["router_w"]
        logits = x @ router
        if attrs["router_bias"]:
            logits = logits + w["router_b"]
        chosen, weights = moe_route(logits, attrs, w.get("select_b"))
        out = np.zeros_like(x)
        for expert in range(router.shape[1]):
            token_ids, slot = np.nonzero(chosen == expert)
            if token_ids.size == 0:
                continue
            y = _moe_expert(x[token_ids], w, expert, attrs)
            out[token_ids] += weights[token_ids, slot][:, None] * y
        return [out.astype(arrays[0].dtype)]
