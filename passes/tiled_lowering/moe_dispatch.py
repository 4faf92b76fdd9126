"""Sparse dispatch of a ``moe`` op: each expert runs only on the tokens routed to it.

Part of the tiled lowering (:mod:`moecc.passes.tiled_lowering`); the ``moe`` rule
(:mod:`.composite`) calls :func:`lower_moe_sparse` unless the lowering was asked for the dense
form. The plan, for ``T`` tokens, ``E`` experts, top-``K`` routing and token tiles of ``R``
rows (``S = ceil(T / R) * R`` slots per expert):

1. **Route** (one kernel, ``<result>_route``: kept f32 with the router at precision bf16):
   router logits ``x @ router_w (+ router_b)``, softmax rows, top-``K`` per token (ties to the
   lower expert, as the reference), renormalised when ``normalize``, into local memory. With
   DeepSeek-V3's routing attributes: sigmoid scores, the selection bias added, group scores (a
   top-2 and a sum per group), the kept groups' top-k, the others masked, the top-``K`` of the
   corrected scores, the uncorrected scores of the chosen experts picked by one-hot row sums,
   renormalised, times ``routed_scaling`` (:class:`_Selection`).
2. **Dispatch** (the same kernel, from the choices in local memory): per-expert token lists
   built in token order by a histogram and prefix count (:func:`_dispatch`): the
   ``(token, choice)`` pairs as expert-major one-hot blocks, each pair's rank among its
   expert's by one triangular matmul per group of blocks, its slot ``e * S + rank``; the slot
   table ``[E * S, 2]`` (the token and the choice, which indexes the routing weights) is
   scattered in one go; ``counts[e]`` is the choices of ``e`` and ``tiles[e] = ceil(counts[e] / R)``.
3. **Experts** (one kernel): for each expert ``e``, a loop whose trip count ``tiles[e]`` is
   read at run time (at most ``S / R``): read the tile's slot rows, gather its routing weights
   and its tokens' rows of ``x``, run the expert's MLP on them in f32 (``ffn`` in chunks of ``tile_cols``) with
   matmuls that compute only the tile's real rows (``rows[e, i]``, a run-time row count),
   scale each row by its routing weight and scatter-add the rows into the result (f32) or an
   f32 accumulator rounded at the end. The gather and the scatter stop at the tile's real rows
   (``limit``): the table's unused slots are never read, and nothing needs a padding row.

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
from moecc.passes.tiled_lowering.context import KernelBuilder, LoweringContext, const
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
    rows = fitting_token_tile(rows, hidden, ffn, gated, ctx.params.expert_bytes, ctx.params.mxu_operand_bytes)
    # With a capacity factor an expert takes at most ``capacity`` tokens (the first ones, in
    # token order); the others are dropped (their slot is a sink row no expert reads).
    capacity = expert_capacity(ctx.capacity_factor, tokens, top, experts)
    tiles_max = math.ceil(capacity / rows)
    slots = tiles_max * rows
    sink = experts * slots if capacity < tokens else None
    sources = (op.source or op.kind,)

    # The route and the dispatch are one kernel (kept f32 at precision bf16): the choices stay
    # in local memory between them; only the tables the experts read go to global memory.
    probs = ctx.add_global(f"{name}_probs", F32, (tokens, experts))
    # Kept after the run (not reused): the routing a run chose, for recording and checking it.
    top_i = ctx.add_global(f"{name}_route_expert", I32, (tokens, top), "output")
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
    # One row per slot: its token and its choice (``token * K + k``, which indexes the routing
    # weights), so that one scatter of constant rows fills the table.
    table = ctx.add_global(f"{name}_slot_table", I32, (experts * slots + (1 if sink is not None else 0), 2))
    weights = ctx.add_global(f"{name}_route_weight", F32, (tokens, top))
    x_view = ctx.view(x)
    out = ctx.result(op.result)
    # The experts add straight into the result when it is f32 (else into an f32 accumulator,
    # rounded at the end). Tiles gather and scatter only their real rows (``limit``), so
    # neither the tokens nor the result need a padding row.
    direct = t == F32
    acc = out if direct else ctx.add_global(f"{name}_combined", F32, (tokens, hidden))
    with ctx.kernel(f"{name}_route", sources) as kb:
        top_v = kb.local("route_weight", F32, (tokens, top))
        chosen = kb.local("route_expert", I32, (tokens, top))
        prologue, dispatch = _dispatch(kb, chosen, counts, tiles, tile_rows, tile_starts, table, rows, slots,
                                       capacity, sink)
        # First, while the router runs: the dispatch's constants loaded, the accumulator zeroed.
        kb.emit(prologue)
        kb.emit(tiled_compute(kb, acc, [], lambda xs: const(0, F32)))
        emit_route(kb, op, operands, probs, top_v, chosen)
        if ctx.routing is not None:  # a what-if: the router's choices replaced (routing_whatif)
            what_if = ctx.routing.choices(len(ctx.moe_layers) - 1, tokens, experts, top)
            kb.emit([Copy(chosen, ctx.constant(what_if, f"{name}_whatif_experts"))])
        kb.emit([Copy(top_i, chosen), Copy(weights, top_v)])
        kb.emit(dispatch)

    with ctx.kernel(f"{name}_experts", sources) as kb:
        if x_view.strides[1] != 1:  # a gather reads rows of contiguous elements
            dense_x = kb.ctx.add_global(f"{name}_tokens", t, (tokens, hidden))
            kb.emit(tiled_compute(kb, dense_x, [x_view], lambda xs: xs[0]))
            x_view = dense_x
        expert_loop = _experts(kb, op, operands, x_view, acc, tiles, tile_rows, table, weights, rows, tiles_max,
                               slots, experts, hidden, ffn, gated, biased, counts)
        kb.emit(expert_loop)
        if not direct:
            kb.emit(tiled_compute(kb, out, [acc], lambda xs: narrow(xs[0], t)))
    # Which kernel and loop variable run the experts (a trace labels their work by expert).
    ctx.moe_layers[-1].update({"experts_kernel": kb.name, "expert_var": expert_loop[0].var})


def emit_route(kb: KernelBuilder, op: Op, operands: dict, probs: View, top_v: View, top_i: View) -> None:
    """The router of a ``moe`` op (sparse and dense forms alike), emitted into ``kb``:
    probabilities, the top-k experts of each token and their (renormalised) weights, into
    ``top_v``/``top_i`` (globals or locals of ``[tokens, k]``). The caller gives it a kernel
    named ``<result>_route``, which the ASIC keeps in f32 at precision bf16 while the experts
    run bf16.

    DeepSeek-V3's routing (:class:`~moecc.ir.ops.composite.Moe`'s optional routing attributes)
    is :class:`_Selection`: sigmoid scores, a selection bias, group-limited candidates, the
    top-k of the corrected scores and the uncorrected scores of the chosen experts as weights."""
    ctx = kb.ctx
    tokens, experts = probs.shape
    top = top_v.shape[1]
    attrs = op.attrs
    plain = is_softmax_routed(attrs)
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
#: One-hot rows one ranking matmul of :func:`_dispatch` takes at most (``experts`` per block).
SCAN_ROWS = 128


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
                              ctx.params.mxu_operand_bytes)
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


def _dispatch(kb: KernelBuilder, top_i: View, counts: View, tiles: View, tile_rows: View,
              tile_starts: View, table: View, rows: int, slots: int, capacity: int,
              sink: int | None) -> tuple[list[Stmt], list[Stmt]]:
    """The slot table, token counts and tile counts of every expert, by a prefix count: a
    prologue (its constants copied into local memory, for the kernel's start) and the dispatch.

    The ``P = tokens * k`` choices in token order (``top_i``, ``[tokens, k]``) go in blocks of
    :data:`SCAN_BLOCK`. Block ``b``'s one-hot is expert-major, ``hot[b*E + e, p] = (choice p of
    the block chose e)`` (f32 0/1), a ``[E, block]`` plane of one ``[blocks * E, block]`` local;
    one matmul by the strictly-upper-triangular ones matrix ranks every choice within its block
    (the earlier choices of its expert there), and a row sum gives each block's counts. A
    choice's rank among all of its expert's adds the counts of the blocks before (a running
    ``[E, 1]`` sum, block by block). Its slot is ``expert * S + rank`` (a sum over the experts
    of the one-hot times ``base + rank``; past the capacity, the sink row). The table's rows
    ``(token, choice)`` are constants, scattered to their slots in one go. Matmuls of 0/1 values
    sum exactly in f32; the order is the token order the reference's sequential fill gives.
    Everything is a tile statement on contiguous rows: no per-choice loop."""
    ctx = kb.ctx
    tokens, top = top_i.shape
    choices = tokens * top
    experts = counts.shape[0]
    name = counts.buffer.removesuffix("_tokens_per_expert")
    block = min(choices, SCAN_BLOCK)
    blocks = math.ceil(choices / block)
    # Blocks ranked by one matmul: as many as fill the array's height with one-hot rows.
    group = max(1, min(blocks, SCAN_ROWS // experts))
    height = group * experts
    ids = ctx.constant(np.tile(np.arange(experts, dtype=np.float32), group).reshape(-1, 1), f"{name}_expert_ids")
    bases = ctx.constant(np.tile(np.arange(experts, dtype=np.float32) * slots, group).reshape(-1, 1),
                         f"{name}_slot_bases")
    upper = ctx.constant(np.triu(np.ones((block, block), dtype=np.float32), 1), f"{name}_earlier")
    # Each choice's slot row: its token and itself.
    pairs = ctx.constant(np.stack([np.repeat(np.arange(tokens, dtype=np.int32), top),
                                   np.arange(choices, dtype=np.int32)], axis=1), f"{name}_slot_rows")
    prologue: list[Stmt] = []

    def early(constant: View, hint: str) -> View:
        local = kb.local(hint, ctx.dtype(constant), constant.shape)
        prologue.append(Copy(local, constant))
        return local

    ids, bases, upper = early(ids, "dispatch_expert_ids"), early(bases, "dispatch_bases"), early(upper, "dispatch_upper")
    pairs = early(pairs, "dispatch_slot_rows")
    hot = kb.local("dispatch_onehot", F32, (height, block))
    rank = kb.local("dispatch_rank", F32, (height, block))
    per_block = kb.local("dispatch_block_counts", F32, (height, 1))
    before = kb.local("dispatch_before", F32, (height, 1))  # each block's choices in earlier blocks
    total = kb.local("dispatch_total", F32, (experts, 1))  # the choices so far (after all: the counts)
    position = kb.local("dispatch_slot_f", F32, (1, choices))
    slot = kb.local("dispatch_slot", I32, (choices,))
    chosen = views.reshape(top_i, (1, choices))

    def plane(view: View, j: int, n: int | None = None) -> View:
        return views.window(view, (j * experts, 0), (experts, view.shape[1] if n is None else n))

    def rank_group(first: Affine, sizes: list[int], counted: list[Stmt] | None = None) -> list[Stmt]:
        """Slots of the blocks of ``sizes`` choices starting at choice ``first`` (``counted``:
        statements placed once the group's counts are in ``total``, before its slots)."""
        out: list[Stmt] = []
        if sizes[-1] < block or len(sizes) < group:
            out.append(Compute(hot, const(0, F32)))  # choices and blocks past the end count nothing
        for j, n in enumerate(sizes):
            experts_of = views.broadcast(views.window(chosen, (0, first + j * block), (1, n)), (experts, n))
            out.append(Compute(plane(hot, j, n), Cast(F32, Binary(
                "eq", Cast(F32, Operand(experts_of)), Operand(views.broadcast(plane(ids, j), (experts, n)))))))
        out += [MatMul(rank, hot, upper), Reduce("sum", per_block, hot), Compute(plane(before, 0), Operand(total))]
        for j in range(1, group):  # block j's base: block j-1's plus block j-1's counts
            out.append(Compute(plane(before, j), Binary("add", Operand(plane(before, j - 1)),
                                                        Operand(plane(per_block, j - 1)))))
        out.append(Compute(total, Binary("add", Operand(plane(before, group - 1)),
                                         Operand(plane(per_block, group - 1)))))
        out += counted or []
        # A choice's slot, in its expert's row (0 elsewhere): base + rank, or the sink row.
        ranked: Expr = Binary("add", Operand(rank), Operand(views.broadcast(before, (height, block))))
        slot_expr: Expr = Binary("add", ranked, Operand(views.broadcast(bases, (height, block))))
        if sink is not None:
            slot_expr = Select(Binary("lt", ranked, const(capacity, F32)), slot_expr, const(sink, F32))
        out.append(Compute(rank, Binary("mul", Operand(hot), slot_expr)))
        for j, n in enumerate(sizes):  # the sum over the block's experts
            out.append(Reduce("sum", views.reshape(views.window(position, (0, first + j * block), (1, n)), (n, 1)),
                              views.permute(plane(rank, j, n), (1, 0))))
        return out

    taken: Expr = Operand(total)  # the tokens each expert takes: all, or up to its capacity
    if sink is not None:
        taken = Binary("min", taken, const(capacity, F32))
    # Once every count is in: the counts, tile counts and tile rows (computed and stored while
    # the slots are worked out: the experts read them first).
    counted: list[Stmt] = [
        Compute(counts, Cast(I32, Operand(total))),
        # ceil(min(count, capacity) / rows) as trunc((taken + rows - 1) / rows) in f32: exact (an
        # integer quotient is exact; a fraction is at least 1/rows from the next integer), and no
        # integer division (the VPU divides floats).
        Compute(tiles, Cast(I32, Unary("ceil", Binary("div", taken, const(rows, F32))))),
        # The tokens in each tile, min(max(taken - start, 0), rows), from the counts in local
        # memory (not read back from the global just written).
        *tiled_compute(kb, tile_rows, [views.broadcast(total, tile_rows.shape),
                                       views.broadcast(tile_starts, tile_rows.shape)],
                       lambda xs: Cast(I32, Binary("min", Binary("max", Binary(
                           "sub", Binary("min", xs[0], const(capacity, F32)) if sink is not None else xs[0],
                           Cast(F32, xs[1])), const(0, F32)), const(rows, F32)))),
    ]
    # The table's unused slots hold token 0 and choice 0 (the experts' tiles never read them:
    # their gathers and scatters stop at the tile's tokens); filled first, off the critical path.
    stmts: list[Stmt] = [*tiled_compute(kb, table, [], lambda xs: const(0, I32)), Compute(total, const(0, F32))]
    full_groups, rest = divmod(choices, group * block)
    last_full = full_groups - (0 if rest else 1)  # full groups before the last group
    if last_full > 1:
        g = kb.var()
        stmts.append(For(g, last_full, tuple(rank_group(Affine.of(g) * (group * block), [block] * group))))
    elif last_full == 1:
        stmts += rank_group(Affine(0), [block] * group)
    if rest:
        sizes = [min(block, rest - j) for j in range(0, rest, block)]
    else:
        sizes = [block] * group
    stmts += rank_group(Affine(last_full * group * block), sizes, counted)
    stmts += [
        Compute(slot, Cast(I32, Operand(views.reshape(position, (choices,))))),
        # The slots are built here, in range: targets need not wrap them.
        Scatter(table, slot, pairs, in_bounds=True),
    ]
    return prologue, stmts


def _experts(kb: KernelBuilder, op: Op, operands: dict, x: View, acc: View, tiles: View, tile_rows: View,
             table: View, weights: View, rows: int, tiles_max: int, slots: int, experts: int, hidden: int,
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
    xt = kb.local("expert_tokens", ctx.dtype(x), (rows, hidden))
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

    # The tile's slot rows (token, choice) are read once, first (a column each, side by side);
    # the routing weights are gathered by choice, the tokens' rows by token.
    token_ids = kb.local("tile_token_ids", I32, (rows, 1))
    choice_ids = kb.local("tile_choices", I32, (rows, 1))
    scale = kb.local("tile_weights", F32, (rows, 1))
    choices = weights.shape[0] * weights.shape[1]
    ids, picks = views.reshape(token_ids, (rows,)), views.reshape(choice_ids, (rows,))
    body: list[Stmt] = [Copy(token_ids, views.window(table, (first, 0), (rows, 1))),
                        Copy(choice_ids, views.window(table, (first, 1), (rows, 1))),
                        Gather(scale, views.reshape(weights, (choices, 1)), picks, in_bounds=True, limit=real),
                        Gather(xt, x, ids, in_bounds=True, limit=real)]
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
