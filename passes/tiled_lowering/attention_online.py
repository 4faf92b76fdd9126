"""Attention over key tiles with an online softmax, for keys too long to hold whole score rows.

Position in the flow: :func:`~.composite.lower_attention` calls :func:`emit_online_attention`
when a query tile's whole score rows would not fit the kernel's local budget at a full tile
of rows (long sequences; small parts). As FlashAttention does, each (batch, head, query tile)
walks the keys in tiles of ``tk`` and keeps, per query row, the running max ``m``, the running
sum ``l`` of ``exp(s - m)`` and the running output ``acc``; a new tile's max ``m'`` rescales
them by ``exp(m - m')``:

    s   = q @ k_j^T * scale [softcap] [+ bias_j]
    m'  = max(m, rowmax(s));   shift = m' (0 where m' = -inf: a row masked so far)
    p   = exp(s - shift);      c = exp(m - shift)
    l   = l * c + rowsum(p);   acc = acc * c + p @ v_j;   m = m'

then ``out = acc / l`` (rows with ``l = 0``, every key masked, give zeros), with a sink logit
per head folded in as one more key with no value. With a causal mask the query tiles are
written out one by one and each walks only the key tiles its rows can see, masking only the
tiles on the diagonal (about half the work of the full square at long sequences, results
unchanged: a hidden key adds exactly zero). Only ``[tq, tk]`` score tiles and
``[tq, dv]`` accumulators live in local memory, whatever the key length. The sums associate
differently from the one-pass softmax: results agree to f32 rounding, not bit for bit.
"""

from __future__ import annotations

import math

import numpy as np

from moecc.ir.affine import Affine
from moecc.ir.tiled import views
from moecc.ir.tiled.nodes import Binary, Compute, Expr, MatMul, Operand, Select, Stmt, Unary, View
from moecc.ir.types import DType
from moecc.passes.tiled_lowering.context import KernelBuilder, const
from moecc.passes.tiled_lowering.elementwise import narrow, widen
from moecc.passes.tiled_lowering.reductions import reduce_chunks
from moecc.passes.tiled_lowering.tiles import Sizes, Starts, tile_loops, window

F32 = DType.F32


def head_matrix(view: View, starts: tuple[Affine | int, ...], sizes: tuple[int, ...]) -> View:
    """The 2-D matrix at ``starts`` of a 4-D ``[batch, head, rows, cols]`` view (leading sizes 1)."""
    return views.reshape(views.window(view, starts, sizes), sizes[-2:])


