"""GPT-OSS's experts for :mod:`moecc.passes.raise_moe`: a clamped SwiGLU of interleaved gate/up
columns, and expert biases gathered by the top-k indices.

Hugging Face's ``GptOssExperts`` computes one fused projection ``gu = x @ gate_up_proj[e] +
gate_up_proj_bias[e]`` (``[E, H, 2F]``, ``[E, 2F]``) whose even columns are the gate and odd
columns the up projection, then ``(clamp(up, -limit, limit) + 1) * (g * sigmoid(alpha * g))``
with ``g = clamp(gate, max=limit)``, and ``@ down_proj[e] + down_proj_bias[e]``. PyTorch's
dynamo exporter writes (after ``canonicalize`` and ``fold-constants``)::

    %gu = add(reshape(matmul(%rows, gather_nd(%gate_up_proj, %idx))), gather_nd(%gate_up_bias, %idx))
    %g = clip(slice(%gu) {starts = [0], steps = [2]}) {max = 7.0}
    %u = clip(slice(%gu) {starts = [1], steps = [2]}) {min = -7.0, max = 7.0}
    %h = mul(add(%u, 1), mul(%g, sigmoid(mul(%g, 1.702))))

:func:`clamped_swiglu` reads that last ``mul`` (operands in either order; ``sigmoid(%g)`` when
alpha is 1) as a :class:`~moecc.passes.raise_moe.Glu` of the two halves of one projection: the
clips must be ``max = L`` on the gate and ``[-L, L]`` on the up, the added constant exactly 1,
alpha one scalar constant, and the two slices must take the even and the odd columns of the same
projection (coordinates, not slice attributes, decide), together every column once. The rewrite
then de-interleaves the constant weights (slices with step 2, folded) into the ``moe`` op's
``w_gate``/``w_up`` and ``b_gate``/``b_up`` with ``gating = "clamped_swiglu"``.

:func:`gathered_bias` reads ``add(%v, gather[_nd](%B, %idx))`` with ``%B`` a constant ``[E, N]``
and ``%idx`` the top-k indices as a per-expert bias of the gathered projection ``%v``, when
every element adds its own (token, slot)'s row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from moecc.ir.builder import const_value
from moecc.ir.graph import Op, Value
from moecc.ir.ops.common import normalize_axis
from moecc.passes.raise_moe import (
    MAX_TRACKED_ELEMENTS,
    VIEW_KINDS,
    Bias,
    Glu,
    Lin,
    NoMatch,
    Routing,
    Sym,
    _along,
    _fit,
    _require,
    _sub,
)
from moecc.passes.rewrite_patterns import float_scalar

if TYPE_CHECKING:
    from moecc.passes.raise_moe import Matcher



def _short(x: float, value: Value) -> float:
    """``x`` (a constant of ``value``'s element type) as the shortest float that rounds back to it:
    what the exporter's config said (1.702, not 1.7020000219345093)."""
    return float(str(np.asarray(x, dtype=value.type.dtype.numpy)[()]))


def _scaled(op: Op) -> tuple[Value, float] | None:
    """``(v, c)`` for ``op`` = ``v * c`` or ``v + c`` (either order) with ``c`` a scalar constant
    that does not broadcast ``v``."""
    for v, c in (op.operands, op.operands[::-1]):
        value = float_scalar(c)
        if value is not None and const_value(v) is None and v.type.shape == op.result.type.shape:
            return v, value
    return None


@dataclass
class _Form:
    """The ops of one clamped SwiGLU, structurally matched."""

    gate_clip: Op
    up_clip: Op
    ops: list[Op]
    alpha: float


def _form(op: Op) -> _Form | None:
    """``mul(add(clip(u), 1), mul(clip(g), sigmoid([mul(clip(g), alpha)])))`` in any operand
    order, else None (the clips' bounds and the constants are checked by the caller)."""
    if op.kind != "mul":
        return None
    for plus_v, prod_v in (op.operands, op.operands[::-1]):
        plus, prod = plus_v.producer, prod_v.producer
        if plus is None or plus.kind != "add" or prod is None or prod.kind != "mul":
            continue
        shifted = _scaled(plus)
        if shifted is None or shifted[0].producer is None or shifted[0].producer.kind != "clip":
            continue
        up, one = shifted
        if one != 1.0:
            raise NoMatch(f"a clamped SwiGLU adds {one} to the up projection, not 1")
        for g, s in (prod.operands, prod.operands[::-1]):
            sig = s.producer
            if sig is None or sig.kind != "sigmoid" or g.producer is None or g.producer.kind != "clip":
                continue
            inner = sig.operands[0]
            ops = [op, plus, prod, sig]
            if inner is g:
                alpha = 1.0
            else:
                scaled = _scaled(inner.producer) if inner.producer is not None and inner.producer.kind == "mul" else None
                if scaled is None or scaled[0] is not g:
                    continue
                alpha = _short(scaled[1], g)
                ops.append(inner.producer)
            return _Form(g.producer, up.producer, ops + [g.producer, up.producer], alpha)
    return None


def clamped_swiglu(m: Matcher, op: Op) -> Sym | None:
    """The ``mul`` ``op`` as GPT-OSS's clamped SwiGLU of one projection's interleaved columns;
    None when it is not of that structure (a plain product), NoMatch when it nearly is."""
    form = _form(op)
    if form is None:
        return None
    g_max, g_min = form.gate_clip.attrs.get("max"), form.gate_clip.attrs.get("min")
    u_max, u_min = form.up_clip.attrs.get("max"), form.up_clip.attrs.get("min")
    _require(g_max is not None and (g_min is None or g_min == -np.inf) and u_max is not None and u_min is not None,
             "a clamped SwiGLU needs clip(gate, max=L) and clip(up, -L, L)")
    _require(g_max == u_max == -u_min and 0 < g_max < np.inf,
             f"a clamped SwiGLU's clips differ: gate max {g_max}, up [{u_min}, {u_max}]")
    limit = _short(g_max, op.result)
    shape = op.result.type.shape
    gate_in, up_in = form.gate_clip.operands[0], form.up_clip.operands[0]
    _require(gate_in.type.shape == shape and up_in.type.shape == shape, "a clamped SwiGLU broadcasts")
    sg, su = m.sym(gate_in).broadcast(shape), m.sym(up_in).broadcast(shape)
    m.add(*form.ops)
    _require(sg.expr is su.expr and sg.width == su.width and sg.width > 0
             and not isinstance(sg.expr, Routing), "the clamped gate and up are not columns of one projection")
    _require((sg.t == su.t).all() and (sg.j == su.j).all(), "a clamped SwiGLU pairs different tokens or experts")
    width = sg.width
    fg, fu = np.broadcast_arrays(sg.f, su.f)
    g0 = int(fg.min())
    u0 = 1 - g0
    n = width // 2
    _require(width % 2 == 0 and g0 in (0, 1) and ((fg - g0) % 2 == 0).all() and (fu == fg - g0 + u0).all(),
             "the gate and up are not the interleaved columns of one projection")
    _require(np.array_equal(np.unique(fg), g0 + 2 * np.arange(n)),
             "the gate and up do not cover the projection's columns")
    gate, up = (_strided(sg.expr, start, n) for start in (g0, u0))
    return Sym(Glu(gate, up, form.alpha, limit), n, sg.t, sg.j, (sg.f - g0) // 2)


def _strided(expr: Any, start: int, n: int) -> Any:
    """``expr`` restricted to its features ``start, start + 2, ...`` (``n`` of them)."""
    if isinstance(expr, Lin):
        return Lin(expr.inp, expr.weight.sliced(start, n, 2))
    if isinstance(expr, Bias):
        return Bias(_strided(expr.inp, start, n), expr.bias[..., start::2][..., :n])
    raise NoMatch("the interleaved gate and up are not columns of a linear projection")


def gathered_bias(m: Matcher, op: Op) -> Sym | None:
    """The ``add`` ``op`` as a per-expert bias ``B[idx[t, j]]`` (``B`` a constant ``[E, N]``
    gathered by the top-k indices) on a projection gathered by the same indices; None when
    neither operand is such a gather."""
    shape = op.result.type.shape
    for other, bv in (op.operands, op.operands[::-1]):
        g = bv.producer
        if g is None or g.kind not in ("gather", "gather_nd") or other.type.shape != shape:
            continue
        data, index = g.operands
        table = const_value(data)
        if table is None or table.ndim != 2 or table.shape[0] != m.experts:
            continue
        root = index
        while root is not m.indices and root.producer is not None and root.producer.kind in VIEW_KINDS:
            root = root.producer.operands[0]
        if root is not m.indices:
            continue
        if g.kind == "gather":
            _require(normalize_axis("gather", g.attrs["axis"], 2) == 0, "a bias gathered along its features")
            coords = m.sym(index)
        else:
            _require(g.attrs.get("batch_dims", 0) == 0 and index.type.shape[-1:] == (1,), "gather_nd of a non-row")
            coords = m.sym(index).mapped(lambda a: a[..., 0])
        _require(isinstance(coords.expr, Routing), "a bias gathered by other indices")
        rank = bv.type.rank
        cols = table.shape[1]
        bt, bj = _fit(coords.t[..., None], bv.type.shape), _fit(coords.j[..., None], bv.type.shape)
        bf = _along(np.arange(cols), rank - 1, rank)
        s = m.sym(other).broadcast(shape)
        _require(s.width > 0 and _gathered(s.expr, m), "a gathered bias on other than a gathered projection")
        bt, bj, bf = (_fit(a, shape) for a in (bt, bj, bf))
        _require((s.t == bt).all() and (s.j == bj).all(), "a gathered bias of other tokens' experts")
        start = int(s.f.min())
        n = int(s.f.max()) + 1 - start
        fs, fb = (a.reshape(-1) for a in np.broadcast_arrays(s.f - start, bf))
        _require(fs.size <= MAX_TRACKED_ELEMENTS, "too large to trace")
        column = np.full(n, -1, dtype=np.int64)
        column[fs] = fb
        _require((column >= 0).all() and (column[fs] == fb).all(), "the gathered bias is not one per feature")
        m.add(op, g)
        return Sym(Bias(_sub(s.expr, start, n, s.width), table[:, column]), n, s.t, s.j, s.f - start)
    return None


def _gathered(expr: Any, m: Matcher) -> bool:
    """A projection whose weight is gathered by the top-k indices (possibly already biased)."""
    while isinstance(expr, Bias):
        expr = expr.inp
    return isinstance(expr, Lin) and expr.weight.mode == "gather" and expr.weight.index is m.indices


__all__ = ["clamped_swiglu", "gathered_bias"]
