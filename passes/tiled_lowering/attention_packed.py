"""Attention with several heads in one pass of the matrix unit, for short sequences.

Position in the flow: :func:`~.composite.lower_attention` calls :func:`emit_packed_attention`
on a target with a weight-stationary array (``array_rows`` x ``array_cols`` > 1, in-order
units: the ASIC) when :func:`packed_heads` finds ``G >= 2`` query heads whose keys and values
fit one weight tile together. Each head's ``q @ k^T`` and ``p @ v`` would be a fold of its own,
paying the array's weight load (its height in cycles) to stream a few query rows; packed, a
group of ``G`` heads pays it once per product:

    qpack  [sq, G*d]          column block h: head h's query rows (scaled)
    kdiag  [G*length, G*d]    block (h, h): head h's keys (its kv head's); masked out elsewhere
    scores = qpack @ kdiag^T  [sq, G*length]; column block h is q_h @ k_h^T
    vdiag  [G*length, G*dv]   block (h, h): head h's values; masked out elsewhere
    out    = probs @ vdiag    [sq, G*dv]; column block h is p_h @ v_h

The products' block masks mark only the diagonal blocks (the tiled IR takes the others as zero,
whatever the locals hold there: they are never written), so each head's sums are its own (on
an interpreter a non-finite query element, ``inf * 0``, would reach the other heads of its
group; the ASIC skips those blocks). Row-major
``[sq, G*length]`` scores are ``[sq*G, length]`` rows ``q*G + h``: one softmax covers every
head of the group, with the causal triangle (and any constant mask) repeated per head at
compile time and a run-time mask copied in per head. The outputs are normalised after ``@ v``
(each row by its reciprocal sum, over ``dv`` columns) unless a row may see no key. Each group
of heads has its own locals, and every group's
scores come before any group's output in program order, so the matrix unit computes group
``i + 1``'s scores while the vector unit normalises group ``i``'s.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from moecc.ir.affine import Affine
from moecc.ir.tiled import views
from moecc.ir.tiled.nodes import Binary, Compute, Copy, Expr, MatMul, Operand, Reduce, Select, Stmt, Unary, View
from moecc.ir.types import DType
from moecc.passes.tiled_lowering.attention_online import head_matrix
from moecc.passes.tiled_lowering.context import KernelBuilder, TilingParams, const
from moecc.passes.tiled_lowering.elementwise import narrow, widen
from moecc.passes.tiled_lowering.reductions import reduce_chunks
from moecc.passes.tiled_lowering.tiles import Sizes, Starts, tile_loops

F32 = DType.F32


#: The smallest zero block the packed products mark for the matrix unit to skip (``mxu.mmsp``
#: takes power-of-two blocks from 4): without such a block heads are not packed, since the array
#: would count the zero blocks' multiplies as work.
MIN_MASK_BLOCK = 4


def mask_block(length: int, d: int, dv: int) -> int:
    """The edge of the blocks the packed products' masks mark: the largest power of two
    dividing ``d``, ``length`` and ``dv`` (the heads' blocks are whole blocks of it)."""
    common = math.gcd(math.gcd(length, d), dv)
    return common & -common


def packed_bytes(params: TilingParams, group: int, hq: int, s: int, length: int, d: int, dv: int) -> int:
    """Bytes of the packed kernel's locals with ``group`` heads per pass (f32 elements, every
    group of heads its own, the matrix unit's copies counted as f32 too: an upper bound)."""
    tq = max(1, min(s, params.tile_rows))
    per_group = 2 * (tq * group * d + group * length * group * (d + dv)) + 3 * tq * group * length \
        + 2 * tq * group * dv + tq * group * (length + 3)
    return 4 * per_group * (hq // group)


def packed_heads(params: TilingParams, hq: int, s: int, length: int, d: int, dv: int, share: int = 1) -> int:
    """How many query heads one array pass takes (a divisor of ``hq``; 1: no packing): their
    keys fit one weight tile side by side (``G*d`` rows, ``G*length`` columns), and so do
    their values (``G*length`` rows, ``G*dv`` columns), in blocks of :func:`mask_block`, and
    the kernel's locals (:func:`packed_bytes`) within ``share`` times the local budget."""
    rows, cols = params.array_rows, params.array_cols
    if not params.in_order_units or rows < 2 or cols < 2 or mask_block(length, d, dv) < MIN_MASK_BLOCK:
        return 1
    most = min(rows // max(1, d), cols // max(1, length), rows // max(1, length), cols // max(1, dv), hq)
    for group in range(most, 1, -1):
        if hq % group == 0 and packed_bytes(params, group, hq, s, length, d, dv) <= share * params.local_bytes:
            return group
    return 1


def block(local: View, row0: int, col0: int, rows: int, cols: int) -> View:
    """The ``rows x cols`` block of a row-major 2-D ``local`` at ``(row0, col0)``."""
    return views.window(local, (Affine(row0), Affine(col0)), (rows, cols))


def side_by_side(view: View, b: Affine, first: int, heads: int, s0: Affine, sq: int) -> View | None:
    """Heads ``first + [0, heads)`` of a ``[batch, head, rows, cols]`` view, rows ``s0 +
    [0, sq)``, as one ``[sq, heads * cols]`` matrix (head h's columns at ``h * cols``), when the
    layout has them so (a heads-last result, or q in its projection's layout); else None."""
    cols = view.shape[3]
    part = views.window(view, (b, Affine(first), s0, Affine(0)), (1, heads, sq, cols))
    try:
        return views.reshape(views.permute(part, (0, 2, 1, 3)), (sq, heads * cols))
    except ValueError:
        return None


def emit_packed_attention(kb: KernelBuilder, *, t: DType, rt: DType, shape: tuple[int, int, int, int, int, int, int],
                          heads: int, qs: View, ks: View, vv: View, out: View, mask: View | None, mask_bool: bool,
                          allowed: np.ndarray | None, scale: float | None, cap: float, may_block: bool,
                          hint: str, constant: Callable[[np.ndarray, str], View]) -> list[Stmt]:
    """The statements of one attention op with ``heads`` query heads per array pass (see the
    module docstring). ``shape`` is ``(batch, hq, hkv, s, length, d, dv)``; ``rt`` the type of
    the matrix unit's operands; ``scale`` None when q and k are already scaled; ``allowed`` the
    causal ``[s, length]`` triangle (True: seen), made a packed constant here by ``constant``
    (:meth:`LoweringContext.constant`) under ``hint``."""
    batch, hq, hkv, s, length, d, dv = shape
    group, packs, g = hq // hkv, hq // heads, heads
    tq = max(1, min(s, kb.params.tile_rows))
    zero = Affine(0)
    ninf = const(-math.inf, F32)
    # The causal triangle with each query row repeated per head: row q*G + h is head h's row q.
    seen = constant(np.repeat(allowed, g, axis=0), f"{hint}_causal_packed") if allowed is not None else None
    # The diagonal blocks of the packed keys (k x n: G*d x G*length) and values (G*length x
    # G*dv), for the matrix unit to skip the rest.
    edge = mask_block(length, d, dv)
    eye = np.eye(g, dtype=np.uint8)
    key_blocks = constant(np.kron(eye, np.ones((d // edge, length // edge), np.uint8)), f"{hint}_key_blocks")
    value_blocks = constant(np.kron(eye, np.ones((length // edge, dv // edge), np.uint8)), f"{hint}_value_blocks")

    class Slot:
        """One group of heads' locals."""

        def __init__(self) -> None:
            # Each head's rows land in its block by one DMA at the local's row stride; a
            # conversion to the matrix unit's type (and the queries' scale) then takes the
            # whole tile in one vector pass.
            self.q_in = kb.local("queries_in", t, (tq, g * d))
            self.queries = kb.local("queries", rt, (tq, g * d)) if rt != t or scale is not None else self.q_in
            self.k_in = kb.local("keys_diag_in", t, (g * length, g * d))
            self.keys = kb.local("keys_diag", rt, (g * length, g * d)) if rt != t else self.k_in
            self.v_in = kb.local("values_diag_in", t, (g * length, g * dv))
            self.values = kb.local("values_diag", rt, (g * length, g * dv)) if rt != t else self.v_in
            self.scores = kb.local("scores", t, (tq, g * length))
            self.exps = kb.local("weights", t, (tq, g * length))
            self.probs = kb.local("probs", rt, (tq, g * length)) if rt != t else self.exps
            self.outputs = kb.local("outputs", t, (tq, g * dv))
            # Normalised, where each head's columns are read by one DMA at the row stride (the
            # products' local is the accumulators, which no DMA reaches).
            self.result = kb.local("result", t, (tq, g * dv))
            self.row_max = kb.local("row_max", t, (tq * g, 1))
            self.row_sum = kb.local("row_sum", t, (tq * g, 1))
            self.bias = kb.local("bias", t, (tq * g, length)) if mask is not None else None
            self.blocked = kb.local("bias_max", t, (tq * g, 1)) if mask is not None and may_block else None

    slots = [Slot() for _ in range(packs)]

    def rows(local: View, sq: int, cols: int) -> View:
        """A local's first ``sq`` query rows of every head, ``sq*G`` rows of ``cols``."""
        return View(local.buffer, local.offset, (sq * g, cols), (cols, 1))

    def convert(dst: View, src: View, factor: float | None = None) -> list[Stmt]:
        """``dst`` (the matrix unit's operand) from ``src`` (in ``t``): nothing when they are one."""
        if dst == src:
            return []
        value: Expr = widen(Operand(src), t)
        if factor is not None:
            value = Binary("mul", value, const(factor, F32))
        return [Compute(dst, narrow(value, rt))]

    def kv_blocks(slot: Slot, b: Affine, first: int) -> list[Stmt]:
        stmts: list[Stmt] = []
        for local, source, width in ((slot.k_in, ks, d), (slot.v_in, vv, dv)):
            for h in range(g):
                kv = (first + h) // group
                stmts.append(Copy(block(local, h * length, h * width, length, width),
                                  head_matrix(source, (b, kv, 0, 0), (1, 1, length, width))))
        return stmts + convert(slot.keys, slot.k_in) + convert(slot.values, slot.v_in)

    def weights(slot: Slot, b: Affine, first: int, s0: Affine, sq: int) -> list[Stmt]:
        """The group's softmax weights of query rows ``s0 + [0, sq)``."""
        whole = side_by_side(qs, b, first, g, s0, sq)
        stmts: list[Stmt] = ([Copy(block(slot.q_in, 0, 0, sq, g * d), whole)] if whole is not None else
                             [Copy(block(slot.q_in, 0, h * d, sq, d), head_matrix(qs, (b, first + h, s0, 0), (1, 1, sq, d)))
                              for h in range(g)])
        stmts += convert(block(slot.queries, 0, 0, sq, g * d), block(slot.q_in, 0, 0, sq, g * d), scale)
        sc = block(slot.scores, 0, 0, sq, g * length)
        stmts.append(MatMul(sc, block(slot.queries, 0, 0, sq, g * d), slot.keys, transpose_b=True,
                            blocks=key_blocks, block=edge))
        sc = rows(slot.scores, sq, length)
        ex = rows(slot.exps, sq, length)
        mx, sm = rows(slot.row_max, sq, 1), rows(slot.row_sum, sq, 1)
        value: Expr = widen(Operand(sc), t)
        changed = cap > 0 or slot.bias is not None or seen is not None
        if cap > 0:
            value = Binary("mul", Unary("tanh", Binary("div", value, const(cap, F32))), const(cap, F32))
        keep: Expr | None = None
        if slot.bias is not None:
            assert mask is not None
            bias = rows(slot.bias, sq, length)
            for h in range(g):  # head h's mask rows into rows q*G + h
                m = Operand(head_matrix(mask, (b, first + h, s0, 0), (1, 1, sq, length)))
                part: Expr = Select(m, const(0, F32), ninf) if mask_bool else widen(m, t)
                dst = View(slot.bias.buffer, slot.bias.offset + h * length, (sq, length), (g * length, 1))
                stmts.append(Compute(dst, narrow(part, t)))
            if seen is not None:
                causal = Operand(views.window(seen, (s0 * g, zero), (sq * g, length)))
                stmts.append(Compute(bias, narrow(Select(causal, widen(Operand(bias), t), ninf), t)))
            if slot.blocked is not None:
                blocked = rows(slot.blocked, sq, 1)
                stmts.append(Reduce("max", blocked, bias))
                keep = Binary("ne", widen(Operand(blocked), t), ninf)
            if cap > 0:
                stmts.append(Compute(sc, narrow(value, t)))  # rounded to t before the bias, as the reference
                value = widen(Operand(sc), t)
            value = Binary("add", value, widen(Operand(bias), t))
        elif seen is not None:
            if cap > 0:
                value = widen(narrow(value, t), t)
            value = Select(Operand(views.window(seen, (s0 * g, zero), (sq * g, length))), value, ninf)
        if changed:
            stmts.append(Compute(sc, narrow(value, t)))
        stmts += reduce_chunks(kb, "max", mx, sc)
        shift: Expr = widen(Operand(mx), t)
        if may_block:
            shift = Select(Binary("eq", shift, ninf), const(0, F32), shift)
        stmts.append(Compute(ex, narrow(Unary("exp", Binary("sub", widen(Operand(sc), t), shift)), t)))
        if not may_block and slot.probs is not slot.exps:
            stmts.append(Compute(rows(slot.probs, sq, length), narrow(widen(Operand(ex), t), rt)))
        stmts += reduce_chunks(kb, "sum", sm, ex)
        total: Expr = widen(Operand(sm), t)
        if may_block:
            total = Select(Binary("eq", total, const(0, F32)), const(1, F32), total)
        stmts.append(Compute(sm, narrow(Unary("rcp", total), t)))
        if may_block:  # normalised before ``@ v``, rows that see no key zeroed
            divided: Expr = Binary("mul", widen(Operand(ex), t), widen(Operand(sm), t))
            if keep is not None:
                divided = Select(keep, divided, const(0, F32))
            stmts.append(Compute(rows(slot.probs, sq, length), narrow(divided, rt)))
        return stmts

    def outputs(slot: Slot, b: Affine, first: int, s0: Affine, sq: int) -> list[Stmt]:
        """The group's output rows: its weights ``@ v``, normalised, stored per head."""
        o = block(slot.outputs, 0, 0, sq, g * dv)
        stmts: list[Stmt] = [MatMul(o, block(slot.probs, 0, 0, sq, g * length), slot.values, blocks=value_blocks, block=edge)]
        value: Expr = widen(Operand(rows(slot.outputs, sq, dv)), t)
        if not may_block:  # each row by its reciprocal sum, over dv columns instead of the keys
            value = Binary("mul", value, widen(Operand(views.broadcast(rows(slot.row_sum, sq, 1), (sq * g, dv))), t))
        stmts.append(Compute(rows(slot.result, sq, dv), narrow(value, t)))
        whole = side_by_side(out, b, first, g, s0, sq)
        if whole is not None:  # heads side by side in the result too: one store
            return stmts + [Copy(whole, block(slot.result, 0, 0, sq, g * dv))]
        for h in range(g):
            stmts.append(Copy(head_matrix(out, (b, first + h, s0, 0), (1, 1, sq, dv)), block(slot.result, 0, h * dv, sq, dv)))
        return stmts

    def query_tile(b: Affine, s0: Affine, sq: int) -> list[Stmt]:
        start = [st for p, slot in enumerate(slots) for st in weights(slot, b, p * g, s0, sq)]
        return start + [st for p, slot in enumerate(slots) for st in outputs(slot, b, p * g, s0, sq)]

    def batch_entry(starts: Starts, _: Sizes) -> list[Stmt]:
        b = starts[0]
        stmts = [st for p, slot in enumerate(slots) for st in kv_blocks(slot, b, p * g)]
        return stmts + tile_loops(kb, (s,), (tq,), lambda st, sz: query_tile(b, st[0], sz[0]))

    # Only the diagonal blocks are written: the products' masks make the others zero.
    return tile_loops(kb, (batch,), (1,), batch_entry)


__all__ = ["emit_packed_attention", "packed_heads"]
