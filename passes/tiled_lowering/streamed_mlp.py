"""An MLP's two (or three) projections as one kernel on in-order units, for few tokens.

Position in the flow: :func:`~.composite.lower_gated_mlp` uses :func:`emit_streamed_mlp` for a
``gated_mlp``; :func:`~.lower.lower_graph` asks :func:`find_plain_mlp` at every matmul whether
it starts a plain MLP (``x @ w1``, an optional bias, one activation, ``@ w2``, each value read
only by the next) and lowers it with :func:`lower_plain_mlp`. Both only on in-order units (the
ASIC) and for fewer tokens than the array's row floor: each fold then costs its weight load
whatever streams, so what is left to win is latency.

Per row tile, every ffn column tile's first-layer products go into tile-major locals
(``[tiles, rows, cols]``: every product writes and reads whole contiguous tiles), each tile's
hidden activation is computed as soon as its products are done, and the second layer
accumulates over the tiles. In program order the matrix unit streams all the first-layer
tiles back to back while the vector unit finishes each one behind them, and every fold of the
second layer waits only for its own tile. As separate kernels the second layer would wait for
the whole hidden activation, through a store and a load, and each kernel's tail would stand in
the next one's way. The second layer's sums associate by tiles (f32 rounding).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from moecc.ir.affine import Affine
from moecc.ir.graph import Op, Value
from moecc.ir.tiled import views
from moecc.ir.tiled.nodes import Binary, Compute, Copy, Expr, MatMul, Operand, Stmt, View
from moecc.ir.types import DType
from moecc.passes.tiled_lowering.context import KernelBuilder, LoweringContext, TilingParams, const, sources_of
from moecc.passes.tiled_lowering.elementwise import UNARY
from moecc.passes.tiled_lowering.fusion import projection_input, projection_rows
from moecc.passes.tiled_lowering.tiles import Sizes, Starts, chunks, tile_loops, window

F32 = DType.F32

#: A row tile's first-layer products, hidden activations and output accumulators (f32, the
#: whole ffn width) take at most this share of the local budget.
STREAMED_MLP_SHARE = 2
#: Activations a plain MLP may have between its projections (their element-wise lowering's).
ACTIVATIONS = frozenset({"gelu", "relu", "silu", "tanh", "sigmoid", "leaky_relu", "softplus", "mish", "hard_swish"})

#: The hidden activation of one ffn tile from its first-layer products (``[rows, cols]``
#: expressions of the tile, one per first-layer weight), the tile's first column and size.
HiddenOf = Callable[[list[Expr], Affine, int, int], Expr]


def streams(params: TilingParams, tokens: int, ffn: int, width: int, products: int = 2) -> bool:
    """Whether an MLP over ``tokens`` rows is one streamed kernel: on in-order units, below
    the row floor, its locals within :data:`STREAMED_MLP_SHARE` of the budget."""
    tm = min(tokens, params.tile_rows)
    tn, to = min(ffn, params.tile_cols), min(width, params.tile_cols)
    tiles, out_tiles = -(-ffn // tn), -(-width // to)
    local = ((products + 1) * tiles * tn + out_tiles * to) * tm * 4
    return params.in_order_units and tokens < params.row_floor and local <= STREAMED_MLP_SHARE * params.local_bytes


def emit_streamed_mlp(kb: KernelBuilder, rows: View, firsts: Sequence[View], w_down: View, out: View,
                      hidden_of: HiddenOf) -> list[Stmt]:
    """``out = hidden_of(rows @ firsts[0], ...) @ w_down`` as one kernel (see the module
    docstring); ``rows`` is ``[tokens, hidden]``, each first-layer weight ``[hidden, ffn]``,
    ``w_down`` ``[ffn, width]`` and ``out`` ``[tokens, width]``."""
    tokens, hidden = rows.shape
    ffn, width = firsts[0].shape[1], out.shape[1]
    tm = min(tokens, kb.params.tile_rows)
    tn, to = min(ffn, kb.params.tile_cols), min(width, kb.params.tile_cols)
    tiles, out_tiles = -(-ffn // tn), -(-width // to)
    products = [kb.local("product", F32, (tiles, tm, tn)) for _ in firsts]
    h = kb.local("hidden", F32, (tiles, tm, tn))
    y = kb.local("down", F32, (out_tiles, tm, to))
    zero = Affine(0)

    def tile(local: View, start: Affine, mz: int, nz: int) -> View:
        """The column tile at ``start`` (a multiple of the local's tile width) of a tile-major
        local (slot ``start / width``, ``tm * width`` elements apart), its first ``mz`` rows."""
        return View(local.buffer, start * tm, (mz, nz), (nz, 1))

    def row_tile(starts: Starts, sizes: Sizes) -> list[Stmt]:
        r0, mz = starts[0], sizes[0]
        x = window(rows, (r0, zero), (mz, hidden))
        stmts: list[Stmt] = [Compute(y, const(0, F32))]

        def first_layer(cs: Starts, cz: Sizes) -> list[Stmt]:
            j0, nz = cs[0], cz[0]
            out_: list[Stmt] = []
            for local, weight in zip(products, firsts):
                def chunk(k0: Affine, kz: int, first: bool, local: View = local, weight: View = weight) -> list[Stmt]:
                    return [MatMul(tile(local, j0, mz, nz), window(x, (zero, k0), (mz, kz)),
                                   window(weight, (k0, j0), (kz, nz)), accumulate=not first)]
                out_ += chunks(kb, hidden, kb.params.k_tile, chunk)
            hidden_ = hidden_of([Operand(tile(p, j0, mz, nz)) for p in products], j0, mz, nz)
            return out_ + [Compute(tile(h, j0, mz, nz), hidden_)]

        def second_layer(cs: Starts, cz: Sizes) -> list[Stmt]:
            (j0, o0), (nz, oz) = cs, cz
            return [MatMul(tile(y, o0, mz, oz), tile(h, j0, mz, nz), window(w_down, (j0, o0), (nz, oz)),
                           accumulate=True)]

        stmts += tile_loops(kb, (ffn,), (tn,), first_layer)
        stmts += tile_loops(kb, (ffn, width), (tn, to), second_layer)
        return stmts + tile_loops(kb, (width,), (to,), lambda cs, cz: [
            Copy(window(out, (r0, cs[0]), (mz, cz[0])), tile(y, cs[0], mz, cz[0]))])

    return tile_loops(kb, (tokens,), (tm,), row_tile)


@dataclass(frozen=True, slots=True)
class PlainMlp:
    """``x @ w1 [+ b1] -> act -> @ w2``: its ops in graph order (views between them included)."""

    ops: tuple[Op, ...]
    x: Value
    w1: Value
    bias: Value | None
    act: Op
    w2: Value
    last: Op  # the second projection


def find_plain_mlp(op: Op, ctx: LoweringContext, uses: dict[Value, list[Op | None]]) -> PlainMlp | None:
    """The plain MLP ``op`` starts (a projection: a matmul of an activation by a constant
    ``[hidden, ffn]`` f32 weight, an exporter's transposed one included), when it streams
    (:func:`streams`); None otherwise."""
    if op.kind != "matmul" or not ctx.params.in_order_units or projection_input(op) is None:
        return None
    x, w1 = op.operands
    if w1.type.rank != 2 or x.type.dtype != F32 or w1.type.dtype != F32:
        return None
    hidden, ffn = w1.type.shape
    tokens = projection_rows(op)
    ops, value, bias, act = [op], op.result, None, None
    outputs = set(ctx.graph.outputs)
    while True:
        users = uses.get(value, [])
        if len(users) != 1 or users[0] is None or value in outputs:
            return None
        user = users[0]
        if user.kind == "reshape" and user.result.type.shape[-1] == ffn:
            pass
        elif user.kind == "add" and bias is None and act is None:
            other = user.operands[1] if user.operands[0] is value else user.operands[0]
            if other.producer is None or not other.producer.is_const or other.type.numel != ffn \
                    or other.type.shape[-1:] != (ffn,):
                return None
            bias = other
        elif user.kind in ACTIVATIONS and act is None:
            act = user
        elif user.kind == "matmul" and act is not None and projection_input(user) is value:
            w2 = user.operands[1]
            if w2.type.rank != 2 or w2.type.shape[0] != ffn or w2.type.dtype != F32:
                return None
            if not streams(ctx.params, tokens, ffn, w2.type.shape[1], products=1):
                return None
            return PlainMlp(tuple(ops + [user]), x, w1, bias, act, w2, user)
        else:
            return None
        if user.result.type.numel != tokens * ffn:
            return None
        ops.append(user)
        value = user.result


def lower_plain_mlp(mlp: PlainMlp, ctx: LoweringContext) -> bool:
    """Emit ``mlp`` as one streamed kernel into the open kernel (the caller opened the second
    projection's fusion group, so its epilogue joins); False when ``x`` is not a view of
    ``[tokens, hidden]`` rows (then nothing was emitted)."""
    hidden, _ = mlp.w1.type.shape
    width = mlp.w2.type.shape[1]
    tokens = mlp.x.type.numel // hidden
    try:
        rows = views.reshape(ctx.view(mlp.x), (tokens, hidden))
    except ValueError:
        return False
    out = views.reshape(ctx.result(mlp.last.result), (tokens, width))
    build = UNARY[mlp.act.kind]
    bias = views.reshape(ctx.view(mlp.bias), (mlp.bias.type.numel,)) if mlp.bias is not None else None

    def hidden_of(products: list[Expr], j0: Affine, mz: int, nz: int) -> Expr:
        value = products[0]
        if bias is not None:
            row = views.broadcast(views.reshape(views.window(bias, (j0,), (nz,)), (1, nz)), (mz, nz))
            value = Binary("add", value, Operand(row))
        return build(value, mlp.act.attrs, F32)

    sources = tuple(dict.fromkeys(s for op in mlp.ops for s in sources_of(op)))
    with ctx.kernel(mlp.last.result.name, sources) as kb:
        kb.emit(emit_streamed_mlp(kb, rows, [ctx.view(mlp.w1)], ctx.view(mlp.w2), out, hidden_of))
    return True


__all__ = ["ACTIVATIONS", "STREAMED_MLP_SHARE", "PlainMlp", "emit_streamed_mlp", "find_plain_mlp", "lower_plain_mlp",
           "streams"]
