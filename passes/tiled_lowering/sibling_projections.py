"""Sibling projections (q, k and v of one input) as one product over their weights side by side, for few tokens.

Position in the flow: :func:`~.lower.lower_graph` asks :func:`find_siblings` at every matmul
whether it is the first of several projections of one activation by constant weights, and
lowers them with :func:`lower_siblings`. Only on in-order units (the ASIC) and for fewer
tokens than the array's row floor: there each fold of the array costs its weight load
whatever streams, so the number of folds is what the projections cost. Side by side, the
weights take ``ceil(sum(n) / cols)`` folds instead of ``sum(ceil(n / cols))`` (a Llama layer at
hidden 128: q 128 + k 64 + v 64 columns are 2 folds instead of 3); they are merged only when
that is fewer.

Each fold's weight tile is assembled in a local from the weights' column windows (rows of an
exporter's transposed ``[n, k]`` weight), so the weights stay the graph's constants, each
stored once. The folds go into tiles of their own and each projection's columns are copied out
into its own result buffer, as its own product's would be: what reads the results (a rotary
embedding as one matrix, an attention's loads) sees the layouts it saw before. The columns go
in the order their results are needed: those entering a consumer as its second or later
operand first (the keys and values of an attention or a matmul: the keys are shifted into the
array as weights before the scores can stream), the queries after them. In program order every
fold comes first, then the copies out, those of the last fold last, so that the work on the
first folds' results (the keys' rotary embedding) goes ahead while the last one drains
(:meth:`~.fusion.FusionGroups.after_merged`).
"""

from __future__ import annotations

from dataclasses import dataclass

from moecc.ir.affine import Affine
from moecc.ir.graph import Op, Value
from moecc.ir.tiled import views
from moecc.ir.tiled.nodes import Copy, MatMul, Stmt, View
from moecc.ir.types import DType
from moecc.passes.tiled_lowering.context import LoweringContext, sources_of
from moecc.passes.tiled_lowering.contractions import as_transposed
from moecc.passes.tiled_lowering.fusion import VIEW_KINDS, projection_input, projection_rows
from moecc.passes.tiled_lowering.tiles import chunks, window

F32 = DType.F32
#: Consumers whose operands after the first are needed before it (their weight side).
WEIGHT_SIDE_KINDS = frozenset({"attention", "matmul"})
#: Ops a projection's result may pass through on its way to that consumer.
PASS_THROUGH_KINDS = VIEW_KINDS | {"rotary_embedding", "mul", "add"}


@dataclass(frozen=True, slots=True)
class Siblings:
    """Projections of ``x`` merged into one product, in column order."""

    x: Value
    ops: tuple[Op, ...]


@dataclass(frozen=True, slots=True)
class MergedLowering:
    """What :func:`lower_siblings` emitted: the projections whose columns the last fold
    computes, and where their copies out of the folds start among its statements."""

    last_fold: tuple[Op, ...]
    epilogue_at: int


def _need_rank(op: Op, uses: dict[Value, list[Op | None]]) -> int:
    """0 when ``op``'s result reaches an attention or matmul as a later operand (a weight side,
    needed first), 1 otherwise."""
    value = op.result
    for _ in range(8):
        users = [u for u in uses.get(value, []) if u is not None]
        if len(users) != 1:
            return 1
        user = users[0]
        if user.kind in WEIGHT_SIDE_KINDS:
            return 0 if user.operands.index(value) > 0 else 1
        if user.kind not in PASS_THROUGH_KINDS:
            return 1
        value = user.result
    return 1


