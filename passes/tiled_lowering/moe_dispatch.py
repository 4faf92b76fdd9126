"""Sparse dispatch of a ``moe`` op: each expert runs only on the tokens routed to it.

Part of the tiled lowering (:mod:`moecc.passes.tiled_lowering`); the ``moe`` rule
(:mod:`.composite`) calls :func:`lower_moe_sparse` unless the lowering was asked for the dense
form. The plan, for ``T`` tokens, ``E`` experts, top-``K`` routing and token tiles of ``R``
rows (``S = ceil(T / R) * R`` slots per expert):

1. **Route** (one kernel): router logits ``x @ router_w (+ router_b)``, softmax rows, top-``K``
   per token (ties to the lower expert, as the reference), renormalised when ``normalize``. With
   DeepSeek-V3's routing attributes: sigmoid scores, the selection bias added, group scores (a
   top-2 and a sum per group), the kept groups' top-k, the others masked, the top-``K`` of the
   corrected scores, the uncorrected scores of the chosen experts picked by one-hot row sums,
   renormalised, times ``routed_scaling`` (:class:`_Selection`).
2. **Dispatch** (one kernel, ``<result>_route_dispatch``: kept f32 with the router): per-expert
   token lists built in token order by a histogram and prefix count (:func:`_dispatch`): the
   ``(token, choice)`` pairs as a one-hot ``[T * K, E]``, each pair's rank among its expert's
   by a blocked triangular matmul, its slot ``e * S + rank``; the slot tables
   ``slot_token[E, S]`` and ``slot_weight[E, S]`` start as padding (token ``T``, weight 0) and
   the tokens and routing weights are scattered to their slots; ``counts[e]`` is the one-hot's
   column sum and ``tiles[e] = ceil(counts[e] / R)``.
3. **Experts** (one kernel): for each expert ``e``, a loop whose trip count ``tiles[e]`` is
   read at run time (at most ``S / R``): gather the tile's token rows (``x`` padded with a zero
   row ``T``), run the expert's MLP on them in f32 (``ffn`` in chunks of ``tile_cols``) with
   matmuls that compute only the tile's real rows (``rows[e, i]``, a run-time row count),
   scale each row by its routing weight and scatter-add the rows into an f32 accumulator of
   ``T + 1`` rows (padding rows land in row ``T``, which is dropped).
4. The first ``T`` accumulator rows, rounded to ``x``'s dtype, are the result.

Experts are visited in index order, so each token's output sums its experts' contributions in
the order the reference does. The expert loop is marked ``parallel`` (it only adds into the
accumulator): the CPU back end with threads runs ranges of experts concurrently, each into a
private copy of the accumulator, and adds the copies in a fixed order afterwards (the same
sums for top-2; with top-k > 2 a token's contributions may associate differently). The experts' matmuls run ``sum_e tokens[e]`` rows instead of
``E * T`` (no FLOPs on padding, dropless); gathers, scatters and element-wise steps move whole
tiles.
"""

from __future__ import annotations

import math

import numpy as np

from moecc.ir.affine import Affine
from moecc.ir.graph import Op
from moecc.ir.ops.composite import (
    is_softmax_routed,
    moe_groups,
    moe_operand_layout,
    moe_routed_scaling,
    moe_scoring,
)
from moecc.ir.tiled import views
from moecc.ir.tiled.nodes import (
    Binary,
    Cast,
    Compute,
    Copy,
    ElementRef,
    Expr,
    For,
    Gather,
    MatMul,
    Operand,
    Parallel,
    Reduce,
    Scatter,
    Select,
    Stmt,
    TopK,
    Unary,
    View,
)
from moecc.ir.types import DType
from moecc.passes.tiled_lowering.context import KernelBuilder, LoweringContext, const, sources_of
from moecc.passes.tiled_lowering.contractions import emit_matmul
from moecc.passes.tiled_lowering.elementwise import activation, moe_glu, narrow
from moecc.passes.tiled_lowering.reductions import row_tile, softmax_rows
from moecc.passes.tiled_lowering.tiles import Sizes, Starts, tile_loops, tiled_compute, window

