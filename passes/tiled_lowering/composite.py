"""Composite ops decomposed into tiled contractions and element-wise / row statements.

- ``attention``: per (batch, kv head, query head of its group, query tile): scores
  ``(q*sqrt(s)) @ (k*sqrt(s))^T`` into a local (the operand dtype, as the reference rounds
  them), softcap, the bias (bool mask as 0/-inf, float mask added, causal as a constant
  triangle), row max, ``exp``, row sum, divide, rows with no attendable key zeroed, then
  ``@ v`` straight into the output. Grouped-query heads are the loop nest kv head x group, so
  the query head ``g * group + r`` and the kv head ``g`` are both affine.
- ``rotary_embedding``: two element-wise statements on the halves (or the even/odd stride-2
  views when interleaved), cos/sin broadcast over heads; the unrotated tail is a copy.
- ``gated_mlp``: three tiled matmuls into f32 buffers and one element-wise ``act(g) * u``.
- ``moe``: sparse dispatch by default (:mod:`.moe_dispatch`: each expert runs on the tokens
  routed to it); with ``moe="dense"`` the dense form. Router logits (matmul), softmax rows, top-k, renormalisation, a dense
  ``[tokens, experts]`` gate built by comparing the top-k indices with an expert iota; then a
  loop over experts runs every expert's gated MLP on every token and accumulates
  ``gate[:, e] * y`` in f32 (the extended forms too: a plain MLP without ``w_up``, expert
  biases added after each matmul, a router bias before the softmax). The router is the sparse
  form's (:func:`.moe_dispatch.emit_route`, DeepSeek-V3's sigmoid routing included).
"""

from __future__ import annotations

import math

import numpy as np

from moecc.ir.affine import Affine
from moecc.ir.graph import Op
from moecc.ir.ops.composite import is_basic_moe, moe_operand_layout
from moecc.ir.tiled import views
from moecc.ir.tiled.nodes import Binary, Compute, Expr, For, MatMul, Operand, Reduce, Select, Stmt, Unary, View
from moecc.ir.types import DType
from moecc.passes.tiled_lowering.context import KernelBuilder, LoweringContext, const, register_rule, sources_of
from moecc.passes.tiled_lowering.contractions import emit_matmul
from moecc.passes.tiled_lowering.data import reshaped, strided_slice
from moecc.passes.tiled_lowering.elementwise import activation, moe_glu, narrow, widen
from moecc.passes.tiled_lowering.moe_dispatch import choose_moe, emit_route, lower_moe_sparse
from moecc.passes.tiled_lowering.reductions import reduce_chunks
from moecc.passes.tiled_lowering.tiles import Sizes, Starts, tile_loops, tiled_compute, tiled_copy, window

F32 = DType.F32


def _mat(view: View, starts: tuple[Affine | int, ...], sizes: tuple[int, ...]) -> View:
    """The 2-D matrix at ``starts`` of a 4-D view (leading sizes 1)."""
    return views.reshape(views.window(view, starts, sizes), sizes[-2:])


def _scaled(ctx: LoweringContext, op: Op, index: int, root: float) -> View:
    """Operand ``index`` times ``root`` rounded to its dtype, in a fresh buffer (the reference
    scales q and k by sqrt(scale) each, in their own dtype)."""
    value = op.operands[index]
    t = value.type.dtype
    dst = ctx.add_global(f"{value.name}_scaled", t, value.type.shape)
    factor = const(float(np.asarray(root, dtype=np.float64).astype(t.numpy)), F32)
    with ctx.op_kernel(op) as kb:
        kb.emit(tiled_compute(kb, dst, [ctx.view(value)], lambda xs: narrow(Binary("mul", widen(xs[0], t), factor), t)))
    return dst


