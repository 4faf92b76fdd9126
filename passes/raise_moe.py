"""MoE recognition: the subgraphs exporters write for a mixture-of-experts layer become one ``moe`` op.

Exporters never write a sparse MoE: either every token's chosen experts' weights are gathered and
applied with batched matmuls (Hugging Face's ``batched_mm`` experts, as PyTorch's dynamo exporter
writes Mixtral and Qwen2-MoE), or every expert runs on every token and a top-k mask zeroes the
unchosen ones (hand-written dense MoEs through the TorchScript exporter, as per-expert MatMul
chains or stacked weights applied with ``Einsum``). Both compute far more than needed; the ``moe``
op (:class:`~moecc.ir.ops.composite.Moe`) says what they mean, so the back ends can dispatch
sparsely. The pass runs after ``decompose-einsum``, ``canonicalize`` and ``fold-constants``
(reshape chains merged, ``ConstantOfShape`` folded); ``cse``/``dce`` after it drop the constants
it leaves dead.

The anchor is a ``top_k`` over ``softmax(x @ router_w [+ router_b])`` along the experts axis, or
a ``top_k`` over the logits whose values are then softmaxed (Granite-MoE, GPT-OSS: the same
weights as softmax, top-k and renormalisation, since softmax is monotonic).
DeepSeek-V3's router (sigmoid scores, a selection bias, group-limited top-k, the uncorrected
scores of the chosen experts renormalised and scaled) is read by :mod:`moecc.passes.raise_moe_deepseek`
(``scoring = "sigmoid"``, ``selection_bias``, ``n_group``/``topk_group``, ``routed_scaling``).
The routing weights are the top-k probabilities (renormalised by their sum, or not), or a dense
``[.., E]`` matrix: those weights scattered into zeros at the top-k indices, or the probabilities
times a 0/1 mask (``scatter_elements`` of ones at the indices, or ``one_hot`` of the indices summed
over k), renormalised or not. The pass then follows their uses to a ``mul`` with the experts'
outputs and a ``reduce_sum`` over the slot (or expert) axis.

The experts' side is checked by **coordinates**, not by a fixed list of node shapes: every value
between the token input and the combine gets, for each of its elements, the token ``t``, the slot
(or expert) ``j`` (-1: the same for all) and the feature index ``f`` it holds, and a symbolic
expression of what that feature is (``x``; ``lin(e, W)`` a per-expert or shared linear map;
``act``; a product; a bias). Coordinate arrays are compact (size 1 along the dims they do not
depend on: a token index of ``[T, H]`` rows is ``[T, 1]``), so tracking costs about tokens x
slots, not whole activations. Reshapes, transposes, expands and slices move coordinates exactly
(a reshape materialises only the runs of dims it merges or splits); a matmul is accepted only when, for
every batch entry, its vector operand holds one token/slot row in feature order and the weight
operand is that row's expert matrix: ``gather(W, idx)`` / ``gather_nd(W, idx[..., None])`` of the
top-k indices (optionally transposed), a ``[E, K, N]`` weight batched over the experts, a shared
``[K, N]`` weight whose columns are ``E`` blocks (stacked experts, ``x @ W[H, E*F]``), or one
weight per expert joined by a ``concat`` of ``E`` chains. Element-wise products must pair equal
tokens, slots and features (so a fused ``gate_up`` weight split by two slices becomes two weights),
and the combine must sum every token's ``k`` slots (or ``E`` experts) once each, into the rows of
``x`` in order. The expression must be a (gated) MLP ``(act(x @ Wg + bg) [* (x @ Wu + bu)]) @ Wd +
bd`` with ``act`` one of silu (``x * sigmoid(x)``), gelu, gelu_tanh, relu, or GPT-OSS's clamped
SwiGLU of the interleaved columns of one fused projection, with biases gathered by the top-k indices
(:mod:`moecc.passes.raise_moe_gpt_oss`: ``gating = "clamped_swiglu"``, the columns de-interleaved
into ``w_gate``/``w_up`` by constant slices with step 2).

Every intermediate value must be used only inside the pattern (router logits returned as an
output, say, leave the layer alone); views of the token input may serve others and are kept.
Weights are rewritten to the op's canonical layout (w_gate/w_up ``[E, H, F]``, w_down
``[E, F, H]``) with transposes, slices and reshapes of the constants, which fold (a chain of views
that amounts to the original weight, as for a stacked weight ``decompose-einsum`` transposed
and this pass splits back, collapses to it). A shared expert (Qwen2-MoE) is not part of the op: it stays as ordinary ops added to
the ``moe`` result.

Left alone: a top_k that feeds no mixture, a softmax over another axis, masks that are not one-hot
over the top-k indices, weights not summed over the chosen experts, mismatched expert counts,
expressions that are not one of the MLP forms above, and (to bound compile time) layers whose
(compact) coordinate arrays would exceed :data:`MAX_TRACKED_ELEMENTS`. ``raise-moe{explain=true}``
prints why each top_k was left alone.

Numerics: the ``moe`` op computes in f32 in its own order (router softmax, chosen experts
summed in expert order), so results differ from the exported graph's in the last bits; a
near-tie in the router can pick another expert, as any reordering of the router's arithmetic
could. Dense forms multiply unchosen experts by exact zeros, which the op skips (only an
inf/NaN in an unchosen expert's output would tell them apart).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np

from moecc.errors import MoeccError
from moecc.ir.builder import GraphBuilder, const_value
from moecc.ir.graph import Graph, Op, Value
from moecc.ir.ops.common import normalize_axis
from moecc.ir.registry import get_op_def
from moecc.passes.manager import Pass, register_pass

#: Ops that only move elements: followed by evaluating them on index arrays.
VIEW_KINDS = frozenset({"reshape", "transpose", "expand", "slice"})

#: Layers where a coordinate array would hold more elements are left alone. Coordinates are
#: kept compact (size 1 along the dims they do not depend on), so this bounds products like
#: tokens x slots or experts x features, not whole activations.
MAX_TRACKED_ELEMENTS = 1 << 24


class NoMatch(Exception):
    """The subgraph is not an MoE layer this pass raises (the message says why)."""


def _require(condition: Any, why: str) -> None:
    if not condition:
        raise NoMatch(why)


# -- symbolic expressions of one (token, slot) feature vector ---------------------------------


@dataclass(frozen=True, eq=False)
class Weight:
    """How to build a linear map's canonical weight (``[E, K, N]`` per expert, ``[K, N]`` shared).

    ``mode``: ``gather`` (expert ``idx[t, j]``: ``value`` is ``[E, ., .]``), ``expert`` (expert
    ``j``, ``value`` ``[E, ., .]`` batched), ``shared`` (``value`` ``[K, N]``, no expert),
    ``split`` (a shared ``[K, E*F]`` weight read as ``E`` experts), ``stack`` (``parts``: one
    shared weight per expert). ``transposed``: the matrix is ``value``'s last two dims swapped;
    ``cols``: then only the ``n`` columns ``start, start + step, ...`` (``step`` 2: one half of
    interleaved gate/up columns)."""

    mode: str
    value: Value | None
    transposed: bool = False
    cols: tuple[int, int] | None = None
    split: tuple[int, int] | None = None
    parts: tuple[Weight, ...] = ()
    index: Value | None = None  # the top-k indices a gather mode weight is selected by
    step: int = 1

    def sliced(self, start: int, n: int, step: int = 1) -> Weight:
        """The ``n`` columns ``start, start + step, ...`` of this weight's."""
        if self.mode == "split":
            raise NoMatch("a slice of experts split from one weight")
        if self.mode == "stack":
            return replace(self, parts=tuple(p.sliced(start, n, step) for p in self.parts))
        base = self.cols[0] if self.cols else 0
        return replace(self, cols=(base + start * self.step, n), step=self.step * step)

    @property
    def per_expert(self) -> bool:
        return self.mode != "shared"


