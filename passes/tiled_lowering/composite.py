"""Composite ops decomposed into tiled contractions and element-wise / row statements.

- ``attention``: per (batch, kv head, query head of its group, query tile): scores
  ``q @ k^T * s`` into a local (f32, or any power-of-two ``sqrt(s)``; narrower types scale
  q and k by ``sqrt(s)`` first, as the reference rounds them), softcap, the bias (bool mask as 0/-inf, float mask added, causal as a constant
  triangle), row max, ``exp``, row sum, divide, rows with no attendable key zeroed, then
  ``@ v`` straight into the output. Grouped-query heads are the loop nest kv head x group, so
  the query head ``g * group + r`` and the kv head ``g`` are both affine. Each query head has
  its own rows of the locals while they fit (:data:`ATTENTION_SLOT_SHARE`), so heads overlap:
  the MXU computes head ``h + 1``'s scores while the VPU normalises head ``h``'s. No score
  tensor reaches global memory. What is known at compile time of the keys each query row sees
  (the causal rule; a constant mask, which a sliding window folds to: :func:`_visible_keys`)
  cuts the query rows into tiles written out one by one, each computing only the keys
  ``[lo, hi)`` some row of it sees (the online form walks only those key tiles).
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

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from moecc.ir.affine import Affine
from moecc.ir.graph import Op
from moecc.ir.ops.composite import is_basic_moe, moe_operand_layout
from moecc.ir.tiled import views
from moecc.ir.tiled.nodes import (Binary, Compute, Copy, Expr, For, MatMul, Operand, Parallel, Reduce, Select, Stmt, Unary,
                                  View)
from moecc.ir.types import DType
from moecc.passes.tiled_lowering.attention_online import emit_online_attention, head_matrix, online_tiles
from moecc.passes.tiled_lowering.attention_packed import emit_packed_attention, packed_heads
from moecc.passes.tiled_lowering.context import KernelBuilder, LoweringContext, as_rank1, const, register_rule, sources_of
from moecc.passes.tiled_lowering.contractions import emit_matmul
from moecc.passes.tiled_lowering.elementwise import activation, moe_glu, narrow, widen
from moecc.passes.tiled_lowering.moe_dispatch import choose_moe, emit_route, lower_moe_sparse
from moecc.passes.tiled_lowering.reductions import reduce_chunks
from moecc.passes.tiled_lowering.streamed_mlp import emit_streamed_mlp, streams
from moecc.passes.tiled_lowering.tiles import Sizes, Starts, tile_loops, tiled_compute, tiled_copy, window

F32 = DType.F32


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


#: Whether causal (or constant-masked: sliding-window) attention computes only the keys each
#: query tile can see (False: the whole square, masked; the comparison runs of
#: bench/causal_attention.py).
SKIP_HIDDEN_KEYS = True
#: Query tiles a causal attention's rows are cut into on the CPU (each computing only the keys
#: its rows see), and the fewest rows such a tile has (the sgemm's register tile is 14 rows).
CAUSAL_QUERY_TILES = 4
#: The same on in-order units (the ASIC), whose tiles are never shorter than ``row_floor``.
CAUSAL_QUERY_TILES_IN_ORDER = 4
CAUSAL_MIN_QUERY_ROWS = 28

#: Locals of the heads one attention kernel keeps at once may take this many times the
#: tiling's ``local_bytes`` (each head its own score rows, so head ``h + 1``'s ``q @ k^T`` does
#: not wait for head ``h``'s softmax and ``@ v`` to release one shared tile).
ATTENTION_SLOT_SHARE = 2


def _exact_root(root: float, t: DType) -> bool:
    """Scaling by ``root`` in ``t`` is exact (a power of two), so q and k scaled by it give the
    same scores as the scores scaled by ``root ** 2``."""
    mantissa, _ = math.frexp(root)
    return mantissa == 0.5 or t == F32


@register_rule("attention")
def lower_attention(op: Op, ctx: LoweringContext) -> None:
    q, k, v = op.operands[:3]
    t = q.type.dtype
    batch, hq, s, d = q.type.shape
    hkv, length, dv = k.type.shape[1], k.type.shape[2], v.type.shape[3]
    group = hq // hkv
    root = math.sqrt(op.attrs["scale"])
    # f32 scores (and any power-of-two root) take the scale after q @ k^T, in the pass that
    # masks them: no scaled copies of q and k. Narrower types scale q and k first, as the
    # reference rounds them.
    post_scale = _exact_root(root, t)
    qs, ks = (ctx.view(q), ctx.view(k)) if post_scale else (_scaled(ctx, op, 0, root), _scaled(ctx, op, 1, root))
    vv = ctx.view(v)
    out = ctx.result(op.result)
    if op.attrs["heads_last"]:  # [B, S, Hq, Dv] seen as [B, Hq, S, Dv]: each head's rows are strided
        out = views.permute(out, (0, 2, 1, 3))
    mask = views.broadcast(ctx.view(op.operands[3]), (batch, hq, s, length)) if len(op.operands) > 3 else None
    mask_bool = mask is not None and op.operands[3].type.dtype == DType.BOOL
    triangle = np.arange(length)[None, :] <= np.arange(s)[:, None] + (length - s) if op.attrs["is_causal"] else None
    # Several short heads per pass of a weight-stationary array (the ASIC): one weight load per
    # product for a group of heads instead of one per head.
    # Only when q, k and v are produced on the chip: each head's rows are a copy of their own,
    # cheap from SRAM, a DMA's setup latency each from a model input in HBM.
    produced = all(x.producer is not None and not x.producer.is_const for x in (q, k, v))
    heads = (packed_heads(ctx.params, hq, s, length, d, dv, ATTENTION_SLOT_SHARE) if produced and not op.attrs["sinks"]
             else 1)
    if heads > 1 and ctx.params.local_bytes // max(1, length * 16) >= min(s, ctx.params.tile_rows):
        with ctx.op_kernel(op) as kb:
            kb.emit(emit_packed_attention(
                kb, t=t, rt=DType.BF16 if kb.params.mxu_operand_bytes == 2 and t == F32 else t,
                shape=(batch, hq, hkv, s, length, d, dv), heads=heads, qs=qs, ks=ks, vv=vv, out=out, mask=mask,
                mask_bool=mask_bool, allowed=triangle, scale=op.attrs["scale"] if post_scale else None,
                cap=op.attrs["softcap"], may_block=mask is not None or (triangle is not None and length < s),
                hint=op.result.name, constant=ctx.constant))
        return
    allowed = ctx.constant(triangle, f"{op.result.name}_causal") if triangle is not None else None
    # Which keys each query row can see at all, when that is known at compile time: a causal
    # rule and/or a constant mask (a sliding window folds to one) hiding a key from every
    # batch entry and head. Query tiles then compute only the keys some row of theirs sees.
    visible = _visible_keys(op, s, length)
    cap = op.attrs["softcap"]
    sinks = ctx.constant(np.asarray(op.attrs["sinks"], dtype=t.numpy), f"{op.result.name}_sinks") if op.attrs["sinks"] else None
    biased = mask is not None or allowed is not None
    # Whether a query row can have no attendable key (then it yields zeros, and its max and sum
    # need guards); a causal mask alone blocks none when every query sees key 0.
    may_block = mask is not None or (allowed is not None and length < s)
    ninf = const(-math.inf, F32)
    with ctx.op_kernel(op) as kb:
        causal_rows = 0  # the query rows of a causal attention's tiles (0: no preference)
        if visible is not None and SKIP_HIDDEN_KEYS and (allowed is None or length >= s):
            causal_rows = (max(kb.params.array_rows, -(-s // CAUSAL_QUERY_TILES_IN_ORDER)) if kb.params.in_order_units
                           else max(CAUSAL_MIN_QUERY_ROWS, -(-s // CAUSAL_QUERY_TILES)))
            if allowed is None and not _hides_a_tile(visible, causal_rows):
                causal_rows = 0  # a constant mask that hides no key from a whole tile
        tiles = online_tiles(kb, s, length, dv, causal_rows)
        if tiles is not None:  # whole score rows do not fit a full query tile: walk the keys
            kb.emit(emit_online_attention(
                kb, t=t, shape=(batch, hq, hkv, s, length, d, dv), qs=qs, ks=ks, vv=vv, out=out, mask=mask,
                mask_bool=mask_bool, allowed=allowed, sinks=sinks, scale=op.attrs["scale"] if post_scale else None,
                cap=cap, tiles=tiles, skip_hidden=SKIP_HIDDEN_KEYS,
                visible=visible if (allowed is not None and length >= s) or _hides_a_tile(visible, tiles[0]) else None))
            return
        tq = max(1, min(s, kb.params.tile_rows, kb.params.local_bytes // max(1, length * 4 * 4)))
        # Causal attention writes its query tiles out one by one, each computing only the keys
        # its rows can see: with n tiles about (n + 1) / 2n of the dense work (causal_rows: the
        # CPU cuts CAUSAL_QUERY_TILES, the ASIC up to CAUSAL_QUERY_TILES_IN_ORDER tiles no
        # shorter than its array, whose fill and drain a shorter tile would pay for nothing).
        causal_tiles: list[tuple[int, int]] = []
        if causal_rows and (kb.params.in_order_units or s >= 2 * CAUSAL_MIN_QUERY_ROWS):
            tq = min(tq, causal_rows)
            if s > tq:
                causal_tiles = [(s0, min(tq, s - s0)) for s0 in range(0, s, tq)]
        assert visible is not None or not causal_tiles

        def keys_of(s0: int, sq: int) -> tuple[int, int]:
            """The keys ``[k0, k0 + kl)`` some row of query rows ``s0 + [0, sq)`` sees."""
            assert visible is not None
            seen = np.flatnonzero(visible[s0:s0 + sq].any(axis=0))
            return (0, 1) if seen.size == 0 else (int(seen[0]), int(seen[-1]) + 1 - int(seen[0]))
        # In-order units (the ASIC) overlap heads when each has its own rows of the locals (the
        # phased form); otherwise the head loop is a parallel loop (the CPU's threads take heads),
        # whose locals are per iteration, the bias included.
        phased = kb.params.in_order_units and hq * tq * length * t.itemsize * 3 <= ATTENTION_SLOT_SHARE * kb.params.local_bytes
        # The bias is computed once for every head when the mask broadcasts over heads.
        shared_bias = phased and biased and (mask is None or mask.strides[1] == 0)
        rows_bytes = tq * length * t.itemsize * (2 if shared_bias or not biased else 3)
        # Causal query tiles written out on in-order units are pipelined when two sets of every
        # head's rows fit: tile i + 1's scores and softmax run while tile i's weights meet the
        # values (its rows in the other set), so the MXU does not wait at each tile's end.
        sets = 2 if causal_tiles and phased and 2 * hq * tq * length * t.itemsize * 3 <= ATTENTION_SLOT_SHARE * kb.params.local_bytes else 1
        slots = hq * sets if phased else 1
        # (Only while the query rows split evenly: a peeled last tile would be a second head
        # loop over the same locals.)
        parallel = not kb.params.in_order_units and (s % tq == 0 or bool(causal_tiles))
        # Resident operands in the matrix unit's type (bf16 copies on a bf16 MXU: converted once
        # as they arrive, not per head on the vector unit between two heads' products).
        rt = DType.BF16 if kb.params.mxu_operand_bytes == 2 and t == F32 else t
        kv_bytes = hkv * length * (d + dv) * rt.itemsize
        # Keys and values of a batch entry copied into locals up front (one burst of loads),
        # so the kv-head loop does not wait for each head's tiles behind the MXU.
        q_bytes = hq * tq * d * rt.itemsize
        resident = phased and hq > 1 and slots * rows_bytes + kv_bytes + q_bytes <= ATTENTION_SLOT_SHARE * kb.params.local_bytes
        queries = kb.local("queries", rt, (hq, tq, d)) if resident else None
        keys = kb.local("keys", rt, (hkv, length, d)) if resident else None
        values = kb.local("values", rt, (hkv, length, dv)) if resident else None

        # The resident queries take the scale as they are filled (one pass over q instead of
        # one over every head's scores).
        prescaled = queries is not None and post_scale

        def fill(local: View, source: View, factor: float | None = None) -> list[Stmt]:
            if rt == t and factor is None:
                return tiled_copy(kb, local, source)
            if factor is None:
                return tiled_compute(kb, local, [source], lambda xs: narrow(widen(xs[0], t), rt))
            return tiled_compute(kb, local, [source], lambda xs: narrow(Binary("mul", widen(xs[0], t), const(factor, F32)), rt))

        # On the CPU each head's keys are transposed into a local once, so that the tiles'
        # q @ k^T read them row-major (the sgemm packs a row-major B with vector copies, a
        # transposed one element by element, again for every query tile).
        keys_t = kb.local("keys_t", t, (d, length)) if causal_tiles and parallel and t == F32 else None
        scores = kb.local("scores", t, (slots * tq, length))
        exps = kb.local("weights", t, (slots * tq, length))
        # The normalised weights in the matrix unit's type (one rounding in the pass that
        # normalises, none before ``@ v``), and each head's output rows kept until all are done.
        probs = kb.local("probs", rt, (slots * tq, length)) if rt != t else exps
        outputs = kb.local("outputs", t, (slots * tq, dv)) if phased else None
        row_max = kb.local("row_max", t, (slots * tq, 1))
        row_sum = kb.local("row_sum", t, (slots * tq, 1))
        bias_rows = tq if shared_bias else slots * tq
        # A causal triangle alone, per head, is a select where the scores are scaled: no bias rows
        # (adding 0 or -inf to the rounded scores is exactly that select).
        causal_only = allowed is not None and mask is None and not shared_bias and not may_block
        bias = kb.local("bias", t, (bias_rows, length)) if biased and not causal_only else None
        blocked = kb.local("bias_max", t, (bias_rows, 1)) if biased and may_block else None
        zero = Affine(0)

        current_set = [0]  # the set of head rows the statements being built use (pipelined tiles)

        def rows_of(head: Affine) -> Affine:
            return head * tq + current_set[0] * hq * tq if slots > 1 else zero

        def bias_stmts(b: Affine, head: Affine, s0: Affine, sq: int, kl: int, k0: int = 0) -> list[Stmt]:
            """The additive bias of query rows ``s0 + [0, sq)`` against keys ``k0 + [0, kl)`` (and
            its row max) into the bias rows."""
            assert bias is not None
            at = (zero if shared_bias else rows_of(head), zero)
            parts: list[Expr] = []
            if mask is not None:
                m = Operand(head_matrix(mask, (b, head, s0, k0), (1, 1, sq, kl)))
                parts.append(Select(m, const(0, F32), ninf) if mask_bool else widen(m, t))
            if allowed is not None:
                parts.append(Select(Operand(window(allowed, (s0, Affine(k0)), (sq, kl))), const(0, F32), ninf))
            total = parts[0] if len(parts) == 1 else Binary("add", parts[0], parts[1])
            stmts: list[Stmt] = [Compute(rows_block(bias, at[0], sq, kl), narrow(total, t))]
            if blocked is not None:
                stmts.append(Reduce("max", window(blocked, at, (sq, 1)), rows_block(bias, at[0], sq, kl)))
            return stmts

        def weights_stmts(b: Affine, g: Affine, r: Affine, s0: Affine, sq: int, kl: int, k0: int = 0) -> list[Stmt]:
            """Query head ``g * group + r``'s softmax weights of rows ``s0 + [0, sq)`` over keys
            ``k0 + [0, kl)``."""
            kz = Affine(k0)
            head = g * group + r
            at = (rows_of(head), zero)
            sc, ex = rows_block(scores, at[0], sq, kl), rows_block(exps, at[0], sq, kl)
            mx, sm = window(row_max, at, (sq, 1)), window(row_sum, at, (sq, 1))
            query = (views.reshape(views.window(queries, (head, zero, zero), (1, sq, d)), (sq, d)) if queries is not None
                     else head_matrix(qs, (b, head, s0, 0), (1, 1, sq, d)))
            if keys_t is not None:  # the head's keys transposed once, read row-major by every tile
                stmts: list[Stmt] = [MatMul(sc, query, window(keys_t, (zero, kz), (d, kl)))]
            else:
                key = (views.reshape(views.window(keys, (g, kz, zero), (1, kl, d)), (kl, d)) if keys is not None
                       else head_matrix(ks, (b, g, k0, 0), (1, 1, kl, d)))
                stmts = [MatMul(sc, query, key, transpose_b=True)]
            scaled: Expr = widen(Operand(sc), t)
            if post_scale and not prescaled:
                scaled = Binary("mul", scaled, const(op.attrs["scale"], F32))
            if cap > 0:
                scaled = Binary("mul", Unary("tanh", Binary("div", scaled, const(cap, F32))), const(cap, F32))
            keep: Expr | None = None
            if causal_only:  # the causal triangle alone: a select in the pass that scales
                rounded = (widen(narrow(scaled, t), t) if post_scale and not prescaled or cap > 0
                           else widen(Operand(sc), t))
                assert allowed is not None
                stmts.append(Compute(sc, narrow(Select(Operand(window(allowed, (s0, kz), (sq, kl))), rounded, ninf), t)))
            elif bias is not None:
                if not shared_bias:
                    stmts += bias_stmts(b, head, s0, sq, kl, k0)
                bat = (zero if shared_bias else rows_of(head), zero)
                if post_scale and not prescaled or cap > 0:
                    stmts.append(Compute(sc, narrow(scaled, t)))  # rounded to t before the bias, as the reference
                stmts.append(Compute(sc, narrow(Binary("add", widen(Operand(sc), t),
                                                       widen(Operand(rows_block(bias, bat[0], sq, kl)), t)), t)))
                if blocked is not None:
                    keep = Binary("ne", widen(Operand(window(blocked, bat, (sq, 1))), t), ninf)
            elif post_scale and not prescaled or cap > 0:
                stmts.append(Compute(sc, narrow(scaled, t)))
            stmts += reduce_chunks(kb, "max", mx, sc)
            sink: Expr | None = None
            if sinks is not None:  # one more key per row: the head's sink logit, with no value
                sink = widen(Operand(views.broadcast(views.reshape(views.window(sinks, (head,), (1,)), (1, 1)),
                                                     (sq, 1))), t)
                stmts.append(Compute(mx, narrow(Binary("max", widen(Operand(mx), t), sink), t)))
            shift: Expr = widen(Operand(mx), t)
            if may_block:
                shift = Select(Binary("eq", shift, ninf), const(0, F32), shift)
            stmts.append(Compute(ex, narrow(Unary("exp", Binary("sub", widen(Operand(sc), t), shift)), t)))
            deferred = outputs is not None and not may_block
            if deferred and probs is not exps:
                # Normalised after ``@ v`` (store_stmts): the product waits only for the exps in
                # its type, the row sum and its reciprocal run on the VPU under it.
                stmts.append(Compute(rows_block(probs, at[0], sq, kl), narrow(widen(Operand(ex), t), rt)))
            stmts += reduce_chunks(kb, "sum", sm, ex)
            if sink is not None:
                stmts.append(Compute(sm, narrow(Binary("add", widen(Operand(sm), t),
                                                       Unary("exp", Binary("sub", sink, shift))), t)))
            total_w: Expr = widen(Operand(sm), t)
            if may_block:
                total_w = Select(Binary("eq", total_w, const(0, F32)), const(1, F32), total_w)
            # One reciprocal per row, then a product per element (a division costs as an exp).
            stmts.append(Compute(sm, narrow(Unary("rcp", total_w), t)))
            if deferred:
                return stmts
            divided: Expr = Binary("mul", widen(Operand(ex), t), widen(Operand(sm), t))
            if keep is not None:
                divided = Select(keep, divided, const(0, F32))
            stmts.append(Compute(rows_block(probs, at[0], sq, kl), narrow(divided, rt)))
            return stmts

        def output_stmts(b: Affine, g: Affine, r: Affine, s0: Affine, sq: int, kl: int, k0: int = 0) -> list[Stmt]:
            """Query head ``g * group + r``'s output rows ``s0 + [0, sq)``: its weights ``@ v``."""
            head = g * group + r
            ex = rows_block(probs, rows_of(head), sq, kl)
            value = (views.reshape(views.window(values, (g, Affine(k0), zero), (1, kl, dv)), (kl, dv))
                     if values is not None else head_matrix(vv, (b, g, k0, 0), (1, 1, kl, dv)))
            dst = head_matrix(out, (b, head, s0, 0), (1, 1, sq, dv))
            if outputs is None:  # a parallel head loop's adds into the zeroed output
                return [MatMul(dst, ex, value, accumulate=parallel)]
            return [MatMul(window(outputs, (rows_of(head), zero), (sq, dv)), ex, value)]

        def store_stmts(b: Affine, g: Affine, r: Affine, s0: Affine, sq: int, kl: int, k0: int = 0) -> list[Stmt]:
            """Query head ``g * group + r``'s output rows from the local to the result."""
            assert outputs is not None
            head = g * group + r
            dst, rows = head_matrix(out, (b, head, s0, 0), (1, 1, sq, dv)), window(outputs, (rows_of(head), zero), (sq, dv))
            if may_block:
                return [Copy(dst, rows)]
            # The weights were left unnormalised (weights_stmts): each output row takes its
            # reciprocal row sum here, over dv columns instead of the row's keys.
            scale = window(row_sum, (rows_of(head), zero), (sq, 1))
            return [Compute(dst, narrow(Binary("mul", widen(Operand(rows), t), widen(Operand(scale), t)), t))]

        def query_tile(starts: Starts, sizes: Sizes, kl: int = length, k0: int = 0) -> list[Stmt]:
            """Query rows ``s0 + [0, sq)`` against keys ``k0 + [0, kl)`` (the other keys are hidden
            from every row of the tile)."""
            b, s0 = starts
            sq = sizes[1]
            if phased:
                start, end = phased_tile(b, s0, sq, kl, k0)
                return start + end

            def heads(*parts: Callable[..., list[Stmt]]) -> list[Stmt]:
                return tile_loops(kb, (hkv, group), (1, 1),
                                  lambda hs, _: [st for part in parts for st in part(b, hs[0], hs[1], s0, sq, kl, k0)])

            stmts = bias_stmts(b, zero, s0, sq, kl, k0) if shared_bias else []
            both = heads(weights_stmts, output_stmts)
            return stmts + (_parallel_heads(both, out.buffer) if parallel else both)

        def phased_tile(b: Affine, s0: Affine, sq: int, kl: int, k0: int = 0) -> tuple[list[Stmt], list[Stmt]]:
            """A phased query tile as (its fills and every head's weights, every head's outputs
            and stores), built over the current set of head rows: in program order the MXU
            computes head h + 1's scores before head h's output, while the VPU works."""
            def heads(part: Callable[..., list[Stmt]]) -> list[Stmt]:
                return tile_loops(kb, (hkv, group), (1, 1), lambda hs, _: part(b, hs[0], hs[1], s0, sq, kl, k0))

            stmts: list[Stmt] = []
            if queries is not None:  # every head's query rows in one burst of loads
                rows = views.reshape(views.window(qs, (b, 0, s0, 0), (1, hq, sq, d)), (hq, sq, d))
                stmts += fill(views.window(queries, (zero, zero, zero), (hq, sq, d)), rows,
                              op.attrs["scale"] if prescaled else None)
            # The shared bias after the queries: the first product needs the queries, the bias
            # only its result (in the vector unit's in-order queue, a bias waiting on its mask's
            # load would hold the queries' conversion up).
            stmts += bias_stmts(b, zero, s0, sq, kl, k0) if shared_bias else []
            return stmts + heads(weights_stmts), heads(output_stmts) + heads(store_stmts)

        def batch_entry(starts: Starts, sizes: Sizes) -> list[Stmt]:
            b = starts[0]
            stmts: list[Stmt] = []
            if keys is not None and values is not None:
                for local, view, width in ((keys, ks, d), (values, vv, dv)):
                    whole = views.reshape(views.window(view, (b, 0, 0, 0), (1, hkv, length, width)), (hkv, length, width))
                    stmts += fill(local, whole)
            if causal_tiles and parallel:  # per head, each query tile with only the keys its rows see
                def tiles_of_head(hs: Starts, _: Sizes) -> list[Stmt]:
                    stmts_: list[Stmt] = []
                    if keys_t is not None:
                        stmts_ += tiled_copy(kb, keys_t, views.permute(head_matrix(ks, (b, hs[0], 0, 0), (1, 1, length, d)),
                                                                      (1, 0)))
                    return stmts_ + [st for s0, sq in causal_tiles for part in (weights_stmts, output_stmts)
                                     for st in part(b, hs[0], hs[1], Affine(s0), sq, *reversed(keys_of(s0, sq)))]

                return stmts + _parallel_heads(tile_loops(kb, (hkv, group), (1, 1), tiles_of_head), out.buffer)
            if causal_tiles and sets == 2:  # weights of tile i + 1 before the outputs of tile i
                ends: list[Stmt] = []
                for index, (s0, sq) in enumerate(causal_tiles):
                    current_set[0] = index % 2
                    start, end = phased_tile(b, Affine(s0), sq, *reversed(keys_of(s0, sq)))
                    stmts += start + ends
                    ends = end
                current_set[0] = 0
                return stmts + ends
            if causal_tiles:
                for s0, sq in causal_tiles:
                    stmts += query_tile((b, Affine(s0)), (1, sq), *reversed(keys_of(s0, sq)))
                return stmts
            return stmts + tile_loops(kb, (s,), (tq,), lambda qs_, qz: query_tile((b, qs_[0]), (1, qz[0])))

        if parallel:
            kb.emit(tiled_compute(kb, out, [], lambda xs: narrow(const(0, F32), t)))
        kb.emit(tile_loops(kb, (batch,), (1,), batch_entry))