F32 = DType.F32
I32 = DType.I32
def token_tile(tokens: int, tile_rows: int) -> int:
    """Rows of an expert's token tile: the tiling's ``expert_rows`` (else its tile rows), at most
    ``tokens``. The experts' matmuls compute only a tile's real rows (a run-time row count), so
    on the CPU a big tile costs no FLOPs on padding and packs an expert's weights once; the
    ASIC computes whole tiles and asks for small ones (each expert pads to one tile)."""
    return max(1, min(tokens, tile_rows))


def _expert(view: View, e: Affine, shape: tuple[int, ...]) -> View:
    """Expert ``e``'s slice of a stacked ``[E, *shape]`` view, as a ``shape`` view."""
    return views.reshape(views.window(view, (e,) + (0,) * len(shape), (1,) + shape), shape)


def lower_moe_sparse(op: Op, ctx: LoweringContext) -> None:
    attrs = op.attrs
    operands = dict(zip(moe_operand_layout(attrs), op.operands))
    x = operands["x"]
    t = x.type.dtype
    tokens, hidden = x.type.shape
    experts = operands["router_w"].type.shape[1]
    ffn = operands["w_gate"].type.shape[2]
    top = attrs["top_k"]
    gated, biased = bool(attrs.get("gated", True)), bool(attrs.get("expert_bias", False))
    name = op.result.name
    rows = token_tile(tokens, ctx.params.expert_rows or ctx.params.tile_rows)
    rows = fitting_token_tile(rows, hidden, ffn, gated, ctx.params.expert_bytes, ctx.params.expert_weight_bytes)
    # With a capacity factor an expert takes at most ``capacity`` tokens (the first ones, in
    # token order); the others are dropped (their slot is a sink row no expert reads).
    capacity = expert_capacity(ctx.capacity_factor, tokens, top, experts)
    tiles_max = math.ceil(capacity / rows)
    slots = tiles_max * rows
    sink = experts * slots if capacity < tokens else None
    sources = (op.source or op.kind,)

    probs = ctx.add_global(f"{name}_probs", F32, (tokens, experts))
    top_v = ctx.add_global(f"{name}_route_weight", F32, (tokens, top))
    # Kept after the run (not reused): the routing a run chose, for recording and checking it.
    top_i = ctx.add_global(f"{name}_route_expert", I32, (tokens, top), "output")
    emit_route(ctx, op, operands, probs, top_v, top_i)
    if ctx.routing is not None:  # a what-if: the router's choices replaced (routing_whatif)
        chosen = ctx.routing.choices(len(ctx.moe_layers), tokens, experts, top)
        with ctx.kernel(f"{name}_route_whatif", sources) as kb:
            kb.emit([Copy(top_i, ctx.constant(chosen, f"{name}_whatif_experts"))])

    # Kept after the run (not a temp whose space is reused): the routing report reads it.
    counts = ctx.add_global(f"{name}_tokens_per_expert", I32, (experts, 1), "output")
    ctx.moe_layers.append({"op": name, "onnx_node": op.source or op.kind, "tokens": tokens, "experts": experts,
                           "top_k": top, "hidden": hidden, "ffn": ffn, "gated": gated, "token_tile": rows,
                           "counts_buffer": counts.buffer, "experts_buffer": top_i.buffer,
                           "routing": ctx.routing.text if ctx.routing is not None else "model",
                           "capacity": capacity if sink is not None else None})
    tiles = ctx.add_global(f"{name}_tiles_per_expert", I32, (experts, 1))
    tile_rows = ctx.add_global(f"{name}_rows_per_tile", I32, (experts, tiles_max))
    tile_starts = ctx.constant(np.arange(tiles_max, dtype=np.int32).reshape(1, -1) * rows, f"{name}_tile_starts")
    table_rows = experts * slots + (1 if sink is not None else 0)
    slot_token = ctx.add_global(f"{name}_slot_token", I32, (table_rows, 1))
    slot_weight = ctx.add_global(f"{name}_slot_weight", F32, (table_rows, 1))
    token_of = ctx.constant(np.repeat(np.arange(tokens, dtype=np.int32), top).reshape(-1, 1), f"{name}_token_of")
    with ctx.kernel(f"{name}_route_dispatch", sources) as kb:
        kb.emit(_dispatch(kb, top_v, top_i, counts, tiles, tile_rows, tile_starts, slot_token, slot_weight, token_of,
                          rows, slots, tokens, capacity, sink))

    padded = ctx.add_global(f"{name}_x_padded", t, (tokens + 1, hidden))
    acc = ctx.add_global(f"{name}_combined", F32, (tokens + 1, hidden))
    out = ctx.result(op.result)
    with ctx.kernel(f"{name}_experts", sources) as kb:
        kb.emit(tiled_compute(kb, window(padded, (Affine(0), Affine(0)), (tokens, hidden)), [ctx.view(x)], lambda xs: xs[0]))
        kb.emit(tiled_compute(kb, window(padded, (Affine(tokens), Affine(0)), (1, hidden)), [], lambda xs: const(0, t)))
        kb.emit(tiled_compute(kb, acc, [], lambda xs: const(0, F32)))
        expert_loop = _experts(kb, op, operands, padded, acc, tiles, tile_rows, slot_token, slot_weight, rows,
                               tiles_max, slots, experts, hidden, ffn, gated, biased, counts)
        kb.emit(expert_loop)
        kb.emit(tiled_compute(kb, out, [window(acc, (Affine(0), Affine(0)), (tokens, hidden))],
                              lambda xs: narrow(xs[0], t)))
    # Which kernel and loop variable run the experts (a trace labels their work by expert).
    ctx.moe_layers[-1].update({"experts_kernel": kb.name, "expert_var": expert_loop[0].var})