@dataclass(frozen=True, eq=False)
class X:
    """The token's input row."""


@dataclass(frozen=True, eq=False)
class Lin:
    inp: Any
    weight: Weight


@dataclass(frozen=True, eq=False)
class Act:
    name: str
    inp: Any


@dataclass(frozen=True, eq=False)
class Mul:
    a: Any
    b: Any


@dataclass(frozen=True, eq=False)
class Bias:
    inp: Any
    bias: np.ndarray  # [N] shared, or [E, N] per expert


@dataclass(frozen=True, eq=False)
class Glu:
    """GPT-OSS's clamped SwiGLU of a gate and an up projection (see :mod:`.raise_moe_gpt_oss`)."""

    gate: Any
    up: Any
    alpha: float
    limit: float


@dataclass(frozen=True, eq=False)
class Routing:
    """The routing weights (top-k or dense): no feature axis."""


@dataclass(frozen=True, eq=False)
class Weighted:
    """Expert output times its routing weight."""

    inp: Any


def _sub(expr: Any, start: int, n: int, width: int) -> Any:
    """``expr`` restricted to the features ``[start, start + n)`` of its ``width``."""
    if start == 0 and n == width:
        return expr
    if isinstance(expr, Lin):
        return Lin(expr.inp, expr.weight.sliced(start, n))
    if isinstance(expr, Act):
        return Act(expr.name, _sub(expr.inp, start, n, width))
    if isinstance(expr, Mul):
        return Mul(_sub(expr.a, start, n, width), _sub(expr.b, start, n, width))
    if isinstance(expr, Bias):
        return Bias(_sub(expr.inp, start, n, width), expr.bias[..., start : start + n])
    if isinstance(expr, Glu):
        return Glu(_sub(expr.gate, start, n, width), _sub(expr.up, start, n, width), expr.alpha, expr.limit)
    raise NoMatch("a part of the token input feeds an expert")


def _split(expr: Any, experts: int, width: int) -> Any:
    """A slot-independent ``expr`` of ``experts * width`` features as ``experts`` experts."""
    if isinstance(expr, Lin) and isinstance(expr.inp, X) and expr.weight.mode == "shared":
        return Lin(expr.inp, replace(expr.weight, mode="split", split=(experts, width)))
    if isinstance(expr, Act):
        return Act(expr.name, _split(expr.inp, experts, width))
    if isinstance(expr, Mul):
        return Mul(_split(expr.a, experts, width), _split(expr.b, experts, width))
    if isinstance(expr, Bias) and expr.bias.ndim == 1:
        return Bias(_split(expr.inp, experts, width), expr.bias.reshape(experts, width))
    raise NoMatch("expert blocks of a shared weight do not split into experts")


def _stack(exprs: list[Any]) -> Any:
    """One expression per expert (each slot-independent) as one per-expert expression."""
    first = exprs[0]
    _require(all(type(e) is type(first) for e in exprs), "the concatenated experts differ in structure")
    if isinstance(first, X):
        return first
    if isinstance(first, Act):
        _require(all(e.name == first.name for e in exprs), "the concatenated experts differ in activation")
        return Act(first.name, _stack([e.inp for e in exprs]))
    if isinstance(first, Mul):
        return Mul(_stack([e.a for e in exprs]), _stack([e.b for e in exprs]))
    if isinstance(first, Bias):
        _require(all(e.bias.ndim == 1 and e.bias.shape == first.bias.shape for e in exprs), "bias shapes differ")
        return Bias(_stack([e.inp for e in exprs]), np.stack([e.bias for e in exprs]))
    if isinstance(first, Lin):
        _require(all(e.weight.mode == "shared" for e in exprs), "a concatenated expert is not per-token linear")
        return Lin(_stack([e.inp for e in exprs]), Weight("stack", None, parts=tuple(e.weight for e in exprs)))
    raise NoMatch("the concatenated values are not expert outputs")


@dataclass(slots=True)
class Sym:
    """A traced value: its expression, feature width and per-element coordinates.

    Each coordinate array is *compact*: it has the value's rank and broadcasts to its shape,
    with size 1 along every dim the coordinate does not depend on (so a token index is
    ``[T, 1]`` for ``[T, H]`` rows, whatever ``H``)."""

    expr: Any
    width: int
    t: np.ndarray
    j: np.ndarray
    f: np.ndarray

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.t, self.j, self.f

    def mapped(self, fn: Callable[[np.ndarray], np.ndarray]) -> Sym:
        return Sym(self.expr, self.width, *(fn(a) for a in self.arrays()))

    def broadcast(self, shape: tuple[int, ...]) -> Sym:
        """The same coordinates as arrays of ``len(shape)`` dims broadcasting to ``shape``."""
        return self.mapped(lambda a: _fit(a, shape))


