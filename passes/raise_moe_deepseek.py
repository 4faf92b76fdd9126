"""DeepSeek-V3's router for :mod:`moecc.passes.raise_moe`: sigmoid scores, a selection bias,
group-limited top-k, the uncorrected scores of the chosen experts as weights, routed scaling.

Hugging Face's ``DeepseekV3TopkRouter`` computes ``scores = sigmoid(x @ W^T)``, ``choice = scores +
e_score_correction_bias``, each group's score as the sum of the top 2 of its ``E / n_group``
``choice`` values, keeps the ``topk_group`` best groups (``scatter`` of ones into zeros at their
indices, expanded to the experts), masks the other experts' ``choice`` to ``-inf``, takes the
top-k experts of it and weights them by ``scores.gather(1, idx)`` (renormalised by their sum
``+ 1e-20`` if ``norm_topk_prob``) times ``routed_scaling_factor``. PyTorch's dynamo exporter
writes (after ``canonicalize`` and ``fold-constants``)::

    %scores = sigmoid(matmul(%x, %router_w))
    %choice = add(%scores, %e_score_correction_bias)
    %top2, %_ = top_k(reshape(%choice) [T, G, E/G]) {k = 2}
    %gidx = top_k(reduce_sum(%top2) {axes = [2], keepdims = false}) {k = topk_group}
    %mask = reshape(expand(reshape(scatter_elements(%zeros, %gidx, %ones) {axis = 1})))  [T, E]
    %masked = where(not(cast(%mask) {to = bool}), -inf, %choice)
    %_, %idx = top_k(%masked) {k = top_k}                 <- the anchor
    %w = mul(div(gather_elements(%scores, %idx), reduce_sum(...)), routed_scaling_factor)

:func:`sigmoid_routing` reads that backwards from the anchor ``top_k``: the candidates are the
masked ``choice`` (``where`` either way round, the mask a bool or cast to one, the fill ``-inf``
or a constant below every corrected score: below ``min(select_b)``, or below 0 without a
selection bias), or ``choice`` itself (no group limit); ``choice`` is ``sigmoid(logits)`` plus an
optional constant ``[E]`` bias. Views are checked by coordinates: the ``[T, G, E/G]`` view must
put expert ``g * E/G + i`` at ``(g, i)``, and the mask's views must give expert ``e`` its group
``e // (E/G)``'s mark; the group score must be the sum over the last axis of a top-2 (largest) of
that view. The routing weights must be the *uncorrected* scores: ``gather_elements(scores, idx)``
along the experts (a gather of ``choice`` when there is a selection bias is left alone: the op's
weights never carry the bias), or, without a selection bias, the top-k values themselves;
then optionally ``w / (reduce_sum(w, -1, keepdims) [+ eps])`` (a constant ``0 <= eps <= 1e-12``,
neglected: it matters only when the chosen scores sum below ~1e-6) and ``* c`` (a positive scalar
constant). ``n_group = 1`` (every expert in the one group) needs no attributes. The shared
experts stay ordinary ops added to the ``moe`` result (as Qwen2-MoE's shared expert).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from moecc.ir.builder import const_value
from moecc.ir.graph import Op, Value
from moecc.ir.ops.common import normalize_axis
from moecc.ir.types import DType
from moecc.passes.raise_moe import VIEW_KINDS, _along, _fit, _require, _view
from moecc.passes.rewrite_patterns import float_scalar

if TYPE_CHECKING:
    from moecc.passes.raise_moe import Matcher

#: The largest constant added to the renormalisation's denominator that is neglected.
MAX_EPS = 1e-12


@dataclass
class SigmoidRouting:
    """A DeepSeek-V3 router read backwards from its last ``top_k``."""

    logits: Value
    weights: Value  # the routing weights [.., k] that multiply the experts' outputs
    normalize: bool
    attrs: dict = field(default_factory=dict)  # the moe op's routing attributes
    select_b: np.ndarray | None = None
    ops: list[Op] = field(default_factory=list)



def _last(op: Op, axis_attr: str, rank: int) -> bool:
    return normalize_axis(op.kind, op.attrs[axis_attr], rank) == rank - 1


def _views_back(value: Value, stop: Value | None = None) -> tuple[Value, list[Op]]:
    """The first non-view ancestor of ``value`` (or ``stop``) and the views from it, in order."""
    chain: list[Op] = []
    while value is not stop and value.producer is not None and value.producer.kind in VIEW_KINDS:
        chain.append(value.producer)
        value = value.producer.operands[0]
    return value, chain[::-1]


def _moved(chain: list[Op], shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) coordinates of a ``[.., N]`` value's elements after the views ``chain``
    (rows: the flattened leading dims)."""
    rank = len(shape)
    rows = int(np.prod(shape[:-1], dtype=np.int64))
    row = np.arange(rows).reshape(shape[:-1] + (1,))
    col = _along(np.arange(shape[-1]), rank - 1, rank)
    for op in chain:
        row, col = _view(op, row), _view(op, col)
    return row, col