def emit_route(ctx: LoweringContext, op: Op, operands: dict, probs: View, top_v: View, top_i: View) -> None:
    """The router kernel ``<result>_route`` of a ``moe`` op (sparse and dense forms alike):
    probabilities, the top-k experts of each token and their (renormalised) weights. A kernel of
    its own, so that the ASIC can keep it in f32 at precision bf16 while the experts run bf16.

    DeepSeek-V3's routing (:class:`~moecc.ir.ops.composite.Moe`'s optional routing attributes)
    is :func:`_select_experts`: sigmoid scores, a selection bias, group-limited candidates, the
    top-k of the corrected scores and the uncorrected scores of the chosen experts as weights."""
    tokens, experts = probs.shape
    top = top_v.shape[1]
    attrs = op.attrs
    plain = is_softmax_routed(attrs)
    with ctx.kernel(f"{op.result.name}_route", sources_of(op)) as kb:
        kb.emit(emit_matmul(kb, probs, ctx.view(operands["x"]), ctx.view(operands["router_w"])))
        if "router_b" in operands:
            bias = views.broadcast(views.reshape(ctx.view(operands["router_b"]), (1, experts)), (tokens, experts))
            b_t = ctx.dtype(bias)
            kb.emit(tiled_compute(kb, probs, [probs, bias], lambda xs: Binary(
                "add", xs[0], xs[1] if b_t == F32 else Cast(F32, xs[1]))))
        tile = row_tile(kb, (tokens,), experts, 2 if plain else 5)
        scratch = [kb.local(n, F32, tile + (w,)) for n, w in (("row_max", 1), ("exps", experts), ("row_sum", 1))]
        sums = kb.local("top_sum", F32, tile + (1,))
        select = None if plain else _Selection(kb, operands, attrs, tile, experts, top)

        def route(starts: Starts, sizes: Sizes) -> list[Stmt]:
            z = (Affine(0), Affine(0))
            row_probs = window(probs, starts + (Affine(0),), sizes + (experts,))
            if moe_scoring(attrs) == "sigmoid":
                stmts: list[Stmt] = [Compute(row_probs, Unary("sigmoid", Operand(row_probs)))]
            else:
                stmts = softmax_rows(kb, False, F32, row_probs, row_probs,
                                     [window(b, z, sizes + (b.shape[-1],)) for b in scratch])
            values = window(top_v, starts + (Affine(0),), sizes + (top,))
            indices = window(top_i, starts + (Affine(0),), sizes + (top,))
            if select is None:
                stmts.append(TopK(values, indices, row_probs, True))
            else:
                stmts += select.emit(row_probs, values, indices, sizes[0])
            if attrs["normalize"]:
                total = window(sums, z, sizes + (1,))
                stmts += [Reduce("sum", total, values), Compute(values, Binary("div", Operand(values), Operand(total)))]
            scale = moe_routed_scaling(attrs)
            if scale != 1.0:
                stmts.append(Compute(values, Binary("mul", Operand(values), const(scale, F32))))
            return stmts

        kb.emit(tile_loops(kb, (tokens,), tile, route))


