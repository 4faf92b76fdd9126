r"""Raising: decomposed ONNX subgraphs become the composite ops the hardware wants, by a table of rewrite rules.

Exporters decompose what a transformer means into primitive ops: RMSNorm into
Pow/ReduceMean/Add/Sqrt/Reciprocal/Mul, attention into MatMul/Mul/Add/Softmax/MatMul with the
keys repeated for grouped-query heads, rotary embeddings into Slice/Neg/Concat/Mul/Add. This pass
puts the meaning back, so lowering can emit one kernel per composite (attention with its scores
in local memory, a norm in one row pass) instead of one per primitive. It runs after
``canonicalize``, ``fold-constants``, ``raise-moe`` and ``cse`` (one form per computation, shared
subexpressions merged) and before ``dce``, which drops what it replaced.

:data:`RULES` is the table. A rule names the op kinds its root can be and either a declarative
:class:`~moecc.passes.rewrite_patterns.Pattern` (what the subgraph reads as, in the manner of
tinygrad's ``PatternMatcher`` or MLIR's DRR) or a procedural matcher where no fixed shape can
say it (activations are recognised by evaluating them, attention's key/value views by probing
them), and a rewrite that emits the replacement:

============ ======================================================================== ==================
rule         matches                                                                  becomes
============ ======================================================================== ==================
activation   an element-wise expression of one tensor computing SiLU, GELU (erf) or   ``silu``, ``gelu``
             GELU (tanh), in any association order (:mod:`.raise_activation`)
rms_norm     ``x * 1/sqrt(mean(x^2) + eps) [* scale]`` (Pow or Mul for the square,    ``rms_norm``
             Reciprocal(Sqrt), Pow(-0.5) or Div, an f32 round trip in Casts; Gemma's
             ``1 + weight`` once folded) over trailing axes
layer_norm   ``(x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) [* scale [+ bias]]``  ``layer_norm``
rotary       ``x * cos + cat(-x[.., d/2:], x[.., :d/2]) * sin`` (rotate-half) with    ``rotary_embedding``
             cos/sin whose halves are equal (constants, or ``cos(cat(f, f))``)
rotary_\     GPT-J's rotate-every-two, ``stack(-x[.., 1::2], x[.., ::2]).flatten(-2)``,  ``rotary_embedding``
interleaved  with repeat-interleaved constant cos/sin                                 ``{interleaved}``
rotary_\     ``cat(x1 * cos - x2 * sin, x2 * cos + x1 * sin)`` over the halves of x with ``rotary_embedding``
halves       half-width cos/sin (GPT-OSS)
rotary_\     ``cat(rotary(x[.., :r]), x[.., r:])`` (partial rotary, GPT-NeoX/Phi)     ``{rotary_dim = r}``
partial
attention    ``softmax(scale * q @ kᵀ + masks) @ v`` with grouped-query key/value      ``attention``
             repeats (:mod:`.raise_attention`)
attention_\  ``transpose(attention(..)) {perm = [0, 2, 1, 3]}``, the head merge's        ``attention``
heads_last   transpose: the attention writes its rows in that order                   ``{heads_last}``
gated_mlp    ``(act(x @ Wg) * (x @ Wu)) @ Wd`` with act SiLU or GELU                 ``gated_mlp``
============ ======================================================================== ==================

The driver visits ops from the last to the first (so the widest match, ``rms_norm`` with its
scale, is seen before its unscaled inner product), tries each rule whose root kinds include the
op, and accepts a match only when every op it matched besides the root is used only inside the
match (a shared intermediate would otherwise be computed twice). Sweeps repeat until one
changes nothing (a raised ``silu`` makes a ``gated_mlp``), at most :data:`MAX_SWEEPS`. Rewrites
keep the root's type; a rule that refuses after its match must not have emitted anything.

``raise-composites{rules=attention,rms_norm}`` runs only the named rules; ``explain=true`` prints
what each rule raised.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from moecc.errors import PassError
from moecc.ir.builder import GraphBuilder, const_value
from moecc.ir.graph import Graph, Op, Value
from moecc.ir.ops.common import normalize_axis
from moecc.passes.canonicalize import Rewriter
from moecc.passes.dce import remove_dead_ops
from moecc.passes.manager import Pass, register_pass
from moecc.passes.raise_activation import find_activation, rewrite_activation
from moecc.passes.raise_attention import find_attention, find_heads_last, rewrite_attention, rewrite_heads_last
from moecc.passes.rewrite_patterns import (Match, Pattern, broadcasts_to, either, float_scalar, match, maybe_cast, op,
                                          scalar, value)

#: Sweeps over the graph before the pass stops (each raises whatever matches; the next sees it).
MAX_SWEEPS = 4

Uses = Mapping[Value, list[Op | None]]


@dataclass(frozen=True, slots=True)
class RaiseRule:
    """One row of the table: roots of ``kinds`` matched by ``pattern`` (or ``find``), replaced by
    what ``rewrite`` emits (None: refused, having emitted nothing)."""

    name: str
    kinds: frozenset[str]
    rewrite: Callable[[Match, Rewriter], Value | None]
    pattern: Pattern | None = None
    find: Callable[[Op, Uses], Match | None] | None = None

    def match(self, root: Op, uses: Uses) -> Match | None:
        if self.find is not None:
            return self.find(root, uses)
        assert self.pattern is not None
        return match(self.pattern, root.result)


# -- norms ----------------------------------------------------------------------------------

def _keepdims(attrs: Mapping[str, object]) -> bool:
    return bool(attrs["keepdims"])


X = value("x")
TWO = scalar(where=lambda v: v == 2.0)
SQUARE = either(op("pow", X, TWO), op("mul", X, X))
SHIFTED_MEAN_SQUARE = op("add", op("reduce_mean", SQUARE, name="mean", attrs=_keepdims), scalar("eps"))
RMS_NORMED = either(
    op("mul", X, op("reciprocal", op("sqrt", SHIFTED_MEAN_SQUARE))),
    op("mul", X, op("pow", SHIFTED_MEAN_SQUARE, scalar(where=lambda v: v == -0.5))),
    op("div", X, op("sqrt", SHIFTED_MEAN_SQUARE)),
)
RMS_NORM = either(op("mul", maybe_cast(RMS_NORMED).named("normed"), value("scale")), maybe_cast(RMS_NORMED).named("normed"))

CENTRED = op("sub", X, op("reduce_mean", X, name="mean", attrs=_keepdims), name="centred")
SHIFTED_VARIANCE = op("add", op("reduce_mean", either(op("pow", CENTRED, TWO), op("mul", CENTRED, CENTRED)),
                                name="variance", attrs=_keepdims), scalar("eps"))
LN_NORMED = either(
    op("div", CENTRED, op("sqrt", SHIFTED_VARIANCE)),
    op("mul", CENTRED, op("reciprocal", op("sqrt", SHIFTED_VARIANCE))),
)
LN_SCALED = op("mul", maybe_cast(LN_NORMED).named("normed"), value("scale"))
LAYER_NORM = either(op("add", LN_SCALED, value("bias")), LN_SCALED, maybe_cast(LN_NORMED).named("normed"))


def _trailing_axis(mean: Value, x: Value) -> int | None:
    """The first of the trailing axes ``[axis, rank)`` a ``reduce_mean`` reduces, or None."""
    attrs = mean.producer.attrs  # type: ignore[union-attr]
    rank = x.type.rank
    axes = sorted(normalize_axis("reduce_mean", a, rank) for a in attrs["axes"]) if attrs["axes"] else list(range(rank))
    if not axes or axes != list(range(axes[0], rank)):
        return None
    return axes[0]


def _norm(kind: str, m: Match, rw: Rewriter) -> Value | None:
    x, root = m["x"], m.ops[0].result
    axis = _trailing_axis(m["mean"], x)
    if axis is None or not x.type.dtype.is_float or x.type.shape != root.type.shape:
        return None
    if kind == "layer_norm" and _trailing_axis(m["variance"], x) != axis:
        return None
    eps = float(str(m.data("eps").reshape(-1)[0]))  # the shortest text of the exported value (1e-06, not 9.99e-07)
    extra = [m.get(name) for name in ("scale", "bias") if m.get(name) is not None]
    if any(not broadcasts_to(v.type.shape, x.type.shape) or not v.type.dtype.is_float for v in extra):  # type: ignore[union-attr]
        return None
    if m.get("scale") is None:
        operands = [rw.builder.const(np.ones(x.type.shape[axis:], dtype=x.type.dtype.numpy), name="norm_scale")]
    else:
        operands = [v if v.type.dtype == x.type.dtype else rw.emit("cast", [v], {"to": x.type.dtype}, name="norm_scale")
                    for v in extra]  # type: ignore[union-attr]
    y = rw.emit(kind, [x, *operands], {"axis": axis, "epsilon": eps}, name=kind)
    if y.type.dtype != root.type.dtype:
        y = rw.emit("cast", [y], {"to": root.type.dtype}, name=kind)
    return y


# -- rotary embedding ----------------------------------------------------------------------

RX = value("x")
ROTATE_HALF = op("concat", op("neg", op("slice", RX, name="upper")), op("slice", RX, name="lower"), name="rotated")
ROTARY = op("add", op("mul", RX, value("cos")), op("mul", ROTATE_HALF, value("sin")))

_SAME_HALVES_UNARY = frozenset({"cos", "sin", "cast", "neg", "exp", "abs"})


def _halves_equal(v: Value, depth: int = 0) -> bool:
    """``v[..., :d/2] == v[..., d/2:]`` for every input: a constant that has it, or element-wise
    and view ops (keeping the last axis) over ``concat(f, f)`` on the last axis."""
    data = const_value(v)
    width = v.type.shape[-1] if v.type.rank else 0
    if width % 2 or width == 0:
        return False
    if data is not None:
        half = width // 2
        return bool(np.array_equal(data[..., :half], data[..., half:]))
    p = v.producer
    if p is None or depth > 12 or len(p.results) != 1:
        return False
    if p.kind == "concat":
        return (len(p.operands) == 2 and p.operands[0] is p.operands[1]
                and normalize_axis("concat", p.attrs["axis"], v.type.rank) == v.type.rank - 1)
    if p.kind in _SAME_HALVES_UNARY:
        return _halves_equal(p.operands[0], depth + 1)
    if p.kind in ("mul", "add", "sub", "div") and len(p.operands) == 2:
        a, b = p.operands
        if float_scalar(b) is not None:
            return _halves_equal(a, depth + 1)
        if float_scalar(a) is not None:
            return _halves_equal(b, depth + 1)
        return False
    if p.kind in ("reshape", "expand") and p.operands[0].type.rank and p.operands[0].type.shape[-1] == width:
        return _halves_equal(p.operands[0], depth + 1)
    if p.kind == "gather" and p.operands[0].type.rank and p.operands[0].type.shape[-1] == width:
        data_rank = p.operands[0].type.rank
        if normalize_axis("gather", p.attrs["axis"], data_rank) != data_rank - 1:
            return _halves_equal(p.operands[0], depth + 1)
    return False


def _slice_window(s: Value, rank: int) -> tuple[int, int] | None:
    """``(start, length)`` of a step-1 slice of the last axis only, or None."""
    attrs = s.producer.attrs  # type: ignore[union-attr]
    axes = [normalize_axis("slice", a, rank) for a in attrs["axes"]]
    if axes != [rank - 1] or list(attrs["steps"]) != [1]:
        return None
    return int(attrs["starts"][0]), s.type.shape[-1]


def _tables(x: Value, cos: Value, sin: Value, width: int, same: Callable[[Value], bool]) -> list[tuple[Value, int]] | None:
    """cos/sin as ``(table, batch)`` when each broadcasts to x ``[B, H, S, D]`` over the heads
    as ``[B or 1, 1, S, width]`` in x's type and its pairs are equal (``same``)."""
    b, _, s, _ = x.type.shape
    tables = []
    for table in (cos, sin):
        shape = (1,) * (4 - table.type.rank) + table.type.shape
        if (table.type.rank > 4 or table.type.dtype != x.type.dtype or shape[0] not in (1, b) or shape[1] != 1
                or shape[2:] != (s, width) or not same(table)):
            return None
        tables.append((table, shape[0]))
    return tables