def _fit(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``a`` with leading 1s to ``len(shape)`` dims; each dim must be 1 or ``shape``'s."""
    _require(a.ndim <= len(shape), "internal: coordinate rank")
    a = a.reshape((1,) * (len(shape) - a.ndim) + a.shape)
    _require(all(d in (1, n) for d, n in zip(a.shape, shape)), "internal: coordinate shape")
    return a


def _along(values: np.ndarray, axis: int, rank: int) -> np.ndarray:
    """A 1-D array as a compact array of ``rank`` dims along ``axis``."""
    shape = [1] * rank
    shape[axis] = values.shape[0]
    return values.reshape(shape)


def _full(value: int, rank: int) -> np.ndarray:
    return np.full((1,) * rank, value, dtype=np.int64)


def _reshape_compact(a: np.ndarray, src: tuple[int, ...], dst: tuple[int, ...]) -> np.ndarray:
    """A compact array of a value of shape ``src`` after ``reshape`` to ``dst``: dims are
    grouped into runs of equal products; a run the array does not depend on stays size 1, the
    others are materialised (over that run only) and reshaped."""
    _require(0 not in src and 0 not in dst, "a view of an empty tensor")
    keep = [i for i, n in enumerate(src) if n != 1]
    a = a.reshape(tuple(a.shape[i] for i in keep)) if len(keep) != a.ndim else a
    s_dims = [src[i] for i in keep]
    d_keep = [i for i, n in enumerate(dst) if n != 1]
    d_dims = [dst[i] for i in d_keep]
    shape_in: list[int] = []
    shape_out: list[int] = []
    i = j = 0
    while i < len(s_dims) or j < len(d_dims):
        gi, gj = [i], [j]
        pi, pj = s_dims[i], d_dims[j]
        i, j = i + 1, j + 1
        while pi != pj:
            if pi < pj:
                pi *= s_dims[i]
                gi.append(i)
                i += 1
            else:
                pj *= d_dims[j]
                gj.append(j)
                j += 1
        depends = any(a.shape[g] != 1 for g in gi)
        shape_in += [s_dims[g] if depends else 1 for g in gi]
        shape_out += [d_dims[g] if depends else 1 for g in gj]
    a = np.broadcast_to(a, tuple(shape_in)).reshape(tuple(shape_out))
    out = [1] * len(dst)
    for pos, n in zip(d_keep, shape_out):
        out[pos] = n
    return _compacted(a.reshape(tuple(out)))


def _compacted(a: np.ndarray) -> np.ndarray:
    """``a`` with every axis along which it is constant reduced to size 1."""
    for axis in range(a.ndim):
        if a.shape[axis] > 1:
            first = a.take([0], axis=axis)
            if (a == first).all():
                a = first
    return a


def _view(op: Op, a: np.ndarray) -> np.ndarray:
    """A compact coordinate array of ``op``'s operand moved by the view op ``op``."""
    src, dst = op.operands[0].type.shape, op.result.type.shape
    if op.kind == "reshape":
        result = _reshape_compact(a, src, dst)
    elif op.kind == "transpose":
        result = a.transpose(op.attrs["perm"])
    elif op.kind == "expand":
        result = _fit(a, dst)
    else:  # slice: each sliced axis keeps the positions the op's own semantics keep
        attrs = op.attrs
        axes = attrs.get("axes") or tuple(range(len(attrs["starts"])))
        steps = attrs.get("steps") or (1,) * len(axes)
        result = a
        for axis, start, end, step in zip(axes, attrs["starts"], attrs["ends"], steps):
            axis = normalize_axis("slice", axis, len(src))
            if result.shape[axis] == 1:
                continue
            one = {"starts": (start,), "ends": (end,), "axes": (0,), "steps": (step,)}
            (kept,) = get_op_def("slice").compute([np.arange(src[axis])], one)
            result = np.take(result, np.asarray(kept), axis=axis)
    _require(result.ndim == len(dst) and all(d in (1, n) for d, n in zip(result.shape, dst)), "internal: view coordinates")
    _require(result.size <= MAX_TRACKED_ELEMENTS, "too large to trace")
    return result


def _is_weight_source(value: Value) -> bool:
    """A value that is data, not computed from the tokens: a constant or a graph input."""
    return value.producer is None or value.producer.is_const


# -- the matcher -------------------------------------------------------------------------------


@dataclass
class MoeMatch:
    """One recognised layer: what to build and which ops it replaces."""

    x: Value
    tokens: int
    hidden: int
    router_w: Value
    router_b: np.ndarray | None
    top_k: int
    normalize: bool
    activation: str
    gate: Weight
    up: Weight | None
    down: Weight
    biases: tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]
    combine: Op
    ops: list[Op] = field(default_factory=list)
    #: ``(swiglu_alpha, swiglu_limit)`` of a ``clamped_swiglu`` gating (GPT-OSS), else None.
    swiglu: tuple[float, float] | None = None
    #: The ``moe`` op's optional routing attributes (DeepSeek-V3: :mod:`.raise_moe_deepseek`).
    routing: dict[str, Any] = field(default_factory=dict)
    #: The selection bias ``[E]`` (DeepSeek-V3's ``e_score_correction_bias``), else None.
    select_b: np.ndarray | None = None