@register_rule("attention")
def lower_attention(op: Op, ctx: LoweringContext) -> None:
    q, k, v = op.operands[:3]
    t = q.type.dtype
    batch, hq, s, d = q.type.shape
    hkv, length, dv = k.type.shape[1], k.type.shape[2], v.type.shape[3]
    group = hq // hkv
    root = math.sqrt(op.attrs["scale"])
    qs, ks = _scaled(ctx, op, 0, root), _scaled(ctx, op, 1, root)
    vv = ctx.view(v)
    out = ctx.result(op.result)
    mask = views.broadcast(ctx.view(op.operands[3]), (batch, hq, s, length)) if len(op.operands) > 3 else None
    mask_bool = mask is not None and op.operands[3].type.dtype == DType.BOOL
    allowed = None
    if op.attrs["is_causal"]:
        allowed = ctx.constant(np.arange(length)[None, :] <= np.arange(s)[:, None] + (length - s),
                               f"{op.result.name}_causal")
    cap = op.attrs["softcap"]
    biased = mask is not None or allowed is not None
    ninf = const(-math.inf, F32)
    with ctx.op_kernel(op) as kb:
        tq = max(1, min(s, kb.params.tile_rows, kb.params.local_bytes // max(1, length * 4 * 4)))
        scores = kb.local("scores", t, (tq, length))
        exps = kb.local("weights", t, (tq, length))
        bias = kb.local("bias", t, (tq, length)) if biased else None
        row_max = kb.local("row_max", t, (tq, 1))
        row_sum = kb.local("row_sum", t, (tq, 1))
        blocked = kb.local("bias_max", t, (tq, 1)) if biased else None

        def body(starts: Starts, sizes: Sizes) -> list[Stmt]:
            b, g, r, s0 = starts
            sq = sizes[3]
            head = g * group + r
            z2 = (Affine(0), Affine(0))
            sc, ex = window(scores, z2, (sq, length)), window(exps, z2, (sq, length))
            mx, sm = window(row_max, z2, (sq, 1)), window(row_sum, z2, (sq, 1))
            stmts: list[Stmt] = [MatMul(sc, _mat(qs, (b, head, s0, 0), (1, 1, sq, d)),
                                        _mat(ks, (b, g, 0, 0), (1, 1, length, d)), transpose_b=True)]
            if cap > 0:
                capped = Binary("mul", Unary("tanh", Binary("div", widen(Operand(sc), t), const(cap, F32))), const(cap, F32))
                stmts.append(Compute(sc, narrow(capped, t)))
            keep: Expr | None = None
            if bias is not None and blocked is not None:
                bs, bm = window(bias, z2, (sq, length)), window(blocked, z2, (sq, 1))
                parts: list[Expr] = []
                if mask is not None:
                    m = Operand(_mat(mask, (b, head, s0, 0), (1, 1, sq, length)))
                    parts.append(Select(m, const(0, F32), ninf) if mask_bool else widen(m, t))
                if allowed is not None:
                    parts.append(Select(Operand(window(allowed, (s0, Affine(0)), (sq, length))), const(0, F32), ninf))
                total = parts[0] if len(parts) == 1 else Binary("add", parts[0], parts[1])
                stmts.append(Compute(bs, narrow(total, t)))
                stmts.append(Compute(sc, narrow(Binary("add", widen(Operand(sc), t), widen(Operand(bs), t)), t)))
                stmts.append(Reduce("max", bm, bs))
                keep = Binary("ne", widen(Operand(bm), t), ninf)
            stmts += reduce_chunks(kb, "max", mx, sc)
            shift = Select(Binary("eq", widen(Operand(mx), t), ninf), const(0, F32), widen(Operand(mx), t))
            stmts.append(Compute(ex, narrow(Unary("exp", Binary("sub", widen(Operand(sc), t), shift)), t)))
            stmts += reduce_chunks(kb, "sum", sm, ex)
            total_w = widen(Operand(sm), t)
            divided: Expr = Binary("div", widen(Operand(ex), t),
                                   Select(Binary("eq", total_w, const(0, F32)), const(1, F32), total_w))
            if keep is not None:
                divided = Select(keep, divided, const(0, F32))
            stmts.append(Compute(ex, narrow(divided, t)))
            stmts.append(MatMul(_mat(out, (b, head, s0, 0), (1, 1, sq, dv)), ex,
                                _mat(vv, (b, g, 0, 0), (1, 1, length, dv))))
            return stmts

        kb.emit(tile_loops(kb, (batch, hkv, group, s), (1, 1, 1, tq), body))


@register_rule("rotary_embedding")
def lower_rotary(op: Op, ctx: LoweringContext) -> None:
    x, cos, sin = op.operands
    t = x.type.dtype
    b, h, s, d = x.type.shape
    rotary = op.attrs["rotary_dim"] or d
    half = rotary // 2
    xv, out = ctx.view(x), ctx.result(op.result)
    shape = (b, h, s, half)

    def angles(view: View) -> View:
        return views.broadcast(views.reshape(view, (view.shape[0], 1, s, half)), shape)

    c, sn = angles(ctx.view(cos)), angles(ctx.view(sin))
    if op.attrs["interleaved"]:
        parts = [(strided_slice(v, 3, 0, 2, half), strided_slice(v, 3, 1, 2, half)) for v in (xv, out)]
    else:
        parts = [(views.window(v, (0, 0, 0, 0), shape), views.window(v, (0, 0, 0, half), shape)) for v in (xv, out)]
    (x1, x2), (o1, o2) = parts

    def real(xs: list[Expr]) -> Expr:
        cw, sw, a, bb = (widen(e, t) for e in xs)
        return narrow(Binary("sub", Binary("mul", cw, a), Binary("mul", sw, bb)), t)

    def imag(xs: list[Expr]) -> Expr:
        cw, sw, a, bb = (widen(e, t) for e in xs)
        return narrow(Binary("add", Binary("mul", sw, a), Binary("mul", cw, bb)), t)

    with ctx.op_kernel(op) as kb:
        kb.emit(tiled_compute(kb, o1, [c, sn, x1, x2], real))
        kb.emit(tiled_compute(kb, o2, [c, sn, x1, x2], imag))
        if rotary < d:
            tail = (b, h, s, d - rotary)
            kb.emit(tiled_copy(kb, views.window(out, (0, 0, 0, rotary), tail), views.window(xv, (0, 0, 0, rotary), tail)))


def _mlp(kb: KernelBuilder, x: View, w_gate: View, w_up: View, w_down: View, y: View, g: View, u: View,
         act: str) -> list[Stmt]:
    """``y = (act(x @ w_gate) * (x @ w_up)) @ w_down`` through the f32 buffers ``g`` and ``u``."""
    stmts = emit_matmul(kb, g, x, w_gate) + emit_matmul(kb, u, x, w_up)
    stmts += tiled_compute(kb, g, [g, u], lambda xs: Binary("mul", activation(act, xs[0], F32), xs[1]))
    return stmts + emit_matmul(kb, y, g, w_down)


@register_rule("gated_mlp")
def lower_gated_mlp(op: Op, ctx: LoweringContext) -> None:
    x, w_gate, w_up, w_down = op.operands
    hidden, ffn = w_gate.type.shape
    tokens = x.type.numel // hidden
    rows = reshaped(ctx, ctx.view(x), (tokens, hidden), x.name, sources_of(op))
    out = views.reshape(ctx.result(op.result), (tokens, w_down.type.shape[1]))
    g = ctx.add_global(f"{op.result.name}_gate", F32, (tokens, ffn))
    u = ctx.add_global(f"{op.result.name}_up", F32, (tokens, ffn))
    with ctx.op_kernel(op) as kb:
        kb.emit(_mlp(kb, rows, ctx.view(w_gate), ctx.view(w_up), ctx.view(w_down), out, g, u, op.attrs["activation"]))


def _moe_expert(kb: KernelBuilder, x: View, w: dict[str, View], y: View, g: View, u: View, attrs: dict,
                t: DType) -> list[Stmt]:
    """One expert of an extended ``moe`` (see :class:`~moecc.ir.ops.composite.Moe`) on every row
    of ``x`` into ``y``: ``(act(x @ w_gate + b_gate) [* (x @ w_up + b_up)]) @ w_down + b_down``,
    through the f32 buffers ``g`` and ``u`` (biases broadcast over the rows)."""
    rows, ffn = g.shape
    hidden = y.shape[1]
    act = attrs["activation"]

    def rowwise(bias: View, width: int) -> View:
        return views.broadcast(views.reshape(bias, (1, width)), (rows, width))

    stmts = emit_matmul(kb, g, x, w["w_gate"])
    if attrs["expert_bias"]:
        stmts += tiled_compute(kb, g, [g, rowwise(w["b_gate"], ffn)], lambda xs: Binary("add", xs[0], widen(xs[1], t)))
    if attrs["gated"]:
        stmts += emit_matmul(kb, u, x, w["w_up"])
        if attrs["expert_bias"]:
            stmts += tiled_compute(kb, u, [u, rowwise(w["b_up"], ffn)], lambda xs: Binary("add", xs[0], widen(xs[1], t)))
        stmts += tiled_compute(kb, g, [g, u], lambda xs: moe_glu(attrs, xs[0], xs[1], F32))
    else:
        stmts += tiled_compute(kb, g, [g], lambda xs: activation(act, xs[0], F32))
    stmts += emit_matmul(kb, y, g, w["w_down"])
    if attrs["expert_bias"]:
        stmts += tiled_compute(kb, y, [y, rowwise(w["b_down"], hidden)], lambda xs: Binary("add", xs[0], widen(xs[1], t)))
    return stmts


@register_rule("moe")
def lower_moe(op: Op, ctx: LoweringContext) -> None:
    mode = choose_moe(op, ctx) if ctx.moe == "auto" else ctx.moe
    if mode == "sparse":
        lower_moe_sparse(op, ctx)
    else:
        lower_moe_dense(op, ctx)
    if ctx.moe == "auto":
        ctx.moe_layers[-1]["chosen_by"] = "auto"


def lower_moe_dense(op: Op, ctx: LoweringContext) -> None:
    """Every expert on every token, weighted by a dense ``[tokens, experts]`` gate."""
    names = moe_operand_layout(op.attrs)
    operand = dict(zip(names, op.operands))
    x, router = operand["x"], operand["router_w"]
    t = x.type.dtype
    tokens, hidden = x.type.shape
    experts = router.type.shape[1]
    ffn = operand["w_gate"].type.shape[2]
    top = op.attrs["top_k"]
    name = op.result.name
    xv = ctx.view(x)
    probs = ctx.add_global(f"{name}_probs", F32, (tokens, experts))
    top_v = ctx.add_global(f"{name}_top", F32, (tokens, top))
    # Kept after the run (an output-role buffer): the routing report reads the choices.
    top_i = ctx.add_global(f"{name}_expert", DType.I64, (tokens, top), "output")
    ctx.moe_layers.append({"op": name, "onnx_node": op.source or op.kind, "tokens": tokens, "experts": experts,
                           "top_k": top, "hidden": hidden, "ffn": ffn, "gated": bool(op.attrs.get("gated", True)),
                           "token_tile": tokens, "dense": True, "experts_buffer": top_i.buffer})
    gate = ctx.add_global(f"{name}_gates", F32, (tokens, experts))
    g = ctx.add_global(f"{name}_gate", F32, (tokens, ffn))
    u = ctx.add_global(f"{name}_up", F32, (tokens, ffn))
    y = ctx.add_global(f"{name}_expert_out", F32, (tokens, hidden))
    acc = ctx.add_global(f"{name}_acc", F32, (tokens, hidden))
    iota = ctx.constant(np.arange(experts, dtype=np.int64), f"{name}_iota")
    out = ctx.result(op.result)
    with ctx.kernel(f"{name}_route", sources_of(op)) as kb:  # its own kernel: f32 on a bf16 ASIC
        emit_route(kb, op, operand, probs, top_v, top_i)
    with ctx.op_kernel(op) as kb:
        # The dense gate: gate[t, e] = weight of e among token t's top-k (0 elsewhere).
        kb.emit(tiled_compute(kb, gate, [], lambda xs: const(0, F32)))
        slot = kb.var()
        column = (tokens, experts)
        pick = views.broadcast(views.window(top_i, (0, Affine.of(slot)), (tokens, 1)), column)
        weight = views.broadcast(views.window(top_v, (0, Affine.of(slot)), (tokens, 1)), column)
        ids = views.broadcast(views.reshape(iota, (1, experts)), column)
        kb.emit([For(slot, top, tuple(tiled_compute(kb, gate, [gate, pick, ids, weight], lambda xs: Binary(
            "add", xs[0], Select(Binary("eq", xs[1], xs[2]), xs[3], const(0, F32))))))])
        # Every expert on every token, weighted by its gate.
        kb.emit(tiled_compute(kb, acc, [], lambda xs: const(0, F32)))
        e = kb.var()

        def expert(view: View, rows: int, cols: int) -> View:
            return views.reshape(views.window(view, (Affine.of(e), 0, 0), (1, rows, cols)), (rows, cols))

        def expert_row(view: View, cols: int) -> View:
            return views.reshape(views.window(view, (Affine.of(e), 0), (1, cols)), (cols,))

        if is_basic_moe(op.attrs):
            body = _mlp(kb, xv, expert(ctx.view(operand["w_gate"]), hidden, ffn),
                        expert(ctx.view(operand["w_up"]), hidden, ffn),
                        expert(ctx.view(operand["w_down"]), ffn, hidden), y, g, u, op.attrs["activation"])
        else:
            ws = {"w_gate": expert(ctx.view(operand["w_gate"]), hidden, ffn),
                  "w_down": expert(ctx.view(operand["w_down"]), ffn, hidden)}
            if op.attrs["gated"]:
                ws["w_up"] = expert(ctx.view(operand["w_up"]), hidden, ffn)
            if op.attrs["expert_bias"]:
                ws["b_gate"] = expert_row(ctx.view(operand["b_gate"]), ffn)
                ws["b_down"] = expert_row(ctx.view(operand["b_down"]), hidden)
                if op.attrs["gated"]:
                    ws["b_up"] = expert_row(ctx.view(operand["b_up"]), ffn)
            body = _moe_expert(kb, xv, ws, y, g, u, op.attrs, t)
        weight_e = views.broadcast(views.window(gate, (0, Affine.of(e)), (tokens, 1)), (tokens, hidden))
        body += tiled_compute(kb, acc, [acc, weight_e, y], lambda xs: Binary("add", xs[0], Binary("mul", xs[1], xs[2])))
        kb.emit([For(e, experts, tuple(body))])
        kb.emit(tiled_compute(kb, out, [acc], lambda xs: narrow(xs[0], t)))


__all__ = ["lower_attention", "lower_gated_mlp", "lower_moe", "lower_moe_dense", "lower_rotary"]
