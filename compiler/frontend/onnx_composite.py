"""ONNX lowering of the composite family: LayerNormalization, RMSNormalization, Attention and
RotaryEmbedding.

Part of the ONNX frontend (see :mod:`moecc.frontend.onnx_context`). Each maps onto its
first-class graph-IR op (``layer_norm``, ``rms_norm``, ``attention``, ``rotary_embedding``),
which the ASIC lowers as a unit. ONNX packs more into these ops than the IR ops carry: the
handlers turn 3-D (packed-heads) inputs into ``[batch, heads, seq, head]`` with reshape and
transpose, append KV caches with ``concat``, build the causal / sliding-window / padding
masks the IR op cannot express, gather RoPE caches by ``position_ids``, and decompose
LayerNormalization into reductions when its Mean / InvStdDev outputs are used.
"""

from __future__ import annotations

import math

import numpy as np

from moecc.errors import ShapeError
from moecc.frontend.onnx_context import NodeContext, onnx_op
from moecc.frontend.onnx_shape import expand_to, reshape_to
from moecc.ir.graph import Value
from moecc.ir.types import DType

_F32 = DType.F32


def _norm_axis(ctx: NodeContext, x: Value) -> int:
    rank = x.type.rank
    axis = int(ctx.attr("axis", -1))
    if not -rank <= axis < rank:
        raise ctx.error(f"axis {axis} is out of range for input {x.type}", cls=ShapeError)
    return axis + rank if axis < 0 else axis


def _cast(ctx: NodeContext, x: Value, dtype: DType) -> Value:
    return x if x.type.dtype == dtype else ctx.emit("cast", [x], {"to": dtype})


def _scalar(ctx: NodeContext, value: float, dtype: DType) -> Value:
    return ctx.const(np.array(value, dtype=dtype.numpy))


# -- normalisation ----------------------------------------------------------------------

@onnx_op("LayerNormalization", since=17)
def layer_normalization(ctx: NodeContext) -> list[Value | None]:
    x, scale, bias = ctx.input(0), ctx.input(1), ctx.optional_input(2)
    axis = _norm_axis(ctx, x)
    epsilon = float(ctx.attr("epsilon", 1e-5))
    if not (ctx.output_used(1) or ctx.output_used(2)):
        operands = [x, scale] + ([bias] if bias is not None else [])
        return [ctx.emit("layer_norm", operands, {"axis": axis, "epsilon": epsilon})]
    # Mean and InvStdDev are wanted too: spell the normalisation out so they exist as values.
    stash_type = int(ctx.attr("stash_type", 1))
    compute = _F32 if stash_type == 1 else DType.from_onnx(stash_type)
    axes = list(range(axis, x.type.rank))
    xc = _cast(ctx, x, compute)
    mean = ctx.emit("reduce_mean", [xc], {"axes": axes, "keepdims": True})
    centered = ctx.emit("sub", [xc, mean])
    variance = ctx.emit("reduce_mean", [ctx.emit("mul", [centered, centered])], {"axes": axes, "keepdims": True})
    inv_std = ctx.emit("reciprocal", [ctx.emit("sqrt", [ctx.emit("add", [variance, _scalar(ctx, epsilon, compute)])])])
    y = ctx.emit("mul", [ctx.emit("mul", [centered, inv_std]), _cast(ctx, scale, compute)])
    if bias is not None:
        y = ctx.emit("add", [y, _cast(ctx, bias, compute)])
    return [_cast(ctx, y, x.type.dtype), mean, inv_std]


@onnx_op("RMSNormalization", since=23)
def rms_normalization(ctx: NodeContext) -> list[Value]:
    x = ctx.input(0)
    axis = _norm_axis(ctx, x)
    return [ctx.emit("rms_norm", [x, ctx.input(1)], {"axis": axis, "epsilon": float(ctx.attr("epsilon", 1e-5))})]


# -- attention ----------------------------------------------------------------------------