def _visible_keys(op: Op, s: int, length: int) -> np.ndarray | None:
    """``[s, length]`` bool: the keys each query row can see by what is known at compile time
    (the causal rule, bottom-right aligned, and a constant mask's entries that are true, or
    above ``-inf``, for some batch entry and head); None when nothing is known (every key may
    be seen)."""
    known: np.ndarray | None = None
    if op.attrs["is_causal"]:
        known = np.arange(length)[None, :] <= np.arange(s)[:, None] + (length - s)
    if len(op.operands) > 3:
        producer = op.operands[3].producer
        if producer is not None and producer.is_const:
            values = np.asarray(producer.attrs["value"])
            seen = values if values.dtype == np.bool_ else values > -np.inf
            seen = np.broadcast_to(seen, (*seen.shape[:-2], s, length)).reshape(-1, s, length).any(axis=0)
            known = seen if known is None else known & seen
    return known


def _hides_a_tile(visible: np.ndarray | None, rows: int) -> bool:
    """Whether some query tile of ``rows`` rows has keys no row of it sees (at either end)."""
    if visible is None:
        return False
    for s0 in range(0, visible.shape[0], rows):
        seen = np.flatnonzero(visible[s0:s0 + rows].any(axis=0))
        if seen.size == 0 or seen[0] > 0 or seen[-1] < visible.shape[1] - 1:
            return True
    return False