#: The score a candidate outside the kept groups gets: below every finite corrected score (the
#: reference's -inf; the op needs ``top_k`` candidates inside the kept groups, so it is never chosen).
_MASKED = -float(np.finfo(np.float32).max)


class _Selection:
    """DeepSeek-V3's expert choice for a tile of router rows (see :class:`Moe`): the corrected
    scores ``choice = scores + select_b`` in a local; with groups, each group's score is the sum
    of its top 2 (a top-k of the ``[rows * G, E / G]`` view, a row sum), the top ``topk_group``
    groups are marked in a 0/1 ``[rows, G]`` local (one compare per kept slot) and the other
    groups' candidates set to a score below every finite one; the top-k of ``choice`` gives the
    experts, and each chosen expert's weight is its uncorrected score picked by a one-hot row
    sum (a select of the score where the expert id matches, zeros elsewhere: exact)."""

    def __init__(self, kb: KernelBuilder, operands: dict, attrs: dict, tile: tuple[int, ...], experts: int,
                 top: int) -> None:
        ctx = kb.ctx
        name = kb.name
        self.experts, self.top = experts, top
        self.n_group, self.topk_group = moe_groups(attrs)
        self.size = experts // self.n_group
        rows = tile[0]
        self.select_b = None
        if "select_b" in operands:
            self.select_b = views.reshape(ctx.view(operands["select_b"]), (1, experts))
        self.bias_f32 = self.select_b is not None and ctx.dtype(self.select_b) == F32
        self.choice = kb.local("route_choice", F32, (rows, experts))
        self.onehot = kb.local("route_pick", F32, (rows, experts))
        self.ids = ctx.constant(np.arange(experts, dtype=np.float32).reshape(1, -1), f"{name}_expert_ids")
        if self.n_group > 1:
            g = self.n_group
            self.pair = kb.local("group_top2", F32, (rows * g, 2))
            self.pair_i = kb.local("group_top2_index", I32, (rows * g, 2))
            self.group_score = kb.local("group_score", F32, (rows * g, 1))
            self.kept = kb.local("group_kept", F32, (rows, self.topk_group))
            self.kept_i = kb.local("group_kept_index", I32, (rows, self.topk_group))
            self.keep = kb.local("group_keep", F32, (rows, g))
            self.group_ids = ctx.constant(np.arange(g, dtype=np.float32).reshape(1, -1), f"{name}_group_ids")

    def emit(self, scores: View, values: View, indices: View, rows: int) -> list[Stmt]:
        e, z = self.experts, (Affine(0), Affine(0))
        choice = window(self.choice, z, (rows, e))
        corrected: Expr = Operand(scores)
        if self.select_b is not None:
            b = views.broadcast(self.select_b, (rows, e))
            corrected = Binary("add", corrected, Operand(b) if self.bias_f32 else Cast(F32, Operand(b)))
        stmts: list[Stmt] = [Compute(choice, corrected)]
        if self.n_group > 1:
            g, size = self.n_group, self.size
            pair = window(self.pair, z, (rows * g, 2))
            group_score = window(self.group_score, z, (rows * g, 1))
            keep = window(self.keep, z, (rows, g))
            stmts += [
                TopK(pair, window(self.pair_i, z, (rows * g, 2)), views.reshape(choice, (rows * g, size)), True),
                Reduce("sum", group_score, pair),
                TopK(window(self.kept, z, (rows, self.topk_group)), window(self.kept_i, z, (rows, self.topk_group)),
                     views.reshape(group_score, (rows, g)), True),
                Compute(keep, const(0, F32)),
            ]
            ids = Operand(views.broadcast(self.group_ids, (rows, g)))
            for j in range(self.topk_group):
                slot = views.broadcast(window(self.kept_i, (Affine(0), Affine(j)), (rows, 1)), (rows, g))
                stmts.append(Compute(keep, Binary("max", Operand(keep), Cast(F32, Binary(
                    "eq", Cast(F32, Operand(slot)), ids)))))
            for group in range(g):
                part = window(self.choice, (Affine(0), Affine(group * size)), (rows, size))
                kept = views.broadcast(window(self.keep, (Affine(0), Affine(group)), (rows, 1)), (rows, size))
                stmts.append(Compute(part, Select(Binary("gt", Operand(kept), const(0.5, F32)), Operand(part),
                                                  const(_MASKED, F32))))
        stmts.append(TopK(values, indices, choice, True))
        pick = window(self.onehot, z, (rows, e))
        expert_ids = Operand(views.broadcast(self.ids, (rows, e)))
        for j in range(self.top):
            chosen = views.broadcast(views.window(indices, (0, j), (rows, 1)), (rows, e))
            stmts += [
                Compute(pick, Select(Binary("eq", Cast(F32, Operand(chosen)), expert_ids), Operand(scores),
                                     const(0, F32))),
                Reduce("sum", views.window(values, (0, j), (rows, 1)), pick),
            ]
        return stmts


