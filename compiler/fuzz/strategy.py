"""A hypothesis strategy of random, valid, well-conditioned graph-IR graphs.

Where it sits in the flow: the fuzzer's input side. :func:`graph_cases` builds a
:class:`~moecc.fuzz.cases.FuzzCase` (a :class:`~moecc.ir.graph.Graph` plus recipes for its
inputs) op by op from hypothesis primitives, so hypothesis shrinks a failing case to a short
graph with small shapes. The runner (:mod:`moecc.fuzz.runner`) compiles it for the targets and
compares with the reference interpreter.

How a graph is built: a pool of values (graph inputs and op results), each with its reference
data. Every step draws a *generator* (:data:`GENERATORS`: one op kind; the registry-driven
:func:`gen_registry_op`, any kind with attributes drawn from its declaration alone; or a motif
of a few ops: matmul chains, softmax over masked scores, norms, embedding gathers, a top-k
router, attention, rotary embeddings, gated MLPs, ``moe`` in every operand layout, the exported
MoE form ``raise-moe`` recognises, half-precision stretches, NaN/inf through ops that define
them, overflowing integers, empty dims, matmuls past one MXU tile) that picks operands from the
pool (the most recent first, so chains are the simplest
shrink; older values make DAGs), draws shapes and attributes from the op's contract and emits
the op through :class:`~moecc.ir.builder.GraphBuilder` (the registry's ``infer`` checks it;
an op ``infer`` refuses is skipped, not the whole example). The op is then evaluated with the
registry's numpy semantics on the reference data, which keeps the graph numerically sane:

- results must be finite and moderate (``|x| <= MAGNITUDE``); ops with a domain (log, sqrt,
  reciprocal, div, pow) get their operand moved into it first (``abs(x) + 0.5``);
- ops that are discontinuous in a float operand (floor/ceil/sign, comparisons, casts to
  integers or bool, ``mod``, top-k/arg-max orders, the ``moe`` router's choice) are kept only
  when every element is at least ``MARGIN`` (relative) away from a discontinuity, unless the
  operand is *exact* (bit-reproducible on every correct target: inputs, constants, data
  movement, max/min, integer arithmetic, float arithmetic that rounds nothing);
- a float16/bfloat16 result must be exact, or its float32 value must round to the same half
  value under a perturbation well above float32 summation error (so no target's legitimate
  last-bit difference flips a half ulp);
- layer/rms norms need rows whose spread is not tiny against their size.

Values holding NaN/inf or overflowed integers on purpose are outputs only, never operands.
Outputs are the values no op consumes (sometimes also an input, or one value twice). Constants hold small random values (seeded, printed in
full in a failing case's ``.mir``); inputs are seeded recipes (index inputs within range).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

from moecc.errors import MoeccError
from moecc.fuzz.cases import FuzzCase, InputSpec, make_array, with_special_values
from moecc.ir.builder import GraphBuilder
from moecc.ir.graph import Graph, Value
from moecc.ir.registry import REQUIRED, Attr, AttrKind, all_op_defs, evaluate, get_op_def
from moecc.ir.types import DType, TensorType
from moecc.passes.prune import PruneSpec

try:  # the moe op's operand layout, when the registry declares the extended form
    from moecc.ir.ops.composite import moe_operand_layout
except ImportError:  # pragma: no cover - the original five-operand form
    moe_operand_layout = None  # type: ignore[assignment]

F32, F16, BF16, I64, I32, BOOL = DType.F32, DType.F16, DType.BF16, DType.I64, DType.I32, DType.BOOL
HALF = (F16, BF16)
#: Largest |value| a float result may hold (keeps f32 error far below the tolerances).
MAGNITUDE = 200.0
#: Largest |value| an integer result may hold.
INT_MAGNITUDE = 1 << 20
#: Relative distance from a discontinuity a non-exact operand must keep (f32 error after a
#: chain of ops stays below ~1e-5 relative at these magnitudes).
MARGIN = 2e-4
#: Values smaller than this count as this large when ordering (relative margins near zero).
ORDER_FLOOR = 0.05
#: Largest element count of any value.
MAX_ELEMENTS = 1 << 16
#: Op kinds that only move data (exact when their operand is).
DATA_MOVEMENT = {"reshape", "transpose", "concat", "slice", "expand", "tile", "trilu", "gather", "gather_elements",
                 "gather_nd", "where", "neg", "abs", "relu", "max", "min", "clip"}


@dataclass(slots=True)
class Node:
    """A pool value: the graph value, its reference data and whether every correct target
    computes it bit for bit."""

    value: Value
    data: np.ndarray
    exact: bool
    #: Holds NaN/inf on purpose: only the special-values generator uses it (then it is an output).
    special: bool = False

    @property
    def type(self) -> TensorType:
        return self.value.type

    @property
    def dtype(self) -> DType:
        return self.value.type.dtype

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.type.shape

    @property
    def rank(self) -> int:
        return len(self.value.type.shape)

    @property
    def is_float(self) -> bool:
        return self.dtype.is_float

    @property
    def is_int(self) -> bool:
        return self.dtype.is_int

    def integral(self) -> bool:
        d = self.data.astype(np.float64)
        return bool(np.all(d == np.round(d)))

    def mag(self) -> float:
        return float(np.max(np.abs(self.data.astype(np.float64)))) if self.data.size else 0.0


class Skip(Exception):
    """A generator cannot apply here; the step is skipped."""


class _Build:
    """The graph under construction, its value pool and its input recipes."""

    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any], max_ops: int) -> None:
        self.draw = draw
        self.max_ops = max_ops
        self.graph = Graph("fuzz")
        self.gb = GraphBuilder(self.graph, fold=False)
        self.pool: list[Node] = []
        self.specs: list[InputSpec] = []
        self.used: set[int] = set()
        self.notes: list[str] = []

    # -- drawing -------------------------------------------------------------------------
    def integer(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi)) if hi > lo else lo

    def choice(self, options: Sequence[Any]) -> Any:
        return self.draw(st.sampled_from(list(options))) if len(options) > 1 else options[0]

    def flag(self) -> bool:
        return self.draw(st.booleans())

    def dim(self) -> int:
        return self.draw(st.one_of(st.integers(1, 6), st.sampled_from([8, 12, 16, 17, 33, 40, 65, 129])))

    def shape(self, min_rank: int = 1, max_rank: int = 4) -> tuple[int, ...]:
        rank = self.integer(min_rank, max_rank)
        dims = [self.dim() for _ in range(rank)]
        while math.prod(dims) > 2048:
            dims[dims.index(max(dims))] = max(1, max(dims) // 4)
        return tuple(dims)

    def seed(self) -> int:
        return self.draw(st.integers(0, 10_000))

    # -- values ---------------------------------------------------------------------------
    def new_input(self, shape: Sequence[int], dtype: DType = F32, low: float = -2.0, high: float = 2.0,
                  integral: bool = False, special: bool = False) -> Node:
        name = f"in{len(self.specs)}"
        spec = InputSpec(name, str(dtype), tuple(int(d) for d in shape), float(low), float(high), integral, self.seed(),
                         special)
        value = self.graph.add_input(name, TensorType(spec.shape, dtype))
        assert value.name == name
        self.specs.append(spec)
        node = Node(value, spec.make(), True, special)
        self.pool.append(node)
        return node

    def new_const(self, shape: Sequence[int], dtype: DType = F32, low: float = -1.0, high: float = 1.0,
                  integral: bool = False, name: str = "w") -> Node:
        data = make_array(dtype, tuple(shape), low, high, integral, self.seed())
        return self.const_of(data, name)

    def const_of(self, data: np.ndarray, name: str = "c") -> Node:
        return Node(self.gb.const(np.asarray(data), name), np.asarray(data), True)

    def pick(self, pred: Callable[[Node], bool]) -> Node | None:
        """A pool value satisfying ``pred``, the most recent first (index 0 shrinks to chains)."""
        candidates = [n for n in reversed(self.pool) if not n.special and pred(n)]
        if not candidates:
            return None
        return candidates[self.integer(0, min(len(candidates), 12) - 1)]

    def float_operand(self, min_rank: int = 0, f32_only: bool = False) -> Node:
        node = self.pick(lambda n: n.is_float and n.rank >= min_rank and (not f32_only or n.dtype is F32))
        if node is None:
            node = self.new_input(self.shape(max(min_rank, 1)))
        return node

    def mark(self) -> tuple[int, int, int, set[int]]:
        return len(self.graph.ops), len(self.pool), len(self.specs), set(self.used)

    def rollback(self, mark: tuple[int, int, int, set[int]]) -> None:
        """Undo a generator that skipped half-way: its ops, inputs and pool entries go."""
        ops, pool, specs, used = mark
        self.graph.remove_ops(self.graph.ops[ops:])
        for value in self.graph.inputs[specs:]:
            self.graph.release_name(value.name)
        del self.graph.inputs[specs:], self.specs[specs:], self.pool[pool:]
        self.used = used

    def op_count(self) -> int:
        return sum(1 for op in self.graph.ops if not op.is_const)

    # -- emitting ------------------------------------------------------------------------
    def emit(self, kind: str, operands: Sequence[Node], attrs: dict[str, Any] | None = None, *,
             exact: bool | Sequence[bool] = False, check: Callable[[list[np.ndarray]], bool] | None = None,
             add: bool = True, bounded: bool = True) -> list[Node]:
        """Emit ``kind``, evaluate it on the pool data and keep it when it is valid and
        well-conditioned; raise :class:`Skip` otherwise (the op is removed again)."""
        if self.op_count() >= self.max_ops:
            raise Skip
        try:
            results = self.gb.emit(kind, [n.value for n in operands], attrs or {})
        except MoeccError:
            raise Skip from None
        op = results[0].producer
        assert op is not None
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                outs = evaluate(kind, [n.data for n in operands], op.attrs, [r.type for r in results])
                ok = all(_sane(a, bounded) for a in outs) and (check is None or check(outs))
            exacts = [exact] * len(outs) if isinstance(exact, bool) else list(exact)
            for i, (r, a) in enumerate(zip(results, outs)):
                if r.type.dtype in HALF and not exacts[i]:
                    if kind in DATA_MOVEMENT and all(n.exact for n in operands if n.dtype in HALF):
                        exacts[i] = True
                    elif _half_rounding_stable(kind, operands, op.attrs, i, a):
                        exacts[i] = True
                    else:
                        ok = False
        except MoeccError:
            ok = False
        if not ok:
            self.graph.remove_ops([op])
            raise Skip
        nodes = [Node(r, a, e) for r, a, e in zip(results, outs, exacts)]
        for n in operands:
            self.used.add(id(n.value))
        if add:
            self.pool.extend(nodes)
        return nodes

    def emit1(self, kind: str, operands: Sequence[Node], attrs: dict[str, Any] | None = None, **kw: Any) -> Node:
        return self.emit(kind, operands, attrs, **kw)[0]

    # -- operand shaping -------------------------------------------------------------------
    def positive(self, x: Node, floor: float = 0.1) -> Node:
        """``x`` itself when its values are >= ``floor``, else ``abs(x) + 0.5``."""
        if x.data.size and float(np.min(x.data.astype(np.float64))) >= floor:
            return x
        half = self.const_of(np.asarray(0.5, dtype=x.dtype.numpy), "half")
        return self.emit1("add", [self.emit1("abs", [x], exact=x.exact, add=False), half], exact=x.exact, add=False)

    def bounded(self, x: Node, limit: float) -> Node:
        """``x`` when ``|x| <= limit``, else ``clip(x, -limit, limit)``."""
        if x.mag() <= limit:
            return x
        return self.emit1("clip", [x], {"min": -limit, "max": limit}, exact=x.exact, add=False)

    def broadcast_partner(self, a: Node, dtype: DType | None = None, low: float = -2.0, high: float = 2.0,
                          integral: bool = False) -> Node:
        """A second operand broadcasting with ``a``: a pool value, a constant of a suffix shape
        with some dims 1, or a scalar constant."""
        dtype = dtype or a.dtype
        mode = self.choice(["pool", "const", "scalar", "input"])
        if mode == "pool":
            other = self.pick(lambda n: n is not a and n.dtype is dtype and _broadcasts(n.shape, a.shape))
            if other is not None:
                return other
            mode = "const"
        if mode == "scalar":
            shape: tuple[int, ...] = ()
        else:
            keep = self.integer(0, a.rank)
            shape = tuple(d if self.flag() else 1 for d in a.shape[a.rank - keep:])
        if mode == "input":
            return self.new_input(shape, dtype, low, high, integral or dtype.is_int)
        return self.new_const(shape, dtype, low, high, integral or dtype.is_int, "b")

    def finish(self) -> FuzzCase:
        outputs = [n for n in self.pool if id(n.value) not in self.used and n.value.producer is not None
                   and not n.value.producer.is_const]
        if not outputs:
            x = self.pool[0] if self.pool else self.new_input((2, 3))
            kind = "not" if x.dtype is BOOL else "abs"
            outputs = [Node(self.gb.emit(kind, [x.value])[0], x.data, True)]
        values = [n.value for n in outputs]
        extra = self.draw(st.integers(0, 7))
        if extra == 1:  # a graph input returned as an output too
            values.append(self.graph.inputs[0])
        elif extra == 2:  # one value returned under two names
            values.append(values[0])
        self.graph.set_outputs(values, [f"out{i}" for i in range(len(values))])
        return FuzzCase(self.graph, self.specs, self.notes)


def _sane(a: np.ndarray, bounded: bool = True) -> bool:
    """Small enough, and (when ``bounded``) finite with moderate values."""
    if a.size > MAX_ELEMENTS:
        return False
    if a.dtype.kind == "b" or not bounded:
        return True
    wide = a.astype(np.float64)
    if not np.all(np.isfinite(wide)):
        return False
    limit = INT_MAGNITUDE if a.dtype.kind in "iu" else MAGNITUDE
    return not a.size or float(np.max(np.abs(wide))) <= limit


def _broadcasts(small: tuple[int, ...], big: tuple[int, ...]) -> bool:
    if len(small) > len(big):
        return False
    return all(s in (1, b) for s, b in zip(small[::-1], big[::-1]))


def _half_rounding_stable(kind: str, operands: Sequence[Node], attrs: dict[str, Any], index: int, got: np.ndarray) -> bool:
    """Whether result ``index`` (a half type) is the float32 computation rounded once, with
    that rounding unchanged by a perturbation far above float32 error."""
    try:
        with np.errstate(all="ignore"):
            wide = get_op_def(kind).compute([n.data.astype(np.float32) if n.is_float else n.data for n in operands], attrs)
    except Exception:
        return False
    r = np.asarray(wide[index], dtype=np.float64)
    if r.shape != got.shape:
        return False
    scale = max((n.mag() for n in operands if n.is_float), default=1.0)
    delta = 2e-5 * np.abs(r) + 1e-6 * scale
    want = got.astype(np.float64)
    with np.errstate(all="ignore"):
        for candidate in (r, r + delta, r - delta):
            if not np.array_equal(candidate.astype(np.float32).astype(got.dtype).astype(np.float64), want):
                return False
    return True


def _far_from_integers(x: np.ndarray) -> bool:
    d = x.astype(np.float64)
    return bool(np.all(np.abs(d - np.round(d)) >= MARGIN * np.maximum(1.0, np.abs(d))))


def _far_from_zero(x: np.ndarray) -> bool:
    return bool(np.all(np.abs(x.astype(np.float64)) >= MARGIN))


def _separated(x: np.ndarray, axis: int, count: int, largest: bool | None = None) -> bool:
    """Whether the ``count`` largest (``largest``), smallest (not ``largest``) or both (None)
    along ``axis`` are each ``MARGIN`` (relative, floored at ``ORDER_FLOOR``) apart from the next
    in sorted order: an order, and a choice of the first ``count``, every target agrees on."""
    d = np.sort(np.moveaxis(x.astype(np.float64), axis, -1), axis=-1)
    if d.shape[-1] < 2:
        return True
    gaps = np.diff(d, axis=-1)
    scale = MARGIN * np.maximum(ORDER_FLOOR, np.maximum(np.abs(d[..., 1:]), np.abs(d[..., :-1])))
    n = min(count, gaps.shape[-1])
    ok = gaps >= scale
    low, high = ok[..., :n], ok[..., gaps.shape[-1] - n:]
    if largest is None:
        return bool(np.all(low) and np.all(high))
    return bool(np.all(high if largest else low))


def _is_half(n: Node) -> bool:
    return n.dtype in HALF


# -- generators -------------------------------------------------------------------------------

UNARY_SMOOTH = ("neg", "abs", "relu", "tanh", "sigmoid", "erf", "sin", "cos", "softplus", "hard_swish", "mish",
                "gelu", "leaky_relu", "hard_sigmoid", "exp")
UNARY_DOMAIN = ("log", "sqrt", "reciprocal")
UNARY_STEP = ("floor", "ceil", "sign")


def gen_unary(b: _Build) -> None:
    kind = b.choice(UNARY_SMOOTH + UNARY_DOMAIN + UNARY_STEP + ("is_nan", "is_inf"))
    if kind in ("neg", "abs", "relu", "sign") and b.draw(st.integers(0, 3)) == 0:
        x = b.pick(lambda n: n.dtype in (I64, I32, DType.I8)) or b.new_input(b.shape(), b.choice([I64, I32]), -9, 9)
        b.emit1(kind, [x], exact=True)
        return
    x = b.float_operand()
    attrs: dict[str, Any] = {}
    if kind == "gelu":
        attrs["approximate"] = b.choice(["none", "tanh"])
    elif kind == "leaky_relu":
        attrs["alpha"] = b.choice([0.01, 0.2])
    elif kind == "hard_sigmoid":
        attrs["alpha"], attrs["beta"] = b.choice([(0.2, 0.5), (1 / 6, 0.5)])
    elif kind == "is_inf":
        attrs["detect_positive"], attrs["detect_negative"] = b.flag(), b.flag()
    if kind in ("exp", "sin", "cos", "softplus", "mish"):
        x = b.bounded(x, 6.0)
    if kind in UNARY_DOMAIN:
        x = b.positive(x)
    check = None
    if kind in ("floor", "ceil") and not x.exact:
        check = lambda outs: _far_from_integers(x.data)  # noqa: E731
    if kind == "sign" and not x.exact:
        check = lambda outs: _far_from_zero(x.data)  # noqa: E731
    # Steps and predicates of a well-separated operand are exact; neg/abs/relu keep exactness.
    exact = kind in ("floor", "ceil", "sign", "is_nan", "is_inf") or (x.exact and kind in ("neg", "abs", "relu"))
    b.emit1(kind, [x], attrs, exact=exact, check=check)


ARITH = ("add", "sub", "mul", "div", "pow", "max", "min", "mod")


def gen_binary(b: _Build) -> None:
    kind = b.choice(ARITH)
    use_int = b.draw(st.integers(0, 3)) == 0
    if use_int:
        a = b.pick(lambda n: n.dtype in (I64, I32))
        if a is None:
            a = b.new_input(b.shape(), b.choice([I64, I32]), -8, 9)
    else:
        a = b.float_operand()
    dtype = a.dtype
    if kind in ("div", "mod"):
        other = b.broadcast_partner(a, low=-4 if use_int else 0.5, high=5 if use_int else 2.0)
        if use_int:  # signed divisors (truncation toward zero, the sign rules of mod), never zero
            if np.any(other.data == 0):
                one = b.const_of(np.asarray(1, dtype=dtype.numpy), "one")
                other = b.emit1("add", [b.emit1("abs", [other], exact=True, add=False), one], exact=True, add=False)
        else:
            other = b.positive(other, 0.25)
            if b.flag():  # a negative divisor: mod takes the divisor's sign, fmod the dividend's
                other = b.emit1("neg", [other], exact=other.exact, add=False)
    elif kind == "pow":
        if use_int:
            a = a if a.mag() <= 4 else b.emit1("clip", [a], {"min": -4.0, "max": 4.0}, exact=True, add=False)
            other = b.new_const((), dtype, -2, 4, True, "e")  # negative exponents: 1 / a**n truncated
        elif b.flag():  # a negative base with an integral exponent is defined: (-2) ** 3 = -8
            a = b.bounded(a, 4.0)
            if np.any(np.abs(a.data.astype(np.float64)) < 0.25):
                raise Skip
            other = b.new_const((), dtype, -2, 4, True, "e")
        else:
            a = b.bounded(b.positive(a, 0.25), 8.0)
            other = b.new_const((), dtype, -2.0, 2.0, False, "e") if b.flag() else b.new_const((), dtype, 0, 3, True, "e")
    else:
        other = b.broadcast_partner(a)
    if b.flag():
        a, other = (other, a) if kind in ("add", "mul", "max", "min") else (a, other)
    attrs: dict[str, Any] = {}
    check = None
    if kind == "mod":
        attrs["fmod"] = b.flag()
        if not use_int:  # a quotient near an integer: the remainder jumps by the divisor

            def quotient_clear(outs: list[np.ndarray], a: Node = a, o: Node = other) -> bool:
                q = np.broadcast_arrays(a.data.astype(np.float64), o.data.astype(np.float64))
                return _far_from_integers(q[0] / q[1]) or bool(np.all(q[0] == np.round(q[0]))
                                                                and np.all(q[1] == np.round(q[1])))

            check = quotient_clear
    # Float results are exact when no rounding happened (max/min; add/sub/mul of integers in
    # range): a target may contract mul+add into an FMA or divide through a reciprocal, a last-bit
    # difference a later floor or comparison would magnify.
    exact = use_int or (a.exact and other.exact and kind in ("max", "min"))
    node = b.emit1(kind, [a, other], attrs, exact=exact, check=check)
    if not exact and a.exact and other.exact and kind in ("add", "sub", "mul") and _contraction_exact(a, other) \
            and node.integral() and node.mag() <= 2048:
        node.exact = True


def gen_compare(b: _Build) -> None:
    kind = b.choice(["equal", "less", "greater", "less_equal", "greater_equal"])
    a = b.pick(lambda n: n.dtype is not BOOL) or b.new_input(b.shape())
    other = b.broadcast_partner(a, integral=a.is_int)
    check = None
    if a.is_float and not (a.exact and other.exact):

        def apart(outs: list[np.ndarray]) -> bool:
            x, y = np.broadcast_arrays(a.data.astype(np.float64), other.data.astype(np.float64))
            return bool(np.all(np.abs(x - y) >= MARGIN * np.maximum(1.0, np.maximum(np.abs(x), np.abs(y)))))

        check = apart
    b.emit1(kind, [a, other], exact=True, check=check)


def bool_operand(b: _Build, shape: tuple[int, ...] | None = None) -> Node:
    node = b.pick(lambda n: n.dtype is BOOL and (shape is None or _broadcasts(n.shape, shape)))
    return node if node is not None else b.new_input(shape if shape is not None else b.shape(), BOOL)


def gen_logic(b: _Build) -> None:
    kind = b.choice(["and", "or", "xor", "not"])
    a = bool_operand(b)
    if kind == "not":
        b.emit1("not", [a], exact=True)
        return
    b.emit1(kind, [a, b.broadcast_partner(a)], exact=True)


def gen_where(b: _Build) -> None:
    a = b.pick(lambda n: n.dtype is not BOOL) or b.new_input(b.shape())
    cond = bool_operand(b, a.shape)
    other = b.broadcast_partner(a, integral=a.is_int)
    b.emit1("where", [cond, a, other] if b.flag() else [cond, other, a], exact=a.exact and other.exact)


def gen_clip(b: _Build) -> None:
    x = b.pick(lambda n: n.dtype is not BOOL) or b.new_input(b.shape())
    attrs: dict[str, Any] = {}
    if b.flag():
        attrs["min"] = b.choice([-1.0, -0.5, 0.0])
    if b.flag() or not attrs:
        attrs["max"] = b.choice([0.5, 1.0, 6.0, -2.0])  # -2: min > max, every element becomes max
    b.emit1("clip", [x], attrs, exact=x.exact)


CAST_TARGETS = (F32, F16, BF16, I64, I32, BOOL, DType.I8, DType.U8)


def gen_cast(b: _Build) -> None:
    x = b.pick(lambda n: True) or b.new_input(b.shape())
    to = b.choice([d for d in CAST_TARGETS if d is not x.dtype])
    check = None
    exact = x.exact
    if x.is_float and to.is_int:
        lo, hi = (0, 255) if to is DType.U8 else (-127, 127)
        if x.data.size and (x.data.astype(np.float64).min() <= lo or x.data.astype(np.float64).max() >= hi):
            x = b.emit1("clip", [x], {"min": float(lo) + 0.5, "max": float(hi) - 0.5}, exact=x.exact, add=False)
        if not x.exact:
            check = lambda outs: _far_from_integers(x.data)  # noqa: E731
        exact = True
    elif x.is_float and to is BOOL:
        if not x.exact:
            check = lambda outs: _far_from_zero(x.data)  # noqa: E731
        exact = True
    elif x.is_int and to is DType.U8 or x.is_int and to is DType.I8:
        exact = True  # integer wrap-around is exact
    b.emit1("cast", [x], {"to": to}, exact=exact, check=check)


def _weight(b: _Build, shape: tuple[int, ...], fan_in: int, like: Node) -> Node:
    if _is_half(like):
        return b.new_const(shape, like.dtype, -2, 2, True, "w")
    bound = 1.0 / math.sqrt(max(fan_in, 1))
    if len(shape) >= 2 and shape[-2] % 4 == 0 and b.integer(0, 4) == 0:
        # Pruned 2:4 along the rows (a matmul's k): the ASIC stores it compressed (mxu.mm24).
        data = make_array(like.dtype, shape, -bound * 1.5, bound * 1.5, False, b.seed())
        matrices = data.reshape(-1, *shape[-2:])
        keep = np.stack([PruneSpec("2:4").keep_mask(np.abs(m.astype(np.float32))) for m in matrices])
        return b.const_of(np.where(keep, matrices, 0).reshape(shape).astype(data.dtype), "w")
    return b.new_const(shape, like.dtype, -bound * 1.5, bound * 1.5, False, "w")


def _contraction_exact(*nodes: Node) -> bool:
    return all(n.exact and n.integral() and n.mag() <= 64 for n in nodes)


def gen_matmul(b: _Build) -> None:
    a = b.float_operand(1)
    if _is_half(a) and not a.integral():
        raise Skip
    k = a.shape[-1]
    mode = b.choice(["weight", "weight", "vector", "batched", "pool"])
    if mode == "pool":
        w = b.pick(lambda n: n is not a and n.dtype is a.dtype and n.rank >= 2 and n.shape[-2] == k)
        mode = "weight" if w is None else mode
    if mode == "weight":
        w = _weight(b, (k, b.dim()), k, a)
    elif mode == "vector":
        w = _weight(b, (k,), k, a)
    elif mode == "batched":
        lead = a.shape[:-2][-1:] if a.rank >= 3 else (b.integer(1, 3),)
        w = _weight(b, lead + (k, b.dim()), k, a)
    b.emit1("matmul", [a, w] if mode != "vector" or b.flag() or a.rank != 1 else [w, a], exact=_contraction_exact(a, w))


ACTS = ("relu", "gelu", "tanh", "sigmoid")


def gen_mlp_chain(b: _Build) -> None:
    """x @ W1 (+ b1) -> act -> ... -> @ Wn: a chain of matmuls."""
    x = b.float_operand(2, f32_only=True)
    for _ in range(b.integer(2, 4)):
        k = x.shape[-1]
        x = b.emit1("matmul", [x, _weight(b, (k, b.dim()), k, x)])
        if b.flag():
            x = b.emit1("add", [x, b.new_const((x.shape[-1],), F32, -0.5, 0.5, False, "bias")])
        if b.flag():
            x = b.emit1(b.choice(ACTS), [x])


def gen_gemm(b: _Build) -> None:
    a = b.float_operand(2, f32_only=True)
    if a.rank != 2:
        a = b.emit1("reshape", [a], {"shape": [math.prod(a.shape[:-1]), a.shape[-1]]}, exact=a.exact)
    trans_a = b.flag()
    if trans_a:
        a = b.emit1("transpose", [a], {"perm": [1, 0]}, exact=a.exact)
    m, k = (a.shape[1], a.shape[0]) if trans_a else a.shape
    n = b.dim()
    trans_b = b.flag()
    w = _weight(b, (n, k) if trans_b else (k, n), k, a)
    operands = [a, w]
    if b.flag():
        operands.append(b.new_const(b.choice([(n,), (m, n), (1, n), ()]), F32, -1, 1, False, "c"))
    attrs = {"trans_a": trans_a, "trans_b": trans_b, "alpha": b.choice([1.0, 0.5, -1.5]), "beta": b.choice([1.0, 2.0])}
    b.emit1("gemm", operands, attrs)


def gen_einsum(b: _Build) -> None:
    a = b.float_operand(2, f32_only=True)
    r = a.rank
    options: list[str] = []
    if r == 2:
        options += ["ij,jk->ik", "ij->ji", "ij->i", "ij,ij->i"] + (["ii->i"] if a.shape[0] == a.shape[1] else [])
    if r == 3:
        options += ["bij,bjk->bik", "bij->bji", "bij,jk->bik"]
    if r == 4:
        options += ["bhqd,bhkd->bhqk", "bhqd->bqhd"]
    if not options:
        raise Skip
    eq = b.choice(options)
    lhs = eq.split("->")[0].split(",")
    operands = [a]
    if len(lhs) == 2:
        sizes = dict(zip(lhs[0], a.shape))
        shape = tuple(sizes.get(c) or b.dim() for c in lhs[1])
        if lhs[1] == "ij":
            shape = a.shape
        operands.append(_weight(b, shape, a.shape[-1], a))
    b.emit1("einsum", operands, {"equation": eq})


REDUCES = ("reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod")


def _axes(b: _Build, rank: int) -> list[int]:
    axes = [i for i in range(rank) if b.flag()]
    return [a - rank if b.flag() else a for a in axes]


def gen_reduce(b: _Build) -> None:
    kind = b.choice(REDUCES)
    x = b.pick(lambda n: n.dtype is not BOOL and n.rank >= 1) or b.new_input(b.shape())
    axes = _axes(b, x.rank)
    if kind == "reduce_prod":
        count = math.prod(x.shape[a] for a in axes) if axes else math.prod(x.shape)
        if count > 8:
            raise Skip
        if x.is_float:
            x = b.bounded(x, 2.0)
    exact = x.exact and (kind in ("reduce_max", "reduce_min") or x.is_int or _contraction_exact(x))
    b.emit1(kind, [x], {"axes": axes, "keepdims": b.flag()}, exact=exact)


def gen_arg(b: _Build) -> None:
    kind = b.choice(["arg_max", "arg_min"])
    x = b.pick(lambda n: n.dtype is not BOOL and n.rank >= 1) or b.new_input(b.shape())
    axis = b.integer(-x.rank, x.rank - 1)
    check = None if x.exact else (lambda outs: _separated(x.data, axis, 1, kind == "arg_max"))
    b.emit1(kind, [x], {"axis": axis, "keepdims": b.flag(), "select_last_index": b.flag()}, exact=True, check=check)


def gen_softmax(b: _Build) -> None:
    x = b.float_operand(1)
    b.emit1(b.choice(["softmax", "log_softmax"]), [x], {"axis": b.integer(-x.rank, x.rank - 1)})


def gen_masked_softmax(b: _Build) -> None:
    """softmax(where(mask, q @ w, -inf)) with at least one key per row, as causal attention does."""
    x = b.float_operand(2, f32_only=True)
    s = x.shape[-2]
    length = b.choice([s, s + b.integer(1, 4)])
    scores = b.emit1("matmul", [x, _weight(b, (x.shape[-1], length), x.shape[-1], x)])
    style = b.choice(["causal", "input"])
    if style == "causal":
        allowed = np.tril(np.ones((s, length), dtype=bool), length - s)
        mask = b.const_of(allowed, "causal")
    else:
        raw = b.new_input((s, length), BOOL)
        first = np.zeros((s, length), dtype=bool)
        first[:, 0] = True
        mask = b.emit1("or", [raw, b.const_of(first, "first")], exact=True)
    fill = b.const_of(np.asarray(b.choice([-np.inf, -1e9, -1e4]), dtype=np.float32), "neg_inf")
    if b.flag():
        scores = b.emit1("mul", [scores, b.const_of(np.asarray(1 / math.sqrt(x.shape[-1]), np.float32), "scale")])
    masked = b.emit1("where", [mask, scores, fill], bounded=False, add=False)
    b.emit1("softmax", [masked], {"axis": -1})


def gen_cumsum(b: _Build) -> None:
    x = b.pick(lambda n: n.dtype is not BOOL and n.rank >= 1) or b.new_input(b.shape())
    exact = x.exact and (x.is_int or _contraction_exact(x))
    b.emit1("cumsum", [x], {"axis": b.integer(-x.rank, x.rank - 1), "exclusive": b.flag(), "reverse": b.flag()},
            exact=exact)


def gen_top_k(b: _Build) -> None:
    x = b.pick(lambda n: n.dtype is not BOOL and n.rank >= 1) or b.new_input(b.shape())
    axis = b.integer(-x.rank, x.rank - 1)
    size = x.shape[axis]
    k = b.integer(1, max(1, min(size, 8))) if size else 0
    largest = b.flag()
    check = None if x.exact else (lambda outs: _separated(x.data, axis, k, largest))
    b.emit("top_k", [x], {"k": k, "axis": axis, "largest": largest, "sorted": b.flag()}, exact=[x.exact, True],
           check=check)


def gen_router(b: _Build) -> None:
    """top_k over softmax(x @ router) then renormalise: the MoE router motif."""
    x = b.float_operand(2, f32_only=True)
    experts = b.integer(2, 8)
    probs = b.emit1("softmax", [b.emit1("matmul", [x, _weight(b, (x.shape[-1], experts), x.shape[-1], x)])], {"axis": -1})
    k = b.integer(1, experts)
    values, _ = b.emit("top_k", [probs], {"k": k}, exact=[False, True], check=lambda outs: _separated(probs.data, -1, k, True))
    if b.flag():
        total = b.emit1("reduce_sum", [values], {"axes": [-1], "keepdims": True})
        b.emit1("div", [values, total])


# -- shape ops ------------------------------------------------------------------------------

def _factor(n: int, rng_pick: Callable[[Sequence[int]], int]) -> tuple[int, int]:
    divisors = [d for d in range(1, n + 1) if n % d == 0]
    d = rng_pick(divisors)
    return d, n // d


def gen_reshape(b: _Build) -> None:
    x = b.pick(lambda n: True) or b.new_input(b.shape())
    dims = list(x.shape)
    how = b.choice(["flatten", "merge", "split", "unsqueeze", "squeeze"])
    if how == "flatten" or not dims:
        dims = [math.prod(dims)] if dims else [1]
    elif how == "merge" and len(dims) >= 2:
        i = b.integer(0, len(dims) - 2)
        dims[i: i + 2] = [dims[i] * dims[i + 1]]
    elif how == "split":
        i = b.integer(0, len(dims) - 1)
        dims[i: i + 1] = list(_factor(dims[i], b.choice))
    elif how == "unsqueeze":
        dims.insert(b.integer(0, len(dims)), 1)
    else:
        dims = [d for d in dims if d != 1] or [1]
    if len(dims) > 5:
        raise Skip
    b.emit1("reshape", [x], {"shape": dims}, exact=x.exact)


def gen_transpose(b: _Build) -> None:
    x = b.pick(lambda n: n.rank >= 2) or b.new_input(b.shape(2))
    perm = b.draw(st.permutations(list(range(x.rank))))
    b.emit1("transpose", [x], {"perm": list(perm)}, exact=x.exact)


def gen_concat(b: _Build) -> None:
    x = b.pick(lambda n: n.rank >= 1) or b.new_input(b.shape())
    axis = b.integer(-x.rank, x.rank - 1)
    ax = axis % x.rank
    parts = [x]
    for _ in range(b.integer(1, 2)):
        mode = b.choice(["self", "pool", "const"])
        other = None
        if mode == "pool":
            other = b.pick(lambda n: n is not x and n.dtype is x.dtype and n.rank == x.rank
                           and all(p == q for i, (p, q) in enumerate(zip(n.shape, x.shape)) if i != ax))
        if other is None and mode != "self":
            shape = list(x.shape)
            shape[ax] = b.integer(1, 4)
            other = b.new_const(shape, x.dtype, -2, 2, x.is_int or x.integral(), "part")
        parts.append(other or x)
    b.emit1("concat", parts, {"axis": axis}, exact=all(p.exact for p in parts))


def gen_slice(b: _Build) -> None:
    x = b.pick(lambda n: n.rank >= 1) or b.new_input(b.shape())
    axes = [i for i in range(x.rank) if b.flag()] or [b.integer(0, x.rank - 1)]
    starts, ends, steps = [], [], []
    for a in axes:
        dim = x.shape[a]
        step = b.choice([1, 1, 2, -1, -2])
        if step > 0:
            start = b.integer(0, dim - 1)
            end = b.integer(start + 1, dim)
        else:
            start = b.integer(0, dim - 1)
            end = b.integer(-1, start - 1)
        starts.append(start)
        ends.append(end)
        steps.append(step)
    b.emit1("slice", [x], {"starts": starts, "ends": ends, "axes": axes, "steps": steps}, exact=x.exact)


def gen_expand(b: _Build) -> None:
    x = b.pick(lambda n: True) or b.new_input(b.shape())
    shape = [d if d != 1 or not b.flag() else b.integer(2, 4) for d in x.shape]
    shape = [b.integer(1, 3) for _ in range(b.integer(0, 2))] + shape
    b.emit1("expand", [x], {"shape": shape}, exact=x.exact)


def gen_tile(b: _Build) -> None:
    x = b.pick(lambda n: n.rank >= 1) or b.new_input(b.shape())
    b.emit1("tile", [x], {"repeats": [b.integer(1, 3) for _ in x.shape]}, exact=x.exact)


def gen_trilu(b: _Build) -> None:
    x = b.pick(lambda n: n.rank >= 2) or b.new_input(b.shape(2))
    b.emit1("trilu", [x], {"upper": b.flag(), "k": b.integer(-2, 2)}, exact=x.exact)


# -- indexing -------------------------------------------------------------------------------

def _indices(b: _Build, shape: tuple[int, ...], size: int, negative: bool = True) -> Node:
    """In-range indices into an axis of ``size``: a constant, an input, or (when the pool has
    one that fits) a computed index value (top_k indices, arg_max...)."""
    mode = b.choice(["const", "input", "pool"])
    if mode == "pool":
        found = b.pick(lambda n: n.dtype in (I64, I32) and n.exact and n.data.size and n.rank <= 3
                       and int(n.data.min()) >= -size and int(n.data.max()) < size)
        if found is not None:
            return found
    low = -size if negative and b.flag() else 0
    dtype = b.choice([I64, I32])
    if mode == "input":
        return b.new_input(shape, dtype, low, size)
    return b.new_const(shape, dtype, low, size, True, "idx")


def gen_gather(b: _Build) -> None:
    data = b.pick(lambda n: n.rank >= 1) or b.new_input(b.shape())
    axis = b.integer(-data.rank, data.rank - 1)
    size = data.shape[axis]
    idx = _indices(b, tuple(b.dim() for _ in range(b.integer(0, 2))), size)
    b.emit1("gather", [data, idx], {"axis": axis}, exact=data.exact)


def gen_embedding(b: _Build) -> None:
    """An embedding lookup: ``gather(table, token_ids)`` with token ids from an input."""
    vocab, hidden = b.integer(2, 40), b.dim()
    table = b.new_const((vocab, hidden), F32, -1, 1, False, "table")
    ids = b.new_input((b.integer(1, 3), b.dim()), b.choice([I64, I32]), 0, vocab)
    b.emit1("gather", [table, ids], exact=True)


def gen_gather_elements(b: _Build) -> None:
    data = b.pick(lambda n: n.rank >= 1) or b.new_input(b.shape())
    axis = b.integer(-data.rank, data.rank - 1)
    ax = axis % data.rank
    shape = tuple(b.integer(1, 4) if i == ax else b.integer(1, d) for i, d in enumerate(data.shape))
    idx = b.new_const(shape, b.choice([I64, I32]), -data.shape[ax] if b.flag() else 0, data.shape[ax], True, "idx")
    b.emit1("gather_elements", [data, idx], {"axis": axis}, exact=data.exact)


def gen_gather_nd(b: _Build) -> None:
    data = b.pick(lambda n: n.rank >= 1) or b.new_input(b.shape())
    batch = b.integer(0, min(1, data.rank - 1))
    k = b.integer(1, data.rank - batch)
    m = b.integer(1, 4)
    shape = data.shape[:batch] + (m, k)
    rng = np.random.default_rng(b.seed())
    sizes = np.array(data.shape[batch: batch + k])
    if not sizes.all():
        raise Skip  # no index into an empty axis
    idx = (rng.integers(0, 1 << 30, size=shape) % sizes).astype(np.int64)
    b.emit1("gather_nd", [data, b.const_of(idx, "idx")], {"batch_dims": batch}, exact=data.exact)


def _updates(b: _Build, shape: tuple[int, ...], like: Node) -> Node:
    other = b.pick(lambda n: n.dtype is like.dtype and n.shape == shape)
    return other or b.new_const(shape, like.dtype, -2, 2, like.is_int or like.integral(), "upd")


def gen_scatter_elements(b: _Build) -> None:
    data = b.pick(lambda n: n.rank >= 1 and n.dtype is not BOOL) or b.new_input(b.shape())
    axis = b.integer(-data.rank, data.rank - 1)
    ax = axis % data.rank
    reduction = b.choice(["none", "none", "add", "max", "min", "mul"])
    size = data.shape[ax]
    shape = tuple(b.integer(1, size) if i == ax else b.integer(1, d) for i, d in enumerate(data.shape))
    rng = np.random.default_rng(b.seed())
    # Distinct positions along the axis in every fibre: later duplicates would race on targets.
    keys = rng.random(shape[:ax] + (size,) + shape[ax + 1:])
    idx = np.take(np.argsort(keys, axis=ax), np.arange(shape[ax]), axis=ax)
    if reduction != "none" and b.flag():
        idx = rng.integers(0, size, size=shape)
    upd = _updates(b, shape, data)
    exact = data.exact and upd.exact and (reduction in ("none", "max", "min") or data.is_int or _contraction_exact(data, upd))
    b.emit1("scatter_elements", [data, b.const_of(idx.astype(np.int64), "idx"), upd], {"axis": axis, "reduction": reduction},
            exact=exact)


def gen_scatter_nd(b: _Build) -> None:
    data = b.pick(lambda n: n.rank >= 1 and n.dtype is not BOOL) or b.new_input(b.shape())
    k = b.integer(1, data.rank)
    rows = math.prod(data.shape[:k])
    m = b.integer(1, min(rows, 6))
    rng = np.random.default_rng(b.seed())
    flat = rng.permutation(rows)[:m]
    idx = np.stack(np.unravel_index(flat, data.shape[:k]), axis=-1).astype(np.int64)
    reduction = b.choice(["none", "none", "add", "max"])
    upd = _updates(b, (m,) + data.shape[k:], data)
    exact = data.exact and upd.exact and (reduction != "add" or data.is_int or _contraction_exact(data, upd))
    b.emit1("scatter_nd", [data, b.const_of(idx, "idx"), upd], {"reduction": reduction}, exact=exact)


def gen_one_hot(b: _Build) -> None:
    depth = b.integer(2, 10)
    shape = (b.dim(),) if b.flag() else (b.integer(1, 3), b.dim())
    if b.flag():  # out-of-range indices are not errors for one_hot: their rows are all "off"
        idx = b.new_const(shape, b.choice([I64, I32]), -depth - 3, depth + 3, True, "idx")
    else:
        idx = _indices(b, shape, depth)
    values = b.const_of(np.asarray([b.choice([0.0, -1.0]), b.choice([1.0, 3.0])], dtype=np.float32), "onoff")
    b.emit1("one_hot", [idx, values], {"depth": depth, "axis": b.integer(-idx.rank - 1, idx.rank)}, exact=True)


# -- composites ---------------------------------------------------------------------------

def _well_spread(x: np.ndarray, axis: int, centred: bool) -> bool:
    d = x.astype(np.float64)
    axes = tuple(range(axis, d.ndim))
    if d.size == 0:
        return True
    if centred:
        spread = np.var(d, axis=axes)
        return bool(np.all(spread >= 1e-2 * (np.mean(d * d, axis=axes) + 1e-3))) if d.size else True
    return bool(np.all(np.mean(d * d, axis=axes) >= 1e-2)) if d.size else True


def gen_norm(b: _Build) -> None:
    kind = b.choice(["layer_norm", "rms_norm"])
    x = b.float_operand(1)
    axis = b.integer(-x.rank, x.rank - 1)
    ax = axis % x.rank
    normed = x.shape[ax:]
    keep = b.integer(0, len(normed))
    scale_shape = normed[len(normed) - keep:]
    operands = [x, b.new_const(scale_shape, x.dtype, 0.5, 1.5, _is_half(x), "gamma")]
    if kind == "layer_norm" and b.flag():
        operands.append(b.new_const(scale_shape, x.dtype, -0.5, 0.5, _is_half(x), "beta"))
    attrs = {"axis": axis, "epsilon": b.choice([1e-5, 1e-6, 1e-3])}
    b.emit1(kind, operands, attrs, check=lambda outs: _well_spread(x.data, ax, kind == "layer_norm"))


def _as_rank4(b: _Build, x: Node) -> Node:
    """``x`` as ``[B, H, S, D]``: reshaped from a pool value (heads split off the last dim)."""
    if x.rank == 4:
        return x
    dims = list(x.shape)
    while len(dims) < 4:
        dims.insert(0, 1)
    while len(dims) > 4:
        dims[0:2] = [dims[0] * dims[1]]
    return b.emit1("reshape", [x], {"shape": dims}, exact=x.exact)


def gen_attention(b: _Build) -> None:
    src = b.pick(lambda n: n.dtype is F32 and 2 <= n.rank <= 4 and n.shape[-1] <= 33)
    q = _as_rank4(b, src) if src is not None else b.new_input((b.integer(1, 2), b.integer(1, 4), b.dim(), b.dim()))
    batch, hq, s, d = q.shape
    hkv = b.choice([h for h in range(1, hq + 1) if hq % h == 0])
    length = b.choice([s, b.dim()])
    k = b.new_input((batch, hkv, length, d)) if b.flag() else b.new_const((batch, hkv, length, d), F32, -1, 1)
    v = b.new_const((batch, hkv, length, b.dim()), F32, -1, 1, False, "v")
    operands = [q, k, v]
    mask_kind = b.choice(["none", "bool", "float"])
    if mask_kind == "bool":
        operands.append(b.new_input(b.choice([(s, length), (batch, 1, s, length), (1, hq, s, length)]), BOOL))
    elif mask_kind == "float":
        operands.append(b.new_const(b.choice([(s, length), (batch, hq, s, length)]), F32, -2, 0, False, "mask"))
    attrs = {"scale": 1 / math.sqrt(d), "is_causal": b.flag(), "softcap": b.choice([0.0, 0.0, 5.0])}
    if b.choice([False, False, True]):  # GPT-OSS's attention sinks: one logit per query head
        attrs["sinks"] = [b.choice([-2.0, -0.5, 0.0, 0.75, 3.0]) for _ in range(hq)]
    b.emit1("attention", operands, attrs)


def gen_rotary(b: _Build) -> None:
    src = b.pick(lambda n: n.is_float and n.dtype is F32 and n.rank == 4 and n.shape[-1] % 2 == 0)
    if src is None:
        src = b.new_input((b.integer(1, 2), b.integer(1, 3), b.dim(), 2 * b.integer(1, 6)))
    batch, _, s, d = src.shape
    rotary = b.choice([r for r in range(2, d + 1, 2)])
    angles = np.random.default_rng(b.seed()).uniform(-3, 3, size=(b.choice([1, batch]), s, rotary // 2))
    cos = b.const_of(np.cos(angles).astype(np.float32), "cos")
    sin = b.const_of(np.sin(angles).astype(np.float32), "sin")
    b.emit1("rotary_embedding", [src, cos, sin], {"interleaved": b.flag(), "rotary_dim": 0 if rotary == d else rotary})


def gen_gated_mlp(b: _Build) -> None:
    x = b.float_operand(1, f32_only=True)
    h, f = x.shape[-1], b.dim()
    weights = [_weight(b, (h, f), h, x), _weight(b, (h, f), h, x), _weight(b, (f, b.dim()), f, x)]
    b.emit1("gated_mlp", [x, *weights], {"activation": b.choice(["silu", "gelu", "gelu_tanh", "relu"])})


def gen_moe(b: _Build) -> None:
    x = b.pick(lambda n: n.dtype is F32 and n.rank == 2)
    if x is None:
        x = b.new_input((b.choice([b.integer(1, 12), b.dim()]), b.dim()))
    tokens, hidden = x.shape
    experts, ffn = b.integer(2, 8), b.dim()
    attrs: dict[str, Any] = {"top_k": b.integer(1, experts), "normalize": b.flag(),
                             "activation": b.choice(["silu", "gelu", "gelu_tanh", "relu"])}
    if moe_operand_layout is not None:
        attrs.update(gated=b.draw(st.integers(0, 3)) > 0, expert_bias=b.flag(), router_bias=b.flag())
        if attrs["gated"] and attrs["activation"] == "silu" and b.flag():  # GPT-OSS's clamped SwiGLU
            attrs.update(gating="clamped_swiglu", swiglu_alpha=b.choice([1.0, 1.702]), swiglu_limit=b.choice([0.5, 7.0]))
        names = moe_operand_layout(attrs)
    else:
        names = ("x", "router_w", "w_gate", "w_up", "w_down")
    shapes = {"router_w": (hidden, experts), "w_gate": (experts, hidden, ffn), "w_up": (experts, hidden, ffn),
              "w_down": (experts, ffn, hidden), "b_gate": (experts, ffn), "b_up": (experts, ffn),
              "b_down": (experts, hidden), "router_b": (experts,)}
    operands = [x]
    for name in names[1:]:
        fan = hidden if name in ("router_w", "w_gate", "w_up") else ffn if name == "w_down" else 4
        scale = 2.0 if name == "router_w" else 1.5
        operands.append(b.new_const(shapes[name], F32, -scale / math.sqrt(fan), scale / math.sqrt(fan), False, name))
    weights = dict(zip(names, operands))

    def routed_clearly(outs: list[np.ndarray]) -> bool:
        logits = x.data.astype(np.float64) @ weights["router_w"].data.astype(np.float64)
        if "router_b" in weights:
            logits = logits + weights["router_b"].data
        probs = np.exp(logits - logits.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        return _separated(probs, -1, attrs["top_k"], True)

    b.emit1("moe", operands, attrs, check=routed_clearly)


def gen_moe_decomposed(b: _Build) -> None:
    """A MoE layer as exporters write it (Hugging Face's ``batched_mm`` experts: per-(token, slot)
    gathers of stacked expert weights, batched matmuls, a weighted sum over the slots), which the
    ``raise-moe`` pass turns into one ``moe`` op; sometimes with a near miss it must leave alone."""
    x = b.pick(lambda n: n.dtype is F32 and n.rank == 2 and n.shape[-1] <= 33)
    if x is None:
        x = b.new_input((b.integer(1, 8), b.integer(1, 8)))
    tokens, hidden = x.shape
    experts, ffn = b.integer(2, 5), b.integer(1, 8)
    k = b.integer(1, experts)
    router = b.new_const((hidden, experts), F32, -2 / math.sqrt(hidden), 2 / math.sqrt(hidden), False, "router")
    probs = b.emit1("softmax", [b.emit1("matmul", [x, router])])
    weights, idx = b.emit("top_k", [probs], {"k": k}, exact=[False, True],
                          check=lambda outs: _separated(probs.data, -1, k, True))
    if b.flag():
        weights = b.emit1("div", [weights, b.emit1("reduce_sum", [weights], {"axes": [-1]})])
    rows = b.emit1("reshape", [x], {"shape": [tokens, 1, 1, hidden]}, exact=x.exact)
    bound = 1.5 / math.sqrt(hidden)

    def expert_matmul(left: Node, rows_in: int, cols: int, name: str) -> Node:
        table = b.new_const((experts, cols, rows_in), F32, -bound, bound, False, name)
        picked = b.emit1("gather", [table, idx], exact=True)
        return b.emit1("matmul", [left, b.emit1("transpose", [picked], {"perm": [0, 1, 3, 2]}, exact=True)])

    h = expert_matmul(rows, hidden, ffn, "w1")
    act = b.choice(["silu", "relu", "gelu"])
    if act == "silu":
        h_act = b.emit1("mul", [h, b.emit1("sigmoid", [h])])
    else:
        h_act = b.emit1(act, [h])
    if b.draw(st.integers(0, 3)) > 0:
        h_act = b.emit1("mul", [h_act, expert_matmul(rows, hidden, ffn, "w3")])
    y = expert_matmul(h_act, ffn, hidden, "w2")
    y = b.emit1("reshape", [y], {"shape": [tokens, k, hidden]})
    scaled = b.emit1("mul", [y, b.emit1("reshape", [weights], {"shape": [tokens, k, 1]})])
    combine = b.choice(["reduce_sum"] * 4 + ["reduce_max", "reduce_mean"])  # the last two: near misses
    b.emit1(combine, [scaled], {"axes": [1], "keepdims": False})


#: Ops whose result on NaN/±inf the registry documents (NaN propagates through max/min and so
#: relu = max(x, 0), passes clip, stays NaN under sign, is True as a bool, sorts above every
#: number in top_k) or IEEE arithmetic fixes (add, mul, neg, abs, floor, ceil, exp, tanh).
SPECIAL_OPS = ("max", "min", "clip", "sign", "is_nan", "is_inf", "cast", "top_k", "add", "mul", "neg", "abs",
               "relu", "floor", "ceil", "exp", "tanh", "reduce_max", "reduce_min", "arg_max", "arg_min")


def gen_special(b: _Build) -> None:
    """NaN and ±inf through an op whose semantics for them are defined (an output, never an
    operand of later ops)."""
    shape = b.shape(1, 3)
    if b.flag():
        x = b.const_of(with_special_values(make_array(F32, shape, -2, 2, False, b.seed()), b.seed()), "special")
    else:
        x = b.new_input(shape, special=True)
    x.special = True
    kind = b.choice(SPECIAL_OPS)
    attrs: dict[str, Any] = {}
    operands = [x]
    if kind in ("max", "min", "add", "mul"):
        operands.append(b.new_const(shape[-1:], F32, -2, 2, False, "b"))
    elif kind == "clip":
        attrs = {"min": -1.0, "max": 1.0}
    elif kind == "cast":
        attrs = {"to": BOOL}
    elif kind == "top_k":
        attrs = {"k": b.integer(1, shape[-1]), "largest": b.flag()}
    elif kind in ("reduce_max", "reduce_min"):
        attrs = {"axes": _axes(b, len(shape)), "keepdims": b.flag()}
    elif kind in ("arg_max", "arg_min"):
        attrs = {"axis": b.integer(-len(shape), len(shape) - 1), "keepdims": b.flag()}
    results = b.emit(kind, operands, attrs, exact=True, bounded=False, add=False)
    for r in results:
        r.special = True
        b.pool.append(r)


INT_WRAP_OPS = ("add", "sub", "mul", "neg", "abs", "reduce_sum", "reduce_prod", "cumsum", "matmul", "cast")


def gen_int_wrap(b: _Build) -> None:
    """Integer arithmetic that overflows: results wrap in the operand type (documented for
    every integer op). Full-range inputs, outputs only (never operands of later ops)."""
    dtype = b.choice([I32, I32, I64, DType.I8, DType.U8])  # i64 past i32: the asic refuses it (documented)
    info = np.iinfo(dtype.numpy)
    shape = b.shape(1, 3)
    # i64 inputs within i32: the asic keeps i64 in i32 and refuses inputs it cannot hold, but
    # results past i32 must still be i64's.
    lo, hi = max(info.min, -(1 << 31)), min(info.max, (1 << 31) - 1)
    x = b.new_input(shape, dtype, lo, hi)
    x.special = True
    kind = b.choice(INT_WRAP_OPS)
    if kind in ("neg",) and dtype is DType.U8:
        raise Skip
    attrs: dict[str, Any] = {}
    operands = [x]
    if kind in ("add", "sub", "mul"):
        y = b.new_input(shape[-1:], dtype, lo, hi)
        y.special = True
        operands.append(y)
    elif kind == "matmul":
        operands.append(b.new_const((shape[-1], b.integer(1, 4)), dtype, 0, min(info.max, 1 << 20), True, "w"))
    elif kind in ("reduce_sum", "reduce_prod"):
        attrs = {"axes": _axes(b, x.rank), "keepdims": b.flag()}
    elif kind == "cumsum":
        attrs = {"axis": b.integer(-x.rank, x.rank - 1)}
    elif kind == "cast":
        attrs = {"to": b.choice([d for d in (I32, I64, DType.I8, DType.U8, F32) if d is not dtype])}
    for r in b.emit(kind, operands, attrs, exact=True, bounded=False, add=False):
        r.special = True
        b.pool.append(r)


def gen_moe_dynamo(b: _Build) -> None:
    """A MoE layer as PyTorch's dynamo exports Hugging Face Mixtral/Qwen2-MoE: per-(token, slot)
    ``gather_nd`` of a fused ``gate_up`` ``[E, 2F, H]`` on the left of ``[T*k, H, 1]`` columns,
    split by two slices, an optional router bias, the weights renormalised or not; ``raise-moe``
    turns it into one ``moe`` op (near misses: the slices swapped, a plain sum over experts)."""
    x = b.pick(lambda n: n.dtype is F32 and n.rank == 2 and n.shape[-1] <= 33)
    if x is None:
        x = b.new_input((b.integer(1, 8), b.integer(1, 8)))
    tokens, hidden = x.shape
    experts, ffn = b.integer(2, 5), b.integer(1, 8)
    k = b.integer(1, experts)
    logits = b.emit1("matmul", [x, b.new_const((hidden, experts), F32, -2 / math.sqrt(hidden), 2 / math.sqrt(hidden),
                                                False, "router")])
    if b.flag():
        logits = b.emit1("add", [logits, b.new_const((experts,), F32, -1, 1, False, "router_b")])
    probs = b.emit1("softmax", [logits])
    weights, idx = b.emit("top_k", [probs], {"k": k}, exact=[False, True],
                          check=lambda outs: _separated(probs.data, -1, k, True))
    if b.flag():
        weights = b.emit1("div", [weights, b.emit1("reduce_sum", [weights], {"axes": [-1]})])
    rows = b.emit1("reshape", [b.emit1("expand", [b.emit1("reshape", [x], {"shape": [tokens, 1, hidden]}, exact=True)],
                                       {"shape": [tokens, k, hidden]}, exact=True)],
                   {"shape": [tokens * k, hidden, 1]}, exact=True)
    slots = b.emit1("reshape", [idx], {"shape": [tokens * k, 1]}, exact=True)
    bound = 1.5 / math.sqrt(hidden)
    gate_up = b.new_const((experts, 2 * ffn, hidden), F32, -bound, bound, False, "gate_up_proj")
    h = b.emit1("matmul", [b.emit1("gather_nd", [gate_up, slots], exact=True), rows])
    h = b.emit1("reshape", [h], {"shape": [tokens * k, 2 * ffn]})
    halves = [(0, ffn), (ffn, 2 * ffn)]
    if b.draw(st.integers(0, 5)) == 0:
        halves.reverse()  # a near miss: still a gated MLP, the halves the other way round
    gate, up = (b.emit1("slice", [h], {"starts": [lo], "ends": [hi], "axes": [1], "steps": [1]}) for lo, hi in halves)
    act = b.emit1("mul", [gate, b.emit1("sigmoid", [gate])]) if b.flag() else b.emit1("gelu", [gate])
    inner = b.emit1("reshape", [b.emit1("mul", [act, up])], {"shape": [tokens * k, ffn, 1]})
    down = b.new_const((experts, hidden, ffn), F32, -1.5 / math.sqrt(ffn), 1.5 / math.sqrt(ffn), False, "down_proj")
    y = b.emit1("matmul", [b.emit1("gather_nd", [down, slots], exact=True), inner])
    y = b.emit1("mul", [b.emit1("reshape", [y], {"shape": [tokens * k, hidden]}),
                        b.emit1("reshape", [weights], {"shape": [tokens * k, 1]})])
    b.emit1("reduce_sum", [b.emit1("reshape", [y], {"shape": [tokens, k, hidden]})], {"axes": [1], "keepdims": False})


def gen_empty(b: _Build) -> None:
    """A value with an empty dim joins the pool (ops on it must handle zero elements)."""
    shape = list(b.shape(1, 3))
    shape[b.integer(0, len(shape) - 1)] = 0
    b.new_input(shape, b.choice([F32, F32, I64]))


def gen_big_matmul(b: _Build) -> None:
    """A matmul past one MXU tile (128x128 on moe-asic-v1) in every dim, with ragged edges,
    maybe through a transposed operand and a bias + activation epilogue."""
    m, k, n = (b.choice([1, 7, 64, 129, 200]), b.choice([96, 129, 130, 257]), b.choice([33, 128, 129, 160]))
    x = b.new_input((k, m) if b.flag() else (m, k))
    if x.shape != (m, k):
        x = b.emit1("transpose", [x], {"perm": [1, 0]}, exact=True)
    y = b.emit1("matmul", [x, _weight(b, (k, n), k, x)])
    if b.flag():
        y = b.emit1("add", [y, b.new_const((n,), F32, -0.5, 0.5, False, "bias")])
    if b.flag():
        y = b.emit1(b.choice(ACTS), [y])
    b.emit1("reduce_sum", [y], {"axes": [-1], "keepdims": True}) if b.flag() else None


#: Op kinds the registry-driven generator applies only to exact operands: discontinuous in a
#: float operand, or amplifying a small error near a pole (or reading indices).
_NEEDS_EXACT = {"floor", "ceil", "sign", "equal", "less", "greater", "less_equal", "greater_equal", "cast", "mod",
                "top_k", "arg_max", "arg_min", "div", "reciprocal", "pow", "log", "gather", "gather_elements",
                "gather_nd", "scatter_elements", "scatter_nd", "one_hot", "moe"}


def _registry_attr(b: _Build, attr: Attr, rank: int) -> Any:
    """A value for ``attr`` drawn from its declaration: a declared choice, its default, or a
    small value of its kind (axis-like for integers); REQUIRED when there is no sensible draw."""
    if attr.choices:
        return b.choice(list(attr.choices))
    if attr.default is not REQUIRED and b.flag():
        return attr.default
    kind = attr.kind
    if kind is AttrKind.INT:
        return b.integer(-max(rank, 1), max(rank, 1))
    if kind is AttrKind.FLOAT:
        return b.choice([0.5, 1.0, 1e-5, -1.0])
    if kind is AttrKind.BOOL:
        return b.flag()
    if kind is AttrKind.INTS:
        return [b.integer(-max(rank, 1), max(rank, 1)) for _ in range(b.integer(0, max(rank, 1)))]
    if kind is AttrKind.DTYPE:
        return b.choice([F32, F16, BF16, I64, I32, BOOL])
    return attr.default  # str without choices, tensor: the default or nothing (then infer refuses)


def gen_registry_op(b: _Build) -> None:
    """Any registry op kind, with operands from the pool and attributes drawn from its
    declaration alone (``infer`` rejects what does not fit; the step is then skipped). It
    reaches op kinds and attribute combinations no hand-written generator draws, including
    kinds added to the registry later."""
    defs = all_op_defs()
    kind = b.choice(sorted(k for k in defs if k != "const"))
    opdef = defs[kind]
    exact_only = kind in _NEEDS_EXACT
    first = b.pick(lambda n: not exact_only or n.exact) or b.new_input(b.shape())
    if kind == "mod" and first.is_float:
        raise Skip  # a quotient near an integer makes the remainder jump: gen_binary checks that
    if kind == "cast" and first.is_float:
        raise Skip  # float to a narrow integer out of its range is undefined: gen_cast clips first
    count = opdef.min_operands + (b.integer(0, 2) if opdef.max_operands is None else
                                  b.integer(0, opdef.max_operands - opdef.min_operands))
    operands = [first]
    for _ in range(count - 1):
        other = b.pick(lambda n: n is not first and (not exact_only or n.exact) and n.dtype is first.dtype
                       and _broadcasts(n.shape, first.shape))
        operands.append(other or b.new_const(first.shape, first.dtype, -2, 2, first.is_int, "r"))
    attrs = {}
    for attr in opdef.attrs:
        value = _registry_attr(b, attr, first.rank)
        if value is not REQUIRED and value is not None:
            attrs[attr.name] = value
    exact = kind in DATA_MOVEMENT and all(n.exact for n in operands)
    results = b.emit(kind, operands, attrs, exact=exact or exact_only)
    if exact_only and any(r.dtype.is_float for r in results):
        for r in results:  # exact operands, but the result itself went through rounding
            r.exact = kind in ("floor", "ceil", "sign", "top_k", "arg_max", "arg_min") or not r.dtype.is_float


def gen_const_value(b: _Build) -> None:
    """A constant joins the pool (ops on it alone fold at compile time)."""
    node = b.new_const(b.shape(), b.choice([F32, F32, I64]), -2, 3, b.flag())
    b.pool.append(node)


def gen_half(b: _Build) -> None:
    """A float32 value with integer values (exact in f16/bf16) cast to a half type."""
    x = b.pick(lambda n: n.dtype is F32 and n.exact and n.integral() and n.mag() <= 256)
    if x is None:
        x = b.new_input(b.shape(), F32, -8, 8, integral=True)
    b.emit1("cast", [x], {"to": b.choice(list(HALF))}, exact=True)


def gen_half_region(b: _Build) -> None:
    """A stretch of float16/bfloat16 work: a half input (or a cast of exact integers), one to
    three ops in the half type (each result float32-computed and rounded once, stably), then
    maybe a cast back to float32."""
    dtype = b.choice(list(HALF))
    if b.flag():
        x = b.new_input(b.shape(), dtype, -2.0, 2.0, integral=b.flag())
    else:
        src = b.pick(lambda n: n.dtype is F32 and n.exact and n.integral() and n.mag() <= 64)
        src = src or b.new_input(b.shape(), F32, -4, 4, integral=True)
        x = b.emit1("cast", [src], {"to": dtype}, exact=True)
    for _ in range(b.integer(1, 3)):
        kind = b.choice(["unary", "binary", "softmax", "norm", "matmul", "reduce", "transpose"])
        if x.rank == 0 and kind not in ("unary", "binary"):
            break
        try:
            x = _half_step(b, x, kind)
        except Skip:  # keep the region so far
            break
    if b.flag():
        b.emit1("cast", [x], {"to": F32}, exact=x.exact)


def _half_step(b: _Build, x: Node, kind: str) -> Node:
    """One op of :func:`gen_half_region` on the half value ``x``."""
    mark = b.mark()
    try:
        return _half_op(b, x, kind)
    except Skip:
        b.rollback(mark)
        raise


def _half_op(b: _Build, x: Node, kind: str) -> Node:
    if kind == "unary":
        op = b.choice(["tanh", "sigmoid", "exp", "neg", "relu", "gelu", "sqrt", "erf"])
        operand = b.positive(x) if op == "sqrt" else b.bounded(x, 4.0) if op == "exp" else x
        return b.emit1(op, [operand])
    if kind == "binary":
        return b.emit1(b.choice(["add", "sub", "mul", "div", "max"]), [x, b.positive(b.broadcast_partner(x), 0.5)])
    if kind == "softmax":
        return b.emit1("softmax", [x], {"axis": b.integer(-x.rank, x.rank - 1)})
    if kind == "norm":
        axis = b.integer(-x.rank, x.rank - 1)
        scale = b.new_const(x.shape[axis % x.rank:], x.dtype, 1, 2, True, "gamma")
        return b.emit1(b.choice(["layer_norm", "rms_norm"]), [x, scale], {"axis": axis},
                       check=lambda outs: _well_spread(x.data, axis % x.rank, True))
    if kind == "matmul" and x.integral():
        w = b.new_const((x.shape[-1], b.dim()), x.dtype, -2, 2, True, "w")
        return b.emit1("matmul", [x, w], exact=_contraction_exact(x, w))
    if kind == "reduce":
        return b.emit1(b.choice(["reduce_sum", "reduce_max", "reduce_mean"]), [x],
                       {"axes": _axes(b, x.rank), "keepdims": b.flag()})
    if kind == "transpose" and x.rank >= 2:
        return b.emit1("transpose", [x], {"perm": list(b.draw(st.permutations(list(range(x.rank)))))}, exact=x.exact)
    raise Skip


#: Generators with their weights (how often a step draws them).
GENERATORS: tuple[tuple[Callable[[_Build], None], int], ...] = (
    (gen_unary, 6), (gen_binary, 6), (gen_compare, 2), (gen_logic, 1), (gen_where, 2), (gen_clip, 1),
    (gen_cast, 2), (gen_matmul, 4), (gen_mlp_chain, 2), (gen_gemm, 1), (gen_einsum, 1), (gen_reduce, 3),
    (gen_arg, 1), (gen_softmax, 2), (gen_masked_softmax, 2), (gen_cumsum, 1), (gen_top_k, 2), (gen_router, 1),
    (gen_reshape, 3), (gen_transpose, 2), (gen_concat, 2), (gen_slice, 2), (gen_expand, 1), (gen_tile, 1),
    (gen_trilu, 1), (gen_gather, 2), (gen_embedding, 1), (gen_gather_elements, 1), (gen_gather_nd, 1),
    (gen_scatter_elements, 1), (gen_scatter_nd, 1), (gen_one_hot, 1), (gen_norm, 2), (gen_attention, 1),
    (gen_rotary, 1), (gen_gated_mlp, 1), (gen_moe, 2), (gen_const_value, 1), (gen_half, 1),
    (gen_half_region, 3), (gen_moe_decomposed, 1), (gen_moe_dynamo, 1), (gen_empty, 1), (gen_special, 1), (gen_int_wrap, 1), (gen_big_matmul, 1), (gen_registry_op, 3),
)
_WEIGHTED = [g for g, w in GENERATORS for _ in range(w)]


@st.composite
def graph_cases(draw: Callable[[st.SearchStrategy[Any]], Any], max_ops: int = 40,
                generators: Sequence[Callable[[_Build], None]] | None = None) -> FuzzCase:
    """A random valid graph of 1 to ``max_ops`` ops (chains and DAGs) with its input recipes.
    ``generators`` restricts the generators drawn from (default: all, weighted)."""
    b = _Build(draw, max_ops)
    b.new_input(b.shape())
    pool = list(generators) if generators is not None else _WEIGHTED
    steps = draw(st.integers(1, max_ops))
    for _ in range(steps):
        if b.op_count() >= max_ops:
            break
        gen = draw(st.sampled_from(pool))
        mark = b.mark()
        try:
            gen(b)
            b.notes.append(gen.__name__)
        except (Skip, ValueError, IndexError, ZeroDivisionError):  # not applicable here (e.g. an empty axis)
            b.rollback(mark)
    return b.finish()


__all__ = ["GENERATORS", "MAGNITUDE", "MARGIN", "graph_cases"]
