"""Attention raising: ``softmax(scale * Q @ Kᵀ + mask) @ V`` as exporters write it becomes one ``attention`` op.

Part of ``raise-composites`` (:mod:`moecc.passes.raise_composites`). Once raised, attention lowers
to one kernel whose score tiles live in local memory (:func:`moecc.passes.tiled_lowering.composite.lower_attention`),
instead of a ``[seq, seq]`` score tensor written to global memory and read back by the softmax.

The root is ``matmul(P, V')`` (rank 4 ``[batch, heads, seq, dim]``, or rank 3 ``[batch*heads, ..]``),
read downwards:

- ``P`` is a ``softmax`` over the last axis, optionally behind the NaN guard PyTorch's SDPA
  export adds (``where(is_nan(p), 0, p)``), or GPT-OSS's sinks: ``slice(softmax(c - max(c)))``
  of ``c = concat(logits, column)`` with a column that is one constant logit per head, the
  sink's share sliced off (the op's ``sinks``);
- the softmax input is the scores, with masks on top: ``add(s, m)`` (a float mask, either
  operand order) and ``where(c, s, fill)`` / ``where(c, fill, s)`` with ``fill`` a constant at
  most :data:`MASK_FILL_LIMIT` (a boolean mask, as GPT-2's eager attention writes its causal
  mask); several of them add up into one float mask ``sum(m) + where(c, 0, fill)``, which is
  exact: ``s + fill`` rounds to ``fill`` for any finite score;
- under the masks, scalar ``mul``/``div`` by constants (the scale on the scores), then
  ``matmul(Q', K')``, and scalar ``mul`` by constants on ``Q'`` and ``K'`` (SDPA's ``sqrt(scale)``
  on each side), peeled only when used once;
- ``K'`` must be a view of the keys ``K [batch, kv_heads, len, dim]`` transposed and repeated over
  the heads of a group (grouped-query attention), and ``V'`` of ``V`` repeated the same way.
  Exporters write that with reshapes, transposes and expands in many orders (``repeat_kv`` as
  Unsqueeze/Expand/Reshape, the transpose before or after the head merge), so it is checked by
  **probing**: the chain of views is evaluated on an index ramp of a candidate base and compared
  with the expected gather; candidates are tried from the deepest value of the chain up, in the
  layouts ``[b, h, l, d]``, ``[b, h, d, l]`` and ``[b, l, h, d]``, so the raised op reads the
  unrepeated keys and values.

A constant mask that is exactly causal (0 where key ``j <= i + len - seq``, at most
:data:`MASK_FILL_LIMIT` elsewhere, ``len >= seq``) becomes ``is_causal`` with no mask operand.

Numerics: the op scales q and k by ``sqrt(scale)`` each, as SDPA's export does; a graph that
scales the scores instead rounds differently by an ulp or so. A query row whose every key is
masked with ``-inf`` gives zeros (ONNX ``Attention``'s rule) where the unguarded decomposed form
gives NaN; with a finite fill (``finfo.min``, as Hugging Face's masks use) both give the same.
Left alone: softmax over another axis, a scale applied after the mask, scale <= 0, keys or values
that are no view of a base tensor, and chains whose probe would exceed
:data:`MAX_PROBE_ELEMENTS`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from moecc.ir.builder import const_value
from moecc.ir.graph import Op, Value
from moecc.ir.types import DType
from moecc.passes.rewrite_patterns import Match, broadcasts_to, float_scalar

#: A ``where`` fill at most this is a mask (finfo(f32).min is -3.4e38; f16's -65504 is not).
MASK_FILL_LIMIT = -1e4

#: The largest base tensor the view probe evaluates whole (an int64 ramp of this many
#: elements); bigger ones are checked at :data:`PROBE_SAMPLES` positions, traced back through
#: the view chain one index at a time.
MAX_PROBE_ELEMENTS = 1 << 20
#: Target positions a sampled probe checks (corners included), from a fixed seed.
PROBE_SAMPLES = 1 << 16

#: The view ops a key/value chain may go through.
VIEW_KINDS = frozenset({"reshape", "transpose", "expand"})

Uses = Mapping[Value, list[Op | None]]


def _single_use(v: Value, uses: Uses) -> bool:
    return len(uses.get(v, [])) == 1


def _peel_scale(v: Value, uses: Uses, ops: list[Op], allow_div: bool) -> tuple[Value, float]:
    """``v`` without its scalar constant multipliers (and divisors), used once each; their product."""
    scale = 1.0
    while v.producer is not None and _single_use(v, uses):
        producer = v.producer
        a, b = (producer.operands + [None, None])[:2]
        if producer.kind == "mul" and a is not None and b is not None:
            c, rest = (float_scalar(b), a) if float_scalar(b) is not None else (float_scalar(a), b)
            if c is None or rest.type != v.type:
                break
            scale *= c
        elif producer.kind == "div" and allow_div and b is not None and float_scalar(b) not in (None, 0.0):
            c, rest = 1.0 / float(float_scalar(b)), a  # type: ignore[arg-type]
            if rest.type != v.type:
                break
            scale *= c
        else:
            break
        ops.append(producer)
        v = rest
    return v, scale


def _masks(v: Value, uses: Uses, ops: list[Op]) -> tuple[Value, list[tuple[str, Value, float]]]:
    """The scores under the mask steps on top of them, and those steps."""
    steps: list[tuple[str, Value, float]] = []
    while v.producer is not None and _single_use(v, uses):
        producer = v.producer
        if producer.kind == "add":
            a, b = producer.operands
            under = a if _leads_to_matmul(a) else b if _leads_to_matmul(b) else None
            if under is None or under.type != v.type:
                break
            steps.append(("add", b if under is a else a, 0.0))
            v = under
        elif producer.kind == "where":
            cond, a, b = producer.operands
            fill_b, fill_a = float_scalar(b), float_scalar(a)
            if fill_b is not None and fill_b <= MASK_FILL_LIMIT and a.type == v.type:
                steps.append(("keep", cond, fill_b))
                v = a
            elif fill_a is not None and fill_a <= MASK_FILL_LIMIT and b.type == v.type:
                steps.append(("drop", cond, fill_a))
                v = b
            else:
                break
        else:
            break
        ops.append(producer)
    return v, steps


def _leads_to_matmul(v: Value, depth: int = 0) -> bool:
    """``v`` is a matmul under scalar multipliers and mask steps (the scores side of a mask add)."""
    p = v.producer
    if p is None or depth > 16:
        return False
    if p.kind == "matmul":
        return True
    if p.kind in ("mul", "div") and len(p.operands) == 2:
        a, b = p.operands
        if float_scalar(b) is not None:
            return _leads_to_matmul(a, depth + 1)
        return p.kind == "mul" and float_scalar(a) is not None and _leads_to_matmul(b, depth + 1)
    if p.kind == "add":
        return any(_leads_to_matmul(o, depth + 1) for o in p.operands)
    if p.kind == "where":
        _, a, b = p.operands
        return (float_scalar(b) is not None and _leads_to_matmul(a, depth + 1)
                or float_scalar(a) is not None and _leads_to_matmul(b, depth + 1))
    return False


def _last_axis(op: Op, rank: int) -> bool:
    return op.attrs["axis"] in (-1, rank - 1)


def _softmax_input(probs: Value, uses: Uses, ops: list[Op]) -> tuple[Value, tuple[float, ...]] | None:
    """The logits a softmax over the last axis turns into ``probs``, and the attention sinks:
    ``slice(softmax([sub(c, reduce_max(c))] c)) [.., :L]`` with ``c = concat(logits, sinks)``
    whose last column is one constant logit per head (GPT-OSS), or a plain softmax (none)."""
    p = probs.producer
    rank = probs.type.rank
    if p is not None and p.kind == "softmax" and _last_axis(p, rank):
        ops.append(p)
        return p.operands[0], ()
    if p is None or p.kind != "slice" or rank != 4 or not _single_use(p.operands[0], uses):
        return None
    length = probs.type.shape[-1]
    axes = [a % rank for a in p.attrs["axes"]]
    if axes != [rank - 1] or list(p.attrs["steps"]) != [1] or int(p.attrs["starts"][0]) != 0 \
            or p.operands[0].type.shape[-1] != length + 1:
        return None
    softmax = p.operands[0].producer
    if softmax is None or softmax.kind != "softmax" or not _last_axis(softmax, rank):
        return None
    ops += [p, softmax]
    c = softmax.operands[0]
    shifted = c.producer
    if shifted is not None and shifted.kind == "sub" and _single_use(c, uses):
        top = shifted.operands[1].producer
        if (top is not None and top.kind == "reduce_max" and top.operands[0] is shifted.operands[0]
                and top.attrs["keepdims"] and [a % rank for a in top.attrs["axes"]] == [rank - 1]):
            ops += [shifted, top]  # the max a softmax subtracts itself: exact to drop
            c = shifted.operands[0]
    joined = c.producer
    if joined is None or joined.kind != "concat" or len(joined.operands) != 2 \
            or joined.attrs["axis"] % rank != rank - 1:
        return None
    logits, column = joined.operands
    data = const_value(column)
    if data is None or column.type.shape[-1] != 1:
        return None
    full = np.broadcast_to(data, c.type.shape[:-1] + (1,)).astype(np.float64)
    sinks = full[0, :, 0, 0]
    if not np.all(full == sinks[None, :, None, None]):  # one logit per head, whatever the batch and row
        return None
    ops.append(joined)
    return logits, tuple(float(x) for x in sinks)


def _view_chain(v: Value) -> list[tuple[Value, list[Op]]]:
    """``v`` and the values it is a view of, with the view ops from each up to ``v``."""
    chain: list[tuple[Value, list[Op]]] = [(v, [])]
    ops: list[Op] = []
    while v.producer is not None and v.producer.kind in VIEW_KINDS:
        ops = [v.producer] + ops
        v = v.producer.operands[0]
        chain.append((v, list(ops)))
    return chain


#: Base layouts tried for keys/values: name -> (reshape of the candidate, then transpose to [b, h, l, d]).
LAYOUTS = {
    "bhld": ((0, 1, 2, 3), (0, 1, 2, 3)),
    "bhdl": ((0, 1, 3, 2), (0, 1, 3, 2)),
    "blhd": ((0, 2, 1, 3), (0, 2, 1, 3)),
}


def _traced(ops: Sequence[Op], shape: tuple[int, ...], flat: np.ndarray) -> np.ndarray | None:
    """The chain's source flat index of each of the chain's result elements ``flat`` (the view
    ops read backwards: a reshape keeps flat indices, a transpose permutes the multi-index, an
    expand sends broadcast axes to 0)."""
    for op in reversed(ops):
        source = op.operands[0].type.shape
        if op.kind == "reshape":
            shape = source
            continue
        index = np.unravel_index(flat, shape)
        if op.kind == "transpose":
            back: list[np.ndarray] = [np.empty(0, dtype=np.int64)] * len(source)
            for k, p in enumerate(op.attrs["perm"]):
                back[p] = index[k]
        elif op.kind == "expand":
            lead = len(shape) - len(source)
            back = [np.zeros_like(index[0]) if source[d] == 1 and shape[d + lead] != 1 else index[d + lead]
                    for d in range(len(source))]
        else:
            return None
        flat = np.ravel_multi_index(tuple(back), source) if source else np.zeros_like(flat)
        shape = source
    return flat


def _expected(flat: np.ndarray, logical_target: tuple[int, ...], stored: tuple[int, ...], perm: tuple[int, ...],
              group: int, transposed: bool) -> np.ndarray:
    """The base's flat index (in its stored layout) each target element should read."""
    b, h, x, y = np.unravel_index(flat, logical_target)
    length, dim = (y, x) if transposed else (x, y)
    logical = (b, h // group, length, dim)
    stored_index = [np.empty(0, dtype=np.int64)] * 4
    for k, p in enumerate(perm):  # base = stored.transpose(perm): stored[j] with j[perm[k]] = logical[k]
        stored_index[p] = logical[k]
    return np.ravel_multi_index(tuple(stored_index), stored)


def _find_base(target: Value, batch: int, heads: int, length: int, dim: int,
               transposed: bool) -> tuple[Value, tuple[int, ...], tuple[int, ...], int] | None:
    """A value ``c`` and a reshape/transpose of it giving ``base [batch, kv_heads, length, dim]``
    with ``target = repeat(base, heads/kv_heads, axis=1)`` (transposed in its last two axes when
    ``transposed``), reshaped to target's shape. Returns (c, reshape, perm, kv_heads). Small
    chains are evaluated whole on an index ramp; big ones at :data:`PROBE_SAMPLES` positions."""
    total = target.type.numel
    logical_target = (batch, heads, dim, length) if transposed else (batch, heads, length, dim)
    if total == 0 or int(np.prod(logical_target)) != total:
        return None
    if total <= MAX_PROBE_ELEMENTS:
        positions = np.arange(total, dtype=np.int64)
    else:
        rng = np.random.default_rng(0)
        corners = np.arange(min(64, total), dtype=np.int64)
        positions = np.unique(np.concatenate([rng.integers(0, total, PROBE_SAMPLES), corners, total - 1 - corners]))
    for candidate, ops in reversed(_view_chain(target)):
        n = candidate.type.numel
        if n == 0 or n % (batch * length * dim):
            continue
        kv = n // (batch * length * dim)
        if kv == 0 or heads % kv:
            continue
        source = _traced(ops, target.type.shape, positions)
        if source is None:
            continue
        for order, perm in LAYOUTS.values():
            logical = (batch, kv, length, dim)
            stored = tuple(logical[i] for i in order)
            if np.array_equal(source, _expected(positions, logical_target, stored, perm, heads // kv, transposed)):
                return candidate, stored, perm, kv
    return None


def _causal(mask: np.ndarray, s: int, length: int) -> bool:
    """``mask`` (broadcasting to ``[.., s, length]``) is 0 on and below the bottom-right-aligned
    diagonal and at most :data:`MASK_FILL_LIMIT` above it, in every broadcast slice."""
    if length < s or mask.ndim < 2 or mask.shape[-2:] != (s, length):
        return False
    allowed = np.arange(length)[None, :] <= np.arange(s)[:, None] + (length - s)
    rows = mask.reshape(-1, s, length).astype(np.float64)
    return bool(np.all(rows[:, allowed] == 0) and np.all(rows[:, ~allowed] <= MASK_FILL_LIMIT))


def find_attention(root: Op, uses: Uses) -> Match | None:
    """The attention ``root`` (a ``matmul``) computes, as a match (see the module docstring)."""
    if root.kind != "matmul" or root.result.type.rank not in (3, 4) or not root.result.type.dtype.is_float:
        return None
    probs, v_view = root.operands
    if not probs.type.rank == v_view.type.rank == root.result.type.rank:  # e.g. weights @ a vector
        return None
    ops: list[Op] = [root]
    if not _single_use(probs, uses):
        return None
    guard = probs.producer
    if guard is not None and guard.kind == "where":
        cond, zero, inner = guard.operands
        if (cond.producer is None or cond.producer.kind != "is_nan" or cond.producer.operands[0] is not inner
                or float_scalar(zero) != 0.0 or len(uses.get(cond, [])) != 1 or inner.type != probs.type):
            return None
        ops += [guard, cond.producer]
        probs = inner
        if len(uses.get(probs, [])) != 2:  # the is_nan and the where
            return None
    rank = probs.type.rank
    if guard is None and not _single_use(probs, uses):
        return None
    found = _softmax_input(probs, uses, ops)
    if found is None:
        return None
    logits, sinks = found
    scores, steps = _masks(logits, uses, ops)
    if not _single_use(scores, uses):
        return None
    scores, score_scale = _peel_scale(scores, uses, ops, allow_div=True)
    qk = scores.producer
    if qk is None or qk.kind != "matmul" or not _single_use(scores, uses):
        return None
    ops.append(qk)
    q, q_scale = _peel_scale(qk.operands[0], uses, ops, allow_div=False)
    k_t, k_scale = _peel_scale(qk.operands[1], uses, ops, allow_div=False)
    scale = score_scale * q_scale * k_scale
    if not scale > 0:
        return None
    shape = q.type.shape
    lead = shape[:-2]
    batch, heads = (1, lead[0]) if rank == 3 else lead
    s, d = shape[-2:]
    length, dv = v_view.type.shape[-2], v_view.type.shape[-1]
    if k_t.type.shape != lead + (d, length) or v_view.type.shape != lead + (length, dv):
        return None
    key = _find_base(k_t, batch, heads, length, d, transposed=True)
    val = _find_base(v_view, batch, heads, length, dv, transposed=False)
    if key is None or val is None or key[3] != val[3]:
        return None
    full = (batch, heads, s, length)
    for kind, mask, _ in steps:
        if (kind != "add") != (mask.type.dtype == DType.BOOL) or kind == "add" and mask.type.dtype != q.type.dtype:
            return None
        mask_shape = (1, *mask.type.shape) if rank == 3 and mask.type.rank == 3 else mask.type.shape
        if len(mask_shape) > 4 or not broadcasts_to(mask_shape, full):
            return None
    return Match({"q": q}, ops, info={"key": key, "value": val, "scale": scale, "steps": steps, "sinks": sinks,
                                      "batch": batch, "heads": heads, "seq": s, "length": length})


def _base_view(rw, found: tuple[Value, tuple[int, ...], tuple[int, ...], int], name: str) -> Value:  # noqa: ANN001
    candidate, stored, perm, _ = found
    v = candidate
    if v.type.shape != stored:
        v = rw.emit("reshape", [v], {"shape": list(stored)}, name=name)
    if perm != (0, 1, 2, 3):
        v = rw.emit("transpose", [v], {"perm": list(perm)}, name=name)
    return v


def rewrite_attention(m: Match, rw) -> Value:  # noqa: ANN001 - a canonicalize.Rewriter
    info = m.info
    q = m["q"]
    batch, heads, s, length = info["batch"], info["heads"], info["seq"], info["length"]
    root_type = m.ops[0].result.type
    rank3 = q.type.rank == 3
    if rank3:
        q = rw.emit("reshape", [q], {"shape": [batch, heads, s, q.type.shape[-1]]}, name="q")
    k = _base_view(rw, info["key"], "k")
    v = _base_view(rw, info["value"], "v")
    mask: Value | None = None
    for kind, operand, fill in info["steps"]:
        if kind == "add":
            term = operand
        else:
            zero, filled = rw.scalar(0.0, q), rw.scalar(fill, q)
            term = rw.emit("where", [operand, zero, filled] if kind == "keep" else [operand, filled, zero], name="mask")
        if rank3 and term.type.rank == 3:
            term = rw.emit("reshape", [term], {"shape": [1, *term.type.shape]}, name="mask")
        mask = term if mask is None else rw.emit("add", [mask, term], name="mask")
    attrs = {"scale": float(info["scale"]), "is_causal": False, "sinks": list(info["sinks"])}
    operands = [q, k, v]
    if mask is not None:
        data = const_value(mask)
        if data is not None and _causal(data, s, length):
            attrs["is_causal"] = True
        else:
            operands.append(mask)
    out = rw.emit("attention", operands, attrs, name="attention")
    if rank3:
        out = rw.emit("reshape", [out], {"shape": list(root_type.shape)}, name="attention")
    return out


def find_heads_last(root: Op, uses: Uses) -> Match | None:
    """``transpose(attention(..)) {perm = [0, 2, 1, 3]}`` with the attention used only there:
    the attention can write its rows in that order itself (``heads_last``)."""
    if root.kind != "transpose" or tuple(root.attrs["perm"]) != (0, 2, 1, 3):
        return None
    inner = root.operands[0].producer
    if inner is None or inner.kind != "attention" or inner.attrs["heads_last"]:
        return None
    return Match({}, [root, inner])


def rewrite_heads_last(m: Match, rw) -> Value:  # noqa: ANN001 - a canonicalize.Rewriter
    inner = m.ops[1]
    return rw.emit("attention", inner.operands, {**inner.attrs, "heads_last": True}, name="attention")


__all__ = ["LAYOUTS", "MASK_FILL_LIMIT", "MAX_PROBE_ELEMENTS", "find_attention", "find_heads_last", "rewrite_attention",
           "rewrite_heads_last"]