#: Choices (token, expert) per block of the prefix count in :func:`_dispatch`.
SCAN_BLOCK = 128


#: ``moe="auto"`` dispatches sparsely when the estimated matmul rows come to at most this share
#: of dense's: the routing, the dispatch and the per-tile latency are not free.
AUTO_SPARSE_SHARE = 0.75


def choose_moe(op: Op, ctx: LoweringContext) -> str:
    """``"sparse"`` or ``"dense"`` for one ``moe`` op under ``moe="auto"``, from the rows its
    experts' matmuls would run, tokens spread evenly (``tokens * k / experts`` per expert): a
    matmul over ``r`` rows costs ``max(r, row_floor)`` (:class:`~.context.TilingParams`), and
    an expert's tiles stream their real rows.
    On a weight-stationary array in bf16 the floor is the array height and dense wins; in f32,
    or on a CPU, sparse does. A routing what-if or a capacity factor needs sparse dispatch."""
    if ctx.routing is not None or ctx.capacity_factor:
        return "sparse"
    tokens = op.operands[0].type.shape[0]
    experts = op.operands[1].type.shape[1]
    top = op.attrs["top_k"]
    floor = ctx.params.row_floor
    per_expert = tokens * top / experts
    # A token tile's matmuls stream its real rows (a run-time row count) at the floor's cost.
    hidden, ffn = op.operands[0].type.shape[1], op.operands[2].type.shape[2]
    rows = fitting_token_tile(token_tile(tokens, ctx.params.expert_rows or ctx.params.tile_rows), hidden, ffn,
                              bool(op.attrs.get("gated", True)), ctx.params.expert_bytes,
                              ctx.params.expert_weight_bytes)
    full, rest = divmod(per_expert, rows)
    sparse = experts * (full * max(rows, floor) + (max(rest, floor) if rest else 0))
    dense = experts * max(tokens, floor)
    return "sparse" if sparse <= AUTO_SPARSE_SHARE * dense else "dense"


#: Rows an expert's token tile keeps at least when it shrinks to fit ``expert_bytes``.
MIN_FITTED_TILE = 8