def online_tiles(kb: KernelBuilder, s: int, length: int, dv: int, rows: int = 0) -> tuple[int, int] | None:
    """``(tq, tk)``: a full tile of query rows (at most ``rows`` when given: a causal attention's
    shorter tiles skip more hidden keys) and the widest key tile whose scores, weights and
    accumulators fit the local budget; None when whole rows fit (the one-pass form is better)."""
    tq = max(1, min(s, kb.params.tile_rows))
    if kb.params.local_bytes // max(1, length * 16) >= tq:
        return None
    tq = min(tq, rows) if rows > 0 else tq
    tk = (kb.params.local_bytes // 4 - tq * (dv + 8)) // (3 * tq)
    tk = min(length, kb.params.k_tile, max(1, tk))
    return (tq, tk) if tk < length else None


def emit_online_attention(kb: KernelBuilder, *, t: DType, shape: tuple[int, int, int, int, int, int, int],
                          qs: View, ks: View, vv: View, out: View, mask: View | None, mask_bool: bool,
                          allowed: View | None, sinks: View | None, scale: float | None, cap: float,
                          tiles: tuple[int, int], skip_hidden: bool = True,
                          visible: np.ndarray | None = None) -> list[Stmt]:
    """The statements of one attention op over key tiles (see the module docstring); ``shape`` is
    ``(batch, hq, hkv, s, length, d, dv)``, ``scale`` None when q and k are already scaled;
    ``visible`` (``[s, length]`` bool, what is known at compile time of the keys each query row
    sees: a causal rule, a constant mask) with ``skip_hidden``: each query tile walks only the
    key tiles some row of it sees, those every row sees in full without a causal mask's test
    when no other mask applies."""
    batch, hq, hkv, s, length, d, dv = shape
    group = hq // hkv
    tq, tk = tiles
    zero = Affine(0)
    ninf = const(-math.inf, F32)
    scores = kb.local("scores", t, (tq, tk))
    probs = kb.local("weights", t, (tq, tk))
    acc = kb.local("output", F32, (tq, dv))
    run_max = kb.local("row_max", F32, (tq, 1))
    new_max = kb.local("new_max", F32, (tq, 1))
    tile_max = kb.local("tile_max", t, (tq, 1))  # the reductions', in the scores' type
    run_sum = kb.local("row_sum", F32, (tq, 1))
    tile_sum = kb.local("tile_sum", t, (tq, 1))
    shift = kb.local("shift", F32, (tq, 1))
    rescale = kb.local("rescale", F32, (tq, 1))

    def rows(view: View, sq: int, cols: int = 1) -> View:
        return window(view, (zero, zero), (sq, cols))

    def per_head(b: Affine, g: Affine, r: Affine, s0: Affine, sq: int,
                 keys: tuple[int, int, int] | None = None) -> list[Stmt]:
        """Query head ``g * group + r``'s rows ``s0 + [0, sq)``; ``keys``: ``(lo, clear, hi)``,
        the tile's rows see keys ``[lo, hi)`` only, those in ``[lo, clear)`` every row in full
        (no causal test there)."""
        head = g * group + r
        m, mn, mt = rows(run_max, sq), rows(new_max, sq), rows(tile_max, sq)
        l_, lt = rows(run_sum, sq), rows(tile_sum, sq)
        sh, c, o = rows(shift, sq), rows(rescale, sq), rows(acc, sq, dv)
        w = Operand

        def key_tile(starts: Starts, sizes: Sizes, first: int = 0, causal: bool = True) -> list[Stmt]:
            (j0,), (kn,) = starts, sizes
            j0 = j0 + first
            sc, p = window(scores, (zero, zero), (sq, kn)), window(probs, (zero, zero), (sq, kn))
            stmts: list[Stmt] = [MatMul(sc, head_matrix(qs, (b, head, s0, 0), (1, 1, sq, d)),
                                        head_matrix(ks, (b, g, j0, 0), (1, 1, kn, d)), transpose_b=True)]
            value: Expr = widen(w(sc), t)
            if scale is not None:
                value = Binary("mul", value, const(scale, F32))
            if cap > 0:
                value = Binary("mul", Unary("tanh", Binary("div", value, const(cap, F32))), const(cap, F32))
            if mask is not None:
                bias = w(head_matrix(mask, (b, head, s0, j0), (1, 1, sq, kn)))
                value = Binary("add", value, Select(bias, const(0, F32), ninf) if mask_bool else widen(bias, t))
            if allowed is not None and causal:
                value = Binary("add", value, Select(w(window(allowed, (s0, j0), (sq, kn))), const(0, F32), ninf))
            stmts.append(Compute(sc, narrow(value, t)))
            stmts += reduce_chunks(kb, "max", mt, sc)
            stmts.append(Compute(mn, Binary("max", w(m), widen(w(mt), t))))  # m'
            stmts.append(Compute(sh, Select(Binary("eq", w(mn), ninf), const(0, F32), w(mn))))
            stmts.append(Compute(p, narrow(Unary("exp", Binary("sub", widen(w(sc), t), w(sh))), t)))
            stmts.append(Compute(c, Unary("exp", Binary("sub", w(m), w(sh)))))
            stmts += reduce_chunks(kb, "sum", lt, p)
            stmts.append(Compute(l_, Binary("add", Binary("mul", w(l_), w(c)), widen(w(lt), t))))
            stmts.append(Compute(o, Binary("mul", w(o), w(views.broadcast(c, (sq, dv))))))
            stmts.append(MatMul(o, p, head_matrix(vv, (b, g, j0, 0), (1, 1, kn, dv)), accumulate=True))
            stmts.append(Compute(m, w(mn)))
            return stmts

        stmts: list[Stmt] = [Compute(m, ninf), Compute(l_, const(0, F32)), Compute(o, const(0, F32))]
        if keys is None:
            stmts += tile_loops(kb, (length,), (tk,), key_tile)
        else:  # keys every row sees unmasked, then those some rows see (the diagonal's, a window's edges)
            lo, seen_by_all, seen = keys
            clear = lo + (seen_by_all - lo) // tk * tk
            stmts += tile_loops(kb, (clear - lo,), (tk,), lambda st, sz: key_tile(st, sz, lo, False))
            stmts += tile_loops(kb, (seen - clear,), (tk,), lambda st, sz: key_tile(st, sz, clear, True))
        if sinks is not None:  # one more key per row: the head's sink logit, with no value
            sink = w(views.broadcast(views.reshape(views.window(sinks, (head,), (1,)), (1, 1)), (sq, 1)))
            stmts.append(Compute(sh, Binary("max", w(m), widen(sink, t))))
            stmts.append(Compute(c, Unary("exp", Binary("sub", w(m), w(sh)))))
            stmts.append(Compute(l_, Binary("add", Binary("mul", w(l_), w(c)),
                                               Unary("exp", Binary("sub", widen(sink, t), w(sh))))))
            stmts.append(Compute(o, Binary("mul", w(o), w(views.broadcast(c, (sq, dv))))))
        total = w(views.broadcast(l_, (sq, dv)))
        result = Select(Binary("eq", total, const(0, F32)), const(0, F32), Binary("div", w(o), total))
        stmts.append(Compute(head_matrix(out, (b, head, s0, 0), (1, 1, sq, dv)), narrow(result, t)))
        return stmts

    def query_tile(starts: Starts, sizes: Sizes) -> list[Stmt]:
        b, s0 = starts
        sq = sizes[1]
        return tile_loops(kb, (hkv, group), (1, 1), lambda hs, _: per_head(b, hs[0], hs[1], s0, sq))

    if visible is None or not skip_hidden:
        return tile_loops(kb, (batch, s), (1, tq), query_tile)

    # Each query tile written out, walking only the key tiles its rows can see (causal: row i
    # sees keys up to i + length - s; a sliding window also none before i - window), the tiles
    # every row sees in full without the causal test when no other mask applies.
    def causal_tiles(starts: Starts, _: Sizes) -> list[Stmt]:
        b = starts[0]
        stmts: list[Stmt] = []
        for s0 in range(0, s, tq):
            sq = min(tq, s - s0)
            rows_seen = visible[s0:s0 + sq]
            any_ = np.flatnonzero(rows_seen.any(axis=0))
            lo, hi = (int(any_[0]), int(any_[-1]) + 1) if any_.size else (0, 0)
            full = rows_seen.all(axis=0)[lo:hi]
            seen_by_all = lo + (int(np.argmin(full)) if not full.all() else hi - lo) if mask is None else lo
            keys = (lo, seen_by_all, hi)
            stmts += tile_loops(kb, (hkv, group), (1, 1),
                                lambda hs, _, s0=s0, sq=sq, keys=keys: per_head(b, hs[0], hs[1], Affine(s0), sq, keys))
        return stmts

    return tile_loops(kb, (batch,), (1,), causal_tiles)


__all__ = ["emit_online_attention", "head_matrix", "online_tiles"]