class Matcher:
    """Tries to read one MoE layer from the ``top_k`` op ``anchor``."""

    def __init__(self, graph: Graph, anchor: Op, uses: dict[Value, list[Op | None]]) -> None:
        self.graph = graph
        self.anchor = anchor
        self.uses = uses
        self.memo: dict[int, Sym] = {}
        self.pattern: dict[int, Op] = {}

    def add(self, *ops: Op | None) -> None:
        for op in ops:
            if op is not None and not op.is_const:
                self.pattern[id(op)] = op

    def is_data(self, value: Value) -> bool:
        """A value computed from no token: a constant or graph input, possibly through views
        (a weight transposed by ``decompose-einsum`` too large to fold)."""
        while id(value) not in self.memo:
            if _is_weight_source(value):
                return True
            if value.producer.kind not in VIEW_KINDS:
                return False
            value = value.producer.operands[0]
        return False

    def only_use(self, value: Value) -> Op | None:
        users = self.uses.get(value, [])
        return users[0] if len(users) == 1 else None

    # -- router and routing weights ----------------------------------------------------------

    def match(self) -> MoeMatch:
        tk = self.anchor
        probs = tk.operands[0]
        _require(probs.type.rank >= 2, "top_k over a vector")
        _require(normalize_axis("top_k", tk.attrs["axis"], probs.type.rank) == probs.type.rank - 1, "top_k not over the last axis")
        _require(tk.attrs["largest"], "top_k picks the smallest")
        k = tk.attrs["k"]
        sm = probs.producer
        # Top-k of the logits, then a softmax over the k chosen (Granite-MoE, GPT-OSS): the same
        # routing weights as a softmax, top-k and renormalisation (softmax is monotonic).
        after = [u for u in self.uses.get(tk.results[0], []) if u is not None and u.kind == "softmax"
                 and normalize_axis("softmax", u.attrs["axis"], probs.type.rank) == probs.type.rank - 1]
        topk_first = (sm is None or sm.kind != "softmax") and bool(after)
        sigmoid = None
        if (sm is None or sm.kind != "softmax") and not topk_first:
            # DeepSeek-V3: sigmoid scores, a selection bias, group-limited top-k.
            from moecc.passes.raise_moe_deepseek import sigmoid_routing  # it builds on this module

            sigmoid = sigmoid_routing(self, tk)
        if sigmoid is not None:
            logits = sigmoid.logits
            self.add(tk, *sigmoid.ops)
        elif topk_first:
            logits = probs
            self.add(tk)
        else:
            _require(sm is not None and sm.kind == "softmax", "top_k input is not a softmax (nor are its values softmaxed)")
            _require(normalize_axis("softmax", sm.attrs["axis"], probs.type.rank) == probs.type.rank - 1,
                     "softmax not over the experts axis")
            logits = sm.operands[0]
            self.add(tk, sm)
        router_b = None
        lp = logits.producer
        if lp is not None and lp.kind == "add":
            consts = [v for v in lp.operands if const_value(v) is not None]
            _require(len(consts) == 1, "router add is not a bias")
            bias = const_value(consts[0])
            experts = logits.type.shape[-1]
            _require(bias.size == experts and bias.shape[-1] == experts, "router bias is not one per expert")
            router_b = bias.reshape(experts)
            self.add(lp)
            lp = next(v for v in lp.operands if v is not consts[0]).producer
        _require(lp is not None and lp.kind == "matmul", "router logits are not a matmul")
        xr, router_w = lp.operands
        _require(router_w.type.rank == 2 and self.is_data(router_w), "router weight is not a [H, E] constant")
        hidden, experts = router_w.type.shape
        _require(hidden >= 1 and experts >= 1, "router weight is empty")
        self.add(lp)
        self.experts, self.k, self.hidden = experts, k, hidden
        _require(1 <= k <= experts, "bad k")
        # The token input: the router input's first non-view ancestor.
        root, _ = self.view_chain(xr)
        _require(root.type.rank >= 1 and root.type.shape[-1] == hidden and root.type.dtype.is_float, "token input is not [.., H]")
        self.x = root
        self.tokens = root.type.numel // hidden
        rank = root.type.rank
        lead = root.type.shape[:-1] + (1,)
        self.memo[id(root)] = Sym(X(), hidden, np.arange(self.tokens).reshape(lead), _full(-1, rank),
                                  _along(np.arange(hidden), rank - 1, rank))
        xs = self.sym(xr)
        _require(isinstance(xs.expr, X) and xr.type.rank >= 2, "router input is not the tokens")
        row_t = xs.t[..., :1]
        _require((xs.t == row_t).all() and (xs.f == np.arange(hidden)).all(), "router input rows are not tokens")
        # Top-k outputs: (token, slot) per element.
        values, indices = tk.results
        shape = values.type.shape
        r = len(shape)
        slot_t = row_t
        slot_j = _along(np.arange(k), r - 1, r)
        none = _full(-1, r)
        self.memo[id(indices)] = Sym(Routing(), 0, slot_t, slot_j, none)
        self.indices = indices
        dense_t = row_t
        dense_j = _along(np.arange(experts), r - 1, r)
        attempts: list[tuple[Value, bool, bool, list[Op]]] = []  # (routing value, dense, normalize, ops)
        # Gathered family: the top-k probabilities, renormalised or not (or the softmax of the
        # top-k logits: renormalised probabilities).
        if sigmoid is not None:
            attempts.append((sigmoid.weights, False, sigmoid.normalize, []))
        elif topk_first:
            attempts.append((after[0].result, False, True, [after[0]]))
        else:
            top, normalize, ops = self.renormalised(values, shape[-1])
            attempts.append((top, False, normalize, ops))
        # Dense family: scattered into zeros, or probabilities times a one-hot mask.
        for user in self.uses.get(indices, []) if not topk_first and sigmoid is None else ():
            if user is None:
                continue
            if user.kind == "scatter_elements" and self.is_zeros(user.operands[0], probs) and user.operands[1] is indices:
                if not self.scatter_ok(user):
                    continue
                update = user.operands[2]
                if update is top:
                    attempts.append((user.result, True, normalize, [*ops, user]))
                elif self.is_ones(update, indices):
                    attempts += self.masked(user, probs)
            elif user.kind == "one_hot" and user.operands[0] is indices:
                attempts += self.one_hot_mask(user, probs)
        reasons = []
        for routing, dense, normalize, ops in attempts:
            saved = (dict(self.memo), dict(self.pattern))
            try:
                if dense:
                    self.memo[id(routing)] = Sym(Routing(), 0, dense_t, dense_j, none)
                else:
                    self.memo[id(routing)] = Sym(Routing(), 0, slot_t, slot_j, none)
                self.add(*ops)
                found = self.combine(routing, dense, normalize, router_w, router_b)
                if sigmoid is not None:
                    found.routing, found.select_b = dict(sigmoid.attrs), sigmoid.select_b
                return found
            except NoMatch as err:
                reasons.append(str(err))
                self.memo, self.pattern = saved
        raise NoMatch("; ".join(reasons) or "no routing weights")

    def renormalised(self, top: Value, k: int) -> tuple[Value, bool, list[Op]]:
        """``top / reduce_sum(top, -1, keepdims)`` when ``top`` is used just so, else ``top``."""
        users = [u for u in self.uses.get(top, []) if u is not None]
        total = [u for u in users if u.kind == "reduce_sum" and self.sums_last(u, top)]
        for r in total:
            divs = [u for u in self.uses.get(r.result, []) if u is not None and u.kind == "div"
                    and u.operands[0] is top and u.operands[1] is r.result]
            if divs:
                return divs[0].result, True, [r, divs[0]]
        return top, False, []

    @staticmethod
    def sums_last(op: Op, value: Value) -> bool:
        rank = value.type.rank
        axes = op.attrs.get("axes")
        return (op.operands[0] is value and len(op.operands) == 1 and axes is not None and len(axes) == 1
                and normalize_axis("reduce_sum", axes[0], rank) == rank - 1 and bool(op.attrs.get("keepdims", True)))

    @staticmethod
    def scatter_ok(op: Op) -> bool:
        rank = op.operands[0].type.rank
        return (normalize_axis("scatter_elements", op.attrs["axis"], rank) == rank - 1
                and op.attrs.get("reduction", "none") == "none")

    @staticmethod
    def is_zeros(value: Value, like: Value) -> bool:
        data = const_value(value)
        return data is not None and value.type.shape == like.type.shape and not np.any(data)

    @staticmethod
    def is_ones(value: Value, like: Value) -> bool:
        data = const_value(value)
        return data is not None and value.type.shape == like.type.shape and bool(np.all(data == 1))

    def masked(self, mask_op: Op, probs: Value) -> list[tuple[Value, bool, bool, list[Op]]]:
        """``probs * mask`` (renormalised or not) for a 0/1 mask of the top-k experts."""
        out = []
        for user in self.uses.get(mask_op.result, []):
            if user is not None and user.kind == "mul" and {id(v) for v in user.operands} == {id(probs), id(mask_op.result)}:
                weights, normalize, ops = self.renormalised(user.result, self.experts)
                out.append((weights, True, normalize, [mask_op, user, *ops]))
        return out

    def one_hot_mask(self, oh: Op, probs: Value) -> list[tuple[Value, bool, bool, list[Op]]]:
        indices = oh.operands[0]
        rank = indices.type.rank
        values = const_value(oh.operands[1])
        ok = (values is not None and values.size == 2 and values.reshape(2)[0] == 0 and values.reshape(2)[1] == 1
              and oh.attrs["depth"] == self.experts and normalize_axis("one_hot", oh.attrs["axis"], rank + 1) == rank)
        if not ok:
            return []
        user = self.only_use(oh.result)
        if user is None or user.kind != "reduce_sum" or user.attrs.get("keepdims", True):
            return []
        axes = user.attrs.get("axes")
        if axes is None or len(axes) != 1 or normalize_axis("reduce_sum", axes[0], rank + 1) != rank - 1:
            return []
        return [(w, dense, norm, [oh, *ops]) for w, dense, norm, ops in self.masked(user, probs)]

    # -- the combine -------------------------------------------------------------------------

    def combine(self, routing: Value, dense: bool, normalize: bool, router_w: Value, router_b: np.ndarray | None) -> MoeMatch:
        """From the routing weights forward: views, a mul with the experts' outputs, views, a
        reduce_sum over the slots (experts); then the experts' expression."""
        value = routing
        while (user := self.only_use(value)) is not None and user.kind in VIEW_KINDS:
            value = user.result
        mul = self.only_use(value)
        _require(mul is not None and mul.kind == "mul", "routing weights do not multiply the experts' outputs")
        value = mul.result
        while (user := self.only_use(value)) is not None and user.kind in VIEW_KINDS:
            value = user.result
        red = self.only_use(value)
        _require(red is not None and red.kind == "reduce_sum" and red.attrs.get("axes") is not None
                 and len(red.attrs["axes"]) == 1, "the weighted outputs are not summed over one axis")
        summed = self.sym(red.operands[0])
        _require(isinstance(summed.expr, Weighted), "the sum is not over weighted expert outputs")
        axis = normalize_axis("reduce_sum", red.attrs["axes"][0], red.operands[0].type.rank)
        count = self.experts if dense else self.k
        in_shape = red.operands[0].type.shape
        t, j, f = (np.moveaxis(a, axis, -1) for a in summed.arrays())
        _require(in_shape[axis] == count, "the sum is not over the chosen experts")
        _require((t == t[..., :1]).all() and (f == f[..., :1]).all(), "the sum mixes tokens or features")
        _require((np.sort(np.broadcast_to(j, j.shape[:-1] + (count,)), axis=-1) == np.arange(count)).all(),
                 "the sum is not over each chosen expert once")
        out_shape = in_shape[:axis] + in_shape[axis + 1:]
        code = np.broadcast_to(t[..., 0] * self.hidden + f[..., 0], out_shape).reshape(-1)
        _require(red.result.type.numel == self.tokens * self.hidden, "the result is not one row per token")
        _require((code == np.arange(self.tokens * self.hidden)).all(), "the result rows are not the tokens in order")
        self.add(red)
        return self.extract(summed.expr.inp, summed.width, dense, normalize, router_w, router_b, red)

    def extract(self, expr: Any, width: int, dense: bool, normalize: bool, router_w: Value,
                router_b: np.ndarray | None, red: Op) -> MoeMatch:
        """The MLP form of the experts' expression."""
        _require(width == self.hidden, "the experts do not map back to the hidden size")

        def linear(e: Any, on_x: bool) -> tuple[Weight, np.ndarray | None]:
            bias = None
            if isinstance(e, Bias):
                bias, e = e.bias, e.inp
            _require(isinstance(e, Lin) and isinstance(e.inp, X) == on_x, "not an expert MLP")
            weight = e.weight
            _require(weight.per_expert, "a projection is shared by all experts")
            _require((weight.mode == "gather") != dense, "experts selected both ways")
            if weight.mode == "gather":
                _require(weight.index is self.indices, "expert weights gathered by other indices")
            if bias is not None and bias.ndim == 1:  # the same bias for every expert
                bias = np.broadcast_to(bias, (self.experts, bias.shape[0]))
            if bias is not None:
                _require(bias.shape[0] == self.experts, "bias expert count differs")
            return weight, bias

        down, b_down = linear(expr, on_x=False)
        inner = (expr.inp if isinstance(expr, Lin) else expr.inp.inp)
        up = b_up = None
        if isinstance(inner, Glu):
            gate, b_gate = linear(inner.gate, on_x=True)
            up, b_up = linear(inner.up, on_x=True)
            return MoeMatch(self.x, self.tokens, self.hidden, router_w, router_b, self.k, normalize, "silu",
                            gate, up, down, (b_gate, b_up, b_down), red, list(self.pattern.values()),
                            swiglu=(inner.alpha, inner.limit))
        if isinstance(inner, Mul):
            acts = [e for e in (inner.a, inner.b) if isinstance(e, Act)]
            _require(len(acts) >= 1, "a gated MLP without activation")
            act = acts[0]
            other = inner.b if act is inner.a else inner.a
            up, b_up = linear(other, on_x=True)
        else:
            _require(isinstance(inner, Act), "the expert hidden layer has no activation")
            act = inner
        gate, b_gate = linear(act.inp, on_x=True)
        return MoeMatch(self.x, self.tokens, self.hidden, router_w, router_b, self.k, normalize, act.name,
                        gate, up, down, (b_gate, b_up, b_down), red, list(self.pattern.values()))

    # -- coordinates -----------------------------------------------------------------------

    def view_chain(self, value: Value) -> tuple[Value, list[Op]]:
        chain: list[Op] = []
        while id(value) not in self.memo and value.producer is not None and value.producer.kind in VIEW_KINDS:
            chain.append(value.producer)
            value = value.producer.operands[0]
        return value, chain[::-1]

    def sym(self, value: Value) -> Sym:
        known = self.memo.get(id(value))
        if known is not None:
            return known
        result = self._sym(value)
        result = result.broadcast(value.type.shape)
        self.memo[id(value)] = result
        return result

    def _sym(self, value: Value) -> Sym:
        op = value.producer
        _require(op is not None and not op.is_const, "a constant or input where expert data was expected")
        if op.kind in VIEW_KINDS:
            root, chain = self.view_chain(value)
            base = self.sym(root)
            if not isinstance(base.expr, X):  # views of the tokens may serve others too: kept
                self.add(*chain)
            for view in chain:
                base = base.mapped(lambda a, view=view: _view(view, a))
            return base
        self.add(op)
        if op.kind in ("relu", "gelu"):
            inner = self.sym(op.operands[0])
            name = op.kind if op.kind == "relu" or op.attrs.get("approximate", "none") == "none" else "gelu_tanh"
            _require(inner.width > 0, "activation of routing weights")
            return replace(inner, expr=Act(name, inner.expr))
        if op.kind == "mul":
            from moecc.passes.raise_moe_gpt_oss import clamped_swiglu  # it builds on this module

            return clamped_swiglu(self, op) or self.product(op)
        if op.kind == "add":
            return self.biased(op)
        if op.kind == "matmul":
            return self.matmul(op)
        if op.kind == "concat":
            return self.stacked(op)
        raise NoMatch(f"'{op.kind}' on the experts' path")

    def product(self, op: Op) -> Sym:
        a, b = op.operands
        for u, v in ((a, b), (b, a)):
            sp = v.producer
            if sp is not None and sp.kind == "sigmoid" and sp.operands[0] is u:
                inner = self.sym(u)
                self.add(sp)
                return replace(inner, expr=Act("silu", inner.expr))
        shape = op.result.type.shape
        sa, sb = self.sym(a).broadcast(shape), self.sym(b).broadcast(shape)
        _require((sa.t == sb.t).all(), "a product pairs different tokens")
        if isinstance(sa.expr, Routing) or isinstance(sb.expr, Routing):
            w, y = (sa, sb) if isinstance(sa.expr, Routing) else (sb, sa)
            _require(not isinstance(y.expr, (Routing, Weighted)) and y.width > 0, "routing weights times routing weights")
            _require(((y.j == w.j) | (y.j == -1)).all(), "routing weights of other experts")
            return Sym(Weighted(y.expr), y.width, y.t, w.j, y.f)
        _require(not isinstance(sa.expr, Weighted) and not isinstance(sb.expr, Weighted), "weighted twice")
        _require((sa.j == sb.j).all(), "a product pairs different experts")
        ra, rb = sa.f - sa.f.min(), sb.f - sb.f.min()
        _require((ra == rb).all(), "a product pairs different features")
        n = int(ra.max()) + 1
        ea = _sub(sa.expr, int(sa.f.min()), n, sa.width)
        eb = _sub(sb.expr, int(sb.f.min()), n, sb.width)
        return Sym(Mul(ea, eb), n, sa.t, sa.j, ra)

    def biased(self, op: Op) -> Sym:
        consts = [v for v in op.operands if const_value(v) is not None]
        if not consts:  # a per-expert bias gathered by the top-k indices (GPT-OSS)?
            from moecc.passes.raise_moe_gpt_oss import gathered_bias  # it builds on this module

            if (gathered := gathered_bias(self, op)) is not None:
                return gathered
        _require(len(consts) == 1, "an add on the experts' path is not a bias")
        data = const_value(consts[0])
        other = op.operands[1] if op.operands[0] is consts[0] else op.operands[0]
        shape = op.result.type.shape
        s = self.sym(other).broadcast(shape)
        _require(s.width > 0 and not isinstance(s.expr, (Routing, Weighted)), "a bias on routing weights")
        start = int(s.f.min())
        n = int(s.f.max()) + 1 - start
        f = s.f - start
        # Which element of the constant each element adds (compact: the constant's own dims).
        where = _fit(np.arange(data.size).reshape(data.shape), shape)
        fb, wb = (x.reshape(-1) for x in np.broadcast_arrays(f, where))
        _require(fb.size <= MAX_TRACKED_ELEMENTS, "too large to trace")
        table = np.full(n, -1, dtype=np.int64)
        table[fb] = wb
        _require((table >= 0).all() and (table[fb] == wb).all(), "the added constant is not a bias per feature")
        bias = data.reshape(-1)[table]
        return Sym(Bias(_sub(s.expr, start, n, s.width), bias), n, s.t, s.j, f)

    def weight_side(self, value: Value) -> tuple[str, Value, bool, np.ndarray | None]:
        """(mode, weight, transposed, per-batch (token, slot) coordinates for gathers)."""
        transposed = False
        ops = []
        while value.producer is not None and value.producer.kind == "transpose":
            perm = value.producer.attrs["perm"]
            r = len(perm)
            _require(r >= 2 and tuple(perm) == tuple(range(r - 2)) + (r - 1, r - 2), "weight transposed across batch dims")
            transposed = not transposed
            ops.append(value.producer)
            value = value.producer.operands[0]
        op = value.producer
        if op is not None and op.kind in ("gather", "gather_nd"):
            data, index = op.operands
            _require(data.type.rank == 3 and self.is_data(data), "gathered weights are not [E, ., .] data")
            root = index
            while root is not self.indices and root.producer is not None and root.producer.kind in VIEW_KINDS:
                root = root.producer.operands[0]
            _require(root is self.indices, "weights gathered by other indices")
            if op.kind == "gather":
                _require(normalize_axis("gather", op.attrs["axis"], 3) == 0, "gather not over experts")
                coords = self.sym(index)
            else:
                _require(op.attrs.get("batch_dims", 0) == 0 and index.type.shape[-1:] == (1,), "gather_nd of a non-row")
                coords = self.sym(index).mapped(lambda a: a[..., 0])
            _require(isinstance(coords.expr, Routing) and index.type.dtype.is_int, "weights gathered by other indices")
            self.add(op, *ops)
            return "gather", data, transposed, coords
        _require(self.is_data(value), "a matmul of two computed values")
        self.add(*ops)
        if value.type.rank == 2:
            return "shared", value, transposed, None
        _require(value.type.rank == 3, "expert weights are not [E, ., .]")
        return "expert", value, transposed, None

    def matmul(self, op: Op) -> Sym:
        a, b = op.operands
        out_shape = op.result.type.shape
        _require(a.type.rank >= 2 and b.type.rank >= 2, "matrix-vector matmul")
        try:
            mode, weight, transposed, coords = self.weight_side(b)
            vector, right = a, True
        except NoMatch as err_b:
            try:
                mode, weight, transposed, coords = self.weight_side(a)
            except NoMatch as err_a:
                raise NoMatch(f"matmul: right operand: {err_b}; left operand: {err_a}") from None
            vector, right = b, False
        v = self.sym(vector)
        _require(v.width > 0 and not isinstance(v.expr, (Routing, Weighted)), "matmul of routing weights")
        batch = out_shape[:-2]
        # Arrange the vector side as [batch..., rows, K] and the result as [batch..., rows, N].
        vshape = vector.type.shape
        if right:
            rows, k_dim = vshape[-2], vshape[-1]
            n_dim = out_shape[-1]
            arranged = v.broadcast(batch + (rows, k_dim))
        else:
            k_dim, rows = vshape[-2], vshape[-1]
            n_dim = out_shape[-2]
            vb = v.broadcast(batch + (k_dim, rows))
            arranged = vb.mapped(lambda x: np.swapaxes(x, -1, -2))
        t, j, f = arranged.arrays()
        _require((t == t[..., :1]).all() and (j == j[..., :1]).all(), "a matmul row mixes tokens or experts")
        row_t, row_j = t[..., 0], j[..., 0]
        expr = v.expr
        # The per-batch matrix, canonical [K, N]: flipped when the weight is the left operand.
        flip = transposed != (not right)
        wshape = weight.type.shape
        matrix = (wshape[-1], wshape[-2]) if flip else (wshape[-2], wshape[-1])
        _require(matrix == (k_dim, n_dim), "internal: weight matrix shape")
        if mode == "shared":
            _require(weight.type.rank == 2, "")
            start = int(f.min())
            _require((f == start + np.arange(k_dim)).all(), "a matmul row is not one vector in feature order")
            expr = Lin(_sub(expr, start, k_dim, v.width), Weight("shared", weight, transposed=flip))
        elif mode == "gather":
            _require(wshape[0] == self.experts, "gathered weights of another expert count")
            _require((b if right else a).type.shape[:-2] == batch, "gathered weights broadcast over the batch")
            bt, bj = coords.t[..., None], coords.j[..., None]
            _require((row_t == bt).all() and ((row_j == bj) | (row_j == -1)).all(), "a row meets another token's expert")
            start = int(f.min())
            _require((f == start + np.arange(k_dim)).all(), "a matmul row is not one vector in feature order")
            row_j = bj
            expr = Lin(_sub(expr, start, k_dim, v.width),
                       Weight("gather", weight, transposed=flip, index=self.indices))
        else:
            _require(batch == (self.experts,) and wshape[0] == self.experts, "batched weights are not one per expert")
            e = np.arange(self.experts).reshape(self.experts, 1)
            split = e[..., None] * k_dim + np.arange(k_dim)
            if (row_j == -1).all() and self.experts > 1 and (f == split).all() and v.width == self.experts * k_dim:
                # Expert e's rows read the e-th block of a shared projection's features.
                expr = _split(expr, self.experts, k_dim)
            else:
                _require(((row_j == e) | (row_j == -1)).all(), "a batched matmul row meets another expert")
                start = int(f.min())
                _require((f == start + np.arange(k_dim)).all(), "a matmul row is not one vector in feature order")
                expr = _sub(expr, start, k_dim, v.width)
            row_j = e
            expr = Lin(expr, Weight("expert", weight, transposed=flip))
        rank = len(batch) + 2
        rt = _fit(row_t, batch + (rows,))[..., None]
        rj = _fit(row_j, batch + (rows,))[..., None]
        rf = _along(np.arange(n_dim), rank - 1, rank)
        if not right:
            rt, rj, rf = (np.swapaxes(x, -1, -2) for x in (rt, rj, rf))
        return Sym(expr, n_dim, rt, rj, rf)

    def stacked(self, op: Op) -> Sym:
        parts = [self.sym(v) for v in op.operands]
        _require(len(parts) == self.experts, "a concat of another number of experts")
        _require(all(p.width > 0 and not isinstance(p.expr, (Routing, Weighted)) and (p.j == -1).all() for p in parts),
                 "the concatenated values are not per-token expert outputs")
        _require(len({p.width for p in parts}) == 1, "experts of different widths")
        rank = op.result.type.rank
        axis = normalize_axis("concat", op.attrs["axis"], rank)
        expr = _stack([p.expr for p in parts])

        def joined(arrays: list[np.ndarray], values: list[Value]) -> np.ndarray:
            # Each part's compact array widened to the parts' joint compact shape off the axis.
            other = [max(a.shape[d] for a in arrays) for d in range(rank)]
            sized = [np.broadcast_to(a, tuple(v.type.shape[d] if d == axis else other[d] for d in range(rank)))
                     for a, v in zip(arrays, values)]
            out = np.concatenate(sized, axis=axis)
            _require(out.size <= MAX_TRACKED_ELEMENTS, "too large to trace")
            return out

        values = list(op.operands)
        t = joined([p.t for p in parts], values)
        j = joined([_full(i, rank) for i in range(len(parts))], values)
        f = joined([p.f for p in parts], values)
        return Sym(expr, parts[0].width, t, j, f)