def _split_heads(ctx: NodeContext, x: Value, heads: int, what: str) -> Value:
    """``[B, S, H*D]`` → ``[B, H, S, D]``."""
    b, s, hidden = x.type.shape
    if heads <= 0 or hidden % heads:
        raise ctx.error(f"{what} {x.type} cannot be split into {heads} heads", cls=ShapeError,
                        remedy="set q_num_heads / kv_num_heads to divide the hidden size")
    return ctx.emit("transpose", [reshape_to(ctx, x, (b, s, heads, hidden // heads))], {"perm": (0, 2, 1, 3)})


def _merge_heads(ctx: NodeContext, x: Value) -> Value:
    """``[B, H, S, D]`` → ``[B, S, H*D]``."""
    b, h, s, d = x.type.shape
    return reshape_to(ctx, ctx.emit("transpose", [x], {"perm": (0, 2, 1, 3)}), (b, s, h * d))


def _repeat_kv(ctx: NodeContext, k: Value, group: int) -> Value:
    """``[B, Hkv, L, D]`` with each head repeated ``group`` times in place → ``[B, Hkv*group, L, D]``."""
    if group == 1:
        return k
    b, h, length, d = k.type.shape
    wide = expand_to(ctx, reshape_to(ctx, k, (b, h, 1, length, d)), (b, h, group, length, d))
    return reshape_to(ctx, wide, (b, h * group, length, d))


def _structural_mask(
    ctx: NodeContext,
    s: int,
    length: int,
    offset: int | Value,
    causal: bool,
    window: tuple[int, int],
    nonpad: Value | None,
) -> Value | None:
    """The bool mask of causal, sliding-window and padding rules, or None if nothing is masked.

    ``offset`` is the count of keys before the query block: static, or per batch (``[B,1,1,1]``
    i64 value) when it comes from ``nonpad_kv_seqlen``. Query ``i`` and key ``j`` are kept when
    ``d = i + offset - j`` satisfies ``d >= 0`` (causal), ``d <= left`` and ``-d <= right``.
    """
    left, right = window
    i_minus_j = np.arange(s)[:, None] - np.arange(length)[None, :]
    if isinstance(offset, int):
        diff = i_minus_j + offset
        keep = np.ones((s, length), dtype=bool)
        if causal:
            keep &= diff >= 0
        if left >= 0:
            keep &= diff <= left
        if right >= 0:
            keep &= -diff <= right
        mask = ctx.const(keep) if not keep.all() else None
    else:
        diff = ctx.emit("add", [ctx.const(i_minus_j.astype(np.int64)), offset])
        conditions: list[Value] = []
        if causal:
            conditions.append(ctx.emit("greater_equal", [diff, ctx.const(np.int64(0))]))
        if left >= 0:
            conditions.append(ctx.emit("less_equal", [diff, ctx.const(np.int64(left))]))
        if right >= 0:
            conditions.append(ctx.emit("greater_equal", [diff, ctx.const(np.int64(-right))]))
        mask = None
        for cond in conditions:
            mask = cond if mask is None else ctx.emit("and", [mask, cond])
    if nonpad is not None:
        valid = ctx.emit("less", [ctx.const(np.arange(length, dtype=np.int64)), nonpad])
        mask = valid if mask is None else ctx.emit("and", [mask, valid])
    return mask


def _combine_masks(ctx: NodeContext, user: Value | None, structural: Value | None, dtype: DType) -> Value | None:
    if structural is None:
        return user
    if user is None:
        return structural
    if user.type.dtype == DType.BOOL:
        return ctx.emit("and", [user, structural])
    return ctx.emit("where", [structural, user, _scalar(ctx, -np.inf, dtype)])


def _pad_mask(ctx: NodeContext, mask: Value, length: int) -> Value:
    """A mask shorter than the kv length is padded with "masked" entries (False / -inf)."""
    have = mask.type.shape[-1] if mask.type.rank else 1
    if mask.type.rank == 0 or have == length:
        return mask
    if have > length:
        raise ctx.error(f"attn_mask {mask.type} is longer than the {length} keys", cls=ShapeError)
    fill_shape = mask.type.shape[:-1] + (length - have,)
    fill = np.zeros(fill_shape, dtype=bool) if mask.type.dtype == DType.BOOL else np.full(fill_shape, -np.inf, dtype=mask.type.dtype.numpy)
    return ctx.emit("concat", [mask, ctx.const(fill)], {"axis": mask.type.rank - 1})


@onnx_op("Attention", since=23)
def attention(ctx: NodeContext) -> list[Value | None]:
    q, k, v = ctx.input(0), ctx.input(1), ctx.input(2)
    rank = q.type.rank
    if rank not in (3, 4) or k.type.rank != rank or v.type.rank != rank:
        raise ctx.error(f"Q {q.type}, K {k.type}, V {v.type} must all be 3-D or all 4-D", cls=ShapeError)
    if rank == 3:
        q_heads, kv_heads = int(ctx.attr("q_num_heads", 0)), int(ctx.attr("kv_num_heads", 0))
        if not q_heads or not kv_heads:
            raise ctx.error("3-D inputs need the q_num_heads and kv_num_heads attributes", cls=ShapeError)
        q, k, v = _split_heads(ctx, q, q_heads, "Q"), _split_heads(ctx, k, kv_heads, "K"), _split_heads(ctx, v, kv_heads, "V")
    past_key, past_value = ctx.optional_input(4), ctx.optional_input(5)
    if (past_key is None) != (past_value is None):
        raise ctx.error("past_key and past_value must be given together", cls=ShapeError)
    nonpad = ctx.optional_input(6)
    if nonpad is not None and past_key is not None:
        raise ctx.error("nonpad_kv_seqlen cannot be combined with past_key/past_value", cls=ShapeError)
    past_length = 0
    if past_key is not None and past_value is not None:
        past_length = past_key.type.shape[2] if past_key.type.rank == 4 else 0
        k = ctx.emit("concat", [past_key, k], {"axis": 2})
        v = ctx.emit("concat", [past_value, v], {"axis": 2})
    present_key, present_value = k, v

    batch, _, s, head_size = q.type.shape
    length = k.type.shape[2]
    scale = float(ctx.attr("scale")) if ctx.has_attr("scale") else 1.0 / math.sqrt(head_size)
    softcap = float(ctx.attr("softcap", 0.0))
    causal = bool(ctx.attr("is_causal", 0))
    window = (int(ctx.attr("left_window_size", -1)), int(ctx.attr("right_window_size", -1)))

    user_mask = ctx.optional_input(3)
    if user_mask is not None:
        user_mask = _pad_mask(ctx, user_mask, length)
    offset: int | Value = past_length
    if nonpad is not None:
        # Per-batch frontier: offset[b] = nonpad_kv_seqlen[b] - S, shaped to broadcast over heads.
        nonpad = reshape_to(ctx, _cast(ctx, nonpad, DType.I64), (batch, 1, 1, 1))
        offset = ctx.emit("sub", [nonpad, ctx.const(np.int64(s))])
    # The IR op's own causal rule is bottom-right aligned (offset L - S); use it when it agrees.
    ir_causal = causal and window == (-1, -1) and nonpad is None and offset == length - s
    structural = _structural_mask(ctx, s, length, offset, causal and not ir_causal, window, nonpad)
    mask = _combine_masks(ctx, user_mask, structural, q.type.dtype)

    operands = [q, k, v] + ([mask] if mask is not None else [])
    y = ctx.emit("attention", operands, {"scale": scale, "is_causal": ir_causal, "softcap": softcap})
    if rank == 3:
        y = _merge_heads(ctx, y)

    qk_output: Value | None = None
    if ctx.output_used(3):
        full_mask = mask if not ir_causal else _combine_masks(
            ctx, user_mask, _structural_mask(ctx, s, length, offset, True, window, nonpad), q.type.dtype
        )
        qk_output = _qk_matmul_output(ctx, q, k, scale, softcap, full_mask)
    return [y, present_key, present_value, qk_output]


def _qk_matmul_output(ctx: NodeContext, q: Value, k: Value, scale: float, softcap: float, mask: Value | None) -> Value:
    """Attention's optional 4th output, spelled out with graph-IR ops as ONNX computes it:
    mode 0 the scaled QK^T, 1 after softcap, 2 plus the mask bias, 3 the softmax probabilities
    (fully masked rows zero)."""
    mode = int(ctx.attr("qk_matmul_output_mode", 0))
    if mode not in (0, 1, 2, 3):
        raise ctx.error(f"qk_matmul_output_mode {mode} is not defined", remedy="use 0, 1, 2 or 3")
    dtype = q.type.dtype
    root_scale = _scalar(ctx, math.sqrt(scale), dtype)
    group = q.type.shape[1] // max(k.type.shape[1], 1)
    keys_t = ctx.emit("transpose", [_repeat_kv(ctx, k, group)], {"perm": (0, 1, 3, 2)})
    scores = ctx.emit("matmul", [ctx.emit("mul", [q, root_scale]), ctx.emit("mul", [keys_t, root_scale])])
    # The spec calls mode 0 the raw product, but the ONNX reference (and so every node test)
    # returns it after softcap, like mode 1; follow the reference.
    if softcap > 0:
        cap = _scalar(ctx, softcap, dtype)
        scores = ctx.emit("mul", [ctx.emit("tanh", [ctx.emit("div", [scores, cap])]), cap])
    if mode in (0, 1) or mask is None and mode == 2:
        return scores
    if mask is None:
        return ctx.emit("softmax", [scores], {"axis": -1})
    bias = mask
    if mask.type.dtype == DType.BOOL:
        bias = ctx.emit("where", [mask, _scalar(ctx, 0.0, dtype), _scalar(ctx, -np.inf, dtype)])
    biased = ctx.emit("add", [scores, bias])
    if mode == 2:
        return biased
    probs = ctx.emit("softmax", [biased], {"axis": -1})
    row_max = ctx.emit("reduce_max", [bias], {"axes": [bias.type.rank - 1], "keepdims": True})
    blocked = ctx.emit("is_inf", [row_max], {"detect_positive": False})
    return ctx.emit("where", [blocked, _scalar(ctx, 0.0, dtype), probs])


# -- rotary embedding -------------------------------------------------------------------------

@onnx_op("RotaryEmbedding", since=23)
def rotary_embedding(ctx: NodeContext) -> list[Value]:
    x, cos, sin = ctx.input(0), ctx.input(1), ctx.input(2)
    position_ids = ctx.optional_input(3)
    interleaved = bool(ctx.attr("interleaved", 0))
    rotary_dim = int(ctx.attr("rotary_embedding_dim", 0))
    num_heads = int(ctx.attr("num_heads", 0))
    if position_ids is not None:
        cos = ctx.emit("gather", [cos, position_ids], {"axis": 0})
        sin = ctx.emit("gather", [sin, position_ids], {"axis": 0})
    if x.type.rank == 4:
        x4 = x
    elif x.type.rank == 3:
        hidden = x.type.shape[2]
        if not num_heads:
            if rotary_dim or cos.type.rank != 3:
                raise ctx.error("3-D input needs the num_heads attribute", cls=ShapeError)
            num_heads = hidden // max(2 * cos.type.shape[-1], 1)
        x4 = _split_heads(ctx, x, num_heads, "input")
    else:
        raise ctx.error(f"input {x.type} must be 3-D [B, S, hidden] or 4-D [B, H, S, D]", cls=ShapeError)
    y = ctx.emit("rotary_embedding", [x4, cos, sin], {"interleaved": interleaved, "rotary_dim": rotary_dim})
    return [y if x.type.rank == 4 else _merge_heads(ctx, y)]