def find_siblings(op: Op, ctx: LoweringContext, uses: dict[Value, list[Op | None]]) -> Siblings | None:
    """The projections of ``op``'s input that merge with ``op`` (the first of them in graph
    order: f32 ``[k, n]`` constant weights, or an exporter's transposed ones), when that takes
    fewer folds; None otherwise."""
    params = ctx.params
    if op.kind != "matmul" or not params.in_order_units or params.array_cols < 1:
        return None
    x = projection_input(op)
    if x is None or x is not op.operands[0] or x.type.dtype != F32 or projection_rows(op) >= params.row_floor:
        return None
    outputs = set(ctx.graph.outputs)
    members = [user for user in dict.fromkeys(u for u in uses.get(x, []) if u is not None)
               if user.kind == "matmul" and user.operands[0] is x and projection_input(user) is x
               and user.result not in outputs and user.operands[1].type.rank == 2
               and user.operands[1].type.dtype == F32 and user.result.type.shape[:-1] == x.type.shape[:-1]]
    if len(members) < 2 or members[0] is not op:
        return None
    cols = params.array_cols
    widths = [m.operands[1].type.shape[1] for m in members]
    if -(-sum(widths) // cols) >= sum(-(-n // cols) for n in widths):
        return None
    members.sort(key=lambda m: _need_rank(m, uses))  # stable: graph order within a rank
    return Siblings(x, tuple(members))


def lower_siblings(siblings: Siblings, ctx: LoweringContext) -> MergedLowering | None:
    """One product of ``x`` by the weights side by side into the open kernel: each fold's
    weight tile assembled, every fold streamed (back to back, each into a tile of its own),
    then each projection's columns copied out of the folds into its own result buffer, in
    column order. None (nothing emitted) when ``x`` is not a view of ``[tokens, k]`` rows or
    the weights are not all stored the same way round."""
    x = siblings.x
    k = x.type.shape[-1]
    tokens = x.type.numel // k
    try:
        rows = views.reshape(ctx.view(x), (tokens, k))
    except ValueError:
        return None
    weights = [as_transposed(ctx.view(op.operands[1])) for op in siblings.ops]
    transposed = weights[0][1]
    if any(t != transposed for _, t in weights):
        return None
    widths = [op.operands[1].type.shape[1] for op in siblings.ops]
    width = sum(widths)
    tn = min(width, ctx.params.tile_cols)
    starts = list(range(0, width, tn))
    first = siblings.ops[0].result.name
    sources = tuple(dict.fromkeys(s for op in siblings.ops for s in sources_of(op)))
    zero = Affine(0)

    def pieces(j0: int) -> list[tuple[int, int, int, int]]:
        """``(projection, its first column, the fold's column, width)`` of the projections'
        column runs in the fold starting at column ``j0``."""
        found, column = [], 0
        for index, n in enumerate(widths):
            lo, hi = max(column, j0), min(column + n, j0 + tn)
            if lo < hi:
                found.append((index, lo - column, lo - j0, hi - lo))
            column += n
        return found

    with ctx.kernel(first, sources) as kb:
        products = kb.local("folds", F32, (len(starts), tokens, tn))
        staged = kb.local("folds_out", F32, (len(starts), tokens, tn))
        tiles = kb.local("fold_weights", F32, (len(starts), k, tn))

        def fold(local: View, j0: int, lead: int, cols: int, c0: int = 0) -> View:
            """Columns ``[c0, c0 + cols)`` of the fold at column ``j0`` of tile-major ``local``
            (each fold a contiguous ``[lead, its width]`` tile)."""
            nz = min(tn, width - j0)
            return View(local.buffer, Affine(j0 // tn * lead * tn + c0), (lead, cols), (nz, 1))

        def weight_tile(j0: int) -> View:
            """The fold's ``[k, nz]`` weight tile (``[nz, k]``, used transposed, for transposed weights)."""
            nz = min(tn, width - j0)
            return View(tiles.buffer, Affine(j0 // tn * k * tn), (nz, k) if transposed else (k, nz),
                        (k, 1) if transposed else (nz, 1))

        stmts: list[Stmt] = []
        for j0 in starts:  # the weight tiles first: leading loads, prefetched under the kernel before
            tile = weight_tile(j0)
            for index, c0, at, n in pieces(j0):
                w = weights[index][0]
                if transposed:
                    stmts.append(Copy(views.window(tile, (at, 0), (n, k)), views.window(w, (c0, 0), (n, k))))
                else:
                    stmts.append(Copy(views.window(tile, (0, at), (k, n)), views.window(w, (0, c0), (k, n))))
        for j0 in starts:
            nz, tile = min(tn, width - j0), weight_tile(j0)

            def chunk(k0: Affine, kz: int, head: bool, j0: int = j0, nz: int = nz, tile: View = tile) -> list[Stmt]:
                b = window(tile, (zero, k0), (nz, kz)) if transposed else window(tile, (k0, zero), (kz, nz))
                return [MatMul(fold(products, j0, tokens, nz), window(rows, (zero, k0), (tokens, kz)), b,
                               accumulate=not head, transpose_b=transposed)]
            stmts += chunks(kb, k, kb.params.k_tile, chunk)
        epilogue_at, last_fold = len(stmts), []
        outs = [views.reshape(ctx.result(op.result), (tokens, n)) for op, n in zip(siblings.ops, widths)]
        for j0 in starts:
            nz = min(tn, width - j0)
            runs = pieces(j0)
            if j0 == starts[-1]:
                epilogue_at = len(stmts)  # the copies out of the last fold
                last_fold = [siblings.ops[index] for index, *_ in runs]
            # The whole fold out of the accumulator at once (a strided window of it would go row
            # by row), then each projection's columns to its result.
            stmts.append(Copy(fold(staged, j0, tokens, nz), fold(products, j0, tokens, nz)))
            for index, c0, at, n in runs:
                stmts.append(Copy(views.window(outs[index], (0, c0), (tokens, n)), fold(staged, j0, tokens, n, at)))
        kb.emit(stmts)
    return MergedLowering(tuple(last_fold), epilogue_at)


__all__ = ["PASS_THROUGH_KINDS", "WEIGHT_SIDE_KINDS", "MergedLowering", "Siblings", "find_siblings", "lower_siblings"]