# -- the rewrite -------------------------------------------------------------------------------


def _build_weight(b: GraphBuilder, w: Weight, experts: int) -> Value:
    """The canonical ``[E, K, N]`` weight of a per-expert projection."""
    if w.mode == "stack":
        mats = [_build_matrix(b, p) for p in w.parts]
        return b.emit1("concat", [b.emit1("reshape", [m], {"shape": (1, *m.type.shape)}) for m in mats], {"axis": 0})
    if w.mode == "split":
        m = _build_matrix(b, w)
        k, n = m.type.shape
        e, width = w.split
        m = b.emit1("reshape", [m], {"shape": (k, e, width)})
        return b.emit1("transpose", [m], {"perm": (1, 0, 2)})
    value = w.value
    if w.transposed:
        value = b.emit1("transpose", [value], {"perm": (0, 2, 1)})
    if w.cols is not None:
        start, n = w.cols
        value = b.emit1("slice", [value], {"starts": (start,), "ends": (start + (n - 1) * w.step + 1,), "axes": (2,),
                                           "steps": (w.step,)})
    return value


def _build_matrix(b: GraphBuilder, w: Weight) -> Value:
    value = w.value
    if w.transposed:
        value = b.emit1("transpose", [value], {"perm": (1, 0)})
    if w.cols is not None:
        start, n = w.cols
        value = b.emit1("slice", [value], {"starts": (start,), "ends": (start + (n - 1) * w.step + 1,), "axes": (1,),
                                           "steps": (w.step,)})
    return value