def rows_block(local: View, row0: Affine, rows: int, cols: int) -> View:
    """``rows x cols`` contiguous elements of a row-major ``local`` from its row ``row0`` on: a
    query tile's scores over fewer keys than the local's width stay one dense block (each row
    its own strided piece would cost the vector unit an instruction per row)."""
    width = local.shape[-1]
    assert rows * cols <= (local.shape[0] * width) and local.strides == (width, 1)
    return View(local.buffer, local.offset + row0 * width, (rows, cols), (cols, 1))


def _parallel_heads(stmts: list[Stmt], out: str) -> list[Stmt]:
    """``stmts`` with their outermost head loop marked parallel (each head adds its output rows
    into ``out``, zeroed before), so that a target with threads runs heads side by side."""
    for index, stmt in enumerate(stmts):
        if isinstance(stmt, For):
            return stmts[:index] + [dataclasses.replace(stmt, parallel=Parallel((out,)))] + stmts[index + 1:]
    return stmts


def _mlp(kb: KernelBuilder, x: View, w_gate: View, w_up: View, w_down: View, y: View, g: View, u: View,
         act: str) -> list[Stmt]:
    """``y = (act(x @ w_gate) * (x @ w_up)) @ w_down`` through the f32 buffers ``g`` and ``u``."""
    stmts = emit_matmul(kb, g, x, w_gate) + emit_matmul(kb, u, x, w_up)
    stmts += tiled_compute(kb, g, [g, u], lambda xs: Binary("mul", activation(act, xs[0], F32), xs[1]))
    return stmts + emit_matmul(kb, y, g, w_down)