def fitting_token_tile(rows: int, hidden: int, ffn: int, gated: bool, budget: int, weight_bytes: int = 4) -> int:
    """``rows``, halved (down to :data:`MIN_FITTED_TILE`) while one expert's weights
    (``weight_bytes`` an element) and its double-buffered f32 token tiles (tokens, products,
    activations, output) would take more than ``budget`` bytes (0: no limit)."""
    weights = (3 if gated else 2) * hidden * ffn * weight_bytes
    while budget and rows > MIN_FITTED_TILE and weights + 2 * rows * (3 * hidden + 3 * ffn) * 4 > budget:
        rows = max(MIN_FITTED_TILE, rows // 2)
    return rows


def expert_capacity(factor: float, tokens: int, top_k: int, experts: int) -> int:
    """Tokens an expert takes: all of them (``factor`` 0: dropless), else
    ``ceil(factor * tokens * top_k / experts)`` (GShard's capacity), between 1 and ``tokens``."""
    if not factor:
        return tokens
    return max(1, min(tokens, math.ceil(factor * tokens * top_k / experts)))


def _dispatch(kb: KernelBuilder, top_v: View, top_i: View, counts: View, tiles: View, tile_rows: View,
              tile_starts: View, slot_token: View, slot_weight: View, token_of: View, rows: int, slots: int,
              tokens: int, capacity: int,
              sink: int | None) -> list[Stmt]:
    """The slot tables, token counts and tile counts of every expert, by a prefix count.

    The ``P = tokens * k`` choices in token order become a one-hot ``[P, E]`` (f32 0/1). A
    choice's rank among its expert's is the number of earlier choices of that expert: per
    block of :data:`SCAN_BLOCK` choices, a strictly-lower-triangular ones matrix times the
    block's one-hot, plus the counts of the blocks before (a ``[1, E]`` running sum, itself a
    ones-row times each block). Its slot is ``expert * S + rank`` (a row sum of the one-hot
    times ``iota * S + rank``); the token ids and routing weights are scattered to the slots.
    Matmuls of 0/1 values sum exactly in f32; the order is the token order the reference's
    sequential fill gives. Everything is a tile statement: no per-choice loop."""
    ctx = kb.ctx
    choices = top_v.shape[0] * top_v.shape[1]
    experts = counts.shape[0]
    weights = views.reshape(top_v, (choices, 1))
    experts_of = views.broadcast(views.reshape(top_i, (choices, 1)), (choices, experts))
    name = counts.buffer.removesuffix("_tokens_per_expert")
    block = min(choices, SCAN_BLOCK)
    ids = ctx.constant(np.arange(experts, dtype=np.float32).reshape(1, -1), f"{name}_expert_ids")
    bases = ctx.constant((np.arange(experts, dtype=np.float32) * slots).reshape(1, -1), f"{name}_slot_bases")
    lower = ctx.constant(np.tril(np.ones((block, block), dtype=np.float32), -1), f"{name}_earlier")
    ones = ctx.constant(np.ones((1, block), dtype=np.float32), f"{name}_ones")
    onehot = ctx.add_global(f"{name}_onehot", F32, (choices, experts))
    rank = ctx.add_global(f"{name}_rank", F32, (choices, experts))
    position = ctx.add_global(f"{name}_slot_f", F32, (choices, 1))
    slot = ctx.add_global(f"{name}_slot", I32, (choices, 1))
    running = kb.local("expert_running_count", F32, (1, experts))
    full = (choices, experts)
    stmts: list[Stmt] = [
        *tiled_compute(kb, onehot, [experts_of, views.broadcast(ids, full)],
                       lambda xs: Cast(F32, Binary("eq", Cast(F32, xs[0]), xs[1]))),
        Compute(running, const(0, F32)),
    ]

    def scan(start: Affine, n: int) -> list[Stmt]:
        hot = views.window(onehot, (start, 0), (n, experts))
        ranked = views.window(rank, (start, 0), (n, experts))
        return [
            MatMul(ranked, views.window(lower, (0, 0), (n, n)), hot),
            Compute(ranked, Binary("add", Operand(ranked), Operand(views.broadcast(running, (n, experts))))),
            MatMul(running, views.window(ones, (0, 0), (1, n)), hot, accumulate=True),
        ]

    full_blocks, tail = divmod(choices, block)
    if full_blocks > 1:
        b = kb.var()
        stmts.append(For(b, full_blocks, tuple(scan(Affine.of(b) * block, block))))
    elif full_blocks == 1:
        stmts += scan(Affine(0), block)
    if tail:
        stmts += scan(Affine(full_blocks * block), tail)
    per_expert = View(running.buffer, running.offset, (experts, 1), (1, 0))  # the counts as a column
    taken: Expr = Operand(per_expert)  # the tokens each expert takes: all, or up to its capacity
    if sink is not None:
        taken = Binary("min", taken, const(capacity, F32))

    def slot_of(xs: list[Expr]) -> Expr:
        """The one-hot times the choice's slot (its expert's base + its rank), or, past the
        capacity, the sink row: the row sum is the choice's slot."""
        slot: Expr = Binary("add", xs[1], xs[2])
        if sink is not None:
            slot = Select(Binary("lt", xs[1], const(capacity, F32)), slot, const(sink, F32))
        return Binary("mul", xs[0], slot)

    stmts += [
        *tiled_compute(kb, rank, [onehot, rank, views.broadcast(bases, full)], slot_of),
        Reduce("sum", position, rank),
        *tiled_compute(kb, slot, [position], lambda xs: Cast(I32, xs[0])),
        Compute(counts, Cast(I32, Operand(per_expert))),
        # ceil(min(count, capacity) / rows) in f32: exact (an integer quotient is exact; a fraction
        # is at least 1/rows from the next integer), and no integer division (the VPU divides floats).
        Compute(tiles, Cast(I32, Unary("ceil", Binary("div", taken, const(rows, F32))))),
        # The tokens in each tile, min(max(taken - start, 0), rows), from the counts in local
        # memory (not read back from the global just written).
        *tiled_compute(kb, tile_rows, [views.broadcast(per_expert, tile_rows.shape),
                                       views.broadcast(tile_starts, tile_rows.shape)],
                       lambda xs: Cast(I32, Binary("min", Binary("max", Binary(
                           "sub", Binary("min", xs[0], const(capacity, F32)) if sink is not None else xs[0],
                           Cast(F32, xs[1])), const(0, F32)), const(rows, F32)))),
        *tiled_compute(kb, slot_token, [], lambda xs: const(tokens, I32)),
        *tiled_compute(kb, slot_weight, [], lambda xs: const(0, F32)),
        # The slots and token ids below are built here, in range: targets need not wrap them.
        Scatter(slot_token, views.reshape(slot, (choices,)), token_of, in_bounds=True),
        Scatter(slot_weight, views.reshape(slot, (choices,)), weights, in_bounds=True),
    ]
    return stmts


def _experts(kb: KernelBuilder, op: Op, operands: dict, padded: View, acc: View, tiles: View, tile_rows: View,
             slot_token: View, slot_weight: View, rows: int, tiles_max: int, slots: int, experts: int, hidden: int,
             ffn: int, gated: bool, biased: bool, counts: View | None = None) -> list[Stmt]:
    """For each expert, its token tiles (run-time count): gather, MLP on the tile's real rows
    (run-time row count), weight, scatter-add (padding rows land in the dropped row).

    The expert loop is marked ``parallel``: experts only add into ``acc`` and use locals of
    their own, so a target with threads may run them concurrently (each thread adding into a
    private copy of ``acc``), balanced by ``counts`` (the tokens each expert got)."""
    ctx = kb.ctx
    act = op.attrs["activation"]
    chunk = max(1, min(ffn, kb.params.tile_cols))
    starts = list(range(0, ffn, chunk))
    # Chunks of the intermediate width go in groups: every gate/up product of a group first,
    # then its activations, then its down products, so that the next chunk's products do not
    # queue behind this chunk's activation (an in-order matrix unit stays busy).
    per_chunk = rows * chunk * 4 * (2 if gated else 1)
    group = max(1, min(len(starts), kb.params.local_bytes // 2 // per_chunk))
    xt = kb.local("expert_tokens", ctx.dtype(padded), (rows, hidden))
    y = kb.local("expert_out", F32, (rows, hidden))
    g = kb.local("expert_gate", F32, (group, rows, chunk))  # one contiguous tile per chunk
    u = kb.local("expert_up", F32, (group, rows, chunk)) if gated else None
    # Activations and the weighted output in locals of their own (not the products' ones): a
    # target that keeps products in an accumulator writes them straight where the next
    # product or the scatter reads them, with no move.
    act_out = kb.local("expert_act", F32, (group, rows, chunk))
    scaled = kb.local("expert_scaled", F32, (rows, hidden))
    e, i = kb.var(), kb.var()
    ev = Affine.of(e)
    first = ev * slots + Affine.of(i) * rows  # the tile's first slot
    # The expert's tiles' token counts, copied once per expert (a target reads them from local
    # memory, ahead of its tiles, for a run-time row count of its matrix unit).
    expert_rows = kb.local("expert_tile_rows", ctx.dtype(tile_rows), (tiles_max,))
    rows_copy = Copy(expert_rows, views.reshape(views.window(tile_rows, (ev, 0), (1, tiles_max)), (tiles_max,)))
    real = ElementRef(expert_rows.buffer, Affine.of(i))  # the tile's tokens
    token_ids = views.reshape(views.window(slot_token, (first, 0), (rows, 1)), (rows,))
    w_gate = _expert(ctx.view(operands["w_gate"]), ev, (hidden, ffn))
    w_up = _expert(ctx.view(operands["w_up"]), ev, (hidden, ffn)) if gated else None
    w_down = _expert(ctx.view(operands["w_down"]), ev, (ffn, hidden))

    def bias(name: str, width: int, start: int, size: int, n: int) -> View:
        b = _expert(ctx.view(operands[name]), ev, (width,))
        return views.broadcast(views.reshape(views.window(b, (start,), (size,)), (1, size)), (n, size))

    def f32(view: View) -> Expr:
        return Operand(view) if ctx.dtype(view) == F32 else Cast(F32, Operand(view))

    def column(local: View, j: int, size: int) -> View:
        return views.reshape(window(local, (Affine(j), Affine(0), Affine(0)), (1, rows, size)), (rows, size))

    # The tile's token ids and routing weights are read once, first (one load each, side by
    # side), and the gather, the weighting and the scatter-add use the local copies.
    ids = kb.local("tile_token_ids", ctx.dtype(slot_token), (rows,))
    scale = kb.local("tile_weights", ctx.dtype(slot_weight), (rows, 1))
    body: list[Stmt] = [Copy(ids, token_ids), Copy(scale, views.window(slot_weight, (first, 0), (rows, 1))),
                        Gather(xt, padded, ids, in_bounds=True, limit=real)]
    for g0 in range(0, len(starts), group):
        members = [(j, start, min(chunk, ffn - start)) for j, start in enumerate(starts[g0:g0 + group])]
        for j, start, size in members:
            body.append(MatMul(column(g, j, size), xt, views.window(w_gate, (0, start), (hidden, size)), rows=real))
            if u is not None and w_up is not None:
                body.append(MatMul(column(u, j, size), xt, views.window(w_up, (0, start), (hidden, size)), rows=real))
        for j, start, size in members:
            gv = column(g, j, size)
            h: Expr = Binary("add", Operand(gv), f32(bias("b_gate", ffn, start, size, rows))) if biased else Operand(gv)
            if u is not None:
                uv = column(u, j, size)
                up: Expr = Binary("add", Operand(uv), f32(bias("b_up", ffn, start, size, rows))) if biased else Operand(uv)
                h = moe_glu(op.attrs, h, up, F32)
            else:
                h = activation(act, h, F32)
            body.append(Compute(column(act_out, j, size), h))
        for j, start, size in members:
            body.append(MatMul(y, column(act_out, j, size), views.window(w_down, (start, 0), (size, hidden)),
                               accumulate=g0 + j > 0, rows=real))
    weight = views.broadcast(scale, (rows, hidden))
    out: Expr = Operand(y)
    if biased:
        out = Binary("add", out, f32(bias("b_down", hidden, 0, hidden, rows)))
    body.append(Compute(scaled, Binary("mul", out, Operand(weight))))
    body.append(Scatter(acc, ids, scaled, accumulate=True, in_bounds=True, limit=real))
    tile_loop = For(i, ElementRef(tiles.buffer, ev), tuple(body), max_count=tiles_max)
    cost = None if counts is None else ElementRef(counts.buffer, counts.offset + ev * counts.strides[0])
    return [For(e, experts, (rows_copy, tile_loop), parallel=Parallel((acc.buffer,), cost))]


__all__ = ["AUTO_SPARSE_SHARE", "choose_moe", "emit_route", "expert_capacity", "lower_moe_sparse", "token_tile"]