def _collapse_views(b: GraphBuilder, value: Value) -> Value:
    """``value`` when it is a chain of views of a weight that amounts to nothing or to one
    transpose (a large weight ``decompose-einsum`` left transposed and reshaped, which this
    pass then reshapes back): the weight itself, or one transpose of it."""
    chain: list[Op] = []
    root = value
    while root.producer is not None and root.producer.kind in VIEW_KINDS:
        chain.append(root.producer)
        root = root.producer.operands[0]
    if not chain or value.type.numel != root.type.numel:  # a slice (a prefix looks like the whole)
        return value
    rank = root.type.rank
    coords = [_along(np.arange(n), axis, rank) for axis, n in enumerate(root.type.shape)]
    try:
        for op in reversed(chain):
            coords = [_view(op, c) for c in coords]
    except NoMatch:
        return value
    if value.type.rank != rank:
        return value
    perm = []
    for c in coords:
        axes = [d for d, n in enumerate(c.shape) if n != 1]
        if len(axes) > 1:
            return value
        axis = axes[0] if axes else None
        if axis is None or not (c.reshape(-1) == np.arange(c.size)).all():
            return value
        perm.append(axis)
    # Root axis i is result axis perm[i]: the result is transpose(root, inverse of perm).
    if sorted(perm) != list(range(rank)):
        return value
    order = tuple(int(np.argsort(perm)[d]) for d in range(rank))
    if order == tuple(range(rank)):
        return root
    return b.emit1("transpose", [root], {"perm": order})