@register_rule("gated_mlp")
def lower_gated_mlp(op: Op, ctx: LoweringContext) -> None:
    """Three kernels, as the decomposed form fuses: ``g = x @ w_gate``; ``u = x @ w_up`` with the
    epilogue ``act(g) * u`` (``u`` stays on chip); then ``@ w_down`` in the op's own kernel (the
    open fusion group's, so a residual add after it joins as its epilogue). On in-order units
    one kernel (:func:`~.streamed_mlp.emit_streamed_mlp`) below the row floor."""
    x, w_gate, w_up, w_down = op.operands
    hidden, ffn = w_gate.type.shape
    tokens = x.type.numel // hidden
    out = views.reshape(ctx.result(op.result), (tokens, w_down.type.shape[1]))
    act = op.attrs["activation"]
    if ctx.params.in_order_units:
        try:
            dense_rows = views.reshape(ctx.view(x), (tokens, hidden))
        except ValueError:
            dense_rows = None
        if dense_rows is not None and streams(ctx.params, tokens, ffn, w_down.type.shape[1]):
            def gated(products: list[Expr], j0: Affine, mz: int, nz: int) -> Expr:
                return Binary("mul", activation(act, products[0], F32), products[1])

            with ctx.op_kernel(op) as kb:
                kb.emit(emit_streamed_mlp(kb, dense_rows, [ctx.view(w_gate), ctx.view(w_up)], ctx.view(w_down), out, gated))
            return
    g = ctx.add_global(f"{op.result.name}_gate", F32, (tokens, ffn))
    u = ctx.add_global(f"{op.result.name}_up", F32, (tokens, ffn))
    gate = KernelBuilder(ctx, ctx.fresh_step(f"{op.result.name}_gate"), sources_of(op))
    try:
        rows = views.reshape(ctx.view(x), (tokens, hidden))
    except ValueError:
        # Not a view of x (a transposed input): copied in the gate kernel, before its product.
        # (Through ctx.contiguous the copy would join the open fusion group, whose kernel is
        # appended after the gate and up kernels that read it.)
        view = ctx.view(x)
        dense = ctx.add_global(x.name, ctx.dtype(view), tuple(view.shape))
        gate.emit(tiled_copy(gate, as_rank1(dense), as_rank1(view)))
        rows = views.reshape(dense, (tokens, hidden))
    gate.emit(emit_matmul(gate, g, rows, ctx.view(w_gate)))
    ctx.append_kernel(gate)
    up = KernelBuilder(ctx, ctx.fresh_step(f"{op.result.name}_up"), sources_of(op))
    up.emit(emit_matmul(up, u, rows, ctx.view(w_up))
            + tiled_compute(up, g, [g, u], lambda xs: Binary("mul", activation(act, xs[0], F32), xs[1])))
    ctx.append_kernel(up)
    with ctx.op_kernel(op) as kb:
        kb.emit(emit_matmul(kb, out, g, ctx.view(w_down)))


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


__all__ = ["lower_attention", "lower_gated_mlp", "lower_moe", "lower_moe_dense"]