class _Reader:
    def __init__(self, m: Matcher, anchor: Op) -> None:
        self.m = m
        self.anchor = anchor
        self.ops: list[Op] = []

    def users(self, value: Value) -> list[Op]:
        return [u for u in self.m.uses.get(value, []) if u is not None]

    # -- candidates ------------------------------------------------------------------------

    def choice(self, value: Value) -> tuple[Value, Value, np.ndarray | None] | None:
        """``(choice, scores, select_b)`` when ``value`` is ``sigmoid(l) [+ b]``, else None."""
        op = value.producer
        if op is None:
            return None
        if op.kind == "sigmoid":
            return value, value, None
        if op.kind != "add":
            return None
        for s, b in (op.operands, op.operands[::-1]):
            sp = s.producer
            bias = const_value(b)
            if sp is None or sp.kind != "sigmoid" or bias is None:
                continue
            experts = value.type.shape[-1]
            _require(bias.size == experts and bias.shape[-1:] == (experts,) and s.type.shape == value.type.shape,
                     "the sigmoid scores' added constant is not one selection bias per expert")
            _require(bias.dtype.kind == "f" and np.isfinite(bias).all(), "a non-finite selection bias")
            self.ops.append(op)
            return value, s, bias.reshape(experts).astype(np.float32)
        return None

    def masked(self, op: Op) -> tuple[Value, Value, np.ndarray | None, Value, float]:
        """The ``where`` of masked candidates: ``(choice, scores, select_b, mask [.., E] as a 0/1
        or bool value before any cast/not, fill)``."""
        cond, a, b = op.operands
        negated = False
        chain = []
        c = cond
        while c.producer is not None and c.producer.kind in ("not", "cast"):
            if c.producer.kind == "not":
                negated = not negated
            else:
                _require(c.producer.attrs["to"] == DType.BOOL, "the group mask is cast to a non-bool")
            chain.append(c.producer)
            c = c.producer.operands[0]
        kept, fill = (b, a) if negated else (a, b)
        value = float_scalar(fill)
        _require(value is not None, "the masked experts' fill is not a scalar constant")
        found = self.choice(kept)
        _require(found is not None, "the masked candidates are not sigmoid scores (plus a bias)")
        choice, scores, select_b = found
        floor = float(select_b.min()) if select_b is not None else 0.0
        _require(value == -math.inf or value < floor,
                 f"the masked experts' fill {value} is not below every corrected score (>= {floor})")
        _require(op.result.type.shape == choice.type.shape, "the mask broadcasts the candidates")
        self.ops += [op, *chain]
        return choice, scores, select_b, c, value

    def groups(self, mask: Value, choice: Value) -> tuple[int, int]:
        """``(n_group, topk_group)`` from the group mask ``[.., E]`` (views of a scatter of ones
        at the kept groups' indices into zeros), checking each group's score."""
        root, chain = _views_back(mask)
        sc = root.producer
        _require(sc is not None and sc.kind == "scatter_elements", "the expert mask is not scattered group marks")
        zeros, gidx, ones = sc.operands
        shape = sc.result.type.shape
        rank = len(shape)
        _require(_last(sc, "axis", rank) and sc.attrs.get("reduction", "none") == "none",
                 "the group marks are not scattered along the groups")
        zd, od = const_value(zeros), const_value(ones)
        _require(zd is not None and not np.any(zd) and od is not None and bool(np.all(od == 1)),
                 "the group marks are not ones scattered into zeros")
        experts = choice.type.shape[-1]
        n_group = shape[-1]
        _require(n_group >= 1 and experts % n_group == 0, "the groups do not divide the experts")
        size = experts // n_group
        _require(mask.type.shape == choice.type.shape and shape[:-1] == choice.type.shape[:-1],
                 "the group mask is not one mark per expert")
        row, col = _moved(chain, shape)
        want_row, want_col = _moved([], choice.type.shape)
        full = mask.type.shape
        same_rows = (_fit(row, full) == _fit(want_row, full)).all()
        _require(same_rows and (_fit(col, full) == _fit(want_col, full) // size).all(),
                 "the group mask does not give each expert its group's mark")
        tk = gidx.producer
        _require(tk is not None and tk.kind == "top_k" and gidx is tk.results[1], "the kept groups are not a top-k")
        _require(_last(tk, "axis", rank) and tk.attrs["largest"], "the kept groups are not the largest")
        topk_group = tk.attrs["k"]
        self.ops += [sc, *chain, tk]
        self.group_score(tk.operands[0], choice, n_group, size)
        return n_group, topk_group

    def group_score(self, score: Value, choice: Value, n_group: int, size: int) -> None:
        """``score [.., G]`` must be the sum of the top 2 of each group of ``choice``."""
        root, after = _views_back(score)
        red = root.producer
        _require(red is not None and red.kind == "reduce_sum", "a group's score is not a sum")
        top = red.operands[0]
        rank = top.type.rank
        axes = red.attrs.get("axes")
        _require(len(red.operands) == 1 and axes is not None and len(axes) == 1
                 and normalize_axis("reduce_sum", axes[0], rank) == rank - 1,
                 "a group's score is not a sum over its top values")
        _require(score.type.shape == choice.type.shape[:-1] + (n_group,), "the group scores are not one per group")
        tk = top.producer
        _require(tk is not None and tk.kind == "top_k" and top is tk.results[0] and _last(tk, "axis", rank)
                 and tk.attrs["largest"], "a group's score does not sum its largest values")
        _require(tk.attrs["k"] == 2, f"a group's score sums its top {tk.attrs['k']}, not its top 2")
        src, chain = _views_back(tk.operands[0], stop=choice)
        _require(src is choice, "the group scores are not of the corrected scores")
        grouped = tk.operands[0].type.shape
        _require(grouped[-2:] == (n_group, size), "the groups are not [.., groups, experts per group]")
        row, col = _moved(chain, choice.type.shape)
        want = np.arange(n_group * size).reshape(n_group, size)
        lead = choice.type.shape[:-1]
        rows = np.arange(int(np.prod(lead, dtype=np.int64))).reshape(lead + (1, 1))
        _require(grouped[:-2] == lead and (_fit(col, grouped) == want).all() and (_fit(row, grouped) == rows).all(),
                 "the groups are not consecutive experts of each token")
        # The reduced [.., G] to the score value's views must keep the groups in place.
        if after:
            keep_row, keep_col = _moved(after, red.result.type.shape)
            back_row, back_col = _moved([], score.type.shape)
            _require((_fit(keep_col, score.type.shape) == _fit(back_col, score.type.shape)).all()
                     and (_fit(keep_row, score.type.shape) == _fit(back_row, score.type.shape)).all(),
                     "the group scores are moved")
        self.ops += [red, *after, tk, *chain]

    # -- weights ---------------------------------------------------------------------------

    def weights(self, scores: Value, choice: Value, biased: bool) -> tuple[Value, bool, float | None]:
        """The routing weights value after the uncorrected scores of the chosen experts (a
        gather), the renormalisation and the scaling: ``(value, normalize, scale)``."""
        values, indices = self.anchor.results
        rank = indices.type.rank
        picked = None
        for user in self.users(indices):
            if user.kind == "gather_elements" and user.operands[1] is indices and _last(user, "axis", rank):
                data = user.operands[0]
                _require(data is scores or data is not choice,
                         "the routing weights gather the bias-corrected scores (the selection bias is in the weights)")
                _require(data is scores, "the routing weights gather other values than the sigmoid scores")
                picked = user
        if picked is not None:
            w = picked.result
            self.ops.append(picked)
        else:
            _require(not biased, "the routing weights are not the chosen experts' uncorrected scores")
            w = values  # the top-k values of the (masked) scores: the scores of the chosen experts
        normalize = False
        total = [u for u in self.users(w) if u.kind == "reduce_sum" and self.m.sums_last(u, w)]
        for r in total:
            denominator = r.result
            extra: list[Op] = []
            adds = [u for u in self.users(denominator) if u.kind == "add"]
            if len(adds) == 1 and len(self.users(denominator)) == 1:
                other = next(v for v in adds[0].operands if v is not denominator)
                eps = float_scalar(other)
                _require(eps is not None and 0 <= eps <= MAX_EPS,
                         f"the routing weights' denominator adds {eps}, not a negligible epsilon")
                denominator, extra = adds[0].result, [adds[0]]
            divs = [u for u in self.users(denominator) if u.kind == "div" and u.operands[0] is w
                    and u.operands[1] is denominator]
            if divs:
                w, normalize = divs[0].result, True
                self.ops += [r, *extra, divs[0]]
                break
        scale = None
        users = self.users(w)
        if len(users) == 1 and users[0].kind == "mul":
            other = next((v for v in users[0].operands if v is not w), w)
            c = float_scalar(other)
            if c is not None and other.type.rank <= w.type.rank and users[0].result.type.shape == w.type.shape:
                _require(math.isfinite(c) and c > 0, f"the routing weights are scaled by {c}")
                scale = c
                w = users[0].result
                self.ops.append(users[0])
        return w, normalize, scale


def sigmoid_routing(m: Matcher, anchor: Op) -> SigmoidRouting | None:
    """DeepSeek-V3's router ending in the ``top_k`` ``anchor``; None when its input is not
    sigmoid scores (masked or not), NoMatch when it nearly is."""
    cand = anchor.operands[0]
    op = cand.producer
    r = _Reader(m, anchor)
    if op is None:
        return None
    attrs: dict = {"scoring": "sigmoid"}
    if op.kind == "where":
        if not any(r.choice(v) is not None for v in op.operands[1:]):
            return None
        r.ops.clear()
        choice, scores, select_b, mask, _ = r.masked(op)
        n_group, topk_group = r.groups(mask, choice)
        if n_group > 1:
            attrs.update(n_group=n_group, topk_group=topk_group)
        else:
            _require(topk_group == 1, "internal: one group")
    else:
        found = r.choice(cand)
        if found is None:
            return None
        choice, scores, select_b = found
    sp = scores.producer
    rank = cand.type.rank
    _require(_last(anchor, "axis", rank) and anchor.attrs["largest"], "the experts' top-k is not the largest over them")
    experts = cand.type.shape[-1]
    k = anchor.attrs["k"]
    if "n_group" in attrs:
        _require(k <= attrs["topk_group"] * (experts // attrs["n_group"]),
                 "the top-k takes more experts than the kept groups hold")
    weights, normalize, scale = r.weights(scores, choice, select_b is not None)
    if select_b is not None:
        attrs["selection_bias"] = True
    if scale is not None and scale != 1.0:
        attrs["routed_scaling"] = scale
    r.ops.append(sp)
    return SigmoidRouting(sp.operands[0], weights, normalize, attrs, select_b, r.ops)


__all__ = ["MAX_EPS", "SigmoidRouting", "sigmoid_routing"]