def rewrite(graph: Graph, m: MoeMatch) -> Value:
    """Replace the matched layer by one ``moe`` op (before its combine); returns its result."""
    red = m.combine
    b = GraphBuilder(graph, source=red.source)
    b.insert_at = next(i for i, op in enumerate(graph.ops) if op is red)
    dtype = m.x.type.dtype
    x = m.x
    if x.type.shape != (m.tokens, m.hidden):
        x = b.emit1("reshape", [x], {"shape": (m.tokens, m.hidden)}, name="moe_tokens")
    experts = m.router_w.type.shape[1]
    gate = _collapse_views(b, _build_weight(b, m.gate, experts))
    down = _collapse_views(b, _build_weight(b, m.down, experts))
    operands = [x, m.router_w, gate]
    if m.up is not None:
        operands.append(_collapse_views(b, _build_weight(b, m.up, experts)))
    operands.append(down)
    ffn = gate.type.shape[2]
    expert_bias = any(bias is not None for bias in m.biases)
    if expert_bias:
        b_gate, b_up, b_down = m.biases
        zeros = (experts, ffn)
        operands.append(b.const(np.asarray(b_gate if b_gate is not None else np.zeros(zeros), dtype=dtype.numpy), "b_gate"))
        if m.up is not None:
            operands.append(b.const(np.asarray(b_up if b_up is not None else np.zeros(zeros), dtype=dtype.numpy), "b_up"))
        operands.append(b.const(np.asarray(b_down if b_down is not None else np.zeros((experts, m.hidden)),
                                           dtype=dtype.numpy), "b_down"))
    if m.router_b is not None:
        operands.append(b.const(np.asarray(m.router_b, dtype=dtype.numpy), "router_b"))
    attrs = {"top_k": m.top_k, "normalize": m.normalize, "activation": m.activation, "gated": m.up is not None,
             "expert_bias": expert_bias, "router_bias": m.router_b is not None}
    if m.swiglu is not None:
        attrs.update(gating="clamped_swiglu", swiglu_alpha=m.swiglu[0], swiglu_limit=m.swiglu[1])
    if m.select_b is not None:
        operands.append(b.const(np.asarray(m.select_b, dtype=dtype.numpy), "select_b"))
    attrs.update(m.routing)
    result = b.emit1("moe", operands, attrs, name="moe")
    if result.type.shape != red.result.type.shape:
        result = b.emit1("reshape", [result], {"shape": red.result.type.shape})
    old = red.result
    graph.replace_all_uses(old, result)
    graph.remove_ops(m.ops)
    graph.release_name(result.name)
    result.name = old.name
    graph.reserve_name(old.name)
    return result