def _emit_rotary(rw: Rewriter, x: Value, tables: list[tuple[Value, int]], interleaved: bool) -> Value:
    """``rotary_embedding`` of ``x`` with the tables' halves (or even columns when interleaved)."""
    s, width = x.type.shape[2], tables[0][0].type.shape[-1]
    halves = []
    for table, lead in tables:
        start, step = (0, 2) if interleaved else (0, 1)
        h = rw.emit("slice", [table], {"starts": [start], "ends": [width if interleaved else width // 2],
                                        "axes": [table.type.rank - 1], "steps": [step]}, name="rotary_half")
        halves.append(rw.emit("reshape", [h], {"shape": [lead, s, width // 2]}, name="rotary_half"))
    return rw.emit("rotary_embedding", [x, *halves], {"interleaved": interleaved, "rotary_dim": 0}, name="rotary")


def _rotary(m: Match, rw: Rewriter) -> Value | None:
    x, root = m["x"], m.ops[0].result
    if x.type.rank != 4 or root.type != x.type or not x.type.dtype.is_float:
        return None
    d = x.type.shape[3]
    half = d // 2
    rotated = m["rotated"].producer
    if d % 2 or normalize_axis("concat", rotated.attrs["axis"], 4) != 3:  # type: ignore[union-attr]
        return None
    if _slice_window(m["upper"], 4) != (half, d - half) or _slice_window(m["lower"], 4) != (0, half):
        return None
    tables = _tables(x, m["cos"], m["sin"], d, _halves_equal)
    return None if tables is None else _emit_rotary(rw, x, tables, interleaved=False)


IX = value("x")
EVERY_TWO = op("reshape", op("concat", op("reshape", op("neg", op("slice", IX, name="odd"))),
                             op("reshape", op("slice", IX, name="even")), name="stacked"))
ROTARY_INTERLEAVED = op("add", op("mul", IX, value("cos")), op("mul", EVERY_TWO, value("sin")))


def _pairs_equal(v: Value) -> bool:
    """A constant whose columns ``2i`` and ``2i + 1`` are equal (repeat-interleaved angles)."""
    data = const_value(v)
    return data is not None and data.shape[-1] % 2 == 0 and bool(np.array_equal(data[..., 0::2], data[..., 1::2]))


def _strided(s: Value, rank: int, start: int) -> bool:
    attrs = s.producer.attrs  # type: ignore[union-attr]
    axes = [normalize_axis("slice", a, rank) for a in attrs["axes"]]
    return axes == [rank - 1] and list(attrs["steps"]) == [2] and int(attrs["starts"][0]) == start


def _rotary_interleaved(m: Match, rw: Rewriter) -> Value | None:
    """GPT-J's rotate-every-two: ``stack(-x[.., 1::2], x[.., ::2], -1).flatten(-2)``."""
    x, root = m["x"], m.ops[0].result
    if x.type.rank != 4 or root.type != x.type or not x.type.dtype.is_float or x.type.shape[3] % 2:
        return None
    d = x.type.shape[3]
    stacked = m["stacked"]
    if not (_strided(m["even"], 4, 0) and _strided(m["odd"], 4, 1)) or m["even"].type.shape[3] != d // 2:
        return None
    if stacked.type.shape != x.type.shape[:3] + (d // 2, 2):  # the pairs on a new last axis
        return None
    tables = _tables(x, m["cos"], m["sin"], d, _pairs_equal)
    return None if tables is None else _emit_rotary(rw, x, tables, interleaved=True)


HX = value("x")
FIRST, SECOND = op("slice", HX, name="first"), op("slice", HX, name="second")
HALF_COS, HALF_SIN = value("cos"), value("sin")
ROTARY_HALVES = op("concat", op("sub", op("mul", FIRST, HALF_COS), op("mul", SECOND, HALF_SIN)),
                   op("add", op("mul", SECOND, HALF_COS), op("mul", FIRST, HALF_SIN)))


def _rotary_halves(m: Match, rw: Rewriter) -> Value | None:
    """GPT-OSS's form: ``cat(x1 * cos - x2 * sin, x2 * cos + x1 * sin)`` over the halves ``x1``,
    ``x2`` of x, with half-width cos/sin tables."""
    x, root = m["x"], m.ops[0].result
    if x.type.rank != 4 or root.type != x.type or not x.type.dtype.is_float or x.type.shape[3] % 2:
        return None
    b, _, s, d = x.type.shape
    half = d // 2
    if normalize_axis("concat", m.ops[0].attrs["axis"], 4) != 3:
        return None
    if _slice_window(m["first"], 4) != (0, half) or _slice_window(m["second"], 4) != (half, half):
        return None
    tables = _tables(x, m["cos"], m["sin"], half, lambda _: True)
    if tables is None:
        return None
    halves = [rw.emit("reshape", [table], {"shape": [lead, s, half]}, name="rotary_half") for table, lead in tables]
    return rw.emit("rotary_embedding", [x, *halves], {"interleaved": False, "rotary_dim": 0}, name="rotary")


PX = value("x")
PARTIAL_ROTARY = op("concat", op("rotary_embedding", op("slice", PX, name="rotated_part"), value("cos"), value("sin"),
                                 name="inner"),
                    op("slice", PX, name="pass_part"))


def _rotary_partial(m: Match, rw: Rewriter) -> Value | None:
    """``cat(rotary(x[.., :r]), x[.., r:])``: rotary over the first ``r`` features only."""
    x, root = m["x"], m.ops[0].result
    inner = m["inner"].producer
    if (x.type.rank != 4 or root.type != x.type or inner.attrs["rotary_dim"]  # type: ignore[union-attr]
            or normalize_axis("concat", m.ops[0].attrs["axis"], 4) != 3):
        return None
    r = m["rotated_part"].type.shape[3]
    if _slice_window(m["rotated_part"], 4) != (0, r) or _slice_window(m["pass_part"], 4) != (r, x.type.shape[3] - r):
        return None
    return rw.emit("rotary_embedding", [x, m["cos"], m["sin"]], {**inner.attrs, "rotary_dim": r},  # type: ignore[union-attr]
                   name="rotary")


# -- gated MLP -------------------------------------------------------------------------------

GX = value("x")
GATE = op("matmul", GX, value("w_gate"))
GATED_MLP = op("matmul", op("mul", either(op("silu", GATE, name="act"), op("gelu", GATE, name="act")),
                            op("matmul", GX, value("w_up"))), value("w_down"))


def _gated_mlp(m: Match, rw: Rewriter) -> Value | None:
    x, wg, wu, wd = m["x"], m["w_gate"], m["w_up"], m["w_down"]
    if x.type.rank < 2 or any(w.type.rank != 2 for w in (wg, wu, wd)) or wg.type != wu.type:
        return None
    if wg.type.shape[0] != x.type.shape[-1] or wd.type.shape[0] != wg.type.shape[1]:
        return None
    act = m["act"].producer
    name = "silu" if act.kind == "silu" else "gelu_tanh" if act.attrs["approximate"] == "tanh" else "gelu"  # type: ignore[union-attr]
    return rw.emit("gated_mlp", [x, wg, wu, wd], {"activation": name}, name="gated_mlp")


# -- the table -------------------------------------------------------------------------------

RULES: tuple[RaiseRule, ...] = (
    RaiseRule("activation", frozenset({"mul", "div", "add", "sub"}), rewrite_activation,
              find=lambda root, uses: find_activation(root)),
    RaiseRule("rms_norm", frozenset({"mul", "div", "cast"}), lambda m, rw: _norm("rms_norm", m, rw), pattern=RMS_NORM),
    RaiseRule("layer_norm", frozenset({"mul", "div", "add", "cast"}), lambda m, rw: _norm("layer_norm", m, rw),
              pattern=LAYER_NORM),
    RaiseRule("rotary", frozenset({"add"}), _rotary, pattern=ROTARY),
    RaiseRule("rotary_interleaved", frozenset({"add"}), _rotary_interleaved, pattern=ROTARY_INTERLEAVED),
    RaiseRule("rotary_halves", frozenset({"concat"}), _rotary_halves, pattern=ROTARY_HALVES),
    RaiseRule("rotary_partial", frozenset({"concat"}), _rotary_partial, pattern=PARTIAL_ROTARY),
    RaiseRule("attention", frozenset({"matmul"}), rewrite_attention, find=find_attention),
    RaiseRule("attention_heads_last", frozenset({"transpose"}), rewrite_heads_last, find=find_heads_last),
    RaiseRule("gated_mlp", frozenset({"matmul"}), _gated_mlp, pattern=GATED_MLP),
)

RULE_NAMES = tuple(rule.name for rule in RULES)


def _confined(m: Match, uses: Uses) -> bool:
    """Every op of ``m`` but the root is used only by ops of ``m``."""
    inside = {id(o) for o in m.ops}
    for o in m.ops[1:]:
        for r in o.results:
            if any(u is None or id(u) not in inside for u in uses.get(r, [])):
                return False
    return True


def raise_composites(graph: Graph, rules: tuple[RaiseRule, ...] = RULES,
                     explain: Callable[[str, Op], None] | None = None) -> dict[str, int]:
    """Apply ``rules`` until a sweep raises nothing; return how often each rule applied."""
    applied: dict[str, int] = {}
    for _ in range(MAX_SWEEPS):
        raised = 0
        uses = graph.uses()
        i = len(graph.ops) - 1
        while i >= 0:
            root = graph.ops[i]
            if len(root.results) == 1 and uses.get(root.result):
                for rule in rules:
                    if root.kind not in rule.kinds:
                        continue
                    found = rule.match(root, uses)
                    if found is None or not _confined(found, uses):
                        continue
                    builder = GraphBuilder(graph, source=root.source)
                    builder.insert_at = i
                    before = len(graph.ops)
                    new = rule.rewrite(found, Rewriter(graph, builder, False))
                    if new is None:
                        if len(graph.ops) != before:
                            raise PassError(f"rule '{rule.name}' refused {root.describe()} after emitting ops",
                                            pass_name=RaiseComposites.name, remedy="this is a moecc bug; "
                                            "run with --disable-pass raise-composites to work around it")
                        continue
                    if new.type != root.result.type:
                        raise PassError(f"rule '{rule.name}' replaced {root.describe()} of type {root.result.type} "
                                        f"by {new.type}", pass_name=RaiseComposites.name,
                                        remedy="this is a moecc bug; run with --disable-pass raise-composites")
                    graph.replace_all_uses(root.result, new)
                    applied[rule.name] = applied.get(rule.name, 0) + 1
                    raised += 1
                    if explain is not None:
                        explain(rule.name, root)
                    uses = graph.uses()
                    break
            i -= 1
        if raised:
            remove_dead_ops(graph)
        else:
            break
    return applied


def select_rules(names: str) -> tuple[RaiseRule, ...]:
    """The rules named in ``names`` (comma-separated, or ``all``), in table order."""
    if names.strip() == "all":
        return RULES
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in RULE_NAMES]
    if unknown or not wanted:
        raise PassError(f"unknown rule(s) {', '.join(unknown) or '(none given)'}", pass_name=RaiseComposites.name,
                        remedy=f"rules are: all, {', '.join(RULE_NAMES)}")
    return tuple(rule for rule in RULES if rule.name in wanted)


@register_pass
@dataclass(frozen=True, slots=True)
class RaiseComposites(Pass):
    """Raises decomposed norms, activations, rotary embeddings, attention and gated MLPs to
    composite ops by the rules of :data:`RULES`.

    Before (``-p raise-composites``)::

        %sig = sigmoid(%x) : tensor<2x8xf32>
        %y = mul(%x, %sig) : tensor<2x8xf32>
        return %y

    After::

        %silu = silu(%x) : tensor<2x8xf32>
        return %silu as "y"

    Options: ``rules`` (comma-separated rule names, default ``all``), ``explain`` (print each
    raise to stderr).
    """

    name: ClassVar[str] = "raise-composites"
    rules: str = "all"
    explain: bool = False

    def __post_init__(self) -> None:
        select_rules(self.rules)

    def apply(self, graph: Graph) -> bool:
        def tell(rule: str, root: Op) -> None:
            print(f"raise-composites: {rule} at {root.describe()}", file=sys.stderr)

        return bool(raise_composites(graph, select_rules(self.rules), tell if self.explain else None))


__all__ = ["MAX_SWEEPS", "RULES", "RULE_NAMES", "RaiseComposites", "RaiseRule", "raise_composites", "select_rules"]