def _checked(graph: Graph, m: MoeMatch, uses: dict[Value, list[Op | None]]) -> None:
    """Every value the pattern computes (but the combine's) is used only inside it."""
    inside = {id(op) for op in m.ops}
    for op in m.ops:
        if op is m.combine:
            continue
        for r in op.results:
            for user in uses.get(r, []):
                _require(user is not None and id(user) in inside,
                         f"%{r.name} is used outside the MoE layer" if user is not None else f"%{r.name} is an output")
    dtype = m.x.type.dtype
    _require(m.router_w.type.dtype == dtype, "router weight of another type")
    for w in (m.gate, m.up, m.down):
        if w is None:
            continue
        values = [p.value for p in w.parts] if w.mode == "stack" else [w.value]
        _require(all(v.type.dtype == dtype for v in values), "expert weights of another type")
        if w.mode == "stack":
            _require(len(w.parts) == m.router_w.type.shape[1], "stacked experts of another count")


def raise_moe_layers(graph: Graph, explain: Callable[[Op, str], None] | None = None) -> int:
    """Raise every MoE layer found; return how many. ``explain(top_k op, reason)`` hears why a
    top_k was left alone."""
    count = 0
    progress = True
    declined: set[int] = set()
    while progress:
        progress = False
        uses = graph.uses()
        for op in list(graph.ops):
            if op.kind != "top_k" or id(op) in declined:
                continue
            try:
                match = Matcher(graph, op, uses).match()
                _checked(graph, match, uses)
            except (NoMatch, IndexError, KeyError, TypeError, ValueError) as err:
                # Anything but NoMatch is a shape this matcher did not foresee: left alone too.
                declined.add(id(op))
                if explain is not None:
                    explain(op, str(err) if isinstance(err, NoMatch) else f"internal: {type(err).__name__}: {err}")
                continue
            start = next(i for i, o in enumerate(graph.ops) if o is match.combine)
            before = len(graph.ops)
            try:
                rewrite(graph, match)
            except MoeccError as err:  # the op's own checks refused the operands: undo
                graph.remove_ops(graph.ops[start : start + len(graph.ops) - before])
                declined.add(id(op))
                if explain is not None:
                    explain(op, f"the moe op refuses it: {err}")
                continue
            count += 1
            progress = True
            break
    return count


@register_pass
@dataclass(frozen=True, slots=True)
class RaiseMoe(Pass):
    """Recognises MoE layers (top-k routed mixtures of expert MLPs, gathered per token or
    computed densely and masked) and replaces each by one ``moe`` op; see the module docstring.

    Before (``-p raise-moe``; the Mixtral ``batched_mm`` form, weights ``%w1``/``%w3``
    ``[E, F, H]`` and ``%w2`` ``[E, H, F]`` gathered per token and slot)::

        %logits = matmul(%x, %router) : tensor<3x4xf32>
        %probs = softmax(%logits) : tensor<3x4xf32>
        %top, %idx = top_k(%probs) {k = 2} : tensor<3x2xf32>, tensor<3x2xi64>
        ... gather(%w1, %idx), transpose, matmul, sigmoid, mul, ..., reduce_sum(...) {axes = [1]}

    After::

        %transpose_0 = const ... : tensor<4x8x16xf32>    (w1 as [E, H, F], folded)
        %transpose_1 = const ... : tensor<4x16x8xf32>    (w2 as [E, F, H])
        %transpose_2 = const ... : tensor<4x8x16xf32>    (w3 as [E, H, F])
        %y = moe(%x, %router, %transpose_0, %transpose_2, %transpose_1) {top_k = 2} : tensor<3x8xf32>

    ``normalize = false`` when the top-k weights are not renormalised, ``gated = false`` for a
    plain MLP, ``expert_bias``/``router_bias`` when biases are added, ``gating =
    "clamped_swiglu"`` (with ``swiglu_alpha``/``swiglu_limit``) for GPT-OSS's experts, ``scoring =
    "sigmoid"`` (with ``selection_bias``, ``n_group``/``topk_group``, ``routed_scaling``) for
    DeepSeek-V3's router;
    ``explain=true`` prints why each top_k left alone is not an MoE layer.
    """

    name: ClassVar[str] = "raise-moe"
    #: Print why each top_k left alone is not an MoE layer (to stderr).
    explain: bool = False

    def apply(self, graph: Graph) -> bool:
        def tell(op: Op, why: str) -> None:
            print(f"raise-moe: {op.describe()} left alone: {why}", file=sys.stderr)

        return raise_moe_layers(graph, tell if self.explain else None) > 0


__all__ = ["MAX_TRACKED_ELEMENTS", "MoeMatch", "NoMatch", "RaiseMoe", "raise_moe_layers"]
